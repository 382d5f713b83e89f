//! The public queue types: [`Queue`], [`LifoQueue`], [`PriorityQueue`] and [`SimpleQueue`].

use std::fmt;
use std::iter::FusedIterator;
use std::sync::Arc;
use std::time::Duration;

use crate::core::{Core, GetFuture, JoinFuture, PutFuture, SimpleGetFuture};
use crate::error::{
    Empty, GetError, GetTimeoutError, PutError, PutTimeoutError, TaskDoneError, TryGetError,
    TryPutError, ZeroCapacity,
};
use crate::store::{Fifo, Lifo, Prio};

/// The methods every task-tracking queue has, written once for the three of them.
macro_rules! tracked_queue {
    ($ty:ident, $store:ident, [$($bound:tt)*]) => {
        impl<T: $($bound)*> $ty<T> {
            /// A queue holding at most `maxsize` items, with Python's meaning of zero: `new(0)` is
            /// unbounded (Python's `maxsize <= 0`).
            ///
            /// ```
            #[doc = concat!("let q = weft_channel::", stringify!($ty), "::<u32>::new(0);")]
            /// assert_eq!(q.maxsize(), None);
            #[doc = concat!("let q = weft_channel::", stringify!($ty), "::<u32>::new(8);")]
            /// assert_eq!(q.maxsize(), Some(8));
            /// ```
            pub fn new(maxsize: usize) -> Self {
                let cap = (maxsize > 0).then_some(maxsize);
                Self { core: Arc::new(Core::new($store::new(cap))) }
            }

            /// A queue with no bound: `put` never blocks.
            ///
            /// ```
            #[doc = concat!("let q = weft_channel::", stringify!($ty), "::unbounded();")]
            /// for i in 0..1000 {
            ///     q.try_put(i).unwrap();
            /// }
            /// ```
            pub fn unbounded() -> Self {
                Self::new(0)
            }

            /// A queue holding at most `capacity` items; `put` blocks while it is full.
            ///
            /// # Errors
            /// [`ZeroCapacity`] when `capacity` is zero: such a queue could never pass an item.
            ///
            /// ```
            #[doc = concat!("let q = weft_channel::", stringify!($ty), "::<u8>::bounded(2).unwrap();")]
            /// assert_eq!(q.maxsize(), Some(2));
            #[doc = concat!("assert!(weft_channel::", stringify!($ty), "::<u8>::bounded(0).is_err());")]
            /// ```
            pub fn bounded(capacity: usize) -> Result<Self, ZeroCapacity> {
                if capacity == 0 {
                    return Err(ZeroCapacity);
                }
                Ok(Self::new(capacity))
            }

            /// Puts `item`, blocking while the queue is full (Python's `put(item)`). If the waker
            /// of an async getter it wakes panics, the item is in the queue all the same (the
            /// next getter is woken too), and then the panic reaches the caller: do not put it
            /// again.
            ///
            /// # Errors
            /// [`PutError`] once the queue is shut down, before or while this waits; the item
            /// comes back inside the error.
            ///
            /// ```
            #[doc = concat!("let q = weft_channel::", stringify!($ty), "::unbounded();")]
            /// q.put(1).unwrap();
            /// assert_eq!(q.get(), Ok(1));
            /// ```
            pub fn put(&self, item: T) -> Result<(), PutError<T>> {
                self.core.put(item)
            }

            /// Puts `item` if there is room right now (Python's `put_nowait`).
            ///
            /// # Errors
            /// [`TryPutError::Full`] when the queue is full, [`TryPutError::ShutDown`] once it is
            /// shut down; the item comes back inside the error.
            ///
            /// ```
            /// use weft_channel::TryPutError;
            #[doc = concat!("let q = weft_channel::", stringify!($ty), "::bounded(1).unwrap();")]
            /// q.try_put(1).unwrap();
            /// assert_eq!(q.try_put(2), Err(TryPutError::Full(2)));
            /// ```
            #[inline]
            pub fn try_put(&self, item: T) -> Result<(), TryPutError<T>> {
                self.core.try_put(item)
            }

            /// Puts `item`, waiting at most `timeout` for room (Python's `put(item, timeout=t)`).
            /// A zero timeout tries once; `Duration::MAX` waits forever.
            ///
            /// # Errors
            /// [`PutTimeoutError::Timeout`] when there is no room in time (Python's `queue.Full`),
            /// [`PutTimeoutError::ShutDown`] once the queue is shut down; the item comes back
            /// inside the error.
            ///
            /// ```
            /// use std::time::Duration;
            #[doc = concat!("let q = weft_channel::", stringify!($ty), "::bounded(1).unwrap();")]
            /// q.put(1).unwrap();
            /// let err = q.put_timeout(2, Duration::from_millis(5)).unwrap_err();
            /// assert_eq!(err.into_inner(), 2);
            /// ```
            pub fn put_timeout(&self, item: T, timeout: Duration) -> Result<(), PutTimeoutError<T>> {
                self.core.put_timeout(item, timeout)
            }

            /// Puts `item` from async code, waiting while the queue is full; threads blocked in
            /// `get` and tasks awaiting `get_async` are woken alike. As for [`put`](Self::put),
            /// if the waker of an async getter it wakes panics, the item is in the queue all the
            /// same, and the panic comes out of the future's `poll`; polled again, the future
            /// stays pending (see [`PutFuture`](crate::PutFuture)).
            ///
            /// ```
            #[doc = concat!("let q = weft_channel::", stringify!($ty), "::bounded(4).unwrap();")]
            /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            /// rt.block_on(async {
            ///     q.put_async(5).await.unwrap();
            ///     assert_eq!(q.get_async().await, Ok(5));
            /// });
            /// ```
            pub fn put_async(&self, item: T) -> PutFuture<'_, T> {
                self.core.put_future(item)
            }

            /// Takes the next item, blocking while the queue is empty (Python's `get()`).
            ///
            /// # Errors
            /// [`GetError`] once the queue is shut down and drained (at once after
            /// [`shutdown_immediate`](Self::shutdown_immediate)), before or while this waits.
            ///
            /// ```
            #[doc = concat!("let q = weft_channel::", stringify!($ty), "::unbounded();")]
            /// q.put(3).unwrap();
            /// assert_eq!(q.get(), Ok(3));
            /// ```
            pub fn get(&self) -> Result<T, GetError> {
                self.core.get()
            }

            /// Takes the next item if there is one right now (Python's `get_nowait`).
            ///
            /// # Errors
            /// [`TryGetError::Empty`] when the queue is empty, [`TryGetError::ShutDown`] once it
            /// is shut down and drained.
            ///
            /// ```
            /// use weft_channel::TryGetError;
            #[doc = concat!("let q = weft_channel::", stringify!($ty), "::<u8>::unbounded();")]
            /// assert_eq!(q.try_get(), Err(TryGetError::Empty));
            /// ```
            #[inline]
            pub fn try_get(&self) -> Result<T, TryGetError> {
                self.core.try_get()
            }

            /// Takes the next item, waiting at most `timeout` (Python's `get(timeout=t)`).
            ///
            /// # Errors
            /// [`GetTimeoutError::Timeout`] when no item comes in time (Python's `queue.Empty`),
            /// [`GetTimeoutError::ShutDown`] once the queue is shut down and drained.
            ///
            /// ```
            /// use std::time::Duration;
            /// use weft_channel::GetTimeoutError;
            #[doc = concat!("let q = weft_channel::", stringify!($ty), "::<u8>::unbounded();")]
            /// assert_eq!(q.get_timeout(Duration::from_millis(5)), Err(GetTimeoutError::Timeout));
            /// ```
            pub fn get_timeout(&self, timeout: Duration) -> Result<T, GetTimeoutError> {
                self.core.get_timeout(timeout)
            }

            /// Takes the next item from async code. Dropping the future before it completes takes
            /// nothing, and passes on a wake-up it had received. A future that was woken but is
            /// neither polled again nor dropped (its task stalled) keeps that wake-up meanwhile,
            /// as a tokio `Notify` waiter does: another getter may wait until then, or its timeout.
            ///
            /// ```
            #[doc = concat!("let q = weft_channel::", stringify!($ty), "::unbounded();")]
            /// let producer = {
            ///     let q = q.clone();
            ///     std::thread::spawn(move || q.put(9).unwrap()) // a thread puts…
            /// };
            /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            /// assert_eq!(rt.block_on(q.get_async()), Ok(9)); // …a task gets
            /// producer.join().unwrap();
            /// ```
            pub fn get_async(&self) -> GetFuture<'_, T> {
                self.core.get_future()
            }

            /// The number of items in the queue right now (Python's `qsize()`); only a hint while
            /// other threads use the queue.
            ///
            /// ```
            #[doc = concat!("let q = weft_channel::", stringify!($ty), "::unbounded();")]
            /// q.put(1).unwrap();
            /// assert_eq!(q.qsize(), 1);
            /// ```
            pub fn qsize(&self) -> usize {
                self.core.len()
            }

            /// Whether the queue is empty right now (Python's `empty()`).
            ///
            /// ```
            #[doc = concat!("let q = weft_channel::", stringify!($ty), "::<u8>::unbounded();")]
            /// assert!(q.empty());
            /// ```
            pub fn empty(&self) -> bool {
                self.core.len() == 0
            }

            /// Whether the queue is full right now (Python's `full()`); never for an unbounded
            /// queue.
            ///
            /// ```
            #[doc = concat!("let q = weft_channel::", stringify!($ty), "::bounded(1).unwrap();")]
            /// q.put(1).unwrap();
            /// assert!(q.full());
            /// ```
            pub fn full(&self) -> bool {
                self.core.capacity().is_some_and(|c| self.core.len() >= c)
            }

            /// The bound, or `None` for an unbounded queue (Python's `maxsize`, where 0 meant
            /// unbounded).
            ///
            /// ```
            #[doc = concat!("assert_eq!(weft_channel::", stringify!($ty), "::<u8>::new(3).maxsize(), Some(3));")]
            /// ```
            pub fn maxsize(&self) -> Option<usize> {
                self.core.capacity()
            }

            /// Marks one item taken with `get` as processed (Python's `task_done()`). If the last
            /// item's `join_async` waiter has a waker that panics, the item is counted all the
            /// same, every joiner is woken, and then the panic reaches the caller: do not call it
            /// again for that item.
            ///
            /// # Errors
            /// [`TaskDoneError`] when called more times than items were put (Python's
            /// `ValueError: task_done() called too many times`).
            ///
            /// ```
            #[doc = concat!("let q = weft_channel::", stringify!($ty), "::unbounded();")]
            /// q.put(1).unwrap();
            /// q.get().unwrap();
            /// q.task_done().unwrap();
            /// assert!(q.task_done().is_err());
            /// ```
            pub fn task_done(&self) -> Result<(), TaskDoneError> {
                self.core.task_done()
            }

            /// The number of items put and not yet marked done (Python's `unfinished_tasks`).
            /// A put is counted once it has its place in the queue, which can be a moment before
            /// it returns; a put that fails is never counted.
            ///
            /// ```
            #[doc = concat!("let q = weft_channel::", stringify!($ty), "::unbounded();")]
            /// q.put(1).unwrap();
            /// assert_eq!(q.unfinished_tasks(), 1);
            /// ```
            pub fn unfinished_tasks(&self) -> usize {
                self.core.unfinished()
            }

            /// Blocks until every item put has been marked done with `task_done` (Python's
            /// `join()`).
            ///
            /// ```
            #[doc = concat!("let q = weft_channel::", stringify!($ty), "::unbounded();")]
            /// let worker = {
            ///     let q = q.clone();
            ///     std::thread::spawn(move || {
            ///         while let Ok(_item) = q.get() {
            ///             q.task_done().unwrap();
            ///         }
            ///     })
            /// };
            /// for i in 0..10 {
            ///     q.put(i).unwrap();
            /// }
            /// q.join(); // all ten processed
            /// q.shutdown();
            /// worker.join().unwrap();
            /// ```
            pub fn join(&self) {
                self.core.join()
            }

            /// Like [`join`](Self::join), giving up after `timeout`; returns whether every item was
            /// done.
            ///
            /// ```
            /// use std::time::Duration;
            #[doc = concat!("let q = weft_channel::", stringify!($ty), "::unbounded();")]
            /// q.put(1).unwrap();
            /// assert!(!q.join_timeout(Duration::from_millis(5)));
            /// ```
            pub fn join_timeout(&self, timeout: Duration) -> bool {
                self.core.join_timeout(timeout)
            }

            /// Waits from async code until every item put has been marked done. Like
            /// [`join`](Self::join) and Python's `queue.Queue.join`, it checks again when woken:
            /// an item put after the last `task_done` but before that check is waited for too,
            /// where `asyncio.Queue.join` returns once the count has reached zero.
            ///
            /// ```
            #[doc = concat!("let q = weft_channel::", stringify!($ty), "::unbounded();")]
            /// q.put(1).unwrap();
            /// q.get().unwrap();
            /// q.task_done().unwrap();
            /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            /// rt.block_on(q.join_async());
            /// ```
            pub fn join_async(&self) -> JoinFuture<'_, T> {
                self.core.join_future()
            }

            /// Shuts the queue down (Python 3.13's `shutdown()`): later puts fail with the item
            /// given back; gets drain what is left and then fail; every blocked putter and getter
            /// wakes up. A `put` already under way when it is called may still succeed; its item
            /// is then among those the getters drain (a getter answers `ShutDown` only once no
            /// put can land any more). If an async waiter's waker panics, every other waiter is
            /// still woken, and then the panic goes on to the caller.
            ///
            /// ```
            #[doc = concat!("let q = weft_channel::", stringify!($ty), "::unbounded();")]
            /// q.put(1).unwrap();
            /// q.shutdown();
            /// assert!(q.put(2).is_err());
            /// assert_eq!(q.get(), Ok(1)); // drained…
            /// assert!(q.get().is_err()); // …then ShutDown
            /// ```
            pub fn shutdown(&self) {
                self.core.shutdown()
            }

            /// Shuts the queue down at once (Python's `shutdown(immediate=True)`): gets fail from
            /// now on, and the items still queued come back to the caller (Python discards them)
            /// and count as done, so `join` can return. Puts already under way when it is called
            /// finish first, so their items are among those returned; a get that starts once this
            /// call has begun (once [`is_shutdown`](Self::is_shutdown) can see it) takes none of
            /// them (one already under way may take an item, which is then not returned here). An
            /// async waiter's waker that panics does not keep the items from the caller: every
            /// waiter is woken, and the panic is not passed on.
            ///
            /// ```
            #[doc = concat!("let q = weft_channel::", stringify!($ty), "::unbounded();")]
            /// q.put(1).unwrap();
            /// let left = q.shutdown_immediate();
            /// assert_eq!(left, [1]);
            /// assert!(q.get().is_err());
            /// q.join(); // nothing is left to wait for
            /// ```
            pub fn shutdown_immediate(&self) -> Vec<T> {
                self.core.shutdown_immediate()
            }

            /// Whether the queue was shut down.
            ///
            /// ```
            #[doc = concat!("let q = weft_channel::", stringify!($ty), "::<u8>::unbounded();")]
            /// q.shutdown();
            /// assert!(q.is_shutdown());
            /// ```
            pub fn is_shutdown(&self) -> bool {
                self.core.is_shutdown()
            }

            /// An iterator that takes items with `get` until the queue is shut down and drained
            /// (also what `for item in &q` uses). Once ended it stays ended.
            ///
            /// ```
            #[doc = concat!("let q = weft_channel::", stringify!($ty), "::unbounded();")]
            /// q.put(1).unwrap();
            /// q.put(2).unwrap();
            /// q.shutdown();
            /// assert_eq!(q.iter().count(), 2);
            /// ```
            pub fn iter(&self) -> Iter<'_, T> {
                Iter { get: Box::new(move || self.core.get().ok()) }
            }
        }

        #[doc = concat!("`for item in &q`: the same as [`", stringify!($ty), "::iter`].")]
        impl<'a, T: $($bound)*> IntoIterator for &'a $ty<T> {
            type Item = T;
            type IntoIter = Iter<'a, T>;

            fn into_iter(self) -> Iter<'a, T> {
                self.iter()
            }
        }

        /// An unbounded queue, as Python's `Queue()` with no `maxsize`: the same as
        /// [`unbounded`](Self::unbounded).
        impl<T: $($bound)*> Default for $ty<T> {
            fn default() -> Self {
                Self::unbounded()
            }
        }

        impl<T> Clone for $ty<T> {
            /// Another handle to the same queue.
            fn clone(&self) -> Self {
                Self { core: Arc::clone(&self.core) }
            }
        }

        impl<T: $($bound)*> fmt::Debug for $ty<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($ty))
                    .field("qsize", &self.core.len())
                    .field("maxsize", &self.core.capacity())
                    .field("unfinished_tasks", &self.core.unfinished())
                    .field("shutdown", &self.core.is_shutdown())
                    .finish()
            }
        }
    };
}

