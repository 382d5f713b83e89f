//! [`Popen`]: a running child, and the single-threaded poll(2) loop behind `communicate`.

use std::ffi::OsString;
use std::fmt;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ChildStderr, ChildStdin, ChildStdout, ExitStatus};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rustix::buffer::spare_capacity;
use rustix::event::{PollFd, PollFlags};
use rustix::io::Errno;
use rustix::process::{Pid, Signal};

use super::error::SubprocessError;
use super::run::Deadline;

/// How much room a read of a child's pipe gets at least (a Linux pipe holds 64 KiB).
const READ_CHUNK: usize = 64 * 1024;

/// A child process that is running or has run: Python's `subprocess.Popen`. Made by
/// [`Run::spawn`](super::Run::spawn), that is `run(args)...spawn()`.
///
/// ```
/// use std::io::{BufRead, BufReader};
/// use weft_process::subprocess::{run, Redirect};
///
/// // Stream a child's output line by line while it runs.
/// let mut p = run(["printf", "a\\nb\\nc\\n"]).stdout(Redirect::Pipe).spawn().unwrap();
/// let lines: Vec<String> = BufReader::new(p.take_stdout().unwrap())
///     .lines()
///     .map(|l| l.unwrap())
///     .collect();
/// assert_eq!(lines, ["a", "b", "c"]);
/// assert_eq!(p.wait().unwrap(), 0);
/// ```
///
/// # Exit status
/// Every method that reports the exit status gives Python's `returncode`: the exit code, or the
/// negated signal number when a signal ended the child (`-9` after [`kill`](Popen::kill)). If the
/// status cannot be collected because the process ignores `SIGCHLD` (the kernel then reaps
/// children itself), the status reads as `0`, as in Python.
///
/// # Dropping
/// Dropping a `Popen` neither kills nor waits for the child (Python neither; its `__del__` warns
/// with a `ResourceWarning`, this is silent). If the child has already exited it is reaped there
/// and then; if it is still running, its pid is kept and it is reaped by the next
/// [`spawn`](super::Run::spawn) or drop after it exits, like Python's `subprocess._cleanup`, so
/// no zombie outlives the next spawn. To stop a child, call
/// [`kill`](Popen::kill) and then [`wait`](Popen::wait).
///
/// # From another thread
/// The methods that reap take `&mut self`. To signal the child while another thread waits for it
/// (Python's `Timer(5, p.kill)` beside `p.wait()`, or a watchdog beside `p.communicate()`), take
/// a [`Killer`] first.
pub struct Popen {
    args: Vec<OsString>,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Option<ChildStdout>,
    stderr: Option<ChildStderr>,
    returncode: Option<i32>,
    comm: Option<Communication>,
    /// Shared with the [`Killer`]s once one is taken.
    unreaped: Option<Unreaped>,
}

/// The child's pid until it is reaped, then `None`: shared by a [`Popen`] and its [`Killer`]s.
/// A killer signals under the lock and every reap of such a child happens under it, so a pid is
/// never signalled after the reap that lets the system give it to another process.
type Unreaped = Arc<Mutex<Option<Pid>>>;

/// A handle that signals one [`Popen`]'s child from any thread, while the `Popen` itself waits,
/// communicates, or has been dropped: what Python does by calling `p.kill()` from another thread.
/// Cheap to clone; `Send + Sync`. Made by [`Popen::killer`], and on Linux by `AsyncPopen::killer`
/// (feature `async`) for a child that a task awaits, through a pidfd.
///
/// Like `Popen`'s own methods, it sends nothing once the child has exited, and nothing once the
/// child is reaped, even if its pid has been reused since. (A program that ignores `SIGCHLD`
/// has its children reaped by the kernel, outside the lock a `Popen`'s killers share: there, as
/// for `Popen`'s own methods and Python's, a signal can race the reap. A pidfd has no such
/// race.)
///
/// ```
/// use std::time::Duration;
/// use weft_process::subprocess::run;
/// use weft_thread::Timer;
///
/// // Python: threading.Timer(0.1, p.kill).start(); p.wait()
/// let mut p = run(["sleep", "30"]).spawn().unwrap();
/// let killer = p.killer();
/// let timer = Timer::new(Duration::from_millis(100), move || killer.kill().unwrap())
///     .start()
///     .unwrap();
/// assert_eq!(p.wait().unwrap(), -9);
/// timer.join().unwrap();
/// ```
#[derive(Clone)]
pub struct Killer {
    target: Target,
}

/// The child a [`Killer`] signals, named so that the name never reaches another process.
#[derive(Clone)]
enum Target {
    /// A [`Popen`]'s child: its pid until reaped, under the lock every reap of it takes.
    Unreaped(Unreaped),
    /// An [`AsyncPopen`](super::AsyncPopen)'s child, which tokio reaps outside any lock of
    /// weft's: a pidfd, which names this child even after its pid is reused.
    #[cfg(all(feature = "async", any(target_os = "linux", target_os = "android")))]
    Pidfd {
        pid: Pid,
        fd: Arc<std::os::fd::OwnedFd>,
    },
}

