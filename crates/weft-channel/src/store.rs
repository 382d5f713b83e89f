//! Where the items live: bounded FIFO storage in weft's own ring buffer (`ring.rs`), unbounded
//! FIFO storage on crossbeam-queue (lock-free), LIFO and priority storage under a mutex. Under
//! loom the ring is modelled as it is (loom atomics and cells); unbounded FIFO storage is a
//! loom-mutexed `VecDeque`: the models check the wait protocol, not crossbeam's queue.

#[cfg(weft_loom)]
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::loom::Mutex;
use crate::ring::{Push, Ring};

/// The operations the queue core needs from its storage.
pub(crate) trait Store<T>: Send + Sync {
    /// Adds `item`, or gives it back when full.
    fn push(&self, item: T) -> Result<(), T>;
    /// Takes the next item, if any.
    fn pop(&self) -> Option<T>;
    /// The number of items held.
    fn len(&self) -> usize;
    /// The bound, if any.
    fn capacity(&self) -> Option<usize>;
    /// The storage as a ring that counts its puts and carries the shutdown mark itself, if it is
    /// one: the core then keeps no count of puts in progress.
    #[inline]
    fn ring(&self) -> Option<&Ring<T>> {
        None
    }
}

/// FIFO storage: weft's own bounded ring buffer (allocated up front) for bounds up to
/// `RING_LIMIT`, an unbounded segmented list, or a segmented list with a count for larger bounds.
#[cfg_attr(
    weft_loom,
    allow(clippy::large_enum_variant, reason = "one queue per model")
)]
pub(crate) enum Fifo<T> {
    Bounded(Ring<T>),
    #[cfg(not(weft_loom))]
    Unbounded(crossbeam_queue::SegQueue<T>),
    /// A bound too large to allocate up front: a segmented list and a reserved-slot count.
    #[cfg(not(weft_loom))]
    Large(
        crossbeam_queue::SegQueue<T>,
        std::sync::atomic::AtomicUsize,
        usize,
    ),
    /// Unbounded storage under loom.
    #[cfg(weft_loom)]
    Model(Mutex<VecDeque<T>>, Option<usize>),
}

/// The largest bound that gets a ring buffer allocated up front.
const RING_LIMIT: usize = 1 << 16;

impl<T> Fifo<T> {
    /// `cap` must not be `Some(0)`.
    pub(crate) fn new(cap: Option<usize>) -> Self {
        #[cfg(not(weft_loom))]
        {
            match cap {
                Some(cap) if cap > RING_LIMIT => Self::Large(
                    crossbeam_queue::SegQueue::new(),
                    std::sync::atomic::AtomicUsize::new(0),
                    cap,
                ),
                Some(cap) => Self::Bounded(Ring::new(cap)),
                None => Self::Unbounded(crossbeam_queue::SegQueue::new()),
            }
        }
        #[cfg(weft_loom)]
        {
            match cap {
                Some(cap) if cap <= RING_LIMIT => Self::Bounded(Ring::new(cap)),
                _ => Self::Model(Mutex::new(VecDeque::new()), cap),
            }
        }
    }
}

impl<T: Send> Store<T> for Fifo<T> {
    #[inline]
    fn push(&self, item: T) -> Result<(), T> {
        match self {
            Self::Bounded(q) => q
                .push(item)
                .map_err(|(Push::Full(item) | Push::ShutDown(item))| item),
            #[cfg(not(weft_loom))]
            Self::Unbounded(q) => {
                q.push(item);
                Ok(())
            }
            #[cfg(not(weft_loom))]
            Self::Large(q, len, cap) => {
                use std::sync::atomic::Ordering::SeqCst;
                if len
                    .fetch_update(SeqCst, SeqCst, |n| (n < *cap).then_some(n + 1))
                    .is_err()
                {
                    return Err(item);
                }
                q.push(item);
                Ok(())
            }
            #[cfg(weft_loom)]
            Self::Model(q, cap) => {
                let mut q = q.lock();
                if cap.is_some_and(|c| q.len() >= c) {
                    return Err(item);
                }
                q.push_back(item);
                Ok(())
            }
        }
    }

