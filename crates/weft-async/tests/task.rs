//! Behaviour tests of `run`, `run_multi_thread`, `create_task` and [`Task`], `shield`, `sleep`
//! and `yield_now`.
//!
//! Re-expressed from CPython's `Lib/test/test_asyncio/test_runners.py` (`test_asyncio_run_return`,
//! `test_asyncio_run_raises`, `test_asyncio_run_only_coro`'s nested-run case
//! `test_asyncio_run_from_running_loop`, `test_asyncio_run_cancels_hanging_tasks`,
//! `test_asyncio_run_reports_hanging_tasks_errors`'s cleanup half) and
//! `Lib/test/test_asyncio/test_tasks.py` (`test_task_cancel_sleeping_task`, `test_cancel`,
//! `test_cancel_done_future`, `test_task_basics`, `test_get_name`/`test_task_default_name`,
//! `test_shield_result`, `test_shield_exception`, `test_shield_cancel_outer`,
//! `test_shield_effect`, `test_shield_cancel_inner`, `test_sleep`, `test_yield_now`-style
//! interleaving). Python's cancelled task can catch `CancelledError` and go on; a Rust task is
//! dropped, so those cases (`test_cancel_yield`, `test_uncancel*`) have no counterpart. Added
//! (issue 7): `run` leaves no task running when it returns, 100k tasks in one `run`, dropping a
//! `Task` cancels it unless detached, panics reported to the awaiting task.

mod common;

use common::{
    drop_in_another_run, poll_once, run_within_watchdog, within_watchdog, PanicOnDrop, Probe, HOUR,
};

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use weft_async::{
    create_task, create_task_named, gather, run, run_multi_thread, shield, sleep, timeout,
    yield_now, RunError, Task, TaskError,
};

/// Counts live values: a task holding a `Probe` is alive until its future is dropped.

#[test]
fn run_returns_the_output() {
    assert_eq!(run(async { 42 }).unwrap(), 42);
    assert_eq!(run_multi_thread(async { "x" }).unwrap(), "x");
}

#[test]
fn run_propagates_a_panic_of_the_main_future_after_cleanup() {
    let probe = Probe::default();
    let p = probe.clone();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run(async move {
            create_task(async move {
                let _held = p;
                sleep(HOUR).await;
            })
            .detach();
            yield_now().await;
            panic!("main failed");
        })
    }));
    let payload = caught.unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"main failed"));
    assert_eq!(probe.live(), 0, "the task outlived the panicking run");
}

#[test]
fn run_cancels_and_drops_the_tasks_still_running() {
    let probe = Probe::default();
    let started = Arc::new(AtomicUsize::new(0));
    let (p, s) = (probe.clone(), started.clone());
    run(async move {
        for _ in 0..10 {
            let (p, s) = (p.clone(), s.clone());
            create_task(async move {
                let _held = p;
                s.fetch_add(1, Ordering::SeqCst);
                sleep(HOUR).await;
            })
            .detach();
        }
        while s.load(Ordering::SeqCst) < 10 {
            yield_now().await;
        }
    })
    .unwrap();
    assert_eq!(started.load(Ordering::SeqCst), 10);
    assert_eq!(probe.live(), 0, "tasks outlived run");
}

#[test]
fn run_multi_thread_also_leaves_no_task_running() {
    let probe = Probe::default();
    let p = probe.clone();
    run_multi_thread(async move {
        let (tx, rx) = tokio::sync::oneshot::channel();
        create_task(async move {
            let _held = p;
            tx.send(()).unwrap();
            sleep(HOUR).await;
        })
        .detach();
        rx.await.unwrap();
    })
    .unwrap();
    assert_eq!(probe.live(), 0);
}

#[test]
fn nested_run_is_an_error_that_gives_the_future_back() {
    let out = run(async {
        let err = run(async { 5 }).unwrap_err();
        assert!(err.is_nested());
        assert_eq!(
            err.to_string(),
            "run() cannot be called where a tokio runtime is already running"
        );
        // The future comes back unrun; await it here instead.
        err.into_inner().await
    })
    .unwrap();
    assert_eq!(out, 5);
    // Also from inside a task and inside run_multi_thread.
    let nested = run_multi_thread(async {
        create_task(async { matches!(run(async {}), Err(RunError::Nested(_))) }).await
    })
    .unwrap();
    assert_eq!(nested, Ok(true));
}

#[test]
fn run_works_again_after_a_run() {
    for i in 0..3 {
        assert_eq!(run(async move { i }).unwrap(), i);
    }
}

