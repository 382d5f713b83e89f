//! [`Timer`] and [`Interval`]: Python's `threading.Timer`, and its repeating sibling.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use weft_sync::Event;

use crate::error::{JoinError, StartError};
use crate::thread::{Thread, ThreadHandle};

/// Runs a function once after a delay, on its own thread, unless cancelled first
/// (Python's `threading.Timer(interval, f)`).
///
/// A cancelled timer never runs its function: [`TimerHandle::cancel`] and the firing thread
/// decide under one lock, so `cancel()` returning `true` means the function will not run, and
/// `false` means it already started (cancelling then is harmless). The timer thread's daemon
/// flag is that of the thread starting it, as for [`Thread::daemon`]: non-daemon when started
/// from the main thread (as Python's), so a program in [`main`](crate::main) waits for pending
/// timers, unless made otherwise with [`daemon`](Timer::daemon).
///
/// ```
/// use std::sync::mpsc;
/// use std::time::Duration;
/// use weft_thread::Timer;
///
/// let (tx, rx) = mpsc::channel();
/// let timer = Timer::new(Duration::from_millis(10), move || tx.send("fired").unwrap())
///     .start()
///     .unwrap();
/// assert_eq!(rx.recv().unwrap(), "fired");
/// assert!(!timer.cancel()); // too late: harmless
/// assert_eq!(timer.join().unwrap(), true);
/// ```
#[must_use = "a Timer does nothing until `start` is called"]
pub struct Timer {
    thread: Thread<bool>,
    state: Arc<TimerState>,
}

/// A started [`Timer`]. Dropping it does not cancel the timer (as in Python, where a `Timer`
/// fires whether or not the program kept a reference to it).
///
/// ```
/// use std::time::Duration;
/// let timer = weft_thread::Timer::new(Duration::from_secs(3600), || unreachable!())
///     .start()
///     .unwrap();
/// assert!(timer.cancel()); // the function will never run
/// assert_eq!(timer.join().unwrap(), false);
/// ```
pub struct TimerHandle {
    state: Arc<TimerState>,
    thread: ThreadHandle<bool>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Status {
    Pending,
    Fired,
    Cancelled,
}

struct TimerState {
    status: Mutex<Status>,
    cancelled: Event,
}

impl Timer {
    /// A timer that will call `f` once `interval` has passed after [`start`](Self::start).
    /// A zero interval fires at once; `Duration::MAX` never fires (only cancel ends it).
    ///
    /// ```
    /// let timer = weft_thread::Timer::new(std::time::Duration::ZERO, || ()).start().unwrap();
    /// assert!(timer.join().unwrap()); // fired
    /// ```
    pub fn new(interval: Duration, f: impl FnOnce() + Send + 'static) -> Self {
        let state = Arc::new(TimerState {
            status: Mutex::new(Status::Pending),
            cancelled: Event::new(),
        });
        let shared = Arc::clone(&state);
        let thread = Thread::new(move || {
            if shared.cancelled.wait_timeout(interval) {
                return false;
            }
            {
                let mut status = shared.status.lock();
                if *status != Status::Pending {
                    return false;
                }
                *status = Status::Fired;
            }
            f();
            true
        });
        Self { thread, state }
    }

    /// Names the timer's thread.
    ///
    /// ```
    /// use std::time::Duration;
    /// let t = weft_thread::Timer::new(Duration::ZERO, || ()).name("tick").start().unwrap();
    /// assert_eq!(t.name(), "tick");
    /// # t.join().unwrap();
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.thread = self.thread.name(name);
        self
    }

    /// Makes the timer's thread a daemon thread: a program does not wait for it at exit.
    ///
    /// ```
    /// use std::time::Duration;
    /// let t = weft_thread::Timer::new(Duration::MAX, || ()).daemon(true).start().unwrap();
    /// assert!(t.cancel());
    /// ```
    pub fn daemon(mut self, daemon: bool) -> Self {
        self.thread = self.thread.daemon(daemon);
        self
    }

