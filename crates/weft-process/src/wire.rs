//! Frames on a Unix stream socket, with file descriptors riding along (`SCM_RIGHTS`), and the serde
//! context that lets a [`Connection`](crate::Connection) or a
//! [`ProcessQueue`](crate::ProcessQueue) travel inside a message.
//!
//! A frame is an 8-byte header — payload length (u32 LE), number of descriptors (u16 LE) and the
//! magic `b"wf"` — then the payload in postcard's codec. A header whose magic is wrong or whose
//! length is over the connection's limit makes the connection unusable (the stream cannot be
//! resynchronised) and is reported as [`WireError::Corrupted`] or [`WireError::TooLarge`]; nothing
//! is allocated for it. A payload that does not decode is an error for that message only.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::{Mutex, MutexGuard};
use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::io::Errno;
use rustix::net::{
    recvmsg, sendmsg, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::WireError;

/// The header of every frame.
const HEADER: usize = 8;
const MAGIC: [u8; 2] = *b"wf";
/// The most descriptors one frame may carry.
pub(crate) const MAX_FDS: usize = 32;
/// The default limit on one frame's payload: 64 MiB.
pub(crate) const DEFAULT_MAX_FRAME: usize = 64 << 20;
/// How much is read from the socket at a time while no frame length says more is needed.
const READ_CHUNK: usize = 8 << 10;

/// One received frame: the payload and the descriptors sent with it.
#[derive(Debug)]
pub(crate) struct Frame {
    pub(crate) bytes: Vec<u8>,
    pub(crate) fds: Vec<OwnedFd>,
}

#[derive(Debug, Default)]
struct ReadState {
    /// Received bytes live in `buf[start..end]`; `buf` stays initialized up to its length, so
    /// reads reuse it without zeroing it again.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    fds: VecDeque<OwnedFd>,
    eof: bool,
    /// Set when the stream can no longer be trusted (bad header, lost descriptors).
    broken: Option<WireError>,
    /// How many messages not yet sent hold bytes this end read ahead (see [`Wire::lend`]):
    /// while any does, receiving fails with [`WireError::InTransit`], since what comes next in
    /// the stream is in such a message.
    lent: usize,
}

/// A framed, descriptor-carrying stream socket. Reads and writes each take their own lock, so one
/// thread may send while another receives.
#[derive(Debug)]
pub(crate) struct Wire {
    fd: OwnedFd,
    max_frame: usize,
    read: Mutex<ReadState>,
    /// Whether a send failed midway, leaving a partial frame in the stream.
    write: Mutex<bool>,
}

impl Wire {
    pub(crate) fn new(fd: OwnedFd, max_frame: usize) -> Self {
        Self {
            fd,
            // A frame's length is a u32; the limit also keeps `HEADER + len` from overflowing.
            max_frame: max_frame.min(u32::MAX as usize - HEADER),
            read: Mutex::default(),
            write: Mutex::new(false),
        }
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    pub(crate) fn max_frame(&self) -> usize {
        self.max_frame
    }

    /// Sends one frame; blocks while the socket buffer is full (as a pipe write does).
    pub(crate) fn send(&self, payload: &[u8], fds: &[OwnedFd]) -> Result<(), WireError> {
        self.send_until(payload, fds, None)
    }

    /// Sends one frame, waiting while the socket buffer is full until `deadline` (`None`: for
    /// ever); [`WireError::Timeout`] then, after which the connection is broken if part of the
    /// frame went out.
    pub(crate) fn send_until(
        &self,
        payload: &[u8],
        fds: &[OwnedFd],
        deadline: Option<Instant>,
    ) -> Result<(), WireError> {
        self.send_or(payload, fds, deadline, None)
    }

    /// [`send_until`](Wire::send_until), also giving up with [`WireError::Closed`] while the
    /// socket is full once `other` is readable: the exit (a pidfd) of the process at the other
    /// end, whose socket a process it forked may hold open without ever reading it.
    pub(crate) fn send_or(
        &self,
        payload: &[u8],
        fds: &[OwnedFd],
        deadline: Option<Instant>,
        other: Option<BorrowedFd<'_>>,
    ) -> Result<(), WireError> {
        if payload.len() > self.max_frame || payload.len() > u32::MAX as usize {
            return Err(WireError::TooLarge {
                len: payload.len(),
                limit: self.max_frame,
            });
        }
        if fds.len() > MAX_FDS {
            return Err(WireError::TooManyFds(fds.len()));
        }
        let mut header = [0u8; HEADER];
        header[..4].copy_from_slice(&(payload.len() as u32).to_le_bytes());
        header[4..6].copy_from_slice(&(fds.len() as u16).to_le_bytes());
        header[6..].copy_from_slice(&MAGIC);
        let mut broken = self.write.lock();
        if *broken {
            return Err(WireError::Corrupted("an earlier send failed midway".into()));
        }
        let borrowed: Vec<BorrowedFd<'_>> = fds.iter().map(AsFd::as_fd).collect();
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
        let mut control = SendAncillaryBuffer::new(&mut space);
        if !borrowed.is_empty() && !control.push(SendAncillaryMessage::ScmRights(&borrowed)) {
            return Err(WireError::TooManyFds(fds.len()));
        }
        let total = HEADER + payload.len();
        let mut sent = 0;
        let mut first = true;
        while sent < total {
            let (h, p) = if sent < HEADER {
                (&header[sent..], payload)
            } else {
                (&header[..0], &payload[sent - HEADER..])
            };
            let iov = [IoSlice::new(h), IoSlice::new(p)];
            // With a deadline or an exit to watch the send never blocks; waits go through
            // `wait_fd` or `wait_out_or` below.
            let flags = match (deadline, other) {
                (None, None) => SendFlags::NOSIGNAL,
                _ => SendFlags::NOSIGNAL | SendFlags::DONTWAIT,
            };
            let result = if first {
                sendmsg(&self.fd, &iov, &mut control, flags)
            } else {
                let mut none = SendAncillaryBuffer::default();
                sendmsg(&self.fd, &iov, &mut none, flags)
            };
            let err = match result {
                Ok(n) => {
                    sent += n;
                    first = false;
                    continue;
                }
                Err(Errno::INTR) => continue,
                // The socket is full: with a deadline the send does not block, and someone may
                // have made the socket non-blocking (it is shared with the other end's process
                // through the open file). Wait until it can take more, or the deadline.
                Err(Errno::AGAIN) => match wait_out_or(self.fd.as_fd(), deadline, other) {
                    Ok(Some(true)) => continue,
                    Ok(Some(false)) => WireError::Closed,
                    Ok(None) => WireError::Timeout,
                    Err(e) => e,
                },
                Err(Errno::PIPE | Errno::CONNRESET) => WireError::Closed,
                Err(e) => WireError::from(e),
            };
            *broken = sent > 0;
            return Err(err);
        }
        Ok(())
    }

    /// Receives one frame from what is buffered and what the socket holds now, without waiting
    /// for more (the process at the other end has exited, so all it sent is there); `Ok(None)`
    /// when there is no whole frame. Waits for another thread's receive to end first, unlike a
    /// zero deadline, which would take that for "nothing".
    pub(crate) fn recv_available(&self) -> Result<Option<Frame>, WireError> {
        let mut state = self.read.lock();
        loop {
            if let Some(frame) = self.next_buffered(&mut state)? {
                return Ok(Some(frame));
            }
            if self.fill(&mut state, false)? {
                // Nothing more will come: a frame begun is one the process did not finish.
                return if state.end > state.start {
                    Err(WireError::Truncated)
                } else {
                    Ok(None)
                };
            }
        }
    }

    /// Receives one frame, waiting until `deadline` (`None`: for ever) or until `other` is
    /// readable (the exit of the process at the other end, whose socket a process it forked may
    /// hold open): `Ok(None)` then, as on a timeout.
    pub(crate) fn recv_or(
        &self,
        deadline: Option<Instant>,
        other: BorrowedFd<'_>,
    ) -> Result<Option<Frame>, WireError> {
        let Some(mut state) = self.lock_read(deadline) else {
            return Ok(None);
        };
        loop {
            if let Some(frame) = self.next_buffered(&mut state)? {
                return Ok(Some(frame));
            }
            let timeout = deadline.map(timespec_until);
            let mut fds = [
                PollFd::new(&self.fd, PollFlags::IN),
                PollFd::new(&other, PollFlags::IN),
            ];
            match poll(&mut fds, timeout.as_ref()) {
                Ok(_) if !fds[1].revents().is_empty() => return Ok(None),
                Ok(_) if !fds[0].revents().is_empty() => {
                    self.fill(&mut state, false)?;
                }
                Ok(_) => {
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        return Ok(None);
                    }
                }
                Err(Errno::INTR) => {}
                Err(e) => return Err(WireError::from(e)),
            }
        }
    }

    /// The read side, waiting for another thread's receive no longer than `deadline` (`None`:
    /// for ever); `None` if it is still held then.
    fn lock_read(&self, deadline: Option<Instant>) -> Option<MutexGuard<'_, ReadState>> {
        match deadline {
            None => Some(self.read.lock()),
            Some(d) => self.read.try_lock_until(d),
        }
    }

    /// Receives one frame, waiting until `deadline` (`None`: for ever). `Ok(None)` is a timeout.
    pub(crate) fn recv(&self, deadline: Option<Instant>) -> Result<Option<Frame>, WireError> {
        // Another thread may be waiting in a receive: wait for it no longer than the deadline.
        let Some(mut state) = self.lock_read(deadline) else {
            return Ok(None);
        };
        loop {
            if let Some(frame) = self.next_buffered(&mut state)? {
                return Ok(Some(frame));
            }
            // Without a deadline the read itself waits: one system call per message.
            if deadline.is_some() && !wait_readable(self.fd.as_fd(), deadline)? {
                return Ok(None);
            }
            if self.fill(&mut state, deadline.is_none())? && deadline.is_none() {
                // A non-blocking socket (see `send`): wait for data instead of spinning.
                wait_readable(self.fd.as_fd(), None)?;
            }
        }
    }

    /// Receives one frame if one can be had without waiting: from what is buffered, else with at
    /// most one non-blocking read (so a caller that drains a socket until `None` makes one read
    /// more than it has frames, and no `poll`). `Ok(None)` also while another thread receives.
    pub(crate) fn try_recv(&self) -> Result<Option<Frame>, WireError> {
        let Some(mut state) = self.read.try_lock() else {
            return Ok(None);
        };
        let mut read = false;
        loop {
            if let Some(frame) = self.next_buffered(&mut state)? {
                return Ok(Some(frame));
            }
            if read || self.fill(&mut state, false)? {
                return Ok(None);
            }
            read = true;
        }
    }

    /// Whether a receive would return at once without reading the socket: a whole frame is
    /// buffered, or the end or an error was seen. `false` while another thread receives.
    pub(crate) fn buffered(&self) -> bool {
        match self.read.try_lock() {
            Some(state) => {
                state.eof || state.broken.is_some() || self.frame_ready(&state).unwrap_or(true)
            }
            None => false,
        }
    }

    /// Moves what this end has read from the socket and not yet received (messages read ahead
    /// by a receive or a `poll`, a message half-received: bytes a copy of the socket would not
    /// have) into the message being encoded, for the copy sent with it. Returns those bytes
    /// and the indices of their descriptors in the message.
    ///
    /// The message's [`Outgoing`] keeps them too, and gives them back to this end if it is
    /// dropped unsent. Fails while another thread is receiving on this end (what it reads
    /// could not be moved), or outside the encoding of a weft message.
    pub(crate) fn lend(self: &Arc<Self>) -> Result<(Vec<u8>, Vec<u32>), String> {
        let Some(mut state) = self.read.try_lock() else {
            return Err("another thread is receiving on this end".into());
        };
        if state.start == state.end && state.fds.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        let mut indices = Vec::with_capacity(state.fds.len());
        for fd in &state.fds {
            indices.push(share_fd(fd.as_fd())?);
        }
        let bytes = state.buf[state.start..state.end].to_vec();
        let lent = Lent {
            wire: Arc::downgrade(self),
            bytes: bytes.clone(),
            fds: state.fds.drain(..).collect(),
            back: false,
        };
        (state.start, state.end) = (0, 0);
        state.lent += 1;
        drop(state);
        OUTGOING.with(|o| match o.borrow_mut().as_mut() {
            Some(outgoing) => outgoing.lent.push(lent),
            // `share_fd` above found the context, and nothing in between encodes.
            None => lent.give_back(),
        });
        Ok((bytes, indices))
    }

    /// A wire whose first bytes (and descriptors) are `pending`: what the end it copies had
    /// read ahead when it was sent.
    pub(crate) fn with_pending(
        fd: OwnedFd,
        max_frame: usize,
        bytes: Vec<u8>,
        fds: Vec<OwnedFd>,
    ) -> Self {
        let wire = Self::new(fd, max_frame);
        {
            let mut state = wire.read.lock();
            state.end = bytes.len();
            state.buf = bytes;
            state.fds = fds.into();
        }
        wire
    }

    /// Whether a whole frame can be received now, waiting until `deadline` for one.
    pub(crate) fn poll(&self, deadline: Option<Instant>) -> Result<bool, WireError> {
        let Some(mut state) = self.lock_read(deadline) else {
            return Ok(false);
        };
        loop {
            if let Some(err) = &state.broken {
                return Err(err.clone());
            }
            if state.lent > 0 {
                return Err(WireError::InTransit);
            }
            if self.frame_ready(&state)? || state.eof {
                return Ok(true);
            }
            if !wait_readable(self.fd.as_fd(), deadline)? {
                return Ok(false);
            }
            self.fill(&mut state, false)?;
        }
    }

    fn header(&self, state: &ReadState) -> Result<Option<(usize, usize)>, WireError> {
        let unread = &state.buf[state.start..state.end];
        if unread.len() < HEADER {
            return Ok(None);
        }
        if unread[6..8] != MAGIC {
            return Err(WireError::Corrupted("bad frame header".into()));
        }
        let len = u32::from_le_bytes([unread[0], unread[1], unread[2], unread[3]]) as usize;
        let nfds = u16::from_le_bytes([unread[4], unread[5]]) as usize;
        if len > self.max_frame {
            return Err(WireError::TooLarge {
                len,
                limit: self.max_frame,
            });
        }
        if nfds > MAX_FDS {
            return Err(WireError::Corrupted(format!(
                "frame claims {nfds} descriptors"
            )));
        }
        Ok(Some((len, nfds)))
    }

    fn frame_ready(&self, state: &ReadState) -> Result<bool, WireError> {
        Ok(match self.header(state)? {
            Some((len, _)) => state.end - state.start >= HEADER + len,
            None => false,
        })
    }

    /// What the buffer holds: a whole frame, or the error that broke this wire, or the end of the
    /// stream; `Ok(None)` when more bytes must be read.
    fn next_buffered(&self, state: &mut ReadState) -> Result<Option<Frame>, WireError> {
        if let Some(err) = &state.broken {
            return Err(err.clone());
        }
        if state.lent > 0 {
            return Err(WireError::InTransit);
        }
        match self.take_frame(state) {
            Ok(Some(frame)) => return Ok(Some(frame)),
            Ok(None) => {}
            Err(err) => {
                state.broken = Some(err.clone());
                return Err(err);
            }
        }
        if state.eof {
            return Err(if state.end > state.start {
                WireError::Truncated
            } else {
                WireError::Closed
            });
        }
        Ok(None)
    }

    fn take_frame(&self, state: &mut ReadState) -> Result<Option<Frame>, WireError> {
        let Some((len, nfds)) = self.header(state)? else {
            return Ok(None);
        };
        if state.end - state.start < HEADER + len {
            return Ok(None);
        }
        if state.fds.len() < nfds {
            return Err(WireError::Corrupted(
                "descriptors missing from a frame".into(),
            ));
        }
        let from = state.start + HEADER;
        let bytes = state.buf[from..from + len].to_vec();
        state.start = from + len;
        if state.start == state.end {
            state.start = 0;
            state.end = 0;
        }
        let fds = state.fds.drain(..nfds).collect();
        if state.start == state.end {
            // Descriptors arrive with the first byte of their frame: with every byte read, any
            // left over were sent without a frame claiming them. Close them; the peer does not
            // follow the protocol, so the connection is done after this frame.
            if !state.fds.is_empty() {
                state.fds.clear();
                state.broken = Some(WireError::Corrupted(
                    "descriptors sent without a frame claiming them".into(),
                ));
            }
            // Give back the memory of an exceptionally large frame.
            if state.buf.len() > 1 << 20 {
                state.buf = Vec::new();
            }
        }
        Ok(Some(Frame { bytes, fds }))
    }

    /// Reads what the socket has into the buffer: waits for data if `block`, else the socket
    /// said it is readable. Whether the read would have blocked (nothing was there).
    fn fill(&self, state: &mut ReadState, block: bool) -> Result<bool, WireError> {
        let want = match self.header(state) {
            Ok(Some((len, _))) => (HEADER + len).saturating_sub(state.end - state.start),
            _ => 0,
        };
        let want = want.clamp(HEADER, 4 << 20);
        if state.buf.len() - state.end < want {
            // Move the unread bytes to the front, then grow if that is not enough room.
            if state.start > 0 {
                state.buf.copy_within(state.start..state.end, 0);
                state.end -= state.start;
                state.start = 0;
            }
            let need = state.end + want.max(READ_CHUNK.min(HEADER + self.max_frame));
            if state.buf.len() < need {
                state.buf.resize(need, 0);
            }
        }
        let old = state.end;
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let result = {
            let mut iov = [IoSliceMut::new(&mut state.buf[old..])];
            let wait = if block {
                RecvFlags::empty()
            } else {
                RecvFlags::DONTWAIT
            };
            recvmsg(
                &self.fd,
                &mut iov,
                &mut control,
                wait | RecvFlags::CMSG_CLOEXEC,
            )
        };
        let got = match result {
            Ok(msg) => {
                if msg.flags.contains(rustix::net::ReturnFlags::CTRUNC) {
                    state.broken = Some(WireError::Corrupted("descriptors were truncated".into()));
                }
                if msg.bytes == 0 {
                    state.eof = true;
                }
                msg.bytes
            }
            Err(Errno::INTR) => 0,
            Err(Errno::AGAIN) => return Ok(true),
            Err(Errno::CONNRESET) => {
                state.eof = true;
                0
            }
            Err(e) => return Err(WireError::from(e)),
        };
        for message in control.drain() {
            if let RecvAncillaryMessage::ScmRights(fds) = message {
                state.fds.extend(fds);
            }
        }
        state.end = old + got;
        Ok(false)
    }
}

