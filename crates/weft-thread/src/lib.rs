//! Python's `threading.Thread` for Rust: threads that return values, joins that time out and can be
//! retried, daemon threads and Python's exit rule, cooperative stop and pause, `Timer`, and an
//! excepthook that reports a thread's panic with its name.
//!
//! ```
//! use std::time::Duration;
//! use weft_thread::{Thread, JoinTimeoutError};
//!
//! fn main() {
//!     weft_thread::main(|| {
//!         let worker = Thread::new_stoppable(|stop| {
//!             let mut rounds = 0;
//!             while stop.sleep(Duration::from_millis(1)).is_ok() {
//!                 rounds += 1;
//!             }
//!             rounds
//!         })
//!         .name("worker")
//!         .start()
//!         .unwrap();
//!
//!         // Python's `join(timeout)` then `is_alive()`: the handle comes back on timeout.
//!         let worker = match worker.join_timeout(Duration::from_millis(5)) {
//!             Err(JoinTimeoutError::Timeout(handle)) => handle,
//!             other => panic!("{other:?}"),
//!         };
//!         assert!(worker.is_alive());
//!         worker.stop();
//!         let _rounds = worker.join().unwrap();
//!     }); // returns once every non-daemon weft thread has finished
//! }
//! ```
//!
//! # The pieces
//! - [`Thread`] (builder) and [`spawn`] start threads; [`ThreadHandle`] joins, times out, stops
//!   and pauses them.
//! - [`Runnable`] and [`Thread::from_runnable`]: the subclass style (the closure style is
//!   preferred).
//! - [`main`] and [`wait_non_daemon`]: Python's exit rule, daemon threads included;
//!   [`before_exit`]: what `main` runs before it waits (weft-executor shuts its pools down there);
//!   [`is_exiting`]: whether a `main` is past its body.
//! - [`StopToken`] and [`Stopped`]: cooperative stop and pause, inside the thread.
//! - [`Timer`] and [`Interval`]: run a function later, or every period, unless cancelled.
//! - [`set_excepthook`], [`default_excepthook`]: how a panic that ends a thread is reported.
//! - [`catch_panic`]: `catch_unwind` that records where, without printing (for pools that hand a
//!   task's panic to its future).
//! - [`active_count`], [`enumerate`], [`current_thread`], [`main_thread`] and [`ThreadInfo`].
//!
//! # Coming from Python
//! | Python `threading` | weft-thread |
//! |---|---|
//! | `t = Thread(target=f, name=n, daemon=True)`; `t.start()` | `let t = Thread::new(f).name(n).daemon(true).start()?;` |
//! | `t.join()` | `t.join()` → `Result<T, JoinError>`: the thread's return value, or its panic |
//! | `t.join(timeout)`; `t.is_alive()` | `t.join_timeout(d)`: the value, or the handle back in `Err(Timeout(t))` |
//! | `t.name`, `t.ident`, `t.native_id`, `t.daemon` | `t.name()`, `t.ident()`, `t.native_id()`, `t.is_daemon()` |
//! | `class W(Thread): def run(self)` | `impl Runnable for W`; `Thread::from_runnable(w)` |
//! | the interpreter waits for non-daemon threads at exit | `weft::main(\|\| ...)`, or `wait_non_daemon()` |
//! | `threading._register_atexit(f)` | [`before_exit(f)`](before_exit) |
//! | `not threading.main_thread().is_alive()` (the main body has ended; the exit runs) | [`is_exiting()`](is_exiting) |
//! | a stop flag or `Event` checked by the thread | `Thread::new_stoppable(\|stop\| ...)`, `t.stop()`, `stop.sleep(d)?` |
//! | pausing with an `Event` the thread waits on | `t.pause()`, `t.resume()`, `stop.checkpoint()?` |
//! | `Timer(interval, f)`; `start()`; `cancel()` | `Timer::new(d, f).start()?`; `cancel()` |
//! | `threading.excepthook = hook` | `set_excepthook(hook)` |
//! | `try: f()` / `except BaseException as e:` (caught: not printed, traceback kept) | [`catch_panic(f)`](catch_panic) → `Err(Panicked)` with the location |
//! | `threading.local()` | `std::thread_local!` |
//! | `threading.stack_size(n)` (below 32 KiB a `ValueError`) | [`Thread::stack_size(n)`](Thread::stack_size) (below 32 KiB [`StartError::StackSize`]) |
//! | `active_count()`, `enumerate()`, `current_thread()`, `main_thread()` | the same names |
//!
//! # Relationship with std
//! A weft thread is a `std::thread` (named, so panics and debuggers show the name) plus a small
//! shared record: the result slot and a completion [`Event`](weft_sync::Event) that make
//! `join_timeout` and `is_alive` possible, a stop/pause control made of two weft-sync events, and
//! an entry in a process-wide registry used for the exit rule and `enumerate`. std's
//! `JoinHandle::join` cannot time out; `std::thread::spawn` panics when the OS refuses a thread,
//! where [`Thread::start`] returns [`StartError`].
//!
//! Panics: a weft thread catches a panic in its body, reports it once through the excepthook (by
//! default printed as `Exception in thread NAME:` with the location and message) and hands it to
//! `join`. To do that, weft wraps the process's panic hook the first time it starts a thread, and
//! silences it for panics inside weft thread bodies; panics elsewhere reach the previous hook as
//! before. A panic that the thread catches itself is not printed, as in Python. [`catch_panic`]
//! does the same for any code: it catches a panic without printing it and returns it with its
//! location (weft-executor's thread pool runs its tasks with it). A panic that
//! ends the process before it can be reported (every panic under `panic = "abort"`, a
//! destructor panicking during the unwinding) goes to the previous hook as well, after the
//! body's panics recorded before it, so that the abort is never silent. Set a panic hook of your
//! own (`std::panic::set_hook`) before the first weft thread starts: a hook set later replaces
//! weft's wrapper, and panics in weft threads are then printed by it as well as reported, without
//! a [`Panicked::location`]. And while weft wraps the hook, at that first start, a panic on
//! another thread can reach std's default hook instead of yours: std has no way to swap a hook
//! atomically on stable Rust.
//!
//! Fork: a child made by `fork(2)` while weft threads run keeps the parent's registry, though
//! only the forking thread was copied: there [`active_count`] and [`enumerate`] still count the
//! parent's threads, their handles say they are alive, and [`wait_non_daemon`] (so [`main`])
//! waits for ever; [`is_exiting`] says what it said in the parent. (Python resets its records
//! after a fork; a Rust program can run only async-signal-safe code between such a fork and
//! `exec`.) Start child processes with
//! weft-process, which executes them or forks them from a single-threaded server.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(clippy::missing_errors_doc)]

