//! `run`, `run_multi_thread` and `Runner`: Python's `asyncio.run` and `asyncio.Runner`.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::mem;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::task::{Context, Poll, Waker};
use std::thread::LocalKey;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::runtime::Handle;
use tokio::task::{AbortHandle, JoinHandle};

use crate::event_loop::Loop;

/// Runs `fut` to completion on a new single-threaded runtime and returns its output (Python's
/// `asyncio.run(main())`).
///
/// Like asyncio's event loop, the runtime runs every task on the calling thread, so tasks never
/// run at the same time and need no lock between them. For the same reason a blocking call in
/// any task stops every task of the run until it returns, as a `threading` call does inside a
/// coroutine: weft-sync's `Lock::acquire` or `Event::wait`, a weft-channel queue's `get`, `put`
/// or `join` (not their `_async` forms), a pool future's `result()`, `std::thread::sleep`. One
/// that waits for another task of the same run never returns (nothing else runs to set the
/// `Event`). Await instead: this crate's [`Event`](crate::Event), [`Lock`](crate::Lock) and
/// the other primitives, the queues' `*_async` methods, the pool's future itself; or hand the
/// blocking call to [`to_thread`](crate::to_thread). Under [`run_multi_thread`] such a call
/// holds one worker thread of the runtime.
///
/// When `fut` completes (or panics), the tasks ready then get one more turn, as asyncio's loop
/// finishes the iteration in which the main coroutine ended: a task that `fut` started in its
/// last step runs up to its first `await`, one that it woke (an [`Event`](crate::Event) set)
/// runs its next step. What that turn makes ready (a task started or woken there, the next step
/// of a task that wakes itself) waits, as Python's next iteration never comes, so the turn is
/// one pass. This holds for the tasks of [`create_task`](crate::create_task) and
/// [`TaskGroup`](crate::TaskGroup) woken on the run's own thread; a task woken from another
/// thread or by a timer due meanwhile may miss the turn, and one started with `tokio::spawn`
/// directly is not held back after it (see [`run_multi_thread`] for that flavour).
///
/// Then the tasks still running are cancelled: each one is dropped (its destructors run, as a
/// Python task's `finally` blocks do on `CancelledError`) before `run` returns, so none
/// outlives it; work handed to [`to_thread`](crate::to_thread) is waited for, as `asyncio.run`
/// waits for its default executor.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use weft_async::{create_task, run, sleep};
///
/// struct Finally(Arc<Mutex<Vec<&'static str>>>);
/// impl Drop for Finally {
///     fn drop(&mut self) {
///         self.0.lock().unwrap().push("finally");
///     }
/// }
///
/// let log = Arc::new(Mutex::new(Vec::new()));
/// let l = log.clone();
/// run(async move {
///     // Started in the last step: it runs to its first `await`, then is cancelled.
///     create_task(async move {
///         let _finally = Finally(l.clone());
///         l.lock().unwrap().push("started");
///         sleep(std::time::Duration::from_secs(3600)).await;
///     })
///     .detach();
/// })
/// .unwrap();
/// assert_eq!(*log.lock().unwrap(), ["started", "finally"]); // as in Python
/// ```
///
/// The async part of that cleanup runs too, as `asyncio.run` runs the loop until the tasks it
/// cancelled have handled it: a task left inside [`async_with`](crate::async_with) or holding
/// an unclosed [`AsyncExitStack`](crate::AsyncExitStack) has its exits awaited, with
/// [`Outcome::Cancelled`](crate::Outcome::Cancelled), on the still running runtime before `run`
/// returns, for as long as they take. This covers the tasks started with
/// [`create_task`](crate::create_task) whose [`Task`](crate::Task) was dropped (by `fut`
/// finishing, say) or detached, and the tasks a [`TaskGroup`](crate::TaskGroup) cancelled. A
/// task whose `Task` is still held somewhere at the end (a `static`, `run`'s output), one
/// started with `tokio::spawn` directly, and one that another thread lets go after the wind
/// down are only dropped as the runtime shuts down, and exits they hand over then do not run.
/// A task belongs to the run it started in, wherever its `Task` is dropped. The wind-down goes
/// round again for what cancelling let go (exits, tasks their destructors start), at most 64
/// times: destructors that keep starting tasks cannot hold `run` for ever. A task started from
/// a destructor while the runtime shuts down is dropped there at once; past 16 such levels its
/// drop is put off until the outermost of those starts returns, which drops the put-off tasks
/// one after another, so that a chain of destructors each starting a task runs every destructor
/// (a task group's task so counts as ended) without overflowing the stack. A chain that goes on
/// past 1024 put-off drops (about sixteen thousand levels: destructors that always start
/// another task) is cut there: every task put off from then on, until the put-off ones are all
/// dropped, is leaked, with a message on stderr.
///
/// A panic in `fut` itself propagates out of `run` after the extra turn and the cleanup, with
/// its payload, as an exception propagates out of `asyncio.run`; its message is printed by the
/// panic hook when it happens, so before what the turn and the cleanup print (Python prints the
/// traceback as the exception leaves `asyncio.run`). A panic in a task is reported to whoever
/// awaits that task.
///
/// To run several futures one after another on one loop, whose tasks go on from one to the
/// next, use a [`Runner`] (Python's `asyncio.Runner`, of which `asyncio.run` is one `run` and
/// the `close`).
///
/// # From another thread
/// asyncio's `run_coroutine_threadsafe(coro, loop)` hands a coroutine to a running loop from
/// another thread, which waits on the returned future: take the [`Loop`](crate::Loop) inside
/// `run` ([`Loop::current`](crate::Loop::current), Python's `get_running_loop()`) and call its
/// `run_coroutine_threadsafe` in the thread (feature `executor`). Such a task is one of the
/// run's: cancelled at its end if still running, as `asyncio.run` cancels it.
///
/// ```
/// # #[cfg(feature = "executor")]
/// # fn main() {
/// use std::time::Duration;
/// use weft_async::{run, to_thread, Loop};
///
/// run(async {
///     let lp = Loop::current().unwrap(); // asyncio's `loop`
///     let answer = to_thread(move || {
///         // In the thread: run a future on the loop and wait for its result.
///         let f = lp.run_coroutine_threadsafe(async { 6 * 7 }).unwrap();
///         f.result_timeout(Duration::from_secs(30)).ok()
///     })
///     .await
///     .expect("the thread did not panic");
///     assert_eq!(answer, Some(42));
/// })
/// .unwrap();
/// # }
/// # #[cfg(not(feature = "executor"))]
/// # fn main() {}
/// ```
///
/// # Errors
/// [`RunError::Nested`] (with `fut` back) when called where a tokio runtime is already current:
/// inside another `run`, a task, or a runtime's blocking thread (Python's `RuntimeError:
/// asyncio.run() cannot be called from a running event loop`); [`RunError::Build`] when the
/// runtime cannot be created. A function run by [`to_thread`](crate::to_thread) is the
/// exception: as `asyncio.run` in a worker thread, `run` there starts a runtime of its own —
/// unless that function has itself entered a runtime (`Handle::block_on`), where `run` is
/// `Nested` again (tokio then prints the panic message with which it refuses).
///
/// ```
/// use weft_async::{create_task, run};
///
/// async fn double(x: u32) -> u32 {
///     x * 2
/// }
///
/// let total = run(async {
///     let a = create_task(double(1));
///     let b = create_task(double(2));
///     a.await.unwrap() + b.await.unwrap()
/// })
/// .unwrap();
/// assert_eq!(total, 6);
/// ```
pub fn run<F: Future>(fut: F) -> Result<F::Output, RunError<F>> {
    run_once(Flavor::CurrentThread, fut)
}