/// A first-in, first-out queue for many producers and many consumers, threads and async tasks
/// alike (Python's `queue.Queue`, and `asyncio.Queue` too).
///
/// Cloning gives another handle to the same queue. Items go through a lock-free ring buffer
/// (bounded up to 65 536 items; a larger bound uses a deque under a mutex) or list of blocks
/// (unbounded), both weft's own. The ring takes its memory at once, a slot per item of the
/// bound (`Queue::<[u8; 1024]>::bounded(65_536)` takes 67 MB empty, where Python's costs
/// nothing until items arrive); the list and the deque grow and shrink with the items, the list
/// a block of 63 slots at a time, one of which it holds from the start (about 256 KiB for 4 KiB
/// items: box large items in an unbounded queue). A thread that must wait spins briefly and
/// then parks, a task registers its waker, and a `put` wakes whichever getter waited longest,
/// thread or task. Every item put counts as unfinished until a `task_done`, so a producer can
/// [`join`](Queue::join) until all its work has been processed.
///
/// ```
/// use weft_channel::Queue;
///
/// let q = Queue::bounded(16).unwrap();
/// let workers: Vec<_> = (0..2)
///     .map(|_| {
///         let q = q.clone();
///         std::thread::spawn(move || {
///             let mut sum = 0;
///             for item in q.iter() {
///                 sum += item;
///                 q.task_done().unwrap();
///             }
///             sum
///         })
///     })
///     .collect();
/// for i in 1..=100 {
///     q.put(i).unwrap();
/// }
/// q.join(); // every item processed
/// q.shutdown(); // lets the workers' iterators end
/// let total: i32 = workers.into_iter().map(|w| w.join().unwrap()).sum();
/// assert_eq!(total, 5050);
/// ```
pub struct Queue<T> {
    core: Arc<Core<T, Fifo<T>>>,
}

