//! Behaviour tests of async context managers: [`async_with`], [`context_manager`] and
//! [`AsyncExitStack`].
//!
//! Re-expressed from CPython's `Lib/test/test_contextlib_async.py`
//! (`AsyncContextManagerTestCase`): `test_contextmanager_plain`, `test_contextmanager_finally`,
//! `test_contextmanager_except`, `test_contextmanager_no_reraise`,
//! `test_contextmanager_wrap_runtimeerror`, and a single-use manager entered twice (an
//! `AttributeError` in CPython 3.11; a panic here); from its `TestAsyncExitStack`:
//! `test_async_callback`, `test_async_push`, `test_async_enter_context`,
//! `test_async_exit_exception_chaining`; and from
//! `TestBaseExitStack` in `Lib/test/test_contextlib.py`, which `TestAsyncExitStack` inherits:
//! `test_no_resources`, `test_close`, `test_pop_all`, `test_exit_raise`, `test_exit_suppress`,
//! `test_exit_exception_non_suppressing`, `test_exit_exception_with_correct_context`,
//! `test_body_exception_suppress`, `test_exit_exception_chaining_suppress`,
//! `test_excessive_nesting`. Python's exception classes become [`Fail`] values; `__context__`
//! chains become [`WithError::Exit`]'s `body` and [`StackError::context`](weft_async::StackError).
//! The cases about generator protocol details (`StopIteration`, a second `yield`), decorator
//! metadata and keyword arguments have no counterpart: a manager here is two closures.
//!
//! Added: enter failing (body and exit skipped), exit failing after success, a panic in the body
//! (exit sees it, the panic resumes, it cannot be suppressed), nested `async_with`, use inside
//! `tokio::spawn` on a multi-thread runtime, and what happens when the future running
//! `async_with` or an unclosed stack is dropped: with a runtime, without one, at shutdown, and
//! in a task still running when `run`'s future completes (its exits run before `run` returns,
//! as `asyncio.run` lets the tasks it cancels clean up).
//!
//! Every event goes through an unbounded channel, so a test waits for an exit running on a
//! spawned task by receiving its event; nothing sleeps to synchronize (the exits that await a
//! 1 ms timer only show that the runtime still runs while they do).

use std::fmt;
use std::future::pending;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::FutureExt;
use tokio::sync::mpsc;
use weft_async::{
    async_with, context_manager, create_task, run, run_multi_thread, AsyncContextManager,
    AsyncExitStack, Exit, Outcome, TaskGroup, WithError,
};
use weft_sync::panic_message;

mod common;
use common::PanicOnDrop;

// ---------------------------------------------------------------------------------------------
// Helpers

/// How long [`Events::next`] waits before failing the test.
const WATCHDOG: Duration = Duration::from_secs(10);

/// A test error (Python's exception classes: `Fail("ZeroDivisionError")`).
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
struct Fail(&'static str);

impl fmt::Display for Fail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for Fail {}

/// The sending side of an event log.
#[derive(Clone)]
struct Log(mpsc::UnboundedSender<String>);

impl Log {
    fn push(&self, event: impl Into<String>) {
        // The receiver lives as long as the test.
        let _ = self.0.send(event.into());
    }
}

/// The receiving side of an event log.
struct Events(mpsc::UnboundedReceiver<String>);

impl Events {
    /// Every event logged so far.
    fn drain(&mut self) -> Vec<String> {
        let mut events = Vec::new();
        while let Ok(e) = self.0.try_recv() {
            events.push(e);
        }
        events
    }

    /// The next event, waiting for it (an exit on a spawned task). The watchdog only turns a
    /// missing event into a failure instead of a hang; no test waits for it to expire.
    async fn next(&mut self) -> String {
        match tokio::time::timeout(WATCHDOG, self.0.recv()).await {
            Ok(event) => event.expect("a log sender is alive"),
            Err(_) => panic!("no event within {WATCHDOG:?}"),
        }
    }
}

fn log() -> (Log, Events) {
    let (tx, rx) = mpsc::unbounded_channel();
    (Log(tx), Events(rx))
}

/// How an exit saw the body end, as a log line.
fn describe(outcome: &Outcome<'_>) -> String {
    match outcome {
        Outcome::Success => "success".to_owned(),
        Outcome::Error(e) => format!("error {e}"),
        Outcome::Panicked(message) => format!("panicked {message}"),
        Outcome::Cancelled => "cancelled".to_owned(),
    }
}

/// A hand-written manager that logs its enter and exit, each after a real suspension.
struct Recorder {
    name: &'static str,
    log: Log,
    enter_fails: bool,
    exit_fails: bool,
    suppress: bool,
}

impl Recorder {
    fn new(name: &'static str, log: &Log) -> Self {
        Recorder {
            name,
            log: log.clone(),
            enter_fails: false,
            exit_fails: false,
            suppress: false,
        }
    }
}

impl AsyncContextManager for Recorder {
    type Resource = String;
    type Error = Fail;
    type Exit = Exit;

    async fn enter(&mut self) -> Result<String, Fail> {
        tokio::task::yield_now().await;
        self.log.push(format!("enter {}", self.name));
        if self.enter_fails {
            return Err(Fail("enter failed"));
        }
        Ok(format!("{}-resource", self.name))
    }

    async fn exit(self, resource: String, outcome: Outcome<'_>) -> Result<Exit, Fail> {
        tokio::task::yield_now().await;
        self.log
            .push(format!("exit {resource}: {}", describe(&outcome)));
        if self.exit_fails {
            return Err(Fail("exit failed"));
        }
        Ok(if self.suppress {
            Exit::Suppress
        } else {
            Exit::Propagate
        })
    }
}

/// A manager whose teardown only logs, from `context_manager` (Python's
/// `@asynccontextmanager` with `try: yield finally: log`).
fn logged(
    name: &'static str,
    log: &Log,
) -> impl AsyncContextManager<Resource = &'static str, Error = Fail, Exit = ()> + Send + use<> {
    let (enter_log, exit_log) = (log.clone(), log.clone());
    context_manager(
        move || async move {
            enter_log.push(format!("enter {name}"));
            Ok(name)
        },
        move |name, outcome| {
            let how = describe(&outcome);
            async move {
                exit_log.push(format!("exit {name}: {how}"));
                Ok(())
            }
        },
    )
}

/// A manager whose exit fails with `error`.
fn failing_exit(
    error: &'static str,
) -> impl AsyncContextManager<Resource = (), Error = Fail, Exit = ()> + Send + 'static {
    context_manager(
        || async { Ok(()) },
        move |(), _| async move { Err(Fail(error)) },
    )
}

/// A resource whose drop is logged.
struct Tracked {
    name: &'static str,
    dropped: Arc<Mutex<Vec<&'static str>>>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.dropped.lock().unwrap().push(self.name);
    }
}

// ---------------------------------------------------------------------------------------------
// async_with and context_manager

/// test_contextmanager_plain
#[tokio::test]
async fn enter_body_exit_in_order_and_the_value_comes_back() {
    let state = Arc::new(Mutex::new(Vec::new()));
    let (s1, s2) = (Arc::clone(&state), Arc::clone(&state));
    let woohoo = context_manager(
        move || async move {
            s1.lock().unwrap().push(1);
            Ok::<_, Fail>(42)
        },
        move |_, _| async move {
            s2.lock().unwrap().push(999);
            Ok(())
        },
    );
    let body_state = Arc::clone(&state);
    let r = async_with(woohoo, async |x| {
        assert_eq!(*body_state.lock().unwrap(), [1]);
        assert_eq!(*x, 42);
        body_state.lock().unwrap().push(*x);
        Ok::<_, Fail>("value")
    })
    .await;
    assert_eq!(r.unwrap(), "value");
    assert_eq!(*state.lock().unwrap(), [1, 42, 999]);
}

/// test_contextmanager_finally: the exit runs after an error, which propagates.
#[tokio::test]
async fn exit_runs_after_a_body_error_which_propagates() {
    let (log, mut events) = log();
    let r = async_with(Recorder::new("cm", &log), async |res| {
        res.push_str("-used");
        Err::<(), _>(Fail("ZeroDivisionError"))
    })
    .await;
    match r {
        Err(WithError::Body(e)) => assert_eq!(e, Fail("ZeroDivisionError")),
        other => panic!("expected the body's error, got {other:?}"),
    }
    assert_eq!(
        events.drain(),
        ["enter cm", "exit cm-resource-used: error ZeroDivisionError"]
    );
}

/// The exit can look at the body's error by type (Python's `except ZeroDivisionError as e`),
/// whatever the body's error type: a concrete error, a boxed one, a string.
#[tokio::test]
async fn exit_sees_the_body_error_by_type() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let inspect = |seen: &Arc<Mutex<Vec<String>>>| {
        let seen = Arc::clone(seen);
        context_manager(
            || async { Ok::<_, Fail>(()) },
            move |(), outcome: Outcome<'_>| {
                let e = outcome.error().expect("the body failed");
                let kind = if let Some(f) = e.downcast_ref::<Fail>() {
                    format!("Fail({})", f.0)
                } else if let Some(b) = e.downcast_ref::<Box<dyn std::error::Error + Send + Sync>>()
                {
                    format!(
                        "boxed io::Error: {}",
                        b.downcast_ref::<std::io::Error>().is_some()
                    )
                } else if e.is::<String>() {
                    format!("String {e}")
                } else {
                    "unknown".to_owned()
                };
                seen.lock().unwrap().push(kind);
                async { Ok(()) }
            },
        )
    };
    let r1 = async_with(inspect(&seen), async |()| Err::<(), _>(Fail("typed"))).await;
    let r2 = async_with(inspect(&seen), async |()| {
        Err::<(), Box<dyn std::error::Error + Send + Sync>>(std::io::Error::other("disk").into())
    })
    .await;
    let r3 = async_with(inspect(&seen), async |()| Err::<(), _>("text".to_owned())).await;
    assert!(r1.unwrap_err().is_body() && r2.unwrap_err().is_body() && r3.unwrap_err().is_body());
    assert_eq!(
        *seen.lock().unwrap(),
        ["Fail(typed)", "boxed io::Error: true", "String text"]
    );
}

