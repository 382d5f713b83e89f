//! `multiprocessing.JoinableQueue`: a bounded MPMC queue shared by any number of processes.
//!
//! Items are encoded into a ring of bytes in one shared memory file (`memfd`) that every process
//! holding the queue maps: a put copies its item in and a get copies it out, under a lock word in
//! that memory which names its holder's process (so that a process that dies holding it is found
//! out and the lock taken over), and an item costs no system call unless someone has to sleep (a
//! futex wait, also in the shared memory). The protocol is in `src/ring.rs`, the table of the
//! processes holding the queue in `src/holders.rs`.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::iter::FusedIterator;
use std::marker::PhantomData;
use std::os::fd::{AsFd, OwnedFd};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::ptr::NonNull;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustix::io::Errno;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::connection::deadline;
use crate::error::ConnectionError;
use crate::holders::{Holders, Me};
use crate::ring::{self, Data, Get, Put, Ring, TooManyTaskDone, MAX_BOUND};
use crate::wire;

/// The largest item a process queue carries by default, encoded: 64 KiB.
pub const DEFAULT_MAX_ITEM: usize = 64 << 10;
/// The bytes of a queue's ring: what it holds at most, whatever its bound.
const RING_BYTES: u32 = 256 << 10;
/// The largest item limit that can be set: a record (the item and its 4-byte length) must fit
/// the ring with room to spare.
const MAX_ITEM_LIMIT: usize = 160 << 10;

/// The page of the ring's words and the holders' table, before the ring's bytes.
const PAGE: usize = 4096;
/// Where the holders' table starts in that page.
const HOLDERS_AT: usize = 512;
const _: () = assert!(
    std::mem::size_of::<Ring>() <= HOLDERS_AT
        && HOLDERS_AT.is_multiple_of(std::mem::align_of::<Holders>())
        && HOLDERS_AT + std::mem::size_of::<Holders>() <= PAGE
);
/// The shared file: the words' page, then the ring.
const FILE_BYTES: usize = PAGE + RING_BYTES as usize;
/// The file's size is fixed for good: mapping it is safe in every process that receives it.
const SEALS: rustix::fs::SealFlags = rustix::fs::SealFlags::SHRINK
    .union(rustix::fs::SealFlags::GROW)
    .union(rustix::fs::SealFlags::SEAL);

/// One process's mapping of the shared file (which stays mapped after its descriptor closes).
struct Mapping {
    ptr: NonNull<u8>,
    data: Data,
}

impl Mapping {
    /// Maps `memfd`, a sealed file of `FILE_BYTES` (checked by `from_parts`: the seals and the
    /// size).
    fn new(memfd: &OwnedFd) -> rustix::io::Result<Self> {
        // SAFETY: a fresh shared mapping of a file we hold, chosen by the kernel (null hint), so
        // it overlaps nothing Rust owns; the file is `FILE_BYTES` long and sealed against
        // shrinking and growing, so no process can take pages away under the mapping.
        let ptr = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                FILE_BYTES,
                rustix::mm::ProtFlags::READ | rustix::mm::ProtFlags::WRITE,
                rustix::mm::MapFlags::SHARED,
                memfd,
                0,
            )?
        };
        let ptr = NonNull::new(ptr.cast::<u8>()).ok_or(Errno::NOMEM)?;
        // SAFETY: the ring's bytes are the `RING_BYTES` (a power of two below 2³¹) after the
        // first page of the mapping, which lives as long as `self` (and `data` with it); only
        // the `Ring`'s protocol touches them, under its lock.
        let data = unsafe { Data::new(ptr.as_ptr().add(PAGE), RING_BYTES) };
        Ok(Self { ptr, data })
    }

    fn ring(&self) -> &Ring {
        // SAFETY: the mapping is page-aligned, at least a page long (more than `Ring`, whose
        // alignment is 64), readable and writable, and lives as long as `self`; every field of
        // `Ring` is an atomic, made for sharing with other threads and processes, and any bit
        // pattern is a valid value of each (a fresh memfd page reads as zeros: an empty queue).
        unsafe { self.ptr.cast::<Ring>().as_ref() }
    }

    fn holders(&self) -> &Holders {
        // SAFETY: `HOLDERS_AT` is inside the first page, past the `Ring`, and aligned for
        // `Holders`, which fits before the page's end (checked at compile time); its fields are
        // atomics, and zeros (a fresh page) are an empty table. As in `ring`.
        unsafe { self.ptr.add(HOLDERS_AT).cast::<Holders>().as_ref() }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from our own `mmap` of `FILE_BYTES` and nothing borrows from it
        // past `self` (the `ring()` borrows end with `&self`, and `data` dies with `self`).
        let _ = unsafe { rustix::mm::munmap(self.ptr.as_ptr().cast(), FILE_BYTES) };
    }
}

