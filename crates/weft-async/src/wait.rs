//! `wait`: Python's `asyncio.wait`, splitting tasks into those done and those still pending.

use std::fmt;
use std::future::Future;
use std::pin::{pin, Pin};
use std::task::{ready, Context, Poll};
use std::time::Duration;

use futures_core::future::FusedFuture;
use futures_core::Stream;
use futures_util::stream::FuturesUnordered;

use crate::task::Task;
use crate::timeout::deadline_in;

/// When [`wait`] returns (Python's `FIRST_COMPLETED`, `FIRST_EXCEPTION`, `ALL_COMPLETED`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReturnWhen {
    /// As soon as any task is done (returned, panicked or cancelled).
    FirstCompleted,
    /// As soon as any task fails: panics (not a cancellation; a task's `Err` output is a value
    /// to `wait`, as to [`gather`](crate::gather)); if none does, when all are done.
    FirstException,
    /// When every task is done.
    AllCompleted,
}

/// What [`wait`] returns: the tasks that are done and those still pending, each in the order
/// they were given (Python returns two sets, `done, pending`).
pub struct Waited<T> {
    /// The tasks that are done: awaiting one gives its result at once (unless it had been
    /// awaited before the wait: see [`wait`]).
    pub done: Vec<Task<T>>,
    /// The tasks still running, untouched.
    pub pending: Vec<Task<T>>,
}

impl<T> fmt::Debug for Waited<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Waited")
            .field("done", &self.done.len())
            .field("pending", &self.pending.len())
            .finish()
    }
}

/// Waits until `tasks` reach the `return_when` condition or `timeout` passes (`None`: no
/// limit), and returns them split into done and pending (Python's
/// `asyncio.wait(tasks, timeout=…, return_when=…)`). As Python's, the `timeout` counts from
/// the first await of the wait, not from this call.
///
/// Nothing is cancelled or lost: every task comes back in one of the two lists, the pending
/// ones still running, and a timeout is not an error (as in Python). A done task keeps its
/// result, as Python's does: awaiting it gives the result at once (or its
/// [`TaskError`](crate::TaskError)), so the two lists can be waited on again, awaited or passed
/// to [`gather`](crate::gather). A task that was already awaited has given its result away; it
/// counts as done, and awaited again it stays pending for ever (see [`Task`]'s `Future` impl).
///
/// Four things differ from Python:
/// - An empty list returns at once with two empty lists, where Python raises `ValueError`.
/// - A wait whose condition holds when first polled (every task done, or one for
///   [`ReturnWhen::FirstCompleted`]) returns then, without giving other tasks a turn, where
///   Python's `wait` always suspends once. Add a [`yield_now`](crate::yield_now) for that turn.
/// - The tasks are moved into the wait: dropping its future before it returns drops them, which
///   cancels them (as [`gather`](crate::gather) does), where cancelling Python's `wait` leaves
///   them running. Use `timeout` rather than a [`timeout`](crate::timeout) around the wait, or
///   [`shield`](Task::shield) the tasks.
/// - A task that returns `Err` has not failed for [`ReturnWhen::FirstException`]: in weft a
///   task's failure is a panic, and its output, `Err` or not, is a value.
///
/// A task counts as done when `wait` sees it finish; those that finish in the same turn of the
/// runtime as the one that ended the wait are done too, as Python's sets are taken when its
/// `wait` wakes. Each finishing task wakes the wait once, so waiting on many tasks costs the
/// same per task as awaiting each.
///
/// ```
/// use std::time::Duration;
/// use weft_async::{create_task, run, sleep, wait, ReturnWhen};
///
/// run(async {
///     let tasks = [30u64, 1, 3600_000].map(|ms| {
///         create_task(async move {
///             sleep(Duration::from_millis(ms)).await;
///             ms
///         })
///     });
///     // The first to finish; the others keep running.
///     let first = wait(tasks, None, ReturnWhen::FirstCompleted).await;
///     assert_eq!(first.done.len(), 1);
///     assert_eq!(first.pending.len(), 2);
///     for t in first.done {
///         assert_eq!(t.await, Ok(1));
///     }
///     // The rest, for at most a second: the hour-long one is still pending then.
///     let rest = wait(first.pending, Some(Duration::from_secs(1)), ReturnWhen::AllCompleted).await;
///     assert_eq!(rest.done.len(), 1);
///     assert_eq!(rest.pending.len(), 1);
///     assert!(rest.pending[0].cancel());
/// })
/// .unwrap();
/// ```
pub fn wait<T>(
    tasks: impl IntoIterator<Item = Task<T>>,
    timeout: Option<Duration>,
    return_when: ReturnWhen,
) -> Wait<T> {
    let set: FuturesUnordered<Finish<T>> = tasks
        .into_iter()
        .enumerate()
        .map(|(index, task)| Finish {
            index,
            task: Some(task),
        })
        .collect();
    Wait {
        done: Vec::new(),
        set,
        timeout,
        deadline: None,
        return_when,
        finished: false,
    }
}

