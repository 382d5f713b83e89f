//! asyncio.create_task: tasks interleave on one thread at each await, with no lock between them
//!
//! `asyncio.create_task(coro)` schedules a coroutine and returns at once; the event loop runs
//! one task at a time on one thread and switches only at `await`, where a waiting task lets the
//! loop find the next one that can run. No two tasks ever run at the same moment, so they share
//! state without locks, and waiting for I/O costs no thread:
//!
//! ```python
//! async def fetch(name, ms):
//!     log.append(f"{name} starts")
//!     await asyncio.sleep(ms / 1000)     # the loop runs the others meanwhile
//!     log.append(f"{name} done")
//!
//! tasks = [asyncio.create_task(fetch(n, ms)) for n, ms in (("a", 30), ("b", 10), ("c", 20))]
//! await asyncio.gather(*tasks)           # ~30 ms in all, not 60
//! ```
//!
//! `weft::aio::create_task` is the same on `run`'s single-threaded runtime: the three waits
//! below overlap, and every task runs on the main thread. Tasks must be `Send + 'static` (tokio
//! can move them), so for state shared without any lock the second half gathers plain futures
//! instead: they interleave inside one task and borrow one `RefCell`, which Rust accepts because
//! nothing else can touch it while they run. The last part runs tasks on `run_multi_thread`
//! (work-stealing, one thread per core; Python has no equivalent): there they may run at the
//! same moment on several threads, so what they share goes through `Arc` and a lock.

use std::cell::RefCell;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use weft::aio::{create_task, gather, run, run_multi_thread, sleep, yield_now, Lock};

async fn fetch(name: &'static str, ms: u64) -> (String, std::thread::ThreadId) {
    println!("  {name} starts, will wait {ms} ms");
    sleep(Duration::from_millis(ms)).await; // an I/O wait: the loop runs the other tasks
    println!("  {name} done");
    (format!("{name}: {ms} ms"), std::thread::current().id())
}

fn main() {
    let start = Instant::now();
    let results = run(async {
        let tasks = [("a", 30), ("b", 10), ("c", 20)].map(|(n, ms)| create_task(fetch(n, ms)));
        println!("3 tasks created; main goes on without waiting");
        gather(tasks).await.expect("no task panicked")
    })
    .expect("no runtime is running on this thread");
    let took = start.elapsed();

    let main_thread = std::thread::current().id();
    for (line, thread) in &results {
        println!("{line} (on the main thread: {})", *thread == main_thread);
    }
    println!("3 waits of 30 + 10 + 20 ms took {took:?}: they overlapped on one thread");

    // No lock: three coroutines update one RefCell, switching only at their awaits.
    let log = RefCell::new(Vec::new());
    run(async {
        let worker = |name: &'static str| {
            let log = &log;
            async move {
                for step in 1..=2 {
                    log.borrow_mut().push(format!("{name}{step}"));
                    yield_now().await; // the loop runs the next coroutine here
                }
                Ok::<_, std::convert::Infallible>(())
            }
        };
        gather([worker("x"), worker("y"), worker("z")]).await
    })
    .expect("no runtime is running on this thread")
    .expect("infallible");
    println!(
        "one RefCell, no lock, switches at each await: {:?}",
        log.into_inner()
    );

    // Several threads: the tasks share a counter through Arc and weft::aio::Lock.
    let (count, threads) = run_multi_thread(async {
        let counter = Arc::new(Lock::new((0u64, HashSet::new())));
        let tasks = (0..4).map(|_| {
            let counter = Arc::clone(&counter);
            create_task(async move {
                for _ in 0..1000 {
                    let mut c = counter.lock().await;
                    c.0 += 1;
                    c.1.insert(std::thread::current().id());
                    drop(c);
                    yield_now().await; // another worker thread may take this task over
                }
            })
        });
        gather(tasks).await.expect("no task panicked");
        let c = counter.lock().await;
        (c.0, c.1.len())
    })
    .expect("no runtime is running on this thread");
    println!(
        "run_multi_thread: 4 tasks x 1000 increments under an Arc'd Lock = {count}, \
         on {threads} worker thread(s)"
    );
    assert_eq!(count, 4000);
}
