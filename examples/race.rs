//! Race condition: threads that read, then write a shared counter lose updates; a Lock fixes it
//!
//! The chapter's first problem with shared mutable state. In Python:
//!
//! ```python
//! counter = 0
//!
//! def work():
//!     global counter
//!     for _ in range(100_000):
//!         v = counter       # read
//!         counter = v + 1   # write: another thread may have written in between
//! ```
//!
//! Here the counter is an `AtomicU64` read with `load` and written with `store`: each access is
//! well-defined (no undefined behaviour), but the read-modify-write as a whole is not atomic, so
//! two threads can read the same value and one increment overwrites the other. With
//! `weft::sync::Lock<u64>` the read and the write happen under the lock and nothing is lost.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use weft::sync::{Barrier, Lock};

const THREADS: u64 = 4;
const ITERATIONS: u64 = 100_000;
/// Every this many iterations a thread yields between its read and its write, as if the
/// interpreter switched threads at the worst moment.
const YIELD_EVERY: u64 = 1_000;

fn main() {
    let expected = THREADS * ITERATIONS;
    println!(
        "{THREADS} threads each add 1 to a shared counter {ITERATIONS} times: expected {expected}"
    );

    // 1. Unsynchronized: `v = counter; counter = v + 1`.
    let counter = Arc::new(AtomicU64::new(0));
    let start = Arc::new(Barrier::new(THREADS as usize).expect("at least one thread"));
    let began = Instant::now();
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let (counter, start) = (Arc::clone(&counter), Arc::clone(&start));
            thread::spawn(move || {
                start.wait().expect("the start barrier has no timeout");
                for i in 0..ITERATIONS {
                    let v = counter.load(Relaxed); // read
                    if i % YIELD_EVERY == 0 {
                        thread::yield_now(); // a thread switch between read and write
                    }
                    counter.store(v + 1, Relaxed); // write: may overwrite others' updates
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("worker panicked");
    }
    let racy = counter.load(Relaxed);
    let lost = expected - racy;
    println!();
    println!("without a lock:  v = counter.load(); counter.store(v + 1)");
    println!(
        "  counter = {racy}, {lost} updates lost ({:.1}%) in {:.1} ms",
        lost as f64 * 100.0 / expected as f64,
        began.elapsed().as_secs_f64() * 1e3
    );

    // 2. The same read, pause, write, but holding a Lock.
    let counter = Arc::new(Lock::new(0u64));
    let began = Instant::now();
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let (counter, start) = (Arc::clone(&counter), Arc::clone(&start));
            thread::spawn(move || {
                start.wait().expect("the start barrier has no timeout");
                for i in 0..ITERATIONS {
                    let mut guard = counter.acquire(); // `with lock:`
                    let v = *guard;
                    if i % YIELD_EVERY == 0 {
                        thread::yield_now(); // the other threads cannot get in meanwhile
                    }
                    *guard = v + 1;
                } // the guard is dropped here: the lock is released
            })
        })
        .collect();
    for h in handles {
        h.join().expect("worker panicked");
    }
    let exact = *counter.acquire();
    println!();
    println!("with weft::sync::Lock:  let mut g = lock.acquire(); *g = *g + 1");
    println!(
        "  counter = {exact}, nothing lost in {:.1} ms",
        began.elapsed().as_secs_f64() * 1e3
    );
    assert_eq!(exact, expected, "the Lock version must be exact");

    println!();
    println!("The read-modify-write is a critical section: only a lock makes it one step.");
}
