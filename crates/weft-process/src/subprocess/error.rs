//! The one error type of the `subprocess` module, [`SubprocessError`], named after Python's base
//! class of the same name; its variants carry Python's exception names.

use std::ffi::OsString;
use std::fmt;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// An error returned from [`Run::output`](super::Run::output), [`Run::spawn`](super::Run::spawn),
/// [`Popen::communicate`](super::Popen::communicate) and the other operations of the
/// `subprocess` module that can fail for more than one reason (Python's
/// `subprocess.SubprocessError` and the `OSError`s that `Popen` raises).
///
/// The captured output travels inside the error: a [`CalledProcessError`] or a
/// [`TimeoutExpired`] holds what the child wrote, so nothing is lost.
///
/// ```
/// use weft_process::subprocess::{run, SubprocessError};
///
/// let err = run(["sh", "-c", "echo oops >&2; exit 3"]).capture().check().output().unwrap_err();
/// match &err {
///     SubprocessError::CalledProcessError { returncode, stderr, .. } => {
///         assert_eq!(*returncode, 3);
///         assert_eq!(stderr, b"oops\n");
///     }
///     other => panic!("unexpected {other}"),
/// }
/// assert_eq!(err.to_string(), "command `sh -c 'echo oops >&2; exit 3'` returned non-zero exit status 3");
/// ```
///
/// [`CalledProcessError`]: SubprocessError::CalledProcessError
/// [`TimeoutExpired`]: SubprocessError::TimeoutExpired
#[non_exhaustive]
pub enum SubprocessError {
    /// The program could not be started: not found, not executable... (Python raises
    /// `FileNotFoundError`/`PermissionError`). `program` names what was run (with
    /// [`shell(true)`](super::Run::shell), `/bin/sh`).
    Spawn {
        /// The program that could not be run.
        program: OsString,
        /// Why: the operating system's error.
        source: io::Error,
    },
    /// The working directory given to [`cwd`](super::Run::cwd) is not one: it does not exist or
    /// is not a directory (Python's `FileNotFoundError` or `NotADirectoryError`, which names
    /// the directory).
    Cwd {
        /// The directory asked for.
        path: PathBuf,
        /// Why the child could not start there: the operating system's error.
        source: io::Error,
    },
    /// The child exited with a non-zero status and [`check()`](super::Run::check) was asked for
    /// (Python's `subprocess.CalledProcessError`).
    CalledProcessError {
        /// The arguments the child was started with.
        args: Vec<OsString>,
        /// The exit status, or the negated number of the signal that killed the child.
        returncode: i32,
        /// What the child wrote to its stdout, if it was captured; empty otherwise.
        stdout: Vec<u8>,
        /// What the child wrote to its stderr, if it was captured; empty otherwise.
        stderr: Vec<u8>,
    },
    /// The timeout passed before the child finished (Python's `subprocess.TimeoutExpired`).
    ///
    /// From [`Run::output`](super::Run::output) the child has been killed and reaped, and the
    /// output is everything it wrote. From [`Popen::communicate_timeout`] the child is neither
    /// killed nor reaped (it may have exited already, while a grandchild holds its pipes open),
    /// the output is what was read so far, and a later `communicate` continues where this one
    /// stopped.
    ///
    /// [`Popen::communicate_timeout`]: super::Popen::communicate_timeout
    TimeoutExpired {
        /// The arguments the child was started with.
        args: Vec<OsString>,
        /// The timeout that passed.
        timeout: Duration,
        /// What the child wrote to its stdout until then, if it was captured.
        stdout: Vec<u8>,
        /// What the child wrote to its stderr until then, if it was captured.
        stderr: Vec<u8>,
    },
    /// The argument list was empty: there is no program to run (Python raises `IndexError`).
    EmptyArgs,
    /// The options contradict each other, or an operation does not apply now (Python's
    /// `ValueError`): input together with a non-pipe stdin, [`Redirect::Stdout`] given for stdin
    /// or stdout, input for a child without a stdin pipe, input after communication started, an
    /// environment variable name containing `=`, a negative process group, or a NUL byte in an
    /// argument, an environment variable or the working directory (Python's
    /// `ValueError: embedded null byte`).
    ///
    /// [`Redirect::Stdout`]: super::Redirect::Stdout
    InvalidArgument(&'static str),
    /// Talking to or waiting for the child failed (Python's `OSError`).
    Io(io::Error),
}

impl SubprocessError {
    /// Whether this is a [`TimeoutExpired`](SubprocessError::TimeoutExpired).
    ///
    /// ```
    /// use std::time::Duration;
    /// use weft_process::subprocess::run;
    ///
    /// let err = run(["sleep", "10"]).timeout(Duration::from_millis(50)).output().unwrap_err();
    /// assert!(err.is_timeout());
    /// ```
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::TimeoutExpired { .. })
    }

    /// The exit status of a [`CalledProcessError`](SubprocessError::CalledProcessError); `None`
    /// for the other variants.
    ///
    /// ```
    /// use weft_process::subprocess::run;
    ///
    /// let err = run(["false"]).check().output().unwrap_err();
    /// assert_eq!(err.returncode(), Some(1));
    /// ```
    pub fn returncode(&self) -> Option<i32> {
        match self {
            Self::CalledProcessError { returncode, .. } => Some(*returncode),
            _ => None,
        }
    }

    /// The child's arguments, for the variants that carry them.
    ///
    /// ```
    /// use weft_process::subprocess::run;
    ///
    /// let err = run(["false", "x"]).check().output().unwrap_err();
    /// assert_eq!(err.args().unwrap(), ["false", "x"]);
    /// ```
    pub fn args(&self) -> Option<&[OsString]> {
        match self {
            Self::CalledProcessError { args, .. } | Self::TimeoutExpired { args, .. } => Some(args),
            _ => None,
        }
    }

    /// The captured stdout a [`CalledProcessError`](SubprocessError::CalledProcessError) or a
    /// [`TimeoutExpired`](SubprocessError::TimeoutExpired) carries (Python's `e.stdout`, alias
    /// `e.output`); empty for the other variants.
    ///
    /// ```
    /// use weft_process::subprocess::run;
    ///
    /// let err = run(["sh", "-c", "echo partial; exit 1"]).capture().check().output().unwrap_err();
    /// assert_eq!(err.stdout(), b"partial\n");
    /// ```
    pub fn stdout(&self) -> &[u8] {
        match self {
            Self::CalledProcessError { stdout, .. } | Self::TimeoutExpired { stdout, .. } => stdout,
            _ => &[],
        }
    }

    /// The captured stderr a [`CalledProcessError`](SubprocessError::CalledProcessError) or a
    /// [`TimeoutExpired`](SubprocessError::TimeoutExpired) carries; empty for the other variants.
    ///
    /// ```
    /// use weft_process::subprocess::run;
    ///
    /// let err = run(["sh", "-c", "echo why >&2; exit 1"]).capture().check().output().unwrap_err();
    /// assert_eq!(err.stderr(), b"why\n");
    /// ```
    pub fn stderr(&self) -> &[u8] {
        match self {
            Self::CalledProcessError { stderr, .. } | Self::TimeoutExpired { stderr, .. } => stderr,
            _ => &[],
        }
    }
}