/// A connected pair of close-on-exec Unix stream sockets: the channel of every `Wire` (a
/// `Pipe`, a child's job channel, a worker's calls).
pub(crate) fn stream_pair() -> rustix::io::Result<(OwnedFd, OwnedFd)> {
    rustix::net::socketpair(
        rustix::net::AddressFamily::UNIX,
        rustix::net::SocketType::STREAM,
        rustix::net::SocketFlags::CLOEXEC,
        None,
    )
}

/// The time left until `deadline`, as the kernel's timeouts take it (zero once it has passed).
pub(crate) fn timespec_until(deadline: Instant) -> Timespec {
    timespec(deadline.saturating_duration_since(Instant::now()))
}

/// The longest wait handed to `poll` at once: a day. Where `ppoll` is missing (macOS, OpenBSD),
/// rustix passes the timeout as an `int` of milliseconds and fails with `EINVAL` past 24.8 days;
/// 32-bit Linux with old `ppoll` takes seconds as an `i32`. Every caller polls again until its
/// deadline, so a longer wait costs one wake-up a day.
pub(crate) const MAX_POLL_WAIT: Duration = Duration::from_secs(86_400);

/// `left` as the kernel's relative timeouts take it, capped at [`MAX_POLL_WAIT`] (nothing is
/// added to the clock, which a timeout near its end would overflow).
pub(crate) fn timespec(left: Duration) -> Timespec {
    let left = left.min(MAX_POLL_WAIT);
    Timespec {
        tv_sec: left.as_secs() as i64,
        tv_nsec: i64::from(left.subsec_nanos()),
    }
}

