//! Behaviour tests of [`Future`]: its states, `cancel`, `result`/`result_timeout`, `exception`,
//! done callbacks, and `.await` from tokio.
//!
//! Re-expressed from CPython's `Lib/test/test_concurrent_futures/test_future.py`
//! (`FutureTests`): `test_done_callback_with_result`/`_with_exception`/`_with_cancel`,
//! `test_done_callback_raises`, `test_done_callback_already_successful`/`_already_failed`/
//! `_already_cancelled`, `test_done_callback_raises_already_succeeded`, `test_repr`,
//! `test_cancel`, `test_cancelled`, `test_done`, `test_running`, `test_result_with_timeout`,
//! `test_result_with_success`, `test_result_with_cancel`, `test_exception_with_timeout`,
//! `test_exception_with_success`. CPython builds futures in each state by hand; most of these
//! tests use a pool instead (a pending future is one queued behind a busy worker, a running one
//! the busy task, a finished one [`Future::ready`]), and the later ones a hand-made
//! [`promise`](weft_executor::promise). `test_multiple_set_result` has no counterpart (a
//! promise's `complete` takes it by value, so it completes once), nor `test_get_snapshot`.
//! Added: the timeout edge cases (zero, `Duration::MAX`), callbacks added while the callbacks
//! run, a panic message that is not a string, and awaiting from tokio's current-thread and
//! multi-thread runtimes (issue 6).

mod common;

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use common::{
    assert_pending, cancelled, failed, get, occupy, pool, recv, spawn, succeeded, LONG, SHORT,
    SLACK,
};
use weft_executor::{Future, ResultTimeoutError, TaskError, ThreadPoolExecutor};
use weft_sync::Event;

// ---------------------------------------------------------------------------------------------
// States: test_cancel, test_cancelled, test_done, test_running, test_repr

#[test]
fn states_of_pending_running_cancelled_and_finished_futures() {
    let pool = pool(1);
    let busy = occupy(&pool, 1);
    let pending = pool.submit(|| 1).unwrap();
    let to_cancel = pool.submit(|| 2).unwrap();
    assert!(to_cancel.cancel());
    let running = &busy.futures[0];
    let ok = succeeded(42);
    let err = failed::<i32>("boom");

    // (future, cancelled, running, done)
    let expect = [
        (&pending, false, false, false),
        (&to_cancel, true, false, true),
        (&ok, false, false, true),
        (&err, false, false, true),
    ];
    for (i, (f, c, r, d)) in expect.into_iter().enumerate() {
        assert_eq!(f.cancelled(), c, "cancelled() of case {i}");
        assert_eq!(f.running(), r, "running() of case {i}");
        assert_eq!(f.done(), d, "done() of case {i}");
    }
    assert!(!running.cancelled());
    assert!(running.running());
    assert!(!running.done());

    assert_eq!(format!("{pending:?}"), "Future { state: \"pending\" }");
    assert_eq!(format!("{running:?}"), "Future { state: \"running\" }");
    assert_eq!(format!("{to_cancel:?}"), "Future { state: \"cancelled\" }");
    assert_eq!(format!("{ok:?}"), "Future { state: \"finished\" }");

    busy.release();
    assert_eq!(get(pending), Ok(1));
    assert!(get(to_cancel).unwrap_err().is_cancelled());
}

#[test]
fn cancel_is_true_only_while_pending_and_stays_true() {
    let pool = pool(1);
    let busy = occupy(&pool, 1);
    let ran = Arc::new(AtomicUsize::new(0));
    let r = Arc::clone(&ran);
    let pending = pool
        .submit(move || r.fetch_add(1, Ordering::SeqCst))
        .unwrap();

    // A running task cannot be cancelled and stays running.
    assert!(!busy.futures[0].cancel());
    assert!(busy.futures[0].running());
    assert!(!busy.futures[0].cancelled());

    assert!(pending.cancel());
    assert!(pending.cancelled());
    assert!(pending.done());
    assert!(!pending.running());
    // Cancelling again still answers true (CPython: CANCELLED and CANCELLED_AND_NOTIFIED).
    assert!(pending.cancel());
    assert!(pending.cancelled());

    // Finished futures, with a value or an error, cannot be cancelled.
    let ok = succeeded(5);
    assert!(!ok.cancel());
    assert!(!ok.cancelled());
    let err = failed::<i32>("OSError");
    assert!(!err.cancel());
    assert!(!err.cancelled());

    busy.release();
    assert_eq!(get(pending), Err(TaskError::Cancelled));
    // The pool's only worker is free again and has run everything queued: the cancelled task
    // never ran.
    pool.shutdown(true, false);
    assert_eq!(ran.load(Ordering::SeqCst), 0, "a cancelled task ran");
}

/// A cancelled future is done, as in Python, where `cancel()` sets both under one lock: a
/// thread watching a future that another cancels never finds it cancelled and not done, and a
/// second `cancel()` racing the first returns with the future cancelled and done. (Each round's
/// window is short: over the rounds, the watcher and the second canceller land in it, which
/// they did a few times in a thousand before.)
#[test]
fn a_future_is_done_whenever_it_is_cancelled() {
    for _ in 0..2000 {
        let (_p, f) = weft_executor::promise::<u8, std::convert::Infallible>();
        let start = std::sync::Barrier::new(3);
        let (watched, second) = std::thread::scope(|s| {
            // Watches until the future is done (the main thread's cancel sees to that): whether
            // it found it cancelled and not done on the way.
            let watcher = s.spawn(|| {
                start.wait();
                loop {
                    let cancelled = f.cancelled();
                    let done = f.done();
                    if cancelled && !done {
                        return false;
                    }
                    if done {
                        return true;
                    }
                }
            });
            let second = s.spawn(|| {
                start.wait();
                f.cancel() && f.cancelled() && f.done()
            });
            start.wait();
            assert!(f.cancel());
            (watcher.join().unwrap(), second.join().unwrap())
        });
        assert!(watched, "cancelled but not done");
        assert!(
            second,
            "a second cancel() returned before the future was cancelled and done"
        );
        assert!(f.cancelled() && f.done());
    }
}

