//! asyncio.TaskGroup: structured concurrency; one failure cancels the siblings
//!
//! `async with asyncio.TaskGroup() as tg:` starts tasks that all end inside the block: leaving
//! it waits for every task, and the first task that raises cancels the others; the block then
//! raises an `ExceptionGroup` with every failure:
//!
//! ```python
//! async with asyncio.TaskGroup() as tg:
//!     a = tg.create_task(download("a.txt"))
//!     b = tg.create_task(download("b.txt"))
//! print(a.result(), b.result())
//! ```
//!
//! `weft::aio::TaskGroup` is the same: `create_task` starts a task, `wait()` is the end of the
//! block and returns `Err(TaskGroupError)` with every failure; dropping the group early cancels
//! its tasks. Tasks that return `Err` or panic count as failures. `TaskGroup::scope(async |tg|
//! { ... })` is the whole block, body included: a failure cancels the body at its current
//! await, as Python cancels the task running the block, and the body's own `Err` joins the
//! group's error.

use std::time::{Duration, Instant};

use weft::aio::{run, sleep, TaskGroup, TaskGroupHandle};

async fn download(name: &'static str, ms: u64) -> Result<usize, String> {
    sleep(Duration::from_millis(ms)).await;
    if name.ends_with(".exe") {
        return Err(format!("{name}: refused"));
    }
    println!("  {name} downloaded");
    Ok(name.len() * 100)
}

fn main() {
    run(async {
        println!("a group whose tasks all succeed:");
        let tg = TaskGroup::new();
        let a = tg
            .create_task(download("a.txt", 20))
            .expect("the group is open");
        let b = tg
            .create_task(download("b.txt", 10))
            .expect("the group is open");
        tg.wait().await.expect("no task failed");
        println!(
            "  results after the block: {:?} {:?}",
            a.await.expect("a finished"),
            b.await.expect("b finished")
        );

        println!("a group with one failing task:");
        let start = Instant::now();
        let tg = TaskGroup::new();
        let slow = tg
            .create_task(download("big.iso", 3_600_000))
            .expect("open");
        let _bad = tg.create_task(download("setup.exe", 10)).expect("open");
        match tg.wait().await {
            Ok(()) => unreachable!("setup.exe fails"),
            Err(errors) => println!("  the group failed: {errors}"),
        }
        println!(
            "  the hour-long download was cancelled: {} (after {:?}, not an hour)",
            slow.await.unwrap_err(),
            start.elapsed()
        );

        println!("scope: the block whole; a failure cancels the body too");
        let start = Instant::now();
        let result = TaskGroup::scope(async |tg: TaskGroupHandle<String>| {
            tg.create_task(download("c.txt", 10)).expect("open");
            tg.create_task(download("virus.exe", 20)).expect("open");
            println!("  body: waiting for the user's click (an hour)...");
            sleep(Duration::from_secs(3600)).await;
            println!("  body: never printed: the failure cancelled it");
            Ok(())
        })
        .await;
        println!("  -> {result:?} after {:?}", start.elapsed());
    })
    .expect("no runtime is running on this thread");
}
