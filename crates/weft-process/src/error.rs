//! The errors of processes, connections and process queues.

use std::fmt;
use std::io;
use std::sync::Arc;

/// An error from a [`Connection`](crate::Connection) (and the frames under a
/// [`Process`](crate::Process)'s result; for a [`ProcessQueue`](crate::ProcessQueue), from
/// making one or receiving one in a message).
///
/// [`Closed`](Self::Closed) is Python's `EOFError`. [`Decode`](Self::Decode) concerns one message:
/// the connection stays usable. [`TooLarge`](Self::TooLarge), [`Corrupted`](Self::Corrupted) and
/// [`Truncated`](Self::Truncated) on a receive mean the byte stream can no longer be trusted: the
/// connection returns the same error from then on, and nothing was allocated for the bad frame.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum ConnectionError {
    /// The other end is closed and every message it sent has been received (Python's `EOFError`).
    Closed,
    /// Nothing arrived before the timeout.
    Timeout,
    /// A frame longer than the connection's limit: on send, nothing was sent; on receive, the
    /// header announced it and the connection is now unusable.
    TooLarge {
        /// The frame's payload length.
        len: usize,
        /// The connection's limit ([`Connection::max_frame`](crate::Connection::max_frame)).
        limit: usize,
    },
    /// The byte stream is not made of weft frames (garbage written to the socket, a bad header);
    /// for a received [`ProcessQueue`](crate::ProcessQueue), its shared memory is not a queue's
    /// (the wrong size, or not sealed).
    Corrupted(String),
    /// The other end closed in the middle of a frame.
    Truncated,
    /// A received message did not decode as the expected type; the connection stays usable.
    Decode(String),
    /// A message could not be encoded (a serde error, or a `Serialize` impl that panicked);
    /// nothing was sent.
    Encode(String),
    /// A message carried more connections or queues than one frame can (32).
    TooManyFds(usize),
    /// This end cannot do that: sending on the receive-only end of a one-way pipe or the reverse.
    WrongDirection,
    /// This end is inside a message to another process that has not gone yet (a send under
    /// way, a worker's `Call` not yet sent), with the messages it had read ahead: it cannot
    /// receive until that message has gone (the other process gets them) or has been dropped
    /// (they come back here). The socket may be readable meanwhile: a `poll` loop of your own
    /// over it would spin.
    InTransit,
    /// The operating system refused.
    Io(Arc<io::Error>),
}

impl fmt::Display for ConnectionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Closed => f.write_str("the other end of the connection is closed"),
            Self::Timeout => f.write_str("timed out"),
            Self::TooLarge { len, limit } => {
                write!(
                    f,
                    "a frame of {len} bytes is over the connection's limit of {limit} bytes"
                )
            }
            Self::Corrupted(why) => write!(f, "corrupted stream: {why}"),
            Self::Truncated => f.write_str("the other end closed in the middle of a message"),
            Self::Decode(why) => write!(f, "a message did not decode: {why}"),
            Self::Encode(why) => write!(f, "a message could not be encoded: {why}"),
            Self::TooManyFds(n) => {
                write!(
                    f,
                    "a message may carry at most 32 connections or queues, not {n}"
                )
            }
            Self::WrongDirection => f.write_str("this end of a one-way pipe cannot do that"),
            Self::InTransit => f.write_str(
                "this end is in a message to another process that has not gone yet, with the \
                 messages it had read ahead",
            ),
            Self::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ConnectionError {
    /// The cause's own source: this error's message already shows the cause's text, so, as
    /// `std::io::Error` does for the error it wraps, the chain goes on from the cause's source
    /// (a chain printer such as anyhow's `{:#}` would otherwise print the cause twice). The
    /// cause itself is the variant's field.
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(e) => e.source(),
            _ => None,
        }
    }
}

impl From<io::Error> for ConnectionError {
    fn from(e: io::Error) -> Self {
        Self::Io(Arc::new(e))
    }
}

impl From<rustix::io::Errno> for ConnectionError {
    fn from(e: rustix::io::Errno) -> Self {
        Self::Io(Arc::new(e.into()))
    }
}

