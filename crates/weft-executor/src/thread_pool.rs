//! `ThreadPoolExecutor`: a pool of reusable worker threads that run closures and return futures.

use std::cell::Cell;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender, TryRecvError};
use parking_lot::{Mutex, RwLock};

use crate::error::{SubmitError, TaskError};
use crate::exit::{self, AtExit};
use crate::future::{promise, Future, Outcome};
use crate::map::Map;

/// What a worker does with a job it takes off the queue.
enum Action<'a> {
    /// Run on a worker of this pool.
    Run(&'a Shared),
    Cancel,
    Break(Arc<str>),
}

type Job = Box<dyn for<'a> FnOnce(Action<'a>) + Send>;

/// Settles a job that will not run (`Cancel`, `Break`): its future is completed first, then the
/// task is dropped, whose captures are user code. A panic there is printed by the panic hook and
/// otherwise ignored (as Python ignores an exception in `__del__`), so that the caller goes on
/// settling the rest of the queue.
fn settle(job: Job, action: Action<'_>) {
    if let Err(payload) =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || job(action)))
    {
        weft_sync::drop_panic_payload(payload);
    }
}

static NEXT_POOL: AtomicUsize = AtomicUsize::new(1);

thread_local! {
    /// The id of the pool whose worker this thread is (0: none), so `shutdown(wait)` from a task
    /// does not wait for its own thread.
    static CURRENT_POOL: Cell<usize> = const { Cell::new(0) };
}

/// An error returned from [`ThreadPoolBuilder::build`] (Python's `ValueError`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuildError {
    /// `max_workers` was zero: a pool needs at least one worker.
    ZeroWorkers,
    /// `max_tasks_per_child` was zero (a process pool's workers must run at least one task).
    ZeroMaxTasksPerChild,
    /// The name prefix holds a NUL byte, which no thread or process name may contain.
    NulInNamePrefix,
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ZeroWorkers => f.write_str("max_workers must be greater than 0"),
            Self::ZeroMaxTasksPerChild => f.write_str("max_tasks_per_child must be at least 1"),
            Self::NulInNamePrefix => f.write_str("the name prefix must not contain a NUL byte"),
        }
    }
}

impl std::error::Error for BuildError {}

/// A name prefix std can give a thread (and weft-process a process): no NUL byte.
pub(crate) fn check_prefix(prefix: Option<&str>) -> Result<(), BuildError> {
    match prefix {
        Some(p) if p.contains('\0') => Err(BuildError::NulInNamePrefix),
        _ => Ok(()),
    }
}

type Initializer = Arc<dyn Fn() + Send + Sync>;

/// Configures a [`ThreadPoolExecutor`] (Python's constructor arguments).
///
/// ```
/// use weft_executor::ThreadPoolExecutor;
///
/// let pool = ThreadPoolExecutor::builder()
///     .max_workers(4)
///     .thread_name_prefix("fetch")
///     .initializer(|| println!("worker ready"))
///     .build()
///     .unwrap();
/// assert_eq!(pool.max_workers(), 4);
/// ```
///
/// A builder is `Clone` (the initializer is shared, not copied), so one configuration can build
/// several pools, and `Default`, the same as [`ThreadPoolExecutor::builder`].
#[must_use = "a builder does nothing until build() is called"]
#[derive(Clone, Default)]
pub struct ThreadPoolBuilder {
    max_workers: Option<usize>,
    prefix: Option<String>,
    initializer: Option<Initializer>,
}

impl fmt::Debug for ThreadPoolBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadPoolBuilder")
            .field("max_workers", &self.max_workers)
            .field("prefix", &self.prefix)
            .field("initializer", &self.initializer.is_some())
            .finish()
    }
}

impl ThreadPoolBuilder {
    /// The most threads the pool starts (default `min(32, cores + 4)`, as Python). Zero is an
    /// error at [`build`](Self::build).
    pub fn max_workers(mut self, n: usize) -> Self {
        self.max_workers = Some(n);
        self
    }

