//! Behaviour tests of `gather`, `gather_settled` and `as_completed`.
//!
//! Re-expressed from CPython's `Lib/test/test_asyncio/test_gather.py`-era cases in
//! `test_tasks.py` (`GatherTestsBase`, `FutureGatherTests`, `CoroutineGatherTests`):
//! `test_constructor_empty_sequence` (gather of nothing is an empty list), `test_result`
//! (argument order, not completion order), `test_one_exception` (the first failure is the
//! result), `test_return_exceptions` (`gather_settled`), `test_cancellation_broadcast`-style
//! (the others are cancelled on failure — the semantics; Python leaves them running),
//! `test_duplicate_coroutines`' counterpart (the same task cannot be passed twice in Rust: it is
//! moved), and `test_as_completed` (`test_as_completed_with_timeout`'s timeout is
//! `weft_async::timeout` around `next()`; `test_as_completed_reverse_wait`: finish order).
//! Added: gather of plain futures (not tasks) interleaves them on the awaiting task,
//! dropping the `as_completed` stream cancels the rest, and a gather polled after its answer
//! stays pending.

mod common;

use common::{Probe, HOUR};

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_core::Stream;
use futures_util::StreamExt;
use weft_async::{
    as_completed, create_task, gather, gather_settled, run, sleep, timeout, yield_now, Task,
    TaskError,
};

fn after(ms: u64, v: u64) -> Task<u64> {
    create_task(async move {
        sleep(Duration::from_millis(ms)).await;
        v
    })
}

#[test]
fn gather_of_nothing_is_empty() {
    run(async {
        let none: Vec<Task<u8>> = Vec::new();
        assert_eq!(gather(none).await, Ok(vec![]));
        let none: Vec<Task<u8>> = Vec::new();
        assert!(gather_settled(none).await.is_empty());
    })
    .unwrap();
}

#[test]
fn results_in_argument_order_not_completion_order() {
    run(async {
        let r = gather([after(30, 1), after(10, 2), after(20, 3)]).await;
        assert_eq!(r, Ok(vec![1, 2, 3]));
    })
    .unwrap();
}

#[test]
fn the_first_failure_is_the_result_and_the_rest_are_cancelled() {
    run(async {
        let probe = Probe::default();
        let slow = create_task(probe.held_for_an_hour_then(0));
        let failing = create_task(async {
            sleep(Duration::from_millis(5)).await;
            panic!("ValueError")
        });
        let r = gather([after(1, 1), slow, failing]).await;
        assert_eq!(
            r,
            Err(TaskError::Panicked {
                message: "ValueError".into()
            })
        );
        yield_now().await;
        assert_eq!(probe.live(), 0, "the slow task was not cancelled");
    })
    .unwrap();
}

#[test]
fn gather_of_plain_fallible_futures_uses_their_error() {
    run(async {
        async fn parse(s: &'static str) -> Result<u32, std::num::ParseIntError> {
            yield_now().await;
            s.parse()
        }
        assert_eq!(gather([parse("1"), parse("22")]).await, Ok(vec![1, 22]));
        let e = gather([parse("1"), parse("x")]).await.unwrap_err();
        assert_eq!(e.to_string(), "invalid digit found in string");
    })
    .unwrap();
}

/// A gather that has answered is terminated: polled again after a failure (whose chunks were
/// cleared), it stays pending instead of answering `Ok` with the partial values; the same for a
/// settled gather.
#[test]
fn gather_polled_again_stays_pending() {
    use futures_util::future::FusedFuture;
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Poll, Waker};

    let mut cx = Context::from_waker(Waker::noop());
    let ok = |v: u32| std::future::ready(Ok::<u32, &str>(v));
    let mut g = Box::pin(gather([ok(1), std::future::ready(Err("no")), ok(3)]));
    assert!(!g.is_terminated());
    assert_eq!(g.as_mut().poll(&mut cx), Poll::Ready(Err("no")));
    assert!(g.is_terminated());
    assert_eq!(g.as_mut().poll(&mut cx), Poll::Pending);
    let mut s = Box::pin(gather_settled([
        std::future::ready(1),
        std::future::ready(2),
    ]));
    assert_eq!(Pin::new(&mut s).poll(&mut cx), Poll::Ready(vec![1, 2]));
    assert!(s.is_terminated());
    assert_eq!(Pin::new(&mut s).poll(&mut cx), Poll::Pending);
}

/// A future that panics inside a gather's poll may take its whole batch of 32 with it: polled
/// again (the panic caught), the gather panics rather than answer `Ok` without the lost outputs,
/// and says it is terminated; the same for a settled gather.
#[test]
fn gather_polled_again_after_a_panic_does_not_answer_without_the_lost_outputs() {
    use futures_util::future::FusedFuture;
    use std::future::Future;
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::task::{Context, Waker};

    let mut cx = Context::from_waker(Waker::noop());
    let second_fails = |i: u32| async move {
        assert!(i != 1, "boom");
        Ok::<u32, Infallible>(i)
    };
    let mut g = Box::pin(gather((0..3).map(second_fails)));
    let first = catch_unwind(AssertUnwindSafe(|| g.as_mut().poll(&mut cx)));
    assert!(first.is_err(), "the future's panic goes through");
    assert!(g.is_terminated());
    let again = catch_unwind(AssertUnwindSafe(|| g.as_mut().poll(&mut cx)));
    let message = again.map(|answer| format!("answered {answer:?}"));
    let message = message.unwrap_or_else(|p| weft_sync::panic_message(p.as_ref()).to_owned());
    assert!(
        message.contains("after one of its futures panicked"),
        "{message}"
    );

    let mut s = Box::pin(gather_settled((0..3).map(second_fails)));
    assert!(catch_unwind(AssertUnwindSafe(|| s.as_mut().poll(&mut cx))).is_err());
    assert!(s.is_terminated());
    assert!(catch_unwind(AssertUnwindSafe(|| s.as_mut().poll(&mut cx))).is_err());
}

