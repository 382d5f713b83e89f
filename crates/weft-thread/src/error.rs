//! Errors returned by weft-thread's operations, one type per operation family.

use std::fmt;
use std::sync::Arc;

use crate::thread::ThreadHandle;

/// An error returned from [`Thread::start`](crate::Thread::start), [`spawn`](crate::spawn),
/// [`Timer::start`](crate::Timer::start) and [`Interval::start`](crate::Interval::start): the
/// thread was not started (Python's `RuntimeError: can't start new thread`, or `ValueError`).
///
/// ```
/// use weft_thread::{StartError, Thread};
///
/// let err = Thread::new(|| ()).name("bad\0name").start().unwrap_err();
/// assert!(matches!(err, StartError::InvalidName(_)));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum StartError {
    /// The thread name contains a NUL byte, which no OS accepts; the name is given back.
    InvalidName(String),
    /// An [`Interval`](crate::Interval) was given a zero period, which would run its function
    /// back to back without end.
    ZeroPeriod,
    /// The operating system refused to create the thread (out of memory, or a thread limit).
    Spawn(std::io::Error),
    /// [`Thread::stack_size`](crate::Thread::stack_size) was given a size other than 0 below
    /// [`Thread::MIN_STACK_SIZE`](crate::Thread::MIN_STACK_SIZE) (Python's `ValueError: size
    /// not valid`); the size is given back.
    StackSize(usize),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidName(name) => write!(f, "thread name {name:?} contains a NUL byte"),
            Self::ZeroPeriod => f.write_str("an interval needs a period greater than zero"),
            Self::Spawn(e) => write!(f, "can't start new thread: {e}"),
            Self::StackSize(bytes) => write!(
                f,
                "a thread stack of {bytes} bytes is below the minimum of 32 KiB"
            ),
        }
    }
}

impl std::error::Error for StartError {
    /// The cause's own source: this error's message already shows the cause's text, so, as
    /// `std::io::Error` does for the error it wraps, the chain goes on from the cause's source
    /// (a chain printer such as anyhow's `{:#}` would otherwise print the cause twice). The
    /// cause itself is the variant's field.
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Spawn(e) => e.source(),
            _ => None,
        }
    }
}

/// A panic that ended a weft thread: what Python's `threading.excepthook` receives, and what
/// [`ThreadHandle::join`] returns in [`JoinError::Panicked`]; also a panic caught by
/// [`catch_panic`](crate::catch_panic).
///
/// ```
/// use weft_thread::{JoinError, Thread};
///
/// weft_thread::set_excepthook(|_| {}); // keep the doctest's stderr quiet
/// let handle = Thread::new(|| panic!("boom")).name("worker").start().unwrap();
/// match handle.join() {
///     Err(JoinError::Panicked(p)) => {
///         assert_eq!(p.thread_name(), "worker");
///         assert_eq!(p.message(), "boom");
///     }
///     _ => unreachable!(),
/// }
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Panicked {
    pub(crate) name: Arc<str>,
    pub(crate) ident: u64,
    pub(crate) message: String,
    pub(crate) location: Option<String>,
    pub(crate) backtrace: Option<String>,
}

impl Panicked {
    /// The name of the thread that panicked.
    ///
    /// ```
    /// # weft_thread::set_excepthook(|_| {});
    /// let h = weft_thread::Thread::new(|| panic!("x")).name("t1").start().unwrap();
    /// assert_eq!(h.join().unwrap_err().into_panicked().unwrap().thread_name(), "t1");
    /// ```
    pub fn thread_name(&self) -> &str {
        &self.name
    }

    /// The [`ident`](crate::ThreadHandle::ident) of the thread that panicked.
    ///
    /// ```
    /// # weft_thread::set_excepthook(|_| {});
    /// let h = weft_thread::spawn(|| panic!("x")).unwrap();
    /// let ident = h.ident();
    /// assert_eq!(h.join().unwrap_err().into_panicked().unwrap().ident(), ident);
    /// ```
    pub fn ident(&self) -> u64 {
        self.ident
    }

