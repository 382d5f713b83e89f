//! [`Barrier`]: Python's `threading.Barrier`, with an action, a timeout, abort and reset.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use crate::error::{BreakCause, BrokenBarrier, ZeroParties};
use crate::loom::{deadline, spin_until, Arc, AtomicU8, Condvar, Mutex, MutexGuard, Ordering};
use crate::panic_message;

const PENDING: u8 = 0;
const PASSED: u8 = 1;
const BROKEN_ABORTED: u8 = 2;
const BROKEN_RESET: u8 = 3;
const BROKEN_TIMEOUT: u8 = 4;
const BROKEN_ACTION: u8 = 5;

fn code(cause: BreakCause) -> u8 {
    match cause {
        BreakCause::Aborted => BROKEN_ABORTED,
        BreakCause::Reset => BROKEN_RESET,
        BreakCause::Timeout => BROKEN_TIMEOUT,
        BreakCause::ActionPanicked => BROKEN_ACTION,
    }
}

fn cause(code: u8) -> BreakCause {
    match code {
        BROKEN_ABORTED => BreakCause::Aborted,
        BROKEN_RESET => BreakCause::Reset,
        BROKEN_TIMEOUT => BreakCause::Timeout,
        _ => BreakCause::ActionPanicked,
    }
}

/// One cycle of the barrier. Its waiters keep it alive (an `Arc`) and read its outcome, which the
/// thread that ends the cycle sets once: `PASSED`, or the code of the cause that broke it. So a
/// waiter learns how *its* cycle ended even if the barrier was reset and reused since.
struct Generation {
    outcome: AtomicU8,
}

impl Generation {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            outcome: AtomicU8::new(PENDING),
        })
    }
}

struct State {
    /// Threads that arrived in the current cycle (never more than `parties`).
    count: usize,
    current: Arc<Generation>,
    /// Set while the barrier is broken: later waiters fail at once until `reset`.
    broken: Option<BreakCause>,
    /// Waiters parked on `cv` (the spinning ones are not counted).
    parked: u32,
}

type Action = Box<dyn Fn() + Send + Sync>;

/// A rendezvous for a fixed number of threads, reusable cycle after cycle
/// (Python's `threading.Barrier`).
///
/// Each of `parties` threads calls [`wait`](Barrier::wait); all block until the last arrives, then
/// all pass, each with a distinct index in `0..parties`. An optional [action](Barrier::action) runs
/// once per cycle, in the last thread to arrive, before any waiter is released. The barrier
/// *breaks* when the action panics, a wait times out, or [`abort`](Barrier::abort) is called:
/// every current and later waiter then gets [`BrokenBarrier`] until [`reset`](Barrier::reset).
///
/// Waiters spin briefly (127 `spin_loop` hints, then up to 16 `yield_now` calls) before parking,
/// since on small VMs a wake-up from parking costs tens of microseconds.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use weft_sync::Barrier;
///
/// let barrier = Arc::new(Barrier::new(3).unwrap().timeout(Duration::from_secs(5)));
/// let handles: Vec<_> = (0..3)
///     .map(|_| {
///         let barrier = Arc::clone(&barrier);
///         std::thread::spawn(move || barrier.wait().unwrap())
///     })
///     .collect();
/// let mut indices: Vec<usize> = handles.into_iter().map(|h| h.join().unwrap()).collect();
/// indices.sort();
/// assert_eq!(indices, [0, 1, 2]);
/// ```
pub struct Barrier {
    parties: usize,
    action: Option<Action>,
    timeout: Option<Duration>,
    state: Mutex<State>,
    cv: Condvar,
}

impl Barrier {
    /// Creates a barrier for `parties` threads. Zero parties is an error (Python's `ValueError`).
    ///
    /// ```
    /// let barrier = weft_sync::Barrier::new(1).unwrap();
    /// assert_eq!(barrier.wait(), Ok(0)); // one party: never blocks
    /// assert!(weft_sync::Barrier::new(0).is_err());
    /// ```
    pub fn new(parties: usize) -> Result<Self, ZeroParties> {
        if parties == 0 {
            return Err(ZeroParties);
        }
        Ok(Self {
            parties,
            action: None,
            timeout: None,
            state: Mutex::new(State {
                count: 0,
                current: Generation::new(),
                broken: None,
                parked: 0,
            }),
            cv: Condvar::new(),
        })
    }