/// Whether `fd` is readable (or hung up) now: a process's pidfd once it has exited.
pub(crate) fn readable_now(fd: BorrowedFd<'_>) -> Result<bool, WireError> {
    wait_fd(fd, PollFlags::IN, Some(Instant::now()))
}

/// Waits until `fd` is readable (or hung up) or `deadline` passes; `false` on timeout.
fn wait_readable(fd: BorrowedFd<'_>, deadline: Option<Instant>) -> Result<bool, WireError> {
    wait_fd(fd, PollFlags::IN, deadline)
}

/// Waits until `fd` is ready for `events` (or hung up) or `deadline` passes; `false` on timeout.
fn wait_fd(
    fd: BorrowedFd<'_>,
    events: PollFlags,
    deadline: Option<Instant>,
) -> Result<bool, WireError> {
    loop {
        let timeout = deadline.map(timespec_until);
        let mut fds = [PollFd::new(&fd, events)];
        match poll(&mut fds, timeout.as_ref()) {
            Ok(0) => {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return Ok(false);
                }
            }
            Ok(_) => return Ok(true),
            Err(Errno::INTR) => {}
            Err(e) => return Err(WireError::from(e)),
        }
    }
}

/// Waits until `fd` can take more (`Some(true)`), `other` is readable (`Some(false)`) or
/// `deadline` passes (`None`). Without `other`, [`wait_fd`] for writing.
fn wait_out_or(
    fd: BorrowedFd<'_>,
    deadline: Option<Instant>,
    other: Option<BorrowedFd<'_>>,
) -> Result<Option<bool>, WireError> {
    let Some(other) = other else {
        return wait_fd(fd, PollFlags::OUT, deadline).map(|ready| ready.then_some(true));
    };
    loop {
        let timeout = deadline.map(timespec_until);
        let mut fds = [
            PollFd::new(&fd, PollFlags::OUT),
            PollFd::new(&other, PollFlags::IN),
        ];
        match poll(&mut fds, timeout.as_ref()) {
            Ok(_) if !fds[1].revents().is_empty() => return Ok(Some(false)),
            Ok(_) if !fds[0].revents().is_empty() => return Ok(Some(true)),
            Ok(_) => {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return Ok(None);
                }
            }
            Err(Errno::INTR) => {}
            Err(e) => return Err(WireError::from(e)),
        }
    }
}

