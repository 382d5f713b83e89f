//! Async generators: Python's `async def` with `yield`, consumed with `async for`.
//!
//! Two ways to write one:
//! - the macros [`async_gen!`] and [`try_async_gen!`] (async-stream's `stream!` and
//!   `try_stream!`, re-exported): `yield x;` inside the block, as in Python;
//! - the functions [`generator`], [`try_generator`] and [`coroutine`], no macro: the body is an
//!   async closure that receives a [`Yielder`] (a [`CoYielder`] for [`coroutine`]) and awaits
//!   `co.yield_(x)`. rustfmt and IDEs see plain Rust, the result is [`Unpin`], it can be closed
//!   with `aclose()` so that its cleanup runs and is awaited, and [`coroutine`] is two-way
//!   (Python's `asend`).
//!
//! ```
//! use weft_async::{anext, generator};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let mut squares = generator(|mut co| async move {
//!     for i in 1..=3u32 {
//!         co.yield_(i * i).await;
//!     }
//! });
//! let mut seen = Vec::new();
//! while let Some(x) = anext(&mut squares).await {
//!     seen.push(x);
//! }
//! assert_eq!(seen, [1, 4, 9]);
//! # });
//! ```
//!
//! # Coming from Python
//! | Python | weft |
//! |---|---|
//! | `async def gen(): ... yield x` | `async_gen! { ... yield x; }`, or `generator(\|mut co\| async move { ... co.yield_(x).await; })` |
//! | `async for x in gen():` | `while let Some(x) = anext(&mut g).await` (or `g.next().await` with `futures::StreamExt`) |
//! | an exception raised midway | `try_async_gen!` / [`try_generator`]: an `Err(e)` item, then the end |
//! | `StopAsyncIteration` | `None` |
//! | `await anext(g)`, `await anext(g, default)` | [`anext`]`(&mut g).await` → `Option<T>`, [`anext_or`]`(&mut g, default).await` → `T` |
//! | `v = yield x`; `await g.asend(None)`, then `await g.asend(v)` | [`coroutine`]: `let v = co.yield_(x).await;`; `c.start().await`, then `c.asend(v).await` |
//! | `await g.aclose()`, `async with contextlib.aclosing(g):` | `g.aclose().await` after the loop (Rust has no async drop) |
//! | `try: yield x` / `finally: await cleanup()` | `if co.yield_or_exit(x).await.is_err() { cleanup().await; }` |
//! | `GeneratorExit` | [`GeneratorExit`] |
//! | `RuntimeError: async generator ignored GeneratorExit` | [`AcloseError::IgnoredGeneratorExit`], with the value yielded |
//! | `await g.athrow(exc)` | none (Rust has no exceptions to throw in): send a [`coroutine`] an enum its body acts on; `aclose` for `GeneratorExit` |
//! | `await asyncio.wait_for(anext(g), t)` timing out | the body is left where it was awaiting, and the next `anext` resumes it there (see below) |
//!
//! # Drop and `aclose`
//! Dropping any of these generators drops its body where it is suspended: the destructors of its
//! locals and captured values run, as Python's `finally` blocks run on `GeneratorExit`, but
//! nothing can be awaited and no code after the `yield` runs (asyncio schedules `aclose()` for
//! a generator collected unclosed, so there a `finally` runs in full, awaits included; here call
//! `aclose` for that). The exits of the
//! [`async_with`](crate::async_with) blocks (and stacks) it was inside go where those of any
//! dropped block go: to a runtime task that [`run`](crate::run) awaits, or to an enclosing
//! block that awaits them (see `async_with`'s Cancellation). The macros' streams have only this.
//!
//! `aclose()` (on [`Generator`], [`TryGenerator`], [`Coroutine`]) does more when the body is
//! suspended at a [`yield_or_exit`](Yielder::yield_or_exit): that yield returns
//! `Err(GeneratorExit)` and the body runs on, awaiting its cleanup, until it returns; `aclose`
//! waits for it. Suspended at a plain [`yield_`](Yielder::yield_), never started, or
//! interrupted mid-step (a `next()` dropped by a timeout), the body is dropped, as on drop: an
//! await point that is not a yield cannot be made to raise. The exits of the
//! [`async_with`](crate::async_with) blocks (and stacks) it was inside are then awaited before
//! `aclose` returns, as Python's `aclose` runs their `__aexit__`. An exit the body was itself
//! awaiting when it was interrupted (its block's body done, its exit not) is not resumed, on
//! `aclose` or drop: an `async_with` dropped during its exit drops that exit. A cleanup after
//! `GeneratorExit` whose `aclose` was interrupted stays where it was: a later `aclose` resumes
//! it and waits for it, a later `next()` or drop drops it. The exits that `aclose` awaits see
//! [`Outcome::Cancelled`](crate::Outcome::Cancelled), where Python's `__aexit__` sees
//! `GeneratorExit`.
//!
//! A `next()` (or `asend`) dropped mid-step, by a [`timeout`](crate::timeout) or a lost
//! `select!` branch, does not touch the body: it stays where it was awaiting, and the next
//! `next()` resumes it there (the value it then yields is not lost). Python differs: cancelling
//! `anext` raises `CancelledError` in the body at that `await`, its `finally` blocks run, and the
//! generator is finished (`StopAsyncIteration` after). To end it here, `aclose` or drop it.
//!
//! # Panics and misuse
//! A panic in the body propagates out of the consumer's `poll_next` (`next().await`, `asend`,
//! `aclose`), as an exception propagates out of `anext`; the body is dropped as the panic
//! unwinds (its locals and captures, as a function's) and the generator is finished (later
//! calls see `None`). A [`Yielder`] belongs to its generator's body: awaiting
//! its yield anywhere else (in a spawned task, another thread, another generator's body) panics
//! with a message that says so, instead of losing the value or waiting forever. The one place
//! this cannot be told apart is a nested executor on the body's own thread during its poll
//! (`futures::executor::block_on(co.yield_(x))` inside the body): the yield is placed, and waits
//! for a next step that the blocked body never reaches, so that `block_on` never returns.
//!
//! # Relationship with async-stream, futures and tokio
//! The macros are async-stream's, unchanged. The functions use the same technique (a
//! thread-local pointer to the generator's slot, set while the generator polls its body, so a
//! value moves from the yield to the consumer with no lock and no allocation), with a
//! per-generator identity check that makes every misuse a panic rather than undefined
//! behaviour (compare async-stream issue 106), and invariant item types. They cost about 1.1×
//! what async-stream's `stream!` costs per item (4.5 ns against 4.1 ns here; mostly the state
//! `aclose` and `asend` need: `benches/generator.rs`, `benches/generator_design.rs` and
//! BENCHMARKS.md); the safe alternative, a mutex-guarded slot shared by the yielder and the
//! stream, costs more than twice as much, which is why this module has `unsafe` code. The
//! generators are [`futures_core::Stream`]s, so `futures::StreamExt` and
//! `tokio_stream::StreamExt` apply.

use std::cell::Cell;
use std::convert::Infallible;
use std::fmt;
use std::future::{poll_fn, Future};
use std::marker::PhantomData;
use std::mem;
use std::panic::resume_unwind;
use std::pin::Pin;
use std::ptr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use futures_core::{FusedStream, Stream};

use crate::context::{await_or_hand_over, drop_collecting_exits, hand_over_exits, HandedExit};

/// Python's `async def` generator as a block: `yield x;` inside `async_gen! { ... }` makes a
/// [`Stream`] of the values yielded (async-stream's `stream!`, re-exported).
///
/// The stream is not [`Unpin`]: pin it (`std::pin::pin!`) before taking items. Dropping it drops
/// the block where it is suspended; there is no `aclose` (use [`generator`] for one).
///
/// ```
/// use std::pin::pin;
/// use std::time::Duration;
/// use weft_async::{anext, async_gen};
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// // async def ticks():
/// //     for i in range(3):
/// //         await asyncio.sleep(0.001)
/// //         yield i
/// let mut ticks = pin!(async_gen! {
///     for i in 0..3u32 {
///         tokio::time::sleep(Duration::from_millis(1)).await;
///         yield i;
///     }
/// });
/// // async for i in ticks(): ...
/// let mut seen = Vec::new();
/// while let Some(i) = anext(&mut ticks).await {
///     seen.push(i);
/// }
/// assert_eq!(seen, [0, 1, 2]);
/// # });
/// ```
#[doc(inline)]
pub use async_stream::stream as async_gen;

