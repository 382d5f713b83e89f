//! `wait`: Python's `asyncio.wait`, splitting tasks into those done and those still pending.

use std::fmt;
use std::future::Future;
use std::pin::{pin, Pin};
use std::task::{ready, Context, Poll};
use std::time::Duration;

use futures_core::future::FusedFuture;
use futures_core::Stream;
use futures_util::stream::FuturesUnordered;

use crate::group::GroupTask;
use crate::task::Task;
use crate::timeout::deadline_in;

/// A task's handle that [`wait`] takes: a [`Task`] or a [`GroupTask`], as Python's
/// `asyncio.wait` takes any task, a `TaskGroup`'s too (`tg.create_task` returns a full
/// `asyncio.Task`). Sealed: these two are all.
pub trait WaitTask: sealed::Sealed {}

impl<T> WaitTask for Task<T> {}

impl<T> WaitTask for GroupTask<T> {}

mod sealed {
    use std::task::{Context, Poll};

    /// What [`wait`](super::wait) asks of a task's handle.
    pub trait Sealed: Unpin {
        /// Python's `task.done()`.
        fn done(&self) -> bool;
        /// Ready once the task has finished (a cancelled one once its exits have run), with its
        /// answer kept for its next await.
        fn poll_finish(&mut self, cx: &mut Context<'_>) -> Poll<()>;
        /// Whether the kept answer is a failure (Python's `FIRST_EXCEPTION`).
        fn failed(&self) -> bool;
    }

    impl<T> Sealed for crate::Task<T> {
        fn done(&self) -> bool {
            crate::Task::done(self)
        }
        fn poll_finish(&mut self, cx: &mut Context<'_>) -> Poll<()> {
            crate::Task::poll_finish(self, cx)
        }
        fn failed(&self) -> bool {
            crate::Task::failed(self)
        }
    }

    impl<T> Sealed for crate::GroupTask<T> {
        fn done(&self) -> bool {
            crate::GroupTask::done(self)
        }
        fn poll_finish(&mut self, cx: &mut Context<'_>) -> Poll<()> {
            crate::GroupTask::poll_finish(self, cx)
        }
        fn failed(&self) -> bool {
            crate::GroupTask::failed(self)
        }
    }
}

/// When [`wait`] returns (Python's `FIRST_COMPLETED`, `FIRST_EXCEPTION`, `ALL_COMPLETED`). The
/// default is [`AllCompleted`](ReturnWhen::AllCompleted), as Python's `return_when=` is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ReturnWhen {
    /// As soon as any task is done (returned, panicked or cancelled).
    FirstCompleted,
    /// As soon as any task fails: panics, or, for a [`GroupTask`], returns `Err` (its failure,
    /// and the group's), but not a cancellation (a [`Task`]'s `Err` output is a value to `wait`,
    /// as to [`gather`](crate::gather)); if none does, when all are done.
    FirstException,
    /// When every task is done (the default).
    #[default]
    AllCompleted,
}

/// What [`wait`] returns: the tasks that are done and those still pending, each in the order
/// they were given (Python returns two sets, `done, pending`). `H` is the handle's type:
/// [`Task<T>`](Task) or [`GroupTask<T>`](GroupTask).
pub struct Waited<H> {
    /// The tasks that are done: awaiting one gives its result at once (unless it had been
    /// awaited before the wait: see [`wait`]).
    pub done: Vec<H>,
    /// The tasks still running, untouched.
    pub pending: Vec<H>,
}

