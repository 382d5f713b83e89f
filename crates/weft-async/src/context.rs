//! Async context managers: Python's `async with`, `@asynccontextmanager` and `AsyncExitStack`.
//!
//! A context manager is a resource with an async setup and an async teardown that must run
//! however the code using the resource ends. Rust's `Drop` cannot await, so the teardown of an
//! async resource (closing a connection politely, committing or rolling back a transaction,
//! flushing a buffer) needs the shape Python gives it: [`async_with`] awaits
//! [`enter`](AsyncContextManager::enter), runs the body with the resource, and always awaits
//! [`exit`](AsyncContextManager::exit) with the body's [`Outcome`] (success, error or panic),
//! which exit may inspect and, for an error, [suppress](Exit::Suppress).
//!
//! ```
//! use std::convert::Infallible;
//! use weft_async::{async_with, context_manager, run};
//!
//! // @asynccontextmanager: an async setup, and an async teardown that sees how the body ended.
//! let connect = context_manager(
//!     || async { Ok::<_, Infallible>(vec!["HELLO"]) },
//!     |sent: Vec<&str>, outcome| {
//!         let how = if outcome.is_success() { "QUIT" } else { "RESET" };
//!         async move {
//!             println!("closing after {sent:?}: {how}");
//!             Ok(())
//!         }
//!     },
//! );
//! let n = run(async_with(connect, async |sent| {
//!     sent.push("PING");
//!     Ok::<_, Infallible>(sent.len())
//! }))
//! .unwrap();
//! assert_eq!(n.unwrap(), 2);
//! ```
//!
//! # What is here
//! - [`AsyncContextManager`]: the trait (`__aenter__`/`__aexit__`): `enter` gives the resource,
//!   `exit` takes it back with the [`Outcome`] of the body.
//! - [`async_with`]: `async with cm as resource: body`, exit awaited after success, error and
//!   panic; [`WithError`] says which step failed.
//! - [`context_manager`] → [`ContextManager`]: a manager from a setup and a teardown closure
//!   (`@asynccontextmanager`).
//! - [`AsyncExitStack`]: any number of managers and callbacks, exited last in, first out, with
//!   Python's passing of errors from one exit to the next; [`Entered`] handles to the resources
//!   it holds; [`StackError`] when an exit fails.
//! - [`Outcome`], [`ErrorRef`], [`Exit`], [`ExitKind`], [`CallbackOutput`]: what an exit sees
//!   and returns.
//!
//! # Coming from Python
//! | Python | weft |
//! |---|---|
//! | `async with cm as r: body` | `async_with(cm, async \|r\| { body }).await` (`r` is `&mut Resource`) |
//! | `__aenter__(self)` | [`AsyncContextManager::enter`]`(&mut self) -> Result<Resource, Error>` |
//! | `__aexit__(self, exc_type, exc, tb)` | [`AsyncContextManager::exit`]`(self, resource, outcome)` |
//! | `__aexit__(None, None, None)` / with an exception / with `CancelledError` | [`Outcome::Success`] / [`Outcome::Error`] (an [`ErrorRef`]; a panic is [`Outcome::Panicked`]) / [`Outcome::Cancelled`] |
//! | `__aexit__` returns `True` (suppress) | `type Exit = Exit;` and `Ok(Exit::Suppress)`; `async_with` then gives `Ok(None)` |
//! | exception raised in `__aexit__` | `Err(x)` from exit: [`WithError::Exit`], with the body's error as `body` (`__context__`) |
//! | exception raised in `__aenter__` | [`WithError::Enter`]: the body and exit do not run |
//! | `@asynccontextmanager` generator (`setup; try: yield r` / `finally: teardown`) | [`context_manager`]`(setup, teardown)`: the teardown runs after any outcome |
//! | `AsyncExitStack()`, `async with AsyncExitStack() as stack:` | [`AsyncExitStack::new`], `async_with(AsyncExitStack::new(), async \|stack\| ...)` |
//! | `await stack.enter_async_context(cm)` | [`AsyncExitStack::enter_async_context`] → [`Entered`] handle, [`AsyncExitStack::get_mut`] |
//! | `stack.push_async_callback(f, *args)` | [`AsyncExitStack::push_async_callback`]`(move \|\| async move { .. })` |
//! | `stack.push_async_exit(f)` | [`AsyncExitStack::push_async_exit`]`(\|outcome\| ..)` |
//! | `await stack.aclose()` | [`AsyncExitStack::aclose`] |
//! | `stack.pop_all()` | [`AsyncExitStack::pop_all`] |
//! | the task running `async with` is cancelled | exit runs on a spawned task with [`Outcome::Cancelled`] (see [`async_with`]) |
//!
//! Python's `contextlib.aclosing` is not here: close a weft generator with its `aclose()`
//! (which runs its cleanup; see [`generator`](crate::generator)), or drop it.
//!
//! # Relationship with `Drop` and tokio
//! Where the teardown needs no `.await`, a guard with `Drop` is simpler and runs on every path,
//! cancellation included (tokio's `MutexGuard`). An async context manager is for teardowns that
//! await; the price is that `Drop` cannot await them, so when the future running [`async_with`]
//! is dropped mid-body (a task aborted, a `select!` branch or timeout lost), weft hands the exit
//! to a new task on the current tokio runtime instead (which [`run`](crate::run) awaits before
//! it returns), and without a runtime it drops the resource unexited. Managers are `'static`
//! for that reason: share a borrowed resource through an `Arc`.
//!
//! The futures of [`enter`](AsyncContextManager::enter) and [`exit`](AsyncContextManager::exit)
//! are `Send`, so [`async_with`] and [`AsyncExitStack`] work inside `tokio::spawn` on a
//! multi-thread runtime.

use std::any::Any;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{ready, Context, Poll};

use futures_util::FutureExt;
use pin_project_lite::pin_project;

use crate::error::panic_message;

// ---------------------------------------------------------------------------------------------
// The trait and what its exit sees and returns

/// An async context manager: a resource with an async setup and an async teardown (Python's
/// `__aenter__` and `__aexit__`).
///
/// [`async_with`] and [`AsyncExitStack`] call [`enter`](Self::enter) once; when it succeeds, they
/// call [`exit`](Self::exit) once with the resource and the [`Outcome`] of the code that used it.
/// When `enter` fails, `exit` is not called (as in Python).
///
/// The futures of both methods are `Send`, so managers work inside `tokio::spawn`; an impl may
/// write them as `async fn` when what they hold across `.await` is `Send`.
///
/// ```
/// use std::convert::Infallible;
/// use std::sync::{Arc, Mutex};
/// use weft_async::{async_with, run, AsyncContextManager, Outcome};
///
/// /// A transaction: commits when the body succeeds, rolls back otherwise.
/// struct Transaction {
///     log: Arc<Mutex<Vec<&'static str>>>,
/// }
///
/// impl AsyncContextManager for Transaction {
///     type Resource = Vec<&'static str>; // the statements of the transaction
///     type Error = Infallible;
///     type Exit = (); // never suppresses the body's error
///
///     async fn enter(&mut self) -> Result<Self::Resource, Infallible> {
///         self.log.lock().unwrap().push("BEGIN");
///         Ok(Vec::new())
///     }
///
///     async fn exit(self, statements: Self::Resource, outcome: Outcome<'_>) -> Result<(), Infallible> {
///         let mut log = self.log.lock().unwrap();
///         log.extend(statements);
///         log.push(if outcome.is_success() { "COMMIT" } else { "ROLLBACK" });
///         Ok(())
///     }
/// }
///
/// let log = Arc::new(Mutex::new(Vec::new()));
/// let tx = Transaction { log: Arc::clone(&log) };
/// let r = run(async_with(tx, async |stmts| {
///     stmts.push("INSERT");
///     Err::<(), _>("constraint violated")
/// }))
/// .unwrap();
/// assert!(r.unwrap_err().is_body());
/// assert_eq!(*log.lock().unwrap(), ["BEGIN", "INSERT", "ROLLBACK"]);
/// ```
pub trait AsyncContextManager {
    /// What [`enter`](Self::enter) gives the body (the target of Python's `async with cm as r`).
    /// The body borrows it; [`exit`](Self::exit) gets it back by value.
    type Resource;
    /// The error of [`enter`](Self::enter) and [`exit`](Self::exit).
    type Error;
    /// What [`exit`](Self::exit) returns on success: `()` for a manager that never suppresses
    /// the body's error, [`Exit`] for one that may (Python's `__aexit__` returning `True`).
    type Exit: ExitKind;

    /// Sets the resource up (Python's `__aenter__`).
    ///
    /// # Errors
    /// The manager's own: the body does not run and [`exit`](Self::exit) is not called.
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use weft_async::{context_manager, run, AsyncContextManager};
    ///
    /// let mut cm = context_manager(|| async { Ok::<_, Infallible>(42) }, |_, _| async { Ok(()) });
    /// assert_eq!(run(cm.enter()).unwrap(), Ok(42));
    /// ```
    fn enter(&mut self) -> impl Future<Output = Result<Self::Resource, Self::Error>> + Send;