#[test]
fn a_finished_task_cannot_be_cancelled() {
    let pool = pool(1);
    let f = pool.submit(|| 7).unwrap();
    assert!(f.wait_timeout(LONG));
    assert!(!f.cancel());
    assert!(!f.cancelled());
    assert_eq!(get(f), Ok(7));
}

// ---------------------------------------------------------------------------------------------
// result and result_timeout: test_result_with_timeout, test_result_with_success,
// test_result_with_cancel

#[test]
fn result_timeout_zero_only_checks() {
    let pool = pool(1);
    let busy = occupy(&pool, 1);
    let pending = pool.submit(|| 3).unwrap();

    let pending = match pending.result_timeout(Duration::ZERO) {
        Err(ResultTimeoutError::Timeout(f)) => f,
        other => panic!("expected a timeout for a pending future, got {other:?}"),
    };
    assert!(!pending.done());
    let running = busy.futures.into_iter().next().unwrap();
    let running = match running.result_timeout(Duration::ZERO) {
        Err(e) if e.is_timeout() => e.into_future().unwrap(),
        other => panic!("expected a timeout for a running future, got {other:?}"),
    };
    assert!(running.running());

    match cancelled::<i32>().result_timeout(Duration::ZERO) {
        Err(ResultTimeoutError::Task(TaskError::Cancelled)) => {}
        other => panic!("expected Cancelled, got {other:?}"),
    }
    match failed::<i32>("OSError").result_timeout(Duration::ZERO) {
        Err(ResultTimeoutError::Task(TaskError::Panicked { message, .. })) => {
            assert_eq!(message, "OSError")
        }
        other => panic!("expected the task's panic, got {other:?}"),
    }
    assert_eq!(succeeded(42).result_timeout(Duration::ZERO).unwrap(), 42);

    busy.gate.set();
    get(running).unwrap();
    assert_eq!(get(pending), Ok(3));
}

#[test]
fn result_timeout_gives_the_future_back_to_wait_again() {
    let pool = pool(1);
    let gate = Arc::new(Event::new());
    let g = Arc::clone(&gate);
    let f = pool
        .submit(move || {
            assert!(g.wait_timeout(LONG));
            "late"
        })
        .unwrap();

    let start = Instant::now();
    let err = f.result_timeout(SHORT).unwrap_err();
    let waited = start.elapsed();
    assert!(waited >= SHORT - SLACK, "returned after {waited:?}");
    assert!(waited < LONG, "returned after {waited:?}");
    assert!(err.is_timeout());
    assert_eq!(err.to_string(), "timed out waiting for the result");
    assert_eq!(format!("{err:?}"), "Timeout(..)");

    // The future is intact: wait again, once more with a timeout, then for good.
    let f = err.into_future().unwrap();
    let f = f.result_timeout(Duration::from_millis(1)).unwrap_err();
    let f = f.into_future().unwrap();
    assert!(!f.done());
    gate.set();
    assert_eq!(f.result_timeout(LONG).unwrap(), "late");
}

#[test]
fn result_timeout_max_waits_until_done() {
    let pool = pool(1);
    let busy = occupy(&pool, 1);
    let f = pool.submit(|| 11).unwrap();
    let waiter = spawn(move || f.result_timeout(Duration::MAX).ok());
    assert_pending(&waiter);
    busy.release();
    assert_eq!(recv(&waiter), Some(11));
}

#[test]
fn wait_timeout_zero_and_max() {
    let pool = pool(1);
    let busy = occupy(&pool, 1);
    let f = pool.submit(|| 1).unwrap();
    assert!(!f.wait_timeout(Duration::ZERO));
    let start = Instant::now();
    assert!(!f.wait_timeout(SHORT));
    assert!(start.elapsed() >= SHORT - SLACK);
    busy.gate.set();
    assert!(f.wait_timeout(Duration::MAX));
    assert!(f.done());
    // The result stays in the future.
    assert!(f.wait_timeout(Duration::ZERO));
    assert_eq!(get(f), Ok(1));
    busy.release();
}

#[test]
fn result_waits_for_a_result_set_from_another_thread() {
    let pool = pool(1);
    let busy = occupy(&pool, 1);
    let f = pool.submit(|| 42).unwrap();
    let gate = Arc::clone(&busy.gate);
    let (tx, rx) = mpsc::channel();
    let releaser = std::thread::spawn(move || {
        // Wait until the main thread is about to block, then let the task run.
        rx.recv().unwrap();
        gate.set();
    });
    tx.send(()).unwrap();
    assert_eq!(get(f), Ok(42));
    releaser.join().unwrap();
    busy.release();
}

#[test]
fn result_wakes_with_cancelled_when_the_pool_cancels_the_future() {
    // CPython's test cancels the future from another thread while `result` waits; a weft future
    // has one owner, so here the pool cancels it (shutdown with cancel_futures).
    let pool = Arc::new(pool(1));
    let busy = occupy(&pool, 1);
    let f = pool.submit(|| 1).unwrap();
    let waiter = spawn(move || get(f));
    assert_pending(&waiter);
    let p = Arc::clone(&pool);
    let shutter = spawn(move || p.shutdown(false, true));
    assert_eq!(recv(&waiter), Err(TaskError::Cancelled));
    recv(&shutter);
    busy.release();
}

