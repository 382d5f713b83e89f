//! Storage under a lock: `LifoQueue`, `PriorityQueue`, and FIFO queues bounded above what a ring
//! allocates up front. Like the ring and the list, each store counts its puts and gets and
//! carries the shutdown mark itself, so the queue core needs no count of puts in progress: a put
//! checks the mark, adds the item and counts it in one critical section (parking_lot's mutex:
//! a short spin, then parking).

use std::collections::VecDeque;

use crossbeam_utils::CachePadded;

use crate::loom::{AtomicU64, Mutex, Ordering};
use crate::ring::Push;
use crate::waiters::drop_each;

/// How a store keeps its items in order.
pub(crate) trait Items<T>: Default + Send {
    fn put(&mut self, item: T);
    fn take(&mut self) -> Option<T>;
    fn count(&self) -> usize;
}

/// A FIFO deque that gives memory back as it empties: once at most a quarter of a buffer larger
/// than `KEEP` slots is in use, the buffer halves (amortised O(1): each halving follows at least
/// as many gets as it copies items).
pub(crate) struct DequeItems<T>(VecDeque<T>);

impl<T> Default for DequeItems<T> {
    fn default() -> Self {
        Self(VecDeque::new())
    }
}

impl<T: Send> Items<T> for DequeItems<T> {
    #[inline]
    fn put(&mut self, item: T) {
        self.0.push_back(item);
    }

    #[inline]
    fn take(&mut self) -> Option<T> {
        let item = self.0.pop_front();
        if let Some(cap) = shrunk(self.0.len(), self.0.capacity()) {
            self.0.shrink_to(cap);
        }
        item
    }

    fn count(&self) -> usize {
        self.0.len()
    }
}

impl<T> Drop for DequeItems<T> {
    fn drop(&mut self) {
        drop_each(|| self.0.pop_front());
    }
}

/// A LIFO stack, shrinking as the deque does.
pub(crate) struct StackItems<T>(Vec<T>);

impl<T> Default for StackItems<T> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<T: Send> Items<T> for StackItems<T> {
    #[inline]
    fn put(&mut self, item: T) {
        self.0.push(item);
    }

    #[inline]
    fn take(&mut self) -> Option<T> {
        let item = self.0.pop();
        if let Some(cap) = shrunk(self.0.len(), self.0.capacity()) {
            self.0.shrink_to(cap);
        }
        item
    }

    fn count(&self) -> usize {
        self.0.len()
    }
}

impl<T> Drop for StackItems<T> {
    fn drop(&mut self) {
        // In the `Vec`'s order, as its own drop would.
        let mut items = std::mem::take(&mut self.0).into_iter();
        drop_each(|| items.next());
    }
}

/// The buffer size (in items) below which a store keeps its memory when it empties.
const KEEP: usize = 1024;

/// The capacity to shrink a buffer of `cap` slots holding `len` items to, if it should shrink.
#[inline]
pub(crate) fn shrunk(len: usize, cap: usize) -> Option<usize> {
    (cap > KEEP && len <= cap / 4).then_some(cap / 2)
}

/// What the lock guards.
#[derive(Default)]
struct Guarded<C> {
    items: C,
    /// Shut down: every later put fails.
    closed: bool,
}

/// A store under a mutex, with items kept in order by `C`.
pub(crate) struct Locked<T, C> {
    /// The lock and the counts: every operation takes the lock, so they share its line.
    shared: CachePadded<Shared<C>>,
    /// The items marked done by the queue core (as `Ring::done`), written by the getters.
    done: CachePadded<AtomicU64>,
    cap: Option<usize>,
    _item: std::marker::PhantomData<fn(T) -> T>,
}

struct Shared<C> {
    lock: Mutex<Guarded<C>>,
    /// The successful puts and gets so far: written only under the lock, read anywhere.
    puts: AtomicU64,
    pops: AtomicU64,
}

impl<C> Shared<C> {
    #[inline]
    fn lock_with<R>(&self, f: impl FnOnce(&mut Guarded<C>) -> R) -> R {
        f(&mut self.lock.lock())
    }
}

/// Adds one to a count only the lock holder writes.
#[inline]
fn bump(count: &AtomicU64) {
    count.store(count.load(Ordering::Relaxed) + 1, Ordering::Release);
}

impl<T: Send, C: Items<T>> Locked<T, C> {
    /// `cap` must not be `Some(0)`.
    pub(crate) fn new(cap: Option<usize>) -> Self {
        Self {
            shared: CachePadded::new(Shared {
                lock: Mutex::new(Guarded::default()),
                puts: AtomicU64::new(0),
                pops: AtomicU64::new(0),
            }),
            done: CachePadded::new(AtomicU64::new(0)),
            cap,
            _item: std::marker::PhantomData,
        }
    }

    #[inline]
    pub(crate) fn push(&self, item: T) -> Result<(), Push<T>> {
        let shared = &*self.shared;
        shared.lock_with(|g| {
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
        shared.lock_with(|g| {
            let item = g.items.take();
            if item.is_some() {
                bump(&shared.pops);
            }
            item
        })
    }

    pub(crate) fn len(&self) -> usize {
        self.shared.lock_with(|g| g.items.count())
    }

    pub(crate) fn capacity(&self) -> Option<usize> {
        self.cap
    }

    /// Sets the shutdown mark: every later push fails. Returns the final put count.
    pub(crate) fn close(&self) -> u64 {
        let shared = &*self.shared;
        shared.lock_with(|g| {
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
pub(crate) type Deque<T> = Locked<T, DequeItems<T>>;
/// The LIFO store.
pub(crate) type Stack<T> = Locked<T, StackItems<T>>;
/// The priority store.
pub(crate) type Sorted<T, H> = Locked<T, H>;

#[cfg(all(test, not(weft_loom)))]
mod tests {
    use super::*;

    /// A deque or stack that held many items gives its buffer back as it empties, down to `KEEP`
    /// slots, and keeps every item in order on the way.
    #[test]
    #[cfg_attr(miri, ignore = "100 000 items: too slow under Miri")]
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
        check(&mut DequeItems::default(), |c| c.0.capacity(), true);
        check(&mut StackItems::default(), |c| c.0.capacity(), false);
    }
}
