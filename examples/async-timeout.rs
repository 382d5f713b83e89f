//! asyncio.timeout / wait_for / shield: bound a wait; the late work is cancelled unless shielded
//!
//! ```python
//! try:
//!     async with asyncio.timeout(0.05):
//!         await slow_query()              # cancelled when the time is up
//! except TimeoutError:
//!     ...
//! await asyncio.wait_for(fetch(), timeout=1)
//! await asyncio.wait_for(asyncio.shield(save()), timeout=0.01)  # times out; save goes on
//! ```
//!
//! `weft::aio::timeout(d, fut)` and `wait_for(fut, d)` return `Err(TimeoutError)` and drop the
//! inner future, which cancels it (its destructors run); `timeout_at` takes a deadline.
//! `shield(fut)` runs the work as a task that a timed-out waiter does not cancel.

use std::time::{Duration, Instant};

use weft::aio::{run, shield, sleep, timeout, timeout_at, wait_for};

/// Prints when dropped: shows that a timed-out future is cancelled.
struct Query(&'static str);

impl Drop for Query {
    fn drop(&mut self) {
        println!("  {}: dropped (cancelled or finished)", self.0);
    }
}

async fn slow_query(ms: u64) -> &'static str {
    let _q = Query("slow_query");
    sleep(Duration::from_millis(ms)).await;
    "rows"
}

fn main() {
    run(async {
        println!("timeout(50 ms, a query of 10 ms):");
        println!(
            "  -> {:?}",
            timeout(Duration::from_millis(50), slow_query(10)).await
        );

        println!("timeout(20 ms, a query of an hour):");
        let start = Instant::now();
        let r = timeout(Duration::from_millis(20), slow_query(3_600_000)).await;
        println!("  -> {r:?} after {:?}", start.elapsed());

        println!("wait_for(fetch, 1 s) and timeout_at(now + 15 ms, an hour):");
        println!(
            "  -> {:?}",
            wait_for(async { 200 }, Duration::from_secs(1)).await
        );
        let deadline = Instant::now() + Duration::from_millis(15);
        println!(
            "  -> {:?}",
            timeout_at(deadline, sleep(Duration::from_secs(3600))).await
        );

        println!("wait_for(shield(save), 5 ms): the wait times out, the save goes on");
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        let save = shield(async move {
            sleep(Duration::from_millis(30)).await;
            let _ = done_tx.send("saved");
        });
        println!(
            "  -> {:?}",
            wait_for(save, Duration::from_millis(5)).await.map(|_| ())
        );
        println!("  the shielded save: {:?}", done_rx.await);
    })
    .expect("no runtime is running on this thread");
}