#[tokio::test]
async fn exit_runs_after_a_panic_and_then_the_panic_resumes() {
    let (log, mut events) = log();
    let message = panic_of(async_with(Recorder::new("cm", &log), async |_| {
        tokio::task::yield_now().await;
        if events_never_empty() {
            panic!("boom in the body");
        }
        Ok::<(), Fail>(())
    }))
    .await;
    assert_eq!(message, "boom in the body");
    assert_eq!(
        events.drain(),
        ["enter cm", "exit cm-resource: panicked boom in the body"]
    );
}

/// Awaits `fut`, which must panic (the panic resuming after the exits), and returns the panic's
/// message.
async fn panic_of<F: std::future::Future>(fut: F) -> String {
    match AssertUnwindSafe(fut).catch_unwind().await {
        Ok(_) => panic!("expected the panic to resume"),
        Err(payload) => panic_message(&*payload),
    }
}

/// Keeps the compiler from seeing that the body always panics.
fn events_never_empty() -> bool {
    std::hint::black_box(true)
}

#[tokio::test]
async fn a_panic_cannot_be_suppressed_and_an_exit_error_does_not_replace_it() {
    for (suppress, exit_fails) in [(true, false), (false, true)] {
        let (log, mut events) = log();
        let mut cm = Recorder::new("cm", &log);
        cm.suppress = suppress;
        cm.exit_fails = exit_fails;
        let message = panic_of(async_with(cm, async |_| {
            if events_never_empty() {
                panic!("boom");
            }
            Ok::<(), Fail>(())
        }))
        .await;
        assert_eq!(message, "boom");
        assert_eq!(
            events.drain(),
            ["enter cm", "exit cm-resource: panicked boom"]
        );
    }
}

#[tokio::test]
async fn enter_failure_skips_the_body_and_the_exit() {
    let (log, mut events) = log();
    let mut cm = Recorder::new("cm", &log);
    cm.enter_fails = true;
    let ran = AtomicBool::new(false);
    let r = async_with(cm, async |_| {
        ran.store(true, Ordering::SeqCst);
        Ok::<_, Fail>(())
    })
    .await;
    let e = r.unwrap_err();
    assert!(e.is_enter());
    assert_eq!(e.to_string(), "enter failed: enter failed");
    assert!(!ran.load(Ordering::SeqCst), "the body ran");
    assert_eq!(events.drain(), ["enter cm"], "the exit ran");
}

/// test_contextmanager_except, and contextlib.suppress's test_exact_exception /
/// test_other_exception.
#[tokio::test]
async fn exit_suppresses_the_body_error_and_async_with_returns_none() {
    let (log, mut events) = log();
    let mut cm = Recorder::new("cm", &log);
    cm.suppress = true;
    let r = async_with(cm, async |_| Err::<u8, _>(Fail("ZeroDivisionError"))).await;
    assert_eq!(
        r.unwrap(),
        None,
        "suppressed: no value, as after Python's with"
    );
    assert_eq!(
        events.drain(),
        ["enter cm", "exit cm-resource: error ZeroDivisionError"]
    );

    // Suppressing has no effect when the body succeeded: its value comes back.
    let mut cm = Recorder::new("cm", &log);
    cm.suppress = true;
    let r = async_with(cm, async |_| Ok::<_, Fail>(7u8)).await;
    assert_eq!(r.unwrap(), Some(7));

    // A suppressing manager that chooses by type lets other errors through.
    let only_lookup = || {
        context_manager(
            || async { Ok::<_, Fail>(()) },
            |(), outcome: Outcome<'_>| {
                let lookup = outcome
                    .error()
                    .and_then(|e| e.downcast_ref::<Fail>().copied())
                    == Some(Fail("LookupError"));
                async move {
                    Ok(if lookup {
                        Exit::Suppress
                    } else {
                        Exit::Propagate
                    })
                }
            },
        )
    };
    let r = async_with(only_lookup(), async |()| Err::<(), _>(Fail("LookupError"))).await;
    assert_eq!(r.unwrap(), None);
    let r = async_with(only_lookup(), async |()| Err::<(), _>(Fail("TypeError"))).await;
    assert!(matches!(r, Err(WithError::Body(Fail("TypeError")))));
}

#[tokio::test]
async fn exit_failure_after_success_is_reported() {
    let (log, mut events) = log();
    let mut cm = Recorder::new("cm", &log);
    cm.exit_fails = true;
    let r = async_with(cm, async |_| Ok::<_, Fail>(1)).await;
    match r {
        Err(WithError::Exit { error, body: None }) => assert_eq!(error, Fail("exit failed")),
        other => panic!("expected the exit's error, got {other:?}"),
    }
    assert_eq!(events.drain(), ["enter cm", "exit cm-resource: success"]);
}

/// test_contextmanager_wrap_runtimeerror: an exit that raises while handling the body's error;
/// both are reported (Python chains the body's as `__context__`).
#[tokio::test]
async fn exit_failure_while_handling_a_body_error_reports_both() {
    let r = async_with(failing_exit("RuntimeError"), async |()| {
        Err::<(), _>(Fail("ZeroDivisionError"))
    })
    .await;
    let e = r.unwrap_err();
    assert_eq!(
        e.to_string(),
        "exit failed: RuntimeError (while handling: ZeroDivisionError)"
    );
    match e {
        WithError::Exit { error, body } => {
            assert_eq!(error, Fail("RuntimeError"));
            assert_eq!(body, Some(Fail("ZeroDivisionError")));
        }
        other => panic!("expected the exit's error, got {other:?}"),
    }
}

/// test_contextmanager_no_reraise: calling the methods by hand, an exit given an error returns
/// normally (it propagates, it does not raise).
#[tokio::test]
async fn exit_called_by_hand_with_an_error_does_not_fail() {
    let (log, _events) = log();
    let mut ctx = logged("whee", &log);
    let resource = ctx.enter().await.unwrap();
    let e = Fail("TypeError");
    let r = ctx
        .exit(resource, Outcome::Error(weft_async::ErrorRef::new(&e)))
        .await;
    assert_eq!(r, Ok(()));
}

/// A generator manager entered twice fails in Python (`AttributeError` in CPython 3.11: its
/// `__aenter__` deletes its arguments first); a context_manager is single-use and panics. (The
/// `trap_*` cases' RuntimeErrors, a generator that does not yield once, have no counterpart.)
#[tokio::test]
async fn a_context_manager_entered_twice_panics() {
    let mut ctx = context_manager(|| async { Ok::<_, Fail>(()) }, |(), _| async { Ok(()) });
    ctx.enter().await.unwrap();
    let second = std::panic::catch_unwind(AssertUnwindSafe(|| drop(ctx.enter())));
    let payload = second.expect_err("a second enter panics");
    assert!(panic_message(&*payload).contains("entered twice"));
}

#[tokio::test]
async fn nested_async_with_exits_inner_first_and_errors_pass_outward() {
    let (log, mut events) = log();
    let inner_log = log.clone();
    let r = async_with(Recorder::new("outer", &log), async |outer| {
        let outer = outer.clone();
        async_with(Recorder::new("inner", &inner_log), async |inner| {
            assert_eq!(
                (outer.as_str(), inner.as_str()),
                ("outer-resource", "inner-resource")
            );
            Err::<(), _>(Fail("inner body"))
        })
        .await
    })
    .await;
    match r {
        Err(WithError::Body(WithError::Body(e))) => assert_eq!(e, Fail("inner body")),
        other => panic!("expected the inner body's error, got {other:?}"),
    }
    assert_eq!(
        events.drain(),
        [
            "enter outer",
            "enter inner",
            "exit inner-resource: error inner body",
            "exit outer-resource: error inner body",
        ]
    );
}

fn assert_send_static<T: Send + 'static>(t: T) -> T {
    t
}

#[test]
fn usable_inside_tokio_spawn_on_a_multi_thread_runtime() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let (log, mut events) = log();
    let results = rt.block_on(async {
        let mut handles = Vec::new();
        for name in ["a", "b", "c", "d"] {
            let log = log.clone();
            handles.push(tokio::spawn(assert_send_static(async move {
                let single = async_with(Recorder::new(name, &log), async |res| {
                    tokio::task::yield_now().await;
                    res.push('!');
                    Ok::<_, Fail>(res.clone())
                })
                .await;
                let stacked = async_with(AsyncExitStack::new(), async |stack| {
                    let r = stack.enter_async_context(logged(name, &log)).await?;
                    tokio::task::yield_now().await;
                    Ok::<_, Fail>(stack.get(r).copied())
                })
                .await;
                (single, stacked)
            })));
        }
        let mut results = Vec::new();
        for h in handles {
            results.push(h.await.expect("the task did not panic"));
        }
        results
    });
    for ((single, stacked), name) in results.into_iter().zip(["a", "b", "c", "d"]) {
        assert_eq!(single.unwrap(), Some(format!("{name}-resource!")));
        assert_eq!(stacked.unwrap(), Some(Some(name)));
    }
    // Two enters and two exits per task.
    assert_eq!(events.drain().len(), 16);
}

// ---------------------------------------------------------------------------------------------
// The async_with future dropped mid-body

#[tokio::test]
async fn aborted_mid_body_the_exit_runs_on_a_task_with_cancelled() {
    let (log, mut events) = log();
    let cm = Recorder::new("cm", &log);
    let body_log = log.clone();
    let task = tokio::spawn(async_with(cm, async move |_| {
        body_log.push("body started");
        pending::<()>().await;
        Ok::<(), Fail>(())
    }));
    assert_eq!(events.next().await, "enter cm");
    assert_eq!(events.next().await, "body started");
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    assert_eq!(events.next().await, "exit cm-resource: cancelled");
}