#[test]
fn tasks_interleave_on_one_thread_at_await_points() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = log.clone();
    let threads = run(async move {
        let mut tasks = Vec::new();
        for name in ["a", "b"] {
            let l = l.clone();
            tasks.push(create_task(async move {
                for step in 0..3 {
                    l.lock().unwrap().push(format!("{name}{step}"));
                    yield_now().await;
                }
                std::thread::current().id()
            }));
        }
        gather(tasks).await.unwrap()
    })
    .unwrap();
    assert_eq!(threads[0], threads[1], "run's tasks share one thread");
    assert_eq!(threads[0], std::thread::current().id());
    // tokio does not promise asyncio's strict round robin, only that a task gives way at each
    // await: b starts before a finishes, and each task's steps stay in order.
    let log = log.lock().unwrap();
    let at = |s: &str| log.iter().position(|x| x == s).unwrap();
    assert_eq!(log.len(), 6);
    assert!(
        at("b0") < at("a2") && at("a0") < at("b2"),
        "no interleaving: {log:?}"
    );
    assert!(at("a0") < at("a1") && at("a1") < at("a2"));
    assert!(at("b0") < at("b1") && at("b1") < at("b2"));
}

#[test]
fn a_coroutine_does_nothing_until_awaited() {
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    run(async move {
        let coro = {
            let r = r.clone();
            async move {
                r.fetch_add(1, Ordering::SeqCst);
            }
        };
        yield_now().await;
        assert_eq!(
            r.load(Ordering::SeqCst),
            0,
            "a future ran before being awaited"
        );
        coro.await;
        assert_eq!(r.load(Ordering::SeqCst), 1);
    })
    .unwrap();
}

#[test]
fn task_basics_done_name_id() {
    run(async {
        let t = create_task(async { 3 });
        assert!(!t.done());
        assert!(!t.cancelled());
        assert!(t.name().starts_with("Task-"), "{}", t.name());
        assert!(format!("{t:?}").contains("pending"));
        yield_now().await;
        assert!(t.done());
        assert!(!t.cancelled());
        assert!(format!("{t:?}").contains("finished"));
        assert!(!t.cancel(), "a finished task cannot be cancelled");
        assert_eq!(t.await, Ok(3));

        let named = create_task_named("worker-1", async {});
        assert_eq!(named.name(), "worker-1");
        let other = create_task(async {});
        assert_ne!(named.id(), other.id());
        assert_ne!(named.name(), other.name());
    })
    .unwrap();
}

/// A handle that has given its result is terminated: polled again (`&mut task` in a `select!`
/// loop), it stays pending instead of panicking with tokio's "JoinHandle polled after
/// completion" inside the library. The same for a cancelled task and a group's task
/// (`to_thread`'s is in blocking.rs).
#[test]
fn handles_polled_again_after_their_result_stay_pending() {
    use futures_util::future::FusedFuture;
    use weft_async::TaskGroup;

    run(async {
        let mut t = create_task(async { 3 });
        assert!(!t.is_terminated());
        assert_eq!((&mut t).await, Ok(3));
        assert!(t.is_terminated() && t.done());
        assert!(poll_once(&mut t).await.is_pending());
        assert!(poll_once(&mut t).await.is_pending());

        let mut c = create_task(std::future::pending::<()>());
        assert!(c.cancel());
        assert_eq!((&mut c).await, Err(TaskError::Cancelled));
        assert!(poll_once(&mut c).await.is_pending());
        assert!(c.cancelled());

        let tg = TaskGroup::<()>::new();
        let mut g = tg.create_task(async { Ok(5) }).unwrap();
        assert_eq!((&mut g).await, Ok(5));
        assert!(g.is_terminated());
        assert!(poll_once(&mut g).await.is_pending());
        tg.wait().await.unwrap();
    })
    .unwrap();
}

#[test]
fn cancel_a_sleeping_task() {
    run(async {
        let probe = Probe::default();
        let t = create_task(probe.held_for_an_hour_then("woke"));
        yield_now().await;
        assert_eq!(probe.live(), 1);
        assert!(t.cancel());
        yield_now().await;
        assert!(t.done());
        assert!(t.cancelled());
        assert_eq!(
            probe.live(),
            0,
            "the cancelled task's future was not dropped"
        );
        assert_eq!(t.await, Err(TaskError::Cancelled));
    })
    .unwrap();
}

#[test]
fn cancel_before_the_task_first_runs() {
    run(async {
        let ran = Arc::new(AtomicUsize::new(0));
        let r = ran.clone();
        let t = create_task(async move {
            r.fetch_add(1, Ordering::SeqCst);
        });
        assert!(t.cancel());
        assert_eq!(t.await, Err(TaskError::Cancelled));
        assert_eq!(ran.load(Ordering::SeqCst), 0);
    })
    .unwrap();
}