/// Runs `fut` to completion on a new work-stealing runtime with one worker thread per core, and
/// cleans up as [`run`] does.
///
/// Tasks then run in parallel on several threads: what they share needs `Send + Sync` types and
/// locks, unlike under [`run`]. Use it for CPU-heavy async work; Python has no equivalent (its
/// event loop is always one thread).
///
/// The turn that [`run`] gives the tasks ready when `fut` completes is best effort here: the
/// run waits until a worker has run one more task, started then, behind those ready (most of
/// them have had their turn by then, with no guarantee), and nothing is held back: the workers
/// go on running every task until the wind-down cancels it.
///
/// # Errors
/// As [`run`].
///
/// ```
/// use weft_async::{create_task, gather, run_multi_thread};
///
/// let squares = run_multi_thread(async {
///     gather((1..=4u64).map(|n| create_task(async move { n * n }))).await
/// })
/// .unwrap()
/// .unwrap();
/// assert_eq!(squares, [1, 4, 9, 16]);
/// ```
pub fn run_multi_thread<F: Future>(fut: F) -> Result<F::Output, RunError<F>> {
    run_once(Flavor::MultiThread, fut)
}

thread_local! {
    /// Set while this thread runs a [`to_thread`](crate::to_thread) function (outside any `run`
    /// of its own): the outer runtime's handle is current, but no runtime runs here, so a
    /// runtime of its own may.
    static IN_TO_THREAD: Cell<bool> = const { Cell::new(false) };
}

// ---------------------------------------------------------------------------------------------
// What a run winds down when its future completes

/// The tasks of one [`run`] that nobody waits for any more, and the exits that context managers
/// dropped mid-body handed to it: when the run's future completes, those tasks still running
/// are cancelled and waited for, and then the exits (which their cancellation may add to) are
/// awaited, as `asyncio.run` cancels the tasks left and runs the loop until they have handled
/// it.
///
/// A task is recorded when it is let go unfinished, not when it starts: when its
/// [`Task`](crate::Task) handle is dropped (which cancels it, unless detached or shielded) and
/// when a [`TaskGroup`](crate::TaskGroup) cancels it. A task still awaited costs nothing here.
/// Only this run's own tasks are recorded, wherever they are let go (a task of another runtime,
/// say one a `to_thread` function runs, or of another run, is that runtime's business; see
/// [`RunRef`]); an exit is recorded by the run whose runtime it is spawned on. Nothing is
/// recorded once the run has wound down: what its runtime drops as it shuts down is dropped,
/// as before.
#[derive(Default)]
struct Registry {
    /// The run's runtime.
    runtime: OnceLock<tokio::runtime::Id>,
    /// Set for a [`Runner`]: every task is recorded as it starts, not only when let go, so that
    /// [`close`](Runner::close) cancels also those whose handle is still held (Python's
    /// `Runner.close()` cancels every task of its loop).
    track_all: bool,
    /// Set once wound down: record nothing more.
    closed: AtomicBool,
    /// Set when the wind-down starts (the run's future has completed, and the last turn is
    /// over; see [`with_extra_turn`]): the loop takes no more work from other threads
    /// ([`Loop`](crate::Loop)).
    ending: AtomicBool,
    /// The functions handed over by [`Loop::call_soon_threadsafe`](crate::Loop) and not yet
    /// run or dropped ([`CallGuard`]s): the wind-down lets them run before anything else, as
    /// `asyncio.run` runs the callbacks queued before it closes its loop.
    calls: AtomicUsize,
    /// Notified when [`calls`](Registry::calls) drops to zero.
    calls_ended: tokio::sync::Notify,
    /// The abort handles of the tasks the run let go.
    tasks: Mutex<Handles<AbortHandle>>,
    /// The join handles of the exits handed to it.
    exits: Mutex<Handles<JoinHandle<()>>>,
    /// The wakers of the tasks that the last extra turn held back (see [`with_extra_turn`]):
    /// the next [`Runner::run`] wakes them before it first polls its future (they were ready
    /// before it, as in Python's loop); the wind-down after it has cancelled the tasks it
    /// cancels.
    held: Mutex<Vec<Waker>>,
}

/// Handles on some of a run's tasks. Finished ones are dropped from the list once it has
/// doubled since the last time (a handle keeps its task's memory), so it holds at most about
/// twice those still running, as a `TaskGroup`'s list does.
struct Handles<H> {
    handles: Vec<H>,
    sweep_at: usize,
}

impl<H> Default for Handles<H> {
    fn default() -> Self {
        Handles {
            handles: Vec::new(),
            sweep_at: 0,
        }
    }
}

/// What tells a handle's task finished.
trait Finished {
    fn finished(&self) -> bool;
}

impl Finished for AbortHandle {
    fn finished(&self) -> bool {
        self.is_finished()
    }
}

impl<T> Finished for JoinHandle<T> {
    fn finished(&self) -> bool {
        self.is_finished()
    }
}

impl<H: Finished> Handles<H> {
    /// Adds `handle`, and gives back the finished ones, swept from the list once it has
    /// doubled, for the caller to drop outside any lock.
    fn push(&mut self, handle: H) -> Vec<H> {
        let mut finished = Vec::new();
        if self.handles.len() >= self.sweep_at {
            let all = mem::take(&mut self.handles);
            (finished, self.handles) = all.into_iter().partition(Finished::finished);
            self.sweep_at = (2 * self.handles.len()).max(64);
        }
        self.handles.push(handle);
        finished
    }

    fn take(&mut self) -> Vec<H> {
        mem::take(&mut self.handles)
    }
}

thread_local! {
    /// The registry of the run this thread works for (its caller, and the threads of its
    /// runtime); `None` outside weft's runs.
    static REGISTRY: RefCell<Option<Arc<Registry>>> = const { RefCell::new(None) };
}

/// Makes `registry` this thread's until dropped, then restores the previous one (also when
/// unwinding).
struct CurrentRegistry(Option<Arc<Registry>>);

impl CurrentRegistry {
    fn set(registry: Option<Arc<Registry>>) -> Self {
        CurrentRegistry(REGISTRY.with(|r| r.replace(registry)))
    }
}

impl Drop for CurrentRegistry {
    fn drop(&mut self) {
        let previous = self.0.take();
        let _ = REGISTRY.try_with(|r| *r.borrow_mut() = previous);
    }
}

/// Calls `f` with the registry of the run this thread works for, if any, when `runtime` (the
/// runtime of what is to be recorded or started) is that run's; `f` sees whether the run has
/// wound down.
fn with_registry(runtime: &Handle, f: impl FnOnce(&Arc<Registry>)) {
    let _ = REGISTRY.try_with(|r| {
        if let Ok(current) = r.try_borrow()
            && let Some(registry) = current.as_ref()
            && registry.runtime.get() == Some(&runtime.id())
        {
            f(registry);
        }
    });
}

/// The [`run`] a task belongs to, if any: the run this thread worked for when the task started
/// on that run's runtime (not, say, under another runtime's `enter` guard). Let go unfinished,
/// the task is that run's to wind down, wherever it is let go (see [`Registry`]).
#[derive(Clone, Default)]
pub(crate) struct RunRef(Option<Weak<Registry>>);

impl RunRef {
    /// The run of what starts now on `runtime` (the current one), and whether that run has
    /// wound down (its runtime is shutting down).
    fn on_with_closed(runtime: &Handle) -> (Self, bool) {
        let (run, closed, _) = Self::on_with_state(runtime);
        (run, closed)
    }