    /// Sets the action run once per cycle by the last thread to arrive, before any thread is
    /// released (Python's `action=`). If it panics, the barrier breaks: that thread's error carries
    /// the panic message, and the others get [`BreakCause::ActionPanicked`].
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// let cycles = Arc::new(AtomicUsize::new(0));
    /// let c = Arc::clone(&cycles);
    /// let barrier = weft_sync::Barrier::new(1).unwrap().action(move || {
    ///     c.fetch_add(1, Ordering::SeqCst);
    /// });
    /// barrier.wait().unwrap();
    /// barrier.wait().unwrap();
    /// assert_eq!(cycles.load(Ordering::SeqCst), 2);
    /// ```
    pub fn action(mut self, action: impl Fn() + Send + Sync + 'static) -> Self {
        self.action = Some(Box::new(action));
        self
    }

    /// Sets the default timeout of [`wait`](Self::wait) (Python's `timeout=`). A wait that times
    /// out breaks the barrier. `Duration::MAX` means no timeout.
    ///
    /// ```
    /// use std::time::Duration;
    /// let barrier = weft_sync::Barrier::new(2).unwrap().timeout(Duration::from_millis(10));
    /// assert!(barrier.wait().unwrap_err().is_timeout()); // the other party never came
    /// assert!(barrier.broken());
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Waits until all parties have called `wait` in this cycle, with the barrier's default
    /// timeout if one was set. Returns this thread's index in `0..parties` (distinct for each
    /// thread of a cycle; the last to arrive gets `parties - 1`), or [`BrokenBarrier`].
    ///
    /// ```
    /// use std::sync::Arc;
    /// let barrier = Arc::new(weft_sync::Barrier::new(2).unwrap());
    /// let b = Arc::clone(&barrier);
    /// let t = std::thread::spawn(move || b.wait());
    /// let mine = barrier.wait().unwrap();
    /// let theirs = t.join().unwrap().unwrap();
    /// assert_eq!(mine + theirs, 1);
    /// ```
    pub fn wait(&self) -> Result<usize, BrokenBarrier> {
        self.wait_until(self.timeout.and_then(deadline))
    }

    /// Like [`wait`](Self::wait) with `timeout` instead of the default (Python's
    /// `wait(timeout)`). If the cycle does not complete in time, the barrier breaks and this and
    /// every other waiter get [`BrokenBarrier`]. A zero timeout breaks the barrier unless this
    /// thread completes the cycle; `Duration::MAX` waits forever.
    ///
    /// ```
    /// use std::time::Duration;
    /// let barrier = weft_sync::Barrier::new(2).unwrap();
    /// assert!(barrier.wait_timeout(Duration::ZERO).is_err());
    /// barrier.reset();
    /// assert!(!barrier.broken());
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> Result<usize, BrokenBarrier> {
        self.wait_until(deadline(timeout))
    }

    fn wait_until(&self, deadline: Option<Instant>) -> Result<usize, BrokenBarrier> {
        let mut state = self.state.lock();
        if let Some(cause) = state.broken {
            return Err(BrokenBarrier { cause, panic: None });
        }
        let index = state.count;
        state.count += 1;
        if state.count == self.parties {
            return self.trip(state, index);
        }
        let generation = Arc::clone(&state.current);
        drop(state);

        let outcome = || generation.outcome.load(Ordering::Acquire);
        if spin_until(|| outcome() != PENDING) {
            return Self::outcome(outcome(), index);
        }
        let mut state = self.state.lock();
        loop {
            let now = outcome();
            if now != PENDING {
                return Self::outcome(now, index);
            }
            state.parked += 1;
            let (guard, timed_out) = self.cv.wait_until(state, deadline);
            state = guard;
            state.parked -= 1;
            if timed_out && outcome() == PENDING {
                self.break_locked(&mut state, BreakCause::Timeout);
                return Err(BrokenBarrier {
                    cause: BreakCause::Timeout,
                    panic: None,
                });
            }
        }
    }

