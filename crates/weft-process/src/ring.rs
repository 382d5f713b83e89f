//! The shared memory of a [`ProcessQueue`](crate::ProcessQueue): a ring of encoded items and
//! the words around it, apart from the codec and the mapping so that loom can check the protocol
//! (`tests/loom.rs`).
//!
//! - Items are records (a 4-byte length, then the bytes) in a ring of bytes, written and read
//!   under one lock: a word holding the holder's tag (its process id and bits of its start
//!   time), so that a process that dies
//!   holding it is found out and the lock taken over, instead of stopping the queue.
//! - `tail` is the put count and the write position in one word, `head` the get count and the
//!   read position in another: each put and each get commits with one store, so a process that
//!   dies anywhere leaves the ring as it was before its operation or as it is after it, never
//!   between (an item half written lies beyond `tail`, where nobody reads).
//! - `unfinished` (Python's unfinished tasks) is `puts - dones`: an item counts from the store
//!   that commits it, so a dead putter never leaves `join` waiting for an item that is not there.
//! - Sleepers wait with a futex on a sequence word that the other side bumps (getters on the
//!   puts' `seq`, putters on the gets'), after raising a flag that the other side clears when it
//!   wakes them all; so a put or a get makes a wake-up system call only when someone sleeps, and
//!   a sleeper that dies leaves at most one needless wake-up behind. Every sleep is a nap of at
//!   most `LOOK_AROUND`, after which the sleeper looks again: a process that dies between its
//!   change and its wake-up (or after being woken) strands no one for longer than that.
//!
//! Every word here can be written by any process holding the queue, so none is trusted as more
//! than a hint: positions and lengths are checked against each other before a byte is read, and
//! a ring whose words cannot be right is reported and emptied. A bad word can make a queue
//! misbehave, never make this process touch memory outside the ring.

use std::time::{Duration, Instant};

use crate::model::{
    fence_for_model, futex_wait, futex_wake, AtomicU32, AtomicU64, Ordering, MODEL,
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
/// How many times `lock` tries before it sleeps: a holder keeps the lock for a copy of one item.
const LOCK_SPINS: u32 = 100;
/// The bytes of a record's length.
const LEN: u32 = 4;
/// The longest a waiter sleeps before it looks again: at the queue, at whether anyone else
/// still holds it, and at whether the lock's holder is alive.
const LOOK_AROUND: Duration = Duration::from_millis(200);
/// Set in the lock word while someone sleeps on it; the rest is the holder's mark (its process
/// id, and bits of its start time: [`Peers::tag`]).
const LOCK_WAITERS: u32 = 1 << 31;

/// What a ring needs to know about the processes around it.
pub trait Peers {
    /// This process's mark in the lock word (never 0, below 2³¹).
    fn tag(&self) -> u32;
    /// Whether the process marked `tag`, found holding the lock, may still be alive and holding
    /// the queue (`false`: it is gone, and its lock may be taken over).
    fn holds(&self, tag: u32) -> bool;
    /// Whether no one but the caller holds the queue any more.
    fn alone(&self) -> bool;
}

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
    /// The shared memory held impossible words: the queue was emptied.
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
    /// The shared memory held impossible words or records: the queue was emptied.
    Corrupted,
}

/// `task_done` was called more times than items were put (Python's `ValueError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
    /// Bumped after every put (and by shutdown and takeovers): the word getters sleep on.
    seq: AtomicU32,
    /// Raised by a sleeping getter; a put that finds it raised clears it and wakes them all.
    sleepers: AtomicU32,
}

/// What getters write.
#[repr(C)]
#[derive(Default)]
struct GetSide {
    /// The get count (low half) and the read position in the ring (high half).
    head: AtomicU64,
    /// Bumped after every get (and by shutdown and takeovers): the word putters sleep on.
    seq: AtomicU32,
    /// Raised by a sleeping putter; cleared by the get that wakes them.
    sleepers: AtomicU32,
}

#[repr(C)]
#[derive(Default)]
struct Misc {
    /// `task_done` calls; `join` sleeps on it.
    dones: AtomicU32,
    /// Raised by a sleeping joiner; cleared by the `task_done` that wakes them.
    join_sleepers: AtomicU32,
    /// Non-zero once shut down.
    shut: AtomicU32,
}