/// Python's `async def` generator that may raise: `yield x;` and `?` inside
/// `try_async_gen! { ... }` make a [`Stream`] of `Result<T, E>` that ends after the first `Err`
/// (async-stream's `try_stream!`, re-exported).
///
/// ```
/// use std::pin::pin;
/// use weft_async::{anext, try_async_gen};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let mut numbers = pin!(try_async_gen! {
///     for s in ["1", "2", "x", "4"] {
///         let n: u32 = s.parse()?;
///         yield n;
///     }
/// });
/// let first: Option<Result<u32, std::num::ParseIntError>> = anext(&mut numbers).await;
/// assert_eq!(first, Some(Ok(1)));
/// assert_eq!(anext(&mut numbers).await, Some(Ok(2)));
/// assert!(matches!(anext(&mut numbers).await, Some(Err(_)))); // "x" does not parse
/// assert!(anext(&mut numbers).await.is_none()); // and the generator is finished
/// # });
/// ```
#[doc(inline)]
pub use async_stream::try_stream as try_async_gen;

// ---------------------------------------------------------------------------------------------
// The slot between a generator and its body
// ---------------------------------------------------------------------------------------------

thread_local! {
    /// The slot (its `key`, the first field) of the generator whose body this thread is
    /// polling; null outside `enter`.
    static CURRENT: Cell<*mut u64> = const { Cell::new(ptr::null_mut()) };
}

/// Generator identities; 0 is never handed out, and none reaches `EXIT_AWARE` (2^61 of them).
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Set in a slot's `key` once `aclose` polls the body: the yields take their closing path.
const CLOSING: u64 = 1 << 63;

/// Set in a slot's `key` by a plain yield of a coroutine polled again while closing: `aclose`
/// drops the body.
const REFUSED: u64 = 1 << 62;

/// Set in a slot's `key` when the value placed was a `yield_or_exit`'s: `aclose` lets that
/// yield raise `GeneratorExit`.
const EXIT_AWARE: u64 = 1 << 61;

/// The flag bits of a slot's key; the rest is the generator's identity. (Bits of the key rather
/// than fields of their own: the slot is written and read back in every poll, and one word
/// costs less than several, whose small separate stores a wider load could not forward.)
const FLAGS: u64 = CLOSING | REFUSED | EXIT_AWARE;

/// A marker that makes its holder invariant in `T` and `R`, and `Send` and `Sync` whatever they
/// are.
type Invariant<T, R> = PhantomData<fn(T, R) -> (T, R)>;

/// What a generator and the yields of its body pass each other during one poll of the body.
///
/// It lives on the stack of that poll (see `Core::poll_body`), not in the generator: a value
/// placed by a yield is read back from a local that dies with the poll, which the compiler can
/// keep in registers, where a slot in the generator costs a store and a reload per item.
#[repr(C)]
struct Slot<T, R> {
    /// The generator's identity, with the `FLAGS` bits. First, so that a yield can read it
    /// through `CURRENT` whatever the slot's types.
    key: u64,
    /// Yielded, not yet taken by the consumer.
    value: Option<T>,
    /// Where [`Coroutine::asend`] left its value for the yield to take: the coroutine's `reply`
    /// in a coroutine's steps, a `None` of its own in any `aclose`, and null in a generator's
    /// steps, whose yields take no replies. A pointer, not a copy: the value is taken
    /// where `asend` wrote it (a copy of a freshly written `Option<R>` in and out of each poll
    /// cost a third of a round trip: a wide load of two small stores, which the CPU cannot
    /// forward).
    reply: *mut Option<R>,
    /// Invariance in both types: a yielder or a sender must not be able to shorten a lifetime
    /// in the type the other side reads.
    _invariant: Invariant<T, R>,
}

/// Runs `f` (a poll of the body) with `slot` as this thread's current slot, and restores the
/// previous one after, also when `f` panics.
#[inline(always)]
fn enter<T, R, O>(slot: &mut Slot<T, R>, f: impl FnOnce() -> O) -> O {
    struct Restore(*mut u64);
    impl Drop for Restore {
        #[inline(always)]
        fn drop(&mut self) {
            CURRENT.with(|c| c.set(self.0));
        }
    }
    let slot: *mut Slot<T, R> = slot;
    let prev = CURRENT.with(|c| c.replace(slot.cast()));
    let _restore = Restore(prev);
    f()
}

/// The slot of generator `id` and whether it is closing, when this thread is polling that
/// generator's body.
///
/// # Panics
/// When it is not: the yield is being polled outside its generator's body.
///
/// # Safety
/// `T` and `R` are those of the yielder holding `id`, and the reference returned is used before
/// the caller returns, without running user code (dropping a value) while it lives.
#[inline(always)]
unsafe fn slot_of<'a, T, R>(id: u64) -> (&'a mut Slot<T, R>, bool) {
    let current = CURRENT.with(Cell::get);
    if current.is_null() {
        misplaced_yield();
    }
    // SAFETY: a non-null `CURRENT` was set by `enter`, still on this thread's stack below us,
    // to a slot that is alive for the whole call; `key` is its first field whatever its types
    // (`repr(C)`), and no reference to it is live (the generator touches its slot only before
    // and after `enter`, and the yields of its body are polled one at a time).
    let key = unsafe { *current };
    if key & !FLAGS != id {
        misplaced_yield();
    }
    // SAFETY: identities are unique (a 64-bit counter, never reused), so this is the slot of
    // the generator that made this yielder (the only holder of `id`), whose `T` and `R` are
    // the yielder's (fixed together by `generator`, `try_generator` or `coroutine`, and
    // invariant, so no lifetime in them can differ); it is alive and not otherwise borrowed,
    // as above, and the caller's contract keeps the reference within its poll.
    let slot = unsafe { &mut *current.cast::<Slot<T, R>>() };
    (slot, key & CLOSING != 0)
}

/// The slot of generator `id` if this thread is polling that generator's body, else `None`
/// (never panics: for use in `Drop`).
///
/// # Safety
/// As [`slot_of`].
#[inline(always)]
unsafe fn try_slot_of<'a, T, R>(id: u64) -> Option<&'a mut Slot<T, R>> {
    let current = CURRENT.with(Cell::get);
    // SAFETY: as in `slot_of`.
    if current.is_null() || unsafe { *current } & !FLAGS != id {
        return None;
    }
    // SAFETY: as in `slot_of`.
    Some(unsafe { &mut *current.cast::<Slot<T, R>>() })
}

/// A yield-or-exit future dropped after placing its value and before being resumed: the body
/// has moved on from it, so `aclose` must not treat the body as waiting there.
#[inline(always)]
fn abandon<T, R>(id: u64) {
    // SAFETY: the types are the yielder's; nothing is dropped through the reference.
    if let Some(slot) = unsafe { try_slot_of::<T, R>(id) } {
        slot.key &= !EXIT_AWARE;
    }
}

#[cold]
#[inline(never)]
fn misplaced_yield() -> ! {
    panic!(
        "weft_async: a yield was awaited outside its generator's body (its yielder moved into \
         another task, thread or generator); a yield must be awaited by the body it was given to"
    )
}

