//! `multiprocessing.JoinableQueue`: a bounded MPMC queue shared by any number of processes.
//!
//! Items travel as messages of a Unix `SOCK_SEQPACKET` socket pair, so the kernel delivers each
//! whole message to exactly one receiver, from any number of senders, with no lock between
//! processes. The counts that Python keeps in shared semaphores — items queued (the bound),
//! unfinished tasks (`join`) and the shutdown flag — are atomics in one shared memory page
//! (`memfd`), waited on with futexes that work across processes.

use std::cell::RefCell;
use std::fmt;
use std::marker::PhantomData;
use std::os::fd::{AsFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustix::event::PollFlags;
use rustix::io::Errno;
use rustix::net::{
    socketpair, AddressFamily, RecvFlags, SendFlags, Shutdown, SocketFlags, SocketType,
};
use serde::de::{DeserializeOwned, Error as _};
use serde::ser::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::connection::deadline;
use crate::counts::{Counts, Reserve, TooManyTaskDone};
use crate::error::ConnectionError;
use crate::wire::{self, wait_fd, wait_readable};

/// The largest item a process queue carries by default, encoded: 64 KiB.
pub const DEFAULT_MAX_ITEM: usize = 64 << 10;
/// The largest limit that can be set: a message must fit a socket buffer.
const MAX_ITEM_LIMIT: usize = 160 << 10;

/// One process's mapping of the shared page.
struct Mapping {
    ptr: NonNull<Counts>,
    _memfd: OwnedFd,
}

const PAGE: usize = 4096;
/// The page's size is fixed for good: mapping it is safe in every process that receives it.
const SEALS: rustix::fs::SealFlags = rustix::fs::SealFlags::SHRINK
    .union(rustix::fs::SealFlags::GROW)
    .union(rustix::fs::SealFlags::SEAL);

impl Mapping {
    fn new(memfd: OwnedFd) -> rustix::io::Result<Self> {
        // SAFETY: a fresh shared mapping of a file we hold, chosen by the kernel (null hint), so
        // it overlaps nothing Rust owns; the file is at least one page long and sealed against
        // shrinking and growing (set by the creator, checked in `from_parts` before mapping), so
        // no process can take the page away under the mapping.
        let ptr = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                PAGE,
                rustix::mm::ProtFlags::READ | rustix::mm::ProtFlags::WRITE,
                rustix::mm::MapFlags::SHARED,
                &memfd,
                0,
            )?
        };
        let ptr = NonNull::new(ptr.cast::<Counts>()).ok_or(Errno::NOMEM)?;
        Ok(Self { ptr, _memfd: memfd })
    }

    fn counts(&self) -> &Counts {
        // SAFETY: the mapping is page-aligned, one page long (more than `Counts`), readable and
        // writable, and lives as long as `self`; every field is an atomic, so sharing it with
        // other threads and processes is what those types are for. A fresh memfd page reads as
        // zeros, which is a valid `Counts`.
        unsafe { self.ptr.as_ref() }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from our own `mmap` of `PAGE` bytes and nothing borrows from it
        // past `self` (the `counts()` borrows end with `&self`).
        let _ = unsafe { rustix::mm::munmap(self.ptr.as_ptr().cast(), PAGE) };
    }
}

// SAFETY: `Mapping` is a pointer to atomics in shared memory plus an owned descriptor; nothing in
// it is tied to a thread.
unsafe impl Send for Mapping {}
// SAFETY: as above: all access goes through atomics.
unsafe impl Sync for Mapping {}

struct Inner {
    tx: OwnedFd,
    rx: OwnedFd,
    memfd: OwnedFd,
    map: Mapping,
    maxsize: u32,
    max_item: usize,
}

/// Python's `multiprocessing.JoinableQueue` (and `Queue`): a bounded multi-producer
/// multi-consumer queue shared by the parent and any number of child processes, with the
/// blocking, non-blocking and timed forms of weft-channel's `Queue`, `task_done`/`join` and
/// `shutdown`.
///
/// Pass it to a child inside the [`Process`](crate::Process) argument (or a
/// [`Connection`](crate::Connection) message): the child gets a handle to the same queue.
/// Cloning gives another handle in the same process.
///
/// # Bounds
/// `maxsize` items at most (a put waits, or fails after its timeout). Every queue also holds at
/// most what fits one socket buffer (about 200 KiB by default on Linux, a few hundred small
/// items): an unbounded queue waits there, and the timed and `try_` forms give the item back
/// with [`QueueError::Full`] instead of waiting past their deadline.
///
/// # When a process dies
/// Items are whole messages: a process that dies never leaves half an item or a held lock
/// behind, and the others carry on. What it cannot give back are its counts: killed between
/// taking a place and sending its item (a window of one system call), it leaves the queue one
/// place smaller and one item forever unfinished (`join` then waits for ever: use
/// [`join_timeout`](Self::join_timeout)); killed after getting an item and before
/// [`task_done`](Self::task_done), the item counts as unfinished, as in Python. A queue does not
/// close when its other holders die (each holds both ends): after the producers are gone, stop
/// the consumers with [`shutdown`](Self::shutdown), or use the timeout forms. Python documents
/// the same caveats, with corruption on top.
///
/// ```
/// let q = weft_process::ProcessQueue::<String>::new(10).unwrap();
/// q.put("job".to_string()).unwrap();
/// assert_eq!(q.get().unwrap(), "job");
/// q.task_done().unwrap();
/// q.join();
/// ```
pub struct ProcessQueue<T> {
    inner: Arc<Inner>,
    _type: PhantomData<fn(T) -> T>,
}

