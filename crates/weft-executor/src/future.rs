//! `concurrent.futures.Future`: the eventual result of a task, its states, callbacks and waits.
//!
//! # Protocol
//! A future's `state` word moves PENDING → RUNNING → FINISHED, or PENDING → CANCELLING →
//! CANCELLED. Whoever moves it out of PENDING (a worker starting the task, `cancel`, a pool
//! failing it) is the only one that completes it: it stores the result, then, holding the mutex,
//! publishes the final state and takes the waiters and the done callbacks; it wakes the waiters
//! after unlocking and then runs the callbacks, as Python does. A waiter registers itself holding
//! the same mutex and re-checks the state there, so a completion either sees the waiter or the
//! waiter sees the state: no lost wake-up (modelled in `tests/loom.rs`).
//!
//! The result sits behind its own reentrant lock. Nothing reads it before it is published; the
//! completer holds that lock while the callbacks read the value (taken before publishing, so the
//! owner cannot move the value out from under them), and a callback may lock it again to use its
//! own future. `exception` and the owner's final move take the lock too, so they wait for
//! callbacks still running on another thread. A reentrant lock needs only `T: Send`, where a
//! read-write lock shared across threads would need `T: Sync`.
//!
//! A future has one owner (it is not `Clone`), so one waiter slot is enough for the owner's
//! thread, its async task's waker, or the `as_completed`/`wait` group that holds it; but
//! `exception` and `wait_timeout` take `&self`, so threads sharing a future each wait in a slot
//! of their own (`more_threads`) rather than take another's.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::error::{ResultTimeoutError, TaskError};
use crate::loom::{self, hold, hold_until, lock, Arc, AtomicU8, Mutex, Ordering, Shared, Thread};

const PENDING: u8 = 0;
const RUNNING: u8 = 1;
const CANCELLING: u8 = 2;
/// Published: the result is stored.
const FINISHED: u8 = 3;
/// Published: cancelled.
const CANCELLED: u8 = 4;
/// Published: the result is stored and is an error (so `wait`'s `FirstException` need not look
/// at the value).
const FAILED: u8 = 5;

/// What a done callback receives: the task's result.
pub type Outcome<T, E> = Result<T, TaskError<E>>;

type Callback<T, E> = Box<dyn FnOnce(&Outcome<T, E>) + Send>;

/// Who waits for a future.
pub(crate) enum Waiter {
    None,
    Thread(Thread),
    Waker(Waker),
    /// An `as_completed` or `wait` group, with the future's index in it.
    Group(Arc<Group>, usize),
}

impl Waiter {
    fn wake(self) {
        match self {
            Waiter::None => {}
            Waiter::Thread(t) => t.unpark(),
            Waiter::Waker(w) => w.wake(),
            Waiter::Group(g, index) => g.notify(index),
        }
    }
}

/// The shared state of `as_completed` and `wait`: the indices of the futures that finished since
/// the last look, and the thread waiting for them.
pub(crate) struct Group {
    inner: Mutex<GroupInner>,
}

struct GroupInner {
    finished: Vec<usize>,
    thread: Option<Thread>,
}

impl Group {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Group {
            inner: Mutex::new(GroupInner {
                finished: Vec::new(),
                thread: None,
            }),
        })
    }

    fn notify(&self, index: usize) {
        let thread = {
            let mut g = lock(&self.inner);
            g.finished.push(index);
            g.thread.take()
        };
        if let Some(t) = thread {
            t.unpark();
        }
    }

    /// Takes the indices finished so far, waiting until there is at least one or `deadline`
    /// passes (then the list may be empty).
    pub(crate) fn take_finished(&self, deadline: Option<Instant>) -> Vec<usize> {
        loop {
            {
                let mut g = lock(&self.inner);
                if !g.finished.is_empty() {
                    g.thread = None;
                    return std::mem::take(&mut g.finished);
                }
                g.thread = Some(loom::current());
            }
            match deadline {
                None => loom::park(),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        let mut g = lock(&self.inner);
                        g.thread = None;
                        return std::mem::take(&mut g.finished);
                    }
                    loom::park_timeout(d - now);
                }
            }
        }
    }
}

