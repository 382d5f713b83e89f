//! threading.Timer: run a function once after a delay unless cancelled; Interval repeats it
//!
//! A `Timer` is a thread that waits, then calls its function, unless `cancel()` came first.
//! Python has no repeating timer; the usual loop is `while not stop.wait(period): f()`.
//!
//! ```python
//! t = threading.Timer(0.05, lambda: print("fired"))
//! t.start()
//!
//! never = threading.Timer(0.1, launch_missiles)
//! never.start()
//! never.cancel()                     # before it fired: launch_missiles never runs
//!
//! stop = threading.Event()
//! def every(period, f):
//!     while not stop.wait(period):
//!         f()
//! ```
//!
//! weft's `TimerHandle::cancel()` returns `true` when it prevented the run, and `false` when the
//! function already started (harmless); `join()` says whether it ran. `Interval` runs a function
//! every period until cancelled, and no run starts after `cancel()` has returned.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::SeqCst};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use weft::thread::{Interval, Timer};

fn main() {
    weft::main(|| {
        println!("1. Timer(50 ms, f): f runs once, on the timer's thread");
        let began = Instant::now();
        let (fired_tx, fired) = mpsc::channel();
        let timer = Timer::new(Duration::from_millis(50), move || {
            println!("  [{:>3} ms] timer fired", began.elapsed().as_millis());
            fired_tx.send(()).expect("main is listening");
        })
        .name("reminder")
        .start()
        .expect("the OS refused a thread");
        fired.recv().expect("the timer fires");
        println!("  fired() = {}", timer.fired());
        println!("  cancel() after it fired -> {} (harmless)", timer.cancel());
        println!(
            "  join() -> ran: {:?}",
            timer.join().expect("timer panicked")
        );

        println!();
        println!("2. Timer(100 ms, f) cancelled at once: f never runs");
        let launched = Arc::new(AtomicBool::new(false));
        let began = Instant::now();
        let missiles = {
            let launched = Arc::clone(&launched);
            Timer::new(Duration::from_millis(100), move || {
                launched.store(true, SeqCst)
            })
            .start()
            .expect("the OS refused a thread")
        };
        println!("  cancel() -> {} (prevented the run)", missiles.cancel());
        println!("  cancel() again -> {}", missiles.cancel());
        println!(
            "  join() -> ran: {:?} at {} ms, without waiting out the delay",
            missiles.join().expect("timer panicked"),
            began.elapsed().as_millis() // the cancelled timer's thread woke at once
        );
        std::thread::sleep(Duration::from_millis(100)); // well past the timer's deadline
        println!(
            "  launched after the deadline passed: {}",
            launched.load(SeqCst)
        );

        println!();
        println!("3. Interval(30 ms, f): f runs every 30 ms until cancel()");
        let ticks = Arc::new(AtomicU32::new(0));
        let began = Instant::now();
        let (third_tx, third) = mpsc::channel();
        let interval = {
            let ticks = Arc::clone(&ticks);
            Interval::new(Duration::from_millis(30), move || {
                let n = ticks.fetch_add(1, SeqCst) + 1;
                println!("  [{:>3} ms] tick {n}", began.elapsed().as_millis());
                if n == 3 {
                    let _ = third_tx.send(());
                }
            })
            .name("ticker")
            .start()
            .expect("the OS refused a thread")
        };
        third.recv().expect("the interval ticks");
        interval.cancel();
        let at_cancel = ticks.load(SeqCst);
        println!("  cancel() returned after tick {at_cancel}");
        std::thread::sleep(Duration::from_millis(100)); // three more periods
        println!(
            "  100 ms later: still {} ticks; join() -> {} runs",
            ticks.load(SeqCst),
            interval.join().expect("interval panicked")
        );
        assert_eq!(ticks.load(SeqCst), at_cancel, "a tick after cancel()");
    })
}
