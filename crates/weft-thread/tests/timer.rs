//! Behaviour tests for [`weft_thread::Timer`] / [`weft_thread::TimerHandle`] (run once after a
//! delay unless cancelled) and [`weft_thread::Interval`] / [`weft_thread::IntervalHandle`] (run
//! every period until cancelled): firing time, the cancel guarantees (also before `start`; `true` means the function
//! never runs, `false` that it already started; no interval run starts after `cancel` returned,
//! even when called from the function itself), zero and `Duration::MAX` delays, `fired`, names and
//! the daemon flag, `wait_timeout` (Python's `join(timeout)`), and panics in the function
//! reaching `join`.
//!
//! Re-expresses CPython's `Lib/test/test_threading.py` `TimerTests` (`test_init_immutable_default_args`:
//! two timers each fire their own callback once) and the `threading.Timer` contract documented
//! for `cancel()` ("stop the timer, and cancel the execution of the timer's action; this will
//! only work if the timer is still in its waiting stage"). Python has no `Interval`; its tests
//! follow the loop-around-`Event.wait(period)` idiom it replaces.
//!
//! No test sleeps to synchronize: functions report over channels, a timer that must not fire
//! waits an hour (so the test cannot race it), every wait gives up after `LONG`, and a check that
//! something has *not* happened watches for `BRIEF`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, TryRecvError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use weft_thread::{
    current_thread, Interval, IntervalHandle, JoinError, StartError, Thread, Timer, TimerHandle,
};

mod common;
use common::*;

const HOUR: Duration = Duration::from_secs(3600);

/// Joins a timer from a helper thread, so a timer that never ends fails the test instead of
/// hanging it (`TimerHandle::join` itself has no timeout; `wait_timeout` is tested on its own).
fn join_timer(timer: TimerHandle) -> Result<bool, String> {
    within(move || timer.join().map_err(|e| e.to_string()))
}

/// The same for an interval.
fn join_interval(interval: IntervalHandle) -> Result<u64, String> {
    within(move || interval.join().map_err(|e| e.to_string()))
}

#[test]
fn timer_fires_after_its_interval() {
    let (tx, rx) = mpsc::channel();
    let start = Instant::now();
    let timer = Timer::new(SHORT, move || tx.send(Instant::now()).unwrap())
        .start()
        .unwrap();
    let fired_at = recv(&rx);
    let delay = fired_at - start;
    assert!(delay + SLACK >= SHORT, "fired early: {delay:?}");
    assert!(delay < PROMPT, "fired late: {delay:?}");
    assert!(timer.fired());
    assert_eq!(join_timer(timer), Ok(true));
}

#[test]
fn two_timers_each_fire_their_own_function_once() {
    // TimerTests.test_init_immutable_default_args
    let (tx, rx) = mpsc::channel();
    let (tx1, tx2) = (tx.clone(), tx);
    let t1 = Timer::new(Duration::from_millis(10), move || tx1.send(1).unwrap())
        .start()
        .unwrap();
    let t2 = Timer::new(Duration::from_millis(10), move || tx2.send(2).unwrap())
        .start()
        .unwrap();
    assert_eq!(join_timer(t1), Ok(true));
    assert_eq!(join_timer(t2), Ok(true));
    let mut got: Vec<i32> = rx.iter().collect(); // both senders are gone once joined
    got.sort_unstable();
    assert_eq!(got, [1, 2]);
}

#[test]
fn cancel_before_firing_means_it_never_runs() {
    let (tx, rx) = mpsc::channel::<()>();
    let timer = Timer::new(HOUR, move || tx.send(()).unwrap())
        .start()
        .unwrap();
    assert!(timer.is_alive());
    assert!(!timer.fired());
    let start = Instant::now();
    assert!(timer.cancel());
    assert!(!timer.fired());
    assert_eq!(join_timer(timer), Ok(false));
    assert!(start.elapsed() < PROMPT, "cancel did not wake the timer");
    // The function was dropped without running.
    assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
}

