//! `ProcessPoolExecutor`: plain functions over serde values, run in a pool of worker processes.
//!
//! # How it works
//! Each worker is a [`weft_process::Worker`]: a child process (this program started again) that
//! serves calls on its own socket. One state mutex holds the queue of calls not yet sent, the
//! tasks awaiting replies (by id), and per worker what it has in flight.
//!
//! - A submit encodes the call in the submitting thread, then, under the mutex, queues it and
//!   picks the workers with room; after the mutex is released the *submitting thread itself*
//!   writes the call to the chosen worker's socket. No thread hop on the way out.
//! - One reader thread per pool waits on every worker's socket at once, takes the replies,
//!   refills the workers that have room from the queue (again writing outside the mutex), then
//!   completes the futures (running their done callbacks) — one wake-up on the way back, the
//!   waiter's, which the future itself shortens by spinning briefly before it parks.
//! - A worker has room while its calls in flight stay under a depth that adapts to how fast it
//!   replies (2 for slow tasks, as Python's one extra queued call; up to 64 for tasks of a few
//!   microseconds, so the worker never waits for the pool), and under a byte budget well inside
//!   its socket buffer, so neither side ever blocks writing while the other is blocked too. A
//!   call over the budget goes alone, to a worker with nothing in flight that has said it is
//!   ready ([`Worker::is_ready`]): one still in its initializer would read none of it, and the
//!   write would hold up the thread making it (the reader's, and every future with it).
//! - The reader thread also sees every worker's end: a retired worker (`max_tasks_per_child`) is
//!   replaced; a worker that ends any other way — killed, crashed, its initializer failed —
//!   breaks the pool, and every task not yet answered fails with [`TaskError::BrokenPool`]
//!   naming what happened (Python's `BrokenProcessPool`).

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::fmt;
use std::marker::PhantomData;
use std::num::NonZeroU64;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::de::DeserializeOwned;
use serde::Serialize;
use weft_process::{
    Call, CallError, ConnectionError, ProcessError, Reply, StartMethod, Worker, WorkerBuilder,
    WorkerEvent,
};

use crate::error::{SubmitError, TaskError};
use crate::executor::{Executor, Payload};
use crate::exit::{self, AtExit};
use crate::future::{promise, Future, Promise};
use crate::map::Map;
use crate::thread_pool::{check_prefix, submit_to_task_error, BuildError};

/// The byte budget of calls in flight per worker: a worker's calls socket is given a 256 KiB
/// buffer (weft-process's `Worker`; Linux's default is about 200 KiB anyway), and what the kernel
/// charges per message is its size rounded up plus about 1 KiB of bookkeeping.
const BYTE_BUDGET: usize = 96 << 10;
/// What a call is charged against [`BYTE_BUDGET`].
fn cost(call: &Call) -> usize {
    2 * call.len() + 1024
}
/// Calls in flight per worker: at least this many, so a worker finds its next call waiting...
const MIN_DEPTH: usize = 2;
/// ...and at most this many, so short tasks keep it busy while the reader thread wakes up.
const MAX_DEPTH: usize = 64;
/// How much queued work a worker should hold, in time: the depth is this over its service time.
const WINDOW: Duration = Duration::from_micros(500);

static NEXT_POOL: AtomicUsize = AtomicUsize::new(1);

/// Configures a [`ProcessPoolExecutor`] (Python's constructor arguments).
///
/// ```
/// use weft_executor::ProcessPoolExecutor;
///
/// fn warm_up() {}
///
/// fn main() {
///     weft_process::main(|| {
///         let pool = ProcessPoolExecutor::builder()
///             .max_workers(2)
///             .initializer(warm_up)
///             .max_tasks_per_child(100)
///             .name_prefix("crunch")
///             .build()
///             .unwrap();
///         assert_eq!(pool.max_workers(), 2);
///     })
/// }
/// ```
#[derive(Clone, Debug, Default)]
#[must_use = "a builder does nothing until build() is called"]
pub struct ProcessPoolBuilder {
    max_workers: Option<usize>,
    initializer: Option<fn()>,
    max_tasks_per_child: Option<usize>,
    name_prefix: Option<String>,
    start_method: Option<StartMethod>,
}

impl ProcessPoolBuilder {
    /// How many worker processes the pool runs (default: the number of CPUs, as Python). Zero is
    /// an error at [`build`](Self::build).
    pub fn max_workers(mut self, n: usize) -> Self {
        self.max_workers = Some(n);
        self
    }

    /// Runs `f` once at the start of each worker process, before any task (Python's
    /// `initializer`). If it panics, the pool is broken: every task not yet answered fails with
    /// [`TaskError::BrokenPool`] and later submits with [`SubmitError::BrokenPool`].
    pub fn initializer(mut self, f: fn()) -> Self {
        self.initializer = Some(f);
        self
    }

    /// Replaces each worker process after it has run `n` tasks (a `map` chunk counts as one),
    /// Python's `max_tasks_per_child`, to give back memory a task leaks. Zero is an error at
    /// [`build`](Self::build).
    pub fn max_tasks_per_child(mut self, n: usize) -> Self {
        self.max_tasks_per_child = Some(n);
        self
    }

    /// How the worker processes start (Python's `mp_context`): by default
    /// [`weft_process::start_method`]'s, the fork server unless the program chose another;
    /// [`StartMethod::Spawn`] executes the program again for each worker, several times slower.
    pub fn start_method(mut self, method: StartMethod) -> Self {
        self.start_method = Some(method);
        self
    }