    /// The panic message (`"Box<dyn Any>"` for a payload that is not a string).
    ///
    /// ```
    /// # weft_thread::set_excepthook(|_| {});
    /// let h = weft_thread::spawn(|| panic!("code {}", 7)).unwrap();
    /// assert_eq!(h.join().unwrap_err().into_panicked().unwrap().message(), "code 7");
    /// ```
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Where the panic happened, `file:line:column`, when known.
    ///
    /// ```
    /// # weft_thread::set_excepthook(|_| {});
    /// let h = weft_thread::spawn(|| panic!("x")).unwrap();
    /// let p = h.join().unwrap_err().into_panicked().unwrap();
    /// assert!(p.location().unwrap().contains(".rs:"));
    /// ```
    pub fn location(&self) -> Option<&str> {
        self.location.as_deref()
    }

    /// The backtrace, when `RUST_BACKTRACE` asked for one.
    ///
    /// ```
    /// # weft_thread::set_excepthook(|_| {});
    /// let h = weft_thread::spawn(|| panic!("x")).unwrap();
    /// let _maybe = h.join().unwrap_err().into_panicked().unwrap().backtrace();
    /// ```
    pub fn backtrace(&self) -> Option<&str> {
        self.backtrace.as_deref()
    }
}

impl fmt::Debug for Panicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Panicked")
            .field("thread", &self.name)
            .field("ident", &self.ident)
            .field("message", &self.message)
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for Panicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "thread '{}' panicked", self.name)?;
        if let Some(location) = &self.location {
            write!(f, " at {location}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for Panicked {}

/// An error returned from [`ThreadHandle::join`].
///
/// ```
/// use weft_thread::JoinError;
/// # weft_thread::set_excepthook(|_| {});
/// let handle = weft_thread::spawn(|| -> u32 { panic!("no value") }).unwrap();
/// let err: JoinError<u32> = handle.join().unwrap_err();
/// assert!(err.into_panicked().is_some());
/// ```
pub enum JoinError<T> {
    /// The thread panicked; the panic is reported to the excepthook and given here.
    Panicked(Panicked),
    /// A thread tried to join itself, which could never return (Python's `RuntimeError: cannot
    /// join current thread`). The handle is given back.
    CurrentThread(ThreadHandle<T>),
}

impl<T> JoinError<T> {
    /// The panic, if this is [`JoinError::Panicked`].
    ///
    /// ```
    /// # weft_thread::set_excepthook(|_| {});
    /// let h = weft_thread::spawn(|| panic!("x")).unwrap();
    /// assert_eq!(h.join().unwrap_err().into_panicked().unwrap().message(), "x");
    /// ```
    pub fn into_panicked(self) -> Option<Panicked> {
        match self {
            Self::Panicked(p) => Some(p),
            Self::CurrentThread(_) => None,
        }
    }

    /// The handle, if this is [`JoinError::CurrentThread`].
    ///
    /// ```
    /// # weft_thread::set_excepthook(|_| {});
    /// let h = weft_thread::spawn(|| panic!("x")).unwrap();
    /// assert!(h.join().unwrap_err().into_handle().is_none());
    /// ```
    pub fn into_handle(self) -> Option<ThreadHandle<T>> {
        match self {
            Self::CurrentThread(h) => Some(h),
            Self::Panicked(_) => None,
        }
    }
}

impl<T> fmt::Debug for JoinError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Panicked(p) => f.debug_tuple("Panicked").field(p).finish(),
            Self::CurrentThread(h) => f.debug_tuple("CurrentThread").field(h).finish(),
        }
    }
}

impl<T> fmt::Display for JoinError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Panicked(p) => fmt::Display::fmt(p, f),
            Self::CurrentThread(_) => f.write_str("cannot join current thread"),
        }
    }
}

