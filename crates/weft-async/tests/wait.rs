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
use weft_async::{create_task, run, sleep, wait, yield_now, Event, ReturnWhen, Task};

/// A task that returns `v` once `gate` is set.
fn at(gate: &std::sync::Arc<Event>, v: u32) -> Task<u32> {
    let gate = gate.clone();
    create_task(async move {
        gate.wait().await;
        v
    })
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
            let mut values = Vec::new();
            for t in all.done {
                values.push(t.await.unwrap());
            }
            assert_eq!(values, [1, 3], "argument order");
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
            let mut values = Vec::new();
            for t in w.done {
                values.push(t.await.unwrap());
            }
            assert_eq!(values, [1, 2]);
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
            let mut values = Vec::new();
            for t in w.done {
                values.push(t.await.unwrap());
            }
            assert_eq!(values, [30, 1, 10]);
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
