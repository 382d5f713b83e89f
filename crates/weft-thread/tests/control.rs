//! Behaviour tests for cooperative stop and pause: [`weft_thread::ThreadHandle::stop`],
//! [`pause`](weft_thread::ThreadHandle::pause), [`resume`](weft_thread::ThreadHandle::resume),
//! `is_paused`, `is_stop_requested`, and the [`weft_thread::StopToken`] a stoppable thread reads
//! (`is_stopped`, `check`, `sleep`, `checkpoint`, `is_paused`, clones).
//!
//! CPython's `threading.Thread` has no stop or pause (`test_threading.py` has no such cases):
//! Python programs build them from an `Event` the thread checks, as the chapter does. These tests
//! re-express that pattern's guarantees: a stop ends a loop that checks for it and cuts a sleep
//! short, a paused thread blocks at its next checkpoint and continues on resume, a paused thread
//! can always be stopped, and requests after the thread ended change nothing.
//!
//! No test sleeps to synchronize: a thread's progress is observed through a rendezvous channel
//! (it cannot run ahead of the test), every wait gives up after `LONG`, and a check that something
//! has *not* happened watches for `BRIEF`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use weft_thread::{StopToken, Stopped, Thread};

mod common;
use common::*;

const HOUR: Duration = Duration::from_secs(3600);

#[test]
fn stop_ends_a_loop_on_is_stopped() {
    let (tx, rx) = mpsc::channel();
    let handle = Thread::new_stoppable(move |stop| {
        tx.send(()).unwrap();
        let mut spins = 0u64;
        while !stop.is_stopped() {
            spins += 1;
            std::thread::yield_now();
        }
        spins
    })
    .start()
    .unwrap();
    recv(&rx);
    assert!(handle.is_alive());
    assert!(!handle.is_stop_requested());
    handle.stop();
    assert!(handle.is_stop_requested());
    let _spins: u64 = value(handle);
}

#[test]
fn stop_ends_a_loop_on_check_with_err_stopped() {
    let (tx, rx) = mpsc::channel();
    let handle = Thread::new_stoppable(move |stop| -> Result<(), Stopped> {
        tx.send(()).unwrap();
        loop {
            stop.check()?;
            std::thread::yield_now();
        }
    })
    .start()
    .unwrap();
    recv(&rx);
    handle.stop();
    assert_eq!(value(handle), Err(Stopped));
}

#[test]
fn stop_interrupts_a_long_sleep_promptly() {
    let (tx, rx) = mpsc::channel();
    let handle = Thread::new_stoppable(move |stop| {
        tx.send(()).unwrap();
        let start = Instant::now();
        let result = stop.sleep(HOUR);
        (result, start.elapsed())
    })
    .start()
    .unwrap();
    recv(&rx);
    let start = Instant::now();
    handle.stop();
    let (result, slept) = value(handle);
    assert_eq!(result, Err(Stopped));
    assert!(slept < PROMPT, "slept {slept:?}");
    assert!(start.elapsed() < PROMPT);
}

#[test]
fn sleep_max_lasts_until_stopped() {
    let (tx, rx) = mpsc::channel();
    let handle = Thread::new_stoppable(move |stop| {
        let result = stop.sleep(Duration::MAX);
        tx.send(result).unwrap();
        result
    })
    .start()
    .unwrap();
    assert_pending(&rx);
    handle.stop();
    assert_eq!(recv(&rx), Err(Stopped));
    assert_eq!(value(handle), Err(Stopped));
}

#[test]
fn sleep_without_a_stop_returns_ok_after_the_duration() {
    let handle = Thread::new_stoppable(|stop| {
        let start = Instant::now();
        let result = stop.sleep(SHORT);
        (result, start.elapsed(), stop.sleep(Duration::ZERO))
    })
    .start()
    .unwrap();
    let (result, slept, zero) = value(handle);
    assert_eq!(result, Ok(()));
    assert!(slept + SLACK >= SHORT, "woke early: {slept:?}");
    assert!(slept < PROMPT, "woke late: {slept:?}");
    assert_eq!(zero, Ok(()));
}

