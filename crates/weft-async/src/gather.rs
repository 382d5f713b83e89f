//! `gather`, `gather_settled` and `as_completed`: awaiting many futures at once.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures_core::future::FusedFuture;
use futures_core::Stream;
use futures_util::stream::FuturesUnordered;
use pin_project_lite::pin_project;

use crate::context::{drop_collecting_exits, hand_over_exits, AwaitedExits};

/// How many futures share one wake-up slot of a gather. Each chunk is one node of a
/// `FuturesUnordered`: a wake-up re-polls the chunk's futures that are still pending (cheap
/// when they are tasks), and a gather of n futures allocates n / CHUNK nodes instead of n, which
/// is what keeps `gather` of 100k tasks near the cost of awaiting them one by one.
const CHUNK: usize = 32;

pin_project! {
    /// One future of a gather, then its output, in place.
    #[project = SlotProj]
    enum Slot<F: Future> {
        Pending { #[pin] fut: F },
        Done { out: Option<F::Output> },
    }
}

/// The futures of one chunk, pinned in place.
type Slots<F> = Pin<Box<[Slot<F>]>>;

/// Up to [`CHUNK`] futures polled together, pinned in one boxed slice that moves as a unit.
struct Chunk<F: Future> {
    slots: Option<Slots<F>>,
    /// How many slots: read here rather than from the slice, which would borrow the pinned
    /// futures in it, shared, while they may hold references into themselves (Miri's Stacked
    /// Borrows reports that as undefined behaviour).
    len: usize,
    left: usize,
    index: usize,
    /// Ends the chunk early on an output that fails the whole gather.
    fails: fn(&F::Output) -> bool,
}

/// A finished chunk: its slots, and the position of a failing output if there is one.
struct ChunkDone<F: Future> {
    slots: Slots<F>,
    index: usize,
    failed: Option<usize>,
}

impl<F: Future> Unpin for Chunk<F> {}

impl<F: Future> Future for Chunk<F> {
    type Output = ChunkDone<F>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<ChunkDone<F>> {
        let this = &mut *self;
        let Some(slots) = this.slots.as_mut() else {
            return Poll::Pending;
        };
        let mut failed = None;
        for i in 0..this.len {
            let mut slot = slot_at(slots.as_mut(), i);
            if let SlotProj::Pending { fut } = slot.as_mut().project()
                && let Poll::Ready(out) = fut.poll(cx)
            {
                let fails = (this.fails)(&out);
                slot.set(Slot::Done { out: Some(out) });
                this.left -= 1;
                if fails {
                    failed = Some(i);
                    break;
                }
            }
        }
        if this.left > 0 && failed.is_none() {
            return Poll::Pending;
        }
        match this.slots.take() {
            Some(slots) => Poll::Ready(ChunkDone {
                slots,
                index: this.index,
                failed,
            }),
            None => Poll::Pending,
        }
    }
}

/// The `i`-th slot of a pinned slice, pinned.
fn slot_at<F: Future>(slots: Pin<&mut [Slot<F>]>, i: usize) -> Pin<&mut Slot<F>> {
    // SAFETY: the slots live in a `Slots<F>` that is never reallocated and whose
    // elements are never moved out: a slot changes only through `Pin::set` (dropping the old
    // value in place), and the slice is dropped as a whole. Pinning each element is therefore
    // structural, as for the fields of a pinned struct. No shared borrow of the slice is made
    // while its futures are pinned in it (a chunk keeps its length: see `Chunk::len`). Tested by
    // `tests/gather.rs` (`plain_futures_interleave_inside_gather`,
    // `gather_of_plain_fallible_futures_uses_their_error`: `!Unpin` async blocks polled in place
    // across many wake-ups), which also pass under Miri's Stacked Borrows
    // (`cargo +nightly miri test -p weft-async --test gather -- plain_futures futures_in_later`).
    unsafe { slots.map_unchecked_mut(|s| &mut s[i]) }
}

/// Takes the output out of a finished slot.
fn take_out<F: Future>(slot: Pin<&mut Slot<F>>) -> Option<F::Output> {
    match slot.project() {
        SlotProj::Done { out } => out.take(),
        SlotProj::Pending { .. } => None,
    }
}

/// The futures of a gather, chunked, and the chunks finished so far (in argument order).
///
/// Chunks start in order, lazily: a poll finishes chunks, polled without a waker, while each is
/// done at once (tasks that already ran leave nothing to wait for), and stops at the first one
/// that is not. If some chunk finished in that poll, the unfinished one waits for the next poll;
/// if none did, it goes into the `FuturesUnordered` with its wakers. Either way the gather wakes
/// itself to go on after the runtime has run other tasks, so every future is started within two
/// polls per chunk, and a gather of tasks that keep finishing registers almost no waker.
struct Chunks<F: Future> {
    /// Not polled yet, in argument order.
    unstarted: std::collections::VecDeque<Chunk<F>>,
    set: FuturesUnordered<Chunk<F>>,
    done: Vec<Option<Slots<F>>>,
    len: usize,
    /// Set while [`poll_chunks`](Chunks::poll_chunks) runs: still set at the next poll if a
    /// future's poll (or drop) panicked through it, which may have dropped a whole chunk.
    polling: bool,
    /// After a failure: the exits of the blocks the cancelled futures were inside, awaited
    /// before the failure is returned, and that failure meanwhile.
    exits: Option<AwaitedExits>,
    failure: Option<F::Output>,
}

impl<F: Future> Drop for Chunks<F> {
    fn drop(&mut self) {
        // Dropped while awaiting the exits of a failure's cancelled futures: they still run.
        if let Some(exits) = self.exits.take() {
            hand_over_exits(vec![exits.into_exit()]);
        }
    }
}

impl<F: Future> Chunks<F> {
    fn new<I: IntoIterator<Item = F>>(futs: I, fails: fn(&F::Output) -> bool) -> Self {
        let mut unstarted = std::collections::VecDeque::new();
        let mut futs = futs.into_iter();
        let mut len = 0;
        loop {
            let slots: Box<[Slot<F>]> = futs
                .by_ref()
                .take(CHUNK)
                .map(|fut| Slot::Pending { fut })
                .collect();
            if slots.is_empty() {
                break;
            }
            len += slots.len();
            unstarted.push_back(Chunk {
                len: slots.len(),
                left: slots.len(),
                slots: Some(Box::into_pin(slots)),
                index: unstarted.len(),
                fails,
            });
        }
        let mut done = Vec::with_capacity(unstarted.len());
        done.resize_with(unstarted.len(), || None);
        Chunks {
            unstarted,
            set: FuturesUnordered::new(),
            done,
            len,
            polling: false,
            exits: None,
            failure: None,
        }
    }

    /// Files a finished chunk; a failing output is returned (and the rest cancelled).
    fn finish(&mut self, mut chunk: ChunkDone<F>) -> Option<F::Output> {
        if let Some(i) = chunk.failed {
            // Cancel the rest now rather than when the gather is dropped, and await the exits
            // of the `async_with` blocks they were inside before failing, as a cancelled
            // task's `__aexit__` runs before Python's `TaskGroup` raises.
            let failure = take_out(slot_at(chunk.slots.as_mut(), i));
            let (dropped, exits) = drop_collecting_exits(|| {
                drop(chunk);
                self.set.clear();
                self.unstarted.clear();
            });
            if let Err(payload) = dropped {
                hand_over_exits(exits);
                std::panic::resume_unwind(payload);
            }
            if !exits.is_empty() {
                self.exits = Some(AwaitedExits::new(exits));
            }
            return failure;
        }
        self.done[chunk.index] = Some(chunk.slots);
        None
    }

    /// Polls until every chunk is done (`Ready(None)`) or one holds a failing output, which is
    /// returned.
    ///
    /// # Panics
    /// Polled again after one of the futures panicked through an earlier poll: the outputs it
    /// lost with its chunk cannot be given (as an `async fn` resumed after panicking panics).
    fn poll_chunks(&mut self, cx: &mut Context<'_>) -> Poll<Option<F::Output>> {
        assert!(
            !self.polling,
            "a gather was polled again after one of its futures panicked"
        );
        self.polling = true;
        let polled = loop {
            if let Some(exits) = self.exits.as_mut() {
                if exits.poll(cx).is_pending() {
                    break Poll::Pending;
                }
                self.exits = None;
                break Poll::Ready(self.failure.take());
            }
            match self.poll_unpoisoned(cx) {
                Poll::Ready(Some(failed)) if self.exits.is_some() => self.failure = Some(failed),
                polled => break polled,
            }
        };
        self.polling = false;
        polled
    }

    fn poll_unpoisoned(&mut self, cx: &mut Context<'_>) -> Poll<Option<F::Output>> {
        // A first poll with no waker: a chunk that finishes in it costs no waker registration;
        // one that does not is polled again by the set, with its own waker.
        let mut first = Context::from_waker(std::task::Waker::noop());
        let mut progress = false;
        while let Some(mut chunk) = self.unstarted.pop_front() {
            match Pin::new(&mut chunk).poll(&mut first) {
                Poll::Ready(done) => {
                    progress = true;
                    if let Some(failed) = self.finish(done) {
                        return Poll::Ready(Some(failed));
                    }
                }
                // Chunks are finishing as fast as they are reached (tasks the runtime is running
                // in order): look again next time rather than pay for wakers.
                Poll::Pending if progress => {
                    self.unstarted.push_front(chunk);
                    break;
                }
                // No chunk finished since the last poll: this one waits for something, so it
                // gets its wakers, and the next chunk starts next time.
                Poll::Pending => {
                    self.set.push(chunk);
                    break;
                }
            }
        }
        loop {
            match Pin::new(&mut self.set).poll_next(cx) {
                Poll::Ready(Some(done)) => {
                    if let Some(failed) = self.finish(done) {
                        return Poll::Ready(Some(failed));
                    }
                }
                Poll::Ready(None) if self.unstarted.is_empty() => return Poll::Ready(None),
                Poll::Ready(None) | Poll::Pending => {
                    if !self.unstarted.is_empty() {
                        // Come back for the next chunks once the runtime has run others.
                        cx.waker().wake_by_ref();
                    }
                    return Poll::Pending;
                }
            }
        }
    }

    /// Every output, in argument order, once all chunks are done.
    fn outputs(&mut self) -> impl Iterator<Item = F::Output> + '_ {
        self.done.iter_mut().flatten().flat_map(|slots| {
            (0..slots.len()).filter_map(move |i| take_out(slot_at(slots.as_mut(), i)))
        })
    }
}

