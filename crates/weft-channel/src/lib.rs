//! Python's `queue` module for Rust: [`Queue`], [`LifoQueue`], [`PriorityQueue`] and
//! [`SimpleQueue`], with `task_done`/`join`, Python 3.13's `shutdown`, timeouts, and one queue that
//! threads and async tasks can use at the same time.
//!
//! ```
//! use weft_channel::Queue;
//!
//! let q = Queue::bounded(100).unwrap();
//! let consumer = {
//!     let q = q.clone();
//!     std::thread::spawn(move || {
//!         for item in q.iter() {
//!             println!("processing {item}");
//!             q.task_done().unwrap();
//!         }
//!     })
//! };
//! for i in 0..5 {
//!     q.put(i).unwrap();
//! }
//! q.join(); // blocks until the consumer called task_done for all five
//! q.shutdown(); // ends the consumer's loop
//! consumer.join().unwrap();
//! ```
//!
//! # The queues
//! - [`Queue`]: first in, first out; lock-free storage of weft's own (a ring when bounded up to
//!   65 536 items, a list of blocks when unbounded; a larger bound is a deque under a mutex).
//! - [`LifoQueue`]: last in, first out.
//! - [`PriorityQueue`]: smallest first (`T: Ord`), like `heapq`.
//! - [`SimpleQueue`]: unbounded FIFO without task tracking or shutdown; the fastest.
//!
//! Each is a cheap handle (`Clone`) to one shared queue, `Send + Sync` when `T: Send`. Every
//! blocking put and get has a `try_` form (Python's `_nowait`), a `_timeout` form and an `_async`
//! form, and `join` has `join_timeout` and `join_async` (`join_timeout(Duration::ZERO)` only
//! checks); a put that fails gives the item back inside the error ([`PutError`], [`TryPutError`],
//! [`PutTimeoutError`]), and a `put_async` given up before it completes gives it back through
//! [`PutFuture::into_inner`]: nothing is lost.
//!
//! An async task uses the `_async` forms: `get`, `put` and `join` block the calling thread, which
//! for a task is the runtime's, so under weft-async's `run` (one thread) every task of the run
//! stops meanwhile, and a `get` that waits for another task of that run to put never returns.
//!
//! # Coming from Python
//! | Python `queue` | weft-channel |
//! |---|---|
//! | `Queue(maxsize=0)` | `Queue::new(0)`, `Queue::unbounded()` or `Queue::default()` |
//! | `Queue(maxsize=n)` | `Queue::new(n)` or `Queue::bounded(n)?` |
//! | `q.put(item)`, `q.put(item, timeout=t)` | `q.put(item)?`, `q.put_timeout(item, d)?` |
//! | `q.put_nowait(item)`, `queue.Full` | `q.try_put(item)`, `TryPutError::Full(item)` |
//! | `q.get()`, `q.get(timeout=t)` | `q.get()?`, `q.get_timeout(d)?` |
//! | `q.get_nowait()`, `queue.Empty` | `q.try_get()`, `TryGetError::Empty` |
//! | `SimpleQueue()`: `get()`, `get_nowait()`, `get(timeout=t)`, `queue.Empty` | `SimpleQueue::new()`: `get()` → the item, `try_get()`, `get_timeout(d)` → [`Empty`]; `get_async().await` → the item |
//! | `q.task_done()`, `ValueError` | `q.task_done()?`, `TaskDoneError` |
//! | `q.join()` | `q.join()`, `q.join_timeout(d)` |
//! | `q.shutdown()`, `shutdown(immediate=True)`, `queue.ShutDown` | `q.shutdown()`, `q.shutdown_immediate()` → the items left, `ShutDown` errors |
//! | `q.qsize()`, `q.empty()`, `q.full()`, `q.maxsize` | the same, `maxsize()` → `Option<usize>` |
//! | `asyncio.Queue`: `await q.put(x)`, `await q.get()`, `await q.join()` | `q.put_async(x).await`, `q.get_async().await`, `q.join_async().await` on the same queue |
//!
//! # Relationship with crossbeam, tokio and async-channel
//! crossbeam-channel and kanal are faster MPMC channels for threads; tokio's `mpsc` and
//! async-channel serve async tasks. None tracks unfinished work (`task_done`/`join`), offers LIFO
//! or priority order, or lets a blocked thread and a pending task wait on the same queue. weft's
//! bounded FIFO storage (up to 65 536 items) is a ring buffer of its own (the same slot protocol
//! as crossbeam's array queue, with the put count and the shutdown flag in its tail), unbounded
//! storage a list of blocks of its own (the protocol of crossbeam-channel's list flavour, with the
//! same count and flag in its tail); a larger bound's storage is a deque, LIFO storage a stack and
//! priority storage a heap, each under a mutex that also guards its put count and flag. The
//! storage, the accounting and the waiting (spin, then park a thread or register a waker) are
//! model-checked with loom (`--cfg weft_loom`).
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(clippy::missing_errors_doc)]

mod core;
mod error;
mod fifo;
mod list;
mod locked;
mod loom;
mod queue;
mod ring;
mod store;
mod waiters;

pub use crate::core::{GetFuture, JoinFuture, PutFuture, SimpleGetFuture};
pub use error::{
    Empty, GetError, GetTimeoutError, PutError, PutTimeoutError, TaskDoneError, TryGetError,
    TryPutError, ZeroCapacity,
};
pub use queue::{Iter, LifoQueue, PriorityQueue, Queue, SimpleQueue};

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
