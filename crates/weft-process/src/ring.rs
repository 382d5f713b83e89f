//! The shared memory of a [`ProcessQueue`](crate::ProcessQueue): a ring of encoded items and
//! the words around it, apart from the codec and the mapping so that loom can check the protocol
//! (`tests/loom.rs`).
//!
//! - Items are records (a 4-byte length, then the bytes) in a ring of bytes, written and read
//!   under one process-shared lock: a robust mutex, so a process that dies holding it leaves it
//!   to the next one instead of stopping the queue.
//! - `tail` is the put count and the write position in one word, `head` the get count and the
//!   read position in another: each put and each get commits with one store, so a process that
//!   dies anywhere leaves the ring as it was before its operation or as it is after it, never
//!   between (an item half written lies beyond `tail`, where nobody reads).
//! - `unfinished` (Python's unfinished tasks) is `puts - dones`: an item counts from the store
//!   that commits it, so a dead putter never leaves `join` waiting for an item that is not there.
//! - Sleepers wait with a futex on a sequence word that the other side bumps (getters on the
//!   puts' `seq`, putters on the gets'), after announcing themselves in a waiter count, so that a
//!   put or a get makes a wake-up system call only when someone sleeps.
//!
//! Any process holding the queue can write this memory; a record or count that cannot be right
//! is reported and the queue emptied (its items counted done), never trusted as a length.

use std::time::{Duration, Instant};

use rustix::io::Errno;

use crate::model::{
    fence_for_model, futex_wait, futex_wake, AtomicU32, AtomicU64, Ordering, ShmLock, MODEL,
};

/// "Every sleeper": the kernel reads the count as an `int`, so `u32::MAX` would be -1 and wake
/// only one.
const WAKE_ALL: u32 = i32::MAX as u32;
/// The largest bound a queue counts to (counts are differences of wrapping 32-bit counters).
pub(crate) const MAX_BOUND: u32 = i32::MAX as u32;
/// How many times a waiter looks again before it sleeps: the other side, running in another
/// process on another core, usually moves within microseconds, and not sleeping saves both a
/// system call per item. Models never spin (`MODEL`): they explore the sleep.
const SPIN_ROUNDS: u32 = 64;
/// The bytes of a record's length.
const LEN: u32 = 4;
/// How long a waiter sleeps before it asks whether anyone else still holds the queue (a process
/// that dies wakes no one; a handle dropped does, but may be seen a moment late).
const LOOK_AROUND: Duration = Duration::from_millis(200);

/// What [`Ring::put`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Put {
    /// The item is in the ring.
    Done,
    /// No room until the deadline.
    Full,
    /// The queue is shut down.
    ShutDown,
    /// The queue stayed full and no one else holds it any more: no get can ever make room.
    Alone,
    /// The shared memory held impossible counts: the queue was emptied.
    Corrupted,
}

/// What [`Ring::get`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Get {
    /// An item's bytes are in the buffer.
    Done,
    /// Nothing came until the deadline.
    Empty,
    /// The queue is shut down and drained.
    ShutDown,
    /// The queue stayed empty and no one else holds it any more: no put can ever come.
    Alone,
    /// The shared memory held an impossible record: the queue was emptied.
    Corrupted,
}

/// `task_done` was called more times than items were put (Python's `ValueError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManyTaskDone;

impl std::fmt::Display for TooManyTaskDone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("task_done() called too many times")
    }
}

impl std::error::Error for TooManyTaskDone {}

/// Keeps what one side writes off the other side's cache line.
#[repr(C, align(64))]
#[derive(Default)]
struct Line<T>(T);

/// What putters write.
#[repr(C)]
#[derive(Default)]
struct PutSide {
    /// The put count (low half) and the write position in the ring (high half).
    tail: AtomicU64,
    /// Bumped after every put (and by shutdown): the word sleeping getters wait on.
    seq: AtomicU32,
}

/// What getters write.
#[repr(C)]
#[derive(Default)]
struct GetSide {
    /// The get count (low half) and the read position in the ring (high half).
    head: AtomicU64,
    /// Bumped after every get (and by shutdown): the word sleeping putters wait on.
    seq: AtomicU32,
}