// SAFETY: `Mapping` is a pointer to shared memory used only through atomics (the lock word among
// them) and, under the ring's lock, the ring's bytes. Nothing in it is tied to a thread.
unsafe impl Send for Mapping {}
// SAFETY: as above.
unsafe impl Sync for Mapping {}

struct Inner {
    memfd: OwnedFd,
    /// The queue's token file: an empty file whose byte locks mark handles in flight (see
    /// `src/holders.rs`). A file of its own: a lock on the ring's file made every item three
    /// times slower here, even after the lock was gone.
    tokens: OwnedFd,
    map: Mapping,
    maxsize: u32,
    max_item: usize,
    /// This process as the holders' table names it (`None`: `/proc` could not say).
    me: Option<Me>,
    /// This handle's slot in the holders' table (`None`: untracked).
    slot: Option<usize>,
    /// The ring lock's mark of this process.
    tag: u32,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let (Some(slot), Some(me)) = (self.slot, self.me) {
            self.map.holders().release(slot, me);
            // Someone asleep may now be alone with the queue: let them look.
            self.map.ring().nudge();
        }
    }
}

/// What the ring asks about the processes around a handle (its shared part).
struct Peers<'a>(&'a Arc<Inner>);

impl ring::Peers for Peers<'_> {
    fn tag(&self) -> u32 {
        self.0.tag
    }

    fn holds(&self, tag: u32) -> bool {
        self.0.map.holders().holds(tag)
    }

    /// No other handle in this process, and no other process alive that holds one (or has one
    /// on its way to another process).
    fn alone(&self) -> bool {
        let inner = self.0;
        Arc::strong_count(inner) == 1
            && !inner.map.holders().others(inner.slot, inner.tokens.as_fd())
    }
}

/// How a handle gets its slot in the holders' table.
enum Holding {
    /// A new queue: a free slot.
    New,
    /// A queue received: the slot the sender registered (index, and the word it holds).
    Received(u64, u64),
}