    /// Cancels the timer before it is started (Python's `cancel()` on a `Timer` not yet
    /// started): [`start`](Self::start) then starts a thread that ends at once without running
    /// the function, and its [`join`](TimerHandle::join) gives `false`. Returns `true` the first
    /// time. (Dropping an unstarted timer also means the function never runs.)
    ///
    /// ```
    /// use std::time::Duration;
    /// let timer = weft_thread::Timer::new(Duration::ZERO, || unreachable!());
    /// assert!(timer.cancel());
    /// assert!(!timer.cancel());
    /// assert!(!timer.start().unwrap().join().unwrap()); // never ran
    /// ```
    pub fn cancel(&self) -> bool {
        self.state.cancel()
    }

    /// Starts the countdown (Python's `start()`).
    ///
    /// # Errors
    /// As [`Thread::start`](crate::Thread::start): [`StartError::InvalidName`] for a
    /// [name](Self::name) with a NUL byte, [`StartError::Spawn`] when the OS refuses the thread.
    ///
    /// ```
    /// use std::time::Duration;
    /// let t = weft_thread::Timer::new(Duration::from_millis(1), || ()).start().unwrap();
    /// assert!(t.join().unwrap());
    /// ```
    pub fn start(self) -> Result<TimerHandle, StartError> {
        Ok(TimerHandle {
            thread: self.thread.start()?,
            state: self.state,
        })
    }
}

impl TimerState {
    /// Moves a pending timer to cancelled and wakes its thread; whether this call did it.
    fn cancel(&self) -> bool {
        let cancelled = {
            let mut status = self.status.lock();
            let pending = *status == Status::Pending;
            if pending {
                *status = Status::Cancelled;
            }
            pending
        };
        if cancelled {
            self.cancelled.set();
        }
        cancelled
    }
}

impl fmt::Debug for Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timer")
            .field("thread", &self.thread)
            .finish()
    }
}

impl TimerHandle {
    /// Cancels the timer (Python's `cancel()`). Returns `true` if this call prevented the function
    /// from running: it never will. Returns `false` if the function already started or the timer
    /// was already cancelled; that is harmless.
    ///
    /// ```
    /// use std::time::Duration;
    /// let t = weft_thread::Timer::new(Duration::MAX, || ()).start().unwrap();
    /// assert!(t.cancel());
    /// assert!(!t.cancel()); // the second time changes nothing
    /// ```
    pub fn cancel(&self) -> bool {
        self.state.cancel()
    }

    /// Whether the function has started running.
    ///
    /// ```
    /// use std::time::Duration;
    /// let t = weft_thread::Timer::new(Duration::MAX, || ()).start().unwrap();
    /// assert!(!t.fired());
    /// t.cancel();
    /// ```
    pub fn fired(&self) -> bool {
        *self.state.status.lock() == Status::Fired
    }

    /// Whether the timer's thread is still waiting or running the function.
    ///
    /// ```
    /// use std::time::Duration;
    /// let t = weft_thread::Timer::new(Duration::MAX, || ()).start().unwrap();
    /// assert!(t.is_alive());
    /// t.cancel();
    /// ```
    pub fn is_alive(&self) -> bool {
        self.thread.is_alive()
    }

    /// The timer thread's name.
    ///
    /// ```
    /// use std::time::Duration;
    /// let t = weft_thread::Timer::new(Duration::MAX, || ()).start().unwrap();
    /// assert!(t.name().starts_with("Thread-"));
    /// t.cancel();
    /// ```
    pub fn name(&self) -> &str {
        self.thread.name()
    }

