//! The bounded FIFO storage of the task-tracking `Queue`: a ring buffer whose tail index is also
//! the put count and whose shutdown flag is a mark bit of the tail, so one compare-and-swap
//! reserves a slot, counts the put and checks for shutdown at once.
//!
//! The slot protocol is Dmitry Vyukov's bounded MPMC queue as crossbeam's array queue and
//! crossbeam-channel's array flavour write it: each slot has a stamp saying which lap may write
//! or read it next; `head` and `tail` hold a lap and an index. Since the tail only ever moves
//! forward, the number of puts ever made is a function of it ([`Ring::puts`]), and a put that
//! reserved a slot always completes (its write never blocks), so the queue core needs no count of
//! puts in progress: a getter that finds a reserved slot not yet written waits for the write.

use std::mem::MaybeUninit;

use crossbeam_utils::{Backoff, CachePadded};

use crate::loom::{fence, AtomicU64, Ordering, Progress, UnsafeCell};
use crate::waiters::drop_each;

/// What the first, inline look of a push or a pop found: its result, the answer it can give
/// at once (full, empty), or `Again`: the whole loop must run (see [`Ring::push`]).
pub(crate) enum First<D, R> {
    Done(D),
    Answer(R),
    Again(R),
}

impl<T> First<(), T> {
    /// A push's result from its first look: `Answer` is `Full`, and `again` (the loop) runs for
    /// `Again`.
    #[inline(always)]
    pub(crate) fn or_push(
        self,
        again: impl FnOnce(T) -> Result<(), Push<T>>,
    ) -> Result<(), Push<T>> {
        match self {
            First::Done(()) => Ok(()),
            First::Answer(item) => Err(Push::Full(item)),
            First::Again(item) => again(item),
        }
    }
}

impl<T> First<T, ()> {
    /// A pop's result from its first look: `Answer` is empty, and `again` (the loop) runs for
    /// `Again`.
    #[inline(always)]
    pub(crate) fn or_pop(self, again: impl FnOnce() -> Option<T>) -> Option<T> {
        match self {
            First::Done(item) => Some(item),
            First::Answer(()) => None,
            First::Again(()) => again(),
        }
    }
}

/// Why a push failed; the item comes back.
pub(crate) enum Push<T> {
    Full(T),
    ShutDown(T),
}

struct Slot<T> {
    /// `lap | index` of the push that may write this slot next, plus one once it is written (a
    /// pop may then read it); the next lap's push value once it was read.
    stamp: AtomicU64,
    value: UnsafeCell<MaybeUninit<T>>,
}

/// What the getters write: the head, and the done count of the queue core.
struct Front {
    /// The next slot to read: `lap | index`.
    head: AtomicU64,
    /// The items marked done by the queue core (`task_done` and the drain of
    /// `shutdown_immediate`), never more than [`Ring::puts`]; the unfinished count is the
    /// difference. It shares the getters' line, so puts touch no line but the tail, and a
    /// consumer's `task_done` writes a line its get already holds.
    done: AtomicU64,
}

pub(crate) struct Ring<T> {
    /// The getters' line.
    front: CachePadded<Front>,
    /// The next slot to write: `lap | mark | index`. Written by putters; `mark` once shut down.
    tail: CachePadded<AtomicU64>,
    slots: Box<[Slot<T>]>,
    /// Lets an operation that found another one half done wait for it (only under loom).
    progress: Progress,
    cap: u64,
    /// The shutdown bit of `tail`, above every index.
    mark: u64,
    /// One lap: the bit above `mark`.
    one_lap: u64,
    /// `one_lap.trailing_zeros()`.
    lap_shift: u32,
}

// SAFETY: a slot's value is written only by the push that reserved the slot (by moving `tail`
// past it) and read only by the pop that claimed it (by moving `head` past it), each ordered with
// the other by the slot's stamp (release store, acquire load); items move between threads, so
// `T: Send` is all that is needed.
unsafe impl<T: Send> Send for Ring<T> {}
// SAFETY: as for `Send`: every access to a slot's value is exclusive, handed over by its stamp.
unsafe impl<T: Send> Sync for Ring<T> {}