/// Awaits every future concurrently and returns their values in argument order (Python's
/// `asyncio.gather(*aws)`); the first `Err` ends it, and the futures not yet finished are
/// dropped, which cancels them ([`Task`](crate::Task)s are cancelled when dropped), where
/// Python's `gather` leaves them running (pass [`shield`](crate::shield)ed tasks for that).
/// The exits of the [`async_with`](crate::async_with) blocks that those futures were inside are
/// awaited before the `Err` is returned (a `Task`'s run on its own task, after it is
/// cancelled).
///
/// The futures run inside the `gather` future, interleaved on the awaiting task; pass
/// [`Task`](crate::Task)s (from [`create_task`](crate::create_task)) to run them as separate
/// tasks, which a multi-thread runtime may run in parallel. Tasks give
/// [`TaskError`](crate::TaskError) as their error; any other `Future<Output = Result<T, E>>`
/// gives its own `E`. For futures of different types, `futures_util::try_join!` does the same
/// for a fixed number of them.
///
/// The futures are first polled in argument order, 32 at a time, a batch per turn of the runtime
/// (gather wakes itself in between), so that tasks already finished are collected without
/// registering wakers; 100k tasks gather as fast as awaiting their handles one by one.
///
/// ```
/// use weft_async::{create_task, gather, run, TaskError};
///
/// async fn square(n: u64) -> u64 {
///     n * n
/// }
///
/// run(async {
///     let tasks = (1..=5).map(|n| create_task(square(n)));
///     assert_eq!(gather(tasks).await, Ok(vec![1, 4, 9, 16, 25]));
///
///     // The first failure is the result; the rest are cancelled.
///     let results = gather([
///         create_task(async { 1 }),
///         create_task(async { panic!("boom") }),
///         create_task(std::future::pending()),
///     ])
///     .await;
///     assert_eq!(results, Err(TaskError::Panicked { message: "boom".into() }));
/// })
/// .unwrap();
/// ```
pub fn gather<I, F, T, E>(futs: I) -> Gather<F>
where
    I: IntoIterator<Item = F>,
    F: Future<Output = Result<T, E>>,
{
    Gather {
        chunks: Chunks::new(futs, Result::is_err),
        finished: false,
    }
}

