//! `TaskGroup`: structured concurrency (Python's `asyncio.TaskGroup`).

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;
use std::future::{poll_fn, Future};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll, Waker};

use futures_core::future::FusedFuture;
use parking_lot::Mutex;
use pin_project_lite::pin_project;
use tokio::runtime::Handle;
use tokio::task::{AbortHandle, JoinHandle};

use crate::cleanup::{self, CleanupPending};
use crate::context::{
    await_exits, await_or_hand_over, drop_collecting_exits, hand_over_exit,
    innermost_list_opened_here, HandedExit,
};
use crate::error::TaskError;
use crate::runtime::RunRef;

/// A set of tasks that end together (Python's `async with asyncio.TaskGroup() as tg:`).
///
/// [`create_task`](TaskGroup::create_task) starts a task in the group;
/// [`wait`](TaskGroup::wait) — the end of Python's `async with` block — waits until every task
/// has finished, including tasks that tasks started through a [`handle`](TaskGroup::handle).
/// The first task that fails (returns `Err` or panics) cancels all the others, and `wait`
/// returns every failure in a [`TaskGroupError`] (Python's `ExceptionGroup`). Dropping the group
/// without waiting, or dropping the `wait` future, cancels every task, as cancelling the task
/// that runs a Python `async with TaskGroup()` block does; and, as there, what that cancellation
/// unwinds ends only after those tasks have: the drop hands the wait for them over, as a
/// cancelled [`async_with`](crate::async_with) block hands over its exit, to what is cancelling
/// it: an enclosing `async_with` body, a group task being cancelled, a [`timeout`](crate::timeout)
/// that expired or a [`gather`](crate::gather) that failed, which awaits it (each cancelled
/// task's exits included) before it ends. A group dropped otherwise (an early `?` return in a
/// running task) hands the wait to [`run`](crate::run), which awaits it before it returns.
/// That holds for a group dropped in the task (or outside any task, on the thread) that made
/// it, as Python's block is left by the task that entered it, and whose tasks all run on the
/// runtime current there (a task belongs to the runtime it started on, which may not be running
/// meanwhile). A group moved elsewhere and dropped there cancels its tasks and leaves their exits
/// to `run`: dropped inside something its own tasks wait for, a handed wait would wait for
/// itself. A group returned by the task that made it is moved too: dropped with that task's
/// output (its handle dropped unread), it leaves its tasks' exits to `run`.
///
/// Only what is awaited waits: the destructors of the cancelled code (a guard the task held
/// around the group, say) run as it is dropped, before the group's tasks have been cancelled,
/// where Python runs a `finally` around the block after them. Code that must come after the
/// tasks goes in an [`async_with`](crate::async_with) exit around the group.
///
/// [`TaskGroup::scope`] is Python's block whole: the body is a future of the scope, which a
/// failure cancels and whose error joins the group's. With `new` and `wait`, which let the group
/// outlive one block, two things differ from Python's group, which wraps the block's body:
/// - A failure does not cancel the body: Python cancels the task running the `async with` block
///   as soon as a child fails, while here the code before `wait` goes on until it reaches
///   `wait`.
/// - The body's own error is not in the group's error: a body that returns early (a `?` before
///   `wait`) drops the group, which cancels the tasks and reports nothing, so failures of its
///   tasks before then are lost, where Python's `ExceptionGroup` holds them and the body's
///   exception. Call [`cancel`](TaskGroup::cancel) and then `wait` before returning to get them.
///
/// One differs for both:
/// - A failure cancels the other tasks at once, in the failing task's own poll: a task already
///   due to run in the same turn is cancelled before it runs, where Python's group, told of the
///   failure by a done callback a turn later, lets it run (and reports its failure too). So is
///   a [`scope`](TaskGroup::scope)'s body woken in that turn: it is cancelled at the await it
///   was woken from, where Python's body runs on to its next await (past an
///   `await asyncio.sleep(0)`, say) before the cancellation reaches it.
///
/// A cancelled task has finished, for `wait`, once the exits of the
/// [`async_with`](crate::async_with) blocks it was inside have run (they cannot run in its drop;
/// see the cancellation section there): as in Python, the block ends after the cancelled tasks'
/// `__aexit__`s. Awaiting a cancelled task's own handle returns after them too.
///
/// `E` is the tasks' error type; use `std::convert::Infallible` for tasks that cannot fail
/// other than by panicking.
///
/// ```
/// use std::time::Duration;
/// use weft_async::{run, sleep, TaskGroup};
///
/// run(async {
///     let tg = TaskGroup::<String>::new();
///     let a = tg.create_task(async { Ok(1) }).unwrap();
///     let b = tg
///         .create_task(async {
///             sleep(Duration::from_millis(5)).await;
///             Ok(2)
///         })
///         .unwrap();
///     tg.wait().await.unwrap();
///     assert_eq!(a.await.unwrap() + b.await.unwrap(), 3);
///
///     // One failure cancels the siblings and is reported with any others.
///     let tg = TaskGroup::<String>::new();
///     let slow = tg
///         .create_task(async {
///             sleep(Duration::from_secs(3600)).await;
///             Ok(())
///         })
///         .unwrap();
///     let _ = tg.create_task(async { Err::<(), _>("no route".to_string()) });
///     let err = tg.wait().await.unwrap_err();
///     assert_eq!(err.len(), 1);
///     assert!(slow.await.unwrap_err().is_cancelled());
/// })
/// .unwrap();
/// ```
pub struct TaskGroup<E> {
    inner: Arc<Inner<E>>,
    /// [`drained`] for this `E`: made where `E: Send + 'static` is known, which the drop, where
    /// it is used, cannot require.
    drained: fn(Arc<Inner<E>>) -> HandedExit,
    /// Where the group was made: only a drop there hands the wait for its tasks over.
    origin: Origin,
}

/// A handle for starting tasks in a [`TaskGroup`] from inside its tasks (Python passes `tg`
/// itself around); it cannot wait for the group. Cheap to clone.
///
/// ```
/// use std::convert::Infallible;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
/// use weft_async::{run, TaskGroup};
///
/// let count = Arc::new(AtomicUsize::new(0));
/// run({
///     let count = count.clone();
///     async move {
///         let tg = TaskGroup::<Infallible>::new();
///         let spawner = tg.handle();
///         let _ = tg.create_task(async move {
///             for _ in 0..3 {
///                 let count = count.clone();
///                 let _ = spawner.create_task(async move {
///                     count.fetch_add(1, Ordering::SeqCst);
///                     Ok(())
///                 });
///             }
///             Ok(())
///         });
///         tg.wait().await.unwrap(); // waits for the tasks' tasks too
///     }
/// })
/// .unwrap();
/// assert_eq!(count.load(Ordering::SeqCst), 3);
/// ```
pub struct TaskGroupHandle<E> {
    inner: Arc<Inner<E>>,
}