impl<T> Ring<T> {
    /// A ring of `cap` slots (`cap` at least 1; a larger bound than fits the index bits is not
    /// asked for: the queue uses a ring only up to 2^16 items).
    pub(crate) fn new(cap: usize) -> Self {
        let cap = cap.max(1);
        let slots: Box<[Slot<T>]> = (0..cap)
            .map(|i| Slot {
                stamp: AtomicU64::new(i as u64),
                value: UnsafeCell::new(MaybeUninit::uninit()),
            })
            .collect();
        let cap = cap as u64;
        let mark = (cap + 1).next_power_of_two();
        let one_lap = mark * 2;
        Self {
            front: CachePadded::new(Front {
                head: AtomicU64::new(0),
                done: AtomicU64::new(0),
            }),
            tail: CachePadded::new(AtomicU64::new(0)),
            slots,
            progress: Progress::new(),
            cap,
            mark,
            one_lap,
            lap_shift: one_lap.trailing_zeros(),
        }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// The position after `pos` (`lap | index`, no mark).
    #[inline]
    fn next(&self, pos: u64) -> u64 {
        let index = pos & (self.mark - 1);
        if index + 1 < self.cap {
            pos + 1
        } else {
            (pos & !(self.one_lap - 1)).wrapping_add(self.one_lap)
        }
    }

    #[inline]
    fn slot(&self, pos: u64) -> Option<&Slot<T>> {
        // The index is always below `cap`, the length of `slots`.
        self.slots.get((pos & (self.mark - 1)) as usize)
    }

    /// How many slots were passed to reach `pos`: laps times the capacity, plus the index. (It
    /// wraps after at least 2^62 puts.)
    #[inline]
    fn count(&self, pos: u64) -> u64 {
        (pos >> self.lap_shift)
            .wrapping_mul(self.cap)
            .wrapping_add(pos & (self.mark - 1))
    }

    /// Adds `item` unless the ring is full or shut down. A success is counted in [`Ring::puts`].
    ///
    /// The first look ([`Ring::push_first`]) is inline and small: it puts the item when the
    /// slot is free and answers `Full` when the ring is (a putter spinning on a full ring asks
    /// again and again, and the loop would read the slot's stamp, a line the getters write, a
    /// second time). Anything else (a shutdown, a lost race, a pop half done) goes to
    /// [`Ring::push_slow`], which starts over. The queue's `put` calls the first look itself
    /// and sends each other case to one out-of-line function, so that the put is a few dozen
    /// instructions with no call of its own, inlined where it is called (BENCHMARKS.md has what
    /// that did to `seq`).
    #[inline]
    pub(crate) fn push(&self, item: T) -> Result<(), Push<T>> {
        self.push_first(item).or_push(|item| self.push_slow(item))
    }

    /// The first look of a push: the item put, `Answer` when the ring is full, `Again` for the
    /// loop (a shutdown, a lost race, a pop half done). Nothing in it is a call.
    #[inline(always)]
    pub(crate) fn push_first(&self, item: T) -> First<(), T> {
        // `SeqCst`: as in `push_slow`.
        let tail = self.tail.load(Ordering::SeqCst);
        if tail & self.mark == 0 {
            if let Some(slot) = self.slot(tail) {
                let stamp = slot.stamp.load(Ordering::Acquire);
                if stamp == tail {
                    if self
                        .tail
                        .compare_exchange_weak(
                            tail,
                            self.next(tail),
                            Ordering::SeqCst,
                            Ordering::Relaxed,
                        )
                        .is_ok()
                    {
                        // SAFETY: the stamp said the slot is free for this lap and the exchange
                        // moved `tail` past it.
                        unsafe { self.write(slot, tail, item) };
                        return First::Done(());
                    }
                } else if stamp.wrapping_add(self.one_lap) == tail + 1 && self.full_at(tail) {
                    // Answered here, not by the loop, which would read the stamp's line (which
                    // a getter is writing) again: a spinning putter does this on every try.
                    return First::Answer(item);
                }
            }
        }
        First::Again(item)
    }

    /// Whether the ring is full, its slot at `tail` still holding last lap's item (the caller
    /// read that from the stamp): so unless a pop is taking that item now. (`SeqCst` fence: a
    /// putter that registered as a waiter and finds the ring full here is seen by the get that
    /// frees a slot later.)
    #[inline]
    fn full_at(&self, tail: u64) -> bool {
        fence(Ordering::SeqCst);
        let head = self.front.head.load(Ordering::Relaxed);
        head.wrapping_add(self.one_lap) == tail
    }

    /// Whether the ring is empty, its slot at `head` not written for this lap (the caller read
    /// that from the stamp): so unless a push has reserved it already. (`SeqCst` fence: a getter
    /// that registered as a waiter and finds the ring empty here is seen by the put that
    /// reserves a slot later.)
    #[inline]
    fn empty_at(&self, head: u64) -> bool {
        fence(Ordering::SeqCst);
        let tail = self.tail.load(Ordering::Relaxed);
        tail & !self.mark == head
    }

    /// Writes `item` into `slot`, reserved at `pos`, and hands it to its pop.
    ///
    /// # Safety
    /// The caller read the slot's stamp as `pos` (free for this lap) and then moved `tail` from
    /// `pos` past the slot: that gives it the only right to write the slot until the stamp says
    /// written, and the pop of the previous lap has moved the old value out.
    #[inline]
    unsafe fn write(&self, slot: &Slot<T>, pos: u64, item: T) {
        slot.value.with_mut(|p| {
            // SAFETY: see the function's contract.
            unsafe { p.write(MaybeUninit::new(item)) };
        });
        slot.stamp.store(pos + 1, Ordering::Release);
        self.progress.done();
    }

    /// Takes the value out of `slot`, claimed at `pos`, and frees the slot for the next lap.
    ///
    /// # Safety
    /// The caller read the slot's stamp as `pos + 1` (acquire: the push of this lap wrote it)
    /// and then moved `head` from `pos` past the slot, which gives it the only right to read it.
    #[inline]
    unsafe fn take(&self, slot: &Slot<T>, pos: u64) -> T {
        let item = slot.value.with_mut(|p| {
            // SAFETY: see the function's contract.
            unsafe { p.read().assume_init() }
        });
        slot.stamp
            .store(pos.wrapping_add(self.one_lap), Ordering::Release);
        self.progress.done();
        item
    }

    /// [`Ring::push`] after its first attempt found neither room nor a full ring: the whole
    /// loop.
    #[cold]
    #[inline(never)]
    pub(crate) fn push_slow(&self, item: T) -> Result<(), Push<T>> {
        let backoff = Backoff::new();
        // `SeqCst`: a putter that registered as a waiter and then reads no mark here is seen as
        // registered by the shutdown that sets the mark later.
        let mut tail = self.tail.load(Ordering::SeqCst);
        let mut ticket = None;
        loop {
            if tail & self.mark != 0 {
                return Err(Push::ShutDown(item));
            }
            let Some(slot) = self.slot(tail) else {
                return Err(Push::Full(item));
            };
            let stamp = slot.stamp.load(Ordering::Acquire);
            if stamp == tail {
                // The slot is free for this lap: reserve it. The compare fails if the mark was
                // set meanwhile, so no put lands after a shutdown.
                match self.tail.compare_exchange(
                    tail,
                    self.next(tail),
                    Ordering::SeqCst,
                    Ordering::SeqCst,
                ) {
                    Ok(_) => {
                        // SAFETY: the stamp said the slot is free for this lap and the exchange
                        // moved `tail` past it.
                        unsafe { self.write(slot, tail, item) };
                        return Ok(());
                    }
                    Err(now) => {
                        tail = now;
                        crate::loom::spin(&backoff);
                    }
                }
            } else if stamp.wrapping_add(self.one_lap) == tail + 1 {
                // The slot still holds last lap's item: full, unless a pop is taking it now.
                if self.full_at(tail) {
                    return Err(Push::Full(item));
                }
                self.progress.wait(&mut ticket, &backoff);
                tail = self.tail.load(Ordering::SeqCst);
            } else {
                // Another push moved the tail past this position: look again.
                self.progress.wait(&mut ticket, &backoff);
                tail = self.tail.load(Ordering::SeqCst);
            }
        }
    }

    /// Takes the oldest item, if any. A slot reserved by a push that has not written it yet is
    /// waited for (the write never blocks), so `None` means no put was in progress either.
    ///
    /// As for [`Ring::push`], the first look ([`Ring::pop_first`]) is inline (an item, or `None`
    /// when empty) and the rest in [`Ring::pop_slow`].
    #[inline]
    pub(crate) fn pop(&self) -> Option<T> {
        self.pop_first().or_pop(|| self.pop_slow())
    }

    /// The first look of a pop: an item, `Answer` when the ring is empty, `Again` for the loop.
    /// Nothing in it is a call.
    #[inline(always)]
    pub(crate) fn pop_first(&self) -> First<T, ()> {
        let head = self.front.head.load(Ordering::Relaxed);
        let Some(slot) = self.slot(head) else {
            return First::Answer(());
        };
        let stamp = slot.stamp.load(Ordering::Acquire);
        if stamp == head + 1 {
            if self
                .front
                .head
                .compare_exchange_weak(head, self.next(head), Ordering::SeqCst, Ordering::Relaxed)
                .is_ok()
            {
                // SAFETY: the stamp said written for this lap and the exchange moved `head`
                // past the slot.
                return First::Done(unsafe { self.take(slot, head) });
            }
        } else if stamp == head && self.empty_at(head) {
            // Answered here, as a full ring is in `push`.
            return First::Answer(());
        }
        First::Again(())
    }

    /// [`Ring::pop`] after its first attempt found neither an item nor an empty ring: the whole
    /// loop.
    #[cold]
    #[inline(never)]
    pub(crate) fn pop_slow(&self) -> Option<T> {
        let backoff = Backoff::new();
        let mut head = self.front.head.load(Ordering::Relaxed);
        let mut ticket = None;
        loop {
            let slot = self.slot(head)?;
            let stamp = slot.stamp.load(Ordering::Acquire);
            if head + 1 == stamp {
                match self.front.head.compare_exchange(
                    head,
                    self.next(head),
                    Ordering::SeqCst,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        // SAFETY: the stamp said written for this lap and the exchange moved
                        // `head` past the slot.
                        return Some(unsafe { self.take(slot, head) });
                    }
                    Err(now) => {
                        head = now;
                        crate::loom::spin(&backoff);
                    }
                }
            } else if stamp == head {
                // Not written for this lap: empty, unless a push reserved the slot already.
                if self.empty_at(head) {
                    return None;
                }
                self.progress.wait(&mut ticket, &backoff);
                head = self.front.head.load(Ordering::Relaxed);
            } else {
                // Another pop moved the head past this position: look again.
                self.progress.wait(&mut ticket, &backoff);
                head = self.front.head.load(Ordering::Relaxed);
            }
        }
    }

