//! [`BoundedSemaphore`]: Python's `asyncio.BoundedSemaphore`, on tokio's semaphore.

use std::fmt;
use std::time::Duration;

use super::error::ReleaseError;
use crate::loom::{AtomicUsize, Ordering};

/// A semaphore that refuses to be released above its initial value (Python's
/// `asyncio.BoundedSemaphore`).
///
/// [`acquire`](Self::acquire) waits for a permit and returns a [`BoundedSemaphorePermit`] that
/// gives it back when dropped (Python's `async with sem:`). Python's manual pair
/// `await sem.acquire()` … `sem.release()` is [`acquire_forget`](Self::acquire_forget) …
/// [`release`](Self::release), and `release` fails with [`ReleaseError`] (Python's `ValueError`)
/// when there is no manually acquired permit to give back, so the count can never exceed the
/// bound.
///
/// Built on tokio's [`Semaphore`](tokio::sync::Semaphore) (fair: permits go to waiters in the
/// order they asked) plus a count of the permits taken by `acquire_forget`. Permits held by
/// guards return by themselves and never count as releasable: Python would accept a `release()`
/// while a guard is held and raise `ValueError` later, when the guard's `async with` exits; here
/// that `release()` is the one refused, since a guard's drop cannot fail.
///
/// Cancellation: a dropped `acquire` future takes no permit (tokio's guarantee), and one that
/// had been granted a permit gives it to the next waiter.
///
/// ```
/// use std::sync::Arc;
/// use weft_async::BoundedSemaphore;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let sem = Arc::new(BoundedSemaphore::new(2));
/// let tasks: Vec<_> = (0..5)
///     .map(|i| {
///         let sem = Arc::clone(&sem);
///         tokio::spawn(async move {
///             let _permit = sem.acquire().await; // at most two tasks in here at once
///             i * 10
///         })
///     })
///     .collect();
/// for t in tasks {
///     t.await.unwrap();
/// }
/// assert!(sem.release().is_err()); // all permits are back: nothing to release
/// # }
/// ```
pub struct BoundedSemaphore {
    sem: tokio::sync::Semaphore,
    max: usize,
    /// Permits taken by `acquire_forget` (or a permit's `forget`) and not yet released: the
    /// number of `release` calls that may still succeed. Raised after the permit is taken,
    /// lowered before it is given back, so the semaphore never holds more than `max`.
    forgotten: AtomicUsize,
}

/// A permit of a [`BoundedSemaphore`], given back when dropped.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let sem = weft_async::BoundedSemaphore::new(1);
/// let permit = sem.acquire().await;
/// assert!(sem.locked());
/// drop(permit);
/// assert!(!sem.locked());
/// # }
/// ```
#[must_use = "the permit is given back as soon as it is dropped"]
pub struct BoundedSemaphorePermit<'a> {
    permit: tokio::sync::SemaphorePermit<'a>,
    forgotten: &'a AtomicUsize,
}

impl BoundedSemaphore {
    /// The most permits a bounded semaphore can hold (tokio's
    /// [`Semaphore::MAX_PERMITS`](tokio::sync::Semaphore::MAX_PERMITS)); larger initial values are
    /// lowered to it.
    pub const MAX_PERMITS: usize = tokio::sync::Semaphore::MAX_PERMITS;

    /// Creates a semaphore holding `value` permits, which is also the most it will ever hold
    /// (Python's `BoundedSemaphore(value)`).
    ///
    /// ```
    /// let sem = weft_async::BoundedSemaphore::new(3);
    /// assert_eq!(sem.available(), 3);
    /// assert_eq!(sem.max(), 3);
    /// ```
    pub fn new(value: usize) -> Self {
        let max = value.min(Self::MAX_PERMITS);
        Self {
            sem: tokio::sync::Semaphore::new(max),
            max,
            forgotten: AtomicUsize::new(0),
        }
    }