/// Python's `multiprocessing.JoinableQueue` (and `Queue`): a bounded multi-producer
/// multi-consumer queue shared by the parent and any number of child processes, with the
/// blocking, non-blocking and timed forms of weft-channel's `Queue`, `task_done`/`join`,
/// `shutdown` and `shutdown_immediate`, and [`iter`](Self::iter) (`for item in &queue`).
///
/// It has no async forms (`put_async`, `get_async`, `join_async`): from async code, run the
/// blocking call on a thread of its own with `weft_async::to_thread` (or tokio's
/// `spawn_blocking`), giving it a [`clone`](Clone::clone) of the queue.
///
/// Pass it to a child inside the [`Process`](crate::Process) argument (or a
/// [`Connection`](crate::Connection) message): the child gets a handle to the same queue.
/// Cloning gives another handle in the same process.
///
/// # Bounds
/// `maxsize` items at most (a put waits, or fails after its timeout). Every queue also holds at
/// most what fits its 256 KiB ring (items take their encoded size plus 4 bytes: thousands of
/// small items): an unbounded queue waits there, and the timed and `try_` forms give the item
/// back with [`QueueError::Full`] instead of waiting past their deadline.
///
/// # When a process dies
/// A put or a get takes effect with one store to the shared memory, under a lock that names its
/// holder's process: a process that dies at any point leaves the queue as it was before its
/// operation or as it is after it, never half an item, never a lock held for ever (a process
/// waiting for the lock looks at its holder after each 200 ms, and when its deadline comes —
/// at once for the `try_` forms — and takes the lock over from a dead one, waking everyone
/// asleep to look again), and the others carry on; every sleeper looks
/// again at least that often, so a process that dies right after a put, or after being woken for
/// one, strands no one. An item counts as
/// unfinished from the store that puts it, so a dead putter never leaves `join` waiting for an
/// item that is not there; killed after getting an item and before
/// [`task_done`](Self::task_done), the item counts as unfinished, as in Python (`join` then
/// waits for ever: use [`join_timeout`](Self::join_timeout)).
///
/// A get that waits on an empty queue when every other handle is gone — dropped, or held by a
/// process that died (killed, or exited without dropping it) — fails with
/// [`QueueError::Disconnected`] instead of waiting for ever, as a channel's receiver does when
/// its senders are gone; so does a put on a full queue (giving the item back). Every handle is
/// both ends, so this is about *every* other handle: while a consumer, or a queue on its way to
/// another process, holds one, gets wait. The queue's shared page keeps a table of the processes
/// holding it (read against `/proc`, so a zombie or a reused process id does not count, and a
/// process hidden from `/proc` counts as alive); a waiter looks at it every 200 ms it waits,
/// whatever interrupts its sleep, so a death is noticed within about that, and a timed wait
/// shorter than that answers [`QueueError::Empty`] or [`QueueError::Full`]. A queue sent to
/// another process counts as held from the moment it is encoded until its receiver takes it,
/// whatever happens to its sender meanwhile, for exactly as long as the token it travels with
/// exists (a descriptor holding a lock that the kernel drops with the last copy): a message
/// dropped unsent, or a receiver that dies before decoding it, leaves no holder behind. Python's
/// queue waits for ever in all these cases.
///
/// The table has 256 slots: one for each handle made by creating or receiving the queue (its
/// clones share it) and one for each handle on its way to another process. A queue that once
/// needs more at the same moment (300 children given a clone, say, or 300 messages carrying it
/// not yet received), or a holder that cannot read its own entry in `/proc`, is no longer
/// tracked, for good: from then on its waits never end in `Disconnected`, even after those
/// holders are gone, and wait as Python's do (use the timed forms).
///
/// Within a process, each handle counts once, however many threads use it: threads that share
/// one handle by reference (`&queue`, an `Arc<ProcessQueue>`) are not seen, so a get blocked in
/// one of them while the only other user is another thread between two calls can end in
/// `Disconnected`. Give each thread its own [`clone`](Clone::clone).
///
/// The timed and `try_` forms keep their deadline while another process holds the queue's lock
/// too (Python's `get(block=False)` does not wait for its lock either): a `try_get` that finds
/// the lock held for a moment answers `Empty`, and a `try_put` `Full`, whatever the queue holds
/// or whether it is shut down. A handle inherited
/// through a bare `fork()` (not weft's fork server) is not supported: pass queues to children in
/// their argument.
///
/// Every process holding the queue can write its memory, and nothing there is trusted: a record
/// or a count that cannot be right (a process writing there outside the protocol) is reported
/// once, to the get or put that finds it, as [`QueueError::Corrupted`] (a
/// [`shutdown_immediate`](Self::shutdown_immediate) that finds it reports nothing: it returns
/// the items before it) and the queue emptied, its queued items counted done; no word
/// there can make a process read or write outside the ring. The counts are 32-bit: a queue on
/// which `task_done` is never called counts its unfinished items modulo 2³² (`join` is for
/// queues whose items are marked done).
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
///
/// Its `Debug` shows no item (`Full(..)`), so it needs no `T: Debug`, and it is an
/// [`Error`](std::error::Error) whatever the item, as the queue errors of weft-channel are.
/// It is `Clone`, `PartialEq` and `Eq` when the item is, so a test can compare it whole.
///
/// ```
/// use weft_process::{ProcessQueue, QueueError};
///
/// let q = ProcessQueue::<u8>::new(1).unwrap();
/// assert_eq!(q.try_get(), Err(QueueError::Empty));
/// q.put(1).unwrap();
/// assert_eq!(q.try_put(2), Err(QueueError::Full(2))); // the item comes back
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum QueueError<T> {
    /// `try_get`/`get_timeout`: nothing to get (Python's `queue.Empty`).
    Empty,
    /// `try_put`/`put_timeout`: no room; here is the item (Python's `queue.Full`).
    Full(T),
    /// The queue was shut down: puts give the item back, gets fail once it is drained (at once
    /// after [`shutdown_immediate`](ProcessQueue::shutdown_immediate), which drained it).
    ShutDown(Option<T>),
    /// A get waited on an empty queue (or a put on a full one, giving the item back) and every
    /// other handle is gone: dropped, or its process dead. No other handle could change the
    /// queue; threads sharing this very handle by reference are not counted (see
    /// [`ProcessQueue`]: give each thread a clone).
    Disconnected(Option<T>),
    /// The item is larger, encoded, than the queue's item limit; here it is.
    TooLarge(T, usize),
    /// The item could not be encoded (its `Serialize` returned an error or panicked; here it
    /// is), or a received one did not decode.
    Codec(String, Option<T>),
    /// The queue's shared memory held a record or a count that the protocol never writes (a
    /// process wrote there outside it): the queue was emptied, its queued items counted done.
    /// Puts give the item back.
    Corrupted(Option<T>),
}

impl<T> QueueError<T> {
    /// The item that was not put, if any.
    pub fn into_inner(self) -> Option<T> {
        match self {
            Self::Full(t) | Self::TooLarge(t, _) => Some(t),
            Self::ShutDown(t) | Self::Disconnected(t) | Self::Codec(_, t) | Self::Corrupted(t) => t,
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
            Self::Disconnected(_) => f.write_str(
                "every other handle of the queue is gone (dropped, or its process died)",
            ),
            Self::TooLarge(_, n) => {
                write!(f, "an item of {n} bytes is over the queue's item limit")
            }
            Self::Codec(why, _) => write!(f, "{why}"),
            Self::Corrupted(_) => f.write_str(
                "the queue's shared memory held an impossible record or count; the queue was emptied",
            ),
        }
    }
}