/// A lost `select!` branch (Python: `asyncio.wait_for` / `timeout` cancelling the body).
#[tokio::test]
async fn a_lost_select_branch_runs_the_exit_with_cancelled() {
    let (log, mut events) = log();
    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    let mut started_tx = Some(started_tx);
    tokio::select! {
        biased;
        _ = started_rx => {}
        _ = async_with(logged("cm", &log), async |_| {
            if let Some(tx) = started_tx.take() {
                let _ = tx.send(());
            }
            pending::<()>().await;
            Ok::<(), Fail>(())
        }) => panic!("the body never finishes"),
    }
    assert_eq!(events.next().await, "enter cm");
    assert_eq!(events.next().await, "exit cm: cancelled");
}

#[test]
fn dropped_mid_body_without_a_runtime_drops_the_resource_unexited() {
    let dropped = Arc::new(Mutex::new(Vec::new()));
    let exited = Arc::new(AtomicBool::new(false));
    let (d, x) = (Arc::clone(&dropped), Arc::clone(&exited));
    let cm = context_manager(
        move || async move {
            Ok::<_, Fail>(Tracked {
                name: "resource",
                dropped: d,
            })
        },
        move |_, _| {
            x.store(true, Ordering::SeqCst);
            async { Ok(()) }
        },
    );
    let fut = async_with(cm, async |_| {
        pending::<()>().await;
        Ok::<(), Fail>(())
    });
    // Polled once with no runtime anywhere: the body starts and waits; then the future drops.
    assert!(fut.now_or_never().is_none());
    assert_eq!(*dropped.lock().unwrap(), ["resource"]);
    assert!(
        !exited.load(Ordering::SeqCst),
        "the exit ran without a runtime"
    );
}

/// A task still in the body when its runtime shuts down: the spawned exit is dropped unrun by
/// the closing runtime, the resource is dropped, and nothing panics.
#[test]
fn a_runtime_shutting_down_drops_the_resource_unexited() {
    let dropped = Arc::new(Mutex::new(Vec::new()));
    let exited = Arc::new(AtomicBool::new(false));
    let (d, x) = (Arc::clone(&dropped), Arc::clone(&exited));
    let cm = context_manager(
        move || async move {
            Ok::<_, Fail>(Tracked {
                name: "resource",
                dropped: d,
            })
        },
        move |_, _| async move {
            x.store(true, Ordering::SeqCst);
            Ok(())
        },
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    let mut started_tx = Some(started_tx);
    rt.block_on(async {
        tokio::spawn(async_with(cm, async move |_| {
            if let Some(tx) = started_tx.take() {
                let _ = tx.send(());
            }
            pending::<()>().await;
            Ok::<(), Fail>(())
        }));
        started_rx.await.unwrap();
    });
    drop(rt);
    assert_eq!(*dropped.lock().unwrap(), ["resource"]);
    assert!(!exited.load(Ordering::SeqCst));
}

/// A manager whose teardown logs its start, lets the runtime run other tasks a few times, then
/// logs its end: an exit running beside it would show between the two.
fn slow_teardown(
    name: &'static str,
    log: &Log,
) -> impl AsyncContextManager<Resource = (), Error = Fail, Exit = ()> + Send + use<> {
    let log = log.clone();
    context_manager(
        || async { Ok(()) },
        move |(), outcome| {
            let how = describe(&outcome);
            async move {
                log.push(format!("exit {name} starts: {how}"));
                for _ in 0..10 {
                    tokio::task::yield_now().await;
                }
                log.push(format!("exit {name} ends"));
                Ok(())
            }
        },
    )
}

/// A stack callback that logs its start, lets the runtime run other tasks a few times, then
/// logs its end (as [`slow_teardown`]).
fn push_slow_callback(stack: &mut AsyncExitStack, name: &'static str, log: &Log) {
    let log = log.clone();
    stack.push_async_callback(move || async move {
        log.push(format!("{name} starts"));
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        log.push(format!("{name} ends"));
    });
}

/// Nested `async_with`s dropped mid-body unwind last in, first out, as Python's nested blocks
/// do on `CancelledError`, one exit after the other: the inner block's stack, the inner block,
/// then a stack the outer body entered before the inner block, then the outer block.
#[tokio::test]
async fn nested_blocks_dropped_mid_body_exit_innermost_first() {
    let (log, mut events) = log();
    let (inner_log, stack_log, outer_stack_log) = (log.clone(), log.clone(), log.clone());
    let mut fut = Box::pin(async_with(slow_teardown("outer", &log), async move |()| {
        let mut outer_stack = AsyncExitStack::new();
        push_slow_callback(&mut outer_stack, "outer stack", &outer_stack_log);
        let result = async_with(slow_teardown("inner", &inner_log), async move |()| {
            let mut stack = AsyncExitStack::new();
            stack.push_async_callback(move || async move { stack_log.push("stack exits") });
            pending::<()>().await;
            drop(stack);
            Ok::<(), Fail>(())
        })
        .await;
        drop(outer_stack);
        result
    }));
    assert!(futures_util::poll!(&mut fut).is_pending());
    drop(fut);
    let mut seen = Vec::new();
    for _ in 0..7 {
        seen.push(events.next().await);
    }
    assert_eq!(
        seen,
        [
            "stack exits",
            "exit inner starts: cancelled",
            "exit inner ends",
            "outer stack starts",
            "outer stack ends",
            "exit outer starts: cancelled",
            "exit outer ends"
        ]
    );
}

/// An inner exit that panics as the blocks unwind after a cancellation ends only itself: the
/// outer exit still runs (each exit used to run on its own task; now they share one).
#[tokio::test]
async fn a_panicking_inner_exit_does_not_stop_the_outer_one_after_a_cancellation() {
    let (log, mut events) = log();
    let mut fut = Box::pin(async_with(slow_teardown("outer", &log), async move |()| {
        let inner = context_manager(
            || async { Ok::<_, Fail>(()) },
            |(), _| async {
                tokio::task::yield_now().await;
                panic!("inner exit panics");
                #[allow(unreachable_code, reason = "gives the closure its return type")]
                Ok::<(), Fail>(())
            },
        );
        async_with(inner, async move |()| {
            pending::<()>().await;
            Ok::<(), Fail>(())
        })
        .await
    }));
    assert!(futures_util::poll!(&mut fut).is_pending());
    drop(fut);
    assert_eq!(events.next().await, "exit outer starts: cancelled");
    assert_eq!(events.next().await, "exit outer ends");
}

/// A teardown whose synchronous part panics as a sibling's panic unwinds through the dropped
/// `async_with` future: the panic is caught there (escaping a destructor while unwinding would
/// abort the process), and the sibling's panic comes out of `run`.
#[test]
fn a_teardown_panicking_in_a_drop_during_unwinding_does_not_abort() {
    drop_a_with_while_a_sibling_panics(|outcome| {
        assert!(!outcome.is_cancelled(), "teardown refuses Cancelled");
    });
}

/// The same with a teardown whose panic payload panics again when dropped: nothing escapes the
/// drop, and the sibling's panic comes out of `run`.
#[test]
fn a_teardown_panic_whose_payload_panics_when_dropped_in_a_drop_during_unwinding() {
    drop_a_with_while_a_sibling_panics(|outcome| {
        if outcome.is_cancelled() {
            std::panic::panic_any(PanicOnDrop);
        }
    });
}

/// Runs an `async_with` beside a sibling that panics, inside `run`: the `async_with` future is
/// dropped mid-body while the task unwinds, its teardown calling `on_exit` synchronously first.
/// Asserts that the sibling's panic comes out of `run`.
fn drop_a_with_while_a_sibling_panics(on_exit: fn(&Outcome<'_>)) {
    let caught = std::panic::catch_unwind(|| {
        run(async move {
            let cm = context_manager(
                || async { Ok::<_, Fail>(()) },
                move |(), outcome: Outcome<'_>| {
                    on_exit(&outcome);
                    async { Ok(()) }
                },
            );
            let with = async_with(cm, async |()| {
                pending::<()>().await;
                Ok::<(), Fail>(())
            });
            let sibling = async {
                tokio::task::yield_now().await;
                panic!("sibling panics");
            };
            let _ = tokio::join!(with, sibling);
        })
        .unwrap();
    });
    assert_eq!(panic_message(&*caught.unwrap_err()), "sibling panics");
}

/// A panic in the body stays the one that comes out when the exit panics too (the exit's is
/// dropped, as its error would be).
#[tokio::test]
async fn the_body_panic_carries_on_past_a_panicking_exit() {
    body_panic_past_an_exit_that_panics(|| panic!("exit panics")).await;
}

/// The same when the exit's panic payload panics as it is dropped: that second panic does not
/// escape either.
#[tokio::test]
async fn the_body_panic_carries_on_past_an_exit_whose_panic_payload_panics_when_dropped() {
    body_panic_past_an_exit_that_panics(|| std::panic::panic_any(PanicOnDrop)).await;
}

/// A body that panics, in a manager whose exit calls `exit_panics`: the body's panic comes out.
async fn body_panic_past_an_exit_that_panics(exit_panics: fn()) {
    let cm = context_manager(
        || async { Ok::<_, Fail>(()) },
        move |(), _| async move {
            exit_panics();
            Ok::<(), Fail>(())
        },
    );
    let caught = AssertUnwindSafe(async_with(cm, async |()| -> Result<(), Fail> {
        panic!("body panics")
    }))
    .catch_unwind()
    .await;
    assert_eq!(panic_message(&*caught.unwrap_err()), "body panics");
}

// ---------------------------------------------------------------------------------------------
// An inner block cancelled while the outer body goes on

/// A block that waits for ever inside, its teardown slow (see [`slow_teardown`]).
async fn stuck_inner(log: Log) -> Result<(), Fail> {
    async_with(slow_teardown("inner", &log), async |()| {
        pending::<()>().await;
        Ok::<(), Fail>(())
    })
    .await
    .map_err(|_| Fail("inner failed"))
}

/// An inner block that a `try_join!` in the outer body cancels (its sibling failed) exits
/// before the outer block, as Python's nested blocks unwind: the outer body awaits the inner
/// exit before it ends, and both exits have run when `async_with` returns. (The inner exit
/// used to run on a task of its own, after the outer exit.)
#[tokio::test]
async fn an_inner_block_cancelled_by_a_sibling_exits_before_the_outer_block() {
    let (log, mut events) = log();
    let inner_log = log.clone();
    let result = async_with(slow_teardown("outer", &log), async move |()| {
        futures_util::try_join!(stuck_inner(inner_log), async {
            tokio::task::yield_now().await;
            Err::<(), _>(Fail("sibling failed"))
        })
    })
    .await;
    assert!(
        matches!(result, Err(WithError::Body(Fail("sibling failed")))),
        "{result:?}"
    );
    assert_eq!(
        events.drain(),
        [
            "exit inner starts: cancelled",
            "exit inner ends",
            "exit outer starts: error sibling failed",
            "exit outer ends"
        ]
    );
}

/// `timeout` awaits the exit of the block it cancels before it returns (Python's
/// `async with asyncio.timeout(...)` around an `async with`), so the outer body goes on after
/// the inner exit, and the outer exit comes last.
#[tokio::test]
async fn timeout_awaits_the_exit_of_a_block_it_cancels() {
    let (log, mut events) = log();
    let (inner_log, body_log) = (log.clone(), log.clone());
    let result = async_with(slow_teardown("outer", &log), async move |()| {
        let timed = weft_async::timeout(Duration::from_millis(10), stuck_inner(inner_log)).await;
        body_log.push(format!("timed out: {}", timed.is_err()));
        Ok::<(), Fail>(())
    })
    .await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(
        events.drain(),
        [
            "exit inner starts: cancelled",
            "exit inner ends",
            "timed out: true",
            "exit outer starts: success",
            "exit outer ends"
        ]
    );
}

/// `gather` awaits the exits of the blocks that its failure cancels before it fails.
#[tokio::test]
async fn gather_awaits_the_exits_of_the_blocks_its_failure_cancels() {
    use futures_util::future::Either;
    let (log, mut events) = log();
    let (inner_log, body_log) = (log.clone(), log.clone());
    let result = async_with(slow_teardown("outer", &log), async move |()| {
        let failing = async {
            tokio::task::yield_now().await;
            Err(Fail("gathered failure"))
        };
        let gathered =
            weft_async::gather([Either::Left(stuck_inner(inner_log)), Either::Right(failing)])
                .await;
        body_log.push(format!("gather: {gathered:?}"));
        Ok::<(), Fail>(())
    })
    .await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(
        events.drain(),
        [
            "exit inner starts: cancelled",
            "exit inner ends",
            "gather: Err(Fail(\"gathered failure\"))",
            "exit outer starts: success",
            "exit outer ends"
        ]
    );
}

/// A block that a `select!` in the outer body drops exits while the outer body waits for
/// something else: the outer block awaits the exit between two polls of its body, without
/// waiting for the body to end.
#[tokio::test]
async fn an_inner_block_dropped_by_a_select_exits_while_the_outer_body_waits() {
    let (log, mut events) = log();
    let (inner_log, body_log) = (log.clone(), log.clone());
    let (go, wait) = tokio::sync::oneshot::channel::<()>();
    let outer = tokio::spawn(async_with(slow_teardown("outer", &log), async move |()| {
        tokio::select! {
            biased;
            _ = stuck_inner(inner_log) => unreachable!("the inner block waits for ever"),
            () = std::future::ready(()) => {}
        }
        body_log.push("body waits");
        wait.await.map_err(|_| Fail("no go"))
    }));
    for want in [
        "body waits",
        "exit inner starts: cancelled",
        "exit inner ends",
    ] {
        assert_eq!(events.next().await, want);
    }
    go.send(()).unwrap();
    assert!(outer.await.unwrap().is_ok());
    assert_eq!(
        events.drain(),
        ["exit outer starts: success", "exit outer ends"]
    );
}

/// An inner exit that waits for something the outer body does next (a sibling branch of a
/// `join!`) runs beside the body, which is not held up: the inner exit ends, then the outer one.
/// (An outer block that awaited the inner exit before polling its body again hung here.)
#[tokio::test]
async fn an_inner_exit_waiting_for_the_outer_body_does_not_hold_it_up() {
    let (log, mut events) = log();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let exit_log = log.clone();
    let inner = context_manager(
        || async { Ok::<_, Fail>(()) },
        move |(), _| async move {
            let _ = rx.await;
            exit_log.push("inner exit got the word");
            Ok(())
        },
    );
    let body_log = log.clone();
    let outer = async_with(slow_teardown("outer", &log), async move |()| {
        let cancelled = async {
            tokio::select! {
                biased;
                _ = async_with(inner, async |()| {
                    pending::<()>().await;
                    Ok::<(), Fail>(())
                }) => unreachable!("the inner block waits for ever"),
                () = std::future::ready(()) => {}
            }
        };
        let sibling = async {
            tokio::task::yield_now().await;
            body_log.push("sibling sends");
            let _ = tx.send(());
        };
        tokio::join!(cancelled, sibling);
        Ok::<(), Fail>(())
    });
    let result = tokio::time::timeout(WATCHDOG, outer).await;
    assert!(matches!(result, Ok(Ok(()))), "{result:?}");
    assert_eq!(
        events.drain(),
        [
            "sibling sends",
            "inner exit got the word",
            "exit outer starts: success",
            "exit outer ends"
        ]
    );
}

/// Inner blocks cancelled one after the other while the exits of the earlier ones still wait
/// (here for a gate the outer body opens at its end) queue flat: six thousand of them all exit,
/// in order, in linear time. Each hand-over used to wrap the exits before it one level deeper:
/// quadratic, and a stack overflow that aborted the process past about five thousand (the
/// review).
#[tokio::test]
async fn many_inner_exits_waiting_at_once_queue_flat() {
    const BLOCKS: usize = 6000;
    let (gate, opened) = tokio::sync::watch::channel(false);
    let exited = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&exited);
    let outer = async_with(
        context_manager(|| async { Ok::<_, Fail>(()) }, |(), _| async { Ok(()) }),
        async move |()| {
            for i in 0..BLOCKS {
                let (mut opened, exited) = (opened.clone(), Arc::clone(&seen));
                let inner = context_manager(
                    || async { Ok::<_, Fail>(()) },
                    move |(), _| async move {
                        let _ = opened.wait_for(|open| *open).await;
                        exited.lock().unwrap().push(i);
                        Ok(())
                    },
                );
                tokio::select! {
                    biased;
                    _ = async_with(inner, async |()| {
                        pending::<()>().await;
                        Ok::<(), Fail>(())
                    }) => unreachable!("the inner block waits for ever"),
                    () = tokio::task::yield_now() => {}
                }
            }
            let _ = gate.send(true);
            Ok::<(), Fail>(())
        },
    );
    let result = tokio::time::timeout(WATCHDOG, outer).await;
    assert!(matches!(result, Ok(Ok(()))), "{result:?}");
    let exited = exited.lock().unwrap();
    assert_eq!(exited.len(), BLOCKS);
    assert!(exited.windows(2).all(|w| w[0] < w[1]), "out of order");
}

