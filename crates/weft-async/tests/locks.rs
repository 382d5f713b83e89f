//! Behaviour tests of asyncio's synchronization primitives: `Event`, `Condition`, `Barrier`,
//! `BoundedSemaphore`, and the `Lock`/`Semaphore`/queue re-exports.
//!
//! Cases re-expressed from CPython's `Lib/test/test_asyncio/test_locks.py`: EventTests
//! `test_wait`, `test_wait_on_set`, `test_wait_cancel`, `test_clear`, `test_clear_with_waiters`;
//! ConditionTests `test_wait`, `test_wait_cancel`, `test_wait_cancel_after_notify` (bpo-32841),
//! `test_wait_for`, `test_notify`, `test_notify_all`, `test_timeout_in_block`,
//! `test_context_manager`; BoundedSemaphore's `test_release_not_acquired`; BarrierTests
//! `test_barrier_parties`, `test_filling_one_task_twice`, `test_filling_task_by_task`,
//! `test_filling_tasks_check_return_value`, `test_filling_tasks_cancel_one`,
//! `test_reset_barrier_while_tasks_waiting`, `test_abort_barrier`. The action, timeout and
//! action-panic cases follow `threading.Barrier`'s (`Lib/test/lock_tests.py` BarrierTests
//! `test_action`, `test_timeout`, `test_default_timeout`, `test_abort`). The rest (notification
//! passed on by a dropped waiter, counts under a multi-thread runtime) are weft's own.
//!
//! Where a test needs another task to have reached a wait, it runs on a current-thread runtime
//! and yields until an observable state says so (`n_waiting`, a flag the task sets in the same
//! poll that registers it); no test sleeps to synchronize. Timeouts run on paused time.
//!
//! Not built under `--cfg weft_loom`: there the condition's data lock is the model-checked
//! shim, whose guard is not `Send`, so these multi-thread tests would not compile; loom's own
//! models of the same primitives are in `tests/loom.rs`.
#![cfg(not(weft_loom))]

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::task::Poll;
use std::time::Duration;

use futures_util::poll;

mod common;
use common::PanickingWaker;
use tokio::task::{yield_now, JoinHandle};
use weft_async::{
    Barrier, BoundedSemaphore, BreakCause, BrokenBarrier, Condition, Event, Lock, LockGuard,
    ReleaseError, Semaphore, SemaphorePermit, ZeroParties,
};

/// Yields to the other tasks until `done()` holds; fails the test instead of spinning forever.
async fn until(mut done: impl FnMut() -> bool) {
    for _ in 0..10_000 {
        if done() {
            return;
        }
        yield_now().await;
    }
    panic!("the awaited state never came");
}

/// Awaits `fut`, failing the test if it does not finish within 10 s of (possibly paused) time.
async fn finishes<F: Future>(fut: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(10), fut)
        .await
        .expect("a task hung")
}

/// Whether the task is still pending after the others had many chances to run.
async fn still_pending<T>(t: &JoinHandle<T>) -> bool {
    for _ in 0..100 {
        yield_now().await;
    }
    !t.is_finished()
}

// ---------------------------------------------------------------------------------------------
// Event

#[tokio::test]
async fn event_set_clear_is_set() {
    let ev = Event::new();
    assert!(!ev.is_set());
    ev.set();
    assert!(ev.is_set());
    ev.clear();
    assert!(!ev.is_set());
    assert!(!Event::default().is_set());
    assert_eq!(format!("{ev:?}"), "Event { is_set: false }");
}

#[tokio::test]
async fn event_wait_on_set_returns_at_once() {
    let ev = Event::new();
    ev.set();
    finishes(ev.wait()).await;
    assert!(ev.wait_timeout(Duration::ZERO).await);
}

#[tokio::test]
async fn event_one_set_wakes_every_waiter() {
    let ev = Arc::new(Event::new());
    let started = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..5)
        .map(|_| {
            let (ev, started) = (Arc::clone(&ev), Arc::clone(&started));
            tokio::spawn(async move {
                started.fetch_add(1, Ordering::SeqCst);
                ev.wait().await;
            })
        })
        .collect();
    until(|| started.load(Ordering::SeqCst) == 5).await;
    for t in &tasks {
        assert!(still_pending(t).await);
    }
    ev.set();
    for t in tasks {
        finishes(t).await.unwrap();
    }
}

/// CPython's `test_clear_with_waiters`: a waiter woken by `set` returns even though the flag
/// was cleared before it ran.
#[tokio::test]
async fn event_waiter_returns_after_set_then_clear() {
    let ev = Arc::new(Event::new());
    let started = Arc::new(AtomicBool::new(false));
    let t = tokio::spawn({
        let (ev, started) = (Arc::clone(&ev), Arc::clone(&started));
        async move {
            started.store(true, Ordering::SeqCst);
            ev.wait().await; // registers in the same poll
        }
    });
    until(|| started.load(Ordering::SeqCst)).await;
    ev.set();
    ev.clear();
    assert!(!ev.is_set());
    finishes(t).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn event_wait_timeout() {
    let ev = Arc::new(Event::new());
    assert!(!ev.wait_timeout(Duration::from_millis(50)).await);
    let setter = tokio::spawn({
        let ev = Arc::clone(&ev);
        async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            ev.set();
        }
    });
    assert!(ev.wait_timeout(Duration::from_secs(1)).await);
    setter.await.unwrap();
    assert!(ev.wait_timeout(Duration::MAX).await);
}

