//! weft-executor: Python's `concurrent.futures` for Rust — submit work to a pool, get a
//! [`Future`], collect results as they complete.
//!
//! ```
//! use std::time::Duration;
//! use weft_executor::{as_completed, ThreadPoolExecutor};
//!
//! let pool = ThreadPoolExecutor::builder().max_workers(4).build().unwrap();
//! let futures: Vec<_> = (1..=8u64)
//!     .map(|n| pool.submit(move || (1..=n).product::<u64>()).unwrap())
//!     .collect();
//! let mut factorials: Vec<u64> = as_completed(futures, Some(Duration::from_secs(60)))
//!     .map(|f| f.unwrap().result().unwrap())
//!     .collect();
//! factorials.sort();
//! assert_eq!(factorials.last(), Some(&40320));
//! ```
//!
//! # What is here
//! - [`Future`]: the eventual result of a task — [`result`](Future::result),
//!   [`result_timeout`](Future::result_timeout), [`exception`](Future::exception),
//!   [`cancel`](Future::cancel), [`cancelled`](Future::cancelled),
//!   [`running`](Future::running), [`done`](Future::done),
//!   [`add_done_callback`](Future::add_done_callback), and `.await` from async code.
//! - [`promise`] → a [`Promise`] and its [`Future`]: a future completed by code of your own
//!   (Python's `Future()` with `set_result`, for executors and tests).
//! - [`ThreadPoolExecutor`]: reusable worker threads, started lazily; `submit` a closure,
//!   `map` a function over an iterator (in order, with chunks, read-ahead and a timeout),
//!   `shutdown(wait, cancel_futures)`.
//! - `ProcessPoolExecutor` (feature `process`, Unix): the same for plain functions over serde
//!   values, run in worker processes; a dead worker breaks the pool and every pending future
//!   answers [`TaskError::BrokenPool`].
//! - [`Executor`]: the trait both pools implement, so code can switch between them.
//! - [`as_completed`] and [`wait`] with [`ReturnWhen`]: collecting many futures.
//! - [`TaskError`], [`SubmitError`], [`ResultTimeoutError`], [`AsCompletedTimeout`]: the errors,
//!   each giving back what could not be delivered.
//! - `Progress` (feature `progress`): `.progress()` on [`as_completed`] and [`Map`] draws a
//!   progress bar on stderr when it is a terminal.
//!
//! # Coming from Python
//! | Python | weft |
//! |---|---|
//! | `with ThreadPoolExecutor(max_workers=4) as ex:` | `let ex = ThreadPoolExecutor::builder().max_workers(4).build()?;` (dropping it waits) |
//! | `ex.submit(func, arg)` | `ex.submit(move \|\| func(arg))` → `Result<Future<T>, SubmitError<F>>` |
//! | `ex.map(func, it, timeout=t, chunksize=n)` | `ex.map(func, it).timeout(t).chunksize(n)` (items are `Result`s) |
//! | `ValueError` from `map` for `chunksize` or `buffersize` < 1 | [`TaskError::ZeroChunksize`], [`TaskError::ZeroBuffersize`]: `map`'s first item |
//! | `ex.shutdown(wait=True, cancel_futures=False)` | `ex.shutdown(true, false)` |
//! | pools still alive at the interpreter's exit are shut down and joined | `weft::main` shuts them down after its body and waits for their work |
//! | `RuntimeError: cannot schedule new futures after interpreter shutdown` | `SubmitError::ShutDown` from every pool while `weft::main` exits (`weft_thread::is_exiting`) |
//! | `f.result(timeout=t)` | `f.result()`, `f.result_timeout(t)` (the future comes back on timeout) |
//! | `f.exception()`; `f.exception(timeout=t)` | `f.exception()` → `Option<TaskError>`; with a timeout, `f.wait_timeout(t)` first |
//! | `f.cancel()`, `f.cancelled()`, `f.running()`, `f.done()` | the same names |
//! | `f.add_done_callback(cb)` | `f.add_done_callback(\|result\| ...)` (the callback sees the result) |
//! | `as_completed(fs, timeout)` | `as_completed(fs, Some(t))` yields `Result<Future, AsCompletedTimeout>` |
//! | `wait(fs, timeout, FIRST_EXCEPTION)` | `wait(fs, Some(t), ReturnWhen::FirstException)` → `Waited { done, not_done }` |
//! | `CancelledError`, `BrokenThreadPool`, `BrokenProcessPool`, `TimeoutError` | [`TaskError::Cancelled`], [`TaskError::BrokenPool`], [`TaskError::Timeout`] / [`ResultTimeoutError::Timeout`] |
//! | `RuntimeError` after shutdown | [`SubmitError::ShutDown`] (with the task back) |
//! | `RuntimeError: can't start new thread` from `submit` | [`SubmitError::Spawn`] (with the task back; the pool stays usable); inside `map`, [`TaskError::Spawn`] |
//! | exception in the task (not printed; `f.exception()` has it) | [`TaskError::Panicked`] (a panic: not printed from a thread pool; a process pool's worker prints it on its stderr, below a line naming the worker) or [`TaskError::Failed`] (the `Err` of a task given to `ex.submit_fallible(task)`) |
//! | the exception's traceback; a process pool's `_RemoteTraceback` (its `__cause__`) | [`TaskError::panic_location`]: where the task panicked (a thread pool's task, or the worker's) |
//!
//! # Relationship with std, rayon and tokio
//! rayon's pool runs fork-join data parallelism with no handle per task; `std::thread` has no
//! pool. weft's pool gives a handle per task with states, cancellation, callbacks and timeouts,
//! and the results of `map` in order. A weft [`Future`] is also a [`std::future::Future`]: tokio
//! code can `.await` pool work without blocking its runtime.
//!
//! # Feature flags
//! - `process` (default): `ProcessPoolExecutor` on weft-process.
//! - `progress` (default): `.progress()` bars on indicatif.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(clippy::missing_errors_doc)]

mod error;
mod executor;
mod exit;
mod future;
mod loom;
mod map;
#[cfg(all(unix, feature = "process"))]
mod process_pool;
#[cfg(feature = "progress")]
mod progress;
mod thread_pool;
mod wait;

pub use error::{AsCompletedTimeout, ResultTimeoutError, SubmitError, TaskError};
pub use executor::{Executor, Payload};
pub use future::{promise, Future, Outcome, Promise};
pub use map::Map;
#[cfg(all(unix, feature = "process"))]
pub use process_pool::{ProcessPoolBuilder, ProcessPoolExecutor};
#[cfg(feature = "progress")]
pub use progress::Progress;
pub use thread_pool::{BuildError, ThreadPoolBuilder, ThreadPoolExecutor};
pub use wait::{as_completed, wait, AsCompleted, ReturnWhen, Waited};
/// How a process pool's workers start ([`ProcessPoolBuilder::start_method`]).
#[cfg(all(unix, feature = "process"))]
pub use weft_process::StartMethod;

/// The completing side of futures, for the loom models of `tests/loom.rs`.
#[cfg(weft_loom)]
#[doc(hidden)]
pub mod model {
    pub use crate::future::{promise, Promise};
}

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
