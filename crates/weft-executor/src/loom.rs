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

    pub(crate) const MODEL: bool = false;

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

    pub(crate) const MODEL: bool = true;

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

    /// A new [`Shared`] value.
    pub(crate) fn shared<T>(value: T) -> Shared<T> {
        Mutex::new(RefCell::new(value))
    }
}

pub(crate) use imp::*;

/// The spin budget before a waiter parks its thread (as in weft-sync): on the 2-vCPU VMs weft is
/// measured on, waking a parked thread costs about 25 µs, so a waiter first spins with
/// exponentially more `spin_loop` hints (127 in all, a few µs), then yields the core up to
/// `YIELDS` times, and only then parks. Under loom the budget is zero.
const SPIN_ROUNDS: u32 = 7;
/// See [`SPIN_ROUNDS`].
const YIELDS: u32 = 16;

/// Spins within the budget until `done()` is true; returns whether it became true.
#[inline]
pub(crate) fn spin_until(mut done: impl FnMut() -> bool) -> bool {
    if MODEL {
        return done();
    }
    for round in 0..SPIN_ROUNDS {
        for _ in 0..(1u32 << round) {
            std::hint::spin_loop();
        }
        if done() {
            return true;
        }
    }
    for _ in 0..YIELDS {
        std::thread::yield_now();
        if done() {
            return true;
        }
    }
    false
}
