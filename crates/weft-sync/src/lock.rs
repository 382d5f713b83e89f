//! [`Lock`]: Python's `threading.Lock`, owning the data it protects.

use std::fmt;
use std::ops::{Deref, DerefMut};
#[cfg(feature = "deadlock-detection")]
use std::panic::Location;
use std::time::Duration;

#[cfg(feature = "deadlock-detection")]
use crate::lockdep;
use crate::lockdep::{Dep, LockMeta};
use crate::raw::types;

/// A mutual-exclusion lock that owns the data it protects: Python's `threading.Lock`.
///
/// [`acquire`](Lock::acquire) returns a [`LockGuard`]; the data is reachable only through the guard,
/// and dropping the guard (or calling [`LockGuard::release`]) releases the lock. A thread that
/// acquires a `Lock` it already holds deadlocks, as in Python; use [`RLock`](crate::RLock) for
/// re-entry. Unlike Python, another thread cannot release the lock: signalling between threads is
/// what [`Semaphore`](crate::Semaphore) is for.
///
/// Built on parking_lot's design, on `parking_lot_core`: one byte of state, an uncontended
/// acquire is one atomic compare-and-swap, a contended one spins briefly and then parks. A timed
/// acquire spins without yielding the core before it parks with its deadline, so it ends near its
/// timeout on a busy machine too (parking_lot's own yields first, tens of milliseconds there).
/// Waiters are not served in strict FIFO order, but eventual fairness hands the lock over fairly
/// every 0.5 ms on average, so no thread starves.
///
/// ```
/// use std::sync::Arc;
/// use weft_sync::Lock;
///
/// let counter = Arc::new(Lock::new(0));
/// let handles: Vec<_> = (0..4)
///     .map(|_| {
///         let counter = Arc::clone(&counter);
///         std::thread::spawn(move || {
///             for _ in 0..1000 {
///                 *counter.acquire() += 1;
///             }
///         })
///     })
///     .collect();
/// for h in handles {
///     h.join().unwrap();
/// }
/// assert_eq!(*counter.acquire(), 4000);
/// ```
pub struct Lock<T: ?Sized> {
    /// The lock's class for deadlock detection (zero-sized without the feature).
    #[cfg_attr(
        not(feature = "deadlock-detection"),
        allow(dead_code, reason = "read only by deadlock detection")
    )]
    dep: LockMeta,
    inner: types::Mutex<T>,
}

/// Holds a [`Lock`] and gives access to its data; releases the lock when dropped.
///
/// ```
/// let lock = weft_sync::Lock::new(vec![1]);
/// let mut guard = lock.acquire();
/// guard.push(2);
/// guard.release(); // the same as drop(guard)
/// assert_eq!(*lock.acquire(), [1, 2]);
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LockGuard<'a, T: ?Sized> {
    // Declared first: the detector's record of the hold goes before the lock is released.
    _dep: Dep<'a>,
    inner: types::MutexGuard<'a, T>,
}

impl<T> Lock<T> {
    /// Creates an unlocked lock that protects `value`.
    ///
    /// ```
    /// let lock = weft_sync::Lock::new(5);
    /// assert!(!lock.locked());
    /// ```
    #[cfg_attr(feature = "deadlock-detection", track_caller)]
    pub const fn new(value: T) -> Self {
        Self {
            dep: LockMeta::new(),
            inner: types::Mutex::new(value),
        }
    }

    /// Creates a lock whose deadlock-detection class is `name` instead of the place it is
    /// created at: locks with one name are one class. Without the `deadlock-detection` feature
    /// the name is not stored.
    ///
    /// ```
    /// let accounts = weft_sync::Lock::named("accounts", 0);
    /// assert_eq!(*accounts.acquire(), 0);
    /// ```
    pub const fn named(name: &'static str, value: T) -> Self {
        Self {
            dep: LockMeta::named(name),
            inner: types::Mutex::new(value),
        }
    }

    /// Consumes the lock and returns the data.
    ///
    /// ```
    /// assert_eq!(weft_sync::Lock::new(5).into_inner(), 5);
    /// ```
    pub fn into_inner(self) -> T {
        self.inner.into_inner()
    }
}

