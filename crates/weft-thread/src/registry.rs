//! The live weft threads: `active_count`, `enumerate`, `current_thread`, `main_thread`, and the
//! exit rule that makes a program wait for its non-daemon threads (`main`, `wait_non_daemon`).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use weft_sync::Condition;

/// What weft knows of one thread.
pub(crate) struct Record {
    pub(crate) ident: u64,
    pub(crate) name: Arc<str>,
    pub(crate) daemon: bool,
    /// Whether weft started the thread (false for the main thread and threads started elsewhere).
    pub(crate) weft: bool,
    pub(crate) native_id: OnceLock<u64>,
}

impl Record {
    pub(crate) fn info(&self) -> ThreadInfo {
        ThreadInfo {
            name: Arc::clone(&self.name),
            ident: self.ident,
            native_id: self.native_id.get().copied().filter(|&id| id != 0),
            daemon: self.daemon,
        }
    }
}

struct Registry {
    live: BTreeMap<u64, Arc<Record>>,
    /// Non-daemon weft threads not finished: their body, or their clean-up after it (see
    /// [`COUNTED`]), still runs. What the main thread waits for.
    non_daemon: usize,
    /// Non-daemon weft threads whose body still runs. What a non-daemon weft thread waits for:
    /// a thread whose body ended may be cleaning up, and a thread-local destructor there may
    /// wait for the waiting thread (join it), which must not wait for it in turn.
    running: usize,
    /// Non-daemon weft threads blocked in `wait_non_daemon` from their body: the others need not
    /// wait for them.
    waiting: usize,
    /// Bumped when a waiting non-daemon thread finds every other one waiting too: all of them
    /// return together (one leaving first must not make the rest wait for it to finish).
    released: u64,
}

static REGISTRY: Condition<Registry> = Condition::new(Registry {
    live: BTreeMap::new(),
    non_daemon: 0,
    running: 0,
    waiting: 0,
    released: 0,
});
static NEXT_IDENT: AtomicU64 = AtomicU64::new(1);
static MAIN: OnceLock<Arc<Record>> = OnceLock::new();

thread_local! {
    /// The record of the current thread, once known (always set inside weft threads).
    static CURRENT: RefCell<Option<Arc<Record>>> = const { RefCell::new(None) };
    /// A non-daemon weft thread's place in the exit rule's count, given up when this
    /// thread-local is destroyed: after the thread's body, after the drop of a result no handle
    /// will take, and after the thread-locals its body used, whose destructors run before this
    /// one (std runs a thread's thread-local destructors newest first, and this one is set
    /// before the body runs).
    static COUNTED: RefCell<Option<Counted>> = const { RefCell::new(None) };
}

/// See [`COUNTED`].
struct Counted(Arc<Record>);

impl Drop for Counted {
    fn drop(&mut self) {
        uncount(&self.0);
    }
}

pub(crate) fn next_ident() -> u64 {
    NEXT_IDENT.fetch_add(1, Ordering::Relaxed)
}

/// The kernel's id of the calling thread, where weft can read it without `unsafe`.
pub(crate) fn native_id() -> Option<u64> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        u64::try_from(rustix::thread::gettid().as_raw_pid()).ok()
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        None
    }
}

/// Adds `record` to the live threads and, unless it is a daemon, to the count the exit rule
/// waits for; [`enter`] hands that count to the thread, or [`uncount`] takes it back if the
/// thread could not start.
pub(crate) fn register(record: &Arc<Record>) {
    let mut registry = REGISTRY.acquire();
    registry.live.insert(record.ident, Arc::clone(record));
    if !record.daemon {
        registry.non_daemon += 1;
        registry.running += 1;
    }
}

/// Removes `record` from the live threads and, still holding the registry lock, runs `then` (the
/// completion signal), so that whoever sees the thread gone also sees it done, and the reverse.
/// The exit rule's count is given up later, by the thread's [`COUNTED`].
pub(crate) fn deregister(record: &Record, then: impl FnOnce()) {
    let mut registry = REGISTRY.acquire();
    let ended = registry.live.remove(&record.ident).is_some() && !record.daemon;
    if ended {
        registry.running -= 1;
    }
    then();
    drop(registry);
    if ended {
        REGISTRY.notify_all();
    }
}