impl<T> fmt::Debug for QueueError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let item = |t: &Option<T>| if t.is_some() { "Some(..)" } else { "None" };
        match self {
            Self::Empty => f.write_str("Empty"),
            Self::Full(_) => f.write_str("Full(..)"),
            Self::ShutDown(t) => write!(f, "ShutDown({})", item(t)),
            Self::Disconnected(t) => write!(f, "Disconnected({})", item(t)),
            Self::TooLarge(_, n) => write!(f, "TooLarge(.., {n})"),
            Self::Codec(why, t) => write!(f, "Codec({why:?}, {})", item(t)),
            Self::Corrupted(t) => write!(f, "Corrupted({})", item(t)),
        }
    }
}

impl<T> std::error::Error for QueueError<T> {}

impl<T: Serialize + DeserializeOwned> ProcessQueue<T> {
    /// A queue that holds at most `maxsize` items (Python's `maxsize`; `0` means unbounded,
    /// limited only by the 256 KiB ring, where a put then waits). A `maxsize` above 2³¹ − 1 is
    /// lowered to it (no ring holds that many items anyway).
    ///
    /// # Errors
    /// [`ConnectionError::Io`] when the shared memory cannot be had.
    ///
    /// ```
    /// let q = weft_process::ProcessQueue::<u8>::new(3).unwrap();
    /// assert_eq!(q.maxsize(), Some(3));
    /// assert_eq!(weft_process::ProcessQueue::<u8>::new(0).unwrap().maxsize(), None);
    /// ```
    pub fn new(maxsize: usize) -> Result<Self, ConnectionError> {
        Self::with_item_limit(maxsize, DEFAULT_MAX_ITEM)
    }

    /// A queue with no bound on its count of items (the same as `new(0)`): only its 256 KiB
    /// ring limits it, where a put waits.
    ///
    /// # Errors
    /// As [`new`](Self::new).
    ///
    /// ```
    /// let q = weft_process::ProcessQueue::<u32>::unbounded().unwrap();
    /// for i in 0..1000 {
    ///     q.try_put(i).unwrap();
    /// }
    /// assert_eq!(q.maxsize(), None);
    /// ```
    pub fn unbounded() -> Result<Self, ConnectionError> {
        Self::new(0)
    }

    /// A queue whose items may be at most `max_item` bytes encoded (at most 160 KiB, so that a
    /// record fits the ring with room to spare; larger values are lowered to it). `maxsize` is
    /// as for [`new`](Self::new).
    ///
    /// # Errors
    /// As [`new`](Self::new).
    ///
    /// ```
    /// use weft_process::{ProcessQueue, QueueError};
    /// let q = ProcessQueue::<Vec<u8>>::with_item_limit(0, 100).unwrap();
    /// assert!(matches!(q.put(vec![0; 200]), Err(QueueError::TooLarge(_, _))));
    /// ```
    pub fn with_item_limit(maxsize: usize, max_item: usize) -> Result<Self, ConnectionError> {
        let maxsize = u32::try_from(maxsize).unwrap_or(MAX_BOUND).min(MAX_BOUND);
        let flags = rustix::fs::MemfdFlags::CLOEXEC | rustix::fs::MemfdFlags::ALLOW_SEALING;
        let memfd = rustix::fs::memfd_create("weft-process-queue", flags)?;
        rustix::fs::ftruncate(&memfd, FILE_BYTES as u64)?;
        // No process holding the queue can shrink the file under the others' mappings.
        rustix::fs::fcntl_add_seals(&memfd, SEALS)?;
        let tokens = rustix::fs::memfd_create("weft-process-queue-tokens", flags)?;
        let max_item = max_item.min(MAX_ITEM_LIMIT);
        Self::from_parts(memfd, tokens, maxsize, max_item, Holding::New)
    }

