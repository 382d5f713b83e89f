//! Python's `subprocess` for Rust: [`run`] a command with captured output, input, a timeout that
//! kills and reaps, and `check`; or start a [`Popen`] and [`communicate`](Popen::communicate) with
//! it without ever deadlocking on full pipes.
//!
//! ```
//! use std::time::Duration;
//! use weft_process::subprocess::{run, SubprocessError};
//!
//! // Run, capture, check.
//! let done = run(["echo", "Hello, world!"]).capture().check().output()?;
//! assert_eq!(done.stdout_str(), "Hello, world!\n");
//!
//! // A failing command is an error with its output inside (Python's CalledProcessError).
//! let err = run(["sh", "-c", "echo oops >&2; exit 2"]).capture().check().output().unwrap_err();
//! assert_eq!(err.returncode(), Some(2));
//! assert_eq!(err.stderr(), b"oops\n");
//!
//! // A timeout kills the child and reaps it (Python's TimeoutExpired).
//! let err = run(["sleep", "30"]).timeout(Duration::from_millis(100)).output().unwrap_err();
//! assert!(matches!(err, SubprocessError::TimeoutExpired { .. }));
//!
//! // A missing program is an error that names it.
//! let err = run(["no-such-program"]).output().unwrap_err();
//! assert!(err.to_string().starts_with("cannot run `no-such-program`: "));
//! # Ok::<(), SubprocessError>(())
//! ```
//!
//! # The items
//! - [`run`]`(args)` → [`Run`]: the command and its options, ending in
//!   [`output`](Run::output) (run to completion → [`CompletedProcess`]) or
//!   [`spawn`](Run::spawn) (→ [`Popen`]).
//! - [`Redirect`]: where each standard stream goes: inherit, `/dev/null`, a pipe, a file, or (for
//!   stderr) stdout.
//! - [`CompletedProcess`]: args, `returncode`, captured `stdout` and `stderr`.
//! - [`Popen`]: a running child: [`communicate`](Popen::communicate),
//!   [`poll`](Popen::poll), [`wait`](Popen::wait), [`wait_timeout`](Popen::wait_timeout),
//!   [`terminate`](Popen::terminate), [`kill`](Popen::kill),
//!   [`send_signal`](Popen::send_signal), and its pipes.
//! - [`Killer`]: signals a `Popen`'s child from any thread while the `Popen` waits for it
//!   (and, on Linux, an [`AsyncPopen`]'s while a task awaits it).
//! - [`SubprocessError`]: every failure, with Python's exception names as variants.
//! - [`check_output`], [`call`], [`check_call`]: Python's older one-line helpers.
//! - With the `async` feature: [`Run::output_async`], [`Run::spawn_async`] and [`AsyncPopen`] on
//!   tokio.
//!
//! The exit status is Python's `returncode`: an `i32`, the negated signal number when a signal
//! ended the child (`-9` for SIGKILL). No shell is involved unless [`Run::shell`] asks for one, so
//! arguments need no quoting and cannot inject commands. Timeouts are [`Duration`]s:
//! `Duration::ZERO` gives no time, `Duration::MAX` means none.
//!
//! # Coming from Python
//! | Python `subprocess` | weft |
//! |---|---|
//! | `run(args)` | `run(args).output()?` → [`CompletedProcess`] |
//! | `run(args, capture_output=True)` | `run(args).capture().output()?` |
//! | `run(args, input=b"...")` | `run(args).input(b"...").output()?` |
//! | `run(args, timeout=5)`, `TimeoutExpired` | `.timeout(Duration::from_secs(5))`, [`SubprocessError::TimeoutExpired`] |
//! | `run(args, check=True)`, `CalledProcessError` | `.check()`, [`SubprocessError::CalledProcessError`] |
//! | `cp.returncode`, `cp.stdout`, `cp.check_returncode()` | the same names; `cp.stdout_str()` for text (lossy UTF-8, line endings as written: no universal newlines) |
//! | `stdout=PIPE`, `DEVNULL`, `stderr=STDOUT`, `stdout=f` | `.stdout(Redirect::Pipe)`, `Redirect::Null`, `.stderr(Redirect::Stdout)`, `.stdout(file)` |
//! | `cwd=`, `env=`, `process_group=` | `.cwd(dir)`, `.env_clear().envs(map)` (or `.env(k, v)` on top of ours), `.process_group(0)` |
//! | `shell=True` | `.shell(true)` |
//! | `Popen(args, stdin=PIPE, stdout=PIPE)` | `run(args).stdin(Redirect::Pipe).stdout(Redirect::Pipe).spawn()?` |
//! | a pipeline: `Popen(args, stdin=p1.stdout)` | `run(args).stdin(OwnedFd::from(p1.take_stdout().unwrap()))` (see [`Redirect`]) |
//! | `p.communicate(input, timeout)` | `p.communicate(input)`, `p.communicate_timeout(input, d)` |
//! | `p.poll()`, `p.wait()`, `p.wait(timeout)` | `p.poll()`, `p.wait()?`, `p.wait_timeout(d)?` → `Option` |
//! | `p.terminate()`, `p.kill()`, `p.send_signal(sig)` | the same names (`send_signal` refuses the real-time signals, `SIGRTMIN` up, which Python sends) |
//! | `with Popen(args) as p:` (at the end: closes the pipes, waits for the child) | no guard: `p.communicate(&[])?` (or drop the pipes and `p.wait()?`) at the end; a dropped [`Popen`] is not waited for |
//! | `Timer(t, p.kill).start(); p.wait()`, `p.kill()` from another thread | `let k = p.killer();` then `k.kill()` on any thread: a [`Killer`] |
//! | `p.pid`, `p.args`, `p.returncode`, `p.stdout` | `p.pid()`, `p.args()`, `p.returncode()`, `p.stdout()` / `p.take_stdout()` |
//! | `check_output(args)`, `call(args)`, `check_call(args)` | [`check_output`], [`call`], [`check_call`] |
//! | `FileNotFoundError` from `Popen` | [`SubprocessError::Spawn`], naming the program; [`SubprocessError::Cwd`], naming a bad `cwd` |
//! | `ValueError: embedded null byte` | [`SubprocessError::InvalidArgument`] |
//! | `close_fds=True` (the default) | not replicated: the child inherits the descriptors not marked close-on-exec (Rust opens every descriptor close-on-exec; one made with a raw `dup` or `fcntl` is not) |
//! | `await asyncio.create_subprocess_exec(...)`, `await proc.communicate()` | `run(args).spawn_async()?`, `p.communicate_async(input).await` |
//! | `proc.kill()` from another task while one awaits `proc.wait()` | `let k = p.killer()?;` (Linux) then `k.kill()` from any task or thread |
//!
//! # Relationship with std and tokio
//! [`run`] builds a `std::process::Command` and spawns it (tokio's `Command` for the async
//! twins), so program lookup, `close-on-exec` hygiene and spawn speed are std's. What std lacks
//! is added: `communicate` serves stdin, stdout and stderr at once with one `poll(2)` loop over
//! non-blocking pipes (std's `Command::output` uses a thread-free poll loop too, but has no input,
//! no timeout and captures always); a timeout that kills and *reaps* the child, keeping the output
//! read so far; `wait_timeout` on a pidfd; signals; `stderr=STDOUT`; Python's negative return
//! codes; and typed errors carrying the output. Unlike std's `output()`, [`Run::output`]
//! captures only what was redirected to a pipe ([`Run::capture`]).
//!
//! # Feature flags
//! - `async` (default): [`Run::output_async`], [`Run::spawn_async`] and [`AsyncPopen`], on tokio's
//!   process driver; they need a tokio runtime with I/O (and, for timeouts, time) enabled.
//!
//! [`Duration`]: std::time::Duration

