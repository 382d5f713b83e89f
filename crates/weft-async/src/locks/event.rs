//! [`Event`]: Python's `asyncio.Event`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use super::waitlist::{WaitList, WakeList};
use crate::loom::{AtomicBool, Mutex, Ordering};

/// A flag that tasks can wait on (Python's `asyncio.Event`).
///
/// [`set`](Event::set) raises the flag and wakes every waiting task, [`clear`](Event::clear)
/// lowers it, [`wait`](Event::wait) waits until it is raised. As in CPython, a task woken by
/// `set` returns even if another task cleared the flag again before it ran.
///
/// Built on an atomic flag and the waiter list [`Condition`](crate::Condition) uses (a slab of
/// wakers under a parking_lot mutex, model-checked with loom): checking the flag is one atomic
/// load, and `set` takes the list's lock only when the flag was down, to raise it there.
/// Unlike Python's, this event may be shared between runtimes and threads (`Send + Sync`).
///
/// Cancellation: dropping a `wait` future just unregisters it; it consumes nothing, so no other
/// waiter can miss a `set`.
///
/// A waker is user code: if one panics, `set` still wakes every other waiter, then the panic
/// reaches its caller (the flag is up by then). That is why the event keeps its own list: tokio's
/// `Notify::notify_waiters` leaves the rest of its batch of waiters unwoken when a waker panics.
///
/// ```
/// use std::sync::Arc;
/// use weft_async::Event;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let ready = Arc::new(Event::new());
/// let waiter = tokio::spawn({
///     let ready = Arc::clone(&ready);
///     async move { ready.wait().await }
/// });
/// ready.set();
/// waiter.await.unwrap();
/// assert!(ready.is_set());
/// # }
/// ```
pub struct Event {
    flag: AtomicBool,
    /// Tasks waiting for the flag. A waiter checks the flag under this lock before it
    /// registers, and `set` raises the flag under it as it wakes them: a waiter either sees the
    /// flag or is on the list when `set` empties it, and a wait that began after the flag was
    /// seen raised (and cleared) is not woken by the `set` that raised it.
    waiters: Mutex<WaitList<()>>,
}

impl Event {
    /// Creates an event whose flag is down.
    ///
    /// ```
    /// static READY: weft_async::Event = weft_async::Event::new();
    /// assert!(!READY.is_set());
    /// ```
    #[cfg(not(weft_loom))]
    pub const fn new() -> Self {
        Self {
            flag: AtomicBool::new(false),
            waiters: Mutex::new(WaitList::new()),
        }
    }

    /// Creates an event whose flag is down (loom's atomics and mutex are not `const`).
    #[cfg(weft_loom)]
    pub fn new() -> Self {
        Self {
            flag: AtomicBool::new(false),
            waiters: Mutex::new(WaitList::new()),
        }
    }

    /// Whether the flag is raised (Python's `is_set()`).
    ///
    /// ```
    /// let event = weft_async::Event::new();
    /// event.set();
    /// assert!(event.is_set());
    /// ```
    #[inline]
    pub fn is_set(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }

    /// Raises the flag and wakes every waiting task (Python's `set()`). Setting a raised flag does
    /// nothing. May be called from any thread, in or out of a runtime.
    ///
    /// # Panics
    /// If a waiting task's waker panics: after the flag is raised and every other waiter woken,
    /// the first such panic goes on to the caller.
    ///
    /// ```
    /// let event = weft_async::Event::new();
    /// event.set();
    /// event.set();
    /// assert!(event.is_set());
    /// ```
    pub fn set(&self) {
        if self.is_set() {
            return;
        }
        let mut wakers = WakeList::new();
        {
            // The flag is raised under the list's lock, where waiters check it: raising it and
            // taking the waiters off the list are one step for them. Raised before the lock, a
            // waiter could see the flag, return, clear it and wait again, all before this `set`
            // took the lock, which would then wake that later wait with no `set` after its
            // `clear`.
            let mut list = self.waiters.lock();
            if self.flag.swap(true, Ordering::AcqRel) {
                return;
            }
            while let Some(waker) = list.notify_first(()) {
                wakers.push(waker);
            }
        }
        if let (_, Some(payload)) = wakers.wake_all() {
            std::panic::resume_unwind(payload);
        }
    }

    /// Lowers the flag (Python's `clear()`): later waits wait for the next `set`.
    ///
    /// ```
    /// let event = weft_async::Event::new();
    /// event.set();
    /// event.clear();
    /// assert!(!event.is_set());
    /// ```
    #[inline]
    pub fn clear(&self) {
        self.flag.store(false, Ordering::Release);
    }

    /// Waits until the flag is raised (Python's `await event.wait()`); ready at once if it is up.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let event = weft_async::Event::new();
    /// event.set();
    /// event.wait().await;
    /// # }
    /// ```
    pub async fn wait(&self) {
        if self.is_set() {
            return;
        }
        Waiter {
            event: self,
            key: None,
        }
        .await;
    }

    /// Waits until the flag is raised or `timeout` passes; returns whether the flag was raised
    /// (Python's `await asyncio.wait_for(event.wait(), t)` without the exception). The flag is
    /// checked before the clock, so a raised flag gives `true` even with a zero timeout, which
    /// only checks; `Duration::MAX` waits forever. Needs a tokio runtime with time enabled.
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let event = weft_async::Event::new();
    /// assert!(!event.wait_timeout(Duration::from_millis(5)).await);
    /// event.set();
    /// assert!(event.wait_timeout(Duration::ZERO).await);
    /// # }
    /// ```
    pub async fn wait_timeout(&self, timeout: Duration) -> bool {
        if timeout.is_zero() {
            return super::zero_wait(self.is_set()).await;
        }
        super::within(timeout, self.wait()).await.is_some()
    }
}

/// One task's place on an event's waiter list: registers at its first poll (unless the flag is
/// up), completes when `set` notifies it, and leaves the list when dropped before that.
struct Waiter<'a> {
    event: &'a Event,
    /// The slot on the list, while registered and not yet woken.
    key: Option<usize>,
}

impl Future for Waiter<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut list = self.event.waiters.lock();
        let (ready, displaced) = match self.key {
            Some(key) => list.poll(key, cx.waker()),
            // Checked under the lock, where `set` raises the flag.
            None if self.event.flag.load(Ordering::Acquire) => (Poll::Ready(()), None),
            None => {
                let key = list.push(Some(cx.waker().clone()));
                drop(list);
                self.key = Some(key);
                return Poll::Pending;
            }
        };
        drop(list);
        // After the lock: a waker's drop is user code, which may use this event.
        drop(displaced);
        if ready.is_ready() {
            self.key = None; // `poll` freed the slot
        }
        ready
    }
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            // Woken or not, it just leaves: a `set` wakes everyone, so there is nothing to pass on.
            // Its waker is dropped after the lock, as in `poll`.
            let (_, waker) = self.event.waiters.lock().remove(key);
            drop(waker);
        }
    }
}

impl Default for Event {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("is_set", &self.is_set())
            .finish()
    }
}