    /// Waits at most `timeout` for the timer's thread to end (Python's `timer.join(timeout)`
    /// followed by `not timer.is_alive()`); whether it has. The handle stays usable either way:
    /// [`join`](Self::join) then takes the outcome at once, and a timer still waiting can be
    /// cancelled. A zero timeout only checks; `Duration::MAX` waits for ever. Called from the
    /// timer's own function it returns `false` at once instead of waiting for itself.
    ///
    /// ```
    /// use std::time::Duration;
    /// let t = weft_thread::Timer::new(Duration::MAX, || ()).start().unwrap();
    /// assert!(!t.wait_timeout(Duration::from_millis(10))); // still waiting to fire
    /// t.cancel();
    /// assert!(t.wait_timeout(Duration::from_secs(60)));
    /// assert!(!t.join().unwrap()); // cancelled: the function never ran
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.thread.wait_done(timeout)
    }

    /// Waits for the timer's thread to end; returns whether the function ran (`false`: it was
    /// cancelled).
    ///
    /// # Errors
    /// [`JoinError::Panicked`] with the function's panic; [`JoinError::CurrentThread`], with
    /// the timer's thread handle inside the error, when called from the function itself.
    ///
    /// ```
    /// use std::time::Duration;
    /// let t = weft_thread::Timer::new(Duration::MAX, || ()).start().unwrap();
    /// t.cancel();
    /// assert!(!t.join().unwrap());
    /// ```
    pub fn join(self) -> Result<bool, JoinError<bool>> {
        self.thread.join()
    }
}

impl fmt::Debug for TimerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimerHandle")
            .field("status", &*self.state.status.lock())
            .field("thread", &self.thread)
            .finish()
    }
}

/// Runs a function every `period`, on its own thread, until cancelled: the repeating sibling of
/// [`Timer`] (Python programs write it as a loop around `Event.wait(period)`).
///
/// Runs are on a fixed schedule (start + k × period); a run that overruns skips the ticks it
/// missed rather than bunching them up. [`IntervalHandle::cancel`] returns once no run is in
/// progress, and no run starts after it returned. A zero period is refused
/// ([`StartError::ZeroPeriod`]).
///
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// let runs = Arc::new(AtomicU32::new(0));
/// let r = Arc::clone(&runs);
/// let (tx, rx) = std::sync::mpsc::channel();
/// let interval = weft_thread::Interval::new(Duration::from_millis(1), move || {
///     if r.fetch_add(1, Ordering::SeqCst) + 1 == 3 {
///         tx.send(()).unwrap();
///     }
/// })
/// .start()
/// .unwrap();
/// rx.recv().unwrap(); // three runs happened
/// interval.cancel();
/// let after_cancel = runs.load(Ordering::SeqCst);
/// assert_eq!(interval.join().unwrap(), u64::from(after_cancel)); // no run after cancel()
/// ```
#[must_use = "an Interval does nothing until `start` is called"]
pub struct Interval {
    thread: Thread<u64>,
    state: Arc<IntervalState>,
    period: Duration,
}

/// A started [`Interval`]. Dropping it does not cancel the interval: it runs until the process
/// ends (a non-daemon interval keeps [`main`](crate::main) waiting), so cancel it first.
///
/// ```
/// use std::time::Duration;
/// let i = weft_thread::Interval::new(Duration::from_secs(3600), || ()).start().unwrap();
/// i.cancel();
/// assert_eq!(i.join().unwrap(), 0);
/// ```
#[must_use = "the handle is the only way to cancel the interval, which runs until the process ends"]
pub struct IntervalHandle {
    state: Arc<IntervalState>,
    thread: ThreadHandle<u64>,
}

struct IntervalState {
    /// Held by the interval thread for the whole of each run. (`cancel` is the thread's stop
    /// request, which the thread reads under this lock before each run and which wakes its
    /// wait: so the handle `join` gives back from inside the function can cancel too.) weft's
    /// `Lock`, whose timed acquire ends at its timeout on a busy machine (`cancel_timeout`).
    running: weft_sync::Lock<()>,
}

/// `period × k`, or `None` past what a `Duration` holds.
fn times(period: Duration, k: u128) -> Option<Duration> {
    let nanos = period.as_nanos().checked_mul(k)?;
    let secs = u64::try_from(nanos / 1_000_000_000).ok()?;
    let subsec = u32::try_from(nanos % 1_000_000_000).ok()?;
    Some(Duration::new(secs, subsec))
}

