//! [`RLock`]: Python's `threading.RLock`, owning the data it protects.

use std::fmt;
use std::ops::Deref;
#[cfg(feature = "deadlock-detection")]
use std::panic::Location;
use std::time::Duration;

use crate::lock::TryLockWithin;

#[cfg(feature = "deadlock-detection")]
use crate::lockdep;
use crate::lockdep::{Dep, LockMeta};
use crate::raw::types;

/// A reentrant lock: the thread that holds it may acquire it again without deadlocking
/// (Python's `threading.RLock`). It is released when the last of that thread's guards is dropped.
///
/// Because one thread may hold several guards at once, a guard gives shared access (`&T`) only; put
/// a [`Cell`](std::cell::Cell) or [`RefCell`](std::cell::RefCell) inside for mutation, as with
/// `parking_lot::ReentrantMutex`, whose design this shares (on the raw lock of
/// [`Lock`](crate::Lock), whose timed acquire does not yield the core). Releasing from a thread
/// that does not hold the lock (Python's `RuntimeError`) is impossible by construction: release is
/// dropping a guard, and a guard cannot leave its thread (it is not `Send`).
///
/// ```
/// use std::cell::RefCell;
/// use weft_sync::RLock;
///
/// let log = RLock::new(RefCell::new(Vec::new()));
/// fn record(log: &RLock<RefCell<Vec<u32>>>, depth: u32) {
///     let guard = log.acquire(); // re-entered on every level of recursion
///     guard.borrow_mut().push(depth);
///     if depth < 3 {
///         record(log, depth + 1);
///     }
/// }
/// record(&log, 0);
/// assert_eq!(*log.acquire().borrow(), [0, 1, 2, 3]);
/// ```
pub struct RLock<T: ?Sized> {
    /// The lock's class for deadlock detection (zero-sized without the feature).
    #[cfg_attr(
        not(feature = "deadlock-detection"),
        allow(dead_code, reason = "read only by deadlock detection")
    )]
    dep: LockMeta,
    inner: types::ReentrantMutex<T>,
}

/// Holds an [`RLock`] once; the lock is released when the holding thread's last guard is dropped.
///
/// ```
/// let lock = weft_sync::RLock::new(7);
/// let a = lock.acquire();
/// let b = lock.acquire();
/// assert_eq!(*a + *b, 14);
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct RLockGuard<'a, T: ?Sized> {
    // Declared first: the detector's record of the hold goes before the lock is released.
    _dep: Dep<'a>,
    inner: types::ReentrantMutexGuard<'a, T>,
}

impl<T> RLock<T> {
    /// Creates an unlocked reentrant lock that protects `value`.
    ///
    /// ```
    /// let lock = weft_sync::RLock::new(());
    /// assert!(!lock.locked());
    /// ```
    #[cfg_attr(feature = "deadlock-detection", track_caller)]
    pub const fn new(value: T) -> Self {
        Self {
            dep: LockMeta::new(),
            inner: types::ReentrantMutex::new(value),
        }
    }

    /// Creates a reentrant lock whose deadlock-detection class is `name` (see
    /// [`Lock::named`](crate::Lock::named)).
    ///
    /// ```
    /// let registry = weft_sync::RLock::named("registry", ());
    /// let _a = registry.acquire();
    /// ```
    pub const fn named(name: &'static str, value: T) -> Self {
        Self {
            dep: LockMeta::named(name),
            inner: types::ReentrantMutex::new(value),
        }
    }

    /// Consumes the lock and returns the data.
    ///
    /// ```
    /// assert_eq!(weft_sync::RLock::new(3).into_inner(), 3);
    /// ```
    pub fn into_inner(self) -> T {
        self.inner.into_inner()
    }
}