/// Takes a non-daemon thread out of the count the exit rule waits for.
pub(crate) fn uncount(record: &Record) {
    if record.daemon {
        return;
    }
    REGISTRY.acquire().non_daemon -= 1;
    REGISTRY.notify_all();
}

/// Runs inside a new weft thread before its body: makes `current_thread()` know it, and makes
/// the thread's last thread-local destructor give up its place in the exit rule's count.
pub(crate) fn enter(record: &Arc<Record>) {
    let _ = record.native_id.set(native_id().unwrap_or(0));
    CURRENT.with(|c| *c.borrow_mut() = Some(Arc::clone(record)));
    if !record.daemon {
        COUNTED.with(|c| *c.borrow_mut() = Some(Counted(Arc::clone(record))));
    }
}

/// The current thread's record, if it is a weft thread or the main thread.
pub(crate) fn current_record() -> Option<Arc<Record>> {
    if let Some(record) = CURRENT.try_with(|c| c.borrow().clone()).ok().flatten() {
        return Some(record);
    }
    if is_main_thread() {
        let main = main_record();
        let _ = CURRENT.try_with(|c| *c.borrow_mut() = Some(Arc::clone(&main)));
        return Some(main);
    }
    None
}

/// Whether the calling thread is the process's main thread: on Linux the thread whose kernel id
/// is the process id, elsewhere the thread std names `main`.
fn is_main_thread() -> bool {
    match native_id() {
        Some(tid) => tid == u64::from(std::process::id()),
        None => std::thread::current().name() == Some("main"),
    }
}

fn main_record() -> Arc<Record> {
    Arc::clone(MAIN.get_or_init(|| {
        let native_id = OnceLock::new();
        // On Linux the main thread's kernel id is the process id.
        if cfg!(any(target_os = "linux", target_os = "android")) {
            let _ = native_id.set(u64::from(std::process::id()));
        }
        Arc::new(Record {
            ident: next_ident(),
            name: Arc::from("MainThread"),
            daemon: false,
            weft: false,
            native_id,
        })
    }))
}

/// A snapshot of what weft knows of a thread: Python's `Thread` attributes `name`, `ident`,
/// `native_id` and `daemon`.
///
/// ```
/// let me = weft_thread::current_thread();
/// println!("{} (ident {})", me.name(), me.ident());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ThreadInfo {
    name: Arc<str>,
    ident: u64,
    native_id: Option<u64>,
    daemon: bool,
}

impl ThreadInfo {
    /// The thread's name: the one given to [`Thread::name`](crate::Thread::name), by default
    /// `Thread-N`, or `Thread-N (f)` for a thread running a named function `f`, `MainThread` for
    /// the main thread, or the std name of a thread weft did not start.
    ///
    /// ```
    /// assert_eq!(weft_thread::main_thread().name(), "MainThread");
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// weft's id of the thread (Python's `ident`): nonzero and unique within the process, never
    /// reused.
    ///
    /// ```
    /// assert_ne!(weft_thread::current_thread().ident(), 0);
    /// ```
    pub fn ident(&self) -> u64 {
        self.ident
    }

    /// The operating system's id of the thread (Python's `native_id`): the kernel thread id on
    /// Linux and Android, `None` elsewhere or before the thread has started running.
    ///
    /// ```
    /// let id = weft_thread::current_thread().native_id();
    /// # #[cfg(target_os = "linux")]
    /// assert!(id.is_some());
    /// ```
    pub fn native_id(&self) -> Option<u64> {
        self.native_id
    }

    /// Whether the thread is a daemon thread (Python's `daemon`).
    ///
    /// ```
    /// assert!(!weft_thread::main_thread().is_daemon());
    /// ```
    pub fn is_daemon(&self) -> bool {
        self.daemon
    }
}

impl fmt::Debug for ThreadInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadInfo")
            .field("name", &self.name)
            .field("ident", &self.ident)
            .field("native_id", &self.native_id)
            .field("daemon", &self.daemon)
            .finish()
    }
}

