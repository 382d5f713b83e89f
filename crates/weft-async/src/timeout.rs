//! `timeout`, `wait_for`, `timeout_at`: bounding how long a future may take.

use std::future::{poll_fn, Future, IntoFuture};
use std::panic::resume_unwind;
use std::pin::{pin, Pin};
use std::task::Poll;
use std::time::{Duration, Instant};

use crate::context::{await_or_hand_over, drop_collecting_exits, hand_over_exits};
use crate::error::TimeoutError;

/// Awaits `fut` for at most `duration` (Python's `async with asyncio.timeout(delay):`).
///
/// `fut` is polled before the clock is checked, so a future that is ready at once succeeds
/// even with a zero duration, and one that completes in the turn the deadline passes gives its
/// output (Python 3.11's `asyncio.timeout` raises `TimeoutError` then); `Duration::MAX` never
/// times out. A [`shield`ed](crate::shield) task keeps running when the wait for it times out.
///
/// # Errors
/// When the time runs out first, `fut` is dropped — cancelled, its destructors run — and the
/// result is [`TimeoutError`]. The exits of the [`async_with`](crate::async_with) blocks (and
/// [`AsyncExitStack`](crate::AsyncExitStack)s) that `fut` was inside are awaited before that
/// error is returned, as Python's timeout lets the cancelled code's `__aexit__` run first.
///
/// ```
/// use std::time::Duration;
/// use weft_async::{run, sleep, timeout, TimeoutError};
///
/// run(async {
///     let quick = timeout(Duration::from_secs(60), async { 5 }).await;
///     assert_eq!(quick, Ok(5));
///     let slow = timeout(Duration::from_millis(10), sleep(Duration::from_secs(3600))).await;
///     assert_eq!(slow, Err(TimeoutError));
/// })
/// .unwrap();
/// ```
pub async fn timeout<F: IntoFuture>(duration: Duration, fut: F) -> Result<F::Output, TimeoutError> {
    // A deadline too far for the timer never comes (tokio's own timeout does the same).
    match deadline_in(duration) {
        Some(deadline) => until(deadline, fut.into_future()).await,
        None => Ok(fut.await),
    }
}

/// `deadline`, or `None` (no deadline: for ever) when it lies within a millisecond of the
/// clock's end. tokio's timer rounds each deadline up to its next millisecond, an addition that
/// panics there; such a deadline, like `now + Duration::MAX`, is hundreds of billions of years
/// away.
pub(crate) fn timer_deadline(deadline: tokio::time::Instant) -> Option<tokio::time::Instant> {
    deadline.checked_add(Duration::from_millis(1))?;
    Some(deadline)
}

/// The deadline `duration` from now, or `None` when the timer cannot hold it (see
/// [`timer_deadline`]).
pub(crate) fn deadline_in(duration: Duration) -> Option<tokio::time::Instant> {
    timer_deadline(tokio::time::Instant::now().checked_add(duration)?)
}

/// Awaits `fut` until `deadline`, then drops it and awaits the exits handed over meanwhile.
async fn until<F: Future>(
    deadline: tokio::time::Instant,
    fut: F,
) -> Result<F::Output, TimeoutError> {
    let mut fut = pin!(Some(fut));
    let mut sleep = pin!(tokio::time::sleep_until(deadline));
    let done = poll_fn(|cx| {
        let had_budget = tokio::task::coop::has_budget_remaining();
        if let Some(fut) = fut.as_mut().as_pin_mut()
            && let Poll::Ready(out) = fut.poll(cx)
        {
            return Poll::Ready(Some(out));
        }
        // As tokio's timeout: when `fut` used up the task's budget, the clock is still read;
        // when the budget was gone already, the task yields instead.
        let slept = if had_budget && !tokio::task::coop::has_budget_remaining() {
            Pin::new(&mut tokio::task::coop::unconstrained(sleep.as_mut())).poll(cx)
        } else {
            sleep.as_mut().poll(cx)
        };
        slept.map(|()| None)
    });
    // Not bound to a variable: an output kept across the await below would make this future
    // need the output to be `Send` (or `Sync`) to be so itself.
    if let Some(out) = done.await {
        return Ok(out);
    }
    let exits = match drop_collecting_exits(|| fut.set(None)) {
        (Ok(()), exits) => exits,
        (Err(payload), exits) => {
            // The exits run on (see `hand_over_exits`); the panic goes on now.
            hand_over_exits(exits);
            resume_unwind(payload);
        }
    };
    await_or_hand_over(exits).await;
    Err(TimeoutError)
}

/// [`timeout`] with Python's argument order (`await asyncio.wait_for(aw, timeout)`).
///
/// As [`timeout`], a future ready at once succeeds even with a zero duration, as in Python 3.12
/// and later; 3.11's `wait_for` with a timeout of zero or less raises `TimeoutError` for
/// anything not already done.
///
/// # Errors
/// [`TimeoutError`] as for [`timeout`], `fut` dropped first.
///
/// A [`Task`](crate::Task) passed by value is cancelled by dropping its handle, and the exits
/// of the [`async_with`](crate::async_with) blocks it was in run on its own task after the
/// error is returned, where Python's `wait_for(task, t)` returns only once the cancelled task
/// has ended, after its `__aexit__`s. To wait for them, pass `&mut task`, then cancel and
/// await it on a timeout:
///
/// ```
/// use std::time::Duration;
/// use weft_async::{create_task, run, sleep, wait_for};
///
/// run(async {
///     let mut t = create_task(sleep(Duration::from_secs(3600)));
///     if wait_for(&mut t, Duration::from_millis(10)).await.is_err() {
///         t.cancel();
///         assert!(t.await.unwrap_err().is_cancelled()); // after its exits, if any
///     }
/// })
/// .unwrap();
/// ```
///
/// ```
/// use std::time::Duration;
/// use weft_async::{create_task, run, sleep, wait_for};
///
/// run(async {
///     let t = create_task(sleep(Duration::from_secs(3600)));
///     // The task is dropped, and so cancelled, when the wait times out.
///     assert!(wait_for(t, Duration::from_millis(10)).await.is_err());
/// })
/// .unwrap();
/// ```
pub async fn wait_for<F: IntoFuture>(
    fut: F,
    duration: Duration,
) -> Result<F::Output, TimeoutError> {
    timeout(duration, fut).await
}

/// Awaits `fut` until `deadline` at the latest (Python's `asyncio.timeout_at(when)`); a deadline
/// already past still lets a ready future through, as [`timeout`] with zero does.
///
/// # Errors
/// [`TimeoutError`] when `deadline` passes first, `fut` dropped as for [`timeout`].
///
/// ```
/// use std::time::{Duration, Instant};
/// use weft_async::{run, sleep, timeout_at};
///
/// run(async {
///     let deadline = Instant::now() + Duration::from_millis(20);
///     assert!(timeout_at(deadline, sleep(Duration::from_millis(1))).await.is_ok());
///     assert!(timeout_at(deadline, sleep(Duration::from_secs(3600))).await.is_err());
/// })
/// .unwrap();
/// ```
pub async fn timeout_at<F: IntoFuture>(
    deadline: Instant,
    fut: F,
) -> Result<F::Output, TimeoutError> {
    match timer_deadline(tokio::time::Instant::from_std(deadline)) {
        Some(deadline) => until(deadline, fut.into_future()).await,
        None => Ok(fut.await),
    }
}