/// The internal name of [`ConnectionError`] in the framing layer.
pub(crate) type WireError = ConnectionError;

impl ConnectionError {
    /// An encode failure as a [`ProcessError::Encode`], whose message names the thing encoded
    /// itself ("the argument could not be encoded: …"): an `Encode`'s own reason goes in without
    /// its "a message could not be encoded" prefix, any other error's message whole.
    pub(crate) fn into_encode_error(self) -> ProcessError {
        ProcessError::Encode(match self {
            Self::Encode(why) => why,
            other => other.to_string(),
        })
    }
}

/// Why a [`Process`](crate::Process) gave no result.
#[derive(Debug)]
#[non_exhaustive]
pub enum ProcessError {
    /// The function panicked in the child (Python: the child's exception, exit code 1). The
    /// child's panic hook also prints it on the child's stderr, below a line naming the child
    /// (`process 'NAME' (pid N):`, as Python prints `Process NAME:` above the traceback).
    Panicked {
        /// The panic message.
        message: String,
        /// Where it panicked, `file:line:column`, when known.
        location: Option<String>,
    },
    /// The child was killed by a signal (its exit code is minus the signal number).
    Signaled {
        /// The signal number.
        signal: i32,
    },
    /// The child exited without sending a result (it called `std::process::exit`, or aborted).
    Exited {
        /// Its exit code.
        code: i32,
    },
    /// The child's result (or the argument, in the child) did not decode.
    Decode(String),
    /// The argument could not be encoded; the child was not started.
    Encode(String),
    /// The child ran, but could not send its result: the result's `Serialize` failed or
    /// panicked, or it was over a message's limits (size, or 32 connections and queues). The
    /// child exited with code 1 (Python: the pickling error).
    ResultEncode(String),
    /// The program has no child dispatch: `Process::start` needs `weft::main` (or
    /// `weft_process::init()` as the first line of `main`), or the child would run the parent's
    /// `main` again.
    NoGuard,
    /// The executable on disk is not the one the parent runs (rebuilt since it started).
    BinaryChanged(String),
    /// The function (or its argument and result types' code) lives in a shared library, which
    /// sits at a different address in the child: only functions of the executable itself can
    /// run in a child process.
    FunctionNotInExecutable,
    /// The child could not be started.
    Spawn(io::Error),
    /// The channel to the child failed.
    Connection(ConnectionError),
    /// `join_timeout` gave up; the child is still running.
    Timeout,
}

impl fmt::Display for ProcessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Panicked {
                message,
                location: Some(at),
            } => {
                write!(f, "the child process panicked at {at}: {message}")
            }
            Self::Panicked {
                message,
                location: None,
            } => {
                write!(f, "the child process panicked: {message}")
            }
            Self::Signaled { signal } => {
                write!(
                    f,
                    "the child process was killed by signal {signal} ({})",
                    signal_name(*signal)
                )
            }
            Self::Exited { code } => {
                write!(
                    f,
                    "the child process exited with code {code} without sending a result"
                )
            }
            Self::Decode(why) => write!(f, "the child's result did not decode: {why}"),
            Self::Encode(why) => write!(f, "the argument could not be encoded: {why}"),
            Self::ResultEncode(why) => write!(f, "the child could not send its result: {why}"),
            Self::NoGuard => f.write_str(
                "starting a child process needs the child-process guard: wrap main in \
                 `weft::main(|| ...)` or call `weft::process::init()` as the first line of main \
                 (Python's `if __name__ == \"__main__\":`); without it the child would run the \
                 parent's main again",
            ),
            Self::BinaryChanged(why) => write!(f, "cannot start a child process: {why}"),
            Self::FunctionNotInExecutable => f.write_str(
                "the child's function is not in the executable (it is in a shared library, \
                 loaded elsewhere in the child): only functions of the program itself can run \
                 in a child process",
            ),
            Self::Spawn(e) => write!(f, "cannot start a child process: {e}"),
            Self::Connection(e) => write!(f, "the channel to the child process failed: {e}"),
            Self::Timeout => f.write_str("the child process is still running"),
        }
    }
}