pub(crate) struct Core<T, E> {
    state: AtomicU8,
    /// Written once before the state is published; moved out by the owner.
    result: Shared<Option<Outcome<T, E>>>,
    inner: Mutex<Inner<T, E>>,
}

struct Inner<T, E> {
    waiter: Waiter,
    /// Threads waiting while `waiter` is taken: `exception` and `wait_timeout` take `&self`,
    /// so several threads can wait on one shared future at once.
    more_threads: Vec<Thread>,
    callbacks: Vec<Callback<T, E>>,
    /// The completer is running callbacks (holding the result): one added now is queued behind
    /// them rather than run at once, which would wait for them.
    callbacks_running: bool,
}

impl<T, E> Core<T, E> {
    /// The state's name, for `Debug`.
    fn state_name(&self) -> &'static str {
        state_name(self.state.load(Ordering::Acquire))
    }

    fn published(&self) -> bool {
        self.state.load(Ordering::Acquire) >= FINISHED
    }

    /// Completes the future, whose state this caller moved out of PENDING: stores `result`,
    /// publishes it as `last`, wakes the waiters, then runs the callbacks. Calls `free` once:
    /// before publishing when there are no callbacks to run, else after them (a pool worker
    /// counts itself idle there: not while callbacks it runs may still submit and wait).
    fn finish(&self, result: Outcome<T, E>, last: u8, free: impl FnOnce()) {
        let mut free = Some(free);
        let last = if last == FINISHED && result.is_err() {
            FAILED
        } else {
            last
        };
        *hold(&self.result).borrow_mut() = Some(result);
        let (waiter, more, callbacks, held, freed) = {
            let mut g = lock(&self.inner);
            let callbacks = std::mem::take(&mut g.callbacks);
            // Taken before publishing: the owner cannot move the value out while callbacks read.
            let held = (!callbacks.is_empty()).then(|| hold(&self.result));
            g.callbacks_running = held.is_some();
            // A `free` that panics must not keep the result from being published: its panic
            // goes on to the completer once the waiters have been woken.
            let freed = match free.take() {
                Some(free) if held.is_none() => {
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(free)).err()
                }
                other => {
                    free = other;
                    None
                }
            };
            self.state.store(last, Ordering::Release);
            (
                std::mem::replace(&mut g.waiter, Waiter::None),
                std::mem::take(&mut g.more_threads),
                callbacks,
                held,
                freed,
            )
        };
        wake_all(waiter, more);
        if let Some(payload) = freed {
            std::panic::resume_unwind(payload);
        }
        if let Some(held) = held {
            let value = held.try_borrow();
            let value = value.as_deref().ok().and_then(Option::as_ref);
            let mut callbacks = callbacks;
            loop {
                run_callbacks(callbacks, value);
                // Callbacks added meanwhile were queued behind these (see `add_done_callback`),
                // and async tasks that polled meanwhile registered to be woken after them.
                let mut g = lock(&self.inner);
                if g.callbacks.is_empty() {
                    g.callbacks_running = false;
                    let waiter = std::mem::replace(&mut g.waiter, Waiter::None);
                    let more = std::mem::take(&mut g.more_threads);
                    drop(g);
                    wake_all(waiter, more);
                    break;
                }
                callbacks = std::mem::take(&mut g.callbacks);
            }
        }
        if let Some(free) = free.take() {
            free();
        }
    }

    /// Waits until the future is published or `deadline` passes; whether it is published.
    fn wait_until(&self, deadline: Option<Instant>) -> bool {
        if self.published() || loom::spin_until_deadline(deadline, || self.published()) {
            return true;
        }
        let mut registered = false;
        loop {
            if !registered {
                let mut g = lock(&self.inner);
                if self.published() {
                    return true;
                }
                // Registered until the completion takes it, so once is enough.
                let me = loom::current();
                match g.waiter {
                    Waiter::None => g.waiter = Waiter::Thread(me),
                    _ => g.more_threads.push(me),
                }
                registered = true;
            }
            match deadline {
                None => loom::park(),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        let mut g = lock(&self.inner);
                        if self.published() {
                            return true;
                        }
                        let me = loom::current().id();
                        match &g.waiter {
                            Waiter::Thread(t) if t.id() == me => g.waiter = Waiter::None,
                            _ => g.more_threads.retain(|t| t.id() != me),
                        }
                        return false;
                    }
                    loom::park_timeout(d - now);
                }
            }
            if self.published() {
                return true;
            }
        }
    }

    fn take(&self) -> Outcome<T, E> {
        self.take_until(None)
            .unwrap_or_else(|| Err(already_taken()))
    }

    /// Moves the result out, waiting until `deadline` at most for done callbacks running on
    /// another thread (which hold it); `None` if they still run then.
    fn take_until(&self, deadline: Option<Instant>) -> Option<Outcome<T, E>> {
        let held = hold_until(&self.result, deadline)?;
        // Borrowed only if a done callback of this future, on this thread, moves it out.
        let value = match held.try_borrow_mut() {
            Ok(mut v) => v.take().unwrap_or_else(|| Err(already_taken())),
            Err(_) => Err(held_by_callbacks()),
        };
        Some(value)
    }
}

