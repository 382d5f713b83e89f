//! Behaviour tests for [`weft_sync::RLock`] and [`weft_sync::RLockGuard`]: re-entry several levels
//! deep, exclusion of other threads until the holder's last guard drops,
//! `is_owned_by_current_thread`, `locked`, `try_acquire` and `acquire_timeout`.
//!
//! Re-expresses the cases of CPython's `Lib/test/lock_tests.py` `BaseLockTests` and `RLockTests`
//! that apply: `test_acquire_release`, `test_try_acquire`, `test_try_acquire_contended`,
//! `test_acquire_contended`, `test_with`, `test_timeout`, `test_reacquire` and `test__is_owned`.
//! `RLockTests.test_release_unacquired`, `test_release_save_unacquired` and `test_different_thread`
//! (releasing a lock this thread does not hold raises `RuntimeError`) are N/A by construction:
//! release is dropping a guard, and a guard is not `Send` (checked in `tests/auto_traits.rs`).
//!
//! No test sleeps to synchronize: threads report over channels, a test that waits for another
//! thread gives up after `LONG`, and a check that something has *not* happened watches for
//! `BRIEF`.

use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{self};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use weft_sync::RLock;

mod common;
use common::*;

/// Whether another thread could take `lock` right now.
fn other_thread_can_acquire<T: Send + 'static>(lock: &Arc<RLock<T>>) -> bool {
    let lock = Arc::clone(lock);
    recv(&spawn(move || lock.try_acquire().is_some()))
}

#[test]
fn reacquire_and_release_in_order() {
    // RLockTests.test_reacquire
    let lock = RLock::new(());
    let a = lock.acquire();
    let b = lock.acquire();
    drop(b);
    let c = lock.acquire();
    c.release();
    assert!(lock.locked(), "still held once");
    a.release();
    assert!(!lock.locked());
}

#[test]
fn reentry_deep_recursion() {
    fn descend(lock: &RLock<RefCell<Vec<u32>>>, depth: u32) {
        let guard = lock.acquire();
        assert!(lock.is_owned_by_current_thread());
        guard.borrow_mut().push(depth);
        if depth < 5 {
            descend(lock, depth + 1);
        }
        // Still held after the deeper guards dropped.
        assert!(lock.locked());
    }
    let lock = RLock::new(RefCell::new(Vec::new()));
    descend(&lock, 0);
    assert!(!lock.locked());
    assert_eq!(*lock.acquire().borrow(), [0, 1, 2, 3, 4, 5]);
}

#[test]
fn try_acquire_reenters_but_fails_from_other_thread() {
    // test_try_acquire / test_try_acquire_contended
    let lock = Arc::new(RLock::new(()));
    assert!(other_thread_can_acquire(&lock));
    let outer = lock.try_acquire().expect("free");
    let inner = lock.try_acquire().expect("re-entry by the holder");
    assert!(!other_thread_can_acquire(&lock));
    drop(inner);
    assert!(!other_thread_can_acquire(&lock));
    drop(outer);
    assert!(other_thread_can_acquire(&lock));
}

#[test]
fn other_thread_blocked_until_last_guard_drops() {
    let lock = Arc::new(RLock::new(Cell::new(0)));
    let g1 = lock.acquire();
    let g2 = lock.acquire();
    let g3 = lock.acquire();
    g3.set(3);
    let (started_tx, started_rx) = mpsc::channel();
    let l = Arc::clone(&lock);
    let done = spawn(move || {
        started_tx.send(()).unwrap();
        let guard = l.acquire();
        // Re-entry in the new owner too.
        let again = l.acquire();
        guard.get() + again.get()
    });
    recv(&started_rx);
    assert_pending(&done);
    drop(g3);
    assert_pending(&done);
    drop(g2);
    assert_pending(&done);
    drop(g1);
    assert_eq!(recv(&done), 6);
    assert!(!lock.locked());
}

