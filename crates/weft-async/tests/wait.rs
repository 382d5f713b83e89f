//! Behaviour tests of `wait` (Python's `asyncio.wait`).
//!
//! Re-expressed from CPython's `Lib/test/test_asyncio/test_tasks.py`: `test_wait` (all
//! completed), `test_wait_first_completed`, `test_wait_really_done` (tasks that finish in the
//! turn the wait wakes are done too), `test_wait_first_exception`,
//! `test_wait_first_exception_in_wait`, `test_wait_with_exception` (a failure does not end an
//! `ALL_COMPLETED` wait), `test_wait_with_timeout` and `test_wait_concurrent_complete`
//! (a timeout returns the pending tasks, running, with no error). Python's
//! `test_wait_empty_set` raises `ValueError`; weft returns two empty lists. Added: both lists
//! keep argument order, a done task keeps its result for its await (also a cancelled one's
//! error), a cancelled task does not end a `FIRST_EXCEPTION` wait, and dropping the wait
//! cancels its tasks (the documented difference).

mod common;

use common::{run_within_watchdog, Probe, HOUR};

use std::time::Duration;

use futures_core::future::FusedFuture;
use weft_async::{
    create_task, run, sleep, wait, yield_now, Event, GroupTask, ReturnWhen, Task, TaskError,
    TaskFailure, TaskGroup,
};

/// A task that returns `v` once `gate` is set.
fn at(gate: &std::sync::Arc<Event>, v: u32) -> Task<u32> {
    let gate = gate.clone();
    create_task(async move {
        gate.wait().await;
        v
    })
}

/// The values of done tasks (plain or group), awaited in order.
async fn values<T, H: std::future::Future<Output = Result<T, TaskError>>>(done: Vec<H>) -> Vec<T> {
    let mut values = Vec::new();
    for t in done {
        values.push(t.await.unwrap());
    }
    values
}

#[test]
fn return_when_defaults_to_all_completed_as_python() {
    // asyncio.wait(aws, *, timeout=None, return_when=ALL_COMPLETED)
    assert_eq!(ReturnWhen::default(), ReturnWhen::AllCompleted);
}

#[test]
fn first_completed_returns_the_task_that_finished_and_leaves_the_rest_running() {
    run_within_watchdog(
        || async {
            let (slow, fast) = (
                std::sync::Arc::new(Event::new()),
                std::sync::Arc::new(Event::new()),
            );
            let tasks = vec![at(&slow, 1), at(&fast, 2), at(&slow, 3)];
            let setter = create_task({
                let fast = fast.clone();
                async move { fast.set() }
            });
            let w = wait(tasks, None, ReturnWhen::FirstCompleted).await;
            setter.await.unwrap();
            assert_eq!(w.done.len(), 1);
            assert_eq!(w.pending.len(), 2);
            assert!(w.pending.iter().all(|t| !t.done() && !t.cancelled()));
            let [done] = <[Task<u32>; 1]>::try_from(w.done).unwrap();
            assert!(done.done());
            assert_eq!(done.await, Ok(2));
            // The pending ones are still running: released, they finish with their values.
            slow.set();
            let all = wait(w.pending, None, ReturnWhen::AllCompleted).await;
            assert!(all.pending.is_empty());
            assert_eq!(values(all.done).await, [1, 3], "argument order");
        },
        "wait(FIRST_COMPLETED) hung",
    );
}

#[test]
fn tasks_finishing_in_the_turn_the_wait_wakes_are_done_too() {
    run_within_watchdog(
        || async {
            let gate = std::sync::Arc::new(Event::new());
            let tasks = vec![at(&gate, 1), at(&gate, 2)];
            let setter = create_task({
                let gate = gate.clone();
                async move { gate.set() }
            });
            // Both tasks are woken by one `set` and finish before the waiting task runs again.
            let w = wait(tasks, None, ReturnWhen::FirstCompleted).await;
            setter.await.unwrap();
            assert_eq!(w.done.len(), 2, "a task that had finished was left pending");
            assert_eq!(values(w.done).await, [1, 2]);
        },
        "wait hung",
    );
}