/// Why a [`ProcessQueue`] operation failed. The put forms give the item back.
#[derive(Debug)]
#[non_exhaustive]
pub enum QueueError<T> {
    /// `try_get`/`get_timeout`: nothing to get (Python's `queue.Empty`).
    Empty,
    /// `try_put`/`put_timeout`: no room; here is the item (Python's `queue.Full`).
    Full(T),
    /// The queue was shut down: puts give the item back, gets fail once it is drained.
    ShutDown(Option<T>),
    /// The item is larger, encoded, than the queue's item limit; here it is.
    TooLarge(T, usize),
    /// The item could not be encoded, or a received one did not decode.
    Codec(String, Option<T>),
    /// The operating system refused.
    Io(ConnectionError, Option<T>),
}

impl<T> QueueError<T> {
    /// The item that was not put, if any.
    pub fn into_inner(self) -> Option<T> {
        match self {
            Self::Full(t) | Self::TooLarge(t, _) => Some(t),
            Self::ShutDown(t) | Self::Codec(_, t) | Self::Io(_, t) => t,
            Self::Empty => None,
        }
    }
}

impl<T> fmt::Display for QueueError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("the queue is empty"),
            Self::Full(_) => f.write_str("the queue is full"),
            Self::ShutDown(_) => f.write_str("the queue is shut down"),
            Self::TooLarge(_, n) => {
                write!(f, "an item of {n} bytes is over the queue's item limit")
            }
            Self::Codec(why, _) => write!(f, "{why}"),
            Self::Io(e, _) => write!(f, "{e}"),
        }
    }
}

impl<T: fmt::Debug> std::error::Error for QueueError<T> {}

impl<T: Serialize + DeserializeOwned> ProcessQueue<T> {
    /// A queue that holds at most `maxsize` items (Python's `maxsize`; `0` means unbounded,
    /// limited only by the kernel's socket buffer, where a put then waits).
    pub fn new(maxsize: u32) -> Result<Self, ConnectionError> {
        Self::with_item_limit(maxsize, DEFAULT_MAX_ITEM)
    }

    /// A queue whose items may be at most `max_item` bytes encoded (at most 160 KiB, the size
    /// of a message that fits a socket buffer; larger values are lowered to it). A `maxsize`
    /// above 2³¹ − 1 is lowered to it (no socket buffer holds that many items anyway).
    pub fn with_item_limit(maxsize: u32, max_item: usize) -> Result<Self, ConnectionError> {
        let maxsize = maxsize.min(crate::counts::MAX_BOUND);
        let (tx, rx) = socketpair(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC,
            None,
        )?;
        let flags = rustix::fs::MemfdFlags::CLOEXEC | rustix::fs::MemfdFlags::ALLOW_SEALING;
        let memfd = rustix::fs::memfd_create("weft-process-queue", flags)?;
        rustix::fs::ftruncate(&memfd, PAGE as u64)?;
        // No process holding the queue can shrink the page under the others' mappings.
        rustix::fs::fcntl_add_seals(&memfd, SEALS)?;
        Self::from_parts(tx, rx, memfd, maxsize, max_item.min(MAX_ITEM_LIMIT))
    }

    fn from_parts(
        tx: OwnedFd,
        rx: OwnedFd,
        memfd: OwnedFd,
        maxsize: u32,
        max_item: usize,
    ) -> Result<Self, ConnectionError> {
        if !rustix::fs::fcntl_get_seals(&memfd)?.contains(SEALS)
            || rustix::fs::fstat(&memfd)?.st_size < PAGE as i64
        {
            return Err(ConnectionError::Corrupted(
                "the queue's shared page is not a sealed page".into(),
            ));
        }
        let map_fd = rustix::io::fcntl_dupfd_cloexec(&memfd, 3)?;
        let map = Mapping::new(map_fd)?;
        let inner = Inner {
            tx,
            rx,
            memfd,
            map,
            maxsize,
            max_item,
        };
        Ok(Self {
            inner: Arc::new(inner),
            _type: PhantomData,
        })
    }