#[test]
fn dropping_a_future_does_not_cancel_its_task() {
    let pool = pool(1);
    let (tx, rx) = mpsc::channel();
    drop(pool.submit(move || tx.send(5).unwrap()).unwrap());
    assert_eq!(recv(&rx), 5);
}

#[test]
fn ready_futures_are_done() {
    let f = Future::<_>::ready(Ok("x"));
    assert!(f.done() && !f.running() && !f.cancelled());
    assert_eq!(f.result(), Ok("x"));
    let f = Future::<u8, &str>::ready(Err(TaskError::Failed("no")));
    assert!(f.done());
    assert_eq!(f.exception(), Some(TaskError::Failed("no")));
    assert_eq!(f.result(), Err(TaskError::Failed("no")));
}

// ---------------------------------------------------------------------------------------------
// exception: test_exception_with_timeout, test_exception_with_success

#[test]
fn exception_of_each_kind_of_finished_future() {
    assert_eq!(succeeded(42).exception(), None);
    let e = failed::<i32>("OSError").exception().unwrap();
    assert_eq!(e.panic_message(), Some("OSError"));
    assert!(cancelled::<i32>().exception().unwrap().is_cancelled());

    let pool = pool(1);
    let f = pool
        .submit_fallible(|| "x".parse::<u32>().map_err(|e| e.to_string()))
        .unwrap();
    let e = f.exception().unwrap();
    assert_eq!(
        e,
        TaskError::Failed("invalid digit found in string".to_string())
    );
    assert_eq!(
        e.into_failed().as_deref(),
        Some("invalid digit found in string")
    );
    // exception() leaves the result in the future.
    assert!(f.exception().is_some());
    assert!(matches!(get(f), Err(TaskError::Failed(_))));
}

#[test]
fn exception_waits_for_the_task() {
    let pool = pool(1);
    let busy = occupy(&pool, 1);
    let f = pool.submit(|| -> u8 { panic!("OSError") }).unwrap();
    let waiter = spawn(move || {
        let e = f.exception();
        (e, f.done())
    });
    assert_pending(&waiter);
    busy.release();
    let (e, done) = recv(&waiter);
    assert!(done);
    assert_eq!(e.unwrap().panic_message(), Some("OSError"));
}

#[test]
fn exception_and_wait_timeout_from_several_threads_at_once() {
    // `exception` and `wait_timeout` take `&self` and `Future<T>` is `Sync`, so several threads
    // may wait on one future at the same time: each must be woken.
    let pool = pool(1);
    let busy = occupy(&pool, 1);
    let f = Arc::new(pool.submit(|| -> u8 { panic!("shared") }).unwrap());
    let waiters: Vec<_> = (0..4)
        .map(|i| {
            let f = Arc::clone(&f);
            spawn(move || {
                if i % 2 == 0 {
                    f.exception()
                        .and_then(|e| e.panic_message().map(String::from))
                } else {
                    f.wait_timeout(Duration::MAX).then(|| "done".to_string())
                }
            })
        })
        .collect();
    for w in &waiters {
        assert_pending(w);
    }
    busy.release();
    for (i, w) in waiters.iter().enumerate() {
        let expected = if i % 2 == 0 { "shared" } else { "done" };
        assert_eq!(recv(w).as_deref(), Some(expected), "waiter {i}");
    }
}

#[test]
fn a_waiter_that_times_out_leaves_the_others_waiting() {
    // One thread waits for good, another briefly on the same future; whichever registered
    // first, the one that gives up must not take the other's wake-up with it.
    let pool = pool(1);
    let busy = occupy(&pool, 1);
    let f = Arc::new(pool.submit(|| 5).unwrap());
    let f1 = Arc::clone(&f);
    let forever = spawn(move || f1.wait_timeout(Duration::MAX));
    assert_pending(&forever);
    let f2 = Arc::clone(&f);
    let brief = spawn(move || f2.wait_timeout(SHORT));
    assert!(!recv(&brief));
    let f3 = Arc::clone(&f);
    let brief_first = spawn(move || f3.wait_timeout(SHORT));
    let f4 = Arc::clone(&f);
    let forever_second = spawn(move || f4.exception().is_none());
    assert!(!recv(&brief_first));
    busy.release();
    assert!(recv(&forever));
    assert!(recv(&forever_second));
}

#[test]
fn a_panic_with_a_non_string_payload() {
    let pool = pool(1);
    let f = pool.submit(|| std::panic::panic_any(7_u32)).unwrap();
    let e: TaskError = get(f).unwrap_err();
    assert_eq!(e.panic_message(), Some("Box<dyn Any>"));
    let at = e.panic_location().unwrap();
    assert!(at.contains("future.rs:"), "{at}");
    assert_eq!(
        e.to_string(),
        format!("the task panicked at {at}: Box<dyn Any>")
    );
}

// ---------------------------------------------------------------------------------------------
// Done callbacks: test_done_callback_*

/// What a recording callback saw.
type Seen<T> = mpsc::Receiver<Result<T, TaskError>>;

/// A callback that records what it saw on a channel.
fn recorder<T: Clone + Send + 'static>() -> (impl FnOnce(&Result<T, TaskError>) + Send, Seen<T>) {
    let (tx, rx) = mpsc::channel();
    (
        move |r: &Result<T, TaskError>| tx.send(r.clone()).unwrap(),
        rx,
    )
}