    fn from_parts(
        memfd: OwnedFd,
        tokens: OwnedFd,
        maxsize: u32,
        max_item: usize,
        holding: Holding,
    ) -> Result<Self, ConnectionError> {
        if !rustix::fs::fcntl_get_seals(&memfd)?.contains(SEALS)
            || rustix::fs::fstat(&memfd)?.st_size != FILE_BYTES as i64
        {
            return Err(ConnectionError::Corrupted(
                "the queue's shared memory is not a sealed file of the right size".into(),
            ));
        }
        let map = Mapping::new(&memfd)?;
        let me = Me::get();
        let fd = tokens.as_fd();
        let slot = match holding {
            Holding::New => map.holders().register(me, fd),
            Holding::Received(index, sender) => map.holders().take_over(index, sender, me, fd),
        };
        // Without `/proc`, the bare process id (the table is untracked, and liveness is asked of
        // the kernel by id).
        let pid = std::process::id();
        let inner = Inner {
            memfd,
            tokens,
            map,
            maxsize,
            max_item,
            me,
            slot,
            tag: me.map_or(pid, Me::tag),
        };
        Ok(Self {
            inner: Arc::new(inner),
            _type: PhantomData,
        })
    }

    /// Puts `item`, waiting while the queue is full.
    ///
    /// # Errors
    /// The item comes back inside the error. [`QueueError::ShutDown`] once the queue is shut
    /// down; [`QueueError::Disconnected`] when the queue is full and every other handle is gone;
    /// [`QueueError::TooLarge`] over the item limit; [`QueueError::Codec`] when the item cannot
    /// be encoded (its `Serialize` failed or panicked, or it holds a connection or queue);
    /// [`QueueError::Corrupted`] when the shared memory was written outside the protocol.
    pub fn put(&self, item: T) -> Result<(), QueueError<T>> {
        self.put_until(item, None)
    }

    /// Puts `item` if there is room now (Python's `put_nowait`).
    ///
    /// # Errors
    /// [`QueueError::Full`] when there is no room, with the item back; otherwise as
    /// [`put`](Self::put).
    pub fn try_put(&self, item: T) -> Result<(), QueueError<T>> {
        self.put_until(item, Some(Instant::now()))
    }

    /// Puts `item`, waiting at most `timeout` for room.
    ///
    /// # Errors
    /// [`QueueError::Full`] when there is no room in time, with the item back; otherwise as
    /// [`put`](Self::put).
    pub fn put_timeout(&self, item: T, timeout: Duration) -> Result<(), QueueError<T>> {
        self.put_until(item, deadline(timeout))
    }

    fn put_until(&self, item: T, deadline: Option<Instant>) -> Result<(), QueueError<T>> {
        thread_local! {
            /// The buffer an item is encoded into: per thread and kept, so that a put allocates
            /// only for an item larger than any this thread put before.
            static BUF: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
        }
        // Taken, not borrowed: a `Serialize` impl that puts (reentrant) gets a buffer of its own.
        let mut buf = BUF.take();
        buf.clear();
        let (result, buf) = self.put_encoded(item, buf, deadline);
        if buf.capacity() <= self.inner.max_item.max(4096) {
            BUF.set(buf);
        }
        result
    }

    fn put_encoded(
        &self,
        item: T,
        buf: Vec<u8>,
        deadline: Option<Instant>,
    ) -> (Result<(), QueueError<T>>, Vec<u8>) {
        // A `Serialize` that panics is refused as one that fails: the item comes back.
        let (bytes, fds) = match wire::encode_caught(buf, &item) {
            Ok(x) => x,
            Err(e) => {
                return (
                    Err(QueueError::Codec(e.to_string(), Some(item))),
                    Vec::new(),
                )
            }
        };
        // A queue refuses descriptors: dropping `fds` gives back any read-ahead.
        (self.put_bytes(item, &bytes, fds.fds(), deadline), bytes)
    }

    fn put_bytes(
        &self,
        item: T,
        bytes: &[u8],
        fds: &[OwnedFd],
        deadline: Option<Instant>,
    ) -> Result<(), QueueError<T>> {
        if !fds.is_empty() {
            return Err(QueueError::Codec(
                "connections and queues cannot travel through a ProcessQueue".into(),
                Some(item),
            ));
        }
        if bytes.len() > self.inner.max_item {
            return Err(QueueError::TooLarge(item, bytes.len()));
        }
        let map = &self.inner.map;
        let peers = Peers(&self.inner);
        match map
            .ring()
            .put(&map.data, bytes, self.inner.maxsize, deadline, &peers)
        {
            Some(Put::Done) => Ok(()),
            Some(Put::Full) => Err(QueueError::Full(item)),
            Some(Put::ShutDown) => Err(QueueError::ShutDown(Some(item))),
            Some(Put::Alone) => Err(QueueError::Disconnected(Some(item))),
            Some(Put::Corrupted) => Err(QueueError::Corrupted(Some(item))),
            // Not reached: the item limit is far below the ring's size.
            None => Err(QueueError::TooLarge(item, bytes.len())),
        }
    }

