//! `multiprocessing.Pipe`: two connected ends that send serde values between processes.

use std::fmt;
use std::marker::PhantomData;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustix::net::Shutdown;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::ConnectionError;
use crate::wire::{self, Wire, DEFAULT_MAX_FRAME};

/// One end of a [`Pipe`] (Python's `multiprocessing.connection.Connection`): sends and receives
/// values of type `T`, encoded with serde in postcard's compact codec.
///
/// A connection can itself be sent to a child process: put it in the child's argument (or in a
/// message on another connection) and the child gets an end of the same channel. Both copies then
/// share it, so the parent usually drops its copy, as Python code closes it.
///
/// A receive reads ahead what the socket holds (so that a stream of small messages costs one
/// system call each at most), and [`poll`](Connection::poll) reads until a whole message is
/// there; what has been read that way lives in this end, not in the socket. When the end is
/// sent, those bytes go with it: the other process receives every message this end had not,
/// in order, and this end holds none of them any more. If the message carrying the end is not
/// sent after all (its send or start fails, a pool's call is cancelled before it goes), they
/// come back to this end; until then, receiving on this end fails with
/// [`ConnectionError::InTransit`] (what comes next in its stream is in that message). As in
/// Python, after sending an end, receive on it in one process only: two processes reading one
/// socket split its messages between them. An end that another thread is receiving on is not
/// sent ([`ConnectionError::Encode`]).
///
/// `send` and `recv` take `&self`: one thread may send while another receives; concurrent sends
/// (or receives) are serialized, one whole message at a time.
pub struct Connection<T> {
    wire: Arc<Wire>,
    readable: bool,
    writable: bool,
    _type: PhantomData<fn(T) -> T>,
}

/// Python's `multiprocessing.Pipe(duplex=True)`: a connected pair of [`Connection`]s.
///
/// ```
/// let (left, right) = weft_process::Pipe::<String>::new().unwrap();
/// left.send(&"ping".to_string()).unwrap();
/// assert_eq!(right.recv().unwrap(), "ping");
/// right.send(&"pong".to_string()).unwrap();
/// assert_eq!(left.recv().unwrap(), "pong");
/// ```
pub struct Pipe<T> {
    _type: PhantomData<fn(T) -> T>,
}

impl<T> fmt::Debug for Pipe<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pipe")
    }
}

impl<T: Serialize + DeserializeOwned> Pipe<T> {
    /// A duplex pair: each end sends and receives. Its messages may be at most 64 MiB encoded
    /// (a larger one is [`ConnectionError::TooLarge`] on send, nothing sent), where Python's
    /// pipe takes any size: [`with_limit`](Self::with_limit) sets another limit.
    ///
    /// # Errors
    /// As [`with_limit`](Self::with_limit).
    #[allow(
        clippy::new_ret_no_self,
        reason = "Python's Pipe() returns the two ends"
    )]
    pub fn new() -> Result<(Connection<T>, Connection<T>), ConnectionError> {
        Self::with_limit(true, DEFAULT_MAX_FRAME)
    }

    /// A one-way pair `(receiver, sender)`, as Python's `Pipe(duplex=False)`: the first end only
    /// receives, the second only sends (the other way round is
    /// [`WrongDirection`](ConnectionError::WrongDirection), Python's `OSError`). Messages may be
    /// at most 64 MiB, as with [`new`](Self::new).
    ///
    /// # Errors
    /// As [`with_limit`](Self::with_limit).
    ///
    /// ```
    /// let (rx, tx) = weft_process::Pipe::<u32>::one_way().unwrap();
    /// tx.send(&7).unwrap();
    /// assert_eq!(rx.recv().unwrap(), 7);
    /// assert!(rx.send(&1).is_err());
    /// ```
    pub fn one_way() -> Result<(Connection<T>, Connection<T>), ConnectionError> {
        Self::with_limit(false, DEFAULT_MAX_FRAME)
    }

    /// A pair whose frames may be at most `max_frame` bytes (the default is 64 MiB). A larger
    /// message is refused on send; a frame header announcing more is an error on receive, before
    /// anything is allocated for it.
    ///
    /// # Errors
    /// [`ConnectionError::Io`] when the OS refuses the socket pair (Python's `OSError`).
    pub fn with_limit(
        duplex: bool,
        max_frame: usize,
    ) -> Result<(Connection<T>, Connection<T>), ConnectionError> {
        let (a, b) = wire::stream_pair()?;
        if !duplex {
            rustix::net::shutdown(&a, Shutdown::Write)?;
            rustix::net::shutdown(&b, Shutdown::Read)?;
        }
        let a = Connection::from_wire(Wire::new(a, max_frame), true, duplex);
        let b = Connection::from_wire(Wire::new(b, max_frame), duplex, true);
        Ok((a, b))
    }
}