    /// Tears the resource down, knowing how the body ended (Python's `__aexit__(exc_type, exc,
    /// tb)`).
    ///
    /// `Ok(Exit::Suppress)` (with `type Exit = Exit`) suppresses an [`Outcome::Error`]; it has no
    /// effect on the other outcomes (a panic is resumed after exit, a cancelled body has nobody
    /// to return to).
    ///
    /// # Errors
    /// The manager's own; [`async_with`] reports it as [`WithError::Exit`] with the body's error
    /// alongside.
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use weft_async::{context_manager, run, AsyncContextManager, Exit, Outcome};
    ///
    /// let cm = context_manager(
    ///     || async { Ok::<_, Infallible>(()) },
    ///     |(), outcome: Outcome<'_>| {
    ///         let failed = outcome.error().is_some();
    ///         async move { Ok(if failed { Exit::Suppress } else { Exit::Propagate }) }
    ///     },
    /// );
    /// assert_eq!(run(cm.exit((), Outcome::Success)).unwrap(), Ok(Exit::Propagate));
    /// ```
    fn exit(
        self,
        resource: Self::Resource,
        outcome: Outcome<'_>,
    ) -> impl Future<Output = Result<Self::Exit, Self::Error>> + Send;
}

/// How the code inside a context ended, as [`exit`](AsyncContextManager::exit) sees it (Python's
/// `exc_type, exc, tb` arguments of `__aexit__`).
///
/// ```
/// use weft_async::Outcome;
///
/// let outcomes = [Outcome::Success, Outcome::Panicked("boom"), Outcome::Cancelled];
/// assert!(outcomes[0].is_success());
/// assert!(outcomes[1].is_panic() && outcomes[2].is_cancelled());
/// assert!(outcomes.iter().all(|o| o.error().is_none()));
/// ```
#[derive(Clone, Copy, Debug)]
pub enum Outcome<'a> {
    /// The body returned `Ok` (Python: `__aexit__(None, None, None)`).
    Success,
    /// The body returned `Err`, or (in an [`AsyncExitStack`]) an exit entered later failed; the
    /// error is there to inspect (Python: `__aexit__(type(exc), exc, tb)`). The only outcome an
    /// exit can [suppress](Exit::Suppress).
    Error(ErrorRef<'a>),
    /// The body panicked with this message; the panic resumes after the exit (Python: an
    /// exception that is not an `Exception`).
    Panicked(&'a str),
    /// The future running the body was dropped before the body finished (a task aborted, a
    /// timeout, a lost `select!` branch, a generator closed or dropped); the exit runs later,
    /// awaited by what dropped it or on a task of its own (see [`async_with`]'s Cancellation;
    /// Python: the body raised `CancelledError`, or `GeneratorExit` in a closed generator).
    Cancelled,
}

impl<'a> Outcome<'a> {
    /// `true` for [`Outcome::Success`].
    ///
    /// ```
    /// assert!(weft_async::Outcome::Success.is_success());
    /// ```
    pub fn is_success(&self) -> bool {
        matches!(self, Outcome::Success)
    }

    /// The body's error for [`Outcome::Error`], otherwise `None`.
    ///
    /// ```
    /// use weft_async::{ErrorRef, Outcome};
    ///
    /// let e = std::fmt::Error;
    /// let outcome = Outcome::Error(ErrorRef::new(&e));
    /// assert_eq!(outcome.error().unwrap().to_string(), e.to_string());
    /// ```
    pub fn error(&self) -> Option<ErrorRef<'a>> {
        match self {
            Outcome::Error(e) => Some(*e),
            _ => None,
        }
    }

    /// `true` for [`Outcome::Panicked`].
    ///
    /// ```
    /// assert!(weft_async::Outcome::Panicked("boom").is_panic());
    /// ```
    pub fn is_panic(&self) -> bool {
        matches!(self, Outcome::Panicked(_))
    }

    /// `true` for [`Outcome::Cancelled`].
    ///
    /// ```
    /// assert!(weft_async::Outcome::Cancelled.is_cancelled());
    /// ```
    pub fn is_cancelled(&self) -> bool {
        matches!(self, Outcome::Cancelled)
    }
}

/// A borrowed view of the error an exit is handling (Python's `exc` argument of `__aexit__`):
/// print it, or look for a type with [`downcast_ref`](ErrorRef::downcast_ref) (Python's
/// `isinstance(exc, T)`).
///
/// Any `Display + Debug + Send + Sync + 'static` type can be viewed, so bodies may fail with a
/// concrete error, a `Box<dyn Error + Send + Sync>`, a `String` or an `anyhow::Error`.
///
/// ```
/// use std::io;
/// use weft_async::ErrorRef;
///
/// let e = io::Error::new(io::ErrorKind::NotFound, "no such table");
/// let view = ErrorRef::new(&e);
/// assert_eq!(view.to_string(), "no such table");
/// assert_eq!(view.downcast_ref::<io::Error>().unwrap().kind(), io::ErrorKind::NotFound);
/// assert!(!view.is::<std::fmt::Error>());
/// ```
#[derive(Clone, Copy)]
pub struct ErrorRef<'a> {
    inner: &'a dyn private::ErasedError,
}

impl<'a> ErrorRef<'a> {
    /// A view of `error`.
    ///
    /// ```
    /// let view = weft_async::ErrorRef::new(&"plain message");
    /// assert_eq!(view.to_string(), "plain message");
    /// ```
    pub fn new<E>(error: &'a E) -> Self
    where
        E: fmt::Display + fmt::Debug + Send + Sync + 'static,
    {
        ErrorRef { inner: error }
    }

    /// The error as a `T` when it is one (its own type: a boxed error is a `Box<dyn Error + Send
    /// + Sync>`, whose content `Error::downcast_ref` then reaches).
    ///
    /// ```
    /// use std::error::Error;
    /// use weft_async::ErrorRef;
    ///
    /// let boxed: Box<dyn Error + Send + Sync> = "bad".into();
    /// let view = ErrorRef::new(&boxed);
    /// assert!(view.downcast_ref::<Box<dyn Error + Send + Sync>>().is_some());
    /// ```
    pub fn downcast_ref<T: Any>(&self) -> Option<&'a T> {
        self.inner.as_any().downcast_ref()
    }

    /// `true` when the error is a `T` (Python's `isinstance(exc, T)`).
    ///
    /// ```
    /// let e = std::fmt::Error;
    /// assert!(weft_async::ErrorRef::new(&e).is::<std::fmt::Error>());
    /// ```
    pub fn is<T: Any>(&self) -> bool {
        self.inner.as_any().is::<T>()
    }
}

impl fmt::Debug for ErrorRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.inner, f)
    }
}

impl fmt::Display for ErrorRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.inner, f)
    }
}

/// What an exit that may suppress returns (Python's `__aexit__` returning a true or false
/// value). A manager declares `type Exit = Exit;` to return it.
///
/// ```
/// use std::convert::Infallible;
/// use weft_async::{async_with, context_manager, run, Exit};
///
/// // contextlib.suppress(ParseIntError), as a manager.
/// let suppress = context_manager(
///     || async { Ok::<_, Infallible>(()) },
///     |(), outcome| {
///         let parse_error = outcome.error().is_some_and(|e| e.is::<std::num::ParseIntError>());
///         async move { Ok(if parse_error { Exit::Suppress } else { Exit::Propagate }) }
///     },
/// );
/// let r = run(async_with(suppress, async |()| "x".parse::<i32>())).unwrap();
/// assert_eq!(r.unwrap(), None); // suppressed: no value, as Python's with statement
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Exit {
    /// Let the body's error propagate (Python: `__aexit__` returns a false value).
    Propagate,
    /// Suppress the body's error (Python: `__aexit__` returns `True`): [`async_with`] returns
    /// `Ok(None)` and an [`AsyncExitStack`]'s next exits see [`Outcome::Success`].
    Suppress,
}

/// The two things an exit may return on success: `()` (it never suppresses, and [`async_with`]
/// returns the body's value as is) or [`Exit`] (it may, and [`async_with`] returns an `Option`,
/// `None` when it did). Sealed.
///
/// ```
/// use weft_async::{Exit, ExitKind};
///
/// fn value_of<K: ExitKind<Output<u8> = Option<u8>>>() {}
/// value_of::<Exit>();
/// ```
pub trait ExitKind: private::SealedExit + Send + 'static {
    /// What [`async_with`] returns for a body that produced a `T`: `T` for `()`, `Option<T>` for
    /// [`Exit`].
    type Output<T>;
}

impl ExitKind for () {
    type Output<T> = T;
}

impl ExitKind for Exit {
    type Output<T> = Option<T>;
}

/// What a callback of [`AsyncExitStack::push_async_callback`] returns: `()`, or `Result<(), X>`
/// for one that can fail. Sealed.
///
/// ```
/// use weft_async::AsyncExitStack;
///
/// let mut stack = AsyncExitStack::new();
/// stack.push_async_callback(|| async {}); // ()
/// stack.push_async_callback(|| async { Err::<(), _>("could not flush") }); // Result<(), X>
/// assert_eq!(stack.len(), 2);
/// ```
pub trait CallbackOutput: private::SealedCallback + Send + 'static {}

impl CallbackOutput for () {}

impl<X> CallbackOutput for Result<(), X> where X: fmt::Display + fmt::Debug + Send + Sync + 'static {}

mod private {
    use std::any::Any;
    use std::fmt;