/// Panics when dropped, unless the thread is already panicking.
struct PanicsWhenDropped;

impl Drop for PanicsWhenDropped {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("a destructor of the body panics");
        }
    }
}

/// An outer block dropped mid-body, whose body holds a value that panics when dropped beside an
/// inner block, still runs both exits, inner first, and the panic comes out of the drop. (The
/// inner exit was lost when the list collecting it was closed by the panic.)
#[tokio::test]
async fn a_panicking_destructor_in_a_dropped_body_loses_no_exit() {
    let (log, mut events) = log();
    let inner_log = log.clone();
    let mut outer = Box::pin(async_with(slow_teardown("outer", &log), async move |()| {
        let _bomb = PanicsWhenDropped;
        async_with(slow_teardown("inner", &inner_log), async |()| {
            pending::<()>().await;
            Ok::<(), Fail>(())
        })
        .await
    }));
    assert!(futures_util::poll!(&mut outer).is_pending());
    let dropped = std::panic::catch_unwind(AssertUnwindSafe(move || drop(outer)));
    assert_eq!(
        panic_message(&*dropped.unwrap_err()),
        "a destructor of the body panics"
    );
    for want in [
        "exit inner starts: cancelled",
        "exit inner ends",
        "exit outer starts: cancelled",
        "exit outer ends",
    ] {
        assert_eq!(events.next().await, want);
    }
}

/// An outer block dropped while it awaits the exit of an inner block its body dropped hands
/// that exit over with its own: the inner exit finishes, then the outer one runs, cancelled.
#[tokio::test]
async fn an_outer_block_dropped_while_awaiting_an_inner_exit_runs_both_in_order() {
    let (log, mut events) = log();
    let inner_log = log.clone();
    let mut outer = Box::pin(async_with(slow_teardown("outer", &log), async move |()| {
        tokio::select! {
            biased;
            _ = stuck_inner(inner_log) => unreachable!("the inner block waits for ever"),
            () = std::future::ready(()) => {}
        }
        pending::<()>().await;
        Ok::<(), Fail>(())
    }));
    assert!(futures_util::poll!(&mut outer).is_pending());
    assert_eq!(events.drain(), ["exit inner starts: cancelled"]);
    drop(outer);
    for want in [
        "exit inner ends",
        "exit outer starts: cancelled",
        "exit outer ends",
    ] {
        assert_eq!(events.next().await, want);
    }
}

