//! The async twins on tokio: [`Run::output_async`], [`Run::spawn_async`] and [`AsyncPopen`].

use std::borrow::Cow;
use std::ffi::OsString;
use std::fmt;
use std::io;
use std::time::Duration;

use rustix::process::{Pid, Signal};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout};

use super::error::SubprocessError;
use super::popen::{self, drain, is_echild, returncode_of, Killer, Progress};
use super::run::{CompletedProcess, Deadline, Prepared, Run};

/// How much room a read of a child's pipe gets at least.
const READ_CHUNK: usize = 64 * 1024;

impl Run {
    /// [`output`](Run::output) for async code, on tokio (Python's `asyncio.create_subprocess_exec`
    /// followed by `communicate()` and `wait()`, with `subprocess.run`'s options). The waits do not
    /// block the runtime's threads; a [`timeout`](Run::timeout) kills and reaps the child here too.
    ///
    /// Dropping the future before it completes (a timeout around it, a lost `select!` branch, its
    /// task cancelled) kills the child, as `subprocess.run` kills it when interrupted; tokio reaps
    /// it in the background while a runtime runs (see [`AsyncPopen`]).
    ///
    /// # Errors
    /// Those of [`output`](Run::output); [`Io`](SubprocessError::Io) outside a tokio runtime.
    ///
    /// # Panics
    /// Inside a tokio runtime built without its I/O driver, or without its time driver when a
    /// timeout is set: tokio's own panics (`Builder::enable_all` gives both).
    ///
    /// ```
    /// use weft_process::subprocess::run;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let done = run(["echo", "async"]).capture().output_async().await.unwrap();
    /// assert_eq!(done.stdout, b"async\n");
    /// # });
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "async")))]
    pub async fn output_async(self) -> Result<CompletedProcess, SubprocessError> {
        let deadline = self.timeout.map(Deadline::after);
        let check = self.check;
        let (mut p, input) = self.start_async(true)?;
        let input = Cow::Owned(input.unwrap_or_default());
        let (stdout, stderr) = match p.communicate_until(input, deadline).await? {
            Progress::Done(out) => out,
            Progress::TimedOut => {
                let (stdout, stderr) = p.kill_and_drain().await?;
                return Err(SubprocessError::TimeoutExpired {
                    args: std::mem::take(&mut p.args),
                    timeout: deadline.map(|d| d.timeout).unwrap_or_default(),
                    stdout,
                    stderr,
                });
            }
        };
        let done = CompletedProcess {
            returncode: p.returncode.unwrap_or_default(),
            args: std::mem::take(&mut p.args),
            stdout,
            stderr,
        };
        if check {
            done.check_returncode()
        } else {
            Ok(done)
        }
    }

    /// [`spawn`](Run::spawn) for async code: starts the command on tokio and returns an
    /// [`AsyncPopen`] (Python's `asyncio.create_subprocess_exec`).
    ///
    /// # Errors
    /// Those of [`spawn`](Run::spawn); [`Io`](SubprocessError::Io) outside a tokio runtime.
    ///
    /// # Panics
    /// Inside a tokio runtime built without its I/O driver (tokio's own panic).
    ///
    /// ```
    /// use weft_process::subprocess::{run, Redirect};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let mut p = run(["cat"]).stdin(Redirect::Pipe).stdout(Redirect::Pipe).spawn_async().unwrap();
    /// let (out, _) = p.communicate_async(b"meow").await.unwrap();
    /// assert_eq!(out, b"meow");
    /// # });
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "async")))]
    pub fn spawn_async(self) -> Result<AsyncPopen, SubprocessError> {
        self.start_async(false).map(|(p, _input)| p)
    }

    /// Starts the child; `kill_on_drop`: dropping the `AsyncPopen` before the child was reaped
    /// kills it (tokio then reaps it in the background).
    fn start_async(
        self,
        kill_on_drop: bool,
    ) -> Result<(AsyncPopen, Option<Vec<u8>>), SubprocessError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(SubprocessError::Io(io::Error::other(
                "the async subprocess functions need a tokio runtime",
            )));
        }
        popen::reap_abandoned();
        let Prepared {
            command,
            program,
            args,
            merged_stdout,
            input,
            cwd,
        } = self.prepare()?;
        let merged_stdout = merged_stdout
            .map(ChildStdout::from_std)
            .transpose()
            .map_err(SubprocessError::Io)?;
        let mut command = tokio::process::Command::from(command);
        command.kill_on_drop(kill_on_drop);
        let mut child = command
            .spawn()
            .map_err(|source| super::run::spawn_error(program, cwd, source))?;
        drop(command); // closes the parent's copies of the children's pipe ends
        let pid = child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .and_then(Pid::from_raw)
            .ok_or_else(|| SubprocessError::Io(io::Error::other("the child has no pid")))?;
        let p = AsyncPopen {
            args,
            pid,
            stdin: child.stdin.take(),
            stdout: merged_stdout.or_else(|| child.stdout.take()),
            stderr: child.stderr.take(),
            child,
            returncode: None,
            comm: None,
        };
        Ok((p, input))
    }
}