#[test]
fn acquire_contended_all_get_through() {
    // test_acquire_contended
    const N: usize = 5;
    let lock = Arc::new(RLock::new(Cell::new(0usize)));
    let held = lock.acquire();
    let (started_tx, started_rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel();
    for _ in 0..N {
        let (lock, started_tx, done_tx) = (Arc::clone(&lock), started_tx.clone(), done_tx.clone());
        thread::spawn(move || {
            started_tx.send(()).unwrap();
            let guard = lock.acquire();
            guard.set(guard.get() + 1);
            drop(guard);
            done_tx.send(()).unwrap();
        });
    }
    for _ in 0..N {
        recv(&started_rx);
    }
    assert_pending(&done_rx);
    drop(held);
    for _ in 0..N {
        recv(&done_rx);
    }
    assert_eq!(lock.acquire().get(), N);
}

#[test]
fn is_owned_by_current_thread() {
    // RLockTests.test__is_owned
    let lock = Arc::new(RLock::new(()));
    assert!(!lock.is_owned_by_current_thread());
    let a = lock.acquire();
    assert!(lock.is_owned_by_current_thread());
    let b = lock.acquire();
    assert!(lock.is_owned_by_current_thread());
    let l = Arc::clone(&lock);
    let (owned, locked) = recv(&spawn(move || (l.is_owned_by_current_thread(), l.locked())));
    assert!(!owned, "another thread must not own it");
    assert!(locked, "but sees it locked");
    drop(b);
    assert!(lock.is_owned_by_current_thread());
    drop(a);
    assert!(!lock.is_owned_by_current_thread());
    assert!(!lock.locked());
}

#[test]
fn acquire_timeout_from_other_thread_times_out_while_held() {
    // test_timeout
    let lock = Arc::new(RLock::new(()));
    let _guard = lock.acquire();
    let l = Arc::clone(&lock);
    let (acquired, waited) = recv(&spawn(move || {
        let start = Instant::now();
        (l.acquire_timeout(SHORT).is_some(), start.elapsed())
    }));
    assert!(!acquired);
    assert!(waited + SLACK >= SHORT, "returned early: {waited:?}");
    assert!(waited < Duration::from_secs(5), "returned late: {waited:?}");
    let l = Arc::clone(&lock);
    assert!(!recv(&spawn(move || l
        .acquire_timeout(Duration::ZERO)
        .is_some())));
}

#[test]
fn acquire_timeout_zero_and_max_reenter_at_once() {
    let lock = RLock::new(());
    let start = Instant::now();
    let a = lock
        .acquire_timeout(Duration::MAX)
        .expect("free lock, infinite timeout");
    let b = lock
        .acquire_timeout(Duration::ZERO)
        .expect("re-entry, zero timeout");
    let c = lock
        .acquire_timeout(Duration::MAX)
        .expect("re-entry, infinite timeout");
    assert!(start.elapsed() < Duration::from_secs(5));
    drop((a, b, c));
    assert!(!lock.locked());
}

#[test]
fn acquire_timeout_max_waits_for_other_thread() {
    let lock = Arc::new(RLock::new(()));
    let outer = lock.acquire();
    let inner = lock.acquire();
    let (started_tx, started_rx) = mpsc::channel();
    let l = Arc::clone(&lock);
    let done = spawn(move || {
        started_tx.send(()).unwrap();
        l.acquire_timeout(Duration::MAX).is_some()
    });
    recv(&started_rx);
    assert_pending(&done);
    drop(inner);
    assert_pending(&done);
    drop(outer);
    assert!(recv(&done));
}

#[test]
fn panic_while_held_releases_every_level() {
    // test_with(err)
    let lock = Arc::new(RLock::new(()));
    let result = catch_unwind(AssertUnwindSafe(|| {
        let _a = lock.acquire();
        let _b = lock.acquire();
        panic!("inside the lock");
    }));
    assert!(result.is_err());
    assert!(!lock.locked());
    assert!(other_thread_can_acquire(&lock));
}

#[test]
fn debug_shows_data_or_locked() {
    // test_repr: a holder may re-enter, so Debug from the holder shows the data; from another
    // thread it shows `<locked>`.
    let lock = Arc::new(RLock::new(5));
    assert!(format!("{lock:?}").contains('5'));
    let guard = lock.acquire();
    assert_eq!(format!("{guard:?}"), "5");
    let l = Arc::clone(&lock);
    assert!(recv(&spawn(move || format!("{l:?}"))).contains("<locked>"));
}

#[test]
fn get_mut_into_inner_from_default() {
    let mut lock = RLock::from(1);
    *lock.get_mut() = 4;
    assert_eq!(*lock.acquire(), 4);
    assert_eq!(lock.into_inner(), 4);
    let default: RLock<u8> = RLock::default();
    assert_eq!(default.into_inner(), 0);
}