struct Inner<E> {
    state: Mutex<State<E>>,
    /// What the tasks' handles read of the group.
    ended: Arc<Ended>,
}

/// What a group shares with its tasks' handles, which do not know its error type.
struct Ended {
    /// Set when `wait` finds every task's future dropped: the handles' `done()` is then true
    /// even where the runtime has not yet marked the task finished.
    all: AtomicBool,
    /// The tasks whose futures were dropped unfinished after the group stopped taking tasks:
    /// those its cancellation (a failure, `cancel`, its drop) reached, for their handles'
    /// `cancelled()`. No task starts after that, so it holds at most the tasks running then.
    cancelled: Mutex<HashSet<tokio::task::Id>>,
}

struct State<E> {
    phase: Phase,
    /// Tasks started and not yet dropped (finished tasks are dropped by the runtime at once),
    /// with the exits a cancelled one's drop handed over not yet awaited.
    live: usize,
    /// A handle on every task started while the group is open, to cancel them all, with the
    /// `run` it started in; finished ones are pruned as it grows. Taken when the group stops
    /// taking tasks.
    aborts: Vec<(AbortHandle, RunRef)>,
    errors: Vec<TaskFailure<E>>,
    /// `wait`, or the wait a drop handed over, waiting for `live` to reach zero.
    waiter: Option<Waker>,
    /// A [`scope`](TaskGroup::scope)'s body, woken when the group stops taking tasks so that it
    /// is cancelled then.
    body: Option<Waker>,
    /// The runtimes the tasks were started on.
    runtimes: Runtimes,
}

/// The runtimes a group's tasks were started on.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Runtimes {
    None,
    One(tokio::runtime::Id),
    Several,
}

