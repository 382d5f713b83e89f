//! `Loop`: the running loop as other threads see it (Python's `asyncio.get_running_loop()`,
//! `run_coroutine_threadsafe` and `loop.call_soon_threadsafe`).

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use crate::error::{LoopClosed, NoRunningLoop};
use crate::runtime::RunRef;

/// The running loop (Python's `asyncio.get_running_loop()`): a cheap handle (`Clone + Send +
/// Sync`) on the runtime of the [`run`](crate::run) that took it, for other threads to hand
/// it work: `run_coroutine_threadsafe` (feature `executor`) and
/// [`call_soon_threadsafe`](Loop::call_soon_threadsafe).
///
/// Take it inside the run with [`Loop::current`] (or [`get_running_loop`]), or from a
/// [`Runner`](crate::Runner) with [`get_loop`](crate::Runner::get_loop), and move it to the
/// thread. It keeps the runtime's handle, not the runtime: once the run's future has
/// completed, what is handed to it comes back in [`LoopClosed`] (Python's `RuntimeError: Event
/// loop is closed`). A runner's loop takes work until the runner closes: between two runs it
/// waits for the next (see [`Runner`](crate::Runner)).
///
/// ```
/// use std::sync::mpsc;
/// use weft_async::{run, to_thread, Loop};
///
/// run(async {
///     let lp = Loop::current().unwrap(); // asyncio.get_running_loop()
///     let (tx, rx) = mpsc::channel();
///     let sent = to_thread(move || {
///         lp.call_soon_threadsafe(move || tx.send("on the loop").unwrap())
///             .is_ok()
///     });
///     assert!(sent.await.unwrap());
///     weft_async::yield_now().await; // the loop runs the function at its next turn
///     assert_eq!(rx.try_recv(), Ok("on the loop"));
/// })
/// .unwrap();
/// ```
#[derive(Clone)]
pub struct Loop {
    runtime: Handle,
    /// The run whose runtime it is (none for a runtime weft did not start).
    run: RunRef,
}

/// The running loop: [`Loop::current`] under Python's name (`asyncio.get_running_loop()`).
///
/// # Errors
/// [`NoRunningLoop`] as [`Loop::current`].
///
/// ```
/// use weft_async::{get_running_loop, run};
///
/// assert!(get_running_loop().is_err()); // Python: RuntimeError: no running event loop
/// run(async { assert!(get_running_loop().is_ok()) }).unwrap();
/// ```
pub fn get_running_loop() -> Result<Loop, NoRunningLoop> {
    Loop::current()
}

impl Loop {
    /// The loop of `run` on `runtime` (a [`Runner`](crate::Runner)'s).
    pub(crate) fn new(runtime: Handle, run: RunRef) -> Self {
        Loop { runtime, run }
    }

    /// The loop running the caller: the runtime of the [`run`](crate::run) (or
    /// [`run_multi_thread`](crate::run_multi_thread), or any tokio runtime) whose task or
    /// future calls it (Python's `asyncio.get_running_loop()`).
    ///
    /// # Errors
    /// [`NoRunningLoop`] outside a runtime, and in a [`to_thread`](crate::to_thread) function,
    /// whose thread runs no loop (Python's `get_running_loop()` raises `RuntimeError` in both);
    /// take the loop before and move it in.
    ///
    /// Taken on a thread of your own that only entered a run's runtime (tokio's
    /// `Handle::enter` or `Handle::block_on`), it is that runtime's loop but not the run's,
    /// which knows only its own threads: as on a runtime weft did not start, the run's end
    /// neither waits for what it hands over nor cancels it, and the runtime's shutdown drops
    /// what is still queued. Take it in the run and move it to the thread.
    ///
    /// ```
    /// use weft_async::{run, to_thread, Loop, NoRunningLoop};
    ///
    /// assert_eq!(Loop::current().unwrap_err(), NoRunningLoop);
    /// run(async {
    ///     assert!(Loop::current().is_ok());
    ///     let in_thread = to_thread(|| Loop::current().is_ok()).await.unwrap();
    ///     assert!(!in_thread);
    /// })
    /// .unwrap();
    /// ```
    pub fn current() -> Result<Loop, NoRunningLoop> {
        if crate::runtime::in_to_thread() {
            return Err(NoRunningLoop);
        }
        let runtime = Handle::try_current().map_err(|_| NoRunningLoop)?;
        let run = RunRef::current(&runtime);
        Ok(Loop { runtime, run })
    }

