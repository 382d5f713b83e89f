//! Storage under a lock: the unbounded (and very large) FIFO queues, `LifoQueue` and
//! `PriorityQueue`. Like the ring, each store counts its puts and gets and carries the shutdown
//! mark itself, so the queue core needs no count of puts in progress: a put checks the mark, adds
//! the item and counts it in one critical section.
//!
//! FIFO and LIFO storage never run user code under the lock (items are only moved), so they take
//! a spin lock whose release is a plain store: a put or get costs one compare-and-swap. That is
//! kanal's design for its queues, and what makes a lock beat crossbeam's lock-free list on two
//! cores (`cargo xtask bench channel`: the unbounded rows). A thread that finds the lock taken
//! spins briefly, then yields to the scheduler until it is free; the holder never blocks inside.
//! The priority store compares items with the user's `Ord`, which may be slow or panic, so it
//! keeps a parking mutex.

use std::collections::VecDeque;

#[cfg(not(weft_loom))]
use crossbeam_utils::Backoff;
use crossbeam_utils::CachePadded;

use crate::loom::{AtomicU64, Mutex, Ordering};
#[cfg(not(weft_loom))]
use crate::loom::{AtomicU8, UnsafeCell};
use crate::ring::Push;

/// A lock that runs a closure on the value it guards.
pub(crate) trait Lock<V>: Send + Sync {
    fn new(value: V) -> Self;
    fn with<R>(&self, f: impl FnOnce(&mut V) -> R) -> R;
}

impl<V: Send> Lock<V> for Mutex<V> {
    fn new(value: V) -> Self {
        Mutex::new(value)
    }

    #[inline]
    fn with<R>(&self, f: impl FnOnce(&mut V) -> R) -> R {
        f(&mut self.lock())
    }
}

/// A spin lock for critical sections that only move items: taking it is one compare-and-swap,
/// releasing it one store. (Under loom it is a loom mutex: a spinning wait cannot be modelled
/// within loom's branch limit, as for the ring's waits; the models check what the stores do under
/// the lock and the wake-ups around them.)
#[cfg(weft_loom)]
pub(crate) type Spin<V> = Mutex<V>;

/// A spin lock for critical sections that only move items: taking it is one compare-and-swap,
/// releasing it one store.
#[cfg(not(weft_loom))]
pub(crate) struct Spin<V> {
    locked: AtomicU8,
    value: UnsafeCell<V>,
}

#[cfg(not(weft_loom))]
// SAFETY: the value is reached only through `with`, which holds the lock, so one thread at a time
// has it; values move between threads, so `V: Send` is all that is needed.
unsafe impl<V: Send> Send for Spin<V> {}
#[cfg(not(weft_loom))]
// SAFETY: as for `Send`: `with` gives exclusive access, handed over by the lock word (acquired by
// the compare-and-swap that takes it, released by the store that frees it).
unsafe impl<V: Send> Sync for Spin<V> {}

#[cfg(not(weft_loom))]
/// Frees the lock, also when the closure panics (an allocation failure in a `VecDeque` growing).
struct Unlock<'a>(&'a AtomicU8);

#[cfg(not(weft_loom))]
impl Drop for Unlock<'_> {
    #[inline]
    fn drop(&mut self) {
        self.0.store(0, Ordering::Release);
    }
}

#[cfg(not(weft_loom))]
impl<V> Spin<V> {
    /// `SeqCst`: the queue core's wake-up protocol counts the lock's compare-and-swap as the
    /// `SeqCst` read-modify-write of each put and get (see `waiters.rs`).
    #[inline]
    fn try_lock(&self) -> bool {
        self.locked
            .compare_exchange(0, 1, Ordering::SeqCst, Ordering::Relaxed)
            .is_ok()
    }

    #[cold]
    fn lock_slow(&self) {
        let backoff = Backoff::new();
        loop {
            // Spins, then yields to the scheduler (crossbeam's `Backoff::snooze`), reading until
            // the lock looks free before trying to take it again.
            while self.locked.load(Ordering::Relaxed) != 0 {
                backoff.snooze();
            }
            if self.try_lock() {
                return;
            }
        }
    }
}

