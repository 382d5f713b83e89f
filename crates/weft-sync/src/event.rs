//! [`Event`]: Python's `threading.Event`.

use std::fmt;
use std::time::{Duration, Instant};

use crate::loom::{
    deadline, expired, mark_parked, spin_until_deadline, AtomicUsize, Condvar, Mutex, Ordering,
};

/// The flag bit of `Event::state`.
const FLAG: usize = 1;
/// The bit of `Event::state` that says threads are parked.
const PARKED: usize = 2;
/// One `set()` that raised the flag, counted in the bits above `FLAG` and `PARKED`.
const ONE_SET: usize = 4;

/// A flag that threads can wait on (Python's `threading.Event`).
///
/// [`set`](Event::set) raises the flag and wakes every waiter, [`clear`](Event::clear) lowers it,
/// [`wait`](Event::wait) blocks until it is raised. As in CPython, a waiter woken by `set` returns
/// `true` even if another thread cleared the flag again before the waiter ran: the state word
/// counts the times the flag was raised, and a waiter returns as soon as that count moves.
///
/// Checking the flag is one atomic load; `set` takes the internal lock only when threads are
/// parked. Waiters spin briefly (127 `spin_loop` hints, then, without a timeout, up to 16
/// `yield_now` calls) before parking.
///
/// ```
/// use std::sync::Arc;
/// use weft_sync::Event;
///
/// let ready = Arc::new(Event::new());
/// let r = Arc::clone(&ready);
/// let waiter = std::thread::spawn(move || r.wait());
/// ready.set();
/// waiter.join().unwrap();
/// assert!(ready.is_set());
/// ```
pub struct Event {
    /// `FLAG`, `PARKED`, and above them the count of raising `set`s. A waiter sets `PARKED` (under
    /// `lock`, by a compare-and-swap that fails if a `set` came first) before it parks; `set`
    /// raises the flag with a compare-and-swap on the same word, so it sees `PARKED` and notifies
    /// under `lock`: no wake-up can be lost. The last waiter to leave clears `PARKED`.
    state: AtomicUsize,
    /// The number of threads in the slow path.
    lock: Mutex<u32>,
    cv: Condvar,
}

impl Event {
    /// Creates an event whose flag is down.
    ///
    /// ```
    /// assert!(!weft_sync::Event::new().is_set());
    /// ```
    pub fn new() -> Self {
        Self {
            state: AtomicUsize::new(0),
            lock: Mutex::new(0),
            cv: Condvar::new(),
        }
    }

    /// Whether the flag is raised (Python's `is_set()`).
    ///
    /// ```
    /// let event = weft_sync::Event::new();
    /// event.set();
    /// assert!(event.is_set());
    /// ```
    #[inline]
    pub fn is_set(&self) -> bool {
        self.state.load(Ordering::Acquire) & FLAG != 0
    }

    /// Raises the flag and wakes every waiting thread (Python's `set()`). Setting a raised flag
    /// does nothing.
    ///
    /// ```
    /// let event = weft_sync::Event::new();
    /// event.set();
    /// event.set();
    /// assert!(event.wait_timeout(std::time::Duration::ZERO));
    /// ```
    pub fn set(&self) {
        let mut cur = self.state.load(Ordering::Relaxed);
        loop {
            if cur & FLAG != 0 {
                return;
            }
            let new = cur.wrapping_add(ONE_SET) | FLAG;
            match self
                .state
                .compare_exchange_weak(cur, new, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(now) => cur = now,
            }
        }
        if cur & PARKED != 0 {
            self.wake();
        }
    }

    #[cold]
    fn wake(&self) {
        let _guard = self.lock.lock();
        self.cv.notify_all();
    }

    /// Lowers the flag (Python's `clear()`): later waits block until the next `set`.
    ///
    /// ```
    /// let event = weft_sync::Event::new();
    /// event.set();
    /// event.clear();
    /// assert!(!event.is_set());
    /// ```
    #[inline]
    pub fn clear(&self) {
        self.state.fetch_and(!FLAG, Ordering::Relaxed);
    }

    /// Blocks until the flag is raised (Python's `wait()`); returns at once if it is already up.
    ///
    /// ```
    /// let event = weft_sync::Event::new();
    /// event.set();
    /// event.wait();
    /// ```
    pub fn wait(&self) {
        self.wait_until(None);
    }

    /// Blocks until the flag is raised or `timeout` passes; returns whether the flag was raised
    /// (Python's `wait(timeout)`). A zero timeout just reads the flag; `Duration::MAX` waits
    /// forever.
    ///
    /// ```
    /// use std::time::Duration;
    /// let event = weft_sync::Event::new();
    /// assert!(!event.wait_timeout(Duration::from_millis(5)));
    /// event.set();
    /// assert!(event.wait_timeout(Duration::from_millis(5)));
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.wait_until(deadline(timeout))
    }

    /// Under `--cfg weft_loom` only, for the models: the threads counted in the slow path,
    /// and whether the state word says threads are parked (both zero once no thread waits).
    #[cfg(weft_loom)]
    #[doc(hidden)]
    pub fn counted_waiters(&self) -> (u32, bool) {
        let waiters = self.lock.lock();
        (*waiters, self.state.load(Ordering::SeqCst) & PARKED != 0)
    }

    fn wait_until(&self, deadline: Option<Instant>) -> bool {
        let seen = self.state.load(Ordering::Acquire);
        if seen & FLAG != 0 {
            return true;
        }
        // The flag is down in `seen`, so a change of the count (or the flag) means a `set` came.
        let seen = seen & !PARKED;
        let raised = |state: usize| state & !PARKED != seen;
        let moved = || raised(self.state.load(Ordering::Acquire));
        if expired(deadline) {
            return moved();
        }
        if spin_until_deadline(deadline, moved) {
            return true;
        }
        self.wait_slow(seen, deadline)
    }

    #[cold]
    fn wait_slow(&self, seen: usize, deadline: Option<Instant>) -> bool {
        let raised = |state: usize| state & !PARKED != seen;
        let mut waiters = self.lock.lock();
        *waiters += 1;
        let result = loop {
            let cur = self.state.load(Ordering::Acquire);
            if raised(cur) {
                break true;
            }
            if !mark_parked(&self.state, cur, PARKED) {
                continue;
            }
            let (guard, timed_out) = self.cv.wait_until(waiters, deadline);
            waiters = guard;
            if timed_out {
                break raised(self.state.load(Ordering::Acquire));
            }
        };
        *waiters -= 1;
        if *waiters == 0 {
            self.state.fetch_and(!PARKED, Ordering::Relaxed);
        }
        result
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
