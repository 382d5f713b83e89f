//! Executor.shutdown(cancel_futures=True): stop a pool now, cancel what has not started
//!
//! ```python
//! ex.shutdown(wait=True, cancel_futures=True)
//! ```
//!
//! Ten slow tasks are queued on a pool of two threads. Shutting down with `cancel_futures`
//! cancels the eight still waiting in the queue; the two already running finish. Every future
//! answers: done or cancelled, none lost. A later submit is refused and gives the task back.

use std::sync::Arc;
use std::time::Duration;

use weft::executor::ThreadPoolExecutor;
use weft::sync::{Barrier, Event};

fn main() {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(2)
        .build()
        .expect("2 workers");
    // The first two tasks meet the main thread at a barrier, so we know they are running, then
    // work until the main thread has shut the pool down.
    let started = Arc::new(Barrier::new(3).expect("3 parties"));
    let shut = Arc::new(Event::new());
    let futures: Vec<_> = (0..10u32)
        .map(|i| {
            let (started, shut) = (started.clone(), shut.clone());
            pool.submit(move || {
                if i < 2 {
                    started.wait().expect("barrier");
                    shut.wait_timeout(Duration::from_secs(60));
                }
                i
            })
            .expect("pool is open")
        })
        .collect();
    started.wait().expect("barrier");
    // Python's shutdown(wait=True, cancel_futures=True) is shutdown(true, true); here the
    // running tasks wait for our signal, so we do not wait in shutdown itself.
    pool.shutdown(false, true);
    shut.set();
    let (mut finished, mut cancelled) = (0, 0);
    for f in futures {
        match f.result() {
            Ok(_) => finished += 1,
            Err(e) if e.is_cancelled() => cancelled += 1,
            Err(e) => panic!("unexpected {e}"),
        }
    }
    println!("after shutdown(cancel_futures): {finished} finished, {cancelled} cancelled");
    assert_eq!((finished, cancelled), (2, 8));
    let refused = pool.submit(|| 99).expect_err("the pool is shut down");
    let why = refused.to_string();
    let task = refused.into_inner();
    println!(
        "a later submit is refused ({why}); the task comes back and still runs: {}",
        task()
    );
}