/// The words at the start of the shared memory. All zeros is a valid empty queue (a new
/// memory page reads as zeros).
#[repr(C)]
#[derive(Default)]
pub struct Ring {
    /// 0 when free, else the holder's tag (process id and start-time bits), with `LOCK_WAITERS`
    /// while someone sleeps on it.
    lock: Line<AtomicU32>,
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

/// The length of the record at `head` (a get's next), or `None` when it cannot be right: longer
/// than `max_item`, than the bytes in use, or, for the last item, not exactly them.
///
/// # Safety
/// The caller holds the ring's lock, and the words `(puts, tail)` and `(gets, head)` read under
/// it are `consistent`, with an item queued (`gets != puts`): at least `LEN` bytes are in use.
unsafe fn record_len(
    data: &Data,
    (puts, tail): (u32, u32),
    (gets, head): (u32, u32),
    max_item: usize,
) -> Option<u32> {
    let used = tail.wrapping_sub(head);
    let mut len = [0u8; LEN as usize];
    // SAFETY: the `LEN` bytes at `head` are queued (the caller's contract).
    unsafe { data.read(head, &mut len) };
    let len = u32::from_le_bytes(len);
    let last = puts.wrapping_sub(gets) == 1;
    let fits = len as usize <= max_item && len <= used - LEN && (!last || len == used - LEN);
    fits.then_some(len)
}

fn split(word: u64) -> (u32, u32) {
    (word as u32, (word >> 32) as u32)
}

fn join(count: u32, pos: u32) -> u64 {
    u64::from(count) | u64::from(pos) << 32
}

/// Holds the ring's lock, marked `.1`; unlocks it when dropped.
struct Locked<'a>(&'a AtomicU32, u32);

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        let mut held = self.0.load(Ordering::Relaxed);
        // Only if it is still ours: a lock taken over from us (we looked gone) is not ours to
        // free.
        while held & !LOCK_WAITERS == self.1 {
            match self
                .0
                .compare_exchange_weak(held, 0, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => {
                    if held & LOCK_WAITERS != 0 {
                        futex_wake(self.0, 1);
                    }
                    return;
                }
                Err(now) => held = now,
            }
        }
    }
}

/// When a waiter next looks around (at whether anyone else holds the queue, or whether the
/// lock's holder is alive): `LOOK_AROUND` after it first slept, however often its sleep was cut
/// short (by wake-ups or signals) in between.
#[derive(Default)]
struct Looks(Option<Instant>);

impl Looks {
    /// Whether it is time to look (and if so, the next look is `LOOK_AROUND` from now).
    fn due(&mut self) -> bool {
        let now = Instant::now();
        match self.0 {
            Some(at) if now >= at => {
                self.0 = Some(now + LOOK_AROUND);
                true
            }
            Some(_) => false,
            None => {
                self.0 = Some(now + LOOK_AROUND);
                false
            }
        }
    }

    /// Sleeps while `word` is `seen`, until `deadline` or the next look, whichever comes first
    /// (models sleep until woken); whether it is time to look.
    fn nap(&mut self, word: &AtomicU32, seen: u32, deadline: Option<Instant>) -> bool {
        if MODEL {
            futex_wait(word, seen, deadline);
            return false;
        }
        if self.due() {
            return true;
        }
        let look = self.0.unwrap_or_else(Instant::now);
        futex_wait(word, seen, Some(deadline.map_or(look, |d| d.min(look))));
        self.due()
    }
}

/// Whether the counts and positions can be those of a ring of `cap` bytes: no more bytes used
/// than there are, at least a length's worth per item, and bytes exactly when items.
fn consistent(puts: u32, tail: u32, gets: u32, head: u32, cap: u32) -> bool {
    let used = tail.wrapping_sub(head);
    let queued = puts.wrapping_sub(gets);
    used <= cap && queued <= used / LEN && (queued == 0) == (used == 0)
}

