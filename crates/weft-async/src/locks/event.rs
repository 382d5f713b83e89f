//! [`Event`]: Python's `asyncio.Event`.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

/// A flag that tasks can wait on (Python's `asyncio.Event`).
///
/// [`set`](Event::set) raises the flag and wakes every waiting task, [`clear`](Event::clear)
/// lowers it, [`wait`](Event::wait) waits until it is raised. As in CPython, a task woken by
/// `set` returns even if another task cleared the flag again before it ran.
///
/// Built on an atomic flag and tokio's [`Notify`]: checking the flag is one atomic load, and
/// `set` takes Notify's lock only when the flag was down. Unlike Python's, this event may be
/// shared between runtimes and threads (`Send + Sync`).
///
/// Cancellation: dropping a `wait` future just unregisters it; it consumes nothing, so no other
/// waiter can miss a `set`.
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
    notify: Notify,
}

impl Event {
    /// Creates an event whose flag is down.
    ///
    /// ```
    /// static READY: weft_async::Event = weft_async::Event::new();
    /// assert!(!READY.is_set());
    /// ```
    pub const fn new() -> Self {
        Self {
            flag: AtomicBool::new(false),
            notify: Notify::const_new(),
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
    /// ```
    /// let event = weft_async::Event::new();
    /// event.set();
    /// event.set();
    /// assert!(event.is_set());
    /// ```
    pub fn set(&self) {
        // SeqCst pairs with the SeqCst load in `wait` after it registered: either the waiter sees
        // the flag, or `notify_waiters` (a SeqCst increment) comes after its registration.
        if !self.flag.swap(true, Ordering::SeqCst) {
            self.notify.notify_waiters();
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
        // Creating `Notified` records Notify's count of `notify_waiters` calls; any later call
        // completes it, whether or not it was polled yet.
        let notified = self.notify.notified();
        if self.flag.load(Ordering::SeqCst) {
            return;
        }
        notified.await;
    }

    /// Waits until the flag is raised or `timeout` passes; returns whether the flag was raised
    /// (Python's `await asyncio.wait_for(event.wait(), t)` without the exception). The flag is
    /// checked before the clock, so a raised flag gives `true` even with a zero timeout;
    /// `Duration::MAX` waits forever. Needs a tokio runtime with time enabled.
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
        tokio::time::timeout(timeout, self.wait()).await.is_ok()
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