#[test]
fn all_completed_returns_every_result_in_argument_order() {
    run_within_watchdog(
        || async {
            let tasks = [30u64, 1, 10].map(|ms| {
                create_task(async move {
                    sleep(Duration::from_millis(ms)).await;
                    ms
                })
            });
            let w = wait(tasks, None, ReturnWhen::AllCompleted).await;
            assert!(w.pending.is_empty());
            assert_eq!(values(w.done).await, [30, 1, 10]);
        },
        "wait(ALL_COMPLETED) hung",
    );
}

#[test]
fn a_timeout_returns_the_pending_tasks_still_running() {
    run_within_watchdog(
        || async {
            let gate = std::sync::Arc::new(Event::new());
            let quick = create_task(async { 7u32 });
            let tasks = vec![at(&gate, 1), quick];
            let w = wait(
                tasks,
                Some(Duration::from_millis(20)),
                ReturnWhen::AllCompleted,
            )
            .await;
            assert_eq!(w.done.len(), 1);
            assert_eq!(w.pending.len(), 1);
            let mut pending = w.pending;
            let Some(slow) = pending.pop() else {
                unreachable!()
            };
            assert!(
                !slow.done() && !slow.cancelled(),
                "the timeout cancelled a task"
            );
            gate.set();
            assert_eq!(slow.await, Ok(1));
            for t in w.done {
                assert_eq!(t.await, Ok(7));
            }
        },
        "wait with a timeout hung",
    );
}

#[test]
fn a_zero_timeout_collects_the_tasks_already_done() {
    run_within_watchdog(
        || async {
            let probe = Probe::default();
            let done = create_task(async { 5u32 });
            let running = create_task(probe.held_for_an_hour_then(6u32));
            yield_now().await;
            let w = wait(
                [done, running],
                Some(Duration::ZERO),
                ReturnWhen::AllCompleted,
            )
            .await;
            assert_eq!((w.done.len(), w.pending.len()), (1, 1));
            assert_eq!(probe.live(), 1, "the pending task was dropped");
            for t in w.done {
                assert_eq!(t.await, Ok(5));
            }
        },
        "wait with a zero timeout hung",
    );
}

#[test]
fn first_exception_returns_at_a_panic_not_at_a_cancellation() {
    run_within_watchdog(
        || async {
            let probe = Probe::default();
            let gate = std::sync::Arc::new(Event::new());
            let cancelled = create_task(probe.held_for_an_hour_then(0u32));
            let panicking = {
                let gate = gate.clone();
                create_task(async move {
                    gate.wait().await;
                    panic!("boom")
                })
            };
            let running = create_task(probe.held_for_an_hour_then(1u32));
            // The cancellation ends its task first; the panic comes a turn later. The wait runs
            // in a task, which (unlike `run`'s main future) is woken in the order of the tasks
            // it waits for: it sees the cancellation before the panic.
            assert!(cancelled.cancel());
            let waiting = create_task(wait(
                vec![cancelled, panicking, running],
                None,
                ReturnWhen::FirstException,
            ));
            yield_now().await; // the wait's first poll
            gate.set();
            let w = waiting.await.unwrap();
            assert_eq!(
                (w.done.len(), w.pending.len()),
                (2, 1),
                "a cancellation ended the wait"
            );
            let mut done = w.done.into_iter();
            let (first, second) = (done.next().unwrap(), done.next().unwrap());
            assert!(first.await.unwrap_err().is_cancelled());
            assert!(second.await.unwrap_err().is_panic());
            assert_eq!(probe.live(), 1, "the running task is still running");
        },
        "wait(FIRST_EXCEPTION) hung",
    );
}

#[test]
fn first_exception_without_a_failure_waits_for_all() {
    run_within_watchdog(
        || async {
            let tasks = [1u64, 20].map(|ms| {
                create_task(async move {
                    sleep(Duration::from_millis(ms)).await;
                    ms
                })
            });
            let w = wait(tasks, None, ReturnWhen::FirstException).await;
            assert_eq!((w.done.len(), w.pending.len()), (2, 0));
        },
        "wait(FIRST_EXCEPTION) hung",
    );
}

