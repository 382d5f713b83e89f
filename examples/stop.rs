//! Stopping a thread: stop() asks a worker to end; check() sees it, and sleep() wakes at once
//!
//! Python cannot kill a thread: "stopping a thread must be implemented by yourself", by letting
//! it run its flow to the end. The usual way is a flag the thread checks, typically an `Event`,
//! whose `wait(timeout)` doubles as a sleep that a stop interrupts:
//!
//! ```python
//! stop = threading.Event()
//!
//! def crunch():
//!     while not stop.is_set():
//!         work_on_next_item()
//!
//! def poll():
//!     while not stop.wait(3600):     # sleeps an hour, unless stop is set
//!         check_mailbox()
//!
//! stop.set(); t.join()
//! ```
//!
//! weft builds it in: a thread started with `Thread::new_stoppable(|stop| ...)` receives a
//! `StopToken`, and its handle's `stop()` raises the flag. Inside, `stop.check()?` returns
//! `Err(Stopped)` for `?`, `stop.is_stopped()` is one atomic load for hot loops, and
//! `stop.sleep(d)?` wakes at once when stopped. It stays cooperative: a thread that never looks at
//! its token is not affected.

use std::sync::Arc;
use std::time::{Duration, Instant};

use weft::sync::Event;
use weft::thread::{StopToken, Stopped, Thread};

/// Works through items until told to stop, counting them in `done`.
fn crunch(stop: &StopToken, done: &mut u64, warmed_up: &Event) -> Result<(), Stopped> {
    loop {
        stop.check()?; // returns Err(Stopped) once stop() was called
        std::hint::black_box((0..1_000u64).sum::<u64>()); // one item of work
        *done += 1;
        if *done == 100 {
            warmed_up.set();
        }
    }
}

fn main() {
    weft::main(|| {
        println!("1. a worker loop that calls stop.check()? before every item:");
        let warmed_up = Arc::new(Event::new());
        let cruncher = {
            let warmed_up = Arc::clone(&warmed_up);
            Thread::new_stoppable(move |stop| {
                let mut done = 0;
                let outcome = crunch(&stop, &mut done, &warmed_up);
                (done, outcome)
            })
            .name("cruncher")
            .start()
            .expect("the OS refused a thread")
        };
        warmed_up.wait(); // it has done at least 100 items
        println!("  main: the cruncher is busy; calling stop()");
        cruncher.stop();
        println!(
            "  main: is_stop_requested() = {}",
            cruncher.is_stop_requested()
        );
        let (done, outcome) = cruncher.join().expect("cruncher panicked");
        println!("  cruncher returned {outcome:?} after {done} items (at least 100)");

        println!();
        println!("2. a thread sleeping for an hour with stop.sleep(3600 s)?:");
        let asleep = Arc::new(Event::new());
        let poller = {
            let asleep = Arc::clone(&asleep);
            Thread::new_stoppable(move |stop| -> Result<(), Stopped> {
                loop {
                    // check_mailbox() would go here
                    asleep.set();
                    stop.sleep(Duration::from_secs(3600))?;
                }
            })
            .name("poller")
            .start()
            .expect("the OS refused a thread")
        };
        asleep.wait();
        let asked = Instant::now();
        poller.stop();
        let outcome = poller.join().expect("poller panicked");
        println!(
            "  stop() then join(): {outcome:?} after {} µs, not an hour",
            asked.elapsed().as_micros()
        );

        println!();
        println!("3. a hot loop that only reads stop.is_stopped() (one atomic load):");
        let spinning = Arc::new(Event::new());
        let spinner = {
            let spinning = Arc::clone(&spinning);
            Thread::new_stoppable(move |stop| {
                let mut spins = 0u64;
                spinning.set();
                while !stop.is_stopped() {
                    spins = std::hint::black_box(spins + 1);
                }
                spins
            })
            .start()
            .expect("the OS refused a thread")
        };
        spinning.wait();
        let asked = Instant::now();
        spinner.stop();
        let spins = spinner.join().expect("spinner panicked");
        println!(
            "  stopped after {spins} spins, {} µs after stop()",
            asked.elapsed().as_micros()
        );
    })
}