tracked_queue!(Queue, Fifo, [Send]);

/// A last-in, first-out queue (Python's `queue.LifoQueue`): `get` takes the item put most
/// recently. Otherwise the same as [`Queue`], with the stack under a mutex.
///
/// ```
/// let q = weft_channel::LifoQueue::unbounded();
/// for i in 1..=3 {
///     q.put(i).unwrap();
/// }
/// assert_eq!((q.get(), q.get(), q.get()), (Ok(3), Ok(2), Ok(1)));
/// ```
pub struct LifoQueue<T> {
    core: Arc<Core<T, Lifo<T>>>,
}

tracked_queue!(LifoQueue, Lifo, [Send]);

/// A queue that gives the smallest item first (Python's `queue.PriorityQueue`, a `heapq`), using
/// `T`'s `Ord`; put `(priority, item)` tuples as in Python. Otherwise the same as [`Queue`], with a
/// binary heap under a mutex.
///
/// Items that compare equal come out in no set order: not in the order they were put, and not
/// always in the order Python's `heapq` would give them either. For first in, first out among
/// equal priorities, put `(priority, sequence, item)`, as Python's documentation suggests.
///
/// A panicking `Ord` is contained: the `put` or `get` completes (no item is lost or duplicated),
/// the panic is printed by the panic hook as usual (and its payload dropped even if its own
/// `Drop` panics), and the heap is rebuilt before its next use; the order among the items
/// involved may be off. `Ord` (and the panic hook, when it panics, and the drop of the panic's
/// payload) runs under the queue's lock, so it must not use the same queue, as in Python. The
/// heap gives memory back as it empties.
///
/// ```
/// let jobs = weft_channel::PriorityQueue::unbounded();
/// jobs.put((2, "write report")).unwrap();
/// jobs.put((1, "fix outage")).unwrap();
/// jobs.put((3, "lunch")).unwrap();
/// assert_eq!(jobs.get(), Ok((1, "fix outage")));
/// ```
pub struct PriorityQueue<T> {
    core: Arc<Core<T, Prio<T>>>,
}

