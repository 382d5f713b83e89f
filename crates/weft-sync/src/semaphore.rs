//! [`Semaphore`] and [`BoundedSemaphore`]: Python's counting semaphores, blocking.

use std::fmt;
use std::time::{Duration, Instant};

use crate::error::{AcquireError, ReleaseError};
use crate::loom::{
    deadline, expired, mark_parked, spin_until_deadline, AtomicUsize, Condvar, Mutex, Ordering,
};

/// The bit of `RawSemaphore::state` that says threads are parked; the permits are the bits above.
const PARKED: usize = 1;
/// One permit in `RawSemaphore::state`.
const ONE: usize = 2;

/// The state and wait logic shared by [`Semaphore`] and [`BoundedSemaphore`].
///
/// `state` holds the permit count (shifted left by one) and the `PARKED` bit. Taking permits is a
/// compare-and-swap on it, so an uncontended acquire+release is two atomic operations and no lock.
/// A thread that finds too few permits spins within the budget of [`crate::loom::spin_until`],
/// then, holding `lock`, sets `PARKED` with a compare-and-swap that fails if the permits changed,
/// and parks on `cv`. A release adds its permits with a compare-and-swap on the same word and so
/// sees `PARKED` if any waiter set it first; it then notifies under `lock`, which the waiter gives
/// up only inside `wait`: no wake-up can be lost. Keeping both in one word makes the protocol
/// independent of `SeqCst` store-load ordering. The last waiter to leave clears `PARKED`.
struct RawSemaphore {
    state: AtomicUsize,
    /// The most permits the semaphore can hold.
    max: usize,
    lock: Mutex<Parked>,
    cv: Condvar,
}

#[derive(Default)]
struct Parked {
    /// Threads in the slow path (`u32` keeps the semaphore as small as tokio's).
    waiters: u32,
    /// Of those, the ones that want more than one permit: while there are any, a release wakes
    /// everyone, since waking one might pick a waiter that still cannot proceed.
    many: u32,
}

/// The most permits a semaphore can hold (one bit of the state word is the `PARKED` flag).
const MAX_PERMITS: usize = usize::MAX >> 1;

impl RawSemaphore {
    fn new(value: usize, max: usize) -> Self {
        Self {
            state: AtomicUsize::new(value << 1),
            max,
            lock: Mutex::new(Parked::default()),
            cv: Condvar::new(),
        }
    }

    #[inline]
    fn available(&self) -> usize {
        self.state.load(Ordering::Relaxed) >> 1
    }

    #[inline]
    fn try_take(&self, n: usize) -> bool {
        let mut cur = self.state.load(Ordering::Relaxed);
        loop {
            if cur >> 1 < n {
                return false;
            }
            match self.state.compare_exchange_weak(
                cur,
                cur - n * ONE,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => cur = now,
            }
        }
    }

    fn check_count(&self, n: usize) -> Result<(), AcquireError> {
        if n == 0 || n > self.max {
            Err(AcquireError::InvalidCount {
                requested: n,
                max: self.max,
            })
        } else {
            Ok(())
        }
    }

    /// Takes `n` permits, waiting until `deadline` (forever for `None`); returns whether it took
    /// them.
    #[inline]
    fn take(&self, n: usize, deadline: Option<Instant>) -> bool {
        if self.try_take(n) {
            return true;
        }
        if expired(deadline) {
            return false;
        }
        if spin_until_deadline(deadline, || self.try_take(n)) {
            return true;
        }
        self.take_slow(n, deadline)
    }

