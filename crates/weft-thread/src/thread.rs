//! [`Thread`], [`ThreadHandle`] and [`Runnable`]: Python's `threading.Thread`.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use weft_sync::{Event, Lock};

use crate::control::{Control, StopToken};
use crate::error::{JoinError, JoinTimeoutError, Panicked, StartError};
use crate::hook;
use crate::registry::{self, Record, ThreadInfo};

type Body<T> = Box<dyn FnOnce(StopToken) -> T + Send>;

static NEXT_NAME: AtomicU64 = AtomicU64::new(1);

/// A thread to be started: Python's `threading.Thread(target=f, name=..., daemon=...)`.
///
/// Configure it, then [`start`](Thread::start) it to get a [`ThreadHandle`]. The body is a
/// closure returning `T`; the handle's [`join`](ThreadHandle::join) gives the value back (Python
/// threads cannot return values). [`spawn`] is the short form.
///
/// Unlike a `std::thread`, a weft thread has Python's exit rule: a program whose `main` is wrapped
/// in [`main`](crate::main) (or that calls [`wait_non_daemon`](crate::wait_non_daemon)) waits
/// for its non-daemon threads before exiting, while daemon threads end with the process.
///
/// ```
/// use weft_thread::Thread;
///
/// let handle = Thread::new(|| (1..=10).sum::<u32>())
///     .name("summer")
///     .daemon(false)
///     .start()
///     .unwrap();
/// assert_eq!(handle.name(), "summer");
/// assert_eq!(handle.join().unwrap(), 55);
/// ```
#[must_use = "a Thread does nothing until `start` is called"]
pub struct Thread<T> {
    body: Body<T>,
    /// `type_name` of the function given to `new`/`new_stoppable`, for the default name.
    target: &'static str,
    name: Option<String>,
    daemon: Option<bool>,
    stack_size: Option<usize>,
}

/// The subclass style of the chapter: a type whose [`run`](Runnable::run) method is the thread's
/// work, started with [`Thread::from_runnable`] (Python's `class Worker(threading.Thread)` with a
/// `run()` method).
///
/// Prefer the closure form, [`Thread::new`]: as the chapter says of subclassing `Thread`, it ties
/// the work to the thread type, while a closure keeps the flow independent of how it is run (the
/// same function can run inline, in a thread, in a pool). A `Runnable` is given back by `join`, so
/// the fields it filled in are readable afterwards.
///
/// ```
/// use weft_thread::{Runnable, Thread};
///
/// struct Counter {
///     upto: u32,
///     total: u32,
/// }
///
/// impl Runnable for Counter {
///     fn run(&mut self) {
///         self.total = (1..=self.upto).sum();
///     }
/// }
///
/// let handle = Thread::from_runnable(Counter { upto: 4, total: 0 }).start().unwrap();
/// assert_eq!(handle.join().unwrap().total, 10);
/// ```
pub trait Runnable: Send + 'static {
    /// The thread's work (Python's `Thread.run`).
    fn run(&mut self);
}