    /// Removes and returns the next item, waiting for one.
    ///
    /// # Errors
    /// After [`shutdown`](Self::shutdown), returns what is left and then
    /// [`QueueError::ShutDown`]; after [`shutdown_immediate`](Self::shutdown_immediate),
    /// `ShutDown` at once. [`QueueError::Disconnected`] when the queue is empty and every other
    /// handle is gone; [`QueueError::Codec`] when the item does not decode (it is lost to every
    /// getter, and counted done); [`QueueError::Corrupted`] when the shared memory was written
    /// outside the protocol.
    pub fn get(&self) -> Result<T, QueueError<T>> {
        self.get_until(None)
    }

    /// Returns an item if one is there (Python's `get_nowait`).
    ///
    /// # Errors
    /// [`QueueError::Empty`] when there is none; otherwise as [`get`](Self::get).
    pub fn try_get(&self) -> Result<T, QueueError<T>> {
        self.get_until(Some(Instant::now()))
    }

    /// Returns the next item, waiting at most `timeout`.
    ///
    /// # Errors
    /// [`QueueError::Empty`] when none comes in time; otherwise as [`get`](Self::get).
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, QueueError<T>> {
        self.get_until(deadline(timeout))
    }

    fn get_until(&self, deadline: Option<Instant>) -> Result<T, QueueError<T>> {
        thread_local! {
            /// The buffer an item is copied into: per thread, so that a get allocates only
            /// for an item larger than any this thread got before.
            static BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
        }
        BUF.with(|cell| match cell.try_borrow_mut() {
            Ok(mut buf) => self.get_into(&mut buf, deadline),
            Err(_) => self.get_into(&mut Vec::new(), deadline),
        })
    }

    fn get_into(&self, buf: &mut Vec<u8>, deadline: Option<Instant>) -> Result<T, QueueError<T>> {
        let map = &self.inner.map;
        let ring = map.ring();
        match ring.get(
            &map.data,
            buf,
            self.inner.max_item,
            deadline,
            &Peers(&self.inner),
        ) {
            // An item that cannot be read is lost to every getter: count it done so that
            // `join` does not wait for it for ever, also when its `Deserialize` panics (the
            // panic then carries on to the caller).
            Get::Done => match catch_unwind(AssertUnwindSafe(|| wire::decode(buf, Vec::new()))) {
                Ok(Ok(item)) => Ok(item),
                Ok(Err(e)) => {
                    let _ = ring.task_done();
                    Err(QueueError::Codec(e.to_string(), None))
                }
                Err(payload) => {
                    let _ = ring.task_done();
                    resume_unwind(payload)
                }
            },
            Get::Empty => Err(QueueError::Empty),
            Get::ShutDown => Err(QueueError::ShutDown(None)),
            Get::Alone => Err(QueueError::Disconnected(None)),
            Get::Corrupted => Err(QueueError::Corrupted(None)),
        }
    }

    /// Marks one item got from the queue as processed (Python's `task_done()`).
    ///
    /// # Errors
    /// [`TooManyTaskDone`] when called more times than items were put (Python's `ValueError`).
    pub fn task_done(&self) -> Result<(), TooManyTaskDone> {
        self.inner.map.ring().task_done()
    }

    /// Waits until every item put (by any process) has been marked done (Python's `join()`).
    pub fn join(&self) {
        self.inner.map.ring().join_until(None);
    }

    /// Waits at most `timeout` for [`join`](Self::join); `false` if items are still unfinished.
    pub fn join_timeout(&self, timeout: Duration) -> bool {
        self.inner.map.ring().join_until(deadline(timeout))
    }

    /// Shuts the queue down for every process (Python 3.13's `shutdown()`): later puts fail with
    /// [`QueueError::ShutDown`] (giving the item back), waiting putters wake and fail, and gets
    /// return what is left, then fail.
    pub fn shutdown(&self) {
        self.inner.map.ring().shut(&Peers(&self.inner));
    }