impl<H> fmt::Debug for Waited<H> {
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
/// the first await of the wait, not from this call. A non-zero `timeout` uses tokio's timer,
/// so such a wait polled outside a tokio runtime panics, as [`sleep`](crate::sleep) does
/// (Python: `RuntimeError: no running event loop`).
///
/// Nothing is cancelled or lost: every task comes back in one of the two lists, the pending
/// ones still running, and a timeout is not an error (as in Python). A done task keeps its
/// result, as Python's does: awaiting it gives the result at once (or its
/// [`TaskError`](crate::TaskError)), so the two lists can be waited on again, awaited or passed
/// to [`gather`](crate::gather). A task that was already awaited has given its result away; it
/// counts as done, and awaited again it stays pending for ever (see [`Task`]'s `Future` impl).
///
/// The tasks may be a [`TaskGroup`](crate::TaskGroup)'s [`GroupTask`]s instead (one kind per
/// call), as Python's `wait` takes a group's tasks: the same holds for them. A group's task
/// that failed (returned `Err` or panicked) stays the group's failure whatever `wait` did with
/// it: the group has cancelled its other tasks, and its [`wait`](crate::TaskGroup::wait)
/// reports the failure, as Python's group raises its `ExceptionGroup` although an
/// `asyncio.wait` saw the child fail; awaiting the task gives
/// [`TaskError::Failed`](crate::TaskError::Failed) or
/// [`TaskError::Panicked`](crate::TaskError::Panicked). In a
/// [`TaskGroup::scope`](crate::TaskGroup::scope) body the failure cancels the body where it
/// waits, as Python cancels the block's `asyncio.wait`; after
/// [`TaskGroup::new`](crate::TaskGroup::new) the body's `wait` returns (see [`TaskGroup`](crate::TaskGroup)).
///
/// ```
/// use weft_async::{run, wait, ReturnWhen, TaskError, TaskGroup};
///
/// run(async {
///     let tg = TaskGroup::<String>::new();
///     let tasks = vec![
///         tg.create_task(async { Err("no route".to_string()) }).unwrap(),
///         tg.create_task(async { Ok(1) }).unwrap(),
///     ];
///     let w = wait(tasks, None, ReturnWhen::FirstException).await;
///     assert_eq!(w.done.len(), 2);
///     let mut done = w.done.into_iter();
///     assert_eq!(done.next().unwrap().await, Err(TaskError::Failed));
///     // The failure cancelled its sibling before it ran, as the group does.
///     assert_eq!(done.next().unwrap().await, Err(TaskError::Cancelled));
///     // The group reports the failure all the same.
///     assert_eq!(tg.wait().await.unwrap_err().len(), 1);
/// })
/// .unwrap();
/// ```
///
/// As Python's, a wait always suspends, also when its condition holds at once (every task
/// done, or one for [`ReturnWhen::FirstCompleted`]) or its timeout is zero: it then returns
/// after two turns of the runtime, as CPython's does (one for its done-callbacks or zero timer,
/// one for its wake-up), so each task ready before it takes two steps first: a task created
/// just before `wait(.., Some(ZERO), ..)` has run up to its second await, and is done if it
/// needed fewer. A zero timeout has passed when the wait is first polled, whatever the timer.
///
/// Four things differ from Python:
/// - An empty list gives two empty lists, where Python raises `ValueError`.
/// - The tasks are moved into the wait: dropping its future before it returns drops them, which
///   cancels [`Task`]s (as [`gather`](crate::gather) does), where cancelling Python's `wait`
///   leaves them running. Use `timeout` rather than a [`timeout`](crate::timeout) around the
///   wait, or [`shield`](Task::shield) the tasks. (A [`GroupTask`] dropped leaves its task
///   running, as Python's `wait` does: its group owns it.)
/// - A wait that sleeps returns as soon as the task (or the timer) that ends it has woken it,
///   where CPython's takes two more loop iterations (the task's done-callback, then the
///   wake-up): another task that yields in a loop meanwhile has taken fewer steps.
/// - A [`Task`] that returns `Err` has not failed for [`ReturnWhen::FirstException`]: in weft a
///   task's failure is a panic, and its output, `Err` or not, is a value. (A [`GroupTask`]'s
///   `Err` is its group's failure, Python's exception in a child: it counts.)
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
pub fn wait<H: WaitTask>(
    tasks: impl IntoIterator<Item = H>,
    timeout: Option<Duration>,
    return_when: ReturnWhen,
) -> Wait<H> {
    let set: FuturesUnordered<Finish<H>> = tasks
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
        zero: false,
        reached: false,
        slept: false,
        turns: 0,
        finished: false,
    }
}

