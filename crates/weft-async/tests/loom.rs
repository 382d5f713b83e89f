//! loom models of the wait logic weft-async carries itself: the waiter list behind
//! [`Condition`], [`Barrier`] and [`Event`] (registration before the lock is released,
//! `notify(n)`, a dropped waiter's notification passed on, a barrier's trip/abort/leave, an
//! event's flag against its list, also across a clear), and the releasable count of
//! [`BoundedSemaphore`].
//!
//! Run with `RUSTFLAGS="--cfg weft_loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p weft-async --release
//! --test loom`. Under `weft_loom` the crate's waiter-list mutex and atomics are loom's; the
//! condition's data lock stays tokio's `Mutex` (outside loom's view, it only orders the tasks,
//! and its wakers run outside its internal lock). Tasks run in `loom::future::block_on`, so a
//! lost wake-up is a thread that never unparks, which loom reports as a deadlock.
#![cfg(weft_loom)]

use std::pin::pin;
use std::task::Poll;

use futures_util::poll;
use loom::future::block_on;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;
use weft_async::{Barrier, BoundedSemaphore, BreakCause, Condition, Event};

/// A notify made under the lock after the flag is set always reaches a waiter that saw the flag
/// down: the waiter registers before it releases the lock.
#[test]
fn condition_notify_one_is_never_lost() {
    loom::model(|| {
        let cond = Arc::new(Condition::new(false));
        let waiter = {
            let cond = Arc::clone(&cond);
            thread::spawn(move || {
                block_on(async {
                    let guard = cond.acquire().await.wait_for(|ready| *ready).await;
                    assert!(*guard);
                })
            })
        };
        block_on(async {
            let mut guard = cond.acquire().await;
            *guard = true;
            guard.notify_one();
        });
        waiter.join().unwrap();
    });
}

/// `notify(1)` may pick a waiter that is dropped right after: its notification goes on to the
/// other waiter, which must finish. Without the hand-over loom finds the interleaving where the
/// second waiter sleeps forever.
#[test]
fn condition_dropped_waiter_passes_the_notification_on() {
    loom::model(|| {
        let cond = Arc::new(Condition::new(false));
        let dropped = {
            let cond = Arc::clone(&cond);
            thread::spawn(move || {
                block_on(async {
                    let guard = cond.acquire().await;
                    if *guard {
                        return;
                    }
                    let mut wait = pin!(guard.wait());
                    // Registered; then dropped. If the notification and the lock both came within
                    // this one poll, the wait returned: a waiter that does not act on it must
                    // hand it on itself, as in Python.
                    if let Poll::Ready(guard) = poll!(wait.as_mut()) {
                        guard.notify_one();
                    }
                })
            })
        };
        let patient = {
            let cond = Arc::clone(&cond);
            thread::spawn(move || {
                block_on(async {
                    drop(cond.acquire().await.wait_for(|ready| *ready).await);
                })
            })
        };
        block_on(async {
            let mut guard = cond.acquire().await;
            *guard = true;
            guard.notify(1);
        });
        dropped.join().unwrap();
        patient.join().unwrap();
    });
}

/// Two notifications for two waiters: both return, and `notify` counts exactly the waiters it
/// woke.
#[test]
fn condition_notify_two_counts() {
    loom::model(|| {
        let cond = Arc::new(Condition::new(0usize));
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let cond = Arc::clone(&cond);
                thread::spawn(move || {
                    block_on(async {
                        let mut guard = cond.acquire().await.wait_for(|n| *n > 0).await;
                        *guard -= 1;
                    })
                })
            })
            .collect();
        block_on(async {
            let mut guard = cond.acquire().await;
            *guard = 2;
            let woken = guard.notify(2);
            assert!(woken <= 2);
        });
        for w in waiters {
            w.join().unwrap();
        }
        assert_eq!(block_on(async { *cond.acquire().await }), 0);
    });
}

/// A `set` from another thread always reaches a waiter: it either sees the flag when it checks
/// under the list's lock, or is on the list when `set` empties it. A second waiter registers and
/// is dropped meanwhile, which must not take the wake-up from the first.
#[test]
fn event_set_is_never_missed() {
    loom::model(|| {
        let ev = Arc::new(Event::new());
        let waiter = {
            let ev = Arc::clone(&ev);
            thread::spawn(move || block_on(ev.wait()))
        };
        let dropped = {
            let ev = Arc::clone(&ev);
            thread::spawn(move || {
                block_on(async {
                    let mut wait = pin!(ev.wait());
                    let _ = poll!(wait.as_mut());
                })
            })
        };
        ev.set();
        assert!(ev.is_set());
        waiter.join().unwrap();
        dropped.join().unwrap();
    });
}

