//! [`run`], its builder [`Run`], the [`Redirect`] of each standard stream, and the
//! [`CompletedProcess`] a finished run gives back.

use std::borrow::Cow;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::File;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use super::error::{Bytes, SubprocessError};
use super::popen::{self, Popen};

/// Where a child's standard stream goes: Python's `stdin=`/`stdout=`/`stderr=` arguments, with
/// `subprocess.PIPE`, `DEVNULL` and `STDOUT` as variants.
///
/// ```
/// use std::fs::{self, File};
/// use weft_process::subprocess::{run, Redirect};
///
/// // stderr joins stdout (Python's stderr=subprocess.STDOUT).
/// let done = run(["sh", "-c", "echo out; echo err >&2"])
///     .stdout(Redirect::Pipe)
///     .stderr(Redirect::Stdout)
///     .output()
///     .unwrap();
/// assert_eq!(done.stdout, b"out\nerr\n");
///
/// // stdout into a file.
/// let path = std::env::temp_dir().join(format!("weft-redirect-doc-{}", std::process::id()));
/// run(["echo", "to a file"]).stdout(File::create(&path).unwrap()).output().unwrap();
/// assert_eq!(fs::read_to_string(&path).unwrap(), "to a file\n");
/// fs::remove_file(&path).unwrap();
///
/// // A pipeline, `printf ... | wc -l` (Python's `Popen(["wc", "-l"], stdin=p1.stdout)`): the
/// // first child's stdout pipe, taken from its Popen, is the second child's stdin.
/// let mut p1 = run(["printf", "a\nb\nc\n"]).stdout(Redirect::Pipe).spawn().unwrap();
/// let pipe = std::os::fd::OwnedFd::from(p1.take_stdout().unwrap());
/// let done = run(["wc", "-l"]).stdin(pipe).capture().output().unwrap();
/// assert_eq!(done.stdout_str().trim(), "3");
/// assert_eq!(p1.wait().unwrap(), 0);
/// ```
#[derive(Debug, Default)]
pub enum Redirect {
    /// The child shares the parent's stream (Python's `None`, the default).
    #[default]
    Inherit,
    /// The stream is `/dev/null` (Python's `subprocess.DEVNULL`).
    Null,
    /// A pipe to the parent (Python's `subprocess.PIPE`): what the child writes is captured by
    /// [`Run::output`] and [`Popen::communicate`], or read through [`Popen::stdout`]; for stdin,
    /// the parent writes the child's input.
    Pipe,
    /// For stderr only: the same place as stdout, whatever stdout is (Python's
    /// `subprocess.STDOUT`). Given for stdin or stdout it is an
    /// [`InvalidArgument`](SubprocessError::InvalidArgument) error.
    Stdout,
    /// An open file, or any file descriptor converted into a `File` (a socket, a pipe end).
    File(File),
}

impl From<File> for Redirect {
    /// [`Redirect::File`].
    fn from(file: File) -> Self {
        Self::File(file)
    }
}

impl From<OwnedFd> for Redirect {
    /// [`Redirect::File`] over the descriptor.
    fn from(fd: OwnedFd) -> Self {
        Self::File(File::from(fd))
    }
}

/// Starts describing a command to run: Python's `subprocess.run(args, ...)`, with the keyword
/// arguments as builder methods of [`Run`].
///
/// `args[0]` is the program, looked up in `PATH` when it has no `/`; the rest are its arguments,
/// passed as they are, through no shell (unless [`Run::shell`] asks for one). Nothing happens until
/// [`Run::output`] (run to completion) or [`Run::spawn`] (start and hand back a [`Popen`]).
///
/// ```
/// use weft_process::subprocess::run;
///
/// let done = run(["echo", "hello", "world"]).capture().output().unwrap();
/// assert_eq!(done.returncode, 0);
/// assert_eq!(done.stdout_str(), "hello world\n");
/// ```
pub fn run<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Run {
        args: args.into_iter().map(|a| a.as_ref().to_owned()).collect(),
        shell: false,
        stdin: None,
        stdout: Redirect::Inherit,
        stderr: Redirect::Inherit,
        input: None,
        timeout: None,
        check: false,
        cwd: None,
        env_clear: false,
        env: Vec::new(),
        process_group: None,
    }
}

