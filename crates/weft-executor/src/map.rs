//! The lazy, in-order result iterator of `map` on every pool.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::fmt;
use std::time::{Duration, Instant};

use crate::error::TaskError;
use crate::future::Future;

/// Submits the next chunk of at most `n` items; `None` when the input is exhausted.
pub(crate) type SubmitChunk<'a, R, E> =
    Box<dyn FnMut(usize) -> Option<Result<Future<Vec<R>, E>, TaskError<E>>> + 'a>;

/// The results of `map`, in input order (Python's `Executor.map`).
///
/// Nothing is submitted until the first call to `next`; then items are read from the input and
/// submitted in chunks of [`chunksize`](Self::chunksize) (default 1), all at once (Python's
/// default) or at most [`buffersize`](Self::buffersize) chunks ahead of the consumer (Python
/// 3.14's `buffersize`), which lets an endless input work. Each item is `Ok(value)` or the
/// [`TaskError`] of its chunk; after an error (a task failing, the
/// [`timeout`](Self::timeout) passing, the pool shutting down) the iterator yields that error
/// and ends, cancelling what it had submitted and not yet yielded, as does dropping it. A
/// `chunksize` or `buffersize` of zero is such an error, the first item
/// ([`TaskError::ZeroChunksize`], [`TaskError::ZeroBuffersize`]: Python's `map` raises
/// `ValueError`), before anything is read or submitted. A chunk
/// that cannot be submitted (its items do not encode for a process pool, the pool was shut
/// down) is such an error in its place: the results of the chunks before it come first, as
/// Python's map raises a pickling error at that item, and nothing after it is submitted. A pool
/// shut down before the chunk is submitted gives [`TaskError::Cancelled`] (also for a `map`
/// made after the shutdown, where Python's `map` raises `RuntimeError` at once), and so does
/// every pool while `weft::main` exits (`weft_thread::is_exiting`).
///
/// ```
/// use weft_executor::ThreadPoolExecutor;
///
/// let pool = ThreadPoolExecutor::new();
/// let squares: Vec<u64> = pool
///     .map(|x: u64| x * x, 1..=4)
///     .chunksize(2)
///     .collect::<Result<_, _>>()
///     .unwrap();
/// assert_eq!(squares, [1, 4, 9, 16]);
/// ```
#[must_use = "map submits nothing until iterated"]
pub struct Map<'a, R, E = Infallible> {
    submit: SubmitChunk<'a, R, E>,
    pending: VecDeque<Future<Vec<R>, E>>,
    current: std::vec::IntoIter<R>,
    chunksize: usize,
    buffersize: Option<usize>,
    timeout: Option<Duration>,
    deadline: Option<Instant>,
    started: bool,
    input_done: bool,
    /// Why the chunk after the pending ones could not be submitted: the error in its place.
    refused: Option<TaskError<E>>,
    ended: bool,
    len_hint: Option<usize>,
    /// How many results have been loaded into `current` so far.
    loaded: usize,
}

impl<'a, R, E> Map<'a, R, E> {
    pub(crate) fn new(submit: SubmitChunk<'a, R, E>, len_hint: Option<usize>) -> Self {
        Map {
            submit,
            pending: VecDeque::new(),
            current: Vec::new().into_iter(),
            chunksize: 1,
            buffersize: None,
            timeout: None,
            deadline: None,
            started: false,
            input_done: false,
            refused: None,
            ended: false,
            len_hint,
            loaded: 0,
        }
    }

    /// Sends items to the workers in chunks of `n` (Python's `chunksize`): fewer, larger
    /// tasks, for cheap functions over many items. Only before the first `next`. A
    /// [`ThreadPoolExecutor`](crate::ThreadPoolExecutor) honours it too, where Python's thread
    /// pool ignores it: a panic there fails the whole chunk, the items before it included.
    ///
    /// `n` must be at least 1: with 0 the first item is [`TaskError::ZeroChunksize`] and the
    /// iterator ends, having read and submitted nothing (Python's process pool raises
    /// `ValueError: chunksize must be >= 1.` from `map`). The error comes from the iterator,
    /// where every other failure of `map` comes from, since nothing happens before the first
    /// `next`; this method cannot fail, so the options still chain. (A 0 given after the first
    /// `next` is that error too, after the results already loaded.)
    ///
    /// ```
    /// use weft_executor::{TaskError, ThreadPoolExecutor};
    ///
    /// let pool = ThreadPoolExecutor::new();
    /// let got: Vec<_> = pool.map(|x: u8| x, 0..4).chunksize(0).collect();
    /// assert_eq!(got, [Err(TaskError::ZeroChunksize)]);
    /// ```
    pub fn chunksize(mut self, n: usize) -> Self {
        self.chunksize = n;
        self
    }

    /// Keeps at most `n` chunks submitted ahead of the consumer (Python 3.14's `buffersize`),
    /// so the input is read lazily and may be endless. Only before the first `next`. `n` must
    /// be at least 1: with 0 the first item is [`TaskError::ZeroBuffersize`] and the iterator
    /// ends, having read and submitted nothing (Python raises `ValueError: buffersize must be
    /// None or >= 1.`), as for [`chunksize`](Self::chunksize).
    ///
    /// ```
    /// let pool = weft_executor::ThreadPoolExecutor::new();
    /// let first: Vec<u64> = pool
    ///     .map(|x: u64| x + 1, 0..)
    ///     .buffersize(4)
    ///     .take(3)
    ///     .map(Result::unwrap)
    ///     .collect();
    /// assert_eq!(first, [1, 2, 3]);
    /// ```
    pub fn buffersize(mut self, n: usize) -> Self {
        self.buffersize = Some(n);
        self
    }

