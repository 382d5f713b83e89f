//! concurrent.futures.as_completed: take each result as soon as it is ready, with a progress bar
//!
//! ```python
//! futures = [ex.submit(work, n) for n in jobs]
//! for f in tqdm(as_completed(futures), total=len(futures)):
//!     print(f.result())
//! ```
//!
//! Tasks finish in whatever order their work allows; `as_completed` yields each future once, as it
//! finishes, so the fastest results are handled first. `.progress()` draws a bar on stderr when
//! it is a terminal (and nothing in a log or a pipe), the habit tqdm gives Python users.

use std::time::Duration;

use weft::executor::{as_completed, ThreadPoolExecutor};
use weft::sync::Event;

/// Job `n` takes `n * 20` ms.
fn work(n: u64) -> u64 {
    Event::new().wait_timeout(Duration::from_millis(n * 20));
    n
}

fn main() {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(6)
        .build()
        .expect("6 workers");
    let jobs = [5, 1, 4, 2, 6, 3];
    let futures: Vec<_> = jobs
        .iter()
        .map(|&n| pool.submit(move || work(n)).expect("pool is open"))
        .collect();
    println!("submitted jobs in the order {jobs:?}");
    let mut order = Vec::new();
    for finished in as_completed(futures, Some(Duration::from_secs(60))).progress() {
        let future = finished.expect("all finish within a minute");
        order.push(future.result().expect("work returns"));
    }
    println!("finished in the order  {order:?}");
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(sorted, [1, 2, 3, 4, 5, 6], "each future is yielded once");
}