impl<T: Send + 'static> Thread<T> {
    /// A thread that will run `f` (Python's `Thread(target=f)`).
    ///
    /// ```
    /// let handle = weft_thread::Thread::new(|| "done").start().unwrap();
    /// assert_eq!(handle.join().unwrap(), "done");
    /// ```
    pub fn new<F: FnOnce() -> T + Send + 'static>(f: F) -> Self {
        Self::with_body(Box::new(move |_stop| f()), std::any::type_name::<F>())
    }

    /// A thread that will run `f` with a [`StopToken`], through which its handle's
    /// [`stop`](ThreadHandle::stop), [`pause`](ThreadHandle::pause) and
    /// [`resume`](ThreadHandle::resume) reach it.
    ///
    /// ```
    /// use std::time::Duration;
    /// let handle = weft_thread::Thread::new_stoppable(|stop| {
    ///     let mut ticks = 0;
    ///     while stop.sleep(Duration::from_millis(1)).is_ok() {
    ///         ticks += 1;
    ///     }
    ///     ticks
    /// })
    /// .start()
    /// .unwrap();
    /// handle.stop();
    /// let _ticks = handle.join().unwrap();
    /// ```
    pub fn new_stoppable<F: FnOnce(StopToken) -> T + Send + 'static>(f: F) -> Self {
        Self::with_body(Box::new(f), std::any::type_name::<F>())
    }

    fn with_body(body: Body<T>, target: &'static str) -> Self {
        Self {
            body,
            target,
            name: None,
            daemon: None,
            stack_size: None,
        }
    }

    /// Names the thread (Python's `name=`). The default, and what an empty name gives, is
    /// `Thread-N (target)` when the thread runs a named function, as in Python 3.10 and later
    /// (`Thread::new(worker)` is `Thread-3 (worker)`), and `Thread-N` for a closure (which has no
    /// name) or a [`Runnable`] (as a Python subclass without a target). N counts up for every
    /// default name. The function's name is read from [`std::any::type_name`], whose text Rust
    /// does not promise; a form weft does not recognise gives plain `Thread-N`.
    ///
    /// The name is also the OS thread's name (its first 15 bytes on Linux), shown by debuggers
    /// and in panic messages. A name with a NUL byte makes [`start`](Self::start) fail with
    /// [`StartError::InvalidName`].
    ///
    /// ```
    /// let h = weft_thread::Thread::new(|| ()).name("io-1").start().unwrap();
    /// assert_eq!(h.name(), "io-1");
    /// # h.join().unwrap();
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Makes the thread a daemon thread, or not (Python's `daemon=`). The program does not wait
    /// for daemon threads at exit. The default, as in Python, is the creating thread's: daemon
    /// weft threads start daemon threads; the main thread and non-daemon weft threads start
    /// non-daemon threads. Unlike Python, so do threads weft did not start (a std or tokio
    /// thread): Python counts such a thread as a daemon (`_DummyThread`) and so its threads too,
    /// which the exit rule would then not wait for. (`current_thread().is_daemon()` of such a
    /// thread answers `true`, as Python's does; it describes the thread, not this default.)
    ///
    /// ```
    /// let h = weft_thread::Thread::new(|| ()).daemon(true).start().unwrap();
    /// assert!(h.is_daemon());
    /// # h.join().unwrap();
    /// ```
    pub fn daemon(mut self, daemon: bool) -> Self {
        self.daemon = Some(daemon);
        self
    }

    /// The smallest stack [`stack_size`](Self::stack_size) accepts, 32 KiB: Python's minimum,
    /// and enough for a panic's report (a backtrace is captured, not formatted, at the panic).
    ///
    /// ```
    /// assert_eq!(weft_thread::Thread::<()>::MIN_STACK_SIZE, 32 * 1024);
    /// ```
    pub const MIN_STACK_SIZE: usize = 32 * 1024;

    /// Sets the thread's stack size in bytes (Python's `threading.stack_size()`, per thread).
    /// As in Python, 0 means the platform's default, and a size below
    /// [`MIN_STACK_SIZE`](Self::MIN_STACK_SIZE) (32 KiB) makes [`start`](Self::start) fail with
    /// [`StartError::StackSize`]: on a smaller stack a panic overflows it while it is reported,
    /// which aborts the process. Sizes are rounded up to whole pages by the OS.
    ///
    /// ```
    /// use weft_thread::{StartError, Thread};
    ///
    /// let h = Thread::new(|| ()).stack_size(256 * 1024).start().unwrap();
    /// # h.join().unwrap();
    /// let err = Thread::new(|| ()).stack_size(4096).start().unwrap_err();
    /// assert!(matches!(err, StartError::StackSize(4096)));
    /// ```
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = Some(bytes);
        self
    }

    /// Starts the thread (Python's `start()`).
    ///
    /// # Errors
    /// Checked before anything starts: [`StartError::InvalidName`] for a [name](Self::name) with
    /// a NUL byte (the name comes back inside the error), [`StartError::StackSize`] for a
    /// [stack size](Self::stack_size) other than 0 below [`MIN_STACK_SIZE`](Self::MIN_STACK_SIZE).
    /// [`StartError::Spawn`] when the OS refuses the thread (Python's `RuntimeError: can't start
    /// new thread`): the body is dropped here, unrun, and the failed start leaves no thread
    /// behind for [`enumerate`](crate::enumerate) or the exit rule, also when a `Drop` of the
    /// body's captures panics (that panic then reaches the caller, as from std's `spawn`). The
    /// body never comes back inside the error.
    ///
    /// ```
    /// let h = weft_thread::Thread::new(|| 2 * 21).start().unwrap();
    /// assert_eq!(h.join().unwrap(), 42);
    /// ```
    pub fn start(self) -> Result<ThreadHandle<T>, StartError> {
        let Thread {
            body,
            target,
            name,
            daemon,
            stack_size,
        } = self;
        let stack_size = match stack_size {
            Some(0) | None => None,
            Some(bytes) if bytes < Self::MIN_STACK_SIZE => {
                return Err(StartError::StackSize(bytes))
            }
            Some(bytes) => Some(bytes),
        };
        let name = match name {
            Some(name) if name.contains('\0') => return Err(StartError::InvalidName(name)),
            Some(name) if !name.is_empty() => name,
            _ => {
                let n = NEXT_NAME.fetch_add(1, Ordering::Relaxed);
                match function_name(target) {
                    Some(target) => format!("Thread-{n} ({target})"),
                    None => format!("Thread-{n}"),
                }
            }
        };
        let daemon = daemon.unwrap_or_else(registry::inherit_daemon);
        let record = Arc::new(Record {
            ident: registry::next_ident(),
            name: Arc::from(name.as_str()),
            daemon,
            weft: true,
            native_id: OnceLock::new(),
        });
        let shared = Arc::new(Shared {
            result: Lock::new(None),
            done: Event::new(),
        });
        let control = Control::new();
        hook::install();
        registry::register(&record);

        let mut builder = std::thread::Builder::new().name(name);
        if let Some(bytes) = stack_size {
            builder = builder.stack_size(bytes);
        }
        let run = {
            let (record, shared) = (Arc::clone(&record), Arc::clone(&shared));
            let stop = StopToken {
                control: Arc::clone(&control),
            };
            move || run(&record, &shared, body, stop)
        };
        // A refused start drops `run`, and with it the body, inside `spawn`: a capture whose
        // `Drop` panics then unwinds out of it (to the caller, as from std's `spawn`). The
        // registry is given the thread back either way, or the exit rule would wait for ever.
        let mut refused = Refused(Some(Arc::clone(&record)));
        let os = builder.spawn(run).map_err(StartError::Spawn)?;
        refused.0 = None;
        Ok(ThreadHandle {
            record,
            shared,
            control,
            os: Some(os),
        })
    }
}