#[repr(C)]
#[derive(Default)]
struct Misc {
    /// `task_done` calls; `join` waits on it.
    dones: AtomicU32,
    /// Non-zero once shut down.
    shut: AtomicU32,
    get_waiters: AtomicU32,
    put_waiters: AtomicU32,
    join_waiters: AtomicU32,
}

/// The words at the start of the shared memory. All zeros but the lock is a valid empty queue
/// (a new memory page reads as zeros; the creator initializes the lock).
#[repr(C)]
#[cfg_attr(weft_loom, derive(Default))]
pub struct Ring {
    lock: Line<ShmLock>,
    put: Line<PutSide>,
    get: Line<GetSide>,
    misc: Line<Misc>,
}

impl std::fmt::Debug for Ring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ring")
            .field("queued", &self.queued())
            .field("unfinished", &self.unfinished())
            .field("shut", &self.is_shut())
            .finish_non_exhaustive()
    }
}

/// The ring's bytes: `cap` of them (a power of two) at `ptr`, read and written only by the
/// holder of the ring's lock.
pub struct Data {
    ptr: *mut u8,
    cap: u32,
    #[cfg(weft_loom)]
    _own: Vec<u8>,
}

impl std::fmt::Debug for Data {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Data")
            .field("cap", &self.cap)
            .finish_non_exhaustive()
    }
}

// SAFETY: the bytes are touched only under the ring's lock, from whichever thread holds it.
unsafe impl Send for Data {}
// SAFETY: as above.
unsafe impl Sync for Data {}

impl Data {
    /// The `cap` bytes at `ptr`.
    ///
    /// # Safety
    /// `cap` is a power of two below 2³¹; `ptr` is valid for reads and writes of `cap` bytes
    /// for as long as the `Data` is used, and the bytes are touched only by holders of the lock
    /// of the ring they are used with.
    #[cfg(not(weft_loom))]
    pub(crate) unsafe fn new(ptr: *mut u8, cap: u32) -> Self {
        debug_assert!(cap.is_power_of_two() && cap < 1 << 31);
        Self { ptr, cap }
    }

    /// `cap` bytes of its own (a power of two, at least 8), for the models.
    #[cfg(weft_loom)]
    pub fn owned(cap: u32) -> Self {
        assert!(cap.is_power_of_two() && cap >= 2 * LEN);
        let mut own = vec![0u8; cap as usize];
        Self {
            ptr: own.as_mut_ptr(),
            cap,
            _own: own,
        }
    }

    /// Copies `bytes` into the ring from position `at` on, wrapping at the end.
    ///
    /// # Safety
    /// The caller holds the ring's lock; `bytes` is at most `cap` long.
    unsafe fn write(&self, at: u32, bytes: &[u8]) {
        let start = (at & (self.cap - 1)) as usize;
        let first = bytes.len().min(self.cap as usize - start);
        // SAFETY: `start + first <= cap` and `bytes.len() - first <= cap - first` (the caller's
        // bound), inside the `cap` bytes at `ptr` (the constructor's contract), which only the
        // lock's holder touches, and which never overlap `bytes` (a buffer of this process).
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), self.ptr.add(start), first);
            std::ptr::copy_nonoverlapping(bytes.as_ptr().add(first), self.ptr, bytes.len() - first);
        }
    }

    /// Copies `out.len()` bytes out of the ring from position `at` on, wrapping at the end.
    ///
    /// # Safety
    /// As [`write`](Self::write).
    unsafe fn read(&self, at: u32, out: &mut [u8]) {
        let start = (at & (self.cap - 1)) as usize;
        let first = out.len().min(self.cap as usize - start);
        // SAFETY: as in `write`, the other way round.
        unsafe {
            std::ptr::copy_nonoverlapping(self.ptr.add(start), out.as_mut_ptr(), first);
            std::ptr::copy_nonoverlapping(self.ptr, out.as_mut_ptr().add(first), out.len() - first);
        }
    }
}