impl Runtimes {
    fn add(&mut self, id: tokio::runtime::Id) {
        *self = match *self {
            Runtimes::None => Runtimes::One(id),
            Runtimes::One(one) if one == id => Runtimes::One(id),
            _ => Runtimes::Several,
        };
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    /// Taking tasks.
    Open,
    /// A task failed and the others were cancelled: no new tasks.
    Aborting,
    /// `wait` returned or the group was dropped.
    Finished,
}

impl<E: Send + 'static> TaskGroup<E> {
    /// An empty group. It can be made anywhere; its tasks run on the runtime current where each
    /// is started (Python's TaskGroup uses the running loop).
    ///
    /// ```
    /// use weft_async::TaskGroup;
    ///
    /// let tg = TaskGroup::<std::io::Error>::new();
    /// assert_eq!(tg.len(), 0);
    /// ```
    pub fn new() -> Self {
        TaskGroup {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    phase: Phase::Open,
                    live: 0,
                    aborts: Vec::new(),
                    errors: Vec::new(),
                    waiter: None,
                    body: None,
                    runtimes: Runtimes::None,
                }),
                ended: Arc::new(Ended {
                    all: AtomicBool::new(false),
                    cancelled: Mutex::new(HashSet::new()),
                }),
            }),
            drained: drained::<E>,
            origin: Origin::here(),
        }
    }

    /// Starts `fut` as a task of the group and returns its handle (Python's
    /// `tg.create_task(coro)`).
    ///
    /// An `Err` from the task, or a panic in it, cancels the other tasks of the group and is
    /// reported by [`wait`](TaskGroup::wait); the task's own handle then gives
    /// [`TaskError::Failed`] or [`TaskError::Panicked`]. Dropping the handle does not cancel the
    /// task: the group owns it.
    ///
    /// # Errors
    /// [`SpawnError`] with `fut` back when the group has finished, is cancelling its tasks after
    /// a failure, or no tokio runtime is available.
    ///
    /// ```
    /// use weft_async::{run, TaskGroup};
    ///
    /// run(async {
    ///     let tg = TaskGroup::<()>::new();
    ///     let t = tg.create_task(async { Ok("done") }).unwrap();
    ///     tg.wait().await.unwrap();
    ///     assert_eq!(t.await, Ok("done"));
    /// })
    /// .unwrap();
    /// ```
    pub fn create_task<F, T>(&self, fut: F) -> Result<GroupTask<T>, SpawnError<F>>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
    {
        spawn(&self.inner, fut)
    }

    /// [`create_task`](TaskGroup::create_task) with a name (Python's
    /// `tg.create_task(coro, name="...")`), which [`GroupTask::name`] returns.
    ///
    /// # Errors
    /// As [`create_task`](TaskGroup::create_task); the name is dropped with the task.
    ///
    /// ```
    /// use weft_async::{run, TaskGroup};
    ///
    /// run(async {
    ///     let tg = TaskGroup::<()>::new();
    ///     let t = tg.create_task_named("fetch", async { Ok(1) }).unwrap();
    ///     assert_eq!(t.name(), "fetch");
    ///     tg.wait().await.unwrap();
    ///     assert_eq!(t.await, Ok(1));
    /// })
    /// .unwrap();
    /// ```
    pub fn create_task_named<F, T>(
        &self,
        name: impl Into<String>,
        fut: F,
    ) -> Result<GroupTask<T>, SpawnError<F>>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
    {
        spawn(&self.inner, fut).map(|task| task.named(name.into()))
    }

    /// A handle that tasks of the group can use to start more tasks in it.
    ///
    /// ```
    /// use weft_async::TaskGroup;
    ///
    /// let tg = TaskGroup::<()>::new();
    /// let h = tg.handle();
    /// assert!(!h.is_finished());
    /// ```
    pub fn handle(&self) -> TaskGroupHandle<E> {
        TaskGroupHandle {
            inner: self.inner.clone(),
        }
    }

    /// How many tasks of the group have not been waited for yet.
    ///
    /// ```
    /// use weft_async::{run, TaskGroup};
    ///
    /// run(async {
    ///     let tg = TaskGroup::<()>::new();
    ///     let _t = tg.create_task(async { Ok(()) }).unwrap();
    ///     assert_eq!(tg.len(), 1);
    ///     tg.wait().await.unwrap();
    /// })
    /// .unwrap();
    /// ```
    pub fn len(&self) -> usize {
        self.inner.state.lock().live
    }

    /// `true` when no task is left to wait for.
    ///
    /// ```
    /// assert!(weft_async::TaskGroup::<()>::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Cancels every task of the group; [`wait`](TaskGroup::wait) then returns once they are
    /// gone, reporting the failures that happened before and any panic in a destructor the
    /// cancellation runs (as Python's group reports an exception raised in a child's `finally`
    /// while it is cancelled).
    ///
    /// ```
    /// use weft_async::{run, TaskGroup};
    ///
    /// run(async {
    ///     let tg = TaskGroup::<()>::new();
    ///     let t = tg.create_task(async { std::future::pending::<Result<(), ()>>().await }).unwrap();
    ///     tg.cancel();
    ///     assert!(tg.wait().await.is_ok());
    ///     assert!(t.await.unwrap_err().is_cancelled());
    /// })
    /// .unwrap();
    /// ```
    pub fn cancel(&self) {
        let (aborts, runs) = {
            let mut st = self.inner.state.lock();
            if st.phase != Phase::Open {
                // Already stopped: its tasks were cancelled then, and a late one by `spawn`.
                return;
            }
            st.phase = Phase::Aborting;
            st.stop()
        };
        drop(runs);
        abort_all(aborts);
    }

    /// Runs `body` with a handle on a new group, then waits for the group, as Python's
    /// `async with asyncio.TaskGroup() as tg:` block does with its body: the block as one future.
    ///
    /// `body` is an `async |tg| …` closure (or `|tg| async move { … }`) given the group's
    /// [`TaskGroupHandle`], its own to keep or clone into tasks. The scope's future is `Send`
    /// when the body's future is, also awaited inside another task and with an `E` that holds a
    /// lifetime (`&'static str`), which a body taking `&TaskGroupHandle<E>` (an `AsyncFnOnce`)
    /// would not be: rustc cannot prove such a future `Send` there.
    ///
    /// The first failure of a task (an `Err` or a panic) cancels the other tasks and the body
    /// too, at its current await (Python cancels the task running the block); the body's
    /// [`async_with`](crate::async_with) exits are awaited before the group is. A body that
    /// returns `Err` or panics cancels the tasks once the exits of the blocks it still held have
    /// run (an exit may wait for a task: Python runs the inner `__aexit__`s before the group's),
    /// and its failure joins theirs, after them all (Python appends the body's exception to the
    /// `ExceptionGroup` once the tasks have ended), as does a panic in a destructor of the body,
    /// cancelled or finished (its future is dropped as it ends, as a finished task's is); a panic
    /// of the body is caught, as a task's is. With no failure, the body's value is the result
    /// once every task has finished.
    ///
    /// Compared with [`new`](TaskGroup::new) and [`wait`](TaskGroup::wait), whose code before
    /// `wait` goes on after a failure and whose early return loses the failures: use `scope`
    /// for Python's semantics, and `new` where the group must outlive one block. Dropping the
    /// `scope` future cancels the body and the tasks, as cancelling the task running Python's
    /// block does, and what drops it ends after them (see [`TaskGroup`]).
    ///
    /// `tg.create_task(fut)?` in the body needs an `E` that a [`SpawnError`] converts into, as
    /// `Box<dyn std::error::Error + Send + Sync>` does (for a `Sync` future); with another `E`
    /// (a `String`), `unwrap()` it, as the examples below do, or `map_err` it. In the body it
    /// fails only while a failure cancels the group ([`SpawnError::ShuttingDown`]).
    ///
    /// # Errors
    /// [`TaskGroupError`] with every failure, the body's included.
    ///
    /// ```
    /// use std::time::Duration;
    /// use weft_async::{run, sleep, TaskFailure, TaskGroup};
    ///
    /// run(async {
    ///     let sum = TaskGroup::scope(async |tg| {
    ///         let a = tg.create_task(async { Ok(1) }).unwrap();
    ///         let b = tg.create_task(async { Ok(2) }).unwrap();
    ///         Ok::<_, String>(a.await.unwrap() + b.await.unwrap())
    ///     })
    ///     .await;
    ///     assert_eq!(sum, Ok(3));
    ///
    ///     // A task's failure cancels the body, which never gets past its sleep.
    ///     let failed = TaskGroup::scope(async |tg| {
    ///         let _ = tg.create_task(async { Err::<(), _>("no route".to_string()) });
    ///         sleep(Duration::from_secs(3600)).await; // cancelled here
    ///         Ok(())
    ///     })
    ///     .await;
    ///     let errors: Vec<TaskFailure<String>> = failed.unwrap_err().into_errors();
    ///     assert_eq!(errors, [TaskFailure::Failed("no route".to_string())]);
    /// })
    /// .unwrap();
    /// ```
    pub async fn scope<T, B, Fut>(body: B) -> Result<T, TaskGroupError<E>>
    where
        B: FnOnce(TaskGroupHandle<E>) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let tg = TaskGroup::new();
        let (value, failures) = {
            let mut body = pin!(Some(body(tg.handle())));
            // The exits of the blocks a panic of the body unwound out of (its locals). A lock
            // never taken (reached through `&mut`), which keeps this future `Sync`.
            let mut unwound = Mutex::new(Vec::new());
            let ended = poll_fn(|cx| {
                let Some(running) = body.as_mut().as_pin_mut() else {
                    return Poll::Ready(None); // not reached: polled until it ends, then dropped
                };
                if tg.inner.poll_stopped(cx).is_ready() {
                    return Poll::Ready(None);
                }
                let mut polled = Poll::Pending;
                let (caught, exits) = drop_collecting_exits(|| polled = running.poll(cx));
                match (caught, polled) {
                    (Err(payload), _) => {
                        *unwound.get_mut() = exits;
                        let message = weft_sync::into_panic_message(payload);
                        Poll::Ready(Some(Err(TaskFailure::Panicked { message })))
                    }
                    // Blocks the body dropped mid-body itself (a `select!` branch): their exits
                    // go on, one by one, where they go without this list (an enclosing list, or
                    // a task of their own each).
                    (Ok(()), polled) => {
                        exits.into_iter().for_each(hand_over_exit);
                        match polled {
                            Poll::Pending => Poll::Pending,
                            Poll::Ready(Ok(value)) => Poll::Ready(Some(Ok(value))),
                            Poll::Ready(Err(e)) => Poll::Ready(Some(Err(TaskFailure::Failed(e)))),
                        }
                    }
                }
            })
            .await;
            // The body is dropped now, however it ended: a panic in a destructor this runs is
            // the body's failure too (as a finished task's is its task's), and the exits of the
            // blocks it was inside are awaited, as Python's `async with` body unwinds through
            // its `__aexit__`s (on the cancellation, or on its own exception).
            let (dropped, exits) = drop_collecting_exits(|| body.set(None));
            // In a block: a local borrowed is kept across the awaits, and would not be `Sync`.
            let exits = {
                let mut all = unwound.into_inner();
                all.extend(exits);
                all
            };
            let mut failures = Vec::new();
            let value = match ended {
                Some(Ok(value)) => Some(value),
                Some(Err(failure)) => {
                    failures.push(failure);
                    None
                }
                // A task failed: the body was cancelled.
                None => None,
            };
            failures.extend(dropped.err().map(|payload| TaskFailure::Panicked {
                message: weft_sync::into_panic_message(payload),
            }));
            // The exits before the body's failure cancels the tasks: Python's group cancels
            // them in its `__aexit__`, which the body's exception reaches only once the inner
            // `__aexit__`s have run, with the tasks still running (an exit may wait for one).
            await_or_hand_over(exits).await;
            if !failures.is_empty() {
                tg.cancel();
            }
            (value, failures)
        };
        // The body's failure comes after the tasks', as Python's `__aexit__` appends the
        // body's exception once the tasks have ended.
        let mut errors = match tg.wait().await {
            Ok(()) => Vec::new(),
            Err(error) => error.errors,
        };
        match value {
            Some(value) if errors.is_empty() && failures.is_empty() => Ok(value),
            _ => {
                errors.extend(failures);
                // Not empty: a task failed (cancelling the body), or the body did.
                Err(TaskGroupError { errors })
            }
        }
    }

    /// Waits until every task of the group has finished — including tasks started while
    /// waiting — and closes the group (the end of Python's `async with TaskGroup()` block).
    ///
    /// # Errors
    /// [`TaskGroupError`] with every failure, in the order they happened, when any task
    /// returned `Err` or panicked.
    ///
    /// ```
    /// use weft_async::{run, TaskGroup};
    ///
    /// run(async {
    ///     let tg = TaskGroup::<&str>::new();
    ///     let _ = tg.create_task(async { Err::<(), _>("first") });
    ///     let _ = tg.create_task(async { Err::<(), _>("second") });
    ///     let errors = tg.wait().await.unwrap_err();
    ///     // The first failure cancelled the second task before it ran (Python's group lets it
    ///     // run in that turn, and reports both).
    ///     assert_eq!(errors.len(), 1);
    /// })
    /// .unwrap();
    /// ```
    pub async fn wait(self) -> Result<(), TaskGroupError<E>> {
        poll_fn(|cx| self.poll_drain(cx)).await;
        let errors = std::mem::take(&mut self.inner.state.lock().errors);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(TaskGroupError { errors })
        }
    }

    fn poll_drain(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut st = self.inner.state.lock();
        if st.live == 0 {
            st.phase = Phase::Finished;
            st.aborts = Vec::new();
            // Every task's future has been dropped, but on a multi-thread runtime the runtime
            // may not have marked each task finished yet: the handles' `done()` reads this too.
            self.inner.ended.all.store(true, Ordering::Release);
            return Poll::Ready(());
        }
        wait_for_the_rest(st, cx)
    }
}

