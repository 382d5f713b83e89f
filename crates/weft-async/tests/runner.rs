//! `Runner`, checked against what CPython 3.11's `asyncio.Runner` does in the same scenario
//! (each test says what Python does). Every wait on another thread is bounded, and every test
//! that could hang runs under a watchdog: a hang fails the test.
#![allow(
    clippy::async_yields_async,
    reason = "a run that returns a task, for the next run to await, is the point"
)]

mod common;

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use common::{within_watchdog, Probe};
use weft_async::{
    async_with, context_manager, create_task, run, yield_now, Loop, Outcome, RunError, Runner,
};

/// A shared log of what ran.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    fn push(&self, line: impl Into<String>) {
        self.0.lock().unwrap().push(line.into());
    }

    fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

/// A future inside `async_with` that never ends: its exit logs how the body ended.
fn pending_in_async_with(log: &Log) -> impl std::future::Future<Output = ()> + Send + use<> {
    let (enter, exit) = (log.clone(), log.clone());
    let cm = context_manager(
        move || async move {
            enter.push("enter");
            Ok::<_, Infallible>(())
        },
        move |(), outcome| {
            let cancelled = matches!(outcome, Outcome::Cancelled);
            async move {
                exit.push(if cancelled {
                    "exit cancelled"
                } else {
                    "exit other"
                });
                yield_now().await; // an exit that really awaits
                exit.push("exit done");
                Ok::<_, Infallible>(())
            }
        },
    );
    async move {
        let _ = async_with(cm, async |_: &mut ()| {
            std::future::pending::<Result<(), Infallible>>().await
        })
        .await;
    }
}

/// Python: a task created in one `runner.run` and not finished stays pending (no `finally`
/// runs) and makes no progress while no `run` is under way; it goes on in the next `run`, whose
/// coroutine can await it. (A runner that wound its tasks down after each run, as `run` does,
/// or whose loop ran between runs, fails here.)
#[test]
fn a_task_waits_between_runs_and_goes_on_in_the_next() {
    within_watchdog(
        || {
            let mut runner = Runner::new();
            let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
            let (ran_tx, ran_rx) = mpsc::channel();
            let probe = Probe::default();
            let held = probe.clone();
            let task = runner
                .run(async move {
                    let task = create_task(async move {
                        let _held = held;
                        ran_tx.send("started").unwrap();
                        go_rx.await.unwrap();
                        ran_tx.send("woken").unwrap();
                        7
                    });
                    yield_now().await; // the task has its first step
                    task
                })
                .unwrap();
            assert_eq!(ran_rx.try_recv(), Ok("started"));
            assert_eq!(probe.live(), 1, "the task is not dropped at the run's end");
            assert!(!task.done());
            // Woken between runs: under one thread it runs only in the next run.
            go_tx.send(()).unwrap();
            assert_eq!(
                ran_rx.recv_timeout(Duration::from_millis(300)),
                Err(mpsc::RecvTimeoutError::Timeout),
                "the task ran while no run was under way"
            );
            assert_eq!(runner.run(task).unwrap(), Ok(7));
            assert_eq!(ran_rx.try_recv(), Ok("woken"));
            assert_eq!(probe.live(), 0);
            runner.close().unwrap();
        },
        "the runner's runs returned",
    );
}

/// Under `Runner::multi_thread` the worker threads go on running the tasks between runs (as
/// documented; Python has no such loop).
#[test]
fn a_multi_thread_runners_tasks_go_on_between_runs() {
    within_watchdog(
        || {
            let mut runner = Runner::multi_thread();
            let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
            let (ran_tx, ran_rx) = mpsc::channel();
            let task = runner
                .run(async move {
                    create_task(async move {
                        go_rx.await.unwrap();
                        ran_tx.send("woken").unwrap();
                    })
                })
                .unwrap();
            go_tx.send(()).unwrap();
            assert_eq!(ran_rx.recv_timeout(Duration::from_secs(10)), Ok("woken"));
            runner.run(task).unwrap().unwrap();
        },
        "the runner's runs returned",
    );
}