    /// Whether the slot at the head is not written yet, read without the fence and the tail's
    /// line that `pop` needs (a hint for a spinning getter).
    #[inline]
    pub(crate) fn looks_empty(&self) -> bool {
        let head = self.front.head.load(Ordering::Relaxed);
        self.slot(head)
            .is_some_and(|s| s.stamp.load(Ordering::Relaxed) != head + 1)
    }

    /// Whether the ring is still full an eighth of its slots ahead of the tail: a spinning
    /// putter then waits until the getters have freed that many, instead of taking each slot
    /// the moment it is freed (which moves the slot's line between them on every item). Reads
    /// one slot's stamp, a line the putter needs anyway.
    #[inline]
    pub(crate) fn looks_full(&self) -> bool {
        let tail = self.tail.load(Ordering::Relaxed) & !self.mark;
        let ahead = self.advance(tail, (self.cap - 1) / 8);
        self.slot(ahead)
            .is_some_and(|s| s.stamp.load(Ordering::Relaxed) != ahead)
    }

    /// The position `k` slots after `pos` (`k` below the capacity).
    #[inline]
    fn advance(&self, pos: u64, k: u64) -> u64 {
        let index = pos & (self.mark - 1);
        if index + k < self.cap {
            pos + k
        } else {
            (pos & !(self.one_lap - 1))
                .wrapping_add(self.one_lap)
                .wrapping_add(index + k - self.cap)
        }
    }