impl std::error::Error for ProcessError {
    /// The cause's own source: this error's message already shows the cause's text, so, as
    /// `std::io::Error` does for the error it wraps, the chain goes on from the cause's source
    /// (a chain printer such as anyhow's `{:#}` would otherwise print the cause twice). The
    /// cause itself is the variant's field.
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Spawn(e) => e.source(),
            Self::Connection(e) => e.source(),
            _ => None,
        }
    }
}

/// The conventional name of a signal number, for messages.
pub(crate) fn signal_name(signal: i32) -> &'static str {
    match signal {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        14 => "SIGALRM",
        15 => "SIGTERM",
        _ => "signal",
    }
}

/// Why a [`Worker`](crate::Worker) call gave no result: returned from
/// [`Reply::into_result`](crate::Reply::into_result). The worker goes on serving after each of
/// these.
///
/// ```
/// use weft_process::CallError;
///
/// let e = CallError::Panicked {
///     message: "boom".into(),
///     location: Some("src/job.rs:3:5".into()),
/// };
/// assert_eq!(e.to_string(), "the call panicked in the worker at src/job.rs:3:5: boom");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallError {
    /// The function panicked in the worker (Python: the task raised); the message is the panic's.
    Panicked {
        /// The panic message.
        message: String,
        /// Where the panic happened in the worker (`file:line:column`), as Python's remote
        /// traceback says; `None` when the panic hook could not record it.
        location: Option<String>,
    },
    /// The argument did not decode in the worker.
    ArgumentDecode(String),
    /// The result could not be encoded in the worker, or it was over the frame limit.
    ResultEncode(String),
    /// The result did not decode here as the type asked for.
    ResultDecode(String),
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Panicked {
                message,
                location: Some(at),
            } => write!(f, "the call panicked in the worker at {at}: {message}"),
            Self::Panicked {
                message,
                location: None,
            } => write!(f, "the call panicked in the worker: {message}"),
            Self::ArgumentDecode(why) | Self::ResultEncode(why) => f.write_str(why),
            Self::ResultDecode(why) => write!(f, "the call's result did not decode: {why}"),
        }
    }
}

impl std::error::Error for CallError {}

/// An error returned from [`Worker::send`](crate::Worker::send): the call was not sent, and comes
/// back inside the error ([`into_inner`](Self::into_inner)).
#[non_exhaustive]
pub enum SendCallError {
    /// The worker has been sent its `max_tasks` calls; it retires once it has replied to them.
    Retiring(crate::Call),
    /// The worker takes no more calls: it was closed, it ended, or its channel failed.
    Disconnected {
        /// The call that was not sent.
        call: crate::Call,
        /// What the channel reported.
        error: ConnectionError,
    },
}

impl SendCallError {
    /// The call that was not sent.
    pub fn into_inner(self) -> crate::Call {
        match self {
            Self::Retiring(call) | Self::Disconnected { call, .. } => call,
        }
    }

    /// Whether the worker refused only because it has had its `max_tasks` calls.
    pub fn is_retiring(&self) -> bool {
        matches!(self, Self::Retiring(_))
    }
}

impl fmt::Debug for SendCallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Retiring(_) => f.write_str("Retiring(..)"),
            Self::Disconnected { error, .. } => f
                .debug_struct("Disconnected")
                .field("error", error)
                .finish_non_exhaustive(),
        }
    }
}

impl fmt::Display for SendCallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Retiring(_) => {
                f.write_str("the worker has had its max_tasks calls and takes no more")
            }
            Self::Disconnected { error, .. } => {
                write!(f, "the worker takes no more calls: {error}")
            }
        }
    }
}

impl std::error::Error for SendCallError {
    /// The connection error's own source: the message already shows that error's text (as for
    /// [`ProcessError::Connection`]), so the chain goes on from under it.
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Disconnected { error, .. } => error.source(),
            Self::Retiring(_) => None,
        }
    }
}