/// Python: `close()` (the `with` block's end) cancels every task left, held or not, and runs
/// the loop until they have handled it: their `__aexit__`s run with `CancelledError`, to the
/// end, before `close` returns.
#[test]
fn close_cancels_every_task_and_awaits_their_exits() {
    for multi in [false, true] {
        let log = Log::default();
        let l = log.clone();
        within_watchdog(
            move || {
                let mut runner = if multi {
                    Runner::multi_thread()
                } else {
                    Runner::new()
                };
                let (held, detached_probe) = runner
                    .run(async move {
                        let held = create_task(pending_in_async_with(&l));
                        let probe = Probe::default();
                        create_task(probe.held_for_an_hour()).detach();
                        while l.lines().is_empty() {
                            yield_now().await; // until the held task is inside its block
                        }
                        (held, probe)
                    })
                    .unwrap();
                assert_eq!(log.lines(), ["enter"]);
                assert_eq!(detached_probe.live(), 1);
                // Between runs, a task is let go: it is cancelled at the close too.
                runner.close().unwrap();
                assert_eq!(log.lines(), ["enter", "exit cancelled", "exit done"]);
                assert_eq!(detached_probe.live(), 0);
                assert!(held.done());
                // `cancelled()` tells a `cancel()` reached it, which the close's is not (Python's
                // is `True`): its await says so.
                assert!(!held.cancelled());
                assert_eq!(run(held).unwrap(), Err(weft_async::TaskError::Cancelled));
            },
            "the close returned",
        );
    }
}

/// Python: a panic (exception) in the run's coroutine propagates out of `run`, and the runner
/// stays usable: its tasks are still there for the next run. (`run` also propagates the panic,
/// after its wind-down.)
#[test]
fn a_panic_propagates_and_leaves_the_runner_open() {
    within_watchdog(
        || {
            let mut runner = Runner::new();
            let probe = Probe::default();
            let p = probe.clone();
            let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                runner.run(async move {
                    create_task(p.held_for_an_hour()).detach();
                    yield_now().await;
                    panic!("boom");
                })
            }));
            assert!(panicked.is_err());
            assert_eq!(probe.live(), 1, "the task outlives the panicking run");
            assert_eq!(runner.run(async { 5 }).unwrap(), 5);
            runner.close().unwrap();
            assert_eq!(probe.live(), 0);
        },
        "the runs returned",
    );
}

/// Python: `with asyncio.Runner() as r: r.run(main())` where `main` raises: the `with` block's
/// exit closes the runner as the exception goes through, so the tasks' `__aexit__`s run. Here
/// the runner's drop while the panic unwinds does the same; a cancelled task's destructor that
/// panics then is caught as in `close` (where a drop on the unwinding thread would abort the
/// process: a panic during a panic).
#[test]
fn a_runner_dropped_by_a_panic_closes_with_the_exits() {
    struct PanicsOnDrop;
    impl Drop for PanicsOnDrop {
        fn drop(&mut self) {
            panic!("a destructor panics");
        }
    }
    let log = Log::default();
    let l = log.clone();
    within_watchdog(
        move || {
            let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
                let mut runner = Runner::new();
                runner
                    .run(async move {
                        create_task(async {
                            let _bomb = PanicsOnDrop;
                            std::future::pending::<()>().await
                        })
                        .detach();
                        create_task(pending_in_async_with(&l)).detach();
                        while l.lines().is_empty() {
                            yield_now().await;
                        }
                        panic!("boom");
                    })
                    .unwrap();
            }));
            assert!(panicked.is_err());
        },
        "the drop returned",
    );
    assert_eq!(log.lines(), ["enter", "exit cancelled", "exit done"]);
}

