//! A private shim that swaps the atomics and the `Mutex` used by weft-async's own wait logic (the
//! waiter lists of [`Condition`](crate::Condition), [`Barrier`](crate::Barrier) and
//! [`Event`](crate::Event) with its flag, the release count of
//! [`BoundedSemaphore`](crate::BoundedSemaphore)) for loom's model-checked versions under
//! `--cfg weft_loom` (the shape of tokio's `loom` module). Outside loom the mutex is parking_lot's.
//!
//! `AsyncMutex` is the condition's data lock: tokio's `Mutex` outside loom. Under loom it is a
//! small async mutex made of loom's, so that loom sees (and interleaves) every acquire and release
//! of the condition's lock: with tokio's, whose atomics loom cannot see, the models would only
//! explore the orders in which the lock happened to be taken.

#[cfg(not(weft_loom))]
mod imp {
    pub(crate) use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    pub(crate) use std::thread_local;

    pub(crate) type MutexGuard<'a, T> = parking_lot::MutexGuard<'a, T>;

    /// parking_lot's mutex (it never poisons).
    #[derive(Debug, Default)]
    pub(crate) struct Mutex<T>(parking_lot::Mutex<T>);

    impl<T> Mutex<T> {
        pub(crate) const fn new(value: T) -> Self {
            Self(parking_lot::Mutex::new(value))
        }

        #[inline]
        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            self.0.lock()
        }
    }

    pub(crate) type AsyncMutex<T> = tokio::sync::Mutex<T>;
    pub(crate) type AsyncMutexGuard<'a, T> = tokio::sync::MutexGuard<'a, T>;
}

#[cfg(weft_loom)]
mod imp {
    pub(crate) use ::loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    pub(crate) use ::loom::thread_local;
    use std::task::{Poll, Waker};

    pub(crate) type MutexGuard<'a, T> = ::loom::sync::MutexGuard<'a, T>;

    /// loom's mutex, with parking_lot's signature.
    #[derive(Debug)]
    pub(crate) struct Mutex<T>(::loom::sync::Mutex<T>);

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Self(::loom::sync::Mutex::new(value))
        }

        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            // Poisoned only by a panic under the lock; a barrier action's panic is caught.
            self.0.lock().unwrap_or_else(|e| e.into_inner())
        }
    }

    /// An async mutex made of loom's: `lock` tries the inner mutex, and on failure registers its
    /// waker and tries once more (an unlock in between would otherwise be missed); an unlock
    /// wakes every registered waiter, which all try again.
    #[derive(Debug)]
    pub(crate) struct AsyncMutex<T: ?Sized> {
        waiters: ::loom::sync::Mutex<Vec<Waker>>,
        inner: ::loom::sync::Mutex<T>,
    }

    /// The guard of [`AsyncMutex`]. Fields drop in order: the lock is released, then the waiters
    /// are woken.
    pub(crate) struct AsyncMutexGuard<'a, T: ?Sized> {
        guard: ::loom::sync::MutexGuard<'a, T>,
        _wake: WakeOnDrop<'a>,
    }

    struct WakeOnDrop<'a>(&'a ::loom::sync::Mutex<Vec<Waker>>);

    impl Drop for WakeOnDrop<'_> {
        fn drop(&mut self) {
            let waiters = std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()));
            for w in waiters {
                w.wake();
            }
        }
    }

    impl<T> AsyncMutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Self {
                waiters: ::loom::sync::Mutex::new(Vec::new()),
                inner: ::loom::sync::Mutex::new(value),
            }
        }

        pub(crate) fn into_inner(self) -> T {
            self.inner.into_inner().unwrap_or_else(|e| e.into_inner())
        }
    }

    impl<T: ?Sized> AsyncMutex<T> {
        pub(crate) fn try_lock(&self) -> Result<AsyncMutexGuard<'_, T>, ()> {
            match self.inner.try_lock() {
                Ok(guard) => Ok(AsyncMutexGuard {
                    guard,
                    _wake: WakeOnDrop(&self.waiters),
                }),
                Err(_) => Err(()),
            }
        }

        pub(crate) async fn lock(&self) -> AsyncMutexGuard<'_, T> {
            std::future::poll_fn(|cx| {
                if let Ok(guard) = self.try_lock() {
                    return Poll::Ready(guard);
                }
                self.waiters
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(cx.waker().clone());
                match self.try_lock() {
                    Ok(guard) => Poll::Ready(guard),
                    Err(()) => Poll::Pending,
                }
            })
            .await
        }

        pub(crate) fn get_mut(&mut self) -> &mut T {
            self.inner.get_mut().unwrap_or_else(|e| e.into_inner())
        }
    }

    impl<T: ?Sized> std::ops::Deref for AsyncMutexGuard<'_, T> {
        type Target = T;
        fn deref(&self) -> &T {
            &self.guard
        }
    }

    impl<T: ?Sized> std::ops::DerefMut for AsyncMutexGuard<'_, T> {
        fn deref_mut(&mut self) -> &mut T {
            &mut self.guard
        }
    }
}

pub(crate) use imp::*;