#[test]
fn done_callback_with_result() {
    let pool = pool(1);
    let busy = occupy(&pool, 1);
    let f = pool.submit(|| 5).unwrap();
    let (cb, rx) = recorder();
    f.add_done_callback(cb);
    assert!(rx.try_recv().is_err(), "the callback ran before the task");
    busy.release();
    assert_eq!(recv(&rx), Ok(5));
    assert_eq!(get(f), Ok(5));
}

#[test]
fn done_callback_with_exception() {
    let pool = pool(1);
    let busy = occupy(&pool, 1);
    let f = pool.submit(|| -> i32 { panic!("test") }).unwrap();
    let (cb, rx) = recorder();
    f.add_done_callback(cb);
    busy.release();
    assert_eq!(recv(&rx).unwrap_err().panic_message(), Some("test"));
    drop(f);
}

#[test]
fn done_callback_with_cancel_runs_in_the_cancelling_thread() {
    let pool = pool(1);
    let busy = occupy(&pool, 1);
    let f = pool.submit(|| 1).unwrap();
    let me = std::thread::current().id();
    let (tx, rx) = mpsc::channel();
    f.add_done_callback(move |r: &Result<i32, TaskError>| {
        tx.send((r.clone(), std::thread::current().id())).unwrap()
    });
    assert!(f.cancel());
    // Ran already, here.
    let (r, thread) = rx
        .try_recv()
        .expect("the callback did not run during cancel");
    assert_eq!(r, Err(TaskError::Cancelled));
    assert_eq!(thread, me);
    busy.release();
}

#[test]
fn done_callback_on_already_done_futures_runs_at_once() {
    for (f, expected) in [
        (succeeded(5), Ok(5)),
        (
            failed("test"),
            Err(TaskError::Panicked {
                message: "test".into(),
                location: None,
            }),
        ),
        (cancelled(), Err(TaskError::Cancelled)),
    ] {
        let (cb, rx) = recorder();
        f.add_done_callback(cb);
        assert_eq!(rx.try_recv(), Ok(expected));
    }
}

/// Two futures finish at once on two workers, and each one's done callback, while the other's
/// runs, asks the other's `exception()`: a value is answered from the state (each waited for
/// the other's callbacks, which hold the result: a deadlock). Python's callbacks do this
/// freely.
#[test]
fn callbacks_running_at_once_may_ask_each_others_exception() {
    let pool = pool(2);
    let gate = Arc::new(Event::new());
    let futures: Vec<Arc<Future<i32>>> = (0..2)
        .map(|i| {
            let gate = Arc::clone(&gate);
            Arc::new(
                pool.submit(move || {
                    gate.wait();
                    i
                })
                .unwrap(),
            )
        })
        .collect();
    let both_running = Arc::new(std::sync::Barrier::new(2));
    let (tx, rx) = mpsc::channel();
    for (mine, other) in [(0, 1), (1, 0)] {
        let (other, both_running, tx) = (
            Arc::clone(&futures[other]),
            Arc::clone(&both_running),
            tx.clone(),
        );
        futures[mine].add_done_callback(move |_| {
            both_running.wait();
            tx.send((mine, other.exception().is_none())).unwrap();
        });
    }
    gate.set();
    let seen: Result<Vec<(usize, bool)>, _> = (0..2).map(|_| rx.recv_timeout(LONG)).collect();
    let Ok(mut seen) = seen else {
        std::mem::forget(pool); // its workers are stuck: dropping it would join them
        panic!("the callbacks waited for each other");
    };
    seen.sort_unstable();
    assert_eq!(seen, [(0, true), (1, true)]);
}

#[test]
fn done_callbacks_run_in_order_before_result_returns() {
    let pool = pool(1);
    let busy = occupy(&pool, 1);
    let f = pool.submit(|| 3).unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    for i in 0..10 {
        let log = Arc::clone(&log);
        f.add_done_callback(move |r| log.lock().unwrap().push((i, r.clone().unwrap())));
    }
    busy.release();
    assert_eq!(get(f), Ok(3));
    let log = log.lock().unwrap();
    assert_eq!(*log, (0..10).map(|i| (i, 3)).collect::<Vec<_>>());
}

#[test]
fn a_panicking_callback_does_not_stop_the_later_ones() {
    let pool = pool(1);
    let busy = occupy(&pool, 1);
    let f = pool.submit(|| 5).unwrap();
    let raising_was_called = Arc::new(AtomicUsize::new(0));
    let r = Arc::clone(&raising_was_called);
    f.add_done_callback(move |_| {
        r.fetch_add(1, Ordering::SeqCst);
        panic!("doh!");
    });
    let (cb, rx) = recorder();
    f.add_done_callback(cb);
    busy.release();
    // The task's result is unaffected, and the later callback ran.
    assert_eq!(get(f), Ok(5));
    assert_eq!(raising_was_called.load(Ordering::SeqCst), 1);
    assert_eq!(rx.try_recv(), Ok(Ok(5)));
    // The pool's worker survived the panicking callback.
    assert_eq!(get(pool.submit(|| 6).unwrap()), Ok(6));
}

#[test]
fn a_panicking_callback_on_a_done_future_does_not_reach_the_caller() {
    let f = succeeded(5);
    f.add_done_callback(|_| panic!("doh!"));
    let (cb, rx) = recorder();
    f.add_done_callback(cb);
    assert_eq!(rx.try_recv(), Ok(Ok(5)));
    assert_eq!(f.result(), Ok(5));
}

