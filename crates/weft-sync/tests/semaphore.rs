//! Behaviour tests for [`weft_sync::Semaphore`], [`weft_sync::BoundedSemaphore`] and
//! [`weft_sync::SemaphorePermit`]: permits limiting concurrency, `try_acquire`, `acquire_timeout`
//! (zero, short and `Duration::MAX`), `acquire_many` and its `try_`/`_timeout` forms, the
//! `InvalidCount` / `ZeroPermits` / `TooManyReleases` errors, `forget` plus `release` from another
//! thread, `Semaphore::new(0)` as a signal, and the bound of a `BoundedSemaphore`.
//!
//! Re-expresses the cases of CPython's `Lib/test/lock_tests.py` `BaseSemaphoreTests` (run against
//! both types through the `Sem` trait below): `test_acquire`, `test_acquire_contended`,
//! `test_multirelease`, `test_try_acquire`, `test_try_acquire_contended`, `test_acquire_timeout`,
//! `test_default_value` and `test_with`; `SemaphoreTests.test_release_unacquired` (an unbounded
//! semaphore may be released past its start value) and
//! `BoundedSemaphoreTests.test_release_unacquired` (Python's `ValueError`, here
//! `ReleaseError::TooManyReleases`). `test_constructor` (negative values) is N/A: the count is a
//! `usize`. Python's explicit `acquire()`/`release()` style is `acquire().forget()` plus
//! `release(1)`.
//!
//! No test sleeps to synchronize: threads report over channels, a test that waits for another
//! thread gives up after `LONG`, and a check that something has *not* happened watches for
//! `BRIEF`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self};
use std::sync::Arc;
use std::time::{Duration, Instant};

use weft_sync::{AcquireError, BoundedSemaphore, ReleaseError, Semaphore, SemaphorePermit};

mod common;
use common::*;

/// The API the two semaphore types share, so that `BaseSemaphoreTests` run against both.
trait Sem: Send + Sync + Sized + 'static {
    fn with_permits(value: usize) -> Self;
    /// The most permits this semaphore can ever hold, as reported in its errors.
    fn max_permits(&self) -> usize;
    fn acquire(&self) -> SemaphorePermit<'_>;
    fn try_acquire(&self) -> Option<SemaphorePermit<'_>>;
    fn acquire_timeout(&self, timeout: Duration) -> Option<SemaphorePermit<'_>>;
    fn acquire_many(&self, n: usize) -> Result<SemaphorePermit<'_>, AcquireError>;
    fn try_acquire_many(&self, n: usize) -> Result<SemaphorePermit<'_>, AcquireError>;
    fn acquire_many_timeout(
        &self,
        n: usize,
        timeout: Duration,
    ) -> Result<SemaphorePermit<'_>, AcquireError>;
    fn release(&self, n: usize) -> Result<(), ReleaseError>;
    fn available(&self) -> usize;
}

macro_rules! impl_sem {
    ($ty:ident, $max:expr) => {
        impl Sem for $ty {
            fn with_permits(value: usize) -> Self {
                $ty::new(value)
            }
            fn max_permits(&self) -> usize {
                let max: fn(&Self) -> usize = $max;
                max(self)
            }
            fn acquire(&self) -> SemaphorePermit<'_> {
                $ty::acquire(self)
            }
            fn try_acquire(&self) -> Option<SemaphorePermit<'_>> {
                $ty::try_acquire(self)
            }
            fn acquire_timeout(&self, timeout: Duration) -> Option<SemaphorePermit<'_>> {
                $ty::acquire_timeout(self, timeout)
            }
            fn acquire_many(&self, n: usize) -> Result<SemaphorePermit<'_>, AcquireError> {
                $ty::acquire_many(self, n)
            }
            fn try_acquire_many(&self, n: usize) -> Result<SemaphorePermit<'_>, AcquireError> {
                $ty::try_acquire_many(self, n)
            }
            fn acquire_many_timeout(
                &self,
                n: usize,
                timeout: Duration,
            ) -> Result<SemaphorePermit<'_>, AcquireError> {
                $ty::acquire_many_timeout(self, n, timeout)
            }
            fn release(&self, n: usize) -> Result<(), ReleaseError> {
                $ty::release(self, n)
            }
            fn available(&self) -> usize {
                $ty::available(self)
            }
        }
    };
}

