//! concurrent.futures.wait(FIRST_EXCEPTION): stop at the first failure, keep what finished
//!
//! ```python
//! done, not_done = wait(futures, return_when=FIRST_EXCEPTION)
//! for f in not_done: f.cancel()
//! ```
//!
//! Eight checks run on a pool of two threads; the second one fails. `wait` returns as soon as a task fails,
//! splitting the futures into done and not done, so the program can report the error and cancel
//! the checks that have not started. In Rust a task fails by returning `Err` (a fallible task) or
//! by panicking; both show up as the future's `exception()`.

use std::time::Duration;

use weft::executor::{wait, ReturnWhen, ThreadPoolExecutor};
use weft::sync::Event;

fn check(n: u32) -> Result<u32, String> {
    Event::new().wait_timeout(Duration::from_millis(30));
    if n == 1 {
        Err(format!("check {n}: disk is full"))
    } else {
        Ok(n)
    }
}

fn main() {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(2)
        .build()
        .expect("2 workers");
    let futures: Vec<_> = (0..8)
        .map(|n| {
            pool.submit_fallible(move || check(n))
                .expect("pool is open")
        })
        .collect();
    let w = wait(
        futures,
        Some(Duration::from_secs(60)),
        ReturnWhen::FirstException,
    );
    println!("done: {}, not done: {}", w.done.len(), w.not_done.len());
    let failure = w
        .done
        .iter()
        .find_map(|f| f.exception())
        .expect("one check failed");
    println!("first failure: {failure}");
    let cancelled = w.not_done.iter().filter(|f| f.cancel()).count();
    println!("cancelled {cancelled} checks that had not started");
    for f in w.done {
        if let Ok(n) = f.result() {
            println!("check {n} passed");
        }
    }
}