/// Wakes the waiters of a completion: threads first, then the one waiter, whose waker is user
/// code: a panic in it is reported and stops nothing else.
fn wake_all(waiter: Waiter, more: Vec<Thread>) {
    for t in more {
        t.unpark();
    }
    match waiter {
        // Only a waker runs user code: the others unpark a thread of weft's. (Caught on the
        // waker's path alone, which keeps the completion of a task without one cheap.)
        Waiter::Waker(w) => {
            if let Err(panic) = weft_thread::catch_panic(|| w.wake()) {
                report_panic("a waker", &panic);
            }
        }
        other => other.wake(),
    }
}

/// The answer of a future whose result a poll (its `.await`) returned already.
fn already_taken<E>() -> TaskError<E> {
    TaskError::BrokenPool {
        reason: "the result was already taken by an .await of this future".into(),
    }
}

/// The answer of a done callback that moves its own future's value out: the callbacks of this
/// thread are reading it.
fn held_by_callbacks<E>() -> TaskError<E> {
    TaskError::BrokenPool {
        reason: "the result is held by this future's own done callbacks, running on this thread"
            .into(),
    }
}

/// Runs done callbacks in order with the result (`None`: already taken, which the owner alone can
/// do, so only a callback added after an `.await` of the future returned its result sees it).
fn run_callbacks<T, E>(callbacks: Vec<Callback<T, E>>, result: Option<&Outcome<T, E>>) {
    let taken;
    let result = match result {
        Some(r) => r,
        None => {
            taken = Err(already_taken());
            &taken
        }
    };
    for callback in callbacks {
        run_callback(callback, result);
    }
}

/// Runs one done callback; a panic in it is reported once on stderr, with its location (Python
/// logs it with its traceback), and does not stop the callbacks after it. (`catch_panic` also
/// catches a payload whose drop panics: the completion never stops halfway.)
fn run_callback<T, E>(callback: Callback<T, E>, result: &Outcome<T, E>) {
    if let Err(panic) = weft_thread::catch_panic(|| callback(result)) {
        report_panic("a done callback", &panic);
    }
}