    /// [`on_with_closed`](RunRef::on_with_closed), and whether the run records every task as
    /// it starts (a [`Runner`]'s).
    #[inline]
    fn on_with_state(runtime: &Handle) -> (Self, bool, bool) {
        let (mut run, mut closed, mut all) = (None, false, false);
        with_registry(runtime, |registry| {
            closed = registry.closed.load(Ordering::Acquire);
            all = registry.track_all;
            run = Some(Arc::downgrade(registry));
        });
        (RunRef(run), closed, all)
    }

    /// The run whose registry is `registry`.
    fn of(registry: &Arc<Registry>) -> Self {
        RunRef(Some(Arc::downgrade(registry)))
    }

    /// [`track`](RunRef::track) for a caller that holds a lock of its own: it drops nothing
    /// while it runs (`task` is cloned, not taken), and hands back what to let go once that
    /// lock is released: the run (whose last reference would drop it), and the finished tasks
    /// swept from its list (whose last handle frees their memory).
    pub(crate) fn track_holding_lock(&self, task: &AbortHandle) -> Option<impl Sized + use<>> {
        let registry = self.0.as_ref().and_then(Weak::upgrade)?;
        // A `Runner`'s recorded every task as it started.
        let swept = if registry.closed.load(Ordering::Acquire) || registry.track_all {
            Vec::new()
        } else {
            registry.tasks.lock().push(task.clone())
        };
        Some((registry, swept))
    }

    /// The run this thread works for, if `runtime` (the current one) is that run's.
    pub(crate) fn current(runtime: &Handle) -> Self {
        Self::on_with_closed(runtime).0
    }

    /// Whether the run is winding down (its future has completed, the last turn is over), or
    /// has returned; `false` for a task of no run (a runtime weft did not start, of which
    /// nothing is known).
    /// (`Loop::run_coroutine_threadsafe`'s; `call_soon_threadsafe` reads it in
    /// [`begin_call`](RunRef::begin_call).)
    #[cfg(feature = "executor")]
    pub(crate) fn is_ending(&self) -> bool {
        self.0.as_ref().is_some_and(|run| {
            run.upgrade()
                .is_none_or(|registry| registry.ending.load(Ordering::Acquire))
        })
    }

    /// Counts a function handed to the run from another thread
    /// ([`Loop::call_soon_threadsafe`](crate::Loop)) until the guard is dropped (with the task
    /// that runs it): the run's wind-down waits for it. `Err` once the run's future has
    /// completed ([`is_ending`](RunRef::is_ending)); `Ok(None)` for a runtime weft did not
    /// start. The count is raised before `ending` is read, and `ending` set before the count
    /// is read (both `SeqCst`): a call either sees the run ending or is waited for.
    pub(crate) fn begin_call(&self) -> Result<Option<CallGuard>, ()> {
        let Some(run) = &self.0 else {
            return Ok(None);
        };
        let registry = run.upgrade().ok_or(())?;
        if registry.ending.load(Ordering::SeqCst) {
            // Refused without raising the count, which the wind-down waits to see at zero:
            // threads calling on after a refusal would otherwise keep delaying it.
            return Err(());
        }
        registry.calls.fetch_add(1, Ordering::SeqCst);
        let guard = CallGuard(Arc::downgrade(&registry));
        if registry.ending.load(Ordering::SeqCst) {
            return Err(());
        }
        Ok(Some(guard))
    }

    /// Records a task with its run, unless the run has wound down: as it starts in a
    /// [`Runner`] (whose [`close`](Runner::close) cancels it if it is still running), and a
    /// task that nobody holds (`Loop::run_coroutine_threadsafe`'s).
    #[cold]
    #[inline(never)]
    pub(crate) fn record(&self, task: AbortHandle) {
        if let Some(registry) = self.0.as_ref().and_then(Weak::upgrade)
            && !registry.closed.load(Ordering::Acquire)
        {
            registry.track(task);
        }
    }

    /// Records a task let go unfinished: its run cancels it at its end if it is still running,
    /// and waits for it. Does nothing for a task of no run, or once its run has wound down.
    pub(crate) fn track(&self, task: AbortHandle) {
        if let Some(registry) = self.0.as_ref().and_then(Weak::upgrade) {
            // A `Runner`'s recorded every task as it started.
            if !registry.closed.load(Ordering::Acquire) && !registry.track_all {
                registry.track(task);
            }
        }
    }
}

thread_local! {
    /// How many spawns deep this thread is inside the destructors of tasks started on a run's
    /// runtime after the run wound down (see [`spawn`]).
    static LATE_DEPTH: Cell<u32> = const { Cell::new(0) };
    /// The futures of late spawns past [`LATE_DEPTH_MAX`], for the outermost late spawn to drop.
    static PUT_OFF: RefCell<PutOff> = const {
        RefCell::new(PutOff {
            futures: VecDeque::new(),
            dropped: 0,
        })
    };
}

/// How deep [`spawn`] lets late spawns nest before it puts the future's drop off.
const LATE_DEPTH_MAX: u32 = 16;

/// How many put-off futures the outermost late spawn drops before [`spawn`] leaks the next
/// instead: each may start up to [`LATE_DEPTH_MAX`] levels, so a chain is cut after about
/// sixteen thousand (one whose every destructor starts another task would never end).
const LATE_PUT_OFF_MAX: usize = 1024;

/// Late spawns' futures whose drop is put off (see [`spawn`]).
struct PutOff {
    futures: VecDeque<Box<dyn Any>>,
    /// How many the outermost late spawn has dropped; zero again once it has dropped them all.
    dropped: usize,
}

/// Spawns `fut` on the current runtime (tokio's `spawn`; it panics outside one), and gives the
/// run it belongs to.
///
/// Once the run this thread works for has wound down, its runtime is shutting down and tokio
/// drops a new task's future at once, inside the spawn: a destructor that starts a task from
/// there recurses, and one that always does (each task's destructor starts the next) would
/// overflow the stack. Past [`LATE_DEPTH_MAX`] such nested spawns the future is put off
/// instead: the outermost late spawn (depth 0) drops the put-off futures one after another
/// once its own spawn has returned, so the stack stays [`LATE_DEPTH_MAX`] spawns deep and every
/// destructor runs, as it would have in the recursion (a group's task counts as ended, what the
/// future owned is released). Past [`LATE_PUT_OFF_MAX`] put-off drops, every future put off until
/// the list is empty again is leaked with
/// a message on stderr (Python's "Task was destroyed but it is pending!"), which ends a chain
/// that would not; either way the handle reports the task cancelled.
pub(crate) fn spawn<F>(fut: F) -> (JoinHandle<F::Output>, RunRef)
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    match Handle::try_current() {
        Ok(runtime) => spawn_on(&runtime, fut),
        // tokio's panic, with its message.
        Err(_) => (tokio::spawn(fut), RunRef::default()),
    }
}

/// [`spawn`] on `runtime`, the current one.
pub(crate) fn spawn_on<F>(runtime: &Handle, fut: F) -> (JoinHandle<F::Output>, RunRef)
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let (run, closed, all) = RunRef::on_with_state(runtime);
    if !closed {
        let handle = runtime.spawn(fut);
        if all {
            run.record(handle.abort_handle());
        }
        return (handle, run);
    }
    let depth = LATE_DEPTH.with(Cell::get);
    if depth >= LATE_DEPTH_MAX {
        put_off(Box::new(fut), depth);
        return (runtime.spawn(std::future::pending()), run);
    }
    // The put-off drops below run at depth 1 too: what they start nests from there.
    let _nested = SetCell::set(&LATE_DEPTH, depth + 1);
    let handle = runtime.spawn(fut);
    if depth == 0 {
        drop_put_off();
    }
    (handle, run)
}

