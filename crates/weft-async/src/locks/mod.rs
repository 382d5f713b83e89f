//! asyncio's synchronization primitives: [`Event`], [`Condition`], [`Barrier`],
//! [`BoundedSemaphore`], and tokio's [`Lock`] and [`Semaphore`] under Python's names.
//!
//! ```
//! use std::sync::Arc;
//! use weft_async::{Barrier, Event};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let go = Arc::new(Event::new());
//! let met = Arc::new(Barrier::new(3).unwrap());
//! let tasks: Vec<_> = (0..2)
//!     .map(|_| {
//!         let (go, met) = (Arc::clone(&go), Arc::clone(&met));
//!         tokio::spawn(async move {
//!             go.wait().await;
//!             met.wait().await
//!         })
//!     })
//!     .collect();
//! go.set();
//! met.wait().await.unwrap();
//! for t in tasks {
//!     t.await.unwrap().unwrap();
//! }
//! # }
//! ```
//!
//! # The primitives
//! - [`Lock`]: tokio's `Mutex`; the guard owns access to the data ([`LockGuard`]).
//! - [`Event`]: a flag that tasks wait on.
//! - [`Condition`]: wait until notified, with the lock and the data built in; `notify(n)`
//!   says how many it woke.
//! - [`Semaphore`]: tokio's counting semaphore ([`SemaphorePermit`]).
//! - [`BoundedSemaphore`]: a semaphore that refuses to be released past its initial value.
//! - [`Barrier`]: N tasks meet, with an action, a timeout, abort and reset.
//! - asyncio's queues: [`Queue`], [`LifoQueue`] and [`PriorityQueue`] are weft-channel's queues
//!   (feature `channel`), used through their `_async` methods; weft-channel's [`SimpleQueue`]
//!   (Python's `queue.SimpleQueue`, which asyncio lacks) has `get_async` too.
//!
//! Every primitive is `Send + Sync` and works across threads and runtimes, unlike asyncio's,
//! which belong to one event loop. Waits that take a `Duration` need a tokio runtime with time
//! enabled; `Duration::MAX` waits forever.
//!
//! # Cancellation
//! Every future here may be dropped at any `.await` (a `select!`, a `timeout`) without losing
//! anything that belongs to another task:
//! - [`Event::wait`]: nothing to undo; a `set` wakes every waiter still registered.
//! - [`Condition`]: [`wait`](ConditionGuard::wait) takes the guard by value, so a dropped wait
//!   leaves the lock released (not a guard that no longer locks); a notification it had received
//!   is passed on to the next waiter (CPython 3.13's rule).
//! - [`Barrier::wait`]: dropped before the barrier trips, the task leaves the cycle (the count
//!   goes down, the barrier stays whole, as with asyncio); a timeout, unlike a drop, breaks it.
//! - [`BoundedSemaphore::acquire`], [`Semaphore::acquire`], [`Lock::lock`]: a dropped acquire
//!   takes nothing; a permit granted to it goes to the next waiter (tokio's guarantee).
//!
//! # Coming from Python
//! | Python `asyncio` | weft-async |
//! |---|---|
//! | `lock = asyncio.Lock()`; `async with lock:` | `let lock = Lock::new(data);` `let guard = lock.lock().await;` |
//! | `lock.locked()` | `lock.try_lock().is_err()` |
//! | `event = asyncio.Event()`; `set`, `clear`, `is_set`, `await event.wait()` | [`Event`], the same names |
//! | `await asyncio.wait_for(event.wait(), t)` | `event.wait_timeout(d).await` → `bool` |
//! | `cond = asyncio.Condition()`; `async with cond:` | `let cond = Condition::new(data);` `let guard = cond.acquire().await;` |
//! | `await cond.wait()` | `guard = guard.wait().await;` |
//! | `await cond.wait_for(predicate)` | `guard = guard.wait_for(\|data\| ...).await;` |
//! | `cond.notify(n)`, `notify_all()` (lock held, else `RuntimeError`) | `guard.notify(n)`, `guard.notify_all()` → how many were woken |
//! | `sem = asyncio.Semaphore(n)`; `async with sem:` | `Semaphore::new(n)`; `let _permit = sem.acquire().await?;` |
//! | `sem.release()` | `sem.add_permits(1)` |
//! | `asyncio.BoundedSemaphore(n)`; `await sem.acquire()` … `sem.release()` | [`BoundedSemaphore::new(n)`](BoundedSemaphore::new); `sem.acquire_forget().await` … `sem.release()?` |
//! | `ValueError: BoundedSemaphore released too many times` | [`ReleaseError`] |
//! | `asyncio.Barrier(n)`; `await barrier.wait()` → index | [`Barrier::new(n)?`](Barrier::new); `barrier.wait().await?` → index |
//! | `threading.Barrier(n, action, timeout)` | `Barrier::new(n)?.action(f).timeout(d)` |
//! | `barrier.abort()`, `reset()`, `parties`, `n_waiting`, `broken` | the same names, as methods |
//! | `asyncio.BrokenBarrierError` | [`BrokenBarrier`], with its [`BreakCause`] |
//! | `asyncio.Queue(maxsize)`; `await q.put(x)`, `await q.get()`, `await q.join()` | `Queue::new(maxsize)`; `q.put_async(x).await?`, `q.get_async().await?`, `q.join_async().await` |
//! | `q.put_nowait(x)`, `q.get_nowait()`, `q.task_done()` | `q.try_put(x)`, `q.try_get()`, `q.task_done()?` |
//! | `asyncio.LifoQueue`, `asyncio.PriorityQueue` | [`LifoQueue`], [`PriorityQueue`], the same `_async` methods |
//! | (`queue.SimpleQueue`, from a task) | [`SimpleQueue`]: `q.put(x)`, `q.get_async().await` → the item (it is never shut down) |
//!
//! # Relationship with tokio
//! [`Lock`] and [`Semaphore`] *are* tokio's `Mutex` and `Semaphore`, re-exported. tokio has no
//! event that stays set (its `Notify` stores at most one permit and forgets `notify_waiters` for
//! later waiters), no condition variable, no barrier with an action, timeout, abort or reset (its
//! `Barrier` cannot be broken), and no bounded semaphore. [`BoundedSemaphore`] is a tokio
//! `Semaphore` plus a count of releasable permits; [`Condition`] is a tokio `Mutex` plus weft's
//! own waiter list, which [`Barrier`] and [`Event`] (with an atomic flag) also use: a slab of
//! wakers under a parking_lot mutex, so `notify(n)` can count and pass notifications on, a
//! barrier can hand each task its index, and every waiter is woken even if one waker panics.
//! That list is model-checked with loom (`--cfg weft_loom`, `tests/loom.rs`).
//!
//! asyncio's queues are not duplicated here: `asyncio.Queue` is
//! [`weft_channel::Queue`](https://docs.rs/weft-channel) used through `put_async`, `get_async`
//! and `join_async` (one queue serves threads and tasks at once), re-exported with its siblings
//! under the default feature `channel`; its errors are in `weft_channel`.

