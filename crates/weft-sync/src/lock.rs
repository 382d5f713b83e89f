//! [`Lock`]: Python's `threading.Lock`, owning the data it protects.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::time::Duration;

/// A mutual-exclusion lock that owns the data it protects: Python's `threading.Lock`.
///
/// [`acquire`](Lock::acquire) returns a [`LockGuard`]; the data is reachable only through the guard,
/// and dropping the guard (or calling [`LockGuard::release`]) releases the lock. A thread that
/// acquires a `Lock` it already holds deadlocks, as in Python; use [`RLock`](crate::RLock) for
/// re-entry. Unlike Python, another thread cannot release the lock: signalling between threads is
/// what [`Semaphore`](crate::Semaphore) is for.
///
/// Built on `parking_lot::Mutex`: one byte of state, an uncontended acquire is one atomic
/// compare-and-swap, a contended one spins briefly and then parks. Waiters are not served in strict
/// FIFO order, but parking_lot's eventual fairness hands the lock over fairly every 0.5 ms on
/// average, so no thread starves.
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
#[derive(Default)]
pub struct Lock<T: ?Sized> {
    inner: parking_lot::Mutex<T>,
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
    inner: parking_lot::MutexGuard<'a, T>,
}

impl<T> Lock<T> {
    /// Creates an unlocked lock that protects `value`.
    ///
    /// ```
    /// let lock = weft_sync::Lock::new(5);
    /// assert!(!lock.locked());
    /// ```
    pub const fn new(value: T) -> Self {
        Self {
            inner: parking_lot::Mutex::new(value),
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
    pub fn acquire(&self) -> LockGuard<'_, T> {
        LockGuard {
            inner: self.inner.lock(),
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
    pub fn try_acquire(&self) -> Option<LockGuard<'_, T>> {
        self.inner.try_lock().map(|inner| LockGuard { inner })
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
    pub fn acquire_timeout(&self, timeout: Duration) -> Option<LockGuard<'_, T>> {
        self.inner
            .try_lock_for(timeout)
            .map(|inner| LockGuard { inner })
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

impl<T> From<T> for Lock<T> {
    fn from(value: T) -> Self {
        Self::new(value)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Lock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Lock");
        match self.try_acquire() {
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