    #[cold]
    fn take_slow(&self, n: usize, deadline: Option<Instant>) -> bool {
        let mut parked = self.lock.lock();
        parked.waiters += 1;
        if n > 1 {
            parked.many += 1;
        }
        let taken = loop {
            let cur = self.state.load(Ordering::Relaxed);
            if cur >> 1 >= n {
                if self
                    .state
                    .compare_exchange(cur, cur - n * ONE, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                {
                    break true;
                }
                continue;
            }
            if !mark_parked(&self.state, cur, PARKED) {
                continue;
            }
            let (guard, timed_out) = self.cv.wait_until(parked, deadline);
            parked = guard;
            if timed_out {
                break self.try_take(n);
            }
        };
        parked.waiters -= 1;
        if n > 1 {
            parked.many -= 1;
        }
        if parked.waiters == 0 {
            self.state.fetch_and(!PARKED, Ordering::Relaxed);
        }
        taken
    }

    /// Adds `n` permits if that stays within `max`; otherwise, with `saturate`, fills up to `max`,
    /// and without it changes nothing and fails.
    #[inline]
    fn give(&self, n: usize, saturate: bool) -> Result<(), ReleaseError> {
        if n == 0 {
            return Err(ReleaseError::ZeroPermits);
        }
        let mut cur = self.state.load(Ordering::Relaxed);
        loop {
            let permits = match (cur >> 1).checked_add(n) {
                Some(new) if new <= self.max => new,
                _ if saturate => self.max,
                _ => {
                    return Err(ReleaseError::TooManyReleases {
                        released: n,
                        max: self.max,
                    })
                }
            };
            match self.state.compare_exchange_weak(
                cur,
                permits << 1 | (cur & PARKED),
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(now) => cur = now,
            }
        }
        if cur & PARKED != 0 {
            self.wake(n);
        }
        Ok(())
    }

    #[cold]
    fn wake(&self, n: usize) {
        let parked = self.lock.lock();
        if parked.many > 0 || n > 1 {
            self.cv.notify_all();
        } else {
            self.cv.notify_one();
        }
    }
}

macro_rules! semaphore_common {
    ($ty:ident, bounded: $bounded:expr) => {
        impl $ty {
            /// Takes one permit, blocking until one is available (Python's `acquire()` /
            /// `with sem:`). The permit is given back when the returned guard is dropped.
            ///
            /// ```
            #[doc = concat!("let sem = weft_sync::", stringify!($ty), "::new(1);")]
            /// let permit = sem.acquire();
            /// assert_eq!(sem.available(), 0);
            /// drop(permit);
            /// assert_eq!(sem.available(), 1);
            /// ```
            #[inline]
            pub fn acquire(&self) -> SemaphorePermit<'_> {
                self.raw.take(1, None);
                SemaphorePermit {
                    sem: &self.raw,
                    n: 1,
                }
            }

            /// Takes one permit if one is available right now
            /// (Python's `acquire(blocking=False)`).
            ///
            /// ```
            #[doc = concat!("let sem = weft_sync::", stringify!($ty), "::new(1);")]
            /// let first = sem.try_acquire();
            /// assert!(first.is_some());
            /// assert!(sem.try_acquire().is_none());
            /// ```
            #[inline]
            #[must_use = "the permits are given back at once if the guard is dropped"]
            pub fn try_acquire(&self) -> Option<SemaphorePermit<'_>> {
                self.raw.try_take(1).then(|| SemaphorePermit {
                    sem: &self.raw,
                    n: 1,
                })
            }

            /// Takes one permit, waiting at most `timeout` (Python's `acquire(timeout=...)`).
            /// A zero timeout tries once; `Duration::MAX` waits forever.
            ///
            /// ```
            /// use std::time::Duration;
            #[doc = concat!("let sem = weft_sync::", stringify!($ty), "::new(1);")]
            /// let held = sem.acquire();
            /// assert!(sem.acquire_timeout(Duration::from_millis(5)).is_none());
            /// ```
            #[must_use = "the permits are given back at once if the guard is dropped"]
            pub fn acquire_timeout(&self, timeout: Duration) -> Option<SemaphorePermit<'_>> {
                self.raw
                    .take(1, deadline(timeout))
                    .then(|| SemaphorePermit {
                        sem: &self.raw,
                        n: 1,
                    })
            }