/// The future [`gather`] returns. Once it has given its result it is terminated
/// ([`FusedFuture`]): polled again, it stays pending rather than answer a second time. A panic
/// in one of its futures goes through its `poll` to the awaiting task; polled again after that
/// (the panic caught), it panics rather than answer without the outputs it lost.
#[must_use = "futures do nothing unless awaited"]
pub struct Gather<F: Future> {
    chunks: Chunks<F>,
    finished: bool,
}

impl<F: Future> Unpin for Gather<F> {}

impl<F, T, E> Future for Gather<F>
where
    F: Future<Output = Result<T, E>>,
{
    type Output = Result<Vec<T>, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.finished {
            return Poll::Pending;
        }
        let chunks = &mut self.chunks;
        let out = match ready!(chunks.poll_chunks(cx)) {
            Some(Err(e)) => Err(e),
            // Only a failing output ends the chunks early.
            Some(Ok(_)) => return Poll::Pending,
            None => {
                let mut values = Vec::with_capacity(chunks.len);
                values.extend(chunks.outputs().flatten());
                Ok(values)
            }
        };
        // Polled again after a failure, the cleared chunks would read as all done.
        self.finished = true;
        Poll::Ready(out)
    }
}

impl<F, T, E> FusedFuture for Gather<F>
where
    F: Future<Output = Result<T, E>>,
{
    fn is_terminated(&self) -> bool {
        self.finished || self.chunks.polling
    }
}