/// CPython's `test_wait_cancel`, and: a dropped waiter takes nothing from the others.
#[tokio::test]
async fn event_dropped_waiter_loses_nothing() {
    let ev = Arc::new(Event::new());
    let mut dropped = Box::pin(ev.wait());
    assert!(poll!(dropped.as_mut()).is_pending());
    let other = tokio::spawn({
        let ev = Arc::clone(&ev);
        async move { ev.wait().await }
    });
    assert!(still_pending(&other).await);
    drop(dropped);
    ev.set();
    finishes(other).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_ping_pong_across_threads() {
    let (ping, pong) = (Arc::new(Event::new()), Arc::new(Event::new()));
    let rounds = 2_000;
    let other = tokio::spawn({
        let (ping, pong) = (Arc::clone(&ping), Arc::clone(&pong));
        async move {
            for _ in 0..rounds {
                ping.wait().await;
                ping.clear();
                pong.set();
            }
        }
    });
    for _ in 0..rounds {
        ping.set();
        finishes(pong.wait()).await;
        pong.clear();
    }
    finishes(other).await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// Condition

/// Spawns a task that takes the lock, records that it is waiting (under the lock, in the same
/// poll that registers the wait), waits once, and then appends `id` to `woken`.
fn cond_waiter(
    cond: &Arc<Condition<Vec<usize>>>,
    waiting: &Arc<AtomicUsize>,
    id: usize,
) -> JoinHandle<()> {
    let (cond, waiting) = (Arc::clone(cond), Arc::clone(waiting));
    tokio::spawn(async move {
        let guard = cond.acquire().await;
        waiting.fetch_add(1, Ordering::SeqCst);
        let mut guard = guard.wait().await;
        guard.push(id);
    })
}

/// CPython's `test_wait` and `test_notify`: `notify(n)` wakes the `n` oldest waiters, each only
/// once the notifier releases the lock, and says how many it woke.
#[tokio::test]
async fn condition_notify_n_wakes_oldest_first_and_counts() {
    let cond = Arc::new(Condition::new(Vec::new()));
    let waiting = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for id in 1..=3 {
        tasks.push(cond_waiter(&cond, &waiting, id));
        until(|| waiting.load(Ordering::SeqCst) == id).await; // arrival order 1, 2, 3
    }
    assert!(!cond.locked());

    let guard = cond.acquire().await;
    assert_eq!(guard.notify(1), 1);
    assert!(still_pending(&tasks[0]).await); // woken, but the lock is held here
    assert!(guard.is_empty());
    drop(guard);
    finishes(&mut tasks[0]).await.unwrap();
    assert_eq!(*cond.acquire().await, [1]);

    let guard = cond.acquire().await;
    assert_eq!(guard.notify(2048), 2); // only two were waiting
    assert_eq!(guard.notify(5), 0);
    drop(guard);
    for t in &mut tasks[1..] {
        finishes(t).await.unwrap();
    }
    assert_eq!(*cond.acquire().await, [1, 2, 3]);
}

/// CPython's `test_notify_all`.
#[tokio::test]
async fn condition_notify_all_wakes_everyone() {
    let cond = Arc::new(Condition::new(Vec::new()));
    let waiting = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..4).map(|id| cond_waiter(&cond, &waiting, id)).collect();
    until(|| waiting.load(Ordering::SeqCst) == 4).await;
    assert_eq!(cond.acquire().await.notify_all(), 4);
    for t in tasks {
        finishes(t).await.unwrap();
    }
    let mut woken = cond.acquire().await.clone();
    woken.sort();
    assert_eq!(woken, [0, 1, 2, 3]);
    assert!(!cond.acquire().await.notify_one());
}

/// CPython's `test_wait_for`: a notification with the predicate false does not end the wait.
#[tokio::test]
async fn condition_wait_for_predicate() {
    let cond = Arc::new(Condition::new((false, 0usize)));
    let t = tokio::spawn({
        let cond = Arc::clone(&cond);
        async move {
            let mut guard = cond.acquire().await;
            guard.1 += 1; // registered once this lock is released
            let guard = guard.wait_for(|(ready, _)| *ready).await;
            guard.1
        }
    });
    until(|| cond.try_acquire().is_some_and(|g| g.1 == 1)).await;
    assert!(cond.acquire().await.notify_one());
    assert!(still_pending(&t).await); // the predicate is still false: it waits again
    let mut guard = cond.acquire().await;
    guard.0 = true;
    assert!(guard.notify_one());
    drop(guard);
    assert_eq!(finishes(t).await.unwrap(), 1);
}

/// CPython's `test_timeout_in_block`: a timed-out wait returns with the lock held again.
#[tokio::test(start_paused = true)]
async fn condition_wait_timeout_holds_the_lock_again() {
    let cond = Condition::new(7);
    let guard = cond.acquire().await;
    let (guard, notified) = guard.wait_timeout(Duration::from_millis(500)).await;
    assert!(!notified);
    assert!(cond.locked());
    assert_eq!(*guard, 7);
    let (guard, ok) = guard
        .wait_for_timeout(|n| *n == 8, Duration::from_millis(20))
        .await;
    assert!(!ok);
    drop(guard);
    assert!(!cond.locked());
}

#[tokio::test(start_paused = true)]
async fn condition_wait_timeout_notified_in_time() {
    let cond = Arc::new(Condition::new(0));
    let notifier = tokio::spawn({
        let cond = Arc::clone(&cond);
        async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            let mut guard = cond.acquire().await;
            *guard = 1;
            guard.notify_all()
        }
    });
    let (guard, ok) = cond
        .acquire()
        .await
        .wait_for_timeout(|n| *n == 1, Duration::from_secs(1))
        .await;
    assert!(ok);
    assert_eq!(*guard, 1);
    drop(guard);
    assert_eq!(notifier.await.unwrap(), 1);
}

/// CPython's `test_wait_cancel`: a waiter dropped before any notification leaves the list, and
/// the lock is not held.
#[tokio::test]
async fn condition_dropped_waiter_leaves_the_list() {
    let cond = Condition::new(());
    let mut wait = Box::pin(cond.acquire().await.wait());
    assert!(poll!(wait.as_mut()).is_pending());
    assert!(!cond.locked());
    drop(wait);
    assert!(!cond.locked());
    assert_eq!(cond.acquire().await.notify_all(), 0);
}

/// A notification delivered to a waiter that is dropped in the same instant is passed on to
/// the next waiter: `notify(1)` still wakes one task that will return.
#[tokio::test]
async fn condition_notification_of_a_dropped_waiter_is_passed_on() {
    let cond = Arc::new(Condition::new(Vec::new()));
    let mut first = Box::pin(cond.acquire().await.wait()); // the oldest waiter
    assert!(poll!(first.as_mut()).is_pending());
    let waiting = Arc::new(AtomicUsize::new(0));
    let second = cond_waiter(&cond, &waiting, 2);
    until(|| waiting.load(Ordering::SeqCst) == 1).await;

    let guard = cond.acquire().await;
    assert_eq!(guard.notify(1), 1); // goes to `first`
    drop(guard);
    drop(first); // dropped before it collected the notification
    finishes(second).await.unwrap();
    assert_eq!(*cond.acquire().await, [2]);
}

/// CPython's `test_wait_cancel_after_notify` (bpo-32841): a waiter cancelled after it was
/// notified, while it waits for the lock, passes the notification on.
#[tokio::test]
async fn condition_waiter_cancelled_while_retaking_the_lock_passes_on() {
    let cond = Arc::new(Condition::new(Vec::new()));
    let waiting = Arc::new(AtomicUsize::new(0));
    let first = cond_waiter(&cond, &waiting, 1);
    until(|| waiting.load(Ordering::SeqCst) == 1).await;
    let second = cond_waiter(&cond, &waiting, 2);
    until(|| waiting.load(Ordering::SeqCst) == 2).await;

    let guard = cond.acquire().await;
    assert_eq!(guard.notify(1), 1);
    assert!(still_pending(&first).await); // notified; now queued on the lock
    first.abort();
    assert!(first.await.unwrap_err().is_cancelled());
    drop(guard);
    finishes(second).await.unwrap();
    assert_eq!(*cond.acquire().await, [2]);
}