            /// Takes `n` permits at once, blocking until all `n` are available.
            ///
            /// # Errors
            /// [`AcquireError::InvalidCount`], without blocking, for `n == 0` or for more permits
            /// than the semaphore can ever hold.
            ///
            /// ```
            #[doc = concat!("let sem = weft_sync::", stringify!($ty), "::new(3);")]
            /// let two = sem.acquire_many(2).unwrap();
            /// assert_eq!(sem.available(), 1);
            /// assert!(sem.acquire_many(0).is_err());
            /// ```
            pub fn acquire_many(&self, n: usize) -> Result<SemaphorePermit<'_>, AcquireError> {
                self.raw.check_count(n)?;
                self.raw.take(n, None);
                Ok(SemaphorePermit { sem: &self.raw, n })
            }

            /// Takes `n` permits if all are available right now.
            ///
            /// # Errors
            /// [`AcquireError::NoPermits`] when fewer than `n` are available;
            /// [`AcquireError::InvalidCount`] as for [`acquire_many`](Self::acquire_many).
            ///
            /// ```
            #[doc = concat!("let sem = weft_sync::", stringify!($ty), "::new(3);")]
            /// let three = sem.try_acquire_many(3).unwrap();
            /// assert!(sem.try_acquire_many(1).is_err());
            /// ```
            pub fn try_acquire_many(&self, n: usize) -> Result<SemaphorePermit<'_>, AcquireError> {
                self.raw.check_count(n)?;
                if self.raw.try_take(n) {
                    Ok(SemaphorePermit { sem: &self.raw, n })
                } else {
                    Err(AcquireError::NoPermits)
                }
            }

            /// Takes `n` permits, waiting at most `timeout` for all of them. Waiting for several
            /// permits never holds some of them: they are taken all at once.
            ///
            /// # Errors
            /// [`AcquireError::Timeout`] when the `n` permits are not available in time;
            /// [`AcquireError::InvalidCount`], without waiting, as for
            /// [`acquire_many`](Self::acquire_many).
            ///
            /// ```
            /// use std::time::Duration;
            #[doc = concat!("let sem = weft_sync::", stringify!($ty), "::new(2);")]
            /// let both = sem.acquire_many_timeout(2, Duration::from_millis(5)).unwrap();
            /// assert!(sem.acquire_many_timeout(1, Duration::ZERO).is_err());
            /// ```
            pub fn acquire_many_timeout(
                &self,
                n: usize,
                timeout: Duration,
            ) -> Result<SemaphorePermit<'_>, AcquireError> {
                self.raw.check_count(n)?;
                if self.raw.take(n, deadline(timeout)) {
                    Ok(SemaphorePermit { sem: &self.raw, n })
                } else {
                    Err(AcquireError::Timeout)
                }
            }

            /// Under `--cfg weft_loom` only, for the models: the threads counted in the slow
            /// path, those of them that want more than one permit, and whether the state word
            /// says threads are parked (all zero once no thread waits).
            #[cfg(weft_loom)]
            #[doc(hidden)]
            pub fn counted_waiters(&self) -> (u32, u32, bool) {
                let parked = self.raw.lock.lock();
                let bit = self.raw.state.load(Ordering::SeqCst) & PARKED != 0;
                (parked.waiters, parked.many, bit)
            }

            /// The number of permits available right now; only a hint, since it may change at
            /// once.
            ///
            /// ```
            #[doc = concat!("let sem = weft_sync::", stringify!($ty), "::new(2);")]
            /// assert_eq!(sem.available(), 2);
            /// ```
            #[inline]
            pub fn available(&self) -> usize {
                self.raw.available()
            }
        }

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let mut d = f.debug_struct(stringify!($ty));
                d.field("available", &self.available());
                // A `Semaphore`'s limit is `MAX_PERMITS`, not one the user chose.
                if $bounded {
                    d.field("max", &self.raw.max);
                }
                d.finish()
            }
        }
    };
}