/// Takes a registered thread back out of the registry when dropped still holding it: the OS
/// refused the thread, and it will never run to give up its place itself.
struct Refused(Option<Arc<Record>>);

impl Drop for Refused {
    fn drop(&mut self) {
        if let Some(record) = self.0.take() {
            registry::deregister(&record, || ());
            registry::uncount(&record);
        }
    }
}

impl<R: Runnable> Thread<R> {
    /// A thread that will call `runnable.run()` and give `runnable` back from `join`.
    ///
    /// ```
    /// struct Hello;
    /// impl weft_thread::Runnable for Hello {
    ///     fn run(&mut self) {
    ///         println!("hello from {}", weft_thread::current_thread().name());
    ///     }
    /// }
    /// weft_thread::Thread::from_runnable(Hello).start().unwrap().join().unwrap();
    /// ```
    pub fn from_runnable(mut runnable: R) -> Self {
        Self::new(move || {
            runnable.run();
            runnable
        })
    }
}

impl<T> fmt::Debug for Thread<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Thread")
            .field("name", &self.name)
            .field("daemon", &self.daemon)
            .field("stack_size", &self.stack_size)
            .finish_non_exhaustive()
    }
}

/// Starts `f` on a new non-daemon (or, from a daemon thread, daemon) thread with the default
/// name (`Thread-N`, or `Thread-N (f)` for a named function: see [`Thread::name`]): the short form
/// of `Thread::new(f).start()`.
///
/// # Errors
/// [`StartError::Spawn`] when the OS refuses the thread, as for [`Thread::start`].
///
/// ```
/// let h = weft_thread::spawn(|| 6 * 7).unwrap();
/// assert_eq!(h.join().unwrap(), 42);
/// ```
pub fn spawn<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<ThreadHandle<T>, StartError> {
    Thread::new(f).start()
}

