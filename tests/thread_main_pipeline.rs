//! Scenario: a pipeline that runs on after `weft::main`'s body has returned, across weft's crates.
//! The body starts, and returns at once:
//! - a daemon `weft::thread` thread running `weft::aio::run`, whose task drains a
//!   `weft::channel::Queue` with `get_async` and hands each item to `to_thread`;
//! - two producer threads that meet a `weft::sync::Barrier` before putting;
//! - a `Timer`, the barrier's third party, that waits for a `weft::sync::Event` set by a
//!   `before_exit` function, so it releases the producers only once the exit has begun;
//! - a closer thread that joins the producers, waits for `join` and shuts the queue down.
//!
//! `weft::main` returns only after the pending timer and the non-daemon threads (every item has
//! then been taken and marked done), and each `to_thread` call the daemon loop made meanwhile was
//! refused with `TaskError::Cancelled` (the exit refuses them, as Python's refuses executor
//! submits at interpreter shutdown), without stopping the loop's draining.
//!
//! A test binary of its own: from the end of the body until `weft::main` returns, the whole
//! process is exiting (`weft::thread::is_exiting`).
#![cfg(all(
    feature = "aio",
    feature = "channel",
    feature = "thread",
    feature = "sync"
))]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use weft::aio::{run, to_thread};
use weft::channel::Queue;
use weft::sync::{Barrier, Event};
use weft::thread::{before_exit, is_exiting, Thread, Timer};

const LONG: Duration = Duration::from_secs(60);
const PER_PRODUCER: u64 = 50;

#[test]
fn main_waits_for_a_pipeline_started_by_its_body() {
    let taken = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let (t, r) = (taken.clone(), refused.clone());
    weft::main(move || {
        let q = Queue::bounded(2).unwrap();
        let exiting = Arc::new(Event::new());
        let e = exiting.clone();
        before_exit(move || e.set());
        let barrier = Arc::new(Barrier::new(3).unwrap().timeout(LONG));

        let q1 = q.clone();
        Thread::new(move || {
            run(async move {
                while let Ok(item) = q1.get_async().await {
                    match to_thread(move || item * 2).await {
                        Err(e) if e.is_cancelled() => r.fetch_add(1, Ordering::SeqCst),
                        other => panic!("a call made during the exit was not refused: {other:?}"),
                    };
                    t.fetch_add(1, Ordering::SeqCst);
                    q1.task_done().unwrap();
                }
            })
            .unwrap();
        })
        .daemon(true)
        .start()
        .unwrap();

        let producers: Vec<_> = (0..2)
            .map(|p| {
                let (q, b) = (q.clone(), barrier.clone());
                Thread::new(move || {
                    b.wait().unwrap();
                    for i in 0..PER_PRODUCER {
                        q.put(p * PER_PRODUCER + i).unwrap();
                    }
                })
                .start()
                .unwrap()
            })
            .collect();

        let b = barrier.clone();
        Timer::new(Duration::from_millis(1), move || {
            assert!(exiting.wait_timeout(LONG), "no before_exit function ran");
            assert!(is_exiting());
            b.wait().unwrap();
        })
        .start()
        .unwrap();

        Thread::new(move || {
            for p in producers {
                p.join().unwrap();
            }
            assert!(q.join_timeout(LONG), "the daemon loop left items undone");
            q.shutdown();
        })
        .start()
        .unwrap();
    });
    assert!(!is_exiting());
    assert_eq!(taken.load(Ordering::SeqCst), 2 * PER_PRODUCER);
    assert_eq!(refused.load(Ordering::SeqCst), 2 * PER_PRODUCER);
}
