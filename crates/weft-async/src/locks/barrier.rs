//! [`Barrier`]: Python's `asyncio.Barrier` with `threading.Barrier`'s action and timeout.

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use super::waitlist::{WaitList, WakeList};
use crate::loom::{AtomicBool, AtomicUsize, Mutex, MutexGuard, Ordering};
use weft_sync::{BreakCause, BrokenBarrier, ZeroParties};

/// What a released waiter collects: its index, or why the barrier broke.
type Outcome = Result<usize, BreakCause>;

type Action = Box<dyn Fn() + Send + Sync>;

/// What an `abort` or `reset` called from a barrier's own action asked for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Asked {
    Nothing,
    Abort,
    Reset,
}

crate::loom::thread_local! {
    /// The barrier whose action this thread is running (its address; 0: none), and the first
    /// and last of the `abort`/`reset` calls that action made on it, applied once it returns:
    /// the action runs under the barrier's lock, which they would otherwise take again.
    #[allow(
        clippy::missing_const_for_thread_local,
        reason = "loom's thread_local! (under --cfg weft_loom) has no const form"
    )]
    static IN_ACTION: Cell<(usize, Asked, Asked)> = Cell::new((0, Asked::Nothing, Asked::Nothing));
}

/// A meeting point for a fixed number of tasks (Python's `asyncio.Barrier`, with the action
/// and default timeout of `threading.Barrier`).
///
/// Each task calls [`wait`](Barrier::wait); when the `parties`-th arrives, the barrier *trips*:
/// the [action](Barrier::action), if any, runs once in the task that arrived last, then every
/// waiting task is released with a distinct index in `0..parties`, and the barrier is ready for
/// the next cycle. [`abort`](Barrier::abort), a timed-out wait, or a panicking action *break* it:
/// every waiting task, and every later one until [`reset`](Barrier::reset), gets
/// [`BrokenBarrier`].
///
/// Indices: the task that trips the barrier gets `parties - 1`; the others get `0..parties - 1`
/// in the order they arrived (among those still waiting when it tripped).
///
/// # Cancellation
/// A `wait` future dropped before the barrier trips **leaves** it: the count of waiting tasks goes
/// down by one and the barrier stays unbroken, as a cancelled `asyncio.Barrier.wait()` does while
/// the barrier is filling. A future dropped after the barrier tripped or broke changes nothing
/// (its index is simply not used). A *timeout*, unlike a drop, breaks the barrier
/// (`threading.Barrier`'s rule), so that all parties learn the meeting failed.
///
/// # The action
/// The action runs under the barrier's internal lock, as in Python's `threading.Barrier`.
/// [`n_waiting`](Barrier::n_waiting), [`broken`](Barrier::broken), [`parties`](Barrier::parties)
/// and `{:?}` read lock-free copies, so the action may use them. [`abort`](Barrier::abort) or
/// [`reset`](Barrier::reset) called by the action itself on its own barrier (where Python's
/// would deadlock) take effect when it returns: the cycle ends with that cause for every party,
/// the one running the action included, and the barrier stays broken after an `abort`
/// (weft-sync's `Barrier`, whose action runs unlocked, behaves the same). Called from another
/// thread the action waits for, or from a nested barrier's action, they still wait for the
/// lock. If it panics, the barrier breaks with [`BreakCause::ActionPanicked`]: the task that ran
/// it gets the panic message in its error, the others are released with the error too: nobody
/// is left waiting. Polling [`wait`](Barrier::wait) on its own barrier from the action panics
/// (as weft-sync's does) instead of deadlocking on the lock: unless the action catches that
/// panic, the barrier breaks so.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
/// use weft_async::Barrier;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let trips = Arc::new(AtomicUsize::new(0));
/// let barrier = Arc::new(Barrier::new(3).unwrap().action({
///     let trips = Arc::clone(&trips);
///     move || {
///         trips.fetch_add(1, Ordering::Relaxed);
///     }
/// }));
/// let tasks: Vec<_> = (0..3)
///     .map(|_| {
///         let barrier = Arc::clone(&barrier);
///         tokio::spawn(async move { barrier.wait().await.unwrap() })
///     })
///     .collect();
/// let mut indices = Vec::new();
/// for t in tasks {
///     indices.push(t.await.unwrap());
/// }
/// indices.sort();
/// assert_eq!(indices, [0, 1, 2]);
/// assert_eq!(trips.load(Ordering::Relaxed), 1);
/// # }
/// ```
pub struct Barrier {
    parties: usize,
    action: Option<Action>,
    timeout: Option<Duration>,
    state: Mutex<State>,
    /// Copies of `state`'s count and broken flag, readable without the lock (so the action may
    /// read them).
    n_waiting: AtomicUsize,
    broken: AtomicBool,
}

