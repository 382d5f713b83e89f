//! Tasks: `create_task`, `Task`, `sleep`, `yield_now`.

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::task::{ready, Context, Poll, Wake, Waker};
use std::time::Duration;

use futures_core::future::FusedFuture;
use pin_project_lite::pin_project;
use tokio::task::JoinHandle;

use crate::cleanup::{self, CleanupPending};
use crate::context::{await_exits, drop_collecting_exits};
use crate::error::TaskError;
use crate::runtime::RunRef;

/// Schedules `fut` to run concurrently as a task and returns its handle (Python's
/// `asyncio.create_task(coro)`).
///
/// The task starts at the runtime's next turn; the caller goes on without waiting. Awaiting the
/// [`Task`] gives its output, or [`TaskError`] when it was cancelled or panicked.
///
/// Dropping the `Task` cancels it (as smol's tasks do; a Python task whose last reference
/// disappears may be garbage-collected mid-run): keep the handle, or call
/// [`detach`](Task::detach) to let the task run on its own until [`run`](crate::run)'s future
/// completes (then `run` cancels it and waits for its cleanup), its
/// [`Runner`](crate::Runner) closes (likewise), or its runtime ends.
///
/// Must be called from inside a runtime ([`run`](crate::run), or any tokio runtime): outside one
/// it panics with tokio's message (Python: `RuntimeError: no running event loop`).
///
/// ```
/// use weft_async::{create_task, run, yield_now};
/// use std::sync::{Arc, Mutex};
///
/// let log = Arc::new(Mutex::new(Vec::new()));
/// run({
///     let log = log.clone();
///     async move {
///         let worker = create_task({
///             let log = log.clone();
///             async move {
///                 log.lock().unwrap().push("task runs");
///             }
///         });
///         log.lock().unwrap().push("main goes on");
///         worker.await.unwrap();
///     }
/// })
/// .unwrap();
/// assert_eq!(*log.lock().unwrap(), ["main goes on", "task runs"]);
/// ```
pub fn create_task<F>(fut: F) -> Task<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let (handle, run) = crate::runtime::spawn(TaskFuture { fut: Some(fut) });
    Task::new(handle, None, run)
}

/// [`create_task`] with a name (Python's `create_task(coro, name="...")`), which
/// [`Task::name`] returns.
///
/// ```
/// use weft_async::{create_task_named, run};
///
/// run(async {
///     let t = create_task_named("fetch", async { 1 });
///     assert_eq!(t.name(), "fetch");
///     assert_eq!(t.await, Ok(1));
/// })
/// .unwrap();
/// ```
pub fn create_task_named<F>(name: impl Into<String>, fut: F) -> Task<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let (handle, run) = crate::runtime::spawn(TaskFuture { fut: Some(fut) });
    Task::new(handle, Some(name.into()), run)
}

/// Spawns `fut` on `runtime` as [`create_task`] does (its `async_with` exits awaited when it is
/// cancelled), from any thread; the caller records it with its run.
#[cfg(feature = "executor")]
pub(crate) fn spawn_task_on<F>(runtime: &tokio::runtime::Handle, fut: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    runtime.spawn(TaskFuture { fut: Some(fut) })
}

pin_project! {
    /// A task's future as [`create_task`] spawns it: the user's future, `None` once it has
    /// finished. Dropped before that (the task cancelled), it drops the user's future collecting
    /// the exits of the `async_with` blocks it was inside, which `Drop` cannot await, and has
    /// them awaited as a task of their own with the task's cleanup pending (see
    /// `crate::cleanup`): awaiting the cancelled [`Task`] returns after them, as Python's
    /// `await task` returns after the cancelled coroutine's `__aexit__`s.
    struct TaskFuture<F> {
        #[pin]
        fut: Option<F>,
    }

    impl<F> PinnedDrop for TaskFuture<F> {
        fn drop(this: Pin<&mut Self>) {
            let fut = this.project().fut;
            if fut.is_some() {
                drop_cancelled(fut);
            }
        }
    }
}