impl Interval {
    /// An interval that will call `f` every `period` after [`start`](Self::start), the first time
    /// one period after it.
    ///
    /// ```
    /// use std::time::Duration;
    /// let i = weft_thread::Interval::new(Duration::from_millis(5), || ()).start().unwrap();
    /// i.cancel();
    /// # i.join().unwrap();
    /// ```
    pub fn new(period: Duration, mut f: impl FnMut() + Send + 'static) -> Self {
        let state = Arc::new(IntervalState {
            running: weft_sync::Lock::new(()),
        });
        let shared = Arc::clone(&state);
        let thread = Thread::new_stoppable(move |stop| {
            let start = Instant::now();
            let mut runs = 0u64;
            let mut tick: u128 = 1;
            loop {
                let due = times(period, tick).and_then(|d| start.checked_add(d));
                let wait = due.map_or(Duration::MAX, |due| {
                    due.saturating_duration_since(Instant::now())
                });
                if stop.sleep(wait).is_err() {
                    break;
                }
                let _running = shared.running.acquire();
                if stop.is_stopped() {
                    break;
                }
                f();
                runs += 1;
                // Skip the ticks a long run overran.
                tick = start.elapsed().as_nanos() / period.as_nanos().max(1) + 1;
            }
            runs
        });
        Self {
            thread,
            state,
            period,
        }
    }

    /// Names the interval's thread.
    ///
    /// ```
    /// use std::time::Duration;
    /// let i = weft_thread::Interval::new(Duration::MAX, || ()).name("poll").start().unwrap();
    /// assert_eq!(i.name(), "poll");
    /// i.cancel();
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.thread = self.thread.name(name);
        self
    }

    /// Makes the interval's thread a daemon thread.
    ///
    /// ```
    /// use std::time::Duration;
    /// let i = weft_thread::Interval::new(Duration::MAX, || ()).daemon(true).start().unwrap();
    /// i.cancel();
    /// ```
    pub fn daemon(mut self, daemon: bool) -> Self {
        self.thread = self.thread.daemon(daemon);
        self
    }

    /// Starts the schedule.
    ///
    /// # Errors
    /// [`StartError::ZeroPeriod`] for a zero period; otherwise as
    /// [`Thread::start`](crate::Thread::start): [`StartError::InvalidName`] for a
    /// [name](Self::name) with a NUL byte, [`StartError::Spawn`] when the OS refuses the thread.
    ///
    /// ```
    /// use std::time::Duration;
    /// assert!(weft_thread::Interval::new(Duration::ZERO, || ()).start().is_err());
    /// ```
    pub fn start(self) -> Result<IntervalHandle, StartError> {
        if self.period.is_zero() {
            return Err(StartError::ZeroPeriod);
        }
        Ok(IntervalHandle {
            thread: self.thread.start()?,
            state: self.state,
        })
    }
}

impl fmt::Debug for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Interval")
            .field("period", &self.period)
            .field("thread", &self.thread)
            .finish()
    }
}

impl IntervalHandle {
    /// Stops the schedule. Returns once no run is in progress; no run starts afterwards.
    /// Called from inside the function itself, it returns at once and the current run is the
    /// last. Cancelling twice is harmless.
    ///
    /// Waiting for the run in progress is what Python's idiom (a loop around `Event.wait`,
    /// stopped by `event.set()`) does not do: there `set()` returns at once. So a `cancel` from
    /// a thread the function waits for (one it joins, or one holding a lock it needs) waits for
    /// that run, which waits for it: a deadlock. Such a thread calls
    /// [`cancel_timeout`](Self::cancel_timeout), which stops the schedule as well and waits for
    /// the run in progress only as long as it is told.
    ///
    /// ```
    /// use std::time::Duration;
    /// let i = weft_thread::Interval::new(Duration::from_millis(1), || ()).start().unwrap();
    /// i.cancel();
    /// assert!(!i.join().is_err());
    /// ```
    pub fn cancel(&self) {
        self.thread.stop();
        if crate::current_thread().ident() != self.thread.ident() {
            drop(self.state.running.acquire());
        }
    }