/// The thread calling this (Python's `threading.current_thread()`).
///
/// For a thread weft did not start (other than the main thread) this is a fresh record named after
/// the std thread name (or `Dummy-N`), as Python's `_DummyThread`; it is not counted by
/// [`active_count`].
///
/// ```
/// let h = weft_thread::Thread::new(|| weft_thread::current_thread().name().to_owned())
///     .name("worker")
///     .start()
///     .unwrap();
/// assert_eq!(h.join().unwrap(), "worker");
/// ```
pub fn current_thread() -> ThreadInfo {
    if let Some(record) = current_record() {
        return record.info();
    }
    let ident = next_ident();
    let name: Arc<str> = match std::thread::current().name() {
        Some(name) => Arc::from(name),
        None => Arc::from(format!("Dummy-{ident}")),
    };
    let record = Arc::new(Record {
        ident,
        name,
        daemon: true,
        weft: false,
        native_id: OnceLock::new(),
    });
    let _ = record.native_id.set(native_id().unwrap_or(0));
    let _ = CURRENT.try_with(|c| *c.borrow_mut() = Some(Arc::clone(&record)));
    record.info()
}

/// The main thread, the one the program started in (Python's `threading.main_thread()`).
///
/// ```
/// let main = weft_thread::main_thread();
/// assert_eq!(main.name(), "MainThread");
/// ```
pub fn main_thread() -> ThreadInfo {
    main_record().info()
}

/// The number of threads alive: the main thread plus every weft thread that has started and not
/// finished (Python's `threading.active_count()`).
///
/// ```
/// let gate = std::sync::Arc::new(weft_sync::Event::new());
/// let before = weft_thread::active_count();
/// let g = gate.clone();
/// let h = weft_thread::spawn(move || g.wait()).unwrap();
/// assert!(weft_thread::active_count() >= before + 1);
/// gate.set();
/// h.join().unwrap();
/// ```
pub fn active_count() -> usize {
    REGISTRY.acquire().live.len() + 1
}

/// The threads alive: the main thread first, then every live weft thread in start order
/// (Python's `threading.enumerate()`).
///
/// ```
/// let all = weft_thread::enumerate();
/// assert_eq!(all[0].name(), "MainThread");
/// ```
pub fn enumerate() -> Vec<ThreadInfo> {
    let main = main_record();
    let registry = REGISTRY.acquire();
    std::iter::once(main.info())
        .chain(registry.live.values().map(|r| r.info()))
        .collect()
}

/// Blocks until every non-daemon weft thread has finished, including ones started meanwhile: what
/// a Python program does at exit, for programs that do not use [`main`]. Finished includes the
/// thread's clean-up after its body: the drop of a result no handle will take, and its
/// thread-locals' destructors (Python likewise waits for a thread's state to be cleared), so
/// their output is not cut off by the process's exit. Called from a non-daemon
/// weft thread, it does not wait for that thread itself, nor for other non-daemon threads that
/// are blocked in `wait_non_daemon` too (they would otherwise wait for each other for ever), and
/// only for the bodies of the others, not their clean-up (a thread-local destructor there may
/// be joining the waiting thread).
///
/// ```
/// let h = weft_thread::spawn(|| 40 + 2).unwrap();
/// weft_thread::wait_non_daemon();
/// assert!(!h.is_alive());
/// ```
pub fn wait_non_daemon() {
    let me = CURRENT.try_with(|c| c.borrow().clone()).ok().flatten();
    let counted = me.as_ref().is_some_and(|r| r.weft && !r.daemon);
    let mut registry = REGISTRY.acquire();
    // Called from a thread's clean-up (a thread-local destructor, the drop of its result), the
    // thread is no longer running: it waits as the others do, but is not one they wait for.
    let in_body = counted && me.is_some_and(|r| registry.live.contains_key(&r.ident));
    if in_body {
        registry.waiting += 1;
        REGISTRY.notify_all();
    }
    // A non-daemon weft thread waits for the others that are not waiting too, and leaves with
    // every other waiter once that holds; anyone else waits for all of them to finish.
    let seen = registry.released;
    registry.wait_for(|r| {
        if counted {
            r.released != seen || r.running <= r.waiting
        } else {
            r.non_daemon == 0
        }
    });
    // A counted waiter released by another is already uncounted; the one that found every
    // non-daemon thread waiting lets them all go, now: none of them is waiting any more (one that
    // has yet to wake must not count as waiting for a later caller).
    if in_body && registry.released == seen {
        registry.released = seen.wrapping_add(1);
        registry.waiting = 0;
        REGISTRY.notify_all();
    }
}