#[test]
fn cancel_before_start_means_it_never_runs() {
    // Python: `t = Timer(0, f); t.cancel(); t.start(); t.join()` never calls f.
    let (tx, rx) = mpsc::channel::<()>();
    let timer = Timer::new(Duration::ZERO, move || tx.send(()).unwrap());
    assert!(timer.cancel());
    assert!(!timer.cancel(), "the second cancel changes nothing");
    let timer = timer.start().unwrap();
    assert!(!timer.cancel());
    assert_eq!(join_timer(timer), Ok(false));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
}

/// Python's `timer.join(timeout)` then `timer.is_alive()`: `wait_timeout` gives up on a timer
/// still waiting to fire (the handle stays usable: it is cancelled afterwards), reports a
/// finished one, and leaves the outcome for `join`.
#[test]
fn wait_timeout_gives_up_on_a_waiting_timer_and_keeps_the_handle() {
    let timer = Timer::new(HOUR, || unreachable!("cancelled"))
        .start()
        .unwrap();
    let start = Instant::now();
    assert!(
        !timer.wait_timeout(BRIEF),
        "an hour's timer cannot have ended"
    );
    assert!(start.elapsed() >= BRIEF, "it waited the timeout out");
    assert!(
        !timer.wait_timeout(Duration::ZERO),
        "a zero timeout only checks"
    );
    assert!(timer.is_alive());
    assert!(timer.cancel(), "still pending: the handle was kept");
    assert!(timer.wait_timeout(LONG), "a cancelled timer's thread ends");
    assert!(!timer.is_alive());
    assert_eq!(join_timer(timer), Ok(false));

    let (tx, rx) = mpsc::channel();
    let fired = Timer::new(Duration::ZERO, move || tx.send(()).unwrap())
        .start()
        .unwrap();
    recv(&rx);
    assert!(fired.wait_timeout(Duration::MAX), "ended after firing");
    assert_eq!(join_timer(fired), Ok(true));
}

/// Starts a timer that fires at once and runs `f` with a slot holding its own handle (put there
/// before `f` runs); returns the slot, the timer's name and what `f` sent back.
fn timer_given_its_own_handle<T: Send + 'static>(
    f: impl FnOnce(&Mutex<Option<TimerHandle>>) -> T + Send + 'static,
) -> (Arc<Mutex<Option<TimerHandle>>>, String, T) {
    let slot: Arc<Mutex<Option<TimerHandle>>> = Arc::new(Mutex::new(None));
    let handed = Arc::new(weft_sync::Event::new());
    let (tx, rx) = mpsc::channel();
    let (s, h) = (Arc::clone(&slot), Arc::clone(&handed));
    let timer = Timer::new(Duration::ZERO, move || {
        h.wait();
        tx.send(f(&s)).unwrap();
    })
    .start()
    .unwrap();
    let name = timer.name().to_owned();
    *slot.lock().unwrap() = Some(timer);
    handed.set();
    let sent = recv(&rx);
    (slot, name, sent)
}

/// A timer's function that waits for its own timer gets `false` at once, not a wait for itself.
#[test]
fn wait_timeout_from_the_timers_own_function_returns_false_at_once() {
    let (slot, _, (ended, took)) = timer_given_its_own_handle(|own| {
        let own = own.lock().unwrap();
        let start = Instant::now();
        let ended = own.as_ref().unwrap().wait_timeout(Duration::MAX);
        (ended, start.elapsed())
    });
    assert!(!ended);
    assert!(took < PROMPT, "it did not wait for itself ({took:?})");
    let timer = slot.lock().unwrap().take().unwrap();
    assert_eq!(join_timer(timer), Ok(true));
}

