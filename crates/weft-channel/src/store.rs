//! Where the items live. Every store counts its puts and gets and carries the shutdown mark
//! itself, so a put checks for shutdown, adds its item and counts it in one step and the queue
//! core keeps no count of puts in progress: bounded FIFO queues (bounds up to `RING_LIMIT`) use
//! weft's own ring buffer (`ring.rs`), whose tail word is all three, and unbounded ones weft's
//! own list of blocks (`list.rs`), whose tail word is the same; FIFO queues with larger bounds,
//! LIFO and priority queues keep their items under a mutex (`locked.rs`).

use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::list::List;
use crate::locked::{Deque, Items, Sorted, Stack};
use crate::loom::AtomicU64;
use crate::ring::{First, Push, Ring};

/// The operations the queue core needs from its storage.
pub(crate) trait Store<T>: Send + Sync {
    /// Adds `item`, or gives it back when full or shut down (see [`Store::close`]). A success is
    /// counted in [`Store::puts`].
    fn push(&self, item: T) -> Result<(), Push<T>>;
    /// Takes the next item, if any. `None` means no put was in progress either.
    fn pop(&self) -> Option<T>;
    /// The first, inline attempt of [`Store::push`] alone, where the storage has one that
    /// calls nothing: the item put, `Answer` with the item when the storage is full now, or
    /// `Again` with the item for [`Store::push_again`] (anything else; always, by default).
    /// The queue's `put` runs this itself and sends every other case to one out-of-line
    /// function, which keeps it small enough to inline into its callers.
    #[inline]
    fn push_first(&self, item: T) -> First<(), T> {
        First::Again(item)
    }
    /// The first attempt of [`Store::pop`] alone, as [`Store::push_first`]: an item, `Answer`
    /// when the storage is empty now, or `Again` for [`Store::pop_again`].
    #[inline]
    fn pop_first(&self) -> First<T, ()> {
        First::Again(())
    }
    /// What [`Store::push`] does once its first attempt said `Again` (the loop, which starts
    /// over); by default the whole `push`.
    #[inline]
    fn push_again(&self, item: T) -> Result<(), Push<T>> {
        self.push(item)
    }
    /// What [`Store::pop`] does once its first attempt said `Again`, as [`Store::push_again`].
    #[inline]
    fn pop_again(&self) -> Option<T> {
        self.pop()
    }
    /// The number of items held.
    fn len(&self) -> usize;
    /// The bound, if any.
    fn capacity(&self) -> Option<usize>;
    /// Sets the shutdown mark: every later push fails. Returns the final put count.
    fn close(&self) -> u64;
    /// The number of successful pushes so far.
    fn puts(&self) -> u64;
    /// The number of successful pops so far (never more than [`Store::puts`]).
    fn pops(&self) -> u64;
    /// The items marked done by the queue core (`task_done` and the drain of
    /// `shutdown_immediate`), never more than [`Store::puts`]; the unfinished count is the
    /// difference. It lives on a line the getters write, next to what a get touches.
    fn done(&self) -> &AtomicU64;
    /// Whether the storage looks empty, read without writing anything (a hint: a spinning getter
    /// then does not take a lock the putters need). `false` where a pop writes nothing anyway.
    fn looks_empty(&self) -> bool {
        false
    }
    /// Whether the storage looks full, read as [`Store::looks_empty`].
    fn looks_full(&self) -> bool {
        false
    }
}

/// Implements [`Store`] by handing each call to the inherent method of the same name.
macro_rules! delegate_store {
    () => {
        #[inline]
        fn push(&self, item: T) -> Result<(), Push<T>> {
            Self::push(self, item)
        }
        #[inline]
        fn pop(&self) -> Option<T> {
            Self::pop(self)
        }
        fn len(&self) -> usize {
            Self::len(self)
        }
        fn capacity(&self) -> Option<usize> {
            Self::capacity(self)
        }
        fn close(&self) -> u64 {
            Self::close(self)
        }
        #[inline]
        fn puts(&self) -> u64 {
            Self::puts(self)
        }
        #[inline]
        fn pops(&self) -> u64 {
            Self::pops(self)
        }
        #[inline]
        fn done(&self) -> &AtomicU64 {
            Self::done(self)
        }
        #[inline]
        fn looks_empty(&self) -> bool {
            Self::looks_empty(self)
        }
        #[inline]
        fn looks_full(&self) -> bool {
            Self::looks_full(self)
        }
    };
}