/// Set in the child process of [`a_panicking_callback_is_reported_on_stderr`].
const CHILD: &str = "WEFT_EXECUTOR_TEST_CALLBACK_CHILD";

#[test]
fn a_panicking_callback_is_reported_on_stderr() {
    // The report is written straight to the process's stderr (not through the test harness's
    // capture), so the scenario runs in a child process: this test binary again, this test only.
    if std::env::var_os(CHILD).is_some() {
        let pool = pool(1);
        let busy = occupy(&pool, 1);
        let f = pool.submit(|| 5).unwrap();
        f.add_done_callback(|_| panic!("doh, while completing!"));
        busy.release();
        assert_eq!(get(f), Ok(5));
        succeeded(1).add_done_callback(|_| panic!("doh, already done!"));
        return;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_panicking_callback_is_reported_on_stderr",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed: {stderr}");
    // Once each, with the location (Python logs `exception calling callback` once, with the
    // traceback): not by the panic hook as well.
    for message in ["doh, while completing!", "doh, already done!"] {
        assert_eq!(
            stderr.matches(message).count(),
            1,
            "{message:?} in: {stderr}"
        );
    }
    assert_eq!(
        stderr
            .matches(
                "weft-executor: a done callback panicked at crates/weft-executor/tests/future.rs:"
            )
            .count(),
        2,
        "{stderr}"
    );
    assert!(
        !stderr.contains("thread '"),
        "printed by the panic hook: {stderr}"
    );
}

#[test]
fn a_callback_on_a_done_future_may_use_the_same_future() {
    let f = Arc::new(succeeded(5));
    let f2 = Arc::clone(&f);
    let (tx, rx) = mpsc::channel();
    // On another thread, so that a deadlock fails the test instead of hanging it.
    std::thread::spawn(move || {
        let f3 = Arc::clone(&f2);
        f2.add_done_callback(move |_| tx.send(f3.exception().is_none()).unwrap());
    });
    assert!(recv(&rx));
    drop(f);
}

/// A callback that moves its own future's value out (Python's `fut.result()` in a callback)
/// gets `BrokenPool`, as `add_done_callback` documents: the callbacks of this thread hold the
/// value. The reason says so, rather than blaming a poll.
#[test]
fn a_callback_that_takes_its_own_futures_result_is_told_the_callbacks_hold_it() {
    let (p, f) = weft_executor::promise::<u8, std::convert::Infallible>();
    let slot = Arc::new(Mutex::new(None::<Future<u8>>));
    let s = Arc::clone(&slot);
    let (tx, rx) = mpsc::channel();
    f.add_done_callback(move |seen| {
        assert_eq!(seen, &Ok(9));
        let own = s.lock().unwrap().take().expect("the future is in the slot");
        tx.send(own.result()).unwrap();
    });
    *slot.lock().unwrap() = Some(f);
    std::thread::spawn(move || p.complete(Ok(9)));
    match recv(&rx) {
        Err(TaskError::BrokenPool { reason }) => {
            assert!(reason.contains("own done callbacks"), "{reason}")
        }
        other => panic!("expected BrokenPool, got {other:?}"),
    }
}

#[test]
fn a_callback_added_while_the_callbacks_run_runs_exactly_once() {
    let pool = pool(1);
    let busy = occupy(&pool, 1);
    let f = pool.submit(|| 9).unwrap();
    let (started_tx, started) = mpsc::channel();
    let go_on = Arc::new(Event::new());
    let g = Arc::clone(&go_on);
    f.add_done_callback(move |_| {
        started_tx.send(()).unwrap();
        assert!(g.wait_timeout(LONG));
    });
    busy.gate.set();
    // The first callback is running on the worker: the task is completing.
    recv(&started);
    let count = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&count);
    f.add_done_callback(move |r| {
        assert_eq!(*r, Ok(9));
        c.fetch_add(1, Ordering::SeqCst);
    });
    go_on.set();
    assert_eq!(get(f), Ok(9));
    assert_eq!(count.load(Ordering::SeqCst), 1);
    busy.release();
}

/// A callback added by a running callback is queued behind the ones added before it: they run
/// in the order they were added, as the docs say. (Python runs it at once, inside the first
/// callback, since its future is done: `a`, `c`, `b`.)
#[test]
fn a_callback_added_by_a_callback_runs_after_the_ones_added_before_it() {
    let (p, f) = weft_executor::promise::<u8, std::convert::Infallible>();
    let f = Arc::new(f);
    let order = Arc::new(Mutex::new(Vec::new()));
    let (o, own) = (Arc::clone(&order), Arc::clone(&f));
    f.add_done_callback(move |_| {
        o.lock().unwrap().push('a');
        let o = Arc::clone(&o);
        own.add_done_callback(move |_| o.lock().unwrap().push('c'));
    });
    let o = Arc::clone(&order);
    f.add_done_callback(move |_| o.lock().unwrap().push('b'));
    let completer = std::thread::spawn(move || p.complete(Ok(1)));
    // The callbacks run on the completing thread, all of them before it returns.
    completer.join().unwrap();
    assert_eq!(*order.lock().unwrap(), ['a', 'b', 'c']);
}