#[test]
fn a_panic_does_not_end_an_all_completed_wait() {
    run_within_watchdog(
        || async {
            let gate = std::sync::Arc::new(Event::new());
            let failing = create_task(async { panic!("boom") });
            let tasks: Vec<Task<u32>> = vec![failing, at(&gate, 2)];
            let w = wait(
                tasks,
                Some(Duration::from_millis(30)),
                ReturnWhen::AllCompleted,
            )
            .await;
            assert_eq!((w.done.len(), w.pending.len()), (1, 1));
            gate.set();
        },
        "wait hung",
    );
}

#[test]
fn waiting_on_nothing_returns_at_once() {
    run_within_watchdog(
        || async {
            for when in [
                ReturnWhen::FirstCompleted,
                ReturnWhen::FirstException,
                ReturnWhen::AllCompleted,
            ] {
                let w = wait(Vec::<Task<()>>::new(), None, when).await;
                assert!(w.done.is_empty() && w.pending.is_empty());
            }
        },
        "wait on nothing hung",
    );
}

#[test]
fn a_done_tasks_result_is_given_once_then_the_handle_is_terminated() {
    run(async {
        let w = wait([create_task(async { 3u8 })], None, ReturnWhen::AllCompleted).await;
        let [mut t] = <[Task<u8>; 1]>::try_from(w.done).unwrap();
        assert!(
            !t.is_terminated(),
            "a done task from wait still holds its result"
        );
        assert_eq!((&mut t).await, Ok(3));
        assert!(t.is_terminated());
    })
    .unwrap();
}

#[test]
fn dropping_the_wait_cancels_its_tasks() {
    run_within_watchdog(
        || async {
            let probe = Probe::default();
            let tasks = vec![create_task(probe.held_for_an_hour())];
            yield_now().await;
            assert_eq!(probe.live(), 1);
            let waiting = weft_async::timeout(
                Duration::from_millis(1),
                wait(tasks, None, ReturnWhen::AllCompleted),
            );
            assert!(waiting.await.is_err());
            // The cancelled task's future is dropped at the runtime's next turn.
            while probe.live() > 0 {
                yield_now().await;
            }
        },
        "a task of a dropped wait kept running",
    );
}

#[test]
fn a_task_already_awaited_counts_as_done() {
    run_within_watchdog(
        || async {
            let mut t = create_task(async { 1u8 });
            assert_eq!((&mut t).await, Ok(1));
            let w = wait([t], Some(HOUR), ReturnWhen::FirstCompleted).await;
            assert_eq!((w.done.len(), w.pending.len()), (1, 0));
        },
        "wait on an awaited task hung",
    );
}

/// Python's `wait` is a coroutine: its timeout counts from its first await. The timer was
/// started by the call, so a wait made before other work timed out at its first poll (done 0
/// of 1, 2 of 2 runs); here, on a paused clock, the task finishes within the timeout counted
/// from the await.
#[test]
fn the_timeout_counts_from_the_first_await() {
    common::within_watchdog(
        || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .start_paused(true)
                .build()
                .unwrap();
            rt.block_on(async {
                let t = create_task(async {
                    sleep(Duration::from_secs(300)).await;
                    1
                });
                let w = wait(
                    [t],
                    Some(Duration::from_secs(200)),
                    ReturnWhen::AllCompleted,
                );
                sleep(Duration::from_secs(250)).await;
                let w = w.await;
                assert_eq!(w.done.len(), 1, "the timeout ran from the call");
                for t in w.done {
                    assert_eq!(t.await, Ok(1));
                }
            });
        },
        "wait hung",
    );
}

/// A wait with a timeout can be made outside the runtime that then awaits it: it panicked
/// there ("there is no reactor running"), its timer being made by the call.
#[test]
fn a_wait_with_a_timeout_made_outside_the_runtime_does_not_panic() {
    common::within_watchdog(
        || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let tasks = rt.block_on(async { vec![create_task(async { 1 })] });
            let w = wait(tasks, Some(HOUR), ReturnWhen::AllCompleted);
            let w = rt.block_on(w);
            assert_eq!(w.done.len(), 1);
            assert!(w.pending.is_empty());
        },
        "wait hung",
    );
}

