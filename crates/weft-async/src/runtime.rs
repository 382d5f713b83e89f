//! `run` and `run_multi_thread`: Python's `asyncio.run`.

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

/// Runs `fut` to completion on a new single-threaded runtime and returns its output (Python's
/// `asyncio.run(main())`).
///
/// Like asyncio's event loop, the runtime runs every task on the calling thread, so tasks never
/// run at the same time and need no lock between them. When `fut` completes, the tasks still
/// running are cancelled: each one is dropped (its destructors run, as a Python task's `finally`
/// blocks do on `CancelledError`) before `run` returns, so none outlives it; work handed to
/// [`to_thread`](crate::to_thread) is waited for, as `asyncio.run` waits for its default
/// executor.
///
/// A panic in `fut` itself propagates out of `run` after the cleanup, as an exception propagates
/// out of `asyncio.run`; a panic in a task is reported to whoever awaits that task.
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
    run_on(tokio::runtime::Builder::new_current_thread(), fut)
}

/// Runs `fut` to completion on a new work-stealing runtime with one worker thread per core, and
/// cleans up as [`run`] does.
///
/// Tasks then run in parallel on several threads: what they share needs `Send + Sync` types and
/// locks, unlike under [`run`]. Use it for CPU-heavy async work; Python has no equivalent (its
/// event loop is always one thread).
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
    run_on(tokio::runtime::Builder::new_multi_thread(), fut)
}

thread_local! {
    /// Set while this thread runs a [`to_thread`](crate::to_thread) function (outside any `run`
    /// of its own): the outer runtime's handle is current, but no runtime runs here, so a
    /// runtime of its own may.
    static IN_TO_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` as a [`to_thread`](crate::to_thread) function: [`run`] may start a runtime inside.
pub(crate) fn as_to_thread<T>(f: impl FnOnce() -> T) -> T {
    let _flag = Flag::set(true);
    f()
}

/// Sets [`IN_TO_THREAD`] until dropped, then restores it (also when unwinding).
struct Flag(bool);

impl Flag {
    fn set(value: bool) -> Self {
        Flag(IN_TO_THREAD.with(|c| c.replace(value)))
    }
}

impl Drop for Flag {
    fn drop(&mut self) {
        IN_TO_THREAD.with(|c| c.set(self.0));
    }
}

fn run_on<F: Future>(
    mut builder: tokio::runtime::Builder,
    fut: F,
) -> Result<F::Output, RunError<F>> {
    let handle_current = tokio::runtime::Handle::try_current().is_ok();
    let in_to_thread = IN_TO_THREAD.with(Cell::get);
    if handle_current && !in_to_thread {
        return Err(RunError::Nested(fut));
    }
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return Err(RunError::Build(e, fut)),
    };
    // Inside, this thread runs a runtime: a `run` in its tasks is nested again.
    let _flag = Flag::set(false);
    if !handle_current {
        let output = runtime.block_on(fut);
        // Dropping the runtime drops every task still running (their destructors run here,
        // inside the runtime's context) and waits for the blocking threads.
        drop(runtime);
        return Ok(output);
    }
    // A `to_thread` function, where no runtime runs unless the function entered one itself
    // (`Handle::block_on`, a runtime of its own), which tokio's API does not tell. Then tokio's
    // `block_on` refuses with a panic before it polls anything: the future, still in `slot`,
    // comes back as `Nested` (tokio's panic message has been printed by then).
    let mut slot = Some(fut);
    let slot_ref = &mut slot;
    let ran = catch_unwind(AssertUnwindSafe(|| {
        runtime.block_on(async move {
            match slot_ref.take() {
                Some(fut) => Some(fut.await),
                None => None,
            }
        })
    }));
    match (ran, slot.take()) {
        (Ok(Some(output)), _) => {
            drop(runtime);
            Ok(output)
        }
        (Err(_), Some(fut)) | (Ok(None), Some(fut)) => {
            // Inside a runtime's context: shutting down must not block.
            runtime.shutdown_background();
            Err(RunError::Nested(fut))
        }
        (Err(payload), None) => {
            drop(runtime);
            resume_unwind(payload)
        }
        (Ok(None), None) => {
            // Not reached: the block above only finds the slot empty if it was polled twice.
            drop(runtime);
            resume_unwind(Box::new("weft_async::run: the future was lost"))
        }
    }
}

/// An error returned from [`run`] and [`run_multi_thread`]: the future was not run, and comes
/// back inside the error ([`into_inner`](RunError::into_inner)).
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
}

impl<F> RunError<F> {
    /// The future that was not run.
    pub fn into_inner(self) -> F {
        match self {
            RunError::Nested(f) | RunError::Build(_, f) => f,
        }
    }

    /// `true` for [`RunError::Nested`].
    pub fn is_nested(&self) -> bool {
        matches!(self, RunError::Nested(_))
    }
}

impl<F> fmt::Debug for RunError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Nested(_) => f.write_str("Nested(..)"),
            RunError::Build(e, _) => f.debug_tuple("Build").field(e).finish(),
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
        }
    }
}

impl<F> std::error::Error for RunError<F> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RunError::Nested(_) => None,
            RunError::Build(e, _) => Some(e),
        }
    }
}