impl_sem!(Semaphore, |_| Semaphore::MAX_PERMITS);
impl_sem!(BoundedSemaphore, BoundedSemaphore::max);

/// Generates one `#[test]` per semaphore type for each generic test function.
macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod semaphore {
            $(#[test]
            fn $name() {
                super::$name::<weft_sync::Semaphore>();
            })*
        }
        mod bounded_semaphore {
            $(#[test]
            fn $name() {
                super::$name::<weft_sync::BoundedSemaphore>();
            })*
        }
    };
}

both!(
    acquire_and_release,
    acquire_contended,
    multirelease,
    try_acquire,
    failed_try_acquire_gives_back_nothing,
    failed_acquire_timeout_gives_back_nothing,
    try_acquire_contended,
    acquire_timeout,
    acquire_timeout_max_waits_for_release,
    permit_guard_nesting_and_unwind,
    permits_limit_concurrency,
    holders_never_exceed_permits_under_stress,
    acquire_many_takes_all_at_once,
    acquire_many_zero_is_invalid,
    release_zero_is_an_error,
    forget_then_release_from_other_thread,
    acquire_many_woken_by_single_releases,
    mixed_waiters_are_all_served,
);

// ---------------------------------------------------------------------------------------------
// BaseSemaphoreTests, for both types.

/// test_acquire
fn acquire_and_release<S: Sem>() {
    let sem = S::with_permits(1);
    let permit = sem.acquire();
    assert_eq!(permit.count(), 1);
    assert_eq!(sem.available(), 0);
    drop(permit);
    assert_eq!(sem.available(), 1);

    let sem = S::with_permits(2);
    let a = sem.acquire();
    let b = sem.acquire();
    assert_eq!(sem.available(), 0);
    drop(a);
    assert_eq!(sem.available(), 1);
    drop(b);
    assert_eq!(sem.available(), 2);
}

/// test_acquire_contended: 7 permits, one taken; 10 threads each acquire twice, Python style
/// (never giving back). 6 acquisitions happen, then exactly 7 more after 7 releases, then 6 more
/// after 6 releases, and the last after one more.
fn acquire_contended<S: Sem>() {
    contended_phases::<S>(|sem, n| {
        for _ in 0..n {
            sem.release(1).unwrap();
        }
    });
}

/// test_multirelease: as `acquire_contended`, each batch of permits given back by one
/// `release(n)`: exactly `n` of the parked waiters get through, and the others stay blocked.
fn multirelease<S: Sem>() {
    contended_phases::<S>(|sem, n| sem.release(n).unwrap());
}

/// The phases of `acquire_contended` and `multirelease`, with `give(sem, n)` giving back `n`
/// permits.
fn contended_phases<S: Sem>(give: impl Fn(&S, usize)) {
    let sem = Arc::new(S::with_permits(7));
    sem.acquire().forget();
    let (acquired_tx, acquired_rx) = mpsc::channel();
    let done: Vec<_> = (0..10)
        .map(|_| {
            let (sem, acquired_tx) = (Arc::clone(&sem), acquired_tx.clone());
            spawn(move || {
                for _ in 0..2 {
                    assert!(sem
                        .acquire_timeout(LONG)
                        .map(SemaphorePermit::forget)
                        .is_some());
                    acquired_tx.send(()).unwrap();
                }
            })
        })
        .collect();
    let expect = |n| {
        for _ in 0..n {
            recv(&acquired_rx);
        }
        assert_pending(&acquired_rx);
    };
    expect(6);
    give(&sem, 7);
    expect(7);
    give(&sem, 6);
    expect(6);
    // The semaphore is still locked.
    assert!(sem.try_acquire().is_none());
    give(&sem, 1);
    expect(1);
    for rx in &done {
        recv(rx);
    }
    assert_eq!(sem.available(), 0);
}

/// test_try_acquire
fn try_acquire<S: Sem>() {
    let sem = S::with_permits(2);
    assert!(sem.try_acquire().map(SemaphorePermit::forget).is_some());
    assert!(sem.try_acquire().map(SemaphorePermit::forget).is_some());
    assert!(sem.try_acquire().is_none());
    assert_eq!(sem.available(), 0);
    sem.release(1).unwrap();
    assert!(sem.try_acquire().is_some());
}