    /// Gives up waiting once `timeout` has passed since the first `next()`, when the tasks start
    /// to be submitted (Python's `timeout`, which counts from the call to `map`, where Python
    /// submits them all): the iterator then yields [`TaskError::Timeout`] and ends, cancelling
    /// the rest. A consumer that starts iterating late gets the whole timeout all the same.
    /// Only before the first `next` (the clock has started then).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// How many items the input said it has, if it knows (for progress bars).
    #[cfg_attr(
        not(feature = "progress"),
        allow(dead_code, reason = "only progress bars ask")
    )]
    pub(crate) fn len_hint(&self) -> Option<usize> {
        self.len_hint
    }

    /// The error of an option out of range, checked before each chunk is loaded (the chunk size
    /// first, as Python's process pool checks it before its `Executor.map` checks
    /// `buffersize`): at the first `next`, and again for an option set after it.
    fn bad_option(&self) -> Option<TaskError<E>> {
        if self.chunksize == 0 {
            Some(TaskError::ZeroChunksize)
        } else if self.buffersize == Some(0) {
            Some(TaskError::ZeroBuffersize)
        } else {
            None
        }
    }

    /// Submits the next chunk; `false` once there is none, or a submit failed (its error is
    /// kept in `refused`, to be yielded after the chunks before it).
    fn submit_one(&mut self) -> bool {
        if self.input_done {
            return false;
        }
        match (self.submit)(self.chunksize) {
            None => {
                self.input_done = true;
                false
            }
            Some(Ok(f)) => {
                self.pending.push_back(f);
                true
            }
            Some(Err(e)) => {
                self.input_done = true;
                self.refused = Some(e);
                false
            }
        }
    }

    fn fill(&mut self) {
        let limit = self.buffersize.unwrap_or(usize::MAX);
        while self.pending.len() < limit && self.submit_one() {}
    }

    fn fail(&mut self, e: TaskError<E>) -> Option<Result<R, TaskError<E>>> {
        self.ended = true;
        self.cancel_pending();
        Some(Err(e))
    }

    fn cancel_pending(&mut self) {
        for f in self.pending.drain(..) {
            f.cancel();
        }
    }
}

impl<R, E> Map<'_, R, E> {
    /// Loads the next chunk of results into `current`; `Err` ends the iterator with that error,
    /// `Ok(false)` means there is nothing left.
    #[cold]
    #[inline(never)]
    fn refill(&mut self) -> Result<bool, TaskError<E>> {
        if self.ended {
            return Ok(false);
        }
        // Before anything is read: a zero given after the first `next` (the setters take the
        // map by value, so they can be called then) would otherwise read no further chunk and
        // end the map early, quietly.
        if let Some(e) = self.bad_option() {
            return Err(e);
        }
        if !self.started {
            self.started = true;
            self.deadline = self.timeout.and_then(|t| Instant::now().checked_add(t));
        }
        self.fill();
        let Some(f) = self.pending.pop_front() else {
            self.ended = true;
            return match self.refused.take() {
                Some(e) => Err(e),
                None => Ok(false),
            };
        };
        // Keep the read-ahead full while this chunk is awaited.
        if self.buffersize.is_some() {
            self.submit_one();
        }
        let result = match self.deadline {
            None => f.result(),
            Some(d) => match f.result_timeout(d.saturating_duration_since(Instant::now())) {
                Ok(v) => Ok(v),
                Err(crate::ResultTimeoutError::Task(e)) => Err(e),
                Err(crate::ResultTimeoutError::Timeout(f)) => {
                    f.cancel();
                    Err(TaskError::Timeout)
                }
            },
        };
        let chunk = result?;
        self.loaded += chunk.len();
        self.current = chunk.into_iter();
        Ok(true)
    }
}

impl<R, E> Iterator for Map<'_, R, E> {
    type Item = Result<R, TaskError<E>>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(r) = self.current.next() {
                return Some(Ok(r));
            }
            match self.refill() {
                Ok(true) => {}
                Ok(false) => return None,
                Err(e) => return self.fail(e),
            }
        }
    }

    /// Folds whole chunks at a time (what `sum`, `collect` and `for_each` use), so the per-item
    /// cost is a plain vector iteration.
    #[inline]
    fn fold<B, F>(mut self, init: B, mut f: F) -> B
    where
        F: FnMut(B, Self::Item) -> B,
    {
        let mut acc = init;
        loop {
            let chunk = std::mem::replace(&mut self.current, Vec::new().into_iter());
            acc = chunk.fold(acc, |acc, r| f(acc, Ok(r)));
            match self.refill() {
                Ok(true) => {}
                Ok(false) => return acc,
                Err(e) => {
                    if let Some(item) = self.fail(e) {
                        acc = f(acc, item);
                    }
                    return acc;
                }
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let now = self.current.len();
        if self.ended {
            return (now, Some(now));
        }
        if self.bad_option().is_some() {
            // The results already loaded, then the error.
            return (now + 1, Some(now + 1));
        }
        // An error can end the iterator early, so only the current chunk is certain.
        let left = self.len_hint.map(|n| n.saturating_sub(self.loaded) + now);
        (now, left)
    }
}

/// Ended for good: after the last result, or after the failure that stopped it.
impl<R, E> std::iter::FusedIterator for Map<'_, R, E> {}

impl<R, E> Drop for Map<'_, R, E> {
    fn drop(&mut self) {
        self.cancel_pending();
    }
}

impl<R, E> fmt::Debug for Map<'_, R, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Map")
            .field("chunksize", &self.chunksize)
            .field("buffersize", &self.buffersize)
            .field("timeout", &self.timeout)
            .field("pending", &self.pending.len())
            .field("ended", &self.ended)
            .finish()
    }
}
