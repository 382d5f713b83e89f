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
//!
//! # Feature flags
//! - `sync` (default): the [`sync`] module, from the `weft-sync` crate.
#[cfg(feature = "sync")]
#[doc(inline)]
pub use weft_sync as sync;
