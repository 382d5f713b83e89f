//! `timeout`, `wait_for`, `timeout_at`: bounding how long a future may take.

use std::future::IntoFuture;
use std::time::{Duration, Instant};

use crate::error::TimeoutError;

/// Awaits `fut` for at most `duration` (Python's `async with asyncio.timeout(delay):`).
///
/// When the time runs out first, `fut` is dropped — cancelled, its destructors run — and the
/// result is [`TimeoutError`]. `fut` is polled before the clock is checked, so a future that is
/// ready at once succeeds even with a zero duration; `Duration::MAX` never times out. A
/// [`shield`ed](crate::shield) task keeps running when the wait for it times out.
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
    tokio::time::timeout(duration, fut)
        .await
        .map_err(|_| TimeoutError)
}

/// [`timeout`] with Python's argument order (`await asyncio.wait_for(aw, timeout)`).
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
    tokio::time::timeout_at(tokio::time::Instant::from_std(deadline), fut)
        .await
        .map_err(|_| TimeoutError)
}
