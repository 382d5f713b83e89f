//! Touches every path the umbrella re-exports, so a missing or renamed re-export fails here
//! (crossbeam's `tests/subcrates.rs`).

#[cfg(feature = "sync")]
#[test]
fn sync() {
    use std::time::Duration;
    use weft::sync::{
        AcquireError, Barrier, BoundedSemaphore, BreakCause, BrokenBarrier, Condition,
        ConditionGuard, Event, Lock, LockGuard, RLock, RLockGuard, ReleaseError, Semaphore,
        SemaphorePermit, ZeroParties,
    };

    let lock = Lock::new(1);
    let guard: LockGuard<'_, i32> = lock.acquire();
    assert_eq!(*guard, 1);
    drop(guard);

    let rlock = RLock::new(2);
    let guard: RLockGuard<'_, i32> = rlock.acquire();
    assert_eq!(*guard, 2);
    drop(guard);

    let cond = Condition::new(3);
    let mut guard: ConditionGuard<'_, i32> = cond.acquire();
    assert!(!guard.wait_timeout(Duration::ZERO));
    drop(guard);

    let sem = Semaphore::new(1);
    let permit: SemaphorePermit<'_> = sem.acquire();
    assert_eq!(
        sem.try_acquire_many(1).unwrap_err(),
        AcquireError::NoPermits
    );
    drop(permit);

    let bounded = BoundedSemaphore::new(1);
    assert!(matches!(
        bounded.release(1),
        Err(ReleaseError::TooManyReleases { .. })
    ));

    assert_eq!(Barrier::new(0).unwrap_err(), ZeroParties);
    let barrier = Barrier::new(1).unwrap();
    barrier.abort();
    let err: BrokenBarrier = barrier.wait().unwrap_err();
    assert_eq!(err.cause(), BreakCause::Aborted);

    let event = Event::new();
    event.set();
    assert!(event.is_set());
}