#[tokio::test(start_paused = true)]
async fn condition_try_acquire_locked_and_acquire_timeout() {
    let cond = Condition::new(1);
    let guard = cond.acquire().await;
    assert!(cond.locked());
    assert!(cond.try_acquire().is_none());
    assert!(cond
        .acquire_timeout(Duration::from_millis(5))
        .await
        .is_none());
    assert_eq!(
        format!("{cond:?}"),
        "Condition { data: <locked>, waiters: 0 }"
    );
    guard.release();
    assert!(!cond.locked());
    assert!(cond.acquire_timeout(Duration::ZERO).await.is_some());
    assert_eq!(format!("{cond:?}"), "Condition { data: 1, waiters: 0 }");
    assert_eq!(cond.into_inner(), 1);
}

/// A bounded buffer of one slot between producers and consumers on two worker threads: every
/// item arrives once, nobody hangs (a lost wake-up would stop the transfer).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn condition_producers_consumers_across_threads() {
    const PER_PRODUCER: usize = 500;
    let slot = Arc::new(Condition::new(None::<usize>));
    let producers: Vec<_> = (0..2)
        .map(|p| {
            let slot = Arc::clone(&slot);
            tokio::spawn(async move {
                for i in 0..PER_PRODUCER {
                    let mut guard = slot.acquire().await.wait_for(|s| s.is_none()).await;
                    *guard = Some(p * PER_PRODUCER + i);
                    guard.notify_all();
                }
            })
        })
        .collect();
    let consumers: Vec<_> = (0..2)
        .map(|_| {
            let slot = Arc::clone(&slot);
            tokio::spawn(async move {
                let mut got = Vec::new();
                for _ in 0..PER_PRODUCER {
                    let mut guard = slot.acquire().await.wait_for(|s| s.is_some()).await;
                    got.extend(guard.take());
                    guard.notify_all();
                }
                got
            })
        })
        .collect();
    for p in producers {
        finishes(p).await.unwrap();
    }
    let mut all = Vec::new();
    for c in consumers {
        all.extend(finishes(c).await.unwrap());
    }
    all.sort();
    assert_eq!(all, (0..2 * PER_PRODUCER).collect::<Vec<_>>());
}

// ---------------------------------------------------------------------------------------------
// Barrier

fn spawn_waits(barrier: &Arc<Barrier>, n: usize) -> Vec<JoinHandle<Result<usize, BrokenBarrier>>> {
    (0..n)
        .map(|_| {
            let barrier = Arc::clone(barrier);
            tokio::spawn(async move { barrier.wait().await })
        })
        .collect()
}

async fn results<T>(tasks: Vec<JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::new();
    for t in tasks {
        out.push(finishes(t).await.unwrap());
    }
    out
}

#[test]
fn barrier_zero_parties_is_an_error() {
    assert_eq!(Barrier::new(0).unwrap_err(), ZeroParties);
    assert_eq!(
        ZeroParties.to_string(),
        "a barrier needs at least one party"
    );
    assert_eq!(Barrier::new(3).unwrap().parties(), 3);
}

/// CPython's `test_filling_one_task_twice`.
#[tokio::test]
async fn barrier_of_one_passes_at_once() {
    let barrier = Barrier::new(1).unwrap();
    assert_eq!(barrier.wait().await, Ok(0));
    assert_eq!(barrier.wait().await, Ok(0));
    assert_eq!(barrier.n_waiting(), 0);
    assert!(!barrier.broken());
}

/// CPython's `test_filling_task_by_task` and `test_filling_tasks_check_return_value`: each
/// cycle hands out every index in `0..parties` once, the last to arrive gets `parties - 1`.
#[tokio::test]
async fn barrier_indices_are_unique_every_cycle() {
    let barrier = Arc::new(Barrier::new(4).unwrap());
    for _cycle in 0..3 {
        let tasks = spawn_waits(&barrier, 3);
        until(|| barrier.n_waiting() == 3).await;
        assert_eq!(barrier.wait().await, Ok(3));
        let mut indices: Vec<_> = results(tasks)
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        indices.sort();
        assert_eq!(indices, [0, 1, 2]);
        assert_eq!(barrier.n_waiting(), 0);
    }
}

/// `threading.Barrier`'s `test_action`: the action runs once per cycle, before any party is
/// released.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn barrier_action_runs_once_per_cycle_before_release() {
    const PARTIES: usize = 4;
    const CYCLES: usize = 200;
    let actions = Arc::new(AtomicUsize::new(0));
    let barrier = Arc::new(Barrier::new(PARTIES).unwrap().action({
        let actions = Arc::clone(&actions);
        move || {
            actions.fetch_add(1, Ordering::SeqCst);
        }
    }));
    let seen = Arc::new(StdMutex::new(vec![Vec::new(); CYCLES]));
    let tasks: Vec<_> = (0..PARTIES)
        .map(|_| {
            let (barrier, actions, seen) = (
                Arc::clone(&barrier),
                Arc::clone(&actions),
                Arc::clone(&seen),
            );
            tokio::spawn(async move {
                for cycle in 0..CYCLES {
                    let index = barrier.wait().await.unwrap();
                    assert!(actions.load(Ordering::SeqCst) > cycle);
                    seen.lock().unwrap()[cycle].push(index);
                }
            })
        })
        .collect();
    results(tasks).await;
    assert_eq!(actions.load(Ordering::SeqCst), CYCLES);
    for mut indices in seen.lock().unwrap().drain(..) {
        indices.sort();
        assert_eq!(indices, (0..PARTIES).collect::<Vec<_>>());
    }
}

/// `threading.Barrier`'s `test_abort`: abort releases every waiter with the error, and later
/// waits fail too until reset.
#[tokio::test]
async fn barrier_abort_wakes_all_with_broken_barrier() {
    let barrier = Arc::new(Barrier::new(4).unwrap());
    let tasks = spawn_waits(&barrier, 3);
    until(|| barrier.n_waiting() == 3).await;
    barrier.abort();
    assert!(barrier.broken());
    assert_eq!(barrier.n_waiting(), 0);
    for r in results(tasks).await {
        let err = r.unwrap_err();
        assert_eq!(err.cause(), BreakCause::Aborted);
        assert_eq!(err.panic_message(), None);
    }
    assert_eq!(
        barrier.wait().await.unwrap_err().cause(),
        BreakCause::Aborted
    );
    barrier.abort(); // aborting a broken barrier changes nothing
    barrier.reset();
    assert!(!barrier.broken());
    let tasks = spawn_waits(&barrier, 3);
    until(|| barrier.n_waiting() == 3).await;
    assert_eq!(barrier.wait().await, Ok(3));
    assert!(results(tasks).await.iter().all(Result::is_ok));
}

