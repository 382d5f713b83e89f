//! [`Condition`]: Python's `asyncio.Condition`, owning its lock and the data it protects.

use std::fmt;
use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;

use super::waitlist::{WaitList, WakeList};
use crate::loom::{AsyncMutex, AsyncMutexGuard, Mutex};

/// A condition variable bundled with the lock it waits on and the data that lock protects
/// (Python's `asyncio.Condition`).
///
/// [`acquire`](Condition::acquire) locks and returns a [`ConditionGuard`]. The guard gives access
/// to the data and does the rest of Python's API: [`wait`](ConditionGuard::wait) releases the
/// lock, waits until notified, and takes the lock again; [`notify`](ConditionGuard::notify)
/// wakes at most `n` waiters and says how many. Since only a guard can notify, Python's rule "the
/// lock must be held to notify" (a `RuntimeError` there) holds by construction.
///
/// `wait` takes the guard **by value** and gives it back, as std's `Condvar::wait` does: if the
/// wait future is dropped (a `select!`, a timeout), the lock is simply not held any more, instead
/// of a guard left behind that no longer locks anything. Python re-acquires the lock before a
/// cancelled `wait` raises; in Rust the dropped future cannot await, so it gives the guard up.
///
/// Waiters are woken in the order they started waiting. A woken waiter must recheck what it
/// waited for, since another task may have taken the lock first:
/// [`wait_for`](ConditionGuard::wait_for) does the loop.
///
/// # Cancellation
/// - Dropped while waiting and not yet notified: the waiter leaves the list; nothing else changes.
/// - Dropped after it was notified (in the same instant, or while it was taking the lock back):
///   the notification is passed on to the next waiter, as CPython 3.13 does, so a `notify(1)`
///   meant for a task that went away still wakes someone. That can be a spurious wake-up, which
///   the condition-variable protocol allows.
///
/// The lock is tokio's fair [`Mutex`](tokio::sync::Mutex); the waiter list is weft's own (a
/// slab under a parking_lot mutex, model-checked with loom).
///
/// ```
/// use std::collections::VecDeque;
/// use std::sync::Arc;
/// use weft_async::Condition;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let items = Arc::new(Condition::new(VecDeque::new()));
/// let consumer = tokio::spawn({
///     let items = Arc::clone(&items);
///     async move {
///         let mut guard = items.acquire().await.wait_for(|q| !q.is_empty()).await;
///         guard.pop_front().unwrap()
///     }
/// });
/// let mut guard = items.acquire().await;
/// guard.push_back("hello");
/// guard.notify_one();
/// drop(guard);
/// assert_eq!(consumer.await.unwrap(), "hello");
/// # }
/// ```
pub struct Condition<T: ?Sized> {
    waiters: Mutex<WaitList<()>>,
    lock: AsyncMutex<T>,
}

/// Holds a [`Condition`]'s lock and gives access to its data; waits on and notifies the
/// condition. Dropping it releases the lock (Python's `release()`).
///
/// ```
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let cond = weft_async::Condition::new(0);
/// let mut guard = cond.acquire().await;
/// *guard += 1;
/// let (guard, notified) = guard.wait_timeout(Duration::from_millis(1)).await;
/// assert!(!notified); // nobody notified
/// assert_eq!(*guard, 1); // the lock is held again
/// # }
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct ConditionGuard<'a, T: ?Sized> {
    cond: &'a Condition<T>,
    guard: AsyncMutexGuard<'a, T>,
}

impl<T> Condition<T> {
    /// Creates a condition whose lock protects `value`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let cond = weft_async::Condition::new(Vec::<u8>::new());
    /// assert!(cond.acquire().await.is_empty());
    /// # }
    /// ```
    pub fn new(value: T) -> Self {
        Self {
            waiters: Mutex::new(WaitList::new()),
            lock: AsyncMutex::new(value),
        }
    }

    /// Consumes the condition and returns the data.
    ///
    /// ```
    /// assert_eq!(weft_async::Condition::new(9).into_inner(), 9);
    /// ```
    pub fn into_inner(self) -> T {
        self.lock.into_inner()
    }
}

