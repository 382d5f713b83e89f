//! Behaviour tests for [`weft_sync::Condition`] and [`weft_sync::ConditionGuard`]: the built-in
//! lock, `wait` releasing the lock while waiting and holding it again on return, `wait_timeout`,
//! `wait_deadline`, `wait_for`, `wait_for_timeout` (returning the predicate's last value),
//! `notify(n)` / `notify_one` / `notify_all` and the counts they return, `Duration::MAX`, and a
//! panic in a `wait_for` predicate.
//!
//! Re-expresses the cases of CPython's `Lib/test/lock_tests.py` `ConditionTests` that apply:
//! `test_acquire` (with a plain lock: weft's condition lock is not reentrant), `test_notify`
//! (`_check_notify`, run twice), `test_timeout`, `test_waitfor` and `test_waitfor_timeout`.
//! `test_unacquired_wait` / `test_unacquired_notify` (`RuntimeError`) are N/A by construction:
//! `wait` is a method of the guard, and `notify` is allowed without the lock.
//!
//! Knowing that a waiter is parked: a waiter reports over a channel while holding the lock, then
//! calls `wait`, which releases the lock atomically. So once the test has received the report and
//! then acquired the lock itself, that waiter is waiting. No test sleeps to synchronize; a test
//! that waits for another thread gives up after `LONG`, and a check that something has *not*
//! happened watches for `BRIEF`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use weft_sync::Condition;

mod common;
use common::*;

/// Whether another thread could take the condition's lock right now.
fn other_thread_can_acquire<T: Send + 'static>(cond: &Arc<Condition<T>>) -> bool {
    let cond = Arc::clone(cond);
    recv(&spawn(move || cond.try_acquire().is_some()))
}

/// Acquires the lock, failing the test instead of hanging if it stays held.
fn lock<T>(cond: &Condition<T>) -> weft_sync::ConditionGuard<'_, T> {
    cond.acquire_timeout(LONG)
        .expect("the condition's lock stayed held")
}

#[test]
fn acquire_locks_and_release_unlocks() {
    // ConditionTests.test_acquire, with a plain (non-reentrant) lock.
    let cond = Arc::new(Condition::new(0));
    let mut guard = cond.acquire();
    *guard += 1;
    assert!(cond.locked());
    assert!(cond.try_acquire().is_none(), "not reentrant");
    assert!(!other_thread_can_acquire(&cond));
    guard.release();
    assert!(!cond.locked());
    assert!(other_thread_can_acquire(&cond));
    {
        let _with = cond.acquire_timeout(Duration::ZERO).expect("free");
        assert!(!other_thread_can_acquire(&cond));
    }
    drop(
        cond.acquire_timeout(Duration::MAX)
            .expect("free, infinite timeout"),
    );
    assert_eq!(*cond.acquire(), 1);
}

#[test]
fn wait_releases_lock_and_reacquires_before_returning() {
    let cond = Arc::new(Condition::new(false));
    let (parked_tx, parked_rx) = mpsc::channel();
    let (probed_tx, probed_rx) = mpsc::channel::<()>();
    let (woke_tx, woke_rx) = mpsc::channel();
    let c = Arc::clone(&cond);
    let waiter = spawn(move || {
        let mut guard = c.acquire();
        parked_tx.send(()).unwrap();
        while !*guard {
            guard.wait();
        }
        // Back from wait: the lock must be held again. Let the test probe it while we hold it.
        woke_tx.send(()).unwrap();
        probed_rx.recv_timeout(LONG).unwrap();
        *guard = false;
    });
    recv(&parked_rx);
    // The waiter is inside wait(), so the lock is free for us.
    {
        let mut guard = lock(&cond);
        *guard = true;
        assert_eq!(cond.notify_all(), 1);
    }
    recv(&woke_rx);
    assert!(cond.locked());
    assert!(!other_thread_can_acquire(&cond));
    probed_tx.send(()).unwrap();
    recv(&waiter);
    assert!(!*lock(&cond), "the waiter wrote under the lock it got back");
}

#[test]
fn wait_timeout_false_on_timeout_and_lock_held_again() {
    let cond = Arc::new(Condition::new(0));
    let mut guard = cond.acquire();
    let start = Instant::now();
    assert!(!guard.wait_timeout(SHORT));
    let waited = start.elapsed();
    assert!(waited + SLACK >= SHORT, "returned early: {waited:?}");
    assert!(waited < Duration::from_secs(5), "returned late: {waited:?}");
    assert!(
        !other_thread_can_acquire(&cond),
        "lock must be held after a timed-out wait"
    );
    *guard += 1;
    drop(guard);
    assert_eq!(*cond.acquire(), 1);
}

