//! [`Condition`]: Python's `threading.Condition`, owning its lock and the data it protects.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::panic::Location;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::lockdep::{self, Dep, LockMeta};

use crate::lock::TryLockWithin;
use crate::loom::deadline;
use crate::raw::types;

/// A condition variable bundled with the lock it waits on and the data that lock protects
/// (Python's `threading.Condition`).
///
/// [`acquire`](Condition::acquire) locks and returns a [`ConditionGuard`]. On the guard,
/// [`wait`](ConditionGuard::wait) releases the lock, sleeps until notified, and holds the lock
/// again before it returns, on every path, timeouts included. [`notify`](Condition::notify) wakes
/// at most `n` waiters and says how many it woke. Since the lock is part of the condition, a
/// wait can never release the wrong lock, and the data can never be reached without it.
///
/// Built on the lock of [`Lock`](crate::Lock) and a condition variable of parking_lot's design (a
/// notify made with the lock held moves the waiter onto the lock's queue instead of waking it to
/// block again), whose waits have no spurious wakeups; still, as in Python, a woken waiter must
/// recheck what it waited for, since another thread may have taken the lock first:
/// [`wait_for`](ConditionGuard::wait_for) does the loop for you.
///
/// The lock is not re-entrant: it is Python's `Condition(Lock())`, whereas Python's default
/// `Condition()` takes an `RLock`. A thread that holds the guard and calls `acquire` again
/// waits for itself for ever (`try_acquire` answers `None`; the deadlock detector, when on,
/// reports it), since the guard hands out the data mutably and a second guard would alias it.
/// Pass the guard down instead of acquiring again.
///
/// ```
/// use std::collections::VecDeque;
/// use std::sync::Arc;
/// use weft_sync::Condition;
///
/// let items = Arc::new(Condition::new(VecDeque::new()));
/// let consumer = {
///     let items = Arc::clone(&items);
///     std::thread::spawn(move || {
///         let mut guard = items.acquire();
///         guard.wait_for(|q| !q.is_empty());
///         guard.pop_front().unwrap()
///     })
/// };
/// items.acquire().push_back("hello");
/// items.notify_one();
/// assert_eq!(consumer.join().unwrap(), "hello");
/// ```
pub struct Condition<T: ?Sized> {
    cv: types::Condvar,
    /// Threads waiting and not yet woken: counted with the lock held when a wait starts, and
    /// uncounted by the notify that wakes the thread (or by the thread itself when its wait times
    /// out: a wait times out exactly when no notify woke it). A notify called without the lock
    /// wakes at most this many: a woken thread can wait again before the notify's next wake-up, and
    /// must not be woken, and counted, twice by one call. (32 bits: with the condition variable's
    /// byte, the lock's byte and a small `T`, `Condition` is one word.)
    waiting: Count,
    /// The lock's class for deadlock detection (zero-sized without the feature).
    #[cfg_attr(
        not(feature = "deadlock-detection"),
        allow(dead_code, reason = "read only by deadlock detection")
    )]
    dep: LockMeta,
    mutex: types::CondMutex<T>,
}

/// Holds a [`Condition`]'s lock and gives access to its data; waits on the condition.
///
/// ```
/// use std::time::Duration;
/// let cond = weft_sync::Condition::new(0);
/// let mut guard = cond.acquire();
/// *guard += 1;
/// assert!(!guard.wait_timeout(Duration::from_millis(1))); // nobody notified
/// assert_eq!(*guard, 1); // the lock is held again
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct ConditionGuard<'a, T: ?Sized> {
    // Declared first: the detector's record of the hold goes before the lock is released.
    dep: Dep<'a>,
    guard: types::CondMutexGuard<'a, T>,
    cv: &'a types::Condvar,
    waiting: &'a Count,
}

/// The count of waiters: an `AtomicU32`, which under `--cfg weft_loom` is loom's in a condition
/// made for the models.
#[cfg(not(weft_loom))]
type Count = std::sync::atomic::AtomicU32;

