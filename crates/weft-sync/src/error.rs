//! Errors returned by weft-sync's operations, one type per operation family.

use std::fmt;

/// An error returned from [`Semaphore::acquire_many`](crate::Semaphore::acquire_many) and its
/// `try_`/`_timeout` forms, and from the same methods of
/// [`BoundedSemaphore`](crate::BoundedSemaphore).
///
/// Python's `acquire()` returns `False` where these return [`NoPermits`](Self::NoPermits) or
/// [`Timeout`](Self::Timeout). Python's `acquire` takes one permit and has no count (asyncio's
/// neither), so [`InvalidCount`](Self::InvalidCount), a count that can never be met, has no
/// Python counterpart; it is an error rather than a wait for ever.
///
/// ```
/// use weft_sync::{AcquireError, BoundedSemaphore};
///
/// let sem = BoundedSemaphore::new(2);
/// let zero = AcquireError::InvalidCount { requested: 0, max: 2 };
/// assert_eq!(sem.acquire_many(0).unwrap_err(), zero);
/// let three = AcquireError::InvalidCount { requested: 3, max: 2 };
/// assert_eq!(sem.acquire_many(3).unwrap_err(), three);
/// let _two = sem.acquire_many(2).unwrap();
/// assert_eq!(sem.try_acquire_many(1).unwrap_err(), AcquireError::NoPermits);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AcquireError {
    /// Zero permits were asked for, or more than can ever be available at once (`max`).
    InvalidCount {
        /// The number of permits asked for.
        requested: usize,
        /// The most permits the semaphore can ever hold at once.
        max: usize,
    },
    /// A `try_` acquire found too few permits available.
    NoPermits,
    /// A `_timeout` acquire found too few permits before its timeout.
    Timeout,
}

impl AcquireError {
    /// Whether this is [`AcquireError::Timeout`].
    ///
    /// ```
    /// use std::time::Duration;
    /// let sem = weft_sync::Semaphore::new(0);
    /// assert!(sem.acquire_many_timeout(1, Duration::ZERO).unwrap_err().is_timeout());
    /// ```
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Timeout)
    }
}

impl fmt::Display for AcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidCount { requested: 0, .. } => f.write_str("cannot acquire zero permits"),
            Self::InvalidCount { requested, max } => write!(
                f,
                "cannot acquire {requested} permits: the semaphore never holds more than {max}"
            ),
            Self::NoPermits => f.write_str("not enough permits available"),
            Self::Timeout => f.write_str("timed out waiting for permits"),
        }
    }
}

impl std::error::Error for AcquireError {}

/// An error returned from [`Semaphore::release`](crate::Semaphore::release) and
/// [`BoundedSemaphore::release`](crate::BoundedSemaphore::release).
///
/// Python raises `ValueError` for both cases: `release(0)`, and a `BoundedSemaphore` released more
/// times than it was acquired ("Semaphore released too many times").
///
/// ```
/// use weft_sync::{BoundedSemaphore, ReleaseError};
///
/// let sem = BoundedSemaphore::new(1);
/// assert_eq!(sem.release(1), Err(ReleaseError::TooManyReleases { released: 1, max: 1 }));
/// assert_eq!(sem.release(0), Err(ReleaseError::ZeroPermits));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReleaseError {
    /// `release(0)`: there is nothing to release.
    ZeroPermits,
    /// The release would raise the count above the most the semaphore can hold (its initial value
    /// for a `BoundedSemaphore`, [`Semaphore::MAX_PERMITS`](crate::Semaphore::MAX_PERMITS) for a
    /// `Semaphore`). Nothing was released.
    TooManyReleases {
        /// The number of permits the call tried to release.
        released: usize,
        /// The most permits the semaphore can hold at once.
        max: usize,
    },
}

impl fmt::Display for ReleaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ZeroPermits => f.write_str("cannot release zero permits"),
            Self::TooManyReleases { released, max } => write!(
                f,
                "semaphore released too many times: releasing {released} would exceed {max} permits"
            ),
        }
    }
}