#[test]
fn wait_timeout_many_threads_all_time_out() {
    // ConditionTests.test_timeout: N threads, nobody notifies, all return false after about the
    // timeout.
    const N: usize = 5;
    let cond = Arc::new(Condition::new(0usize));
    let done: Vec<_> = (0..N)
        .map(|_| {
            let cond = Arc::clone(&cond);
            spawn(move || {
                let mut guard = cond.acquire();
                let start = Instant::now();
                let notified = guard.wait_timeout(SHORT);
                let waited = start.elapsed();
                *guard += 1;
                (notified, waited)
            })
        })
        .collect();
    for rx in &done {
        let (notified, waited) = recv(rx);
        assert!(!notified);
        assert!(waited + SLACK >= SHORT, "returned early: {waited:?}");
        assert!(waited < Duration::from_secs(5), "returned late: {waited:?}");
    }
    assert_eq!(*cond.acquire(), N);
}

#[test]
fn wait_timeout_true_when_notified() {
    let cond = Arc::new(Condition::new(()));
    let (parked_tx, parked_rx) = mpsc::channel();
    let c = Arc::clone(&cond);
    let waiter = spawn(move || {
        let mut guard = c.acquire();
        parked_tx.send(()).unwrap();
        let start = Instant::now();
        (guard.wait_timeout(LONG), start.elapsed())
    });
    recv(&parked_rx);
    let guard = lock(&cond);
    assert!(cond.notify_one(), "one thread was waiting");
    drop(guard);
    let (notified, waited) = recv(&waiter);
    assert!(notified);
    assert!(waited < LONG);
}

#[test]
fn wait_timeout_max_true_when_notified() {
    let cond = Arc::new(Condition::new(0));
    let (parked_tx, parked_rx) = mpsc::channel();
    let c = Arc::clone(&cond);
    let waiter = spawn(move || {
        let mut guard = c.acquire();
        parked_tx.send(()).unwrap();
        let notified = guard.wait_timeout(Duration::MAX);
        (notified, *guard)
    });
    recv(&parked_rx);
    let mut guard = lock(&cond);
    *guard = 9;
    assert_eq!(cond.notify(1), 1);
    drop(guard);
    assert_eq!(recv(&waiter), (true, 9));
}

#[test]
fn wait_deadline_in_the_past_times_out() {
    let cond = Condition::new(());
    let mut guard = cond.acquire();
    assert!(!guard.wait_deadline(Instant::now()));
    assert!(!guard.wait_timeout(Duration::ZERO));
    assert!(cond.locked());
}

/// A waiter of `check_notify`: waits twice, reporting before each wait (with the lock held) and
/// after each wake.
fn notify_waiter(cond: Arc<Condition<u32>>, parked: Sender<()>, woke: Sender<(u32, u32)>) {
    for round in 1..=2 {
        let mut guard = cond.acquire();
        parked.send(()).unwrap();
        guard.wait();
        // The notifier bumps the phase under the lock before releasing it, as in CPython.
        woke.send((round, *guard)).unwrap();
    }
}

/// Waits until `n` more waiters have reported, then takes the lock: all of them are now waiting.
fn wait_parked<'a>(
    cond: &'a Condition<u32>,
    parked: &Receiver<()>,
    n: usize,
) -> weft_sync::ConditionGuard<'a, u32> {
    for _ in 0..n {
        recv(parked);
    }
    lock(cond)
}