/// Reports the panic of user code that has no one to hand it to, once: `weft-executor: WHAT
/// panicked at LOCATION:` then the message, and the backtrace when `RUST_BACKTRACE` asks.
fn report_panic(what: &str, panic: &weft_thread::Panicked) {
    use std::io::Write;
    let mut text = format!("weft-executor: {what} panicked");
    if let Some(location) = panic.location() {
        text.push_str(&format!(" at {location}"));
    }
    text.push_str(&format!(":\n{}\n", panic.message()));
    if let Some(backtrace) = panic.backtrace() {
        text.push_str(&format!("stack backtrace:\n{backtrace}\n"));
    }
    // A closed stderr is no reason to fail the task.
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// The completing side of a [`Future`], held by whoever runs the task (Python's
/// `Future.set_running_or_notify_cancel`, `set_result` and `set_exception`, which its docs
/// reserve for executors and tests): made with [`promise`].
///
/// Dropping it without completing fails the future with [`TaskError::BrokenPool`], so a task
/// that is lost (its pool torn down, its job dropped) still answers (Python's `Future()` never
/// set leaves its waiters waiting): "the task was dropped before it ran", or "before it
/// finished" once [`set_running`](Promise::set_running) moved it to running.
///
/// ```
/// use weft_executor::{promise, TaskError};
///
/// let (p, f) = promise::<u32, TaskError>();
/// std::thread::spawn(move || p.complete(Ok(7)));
/// assert_eq!(f.result(), Ok(7));
/// ```
pub struct Promise<T, E = std::convert::Infallible> {
    core: Arc<Core<T, E>>,
}

/// A new pending future and the promise that completes it (Python's `Future()`, completed by
/// whoever holds the [`Promise`]): for code that runs tasks somewhere else than weft's pools,
/// such as weft-async's `Loop::run_coroutine_threadsafe`.
///
/// The future stays pending (and [`Future::cancel`] succeeds) until the promise is moved to
/// running with [`Promise::set_running`] or completed; the promise sees a cancellation with
/// [`Promise::is_cancelled`], or through a done callback on the future.
///
/// ```
/// use weft_executor::promise;
///
/// let (p, f) = promise::<&str, std::convert::Infallible>();
/// assert!(!f.done());
/// p.complete(Ok("done"));
/// assert_eq!(f.result().unwrap(), "done");
///
/// let (p, f) = promise::<u8, std::convert::Infallible>();
/// assert!(f.cancel());
/// assert!(p.is_cancelled());
/// p.complete(Ok(1)); // a no-op: the value is dropped
/// assert!(f.result().unwrap_err().is_cancelled());
/// ```
pub fn promise<T, E>() -> (Promise<T, E>, Future<T, E>) {
    let core = Arc::new(Core {
        state: AtomicU8::new(PENDING),
        result: loom::shared(None),
        inner: Mutex::new(Inner {
            waiter: Waiter::None,
            more_threads: Vec::new(),
            callbacks: Vec::new(),
            callbacks_running: false,
        }),
    });
    (
        Promise {
            core: Arc::clone(&core),
        },
        Future { core },
    )
}

#[cfg_attr(
    weft_loom,
    allow(dead_code, reason = "not every model uses every method")
)]
impl<T, E> Promise<T, E> {
    /// Moves the future from pending to running; `false` if it was cancelled (or already
    /// completed): then the task must not run (Python's `set_running_or_notify_cancel`). A
    /// running future can no longer be cancelled.
    ///
    /// ```
    /// let (p, f) = weft_executor::promise::<u8, std::convert::Infallible>();
    /// assert!(p.set_running());
    /// assert!(f.running());
    /// assert!(!f.cancel());
    /// # p.complete(Ok(0));
    /// ```
    pub fn set_running(&self) -> bool {
        self.core
            .state
            .compare_exchange(PENDING, RUNNING, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Whether the future was cancelled, or a [`Future::cancel`] has begun: `true` as soon as a
    /// cancel has claimed the task (which must not start then), a moment before the future
    /// itself reads as [`cancelled`](Future::cancelled) and done.
    ///
    /// ```
    /// let (p, f) = weft_executor::promise::<u8, std::convert::Infallible>();
    /// assert!(!p.is_cancelled());
    /// f.cancel();
    /// assert!(p.is_cancelled());
    /// ```
    pub fn is_cancelled(&self) -> bool {
        matches!(
            self.core.state.load(Ordering::Acquire),
            CANCELLING | CANCELLED
        )
    }

    /// Completes the future with `result` (from pending or running); a no-op if it was
    /// cancelled meanwhile (`result` is then dropped). The future's done callbacks run on this
    /// thread, after its waiters are woken.
    ///
    /// ```
    /// use weft_executor::{promise, TaskError};
    ///
    /// let (p, f) = promise::<u8, String>();
    /// p.complete(Err(TaskError::Failed("no".into())));
    /// assert_eq!(f.result(), Err(TaskError::Failed("no".to_string())));
    /// ```
    pub fn complete(self, result: Outcome<T, E>) {
        self.complete_ref(result, || {});
    }

    /// Completes the future like [`complete`](Self::complete), and calls `free` once: before
    /// the result is published if no done callback is to run, else after the callbacks (which
    /// run on this thread), and at once if the future was cancelled meanwhile. If `free`
    /// panics, the result is still published (waiters see it) and the panic then goes on to
    /// the caller. Before publishing, `free` runs under the future's own lock: it must not use
    /// that future (add a callback to it, wait for it), which would deadlock; a pool's `free`
    /// only releases its own bookkeeping.
    ///
    /// ```
    /// let (p, f) = weft_executor::promise::<u8, std::convert::Infallible>();
    /// let mut freed = false;
    /// p.complete_then(Ok(1), || freed = true);
    /// assert!(freed);
    /// assert_eq!(f.result().unwrap(), 1);
    /// ```
    pub fn complete_then(self, result: Outcome<T, E>, free: impl FnOnce()) {
        self.complete_ref(result, free);
    }

    fn complete_ref(&self, result: Outcome<T, E>, free: impl FnOnce()) {
        let state = &self.core.state;
        let mut cur = state.load(Ordering::Acquire);
        loop {
            match cur {
                RUNNING => break,
                PENDING => match state.compare_exchange(
                    PENDING,
                    RUNNING,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => break,
                    Err(now) => cur = now,
                },
                _ => {
                    free();
                    return;
                }
            }
        }
        self.core.finish(result, FINISHED, free);
    }

    /// Cancels the future if it is still pending (a pool's `cancel_futures`); otherwise
    /// completes it as [`TaskError::Cancelled`] if it is running; a no-op once it is complete.
    ///
    /// A running future cannot be cancelled (Python's `cancel()` returns `False` then), so
    /// completing it this way is Python's `set_exception(CancelledError())`: its result is
    /// `Err(Cancelled)`, but [`Future::cancelled`] stays `false` and [`wait`](crate::wait)'s
    /// [`FirstException`](crate::ReturnWhen::FirstException) counts it as a failure, as
    /// Python's `wait` does.
    ///
    /// ```
    /// let (p, f) = weft_executor::promise::<u8, std::convert::Infallible>();
    /// p.cancel();
    /// assert!(f.cancelled());
    /// ```
    pub fn cancel(self) {
        if !cancel_core(&self.core) {
            self.complete_ref(Err(TaskError::Cancelled), || {});
        }
    }
}

impl<T, E> Drop for Promise<T, E> {
    fn drop(&mut self) {
        if !self.core.published() && !self.is_cancelled() {
            // Moved to running, the task started: it was lost before it finished.
            let reason = match self.core.state.load(Ordering::Acquire) {
                RUNNING => "the task was dropped before it finished",
                _ => "the task was dropped before it ran",
            };
            self.complete_ref(
                Err(TaskError::BrokenPool {
                    reason: reason.into(),
                }),
                || {},
            );
        }
    }
}

impl<T, E> fmt::Debug for Promise<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Promise")
            .field("state", &self.core.state_name())
            .finish()
    }
}