    /// Names the worker processes `<prefix>-0`, `<prefix>-1`, … (default
    /// `ProcessPoolExecutor-<pool>`, which an empty prefix also gives, as in
    /// [`ThreadPoolBuilder::thread_name_prefix`](crate::ThreadPoolBuilder::thread_name_prefix));
    /// a task sees its worker's name as
    /// [`weft_process::current_process_name`].
    pub fn name_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.name_prefix = Some(prefix.into());
        self
    }

    /// Builds the pool. No process starts until the first submit, which starts all
    /// `max_workers` of them.
    ///
    /// # Errors
    /// [`BuildError::ZeroWorkers`] for `max_workers(0)`, [`BuildError::ZeroMaxTasksPerChild`]
    /// for `max_tasks_per_child(0)`, [`BuildError::NulInNamePrefix`] for a name prefix with a
    /// NUL byte.
    pub fn build(self) -> Result<ProcessPoolExecutor, BuildError> {
        let max_workers = match self.max_workers {
            Some(0) => return Err(BuildError::ZeroWorkers),
            Some(n) => n,
            None => std::thread::available_parallelism().map_or(1, usize::from),
        };
        check_prefix(self.name_prefix.as_deref())?;
        let max_tasks = match self.max_tasks_per_child {
            Some(n) => match NonZeroU64::new(n as u64) {
                Some(n) => Some(n),
                None => return Err(BuildError::ZeroMaxTasksPerChild),
            },
            None => None,
        };
        let number = NEXT_POOL.fetch_add(1, Ordering::Relaxed);
        // Ready notices: a call over the byte budget waits for one (`Slot::has_room`).
        let mut worker = WorkerBuilder::new().notify_ready();
        if let Some(init) = self.initializer {
            worker = worker.initializer(init);
        }
        if let Some(n) = max_tasks {
            worker = worker.max_tasks(n);
        }
        if let Some(method) = self.start_method {
            worker = worker.start_method(method);
        }
        let pool = ProcessPoolExecutor {
            shared: Arc::new(Shared {
                exit: OnceLock::new(),
                state: Mutex::new(State::default()),
                worker,
                prefix: self
                    .name_prefix
                    .filter(|prefix| !prefix.is_empty())
                    .unwrap_or_else(|| format!("ProcessPoolExecutor-{number}")),
                max_workers,
                max_tasks: max_tasks.map(NonZeroU64::get),
                reader: Mutex::new(None),
                reader_id: OnceLock::new(),
                joining: Mutex::new(()),
                shut_down: AtomicBool::new(false),
            }),
        };
        exit::register(&pool.shared);
        Ok(pool)
    }
}

impl Shared {
    /// [`ProcessPoolExecutor::shutdown`].
    fn shutdown(&self, wait: bool, cancel_futures: bool) {
        let cancelled = {
            let mut st = self.state.lock();
            st.shut_down = true;
            self.shut_down.store(true, Ordering::Release);
            let mut cancelled = Vec::new();
            if cancel_futures {
                while let Some((id, _call)) = st.queue.pop_front() {
                    if let Some(entry) = st.tasks.remove(&id) {
                        cancelled.push(entry.task);
                    }
                }
            }
            close_idle(&mut st);
            cancelled
        };
        for task in cancelled {
            finish(task, Finish::Cancel);
        }
        if wait {
            self.join_reader();
        }
    }

    fn join_reader(&self) {
        if self.reader_id.get() == Some(&std::thread::current().id()) {
            // A done callback shutting the pool down: the reader cannot wait for itself.
            return;
        }
        // Held through the join: a second `shutdown(wait)` finds the handle taken, and must not
        // return before the first's join is over.
        let _joining = self.joining.lock();
        let handle = self.reader.lock().take();
        if let Some(handle) = handle {
            let _ = handle.join();
        }
    }
}

impl AtExit for Shared {
    fn shut_down(&self, wait: bool) {
        self.shutdown(wait, false);
    }

    fn registration(&self) -> &OnceLock<exit::Registration> {
        &self.exit
    }
}

/// A pool of worker processes that run plain functions over serde values (Python's
/// `concurrent.futures.ProcessPoolExecutor`).
///
/// [`submit`](Self::submit) sends `f(arg)` to a worker and returns its [`Future`];
/// [`map`](Self::map) runs `f` over an iterator in chunks and yields the results in order. The
/// workers are forks of the fork server (this program started once more), or, with
/// [`StartMethod::Spawn`], each one this program started again (see
/// [`ProcessPoolBuilder::start_method`]; the `__main__` guard, [`weft_process::main`] or
/// `weft::main`, must wrap `main` either way), so `f` is a `fn` item or a closure that captures
/// nothing, and arguments and results are serde types.
///
/// A panic in a task fails only its future ([`TaskError::Panicked`] with the message and where
/// in the worker it happened, as Python's remote traceback says). The worker's panic hook also
/// prints it on the worker's stderr, the parent's unless redirected, below a line naming the
/// worker (`worker process 'NAME' (pid N):`, `NAME` from
/// [`name_prefix`](ProcessPoolBuilder::name_prefix)), with the backtrace when `RUST_BACKTRACE`
/// asks for one, which the future does not carry; Python's worker prints nothing. A worker
/// that dies —
/// killed, crashed, aborted, or its initializer panicked — breaks the pool: every
/// task not yet answered fails with [`TaskError::BrokenPool`] naming what happened, and later
/// submits fail with [`SubmitError::BrokenPool`] (Python's `BrokenProcessPool`). So does one
/// whose channel closes while its process runs on (a task that exec'd another program), which
/// is killed after a second; in that second no future of the pool completes (one thread reads
/// every worker's replies), and replies that other workers send meanwhile fail with the pool.
/// Nothing hangs and no future is lost.
///
/// The workers start together at the first submit (all `max_workers`, as Python before 3.9), are
/// replaced after `max_tasks_per_child` tasks, and are reaped when the pool shuts down. Dropping
/// the pool waits for the submitted work, like leaving Python's `with` block. A pool never
/// dropped (a `static`, a leaked one) is shut down by `weft::main` once its body has returned,
/// which waits for its work, as Python's interpreter does at exit (the exit rule of
/// [`ThreadPoolExecutor`](crate::ThreadPoolExecutor), with its limits).
///
/// Calls are sent to a worker ahead of time so that it never waits for the next one: from 2 up
/// to 64 per worker, as many as about 0.5 ms of its recent tasks take. A sent call counts as
/// started, as a call in Python's call queue does (which holds `max_workers + 1`): its future is
/// [`running`](crate::Future::running), [`cancel`](crate::Future::cancel) refuses it, and
/// `shutdown(cancel_futures)` leaves it to run. After a burst of short tasks that can be many
/// more than Python's, and a short task sent behind a long one waits for it.
///
/// Done callbacks ([`add_done_callback`](crate::Future::add_done_callback)) run on the pool's
/// one reader thread, which completes every future of the pool (as Python's manager thread): a
/// callback that blocks holds up all of them, and one that waits for another future of this
/// pool (`result`, `exception`, [`wait`](crate::wait)) never returns, where a thread pool's
/// callback may submit and wait. Hand such work to another thread.
///
/// ```
/// use weft_executor::ProcessPoolExecutor;
///
/// fn square(x: u64) -> u64 {
///     x * x
/// }
///
/// fn main() {
///     weft_process::main(|| {
///         let pool = ProcessPoolExecutor::builder().max_workers(2).build().unwrap();
///         let f = pool.submit(square, 12).unwrap();
///         assert_eq!(f.result().unwrap(), 144);
///         let squares: Vec<u64> = pool
///             .map(square, 1..=4)
///             .chunksize(2)
///             .collect::<Result<_, _>>()
///             .unwrap();
///         assert_eq!(squares, [1, 4, 9, 16]);
///     })
/// }
/// ```
pub struct ProcessPoolExecutor {
    shared: Arc<Shared>,
}