// ---------------------------------------------------------------------------------------------
// A `TaskGroup`'s tasks: Python's `asyncio.wait` takes them too (`tg.create_task` returns a
// full `asyncio.Task`). Compared with CPython 3.11: a failing child is in `done` with the
// siblings its group cancelled in that turn, and the group still raises its `ExceptionGroup`;
// inside the block, the failure cancels the body's `asyncio.wait`.

/// A group task that returns `v` once `gate` is set.
fn group_at(tg: &TaskGroup<&'static str>, gate: &std::sync::Arc<Event>, v: u32) -> GroupTask<u32> {
    let gate = gate.clone();
    tg.create_task(async move {
        gate.wait().await;
        Ok(v)
    })
    .unwrap()
}

#[test]
fn group_tasks_first_completed_returns_the_task_that_finished_and_leaves_the_rest_running() {
    run_within_watchdog(
        || async {
            let tg = TaskGroup::<&str>::new();
            let (slow, fast) = (
                std::sync::Arc::new(Event::new()),
                std::sync::Arc::new(Event::new()),
            );
            let tasks = vec![
                group_at(&tg, &slow, 1),
                group_at(&tg, &fast, 2),
                group_at(&tg, &slow, 3),
            ];
            let setter = create_task({
                let fast = fast.clone();
                async move { fast.set() }
            });
            let w = wait(tasks, None, ReturnWhen::FirstCompleted).await;
            setter.await.unwrap();
            assert_eq!((w.done.len(), w.pending.len()), (1, 2));
            assert!(w.pending.iter().all(|t| !t.done() && !t.cancelled()));
            let [done] = <[GroupTask<u32>; 1]>::try_from(w.done).unwrap();
            assert!(done.done());
            assert_eq!(done.await, Ok(2));
            slow.set();
            let all = wait(w.pending, None, ReturnWhen::AllCompleted).await;
            assert!(all.pending.is_empty());
            assert_eq!(values(all.done).await, [1, 3], "argument order");
            tg.wait().await.unwrap();
        },
        "wait(FIRST_COMPLETED) on group tasks hung",
    );
}

#[test]
fn group_tasks_finishing_in_the_turn_the_wait_wakes_are_done_too() {
    run_within_watchdog(
        || async {
            let tg = TaskGroup::<&str>::new();
            let gate = std::sync::Arc::new(Event::new());
            let tasks = vec![group_at(&tg, &gate, 1), group_at(&tg, &gate, 2)];
            let setter = create_task({
                let gate = gate.clone();
                async move { gate.set() }
            });
            let w = wait(tasks, None, ReturnWhen::FirstCompleted).await;
            setter.await.unwrap();
            assert_eq!(
                w.done.len(),
                2,
                "a group task that had finished was left pending"
            );
            assert_eq!(values(w.done).await, [1, 2]);
            tg.wait().await.unwrap();
        },
        "wait on group tasks hung",
    );
}

#[test]
fn group_tasks_all_completed_returns_every_result_in_argument_order() {
    run_within_watchdog(
        || async {
            let tg = TaskGroup::<&str>::new();
            let tasks = [30u64, 1, 10].map(|ms| {
                tg.create_task(async move {
                    sleep(Duration::from_millis(ms)).await;
                    Ok(ms)
                })
                .unwrap()
            });
            let w = wait(tasks, None, ReturnWhen::AllCompleted).await;
            assert!(w.pending.is_empty());
            assert_eq!(values(w.done).await, [30, 1, 10]);
            tg.wait().await.unwrap();
        },
        "wait(ALL_COMPLETED) on group tasks hung",
    );
}

#[test]
fn group_tasks_a_timeout_returns_the_pending_tasks_still_running() {
    run_within_watchdog(
        || async {
            let tg = TaskGroup::<&str>::new();
            let gate = std::sync::Arc::new(Event::new());
            let quick = tg.create_task(async { Ok(7u32) }).unwrap();
            let tasks = vec![group_at(&tg, &gate, 1), quick];
            let w = wait(
                tasks,
                Some(Duration::from_millis(20)),
                ReturnWhen::AllCompleted,
            )
            .await;
            assert_eq!((w.done.len(), w.pending.len()), (1, 1));
            let mut pending = w.pending;
            let slow = pending.pop().unwrap();
            assert!(
                !slow.done() && !slow.cancelled(),
                "the timeout cancelled a task"
            );
            gate.set();
            assert_eq!(slow.await, Ok(1));
            for t in w.done {
                assert_eq!(t.await, Ok(7));
            }
            tg.wait().await.unwrap();
        },
        "wait with a timeout on group tasks hung",
    );
}

