//! weft-async: Python's `asyncio` for Rust — `run`, tasks, `gather`, timeouts, `TaskGroup`,
//! async generators, async context managers and asyncio's locks — on tokio.
//!
//! ```
//! use std::time::Duration;
//! use weft_async::{create_task, gather, run, sleep, timeout};
//!
//! async fn fetch(id: u64) -> u64 {
//!     sleep(Duration::from_millis(10)).await; // waiting for I/O: other tasks run meanwhile
//!     id * 10
//! }
//!
//! let pages = run(async {
//!     let tasks = (1..=3).map(|id| create_task(fetch(id)));
//!     timeout(Duration::from_secs(5), gather(tasks)).await
//! })
//! .unwrap();
//! assert_eq!(pages, Ok(Ok(vec![10, 20, 30])));
//! ```
//!
//! Everything here runs inside a tokio runtime ([`run`], a [`Runner`], or any of your own):
//! what needs one (spawning a task, a timer) panics outside it, as tokio's own functions do
//! and as Python's raise `RuntimeError: no running event loop`.
//!
//! # What is here
//! - Running: [`run`] (asyncio's single-threaded event loop; cancels leftover tasks on exit),
//!   [`run_multi_thread`], [`Runner`] (one loop for several runs, wound down at its `close`),
//!   [`sleep`], [`yield_now`].
//! - Tasks: [`create_task`] → [`Task`] (`cancel`, `done`, `cancelled`, `name`; cancelled when
//!   dropped unless [detached](Task::detach)), [`shield`].
//! - Many at once: [`gather`], [`gather_settled`] (`return_exceptions=True`), [`as_completed`]
//!   (a `Stream`), [`wait`] (done and pending, `FIRST_COMPLETED` and the rest, of [`Task`]s or
//!   [`GroupTask`]s), and
//!   [`TaskGroup`] for structured concurrency ([`TaskGroup::scope`] for the block with its body;
//!   [`GroupTask`]: `cancel`, `done`, `cancelled`, `name`).
//! - Time limits: [`timeout`], [`wait_for`], [`timeout_at`] → [`TimeoutError`].
//! - Blocking work: [`to_thread`], and [`run_in_executor`] on weft-executor's thread and process
//!   pools (feature `executor`).
//! - From other threads: [`Loop::current`] / [`get_running_loop`] → a [`Loop`] handle, whose
//!   `run_coroutine_threadsafe` (feature `executor`) returns a weft-executor `Future` a plain
//!   thread waits on, and [`call_soon_threadsafe`](Loop::call_soon_threadsafe) → a
//!   [`CallHandle`] (`cancel`, `cancelled`).
//! - Async generators: the [`async_gen!`] and [`try_async_gen!`] macros, the macro-free
//!   [`generator`] and [`try_generator`] (the body gets a [`Yielder`]), the two-way
//!   [`coroutine`] (a [`CoYielder`]; `start`, `asend`), [`anext`], [`anext_or`], and
//!   [`Generator::aclose`], which awaits the body's cleanup when it is suspended at a
//!   [`yield_or_exit`](Yielder::yield_or_exit) ([`GeneratorExit`]).
//! - Async context managers: the [`AsyncContextManager`] trait, [`async_with`],
//!   [`context_manager`] (`@asynccontextmanager`) and [`AsyncExitStack`].
//! - asyncio's primitives: [`Event`], [`Condition`], [`Barrier`], [`BoundedSemaphore`], and
//!   tokio's [`Lock`] and [`Semaphore`] under Python's names; `asyncio.Queue` is weft-channel's
//!   [`Queue`] through its `*_async` methods (feature `channel`).
//! - Errors: [`TaskError`], [`TimeoutError`], [`TaskGroupError`], [`SpawnError`], [`RunError`],
//!   [`CloseError`], [`NoRunningLoop`], [`LoopClosed`];
//!   [`AcloseError`], [`AsendError`]; [`WithError`], [`StackError`]; [`BrokenBarrier`],
//!   [`ZeroParties`], [`ReleaseError`].
//!
//! # Coming from Python
//! | Python | weft |
//! |---|---|
//! | `asyncio.run(main())` | `run(main())?` (`RunError::Nested` inside a running runtime) |
//! | `with asyncio.Runner() as r: r.run(c1); r.run(c2)`, `r.get_loop()`, `r.close()` | `let mut r = Runner::new(); r.run(f1)?; r.run(f2)?;`, `r.get_loop()?`, `r.close()?`: tasks left by one run go on in the next; `close` (or the drop) cancels every task left; `RunError::Closed` after it |
//! | `asyncio.create_task(coro, name=n)` | `create_task(fut)`, `create_task_named(n, fut)` → [`Task`] |
//! | `task.cancel()`, `.done()`, `.cancelled()`, `.get_name()` | `cancel()`, `done()`, `cancelled()`, `name()` |
//! | `await task` (raises `CancelledError` / the exception) | `task.await` → `Result<T, TaskError>` |
//! | `await asyncio.gather(*aws)` | `gather(futs).await` → `Result<Vec<T>, E>` (the first failure cancels the rest; Python's leaves them running) |
//! | `gather(*aws, return_exceptions=True)` | `gather_settled(futs).await` → `Vec<Result<T, E>>` (a panic is an outcome only for a [`Task`]) |
//! | `for aw in asyncio.as_completed(aws)` | `as_completed(futs)`: a `Stream` of outputs (dropping it cancels the rest; Python's keeps them running) |
//! | `done, pending = await asyncio.wait(tasks, timeout=t, return_when=…)` | `let Waited { done, pending } = wait(tasks, Some(t), ReturnWhen::FirstCompleted).await` ([`wait`]; `tasks` may be [`GroupTask`]s): nothing cancelled, a done task's await answers at once |
//! | `loop = asyncio.get_running_loop()` | `let lp = Loop::current()?` ([`get_running_loop`]; [`NoRunningLoop`] outside a runtime) |
//! | `asyncio.run_coroutine_threadsafe(coro, loop)` → `.result(timeout)`, `.cancel()` | `lp.run_coroutine_threadsafe(fut)?` → a weft-executor `Future`: `result_timeout(d)`, `cancel()` (cancels the task on the loop), `add_done_callback`; [`LoopClosed`] once the run winds down (after its future's last turn) or its [`Runner`] is closing (feature `executor`) |
//! | `h = loop.call_soon_threadsafe(f)`, `h.cancel()` | `let h = lp.call_soon_threadsafe(f)?` → [`CallHandle`], `h.cancel()` (whether it stopped `f`) |
//! | `async with asyncio.timeout(d):` / `wait_for(aw, d)` / `timeout_at(t)` | `timeout(d, fut)`, `wait_for(fut, d)`, `timeout_at(t, fut)` → `Err(TimeoutError)` |
//! | `asyncio.shield(aw)` | `shield(fut)`, `task.shield()` |
//! | `async with asyncio.TaskGroup() as tg: tg.create_task(c, name=n)` | [`TaskGroup::scope`]`(async \|tg\| { tg.create_task(fut)?; Ok(v) }).await?` (a failure cancels the body), or `let tg = TaskGroup::new(); tg.create_task(fut)?; tg.wait().await?`; `tg.create_task_named(n, fut)`; the [`GroupTask`] has `cancel`, `done`, `cancelled`, `name` |
//! | `ExceptionGroup` | [`TaskGroupError`] (every [`TaskFailure`]) |
//! | `await asyncio.sleep(d)`, `sleep(0)` | `sleep(d).await`, `yield_now().await` |
//! | `await asyncio.to_thread(f, *args)` | `to_thread(move \|\| f(args)).await` |
//! | `await loop.run_in_executor(pool, f, arg)` | `run_in_executor(&pool, f, arg)?.await` |
//! | `async def g(): yield x` / `async for x in g()` | `pin!(async_gen! { yield x; })`, `generator(\|mut co\| async move { co.yield_(x).await; })` / `while let Some(x) = anext(&mut s).await` (or `s.next()` with `futures::StreamExt`) |
//! | `await agen.asend(v)`, `anext(agen, default)`, `aclosing(agen)` | [`coroutine`] `asend(v)`, `anext_or(&mut s, default)`, `aclose().await` |
//! | `async with cm as r:` / `@asynccontextmanager` / `AsyncExitStack` | `async_with(cm, body)`, `context_manager(setup, teardown)`, [`AsyncExitStack`] |
//! | `asyncio.Lock`, `Semaphore`, `BoundedSemaphore`, `Event`, `Condition`, `Barrier` | [`Lock`], [`Semaphore`], [`BoundedSemaphore`], [`Event`], [`Condition`], [`Barrier`] |
//! | `asyncio.Queue` | weft-channel's [`Queue`]: `put_async`, `get_async`, `join_async` — the same queue threads use |
//!
//! # Relationship with tokio and futures
//! weft-async is a thin layer over tokio: a [`Task`] is a `JoinHandle` with Python's methods and
//! cancel-on-drop (as smol's tasks), [`run`] is a current-thread runtime that cancels its tasks,
//! lets them clean up and is dropped when the main future ends, [`TaskGroup`] tracks plain tokio
//! tasks (lighter than a `JoinSet`) with cancel-on-failure and an error group, and the timeouts
//! are tokio's. What tokio lacks and this crate adds: Python's run/cleanup model, `gather` with
//! fail-fast cancellation, a `TaskGroup` tasks can spawn into, async context managers (`Drop`
//! cannot await), macro-free and two-way generators, and `Event`, `Condition(notify(n))`, a
//! `Barrier` with action/abort/reset/timeout and a `BoundedSemaphore`. Any tokio code runs
//! inside [`run`], and every weft future runs on any tokio runtime.
//!
//! Cancellation differs from Python's in one way: Python throws `CancelledError` into the
//! coroutine, which can catch it and even go on; a Rust future is dropped, so its destructors
//! run but it cannot await anything on the way out. The exception is [`async_with`] (and
//! [`AsyncExitStack`]): when its future is dropped mid-body, the manager's async `exit` is
//! spawned on the current runtime with [`Outcome::Cancelled`]. [`run`] awaits those exits before
//! it returns, also for the tasks it cancels at its end, as asyncio runs their `__aexit__` (see
//! [`run`] for the tasks this covers).
//!
//! # Feature flags
//! - `executor` (default): [`run_in_executor`] on weft-executor's pools, and
//!   `Loop::run_coroutine_threadsafe`, whose future is weft-executor's.
//! - `channel` (default): re-exports weft-channel's queues ([`Queue`] and friends).
//!
//! Built without them, the links to [`run_in_executor`] and [`Queue`] lead to docs.rs.
//!
#![cfg_attr(
    feature = "executor",
    doc = "[`run_in_executor`]: crate::run_in_executor"
)]
#![cfg_attr(
    not(feature = "executor"),
    doc = "[`run_in_executor`]: https://docs.rs/weft-async/latest/weft_async/fn.run_in_executor.html"
)]
#![cfg_attr(feature = "channel", doc = "[`Queue`]: crate::Queue")]
#![cfg_attr(
    not(feature = "channel"),
    doc = "[`Queue`]: https://docs.rs/weft-channel/latest/weft_channel/struct.Queue.html"
)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(clippy::missing_errors_doc)]

mod blocking;
mod cleanup;
mod context;
mod error;
mod event_loop;
mod gather;
mod generator;
mod group;
mod locks;
mod loom;
mod runtime;
mod task;
mod timeout;
mod wait;

pub use crate::blocking::*;
pub use crate::context::*;
pub use crate::error::*;
pub use crate::event_loop::*;
pub use crate::gather::*;
pub use crate::generator::*;
pub use crate::group::*;
pub use crate::locks::*;
pub use crate::runtime::*;
pub use crate::task::*;
pub use crate::timeout::*;
pub use crate::wait::*;

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