fn split(word: u64) -> (u32, u32) {
    (word as u32, (word >> 32) as u32)
}

fn join(count: u32, pos: u32) -> u64 {
    u64::from(count) | u64::from(pos) << 32
}

impl Ring {
    /// Makes the lock of the zeroed `Ring` at `this` a robust, process-shared mutex.
    ///
    /// # Safety
    /// As [`ShmLock::init`]: `this` is writable, zeroed, not yet shared, and stays mapped.
    #[cfg(not(weft_loom))]
    pub(crate) unsafe fn init(this: *mut Ring) -> Result<(), Errno> {
        // SAFETY: the caller's contract, passed on for the lock's field.
        unsafe { ShmLock::init(std::ptr::addr_of_mut!((*this).lock.0)) }
    }

    /// Runs `f` under the lock. A lock whose holder died is taken over: what the dead process
    /// did is committed or not (one store each), and everyone asleep is woken to look again.
    fn locked<O>(&self, f: impl FnOnce() -> O) -> Result<O, Errno> {
        let (guard, owner_died) = self.lock.0.lock()?;
        if owner_died {
            self.nudge();
        }
        let out = f();
        drop(guard);
        Ok(out)
    }

    fn wake_everyone(&self) {
        futex_wake(&self.put.0.seq, WAKE_ALL);
        futex_wake(&self.get.0.seq, WAKE_ALL);
        futex_wake(&self.misc.0.dones, WAKE_ALL);
    }

    /// Empties a ring whose words cannot be right: every item is dropped and counted done, and
    /// everyone asleep looks again. Called under the lock.
    fn reset(&self) {
        let (puts, tail) = split(self.put.0.tail.load(Ordering::Relaxed));
        self.get.0.head.store(join(puts, tail), Ordering::Release);
        self.misc.0.dones.store(puts, Ordering::SeqCst);
        self.nudge();
    }