/// CPython's `test_reset_barrier_while_tasks_waiting`.
#[tokio::test]
async fn barrier_reset_releases_waiters_with_reset() {
    let barrier = Arc::new(Barrier::new(3).unwrap());
    let tasks = spawn_waits(&barrier, 2);
    until(|| barrier.n_waiting() == 2).await;
    barrier.reset();
    for r in results(tasks).await {
        assert_eq!(r.unwrap_err().cause(), BreakCause::Reset);
    }
    assert!(!barrier.broken());
    assert_eq!(barrier.n_waiting(), 0);
    let tasks = spawn_waits(&barrier, 2);
    until(|| barrier.n_waiting() == 2).await;
    assert_eq!(finishes(barrier.wait()).await, Ok(2));
    assert!(results(tasks).await.iter().all(Result::is_ok));
}

/// An `abort` or `reset` right after a cycle passed does not undo it: the task that has not
/// resumed yet still gets its index. (asyncio's task raises `BrokenBarrierError` then, its state
/// being no longer "draining" when it resumes.)
#[tokio::test]
async fn barrier_abort_or_reset_right_after_a_trip_leaves_that_cycle_passed() {
    for reset in [false, true] {
        let barrier = Arc::new(Barrier::new(2).unwrap());
        let tasks = spawn_waits(&barrier, 1);
        until(|| barrier.n_waiting() == 1).await;
        // The other task is released but has not run since: nothing yields in between.
        assert_eq!(barrier.wait().await, Ok(1));
        if reset {
            barrier.reset();
        } else {
            barrier.abort();
        }
        assert_eq!(barrier.broken(), !reset);
        assert_eq!(results(tasks).await, [Ok(0)]);
    }
}

/// `threading.Barrier`'s `test_timeout`: a wait that times out breaks the barrier for everyone.
#[tokio::test(start_paused = true)]
async fn barrier_timeout_breaks_it() {
    let barrier = Arc::new(Barrier::new(3).unwrap());
    let patient = spawn_waits(&barrier, 1);
    until(|| barrier.n_waiting() == 1).await;
    let err = barrier
        .wait_timeout(Duration::from_millis(100))
        .await
        .unwrap_err();
    assert!(err.is_timeout());
    assert!(barrier.broken());
    assert_eq!(barrier.n_waiting(), 0);
    let other = results(patient).await.pop().unwrap().unwrap_err();
    assert_eq!(other.cause(), BreakCause::Timeout);
    assert_eq!(err.to_string(), "barrier broken: a wait timed out");
}

/// `threading.Barrier`'s `test_default_timeout`; a wait that completes the cycle in time is not
/// affected.
#[tokio::test(start_paused = true)]
async fn barrier_default_timeout() {
    let barrier = Arc::new(Barrier::new(2).unwrap().timeout(Duration::from_millis(50)));
    let err = barrier.wait().await.unwrap_err();
    assert!(err.is_timeout());
    barrier.reset();
    let other = spawn_waits(&barrier, 1);
    until(|| barrier.n_waiting() == 1).await;
    assert_eq!(barrier.wait_timeout(Duration::ZERO).await, Ok(1)); // completes the cycle
    assert_eq!(results(other).await, [Ok(0)]);
}

/// CPython's `test_filling_tasks_cancel_one`: a waiter dropped while the barrier fills leaves
/// it; the count goes down, the barrier is not broken, and the next arrivals complete the cycle
/// with distinct indices.
#[tokio::test]
async fn barrier_dropped_waiter_leaves_the_cycle() {
    let barrier = Arc::new(Barrier::new(3).unwrap());
    let first = spawn_waits(&barrier, 1).pop().unwrap();
    until(|| barrier.n_waiting() == 1).await;
    let mut dropped = Box::pin(barrier.wait());
    assert!(poll!(dropped.as_mut()).is_pending());
    assert_eq!(barrier.n_waiting(), 2);
    drop(dropped);
    assert_eq!(barrier.n_waiting(), 1);
    assert!(!barrier.broken());

    let third = spawn_waits(&barrier, 1).pop().unwrap();
    until(|| barrier.n_waiting() == 2).await;
    assert_eq!(barrier.wait().await, Ok(2));
    let mut indices = vec![
        finishes(first).await.unwrap().unwrap(),
        finishes(third).await.unwrap().unwrap(),
    ];
    indices.sort();
    assert_eq!(indices, [0, 1]);
}

/// A waiter aborted as a task (tokio's cancellation) leaves the cycle the same way.
#[tokio::test]
async fn barrier_aborted_task_leaves_the_cycle() {
    let barrier = Arc::new(Barrier::new(2).unwrap());
    let t = spawn_waits(&barrier, 1).pop().unwrap();
    until(|| barrier.n_waiting() == 1).await;
    t.abort();
    assert!(t.await.unwrap_err().is_cancelled());
    assert_eq!(barrier.n_waiting(), 0);
    let other = spawn_waits(&barrier, 1);
    until(|| barrier.n_waiting() == 1).await;
    assert_eq!(barrier.wait().await, Ok(1));
    assert_eq!(results(other).await, [Ok(0)]);
}

/// A panicking action breaks the barrier; the party that ran it gets the panic message, the
/// others the error without it, and nobody is left waiting.
#[tokio::test]
async fn barrier_panicking_action_breaks_it() {
    let barrier = Arc::new(Barrier::new(3).unwrap().action(|| panic!("action failed")));
    let tasks = spawn_waits(&barrier, 2);
    until(|| barrier.n_waiting() == 2).await;
    let err = barrier.wait().await.unwrap_err();
    assert_eq!(err.cause(), BreakCause::ActionPanicked);
    assert_eq!(err.panic_message(), Some("action failed"));
    assert_eq!(
        err.to_string(),
        "barrier broken: the action panicked: action failed"
    );
    for r in results(tasks).await {
        let err = r.unwrap_err();
        assert_eq!(err.cause(), BreakCause::ActionPanicked);
        assert_eq!(err.panic_message(), None);
    }
    assert!(barrier.broken());
}

/// The action may read the barrier's lock-free state.
#[tokio::test]
async fn barrier_action_may_read_the_barrier() {
    let seen = Arc::new(AtomicUsize::new(usize::MAX));
    let barrier = Arc::new_cyclic(|me: &std::sync::Weak<Barrier>| {
        let (me, seen) = (me.clone(), Arc::clone(&seen));
        Barrier::new(2).unwrap().action(move || {
            if let Some(b) = me.upgrade() {
                seen.store(b.n_waiting() + usize::from(b.broken()), Ordering::SeqCst);
            }
        })
    });
    let other = spawn_waits(&barrier, 1);
    until(|| barrier.n_waiting() == 1).await;
    assert_eq!(finishes(barrier.wait()).await, Ok(1));
    assert_eq!(results(other).await, [Ok(0)]);
    assert_eq!(seen.load(Ordering::SeqCst), 1);
}

// ---------------------------------------------------------------------------------------------
// BoundedSemaphore