impl<E: Send + 'static> Default for TaskGroup<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> Drop for TaskGroup<E> {
    fn drop(&mut self) {
        let stopped = {
            let mut st = self.inner.state.lock();
            let was_open = st.phase == Phase::Open;
            st.phase = Phase::Finished;
            // Unless stopped before (its tasks cancelled and recorded then), or waited for.
            was_open.then(|| st.stop())
        };
        if let Some((aborts, runs)) = stopped {
            drop(runs);
            abort_all(aborts);
        }
        // What drops the group ends after its tasks (see the type's doc): the wait for them is
        // handed over as an exit is, unless they are gone (aborting may have dropped them, on a
        // runtime that shuts down) or it could not end.
        let (live, runtimes) = {
            let st = self.inner.state.lock();
            (st.live, st.runtimes)
        };
        let here = || Handle::try_current().ok().map(|h| Runtimes::One(h.id()));
        // Where it was made, and not inside a list of exits of another task's (tokio sets the
        // making task's id while it drops that task's output, where the `JoinHandle` is dropped).
        if live > 0
            && here() == Some(runtimes)
            && Origin::here() == self.origin
            && innermost_list_opened_here()
        {
            hand_over_exit((self.drained)(self.inner.clone()));
        }
    }
}

/// Waits until every task of a dropped group has ended (each cancelled task's exits awaited):
/// the wait its drop hands over.
fn drained<E: Send + 'static>(inner: Arc<Inner<E>>) -> HandedExit {
    Box::pin(poll_fn(move |cx| {
        let st = inner.state.lock();
        if st.live == 0 {
            return Poll::Ready(());
        }
        wait_for_the_rest(st, cx)
    }))
}

/// Stores `cx`'s waker as the group's waiter (woken when `live` reaches zero) and releases the
/// lock; a waker it replaces is dropped after that, since a waker's drop is user code, which
/// may use the group.
fn wait_for_the_rest<E>(
    mut st: parking_lot::MutexGuard<'_, State<E>>,
    cx: &Context<'_>,
) -> Poll<()> {
    let displaced = match &mut st.waiter {
        Some(w) if w.will_wake(cx.waker()) => None,
        slot => slot.replace(cx.waker().clone()),
    };
    drop(st);
    drop(displaced);
    Poll::Pending
}

/// Where a group is made or dropped: inside a tokio task (a `to_thread` function's blocking task
/// included), or on a thread outside any (`run`'s own future).
///
/// A group hands the wait for its cancelled tasks over only when dropped where it was made: the
/// shape of Python's `async with TaskGroup()`, whose block a task enters and leaves itself. A
/// group moved elsewhere (into one of its own tasks, a task of another group, a plain task, an
/// exit, through a channel) could be dropped inside something its own tasks wait for, and the
/// handed wait would then wait for itself: the reviews' probes hung `run` so (a group moved into
/// its own task's inner group, into its own task's exit, into a plain task its task's exit
/// awaits, a ring of groups each held by the previous one's task). Moved, it cancels its tasks
/// and leaves their exits to `run`, as before.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Origin {
    Task(tokio::task::Id),
    Thread(std::thread::ThreadId),
}

impl Origin {
    /// The task running now (tokio also sets it while it drops a task's future, and its output
    /// where its `JoinHandle` is dropped: the drop checks [`innermost_list_opened_here`] too),
    /// else this thread (a `to_thread` function runs in a blocking task, which has an id, unless
    /// its `ToThread` was first polled outside any runtime: then on a plain thread, without one).
    fn here() -> Self {
        match tokio::task::try_id() {
            Some(id) => Origin::Task(id),
            None => Origin::Thread(std::thread::current().id()),
        }
    }
}

impl<E> fmt::Debug for TaskGroup<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt("TaskGroup", f)
    }
}

