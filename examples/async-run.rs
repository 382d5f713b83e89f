//! asyncio.run: an async fn does nothing until awaited; run blocks until the coroutine is done
//!
//! In Python, calling an `async def` function runs none of its body: it returns a coroutine
//! object, and `asyncio.run()` drives it to the end, blocking the caller meanwhile:
//!
//! ```python
//! async def greet(name):
//!     print(f"hello, {name}")
//!     await asyncio.sleep(0.01)
//!     return len(name)
//!
//! coro = greet("weft")        # nothing printed yet
//! n = asyncio.run(coro)       # prints, then returns 4
//! ```
//!
//! A Rust `async fn` is the same: calling it builds a future, a value that runs only when
//! awaited. `weft::aio::run` is `asyncio.run`: a new single-threaded runtime runs the future,
//! the caller blocks, and when it is done every task still running is cancelled, so none
//! outlives the call. Calling `run` inside a running runtime is an error that hands the future
//! back, as Python raises `RuntimeError`.

use std::time::{Duration, Instant};

use weft::aio::{run, sleep};

async fn greet(name: &str) -> usize {
    println!("  greet({name:?}) runs");
    sleep(Duration::from_millis(10)).await;
    name.len()
}

fn main() {
    let coro = greet("weft");
    println!("greet(\"weft\") called: a future, nothing printed by it yet");

    let start = Instant::now();
    println!("run(coro) blocks this thread...");
    let n = run(coro).expect("no runtime is running on this thread");
    println!(
        "...and returns {n} after {:?} (the body ran inside run)",
        start.elapsed()
    );

    // Nested run: Python raises "asyncio.run() cannot be called from a running event loop".
    let inner = run(async {
        match run(greet("nested")) {
            Ok(_) => unreachable!("run inside run is refused"),
            Err(e) => {
                println!("run inside run: error \"{e}\"; awaiting the returned future instead");
                e.into_inner().await
            }
        }
    })
    .expect("the outer run starts");
    println!("the nested greet returned {inner}");
}