/// A waiter registered before a `set` returns even when the flag is cleared again before it
/// runs (CPython's `test_clear_with_waiters`).
#[test]
fn event_set_then_clear_still_wakes_a_registered_waiter() {
    loom::model(|| {
        let ev = Arc::new(Event::new());
        let registered = Arc::new(AtomicUsize::new(0));
        let waiter = {
            let (ev, registered) = (Arc::clone(&ev), Arc::clone(&registered));
            thread::spawn(move || {
                block_on(async {
                    let mut wait = pin!(ev.wait());
                    assert!(poll!(wait.as_mut()).is_pending());
                    registered.store(1, Ordering::SeqCst);
                    wait.await;
                })
            })
        };
        while registered.load(Ordering::SeqCst) == 0 {
            thread::yield_now();
        }
        ev.set();
        ev.clear();
        waiter.join().unwrap();
        assert!(!ev.is_set());
    });
}

/// A wait that begins after the waiter saw the flag raised and cleared it is not woken by the
/// `set` that raised it: raising the flag and waking the waiters are one step. (With the flag
/// raised before the list's lock was taken, that `set` could find the later wait on the list and
/// wake it: a ping-pong of two events across threads then ran a round ahead and hung, 1 run of
/// about 30 of `tests/locks.rs`.)
#[test]
fn event_set_does_not_wake_a_wait_begun_after_its_flag_was_cleared() {
    loom::model(|| {
        let ev = Arc::new(Event::new());
        let setter = {
            let ev = Arc::clone(&ev);
            thread::spawn(move || ev.set())
        };
        block_on(async {
            ev.wait().await;
            ev.clear();
            let mut again = pin!(ev.wait());
            assert!(poll!(again.as_mut()).is_pending(), "no set after the clear");
            setter.join().unwrap();
            assert!(
                poll!(again.as_mut()).is_pending(),
                "woken by the set that came before the clear"
            );
        });
    });
}

/// Two parties, two cycles: each cycle hands out the indices 0 and 1, the action runs once per
/// cycle and before either party is released.
#[test]
fn barrier_two_cycles_with_action() {
    loom::model(|| {
        let actions = Arc::new(AtomicUsize::new(0));
        let barrier = {
            let actions = Arc::clone(&actions);
            Arc::new(Barrier::new(2).unwrap().action(move || {
                actions.fetch_add(1, Ordering::SeqCst);
            }))
        };
        let run = |barrier: Arc<Barrier>, actions: Arc<AtomicUsize>| {
            block_on(async move {
                let mut indices = [0; 2];
                for (cycle, slot) in indices.iter_mut().enumerate() {
                    *slot = barrier.wait().await.unwrap();
                    assert!(actions.load(Ordering::SeqCst) > cycle);
                }
                indices
            })
        };
        let other = {
            let (barrier, actions) = (Arc::clone(&barrier), Arc::clone(&actions));
            thread::spawn(move || run(barrier, actions))
        };
        let mine = run(Arc::clone(&barrier), Arc::clone(&actions));
        let theirs = other.join().unwrap();
        assert_eq!([mine[0] + theirs[0], mine[1] + theirs[1]], [1, 1]);
        assert_eq!(actions.load(Ordering::SeqCst), 2);
        assert_eq!(barrier.n_waiting(), 0);
    });
}

/// An abort racing a waiter: the waiter always ends, with `Aborted`.
#[test]
fn barrier_abort_releases_the_waiter() {
    loom::model(|| {
        let barrier = Arc::new(Barrier::new(2).unwrap());
        let waiter = {
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || block_on(barrier.wait()))
        };
        barrier.abort();
        let err = waiter.join().unwrap().unwrap_err();
        assert_eq!(err.cause(), BreakCause::Aborted);
        assert_eq!(barrier.n_waiting(), 0);
    });
}

/// Two waiters that leave (their futures dropped) racing each other on a barrier of three: the
/// count ends at zero and the barrier is not broken.
#[test]
fn barrier_leaving_waiters_keep_the_count() {
    loom::model(|| {
        let barrier = Arc::new(Barrier::new(3).unwrap());
        let leaver = {
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                block_on(async {
                    let mut wait = pin!(barrier.wait());
                    let _ = poll!(wait.as_mut());
                })
            })
        };
        block_on(async {
            let mut wait = pin!(barrier.wait());
            let _ = poll!(wait.as_mut());
        });
        leaver.join().unwrap();
        assert_eq!(barrier.n_waiting(), 0);
        assert!(!barrier.broken());
    });
}

/// Owners' manual acquire/release pairs racing a stray release: the count never passes the
/// bound, and a stray success is matched by exactly one owner failure.
#[test]
fn bounded_semaphore_release_never_passes_the_bound() {
    loom::model(|| {
        let sem = Arc::new(BoundedSemaphore::new(1));
        let owner = {
            let sem = Arc::clone(&sem);
            thread::spawn(move || {
                let permit = sem.try_acquire();
                let took = permit.is_some();
                if let Some(p) = permit {
                    p.forget();
                }
                assert!(sem.available() <= 1);
                took && sem.release().is_err()
            })
        };
        let stray_ok = sem.release().is_ok();
        assert!(sem.available() <= 1);
        let owner_failed = owner.join().unwrap();
        assert_eq!(stray_ok, owner_failed);
        assert_eq!(sem.available(), 1);
    });
}