impl<T> Connection<T> {
    fn from_wire(wire: Wire, readable: bool, writable: bool) -> Self {
        Self {
            wire: Arc::new(wire),
            readable,
            writable,
            _type: PhantomData,
        }
    }

    /// The largest frame this end sends or accepts, in bytes.
    pub fn max_frame(&self) -> usize {
        self.wire.max_frame()
    }

    /// Whether this end can receive.
    pub fn readable(&self) -> bool {
        self.readable
    }

    /// Whether this end can send.
    pub fn writable(&self) -> bool {
        self.writable
    }

    /// Whether a message is waiting, waiting up to `timeout` for one (`Duration::ZERO`: just
    /// look; `Duration::MAX`: for ever, where Python raises `OverflowError`). Python's
    /// `poll(timeout)`. Also true when the other end has closed, so that the
    /// next `recv` reports it instead of blocking.
    ///
    /// # Errors
    /// [`ConnectionError::WrongDirection`] on a send-only end; [`ConnectionError::InTransit`]
    /// while this end is inside a message not yet gone; [`TooLarge`](ConnectionError::TooLarge)
    /// or [`Corrupted`](ConnectionError::Corrupted) when the byte stream can no longer be
    /// trusted, as for [`recv`](Connection::recv); [`ConnectionError::Io`]. Never
    /// [`Truncated`](ConnectionError::Truncated): a stream that ends inside a message is `true`
    /// here, and the next `recv` reports it.
    pub fn poll(&self, timeout: Duration) -> Result<bool, ConnectionError> {
        if !self.readable {
            return Err(ConnectionError::WrongDirection);
        }
        self.wire.poll(deadline(timeout))
    }
}

impl<T: Serialize + DeserializeOwned> Connection<T> {
    /// Sends `value` (Python's `send`). Blocks while the channel's buffer is full.
    ///
    /// # Errors
    /// The value is borrowed, so on an error the caller still has it.
    /// [`Closed`](ConnectionError::Closed) when the other end is gone (Python's
    /// `BrokenPipeError`), [`TooLarge`](ConnectionError::TooLarge) over the frame limit,
    /// [`Encode`](ConnectionError::Encode) when the value's `Serialize` returns an error or
    /// panics (the message says which, with the impl's message or the panic's; Python's `send`
    /// raises what pickling raised), [`TooManyFds`](ConnectionError::TooManyFds) for more than
    /// 32 connections or queues in one message (nothing is sent for these three, and the
    /// connection stays usable), [`WrongDirection`](ConnectionError::WrongDirection) on a
    /// receive-only end, [`Corrupted`](ConnectionError::Corrupted) after an earlier send failed
    /// midway, [`Io`](ConnectionError::Io).
    pub fn send(&self, value: &T) -> Result<(), ConnectionError> {
        if !self.writable {
            return Err(ConnectionError::WrongDirection);
        }
        // The whole message is encoded before any of it is written, and a `Serialize` that
        // panics fails the encode as one that returns an error does: the panic does not unwind
        // through the caller, and nothing reaches the other end.
        let (bytes, mut out) = wire::encode_caught(Vec::new(), value)?;
        self.wire.send(&bytes, out.fds())?;
        out.sent();
        Ok(())
    }