tracked_queue!(PriorityQueue, Prio, [Ord + Send]);

/// The simplest, fastest queue: unbounded FIFO, no task tracking, no shutdown (Python's
/// `queue.SimpleQueue`). `put` never blocks and never fails (but see [`put`](Self::put) for a
/// panicking waker).
///
/// ```
/// let q = weft_channel::SimpleQueue::new();
/// q.put("a");
/// q.put("b");
/// assert_eq!(q.get(), "a");
/// assert_eq!(q.try_get(), Ok("b"));
/// ```
pub struct SimpleQueue<T> {
    core: Arc<Core<T, Fifo<T>>>,
}

impl<T: Send> SimpleQueue<T> {
    /// An empty queue.
    ///
    /// ```
    /// let q = weft_channel::SimpleQueue::<u8>::new();
    /// assert!(q.empty());
    /// ```
    pub fn new() -> Self {
        Self {
            core: Arc::new(Core::new(Fifo::new(None))),
        }
    }

    /// Puts `item` (Python's `put`); never blocks. If the waker of an async getter it wakes
    /// panics, the item is in the queue all the same (the next getter is woken too), and then
    /// the panic reaches the caller: do not put it again.
    ///
    /// ```
    /// let q = weft_channel::SimpleQueue::new();
    /// q.put(1);
    /// assert_eq!(q.qsize(), 1);
    /// ```
    #[inline]
    pub fn put(&self, item: T) {
        // A SimpleQueue is unbounded and never shut down: the put cannot fail.
        let _ = self.core.try_put(item);
    }