/// What an end had read ahead, moved into a message that carries a copy of the end (see
/// [`Wire::lend`]). Dropped, it lets the end receive again: once the message went, or after
/// [`give_back`](Lent::give_back) put the bytes back.
#[derive(Debug)]
struct Lent {
    wire: Weak<Wire>,
    bytes: Vec<u8>,
    fds: Vec<OwnedFd>,
    /// Whether the bytes and descriptors go back to the end (the message was not sent).
    back: bool,
}

impl Lent {
    /// Puts the bytes and descriptors back in front of what the end holds (nothing was read
    /// since: the end could not receive meanwhile), unless the end is gone.
    fn give_back(mut self) {
        self.back = true;
    }
}

impl Drop for Lent {
    fn drop(&mut self) {
        let Some(wire) = self.wire.upgrade() else {
            return;
        };
        let mut state = wire.read.lock();
        let state = &mut *state;
        if self.back {
            let mut buf = std::mem::take(&mut self.bytes);
            buf.extend_from_slice(&state.buf[state.start..state.end]);
            (state.start, state.end) = (0, buf.len());
            state.buf = buf;
            for fd in std::mem::take(&mut self.fds).into_iter().rev() {
                state.fds.push_front(fd);
            }
        }
        state.lent -= 1;
    }
}

/// The descriptors an encoded message carries, and what the connections inside it had read
/// ahead, which moved into the message (see [`Wire::lend`]).
///
/// Dropped, it gives what it moved back to those connections: a message that was not sent
/// loses nothing. Once the message is sent, call [`sent`](Self::sent).
#[derive(Debug, Default)]
#[must_use = "dropped, it gives the read-ahead back: call sent() once the message went"]
pub(crate) struct Outgoing {
    fds: Vec<OwnedFd>,
    lent: Vec<Lent>,
}

impl Outgoing {
    /// Descriptors sent as they are, with nothing moved into the message.
    pub(crate) fn from_fds(fds: Vec<OwnedFd>) -> Self {
        Self {
            fds,
            lent: Vec::new(),
        }
    }

    /// The descriptors, in the order the message names them.
    pub(crate) fn fds(&self) -> &[OwnedFd] {
        &self.fds
    }

    /// The message went: this process's copies of its descriptors are closed, and what moved
    /// into it stays moved.
    pub(crate) fn sent(&mut self) {
        self.fds.clear();
        self.lent.clear();
    }

    /// The descriptors alone, for a message whose connections are dropped with it (a child's
    /// result): nothing is given back.
    pub(crate) fn into_fds(mut self) -> Vec<OwnedFd> {
        self.lent.clear();
        std::mem::take(&mut self.fds)
    }
}

impl Drop for Outgoing {
    fn drop(&mut self) {
        // Last moved, first given back: each goes in front of what the end holds.
        while let Some(lent) = self.lent.pop() {
            lent.give_back();
        }
    }
}

thread_local! {
    /// Descriptors collected while a message is encoded, and the read-ahead moved into it.
    static OUTGOING: RefCell<Option<Outgoing>> = const { RefCell::new(None) };
    /// Descriptors that arrived with the message being decoded.
    static INCOMING: RefCell<Option<Vec<Option<OwnedFd>>>> = const { RefCell::new(None) };
}

/// The error a weft `Serialize` impl returns: its message reaches the encode's error, as any
/// impl's custom message does (see [`why_failed`]).
pub(crate) fn ser_error<E: serde::ser::Error>(why: impl Into<String>) -> E {
    E::custom(why.into())
}

/// The error a weft `Deserialize` impl returns: its message reaches the decode's error, as any
/// impl's custom message does (see [`why_failed`]).
pub(crate) fn de_error<E: serde::de::Error>(why: impl Into<String>) -> E {
    E::custom(why.into())
}

/// The message of the error postcard reports. postcard's custom error keeps no message, so for
/// it this is the message the failing `Serialize` or `Deserialize` impl gave (weft's own, the
/// user's, or serde's: "invalid value: …", "missing field …"), which the `deep` adapter kept;
/// for postcard's other errors, postcard's own. `kept` is the message the adapter kept during
/// the encode or decode (see [`crate::deep::keeping`]).
fn why_failed(postcard: postcard::Error, kept: Option<String>) -> String {
    let custom = matches!(
        postcard,
        postcard::Error::SerdeSerCustom | postcard::Error::SerdeDeCustom
    );
    kept.filter(|_| custom)
        .unwrap_or_else(|| postcard.to_string())
}

/// Encodes `value`, collecting the descriptors of the connections and queues inside it.
pub(crate) fn encode<T: Serialize + ?Sized>(value: &T) -> Result<(Vec<u8>, Outgoing), WireError> {
    encode_after(Vec::new(), value)
}