struct Shared {
    /// Keeps the pool among those `weft::main` waits for at exit, until the pool is gone.
    exit: OnceLock<exit::Registration>,
    state: Mutex<State>,
    /// How to start a worker (initializer, max_tasks); each gets its own name.
    worker: WorkerBuilder,
    prefix: String,
    max_workers: usize,
    max_tasks: Option<u64>,
    /// The reader thread, once the workers are started.
    reader: Mutex<Option<JoinHandle<()>>>,
    /// The reader thread's id, once started: a done callback (which it runs) cannot wait for it.
    reader_id: OnceLock<std::thread::ThreadId>,
    /// Held by a `shutdown(wait)` while it joins the reader, so that another returns only after.
    joining: Mutex<()>,
    /// A quick look at `State::shut_down` for submits.
    shut_down: AtomicBool,
}

#[derive(Default)]
struct State {
    started: bool,
    shut_down: bool,
    /// Why the pool is broken.
    broken: Option<Arc<str>>,
    /// Set by terminate_workers / kill_workers: the reason given to the tasks they cut short.
    forced: Option<Arc<str>>,
    workers: Vec<Slot>,
    /// Calls not yet sent to a worker, in submission order.
    queue: VecDeque<(u64, Call)>,
    /// Every task not yet answered, queued or in flight.
    tasks: HashMap<u64, Entry>,
    next_id: u64,
    /// Workers started so far (for names).
    spawned: usize,
}

struct Entry {
    task: Box<dyn Task>,
    /// What its call is charged against its worker's byte budget, once sent.
    cost: usize,
}

/// One worker and what the pool has sent it.
struct Slot {
    worker: Arc<Worker>,
    in_flight: usize,
    bytes: usize,
    sent: u64,
    /// It has had `max_tasks_per_child` calls: it will retire once it has answered them.
    retiring: bool,
    /// Closed by a shutdown: its end is expected.
    closing: bool,
    /// Its initializer failed, or it refused to start: its end breaks the pool with this.
    failed: Option<String>,
    depth: usize,
    /// The mean time between replies while it was busy, in nanoseconds (an EWMA), and when the
    /// last reply came with more calls still in flight.
    service_ns: f64,
    busy_since: Option<Instant>,
}

impl Slot {
    fn new(worker: Worker) -> Self {
        Slot {
            worker: Arc::new(worker),
            in_flight: 0,
            bytes: 0,
            sent: 0,
            retiring: false,
            closing: false,
            failed: None,
            depth: MIN_DEPTH,
            service_ns: 0.0,
            busy_since: None,
        }
    }

    /// Whether `call` may be sent now. Within the depth and the byte budget, always: the
    /// socket takes it without blocking. Over the budget, only when nothing is in flight and
    /// the worker is ready: it is waiting in its read then, while one still starting or in its
    /// initializer reads nothing, and the write (on the reader thread, or a submitter's) would
    /// block until it is done.
    fn has_room(&self, call: &Call, max_tasks: Option<u64>) -> bool {
        !self.retiring
            && !self.closing
            && self.failed.is_none()
            && max_tasks.is_none_or(|max| self.sent < max)
            && ((self.in_flight < self.depth && self.bytes + cost(call) <= BYTE_BUDGET)
                || (self.in_flight == 0 && self.worker.is_ready()))
    }

    /// Learns the worker's pace from a reply that came at `now`.
    fn replied(&mut self, now: Instant) {
        if let Some(since) = self.busy_since {
            let sample = now.saturating_duration_since(since).as_nanos() as f64;
            self.service_ns = if self.service_ns == 0.0 {
                sample
            } else {
                0.75 * self.service_ns + 0.25 * sample
            };
            let fit = WINDOW.as_nanos() as f64 / self.service_ns.max(1.0);
            self.depth = (fit as usize).clamp(MIN_DEPTH, MAX_DEPTH);
        }
        self.busy_since = (self.in_flight > 0).then_some(now);
    }
}

/// How a task ends, for its typed completion.
enum Finish {
    Reply(Reply),
    Cancel,
    Broken(Arc<str>),
}

/// A task's promise, with the type its reply decodes as.
trait Task: Send {
    /// Whether the future was cancelled (or its cancel has begun): the call is not to be sent.
    fn cancelled(&self) -> bool;
    /// Moves the future to running; `false` if it was cancelled (then it is not sent).
    fn start(&self) -> bool;
    fn finish(self: Box<Self>, how: Finish);
}

struct Typed<T> {
    promise: Promise<T>,
    _result: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned + Send + 'static> Task for Typed<T> {
    fn cancelled(&self) -> bool {
        self.promise.is_cancelled()
    }

    fn start(&self) -> bool {
        self.promise.set_running()
    }