#[test]
fn dropping_a_task_cancels_it_and_detach_lets_it_run() {
    run(async {
        let probe = Probe::default();
        let t = create_task(probe.held_for_an_hour());
        yield_now().await;
        assert_eq!(probe.live(), 1);
        drop(t);
        yield_now().await;
        assert_eq!(probe.live(), 0, "dropping the Task did not cancel it");

        let (tx, rx) = tokio::sync::oneshot::channel();
        create_task(async move {
            yield_now().await;
            tx.send("detached ran").unwrap();
        })
        .detach();
        assert_eq!(rx.await.unwrap(), "detached ran");
    })
    .unwrap();
}

#[test]
fn a_panicking_task_reports_to_its_awaiter() {
    run(async {
        let t = create_task(async {
            yield_now().await;
            panic!("task {} failed", 7);
        });
        let other = create_task(async { 1 });
        assert_eq!(
            t.await,
            Err::<(), _>(TaskError::Panicked {
                message: "task 7 failed".into()
            })
        );
        // The runtime and the other tasks are unaffected.
        assert_eq!(other.await, Ok(1));
        let odd = create_task(async { std::panic::panic_any(5u8) });
        assert!(
            matches!(odd.await, Err(TaskError::Panicked { message }) if message == "Box<dyn Any>")
        );
    })
    .unwrap();
}

/// A task's panic whose payload panics when dropped is reported like any other, to the awaiter
/// and to the task's own handle; neither sees the payload's second panic.
#[test]
fn a_panic_whose_payload_panics_when_dropped_is_still_a_task_error() {
    run(async {
        let t = create_task(async {
            yield_now().await;
            std::panic::panic_any(PanicOnDrop)
        });
        assert!(
            matches!(t.await, Err::<(), _>(TaskError::Panicked { message }) if message == "Box<dyn Any>")
        );
    })
    .unwrap();
}

#[test]
fn a_hundred_thousand_tasks_in_one_run() {
    let total = run(async {
        let tasks: Vec<Task<u64>> = (0..100_000u64)
            .map(|i| {
                create_task(async move {
                    yield_now().await;
                    i
                })
            })
            .collect();
        gather(tasks).await.unwrap().into_iter().sum::<u64>()
    })
    .unwrap();
    assert_eq!(total, (0..100_000u64).sum());
}

#[test]
fn sleep_waits_at_least_its_duration() {
    let start = Instant::now();
    run(sleep(Duration::from_millis(30))).unwrap();
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(30), "{took:?}");
    assert!(took < Duration::from_secs(10), "{took:?}");
    // Zero returns at once; MAX only ends by cancellation.
    run(sleep(Duration::ZERO)).unwrap();
    let r = run(timeout(Duration::from_millis(10), sleep(Duration::MAX))).unwrap();
    assert!(r.is_err());
}

#[test]
fn shield_result_and_panic_pass_through() {
    run(async {
        assert_eq!(shield(async { 9 }).await, Ok(9));
        let e = shield(async { panic!("inner") }).await;
        assert_eq!(
            e,
            Err::<(), _>(TaskError::Panicked {
                message: "inner".into()
            })
        );
    })
    .unwrap();
}

#[test]
fn shield_keeps_the_work_running_when_the_outer_wait_is_cancelled() {
    run(async {
        let done = Arc::new(AtomicUsize::new(0));
        let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
        let (fin_tx, fin_rx) = tokio::sync::oneshot::channel();
        let d = done.clone();
        let inner = shield(async move {
            go_rx.await.unwrap();
            d.fetch_add(1, Ordering::SeqCst);
            fin_tx.send(()).unwrap();
        });
        // The outer waiter is a task that awaits the shielded one; cancel that task.
        let outer = create_task(inner);
        yield_now().await;
        assert!(outer.cancel());
        assert_eq!(outer.await, Err(TaskError::Cancelled));
        // The shielded work was not cancelled: let it finish.
        go_tx.send(()).unwrap();
        fin_rx.await.unwrap();
        assert_eq!(done.load(Ordering::SeqCst), 1);
    })
    .unwrap();
}

#[test]
fn a_shielded_task_can_still_be_cancelled_directly() {
    run(async {
        let t = shield(sleep(HOUR));
        assert!(t.cancel());
        assert_eq!(t.await, Err(TaskError::Cancelled));
    })
    .unwrap();
}

