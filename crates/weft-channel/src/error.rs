//! Errors returned by the queues' operations, one type per operation family. An item that could
//! not be put comes back inside the error: nothing is lost.

use std::fmt;

macro_rules! item_error_common {
    ($ty:ident) => {
        impl<T> fmt::Debug for $ty<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}(..)", self.kind())
            }
        }

        impl<T: Send> std::error::Error for $ty<T> {}
    };
}

/// An error returned from `put` and `put_async`: the queue was shut down (Python's
/// `queue.ShutDown`). The item comes back in the error.
///
/// ```
/// let q = weft_channel::Queue::unbounded();
/// q.shutdown();
/// assert_eq!(q.put(7).unwrap_err().into_inner(), 7);
/// ```
#[derive(PartialEq, Eq, Clone, Copy)]
pub struct PutError<T>(pub T);

impl<T> PutError<T> {
    /// The item that was not put.
    ///
    /// ```
    /// let q = weft_channel::LifoQueue::unbounded();
    /// q.shutdown();
    /// assert_eq!(q.put("x").unwrap_err().into_inner(), "x");
    /// ```
    pub fn into_inner(self) -> T {
        self.0
    }

    fn kind(&self) -> &'static str {
        "ShutDown"
    }
}

impl<T> fmt::Display for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("putting on a queue that was shut down")
    }
}

item_error_common!(PutError);

/// An error returned from `try_put` (Python's `put_nowait`).
///
/// ```
/// use weft_channel::{Queue, TryPutError};
/// let q = Queue::bounded(1).unwrap();
/// q.try_put(1).unwrap();
/// assert_eq!(q.try_put(2), Err(TryPutError::Full(2)));
/// ```
#[derive(PartialEq, Eq, Clone, Copy)]
pub enum TryPutError<T> {
    /// The queue is full (Python's `queue.Full`); the item comes back.
    Full(T),
    /// The queue was shut down (Python's `queue.ShutDown`); the item comes back.
    ShutDown(T),
}

impl<T> TryPutError<T> {
    /// The item that was not put.
    ///
    /// ```
    /// let q = weft_channel::Queue::bounded(1).unwrap();
    /// q.try_put(1).unwrap();
    /// assert_eq!(q.try_put(2).unwrap_err().into_inner(), 2);
    /// ```
    pub fn into_inner(self) -> T {
        match self {
            Self::Full(t) | Self::ShutDown(t) => t,
        }
    }

    /// Whether the queue was full.
    ///
    /// ```
    /// let q = weft_channel::Queue::bounded(1).unwrap();
    /// q.try_put(1).unwrap();
    /// assert!(q.try_put(2).unwrap_err().is_full());
    /// ```
    pub fn is_full(&self) -> bool {
        matches!(self, Self::Full(_))
    }

    fn kind(&self) -> &'static str {
        match self {
            Self::Full(_) => "Full",
            Self::ShutDown(_) => "ShutDown",
        }
    }
}

impl<T> fmt::Display for TryPutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full(_) => f.write_str("putting on a full queue"),
            Self::ShutDown(_) => f.write_str("putting on a queue that was shut down"),
        }
    }
}

item_error_common!(TryPutError);

/// An error returned from `put_timeout` (Python's `put(item, timeout=...)`).
///
/// ```
/// use std::time::Duration;
/// use weft_channel::{PutTimeoutError, Queue};
/// let q = Queue::bounded(1).unwrap();
/// q.put(1).unwrap();
/// assert_eq!(q.put_timeout(2, Duration::from_millis(5)), Err(PutTimeoutError::Timeout(2)));
/// ```
#[derive(PartialEq, Eq, Clone, Copy)]
pub enum PutTimeoutError<T> {
    /// The queue stayed full until the timeout (Python's `queue.Full`); the item comes back.
    Timeout(T),
    /// The queue was shut down; the item comes back.
    ShutDown(T),
}

impl<T> PutTimeoutError<T> {
    /// The item that was not put.
    ///
    /// ```
    /// use std::time::Duration;
    /// let q = weft_channel::Queue::bounded(1).unwrap();
    /// q.put(1).unwrap();
    /// assert_eq!(q.put_timeout(2, Duration::ZERO).unwrap_err().into_inner(), 2);
    /// ```
    pub fn into_inner(self) -> T {
        match self {
            Self::Timeout(t) | Self::ShutDown(t) => t,
        }
    }

    /// Whether the timeout passed.
    ///
    /// ```
    /// use std::time::Duration;
    /// let q = weft_channel::Queue::bounded(1).unwrap();
    /// q.put(1).unwrap();
    /// assert!(q.put_timeout(2, Duration::ZERO).unwrap_err().is_timeout());
    /// ```
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Timeout(_))
    }

    fn kind(&self) -> &'static str {
        match self {
            Self::Timeout(_) => "Timeout",
            Self::ShutDown(_) => "ShutDown",
        }
    }
}