    /// Names the worker threads `<prefix>_0`, `<prefix>_1`, … (default
    /// `ThreadPoolExecutor-<pool>`, which an empty prefix also gives), as Python's
    /// `thread_name_prefix`.
    pub fn thread_name_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Some(prefix.into());
        self
    }

    /// Runs `f` at the start of each worker thread (Python's `initializer`). If it panics, the
    /// pool is broken: the tasks waiting in the queue fail with [`TaskError::BrokenPool`] and
    /// later submits with [`SubmitError::BrokenPool`].
    pub fn initializer(mut self, f: impl Fn() + Send + Sync + 'static) -> Self {
        self.initializer = Some(Arc::new(f));
        self
    }

    /// Builds the pool; no thread starts until work is submitted.
    ///
    /// # Errors
    /// [`BuildError::ZeroWorkers`] for `max_workers(0)`, [`BuildError::NulInNamePrefix`] for a
    /// name prefix with a NUL byte.
    pub fn build(self) -> Result<ThreadPoolExecutor, BuildError> {
        let max_workers = match self.max_workers {
            Some(0) => return Err(BuildError::ZeroWorkers),
            Some(n) => n,
            None => default_max_workers(),
        };
        check_prefix(self.prefix.as_deref())?;
        let id = NEXT_POOL.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = crossbeam_channel::unbounded();
        let pool = ThreadPoolExecutor {
            shared: Arc::new(Shared {
                exit: OnceLock::new(),
                id,
                tx: RwLock::new(Some(tx)),
                rx,
                idle: AtomicUsize::new(0),
                threads: Mutex::new(Vec::new()),
                started: AtomicUsize::new(0),
                max_workers,
                prefix: self
                    .prefix
                    .filter(|p| !p.is_empty())
                    .unwrap_or_else(|| format!("ThreadPoolExecutor-{id}")),
                initializer: self.initializer,
                broken: OnceLock::new(),
            }),
        };
        exit::register(&pool.shared);
        Ok(pool)
    }
}

fn default_max_workers() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    (cores + 4).min(32)
}

struct Shared {
    /// Keeps the pool among those `weft::main` waits for at exit, until the pool is gone.
    exit: OnceLock<exit::Registration>,
    id: usize,
    /// `None` once shut down. Submits hold the read lock from their checks to their send, so a
    /// shutdown or a breakage (write lock) sees every job sent before it.
    tx: RwLock<Option<Sender<Job>>>,
    rx: Receiver<Job>,
    /// Python's `_idle_semaphore`: one token per finished task; a submit that takes one starts
    /// no new thread.
    idle: AtomicUsize,
    threads: Mutex<Vec<JoinHandle<()>>>,
    started: AtomicUsize,
    max_workers: usize,
    prefix: String,
    initializer: Option<Initializer>,
    broken: OnceLock<Arc<str>>,
}

impl Shared {
    /// [`ThreadPoolExecutor::shutdown`].
    fn shutdown(&self, wait: bool, cancel_futures: bool) {
        let tx = self.tx.write().take();
        let mut cancelled = Vec::new();
        if cancel_futures {
            while let Ok(job) = self.rx.try_recv() {
                cancelled.push(job);
            }
        }
        // Dropping the only sender disconnects the queue: workers drain it and exit. Before the
        // cancelled futures' callbacks run: one that shuts the pool down and waits (Python's
        // deadlocks there) must find the workers ending.
        drop(tx);
        for job in cancelled {
            settle(job, Action::Cancel);
        }
        if wait {
            self.join_workers();
        }
    }

    /// Joins the workers, holding the list so that a concurrent `shutdown(wait)` waits for this
    /// one to finish (no submit takes the list once `tx` is gone). A task of this pool does not
    /// wait for its own thread, whose handle goes back in the list for a later wait (the pool's
    /// drop), and does not block on the list: whoever holds it is joining every worker already.
    fn join_workers(&self) {
        let threads = if CURRENT_POOL.with(Cell::get) == self.id {
            match self.threads.try_lock() {
                Some(threads) => threads,
                None => return,
            }
        } else {
            self.threads.lock()
        };
        let mut threads = threads;
        let me = std::thread::current().id();
        let mut own = None;
        for h in std::mem::take(&mut *threads) {
            if h.thread().id() == me {
                own = Some(h);
            } else {
                let _ = h.join();
            }
        }
        threads.extend(own);
    }