/// Drops a task's future that had not finished: see [`TaskFuture`].
#[cold]
#[inline(never)]
fn drop_cancelled<F>(mut fut: Pin<&mut Option<F>>) {
    if std::thread::panicking() {
        // Dropped by a panic in its own poll, whose exits go on as before (to `run`): the
        // task's handle gives the panic, not a cancellation.
        return;
    }
    let (Ok(runtime), Some(id)) = (tokio::runtime::Handle::try_current(), tokio::task::try_id())
    else {
        // No runtime to await exits on: the future drops as a field, as any would.
        return;
    };
    let (dropped, exits) = drop_collecting_exits(|| fut.set(None));
    if !exits.is_empty() {
        let pending = CleanupPending::register(id);
        crate::runtime::spawn_exit(&runtime, async move {
            // Done once the exits have run, or when this is dropped unrun.
            let _pending = pending;
            await_exits(exits).await;
        });
    }
    // A destructor of the task's future panicked: the task's panic, as without this.
    if let Err(payload) = dropped {
        std::panic::resume_unwind(payload);
    }
}

impl<F: Future> Future for TaskFuture<F> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        if crate::runtime::hold_back(cx) {
            return Poll::Pending; // its run's extra turn is over: woken when the run goes on
        }
        let mut this = self.project();
        let Some(fut) = this.fut.as_mut().as_pin_mut() else {
            return Poll::Pending; // not reached: tokio does not poll a finished task
        };
        let out = ready!(fut.poll(cx));
        this.fut.set(None);
        Poll::Ready(out)
    }
}

/// A running task: the handle [`create_task`] returns (Python's `asyncio.Task`).
///
/// Awaiting it gives `Ok(output)`, or [`TaskError::Cancelled`] / [`TaskError::Panicked`], once:
/// awaited again (`&mut task`), it never completes, where Python's task gives its result again.
/// Dropping it cancels the task unless it was [detached](Task::detach) or
/// [shielded](crate::shield).
///
/// ```
/// use std::time::Duration;
/// use weft_async::{create_task, run, sleep, yield_now};
///
/// run(async {
///     let t = create_task(sleep(Duration::from_secs(3600)));
///     yield_now().await;
///     assert!(!t.done());
///     assert!(t.cancel());
///     assert!(t.await.unwrap_err().is_cancelled());
/// })
/// .unwrap();
/// ```
#[must_use = "a Task is cancelled when dropped: keep it, await it, or call .detach()"]
pub struct Task<T> {
    handle: JoinHandle<T>,
    /// What few tasks have, boxed so that a handle stays four words.
    rare: Option<Box<Rare<T>>>,
    cancel_requested: AtomicBool,
    cancel_on_drop: bool,
    /// Whether awaiting it has given the result: then it is terminated (`FusedFuture`).
    answered: bool,
    /// The `run` it started in: let go unfinished, it is that run's to wind down.
    run: RunRef,
}

/// What few [`Task`]s have, in one box.
struct Rare<T> {
    /// The name given to [`create_task_named`].
    name: Option<String>,
    /// The answer the next await gives, taken from the `JoinHandle` before anyone awaited the
    /// task: by [`wait`](crate::wait), which leaves it in the task it returns as done; or, for a
    /// cancelled task, the error ([`TaskError::Cancelled`], or the panic of a destructor that
    /// the cancellation ran) kept while the exits its cancellation handed over run (see
    /// `TaskFuture`): an await gives an `Err` only once they have run.
    kept: Option<Result<T, TaskError>>,
}

impl<T> Task<T> {
    pub(crate) fn new(handle: JoinHandle<T>, name: Option<String>, run: RunRef) -> Self {
        Task {
            handle,
            rare: name.map(|name| {
                Box::new(Rare {
                    name: Some(name),
                    kept: None,
                })
            }),
            cancel_requested: AtomicBool::new(false),
            cancel_on_drop: true,
            answered: false,
            run,
        }
    }

    /// The answer kept for the next await (see `Rare::kept`), taken.
    fn take_kept(&mut self) -> Option<Result<T, TaskError>> {
        self.rare.as_mut().and_then(|rare| rare.kept.take())
    }