/// A command to run, made by [`run`]: the options of Python's `subprocess.run` and `Popen`, as
/// builder methods, ending in [`output`](Run::output), [`spawn`](Run::spawn), or their async twins.
///
/// ```
/// use std::time::Duration;
/// use weft_process::subprocess::run;
///
/// let done = run(["tr", "a-z", "A-Z"])
///     .input("shout")
///     .capture()
///     .timeout(Duration::from_secs(10))
///     .check()
///     .output()
///     .unwrap();
/// assert_eq!(done.stdout, b"SHOUT");
/// ```
#[must_use = "a Run does nothing until `.output()` or `.spawn()`"]
pub struct Run {
    pub(crate) args: Vec<OsString>,
    shell: bool,
    stdin: Option<Redirect>,
    stdout: Redirect,
    stderr: Redirect,
    pub(crate) input: Option<Vec<u8>>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) check: bool,
    cwd: Option<PathBuf>,
    env_clear: bool,
    env: Vec<(OsString, Option<OsString>)>,
    process_group: Option<i32>,
}

impl fmt::Debug for Run {
    /// Every option, with the input shown as a byte string cut after 256 bytes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Run")
            .field("args", &self.args)
            .field("shell", &self.shell)
            .field("stdin", &self.stdin)
            .field("stdout", &self.stdout)
            .field("stderr", &self.stderr)
            .field("input", &self.input.as_deref().map(Bytes))
            .field("timeout", &self.timeout)
            .field("check", &self.check)
            .field("cwd", &self.cwd)
            .field("env_clear", &self.env_clear)
            .field("env", &self.env)
            .field("process_group", &self.process_group)
            .finish()
    }
}