impl<T: ?Sized> Condition<T> {
    /// Acquires the condition's lock, waiting until it is free (Python's `await cond.acquire()`
    /// or `async with cond:`). Fair: tasks get the lock in the order they asked.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let cond = weft_async::Condition::new(1);
    /// *cond.acquire().await += 1;
    /// assert_eq!(*cond.acquire().await, 2);
    /// # }
    /// ```
    pub async fn acquire(&self) -> ConditionGuard<'_, T> {
        ConditionGuard {
            cond: self,
            guard: self.lock.lock().await,
        }
    }

    /// Acquires the lock if it is free right now.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let cond = weft_async::Condition::new(());
    /// let held = cond.acquire().await;
    /// assert!(cond.try_acquire().is_none());
    /// drop(held);
    /// assert!(cond.try_acquire().is_some());
    /// # }
    /// ```
    #[must_use = "the lock is released at once if the guard is dropped"]
    pub fn try_acquire(&self) -> Option<ConditionGuard<'_, T>> {
        let guard = self.lock.try_lock().ok()?;
        Some(ConditionGuard { cond: self, guard })
    }

    /// Acquires the lock, waiting at most `timeout`; `Duration::ZERO` only tries,
    /// `Duration::MAX` waits forever. Needs a tokio runtime with time enabled.
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let cond = weft_async::Condition::new(());
    /// let held = cond.acquire().await;
    /// assert!(cond.acquire_timeout(Duration::from_millis(1)).await.is_none());
    /// # }
    /// ```
    #[must_use = "the lock is released at once if the guard is dropped"]
    pub async fn acquire_timeout(&self, timeout: Duration) -> Option<ConditionGuard<'_, T>> {
        if timeout.is_zero() {
            return super::zero_wait(self.try_acquire()).await;
        }
        super::within(timeout, self.acquire()).await
    }

    /// Whether some task holds the lock right now (Python's `locked()`).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let cond = weft_async::Condition::new(());
    /// let guard = cond.acquire().await;
    /// assert!(cond.locked());
    /// # }
    /// ```
    pub fn locked(&self) -> bool {
        self.lock.try_lock().is_err()
    }

    /// Mutable access to the data without locking: `&mut self` proves no task holds it.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut cond = weft_async::Condition::new(1);
    /// *cond.get_mut() = 2;
    /// assert_eq!(*cond.acquire().await, 2);
    /// # }
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        self.lock.get_mut()
    }

    /// Notifies up to `n` of the oldest waiters; returns how many, and the first panic of a
    /// waker. A waiter whose waker panicked will not run to use its notification, so it goes on
    /// to the next waiter; every waker is woken whatever the others do.
    fn notify_locked(&self, n: usize) -> (usize, Option<Box<dyn std::any::Any + Send>>) {
        let (mut woken, mut want, mut panic) = (0, n, None);
        while want > 0 {
            let mut wakers = WakeList::new();
            let mut list = self.waiters.lock();
            let mut got = 0;
            while got < want {
                match list.notify_first(()) {
                    Some(waker) => wakers.push(waker),
                    None => break,
                }
                got += 1;
            }
            drop(list);
            let (panicked, first) = wakers.wake_all();
            woken += got - panicked;
            match (&panic, first) {
                (None, first) => panic = first,
                (Some(_), Some(p)) => weft_sync::drop_panic_payload(p),
                (Some(_), None) => {}
            }
            if got < want {
                break; // nobody else waits
            }
            want = panicked;
        }
        (woken, panic)
    }

    /// [`notify_locked`](Self::notify_locked) for a caller: every waiter is woken, then a
    /// waker's panic goes on.
    fn notify_then_raise(&self, n: usize) -> usize {
        let (woken, panic) = self.notify_locked(n);
        if let Some(payload) = panic {
            std::panic::resume_unwind(payload);
        }
        woken
    }
}

impl<'a, T: ?Sized> ConditionGuard<'a, T> {
    /// Releases the lock, waits until notified, and takes the lock again before returning the
    /// guard (Python's `await cond.wait()`). If the future is dropped, the lock stays released
    /// and a notification it had received is passed on (see [`Condition`]).
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let cond = Arc::new(weft_async::Condition::new(false));
    /// let setter = tokio::spawn({
    ///     let cond = Arc::clone(&cond);
    ///     async move {
    ///         let mut guard = cond.acquire().await;
    ///         *guard = true;
    ///         guard.notify_all();
    ///     }
    /// });
    /// let mut guard = cond.acquire().await;
    /// while !*guard {
    ///     guard = guard.wait().await;
    /// }
    /// setter.await.unwrap();
    /// # }
    /// ```
    pub async fn wait(self) -> Self {
        let (cond, mut waiter) = self.register();
        (&mut waiter).await;
        // Until the lock is held again, a drop passes the notification on.
        let guard = cond.lock.lock().await;
        waiter.phase = Phase::Done;
        ConditionGuard { cond, guard }
    }