/// A `timeout` or a `gather` dropped while it awaits the exits of what it cancelled hands them
/// over rather than drop them unrun.
#[tokio::test]
async fn a_timeout_or_gather_dropped_while_awaiting_exits_hands_them_over() {
    let (log, mut events) = log();
    let timed = weft_async::timeout(Duration::ZERO, stuck_inner(log.clone()));
    drop_once_an_exit_starts(timed, &mut events).await;
    assert_eq!(events.next().await, "exit inner ends");

    let failing = async {
        tokio::task::yield_now().await;
        Err(Fail("gathered failure"))
    };
    let gathered = weft_async::gather([
        futures_util::future::Either::Left(stuck_inner(log.clone())),
        futures_util::future::Either::Right(failing),
    ]);
    drop_once_an_exit_starts(gathered, &mut events).await;
    assert_eq!(events.next().await, "exit inner ends");
}

/// Polls `fut` until the inner block's exit has started (it then yields ten times before it
/// ends), and drops it there.
async fn drop_once_an_exit_starts<F: std::future::Future>(fut: F, events: &mut Events) {
    let mut fut = std::pin::pin!(fut);
    tokio::select! {
        biased;
        event = events.next() => assert_eq!(event, "exit inner starts: cancelled"),
        _ = &mut fut => panic!("the exit takes ten yields"),
    }
    assert!(events.drain().is_empty());
}

/// A generator suspended at a plain yield inside a block: `aclose` drops its body and awaits
/// that block's exit before it returns, as Python's `aclose` runs the generator's `__aexit__`.
#[tokio::test]
async fn aclose_awaits_the_exits_of_the_blocks_the_generator_was_inside() {
    let (log, mut events) = log();
    let gen_log = log.clone();
    let mut g = weft_async::generator(move |mut co| async move {
        let _ = async_with(slow_teardown("inner", &gen_log), async |()| {
            co.yield_(1).await;
            co.yield_(2).await;
            Ok::<(), Fail>(())
        })
        .await;
    });
    assert_eq!(weft_async::anext(&mut g).await, Some(1));
    g.aclose().await.unwrap();
    log.push("aclose returned");
    assert_eq!(
        events.drain(),
        [
            "exit inner starts: cancelled",
            "exit inner ends",
            "aclose returned"
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Tasks still running when `run`'s future completes

/// Runs `main` under `run` or `run_multi_thread`.
fn run_on(multi_thread: bool, main: impl std::future::Future<Output = ()> + Send) {
    if multi_thread {
        run_multi_thread(main).unwrap();
    } else {
        run(main).unwrap();
    }
}

/// A manager whose exit awaits a timer before it logs: it needs a live runtime.
fn slow_exit(
    log: &Log,
) -> impl AsyncContextManager<Resource = (), Error = Fail, Exit = ()> + Send + use<> {
    let (enter_log, exit_log) = (log.clone(), log.clone());
    context_manager(
        move || async move {
            enter_log.push("enter");
            Ok(())
        },
        move |(), outcome| {
            let how = describe(&outcome);
            async move {
                tokio::time::sleep(Duration::from_millis(1)).await;
                exit_log.push(format!("exit: {how}"));
                Ok(())
            }
        },
    )
}

/// An `async_with(slow_exit(log), ..)` whose body says on the receiver that it has started and
/// then waits for ever: a task to leave mid-body.
fn stuck_in_body(
    log: &Log,
) -> (
    impl std::future::Future<Output = Result<(), WithError<Fail, Fail>>> + Send + use<>,
    tokio::sync::oneshot::Receiver<()>,
) {
    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    let mut started_tx = Some(started_tx);
    let stuck = async_with(slow_exit(log), async move |()| {
        if let Some(tx) = started_tx.take() {
            let _ = tx.send(());
        }
        pending::<()>().await;
        Ok::<(), Fail>(())
    });
    (stuck, started_rx)
}

/// Runs `main` (given a `stuck_in_body` task's future and its started signal) under `run` and
/// under `run_multi_thread`, and checks each time that the stuck task's exit ran, cancelled,
/// before `run` returned.
fn stuck_task_exits_before_run_returns<F>(
    main: impl Fn(
        std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<(), WithError<Fail, Fail>>> + Send>,
        >,
        tokio::sync::oneshot::Receiver<()>,
    ) -> F,
) where
    F: std::future::Future<Output = ()> + Send,
{
    for multi_thread in [false, true] {
        let (log, mut events) = log();
        let (stuck, started_rx) = stuck_in_body(&log);
        run_on(multi_thread, main(Box::pin(stuck), started_rx));
        assert_eq!(
            events.drain(),
            ["enter", "exit: cancelled"],
            "{multi_thread}"
        );
    }
}

/// A task left in an `async_with` body when `run`'s future completes is cancelled, and its
/// exit (which awaits a timer) runs to the end before `run` returns (Python: `asyncio.run`
/// cancels the task and runs the loop until its `async with` has exited).
#[test]
fn run_awaits_the_exit_of_a_task_left_mid_body() {
    stuck_task_exits_before_run_returns(|stuck, started_rx| async move {
        create_task(stuck).detach();
        started_rx.await.unwrap();
    });
}

/// The same for an unclosed `AsyncExitStack` in a task left running: its exits run newest
/// first before `run` returns; and for a task of a `TaskGroup` whose owner is left waiting.
#[test]
fn run_awaits_the_exits_of_a_stack_and_of_a_group_task_left_running() {
    for multi_thread in [false, true] {
        let (log, mut events) = log();
        let (stack_log, group_log) = (log.clone(), log.clone());
        run_on(multi_thread, async move {
            let (stacked_tx, stacked_rx) = tokio::sync::oneshot::channel();
            create_task(async move {
                let mut stack = AsyncExitStack::new();
                stack
                    .enter_async_context(logged("a", &stack_log))
                    .await
                    .unwrap();
                stack
                    .enter_async_context(logged("b", &stack_log))
                    .await
                    .unwrap();
                let _ = stacked_tx.send(());
                pending::<()>().await;
                drop(stack);
            })
            .detach();
            stacked_rx.await.unwrap();

            let (stuck, grouped_rx) = stuck_in_body(&group_log);
            create_task(async move {
                let tg = TaskGroup::<WithError<Fail, Fail>>::new();
                let _task = tg.create_task(stuck);
                pending::<()>().await;
                drop(tg);
            })
            .detach();
            grouped_rx.await.unwrap();
        });
        let events = events.drain();
        assert_eq!(events.len(), 6, "{events:?}");
        // The stack's events name its managers; the group task's are `slow_exit`'s.
        let stack: Vec<_> = events
            .iter()
            .filter(|e| e.contains(" a") || e.contains(" b"))
            .cloned()
            .collect();
        assert_eq!(
            stack,
            [
                "enter a",
                "enter b",
                "exit b: cancelled",
                "exit a: cancelled"
            ],
            "{multi_thread}"
        );
        assert!(
            events.contains(&"exit: cancelled".to_string()),
            "{events:?}"
        );
    }
}

/// An exit held until the test lets it go: it says when it has begun, then waits for
/// `release`, then records that it has run.
#[derive(Clone, Default)]
struct HeldExit {
    began: Arc<AtomicBool>,
    release: Arc<weft_async::Event>,
    exited: Arc<AtomicBool>,
}

impl HeldExit {
    /// A manager with this exit.
    fn manager(
        &self,
    ) -> impl AsyncContextManager<Resource = (), Error = Fail, Exit = ()> + Send + use<> {
        let held = self.clone();
        context_manager(
            || async { Ok(()) },
            move |(), _| async move {
                held.began.store(true, Ordering::SeqCst);
                held.release.wait().await;
                held.exited.store(true, Ordering::SeqCst);
                Ok(())
            },
        )
    }

    /// Returns once the exit has begun (the cancelled task's future was dropped).
    async fn begun(&self) {
        while !self.began.load(Ordering::SeqCst) {
            weft_async::yield_now().await;
        }
    }

    /// Polls `task` once while the exit is held, then releases the exit and awaits the task:
    /// its output, and whether the exit had run when the await returned (`false` too when the
    /// first poll already answered). It asserts nothing, so that a failing test never leaves
    /// `run` waiting for a held exit.
    async fn release_and_await<F: std::future::Future + Unpin>(
        &self,
        task: &mut F,
    ) -> (F::Output, bool) {
        let polled = futures_util::poll!(&mut *task);
        self.release.set();
        match polled {
            std::task::Poll::Pending => {
                let out = task.await;
                (out, self.exited.load(Ordering::SeqCst))
            }
            std::task::Poll::Ready(early) => (early, false),
        }
    }
}

/// A body that says it has started, then waits for ever.
async fn started_then_stuck(started: tokio::sync::oneshot::Sender<()>) -> Result<(), Fail> {
    let _ = started.send(());
    pending::<()>().await;
    Ok(())
}

/// Awaiting a task cancelled inside an `async_with` body returns after the block's exit, as
/// Python's `await task` returns after the cancelled coroutine's `__aexit__`; until then the
/// task is not `done()`.
#[test]
fn awaiting_a_cancelled_task_returns_after_its_exits() {
    let held = HeldExit::default();
    run(async {
        let (started_tx, started_rx) = tokio::sync::oneshot::channel();
        let mut task = create_task(async_with(held.manager(), async move |_| {
            started_then_stuck(started_tx).await
        }));
        started_rx.await.unwrap();
        assert!(task.cancel());
        held.begun().await;
        let (done, cancelled) = (task.done(), task.cancelled());
        let (awaited, exited) = held.release_and_await(&mut task).await;
        assert!(!done, "done while its exit still runs");
        assert!(!cancelled, "cancelled (over) while its exit still runs");
        assert!(awaited.unwrap_err().is_cancelled());
        assert!(exited, "the await returned before the exit");
    })
    .unwrap();
}

/// `wait` counts a cancelled task as done once the exits of its `async_with` blocks have run,
/// as Python's `asyncio.wait` does (a cancelled task is done after its `__aexit__`s).
#[test]
fn waiting_on_a_cancelled_task_counts_it_done_after_its_exits() {
    let held = HeldExit::default();
    run(async {
        let (started_tx, started_rx) = tokio::sync::oneshot::channel();
        let task = create_task(async_with(held.manager(), async move |_| {
            started_then_stuck(started_tx).await
        }));
        started_rx.await.unwrap();
        assert!(task.cancel());
        held.begun().await;
        let mut waiting = weft_async::wait([task], None, weft_async::ReturnWhen::FirstCompleted);
        let (waited, exited) = held.release_and_await(&mut waiting).await;
        assert!(exited, "the wait gave the task as done before its exit");
        assert_eq!(waited.done.len(), 1);
        for t in waited.done {
            assert!(t.await.unwrap_err().is_cancelled());
        }
    })
    .unwrap();
}

/// The same for a task of a `TaskGroup` cancelled through its handle.
#[test]
fn awaiting_a_cancelled_group_task_returns_after_its_exits() {
    let held = HeldExit::default();
    run(async {
        let (started_tx, started_rx) = tokio::sync::oneshot::channel();
        let tg = TaskGroup::<WithError<Fail, Fail>>::new();
        let mut task = tg
            .create_task(async_with(held.manager(), async move |_| {
                started_then_stuck(started_tx).await
            }))
            .unwrap();
        started_rx.await.unwrap();
        assert!(task.cancel());
        held.begun().await;
        let done = task.done();
        let (awaited, exited) = held.release_and_await(&mut task).await;
        tg.wait().await.unwrap();
        assert!(!done, "done while its exit still runs");
        assert!(awaited.unwrap_err().is_cancelled());
        assert!(exited, "the await returned before the exit");
    })
    .unwrap();
}

/// A destructor that panics while a cancelled task's future is dropped fails the task, and
/// awaiting it gives that panic after the exits of the blocks it was in, as Python's `await task`
/// raises an exception from a `finally` after the `__aexit__`s it passes through; `done()` is
/// `false` until then.
#[test]
fn awaiting_a_task_whose_destructor_panicked_in_its_cancellation_returns_after_its_exits() {
    struct PanicsOnDrop;
    impl Drop for PanicsOnDrop {
        fn drop(&mut self) {
            panic!("a destructor of the cancelled task");
        }
    }
    let held = HeldExit::default();
    run(async {
        let (started_tx, started_rx) = tokio::sync::oneshot::channel();
        let mut task = create_task(async_with(held.manager(), async move |_| {
            let _guard = PanicsOnDrop;
            started_then_stuck(started_tx).await
        }));
        started_rx.await.unwrap();
        assert!(task.cancel());
        held.begun().await;
        let done = task.done();
        let (awaited, exited) = held.release_and_await(&mut task).await;
        assert!(!done, "done while its exit still runs");
        assert_eq!(
            awaited.unwrap_err(),
            weft_async::TaskError::Panicked {
                message: "a destructor of the cancelled task".into()
            }
        );
        assert!(exited, "the await returned before the exit");
        assert!(task.done());
    })
    .unwrap();
}

/// A `TaskGroup` dropped as `run`'s future completes cancels its task, which is still in an
/// `async_with` body and has not run since: `run` waits for that cancellation and the exit it
/// hands over (on the current-thread runtime nothing else would run the task before the end).
#[test]
fn run_awaits_the_exit_of_a_task_its_group_cancelled_at_the_end() {
    stuck_task_exits_before_run_returns(|stuck, started_rx| async move {
        let tg = TaskGroup::<WithError<Fail, Fail>>::new();
        let _task = tg.create_task(stuck);
        started_rx.await.unwrap();
        drop(tg);
    });
}

/// A task whose `Task` is dropped when `run`'s future completes (not detached) is cancelled by
/// that drop, and `run` still awaits its exit.
#[test]
fn run_awaits_the_exit_of_a_task_cancelled_by_dropping_its_handle() {
    stuck_task_exits_before_run_returns(|stuck, started_rx| async move {
        let _task = create_task(stuck);
        started_rx.await.unwrap();
        // `_task` drops here, as the future completes.
    });
}

/// Many tasks let go over one run, most finished at once and a few left in an `async_with`
/// body: as the record of let-go tasks drops the finished ones (once it has doubled), it keeps
/// the others, whose exits all run before `run` returns.
#[test]
fn run_keeps_the_let_go_tasks_still_running_among_many_finished() {
    const FINISHED: usize = 5_000;
    const LEFT: usize = 20;
    let (log, mut events) = log();
    run(async move {
        for i in 0..FINISHED {
            create_task(async {}).detach();
            if i % (FINISHED / LEFT) == 0 {
                let (stuck, started_rx) = stuck_in_body(&log);
                create_task(stuck).detach();
                started_rx.await.unwrap();
            }
            tokio::task::yield_now().await;
        }
    })
    .unwrap();
    let events = events.drain();
    let exits = events.iter().filter(|e| *e == "exit: cancelled").count();
    assert_eq!(exits, LEFT, "{events:?}");
}

/// A task of another runtime let go on a thread of `run`'s (a `to_thread` function that keeps a
/// runtime of its own) is that runtime's: `run` neither waits for it nor hangs.
#[test]
fn run_leaves_a_task_of_another_runtime_alone() {
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let own = run(async {
            weft_async::to_thread(|| {
                let own = tokio::runtime::Builder::new_current_thread()
                    .build()
                    .unwrap();
                // Let go, cancelled, on a runtime nobody drives once `block_on` returns.
                own.block_on(async {
                    drop(create_task(pending::<()>()));
                });
                own
            })
            .await
            .unwrap()
        })
        .unwrap();
        let _ = done_tx.send(());
        drop(own);
    });
    done_rx
        .recv_timeout(WATCHDOG)
        .expect("run waited for a task of another runtime");
}

/// The same for a task started under another runtime's `enter` guard inside `run` and let go
/// outside it: it is that runtime's, which nobody drives, and `run` does not wait for it.
#[test]
fn run_leaves_a_task_started_under_another_runtime_alone() {
    let other = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let handle = other.handle().clone();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        run(async move {
            let task = {
                let _other = handle.enter();
                create_task(pending::<()>())
            };
            drop(task);
        })
        .unwrap();
        let _ = done_tx.send(());
    });
    done_rx
        .recv_timeout(WATCHDOG)
        .expect("run waited for a task of another runtime");
    drop(other);
}