/// Python: a `call_soon_threadsafe` to the runner's loop while no run is under way runs at the
/// next `run`; one queued before `close` runs as it closes; after the close it raises
/// `RuntimeError: Event loop is closed`. The loop of `get_loop()` and of `get_running_loop()`
/// in a run are the same.
#[test]
fn the_loop_takes_calls_between_runs_until_closed() {
    within_watchdog(
        || {
            let mut runner = Runner::new();
            let lp = runner.run(async { Loop::current().unwrap() }).unwrap();
            let (tx, rx) = mpsc::channel();
            let t = tx.clone();
            std::thread::spawn(move || lp.call_soon_threadsafe(move || t.send(1).unwrap()))
                .join()
                .unwrap()
                .unwrap();
            assert!(rx.try_recv().is_err(), "nothing runs between runs");
            runner.run(yield_now()).unwrap();
            assert_eq!(rx.try_recv(), Ok(1));

            let lp = runner.get_loop().unwrap();
            let t = tx.clone();
            lp.call_soon_threadsafe(move || t.send(2).unwrap()).unwrap();
            runner.close().unwrap();
            assert_eq!(rx.try_recv(), Ok(2), "the close ran the queued call");

            let refused = lp.call_soon_threadsafe(move || tx.send(3).unwrap());
            let f = refused.expect_err("a closed runner's loop refuses calls");
            assert!(rx.try_recv().is_err());
            f.into_inner()();
            assert_eq!(rx.try_recv(), Ok(3), "the call came back unrun");
        },
        "the runs returned",
    );
}

/// Python: `run` after `close` raises `RuntimeError: Runner is closed` (so does `get_loop`);
/// `close` twice is fine. Here the future comes back.
#[test]
fn run_after_close_gives_the_future_back() {
    let mut runner = Runner::new();
    assert_eq!(runner.run(async { 1 }).unwrap(), 1);
    runner.close().unwrap();
    runner.close().unwrap();
    let ran = Arc::new(AtomicBool::new(false));
    let r = ran.clone();
    let err = runner
        .run(async move { r.store(true, Ordering::SeqCst) })
        .unwrap_err();
    assert!(err.is_closed());
    assert_eq!(err.to_string(), "runner is closed");
    assert!(runner.get_loop().unwrap_err().is_closed());
    assert!(!ran.load(Ordering::SeqCst));
    run(err.into_inner()).unwrap();
    assert!(ran.load(Ordering::SeqCst));
}

/// Python: `close()` on a runner whose loop was never built (no `run`, no `get_loop`) returns
/// at once and leaves the runner usable: `run` then works, and a later `close` closes it.
#[test]
fn closing_a_runner_that_never_ran_leaves_it_usable() {
    within_watchdog(
        || {
            let mut runner = Runner::new();
            runner.close().unwrap();
            runner.close().unwrap();
            assert_eq!(runner.run(async { 5 }).unwrap(), 5);
            runner.close().unwrap();
            assert!(runner.run(async {}).unwrap_err().is_closed());
            let mut runner = Runner::multi_thread();
            runner.close().unwrap();
            assert!(runner.get_loop().is_ok());
            runner.close().unwrap();
            assert!(runner.get_loop().unwrap_err().is_closed());
        },
        "a runner closed before it ran",
    );
}

/// Python: `runner.run` inside a running loop raises `RuntimeError: Runner.run() cannot be
/// called from a running event loop`, checked before whether the runner is closed. Here the
/// future comes back, and the runner stays usable.
#[test]
fn a_nested_run_gives_the_future_back() {
    let mut closed = Runner::new();
    closed.run(async {}).unwrap();
    closed.close().unwrap();
    let (mut inner, mut closed) = run(async move {
        let mut inner = Runner::new();
        let err = inner.run(async { 2 }).unwrap_err();
        assert!(err.is_nested());
        assert_eq!(err.into_inner().await, 2);
        assert!(closed.run(async {}).unwrap_err().is_nested());
        (inner, closed)
    })
    .unwrap();
    assert_eq!(inner.run(async { 3 }).unwrap(), 3);
    assert!(matches!(closed.run(async {}), Err(RunError::Closed(_))));
}