impl<E: Send + 'static> TaskGroupHandle<E> {
    /// Starts `fut` as a task of the group, as [`TaskGroup::create_task`] does.
    ///
    /// # Errors
    /// As [`TaskGroup::create_task`]: the group has finished (Python's `RuntimeError: TaskGroup
    /// is finished`), is cancelling after a failure, or no runtime is available.
    ///
    /// ```
    /// use weft_async::{run, TaskGroup};
    ///
    /// run(async {
    ///     let tg = TaskGroup::<()>::new();
    ///     let h = tg.handle();
    ///     tg.wait().await.unwrap();
    ///     let refused = h.create_task(async { Ok(()) }).unwrap_err();
    ///     assert!(refused.is_finished());
    /// })
    /// .unwrap();
    /// ```
    pub fn create_task<F, T>(&self, fut: F) -> Result<GroupTask<T>, SpawnError<F>>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
    {
        spawn(&self.inner, fut)
    }

    /// Starts `fut` as a task of the group with a name, as
    /// [`TaskGroup::create_task_named`] does.
    ///
    /// # Errors
    /// As [`TaskGroup::create_task`].
    ///
    /// ```
    /// use weft_async::{run, TaskGroup};
    ///
    /// run(async {
    ///     let tg = TaskGroup::<()>::new();
    ///     let t = tg.handle().create_task_named("child", async { Ok(()) }).unwrap();
    ///     assert_eq!(t.name(), "child");
    ///     tg.wait().await.unwrap();
    /// })
    /// .unwrap();
    /// ```
    pub fn create_task_named<F, T>(
        &self,
        name: impl Into<String>,
        fut: F,
    ) -> Result<GroupTask<T>, SpawnError<F>>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
    {
        spawn(&self.inner, fut).map(|task| task.named(name.into()))
    }

    /// `true` once the group has finished (it was waited for or dropped).
    ///
    /// ```
    /// use weft_async::{run, TaskGroup};
    ///
    /// let h = run(async {
    ///     let tg = TaskGroup::<()>::new();
    ///     let h = tg.handle();
    ///     tg.wait().await.unwrap();
    ///     h
    /// })
    /// .unwrap();
    /// assert!(h.is_finished());
    /// ```
    pub fn is_finished(&self) -> bool {
        self.inner.state.lock().phase == Phase::Finished
    }
}

impl<E> Clone for TaskGroupHandle<E> {
    fn clone(&self) -> Self {
        TaskGroupHandle {
            inner: self.inner.clone(),
        }
    }
}

impl<E> fmt::Debug for TaskGroupHandle<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt("TaskGroupHandle", f)
    }
}

impl<E> Inner<E> {
    fn fmt(&self, name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.state.lock();
        f.debug_struct(name)
            .field("tasks", &st.live)
            .field("phase", &st.phase)
            .field("errors", &st.errors.len())
            .finish()
    }

    fn fail(&self, failure: TaskFailure<E>) {
        let (aborts, runs, body) = {
            let mut st = self.state.lock();
            st.errors.push(failure);
            if st.phase != Phase::Open {
                return;
            }
            st.phase = Phase::Aborting;
            let (aborts, runs) = st.stop();
            (aborts, runs, st.body.take())
        };
        drop(runs);
        // The failing task itself is finishing in this very poll, so its abort is a no-op.
        abort_all(aborts);
        if let Some(body) = body {
            // As in `task_ended`: a failing task's poll must not be replaced by a waker's panic.
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| body.wake())) {
                weft_sync::drop_panic_payload(payload);
            }
        }
    }

    /// Whether the group has stopped taking tasks (a task failed); else `cx` is woken when it
    /// does. For a [`scope`](TaskGroup::scope)'s body.
    fn poll_stopped(&self, cx: &Context<'_>) -> Poll<()> {
        let mut st = self.state.lock();
        if st.phase != Phase::Open {
            return Poll::Ready(());
        }
        let displaced = match &mut st.body {
            Some(w) if w.will_wake(cx.waker()) => None,
            slot => slot.replace(cx.waker().clone()),
        };
        drop(st);
        drop(displaced);
        Poll::Pending
    }

    /// The task running now (whose future is being dropped unfinished) was cancelled: recorded
    /// for its handle's `cancelled()` when the group's cancellation reached it (a cancel by the
    /// handle itself is recorded there).
    #[cold]
    fn record_cancelled(&self) {
        let stopped = self.state.lock().phase != Phase::Open;
        if let (true, Some(id)) = (stopped, tokio::task::try_id()) {
            self.ended.cancelled.lock().insert(id);
        }
    }

    /// A task's future was dropped: finished, cancelled, or never run.
    fn task_ended(&self) {
        let waiter = {
            let mut st = self.state.lock();
            st.live -= 1;
            if st.live == 0 {
                st.waiter.take()
            } else {
                None
            }
        };
        if let Some(w) = waiter {
            // This runs as a task's future is dropped, inside tokio's poll of that task: a
            // panicking waker must not replace the task's result with its panic.
            if let Err(payload) =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| w.wake()))
            {
                weft_sync::drop_panic_payload(payload);
            }
        }
    }
}

impl<E> State<E> {
    /// The group stops taking tasks (the caller has just left `Open`): every task still running
    /// is recorded with its run now, under the lock, before anyone can see the group refuse a
    /// task. Otherwise a run whose future sees [`SpawnError::ShuttingDown`], drops the group
    /// and ends could wind down before the cancelled tasks were recorded, and their exits would
    /// be lost. Gives the tasks to abort and what the recording let go, both to be handled once
    /// the lock is released.
    fn stop(&mut self) -> (Vec<(AbortHandle, RunRef)>, Vec<impl Sized + use<E>>) {
        let aborts = std::mem::take(&mut self.aborts);
        let runs = aborts
            .iter()
            .filter(|(h, _)| !h.is_finished())
            .filter_map(|(h, run)| run.track_holding_lock(h))
            .collect();
        (aborts, runs)
    }
}

/// Cancels the tasks, outside the group's lock (they were recorded with their runs under it):
/// once the group stops taking tasks no task is added to its list, and `spawn` cancels and
/// records a task started meanwhile itself. Aborting can drop a task's future on this thread
/// (its runtime shutting down), and that drop takes the lock.
fn abort_all(aborts: Vec<(AbortHandle, RunRef)>) {
    for (h, _) in aborts {
        h.abort();
    }
}

fn spawn<E, F, T>(inner: &Arc<Inner<E>>, fut: F) -> Result<GroupTask<T>, SpawnError<F>>
where
    E: Send + 'static,
    F: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
{
    // The runtime current now, never one stored earlier: a runtime that has ended would drop
    // the task unrun and the group would not know.
    let Ok(runtime) = Handle::try_current() else {
        return Err(SpawnError::NoRuntime(fut));
    };
    {
        let mut st = inner.state.lock();
        match st.phase {
            Phase::Open => {}
            Phase::Aborting => return Err(SpawnError::ShuttingDown(fut)),
            Phase::Finished => return Err(SpawnError::Finished(fut)),
        }
        st.live += 1;
        st.runtimes.add(runtime.id());
    }
    // Spawned outside the lock: a runtime that is shutting down drops the task at once, and
    // its drop takes the lock.
    let (handle, run) = crate::runtime::spawn_on(
        &runtime,
        GroupFuture {
            fut: Some(fut),
            group: inner.clone(),
        },
    );
    let mut st = inner.state.lock();
    if st.phase != Phase::Open {
        // The group failed or ended while this task was being started: cancel it, and record it
        // with its run (a multi-thread runtime may already be running it, inside an
        // `async_with` whose exits the run must await), under the lock as `stop` does. (A
        // spawner the run does not wait for, a `to_thread` function holding a handle, can still
        // do this after the run wound down: `run`'s documented exception.)
        let abort = handle.abort_handle();
        let recorded = run.track_holding_lock(&abort);
        drop(st);
        drop(recorded);
        abort.abort();
    } else {
        if st.aborts.len() >= 64 && st.aborts.len() >= 2 * st.live {
            st.aborts.retain(|(h, _)| !h.is_finished());
        }
        st.aborts.push((handle.abort_handle(), run));
    }
    Ok(GroupTask {
        handle,
        rare: None,
        cancel_requested: AtomicBool::new(false),
        answered: false,
        cleaning: false,
        ended: inner.ended.clone(),
    })
}

