//! The unbounded FIFO storage: a lock-free list of blocks of slots, whose tail index is also the
//! put count and whose shutdown flag is a mark bit of the tail, as in the ring (`ring.rs`): one
//! compare-and-swap of the tail reserves a slot, counts the put and checks for shutdown at once.
//!
//! The protocol is the one of crossbeam-channel's list flavour, written here: the head and tail
//! each hold an index and a pointer to their block; an index counts positions in units of
//! `1 << SHIFT` (the low bit of the tail is the shutdown mark), and each block of `LAP` positions
//! has `BLOCK_CAP = LAP - 1` slots: the last position of a block is a gap that means "this block
//! is full, the next one is being installed", waited out by the others. The put that takes a
//! block's last slot installs the next block (allocated before its compare-and-swap, or a spare
//! taken after it, see below); the get that takes a block's last slot moves the head to the next
//! block. Each slot has a state: a put stores `WRITE` once its value is in, a get waits for it
//! and stores `READ` once it has taken the value out; the get of a block's last slot frees the
//! block (or keeps it as a spare) once every slot shows `READ`.
//!
//! Unlike crossbeam's list, where the get of the last slot hands the freeing on to a get still
//! reading (a `DESTROY` bit, so both sides need a read-modify-write of the slot's state), here the
//! get of the last slot waits for the others, which are between their claim and their `READ`
//! store, a few instructions that never block. Both states are then plain stores: a put is one
//! compare-and-swap and a get one, as in the ring. The price: a get of a block's last slot can be
//! held up by another get that the scheduler stopped inside that window (on a machine with more
//! runnable threads than cores), where crossbeam's would go on and leave the freeing to it; it
//! keeps its item until then. (A get could already be held up the same way by the put of its own
//! slot.)
//!
//! A freed block is not always given back to the allocator. Until a put's compare-and-swap of
//! the tail fails because the tail moved (another put raced it, or a shutdown), the get that
//! frees a block resets it and keeps it as a spare (up to [`spare_limit`]), and the put that
//! installs the next block takes a spare instead of allocating one (a spare that `has_spare`
//! saw before the exchange is still there after it: only installing puts take spares, one at a
//! time). Without this, a stream from one thread to another allocates a block in the producer
//! and frees it in the consumer every `BLOCK_CAP` items, and glibc's allocator makes both take
//! the producer's arena lock: in the `spsc` bench, about one `futex` call per hundred items and
//! twice the time per item. Once the tail was seen to move under a put, the getters free their
//! blocks again: with several producers on this 2-core machine, reuse made `mpsc` and `mpmc`
//! about 40 % slower (blocks written by a getter just before a putter takes them, and producers
//! that no longer wait in the allocator take the CPU from the consumers). For the protocol a
//! reuse is the same event as the allocator handing the freed address back, which it may always
//! do; the hand-over (a release by the get, an acquire by the put) orders the block's reset
//! after its last read and before its next write.

use std::mem::MaybeUninit;
use std::ptr;

use crossbeam_utils::{Backoff, CachePadded};

use crate::loom::{
    fence, AtomicBool, AtomicPtr, AtomicU64, AtomicU8, Ordering, Progress, UnsafeCell,
};
use crate::ring::{First, Push};
use crate::waiters::{keep_first, raise_first};

/// Positions per block (one of them the gap). 64 rather than crossbeam's 32: a stream of items
/// allocates (or takes a spare) and frees a block half as often, and the gap's slot and the
/// block's `next` weigh half as much per item (a block of `u64` items is 584 bytes, 9.3 bytes an
/// item). The price is for large items: a block holds 63 of them whatever their size, and the
/// first is allocated with the queue (about 256 KiB for 4 KiB items, where 31 slots took 124; box
/// such items). Small under loom, so that models with a few items cross blocks and free them.
#[cfg(not(weft_loom))]
const LAP: u64 = 64;
#[cfg(weft_loom)]
const LAP: u64 = 3;
/// Slots per block.
const BLOCK_CAP: u64 = LAP - 1;
/// The index bits below the position.
const SHIFT: u32 = 1;
/// The shutdown mark of the tail index.
const MARK: u64 = 1;
/// The same bit of the head index: the head's block is not the last one, so the slots left in
/// it are all reserved and a get need not read the tail.
const HAS_NEXT: u64 = 1;

/// A slot's value is in.
const WRITE: u8 = 1;
/// A slot's value was taken out.
const READ: u8 = 2;

/// Slots per group: a group keeps its slots' states together, apart from their values.
const GROUP: usize = 8;
/// Groups per block.
const GROUPS: usize = (BLOCK_CAP as usize).div_ceil(GROUP);

/// `GROUP` slots: their values in one array, their states in another. A state byte beside each
/// value would pad the slot to the value's alignment (16 bytes for a `u64`); grouped, a `u64`
/// slot costs 9. `repr(C)` keeps the values first and the states after them, the order rustc
/// chose for `repr(Rust)` when the layout was timed (the size is the same either way: the
/// states need no alignment), so that a compiler update cannot move them. A `u64` item's state
/// is then at most 64 bytes from its value, in the same cache line for 27 of a block's 63 slots
/// and in the next one for the others (at any 16-byte-aligned block address). (With the states
/// of a whole block in one line and the values in others, a put and a get in step fetched two
/// lines an item, and `spsc` took twice as long in some runs.)
#[repr(C)]
struct Group<T> {
    values: [UnsafeCell<MaybeUninit<T>>; GROUP],
    /// Each slot's state: 0, then `WRITE`, then `WRITE | READ`.
    states: [AtomicU8; GROUP],
}

