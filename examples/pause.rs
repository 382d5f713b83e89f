//! Pausing a thread: pause() holds a worker at its next checkpoint, resume() lets it go on
//!
//! Python has no pause either: "pausing and restarting a thread must be implemented as needed",
//! typically with an `Event` the worker waits on at a safe point. Stopping a paused worker then
//! needs care, or it waits at that point forever:
//!
//! ```python
//! running = threading.Event(); running.set()
//! stopping = threading.Event()
//!
//! def worker():
//!     while True:
//!         running.wait()             # blocks while paused
//!         if stopping.is_set():
//!             return
//!         step()
//!
//! running.clear()                    # pause
//! running.set()                      # resume
//! stopping.set(); running.set()      # stop, even while paused
//! ```
//!
//! weft builds it in: `handle.pause()` and `handle.resume()`, and in the thread
//! `stop.checkpoint()?`, which blocks while paused and returns `Err(Stopped)` as soon as the
//! thread is stopped, paused or not.

use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use weft::thread::{Stopped, Thread};

fn main() {
    weft::main(|| {
        let progress = Arc::new(AtomicU64::new(0));
        let (milestone_tx, milestones) = mpsc::channel();
        let worker = {
            let progress = Arc::clone(&progress);
            Thread::new_stoppable(move |stop| -> Result<(), Stopped> {
                loop {
                    stop.checkpoint()?; // waits here while paused; Err once stopped
                    let step = progress.fetch_add(1, SeqCst) + 1;
                    if step.is_multiple_of(10) {
                        println!("  worker: step {step}");
                        let _ = milestone_tx.send(step); // main may have stopped listening
                    }
                    stop.sleep(Duration::from_millis(2))?; // one step of work
                }
            })
            .name("worker")
            .start()
            .expect("the OS refused a thread")
        };
        // Waits until the worker reports step `target` or a later one.
        let reach = |target: u64| {
            while milestones.recv().expect("the worker reports") < target {}
        };

        reach(30);
        worker.pause();
        let at_pause = progress.load(SeqCst);
        println!(
            "main: pause() at step {at_pause}; is_paused() = {}",
            worker.is_paused()
        );
        std::thread::sleep(Duration::from_millis(100));
        let later = progress.load(SeqCst);
        println!("main: 100 ms later the worker is at step {later} (at most one step finishing)");
        assert!(later - at_pause <= 1, "a paused worker kept going");

        worker.resume();
        println!("main: resume(); is_paused() = {}", worker.is_paused());
        reach(later + 20);

        worker.pause();
        let at_pause = progress.load(SeqCst);
        println!("main: pause() again at step {at_pause}, then stop() while it is paused");
        let asked = Instant::now();
        worker.stop();
        let outcome = worker.join().expect("worker panicked");
        println!(
            "main: join() -> {outcome:?} after {} µs, at step {}",
            asked.elapsed().as_micros(),
            progress.load(SeqCst)
        );
    })
}