    /// Keeps `out` for the next await (see `Rare::kept`), in the box of the task's rare name.
    fn keep(&mut self, out: Result<T, TaskError>) {
        let rare = self.rare.get_or_insert_with(|| {
            Box::new(Rare {
                name: None,
                kept: None,
            })
        });
        rare.kept = Some(out);
    }

    /// Ready once the task has finished, keeping its answer for the next await (or once its
    /// answer has been given away). For [`wait`](crate::wait), which returns the task.
    pub(crate) fn poll_finish(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.answered
            || self
                .rare
                .as_ref()
                .is_some_and(|rare| matches!(rare.kept, Some(Ok(_))))
        {
            return Poll::Ready(());
        }
        let out = ready!(Pin::new(&mut *self).poll(cx));
        self.answered = false;
        self.keep(out);
        Poll::Ready(())
    }

    /// Whether the answer [`poll_finish`](Task::poll_finish) kept is a failure other than a
    /// cancellation (Python's `FIRST_EXCEPTION`: an exception, not `CancelledError`).
    pub(crate) fn failed(&self) -> bool {
        self.rare
            .as_ref()
            .is_some_and(|rare| matches!(&rare.kept, Some(Err(e)) if !e.is_cancelled()))
    }

    /// Asks the task to stop (Python's `task.cancel()`): it is dropped at its next await point
    /// and awaiting it gives [`TaskError::Cancelled`]. Returns `false` when the task had
    /// already finished.
    ///
    /// Cancelling in Rust drops the task's future, so its destructors run, but it cannot catch
    /// the cancellation and go on as a Python coroutine can catch `CancelledError`. The exits of
    /// the [`async_with`](crate::async_with) blocks it was in (which `Drop` cannot await) run
    /// after its future is dropped, on a task of their own; awaiting the cancelled task returns
    /// after them, as Python's `await task` returns after its `__aexit__`s, and
    /// [`done`](Task::done) is `false` until then. So it does when a destructor panicked as
    /// the cancellation dropped the future: it then gives
    /// [`TaskError::Panicked`](crate::TaskError::Panicked), after the exits, as Python's
    /// `await task` raises an exception from a `finally` after the `__aexit__`s.
    ///
    /// ```
    /// use weft_async::{create_task, run};
    ///
    /// run(async {
    ///     let t = create_task(std::future::pending::<()>());
    ///     assert!(t.cancel());
    ///     assert!(t.await.unwrap_err().is_cancelled());
    /// })
    /// .unwrap();
    /// ```
    pub fn cancel(&self) -> bool {
        if self.handle.is_finished() {
            return false;
        }
        self.cancel_requested.store(true, Ordering::Relaxed);
        self.handle.abort();
        true
    }

    /// `true` once the task has finished: returned, panicked or been cancelled, a cancelled one
    /// once the exits of the `async_with` blocks it was in have run (Python's `task.done()`).
    ///
    /// ```
    /// use weft_async::{create_task, run, yield_now};
    ///
    /// run(async {
    ///     let t = create_task(async { 7 });
    ///     assert!(!t.done()); // it has not had a turn yet
    ///     yield_now().await;
    ///     assert!(t.done());
    /// })
    /// .unwrap();
    /// ```
    pub fn done(&self) -> bool {
        self.handle.is_finished() && !cleanup::is_pending(self.handle.id())
    }