/// A `try_acquire` that finds no permit must leave the count alone: polling an empty semaphore
/// must not create permits.
fn failed_try_acquire_gives_back_nothing<S: Sem>() {
    let sem = S::with_permits(1);
    let held = sem.acquire();
    for _ in 0..3 {
        assert!(sem.try_acquire().is_none());
        assert_eq!(sem.available(), 0, "a failed try_acquire released a permit");
    }
    drop(held);
    assert_eq!(sem.available(), 1);
}

/// Likewise for an `acquire_timeout` that times out, with a zero and a short timeout.
fn failed_acquire_timeout_gives_back_nothing<S: Sem>() {
    let sem = S::with_permits(1);
    let held = sem.acquire();
    assert!(sem.acquire_timeout(Duration::ZERO).is_none());
    assert_eq!(
        sem.available(),
        0,
        "a failed acquire_timeout(0) released a permit"
    );
    assert!(sem.acquire_timeout(Duration::from_millis(5)).is_none());
    assert_eq!(
        sem.available(),
        0,
        "a timed-out acquire_timeout released a permit"
    );
    drop(held);
    assert_eq!(sem.available(), 1);
}

/// test_try_acquire_contended: 4 permits, one taken; 5 threads try twice each: 3 succeed.
fn try_acquire_contended<S: Sem>() {
    let sem = Arc::new(S::with_permits(4));
    let _held = sem.acquire();
    let done: Vec<_> = (0..5)
        .map(|_| {
            let sem = Arc::clone(&sem);
            spawn(move || {
                (0..2)
                    .filter(|_| sem.try_acquire().map(SemaphorePermit::forget).is_some())
                    .count()
            })
        })
        .collect();
    let successes: usize = done.iter().map(recv).sum();
    assert_eq!(successes, 3);
    assert_eq!(sem.available(), 0);
}

/// test_acquire_timeout
fn acquire_timeout<S: Sem>() {
    let sem = S::with_permits(2);
    let short = Duration::from_millis(5);
    assert!(sem
        .acquire_timeout(short)
        .map(SemaphorePermit::forget)
        .is_some());
    assert!(sem
        .acquire_timeout(short)
        .map(SemaphorePermit::forget)
        .is_some());
    assert!(sem.acquire_timeout(short).is_none());
    assert!(sem.acquire_timeout(Duration::ZERO).is_none());
    sem.release(1).unwrap();
    assert!(sem
        .acquire_timeout(Duration::ZERO)
        .map(SemaphorePermit::forget)
        .is_some());
    sem.release(1).unwrap();
    let start = Instant::now();
    assert!(sem
        .acquire_timeout(Duration::MAX)
        .map(SemaphorePermit::forget)
        .is_some());
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "a free permit must not wait"
    );

    let start = Instant::now();
    assert!(sem.acquire_timeout(SHORT).is_none());
    let waited = start.elapsed();
    assert!(waited + SLACK >= SHORT, "returned early: {waited:?}");
    assert!(waited < Duration::from_secs(5), "returned late: {waited:?}");
    assert_eq!(sem.available(), 0);
}

fn acquire_timeout_max_waits_for_release<S: Sem>() {
    let sem = Arc::new(S::with_permits(1));
    let held = sem.acquire();
    let (started_tx, started_rx) = mpsc::channel();
    let s = Arc::clone(&sem);
    let done = spawn(move || {
        started_tx.send(()).unwrap();
        s.acquire_timeout(Duration::MAX).map(|p| p.count())
    });
    recv(&started_rx);
    assert_pending(&done);
    drop(held);
    assert_eq!(recv(&done), Some(1));
    assert_eq!(sem.available(), 1);
}

/// test_with: nested permit guards, and a permit given back when a panic unwinds.
fn permit_guard_nesting_and_unwind<S: Sem>() {
    let sem = S::with_permits(2);
    {
        let _outer = sem.acquire();
        assert!(sem.try_acquire().is_some());
        {
            let _inner = sem.acquire();
            assert!(sem.try_acquire().is_none());
        }
        assert_eq!(sem.available(), 1);
    }
    assert_eq!(sem.available(), 2);
    let result = catch_unwind(AssertUnwindSafe(|| {
        let _outer = sem.acquire();
        let _inner = sem.acquire();
        panic!("while holding both permits");
    }));
    assert!(result.is_err());
    assert_eq!(sem.available(), 2);
    assert!(sem.try_acquire().is_some());
}