/// A panic in `run`'s future still lets the tasks left running exit first; then it propagates.
#[test]
fn run_awaits_the_exits_of_tasks_left_running_also_when_its_future_panics() {
    let (log, mut events) = log();
    let caught = std::panic::catch_unwind(AssertUnwindSafe(|| {
        run(async move {
            let (stuck, started_rx) = stuck_in_body(&log);
            create_task(stuck).detach();
            started_rx.await.unwrap();
            panic!("main failed");
        })
    }));
    assert_eq!(panic_message(&*caught.unwrap_err()), "main failed");
    assert_eq!(events.drain(), ["enter", "exit: cancelled"]);
}

// ---------------------------------------------------------------------------------------------
// AsyncExitStack

/// test_no_resources
#[tokio::test]
async fn an_empty_stack_closes_and_exits() {
    AsyncExitStack::new().aclose().await.unwrap();
    let r = async_with(AsyncExitStack::new(), async |_| Ok::<_, Fail>(1)).await;
    assert_eq!(r.unwrap(), Some(1));
}

/// test_async_callback and test_async_enter_context: newest first, managers and callbacks mixed.
#[tokio::test]
async fn the_stack_exits_last_in_first_out() {
    let (log, mut events) = log();
    let r = async_with(AsyncExitStack::new(), async |stack| {
        let l = log.clone();
        // Registered first, cleaned up last.
        stack.push_async_callback(move || async move { l.push("callback 4") });
        let a = stack.enter_async_context(logged("1", &log)).await?;
        let b = stack.enter_async_context(Recorder::new("2", &log)).await?;
        for n in 1..=3 {
            let l = log.clone();
            stack.push_async_callback(move || async move { l.push(format!("callback {n}")) });
        }
        assert_eq!(stack.get(a), Some(&"1"));
        stack.get_mut(b).unwrap().push_str("-used");
        log.push("body");
        Ok::<_, Fail>(stack.len())
    })
    .await;
    assert_eq!(r.unwrap(), Some(6));
    assert_eq!(
        events.drain(),
        [
            "enter 1",
            "enter 2",
            "body",
            "callback 3",
            "callback 2",
            "callback 1",
            "exit 2-resource-used: success",
            "exit 1: success",
            "callback 4",
        ]
    );
}

/// test_close
#[tokio::test]
async fn aclose_runs_the_exits_now_and_empties_the_stack() {
    let (log, mut events) = log();
    let mut stack = AsyncExitStack::new();
    let r = stack.enter_async_context(logged("1", &log)).await.unwrap();
    stack.aclose().await.unwrap();
    log.push("after aclose");
    assert!(stack.is_empty());
    assert_eq!(stack.get(r), None, "the resource was exited");
    stack.aclose().await.unwrap();
    assert_eq!(
        events.drain(),
        ["enter 1", "exit 1: success", "after aclose"]
    );
}

/// An `aclose` cut short (a timeout): as in Python, whose cancelled `aclose` goes on through the
/// exits not yet run with `CancelledError`, those exits run with `Outcome::Cancelled` and the
/// timeout awaits them before it returns; the stack is left empty. The exit it was awaiting is
/// dropped, not resumed.
#[tokio::test]
async fn aclose_cut_short_runs_the_exits_left_as_cancelled() {
    let (log, mut events) = log();
    let mut stack = AsyncExitStack::new();
    let r = stack.enter_async_context(logged("1", &log)).await.unwrap();
    let stuck = log.clone();
    stack.push_async_callback(move || async move {
        stuck.push("stuck exit starts");
        pending::<()>().await;
    });
    let timed = weft_async::timeout(Duration::from_millis(10), stack.aclose()).await;
    assert!(timed.is_err(), "the stuck exit holds aclose up");
    log.push("timed out");
    assert!(stack.is_empty(), "no exit is left for a later aclose");
    assert_eq!(stack.get(r), None);
    assert_eq!(
        events.drain(),
        [
            "enter 1",
            "stuck exit starts",
            "exit 1: cancelled",
            "timed out"
        ]
    );
}

