//! weft-process: Python's `subprocess` and `multiprocessing` for Rust.
#![cfg(unix)]

mod connection;
mod error;
mod process;
#[cfg(any(target_os = "linux", target_os = "android"))]
mod queue;
pub mod subprocess;
mod wire;

pub use connection::{Connection, Pipe};
pub use error::{ConnectionError, ProcessError};
pub use process::{current_process_name, init, main, Process, ProcessHandle};
#[cfg(any(target_os = "linux", target_os = "android"))]
pub use queue::{ProcessQueue, QueueError, TooManyTaskDone, DEFAULT_MAX_ITEM};