    /// Receives the next value, waiting for it (Python's `recv`).
    ///
    /// # Errors
    /// [`Closed`](ConnectionError::Closed) once the other end is closed and everything it sent
    /// has been received (Python's `EOFError`); [`Decode`](ConnectionError::Decode) for a
    /// message that is not a `T` (the connection stays usable);
    /// [`TooLarge`](ConnectionError::TooLarge), [`Corrupted`](ConnectionError::Corrupted) or
    /// [`Truncated`](ConnectionError::Truncated) when the byte stream can no longer be trusted
    /// (from then on, every receive); [`WrongDirection`](ConnectionError::WrongDirection) on a
    /// send-only end; [`InTransit`](ConnectionError::InTransit); [`Io`](ConnectionError::Io).
    pub fn recv(&self) -> Result<T, ConnectionError> {
        self.recv_until(None)
    }

    /// Receives the next value, waiting at most `timeout`. `Duration::MAX`, or any timeout whose
    /// deadline lies in the clock's last millisecond, waits for ever, as the other timed waits of
    /// this crate do (Python raises `OverflowError` for a timeout that large).
    ///
    /// # Errors
    /// [`Timeout`](ConnectionError::Timeout) when nothing arrives in time (a message
    /// half-received stays buffered for the next call); otherwise as [`recv`](Self::recv).
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, ConnectionError> {
        self.recv_until(deadline(timeout))
    }

    fn recv_until(&self, deadline: Option<Instant>) -> Result<T, ConnectionError> {
        if !self.readable {
            return Err(ConnectionError::WrongDirection);
        }
        match self.wire.recv(deadline)? {
            Some(frame) => wire::decode(&frame.bytes, frame.fds),
            None => Err(ConnectionError::Timeout),
        }
    }

    /// An iterator over received values that ends when the other end closes; an error other than
    /// [`Closed`](ConnectionError::Closed) is yielded and then the iteration ends.
    pub fn iter(&self) -> impl Iterator<Item = Result<T, ConnectionError>> + '_ {
        let mut done = false;
        std::iter::from_fn(move || {
            if done {
                return None;
            }
            match self.recv() {
                Ok(v) => Some(Ok(v)),
                Err(ConnectionError::Closed) => None,
                Err(e) => {
                    done = true;
                    Some(Err(e))
                }
            }
        })
    }
}

/// The instant `timeout` from now, for the timed waits of processes, connections, queues and
/// workers; `None` (no deadline: the wait is for ever) when the timeout is too long for an
/// `Instant` (`Duration::MAX`) or its deadline lies in the clock's last millisecond, hundreds
/// of billions of years away, as weft-thread's `join_timeout`, weft-async's timers and the
/// subprocess timeouts (`Run::timeout`) take it. Python raises `OverflowError` instead.
pub(crate) fn deadline(timeout: Duration) -> Option<Instant> {
    Instant::now()
        .checked_add(timeout)
        .filter(|at| at.checked_add(Duration::from_millis(1)).is_some())
}

/// The socket under the connection, for `poll`/`select` loops of your own (reading or writing it
/// directly desynchronises the connection's frames).
impl<T> AsFd for Connection<T> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.wire.fd()
    }
}

impl<T> fmt::Debug for Connection<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("fd", &self.wire.fd())
            .field("readable", &self.readable)
            .field("writable", &self.writable)
            .finish()
    }
}

/// What travels in a message in place of a connection: the index of its descriptor.
#[derive(Serialize, Deserialize)]
struct SharedEnd {
    fd: u32,
    readable: bool,
    writable: bool,
    max_frame: u64,
    /// What the sent end had read from the socket and not yet received.
    pending: Bytes,
    /// The indices of the descriptors that came with those bytes.
    pending_fds: Vec<u32>,
}