/// ConditionTests._check_notify: notify(3) of 5 waiters, then notify(5) of 2 first-time and 3
/// second-time waiters, then notify_all of the last 2; each wakes exactly that many.
fn check_notify(cond: &Arc<Condition<u32>>) {
    const N: usize = 5;
    let (parked_tx, parked_rx) = mpsc::channel();
    let (woke_tx, woke_rx) = mpsc::channel();
    let done: Vec<_> = (0..N)
        .map(|_| {
            let (cond, parked, woke) = (Arc::clone(cond), parked_tx.clone(), woke_tx.clone());
            spawn(move || notify_waiter(cond, parked, woke))
        })
        .collect();

    // Phase 1: all five in their first wait; wake three.
    let mut guard = wait_parked(cond, &parked_rx, N);
    assert_pending(&woke_rx);
    *guard = 1;
    assert_eq!(cond.notify(3), 3);
    drop(guard);
    let mut woke: Vec<_> = (0..3).map(|_| recv(&woke_rx)).collect();
    assert_eq!(woke, [(1, 1); 3]);
    assert_pending(&woke_rx);

    // Phase 2: the three woken ones are back in their second wait; five waiting in all.
    let mut guard = wait_parked(cond, &parked_rx, 3);
    *guard = 2;
    assert_eq!(cond.notify(5), 5);
    drop(guard);
    woke = (0..5).map(|_| recv(&woke_rx)).collect();
    woke.sort_unstable();
    assert_eq!(woke, [(1, 2), (1, 2), (2, 2), (2, 2), (2, 2)]);

    // Phase 3: the last two, in their second wait.
    let mut guard = wait_parked(cond, &parked_rx, 2);
    *guard = 3;
    assert_eq!(cond.notify_all(), 2);
    drop(guard);
    woke = (0..2).map(|_| recv(&woke_rx)).collect();
    assert_eq!(woke, [(2, 3); 2]);
    for rx in &done {
        recv(rx);
    }
    assert_eq!(cond.notify_all(), 0, "nobody left waiting");
}

#[test]
fn notify_wakes_exactly_n_in_phases() {
    // ConditionTests.test_notify: twice, to check the internal state is still fine.
    let cond = Arc::new(Condition::new(0));
    check_notify(&cond);
    *cond.acquire() = 0;
    check_notify(&cond);
}

#[test]
fn notify_n_returns_how_many_it_woke() {
    const N: usize = 5;
    let cond = Arc::new(Condition::new(0usize));
    let (parked_tx, parked_rx) = mpsc::channel();
    let (woke_tx, woke_rx) = mpsc::channel();
    for _ in 0..N {
        let (cond, parked_tx, woke_tx) = (Arc::clone(&cond), parked_tx.clone(), woke_tx.clone());
        thread::spawn(move || {
            let mut guard = cond.acquire();
            *guard += 1;
            parked_tx.send(()).unwrap();
            guard.wait();
            woke_tx.send(()).unwrap();
        });
    }
    for _ in 0..N {
        recv(&parked_rx);
    }
    let mut guard = lock(&cond);
    // Every waiter counted itself under the lock and released it only by waiting.
    assert!(guard.wait_for_timeout(|n| *n == N, LONG));
    assert_eq!(cond.notify(2), 2);
    drop(guard);
    recv(&woke_rx);
    recv(&woke_rx);
    assert_pending(&woke_rx);
    // Without the lock held, too.
    assert_eq!(cond.notify_all(), 3);
    for _ in 0..3 {
        recv(&woke_rx);
    }
    assert_eq!(cond.notify(4), 0);
    assert!(!cond.notify_one());
}