    /// Breaks the pool: later submits fail and every queued job fails with `reason`.
    fn break_pool(&self, reason: String) {
        let (reason, queued) = {
            // The write lock waits out the submits under way, so every job sent before the pool
            // broke is drained here, and every later submit sees `broken`.
            let _gate = self.tx.write();
            let reason: Arc<str> = self.broken.get_or_init(|| reason.into()).clone();
            (reason, self.rx.try_iter().collect::<Vec<Job>>())
        };
        // Failing the futures runs their callbacks, which may submit: not under the lock.
        for job in queued {
            settle(job, Action::Break(Arc::clone(&reason)));
        }
    }

    fn next_job(&self) -> Option<Job> {
        match self.rx.try_recv() {
            Ok(job) => return Some(job),
            Err(TryRecvError::Disconnected) => return None,
            Err(TryRecvError::Empty) => {}
        }
        let mut got = None;
        let mut closed = false;
        let ready = crate::loom::spin_until(|| match self.rx.try_recv() {
            Ok(job) => {
                got = Some(job);
                true
            }
            Err(TryRecvError::Disconnected) => {
                closed = true;
                true
            }
            Err(TryRecvError::Empty) => false,
        });
        if ready {
            return if closed { None } else { got };
        }
        self.rx.recv().ok()
    }
}

fn worker(shared: Arc<Shared>) {
    CURRENT_POOL.with(|c| c.set(shared.id));
    if let Some(init) = &shared.initializer
        && let Err(payload) = catch_unwind(AssertUnwindSafe(|| init()))
    {
        let message = weft_sync::into_panic_message(payload);
        shared.break_pool(format!("a worker's initializer panicked: {message}"));
        return;
    }
    while let Some(job) = shared.next_job() {
        // Tasks and callbacks catch their own panics; this only keeps the worker alive should
        // anything else unwind (the job's promise then fails its future as it drops).
        // The job counts this worker idle (`Shared::job_done`) as it completes its future.
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| job(Action::Run(&shared)))) {
            weft_sync::drop_panic_payload(payload);
        }
    }
}

impl Shared {
    /// A worker finished its job's work: it is idle, counted before the job's future is published
    /// (so a submit made after the result never starts a thread beside it), or, when the future
    /// has done callbacks, which the worker runs, after them (so a callback that submits to the
    /// pool and waits finds no idle token that is not one).
    fn job_done(&self) {
        if self.started.load(Ordering::Relaxed) < self.max_workers {
            self.idle.fetch_add(1, Ordering::Release);
        }
    }
}

/// A pool of worker threads that run submitted closures (Python's
/// `concurrent.futures.ThreadPoolExecutor`).
///
/// [`submit`](Self::submit) queues a closure and returns its [`Future`]; [`map`](Self::map)
/// runs a function over an iterator and yields the results in order. Threads start lazily, one
/// per submit while none is idle, up to [`max_workers`](ThreadPoolBuilder::max_workers), and are
/// reused. A panic in a task fails only that task's future, with its location, and is not
/// printed (see [`submit`](Self::submit)). Dropping the pool waits for the
/// queued work, like leaving Python's `with` block; [`shutdown`](Self::shutdown) gives the other
/// choices. Dropped by one of its own tasks (the last handle was there), it does not wait: the
/// workers run the queued work and end by themselves, as Python's do when its executor is
/// collected, since another worker may be waiting for work queued behind that task.
///
/// At the program's exit, `weft::main` (or `weft_thread::main`) shuts down every pool still
/// alive once its body has returned, and waits for the work they run and have queued, as
/// Python's interpreter does at exit: a pool in a `static`, a leaked one, or one dropped by its
/// own task loses no work. From the body's end until `main` returns
/// ([`weft_thread::is_exiting`]), every submit to any pool fails with `ShutDown`, from the
/// threads and tasks still running, as Python refuses them once its interpreter's shutdown has
/// begun: no pool takes work once the exit has shut another down, and a pool made meanwhile
/// takes none (the exit still waits for it). A task that never ends holds the exit, as in
/// Python. Without `main`, nothing waits for such pools: the process's exit cuts their tasks
/// off. A child process of weft-process does the same at its own exit. `main` does this at
/// every call, to every pool of the process: a nested or second `main` shuts down the pools the
/// program still uses. The workers are plain std threads, not weft-thread's: `wait_non_daemon`
/// does not wait for them, and `enumerate` and `active_count` do not count them (Python counts
/// its pool's workers).
///
/// A task that waits for another task of the same pool holds its worker meanwhile: once all
/// `max_workers` workers wait so, the tasks they wait for stay queued and none returns (a
/// deadlock, as Python's docs warn). Wait with a timeout, or give such tasks their own pool.
///
/// ```
/// use weft_executor::ThreadPoolExecutor;
///
/// let pool = ThreadPoolExecutor::new();
/// let futures: Vec<_> = (1..=3).map(|i| pool.submit(move || i * 10).unwrap()).collect();
/// let results: Vec<i32> = futures.into_iter().map(|f| f.result().unwrap()).collect();
/// assert_eq!(results, [10, 20, 30]);
/// ```
pub struct ThreadPoolExecutor {
    shared: Arc<Shared>,
}