pin_project! {
    /// A task of a group: the user's future (`None` once it has finished), which reports its
    /// failure to the group, and its end (however it ends) when dropped. Kept small: tokio
    /// allocates a task in steps of 128 bytes.
    struct GroupFuture<F, E>
    where
        E: Send,
        E: 'static,
    {
        #[pin]
        fut: Option<F>,
        group: Arc<Inner<E>>,
    }

    impl<F, E> PinnedDrop for GroupFuture<F, E>
    where
        E: Send,
        E: 'static,
    {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            if this.fut.is_some() {
                this.group.record_cancelled();
                // Cancelled: drop the user's future here, so that a panic in its destructor is
                // reported as the task's failure. The exits of the context managers it was
                // inside (Drop cannot await them) are awaited before the task counts as ended,
                // so that `wait` returns after them, as Python's `async with TaskGroup()` returns
                // after its cancelled tasks' `__aexit__`s.
                let (dropped, exits) = drop_collecting_exits(|| this.fut.set(None));
                if let Err(payload) = dropped {
                    let message = weft_sync::into_panic_message(payload);
                    this.group.fail(TaskFailure::Panicked { message });
                }
                if !exits.is_empty()
                    && let Ok(runtime) = Handle::try_current() {
                        let ended = EndsTask(this.group.clone());
                        // Awaiting the task's handle waits for them too (see `crate::cleanup`).
                        let pending = tokio::task::try_id().map(CleanupPending::register);
                        crate::runtime::spawn_exit(&runtime, async move {
                            // Counted as ended also if the runtime drops this unawaited.
                            let _ended = ended;
                            let _pending = pending;
                            await_exits(exits).await;
                        });
                        return;
                    }
            }
            this.group.task_ended();
        }
    }
}

/// Counts a group's task as ended when dropped: after its handed-over exits were awaited, or
/// when they never can be.
struct EndsTask<E>(Arc<Inner<E>>);

impl<E> Drop for EndsTask<E> {
    fn drop(&mut self) {
        self.0.task_ended();
    }
}

impl<F, T, E> Future for GroupFuture<F, E>
where
    F: Future<Output = Result<T, E>>,
    E: Send + 'static,
{
    type Output = Result<T, TaskError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if crate::runtime::hold_back(cx) {
            return Poll::Pending; // its run's extra turn is over: woken when the run goes on
        }
        let mut this = self.project();
        let Some(fut) = this.fut.as_mut().as_pin_mut() else {
            // Polled after it finished: the runtime never does.
            return Poll::Pending;
        };
        let polled = match catch_unwind(AssertUnwindSafe(|| fut.poll(cx))) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(result)) => Ok(result),
            Err(payload) => Err(payload),
        };
        // Finished: the future is dropped now, also inside `catch_unwind`. A destructor that
        // panics (of a value the future kept, a hand-written future's field) fails the task as
        // a panic in `poll` would; after a panic in `poll`, that first one is reported.
        let dropped = catch_unwind(AssertUnwindSafe(|| this.fut.set(None)));
        let polled = match (polled, dropped) {
            (Ok(_), Err(payload)) => Err(payload),
            (polled, Ok(())) => polled,
            (polled, Err(second)) => {
                weft_sync::drop_panic_payload(second);
                polled
            }
        };
        Poll::Ready(match polled {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                this.group.fail(TaskFailure::Failed(e));
                Err(TaskError::Failed)
            }
            Err(payload) => {
                let message = weft_sync::into_panic_message(payload);
                this.group.fail(TaskFailure::Panicked {
                    message: message.clone(),
                });
                Err(TaskError::Panicked { message })
            }
        })
    }
}

/// The handle of a task started in a [`TaskGroup`]: await it for the task's value (Python's
/// `task.result()` after the `async with` block), or [`cancel`](GroupTask::cancel) it alone.
///
/// Awaiting gives [`TaskError::Failed`] when the task returned `Err` (the group holds the error),
/// [`TaskError::Panicked`], or [`TaskError::Cancelled`], once (awaited again, it never
/// completes). Dropping it leaves the task running. [`wait`](crate::wait) takes group tasks as
/// it takes [`Task`](crate::Task)s, and one it returns done keeps its result for its await.
///
/// ```
/// use weft_async::{run, TaskGroup, TaskError};
///
/// run(async {
///     let tg = TaskGroup::<&str>::new();
///     let t = tg.create_task(async { Err::<u8, _>("bad") }).unwrap();
///     let errors = tg.wait().await.unwrap_err();
///     assert_eq!(t.await, Err(TaskError::Failed));
///     assert_eq!(errors.into_errors()[0].as_error(), Some(&"bad"));
/// })
/// .unwrap();
/// ```
pub struct GroupTask<T> {
    handle: JoinHandle<Result<T, TaskError>>,
    /// What few tasks have (a name, a result kept by [`wait`](crate::wait)), boxed as
    /// [`Task`](crate::Task)'s, so that a handle stays four words.
    rare: Option<Box<Rare<T>>>,
    /// Its own [`cancel`](GroupTask::cancel) reached it unfinished.
    cancel_requested: AtomicBool,
    /// Whether awaiting it has given the result: then it is terminated (`FusedFuture`).
    answered: bool,
    /// Awaiting it has seen it cancelled and waits for its cleanup (see `crate::cleanup`).
    cleaning: bool,
    /// The group's: its end, and the tasks its cancellation reached.
    ended: Arc<Ended>,
}

/// What few [`GroupTask`]s have, in one box.
struct Rare<T> {
    /// The name given to [`create_task_named`](TaskGroup::create_task_named).
    name: Option<String>,
    /// The answer the next await gives, taken by [`wait`](crate::wait) (which returns the task
    /// as done) from a whole await of the task: a cancelled task's error once its exits ran.
    kept: Option<Result<T, TaskError>>,
}