    /// Takes the next item, blocking while the queue is empty (Python's `get()`).
    ///
    /// ```
    /// let q = weft_channel::SimpleQueue::new();
    /// q.put(4);
    /// assert_eq!(q.get(), 4);
    /// ```
    #[must_use = "the item is taken off the queue; dropping it loses it"]
    pub fn get(&self) -> T {
        match self.core.get() {
            Ok(item) => item,
            Err(GetError) => never_shut_down(),
        }
    }

    /// Takes the next item if there is one (Python's `get_nowait`).
    ///
    /// # Errors
    /// [`Empty`] when the queue is empty.
    ///
    /// ```
    /// use weft_channel::{Empty, SimpleQueue};
    /// let q = SimpleQueue::new();
    /// assert_eq!(q.try_get(), Err(Empty));
    /// q.put(3);
    /// assert_eq!(q.try_get(), Ok(3));
    /// ```
    #[inline]
    pub fn try_get(&self) -> Result<T, Empty> {
        self.core.try_get().map_err(|e| match e {
            TryGetError::Empty => Empty,
            TryGetError::ShutDown => never_shut_down(),
        })
    }

    /// Takes the next item, waiting at most `timeout` (Python's `get(timeout=t)`).
    ///
    /// # Errors
    /// [`Empty`] when no item comes in time.
    ///
    /// ```
    /// use std::time::Duration;
    /// use weft_channel::{Empty, SimpleQueue};
    /// let q = SimpleQueue::<u8>::new();
    /// assert_eq!(q.get_timeout(Duration::ZERO), Err(Empty));
    /// ```
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, Empty> {
        self.core.get_timeout(timeout).map_err(|e| match e {
            GetTimeoutError::Timeout => Empty,
            GetTimeoutError::ShutDown => never_shut_down(),
        })
    }