/// A child process driven from async code on tokio: [`Popen`](super::Popen)'s async twin (Python's
/// `asyncio.subprocess.Process`). Made by [`Run::spawn_async`].
///
/// ```
/// use std::time::Duration;
/// use weft_process::subprocess::{run, Redirect};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let mut p = run(["sleep", "30"]).stdout(Redirect::Pipe).spawn_async().unwrap();
/// let err = p.communicate_timeout_async(&[], Duration::from_millis(50)).await.unwrap_err();
/// assert!(err.is_timeout());
/// p.kill().unwrap();
/// assert_eq!(p.wait_async().await.unwrap(), -9);
/// # });
/// ```
///
/// Dropping an `AsyncPopen` neither kills nor waits for the child; tokio reaps it in the
/// background once it exits, as long as a tokio runtime runs: tokio looks for its exited
/// orphans when it next handles a child's exit signal or spawns a child, and a child that ends
/// after every runtime has stopped stays a zombie until then (or until this process ends).
/// [`Popen`](super::Popen)'s list of abandoned children does not cover these.
///
/// To signal the child from another task or thread while one awaits it (Python's
/// `proc.kill()` from another task beside `await proc.wait()`), take a [`Killer`] with
/// [`killer`](AsyncPopen::killer) (Linux); or time the wait out as above and kill in the same
/// task.
pub struct AsyncPopen {
    args: Vec<OsString>,
    pid: Pid,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Option<ChildStdout>,
    stderr: Option<ChildStderr>,
    returncode: Option<i32>,
    comm: Option<AsyncCommunication>,
}

/// The state of a `communicate_async` that has started; see `popen::Communication`.
#[derive(Default)]
struct AsyncCommunication {
    stdin: Option<ChildStdin>,
    pending: Vec<u8>,
    offset: usize,
    stdout: Option<ChildStdout>,
    stderr: Option<ChildStderr>,
    out: Vec<u8>,
    err: Vec<u8>,
}

impl AsyncPopen {
    /// The child's process id (Python's `pid`).
    ///
    /// ```
    /// use weft_process::subprocess::run;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let mut p = run(["true"]).spawn_async().unwrap();
    /// assert!(p.pid() > 0);
    /// p.wait_async().await.unwrap();
    /// # });
    /// ```
    pub fn pid(&self) -> u32 {
        self.pid.as_raw_nonzero().get().unsigned_abs()
    }

    /// The arguments the child was started with (Python's `args`).
    ///
    /// ```
    /// use weft_process::subprocess::run;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let mut p = run(["true", "x"]).spawn_async().unwrap();
    /// assert_eq!(p.args(), ["true", "x"]);
    /// p.wait_async().await.unwrap();
    /// # });
    /// ```
    pub fn args(&self) -> &[OsString] {
        &self.args
    }