impl Ring {
    /// Takes the lock, waiting for it until `deadline` (`None`: for ever). A lock whose holder
    /// is gone (`peers.holds` says so, asked once the same holder has kept it for a
    /// `LOOK_AROUND`, and once more when the deadline has come) is taken over: what the dead
    /// process did is committed or not (one store each), and everyone asleep is woken to look
    /// again.
    fn lock(&self, peers: &dyn Peers, deadline: Option<Instant>) -> Option<Locked<'_>> {
        let word = &self.lock.0;
        let me = peers.tag();
        for _ in 0..if MODEL { 1 } else { LOCK_SPINS } {
            if word
                .compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                return Some(Locked(word, me));
            }
            std::hint::spin_loop();
        }
        let mut looks = Looks::default();
        let mut holder = 0;
        let mut slept = false;
        loop {
            let held = word.load(Ordering::Relaxed);
            if held == 0 {
                // Taken with the waiters mark: others may still sleep on it.
                if word
                    .compare_exchange(0, me | LOCK_WAITERS, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                {
                    return Some(Locked(word, me));
                }
                continue;
            }
            if held & !LOCK_WAITERS != holder {
                // Another holder: it gets its own look-around.
                holder = held & !LOCK_WAITERS;
                looks = Looks::default();
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                // Out of time: one look before giving up, so that a caller that only polls
                // (`try_`), or waits less than a look-around, still takes the lock over from a
                // holder that is gone.
                if let Some(locked) = self.take_over(peers, holder, held) {
                    return Some(locked);
                }
                if slept {
                    // The unlock's one wake-up may have come to us as our time ran out: pass it
                    // on, or another sleeper waits for its next look-around.
                    futex_wake(word, 1);
                }
                return None;
            }
            let marked = held | LOCK_WAITERS;
            if held != marked
                && word
                    .compare_exchange(held, marked, Ordering::Relaxed, Ordering::Relaxed)
                    .is_err()
            {
                continue;
            }
            slept = true;
            if looks.nap(word, marked, deadline)
                && let Some(locked) = self.take_over(peers, holder, marked)
            {
                return Some(locked);
            }
        }
    }

    /// Takes the lock over from `holder` if it is gone and the lock word is still `seen`, and
    /// wakes everyone asleep to look again.
    fn take_over(&self, peers: &dyn Peers, holder: u32, seen: u32) -> Option<Locked<'_>> {
        let word = &self.lock.0;
        let me = peers.tag();
        if peers.holds(holder)
            || word
                .compare_exchange(
                    seen,
                    me | LOCK_WAITERS,
                    Ordering::Acquire,
                    Ordering::Relaxed,
                )
                .is_err()
        {
            return None;
        }
        self.nudge();
        Some(Locked(word, me))
    }

    /// Wakes everyone asleep on the ring to look again (a holder left, or died).
    pub fn nudge(&self) {
        self.put.0.seq.fetch_add(1, Ordering::SeqCst);
        self.get.0.seq.fetch_add(1, Ordering::SeqCst);
        // Joiners sleep on `dones`, unchanged here: a wake-up alone makes them look again.
        futex_wake(&self.put.0.seq, WAKE_ALL);
        futex_wake(&self.get.0.seq, WAKE_ALL);
        futex_wake(&self.misc.0.dones, WAKE_ALL);
    }

    /// Empties a ring whose words cannot be right: every item queued is dropped and counted
    /// done (all items, if even the counts make no sense), and everyone asleep looks again.
    /// Called under the lock. `dones` first: dying between the two stores leaves items counted
    /// done that are still there, rather than a `join` that waits for ever.
    fn reset(&self) {
        let (puts, tail) = split(self.put.0.tail.load(Ordering::Relaxed));
        let (gets, _) = split(self.get.0.head.load(Ordering::Relaxed));
        let queued = puts.wrapping_sub(gets);
        // A read-modify-write: `task_done` changes `dones` without the lock.
        let _ = self
            .misc
            .0
            .dones
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |done| {
                Some(
                    if queued <= puts.wrapping_sub(done) && queued <= MAX_BOUND {
                        done.wrapping_add(queued)
                    } else {
                        puts
                    },
                )
            });
        self.get.0.head.store(join(puts, tail), Ordering::Release);
        self.nudge();
    }

    /// Raises `flag` and naps on `word` while it is `seen`; whether it is time to look around.
    fn sleep(
        flag: &AtomicU32,
        word: &AtomicU32,
        seen: u32,
        deadline: Option<Instant>,
        looks: &mut Looks,
    ) -> bool {
        flag.swap(1, Ordering::SeqCst);
        fence_for_model();
        looks.nap(word, seen, deadline)
    }

    /// After bumping `word` (SeqCst): wakes everyone asleep on it, if anyone raised `flag`.
    fn wake(flag: &AtomicU32, word: &AtomicU32) {
        fence_for_model();
        if flag.load(Ordering::SeqCst) != 0 && flag.swap(0, Ordering::SeqCst) != 0 {
            futex_wake(word, WAKE_ALL);
        }
    }

    /// Puts the record of `bytes` (at most `data`'s capacity less 4), waiting while the queue
    /// holds `maxsize` items (0: no bound) or the ring lacks room, until `deadline` (`None`: for
    /// ever), or until `peers.alone()` says that no one else holds the queue (asked after each
    /// `LOOK_AROUND` of sleep; then the put tries once more). `None` when `bytes` cannot fit.
    pub fn put(
        &self,
        data: &Data,
        bytes: &[u8],
        maxsize: u32,
        deadline: Option<Instant>,
        peers: &dyn Peers,
    ) -> Option<Put> {
        let need = u32::try_from(bytes.len())
            .ok()
            .and_then(|n| n.checked_add(LEN))
            .filter(|&n| n <= data.cap)?;
        let mut spins = 0;
        let mut last_try = false;
        let mut looks = Looks::default();
        loop {
            let (tried, seen) = match self.lock(peers, deadline) {
                Some(_locked) => self.try_put(data, bytes, need, maxsize),
                None => return Some(Put::Full),
            };
            match tried {
                Some(Put::Done) => {
                    Self::wake(&self.put.0.sleepers, &self.put.0.seq);
                    return Some(Put::Done);
                }
                Some(other) => return Some(other),
                None if last_try => return Some(Put::Alone),
                None => {}
            }
            // Full: wait for a get (or shutdown) to bump the gets' `seq` from what we saw.
            let side = (&self.get.0.sleepers, &self.get.0.seq);
            match Self::wait_turn(side, seen, deadline, &mut spins, &mut looks, peers) {
                Some(last) => last_try = last,
                None => return Some(Put::Full),
            }
        }
    }

    /// After a try that found no item (or no room): waits for the other side's `seq` (`side`:
    /// with its sleepers' flag) to move from `seen`, spinning, then napping. `None` once
    /// `deadline` has passed; else whether the next try is the last (a look-around found no one
    /// else holding the queue).
    fn wait_turn(
        (flag, word): (&AtomicU32, &AtomicU32),
        seen: u32,
        deadline: Option<Instant>,
        spins: &mut u32,
        looks: &mut Looks,
        peers: &dyn Peers,
    ) -> Option<bool> {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return None;
        }
        if Self::spin(word, seen, spins) {
            return Some(false);
        }
        let look = Self::sleep(flag, word, seen, deadline, looks);
        Some(look && peers.alone())
    }

    /// One put under the lock: the outcome (`None`: no room) and, when there is no room, the
    /// gets' `seq` as it was (read under the lock: a get after it bumps `seq` after our read).
    fn try_put(&self, data: &Data, bytes: &[u8], need: u32, maxsize: u32) -> (Option<Put>, u32) {
        if self.misc.0.shut.load(Ordering::Relaxed) != 0 {
            return (Some(Put::ShutDown), 0);
        }
        let (puts, tail) = split(self.put.0.tail.load(Ordering::Relaxed));
        let (gets, head) = split(self.get.0.head.load(Ordering::Relaxed));
        if !consistent(puts, tail, gets, head, data.cap) {
            self.reset();
            return (Some(Put::Corrupted), 0);
        }
        let used = tail.wrapping_sub(head);
        let queued = puts.wrapping_sub(gets);
        if (maxsize != 0 && queued >= maxsize) || data.cap - used < need {
            return (None, self.get.0.seq.load(Ordering::SeqCst));
        }
        // SAFETY: we hold the lock; the record fits in the `cap - used` free bytes from `tail`
        // on (checked above), so it overwrites no queued item.
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
    }

    /// Takes the next record into `buf` (its bytes alone), waiting for one until `deadline`
    /// (`None`: for ever), or until `peers.alone()` says that no one else holds the queue (as in
    /// [`put`](Self::put)). A record longer than `max_item` is corruption.
    pub fn get(
        &self,
        data: &Data,
        buf: &mut Vec<u8>,
        max_item: usize,
        deadline: Option<Instant>,
        peers: &dyn Peers,
    ) -> Get {
        let mut spins = 0;
        let mut last_try = false;
        let mut looks = Looks::default();
        loop {
            let (tried, seen) = match self.lock(peers, deadline) {
                Some(_locked) => self.try_get(data, buf, max_item),
                None => return Get::Empty,
            };
            match tried {
                Some(Get::Done) => {
                    Self::wake(&self.get.0.sleepers, &self.get.0.seq);
                    return Get::Done;
                }
                Some(other) => return other,
                None if last_try => return Get::Alone,
                None => {}
            }
            let side = (&self.put.0.sleepers, &self.put.0.seq);
            match Self::wait_turn(side, seen, deadline, &mut spins, &mut looks, peers) {
                Some(last) => last_try = last,
                None => return Get::Empty,
            }
        }
    }

    /// One get under the lock: the outcome (`None`: empty) and, when empty, the puts' `seq` as
    /// it was (read under the lock: a put after it bumps `seq` after our read).
    fn try_get(&self, data: &Data, buf: &mut Vec<u8>, max_item: usize) -> (Option<Get>, u32) {
        let (puts, tail) = split(self.put.0.tail.load(Ordering::Relaxed));
        let (gets, head) = split(self.get.0.head.load(Ordering::Relaxed));
        if !consistent(puts, tail, gets, head, data.cap) {
            self.reset();
            return (Some(Get::Corrupted), 0);
        }
        if puts == gets {
            let shut = self.misc.0.shut.load(Ordering::Relaxed) != 0;
            let seen = self.put.0.seq.load(Ordering::SeqCst);
            return (shut.then_some(Get::ShutDown), seen);
        }
        // SAFETY: we hold the lock; the words are consistent and an item is queued.
        let Some(len) = (unsafe { record_len(data, (puts, tail), (gets, head), max_item) }) else {
            self.reset();
            return (Some(Get::Corrupted), 0);
        };
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
    }

    /// Looks at `word` until it is no longer `seen` or this call's spins run out; whether it
    /// changed.
    fn spin(word: &AtomicU32, seen: u32, spins: &mut u32) -> bool {
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
        if self.puts() == done.wrapping_add(1) {
            Self::wake(&self.misc.0.join_sleepers, &self.misc.0.dones);
        }
        Ok(())
    }

    /// Waits until no item is unfinished, or `deadline`; whether none is.
    pub fn join_until(&self, deadline: Option<Instant>) -> bool {
        let mut looks = Looks::default();
        loop {
            let done = self.misc.0.dones.load(Ordering::SeqCst);
            if self.puts() == done {
                return true;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return false;
            }
            // Whether it is time to look around does not matter: a joiner only waits. (The
            // nap returns at once if an item was marked done since `done` was read; `puts`
            // only grows, so it cannot come back down to `done` meanwhile.)
            Self::sleep(
                &self.misc.0.join_sleepers,
                &self.misc.0.dones,
                done,
                deadline,
                &mut looks,
            );
        }
    }

    /// Shuts the queue down: later puts fail, gets drain what is left and then fail, and
    /// everyone asleep wakes to see it.
    pub fn shut(&self, peers: &dyn Peers) {
        let locked = self.lock(peers, None);
        self.misc.0.shut.store(1, Ordering::SeqCst);
        drop(locked);
        self.nudge();
    }

    /// Shuts the queue down at once: later puts fail, and every record queued is taken out,
    /// all of them under one hold of the lock (so each is either taken here or by exactly one
    /// get before), their bytes appended to `out` one after the other with each one's end in
    /// `ends`. The queue is then emptied with the items counted done (as [`reset`](Self::reset)
    /// does: `dones` first, then the read position) and everyone asleep wakes to see it, joiners
    /// included. Records are checked as a get checks them (`max_item` and the ring's words): at
    /// the first that cannot be right, the ones before it are kept and the rest dropped; `true`
    /// then (the ring was corrupted).
    pub fn shut_now(
        &self,
        data: &Data,
        max_item: usize,
        peers: &dyn Peers,
        out: &mut Vec<u8>,
        ends: &mut Vec<usize>,
    ) -> bool {
        let locked = self.lock(peers, None);
        self.misc.0.shut.store(1, Ordering::SeqCst);
        let (puts, tail) = split(self.put.0.tail.load(Ordering::Relaxed));
        let (mut gets, mut head) = split(self.get.0.head.load(Ordering::Relaxed));
        let mut corrupted = !consistent(puts, tail, gets, head, data.cap);
        while !corrupted && gets != puts {
            // SAFETY: we hold the lock; the words are consistent and an item is left.
            let Some(len) = (unsafe { record_len(data, (puts, tail), (gets, head), max_item) })
            else {
                corrupted = true;
                break;
            };
            let start = out.len();
            out.resize(start + len as usize, 0);
            // SAFETY: we hold the lock; the record's `len` bytes are queued (checked above).
            unsafe { data.read(head.wrapping_add(LEN), &mut out[start..]) };
            ends.push(out.len());
            gets = gets.wrapping_add(1);
            head = head.wrapping_add(LEN + len);
            // What is left must still be consistent (bytes exactly when items).
            corrupted = !consistent(puts, tail, gets, head, data.cap);
        }
        // Counts every item queued done (those taken here, and any past a bad record), empties
        // the ring, bumps both `seq`s and wakes every sleeper (joiners sleep on `dones`).
        self.reset();
        drop(locked);
        corrupted
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

/// The ring on ordinary memory (a `Vec` for the bytes, a box for the words), so that Miri can
/// check its byte copies and the bounds of every record it reads: `cargo +nightly miri test -p
/// weft-process --lib ring::` (the mapping and the other processes are not there; the futex is
/// Miri's).
#[cfg(all(test, not(weft_loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// One process: the lock's holder is always alive, and others always hold the queue.
    struct Alive;

    impl Peers for Alive {
        fn tag(&self) -> u32 {
            1
        }

        fn holds(&self, _tag: u32) -> bool {
            true
        }

        fn alone(&self) -> bool {
            false
        }
    }

    /// A ring of `cap` bytes on the heap, its words and its bytes.
    struct Heap {
        ring: Ring,
        data: Data,
        _bytes: Vec<u8>,
    }

    // SAFETY (for the tests): `data` points into `_bytes`, which lives as long as it.
    fn heap(cap: u32) -> Heap {
        let mut bytes = vec![0u8; cap as usize];
        // SAFETY: `cap` is a power of two; the bytes stay where they are (the `Vec` is never
        // grown) for as long as `data`, which is dropped with them.
        let data = unsafe { Data::new(bytes.as_mut_ptr(), cap) };
        Heap {
            ring: Ring::default(),
            data,
            _bytes: bytes,
        }
    }

    /// The record of item `i`: `i % 11` bytes, each `i` plus its index.
    fn record(i: u32) -> Vec<u8> {
        (0..i % 11).map(|k| (i + k) as u8).collect()
    }

    /// Records of 0 to 10 bytes through a ring of 32, many laps: records and their lengths are
    /// split at the ring's end in every way, and come out byte for byte. A put into a full ring
    /// answers `Full` at its deadline, a get from an empty one `Empty`.
    #[test]
    fn records_wrap_around_the_ring_byte_for_byte() {
        let q = heap(32);
        let now = Some(Instant::now());
        let mut buf = Vec::new();
        let (mut put, mut got) = (0u32, 0u32);
        while got < 60 {
            loop {
                match q.ring.put(&q.data, &record(put), 0, now, &Alive) {
                    Some(Put::Done) => put += 1,
                    Some(Put::Full) => break,
                    other => panic!("put: {other:?}"),
                }
            }
            for _ in 0..2 {
                assert_eq!(q.ring.get(&q.data, &mut buf, 64, now, &Alive), Get::Done);
                assert_eq!(buf, record(got));
                got += 1;
            }
        }
        while got < put {
            assert_eq!(q.ring.get(&q.data, &mut buf, 64, now, &Alive), Get::Done);
            assert_eq!(buf, record(got));
            got += 1;
        }
        assert_eq!(q.ring.get(&q.data, &mut buf, 64, now, &Alive), Get::Empty);
        // Too long for the ring at all.
        assert_eq!(q.ring.put(&q.data, &[0; 29], 0, now, &Alive), None);
    }

    /// `shut_now` takes out the records left, wrapped around the ring's end, in order.
    #[test]
    fn shut_now_takes_the_records_left_across_the_end() {
        let q = heap(32);
        let mut buf = Vec::new();
        for i in 0..3 {
            assert_eq!(
                q.ring.put(&q.data, &record(1 + i), 0, None, &Alive),
                Some(Put::Done)
            );
        }
        for i in 0..2 {
            assert_eq!(q.ring.get(&q.data, &mut buf, 64, None, &Alive), Get::Done);
            assert_eq!(buf, record(1 + i));
        }
        for i in 3..5 {
            assert_eq!(
                q.ring.put(&q.data, &record(1 + i), 0, None, &Alive),
                Some(Put::Done)
            );
        }
        let (mut out, mut ends) = (Vec::new(), Vec::new());
        assert!(!q.ring.shut_now(&q.data, 64, &Alive, &mut out, &mut ends));
        let mut expected = Vec::new();
        let mut expected_ends = Vec::new();
        for i in 2..5 {
            expected.extend(record(1 + i));
            expected_ends.push(expected.len());
        }
        assert_eq!((out, ends), (expected, expected_ends));
        assert_eq!(
            q.ring.get(&q.data, &mut buf, 64, None, &Alive),
            Get::ShutDown
        );
        // The two taken by `get` wait for their `task_done`; those taken out count done.
        assert_eq!(q.ring.unfinished(), 2);
    }

    /// Words and lengths that cannot be right are reported, and the ring emptied, without a
    /// byte read outside the ring (Miri would report it) or more than the record's bytes.
    #[test]
    fn impossible_words_and_lengths_are_reported_not_read() {
        let q = heap(32);
        let mut buf = Vec::new();
        // More bytes in use than the ring has.
        q.ring.put.0.tail.store(join(1, 40), Ordering::SeqCst);
        assert_eq!(
            q.ring.get(&q.data, &mut buf, 64, None, &Alive),
            Get::Corrupted
        );
        assert_eq!(q.ring.queued(), 0);
        // A record whose length says more than the bytes in use, starting near the end.
        for i in 0..5 {
            assert_eq!(
                q.ring.put(&q.data, &record(i + 5), 0, None, &Alive),
                Some(Put::Done)
            );
            assert_eq!(q.ring.get(&q.data, &mut buf, 64, None, &Alive), Get::Done);
        }
        assert_eq!(
            q.ring.put(&q.data, &[1, 2, 3], 0, None, &Alive),
            Some(Put::Done)
        );
        let (_, head) = split(q.ring.get.0.head.load(Ordering::SeqCst));
        // SAFETY: no other thread uses the ring.
        unsafe { q.data.write(head, &u32::MAX.to_le_bytes()) };
        assert_eq!(
            q.ring.get(&q.data, &mut buf, 64, None, &Alive),
            Get::Corrupted
        );
        // And one longer than `max_item`, in `shut_now`.
        assert_eq!(
            q.ring.put(&q.data, &[9; 20], 0, None, &Alive),
            Some(Put::Done)
        );
        let (mut out, mut ends) = (Vec::new(), Vec::new());
        assert!(q.ring.shut_now(&q.data, 8, &Alive, &mut out, &mut ends));
        assert!(out.is_empty() && ends.is_empty());
    }

    /// A putter and a getter on two threads through a ring that holds two or three records:
    /// each waits for the other (on the futex) again and again, and every record comes out once,
    /// in order, byte for byte.
    #[test]
    fn a_putter_and_a_getter_wait_for_each_other() {
        const N: u32 = 40;
        let q = Arc::new(heap(32));
        let putter = {
            let q = Arc::clone(&q);
            std::thread::spawn(move || {
                for i in 0..N {
                    let put = q.ring.put(&q.data, &record(i + 5), 0, None, &Alive);
                    assert_eq!(put, Some(Put::Done));
                }
            })
        };
        let mut buf = Vec::new();
        for i in 0..N {
            assert_eq!(q.ring.get(&q.data, &mut buf, 64, None, &Alive), Get::Done);
            assert_eq!(buf, record(i + 5));
        }
        putter.join().unwrap();
        assert_eq!(q.ring.queued(), 0);
        assert_eq!(q.ring.unfinished(), N);
    }
}