/// The task left running is another group's, so that the panic does not cancel it.
#[test]
fn group_tasks_first_exception_returns_at_a_panic_not_at_a_cancellation() {
    run_within_watchdog(
        || async {
            let probe = Probe::default();
            let (tg, other) = (TaskGroup::<&str>::new(), TaskGroup::<&str>::new());
            let gate = std::sync::Arc::new(Event::new());
            let cancelled = tg
                .create_task(probe.held_for_an_hour_then(Ok(0u32)))
                .unwrap();
            let panicking = {
                let gate = gate.clone();
                tg.create_task(async move {
                    gate.wait().await;
                    panic!("boom")
                })
                .unwrap()
            };
            let running = other
                .create_task(probe.held_for_an_hour_then(Ok(1u32)))
                .unwrap();
            yield_now().await; // the tasks start
            assert!(cancelled.cancel());
            let waiting = create_task(wait(
                vec![cancelled, panicking, running],
                None,
                ReturnWhen::FirstException,
            ));
            yield_now().await; // the cancellation ends its task: the wait's first poll sees it
            assert_eq!(
                probe.live(),
                1,
                "the cancelled task is gone, the other running"
            );
            gate.set();
            let w = waiting.await.unwrap();
            assert_eq!(
                (w.done.len(), w.pending.len()),
                (2, 1),
                "a cancellation ended the wait, or a panic did not"
            );
            let mut done = w.done.into_iter();
            let (first, second) = (done.next().unwrap(), done.next().unwrap());
            assert!(first.await.unwrap_err().is_cancelled());
            assert!(second.await.unwrap_err().is_panic());
            assert_eq!(probe.live(), 1, "the running task is still running");
            let errors = tg.wait().await.unwrap_err().into_errors();
            assert!(matches!(&errors[..], [TaskFailure::Panicked { .. }]));
            other.cancel();
            other.wait().await.unwrap();
        },
        "wait(FIRST_EXCEPTION) on group tasks hung",
    );
}

/// A failure cancels its group's other tasks; they end in the turn the failure wakes the wait,
/// so the wait returns them done with the failed one (CPython 3.11, `asyncio.wait` in another
/// task than the block's: `done` holds the failed child and its cancelled sibling).
#[test]
fn a_group_failure_returns_the_siblings_it_cancelled_done_too() {
    run_within_watchdog(
        || async {
            let probe = Probe::default();
            let tg = TaskGroup::<&str>::new();
            let gate = std::sync::Arc::new(Event::new());
            let sibling = tg
                .create_task(probe.held_for_an_hour_then(Ok(0u32)))
                .unwrap();
            let failing = {
                let gate = gate.clone();
                tg.create_task(async move {
                    gate.wait().await;
                    Err("bad")
                })
                .unwrap()
            };
            let waiting = create_task(wait(
                vec![sibling, failing],
                None,
                ReturnWhen::FirstException,
            ));
            yield_now().await; // the tasks start, the wait is polled
            assert_eq!(probe.live(), 1);
            gate.set();
            let w = waiting.await.unwrap();
            assert_eq!((w.done.len(), w.pending.len()), (2, 0));
            let mut done = w.done.into_iter();
            let (first, second) = (done.next().unwrap(), done.next().unwrap());
            assert!(first.cancelled());
            assert_eq!(first.await, Err(TaskError::Cancelled));
            assert_eq!(second.await, Err(TaskError::Failed));
            let errors = tg.wait().await.unwrap_err().into_errors();
            assert_eq!(errors, [TaskFailure::Failed("bad")]);
        },
        "wait on a failing group hung",
    );
}