impl<T> fmt::Display for PutTimeoutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Timeout(_) => f.write_str("timed out putting on a full queue"),
            Self::ShutDown(_) => f.write_str("putting on a queue that was shut down"),
        }
    }
}

item_error_common!(PutTimeoutError);

/// An error returned from `get` and `get_async`: the queue was shut down and is empty (Python's
/// `queue.ShutDown`).
///
/// ```
/// let q = weft_channel::Queue::<u8>::unbounded();
/// q.shutdown();
/// assert_eq!(q.get(), Err(weft_channel::GetError));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GetError;

impl fmt::Display for GetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("getting from a queue that was shut down")
    }
}

impl std::error::Error for GetError {}

/// An error returned from `try_get` (Python's `get_nowait`).
///
/// ```
/// use weft_channel::{Queue, TryGetError};
/// let q = Queue::<u8>::unbounded();
/// assert_eq!(q.try_get(), Err(TryGetError::Empty));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TryGetError {
    /// The queue is empty (Python's `queue.Empty`).
    Empty,
    /// The queue was shut down and is empty (or shut down immediately).
    ShutDown,
}

impl fmt::Display for TryGetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("getting from an empty queue"),
            Self::ShutDown => f.write_str("getting from a queue that was shut down"),
        }
    }
}

impl std::error::Error for TryGetError {}

/// An error returned from `get_timeout` (Python's `get(timeout=...)`).
///
/// ```
/// use std::time::Duration;
/// use weft_channel::{GetTimeoutError, Queue};
/// let q = Queue::<u8>::unbounded();
/// assert_eq!(q.get_timeout(Duration::from_millis(5)), Err(GetTimeoutError::Timeout));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GetTimeoutError {
    /// Nothing arrived before the timeout (Python's `queue.Empty`).
    Timeout,
    /// The queue was shut down and is empty.
    ShutDown,
}

impl fmt::Display for GetTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Timeout => f.write_str("timed out getting from an empty queue"),
            Self::ShutDown => f.write_str("getting from a queue that was shut down"),
        }
    }
}

impl std::error::Error for GetTimeoutError {}

/// The error of a [`SimpleQueue`](crate::SimpleQueue)'s
/// [`try_get`](crate::SimpleQueue::try_get) and [`get_timeout`](crate::SimpleQueue::get_timeout):
/// no item came, now or before the timeout (Python's `queue.Empty`, which
/// `SimpleQueue.get_nowait()` and `get(timeout=t)` raise alike). A `SimpleQueue` is never shut
/// down, so unlike [`TryGetError`] and [`GetTimeoutError`] there is nothing else to tell; both
/// convert from it, for code that handles either kind of queue with `?`. (`get` and `get_async`
/// cannot fail.)
///
/// ```
/// use std::time::Duration;
/// use weft_channel::{Empty, GetTimeoutError, SimpleQueue, TryGetError};
///
/// let q = SimpleQueue::<u8>::new();
/// assert_eq!(q.try_get(), Err(Empty));
/// assert_eq!(q.get_timeout(Duration::from_millis(5)), Err(Empty));
/// assert_eq!(TryGetError::from(Empty), TryGetError::Empty);
/// assert_eq!(GetTimeoutError::from(Empty), GetTimeoutError::Timeout);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Empty;

impl fmt::Display for Empty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no item in the queue")
    }
}

impl std::error::Error for Empty {}

impl From<Empty> for TryGetError {
    fn from(_: Empty) -> Self {
        Self::Empty
    }
}

impl From<Empty> for GetTimeoutError {
    fn from(_: Empty) -> Self {
        Self::Timeout
    }
}

/// An error returned from `task_done`: it was called more times than items were put (Python's
/// `ValueError: task_done() called too many times`).
///
/// ```
/// let q = weft_channel::Queue::<u8>::unbounded();
/// assert_eq!(q.task_done(), Err(weft_channel::TaskDoneError));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TaskDoneError;

impl fmt::Display for TaskDoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("task_done() called too many times")
    }
}

impl std::error::Error for TaskDoneError {}

/// An error returned from `bounded(0)`: a queue that can hold nothing could never pass an item
/// (use `unbounded()`, or `new(0)` for Python's "maxsize 0 means unbounded").
///
/// ```
/// assert_eq!(weft_channel::Queue::<u8>::bounded(0).unwrap_err(), weft_channel::ZeroCapacity);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ZeroCapacity;

impl fmt::Display for ZeroCapacity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a bounded queue needs a capacity of at least 1")
    }
}

impl std::error::Error for ZeroCapacity {}
