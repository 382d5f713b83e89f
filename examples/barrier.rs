//! threading.Barrier: a server and a client wait for each other, then both proceed
//!
//! The chapter's example, then the barrier's action and what happens when it breaks:
//!
//! ```python
//! b = threading.Barrier(2, timeout=5)
//!
//! def server():
//!     print("server")
//!     b.wait()
//!     print("__server")
//!
//! def client():
//!     print("client")
//!     b.wait()
//!     print("__client")
//! ```

use std::error::Error;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use weft::sync::{Barrier, BreakCause, BrokenBarrier};

fn main() -> Result<(), Box<dyn Error>> {
    println!("1. server and client meet at Barrier(2, timeout=5 s):");
    let b = Arc::new(Barrier::new(2)?.timeout(Duration::from_secs(5)));
    let server = {
        let b = Arc::clone(&b);
        thread::spawn(move || -> Result<(), BrokenBarrier> {
            println!("  server: starting up");
            thread::sleep(Duration::from_millis(20)); // simulated start-up work
            println!("  server: up, waiting at the barrier");
            let index = b.wait()?;
            println!("  __server (passed with index {index})");
            Ok(())
        })
    };
    let client = {
        let b = Arc::clone(&b);
        thread::spawn(move || -> Result<(), BrokenBarrier> {
            println!("  client: ready to connect, waiting at the barrier");
            let index = b.wait()?;
            println!("  __client (passed with index {index})");
            Ok(())
        })
    };
    server.join().expect("server panicked")?;
    client.join().expect("client panicked")?;

    println!();
    println!("2. an action runs once per cycle, in the last thread to arrive:");
    let cycles = Arc::new(AtomicUsize::new(0));
    let phases = {
        let cycles = Arc::clone(&cycles);
        Arc::new(
            Barrier::new(3)?
                .timeout(Duration::from_secs(5))
                .action(move || {
                    let n = cycles.fetch_add(1, SeqCst) + 1;
                    println!("  action: all 3 arrived, phase {n} complete");
                }),
        )
    };
    let workers: Vec<_> = (1..=3)
        .map(|w| {
            let phases = Arc::clone(&phases);
            thread::spawn(move || -> Result<(), BrokenBarrier> {
                for phase in 1..=2 {
                    println!("  worker {w}: finished phase {phase}");
                    phases.wait()?;
                }
                Ok(())
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker panicked")?;
    }
    assert_eq!(cycles.load(SeqCst), 2);

    println!();
    println!("3. a broken barrier: only 1 of 2 parties ever arrives");
    let lonely = Barrier::new(2)?;
    let began = Instant::now();
    let err = lonely
        .wait_timeout(Duration::from_millis(50))
        .expect_err("nobody else came");
    println!(
        "  wait_timeout(50 ms) -> Err after {} ms: {err} (cause {:?})",
        began.elapsed().as_millis(),
        err.cause()
    );
    assert_eq!(err.cause(), BreakCause::Timeout);
    println!("  broken() = {}", lonely.broken());
    let again = lonely.wait().expect_err("a broken barrier fails at once");
    println!("  wait() -> Err at once: {again}");
    lonely.reset();
    println!("  reset(): broken() = {}", lonely.broken());
    let lonely = Arc::new(lonely);
    let other = {
        let lonely = Arc::clone(&lonely);
        thread::spawn(move || lonely.wait())
    };
    let mine = lonely.wait()?;
    let theirs = other.join().expect("thread panicked")?;
    println!("  after reset, two parties pass again (indices {mine} and {theirs})");
    Ok(())
}
