//! `to_thread` and `run_in_executor`: blocking work awaited from async code.

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures_core::future::FusedFuture;
use parking_lot::{Condvar, Mutex};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::error::TaskError;

/// Runs the blocking function `f` on another thread and awaits its result (Python's
/// `await asyncio.to_thread(func, *args)`), so the runtime's own thread stays free for the
/// other tasks.
///
/// The thread is one of tokio's blocking pool (up to 512 threads, reused). Called inside a
/// runtime, `f` is handed to the pool at once; called outside one (as in `run(to_thread(f))`),
/// it starts when the future is first polled, on the runtime current then, or on a plain thread
/// when there is none. A panic in `f` comes back as [`TaskError::Panicked`]. These threads are
/// not weft-thread's: its `enumerate` and `active_count` do not count them, and its
/// `current_thread` in `f` names the thread `tokio-rt-worker` (Python's are `threading` threads
/// of the loop's default executor, `asyncio_0`, ..., counted by `threading.active_count()`).
///
/// Dropping the future does not stop `f` once it runs — a thread cannot be cancelled, in Python
/// either — and [`run`](crate::run) waits for calls that have started before returning, as
/// `asyncio.run` waits for its default executor. A call still queued for a pool thread when
/// `run` ends may be dropped unrun (tokio's rule for its blocking pool): await what must
/// happen.
///
/// At the program's exit, weft-thread's `main` (`weft::main`) waits for every call handed to a
/// thread and not yet ended, before it waits for the non-daemon threads (a `before_exit`
/// function): as Python's interpreter exit joins the default executor's threads, also those of
/// an `asyncio.run` in a daemon thread, whose work so runs to its end although the daemon
/// thread itself is not waited for. A call made once the exit has begun
/// (`weft_thread::is_exiting`: from the end of `main`'s body until `main` returns, its
/// `before_exit` functions included), by a thread still running, is refused: nothing runs, and
/// awaiting it gives [`TaskError::Cancelled`], as weft-executor's pools refuse their submits
/// then. Python's exit raises `RuntimeError: cannot schedule new futures after interpreter
/// shutdown` (`can't register atexit after shutdown` in a program that had made no thread pool),
/// but still takes the calls of a `threading._register_atexit` function that runs before
/// `concurrent.futures`' own (one registered after the program's first thread pool or
/// `to_thread`). So no call made while `main` runs is cut off unseen by the process's end, and
/// threads starting calls in a loop cannot hold the exit for ever. A call that never ends holds
/// it for ever, as in Python; a `main` run inside a call's function does not wait for that call
/// (which cannot end first), only for the others. A `ToThread` made outside any runtime
/// starts, or is refused, when first polled; one never polled has started nothing and is not
/// waited for. Without `main`, and once it has returned, nothing waits and nothing is refused
/// (Python refuses until the process ends).
///
/// ```
/// use std::time::Duration;
/// use weft_async::{gather, run, to_thread};
///
/// fn blocking_io(n: u64) -> u64 {
///     std::thread::sleep(Duration::from_millis(20)); // a blocking call
///     n
/// }
///
/// let start = std::time::Instant::now();
/// let calls = [to_thread(|| blocking_io(1)), to_thread(|| blocking_io(2))];
/// let results = run(gather(calls)).unwrap();
/// assert_eq!(results, Ok(vec![1, 2]));
/// assert!(start.elapsed() < Duration::from_secs(10)); // the two sleeps overlapped
/// ```
pub fn to_thread<F, T>(f: F) -> ToThread<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let f = move || crate::runtime::as_to_thread(f);
    let inner = match tokio::runtime::Handle::try_current() {
        Ok(rt) => match Started::new() {
            Some(started) => ToThreadInner::Pool(rt.spawn_blocking(move || {
                let _running = started.run_here();
                f()
            })),
            None => ToThreadInner::Refused,
        },
        Err(_) => ToThreadInner::Deferred(Some(Box::new(f))),
    };
    ToThread { inner }
}

/// Starts `f` where [`to_thread`] is first polled outside the runtime it was made in.
fn start<T: Send + 'static>(f: Box<dyn FnOnce() -> T + Send>) -> ToThreadInner<T> {
    let Some(started) = Started::new() else {
        return ToThreadInner::Refused;
    };
    let f = move || {
        let _running = started.run_here();
        f()
    };
    if let Ok(rt) = tokio::runtime::Handle::try_current() {
        return ToThreadInner::Pool(rt.spawn_blocking(f));
    }
    let (tx, rx) = oneshot::channel();
    std::thread::spawn(move || {
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|payload| {
            TaskError::Panicked {
                message: weft_sync::into_panic_message(payload),
            }
        });
        let _ = tx.send(out);
    });
    ToThreadInner::Thread(rx)
}

