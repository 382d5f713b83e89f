//! [`Barrier`]: Python's `threading.Barrier`, with an action, a timeout, abort and reset.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use crate::error::{BreakCause, BrokenBarrier, ZeroParties};
use crate::loom::{
    deadline, expired, spin_until_deadline, thread_id, Arc, AtomicU8, Condvar, Mutex, MutexGuard,
    Ordering, ThreadId,
};

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
    /// Waiters parked on `cv` (the spinning ones are not counted), and arrivals waiting for an
    /// action to end.
    parked: u32,
    /// The thread running the action of the cycle that filled, while it runs. The action runs
    /// unlocked, so that it may use the barrier; arrivals for the next cycle wait until it ends.
    tripping: Option<ThreadId>,
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
/// Waiters spin briefly (127 `spin_loop` hints, then, without a timeout, up to 16 `yield_now`
/// calls) before parking, since on small VMs a wake-up from parking costs tens of microseconds.
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
    /// Creates a barrier for `parties` threads.
    ///
    /// # Errors
    /// [`ZeroParties`] when `parties` is zero (`asyncio.Barrier`'s `ValueError`; CPython
    /// 3.11's `threading.Barrier(0)` is accepted, and its `wait` never returns).
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
                tripping: None,
            }),
            cv: Condvar::new(),
        })
    }

    /// Sets the action run once per cycle by the last thread to arrive, before any thread is
    /// released (Python's `action=`). If it panics, the barrier breaks (unless the action ended
    /// the cycle first, below): that thread's error carries the panic message, and the others get
    /// [`BreakCause::ActionPanicked`].
    ///
    /// The action runs without the barrier's internal lock held, so it may use its own barrier:
    /// [`n_waiting`](Self::n_waiting) (all parties, then), [`broken`](Self::broken) and `{:?}`
    /// read it; [`abort`](Self::abort) or [`reset`](Self::reset) end the cycle, and every party,
    /// the one running the action included, gets [`BrokenBarrier`] with that cause. (Python runs
    /// the action holding the barrier's lock, where those two deadlock.) Threads arriving for the
    /// next cycle wait until the action has returned. [`wait`](Self::wait) called from the
    /// action on its own barrier panics instead of hanging (the thread running the action cannot
    /// also wait in the next cycle): unless the action catches that panic, or ended the cycle
    /// first, the barrier breaks with [`BreakCause::ActionPanicked`]. (An action that ended its
    /// cycle with `reset` and then panics leaves the barrier usable, as the reset made it: every
    /// party gets the reset's error, its own carrying the panic message.)
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
    #[must_use = "the barrier is returned with the action set; dropping it drops the barrier"]
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
    #[must_use = "the barrier is returned with the timeout set; dropping it drops the barrier"]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Waits until all parties have called `wait` in this cycle, with the barrier's default
    /// timeout if one was set. Returns this thread's index in `0..parties` (distinct for each
    /// thread of a cycle; the last to arrive gets `parties - 1`).
    ///
    /// # Errors
    /// [`BrokenBarrier`] when the barrier is broken on entry or breaks while this thread waits:
    /// [`abort`](Self::abort), [`reset`](Self::reset), the default timeout running out, or the
    /// action panicking; [`cause`](BrokenBarrier::cause) says which.
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
        self.wait_until(self.timeout)
    }

    /// Like [`wait`](Self::wait) with `timeout` instead of the default (Python's
    /// `wait(timeout)`). A zero timeout breaks the barrier unless this thread completes the
    /// cycle; `Duration::MAX` waits forever.
    ///
    /// # Errors
    /// As [`wait`](Self::wait); if the cycle does not complete in time, the barrier breaks and
    /// this and every other waiter get [`BrokenBarrier`] with [`BreakCause::Timeout`].
    ///
    /// ```
    /// use std::time::Duration;
    /// let barrier = weft_sync::Barrier::new(2).unwrap();
    /// assert!(barrier.wait_timeout(Duration::ZERO).is_err());
    /// barrier.reset();
    /// assert!(!barrier.broken());
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> Result<usize, BrokenBarrier> {
        self.wait_until(Some(timeout))
    }

    /// Waits with `timeout` counted from this thread's entry into its cycle (after any wait for
    /// the previous cycle's action), as Python's.
    fn wait_until(&self, timeout: Option<Duration>) -> Result<usize, BrokenBarrier> {
        let mut state = self.state.lock();
        loop {
            if let Some(cause) = state.broken {
                return Err(BrokenBarrier { cause, panic: None });
            }
            let Some(tripper) = state.tripping else {
                break;
            };
            if tripper == thread_id() {
                drop(state);
                wait_in_own_action();
            }
            // The previous cycle's action is running: this thread belongs to the next cycle.
            state.parked += 1;
            state = self.cv.wait_until(state, None).0;
            state.parked -= 1;
        }
        let mut deadline = timeout.and_then(deadline);
        let index = state.count;
        state.count += 1;
        if state.count == self.parties {
            return self.trip(state, index);
        }
        if expired(deadline) {
            // The time is up before anyone else could arrive, so the barrier breaks unless this
            // party was the last (weft's rule; Python's `wait(0)` lets go of the lock a moment).
            self.break_locked(&mut state, BreakCause::Timeout);
            return Err(BrokenBarrier {
                cause: BreakCause::Timeout,
                panic: None,
            });
        }
        let generation = Arc::clone(&state.current);
        drop(state);

        let outcome = || generation.outcome.load(Ordering::Acquire);
        // The spin ends at the deadline too: a party arriving after it must not count.
        if spin_until_deadline(deadline, || outcome() != PENDING || expired(deadline))
            && outcome() != PENDING
        {
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
                if state.tripping.is_some() {
                    // Every party arrived in time: this cycle's action is running, and its end
                    // releases this thread (as Python's waiter gets the lock back only then).
                    deadline = None;
                    continue;
                }
                self.break_locked(&mut state, BreakCause::Timeout);
                return Err(BrokenBarrier {
                    cause: BreakCause::Timeout,
                    panic: None,
                });
            }
        }
    }

    /// Ends the current cycle as the last party to arrive: runs the action (unlocked), then
    /// releases all, unless an `abort` or `reset` ended the cycle while the action ran.
    fn trip(&self, mut state: MutexGuard<'_, State>, index: usize) -> Result<usize, BrokenBarrier> {
        let Some(action) = &self.action else {
            self.end_cycle(&mut state, PASSED);
            return Ok(index);
        };
        let generation = Arc::clone(&state.current);
        state.tripping = Some(thread_id());
        drop(state);
        let panic = catch_unwind(AssertUnwindSafe(action))
            .err()
            .map(crate::into_panic_message);
        let mut state = self.state.lock();
        state.tripping = None;
        if Arc::ptr_eq(&state.current, &generation) {
            return match panic {
                None => {
                    self.end_cycle(&mut state, PASSED);
                    Ok(index)
                }
                Some(message) => {
                    self.break_locked(&mut state, BreakCause::ActionPanicked);
                    Err(BrokenBarrier {
                        cause: BreakCause::ActionPanicked,
                        panic: Some(message),
                    })
                }
            };
        }
        // Aborted or reset while the action ran: that ended the cycle (and released its
        // waiters); arrivals waiting for the action to end may go on.
        if state.parked > 0 {
            self.cv.notify_all();
        }
        Err(BrokenBarrier {
            cause: cause(generation.outcome.load(Ordering::Acquire)),
            panic,
        })
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
    /// A cycle that has already passed is not undone: its parties get their indices, also one
    /// that has not yet returned from `wait` when `abort` is called. (CPython's waiter that has
    /// not woken by then raises `BrokenBarrierError`, although its cycle passed; so does
    /// asyncio's.)
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
    /// the current cycle get [`BrokenBarrier`] with [`BreakCause::Reset`]; those of a cycle that
    /// has already passed get their indices, as for [`abort`](Self::abort). (Here CPython's
    /// waiter that has not woken yet gets its index too: its `reset` leaves a barrier that is
    /// draining as it is. asyncio's raises `BrokenBarrierError`.)
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

/// `wait` called by a barrier's action on its own barrier: a panic, which `trip` catches as the
/// action's, breaking the barrier (the thread completing a cycle cannot also wait in the next).
#[cold]
#[inline(never)]
fn wait_in_own_action() -> ! {
    panic!("weft_sync: Barrier::wait called from the barrier's own action")
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
