//! Behaviour tests of `timeout`, `wait_for` and `timeout_at`.
//!
//! Re-expressed from CPython's `Lib/test/test_asyncio/test_timeouts.py` (`test_timeout_basic`,
//! `test_timeout_at_basic`, `test_nested_timeouts`, `test_timeout_not_called`,
//! `test_timeout_disabled` — `Duration::MAX` here, `test_timeout_zero`,
//! `test_timeout_in_the_past_sleep_0`'s counterpart, `test_foreign_exception_passed`,
//! `test_waiter_cancelled`) and `Lib/test/test_asyncio/test_waitfor.py` (`test_wait_for`,
//! `test_wait_for_timeout_less_then_0_or_0_future_done`,
//! `test_wait_for_timeout_less_then_0_or_0_coroutine_do_not_started`'s counterpart,
//! `test_wait_for_blocking`, `test_wait_for_with_global_loop`'s cancellation of the inner
//! future, `test_wait_for_self_cancellation`-style dropping of the outer wait). Python's
//! `reschedule()` and `expired()` on the `asyncio.timeout` context manager have no counterpart:
//! weft's timeouts are wrappers around one future.

mod common;

use common::{Probe, HOUR};

use std::sync::Arc;
use std::time::{Duration, Instant};

use weft_async::{
    create_task, run, sleep, timeout, timeout_at, wait_for, yield_now, TaskError, TimeoutError,
};

#[test]
fn timeout_basic_cancels_the_inner_future() {
    run(async {
        let probe = Probe::default();
        let start = Instant::now();
        let r = timeout(Duration::from_millis(20), probe.held_for_an_hour()).await;
        assert_eq!(r, Err(TimeoutError));
        assert_eq!(probe.live(), 0, "the inner future was not dropped");
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(20), "{took:?}");
        assert!(took < Duration::from_secs(30), "{took:?}");
        assert_eq!(TimeoutError.to_string(), "timed out");
    })
    .unwrap();
}

#[test]
fn timeout_not_reached_gives_the_value() {
    run(async {
        let r = timeout(Duration::from_secs(60), async {
            sleep(Duration::from_millis(1)).await;
            "done"
        })
        .await;
        assert_eq!(r, Ok("done"));
    })
    .unwrap();
}

#[test]
fn timeout_at_basic_and_in_the_past() {
    run(async {
        let deadline = Instant::now() + Duration::from_millis(20);
        assert_eq!(timeout_at(deadline, sleep(HOUR)).await, Err(TimeoutError));
        assert!(Instant::now() >= deadline);
        // A deadline in the past: a ready future still passes, a pending one times out.
        let past = Instant::now() - Duration::from_secs(1);
        assert_eq!(timeout_at(past, async { 1 }).await, Ok(1));
        assert_eq!(timeout_at(past, sleep(HOUR)).await, Err(TimeoutError));
    })
    .unwrap();
}

#[test]
fn zero_timeout_lets_a_ready_future_through_and_stops_a_pending_one() {
    run(async {
        assert_eq!(timeout(Duration::ZERO, async { 5 }).await, Ok(5));
        assert_eq!(wait_for(async { 6 }, Duration::ZERO).await, Ok(6));
        let r = timeout(Duration::ZERO, async {
            yield_now().await;
            sleep(HOUR).await;
        })
        .await;
        assert_eq!(r, Err(TimeoutError));
    })
    .unwrap();
}

#[test]
fn max_timeout_never_fires() {
    run(async {
        let r = timeout(Duration::MAX, async {
            sleep(Duration::from_millis(5)).await;
            7
        })
        .await;
        assert_eq!(r, Ok(7));
        assert_eq!(
            wait_for(sleep(Duration::from_millis(1)), Duration::MAX).await,
            Ok(())
        );
    })
    .unwrap();
}

/// A duration or deadline in the clock's last millisecond means for ever, as `Duration::MAX`
/// does: `timeout`, `wait_for` and `timeout_at` let the future finish (each panicked at its
/// first poll before: tokio's timer rounds a deadline up to its next millisecond, an addition
/// that overflowed), and `sleep` sleeps until cancelled (tokio's `sleep` caps its delay).
#[test]
fn durations_at_the_end_of_the_clock_never_fire() {
    run(async {
        let quick = || async {
            yield_now().await;
            7
        };
        let end = common::timeout_at_the_clock_end;
        assert_eq!(timeout(end(), quick()).await, Ok(7));
        assert_eq!(wait_for(quick(), end()).await, Ok(7));
        let last = Instant::now() + end();
        assert_eq!(timeout_at(last, quick()).await, Ok(7));
        // A sleep that long is still asleep when a short timeout around it fires.
        assert_eq!(
            timeout(Duration::from_millis(20), sleep(end())).await,
            Err(TimeoutError)
        );
    })
    .unwrap();
}

