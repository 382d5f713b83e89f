//! Loom models of the futures' protocol (`src/future.rs`): completion against waiting,
//! cancellation against starting, callbacks added during completion, a dropped promise, the
//! `as_completed` group, an awaiting task and two racing cancels. Run by `cargo xtask test`:
//! `RUSTFLAGS="--cfg weft_loom" LOOM_MAX_PREEMPTIONS=2`
//! `cargo test -p weft-executor --test loom --release`.
#![cfg(weft_loom)]

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;
use weft_executor::model::promise;
use weft_executor::{as_completed, TaskError};

/// A completion on another thread always reaches a waiter that blocks in `result`.
#[test]
fn complete_wakes_result() {
    loom::model(|| {
        let (p, f) = promise::<u32, ()>();
        let t = thread::spawn(move || {
            assert!(p.set_running());
            p.complete(Ok(7));
        });
        assert_eq!(f.result(), Ok(7));
        t.join().unwrap();
    });
}

/// `cancel` and a worker starting the task race: exactly one wins, and the future's result says
/// which.
#[test]
fn cancel_races_start() {
    loom::model(|| {
        let (p, f) = promise::<u32, ()>();
        let ran = Arc::new(AtomicUsize::new(0));
        let r = ran.clone();
        let t = thread::spawn(move || {
            if p.set_running() {
                r.fetch_add(1, Ordering::SeqCst);
                p.complete(Ok(1));
            }
        });
        let cancelled = f.cancel();
        assert_eq!(cancelled, f.cancelled());
        t.join().unwrap();
        assert_eq!(ran.load(Ordering::SeqCst), usize::from(!cancelled));
        match f.result() {
            Ok(1) => assert!(!cancelled),
            Err(TaskError::Cancelled) => assert!(cancelled),
            other => panic!("unexpected {other:?}"),
        }
    });
}

/// A callback added while the task completes runs exactly once, and sees the value; the waiter
/// gets the value after it.
#[test]
fn callback_added_during_completion_runs_once() {
    loom::model(|| {
        let (p, f) = promise::<u32, ()>();
        let calls = Arc::new(AtomicUsize::new(0));
        let t = thread::spawn(move || {
            p.complete(Ok(3));
        });
        let c = calls.clone();
        f.add_done_callback(move |r| {
            assert_eq!(r, &Ok(3));
            c.fetch_add(1, Ordering::SeqCst);
        });
        t.join().unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(f.result(), Ok(3));
    });
}

/// A promise dropped without completing (a lost job) fails the waiting future instead of
/// leaving it pending.
#[test]
fn dropped_promise_breaks_the_waiter() {
    loom::model(|| {
        let (p, f) = promise::<u32, ()>();
        let t = thread::spawn(move || drop(p));
        assert!(f.result().unwrap_err().is_broken_pool());
        t.join().unwrap();
    });
}

/// Two futures completed on two threads are each yielded once by `as_completed`.
#[test]
fn as_completed_sees_both() {
    loom::model(|| {
        let (p1, f1) = promise::<u32, ()>();
        let (p2, f2) = promise::<u32, ()>();
        let t1 = thread::spawn(move || p1.complete(Ok(1)));
        let t2 = thread::spawn(move || p2.complete(Ok(2)));
        let mut sum = 0;
        for f in as_completed(vec![f1, f2], None) {
            sum += f.unwrap().result().unwrap();
        }
        assert_eq!(sum, 3);
        t1.join().unwrap();
        t2.join().unwrap();
    });
}

/// An async task awaiting the future is woken by a completion on another thread.
#[test]
fn await_is_woken() {
    loom::model(|| {
        let (p, f) = promise::<u32, ()>();
        let t = thread::spawn(move || p.complete(Ok(9)));
        assert_eq!(loom::future::block_on(f), Ok(9));
        t.join().unwrap();
    });
}

/// Two threads waiting on one shared future (`exception` takes `&self`) are both woken.
#[test]
fn two_waiters_on_a_shared_future() {
    loom::model(|| {
        let (p, f) = promise::<u32, u32>();
        let f = Arc::new(f);
        let f2 = f.clone();
        let waiter = thread::spawn(move || f2.exception());
        let completer = thread::spawn(move || p.complete(Err(TaskError::Failed(5))));
        assert_eq!(f.exception(), Some(TaskError::Failed(5)));
        assert_eq!(waiter.join().unwrap(), Some(TaskError::Failed(5)));
        completer.join().unwrap();
    });
}

/// A done callback runs after the future is published (as in Python): inside it the future is
/// done, and the owner's `result` still gets the value after it.
#[test]
fn callbacks_see_the_future_done() {
    loom::model(|| {
        let (p, f) = promise::<u32, ()>();
        let f = Arc::new(f);
        let seen = Arc::new(AtomicUsize::new(0));
        let (inner, s) = (Arc::clone(&f), Arc::clone(&seen));
        f.add_done_callback(move |r| {
            assert_eq!(r, &Ok(4));
            s.store(1 + usize::from(inner.done()), Ordering::SeqCst);
        });
        let t = thread::spawn(move || p.complete(Ok(4)));
        t.join().unwrap();
        assert_eq!(seen.load(Ordering::SeqCst), 2);
        let f = Arc::try_unwrap(f).unwrap_or_else(|_| panic!("the callback kept the future"));
        assert_eq!(f.result(), Ok(4));
    });
}

/// Two `cancel`s race: both return `true`, and each caller then finds the future cancelled and
/// done (the second waits for the first's cancellation to be published). The other thread
/// looks at the future first, while the main thread's cancel may be under way: it is never
/// cancelled and not done.
#[test]
fn two_cancels_race() {
    loom::model(|| {
        let (_p, f) = promise::<u32, ()>();
        let f = Arc::new(f);
        let f2 = f.clone();
        let other = thread::spawn(move || {
            let looked = !f2.cancelled() || f2.done();
            (looked, f2.cancel() && f2.cancelled() && f2.done())
        });
        assert!(f.cancel() && f.cancelled() && f.done());
        let (looked, cancelled) = other.join().unwrap();
        assert!(looked, "cancelled and not done");
        assert!(
            cancelled,
            "a second cancel returned before the future was cancelled and done"
        );
    });
}