/// What an exit run after the cut of an `aclose` produces is not reported: its error is
/// dropped and the timeout still gives `TimeoutError`, where Python's `wait_for` raises the
/// older exit's exception (as documented on `aclose`).
#[tokio::test]
async fn aclose_cut_short_reports_no_error_of_the_exits_run_after() {
    let (log, mut events) = log();
    let mut stack = AsyncExitStack::new();
    let older = log.clone();
    stack.push_async_exit(move |outcome| {
        older.push(format!("older exit: {}", describe(&outcome)));
        async { Err::<(), _>(Fail("ValueError")) }
    });
    stack.push_async_callback(pending::<()>);
    let timed = weft_async::timeout(Duration::from_millis(10), stack.aclose()).await;
    assert!(timed.is_err(), "a TimeoutError, not the older exit's error");
    assert_eq!(events.drain(), ["older exit: cancelled"]);
}

/// test_pop_all: the new stack owns the exits and the handles follow them.
#[tokio::test]
async fn pop_all_moves_the_exits_to_a_new_stack() {
    let (log, mut events) = log();
    let mut kept = None;
    let r = async_with(AsyncExitStack::new(), async |stack| {
        let handle = stack.enter_async_context(logged("3", &log)).await?;
        kept = Some((stack.pop_all(), handle));
        log.push("1");
        Ok::<_, Fail>(())
    })
    .await;
    assert!(r.is_ok());
    log.push("2");
    let (mut new_stack, handle) = kept.unwrap();
    assert_eq!(new_stack.get(handle), Some(&"3"));
    new_stack.aclose().await.unwrap();
    assert_eq!(events.drain(), ["enter 3", "1", "2", "exit 3: success"]);
}

/// test_exit_raise and test_exit_suppress / test_body_exception_suppress.
#[tokio::test]
async fn a_pushed_exit_propagates_or_suppresses_the_body_error() {
    let r = async_with(AsyncExitStack::new(), async |stack| {
        stack.push_async_exit(|_| async { Ok::<_, Fail>(Exit::Propagate) });
        Err::<(), _>(Fail("ZeroDivisionError"))
    })
    .await;
    assert!(matches!(r, Err(WithError::Body(Fail("ZeroDivisionError")))));

    let r = async_with(AsyncExitStack::new(), async |stack| {
        stack.push_async_exit(|_| async { Ok::<_, Fail>(Exit::Suppress) });
        Err::<(), _>(Fail("ZeroDivisionError"))
    })
    .await;
    assert_eq!(r.unwrap(), None);
}

/// test_async_push: the exits newer than the suppressing one see the error, the older ones see
/// success.
#[tokio::test]
async fn exits_older_than_a_suppression_see_success() {
    let (log, mut events) = log();
    let push = |stack: &mut AsyncExitStack, name: &'static str, suppress: bool| {
        let log = log.clone();
        stack.push_async_exit(move |outcome| {
            log.push(format!("{name}: {}", describe(&outcome)));
            async move {
                Ok::<_, Fail>(if suppress {
                    Exit::Suppress
                } else {
                    Exit::Propagate
                })
            }
        });
    };
    let r = async_with(AsyncExitStack::new(), async |stack| {
        push(stack, "expect_ok", false);
        stack
            .enter_async_context(Recorder::new("cm_ok", &log))
            .await?;
        push(stack, "suppress_exc", true);
        stack
            .enter_async_context(Recorder::new("cm_exc", &log))
            .await?;
        push(stack, "expect_exc 1", false);
        push(stack, "expect_exc 2", false);
        Err::<(), _>(Fail("ZeroDivisionError"))
    })
    .await;
    assert_eq!(r.unwrap(), None);
    assert_eq!(
        events.drain(),
        [
            "enter cm_ok",
            "enter cm_exc",
            "expect_exc 2: error ZeroDivisionError",
            "expect_exc 1: error ZeroDivisionError",
            "exit cm_exc-resource: error ZeroDivisionError",
            "suppress_exc: error ZeroDivisionError",
            "exit cm_ok-resource: success",
            "expect_ok: success",
        ]
    );
}

/// test_async_exit_exception_chaining (and its sync reference test): each failing exit's error
/// is what the next exit sees; a suppression cuts the chain.
#[tokio::test]
async fn exit_errors_chain_through_the_stack_and_a_suppression_cuts_the_chain() {
    let saved = Arc::new(Mutex::new(None));
    let raise = |stack: &mut AsyncExitStack, e: &'static str| {
        stack.push_async_callback(move || async move { Err::<(), _>(Fail(e)) });
    };
    let r = async_with(AsyncExitStack::new(), async |stack| {
        raise(stack, "IndexError");
        raise(stack, "KeyError");
        raise(stack, "AttributeError");
        let saved = Arc::clone(&saved);
        stack.push_async_exit(move |outcome| {
            *saved.lock().unwrap() = Some(describe(&outcome));
            async { Ok::<_, Fail>(Exit::Suppress) }
        });
        raise(stack, "ValueError");
        Err::<(), _>(Fail("ZeroDivisionError"))
    })
    .await;
    let (error, body) = match r {
        Err(WithError::Exit { error, body }) => (error, body),
        other => panic!("expected the stack's error, got {other:?}"),
    };
    assert_eq!(body, Some(Fail("ZeroDivisionError")));
    assert_eq!(
        error.error().downcast_ref::<Fail>(),
        Some(&Fail("IndexError"))
    );
    let context: Vec<String> = error.context().map(|e| e.to_string()).collect();
    // Inner exceptions (ValueError, ZeroDivisionError) were suppressed.
    assert_eq!(context, ["KeyError", "AttributeError"]);
    assert_eq!(saved.lock().unwrap().as_deref(), Some("error ValueError"));
    assert_eq!(
        error.to_string(),
        "an exit of the stack failed: IndexError (while handling 2 more exit errors)"
    );
}

/// test_exit_exception_non_suppressing (bpo-19092)
#[tokio::test]
async fn a_failing_exit_fails_the_stack_unless_an_older_exit_suppresses() {
    let mut stack = AsyncExitStack::new();
    stack.push_async_callback(|| async {});
    stack.push_async_callback(|| async { Err::<(), _>(Fail("IndexError")) });
    let e = stack.aclose().await.unwrap_err();
    assert!(e.error().is::<Fail>());
    assert_eq!(e.error().to_string(), "IndexError");

    let mut stack = AsyncExitStack::new();
    stack.push_async_callback(|| async { Err::<(), _>(Fail("KeyError")) });
    stack.push_async_exit(|_| async { Ok::<_, Fail>(Exit::Suppress) });
    stack.push_async_callback(|| async { Err::<(), _>(Fail("IndexError")) });
    let e = stack.aclose().await.unwrap_err();
    assert_eq!(e.error().to_string(), "KeyError");
    assert_eq!(e.context().count(), 0);
}

/// test_exit_exception_with_correct_context (bpo-20317)
#[tokio::test]
async fn managers_failing_in_turn_chain_their_errors() {
    let r = async_with(AsyncExitStack::new(), async |stack| {
        for e in ["exc4", "exc3", "exc2"] {
            stack.enter_async_context(failing_exit(e)).await?;
        }
        Err::<(), _>(Fail("exc1"))
    })
    .await;
    match r {
        Err(WithError::Exit { error, body }) => {
            assert_eq!(error.error().to_string(), "exc4");
            let context: Vec<String> = error.context().map(|e| e.to_string()).collect();
            assert_eq!(context, ["exc3", "exc2"]);
            assert_eq!(body, Some(Fail("exc1")));
        }
        other => panic!("expected the stack's error, got {other:?}"),
    }
}

/// test_exit_exception_chaining_suppress
#[tokio::test]
async fn an_oldest_suppressing_exit_clears_every_newer_error() {
    let mut stack = AsyncExitStack::new();
    stack.push_async_exit(|_| async { Ok::<_, Fail>(Exit::Suppress) });
    stack.push_async_exit(|_| async { Err::<(), _>(Fail("ZeroDivisionError")) });
    stack.push_async_exit(|_| async { Err::<(), _>(Fail("KeyError")) });
    stack.aclose().await.unwrap();
}

/// test_excessive_nesting: exits run in a loop, not by recursion.
#[tokio::test]
async fn ten_thousand_callbacks() {
    let count = Arc::new(Mutex::new(0));
    let mut stack = AsyncExitStack::new();
    for _ in 0..10_000 {
        let count = Arc::clone(&count);
        stack.push_async_callback(move || async move { *count.lock().unwrap() += 1 });
    }
    stack.aclose().await.unwrap();
    assert_eq!(*count.lock().unwrap(), 10_000);
}

#[tokio::test]
async fn a_manager_that_fails_to_enter_is_not_pushed() {
    let (log, mut events) = log();
    let mut stack = AsyncExitStack::new();
    let mut cm = Recorder::new("cm", &log);
    cm.enter_fails = true;
    assert_eq!(
        stack.enter_async_context(cm).await.unwrap_err(),
        Fail("enter failed")
    );
    assert!(stack.is_empty());
    stack.aclose().await.unwrap();
    assert_eq!(events.drain(), ["enter cm"]);
}

#[tokio::test]
async fn a_panic_passes_through_every_exit_of_the_stack() {
    let (log, mut events) = log();
    let message = panic_of(async_with(AsyncExitStack::new(), async |stack| {
        stack.enter_async_context(logged("1", &log)).await?;
        // Suppression does not stop a panic, and the older exits still see it.
        stack.push_async_exit(|_| async { Ok::<_, Fail>(Exit::Suppress) });
        stack.enter_async_context(logged("2", &log)).await?;
        if events_never_empty() {
            panic!("boom");
        }
        Ok::<(), Fail>(())
    }))
    .await;
    assert_eq!(message, "boom");
    assert_eq!(
        events.drain(),
        [
            "enter 1",
            "enter 2",
            "exit 2: panicked boom",
            "exit 1: panicked boom"
        ]
    );
}