    /// The exit status if the child is known to have exited (Python's `returncode`).
    ///
    /// ```
    /// use weft_process::subprocess::run;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let mut p = run(["sh", "-c", "exit 4"]).spawn_async().unwrap();
    /// p.wait_async().await.unwrap();
    /// assert_eq!(p.returncode(), Some(4));
    /// # });
    /// ```
    pub fn returncode(&self) -> Option<i32> {
        self.returncode
    }

    /// Whether the child has exited, without waiting: its status, or `None` while it runs.
    ///
    /// ```
    /// use weft_process::subprocess::{run, Redirect};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let mut p = run(["cat"]).stdin(Redirect::Pipe).spawn_async().unwrap();
    /// assert_eq!(p.poll(), None);
    /// drop(p.take_stdin());
    /// p.wait_async().await.unwrap();
    /// assert_eq!(p.poll(), Some(0));
    /// # });
    /// ```
    pub fn poll(&mut self) -> Option<i32> {
        if self.returncode.is_none() {
            self.returncode = match self.child.try_wait() {
                Ok(status) => status.map(returncode_of),
                Err(e) if is_echild(&e) => Some(0),
                Err(_) => None,
            };
        }
        self.returncode
    }

    /// Waits for the child to exit and returns its status (Python's `await proc.wait()`).
    ///
    /// # Errors
    /// The operating system's, if waiting fails for a reason other than `ECHILD`.
    ///
    /// ```
    /// use weft_process::subprocess::run;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let mut p = run(["sh", "-c", "exit 6"]).spawn_async().unwrap();
    /// assert_eq!(p.wait_async().await.unwrap(), 6);
    /// # });
    /// ```
    pub async fn wait_async(&mut self) -> io::Result<i32> {
        if let Some(code) = self.returncode {
            return Ok(code);
        }
        let code = match self.child.wait().await {
            Ok(status) => returncode_of(status),
            Err(e) if is_echild(&e) => 0,
            Err(e) => return Err(e),
        };
        self.returncode = Some(code);
        Ok(code)
    }

    /// Waits at most `timeout` for the child to exit: its status, or `None` if it still runs (the
    /// child is left alone).
    ///
    /// # Errors
    /// Those of [`wait_async`](AsyncPopen::wait_async).
    ///
    /// # Panics
    /// In a tokio runtime without its time driver (tokio's own panic).
    ///
    /// ```
    /// use std::time::Duration;
    /// use weft_process::subprocess::run;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let mut p = run(["sleep", "30"]).spawn_async().unwrap();
    /// assert_eq!(p.wait_timeout_async(Duration::from_millis(20)).await.unwrap(), None);
    /// p.kill().unwrap();
    /// assert_eq!(p.wait_timeout_async(Duration::MAX).await.unwrap(), Some(-9));
    /// # });
    /// ```
    pub async fn wait_timeout_async(&mut self, timeout: Duration) -> io::Result<Option<i32>> {
        self.wait_until(Deadline::after(timeout)).await
    }

    async fn wait_until(&mut self, deadline: Deadline) -> io::Result<Option<i32>> {
        if let Some(code) = self.poll() {
            return Ok(Some(code));
        }
        match deadline.at {
            None => self.wait_async().await.map(Some),
            Some(at) => {
                let at = tokio::time::Instant::from_std(at);
                match tokio::time::timeout_at(at, self.wait_async()).await {
                    Ok(code) => code.map(Some),
                    Err(_elapsed) => Ok(None),
                }
            }
        }
    }