/// The [`to_thread`] calls handed to a thread and not yet ended, in the whole process: the
/// program's exit waits for them (see [`to_thread`]).
struct Running {
    /// The calls started and not yet ended.
    calls: usize,
    /// Whether [`wait_for_running`] is registered with `weft_thread::before_exit` and has not
    /// begun.
    hooked: bool,
}

static RUNNING: Mutex<Running> = Mutex::new(Running {
    calls: 0,
    hooked: false,
});

/// Notified whenever [`Running::calls`] goes down: the exit's wait may be for a count above
/// zero (the calls whose function runs on its own thread are left out).
static ALL_ENDED: Condvar = Condvar::new();

/// One [`to_thread`] call handed to a thread: counted in [`RUNNING`] until dropped, with the
/// function (after it ran, or unrun when its runtime drops it).
struct Started(());

impl Started {
    /// Counts a call that is about to start, or `None` once the program's exit has begun
    /// (`weft_thread::is_exiting`): the call is refused.
    fn new() -> Option<Self> {
        let mut running = RUNNING.lock();
        // The exit's wait is registered before the flag is read below, under this lock (only
        // `before_exit`'s list lock is taken inside it, and nothing holds that one while taking
        // this one). Registered after the read, it could miss an exit that began in between:
        // one that ran its `before_exit` functions and returned before the registration, with
        // the call accepted here still running. Registered before, it is in the list when any
        // exit that begins after the read (the flag goes up before the list is taken) takes it.
        // A call made during the exit (refused) does not register it.
        if !running.hooked && !weft_thread::is_exiting() {
            weft_thread::before_exit(wait_for_running);
            running.hooked = true;
        }
        // Read under the lock that [`wait_for_running`] takes once the exit has begun (it is a
        // `before_exit` function, and the flag is up before those run): a call that finds the
        // flag down is counted before that wait reads the count, and none is counted once it
        // has begun, so the wait ends when the calls it found have ended.
        if weft_thread::is_exiting() {
            return None;
        }
        running.calls += 1;
        Some(Started(()))
    }

    /// Marks the call as running on this thread until the guard is dropped, which then ends it.
    fn run_here(self) -> RunningHere {
        HERE.with(|here| here.set(here.get() + 1));
        RunningHere { _call: self }
    }
}

thread_local! {
    /// The [`to_thread`] calls whose function runs on this thread (one at most, in practice).
    static HERE: Cell<usize> = const { Cell::new(0) };
}

/// A [`Started`] call whose function runs on this thread: counted in [`HERE`] too, until dropped.
struct RunningHere {
    /// Ends the call when dropped, after [`RunningHere`]'s own drop.
    _call: Started,
}

impl Drop for RunningHere {
    fn drop(&mut self) {
        // Before the field's drop ends the call.
        HERE.with(|here| here.set(here.get() - 1));
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        let mut running = RUNNING.lock();
        running.calls -= 1;
        // Also above zero: a wait left out its own thread's call (see `wait_for_running`).
        // Without waiters this is one atomic load.
        ALL_ENDED.notify_all();
    }
}

/// The program's exit: waits until every [`to_thread`] call under way has ended (Python's exit
/// joins its executors' threads). No call starts meanwhile: the exit refuses them. A `main` run
/// inside a call's function does not wait for that call, which cannot end before it returns (as
/// weft-executor's pools do not wait for the worker that shuts them down).
fn wait_for_running() {
    let here = HERE.with(Cell::get);
    let mut running = RUNNING.lock();
    // The next `main`'s exit (a process may run more than one) registers its own wait.
    running.hooked = false;
    while running.calls > here {
        ALL_ENDED.wait(&mut running);
    }
}

/// The future [`to_thread`] returns.
#[must_use = "the function runs anyway; await the future for its result"]
pub struct ToThread<T> {
    inner: ToThreadInner<T>,
}

enum ToThreadInner<T> {
    /// Made outside a runtime: not started until polled.
    Deferred(Option<Box<dyn FnOnce() -> T + Send>>),
    Pool(JoinHandle<T>),
    Thread(oneshot::Receiver<Result<T, TaskError>>),
    /// Made or first polled once the program's exit had begun: nothing started.
    Refused,
    /// The result has been given.
    Answered,
}

impl<T: Send + 'static> Future for ToThread<T> {
    type Output = Result<T, TaskError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let ToThreadInner::Deferred(f) = &mut self.inner {
            match f.take() {
                Some(f) => self.inner = start(f),
                // Unreachable: `start` replaces the state before anything polls again.
                None => return Poll::Pending,
            }
        }
        let out = match &mut self.inner {
            ToThreadInner::Deferred(_) | ToThreadInner::Answered => return Poll::Pending,
            ToThreadInner::Pool(h) => ready!(Pin::new(h).poll(cx)).map_err(TaskError::from_join),
            ToThreadInner::Thread(rx) => {
                ready!(Pin::new(rx).poll(cx)).unwrap_or(Err(TaskError::Cancelled))
            }
            ToThreadInner::Refused => Err(TaskError::Cancelled),
        };
        self.inner = ToThreadInner::Answered;
        Poll::Ready(out)
    }
}