/// Places `value` in generator `id`'s slot (`value` stays `Some` when an earlier yield's value,
/// its future dropped after placing it, is still there: the consumer takes that one first, then
/// polls again).
#[inline(always)]
fn place<T, R>(id: u64, value: &mut Option<T>, exit_aware: bool) {
    // SAFETY: `Slot<T, R>` is the slot type of the yielder holding `id` (both callers pass the
    // types of their yielder), and the reference ends here; `slot.value` is `None` when
    // assigned, so nothing is dropped.
    let (slot, _closing) = unsafe { slot_of::<T, R>(id) };
    if slot.value.is_none() {
        slot.value = value.take();
        // The slot starts each poll without the bit, and only its first value is placed.
        if exit_aware {
            slot.key |= EXIT_AWARE;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The yielders
// ---------------------------------------------------------------------------------------------

/// The body's handle on its [`generator`] (or [`try_generator`]): `co.yield_(x).await` is
/// Python's `yield x`.
///
/// A yielder is made by those functions and handed to the body; its yields must be awaited by
/// that body (see [`yield_`](Yielder::yield_) for what happens otherwise). It is [`Send`] and
/// [`Sync`], so a body holding it can be spawned. [`CoYielder`] is the two-way one.
///
/// ```
/// use weft_async::{anext, generator, Yielder};
///
/// async fn countdown(mut co: Yielder<u32>, from: u32) {
///     for i in (1..=from).rev() {
///         co.yield_(i).await;
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let mut g = generator(|co| countdown(co, 3));
/// assert_eq!(anext(&mut g).await, Some(3));
/// # });
/// ```
///
/// It is invariant in `T`, so a body cannot yield a shorter-lived reference than the consumer
/// reads:
///
/// ```compile_fail
/// use weft_async::Yielder;
///
/// fn shorten<'a>(co: Yielder<&'static str>) -> Yielder<&'a str> {
///     co
/// }
/// ```
pub struct Yielder<T> {
    id: u64,
    _types: Invariant<T, ()>,
}

impl<T> Yielder<T> {
    /// Yields `value` to the consumer and waits to be resumed (Python's `yield value`): the
    /// future completes when the consumer asks for the next value.
    ///
    /// If the generator is closed with `aclose()` while suspended here, this future never
    /// completes: the body is dropped at this point, as on drop. Use
    /// [`yield_or_exit`](Yielder::yield_or_exit) where the body must await its cleanup.
    ///
    /// # Panics
    /// When polled outside its generator's body: the yielder moved into a spawned task,
    /// another thread, or another generator's body. The value could not reach the consumer,
    /// so the panic says so rather than lose it or wait forever. Joining other futures with a
    /// yield inside the body (`join!`, `select!`) is fine; a yield future dropped after its
    /// first poll still delivers its value, unless another yield of the same step had placed
    /// one first (there is one slot): that later value is lost with its future, as any
    /// cancelled future loses what it holds.
    ///
    /// ```
    /// use weft_async::{anext, generator};
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let mut g = generator(|mut co| async move {
    ///     co.yield_("a").await;
    ///     co.yield_("b").await;
    /// });
    /// assert_eq!(anext(&mut g).await, Some("a"));
    /// assert_eq!(anext(&mut g).await, Some("b"));
    /// assert_eq!(anext(&mut g).await, None);
    /// # });
    /// ```
    pub fn yield_(&mut self, value: T) -> Yield<'_, T> {
        Yield {
            id: self.id,
            value: Some(value),
            _co: PhantomData,
        }
    }

    /// Yields `value` like [`yield_`](Yielder::yield_), and returns `Err(GeneratorExit)` if the
    /// generator is closed with `aclose()` while suspended here (Python's `GeneratorExit`
    /// raised at the `yield`): the body then runs its cleanup, awaiting what it needs, and
    /// returns; `aclose` waits for it. Yielding again after that is Python's "async generator
    /// ignored GeneratorExit": `aclose` drops the body and answers
    /// [`AcloseError::IgnoredGeneratorExit`].
    ///
    /// On drop (rather than `aclose`), the body is dropped here and this never returns.
    ///
    /// # Panics
    /// As [`yield_`](Yielder::yield_).
    ///
    /// ```
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::sync::Arc;
    /// use weft_async::{anext, generator};
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let cleaned = Arc::new(AtomicBool::new(false));
    /// let done = cleaned.clone();
    /// // async def lines():
    /// //     try:
    /// //         while True: yield "line"
    /// //     finally:
    /// //         await flush()
    /// let mut g = generator(|mut co| async move {
    ///     loop {
    ///         if co.yield_or_exit("line").await.is_err() {
    ///             tokio::task::yield_now().await; // awaiting cleanup, e.g. a flush
    ///             done.store(true, Ordering::SeqCst);
    ///             return;
    ///         }
    ///     }
    /// });
    /// assert_eq!(anext(&mut g).await, Some("line"));
    /// g.aclose().await.unwrap();
    /// assert!(cleaned.load(Ordering::SeqCst));
    /// # });
    /// ```
    pub fn yield_or_exit(&mut self, value: T) -> YieldOrExit<'_, T> {
        YieldOrExit {
            id: self.id,
            value: Some(value),
            parked: false,
            _co: PhantomData,
        }
    }
}

impl<T> fmt::Debug for Yielder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Yielder").finish_non_exhaustive()
    }
}

/// The body's handle on its [`coroutine`]: `co.yield_(x).await` is Python's `v = yield x`, and
/// returns the `v` the consumer sends with [`asend`](Coroutine::asend).
///
/// As [`Yielder`] otherwise (same panics on misuse, same `aclose` behaviour).
///
/// ```
/// use weft_async::{coroutine, CoYielder};
///
/// async fn running_total(mut co: CoYielder<u64, u64>) {
///     let mut total = 0;
///     loop {
///         total += co.yield_(total).await;
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let mut c = coroutine(running_total);
/// assert_eq!(c.start().await, Ok(Some(0)));
/// assert_eq!(c.asend(5).await, Ok(Some(5)));
/// assert_eq!(c.asend(7).await, Ok(Some(12)));
/// # });
/// ```
pub struct CoYielder<T, R> {
    id: u64,
    _types: Invariant<T, R>,
}

impl<T, R> CoYielder<T, R> {
    /// Yields `value` to the consumer and waits for the value it sends back with
    /// [`asend`](Coroutine::asend) (Python's `v = yield value`).
    ///
    /// On `aclose()` while suspended here, this never completes and the body is dropped, as
    /// for [`Yielder::yield_`].
    ///
    /// A body that stops awaiting this yield once it has been resumed (a `select!` that took
    /// another branch) loses the value [`asend`](Coroutine::asend) sent to it, as a cancelled
    /// future loses what it holds: that `asend` returns the body's next yield, and the next
    /// `asend` replaces the value that nothing received. Python's `yield` cannot be abandoned
    /// this way.
    ///
    /// # Panics
    /// As [`Yielder::yield_`].
    ///
    /// ```
    /// use weft_async::coroutine;
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let mut c = coroutine(|mut co| async move {
    ///     let name: &str = co.yield_("who?").await;
    ///     co.yield_(if name == "ada" { "hello ada" } else { "hello" }).await;
    /// });
    /// assert_eq!(c.start().await, Ok(Some("who?")));
    /// assert_eq!(c.asend("ada").await, Ok(Some("hello ada")));
    /// # });
    /// ```
    pub fn yield_(&mut self, value: T) -> CoYield<'_, T, R> {
        CoYield {
            id: self.id,
            value: Some(value),
            _co: PhantomData,
        }
    }

    /// Yields `value` like [`yield_`](CoYielder::yield_), and returns `Err(GeneratorExit)` if
    /// the coroutine is closed with `aclose()` while suspended here, as
    /// [`Yielder::yield_or_exit`].
    ///
    /// # Panics
    /// As [`Yielder::yield_`].
    ///
    /// ```
    /// use weft_async::{coroutine, GeneratorExit};
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let mut c = coroutine(|mut co| async move {
    ///     while let Ok(n) = co.yield_or_exit(0u32).await {
    ///         let _: u32 = n;
    ///     }
    ///     // GeneratorExit: clean up here
    /// });
    /// c.start().await.unwrap();
    /// c.aclose().await.unwrap();
    /// # });
    /// ```
    pub fn yield_or_exit(&mut self, value: T) -> CoYieldOrExit<'_, T, R> {
        CoYieldOrExit {
            id: self.id,
            value: Some(value),
            parked: false,
            _co: PhantomData,
        }
    }
}

impl<T, R> fmt::Debug for CoYielder<T, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CoYielder").finish_non_exhaustive()
    }
}

/// Makes a yielder and its generator's identity.
fn new_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// The future returned from [`Yielder::yield_`]: Python's `yield value`.
///
/// ```
/// use weft_async::{generator, Yield};
///
/// let _g = generator(|mut co| async move {
///     let y: Yield<'_, u8> = co.yield_(1);
///     y.await;
/// });
/// ```
#[must_use = "a yield does nothing unless awaited"]
pub struct Yield<'a, T> {
    id: u64,
    value: Option<T>,
    _co: PhantomData<&'a mut Yielder<T>>,
}

// The value is moved, never pinned.
impl<T> Unpin for Yield<'_, T> {}