impl<T: ?Sized> Lock<T> {
    /// Acquires the lock, blocking until it is free (Python's `acquire()` / `with lock:`).
    ///
    /// ```
    /// let lock = weft_sync::Lock::new(1);
    /// *lock.acquire() += 1;
    /// assert_eq!(*lock.acquire(), 2);
    /// ```
    #[inline]
    #[cfg_attr(feature = "deadlock-detection", track_caller)]
    pub fn acquire(&self) -> LockGuard<'_, T> {
        self.acquire_level(0)
    }

    /// Acquires the lock as nesting level `level` of its class: for taking two locks of one
    /// class (created at the same place) one inside the other in a fixed order, which deadlock
    /// detection otherwise reports as a cycle of the class with itself (the kernel's
    /// `mutex_lock_nested`). Level 0 is [`acquire`](Lock::acquire). Without the
    /// `deadlock-detection` feature it is `acquire`.
    ///
    /// Each level is a class of its own, kept for the life of the process. Hand-over-hand
    /// traversal (take the next node, then let the previous one go) with levels alternating 0
    /// and 1 is still reported as a cycle, as by the kernel's lockdep: it takes level 1 under
    /// level 0 and then level 0 under level 1. Give each depth its own level, or take such a
    /// chain without the detector's help.
    ///
    /// ```
    /// // Both created by one line: one class.
    /// let nodes: Vec<weft_sync::Lock<u32>> = (0..2).map(|n| weft_sync::Lock::new(n)).collect();
    /// let parent = nodes[0].acquire();
    /// let child = nodes[1].acquire_nested(1);
    /// assert_eq!(*parent + *child, 1);
    /// ```
    #[inline]
    #[cfg_attr(feature = "deadlock-detection", track_caller)]
    pub fn acquire_nested(&self, level: u32) -> LockGuard<'_, T> {
        self.acquire_level(level)
    }

    #[inline]
    #[cfg_attr(feature = "deadlock-detection", track_caller)]
    fn acquire_level(&self, level: u32) -> LockGuard<'_, T> {
        #[cfg(feature = "deadlock-detection")]
        let (inner, dep) = {
            let a = self.acquire_site(level, Location::caller());
            lockdep::lock(
                a,
                None,
                || self.inner.try_lock(),
                |d| self.inner.try_lock_within(d),
            )
            .unwrap_or_else(|| (self.inner.lock(), a.untracked()))
        };
        #[cfg(not(feature = "deadlock-detection"))]
        let (inner, dep) = {
            let _ = level;
            (self.inner.lock(), Dep::NONE)
        };
        LockGuard { _dep: dep, inner }
    }

    #[cfg(feature = "deadlock-detection")]
    fn addr(&self) -> usize {
        (self as *const Self).cast::<()>() as usize
    }

    #[cfg(feature = "deadlock-detection")]
    fn acquire_site(&self, level: u32, at: &'static Location<'static>) -> lockdep::Acquire<'_> {
        lockdep::Acquire {
            meta: &self.dep,
            addr: self.addr(),
            level,
            reentrant: false,
            at,
        }
    }

    /// Acquires the lock if it is free right now, without blocking
    /// (Python's `acquire(blocking=False)`).
    ///
    /// ```
    /// let lock = weft_sync::Lock::new(());
    /// let held = lock.acquire();
    /// assert!(lock.try_acquire().is_none());
    /// drop(held);
    /// assert!(lock.try_acquire().is_some());
    /// ```
    #[inline]
    #[cfg_attr(feature = "deadlock-detection", track_caller)]
    #[must_use = "the lock is released at once if the guard is dropped"]
    pub fn try_acquire(&self) -> Option<LockGuard<'_, T>> {
        let inner = self.inner.try_lock()?;
        #[cfg(feature = "deadlock-detection")]
        let dep = lockdep::lock_tried(&self.dep, self.addr(), Location::caller());
        #[cfg(not(feature = "deadlock-detection"))]
        let dep = Dep::NONE;
        Some(LockGuard { _dep: dep, inner })
    }

    /// Acquires the lock, waiting at most `timeout` (Python's `acquire(timeout=...)`). A zero
    /// timeout tries once; `Duration::MAX` waits forever.
    ///
    /// ```
    /// use std::time::Duration;
    /// let lock = weft_sync::Lock::new(());
    /// let held = lock.acquire();
    /// assert!(lock.acquire_timeout(Duration::from_millis(10)).is_none());
    /// drop(held);
    /// assert!(lock.acquire_timeout(Duration::from_millis(10)).is_some());
    /// ```
    #[inline]
    #[cfg_attr(feature = "deadlock-detection", track_caller)]
    #[must_use = "the lock is released at once if the guard is dropped"]
    pub fn acquire_timeout(&self, timeout: Duration) -> Option<LockGuard<'_, T>> {
        #[cfg(feature = "deadlock-detection")]
        {
            let a = self.acquire_site(0, Location::caller());
            lockdep::lock(
                a,
                Some(timeout),
                || self.inner.try_lock(),
                |d| self.inner.try_lock_within(d),
            )
            .map(|(inner, dep)| LockGuard { _dep: dep, inner })
        }
        #[cfg(not(feature = "deadlock-detection"))]
        self.inner.try_lock_within(timeout).map(|inner| LockGuard {
            _dep: Dep::NONE,
            inner,
        })
    }

    /// Whether some thread holds the lock right now (Python's `locked()`); only a hint, since it
    /// may change at once.
    ///
    /// ```
    /// let lock = weft_sync::Lock::new(());
    /// let g = lock.acquire();
    /// assert!(lock.locked());
    /// drop(g);
    /// assert!(!lock.locked());
    /// ```
    #[inline]
    pub fn locked(&self) -> bool {
        self.inner.is_locked()
    }

    /// Mutable access to the data without locking: `&mut self` proves no other thread holds it.
    ///
    /// ```
    /// let mut lock = weft_sync::Lock::new(1);
    /// *lock.get_mut() = 2;
    /// assert_eq!(*lock.acquire(), 2);
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        self.inner.get_mut()
    }
}