/// The name of a function item from its type's name (`my_crate::worker`, `worker::<u8>` or
/// `Type<u8>::method` gives `worker` or `method`, as Python's `target.__name__`), or `None` for
/// anything else: a closure (`main::{{closure}}`), a function pointer (`fn() -> u8`), a reference
/// or a box.
fn function_name(type_name: &str) -> Option<String> {
    // The path with its generic arguments left out.
    let mut path = String::with_capacity(type_name.len());
    let mut depth = 0usize;
    let mut previous = None;
    for c in type_name.chars() {
        match c {
            '<' => depth += 1,
            // The arrow of a function type (`worker<fn() -> u8>`) closes no bracket.
            '>' if previous == Some('-') => {}
            '>' => depth = depth.checked_sub(1)?,
            _ if depth == 0 => path.push(c),
            _ => {}
        }
        previous = Some(c);
    }
    let is_ident = |part: &str| {
        part.chars()
            .next()
            .is_some_and(|c| c == '_' || c.is_alphabetic())
            && part.chars().all(|c| c == '_' || c.is_alphanumeric())
    };
    let last = path.rsplit("::").next()?;
    // Functions are snake_case; a capitalised last segment is a type such as `Box`.
    let named =
        depth == 0 && path.split("::").all(is_ident) && !last.starts_with(char::is_uppercase);
    named.then(|| last.to_owned())
}

/// The result slot and completion signal a thread shares with its handle.
struct Shared<T> {
    result: Lock<Option<Result<T, Panicked>>>,
    done: Event,
}

/// The body of every weft thread: run, catch a panic and report it, publish the result, then
/// leave the registry and signal completion in one step (so `join` returns only once the thread is
/// no longer counted alive, and `wait_non_daemon` only once `is_alive` is false).
fn run<T>(record: &Arc<Record>, shared: &Shared<T>, body: Body<T>, stop: StopToken) {
    registry::enter(record);
    let control = Arc::clone(&stop.control);
    hook::set_in_body(true);
    let outcome = catch_unwind(AssertUnwindSafe(move || body(stop)));
    hook::set_in_body(false);
    control.end();
    let result = outcome.map_err(|payload| {
        // The location is taken before the payload is dropped: its drop is user code, which may
        // call `catch_panic` (a top-level call there clears this thread's records). A payload
        // whose drop panics must not take the thread down before it reports.
        let message = weft_sync::panic_message(payload.as_ref());
        let (location, backtrace) = hook::take_last_panic(&message);
        weft_sync::drop_panic_payload(payload);
        let panicked = Panicked {
            name: Arc::clone(&record.name),
            ident: record.ident,
            message,
            location,
            backtrace,
        };
        hook::report(&panicked);
        panicked
    });
    *shared.result.acquire() = Some(result);
    registry::deregister(record, || shared.done.set());
}

/// A started weft thread: join it (with or without a timeout), ask whether it is alive, stop or
/// pause it (Python's `Thread` object after `start()`).
///
/// Dropping the handle detaches the thread; it keeps running (a [pause](Self::pause) in force is
/// lifted, since nothing could resume it any more), and (unless it is a daemon) the program
/// still waits for it in [`main`](crate::main).
///
/// ```
/// use std::time::Duration;
///
/// let h = weft_thread::spawn(|| "result").unwrap();
/// let value = match h.join_timeout(Duration::from_secs(5)) {
///     Ok(value) => value,
///     Err(e) => panic!("{e}"),
/// };
/// assert_eq!(value, "result");
/// ```
pub struct ThreadHandle<T> {
    record: Arc<Record>,
    shared: Arc<Shared<T>>,
    control: Arc<Control>,
    os: Option<std::thread::JoinHandle<()>>,
}