impl<T> GroupTask<T> {
    /// Cancels this task only (Python's `task.cancel()`); the group does not count a
    /// cancellation as a failure. Returns `false` when the task had already finished. Awaiting
    /// the cancelled task returns once the exits of the [`async_with`](crate::async_with) blocks
    /// it was in have run, as for [`Task::cancel`](crate::Task::cancel).
    ///
    /// ```
    /// use weft_async::{run, TaskGroup};
    ///
    /// run(async {
    ///     let tg = TaskGroup::<()>::new();
    ///     let t = tg.create_task(std::future::pending::<Result<(), ()>>()).unwrap();
    ///     assert!(t.cancel());
    ///     tg.wait().await.unwrap();
    /// })
    /// .unwrap();
    /// ```
    pub fn cancel(&self) -> bool {
        if self.done() {
            return false;
        }
        self.cancel_requested.store(true, Ordering::Relaxed);
        self.handle.abort();
        true
    }

    /// `true` once the task has finished after a cancel reached it unfinished: a successful
    /// [`cancel`](GroupTask::cancel), or the group's own cancellation of its tasks (a sibling's
    /// failure, [`TaskGroup::cancel`], the group dropped), as Python's `task.cancelled()` is for
    /// a child its group cancelled.
    ///
    /// As for [`Task::cancelled`](crate::Task::cancelled), it tells that a cancel reached an
    /// unfinished task, not how the task ended: a task whose own `cancel` came as it completed
    /// on another thread (on a multi-thread runtime) keeps its output, and awaiting it gives the
    /// output although `cancelled()` said `true`; a task whose destructor panics as the
    /// cancellation drops it gives [`TaskError::Panicked`] (and fails the group), where Python's
    /// `cancelled()` would be `False` for an exception raised while handling the cancellation.
    ///
    /// ```
    /// use weft_async::{run, TaskGroup};
    ///
    /// run(async {
    ///     let tg = TaskGroup::<&str>::new();
    ///     let slow = tg.create_task(std::future::pending::<Result<(), &str>>()).unwrap();
    ///     let bad = tg.create_task(async { Err::<(), _>("bad") }).unwrap();
    ///     assert!(tg.wait().await.is_err());
    ///     assert!(slow.cancelled()); // the failure cancelled it
    ///     assert!(!bad.cancelled());
    /// })
    /// .unwrap();
    /// ```
    pub fn cancelled(&self) -> bool {
        self.done()
            && (self.cancel_requested.load(Ordering::Relaxed)
                || self.ended.cancelled.lock().contains(&self.handle.id()))
    }

    /// The task's name: the one given to
    /// [`create_task_named`](TaskGroup::create_task_named), or `Task-<id>` (Python's
    /// `task.get_name()`, whose default is `Task-<n>`).
    ///
    /// ```
    /// use weft_async::{run, TaskGroup};
    ///
    /// run(async {
    ///     let tg = TaskGroup::<()>::new();
    ///     let t = tg.create_task(async { Ok(()) }).unwrap();
    ///     assert!(t.name().starts_with("Task-"));
    ///     tg.wait().await.unwrap();
    /// })
    /// .unwrap();
    /// ```
    pub fn name(&self) -> Cow<'_, str> {
        match self.rare.as_ref().and_then(|rare| rare.name.as_deref()) {
            Some(name) => Cow::Borrowed(name),
            None => Cow::Owned(format!("Task-{}", self.handle.id())),
        }
    }

    /// This handle with `name` (see [`TaskGroup::create_task_named`]).
    fn named(mut self, name: String) -> Self {
        self.rare = Some(Box::new(Rare {
            name: Some(name),
            kept: None,
        }));
        self
    }

    /// Ready once the task has finished, a cancelled one once its exits have run, keeping its
    /// answer for the next await (or once its answer has been given away). For
    /// [`wait`](crate::wait), which returns the task.
    pub(crate) fn poll_finish(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.answered || self.rare.as_ref().is_some_and(|rare| rare.kept.is_some()) {
            return Poll::Ready(());
        }
        let out = ready!(Pin::new(&mut *self).poll(cx));
        self.answered = false;
        let rare = self.rare.get_or_insert_with(|| {
            Box::new(Rare {
                name: None,
                kept: None,
            })
        });
        rare.kept = Some(out);
        Poll::Ready(())
    }

    /// Whether the answer [`poll_finish`](GroupTask::poll_finish) kept is a failure: a panic
    /// or an `Err` the task returned (a failure of the group too), not a cancellation.
    pub(crate) fn failed(&self) -> bool {
        self.rare
            .as_ref()
            .is_some_and(|rare| matches!(&rare.kept, Some(Err(e)) if !e.is_cancelled()))
    }

    /// The answer kept by [`poll_finish`](GroupTask::poll_finish), given to this await.
    #[cold]
    #[inline(never)]
    fn give_kept(&mut self) -> Poll<Result<T, TaskError>> {
        match self.rare.as_mut().and_then(|rare| rare.kept.take()) {
            Some(out) => {
                self.answered = true;
                Poll::Ready(out)
            }
            None => Poll::Pending, // not reached: called while an answer is kept
        }
    }

    /// `true` once the task has finished, whatever the outcome (Python's `task.done()`); for
    /// every task of the group once its [`wait`](TaskGroup::wait) has returned, as after
    /// Python's `async with TaskGroup()` (on a multi-thread runtime the runtime may mark a task
    /// finished a moment after its end let `wait` return).
    ///
    /// ```
    /// use weft_async::{run, TaskGroup};
    ///
    /// run(async {
    ///     let tg = TaskGroup::<()>::new();
    ///     let t = tg.create_task(async { Ok(()) }).unwrap();
    ///     tg.wait().await.unwrap();
    ///     assert!(t.done());
    /// })
    /// .unwrap();
    /// ```
    pub fn done(&self) -> bool {
        (self.handle.is_finished() && !cleanup::is_pending(self.handle.id()))
            || self.ended.all.load(Ordering::Acquire)
    }

    /// The runtime's unique id of the task.
    ///
    /// ```
    /// use weft_async::{run, TaskGroup};
    ///
    /// run(async {
    ///     let tg = TaskGroup::<()>::new();
    ///     let a = tg.create_task(async { Ok(()) }).unwrap();
    ///     let b = tg.create_task(async { Ok(()) }).unwrap();
    ///     assert_ne!(a.id(), b.id());
    ///     tg.wait().await.unwrap();
    /// })
    /// .unwrap();
    /// ```
    pub fn id(&self) -> tokio::task::Id {
        self.handle.id()
    }
}

/// Awaiting a group's task gives its result once; polled again, it stays pending
/// ([`FusedFuture`]), as a [`Task`](crate::Task) does.
impl<T> Future for GroupTask<T> {
    type Output = Result<T, TaskError>;

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.answered {
            return Poll::Pending;
        }
        if self.rare.as_ref().is_some_and(|rare| rare.kept.is_some()) {
            return self.give_kept();
        }
        if self.cleaning {
            return self.poll_cleanup(cx);
        }
        let out = match ready!(Pin::new(&mut self.handle).poll(cx)) {
            Ok(outcome) => outcome,
            Err(e) => Err(TaskError::from_join(e)),
        };
        if matches!(out, Err(TaskError::Cancelled)) {
            return self.poll_cleanup(cx);
        }
        self.answered = true;
        Poll::Ready(out)
    }
}