    /// The done count kept for the queue core (see `Front::done`).
    #[inline]
    pub(crate) fn done(&self) -> &AtomicU64 {
        &self.front.done
    }

    /// Sets the shutdown mark: every later push fails. Returns the final put count.
    pub(crate) fn close(&self) -> u64 {
        let tail = self.tail.fetch_or(self.mark, Ordering::SeqCst);
        self.count(tail & !self.mark)
    }

    /// The number of successful pushes so far.
    #[inline]
    pub(crate) fn puts(&self) -> u64 {
        self.count(self.tail.load(Ordering::SeqCst) & !self.mark)
    }

    /// The number of successful pops so far (never more than [`Ring::puts`]).
    #[inline]
    pub(crate) fn pops(&self) -> u64 {
        self.count(self.front.head.load(Ordering::SeqCst))
    }

    /// The number of items held (reserved slots included).
    pub(crate) fn len(&self) -> usize {
        loop {
            let tail = self.tail.load(Ordering::SeqCst);
            let head = self.front.head.load(Ordering::SeqCst);
            if self.tail.load(Ordering::SeqCst) == tail {
                let n = self
                    .count(tail & !self.mark)
                    .saturating_sub(self.count(head))
                    .min(self.cap);
                return usize::try_from(n).unwrap_or(usize::MAX);
            }
        }
    }
}