/// Whether the current thread is a daemon weft thread: the default daemon flag of the threads it
/// starts (the main thread and threads weft did not start give non-daemon threads).
pub(crate) fn inherit_daemon() -> bool {
    CURRENT
        .try_with(|c| c.borrow().as_ref().is_some_and(|r| r.weft && r.daemon))
        .unwrap_or(false)
}

/// Runs a program's main body and returns only after every non-daemon weft thread has finished
/// (with its clean-up, as in [`wait_non_daemon`]), as a Python program does; daemon threads do
/// not hold it up and end with the process
/// (Python's exit rule, and the `if __name__ == "__main__":` guard of weft programs). Before it
/// waits, it runs the functions given to [`before_exit`]; it runs those given while it waits
/// once the threads are done, and waits again.
///
/// Those functions are the whole process's, and every call of `main` runs them: a nested
/// `main`, a second one, or one in a test running beside others shuts down every weft-executor
/// pool then alive, including those the rest of the program still uses (their submits then fail
/// with `ShutDown`), and while it exits ([`is_exiting`]) every pool of the process refuses
/// submits, one made meanwhile too, as weft-async's `to_thread` refuses calls. Call it once,
/// around `fn main`'s body.
///
/// Wrap `fn main` in it: `fn main() { weft::main(|| { ... }) }`. If `body` panics, the
/// non-daemon threads still run to the end, then the panic continues (the process exits with an
/// error, as Python's does after an uncaught exception in the main thread). weft-process will
/// dispatch child processes from this same entry point.
///
/// ```
/// fn main() {
///     weft_thread::main(|| {
///         weft_thread::spawn(|| println!("a non-daemon thread: main waits for it")).unwrap();
///         weft_thread::Thread::new(|| loop { std::thread::park() })
///             .daemon(true)
///             .start()
///             .unwrap(); // a daemon thread: ends with the process
///     });
/// }
/// ```
#[expect(
    clippy::needless_doctest_main,
    reason = "the example is the `fn main` a program wraps in this function"
)]
pub fn main<R>(body: impl FnOnce() -> R) -> R {
    main_then(body, || ())
}

/// [`main`], with `last` run once the threads are done, just before it returns, while
/// [`is_exiting`] still holds. weft-process's `main` waits for its child processes there: Python's
/// exit joins them (`multiprocessing`'s `atexit` function) after `threading._shutdown`, when its
/// pools still refuse submits and its main thread is no longer alive.
#[doc(hidden)]
pub fn main_then<R>(body: impl FnOnce() -> R, last: impl FnOnce()) -> R {
    let result = catch_unwind(AssertUnwindSafe(body));
    // Before the first `before_exit` function: a pool submit that sees it refuses (see
    // `is_exiting`), so that no pool takes work once the exit has shut down another.
    let _exiting = Exiting::enter();
    // A thread waited for may register more (make a pool): those run once it is done, and the
    // threads they leave are waited for in turn.
    run_before_exit();
    wait_non_daemon();
    while run_before_exit() {
        wait_non_daemon();
    }
    last();
    match result {
        Ok(value) => value,
        Err(payload) => resume_unwind(payload),
    }
}

/// How many [`main`] calls are past their body (one, but for a nested or concurrent `main`).
static EXITING: AtomicUsize = AtomicUsize::new(0);

/// One `main`'s exit, counted in [`EXITING`] from its body's end until it returns.
struct Exiting;

impl Exiting {
    fn enter() -> Self {
        EXITING.fetch_add(1, Ordering::SeqCst);
        Exiting
    }
}