/// A counting semaphore: at most `value` permits are out at once (Python's `threading.Semaphore`).
///
/// [`acquire`](Semaphore::acquire) returns a [`SemaphorePermit`] that gives its permit back when
/// dropped, the `with sem:` form. For Python's explicit style, where one thread acquires and another
/// releases (a semaphore is weft's way to signal between threads, since a [`Lock`](crate::Lock)
/// cannot be released by another thread), call [`SemaphorePermit::forget`] and later
/// [`release`](Semaphore::release).
///
/// **Order:** waiters are not served in FIFO order. A released permit goes to whichever thread
/// takes it first, a running thread before a parked one (barging), which is what makes handoff
/// fast; under sustained contention a waiter can be overtaken many times. Python's `Semaphore`
/// makes no FIFO promise either.
///
/// **Waiting:** an uncontended acquire+release is two atomic operations. A waiter spins briefly
/// (127 `spin_loop` hints, then, without a timeout, up to 16 `yield_now` calls) before it parks;
/// parked waiters cost no memory beyond the thread's own parking slot.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
/// use weft_sync::Semaphore;
///
/// let sem = Arc::new(Semaphore::new(2));
/// let inside = Arc::new(AtomicUsize::new(0));
/// let handles: Vec<_> = (0..6)
///     .map(|_| {
///         let (sem, inside) = (Arc::clone(&sem), Arc::clone(&inside));
///         std::thread::spawn(move || {
///             let _permit = sem.acquire();
///             let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
///             assert!(now <= 2, "at most two at once");
///             inside.fetch_sub(1, Ordering::SeqCst);
///         })
///     })
///     .collect();
/// for h in handles {
///     h.join().unwrap();
/// }
/// ```
pub struct Semaphore {
    raw: RawSemaphore,
}

semaphore_common!(Semaphore, bounded: false);

impl Semaphore {
    /// The most permits a semaphore can hold: `usize::MAX / 2` (one bit of the state word is a
    /// flag). Larger values passed to `new` are lowered to it.
    ///
    /// ```
    /// let sem = weft_sync::Semaphore::new(usize::MAX);
    /// assert_eq!(sem.available(), weft_sync::Semaphore::MAX_PERMITS);
    /// ```
    pub const MAX_PERMITS: usize = MAX_PERMITS;

    /// Creates a semaphore holding `value` permits. Zero is allowed and common: the semaphore then
    /// starts "closed" and each [`release`](Self::release) lets one waiter through. A value above
    /// [`MAX_PERMITS`](Self::MAX_PERMITS) is lowered to it.
    ///
    /// ```
    /// let sem = weft_sync::Semaphore::new(0);
    /// assert!(sem.try_acquire().is_none());
    /// sem.release(1).unwrap();
    /// assert!(sem.try_acquire().is_some());
    /// ```
    pub fn new(value: usize) -> Self {
        Self {
            raw: RawSemaphore::new(value.min(MAX_PERMITS), MAX_PERMITS),
        }
    }

    /// Adds `n` permits, waking waiters that can now proceed (Python's `release(n)`). Any thread
    /// may release, whether or not it acquired.
    ///
    /// # Errors
    /// Nothing is released on error. [`ReleaseError::ZeroPermits`] for `n == 0` (Python's
    /// `ValueError`); [`ReleaseError::TooManyReleases`] when the count would pass
    /// [`MAX_PERMITS`](Self::MAX_PERMITS).
    ///
    /// ```
    /// let sem = weft_sync::Semaphore::new(0);
    /// sem.release(2).unwrap();
    /// assert_eq!(sem.available(), 2);
    /// assert!(sem.release(usize::MAX).is_err());
    /// ```
    pub fn release(&self, n: usize) -> Result<(), ReleaseError> {
        self.raw.give(n, false)
    }
}

impl Default for Semaphore {
    /// A semaphore with one permit, as Python's `Semaphore()`.
    fn default() -> Self {
        Self::new(1)
    }
}

/// A semaphore that may never hold more permits than it started with
/// (Python's `threading.BoundedSemaphore`).
///
/// A [`release`](BoundedSemaphore::release) that would go past the initial value is an error
/// ([`ReleaseError::TooManyReleases`], Python's `ValueError`) and changes nothing, which catches
/// the bug of releasing more often than acquiring when the extra release comes while the count is
/// full. A stray `release` while a guard is out cannot be told from the release of a
/// [`forget`](SemaphorePermit::forget)-ed permit, so it succeeds; the guard's drop then caps the
/// count at the bound instead of failing (Python raises `ValueError` at that later release).
/// Asking for more permits than the initial value is [`AcquireError::InvalidCount`], since such
/// a request could never be met. Everything else is as for [`Semaphore`].
///
/// ```
/// use weft_sync::{BoundedSemaphore, ReleaseError};
///
/// let pool = BoundedSemaphore::new(2);
/// pool.acquire().forget();           // Python style: acquire here…
/// pool.release(1).unwrap();           // …release there
/// assert!(matches!(pool.release(1), Err(ReleaseError::TooManyReleases { .. })));
/// assert_eq!(pool.available(), 2);
/// ```
pub struct BoundedSemaphore {
    raw: RawSemaphore,
}