    /// Puts `item`, waiting while the queue is full.
    pub fn put(&self, item: T) -> Result<(), QueueError<T>> {
        self.put_until(item, None)
    }

    /// Puts `item` if there is room now (Python's `put_nowait`), else [`QueueError::Full`].
    pub fn try_put(&self, item: T) -> Result<(), QueueError<T>> {
        self.put_until(item, Some(Instant::now()))
    }

    /// Puts `item`, waiting at most `timeout` for room.
    pub fn put_timeout(&self, item: T, timeout: Duration) -> Result<(), QueueError<T>> {
        self.put_until(item, Some(deadline(timeout)))
    }

    fn put_until(&self, item: T, deadline: Option<Instant>) -> Result<(), QueueError<T>> {
        let (bytes, fds) = match wire::encode(&item) {
            Ok(x) => x,
            Err(e) => return Err(QueueError::Codec(e.to_string(), Some(item))),
        };
        if !fds.is_empty() {
            return Err(QueueError::Codec(
                "connections and queues cannot travel through a ProcessQueue".into(),
                Some(item),
            ));
        }
        if bytes.len() + 1 > self.inner.max_item {
            return Err(QueueError::TooLarge(item, bytes.len()));
        }
        let counts = self.inner.map.counts();
        match counts.reserve(self.inner.maxsize, deadline) {
            Reserve::Ok => {}
            Reserve::Full => return Err(QueueError::Full(item)),
            Reserve::ShutDown => return Err(QueueError::ShutDown(Some(item))),
        }
        // With a deadline the send must not wait in the kernel past it (the socket buffer is the
        // bound of an unbounded queue, and may fill before `maxsize` items of a bounded one).
        let flags = if deadline.is_some() {
            SendFlags::NOSIGNAL | SendFlags::DONTWAIT
        } else {
            SendFlags::NOSIGNAL
        };
        loop {
            // A tag byte first: an empty message would read as the end of the queue.
            let iov = [std::io::IoSlice::new(&[1]), std::io::IoSlice::new(&bytes)];
            let mut none = rustix::net::SendAncillaryBuffer::default();
            match rustix::net::sendmsg(&self.inner.tx, &iov, &mut none, flags) {
                Ok(_) => return Ok(()),
                Err(Errno::INTR) => {}
                Err(Errno::AGAIN) => match wait_fd(self.inner.tx.as_fd(), PollFlags::OUT, deadline)
                {
                    Ok(true) => {}
                    Ok(false) => {
                        counts.unreserve();
                        return Err(QueueError::Full(item));
                    }
                    Err(e) => {
                        counts.unreserve();
                        return Err(QueueError::Io(e, Some(item)));
                    }
                },
                Err(e) => {
                    counts.unreserve();
                    return Err(if e == Errno::PIPE {
                        QueueError::ShutDown(Some(item))
                    } else {
                        QueueError::Io(e.into(), Some(item))
                    });
                }
            }
        }
    }

    /// Removes and returns the next item, waiting for one. After [`shutdown`](Self::shutdown),
    /// returns what is left and then [`QueueError::ShutDown`].
    pub fn get(&self) -> Result<T, QueueError<T>> {
        self.get_until(None)
    }

    /// Returns an item if one is there (Python's `get_nowait`), else [`QueueError::Empty`].
    pub fn try_get(&self) -> Result<T, QueueError<T>> {
        self.get_until(Some(Instant::now()))
    }

    /// Returns the next item, waiting at most `timeout`.
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, QueueError<T>> {
        self.get_until(Some(deadline(timeout)))
    }

    fn get_until(&self, deadline: Option<Instant>) -> Result<T, QueueError<T>> {
        thread_local! {
            /// The receive buffer: per thread, so no lock is held while a get waits.
            static BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
        }
        BUF.with(|cell| match cell.try_borrow_mut() {
            Ok(mut buf) => self.get_into(&mut buf, deadline),
            Err(_) => self.get_into(&mut Vec::new(), deadline),
        })
    }