    fn finish(self: Box<Self>, how: Finish) {
        match how {
            Finish::Reply(reply) => {
                // A user `Deserialize` that panics fails this task, not the reader thread.
                let result = catch_unwind(AssertUnwindSafe(|| reply.into_result::<T>()))
                    .unwrap_or_else(|payload| {
                        Err(CallError::ResultDecode(format!(
                            "decoding the result panicked: {}",
                            weft_sync::into_panic_message(payload)
                        )))
                    });
                self.promise.complete(result.map_err(task_error));
            }
            Finish::Cancel => self.promise.cancel(),
            Finish::Broken(reason) => self.promise.complete(Err(TaskError::BrokenPool {
                reason: reason.to_string(),
            })),
        }
    }
}

fn task_error(e: CallError) -> TaskError {
    match e {
        CallError::Panicked { message, location } => TaskError::Panicked { message, location },
        other => TaskError::Serialize {
            message: other.to_string(),
        },
    }
}

/// The tasks a breakage takes out, with the reason they fail with.
type Broken = (Arc<str>, Vec<Box<dyn Task>>);

/// Calls to write to workers once the state mutex is released.
type Sends = Vec<(Arc<Worker>, u64, Call)>;

impl ProcessPoolExecutor {
    /// A pool with Python's defaults: one worker process per CPU.
    pub fn new() -> Self {
        Self::builder()
            .build()
            .unwrap_or_else(|_| unreachable!("the default worker count is not zero"))
    }

    /// A builder for a configured pool.
    pub fn builder() -> ProcessPoolBuilder {
        ProcessPoolBuilder::default()
    }

    /// How many worker processes the pool runs.
    pub fn max_workers(&self) -> usize {
        self.shared.max_workers
    }

    /// The process ids of the workers running now (none before the first submit).
    pub fn worker_pids(&self) -> Vec<u32> {
        let st = self.shared.state.lock();
        st.workers.iter().map(|s| s.worker.pid()).collect()
    }