struct State {
    /// The tasks waiting in this cycle (the count is `waiters.waiting()`), and released tasks that
    /// have not collected their outcome yet.
    waiters: WaitList<Outcome>,
    broken: Option<BreakCause>,
}

impl Barrier {
    /// Creates a barrier for `parties` tasks.
    ///
    /// # Errors
    /// [`ZeroParties`] when `parties` is zero (Python's `ValueError`).
    ///
    /// ```
    /// use weft_async::{Barrier, ZeroParties};
    /// assert_eq!(Barrier::new(2).unwrap().parties(), 2);
    /// assert_eq!(Barrier::new(0).unwrap_err(), ZeroParties);
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
                waiters: WaitList::new(),
                broken: None,
            }),
            n_waiting: AtomicUsize::new(0),
            broken: AtomicBool::new(false),
        })
    }

    /// Sets an action that one task runs each time the barrier trips, before any task is released
    /// (`threading.Barrier(parties, action)`).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let barrier = weft_async::Barrier::new(1).unwrap().action(|| println!("all here"));
    /// assert_eq!(barrier.wait().await, Ok(0));
    /// # }
    /// ```
    #[must_use]
    pub fn action(mut self, action: impl Fn() + Send + Sync + 'static) -> Self {
        self.action = Some(Box::new(action));
        self
    }

    /// Sets the timeout that [`wait`](Self::wait) uses (`threading.Barrier(parties,
    /// timeout=t)`); by default it waits forever.
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let barrier = weft_async::Barrier::new(2).unwrap().timeout(Duration::from_millis(5));
    /// assert!(barrier.wait().await.unwrap_err().is_timeout());
    /// # }
    /// ```
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Waits until all parties have called `wait` in this cycle, with the barrier's default
    /// timeout if one was set (Python's `await barrier.wait()`). Returns this task's index in
    /// `0..parties`. A default timeout needs a tokio runtime with time enabled.
    ///
    /// # Errors
    /// [`BrokenBarrier`] (Python's `BrokenBarrierError`) when the barrier is broken on entry or
    /// breaks while this task waits: [`abort`](Self::abort), [`reset`](Self::reset), the
    /// default timeout running out, or the action panicking; its cause says which.
    ///
    /// ```
    /// use std::sync::Arc;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let barrier = Arc::new(weft_async::Barrier::new(2).unwrap());
    /// let other = tokio::spawn({
    ///     let barrier = Arc::clone(&barrier);
    ///     async move { barrier.wait().await }
    /// });
    /// let mine = barrier.wait().await.unwrap();
    /// let theirs = other.await.unwrap().unwrap();
    /// assert_eq!(mine + theirs, 1);
    /// # }
    /// ```
    pub async fn wait(&self) -> Result<usize, BrokenBarrier> {
        self.wait_inner(self.timeout).await
    }

    /// Like [`wait`](Self::wait) with `timeout` instead of the default (`threading.Barrier`'s
    /// `wait(timeout)`). A zero timeout breaks the barrier unless this task completes the cycle;
    /// `Duration::MAX` waits forever. Needs a tokio runtime with time enabled.
    ///
    /// # Errors
    /// As [`wait`](Self::wait); if the cycle does not complete in time, the barrier breaks and
    /// this and every other waiter get [`BrokenBarrier`] with [`BreakCause::Timeout`].
    ///
    /// ```
    /// use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let barrier = weft_async::Barrier::new(2).unwrap();
    /// assert!(barrier.wait_timeout(Duration::ZERO).await.is_err());
    /// assert!(barrier.broken());
    /// barrier.reset();
    /// assert!(!barrier.broken());
    /// # }
    /// ```
    pub async fn wait_timeout(&self, timeout: Duration) -> Result<usize, BrokenBarrier> {
        self.wait_inner(Some(timeout)).await
    }

    async fn wait_inner(&self, timeout: Option<Duration>) -> Result<usize, BrokenBarrier> {
        let me = self as *const Self as usize;
        if IN_ACTION.with(|c| c.get().0) == me {
            // The action runs under the lock this would take again.
            wait_in_own_action();
        }
        let key = {
            let mut state = self.state.lock();
            if let Some(cause) = state.broken {
                return Err(BrokenBarrier::with_cause(cause, None));
            }
            if state.waiters.waiting() + 1 == self.parties {
                return self.trip(state);
            }
            if timeout.is_some_and(|t| t.is_zero()) {
                // The time is up before another party can arrive: without waiting for the
                // timer's next turn, which would let one in (weft's rule, stricter than Python).
                self.break_locked(state, BreakCause::Timeout);
                return Err(BrokenBarrier::with_cause(BreakCause::Timeout, None));
            }
            let key = state.waiters.push(None);
            self.publish(&state);
            key
        };
        let mut waiter = Waiter {
            barrier: self,
            key,
            done: false,
        };
        let outcome = match timeout {
            None => (&mut waiter).await,
            // Boxed, so that untimed waits do not carry a timer in their future.
            Some(timeout) => Box::pin(waiter.timed(timeout)).await,
        };
        outcome.map_err(|cause| BrokenBarrier::with_cause(cause, None))
    }

    /// Ends the cycle as the last party to arrive: runs the action, then releases the waiters.
    fn trip(&self, mut state: MutexGuard<'_, State>) -> Result<usize, BrokenBarrier> {
        if let Some(action) = &self.action {
            let me = self as *const Self as usize;
            let outer = IN_ACTION.with(|c| c.replace((me, Asked::Nothing, Asked::Nothing)));
            let ran = catch_unwind(AssertUnwindSafe(action));
            let (_, first, last) = IN_ACTION.with(|c| c.replace(outer));
            if first != Asked::Nothing {
                // The action aborted or reset its own barrier: that ends this cycle.
                let cause = if first == Asked::Abort {
                    BreakCause::Aborted
                } else {
                    BreakCause::Reset
                };
                state.broken = (last == Asked::Abort).then_some(BreakCause::Aborted);
                self.release_all(state, cause);
                let panic = ran.err().map(weft_sync::into_panic_message);
                return Err(BrokenBarrier::with_cause(cause, panic));
            }
            if let Err(payload) = ran {
                self.break_locked(state, BreakCause::ActionPanicked);
                return Err(BrokenBarrier::with_cause(
                    BreakCause::ActionPanicked,
                    Some(weft_sync::into_panic_message(payload)),
                ));
            }
        }
        let mut wakers = WakeList::new();
        let mut index = 0;
        while let Some(waker) = state.waiters.notify_first(Ok(index)) {
            wakers.push(waker);
            index += 1;
        }
        self.publish(&state);
        drop(state);
        // Every waiter is woken, and this party gets its index, whatever a waker does.
        wakers.wake_all_quietly();
        Ok(self.parties - 1)
    }

    /// Breaks the barrier (unless it is broken already) and releases the waiters with `cause`.
    fn break_locked(&self, mut state: MutexGuard<'_, State>, cause: BreakCause) {
        if state.broken.is_none() {
            state.broken = Some(cause);
            self.release_all(state, cause);
        }
    }

    /// Releases every waiting task with `cause`.
    fn release_all(&self, mut state: MutexGuard<'_, State>, cause: BreakCause) {
        let mut wakers = WakeList::new();
        while let Some(waker) = state.waiters.notify_first(Err(cause)) {
            wakers.push(waker);
        }
        self.publish(&state);
        drop(state);
        // Every waiter is woken whatever a waker does; the caller may hold its own outcome (a
        // timed-out or tripping party), so a waker's panic is not passed on.
        wakers.wake_all_quietly();
    }

    /// Updates the lock-free copies of the count and the broken flag.
    fn publish(&self, state: &State) {
        self.n_waiting
            .store(state.waiters.waiting(), Ordering::Relaxed);
        self.broken.store(state.broken.is_some(), Ordering::Relaxed);
    }

    /// Breaks the barrier (Python's `abort()`): every current and later waiter gets
    /// [`BrokenBarrier`] with [`BreakCause::Aborted`] until [`reset`](Self::reset). Useful to
    /// release the other tasks when this one cannot continue. Aborting a broken barrier changes
    /// nothing.
    ///
    /// A cycle that has already passed is not undone: its parties get their indices, also a task
    /// that has not yet resumed from `wait` when `abort` is called (asyncio's task that has not
    /// resumed by then raises `BrokenBarrierError`, although its cycle passed).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let barrier = weft_async::Barrier::new(2).unwrap();
    /// barrier.abort();
    /// assert!(barrier.broken());
    /// assert!(barrier.wait().await.is_err());
    /// # }
    /// ```
    pub fn abort(&self) {
        if !self.asked_by_own_action(Asked::Abort) {
            self.break_locked(self.state.lock(), BreakCause::Aborted);
        }
    }

    /// Records `asked` and returns `true` when this thread is running this barrier's action
    /// (which holds the lock): `trip` applies it when the action returns.
    fn asked_by_own_action(&self, asked: Asked) -> bool {
        let me = self as *const Self as usize;
        IN_ACTION.with(|c| {
            let (barrier, first, _) = c.get();
            let mine = barrier == me;
            if mine {
                let first = if first == Asked::Nothing {
                    asked
                } else {
                    first
                };
                c.set((barrier, first, asked));
            }
            mine
        })
    }

    /// Returns the barrier to its empty, unbroken state (Python's `reset()`). Tasks waiting in
    /// the current cycle get [`BrokenBarrier`] with [`BreakCause::Reset`]; those of a cycle that
    /// has already passed get their indices, as for [`abort`](Self::abort).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let barrier = weft_async::Barrier::new(1).unwrap();
    /// barrier.abort();
    /// barrier.reset();
    /// assert_eq!(barrier.wait().await, Ok(0));
    /// # }
    /// ```
    pub fn reset(&self) {
        if self.asked_by_own_action(Asked::Reset) {
            return;
        }
        let mut state = self.state.lock();
        state.broken = None;
        self.release_all(state, BreakCause::Reset);
    }

    /// The number of tasks needed to pass the barrier (Python's `parties`).
    ///
    /// ```
    /// assert_eq!(weft_async::Barrier::new(4).unwrap().parties(), 4);
    /// ```
    pub fn parties(&self) -> usize {
        self.parties
    }

    /// The number of tasks waiting in the current cycle (Python's `n_waiting`).
    ///
    /// ```
    /// assert_eq!(weft_async::Barrier::new(4).unwrap().n_waiting(), 0);
    /// ```
    pub fn n_waiting(&self) -> usize {
        self.n_waiting.load(Ordering::Relaxed)
    }

    /// Whether the barrier is broken (Python's `broken`).
    ///
    /// ```
    /// let barrier = weft_async::Barrier::new(2).unwrap();
    /// assert!(!barrier.broken());
    /// barrier.abort();
    /// assert!(barrier.broken());
    /// ```
    pub fn broken(&self) -> bool {
        self.broken.load(Ordering::Relaxed)
    }
}