struct Block<T> {
    /// The next block, once installed.
    next: AtomicPtr<Block<T>>,
    /// The slots, `GROUP` a group; past `BLOCK_CAP`, unused.
    groups: [Group<T>; GROUPS],
}

impl<T> Block<T> {
    /// A new empty block, made in place on the heap: built on the stack and moved (which
    /// `Box::new` may do) it would take `BLOCK_CAP` items' worth of stack, and overflow a thread's
    /// stack for items of some KiB (as crossbeam's list did, crossbeam-rs/crossbeam#1146).
    #[cfg(not(weft_loom))]
    fn new() -> Box<Self> {
        let layout = std::alloc::Layout::new::<Self>();
        // SAFETY: `layout` is a `Block<T>`'s, whose size is not zero (it holds a pointer). A
        // null pointer (out of memory) goes to `handle_alloc_error`, which does not return.
        // All-zero bytes are a valid empty block: `next` null, every state 0, and the values
        // `MaybeUninit` (any bytes); std's atomics and `UnsafeCell` are plain memory. The
        // allocation is the global allocator's with the block's layout, as `Box` frees it.
        unsafe {
            let ptr = std::alloc::alloc_zeroed(layout).cast::<Self>();
            if ptr.is_null() {
                std::alloc::handle_alloc_error(layout);
            }
            Box::from_raw(ptr)
        }
    }

    /// Under loom the atomics are loom's, which are not plain memory: the block is built by value.
    #[cfg(weft_loom)]
    fn new() -> Box<Self> {
        Box::new(Self {
            next: AtomicPtr::new(ptr::null_mut()),
            groups: std::array::from_fn(|_| Group {
                states: std::array::from_fn(|_| AtomicU8::new(0)),
                values: std::array::from_fn(|_| UnsafeCell::new(MaybeUninit::uninit())),
            }),
        })
    }

    /// Makes a block whose values were all taken out as new (its `MaybeUninit` values drop
    /// nothing). The stores need no order of their own: the block is published again by a
    /// release (`free_block`).
    fn reset(&mut self) {
        self.next.store(ptr::null_mut(), Ordering::Relaxed);
        for group in &self.groups {
            for state in &group.states {
                state.store(0, Ordering::Relaxed);
            }
        }
    }

    /// The state of the slot at `offset` (below `BLOCK_CAP`).
    #[inline(always)]
    fn state(&self, offset: u64) -> &AtomicU8 {
        let i = offset as usize;
        &self.groups[i / GROUP].states[i % GROUP]
    }

    /// Whether every slot but the last shows `READ` (acquired), as the get of the last slot
    /// finds them when no other get is still taking its item out. One pass over the groups'
    /// state arrays, unrolled and without a branch per slot: with a branch and the index
    /// arithmetic of [`Block::state`] per slot, that check took about 7 % of `seq`'s time.
    #[inline]
    fn others_read(&self) -> bool {
        let mut all = READ;
        for (g, group) in self.groups.iter().enumerate() {
            for (s, state) in group.states.iter().enumerate() {
                if ((g * GROUP + s) as u64) < BLOCK_CAP - 1 {
                    all &= state.load(Ordering::Acquire);
                }
            }
        }
        all & READ != 0
    }

    /// The value of the slot at `offset` (below `BLOCK_CAP`).
    #[inline(always)]
    fn value(&self, offset: u64) -> &UnsafeCell<MaybeUninit<T>> {
        let i = offset as usize;
        &self.groups[i / GROUP].values[i % GROUP]
    }
}

/// The putters' end, and blocks the getters freed (null where none), which the puts that need a
/// block take instead of allocating one. The first spares share the line the putters write
/// anyway; a getter writes one once per block.
struct Tail<T> {
    end: End<T>,
    spares: [AtomicPtr<Block<T>>; SPARES],
}

/// The getters' end, and whether two puts ever raced for the tail: from then on the getters
/// free their blocks instead of keeping them as spares. On the getters' line, which they read
/// anyway; the putters write it once.
struct Head<T> {
    end: End<T>,
    contended: AtomicBool,
}

/// At most this many spare blocks stay with a queue that once held more, and no more than
/// `SPARE_BYTES` of them (14 blocks of `u64` items, 882 items): a producer that runs ahead of
/// its consumer by a burst of that many blocks still finds spares when it catches up (with
/// blocks of 31 slots, 8 spares left about one `futex` call per two thousand items in `spsc`).
/// Two under loom, where a model frees a block or two.
#[cfg(not(weft_loom))]
const SPARES: usize = 16;
#[cfg(weft_loom)]
const SPARES: usize = 2;
/// The most memory spare blocks may keep: fewer spares for larger items, none when one block is
/// larger.
const SPARE_BYTES: usize = 8 * 1024;

/// How many spares a list of `T` keeps.
#[inline]
fn spare_limit<T>() -> usize {
    if cfg!(weft_loom) {
        return SPARES;
    }
    (SPARE_BYTES / std::mem::size_of::<Block<T>>()).min(SPARES)
}

/// One end of the list: an index and its block.
struct End<T> {
    index: AtomicU64,
    block: AtomicPtr<Block<T>>,
}