#[test]
fn after_a_stop_sleep_check_and_checkpoint_fail_at_once() {
    let go = gate();
    let g = Arc::clone(&go);
    let handle = Thread::new_stoppable(move |stop| {
        g.wait();
        let start = Instant::now();
        let results = (
            stop.check(),
            stop.sleep(HOUR),
            stop.sleep(Duration::ZERO),
            stop.checkpoint(),
            stop.is_stopped(),
        );
        (results, start.elapsed())
    })
    .start()
    .unwrap();
    handle.stop();
    go.set();
    let (results, took) = value(handle);
    assert_eq!(
        results,
        (Err(Stopped), Err(Stopped), Err(Stopped), Err(Stopped), true)
    );
    assert!(took < PROMPT, "{took:?}");
}

#[test]
fn checkpoint_without_a_pause_passes() {
    let handle = Thread::new_stoppable(|stop| {
        (0..100)
            .map(|_| stop.checkpoint())
            .collect::<Result<Vec<()>, Stopped>>()
            .map(|v| v.len())
    })
    .start()
    .unwrap();
    assert_eq!(value(handle), Ok(100));
}

#[test]
fn pause_blocks_at_the_next_checkpoint_and_resume_continues() {
    // The thread reports each pass through its checkpoint on a rendezvous channel, so it can be
    // at most one pass ahead of what the test has received.
    let (tx, rx) = mpsc::sync_channel::<u64>(0);
    let handle = Thread::new_stoppable(move |stop| -> Result<u64, Stopped> {
        let mut passes = 0;
        loop {
            stop.checkpoint()?;
            passes += 1;
            if tx.send(passes).is_err() {
                return Ok(passes);
            }
        }
    })
    .start()
    .unwrap();
    assert_eq!(recv(&rx), 1);
    assert_eq!(recv(&rx), 2);

    handle.pause();
    assert!(handle.is_paused());
    // At most one pass was already under way when the pause came...
    let last = match rx.recv_timeout(BRIEF) {
        Ok(3) => 3,
        Ok(other) => panic!("pass {other} after pass 2"),
        Err(RecvTimeoutError::Timeout) => 2,
        Err(RecvTimeoutError::Disconnected) => panic!("the thread ended"),
    };
    // ...and then no more.
    assert_pending(&rx);
    assert!(handle.is_alive());
    assert!(handle.is_paused());

    handle.resume();
    assert!(!handle.is_paused());
    assert_eq!(recv(&rx), last + 1);
    assert_eq!(recv(&rx), last + 2);

    // Pause and resume again: the same.
    handle.pause();
    let last = match rx.recv_timeout(BRIEF) {
        Ok(n) if n == last + 3 => n,
        Ok(other) => panic!("pass {other} after pass {}", last + 2),
        Err(RecvTimeoutError::Timeout) => last + 2,
        Err(RecvTimeoutError::Disconnected) => panic!("the thread ended"),
    };
    assert_pending(&rx);
    handle.resume();
    assert_eq!(recv(&rx), last + 1);

    handle.stop();
    drop(rx); // a pass blocked in `send` ends with Ok, one at the checkpoint with Err(Stopped)
    let result = value(handle);
    assert!(matches!(result, Ok(_) | Err(Stopped)), "{result:?}");
}

#[test]
fn pause_stops_a_counter_from_advancing() {
    // The same with an atomic counter: after `pause`, the counter advances by at most one (an
    // iteration already past its checkpoint), then stays put until `resume`.
    let count = Arc::new(AtomicU64::new(0));
    let c = Arc::clone(&count);
    let handle = Thread::new_stoppable(move |stop| -> Result<(), Stopped> {
        loop {
            stop.checkpoint()?;
            c.fetch_add(1, Ordering::SeqCst);
            std::thread::yield_now();
        }
    })
    .start()
    .unwrap();
    wait_until("the thread has counted", || {
        count.load(Ordering::SeqCst) >= 3
    });

    handle.pause();
    let after_pause = count.load(Ordering::SeqCst);
    watch_brief();
    let later = count.load(Ordering::SeqCst);
    assert!(
        later <= after_pause + 1,
        "still counting while paused: {after_pause} after pause(), {later} later"
    );
    watch_brief();
    assert_eq!(count.load(Ordering::SeqCst), later, "counting while paused");
    assert!(handle.is_alive());

    handle.resume();
    wait_until("the thread counts again", || {
        count.load(Ordering::SeqCst) > later + 2
    });

    handle.stop();
    assert_eq!(value(handle), Err(Stopped));
}