    /// Puts the record of `bytes` (at most `data`'s capacity less 4), waiting while the queue
    /// holds `maxsize` items (0: no bound) or the ring lacks room, until `deadline` (`None`: for
    /// ever), or until `alone` says that no one else holds the queue (asked after each
    /// `LOOK_AROUND` of sleep; then the put tries once more).
    pub fn put(
        &self,
        data: &Data,
        bytes: &[u8],
        maxsize: u32,
        deadline: Option<Instant>,
        alone: &dyn Fn() -> bool,
    ) -> Result<Put, Errno> {
        let need = u32::try_from(bytes.len())
            .ok()
            .and_then(|n| n.checked_add(LEN))
            .filter(|&n| n <= data.cap)
            .ok_or(Errno::MSGSIZE)?;
        let mut spins = 0;
        let mut last_try = false;
        loop {
            let (tried, seen) = self.locked(|| {
                if self.misc.0.shut.load(Ordering::Relaxed) != 0 {
                    return (Some(Put::ShutDown), 0);
                }
                let (puts, tail) = split(self.put.0.tail.load(Ordering::Relaxed));
                let (gets, head) = split(self.get.0.head.load(Ordering::Relaxed));
                let used = tail.wrapping_sub(head);
                let queued = puts.wrapping_sub(gets);
                if used > data.cap || queued > used / LEN {
                    self.reset();
                    return (Some(Put::Corrupted), 0);
                }
                if (maxsize != 0 && queued >= maxsize) || data.cap - used < need {
                    // Read under the lock: a get after it bumps `seq` after our read.
                    return (None, self.get.0.seq.load(Ordering::SeqCst));
                }
                // SAFETY: we hold the lock; the record fits in the `cap - used` free bytes from
                // `tail` on (checked above), so it overwrites no queued item.
                unsafe {
                    data.write(tail, &(need - LEN).to_le_bytes());
                    data.write(tail.wrapping_add(LEN), bytes);
                }
                self.put.0.tail.store(
                    join(puts.wrapping_add(1), tail.wrapping_add(need)),
                    Ordering::Release,
                );
                self.put.0.seq.fetch_add(1, Ordering::SeqCst);
                (Some(Put::Done), 0)
            })?;
            match tried {
                Some(Put::Done) => {
                    fence_for_model();
                    if self.misc.0.get_waiters.load(Ordering::SeqCst) > 0 {
                        futex_wake(&self.put.0.seq, 1);
                    }
                    return Ok(Put::Done);
                }
                Some(other) => return Ok(other),
                None => {}
            }
            // Full: wait for a get (or shutdown) to bump the gets' `seq` from what we saw.
            if last_try {
                return Ok(Put::Alone);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(Put::Full);
            }
            if self.spin(&self.get.0.seq, seen, &mut spins) {
                continue;
            }
            self.misc.0.put_waiters.fetch_add(1, Ordering::SeqCst);
            fence_for_model();
            last_try = Self::nap(&self.get.0.seq, seen, deadline, alone);
            self.misc.0.put_waiters.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Sleeps while `word` is `seen`, until `deadline` or for `LOOK_AROUND`, whichever comes
    /// first; whether it slept the whole `LOOK_AROUND` and `alone` then said that no one else
    /// holds the queue. (Models sleep until woken, and are never alone.)
    fn nap(
        word: &AtomicU32,
        seen: u32,
        deadline: Option<Instant>,
        alone: &dyn Fn() -> bool,
    ) -> bool {
        if MODEL {
            futex_wait(word, seen, deadline);
            return false;
        }
        let look = Instant::now() + LOOK_AROUND;
        let until = deadline.map_or(look, |d| d.min(look));
        futex_wait(word, seen, Some(until));
        Instant::now() >= look && alone()
    }

    /// Takes the next record into `buf` (its bytes alone), waiting for one until `deadline`
    /// (`None`: for ever), or until `alone` says that no one else holds the queue (as in
    /// [`put`](Self::put)). A record longer than `max_item` is corruption.
    pub fn get(
        &self,
        data: &Data,
        buf: &mut Vec<u8>,
        max_item: usize,
        deadline: Option<Instant>,
        alone: &dyn Fn() -> bool,
    ) -> Result<Get, Errno> {
        let mut spins = 0;
        let mut last_try = false;
        loop {
            let (tried, seen) = self.locked(|| {
                let (puts, tail) = split(self.put.0.tail.load(Ordering::Relaxed));
                let (gets, head) = split(self.get.0.head.load(Ordering::Relaxed));
                if puts == gets {
                    let shut = self.misc.0.shut.load(Ordering::Relaxed) != 0;
                    // Read under the lock: a put after it bumps `seq` after our read.
                    let seen = self.put.0.seq.load(Ordering::SeqCst);
                    return (shut.then_some(Get::ShutDown), seen);
                }
                let used = tail.wrapping_sub(head);
                let mut len = [0u8; LEN as usize];
                if used > data.cap || used < LEN {
                    self.reset();
                    return (Some(Get::Corrupted), 0);
                }
                // SAFETY: we hold the lock; the `LEN` bytes at `head` are queued (`used`).
                unsafe { data.read(head, &mut len) };
                let len = u32::from_le_bytes(len);
                if len as usize > max_item || len > used - LEN {
                    self.reset();
                    return (Some(Get::Corrupted), 0);
                }
                buf.clear();
                buf.resize(len as usize, 0);
                // SAFETY: we hold the lock; the record's `len` bytes are queued (checked above).
                unsafe { data.read(head.wrapping_add(LEN), buf) };
                self.get.0.head.store(
                    join(gets.wrapping_add(1), head.wrapping_add(LEN + len)),
                    Ordering::Release,
                );
                self.get.0.seq.fetch_add(1, Ordering::SeqCst);
                (Some(Get::Done), 0)
            })?;
            match tried {
                Some(Get::Done) => {
                    fence_for_model();
                    // Every sleeping putter: each may need a different amount of room.
                    if self.misc.0.put_waiters.load(Ordering::SeqCst) > 0 {
                        futex_wake(&self.get.0.seq, WAKE_ALL);
                    }
                    return Ok(Get::Done);
                }
                Some(other) => return Ok(other),
                None => {}
            }
            if last_try {
                return Ok(Get::Alone);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                // A put's wake-up may have come to us as our time ran out: pass it on to
                // another sleeper if an item is there now.
                if self.queued() > 0 && self.misc.0.get_waiters.load(Ordering::SeqCst) > 0 {
                    futex_wake(&self.put.0.seq, 1);
                }
                return Ok(Get::Empty);
            }
            if self.spin(&self.put.0.seq, seen, &mut spins) {
                continue;
            }
            self.misc.0.get_waiters.fetch_add(1, Ordering::SeqCst);
            fence_for_model();
            last_try = Self::nap(&self.put.0.seq, seen, deadline, alone);
            self.misc.0.get_waiters.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Looks at `word` until it is no longer `seen` or this call's spins run out; whether it
    /// changed.
    fn spin(&self, word: &AtomicU32, seen: u32, spins: &mut u32) -> bool {
        while !MODEL && *spins < SPIN_ROUNDS {
            *spins += 1;
            if *spins < SPIN_ROUNDS / 2 {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
            if word.load(Ordering::Relaxed) != seen {
                return true;
            }
        }
        false
    }

    /// Marks one item done; wakes the joiners when none is left.
    pub fn task_done(&self) -> Result<(), TooManyTaskDone> {
        let mut done = self.misc.0.dones.load(Ordering::Acquire);
        loop {
            let unfinished = self.puts().wrapping_sub(done);
            if unfinished == 0 || unfinished > MAX_BOUND {
                return Err(TooManyTaskDone);
            }
            match self.misc.0.dones.compare_exchange_weak(
                done,
                done.wrapping_add(1),
                Ordering::SeqCst,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(now) => done = now,
            }
        }
        fence_for_model();
        if self.puts() == done.wrapping_add(1)
            && self.misc.0.join_waiters.load(Ordering::SeqCst) > 0
        {
            futex_wake(&self.misc.0.dones, WAKE_ALL);
        }
        Ok(())
    }

    /// Waits until no item is unfinished, or `deadline`; whether none is.
    pub fn join_until(&self, deadline: Option<Instant>) -> bool {
        loop {
            let done = self.misc.0.dones.load(Ordering::SeqCst);
            if self.puts() == done {
                return true;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return false;
            }
            self.misc.0.join_waiters.fetch_add(1, Ordering::SeqCst);
            fence_for_model();
            if self.misc.0.dones.load(Ordering::SeqCst) == done {
                futex_wait(&self.misc.0.dones, done, deadline);
            }
            self.misc.0.join_waiters.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Shuts the queue down: later puts fail, gets drain what is left and then fail, and
    /// everyone asleep wakes to see it.
    pub fn shut(&self) {
        let bump = || {
            self.misc.0.shut.store(1, Ordering::SeqCst);
            self.put.0.seq.fetch_add(1, Ordering::SeqCst);
            self.get.0.seq.fetch_add(1, Ordering::SeqCst);
        };
        if self.locked(bump).is_err() {
            // The lock is unusable (every operation fails with its error): set the flag anyway.
            bump();
        }
        self.wake_everyone();
    }

    /// Wakes everyone asleep to look again (a holder left).
    pub fn nudge(&self) {
        self.put.0.seq.fetch_add(1, Ordering::SeqCst);
        self.get.0.seq.fetch_add(1, Ordering::SeqCst);
        self.wake_everyone();
    }

    /// Whether the queue was shut down.
    pub fn is_shut(&self) -> bool {
        self.misc.0.shut.load(Ordering::Acquire) != 0
    }

    fn puts(&self) -> u32 {
        split(self.put.0.tail.load(Ordering::SeqCst)).0
    }

    /// Items queued (approximate while others put and get).
    pub fn queued(&self) -> u32 {
        let gets = split(self.get.0.head.load(Ordering::Acquire)).0;
        self.puts().wrapping_sub(gets).min(MAX_BOUND)
    }

    /// Items put and not yet marked done.
    pub fn unfinished(&self) -> u32 {
        let done = self.misc.0.dones.load(Ordering::Acquire);
        self.puts().wrapping_sub(done).min(MAX_BOUND)
    }
}