/// Called without the lock, `notify(2)` with one waiter wakes it once: the waiter, woken by the
/// first wake-up, can wait again before the second, which must not wake it again (the count
/// would say two threads woke). Thousands of rounds, each a chance for that race; every wake is
/// then accounted for by exactly one notify's count.
#[test]
fn notify_without_the_lock_wakes_a_waiter_once_per_call() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let cond = Arc::new(Condition::new(false));
    let wakes = Arc::new(AtomicUsize::new(0));
    let (parked_tx, parked_rx) = mpsc::channel();
    let waiter = {
        let (cond, wakes) = (Arc::clone(&cond), Arc::clone(&wakes));
        spawn(move || {
            let mut guard = cond.acquire();
            parked_tx.send(()).unwrap();
            while !*guard {
                guard.wait();
                wakes.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    recv(&parked_rx);
    let started = Instant::now();
    let (mut calls, mut counted) = (0u64, 0usize);
    while wakes.load(Ordering::SeqCst) < 20_000 && started.elapsed() < LONG {
        let woke = cond.notify(2);
        assert!(
            woke <= 1,
            "notify(2) said {woke} threads woke, with one waiter"
        );
        counted += woke;
        calls += 1;
    }
    *lock(&cond) = true;
    counted += cond.notify_all();
    recv(&waiter);
    assert_eq!(
        wakes.load(Ordering::SeqCst),
        counted,
        "every wake is counted by the notify that made it ({calls} calls)"
    );
}

/// A thread woken by an earlier notify, not yet back from its wait, is not counted by the next
/// notify: B waits once and is woken by `notify(1)`; `notify(2)` right after must wake A (the
/// only thread still waiting) once, though A, woken, may wait again before the second wake-up.
#[test]
fn notify_without_the_lock_does_not_count_a_thread_already_woken() {
    use std::sync::atomic::{AtomicBool, Ordering};
    // Two new threads a round: Miri, which checks each for undefined behaviour, runs a few.
    const ROUNDS: usize = if cfg!(miri) { 20 } else { 3000 };
    for round in 0..ROUNDS {
        let cond = Arc::new(Condition::new(()));
        let stop = Arc::new(AtomicBool::new(false));
        let (parked_tx, parked_rx) = mpsc::channel();
        let b = {
            let (cond, parked) = (Arc::clone(&cond), parked_tx.clone());
            spawn(move || {
                let mut g = cond.acquire();
                parked.send(()).unwrap();
                g.wait();
            })
        };
        recv(&parked_rx);
        drop(lock(&cond)); // B waits
        let a = {
            let (cond, stop) = (Arc::clone(&cond), Arc::clone(&stop));
            spawn(move || {
                let mut g = cond.acquire();
                parked_tx.send(()).unwrap();
                while !stop.load(Ordering::SeqCst) {
                    g.wait();
                }
            })
        };
        recv(&parked_rx);
        drop(lock(&cond)); // A waits, behind B
        assert_eq!(cond.notify(1), 1); // B
        let woke = cond.notify(2);
        assert!(
            woke <= 1,
            "round {round}: notify(2) woke {woke}, with A the only waiter"
        );
        recv(&b);
        let g = lock(&cond);
        stop.store(true, Ordering::SeqCst);
        cond.notify_all();
        drop(g);
        recv(&a);
    }
}

#[test]
fn notify_with_nobody_waiting_returns_zero() {
    let cond = Condition::new(());
    assert_eq!(cond.notify(3), 0);
    assert_eq!(cond.notify(0), 0);
    assert!(!cond.notify_one());
    assert_eq!(cond.notify_all(), 0);
}

#[test]
fn notify_zero_wakes_nobody() {
    let cond = Arc::new(Condition::new(()));
    let (parked_tx, parked_rx) = mpsc::channel();
    let c = Arc::clone(&cond);
    let waiter = spawn(move || {
        let mut guard = c.acquire();
        parked_tx.send(()).unwrap();
        guard.wait_timeout(LONG)
    });
    recv(&parked_rx);
    let guard = lock(&cond);
    assert_eq!(cond.notify(0), 0);
    drop(guard);
    assert_pending(&waiter);
    assert_eq!(cond.notify(1), 1);
    assert!(recv(&waiter));
}

#[test]
fn wait_for_returns_when_predicate_holds() {
    // ConditionTests.test_waitfor: the state goes 1, 2, 3, 4 with a notify each time.
    let cond = Arc::new(Condition::new(0));
    let c = Arc::clone(&cond);
    let waiter = spawn(move || {
        let mut guard = c.acquire();
        guard.wait_for(|state| *state == 4);
        *guard
    });
    for _ in 0..4 {
        *lock(&cond) += 1;
        cond.notify_one();
    }
    assert_eq!(recv(&waiter), 4);
}

#[test]
fn wait_for_checks_predicate_first() {
    let cond = Condition::new(3);
    let mut guard = cond.acquire();
    let mut calls = 0;
    guard.wait_for(|n| {
        calls += 1;
        *n == 3
    });
    assert_eq!(calls, 1, "a true predicate must not wait");
}

/// A panic in a `wait_for` predicate, run after a notify woke the waiter, unwinds with the lock
/// released and nothing poisoned (the crate's "Poisoning" rule; Python's exception leaves
/// `with cond:` the same way). The thread that caught it takes the condition again and waits:
/// a `notify(5)` wakes it once and counts it once, so the notify that woke the panicking wait
/// left the count of waiting threads right.
#[test]
fn a_panicking_wait_for_predicate_releases_the_lock_and_poisons_nothing() {
    let cond = Arc::new(Condition::new(0));
    let (parked_tx, parked_rx) = mpsc::channel();
    let c = Arc::clone(&cond);
    let waiter = spawn(move || {
        let unwound = catch_unwind(AssertUnwindSafe(|| {
            let mut guard = c.acquire();
            parked_tx.send(()).unwrap();
            guard.wait_for(|n| {
                assert_ne!(*n, 1, "the predicate panics once it sees 1");
                false
            });
        }));
        assert!(unwound.is_err());
        let mut guard = lock(&c);
        *guard = 2;
        parked_tx.send(()).unwrap();
        guard.wait_timeout(LONG)
    });
    recv(&parked_rx);
    *lock(&cond) = 1;
    assert_eq!(cond.notify(1), 1);
    recv(&parked_rx);
    // Taken after the report: the waiter is waiting again.
    let guard = lock(&cond);
    assert_eq!(*guard, 2);
    assert_eq!(cond.notify(5), 1);
    drop(guard);
    assert!(recv(&waiter), "woken by the notify, not timed out");
    assert!(!cond.locked());
}

#[test]
#[cfg_attr(miri, ignore = "times real waits, which Miri runs far more slowly")]
fn wait_for_timeout_false_on_timeout() {
    // ConditionTests.test_waitfor_timeout: the state only reaches 3, never 4.
    let cond = Arc::new(Condition::new(0));
    let (parked_tx, parked_rx) = mpsc::channel();
    let c = Arc::clone(&cond);
    let waiter = spawn(move || {
        let mut guard = c.acquire();
        parked_tx.send(()).unwrap();
        let start = Instant::now();
        let met = guard.wait_for_timeout(|state| *state == 4, SHORT);
        (met, start.elapsed(), *guard)
    });
    recv(&parked_rx);
    for _ in 0..3 {
        *lock(&cond) += 1;
        cond.notify_one();
    }
    let (met, waited, state) = recv(&waiter);
    assert!(!met);
    assert_eq!(state, 3);
    assert!(waited + SLACK >= SHORT, "returned early: {waited:?}");
    assert!(waited < Duration::from_secs(5), "returned late: {waited:?}");
}

#[test]
fn wait_for_timeout_true_when_met() {
    let cond = Arc::new(Condition::new(0));
    let (parked_tx, parked_rx) = mpsc::channel();
    let c = Arc::clone(&cond);
    let waiter = spawn(move || {
        let mut guard = c.acquire();
        parked_tx.send(()).unwrap();
        let met = guard.wait_for_timeout(|state| *state == 2, LONG);
        (met, *guard)
    });
    recv(&parked_rx);
    for _ in 0..2 {
        *lock(&cond) += 1;
        cond.notify_all();
    }
    assert_eq!(recv(&waiter), (true, 2));
}

#[test]
fn wait_for_timeout_zero_checks_once() {
    let cond = Condition::new(0);
    let mut guard = cond.acquire();
    assert!(!guard.wait_for_timeout(|n| *n > 0, Duration::ZERO));
    *guard = 1;
    assert!(guard.wait_for_timeout(|n| *n > 0, Duration::ZERO));
}

#[test]
fn wait_for_timeout_returns_predicates_last_value() {
    // As in CPython, after the timeout the predicate is evaluated once more and that value is
    // returned: a predicate that turns true on its second call gives true, although nobody
    // notified.
    let cond = Condition::new(());
    let mut guard = cond.acquire();
    let mut calls = 0;
    let met = guard.wait_for_timeout(
        |_| {
            calls += 1;
            calls >= 2
        },
        Duration::from_millis(20),
    );
    assert!(met);
    assert!(calls >= 2);
}

#[test]
fn wait_for_timeout_max_waits_until_met() {
    let cond = Arc::new(Condition::new(false));
    let (parked_tx, parked_rx) = mpsc::channel();
    let c = Arc::clone(&cond);
    let waiter = spawn(move || {
        let mut guard = c.acquire();
        parked_tx.send(()).unwrap();
        guard.wait_for_timeout(|ready| *ready, Duration::MAX)
    });
    recv(&parked_rx);
    // Not yet: a notify without the predicate holding must not end the wait.
    {
        let _guard = lock(&cond);
        cond.notify_all();
    }
    assert_pending(&waiter);
    *lock(&cond) = true;
    cond.notify_all();
    assert!(recv(&waiter));
}

#[test]
fn debug_get_mut_into_inner() {
    let mut cond = Condition::from(vec![1]);
    cond.get_mut().push(2);
    assert!(format!("{cond:?}").contains("[1, 2]"));
    let guard = cond.acquire();
    assert_eq!(format!("{guard:?}"), "[1, 2]");
    assert!(format!("{cond:?}").contains("<locked>"));
    drop(guard);
    assert_eq!(cond.into_inner(), [1, 2]);
    let default: Condition<i8> = Condition::default();
    assert_eq!(default.into_inner(), 0);
}

/// The field docs' claim: with its one-byte lock and condition variable and a 32-bit waiter
/// count, a `Condition` of a small value is one word (the deadlock detector adds its class id).
#[cfg(not(feature = "deadlock-detection"))]
#[test]
fn a_condition_of_a_small_value_is_one_word() {
    assert_eq!(
        std::mem::size_of::<weft_sync::Condition<u8>>(),
        std::mem::size_of::<usize>()
    );
}