    /// Erased errors: what an exit sees ([`super::ErrorRef`]) and what a stack keeps.
    pub trait ErasedError: fmt::Display + fmt::Debug + Send + Sync + 'static {
        fn as_any(&self) -> &dyn Any;
    }

    impl<T: fmt::Display + fmt::Debug + Send + Sync + 'static> ErasedError for T {
        fn as_any(&self) -> &dyn Any {
            self
        }
    }

    /// The crate's side of [`super::ExitKind`]; also seals it.
    pub trait SealedExit {
        /// `true` when this exit value suppresses an error.
        fn suppresses(&self) -> bool;

        /// What `async_with` returns for a body that produced `value`.
        fn completed<T>(value: T) -> <Self as super::ExitKind>::Output<T>
        where
            Self: super::ExitKind;

        /// What `async_with` returns when this exit value suppressed the body's error; `None`
        /// when it did not.
        fn suppressed<T>(self) -> Option<<Self as super::ExitKind>::Output<T>>
        where
            Self: super::ExitKind;
    }

    impl SealedExit for () {
        fn suppresses(&self) -> bool {
            false
        }

        fn completed<T>(value: T) -> T {
            value
        }

        fn suppressed<T>(self) -> Option<T> {
            None
        }
    }

    impl SealedExit for super::Exit {
        fn suppresses(&self) -> bool {
            *self == super::Exit::Suppress
        }

        fn completed<T>(value: T) -> Option<T> {
            Some(value)
        }

        fn suppressed<T>(self) -> Option<Option<T>> {
            self.suppresses().then_some(None)
        }
    }

    /// The crate's side of [`super::CallbackOutput`]; also seals it.
    pub trait SealedCallback {
        /// The callback's output as a result.
        fn into_result(self) -> Result<(), Box<dyn ErasedError>>;
    }

    impl SealedCallback for () {
        fn into_result(self) -> Result<(), Box<dyn ErasedError>> {
            Ok(())
        }
    }

    impl<X> SealedCallback for Result<(), X>
    where
        X: fmt::Display + fmt::Debug + Send + Sync + 'static,
    {
        fn into_result(self) -> Result<(), Box<dyn ErasedError>> {
            self.map_err(|x| Box::new(x) as Box<dyn ErasedError>)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// async_with

/// An error returned from [`async_with`]: which step of `async with` failed.
///
/// `E` is the body's error, `X` the manager's. Display is lower-case; the body's error displays
/// as itself. It is `Clone`, `PartialEq` and `Eq` when both errors are.
///
/// ```
/// use weft_async::WithError;
///
/// let e: WithError<&str, &str> =
///     WithError::Exit { error: "close failed", body: Some("query failed") };
/// assert!(e.is_exit());
/// assert_ne!(e, WithError::Exit { error: "close failed", body: None });
/// assert_eq!(e.to_string(), "exit failed: close failed (while handling: query failed)");
/// assert_eq!(e.into_body_error(), Some("query failed"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub enum WithError<E, X> {
    /// [`enter`](AsyncContextManager::enter) failed; the body and
    /// [`exit`](AsyncContextManager::exit) did not run (Python: the exception from `__aenter__`).
    Enter(X),
    /// The body failed and the exit let the error propagate (Python: the body's exception).
    Body(E),
    /// [`exit`](AsyncContextManager::exit) failed (Python: the exception raised in
    /// `__aexit__`). `body` is the body's error when it had failed too (Python chains it as the
    /// new exception's `__context__`); its value, if it succeeded, is dropped. The body's error
    /// comes back here also when an [`AsyncExitStack`]'s exit suppressed it before an older one
    /// failed, where Python's new exception has no `__context__` (the suppressed error is gone).
    Exit {
        /// The exit's error.
        error: X,
        /// The body's error, if the body failed first.
        body: Option<E>,
    },
}

impl<E, X> WithError<E, X> {
    /// `true` for [`WithError::Enter`].
    ///
    /// ```
    /// assert!(weft_async::WithError::<(), _>::Enter("refused").is_enter());
    /// ```
    pub fn is_enter(&self) -> bool {
        matches!(self, WithError::Enter(_))
    }

    /// `true` for [`WithError::Body`].
    ///
    /// ```
    /// assert!(weft_async::WithError::<_, ()>::Body("bad input").is_body());
    /// ```
    pub fn is_body(&self) -> bool {
        matches!(self, WithError::Body(_))
    }

    /// `true` for [`WithError::Exit`].
    ///
    /// ```
    /// let e = weft_async::WithError::<(), _>::Exit { error: "close failed", body: None };
    /// assert!(e.is_exit());
    /// ```
    pub fn is_exit(&self) -> bool {
        matches!(self, WithError::Exit { .. })
    }

    /// The body's error, whether it propagated alone or an exit failed after it.
    ///
    /// ```
    /// use weft_async::WithError;
    ///
    /// assert_eq!(WithError::<_, ()>::Body(7).into_body_error(), Some(7));
    /// assert_eq!(WithError::<i32, _>::Enter(()).into_body_error(), None);
    /// ```
    pub fn into_body_error(self) -> Option<E> {
        match self {
            WithError::Body(e) | WithError::Exit { body: Some(e), .. } => Some(e),
            WithError::Enter(_) | WithError::Exit { body: None, .. } => None,
        }
    }
}

impl<E: fmt::Debug, X: fmt::Debug> fmt::Debug for WithError<E, X> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WithError::Enter(x) => f.debug_tuple("Enter").field(x).finish(),
            WithError::Body(e) => f.debug_tuple("Body").field(e).finish(),
            WithError::Exit { error, body } => f
                .debug_struct("Exit")
                .field("error", error)
                .field("body", body)
                .finish(),
        }
    }
}

impl<E: fmt::Display, X: fmt::Display> fmt::Display for WithError<E, X> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WithError::Enter(x) => write!(f, "enter failed: {x}"),
            WithError::Body(e) => fmt::Display::fmt(e, f),
            WithError::Exit { error, body: None } => write!(f, "exit failed: {error}"),
            WithError::Exit {
                error,
                body: Some(e),
            } => write!(f, "exit failed: {error} (while handling: {e})"),
        }
    }
}

impl<E, X> std::error::Error for WithError<E, X>
where
    E: std::error::Error + 'static,
    X: std::error::Error + 'static,
{
    /// The source of the error the message shows first: each variant's message shows its
    /// error's text (the body's error displays as itself), so, as `std::io::Error` does for the
    /// error it wraps, the chain goes on from under it. For [`WithError::Exit`] that is the
    /// exit's error; the body's, also shown, is the `body` field.
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            WithError::Body(e) => e.source(),
            WithError::Enter(x) | WithError::Exit { error: x, .. } => x.source(),
        }
    }
}

