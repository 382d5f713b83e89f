//! weft-process: Python's `subprocess` and `multiprocessing` for Rust.
//!
//! - [`subprocess`]: [`run`] a program with captured output, input, `check` and a timeout that
//!   kills and reaps it; [`Popen`] with a [`communicate`](Popen::communicate) that never deadlocks
//!   on full pipes; async twins on tokio (feature `async`, on by default).
//! - multiprocessing: [`Process`] runs a plain function `fn(A) -> R` in a child process and
//!   [`join`](ProcessHandle::join) returns its result (or its panic, or the signal that killed
//!   it); [`ProcessQueue`] is a bounded queue shared by any number of processes, with
//!   `task_done`/`join`, `shutdown` and `shutdown_immediate`, and an iterator ([`QueueIter`]);
//!   [`Pipe`] gives two connected [`Connection`]s.
//! - pool building block: a [`Worker`] is a child that serves many [`Call`]s (a plain function
//!   and its argument, or a chunk of arguments) tagged with ids, with an initializer and a
//!   `max_tasks` retirement; weft-executor's `ProcessPoolExecutor` is built on it.
//!
//! # The `__main__` guard
//! A child is this same program started again, so its `main` must hand it to its function
//! before doing anything else: wrap `main` in [`main`] (the umbrella's `weft::main`) or call
//! [`init`] as its first line. A program that starts a process without it gets
//! [`ProcessError::NoGuard`], never a child that runs the parent's `main` again.
//!
//! By default (Python 3.14's *forkserver*, [`StartMethod::ForkServer`]) the first start runs
//! the program once more as a server that stops inside the guard, and each child is a fork of
//! that server, taking its parent's working directory, stdout, stderr and environment of the
//! moment: the same function, dispatched and checked as in a spawned child, about three times
//! faster to start (the rest of its process state is the server's; see [`StartMethod`]).
//! [`StartMethod::Spawn`] (Python's *spawn*, chosen per process or with [`set_start_method`])
//! executes the program again for each child; the default does so where no fork server can be
//! had (a program that starts a thread before the guard; systems other than Linux).
//!
//! ```
//! use weft_process::{Pipe, Process};
//!
//! fn square(x: u64) -> u64 {
//!     x * x
//! }
//!
//! fn main() {
//!     weft_process::main(|| {
//!         let child = Process::new(square, 12).start().unwrap();
//!         assert_eq!(child.join().unwrap(), 144);
//!         let (a, b) = Pipe::<String>::new().unwrap();
//!         a.send(&"hello".to_string()).unwrap();
//!         assert_eq!(b.recv().unwrap(), "hello");
//!     })
//! }
//! ```
//!
//! # Coming from Python
//! | Python | weft |
//! |---|---|
//! | `subprocess.run(args, capture_output=True, input=b, timeout=t, check=True)` | `run(args).capture().input(b).timeout(t).check().output()` → [`CompletedProcess`] |
//! | `subprocess.call`, `check_call`, `check_output` | [`call`], [`check_call`], [`check_output`] |
//! | `CalledProcessError`, `TimeoutExpired`, `FileNotFoundError` | [`SubprocessError::CalledProcessError`], [`SubprocessError::TimeoutExpired`] (the child killed and reaped, its output so far inside), [`SubprocessError::Spawn`] |
//! | `Popen(...)`, `communicate(input, timeout)`, `poll`, `wait(timeout)` | `run(args).spawn()` → [`Popen`]: `communicate_timeout`, `poll`, `wait_timeout` (`Ok(None)` where Python raises) |
//! | `p.terminate()`, `p.kill()` from another thread | [`Popen::killer`] → [`Killer`] (`Send + Sync`) |
//! | `asyncio.create_subprocess_exec` | `run(args).spawn_async()` → `AsyncPopen` (feature `async`) |
//! | `multiprocessing.Process(target=f, args=(a,)).start()`; `join()` | `Process::new(f, a).start()?` → [`ProcessHandle`]; `join()` gives `f`'s result |
//! | `join(timeout)`, `is_alive`, `exitcode`, `terminate`, `kill`, `daemon`, `name` | [`ProcessHandle::join_timeout`] (the handle back on timeout), and the same names |
//! | an exception in the child; a child killed by a signal | [`ProcessError::Panicked`] (message and location); [`ProcessError::Signaled`] |
//! | `if __name__ == "__main__":` | [`main`] (`weft::main`) around `main`, or [`init`] first in it |
//! | `set_start_method("forkserver" \| "spawn")` | [`set_start_method`]\([`StartMethod`]\) (fork server by default, as Python 3.14 on Linux) |
//! | `multiprocessing.JoinableQueue(maxsize)` | `ProcessQueue::new(maxsize)` (Linux): put/get with `try_`/timeout forms, `task_done`, `join`, `shutdown`, `shutdown_immediate` |
//! | `queue.Empty`, `queue.Full`, `ShutDown` (3.13) | `QueueError::Empty`, `Full(item)`, `ShutDown(item)` (the item back) |
//! | `multiprocessing.Pipe(duplex=True)` / `(False)` | [`Pipe::new`] / [`Pipe::one_way`] → [`Connection`]s: `send`, `recv`, `recv_timeout`, `poll` |
//! | `EOFError` from `recv` on a closed pipe | [`ConnectionError::Closed`] |
//! | `multiprocessing.connection.wait(objects, timeout)` | [`Worker::wait_any`] (over workers only) |
//! | pickle (any object, with `__reduce__`) | serde (`Serialize + DeserializeOwned`) in postcard's codec; a [`Connection`] or `ProcessQueue` travels inside a message |
//!
//! # Relationship with std and tokio
//! [`std::process::Command`] and `tokio::process` start a program and give its pipes; weft's
//! [`run`] builds on `std::process` and adds what Python's `subprocess` adds over them: a
//! timeout that kills and reaps, `check`, a `communicate` that reads both pipes while it writes
//! so that no full pipe deadlocks, and typed errors that carry the output. Neither std nor tokio
//! runs a Rust *function* in a child process; [`Process`], [`Worker`], [`ProcessQueue`] and
//! [`Pipe`] are multiprocessing's pieces, with serde in place of pickle.
//!
//! # Feature flags
//! - `async` (default): the async subprocess API on `tokio::process`: `Run::output_async`,
//!   `Run::spawn_async` and `AsyncPopen`.
//!
//! # How it is built
//! - A child re-executes `/proc/self/exe` (so a binary rebuilt on disk since the parent started
//!   is not what runs; the child also checks the file's identity), receives its job on a Unix
//!   socket that replaces its stdin (then `/dev/null`), closes every descriptor it inherited by
//!   accident, and dies with its parent (`PR_SET_PDEATHSIG`; children are started from the main
//!   thread or one long-lived thread, because the signal follows the starting *thread*).
//! - Messages are serde values in postcard's compact codec, in length-prefixed frames with a
//!   size limit: a corrupted or oversized frame is an error for that connection, never a crash or
//!   an unbounded allocation. Connections and queues travel inside messages as file descriptors
//!   (`SCM_RIGHTS`). A `Serialize` or `Deserialize` impl that fails with `Error::custom(msg)`
//!   (serde's own errors too: "invalid value: …", "missing field …") is reported with `msg`, as
//!   pickle's exception says what failed, though postcard's error keeps no message: weft's
//!   adapter keeps it. A `Serialize` impl that panics as this process encodes a caller's value
//!   (a `Connection`'s message, a `Call`'s argument, a `Process`'s argument, a queue's item)
//!   fails that operation the same way, with the panic's message, instead of unwinding into the
//!   caller (the panic hook still prints the panic first, as for any panic weft catches; Python
//!   prints nothing for an exception it passes on).
//! - The fork server (Linux) is such a child that answers fork requests with one thread (it
//!   checks), so forking it is sound; a forked child closes the server's descriptors, dies with
//!   the server, which dies with the parent, and is reaped by the server, which hands the parent
//!   a pidfd and the child's wait status through a pipe. Each request carries the parent's
//!   working directory and stdout/stderr (descriptors) and environment, which the child takes
//!   before its job. The points above about re-execution hold for the server; its children are
//!   copies of it.
//! - [`ProcessQueue`] items are encoded into a ring of bytes in shared memory (`memfd`), copied
//!   in and out under a lock word that names its holder's process (a dead holder's lock is taken
//!   over), with futex waits only when a side has to sleep.
//!
//! Unix only; [`ProcessQueue`] and the parent-death signal are Linux only.
#![cfg(unix)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(clippy::missing_errors_doc)]