#[cfg(feature = "async")]
mod aio;
mod error;
mod popen;
mod run;

#[cfg(feature = "async")]
pub use aio::AsyncPopen;
pub use error::SubprocessError;
pub use popen::{Killer, Popen};
// Shared with multiprocessing's Process: Python's returncode, ECHILD, waiting for an exit.
pub(crate) use popen::{is_echild, returncode_of, ExitFd};
pub use run::{run, CompletedProcess, Redirect, Run};

use std::ffi::OsStr;

/// Runs a command and returns its stdout, failing on a non-zero exit (Python's
/// `subprocess.check_output(args)`): `run(args).stdout(Redirect::Pipe).check().output()`. Use
/// [`run`] for options (input, timeout, stderr).
///
/// # Errors
/// Those of [`Run::output`], [`CalledProcessError`](SubprocessError::CalledProcessError) included.
///
/// ```
/// use weft_process::subprocess::check_output;
///
/// assert_eq!(check_output(["echo", "hi"]).unwrap(), b"hi\n");
/// assert!(check_output(["false"]).is_err());
/// ```
pub fn check_output<I, S>(args: I) -> Result<Vec<u8>, SubprocessError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    run(args)
        .stdout(Redirect::Pipe)
        .check()
        .output()
        .map(|done| done.stdout)
}

/// Runs a command and returns its exit status (Python's `subprocess.call(args)`).
///
/// # Errors
/// Those of [`Run::output`] other than a non-zero status: the program cannot be started, ...
///
/// ```
/// use weft_process::subprocess::call;
///
/// assert_eq!(call(["sh", "-c", "exit 3"]).unwrap(), 3);
/// ```
pub fn call<I, S>(args: I) -> Result<i32, SubprocessError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    run(args).output().map(|done| done.returncode)
}

/// Runs a command and fails unless it exits with status 0 (Python's
/// `subprocess.check_call(args)`).
///
/// # Errors
/// Those of [`Run::output`], [`CalledProcessError`](SubprocessError::CalledProcessError) included.
///
/// ```
/// use weft_process::subprocess::check_call;
///
/// check_call(["true"]).unwrap();
/// assert_eq!(check_call(["false"]).unwrap_err().returncode(), Some(1));
/// ```
pub fn check_call<I, S>(args: I) -> Result<(), SubprocessError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    run(args).check().output().map(drop)
}