    /// Sends `f(arg)` to a worker process and returns its future (Python's `submit(fn, arg)`).
    /// A panic in `f` fails the future with [`TaskError::Panicked`] (its message and location);
    /// a result that serde cannot carry (or an argument the worker cannot decode) fails it with
    /// [`TaskError::Serialize`]. An accepted `arg` (its call made) is dropped in this thread,
    /// outside the pool's lock; a panic in its `Drop` is ignored (the panic hook prints it), as
    /// Python ignores an exception in `__del__`, and the future still comes back.
    ///
    /// # Errors
    /// `arg` comes back inside the error each time. An argument that cannot be encoded here
    /// (its `Serialize` returns an error or panics), or whose message is over the 64 MiB frame
    /// limit or carries more than 32 connections or queues, is refused with
    /// [`SubmitError::Serialize`], and so is an `f` that lives in a shared library (the message
    /// of [`FunctionNotInExecutable`](weft_process::ProcessError::FunctionNotInExecutable)); a
    /// submit after [`shutdown`](Self::shutdown) (or once the program's exit has begun) with
    /// [`SubmitError::ShutDown`], and once the pool is broken with [`SubmitError::BrokenPool`]
    /// (also after a shutdown, as Python's `BrokenProcessPool` comes before its
    /// `RuntimeError`). The first submit, which starts the workers, breaks the pool and returns
    /// [`SubmitError::BrokenPool`] if not one of them can start (in a program that never
    /// called [`weft_process::main`] or [`weft_process::init`], for one).
    ///
    /// ```
    /// fn add((a, b): (i64, i64)) -> i64 {
    ///     a + b
    /// }
    ///
    /// fn main() {
    ///     weft_process::main(|| {
    ///         let pool = weft_executor::ProcessPoolExecutor::builder()
    ///             .max_workers(1)
    ///             .build()
    ///             .unwrap();
    ///         assert_eq!(pool.submit(add, (2, 3)).unwrap().result().unwrap(), 5);
    ///         pool.shutdown(true, false);
    ///         let refused = pool.submit(add, (4, 5)).unwrap_err();
    ///         assert_eq!(refused.into_inner(), (4, 5));
    ///     })
    /// }
    /// ```
    ///
    /// Without the child-process guard no worker can start, and the first submit breaks the pool:
    ///
    /// ```
    /// use weft_executor::{ProcessPoolExecutor, SubmitError};
    ///
    /// fn double(x: u32) -> u32 {
    ///     x * 2
    /// }
    ///
    /// // This doctest never called `weft_process::init` or `main`.
    /// let pool = ProcessPoolExecutor::builder().max_workers(1).build().unwrap();
    /// let err = pool.submit(double, 21).unwrap_err();
    /// assert!(matches!(err, SubmitError::BrokenPool { .. }));
    /// assert_eq!(err.into_inner(), 21);
    /// ```
    pub fn submit<A, R>(&self, f: fn(A) -> R, arg: A) -> Result<Future<R>, SubmitError<A>>
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        if self.shared.shut_down.load(Ordering::Acquire) {
            return Err(self.closed(arg));
        }
        // Encoded in the submitting thread. An argument whose `Serialize` panics is refused
        // (`Call::new` catches the panic) as one whose `Serialize` fails: it comes back in
        // `SubmitError::Serialize` and the pool stays usable (Python's `submit` fails the
        // future with what `__reduce__` raised; its `map` raises it at that item).
        match Call::new(f, &arg) {
            Ok(call) => self.submit_call(call, arg),
            Err(e) => self.refuse(arg, e),
        }
    }

    /// A chunk of `map`: `f` over each of `args` in one call.
    fn submit_chunk<A, R>(
        &self,
        f: fn(A) -> R,
        args: Vec<A>,
    ) -> Result<Future<Vec<R>>, SubmitError<Vec<A>>>
    where
        A: Serialize + DeserializeOwned,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        if self.shared.shut_down.load(Ordering::Acquire) {
            return Err(self.closed(args));
        }
        match Call::chunk(f, &args) {
            Ok(call) => self.submit_call(call, args),
            Err(e) => self.refuse(args, e),
        }
    }

    /// The refusal of a submit to a pool that takes no more work, `arg` given back: broken
    /// before shut down, as Python's `submit` checks `_broken` first (`BrokenProcessPool`, not
    /// `RuntimeError`, once both hold).
    fn closed<A>(&self, arg: A) -> SubmitError<A> {
        refusal(&self.shared.state.lock(), arg).unwrap_or_else(|arg| SubmitError::ShutDown(arg))
    }

    /// A call that could not be made: the pool's refusal if it has one, else the codec's, with
    /// the argument given back.
    fn refuse<A, T>(&self, arg: A, e: ProcessError) -> Result<Future<T>, SubmitError<A>> {
        let arg = match refusal(&self.shared.state.lock(), arg) {
            Ok(refused) => return Err(refused),
            Err(arg) => arg,
        };
        Err(SubmitError::Serialize {
            message: e.to_string(),
            value: arg,
        })
    }

    fn submit_call<A, T>(&self, call: Call, arg: A) -> Result<Future<T>, SubmitError<A>>
    where
        T: DeserializeOwned + Send + 'static,
    {
        let (promise, future) = promise::<T, Infallible>();
        // The argument leaves the locked block with the calls: its `Drop` is user code, which
        // must not run under the pool's lock, nor, by panicking there, drop the calls just
        // handed to a worker (counted in flight for ever, so that the pool's shutdown and
        // drop never returned).
        let (sends, arg) = {
            let mut st = self.shared.state.lock();
            let arg = match refusal(&st, arg) {
                Ok(refused) => return Err(refused),
                Err(arg) => arg,
            };
            if !st.started
                && let Err(reason) = self.start_workers(&mut st)
            {
                return Err(SubmitError::BrokenPool { reason, value: arg });
            }
            let id = st.next_id;
            st.next_id += 1;
            st.tasks.insert(
                id,
                Entry {
                    task: Box::new(Typed {
                        promise,
                        _result: PhantomData,
                    }),
                    cost: 0,
                },
            );
            st.queue.push_back((id, call));
            (dispatch(&mut st, self.shared.max_tasks), arg)
        };
        send_all(sends);
        // The task is the worker's now, and its future the caller's: a panic in the argument's
        // `Drop` is ignored (the panic hook has printed it), as Python ignores an exception
        // raised in `__del__`.
        if let Err(payload) = catch_unwind(AssertUnwindSafe(move || drop(arg))) {
            weft_sync::drop_panic_payload(payload);
        }
        Ok(future)
    }

    /// Starts every worker and the reader thread (the first submit). An error if not one worker
    /// could start (the pool is then broken).
    fn start_workers(&self, st: &mut State) -> Result<(), String> {
        st.started = true;
        let mut failure = None;
        for _ in 0..self.shared.max_workers {
            match spawn_worker(&self.shared, st) {
                Ok(slot) => st.workers.push(slot),
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        if st.workers.is_empty() {
            let reason = format!(
                "cannot start a worker process: {}",
                failure.unwrap_or_else(|| "no worker".into())
            );
            st.broken = Some(reason.as_str().into());
            return Err(reason);
        }
        let shared = Arc::clone(&self.shared);
        // A main thread's stack (8 MiB, where a thread's default is 2 MiB): the reader drops the
        // results nobody waits for, and a deeply nested one drops recursively, as it would on
        // the main thread. (Decoding grows its own stack: see weft-process's `wire::decode`.)
        let started = std::thread::Builder::new()
            .name(format!("{}-reader", self.shared.prefix))
            .stack_size(8 << 20)
            .spawn(move || reader(shared));
        match started {
            Ok(handle) => {
                let _ = self.shared.reader_id.set(handle.thread().id());
                *self.shared.reader.lock() = Some(handle);
                Ok(())
            }
            Err(e) => {
                for slot in &st.workers {
                    let _ = slot.worker.kill();
                    slot.worker.join();
                }
                st.workers.clear();
                let reason = format!("cannot start the pool's reader thread: {e}");
                st.broken = Some(reason.as_str().into());
                Err(reason)
            }
        }
    }

    /// Runs `f` over `items` in the worker processes and yields the results in input order
    /// (Python's `map(fn, iterable, chunksize=n)`); see [`Map`] for `chunksize` (set it for cheap
    /// functions: each chunk is one message each way), read-ahead and timeouts. A panic fails
    /// the item's whole chunk, as an exception does in Python's chunks.
    ///
    /// ```
    /// fn len(s: String) -> usize {
    ///     s.len()
    /// }
    ///
    /// fn main() {
    ///     weft_process::main(|| {
    ///         let pool = weft_executor::ProcessPoolExecutor::builder()
    ///             .max_workers(2)
    ///             .build()
    ///             .unwrap();
    ///         let words = ["a", "bb", "ccc"].map(String::from);
    ///         let lens: Vec<usize> = pool.map(len, words).map(Result::unwrap).collect();
    ///         assert_eq!(lens, [1, 2, 3]);
    ///     })
    /// }
    /// ```
    pub fn map<'a, A, R, I>(&'a self, f: fn(A) -> R, items: I) -> Map<'a, R>
    where
        A: Serialize + DeserializeOwned + 'a,
        R: Serialize + DeserializeOwned + Send + 'static,
        I: IntoIterator<Item = A>,
        I::IntoIter: 'a,
    {
        let mut items = items.into_iter();
        let len = match items.size_hint() {
            (lo, Some(hi)) if lo == hi => Some(lo),
            _ => None,
        };
        Map::new(
            Box::new(move |n| {
                let chunk: Vec<A> = items.by_ref().take(n).collect();
                if chunk.is_empty() {
                    return None;
                }
                Some(self.submit_chunk(f, chunk).map_err(submit_to_task_error))
            }),
            len,
        )
    }

    /// Stops taking work (Python's `shutdown(wait, cancel_futures)`): later submits fail with
    /// [`SubmitError::ShutDown`] ([`SubmitError::BrokenPool`] once the pool is broken, as in
    /// Python). With `cancel_futures`, the tasks not yet sent to a worker are
    /// cancelled; otherwise the workers run them. With `wait`, returns once every task has
    /// ended and every worker process has exited and been reaped, except when called from a
    /// done callback: those run on the pool's reader thread, which cannot wait for itself, so
    /// the call returns at once (the pool's drop still waits). Calling it again is harmless.
    ///
    /// ```
    /// fn one(_: ()) -> u8 {
    ///     1
    /// }
    ///
    /// fn main() {
    ///     weft_process::main(|| {
    ///         let pool = weft_executor::ProcessPoolExecutor::builder()
    ///             .max_workers(1)
    ///             .build()
    ///             .unwrap();
    ///         let f = pool.submit(one, ()).unwrap();
    ///         pool.shutdown(true, false);
    ///         assert_eq!(f.result().unwrap(), 1);
    ///         assert!(pool.submit(one, ()).unwrap_err().is_shut_down());
    ///     })
    /// }
    /// ```
    pub fn shutdown(&self, wait: bool, cancel_futures: bool) {
        self.shared.shutdown(wait, cancel_futures);
    }

    /// Shuts the pool down without waiting, cancelling the tasks not yet sent, and sends SIGTERM
    /// to every worker (Python 3.14's `terminate_workers()`): the tasks they were running fail
    /// with [`TaskError::BrokenPool`]. The workers are reaped by the pool.
    pub fn terminate_workers(&self) {
        self.force(
            "the worker processes were terminated (terminate_workers)",
            |w| {
                let _ = w.terminate();
            },
        );
    }

    /// As [`terminate_workers`](Self::terminate_workers), with SIGKILL (Python 3.14's
    /// `kill_workers()`).
    pub fn kill_workers(&self) {
        self.force("the worker processes were killed (kill_workers)", |w| {
            let _ = w.kill();
        });
    }

    fn force(&self, reason: &str, signal: fn(&Worker)) {
        self.shared.state.lock().forced = Some(reason.into());
        // Shut down (the queue cancelled) before the workers are listed: from then on the reader
        // starts no replacement, so no worker escapes the signal.
        self.shutdown(false, true);
        let workers: Vec<Arc<Worker>> = {
            let st = self.shared.state.lock();
            st.workers.iter().map(|s| Arc::clone(&s.worker)).collect()
        };
        for w in workers {
            signal(&w);
        }
    }

    /// Why the pool is broken, if it is.
    pub fn broken(&self) -> Option<String> {
        self.shared
            .state
            .lock()
            .broken
            .as_deref()
            .map(str::to_owned)
    }
}

