//! The errors of running, tasks, timeouts and task groups.

use std::fmt;

/// An error returned from awaiting a [`Task`](crate::Task) (or [`to_thread`](crate::to_thread),
/// [`shield`](crate::shield), a [`GroupTask`](crate::GroupTask)): the task did not produce its
/// value.
///
/// Python raises `asyncio.CancelledError` from a cancelled task and re-raises the task's own
/// exception; in Rust a task's failure is a panic, caught and reported here, or (in a
/// [`TaskGroup`](crate::TaskGroup)) the `Err` it returned, which the group reports.
///
/// ```
/// use weft_async::{create_task, run, sleep, TaskError};
/// use std::time::Duration;
///
/// run(async {
///     let t = create_task(sleep(Duration::from_secs(3600)));
///     t.cancel();
///     assert_eq!(t.await.unwrap_err(), TaskError::Cancelled);
/// })
/// .unwrap();
/// ```
#[derive(Clone, PartialEq, Eq)]
pub enum TaskError {
    /// The task was cancelled before it finished (Python's `asyncio.CancelledError`); from
    /// [`to_thread`](crate::to_thread), also a call refused at the program's exit, which never
    /// ran (Python raises `RuntimeError` then).
    Cancelled,
    /// The task panicked; `message` is the panic's message (Python: the exception the task
    /// raised).
    Panicked {
        /// The panic payload when it was a string, otherwise a placeholder.
        message: String,
    },
    /// The task returned an `Err`; the error itself went to its [`TaskGroup`](crate::TaskGroup),
    /// which reports it from [`wait`](crate::TaskGroup::wait) (errors need not be `Clone`).
    Failed,
}

impl TaskError {
    /// `true` for [`TaskError::Cancelled`] (Python's `task.cancelled()` after the fact).
    pub fn is_cancelled(&self) -> bool {
        matches!(self, TaskError::Cancelled)
    }

    /// `true` for [`TaskError::Panicked`].
    pub fn is_panic(&self) -> bool {
        matches!(self, TaskError::Panicked { .. })
    }

    pub(crate) fn from_join(e: tokio::task::JoinError) -> Self {
        if e.is_cancelled() {
            TaskError::Cancelled
        } else {
            match e.try_into_panic() {
                Ok(payload) => TaskError::Panicked {
                    message: weft_sync::into_panic_message(payload),
                },
                Err(_) => TaskError::Cancelled,
            }
        }
    }
}

/// The message of a panic payload: weft-sync's, shared by every weft crate.
pub(crate) use weft_sync::panic_message;

impl fmt::Debug for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskError::Cancelled => f.write_str("Cancelled"),
            TaskError::Panicked { message } => f
                .debug_struct("Panicked")
                .field("message", message)
                .finish(),
            TaskError::Failed => f.write_str("Failed"),
        }
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskError::Cancelled => f.write_str("task was cancelled"),
            TaskError::Panicked { message } => write!(f, "task panicked: {message}"),
            TaskError::Failed => f.write_str("task failed; its task group holds the error"),
        }
    }
}

impl std::error::Error for TaskError {}

/// An error returned from [`timeout`](crate::timeout), [`wait_for`](crate::wait_for) and
/// [`timeout_at`](crate::timeout_at): the time ran out and the inner future was cancelled
/// (Python's `TimeoutError`, which `asyncio.TimeoutError` has been an alias of since 3.11).
///
/// ```
/// use std::time::Duration;
/// use weft_async::{run, sleep, timeout, TimeoutError};
///
/// let r = run(timeout(Duration::from_millis(10), sleep(Duration::from_secs(3600)))).unwrap();
/// assert_eq!(r, Err(TimeoutError));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct TimeoutError;

impl fmt::Display for TimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("timed out")
    }
}

impl std::error::Error for TimeoutError {}

/// An error returned from [`Loop::current`](crate::Loop::current) and
/// [`get_running_loop`](crate::get_running_loop): no runtime runs on this thread (Python's
/// `RuntimeError: no running event loop`).
///
/// ```
/// use weft_async::{get_running_loop, NoRunningLoop};
///
/// assert_eq!(get_running_loop().unwrap_err(), NoRunningLoop);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct NoRunningLoop;

impl fmt::Display for NoRunningLoop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no running event loop")
    }
}

impl std::error::Error for NoRunningLoop {}

/// An error returned from [`Loop::call_soon_threadsafe`](crate::Loop::call_soon_threadsafe)
/// and `Loop::run_coroutine_threadsafe`: the future of the loop's [`run`](crate::run) has
/// completed, its [`Runner`](crate::Runner) is closing, or its runtime is shutting down
/// (Python's `RuntimeError: Event loop is closed`).
/// The function or future, not run, comes back inside ([`into_inner`](LoopClosed::into_inner)).
///
/// ```
/// use weft_async::{run, Loop};
///
/// let lp = run(async { Loop::current().unwrap() }).unwrap(); // the run has ended
/// let (tx, rx) = std::sync::mpsc::channel();
/// let err = lp.call_soon_threadsafe(move || tx.send("ran").unwrap()).unwrap_err();
/// assert_eq!(err.to_string(), "event loop is closed");
/// assert!(rx.try_recv().is_err());
/// err.into_inner()(); // the function comes back unrun
/// assert_eq!(rx.recv(), Ok("ran"));
/// ```
pub struct LoopClosed<T>(pub T);

impl<T> LoopClosed<T> {
    /// The function or future that was not run.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for LoopClosed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LoopClosed(..)")
    }
}

impl<T> fmt::Display for LoopClosed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("event loop is closed")
    }
}

impl<T> std::error::Error for LoopClosed<T> {}