    /// Ends the current cycle as the last party to arrive: runs the action, then releases all.
    fn trip(&self, mut state: MutexGuard<'_, State>, index: usize) -> Result<usize, BrokenBarrier> {
        if let Some(action) = &self.action {
            if let Err(payload) = catch_unwind(AssertUnwindSafe(action)) {
                self.break_locked(&mut state, BreakCause::ActionPanicked);
                return Err(BrokenBarrier {
                    cause: BreakCause::ActionPanicked,
                    panic: Some(panic_message(payload.as_ref())),
                });
            }
        }
        self.end_cycle(&mut state, PASSED);
        Ok(index)
    }

    fn outcome(outcome: u8, index: usize) -> Result<usize, BrokenBarrier> {
        if outcome == PASSED {
            Ok(index)
        } else {
            Err(BrokenBarrier {
                cause: cause(outcome),
                panic: None,
            })
        }
    }

    /// Ends the current cycle with `outcome` and wakes its parked waiters.
    fn end_cycle(&self, state: &mut State, outcome: u8) {
        state.count = 0;
        let ended = std::mem::replace(&mut state.current, Generation::new());
        ended.outcome.store(outcome, Ordering::Release);
        if state.parked > 0 {
            self.cv.notify_all();
        }
    }

    fn break_locked(&self, state: &mut State, cause: BreakCause) {
        if state.broken.is_none() {
            state.broken = Some(cause);
            self.end_cycle(state, code(cause));
        }
    }

    /// Breaks the barrier (Python's `abort()`): every current and later waiter gets
    /// [`BrokenBarrier`] with [`BreakCause::Aborted`] until [`reset`](Self::reset). Useful to
    /// release the other threads when this one cannot continue. Aborting a broken barrier changes
    /// nothing.
    ///
    /// ```
    /// let barrier = weft_sync::Barrier::new(2).unwrap();
    /// barrier.abort();
    /// assert!(barrier.broken());
    /// assert!(barrier.wait().is_err());
    /// ```
    pub fn abort(&self) {
        let mut state = self.state.lock();
        self.break_locked(&mut state, BreakCause::Aborted);
    }

    /// Returns the barrier to its empty, unbroken state (Python's `reset()`). Threads waiting in
    /// the current cycle get [`BrokenBarrier`] with [`BreakCause::Reset`].
    ///
    /// ```
    /// let barrier = weft_sync::Barrier::new(1).unwrap();
    /// barrier.abort();
    /// barrier.reset();
    /// assert_eq!(barrier.wait(), Ok(0));
    /// ```
    pub fn reset(&self) {
        let mut state = self.state.lock();
        if state.count > 0 {
            self.end_cycle(&mut state, BROKEN_RESET);
        }
        state.broken = None;
    }

    /// The number of threads needed to pass the barrier.
    ///
    /// ```
    /// assert_eq!(weft_sync::Barrier::new(4).unwrap().parties(), 4);
    /// ```
    pub fn parties(&self) -> usize {
        self.parties
    }

    /// The number of threads waiting in the current cycle (Python's `n_waiting`).
    ///
    /// ```
    /// assert_eq!(weft_sync::Barrier::new(4).unwrap().n_waiting(), 0);
    /// ```
    pub fn n_waiting(&self) -> usize {
        self.state.lock().count
    }

    /// Whether the barrier is broken (Python's `broken`).
    ///
    /// ```
    /// let barrier = weft_sync::Barrier::new(2).unwrap();
    /// assert!(!barrier.broken());
    /// barrier.abort();
    /// assert!(barrier.broken());
    /// ```
    pub fn broken(&self) -> bool {
        self.state.lock().broken.is_some()
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.lock();
        f.debug_struct("Barrier")
            .field("parties", &self.parties)
            .field("n_waiting", &state.count)
            .field("broken", &state.broken)
            .field("has_action", &self.action.is_some())
            .field("timeout", &self.timeout)
            .finish()
    }
}