/// The turns a wait that never sleeps (its condition holds when first polled, or its timeout is
/// zero) gives the tasks ready before it, each a `yield_now`: two, as CPython's `wait`, which
/// always awaits its waiter, takes one loop iteration to run the done-callback (or the zero
/// timer) that sets it and one more to wake the waiting task.
const IDLE_TURNS: u8 = 2;

/// The future [`wait`] returns. Once it has given its result it is terminated
/// ([`FusedFuture`]): polled again, it stays pending.
#[must_use = "futures do nothing unless awaited"]
pub struct Wait<H> {
    /// The tasks seen done, with their places in the argument list.
    done: Vec<(usize, H)>,
    /// The others, each woken by its own task.
    set: FuturesUnordered<Finish<H>>,
    /// The `timeout` given, until the first poll starts its timer.
    timeout: Option<Duration>,
    /// The timer of `timeout`, started on the first poll: the clock runs from the first await,
    /// as Python's `wait` is a coroutine that starts when awaited, and tokio's timer needs the
    /// runtime, which the caller of `wait` may not be in. Boxed, so that `Wait` is `Unpin`, as
    /// `set` is.
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    return_when: ReturnWhen,
    /// The timeout given was zero: it has passed at the first poll, without the timer (whose
    /// driver a busy runtime turns only now and then).
    zero: bool,
    /// The condition holds, or the timeout passed: the wait ends at its next chance.
    reached: bool,
    /// The wait has slept: returned `Pending` until a task or its timer woke it.
    slept: bool,
    /// The turns given so far to the tasks ready before a wait that did not sleep (see
    /// [`IDLE_TURNS`]).
    turns: u8,
    finished: bool,
}

impl<H: WaitTask> Future for Wait<H> {
    type Output = Waited<H>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Waited<H>> {
        let this = &mut *self;
        if this.finished {
            return Poll::Pending;
        }
        if let Some(timeout) = this.timeout.take() {
            this.zero = timeout.is_zero();
            if !this.zero {
                this.deadline =
                    deadline_in(timeout).map(|at| Box::pin(tokio::time::sleep_until(at)));
            }
        }
        while !this.reached {
            match Pin::new(&mut this.set).poll_next(cx) {
                Poll::Ready(Some((index, task))) => {
                    this.reached = match this.return_when {
                        ReturnWhen::FirstCompleted => true,
                        ReturnWhen::FirstException => task.failed(),
                        ReturnWhen::AllCompleted => false,
                    };
                    this.done.push((index, task));
                }
                Poll::Ready(None) => this.reached = true,
                Poll::Pending => {
                    let expired = this.zero
                        || match this.deadline.as_mut() {
                            Some(sleep) => sleep.as_mut().poll(cx).is_ready(),
                            None => false,
                        };
                    if !expired {
                        this.slept = true;
                        return Poll::Pending;
                    }
                    this.reached = true;
                }
            }
        }
        if !this.slept && this.turns < IDLE_TURNS {
            // Python's `wait` always suspends, so the tasks ready before it take their steps
            // first: as many as Python's gives them (see `IDLE_TURNS`).
            this.turns += 1;
            crate::task::defer_in_order(cx.waker());
            return Poll::Pending;
        }
        this.finished = true;
        Poll::Ready(this.split(cx))
    }
}

impl<H: WaitTask> Wait<H> {
    /// The tasks split into done and pending, each in argument order, once the wait ends: the
    /// tasks left that have finished too are collected first.
    fn split(&mut self, cx: &mut Context<'_>) -> Waited<H> {
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

impl<H: WaitTask> FusedFuture for Wait<H> {
    fn is_terminated(&self) -> bool {
        self.finished
    }
}

impl<H> fmt::Debug for Wait<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wait")
            .field("done", &self.done.len())
            .field("pending", &self.set.len())
            .field("return_when", &self.return_when)
            .finish()
    }
}

/// One task of a [`Wait`]: ready, with the task and its place, once the task has finished.
struct Finish<H> {
    index: usize,
    task: Option<H>,
}

impl<H: WaitTask> Future for Finish<H> {
    type Output = (usize, H);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<(usize, H)> {
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