/// Puts the drop of a late spawn's future off to the outermost late spawn, or leaks the future
/// once that one has dropped [`LATE_PUT_OFF_MAX`] (or this thread is exiting).
fn put_off(fut: Box<dyn Any>, depth: u32) {
    let mut fut = Some(fut);
    let _ = PUT_OFF.try_with(|p| {
        let mut p = p.borrow_mut();
        if p.dropped < LATE_PUT_OFF_MAX {
            p.futures.extend(fut.take());
        }
    });
    if let Some(fut) = fut {
        // Not `eprintln!`, which panics when stderr cannot be written: this runs inside
        // destructors, where that panic could abort.
        let report = format!(
            "weft_async: a task started while its run's runtime shuts down, {depth} levels deep \
             in such tasks' destructors after {LATE_PUT_OFF_MAX} put-off drops, is leaked \
             instead of dropped\n"
        );
        let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), report.as_bytes());
        mem::forget(fut);
    }
}

/// Drops the put-off futures, also those their destructors put off, one after another (the
/// outermost late spawn's loop); then counts from zero again.
fn drop_put_off() {
    loop {
        let next = PUT_OFF.try_with(|p| {
            let mut p = p.borrow_mut();
            let next = p.futures.pop_front();
            match next {
                Some(_) => p.dropped += 1,
                None => p.dropped = 0,
            }
            next
        });
        let Ok(Some(fut)) = next else { return };
        // Outside the borrow, as tokio drops a task's future on a runtime that shuts down: a
        // panic in a destructor ends that drop only.
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| drop(fut))) {
            weft_sync::drop_panic_payload(payload);
        }
    }
}

/// Starts `exit` (a context manager's exit, its `async_with` future dropped mid-body) on
/// `runtime` as a task of its own; inside weft's run, the run awaits it before it returns.
pub(crate) fn spawn_exit(runtime: &Handle, exit: impl Future<Output = ()> + Send + 'static) {
    let task = runtime.spawn(exit);
    let mut swept = Vec::new();
    with_registry(runtime, |registry| {
        if !registry.closed.load(Ordering::Acquire) {
            swept = registry.exits.lock().push(task);
        }
    });
    // Outside the lock, as for the tasks.
    drop(swept);
}

impl Registry {
    /// Wakes the tasks that the last extra turn held back.
    fn wake_held(&self) {
        let held = mem::take(&mut *self.held.lock());
        // Outside the lock: a waker is not ours.
        for waker in held {
            waker.wake();
        }
    }

    /// Adds `task` to the tasks to wind down, dropping the finished ones first once the list has
    /// doubled.
    fn track(&self, task: AbortHandle) {
        // Released outside the lock: the last handle of a task frees it, and nothing that
        // might run then should find the lock taken.
        let swept = self.tasks.lock().push(task);
        drop(swept);
    }

    /// Cancels the tasks still running and waits until they have ended, then awaits the exits;
    /// again until neither is left (a cancelled task's exits come in while it ends), for at
    /// most [`ROUNDS`] rounds.
    async fn wind_down(&self) {
        // The functions handed over before the run's future completed run first (a task each,
        // queued on this runtime).
        loop {
            let ended = self.calls_ended.notified();
            if self.calls.load(Ordering::SeqCst) == 0 {
                break;
            }
            ended.await;
        }
        for _ in 0..ROUNDS {
            let tasks = self.tasks.lock().take();
            let exits = self.exits.lock().take();
            for task in &tasks {
                task.abort();
            }
            // What the extra turn held back goes on: cancelled if it was just aborted, run (as
            // any task left) if not.
            self.wake_held();
            if tasks.is_empty() && exits.is_empty() {
                return;
            }
            for task in &tasks {
                // A cancelled task ends the next time the runtime gets to it: let it, and if
                // that takes long (a poll that blocks a worker), look again less often.
                let mut looks = 0u32;
                while !task.is_finished() {
                    if looks < 64 {
                        looks += 1;
                        tokio::task::yield_now().await;
                    } else {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                }
            }
            for exit in exits {
                // An exit's result is discarded, as for any exit of a cancelled body; a panic in
                // one ends only that exit.
                let _ = exit.await;
            }
        }
    }
}

/// One function handed to a run by [`Loop::call_soon_threadsafe`](crate::Loop), counted in its
/// [`Registry::calls`] until dropped (after the function ran, or unrun with its task).
pub(crate) struct CallGuard(Weak<Registry>);

impl Drop for CallGuard {
    fn drop(&mut self) {
        if let Some(registry) = self.0.upgrade()
            && registry.calls.fetch_sub(1, Ordering::SeqCst) == 1
        {
            // A permit if the wind-down is not waiting yet: it looks again.
            registry.calls_ended.notify_one();
        }
    }
}

/// How many rounds [`Registry::wind_down`] makes at most. Each round after the first is for
/// what the previous one let go: a cancelled task's exits, tasks that its destructors or exits
/// start and drop, and so on. Code that starts a new task from every such destructor would
/// keep it going for ever; after these rounds the rest is left to the runtime's shutdown, which
/// drops it (as `asyncio.run` cancels the tasks once, and tasks started meanwhile are destroyed
/// pending when it closes its loop).
const ROUNDS: u32 = 64;

/// Whether this thread runs a [`to_thread`](crate::to_thread) function (outside any `run` of
/// its own), where the outer runtime's handle is current but no loop runs.
pub(crate) fn in_to_thread() -> bool {
    IN_TO_THREAD.with(Cell::get)
}

/// Runs `f` as a [`to_thread`](crate::to_thread) function: [`run`] may start a runtime inside.
pub(crate) fn as_to_thread<T>(f: impl FnOnce() -> T) -> T {
    let _flag = SetCell::set(&IN_TO_THREAD, true);
    f()
}

/// Sets a thread-local cell (`IN_TO_THREAD`, `LATE_DEPTH`) until dropped, then restores its
/// previous value (also when unwinding).
struct SetCell<T: Copy + 'static> {
    cell: &'static LocalKey<Cell<T>>,
    previous: T,
}

impl<T: Copy + 'static> SetCell<T> {
    fn set(cell: &'static LocalKey<Cell<T>>, value: T) -> Self {
        SetCell {
            cell,
            previous: cell.with(|c| c.replace(value)),
        }
    }
}

impl<T: Copy + 'static> Drop for SetCell<T> {
    fn drop(&mut self) {
        let previous = self.previous;
        let _ = self.cell.try_with(|c| c.set(previous));
    }
}

thread_local! {
    /// Set on a single-threaded run's thread once the run's extra turn is over (its marker task
    /// has run), until the run's `block_on` returns, and in a [`Runner`]'s run from the marker
    /// before its future until that future's first poll: the weft tasks polled meanwhile are
    /// held back (see [`with_extra_turn`]).
    static STOPPED: Cell<bool> = const { Cell::new(false) };
    /// The wakers of the tasks held back while [`STOPPED`] is set.
    static HELD: RefCell<Vec<Waker>> = const { RefCell::new(Vec::new()) };
}

/// Whether the task being polled (a weft task's future: [`create_task`](crate::create_task)'s,
/// a [`TaskGroup`](crate::TaskGroup)'s) is to be held back, not polled, because its run's extra
/// turn is over: then its waker is kept, to be woken when the run goes on (the next run of a
/// [`Runner`], or the wind-down), and the caller returns `Pending`.
#[inline]
pub(crate) fn hold_back(cx: &Context<'_>) -> bool {
    if STOPPED.with(Cell::get) {
        hold(cx);
        return true;
    }
    false
}

/// [`hold_back`]'s keeping of the waker.
#[cold]
#[inline(never)]
fn hold(cx: &Context<'_>) {
    let _ = HELD.try_with(|held| held.borrow_mut().push(cx.waker().clone()));
}