/// Runs `body` with the resource of `cm`, and always awaits the exit (Python's `async with cm as
/// r: body`).
///
/// 1. Awaits [`enter`](AsyncContextManager::enter). If it fails, returns
///    [`WithError::Enter`]; the body and exit do not run.
/// 2. Runs `body(&mut resource)`, catching a panic. The body is an async closure,
///    `async |r| { .. }` (Rust 1.85): a plain closure returning `async move { .. }` cannot keep
///    the borrowed `r` in its future.
/// 3. Awaits [`exit`](AsyncContextManager::exit) with the resource and the [`Outcome`]:
///    - body `Ok(v)`: exit sees [`Outcome::Success`]; returns `Ok(v)` (`Ok(Some(v))` for a
///      manager that may suppress), or [`WithError::Exit`] if exit fails.
///    - body `Err(e)`: exit sees [`Outcome::Error`]; returns [`WithError::Body`]`(e)`, `Ok(None)`
///      if exit [suppresses](Exit::Suppress) it, or [`WithError::Exit`] `{ error, body: Some(e) }`
///      if exit fails.
///    - body panics: exit sees [`Outcome::Panicked`], then the panic resumes, whatever the exit
///      returned (a panic cannot be suppressed; an exit error, or a panic of the exit's own, is
///      dropped). A panic in the exit after a body that did not panic propagates.
///
/// The return type is `Result<T, WithError<E, C::Error>>` for managers whose `Exit` is `()`,
/// and `Result<Option<T>, ..>` for managers whose `Exit` is [`Exit`].
///
/// # Cancellation
/// If the future returned by `async_with` is dropped while the body runs (its task aborted, a
/// timeout or a `select!` branch lost: Python's `CancelledError` in the body), the exit cannot
/// be awaited there. weft then drops the body's future and, when a tokio runtime is current on
/// the dropping thread, spawns `exit(resource, Outcome::Cancelled)` on it as a task of its own
/// (the exit's result is discarded); with no runtime current and nothing enclosing to await
/// it (below), the exit does not run and the resource and manager are dropped. (An inner block
/// dropped with such an outer one was handed to it, so `exit` was called: a [`context_manager`]
/// teardown's synchronous part has run, and the future it returned is dropped unrun.) The
/// exits of `async_with`s and stacks that the body held (dropped with it) run first, one after
/// the other in that same task, so nested blocks still unwind last in, first out.
///
/// When only an inner block is cancelled (a `select!` or `try_join!` in the outer body drops
/// it), its exit is handed to the enclosing `async_with`, which runs it beside the body (the
/// body is not held up: a sibling branch may be what the exit waits for) and ends only after
/// it, so the outer exit comes after the inner one. weft's own [`timeout`](crate::timeout),
/// [`wait_for`](crate::wait_for), [`gather`](crate::gather) and generators' `aclose` await the
/// exits of what they cancel before they return, as Python's do (an enclosing `async_with` and
/// `aclose` do so with no tokio runtime too). A panic in an exit, including in the synchronous
/// part of a [`context_manager`]'s teardown (which is called during the drop), ends only that
/// exit.
/// A cancelled [`TaskGroup`](crate::TaskGroup) task's exits are awaited before the group's
/// `wait` returns. A cancelled [`Task`](crate::Task)'s (or group task's) run on a task of their
/// own, and awaiting the cancelled task gives
/// [`TaskError::Cancelled`](crate::TaskError::Cancelled) after them, as Python's `await task`
/// returns after the `__aexit__`s. Inside [`run`](crate::run), the spawned exit is awaited
/// before `run` returns, also for a task that `run` itself cancels at its end (one whose
/// [`Task`](crate::Task) was dropped or detached, or that a [`TaskGroup`](crate::TaskGroup)
/// cancelled; see `run`). A runtime that is shutting down (dropped, or a task of `run`'s that it
/// does not wind down, such as one from `tokio::spawn`) drops the spawned exit unrun, so there
/// the resource is only dropped. Dropped during `enter`, the manager is dropped (there is no
/// resource to exit); dropped during `exit`, that exit is not resumed.
///
/// This is why `C` is `'static`: the exit may outlive the caller. Share a borrowed resource
/// (a lock, a pool) through an `Arc`.
///
/// # Errors
/// [`WithError::Enter`], [`WithError::Body`] or [`WithError::Exit`], as the steps above say.
///
/// # Panics
/// Resumes a panic of the body, after the exit.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use weft_async::{async_with, context_manager, run};
///
/// let events = Arc::new(Mutex::new(Vec::new()));
/// let (enter_log, exit_log) = (Arc::clone(&events), Arc::clone(&events));
/// let cm = context_manager(
///     move || async move {
///         enter_log.lock().unwrap().push("open".to_owned());
///         Ok::<_, std::io::Error>(String::from("conn"))
///     },
///     move |conn: String, outcome| {
///         let how = if outcome.is_success() { "ok" } else { "failed" };
///         async move {
///             exit_log.lock().unwrap().push(format!("close {conn} ({how})"));
///             Ok(())
///         }
///     },
/// );
/// let n = run(async_with(cm, async |conn| {
///     conn.push_str("#1");
///     Ok::<_, std::io::Error>(conn.len())
/// }))
/// .unwrap()
/// .unwrap();
/// assert_eq!(n, 6);
/// assert_eq!(*events.lock().unwrap(), ["open", "close conn#1 (ok)"]);
/// ```
pub async fn async_with<C, B, T, E>(
    cm: C,
    body: B,
) -> Result<<C::Exit as ExitKind>::Output<T>, WithError<E, C::Error>>
where
    C: AsyncContextManager + 'static,
    B: AsyncFnOnce(&mut C::Resource) -> Result<T, E>,
    E: fmt::Display + fmt::Debug + Send + Sync + 'static,
{
    let mut cm = cm;
    let resource = cm.enter().await.map_err(WithError::Enter)?;
    // Declared before the guard and the body, so dropped after them (see `ExitOnDrop`).
    let nested = NestedExits::default();
    let mut guard = ExitOnDrop {
        parts: Some((cm, resource)),
        nested: &nested,
    };
    let Some((_, resource)) = guard.parts.as_mut() else {
        unreachable!("the guard holds the resource until the body is done")
    };
    // The call is inside the caught future: a closure returning a future may panic before
    // returning it, and that panic must reach the exit too.
    let result = DroppedFirst {
        fut: Some(AssertUnwindSafe(async move { body(resource).await }).catch_unwind()),
        exits: None,
        output: None,
        nested: &nested,
    }
    .await;
    let Some((cm, resource)) = guard.parts.take() else {
        unreachable!("the guard holds the resource until the body is done")
    };
    match result {
        Ok(Ok(value)) => match cm.exit(resource, Outcome::Success).await {
            Ok(_) => Ok(<C::Exit as private::SealedExit>::completed(value)),
            Err(error) => Err(WithError::Exit { error, body: None }),
        },
        Ok(Err(e)) => match cm.exit(resource, Outcome::Error(ErrorRef::new(&e))).await {
            Ok(exit) => private::SealedExit::suppressed(exit).ok_or(WithError::Body(e)),
            Err(error) => Err(WithError::Exit {
                error,
                body: Some(e),
            }),
        },
        Err(payload) => {
            let message = panic_message(&*payload);
            // A panic cannot be suppressed, and an exit error (or a panic of the exit's own) has
            // nobody to go to: the body's panic carries on.
            let exit =
                AssertUnwindSafe(async { cm.exit(resource, Outcome::Panicked(&message)).await })
                    .catch_unwind()
                    .await;
            if let Err(exit_panic) = exit {
                weft_sync::drop_panic_payload(exit_panic);
            }
            resume_unwind(payload)
        }
    }
}

/// Holds the manager and its resource while the body runs; dropped with them still inside (the
/// `async_with` future was dropped mid-body), it hands the exit over (see [`hand_over_exit`]),
/// to run after the exits that the body's drop handed over (nested `async_with`s, stacks), one
/// after the other: last in, first out, as Python unwinds nested `async with` blocks.
///
/// The async state machine drops the body's future (in [`DroppedFirst`], which collects those
/// exits into `nested`) before the guard, as a scope drops its locals: the awaited future is
/// the innermost.
struct ExitOnDrop<'a, C: AsyncContextManager + 'static> {
    parts: Option<(C, C::Resource)>,
    nested: &'a NestedExits,
}

impl<C: AsyncContextManager + 'static> Drop for ExitOnDrop<'_, C> {
    fn drop(&mut self) {
        let Some((cm, resource)) = self.parts.take() else {
            return;
        };
        let nested = std::mem::take(&mut *self.nested.lock());
        if OPEN.get() == 0 && tokio::runtime::Handle::try_current().is_err() {
            // Nothing can run the exits (no list awaits them, no runtime could): the manager,
            // resource and nested exits drop here. An open list (a generator's `aclose`, an
            // enclosing `async_with`) awaits them itself, with or without a runtime.
            return;
        }
        // A teardown closure's synchronous part runs here, maybe while unwinding (a sibling
        // panicked), where a panic escaping a destructor aborts: caught, it ends only this exit,
        // as a panic in a spawned exit does.
        let exit = match catch_unwind(AssertUnwindSafe(|| cm.exit(resource, Outcome::Cancelled))) {
            Ok(exit) => Some(exit),
            Err(payload) => {
                weft_sync::drop_panic_payload(payload);
                None
            }
        };
        hand_over_exit(Box::pin(async move {
            // The awaited future's first, then the body's other locals, newest first; then
            // this one, also caught.
            await_exits(nested).await;
            if let Some(exit) = exit
                && let Err(payload) = AssertUnwindSafe(exit).catch_unwind().await
            {
                weft_sync::drop_panic_payload(payload);
            }
        }));
    }
}

/// Awaits handed-over exits one after the other, in the order they were handed over. Each is
/// caught: a panic ends only that exit.
pub(crate) async fn await_exits(exits: impl IntoIterator<Item = HandedExit>) {
    for exit in exits {
        if let Err(payload) = AssertUnwindSafe(exit).catch_unwind().await {
            weft_sync::drop_panic_payload(payload);
        }
    }
}

/// Runs `drop_body`, which drops a future that may be mid-body, with a list open for the exits
/// of the context managers and stacks dropped in it (see [`hand_over_exit`]), and returns
/// them with whether `drop_body` panicked: a [`TaskGroup`](crate::TaskGroup)'s cancelled task
/// awaits them before the group counts it as ended.
pub(crate) fn drop_collecting_exits(
    drop_body: impl FnOnce(),
) -> (std::thread::Result<()>, Vec<HandedExit>) {
    let (dropped, exits) = collecting_exits(|| catch_unwind(AssertUnwindSafe(drop_body)));
    (dropped, exits.unwrap_or_default())
}

/// Runs `f` with a list open for the exits handed over meanwhile on this thread (see
/// [`hand_over_exit`]), and returns its result with them (`None`: none). The list is closed even
/// if `f` panics (its exits are then dropped unrun; every caller catches panics inside `f`).
///
/// Cheap when nothing is handed over, as in almost every poll of an `async_with` body: two
/// thread-local counters, read and written back (the lists of all the open levels share one
/// vector, each level owning the exits pushed since it opened).
#[inline]
fn collecting_exits<R>(f: impl FnOnce() -> R) -> (R, Option<Vec<HandedExit>>) {
    /// Closes the level, also when `f` panics: the exits' start, and the task the enclosing
    /// level was opened in.
    struct Close(usize, Option<tokio::task::Id>);
    impl Close {
        #[inline]
        fn take(&mut self) -> Option<Vec<HandedExit>> {
            OPEN.set(OPEN.get() - 1);
            OPENED_IN.set(self.1);
            if HANDED_LEN.get() == self.0 {
                return None;
            }
            Some(take_handed(self.0))
        }
    }
    impl Drop for Close {
        fn drop(&mut self) {
            drop(self.take());
        }
    }
    let mut close = Close(HANDED_LEN.get(), OPENED_IN.replace(tokio::task::try_id()));
    OPEN.set(OPEN.get() + 1);
    let result = f();
    let exits = close.take();
    // Closed: only an unwinding `f` leaves the closing to the guard.
    std::mem::forget(close);
    (result, exits)
}

/// The exits handed over since `HANDED` had `start` of them, taken out of it.
#[cold]
#[inline(never)]
fn take_handed(start: usize) -> Vec<HandedExit> {
    HANDED_LEN.set(start);
    HANDED
        .try_with(|handed| handed.borrow_mut().split_off(start))
        .unwrap_or_default()
}

/// Exits being awaited one after the other (as [`await_exits`], each caught) inside a future
/// of weft's: a flat queue, so that exits handed over while earlier ones still run are added at
/// its end rather than wrapped around them (which nested one level a hand-over: quadratic, and
/// a stack overflow past a few thousand, in the review's probe). The lock only keeps that future
/// `Sync` (an exit is `Send`, not `Sync`): it is reached through `&mut` and never locked.
pub(crate) struct AwaitedExits(parking_lot::Mutex<VecDeque<HandedExit>>);

