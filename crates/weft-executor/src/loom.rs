//! The synchronization primitives the futures are built on, swapped for loom's under
//! `--cfg weft_loom` so `tests/loom.rs` can model-check the wait and completion protocol.

#[cfg(not(weft_loom))]
mod imp {
    pub(crate) use parking_lot::Mutex;
    use std::cell::RefCell;

    /// A value behind a lock that the holding thread may take again (parking_lot's
    /// `ReentrantMutex`), so a done callback can use its own future. Only `T: Send` is needed.
    pub(crate) type Shared<T> = parking_lot::ReentrantMutex<RefCell<T>>;
    pub(crate) use std::sync::atomic::{AtomicU8, Ordering};
    pub(crate) use std::sync::Arc;
    pub(crate) use std::thread::{current, park, park_timeout, Thread};

    /// Locks a mutex (parking_lot's never poisons).
    #[inline]
    pub(crate) fn lock<T>(m: &Mutex<T>) -> parking_lot::MutexGuard<'_, T> {
        m.lock()
    }

    /// Locks a [`Shared`] value (again, if this thread holds it already).
    #[inline]
    pub(crate) fn hold<T>(m: &Shared<T>) -> parking_lot::ReentrantMutexGuard<'_, RefCell<T>> {
        m.lock()
    }

    /// Locks a [`Shared`] value like [`hold`], giving up at `deadline` (`None`: never).
    #[inline]
    pub(crate) fn hold_until<T>(
        m: &Shared<T>,
        deadline: Option<std::time::Instant>,
    ) -> Option<parking_lot::ReentrantMutexGuard<'_, RefCell<T>>> {
        match deadline {
            None => Some(m.lock()),
            Some(deadline) => m.try_lock_until(deadline),
        }
    }

    /// A new [`Shared`] value.
    pub(crate) fn shared<T>(value: T) -> Shared<T> {
        parking_lot::ReentrantMutex::new(RefCell::new(value))
    }
}

#[cfg(weft_loom)]
mod imp {
    pub(crate) use loom::sync::atomic::{AtomicU8, Ordering};
    pub(crate) use loom::sync::{Arc, Mutex};
    use std::cell::RefCell;

    /// Loom has no reentrant mutex; the models never lock it twice in one thread.
    pub(crate) type Shared<T> = Mutex<RefCell<T>>;
    pub(crate) use loom::thread::{current, park, Thread};

    /// Loom has no timed park: a timed wait is modelled as a wait that may end early.
    pub(crate) fn park_timeout(_: std::time::Duration) {
        park();
    }

    /// Locks a mutex; loom's poisons only after a panic, which the models do not have.
    #[inline]
    pub(crate) fn lock<T>(m: &Mutex<T>) -> loom::sync::MutexGuard<'_, T> {
        m.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Locks a [`Shared`] value.
    pub(crate) fn hold<T>(m: &Shared<T>) -> loom::sync::MutexGuard<'_, RefCell<T>> {
        lock(m)
    }

    /// Locks a [`Shared`] value; loom does not model time, so it never gives up.
    pub(crate) fn hold_until<T>(
        m: &Shared<T>,
        _deadline: Option<std::time::Instant>,
    ) -> Option<loom::sync::MutexGuard<'_, RefCell<T>>> {
        Some(lock(m))
    }

    /// A new [`Shared`] value.
    pub(crate) fn shared<T>(value: T) -> Shared<T> {
        Mutex::new(RefCell::new(value))
    }
}

pub(crate) use imp::*;

/// The spin-then-yield budget before a waiter parks (weft-sync's; a single check under loom).
pub(crate) use weft_sync::{spin_until, spin_until_deadline};