    /// Shuts the queue down for every process at once (Python 3.13's
    /// `shutdown(immediate=True)`): later puts fail with [`QueueError::ShutDown`] (giving the
    /// item back), gets fail with it from now on, and the items still queued come back to the
    /// caller, in order (Python discards them), counted done so that `join` can return (it
    /// still waits for items already got and not yet marked done, as in Python). Every putter,
    /// getter and joiner blocked in any process wakes up.
    ///
    /// The items are taken out under the queue's lock, all at once: each item put is either
    /// returned here or got by exactly one get, never both, never neither; a put that took
    /// the lock first has its item returned here, one after fails. Items are decoded after the
    /// lock is released. One that does not decode (or whose `Deserialize` panics: the panic is
    /// caught, printed by the panic hook as usual, and not passed on) is left out and counted
    /// done, as a get's [`QueueError::Codec`] loses it; the others still come back. Shared
    /// memory found corrupted (see [`QueueError::Corrupted`]) loses the items from the first
    /// impossible record on; those before it come back, and the queue is emptied and shut down
    /// all the same.
    ///
    /// ```
    /// let q = weft_process::ProcessQueue::<u32>::new(0).unwrap();
    /// q.put(1).unwrap();
    /// q.put(2).unwrap();
    /// assert_eq!(q.shutdown_immediate(), [1, 2]);
    /// assert!(q.is_shutdown());
    /// assert!(q.get().is_err()); // ShutDown
    /// assert!(q.put(3).unwrap_err().into_inner() == Some(3));
    /// q.join(); // nothing is left to wait for
    /// ```
    pub fn shutdown_immediate(&self) -> Vec<T> {
        let map = &self.inner.map;
        let (mut bytes, mut ends) = (Vec::new(), Vec::new());
        map.ring().shut_now(
            &map.data,
            self.inner.max_item,
            &Peers(&self.inner),
            &mut bytes,
            &mut ends,
        );
        let mut start = 0;
        let mut items = Vec::with_capacity(ends.len());
        for end in ends {
            let record = &bytes[start..end];
            start = end;
            if let Ok(Ok(item)) =
                catch_unwind(AssertUnwindSafe(|| wire::decode(record, Vec::new())))
            {
                items.push(item);
            }
        }
        items
    }

    /// Whether [`shutdown`](Self::shutdown) or [`shutdown_immediate`](Self::shutdown_immediate)
    /// was called by any process.
    pub fn is_shutdown(&self) -> bool {
        self.inner.map.ring().is_shut()
    }

    /// The approximate number of items queued (Python's `qsize()`).
    pub fn qsize(&self) -> usize {
        self.inner.map.ring().queued() as usize
    }

    /// Whether the queue is (approximately) empty.
    pub fn empty(&self) -> bool {
        self.qsize() == 0
    }

    /// Whether the queue (approximately) holds `maxsize` items; never for an unbounded queue. A
    /// ring full of bytes refuses puts too, which this does not count.
    pub fn full(&self) -> bool {
        self.maxsize().is_some_and(|max| self.qsize() >= max)
    }

    /// The bound, or `None` for an unbounded queue (Python's `maxsize`, where 0 meant
    /// unbounded), as weft-channel's `Queue::maxsize`. A bound given above 2³¹ − 1 reads as
    /// that.
    ///
    /// ```
    /// let q = weft_process::ProcessQueue::<u8>::new(4).unwrap();
    /// assert_eq!(q.maxsize(), Some(4));
    /// ```
    pub fn maxsize(&self) -> Option<usize> {
        (self.inner.maxsize != 0).then_some(self.inner.maxsize as usize)
    }

    /// Items put and not yet marked done.
    pub fn unfinished_tasks(&self) -> usize {
        self.inner.map.ring().unfinished() as usize
    }

    /// An iterator that takes items with [`get`](Self::get) until the queue is shut down and
    /// drained (also what `for item in &queue` uses). It stops at the first error, whichever:
    /// [`ShutDown`](QueueError::ShutDown) (the usual end),
    /// [`Disconnected`](QueueError::Disconnected) (no other holder is left to put),
    /// [`Codec`](QueueError::Codec) (an item that did not decode, counted done: the items after
    /// it stay queued), [`Corrupted`](QueueError::Corrupted) (the queue was emptied). A get's
    /// error never carries an item, so stopping loses none; ask [`QueueIter::error`] why it
    /// stopped, or loop on `get` to go on past an item that did not decode. Once ended it stays
    /// ended. A `Deserialize` that panics panics out of `next`, as out of `get`.
    ///
    /// ```
    /// let q = weft_process::ProcessQueue::<u32>::new(0).unwrap();
    /// q.put(1).unwrap();
    /// q.put(2).unwrap();
    /// q.shutdown();
    /// let mut items = q.iter();
    /// assert_eq!(items.by_ref().collect::<Vec<_>>(), [1, 2]);
    /// assert!(matches!(items.error(), Some(weft_process::QueueError::ShutDown(None))));
    /// ```
    pub fn iter(&self) -> QueueIter<'_, T> {
        QueueIter {
            queue: self,
            error: None,
        }
    }
}

/// `for item in &queue`: the same as [`ProcessQueue::iter`].
impl<'a, T: Serialize + DeserializeOwned> IntoIterator for &'a ProcessQueue<T> {
    type Item = T;
    type IntoIter = QueueIter<'a, T>;

    fn into_iter(self) -> QueueIter<'a, T> {
        self.iter()
    }
}