/// From inside its own function, a timer has fired: `cancel` is `false` and harmless (Python's
/// `cancel()` there changes nothing), and `join` is `CurrentThread` with the thread's handle,
/// not a wait for itself (Python: "cannot join current thread").
#[test]
fn cancel_and_join_from_the_timers_own_function() {
    let (_, observer, (cancelled, fired, joined)) = timer_given_its_own_handle(|own| {
        let own = own.lock().unwrap().take().unwrap();
        let cancelled = own.cancel();
        let fired = own.fired();
        let joined = match own.join() {
            Err(JoinError::CurrentThread(thread)) => Ok(thread.is_alive()),
            other => Err(format!("{other:?}")),
        };
        (cancelled, fired, joined)
    });
    assert!(!cancelled, "the function already runs");
    assert!(fired);
    assert_eq!(
        joined,
        Ok(true),
        "joining itself gives the live thread's handle"
    );
    wait_until("the timer thread has ended", || {
        weft_thread::enumerate()
            .iter()
            .all(|t| t.name() != observer)
    });
}

/// The same for an interval: it runs until cancelled, so a wait gives up; after `cancel` it
/// ends.
#[test]
fn interval_wait_timeout_gives_up_until_cancelled() {
    let interval = Interval::new(HOUR, || unreachable!("an hour has not passed"))
        .start()
        .unwrap();
    assert!(!interval.wait_timeout(BRIEF));
    assert!(interval.is_alive());
    interval.cancel();
    assert!(interval.wait_timeout(LONG));
    assert_eq!(join_interval(interval), Ok(0));
}

#[test]
fn cancel_twice() {
    let timer = Timer::new(HOUR, || unreachable!("cancelled"))
        .start()
        .unwrap();
    assert!(timer.cancel());
    assert!(!timer.cancel(), "the second cancel changes nothing");
    assert_eq!(join_timer(timer), Ok(false));
}

#[test]
fn cancel_after_firing_returns_false_and_is_harmless() {
    let (tx, rx) = mpsc::channel();
    let timer = Timer::new(Duration::ZERO, move || tx.send("fired").unwrap())
        .start()
        .unwrap();
    assert_eq!(recv(&rx), "fired");
    assert!(timer.fired());
    assert!(!timer.cancel());
    assert!(!timer.cancel());
    assert!(timer.fired(), "a late cancel does not undo the firing");
    assert_eq!(join_timer(timer), Ok(true));
}

#[test]
fn cancel_while_the_function_runs_returns_false_and_does_not_interrupt_it() {
    let go = gate();
    let g = Arc::clone(&go);
    let (tx, rx) = mpsc::channel();
    let timer = Timer::new(Duration::ZERO, move || {
        tx.send("started").unwrap();
        g.wait();
        tx.send("finished").unwrap();
    })
    .start()
    .unwrap();
    assert_eq!(recv(&rx), "started");
    assert!(timer.fired());
    assert!(timer.is_alive());
    assert!(!timer.cancel());
    go.set();
    assert_eq!(recv(&rx), "finished");
    assert_eq!(join_timer(timer), Ok(true));
}

#[test]
fn cancel_races_firing_and_exactly_one_wins() {
    // cancel() and the firing decide under one lock: `true` means the function never ran, `false`
    // that it did, whatever the interleaving.
    for i in 0..50u64 {
        let (tx, rx) = mpsc::channel();
        let delay = Duration::from_micros(i * 20);
        let timer = Timer::new(delay, move || tx.send(()).unwrap())
            .start()
            .unwrap();
        let cancelled = timer.cancel();
        let fired = timer.fired();
        let ran = join_timer(timer).unwrap();
        assert_eq!(
            cancelled, !ran,
            "round {i}: cancel() = {cancelled}, ran = {ran}"
        );
        assert_eq!(fired, ran, "round {i}");
        assert_eq!(rx.try_recv().is_ok(), ran, "round {i}");
    }
}

#[test]
fn zero_interval_fires_at_once() {
    let (tx, rx) = mpsc::channel();
    let start = Instant::now();
    let timer = Timer::new(Duration::ZERO, move || tx.send(()).unwrap())
        .start()
        .unwrap();
    recv(&rx);
    assert!(start.elapsed() < PROMPT);
    assert_eq!(join_timer(timer), Ok(true));
}