/// The future [`wait`] returns. Once it has given its result it is terminated
/// ([`FusedFuture`]): polled again, it stays pending.
#[must_use = "futures do nothing unless awaited"]
pub struct Wait<T> {
    /// The tasks seen done, with their places in the argument list.
    done: Vec<(usize, Task<T>)>,
    /// The others, each woken by its own task.
    set: FuturesUnordered<Finish<T>>,
    /// The `timeout` given, until the first poll starts its timer.
    timeout: Option<Duration>,
    /// The timer of `timeout`, started on the first poll: the clock runs from the first await,
    /// as Python's `wait` is a coroutine that starts when awaited, and tokio's timer needs the
    /// runtime, which the caller of `wait` may not be in. Boxed, so that `Wait` is `Unpin`, as
    /// `set` is.
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    return_when: ReturnWhen,
    finished: bool,
}

impl<T> Future for Wait<T> {
    type Output = Waited<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Waited<T>> {
        let this = &mut *self;
        if this.finished {
            return Poll::Pending;
        }
        if let Some(timeout) = this.timeout.take() {
            this.deadline = deadline_in(timeout).map(|at| Box::pin(tokio::time::sleep_until(at)));
        }
        loop {
            match Pin::new(&mut this.set).poll_next(cx) {
                Poll::Ready(Some((index, task))) => {
                    let reached = match this.return_when {
                        ReturnWhen::FirstCompleted => true,
                        ReturnWhen::FirstException => task.failed(),
                        ReturnWhen::AllCompleted => false,
                    };
                    this.done.push((index, task));
                    if reached {
                        break;
                    }
                }
                Poll::Ready(None) => break,
                Poll::Pending => {
                    match this.deadline.as_mut() {
                        Some(sleep) => ready!(sleep.as_mut().poll(cx)),
                        None => return Poll::Pending,
                    }
                    break;
                }
            }
        }
        this.finished = true;
        Poll::Ready(this.split(cx))
    }
}

impl<T> Wait<T> {
    /// The tasks split into done and pending, each in argument order, once the wait ends: the
    /// tasks left that have finished too are collected first.
    fn split(&mut self, cx: &mut Context<'_>) -> Waited<T> {
        let mut done = std::mem::take(&mut self.done);
        let mut pending = Vec::with_capacity(self.set.len());
        for mut finish in std::mem::take(&mut self.set) {
            let Some(mut task) = finish.task.take() else {
                continue; // not reached: a `Finish` in the set still has its task
            };
            // Unconstrained: a finished task's handle answers even when the budget of the
            // awaiting task is spent (tokio's `JoinHandle` would ask it to yield).
            let seen = task.done() && {
                let finished = std::future::poll_fn(|cx| task.poll_finish(cx));
                let mut finished = pin!(tokio::task::coop::unconstrained(finished));
                finished.as_mut().poll(cx).is_ready()
            };
            if seen {
                done.push((finish.index, task));
            } else {
                pending.push((finish.index, task));
            }
        }
        done.sort_unstable_by_key(|&(index, _)| index);
        pending.sort_unstable_by_key(|&(index, _)| index);
        Waited {
            done: done.into_iter().map(|(_, task)| task).collect(),
            pending: pending.into_iter().map(|(_, task)| task).collect(),
        }
    }
}

impl<T> FusedFuture for Wait<T> {
    fn is_terminated(&self) -> bool {
        self.finished
    }
}

impl<T> fmt::Debug for Wait<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wait")
            .field("done", &self.done.len())
            .field("pending", &self.set.len())
            .field("return_when", &self.return_when)
            .finish()
    }
}

/// One task of a [`Wait`]: ready, with the task and its place, once the task has finished.
struct Finish<T> {
    index: usize,
    task: Option<Task<T>>,
}

impl<T> Future for Finish<T> {
    type Output = (usize, Task<T>);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<(usize, Task<T>)> {
        let this = &mut *self;
        let Some(task) = this.task.as_mut() else {
            return Poll::Pending; // not reached: FuturesUnordered drops a future once ready
        };
        ready!(task.poll_finish(cx));
        match this.task.take() {
            Some(task) => Poll::Ready((this.index, task)),
            None => Poll::Pending, // not reached: taken only here
        }
    }
}