impl Default for ProcessPoolExecutor {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for ProcessPoolExecutor {
    fn drop(&mut self) {
        self.shutdown(true, false);
    }
}

impl fmt::Debug for ProcessPoolExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.shared.state.lock();
        f.debug_struct("ProcessPoolExecutor")
            .field("max_workers", &self.shared.max_workers)
            .field("workers", &st.workers.len())
            .field("queued", &st.queue.len())
            .field("unanswered", &st.tasks.len())
            .field("shut_down", &st.shut_down)
            .field("broken", &st.broken)
            .finish()
    }
}

impl Executor for ProcessPoolExecutor {
    fn submit<A: Payload, R: Payload>(
        &self,
        f: fn(A) -> R,
        arg: A,
    ) -> Result<Future<R>, SubmitError<A>> {
        ProcessPoolExecutor::submit(self, f, arg)
    }

    fn map<'a, A, R, I>(&'a self, f: fn(A) -> R, items: I) -> Map<'a, R>
    where
        A: Payload,
        R: Payload,
        I: IntoIterator<Item = A>,
        I::IntoIter: 'a,
    {
        ProcessPoolExecutor::map(self, f, items)
    }

    fn shutdown(&self, wait: bool, cancel_futures: bool) {
        ProcessPoolExecutor::shutdown(self, wait, cancel_futures);
    }
}

/// Why the pool takes no more work, `arg` given back inside: [`SubmitError::BrokenPool`] once it
/// is broken, shut down or not (Python's `submit` checks `_broken` before `_shutdown_thread`),
/// else [`SubmitError::ShutDown`] once it is shut down or the program's exit has begun
/// (`weft_thread::is_exiting`); `Err(arg)` if it still takes work.
fn refusal<A>(st: &State, arg: A) -> Result<SubmitError<A>, A> {
    if let Some(reason) = &st.broken {
        return Ok(SubmitError::BrokenPool {
            reason: reason.to_string(),
            value: arg,
        });
    }
    // Python's global `_global_shutdown`: no pool takes work once the program's exit has begun
    // (the exit sets the flag before it shuts any pool down, under this pool's lock).
    if st.shut_down || weft_thread::is_exiting() {
        return Ok(SubmitError::ShutDown(arg));
    }
    Err(arg)
}

fn spawn_worker(shared: &Shared, st: &mut State) -> Result<Slot, String> {
    let name = format!("{}-{}", shared.prefix, st.spawned);
    st.spawned += 1;
    shared
        .worker
        .clone()
        .name(name)
        .start()
        .map(Slot::new)
        .map_err(|e| e.to_string())
}

/// Hands queued calls to the workers with room, least loaded first; returns the writes to make
/// once the mutex is released. A call whose future was cancelled meanwhile is dropped here, as
/// soon as it is met, before any worker is looked at: a cancelled call over the byte budget
/// must not keep the calls behind it waiting for an idle worker (Python's pool skips a
/// cancelled work item as it fills its call queue).
fn dispatch(st: &mut State, max_tasks: Option<u64>) -> Sends {
    let mut sends = Vec::new();
    loop {
        drop_cancelled_head(st);
        let Some((id, call)) = st.queue.pop_front() else {
            break;
        };
        let Some(entry) = st.tasks.get_mut(&id) else {
            continue;
        };
        let best = st
            .workers
            .iter()
            .enumerate()
            .filter(|(_, s)| s.has_room(&call, max_tasks))
            .min_by_key(|(_, s)| s.in_flight)
            .map(|(i, _)| i);
        let Some(i) = best else {
            st.queue.push_front((id, call));
            break;
        };
        if !entry.task.start() {
            // Cancelled since the look above: its future already answers Cancelled.
            st.tasks.remove(&id);
            continue;
        }
        let charge = cost(&call);
        entry.cost = charge;
        let slot = &mut st.workers[i];
        if slot.in_flight == 0 {
            slot.busy_since = Some(Instant::now());
        }
        slot.in_flight += 1;
        slot.bytes += charge;
        slot.sent += 1;
        if max_tasks == Some(slot.sent) {
            slot.retiring = true;
        }
        sends.push((Arc::clone(&slot.worker), id, call));
    }
    trim(st);
    sends
}