/// A group task's `Err` is its failure (Python's exception in a child): it ends a
/// `FIRST_EXCEPTION` wait, which returns with the group's other task still running (a task of
/// another group here, so that the failure does not cancel it).
#[test]
fn group_tasks_first_exception_returns_at_an_err() {
    run_within_watchdog(
        || async {
            let probe = Probe::default();
            let (failing_group, other_group) = (TaskGroup::<&str>::new(), TaskGroup::<&str>::new());
            let gate = std::sync::Arc::new(Event::new());
            let failing = {
                let gate = gate.clone();
                failing_group
                    .create_task(async move {
                        gate.wait().await;
                        Err::<u32, _>("bad")
                    })
                    .unwrap()
            };
            let running = other_group
                .create_task(probe.held_for_an_hour_then(Ok(1u32)))
                .unwrap();
            let setter = create_task(async move { gate.set() });
            let w = wait(
                vec![failing, running],
                Some(HOUR),
                ReturnWhen::FirstException,
            )
            .await;
            setter.await.unwrap();
            assert_eq!(
                (w.done.len(), w.pending.len()),
                (1, 1),
                "an Err did not end it"
            );
            for t in w.done {
                assert_eq!(t.await, Err(TaskError::Failed));
            }
            assert_eq!(probe.live(), 1);
            let errors = failing_group.wait().await.unwrap_err().into_errors();
            assert_eq!(errors, [TaskFailure::Failed("bad")]);
            other_group.cancel();
            other_group.wait().await.unwrap();
        },
        "wait(FIRST_EXCEPTION) on group tasks hung",
    );
}

#[test]
fn group_tasks_a_done_tasks_result_is_given_once_then_the_handle_is_terminated() {
    run(async {
        let tg = TaskGroup::<&str>::new();
        let w = wait(
            [tg.create_task(async { Ok(3u8) }).unwrap()],
            None,
            ReturnWhen::AllCompleted,
        )
        .await;
        let [mut t] = <[GroupTask<u8>; 1]>::try_from(w.done).unwrap();
        assert!(
            !t.is_terminated(),
            "a done group task from wait still holds its result"
        );
        assert_eq!((&mut t).await, Ok(3));
        assert!(t.is_terminated());
        assert!(common::poll_once(&mut t).await.is_pending());
        tg.wait().await.unwrap();
    })
    .unwrap();
}

/// A group task that panicked and that `wait` returned as done: awaiting it gives the panic,
/// and the group still fails with it (CPython 3.11: the group raises the `ExceptionGroup` of a
/// child that an `asyncio.wait` in another task returned as done).
#[test]
fn a_group_task_that_wait_returned_as_failed_still_fails_the_group() {
    run_within_watchdog(
        || async {
            let tg = TaskGroup::<&str>::new();
            let t = tg.create_task(async { panic!("boom") }).unwrap();
            let w = wait([t], None, ReturnWhen::FirstException).await;
            let [t] = <[GroupTask<()>; 1]>::try_from(w.done).unwrap();
            assert!(t.done() && !t.cancelled());
            assert_eq!(
                t.await,
                Err(TaskError::Panicked {
                    message: "boom".into()
                })
            );
            let errors = tg.wait().await.unwrap_err().into_errors();
            assert_eq!(
                errors,
                [TaskFailure::Panicked {
                    message: "boom".into()
                }]
            );
        },
        "wait on a panicking group task hung",
    );
}

/// A context manager whose exit takes ten turns, then logs "exit".
fn slow_exit(
    log: std::sync::Arc<std::sync::Mutex<Vec<&'static str>>>,
) -> impl weft_async::AsyncContextManager<Resource = (), Error = std::convert::Infallible> {
    weft_async::context_manager(
        || async { Ok::<_, std::convert::Infallible>(()) },
        move |(), _| async move {
            for _ in 0..10 {
                yield_now().await;
            }
            log.lock().unwrap().push("exit");
            Ok::<_, std::convert::Infallible>(())
        },
    )
}