    /// Stops the schedule as [`cancel`](Self::cancel) does, waiting at most `timeout` for a run
    /// in progress to end; returns whether none is in progress (`false`: a run goes on, and is
    /// the last). No run starts afterwards either way; `Duration::ZERO` does not wait at all.
    /// Called from inside the function, it returns `false` at once: its own run is in progress.
    ///
    /// ```
    /// use std::time::Duration;
    /// let i = weft_thread::Interval::new(Duration::MAX, || ()).start().unwrap();
    /// assert!(i.cancel_timeout(Duration::from_secs(1))); // nothing was running
    /// assert_eq!(i.join().unwrap(), 0);
    /// ```
    pub fn cancel_timeout(&self, timeout: Duration) -> bool {
        self.thread.stop();
        crate::current_thread().ident() != self.thread.ident()
            && self.state.running.acquire_timeout(timeout).is_some()
    }

    /// Whether the interval's thread is still running.
    ///
    /// ```
    /// use std::time::Duration;
    /// let i = weft_thread::Interval::new(Duration::MAX, || ()).start().unwrap();
    /// assert!(i.is_alive());
    /// i.cancel();
    /// ```
    pub fn is_alive(&self) -> bool {
        self.thread.is_alive()
    }

    /// The interval thread's name.
    ///
    /// ```
    /// use std::time::Duration;
    /// let i = weft_thread::Interval::new(Duration::MAX, || ()).start().unwrap();
    /// assert!(!i.name().is_empty());
    /// i.cancel();
    /// ```
    pub fn name(&self) -> &str {
        self.thread.name()
    }

    /// Waits at most `timeout` for the interval's thread to end (after
    /// [`cancel`](Self::cancel), or a panic in the function); whether it has. The handle stays
    /// usable either way, as for [`TimerHandle::wait_timeout`].
    ///
    /// ```
    /// use std::time::Duration;
    /// let i = weft_thread::Interval::new(Duration::MAX, || ()).start().unwrap();
    /// assert!(!i.wait_timeout(Duration::ZERO)); // runs until cancelled
    /// i.cancel();
    /// assert!(i.wait_timeout(Duration::from_secs(60)));
    /// assert_eq!(i.join().unwrap(), 0);
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.thread.wait_done(timeout)
    }

    /// Waits for the interval's thread to end (after [`cancel`](Self::cancel), or a panic in the
    /// function); returns how many runs completed.
    ///
    /// # Errors
    /// [`JoinError::Panicked`] with the function's panic; [`JoinError::CurrentThread`] when
    /// called from the function itself, with the thread's handle inside the error, whose
    /// [`stop`](ThreadHandle::stop) cancels the interval as `cancel` does.
    ///
    /// ```
    /// use std::time::Duration;
    /// let i = weft_thread::Interval::new(Duration::MAX, || ()).start().unwrap();
    /// i.cancel();
    /// assert_eq!(i.join().unwrap(), 0);
    /// ```
    pub fn join(self) -> Result<u64, JoinError<u64>> {
        self.thread.join()
    }
}

impl fmt::Debug for IntervalHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntervalHandle")
            .field("thread", &self.thread)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::times;
    use std::time::Duration;

    #[test]
    fn schedule_offsets_go_past_u32_ticks() {
        // An interval's k-th run is due `period × k` after its start, for any k: with a 1 µs
        // period, 2^32 ticks come after 72 minutes.
        let k = u128::from(u32::MAX) + 2;
        let ms = u64::try_from(k).unwrap();
        assert_eq!(
            times(Duration::from_millis(1), k),
            Some(Duration::from_millis(ms))
        );
        assert_eq!(
            times(Duration::from_nanos(1_500_000_001), 3),
            Some(Duration::new(4, 500_000_003))
        );
        assert_eq!(times(Duration::MAX, 2), None);
    }
}