mod control;
mod error;
mod hook;
mod registry;
mod thread;
mod timer;

pub use control::StopToken;
pub use error::{JoinError, JoinTimeoutError, Panicked, StartError, Stopped};
pub use hook::{catch_panic, default_excepthook, reset_excepthook, set_excepthook};
pub use registry::{
    active_count, before_exit, current_thread, enumerate, is_exiting, main, main_then, main_thread,
    wait_non_daemon, ThreadInfo,
};
pub use thread::{spawn, Runnable, Thread, ThreadHandle};
pub use timer::{Interval, IntervalHandle, Timer, TimerHandle};

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// The builders and the interval's handle are `#[must_use]`: each snippet below discards one
/// under `deny(unused_must_use)` and must not compile (the last one, keeping them, does).
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// weft_thread::Thread::new(|| ()).name("never started");
/// ```
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// weft_thread::Timer::new(std::time::Duration::from_secs(1), || ());
/// ```
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// weft_thread::Interval::new(std::time::Duration::from_secs(1), || ());
/// ```
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// weft_thread::Interval::new(std::time::Duration::from_secs(1), || ()).start().unwrap();
/// ```
///
/// ```no_run
/// #![deny(unused_must_use)]
/// let _t = weft_thread::Thread::new(|| ()).name("kept");
/// let _t = weft_thread::Timer::new(std::time::Duration::from_secs(1), || ());
/// let i = weft_thread::Interval::new(std::time::Duration::from_secs(1), || ()).start().unwrap();
/// i.cancel();
/// ```
#[cfg(doctest)]
struct MustUseDoctests;