#[test]
fn max_interval_never_fires_until_cancelled() {
    let (tx, rx) = mpsc::channel::<()>();
    let timer = Timer::new(Duration::MAX, move || tx.send(()).unwrap())
        .start()
        .unwrap();
    assert_pending(&rx);
    assert!(timer.is_alive());
    assert!(!timer.fired());
    assert!(timer.cancel());
    assert_eq!(join_timer(timer), Ok(false));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
}

#[test]
fn timer_names_and_daemon_flag() {
    let (tx, rx) = mpsc::channel();
    let tx2 = tx.clone();
    let named = Timer::new(Duration::ZERO, move || {
        let me = current_thread();
        let os = std::thread::current().name().map(str::to_owned);
        tx.send((me.name().to_owned(), os, me.is_daemon())).unwrap();
    })
    .name("tick")
    .daemon(true)
    .start()
    .unwrap();
    assert_eq!(named.name(), "tick");
    assert_eq!(
        recv(&rx),
        ("tick".to_owned(), Some("tick".to_owned()), true)
    );
    assert_eq!(join_timer(named), Ok(true));

    let unnamed = Timer::new(Duration::ZERO, move || {
        tx2.send((
            current_thread().name().to_owned(),
            None,
            current_thread().is_daemon(),
        ))
        .unwrap();
    })
    .daemon(false)
    .start()
    .unwrap();
    assert!(unnamed.name().starts_with("Thread-"), "{}", unnamed.name());
    let (name, _, daemon) = recv(&rx);
    assert_eq!(name, unnamed.name());
    assert!(!daemon);
    assert_eq!(join_timer(unnamed), Ok(true));

    let err = Timer::new(Duration::ZERO, || ())
        .name("no\0good")
        .start()
        .unwrap_err();
    assert!(matches!(err, StartError::InvalidName(ref n) if n == "no\0good"));
}

#[test]
fn timer_inherits_the_daemon_flag_of_the_starting_thread() {
    for daemon in [true, false] {
        let starter = Thread::new(|| {
            let (tx, rx) = mpsc::channel();
            let timer = Timer::new(Duration::ZERO, move || {
                tx.send(current_thread().is_daemon()).unwrap();
            })
            .start()
            .unwrap();
            let flag = recv(&rx);
            assert!(timer.join().unwrap());
            flag
        })
        .daemon(daemon)
        .start()
        .unwrap();
        assert_eq!(value(starter), daemon);
    }
}

#[test]
fn a_panic_in_the_timer_function_reaches_join() {
    let timer = Timer::new(Duration::ZERO, || panic!("timer boom"))
        .name("panicking-timer")
        .start()
        .unwrap();
    match within(move || timer.join()) {
        Err(JoinError::Panicked(p)) => {
            assert_eq!(p.message(), "timer boom");
            assert_eq!(p.thread_name(), "panicking-timer");
        }
        other => panic!("expected Panicked, got {other:?}"),
    }
}

#[test]
fn debug_output_names_the_timer() {
    let timer = Timer::new(HOUR, || ()).name("dbg-timer");
    assert!(format!("{timer:?}").contains("dbg-timer"));
    let timer = timer.start().unwrap();
    let text = format!("{timer:?}");
    assert!(
        text.contains("Pending") && text.contains("dbg-timer"),
        "{text}"
    );
    assert!(timer.cancel());
    assert!(format!("{timer:?}").contains("Cancelled"));
    assert_eq!(join_timer(timer), Ok(false));
}

#[test]
fn interval_runs_repeatedly_and_no_run_follows_cancel() {
    let (tx, rx) = mpsc::channel();
    let mut n = 0u64;
    let interval = Interval::new(Duration::from_millis(5), move || {
        n += 1;
        tx.send(n).unwrap();
    })
    .start()
    .unwrap();
    assert_eq!(recv(&rx), 1);
    assert_eq!(recv(&rx), 2);
    assert_eq!(recv(&rx), 3);
    assert!(interval.is_alive());
    interval.cancel();
    // Every run that happened finished before cancel() returned, so its message is queued.
    let seen = 3 + rx.try_iter().count() as u64;
    assert_silent(&rx);
    assert_eq!(join_interval(interval), Ok(seen));
}

