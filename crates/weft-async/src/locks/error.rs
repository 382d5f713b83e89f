//! The errors of the synchronization primitives: one type per operation family.

use std::fmt;

// The barrier's errors are weft-sync's own `BreakCause`, `BrokenBarrier` and `ZeroParties`
// (re-exported by `locks`): a thread barrier and a task barrier break the same way, and code that
// handles both needs one type.

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