pub(crate) struct List<T> {
    /// The getters' end, and the done count of the queue core, which the getters write.
    head: CachePadded<Head<T>>,
    done: CachePadded<AtomicU64>,
    /// The putters' end, and the spare blocks.
    tail: CachePadded<Tail<T>>,
    /// Lets an operation that found another one half done wait for it (only under loom).
    progress: Progress,
}

// SAFETY: a slot's value is written only by the put that reserved the slot (by moving the tail
// past it) and read only by the get that claimed it (by moving the head past it), ordered by
// the slot's `WRITE` state (release, acquire); a block is freed (or kept as a spare) by the get
// of its last slot, once every slot shows `READ` (release, acquire). Items move between
// threads, so `T: Send` is all it needs.
unsafe impl<T: Send> Send for List<T> {}
// SAFETY: as for `Send`.
unsafe impl<T: Send> Sync for List<T> {}

/// How many slots were passed to reach `index` (the gaps do not count).
#[inline]
fn count(index: u64) -> u64 {
    let pos = index >> SHIFT;
    (pos / LAP) * BLOCK_CAP + pos % LAP
}

impl<T> List<T> {
    pub(crate) fn new() -> Self {
        // The first block is there from the start, and the next one is always installed before
        // the tail moves on, so neither end ever points at no block.
        let first = Box::into_raw(Block::new());
        Self {
            head: CachePadded::new(Head {
                end: End {
                    index: AtomicU64::new(0),
                    block: AtomicPtr::new(first),
                },
                contended: AtomicBool::new(false),
            }),
            done: CachePadded::new(AtomicU64::new(0)),
            tail: CachePadded::new(Tail {
                end: End {
                    index: AtomicU64::new(0),
                    block: AtomicPtr::new(first),
                },
                spares: std::array::from_fn(|_| AtomicPtr::new(ptr::null_mut())),
            }),
            progress: Progress::new(),
        }
    }

    /// Adds `item` unless the list is shut down. A success is counted in [`List::puts`].
    ///
    /// As in the ring, the first attempt ([`List::push_first`], which the queue's `put` calls
    /// itself) is inline and small, for a slot that is not its block's last; anything else (the
    /// last slot, which installs the next block, the gap, a shutdown, a lost race) goes to
    /// [`List::push_slow`], which starts over.
    #[inline]
    pub(crate) fn push(&self, item: T) -> Result<(), Push<T>> {
        self.push_first(item).or_push(|item| self.push_slow(item))
    }

    /// The first attempt of a put: the item put, or `Again` for the loop (the block's last
    /// slot, the gap, a shutdown, a lost race). Nothing in it is a call. (It never answers: an
    /// unbounded list is never full.)
    #[inline(always)]
    pub(crate) fn push_first(&self, item: T) -> First<(), T> {
        // `SeqCst`: as in `push_slow`.
        let tail = self.tail.end.index.load(Ordering::SeqCst);
        let block = self.tail.end.block.load(Ordering::Acquire);
        let offset = (tail >> SHIFT) % LAP;
        if tail & MARK == 0 && offset + 1 < BLOCK_CAP {
            match self.tail.end.index.compare_exchange_weak(
                tail,
                tail + (1 << SHIFT),
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => {
                    // SAFETY: `block` was loaded after `tail`, and the exchange reserved the
                    // slot at `offset`, not the block's last.
                    unsafe { self.write(block, offset, item) };
                    return First::Done(());
                }
                Err(now) => self.note_race(tail, now),
            }
        }
        First::Again(item)
    }

    /// A put's exchange of the tail failed with the tail at `now` instead of `tail`: another
    /// put moved it (not a spurious failure of the weak exchange, which leaves it as it was; a
    /// shutdown's mark also counts, harmlessly), so the getters stop keeping spares.
    #[inline]
    fn note_race(&self, tail: u64, now: u64) {
        if now != tail && !self.head.contended.load(Ordering::Relaxed) {
            self.head.contended.store(true, Ordering::Relaxed);
        }
    }

    /// Writes `item` into the slot at `offset` of `block` and hands it to its get.
    ///
    /// # Safety
    /// The caller loaded `block` as the tail's block after it loaded the tail index, and then
    /// moved the tail from there past the slot at `offset` (below `BLOCK_CAP`). The tail was in
    /// `block` from the load of `block` to the exchange (indexes only grow, and the block
    /// changes only once the tail has reached the gap), so `block` is the reserved slot's
    /// block, which is not freed before the slot is read; the exchange gave this put the only
    /// right to write the slot, and its get waits for `WRITE` before reading.
    #[inline]
    unsafe fn write(&self, block: *const Block<T>, offset: u64, item: T) {
        // SAFETY: see the function's contract.
        let b = unsafe { &*block };
        b.value(offset).with_mut(|p| {
            // SAFETY: see the function's contract.
            unsafe { p.write(MaybeUninit::new(item)) };
        });
        // A store: nothing else writes the state before `WRITE`.
        b.state(offset).store(WRITE, Ordering::Release);
        self.progress.done();
    }