/// `RunError::Build` shows the OS error's text, so its `source()` goes on below it, as
/// `std::io::Error`'s does: a chain printer shows that text once.
#[test]
fn a_build_error_shows_its_cause_once_in_the_chain() {
    let e = RunError::Build(std::io::Error::other("no timer"), ());
    assert_eq!(e.to_string(), "cannot build the runtime: no timer");
    assert!(std::error::Error::source(&e).is_none());
}

/// Python's `close()` in a running loop raises `RuntimeError`; here `close` gives `CloseError`
/// and the runner stays open, to be closed later; dropped in a task, it shuts its runtime down
/// without blocking.
#[test]
fn close_in_a_task_is_refused_and_drop_does_not_block() {
    within_watchdog(
        || {
            let ended = Arc::new(AtomicUsize::new(0));
            let mut runner = Runner::new();
            let probe = Probe::default();
            let p = probe.clone();
            runner
                .run(async move { create_task(p.held_for_an_hour()).detach() })
                .unwrap();
            let e = ended.clone();
            let mut runner = run(async move {
                assert!(runner.close().is_err());
                e.fetch_add(1, Ordering::SeqCst);
                runner
            })
            .unwrap();
            assert_eq!(ended.load(Ordering::SeqCst), 1);
            assert_eq!(probe.live(), 1, "still open");
            runner.close().unwrap();
            assert_eq!(probe.live(), 0);

            let mut runner = Runner::new();
            let p = probe.clone();
            runner
                .run(async move { create_task(p.held_for_an_hour()).detach() })
                .unwrap();
            run(async move { drop(runner) }).unwrap();
            assert_eq!(probe.live(), 0, "the task went with the runtime");
        },
        "the runs returned",
    );
}

/// `run_coroutine_threadsafe` to a runner's loop between runs: under one thread it runs at the
/// next run; a coroutine still pending at the close is cancelled, its exits awaited, and its
/// future answers (Python's may never answer, as documented on `run_coroutine_threadsafe`).
#[cfg(feature = "executor")]
#[test]
fn run_coroutine_threadsafe_between_runs() {
    let log = Log::default();
    let l = log.clone();
    within_watchdog(
        move || {
            let mut runner = Runner::new();
            let lp = runner.get_loop().unwrap();
            let f = lp.run_coroutine_threadsafe(async { 6 * 7 }).unwrap();
            assert!(!f.done());
            runner.run(yield_now()).unwrap();
            assert_eq!(f.result_timeout(Duration::from_secs(10)).ok(), Some(42));
            let pending = lp
                .run_coroutine_threadsafe(pending_in_async_with(&l))
                .unwrap();
            runner
                .run(async {
                    while l.lines().is_empty() {
                        yield_now().await;
                    }
                })
                .unwrap();
            runner.close().unwrap();
            assert_eq!(l.lines(), ["enter", "exit cancelled", "exit done"]);
            assert!(matches!(
                pending.result_timeout(Duration::from_secs(10)),
                Err(weft_executor::ResultTimeoutError::Task(e)) if e.is_cancelled()
            ));
        },
        "the runs returned",
    );
}

/// Python: a `Runner` works in a `to_thread` worker, as `asyncio.run` does; so does it here,
/// close and all.
#[test]
fn a_runner_works_in_a_to_thread_function() {
    let (out, closed) = within_watchdog(
        || {
            run(async {
                weft_async::to_thread(|| {
                    let mut runner = Runner::new();
                    let task = runner.run(async { create_task(async { 8 }) }).unwrap();
                    let out = runner.run(task).unwrap();
                    let pending = runner
                        .run(async { create_task(std::future::pending::<()>()) })
                        .unwrap();
                    runner.close().unwrap();
                    (out, pending.done())
                })
                .await
                .unwrap()
            })
            .unwrap()
        },
        "the runs returned",
    );
    assert_eq!((out, closed), (Ok(8), true));
}

// ---------------------------------------------------------------------------------------------
// The end of a run: the extra turn. Python's `run_until_complete` stops the loop from the main
// task's done callback, and the loop finishes the iteration it is in: every callback ready then
// runs once (a task made ready in the main coroutine's last step has its step), nothing made
// ready in that turn runs; then `asyncio.run` cancels what is left.