/// See the non-loom `Count`: std's atomic in a condition made by `new`, which no model sees, or
/// loom's in one made by `model`.
#[cfg(weft_loom)]
#[derive(Debug)]
enum Count {
    Plain(std::sync::atomic::AtomicU32),
    Model(loom::sync::atomic::AtomicU32),
}

#[cfg(weft_loom)]
impl Count {
    const fn new(value: u32) -> Self {
        Self::Plain(std::sync::atomic::AtomicU32::new(value))
    }

    fn model() -> Self {
        Self::Model(loom::sync::atomic::AtomicU32::new(0))
    }

    fn load(&self, order: Ordering) -> u32 {
        match self {
            Self::Plain(a) => a.load(order),
            Self::Model(a) => a.load(order),
        }
    }

    fn fetch_add(&self, value: u32, order: Ordering) -> u32 {
        match self {
            Self::Plain(a) => a.fetch_add(value, order),
            Self::Model(a) => a.fetch_add(value, order),
        }
    }

    fn fetch_sub(&self, value: u32, order: Ordering) -> u32 {
        match self {
            Self::Plain(a) => a.fetch_sub(value, order),
            Self::Model(a) => a.fetch_sub(value, order),
        }
    }
}

/// Runs `wait` (a wait on the condition variable, with the lock held, returning whether it
/// timed out) counted in `waiting` until a notify wakes it: a wait that timed out uncounts
/// itself.
fn counted(waiting: &Count, wait: impl FnOnce() -> bool) -> bool {
    waiting.fetch_add(1, Ordering::SeqCst);
    let timed_out = wait();
    if timed_out {
        waiting.fetch_sub(1, Ordering::SeqCst);
    }
    timed_out
}

impl<T> Condition<T> {
    /// Creates a condition whose lock protects `value`.
    ///
    /// ```
    /// let cond = weft_sync::Condition::new(Vec::<u8>::new());
    /// assert!(cond.acquire().is_empty());
    /// ```
    #[cfg_attr(feature = "deadlock-detection", track_caller)]
    pub const fn new(value: T) -> Self {
        Self {
            cv: types::Condvar::new(),
            waiting: Count::new(0),
            dep: LockMeta::new(),
            mutex: types::CondMutex::new(value),
        }
    }

    /// Creates a condition whose lock's deadlock-detection class is `name` (see
    /// [`Lock::named`](crate::Lock::named)).
    ///
    /// ```
    /// let ready = weft_sync::Condition::named("ready", false);
    /// assert!(!*ready.acquire());
    /// ```
    pub const fn named(name: &'static str, value: T) -> Self {
        Self {
            cv: types::Condvar::new(),
            waiting: Count::new(0),
            dep: LockMeta::named(name),
            mutex: types::CondMutex::new(value),
        }
    }

    /// Under `--cfg weft_loom` only, for the models: a condition whose lock, condition
    /// variable and count of waiters are the model ones (loom's atomics, the model parking
    /// table), which `new` cannot make, being `const`. A condition made by `new` runs on
    /// parking_lot's types there, which no model sees (a `static` one outlives the models).
    #[cfg(weft_loom)]
    #[doc(hidden)]
    pub fn model(value: T) -> Self {
        Self {
            cv: types::Condvar::model(),
            waiting: Count::model(),
            dep: LockMeta::new(),
            mutex: types::CondMutex::from_raw(
                types::CondLock::Model(crate::raw::RawLock::new()),
                value,
            ),
        }
    }

    /// Consumes the condition and returns the data.
    ///
    /// ```
    /// assert_eq!(weft_sync::Condition::new(9).into_inner(), 9);
    /// ```
    pub fn into_inner(self) -> T {
        self.mutex.into_inner()
    }
}