impl<T> Future for Yield<'_, T> {
    type Output = ();

    #[inline]
    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.value.is_none() {
            // Placed. A generator polls its body again only for the next value (and `aclose`
            // never polls a body suspended at a plain yield), unless the body polls this
            // future again in the same step (a `select!` loop), with a value still in the slot
            // for the consumer: then it waits for the next step too.
            // SAFETY: the types are this yielder's; nothing is kept.
            let again = unsafe { try_slot_of::<T, ()>(this.id) }.is_some_and(|s| s.value.is_some());
            return if again {
                Poll::Pending
            } else {
                Poll::Ready(())
            };
        }
        place::<T, ()>(this.id, &mut this.value, false);
        Poll::Pending
    }
}

/// The future returned from [`Yielder::yield_or_exit`]: Python's `yield value`, which raises
/// `GeneratorExit` when the generator is closed while suspended there.
///
/// ```
/// use weft_async::{generator, GeneratorExit, YieldOrExit};
///
/// let _g = generator(|mut co| async move {
///     let y: YieldOrExit<'_, u8> = co.yield_or_exit(1);
///     let r: Result<(), GeneratorExit> = y.await;
///     let _ = r;
/// });
/// ```
#[must_use = "a yield does nothing unless awaited"]
pub struct YieldOrExit<'a, T> {
    id: u64,
    value: Option<T>,
    parked: bool,
    _co: PhantomData<&'a mut Yielder<T>>,
}

// The value is moved, never pinned.
impl<T> Unpin for YieldOrExit<'_, T> {}

impl<T> Future for YieldOrExit<'_, T> {
    type Output = Result<(), GeneratorExit>;

    #[inline]
    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if this.value.is_some() {
            place::<T, ()>(this.id, &mut this.value, true);
            this.parked = this.value.is_none();
            return Poll::Pending;
        }
        // SAFETY: the types are this yielder's; nothing is kept.
        let (slot, closing) = unsafe { slot_of::<T, ()>(this.id) };
        if !closing && slot.value.is_some() {
            // Polled again in the step that placed a value (see `Yield::poll`).
            return Poll::Pending;
        }
        this.parked = false;
        Poll::Ready(if closing { Err(GeneratorExit) } else { Ok(()) })
    }
}

/// The future returned from [`CoYielder::yield_`]: Python's `v = yield value`.
///
/// ```
/// use weft_async::{coroutine, CoYield};
///
/// let _c = coroutine(|mut co| async move {
///     let y: CoYield<'_, u8, String> = co.yield_(1);
///     let _sent: String = y.await;
/// });
/// ```
#[must_use = "a yield does nothing unless awaited"]
pub struct CoYield<'a, T, R> {
    id: u64,
    value: Option<T>,
    _co: PhantomData<&'a mut CoYielder<T, R>>,
}

// The value is moved, never pinned.
impl<T, R> Unpin for CoYield<'_, T, R> {}

impl<T, R> Future for CoYield<'_, T, R> {
    type Output = R;

    #[inline]
    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<R> {
        let this = self.get_mut();
        if this.value.is_some() {
            place::<T, R>(this.id, &mut this.value, false);
            return Poll::Pending;
        }
        // SAFETY: the types are this yielder's; the reply is moved out, nothing dropped.
        let (slot, closing) = unsafe { slot_of::<T, R>(this.id) };
        if closing {
            // A plain yield cannot raise: `aclose` drops the body here.
            slot.key |= REFUSED;
            return Poll::Pending;
        }
        if slot.value.is_some() {
            // Polled again in the step that placed a value (see `Yield::poll`): a reply there is
            // one that no yield took (its yield dropped after placing), not this yield's.
            return Poll::Pending;
        }
        debug_assert!(!slot.reply.is_null(), "a coroutine's poll passes its reply");
        // SAFETY: this is a coroutine's yield (only a `CoYielder` makes one), so the slot of its
        // poll points at a live reply (the coroutine's own, or a local of `aclose`'s), which
        // nothing else touches during the poll.
        match unsafe { (*slot.reply).take() } {
            Some(r) => Poll::Ready(r),
            None => Poll::Pending,
        }
    }
}

/// The future returned from [`CoYielder::yield_or_exit`]: Python's `v = yield value`, which
/// raises `GeneratorExit` when the coroutine is closed while suspended there.
///
/// ```
/// use weft_async::{coroutine, CoYieldOrExit, GeneratorExit};
///
/// let _c = coroutine(|mut co| async move {
///     let y: CoYieldOrExit<'_, u8, String> = co.yield_or_exit(1);
///     let _sent: Result<String, GeneratorExit> = y.await;
/// });
/// ```
#[must_use = "a yield does nothing unless awaited"]
pub struct CoYieldOrExit<'a, T, R> {
    id: u64,
    value: Option<T>,
    parked: bool,
    _co: PhantomData<&'a mut CoYielder<T, R>>,
}

// The value is moved, never pinned.
impl<T, R> Unpin for CoYieldOrExit<'_, T, R> {}

impl<T, R> Future for CoYieldOrExit<'_, T, R> {
    type Output = Result<R, GeneratorExit>;

    #[inline]
    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if this.value.is_some() {
            place::<T, R>(this.id, &mut this.value, true);
            this.parked = this.value.is_none();
            return Poll::Pending;
        }
        // SAFETY: the types are this yielder's; the reply is moved out, nothing dropped.
        let (slot, closing) = unsafe { slot_of::<T, R>(this.id) };
        if closing {
            this.parked = false;
            return Poll::Ready(Err(GeneratorExit));
        }
        if slot.value.is_some() {
            // Polled again in the step that placed a value (see `CoYield::poll`).
            return Poll::Pending;
        }
        debug_assert!(!slot.reply.is_null(), "a coroutine's poll passes its reply");
        // SAFETY: as in `CoYield::poll`.
        match unsafe { (*slot.reply).take() } {
            Some(r) => {
                this.parked = false;
                Poll::Ready(Ok(r))
            }
            None => Poll::Pending,
        }
    }
}

impl<T> Drop for YieldOrExit<'_, T> {
    fn drop(&mut self) {
        if self.parked {
            abandon::<T, ()>(self.id);
        }
    }
}

impl<T, R> Drop for CoYieldOrExit<'_, T, R> {
    fn drop(&mut self) {
        if self.parked {
            abandon::<T, R>(self.id);
        }
    }
}

macro_rules! debug_yield {
    ($($name:ident<$($p:ident),*>),*) => {$(
        impl<$($p),*> fmt::Debug for $name<'_, $($p),*> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("placed", &self.value.is_none())
                    .finish_non_exhaustive()
            }
        }
    )*};
}

debug_yield!(Yield<T>, YieldOrExit<T>, CoYield<T, R>, CoYieldOrExit<T, R>);

// ---------------------------------------------------------------------------------------------
// The core shared by the three generator kinds
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// Never polled.
    Fresh,
    /// Between two yields (a step interrupted by a dropped `next()`/`asend`, or awaiting).
    Running,
    /// At a yield whose value the consumer has taken; `true` when that yield is a
    /// `yield_or_exit` (so `aclose` lets it raise `GeneratorExit`).
    Suspended(bool),
    /// Returned, panicked, or closed.
    Finished,
}

/// One step of a body: what a poll of it came to.
enum Step<T, O> {
    Yielded(T),
    Returned(O),
    Finished,
}

/// How a close ended.
enum Closed<T, O> {
    /// Finished, or dropped.
    Done,
    /// The body returned while closing.
    Returned(O),
    /// The body yielded while closing.
    Ignored(T),
}

/// Finishes the generator and drops its body when dropped, which only an unwinding poll of the
/// body does (a poll that returns forgets it): a panic in the body ends the generator, and
/// whatever the body owns is dropped with the unwinding, as a function's locals are.
struct FinishOnUnwind<'a, Fut> {
    body: &'a mut Option<Pin<Box<Fut>>>,
    state: &'a mut State,
}

impl<Fut> Drop for FinishOnUnwind<'_, Fut> {
    fn drop(&mut self) {
        *self.state = State::Finished;
        *self.body = None;
    }
}

struct Core<T, R, Fut: Future> {
    /// `None` once finished.
    body: Option<Pin<Box<Fut>>>,
    /// The body's output, when it returned in the same poll as a value it yielded.
    ret: Option<Fut::Output>,
    /// The generator's identity, with `CLOSING` once closing: the key of every poll's slot.
    key: u64,
    /// `aclose` has begun.
    closing: bool,
    state: State,
    /// The item type, invariant as in the slot.
    _types: Invariant<T, R>,
}