#[test]
fn stop_wakes_a_paused_thread_at_its_checkpoint() {
    let (ready_tx, ready_rx) = mpsc::channel();
    let (passed_tx, passed_rx) = mpsc::channel();
    let go = gate();
    let g = Arc::clone(&go);
    let handle = Thread::new_stoppable(move |stop| {
        ready_tx.send(()).unwrap();
        g.wait();
        let result = stop.checkpoint();
        passed_tx.send(result).unwrap();
        result
    })
    .start()
    .unwrap();
    recv(&ready_rx);
    handle.pause();
    go.set(); // the thread now reaches its checkpoint while paused
    assert_pending(&passed_rx);
    assert!(handle.is_paused());

    let start = Instant::now();
    handle.stop();
    assert!(!handle.is_paused(), "a stop lifts the pause");
    assert_eq!(recv(&passed_rx), Err(Stopped));
    assert!(start.elapsed() < PROMPT);
    assert_eq!(value(handle), Err(Stopped));
}

#[test]
fn pause_after_stop_is_a_no_op() {
    let handle = Thread::new_stoppable(|stop| stop.sleep(Duration::MAX))
        .start()
        .unwrap();
    handle.stop();
    handle.pause();
    assert!(!handle.is_paused());
    assert!(handle.is_stop_requested());
    assert_eq!(value(handle), Err(Stopped));
}

#[test]
fn pause_resume_and_stop_are_idempotent() {
    let (tx, rx) = mpsc::channel();
    let handle = Thread::new_stoppable(move |stop| {
        tx.send(stop.clone()).unwrap();
        stop.sleep(Duration::MAX)
    })
    .start()
    .unwrap();
    let token = recv(&rx);
    handle.resume(); // resuming a thread that is not paused does nothing
    assert!(!handle.is_paused());
    handle.pause();
    handle.pause();
    assert!(handle.is_paused() && token.is_paused());
    handle.resume();
    assert!(
        !handle.is_paused() && !token.is_paused(),
        "one resume undoes two pauses"
    );
    handle.stop();
    handle.stop();
    assert!(handle.is_stop_requested());
    assert_eq!(value(handle), Err(Stopped));
}

#[test]
fn requests_after_the_thread_ended_do_not_panic() {
    let handle = Thread::new_stoppable(|_stop| "done").start().unwrap();
    wait_until("the thread has ended", || !handle.is_alive());
    handle.stop();
    handle.pause();
    handle.resume();
    handle.pause();
    handle.stop();
    assert!(!handle.is_alive());
    assert_eq!(value(handle), "done");
}

#[test]
fn pause_after_the_thread_ended_is_a_no_op() {
    // `pause` is documented to do nothing once the thread ended, so no pause is in force.
    let handle = Thread::new_stoppable(|_stop| "done").start().unwrap();
    wait_until("the thread has ended", || !handle.is_alive());
    handle.pause();
    assert!(
        !handle.is_paused(),
        "pause() on an ended thread left a pause in force"
    );
    assert_eq!(value(handle), "done");
}

#[test]
fn stop_on_a_thread_that_never_looks_is_harmless() {
    let go = gate();
    let g = Arc::clone(&go);
    let handle = Thread::new(move || {
        g.wait();
        7
    })
    .start()
    .unwrap();
    handle.stop();
    handle.pause();
    assert!(handle.is_stop_requested());
    assert!(handle.is_alive(), "stopping is cooperative");
    go.set();
    assert_eq!(value(handle), 7);
}

#[test]
fn stop_token_clones_see_the_same_requests() {
    let (tx, rx) = mpsc::channel::<StopToken>();
    let handle = Thread::new_stoppable(move |stop| {
        tx.send(stop.clone()).unwrap();
        stop.sleep(Duration::MAX)
    })
    .start()
    .unwrap();
    let token = recv(&rx);
    let other = token.clone();
    assert!(!token.is_stopped() && !token.is_paused());
    assert_eq!(token.check(), Ok(()));

    handle.pause();
    assert!(token.is_paused() && other.is_paused());
    // A clone on another (std) thread blocks at a checkpoint while paused...
    let o = other.clone();
    let at_checkpoint = spawn(move || o.checkpoint());
    assert_pending(&at_checkpoint);
    // ...and a clone sleeping elsewhere is woken by the stop too.
    let o = other.clone();
    let sleeping = spawn(move || o.sleep(HOUR));

    handle.stop();
    assert_eq!(recv(&at_checkpoint), Err(Stopped));
    assert_eq!(recv(&sleeping), Err(Stopped));
    assert!(token.is_stopped() && other.is_stopped());
    assert!(!token.is_paused());
    assert_eq!(other.check(), Err(Stopped));
    assert!(format!("{token:?}").contains("stopped: true"));
    assert_eq!(value(handle), Err(Stopped));
}