impl<T> GroupTask<T> {
    /// The end of a cancelled task's await (see `crate::cleanup`).
    fn poll_cleanup(&mut self, cx: &mut Context<'_>) -> Poll<Result<T, TaskError>> {
        let id = self.handle.id();
        cleanup::poll_cancelled(id, &mut self.cleaning, &mut self.answered, cx)
    }
}

impl<T> FusedFuture for GroupTask<T> {
    fn is_terminated(&self) -> bool {
        self.answered
    }
}

impl<T> fmt::Debug for GroupTask<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupTask")
            .field("name", &self.name())
            .field("id", &self.handle.id())
            .field("done", &self.done())
            .finish()
    }
}

/// How one task of a [`TaskGroup`] failed. An [`Error`](std::error::Error) when `E` displays,
/// as the group's error is: each of [`TaskGroupError::into_errors`] can be returned or boxed on
/// its own (Python's `ExceptionGroup.exceptions` are exceptions too).
///
/// ```
/// use weft_async::TaskFailure;
///
/// let f: TaskFailure<&str> = TaskFailure::Failed("bad");
/// assert_eq!(f.as_error(), Some(&"bad"));
/// assert_eq!(f.to_string(), "bad");
/// let boxed: Box<dyn std::error::Error + Send + Sync> =
///     Box::new(TaskFailure::<&str>::Panicked { message: "boom".into() });
/// assert_eq!(boxed.to_string(), "task panicked: boom");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub enum TaskFailure<E> {
    /// The task returned `Err` (Python: the exception it raised).
    Failed(E),
    /// The task panicked.
    Panicked {
        /// The panic's message.
        message: String,
    },
}

impl<E> TaskFailure<E> {
    /// The task's own error, unless it panicked.
    pub fn as_error(&self) -> Option<&E> {
        match self {
            TaskFailure::Failed(e) => Some(e),
            TaskFailure::Panicked { .. } => None,
        }
    }

    /// The task's own error, unless it panicked.
    pub fn into_error(self) -> Option<E> {
        match self {
            TaskFailure::Failed(e) => Some(e),
            TaskFailure::Panicked { .. } => None,
        }
    }
}

impl<E: fmt::Debug> fmt::Debug for TaskFailure<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskFailure::Failed(e) => f.debug_tuple("Failed").field(e).finish(),
            TaskFailure::Panicked { message } => f
                .debug_struct("Panicked")
                .field("message", message)
                .finish(),
        }
    }
}

impl<E: fmt::Display> fmt::Display for TaskFailure<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskFailure::Failed(e) => e.fmt(f),
            TaskFailure::Panicked { message } => write!(f, "task panicked: {message}"),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for TaskFailure<E> {}

/// An error returned from [`TaskGroup::wait`]: the tasks that failed, in the order they failed
/// (Python's `ExceptionGroup` / `BaseExceptionGroup` from a TaskGroup).
///
/// ```
/// use weft_async::{run, TaskGroup};
///
/// run(async {
///     let tg = TaskGroup::<String>::new();
///     let _ = tg.create_task(async { Err::<(), _>("disk full".to_string()) });
///     let err = tg.wait().await.unwrap_err();
///     assert_eq!(err.to_string(), "1 task of the group failed; the first: disk full");
/// })
/// .unwrap();
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct TaskGroupError<E> {
    errors: Vec<TaskFailure<E>>,
}

impl<E> TaskGroupError<E> {
    /// The failures, in the order they happened (never empty).
    pub fn errors(&self) -> &[TaskFailure<E>] {
        &self.errors
    }

    /// The failures, by value.
    pub fn into_errors(self) -> Vec<TaskFailure<E>> {
        self.errors
    }

    /// How many tasks failed.
    pub fn len(&self) -> usize {
        self.errors.len()
    }

    /// Always `false`: a group error holds at least one failure.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }
}

impl<E: fmt::Debug> fmt::Debug for TaskGroupError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskGroupError")
            .field("errors", &self.errors)
            .finish()
    }
}

impl<E: fmt::Display> fmt::Display for TaskGroupError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.errors.len();
        let tasks = if n == 1 { "task" } else { "tasks" };
        write!(f, "{n} {tasks} of the group failed")?;
        if let Some(first) = self.errors.first() {
            write!(f, "; the first: {first}")?;
        }
        Ok(())
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for TaskGroupError<E> {}

/// An error returned from [`TaskGroup::create_task`]: the task was not started, and its future
/// comes back inside ([`into_inner`](SpawnError::into_inner)).
///
/// ```
/// use weft_async::{SpawnError, TaskGroup};
///
/// // No runtime here.
/// let tg = TaskGroup::<()>::new();
/// let err = tg.create_task(async { Ok(()) }).unwrap_err();
/// assert!(matches!(err, SpawnError::NoRuntime(_)));
/// ```
pub enum SpawnError<F> {
    /// The group has finished: [`wait`](TaskGroup::wait) returned or it was dropped (Python's
    /// `RuntimeError: TaskGroup ... is finished`).
    Finished(F),
    /// A task failed and the group is cancelling the others (Python's `RuntimeError: TaskGroup
    /// ... is shutting down`).
    ShuttingDown(F),
    /// There is no tokio runtime to run the task on.
    NoRuntime(F),
}

impl<F> SpawnError<F> {
    /// The future that was not started.
    pub fn into_inner(self) -> F {
        match self {
            SpawnError::Finished(f) | SpawnError::ShuttingDown(f) | SpawnError::NoRuntime(f) => f,
        }
    }

    /// `true` for [`SpawnError::Finished`].
    pub fn is_finished(&self) -> bool {
        matches!(self, SpawnError::Finished(_))
    }

    /// `true` for [`SpawnError::ShuttingDown`].
    pub fn is_shutting_down(&self) -> bool {
        matches!(self, SpawnError::ShuttingDown(_))
    }
}

impl<F> fmt::Debug for SpawnError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SpawnError::Finished(_) => "Finished(..)",
            SpawnError::ShuttingDown(_) => "ShuttingDown(..)",
            SpawnError::NoRuntime(_) => "NoRuntime(..)",
        })
    }
}

impl<F> fmt::Display for SpawnError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SpawnError::Finished(_) => "task group is finished",
            SpawnError::ShuttingDown(_) => "task group is shutting down after a failure",
            SpawnError::NoRuntime(_) => "no tokio runtime to start the task on",
        })
    }
}

impl<F> std::error::Error for SpawnError<F> {}