impl Default for ThreadPoolExecutor {
    fn default() -> Self {
        Self::new()
    }
}

impl ThreadPoolExecutor {
    /// A pool with Python's defaults: at most `min(32, cores + 4)` threads.
    pub fn new() -> Self {
        Self::builder()
            .build()
            .unwrap_or_else(|_| unreachable!("the default worker count is not zero"))
    }

    /// A builder for a configured pool.
    pub fn builder() -> ThreadPoolBuilder {
        ThreadPoolBuilder::default()
    }

    /// The most threads this pool starts.
    pub fn max_workers(&self) -> usize {
        self.shared.max_workers
    }

    /// How many worker threads have been started so far.
    ///
    /// ```
    /// let pool = weft_executor::ThreadPoolExecutor::new();
    /// assert_eq!(pool.worker_count(), 0); // lazy
    /// pool.submit(|| ()).unwrap().result().unwrap();
    /// assert_eq!(pool.worker_count(), 1);
    /// ```
    pub fn worker_count(&self) -> usize {
        self.shared.started.load(Ordering::Acquire)
    }

    /// Queues `task` and returns its future (Python's `submit(fn)`). A panic in `task` fails the
    /// future with [`TaskError::Panicked`], with the message and where it happened
    /// ([`TaskError::panic_location`]), and is not printed, as Python's pool prints nothing for an
    /// exception in a task: the task runs under [`weft_thread::catch_panic`], whose docs say
    /// the details (a panic the task catches itself is not printed either; a panic hook set
    /// with `std::panic::set_hook` after weft's prints them and leaves no location).
    ///
    /// # Errors
    /// The closure comes back inside the error: [`SubmitError::ShutDown`] after
    /// [`shutdown`](Self::shutdown) (or once the program's exit has begun),
    /// [`SubmitError::BrokenPool`] once the pool is broken (also after a shutdown, as in
    /// Python), [`SubmitError::Spawn`] when no worker runs and none can start.
    pub fn submit<F, T>(&self, task: F) -> Result<Future<T>, SubmitError<F>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.submit_with(task, |task| {
            weft_thread::catch_panic(task).map_err(panicked)
        })
    }

    /// Queues a fallible task: its `Err(e)` fails the future with [`TaskError::Failed`]`(e)`,
    /// as an exception raised in the function does in Python.
    ///
    /// # Errors
    /// As [`submit`](Self::submit), the closure back inside the error.
    ///
    /// ```
    /// use weft_executor::{TaskError, ThreadPoolExecutor};
    /// let pool = ThreadPoolExecutor::new();
    /// let f = pool.submit_fallible(|| "x".parse::<u32>()).unwrap();
    /// assert!(matches!(f.result(), Err(TaskError::Failed(_))));
    /// ```
    pub fn submit_fallible<F, T, E>(&self, task: F) -> Result<Future<T, E>, SubmitError<F>>
    where
        F: FnOnce() -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        self.submit_with(task, |task| match weft_thread::catch_panic(task) {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(TaskError::Failed(e)),
            Err(panic) => Err(panicked(panic)),
        })
    }

    /// `f(arg)` as a task, with `arg` given back if the pool refuses it.
    pub(crate) fn submit_call<A, R>(
        &self,
        f: fn(A) -> R,
        arg: A,
    ) -> Result<Future<R>, SubmitError<A>>
    where
        A: Send + 'static,
        R: Send + 'static,
    {
        self.submit_with((f, arg), |(f, arg)| {
            weft_thread::catch_panic(|| f(arg)).map_err(panicked)
        })
        .map_err(|e| match e {
            SubmitError::ShutDown((_, arg)) => SubmitError::ShutDown(arg),
            SubmitError::BrokenPool {
                reason,
                value: (_, arg),
            } => SubmitError::BrokenPool { reason, value: arg },
            SubmitError::Serialize {
                message,
                value: (_, arg),
            } => SubmitError::Serialize {
                message,
                value: arg,
            },
            SubmitError::Spawn {
                reason,
                value: (_, arg),
            } => SubmitError::Spawn { reason, value: arg },
        })
    }

    fn submit_with<F, T, E>(
        &self,
        task: F,
        run: fn(F) -> Outcome<T, E>,
    ) -> Result<Future<T, E>, SubmitError<F>>
    where
        F: Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        let gate = self.shared.tx.read();
        // Broken before shut down, as Python's `submit` checks `_broken` first: a broken pool
        // that was then shut down says it is broken (`BrokenThreadPool`, not `RuntimeError`).
        if let Some(reason) = self.shared.broken.get() {
            return Err(SubmitError::BrokenPool {
                reason: reason.to_string(),
                value: task,
            });
        }
        let Some(tx) = gate.as_ref() else {
            return Err(SubmitError::ShutDown(task));
        };
        // Python's global `_shutdown`: no pool takes work once the program's exit has begun.
        // Read under the gate: the exit sets the flag before it shuts any pool down, and a
        // shutdown waits for the gate, so a submit that read the flag unset has sent its job
        // before the exit can shut this pool (the job runs), and one that comes after any pool
        // refused for the exit reads it set.
        if weft_thread::is_exiting() {
            return Err(SubmitError::ShutDown(task));
        }
        // A worker first: with none running and none able to start, the task comes back
        // unqueued, and the pool stays usable (the failure may pass: a thread limit, memory).
        if let Some(reason) = self.adjust_workers() {
            return Err(SubmitError::Spawn {
                reason,
                value: task,
            });
        }
        let (p, future) = promise();
        let job: Job = Box::new(move |action| match action {
            Action::Run(shared) => {
                if p.set_running() {
                    let r = run(task);
                    // Idle before the result is published, or after the done callbacks, which
                    // run here and may submit to this pool and wait.
                    p.complete_then(r, || shared.job_done());
                } else {
                    shared.job_done();
                }
            }
            Action::Cancel => p.cancel(),
            Action::Break(reason) => p.complete(Err(TaskError::BrokenPool {
                reason: reason.to_string(),
            })),
        });
        // The pool holds a receiver, so the channel is never disconnected on this side; were it
        // to fail, the job's promise would fail the future as dropped.
        let _ = tx.send(job);
        drop(gate);
        Ok(future)
    }

    /// Starts a worker unless an idle one will take the job (Python's `_adjust_thread_count`).
    /// Returns why, if no worker is running and none could be started.
    fn adjust_workers(&self) -> Option<String> {
        let s = &self.shared;
        // Once every worker is started there is nothing to decide (and the idle tokens, which
        // then only grow, are left alone: no shared counter is touched per task).
        if s.started.load(Ordering::Acquire) >= s.max_workers
            || s.idle
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
                .is_ok()
        {
            return None;
        }
        let mut threads = s.threads.lock();
        let n = s.started.load(Ordering::Acquire);
        if n >= s.max_workers {
            return None;
        }
        let shared = Arc::clone(s);
        match std::thread::Builder::new()
            .name(format!("{}_{n}", s.prefix))
            .spawn(move || worker(shared))
        {
            Ok(handle) => {
                threads.push(handle);
                s.started.store(n + 1, Ordering::Release);
                None
            }
            Err(e) if n == 0 => Some(e.to_string()),
            // The threads already running will take the job.
            Err(_) => None,
        }
    }

    /// Runs `f` over `items` on the pool and yields the results in input order (Python's
    /// `map(fn, iterable)`); see [`Map`] for chunks, read-ahead and timeouts.
    ///
    /// Python's thread pool ignores `chunksize`; this one sends the items in chunks, as Python's
    /// process pool does, so a panic fails its whole chunk: with chunks `[0, 1]`, `[2, 3]` and
    /// a panic at item 3, the iterator yields 0, 1 and the error (Python's thread pool yields 2
    /// before raising). Leave the chunk size at 1 to get every result before the failure.
    ///
    /// ```
    /// let pool = weft_executor::ThreadPoolExecutor::new();
    /// let lens: Vec<usize> = pool
    ///     .map(|s: &str| s.len(), ["a", "bb", "ccc"])
    ///     .map(Result::unwrap)
    ///     .collect();
    /// assert_eq!(lens, [1, 2, 3]);
    /// ```
    pub fn map<'a, A, R, F, I>(&'a self, f: F, items: I) -> Map<'a, R>
    where
        F: Fn(A) -> R + Send + Sync + 'static,
        A: Send + 'static,
        R: Send + 'static,
        I: IntoIterator<Item = A>,
        I::IntoIter: 'a,
    {
        let f = Arc::new(f);
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
                let f = Arc::clone(&f);
                Some(
                    self.submit(move || chunk.into_iter().map(|a| f(a)).collect::<Vec<R>>())
                        .map_err(submit_to_task_error),
                )
            }),
            len,
        )
    }

    /// Stops taking work (Python's `shutdown(wait, cancel_futures)`): later submits fail with
    /// [`SubmitError::ShutDown`] ([`SubmitError::BrokenPool`] once the pool is broken, as in
    /// Python). With `cancel_futures`, the tasks still queued are cancelled
    /// (their futures answer [`TaskError::Cancelled`]); otherwise the workers run them. With
    /// `wait`, returns once every worker has finished, also when another thread is shutting down
    /// at the same time (a task calling this does not wait for its own thread, and returns at
    /// once if another thread is already waiting); dropping the pool later, on another thread,
    /// still waits for every worker. Calling it again is harmless. A task that calls it with
    /// `wait` waits for the other workers, which deadlocks if one of them waits for work queued
    /// behind that task (in Python too): from a task, use `shutdown(false, ..)`.
    ///
    /// ```
    /// let pool = weft_executor::ThreadPoolExecutor::new();
    /// let f = pool.submit(|| 1).unwrap();
    /// pool.shutdown(true, false);
    /// assert_eq!(f.result().unwrap(), 1);
    /// assert!(pool.submit(|| 2).unwrap_err().is_shut_down());
    /// ```
    pub fn shutdown(&self, wait: bool, cancel_futures: bool) {
        self.shared.shutdown(wait, cancel_futures);
    }

    /// Whether the pool is broken (an initializer panicked), and why.
    pub fn broken(&self) -> Option<String> {
        self.shared.broken.get().map(|r| r.to_string())
    }

    /// Whether the current thread is one of this pool's workers.
    pub fn is_worker_thread(&self) -> bool {
        CURRENT_POOL.with(Cell::get) == self.shared.id
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

impl Drop for ThreadPoolExecutor {
    fn drop(&mut self) {
        // From one of its own tasks, joining could wait on a worker that waits for work queued
        // behind this task; the workers end by themselves once the queue is drained.
        self.shutdown(!self.is_worker_thread(), false);
    }
}

impl fmt::Debug for ThreadPoolExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadPoolExecutor")
            .field("max_workers", &self.shared.max_workers)
            .field("workers", &self.worker_count())
            .field("queued", &self.shared.rx.len())
            .field("shut_down", &self.shared.tx.read().is_none())
            .field("broken", &self.shared.broken.get())
            .finish()
    }
}

/// A task's panic, caught by `weft_thread::catch_panic` (not printed: it goes to the future, as
/// Python's exception does).
fn panicked<E>(panic: weft_thread::Panicked) -> TaskError<E> {
    TaskError::Panicked {
        message: panic.message().to_owned(),
        location: panic.location().map(str::to_owned),
    }
}

/// A lazily submitted `map` item that the pool refused: a shut-down pool cancels it (as Python's
/// `shutdown(cancel_futures=True)` does to the items `map` had queued), a broken pool breaks it,
/// a worker that could not start is `Spawn` (the pool is not broken).
pub(crate) fn submit_to_task_error<T, E>(e: SubmitError<T>) -> TaskError<E> {
    match e {
        SubmitError::ShutDown(_) => TaskError::Cancelled,
        SubmitError::BrokenPool { reason, .. } => TaskError::BrokenPool { reason },
        SubmitError::Serialize { message, .. } => TaskError::Serialize { message },
        // The item is not run; the pool is not broken: `map` yields this and stops.
        SubmitError::Spawn { reason, .. } => TaskError::Spawn { reason },
    }
}