#[cfg(not(weft_loom))]
impl<V: Send> Lock<V> for Spin<V> {
    fn new(value: V) -> Self {
        Self {
            locked: AtomicU8::new(0),
            value: UnsafeCell::new(value),
        }
    }

    #[inline]
    fn with<R>(&self, f: impl FnOnce(&mut V) -> R) -> R {
        if !self.try_lock() {
            self.lock_slow();
        }
        let _unlock = Unlock(&self.locked);
        self.value.with_mut(|p| {
            // SAFETY: this thread holds the lock (taken above, freed by `_unlock` after `f`
            // returns or unwinds), so no other reference to the value exists.
            f(unsafe { &mut *p })
        })
    }
}

/// How a store keeps its items in order.
pub(crate) trait Items<T>: Default + Send {
    fn put(&mut self, item: T);
    fn take(&mut self) -> Option<T>;
    fn count(&self) -> usize;
}

/// A FIFO deque that gives memory back as it empties: once at most a quarter of a buffer larger
/// than `KEEP` slots is in use, the buffer halves (amortised O(1): each halving follows at least
/// as many gets as it copies items).
impl<T: Send> Items<T> for VecDeque<T> {
    #[inline]
    fn put(&mut self, item: T) {
        self.push_back(item);
    }

    #[inline]
    fn take(&mut self) -> Option<T> {
        let item = self.pop_front();
        if let Some(cap) = shrunk(self.len(), self.capacity()) {
            self.shrink_to(cap);
        }
        item
    }

    fn count(&self) -> usize {
        self.len()
    }
}

/// A LIFO stack, shrinking as the deque does.
impl<T: Send> Items<T> for Vec<T> {
    #[inline]
    fn put(&mut self, item: T) {
        self.push(item);
    }

    #[inline]
    fn take(&mut self) -> Option<T> {
        let item = self.pop();
        if let Some(cap) = shrunk(self.len(), self.capacity()) {
            self.shrink_to(cap);
        }
        item
    }

    fn count(&self) -> usize {
        self.len()
    }
}

/// The buffer size (in items) below which a store keeps its memory when it empties.
const KEEP: usize = 1024;

/// The capacity to shrink a buffer of `cap` slots holding `len` items to, if it should shrink.
#[inline]
fn shrunk(len: usize, cap: usize) -> Option<usize> {
    (cap > KEEP && len <= cap / 4).then_some(cap / 2)
}

/// What the lock guards.
#[derive(Default)]
pub(crate) struct Guarded<C> {
    items: C,
    /// Shut down: every later put fails.
    closed: bool,
}

/// Says which item type and order a [`Locked`] is for, owning neither.
type Marker<T, C> = std::marker::PhantomData<(fn(T) -> T, fn(C) -> C)>;

/// A store under a lock `L`, with items kept in order by `C`.
pub(crate) struct Locked<T, C, L> {
    /// The lock and the counts: every operation takes the lock, so they share its line.
    shared: CachePadded<Shared<L>>,
    /// The items marked done by the queue core (as `Ring::done`), written by the getters.
    done: CachePadded<AtomicU64>,
    cap: Option<usize>,
    _items: Marker<T, C>,
}

struct Shared<L> {
    lock: L,
    /// The successful puts and gets so far: written only under the lock, read anywhere.
    puts: AtomicU64,
    pops: AtomicU64,
}

/// Adds one to a count only the lock holder writes.
#[inline]
fn bump(count: &AtomicU64) {
    count.store(count.load(Ordering::Relaxed) + 1, Ordering::Release);
}

impl<T: Send, C: Items<T>, L: Lock<Guarded<C>>> Locked<T, C, L> {
    /// `cap` must not be `Some(0)`.
    pub(crate) fn new(cap: Option<usize>) -> Self {
        Self {
            shared: CachePadded::new(Shared {
                lock: L::new(Guarded::default()),
                puts: AtomicU64::new(0),
                pops: AtomicU64::new(0),
            }),
            done: CachePadded::new(AtomicU64::new(0)),
            cap,
            _items: std::marker::PhantomData,
        }
    }