/// A cancelled group task counts as done only once the exit of the `async_with` it was inside
/// has run, as its await returns only then (Python's task is done after its `__aexit__`).
#[test]
fn a_cancelled_group_task_is_done_only_after_its_async_exits() {
    use std::sync::{Arc, Mutex};
    run_within_watchdog(
        || async {
            let log = Arc::new(Mutex::new(Vec::<&str>::new()));
            let tg = TaskGroup::<&str>::new();
            let entered = Arc::new(Event::new());
            let cm = slow_exit(log.clone());
            let e = entered.clone();
            let t = tg
                .create_task(async move {
                    let _ = weft_async::async_with(cm, async |_: &mut ()| {
                        e.set();
                        sleep(HOUR).await;
                        Ok::<(), &str>(())
                    })
                    .await;
                    Ok(())
                })
                .unwrap();
            entered.wait().await;
            assert!(t.cancel());
            let w = wait([t], Some(HOUR), ReturnWhen::FirstCompleted).await;
            log.lock().unwrap().push("wait returned");
            assert_eq!(*log.lock().unwrap(), ["exit", "wait returned"]);
            let [t] = <[GroupTask<()>; 1]>::try_from(w.done).unwrap();
            assert!(t.cancelled());
            assert_eq!(t.await, Err(TaskError::Cancelled));
            tg.wait().await.unwrap();
        },
        "wait on a cancelled group task hung",
    );
}

/// The same for a plain task.
#[test]
fn a_cancelled_task_is_done_only_after_its_async_exits() {
    use std::sync::{Arc, Mutex};
    run_within_watchdog(
        || async {
            let log = Arc::new(Mutex::new(Vec::<&str>::new()));
            let entered = Arc::new(Event::new());
            let cm = slow_exit(log.clone());
            let e = entered.clone();
            let t = create_task(async move {
                let _ = weft_async::async_with(cm, async |_: &mut ()| {
                    e.set();
                    sleep(HOUR).await;
                    Ok::<(), &str>(())
                })
                .await;
            });
            entered.wait().await;
            assert!(t.cancel());
            let w = wait([t], Some(HOUR), ReturnWhen::FirstCompleted).await;
            log.lock().unwrap().push("wait returned");
            assert_eq!(*log.lock().unwrap(), ["exit", "wait returned"]);
            for t in w.done {
                assert_eq!(t.await, Err(TaskError::Cancelled));
            }
        },
        "wait on a cancelled task hung",
    );
}

/// Dropping the wait drops the group tasks' handles, which leaves the tasks running (the group
/// owns them), as cancelling Python's `wait` leaves its tasks running.
#[test]
fn dropping_a_wait_on_group_tasks_leaves_them_running() {
    run_within_watchdog(
        || async {
            let probe = Probe::default();
            let tg = TaskGroup::<&str>::new();
            let tasks = vec![tg.create_task(probe.held_for_an_hour_then(Ok(()))).unwrap()];
            yield_now().await;
            let waiting = weft_async::timeout(
                Duration::from_millis(1),
                wait(tasks, None, ReturnWhen::AllCompleted),
            );
            assert!(waiting.await.is_err());
            for _ in 0..3 {
                yield_now().await;
            }
            assert_eq!(
                probe.live(),
                1,
                "a group task of a dropped wait was cancelled"
            );
            assert_eq!(tg.len(), 1);
            tg.cancel();
            tg.wait().await.unwrap();
        },
        "a dropped wait on group tasks hung",
    );
}

#[test]
fn a_group_task_already_awaited_counts_as_done() {
    run_within_watchdog(
        || async {
            let tg = TaskGroup::<&str>::new();
            let mut t = tg.create_task(async { Ok(1u8) }).unwrap();
            assert_eq!((&mut t).await, Ok(1));
            let w = wait([t], Some(HOUR), ReturnWhen::FirstCompleted).await;
            assert_eq!((w.done.len(), w.pending.len()), (1, 0));
            tg.wait().await.unwrap();
        },
        "wait on an awaited group task hung",
    );
}

/// In a `scope` body, a task's failure cancels the body where it waits, as CPython cancels the
/// block's `asyncio.wait`; the group reports the failure.
#[test]
fn a_failure_cancels_a_scope_body_waiting_on_its_tasks() {
    run_within_watchdog(
        || async {
            let probe = Probe::default();
            let p = probe.clone();
            let result = TaskGroup::<&str>::scope(|tg| async move {
                let slow = tg.create_task(p.held_for_an_hour_then(Ok(()))).unwrap();
                let bad = tg.create_task(async { Err::<(), _>("bad") }).unwrap();
                let _ = wait([slow, bad], None, ReturnWhen::FirstException).await;
                Err::<(), _>("the body went on past its wait")
            })
            .await;
            let errors = result.unwrap_err().into_errors();
            assert_eq!(errors, [TaskFailure::Failed("bad")]);
            assert_eq!(probe.live(), 0);
        },
        "a scope waiting on its tasks hung",
    );
}