impl Run {
    /// Adds one argument.
    ///
    /// ```
    /// use weft_process::subprocess::run;
    ///
    /// let done = run(["echo"]).arg("one").capture().output().unwrap();
    /// assert_eq!(done.stdout, b"one\n");
    /// ```
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// Adds arguments.
    ///
    /// ```
    /// use weft_process::subprocess::run;
    ///
    /// let done = run(["echo"]).args(["a", "b"]).capture().output().unwrap();
    /// assert_eq!(done.stdout, b"a b\n");
    /// ```
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Captures stdout and stderr through pipes (Python's `capture_output=True`); the same as
    /// `.stdout(Redirect::Pipe).stderr(Redirect::Pipe)`.
    ///
    /// ```
    /// use weft_process::subprocess::run;
    ///
    /// let done = run(["sh", "-c", "echo out; echo err >&2"]).capture().output().unwrap();
    /// assert_eq!((done.stdout_str().as_ref(), done.stderr_str().as_ref()), ("out\n", "err\n"));
    /// ```
    pub fn capture(self) -> Self {
        self.stdout(Redirect::Pipe).stderr(Redirect::Pipe)
    }

    /// Where the child's stdin comes from (Python's `stdin=`); the parent's by default, a pipe
    /// when [`input`](Run::input) is given.
    ///
    /// ```
    /// use weft_process::subprocess::{run, Redirect};
    ///
    /// // cat reads /dev/null: no input, no wait.
    /// let done = run(["cat"]).stdin(Redirect::Null).capture().output().unwrap();
    /// assert!(done.stdout.is_empty());
    /// ```
    pub fn stdin(mut self, redirect: impl Into<Redirect>) -> Self {
        self.stdin = Some(redirect.into());
        self
    }

    /// Where the child's stdout goes (Python's `stdout=`); the parent's by default.
    ///
    /// ```
    /// use weft_process::subprocess::{run, Redirect};
    ///
    /// let done = run(["echo", "hidden"]).stdout(Redirect::Null).output().unwrap();
    /// assert!(done.stdout.is_empty());
    /// ```
    pub fn stdout(mut self, redirect: impl Into<Redirect>) -> Self {
        self.stdout = redirect.into();
        self
    }

    /// Where the child's stderr goes (Python's `stderr=`); the parent's by default.
    /// [`Redirect::Stdout`] sends it wherever stdout goes.
    ///
    /// ```
    /// use weft_process::subprocess::{run, Redirect};
    ///
    /// let done = run(["sh", "-c", "echo err >&2"]).stderr(Redirect::Pipe).output().unwrap();
    /// assert_eq!(done.stderr, b"err\n");
    /// ```
    pub fn stderr(mut self, redirect: impl Into<Redirect>) -> Self {
        self.stderr = redirect.into();
        self
    }

    /// Bytes to write to the child's stdin, which becomes a pipe that is closed after them
    /// (Python's `input=`). Written while the output is read, so any size is safe. Only
    /// [`output`](Run::output) writes them; [`spawn`](Run::spawn) makes the pipe but leaves the
    /// writing to [`Popen::communicate`].
    ///
    /// ```
    /// use weft_process::subprocess::run;
    ///
    /// let done = run(["wc", "-c"]).input(vec![b'x'; 100_000]).capture().output().unwrap();
    /// assert_eq!(done.stdout_str().trim(), "100000");
    /// ```
    pub fn input(mut self, input: impl Into<Vec<u8>>) -> Self {
        self.input = Some(input.into());
        self
    }

    /// The longest [`output`](Run::output) may take (Python's `timeout=`). When it passes, the
    /// child is killed (SIGKILL) and reaped, and `output` returns
    /// [`TimeoutExpired`](SubprocessError::TimeoutExpired) with the output read until then.
    /// `Duration::ZERO` gives the child no time; `Duration::MAX` means no timeout.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use weft_process::subprocess::run;
    ///
    /// let start = Instant::now();
    /// let err = run(["sleep", "30"]).timeout(Duration::from_millis(100)).output().unwrap_err();
    /// assert!(err.is_timeout());
    /// assert!(start.elapsed() < Duration::from_secs(10));
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Makes a non-zero exit status an error (Python's `check=True`):
    /// [`CalledProcessError`](SubprocessError::CalledProcessError), with the captured output.
    ///
    /// ```
    /// use weft_process::subprocess::run;
    ///
    /// assert!(run(["true"]).check().output().is_ok());
    /// assert_eq!(run(["false"]).check().output().unwrap_err().returncode(), Some(1));
    /// ```
    pub fn check(mut self) -> Self {
        self.check = true;
        self
    }

    /// The child's working directory (Python's `cwd=`). A program name without a `/` is looked up
    /// in `PATH` as usual; avoid combining `cwd` with a relative path such as `./tool`, which
    /// `std::process::Command` leaves platform-specific.
    ///
    /// ```
    /// use weft_process::subprocess::run;
    ///
    /// let done = run(["pwd"]).cwd("/").capture().output().unwrap();
    /// assert_eq!(done.stdout, b"/\n");
    /// ```
    pub fn cwd(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cwd = Some(dir.into());
        self
    }

    /// Sets one environment variable for the child, on top of the inherited environment (or of
    /// none, after [`env_clear`](Run::env_clear)). A name containing `=` is an
    /// [`InvalidArgument`](SubprocessError::InvalidArgument) error when the child is started
    /// (Python's `ValueError: illegal environment variable name`).
    ///
    /// ```
    /// use weft_process::subprocess::run;
    ///
    /// let done = run(["sh", "-c", "echo $GREETING"]).env("GREETING", "hi").capture().output().unwrap();
    /// assert_eq!(done.stdout, b"hi\n");
    /// ```
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.env
            .push((key.as_ref().to_owned(), Some(value.as_ref().to_owned())));
        self
    }

    /// Sets several environment variables for the child. Python's `env={...}`, which replaces the
    /// whole environment, is `.env_clear().envs(map)`.
    ///
    /// ```
    /// use weft_process::subprocess::run;
    ///
    /// let done = run(["/usr/bin/env"]).env_clear().envs([("A", "1"), ("B", "2")]).capture().output().unwrap();
    /// assert_eq!(done.stdout, b"A=1\nB=2\n");
    /// ```
    pub fn envs<I, K, V>(mut self, vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        for (k, v) in vars {
            self.env
                .push((k.as_ref().to_owned(), Some(v.as_ref().to_owned())));
        }
        self
    }

    /// Removes one variable from the child's environment.
    ///
    /// ```
    /// use weft_process::subprocess::run;
    ///
    /// let done = run(["sh", "-c", "echo ${X-unset}"]).env("X", "1").env_remove("X").capture().output().unwrap();
    /// assert_eq!(done.stdout, b"unset\n");
    /// ```
    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Self {
        self.env.push((key.as_ref().to_owned(), None));
        self
    }

    /// Starts the child with an empty environment, plus what [`env`](Run::env) and
    /// [`envs`](Run::envs) add after this call (as std's `env_clear`, it also drops what they
    /// added before it).
    ///
    /// ```
    /// use weft_process::subprocess::run;
    ///
    /// let done = run(["/usr/bin/env"]).env_clear().capture().output().unwrap();
    /// assert!(done.stdout.is_empty());
    /// ```
    pub fn env_clear(mut self) -> Self {
        self.env_clear = true;
        self.env.clear();
        self
    }

    /// Runs the command through `/bin/sh -c` (Python's `shell=True`): `args[0]` is the shell
    /// command line, and any further arguments become the shell's `$0`, `$1`, ... exactly as in
    /// Python. Without it (the default) no shell is involved.
    ///
    /// **Dangerous with untrusted input**: the shell interprets `;`, `|`, `$(...)`, globs and
    /// quotes, so a file name such as `x; rm -rf ~` runs a second command. Pass arguments as a
    /// list instead, which needs no quoting at all.
    ///
    /// ```
    /// use weft_process::subprocess::run;
    ///
    /// let done = run(["echo one two | wc -w"]).shell(true).capture().output().unwrap();
    /// assert_eq!(done.stdout_str().trim(), "2");
    /// ```
    pub fn shell(mut self, shell: bool) -> Self {
        self.shell = shell;
        self
    }

    /// Puts the child in process group `pgid`, or in a new group of its own with `0` (Python's
    /// `process_group=`), so that a terminal's Ctrl-C does not reach it. A negative `pgid` is an
    /// [`InvalidArgument`](SubprocessError::InvalidArgument) error when the child is started
    /// (Python ignores one: it calls `setpgid` for a non-negative value only).
    ///
    /// ```
    /// use weft_process::subprocess::run;
    ///
    /// // The shell leads its own group: its process group id is its pid.
    /// let same = r#"test "$(cut -d' ' -f5 /proc/$$/stat)" = "$$""#;
    /// assert!(run(["sh", "-c", same]).process_group(0).output().unwrap().success());
    /// assert!(!run(["sh", "-c", same]).output().unwrap().success());
    /// ```
    pub fn process_group(mut self, pgid: i32) -> Self {
        self.process_group = Some(pgid);
        self
    }

    /// Runs the command to completion (Python's `subprocess.run`): starts it, writes the
    /// [`input`](Run::input), reads the piped output (both streams at once, so a child that
    /// fills one pipe while the parent waits on the other cannot deadlock), and waits for it.
    ///
    /// Only the streams redirected to [`Redirect::Pipe`] (see [`capture`](Run::capture)) are
    /// captured; the others stay empty in the [`CompletedProcess`]. A non-zero status is not an
    /// error unless [`check`](Run::check) asked for it.
    ///
    /// # Errors
    /// [`Spawn`](SubprocessError::Spawn) when the program cannot be started,
    /// [`Cwd`](SubprocessError::Cwd) when the [working directory](Run::cwd) cannot be used,
    /// [`CalledProcessError`](SubprocessError::CalledProcessError) with `check`,
    /// [`TimeoutExpired`](SubprocessError::TimeoutExpired) with [`timeout`](Run::timeout) (the child
    /// is killed and reaped), [`EmptyArgs`](SubprocessError::EmptyArgs),
    /// [`InvalidArgument`](SubprocessError::InvalidArgument) (contradicting options, a NUL byte),
    /// [`Io`](SubprocessError::Io).
    ///
    /// ```
    /// use weft_process::subprocess::run;
    ///
    /// let done = run(["sh", "-c", "exit 7"]).output().unwrap();
    /// assert_eq!(done.returncode, 7);
    /// ```
    pub fn output(self) -> Result<CompletedProcess, SubprocessError> {
        let deadline = self.timeout.map(Deadline::after);
        let check = self.check;
        let (mut p, input) = self.start()?;
        let input = input.as_deref().unwrap_or_default();
        let progress = match p.communicate_until(input, deadline) {
            Ok(progress) => progress,
            Err(e) => {
                // As Python's `run` does on any exception: the child is not left running.
                let _ = p.kill();
                let _ = p.wait();
                return Err(e);
            }
        };
        let (stdout, stderr) = match progress {
            popen::Progress::Done(out) => out,
            popen::Progress::TimedOut => {
                let (stdout, stderr) = p.kill_and_drain()?;
                return Err(SubprocessError::TimeoutExpired {
                    args: p.into_args(),
                    timeout: deadline.map(|d| d.timeout).unwrap_or_default(),
                    stdout,
                    stderr,
                });
            }
        };
        let returncode = p.returncode().unwrap_or_default();
        CompletedProcess {
            args: p.into_args(),
            returncode,
            stdout,
            stderr,
        }
        .checked(check)
    }

    /// Starts the command and returns at once with a [`Popen`] to talk to it (Python's
    /// `subprocess.Popen(args, ...)`). [`timeout`](Run::timeout) and [`check`](Run::check) apply
    /// to [`output`](Run::output) only; [`input`](Run::input) only makes stdin a pipe: pass the
    /// bytes to [`Popen::communicate`].
    ///
    /// # Errors
    /// [`Spawn`](SubprocessError::Spawn), [`Cwd`](SubprocessError::Cwd),
    /// [`EmptyArgs`](SubprocessError::EmptyArgs),
    /// [`InvalidArgument`](SubprocessError::InvalidArgument) (contradicting options, a NUL byte).
    ///
    /// ```
    /// use weft_process::subprocess::{run, Redirect};
    ///
    /// let mut p = run(["cat"]).stdin(Redirect::Pipe).stdout(Redirect::Pipe).spawn().unwrap();
    /// let (out, _) = p.communicate(b"ping").unwrap();
    /// assert_eq!(out, b"ping");
    /// assert_eq!(p.returncode(), Some(0));
    /// ```
    pub fn spawn(self) -> Result<Popen, SubprocessError> {
        self.start().map(|(p, _input)| p)
    }

    /// Spawns, and hands back the input for the caller to write.
    fn start(self) -> Result<(Popen, Option<Vec<u8>>), SubprocessError> {
        popen::reap_abandoned();
        let Prepared {
            mut command,
            program,
            args,
            merged_stdout,
            input,
            cwd,
        } = self.prepare()?;
        let child = command
            .spawn()
            .map_err(|source| spawn_error(program, cwd, source))?;
        // Dropping the command closes the parent's copies of the children's pipe ends (the merged
        // stdout/stderr pipe's write end in particular), so that reads see end-of-file.
        drop(command);
        Ok((Popen::new(args, child, merged_stdout), input))
    }

    /// Whether an argument, an environment variable or the working directory holds a NUL byte,
    /// which no C string can carry.
    fn has_nul(&self) -> bool {
        // Only what is passed is checked, as std does: the last setting of each variable, unless
        // it was removed after.
        let mut last = std::collections::HashMap::new();
        for (key, value) in &self.env {
            last.insert(key.as_os_str(), value.as_deref());
        }
        let env = (last.into_iter())
            .filter_map(|(key, value)| Some([key, value?]))
            .flatten();
        let cwd = self.cwd.as_deref().map(|dir| dir.as_os_str());
        (self.args.iter().map(OsString::as_os_str))
            .chain(env)
            .chain(cwd)
            .any(|s| s.as_encoded_bytes().contains(&0))
    }

    /// Turns the options into a `std::process::Command`, checking them.
    pub(crate) fn prepare(self) -> Result<Prepared, SubprocessError> {
        let Some(first) = self.args.first() else {
            return Err(SubprocessError::EmptyArgs);
        };
        if self.has_nul() {
            // std refuses it too, but as a failure to run the program.
            return Err(SubprocessError::InvalidArgument("embedded null byte"));
        }
        let mut command = if self.shell {
            let mut c = Command::new("/bin/sh");
            c.arg("-c").args(&self.args);
            c
        } else {
            let mut c = Command::new(first);
            c.args(&self.args[1..]);
            c
        };
        let program = if self.shell {
            OsString::from("/bin/sh")
        } else {
            first.clone()
        };
        if let Some(dir) = &self.cwd {
            command.current_dir(dir);
        }
        if self.env_clear {
            command.env_clear();
        }
        for (key, value) in &self.env {
            if value.is_some() && key.as_encoded_bytes().contains(&b'=') {
                // The child would read `A=B=1` as `A` set to `B=1`.
                return Err(SubprocessError::InvalidArgument(
                    "illegal environment variable name: it contains '='",
                ));
            }
            match value {
                Some(value) => command.env(key, value),
                None => command.env_remove(key),
            };
        }
        if let Some(pgid) = self.process_group {
            if pgid < 0 {
                // `setpgid` would fail in the child, reported as a failure to run the program.
                return Err(SubprocessError::InvalidArgument(
                    "process_group must be 0 (a new group) or a group id, not negative",
                ));
            }
            command.process_group(pgid);
        }

        let stdin = match (self.stdin, self.input.is_some()) {
            (None, false) => Stdio::inherit(),
            (None | Some(Redirect::Pipe), true) => Stdio::piped(),
            (Some(_), true) => {
                return Err(SubprocessError::InvalidArgument(
                    "stdin and input cannot both be given",
                ))
            }
            (Some(Redirect::Stdout), false) => {
                return Err(SubprocessError::InvalidArgument(
                    "stdin cannot be Redirect::Stdout, which applies to stderr only",
                ))
            }
            (Some(r), false) => plain_stdio(r),
        };
        command.stdin(stdin);

        let mut merged_stdout = None;
        let (stdout, stderr) = match (self.stdout, self.stderr) {
            (Redirect::Stdout, _) => {
                return Err(SubprocessError::InvalidArgument(
                    "stdout cannot be Redirect::Stdout, which applies to stderr only",
                ))
            }
            (Redirect::Inherit, Redirect::Stdout) => {
                (Stdio::inherit(), Stdio::from(std::io::stdout()))
            }
            (Redirect::Null, Redirect::Stdout) => (Stdio::null(), Stdio::null()),
            (Redirect::Pipe, Redirect::Stdout) => {
                let (reader, writer) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
                    .map_err(|e| SubprocessError::Io(e.into()))?;
                let writer2 = writer.try_clone().map_err(SubprocessError::Io)?;
                merged_stdout = Some(ChildStdout::from(reader));
                (Stdio::from(writer), Stdio::from(writer2))
            }
            (Redirect::File(file), Redirect::Stdout) => {
                let file2 = file.try_clone().map_err(SubprocessError::Io)?;
                (Stdio::from(file), Stdio::from(file2))
            }
            (stdout, stderr) => (plain_stdio(stdout), plain_stdio(stderr)),
        };
        command.stdout(stdout).stderr(stderr);
        Ok(Prepared {
            command,
            cwd: self.cwd,
            program,
            args: self.args,
            merged_stdout,
            input: self.input,
        })
    }
}

/// The error of a failed spawn: a working directory that is not one, or that this process may
/// not enter, is named (as Python's `FileNotFoundError` or `PermissionError` names it); otherwise
/// the program is.
pub(crate) fn spawn_error(
    program: OsString,
    cwd: Option<PathBuf>,
    source: std::io::Error,
) -> SubprocessError {
    match cwd {
        Some(path) if !path.is_dir() || !can_enter(&path) => SubprocessError::Cwd { path, source },
        _ => SubprocessError::Spawn { program, source },
    }
}

/// Whether this process may enter the directory `path` (search permission), as the child's
/// `chdir` needs.
fn can_enter(path: &std::path::Path) -> bool {
    use rustix::fs::{accessat, Access, AtFlags, CWD};
    // With the effective ids, as the child's `chdir` uses (`access` would use the real ones).
    accessat(CWD, path, Access::EXEC_OK, AtFlags::EACCESS).is_ok()
}

/// The `Stdio` of a redirect other than [`Redirect::Stdout`], which the callers handle first.
fn plain_stdio(redirect: Redirect) -> Stdio {
    match redirect {
        Redirect::Inherit | Redirect::Stdout => Stdio::inherit(),
        Redirect::Null => Stdio::null(),
        Redirect::Pipe => Stdio::piped(),
        Redirect::File(file) => Stdio::from(file),
    }
}

/// A checked `std::process::Command`, ready to spawn.
pub(crate) struct Prepared {
    pub(crate) command: Command,
    /// The working directory asked for, to name in a spawn error.
    pub(crate) cwd: Option<PathBuf>,
    /// The program as named in errors.
    pub(crate) program: OsString,
    /// The arguments as given (not the shell's).
    pub(crate) args: Vec<OsString>,
    /// The read end of the pipe stdout and stderr share, for `Redirect::Stdout` with a piped
    /// stdout.
    pub(crate) merged_stdout: Option<ChildStdout>,
    /// The bytes to write to stdin, if any.
    pub(crate) input: Option<Vec<u8>>,
}

/// A timeout and the instant it passes; `at` is `None` when the timeout is too long to
/// represent (`Duration::MAX`), that is, never.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline {
    pub(crate) timeout: Duration,
    pub(crate) at: Option<Instant>,
}