impl AwaitedExits {
    pub(crate) fn new(exits: Vec<HandedExit>) -> Self {
        Self(parking_lot::Mutex::new(exits.into()))
    }

    /// Adds `exits` after those already queued.
    pub(crate) fn push(&mut self, exits: Vec<HandedExit>) {
        self.0.get_mut().extend(exits);
    }

    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let queue = self.0.get_mut();
        while let Some(exit) = queue.front_mut() {
            match catch_unwind(AssertUnwindSafe(|| exit.as_mut().poll(cx))) {
                Ok(Poll::Pending) => return Poll::Pending,
                Ok(Poll::Ready(())) => drop(queue.pop_front()),
                // A panic ends only that exit.
                Err(payload) => {
                    drop(queue.pop_front());
                    weft_sync::drop_panic_payload(payload);
                }
            }
        }
        Poll::Ready(())
    }

    /// What is left of them, as one exit.
    pub(crate) fn into_exit(self) -> HandedExit {
        Box::pin(await_exits(self.0.into_inner()))
    }
}

/// Awaits `exits` one after the other (as [`await_exits`]); dropped before they are done, it
/// hands what is left over (see [`hand_over_exit`]) rather than drop them unrun.
pub(crate) fn await_or_hand_over(exits: Vec<HandedExit>) -> impl Future<Output = ()> {
    /// Hands the exits over unless they were awaited to the end.
    struct Guard(Option<AwaitedExits>);
    impl Drop for Guard {
        fn drop(&mut self) {
            if let Some(exits) = self.0.take() {
                hand_over_exit(exits.into_exit());
            }
        }
    }
    // Not an `async fn`: its argument would stay in the future, which would then not be `Sync`.
    let mut guard = Guard((!exits.is_empty()).then(|| AwaitedExits::new(exits)));
    std::future::poll_fn(move |cx| {
        if let Some(exits) = guard.0.as_mut() {
            ready!(exits.poll(cx));
            guard.0 = None;
        }
        Poll::Ready(())
    })
}

/// Hands `exits` over as one, to be awaited one after the other (see [`hand_over_exit`]).
pub(crate) fn hand_over_exits(exits: Vec<HandedExit>) {
    if !exits.is_empty() {
        hand_over_exit(Box::pin(await_exits(exits)));
    }
}

/// An exit handed over by a context manager dropped mid-body, to be awaited on a runtime.
pub(crate) type HandedExit = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The exits handed over while one `async_with` body was dropped (a lock only because the
/// `async_with` future that holds it must be `Send`: one thread at a time touches it).
type NestedExits = parking_lot::Mutex<Vec<HandedExit>>;

thread_local! {
    /// How many lists are open on this thread: one per `async_with` body being polled or
    /// dropped (and per future that weft drops collecting exits). See [`collecting_exits`].
    static OPEN: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    /// The exits handed over to the open lists, the innermost list's last (see
    /// [`hand_over_exit`]).
    static HANDED: RefCell<Vec<HandedExit>> = const { RefCell::new(Vec::new()) };
    /// `HANDED`'s length, read without touching `HANDED` itself.
    static HANDED_LEN: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    /// The tokio task current when the innermost open list was opened (`None`: outside any
    /// task); meaningful while `OPEN` is not zero. See [`innermost_list_opened_here`].
    static OPENED_IN: std::cell::Cell<Option<tokio::task::Id>> =
        const { std::cell::Cell::new(None) };
}

/// Whether an exit handed over now would go to a list opened in the tokio task current now (or
/// outside any task if none is), or to `run` (no list open). Not so where tokio runs one task's
/// destructors inside another's poll or drop with the first task's id set: a finished task's
/// output dropped with its `JoinHandle`, a future dropped at once by a runtime shutting down.
pub(crate) fn innermost_list_opened_here() -> bool {
    OPEN.get() == 0 || OPENED_IN.get() == tokio::task::try_id()
}

/// Hands over the exit of a context manager or stack dropped mid-body (`Drop` cannot await it),
/// to the innermost list open on this thread:
/// - while the body of an enclosing `async_with` is being dropped, to that `async_with`'s exit,
///   which awaits it (after those handed over there before it) before its own;
/// - while the body of an enclosing `async_with` is being polled (a `timeout`, `select!` or
///   `try_join!` in it dropped the block), to that `async_with`, which runs it beside the body
///   and ends after it, so the outer block exits after the inner one;
/// - while a cancelled [`TaskGroup`](crate::TaskGroup) task, or a future that `timeout`,
///   `gather` or `aclose` cancels, is being dropped, to it (see [`drop_collecting_exits`]);
///
/// otherwise it is spawned as a task of its own on the current runtime, which
/// [`run`](crate::run) awaits before it returns. A [`TaskGroup`](crate::TaskGroup) dropped with
/// tasks left hands over the wait for them the same way.
pub(crate) fn hand_over_exit(exit: HandedExit) {
    let mut exit = Some(exit);
    if OPEN.get() > 0 {
        let _ = HANDED.try_with(|handed| {
            if let Ok(mut handed) = handed.try_borrow_mut() {
                handed.extend(exit.take());
                HANDED_LEN.set(handed.len());
            }
        });
    }
    if let (Some(exit), Ok(handle)) = (exit, tokio::runtime::Handle::try_current()) {
        crate::runtime::spawn_exit(&handle, exit);
    }
}

pin_project! {
    /// The body's future in [`async_with`].
    ///
    /// While it polls the body, it collects the exits of the blocks that the body drops
    /// mid-body (a `timeout`, `select!` or `try_join!` cancelling an inner `async_with`), and
    /// drives them beside the body, one after the other, on every poll; it ends only once the
    /// body has and they have too: the outer block exits after the inner ones, as in Python.
    /// The body is not held up meanwhile (a sibling branch may be what an inner exit waits
    /// for), as the rest of a Python program runs while a cancelled task's `__aexit__` does.
    ///
    /// Dropped before it finished, it collects the exits handed over during its drop into
    /// `nested`, after those it was still driving, for the guard's exit to await first.
    struct DroppedFirst<'a, F: Future> {
        #[pin]
        fut: Option<F>,
        // The exits collected while polling the body, being driven.
        exits: Option<AwaitedExits>,
        // The body's output, kept until `exits` are done.
        output: Option<F::Output>,
        nested: &'a NestedExits,
    }

    impl<F: Future> PinnedDrop for DroppedFirst<'_, F> {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            let driving = this.exits.take().map(AwaitedExits::into_exit);
            let (dropped, exits) = if this.fut.is_some() {
                drop_collecting_exits(|| this.fut.set(None))
            } else {
                (Ok(()), Vec::new())
            };
            {
                let mut nested = this.nested.lock();
                nested.extend(driving);
                nested.extend(exits);
            }
            // A destructor of the body panicked: the exits are with the guard's, which runs them.
            // Raised again, unless the thread is unwinding already (that would abort).
            if let Err(payload) = dropped {
                if std::thread::panicking() {
                    weft_sync::drop_panic_payload(payload);
                } else {
                    resume_unwind(payload);
                }
            }
        }
    }
}

impl<F: Future> Future for DroppedFirst<'_, F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let mut this = self.project();
        if let Some(exits) = this.exits.as_mut()
            && exits.poll(cx).is_ready()
        {
            *this.exits = None;
        }
        if let Some(fut) = this.fut.as_mut().as_pin_mut() {
            let (poll, handed) = collecting_exits(|| fut.poll(cx));
            if let Poll::Ready(output) = poll {
                this.fut.set(None);
                *this.output = Some(output);
            }
            if let Some(handed) = handed {
                // After those already being driven, which were handed over first.
                let exits = match this.exits.as_mut() {
                    Some(exits) => {
                        exits.push(handed);
                        exits
                    }
                    None => this.exits.insert(AwaitedExits::new(handed)),
                };
                if exits.poll(cx).is_ready() {
                    *this.exits = None;
                }
            }
        }
        if this.exits.is_none()
            && let Some(output) = this.output.take()
        {
            return Poll::Ready(output);
        }
        // The body, or the exits, or both, are waiting, each for a wake-up of its own; or it
        // was polled after it finished (`async_with` awaits it once).
        Poll::Pending
    }
}

// ---------------------------------------------------------------------------------------------
// context_manager