/// Logs `line` when dropped: a task's `finally`.
struct Finally(Log, &'static str);

impl Drop for Finally {
    fn drop(&mut self) {
        self.0.push(self.1);
    }
}

/// A task that logs `start`, then waits an hour inside a `finally` that logs `end`.
fn started_then_pending(
    log: &Log,
    start: &'static str,
    end: &'static str,
) -> impl std::future::Future<Output = ()> + Send + use<> {
    let log = log.clone();
    async move {
        let _finally = Finally(log.clone(), end);
        log.push(start);
        weft_async::sleep(common::HOUR).await;
    }
}

/// Python: `async def main(): asyncio.create_task(f())`, where `f` prints 'started', sleeps
/// and prints 'finally' in a `finally:`, gives `['started', 'finally']`: the task created in
/// the main coroutine's last step runs to its first `await` before it is cancelled. So does a
/// task created before a panic in the main future (Python: an exception in `main`).
#[test]
fn a_task_created_in_the_last_step_runs_to_its_first_await() {
    for (multi, panics) in [(false, false), (false, true), (true, false)] {
        let log = within_watchdog(
            move || {
                let log = Log::default();
                let l = log.clone();
                let main = async move {
                    create_task(started_then_pending(&l, "started", "finally")).detach();
                    if panics {
                        panic!("main fails");
                    }
                };
                let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    if multi {
                        weft_async::run_multi_thread(main).unwrap()
                    } else {
                        run(main).unwrap()
                    }
                }));
                assert_eq!(ran.is_err(), panics);
                log.lines()
            },
            "the run returned",
        );
        assert_eq!(
            log,
            ["started", "finally"],
            "multi {multi}, panics {panics}"
        );
    }
}

/// Python: `t = runner.run(make_task())`, where `make_task` returns `create_task(six())` and
/// `six` needs no `await`, leaves `t` done with result 6.
#[test]
fn a_runs_last_step_task_is_done_when_the_run_returns() {
    within_watchdog(
        || {
            let mut runner = Runner::new();
            let task = runner.run(async { create_task(async { 6 }) }).unwrap();
            assert!(task.done(), "the task had its turn before the run returned");
            assert_eq!(runner.run(task).unwrap(), Ok(6));
            runner.close().unwrap();
        },
        "the runs returned",
    );
}

/// Python: a waiter that an `Event` set in the main coroutine's last step wakes runs past its
/// `wait()` before the cancellation (`['woke', 'finally']`).
#[test]
fn a_task_woken_in_the_last_step_runs_its_step() {
    let log = within_watchdog(
        || {
            let log = Log::default();
            let l = log.clone();
            run(async move {
                let ev = Arc::new(weft_async::Event::new());
                let (waiter_ev, wl) = (ev.clone(), l.clone());
                create_task(async move {
                    let _finally = Finally(wl.clone(), "finally");
                    waiter_ev.wait().await;
                    wl.push("woke");
                    weft_async::sleep(common::HOUR).await;
                })
                .detach();
                yield_now().await; // the waiter waits
                ev.set();
            })
            .unwrap();
            log.lines()
        },
        "the run returned",
    );
    assert_eq!(log, ["woke", "finally"]);
}

