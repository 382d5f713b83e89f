//! A busy machine for the timed-wait tests: shared by path with weft-channel's and
//! weft-executor's tests, which time their own timed waits under the same load.

/// Runs `f` while `threads` threads spin on the cores (a busy machine), and returns what it gave.
pub(crate) fn with_busy_cores<R>(threads: usize, f: impl FnOnce() -> R) -> R {
    use std::sync::atomic::{AtomicBool, Ordering};
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let spinners: Vec<_> = (0..threads)
        .map(|_| {
            let stop = std::sync::Arc::clone(&stop);
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::hint::spin_loop();
                }
            })
        })
        .collect();
    let result = f();
    stop.store(true, Ordering::Relaxed);
    for s in spinners {
        let _ = s.join();
    }
    result
}