/// Cancels a pending future: `true` if it is (now) cancelled.
fn cancel_core<T, E>(core: &Core<T, E>) -> bool {
    match core
        .state
        .compare_exchange(PENDING, CANCELLING, Ordering::AcqRel, Ordering::Acquire)
    {
        Ok(_) => {
            core.finish(Err(TaskError::Cancelled), CANCELLED, || {});
            true
        }
        // Another thread is cancelling it: answer once that is published, so that this caller
        // finds the future cancelled and done, as after its own cancellation. (That thread only
        // stores the result and publishes it before waking us: it waits for nothing.)
        Err(CANCELLING) => {
            core.wait_until(None);
            true
        }
        Err(CANCELLED) => true,
        Err(_) => false,
    }
}

fn state_name(state: u8) -> &'static str {
    match state {
        PENDING => "pending",
        RUNNING => "running",
        CANCELLING | CANCELLED => "cancelled",
        _ => "finished",
    }
}

/// The eventual result of a task submitted to a pool (Python's `concurrent.futures.Future`).
///
/// A future has one owner: [`result`](Self::result) consumes it and returns the task's value or
/// why there is none ([`TaskError`]). It can be cancelled while pending, inspected
/// ([`done`](Self::done), [`running`](Self::running), [`cancelled`](Self::cancelled)), given done
/// callbacks, collected with [`as_completed`](crate::as_completed) and [`wait`](crate::wait), and
/// `.await`ed from async code (it implements [`std::future::Future`]).
///
/// Polled to its result by reference (`(&mut f).await`, `tokio::time::timeout(d, &mut f)`, a
/// `select!` branch), the future has handed its result over: it stays done, and a later
/// [`result`](Self::result), the [`exception`](Self::exception) of a failure, and callbacks
/// added since answer [`TaskError::BrokenPool`] "already taken by an .await", where Python's
/// future keeps its result after `await asyncio.wrap_future(f)`. `f.await` by value consumes
/// the future, so nothing can ask it again.
///
/// Dropping a future does not cancel its task (as in Python); the result is dropped when the
/// task ends. That holds while it is being awaited too: an async task cancelled in its `.await`
/// leaves the pool's task queued, where cancelling a task awaiting Python's
/// `asyncio.wrap_future(f)` cancels `f` if it has not started. weft-async's `run_in_executor`
/// returns a future that cancels its call so; otherwise call [`cancel`](Self::cancel).
///
/// ```
/// use weft_executor::ThreadPoolExecutor;
///
/// let pool = ThreadPoolExecutor::new();
/// let f = pool.submit(|| 6 * 7).unwrap();
/// f.add_done_callback(|r| assert_eq!(*r.as_ref().unwrap(), 42));
/// assert_eq!(f.result().unwrap(), 42);
/// ```
#[must_use = "a future does nothing by itself; wait for it with result()"]
pub struct Future<T, E = std::convert::Infallible> {
    pub(crate) core: Arc<Core<T, E>>,
}