/// With N permits and 3N threads that each hold a permit until N holders meet, exactly N hold
/// at once: the holders of each group meet at a `std::sync::Barrier` of N.
fn permits_limit_concurrency<S: Sem>() {
    const N: usize = 3;
    let sem = Arc::new(S::with_permits(N));
    let meet = Arc::new(std::sync::Barrier::new(N));
    let inside = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let done: Vec<_> = (0..3 * N)
        .map(|_| {
            let (sem, meet) = (Arc::clone(&sem), Arc::clone(&meet));
            let (inside, most) = (Arc::clone(&inside), Arc::clone(&most));
            spawn(move || {
                let _permit = sem.acquire_timeout(LONG).expect("a permit within LONG");
                let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                meet.wait();
                inside.fetch_sub(1, Ordering::SeqCst);
            })
        })
        .collect();
    for rx in &done {
        recv(rx);
    }
    assert_eq!(most.load(Ordering::SeqCst), N);
    assert_eq!(sem.available(), N);
}

fn holders_never_exceed_permits_under_stress<S: Sem>() {
    const N: usize = 2;
    let sem = Arc::new(S::with_permits(N));
    let inside = Arc::new(AtomicUsize::new(0));
    let done: Vec<_> = (0..6)
        .map(|_| {
            let (sem, inside) = (Arc::clone(&sem), Arc::clone(&inside));
            spawn(move || {
                // Fewer under Miri, which checks each step and would pass `LONG` first.
                for _ in 0..if cfg!(miri) { 50 } else { 2_000 } {
                    let _permit = sem.acquire_timeout(LONG).expect("a permit within LONG");
                    let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                    assert!(now <= N, "{now} holders of {N} permits");
                    std::hint::spin_loop();
                    inside.fetch_sub(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    for rx in &done {
        recv(rx);
    }
    assert_eq!(sem.available(), N);
}

fn acquire_many_takes_all_at_once<S: Sem>() {
    let sem = S::with_permits(5);
    let three = sem.acquire_many(3).unwrap();
    assert_eq!(three.count(), 3);
    assert_eq!(sem.available(), 2);
    assert_eq!(
        sem.try_acquire_many(3).unwrap_err(),
        AcquireError::NoPermits
    );
    let start = Instant::now();
    let err = sem.acquire_many_timeout(3, SHORT).unwrap_err();
    let waited = start.elapsed();
    assert_eq!(err, AcquireError::Timeout);
    assert!(err.is_timeout());
    assert!(waited + SLACK >= SHORT, "returned early: {waited:?}");
    assert!(waited < Duration::from_secs(5), "returned late: {waited:?}");
    assert_eq!(sem.available(), 2, "a failed many-acquire takes nothing");
    let two = sem.acquire_many_timeout(2, Duration::ZERO).unwrap();
    assert_eq!(two.count(), 2);
    assert_eq!(sem.available(), 0);
    drop(three);
    assert_eq!(sem.available(), 3);
    drop(two);
    assert_eq!(sem.available(), 5);
    let all = sem.try_acquire_many(5).unwrap();
    assert_eq!(all.count(), 5);
    assert_eq!(all.forget(), 5);
    assert_eq!(sem.available(), 0);
    sem.release(5).unwrap();
    let all = sem.acquire_many_timeout(5, Duration::MAX).unwrap();
    assert_eq!(all.count(), 5);
}

fn acquire_many_zero_is_invalid<S: Sem>() {
    let sem = S::with_permits(2);
    let invalid = AcquireError::InvalidCount {
        requested: 0,
        max: sem.max_permits(),
    };
    assert_eq!(sem.acquire_many(0).unwrap_err(), invalid);
    assert_eq!(sem.try_acquire_many(0).unwrap_err(), invalid);
    assert_eq!(sem.acquire_many_timeout(0, LONG).unwrap_err(), invalid);
    assert!(!invalid.is_timeout());
    assert_eq!(sem.available(), 2);
}

fn release_zero_is_an_error<S: Sem>() {
    let sem = S::with_permits(1);
    sem.acquire().forget();
    assert_eq!(sem.release(0), Err(ReleaseError::ZeroPermits));
    assert_eq!(sem.available(), 0);
    sem.release(1).unwrap();
    assert_eq!(sem.available(), 1);
}

/// Python style: a permit taken on one thread and given back from another signals a waiter.
fn forget_then_release_from_other_thread<S: Sem>() {
    let sem = Arc::new(S::with_permits(1));
    assert_eq!(sem.acquire().forget(), 1);
    assert_eq!(sem.available(), 0);
    assert!(sem.try_acquire().is_none());
    let (started_tx, started_rx) = mpsc::channel();
    let s = Arc::clone(&sem);
    let waiter = spawn(move || {
        started_tx.send(()).unwrap();
        s.acquire_timeout(LONG).map(SemaphorePermit::forget)
    });
    recv(&started_rx);
    assert_pending(&waiter);
    let s = Arc::clone(&sem);
    recv(&spawn(move || s.release(1))).unwrap();
    assert_eq!(recv(&waiter), Some(1));
    assert_eq!(sem.available(), 0);
}

/// A thread blocked in `acquire_many(3)` is woken when three permits come back one at a time.
fn acquire_many_woken_by_single_releases<S: Sem>() {
    let sem = Arc::new(S::with_permits(3));
    sem.acquire_many(3).unwrap().forget();
    let (started_tx, started_rx) = mpsc::channel();
    let s = Arc::clone(&sem);
    let waiter = spawn(move || {
        started_tx.send(()).unwrap();
        s.acquire_many(3).map(SemaphorePermit::forget)
    });
    recv(&started_rx);
    assert_pending(&waiter);
    // One permit, then two, are not enough: the waiter keeps waiting and takes none of them.
    sem.release(1).unwrap();
    assert_pending(&waiter);
    sem.release(1).unwrap();
    assert_pending(&waiter);
    assert_eq!(sem.available(), 2);
    sem.release(1).unwrap();
    assert_eq!(recv(&waiter), Ok(3));
    assert_eq!(sem.available(), 0);
}

/// One waiter for three permits and four waiters for one, all parked, are all served as permits
/// come back one at a time and the single-permit holders give theirs back.
fn mixed_waiters_are_all_served<S: Sem>() {
    let sem = Arc::new(S::with_permits(3));
    sem.acquire_many(3).unwrap().forget();
    let (started_tx, started_rx) = mpsc::channel();
    let s = Arc::clone(&sem);
    let tx = started_tx.clone();
    let many = spawn(move || {
        tx.send(()).unwrap();
        s.acquire_many_timeout(3, LONG).map(|p| p.count())
    });
    let singles: Vec<_> = (0..4)
        .map(|_| {
            let (s, tx) = (Arc::clone(&sem), started_tx.clone());
            spawn(move || {
                tx.send(()).unwrap();
                s.acquire_timeout(LONG).map(|p| p.count())
            })
        })
        .collect();
    for _ in 0..5 {
        recv(&started_rx);
    }
    assert_pending(&many);
    for _ in 0..3 {
        sem.release(1).unwrap();
    }
    assert_eq!(recv(&many), Ok(3));
    for rx in &singles {
        assert_eq!(recv(rx), Some(1));
    }
    assert_eq!(sem.available(), 3);
}

// ---------------------------------------------------------------------------------------------
// Semaphore only.

#[test]
fn semaphore_default_has_one_permit() {
    // test_default_value
    let sem = Arc::new(Semaphore::default());
    assert_eq!(sem.available(), 1);
    sem.acquire().forget();
    let (started_tx, started_rx) = mpsc::channel();
    let s = Arc::clone(&sem);
    let waiter = spawn(move || {
        started_tx.send(()).unwrap();
        drop(s.acquire());
    });
    recv(&started_rx);
    assert_pending(&waiter);
    sem.release(1).unwrap();
    recv(&waiter);
    assert_eq!(sem.available(), 1);
}

#[test]
fn semaphore_release_unacquired_raises_count() {
    // SemaphoreTests.test_release_unacquired
    let sem = Semaphore::new(1);
    sem.release(1).unwrap();
    assert_eq!(sem.available(), 2);
    let a = sem.try_acquire().expect("first");
    let b = sem.try_acquire().expect("second");
    assert!(sem.try_acquire().is_none());
    drop((a, b));
    sem.release(3).unwrap();
    assert_eq!(sem.available(), 5);
}

#[test]
fn semaphore_release_overflow_is_an_error_and_changes_nothing() {
    const MAX: usize = Semaphore::MAX_PERMITS;
    let sem = Semaphore::new(1);
    assert_eq!(
        sem.release(usize::MAX),
        Err(ReleaseError::TooManyReleases {
            released: usize::MAX,
            max: MAX
        })
    );
    assert_eq!(sem.available(), 1);
    assert_eq!(
        sem.release(MAX),
        Err(ReleaseError::TooManyReleases {
            released: MAX,
            max: MAX
        })
    );
    assert_eq!(sem.available(), 1);

    let sem = Semaphore::new(0);
    sem.release(MAX).unwrap();
    assert_eq!(sem.available(), MAX);
    assert_eq!(
        sem.release(1),
        Err(ReleaseError::TooManyReleases {
            released: 1,
            max: MAX
        })
    );
    assert_eq!(sem.available(), MAX);
    // A permit taken and given back at the top of the range round-trips exactly.
    drop(sem.acquire_many(MAX).unwrap());
    assert_eq!(sem.available(), MAX);
}

#[test]
fn semaphore_new_above_max_is_lowered() {
    let sem = Semaphore::new(usize::MAX);
    assert_eq!(sem.available(), Semaphore::MAX_PERMITS);
    assert_eq!(
        sem.acquire_many(Semaphore::MAX_PERMITS + 1).unwrap_err(),
        AcquireError::InvalidCount {
            requested: Semaphore::MAX_PERMITS + 1,
            max: Semaphore::MAX_PERMITS
        }
    );
}

#[test]
fn semaphore_new_zero_is_a_signal() {
    let sem = Arc::new(Semaphore::new(0));
    assert!(sem.try_acquire().is_none());
    assert_eq!(
        sem.try_acquire_many(1).unwrap_err(),
        AcquireError::NoPermits
    );
    let (started_tx, started_rx) = mpsc::channel();
    let waiters: Vec<_> = (0..3)
        .map(|_| {
            let (sem, tx) = (Arc::clone(&sem), started_tx.clone());
            spawn(move || {
                tx.send(()).unwrap();
                sem.acquire().forget()
            })
        })
        .collect();
    for _ in 0..3 {
        recv(&started_rx);
    }
    for rx in &waiters {
        assert_pending(rx);
    }
    // One release of three wakes all three.
    sem.release(3).unwrap();
    for rx in &waiters {
        assert_eq!(recv(rx), 1);
    }
    assert_eq!(sem.available(), 0);

    // Three releases of one, likewise.
    let waiters: Vec<_> = (0..3)
        .map(|_| {
            let (sem, tx) = (Arc::clone(&sem), started_tx.clone());
            spawn(move || {
                tx.send(()).unwrap();
                sem.acquire().forget()
            })
        })
        .collect();
    for _ in 0..3 {
        recv(&started_rx);
    }
    assert_pending(&waiters[0]);
    for _ in 0..3 {
        sem.release(1).unwrap();
    }
    for rx in &waiters {
        assert_eq!(recv(rx), 1);
    }
    assert_eq!(sem.available(), 0);
}

#[test]
fn semaphore_ping_pong_loses_no_wakeup() {
    // Two threads hand a turn back and forth through two zero-permit semaphores: any lost
    // wake-up shows up as a timeout.
    const ROUNDS: usize = 2_000;
    let ping = Arc::new(Semaphore::new(0));
    let pong = Arc::new(Semaphore::new(0));
    let (ping2, pong2) = (Arc::clone(&ping), Arc::clone(&pong));
    let other = spawn(move || {
        for _ in 0..ROUNDS {
            ping2.acquire_timeout(LONG).expect("ping").forget();
            pong2.release(1).unwrap();
        }
    });
    for _ in 0..ROUNDS {
        ping.release(1).unwrap();
        pong.acquire_timeout(LONG).expect("pong").forget();
    }
    recv(&other);
    assert_eq!((ping.available(), pong.available()), (0, 0));
}

#[test]
fn semaphore_debug_shows_available() {
    let sem = Semaphore::new(2);
    let _p = sem.acquire();
    let text = format!("{sem:?}");
    assert!(text.contains("Semaphore"), "{text}");
    assert!(text.contains("available: 1"), "{text}");
    // An unbounded semaphore has no maximum of the user's to show.
    assert!(!text.contains("max"), "{text}");
    assert_eq!(
        format!("{:?}", sem.acquire()),
        "SemaphorePermit { count: 1 }"
    );
}

// ---------------------------------------------------------------------------------------------
// BoundedSemaphore only.

#[test]
fn bounded_release_unacquired_is_an_error() {
    // BoundedSemaphoreTests.test_release_unacquired
    let sem = BoundedSemaphore::new(1);
    let too_many = Err(ReleaseError::TooManyReleases {
        released: 1,
        max: 1,
    });
    assert_eq!(sem.release(1), too_many);
    assert_eq!(sem.available(), 1);
    sem.acquire().forget();
    sem.release(1).unwrap();
    assert_eq!(sem.release(1), too_many);
    assert_eq!(sem.available(), 1);
}

#[test]
fn bounded_partial_overrelease_changes_nothing() {
    let sem = BoundedSemaphore::new(3);
    assert_eq!(sem.max(), 3);
    sem.acquire().forget();
    assert_eq!(sem.available(), 2);
    assert_eq!(
        sem.release(2),
        Err(ReleaseError::TooManyReleases {
            released: 2,
            max: 3
        })
    );
    assert_eq!(sem.available(), 2, "a failed release releases nothing");
    assert!(matches!(
        sem.release(usize::MAX),
        Err(ReleaseError::TooManyReleases { max: 3, .. })
    ));
    assert_eq!(sem.available(), 2);
    sem.release(1).unwrap();
    assert_eq!(sem.available(), 3);
}

#[test]
fn bounded_acquire_many_beyond_max_is_invalid_at_once() {
    let sem = Arc::new(BoundedSemaphore::new(2));
    let invalid = AcquireError::InvalidCount {
        requested: 3,
        max: 2,
    };
    let s = Arc::clone(&sem);
    let (errors, took) = recv(&spawn(move || {
        let start = Instant::now();
        // With the semaphore full and with one permit out: neither may wait.
        let mut errors = vec![
            s.acquire_many(3).map(|p| p.count()),
            s.try_acquire_many(3).map(|p| p.count()),
            s.acquire_many_timeout(3, LONG).map(|p| p.count()),
        ];
        let _one = s.acquire();
        errors.push(s.acquire_many(3).map(|p| p.count()));
        errors.push(s.acquire_many_timeout(usize::MAX, LONG).map(|p| p.count()));
        (errors, start.elapsed())
    }));
    assert_eq!(errors[..4], [Err(invalid); 4]);
    assert_eq!(
        errors[4],
        Err(AcquireError::InvalidCount {
            requested: usize::MAX,
            max: 2
        })
    );
    assert!(
        took < Duration::from_secs(5),
        "an impossible request waited {took:?}"
    );
    assert_eq!(sem.available(), 2);
}

#[test]
fn bounded_permit_drop_after_release_never_exceeds_bound() {
    let sem = BoundedSemaphore::new(2);
    let permit = sem.acquire();
    sem.release(1).unwrap();
    assert_eq!(sem.available(), 2);
    drop(permit);
    assert_eq!(sem.available(), 2, "the drop must not push past the bound");
    assert!(sem.release(1).is_err());

    let both = sem.acquire_many(2).unwrap();
    sem.release(1).unwrap();
    assert_eq!(sem.available(), 1);
    drop(both);
    assert_eq!(sem.available(), 2);
    assert!(sem.try_acquire_many(2).is_ok());
    assert_eq!(sem.available(), 2);
}

#[test]
fn bounded_debug_shows_available_and_max() {
    let sem = BoundedSemaphore::new(4);
    let _p = sem.acquire_many(3).unwrap();
    let text = format!("{sem:?}");
    assert!(text.contains("BoundedSemaphore"), "{text}");
    assert!(text.contains("available: 1"), "{text}");
    assert!(text.contains("max: 4"), "{text}");
}

#[test]
fn error_display_texts() {
    assert_eq!(
        AcquireError::InvalidCount {
            requested: 0,
            max: 2
        }
        .to_string(),
        "cannot acquire zero permits"
    );
    assert!(AcquireError::InvalidCount {
        requested: 3,
        max: 2
    }
    .to_string()
    .contains('3'));
    assert!(!AcquireError::NoPermits.to_string().is_empty());
    assert!(!AcquireError::Timeout.to_string().is_empty());
    assert!(!ReleaseError::ZeroPermits.to_string().is_empty());
    assert!(ReleaseError::TooManyReleases {
        released: 1,
        max: 1
    }
    .to_string()
    .contains("too many"));
}
