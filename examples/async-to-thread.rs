//! asyncio.to_thread / run_in_executor: blocking and CPU work off the event loop
//!
//! The event loop is one thread: a blocking call (a file read, `time.sleep`, a C library) or a
//! long computation inside a coroutine stops every other task. Python hands such work to a
//! thread, or to a process pool for CPU work:
//!
//! ```python
//! data = await asyncio.to_thread(blocking_read, "log.txt")
//! with ProcessPoolExecutor() as pool:
//!     n = await loop.run_in_executor(pool, count_primes, 50_000)
//! ```
//!
//! `weft::aio::to_thread(f)` runs `f` on tokio's blocking pool and awaits it;
//! `run_in_executor(&pool, f, arg)` does the same on a weft-executor pool, thread or process.
//! Meanwhile the loop's other tasks keep running: the ticker below ticks during both.

use std::time::Duration;

use weft::aio::{create_task, run, run_in_executor, sleep, to_thread};
use weft::executor::ProcessPoolExecutor;

fn blocking_read(name: &str) -> String {
    std::thread::sleep(Duration::from_millis(40)); // a blocking call
    format!("{name}: 3 lines")
}

fn count_primes(limit: u64) -> usize {
    (2..limit)
        .filter(|n| (2..).take_while(|d| d * d <= *n).all(|d| n % d != 0))
        .count()
}

fn main() {
    weft::main(|| {
        let pool = ProcessPoolExecutor::builder()
            .max_workers(2)
            .build()
            .expect("worker processes start");
        run(async {
            let ticker = create_task(async {
                let mut ticks = 0;
                loop {
                    sleep(Duration::from_millis(5)).await;
                    ticks += 1;
                    if ticks % 4 == 0 {
                        println!("  (ticker: {ticks} ticks, the loop is free)");
                    }
                }
            });
            let data = to_thread(|| blocking_read("log.txt"))
                .await
                .expect("the read did not panic");
            println!("to_thread: {data}");
            let primes = run_in_executor(&pool, count_primes, 50_000)
                .expect("the pool is running")
                .await
                .expect("the worker answered");
            println!("run_in_executor on a process pool: {primes} primes below 50000");
            ticker.cancel();
        })
        .expect("no runtime is running on this thread");
    })
}