    #[inline]
    pub(crate) fn push(&self, item: T) -> Result<(), Push<T>> {
        let shared = &*self.shared;
        shared.lock.with(|g| {
            if g.closed {
                return Err(Push::ShutDown(item));
            }
            if self.cap.is_some_and(|cap| g.items.count() >= cap) {
                return Err(Push::Full(item));
            }
            g.items.put(item);
            bump(&shared.puts);
            Ok(())
        })
    }

    #[inline]
    pub(crate) fn pop(&self) -> Option<T> {
        let shared = &*self.shared;
        shared.lock.with(|g| {
            let item = g.items.take();
            if item.is_some() {
                bump(&shared.pops);
            }
            item
        })
    }

    pub(crate) fn len(&self) -> usize {
        self.shared.lock.with(|g| g.items.count())
    }

    pub(crate) fn capacity(&self) -> Option<usize> {
        self.cap
    }

    /// Sets the shutdown mark: every later push fails. Returns the final put count.
    pub(crate) fn close(&self) -> u64 {
        let shared = &*self.shared;
        shared.lock.with(|g| {
            g.closed = true;
            shared.puts.load(Ordering::Relaxed)
        })
    }

    #[inline]
    pub(crate) fn puts(&self) -> u64 {
        self.shared.puts.load(Ordering::SeqCst)
    }

    #[inline]
    pub(crate) fn pops(&self) -> u64 {
        self.shared.pops.load(Ordering::SeqCst)
    }

    #[inline]
    pub(crate) fn done(&self) -> &AtomicU64 {
        &self.done
    }

    /// Whether every item put has been taken, read without the lock (a hint only: the counts
    /// may be stale).
    #[inline]
    pub(crate) fn looks_empty(&self) -> bool {
        self.shared.pops.load(Ordering::Relaxed) == self.shared.puts.load(Ordering::Relaxed)
    }

    /// Whether the bound is reached, read as [`Locked::looks_empty`].
    #[inline]
    pub(crate) fn looks_full(&self) -> bool {
        self.cap.is_some_and(|cap| {
            let pops = self.shared.pops.load(Ordering::Relaxed);
            let puts = self.shared.puts.load(Ordering::Relaxed);
            puts.wrapping_sub(pops) >= cap as u64
        })
    }
}

/// The FIFO store for bounds too large for a ring.
pub(crate) type Deque<T> = Locked<T, VecDeque<T>, Spin<Guarded<VecDeque<T>>>>;
/// The LIFO store.
pub(crate) type Stack<T> = Locked<T, Vec<T>, Spin<Guarded<Vec<T>>>>;
/// The priority store: the heap's comparisons are user code, so it parks rather than spins.
pub(crate) type Sorted<T, H> = Locked<T, H, Mutex<Guarded<H>>>;

#[cfg(all(test, not(weft_loom)))]
mod tests {
    use super::*;

    /// A deque or stack that held many items gives its buffer back as it empties, down to `KEEP`
    /// slots, and keeps every item in order on the way.
    #[test]
    fn buffers_shrink_as_they_empty() {
        fn check<C: Items<u32>>(c: &mut C, cap: impl Fn(&C) -> usize, fifo: bool) {
            for i in 0..100_000 {
                c.put(i);
            }
            assert!(cap(c) >= 100_000);
            for i in 0..100_000 {
                let want = if fifo { i } else { 99_999 - i };
                assert_eq!(c.take(), Some(want));
            }
            assert_eq!(c.take(), None);
            assert!(cap(c) <= 2 * KEEP, "kept {} slots", cap(c));
        }
        check(&mut VecDeque::new(), VecDeque::capacity, true);
        check(&mut Vec::new(), Vec::capacity, false);
    }
}