impl<T, E> Future<T, E> {
    /// Waits for the task and returns its value, or why there is none (Python's `result()`).
    ///
    /// Done callbacks read the value before it is moved out, so if they are running on another
    /// thread, `result` (like `exception`) also waits for them to return; Python's returns
    /// before its callbacks end. A callback should not wait for the thread that owns its future.
    /// `.await` does not block while they run: the task is woken after them.
    ///
    /// # Errors
    /// The [`TaskError`] that ended the task: [`Failed`](TaskError::Failed) with a fallible
    /// task's `Err`, [`Panicked`](TaskError::Panicked), [`Cancelled`](TaskError::Cancelled),
    /// [`BrokenPool`](TaskError::BrokenPool) (also when an `.await` by reference already took
    /// the result, and when this future's own done callbacks, running on this thread, hold it:
    /// a callback that calls `result` on its own future, where Python's returns the value),
    /// or a process pool's [`Serialize`](TaskError::Serialize).
    pub fn result(self) -> Outcome<T, E> {
        self.core.wait_until(None);
        self.core.take()
    }

    /// Waits at most `timeout` for the result (Python's `result(timeout)`). A zero timeout only
    /// checks; `Duration::MAX` waits forever.
    ///
    /// # Errors
    /// [`ResultTimeoutError::Timeout`] when the task is not done in time, or done callbacks
    /// running on another thread (see [`result`](Self::result)) still hold the value then: the
    /// future comes back inside the error, to wait again. [`ResultTimeoutError::Task`] with the
    /// errors of [`result`](Self::result).
    ///
    /// ```
    /// use std::time::Duration;
    /// let pool = weft_executor::ThreadPoolExecutor::new();
    /// let f = pool.submit(|| "done").unwrap();
    /// assert_eq!(f.result_timeout(Duration::from_secs(10)).unwrap(), "done");
    /// ```
    pub fn result_timeout(self, timeout: Duration) -> Result<T, ResultTimeoutError<T, E>> {
        let deadline = Instant::now().checked_add(timeout);
        if !self.wait_timeout(timeout) {
            return Err(ResultTimeoutError::Timeout(self));
        }
        // Done; done callbacks still running on another thread hold the value until they
        // return, and the timeout covers that wait too.
        match self.core.take_until(deadline) {
            Some(outcome) => outcome.map_err(ResultTimeoutError::Task),
            None => Err(ResultTimeoutError::Timeout(self)),
        }
    }