    /// Like [`wait`](Self::wait), giving up waiting for a notification after `timeout`; returns
    /// the guard (the lock is held again either way) and whether it was notified (Python's
    /// `wait_for(cond.wait(), t)`, with `false` for its `TimeoutError`). `Duration::ZERO` gives
    /// up at once, keeping the lock (weft-sync's `Condition`, as Python's `threading`, lets go of
    /// it and takes it back); `Duration::MAX` waits forever. Needs a tokio runtime with time
    /// enabled.
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let cond = weft_async::Condition::new(());
    /// let (_guard, notified) = cond.acquire().await.wait_timeout(Duration::ZERO).await;
    /// assert!(!notified);
    /// # }
    /// ```
    pub async fn wait_timeout(self, timeout: Duration) -> (Self, bool) {
        if timeout.is_zero() {
            // Not released: the time is up at once.
            return super::zero_wait((self, false)).await;
        }
        let deadline = crate::timeout::deadline_in(timeout);
        self.wait_until(deadline).await
    }

    /// Waits until `predicate(&mut data)` is true, checking it first and again after every wake
    /// (Python's `await cond.wait_for(predicate)`). Returns the guard with the predicate true.
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let cond = Arc::new(weft_async::Condition::new(0));
    /// let counter = tokio::spawn({
    ///     let cond = Arc::clone(&cond);
    ///     async move {
    ///         for _ in 0..3 {
    ///             let mut guard = cond.acquire().await;
    ///             *guard += 1;
    ///             guard.notify_all();
    ///         }
    ///     }
    /// });
    /// let guard = cond.acquire().await.wait_for(|n| *n == 3).await;
    /// assert_eq!(*guard, 3);
    /// # drop(guard);
    /// # counter.await.unwrap();
    /// # }
    /// ```
    pub async fn wait_for(mut self, mut predicate: impl FnMut(&mut T) -> bool) -> Self {
        while !predicate(&mut self.guard) {
            self = self.wait().await;
        }
        self
    }

    /// Like [`wait_for`](Self::wait_for), giving up after `timeout` in all; returns the guard and
    /// the predicate's last value (Python's `wait_for(cond.wait_for(predicate), t)`). The lock
    /// is held again either way.
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let cond = weft_async::Condition::new(0);
    /// let guard = cond.acquire().await;
    /// let (guard, ok) = guard.wait_for_timeout(|n| *n > 0, Duration::from_millis(5)).await;
    /// assert!(!ok);
    /// let (_guard, ok) = guard.wait_for_timeout(|n| *n == 0, Duration::ZERO).await;
    /// assert!(ok);
    /// # }
    /// ```
    pub async fn wait_for_timeout(
        mut self,
        mut predicate: impl FnMut(&mut T) -> bool,
        timeout: Duration,
    ) -> (Self, bool) {
        let deadline = crate::timeout::deadline_in(timeout);
        loop {
            if predicate(&mut self.guard) {
                return (self, true);
            }
            if timeout.is_zero() {
                return super::zero_wait((self, false)).await;
            }
            let notified;
            (self, notified) = self.wait_until(deadline).await;
            if !notified {
                let done = predicate(&mut self.guard);
                return (self, done);
            }
        }
    }

    /// Wakes at most `n` waiting tasks, oldest first, and returns how many it woke (Python's
    /// `notify(n)`). They run once they get the lock, so after this guard is dropped.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let cond = weft_async::Condition::new(());
    /// assert_eq!(cond.acquire().await.notify(3), 0); // nobody was waiting
    /// # }
    /// ```
    pub fn notify(&self, n: usize) -> usize {
        self.cond.notify_then_raise(n)
    }

    /// Wakes the oldest waiting task, if any; returns whether one was woken (Python's
    /// `notify()`).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let cond = weft_async::Condition::new(());
    /// assert!(!cond.acquire().await.notify_one());
    /// # }
    /// ```
    pub fn notify_one(&self) -> bool {
        self.cond.notify_then_raise(1) == 1
    }

    /// Wakes every waiting task and returns how many it woke (Python's `notify_all()`).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let cond = weft_async::Condition::new(());
    /// assert_eq!(cond.acquire().await.notify_all(), 0);
    /// # }
    /// ```
    pub fn notify_all(&self) -> usize {
        self.cond.notify_then_raise(usize::MAX)
    }