impl<T> std::error::Error for JoinError<T> {}

/// An error returned from [`ThreadHandle::join_timeout`].
///
/// On [`Timeout`](Self::Timeout) the handle comes back, so the caller can wait again, as Python's
/// `join(timeout)` followed by `is_alive()`.
///
/// ```
/// use std::time::Duration;
/// use weft_thread::JoinTimeoutError;
///
/// let gate = std::sync::Arc::new(weft_sync::Event::new());
/// let g = gate.clone();
/// let handle = weft_thread::spawn(move || g.wait()).unwrap();
/// let handle = match handle.join_timeout(Duration::from_millis(10)) {
///     Err(JoinTimeoutError::Timeout(handle)) => handle, // still running
///     _ => unreachable!(),
/// };
/// assert!(handle.is_alive());
/// gate.set();
/// handle.join().unwrap();
/// ```
pub enum JoinTimeoutError<T> {
    /// The thread was still running when the timeout passed; here is its handle.
    Timeout(ThreadHandle<T>),
    /// The thread panicked.
    Panicked(Panicked),
    /// A thread tried to join itself; the handle is given back.
    CurrentThread(ThreadHandle<T>),
}

impl<T> JoinTimeoutError<T> {
    /// Whether this is [`JoinTimeoutError::Timeout`].
    ///
    /// ```
    /// use std::time::Duration;
    /// let gate = std::sync::Arc::new(weft_sync::Event::new());
    /// let g = gate.clone();
    /// let h = weft_thread::spawn(move || g.wait()).unwrap();
    /// let err = h.join_timeout(Duration::ZERO).unwrap_err();
    /// assert!(err.is_timeout());
    /// gate.set();
    /// ```
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Timeout(_))
    }

    /// The handle, for [`Timeout`](Self::Timeout) and [`CurrentThread`](Self::CurrentThread).
    ///
    /// ```
    /// use std::time::Duration;
    /// let gate = std::sync::Arc::new(weft_sync::Event::new());
    /// let g = gate.clone();
    /// let h = weft_thread::spawn(move || g.wait()).unwrap();
    /// let h = h.join_timeout(Duration::ZERO).unwrap_err().into_handle().unwrap();
    /// gate.set();
    /// h.join().unwrap();
    /// ```
    pub fn into_handle(self) -> Option<ThreadHandle<T>> {
        match self {
            Self::Timeout(h) | Self::CurrentThread(h) => Some(h),
            Self::Panicked(_) => None,
        }
    }
}

impl<T> fmt::Debug for JoinTimeoutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Timeout(h) => f.debug_tuple("Timeout").field(h).finish(),
            Self::Panicked(p) => f.debug_tuple("Panicked").field(p).finish(),
            Self::CurrentThread(h) => f.debug_tuple("CurrentThread").field(h).finish(),
        }
    }
}

impl<T> fmt::Display for JoinTimeoutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Timeout(h) => write!(f, "thread '{}' is still running", h.name()),
            Self::Panicked(p) => fmt::Display::fmt(p, f),
            Self::CurrentThread(_) => f.write_str("cannot join current thread"),
        }
    }
}

impl<T> std::error::Error for JoinTimeoutError<T> {}

/// An error returned from the [`StopToken`](crate::StopToken) methods when a stop was requested,
/// made for `?`: a stoppable thread's body returns it to end early.
///
/// ```
/// use weft_thread::{Stopped, Thread};
///
/// let handle = Thread::new_stoppable(|stop| -> Result<u32, Stopped> {
///     let mut n = 0;
///     loop {
///         stop.check()?;
///         n += 1;
///     }
/// })
/// .start()
/// .unwrap();
/// handle.stop();
/// assert_eq!(handle.join().unwrap(), Err(Stopped));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Stopped;

impl fmt::Display for Stopped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the thread was asked to stop")
    }
}

impl std::error::Error for Stopped {}