    /// `true` once the task has finished after a successful [`cancel`](Task::cancel) (Python's
    /// `task.cancelled()`).
    ///
    /// It tells that a cancel request reached an unfinished task, not how the task ended: a
    /// task that cancels itself and then returns without awaiting again, or (on a multi-thread
    /// runtime) one that completes on another thread at the very instant it is cancelled, keeps
    /// its output, and awaiting it gives the output although `cancelled()` said `true`; a task
    /// whose destructor panics as the cancellation drops it gives
    /// [`TaskError::Panicked`](crate::TaskError::Panicked) (Python's `cancelled()` would be
    /// `False` for an exception raised while handling the cancellation). A task that
    /// [`Runner::close`](crate::Runner::close) cancels was not cancelled by `cancel`: its
    /// `cancelled()` stays `false` (Python's is `True`), and its await gives
    /// [`TaskError::Cancelled`](crate::TaskError::Cancelled). Otherwise, for a task cancelled
    /// from outside on [`run`](crate::run)'s single thread, it is exact.
    ///
    /// ```
    /// use weft_async::{create_task, run, yield_now};
    ///
    /// run(async {
    ///     let t = create_task(std::future::pending::<()>());
    ///     t.cancel();
    ///     yield_now().await;
    ///     assert!(t.cancelled());
    /// })
    /// .unwrap();
    /// ```
    pub fn cancelled(&self) -> bool {
        self.cancel_requested.load(Ordering::Relaxed) && self.done()
    }

    /// The task's name: the one given to [`create_task_named`], or `Task-<id>` (Python's
    /// `task.get_name()`, whose default is `Task-<n>`).
    ///
    /// ```
    /// use weft_async::{create_task, run};
    ///
    /// run(async {
    ///     let t = create_task(async {});
    ///     assert!(t.name().starts_with("Task-"));
    ///     t.await.unwrap();
    /// })
    /// .unwrap();
    /// ```
    pub fn name(&self) -> Cow<'_, str> {
        match self.rare.as_ref().and_then(|rare| rare.name.as_deref()) {
            Some(name) => Cow::Borrowed(name),
            None => Cow::Owned(format!("Task-{}", self.handle.id())),
        }
    }

    /// The runtime's unique id of the task.
    ///
    /// ```
    /// use weft_async::{create_task, run};
    ///
    /// run(async {
    ///     let (a, b) = (create_task(async {}), create_task(async {}));
    ///     assert_ne!(a.id(), b.id());
    /// })
    /// .unwrap();
    /// ```
    pub fn id(&self) -> tokio::task::Id {
        self.handle.id()
    }

    /// Lets the task run on its own: dropping the handle no longer cancels it (Python's
    /// fire-and-forget `create_task(...)` with a reference kept elsewhere). It still ends with
    /// [`run`](crate::run), which cancels it when its future completes and waits for its
    /// cleanup, with [`Runner::close`](crate::Runner::close), likewise, or with its runtime.
    ///
    /// ```
    /// use weft_async::{create_task, run, yield_now};
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::sync::Arc;
    ///
    /// let ran = Arc::new(AtomicBool::new(false));
    /// run({
    ///     let ran = ran.clone();
    ///     async move {
    ///         create_task(async move { ran.store(true, Ordering::SeqCst) }).detach();
    ///         yield_now().await;
    ///     }
    /// })
    /// .unwrap();
    /// assert!(ran.load(Ordering::SeqCst));
    /// ```
    pub fn detach(mut self) {
        self.cancel_on_drop = false;
    }

    /// Makes dropping this handle leave the task running, like [`detach`](Task::detach), but
    /// keeps the handle to await (Python's `asyncio.shield(task)`): a caller that gives up
    /// waiting (a timeout, a cancelled parent) does not cancel the work.
    ///
    /// ```
    /// use std::time::Duration;
    /// use weft_async::{create_task, run, sleep, timeout};
    ///
    /// run(async {
    ///     let (tx, rx) = tokio::sync::oneshot::channel();
    ///     let save = create_task(async move {
    ///         sleep(Duration::from_millis(20)).await;
    ///         tx.send("saved").unwrap();
    ///     })
    ///     .shield();
    ///     // The caller gives up after 1 ms; the shielded task still finishes.
    ///     assert!(timeout(Duration::from_millis(1), save).await.is_err());
    ///     assert_eq!(rx.await.unwrap(), "saved");
    /// })
    /// .unwrap();
    /// ```
    pub fn shield(mut self) -> Self {
        self.cancel_on_drop = false;
        self
    }
}