/// CPython's `test_release_not_acquired` for `BoundedSemaphore`.
#[tokio::test]
async fn bounded_semaphore_over_release_is_an_error() {
    let sem = BoundedSemaphore::new(2);
    assert_eq!(sem.release(), Err(ReleaseError { max: 2 }));
    sem.acquire_forget().await;
    sem.acquire().await.forget();
    assert!(sem.locked());
    assert_eq!(sem.release(), Ok(()));
    assert_eq!(sem.release(), Ok(()));
    assert_eq!(sem.release(), Err(ReleaseError { max: 2 }));
    assert_eq!(sem.available(), 2);
    // A guard's permit comes back by itself and is never releasable by hand.
    let permit = sem.acquire().await;
    assert_eq!(sem.release(), Err(ReleaseError { max: 2 }));
    drop(permit);
    assert_eq!(sem.available(), 2);
    assert_eq!(
        ReleaseError { max: 2 }.to_string(),
        "bounded semaphore released too many times: it holds at most 2 permits"
    );
}

#[tokio::test(start_paused = true)]
async fn bounded_semaphore_try_acquire_locked_timeout() {
    let sem = BoundedSemaphore::new(1);
    assert!(!sem.locked());
    let held = sem.try_acquire().unwrap();
    assert!(sem.locked());
    assert!(sem.try_acquire().is_none());
    assert!(sem
        .acquire_timeout(Duration::from_millis(10))
        .await
        .is_none());
    drop(held);
    assert!(sem
        .acquire_timeout(Duration::from_millis(10))
        .await
        .is_some());
    assert_eq!(sem.max(), 1);
    assert_eq!(
        BoundedSemaphore::new(usize::MAX).max(),
        BoundedSemaphore::MAX_PERMITS
    );
}

/// A dropped acquire takes no permit, and a waiter behind it still gets one.
#[tokio::test]
async fn bounded_semaphore_dropped_acquire_leaks_nothing() {
    let sem = Arc::new(BoundedSemaphore::new(1));
    let held = sem.acquire().await;
    let mut dropped = Box::pin(sem.acquire());
    assert!(poll!(dropped.as_mut()).is_pending());
    let other = tokio::spawn({
        let sem = Arc::clone(&sem);
        async move { drop(sem.acquire().await) }
    });
    assert!(still_pending(&other).await);
    drop(held); // the permit goes to `dropped`, the oldest waiter…
    drop(dropped); // …which gives it on
    finishes(other).await.unwrap();
    assert_eq!(sem.available(), 1);
    let mut manual = Box::pin(sem.acquire_forget());
    assert_eq!(poll!(manual.as_mut()), Poll::Ready(()));
    assert!(sem.release().is_ok());
}

/// Tasks on two worker threads take permits through guards and manual pairs: the holders never
/// exceed the bound, and all permits are back at the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bounded_semaphore_holders_never_exceed_the_bound() {
    const BOUND: usize = 3;
    let sem = Arc::new(BoundedSemaphore::new(BOUND));
    let inside = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..8)
        .map(|t| {
            let (sem, inside, most) = (Arc::clone(&sem), Arc::clone(&inside), Arc::clone(&most));
            tokio::spawn(async move {
                for i in 0..300 {
                    let manual = (t + i) % 3 == 0;
                    let permit = if manual {
                        sem.acquire_forget().await;
                        None
                    } else {
                        Some(sem.acquire().await)
                    };
                    let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    assert!(
                        now <= BOUND,
                        "{now} holders of a semaphore bounded at {BOUND}"
                    );
                    yield_now().await;
                    inside.fetch_sub(1, Ordering::SeqCst);
                    if manual {
                        sem.release().unwrap();
                    }
                    drop(permit);
                }
            })
        })
        .collect();
    results(tasks).await;
    assert_eq!(sem.available(), BOUND);
    assert_eq!(most.load(Ordering::SeqCst), BOUND); // 8 tasks did contend
    assert!(sem.release().is_err());
}

/// Stray releases racing manual acquire/release pairs on two worker threads: the count never
/// exceeds the bound, each stray release that succeeds is matched by exactly one owner's release
/// that fails (nothing is created or lost), and all permits are back at the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bounded_semaphore_stray_releases_never_raise_the_count_past_the_bound() {
    const BOUND: usize = 2;
    let sem = Arc::new(BoundedSemaphore::new(BOUND));
    let owner_failures = Arc::new(AtomicUsize::new(0));
    let owners: Vec<_> = (0..4)
        .map(|_| {
            let (sem, failures) = (Arc::clone(&sem), Arc::clone(&owner_failures));
            tokio::spawn(async move {
                for _ in 0..500 {
                    sem.acquire_forget().await;
                    assert!(sem.available() <= BOUND);
                    yield_now().await;
                    if sem.release().is_err() {
                        failures.fetch_add(1, Ordering::SeqCst); // a stray release took it
                    }
                }
            })
        })
        .collect();
    let stray = tokio::spawn({
        let sem = Arc::clone(&sem);
        async move {
            let mut succeeded = 0;
            for _ in 0..2_000 {
                if sem.release().is_ok() {
                    succeeded += 1;
                }
                assert!(sem.available() <= BOUND);
                yield_now().await;
            }
            succeeded
        }
    });
    results(owners).await;
    let stray_successes = finishes(stray).await.unwrap();
    assert_eq!(stray_successes, owner_failures.load(Ordering::SeqCst));
    assert_eq!(sem.available(), BOUND);
}

// ---------------------------------------------------------------------------------------------
// Re-exports

#[tokio::test]
async fn lock_and_semaphore_reexports_are_tokios() {
    let lock: Lock<u32> = Lock::new(1);
    {
        let mut guard: LockGuard<'_, u32> = lock.lock().await;
        *guard += 1;
        assert!(lock.try_lock().is_err()); // Python's locked()
    }
    assert_eq!(*lock.lock().await, 2);

    let sem = Semaphore::new(2);
    let permit: SemaphorePermit<'_> = sem.acquire().await.unwrap();
    assert_eq!(sem.available_permits(), 1);
    drop(permit);
    sem.add_permits(1); // Python's Semaphore.release(): unbounded
    assert_eq!(sem.available_permits(), 3);
}

#[cfg(feature = "channel")]
#[tokio::test]
async fn queues_are_weft_channels() {
    let q = weft_async::Queue::bounded(2).unwrap();
    q.put_async(1).await.unwrap();
    q.put_async(2).await.unwrap();
    let getter = tokio::spawn({
        let q = q.clone();
        async move {
            let a = q.get_async().await.unwrap();
            q.task_done().unwrap();
            let b = q.get_async().await.unwrap();
            q.task_done().unwrap();
            a + b
        }
    });
    finishes(q.join_async()).await;
    assert_eq!(getter.await.unwrap(), 3);
    let _lifo = weft_async::LifoQueue::<u8>::unbounded();
    let _prio = weft_async::PriorityQueue::<u8>::unbounded();
    let simple = weft_async::SimpleQueue::new();
    simple.put(5);
    assert_eq!(simple.get_async().await, 5);
}