impl<T> ThreadHandle<T> {
    /// Waits for the thread to finish and returns its value, or its panic (Python's `join()`).
    /// A [pause](Self::pause) in force is lifted first: `join` takes the only handle, so nothing
    /// could resume the thread while it waits.
    ///
    /// # Errors
    /// [`JoinError::Panicked`] when the body panicked (in Python an exception in the thread,
    /// which `join` does not raise); [`JoinError::CurrentThread`], at once and with the handle
    /// back inside the error, when called from the thread itself (Python's `RuntimeError:
    /// cannot join current thread`), never a deadlock.
    ///
    /// ```
    /// # weft_thread::set_excepthook(|_| {});
    /// assert_eq!(weft_thread::spawn(|| 1).unwrap().join().unwrap(), 1);
    /// let err = weft_thread::spawn(|| panic!("oops")).unwrap().join().unwrap_err();
    /// assert_eq!(err.into_panicked().unwrap().message(), "oops");
    /// ```
    pub fn join(self) -> Result<T, JoinError<T>> {
        if self.is_current() {
            return Err(JoinError::CurrentThread(self));
        }
        self.lift_pause();
        // Waiting for the OS thread to exit implies the result is published, and costs one wake-up
        // where waiting for `done` first would cost two.
        self.finish().map_err(JoinError::Panicked)
    }

    /// Waits at most `timeout` for the thread to finish (Python's `join(timeout)`). A zero
    /// timeout only checks; `Duration::MAX` (or any timeout too long for a deadline, or whose
    /// deadline falls within a millisecond of the clock's end, hundreds of billions of years
    /// away, which weft-async's and weft-process's timeouts also take as none) waits forever,
    /// and like [`join`](Self::join) lifts a [pause](Self::pause) in force first. A
    /// shorter timeout leaves a pause in force: the
    /// thread stays paused, and the handle comes back to [`resume`](Self::resume) it. It returns
    /// as soon as the body has ended, without waiting for the OS thread to run its thread-locals'
    /// destructors after it (which [`join`](Self::join) waits for).
    ///
    /// # Errors
    /// [`JoinTimeoutError::Timeout`] when the thread is still running, with the handle back
    /// inside the error to wait again; [`JoinTimeoutError::Panicked`] and
    /// [`JoinTimeoutError::CurrentThread`] as for [`join`](Self::join).
    ///
    /// ```
    /// use std::time::Duration;
    /// let h = weft_thread::spawn(|| 5).unwrap();
    /// assert_eq!(h.join_timeout(Duration::from_secs(10)).unwrap(), 5);
    /// ```
    pub fn join_timeout(mut self, timeout: Duration) -> Result<T, JoinTimeoutError<T>> {
        if self.is_current() {
            return Err(JoinTimeoutError::CurrentThread(self));
        }
        // The deadline is computed once, so that the pause is lifted exactly when the wait
        // is for ever: when the timeout is too long for a deadline, or its deadline lies in the
        // clock's last millisecond (no deadline, as weft-async's timers and weft-process's
        // subprocess timeouts take it: they cannot round it up to the next millisecond).
        let deadline = Instant::now()
            .checked_add(timeout)
            .filter(|deadline| deadline.checked_add(Duration::from_millis(1)).is_some());
        let finished = match deadline {
            None => {
                self.lift_pause();
                self.shared.done.wait();
                true
            }
            Some(deadline) => self
                .shared
                .done
                .wait_timeout(deadline.saturating_duration_since(Instant::now())),
        };
        if !finished {
            return Err(JoinTimeoutError::Timeout(self));
        }
        // The result is published before `done` is set. The OS thread is not waited for: what it
        // has left to run (its thread-locals' destructors) may take any time, and the timeout
        // is a promise. It exits on its own.
        self.os = None;
        self.finish().map_err(JoinTimeoutError::Panicked)
    }