mod connection;
mod deep;
mod error;
#[cfg(any(target_os = "linux", target_os = "android"))]
mod forkserver;
#[cfg(all(not(weft_loom), any(target_os = "linux", target_os = "android")))]
mod holders;
mod model;
mod process;
// Not under the models, which check its protocol (`ring`) on memory of their own.
#[cfg(all(not(weft_loom), any(target_os = "linux", target_os = "android")))]
mod queue;
// Public (hidden) only for the loom models, which check its protocol through it.
#[cfg(weft_loom)]
#[doc(hidden)]
pub mod ring;
#[cfg(all(not(weft_loom), any(target_os = "linux", target_os = "android")))]
#[allow(
    unreachable_pub,
    reason = "its items are public under --cfg weft_loom for the models"
)]
mod ring;
pub mod subprocess;
mod wire;
mod worker;

pub use connection::{Connection, Pipe};
pub use error::{CallError, ConnectionError, ProcessError, SendCallError};
pub use process::{
    current_process_name, init, main, set_start_method, start_method, Process, ProcessHandle,
    StartError, StartMethod,
};
#[cfg(all(not(weft_loom), any(target_os = "linux", target_os = "android")))]
pub use queue::{ProcessQueue, QueueError, QueueIter, DEFAULT_MAX_ITEM};
#[cfg(any(target_os = "linux", target_os = "android"))]
pub use ring::TooManyTaskDone;
// subprocess's names at the root too, as `run` is: the README's table and Python's module
// (`subprocess.check_output`) name them without the submodule.
#[cfg(feature = "async")]
pub use subprocess::AsyncPopen;
pub use subprocess::{
    call, check_call, check_output, run, CompletedProcess, Killer, Popen, Redirect, Run,
    SubprocessError,
};
pub use worker::{Call, Reply, Worker, WorkerBuilder, WorkerEvent};

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