/// Drops the calls at the head of the queue whose futures were cancelled (or are gone), which
/// [`dispatch`] does before each call it sends: the queue is then empty or starts with a call
/// still to send.
fn drop_cancelled_head(st: &mut State) {
    while let Some((id, _)) = st.queue.front() {
        if st
            .tasks
            .get(id)
            .is_some_and(|entry| !entry.task.cancelled())
        {
            return;
        }
        if let Some((id, _call)) = st.queue.pop_front() {
            // Its future already answers Cancelled.
            st.tasks.remove(&id);
        }
    }
}

/// The room the task table and the queue keep below which they are never shrunk.
const KEPT_ROOM: usize = 64;

/// Gives back the room of the task table and the queue after a burst, so that an idle pool's
/// footprint does not keep its largest burst's: a container holding under an eighth of its
/// capacity shrinks to twice what it holds (at least [`KEPT_ROOM`]). The entries a shrink moves
/// are at most about as many as were removed since the container last grew or shrank, so the
/// shrinks cost O(1) a task, amortized.
fn trim(st: &mut State) {
    fn wasteful(len: usize, capacity: usize) -> bool {
        capacity > KEPT_ROOM && len < capacity / 8
    }
    if wasteful(st.tasks.len(), st.tasks.capacity()) {
        st.tasks.shrink_to((st.tasks.len() * 2).max(KEPT_ROOM));
    }
    if wasteful(st.queue.len(), st.queue.capacity()) {
        st.queue.shrink_to((st.queue.len() * 2).max(KEPT_ROOM));
    }
}

/// Writes the calls. A write fails when its worker has ended (the reader thread then sees that
/// end and answers the call's future) or when the channel broke midway (no memory, a partial
/// frame): then the worker is killed, so its end breaks the pool and no call waits forever.
fn send_all(sends: Sends) {
    for (worker, id, call) in sends {
        if worker.send(id, call).is_err() {
            let _ = worker.kill();
        }
    }
}

/// After a shutdown, once no call waits to be sent: closes the workers with nothing in flight
/// (the others are closed by the reader thread when their last reply comes).
fn close_idle(st: &mut State) {
    if !st.shut_down || !st.queue.is_empty() {
        return;
    }
    for slot in &mut st.workers {
        if slot.in_flight == 0 && !slot.closing {
            slot.closing = true;
            slot.worker.close();
        }
    }
}

/// Breaks the pool: every task not yet answered is taken out to fail with `reason`, and the
/// workers are killed (their tasks are lost with the pool, as Python's `_terminate_broken`).
fn break_pool(st: &mut State, reason: &str) -> Broken {
    let reason: Arc<str> = st.broken.get_or_insert_with(|| reason.into()).clone();
    st.queue.clear();
    let failed = st.tasks.drain().map(|(_, e)| e.task).collect();
    for slot in &mut st.workers {
        slot.closing = true;
        let _ = slot.worker.kill();
    }
    (reason, failed)
}

/// What one worker said since the last look.
#[derive(Default)]
struct Heard {
    replies: Vec<Reply>,
    retired: bool,
    failed: Option<String>,
    ended: bool,
}