#[test]
fn resume_releases_a_paused_checkpoint() {
    let (tx, rx) = mpsc::channel::<StopToken>();
    let handle = Thread::new_stoppable(move |stop| {
        tx.send(stop.clone()).unwrap();
        stop.sleep(Duration::MAX)
    })
    .start()
    .unwrap();
    let token = recv(&rx);
    handle.pause();
    let t = token.clone();
    let at_checkpoint = spawn(move || t.checkpoint());
    assert_pending(&at_checkpoint);
    handle.resume();
    assert_eq!(recv(&at_checkpoint), Ok(()));
    handle.stop();
    assert_eq!(value(handle), Err(Stopped));
}

#[test]
fn stopped_is_an_error_for_question_mark() {
    let err: Box<dyn std::error::Error + Send + Sync> = Box::new(Stopped);
    assert_eq!(err.to_string(), "the thread was asked to stop");
}

#[test]
fn dropping_the_handle_of_a_paused_thread_lets_it_run_on() {
    // Nothing could resume the thread once its handle is gone: the pause is lifted, and the
    // thread, which reaches its checkpoint only after the drop, passes it.
    let go = gate();
    let g = Arc::clone(&go);
    let (tx, rx) = mpsc::channel();
    let handle = Thread::new_stoppable(move |stop| {
        g.wait();
        let passed = stop.checkpoint();
        tx.send(passed).unwrap();
    })
    .start()
    .unwrap();
    handle.pause();
    assert!(handle.is_paused());
    drop(handle);
    go.set();
    assert_eq!(recv(&rx), Ok(()));
}

/// A thread paused before it reaches its checkpoint (it waits for a gate the test opens after
/// the pause), which then returns 7.
fn paused_before_its_checkpoint() -> weft_thread::ThreadHandle<Result<u32, Stopped>> {
    let go = gate();
    let g = Arc::clone(&go);
    let handle = Thread::new_stoppable(move |stop| {
        g.wait();
        stop.checkpoint().map(|()| 7)
    })
    .start()
    .unwrap();
    handle.pause();
    go.set();
    handle
}

#[test]
fn join_lifts_a_pause_it_would_otherwise_wait_on_for_ever() {
    // `join` takes the only handle, which alone could resume the thread: it lifts the pause,
    // and so does a `join_timeout` that never times out: `Duration::MAX`, any timeout too long
    // for a deadline (which the wait also takes as for ever), or one whose deadline falls in
    // the clock's last millisecond (no deadline, as weft-async's and weft-process's timeouts
    // take it; it kept the pause and waited, 8 of 8 runs, before); the thread passes its
    // checkpoint and ends.
    #[derive(Clone, Copy, Debug)]
    enum How {
        Join,
        Timeout(Duration),
        /// A timeout read just before the wait, so that its deadline falls in the clock's last
        /// millisecond.
        AtTheClockEnd,
    }
    for how in [
        How::Join,
        How::Timeout(Duration::MAX),
        How::Timeout(Duration::from_secs(u64::MAX)),
        How::AtTheClockEnd,
    ] {
        let handle = paused_before_its_checkpoint();
        let joined = within(move || match how {
            How::Join => handle.join().ok(),
            How::Timeout(timeout) => handle.join_timeout(timeout).ok(),
            How::AtTheClockEnd => handle.join_timeout(timeout_at_the_clock_end()).ok(),
        });
        assert_eq!(joined, Some(Ok(7)), "{how:?}");
    }
}

#[test]
fn a_finite_join_timeout_leaves_the_pause_and_gives_the_handle_back() {
    let handle = paused_before_its_checkpoint();
    let handle = match handle.join_timeout(SHORT) {
        Err(weft_thread::JoinTimeoutError::Timeout(handle)) => handle,
        Ok(v) => panic!("the thread passed a checkpoint paused before it: {v:?}"),
        Err(e) => panic!("{e}"),
    };
    assert!(handle.is_paused());
    handle.resume();
    assert_eq!(finish(handle).unwrap(), Ok(7));
}