semaphore_common!(BoundedSemaphore, bounded: true);

impl BoundedSemaphore {
    /// Creates a bounded semaphore holding `value` permits, which is also the most it may ever
    /// hold. (`BoundedSemaphore::new(0)` is allowed but can never be acquired; a value above
    /// [`Semaphore::MAX_PERMITS`] is lowered to it.)
    ///
    /// ```
    /// let sem = weft_sync::BoundedSemaphore::new(3);
    /// assert_eq!(sem.max(), 3);
    /// ```
    pub fn new(value: usize) -> Self {
        Self {
            raw: RawSemaphore::new(value.min(MAX_PERMITS), value.min(MAX_PERMITS)),
        }
    }

    /// Gives back `n` permits.
    ///
    /// # Errors
    /// Nothing is released on error. [`ReleaseError::ZeroPermits`] for `n == 0` (Python's
    /// `ValueError`); [`ReleaseError::TooManyReleases`] when the count would exceed the initial
    /// value (Python's `ValueError: Semaphore released too many times`).
    ///
    /// ```
    /// let sem = weft_sync::BoundedSemaphore::new(1);
    /// sem.acquire().forget();
    /// assert!(sem.release(1).is_ok());
    /// assert!(sem.release(1).is_err());
    /// ```
    pub fn release(&self, n: usize) -> Result<(), ReleaseError> {
        self.raw.give(n, false)
    }

    /// The initial value: the most permits this semaphore can hold.
    ///
    /// ```
    /// assert_eq!(weft_sync::BoundedSemaphore::new(4).max(), 4);
    /// ```
    pub fn max(&self) -> usize {
        self.raw.max
    }
}

/// Permits taken from a [`Semaphore`] or [`BoundedSemaphore`], given back when dropped.
///
/// For a `BoundedSemaphore` whose permits were already given back by an explicit `release`, the
/// drop fills the count up to the bound and no further: a drop cannot report an error, so it never
/// pushes the count past the bound.
///
/// ```
/// let sem = weft_sync::Semaphore::new(3);
/// let permit = sem.acquire_many(2).unwrap();
/// assert_eq!(permit.count(), 2);
/// drop(permit);
/// assert_eq!(sem.available(), 3);
/// ```
#[must_use = "the permits are given back as soon as the guard is dropped"]
pub struct SemaphorePermit<'a> {
    sem: &'a RawSemaphore,
    n: usize,
}

impl SemaphorePermit<'_> {
    /// How many permits this guard holds.
    ///
    /// ```
    /// let sem = weft_sync::Semaphore::new(1);
    /// assert_eq!(sem.acquire().count(), 1);
    /// ```
    pub fn count(&self) -> usize {
        self.n
    }

    /// Keeps the permits taken: dropping nothing gives them back. Give them back later with
    /// `release(n)`, from any thread. Returns how many permits were kept.
    ///
    /// ```
    /// let sem = weft_sync::Semaphore::new(1);
    /// assert_eq!(sem.acquire().forget(), 1);
    /// assert_eq!(sem.available(), 0);
    /// sem.release(1).unwrap();
    /// ```
    pub fn forget(self) -> usize {
        let n = self.n;
        std::mem::forget(self);
        n
    }
}

impl Drop for SemaphorePermit<'_> {
    #[inline]
    fn drop(&mut self) {
        // n >= 1 and, for a bounded semaphore, saturating: this cannot fail.
        let _ = self.sem.give(self.n, true);
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit")
            .field("count", &self.n)
            .finish()
    }
}