/// Python: what the extra turn makes ready does not run before the cancellation: a task created
/// there is cancelled unstarted, a waiter woken there is cancelled at its `wait()`
/// (`['outer started', 'A runs', ...]` without 'inner started' nor 'W woke').
#[test]
fn what_the_extra_turn_makes_ready_does_not_run() {
    let mut log = within_watchdog(
        || {
            let log = Log::default();
            let l = log.clone();
            run(async move {
                let ev = Arc::new(weft_async::Event::new());
                let (waiter_ev, wl) = (ev.clone(), l.clone());
                create_task(async move {
                    let _finally = Finally(wl.clone(), "W finally");
                    waiter_ev.wait().await;
                    wl.push("W woke");
                })
                .detach();
                yield_now().await; // the waiter waits
                let ol = l.clone();
                create_task(async move {
                    let _finally = Finally(ol.clone(), "outer finally");
                    ol.push("outer started");
                    ev.set();
                    let inner = started_then_pending(&ol, "inner started", "inner finally");
                    let _inner = create_task(inner);
                    weft_async::sleep(common::HOUR).await;
                })
                .detach();
            })
            .unwrap();
            log.lines()
        },
        "the run returned",
    );
    log.sort();
    assert_eq!(log, ["W finally", "outer finally", "outer started"]);
}

/// Python: in a runner, a task created in the extra turn starts in the next `run`
/// (`['outer started']` after the first, then `'inner started', 'outer 2'`).
#[test]
fn a_task_created_in_a_runners_extra_turn_starts_in_the_next_run() {
    within_watchdog(
        || {
            let log = Log::default();
            let l = log.clone();
            let mut runner = Runner::new();
            runner
                .run(async move {
                    create_task(async move {
                        l.push("outer started");
                        let il = l.clone();
                        create_task(async move { il.push("inner started") }).detach();
                        yield_now().await;
                        l.push("outer 2");
                    })
                    .detach();
                })
                .unwrap();
            assert_eq!(log.lines(), ["outer started"]);
            runner.run(yield_now()).unwrap();
            let mut lines = log.lines();
            lines.sort();
            assert_eq!(lines, ["inner started", "outer 2", "outer started"]);
            runner.close().unwrap();
        },
        "the runs returned",
    );
}

/// Python: what a runner's extra turn made ready runs in the next `run` before that run's
/// coroutine's first step, also when the coroutine needs no `await`
/// (`['T step', 'main2 first step']`), and each `run` gives a task that keeps yielding its
/// steps (`[1, 4, 6, 8]` after four runs: none, one `sleep(0)`, none, none). (A held task
/// woken as the runner's `run` returned, and a task left on tokio's queue, came after the new
/// future's first poll: the held one then behind the marker of the turn too, held back again,
/// so that it never ran in runs that do not await; the yielding task had `[1, 3, 4, 5]`.)
#[test]
fn what_a_runners_extra_turn_made_ready_runs_first_in_the_next_run() {
    within_watchdog(
        || {
            let log = Log::default();
            let l = log.clone();
            let mut runner = Runner::new();
            runner
                .run(async move {
                    create_task(async move {
                        create_task(async move { l.push("T step") }).detach();
                    })
                    .detach();
                })
                .unwrap();
            assert!(log.lines().is_empty(), "T was created in the extra turn");
            let l = log.clone();
            runner
                .run(async move { l.push("main2 first step") })
                .unwrap();
            assert_eq!(log.lines(), ["T step", "main2 first step"]);

            let steps = Arc::new(AtomicUsize::new(0));
            let s = steps.clone();
            let mut counts = Vec::new();
            runner
                .run(async move {
                    create_task(async move {
                        loop {
                            s.fetch_add(1, Ordering::SeqCst);
                            yield_now().await;
                        }
                    })
                    .detach();
                })
                .unwrap();
            counts.push(steps.load(Ordering::SeqCst));
            runner.run(yield_now()).unwrap();
            counts.push(steps.load(Ordering::SeqCst));
            for _ in 0..2 {
                runner.run(async {}).unwrap();
                counts.push(steps.load(Ordering::SeqCst));
            }
            runner.close().unwrap();
            assert_eq!(counts, [1, 4, 6, 8]);
        },
        "the runs returned",
    );
}