/// Ends the hold that the marker before a run's future set: the tasks it held back are woken
/// (inside the runtime, onto its thread's queue), to run after the future's first poll.
fn release_hold() {
    let _ = STOPPED.try_with(|s| s.set(false));
    let held = HELD.try_with(|h| mem::take(&mut *h.borrow_mut()));
    // Outside the borrow: a waker is not ours.
    for waker in held.into_iter().flatten() {
        waker.wake();
    }
}

/// Ends the hold of a run's extra turn when its `block_on` returns (or unwinds): the wakers
/// kept go to the run's registry.
struct StopGuard<'a>(&'a Registry);

impl Drop for StopGuard<'_> {
    fn drop(&mut self) {
        let _ = STOPPED.try_with(|s| s.set(false));
        let held = HELD.try_with(|h| mem::take(&mut *h.borrow_mut()));
        if let Ok(held) = held
            && !held.is_empty()
        {
            self.0.held.lock().extend(held);
        }
    }
}

/// Runs `fut` (catching its panic) and then the run's extra turn: as asyncio's loop finishes
/// the iteration in which the main task ended, every task ready when `fut` completes (or
/// panics) gets its next step before the run returns or winds down.
///
/// The extra turn is a marker task spawned on the runtime when `fut` has completed, and waited
/// for. On a single-threaded runtime the tasks woken or started on the runtime's thread are
/// run first in, first out, so the tasks ready by then run once before the marker: a task
/// `fut` started in its last step runs up to its first `await`, one it woke runs its next
/// step. A task that wakes itself, or one woken or started in that turn, lands behind the
/// marker: once the marker has run, the weft tasks that tokio still polls before it gets back
/// to the run are held back ([`hold_back`]) without running any of their code, so the turn is
/// one pass (Python's tasks made ready in that iteration wait for the next). Not covered: a
/// task woken from another thread (tokio's inject queue, which it takes from now and then), a
/// timer due meanwhile (tokio looks at its timers between batches of tasks), and a task
/// started with `tokio::spawn` directly, which is not held back. On a multi-threaded runtime
/// the marker only waits until one of the workers has got to it: most tasks ready by then
/// have run, with no guarantee, and nothing is held back (the workers run the tasks in
/// parallel all along).
///
/// In a single-threaded [`Runner`], what is ready when a run starts (what the previous run's
/// turn held back, woken first on the runtime's thread, and the tasks tokio still has queued)
/// has its step before `fut` is first polled, behind a marker of its own: in Python's loop
/// those tasks are ready before the new main task, whose first step comes after theirs. That
/// pass is one pass too: what those steps make ready (two tasks that wake each other) is held
/// back once the marker has run, as at the end, and woken right before `fut`'s first poll, so
/// it comes after that poll, as Python's next iteration does.
async fn with_extra_turn<F: Future>(
    fut: F,
    flavor: Flavor,
    registry: &Registry,
) -> Caught<F::Output> {
    let single = matches!(flavor, Flavor::CurrentThread);
    let held = mem::take(&mut *registry.held.lock());
    // Inside the runtime: on its thread's queue, first in, first out, before the marker.
    let ready_first = single && (registry.track_all || !held.is_empty());
    for waker in held {
        waker.wake();
    }
    if ready_first {
        // A marker cannot fail; a runtime that shuts down cannot be running this. It holds back
        // what tokio polls after it, as the turn's marker does, until `fut`'s first poll.
        let _ = tokio::spawn(async { STOPPED.with(|s| s.set(true)) }).await;
        release_hold();
    }
    let mut fut = std::pin::pin!(Some(fut));
    let out = std::future::poll_fn(|cx| {
        let Some(running) = fut.as_mut().as_pin_mut() else {
            return Poll::Pending; // not reached: not polled again once it has completed
        };
        match catch_unwind(AssertUnwindSafe(|| running.poll(cx))) {
            Ok(Poll::Ready(out)) => Poll::Ready(Ok(out)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => Poll::Ready(Err(payload)),
        }
    })
    .await;
    // Dropped before the turn, as the main coroutine has finished by then (a destructor's
    // panic is `fut`'s, as before).
    let out = match catch_unwind(AssertUnwindSafe(|| fut.set(None))) {
        Ok(()) => out,
        Err(payload) => match out {
            Ok(_) => Err(payload),
            Err(first) => {
                weft_sync::drop_panic_payload(payload);
                Err(first)
            }
        },
    };
    let marker = tokio::spawn(async move {
        if single {
            STOPPED.with(|s| s.set(true));
        }
    });
    // A marker cannot fail; a runtime that shuts down cannot be running this.
    let _ = marker.await;
    out
}

/// Runs `fut` on a one-shot runner of `flavor` that records tasks only when they are let go,
/// then closes it: [`run`] and [`run_multi_thread`].
fn run_once<F: Future>(flavor: Flavor, fut: F) -> Result<F::Output, RunError<F>> {
    let mut runner = Runner {
        flavor,
        track_all: false,
        state: State::Idle,
    };
    let output = runner.run_caught(fut)?;
    // Also after a panic in `fut`, as `asyncio.run` cancels the tasks left in a `finally`.
    if let State::Open(open) = mem::replace(&mut runner.state, State::Closed) {
        open.close();
    }
    match output {
        Ok(output) => Ok(output),
        Err(payload) => resume_unwind(payload),
    }
}

/// A context manager for one event loop that runs several futures in turn, each to completion
/// (Python 3.11's `asyncio.Runner`): `run` is [`run`](fn@run) without the wind-down, which
/// [`close`](Runner::close) (or dropping the runner) does once, at the end.
///
/// The runtime is built at the first [`run`](Runner::run) or [`get_loop`](Runner::get_loop)
/// and kept between runs, with its tasks: a task started in one `run` and not finished when
/// that run's future completes is neither cancelled nor waited for; it goes on in the next
/// `run`, and its [`Task`](crate::Task) (say, `run`'s output) can be awaited there. Under
/// [`Runner::new`] (one thread, asyncio's loop) nothing runs between two `run`s, as in
/// Python: the tasks, and the functions handed to the [`Loop`](crate::Loop) meanwhile
/// ([`Loop::call_soon_threadsafe`](crate::Loop::call_soon_threadsafe), which Python also runs
/// at the next `run`), wait for the next `run` or for `close`. Under
/// [`Runner::multi_thread`] the runtime's worker threads go on running them between runs
/// (Python has no such loop). Work handed to [`to_thread`](crate::to_thread) goes on in its
/// thread either way, as in a Python executor.
///
/// As in Python, each `run` ends with the loop's last turn: the tasks ready when its future
/// completes have their next step first (see [`run`](fn@run) for what is guaranteed), so a task
/// that the future created in its last step has started, and one that needs no `await` is
/// done, when `run` returns. What that turn made ready (a task started or woken there) goes on
/// in the next `run`, where it has its step before the future's first one, as in Python (its
/// task was ready before the new main task).
///
/// [`close`](Runner::close) is `asyncio.run`'s end: it cancels every task of the runner still
/// running, also one whose `Task` is still held (Python's `close()` cancels every task of the
/// loop), awaits the exits of the [`async_with`](crate::async_with) blocks they were in, waits
/// for the work handed to `to_thread`, and drops the runtime; see [`run`](fn@run) for the
/// details, which are the same, save the held tasks. Awaiting such a task afterwards gives
/// [`TaskError::Cancelled`](crate::TaskError::Cancelled), but its
/// [`cancelled()`](crate::Task::cancelled) stays `false` (it tells that a `cancel()` reached
/// the task; Python's is `True`). A task started on the runtime with `tokio::spawn` directly
/// is only dropped with it, as under `run`. Closing twice is fine; dropping the runner closes
/// it.
///
/// A panic in a run's future propagates out of [`run`](Runner::run) after the extra turn (as
/// for [`run`](fn@run)), and the runner stays open, as an exception leaves Python's runner
/// usable; if the panic unwinds through the runner (a `Runner` in a local), its drop closes
/// it, on a thread of its own so that the cancelled tasks' exits run (as Python's `with` block
/// closes the runner on an exception).
/// Python's `debug=` has no counterpart; tokio has no debug mode.
///
/// ```
/// use weft_async::{create_task, yield_now, Runner};
///
/// let mut runner = Runner::new(); // with asyncio.Runner() as runner:
/// let task = runner
///     .run(async {
///         let task = create_task(async { 6 * 7 });
///         assert!(!task.done()); // it has not had a turn yet
///         task
///     })
///     .unwrap();
/// assert!(task.done()); // it had its turn at the run's end, as in Python
/// assert_eq!(runner.run(task).unwrap(), Ok(42)); // awaited in the next run
/// let task = runner
///     .run(async {
///         create_task(async {
///             yield_now().await;
///             7
///         })
///     })
///     .unwrap();
/// assert!(!task.done()); // its first step ran; the second waits for the next run
/// assert_eq!(runner.run(task).unwrap(), Ok(7));
/// runner.close().unwrap();
/// assert!(runner.run(async {}).unwrap_err().is_closed()); // RuntimeError: Runner is closed
/// ```
pub struct Runner {
    flavor: Flavor,
    /// Whether every task is recorded as it starts (a `Runner`'s), or only when let go
    /// ([`run`](fn@run)'s, whose end drops held tasks with the runtime).
    track_all: bool,
    state: State,
}

/// An output, or the payload of the panic that took its place.
type Caught<T> = Result<T, Box<dyn Any + Send>>;

/// Which runtime a [`Runner`] builds.
#[derive(Clone, Copy, Debug)]
enum Flavor {
    CurrentThread,
    MultiThread,
}

/// Where a [`Runner`] is.
enum State {
    /// Nothing built yet (Python builds its loop lazily too).
    Idle,
    Open(Open),
    Closed,
}

/// A runner's runtime and the registry of what its close winds down.
struct Open {
    runtime: tokio::runtime::Runtime,
    registry: Arc<Registry>,
    flavor: Flavor,
}

impl Runner {
    /// A runner on a single-threaded runtime, asyncio's loop (Python's `asyncio.Runner()`),
    /// built at the first [`run`](Runner::run) or [`get_loop`](Runner::get_loop). See
    /// [`run`](fn@run) for what one thread means for blocking calls.
    ///
    /// ```
    /// use weft_async::Runner;
    ///
    /// let mut runner = Runner::new();
    /// assert_eq!(runner.run(async { 1 }).unwrap(), 1);
    /// assert_eq!(runner.run(async { 2 }).unwrap(), 2);
    /// ```
    pub fn new() -> Self {
        Runner {
            flavor: Flavor::CurrentThread,
            track_all: true,
            state: State::Idle,
        }
    }

    /// A runner on a work-stealing runtime with one worker thread per core, as
    /// [`run_multi_thread`]: its tasks run in parallel, also between two runs.
    ///
    /// ```
    /// use weft_async::{create_task, Runner};
    ///
    /// let mut runner = Runner::multi_thread();
    /// let task = runner.run(async { create_task(async { 7 }) }).unwrap();
    /// assert_eq!(runner.run(task).unwrap(), Ok(7));
    /// ```
    pub fn multi_thread() -> Self {
        Runner {
            flavor: Flavor::MultiThread,
            track_all: true,
            state: State::Idle,
        }
    }

    /// Runs `fut` to completion on the runner's runtime and returns its output (Python's
    /// `runner.run(coro)`), leaving the tasks it started as they are, for the next runs or
    /// [`close`](Runner::close). It returns once `fut` has completed and the tasks ready then
    /// have had their next step, as Python's does (see [`Runner`]).
    ///
    /// A panic in `fut` propagates once the tasks ready then have had their step (as Python's
    /// exception does); the runner stays open.
    ///
    /// # Errors
    /// With `fut` back, not run: [`RunError::Nested`] where a tokio runtime is already current
    /// (Python's `RuntimeError: Runner.run() cannot be called from a running event loop`; as
    /// for [`run`](fn@run), a [`to_thread`](crate::to_thread) function may), checked first as
    /// in Python; [`RunError::Closed`] once the runner is closed (`RuntimeError: Runner is
    /// closed`); [`RunError::Build`] when the runtime cannot be built.
    ///
    /// ```
    /// use weft_async::Runner;
    ///
    /// let mut runner = Runner::new();
    /// let nested = runner
    ///     .run(async { Runner::new().run(async {}).unwrap_err().is_nested() })
    ///     .unwrap();
    /// assert!(nested);
    /// ```
    pub fn run<F: Future>(&mut self, fut: F) -> Result<F::Output, RunError<F>> {
        // The tasks that the extra turn held back go on in the next run (woken there before
        // its future's first poll) or at `close`.
        match self.run_caught(fut)? {
            Ok(output) => Ok(output),
            Err(payload) => resume_unwind(payload),
        }
    }

    /// [`run`](Runner::run), with a panic in `fut` caught and given back.
    fn run_caught<F: Future>(&mut self, fut: F) -> Result<Caught<F::Output>, RunError<F>> {
        let handle_current = Handle::try_current().is_ok();
        if handle_current && !in_to_thread() {
            return Err(RunError::Nested(fut));
        }
        let fresh = matches!(self.state, State::Idle);
        let open = match self.open() {
            Ok(open) => open,
            Err(Some(e)) => return Err(RunError::Build(e, fut)),
            Err(None) => return Err(RunError::Closed(fut)),
        };
        match open.block_on(fut, handle_current) {
            Ok(output) => Ok(output),
            Err(fut) => {
                // Refused by tokio, in a `to_thread` function that entered a runtime: a runtime
                // built for this call goes, as it came, without blocking.
                if fresh && let State::Open(open) = mem::replace(&mut self.state, State::Idle) {
                    open.abandon();
                }
                Err(RunError::Nested(fut))
            }
        }
    }

    /// The runner's open runtime, built if need be: `Err(None)` once closed.
    fn open(&mut self) -> Result<&Open, Option<std::io::Error>> {
        if matches!(self.state, State::Idle) {
            self.state = State::Open(Open::build(self.flavor, self.track_all)?);
        }
        match &self.state {
            State::Open(open) => Ok(open),
            State::Idle | State::Closed => Err(None),
        }
    }

    /// The runner's loop (Python's `runner.get_loop()`), built if need be: a [`Loop`] that
    /// other threads can hand work to, also between runs (under [`Runner::new`] it runs at the
    /// next [`run`](Runner::run), or as [`close`](Runner::close) winds down, as in Python). It
    /// refuses work once the runner is closing.
    ///
    /// # Errors
    /// [`RunError::Closed`] once the runner is closed (Python's `RuntimeError: Runner is
    /// closed`), [`RunError::Build`] when the runtime cannot be built.
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use weft_async::Runner;
    ///
    /// let mut runner = Runner::new();
    /// let lp = runner.get_loop().unwrap();
    /// let (tx, rx) = mpsc::channel();
    /// lp.call_soon_threadsafe(move || tx.send("ran").unwrap()).unwrap();
    /// assert!(rx.try_recv().is_err()); // no run under way: it waits
    /// runner.run(weft_async::yield_now()).unwrap();
    /// assert_eq!(rx.try_recv(), Ok("ran"));
    /// ```
    pub fn get_loop(&mut self) -> Result<Loop, RunError<()>> {
        match self.open() {
            Ok(open) => Ok(Loop::new(
                open.runtime.handle().clone(),
                RunRef::of(&open.registry),
            )),
            Err(Some(e)) => Err(RunError::Build(e, ())),
            Err(None) => Err(RunError::Closed(())),
        }
    }

    /// Closes the runner (Python's `runner.close()`, the end of its `with` block): cancels its
    /// tasks still running and awaits their exits, runs the functions handed to its
    /// [`Loop`](crate::Loop) before, waits for the work handed to
    /// [`to_thread`](crate::to_thread), and drops the runtime (see [`Runner`]). Then
    /// [`run`](Runner::run) and [`get_loop`](Runner::get_loop) give [`RunError::Closed`], and
    /// the `Loop` refuses work with [`LoopClosed`](crate::LoopClosed). Closing a closed runner
    /// does nothing, and so does closing one whose runtime was never built (no `run` nor
    /// `get_loop` yet): it stays usable, as Python's `close()` leaves a runner whose loop does
    /// not exist yet.
    ///
    /// # Errors
    /// [`CloseError`] where a tokio runtime is current (in a task), where the wind-down cannot
    /// block: the runner stays open, to be closed later (Python raises `RuntimeError: Cannot
    /// run the event loop while another loop is running`, after it has cancelled the tasks,
    /// which never get to run, and closed the runner). Dropped there, a runner shuts its
    /// runtime down without the wind-down: its tasks are dropped, their exits do not run, and
    /// nothing waits for `to_thread` work.
    ///
    /// ```
    /// use weft_async::{create_task, Runner};
    ///
    /// let mut runner = Runner::new();
    /// let task = runner.run(async { create_task(std::future::pending::<()>()) }).unwrap();
    /// runner.close().unwrap();
    /// runner.close().unwrap(); // twice is fine
    /// assert!(task.done());
    /// assert_eq!(weft_async::run(task).unwrap(), Err(weft_async::TaskError::Cancelled));
    /// ```
    pub fn close(&mut self) -> Result<(), CloseError> {
        // Idle: nothing to close, and the runner stays usable (Python's `close()` returns at once
        // unless its loop was built). Closed: done already.
        if !matches!(self.state, State::Open(_)) {
            return Ok(());
        }
        if Handle::try_current().is_ok() && !in_to_thread() {
            return Err(CloseError);
        }
        if let State::Open(open) = mem::replace(&mut self.state, State::Closed) {
            open.close();
        }
        Ok(())
    }
}

impl Default for Runner {
    /// [`Runner::new`].
    fn default() -> Self {
        Runner::new()
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        let State::Open(open) = mem::replace(&mut self.state, State::Closed) else {
            return;
        };
        if Handle::try_current().is_ok() && !in_to_thread() {
            // In a task: the wind-down cannot block here.
            open.abandon();
        } else if std::thread::panicking() {
            // The wind-down drops tasks on this thread (a current-thread runtime's), where a
            // cancelled task would take the unwinding for a panic in its own poll (see
            // `TaskFuture`): on a thread of its own, it runs as in `close`. If no thread can
            // start, the runtime is just dropped.
            std::thread::scope(|s| {
                let _ = std::thread::Builder::new()
                    .name("weft-runner-close".into())
                    .spawn_scoped(s, move || open.close())
                    .map(|closer| closer.join());
            });
        } else {
            open.close();
        }
    }
}

impl fmt::Debug for Runner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            State::Idle => "idle",
            State::Open(_) => "open",
            State::Closed => "closed",
        };
        f.debug_struct("Runner")
            .field("flavor", &self.flavor)
            .field("state", &state)
            .finish()
    }
}