#[test]
fn tasks_run_in_parallel_under_run_multi_thread() {
    // Two tasks that each wait for the other to have started can only finish if both run at
    // once (a blocking std barrier: the same code deadlocks on a single thread).
    let ok = run_multi_thread(async {
        let barrier = Arc::new(std::sync::Barrier::new(2));
        let tasks: Vec<_> = (0..2)
            .map(|_| {
                let b = barrier.clone();
                create_task(async move {
                    b.wait();
                    std::thread::current().id()
                })
            })
            .collect();
        let ids = timeout(Duration::from_secs(60), gather(tasks)).await;
        ids.map(|ids| ids.map(|ids| ids[0] != ids[1]))
    })
    .unwrap();
    assert_eq!(ok, Ok(Ok(true)));
}

/// A task whose destructor starts a new task that does the same would keep `run`'s wind-down
/// cancelling for ever: it gives up after a bounded number of rounds and `run` returns, as
/// `asyncio.run` does (tasks started while it cancels are destroyed pending).
#[test]
fn run_returns_when_every_cancelled_task_starts_another() {
    respawning_task_left_running(false);
}

/// The same on the multi-thread runtime, whose workers drop the tasks as it shuts down.
#[test]
fn run_multi_thread_returns_when_every_cancelled_task_starts_another() {
    respawning_task_left_running(true);
}

fn respawning_task_left_running(multi_thread: bool) {
    struct Respawn(Arc<AtomicUsize>);
    impl Drop for Respawn {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
            let again = Respawn(self.0.clone());
            create_task(async move {
                let _again = again;
                std::future::pending::<()>().await
            })
            .detach();
        }
    }
    let drops = Arc::new(AtomicUsize::new(0));
    let first = Respawn(drops.clone());
    within_watchdog(
        move || {
            let main = async {
                create_task(async move {
                    let _first = first;
                    std::future::pending::<()>().await
                })
                .detach();
                yield_now().await;
            };
            if multi_thread {
                run_multi_thread(main).unwrap();
            } else {
                run(main).unwrap();
            }
        },
        "run kept winding down",
    );
    assert!(
        drops.load(Ordering::SeqCst) > 1,
        "the tasks the first one's destructor started were not dropped"
    );
}

/// A task belongs to the run it started in: detached inside another run (on another thread),
/// it is not that run's to cancel when it ends, and keeps running in its own.
#[test]
fn a_task_detached_in_another_run_keeps_running() {
    run(async {
        let (go_tx, go_rx) = tokio::sync::oneshot::channel::<u32>();
        let (back_tx, back_rx) = tokio::sync::oneshot::channel::<u32>();
        let task = create_task(async move {
            let n = go_rx.await.unwrap();
            back_tx.send(n + 1).unwrap();
        });
        weft_async::to_thread(move || {
            std::thread::spawn(move || run(async move { task.detach() }).unwrap())
                .join()
                .unwrap()
        })
        .await
        .unwrap();
        go_tx.send(41).expect("the other run cancelled the task");
        assert_eq!(back_rx.await.unwrap(), 42);
    })
    .unwrap();
}

/// Nor does a run wait for a task of another run dropped inside it: here the task's own runtime
/// is blocked until the other run returns, so waiting for it would hang both.
#[test]
fn a_run_does_not_wait_for_a_task_of_another_run_dropped_inside_it() {
    run_within_watchdog(
        || async {
            let task = create_task(std::future::pending::<()>());
            drop_in_another_run(task);
        },
        "the other run waited for a task this one could not run",
    );
}

/// Tasks that yield resume in the order they yielded, as Python's `await asyncio.sleep(0)`
/// puts each task at the end of the loop's ready queue (tokio's own `yield_now` resumes the
/// tasks of one turn last in, first out). CPython 3.11 prints the order asserted here.
#[test]
fn yielding_tasks_resume_in_the_order_they_yielded() {
    run_within_watchdog(
        || async {
            let log = Arc::new(Mutex::new(Vec::new()));
            let tasks: Vec<_> = (0..4)
                .map(|i| {
                    let log = log.clone();
                    create_task(async move {
                        for round in ["a", "b", "c"] {
                            log.lock().unwrap().push(format!("{i}{round}"));
                            yield_now().await;
                        }
                    })
                })
                .collect();
            log.lock().unwrap().push("main".to_string());
            yield_now().await;
            log.lock().unwrap().push("main2".to_string());
            yield_now().await;
            log.lock().unwrap().push("main3".to_string());
            gather(tasks).await.unwrap();
            let expected = [
                "main", "0a", "1a", "2a", "3a", "main2", "0b", "1b", "2b", "3b", "main3", "0c",
                "1c", "2c", "3c",
            ];
            assert_eq!(*log.lock().unwrap(), expected);
        },
        "yielding tasks hung",
    );
}