#[tokio::test]
async fn barrier_action_may_print_the_barrier() {
    // From review: the action runs under the barrier's lock, and Debug took that lock too, so an
    // action that printed its barrier deadlocked. Debug reads the lock-free counters now.
    let cell: Arc<std::sync::OnceLock<Arc<Barrier>>> = Arc::new(std::sync::OnceLock::new());
    let seen = Arc::new(StdMutex::new(String::new()));
    let (c, s) = (cell.clone(), seen.clone());
    let barrier = Arc::new(
        Barrier::new(1)
            .unwrap()
            .action(move || *s.lock().unwrap() = format!("{:?}", c.get().unwrap())),
    );
    assert!(cell.set(barrier.clone()).is_ok());
    let r = tokio::time::timeout(Duration::from_secs(60), barrier.wait()).await;
    assert_eq!(r.expect("the action deadlocked"), Ok(0));
    assert!(seen.lock().unwrap().starts_with("Barrier"));
}

/// Runs `scenario` on a runtime of its own thread, failing (instead of hanging) if it does not
/// finish in 10 s: a deadlock inside a poll would block a test's own runtime for ever.
fn off_thread<T: Send + 'static>(scenario: impl Future<Output = T> + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _ = tx.send(rt.block_on(scenario));
    });
    rx.recv_timeout(Duration::from_secs(10))
        .expect("the scenario deadlocked or panicked")
}

/// A barrier whose action, `action(barrier)`, gets the barrier itself.
fn self_aware_barrier(
    parties: usize,
    action: impl Fn(&Barrier) + Send + Sync + 'static,
) -> Arc<Barrier> {
    Arc::new_cyclic(|me: &std::sync::Weak<Barrier>| {
        let me = me.clone();
        Barrier::new(parties).unwrap().action(move || {
            if let Some(b) = me.upgrade() {
                action(&b);
            }
        })
    })
}

#[test]
fn barrier_action_may_abort_its_own_barrier() {
    // Python's action would deadlock taking the barrier's lock again; here the abort ends the
    // cycle once the action returns, for every party.
    let causes = off_thread(async {
        let barrier = self_aware_barrier(3, Barrier::abort);
        let tasks = spawn_waits(&barrier, 2);
        until(|| barrier.n_waiting() == 2).await;
        let mine = barrier.wait().await.unwrap_err();
        let mut causes = vec![mine.cause()];
        for r in results(tasks).await {
            causes.push(r.unwrap_err().cause());
        }
        assert!(barrier.broken());
        assert_eq!(
            barrier.wait().await.unwrap_err().cause(),
            BreakCause::Aborted
        );
        causes
    });
    assert_eq!(causes, [BreakCause::Aborted; 3]);
}

#[test]
fn barrier_action_may_reset_its_own_barrier() {
    let (first, second) = off_thread(async {
        let once = AtomicUsize::new(0);
        let barrier = self_aware_barrier(2, move |b| {
            if once.fetch_add(1, Ordering::SeqCst) == 0 {
                b.reset();
            }
        });
        let other = spawn_waits(&barrier, 1);
        until(|| barrier.n_waiting() == 1).await;
        let mine = barrier.wait().await.map_err(|e| e.cause());
        let theirs = results(other).await.remove(0).map_err(|e| e.cause());
        assert!(!barrier.broken(), "reset, not broken");
        // The next cycle passes.
        let other = spawn_waits(&barrier, 1);
        until(|| barrier.n_waiting() == 1).await;
        let again = barrier.wait().await;
        let theirs_again = results(other).await.remove(0);
        ((mine, theirs), (again, theirs_again))
    });
    assert_eq!(first, (Err(BreakCause::Reset), Err(BreakCause::Reset)));
    assert_eq!(second, (Ok(1), Ok(0)));
}

/// The action polling `wait` on its own barrier panics (weft-sync's `Barrier` does the same):
/// the barrier breaks with the action's panic instead of the thread deadlocking on the lock the
/// action runs under (it hung, 3 of 3 runs in the audit's probes).
#[test]
fn barrier_wait_from_its_own_action_panics_instead_of_hanging() {
    let (mine, theirs, broken) = off_thread(async {
        let barrier = self_aware_barrier(2, |b| {
            let _ = futures_util::FutureExt::now_or_never(b.wait());
        });
        let other = spawn_waits(&barrier, 1);
        until(|| barrier.n_waiting() == 1).await;
        let mine = barrier.wait().await.unwrap_err();
        let theirs = results(other).await.remove(0).unwrap_err();
        (mine, theirs, barrier.broken())
    });
    assert_eq!(mine.cause(), BreakCause::ActionPanicked);
    assert!(mine.panic_message().unwrap().contains("own action"));
    assert_eq!(theirs.cause(), BreakCause::ActionPanicked);
    assert!(broken);
}

// ---------------------------------------------------------------------------------------------
// A waker that panics (user code inside a notify)

/// Polls `fut` once with a panicking waker, which must leave it pending, and leaks it: a waiter
/// registered first, whose task will never run again.
fn leak_pending_with_panicking_waker<F: Future>(fut: F) {
    let fut = Box::leak(Box::new(Box::pin(fut)));
    let waker = std::task::Waker::from(Arc::new(PanickingWaker));
    let mut cx = std::task::Context::from_waker(&waker);
    assert!(fut.as_mut().poll(&mut cx).is_pending());
}

/// `notify_one` and `notify_all` reach the task behind a waiter whose waker panics: the wake-up
/// that waiter cannot use goes on, every waiter is woken, and then the panic reaches the caller.
#[tokio::test]
async fn condition_notify_reaches_the_waiter_behind_a_panicking_waker() {
    for all in [false, true] {
        let cond = Arc::new(Condition::new(0u32));
        let c = Arc::clone(&cond);
        leak_pending_with_panicking_waker(async move {
            let _g = c.acquire().await.wait().await;
        });
        let c = Arc::clone(&cond);
        let b = tokio::spawn(async move { *c.acquire().await.wait().await });
        assert!(still_pending(&b).await, "b waits");
        let g = cond.acquire().await;
        let notified = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            if all {
                g.notify_all()
            } else {
                usize::from(g.notify_one())
            }
        }));
        assert!(notified.is_err(), "the waker's panic reaches the caller");
        drop(g);
        assert_eq!(finishes(b).await.unwrap(), 0, "all = {all}: b was woken");
    }
}