    /// Runs `f` on the loop, from any thread, at one of its next turns (Python's
    /// `loop.call_soon_threadsafe(f)`), and returns at once a [`CallHandle`] that can
    /// [`cancel`](CallHandle::cancel) the call before it runs (Python's `Handle`).
    ///
    /// `f` runs as a task of its own: under [`run`](crate::run), the functions one thread
    /// hands over run in the order it handed them, on the loop's thread; under
    /// [`run_multi_thread`](crate::run_multi_thread) no order holds. A panic in `f` is printed
    /// by the panic hook and ends only `f` (Python logs the exception and the loop goes on).
    ///
    /// A function it takes (`Ok`) runs, unless cancelled first: if the run's future completes
    /// first, the run lets the functions handed over before its wind-down starts (also those
    /// taken during the last turn, after the future completed) run as it winds down, before it
    /// cancels its tasks, as `asyncio.run` runs the callbacks queued before it closes its
    /// loop. A [`Runner`](crate::Runner)'s loop takes them until the runner closes, which runs
    /// them likewise; between two runs they wait for the next, as in Python. (On a tokio runtime
    /// weft did not start, and with a `Loop` taken on a thread that only entered the run's
    /// runtime (see [`Loop::current`]), a function still queued when the runtime shuts down is
    /// dropped unrun although it was taken.)
    ///
    /// # Errors
    /// [`LoopClosed`] with `f` back, unrun, once the run winds down its tasks (its future has
    /// completed and the last turn is over) or has returned, its [`Runner`](crate::Runner) is
    /// closing, or the runtime is shutting down (Python's `RuntimeError: Event loop is closed`;
    /// Python still takes callbacks while `asyncio.run` cancels the tasks left, and may drop
    /// them unrun when it closes the loop).
    ///
    /// ```
    /// use weft_async::{run, to_thread, Loop};
    ///
    /// run(async {
    ///     let lp = Loop::current().unwrap();
    ///     let (tx, rx) = tokio::sync::oneshot::channel();
    ///     to_thread(move || lp.call_soon_threadsafe(move || tx.send(7).unwrap()).unwrap())
    ///         .await
    ///         .unwrap();
    ///     assert_eq!(rx.await, Ok(7));
    /// })
    /// .unwrap();
    /// ```
    pub fn call_soon_threadsafe<F>(&self, f: F) -> Result<CallHandle, LoopClosed<F>>
    where
        F: FnOnce() + Send + 'static,
    {
        let Ok(guard) = self.run.begin_call() else {
            return Err(LoopClosed(f));
        };
        let slot = Arc::new(Mutex::new(Some(f)));
        let task = self.runtime.spawn({
            let slot = slot.clone();
            async move {
                // The run's end waits for it until `f` has run (or the task is dropped).
                let _guard = guard;
                let f = slot.lock().take();
                drop(slot);
                if let Some(f) = f {
                    f();
                }
            }
        });
        match refused(&slot, &task) {
            Some(f) => Err(LoopClosed(f)),
            None => Ok(CallHandle {
                call: slot,
                cancelled: AtomicBool::new(false),
            }),
        }
    }
}