    #[inline]
    fn pop(&self) -> Option<T> {
        match self {
            Self::Bounded(q) => q.pop(),
            #[cfg(not(weft_loom))]
            Self::Unbounded(q) => q.pop(),
            #[cfg(not(weft_loom))]
            Self::Large(q, len, _) => {
                let item = q.pop();
                if item.is_some() {
                    len.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                }
                item
            }
            #[cfg(weft_loom)]
            Self::Model(q, _) => q.lock().pop_front(),
        }
    }

    fn len(&self) -> usize {
        match self {
            Self::Bounded(q) => q.len(),
            #[cfg(not(weft_loom))]
            Self::Unbounded(q) => q.len(),
            #[cfg(not(weft_loom))]
            Self::Large(q, _, _) => q.len(),
            #[cfg(weft_loom)]
            Self::Model(q, _) => q.lock().len(),
        }
    }

    fn capacity(&self) -> Option<usize> {
        match self {
            Self::Bounded(q) => Some(q.capacity()),
            #[cfg(not(weft_loom))]
            Self::Unbounded(_) => None,
            #[cfg(not(weft_loom))]
            Self::Large(_, _, cap) => Some(*cap),
            #[cfg(weft_loom)]
            Self::Model(_, cap) => *cap,
        }
    }

    #[inline]
    fn ring(&self) -> Option<&Ring<T>> {
        match self {
            Self::Bounded(q) => Some(q),
            _ => None,
        }
    }
}

/// LIFO storage: a stack under a mutex.
pub(crate) struct Lifo<T> {
    stack: Mutex<Vec<T>>,
    cap: Option<usize>,
}

impl<T> Lifo<T> {
    pub(crate) fn new(cap: Option<usize>) -> Self {
        Self {
            stack: Mutex::new(Vec::new()),
            cap,
        }
    }
}

impl<T: Send> Store<T> for Lifo<T> {
    fn push(&self, item: T) -> Result<(), T> {
        let mut stack = self.stack.lock();
        if self.cap.is_some_and(|c| stack.len() >= c) {
            return Err(item);
        }
        stack.push(item);
        Ok(())
    }

    fn pop(&self) -> Option<T> {
        self.stack.lock().pop()
    }

    fn len(&self) -> usize {
        self.stack.lock().len()
    }

    fn capacity(&self) -> Option<usize> {
        self.cap
    }
}

/// Priority storage: a binary min-heap over a `Vec` under a mutex, written with swaps only, so a
/// panicking `Ord` can never lose or duplicate an item: the panic is contained, the operation
/// completes, and the heap is rebuilt before its next use.
pub(crate) struct Prio<T> {
    heap: Mutex<Heap<T>>,
    cap: Option<usize>,
}

struct Heap<T> {
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
        let ok = catch_unwind(AssertUnwindSafe(|| {
            for i in (0..self.items.len() / 2).rev() {
                self.sift_down(i);
            }
        }))
        .is_ok();
        self.dirty = !ok;
    }
}

impl<T> Prio<T> {
    pub(crate) fn new(cap: Option<usize>) -> Self {
        Self {
            heap: Mutex::new(Heap {
                items: Vec::new(),
                dirty: false,
            }),
            cap,
        }
    }
}

impl<T: Ord + Send> Store<T> for Prio<T> {
    fn push(&self, item: T) -> Result<(), T> {
        let mut heap = self.heap.lock();
        if self.cap.is_some_and(|c| heap.items.len() >= c) {
            return Err(item);
        }
        heap.repair();
        heap.items.push(item);
        let last = heap.items.len() - 1;
        if catch_unwind(AssertUnwindSafe(|| heap.sift_up(last))).is_err() {
            heap.dirty = true;
        }
        Ok(())
    }

    fn pop(&self) -> Option<T> {
        let mut heap = self.heap.lock();
        heap.repair();
        if heap.items.is_empty() {
            return None;
        }
        let item = heap.items.swap_remove(0);
        if catch_unwind(AssertUnwindSafe(|| heap.sift_down(0))).is_err() {
            heap.dirty = true;
        }
        Some(item)
    }

    fn len(&self) -> usize {
        self.heap.lock().items.len()
    }

    fn capacity(&self) -> Option<usize> {
        self.cap
    }
}