#[test]
fn callbacks_added_while_tasks_complete_each_run_exactly_once() {
    // Races add_done_callback against completion: whichever wins, each callback runs once.
    let pool = pool(4);
    let count = Arc::new(AtomicUsize::new(0));
    let n = 2000;
    let futures: Vec<_> = (0..n)
        .map(|i| {
            let f = pool.submit(move || i).unwrap();
            let c = Arc::clone(&count);
            f.add_done_callback(move |r| {
                assert_eq!(*r, Ok(i));
                c.fetch_add(1, Ordering::SeqCst);
            });
            f
        })
        .collect();
    for (i, f) in futures.into_iter().enumerate() {
        assert_eq!(get(f), Ok(i));
    }
    assert_eq!(count.load(Ordering::SeqCst), n);
}

#[test]
fn the_future_is_done_when_its_callbacks_run() {
    // Python runs the callbacks after the future is FINISHED: a callback that tells another
    // thread "this future is done" is telling the truth, so that thread's `done()` (or a
    // zero-timeout `result`, or `wait`) sees it done.
    let pool = pool(1);
    let busy = occupy(&pool, 1);
    let f = pool.submit(|| 1).unwrap();
    let (tx, rx) = mpsc::channel();
    f.add_done_callback(move |_| tx.send(()).unwrap());
    let hold = Arc::new(Event::new());
    let h = Arc::clone(&hold);
    f.add_done_callback(move |_| assert!(h.wait_timeout(LONG)));
    busy.gate.set();
    recv(&rx);
    let done_in_callback = f.done();
    hold.set();
    assert_eq!(get(f), Ok(1));
    busy.release();
    assert!(
        done_in_callback,
        "a done callback ran while the future was not done"
    );
}

// ---------------------------------------------------------------------------------------------
// `.await` from tokio (issue 6)

#[test]
fn awaited_from_a_current_thread_runtime() {
    let pool = pool(2);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let busy = occupy(&pool, 1);
    let queued = pool.submit(|| 20).unwrap();
    let ready = pool.submit(|| 22).unwrap();
    let gate = Arc::clone(&busy.gate);
    let total = rt.block_on(async move {
        let a = tokio::time::timeout(LONG, ready).await.unwrap().unwrap();
        // The queued task runs only once the busy one ends: release it from the runtime.
        gate.set();
        let b = tokio::time::timeout(LONG, queued).await.unwrap().unwrap();
        a + b
    });
    assert_eq!(total, 42);
    busy.release();
}

#[test]
fn awaited_from_a_multi_thread_runtime() {
    let pool = Arc::new(pool(4));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    let sum = rt.block_on(async {
        let tasks: Vec<_> = (0..200u64)
            .map(|i| {
                let f = pool.submit(move || i * 2).unwrap();
                tokio::spawn(async move { tokio::time::timeout(LONG, f).await.unwrap().unwrap() })
            })
            .collect();
        let mut sum = 0;
        for t in tasks {
            sum += t.await.unwrap();
        }
        sum
    });
    assert_eq!(sum, (0..200u64).map(|i| i * 2).sum::<u64>());
}

#[test]
fn awaiting_a_failed_or_cancelled_future() {
    let pool = pool(1);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let busy = occupy(&pool, 1);
    let panics = pool.submit(|| -> u8 { panic!("async boom") }).unwrap();
    let to_cancel = pool.submit(|| 0_u8).unwrap();
    let gate = Arc::clone(&busy.gate);
    rt.block_on(async move {
        assert!(to_cancel.cancel());
        assert_eq!(to_cancel.await, Err(TaskError::Cancelled));
        gate.set();
        let e = tokio::time::timeout(LONG, panics)
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(e.panic_message(), Some("async boom"));
    });
    busy.release();
}

#[test]
fn an_await_that_times_out_leaves_the_task_running() {
    // Dropping the `.await` (here by tokio's timeout) drops the future, which does not cancel
    // the task (as dropping a future never does).
    let pool = pool(1);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let gate = Arc::new(Event::new());
    let g = Arc::clone(&gate);
    let (tx, rx) = mpsc::channel();
    let f = pool
        .submit(move || {
            assert!(g.wait_timeout(LONG));
            tx.send("ran").unwrap();
        })
        .unwrap();
    let timed_out = rt.block_on(async { tokio::time::timeout(SHORT, f).await.is_err() });
    assert!(timed_out);
    gate.set();
    assert_eq!(recv(&rx), "ran");
}

/// Awaited by reference, a future hands its result over, as the `Future` docs say: it stays
/// done, and a later `result`, `exception` and done callback answer `BrokenPool` "already taken
/// by an .await" (Python's future keeps its result after `await asyncio.wrap_future(f)`).
#[test]
fn a_future_awaited_by_reference_has_handed_its_result_over() {
    let pool = pool(1);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let mut f = pool.submit_fallible(|| Err::<u8, _>("bad")).unwrap();
    let awaited = rt.block_on(async { tokio::time::timeout(LONG, &mut f).await.unwrap() });
    assert_eq!(awaited, Err(TaskError::Failed("bad")));
    assert!(f.done());
    assert!(!f.cancelled());
    let taken = |e: Option<TaskError<&str>>| match e {
        Some(TaskError::BrokenPool { reason }) => {
            assert!(reason.contains("already taken by an .await"), "{reason}")
        }
        other => panic!("expected BrokenPool, got {other:?}"),
    };
    taken(f.exception());
    let (tx, rx) = mpsc::channel();
    f.add_done_callback(move |r| tx.send(r.clone().err()).unwrap());
    taken(rx.try_recv().expect("the callback ran at once"));
    taken(f.result().err());
}