/// Python's `wait` always suspends once: with a zero timeout, a task created just before it
/// has run up to its first await, and one that needs no await is done (CPython 3.11:
/// `['quick', 'slow started'] True True`).
#[test]
fn a_zero_timeout_wait_lets_the_tasks_made_ready_before_it_take_their_step() {
    run_within_watchdog(
        || async {
            let log = std::sync::Arc::new(parking_lot::Mutex::new(Vec::new()));
            let quick = create_task({
                let log = log.clone();
                async move { log.lock().push("quick") }
            });
            let slow = create_task({
                let log = log.clone();
                async move {
                    log.lock().push("slow started");
                    sleep(HOUR).await;
                }
            });
            let w = wait(
                vec![quick, slow],
                Some(Duration::ZERO),
                ReturnWhen::AllCompleted,
            )
            .await;
            assert_eq!(*log.lock(), ["quick", "slow started"]);
            assert_eq!((w.done.len(), w.pending.len()), (1, 1));
        },
        "a zero-timeout wait",
    );
}

/// A wait whose condition holds when it is first polled still suspends once, so a task made
/// ready before it takes its step (CPython 3.11: `['quick'] True True`).
#[test]
fn a_wait_already_satisfied_still_gives_the_ready_tasks_their_step() {
    run_within_watchdog(
        || async {
            let done = create_task(async { 1 });
            yield_now().await;
            assert!(done.done());
            let other = create_task(async { 2 });
            let w = wait(vec![done], None, ReturnWhen::FirstCompleted).await;
            assert_eq!(w.done.len(), 1);
            assert!(other.done(), "the task created before the wait had no turn");
            assert_eq!(other.await.unwrap(), 2);
        },
        "a satisfied wait",
    );
}

/// A task that logs `{name}{i}` and yields, `n` times, then logs `{name}end`.
async fn stepper(log: std::sync::Arc<parking_lot::Mutex<Vec<String>>>, name: &str, n: usize) {
    for i in 0..n {
        log.lock().push(format!("{name}{i}"));
        yield_now().await;
    }
    log.lock().push(format!("{name}end"));
}

/// A wait that does not sleep (satisfied at once, or with a zero timeout) returns after the
/// tasks ready before it have taken two steps, and a zero timeout passes then whatever the
/// timer, as in CPython 3.11 (`tests/wait.rs`'s scenarios run there print, for a satisfied wait
/// `['T0', 'T1', 'WAIT', 'T2', 'Tend']` and for a zero timeout on a task `U` that needs three
/// steps `['T0', 'U0', 'T1', 'U1', 'WAIT 0 1', 'T2', 'Uend', 'Tend']`).
#[test]
fn a_wait_that_does_not_sleep_gives_the_ready_tasks_two_steps_as_python() {
    run_within_watchdog(
        || async {
            let log = std::sync::Arc::new(parking_lot::Mutex::new(Vec::<String>::new()));
            let done = create_task(async { 1 });
            yield_now().await;
            let t = create_task(stepper(log.clone(), "T", 3));
            let w = wait(vec![done], None, ReturnWhen::FirstCompleted).await;
            log.lock()
                .push(format!("WAIT {} {}", w.done.len(), w.pending.len()));
            t.await.unwrap();
            assert_eq!(*log.lock(), ["T0", "T1", "WAIT 1 0", "T2", "Tend"]);

            log.lock().clear();
            let t = create_task(stepper(log.clone(), "T", 3));
            let u = create_task(stepper(log.clone(), "U", 2));
            let w = wait(vec![u], Some(Duration::ZERO), ReturnWhen::AllCompleted).await;
            log.lock()
                .push(format!("WAIT {} {}", w.done.len(), w.pending.len()));
            t.await.unwrap();
            for u in w.pending {
                u.await.unwrap();
            }
            assert_eq!(
                *log.lock(),
                ["T0", "U0", "T1", "U1", "WAIT 0 1", "T2", "Uend", "Tend"]
            );
        },
        "a wait that does not sleep",
    );
}