impl Open {
    /// Builds the runtime and its registry.
    fn build(flavor: Flavor, track_all: bool) -> std::io::Result<Open> {
        let mut builder = match flavor {
            Flavor::CurrentThread => tokio::runtime::Builder::new_current_thread(),
            Flavor::MultiThread => tokio::runtime::Builder::new_multi_thread(),
        };
        let registry = Arc::new(Registry {
            track_all,
            ..Registry::default()
        });
        // Weak: the runtime keeps these closures, every task keeps the runtime, and the registry
        // keeps tasks.
        let (on_start, on_stop) = (Arc::downgrade(&registry), Arc::downgrade(&registry));
        let runtime = builder
            .enable_all()
            // The runtime's own threads (workers, the blocking pool) work for this run too.
            .on_thread_start(move || {
                let _ = REGISTRY.try_with(|r| *r.borrow_mut() = on_start.upgrade());
            })
            .on_thread_stop(move || {
                let _ = REGISTRY.try_with(|r| {
                    let mine = r
                        .borrow()
                        .as_ref()
                        .is_some_and(|c| Arc::as_ptr(c) == on_stop.as_ptr());
                    if mine {
                        *r.borrow_mut() = None;
                    }
                });
            })
            .build()?;
        let _ = registry.runtime.set(runtime.handle().id());
        Ok(Open {
            runtime,
            registry,
            flavor,
        })
    }