/// FIFO storage: weft's own bounded ring buffer (allocated up front) for bounds up to
/// `RING_LIMIT`, weft's own lock-free list of blocks when unbounded, and a deque under a mutex
/// for larger bounds (a bound the list cannot check in its one compare-and-swap).
pub(crate) enum Fifo<T> {
    Ring(Ring<T>),
    List(List<T>),
    Deque(Deque<T>),
}

/// The largest bound that gets a ring buffer allocated up front.
const RING_LIMIT: usize = 1 << 16;

impl<T: Send> Fifo<T> {
    /// `cap` must not be `Some(0)`.
    pub(crate) fn new(cap: Option<usize>) -> Self {
        match cap {
            Some(cap) if cap <= RING_LIMIT => Self::Ring(Ring::new(cap)),
            Some(cap) => Self::Deque(Deque::new(Some(cap))),
            None => Self::List(List::new()),
        }
    }
}

/// Runs `$body` on whichever store `$self` holds, as `$q`.
macro_rules! fifo {
    ($self:expr, $q:ident => $body:expr) => {
        match $self {
            Fifo::Ring($q) => $body,
            Fifo::List($q) => $body,
            Fifo::Deque($q) => $body,
        }
    };
}

/// The deque's push, called rather than inlined (see `Fifo`'s `push`).
#[inline(never)]
fn deque_push<T: Send>(q: &Deque<T>, item: T) -> Result<(), Push<T>> {
    q.push(item)
}

/// The deque's pop, called rather than inlined.
#[inline(never)]
fn deque_pop<T: Send>(q: &Deque<T>) -> Option<T> {
    q.pop()
}

impl<T: Send> Store<T> for Fifo<T> {
    // The deque's steps take a lock and are called, not inlined: the queue's `put` and `get`
    // then hold only the ring's and the list's short first attempts.
    #[inline]
    fn push(&self, item: T) -> Result<(), Push<T>> {
        match self {
            Fifo::Ring(q) => q.push(item),
            Fifo::List(q) => q.push(item),
            Fifo::Deque(q) => deque_push(q, item),
        }
    }
    #[inline]
    fn pop(&self) -> Option<T> {
        match self {
            Fifo::Ring(q) => q.pop(),
            Fifo::List(q) => q.pop(),
            Fifo::Deque(q) => deque_pop(q),
        }
    }
    #[inline]
    fn push_first(&self, item: T) -> First<(), T> {
        match self {
            Fifo::Ring(q) => q.push_first(item),
            Fifo::List(q) => q.push_first(item),
            Fifo::Deque(_) => First::Again(item),
        }
    }
    #[inline]
    fn pop_first(&self) -> First<T, ()> {
        match self {
            Fifo::Ring(q) => q.pop_first(),
            Fifo::List(q) => q.pop_first(),
            Fifo::Deque(_) => First::Again(()),
        }
    }
    fn push_again(&self, item: T) -> Result<(), Push<T>> {
        match self {
            Fifo::Ring(q) => q.push_slow(item),
            Fifo::List(q) => q.push_slow(item),
            Fifo::Deque(q) => deque_push(q, item),
        }
    }
    fn pop_again(&self) -> Option<T> {
        match self {
            Fifo::Ring(q) => q.pop_slow(),
            Fifo::List(q) => q.pop_slow(),
            Fifo::Deque(q) => deque_pop(q),
        }
    }
    fn len(&self) -> usize {
        fifo!(self, q => q.len())
    }
    fn capacity(&self) -> Option<usize> {
        match self {
            Fifo::Ring(q) => Some(q.capacity()),
            Fifo::List(_) => None,
            Fifo::Deque(q) => q.capacity(),
        }
    }
    fn close(&self) -> u64 {
        fifo!(self, q => q.close())
    }
    #[inline]
    fn puts(&self) -> u64 {
        fifo!(self, q => q.puts())
    }
    #[inline]
    fn pops(&self) -> u64 {
        fifo!(self, q => q.pops())
    }
    #[inline]
    fn done(&self) -> &AtomicU64 {
        fifo!(self, q => q.done())
    }
    #[inline]
    fn looks_empty(&self) -> bool {
        match self {
            Fifo::Ring(q) => q.looks_empty(),
            Fifo::Deque(q) => q.looks_empty(),
            Fifo::List(_) => false,
        }
    }
    #[inline]
    fn looks_full(&self) -> bool {
        match self {
            Fifo::Ring(q) => q.looks_full(),
            Fifo::Deque(q) => q.looks_full(),
            Fifo::List(_) => false,
        }
    }
}