#[tokio::test]
async fn a_stack_dropped_unclosed_runs_its_exits_on_a_task_with_cancelled() {
    let (log, mut events) = log();
    let mut stack = AsyncExitStack::new();
    stack.enter_async_context(logged("1", &log)).await.unwrap();
    stack.enter_async_context(logged("2", &log)).await.unwrap();
    drop(stack);
    assert_eq!(events.next().await, "enter 1");
    assert_eq!(events.next().await, "enter 2");
    assert_eq!(events.next().await, "exit 2: cancelled");
    assert_eq!(events.next().await, "exit 1: cancelled");
}

#[tokio::test]
async fn a_stack_in_an_aborted_task_runs_its_exits_with_cancelled() {
    let (log, mut events) = log();
    let task_log = log.clone();
    let task = tokio::spawn(async_with(AsyncExitStack::new(), async move |stack| {
        stack.enter_async_context(logged("1", &task_log)).await?;
        stack.enter_async_context(logged("2", &task_log)).await?;
        pending::<()>().await;
        Ok::<(), Fail>(())
    }));
    assert_eq!(events.next().await, "enter 1");
    assert_eq!(events.next().await, "enter 2");
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    assert_eq!(events.next().await, "exit 2: cancelled");
    assert_eq!(events.next().await, "exit 1: cancelled");
}

#[test]
fn a_stack_dropped_without_a_runtime_drops_its_resources_newest_first() {
    let dropped = Arc::new(Mutex::new(Vec::new()));
    let exited = Arc::new(AtomicBool::new(false));
    let mut stack = AsyncExitStack::new();
    for name in ["1", "2", "3"] {
        let (d, x) = (Arc::clone(&dropped), Arc::clone(&exited));
        let cm = context_manager(
            move || async move { Ok::<_, Fail>(Tracked { name, dropped: d }) },
            move |_, _| {
                x.store(true, Ordering::SeqCst);
                async { Ok(()) }
            },
        );
        // Setup is ready at once: no runtime is needed to enter.
        let entered = stack.enter_async_context(cm).now_or_never();
        assert!(matches!(entered, Some(Ok(_))));
    }
    drop(stack);
    assert_eq!(*dropped.lock().unwrap(), ["3", "2", "1"]);
    assert!(
        !exited.load(Ordering::SeqCst),
        "an exit ran without a runtime"
    );
}

#[test]
fn debug_output() {
    let mut stack = AsyncExitStack::new();
    stack.push_async_callback(|| async {});
    assert_eq!(format!("{stack:?}"), "AsyncExitStack { len: 1 }");
    let e: WithError<Fail, Fail> = WithError::Exit {
        error: Fail("close"),
        body: Some(Fail("query")),
    };
    assert_eq!(
        format!("{e:?}"),
        "Exit { error: Fail(\"close\"), body: Some(Fail(\"query\")) }"
    );
}

/// From review: a body that is a closure returning a future (it satisfies `AsyncFnOnce`) and
/// panics before returning it. The call `body(resource)` was outside `catch_unwind`, so the exit
/// was not awaited with `Outcome::Panicked` but spawned with `Outcome::Cancelled` (and with no
/// runtime not run at all).
#[tokio::test]
async fn a_panic_in_the_body_closure_before_its_future_still_awaits_the_exit() {
    let (log, mut events) = log();
    let message = panic_of(async_with(
        Recorder::new("cm", &log),
        |_: &mut String| -> std::future::Ready<Result<(), Fail>> {
            if events_never_empty() {
                panic!("boom before the future");
            }
            std::future::ready(Ok(()))
        },
    ))
    .await;
    assert_eq!(message, "boom before the future");
    assert_eq!(
        events.drain(),
        [
            "enter cm",
            "exit cm-resource: panicked boom before the future"
        ]
    );
}

/// An exit that panics does not stop the stack: the older exits still run and see the panic,
/// which comes out of `aclose` once they have (Python's stack goes on past an exit that raises).
#[tokio::test]
async fn a_panicking_exit_lets_the_older_exits_run_and_then_resumes() {
    let (log, mut events) = log();
    let (oldest, middle) = (log.clone(), log.clone());
    let mut stack = AsyncExitStack::new();
    stack.push_async_callback(move || async move { oldest.push("oldest ran") });
    stack.push_async_exit(move |outcome| {
        let how = describe(&outcome);
        async move {
            middle.push(format!("middle sees {how}"));
            Ok::<_, Fail>(Exit::Suppress)
        }
    });
    stack.push_async_callback(|| async {
        panic!("newest exit panics");
        #[allow(unreachable_code, reason = "gives the closure its return type")]
        ()
    });
    let caught = AssertUnwindSafe(stack.aclose()).catch_unwind().await;
    assert_eq!(panic_message(&*caught.unwrap_err()), "newest exit panics");
    assert_eq!(
        events.drain(),
        ["middle sees panicked newest exit panics", "oldest ran"]
    );
    assert!(stack.is_empty());
}

/// A second exit panic, whose payload panics when dropped, is dropped without a trace: the first
/// panic still comes out of `aclose` after the oldest exit ran.
#[tokio::test]
async fn a_second_exit_panic_whose_payload_panics_when_dropped_stops_nothing() {
    let (log, mut events) = log();
    let oldest = log.clone();
    let mut stack = AsyncExitStack::new();
    stack.push_async_callback(move || async move { oldest.push("oldest ran") });
    stack.push_async_callback(|| async {
        std::panic::panic_any(PanicOnDrop);
        #[allow(unreachable_code, reason = "gives the closure its return type")]
        ()
    });
    stack.push_async_callback(|| async {
        panic!("newest exit panics");
        #[allow(unreachable_code, reason = "gives the closure its return type")]
        ()
    });
    let caught = AssertUnwindSafe(stack.aclose()).catch_unwind().await;
    assert_eq!(panic_message(&*caught.unwrap_err()), "newest exit panics");
    assert_eq!(events.drain(), ["oldest ran"]);
}

/// While a panic propagates through a stack, an exit that fails does not hide it: the exits
/// after it still see the panic, which no exit can suppress.
#[tokio::test]
async fn exits_after_a_failed_one_still_see_the_body_panic() {
    let (log, mut events) = log();
    let seen_by = log.clone();
    let caught = AssertUnwindSafe(async_with(
        AsyncExitStack::new(),
        async move |stack| -> Result<(), Fail> {
            stack.push_async_exit(move |outcome| {
                let how = describe(&outcome);
                async move {
                    seen_by.push(format!("older sees {how}"));
                    Ok::<_, Fail>(Exit::Suppress)
                }
            });
            stack.push_async_callback(|| async { Err::<(), _>(Fail("newer fails")) });
            panic!("body panics")
        },
    ))
    .catch_unwind()
    .await;
    assert_eq!(panic_message(&*caught.unwrap_err()), "body panics");
    assert_eq!(events.drain(), ["older sees panicked body panics"]);
}

/// Looking up each resource of a large stack takes linear time in all, not quadratic: `get`
/// and `get_mut` searched from the newest end, so 50 000 lookups of 50 000 resources took
/// minutes (a watchdog of ten seconds fails it); the ids are in order, so they bisect.
#[test]
fn looking_up_each_resource_of_a_large_stack() {
    common::run_within_watchdog(
        || async {
            const N: u32 = 50_000;
            let mut stack = AsyncExitStack::new();
            let mut handles = Vec::new();
            for i in 0..N {
                let cm = context_manager(
                    move || async move { Ok::<_, std::convert::Infallible>(i) },
                    |_, _| async { Ok(()) },
                );
                handles.push(stack.enter_async_context(cm).await.unwrap());
                // Callbacks between the managers: entries without a resource.
                stack.push_async_callback(|| async {});
            }
            for (i, h) in (0..N).zip(&handles) {
                assert_eq!(stack.get(*h), Some(&i));
                *stack.get_mut(*h).unwrap() += 1;
            }
            let kept = stack.pop_all();
            assert_eq!(stack.get(handles[0]), None, "moved on with pop_all");
            assert_eq!(kept.get(handles[0]), Some(&1));
            assert_eq!(kept.get(handles[handles.len() - 1]), Some(&N));
            let mut kept = kept;
            kept.aclose().await.unwrap();
            assert_eq!(kept.get(handles[0]), None, "exited");
        },
        "looking up each resource of a large stack",
    );
}

/// An error whose source is an `Inner`.
#[derive(Debug)]
struct Outer;
impl fmt::Display for Outer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("outer cause")
    }
}
impl std::error::Error for Outer {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&Inner)
    }
}

#[derive(Debug)]
struct Inner;
impl fmt::Display for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("inner cause")
    }
}
impl std::error::Error for Inner {}

/// Every `WithError` shows its error's text in its message, so `source()` goes on from under
/// that error (as `std::io::Error`'s does, and weft's other wrapping errors): a chain printer
/// shows each text once, and nothing under it is lost.
#[test]
fn with_errors_show_each_cause_once_in_the_chain() {
    let errors: [WithError<Outer, Outer>; 4] = [
        WithError::Enter(Outer),
        WithError::Body(Outer),
        WithError::Exit {
            error: Outer,
            body: None,
        },
        WithError::Exit {
            error: Outer,
            body: Some(Outer),
        },
    ];
    for e in &errors {
        let chain: Vec<String> =
            std::iter::successors(Some(e as &(dyn std::error::Error + 'static)), |e| {
                e.source()
            })
            .map(|e| e.to_string())
            .collect();
        assert_eq!(chain.len(), 2, "{chain:?}");
        assert_eq!(chain[1], "inner cause", "{chain:?}");
    }
}