    /// Runs `fut` to completion, then the extra turn (see [`with_extra_turn`]): `fut`'s output,
    /// or its panic's payload; `Err(fut)` if tokio refused to block (`handle_current`: in a
    /// `to_thread` function that entered a runtime). The tasks that the extra turn held back
    /// are left in the registry's [`held`](Registry::held), for the next run (or the
    /// wind-down) to wake.
    fn block_on<F: Future>(&self, fut: F, handle_current: bool) -> Result<Caught<F::Output>, F> {
        // Inside, this thread runs a runtime: a `run` in its tasks is nested again.
        let _flag = SetCell::set(&IN_TO_THREAD, false);
        let _registry = CurrentRegistry::set(Some(self.registry.clone()));
        // Ends the hold of the extra turn when `block_on` returns, also when it unwinds.
        let _stop = StopGuard(&self.registry);
        let flavor = self.flavor;
        if !handle_current {
            return match catch_unwind(AssertUnwindSafe(|| {
                self.runtime
                    .block_on(with_extra_turn(fut, flavor, &self.registry))
            })) {
                Ok(caught) => Ok(caught),
                Err(payload) => Ok(Err(payload)),
            };
        }
        // A `to_thread` function, where no runtime runs unless the function entered one itself
        // (`Handle::block_on`, a runtime of its own), which tokio's API does not tell. Then
        // tokio's `block_on` refuses with a panic before it polls anything: the future, still in
        // `slot`, comes back (tokio's panic message has been printed by then).
        let mut slot = Some(fut);
        let slot_ref = &mut slot;
        let ran = catch_unwind(AssertUnwindSafe(|| {
            self.runtime.block_on(async move {
                match slot_ref.take() {
                    Some(fut) => Some(with_extra_turn(fut, flavor, &self.registry).await),
                    None => None,
                }
            })
        }));
        match (ran, slot.take()) {
            (Ok(Some(caught)), _) => Ok(caught),
            (Err(_), Some(fut)) | (Ok(None), Some(fut)) => Err(fut),
            (Err(payload), None) => Ok(Err(payload)),
            // Not reached: the block above only finds the slot empty if it was polled twice.
            (Ok(None), None) => Ok(Err(Box::new("weft_async::run: the future was lost"))),
        }
    }

    /// Winds the run down (see [`Registry`]) and drops the runtime, which drops every task
    /// still running that weft did not start (their destructors run here, inside the runtime's
    /// context) and waits for the blocking threads.
    fn close(self) {
        let _flag = SetCell::set(&IN_TO_THREAD, false);
        let _registry = CurrentRegistry::set(Some(self.registry.clone()));
        if wind_down(&self.runtime, &self.registry) {
            drop(self.runtime);
        } else {
            // Inside a runtime's context (tokio refused to block): shutting down must not block.
            self.runtime.shutdown_background();
        }
    }

