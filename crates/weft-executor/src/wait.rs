//! `as_completed` and `wait`: collecting many futures as they finish.

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

use crate::error::AsCompletedTimeout;
use crate::future::{Future, Group};
use crate::loom::Arc;

/// When [`wait`] returns (Python's `FIRST_COMPLETED`, `FIRST_EXCEPTION`, `ALL_COMPLETED`). The
/// default is [`AllCompleted`](ReturnWhen::AllCompleted), as Python's `return_when=` is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ReturnWhen {
    /// As soon as any future is done (finished or cancelled).
    FirstCompleted,
    /// As soon as any future finishes with an error (a future whose
    /// [`cancelled`](crate::Future::cancelled) is `true` does not count); if none does, when
    /// all are done.
    FirstException,
    /// When every future is done (the default).
    #[default]
    AllCompleted,
}

/// What [`wait`] returns: the futures that are done and those that are not, each in the order
/// they were given (Python returns two sets).
pub struct Waited<T, E = std::convert::Infallible> {
    /// The futures that are done (finished or cancelled).
    pub done: Vec<Future<T, E>>,
    /// The futures still pending or running.
    pub not_done: Vec<Future<T, E>>,
}

impl<T, E> fmt::Debug for Waited<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Waited")
            .field("done", &self.done.len())
            .field("not_done", &self.not_done.len())
            .finish()
    }
}

/// Waits until `futures` reach the `return_when` condition or `timeout` passes (`None`: no
/// limit), and returns them split into done and not done (Python's
/// `concurrent.futures.wait(fs, timeout, return_when)`). Nothing is cancelled or lost: every
/// future comes back in one of the two lists.
///
/// A future cancelled while its task was still queued is done at once, as Python's documentation
/// says. (CPython's `wait` and `as_completed` count it as not done until a worker has taken it
/// off the queue, and wait for it until then: python/cpython#92001.)
///
/// ```
/// use std::time::Duration;
/// use weft_executor::{wait, ReturnWhen, ThreadPoolExecutor};
///
/// let pool = ThreadPoolExecutor::builder().max_workers(2).build().unwrap();
/// let gate = std::sync::Arc::new(weft_sync::Event::new());
/// let g = gate.clone();
/// let slow = pool.submit(move || { g.wait(); 1 }).unwrap();
/// let fast = pool.submit(|| 2).unwrap();
/// let w = wait(vec![slow, fast], None, ReturnWhen::FirstCompleted);
/// assert_eq!(w.done.len(), 1);
/// assert_eq!(w.not_done.len(), 1);
/// gate.set();
/// let all = wait(w.not_done, Some(Duration::from_secs(60)), ReturnWhen::AllCompleted);
/// assert!(all.not_done.is_empty());
/// ```
pub fn wait<T, E>(
    futures: impl IntoIterator<Item = Future<T, E>>,
    timeout: Option<Duration>,
    return_when: ReturnWhen,
) -> Waited<T, E> {
    let futures: Vec<Future<T, E>> = futures.into_iter().collect();
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    let group = Group::new();
    let mut done = vec![false; futures.len()];
    let mut left = futures.len();
    // Whether a future that finished failed (not cancelled): looked at once per future, as it
    // finishes, rather than over all of them at every wake-up (quadratic in a long wait).
    let mut failed = false;
    for (i, f) in futures.iter().enumerate() {
        if !f.watch(&group, i) {
            done[i] = true;
            left -= 1;
            failed |= return_when == ReturnWhen::FirstException && f.failed_not_cancelled();
        }
    }
    let reached = |left: usize, failed: bool| match return_when {
        ReturnWhen::AllCompleted => left == 0,
        ReturnWhen::FirstCompleted => left < futures.len() || futures.is_empty(),
        ReturnWhen::FirstException => left == 0 || failed,
    };
    while !reached(left, failed) {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        for i in group.take_finished(deadline) {
            if !done[i] {
                done[i] = true;
                left -= 1;
                failed |=
                    return_when == ReturnWhen::FirstException && futures[i].failed_not_cancelled();
            }
        }
    }
    let mut w = Waited {
        done: Vec::new(),
        not_done: Vec::new(),
    };
    for (f, d) in futures.into_iter().zip(done) {
        if d {
            w.done.push(f);
        } else {
            f.unwatch();
            w.not_done.push(f);
        }
    }
    w
}

