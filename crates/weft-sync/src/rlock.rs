//! [`RLock`]: Python's `threading.RLock`, owning the data it protects.

use std::fmt;
use std::ops::Deref;
use std::time::Duration;

/// A reentrant lock: the thread that holds it may acquire it again without deadlocking
/// (Python's `threading.RLock`). It is released when the last of that thread's guards is dropped.
///
/// Because one thread may hold several guards at once, a guard gives shared access (`&T`) only;
/// put a [`Cell`](std::cell::Cell) or [`RefCell`](std::cell::RefCell) inside for mutation, as with
/// `parking_lot::ReentrantMutex`, which this wraps. Releasing from a thread that does not hold the
/// lock (Python's `RuntimeError`) is impossible by construction: release is dropping a guard, and a
/// guard cannot leave its thread (it is not `Send`).
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
#[derive(Default)]
pub struct RLock<T: ?Sized> {
    inner: parking_lot::ReentrantMutex<T>,
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
    inner: parking_lot::ReentrantMutexGuard<'a, T>,
}

impl<T> RLock<T> {
    /// Creates an unlocked reentrant lock that protects `value`.
    ///
    /// ```
    /// let lock = weft_sync::RLock::new(());
    /// assert!(!lock.locked());
    /// ```
    pub const fn new(value: T) -> Self {
        Self {
            inner: parking_lot::ReentrantMutex::new(value),
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
    pub fn acquire(&self) -> RLockGuard<'_, T> {
        RLockGuard {
            inner: self.inner.lock(),
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
    pub fn try_acquire(&self) -> Option<RLockGuard<'_, T>> {
        self.inner.try_lock().map(|inner| RLockGuard { inner })
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
    pub fn acquire_timeout(&self, timeout: Duration) -> Option<RLockGuard<'_, T>> {
        self.inner
            .try_lock_for(timeout)
            .map(|inner| RLockGuard { inner })
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

impl<T> From<T> for RLock<T> {
    fn from(value: T) -> Self {
        Self::new(value)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RLock");
        match self.try_acquire() {
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