impl std::error::Error for ReleaseError {}

/// Why a [`Barrier`](crate::Barrier) is broken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BreakCause {
    /// [`Barrier::abort`](crate::Barrier::abort) was called.
    Aborted,
    /// [`Barrier::reset`](crate::Barrier::reset) was called while this thread (or task) was
    /// waiting.
    Reset,
    /// A wait timed out before all parties arrived.
    Timeout,
    /// The barrier's action panicked.
    ActionPanicked,
}

/// An error returned from [`Barrier::wait`](crate::Barrier::wait) and
/// [`Barrier::wait_timeout`](crate::Barrier::wait_timeout): the barrier is, or became, broken
/// (Python's `BrokenBarrierError`).
///
/// ```
/// use weft_sync::{Barrier, BreakCause};
///
/// let barrier = Barrier::new(2).unwrap();
/// barrier.abort();
/// let err = barrier.wait().unwrap_err();
/// assert_eq!(err.cause(), BreakCause::Aborted);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct BrokenBarrier {
    pub(crate) cause: BreakCause,
    pub(crate) panic: Option<String>,
}

impl BrokenBarrier {
    /// The error for a barrier broken by `cause`, with the action's panic message for the party
    /// that ran the action. For barriers built elsewhere that report this error (weft-async's
    /// async `Barrier` does, so thread and task code share one error type).
    ///
    /// ```
    /// use weft_sync::{BreakCause, BrokenBarrier};
    ///
    /// let e = BrokenBarrier::with_cause(BreakCause::ActionPanicked, Some("boom".into()));
    /// assert_eq!(e.to_string(), "barrier broken: the action panicked: boom");
    /// ```
    pub fn with_cause(cause: BreakCause, panic: Option<String>) -> Self {
        BrokenBarrier { cause, panic }
    }

    /// Why the barrier broke.
    ///
    /// ```
    /// use weft_sync::{Barrier, BreakCause};
    /// let barrier = Barrier::new(1).unwrap().action(|| panic!("boom"));
    /// # std::panic::set_hook(Box::new(|_| {}));
    /// assert_eq!(barrier.wait().unwrap_err().cause(), BreakCause::ActionPanicked);
    /// assert_eq!(barrier.wait().unwrap_err().cause(), BreakCause::ActionPanicked);
    /// ```
    pub fn cause(&self) -> BreakCause {
        self.cause
    }

    /// The panic message of the barrier's action, given to the thread that ran the action (as
    /// Python raises the action's exception in that thread); `None` for the other threads.
    ///
    /// ```
    /// let barrier = weft_sync::Barrier::new(1).unwrap().action(|| panic!("boom"));
    /// # std::panic::set_hook(Box::new(|_| {}));
    /// assert_eq!(barrier.wait().unwrap_err().panic_message(), Some("boom"));
    /// assert_eq!(barrier.wait().unwrap_err().panic_message(), None); // broken since
    /// ```
    pub fn panic_message(&self) -> Option<&str> {
        self.panic.as_deref()
    }

    /// Whether the barrier broke because a wait timed out.
    ///
    /// ```
    /// use std::time::Duration;
    /// let barrier = weft_sync::Barrier::new(2).unwrap();
    /// assert!(barrier.wait_timeout(Duration::from_millis(1)).unwrap_err().is_timeout());
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
/// (asyncio's `ValueError`; `threading.Barrier(0)` is refused only by releases after 3.11): no
/// thread could ever pass such a barrier.
///
/// ```
/// use weft_sync::{Barrier, ZeroParties};
///
/// assert_eq!(Barrier::new(0).unwrap_err(), ZeroParties);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ZeroParties;

impl fmt::Display for ZeroParties {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a barrier needs at least one party")
    }
}

impl std::error::Error for ZeroParties {}
