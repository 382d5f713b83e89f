//! Compile-time checks of the auto traits weft-sync promises (in the style of tokio's
//! `tests/async_send_sync.rs`): `Lock<T>`, `RLock<T>` and `Condition<T>` are `Send + Sync` for any
//! `T: Send` (so a `Cell` or `RefCell` inside is fine, as the `RLock` docs suggest); `Semaphore`,
//! `BoundedSemaphore`, `Barrier` and `Event` are `Send + Sync`, and so are the deadlock reports
//! (feature `deadlock-detection`); every error type is
//! `Send + Sync + 'static` and converts into `Box<dyn Error + Send + Sync>`. An `RLockGuard` is
//! not `Send` (which is what makes releasing an `RLock` from another thread impossible, CPython's
//! `RLockTests.test_different_thread`).
//!
//! These are not CPython `lock_tests.py` cases; a failure here is a compile error.

use std::cell::{Cell, RefCell};
use std::error::Error;

use weft_sync::{
    AcquireError, Barrier, BoundedSemaphore, BreakCause, BrokenBarrier, Condition, Event, Lock,
    RLock, RLockGuard, ReleaseError, Semaphore, SemaphorePermit, ZeroParties,
};
use weft_sync::{ConditionGuard, LockGuard};

fn is_send<T: ?Sized + Send>() {}
fn is_sync<T: ?Sized + Sync>() {}
fn is_send_sync<T: ?Sized + Send + Sync>() {}
fn is_error<T: Error + Send + Sync + 'static>() {}

/// `AmbiguousIfSend::some_item` resolves only if `T` is not `Send` (the `static_assertions`
/// `assert_not_impl_any!` trick): with `T: Send` both impls apply and the call is ambiguous.
trait AmbiguousIfSend<A> {
    fn some_item() {}
}
impl<T: ?Sized> AmbiguousIfSend<()> for T {}
impl<T: ?Sized + Send> AmbiguousIfSend<u8> for T {}

#[test]
fn lock_types_are_send_sync_for_send_data() {
    is_send_sync::<Lock<u32>>();
    is_send_sync::<Lock<Vec<String>>>();
    is_send_sync::<Lock<Cell<u32>>>();
    is_send_sync::<Lock<RefCell<Vec<u8>>>>();
    is_send_sync::<Lock<[u8]>>();

    is_send_sync::<RLock<u32>>();
    is_send_sync::<RLock<Cell<u32>>>();
    is_send_sync::<RLock<RefCell<Vec<u8>>>>();

    is_send_sync::<Condition<u32>>();
    is_send_sync::<Condition<Cell<u32>>>();
    is_send_sync::<Condition<RefCell<Vec<u8>>>>();
}

#[test]
fn other_primitives_are_send_sync() {
    is_send_sync::<Semaphore>();
    is_send_sync::<BoundedSemaphore>();
    is_send_sync::<Barrier>();
    is_send_sync::<Event>();
    // A permit is not tied to the thread that took it (Python releases a semaphore anywhere).
    is_send_sync::<SemaphorePermit<'static>>();
}

/// A deadlock report is handed to the hook, which any thread may run, and may be kept.
#[cfg(feature = "deadlock-detection")]
#[test]
fn deadlock_reports_are_send_sync() {
    use weft_sync::deadlock::{CycleStep, DeadlockPolicy, DeadlockReport, ReportKind};
    is_send_sync::<DeadlockReport>();
    is_send_sync::<CycleStep>();
    is_send_sync::<ReportKind>();
    is_send_sync::<DeadlockPolicy>();
}

#[test]
fn errors_are_send_sync_errors() {
    is_error::<AcquireError>();
    is_error::<ReleaseError>();
    is_error::<BrokenBarrier>();
    is_error::<ZeroParties>();
    is_send_sync::<BreakCause>();

    let boxed: Box<dyn Error + Send + Sync> = Box::new(ZeroParties);
    assert!(!boxed.to_string().is_empty());
    let barrier = Barrier::new(1).unwrap();
    barrier.abort();
    let boxed: Box<dyn Error + Send + Sync> = Box::new(barrier.wait().unwrap_err());
    assert!(boxed.to_string().contains("aborted"));
}

#[test]
fn rlock_guard_is_not_send() {
    // Compiles only if RLockGuard<'_, u32> is not Send.
    <RLockGuard<'static, u32> as AmbiguousIfSend<_>>::some_item();
    // Shared access from the owning thread is fine.
    is_sync::<RLockGuard<'static, u32>>();
    is_send::<Lock<Cell<u32>>>();
}

#[test]
fn lock_and_condition_guards_are_not_send() {
    // A guard is released by the thread that took it, whatever features parking_lot is built
    // with (deadlock detection keeps a per-thread record of what each thread holds).
    <LockGuard<'static, u32> as AmbiguousIfSend<_>>::some_item();
    <ConditionGuard<'static, u32> as AmbiguousIfSend<_>>::some_item();
    is_sync::<LockGuard<'static, u32>>();
    is_sync::<ConditionGuard<'static, u32>>();
}