#[test]
fn interval_first_run_comes_one_period_after_start() {
    let (tx, rx) = mpsc::channel();
    let start = Instant::now();
    let interval = Interval::new(SHORT, move || {
        let _ = tx.send(Instant::now());
    })
    .start()
    .unwrap();
    let first = recv(&rx) - start;
    interval.cancel();
    assert!(first + SLACK >= SHORT, "first run early: {first:?}");
    assert!(first < PROMPT, "first run late: {first:?}");
    assert!(join_interval(interval).unwrap() >= 1);
}

#[test]
fn interval_skips_ticks_an_overrun_missed_instead_of_bunching() {
    // The first run lasts several periods; the runs after it are still about a period apart,
    // not fired back to back to catch up.
    const PERIOD: Duration = Duration::from_millis(40);
    let (tx, rx) = mpsc::channel();
    let mut first = true;
    let interval = Interval::new(PERIOD, move || {
        if std::mem::take(&mut first) {
            std::thread::sleep(PERIOD * 4); // the overrunning work being timed
        }
        let _ = tx.send(Instant::now());
    })
    .start()
    .unwrap();
    let end_of_first = recv(&rx);
    let _second = recv(&rx);
    let third = recv(&rx);
    interval.cancel();
    // The second run is due at the first tick after the overrun, the third a period later; had
    // the missed ticks been kept, both would have followed the first at once.
    let gap = third - end_of_first;
    assert!(
        gap + SLACK >= PERIOD,
        "runs bunched up: {gap:?} after the overrun"
    );
    assert!(join_interval(interval).unwrap() >= 3);
}

#[test]
fn cancel_waits_for_a_run_in_progress() {
    let go = gate();
    let g = Arc::clone(&go);
    let (tx, rx) = mpsc::channel();
    let interval = Interval::new(Duration::from_millis(1), move || {
        tx.send("run").unwrap();
        g.wait(); // the first run is held until the test lets it go; later ones pass
    })
    .start()
    .unwrap();
    assert_eq!(recv(&rx), "run");
    let interval = Arc::new(interval);
    let i = Arc::clone(&interval);
    let (calling_tx, calling_rx) = mpsc::channel();
    let cancelled = spawn(move || {
        calling_tx.send(()).unwrap();
        i.cancel();
    });
    recv(&calling_rx);
    assert_pending(&cancelled); // cancel() does not return while the run is in progress
    go.set();
    recv(&cancelled);
    // Every run finished before cancel() returned; none starts afterwards.
    let runs = 1 + rx.try_iter().count() as u64;
    assert_silent(&rx);
    wait_until("the canceller dropped its reference", || {
        Arc::strong_count(&interval) == 1
    });
    let interval = Arc::into_inner(interval).unwrap();
    assert_eq!(join_interval(interval), Ok(runs));
}

#[test]
fn cancel_from_within_the_function_makes_this_run_the_last() {
    let slot: Arc<Mutex<Option<IntervalHandle>>> = Arc::new(Mutex::new(None));
    let (runs_tx, runs_rx) = mpsc::channel();
    let (cancelled_tx, cancelled_rx) = mpsc::channel();
    let s = Arc::clone(&slot);
    let mut n = 0u64;
    let interval = Interval::new(Duration::from_millis(2), move || {
        n += 1;
        let _ = runs_tx.send(n);
        if n >= 3 {
            let guard = s.lock().unwrap();
            if let Some(own) = guard.as_ref() {
                own.cancel(); // must return at once: the caller *is* the run in progress
                drop(guard);
                let _ = cancelled_tx.send(n);
            }
        }
    })
    .start()
    .unwrap();
    *slot.lock().unwrap() = Some(interval);
    let last = recv(&cancelled_rx);
    assert_silent(&cancelled_rx);
    let interval = slot.lock().unwrap().take().unwrap();
    assert_eq!(join_interval(interval), Ok(last));
    let runs: Vec<u64> = runs_rx.try_iter().collect();
    assert_eq!(
        runs.last(),
        Some(&last),
        "a run came after the cancelling one"
    );
}