impl fmt::Debug for SubprocessError {
    /// Like a derived `Debug`, with the captured output shown as a byte string, cut after 256
    /// bytes: a failed `unwrap` on 10 MiB of output prints a few lines, not 10 MiB.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Spawn { program, source } => f
                .debug_struct("Spawn")
                .field("program", program)
                .field("source", source)
                .finish(),
            Self::Cwd { path, source } => f
                .debug_struct("Cwd")
                .field("path", path)
                .field("source", source)
                .finish(),
            Self::CalledProcessError {
                args,
                returncode,
                stdout,
                stderr,
            } => f
                .debug_struct("CalledProcessError")
                .field("args", args)
                .field("returncode", returncode)
                .field("stdout", &Bytes(stdout))
                .field("stderr", &Bytes(stderr))
                .finish(),
            Self::TimeoutExpired {
                args,
                timeout,
                stdout,
                stderr,
            } => f
                .debug_struct("TimeoutExpired")
                .field("args", args)
                .field("timeout", timeout)
                .field("stdout", &Bytes(stdout))
                .field("stderr", &Bytes(stderr))
                .finish(),
            Self::EmptyArgs => f.write_str("EmptyArgs"),
            Self::InvalidArgument(reason) => {
                f.debug_tuple("InvalidArgument").field(reason).finish()
            }
            Self::Io(source) => f.debug_tuple("Io").field(source).finish(),
        }
    }
}