    /// Waits at most `timeout` for the task to be done; whether it is (Python's
    /// `wait([f], timeout)` for one future). The result stays in the future.
    ///
    /// ```
    /// use std::time::Duration;
    /// let pool = weft_executor::ThreadPoolExecutor::new();
    /// let f = pool.submit(|| 1).unwrap();
    /// assert!(f.wait_timeout(Duration::MAX));
    /// assert!(f.done());
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        if timeout.is_zero() {
            return self.core.published();
        }
        let deadline = Instant::now().checked_add(timeout);
        self.core.wait_until(deadline)
    }

    /// Waits for the task, then returns why it has no value, or `None` if it has one (Python's
    /// `exception()`). The result stays in the future (unless an `.await` of it returned the
    /// result already: see [`Future`]).
    ///
    /// ```
    /// let pool = weft_executor::ThreadPoolExecutor::new();
    /// let f = pool.submit(|| -> () { panic!("bad") }).unwrap();
    /// assert_eq!(f.exception().unwrap().panic_message(), Some("bad"));
    /// ```
    pub fn exception(&self) -> Option<TaskError<E>>
    where
        E: Clone,
    {
        self.core.wait_until(None);
        // A value or a cancellation is known from the state alone, without waiting for done
        // callbacks running on another thread, which hold the result: two callbacks that each
        // read the other's future could otherwise wait for each other for ever.
        match self.core.state.load(Ordering::Acquire) {
            FINISHED => return None,
            CANCELLED => return Some(TaskError::Cancelled),
            _ => {}
        }
        let held = hold(&self.core.result);
        let value = held.try_borrow();
        match value.as_deref() {
            Ok(Some(Err(e))) => Some(e.clone()),
            Ok(Some(Ok(_))) => None,
            _ => Some(already_taken()),
        }
    }

    /// Cancels the task if it has not started (Python's `cancel()`): `true` if the future is
    /// cancelled (now or before), `false` if it is running or finished. A cancelled task never
    /// runs. Its callbacks run in the thread whose `cancel` cancelled it: this one, or, if
    /// another thread's `cancel` got there first, that one (this call then returns `true` once
    /// that cancellation is published, perhaps before those callbacks have run).
    ///
    /// "Started" is the pool's (or the [`Promise`]'s) [`set_running`](Promise::set_running): a
    /// future from weft-async's `Loop::run_coroutine_threadsafe` stays pending while its task
    /// runs, as Python's does, so `cancel` succeeds until the task has finished, and cancels
    /// the task on its loop.
    ///
    /// ```
    /// let pool = weft_executor::ThreadPoolExecutor::builder().max_workers(1).build().unwrap();
    /// let gate = std::sync::Arc::new(weft_sync::Event::new());
    /// let g = gate.clone();
    /// let busy = pool.submit(move || g.wait()).unwrap();
    /// let queued = pool.submit(|| 1).unwrap();
    /// assert!(queued.cancel());
    /// assert!(queued.cancelled());
    /// gate.set();
    /// busy.result().unwrap();
    /// assert!(queued.result().unwrap_err().is_cancelled());
    /// ```
    pub fn cancel(&self) -> bool {
        cancel_core(&self.core)
    }

    /// Whether the future was cancelled (Python's `cancelled()`). A cancelled future is done:
    /// this turns `true` when [`done`](Self::done) does, once the cancellation is published.
    pub fn cancelled(&self) -> bool {
        self.core.state.load(Ordering::Acquire) == CANCELLED
    }

    /// Whether the task is running now (Python's `running()`).
    pub fn running(&self) -> bool {
        self.core.state.load(Ordering::Acquire) == RUNNING
    }

    /// Whether the task finished or was cancelled, so [`result`](Self::result) returns at once
    /// (Python's `done()`).
    pub fn done(&self) -> bool {
        self.core.published()
    }

    /// Runs `callback` with the result when the task is done, in the thread that completes it
    /// (or now, in this thread, if it is already done and its other callbacks have run), as
    /// Python's `add_done_callback`.
    /// Callbacks run in the order they were added, after the future is done (waiters are woken
    /// first, as in Python); [`result`](Self::result) returns only once they have run, since they
    /// read the value it moves out (a callback that moves out its own future's value instead gets
    /// [`TaskError::BrokenPool`] "held by this future's own done callbacks", and the value is
    /// dropped with the future). A callback may use this same future (`done`,
    /// `exception`, another `add_done_callback`). A callback that panics is reported once on
    /// stderr, as Python logs `exception calling callback`: `weft-executor: a done callback
    /// panicked at LOCATION:`, the message, and the backtrace when `RUST_BACKTRACE` asks for one
    /// (the panic hook does not print it; see [`weft_thread::catch_panic`]); the callbacks after
    /// it still run.
    ///
    /// A callback may also ask another future's [`exception`](Self::exception): a value or a
    /// cancellation is answered at once, but a failure is read while that future's own
    /// callbacks are not running on another thread, so two failed futures whose callbacks ask
    /// each other's failure wait for each other.
    ///
    /// ```
    /// use std::sync::mpsc;
    /// let pool = weft_executor::ThreadPoolExecutor::new();
    /// let (tx, rx) = mpsc::channel();
    /// let f = pool.submit(|| 2).unwrap();
    /// f.add_done_callback(move |r| tx.send(*r.as_ref().unwrap() * 10).unwrap());
    /// assert_eq!(rx.recv().unwrap(), 20);
    /// ```
    pub fn add_done_callback(&self, callback: impl FnOnce(&Outcome<T, E>) + Send + 'static) {
        let mut g = lock(&self.core.inner);
        if self.core.published() && !g.callbacks_running {
            // Done: run it now, in this thread, holding no lock but the shared one on the result
            // (so the callback may use this same future).
            drop(g);
            let held = hold(&self.core.result);
            let value = held.try_borrow();
            run_callbacks(
                vec![Box::new(callback)],
                value.as_deref().ok().and_then(Option::as_ref),
            );
        } else {
            g.callbacks.push(Box::new(callback));
        }
    }

    /// Makes `group` the waiter; `false` if the future is already published.
    pub(crate) fn watch(&self, group: &Arc<Group>, index: usize) -> bool {
        let mut g = lock(&self.core.inner);
        if self.core.published() {
            return false;
        }
        let replaced = std::mem::replace(&mut g.waiter, Waiter::Group(Arc::clone(group), index));
        // A task's waker left by an earlier poll is dropped after the lock, as in `poll`.
        drop(g);
        drop(replaced);
        true
    }

    /// Whether the task finished with an error other than a cancellation (for `wait`'s
    /// `FirstException`).
    pub(crate) fn failed_not_cancelled(&self) -> bool {
        self.core.state.load(Ordering::Acquire) == FAILED
    }

    /// Removes a group waiter.
    pub(crate) fn unwatch(&self) {
        let mut g = lock(&self.core.inner);
        if matches!(g.waiter, Waiter::Group(..)) {
            g.waiter = Waiter::None;
        }
    }
}