impl<F: Future> fmt::Debug for Gather<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gather")
            .field("futures", &self.chunks.len)
            .finish()
    }
}

/// Awaits every future concurrently and returns every outcome, successes and failures, in
/// argument order (Python's `asyncio.gather(*aws, return_exceptions=True)`).
///
/// A panic is an outcome only for [`Task`](crate::Task)s
/// ([`TaskError::Panicked`](crate::TaskError::Panicked)); a plain future's panic goes through
/// the gather to the awaiting task, where Python's gather returns any awaitable's exception:
/// pass `create_task(fut)` to have it caught.
///
/// ```
/// use weft_async::{create_task, gather_settled, run};
///
/// run(async {
///     let results = gather_settled([
///         create_task(async { 1 }),
///         create_task(async { panic!("boom") }),
///         create_task(async { 3 }),
///     ])
///     .await;
///     assert_eq!(results[0], Ok(1));
///     assert!(results[1].as_ref().unwrap_err().is_panic());
///     assert_eq!(results[2], Ok(3));
/// })
/// .unwrap();
/// ```
pub fn gather_settled<I, F>(futs: I) -> GatherSettled<F>
where
    I: IntoIterator<Item = F>,
    F: Future,
{
    GatherSettled {
        chunks: Chunks::new(futs, |_| false),
        finished: false,
    }
}

/// The future [`gather_settled`] returns. Once it has given its result it is terminated
/// ([`FusedFuture`]): polled again, it stays pending. Polled again after one of its futures
/// panicked through its `poll`, it panics, as [`Gather`] does.
#[must_use = "futures do nothing unless awaited"]
pub struct GatherSettled<F: Future> {
    chunks: Chunks<F>,
    finished: bool,
}

impl<F: Future> Unpin for GatherSettled<F> {}

impl<F: Future> Future for GatherSettled<F> {
    type Output = Vec<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if self.finished {
            return Poll::Pending;
        }
        let chunks = &mut self.chunks;
        if ready!(chunks.poll_chunks(cx)).is_some() {
            // Nothing fails a settled gather; unreachable in practice.
            return Poll::Pending;
        }
        let mut values = Vec::with_capacity(chunks.len);
        values.extend(chunks.outputs());
        self.finished = true;
        Poll::Ready(values)
    }
}

impl<F: Future> FusedFuture for GatherSettled<F> {
    fn is_terminated(&self) -> bool {
        self.finished || self.chunks.polling
    }
}

impl<F: Future> fmt::Debug for GatherSettled<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatherSettled")
            .field("futures", &self.chunks.len)
            .finish()
    }
}