impl<T: Default> Default for Lock<T> {
    #[cfg_attr(feature = "deadlock-detection", track_caller)]
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T> From<T> for Lock<T> {
    #[cfg_attr(feature = "deadlock-detection", track_caller)]
    fn from(value: T) -> Self {
        Self::new(value)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Lock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Lock");
        match self.inner.try_lock() {
            Some(guard) => d.field("data", &&*guard),
            None => d.field("data", &format_args!("<locked>")),
        };
        d.finish()
    }
}

impl<T: ?Sized> LockGuard<'_, T> {
    /// Releases the lock (Python's `release()`); the same as dropping the guard.
    ///
    /// ```
    /// let lock = weft_sync::Lock::new(());
    /// let guard = lock.acquire();
    /// guard.release();
    /// assert!(!lock.locked());
    /// ```
    pub fn release(self) {}
}

impl<T: ?Sized> Deref for LockGuard<'_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<T: ?Sized> DerefMut for LockGuard<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        &mut self.inner
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for LockGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// A timed try of the locks where zero only tries: their timed lock spins before it looks at
/// the time, so a release made after a zero-timeout call would count (for `Lock`, `RLock` and
/// `Condition`, whose docs say zero tries once).
pub(crate) trait TryLockWithin {
    /// The lock's guard.
    type Guard<'a>
    where
        Self: 'a;

    /// `try_lock` for a zero `timeout`, else `try_lock_for(timeout)`.
    fn try_lock_within(&self, timeout: Duration) -> Option<Self::Guard<'_>>;
}

// Over any raw lock: `Lock`'s and `Condition`'s are the same type, except under the models.
impl<R, T> TryLockWithin for lock_api::Mutex<R, T>
where
    R: lock_api::RawMutexTimed<Duration = Duration>,
    T: ?Sized,
{
    type Guard<'a>
        = lock_api::MutexGuard<'a, R, T>
    where
        Self: 'a;

    fn try_lock_within(&self, timeout: Duration) -> Option<Self::Guard<'_>> {
        if timeout.is_zero() {
            self.try_lock()
        } else {
            self.try_lock_for(timeout)
        }
    }
}

impl<T: ?Sized> TryLockWithin for types::ReentrantMutex<T> {
    type Guard<'a>
        = types::ReentrantMutexGuard<'a, T>
    where
        Self: 'a;

    fn try_lock_within(&self, timeout: Duration) -> Option<Self::Guard<'_>> {
        if timeout.is_zero() {
            self.try_lock()
        } else {
            self.try_lock_for(timeout)
        }
    }
}
