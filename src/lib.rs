//! weft: Python's concurrency toolkit for Rust.
//!
//! Python's `threading`, `queue`, `subprocess`, `multiprocessing`, `concurrent.futures` and
//! `asyncio` give one coherent model of concurrent work; weft brings it to Rust as a family of
//! focused crates, each re-exported here under its own module behind a default-on feature of the
//! same name.
//!
//! ```
//! use weft::sync::Lock;
//!
//! let lock = Lock::new(0);
//! *lock.acquire() += 1;
//! assert_eq!(*lock.acquire(), 1);
//! ```
//!
//! # Modules
//! - [`sync`]: Lock, RLock, Condition, Semaphore, BoundedSemaphore, Barrier, Event (`threading`).
//! - [`thread`]: Thread, daemon threads, join with timeout, stop and pause, Timer, excepthook
//!   (`threading.Thread`).
//! - [`channel`]: Queue, LifoQueue, PriorityQueue, SimpleQueue with task_done/join and shutdown,
//!   for threads and async tasks at once (`queue`, `asyncio.Queue`).
//! - [`main`]: the entry point a weft program wraps its `main` in; it returns once every
//!   non-daemon weft thread has finished, as a Python program does.
//!
//! # Feature flags
//! - `sync` (default): the [`sync`] module, from the `weft-sync` crate.
//! - `thread` (default): the [`thread`] module and [`main`], from the `weft-thread` crate.
//! - `channel` (default): the [`channel`] module, from the `weft-channel` crate.
#[cfg(feature = "sync")]
#[doc(inline)]
pub use weft_sync as sync;

#[cfg(feature = "thread")]
#[doc(inline)]
pub use weft_thread as thread;

#[cfg(feature = "thread")]
#[doc(inline)]
pub use weft_thread::main;

#[cfg(feature = "channel")]
#[doc(inline)]
pub use weft_channel as channel;