    fn get_into(&self, buf: &mut Vec<u8>, deadline: Option<Instant>) -> Result<T, QueueError<T>> {
        let counts = self.inner.map.counts();
        if buf.len() < self.inner.max_item + 1 {
            buf.resize(self.inner.max_item + 1, 0);
        }
        // Without a deadline the receive itself waits (one system call per item); shutdown
        // ends that wait, since it closes the sending side for every process.
        let wait = if deadline.is_none() {
            RecvFlags::empty()
        } else {
            RecvFlags::DONTWAIT
        };
        let flags = wait | RecvFlags::TRUNC;
        loop {
            match rustix::net::recv(&self.inner.rx, &mut buf[..], flags) {
                Ok((0, _)) => return Err(QueueError::ShutDown(None)),
                Ok((n, full)) => {
                    counts.took();
                    // An item that cannot be read is lost to every getter: count it done so
                    // `join` does not wait for it for ever.
                    if full > n || n < 1 {
                        let _ = counts.task_done();
                        return Err(QueueError::Codec("an item was over the limit".into(), None));
                    }
                    return wire::decode(&buf[1..n], Vec::new()).map_err(|e| {
                        let _ = counts.task_done();
                        QueueError::Codec(e.to_string(), None)
                    });
                }
                Err(Errno::AGAIN | Errno::INTR) => {}
                Err(e) => return Err(QueueError::Io(e.into(), None)),
            }
            match wait_readable(self.inner.rx.as_fd(), deadline) {
                Ok(true) => {}
                Ok(false) => return Err(QueueError::Empty),
                Err(e) => return Err(QueueError::Io(e, None)),
            }
        }
    }

    /// Marks one item got from the queue as processed (Python's `task_done()`).
    pub fn task_done(&self) -> Result<(), TooManyTaskDone> {
        self.inner.map.counts().task_done()
    }

    /// Waits until every item put (by any process) has been marked done (Python's `join()`).
    pub fn join(&self) {
        self.inner.map.counts().join_until(None);
    }

    /// Waits at most `timeout` for [`join`](Self::join); `false` if items are still unfinished.
    pub fn join_timeout(&self, timeout: Duration) -> bool {
        self.inner.map.counts().join_until(Some(deadline(timeout)))
    }

    /// Shuts the queue down for every process (Python 3.13's `shutdown()`): later puts fail with
    /// [`QueueError::ShutDown`] (giving the item back), waiting putters wake and fail, and gets
    /// return what is left, then fail.
    pub fn shutdown(&self) {
        self.inner.map.counts().shut();
        let _ = rustix::net::shutdown(&self.inner.tx, Shutdown::Write);
    }

    /// Whether [`shutdown`](Self::shutdown) was called by any process.
    pub fn is_shutdown(&self) -> bool {
        self.inner.map.counts().is_shut()
    }

    /// The approximate number of items queued (Python's `qsize()`), counting puts under way.
    pub fn qsize(&self) -> usize {
        self.inner.map.counts().queued() as usize
    }

    /// Whether the queue is (approximately) empty.
    pub fn empty(&self) -> bool {
        self.qsize() == 0
    }

    /// Whether the queue is (approximately) full.
    pub fn full(&self) -> bool {
        self.inner.maxsize != 0 && self.qsize() >= self.inner.maxsize as usize
    }

    /// The bound given at creation (0: unbounded).
    pub fn maxsize(&self) -> u32 {
        self.inner.maxsize
    }

    /// Items put and not yet marked done.
    pub fn unfinished_tasks(&self) -> usize {
        self.inner.map.counts().unfinished() as usize
    }
}

impl<T> Clone for ProcessQueue<T> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
            _type: PhantomData,
        }
    }
}

impl<T> fmt::Debug for ProcessQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let counts = self.inner.map.counts();
        f.debug_struct("ProcessQueue")
            .field("maxsize", &self.inner.maxsize)
            .field("queued", &counts.queued())
            .field("unfinished", &counts.unfinished())
            .finish()
    }
}

#[derive(Serialize, Deserialize)]
struct SharedQueue {
    tx: u32,
    rx: u32,
    memfd: u32,
    maxsize: u32,
    max_item: u64,
}

impl<T> Serialize for ProcessQueue<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let share = |fd: &OwnedFd| wire::share_fd(fd.as_fd()).map_err(S::Error::custom);
        SharedQueue {
            tx: share(&self.inner.tx)?,
            rx: share(&self.inner.rx)?,
            memfd: share(&self.inner.memfd)?,
            maxsize: self.inner.maxsize,
            max_item: self.inner.max_item as u64,
        }
        .serialize(serializer)
    }
}

impl<'de, T: Serialize + DeserializeOwned> Deserialize<'de> for ProcessQueue<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let shared = SharedQueue::deserialize(deserializer)?;
        let take = |i| wire::take_fd(i).map_err(D::Error::custom);
        let (tx, rx, memfd) = (take(shared.tx)?, take(shared.rx)?, take(shared.memfd)?);
        let max_item = usize::try_from(shared.max_item)
            .unwrap_or(MAX_ITEM_LIMIT)
            .min(MAX_ITEM_LIMIT);
        Self::from_parts(
            tx,
            rx,
            memfd,
            shared.maxsize.min(crate::counts::MAX_BOUND),
            max_item,
        )
        .map_err(D::Error::custom)
    }
}