// Nothing in a core is pinned but the body, which is boxed.
impl<T, R, Fut: Future> Unpin for Core<T, R, Fut> {}

impl<T, R, Fut: Future> Core<T, R, Fut> {
    /// A core for generator `id`, whose body `f` makes from its yielder.
    fn new<Y>(f: impl FnOnce(Y) -> Fut, co: impl FnOnce(u64) -> Y) -> Self {
        let id = new_id();
        Core {
            body: Some(Box::pin(f(co(id)))),
            ret: None,
            key: id,
            closing: false,
            state: State::Fresh,
            _types: PhantomData,
        }
    }

    fn finish(&mut self) {
        // Finished first: the body's drop runs user code (a hand-written body's destructor, the
        // captures of a combinator), and a panic there leaves a finished generator, as a panic
        // in the body does (see `FinishOnUnwind`).
        self.state = State::Finished;
        self.body = None;
    }

    /// Polls the body with a fresh slot current, pointing at `reply` for a yield to take, and
    /// returns what the body gave, the value it yielded if any, and the
    /// slot's key with the `FLAGS` the yields set. A panic in the body drops the body as it
    /// unwinds, finishes the generator, and goes on to the caller.
    ///
    /// `reply` is null for a generator's steps (see [`Slot::reply`]); otherwise a live reply
    /// untouched for the whole poll (a coroutine's own, or a `None` of `aclose`'s).
    #[inline(always)]
    fn poll_body(
        &mut self,
        cx: &mut Context<'_>,
        reply: *mut Option<R>,
    ) -> Option<(Poll<Fut::Output>, Option<T>, u64)> {
        self.body.as_ref()?;
        let mut slot = Slot {
            key: self.key,
            value: None,
            reply,
            _invariant: PhantomData,
        };
        // Not `catch_unwind`, which costs about 0.9 ns per item (`benches/generator_design.rs`):
        // a guard that only an unwinding poll drops.
        let guard = FinishOnUnwind {
            body: &mut self.body,
            state: &mut self.state,
        };
        let out = enter(&mut slot, || match guard.body {
            Some(body) => body.as_mut().poll(cx),
            None => Poll::Pending, // not reached: checked above
        });
        mem::forget(guard);
        Some((out, slot.value, slot.key))
    }

    /// Runs the body to its next yield or its end.
    #[inline]
    fn poll_step(
        &mut self,
        cx: &mut Context<'_>,
        reply: *mut Option<R>,
    ) -> Poll<Step<T, Fut::Output>> {
        if self.state == State::Finished {
            // Finished, or an `aclose` was dropped midway (which leaves the body in place):
            // the generator is over.
            self.finish();
        }
        let Some((out, value, key)) = self.poll_body(cx, reply) else {
            return Poll::Ready(match self.ret.take() {
                Some(out) => Step::Returned(out),
                None => Step::Finished,
            });
        };
        match (value, out) {
            (Some(v), Poll::Pending) => {
                self.state = State::Suspended(key & EXIT_AWARE != 0);
                Poll::Ready(Step::Yielded(v))
            }
            (Some(v), Poll::Ready(out)) => {
                // A yield future dropped after placing its value, then the body returned.
                self.finish();
                self.ret = Some(out);
                Poll::Ready(Step::Yielded(v))
            }
            (None, Poll::Ready(out)) => {
                self.finish();
                Poll::Ready(Step::Returned(out))
            }
            (None, Poll::Pending) => {
                self.state = State::Running;
                Poll::Pending
            }
        }
    }

    /// `aclose`: see the module docs. The exits of the `async_with` blocks (and stacks) that a
    /// body dropped here was inside are awaited before it returns, as Python's `aclose` runs
    /// the generator's `__aexit__`s before it returns.
    async fn close(&mut self) -> Closed<T, Fut::Output> {
        // A lock never taken (reached through `&mut`), which keeps `aclose`'s future `Sync`.
        let mut exits = parking_lot::Mutex::new(Vec::new());
        let closed = poll_fn(|cx| self.poll_close(cx, exits.get_mut())).await;
        await_or_hand_over(exits.into_inner()).await;
        closed
    }

    /// Drops the body (as [`finish`](Self::finish)), collecting into `exits` those of the
    /// blocks it was inside. A panic in the drop goes on after they are handed over.
    fn finish_collecting(&mut self, exits: &mut Vec<HandedExit>) {
        let (dropped, handed) = drop_collecting_exits(|| self.finish());
        exits.extend(handed);
        if let Err(payload) = dropped {
            hand_over_exits(mem::take(exits));
            resume_unwind(payload);
        }
    }