/// `set` wakes every waiter even when the first one's waker panics, then the panic reaches the
/// caller with the flag up (tokio's `Notify` dropped the rest of its batch of wakers unwoken).
#[tokio::test]
async fn event_set_wakes_everyone_past_a_panicking_waker() {
    let ev = Arc::new(Event::new());
    let e = Arc::clone(&ev);
    leak_pending_with_panicking_waker(async move { e.wait().await });
    let waiters: Vec<_> = (0..3)
        .map(|_| {
            let e = Arc::clone(&ev);
            tokio::spawn(async move { e.wait().await })
        })
        .collect();
    for w in &waiters {
        assert!(still_pending(w).await);
    }
    let set = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| ev.set()));
    assert!(set.is_err(), "the waker's panic reaches the caller");
    assert!(ev.is_set());
    for w in waiters {
        finishes(w).await.unwrap();
    }
}

/// An action panic whose payload panics when dropped breaks the barrier like any other: the
/// last party gets `ActionPanicked`, not the payload's panic.
#[tokio::test]
async fn barrier_action_panic_whose_payload_panics_when_dropped() {
    let barrier = Barrier::new(1)
        .unwrap()
        .action(|| std::panic::panic_any(common::PanicOnDrop));
    let err = finishes(barrier.wait()).await.unwrap_err();
    assert_eq!(err.cause(), BreakCause::ActionPanicked);
    assert_eq!(err.panic_message(), Some("Box<dyn Any>"));
}

/// A barrier trips for its last party, and releases every other waiter, even when one waiter's
/// waker panics: the last party gets its index, not the panic.
#[tokio::test]
async fn barrier_trips_past_a_panicking_waker() {
    let barrier = Arc::new(Barrier::new(3).unwrap());
    let b1 = Arc::clone(&barrier);
    leak_pending_with_panicking_waker(async move {
        let _ = b1.wait().await;
    });
    let b2 = Arc::clone(&barrier);
    let other = tokio::spawn(async move { b2.wait().await });
    until(|| barrier.n_waiting() == 2).await;
    let last = std::panic::AssertUnwindSafe(barrier.wait());
    let last = futures_util::FutureExt::catch_unwind(last).await;
    assert_eq!(last.expect("the last party gets its index").unwrap(), 2);
    assert!(finishes(other).await.unwrap().is_ok());
}

// ---------------------------------------------------------------------------------------------
// Zero timeouts only check

/// Runs `wait` as a task that starts first, then `act` once it has run: `wait`'s answer must
/// not count what `act` did.
async fn first_answers_false<F>(wait: F, act: impl FnOnce())
where
    F: Future<Output = bool> + Send + 'static,
{
    let waiter = tokio::spawn(wait);
    yield_now().await;
    act();
    assert!(!finishes(waiter).await.unwrap());
}

/// A zero timeout answers from the state at the call: what happens after it does not count.
/// Each waiter below is a task that starts first; the other side acts after it has run once.
/// They used to wait for the timer's next turn (a millisecond or two), so that a `set`, a
/// release, a notify or a second party arriving meanwhile made them succeed (every round in
/// the audit's probes), and the barrier passed a party that was not the last.
#[tokio::test(flavor = "current_thread")]
async fn zero_timeouts_only_check() {
    // Event: the flag was down at the call.
    let ev = Arc::new(Event::new());
    let e = Arc::clone(&ev);
    let wait = async move { e.wait_timeout(Duration::ZERO).await };
    first_answers_false(wait, || ev.set()).await;

    // BoundedSemaphore: no permit at the call.
    let sem = Arc::new(BoundedSemaphore::new(1));
    let held = sem.acquire().await;
    let s = Arc::clone(&sem);
    let wait = async move { s.acquire_timeout(Duration::ZERO).await.is_some() };
    first_answers_false(wait, || drop(held)).await;

    // Condition: the lock was held at the call; then a wait that is notified after it.
    let cond = Arc::new(Condition::new(0));
    let held = cond.acquire().await;
    let c = Arc::clone(&cond);
    let wait = async move { c.acquire_timeout(Duration::ZERO).await.is_some() };
    first_answers_false(wait, || drop(held)).await;
    let waiter = tokio::spawn({
        let cond = Arc::clone(&cond);
        async move {
            let guard = cond.acquire().await;
            let (guard, notified) = guard.wait_timeout(Duration::ZERO).await;
            let (_guard, ready) = guard.wait_for_timeout(|n| *n > 0, Duration::ZERO).await;
            (notified, ready)
        }
    });
    yield_now().await;
    let mut guard = cond.acquire().await; // after the waiter, which never let the lock go
    *guard += 1;
    guard.notify_all();
    drop(guard);
    assert_eq!(finishes(waiter).await.unwrap(), (false, false));

    // Barrier: the first of two parties, with a zero timeout, breaks it before the second
    // arrives; so does a barrier whose default timeout is zero.
    for (barrier, explicit) in [
        (Barrier::new(2).unwrap(), true),
        (Barrier::new(2).unwrap().timeout(Duration::ZERO), false),
    ] {
        let barrier = Arc::new(barrier);
        let first = tokio::spawn({
            let barrier = Arc::clone(&barrier);
            async move {
                if explicit {
                    barrier.wait_timeout(Duration::ZERO).await
                } else {
                    barrier.wait().await
                }
            }
        });
        yield_now().await;
        let second = barrier.wait().await;
        let first = finishes(first).await.unwrap();
        assert!(matches!(&first, Err(e) if e.is_timeout()), "{first:?}");
        assert!(second.is_err(), "{second:?}");
        assert!(barrier.broken());
    }
}

/// A loop that polls with zero timeouts lets the other tasks run (tokio's budget): here the
/// task that sets the event, or releases the permit, on the same thread. Answered
/// without waiting, the polls never yielded and the loop spun for ever.
#[tokio::test(flavor = "current_thread")]
async fn polling_with_zero_timeouts_lets_other_tasks_run() {
    /// Polls `ready` until it says yes, a million times at most.
    async fn polls_until<F: Future<Output = bool>>(mut ready: impl FnMut() -> F) -> bool {
        for _ in 0..1_000_000 {
            if ready().await {
                return true;
            }
        }
        false
    }
    let ev = Arc::new(Event::new());
    let e = Arc::clone(&ev);
    tokio::spawn(async move { e.set() });
    assert!(polls_until(|| ev.wait_timeout(Duration::ZERO)).await);

    let sem = Arc::new(BoundedSemaphore::new(1));
    sem.acquire_forget().await;
    let s = Arc::clone(&sem);
    tokio::spawn(async move { s.release().unwrap() });
    assert!(polls_until(|| async { sem.acquire_timeout(Duration::ZERO).await.is_some() }).await);
}

// ---------------------------------------------------------------------------------------------
// Timeouts at the end of the clock

