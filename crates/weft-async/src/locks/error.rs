//! The errors of the synchronization primitives: one type per operation family.

use std::fmt;

/// Why a [`Barrier`](crate::Barrier) is broken.
///
/// ```
/// use weft_async::{Barrier, BreakCause};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let barrier = Barrier::new(2).unwrap();
/// barrier.abort();
/// assert_eq!(barrier.wait().await.unwrap_err().cause(), BreakCause::Aborted);
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BreakCause {
    /// [`Barrier::abort`](crate::Barrier::abort) was called.
    Aborted,
    /// [`Barrier::reset`](crate::Barrier::reset) was called while this task was waiting.
    Reset,
    /// A wait timed out before all parties arrived.
    Timeout,
    /// The barrier's action panicked.
    ActionPanicked,
}

/// An error returned from [`Barrier::wait`](crate::Barrier::wait) and
/// [`Barrier::wait_timeout`](crate::Barrier::wait_timeout): the barrier is, or became, broken
/// (Python's `asyncio.BrokenBarrierError`).
///
/// ```
/// use weft_async::{Barrier, BreakCause};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let barrier = Barrier::new(2).unwrap();
/// barrier.abort();
/// let err = barrier.wait().await.unwrap_err();
/// assert_eq!(err.cause(), BreakCause::Aborted);
/// assert_eq!(err.to_string(), "barrier broken: aborted");
/// # }
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct BrokenBarrier {
    pub(crate) cause: BreakCause,
    pub(crate) panic: Option<String>,
}

impl BrokenBarrier {
    pub(crate) fn new(cause: BreakCause) -> Self {
        Self { cause, panic: None }
    }

    /// Why the barrier broke.
    ///
    /// ```
    /// use std::time::Duration;
    /// use weft_async::{Barrier, BreakCause};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let barrier = Barrier::new(2).unwrap();
    /// let err = barrier.wait_timeout(Duration::ZERO).await.unwrap_err();
    /// assert_eq!(err.cause(), BreakCause::Timeout);
    /// # }
    /// ```
    pub fn cause(&self) -> BreakCause {
        self.cause
    }

    /// The panic message of the barrier's action, given to the task that ran the action (as
    /// Python raises the action's exception in that thread); `None` for the other tasks.
    ///
    /// ```
    /// use weft_async::Barrier;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # std::panic::set_hook(Box::new(|_| {}));
    /// let barrier = Barrier::new(1).unwrap().action(|| panic!("boom"));
    /// assert_eq!(barrier.wait().await.unwrap_err().panic_message(), Some("boom"));
    /// assert_eq!(barrier.wait().await.unwrap_err().panic_message(), None); // broken since
    /// # }
    /// ```
    pub fn panic_message(&self) -> Option<&str> {
        self.panic.as_deref()
    }

    /// Whether the barrier broke because a wait timed out.
    ///
    /// ```
    /// use std::time::Duration;
    /// use weft_async::Barrier;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let barrier = Barrier::new(2).unwrap();
    /// assert!(barrier.wait_timeout(Duration::from_millis(1)).await.unwrap_err().is_timeout());
    /// # }
    /// ```
    pub fn is_timeout(&self) -> bool {
        self.cause == BreakCause::Timeout
    }
}

impl fmt::Debug for BrokenBarrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("BrokenBarrier");
        d.field("cause", &self.cause);
        if let Some(p) = &self.panic {
            d.field("panic", p);
        }
        d.finish()
    }
}

impl fmt::Display for BrokenBarrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.cause, &self.panic) {
            (BreakCause::Aborted, _) => f.write_str("barrier broken: aborted"),
            (BreakCause::Reset, _) => f.write_str("barrier broken: reset while waiting"),
            (BreakCause::Timeout, _) => f.write_str("barrier broken: a wait timed out"),
            (BreakCause::ActionPanicked, Some(msg)) => {
                write!(f, "barrier broken: the action panicked: {msg}")
            }
            (BreakCause::ActionPanicked, None) => {
                f.write_str("barrier broken: the action panicked")
            }
        }
    }
}

impl std::error::Error for BrokenBarrier {}

/// An error returned from [`Barrier::new`](crate::Barrier::new) when asked for zero parties
/// (Python's `ValueError`): no task could ever pass such a barrier.
///
/// ```
/// use weft_async::{Barrier, ZeroParties};
///
/// assert_eq!(Barrier::new(0).unwrap_err(), ZeroParties);
/// assert_eq!(ZeroParties.to_string(), "a barrier needs at least one party");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ZeroParties;

impl fmt::Debug for ZeroParties {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ZeroParties")
    }
}

impl fmt::Display for ZeroParties {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a barrier needs at least one party")
    }
}

impl std::error::Error for ZeroParties {}

/// An error returned from [`BoundedSemaphore::release`](crate::BoundedSemaphore::release): the
/// release would raise the count above the semaphore's initial value (Python's
/// `ValueError: BoundedSemaphore released too many times`). Nothing was released.
///
/// ```
/// use weft_async::{BoundedSemaphore, ReleaseError};
///
/// let sem = BoundedSemaphore::new(2);
/// assert_eq!(sem.release(), Err(ReleaseError { max: 2 }));
/// assert_eq!(
///     ReleaseError { max: 2 }.to_string(),
///     "bounded semaphore released too many times: it holds at most 2 permits"
/// );
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReleaseError {
    /// The most permits the semaphore can hold at once: its initial value.
    pub max: usize,
}

impl fmt::Debug for ReleaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReleaseError")
            .field("max", &self.max)
            .finish()
    }
}

impl fmt::Display for ReleaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "bounded semaphore released too many times: it holds at most {} permits",
            self.max
        )
    }
}

impl std::error::Error for ReleaseError {}
