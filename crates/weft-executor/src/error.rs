//! The errors of futures and executors.

use std::convert::Infallible;
use std::fmt;

use crate::future::Future;

/// Why a task has no value: an error returned from [`Future::result`] and friends (Python's
/// exceptions raised by `Future.result()`).
///
/// `E` is the task's own error type for fallible tasks
/// ([`ThreadPoolExecutor::submit_fallible`](crate::ThreadPoolExecutor::submit_fallible));
/// it is [`Infallible`] for the others.
///
/// ```
/// use weft_executor::{TaskError, ThreadPoolExecutor};
///
/// let pool = ThreadPoolExecutor::new();
/// let f = pool.submit(|| -> u32 { panic!("no luck") }).unwrap();
/// assert!(matches!(f.result(), Err(TaskError::Panicked { message, .. }) if message == "no luck"));
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TaskError<E = Infallible> {
    /// The task returned its own error (a fallible task's `Err`; Python: the exception the
    /// function raised).
    Failed(E),
    /// The task panicked; the panic's message and location (Python: the exception the function
    /// raised, with its traceback).
    Panicked {
        /// The panic's message (`"Box<dyn Any>"` if it was not a string).
        message: String,
        /// Where the task panicked (`file:line:column`). From a
        /// [`ThreadPoolExecutor`](crate::ThreadPoolExecutor), which runs its tasks under
        /// [`weft_thread::catch_panic`], and from a weft-async loop's future
        /// (`run_coroutine_threadsafe`), each poll of which runs under it: the panic is
        /// recorded there instead of printed, as Python prints nothing and keeps the traceback
        /// on the exception. From a [`ProcessPoolExecutor`](crate::ProcessPoolExecutor): the
        /// worker's panic hook records it, as Python's process pool sends the worker's
        /// traceback along (`_RemoteTraceback`). `None` when no hook could record it (a panic
        /// hook the program or the task set with `std::panic::set_hook`, which printed it; a
        /// payload raised with `resume_unwind`, by `catch_panic`'s rule).
        location: Option<String>,
    },
    /// The future was cancelled before it started (Python's `CancelledError`).
    Cancelled,
    /// The pool broke before the task could finish: an initializer failed, a worker process
    /// died, or the pool was torn down (Python's `BrokenThreadPool` / `BrokenProcessPool`).
    BrokenPool {
        /// What broke the pool.
        reason: String,
    },
    /// A process pool could not carry the argument or the result between processes (Python's
    /// pickling errors). The message says what failed: for an error a `Serialize` or
    /// `Deserialize` impl made with `Error::custom(msg)`, serde's own among them, it holds
    /// `msg`.
    Serialize {
        /// What the codec said.
        message: String,
    },
    /// The wait ended before the result: only from iterators made with a timeout, such as
    /// [`Map::timeout`](crate::Map::timeout) (Python's `TimeoutError`).
    Timeout,
    /// No worker thread could be started to run the item, which did not run; the pool is not
    /// broken (Python's `RuntimeError: can't start new thread` from the `submit` inside `map`).
    /// Only from [`Map`](crate::Map), whose `submit` has no other way to say it.
    Spawn {
        /// Why the thread could not start.
        reason: String,
    },
    /// [`Map::chunksize`](crate::Map::chunksize) was given 0 (Python's `ValueError: chunksize
    /// must be >= 1.`): the first and only item of the [`Map`](crate::Map), which read and
    /// submitted nothing.
    ZeroChunksize,
    /// [`Map::buffersize`](crate::Map::buffersize) was given 0 (Python's `ValueError:
    /// buffersize must be None or >= 1.`): the first and only item of the
    /// [`Map`](crate::Map), which read and submitted nothing.
    ZeroBuffersize,
}

impl<E> TaskError<E> {
    /// Whether the task was cancelled.
    ///
    /// ```
    /// assert!(weft_executor::TaskError::<()>::Cancelled.is_cancelled());
    /// ```
    pub fn is_cancelled(&self) -> bool {
        matches!(self, Self::Cancelled)
    }

    /// Whether the pool broke (Python's `BrokenExecutor`).
    ///
    /// ```
    /// let e = weft_executor::TaskError::<()>::BrokenPool { reason: "worker died".into() };
    /// assert!(e.is_broken_pool());
    /// ```
    pub fn is_broken_pool(&self) -> bool {
        matches!(self, Self::BrokenPool { .. })
    }

    /// The panic message, if the task panicked.
    ///
    /// ```
    /// let e = weft_executor::TaskError::<()>::Panicked {
    ///     message: "boom".into(),
    ///     location: None,
    /// };
    /// assert_eq!(e.panic_message(), Some("boom"));
    /// ```
    pub fn panic_message(&self) -> Option<&str> {
        match self {
            Self::Panicked { message, .. } => Some(message),
            _ => None,
        }
    }