mod barrier;
mod condition;
mod error;
mod event;
mod semaphore;
mod waitlist;

/// The answer of a wait with a zero timeout, taken from the state at the call (not after a
/// wait for the timer's next turn, a millisecond or two, when a later `set`, release or notify
/// would count). It still takes from the task's cooperative budget, so that a loop polling
/// with zero timeouts lets the other tasks run every so often.
async fn zero_wait<T>(answer: T) -> T {
    tokio::task::coop::consume_budget().await;
    answer
}

/// `fut`, given up after `timeout` (`None` then); a timeout whose deadline the timer cannot
/// hold never comes (see `timeout::deadline_in`).
async fn within<F: std::future::Future>(timeout: std::time::Duration, fut: F) -> Option<F::Output> {
    match crate::timeout::deadline_in(timeout) {
        Some(deadline) => tokio::time::timeout_at(deadline, fut).await.ok(),
        None => Some(fut.await),
    }
}

pub use self::barrier::Barrier;
pub use self::condition::{Condition, ConditionGuard};
pub use self::error::ReleaseError;
pub use self::event::Event;
pub use self::semaphore::{BoundedSemaphore, BoundedSemaphorePermit};
/// The barrier's errors, shared with weft-sync's thread barrier.
pub use weft_sync::{BreakCause, BrokenBarrier, ZeroParties};

/// Python's `asyncio.Lock`: tokio's fair, async [`Mutex`](tokio::sync::Mutex), re-exported. It
/// owns the data it protects (use `Lock<()>` for a bare lock).
///
/// | Python | weft-async |
/// |---|---|
/// | `async with lock:` | `let _guard = lock.lock().await;` |
/// | `lock.locked()` | `lock.try_lock().is_err()` |
/// | `lock.release()` | drop the guard |
///
/// ```
/// use weft_async::Lock;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let total = Lock::new(0);
/// *total.lock().await += 5;
/// assert_eq!(*total.lock().await, 5);
/// # }
/// ```
pub use tokio::sync::Mutex as Lock;

/// Python's `asyncio.Semaphore`: tokio's fair [`Semaphore`](tokio::sync::Semaphore),
/// re-exported.
///
/// | Python | weft-async |
/// |---|---|
/// | `async with sem:` | `let _permit = sem.acquire().await?;` |
/// | `await sem.acquire()` … `sem.release()` | `sem.acquire().await?.forget();` … `sem.add_permits(1);` |
/// | `sem.locked()` | `sem.available_permits() == 0` |
///
/// ```
/// use weft_async::Semaphore;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let sem = Semaphore::new(1);
/// let permit = sem.acquire().await.unwrap();
/// assert_eq!(sem.available_permits(), 0);
/// drop(permit);
/// sem.add_permits(1); // an unbounded semaphore may grow past its start value
/// assert_eq!(sem.available_permits(), 2);
/// # }
/// ```
pub use tokio::sync::Semaphore;

#[doc(no_inline)]
pub use tokio::sync::{
    MutexGuard as LockGuard, OwnedMutexGuard as OwnedLockGuard, OwnedSemaphorePermit,
    SemaphorePermit,
};

#[cfg(feature = "channel")]
#[cfg_attr(docsrs, doc(cfg(feature = "channel")))]
#[doc(no_inline)]
pub use weft_channel::{LifoQueue, PriorityQueue, Queue, SimpleQueue};