/// The outputs of `futs` as they finish, fastest first, as a [`Stream`] (Python's
/// `for aw in asyncio.as_completed(aws): result = await aw`, or `async for` in 3.13).
///
/// Dropping the stream drops (cancels) the futures not yet finished, where Python's
/// `as_completed` left behind leaves them running: pass `&mut` handles (as in the second
/// example) or [`shield`](crate::shield)ed tasks to keep them. There is no `timeout`
/// argument: for Python's `as_completed(aws, timeout=t)`, which bounds the whole iteration,
/// await each `next()` under one [`timeout_at`](crate::timeout_at) deadline (a
/// [`timeout`](crate::timeout) around each `next()` bounds each wait instead); on
/// [`TimeoutError`](crate::TimeoutError) the futures not yet finished stay in the stream, as
/// Python leaves them running.
///
/// Python's `for f in as_completed(aws):` is a loop over [`anext`](crate::anext), which needs no
/// import; `futures::StreamExt`'s combinators apply too (with the `futures` crate as a
/// dependency), as in the second example.
///
/// ```
/// use std::time::Duration;
/// use weft_async::{anext, as_completed, create_task, run, sleep};
///
/// run(async {
///     let tasks = [30u64, 10, 20].map(|ms| {
///         create_task(async move {
///             sleep(Duration::from_millis(ms)).await;
///             ms
///         })
///     });
///     let mut done = as_completed(tasks);
///     let mut order = Vec::new();
///     while let Some(ms) = anext(&mut done).await {
///         order.push(ms.unwrap());
///     }
///     assert_eq!(order, [10, 20, 30]);
/// })
/// .unwrap();
/// ```
///
/// Over `&mut` handles, each output can come with the index of its task, and dropping the
/// stream leaves the other tasks running, their handles still the caller's. A task that
/// answered has given its result away: its handle, awaited again, stays pending for ever
/// ([`Task`](crate::Task) is a `FusedFuture`). Remove it, as below, before waiting again or
/// gathering the rest. For Python's `asyncio.wait`, which keeps each done task's result, use
/// [`wait`](crate::wait).
///
/// ```
/// use std::sync::Arc;
/// use futures_util::StreamExt;
/// use weft_async::{as_completed, create_task, gather, run, Event};
///
/// run(async {
///     let go = Arc::new(Event::new()); // holds back every task but the second
///     let mut tasks = Vec::from([30u64, 10, 20].map(|n| {
///         let go = go.clone();
///         create_task(async move {
///             if n != 10 {
///                 go.wait().await;
///             }
///             n
///         })
///     }));
///     let indexed = tasks.iter_mut().enumerate().map(|(i, t)| async move { (i, t.await) });
///     let first = as_completed(indexed).next().await;
///     assert_eq!(first, Some((1, Ok(10))));
///     tasks.remove(1); // answered: awaited again, it would never end
///     assert!(tasks.iter().all(|t| !t.done())); // still running
///     go.set();
///     assert_eq!(gather(tasks).await, Ok(vec![30, 20]));
/// })
/// .unwrap();
/// ```
pub fn as_completed<I>(futs: I) -> AsCompleted<I::Item>
where
    I: IntoIterator,
    I::Item: Future,
{
    AsCompleted {
        set: futs.into_iter().collect(),
    }
}

/// The stream [`as_completed`] returns.
#[must_use = "streams do nothing unless polled"]
pub struct AsCompleted<F> {
    set: FuturesUnordered<F>,
}

impl<F> Unpin for AsCompleted<F> {}

impl<F> AsCompleted<F> {
    /// How many futures have not finished yet.
    ///
    /// ```
    /// use weft_async::as_completed;
    ///
    /// let s = as_completed([1, 2].map(|n| async move { n }));
    /// assert_eq!(s.remaining(), 2);
    /// ```
    pub fn remaining(&self) -> usize {
        self.set.len()
    }
}

impl<F: Future> Stream for AsCompleted<F> {
    type Item = F::Output;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<F::Output>> {
        Pin::new(&mut self.set).poll_next(cx)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.set.len(), Some(self.set.len()))
    }
}

impl<F> fmt::Debug for AsCompleted<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsCompleted")
            .field("remaining", &self.set.len())
            .finish()
    }
}