    /// Where the task panicked (`file:line:column`), if it panicked in a thread or process pool
    /// that recorded it (see [`TaskError::Panicked`]).
    ///
    /// ```
    /// let pool = weft_executor::ThreadPoolExecutor::new();
    /// let f = pool.submit(|| -> u8 { panic!("boom") }).unwrap(); // not printed
    /// let err = f.result().unwrap_err();
    /// assert!(err.panic_location().unwrap().contains(".rs:")); // the line above
    /// ```
    ///
    ///
    /// ```
    /// let e: weft_executor::TaskError = weft_executor::TaskError::Panicked {
    ///     message: "boom".into(),
    ///     location: Some("src/job.rs:3:5".into()),
    /// };
    /// assert_eq!(e.panic_location(), Some("src/job.rs:3:5"));
    /// assert_eq!(e.to_string(), "the task panicked at src/job.rs:3:5: boom");
    /// ```
    pub fn panic_location(&self) -> Option<&str> {
        match self {
            Self::Panicked { location, .. } => location.as_deref(),
            _ => None,
        }
    }

    /// The task's own error, if it returned one.
    ///
    /// ```
    /// assert_eq!(weft_executor::TaskError::Failed(7).into_failed(), Some(7));
    /// ```
    pub fn into_failed(self) -> Option<E> {
        match self {
            Self::Failed(e) => Some(e),
            _ => None,
        }
    }
}

impl<E: fmt::Debug> fmt::Debug for TaskError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Failed(e) => f.debug_tuple("Failed").field(e).finish(),
            Self::Panicked { message, location } => f
                .debug_struct("Panicked")
                .field("message", message)
                .field("location", location)
                .finish(),
            Self::Cancelled => f.write_str("Cancelled"),
            Self::BrokenPool { reason } => f
                .debug_struct("BrokenPool")
                .field("reason", reason)
                .finish(),
            Self::Serialize { message } => f
                .debug_struct("Serialize")
                .field("message", message)
                .finish(),
            Self::Timeout => f.write_str("Timeout"),
            Self::Spawn { reason } => f.debug_struct("Spawn").field("reason", reason).finish(),
            Self::ZeroChunksize => f.write_str("ZeroChunksize"),
            Self::ZeroBuffersize => f.write_str("ZeroBuffersize"),
        }
    }
}

impl<E: fmt::Display> fmt::Display for TaskError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Failed(e) => write!(f, "the task failed: {e}"),
            Self::Panicked {
                message,
                location: Some(at),
            } => write!(f, "the task panicked at {at}: {message}"),
            Self::Panicked {
                message,
                location: None,
            } => write!(f, "the task panicked: {message}"),
            Self::Cancelled => f.write_str("the future was cancelled"),
            Self::BrokenPool { reason } => write!(f, "the pool is broken: {reason}"),
            Self::Serialize { message } => {
                write!(f, "the task's value could not be serialized: {message}")
            }
            Self::Timeout => f.write_str("timed out waiting for the result"),
            Self::Spawn { reason } => write!(f, "cannot start a worker thread: {reason}"),
            Self::ZeroChunksize => f.write_str("map's chunksize must be at least 1"),
            Self::ZeroBuffersize => f.write_str("map's buffersize must be at least 1"),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for TaskError<E> {}

/// An error returned from [`Future::result_timeout`]: the future is not done yet (and comes back
/// to wait again), or the task failed.
pub enum ResultTimeoutError<T, E = Infallible> {
    /// Not done within the timeout; the future is given back (Python's `TimeoutError`, after
    /// which the future can still be waited for).
    Timeout(Future<T, E>),
    /// Done, without a value.
    Task(TaskError<E>),
}

impl<T, E> ResultTimeoutError<T, E> {
    /// Whether the wait timed out.
    ///
    /// ```
    /// use std::time::Duration;
    /// let pool = weft_executor::ThreadPoolExecutor::new();
    /// let gate = std::sync::Arc::new(weft_sync::Event::new());
    /// let g = gate.clone();
    /// let f = pool.submit(move || g.wait()).unwrap();
    /// let f = match f.result_timeout(Duration::from_millis(10)) {
    ///     Err(e) if e.is_timeout() => e.into_future().unwrap(),
    ///     _ => unreachable!(),
    /// };
    /// gate.set();
    /// f.result().unwrap();
    /// ```
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Timeout(_))
    }

    /// The future, if the wait timed out.
    pub fn into_future(self) -> Option<Future<T, E>> {
        match self {
            Self::Timeout(f) => Some(f),
            Self::Task(_) => None,
        }
    }
}

impl<T, E: fmt::Debug> fmt::Debug for ResultTimeoutError<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Timeout(_) => f.write_str("Timeout(..)"),
            Self::Task(e) => f.debug_tuple("Task").field(e).finish(),
        }
    }
}

impl<T, E: fmt::Display> fmt::Display for ResultTimeoutError<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Timeout(_) => f.write_str("timed out waiting for the result"),
            Self::Task(e) => e.fmt(f),
        }
    }
}

impl<T, E: fmt::Debug + fmt::Display> std::error::Error for ResultTimeoutError<T, E> {}

