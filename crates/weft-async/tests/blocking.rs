//! Behaviour tests of `to_thread` and `run_in_executor`.
//!
//! Re-expressed from CPython's `Lib/test/test_asyncio/test_threads.py` (`test_to_thread`,
//! `test_to_thread_once`, `test_to_thread_concurrent`, `test_to_thread_args_kwargs` —
//! a closure here, `test_to_thread_exception` — a panic) and the `run_in_executor` cases of
//! `Lib/test/test_asyncio/test_events.py` (`test_run_in_executor`,
//! `test_run_in_executor_cancel`). `test_to_thread_contextvars` has no counterpart (Rust has no
//! context variables). Added: the event loop stays responsive while a thread blocks, `run`
//! waits for a running `to_thread` call, `to_thread` outside any runtime, a shut-down pool gives
//! the argument back, `run` inside a `to_thread` function (as `asyncio.run` in a worker thread).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use weft_async::{create_task, gather, run, to_thread, yield_now, RunError, TaskError};

mod common;
use common::{block_on_without_a_runtime, poll_once, PanicOnDrop};

#[test]
fn to_thread_returns_the_value_from_another_thread() {
    let main = std::thread::current().id();
    let (v, other) = run(async {
        to_thread(|| (7, std::thread::current().id()))
            .await
            .unwrap()
    })
    .unwrap();
    assert_eq!(v, 7);
    assert_ne!(other, main);
}

/// A `to_thread` that has given its result is terminated: polled again it stays pending, on
/// the blocking pool (where tokio's `JoinHandle` panicked inside the library) and on its own
/// thread outside a runtime.
#[test]
fn to_thread_polled_again_after_its_result_stays_pending() {
    use futures_util::future::FusedFuture;

    run(async {
        let mut b = to_thread(|| 8);
        assert!(!b.is_terminated());
        assert_eq!((&mut b).await, Ok(8));
        assert!(b.is_terminated());
        assert!(poll_once(&mut b).await.is_pending());
        assert!(format!("{b:?}").contains("done: true"));
    })
    .unwrap();

    let mut outside = to_thread(|| 9);
    assert_eq!(block_on_without_a_runtime(&mut outside), Ok(9));
    assert!(outside.is_terminated());
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    assert!(std::future::Future::poll(std::pin::Pin::new(&mut outside), &mut cx).is_pending());
}

#[test]
fn to_thread_runs_once_and_reports_a_panic() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    run(async move {
        let r = to_thread(move || {
            c.fetch_add(1, Ordering::SeqCst);
            if c.load(Ordering::SeqCst) > 0 {
                panic!("ValueError");
            }
        })
        .await;
        assert_eq!(
            r,
            Err(TaskError::Panicked {
                message: "ValueError".into()
            })
        );
    })
    .unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

/// A panic whose payload panics when dropped is still reported as `Panicked`, in a runtime
/// (tokio's blocking pool) and outside one (a thread of its own, where the old code lost the
/// result and said `Cancelled`).
#[test]
fn to_thread_reports_a_panic_whose_payload_panics_when_dropped() {
    let panicked = |r: Result<(), TaskError>| matches!(r, Err(TaskError::Panicked { message }) if message == "Box<dyn Any>");
    let outside = block_on_without_a_runtime(to_thread(|| std::panic::panic_any(PanicOnDrop)));
    assert!(panicked(outside));
    let inside = run(to_thread(|| std::panic::panic_any(PanicOnDrop))).unwrap();
    assert!(panicked(inside));
}

#[test]
fn blocking_calls_run_concurrently_and_the_loop_stays_responsive() {
    // Two blocking calls that each wait for the other: they can only finish if they run on two
    // threads at once; meanwhile a task on the loop keeps running.
    run(async {
        let barrier = Arc::new(std::sync::Barrier::new(2));
        let calls: Vec<_> = (0..2)
            .map(|i| {
                let b = barrier.clone();
                to_thread(move || {
                    b.wait();
                    i
                })
            })
            .collect();
        let ticks = create_task(async {
            for _ in 0..100 {
                yield_now().await;
            }
            "loop ran"
        });
        assert_eq!(gather(calls).await, Ok(vec![0, 1]));
        assert_eq!(ticks.await, Ok("loop ran"));
    })
    .unwrap();
}

#[test]
fn run_waits_for_a_running_to_thread_call() {
    let finished = Arc::new(AtomicUsize::new(0));
    let f = finished.clone();
    let (started_tx, started_rx) = mpsc::channel();
    run(async move {
        let call = to_thread(move || {
            started_tx.send(()).unwrap();
            std::thread::sleep(Duration::from_millis(30));
            f.fetch_add(1, Ordering::SeqCst);
        });
        // Wait until the thread runs, then give up on it.
        to_thread(move || started_rx.recv().unwrap()).await.unwrap();
        drop(call);
    })
    .unwrap();
    assert_eq!(
        finished.load(Ordering::SeqCst),
        1,
        "run returned before the thread"
    );
}

#[test]
fn to_thread_outside_a_runtime_uses_a_plain_thread() {
    let fut = to_thread(|| 5);
    assert!(format!("{fut:?}").starts_with("ToThread"));
    // Awaited by an executor that is not tokio's.
    assert_eq!(block_on_without_a_runtime(fut), Ok(5));
    let bad = to_thread(|| -> u8 { panic!("outside") });
    assert_eq!(
        block_on_without_a_runtime(bad),
        Err(TaskError::Panicked {
            message: "outside".into()
        })
    );
}

/// `run_in_executor` (feature `executor`, on by default).
#[cfg(feature = "executor")]
mod in_executor {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;