    fn finish(mut self) -> Result<T, Panicked> {
        if let Some(os) = self.os.take() {
            // The body's panics were caught; the thread only has its epilogue left to run.
            let _ = os.join();
        }
        let result = self.shared.result.acquire().take();
        result.unwrap_or_else(|| {
            Err(Panicked {
                name: Arc::clone(&self.record.name),
                ident: self.record.ident,
                message: "the thread ended without a result".to_owned(),
                location: None,
                backtrace: None,
            })
        })
    }

    fn is_current(&self) -> bool {
        registry::current_record().is_some_and(|r| r.ident == self.record.ident)
    }

    /// Whether the thread is still running its body, or the excepthook for the panic that ended
    /// it (Python's `is_alive()`, also true while its excepthook runs).
    ///
    /// ```
    /// let gate = std::sync::Arc::new(weft_sync::Event::new());
    /// let g = gate.clone();
    /// let h = weft_thread::spawn(move || g.wait()).unwrap();
    /// assert!(h.is_alive());
    /// gate.set();
    /// h.join().unwrap();
    /// ```
    pub fn is_alive(&self) -> bool {
        !self.shared.done.is_set()
    }

    /// Waits at most `timeout` for the thread's body to end, without taking the result; whether
    /// it has (used by the timer handles, whose `join` then takes it). From the thread itself
    /// it returns `false` at once: it cannot end while it waits.
    pub(crate) fn wait_done(&self, timeout: Duration) -> bool {
        if self.is_current() {
            return !self.is_alive();
        }
        self.shared.done.wait_timeout(timeout)
    }

    /// The thread's name.
    ///
    /// ```
    /// let h = weft_thread::Thread::new(|| ()).name("n").start().unwrap();
    /// assert_eq!(h.name(), "n");
    /// # h.join().unwrap();
    /// ```
    pub fn name(&self) -> &str {
        &self.record.name
    }

    /// weft's id of the thread (Python's `ident`), known from `start()` on.
    ///
    /// ```
    /// let h = weft_thread::spawn(|| weft_thread::current_thread().ident()).unwrap();
    /// let ident = h.ident();
    /// assert_eq!(h.join().unwrap(), ident);
    /// ```
    pub fn ident(&self) -> u64 {
        self.record.ident
    }

    /// The OS thread id (Python's `native_id`): `None` until the thread has begun running, and on
    /// systems where weft cannot read it (it can on Linux and Android).
    ///
    /// ```
    /// let h = weft_thread::spawn(|| weft_thread::current_thread().native_id()).unwrap();
    /// while h.is_alive() {
    ///     std::thread::yield_now(); // it has begun running, and ended
    /// }
    /// let outside = h.native_id();
    /// assert_eq!(h.join().unwrap(), outside);
    /// # #[cfg(target_os = "linux")]
    /// # assert!(outside.is_some());
    /// ```
    pub fn native_id(&self) -> Option<u64> {
        self.record.native_id.get().copied().filter(|&id| id != 0)
    }

    /// Whether the thread is a daemon thread.
    ///
    /// ```
    /// let h = weft_thread::spawn(|| ()).unwrap();
    /// assert!(!h.is_daemon());
    /// # h.join().unwrap();
    /// ```
    pub fn is_daemon(&self) -> bool {
        self.record.daemon
    }

    /// A snapshot of the thread's name, ident, native id and daemon flag.
    ///
    /// ```
    /// let h = weft_thread::spawn(|| ()).unwrap();
    /// assert_eq!(h.info().ident(), h.ident());
    /// # h.join().unwrap();
    /// ```
    pub fn info(&self) -> ThreadInfo {
        self.record.info()
    }

    /// Asks the thread to stop: its [`StopToken`] reports it from now on, and a
    /// [`sleep`](StopToken::sleep) or [`checkpoint`](StopToken::checkpoint) in progress returns at
    /// once. Cooperative: a thread that never looks at its token is not affected. After the
    /// thread ended, it only marks the request ([`is_stop_requested`](Self::is_stop_requested)
    /// then answers `true`).
    ///
    /// ```
    /// let h = weft_thread::Thread::new_stoppable(|stop| stop.sleep(std::time::Duration::MAX))
    ///     .start()
    ///     .unwrap();
    /// h.stop();
    /// assert!(h.join().unwrap().is_err());
    /// ```
    pub fn stop(&self) {
        self.control.stop();
    }