/// A timeout that ends in the clock's last millisecond waits for ever, as `Duration::MAX`
/// does. Each wait used to panic at its first poll (tokio's timer rounds a deadline up to the
/// next millisecond, an addition that overflowed: 18 of 18 runs in the audit's probes).
#[tokio::test(flavor = "current_thread")]
async fn timeouts_at_the_end_of_the_clock_wait_for_ever() {
    // Event.
    let ev = Arc::new(Event::new());
    let waiter = tokio::spawn({
        let ev = Arc::clone(&ev);
        async move { ev.wait_timeout(common::timeout_at_the_clock_end()).await }
    });
    assert!(still_pending(&waiter).await);
    ev.set();
    assert!(finishes(waiter).await.unwrap());

    // Condition: acquire_timeout, wait_timeout and wait_for_timeout.
    let cond = Arc::new(Condition::new(0));
    let held = cond.acquire().await;
    let waiter = tokio::spawn({
        let cond = Arc::clone(&cond);
        async move {
            let guard = cond
                .acquire_timeout(common::timeout_at_the_clock_end())
                .await
                .unwrap();
            let (guard, notified) = guard.wait_timeout(common::timeout_at_the_clock_end()).await;
            let (_, done) = guard
                .wait_for_timeout(|n| *n == 2, common::timeout_at_the_clock_end())
                .await;
            (notified, done)
        }
    });
    assert!(still_pending(&waiter).await);
    drop(held);
    // Notifies the waiter once it waits (the lock free and one waiter on the list); the second
    // time, sets the value it waits for too.
    until(|| cond.try_acquire().is_some_and(|g| g.notify_all() == 1)).await;
    until(|| {
        cond.try_acquire().is_some_and(|mut g| {
            let woken = g.notify_all() == 1;
            if woken {
                *g = 2;
            }
            woken
        })
    })
    .await;
    assert_eq!(finishes(waiter).await.unwrap(), (true, true));

    // BoundedSemaphore.
    let sem = Arc::new(BoundedSemaphore::new(1));
    let permit = sem.try_acquire().unwrap();
    let waiter = tokio::spawn({
        let sem = Arc::clone(&sem);
        async move {
            sem.acquire_timeout(common::timeout_at_the_clock_end())
                .await
                .is_some()
        }
    });
    assert!(still_pending(&waiter).await);
    drop(permit);
    assert!(finishes(waiter).await.unwrap());

    // Barrier.
    let barrier = Arc::new(Barrier::new(2).unwrap());
    let waiter = tokio::spawn({
        let barrier = Arc::clone(&barrier);
        async move {
            barrier
                .wait_timeout(common::timeout_at_the_clock_end())
                .await
        }
    });
    assert!(still_pending(&waiter).await);
    assert_eq!(barrier.wait().await, Ok(1));
    assert_eq!(finishes(waiter).await.unwrap(), Ok(0));
}

// ---------------------------------------------------------------------------------------------
// A waker whose drop uses the primitive it waits on

/// How the waiter list lets go of the hooked waker.
#[derive(Clone, Copy, Debug)]
enum LetGo {
    /// A second poll with another waker replaces it.
    Replace,
    /// Dropping the wait future takes the waiter off the list.
    Remove,
}

/// Polls `wait` once with a waker whose drop runs `hook`, leaves the waiter list the last clone
/// of that waker, and lets the list drop it (`how`). The hook uses the same primitive (takes the
/// list's lock): it ran under that lock on the old code, which deadlocked (the audit's probe,
/// 3 of 3), so this runs under a watchdog. Returns whether the hook ran, and, after a
/// replacement, whether the next poll was ready (the hook notified the waiter itself).
fn drop_hooked_waker<F>(wait: F, hook: impl FnOnce() + Send + 'static, how: LetGo) -> (bool, bool)
where
    F: Future + Send + 'static,
{
    common::within_watchdog(
        move || {
            let ran = Arc::new(AtomicBool::new(false));
            let r = Arc::clone(&ran);
            let mut wait = Box::pin(wait);
            let hooked = common::hooked_waker(Some(Box::new(move || {
                hook();
                r.store(true, Ordering::SeqCst);
            })));
            let first = wait
                .as_mut()
                .poll(&mut std::task::Context::from_waker(&hooked));
            assert!(first.is_pending(), "the waiter registers");
            drop(hooked); // the list holds the last clone
            let other = common::hooked_waker(None);
            let mut cx = std::task::Context::from_waker(&other);
            let ready = match how {
                LetGo::Replace => {
                    assert!(wait.as_mut().poll(&mut cx).is_pending());
                    wait.as_mut().poll(&mut cx).is_ready()
                }
                LetGo::Remove => {
                    drop(wait);
                    false
                }
            };
            (ran.load(Ordering::SeqCst), ready)
        },
        "dropping the waker deadlocked on the primitive's lock",
    )
}

/// An event's waiter drops a replaced or removed waker after it has released the event's lock:
/// a waker whose drop sets the event does not deadlock.
#[test]
fn event_drops_a_waker_outside_its_lock() {
    for how in [LetGo::Replace, LetGo::Remove] {
        let ev = Arc::new(Event::new());
        let (e, e2) = (Arc::clone(&ev), Arc::clone(&ev));
        let wait = async move { e.wait().await };
        let (ran, ready) = drop_hooked_waker(wait, move || e2.set(), how);
        assert!(
            ran && ev.is_set(),
            "{how:?}: the waker's drop set the event"
        );
        assert_eq!(
            ready,
            matches!(how, LetGo::Replace),
            "{how:?}: the set reached the waiter"
        );
    }
}

/// The same for a condition's waiter, whose waker's drop notifies the condition.
#[test]
fn condition_drops_a_waker_outside_its_lock() {
    for how in [LetGo::Replace, LetGo::Remove] {
        let cond = Arc::new(Condition::new(()));
        let (c, c2) = (Arc::clone(&cond), Arc::clone(&cond));
        let wait = async move {
            let _guard = c.acquire().await.wait().await;
        };
        let notify = move || {
            let guard = c2.try_acquire().expect("the waiter released the lock");
            guard.notify_all();
        };
        let (ran, ready) = drop_hooked_waker(wait, notify, how);
        assert!(ran, "{how:?}: the waker's drop notified the condition");
        assert_eq!(
            ready,
            matches!(how, LetGo::Replace),
            "{how:?}: the notify reached the waiter"
        );
    }
}

/// The same for a barrier's waiter, whose waker's drop aborts the barrier.
#[test]
fn barrier_drops_a_waker_outside_its_lock() {
    for how in [LetGo::Replace, LetGo::Remove] {
        let barrier = Arc::new(Barrier::new(2).unwrap());
        let (b, b2) = (Arc::clone(&barrier), Arc::clone(&barrier));
        let wait = async move {
            let _ = b.wait().await;
        };
        let (ran, ready) = drop_hooked_waker(wait, move || b2.abort(), how);
        assert!(
            ran && barrier.broken(),
            "{how:?}: the waker's drop aborted the barrier"
        );
        assert_eq!(
            ready,
            matches!(how, LetGo::Replace),
            "{how:?}: the abort reached the waiter"
        );
        assert_eq!(barrier.n_waiting(), 0);
    }
}