/// `wait` polled by a barrier's action on its own barrier: a panic, which `trip` catches as the
/// action's, breaking the barrier (the action holds the barrier's lock, which the wait would take
/// again: a deadlock).
#[cold]
#[inline(never)]
fn wait_in_own_action() -> ! {
    panic!("weft_async: Barrier::wait polled from the barrier's own action")
}

/// One task's place in a barrier's cycle; completes when the barrier trips or breaks.
struct Waiter<'a> {
    barrier: &'a Barrier,
    key: usize,
    done: bool,
}

impl Waiter<'_> {
    /// Waits at most `timeout` for the barrier to trip or break; breaks it on timeout.
    async fn timed(&mut self, timeout: Duration) -> Outcome {
        match super::within(timeout, &mut *self).await {
            Some(outcome) => outcome,
            None => self.time_out(),
        }
    }

    /// The wait timed out: collect the outcome if the barrier tripped or broke meanwhile,
    /// otherwise break it.
    fn time_out(&mut self) -> Outcome {
        self.done = true;
        let mut state = self.barrier.state.lock();
        let (outcome, waker) = state.waiters.remove(self.key);
        let outcome = match outcome {
            Some(outcome) => {
                drop(state);
                outcome
            }
            None => {
                // Still waiting: this task has left the list, and the others are released.
                self.barrier.break_locked(state, BreakCause::Timeout);
                Err(BreakCause::Timeout)
            }
        };
        // After the lock: a waker's drop is user code, which may use this barrier.
        drop(waker);
        outcome
    }
}

impl Future for Waiter<'_> {
    type Output = Outcome;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Outcome> {
        let (polled, displaced) = self.barrier.state.lock().waiters.poll(self.key, cx.waker());
        drop(displaced); // after the lock, as in `time_out`
        if polled.is_ready() {
            self.done = true;
        }
        polled
    }
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        if !self.done {
            // Leaves the cycle: still waiting, it is taken off the count; already released, its
            // outcome is dropped.
            let mut state = self.barrier.state.lock();
            let (_, waker) = state.waiters.remove(self.key);
            self.barrier.publish(&state);
            drop(state);
            drop(waker); // after the lock, as in `time_out`
        }
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Lock-free, so that the action (which runs under the barrier's lock) may print it.
        f.debug_struct("Barrier")
            .field("parties", &self.parties)
            .field("n_waiting", &self.n_waiting())
            .field("broken", &self.broken())
            .field("has_action", &self.action.is_some())
            .field("timeout", &self.timeout)
            .finish()
    }
}