impl<T: ?Sized> Condition<T> {
    /// Acquires the condition's lock, blocking until it is free.
    ///
    /// ```
    /// let cond = weft_sync::Condition::new(1);
    /// *cond.acquire() += 1;
    /// assert_eq!(*cond.acquire(), 2);
    /// ```
    #[inline]
    #[cfg_attr(feature = "deadlock-detection", track_caller)]
    pub fn acquire(&self) -> ConditionGuard<'_, T> {
        #[cfg(feature = "deadlock-detection")]
        let (guard, dep) = {
            let a = self.acquire_site(0, Location::caller());
            lockdep::lock(
                a,
                None,
                || self.mutex.try_lock(),
                |d| self.mutex.try_lock_within(d),
            )
            .unwrap_or_else(|| (self.mutex.lock(), a.untracked()))
        };
        #[cfg(not(feature = "deadlock-detection"))]
        let (guard, dep) = (self.mutex.lock(), Dep::NONE);
        self.guard(guard, dep)
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

    /// Acquires the lock if it is free right now.
    ///
    /// ```
    /// let cond = weft_sync::Condition::new(());
    /// let held = cond.acquire();
    /// assert!(cond.try_acquire().is_none());
    /// ```
    #[inline]
    #[cfg_attr(feature = "deadlock-detection", track_caller)]
    #[must_use = "the lock is released at once if the guard is dropped"]
    pub fn try_acquire(&self) -> Option<ConditionGuard<'_, T>> {
        let guard = self.mutex.try_lock()?;
        #[cfg(feature = "deadlock-detection")]
        let dep = lockdep::lock_tried(&self.dep, self.addr(), Location::caller());
        #[cfg(not(feature = "deadlock-detection"))]
        let dep = Dep::NONE;
        Some(self.guard(guard, dep))
    }

    /// Acquires the lock, waiting at most `timeout`; `Duration::MAX` waits forever.
    ///
    /// ```
    /// use std::time::Duration;
    /// let cond = weft_sync::Condition::new(());
    /// assert!(cond.acquire_timeout(Duration::ZERO).is_some());
    /// ```
    #[inline]
    #[cfg_attr(feature = "deadlock-detection", track_caller)]
    #[must_use = "the lock is released at once if the guard is dropped"]
    pub fn acquire_timeout(&self, timeout: Duration) -> Option<ConditionGuard<'_, T>> {
        #[cfg(feature = "deadlock-detection")]
        {
            let a = self.acquire_site(0, Location::caller());
            lockdep::lock(
                a,
                Some(timeout),
                || self.mutex.try_lock(),
                |d| self.mutex.try_lock_within(d),
            )
            .map(|(guard, dep)| self.guard(guard, dep))
        }
        #[cfg(not(feature = "deadlock-detection"))]
        self.mutex
            .try_lock_within(timeout)
            .map(|g| self.guard(g, Dep::NONE))
    }

    /// Whether some thread holds the lock right now.
    ///
    /// ```
    /// let cond = weft_sync::Condition::new(());
    /// let g = cond.acquire();
    /// assert!(cond.locked());
    /// ```
    #[inline]
    pub fn locked(&self) -> bool {
        self.mutex.is_locked()
    }

    /// Under `--cfg weft_loom` only, for the models: how many threads are counted as waiting
    /// and not yet woken (the count that caps [`notify`](Self::notify)).
    #[cfg(weft_loom)]
    #[doc(hidden)]
    pub fn counted_waiters(&self) -> u32 {
        self.waiting.load(Ordering::SeqCst)
    }

    /// Wakes at most `n` waiting threads and returns how many it woke (Python's `notify(n)`).
    ///
    /// It may be called with or without the lock held; notifying while holding it, as Python
    /// requires, means the woken threads run only after the guard is dropped. Without the lock,
    /// a thread woken by this call may wait again before it returns; it is not woken again by
    /// this call, which wakes at most as many threads as were waiting when it began (waiters
    /// are woken oldest first, and one that waits again queues behind them; a thread woken by
    /// an earlier notify no longer counts). Two exceptions: when a waiter times out meanwhile,
    /// the wake-up meant for it can reach a thread that has waited again; and so can one meant
    /// for a thread that another notify, running at the same moment, has just woken.
    ///
    /// ```
    /// let cond = weft_sync::Condition::new(());
    /// assert_eq!(cond.notify(3), 0); // nobody was waiting
    /// ```
    pub fn notify(&self, n: usize) -> usize {
        let waiting = usize::try_from(self.waiting.load(Ordering::SeqCst)).unwrap_or(usize::MAX);
        let n = n.min(waiting);
        let mut woken = 0;
        while woken < n && self.notify_one() {
            woken += 1;
        }
        woken
    }

    /// Wakes one waiting thread, if any; returns whether one was woken.
    ///
    /// ```
    /// let cond = weft_sync::Condition::new(());
    /// assert!(!cond.notify_one());
    /// ```
    #[inline]
    pub fn notify_one(&self) -> bool {
        let woke = self.cv.notify_one(&self.mutex);
        if woke {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
        }
        woke
    }

    /// Wakes every waiting thread and returns how many it woke (Python's `notify_all()`).
    ///
    /// ```
    /// let cond = weft_sync::Condition::new(());
    /// assert_eq!(cond.notify_all(), 0);
    /// ```
    #[inline]
    pub fn notify_all(&self) -> usize {
        let woken = self.cv.notify_all(&self.mutex);
        // Every thread woken was counted when it began to wait.
        let n = u32::try_from(woken).unwrap_or(u32::MAX);
        self.waiting.fetch_sub(n, Ordering::SeqCst);
        woken
    }

    /// Mutable access to the data without locking: `&mut self` proves no thread holds it.
    ///
    /// ```
    /// let mut cond = weft_sync::Condition::new(1);
    /// *cond.get_mut() = 2;
    /// assert_eq!(*cond.acquire(), 2);
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        self.mutex.get_mut()
    }

    fn guard<'a>(
        &'a self,
        guard: types::CondMutexGuard<'a, T>,
        dep: Dep<'a>,
    ) -> ConditionGuard<'a, T> {
        ConditionGuard {
            dep,
            guard,
            cv: &self.cv,
            waiting: &self.waiting,
        }
    }
}