/// Awaiting a task gives its result once. The handle is then terminated ([`FusedFuture`]):
/// polled again, as `&mut task` in a `select!` loop may be, it stays pending rather than answer a
/// second time (or panic, as tokio's `JoinHandle` does).
impl<T> Future for Task<T> {
    type Output = Result<T, TaskError>;

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.answered {
            return Poll::Pending;
        }
        if self.rare.as_ref().is_some_and(|rare| rare.kept.is_some()) {
            return self.poll_kept(None, cx);
        }
        let out = ready!(Pin::new(&mut self.handle).poll(cx)).map_err(TaskError::from_join);
        if out.is_err() {
            // Cancelled, or failed by a destructor of its future dropped by the cancellation:
            // either way its cancellation may have handed over exits.
            return self.poll_kept(Some(out), cx);
        }
        self.answered = true;
        Poll::Ready(out)
    }
}

impl<T> Task<T> {
    /// Gives `out`, or else the answer kept for this await (see `Rare::kept`). An error
    /// ([`TaskError::Cancelled`], or the panic of a destructor that its cancellation ran) is
    /// given once the exits its cancellation handed over have run (see `crate::cleanup`), as
    /// Python's `await task` raises after the `__aexit__`s; until then it is kept.
    #[cold]
    #[inline(never)]
    fn poll_kept(
        &mut self,
        out: Option<Result<T, TaskError>>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<T, TaskError>> {
        let Some(out) = out.or_else(|| self.take_kept()) else {
            return Poll::Pending; // not reached: called with an answer or while one is kept
        };
        if out.is_err() && cleanup::poll_done(self.handle.id(), cx).is_pending() {
            self.keep(out);
            return Poll::Pending;
        }
        self.answered = true;
        Poll::Ready(out)
    }
}

impl<T> FusedFuture for Task<T> {
    fn is_terminated(&self) -> bool {
        self.answered
    }
}

impl<T> Drop for Task<T> {
    fn drop(&mut self) {
        if !self.handle.is_finished() {
            if self.cancel_on_drop {
                self.handle.abort();
            }
            // Cancelled (it ends when the runtime next gets to it) or left running: either way
            // nobody waits for it any more, so the run it belongs to winds it down at its end.
            self.run.track(self.handle.abort_handle());
        }
    }
}

impl<T> fmt::Debug for Task<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = if !self.done() {
            "pending"
        } else if self.cancel_requested.load(Ordering::Relaxed) {
            "cancelled"
        } else {
            "finished"
        };
        f.debug_struct("Task")
            .field("name", &self.name())
            .field("state", &state)
            .finish()
    }
}

/// Spawns `fut` as a task that is not cancelled when its caller gives up (Python's
/// `asyncio.shield(aw)`): awaiting the result may be abandoned — by a
/// [`timeout`](crate::timeout), or because the awaiting task is cancelled — while the work
/// itself goes on until it finishes or the runtime ends. The handle can still
/// [`cancel`](Task::cancel) it explicitly.
///
/// For a task that already exists, call [`Task::shield`].
///
/// ```
/// use std::time::Duration;
/// use weft_async::{run, shield, sleep, wait_for};
///
/// run(async {
///     let (tx, rx) = tokio::sync::oneshot::channel();
///     let write = shield(async move {
///         sleep(Duration::from_millis(20)).await;
///         tx.send(42).unwrap();
///     });
///     assert!(wait_for(write, Duration::from_millis(1)).await.is_err());
///     assert_eq!(rx.await, Ok(42)); // the shielded work finished anyway
/// })
/// .unwrap();
/// ```
pub fn shield<F>(fut: F) -> Task<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    create_task(fut).shield()
}

/// Suspends the current task for `duration` (Python's `await asyncio.sleep(seconds)`);
/// `Duration::MAX` sleeps for ever.
///
/// ```
/// use std::time::{Duration, Instant};
/// use weft_async::{run, sleep};
///
/// let start = Instant::now();
/// run(sleep(Duration::from_millis(5))).unwrap();
/// assert!(start.elapsed() >= Duration::from_millis(5));
/// ```
pub async fn sleep(duration: Duration) {
    // Created on first poll, so `run(sleep(d))` works: the timer needs the runtime.
    tokio::time::sleep(duration).await
}