    /// [`List::push`] after its first attempt failed: the whole loop.
    #[cold]
    #[inline(never)]
    pub(crate) fn push_slow(&self, item: T) -> Result<(), Push<T>> {
        let backoff = Backoff::new();
        let mut ticket = None;
        // `SeqCst`: a putter that registered as a waiter and then reads no mark here is seen as
        // registered by the shutdown that sets the mark later.
        let mut tail = self.tail.end.index.load(Ordering::SeqCst);
        let mut block = self.tail.end.block.load(Ordering::Acquire);
        let mut next_block: Option<Box<Block<T>>> = None;
        loop {
            if tail & MARK != 0 {
                return Err(Push::ShutDown(item));
            }
            let offset = (tail >> SHIFT) % LAP;
            if offset == BLOCK_CAP {
                // The block is full and the put that took its last slot is installing the next.
                self.progress.wait(&mut ticket, &backoff);
                tail = self.tail.end.index.load(Ordering::SeqCst);
                block = self.tail.end.block.load(Ordering::Acquire);
                continue;
            }
            if offset + 1 == BLOCK_CAP && next_block.is_none() && !self.has_spare() {
                // This put may take the last slot: have the next block ready before the
                // compare-and-swap, so the others wait for no allocation. (A spare is taken
                // after it, a swap.)
                next_block = Some(Block::new());
            }
            let new_tail = tail + (1 << SHIFT);
            match self.tail.end.index.compare_exchange_weak(
                tail,
                new_tail,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => {
                    if offset + 1 == BLOCK_CAP {
                        // SAFETY: as for `write` below: `block` is the reserved slot's block,
                        // not freed before that slot is read.
                        let b = unsafe { &*block };
                        let next = next_block.take().unwrap_or_else(|| self.new_block());
                        let next = Box::into_raw(next);
                        self.tail.end.block.store(next, Ordering::Release);
                        // Past the gap. An add, not a store: a shutdown mark set meanwhile stays.
                        self.tail.end.index.fetch_add(1 << SHIFT, Ordering::SeqCst);
                        b.next.store(next, Ordering::Release);
                    }
                    // SAFETY: `block` was loaded after `tail`, and the exchange reserved the
                    // slot at `offset` (the last slot's next block is installed above).
                    unsafe { self.write(block, offset, item) };
                    return Ok(());
                }
                Err(now) => {
                    self.note_race(tail, now);
                    tail = now;
                    block = self.tail.end.block.load(Ordering::Acquire);
                    crate::loom::spin(&backoff);
                }
            }
        }
    }

    /// Takes the oldest item, if any. A slot reserved by a put that has not written it yet is
    /// waited for (the write never blocks), so `None` means no put was in progress either.
    ///
    /// As for [`List::push`], the first attempt ([`List::pop_first`]) is inline, for a slot that
    /// is not its block's last, and the rest in [`List::pop_slow`].
    #[inline]
    pub(crate) fn pop(&self) -> Option<T> {
        self.pop_first().or_pop(|| self.pop_slow())
    }

    /// The first attempt of a get: an item, `Answer` when the list is empty, `Again` for the
    /// loop (the block's last slot, a lost race). Waiting for a put that reserved the slot but
    /// has not written it yet is its one call.
    #[inline(always)]
    pub(crate) fn pop_first(&self) -> First<T, ()> {
        let head = self.head.end.index.load(Ordering::Acquire);
        let block = self.head.end.block.load(Ordering::Acquire);
        let offset = (head >> SHIFT) % LAP;
        if offset + 1 < BLOCK_CAP {
            let Some(new_head) = self.claim(head) else {
                return First::Answer(());
            };
            if self
                .head
                .end
                .index
                .compare_exchange_weak(head, new_head, Ordering::SeqCst, Ordering::Acquire)
                .is_ok()
            {
                // SAFETY: `block` was loaded after `head`, and the exchange claimed the slot at
                // `offset`, not the block's last.
                let b = unsafe { &*block };
                // SAFETY: the exchange claimed the slot.
                let item = unsafe { self.take(b, offset) };
                // The last access to the block by this get.
                b.state(offset).store(WRITE | READ, Ordering::Release);
                self.progress.done();
                return First::Done(item);
            }
        }
        First::Again(())
    }

    /// The head index a get at `head` (not at the gap) moves to, or `None` if the list is
    /// empty there.
    #[inline]
    fn claim(&self, head: u64) -> Option<u64> {
        let mut new_head = head + (1 << SHIFT);
        if head & HAS_NEXT == 0 {
            // Empty, unless a put reserved a slot already. (`SeqCst` fence: a getter that
            // registered as a waiter and finds no reservation here is seen by the put that
            // reserves one later.)
            fence(Ordering::SeqCst);
            let tail = self.tail.end.index.load(Ordering::Relaxed);
            if head >> SHIFT == tail >> SHIFT {
                return None;
            }
            if (head >> SHIFT) / LAP != (tail >> SHIFT) / LAP {
                // The tail is in a later block: every slot left in this one is reserved, so
                // the gets up to the next block need not read the tail.
                new_head |= HAS_NEXT;
            }
        }
        Some(new_head)
    }

    /// Takes the value out of `slot`, waiting for its put to write it first (the write never
    /// blocks).
    ///
    /// # Safety
    /// The caller moved the head past `slot` (its block was loaded after the head index, as in
    /// [`List::write`]): that gave it the only right to read the slot, whose block is not freed
    /// before this get stores `READ` (or frees it itself).
    #[inline]
    unsafe fn take(&self, block: &Block<T>, offset: u64) -> T {
        let state = block.state(offset);
        if state.load(Ordering::Acquire) & WRITE == 0 {
            self.wait_written(state);
        }
        block.value(offset).with_mut(|p| {
            // SAFETY: `WRITE` (acquired) says the put wrote the slot, and the contract gives
            // this get the only right to read it.
            unsafe { p.read().assume_init() }
        })
    }