    /// Shuts the runtime down without the wind-down or any wait: where this thread cannot
    /// block.
    fn abandon(self) {
        self.registry.ending.store(true, Ordering::SeqCst);
        self.registry.closed.store(true, Ordering::Release);
        let _flag = SetCell::set(&IN_TO_THREAD, false);
        let _registry = CurrentRegistry::set(Some(self.registry.clone()));
        self.runtime.shutdown_background();
    }
}

/// Cancels the run's tasks still running and awaits the exits, on `runtime` (see [`Registry`]);
/// then closes the registry, so that what the runtime's shutdown drops is not recorded. `false`
/// if tokio refused to block here.
fn wind_down(runtime: &tokio::runtime::Runtime, registry: &Registry) -> bool {
    // `SeqCst`, against `RunRef::begin_call`'s count.
    registry.ending.store(true, Ordering::SeqCst);
    // Nothing of the run's own fails here; a panic would come from tokio itself (refusing to
    // block inside a runtime's context), and the run's outcome is already decided: the
    // runtime's drop cleans up what is left.
    let ran = catch_unwind(AssertUnwindSafe(|| runtime.block_on(registry.wind_down())));
    let blocked = ran.is_ok();
    if let Err(payload) = ran {
        weft_sync::drop_panic_payload(payload);
    }
    registry.closed.store(true, Ordering::Release);
    // Anything recorded after the last look (by a thread the run does not wait for) is let go
    // here, outside the locks; the runtime's shutdown drops those tasks.
    let tasks = registry.tasks.lock().take();
    let exits = registry.exits.lock().take();
    drop((tasks, exits));
    blocked
}

/// An error returned from [`run`], [`run_multi_thread`], [`Runner::run`] and
/// [`Runner::get_loop`]: the future was not run, and comes back inside the error
/// ([`into_inner`](RunError::into_inner)).
///
/// ```
/// use weft_async::{run, RunError};
///
/// let inner = run(async { run(async { 1 }).map_err(|e| e.to_string()) }).unwrap();
/// assert_eq!(
///     inner.unwrap_err(),
///     "run() cannot be called where a tokio runtime is already running"
/// );
/// ```
pub enum RunError<F> {
    /// A tokio runtime is already current on this thread (Python's `RuntimeError` from a nested
    /// `asyncio.run`). Await the future instead, or in a blocking thread of your own use
    /// `tokio::runtime::Handle::current().block_on(fut)` (in a [`to_thread`](crate::to_thread)
    /// function, `run` works).
    Nested(F),
    /// The runtime could not be built (the operating system refused a thread or an I/O driver).
    Build(std::io::Error, F),
    /// The [`Runner`] is closed (Python's `RuntimeError: Runner is closed`); [`run`] never
    /// gives it.
    Closed(F),
}

impl<F> RunError<F> {
    /// The future that was not run.
    pub fn into_inner(self) -> F {
        match self {
            RunError::Nested(f) | RunError::Build(_, f) | RunError::Closed(f) => f,
        }
    }

    /// `true` for [`RunError::Nested`].
    pub fn is_nested(&self) -> bool {
        matches!(self, RunError::Nested(_))
    }

    /// `true` for [`RunError::Closed`].
    pub fn is_closed(&self) -> bool {
        matches!(self, RunError::Closed(_))
    }
}

impl<F> fmt::Debug for RunError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Nested(_) => f.write_str("Nested(..)"),
            RunError::Build(e, _) => f.debug_tuple("Build").field(e).finish(),
            RunError::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<F> fmt::Display for RunError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Nested(_) => {
                f.write_str("run() cannot be called where a tokio runtime is already running")
            }
            RunError::Build(e, _) => write!(f, "cannot build the runtime: {e}"),
            RunError::Closed(_) => f.write_str("runner is closed"),
        }
    }
}

impl<F> std::error::Error for RunError<F> {
    /// The cause's own source: this error's message already shows the cause's text, so, as
    /// `std::io::Error` does for the error it wraps, the chain goes on from the cause's source
    /// (a chain printer such as anyhow's `{:#}` would otherwise print the cause twice). The
    /// cause itself is the variant's field.
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RunError::Nested(_) | RunError::Closed(_) => None,
            RunError::Build(e, _) => e.source(),
        }
    }
}

/// An error returned from [`Runner::close`]: a tokio runtime is current on this thread (the
/// caller is a task), where the wind-down cannot block; the runner stays open (Python's
/// `RuntimeError: Cannot run the event loop while another loop is running`).
///
/// ```
/// use weft_async::{run, Runner};
///
/// let mut runner = Runner::new();
/// runner.run(async {}).unwrap();
/// let (runner, err) = run(async move {
///     let err = runner.close().unwrap_err();
///     (runner, err)
/// })
/// .unwrap();
/// assert_eq!(
///     err.to_string(),
///     "cannot close a runner where a tokio runtime is already running"
/// );
/// let mut runner = runner;
/// runner.close().unwrap(); // outside any runtime, it closes
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct CloseError;

impl fmt::Display for CloseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("cannot close a runner where a tokio runtime is already running")
    }
}

impl std::error::Error for CloseError {}

#[cfg(all(test, not(weft_loom)))]
mod tests {
    use super::*;
    use crate::{async_with, context_manager, TaskGroup};
    use std::convert::Infallible;

    /// The lengths of the current run's two lists.
    fn lists() -> (usize, usize) {
        let mut lens = (usize::MAX, usize::MAX);
        with_registry(&Handle::current(), |r| {
            lens = (r.tasks.lock().handles.len(), r.exits.lock().handles.len());
        });
        lens
    }

    /// Many groups in one run, each failing while its other tasks wait inside `async_with`:
    /// the run records their cancellation and the exits they hand over, and both lists keep only
    /// about twice what is unfinished (they grew by every failed group's tasks and exits).
    #[test]
    fn a_runs_lists_do_not_grow_with_each_failed_group() {
        let exited = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let x = exited.clone();
        let (tasks, exits) = run(async move {
            let entered = Arc::new(std::sync::atomic::AtomicUsize::new(0));
            for group in 1..=1000 {
                let tg = TaskGroup::<()>::new();
                for _ in 0..4 {
                    let (e, x) = (entered.clone(), x.clone());
                    let cm = context_manager(
                        move || async move {
                            e.fetch_add(1, Ordering::SeqCst);
                            Ok::<_, Infallible>(())
                        },
                        move |(), _| async move {
                            x.fetch_add(1, Ordering::SeqCst);
                            Ok::<_, Infallible>(())
                        },
                    );
                    tg.create_task(async move {
                        let _ = async_with(cm, async |_: &mut ()| {
                            std::future::pending::<Result<(), Infallible>>().await
                        })
                        .await;
                        Ok(())
                    })
                    .unwrap();
                }
                // Every task enters its block, so that the failure hands exits over.
                while entered.load(Ordering::SeqCst) < 4 * group {
                    tokio::task::yield_now().await;
                }
                tg.create_task(async { Err::<(), ()>(()) }).unwrap();
                assert!(tg.wait().await.is_err());
            }
            lists()
        })
        .unwrap();
        assert_eq!(exited.load(Ordering::SeqCst), 4000, "every exit ran");
        assert!(
            tasks <= 256,
            "{tasks} task handles kept for 1000 finished groups"
        );
        assert!(
            exits <= 256,
            "{exits} exit handles kept for 1000 finished groups"
        );
    }
}