impl Deadline {
    /// Also never for a deadline within a millisecond of the clock's end: tokio's timer (the
    /// async waits) rounds each deadline up to its next millisecond, an addition that panics
    /// there, and such a deadline is hundreds of billions of years away.
    pub(crate) fn after(timeout: Duration) -> Self {
        let at = Instant::now().checked_add(timeout);
        Self {
            timeout,
            at: at.filter(|at| at.checked_add(Duration::from_millis(1)).is_some()),
        }
    }
}

/// A process that has finished, as [`Run::output`] returns it (Python's
/// `subprocess.CompletedProcess`).
///
/// ```
/// use weft_process::subprocess::run;
///
/// let done = run(["sh", "-c", "printf 'caf\\303\\251'; exit 2"]).capture().output().unwrap();
/// assert_eq!(done.args, ["sh", "-c", "printf 'caf\\303\\251'; exit 2"]);
/// assert_eq!(done.returncode, 2);
/// assert_eq!(done.stdout_str(), "café");
/// assert!(done.check_returncode().is_err());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct CompletedProcess {
    /// The arguments the process was started with, as given to [`run`].
    pub args: Vec<OsString>,
    /// The exit status; when a signal killed the process, the negated signal number (`-9` for
    /// SIGKILL), as in Python.
    pub returncode: i32,
    /// What the process wrote to stdout, if it was piped ([`Run::capture`]); empty otherwise.
    pub stdout: Vec<u8>,
    /// What the process wrote to stderr, if it was piped; empty otherwise (and when it was merged
    /// into stdout).
    pub stderr: Vec<u8>,
}