    /// Waits for a permit (Python's `async with sem:`); the permit goes back when the returned
    /// guard is dropped. Fair: waiters get permits in the order they asked.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let sem = weft_async::BoundedSemaphore::new(1);
    /// {
    ///     let _permit = sem.acquire().await;
    ///     assert_eq!(sem.available(), 0);
    /// }
    /// assert_eq!(sem.available(), 1);
    /// # }
    /// ```
    pub async fn acquire(&self) -> BoundedSemaphorePermit<'_> {
        let permit = match self.sem.acquire().await {
            Ok(permit) => permit,
            // tokio fails an acquire only on a closed semaphore, and this one is never closed.
            Err(_) => unreachable!("weft's BoundedSemaphore never closes its tokio semaphore"),
        };
        self.guard(permit)
    }

    /// Takes a permit if one is available right now (Python's `acquire()` on an unlocked
    /// semaphore, without waiting).
    ///
    /// ```
    /// let sem = weft_async::BoundedSemaphore::new(1);
    /// let permit = sem.try_acquire().unwrap();
    /// assert!(sem.try_acquire().is_none());
    /// ```
    #[must_use = "the permit is given back at once if it is dropped"]
    pub fn try_acquire(&self) -> Option<BoundedSemaphorePermit<'_>> {
        self.sem.try_acquire().ok().map(|p| self.guard(p))
    }

    /// Waits at most `timeout` for a permit (Python's `wait_for(sem.acquire(), t)`);
    /// `Duration::ZERO` only tries, `Duration::MAX` waits forever. Needs a tokio runtime with
    /// time enabled.
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let sem = weft_async::BoundedSemaphore::new(1);
    /// let held = sem.acquire().await;
    /// assert!(sem.acquire_timeout(Duration::from_millis(1)).await.is_none());
    /// # }
    /// ```
    #[must_use = "the permit is given back at once if it is dropped"]
    pub async fn acquire_timeout(&self, timeout: Duration) -> Option<BoundedSemaphorePermit<'_>> {
        if timeout.is_zero() {
            return super::zero_wait(self.try_acquire()).await;
        }
        super::within(timeout, self.acquire()).await
    }

    /// Waits for a permit and keeps it without a guard (Python's `await sem.acquire()`); give it
    /// back with [`release`](Self::release).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let sem = weft_async::BoundedSemaphore::new(1);
    /// sem.acquire_forget().await;
    /// assert!(sem.locked());
    /// sem.release().unwrap();
    /// assert!(!sem.locked());
    /// # }
    /// ```
    pub async fn acquire_forget(&self) {
        self.acquire().await.forget();
    }

    /// Gives back one permit taken by [`acquire_forget`](Self::acquire_forget) or
    /// [`BoundedSemaphorePermit::forget`] (Python's `release()`), waking the oldest waiter. Any
    /// task or thread may release.
    ///
    /// # Errors
    /// [`ReleaseError`], releasing nothing, when no such permit is out: the count would exceed
    /// the initial value (Python's `ValueError: BoundedSemaphore released too many times`).
    ///
    /// ```
    /// use weft_async::{BoundedSemaphore, ReleaseError};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let sem = BoundedSemaphore::new(1);
    /// sem.acquire_forget().await;
    /// assert_eq!(sem.release(), Ok(()));
    /// assert_eq!(sem.release(), Err(ReleaseError { max: 1 }));
    /// # }
    /// ```
    pub fn release(&self) -> Result<(), ReleaseError> {
        let mut cur = self.forgotten.load(Ordering::Relaxed);
        loop {
            if cur == 0 {
                return Err(ReleaseError { max: self.max });
            }
            match self.forgotten.compare_exchange_weak(
                cur,
                cur - 1,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(now) => cur = now,
            }
        }
        self.sem.add_permits(1);
        Ok(())
    }

    /// Whether a permit cannot be had right now (Python's `locked()`).
    ///
    /// ```
    /// let sem = weft_async::BoundedSemaphore::new(1);
    /// assert!(!sem.locked());
    /// let permit = sem.try_acquire();
    /// assert!(sem.locked());
    /// ```
    pub fn locked(&self) -> bool {
        self.sem.available_permits() == 0
    }

    /// The number of permits available right now (Python's `_value`).
    ///
    /// ```
    /// let sem = weft_async::BoundedSemaphore::new(2);
    /// let permit = sem.try_acquire();
    /// assert_eq!(sem.available(), 1);
    /// ```
    pub fn available(&self) -> usize {
        self.sem.available_permits()
    }

    /// The most permits the semaphore holds: its initial value.
    ///
    /// ```
    /// assert_eq!(weft_async::BoundedSemaphore::new(4).max(), 4);
    /// ```
    pub fn max(&self) -> usize {
        self.max
    }

    fn guard<'a>(&'a self, permit: tokio::sync::SemaphorePermit<'a>) -> BoundedSemaphorePermit<'a> {
        BoundedSemaphorePermit {
            permit,
            forgotten: &self.forgotten,
        }
    }
}

impl BoundedSemaphorePermit<'_> {
    /// Keeps the permit without the guard: it is given back by
    /// [`BoundedSemaphore::release`] instead of a drop (the permit of Python's manual
    /// `acquire()`).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let sem = weft_async::BoundedSemaphore::new(1);
    /// sem.acquire().await.forget();
    /// assert_eq!(sem.available(), 0);
    /// sem.release().unwrap();
    /// assert_eq!(sem.available(), 1);
    /// # }
    /// ```
    pub fn forget(self) {
        self.permit.forget();
        self.forgotten.fetch_add(1, Ordering::AcqRel);
    }
}

impl fmt::Debug for BoundedSemaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoundedSemaphore")
            .field("available", &self.available())
            .field("max", &self.max)
            .finish()
    }
}

impl fmt::Debug for BoundedSemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoundedSemaphorePermit")
            .finish_non_exhaustive()
    }
}