impl<T, E> std::future::Future for Future<T, E> {
    type Output = Outcome<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut g = lock(&self.core.inner);
        // While another thread runs the done callbacks (reading the value), the task is woken
        // again after them rather than blocking its runtime until they end.
        if self.core.published() && !g.callbacks_running {
            drop(g);
            return Poll::Ready(self.core.take());
        }
        let replaced = match &mut g.waiter {
            Waiter::Waker(w) if w.will_wake(cx.waker()) => return Poll::Pending,
            slot => std::mem::replace(slot, Waiter::Waker(cx.waker().clone())),
        };
        // The old waker is dropped after the lock: its drop is the task's code, and may use this
        // future (drop its promise, cancel it), which takes the lock.
        drop(g);
        drop(replaced);
        Poll::Pending
    }
}

impl<T, E> fmt::Debug for Future<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A cancellation under way is not published yet: `cancelled`, `done` and `running` are
        // all `false`, so the future reads as pending until it is (the promise's `Debug` says
        // "cancelled" already, as its `is_cancelled` does).
        let state = match self.core.state.load(Ordering::Acquire) {
            CANCELLING => "pending",
            state => state_name(state),
        };
        f.debug_struct("Future").field("state", &state).finish()
    }
}

impl<T, E> Future<T, E> {
    /// A future that is already done with `result`, for tests and for code that mixes ready
    /// values with pool work.
    ///
    /// ```
    /// let f = weft_executor::Future::<_>::ready(Ok(3));
    /// assert!(f.done());
    /// assert_eq!(f.result().unwrap(), 3);
    /// ```
    pub fn ready(result: Outcome<T, E>) -> Self {
        let (p, f) = promise();
        p.complete(result);
        f
    }
}