/// An iterator over a [`ProcessQueue`]'s items, from [`ProcessQueue::iter`]: each `next` is a
/// blocking `get`, and the iterator ends at the first error, for good.
pub struct QueueIter<'a, T> {
    queue: &'a ProcessQueue<T>,
    /// Why it ended (`None` while it has not).
    error: Option<QueueError<T>>,
}

impl<T> QueueIter<'_, T> {
    /// Why the iterator ended: the error of the get that ended it (the queue shut down and
    /// drained, or another of [`ProcessQueue::iter`]'s ends); `None` while it has not ended.
    ///
    /// ```
    /// use weft_process::{ProcessQueue, QueueError};
    /// let q = ProcessQueue::<u32>::new(0).unwrap();
    /// let mut items = q.iter();
    /// // No other handle is left to put anything.
    /// assert_eq!(items.next(), None);
    /// assert!(matches!(items.error(), Some(QueueError::Disconnected(None))));
    /// ```
    pub fn error(&self) -> Option<&QueueError<T>> {
        self.error.as_ref()
    }
}

impl<T: Serialize + DeserializeOwned> Iterator for QueueIter<'_, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        if self.error.is_some() {
            return None;
        }
        match self.queue.get() {
            Ok(item) => Some(item),
            Err(e) => {
                self.error = Some(e);
                None
            }
        }
    }
}

/// Once the iterator has ended it stays ended: it gets nothing more.
impl<T: Serialize + DeserializeOwned> FusedIterator for QueueIter<'_, T> {}

impl<T> fmt::Debug for QueueIter<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueueIter")
            .field("queue", self.queue)
            .field("error", &self.error)
            .finish()
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
        let ring = self.inner.map.ring();
        let maxsize = (self.inner.maxsize != 0).then_some(self.inner.maxsize as usize);
        f.debug_struct("ProcessQueue")
            .field("qsize", &ring.queued())
            .field("maxsize", &maxsize)
            .field("unfinished_tasks", &ring.unfinished())
            .field("shutdown", &ring.is_shut())
            .finish()
    }
}

#[derive(Serialize, Deserialize)]
struct SharedQueue {
    memfd: u32,
    tokens: u32,
    maxsize: u32,
    max_item: u64,
    /// The holders' slot registered for the receiver, and the word it holds until taken over.
    slot: u64,
    sender: u64,
    /// The transfer's own description of the token file, whose lock keeps the slot counted
    /// while the message exists (`u32::MAX`: none). The receiver keeps it until it has taken
    /// the slot over, then closes it.
    token: u32,
}

impl<T> Serialize for ProcessQueue<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let inner = &self.inner;
        // The shares first: they fail outside a weft message, before any slot is taken.
        let memfd = wire::share_fd(inner.memfd.as_fd()).map_err(wire::ser_error)?;
        let tokens = wire::share_fd(inner.tokens.as_fd()).map_err(wire::ser_error)?;
        let in_flight = inner
            .map
            .holders()
            .in_flight(inner.me, inner.tokens.as_fd())
            .map_err(|e| wire::ser_error(format!("a ProcessQueue cannot be sent now: {e}")))?;
        // `fresh` itself closes at the end: the message's duplicate keeps its description, and
        // with it the lock.
        let (token, slot, sender) = match &in_flight {
            Some((fresh, slot, sender)) => (
                wire::share_fd(fresh.as_fd()).map_err(wire::ser_error)?,
                *slot,
                *sender,
            ),
            None => (u32::MAX, u64::MAX, 0),
        };
        SharedQueue {
            memfd,
            tokens,
            maxsize: self.inner.maxsize,
            max_item: self.inner.max_item as u64,
            slot,
            sender,
            token,
        }
        .serialize(serializer)
    }
}

impl<'de, T: Serialize + DeserializeOwned> Deserialize<'de> for ProcessQueue<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let shared = SharedQueue::deserialize(deserializer)?;
        let memfd = wire::take_fd(shared.memfd).map_err(wire::de_error)?;
        let tokens = wire::take_fd(shared.tokens).map_err(wire::de_error)?;
        // Held until the slot is taken over (the end of this function), then closed.
        let _token = (shared.token != u32::MAX)
            .then(|| wire::take_fd(shared.token))
            .transpose()
            .map_err(wire::de_error)?;
        let max_item = usize::try_from(shared.max_item)
            .unwrap_or(MAX_ITEM_LIMIT)
            .min(MAX_ITEM_LIMIT);
        let holding = Holding::Received(shared.slot, shared.sender);
        Self::from_parts(
            memfd,
            tokens,
            shared.maxsize.min(MAX_BOUND),
            max_item,
            holding,
        )
        .map_err(|e| wire::de_error(e.to_string()))
    }
}
