//! weft: Python's concurrency toolkit for Rust.
//!
//! Python's `threading`, `queue`, `subprocess`, `multiprocessing`, `concurrent.futures` and
//! `asyncio` give one coherent model of concurrent work; weft brings it to Rust as a family of
//! focused crates, each re-exported here under its own module behind a default-on feature of the
//! same name.
//!
//! ```
//! # #[cfg(feature = "sync")] {
//! use weft::sync::Lock;
//!
//! let lock = Lock::new(0);
//! *lock.acquire() += 1;
//! assert_eq!(*lock.acquire(), 1);
//! # }
//! ```
//!
//! # Modules
//! - [`sync`]: Lock, RLock, Condition, Semaphore, BoundedSemaphore, Barrier, Event (`threading`).
//! - [`thread`]: Thread, daemon threads, join with timeout, stop and pause, Timer, excepthook
//!   (`threading.Thread`).
//! - [`channel`]: Queue, LifoQueue, PriorityQueue, SimpleQueue with task_done/join and shutdown,
//!   for threads and async tasks at once (`queue`, `asyncio.Queue`).
//! - [`process`]: subprocess (run, Popen, communicate) and multiprocessing (Process,
//!   ProcessQueue, Pipe) (`subprocess`, `multiprocessing`).
//! - [`executor`]: Future, ThreadPoolExecutor, ProcessPoolExecutor, as_completed, wait, progress
//!   bars (`concurrent.futures`).
//! - [`aio`]: run, tasks, gather, timeouts, TaskGroup, async generators, async context managers,
//!   Event, Condition, Barrier, BoundedSemaphore on tokio (`asyncio`; `async` is a keyword).
//! - [`main`]: the entry point a weft program wraps its `main` in (Python's
//!   `if __name__ == "__main__":`): it hands a child process to its function before any of the
//!   program runs (with the `process` feature), and returns once every non-daemon weft thread and
//!   child process has finished, as a Python program does.
//!
//! # Feature flags
//! - `sync` (default): the [`sync`] module, from the `weft-sync` crate.
//! - `thread` (default): the [`thread`] module and [`main`], from the `weft-thread` crate.
//! - `channel` (default): the [`channel`] module, from the `weft-channel` crate.
//! - `process` (default): the [`process`] module, from the `weft-process` crate; [`main`] then
//!   comes from it (it wraps weft-thread's).
//! - `executor` (default): the [`executor`] module, from the `weft-executor` crate (with its
//!   process pool and progress bars).
//! - `aio` (default): the [`aio`] module, from the `weft-async` crate, and its generator macros
//!   at the root.
//! - `deadlock-detection` (off by default; turns on `sync`): lock-order validation and a live
//!   wait-for-graph check in the Lock, RLock and Condition of [`sync`], configured through
//!   `weft::sync::deadlock` (weft-sync's feature of the same name).
//!
//! Built without some features, the module links above lead to the crates' own documentation.
//!
#![cfg_attr(feature = "sync", doc = "[`sync`]: crate::sync")]
#![cfg_attr(not(feature = "sync"), doc = "[`sync`]: https://docs.rs/weft-sync")]
#![cfg_attr(feature = "thread", doc = "[`thread`]: crate::thread")]
#![cfg_attr(
    not(feature = "thread"),
    doc = "[`thread`]: https://docs.rs/weft-thread"
)]
#![cfg_attr(feature = "channel", doc = "[`channel`]: crate::channel")]
#![cfg_attr(
    not(feature = "channel"),
    doc = "[`channel`]: https://docs.rs/weft-channel"
)]
#![cfg_attr(feature = "process", doc = "[`process`]: crate::process")]
#![cfg_attr(
    not(feature = "process"),
    doc = "[`process`]: https://docs.rs/weft-process"
)]
#![cfg_attr(feature = "executor", doc = "[`executor`]: crate::executor")]
#![cfg_attr(
    not(feature = "executor"),
    doc = "[`executor`]: https://docs.rs/weft-executor"
)]
#![cfg_attr(feature = "aio", doc = "[`aio`]: crate::aio")]
#![cfg_attr(not(feature = "aio"), doc = "[`aio`]: https://docs.rs/weft-async")]
#![cfg_attr(
    any(feature = "thread", feature = "process"),
    doc = "[`main`]: crate::main"
)]
#![cfg_attr(
    not(any(feature = "thread", feature = "process")),
    doc = "[`main`]: https://docs.rs/weft-thread/latest/weft_thread/fn.main.html"
)]
#[cfg(feature = "sync")]
#[doc(inline)]
pub use weft_sync as sync;

#[cfg(feature = "thread")]
#[doc(inline)]
pub use weft_thread as thread;

#[cfg(all(feature = "thread", not(feature = "process")))]
#[doc(inline)]
pub use weft_thread::main;

#[cfg(feature = "process")]
#[doc(inline)]
pub use weft_process::main;

#[cfg(feature = "process")]
#[doc(inline)]
pub use weft_process as process;

#[cfg(feature = "channel")]
#[doc(inline)]
pub use weft_channel as channel;

#[cfg(feature = "executor")]
#[doc(inline)]
pub use weft_executor as executor;

#[cfg(feature = "aio")]
#[doc(inline)]
pub use weft_async as aio;

/// Async generators (Python's `async def` with `yield`): weft-async's macros, at the root as
/// macros are.
#[cfg(feature = "aio")]
#[doc(inline)]
pub use weft_async::{async_gen, try_async_gen};