/// Captured output in `Debug`: `b"..."` with escapes, the first 256 bytes of a longer one
/// followed by its length.
pub(crate) struct Bytes<'a>(pub(crate) &'a [u8]);

impl fmt::Debug for Bytes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 256;
        match self.0.get(..SHOWN) {
            Some(head) if self.0.len() > SHOWN => {
                write!(
                    f,
                    "b\"{}\"... ({} bytes)",
                    head.escape_ascii(),
                    self.0.len()
                )
            }
            _ => write!(f, "b\"{}\"", self.0.escape_ascii()),
        }
    }
}

impl fmt::Display for SubprocessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Spawn { program, source } => {
                write!(f, "cannot run `{}`: {source}", program.to_string_lossy())
            }
            Self::Cwd { path, source } => {
                write!(f, "cannot start a child in `{}`: {source}", path.display())
            }
            Self::CalledProcessError {
                args, returncode, ..
            } => {
                let args = DisplayArgs(args);
                if *returncode < 0 {
                    write!(f, "command `{args}` died with signal {}", -returncode)
                } else {
                    write!(
                        f,
                        "command `{args}` returned non-zero exit status {returncode}"
                    )
                }
            }
            Self::TimeoutExpired { args, timeout, .. } => {
                write!(
                    f,
                    "command `{}` timed out after {timeout:?}",
                    DisplayArgs(args)
                )
            }
            Self::EmptyArgs => f.write_str("no program to run: the argument list is empty"),
            Self::InvalidArgument(reason) => f.write_str(reason),
            Self::Io(source) => write!(f, "talking to a child process failed: {source}"),
        }
    }
}

impl std::error::Error for SubprocessError {
    /// The cause's own source: this error's message already shows the cause's text, so, as
    /// `std::io::Error` does for the error it wraps, the chain goes on from the cause's source
    /// (a chain printer such as anyhow's `{:#}` would otherwise print the cause twice). The
    /// cause itself is the variant's field.
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Spawn { source, .. } | Self::Cwd { source, .. } | Self::Io(source) => {
                source.source()
            }
            _ => None,
        }
    }
}

impl From<SubprocessError> for io::Error {
    /// An `io::Error` for `?` in functions that return `io::Result`: [`Spawn`], [`Cwd`] and
    /// [`Io`] give back their source's kind, [`TimeoutExpired`] is `TimedOut`, the others
    /// `Other`/`InvalidInput`, each with the full message.
    ///
    /// [`Spawn`]: SubprocessError::Spawn
    /// [`Cwd`]: SubprocessError::Cwd
    /// [`Io`]: SubprocessError::Io
    /// [`TimeoutExpired`]: SubprocessError::TimeoutExpired
    fn from(err: SubprocessError) -> Self {
        let kind = match &err {
            SubprocessError::Spawn { source, .. }
            | SubprocessError::Cwd { source, .. }
            | SubprocessError::Io(source) => source.kind(),
            SubprocessError::TimeoutExpired { .. } => io::ErrorKind::TimedOut,
            SubprocessError::EmptyArgs | SubprocessError::InvalidArgument(_) => {
                io::ErrorKind::InvalidInput
            }
            SubprocessError::CalledProcessError { .. } => io::ErrorKind::Other,
        };
        io::Error::new(kind, err)
    }
}

/// The arguments of a command as one line, for messages: shell-quoted where an argument is empty
/// or holds a space or a quote, so the line reads like what one would type.
pub(crate) struct DisplayArgs<'a>(pub(crate) &'a [OsString]);

impl fmt::Display for DisplayArgs<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, arg) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            let arg = arg.to_string_lossy();
            let plain = !arg.is_empty()
                && arg.chars().all(|c| {
                    c.is_alphanumeric()
                        || matches!(c, '-' | '_' | '.' | '/' | ':' | '=' | ',' | '+' | '@' | '%')
                });
            if plain {
                f.write_str(&arg)?;
            } else {
                write!(f, "'{}'", arg.replace('\'', r"'\''"))?;
            }
        }
        Ok(())
    }
}