    use weft_async::{gather, run};
    use weft_executor::{SubmitError, ThreadPoolExecutor};

    fn triple(x: u64) -> u64 {
        x * 3
    }

    #[test]
    fn run_in_executor_on_a_thread_pool() {
        let pool = ThreadPoolExecutor::builder()
            .max_workers(2)
            .build()
            .unwrap();
        let r = run(async {
            let calls: Vec<_> = (1..=4)
                .map(|x| weft_async::run_in_executor(&pool, triple, x).unwrap())
                .collect();
            gather(calls).await
        })
        .unwrap();
        assert_eq!(r.unwrap(), [3, 6, 9, 12]);
    }

    static RAN: AtomicUsize = AtomicUsize::new(0);

    fn count(_: ()) {
        RAN.fetch_add(1, Ordering::SeqCst);
    }

    #[test]
    fn dropping_run_in_executor_cancels_a_call_not_started() {
        let pool = ThreadPoolExecutor::builder()
            .max_workers(1)
            .build()
            .unwrap();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let (busy_tx, busy_rx) = mpsc::channel();
        let blocker = pool
            .submit(move || {
                busy_tx.send(()).unwrap();
                release_rx.recv().unwrap();
            })
            .unwrap();
        busy_rx.recv().unwrap();
        let queued = weft_async::run_in_executor(&pool, count, ()).unwrap();
        drop(queued);
        release_tx.send(()).unwrap();
        blocker.result().unwrap();
        pool.shutdown(true, false);
        assert_eq!(RAN.load(Ordering::SeqCst), 0, "the dropped call ran");
    }

    #[test]
    fn run_in_executor_after_shutdown_gives_the_argument_back() {
        let pool = ThreadPoolExecutor::new();
        pool.shutdown(true, false);
        match weft_async::run_in_executor(&pool, triple, 5) {
            Err(SubmitError::ShutDown(arg)) => assert_eq!(arg, 5),
            other => panic!("expected ShutDown, got {other:?}"),
        }
    }

    /// Awaited to its result, the call is terminated: polled again it stays pending (the
    /// pool's future would answer that the result was already taken).
    #[test]
    fn run_in_executor_polled_again_after_its_result_stays_pending() {
        use futures_util::future::FusedFuture;

        let pool = ThreadPoolExecutor::new();
        run(async {
            let mut call = weft_async::run_in_executor(&pool, triple, 4).unwrap();
            assert!(!call.is_terminated());
            assert_eq!((&mut call).await, Ok(12));
            assert!(call.is_terminated());
            assert!(crate::common::poll_once(&mut call).await.is_pending());
        })
        .unwrap();
    }

    #[test]
    fn into_inner_gives_the_pool_future() {
        let pool = ThreadPoolExecutor::new();
        let f = weft_async::run_in_executor(&pool, triple, 2)
            .unwrap()
            .into_inner();
        assert_eq!(f.result().unwrap(), 6);
    }
}

#[test]
fn to_thread_made_outside_run_starts_inside_it_and_run_waits() {
    // From review: made outside any runtime, the call used to start a detached thread at once,
    // which could outlive `run`. Now it starts when polled, on run's pool, which run waits for.
    let done = Arc::new(AtomicUsize::new(0));
    let d = done.clone();
    let (started_tx, started_rx) = mpsc::channel();
    let call = to_thread(move || {
        started_tx.send(()).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        d.fetch_add(1, Ordering::SeqCst);
    });
    assert!(format!("{call:?}").contains("done: false"));
    let r = run(async move {
        let mut call = std::pin::pin!(call);
        // Poll once so it starts, then give up on it.
        let first = futures_util::poll!(call.as_mut());
        assert!(first.is_pending());
        to_thread(move || started_rx.recv().unwrap()).await.unwrap();
    });
    assert!(r.is_ok());
    assert_eq!(
        done.load(Ordering::SeqCst),
        1,
        "run returned before the call ended"
    );
}

/// `asyncio.run` works in a worker thread, and so does `run` in a `to_thread` function: a
/// runtime of its own, with its own tasks. Inside that runtime a `run` is nested again, as it is
/// where the function entered a runtime itself, and a plain blocking thread of the outer
/// runtime (not a `to_thread` function) still refuses.
#[test]
fn run_inside_a_to_thread_function_starts_its_own_runtime() {
    let got = run(async {
        to_thread(|| {
            run(async {
                let inner_nested = matches!(run(async {}), Err(RunError::Nested(_)));
                let doubled = create_task(async { 21 * 2 }).await.unwrap();
                (doubled, inner_nested)
            })
            .map_err(|e| e.to_string())
        })
        .await
    })
    .unwrap();
    assert_eq!(got, Ok(Ok((42, true))));

    let raw = run(async {
        tokio::task::spawn_blocking(|| matches!(run(async {}), Err(RunError::Nested(_))))
            .await
            .unwrap()
    })
    .unwrap();
    assert!(
        raw,
        "a blocking thread that is not a to_thread function refuses"
    );

    // A to_thread function that enters the outer runtime itself: there `run` is nested again,
    // and says so (tokio refuses with a panic, which run turns back into Nested, future and
    // all), instead of the panic reaching the task.
    let entered = run(async {
        to_thread(|| {
            tokio::runtime::Handle::current().block_on(async {
                match run(async { 5 }) {
                    Err(RunError::Nested(fut)) => Some(fut.await),
                    _ => None,
                }
            })
        })
        .await
    })
    .unwrap();
    assert_eq!(entered, Ok(Some(5)));
}