    /// Waits for the put that reserved `slot` to write it.
    #[cold]
    #[inline(never)]
    fn wait_written(&self, state: &AtomicU8) {
        let backoff = Backoff::new();
        let mut ticket = None;
        while state.load(Ordering::Acquire) & WRITE == 0 {
            self.progress.wait(&mut ticket, &backoff);
        }
    }

    /// [`List::pop`] after its first attempt failed: the whole loop.
    #[cold]
    #[inline(never)]
    pub(crate) fn pop_slow(&self) -> Option<T> {
        let backoff = Backoff::new();
        let mut ticket = None;
        let mut head = self.head.end.index.load(Ordering::Acquire);
        let mut block = self.head.end.block.load(Ordering::Acquire);
        loop {
            let offset = (head >> SHIFT) % LAP;
            if offset == BLOCK_CAP {
                // The get that took the block's last slot is moving the head to the next block.
                self.progress.wait(&mut ticket, &backoff);
                head = self.head.end.index.load(Ordering::Acquire);
                block = self.head.end.block.load(Ordering::Acquire);
                continue;
            }
            let new_head = self.claim(head)?;
            match self.head.end.index.compare_exchange_weak(
                head,
                new_head,
                Ordering::SeqCst,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    // SAFETY: as for `write`: `block` is the block of the claimed slot, which
                    // this get has not read yet, so it is not freed.
                    let b = unsafe { &*block };
                    if offset + 1 == BLOCK_CAP {
                        // Move the head past the gap, to the next block: its installation
                        // comes with the put of this slot, which has reserved it already.
                        let next = loop {
                            let next = b.next.load(Ordering::Acquire);
                            if !next.is_null() {
                                break next;
                            }
                            self.progress.wait(&mut ticket, &backoff);
                        };
                        let mut next_index = (new_head & !HAS_NEXT) + (1 << SHIFT);
                        // SAFETY: the next block is not freed before its slots are read, which
                        // needs the head to move there first (below).
                        if !unsafe { &*next }.next.load(Ordering::Relaxed).is_null() {
                            next_index |= HAS_NEXT;
                        }
                        self.head.end.block.store(next, Ordering::Release);
                        self.head.end.index.store(next_index, Ordering::Release);
                    }
                    // SAFETY: the exchange claimed the slot.
                    let item = unsafe { self.take(b, offset) };
                    if offset + 1 == BLOCK_CAP {
                        // The last slot: free the block once the other gets are done with it
                        // (most often they are: one look at all the states first).
                        if !b.others_read() {
                            for other in 0..BLOCK_CAP - 1 {
                                while b.state(other).load(Ordering::Acquire) & READ == 0 {
                                    self.progress.wait(&mut ticket, &backoff);
                                }
                            }
                        }
                        // SAFETY: every slot was read (acquired above) and no other thread
                        // touches the block any more: the puts wrote their slots before these
                        // reads, the head has moved on, and only this get frees it. It was made
                        // by `Box::into_raw` in `new` or `push`.
                        self.free_block(unsafe { Box::from_raw(block) });
                    } else {
                        // The last access to the block by this get.
                        b.state(offset).store(WRITE | READ, Ordering::Release);
                    }
                    self.progress.done();
                    return Some(item);
                }
                Err(now) => {
                    head = now;
                    block = self.head.end.block.load(Ordering::Acquire);
                    crate::loom::spin(&backoff);
                }
            }
        }
    }

    /// Whether a spare looks available.
    #[inline]
    fn has_spare(&self) -> bool {
        self.spares()
            .iter()
            .any(|spare| !spare.load(Ordering::Relaxed).is_null())
    }

    /// The spare slots this list uses (see [`spare_limit`]).
    #[inline]
    fn spares(&self) -> &[AtomicPtr<Block<T>>] {
        &self.tail.spares[..spare_limit::<T>()]
    }

    /// A block for the next put to install: a spare, or a new one.
    fn new_block(&self) -> Box<Block<T>> {
        for spare in self.spares() {
            // A load first: a producer that runs ahead of its consumers finds no spare, and then
            // writes to no spare's line.
            if spare.load(Ordering::Relaxed).is_null() {
                continue;
            }
            let block = spare.swap(ptr::null_mut(), Ordering::Acquire);
            if !block.is_null() {
                // SAFETY: a spare came from `Box::into_raw` in `free_block`, and the swap took
                // it out, so no other thread has it; the acquire pairs with the release that
                // put it there, after which nothing touched it.
                return unsafe { Box::from_raw(block) };
            }
        }
        Block::new()
    }

    /// Keeps a block that no thread uses any more as a spare, or frees it: once puts were seen
    /// to race (`contended`), or when the spares are full.
    fn free_block(&self, mut block: Box<Block<T>>) {
        if self.head.contended.load(Ordering::Relaxed) {
            drop(block);
            return;
        }
        block.reset();
        let block = Box::into_raw(block);
        for spare in self.spares() {
            if spare.load(Ordering::Relaxed).is_null()
                && spare
                    .compare_exchange(ptr::null_mut(), block, Ordering::Release, Ordering::Relaxed)
                    .is_ok()
            {
                return;
            }
        }
        // SAFETY: it came from `Box::into_raw` just above and was not published.
        drop(unsafe { Box::from_raw(block) });
    }

    /// The done count kept for the queue core (see `Store::done`).
    #[inline]
    pub(crate) fn done(&self) -> &AtomicU64 {
        &self.done
    }

    /// Sets the shutdown mark: every later push fails. Returns the final put count.
    pub(crate) fn close(&self) -> u64 {
        count(self.tail.end.index.fetch_or(MARK, Ordering::SeqCst) & !MARK)
    }

    /// The number of successful pushes so far (reserved slots included).
    #[inline]
    pub(crate) fn puts(&self) -> u64 {
        count(self.tail.end.index.load(Ordering::SeqCst) & !MARK)
    }

    /// The number of successful pops so far (never more than [`List::puts`]).
    #[inline]
    pub(crate) fn pops(&self) -> u64 {
        count(self.head.end.index.load(Ordering::SeqCst))
    }

    /// The number of items held (reserved slots included).
    pub(crate) fn len(&self) -> usize {
        loop {
            let tail = self.tail.end.index.load(Ordering::SeqCst);
            let head = self.head.end.index.load(Ordering::SeqCst);
            if self.tail.end.index.load(Ordering::SeqCst) == tail {
                let n = count(tail & !MARK).saturating_sub(count(head));
                return usize::try_from(n).unwrap_or(usize::MAX);
            }
        }
    }
}