/// [`encode_after`] for a caller's value (a [`Process`](crate::Process)'s argument, a
/// [`ProcessQueue`](crate::ProcessQueue)'s item, which go back to the caller when they cannot be
/// sent; a [`Connection`](crate::Connection)'s message, a [`Call`](crate::Call)'s argument,
/// which are borrowed): a `Serialize` impl that panics is a failure to encode, as one that
/// returns an error is, so the panic does not unwind through the caller (dropping a value that
/// was to come back). What the value's connections had read ahead goes back to them either way.
pub(crate) fn encode_caught<T: Serialize + ?Sized>(
    out: Vec<u8>,
    value: &T,
) -> Result<(Vec<u8>, Outgoing), WireError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| encode_after(out, value)))
        .unwrap_or_else(|payload| {
            Err(WireError::Encode(format!(
                "its Serialize panicked: {}",
                weft_sync::into_panic_message(payload)
            )))
        })
}

/// Encodes `value` after the bytes already in `out` (a header the caller fills in later),
/// collecting the descriptors of the connections and queues inside it.
pub(crate) fn encode_after<T: Serialize + ?Sized>(
    out: Vec<u8>,
    value: &T,
) -> Result<(Vec<u8>, Outgoing), WireError> {
    /// Puts the outer context back even if a `Serialize` impl panics (the message's
    /// `Outgoing`, dropped then, gives back what moved into it).
    struct Restore(Option<Option<Outgoing>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            if let Some(saved) = self.0.take() {
                OUTGOING.with(|o| *o.borrow_mut() = saved);
            }
        }
    }
    let mut restore = Restore(Some(
        OUTGOING.with(|o| o.borrow_mut().replace(Outgoing::default())),
    ));
    // serde encodes a nested value recursively, a few frames a level: on a stack grown as
    // needed (`deep.rs`), so that a value nested deeper than this thread's stack holds is encoded
    // rather than abort the program (a worker's result, a parent's argument or message).
    let (result, kept) = crate::deep::keeping(|| crate::deep::to_extend(value, out));
    let saved = restore.0.take().unwrap_or_default();
    let fds = OUTGOING
        .with(|o| std::mem::replace(&mut *o.borrow_mut(), saved))
        .unwrap_or_default();
    match result {
        Ok(bytes) => Ok((bytes, fds)),
        Err(e) => Err(WireError::Encode(why_failed(e, kept))),
    }
}

/// Decodes a value received with `fds`.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8], fds: Vec<OwnedFd>) -> Result<T, WireError> {
    /// Puts the outer context back (closing unclaimed descriptors) even if a `Deserialize`
    /// impl panics.
    struct Restore(Option<Option<Vec<Option<OwnedFd>>>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            if let Some(saved) = self.0.take() {
                INCOMING.with(|i| *i.borrow_mut() = saved);
            }
        }
    }
    let slots = fds.into_iter().map(Some).collect();
    let _restore = Restore(Some(INCOMING.with(|i| i.borrow_mut().replace(slots))));
    // serde decodes a nested value recursively, a few frames a level: on a stack grown as
    // needed (`deep.rs`), so that a value nested deeper than this thread's stack holds is decoded
    // rather than abort the program (a pool's reader thread decodes every result).
    let mut deserializer = postcard::Deserializer::from_bytes(bytes);
    let (decoded, kept) = crate::deep::keeping(|| {
        T::deserialize(crate::deep::Deep::new(&mut deserializer))
            .map_err(crate::deep::Kept::into_inner)
    });
    let decoded = decoded.and_then(|value| deserializer.finalize().map(|rest| (value, rest)));
    match decoded {
        Ok((value, [])) => Ok(value),
        // A message of another type that starts like one of this type (a `u16` read as a `u8`).
        Ok((_, rest)) => Err(WireError::Decode(format!(
            "{} bytes left over after the value: the message is not of the type received",
            rest.len()
        ))),
        Err(e) => Err(WireError::Decode(why_failed(e, kept))),
    }
}

/// Called by a `Serialize` impl: sends a duplicate of `fd` with the message being encoded and
/// returns its index in the message.
pub(crate) fn share_fd(fd: BorrowedFd<'_>) -> Result<u32, String> {
    let dup = rustix::io::fcntl_dupfd_cloexec(fd, 3).map_err(|e| e.to_string())?;
    OUTGOING.with(|o| match o.borrow_mut().as_mut() {
        Some(outgoing) => {
            outgoing.fds.push(dup);
            Ok((outgoing.fds.len() - 1) as u32)
        }
        None => Err(
            "a weft Connection or ProcessQueue can only be sent to another process \
                     (a Process argument or a Connection message), not serialized elsewhere"
                .into(),
        ),
    })
}

