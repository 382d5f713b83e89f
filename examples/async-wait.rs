//! asyncio.wait: split tasks into done and pending; handle each as it finishes, give up on the slow
//!
//! ```python
//! pending = {asyncio.create_task(fetch(name, ms)) for name, ms in SITES}
//! while pending:
//!     done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
//!     for t in done:
//!         print(t.result())
//! done, pending = await asyncio.wait(tasks, timeout=0.1)   # no error: the slow ones stay pending
//! done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
//! ```
//!
//! `weft::aio::wait(tasks, timeout, return_when)` returns `Waited { done, pending }`, both in the
//! order given. Nothing is cancelled: the pending tasks keep running, and a done task keeps its
//! result, so awaiting it answers at once. A failure is a panic, caught and given as
//! `TaskError::Panicked` by the task's await.

use std::time::{Duration, Instant};

use weft::aio::{create_task_named, run, sleep, wait, ReturnWhen, Task};

/// A simulated download: `ms` milliseconds of waiting for the network.
fn fetch(name: &'static str, ms: u64) -> Task<String> {
    create_task_named(name, async move {
        sleep(Duration::from_millis(ms)).await;
        format!("{name}: {} bytes", ms * 100)
    })
}

fn main() {
    run(async {
        let start = Instant::now();
        println!("FIRST_COMPLETED in a loop: each result as soon as it is in");
        let mut pending = vec![fetch("slow", 60), fetch("fast", 10), fetch("medium", 30)];
        while !pending.is_empty() {
            let w = wait(pending, None, ReturnWhen::FirstCompleted).await;
            for t in w.done {
                println!(
                    "  {:>4} ms  {}",
                    start.elapsed().as_millis(),
                    t.await.unwrap()
                );
            }
            pending = w.pending;
        }

        println!("a timeout of 40 ms: no error, the slow ones are still pending");
        let tasks = vec![fetch("a", 5), fetch("b", 20), fetch("c", 3_600_000)];
        let w = wait(
            tasks,
            Some(Duration::from_millis(40)),
            ReturnWhen::AllCompleted,
        )
        .await;
        for t in &w.done {
            println!("  done:    {}", t.name());
        }
        for t in &w.pending {
            println!("  pending: {} (still running: {})", t.name(), !t.done());
            t.cancel(); // we decide: Python's wait cancels nothing either
        }

        println!("FIRST_EXCEPTION: stop at the first failure (a panic)");
        let broken: Task<String> = create_task_named("broken", async {
            sleep(Duration::from_millis(5)).await;
            panic!("connection reset")
        });
        let tasks = vec![fetch("ok", 1), broken, fetch("long", 3_600_000)];
        let w = wait(tasks, None, ReturnWhen::FirstException).await;
        for t in w.done {
            let name = t.name().into_owned();
            println!("  done:    {name} -> {:?}", t.await);
        }
        for t in w.pending {
            println!("  pending: {} (cancelled as the handle drops)", t.name());
        }
    })
    .unwrap();
}
