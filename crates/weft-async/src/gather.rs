//! `gather`, `gather_settled` and `as_completed`: awaiting many futures at once.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures_core::Stream;
use futures_util::stream::FuturesUnordered;
use pin_project_lite::pin_project;

pin_project! {
    /// A future and its position among the others.
    struct Indexed<F> {
        #[pin]
        fut: F,
        index: usize,
    }
}

impl<F: Future> Future for Indexed<F> {
    type Output = (usize, F::Output);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let out = ready!(this.fut.poll(cx));
        Poll::Ready((*this.index, out))
    }
}

fn indexed<I: IntoIterator>(futs: I) -> (FuturesUnordered<Indexed<I::Item>>, usize)
where
    I::Item: Future,
{
    let set: FuturesUnordered<_> = futs
        .into_iter()
        .enumerate()
        .map(|(index, fut)| Indexed { fut, index })
        .collect();
    let n = set.len();
    (set, n)
}

/// Awaits every future concurrently and returns their values in argument order (Python's
/// `asyncio.gather(*aws)`); the first `Err` ends it, and the futures not yet finished are
/// dropped, which cancels them ([`Task`](crate::Task)s are cancelled when dropped).
///
/// The futures run inside the `gather` future, interleaved on the awaiting task; pass
/// [`Task`](crate::Task)s (from [`create_task`](crate::create_task)) to run them as separate
/// tasks, which a multi-thread runtime may run in parallel. Tasks give
/// [`TaskError`](crate::TaskError) as their error; any other `Future<Output = Result<T, E>>`
/// gives its own `E`. For futures of different types, `futures_util::try_join!` does the same
/// for a fixed number of them.
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
pub fn gather<I, F, T, E>(futs: I) -> Gather<F, T>
where
    I: IntoIterator<Item = F>,
    F: Future<Output = Result<T, E>>,
{
    let (set, n) = indexed(futs);
    let mut values = Vec::with_capacity(n);
    values.resize_with(n, || None);
    Gather { set, values }
}

/// The future [`gather`] returns.
#[must_use = "futures do nothing unless awaited"]
pub struct Gather<F, T> {
    set: FuturesUnordered<Indexed<F>>,
    values: Vec<Option<T>>,
}

impl<F, T> Unpin for Gather<F, T> {}

impl<F, T, E> Future for Gather<F, T>
where
    F: Future<Output = Result<T, E>>,
{
    type Output = Result<Vec<T>, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        loop {
            match ready!(Pin::new(&mut this.set).poll_next(cx)) {
                Some((i, Ok(v))) => this.values[i] = Some(v),
                Some((_, Err(e))) => {
                    // Cancel the rest now rather than when the Gather is dropped.
                    this.set.clear();
                    return Poll::Ready(Err(e));
                }
                None => {
                    let values = std::mem::take(&mut this.values);
                    return Poll::Ready(Ok(values.into_iter().flatten().collect()));
                }
            }
        }
    }
}

impl<F, T> fmt::Debug for Gather<F, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gather")
            .field("pending", &self.set.len())
            .finish()
    }
}

/// Awaits every future concurrently and returns every outcome, successes and failures, in
/// argument order (Python's `asyncio.gather(*aws, return_exceptions=True)`).
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
    let (set, n) = indexed(futs);
    let mut values = Vec::with_capacity(n);
    values.resize_with(n, || None);
    GatherSettled { set, values }
}

/// The future [`gather_settled`] returns.
#[must_use = "futures do nothing unless awaited"]
pub struct GatherSettled<F: Future> {
    set: FuturesUnordered<Indexed<F>>,
    values: Vec<Option<F::Output>>,
}

impl<F: Future> Unpin for GatherSettled<F> {}

impl<F: Future> Future for GatherSettled<F> {
    type Output = Vec<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        while let Some((i, out)) = ready!(Pin::new(&mut this.set).poll_next(cx)) {
            this.values[i] = Some(out);
        }
        let values = std::mem::take(&mut this.values);
        Poll::Ready(values.into_iter().flatten().collect())
    }
}

impl<F: Future> fmt::Debug for GatherSettled<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatherSettled")
            .field("pending", &self.set.len())
            .finish()
    }
}

/// The outputs of `futs` as they finish, fastest first, as a [`Stream`] (Python's
/// `for aw in asyncio.as_completed(aws): result = await aw`, or `async for` in 3.13).
///
/// Dropping the stream drops (cancels) the futures not yet finished. Limit the whole wait with
/// [`timeout`](crate::timeout) around each `next()`.
///
/// ```
/// use std::time::Duration;
/// use futures_util::StreamExt;
/// use weft_async::{as_completed, create_task, run, sleep};
///
/// run(async {
///     let tasks = [30u64, 10, 20].map(|ms| {
///         create_task(async move {
///             sleep(Duration::from_millis(ms)).await;
///             ms
///         })
///     });
///     let order: Vec<u64> = as_completed(tasks).map(Result::unwrap).collect().await;
///     assert_eq!(order, [10, 20, 30]);
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
