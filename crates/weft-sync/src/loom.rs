//! A private shim that swaps the atomics, `Arc`, `Mutex` and `Condvar` used by weft's own wait logic
//! for loom's model-checked versions under `--cfg weft_loom` (the shape of tokio's `loom` module).
//!
//! Outside loom the mutex and condition variable are parking_lot's. The API is value-style
//! (`wait` takes the guard and gives it back) so that both backends fit it.

use std::time::Instant;

#[cfg(not(weft_loom))]
mod imp {
    use std::time::Instant;

    pub(crate) use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
    pub(crate) use std::sync::Arc;

    pub(crate) type MutexGuard<'a, T> = parking_lot::MutexGuard<'a, T>;

    #[derive(Debug, Default)]
    pub(crate) struct Mutex<T>(parking_lot::Mutex<T>);

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Self(parking_lot::Mutex::new(value))
        }

        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            self.0.lock()
        }
    }

    #[derive(Debug, Default)]
    pub(crate) struct Condvar(parking_lot::Condvar);

    impl Condvar {
        pub(crate) fn new() -> Self {
            Self(parking_lot::Condvar::new())
        }

        /// Waits until notified or until `deadline` (never, for `None`); returns the guard and
        /// whether the wait timed out.
        pub(crate) fn wait_until<'a, T>(
            &self,
            mut guard: MutexGuard<'a, T>,
            deadline: Option<Instant>,
        ) -> (MutexGuard<'a, T>, bool) {
            let timed_out = match deadline {
                None => {
                    self.0.wait(&mut guard);
                    false
                }
                Some(deadline) => self.0.wait_until(&mut guard, deadline).timed_out(),
            };
            (guard, timed_out)
        }

        pub(crate) fn notify_one(&self) {
            self.0.notify_one();
        }

        pub(crate) fn notify_all(&self) {
            self.0.notify_all();
        }
    }

    pub(crate) type ThreadId = std::thread::ThreadId;

    /// The calling thread's id.
    pub(crate) fn thread_id() -> ThreadId {
        std::thread::current().id()
    }

    pub(crate) const MODEL: bool = false;
}

#[cfg(weft_loom)]
mod imp {
    use std::time::Instant;

    pub(crate) use ::loom::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
    pub(crate) use ::loom::sync::Arc;

    pub(crate) type MutexGuard<'a, T> = ::loom::sync::MutexGuard<'a, T>;

    #[derive(Debug)]
    pub(crate) struct Mutex<T>(::loom::sync::Mutex<T>);

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Self(::loom::sync::Mutex::new(value))
        }

        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            // No code run under these mutexes panics, so they are never poisoned.
            self.0.lock().unwrap_or_else(|e| e.into_inner())
        }
    }

    #[derive(Debug)]
    pub(crate) struct Condvar(::loom::sync::Condvar);

    impl Condvar {
        pub(crate) fn new() -> Self {
            Self(::loom::sync::Condvar::new())
        }

        /// loom does not model time: a timed wait is an untimed wait that never times out, so the
        /// models only exercise timeouts that some notification ends.
        pub(crate) fn wait_until<'a, T>(
            &self,
            guard: MutexGuard<'a, T>,
            _deadline: Option<Instant>,
        ) -> (MutexGuard<'a, T>, bool) {
            (self.0.wait(guard).unwrap_or_else(|e| e.into_inner()), false)
        }

        pub(crate) fn notify_one(&self) {
            self.0.notify_one();
        }

        pub(crate) fn notify_all(&self) {
            self.0.notify_all();
        }
    }

    pub(crate) type ThreadId = ::loom::thread::ThreadId;

    /// The calling (model) thread's id.
    pub(crate) fn thread_id() -> ThreadId {
        ::loom::thread::current().id()
    }

    pub(crate) const MODEL: bool = true;
}

pub(crate) use imp::*;

/// The spin budget before a blocking primitive parks its thread.
///
/// On the 2-vCPU VMs weft is measured on, waking a parked thread costs about 25 µs while a
/// cache-line round trip costs 0.4 µs, so a waiter first spins: `SPIN_ROUNDS` rounds of
/// exponentially more `spin_loop` hints (1, 2, 4 … 64: 127 in all, roughly 2–4 µs), then up to
/// `YIELDS` calls to `thread::yield_now` (each lets another runnable thread have the core), and only
/// then parks. Under loom the budget is zero: every wait parks, which is the path worth modelling.
pub(crate) const SPIN_ROUNDS: u32 = 7;
/// See [`SPIN_ROUNDS`].
pub(crate) const YIELDS: u32 = 16;

/// Spins within weft's budget until `done()` is true; returns whether it became true. The wait
/// that weft's blocking primitives do before they park, for crates built on them (weft-executor's
/// futures and workers use it); under `--cfg weft_loom` it only checks once.
///
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering};
/// let flag = AtomicBool::new(true);
/// assert!(weft_sync::spin_until(|| flag.load(Ordering::Acquire)));
/// ```
#[inline]
pub fn spin_until(mut done: impl FnMut() -> bool) -> bool {
    if MODEL {
        return done();
    }
    if spin_rounds(&mut done) {
        return true;
    }
    for _ in 0..YIELDS {
        std::thread::yield_now();
        if done() {
            return true;
        }
    }
    false
}

/// [`spin_until`] for a wait with a deadline (`None`: none, the same as `spin_until`): only the
/// `spin_loop` rounds (a few microseconds), no `thread::yield_now`. On a busy machine each yield
/// can hand the core away for a whole time slice, milliseconds, so sixteen of them overran a
/// 1 ms timeout tenfold; a timed wait parks with its timeout instead, as std's `park_timeout`.
///
/// ```
/// use std::time::{Duration, Instant};
/// let soon = Instant::now() + Duration::from_millis(1);
/// assert!(!weft_sync::spin_until_deadline(Some(soon), || false));
/// ```
#[inline]
pub fn spin_until_deadline(deadline: Option<Instant>, mut done: impl FnMut() -> bool) -> bool {
    if deadline.is_none() {
        return spin_until(done);
    }
    if MODEL {
        return done();
    }
    spin_rounds(&mut done)
}

/// The `SPIN_ROUNDS` rounds of `spin_loop` hints, `done()` checked after each.
#[inline]
fn spin_rounds(done: &mut impl FnMut() -> bool) -> bool {
    for round in 0..SPIN_ROUNDS {
        for _ in 0..(1u32 << round) {
            std::hint::spin_loop();
        }
        if done() {
            return true;
        }
    }
    false
}

/// Marks the state word `state`, last read as `cur`, as having parked waiters by setting `bit`;
/// returns `false` if the word changed since it was read (the caller then reads it again).
/// Call it holding the lock that the wakers take to notify.
#[inline]
pub(crate) fn mark_parked(state: &AtomicUsize, cur: usize, bit: usize) -> bool {
    cur & bit != 0
        || state
            .compare_exchange(cur, cur | bit, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
}

/// The instant `timeout` from now, or `None` ("wait forever") when that instant is not
/// representable, as for `Duration::MAX` (std's `Instant + Duration` would panic there).
#[inline]
pub(crate) fn deadline(timeout: std::time::Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}

/// Whether `deadline` has passed already.
#[inline]
pub(crate) fn expired(deadline: Option<Instant>) -> bool {
    deadline.is_some_and(|d| d <= Instant::now())
}