    /// Asks the thread to pause: its next [`checkpoint`](StopToken::checkpoint) blocks until
    /// [`resume`](Self::resume) or [`stop`](Self::stop). Does nothing once stopped or ended.
    /// Only the handle can resume the thread, so whatever gives the handle up for good lifts the
    /// pause: dropping it, [`join`](Self::join), and a `join_timeout` that never times out
    /// (`Duration::MAX`, or any timeout too long for a deadline or whose deadline falls within a
    /// millisecond of the clock's end).
    ///
    /// ```
    /// use weft_thread::Stopped;
    /// let h = weft_thread::Thread::new_stoppable(|stop| -> Result<(), Stopped> {
    ///     loop {
    ///         stop.checkpoint()?;
    ///         std::thread::yield_now();
    ///     }
    /// })
    /// .start()
    /// .unwrap();
    /// h.pause();
    /// assert!(h.is_paused());
    /// h.resume();
    /// h.stop();
    /// assert_eq!(h.join().unwrap(), Err(Stopped));
    /// ```
    pub fn pause(&self) {
        self.control.pause();
    }

    /// Lets a paused thread continue.
    ///
    /// ```
    /// let h = weft_thread::Thread::new_stoppable(|stop| stop.checkpoint()).start().unwrap();
    /// h.pause();
    /// h.resume();
    /// assert!(!h.is_paused());
    /// # h.join().unwrap().unwrap();
    /// ```
    pub fn resume(&self) {
        self.control.resume();
    }

    /// Whether a pause is in force.
    ///
    /// ```
    /// let h = weft_thread::spawn(|| ()).unwrap();
    /// assert!(!h.is_paused());
    /// # h.join().unwrap();
    /// ```
    pub fn is_paused(&self) -> bool {
        self.control.is_paused()
    }

    /// Whether [`stop`](Self::stop) was called.
    ///
    /// ```
    /// let h = weft_thread::spawn(|| ()).unwrap();
    /// h.stop();
    /// assert!(h.is_stop_requested());
    /// # h.join().unwrap();
    /// ```
    pub fn is_stop_requested(&self) -> bool {
        self.control.is_stopped()
    }
}

impl<T> ThreadHandle<T> {
    /// Resumes the thread if a pause is in force: the handle is about to be given up for good.
    fn lift_pause(&self) {
        if self.control.is_paused() {
            self.control.resume();
        }
    }
}

impl<T> Drop for ThreadHandle<T> {
    fn drop(&mut self) {
        self.lift_pause();
    }
}

impl<T> fmt::Debug for ThreadHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadHandle")
            .field("name", &self.record.name)
            .field("ident", &self.record.ident)
            .field("daemon", &self.record.daemon)
            .field("alive", &self.is_alive())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::function_name;

    #[test]
    fn function_names_come_from_function_items_only() {
        assert_eq!(function_name("my_crate::worker").as_deref(), Some("worker"));
        assert_eq!(
            function_name("my_crate::worker<u8>").as_deref(),
            Some("worker")
        );
        assert_eq!(
            function_name("a::Type<u8, b::C<i32>>::method").as_deref(),
            Some("method")
        );
        // A function type among the generic arguments: its `->` is no closing bracket.
        assert_eq!(
            function_name("my_crate::worker<core::option::Option<fn() -> u8>>").as_deref(),
            Some("worker")
        );
        assert_eq!(
            function_name("a::Type<alloc::boxed::Box<dyn core::ops::function::Fn(u8) -> u8>>::run")
                .as_deref(),
            Some("run")
        );
        assert_eq!(function_name("my_crate::main::{{closure}}"), None);
        assert_eq!(function_name("fn() -> u8"), None);
        assert_eq!(function_name("&my_crate::worker"), None);
        assert_eq!(
            function_name("alloc::boxed::Box<dyn core::ops::FnOnce()>"),
            None
        );
        assert_eq!(function_name("<a::T as a::Tr>::f"), None);
        assert_eq!(function_name("a::b>"), None);
    }
}