#[test]
fn pool_built_in_a_test_helper_is_usable_from_async_code() {
    // A pool can be shared with async tasks through an Arc and submitted to from them.
    let pool = Arc::new(
        ThreadPoolExecutor::builder()
            .max_workers(2)
            .build()
            .unwrap(),
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    let p = Arc::clone(&pool);
    let v = rt.block_on(async move {
        tokio::spawn(async move {
            let f = p.submit(|| "from a task").unwrap();
            tokio::time::timeout(LONG, f).await.unwrap().unwrap()
        })
        .await
        .unwrap()
    });
    assert_eq!(v, "from a task");
}

/// A waker that sets an event, or panics.
struct TestWaker {
    woken: Arc<Event>,
    panic: bool,
}

impl std::task::Wake for TestWaker {
    fn wake(self: Arc<Self>) {
        self.woken.set();
        assert!(!self.panic, "this waker panics");
    }
}

fn test_waker(panic: bool) -> (std::task::Waker, Arc<Event>) {
    let woken = Arc::new(Event::new());
    let waker = std::task::Waker::from(Arc::new(TestWaker {
        woken: Arc::clone(&woken),
        panic,
    }));
    (waker, woken)
}

#[test]
fn a_panicking_waker_strands_no_other_waiter_or_callback() {
    use std::future::Future as _;
    use std::pin::Pin;
    use std::task::Context;
    let pool = pool(1);
    let busy = occupy(&pool, 1);
    let mut f = pool.submit(|| -> u32 { panic!("task") }).unwrap();
    let (waker, woken) = test_waker(true);
    assert!(Pin::new(&mut f)
        .poll(&mut Context::from_waker(&waker))
        .is_pending());
    let (tx, called) = mpsc::channel();
    f.add_done_callback(move |_| tx.send(()).unwrap());
    std::thread::scope(|s| {
        let other = s.spawn(|| f.exception());
        busy.release();
        assert!(woken.wait_timeout(LONG));
        recv(&called);
        assert_eq!(other.join().unwrap().unwrap().panic_message(), Some("task"));
    });
    // Later callbacks still run (nothing was left marked as running).
    let (tx, called) = mpsc::channel();
    f.add_done_callback(move |_| tx.send(()).unwrap());
    recv(&called);
}

#[test]
fn polling_does_not_block_while_callbacks_run_on_another_thread() {
    use std::future::Future as _;
    use std::pin::Pin;
    use std::task::{Context, Poll};
    let pool = pool(1);
    // The task finishes only after the callback is added, so the callback runs on the worker
    // (added to a finished future, it would run here, at once).
    let release = Arc::new(Event::new());
    let r = Arc::clone(&release);
    let mut f = pool
        .submit(move || {
            assert!(r.wait_timeout(LONG));
            1
        })
        .unwrap();
    let (started_tx, started) = mpsc::channel();
    let go = Arc::new(Event::new());
    let g = Arc::clone(&go);
    f.add_done_callback(move |_| {
        started_tx.send(()).unwrap();
        assert!(g.wait_timeout(LONG));
    });
    release.set();
    recv(&started);
    assert!(f.done());
    let (waker, woken) = test_waker(false);
    let mut cx = Context::from_waker(&waker);
    // Were poll to wait for the callback, it would return only after LONG, and Ready.
    assert!(Pin::new(&mut f).poll(&mut cx).is_pending());
    go.set();
    assert!(
        woken.wait_timeout(LONG),
        "the task is woken after the callbacks"
    );
    assert_eq!(Pin::new(&mut f).poll(&mut cx), Poll::Ready(Ok(1)));
}

/// A done callback that panics with a payload whose own `Drop` panics: the completion goes on
/// (the later callbacks run, the result is there), instead of stopping halfway with the future
/// marked as running its callbacks for ever.
#[test]
fn a_callback_panic_whose_payload_panics_when_dropped_stops_nothing() {
    struct PanicOnDrop;
    impl Drop for PanicOnDrop {
        fn drop(&mut self) {
            panic!("the payload's drop panics");
        }
    }
    let pool = ThreadPoolExecutor::builder()
        .max_workers(1)
        .build()
        .unwrap();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let f = pool
        .submit(move || {
            go_rx.recv().unwrap();
            7u32
        })
        .unwrap();
    let later = Arc::new(AtomicUsize::new(0));
    f.add_done_callback(|_| std::panic::panic_any(PanicOnDrop));
    let l = Arc::clone(&later);
    f.add_done_callback(move |r| {
        assert_eq!(r.as_ref().ok(), Some(&7));
        l.fetch_add(1, Ordering::SeqCst);
    });
    go_tx.send(()).unwrap();
    match f.result_timeout(Duration::from_secs(10)) {
        Ok(v) => assert_eq!(v, 7),
        Err(e) => panic!("{e:?}"),
    }
    assert_eq!(later.load(Ordering::SeqCst), 1, "the later callback ran");
}

// ---------------------------------------------------------------------------------------------
// Promise::complete_then: when `free` runs, and a `free` that panics

#[test]
fn a_panicking_free_still_publishes_the_result_and_reaches_the_completer() {
    // Without a done callback, `free` runs before the result is published; its panic must not
    // lose the value (the promise's drop would otherwise report a dropped task).
    let (p, f) = weft_executor::promise::<u32, std::convert::Infallible>();
    let waiter = spawn(move || f.result_timeout(LONG).ok());
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        p.complete_then(Ok(7), || panic!("free failed"))
    }));
    let payload = caught.expect_err("the panic of `free` goes on to the completer");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"free failed"));
    assert_eq!(recv(&waiter), Some(7));
}