#[test]
fn plain_futures_interleave_inside_gather() {
    run(async {
        let turn = Arc::new(AtomicUsize::new(0));
        // Listed in reverse: each waits for its turn, which only another future can give, so
        // they must run concurrently inside the one gather.
        let steps = (0..3usize).rev().map(|me| {
            let turn = turn.clone();
            async move {
                while turn.load(Ordering::SeqCst) != me {
                    yield_now().await;
                }
                turn.fetch_add(1, Ordering::SeqCst);
                Ok::<_, Infallible>(me)
            }
        });
        let r = timeout(Duration::from_secs(60), gather(steps)).await;
        assert_eq!(r, Ok(Ok(vec![2, 1, 0])));
    })
    .unwrap();
}

#[test]
fn gather_settled_keeps_every_outcome_in_order() {
    run(async {
        let r = gather_settled([
            after(20, 1),
            create_task(async { panic!("TypeError") }),
            after(5, 3),
        ])
        .await;
        assert_eq!(r.len(), 3);
        assert_eq!(r[0], Ok(1));
        assert_eq!(
            r[1],
            Err(TaskError::Panicked {
                message: "TypeError".into()
            })
        );
        assert_eq!(r[2], Ok(3));
    })
    .unwrap();
}

#[test]
fn gather_settled_reports_a_cancelled_task() {
    run(async {
        let doomed = create_task(sleep(HOUR));
        doomed.cancel();
        let r = gather_settled([doomed, create_task(async {})]).await;
        assert_eq!(r, [Err(TaskError::Cancelled), Ok(())]);
    })
    .unwrap();
}

#[test]
fn dropping_gather_cancels_its_tasks() {
    run(async {
        let probe = Probe::default();
        let tasks: Vec<_> = (0..3)
            .map(|_| create_task(probe.held_for_an_hour()))
            .collect();
        assert!(timeout(Duration::from_millis(5), gather_settled(tasks))
            .await
            .is_err());
        yield_now().await;
        assert_eq!(probe.live(), 0);
    })
    .unwrap();
}

#[test]
fn as_completed_yields_in_finish_order() {
    run(async {
        // Paused time: the timers fire in deadline order whatever the machine's load.
        tokio::time::pause();
        let mut s = as_completed([after(30, 30), after(10, 10), after(20, 20)]);
        assert_eq!(s.remaining(), 3);
        assert_eq!(s.size_hint(), (3, Some(3)));
        let mut order = Vec::new();
        while let Some(r) = s.next().await {
            order.push(r.unwrap());
        }
        assert_eq!(order, [10, 20, 30]);
        assert_eq!(s.remaining(), 0);
        assert!(s.next().await.is_none());
    })
    .unwrap();
}

#[test]
fn as_completed_with_a_timeout_and_drop_cancels_the_rest() {
    run(async {
        let probe = Probe::default();
        let slow = create_task(probe.held_for_an_hour_then(0));
        let mut s = as_completed([after(1, 1), slow]);
        assert_eq!(
            timeout(Duration::from_secs(60), s.next()).await,
            Ok(Some(Ok(1)))
        );
        assert!(timeout(Duration::from_millis(10), s.next()).await.is_err());
        assert_eq!(s.remaining(), 1);
        assert!(format!("{s:?}").contains("remaining: 1"));
        drop(s);
        yield_now().await;
        assert_eq!(probe.live(), 0);
    })
    .unwrap();
}

#[test]
fn gather_with_many_tasks_completes() {
    run(async {
        let tasks: Vec<_> = (0..20_000u64).map(|i| after(i % 3, i)).collect();
        let r = gather(tasks).await.unwrap();
        assert!(r.iter().copied().eq(0..20_000u64));
    })
    .unwrap();
}

#[test]
fn futures_in_later_chunks_start_while_earlier_ones_wait() {
    // gather starts its futures 32 at a time; 100 plain futures that each wait until all have
    // started only finish if every chunk gets started while the first ones are still waiting.
    run(async {
        let started = Arc::new(AtomicUsize::new(0));
        let all = (0..100usize).map(|i| {
            let started = started.clone();
            async move {
                started.fetch_add(1, Ordering::SeqCst);
                while started.load(Ordering::SeqCst) < 100 {
                    yield_now().await;
                }
                Ok::<_, Infallible>(i)
            }
        });
        let r = timeout(Duration::from_secs(60), gather(all)).await;
        assert_eq!(r, Ok(Ok((0..100).collect::<Vec<_>>())));
    })
    .unwrap();
}

#[test]
fn a_failure_in_a_late_chunk_ends_gather_while_early_ones_wait() {
    run(async {
        let probe = Probe::default();
        let mut tasks: Vec<Task<u64>> = (0..100)
            .map(|_| create_task(probe.held_for_an_hour_then(0)))
            .collect();
        tasks.push(create_task(async { panic!("last") }));
        let r = timeout(Duration::from_secs(60), gather(tasks)).await;
        assert_eq!(
            r,
            Ok(Err(TaskError::Panicked {
                message: "last".into()
            }))
        );
        // Cancelled tasks are dropped as the runtime gets to them (61 per turn).
        let gone = timeout(Duration::from_secs(60), async {
            while probe.live() > 0 {
                yield_now().await;
            }
        });
        assert!(gone.await.is_ok(), "the waiting tasks were not cancelled");
    })
    .unwrap();
}
