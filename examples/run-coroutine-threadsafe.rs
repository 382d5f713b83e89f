//! asyncio.run_coroutine_threadsafe: a plain thread hands coroutines to the running loop
//!
//! Code on a plain thread (a GUI's, a legacy library's callback) cannot `await`; it hands a
//! coroutine to the loop and blocks on a `concurrent.futures.Future` instead:
//!
//! ```python
//! loop = asyncio.get_running_loop()            # inside the loop, passed to the thread
//! fut = asyncio.run_coroutine_threadsafe(fetch("index.html"), loop)
//! print(fut.result(timeout=5))                 # in the thread
//! fut = asyncio.run_coroutine_threadsafe(download(), loop)
//! fut.cancel()                                 # cancels the task on the loop
//! loop.call_soon_threadsafe(print, "done")     # a plain function, run on the loop
//! ```
//!
//! weft: `Loop::current()` inside `run`, then `lp.run_coroutine_threadsafe(fut)` in the thread,
//! which returns weft-executor's `Future` (`result_timeout`, `cancel`, `add_done_callback`); a
//! panic in the coroutine is its failure, and cancelling it cancels the task on the loop, whose
//! `async_with` exits still run there. The loop's ticker keeps ticking meanwhile.

use std::convert::Infallible;
use std::time::Duration;

use weft::aio::{async_with, context_manager, create_task, run, sleep, to_thread, Loop};
use weft::executor::ResultTimeoutError;
use weft::thread::Thread;

async fn fetch(page: &str) -> usize {
    sleep(Duration::from_millis(20)).await; // a network wait, on the loop
    page.len() * 100
}

fn main() {
    weft::main(|| {
        run(async {
            let lp = Loop::current().expect("inside run"); // asyncio.get_running_loop()
            let ticker = create_task(async {
                for tick in 1.. {
                    sleep(Duration::from_millis(10)).await;
                    if tick % 5 == 0 {
                        println!("  (loop: {tick} ticks, free while the thread waits)");
                    }
                }
            });
            let (ran_tx, ran_rx) = tokio::sync::oneshot::channel();
            let worker = Thread::new(move || {
                // 1. A value: the thread blocks, the loop runs the coroutine.
                let f = lp
                    .run_coroutine_threadsafe(fetch("index.html"))
                    .expect("loop runs");
                let bytes = f.result_timeout(Duration::from_secs(5)).expect("answered");
                println!("thread: fetch gave {bytes} bytes");

                // 2. A panic in the coroutine is the future's failure; the loop goes on.
                let f = lp
                    .run_coroutine_threadsafe(async {
                        sleep(Duration::from_millis(1)).await;
                        panic!("404 for missing.html")
                    })
                    .expect("loop runs");
                let failed = f.result().map(|()| "no error").unwrap_err();
                println!("thread: the coroutine failed: {failed}");

                // 3. A timeout leaves the task running; cancel() then cancels it on the loop,
                //    and its async cleanup still runs there.
                let download = context_manager(
                    || async { Ok::<_, Infallible>(String::from("big.iso")) },
                    |file: String, outcome| {
                        let cancelled = outcome.is_cancelled();
                        async move {
                            sleep(Duration::from_millis(5)).await; // async cleanup
                            println!("loop: {file}'s exit ran (cancelled: {cancelled})");
                            Ok::<_, Infallible>(())
                        }
                    },
                );
                let f = lp
                    .run_coroutine_threadsafe(async move {
                        async_with(download, async |_: &mut String| {
                            sleep(Duration::from_secs(3600)).await;
                            Ok::<_, Infallible>(())
                        })
                        .await
                    })
                    .expect("loop runs");
                let f = match f.result_timeout(Duration::from_millis(30)) {
                    Err(ResultTimeoutError::Timeout(f)) => f,
                    other => panic!("the download cannot have finished: {other:?}"),
                };
                println!(
                    "thread: still downloading after 30 ms; cancel() -> {}",
                    f.cancel()
                );
                println!("thread: cancelled() -> {}", f.cancelled());

                // 4. A plain function, run on the loop's thread.
                lp.call_soon_threadsafe(move || {
                    println!("loop: call_soon_threadsafe ran");
                    let _ = ran_tx.send(());
                })
                .expect("loop runs");
            })
            .name("worker")
            .start()
            .expect("the OS refused a thread");
            to_thread(move || worker.join().expect("the worker did not panic"))
                .await
                .expect("the join did not panic");
            ran_rx.await.expect("the function ran");
            ticker.cancel();
            // The cancelled download's exit, if still running, is awaited as run ends.
        })
        .expect("no runtime is running on this thread");

        // After run: the loop is closed, and the coroutine comes back (Python: RuntimeError).
        let lp = run(async { Loop::current().expect("inside run") }).expect("no runtime");
        let back = lp.run_coroutine_threadsafe(fetch("late.html")).unwrap_err();
        println!("after run: {back}; the coroutine came back unrun");
    })
}