/// Makes a context manager from an async `setup` and an async `teardown` (Python's
/// `@asynccontextmanager`: the code before the `yield` is `setup`, the code after it
/// `teardown`).
///
/// The teardown runs however the body ended, as code in a `finally` around the `yield` does
/// (`try: yield r` / `finally: teardown`); in Python, code after a bare `yield` is skipped when
/// the body raises, since the exception is raised at the `yield`. A setup returns one resource,
/// so Python's `RuntimeError`s for a generator that did not yield or yielded twice
/// ("generator didn't yield", "generator didn't stop") have no counterpart.
///
/// - `setup()` returns a future of `Result<R, E>`: the resource, or the error that stops the
///   `async with` before the body ([`WithError::Enter`]).
/// - `teardown(resource, outcome)` returns a future of `Result<(), E>`, or of `Result<Exit, E>`
///   to be able to [suppress](Exit::Suppress) the body's error. The [`Outcome`] is borrowed for
///   the call only: read what the teardown needs from it (`outcome.is_success()`, the error's
///   message) before the `async move` block.
///
/// Both futures must be `Send`. The manager is single-use, like the object a decorated Python
/// function returns: make one per `async with`, typically from a function. ([`async_with`] and
/// [`AsyncExitStack`] enter a manager once; calling [`enter`](AsyncContextManager::enter) by
/// hand a second time panics, where Python fails too: an `AttributeError` in CPython 3.11.)
///
/// Returned as `impl AsyncContextManager`, the manager names its `Exit` type as well as its
/// `Resource` and `Error` (`Exit = ()` for a teardown returning `Result<(), E>`, `Exit = Exit`
/// for one that can suppress): left out, `async_with` fails to compile with an unhelpful
/// error about `ExitKind::Output` not implementing `Debug`.
///
/// ```
/// use std::convert::Infallible;
/// use weft_async::{async_with, context_manager, run, AsyncContextManager};
///
/// fn connect(host: &str) -> impl AsyncContextManager<Resource = String, Error = Infallible, Exit = ()> {
///     let host = host.to_owned();
///     context_manager(
///         move || async move { Ok(format!("conn to {host}")) },
///         |conn, outcome| {
///             let failed = !outcome.is_success();
///             async move {
///                 assert!(conn.starts_with("conn") && !failed);
///                 Ok(())
///             }
///         },
///     )
/// }
///
/// let r = run(async_with(connect("db"), async |c| Ok::<_, Infallible>(c.clone()))).unwrap();
/// assert_eq!(r.unwrap(), "conn to db");
/// ```
pub fn context_manager<S, SF, D, DF, R, K, E>(setup: S, teardown: D) -> ContextManager<S, D>
where
    S: FnOnce() -> SF,
    SF: Future<Output = Result<R, E>> + Send,
    D: FnOnce(R, Outcome<'_>) -> DF,
    DF: Future<Output = Result<K, E>> + Send,
    K: ExitKind,
{
    ContextManager {
        setup: Some(setup),
        teardown,
    }
}

/// A context manager made by [`context_manager`] from a setup and a teardown closure.
///
/// ```
/// use std::convert::Infallible;
/// use weft_async::{context_manager, ContextManager};
///
/// let cm = context_manager(|| async { Ok::<_, Infallible>(1) }, |_, _| async { Ok(()) });
/// assert_eq!(format!("{cm:?}"), "ContextManager { entered: false }");
/// ```
pub struct ContextManager<S, D> {
    setup: Option<S>,
    teardown: D,
}

impl<S, D> fmt::Debug for ContextManager<S, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContextManager")
            .field("entered", &self.setup.is_none())
            .finish()
    }
}

impl<S, SF, D, DF, R, K, E> AsyncContextManager for ContextManager<S, D>
where
    S: FnOnce() -> SF,
    SF: Future<Output = Result<R, E>> + Send,
    D: FnOnce(R, Outcome<'_>) -> DF,
    DF: Future<Output = Result<K, E>> + Send,
    K: ExitKind,
{
    type Resource = R;
    type Error = E;
    type Exit = K;

    /// Runs the setup.
    ///
    /// # Panics
    /// On a second call: the manager is single-use (entering a generator context manager twice
    /// fails in Python too, with an `AttributeError` in CPython 3.11). [`async_with`] and
    /// [`AsyncExitStack`] call it once.
    fn enter(&mut self) -> impl Future<Output = Result<R, E>> + Send {
        match self.setup.take() {
            Some(setup) => setup(),
            None => panic!("a context_manager was entered twice; make one per async with"),
        }
    }

    fn exit(self, resource: R, outcome: Outcome<'_>) -> impl Future<Output = Result<K, E>> + Send {
        (self.teardown)(resource, outcome)
    }
}

// ---------------------------------------------------------------------------------------------
// AsyncExitStack

/// A stack of context managers and callbacks, exited last in, first out (Python's
/// `contextlib.AsyncExitStack`): for a number of resources known only at run time, or a
/// resource whose ownership moves on ([`pop_all`](AsyncExitStack::pop_all)).
///
/// - [`enter_async_context`](Self::enter_async_context) enters a manager and keeps it with its
///   resource, returning an [`Entered`] handle to reach the resource
///   ([`get`](Self::get)/[`get_mut`](Self::get_mut)).
/// - [`push_async_callback`](Self::push_async_callback) and
///   [`push_async_exit`](Self::push_async_exit) add cleanups.
/// - [`aclose`](Self::aclose) runs every exit, newest first; so does the stack's own exit when it
///   is used as a manager with [`async_with`], passing the body's [`Outcome`].
///
/// As in Python, each exit sees the outcome of what ran before it: the body's, or the error of
/// an exit that failed (that error then carries on, with the earlier errors as its context, see
/// [`StackError`]); an exit that [suppresses](Exit::Suppress) an error gives the next ones
/// [`Outcome::Success`]. A panic or a cancellation cannot be suppressed: every later exit sees
/// it, also after an exit that failed. An exit that panics does not stop the others (as a
/// Python exit that raises does not): the later ones see [`Outcome::Panicked`], and the panic
/// resumes once they have all run.
///
/// # Dropped without `aclose`
/// `Drop` cannot await. A stack dropped with exits left (never closed, its task cancelled, or
/// its [`aclose`](Self::aclose) cut short) hands them over, to run newest first and with
/// [`Outcome::Cancelled`], as a dropped [`async_with`] hands its exit over (see its
/// Cancellation): to what awaits them (an enclosing `async_with`, weft's `timeout`, a
/// generator's `aclose`), or else as one task on the current tokio runtime, which
/// [`run`](crate::run) awaits before it returns; with neither, or a runtime shutting down,
/// they do not run and the managers and resources are dropped, newest first. (Python runs
/// nothing for an `AsyncExitStack` that is never closed.)
///
/// ```
/// use std::convert::Infallible;
/// use std::sync::{Arc, Mutex};
/// use weft_async::{context_manager, run, AsyncExitStack};
///
/// let closed = Arc::new(Mutex::new(Vec::new()));
/// run(async {
///     let mut stack = AsyncExitStack::new();
///     for name in ["a", "b", "c"] {
///         let closed = Arc::clone(&closed);
///         let file = context_manager(
///             move || async move { Ok::<_, Infallible>(name) },
///             move |name, _| async move {
///                 closed.lock().unwrap().push(name);
///                 Ok(())
///             },
///         );
///         stack.enter_async_context(file).await.unwrap();
///     }
///     stack.aclose().await.unwrap();
/// })
/// .unwrap();
/// assert_eq!(*closed.lock().unwrap(), ["c", "b", "a"]);
/// ```
#[derive(Default)]
pub struct AsyncExitStack {
    entries: Entries,
}

/// A handle to a resource entered on an [`AsyncExitStack`] (what Python's
/// `enter_async_context` returns, as a key): [`AsyncExitStack::get`] and
/// [`AsyncExitStack::get_mut`] reach the resource while the stack holds it, including after a
/// [`pop_all`](AsyncExitStack::pop_all) moved it to another stack.
///
/// ```
/// use std::convert::Infallible;
/// use weft_async::{context_manager, run, AsyncExitStack};
///
/// run(async {
///     let mut stack = AsyncExitStack::new();
///     let cm = context_manager(|| async { Ok::<_, Infallible>(vec![1]) }, |_, _| async { Ok(()) });
///     let v = stack.enter_async_context(cm).await.unwrap();
///     stack.get_mut(v).unwrap().push(2);
///     assert_eq!(stack.get(v), Some(&vec![1, 2]));
///     stack.aclose().await.unwrap();
///     assert_eq!(stack.get(v), None); // exited
/// })
/// .unwrap();
/// ```
pub struct Entered<R> {
    id: u64,
    _resource: PhantomData<fn() -> R>,
}

impl<R> Clone for Entered<R> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<R> Copy for Entered<R> {}

impl<R> PartialEq for Entered<R> {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl<R> Eq for Entered<R> {}

impl<R> std::hash::Hash for Entered<R> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.id.hash(state);
    }
}

impl<R> fmt::Debug for Entered<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entered").field("id", &self.id).finish()
    }
}

/// An error returned from [`AsyncExitStack::aclose`] (and the stack's exit under
/// [`async_with`]): an exit failed, and no later exit suppressed its error.
///
/// [`error`](StackError::error) is the error the stack ended with (Python: the exception
/// `aclose` raises); [`context`](StackError::context) the exit errors it was raised while
/// handling, newest first (Python: its `__context__` chain). The errors are views
/// ([`ErrorRef`]), as the exits' error types differ.
///
/// ```
/// use weft_async::{run, AsyncExitStack};
///
/// let err = run(async {
///     let mut stack = AsyncExitStack::new();
///     stack.push_async_callback(|| async { Err::<(), _>("first pushed, last run") });
///     stack.push_async_callback(|| async { Err::<(), _>("last pushed, first run") });
///     stack.aclose().await.unwrap_err()
/// })
/// .unwrap();
/// assert_eq!(err.error().to_string(), "first pushed, last run");
/// let context: Vec<String> = err.context().map(|e| e.to_string()).collect();
/// assert_eq!(context, ["last pushed, first run"]);
/// assert_eq!(
///     err.to_string(),
///     "an exit of the stack failed: first pushed, last run (while handling 1 more exit error)"
/// );
/// ```
pub struct StackError {
    /// The last error raised.
    error: Box<dyn private::ErasedError>,
    /// The errors raised before it since the last suppression, oldest first.
    context: Vec<Box<dyn private::ErasedError>>,
}

