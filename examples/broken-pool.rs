//! BrokenProcessPool: a worker process dies mid-run, and every future still answers
//!
//! ```python
//! with ProcessPoolExecutor(2) as ex:
//!     futures = [ex.submit(task, i) for i in range(8)]
//!     ...                        # a worker is killed (OOM killer, segfault, os._exit)
//!     f.result()                 # raises BrokenProcessPool; nothing hangs
//! ```
//!
//! One task's worker is killed with SIGKILL (as the OOM killer would). The pool notices the dead
//! process, marks itself broken, and fails every future that had not finished with
//! `TaskError::BrokenPool`; later submits are refused with the argument given back. No future is
//! left pending and nothing hangs — the guarantee Python 3.3 added after years of hung pools.

use std::time::Duration;

use weft::executor::{ProcessPoolExecutor, ResultTimeoutError};

fn task(i: u32) -> u32 {
    if i == 3 {
        // What the OOM killer does to a worker: SIGKILL, which nothing in the process can catch.
        use rustix::process::{getpid, kill_process, Signal};
        kill_process(getpid(), Signal::KILL).expect("a process may signal itself");
    }
    // Work long enough that the crash happens while other tasks are pending.
    weft::sync::Event::new().wait_timeout(Duration::from_millis(50));
    i * 10
}

fn main() {
    weft::main(|| {
        let pool = ProcessPoolExecutor::builder()
            .max_workers(2)
            .build()
            .expect("a process pool");
        let futures: Vec<_> = (0..8)
            .map(|i| pool.submit(task, i).expect("pool is open"))
            .collect();
        let (mut done, mut broken) = (0, 0);
        for (i, f) in futures.into_iter().enumerate() {
            match f.result_timeout(Duration::from_secs(60)) {
                Ok(v) => {
                    done += 1;
                    println!("task {i}: {v}");
                }
                Err(ResultTimeoutError::Task(e)) => {
                    assert!(e.is_broken_pool(), "task {i}: {e}");
                    broken += 1;
                    println!("task {i}: {e}");
                }
                Err(ResultTimeoutError::Timeout(_)) => panic!("task {i} pending after a minute"),
            }
        }
        println!("{done} finished, {broken} failed with BrokenProcessPool; none pending");
        let why = pool.broken().expect("the pool is broken");
        println!("why: {why}");
        let refused = pool
            .submit(task, 9)
            .expect_err("a broken pool refuses work");
        let why = refused.to_string();
        println!(
            "a later submit is refused ({why}); its argument comes back: {}",
            refused.into_inner()
        );
    })
}