    /// Releases the lock (Python's `release()`); the same as dropping the guard.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let cond = weft_async::Condition::new(());
    /// cond.acquire().await.release();
    /// assert!(!cond.locked());
    /// # }
    /// ```
    pub fn release(self) {}

    /// The condition this guard holds the lock of.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let cond = weft_async::Condition::new(());
    /// let guard = cond.acquire().await;
    /// assert!(std::ptr::eq(guard.condition(), &cond));
    /// # }
    /// ```
    pub fn condition(&self) -> &'a Condition<T> {
        self.cond
    }

    /// Registers on the waiter list, then releases the lock: registering first, a notification
    /// made under the lock after this waiter saw its data cannot be missed.
    fn register(self) -> (&'a Condition<T>, Waiter<'a, T>) {
        let cond = self.cond;
        let key = cond.waiters.lock().push(None);
        let waiter = Waiter {
            cond,
            key,
            phase: Phase::Waiting,
        };
        drop(self.guard);
        (cond, waiter)
    }

    /// A timed wait: waits until notified or `deadline` (forever for `None`), re-takes the lock,
    /// and says whether it was notified. A separate path from [`wait`](Self::wait), so that
    /// untimed waits do not carry a timer in their future.
    async fn wait_until(self, deadline: Option<Instant>) -> (Self, bool) {
        let Some(deadline) = deadline else {
            return (self.wait().await, true);
        };
        let (cond, mut waiter) = self.register();
        let notified = match tokio::time::timeout_at(deadline, &mut waiter).await {
            Ok(()) => true,
            Err(_) => waiter.leave(),
        };
        let guard = cond.lock.lock().await;
        waiter.phase = Phase::Done;
        (ConditionGuard { cond, guard }, notified)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// On the list, not yet notified (as far as this future knows).
    Waiting,
    /// Notified, not yet returned to the caller: a drop passes the notification on.
    Notified,
    /// Returned, or left the list without a notification.
    Done,
}

/// One task's place on a condition's waiter list; completes when notified.
struct Waiter<'a, T: ?Sized> {
    cond: &'a Condition<T>,
    key: usize,
    phase: Phase,
}

impl<T: ?Sized> Waiter<'_, T> {
    /// Leaves the list after a timeout; returns whether a notification had arrived meanwhile
    /// (then it is kept: the wait reports `true`).
    fn leave(&mut self) -> bool {
        let (notified, waker) = self.cond.waiters.lock().remove(self.key);
        // After the lock: a waker's drop is user code, which may use this condition.
        drop(waker);
        let notified = notified.is_some();
        self.phase = if notified {
            Phase::Notified
        } else {
            Phase::Done
        };
        notified
    }
}

impl<T: ?Sized> Future for Waiter<'_, T> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.phase != Phase::Waiting {
            return Poll::Ready(());
        }
        let (ready, displaced) = self.cond.waiters.lock().poll(self.key, cx.waker());
        drop(displaced); // after the lock, as in `leave`
        if ready.is_ready() {
            self.phase = Phase::Notified;
        }
        ready
    }
}

impl<T: ?Sized> Drop for Waiter<'_, T> {
    fn drop(&mut self) {
        let pass_on = match self.phase {
            Phase::Done => false,
            Phase::Notified => true,
            Phase::Waiting => {
                let (notified, waker) = self.cond.waiters.lock().remove(self.key);
                drop(waker); // after the lock, as in `leave`
                notified.is_some()
            }
        };
        if pass_on {
            // Quietly: this may run while the task unwinds, where a second panic aborts.
            if let (_, Some(payload)) = self.cond.notify_locked(1) {
                weft_sync::drop_panic_payload(payload);
            }
        }
    }
}

impl<T: Default> Default for Condition<T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T> From<T> for Condition<T> {
    fn from(value: T) -> Self {
        Self::new(value)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Condition<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Condition");
        match self.lock.try_lock() {
            Ok(guard) => d.field("data", &&*guard),
            Err(_) => d.field("data", &format_args!("<locked>")),
        };
        d.field("waiters", &self.waiters.lock().waiting());
        d.finish()
    }
}

impl<T: ?Sized> Deref for ConditionGuard<'_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T: ?Sized> DerefMut for ConditionGuard<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        &mut self.guard
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for ConditionGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