impl StackError {
    /// The error the stack ended with: that of the last exit that failed.
    ///
    /// ```
    /// use weft_async::{run, AsyncExitStack};
    ///
    /// let err = run(async {
    ///     let mut stack = AsyncExitStack::new();
    ///     stack.push_async_callback(|| async { Err::<(), _>(std::fmt::Error) });
    ///     stack.aclose().await.unwrap_err()
    /// })
    /// .unwrap();
    /// assert!(err.error().is::<std::fmt::Error>());
    /// ```
    pub fn error(&self) -> ErrorRef<'_> {
        ErrorRef {
            inner: &*self.error,
        }
    }

    /// The errors [`error`](Self::error) was raised while handling, newest first (Python's
    /// `exc.__context__`, `exc.__context__.__context__`, ...). The body's own error is not among
    /// them: [`async_with`] reports it beside the stack's error.
    ///
    /// ```
    /// use weft_async::{run, AsyncExitStack};
    ///
    /// let err = run(async {
    ///     let mut stack = AsyncExitStack::new();
    ///     stack.push_async_callback(|| async { Err::<(), _>("only") });
    ///     stack.aclose().await.unwrap_err()
    /// })
    /// .unwrap();
    /// assert_eq!(err.context().count(), 0);
    /// ```
    pub fn context(&self) -> impl Iterator<Item = ErrorRef<'_>> + '_ {
        self.context.iter().rev().map(|e| ErrorRef { inner: &**e })
    }
}

impl fmt::Debug for StackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StackError")
            .field("error", &self.error())
            .field("context", &self.context().collect::<Vec<_>>())
            .finish()
    }
}

impl fmt::Display for StackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an exit of the stack failed: {}", self.error())?;
        match self.context.len() {
            0 => Ok(()),
            1 => f.write_str(" (while handling 1 more exit error)"),
            n => write!(f, " (while handling {n} more exit errors)"),
        }
    }
}

impl std::error::Error for StackError {}

/// Entry ids, unique in the process, so an [`Entered`] handle follows its entry across
/// `pop_all`.
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

type ExitFuture<'a> =
    Pin<Box<dyn Future<Output = Result<bool, Box<dyn private::ErasedError>>> + Send + 'a>>;

/// One exit of a stack, its types erased. `exit` resolves to `Ok(true)` to suppress.
trait StackExit: Send {
    fn id(&self) -> u64;
    /// The entered resource; callbacks and exit functions have none.
    fn resource(&self) -> Option<&dyn Any> {
        None
    }
    fn resource_mut(&mut self) -> Option<&mut dyn Any> {
        None
    }
    fn exit<'a>(self: Box<Self>, outcome: Outcome<'a>) -> ExitFuture<'a>;
}

struct Managed<C: AsyncContextManager> {
    id: u64,
    cm: C,
    resource: C::Resource,
}

impl<C> StackExit for Managed<C>
where
    C: AsyncContextManager + Send + 'static,
    C::Resource: Send + 'static,
    C::Error: fmt::Display + fmt::Debug + Send + Sync + 'static,
{
    fn id(&self) -> u64 {
        self.id
    }

    fn resource(&self) -> Option<&dyn Any> {
        Some(&self.resource)
    }

    fn resource_mut(&mut self) -> Option<&mut dyn Any> {
        Some(&mut self.resource)
    }

    fn exit<'a>(self: Box<Self>, outcome: Outcome<'a>) -> ExitFuture<'a> {
        let Managed { cm, resource, .. } = *self;
        let exit = cm.exit(resource, outcome);
        Box::pin(async move {
            match exit.await {
                Ok(k) => Ok(private::SealedExit::suppresses(&k)),
                Err(x) => Err(Box::new(x) as Box<dyn private::ErasedError>),
            }
        })
    }
}

struct Callback<F> {
    id: u64,
    callback: F,
}

impl<F, Fut> StackExit for Callback<F>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future + Send + 'static,
    Fut::Output: CallbackOutput,
{
    fn id(&self) -> u64 {
        self.id
    }

    fn exit<'a>(self: Box<Self>, _: Outcome<'a>) -> ExitFuture<'a> {
        let callback = (self.callback)();
        Box::pin(
            async move { private::SealedCallback::into_result(callback.await).map(|()| false) },
        )
    }
}

struct ExitFn<F> {
    id: u64,
    exit: F,
}

impl<F, Fut, K, X> StackExit for ExitFn<F>
where
    F: FnOnce(Outcome<'_>) -> Fut + Send + 'static,
    Fut: Future<Output = Result<K, X>> + Send + 'static,
    K: ExitKind,
    X: fmt::Display + fmt::Debug + Send + Sync + 'static,
{
    fn id(&self) -> u64 {
        self.id
    }

    fn exit<'a>(self: Box<Self>, outcome: Outcome<'a>) -> ExitFuture<'a> {
        let exit = (self.exit)(outcome);
        Box::pin(async move {
            match exit.await {
                Ok(k) => Ok(private::SealedExit::suppresses(&k)),
                Err(x) => Err(Box::new(x) as Box<dyn private::ErasedError>),
            }
        })
    }
}

/// The exits of a stack, oldest first, so in increasing order of their ids (each is pushed
/// with a new one, from a counter that only grows). Dropping it drops them newest first and
/// never spawns (the task that a dropped stack spawns owns one).
#[derive(Default)]
struct Entries(Vec<Box<dyn StackExit>>);

impl Drop for Entries {
    fn drop(&mut self) {
        while let Some(entry) = self.0.pop() {
            drop(entry);
        }
    }
}

impl Entries {
    /// Where the exit with `id` is, if it is here: a binary search, the ids being in order (a
    /// search from the newest end made looking up each of a large stack's resources quadratic).
    fn position(&self, id: u64) -> Option<usize> {
        self.0.binary_search_by_key(&id, |e| e.id()).ok()
    }

    /// Runs the exits newest first, starting from `outcome`, as Python's `__aexit__` of
    /// `AsyncExitStack` does. `Ok(true)`: `outcome` was an error and an exit suppressed it.
    ///
    /// # Panics
    /// Resumes the first panic of an exit once every exit has run (the later ones see it).
    async fn unwind(&mut self, outcome: Outcome<'_>) -> Result<bool, StackError> {
        // Errors raised by exits since the last suppression, oldest first.
        let mut raised: Vec<Box<dyn private::ErasedError>> = Vec::new();
        // Whether the original outcome's error is still the one propagating.
        let mut original_pending = outcome.error().is_some();
        // The first panic of an exit, and its message.
        let mut panicked: Option<(Box<dyn Any + Send>, String)> = None;
        while let Some(entry) = self.0.pop() {
            let seen = match (&panicked, raised.last()) {
                (Some((_, message)), _) => Outcome::Panicked(message),
                // A panic or a cancellation cannot be suppressed: the exits after one that
                // failed still see it.
                (None, _) if outcome.is_panic() || outcome.is_cancelled() => outcome,
                (None, Some(last)) => Outcome::Error(ErrorRef { inner: &**last }),
                (None, None) if original_pending => outcome,
                // The original error was replaced, then suppressed.
                (None, None) if outcome.error().is_some() => Outcome::Success,
                (None, None) => outcome,
            };
            let suppressible = seen.error().is_some();
            // The call is inside the caught future: an exit function runs its synchronous part
            // there.
            let exited = AssertUnwindSafe(async move { entry.exit(seen).await })
                .catch_unwind()
                .await;
            match exited {
                Ok(Ok(true)) if suppressible => {
                    raised.clear();
                    original_pending = false;
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => {
                    raised.push(e);
                    original_pending = false;
                }
                // Later panics are dropped; the first one carries on once all exits have run,
                // as Python's stack goes on through the exits after one that raised.
                Err(payload) => {
                    if panicked.is_none() {
                        let message = panic_message(&*payload);
                        panicked = Some((payload, message));
                    } else {
                        weft_sync::drop_panic_payload(payload);
                    }
                }
            }
        }
        if let Some((payload, _)) = panicked {
            resume_unwind(payload);
        }
        match raised.pop() {
            None => Ok(outcome.error().is_some() && !original_pending),
            Some(error) => Err(StackError {
                error,
                context: raised,
            }),
        }
    }
}

impl AsyncExitStack {
    /// An empty stack.
    ///
    /// ```
    /// assert!(weft_async::AsyncExitStack::new().is_empty());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// How many exits the stack holds (managers and callbacks).
    ///
    /// ```
    /// let mut stack = weft_async::AsyncExitStack::new();
    /// stack.push_async_callback(|| async {});
    /// assert_eq!(stack.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.entries.0.len()
    }