impl<T> Drop for List<T> {
    fn drop(&mut self) {
        // Drops what is left, each item even if an earlier one's `Drop` panicked (the first panic
        // then goes on), and frees every block.
        let mut panic = None;
        let mut head = self.head.end.index.load(Ordering::Relaxed);
        let tail = self.tail.end.index.load(Ordering::Relaxed) & !MARK;
        let mut block = self.head.end.block.load(Ordering::Relaxed);
        while head >> SHIFT != tail >> SHIFT {
            let offset = (head >> SHIFT) % LAP;
            // SAFETY: `&mut self`: no operation is in progress, so every block from the head's
            // on is allocated, and the slots between head and tail are written and unread.
            let b = unsafe { &*block };
            if offset == BLOCK_CAP {
                let next = b.next.load(Ordering::Relaxed);
                // SAFETY: every slot of this block was read or dropped above; it came from
                // `Box::into_raw`.
                drop(unsafe { Box::from_raw(block) });
                block = next;
            } else {
                let item = b.value(offset).with_mut(|p| {
                    // SAFETY: written (no put is in progress) and not read.
                    unsafe { p.read().assume_init() }
                });
                if let Err(payload) =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(item)))
                {
                    keep_first(&mut panic, payload);
                }
            }
            head += 1 << SHIFT;
        }
        // SAFETY: the tail's block, the last one; it came from `Box::into_raw`.
        drop(unsafe { Box::from_raw(block) });
        for b in &self.tail.spares {
            let spare = b.load(Ordering::Relaxed);
            if !spare.is_null() {
                // SAFETY: a spare is no list block (see `free_block`); it came from
                // `Box::into_raw`.
                drop(unsafe { Box::from_raw(spare) });
            }
        }
        raise_first(panic);
    }
}