impl<T: ?Sized> RLock<T> {
    /// Acquires the lock, blocking while another thread holds it; returns at once when the
    /// current thread already holds it.
    ///
    /// ```
    /// let lock = weft_sync::RLock::new(());
    /// let _outer = lock.acquire();
    /// let _inner = lock.acquire(); // no deadlock
    /// ```
    #[inline]
    #[cfg_attr(feature = "deadlock-detection", track_caller)]
    pub fn acquire(&self) -> RLockGuard<'_, T> {
        #[cfg(feature = "deadlock-detection")]
        let (inner, dep) = {
            let a = self.acquire_site(0, Location::caller());
            lockdep::lock(
                a,
                None,
                || self.inner.try_lock(),
                |d| self.inner.try_lock_within(d),
            )
            .unwrap_or_else(|| (self.inner.lock(), a.untracked()))
        };
        #[cfg(not(feature = "deadlock-detection"))]
        let (inner, dep) = (self.inner.lock(), Dep::NONE);
        RLockGuard { _dep: dep, inner }
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
            reentrant: true,
            at,
        }
    }

    /// Acquires the lock if it is free or already held by this thread, without blocking.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let lock = Arc::new(weft_sync::RLock::new(()));
    /// let held = lock.acquire();
    /// assert!(lock.try_acquire().is_some()); // same thread: re-entry
    /// let other = Arc::clone(&lock);
    /// assert!(std::thread::spawn(move || other.try_acquire().is_none()).join().unwrap());
    /// drop(held);
    /// ```
    #[inline]
    #[cfg_attr(feature = "deadlock-detection", track_caller)]
    #[must_use = "the lock is released at once if the guard is dropped"]
    pub fn try_acquire(&self) -> Option<RLockGuard<'_, T>> {
        let inner = self.inner.try_lock()?;
        #[cfg(feature = "deadlock-detection")]
        let dep = lockdep::lock_tried(&self.dep, self.addr(), Location::caller());
        #[cfg(not(feature = "deadlock-detection"))]
        let dep = Dep::NONE;
        Some(RLockGuard { _dep: dep, inner })
    }

    /// Acquires the lock, waiting at most `timeout` for another thread to release it. A zero
    /// timeout tries once; `Duration::MAX` waits forever.
    ///
    /// ```
    /// use std::time::Duration;
    /// let lock = weft_sync::RLock::new(());
    /// assert!(lock.acquire_timeout(Duration::ZERO).is_some());
    /// ```
    #[inline]
    #[cfg_attr(feature = "deadlock-detection", track_caller)]
    #[must_use = "the lock is released at once if the guard is dropped"]
    pub fn acquire_timeout(&self, timeout: Duration) -> Option<RLockGuard<'_, T>> {
        #[cfg(feature = "deadlock-detection")]
        {
            let a = self.acquire_site(0, Location::caller());
            lockdep::lock(
                a,
                Some(timeout),
                || self.inner.try_lock(),
                |d| self.inner.try_lock_within(d),
            )
            .map(|(inner, dep)| RLockGuard { _dep: dep, inner })
        }
        #[cfg(not(feature = "deadlock-detection"))]
        self.inner.try_lock_within(timeout).map(|inner| RLockGuard {
            _dep: Dep::NONE,
            inner,
        })
    }

    /// Whether any thread holds the lock right now.
    ///
    /// ```
    /// let lock = weft_sync::RLock::new(());
    /// let g = lock.acquire();
    /// assert!(lock.locked());
    /// drop(g);
    /// assert!(!lock.locked());
    /// ```
    #[inline]
    pub fn locked(&self) -> bool {
        self.inner.is_locked()
    }

    /// Whether the current thread holds the lock (CPython's `RLock._is_owned()`).
    ///
    /// ```
    /// let lock = weft_sync::RLock::new(());
    /// let g = lock.acquire();
    /// assert!(lock.is_owned_by_current_thread());
    /// drop(g);
    /// assert!(!lock.is_owned_by_current_thread());
    /// ```
    #[inline]
    pub fn is_owned_by_current_thread(&self) -> bool {
        self.inner.is_owned_by_current_thread()
    }

    /// Mutable access to the data without locking: `&mut self` proves no thread holds it.
    ///
    /// ```
    /// let mut lock = weft_sync::RLock::new(1);
    /// *lock.get_mut() = 2;
    /// assert_eq!(*lock.acquire(), 2);
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        self.inner.get_mut()
    }
}

impl<T: Default> Default for RLock<T> {
    #[cfg_attr(feature = "deadlock-detection", track_caller)]
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T> From<T> for RLock<T> {
    #[cfg_attr(feature = "deadlock-detection", track_caller)]
    fn from(value: T) -> Self {
        Self::new(value)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RLock");
        match self.inner.try_lock() {
            Some(guard) => d.field("data", &&*guard),
            None => d.field("data", &format_args!("<locked>")),
        };
        d.finish()
    }
}

impl<T: ?Sized> RLockGuard<'_, T> {
    /// Releases this hold of the lock (Python's `release()`); the same as dropping the guard.
    ///
    /// ```
    /// let lock = weft_sync::RLock::new(());
    /// let guard = lock.acquire();
    /// guard.release();
    /// assert!(!lock.locked());
    /// ```
    pub fn release(self) {}
}

impl<T: ?Sized> Deref for RLockGuard<'_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RLockGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