/// LIFO storage: a stack under a mutex.
pub(crate) type Lifo<T> = Stack<T>;

impl<T: Send> Store<T> for Lifo<T> {
    delegate_store!();
}

/// Priority storage: a binary min-heap over a `Vec` under a mutex, written with swaps only, so a
/// panicking `Ord` can never lose or duplicate an item: the panic is contained, the operation
/// completes, and the heap is rebuilt before its next use.
pub(crate) type Prio<T> = Sorted<T, Heap<T>>;

impl<T: Ord + Send> Store<T> for Prio<T> {
    delegate_store!();
}

/// The priority store's items.
pub(crate) struct Heap<T> {
    items: Vec<T>,
    /// A comparison panicked: the heap order may be broken until the next rebuild.
    dirty: bool,
}

impl<T: Ord> Heap<T> {
    fn sift_up(&mut self, mut i: usize) {
        while i > 0 {
            let parent = (i - 1) / 2;
            if self.items[i] < self.items[parent] {
                self.items.swap(i, parent);
                i = parent;
            } else {
                break;
            }
        }
    }

    fn sift_down(&mut self, mut i: usize) {
        let n = self.items.len();
        loop {
            let (l, r) = (2 * i + 1, 2 * i + 2);
            let mut smallest = i;
            if l < n && self.items[l] < self.items[smallest] {
                smallest = l;
            }
            if r < n && self.items[r] < self.items[smallest] {
                smallest = r;
            }
            if smallest == i {
                return;
            }
            self.items.swap(i, smallest);
            i = smallest;
        }
    }

    /// Restores the heap order after a panic, if it can (a comparison may panic again: then the
    /// heap stays marked and is rebuilt at the next use).
    fn repair(&mut self) {
        if !self.dirty {
            return;
        }
        self.dirty = false;
        self.sift(|heap| {
            for i in (0..heap.items.len() / 2).rev() {
                heap.sift_down(i);
            }
        });
    }

    /// Runs a sift under `catch_unwind`: if a comparison panics, the heap is marked for a
    /// rebuild and the panic's payload dropped (with `drop_payload`: a payload whose own `Drop`
    /// panics must not escape either, or the put or get would not complete).
    fn sift(&mut self, f: impl FnOnce(&mut Self)) {
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| f(self))) {
            self.dirty = true;
            crate::waiters::drop_payload(payload);
        }
    }
}

impl<T> Drop for Heap<T> {
    fn drop(&mut self) {
        // In the `Vec`'s order, as its own drop would.
        let mut items = std::mem::take(&mut self.items).into_iter();
        crate::waiters::drop_each(|| items.next());
    }
}

impl<T> Default for Heap<T> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            dirty: false,
        }
    }
}

impl<T: Ord + Send> Items<T> for Heap<T> {
    fn put(&mut self, item: T) {
        self.repair();
        self.items.push(item);
        let last = self.items.len() - 1;
        self.sift(|heap| heap.sift_up(last));
    }

    fn take(&mut self) -> Option<T> {
        self.repair();
        if self.items.is_empty() {
            return None;
        }
        let item = self.items.swap_remove(0);
        if let Some(cap) = crate::locked::shrunk(self.items.len(), self.items.capacity()) {
            self.items.shrink_to(cap);
        }
        self.sift(|heap| heap.sift_down(0));
        Some(item)
    }

    fn count(&self) -> usize {
        self.items.len()
    }
}