    /// Sends signal number `signal` to the child unless it has already exited; `0` only checks
    /// that it can be signalled. See [`Popen::send_signal`](super::Popen::send_signal).
    ///
    /// Once the child has exited this sends nothing and returns `Ok`, as `subprocess.Popen`'s
    /// does; asyncio's `Process.send_signal` (and its `terminate` and `kill`) raises
    /// `ProcessLookupError` instead once the exit has been seen.
    ///
    /// # Errors
    /// `InvalidInput` for a number that is not a named signal, and the error from `kill(2)`.
    ///
    /// ```
    /// use weft_process::subprocess::run;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let mut p = run(["sleep", "30"]).spawn_async().unwrap();
    /// p.send_signal(1).unwrap(); // SIGHUP
    /// assert_eq!(p.wait_async().await.unwrap(), -1);
    /// # });
    /// ```
    pub fn send_signal(&mut self, signal: i32) -> io::Result<()> {
        if signal == 0 {
            if self.poll().is_none() {
                rustix::process::test_kill_process(self.pid)?;
            }
            return Ok(());
        }
        let Some(signal) = Signal::from_named_raw(signal) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{signal} is not a signal number this platform names"),
            ));
        };
        self.signal(signal)
    }

    fn signal(&mut self, signal: Signal) -> io::Result<()> {
        if self.poll().is_none() {
            rustix::process::kill_process(self.pid, signal)?;
        }
        Ok(())
    }

    /// A [`Killer`]: a handle that signals this child from any task or thread while this
    /// `AsyncPopen` awaits it, or after it is dropped (Python's `proc.kill()` called from
    /// another task). Linux only: the killer holds a pidfd, which names this child even after
    /// tokio has reaped it and its pid has gone to another process; like the `kill` here, it
    /// sends nothing once the child has exited.
    ///
    /// # Errors
    /// The operating system's error from `pidfd_open(2)` (a kernel older than 5.3, or a sandbox
    /// that refuses the call).
    ///
    /// ```
    /// use std::time::Duration;
    /// use weft_process::subprocess::run;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let mut p = run(["sleep", "30"]).spawn_async().unwrap();
    /// let killer = p.killer().unwrap();
    /// // A watchdog task kills the child while this task awaits it.
    /// let watchdog = tokio::spawn(async move {
    ///     tokio::time::sleep(Duration::from_millis(50)).await;
    ///     killer.kill()
    /// });
    /// assert_eq!(p.wait_async().await.unwrap(), -9);
    /// watchdog.await.unwrap().unwrap();
    /// # });
    /// ```
    #[cfg(any(target_os = "linux", target_os = "android"))]
    pub fn killer(&mut self) -> io::Result<Killer> {
        if self.poll().is_some() {
            return Ok(Killer::reaped());
        }
        // Not reaped: only this handle's `&mut self` methods reap the child (tokio does so when
        // its owner waits for it, or after the owner drops it), so `pid` is still this child's.
        Killer::of_unreaped_pid(self.pid)
    }

    /// Asks the child to stop with SIGTERM (Python's `terminate()`). Nothing is sent, and `Ok`
    /// returned, once the child has exited (asyncio raises `ProcessLookupError`).
    ///
    /// # Errors
    /// The error from `kill(2)`.
    ///
    /// ```
    /// use weft_process::subprocess::run;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let mut p = run(["sleep", "30"]).spawn_async().unwrap();
    /// p.terminate().unwrap();
    /// assert_eq!(p.wait_async().await.unwrap(), -15);
    /// # });
    /// ```
    pub fn terminate(&mut self) -> io::Result<()> {
        self.signal(Signal::TERM)
    }

    /// Kills the child with SIGKILL (Python's `kill()`); await
    /// [`wait_async`](AsyncPopen::wait_async) to reap it. Nothing is sent, and `Ok` returned,
    /// once the child has exited (asyncio raises `ProcessLookupError`).
    ///
    /// # Errors
    /// The error from `kill(2)`.
    ///
    /// ```
    /// use weft_process::subprocess::run;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let mut p = run(["sleep", "30"]).spawn_async().unwrap();
    /// p.kill().unwrap();
    /// assert_eq!(p.wait_async().await.unwrap(), -9);
    /// # });
    /// ```
    pub fn kill(&mut self) -> io::Result<()> {
        self.signal(Signal::KILL)
    }

    /// The child's stdin pipe, if any and not taken.
    ///
    /// ```
    /// use tokio::io::AsyncWriteExt;
    /// use weft_process::subprocess::{run, Redirect};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let mut p = run(["cat"]).stdin(Redirect::Pipe).stdout(Redirect::Null).spawn_async().unwrap();
    /// p.stdin().unwrap().write_all(b"x").await.unwrap();
    /// drop(p.take_stdin());
    /// assert_eq!(p.wait_async().await.unwrap(), 0);
    /// # });
    /// ```
    pub fn stdin(&mut self) -> Option<&mut ChildStdin> {
        self.stdin.as_mut()
    }

    /// The child's stdout pipe, if any and not taken.
    ///
    /// ```
    /// use tokio::io::AsyncReadExt;
    /// use weft_process::subprocess::{run, Redirect};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let mut p = run(["echo", "hi"]).stdout(Redirect::Pipe).spawn_async().unwrap();
    /// let mut out = String::new();
    /// p.stdout().unwrap().read_to_string(&mut out).await.unwrap();
    /// assert_eq!(out, "hi\n");
    /// p.wait_async().await.unwrap();
    /// # });
    /// ```
    pub fn stdout(&mut self) -> Option<&mut ChildStdout> {
        self.stdout.as_mut()
    }

    /// The child's stderr pipe, if any and not taken.
    ///
    /// ```
    /// use tokio::io::AsyncReadExt;
    /// use weft_process::subprocess::{run, Redirect};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let mut p = run(["sh", "-c", "echo e >&2"]).stderr(Redirect::Pipe).spawn_async().unwrap();
    /// let mut err = String::new();
    /// p.stderr().unwrap().read_to_string(&mut err).await.unwrap();
    /// assert_eq!(err, "e\n");
    /// p.wait_async().await.unwrap();
    /// # });
    /// ```
    pub fn stderr(&mut self) -> Option<&mut ChildStderr> {
        self.stderr.as_mut()
    }

    /// Takes the child's stdin pipe; dropping it closes the pipe.
    ///
    /// ```
    /// use weft_process::subprocess::{run, Redirect};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let mut p = run(["cat"]).stdin(Redirect::Pipe).spawn_async().unwrap();
    /// drop(p.take_stdin());
    /// assert_eq!(p.wait_async().await.unwrap(), 0);
    /// # });
    /// ```
    pub fn take_stdin(&mut self) -> Option<ChildStdin> {
        self.stdin.take()
    }

    /// Takes the child's stdout pipe.
    ///
    /// ```
    /// use weft_process::subprocess::{run, Redirect};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let mut p = run(["true"]).stdout(Redirect::Pipe).spawn_async().unwrap();
    /// assert!(p.take_stdout().is_some());
    /// p.wait_async().await.unwrap();
    /// # });
    /// ```
    pub fn take_stdout(&mut self) -> Option<ChildStdout> {
        self.stdout.take()
    }

    /// Takes the child's stderr pipe.
    ///
    /// ```
    /// use weft_process::subprocess::{run, Redirect};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let mut p = run(["true"]).stderr(Redirect::Pipe).spawn_async().unwrap();
    /// assert!(p.take_stderr().is_some());
    /// p.wait_async().await.unwrap();
    /// # });
    /// ```
    pub fn take_stderr(&mut self) -> Option<ChildStderr> {
        self.stderr.take()
    }

    /// [`Popen::communicate`](super::Popen::communicate) for async code (Python's
    /// `await proc.communicate(input)`): writes `input` and closes stdin while reading stdout and
    /// stderr to the end, then waits for the exit. Returns (stdout, stderr).
    ///
    /// Empty `input` closes stdin at once, as `subprocess.Popen.communicate()` and asyncio's
    /// `proc.communicate(b"")` do. (asyncio's `proc.communicate()` without input leaves a piped
    /// stdin open, so a child that reads it to the end, such as `cat`, never exits there.)
    ///
    /// # Errors
    /// As [`Popen::communicate`](super::Popen::communicate).
    ///
    /// ```
    /// use weft_process::subprocess::{run, Redirect};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let mut p = run(["wc", "-c"]).stdin(Redirect::Pipe).stdout(Redirect::Pipe).spawn_async().unwrap();
    /// let (out, _) = p.communicate_async(&[b'x'; 300_000]).await.unwrap();
    /// assert_eq!(String::from_utf8_lossy(&out).trim(), "300000");
    /// # });
    /// ```
    pub async fn communicate_async(
        &mut self,
        input: &[u8],
    ) -> Result<(Vec<u8>, Vec<u8>), SubprocessError> {
        self.communicate_timeout_async(input, Duration::MAX).await
    }

    /// [`communicate_async`](AsyncPopen::communicate_async), giving up after `timeout` (Python's
    /// `asyncio.wait_for(proc.communicate(), t)`, without the cancellation losing anything). On a
    /// timeout the child is neither killed nor reaped, the error holds a copy of the output read
    /// so far, and a later call continues.
    ///
    /// The same holds when this future (or [`communicate_async`](AsyncPopen::communicate_async)'s)
    /// is dropped midway: the input not yet written and the output read so far are kept, and the
    /// next call, with empty input (input is given once), goes on from there.
    ///
    /// # Errors
    /// [`TimeoutExpired`](SubprocessError::TimeoutExpired), and those of
    /// [`communicate_async`](AsyncPopen::communicate_async).
    ///
    /// # Panics
    /// In a tokio runtime without its time driver, for a finite timeout (tokio's own panic).
    ///
    /// ```
    /// use std::time::Duration;
    /// use weft_process::subprocess::{run, Redirect};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let mut p = run(["sh", "-c", "echo begun; exec sleep 30"]).stdout(Redirect::Pipe).spawn_async().unwrap();
    /// let err = p.communicate_timeout_async(&[], Duration::from_millis(200)).await.unwrap_err();
    /// assert!(err.is_timeout());
    /// p.kill().unwrap();
    /// let (out, _) = p.communicate_async(&[]).await.unwrap();
    /// assert_eq!(out, b"begun\n");
    /// # });
    /// ```
    pub async fn communicate_timeout_async(
        &mut self,
        input: &[u8],
        timeout: Duration,
    ) -> Result<(Vec<u8>, Vec<u8>), SubprocessError> {
        match self
            .communicate_until(Cow::Borrowed(input), Some(Deadline::after(timeout)))
            .await?
        {
            Progress::Done(out) => Ok(out),
            Progress::TimedOut => {
                let (stdout, stderr) = self
                    .comm
                    .as_ref()
                    .map(|c| (c.out.clone(), c.err.clone()))
                    .unwrap_or_default();
                Err(SubprocessError::TimeoutExpired {
                    args: self.args.clone(),
                    timeout,
                    stdout,
                    stderr,
                })
            }
        }
    }

    async fn communicate_until(
        &mut self,
        input: Cow<'_, [u8]>,
        deadline: Option<Deadline>,
    ) -> Result<Progress, SubprocessError> {
        let fresh = self.comm.is_none();
        if fresh {
            if !input.is_empty() && self.stdin.is_none() {
                return Err(SubprocessError::InvalidArgument(
                    "input was given but the child's stdin is not a pipe",
                ));
            }
            // The input is kept here, not borrowed from the caller, so that a call dropped
            // midway (a timeout around it, a lost `select!` branch) leaves the rest for the
            // next one.
            self.comm = Some(AsyncCommunication {
                pending: if self.stdin.is_some() {
                    input.into_owned()
                } else {
                    Vec::new()
                },
                stdin: self.stdin.take(),
                stdout: self.stdout.take(),
                stderr: self.stderr.take(),
                ..AsyncCommunication::default()
            });
        } else if !input.is_empty() {
            return Err(SubprocessError::InvalidArgument(
                "cannot send input after communication started",
            ));
        }
        let at = deadline.and_then(|d| d.at);
        if let Some(comm) = self.comm.as_mut() {
            let pumped = match at {
                None => Some(comm.pump().await),
                Some(at) => {
                    let at = tokio::time::Instant::from_std(at);
                    tokio::time::timeout_at(at, comm.pump()).await.ok()
                }
            };
            match pumped {
                Some(result) => result.map_err(SubprocessError::Io)?,
                None => return Ok(Progress::TimedOut),
            }
        }
        let exited = match deadline {
            Some(d) => self.wait_until(d).await,
            None => self.wait_async().await.map(Some),
        }
        .map_err(SubprocessError::Io)?;
        if exited.is_none() {
            return Ok(Progress::TimedOut);
        }
        let out = self
            .comm
            .as_mut()
            .map(|c| (std::mem::take(&mut c.out), std::mem::take(&mut c.err)))
            .unwrap_or_default();
        Ok(Progress::Done(out))
    }

    /// After a timeout in `output_async`: kill and reap, then take what the pipes hold now.
    async fn kill_and_drain(&mut self) -> Result<(Vec<u8>, Vec<u8>), SubprocessError> {
        self.kill().map_err(SubprocessError::Io)?;
        self.wait_async().await.map_err(SubprocessError::Io)?;
        let Some(comm) = self.comm.as_mut() else {
            return Ok(Default::default());
        };
        comm.stdin = None;
        // tokio's pipes are non-blocking: read them directly, without waiting for readiness.
        drain(&mut comm.stdout, &mut comm.out).map_err(SubprocessError::Io)?;
        drain(&mut comm.stderr, &mut comm.err).map_err(SubprocessError::Io)?;
        Ok((std::mem::take(&mut comm.out), std::mem::take(&mut comm.err)))
    }
}