#[test]
fn nested_timeouts_the_inner_fires_first() {
    run(async {
        let r = timeout(Duration::from_secs(60), async {
            timeout(Duration::from_millis(10), sleep(HOUR)).await
        })
        .await;
        assert_eq!(r, Ok(Err(TimeoutError)));
        // The outer fires first: the inner wrapper is dropped with its future.
        let r = timeout(Duration::from_millis(10), async {
            timeout(Duration::from_secs(60), sleep(HOUR)).await
        })
        .await;
        assert_eq!(r, Err(TimeoutError));
    })
    .unwrap();
}

/// A future that completes in the turn its deadline passes gives its output: it is polled before
/// the clock is read (Python 3.11's `asyncio.timeout` raises `TimeoutError` there). So, with
/// two nested timeouts sharing a deadline, the inner one's `TimeoutError` is the output the outer
/// one gives. On paused time, where both timers fire in the same turn.
#[test]
fn a_future_completing_as_its_deadline_passes_gives_its_output() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async {
        let deadline = tokio::time::Instant::now() + Duration::from_millis(10);
        let at_the_deadline = async move {
            tokio::time::sleep_until(deadline).await;
            5
        };
        assert_eq!(
            timeout_at(deadline.into_std(), at_the_deadline).await,
            Ok(5)
        );
        assert_eq!(tokio::time::Instant::now(), deadline);

        let deadline = tokio::time::Instant::now() + Duration::from_millis(10);
        let inner = timeout_at(deadline.into_std(), sleep(HOUR));
        let r = timeout_at(deadline.into_std(), inner).await;
        assert_eq!(r, Ok(Err(TimeoutError)));
    });
}

#[test]
fn the_inner_error_passes_through() {
    run(async {
        let r: Result<Result<(), &str>, _> =
            timeout(Duration::from_secs(60), async { Err("KeyError") }).await;
        assert_eq!(r, Ok(Err("KeyError")));
        // A panicking task keeps its own error.
        let t = create_task(async { panic!("inner") });
        let r: Result<Result<(), TaskError>, TimeoutError> =
            wait_for(t, Duration::from_secs(60)).await;
        assert_eq!(
            r,
            Ok(Err(TaskError::Panicked {
                message: "inner".into()
            }))
        );
    })
    .unwrap();
}

#[test]
fn wait_for_a_task_cancels_it_on_timeout() {
    run(async {
        let probe = Probe::default();
        let t = create_task(probe.held_for_an_hour());
        yield_now().await;
        assert_eq!(probe.live(), 1);
        assert_eq!(
            wait_for(t, Duration::from_millis(10)).await,
            Err(TimeoutError)
        );
        yield_now().await;
        assert_eq!(probe.live(), 0, "the timed-out task is still running");
    })
    .unwrap();
}

#[test]
fn wait_for_a_blocking_future_returns_its_value() {
    // The inner future blocks its thread longer than the timeout, then is ready at its first
    // poll: it is polled before the clock is checked, so the value wins.
    run(async {
        let r = wait_for(
            async {
                std::thread::sleep(Duration::from_millis(20));
                "blocked"
            },
            Duration::from_millis(1),
        )
        .await;
        assert_eq!(r, Ok("blocked"));
    })
    .unwrap();
}

#[test]
fn a_future_is_not_started_before_the_timeout_wrapper_is_awaited() {
    run(async {
        let started = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s = started.clone();
        let wrapped = timeout(Duration::ZERO, async move {
            s.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        yield_now().await;
        assert!(!started.load(std::sync::atomic::Ordering::SeqCst));
        assert_eq!(wrapped.await, Ok(()));
        assert!(started.load(std::sync::atomic::Ordering::SeqCst));
    })
    .unwrap();
}

#[test]
fn dropping_the_wait_drops_the_inner_future() {
    run(async {
        let probe = Probe::default();
        let waiter = create_task(wait_for(probe.held_for_an_hour(), HOUR));
        yield_now().await;
        assert_eq!(probe.live(), 1);
        waiter.cancel();
        assert_eq!(waiter.await, Err(TaskError::Cancelled));
        assert_eq!(probe.live(), 0);
    })
    .unwrap();
}

/// A deadline already past lets ready values through for as long as they come, as tokio's
/// timeout does: when the task's budget has run out before the timeout is polled, the task
/// yields rather than time out (weft's timeout read the clock regardless and timed out after
/// 128 of 1000 queued items).
#[test]
fn a_past_deadline_yields_to_the_budget_rather_than_time_out() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        for i in 0..1000 {
            tx.send(i).unwrap();
        }
        // Long past, so that the timer needs no turn of the runtime to see it.
        let past = Instant::now()
            .checked_sub(Duration::from_secs(1))
            .unwrap_or_else(Instant::now);
        let mut got = 0;
        while let Ok(Some(_)) = timeout_at(past, rx.recv()).await {
            got += 1;
            if got == 1000 {
                break;
            }
        }
        assert_eq!(got, 1000);
    });
}