/// A call handed to the loop by [`Loop::call_soon_threadsafe`] (Python's `asyncio.Handle`):
/// [`cancel`](CallHandle::cancel) it before it runs and it never runs. Dropping the handle
/// leaves the call as it is.
///
/// ```
/// use std::sync::mpsc;
/// use weft_async::Runner;
///
/// let mut runner = Runner::new();
/// let lp = runner.get_loop().unwrap();
/// let (tx, rx) = mpsc::channel();
/// let (tx2, tx3) = (tx.clone(), tx.clone());
/// let first = lp.call_soon_threadsafe(move || tx.send(1).unwrap()).unwrap();
/// let second = lp.call_soon_threadsafe(move || tx2.send(2).unwrap()).unwrap();
/// assert!(second.cancel()); // not run yet: now it never will
/// runner.run(weft_async::yield_now()).unwrap();
/// assert!(!first.cancel()); // it has run: nothing to cancel
/// assert!(first.cancelled()); // as Python's, once `cancel()` was called
/// lp.call_soon_threadsafe(move || tx3.send(3).unwrap()).unwrap();
/// runner.close().unwrap();
/// assert_eq!(rx.try_iter().collect::<Vec<_>>(), [1, 3]);
/// ```
pub struct CallHandle {
    /// The function, until the loop takes it to run it or `cancel` drops it.
    call: Arc<dyn Call>,
    cancelled: AtomicBool,
}

/// A function's slot, whatever the function's type.
trait Call: Send + Sync {
    /// Drops the function if it is still there; whether it was.
    fn drop_unrun(&self) -> bool;
}

impl<F: Send> Call for Mutex<Option<F>> {
    fn drop_unrun(&self) -> bool {
        // Dropped outside the lock, here on the caller's thread.
        let f = self.lock().take();
        f.is_some()
    }
}

impl CallHandle {
    /// Cancels the call (Python's `handle.cancel()`): a function that has not started runs
    /// never, and is dropped here, on the calling thread; one that has started or run is left
    /// alone. Returns whether it stopped the function (Python's returns `None`); the loop's
    /// thread may take the function at the same moment, and then one of the two wins.
    ///
    /// ```
    /// use weft_async::{run, Loop};
    ///
    /// run(async {
    ///     let lp = Loop::current().unwrap();
    ///     let h = lp.call_soon_threadsafe(|| unreachable!("cancelled")).unwrap();
    ///     assert!(h.cancel());
    ///     assert!(!h.cancel()); // twice is fine
    ///     weft_async::yield_now().await;
    /// })
    /// .unwrap();
    /// ```
    pub fn cancel(&self) -> bool {
        self.cancelled.store(true, Ordering::Relaxed);
        self.call.drop_unrun()
    }

    /// Whether [`cancel`](CallHandle::cancel) was called (Python's `handle.cancelled()`, `True`
    /// after `cancel()` even if the function had run).
    ///
    /// ```
    /// use weft_async::{run, Loop};
    ///
    /// run(async {
    ///     let h = Loop::current().unwrap().call_soon_threadsafe(|| ()).unwrap();
    ///     assert!(!h.cancelled());
    ///     h.cancel();
    ///     assert!(h.cancelled());
    /// })
    /// .unwrap();
    /// ```
    pub fn cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }
}

impl fmt::Debug for CallHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallHandle")
            .field("cancelled", &self.cancelled())
            .finish_non_exhaustive()
    }
}

/// What a task was handed, taken back if the runtime dropped the task unrun as it spawned it
/// (a runtime that is shutting down does so): `None` if the task has it, or has run.
fn refused<P, T>(slot: &Mutex<Option<P>>, task: &JoinHandle<T>) -> Option<P> {
    if task.is_finished() {
        slot.lock().take()
    } else {
        None
    }
}

#[cfg(feature = "executor")]
mod threadsafe {
    use std::future::Future;
    use std::sync::Arc;
    use std::task::Poll;

    use parking_lot::Mutex;
    use weft_executor::{promise, Promise, TaskError};

    use super::{refused, Loop};
    use crate::error::LoopClosed;

