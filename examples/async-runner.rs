//! asyncio.Runner: one event loop for several runs; tasks left by one go on in the next
//!
//! Python 3.11's `asyncio.Runner` keeps its loop between `run` calls. A task that one `run`
//! started and did not finish waits, unrun, while no `run` is under way, and goes on in the next;
//! the end of the `with` block (`close()`) cancels whatever is left and lets it clean up:
//!
//! ```python
//! with asyncio.Runner() as runner:
//!     ticker = runner.run(start_ticker())   # returns the task, still running
//!     runner.run(asyncio.sleep(0.03))       # the ticker ticks during this run only
//!     runner.get_loop().call_soon_threadsafe(print, "queued between runs")
//!     runner.run(asyncio.sleep(0))          # ... and it runs here
//! # close(): the ticker is cancelled and its `finally` runs
//! runner.run(main())                        # RuntimeError: Runner is closed
//! ```
//!
//! `weft::aio::Runner` is the same: `Runner::new()` builds a single-threaded runtime at its first
//! `run`, keeps it (and its tasks) between runs, and `close()` (or dropping the runner) is what
//! `run` does at its end. After it, `run` gives `RunError::Closed` with the future back.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use weft::aio::{create_task, sleep, yield_now, Runner};

/// Prints on drop: the ticker's `finally`.
struct Finally;

impl Drop for Finally {
    fn drop(&mut self) {
        println!("  ticker: cancelled, its cleanup runs (Python's `finally`)");
    }
}

#[allow(
    clippy::async_yields_async,
    reason = "run 1 returns the ticker task, which outlives it"
)]
fn main() {
    let ticks = Arc::new(AtomicUsize::new(0));
    let mut runner = Runner::new();

    let t = ticks.clone();
    let ticker = runner
        .run(async move {
            create_task(async move {
                let _finally = Finally;
                loop {
                    t.fetch_add(1, Ordering::SeqCst);
                    sleep(Duration::from_millis(5)).await;
                }
            })
        })
        .expect("not inside a runtime");
    println!("run 1 returned the ticker task; done: {}", ticker.done());

    let before = ticks.load(Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(30));
    println!(
        "between runs, 30 ms later: {} new ticks (nothing runs between runs)",
        ticks.load(Ordering::SeqCst) - before
    );

    runner
        .run(sleep(Duration::from_millis(30)))
        .expect("the runner is open");
    println!(
        "run 2 (a 30 ms sleep): the ticker ticked {} times in all",
        ticks.load(Ordering::SeqCst)
    );

    let lp = runner.get_loop().expect("the runner is open");
    std::thread::spawn(move || {
        lp.call_soon_threadsafe(|| println!("  on the loop: queued between runs, run in run 3"))
            .expect("the runner is open")
    })
    .join()
    .expect("the thread did not panic");
    println!("a thread queued a call; run 3 starts");
    runner.run(yield_now()).expect("the runner is open");

    println!("close():");
    runner.close().expect("not inside a runtime");
    println!("closed; the ticker's task is done: {}", ticker.done());
    match runner.run(async { "main" }) {
        Ok(_) => unreachable!("a closed runner runs nothing"),
        Err(e) => println!("run after close: error \"{e}\" (the future comes back)"),
    }
}
