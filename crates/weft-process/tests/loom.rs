//! loom models of ProcessQueue's wait protocol (`src/counts.rs`): a putter asleep on a full
//! queue is always woken when a place frees (by a get or by a put that failed), shutdown wakes
//! it, `join` returns exactly when the last item is marked done, and an extra `task_done` is
//! refused exactly once. Threads stand in for processes: the counts are the same atomics, and the
//! futex is modelled by one mutex and condition variable that make the check of the word and
//! the sleep atomic with respect to a wake-up, as the kernel does. loom reports a lost wake-up as
//! a deadlock.
//!
//! Run with `RUSTFLAGS="--cfg weft_loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p weft-process
//! --release --test loom` (or `cargo xtask test`).
#![cfg(weft_loom)]

use loom::sync::Arc;
use loom::thread;
use weft_process::counts::{Counts, Reserve};

/// A get frees the place a sleeping putter waits for.
#[test]
fn get_wakes_sleeping_putter() {
    loom::model(|| {
        let counts = Arc::new(Counts::default());
        assert_eq!(counts.reserve(1, None), Reserve::Ok);
        let putter = {
            let c = Arc::clone(&counts);
            thread::spawn(move || c.reserve(1, None))
        };
        counts.took();
        assert_eq!(putter.join().unwrap(), Reserve::Ok);
        assert_eq!(counts.queued(), 1);
        assert_eq!(counts.unfinished(), 2);
    });
}

/// A put that could not send its item gives its place back and wakes the sleeper.
#[test]
fn failed_put_wakes_sleeping_putter() {
    loom::model(|| {
        let counts = Arc::new(Counts::default());
        assert_eq!(counts.reserve(1, None), Reserve::Ok);
        let putter = {
            let c = Arc::clone(&counts);
            thread::spawn(move || c.reserve(1, None))
        };
        counts.unreserve();
        assert_eq!(putter.join().unwrap(), Reserve::Ok);
        assert_eq!(counts.queued(), 1);
        assert_eq!(counts.unfinished(), 1);
    });
}

/// Shutdown wakes a putter asleep on a full queue, and it fails.
#[test]
fn shutdown_wakes_sleeping_putter() {
    loom::model(|| {
        let counts = Arc::new(Counts::default());
        assert_eq!(counts.reserve(1, None), Reserve::Ok);
        let putter = {
            let c = Arc::clone(&counts);
            thread::spawn(move || c.reserve(1, None))
        };
        counts.shut();
        assert_eq!(putter.join().unwrap(), Reserve::ShutDown);
        assert!(counts.is_shut());
        assert_eq!(counts.unfinished(), 1);
    });
}

/// `join` returns once both items are marked done, from two other "processes", never before.
#[test]
fn join_waits_for_the_last_task_done() {
    loom::model(|| {
        let counts = Arc::new(Counts::default());
        assert_eq!(counts.reserve(0, None), Reserve::Ok);
        assert_eq!(counts.reserve(0, None), Reserve::Ok);
        counts.took();
        counts.took();
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let c = Arc::clone(&counts);
                thread::spawn(move || c.task_done())
            })
            .collect();
        assert!(counts.join_until(None));
        assert_eq!(counts.unfinished(), 0);
        for w in workers {
            assert_eq!(w.join().unwrap(), Ok(()));
        }
    });
}

/// Two `task_done` calls race for one unfinished item: exactly one succeeds.
#[test]
fn extra_task_done_refused_once() {
    loom::model(|| {
        let counts = Arc::new(Counts::default());
        assert_eq!(counts.reserve(0, None), Reserve::Ok);
        counts.took();
        let other = {
            let c = Arc::clone(&counts);
            thread::spawn(move || c.task_done().is_ok())
        };
        let mine = counts.task_done().is_ok();
        let theirs = other.join().unwrap();
        assert!(mine ^ theirs, "exactly one task_done may succeed");
        assert_eq!(counts.unfinished(), 0);
    });
}

/// A put that reserved and then failed gives its item's count back and wakes a joiner that
/// waits for it.
#[test]
fn failed_put_wakes_joiner() {
    loom::model(|| {
        let counts = Arc::new(Counts::default());
        assert_eq!(counts.reserve(0, None), Reserve::Ok);
        let joiner = {
            let c = Arc::clone(&counts);
            thread::spawn(move || c.join_until(None))
        };
        counts.unreserve();
        assert!(joiner.join().unwrap());
        assert_eq!((counts.queued(), counts.unfinished()), (0, 0));
    });
}