/// An error returned from `submit` (and [`Executor::submit`](crate::Executor::submit)): the
/// pool takes no more work, or (for [`Spawn`](SubmitError::Spawn)) could not take this task
/// now. What was submitted comes back inside ([`into_inner`]).
///
/// [`into_inner`]: SubmitError::into_inner
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SubmitError<T> {
    /// The pool was shut down (Python's `RuntimeError: cannot schedule new futures after
    /// shutdown`), or the program's exit has begun: from `weft::main`'s body's end until it
    /// returns (`weft_thread::is_exiting`), every pool refuses so, one never shut down too
    /// (Python's `... after interpreter shutdown`). A pool that is also broken refuses with
    /// [`SubmitError::BrokenPool`] instead, as Python's `submit` checks `_broken` first.
    ShutDown(T),
    /// The pool is broken (Python's `BrokenThreadPool` / `BrokenProcessPool`).
    BrokenPool {
        /// What broke the pool.
        reason: String,
        /// What was submitted.
        value: T,
    },
    /// A process pool could not serialize the argument (or it is over the 64 MiB frame limit);
    /// nothing was sent. Python's pickling error, which Python reports on the future, comes back
    /// here with the argument.
    Serialize {
        /// What the codec said.
        message: String,
        /// What was submitted.
        value: T,
    },
    /// A thread pool had no worker and could not start one (Python's `RuntimeError: can't start
    /// new thread`): nothing was queued, and the pool is not broken, so a later submit tries
    /// again.
    Spawn {
        /// The system's error.
        reason: String,
        /// What was submitted.
        value: T,
    },
}

impl<T> SubmitError<T> {
    /// What was submitted, given back.
    ///
    /// ```
    /// let pool = weft_executor::ThreadPoolExecutor::new();
    /// pool.shutdown(true, false);
    /// let err = pool.submit(|| 5).unwrap_err();
    /// assert!(err.is_shut_down());
    /// assert_eq!((err.into_inner())(), 5);
    /// ```
    pub fn into_inner(self) -> T {
        match self {
            Self::ShutDown(v)
            | Self::BrokenPool { value: v, .. }
            | Self::Serialize { value: v, .. }
            | Self::Spawn { value: v, .. } => v,
        }
    }

    /// Whether the pool was shut down, or the program is exiting ([`SubmitError::ShutDown`];
    /// `false` for a pool that is also broken, which refuses with [`SubmitError::BrokenPool`]).
    pub fn is_shut_down(&self) -> bool {
        matches!(self, Self::ShutDown(_))
    }

    /// Whether the pool is broken.
    pub fn is_broken_pool(&self) -> bool {
        matches!(self, Self::BrokenPool { .. })
    }

    /// Whether no worker thread could be started ([`SubmitError::Spawn`]): the pool is not
    /// broken, and a later submit may succeed.
    pub fn is_spawn(&self) -> bool {
        matches!(self, Self::Spawn { .. })
    }
}

impl<T> fmt::Debug for SubmitError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ShutDown(_) => f.write_str("ShutDown(..)"),
            Self::BrokenPool { reason, .. } => f
                .debug_struct("BrokenPool")
                .field("reason", reason)
                .finish_non_exhaustive(),
            Self::Serialize { message, .. } => f
                .debug_struct("Serialize")
                .field("message", message)
                .finish_non_exhaustive(),
            Self::Spawn { reason, .. } => f
                .debug_struct("Spawn")
                .field("reason", reason)
                .finish_non_exhaustive(),
        }
    }
}

impl<T> fmt::Display for SubmitError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ShutDown(_) => f.write_str(
                "cannot submit after the pool was shut down or the program's exit began",
            ),
            Self::BrokenPool { reason, .. } => write!(f, "the pool is broken: {reason}"),
            Self::Serialize { message, .. } => {
                write!(f, "the argument could not be serialized: {message}")
            }
            Self::Spawn { reason, .. } => write!(f, "cannot start a worker thread: {reason}"),
        }
    }
}

impl<T> std::error::Error for SubmitError<T> {}

/// An error returned from the [`as_completed`](crate::as_completed) iterator when its timeout
/// passes with futures still unfinished (Python's `TimeoutError: N (of M) futures unfinished`).
/// The unfinished futures come back inside: nothing is lost.
pub struct AsCompletedTimeout<T, E = Infallible> {
    /// The futures still unfinished, in the order they were given.
    pub unfinished: Vec<Future<T, E>>,
    /// How many futures were given in all.
    pub total: usize,
}

impl<T, E> fmt::Debug for AsCompletedTimeout<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsCompletedTimeout")
            .field("unfinished", &self.unfinished.len())
            .field("total", &self.total)
            .finish()
    }
}

impl<T, E> fmt::Display for AsCompletedTimeout<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (of {}) futures unfinished",
            self.unfinished.len(),
            self.total
        )
    }
}

impl<T, E> std::error::Error for AsCompletedTimeout<T, E> {}