    fn poll_close(
        &mut self,
        cx: &mut Context<'_>,
        exits: &mut Vec<HandedExit>,
    ) -> Poll<Closed<T, Fut::Output>> {
        if let Some(out) = self.ret.take() {
            return Poll::Ready(Closed::Returned(out));
        }
        if self.body.is_none() {
            self.state = State::Finished;
            return Poll::Ready(Closed::Done);
        }
        let can_raise = self.state == State::Suspended(true);
        if !self.closing && !can_raise {
            // Never started, between two yields, or at a plain yield: nothing can raise
            // GeneratorExit; drop the body where it is.
            self.finish_collecting(exits);
            return Poll::Ready(Closed::Done);
        }
        self.closing = true;
        self.key |= CLOSING;
        // From the consumer's side the generator is over: `asend` answers `Finished`, and a
        // `next()` after an interrupted `aclose` ends it.
        self.state = State::Finished;
        // Closing yields take no reply, but a coroutine's slot always points at one.
        let mut no_reply = None;
        let Some((out, value, key)) = self.poll_body(cx, &mut no_reply) else {
            return Poll::Ready(Closed::Done);
        };
        if let Some(v) = value {
            self.finish_collecting(exits);
            return Poll::Ready(Closed::Ignored(v));
        }
        if key & REFUSED != 0 {
            // A plain yield of a coroutine was polled again while closing.
            self.finish_collecting(exits);
            return Poll::Ready(Closed::Done);
        }
        match out {
            Poll::Ready(out) => {
                self.finish();
                Poll::Ready(Closed::Returned(out))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_terminated(&self) -> bool {
        self.body.is_none() && self.ret.is_none()
    }

    fn state_name(&self) -> &'static str {
        if self.closing && self.body.is_some() {
            return "closing";
        }
        match self.state {
            State::Fresh => "created",
            State::Running => "running",
            State::Suspended(_) => "suspended",
            State::Finished if self.ret.is_some() => "returning",
            State::Finished => "finished",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// generator
// ---------------------------------------------------------------------------------------------

/// Makes an async generator from an async closure that yields with its [`Yielder`] (Python's
/// `async def` with `yield`, without a macro): `generator(|mut co| async move { ...
/// co.yield_(x).await; ... })`.
///
/// The body does not run until the first item is asked for. The [`Generator`] is a
/// [`Stream`], [`Unpin`] (the body is boxed once), and [`Send`] when the body is.
///
/// ```
/// use std::time::Duration;
/// use weft_async::{anext, generator};
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
/// // async def fetch_pages(n):
/// //     for page in range(n):
/// //         await asyncio.sleep(0.1)      # the request
/// //         yield f"page {page}"
/// let mut pages = generator(|mut co| async move {
///     for page in 0..3 {
///         tokio::time::sleep(Duration::from_millis(100)).await;
///         co.yield_(format!("page {page}")).await;
///     }
/// });
/// // async for p in fetch_pages(3): print(p)
/// while let Some(p) = anext(&mut pages).await {
///     println!("{p}");
/// }
/// # });
/// ```
pub fn generator<T, F, Fut>(f: F) -> Generator<T, Fut>
where
    F: FnOnce(Yielder<T>) -> Fut,
    Fut: Future<Output = ()>,
{
    Generator {
        core: Core::new(f, |id| Yielder {
            id,
            _types: PhantomData,
        }),
    }
}

/// An async generator made by [`generator`]: a [`Stream`] of the values its body yields, which
/// ends when the body returns.
///
/// Besides the stream (`anext`, `StreamExt::next`, ...), it has [`aclose`](Generator::aclose).
/// A function returning one names the body's type with `impl Future`:
///
/// ```
/// use std::future::Future;
/// use weft_async::{anext, generator, Generator};
///
/// fn evens(below: u64) -> Generator<u64, impl Future<Output = ()>> {
///     generator(move |mut co| async move {
///         for i in (0..below).step_by(2) {
///             co.yield_(i).await;
///         }
///     })
/// }
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let mut g = evens(5);
/// assert_eq!(anext(&mut g).await, Some(0));
/// assert_eq!(anext(&mut g).await, Some(2));
/// assert_eq!(anext(&mut g).await, Some(4));
/// assert_eq!(anext(&mut g).await, None); // StopAsyncIteration
/// assert_eq!(anext(&mut g).await, None); // and so on after the end
/// # });
/// ```
#[must_use = "an async generator does nothing unless iterated"]
pub struct Generator<T, Fut: Future<Output = ()>> {
    core: Core<T, (), Fut>,
}

impl<T, Fut: Future<Output = ()>> Generator<T, Fut> {
    /// Closes the generator (Python's `await agen.aclose()`), waiting for its cleanup when it is
    /// suspended at a [`yield_or_exit`](Yielder::yield_or_exit); see the module docs for every
    /// case. Later items are `None`. Closing a generator that has not started or has finished
    /// does nothing and succeeds, as many times as asked.
    ///
    /// # Errors
    /// [`AcloseError::IgnoredGeneratorExit`] with the value when the body yields again while
    /// closing; the body has then been dropped.
    ///
    /// ```
    /// use weft_async::{anext, generator};
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let mut naturals = generator(|mut co| async move {
    ///     let mut n = 0u64;
    ///     loop {
    ///         co.yield_(n).await;
    ///         n += 1;
    ///     }
    /// });
    /// // async with aclosing(naturals()) as g: async for n in g: if n == 2: break
    /// while let Some(n) = anext(&mut naturals).await {
    ///     if n == 2 {
    ///         break;
    ///     }
    /// }
    /// naturals.aclose().await.unwrap();
    /// assert_eq!(anext(&mut naturals).await, None);
    /// # });
    /// ```
    pub async fn aclose(&mut self) -> Result<(), AcloseError<T>> {
        match self.core.close().await {
            Closed::Done | Closed::Returned(()) => Ok(()),
            Closed::Ignored(v) => Err(AcloseError::IgnoredGeneratorExit(v)),
        }
    }
}

impl<T, Fut: Future<Output = ()>> Stream for Generator<T, Fut> {
    type Item = T;

    #[inline]
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let core = &mut self.get_mut().core;
        match core.poll_step(cx, ptr::null_mut()) {
            Poll::Ready(Step::Yielded(v)) => Poll::Ready(Some(v)),
            Poll::Ready(Step::Returned(()) | Step::Finished) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T, Fut: Future<Output = ()>> FusedStream for Generator<T, Fut> {
    fn is_terminated(&self) -> bool {
        self.core.is_terminated()
    }
}

impl<T, Fut: Future<Output = ()>> fmt::Debug for Generator<T, Fut> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Generator")
            .field("state", &self.core.state_name())
            .finish()
    }
}

// ---------------------------------------------------------------------------------------------
// try_generator
// ---------------------------------------------------------------------------------------------

/// Makes an async generator whose body may fail (Python's async generator that raises
/// midway): the body returns `Result<(), E>` and can use `?`; the [`TryGenerator`] yields
/// `Ok(x)` for each `co.yield_(x)`, then `Err(e)` if the body fails, then ends.
///
/// ```
/// use weft_async::{anext, try_generator};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let mut g = try_generator(|mut co| async move {
///     for s in ["1", "2", "x", "4"] {
///         co.yield_(s.parse::<u32>()?).await;
///     }
///     Ok::<(), std::num::ParseIntError>(()) // names the error type for `?`
/// });
/// assert_eq!(anext(&mut g).await, Some(Ok(1)));
/// assert_eq!(anext(&mut g).await, Some(Ok(2)));
/// assert!(matches!(anext(&mut g).await, Some(Err(_))));
/// assert_eq!(anext(&mut g).await, None); // the error ended it
/// # });
/// ```
pub fn try_generator<T, E, F, Fut>(f: F) -> TryGenerator<T, E, Fut>
where
    F: FnOnce(Yielder<T>) -> Fut,
    Fut: Future<Output = Result<(), E>>,
{
    TryGenerator {
        core: Core::new(f, |id| Yielder {
            id,
            _types: PhantomData,
        }),
    }
}

/// An async generator made by [`try_generator`]: a [`Stream`] of `Result<T, E>` that ends
/// after the body returns, with one `Err(e)` item first if it failed.
///
/// ```
/// use weft_async::{anext, try_generator};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let mut g = try_generator(|mut co| async move {
///     co.yield_(1).await;
///     Err("boom")
/// });
/// assert_eq!(anext(&mut g).await, Some(Ok(1)));
/// assert_eq!(anext(&mut g).await, Some(Err("boom")));
/// assert_eq!(anext(&mut g).await, None);
/// # });
/// ```
#[must_use = "an async generator does nothing unless iterated"]
pub struct TryGenerator<T, E, Fut: Future<Output = Result<(), E>>> {
    core: Core<T, (), Fut>,
}

impl<T, E, Fut: Future<Output = Result<(), E>>> TryGenerator<T, E, Fut> {
    /// Closes the generator, as [`Generator::aclose`].
    ///
    /// # Errors
    /// [`AcloseError::IgnoredGeneratorExit`] as for [`Generator::aclose`];
    /// [`AcloseError::Failed`] with the error when the body, closing, returns `Err` (Python: an
    /// exception raised from a `finally` propagates out of `aclose`), or had returned one not
    /// yet taken.
    ///
    /// ```
    /// use weft_async::{anext, try_generator, AcloseError};
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let mut g = try_generator(|mut co| async move {
    ///     if co.yield_or_exit(1).await.is_err() {
    ///         return Err("flush failed");
    ///     }
    ///     Ok(())
    /// });
    /// assert_eq!(anext(&mut g).await, Some(Ok(1)));
    /// assert!(matches!(g.aclose().await, Err(AcloseError::Failed("flush failed"))));
    /// # });
    /// ```
    pub async fn aclose(&mut self) -> Result<(), AcloseError<T, E>> {
        match self.core.close().await {
            Closed::Done | Closed::Returned(Ok(())) => Ok(()),
            Closed::Returned(Err(e)) => Err(AcloseError::Failed(e)),
            Closed::Ignored(v) => Err(AcloseError::IgnoredGeneratorExit(v)),
        }
    }
}

impl<T, E, Fut: Future<Output = Result<(), E>>> Stream for TryGenerator<T, E, Fut> {
    type Item = Result<T, E>;

    #[inline]
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<T, E>>> {
        let core = &mut self.get_mut().core;
        match core.poll_step(cx, ptr::null_mut()) {
            Poll::Ready(Step::Yielded(v)) => Poll::Ready(Some(Ok(v))),
            Poll::Ready(Step::Returned(Err(e))) => Poll::Ready(Some(Err(e))),
            Poll::Ready(Step::Returned(Ok(())) | Step::Finished) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T, E, Fut: Future<Output = Result<(), E>>> FusedStream for TryGenerator<T, E, Fut> {
    fn is_terminated(&self) -> bool {
        self.core.is_terminated()
    }
}

impl<T, E, Fut: Future<Output = Result<(), E>>> fmt::Debug for TryGenerator<T, E, Fut> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TryGenerator")
            .field("state", &self.core.state_name())
            .finish()
    }
}

// ---------------------------------------------------------------------------------------------
// coroutine
// ---------------------------------------------------------------------------------------------

/// Makes a two-way async generator (Python's `v = yield x` driven by `agen.asend(v)`): the
/// body's `co.yield_(x).await` returns the value the consumer sends with
/// [`asend`](Coroutine::asend).
///
/// Python starts such a generator with `asend(None)`; in Rust, [`start`](Coroutine::start)
/// runs the body to its first yield, then each `asend(v)` resumes it with `v` and returns the
/// next value yielded, or `None` when the body returns.
///
/// ```
/// use weft_async::coroutine;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// // async def averager():
/// //     total, n = 0, 0
/// //     while True:
/// //         x = yield (total / n if n else None)
/// //         total, n = total + x, n + 1
/// let mut avg = coroutine(|mut co| async move {
///     let (mut total, mut n) = (0.0, 0.0);
///     loop {
///         let x: f64 = co.yield_(if n > 0.0 { Some(total / n) } else { None }).await;
///         total += x;
///         n += 1.0;
///     }
/// });
/// assert_eq!(avg.start().await, Ok(Some(None)));
/// assert_eq!(avg.asend(10.0).await.unwrap(), Some(Some(10.0)));
/// assert_eq!(avg.asend(20.0).await.unwrap(), Some(Some(15.0)));
/// # });
/// ```
pub fn coroutine<T, R, F, Fut>(f: F) -> Coroutine<T, R, Fut>
where
    F: FnOnce(CoYielder<T, R>) -> Fut,
    Fut: Future<Output = ()>,
{
    Coroutine {
        core: Core::new(f, |id| CoYielder {
            id,
            _types: PhantomData,
        }),
        reply: None,
    }
}

/// A two-way async generator made by [`coroutine`]: [`start`](Coroutine::start) it, then
/// [`asend`](Coroutine::asend) values in and get values out; [`aclose`](Coroutine::aclose) it.
///
/// It is not a [`Stream`]: every step after the first needs a value to send.
///
/// ```
/// use weft_async::{coroutine, AsendError};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// // async def echo():
/// //     v = yield "ready"
/// //     yield f"got {v}"
/// let mut echo = coroutine(|mut co| async move {
///     let v: u32 = co.yield_("ready".to_string()).await;
///     co.yield_(format!("got {v}")).await;
/// });
/// assert_eq!(echo.start().await.unwrap().as_deref(), Some("ready"));
/// assert_eq!(echo.asend(7).await.unwrap().as_deref(), Some("got 7"));
/// assert_eq!(echo.asend(8).await.unwrap(), None); // the body returned: StopAsyncIteration
/// assert_eq!(echo.asend(9).await, Err(AsendError::Finished(9))); // 9 comes back
/// # });
/// ```
#[must_use = "a coroutine does nothing unless started and sent values"]
pub struct Coroutine<T, R, Fut: Future<Output = ()>> {
    core: Core<T, R, Fut>,
    /// Sent by [`asend`](Coroutine::asend), for the yield the body is suspended at.
    reply: Option<R>,
}

impl<T, R, Fut: Future<Output = ()>> Coroutine<T, R, Fut> {
    /// Runs the body to its first yield and returns that value, or `None` if the body returns
    /// first (Python's first `await agen.asend(None)`). It also finishes a step interrupted
    /// by a dropped `start` or `asend` future. On a finished coroutine it returns `None`.
    ///
    /// # Errors
    /// [`AlreadyStarted`] when the coroutine is waiting at a yield: resume it with
    /// [`asend`](Coroutine::asend).
    ///
    /// ```
    /// use weft_async::{coroutine, AlreadyStarted};
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let mut c = coroutine(|mut co| async move {
    ///     let _: () = co.yield_(1).await;
    /// });
    /// assert_eq!(c.start().await, Ok(Some(1)));
    /// assert_eq!(c.start().await, Err(AlreadyStarted));
    /// # });
    /// ```
    pub async fn start(&mut self) -> Result<Option<T>, AlreadyStarted> {
        if matches!(self.core.state, State::Suspended(_)) {
            return Err(AlreadyStarted);
        }
        Ok(self.step().await)
    }

    /// Resumes the coroutine with `value`, which its pending `co.yield_(..).await` returns, and
    /// returns the next value it yields, or `None` when it returns instead (Python's
    /// `await agen.asend(value)`, `StopAsyncIteration` being `None`).
    ///
    /// # Errors
    /// With `value` back when it could not be delivered: [`AsendError::NotStarted`] before
    /// [`start`](Coroutine::start), [`AsendError::Running`] after a dropped `start`/`asend`
    /// future left the body between two yields (`start` finishes that step), and
    /// [`AsendError::Finished`] when the coroutine has finished.
    ///
    /// ```
    /// use weft_async::{coroutine, AsendError};
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let mut doubler = coroutine(|mut co| async move {
    ///     let mut x: u32 = co.yield_(0).await;
    ///     loop {
    ///         x = co.yield_(x * 2).await;
    ///     }
    /// });
    /// assert_eq!(doubler.asend(1).await, Err(AsendError::NotStarted(1)));
    /// assert_eq!(doubler.start().await, Ok(Some(0)));
    /// assert_eq!(doubler.asend(21).await, Ok(Some(42)));
    /// # });
    /// ```
    pub async fn asend(&mut self, value: R) -> Result<Option<T>, AsendError<R>> {
        match self.core.state {
            State::Suspended(_) => {}
            State::Fresh => return Err(AsendError::NotStarted(value)),
            State::Running => return Err(AsendError::Running(value)),
            State::Finished => return Err(AsendError::Finished(value)),
        }
        if self.core.ret.is_some() {
            // The body returned right after its last yield: nothing is waiting for `value`.
            return Err(AsendError::Finished(value));
        }
        self.reply = Some(value);
        // If this future is dropped midway, the body is left `Running`.
        self.core.state = State::Running;
        Ok(self.step().await)
    }

    async fn step(&mut self) -> Option<T> {
        match poll_fn(|cx| self.core.poll_step(cx, &mut self.reply)).await {
            Step::Yielded(v) => Some(v),
            Step::Returned(()) | Step::Finished => None,
        }
    }

    /// Closes the coroutine, as [`Generator::aclose`].
    ///
    /// # Errors
    /// [`AcloseError::IgnoredGeneratorExit`] as for [`Generator::aclose`].
    ///
    /// ```
    /// use weft_async::{coroutine, AsendError};
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let mut c = coroutine(|mut co| async move {
    ///     loop {
    ///         let _: u8 = co.yield_(()).await;
    ///     }
    /// });
    /// c.start().await.unwrap();
    /// c.aclose().await.unwrap();
    /// assert_eq!(c.asend(1).await, Err(AsendError::Finished(1)));
    /// # });
    /// ```
    pub async fn aclose(&mut self) -> Result<(), AcloseError<T>> {
        match self.core.close().await {
            Closed::Done | Closed::Returned(()) => Ok(()),
            Closed::Ignored(v) => Err(AcloseError::IgnoredGeneratorExit(v)),
        }
    }

    /// Whether the coroutine has finished: returned, panicked or been closed (Python: the
    /// next `asend` would raise `StopAsyncIteration`).
    ///
    /// ```
    /// use weft_async::coroutine;
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let mut c = coroutine(|mut co| async move {
    ///     let _: () = co.yield_(1).await;
    /// });
    /// assert!(!c.is_finished());
    /// c.start().await.unwrap();
    /// c.asend(()).await.unwrap();
    /// assert!(c.is_finished());
    /// # });
    /// ```
    pub fn is_finished(&self) -> bool {
        self.core.state == State::Finished
    }
}

impl<T, R, Fut: Future<Output = ()>> fmt::Debug for Coroutine<T, R, Fut> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Coroutine")
            .field("state", &self.core.state_name())
            .finish()
    }
}

// ---------------------------------------------------------------------------------------------
// anext
// ---------------------------------------------------------------------------------------------

/// The next item of `stream`, or `None` when it has ended (Python's `await anext(agen)`, with
/// `None` for `StopAsyncIteration`). Works on any [`Stream`] that is [`Unpin`]; pin others
/// first (`std::pin::pin!`).
///
/// ```
/// use weft_async::{anext, generator};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let mut g = generator(|mut co| async move {
///     co.yield_(1).await;
/// });
/// assert_eq!(anext(&mut g).await, Some(1));
/// assert_eq!(anext(&mut g).await, None);
/// # });
/// ```
pub async fn anext<S: Stream + Unpin + ?Sized>(stream: &mut S) -> Option<S::Item> {
    poll_fn(|cx| Pin::new(&mut *stream).poll_next(cx)).await
}

/// The next item of `stream`, or `default` when it has ended (Python's
/// `await anext(agen, default)`).
///
/// ```
/// use weft_async::{anext_or, generator};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let mut g = generator(|mut co| async move {
///     co.yield_("one").await;
/// });
/// assert_eq!(anext_or(&mut g, "buckle my shoe").await, "one");
/// assert_eq!(anext_or(&mut g, "buckle my shoe").await, "buckle my shoe");
/// # });
/// ```
pub async fn anext_or<S: Stream + Unpin + ?Sized>(stream: &mut S, default: S::Item) -> S::Item {
    anext(stream).await.unwrap_or(default)
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// The error a [`yield_or_exit`](Yielder::yield_or_exit) returns when its generator is being
/// closed with `aclose()` (Python's `GeneratorExit`, raised at the `yield`): run the cleanup
/// and return.
///
/// ```
/// use weft_async::{anext, generator, GeneratorExit};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let mut g = generator(|mut co| async move {
///     let r: Result<(), GeneratorExit> = co.yield_or_exit(1).await;
///     assert_eq!(r, Err(GeneratorExit));
/// });
/// assert_eq!(anext(&mut g).await, Some(1));
/// g.aclose().await.unwrap();
/// assert_eq!(GeneratorExit.to_string(), "generator is closing");
/// # });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct GeneratorExit;

impl fmt::Display for GeneratorExit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("generator is closing")
    }
}

impl std::error::Error for GeneratorExit {}

/// An error returned from `aclose` ([`Generator::aclose`], [`TryGenerator::aclose`],
/// [`Coroutine::aclose`]): the body did not end quietly. Either way it has been dropped and the
/// generator is finished. It is `Clone`, `PartialEq` and `Eq` when `T` and `E` are.
///
/// ```
/// use weft_async::{anext, generator, AcloseError};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let mut stubborn = generator(|mut co| async move {
///     let _ = co.yield_or_exit(1).await; // ignores GeneratorExit
///     co.yield_(2).await;
/// });
/// assert_eq!(anext(&mut stubborn).await, Some(1));
/// let err = stubborn.aclose().await.unwrap_err();
/// assert_eq!(err.to_string(), "async generator ignored GeneratorExit");
/// assert_eq!(err.into_value(), Some(2));
/// # });
/// ```
#[derive(Clone)]
pub enum AcloseError<T, E = Infallible> {
    /// The body yielded again after `GeneratorExit` (Python's `RuntimeError: async generator
    /// ignored GeneratorExit`); the value it yielded comes back.
    IgnoredGeneratorExit(T),
    /// A [`TryGenerator`]'s body returned this error while closing (Python: the exception
    /// raised from its `finally`).
    Failed(E),
}

impl<T, E> AcloseError<T, E> {
    /// The value yielded after `GeneratorExit`, if that is what this error is.
    ///
    /// ```
    /// use weft_async::AcloseError;
    ///
    /// let e: AcloseError<u8> = AcloseError::IgnoredGeneratorExit(3);
    /// assert_eq!(e.into_value(), Some(3));
    /// ```
    pub fn into_value(self) -> Option<T> {
        match self {
            AcloseError::IgnoredGeneratorExit(v) => Some(v),
            AcloseError::Failed(_) => None,
        }
    }

    /// `true` for [`AcloseError::IgnoredGeneratorExit`].
    ///
    /// ```
    /// use weft_async::AcloseError;
    ///
    /// assert!(AcloseError::<u8>::IgnoredGeneratorExit(3).is_ignored_exit());
    /// ```
    pub fn is_ignored_exit(&self) -> bool {
        matches!(self, AcloseError::IgnoredGeneratorExit(_))
    }
}

impl<T, E: PartialEq> PartialEq for AcloseError<T, E>
where
    T: PartialEq,
{
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (AcloseError::IgnoredGeneratorExit(a), AcloseError::IgnoredGeneratorExit(b)) => a == b,
            (AcloseError::Failed(a), AcloseError::Failed(b)) => a == b,
            _ => false,
        }
    }
}

impl<T: Eq, E: Eq> Eq for AcloseError<T, E> {}

impl<T, E: fmt::Debug> fmt::Debug for AcloseError<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AcloseError::IgnoredGeneratorExit(_) => f.write_str("IgnoredGeneratorExit(..)"),
            AcloseError::Failed(e) => f.debug_tuple("Failed").field(e).finish(),
        }
    }
}

impl<T, E: fmt::Display> fmt::Display for AcloseError<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AcloseError::IgnoredGeneratorExit(_) => {
                f.write_str("async generator ignored GeneratorExit")
            }
            AcloseError::Failed(e) => write!(f, "async generator failed while closing: {e}"),
        }
    }
}

impl<T, E: std::error::Error + 'static> std::error::Error for AcloseError<T, E> {
    /// The cause's own source: this error's message already shows the cause's text, so, as
    /// `std::io::Error` does for the error it wraps, the chain goes on from the cause's source
    /// (a chain printer such as anyhow's `{:#}` would otherwise print the cause twice). The
    /// cause itself is the variant's field.
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AcloseError::IgnoredGeneratorExit(_) => None,
            AcloseError::Failed(e) => e.source(),
        }
    }
}

/// An error returned from [`Coroutine::asend`]: the value could not be delivered, and comes
/// back.
///
/// ```
/// use weft_async::{coroutine, AsendError};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let mut c = coroutine(|mut co| async move {
///     let _: String = co.yield_(1).await;
/// });
/// let err = c.asend("hello".to_string()).await.unwrap_err();
/// assert!(err.is_not_started());
/// assert_eq!(err.to_string(), "can't send to a coroutine that has not started");
/// assert_eq!(err.into_inner(), "hello");
/// # });
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum AsendError<R> {
    /// Sent before [`Coroutine::start`] (Python's `TypeError: can't send non-None value to a
    /// just-started async generator`).
    NotStarted(R),
    /// Sent while the body is between two yields: a `start` or `asend` future was dropped
    /// before the body yielded (Python's `RuntimeError: asynchronous generator is already
    /// running`). [`Coroutine::start`] finishes that step.
    Running(R),
    /// Sent to a finished coroutine (Python's `StopAsyncIteration`).
    Finished(R),
}

impl<R> AsendError<R> {
    /// The value that was not delivered.
    ///
    /// ```
    /// use weft_async::AsendError;
    ///
    /// assert_eq!(AsendError::Finished(5).into_inner(), 5);
    /// ```
    pub fn into_inner(self) -> R {
        match self {
            AsendError::NotStarted(v) | AsendError::Running(v) | AsendError::Finished(v) => v,
        }
    }

    /// `true` for [`AsendError::NotStarted`].
    ///
    /// ```
    /// use weft_async::AsendError;
    ///
    /// assert!(AsendError::NotStarted(()).is_not_started());
    /// ```
    pub fn is_not_started(&self) -> bool {
        matches!(self, AsendError::NotStarted(_))
    }

    /// `true` for [`AsendError::Running`].
    ///
    /// ```
    /// use weft_async::AsendError;
    ///
    /// assert!(AsendError::Running(()).is_running());
    /// ```
    pub fn is_running(&self) -> bool {
        matches!(self, AsendError::Running(_))
    }

    /// `true` for [`AsendError::Finished`].
    ///
    /// ```
    /// use weft_async::AsendError;
    ///
    /// assert!(AsendError::Finished(()).is_finished());
    /// ```
    pub fn is_finished(&self) -> bool {
        matches!(self, AsendError::Finished(_))
    }
}

impl<R> fmt::Debug for AsendError<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AsendError::NotStarted(_) => f.write_str("NotStarted(..)"),
            AsendError::Running(_) => f.write_str("Running(..)"),
            AsendError::Finished(_) => f.write_str("Finished(..)"),
        }
    }
}

impl<R> fmt::Display for AsendError<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AsendError::NotStarted(_) => "can't send to a coroutine that has not started",
            AsendError::Running(_) => "can't send to a coroutine that is between two yields",
            AsendError::Finished(_) => "can't send to a finished coroutine",
        })
    }
}

impl<R> std::error::Error for AsendError<R> {}

/// An error returned from [`Coroutine::start`]: the coroutine has started and waits at a yield
/// for [`asend`](Coroutine::asend).
///
/// ```
/// use weft_async::{coroutine, AlreadyStarted};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let mut c = coroutine(|mut co| async move {
///     let _: () = co.yield_(1).await;
/// });
/// c.start().await.unwrap();
/// assert_eq!(c.start().await, Err(AlreadyStarted));
/// assert_eq!(AlreadyStarted.to_string(), "coroutine already started; resume it with asend");
/// # });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct AlreadyStarted;

impl fmt::Display for AlreadyStarted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("coroutine already started; resume it with asend")
    }
}

impl std::error::Error for AlreadyStarted {}