#[test]
fn cancel_before_the_first_run() {
    let (tx, rx) = mpsc::channel::<()>();
    let interval = Interval::new(HOUR, move || tx.send(()).unwrap())
        .start()
        .unwrap();
    assert!(interval.is_alive());
    let start = Instant::now();
    interval.cancel();
    interval.cancel(); // twice is harmless
    assert_eq!(join_interval(interval), Ok(0));
    assert!(start.elapsed() < PROMPT);
    assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
}

#[test]
fn interval_with_max_period_never_runs_until_cancelled() {
    let (tx, rx) = mpsc::channel::<()>();
    let interval = Interval::new(Duration::MAX, move || tx.send(()).unwrap())
        .start()
        .unwrap();
    assert_pending(&rx);
    interval.cancel();
    assert_eq!(join_interval(interval), Ok(0));
}

#[test]
fn zero_period_is_refused() {
    let (tx, rx) = mpsc::channel::<()>();
    let err = Interval::new(Duration::ZERO, move || tx.send(()).unwrap())
        .start()
        .unwrap_err();
    assert!(matches!(err, StartError::ZeroPeriod), "{err:?}");
    assert!(err.to_string().contains("period"), "{err}");
    // Nothing was started: the function is gone without having run.
    assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
}

#[test]
fn interval_names_and_daemon_flag() {
    let (tx, rx) = mpsc::channel();
    let interval = Interval::new(Duration::from_millis(1), move || {
        let me = current_thread();
        let _ = tx.send((me.name().to_owned(), me.is_daemon()));
    })
    .name("poll")
    .daemon(true)
    .start()
    .unwrap();
    assert_eq!(interval.name(), "poll");
    assert_eq!(recv(&rx), ("poll".to_owned(), true));
    interval.cancel();
    join_interval(interval).unwrap();
    assert!(format!("{:?}", Interval::new(HOUR, || ()).name("dbg-poll")).contains("dbg-poll"));
}

#[test]
fn a_panic_in_the_interval_function_ends_it_and_reaches_join() {
    let runs = Arc::new(AtomicU64::new(0));
    let r = Arc::clone(&runs);
    let interval = Interval::new(Duration::from_millis(1), move || {
        if r.fetch_add(1, Ordering::SeqCst) + 1 == 2 {
            panic!("interval boom");
        }
    })
    .name("panicking-interval")
    .start()
    .unwrap();
    match within(move || interval.join()) {
        Err(JoinError::Panicked(p)) => {
            assert_eq!(p.message(), "interval boom");
            assert_eq!(p.thread_name(), "panicking-interval");
        }
        other => panic!("expected Panicked, got {other:?}"),
    }
    assert_eq!(runs.load(Ordering::SeqCst), 2, "no run after the panic");
}

#[test]
fn an_interval_joined_from_its_own_function_can_still_be_cancelled() {
    // Joining the interval from inside its function is an error that gives back the thread's
    // handle; stopping that handle cancels the interval (the handle that could `cancel` is gone).
    let runs = Arc::new(AtomicU64::new(0));
    let slot: Arc<Mutex<Option<IntervalHandle>>> = Arc::default();
    let (tx, rx) = mpsc::channel();
    let (r, s) = (Arc::clone(&runs), Arc::clone(&slot));
    let interval = Interval::new(Duration::from_millis(1), move || {
        r.fetch_add(1, Ordering::SeqCst);
        if let Some(handle) = s.lock().unwrap().take() {
            match handle.join() {
                Err(JoinError::CurrentThread(thread)) => {
                    thread.stop();
                    tx.send(thread).unwrap();
                }
                other => panic!("expected CurrentThread, got {other:?}"),
            }
        }
    })
    .start()
    .unwrap();
    *slot.lock().unwrap() = Some(interval);
    let thread = recv(&rx);
    let done = match thread.join_timeout(LONG) {
        Ok(done) => done,
        Err(e) => panic!("the interval went on after its thread was stopped: {e}"),
    };
    assert_eq!(
        done,
        runs.load(Ordering::SeqCst),
        "the stopping run was the last"
    );
}