impl<T: ?Sized> ConditionGuard<'_, T> {
    /// Releases the lock, blocks until notified, and holds the lock again before returning
    /// (Python's `wait()`).
    ///
    /// ```
    /// use std::sync::Arc;
    /// let cond = Arc::new(weft_sync::Condition::new(false));
    /// let c = Arc::clone(&cond);
    /// let t = std::thread::spawn(move || {
    ///     *c.acquire() = true;
    ///     c.notify_all();
    /// });
    /// let mut guard = cond.acquire();
    /// while !*guard {
    ///     guard.wait();
    /// }
    /// t.join().unwrap();
    /// ```
    #[inline]
    #[cfg_attr(feature = "deadlock-detection", track_caller)]
    pub fn wait(&mut self) {
        let (dep, guard, cv) = (&self.dep, &mut self.guard, self.cv);
        // The waits have no spurious wake-ups: a wait without a deadline ends only when a
        // notify wakes it.
        lockdep::condition_wait(dep, Location::caller(), || {
            counted(self.waiting, || cv.wait_until(guard, None))
        });
    }

    /// Like [`wait`](Self::wait), giving up after `timeout`; returns whether it was notified
    /// (`false`: it timed out). The lock is held again either way. `Duration::MAX` waits forever.
    /// `Duration::ZERO` still lets go of the lock and takes it back, as Python's `wait(0)`, so
    /// another thread may change the data (and notify) meanwhile; weft-async's `Condition`
    /// keeps the lock then.
    ///
    /// ```
    /// use std::time::Duration;
    /// let cond = weft_sync::Condition::new(());
    /// let mut guard = cond.acquire();
    /// assert!(!guard.wait_timeout(Duration::ZERO));
    /// ```
    #[cfg_attr(feature = "deadlock-detection", track_caller)]
    pub fn wait_timeout(&mut self, timeout: Duration) -> bool {
        match deadline(timeout) {
            Some(deadline) => self.wait_deadline(deadline),
            None => {
                self.wait();
                true
            }
        }
    }

    /// Like [`wait`](Self::wait), giving up at `deadline`; returns whether it was notified.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let cond = weft_sync::Condition::new(());
    /// let mut guard = cond.acquire();
    /// assert!(!guard.wait_deadline(Instant::now() + Duration::from_millis(1)));
    /// ```
    #[cfg_attr(feature = "deadlock-detection", track_caller)]
    pub fn wait_deadline(&mut self, deadline: Instant) -> bool {
        let (dep, guard, cv) = (&self.dep, &mut self.guard, self.cv);
        let wait = || counted(self.waiting, || cv.wait_until(guard, Some(deadline)));
        !lockdep::condition_wait(dep, Location::caller(), wait)
    }

    /// Waits until `predicate(&mut data)` is true, checking it first and again after every wake
    /// (Python's `wait_for(predicate)`). Returns with the lock held and the predicate true.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let cond = Arc::new(weft_sync::Condition::new(0));
    /// let c = Arc::clone(&cond);
    /// let t = std::thread::spawn(move || {
    ///     for _ in 0..3 {
    ///         *c.acquire() += 1;
    ///         c.notify_all();
    ///     }
    /// });
    /// cond.acquire().wait_for(|n| *n == 3);
    /// t.join().unwrap();
    /// ```
    #[cfg_attr(feature = "deadlock-detection", track_caller)]
    pub fn wait_for(&mut self, mut predicate: impl FnMut(&mut T) -> bool) {
        while !predicate(&mut self.guard) {
            self.wait();
        }
    }

    /// Like [`wait_for`](Self::wait_for), giving up after `timeout` in all; returns the
    /// predicate's last value (Python's `wait_for(predicate, timeout)`). The lock is held again
    /// either way.
    ///
    /// ```
    /// use std::time::Duration;
    /// let cond = weft_sync::Condition::new(0);
    /// let mut guard = cond.acquire();
    /// assert!(!guard.wait_for_timeout(|n| *n > 0, Duration::from_millis(5)));
    /// assert!(guard.wait_for_timeout(|n| *n == 0, Duration::ZERO));
    /// ```
    #[cfg_attr(feature = "deadlock-detection", track_caller)]
    pub fn wait_for_timeout(
        &mut self,
        mut predicate: impl FnMut(&mut T) -> bool,
        timeout: Duration,
    ) -> bool {
        let Some(deadline) = deadline(timeout) else {
            self.wait_for(predicate);
            return true;
        };
        loop {
            if predicate(&mut self.guard) {
                return true;
            }
            if !self.wait_deadline(deadline) {
                return predicate(&mut self.guard);
            }
        }
    }

    /// Releases the lock (Python's `release()`); the same as dropping the guard.
    ///
    /// ```
    /// let cond = weft_sync::Condition::new(());
    /// let guard = cond.acquire();
    /// guard.release();
    /// assert!(!cond.locked());
    /// ```
    pub fn release(self) {}
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

impl<T: Default> Default for Condition<T> {
    #[cfg_attr(feature = "deadlock-detection", track_caller)]
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T> From<T> for Condition<T> {
    #[cfg_attr(feature = "deadlock-detection", track_caller)]
    fn from(value: T) -> Self {
        Self::new(value)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Condition<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Condition");
        match self.mutex.try_lock() {
            Some(guard) => d.field("data", &&*guard),
            None => d.field("data", &format_args!("<locked>")),
        };
        d.finish()
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for ConditionGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