#[cfg(all(test, not(weft_loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// A group keeps its values first and its states right after them, in the group's size
    /// (see [`Group`]): a `u64` item's state is 64 bytes on from the group's first value.
    #[test]
    fn a_groups_states_follow_its_values() {
        assert_eq!(std::mem::offset_of!(Group<u64>, values), 0);
        assert_eq!(std::mem::offset_of!(Group<u64>, states), 64);
        assert_eq!(std::mem::size_of::<Group<u64>>(), 72);
        assert_eq!(std::mem::size_of::<Group<u8>>(), 16);
        assert_eq!(std::mem::size_of::<Group<[u64; 2]>>(), 136);
    }

    /// [`Block::others_read`] looks at exactly the slots the waiting loop it stands in for
    /// waits on, `0..BLOCK_CAP - 1`: not the freeing get's own (`BLOCK_CAP - 1`, never marked
    /// `READ`) nor the unused ones past it, and every one of the others.
    #[test]
    fn others_read_checks_every_slot_but_the_last() {
        let block = Block::<u64>::new();
        assert!(!block.others_read(), "a new block");
        for other in 0..BLOCK_CAP - 1 {
            block.state(other).store(WRITE | READ, Ordering::Relaxed);
        }
        // The own slot and the unused positions are still 0.
        assert!(block.others_read(), "every other slot read");
        for other in 0..BLOCK_CAP - 1 {
            block.state(other).store(WRITE, Ordering::Relaxed);
            assert!(!block.others_read(), "slot {other} written, not read");
            block.state(other).store(WRITE | READ, Ordering::Relaxed);
        }
    }

    /// Items of every layout the grouped slots must hold (none, one byte, 16-byte aligned,
    /// 64-byte aligned, 4 KiB) go through three blocks and a spare taken back, and the list is
    /// dropped holding items: each comes out once, unchanged and in order, and is dropped once
    /// (under Miri also: no item or block leaked or freed twice, no read out of bounds).
    #[test]
    fn items_of_every_layout_cross_blocks_and_drop_once() {
        use std::cell::Cell;
        use std::fmt::Debug;

        thread_local!(static DROPS: Cell<usize> = const { Cell::new(0) });
        /// `T` counting its drops on this thread: the same size and alignment as `T`.
        struct Tracked<T>(T);
        impl<T> Drop for Tracked<T> {
            fn drop(&mut self) {
                DROPS.with(|d| d.set(d.get() + 1));
            }
        }
        #[derive(Debug, PartialEq)]
        #[repr(align(64))]
        struct Aligned64(u8);

        fn run<T: Debug + PartialEq>(make: impl Fn(u64) -> T) {
            assert_eq!(std::mem::size_of::<Tracked<T>>(), std::mem::size_of::<T>());
            DROPS.with(|d| d.set(0));
            let list = List::new();
            let (mut made, mut next) = (0u64, 0u64);
            let mut check = |list: &List<Tracked<T>>, k: u64| {
                for _ in 0..k {
                    let item = list.pop().expect("an item went missing");
                    assert_eq!(item.0, make(next), "item {next}");
                    next += 1;
                }
            };
            let mut put = |list: &List<Tracked<T>>, k: u64| {
                for _ in 0..k {
                    assert!(list.push(Tracked(make(made))).is_ok());
                    made += 1;
                }
            };
            // Two blocks and a bit; the first one taken out becomes a spare, which the block
            // after the third takes back.
            put(&list, 2 * BLOCK_CAP + 5);
            check(&list, BLOCK_CAP + 2);
            put(&list, BLOCK_CAP);
            check(&list, BLOCK_CAP);
            assert_eq!(DROPS.with(Cell::get), (2 * BLOCK_CAP + 2) as usize);
            assert_eq!(list.len(), (BLOCK_CAP + 3) as usize);
            drop(list);
            assert_eq!(
                DROPS.with(Cell::get),
                (3 * BLOCK_CAP + 5) as usize,
                "an item was not dropped, or twice"
            );
        }

        run(|_| ());
        run(|i| i as u8);
        run(|i| u128::from(i) << 64 | u128::MAX >> 65);
        run(|i| Aligned64(i as u8));
        run(|i| {
            let mut page = [0u8; 4096];
            page[0] = i as u8;
            page[4095] = !(i as u8);
            page
        });
    }

    /// One thread puts and gets across blocks: the get that frees a block resets it and keeps it
    /// as a spare, and the put that installs a block next takes it back instead of allocating
    /// one (the first block's address comes back as the third), with the items still in order.
    #[test]
    fn a_freed_block_comes_back_as_a_spare() {
        let list = List::new();
        let first = list.head.end.block.load(Ordering::Relaxed);
        let mut next = 0u64;
        let mut expected = 0u64;
        for round in 0..3 {
            for _ in 0..BLOCK_CAP {
                assert!(list.push(next).is_ok());
                next += 1;
            }
            if round == 1 {
                assert_eq!(list.tail.end.block.load(Ordering::Relaxed), first);
                assert!(!list.has_spare());
            }
            for _ in 0..BLOCK_CAP {
                assert_eq!(list.pop(), Some(expected));
                expected += 1;
            }
            let spare = list.spares()[0].load(Ordering::Relaxed);
            assert!(
                !spare.is_null(),
                "round {round}: the freed block is a spare"
            );
            if round == 0 {
                assert_eq!(spare, first);
            }
            // SAFETY: a spare is a live block that no thread uses (this test has the only one).
            let b = unsafe { &*spare };
            assert!(b.next.load(Ordering::Relaxed).is_null(), "next not reset");
            assert!(
                (0..BLOCK_CAP).all(|o| b.state(o).load(Ordering::Relaxed) == 0),
                "states not reset"
            );
        }
        assert_eq!(list.pop(), None);
    }

    /// A queue keeps no more spares than its limit (the rest go back to the allocator, and the
    /// spares with the list when it is dropped), and none for items so large that one block
    /// passes `SPARE_BYTES`.
    #[test]
    fn spares_stay_within_their_limit() {
        let list = List::new();
        let n = (SPARES as u64 + 2) * BLOCK_CAP;
        for i in 0..n {
            assert!(list.push(i).is_ok());
        }
        for i in 0..n {
            assert_eq!(list.pop(), Some(i));
        }
        let kept = |spares: &[AtomicPtr<Block<u64>>]| {
            spares
                .iter()
                .filter(|s| !s.load(Ordering::Relaxed).is_null())
                .count()
        };
        // A block of `u64` items is 584 bytes: 14 fit in `SPARE_BYTES`. One of `u32` items is 328
        // bytes, 24 of which would fit: the count limit holds them to `SPARES`.
        assert_eq!(std::mem::size_of::<Block<u64>>(), 584);
        assert_eq!(spare_limit::<u64>(), 14);
        assert_eq!(spare_limit::<u32>(), SPARES);
        assert_eq!(kept(list.spares()), 14);
        assert_eq!(kept(&list.tail.spares), 14);

        assert_eq!(spare_limit::<[u8; 1024]>(), 0);
        let big = List::new();
        for _ in 0..2 * BLOCK_CAP {
            assert!(big.push([7u8; 1024]).is_ok());
        }
        for _ in 0..2 * BLOCK_CAP {
            assert_eq!(big.pop(), Some([7u8; 1024]));
        }
        assert!(big
            .tail
            .spares
            .iter()
            .all(|s| s.load(Ordering::Relaxed).is_null()));
    }

    /// One putter and one getter on two threads, across many blocks: the blocks the getter frees
    /// come back to the putter as spares while it runs, and every item comes out once, in order.
    /// Small enough for Miri, which checks the hand-over of a reused block for data races.
    #[test]
    fn one_putter_one_getter_reuse_blocks() {
        // Under a watchdog: a lost item would leave the getter looping for it.
        crate::ring::tests::within_a_minute(one_putter_one_getter);
    }

    fn one_putter_one_getter() {
        const N: u64 = 8 * BLOCK_CAP;
        let list = Arc::new(List::new());
        let putter = {
            let list = Arc::clone(&list);
            std::thread::spawn(move || {
                for i in 0..N {
                    assert!(list.push(i).is_ok());
                }
            })
        };
        for i in 0..N {
            loop {
                if let Some(v) = list.pop() {
                    assert_eq!(v, i);
                    break;
                }
                std::thread::yield_now();
            }
        }
        putter.join().unwrap();
        assert!(!list.head.contended.load(Ordering::Relaxed));
        assert_eq!(list.pop(), None);
    }

    /// One putter (so the getters keep spares) and three getters, across several blocks: the get
    /// of a block's last slot frees it while other gets may still be taking their slots of it,
    /// and the block comes back to the putter as a spare. Every item comes out once. Small
    /// enough for Miri, which checks the wait for the other gets before the block is reset or
    /// freed (`cargo +nightly miri test -p weft-channel --lib`, several seeds). Under a
    /// watchdog: a lost item would leave the getters waiting for it.
    #[test]
    fn one_putter_three_getters_reuse_blocks() {
        crate::ring::tests::within_a_minute(one_putter_three_getters);
    }

    fn one_putter_three_getters() {
        const N: u64 = 6 * BLOCK_CAP;
        let list = Arc::new(List::new());
        let taken = Arc::new(AtomicU64::new(0));
        let getters: Vec<_> = (0..3)
            .map(|_| {
                let (list, taken) = (Arc::clone(&list), Arc::clone(&taken));
                std::thread::spawn(move || {
                    let mut got = Vec::new();
                    while taken.load(Ordering::SeqCst) < N {
                        match list.pop() {
                            Some(v) => {
                                got.push(v);
                                taken.fetch_add(1, Ordering::SeqCst);
                            }
                            None => std::thread::yield_now(),
                        }
                    }
                    got
                })
            })
            .collect();
        for i in 0..N {
            assert!(list.push(Box::new(i)).is_ok());
        }
        let mut got: Vec<u64> = getters
            .into_iter()
            .flat_map(|g| g.join().unwrap())
            .map(|b| *b)
            .collect();
        got.sort_unstable();
        assert_eq!(got, (0..N).collect::<Vec<_>>());
        assert!(!list.head.contended.load(Ordering::Relaxed));
        assert_eq!(list.pop(), None);
    }

    /// A list dropped holding items across three blocks, past a block freed into the spares and
    /// with a spare left: every item is dropped once, also those after one whose `Drop`
    /// panics (the panic then reaches the code dropping the list), and every block and spare is
    /// freed (Miri reports a leak or a double free otherwise).
    #[test]
    fn a_drop_frees_every_block_and_spare_past_a_panicking_item() {
        use crate::ring::tests::Counted;
        use std::sync::atomic::AtomicUsize;
        let drops = Arc::new(AtomicUsize::new(0));
        let item = |i: u64| Counted {
            value: i as usize,
            drops: Arc::clone(&drops),
            panics: i == BLOCK_CAP + 3,
        };
        let list = List::new();
        // One block's worth in and out: the block is a spare.
        for i in 0..BLOCK_CAP {
            assert!(list.push(item(i + 100)).is_ok());
        }
        for _ in 0..BLOCK_CAP {
            drop(list.pop());
        }
        assert!(list.has_spare());
        assert_eq!(drops.load(Ordering::SeqCst), BLOCK_CAP as usize);
        drops.store(0, Ordering::SeqCst);
        // Two and a half blocks (the second block is the spare taken back), the first few
        // taken out.
        let n = 2 * BLOCK_CAP + BLOCK_CAP / 2;
        for i in 0..n {
            assert!(list.push(item(i)).is_ok());
        }
        for _ in 0..3 {
            drop(list.pop());
        }
        assert_eq!(drops.load(Ordering::SeqCst), 3);
        let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(list)));
        assert!(dropped.is_err(), "the item's panic went on");
        assert_eq!(
            drops.load(Ordering::SeqCst),
            n as usize,
            "an item was not dropped, or twice"
        );
    }
}