    /// `true` when the stack holds no exit.
    ///
    /// ```
    /// let mut stack = weft_async::AsyncExitStack::new();
    /// stack.push_async_callback(|| async {});
    /// let moved = stack.pop_all();
    /// assert!(stack.is_empty() && !moved.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.entries.0.is_empty()
    }

    fn next_id() -> u64 {
        NEXT_ID.fetch_add(1, Ordering::Relaxed)
    }

    /// Enters `cm` and keeps it, with its resource, for the stack's exit (Python's
    /// `await stack.enter_async_context(cm)`). Returns a handle to the resource.
    ///
    /// # Errors
    /// The error of `cm`'s [`enter`](AsyncContextManager::enter); `cm` is then not on the stack
    /// (its exit will not be called).
    ///
    /// ```
    /// use weft_async::{context_manager, run, AsyncExitStack, Entered};
    ///
    /// run(async {
    ///     let mut stack = AsyncExitStack::new();
    ///     let refused = context_manager(|| async { Err::<(), _>("refused") }, |_, _| async { Ok(()) });
    ///     assert_eq!(stack.enter_async_context(refused).await.unwrap_err(), "refused");
    ///     assert!(stack.is_empty());
    /// })
    /// .unwrap();
    /// ```
    pub async fn enter_async_context<C>(&mut self, cm: C) -> Result<Entered<C::Resource>, C::Error>
    where
        C: AsyncContextManager + Send + 'static,
        C::Resource: Send + 'static,
        C::Error: fmt::Display + fmt::Debug + Send + Sync + 'static,
    {
        let mut cm = cm;
        let resource = cm.enter().await?;
        let id = Self::next_id();
        self.entries.0.push(Box::new(Managed { id, cm, resource }));
        Ok(Entered {
            id,
            _resource: PhantomData,
        })
    }

    /// Adds a cleanup that runs at the stack's exit, whatever the outcome (Python's
    /// `stack.push_async_callback(callback)`). It returns `()` or `Result<(), X>`; it cannot
    /// suppress errors.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use weft_async::{run, AsyncExitStack};
    ///
    /// let order = Arc::new(Mutex::new(Vec::new()));
    /// run(async {
    ///     let mut stack = AsyncExitStack::new();
    ///     for n in 1..=3 {
    ///         let order = Arc::clone(&order);
    ///         stack.push_async_callback(move || async move { order.lock().unwrap().push(n) });
    ///     }
    ///     stack.aclose().await.unwrap();
    /// })
    /// .unwrap();
    /// assert_eq!(*order.lock().unwrap(), [3, 2, 1]);
    /// ```
    pub fn push_async_callback<F, Fut>(&mut self, callback: F)
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: CallbackOutput,
    {
        let id = Self::next_id();
        self.entries.0.push(Box::new(Callback { id, callback }));
    }

    /// Adds an exit function that sees the [`Outcome`] it is exiting from and may suppress an
    /// error (Python's `stack.push_async_exit(exit)`). Like a teardown of [`context_manager`],
    /// it reads the outcome before returning its future, which returns `Result<(), X>` or
    /// `Result<Exit, X>`.
    ///
    /// ```
    /// use weft_async::{async_with, run, AsyncExitStack, Exit};
    ///
    /// let r = run(async_with(AsyncExitStack::new(), async |stack| {
    ///     stack.push_async_exit(|outcome| {
    ///         let failed = outcome.error().is_some();
    ///         async move { Ok::<_, String>(if failed { Exit::Suppress } else { Exit::Propagate }) }
    ///     });
    ///     Err::<(), _>("division by zero")
    /// }))
    /// .unwrap();
    /// assert_eq!(r.unwrap(), None); // the stack's exit suppressed the body's error
    /// ```
    pub fn push_async_exit<F, Fut, K, X>(&mut self, exit: F)
    where
        F: FnOnce(Outcome<'_>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<K, X>> + Send + 'static,
        K: ExitKind,
        X: fmt::Display + fmt::Debug + Send + Sync + 'static,
    {
        let id = Self::next_id();
        self.entries.0.push(Box::new(ExitFn { id, exit }));
    }

    /// The resource of `entered`, while this stack holds it.
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use weft_async::{context_manager, run, AsyncExitStack};
    ///
    /// run(async {
    ///     let mut stack = AsyncExitStack::new();
    ///     let cm = context_manager(|| async { Ok::<_, Infallible>("conn") }, |_, _| async { Ok(()) });
    ///     let conn = stack.enter_async_context(cm).await.unwrap();
    ///     assert_eq!(stack.get(conn), Some(&"conn"));
    ///     assert_eq!(AsyncExitStack::new().get(conn), None); // another stack
    /// })
    /// .unwrap();
    /// ```
    pub fn get<R: Any>(&self, entered: Entered<R>) -> Option<&R> {
        let at = self.entries.position(entered.id)?;
        self.entries.0[at].resource()?.downcast_ref()
    }

    /// The resource of `entered`, mutably, while this stack holds it.
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use weft_async::{context_manager, run, AsyncExitStack};
    ///
    /// run(async {
    ///     let mut stack = AsyncExitStack::new();
    ///     let cm = context_manager(|| async { Ok::<_, Infallible>(0) }, |_, _| async { Ok(()) });
    ///     let n = stack.enter_async_context(cm).await.unwrap();
    ///     *stack.get_mut(n).unwrap() += 1;
    ///     assert_eq!(stack.get(n), Some(&1));
    /// })
    /// .unwrap();
    /// ```
    pub fn get_mut<R: Any>(&mut self, entered: Entered<R>) -> Option<&mut R> {
        let at = self.entries.position(entered.id)?;
        self.entries.0[at].resource_mut()?.downcast_mut()
    }

    /// Moves every exit to a new stack and returns it, running none (Python's
    /// `stack.pop_all()`): set several resources up, and hand them on only if all succeeded.
    /// [`Entered`] handles reach their resources through the new stack.
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use weft_async::{context_manager, run, AsyncExitStack};
    ///
    /// run(async {
    ///     let mut stack = AsyncExitStack::new();
    ///     let cm = context_manager(|| async { Ok::<_, Infallible>(5) }, |_, _| async { Ok(()) });
    ///     let five = stack.enter_async_context(cm).await.unwrap();
    ///     let mut kept = stack.pop_all();
    ///     stack.aclose().await.unwrap(); // nothing to exit any more
    ///     assert_eq!(kept.get(five), Some(&5));
    ///     kept.aclose().await.unwrap();
    /// })
    /// .unwrap();
    /// ```
    #[must_use = "dropped, the new stack hands its exits over to run, as cancelled"]
    pub fn pop_all(&mut self) -> AsyncExitStack {
        AsyncExitStack {
            entries: std::mem::take(&mut self.entries),
        }
    }

    /// Runs every exit, newest first, as after a body that succeeded (Python's
    /// `await stack.aclose()`). The stack is then empty and can be used again.
    ///
    /// If the `aclose` future is dropped midway (a [`timeout`](crate::timeout), a lost
    /// `select!` branch), the exit it was awaiting does not resume, and the exits not yet
    /// started run with [`Outcome::Cancelled`], as those of a stack dropped unclosed do (see
    /// [Dropped without `aclose`](AsyncExitStack#dropped-without-aclose)): weft's `timeout`
    /// awaits them before it returns, as Python's cancelled `aclose` goes on through them with
    /// `CancelledError`. The stack is empty either way. What the exits already run produced goes
    /// with it: their errors, and a panic kept to be raised after the older exits (cancellation
    /// wins, as a `CancelledError` replaces an exception being handled). What the exits run
    /// after the cut produce is not reported either: an error is dropped and a panic ends only
    /// its exit (the hook prints it), so a `timeout` still gives
    /// [`TimeoutError`](crate::TimeoutError), where Python's `wait_for` raises the exception
    /// that an older exit raised while its cancelled `aclose` went on.
    ///
    /// # Errors
    /// [`StackError`] when an exit failed and no older exit suppressed its error; the other
    /// exits still ran.
    ///
    /// ```
    /// use weft_async::{run, AsyncExitStack};
    ///
    /// let err = run(async {
    ///     let mut stack = AsyncExitStack::new();
    ///     stack.push_async_callback(|| async { Err::<(), _>("disk full") });
    ///     stack.aclose().await
    /// })
    /// .unwrap()
    /// .unwrap_err();
    /// assert_eq!(err.to_string(), "an exit of the stack failed: disk full");
    /// ```
    pub async fn aclose(&mut self) -> Result<(), StackError> {
        // The exits move into this future: dropped midway, it drops them as a stack (`Drop`),
        // which hands the ones not yet run over, rather than leave them here to run later (or
        // with a later `aclose`'s success) after their `aclose` was cancelled.
        let mut closing = self.pop_all();
        closing.entries.unwind(Outcome::Success).await.map(drop)
    }
}

impl fmt::Debug for AsyncExitStack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncExitStack")
            .field("len", &self.len())
            .finish()
    }
}

impl Drop for AsyncExitStack {
    fn drop(&mut self) {
        if self.is_empty() {
            return;
        }
        let mut entries = std::mem::take(&mut self.entries);
        // With nothing to run it (no runtime), the future drops unrun and `entries` with it,
        // newest first.
        hand_over_exit(Box::pin(async move {
            let _ = entries.unwind(Outcome::Cancelled).await;
        }));
    }
}

/// The stack as a manager (Python's `async with AsyncExitStack() as stack:`): the body gets the
/// stack, and the exit runs its exits with the body's outcome; it suppresses the body's error
/// when one of them did.
///
/// ```
/// use std::convert::Infallible;
/// use weft_async::{async_with, context_manager, run, AsyncExitStack};
///
/// let r = run(async_with(AsyncExitStack::new(), async |stack| {
///     let cm = context_manager(|| async { Ok::<_, Infallible>(2) }, |_, _| async { Ok(()) });
///     let two = stack.enter_async_context(cm).await.unwrap();
///     Ok::<_, Infallible>(stack.get(two).copied())
/// }))
/// .unwrap();
/// assert_eq!(r.unwrap(), Some(Some(2)));
/// ```
impl AsyncContextManager for AsyncExitStack {
    type Resource = AsyncExitStack;
    type Error = StackError;
    type Exit = Exit;

    async fn enter(&mut self) -> Result<AsyncExitStack, StackError> {
        Ok(self.pop_all())
    }

    async fn exit(
        self,
        mut stack: AsyncExitStack,
        outcome: Outcome<'_>,
    ) -> Result<Exit, StackError> {
        let suppressed = stack.entries.unwind(outcome).await?;
        Ok(if suppressed {
            Exit::Suppress
        } else {
            Exit::Propagate
        })
    }
}