impl fmt::Debug for CompletedProcess {
    /// The output shows as byte strings, cut after 256 bytes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompletedProcess")
            .field("args", &self.args)
            .field("returncode", &self.returncode)
            .field("stdout", &Bytes(&self.stdout))
            .field("stderr", &Bytes(&self.stderr))
            .finish()
    }
}

impl CompletedProcess {
    /// Whether the process exited with status 0.
    ///
    /// ```
    /// use weft_process::subprocess::run;
    ///
    /// assert!(run(["true"]).output().unwrap().success());
    /// assert!(!run(["false"]).output().unwrap().success());
    /// ```
    pub fn success(&self) -> bool {
        self.returncode == 0
    }

    /// Gives the process back if it exited with status 0, and a
    /// [`CalledProcessError`](SubprocessError::CalledProcessError) with its output otherwise
    /// (Python's `check_returncode()`).
    ///
    /// # Errors
    /// [`CalledProcessError`](SubprocessError::CalledProcessError) on a non-zero status.
    ///
    /// ```
    /// use weft_process::subprocess::run;
    ///
    /// let done = run(["sh", "-c", "echo x; exit 4"]).capture().output().unwrap();
    /// let err = done.check_returncode().unwrap_err();
    /// assert_eq!((err.returncode(), err.stdout()), (Some(4), &b"x\n"[..]));
    /// ```
    pub fn check_returncode(self) -> Result<Self, SubprocessError> {
        self.checked(true)
    }