    impl Loop {
        /// Runs `fut` as a task on the loop, from any thread, and returns a
        /// [`weft_executor::Future`] of its output that a plain thread can wait on (Python's
        /// `asyncio.run_coroutine_threadsafe(coro, loop)`, which returns a
        /// `concurrent.futures.Future`).
        ///
        /// The future answers as Python's does:
        /// - [`result`](weft_executor::Future::result) (or `result_timeout`, `.await`) gives
        ///   the output, once `fut` has been dropped (as a coroutine's locals are gone when
        ///   its result is set); a panic in `fut` (or in its drop) is caught and gives
        ///   [`TaskError::Panicked`](weft_executor::TaskError::Panicked) with its message and
        ///   location, not printed (Python: the coroutine's exception, with its traceback):
        ///   each poll of `fut`, and its drop, runs under [`weft_thread::catch_panic`], as a
        ///   thread pool's task does. A timeout leaves the task running, as in Python.
        /// - [`cancel`](weft_executor::Future::cancel) succeeds until the task has finished
        ///   (the future is pending while it runs: `running()` stays `false`, as Python's). The
        ///   future is cancelled at once, its done callbacks run in the calling thread, and the
        ///   task is cancelled on the loop: it is dropped at its next await point, and the exits
        ///   of the [`async_with`](crate::async_with) blocks it was in run afterwards on the loop
        ///   (see [`Task::cancel`](crate::Task::cancel)); [`run`](crate::run) waits for them at
        ///   its end. A task not yet started never starts (Python's may run its first step).
        ///   An output finished as it is cancelled is dropped on the loop.
        /// - The task belongs to the run: if it is still running when the run's future
        ///   completes, the run cancels it as it cancels its other tasks, and the future gives
        ///   [`TaskError::Cancelled`](weft_executor::TaskError::Cancelled) (as Python's
        ///   `asyncio.run` cancels it). So does a task the runtime drops as it shuts down, where
        ///   Python's future, handed to a closing loop, never answers: this one always does.
        /// - Done callbacks ([`add_done_callback`](weft_executor::Future::add_done_callback))
        ///   run on the loop's thread when the task ends, as Python's, so they must not block.
        ///
        /// Calling it on the loop's own thread (in a task) is allowed, but blocking there on the
        /// future's `result()` waits for a task that cannot run while the thread waits: it never
        /// returns (in Python neither), and `result_timeout` always times out. Await the future
        /// instead (it is a `std::future::Future`), or just create a task.
        ///
        /// # Errors
        /// [`LoopClosed`] with `fut` back, not run, once the run winds down its tasks (its
        /// future has completed and the last turn is over) or has returned, its
        /// [`Runner`](crate::Runner) is closing, or the runtime is shutting down (Python's
        /// `RuntimeError: Event loop is closed`; Python still takes coroutines while
        /// `asyncio.run` cancels the tasks left, and their futures may then never answer).
        ///
        /// ```
        /// use std::time::Duration;
        /// use weft_async::{run, sleep, to_thread, Loop};
        ///
        /// run(async {
        ///     let lp = Loop::current().unwrap();
        ///     let answer = to_thread(move || {
        ///         // In a plain thread: hand a coroutine to the loop and wait for its result.
        ///         let f = lp
        ///             .run_coroutine_threadsafe(async {
        ///                 sleep(Duration::from_millis(1)).await;
        ///                 6 * 7
        ///             })
        ///             .expect("the loop is running");
        ///         f.result_timeout(Duration::from_secs(30)).ok()
        ///     })
        ///     .await
        ///     .unwrap();
        ///     assert_eq!(answer, Some(42));
        /// })
        /// .unwrap();
        /// ```
        ///
        /// Cancelling from the thread:
        ///
        /// ```
        /// use weft_async::{run, to_thread, Loop};
        ///
        /// run(async {
        ///     let lp = Loop::current().unwrap();
        ///     to_thread(move || {
        ///         let f = lp
        ///             .run_coroutine_threadsafe(std::future::pending::<()>())
        ///             .unwrap();
        ///         assert!(f.cancel());
        ///         assert!(f.cancelled());
        ///         assert!(f.result().unwrap_err().is_cancelled());
        ///     })
        ///     .await
        ///     .unwrap();
        /// })
        /// .unwrap();
        /// ```
        pub fn run_coroutine_threadsafe<F>(
            &self,
            fut: F,
        ) -> Result<weft_executor::Future<F::Output>, LoopClosed<F>>
        where
            F: Future + Send + 'static,
            F::Output: Send + 'static,
        {
            if self.run.is_ending() {
                return Err(LoopClosed(fut));
            }
            let (promise, future) = promise();
            // The future reaches the task through `slot`, so that it comes back if the runtime
            // drops the task unrun as it spawns it.
            let slot = Arc::new(Mutex::new(Some(fut)));
            let mut answer = Answer(Some(promise));
            let task = crate::task::spawn_task_on(&self.runtime, {
                let slot = slot.clone();
                async move {
                    let fut = slot.lock().take();
                    drop(slot);
                    let Some(fut) = fut else { return };
                    // Each poll under `catch_panic`, as the thread pool runs its tasks: a panic
                    // is recorded with its location instead of printed, and kept in the
                    // failure (Python's exception keeps its traceback). `fut` is dropped
                    // before the answer, as a task's future is (a coroutine's locals are gone
                    // when its result is set), and a panic in its drop is its failure.
                    let mut fut = std::pin::pin!(Some(fut));
                    let out = std::future::poll_fn(|cx| {
                        let Some(running) = fut.as_mut().as_pin_mut() else {
                            return Poll::Pending; // not reached: not polled once it is done
                        };
                        match weft_thread::catch_panic(|| running.poll(cx)) {
                            Ok(Poll::Ready(out)) => Poll::Ready(Ok(out)),
                            Ok(Poll::Pending) => Poll::Pending,
                            Err(panic) => Poll::Ready(Err(panicked(&panic))),
                        }
                    })
                    .await;
                    let out = match (weft_thread::catch_panic(|| fut.set(None)), out) {
                        (Err(panic), Ok(_)) => Err(panicked(&panic)),
                        (_, out) => out,
                    };
                    answer.complete(out);
                }
            });
            if let Some(fut) = refused(&slot, &task) {
                return Err(LoopClosed(fut));
            }
            drop(slot);
            // Nobody holds the task: the run winds it down at its end, as a detached task.
            self.run.record(task.abort_handle());
            // The thread's `cancel` cancels the task on the loop.
            let abort = task.abort_handle();
            future.add_done_callback(move |outcome| {
                if matches!(outcome, Err(TaskError::Cancelled)) {
                    abort.abort();
                }
            });
            Ok(future)
        }
    }

    /// The failure of a [`Loop::run_coroutine_threadsafe`] task that panicked.
    fn panicked(panic: &weft_thread::Panicked) -> TaskError {
        TaskError::Panicked {
            message: panic.message().to_owned(),
            location: panic.location().map(str::to_owned),
        }
    }

    /// The promise of a [`Loop::run_coroutine_threadsafe`] task: dropped unanswered (the task
    /// cancelled, or dropped by its runtime's shutdown), it cancels the future.
    struct Answer<T>(Option<Promise<T>>);

    impl<T> Answer<T> {
        fn complete(&mut self, outcome: weft_executor::Outcome<T, std::convert::Infallible>) {
            if let Some(promise) = self.0.take() {
                promise.complete(outcome);
            }
        }
    }

    impl<T> Drop for Answer<T> {
        fn drop(&mut self) {
            if let Some(promise) = self.0.take() {
                promise.cancel();
            }
        }
    }
}

impl fmt::Debug for Loop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Loop")
            .field("runtime", &self.runtime.id())
            .finish_non_exhaustive()
    }
}