impl AsyncCommunication {
    /// Writes the rest of the input and reads both outputs until every pipe is closed.
    /// Cancel-safe: a write or read that completed is recorded here (the input is written from
    /// `pending` at `offset`), one that did not has moved no data.
    async fn pump(&mut self) -> io::Result<()> {
        let Self {
            stdin,
            pending,
            offset,
            stdout,
            stderr,
            out,
            err,
        } = self;
        let write = async move {
            if let Some(pipe) = stdin.as_mut() {
                while let Some(rest) = pending.get(*offset..).filter(|rest| !rest.is_empty()) {
                    match pipe.write(rest).await {
                        Ok(0) => break,
                        Ok(n) => *offset += n,
                        // The child closed its stdin without reading everything: not an error.
                        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => break,
                        Err(e) => return Err(e),
                    }
                }
            }
            *stdin = None;
            *pending = Vec::new();
            *offset = 0;
            Ok(())
        };
        tokio::try_join!(write, read_to_end(stdout, out), read_to_end(stderr, err))?;
        Ok(())
    }
}

/// Reads a pipe to its end into `buf`, then closes it; cancel-safe.
async fn read_to_end<R: AsyncRead + Unpin>(
    pipe: &mut Option<R>,
    buf: &mut Vec<u8>,
) -> io::Result<()> {
    if let Some(p) = pipe.as_mut() {
        loop {
            buf.reserve(READ_CHUNK);
            if p.read_buf(buf).await? == 0 {
                break;
            }
        }
    }
    *pipe = None;
    Ok(())
}

impl fmt::Debug for AsyncPopen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncPopen")
            .field("pid", &self.pid())
            .field("args", &self.args)
            .field("returncode", &self.returncode)
            .finish_non_exhaustive()
    }
}