/// The reader thread: waits on every worker, completes the futures, refills the workers,
/// replaces retired ones and breaks the pool when one dies. Ends when every worker has ended.
fn reader(shared: Arc<Shared>) {
    let _guard = ReaderGuard(Arc::clone(&shared));
    loop {
        let live: Vec<Arc<Worker>> = {
            let st = shared.state.lock();
            st.workers.iter().map(|s| Arc::clone(&s.worker)).collect()
        };
        if live.is_empty() {
            return;
        }
        let refs: Vec<&Worker> = live.iter().map(|w| &**w).collect();
        let ready = match Worker::wait_any(&refs, None) {
            Ok(ready) => ready,
            Err(e) => {
                let failed = {
                    let mut st = shared.state.lock();
                    break_pool(&mut st, &format!("the pool cannot watch its workers: {e}"))
                };
                fail_all(failed);
                // Every worker was killed: reap them and stop.
                for w in &live {
                    w.join();
                }
                shared.state.lock().workers.clear();
                return;
            }
        };
        let mut heard: Vec<(usize, Heard)> = Vec::with_capacity(ready.len());
        for i in ready {
            let mut h = Heard::default();
            loop {
                match live[i].try_recv() {
                    Ok(Some(WorkerEvent::Reply(r))) => h.replies.push(r),
                    Ok(Some(WorkerEvent::Retired)) => h.retired = true,
                    Ok(Some(WorkerEvent::InitializerFailed { message })) => {
                        h.failed = Some(format!("a worker's initializer panicked: {message}"))
                    }
                    Ok(Some(WorkerEvent::StartFailed { reason })) => {
                        h.failed = Some(format!("a worker could not start: {reason}"))
                    }
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(ConnectionError::Closed) => {
                        h.ended = true;
                        break;
                    }
                    Err(e) => {
                        // Its replies can no longer be read: it is of no more use, and must end
                        // before it is reaped.
                        h.failed = Some(format!("a worker's channel failed: {e}"));
                        let _ = live[i].kill();
                        h.ended = true;
                        break;
                    }
                }
            }
            heard.push((i, h));
        }
        // The ended workers are reaped before the state is looked at, so their exit status is
        // known; their socket has closed, so they are exiting already. Unless their end was
        // expected, the pool breaks whatever the status says: one still running after
        // `REAP_GRACE` (a task that exec'd another program, or closed the socket) is killed,
        // for every future of the pool waits on this thread.
        let expected: Vec<bool> = {
            let st = shared.state.lock();
            heard
                .iter()
                .map(|(i, h)| end_expected(&st.workers[*i], h))
                .collect()
        };
        let mut codes: HashMap<usize, (i32, bool)> = HashMap::new();
        for ((i, h), expected) in heard.iter().zip(expected) {
            if h.ended {
                codes.insert(*i, reap(&live[*i], expected));
            }
        }
        let now = Instant::now();
        let mut done: Vec<(Box<dyn Task>, Finish)> = Vec::new();
        let mut broken: Option<Broken> = None;
        let sends = {
            let mut st = shared.state.lock();
            let State { workers, tasks, .. } = &mut *st;
            for (i, h) in &mut heard {
                let slot = &mut workers[*i];
                if let Some(why) = h.failed.take() {
                    slot.failed = Some(why);
                }
                slot.retiring |= h.retired;
                for reply in h.replies.drain(..) {
                    slot.in_flight = slot.in_flight.saturating_sub(1);
                    if let Some(entry) = tasks.remove(&reply.id()) {
                        slot.bytes = slot.bytes.saturating_sub(entry.cost);
                        done.push((entry.task, Finish::Reply(reply)));
                    }
                    slot.replied(now);
                }
            }
            // Ends, highest index first so the others keep theirs.
            let mut ended: Vec<usize> = heard
                .iter()
                .filter(|(_, h)| h.ended)
                .map(|(i, _)| *i)
                .collect();
            ended.sort_unstable_by(|a, b| b.cmp(a));
            let mut replace = 0;
            for i in ended {
                let slot = st.workers.remove(i);
                let (code, lingered) = codes.get(&i).copied().unwrap_or((-1, false));
                let clean = code == 0 && slot.in_flight == 0 && !lingered;
                if st.broken.is_some() {
                    // Killed as the pool broke.
                } else if let Some(why) = slot.failed {
                    broken = Some(break_pool(&mut st, &why));
                } else if slot.retiring && clean {
                    replace += 1;
                } else if !(slot.closing && clean) {
                    let why = match &st.forced {
                        Some(forced) => forced.to_string(),
                        None if lingered => lingered_on(slot.worker.pid()),
                        None => ended_abruptly(slot.worker.pid(), code),
                    };
                    broken = Some(break_pool(&mut st, &why));
                }
            }
            // Whether the queue still holds work is known once the calls cancelled since the
            // last dispatch are out of it: a shut-down pool whose queue held only those started a
            // replacement here, and `close_idle` closed it straight away.
            drop_cancelled_head(&mut st);
            let wanted = !(st.shut_down && st.queue.is_empty()) && st.broken.is_none();
            for _ in 0..replace {
                if !wanted {
                    break;
                }
                match spawn_worker(&shared, &mut st) {
                    Ok(slot) => st.workers.push(slot),
                    Err(e) if st.workers.is_empty() => {
                        let why = format!("cannot replace a retired worker process: {e}");
                        broken = Some(break_pool(&mut st, &why));
                    }
                    // The other workers take the queue.
                    Err(_) => {}
                }
            }
            let sends = dispatch(&mut st, shared.max_tasks);
            // A shut-down pool's workers end once their last reply has come.
            close_idle(&mut st);
            sends
        };
        send_all(sends);
        if let Some(broken) = broken {
            fail_all(broken);
        }
        for (task, how) in done {
            finish(task, how);
        }
    }
}

fn fail_all((reason, failed): Broken) {
    for task in failed {
        finish(task, Finish::Broken(Arc::clone(&reason)));
    }
}

/// Ends a task on the reader thread. Whatever user code runs there (a result's `Drop` when its
/// future is gone, a waker) cannot take the reader down with it.
fn finish(task: Box<dyn Task>, how: Finish) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(|| task.finish(how))) {
        weft_sync::drop_panic_payload(payload);
    }
}

/// Breaks the pool if the reader thread unwinds anyway: no future is left waiting for a reader
/// that is gone.
struct ReaderGuard(Arc<Shared>);

impl Drop for ReaderGuard {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let broken = break_pool(
                &mut self.0.state.lock(),
                "the pool's reader thread panicked",
            );
            fail_all(broken);
        }
    }
}

/// How long the reader waits for a worker whose socket closed unexpectedly to exit before it
/// kills it. A process closes its sockets as it exits, so only one that lives on past its
/// channel (a task that exec'd another program, or closed the descriptor) is still running then.
const REAP_GRACE: Duration = Duration::from_secs(1);

/// Whether a worker whose socket closed was expected to end: retired or closed by a shutdown,
/// its calls all answered (counting the replies just heard), and no failure reported.
fn end_expected(slot: &Slot, heard: &Heard) -> bool {
    heard.ended
        && heard.failed.is_none()
        && slot.failed.is_none()
        && (slot.closing || slot.retiring || heard.retired)
        && slot.in_flight <= heard.replies.len()
}

/// Reaps a worker whose socket closed: its exit code, and whether it had to be killed for
/// still running `REAP_GRACE` after an unexpected end (an expected one is waited for).
fn reap(worker: &Worker, expected: bool) -> (i32, bool) {
    if expected {
        return (worker.join(), false);
    }
    match worker.join_timeout(REAP_GRACE) {
        Some(code) => (code, false),
        None => {
            let _ = worker.kill();
            (worker.join(), true)
        }
    }
}

/// Why the pool broke when a worker's channel closed while its process ran on.
fn lingered_on(pid: u32) -> String {
    format!(
        "a worker process (pid {pid}) closed its channel but did not exit (did a task exec \
         another program?): it was killed"
    )
}

/// Python's "A process in the process pool was terminated abruptly", with what happened.
fn ended_abruptly(pid: u32, code: i32) -> String {
    let how = if code < 0 {
        ProcessError::Signaled { signal: -code }.to_string()
    } else {
        format!("the worker process exited with code {code}")
    };
    format!("a worker process (pid {pid}) ended abruptly: {how}")
}