/// Bytes that serde carries as one byte string (postcard: a length, then the bytes), where a
/// `Vec<u8>` goes one element at a time.
struct Bytes(Vec<u8>);

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        /// Takes the byte string.
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Bytes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a byte string")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Bytes, E> {
                Ok(Bytes(v.to_vec()))
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Bytes, E> {
                Ok(Bytes(v))
            }
        }
        deserializer.deserialize_byte_buf(Visitor)
    }
}

impl<T> Serialize for Connection<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let fd = wire::share_fd(self.wire.fd()).map_err(wire::ser_error)?;
        // The other process gets a copy of the socket, and what this end read ahead from it.
        let (pending, pending_fds) = self.wire.lend().map_err(wire::ser_error)?;
        SharedEnd {
            fd,
            readable: self.readable,
            writable: self.writable,
            max_frame: self.wire.max_frame() as u64,
            pending: Bytes(pending),
            pending_fds,
        }
        .serialize(serializer)
    }
}

impl<'de, T> Deserialize<'de> for Connection<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let end = SharedEnd::deserialize(deserializer)?;
        let fd = wire::take_fd(end.fd).map_err(wire::de_error)?;
        let pending_fds = (end.pending_fds.iter())
            .map(|&i| wire::take_fd(i))
            .collect::<Result<_, _>>()
            .map_err(wire::de_error)?;
        let max_frame = usize::try_from(end.max_frame).unwrap_or(usize::MAX);
        Ok(Self::from_wire(
            Wire::with_pending(fd, max_frame, end.pending.0, pending_fds),
            end.readable,
            end.writable,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The longest timeout that can be added to now, less half a millisecond: a deadline in the
    /// clock's last millisecond.
    fn timeout_at_the_clock_end() -> Duration {
        let now = Instant::now();
        let fits = |d: Duration| now.checked_add(d).is_some();
        let (mut secs, mut top) = (0u64, u64::MAX);
        while secs < top {
            let mid = secs + (top - secs).div_ceil(2);
            if fits(Duration::from_secs(mid)) {
                secs = mid;
            } else {
                top = mid - 1;
            }
        }
        let (mut nanos, mut top) = (0u32, 999_999_999u32);
        while nanos < top {
            let mid = nanos + (top - nanos).div_ceil(2);
            if fits(Duration::new(secs, mid)) {
                nanos = mid;
            } else {
                top = mid - 1;
            }
        }
        Duration::new(secs, nanos) - Duration::from_micros(500)
    }

    /// A timed wait whose deadline lies in the clock's last millisecond, or past it, has no
    /// deadline, as weft-thread's `join_timeout`, weft-async's timers and the subprocess
    /// timeouts take it. It kept that last-millisecond deadline (and made `Duration::MAX` a
    /// deadline a hundred years away) for `Process::join_timeout`, the queue's and the
    /// connection's timed forms and the worker's.
    #[test]
    fn a_deadline_at_the_clocks_end_is_none() {
        assert_eq!(deadline(Duration::MAX), None);
        assert_eq!(deadline(timeout_at_the_clock_end()), None);
        assert!(deadline(Duration::from_secs(1000 * 365 * 86_400)).is_some());
        let (a, b) = Pipe::<u32>::new().unwrap();
        a.send(&7).unwrap();
        assert!(b.poll(timeout_at_the_clock_end()).unwrap());
        assert_eq!(b.recv_timeout(timeout_at_the_clock_end()).unwrap(), 7);
    }

    /// A stream that ends inside a frame: `poll` is `true` (a receive would not block), not
    /// `Truncated`, as its `# Errors` says; the receive then reports `Truncated`.
    #[test]
    fn poll_is_true_on_a_stream_cut_inside_a_frame_and_recv_reports_it() {
        let (a, b) = Pipe::<u32>::new().unwrap();
        // Three bytes of an eight-byte header, then the end of the stream.
        rustix::io::write(a.as_fd(), &[1, 0, 0]).unwrap();
        drop(a);
        assert!(b.poll(Duration::from_secs(60)).unwrap());
        assert!(matches!(b.recv(), Err(ConnectionError::Truncated)));
    }
}
