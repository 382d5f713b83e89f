//! Helpers shared by the task, gather, timeout, task-group and lock tests.
#![allow(dead_code, reason = "each test file uses a part")]

use std::sync::Arc;
use std::time::Duration;

/// Long enough that only a cancellation ends a sleep.
pub(crate) const HOUR: Duration = Duration::from_secs(3600);

/// Counts live clones: a task holding a `Probe` is alive until its future is dropped.
#[derive(Clone, Default)]
pub(crate) struct Probe(Arc<()>);

impl Probe {
    /// How many clones other than this one exist.
    pub(crate) fn live(&self) -> usize {
        Arc::strong_count(&self.0) - 1
    }

    /// A future that holds a clone of the probe and sleeps an hour: alive until cancelled.
    pub(crate) fn held_for_an_hour(&self) -> impl std::future::Future<Output = ()> + Send + use<> {
        self.held_for_an_hour_then(())
    }

    /// The same, typed as a task that would return `value` after its hour.
    pub(crate) fn held_for_an_hour_then<T: Send>(
        &self,
        value: T,
    ) -> impl std::future::Future<Output = T> + Send + use<T> {
        let held = self.clone();
        async move {
            let _held = held;
            weft_async::sleep(HOUR).await;
            value
        }
    }
}

/// Runs `f` on a thread of its own and returns its result, failing with `why` unless it returns
/// within ten seconds (a hang fails the test instead of hanging it).
pub(crate) fn within_watchdog<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
    why: &str,
) -> T {
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done_tx.send(f());
    });
    done_rx.recv_timeout(Duration::from_secs(10)).expect(why)
}

/// Runs `main()` in a `run`, under [`within_watchdog`].
pub(crate) fn run_within_watchdog<F>(main: impl FnOnce() -> F + Send + 'static, why: &str)
where
    F: std::future::Future<Output = ()>,
{
    within_watchdog(move || weft_async::run(main()).unwrap(), why);
}

/// Drops `value` inside another `run`, on another thread, and waits for that run to return
/// (blocking the caller's thread: a `run`'s only thread, nothing else runs there meanwhile).
pub(crate) fn drop_in_another_run<T: Send + 'static>(value: T) {
    std::thread::spawn(move || weft_async::run(async move { drop(value) }).unwrap())
        .join()
        .unwrap();
}

/// A panic payload whose own `Drop` panics (`std::panic::panic_any(PanicOnDrop)`): whoever
/// catches it must drop it with `weft_sync::drop_panic_payload`, or its drop's panic escapes.
pub(crate) struct PanicOnDrop;

/// Polls `fut` once, in the task that calls it.
pub(crate) async fn poll_once<F: std::future::Future + Unpin>(
    fut: &mut F,
) -> std::task::Poll<F::Output> {
    std::future::poll_fn(|cx| std::task::Poll::Ready(std::pin::Pin::new(&mut *fut).poll(cx))).await
}

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("the payload's drop panics");
    }
}

/// A waker whose `wake` panics: user code inside a notify or a task's end.
pub(crate) struct PanickingWaker;

impl std::task::Wake for PanickingWaker {
    fn wake(self: Arc<Self>) {
        panic!("this waker panics");
    }
}

/// A waker whose drop (its last clone's) runs a hook: user code that may use the very primitive
/// whose waiter list holds the waker.
struct DropHook(std::sync::Mutex<Option<Box<dyn FnOnce() + Send>>>);

impl std::task::Wake for DropHook {
    fn wake(self: Arc<Self>) {}
}

impl Drop for DropHook {
    fn drop(&mut self) {
        let hook = self.0.get_mut().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(hook) = hook {
            hook();
        }
    }
}

/// A waker that does nothing when woken and runs `hook` when its last clone is dropped.
pub(crate) fn hooked_waker(hook: Option<Box<dyn FnOnce() + Send>>) -> std::task::Waker {
    std::task::Waker::from(Arc::new(DropHook(std::sync::Mutex::new(hook))))
}

/// Polls `fut` to completion on this thread with no tokio runtime current, on a waker that
/// unparks it (a plain executor, as `futures::executor::block_on`).
pub(crate) fn block_on_without_a_runtime<F: std::future::Future>(fut: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = std::task::Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    loop {
        if let std::task::Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::park();
    }
}

/// A timeout whose deadline falls within the clock's last millisecond (less a 0.5 ms margin
/// for the time between this call and the wait's own reading of the clock): the longest
/// timeout that can be added to now, to the nanosecond.
pub(crate) fn timeout_at_the_clock_end() -> Duration {
    let now = tokio::time::Instant::now();
    let fits = |d: Duration| now.checked_add(d).is_some();
    let (mut secs, mut top) = (0u64, u64::MAX);
    while secs < top {
        let mid = secs + (top - secs).div_ceil(2);
        if fits(Duration::from_secs(mid)) {
            secs = mid;
        } else {
            top = mid - 1;
        }
    }
    let (mut nanos, mut top) = (0u32, 999_999_999u32);
    while nanos < top {
        let mid = nanos + (top - nanos).div_ceil(2);
        if fits(Duration::new(secs, mid)) {
            nanos = mid;
        } else {
            top = mid - 1;
        }
    }
    Duration::new(secs, nanos) - Duration::from_micros(500)
}