/// Python: a function handed to the runner's loop with `call_soon_threadsafe` between two runs
/// runs at the next `run`, before its coroutine's first step (`['callback', 'main first
/// step']`). (The function's task, queued from another thread, came after the future's first
/// poll.)
#[test]
fn a_call_handed_over_between_runs_runs_before_the_next_futures_first_step() {
    let log = within_watchdog(
        || {
            let log = Log::default();
            let mut runner = Runner::new();
            let lp = runner.get_loop().unwrap();
            let l = log.clone();
            std::thread::spawn(move || {
                lp.call_soon_threadsafe(move || l.push("callback"))
                    .map(drop)
                    .map_err(drop)
            })
            .join()
            .unwrap()
            .unwrap();
            let l = log.clone();
            runner
                .run(async move { l.push("main first step") })
                .unwrap();
            runner.close().unwrap();
            log.lines()
        },
        "the run returned",
    );
    assert_eq!(log, ["callback", "main first step"]);
}

/// A task that wakes itself at every step (`yield_now` in a loop, or a waker woken in its own
/// poll, in a task of weft's or one `tokio::spawn` started) does not hold the run's end: the
/// extra turn is one pass. Python: such a task has one step in that turn (and in a runner, the
/// next in the next run).
#[test]
fn a_self_waking_task_does_not_hold_the_runs_end() {
    /// A future that wakes itself in every poll and never ends, counting its polls.
    fn spinning(polls: Arc<AtomicUsize>) -> impl std::future::Future<Output = ()> + Send {
        std::future::poll_fn(move |cx| {
            polls.fetch_add(1, Ordering::SeqCst);
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        })
    }
    for runner in [false, true] {
        let polls = within_watchdog(
            move || {
                let (polls, tokio_polls) = (Arc::new(AtomicUsize::new(0)), Arc::default());
                let (p, tp) = (polls.clone(), Arc::clone(&tokio_polls));
                let main = async move {
                    create_task(async {
                        loop {
                            yield_now().await;
                        }
                    })
                    .detach();
                    create_task(spinning(p)).detach();
                    drop(tokio::spawn(spinning(tp)));
                };
                let polls_at_the_end = if runner {
                    let mut runner = Runner::new();
                    runner.run(main).unwrap();
                    let first = polls.load(Ordering::SeqCst);
                    runner.run(yield_now()).unwrap();
                    runner.close().unwrap();
                    first
                } else {
                    run(main).unwrap();
                    polls.load(Ordering::SeqCst)
                };
                assert!(tokio_polls.load(Ordering::SeqCst) >= 1);
                polls_at_the_end
            },
            "the run returned though a task keeps waking itself",
        );
        assert_eq!(
            polls, 1,
            "the spinner had one step at the end (runner {runner})"
        );
    }
}

/// Python: two tasks that wake each other (an `Event` each, set by the other) left running by
/// one `run` take one step each in the next `run` before its coroutine's first step, and the
/// next ones after it: the count is 1 after the first run, and a coroutine that just reads it
/// sees 2, then 4 (`(1, 2, 4)`). What the steps before the future make ready waits, as Python's
/// next iteration does, instead of going on for a batch of the runtime (61 steps).
#[test]
fn the_steps_before_a_runs_future_are_one_pass() {
    let counts = within_watchdog(
        || {
            let n = Arc::new(AtomicUsize::new(0));
            let mut runner = Runner::new();
            let n1 = n.clone();
            runner
                .run(async move {
                    let ea = Arc::new(weft_async::Event::new());
                    let eb = Arc::new(weft_async::Event::new());
                    for (mine, other) in [(ea.clone(), eb.clone()), (eb.clone(), ea.clone())] {
                        let n = n1.clone();
                        create_task(async move {
                            loop {
                                mine.wait().await;
                                mine.clear();
                                n.fetch_add(1, Ordering::SeqCst);
                                other.set();
                            }
                        })
                        .detach();
                    }
                    yield_now().await; // both wait
                    ea.set();
                })
                .unwrap();
            let mut counts = vec![n.load(Ordering::SeqCst)];
            for _ in 0..2 {
                let n = n.clone();
                counts.push(runner.run(async move { n.load(Ordering::SeqCst) }).unwrap());
            }
            runner.close().unwrap();
            counts
        },
        "the runs returned",
    );
    assert_eq!(counts, [1, 2, 4]);
}