#[cfg(all(test, not(weft_loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// The heap gives its buffer back as it empties, as the deque and the stack do, and keeps
    /// the order on the way.
    #[test]
    #[cfg_attr(miri, ignore = "100 000 items: too slow under Miri")]
    fn the_heap_shrinks_as_it_empties() {
        let mut heap = Heap::default();
        for i in (0..100_000u32).rev() {
            heap.put(i);
        }
        assert!(heap.items.capacity() >= 100_000);
        for i in 0..100_000 {
            assert_eq!(heap.take(), Some(i));
        }
        assert_eq!(heap.take(), None);
        assert!(
            heap.items.capacity() <= 2048,
            "kept {}",
            heap.items.capacity()
        );
    }

    /// Two putters and two getters move items through `store` (a putter that finds it full
    /// tries again); each item comes out once, the counts agree, and the items left at the end
    /// are dropped with the store. Small enough for Miri (`cargo +nightly miri test -p
    /// weft-channel --lib`), which checks the slot hand-overs (the first attempts and the
    /// retry loops), and for the list the block freeing, for use-after-free and data races.
    fn two_by_two(store: Fifo<(u64, Arc<()>)>) {
        const EACH: u64 = 150;
        // Every item holds a reference to `token`: its count says how many items are alive.
        let token = Arc::new(());
        let store = Arc::new(store);
        let putters: Vec<_> = (0..2)
            .map(|p| {
                let (store, token) = (Arc::clone(&store), Arc::clone(&token));
                std::thread::spawn(move || {
                    for i in 0..EACH {
                        let mut item = (p * EACH + i, Arc::clone(&token));
                        loop {
                            match store.push(item) {
                                Ok(()) => break,
                                Err(Push::Full(back)) => item = back,
                                Err(Push::ShutDown(_)) => panic!("not shut down"),
                            }
                            std::thread::yield_now();
                        }
                    }
                })
            })
            .collect();
        let getters: Vec<_> = (0..2)
            .map(|_| {
                let store = Arc::clone(&store);
                std::thread::spawn(move || {
                    let mut got = Vec::new();
                    while got.len() < 100 {
                        match store.pop() {
                            Some((value, _)) => got.push(value),
                            None => std::thread::yield_now(),
                        }
                    }
                    got
                })
            })
            .collect();
        let mut got: Vec<u64> = getters
            .into_iter()
            .flat_map(|g| g.join().unwrap())
            .collect();
        // A bounded store holds the rest only once the getters are done.
        let cap = store.capacity().unwrap_or(usize::MAX);
        let left = usize::try_from(2 * EACH - 200).unwrap();
        if left > cap {
            for _ in cap..left {
                loop {
                    if store.pop().is_some() {
                        break;
                    }
                    std::thread::yield_now();
                }
            }
        }
        for p in putters {
            p.join().unwrap();
        }
        let held = left.min(cap);
        let taken = 2 * EACH - held as u64;
        assert_eq!(store.puts(), 2 * EACH);
        assert_eq!(store.pops(), taken);
        assert_eq!(store.len(), held);
        assert_eq!(
            Arc::strong_count(&token),
            1 + held,
            "taken items were dropped"
        );
        got.sort_unstable();
        got.dedup();
        assert_eq!(got.len(), 200, "an item came out twice");
        assert_eq!(store.close(), 2 * EACH);
        assert!(matches!(
            store.push((0, Arc::clone(&token))),
            Err(Push::ShutDown(_))
        ));
        drop(Arc::try_unwrap(store).ok().unwrap());
        assert_eq!(
            Arc::strong_count(&token),
            1,
            "the items left were not dropped"
        );
    }

    /// Through a ring of four slots: many laps, full most of the time.
    #[test]
    fn two_by_two_around_the_ring() {
        let store = Fifo::new(Some(4));
        assert!(matches!(store, Fifo::Ring(_)));
        two_by_two(store);
    }

    /// Through the list, across many blocks.
    #[test]
    fn two_by_two_across_blocks() {
        let store = Fifo::new(None);
        assert!(matches!(store, Fifo::List(_)));
        two_by_two(store);
    }
}