impl Killer {
    /// Kills the child with SIGKILL, as [`Popen::kill`].
    ///
    /// # Errors
    /// The operating system's error from `kill(2)` (`pidfd_send_signal(2)` or `poll(2)` for an
    /// `AsyncPopen`'s child).
    pub fn kill(&self) -> io::Result<()> {
        self.signal(Some(Signal::KILL))
    }

    /// Asks the child to stop with SIGTERM, as [`Popen::terminate`].
    ///
    /// # Errors
    /// As [`kill`](Killer::kill).
    pub fn terminate(&self) -> io::Result<()> {
        self.signal(Some(Signal::TERM))
    }

    /// Sends signal number `signal` to the child, as [`Popen::send_signal`]; `0` only checks that
    /// the child can be signalled.
    ///
    /// # Errors
    /// `InvalidInput` for a number that is not a named signal of this platform, and those of
    /// [`kill`](Killer::kill).
    ///
    /// ```
    /// use weft_process::subprocess::run;
    ///
    /// let mut p = run(["sleep", "30"]).spawn().unwrap();
    /// let killer = p.killer();
    /// std::thread::spawn(move || killer.send_signal(15).unwrap()).join().unwrap();
    /// assert_eq!(p.wait().unwrap(), -15);
    /// assert!(p.killer().send_signal(65).is_err());
    /// ```
    pub fn send_signal(&self, signal: i32) -> io::Result<()> {
        self.signal(named_signal(signal)?)
    }

    /// A killer of a child that has been reaped: it sends nothing.
    #[cfg(all(feature = "async", any(target_os = "linux", target_os = "android")))]
    pub(crate) fn reaped() -> Self {
        Killer {
            target: Target::Unreaped(Arc::new(Mutex::new(None))),
        }
    }

    /// A killer of the unreaped child `pid` through a pidfd, for a child that weft's lock does not
    /// cover (tokio reaps it).
    ///
    /// The caller makes sure that `pid` is its own child and cannot be reaped before this
    /// returns: the pidfd is opened by pid.
    #[cfg(all(feature = "async", any(target_os = "linux", target_os = "android")))]
    pub(crate) fn of_unreaped_pid(pid: Pid) -> io::Result<Self> {
        let fd = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty())?;
        Ok(Killer {
            target: Target::Pidfd {
                pid,
                fd: Arc::new(fd),
            },
        })
    }

    /// Sends `signal` (`None`: only checks) to the child if it has not exited: under the lock, or
    /// through the pidfd.
    fn signal(&self, signal: Option<Signal>) -> io::Result<()> {
        match &self.target {
            Target::Unreaped(unreaped) => {
                let unreaped = unreaped.lock();
                match (*unreaped, signal) {
                    (Some(pid), Some(signal)) if !has_exited(pid) => {
                        rustix::process::kill_process(pid, signal)?;
                    }
                    (Some(pid), None) if !has_exited(pid) => {
                        rustix::process::test_kill_process(pid)?;
                    }
                    _ => {}
                }
            }
            #[cfg(all(feature = "async", any(target_os = "linux", target_os = "android")))]
            Target::Pidfd { pid, fd } => {
                if pidfd_has_exited(fd)? {
                    return Ok(());
                }
                match signal {
                    // Reaped since the look (`ESRCH`): nothing was sent, as after an exit.
                    Some(signal) => match rustix::process::pidfd_send_signal(&**fd, signal) {
                        Ok(()) | Err(Errno::SRCH) => {}
                        Err(e) => return Err(e.into()),
                    },
                    // Only a check, which sends nothing: the pid is this child's unless it was
                    // reaped in the instant since the look.
                    None => rustix::process::test_kill_process(*pid)?,
                }
            }
        }
        Ok(())
    }

    /// The child's pid while this killer may still signal it: `None` once a `Popen`'s child is
    /// reaped, or once an `AsyncPopen`'s has exited.
    fn pid(&self) -> Option<Pid> {
        match &self.target {
            Target::Unreaped(unreaped) => *unreaped.lock(),
            #[cfg(all(feature = "async", any(target_os = "linux", target_os = "android")))]
            Target::Pidfd { pid, fd } => (!pidfd_has_exited(fd).unwrap_or(true)).then_some(*pid),
        }
    }
}

/// Whether the process of `pidfd` has exited (the pidfd reads as ready), without waiting.
#[cfg(all(feature = "async", any(target_os = "linux", target_os = "android")))]
fn pidfd_has_exited(pidfd: &std::os::fd::OwnedFd) -> io::Result<bool> {
    let mut fds = [PollFd::new(pidfd, PollFlags::IN)];
    loop {
        match rustix::event::poll(&mut fds, Some(&rustix::event::Timespec::default())) {
            Ok(n) => return Ok(n > 0),
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

impl fmt::Debug for Killer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Killer")
            .field("pid", &self.pid().map(|pid| pid.as_raw_nonzero().get()))
            .finish()
    }
}

/// Whether an unreaped child has exited (or cannot be waited for: `SIGCHLD` ignored), found out
/// without reaping it.
fn has_exited(pid: Pid) -> bool {
    use rustix::process::{waitid, WaitId, WaitIdOptions};
    !matches!(
        waitid(
            WaitId::Pid(pid),
            WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT
        ),
        Ok(None)
    )
}

/// The signal a Python signal number names: `None` for 0, `InvalidInput` for a number that is
/// not a named signal of this platform.
fn named_signal(signal: i32) -> io::Result<Option<Signal>> {
    if signal == 0 {
        return Ok(None);
    }
    match Signal::from_named_raw(signal) {
        Some(signal) => Ok(Some(signal)),
        None => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{signal} is not a signal number this platform names"),
        )),
    }
}