/// Called by a `Deserialize` impl: takes the descriptor at `index` of the message being decoded.
pub(crate) fn take_fd(index: u32) -> Result<OwnedFd, String> {
    INCOMING.with(|i| {
        i.borrow_mut()
            .as_mut()
            .and_then(|list| list.get_mut(index as usize))
            .and_then(Option::take)
            .ok_or_else(|| format!("descriptor {index} is missing from the message"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A poll without `ppoll` takes its timeout as an `int` of milliseconds: any wait handed to
    /// it must fit, however long the caller's.
    #[test]
    fn poll_timeouts_fit_an_int_of_milliseconds() {
        for left in [
            Duration::MAX,
            Duration::from_secs(i64::MAX as u64),
            Duration::from_secs(25 * 86_400),
        ] {
            let t = timespec(left);
            let millis = i128::from(t.tv_sec) * 1000 + i128::from(t.tv_nsec) / 1_000_000;
            assert!(millis <= i128::from(i32::MAX), "{left:?} gave {millis} ms");
            assert!(millis > 0);
        }
        let short = Duration::new(3, 5);
        assert_eq!((timespec(short).tv_sec, timespec(short).tv_nsec), (3, 5));
    }

    /// A linked list, which serde encodes and decodes recursively; its drop is a loop.
    #[derive(serde::Serialize, serde::Deserialize)]
    enum List {
        Nil,
        Cons(Box<List>),
    }

    impl Drop for List {
        fn drop(&mut self) {
            let List::Cons(rest) = self else { return };
            let mut next = std::mem::replace(&mut **rest, List::Nil);
            while let List::Cons(rest) = &mut next {
                next = std::mem::replace(&mut **rest, List::Nil);
            }
        }
    }

    /// postcard's custom error keeps no message; the adapter keeps the failing impl's, serde's
    /// own included, and a message kept for an error that was not the one reported is not used.
    #[test]
    fn a_failing_impl_s_message_is_reported_and_no_other() {
        #[derive(Debug, serde::Deserialize)]
        enum Two {
            _A,
            _B,
        }
        let (bytes, _) = encode(&5u32).unwrap();
        let why = decode::<Two>(&bytes, Vec::new()).unwrap_err().to_string();
        assert!(why.contains("variant index 0 <= i < 2"), "{why}");

        /// Makes a custom error and drops it (as an untagged enum's tries do), then reads a
        /// `u64` from what is left.
        #[derive(Debug)]
        struct Swallows;
        impl<'de> serde::Deserialize<'de> for Swallows {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                drop(<D::Error as serde::de::Error>::custom("swallowed"));
                u64::deserialize(d).map(|_| Swallows)
            }
        }
        let why = decode::<Swallows>(&[], Vec::new()).unwrap_err().to_string();
        assert!(!why.contains("swallowed"), "{why}");
        assert!(
            why.contains(&postcard::Error::DeserializeUnexpectedEnd.to_string()),
            "{why}"
        );

        /// Fails to encode with its own message.
        struct Refuses;
        impl Serialize for Refuses {
            fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
                Err(serde::ser::Error::custom("Refuses refuses"))
            }
        }
        let why = encode(&(1u8, Refuses)).err().unwrap().to_string();
        assert!(why.contains("Refuses refuses"), "{why}");
    }

    /// An encode or decode that runs after an impl made its error and before that error reaches
    /// the encode or decode around it (from the `Drop` of a value decoded so far, say, which may
    /// send on a `Connection`) leaves the outer one's message in place, and its own message is
    /// not reported for the outer one: each keeps its own, as each keeps its own descriptors.
    #[test]
    fn a_nested_encode_or_decode_keeps_the_outer_message() {
        /// Swallows a custom error of its own, then encodes as a `u8`.
        struct Swallows;
        impl Serialize for Swallows {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                drop(<S::Error as serde::ser::Error>::custom("swallowed inside"));
                s.serialize_u8(1)
            }
        }
        /// Fails to decode a `u8`, then encodes a `Swallows`, when dropped.
        struct Nests;
        impl Drop for Nests {
            fn drop(&mut self) {
                assert!(decode::<u8>(&[], Vec::new()).is_err());
                assert!(encode(&Swallows).is_ok());
            }
        }
        /// Fails with its own message, a `Nests` dropped after the error is made.
        #[derive(Debug)]
        struct Fails;
        impl<'de> serde::Deserialize<'de> for Fails {
            fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
                let _nests = Nests;
                Err(serde::de::Error::custom("Fails fails"))
            }
        }
        impl Serialize for Fails {
            fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
                let _nests = Nests;
                Err(serde::ser::Error::custom("Fails fails"))
            }
        }
        let why = decode::<Fails>(&[], Vec::new()).unwrap_err().to_string();
        assert!(why.contains("Fails fails"), "decode: {why}");
        let why = encode(&Fails).err().unwrap().to_string();
        assert!(why.contains("Fails fails"), "encode: {why}");
    }

    /// A value nested 20 000 deep, encoded on a large stack, decodes on a thread whose 256 KiB
    /// stack overflowed (aborting the program) at a few hundred levels before decoding grew it.
    #[test]
    fn a_deeply_nested_value_decodes_on_a_small_stack() {
        const DEPTH: usize = 20_000;
        let bytes = std::thread::Builder::new()
            .stack_size(256 << 20)
            .spawn(|| {
                let list = (0..DEPTH).fold(List::Nil, |rest, _| List::Cons(Box::new(rest)));
                encode(&list).map(|(bytes, _)| bytes)
            })
            .unwrap()
            .join()
            .unwrap()
            .unwrap();
        let depth = std::thread::Builder::new()
            .stack_size(256 << 10)
            .spawn(move || {
                let list: List = decode(&bytes, Vec::new()).unwrap();
                let mut depth = 0;
                let mut link = &list;
                while let List::Cons(rest) = link {
                    depth += 1;
                    link = rest;
                }
                depth
            })
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(depth, DEPTH);
    }

    /// Every kind of value serde knows encodes and decodes through the stack-growing adapter
    /// (`deep.rs`) as it does without it: each `serialize_*`, `deserialize_*` and `visit_*` the
    /// adapter passes on reaches the method it names.
    #[test]
    fn every_kind_of_value_encodes_and_decodes_through_the_adapter() {
        use std::collections::BTreeMap;
        #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
        struct Unit;
        #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
        struct Newtype(i16);
        #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
        struct Pair(u8, i8);
        #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
        enum Kind {
            Empty,
            One(u16),
            Two(i32, u32),
            Named { a: i64, b: Option<Box<Kind>> },
        }
        #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
        struct All {
            flag: bool,
            small: (i8, u8, i16, u16),
            wide: (i32, u32, i64, u64, i128, u128),
            real: (f32, f64),
            letter: char,
            text: String,
            #[serde(with = "bytes")]
            raw: Vec<u8>,
            unit: (),
            unit_struct: Unit,
            newtype: Newtype,
            pair: Pair,
            some: Option<u64>,
            none: Option<u64>,
            list: Vec<Kind>,
            map: BTreeMap<String, Vec<u8>>,
            array: [u16; 3],
        }
        /// Bytes as serde's byte string (`serialize_bytes`/`deserialize_byte_buf`).
        mod bytes {
            pub(super) fn serialize<S: serde::Serializer>(
                v: &[u8],
                s: S,
            ) -> Result<S::Ok, S::Error> {
                s.serialize_bytes(v)
            }
            pub(super) fn deserialize<'de, D: serde::Deserializer<'de>>(
                d: D,
            ) -> Result<Vec<u8>, D::Error> {
                struct V;
                impl serde::de::Visitor<'_> for V {
                    type Value = Vec<u8>;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str("bytes")
                    }
                    fn visit_bytes<E>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                        Ok(v.to_vec())
                    }
                }
                d.deserialize_byte_buf(V)
            }
        }
        let value = All {
            flag: true,
            small: (-8, 8, -1600, 1600),
            wide: (-32, 32, -64, 64, -(1 << 100), 1 << 120),
            real: (1.5, -2.25e300),
            letter: 'é',
            text: "weft".into(),
            raw: vec![0, 1, 255],
            unit: (),
            unit_struct: Unit,
            newtype: Newtype(-7),
            pair: Pair(200, -100),
            some: Some(u64::MAX),
            none: None,
            list: vec![
                Kind::Empty,
                Kind::One(9),
                Kind::Two(-3, 3),
                Kind::Named {
                    a: -1,
                    b: Some(Box::new(Kind::Named { a: 2, b: None })),
                },
            ],
            map: [("a".to_owned(), vec![1]), ("b".to_owned(), vec![])].into(),
            array: [1, 2, 65535],
        };
        let (bytes, _) = encode(&value).unwrap();
        let plain = postcard::to_allocvec(&value).unwrap();
        assert!(
            bytes == plain,
            "the adapter's encoding differs from postcard's own"
        );
        let back: All = decode(&bytes, Vec::new()).unwrap();
        assert_eq!(back, value);
        // A message of another type is still refused, by postcard through the adapter.
        assert!(decode::<(u8, String)>(&[1, 5, b'a'], Vec::new()).is_err());
    }

    /// The stack of the threads a test builds, measures and drops its values on: their drops
    /// recurse.
    const LARGE: usize = 256 << 20;
    /// The stack of the threads a test encodes or decodes a deep value on.
    const SMALL: usize = 256 << 10;

    /// The stack sizes of the threads a deep value is encoded and decoded on.
    #[derive(Clone, Copy)]
    struct Stacks {
        encode: usize,
        decode: usize,
    }

    /// Builds `make(depth)` on a large stack, encodes it on a thread of `stacks.encode` bytes
    /// (checking that the bytes are postcard's own), decodes them on a thread of `stacks.decode`
    /// bytes, and measures and drops the value decoded on a large stack.
    fn round_trip_deep<T, F, M>(stacks: Stacks, depth: usize, make: F, measure: M) -> usize
    where
        T: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
        F: FnOnce(usize) -> T + Send + 'static,
        M: FnOnce(&T) -> usize + Send + 'static,
    {
        let on = |stack| std::thread::Builder::new().stack_size(stack);
        let value = on(LARGE)
            .spawn(move || make(depth))
            .unwrap()
            .join()
            .unwrap();
        let (value, bytes) = on(stacks.encode)
            .spawn(move || {
                let bytes = encode(&value).map(|(bytes, _)| bytes);
                (value, bytes)
            })
            .unwrap()
            .join()
            .unwrap();
        let bytes = bytes.unwrap();
        let plain = on(LARGE)
            .spawn(move || {
                let plain = postcard::to_allocvec(&value).unwrap();
                drop(value);
                plain
            })
            .unwrap()
            .join()
            .unwrap();
        assert!(bytes == plain, "the encoding differs from postcard's own");
        let value = on(stacks.decode)
            .spawn(move || decode::<T>(&bytes, Vec::new()).unwrap())
            .unwrap()
            .join()
            .unwrap();
        on(LARGE)
            .spawn(move || measure(&value))
            .unwrap()
            .join()
            .unwrap()
    }

    /// Nesting through each way serde hands a deserializer on (an option's `Some`, a newtype, a
    /// sequence's element, a map's value, an enum's tuple, struct and newtype variants) is
    /// followed by the adapter: 20 000 levels of each decode on a 256 KiB stack. Each aborts with
    /// its wrapping in `deep.rs` removed.
    #[test]
    fn nesting_through_every_access_decodes_on_a_small_stack() {
        nest_every_way(Stacks {
            encode: LARGE,
            decode: SMALL,
        });
    }

    /// The same nestings (where serde hands a value to the serializer: `serialize_some`,
    /// `serialize_newtype_struct`, `serialize_element`, `serialize_entry`, a tuple and a struct
    /// variant's `serialize_field`, `serialize_newtype_variant`) are followed by the adapter when
    /// encoding: 20 000 levels of each encode on a 256 KiB stack, to postcard's own bytes. Each
    /// aborted (stack overflow) when postcard encoded alone, and each with its wrapping in
    /// `deep.rs` removed.
    #[test]
    fn nesting_through_every_access_encodes_on_a_small_stack() {
        nest_every_way(Stacks {
            encode: SMALL,
            decode: SMALL,
        });
    }

    /// 20 000 levels of each way of nesting, encoded and decoded on threads of `stacks`.
    fn nest_every_way(stacks: Stacks) {
        use std::collections::BTreeMap;
        #[derive(serde::Serialize, serde::Deserialize)]
        struct Chain(Option<Box<Chain>>);
        #[derive(serde::Serialize, serde::Deserialize)]
        struct Tree(Vec<Tree>);
        #[derive(serde::Serialize, serde::Deserialize)]
        struct Map(BTreeMap<u8, Map>);
        #[derive(serde::Serialize, serde::Deserialize)]
        enum Tuple {
            End,
            Link(u8, Box<Tuple>),
        }
        #[derive(serde::Serialize, serde::Deserialize)]
        enum Named {
            End,
            Link { next: Box<Named> },
        }
        #[derive(serde::Serialize, serde::Deserialize)]
        enum Newtype {
            End,
            Link(Box<Newtype>),
        }
        let depth = round_trip_deep(
            stacks,
            20_000,
            |n| (0..n).fold(Chain(None), |c, _| Chain(Some(Box::new(c)))),
            |mut c: &Chain| std::iter::from_fn(|| c.0.as_deref().map(|n| c = n)).count(),
        );
        assert_eq!(depth, 20_000);
        let depth = round_trip_deep(
            stacks,
            20_000,
            |n| (0..n).fold(Tree(Vec::new()), |t, _| Tree(vec![t])),
            |mut t: &Tree| std::iter::from_fn(|| t.0.first().map(|n| t = n)).count(),
        );
        assert_eq!(depth, 20_000);
        let depth = round_trip_deep(
            stacks,
            20_000,
            |n| (0..n).fold(Map(BTreeMap::new()), |m, _| Map([(1, m)].into())),
            |mut m: &Map| std::iter::from_fn(|| m.0.get(&1).map(|n| m = n)).count(),
        );
        assert_eq!(depth, 20_000);
        let depth = round_trip_deep(
            stacks,
            20_000,
            |n| (0..n).fold(Tuple::End, |t, _| Tuple::Link(7, Box::new(t))),
            |mut t: &Tuple| {
                std::iter::from_fn(|| match t {
                    Tuple::Link(7, next) => {
                        t = next;
                        Some(())
                    }
                    _ => None,
                })
                .count()
            },
        );
        assert_eq!(depth, 20_000);
        let depth = round_trip_deep(
            stacks,
            20_000,
            |n| (0..n).fold(Named::End, |t, _| Named::Link { next: Box::new(t) }),
            |mut t: &Named| {
                std::iter::from_fn(|| match t {
                    Named::Link { next } => {
                        t = next;
                        Some(())
                    }
                    Named::End => None,
                })
                .count()
            },
        );
        assert_eq!(depth, 20_000);
        let depth = round_trip_deep(
            stacks,
            20_000,
            |n| (0..n).fold(Newtype::End, |t, _| Newtype::Link(Box::new(t))),
            |mut t: &Newtype| {
                std::iter::from_fn(|| match t {
                    Newtype::Link(next) => {
                        t = next;
                        Some(())
                    }
                    Newtype::End => None,
                })
                .count()
            },
        );
        assert_eq!(depth, 20_000);
    }

    /// Every place serde hands the serializer a nested value, each driven 20 000 deep by a
    /// `Serialize` impl that nests by counting down (no value to build or drop), encodes on a
    /// 256 KiB stack to postcard's own bytes: the element of a sequence, tuple and tuple struct,
    /// a map's key and value through `serialize_key`, `serialize_value` and `serialize_entry`
    /// either way round, `collect_seq` and `collect_map` of iterators whose items nest, a
    /// struct's and a struct variant's field (after a `skip_field`), a tuple variant's field,
    /// `Some`, a newtype struct and a newtype variant. The derived types of
    /// `nesting_through_every_access_encodes_on_a_small_stack` reach only some of these (no map
    /// key, no `serialize_key`, no plain tuple, tuple struct or struct field).
    #[test]
    fn every_serializer_route_encodes_deep_on_a_small_stack() {
        use serde::ser::{
            SerializeMap, SerializeSeq, SerializeStruct, SerializeStructVariant, SerializeTuple,
            SerializeTupleStruct, SerializeTupleVariant, Serializer,
        };
        /// `.0` levels nested through route `.1`.
        #[derive(Clone, Copy)]
        struct Nest(u32, u8);
        impl Serialize for Nest {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let Nest(n, route) = *self;
                if n == 0 {
                    return s.serialize_u8(0);
                }
                let next = Nest(n - 1, route);
                match route {
                    0 => {
                        let mut q = s.serialize_seq(Some(2))?;
                        q.serialize_element(&3u8)?;
                        q.serialize_element(&next)?;
                        q.end()
                    }
                    1 => {
                        let mut q = s.serialize_tuple(2)?;
                        q.serialize_element(&next)?;
                        q.serialize_element(&3u8)?;
                        q.end()
                    }
                    2 => {
                        let mut q = s.serialize_tuple_struct("T", 2)?;
                        q.serialize_field(&next)?;
                        q.serialize_field(&3u8)?;
                        q.end()
                    }
                    3 => {
                        let mut m = s.serialize_map(Some(1))?;
                        m.serialize_key(&next)?;
                        m.serialize_value(&3u8)?;
                        m.end()
                    }
                    4 => {
                        let mut m = s.serialize_map(Some(1))?;
                        m.serialize_key(&3u8)?;
                        m.serialize_value(&next)?;
                        m.end()
                    }
                    5 => {
                        let mut m = s.serialize_map(Some(1))?;
                        m.serialize_entry(&next, &3u8)?;
                        m.end()
                    }
                    6 => {
                        let mut m = s.serialize_map(Some(1))?;
                        m.serialize_entry(&3u8, &next)?;
                        m.end()
                    }
                    7 => s.collect_seq(std::iter::once(next)),
                    8 => s.collect_map(std::iter::once((next, 3u8))),
                    9 => {
                        let mut q = s.serialize_struct("S", 2)?;
                        q.serialize_field("a", &next)?;
                        q.serialize_field("b", &3u8)?;
                        q.end()
                    }
                    10 => {
                        let mut q = s.serialize_struct_variant("V", 1, "A", 2)?;
                        q.skip_field("z")?;
                        q.serialize_field("a", &next)?;
                        q.serialize_field("b", &3u8)?;
                        q.end()
                    }
                    11 => {
                        let mut q = s.serialize_tuple_variant("V", 2, "B", 2)?;
                        q.serialize_field(&next)?;
                        q.serialize_field(&3u8)?;
                        q.end()
                    }
                    12 => s.serialize_some(&next),
                    13 => s.serialize_newtype_struct("N", &next),
                    _ => s.serialize_newtype_variant("V", 3, "C", &next),
                }
            }
        }
        const DEPTH: u32 = 20_000;
        for route in 0..=14 {
            let on = |stack| std::thread::Builder::new().stack_size(stack);
            let bytes = on(SMALL)
                .spawn(move || encode(&Nest(DEPTH, route)).map(|(bytes, _)| bytes))
                .unwrap()
                .join()
                .unwrap()
                .unwrap();
            let plain = on(LARGE)
                .spawn(move || postcard::to_allocvec(&Nest(DEPTH, route)).unwrap())
                .unwrap()
                .join()
                .unwrap();
            assert!(
                bytes == plain,
                "route {route}: the encoding differs from postcard's own"
            );
        }
    }

    /// A recursive type with a large variant takes large frames at every level however little
    /// of the message each level reads (here 1 byte): 300 levels of a 16 KiB enum decode on
    /// threads of every stack size from 512 KiB to 2 MiB in 16 KiB steps. Looking at the stack
    /// only every eighth level overran the red zone on some of them and aborted (the review's
    /// probe: 33 KiB a level in release, 50 KiB in debug, where eight levels take 400 KiB).
    #[test]
    fn a_deep_value_of_a_large_type_decodes_on_small_stacks() {
        /// 16 KiB in arrays serde can decode (32 elements at most each).
        type Block = [[[u8; 32]; 32]; 16];
        #[derive(serde::Serialize, serde::Deserialize)]
        #[allow(
            clippy::large_enum_variant,
            reason = "the large inline variant is what the test is about"
        )]
        enum Heavy {
            Nest(Box<Heavy>),
            Leaf,
            Big(Block),
        }
        assert!(std::mem::size_of::<Heavy>() >= 16 << 10);
        for stack in (512 << 10..=2 << 20).step_by(16 << 10) {
            let stacks = Stacks {
                encode: LARGE,
                decode: stack,
            };
            let depth = round_trip_deep(
                stacks,
                300,
                |n| (0..n).fold(Heavy::Leaf, |h, _| Heavy::Nest(Box::new(h))),
                |mut h: &Heavy| {
                    std::iter::from_fn(|| match h {
                        Heavy::Nest(next) => {
                            h = next;
                            Some(())
                        }
                        _ => None,
                    })
                    .count()
                },
            );
            assert_eq!(depth, 300, "on a stack of {stack} bytes");
        }
    }

    /// A send with a deadline to a peer that reads nothing ends with `Timeout` once the socket
    /// buffer stays full, instead of blocking for ever; part of the frame went out, so the
    /// connection is broken for later sends.
    #[test]
    fn send_until_times_out_on_a_full_socket() {
        let (ours, _theirs) = stream_pair().unwrap();
        let wire = Wire::new(ours, DEFAULT_MAX_FRAME);
        let big = vec![0u8; 32 << 20];
        let start = Instant::now();
        let result = wire.send_until(&big, &[], Some(start + Duration::from_millis(100)));
        assert!(matches!(result, Err(WireError::Timeout)), "{result:?}");
        assert!(start.elapsed() < Duration::from_secs(10));
        assert!(matches!(wire.send(b"x", &[]), Err(WireError::Corrupted(_))));
    }

    /// A send waiting for room gives up with `Closed` once the descriptor it watches is readable
    /// (a worker's pidfd once it exited); part of the frame went out, so the connection is broken
    /// for later sends, which then fail at once instead of writing after the half frame. A send
    /// that finds room does not look at that descriptor.
    #[test]
    fn send_or_gives_up_mid_frame_when_the_other_descriptor_is_readable() {
        let (ours, _theirs) = stream_pair().unwrap();
        let wire = Wire::new(ours, DEFAULT_MAX_FRAME);
        let (exit, exit_peer) = stream_pair().unwrap();
        rustix::io::write(&exit_peer, b"x").unwrap();
        assert!(matches!(
            wire.send_or(b"small", &[], None, Some(exit.as_fd())),
            Ok(())
        ));
        let big = vec![0u8; 32 << 20];
        let result = wire.send_or(&big, &[], None, Some(exit.as_fd()));
        assert!(matches!(result, Err(WireError::Closed)), "{result:?}");
        assert!(matches!(
            wire.send_or(b"x", &[], None, Some(exit.as_fd())),
            Err(WireError::Corrupted(_))
        ));
    }
}