/// Yields each future once as it finishes (those already done first, in the order given), as
/// Python's `concurrent.futures.as_completed(fs, timeout)`. With a `timeout`, once it passes
/// with futures unfinished, the iterator yields one [`AsCompletedTimeout`] holding them (nothing
/// is lost) and ends. A future cancelled while its task was still queued is yielded at once (see
/// [`wait`]).
///
/// ```
/// use weft_executor::{as_completed, ThreadPoolExecutor};
///
/// let pool = ThreadPoolExecutor::new();
/// let futures: Vec<_> = (0..10u64).map(|i| pool.submit(move || i * i).unwrap()).collect();
/// let mut total = 0;
/// for f in as_completed(futures, None) {
///     total += f.unwrap().result().unwrap();
/// }
/// assert_eq!(total, 285);
/// ```
pub fn as_completed<T, E>(
    futures: impl IntoIterator<Item = Future<T, E>>,
    timeout: Option<Duration>,
) -> AsCompleted<T, E> {
    let futures: Vec<Option<Future<T, E>>> = futures.into_iter().map(Some).collect();
    let group = Group::new();
    let mut ready = VecDeque::new();
    for (i, f) in futures.iter().enumerate() {
        if let Some(f) = f
            && !f.watch(&group, i)
        {
            ready.push_back(i);
        }
    }
    AsCompleted {
        total: futures.len(),
        remaining: futures.len(),
        futures,
        group,
        ready,
        deadline: timeout.and_then(|t| Instant::now().checked_add(t)),
    }
}

/// The iterator of [`as_completed`].
pub struct AsCompleted<T, E = std::convert::Infallible> {
    futures: Vec<Option<Future<T, E>>>,
    group: Arc<Group>,
    ready: VecDeque<usize>,
    remaining: usize,
    total: usize,
    deadline: Option<Instant>,
}

impl<T, E> AsCompleted<T, E> {
    /// How many futures are still to be yielded.
    pub fn remaining(&self) -> usize {
        self.remaining
    }

    /// How many futures were given.
    pub fn total(&self) -> usize {
        self.total
    }
}

impl<T, E> Iterator for AsCompleted<T, E> {
    type Item = Result<Future<T, E>, AsCompletedTimeout<T, E>>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(i) = self.ready.pop_front() {
                if let Some(f) = self.futures[i].take() {
                    self.remaining -= 1;
                    return Some(Ok(f));
                }
                continue;
            }
            if self.remaining == 0 {
                return None;
            }
            let finished = self.group.take_finished(self.deadline);
            if finished.is_empty() {
                // Only an expired deadline returns nothing.
                let unfinished: Vec<Future<T, E>> =
                    self.futures.iter_mut().filter_map(Option::take).collect();
                for f in &unfinished {
                    f.unwatch();
                }
                self.remaining = 0;
                return Some(Err(AsCompletedTimeout {
                    unfinished,
                    total: self.total,
                }));
            }
            self.ready.extend(finished);
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.remaining))
    }
}

/// Ended for good: every future was yielded, or the timeout's error was.
impl<T, E> std::iter::FusedIterator for AsCompleted<T, E> {}

impl<T, E> Drop for AsCompleted<T, E> {
    fn drop(&mut self) {
        for f in self.futures.iter().flatten() {
            f.unwatch();
        }
    }
}

impl<T, E> fmt::Debug for AsCompleted<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsCompleted")
            .field("remaining", &self.remaining)
            .field("total", &self.total)
            .finish()
    }
}