#[test]
fn a_panicking_free_after_the_callbacks_still_publishes_the_result() {
    let (p, f) = weft_executor::promise::<u32, std::convert::Infallible>();
    let (tx, rx) = mpsc::channel();
    f.add_done_callback(move |r| tx.send(r.as_ref().ok().copied()).unwrap());
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        p.complete_then(Ok(8), || panic!("free failed"))
    }));
    assert!(caught.is_err());
    assert_eq!(rx.try_recv(), Ok(Some(8)));
    assert_eq!(f.result(), Ok(8));
}

/// A promise dropped unanswered fails its future with `BrokenPool` (Python's `Future()` never
/// set hangs), and the reason says whether the task had started.
#[test]
fn a_dropped_promise_says_whether_its_task_had_started() {
    let reason = |r: Result<u32, TaskError>| match r {
        Err(TaskError::BrokenPool { reason }) => reason,
        other => panic!("expected BrokenPool, got {other:?}"),
    };
    let (p, f) = weft_executor::promise::<u32, std::convert::Infallible>();
    drop(p);
    assert_eq!(reason(f.result()), "the task was dropped before it ran");
    let (p, f) = weft_executor::promise::<u32, std::convert::Infallible>();
    assert!(p.set_running());
    // Another thread drops it while this one waits: the waiter is woken.
    std::thread::spawn(move || drop(p));
    assert_eq!(
        reason(f.result()),
        "the task was dropped before it finished"
    );
}

#[test]
fn free_runs_once_before_publishing_after_the_callbacks_or_at_once_when_cancelled() {
    // No done callback: `free` runs once, before the result is published.
    let (p, f) = weft_executor::promise::<u32, std::convert::Infallible>();
    let runs = AtomicUsize::new(0);
    p.complete_then(Ok(1), || {
        runs.fetch_add(1, Ordering::SeqCst);
        assert!(!f.done(), "free ran after the result was published");
    });
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!(f.result(), Ok(1));

    // A done callback: `free` runs once, after it, on this thread.
    let (p, f) = weft_executor::promise::<u32, std::convert::Infallible>();
    let order = Arc::new(Mutex::new(Vec::new()));
    let o = Arc::clone(&order);
    f.add_done_callback(move |_| o.lock().unwrap().push("callback"));
    p.complete_then(Ok(2), || order.lock().unwrap().push("free"));
    assert_eq!(*order.lock().unwrap(), ["callback", "free"]);
    assert_eq!(f.result(), Ok(2));

    // Cancelled meanwhile: `free` runs at once, even when it panics, and the future stays
    // cancelled (the promise's drop during the unwind completes nothing).
    let (p, f) = weft_executor::promise::<u32, std::convert::Infallible>();
    assert!(f.cancel());
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        p.complete_then(Ok(3), || panic!("free failed"))
    }));
    assert!(caught.is_err(), "the panic of `free` goes on to the caller");
    assert!(f.cancelled());
    assert_eq!(f.result(), Err(TaskError::Cancelled));
}

/// A waker that owns a future's promise: dropping the waker drops the promise, which completes
/// the future (`BrokenPool`).
struct PromiseWaker(Mutex<Option<weft_executor::Promise<u32>>>);

impl std::task::Wake for PromiseWaker {
    fn wake(self: Arc<Self>) {}
}

impl Drop for PromiseWaker {
    fn drop(&mut self) {
        drop(self.0.lock().unwrap().take());
    }
}

/// A pending future polled once with a [`PromiseWaker`] holding its own promise, which it now
/// holds the only handle on: whoever replaces that waker drops the promise.
fn left_with_its_promise_waker() -> Future<u32, std::convert::Infallible> {
    use std::future::Future as _;
    use std::pin::Pin;
    use std::task::Context;
    let (promise, mut f) = weft_executor::promise();
    let waker = std::task::Waker::from(Arc::new(PromiseWaker(Mutex::new(Some(promise)))));
    assert!(Pin::new(&mut f)
        .poll(&mut Context::from_waker(&waker))
        .is_pending());
    f
}

/// The waker a poll replaces is the task's code when dropped: here its drop completes the very
/// future being polled, which takes the future's lock. Dropped under that lock, it deadlocked.
#[test]
fn a_replaced_waker_may_use_the_future_as_it_drops() {
    use std::future::Future as _;
    use std::pin::Pin;
    use std::task::{Context, Poll};
    let done = spawn(|| {
        let mut f = left_with_its_promise_waker();
        let (second, woken) = test_waker(false);
        assert!(Pin::new(&mut f)
            .poll(&mut Context::from_waker(&second))
            .is_pending());
        assert!(
            woken.wait_timeout(LONG),
            "the promise's drop woke the new waker"
        );
        match Pin::new(&mut f).poll(&mut Context::from_waker(&second)) {
            Poll::Ready(Err(TaskError::BrokenPool { reason })) => reason,
            other => panic!("expected the dropped promise's error, got {other:?}"),
        }
    });
    assert_eq!(recv(&done), "the task was dropped before it ran");
}

/// The same through `wait`, which makes its group the future's waiter in place of the waker an
/// earlier poll left.
#[test]
fn a_waker_replaced_by_wait_may_use_the_future_as_it_drops() {
    let done = spawn(|| {
        let f = left_with_its_promise_waker();
        let waited = weft_executor::wait([f], Some(LONG), weft_executor::ReturnWhen::AllCompleted);
        assert!(waited.not_done.is_empty());
        let f = waited.done.into_iter().next().unwrap();
        match f.result() {
            Err(TaskError::BrokenPool { reason }) => reason,
            other => panic!("expected the dropped promise's error, got {other:?}"),
        }
    });
    assert_eq!(recv(&done), "the task was dropped before it ran");
}