impl<T> Drop for Ring<T> {
    fn drop(&mut self) {
        drop_each(|| self.pop());
    }
}

#[cfg(all(test, not(weft_loom)))]
pub(crate) mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;

    /// Counts its drops; the one made with `panics` panics in its `Drop` (also used by the
    /// list's tests).
    pub(crate) struct Counted {
        pub(crate) value: usize,
        pub(crate) drops: Arc<AtomicUsize>,
        pub(crate) panics: bool,
    }

    impl Drop for Counted {
        fn drop(&mut self) {
            self.drops.fetch_add(1, Ordering::SeqCst);
            if self.panics {
                panic!("a panicking drop");
            }
        }
    }

    /// Runs `f` on a thread of its own and gives its result, or fails the test when `f` has not
    /// returned within a minute: a regression that loses an item or loops fails instead of
    /// hanging the run (also used by the list's and the waiters' tests). A panic in `f` goes on.
    pub(crate) fn within_a_minute<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        use std::sync::mpsc::{channel, RecvTimeoutError};
        let (done_tx, done_rx) = channel::<()>();
        let worker = std::thread::spawn(move || {
            let out = f();
            let _ = done_tx.send(());
            out
        });
        match done_rx.recv_timeout(std::time::Duration::from_secs(60)) {
            // Returned, or panicked (the sender dropped): the join gives either.
            Ok(()) | Err(RecvTimeoutError::Disconnected) => worker
                .join()
                .unwrap_or_else(|payload| std::panic::resume_unwind(payload)),
            Err(RecvTimeoutError::Timeout) => panic!("the test did not return within a minute"),
        }
    }

    /// A ring of three slots goes around several laps, full and empty in turn (the `Full`
    /// answer gives the item back), and is dropped holding items that wrap past its end: each
    /// is dropped once, also those after one whose `Drop` panics (the panic then reaches the
    /// code dropping the ring). Under Miri this checks the reads and writes of the slots
    /// across laps, and that no item is read twice or left behind.
    #[test]
    fn laps_and_a_drop_of_wrapped_items_past_a_panicking_one() {
        let drops = Arc::new(AtomicUsize::new(0));
        let item = |value: usize, panics: bool| Counted {
            value,
            drops: Arc::clone(&drops),
            panics,
        };
        let ring = Ring::new(3);
        let mut next = 0;
        let mut expected = 0;
        for _ in 0..5 {
            while let Ok(()) = ring.push(item(next, false)) {
                next += 1;
            }
            match ring.push(item(usize::MAX, false)) {
                Err(Push::Full(back)) => assert_eq!(back.value, usize::MAX),
                _ => panic!("a full ring took an item"),
            }
            assert_eq!(ring.len(), 3);
            for _ in 0..2 {
                assert_eq!(ring.pop().map(|c| c.value), Some(expected));
                expected += 1;
            }
        }
        // One item left at slot `next % 3`; two more wrap around the end.
        assert!(ring.push(item(next, true)).is_ok());
        assert!(ring.push(item(next + 1, false)).is_ok());
        assert_eq!(ring.len(), 3);
        let before = drops.load(Ordering::SeqCst);
        let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(ring)));
        assert!(dropped.is_err(), "the item's panic went on");
        assert_eq!(drops.load(Ordering::SeqCst) - before, 3);
    }
}