/// The state of a `communicate` that has started: the pipes still open, the input left to write,
/// the output read so far. It outlives a timeout, so that the next call continues.
#[derive(Default)]
struct Communication {
    stdin: Option<ChildStdin>,
    /// The input left to write, kept when a timeout interrupted the writing.
    pending: Vec<u8>,
    /// How much of the input being written has been written.
    offset: usize,
    stdout: Option<ChildStdout>,
    stderr: Option<ChildStderr>,
    out: Vec<u8>,
    err: Vec<u8>,
}

/// What a bounded `communicate` achieved.
pub(crate) enum Progress {
    /// All pipes reached end-of-file and the child exited: (stdout, stderr).
    Done((Vec<u8>, Vec<u8>)),
    /// The deadline passed first; the state is kept in the `Popen`.
    TimedOut,
}

impl Popen {
    pub(crate) fn new(args: Vec<OsString>, mut child: Child, merged: Option<ChildStdout>) -> Self {
        Self {
            args,
            stdin: child.stdin.take(),
            stdout: merged.or_else(|| child.stdout.take()),
            stderr: child.stderr.take(),
            child,
            returncode: None,
            comm: None,
            unreaped: None,
        }
    }

    /// The child's process id (Python's `pid`). It stays valid, and names this child, until the
    /// child is reaped (by [`wait`](Popen::wait), a [`poll`](Popen::poll) that saw the exit, ...).
    ///
    /// ```
    /// use weft_process::subprocess::run;
    ///
    /// let mut p = run(["true"]).spawn().unwrap();
    /// assert!(p.pid() > 0);
    /// p.wait().unwrap();
    /// ```
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The arguments the child was started with (Python's `args`).
    ///
    /// ```
    /// use weft_process::subprocess::run;
    ///
    /// let mut p = run(["echo", "x"]).spawn().unwrap();
    /// assert_eq!(p.args(), ["echo", "x"]);
    /// p.wait().unwrap();
    /// ```
    pub fn args(&self) -> &[OsString] {
        &self.args
    }

    /// The exit status if the child is known to have exited, without asking the system (Python's
    /// `returncode` attribute); see [`poll`](Popen::poll) to find out.
    ///
    /// ```
    /// use weft_process::subprocess::run;
    ///
    /// let mut p = run(["sh", "-c", "exit 3"]).spawn().unwrap();
    /// assert_eq!(p.returncode(), None);
    /// p.wait().unwrap();
    /// assert_eq!(p.returncode(), Some(3));
    /// ```
    pub fn returncode(&self) -> Option<i32> {
        self.returncode
    }

    pub(crate) fn into_args(mut self) -> Vec<OsString> {
        std::mem::take(&mut self.args)
    }

    /// Whether the child has exited, without blocking: its status if so (and it is reaped), `None`
    /// while it runs (Python's `poll()`).
    ///
    /// ```
    /// use weft_process::subprocess::{run, Redirect};
    ///
    /// let mut p = run(["cat"]).stdin(Redirect::Pipe).spawn().unwrap();
    /// assert_eq!(p.poll(), None); // cat waits for its input
    /// drop(p.take_stdin()); // end-of-file: cat exits
    /// p.wait().unwrap();
    /// assert_eq!(p.poll(), Some(0));
    /// ```
    pub fn poll(&mut self) -> Option<i32> {
        // `waitpid(pid, WNOHANG)` on a child of ours that nobody else reaps has no failure left
        // once ECHILD is handled (as status 0, below): an error reads as "still running".
        self.try_wait().ok().flatten()
    }

    fn try_wait(&mut self) -> io::Result<Option<i32>> {
        if let Some(code) = self.returncode {
            return Ok(Some(code));
        }
        // With killers about, the reap happens under their lock (see `Unreaped`).
        let mut unreaped = self.unreaped.as_ref().map(|u| u.lock());
        let code = match self.child.try_wait() {
            Ok(Some(status)) => returncode_of(status),
            Ok(None) => return Ok(None),
            Err(e) if is_echild(&e) => 0,
            Err(e) => return Err(e),
        };
        if let Some(pid) = unreaped.as_deref_mut() {
            *pid = None;
        }
        self.returncode = Some(code);
        Ok(Some(code))
    }

    /// A [`Killer`]: a handle that signals this child from any thread, while this `Popen` waits
    /// for it or after it is dropped. Once a killer has been taken, [`wait`](Popen::wait) sleeps
    /// on the child's exit (a pidfd on Linux) and reaps it without blocking, so that it never
    /// holds the killers' lock while it blocks.
    ///
    /// ```
    /// use weft_process::subprocess::{run, Redirect};
    ///
    /// // Another thread stops a child whose output this thread is reading.
    /// let mut p = run(["sh", "-c", "echo started; exec sleep 30"]).stdout(Redirect::Pipe).spawn().unwrap();
    /// let killer = p.killer();
    /// let stopper = std::thread::spawn(move || killer.kill());
    /// let (_out, _) = p.communicate(&[]).unwrap(); // "started\n", or nothing if killed first
    /// assert_eq!(p.returncode(), Some(-9));
    /// stopper.join().unwrap().unwrap();
    /// ```
    pub fn killer(&mut self) -> Killer {
        let returncode = self.returncode;
        let pid = Pid::from_child(&self.child);
        let unreaped = self
            .unreaped
            .get_or_insert_with(|| Arc::new(Mutex::new(returncode.is_none().then_some(pid))));
        Killer {
            target: Target::Unreaped(Arc::clone(unreaped)),
        }
    }

    /// Waits for the child to exit, reaps it, and returns its status (Python's `wait()`). The
    /// child's stdin is not closed first: a child that reads its stdin until end-of-file waits for
    /// [`take_stdin`](Popen::take_stdin) to be dropped, and one that fills an unread stdout pipe
    /// waits for it to be read; [`communicate`](Popen::communicate) does both.
    ///
    /// # Errors
    /// The operating system's, if `waitpid` fails for a reason other than `ECHILD`.
    ///
    /// ```
    /// use weft_process::subprocess::run;
    ///
    /// let mut p = run(["sh", "-c", "exit 5"]).spawn().unwrap();
    /// assert_eq!(p.wait().unwrap(), 5);
    /// ```
    pub fn wait(&mut self) -> io::Result<i32> {
        if let Some(code) = self.returncode {
            return Ok(code);
        }
        if self.unreaped.is_some() {
            // A blocking `waitpid` would reap outside the killers' lock: sleep on the exit and
            // reap with `try_wait` instead.
            let mut exit_fd = ExitFd::open(&self.child);
            loop {
                if let Some(code) = self.try_wait()? {
                    return Ok(code);
                }
                exit_fd.sleep(Duration::MAX);
            }
        }
        let code = match self.child.wait() {
            Ok(status) => returncode_of(status),
            Err(e) if is_echild(&e) => 0,
            Err(e) => return Err(e),
        };
        self.returncode = Some(code);
        Ok(code)
    }

    /// Waits at most `timeout` for the child to exit: its status, or `None` if it is still running
    /// (Python's `wait(timeout=...)`, which raises `TimeoutExpired` instead). The child is left
    /// alone on a timeout. `Duration::ZERO` checks once; `Duration::MAX` waits for ever.
    ///
    /// On Linux the wait sleeps in `poll(2)` on a pidfd, so it wakes as soon as the child exits;
    /// elsewhere it checks with a backoff from 0.5 ms to 20 ms.
    ///
    /// # Errors
    /// The operating system's, if `waitpid` fails for a reason other than `ECHILD`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use weft_process::subprocess::run;
    ///
    /// let mut p = run(["sleep", "30"]).spawn().unwrap();
    /// assert_eq!(p.wait_timeout(Duration::from_millis(20)).unwrap(), None);
    /// p.kill().unwrap();
    /// assert_eq!(p.wait_timeout(Duration::from_secs(10)).unwrap(), Some(-9));
    /// ```
    pub fn wait_timeout(&mut self, timeout: Duration) -> io::Result<Option<i32>> {
        self.wait_until(Deadline::after(timeout))
    }

    fn wait_until(&mut self, deadline: Deadline) -> io::Result<Option<i32>> {
        if let Some(code) = self.try_wait()? {
            return Ok(Some(code));
        }
        let Some(at) = deadline.at else {
            return self.wait().map(Some);
        };
        let mut exit_fd = ExitFd::open(&self.child);
        loop {
            let left = at.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            exit_fd.sleep(left);
            if let Some(code) = self.try_wait()? {
                return Ok(Some(code));
            }
        }
    }

    /// Sends signal number `signal` to the child (Python's `send_signal(sig)`), unless it has
    /// already exited, which [`poll`](Popen::poll) finds out first: a reaped child's pid may
    /// belong to another process by now. `0` only checks that the child can be signalled.
    ///
    /// # Errors
    /// `InvalidInput` for a number that is not a named signal of this platform (the real-time
    /// signals are refused too), and the operating system's error from `kill(2)`.
    ///
    /// ```
    /// use weft_process::subprocess::run;
    ///
    /// let mut p = run(["sleep", "30"]).spawn().unwrap();
    /// p.send_signal(2).unwrap(); // SIGINT
    /// assert_eq!(p.wait().unwrap(), -2);
    /// p.send_signal(2).unwrap(); // already reaped: nothing is sent
    /// ```
    pub fn send_signal(&mut self, signal: i32) -> io::Result<()> {
        match named_signal(signal)? {
            Some(signal) => self.signal(signal),
            None => {
                if self.poll().is_none() {
                    rustix::process::test_kill_process(Pid::from_child(&self.child))?;
                }
                Ok(())
            }
        }
    }

    fn signal(&mut self, signal: Signal) -> io::Result<()> {
        if self.poll().is_none() {
            rustix::process::kill_process(Pid::from_child(&self.child), signal)?;
        }
        Ok(())
    }

    /// Asks the child to stop with SIGTERM (Python's `terminate()`); a child that does not catch
    /// it then reads as `-15`. Nothing is sent to a child that has already exited.
    ///
    /// # Errors
    /// The operating system's error from `kill(2)`.
    ///
    /// ```
    /// use weft_process::subprocess::run;
    ///
    /// let mut p = run(["sleep", "30"]).spawn().unwrap();
    /// p.terminate().unwrap();
    /// assert_eq!(p.wait().unwrap(), -15);
    /// ```
    pub fn terminate(&mut self) -> io::Result<()> {
        self.signal(Signal::TERM)
    }

    /// Kills the child with SIGKILL (Python's `kill()`); it then reads as `-9`. Nothing is sent to
    /// a child that has already exited. Call [`wait`](Popen::wait) afterwards to reap it.
    ///
    /// # Errors
    /// The operating system's error from `kill(2)`.
    ///
    /// ```
    /// use weft_process::subprocess::run;
    ///
    /// let mut p = run(["sleep", "30"]).spawn().unwrap();
    /// p.kill().unwrap();
    /// assert_eq!(p.wait().unwrap(), -9);
    /// ```
    pub fn kill(&mut self) -> io::Result<()> {
        self.signal(Signal::KILL)
    }

    /// The child's stdin, if it is a pipe that has not been taken (Python's `stdin`). Writing to
    /// it while the child's output is piped and unread can deadlock once the pipes fill; prefer
    /// [`communicate`](Popen::communicate).
    ///
    /// ```
    /// use std::io::Write;
    /// use weft_process::subprocess::{run, Redirect};
    ///
    /// let mut p = run(["cat"]).stdin(Redirect::Pipe).stdout(Redirect::Null).spawn().unwrap();
    /// p.stdin().unwrap().write_all(b"hello").unwrap();
    /// drop(p.take_stdin());
    /// assert_eq!(p.wait().unwrap(), 0);
    /// ```
    pub fn stdin(&mut self) -> Option<&mut ChildStdin> {
        self.stdin.as_mut()
    }

    /// The child's stdout, if it is a pipe that has not been taken (Python's `stdout`).
    ///
    /// ```
    /// use std::io::Read;
    /// use weft_process::subprocess::{run, Redirect};
    ///
    /// let mut p = run(["echo", "hi"]).stdout(Redirect::Pipe).spawn().unwrap();
    /// let mut out = String::new();
    /// p.stdout().unwrap().read_to_string(&mut out).unwrap();
    /// assert_eq!(out, "hi\n");
    /// p.wait().unwrap();
    /// ```
    pub fn stdout(&mut self) -> Option<&mut ChildStdout> {
        self.stdout.as_mut()
    }

    /// The child's stderr, if it is a pipe that has not been taken (Python's `stderr`).
    ///
    /// ```
    /// use std::io::Read;
    /// use weft_process::subprocess::{run, Redirect};
    ///
    /// let mut p = run(["sh", "-c", "echo e >&2"]).stderr(Redirect::Pipe).spawn().unwrap();
    /// let mut err = String::new();
    /// p.stderr().unwrap().read_to_string(&mut err).unwrap();
    /// assert_eq!(err, "e\n");
    /// p.wait().unwrap();
    /// ```
    pub fn stderr(&mut self) -> Option<&mut ChildStderr> {
        self.stderr.as_mut()
    }

    /// Takes the child's stdin pipe; dropping it closes the pipe, which the child reads as
    /// end-of-file.
    ///
    /// ```
    /// use weft_process::subprocess::{run, Redirect};
    ///
    /// let mut p = run(["cat"]).stdin(Redirect::Pipe).spawn().unwrap();
    /// drop(p.take_stdin());
    /// assert_eq!(p.wait().unwrap(), 0);
    /// ```
    pub fn take_stdin(&mut self) -> Option<ChildStdin> {
        self.stdin.take()
    }

    /// Takes the child's stdout pipe, to read it elsewhere (another thread, a `BufReader`).
    ///
    /// ```
    /// use std::io::Read;
    /// use weft_process::subprocess::{run, Redirect};
    ///
    /// let mut p = run(["echo", "x"]).stdout(Redirect::Pipe).spawn().unwrap();
    /// let mut out = Vec::new();
    /// p.take_stdout().unwrap().read_to_end(&mut out).unwrap();
    /// assert_eq!(out, b"x\n");
    /// p.wait().unwrap();
    /// ```
    pub fn take_stdout(&mut self) -> Option<ChildStdout> {
        self.stdout.take()
    }

    /// Takes the child's stderr pipe.
    ///
    /// ```
    /// use weft_process::subprocess::{run, Redirect};
    ///
    /// let mut p = run(["true"]).stderr(Redirect::Pipe).spawn().unwrap();
    /// assert!(p.take_stderr().is_some());
    /// assert!(p.take_stderr().is_none());
    /// p.wait().unwrap();
    /// ```
    pub fn take_stderr(&mut self) -> Option<ChildStderr> {
        self.stderr.take()
    }

    /// Writes `input` to the child's stdin and closes it, reads its stdout and stderr to the end,
    /// and waits for it to exit (Python's `communicate(input)`). Returns (stdout, stderr); a
    /// stream that is not a pipe gives an empty vector.
    ///
    /// The three pipes are served at once by one `poll(2)` loop over non-blocking descriptors, so
    /// a child that writes megabytes to both outputs while its input is still being fed never
    /// deadlocks, and no thread is started. A child that exits without reading all its input is
    /// not an error (the broken pipe is ignored, as in Python). Empty `input` closes stdin at once.
    /// (That relies on `SIGPIPE` being ignored, which the Rust runtime arranges before `main`; a
    /// program that restores its default action is killed by such a child, as a C program is.)
    ///
    /// The pipes belong to the communication from the first call on: [`stdin`](Popen::stdin),
    /// [`stdout`](Popen::stdout) and [`stderr`](Popen::stderr) then return `None`. A call after a
    /// [timed-out](Popen::communicate_timeout) one continues it. The output is handed over once:
    /// a call after one that returned it returns empty output (CPython's returns the same output
    /// again).
    ///
    /// # Errors
    /// [`InvalidArgument`](SubprocessError::InvalidArgument) for non-empty `input` without a
    /// stdin pipe or after communication started; [`Io`](SubprocessError::Io).
    ///
    /// ```
    /// use weft_process::subprocess::{run, Redirect};
    ///
    /// let mut p = run(["sh", "-c", "cat; echo done >&2"])
    ///     .stdin(Redirect::Pipe)
    ///     .capture()
    ///     .spawn()
    ///     .unwrap();
    /// let (out, err) = p.communicate(b"echo me").unwrap();
    /// assert_eq!((out.as_slice(), err.as_slice()), (&b"echo me"[..], &b"done\n"[..]));
    /// ```
    pub fn communicate(&mut self, input: &[u8]) -> Result<(Vec<u8>, Vec<u8>), SubprocessError> {
        self.communicate_timeout(input, Duration::MAX)
    }

    /// [`communicate`](Popen::communicate), giving up after `timeout` (Python's
    /// `communicate(input, timeout)`). On a timeout the child is neither killed nor reaped, and
    /// the [`TimeoutExpired`](SubprocessError::TimeoutExpired) error holds (a copy of) the output
    /// read so far; the pipes, the unwritten input and the output stay here, so a later
    /// `communicate(&[])` or `communicate_timeout(&[], d)` continues and returns all the output
    /// from the start. The usual recovery is Python's:
    ///
    /// ```
    /// use std::time::Duration;
    /// use weft_process::subprocess::{run, Redirect};
    ///
    /// let mut p = run(["sh", "-c", "echo started; exec sleep 30"]).stdout(Redirect::Pipe).spawn().unwrap();
    /// let err = p.communicate_timeout(&[], Duration::from_millis(200)).unwrap_err();
    /// assert!(err.is_timeout());
    /// p.kill().unwrap();
    /// let (out, _) = p.communicate(&[]).unwrap();
    /// assert_eq!(out, b"started\n");
    /// assert_eq!(p.returncode(), Some(-9));
    /// ```
    ///
    /// As in Python, that last `communicate` reads until the pipes close, so a grandchild that
    /// inherited them (`sh -c "slow & ..."`) holds it until the grandchild ends; after `kill`,
    /// `communicate_timeout` bounds that wait ([`Run::output`](super::Run::output) with a
    /// timeout does not wait for it).
    ///
    /// # Errors
    /// [`TimeoutExpired`](SubprocessError::TimeoutExpired), and those of
    /// [`communicate`](Popen::communicate).
    pub fn communicate_timeout(
        &mut self,
        input: &[u8],
        timeout: Duration,
    ) -> Result<(Vec<u8>, Vec<u8>), SubprocessError> {
        match self.communicate_until(input, Some(Deadline::after(timeout)))? {
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

    /// The work of `communicate`: pump the pipes until end-of-file, then wait for the exit, all
    /// before `deadline` (none: no limit).
    pub(crate) fn communicate_until(
        &mut self,
        input: &[u8],
        deadline: Option<Deadline>,
    ) -> Result<Progress, SubprocessError> {
        let fresh = self.comm.is_none();
        if fresh {
            if !input.is_empty() && self.stdin.is_none() {
                return Err(SubprocessError::InvalidArgument(
                    "input was given but the child's stdin is not a pipe",
                ));
            }
            let comm = Communication {
                stdin: self.stdin.take(),
                stdout: self.stdout.take(),
                stderr: self.stderr.take(),
                ..Communication::default()
            };
            comm.set_nonblocking().map_err(SubprocessError::Io)?;
            self.comm = Some(comm);
        } else if !input.is_empty() {
            return Err(SubprocessError::InvalidArgument(
                "cannot send input after communication started",
            ));
        }
        let at = deadline.and_then(|d| d.at);
        if let Some(comm) = self.comm.as_mut() {
            let pending = std::mem::take(&mut comm.pending);
            let data = if fresh { input } else { &pending[..] };
            let pumped = comm.pump(data, at);
            if !matches!(pumped, Ok(true)) && comm.stdin.is_some() {
                // The input not written yet waits for the next call, after a timeout or an
                // error alike.
                comm.pending = data.get(comm.offset..).unwrap_or_default().to_vec();
                comm.offset = 0;
            }
            if !pumped.map_err(SubprocessError::Io)? {
                return Ok(Progress::TimedOut);
            }
        }
        let exited = match deadline {
            Some(d) => self.wait_until(d),
            None => self.wait().map(Some),
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

    /// After a timeout in `run`: kill and reap the child, then take what is left in the pipes
    /// without waiting for end-of-file (a grandchild may hold them open), and return all the
    /// output read.
    pub(crate) fn kill_and_drain(&mut self) -> Result<(Vec<u8>, Vec<u8>), SubprocessError> {
        self.kill().map_err(SubprocessError::Io)?;
        self.wait().map_err(SubprocessError::Io)?;
        let Some(comm) = self.comm.as_mut() else {
            return Ok(Default::default());
        };
        comm.stdin = None;
        drain(&mut comm.stdout, &mut comm.out).map_err(SubprocessError::Io)?;
        drain(&mut comm.stderr, &mut comm.err).map_err(SubprocessError::Io)?;
        Ok((std::mem::take(&mut comm.out), std::mem::take(&mut comm.err)))
    }
}

impl Communication {
    fn set_nonblocking(&self) -> io::Result<()> {
        let fds = [
            self.stdin.as_ref().map(AsFd::as_fd),
            self.stdout.as_ref().map(AsFd::as_fd),
            self.stderr.as_ref().map(AsFd::as_fd),
        ];
        for fd in fds.into_iter().flatten() {
            rustix::io::ioctl_fionbio(fd, true)?;
        }
        Ok(())
    }

    /// Writes `data[offset..]` and reads both outputs until every pipe is closed (`true`) or
    /// the deadline passes (`false`). Before giving up on a passed deadline it polls once, so
    /// that a zero timeout still takes what is ready.
    fn pump(&mut self, data: &[u8], deadline: Option<Instant>) -> io::Result<bool> {
        let mut last_round = false;
        loop {
            if self.stdin.is_some() && self.offset >= data.len() {
                self.stdin = None; // all written: end-of-file for the child
            }
            if self.stdin.is_none() && self.stdout.is_none() && self.stderr.is_none() {
                return Ok(true);
            }
            let timeout = match deadline {
                None => None,
                Some(at) => {
                    let left = at.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        if last_round {
                            return Ok(false);
                        }
                        last_round = true;
                    }
                    Some(crate::wire::timespec(left))
                }
            };
            let ready = {
                let fds: [Option<BorrowedFd<'_>>; 3] = [
                    self.stdin.as_ref().map(AsFd::as_fd),
                    self.stdout.as_ref().map(AsFd::as_fd),
                    self.stderr.as_ref().map(AsFd::as_fd),
                ];
                let wanted = [PollFlags::OUT, PollFlags::IN, PollFlags::IN];
                let mut polled = Vec::with_capacity(3);
                let mut slots = Vec::with_capacity(3);
                for (slot, fd) in fds.iter().enumerate() {
                    if let Some(fd) = fd {
                        polled.push(PollFd::new(fd, wanted[slot]));
                        slots.push(slot);
                    }
                }
                match rustix::event::poll(&mut polled, timeout.as_ref()) {
                    // A timeout, perhaps of a capped wait: the deadline decides, above.
                    Ok(0) => continue,
                    Ok(_) => {}
                    Err(Errno::INTR) => continue,
                    Err(e) => return Err(e.into()),
                }
                let mut ready = [false; 3];
                for (fd, slot) in polled.iter().zip(slots) {
                    ready[slot] = !fd.revents().is_empty();
                }
                ready
            };
            if ready[0] {
                self.write_some(data)?;
            }
            if ready[1] {
                read_some(&mut self.stdout, &mut self.out)?;
            }
            if ready[2] {
                read_some(&mut self.stderr, &mut self.err)?;
            }
        }
    }

    fn write_some(&mut self, data: &[u8]) -> io::Result<()> {
        let (Some(pipe), Some(rest)) = (&self.stdin, data.get(self.offset..)) else {
            return Ok(());
        };
        match rustix::io::write(pipe, rest) {
            Ok(n) => self.offset += n,
            Err(Errno::AGAIN | Errno::INTR) => {}
            // The child exited or closed its stdin without reading everything: not an error.
            Err(Errno::PIPE) => self.stdin = None,
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }
}

/// One read from a non-blocking pipe into `buf` (again if a signal interrupts it); end-of-file
/// closes the pipe.
fn read_some<P: AsFd>(pipe: &mut Option<P>, buf: &mut Vec<u8>) -> io::Result<bool> {
    let Some(p) = pipe else {
        return Ok(false);
    };
    buf.reserve(READ_CHUNK);
    loop {
        return match rustix::io::read(&*p, spare_capacity(buf)) {
            Ok(0) => {
                *pipe = None;
                Ok(false)
            }
            Ok(_) => Ok(true),
            // Not "nothing now": `drain` would stop at it with data left in the pipe.
            Err(Errno::INTR) => continue,
            Err(Errno::AGAIN) => Ok(false),
            Err(e) => Err(e.into()),
        };
    }
}

/// Reads what a non-blocking pipe holds now, without waiting for more, then closes it. At
/// most [`DRAIN_MAX`] bytes: what a pipe holds at most by default, so a grandchild that keeps
/// writing into an inherited pipe cannot keep this reading (and growing `buf`) for ever.
pub(crate) fn drain<P: AsFd>(pipe: &mut Option<P>, buf: &mut Vec<u8>) -> io::Result<()> {
    let stop = buf.len().saturating_add(DRAIN_MAX);
    while buf.len() < stop && read_some(pipe, buf)? {}
    *pipe = None;
    Ok(())
}

/// The most [`drain`] reads from one pipe: Linux's default `pipe-max-size`, 1 MiB.
const DRAIN_MAX: usize = 1 << 20;

impl fmt::Debug for Popen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Popen")
            .field("pid", &self.child.id())
            .field("args", &self.args)
            .field("returncode", &self.returncode)
            .finish_non_exhaustive()
    }
}

impl Drop for Popen {
    fn drop(&mut self) {
        if let Ok(None) = self.try_wait() {
            ABANDONED
                .lock()
                .push((Pid::from_child(&self.child), self.unreaped.take()));
        }
        reap_abandoned();
    }
}

/// Children dropped while still running, to be reaped once they exit (Python's
/// `subprocess._active`), with their killers' shared pid if a killer was taken.
static ABANDONED: Mutex<Vec<(Pid, Option<Unreaped>)>> = Mutex::new(Vec::new());

/// Reaps the abandoned children that have exited (Python's `subprocess._cleanup()`).
pub(crate) fn reap_abandoned() {
    let mut abandoned = ABANDONED.lock();
    if abandoned.is_empty() {
        return;
    }
    abandoned.retain(|(pid, unreaped)| {
        let mut unreaped = unreaped.as_ref().map(|u| u.lock());
        let running = matches!(
            rustix::process::waitpid(Some(*pid), rustix::process::WaitOptions::NOHANG),
            Ok(None)
        );
        if let (false, Some(pid)) = (running, unreaped.as_deref_mut()) {
            *pid = None;
        }
        running
    });
}

/// Python's `returncode`: the exit code, or the negated signal number.
pub(crate) fn returncode_of(status: ExitStatus) -> i32 {
    match (status.code(), status.signal()) {
        (Some(code), _) => code,
        (None, Some(signal)) => -signal,
        // Only a stopped or continued child has neither, and `wait` does not report those.
        (None, None) => status.into_raw(),
    }
}

/// Whether `wait` failed because the child cannot be waited for: `SIGCHLD` is ignored, or
/// someone else reaped it.
pub(crate) fn is_echild(e: &io::Error) -> bool {
    e.raw_os_error() == Some(Errno::CHILD.raw_os_error())
}

/// Something to sleep on until a child exits: a pidfd on Linux, a backoff elsewhere (or when
/// `pidfd_open` is refused: Linux before 5.3, a seccomp filter).
pub(crate) struct ExitFd {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fd: Option<std::os::fd::OwnedFd>,
    backoff: Duration,
}

impl ExitFd {
    pub(crate) fn open(child: &Child) -> Self {
        let _ = child;
        Self {
            #[cfg(any(target_os = "linux", target_os = "android"))]
            fd: rustix::process::pidfd_open(
                Pid::from_child(child),
                rustix::process::PidfdFlags::empty(),
            )
            .ok(),
            backoff: Duration::from_micros(500),
        }
    }

    /// Sleeps until the child exits, at most `left`, perhaps less.
    pub(crate) fn sleep(&mut self, left: Duration) {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if let Some(fd) = &self.fd {
            let mut fds = [PollFd::new(fd, PollFlags::IN)];
            match rustix::event::poll(&mut fds, Some(&crate::wire::timespec(left))) {
                Ok(_) | Err(Errno::INTR) => return,
                Err(_) => self.fd = None, // fall back to the backoff
            }
        }
        std::thread::sleep(self.backoff.min(left));
        self.backoff = (self.backoff * 2).min(Duration::from_millis(20));
    }
}