/// A run that waits for the thread cancelling the interval: `cancel` would wait for that run
/// (the audit's deadlock, for ever); `cancel_timeout` gives up after its timeout and says a run
/// is in progress, the run then ends, and no run follows. When nothing runs it says so at once.
#[test]
fn cancel_timeout_from_a_thread_the_run_waits_for_gives_up() {
    let slot: Arc<Mutex<Option<Arc<IntervalHandle>>>> = Arc::new(Mutex::new(None));
    let (said_tx, said_rx) = mpsc::channel();
    let (runs_tx, runs_rx) = mpsc::channel();
    let s = Arc::clone(&slot);
    let interval = Interval::new(Duration::from_millis(1), move || {
        runs_tx.send(()).unwrap();
        let Some(own) = s.lock().unwrap().clone() else {
            return;
        };
        // The run waits for a thread that cancels its own interval.
        let said = std::thread::spawn(move || own.cancel_timeout(Duration::from_millis(200)))
            .join()
            .unwrap();
        said_tx.send(said).unwrap();
    })
    .start()
    .unwrap();
    let interval = Arc::new(interval);
    *slot.lock().unwrap() = Some(Arc::clone(&interval));
    let start = Instant::now();
    assert!(!recv(&said_rx), "a run was in progress");
    assert!(start.elapsed() < LONG, "cancel_timeout gave up late");
    slot.lock().unwrap().take();
    wait_until("the run dropped its reference", || {
        Arc::strong_count(&interval) == 1
    });
    let interval = Arc::into_inner(interval).unwrap();
    let runs = join_interval(interval).unwrap();
    assert_eq!(
        runs,
        runs_rx.try_iter().count() as u64,
        "no run after the cancel"
    );
    assert_silent(&said_rx);

    let idle = Interval::new(HOUR, || unreachable!("never due"))
        .start()
        .unwrap();
    assert!(idle.cancel_timeout(Duration::ZERO), "nothing was running");
    assert_eq!(join_interval(idle), Ok(0));
}

/// `cancel_timeout` at the extremes: 1 ns gives up on a run in progress, `Duration::MAX` waits
/// for it to end; with nothing running, both say so at once.
#[test]
fn cancel_timeout_of_one_nanosecond_and_of_max() {
    for timeout in [Duration::from_nanos(1), Duration::MAX] {
        let idle = Interval::new(HOUR, || unreachable!("never due"))
            .start()
            .unwrap();
        let (said, idle) = within(move || (idle.cancel_timeout(timeout), idle));
        assert!(said, "nothing was running ({timeout:?})");
        assert_eq!(join_interval(idle), Ok(0));
    }

    let entered = Arc::new(weft_sync::Event::new());
    let release = Arc::new(weft_sync::Event::new());
    let (e, r) = (Arc::clone(&entered), Arc::clone(&release));
    let busy = Interval::new(Duration::from_nanos(1), move || {
        e.set();
        r.wait();
    })
    .start()
    .unwrap();
    assert!(entered.wait_timeout(LONG), "the first run did not start");
    assert!(
        !busy.cancel_timeout(Duration::from_nanos(1)),
        "a run is in progress"
    );
    let waiter = spawn(move || (busy.cancel_timeout(Duration::MAX), busy));
    assert_silent(&waiter); // waits for the run
    release.set();
    let (said, busy) = recv(&waiter);
    assert!(said, "the run ended");
    assert_eq!(
        join_interval(busy),
        Ok(1),
        "the run in progress was the last"
    );
}