/// A loom model of the list alone, in the loom step of `cargo xtask test` (`--lib`): through the
/// queue types the fences of their waiter checks order the threads on their own, which hid a
/// relaxed acquire of a spare.
#[cfg(all(test, weft_loom))]
mod models {
    use super::*;
    use crate::loom::Arc;

    /// One thread puts five items while another gets two (blocks of two slots): the block
    /// that the get of the second item frees may come back to the put of the fourth, whose
    /// install is followed by the put of the fifth, a write into the reused block. The get's
    /// release of the spare and the put's acquire order the get's reads before those writes;
    /// with either relaxed, loom reports the race on the slot.
    #[test]
    fn reuse_hand_over() {
        loom::model(|| {
            let list = Arc::new(List::new());
            let getter = {
                let list = Arc::clone(&list);
                loom::thread::spawn(move || {
                    let mut got = Vec::new();
                    while got.len() < 2 {
                        match list.pop() {
                            Some(v) => got.push(v),
                            None => loom::thread::yield_now(),
                        }
                    }
                    got
                })
            };
            for i in 0..5 {
                assert!(list.push(i).is_ok());
            }
            assert_eq!(getter.join().unwrap(), [0, 1]);
            let rest: Vec<i32> = (0..3).filter_map(|_| list.pop()).collect();
            assert_eq!(rest, [2, 3, 4]);
        });
    }
}