    /// Takes the next item from async code (`await q.get()` on an `asyncio.Queue`), waiting for
    /// one; like [`get`](Self::get), it cannot fail. Dropping the [`SimpleGetFuture`] before it
    /// completes takes nothing from the queue; a woken future that is neither polled again nor
    /// dropped keeps its wake-up meanwhile, as for [`Queue::get_async`](crate::Queue::get_async).
    ///
    /// ```
    /// let q = weft_channel::SimpleQueue::new();
    /// q.put(1);
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// assert_eq!(rt.block_on(q.get_async()), 1);
    /// ```
    pub fn get_async(&self) -> SimpleGetFuture<'_, T> {
        SimpleGetFuture::new(self.core.get_future())
    }

    /// The number of items in the queue right now.
    ///
    /// ```
    /// let q = weft_channel::SimpleQueue::<u8>::new();
    /// assert_eq!(q.qsize(), 0);
    /// ```
    pub fn qsize(&self) -> usize {
        self.core.len()
    }

    /// Whether the queue is empty right now.
    ///
    /// ```
    /// assert!(weft_channel::SimpleQueue::<u8>::new().empty());
    /// ```
    pub fn empty(&self) -> bool {
        self.core.len() == 0
    }
}

/// Not reached: a `SimpleQueue` has no `shutdown`, so its core never refuses a get (the errors
/// its core's gets can return name `ShutDown` for the other queues).
#[cold]
pub(crate) fn never_shut_down() -> ! {
    unreachable!("a SimpleQueue is never shut down")
}

impl<T: Send> Default for SimpleQueue<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Clone for SimpleQueue<T> {
    /// Another handle to the same queue.
    fn clone(&self) -> Self {
        Self {
            core: Arc::clone(&self.core),
        }
    }
}

impl<T: Send> fmt::Debug for SimpleQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimpleQueue")
            .field("qsize", &self.core.len())
            .finish()
    }
}

/// An iterator over a queue's items, from `iter()`: each `next` is a blocking `get`, and the
/// iterator ends once the queue is shut down and drained.
pub struct Iter<'a, T> {
    get: Box<dyn FnMut() -> Option<T> + Send + 'a>,
}

impl<T> Iterator for Iter<'_, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        (self.get)()
    }
}

/// Once the iterator has ended it stays ended: a queue that is shut down and drained takes no
/// more items.
impl<T> FusedIterator for Iter<'_, T> {}

impl<T> fmt::Debug for Iter<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Iter").finish_non_exhaustive()
    }
}