    fn checked(self, check: bool) -> Result<Self, SubprocessError> {
        if !check || self.returncode == 0 {
            return Ok(self);
        }
        Err(SubprocessError::CalledProcessError {
            args: self.args,
            returncode: self.returncode,
            stdout: self.stdout,
            stderr: self.stderr,
        })
    }

    /// The captured stdout as text; invalid UTF-8 becomes `U+FFFD` (Python's `text=True` with
    /// `errors="replace"`; Python's default, `errors="strict"`, raises `UnicodeDecodeError`
    /// instead). Line endings are left as written: Python's text mode also turns `\r\n` and `\r`
    /// into `\n` (universal newlines), this does not.
    ///
    /// ```
    /// use weft_process::subprocess::run;
    ///
    /// assert_eq!(run(["echo", "hi"]).capture().output().unwrap().stdout_str(), "hi\n");
    /// // Python's text=True gives 'a\nb\nc' here.
    /// let done = run(["printf", "a\\r\\nb\\rc"]).capture().output().unwrap();
    /// assert_eq!(done.stdout_str(), "a\r\nb\rc");
    /// ```
    pub fn stdout_str(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.stdout)
    }

    /// The captured stderr as text, as [`stdout_str`](CompletedProcess::stdout_str) decodes it:
    /// invalid UTF-8 becomes `U+FFFD`, line endings are left as written.
    ///
    /// ```
    /// use weft_process::subprocess::run;
    ///
    /// let done = run(["sh", "-c", "echo bad >&2"]).capture().output().unwrap();
    /// assert_eq!(done.stderr_str(), "bad\n");
    /// ```
    pub fn stderr_str(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.stderr)
    }
}