impl<T: Send + 'static> FusedFuture for ToThread<T> {
    fn is_terminated(&self) -> bool {
        matches!(self.inner, ToThreadInner::Answered)
    }
}

impl<T> fmt::Debug for ToThread<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let done = match &self.inner {
            ToThreadInner::Deferred(_) => false,
            ToThreadInner::Refused => true,
            ToThreadInner::Pool(h) => h.is_finished(),
            ToThreadInner::Thread(rx) => !rx.is_empty() || rx.is_terminated(),
            ToThreadInner::Answered => true,
        };
        f.debug_struct("ToThread").field("done", &done).finish()
    }
}

#[cfg(feature = "executor")]
pub use self::executor::*;

#[cfg(feature = "executor")]
mod executor {
    use std::fmt;
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{ready, Context, Poll};

    use futures_core::future::FusedFuture;
    use weft_executor::{Executor, Payload, SubmitError};

    /// Runs `f(arg)` on a weft-executor pool — a `ThreadPoolExecutor` or a
    /// `ProcessPoolExecutor` — and returns a future of its result (Python's
    /// `await loop.run_in_executor(executor, func, arg)`).
    ///
    /// Use a process pool for CPU-bound Python-style work that must not hold the runtime's
    /// thread; [`to_thread`](crate::to_thread) is the short form for blocking calls on tokio's
    /// own pool. Dropping the returned future cancels the call if it has not started (Python
    /// cancels the concurrent future too); a started call runs to its end.
    ///
    /// # Errors
    /// [`SubmitError`] with `arg` back when the pool is shut down or broken, or could not start
    /// a worker; `SubmitError::ShutDown` from any pool while `weft::main` exits
    /// (`weft_thread::is_exiting`), where Python raises `RuntimeError: cannot schedule new
    /// futures after interpreter shutdown`.
    ///
    /// ```
    /// use weft_async::{run, run_in_executor};
    /// use weft_executor::ThreadPoolExecutor;
    ///
    /// fn fib(n: u64) -> u64 {
    ///     if n < 2 { n } else { fib(n - 1) + fib(n - 2) }
    /// }
    ///
    /// let pool = ThreadPoolExecutor::new();
    /// let r = run(async { run_in_executor(&pool, fib, 20).unwrap().await }).unwrap();
    /// assert_eq!(r, Ok(6765));
    /// ```
    pub fn run_in_executor<X, A, R>(
        executor: &X,
        f: fn(A) -> R,
        arg: A,
    ) -> Result<InExecutor<R>, SubmitError<A>>
    where
        X: Executor + ?Sized,
        A: Payload,
        R: Payload,
    {
        Ok(InExecutor {
            fut: Some(executor.submit(f, arg)?),
            answered: false,
        })
    }

    /// The future [`run_in_executor`] returns: the pool's `Future`, cancelled when dropped
    /// before it starts. Once it has given the result it is terminated ([`FusedFuture`]):
    /// polled again, it stays pending.
    #[must_use = "dropping it cancels the call unless it has started"]
    pub struct InExecutor<R> {
        // `None` only once `into_inner` has taken it.
        fut: Option<weft_executor::Future<R>>,
        /// Whether awaiting it has given the result.
        answered: bool,
    }

    impl<R> InExecutor<R> {
        /// The pool's future, to use its own API (`running`, `add_done_callback`, ...); it is no
        /// longer cancelled on drop.
        ///
        /// ```
        /// use weft_async::run_in_executor;
        /// use weft_executor::ThreadPoolExecutor;
        ///
        /// fn id(x: u8) -> u8 {
        ///     x
        /// }
        ///
        /// let pool = ThreadPoolExecutor::new();
        /// let f = run_in_executor(&pool, id, 3).unwrap().into_inner();
        /// assert_eq!(f.result().unwrap(), 3);
        /// ```
        pub fn into_inner(mut self) -> weft_executor::Future<R> {
            match self.fut.take() {
                Some(fut) => fut,
                None => unreachable!("InExecutor's future is taken only by into_inner"),
            }
        }
    }

    impl<R> Future for InExecutor<R> {
        type Output = Result<R, weft_executor::TaskError>;

        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
            if self.answered {
                return Poll::Pending;
            }
            let out = match &mut self.fut {
                Some(fut) => ready!(Pin::new(fut).poll(cx)),
                None => return Poll::Pending,
            };
            self.answered = true;
            Poll::Ready(out)
        }
    }

    impl<R> FusedFuture for InExecutor<R> {
        fn is_terminated(&self) -> bool {
            self.answered
        }
    }

    impl<R> Drop for InExecutor<R> {
        fn drop(&mut self) {
            if let Some(fut) = &self.fut {
                fut.cancel();
            }
        }
    }

    impl<R> fmt::Debug for InExecutor<R> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("InExecutor")
                .field("fut", &self.fut)
                .finish()
        }
    }
}