/// Gives the other tasks a turn before going on (Python's `await asyncio.sleep(0)`).
///
/// Under [`run`](crate::run), the tasks that yield in one turn of the runtime resume in the
/// order they yielded, as asyncio's ready queue runs them (tokio's own `yield_now` resumes them
/// last in, first out). Under [`run_multi_thread`](crate::run_multi_thread) no order holds: a
/// worker runs the last task woken first, and the others may be stolen by other workers.
///
/// `run`'s own future is not a task: tokio polls it again after at most 61 tasks (its
/// `event_interval`), so a yield there may resume before every ready task has had its turn,
/// where Python's `sleep(0)` in the main coroutine lets them all run first. A task made with
/// [`create_task`](crate::create_task) yields in Python's order.
///
/// ```
/// use weft_async::{create_task, run, yield_now};
///
/// run(async {
///     let t = create_task(async { 1 });
///     yield_now().await; // the task runs here
///     assert!(t.done());
/// })
/// .unwrap();
/// ```
pub async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            return Poll::Ready(());
        }
        yielded = true;
        defer_in_order(cx.waker());
        Poll::Pending
    })
    .await
}

/// The wakers of the tasks that yielded in one turn of a runtime's thread, woken in that order
/// when the runtime has run the others (and polled its driver): tokio defers this batch as one
/// waker, where it would wake the tasks' own wakers last in, first out.
struct Yielded {
    /// The runtime whose scheduler holds the batch (`None` outside any: woken at once).
    runtime: Option<tokio::runtime::Id>,
    /// `None` once woken: a task that yields later starts a new batch.
    wakers: parking_lot::Mutex<Option<Vec<Waker>>>,
}

impl Wake for Yielded {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // Taken under the lock, woken outside it (a waker is user code).
        let wakers = self.wakers.lock().take();
        for waker in wakers.into_iter().flatten() {
            waker.wake();
        }
    }
}

thread_local! {
    /// The batch of yielded tasks this thread's scheduler has not woken yet. Weak: the
    /// scheduler owns it, and one that drops its deferred wakers (a `block_on` that returns)
    /// drops the batch with them, so no later yield joins a batch nothing will wake.
    static YIELDED: RefCell<Weak<Yielded>> = const { RefCell::new(Weak::new()) };
}

/// Hands `waker` to the runtime to be woken after the tasks ready now have run (tokio's
/// `yield_now`), in the order of the calls within one turn.
pub(crate) fn defer_in_order(waker: &Waker) {
    let runtime = tokio::runtime::Handle::try_current().ok().map(|h| h.id());
    let mut waker = Some(waker.clone());
    let joined = YIELDED
        .try_with(|batch| {
            let Some(open) = batch.borrow().upgrade() else {
                return false;
            };
            if open.runtime != runtime {
                return false;
            }
            let mut wakers = open.wakers.lock();
            let Some(wakers) = wakers.as_mut() else {
                return false;
            };
            // Futures interleaved in one task (a `gather` of plain futures) share its waker:
            // kept once, as tokio keeps a task that yields again.
            if !waker
                .as_ref()
                .is_some_and(|new| wakers.last().is_some_and(|last| last.will_wake(new)))
            {
                wakers.extend(waker.take());
            }
            true
            // The lock, then `open`, are released here, after the borrow: if the scheduler let
            // go of the batch meanwhile, this is its last reference, and its wakers' drops are
            // user code.
        })
        .unwrap_or(false);
    // Outside the lock: a clone not kept (a duplicate) is dropped here.
    let Some(waker) = waker.filter(|_| !joined) else {
        return;
    };
    // A new batch, deferred with tokio's `yield_now` (woken at once outside a runtime).
    let batch = Arc::new(Yielded {
        runtime,
        wakers: parking_lot::Mutex::new(Some(vec![waker])),
    });
    let _ = YIELDED.try_with(|open| *open.borrow_mut() = Arc::downgrade(&batch));
    let batch = Waker::from(batch);
    let mut defer = std::pin::pin!(tokio::task::yield_now());
    let _ = defer.as_mut().poll(&mut Context::from_waker(&batch));
}