impl Drop for Exiting {
    fn drop(&mut self) {
        EXITING.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Whether the program is exiting: a [`main`] has finished its body and is running its exit (the
/// [`before_exit`] functions, then the wait for the non-daemon threads; in weft-process's `main`,
/// which `weft::main` is, also the wait for the child processes), until it returns. Python's
/// `not threading.main_thread().is_alive()` while its exit waits for the threads and children;
/// but Python's turns true only once the `threading._register_atexit` functions have run (3.11),
/// and this one before the first `before_exit` function runs.
///
/// weft-executor's pools refuse every submit meanwhile (`SubmitError::ShutDown`), as Python's
/// refuse them after the interpreter's shutdown has begun ("cannot schedule new futures after
/// interpreter shutdown"): once the exit has shut one pool down, no other pool, not even one
/// made during the exit, takes work; weft-async's `to_thread` refuses its calls meanwhile
/// (`TaskError::Cancelled`), as Python's `asyncio.to_thread` raises then. The `before_exit`
/// functions are refused too, where
/// Python's pools still take the submits of a `threading._register_atexit` function that runs
/// before `concurrent.futures`' own (one registered after the pool's module was imported). A
/// long-running thread can check it to wind down.
///
/// The flag is set before the first `before_exit` function runs (with sequentially consistent
/// ordering), so a thread that saw the exit's effect on anything those functions touch sees it
/// set. Without `main` it is never set.
///
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering};
///
/// static SEEN_AT_EXIT: AtomicBool = AtomicBool::new(false);
/// weft_thread::main(|| {
///     assert!(!weft_thread::is_exiting()); // the body still runs
///     weft_thread::before_exit(|| {
///         SEEN_AT_EXIT.store(weft_thread::is_exiting(), Ordering::SeqCst);
///     });
/// });
/// assert!(SEEN_AT_EXIT.load(Ordering::SeqCst));
/// assert!(!weft_thread::is_exiting()); // `main` has returned
/// ```
pub fn is_exiting() -> bool {
    EXITING.load(Ordering::SeqCst) != 0
}

/// Functions [`main`] runs once its body has returned, before it waits for the threads.
static BEFORE_EXIT: parking_lot::Mutex<Vec<Box<dyn FnOnce() + Send>>> =
    parking_lot::Mutex::new(Vec::new());

/// Has [`main`] call `f` once its body has returned (or panicked), before it waits for the
/// non-daemon threads: Python's `threading._register_atexit`, with which `concurrent.futures`
/// shuts its pools down at the interpreter's exit (weft-executor does the same with it).
///
/// The functions run on the thread running `main`, last registered first, each once: one
/// registered while they run (by another of them, or by a thread still running) runs too, and
/// one registered by a thread `main` is then waiting for runs once the threads are done (and
/// `main` then waits for the threads started meanwhile). A function that panics is reported
/// once on stderr (if stderr can be written), with its location (and backtrace, as
/// `RUST_BACKTRACE` asks), and the others still run: Python's "Exception ignored in atexit
/// callback". Without `main`, nothing runs them.
///
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering};
///
/// static RAN: AtomicBool = AtomicBool::new(false);
/// weft_thread::main(|| {
///     weft_thread::before_exit(|| RAN.store(true, Ordering::SeqCst));
///     assert!(!RAN.load(Ordering::SeqCst)); // not yet: the body is still running
/// });
/// assert!(RAN.load(Ordering::SeqCst));
/// ```
pub fn before_exit(f: impl FnOnce() + Send + 'static) {
    BEFORE_EXIT.lock().push(Box::new(f));
}

/// Runs the [`before_exit`] functions, last registered first, until none is left; whether there
/// was one.
fn run_before_exit() -> bool {
    let mut ran = false;
    loop {
        // Not under the lock: a function may register another.
        let Some(f) = BEFORE_EXIT.lock().pop() else {
            return ran;
        };
        ran = true;
        // Caught without the panic hook printing it: the report below is its only one (as
        // Python's "Exception ignored in atexit callback"), with its location and backtrace.
        if let Err(panic) = crate::catch_panic(f) {
            let at = panic
                .location()
                .map(|l| format!(" at {l}"))
                .unwrap_or_default();
            let mut report = format!(
                "weft_thread: a before_exit function panicked{at}: {}\n",
                panic.message()
            );
            if let Some(backtrace) = panic.backtrace() {
                report.push_str(&format!("stack backtrace:\n{backtrace}\n"));
            }
            // Not `eprintln!`, which panics when stderr cannot be written: that panic would end
            // `main` here, before the other functions and the wait for the threads.
            let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), report.as_bytes());
        }
    }
}
