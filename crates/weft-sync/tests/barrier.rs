//! Behaviour tests for [`weft_sync::Barrier`] and its errors ([`weft_sync::BrokenBarrier`],
//! [`weft_sync::BreakCause`], [`weft_sync::ZeroParties`]): indices per cycle, reuse over many
//! cycles, the action (once per cycle, before any waiter is released, and a panicking action),
//! timeouts (per call, default, zero and `Duration::MAX`), `abort`, `reset`, `n_waiting`,
//! `parties` and `broken`.
//!
//! Re-expresses CPython's `Lib/test/lock_tests.py` `BarrierTests`: `test_barrier` /
//! `test_barrier_10` (lockstep passes), `test_wait_return`, `test_action`, `test_abort`,
//! `test_reset`, `test_abort_and_reset`, `test_timeout`, `test_default_timeout` and
//! `test_single_thread`. As in CPython's `setUp`, barriers get a default timeout (here `LONG`)
//! so that a bug fails a test instead of hanging it.
//!
//! No test sleeps to synchronize: threads report over channels, "thread X is waiting in the
//! barrier" is observed through `n_waiting()` (polled with `yield_now`, giving up after `LONG`),
//! and a check that something has *not* happened watches for `BRIEF`.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use weft_sync::{Barrier, BreakCause, BrokenBarrier, ZeroParties};

mod common;
use common::*;

/// Runs `f(i)` for `i` in `0..n`, each on its own thread, and returns the results in `i` order.
fn run_threads<T: Send + 'static>(
    n: usize,
    f: impl Fn(usize) -> T + Send + Sync + 'static,
) -> Vec<T> {
    let f = Arc::new(f);
    let rxs: Vec<_> = (0..n)
        .map(|i| {
            let f = Arc::clone(&f);
            spawn(move || f(i))
        })
        .collect();
    rxs.iter().map(recv).collect()
}

/// Waits until `n` threads are waiting in the barrier's current cycle.
fn wait_n_waiting(barrier: &Barrier, n: usize) {
    let start = Instant::now();
    while barrier.n_waiting() != n {
        assert!(
            start.elapsed() < LONG,
            "n_waiting stayed at {} instead of {n}",
            barrier.n_waiting()
        );
        thread::yield_now();
    }
}

/// A barrier for `parties` threads whose waits give up after `LONG`.
fn new_barrier(parties: usize) -> Barrier {
    Barrier::new(parties).unwrap().timeout(LONG)
}

/// Starts a thread that waits on `barrier` once, after `n_waiting` shows it arrived.
fn start_waiter(barrier: &Arc<Barrier>) -> Receiver<Result<usize, BrokenBarrier>> {
    let before = barrier.n_waiting();
    let b = Arc::clone(barrier);
    let rx = spawn(move || b.wait());
    wait_n_waiting(barrier, before + 1);
    rx
}

fn cause(result: Result<usize, BrokenBarrier>) -> BreakCause {
    result.expect_err("the barrier should have broken").cause()
}

#[test]
fn zero_parties_is_an_error() {
    assert_eq!(Barrier::new(0).unwrap_err(), ZeroParties);
    assert!(!ZeroParties.to_string().is_empty());
    assert!(Barrier::new(1).is_ok());
}

#[test]
fn single_thread_passes_at_once() {
    // test_single_thread
    let barrier = Barrier::new(1).unwrap();
    assert_eq!(barrier.wait(), Ok(0));
    assert_eq!(barrier.wait(), Ok(0));
    assert_eq!(barrier.wait_timeout(Duration::ZERO), Ok(0));
    assert_eq!(barrier.n_waiting(), 0);
    assert!(!barrier.broken());
}

#[test]
fn parties_n_waiting_and_arrival_order_indices() {
    let barrier = Arc::new(new_barrier(3));
    assert_eq!(barrier.parties(), 3);
    assert_eq!(barrier.n_waiting(), 0);
    assert!(!barrier.broken());
    let first = start_waiter(&barrier);
    assert_eq!(barrier.n_waiting(), 1);
    let second = start_waiter(&barrier);
    assert_eq!(barrier.n_waiting(), 2);
    assert_pending(&first);
    // The last to arrive gets parties - 1; the first got 0.
    assert_eq!(barrier.wait(), Ok(2));
    assert_eq!(recv(&first), Ok(0));
    assert_eq!(recv(&second), Ok(1));
    assert_eq!(barrier.n_waiting(), 0);
    assert!(!barrier.broken());
}

#[test]
fn wait_return_values_are_a_permutation() {
    // test_wait_return
    const N: usize = 5;
    let barrier = Arc::new(new_barrier(N));
    let b = Arc::clone(&barrier);
    let mut indices = run_threads(N, move |_| b.wait().unwrap());
    indices.sort_unstable();
    assert_eq!(indices, (0..N).collect::<Vec<_>>());
}

#[test]
fn distinct_indices_every_cycle() {
    const PARTIES: usize = 4;
    const CYCLES: usize = 50;
    let barrier = Arc::new(new_barrier(PARTIES));
    let b = Arc::clone(&barrier);
    let per_thread = run_threads(PARTIES, move |_| {
        (0..CYCLES).map(|_| b.wait().unwrap()).collect::<Vec<_>>()
    });
    for cycle in 0..CYCLES {
        let indices: BTreeSet<usize> = per_thread.iter().map(|t| t[cycle]).collect();
        assert_eq!(
            indices,
            (0..PARTIES).collect(),
            "cycle {cycle}: indices {indices:?}"
        );
    }
    assert_eq!(barrier.n_waiting(), 0);
}

#[test]
fn lockstep_passes() {
    // test_barrier / test_barrier_10: nobody gets through a wait before everyone has arrived.
    const N: usize = 5;
    const PASSES: usize = 10;
    let barrier = Arc::new(new_barrier(N));
    let before = Arc::new(AtomicUsize::new(0));
    let after = Arc::new(AtomicUsize::new(0));
    let b = Arc::clone(&barrier);
    run_threads(N, move |_| {
        for i in 0..PASSES {
            before.fetch_add(1, Ordering::SeqCst);
            assert_eq!(after.load(Ordering::SeqCst), i * N);
            b.wait().unwrap();
            after.fetch_add(1, Ordering::SeqCst);
            assert_eq!(before.load(Ordering::SeqCst), (i + 1) * N);
            b.wait().unwrap();
        }
    });
    assert_eq!(barrier.n_waiting(), 0);
    assert!(!barrier.broken());
}

#[test]
fn action_runs_once_per_cycle_before_release() {
    // test_action, over many cycles.
    const PARTIES: usize = 4;
    const CYCLES: usize = 50;
    let runs = Arc::new(AtomicUsize::new(0));
    let r = Arc::clone(&runs);
    let barrier = Arc::new(new_barrier(PARTIES).action(move || {
        // Not synchronization: this widens the window in which a waiter released before the
        // action finished would read the old count.
        for _ in 0..10 {
            thread::yield_now();
        }
        r.fetch_add(1, Ordering::SeqCst);
    }));
    let (b, r) = (Arc::clone(&barrier), Arc::clone(&runs));
    run_threads(PARTIES, move |_| {
        for cycle in 0..CYCLES {
            b.wait().unwrap();
            assert_eq!(r.load(Ordering::SeqCst), cycle + 1, "cycle {cycle}");
        }
    });
    assert_eq!(runs.load(Ordering::SeqCst), CYCLES);
}

#[test]
fn action_runs_in_the_last_thread_to_arrive() {
    const PARTIES: usize = 3;
    let runner: Arc<Mutex<Vec<ThreadId>>> = Arc::default();
    let r = Arc::clone(&runner);
    let barrier = Arc::new(new_barrier(PARTIES).action(move || {
        r.lock().unwrap().push(thread::current().id());
    }));
    let b = Arc::clone(&barrier);
    let results = run_threads(PARTIES, move |_| {
        (b.wait().unwrap(), thread::current().id())
    });
    let last = results
        .iter()
        .find(|(index, _)| *index == PARTIES - 1)
        .expect("someone got the last index")
        .1;
    assert_eq!(*runner.lock().unwrap(), [last]);
}

#[test]
fn action_panic_breaks_barrier_until_reset() {
    const PARTIES: usize = 3;
    let first = Arc::new(AtomicBool::new(true));
    let runs = Arc::new(AtomicUsize::new(0));
    let (f, r) = (Arc::clone(&first), Arc::clone(&runs));
    let barrier = Arc::new(new_barrier(PARTIES).action(move || {
        r.fetch_add(1, Ordering::SeqCst);
        if f.swap(false, Ordering::SeqCst) {
            panic!("boom");
        }
    }));
    let b = Arc::clone(&barrier);
    let errors = run_threads(PARTIES, move |_| b.wait().unwrap_err());
    for err in &errors {
        assert_eq!(err.cause(), BreakCause::ActionPanicked);
        assert!(!err.is_timeout());
    }
    let messages: Vec<_> = errors.iter().filter_map(|e| e.panic_message()).collect();
    assert_eq!(
        messages,
        ["boom"],
        "only the thread that ran the action gets the message"
    );
    let with_message = errors.iter().find(|e| e.panic_message().is_some()).unwrap();
    assert_eq!(
        with_message.to_string(),
        "barrier broken: the action panicked: boom"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 1);

    // Broken until reset: later waits fail at once, without a message.
    assert!(barrier.broken());
    let later = barrier.wait().unwrap_err();
    assert_eq!(later.cause(), BreakCause::ActionPanicked);
    assert_eq!(later.panic_message(), None);
    assert_eq!(barrier.n_waiting(), 0);

    barrier.reset();
    assert!(!barrier.broken());
    let b = Arc::clone(&barrier);
    let mut indices = run_threads(PARTIES, move |_| b.wait().unwrap());
    indices.sort_unstable();
    assert_eq!(indices, [0, 1, 2]);
    assert_eq!(runs.load(Ordering::SeqCst), 2);
}

/// A barrier for `parties` threads whose action, `action(barrier)`, gets the barrier itself.
fn self_aware_barrier(
    parties: usize,
    action: impl Fn(&Barrier) + Send + Sync + 'static,
) -> Arc<Barrier> {
    let me: Arc<OnceLock<Weak<Barrier>>> = Arc::default();
    let m = Arc::clone(&me);
    let barrier = Arc::new(new_barrier(parties).action(move || {
        let barrier = m
            .get()
            .and_then(Weak::upgrade)
            .expect("set before any wait");
        action(&barrier);
    }));
    me.set(Arc::downgrade(&barrier)).unwrap();
    barrier
}

#[test]
fn action_may_inspect_its_own_barrier() {
    // The action runs unlocked: reading its barrier does not deadlock (a wait on the lock it held
    // would have hung every party, so each wait here runs on a thread of `run_threads`, which
    // gives up after LONG).
    let seen: Arc<Mutex<Vec<(usize, bool, String)>>> = Arc::default();
    let s = Arc::clone(&seen);
    let barrier = self_aware_barrier(2, move |b| {
        let seen = (b.n_waiting(), b.broken(), format!("{b:?}"));
        s.lock().unwrap().push(seen);
    });
    let b = Arc::clone(&barrier);
    let mut indices = run_threads(2, move |_| b.wait().unwrap());
    indices.sort_unstable();
    assert_eq!(indices, [0, 1]);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    let (n_waiting, broken, debug) = &seen[0];
    assert_eq!((*n_waiting, *broken), (2, false), "every party has arrived");
    assert!(debug.contains("n_waiting: 2"), "{debug}");
}

#[test]
fn abort_from_the_action_breaks_the_cycle_for_every_party() {
    const PARTIES: usize = 3;
    let barrier = self_aware_barrier(PARTIES, Barrier::abort);
    let b = Arc::clone(&barrier);
    let errors = run_threads(PARTIES, move |_| b.wait().unwrap_err());
    for err in &errors {
        assert_eq!(err.cause(), BreakCause::Aborted, "{err}");
        assert_eq!(err.panic_message(), None);
    }
    assert!(barrier.broken());
    assert_eq!(barrier.n_waiting(), 0);
    assert_eq!(cause(barrier.wait()), BreakCause::Aborted);
}

#[test]
fn reset_from_the_action_releases_every_party_with_reset() {
    let first = Arc::new(AtomicBool::new(true));
    let f = Arc::clone(&first);
    let barrier = self_aware_barrier(2, move |b| {
        if f.swap(false, Ordering::SeqCst) {
            b.reset();
        }
    });
    let b = Arc::clone(&barrier);
    let causes = run_threads(2, move |_| cause(b.wait()));
    assert_eq!(causes, [BreakCause::Reset, BreakCause::Reset]);
    // Reset, not broken: the next cycle passes.
    assert!(!barrier.broken());
    let b = Arc::clone(&barrier);
    let mut indices = run_threads(2, move |_| b.wait().unwrap());
    indices.sort_unstable();
    assert_eq!(indices, [0, 1]);
}

#[test]
fn an_action_that_resets_then_panics_leaves_the_barrier_usable() {
    // The reset ended the cycle first: the panic does not break the barrier, and only the
    // thread that ran the action gets its message, with the reset's cause.
    let first = Arc::new(AtomicBool::new(true));
    let f = Arc::clone(&first);
    let barrier = self_aware_barrier(2, move |b| {
        if f.swap(false, Ordering::SeqCst) {
            b.reset();
            panic!("after the reset");
        }
    });
    let b = Arc::clone(&barrier);
    let errors = run_threads(2, move |_| b.wait().unwrap_err());
    for err in &errors {
        assert_eq!(err.cause(), BreakCause::Reset, "{err}");
    }
    let messages: Vec<_> = errors.iter().filter_map(|e| e.panic_message()).collect();
    assert_eq!(messages, ["after the reset"]);
    assert!(!barrier.broken());
    let b = Arc::clone(&barrier);
    let mut indices = run_threads(2, move |_| b.wait().unwrap());
    indices.sort_unstable();
    assert_eq!(indices, [0, 1]);
}

#[test]
fn wait_from_the_action_breaks_the_barrier_instead_of_hanging() {
    let barrier = self_aware_barrier(2, |b| {
        let _ = b.wait();
    });
    let b = Arc::clone(&barrier);
    let errors = run_threads(2, move |_| b.wait().unwrap_err());
    assert!(errors
        .iter()
        .all(|e| e.cause() == BreakCause::ActionPanicked));
    let messages: Vec<_> = errors.iter().filter_map(|e| e.panic_message()).collect();
    assert_eq!(messages.len(), 1, "{errors:?}");
    assert!(messages[0].contains("own action"), "{}", messages[0]);
    assert!(barrier.broken());
}

type Waiting = Receiver<Result<usize, BrokenBarrier>>;

/// A two-party barrier whose first cycle is full and held inside its action until a message on
/// the `Sender` (later actions do nothing); with the waits of the first party and of the one
/// running the action.
fn cycle_in_held_action() -> (Arc<Barrier>, Waiting, Waiting, mpsc::Sender<()>) {
    let (started_tx, started) = mpsc::channel();
    let (go, go_rx) = mpsc::channel::<()>();
    let go_rx = Mutex::new(go_rx);
    let first = AtomicBool::new(true);
    let barrier = Arc::new(new_barrier(2).action(move || {
        if first.swap(false, Ordering::SeqCst) {
            started_tx.send(()).unwrap();
            go_rx.lock().unwrap().recv_timeout(LONG).unwrap();
        }
    }));
    let first = start_waiter(&barrier);
    let b = Arc::clone(&barrier);
    let tripper = spawn(move || b.wait());
    recv(&started);
    (barrier, first, tripper, go)
}

#[test]
fn arrivals_during_the_action_wait_for_it_and_join_the_next_cycle() {
    let (barrier, a, tripper, go) = cycle_in_held_action();
    // The cycle is full and its action runs: all parties count, and a thread arriving now is
    // not one of them.
    assert_eq!(barrier.n_waiting(), 2);
    let b = Arc::clone(&barrier);
    let late = spawn(move || b.wait());
    assert_pending(&late);
    assert_eq!(barrier.n_waiting(), 2);
    assert_pending(&a);
    go.send(()).unwrap();
    let mut first_cycle = [recv(&a).unwrap(), recv(&tripper).unwrap()];
    first_cycle.sort_unstable();
    assert_eq!(first_cycle, [0, 1]);
    // The late thread waits in the next cycle, as its first party.
    wait_n_waiting(&barrier, 1);
    assert_eq!(barrier.wait(), Ok(1));
    assert_eq!(recv(&late), Ok(0));
}

#[test]
fn a_reset_during_the_action_lets_a_waiting_arrival_into_the_next_cycle() {
    // A reset from another thread ends the cycle while its action runs; the thread that arrived
    // meanwhile (waiting for the action to end) goes on into the next cycle once it has.
    let (barrier, a, tripper, go) = cycle_in_held_action();
    let b = Arc::clone(&barrier);
    let late = spawn(move || b.wait());
    assert_pending(&late);
    barrier.reset();
    assert_eq!(cause(recv(&a)), BreakCause::Reset);
    go.send(()).unwrap();
    assert_eq!(cause(recv(&tripper)), BreakCause::Reset);
    wait_n_waiting(&barrier, 1);
    assert_eq!(barrier.wait(), Ok(1));
    assert_eq!(recv(&late), Ok(0));
    assert!(!barrier.broken());
}

#[test]
fn a_timeout_counts_from_the_entry_into_the_cycle() {
    // A thread arriving during the previous cycle's action waits for it to end before its
    // timeout starts (Python starts it in `_wait`, after `_enter`).
    let (barrier, a, tripper, go) = cycle_in_held_action();
    let b = Arc::clone(&barrier);
    let late = spawn(move || b.wait_timeout(SHORT * 10));
    // Not synchronization: the action outlasts the late thread's timeout.
    thread::sleep(SHORT * 15);
    go.send(()).unwrap();
    assert_eq!(recv(&a), Ok(0));
    assert_eq!(recv(&tripper), Ok(1));
    // The late thread's timeout runs from here: the cycle it joined is still open.
    wait_n_waiting(&barrier, 1);
    assert_eq!(barrier.wait(), Ok(1));
    assert_eq!(recv(&late), Ok(0));
}

#[test]
fn a_wait_timing_out_while_the_action_runs_still_passes() {
    // As in Python, where the timed-out waiter gets the lock back only after the action and then
    // sees the cycle passed: every party arrived in time.
    let barrier = Arc::new(Barrier::new(2).unwrap().action(|| {
        // Not synchronization: the action outlasts the other party's timeout.
        thread::sleep(SHORT * 3);
    }));
    let b = Arc::clone(&barrier);
    let early = spawn(move || b.wait_timeout(SHORT));
    wait_n_waiting(&barrier, 1);
    assert_eq!(barrier.wait(), Ok(1));
    assert_eq!(recv(&early), Ok(0));
    assert!(!barrier.broken());
}

#[test]
fn action_panic_message_from_formatted_panic() {
    let barrier = Barrier::new(1).unwrap().action(|| {
        let cycle = 7;
        panic!("failed in cycle {cycle}");
    });
    let err = barrier.wait().unwrap_err();
    assert_eq!(err.cause(), BreakCause::ActionPanicked);
    assert_eq!(err.panic_message(), Some("failed in cycle 7"));
    assert!(format!("{err:?}").contains("failed in cycle 7"));
}

#[test]
fn action_panic_whose_payload_panics_when_dropped_still_breaks_the_barrier() {
    struct PanicOnDrop;
    impl Drop for PanicOnDrop {
        fn drop(&mut self) {
            panic!("the payload's drop panics");
        }
    }
    let barrier = Barrier::new(1)
        .unwrap()
        .action(|| std::panic::panic_any(PanicOnDrop));
    let err = barrier.wait().unwrap_err();
    assert_eq!(err.cause(), BreakCause::ActionPanicked);
    assert_eq!(err.panic_message(), Some("Box<dyn Any>"));
    barrier.reset();
    assert_eq!(
        barrier.wait().unwrap_err().cause(),
        BreakCause::ActionPanicked
    );
}

#[test]
fn timeout_breaks_for_current_and_later_waiters() {
    let barrier = Arc::new(new_barrier(3));
    let parked = start_waiter(&barrier);
    let start = Instant::now();
    let err = barrier.wait_timeout(SHORT).unwrap_err();
    let waited = start.elapsed();
    assert_eq!(err.cause(), BreakCause::Timeout);
    assert!(err.is_timeout());
    assert!(waited + SLACK >= SHORT, "returned early: {waited:?}");
    assert!(waited < Duration::from_secs(5), "returned late: {waited:?}");
    // The other waiter is released with an error too.
    assert_eq!(cause(recv(&parked)), BreakCause::Timeout);
    assert!(barrier.broken());
    assert_eq!(barrier.n_waiting(), 0);
    // Later waiters fail at once.
    let start = Instant::now();
    assert_eq!(cause(barrier.wait()), BreakCause::Timeout);
    assert_eq!(
        cause(barrier.wait_timeout(Duration::MAX)),
        BreakCause::Timeout
    );
    assert!(start.elapsed() < Duration::from_secs(5));

    barrier.reset();
    assert!(!barrier.broken());
    let b = Arc::clone(&barrier);
    let mut indices = run_threads(3, move |_| b.wait().unwrap());
    indices.sort_unstable();
    assert_eq!(indices, [0, 1, 2]);
}

#[test]
fn timeout_one_thread_late() {
    // test_timeout: after a first pass, one thread is late; the others' wait(timeout) breaks the
    // barrier, and the late one finds it broken.
    const N: usize = 3;
    let barrier = Arc::new(new_barrier(N));
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let b = Arc::clone(&barrier);
    let late = spawn(move || {
        b.wait().unwrap();
        go_rx.recv_timeout(LONG).unwrap();
        b.wait_timeout(SHORT)
    });
    let b = Arc::clone(&barrier);
    let on_time = run_threads(N - 1, move |_| {
        b.wait().unwrap();
        let start = Instant::now();
        (b.wait_timeout(SHORT), start.elapsed())
    });
    let slowest = on_time.iter().map(|(_, waited)| *waited).max().unwrap();
    assert!(
        slowest + SLACK >= SHORT,
        "nobody waited the timeout: {slowest:?}"
    );
    for (result, waited) in on_time {
        assert_eq!(cause(result), BreakCause::Timeout);
        assert!(waited < Duration::from_secs(5), "returned late: {waited:?}");
    }
    go_tx.send(()).unwrap();
    assert_eq!(cause(recv(&late)), BreakCause::Timeout);
}

#[test]
fn default_timeout_one_thread_late() {
    // test_default_timeout: the barrier's own timeout applies to wait().
    const N: usize = 3;
    let barrier = Arc::new(Barrier::new(N).unwrap().timeout(SHORT));
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let b = Arc::clone(&barrier);
    let late = spawn(move || {
        // The first pass must not depend on thread start-up being faster than SHORT.
        b.wait_timeout(LONG).unwrap();
        go_rx.recv_timeout(LONG).unwrap();
        b.wait()
    });
    let b = Arc::clone(&barrier);
    let on_time = run_threads(N - 1, move |_| {
        b.wait_timeout(LONG).unwrap();
        let start = Instant::now();
        (b.wait(), start.elapsed())
    });
    let slowest = on_time.iter().map(|(_, waited)| *waited).max().unwrap();
    assert!(
        slowest + SLACK >= SHORT,
        "nobody waited the timeout: {slowest:?}"
    );
    for (result, waited) in on_time {
        assert_eq!(cause(result), BreakCause::Timeout);
        assert!(waited < Duration::from_secs(5), "returned late: {waited:?}");
    }
    go_tx.send(()).unwrap();
    assert_eq!(cause(recv(&late)), BreakCause::Timeout);
    assert!(barrier.broken());
}

#[test]
fn wait_timeout_zero_alone_breaks() {
    let barrier = Barrier::new(2).unwrap();
    let start = Instant::now();
    let err = barrier.wait_timeout(Duration::ZERO).unwrap_err();
    assert!(err.is_timeout());
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(barrier.broken());
    assert_eq!(barrier.n_waiting(), 0);
    barrier.reset();
    assert!(!barrier.broken());
}

/// A zero timeout by the first arrival breaks the barrier even when the other party arrives
/// a moment later: the time was up before it came (it passed, with index 0, in most rounds:
/// the wait spun before it looked at the deadline). Either this party was last (then both
/// pass) or the barrier broke for both.
#[test]
fn wait_timeout_zero_by_an_early_arrival_breaks_even_if_another_comes_at_once() {
    for _ in 0..200 {
        let barrier = Arc::new(Barrier::new(2).unwrap());
        let go = Arc::new(AtomicBool::new(false));
        let (b, g) = (Arc::clone(&barrier), Arc::clone(&go));
        let other = thread::spawn(move || {
            while !g.load(Ordering::Acquire) {
                std::hint::spin_loop();
            }
            b.wait()
        });
        go.store(true, Ordering::Release);
        let mine = barrier.wait_timeout(Duration::ZERO);
        let theirs = other.join().unwrap();
        match mine {
            Ok(1) => assert_eq!(theirs, Ok(0)),
            Err(e) => {
                assert!(e.is_timeout(), "{e:?}");
                assert!(theirs.is_err(), "{theirs:?}");
            }
            Ok(index) => panic!("passed as arrival {index} after its time was up"),
        }
    }
}

#[test]
fn wait_timeout_zero_by_last_arrival_passes() {
    let barrier = Arc::new(new_barrier(2));
    let first = start_waiter(&barrier);
    assert_eq!(barrier.wait_timeout(Duration::ZERO), Ok(1));
    assert_eq!(recv(&first), Ok(0));
    assert!(!barrier.broken());
}

#[test]
fn duration_max_waits_without_timing_out() {
    let barrier = Arc::new(Barrier::new(2).unwrap().timeout(Duration::MAX));
    let first = start_waiter(&barrier);
    assert_pending(&first);
    assert_eq!(barrier.wait_timeout(Duration::MAX), Ok(1));
    assert_eq!(recv(&first), Ok(0));

    // wait_timeout(MAX) as the first arrival too.
    let b = Arc::clone(&barrier);
    let before = barrier.n_waiting();
    let first = spawn(move || b.wait_timeout(Duration::MAX));
    wait_n_waiting(&barrier, before + 1);
    assert_pending(&first);
    assert_eq!(barrier.wait(), Ok(1));
    assert_eq!(recv(&first), Ok(0));
    assert!(!barrier.broken());
}

#[test]
fn abort_releases_waiters_and_breaks_until_reset() {
    let barrier = Arc::new(new_barrier(3));
    let a = start_waiter(&barrier);
    let b = start_waiter(&barrier);
    barrier.abort();
    assert_eq!(cause(recv(&a)), BreakCause::Aborted);
    assert_eq!(cause(recv(&b)), BreakCause::Aborted);
    assert!(barrier.broken());
    assert_eq!(barrier.n_waiting(), 0);
    let later = barrier.wait().unwrap_err();
    assert_eq!(later.cause(), BreakCause::Aborted);
    assert_eq!(later.to_string(), "barrier broken: aborted");

    barrier.reset();
    assert!(!barrier.broken());
    let b = Arc::clone(&barrier);
    let mut indices = run_threads(3, move |_| b.wait().unwrap());
    indices.sort_unstable();
    assert_eq!(indices, [0, 1, 2]);
}

#[test]
fn abort_of_broken_barrier_keeps_cause() {
    let barrier = Barrier::new(2).unwrap();
    assert!(barrier
        .wait_timeout(Duration::ZERO)
        .unwrap_err()
        .is_timeout());
    barrier.abort();
    assert_eq!(cause(barrier.wait()), BreakCause::Timeout);
}

#[test]
fn abort_by_one_thread() {
    // test_abort: the thread with index N/2 aborts instead of waiting a second time; every other
    // thread's second wait fails, and the barrier stays broken.
    const N: usize = 5;
    let barrier = Arc::new(new_barrier(N));
    let b = Arc::clone(&barrier);
    let results = run_threads(N, move |_| {
        let i = b.wait().unwrap();
        if i == N / 2 {
            b.abort();
            None
        } else {
            Some(b.wait())
        }
    });
    let errors: Vec<_> = results.into_iter().flatten().collect();
    assert_eq!(errors.len(), N - 1);
    for result in errors {
        assert_eq!(cause(result), BreakCause::Aborted);
    }
    assert!(barrier.broken());
}

#[test]
fn reset_releases_waiters_and_barrier_is_usable() {
    let barrier = Arc::new(new_barrier(3));
    let a = start_waiter(&barrier);
    let b = start_waiter(&barrier);
    barrier.reset();
    let err = recv(&a).unwrap_err();
    assert_eq!(err.cause(), BreakCause::Reset);
    assert_eq!(err.to_string(), "barrier broken: reset while waiting");
    assert_eq!(cause(recv(&b)), BreakCause::Reset);
    assert!(!barrier.broken(), "reset leaves the barrier usable");
    assert_eq!(barrier.n_waiting(), 0);
    let b = Arc::clone(&barrier);
    let mut indices = run_threads(3, move |_| b.wait().unwrap());
    indices.sort_unstable();
    assert_eq!(indices, [0, 1, 2]);
}

#[test]
fn reset_waiter_gets_reset_even_if_next_cycle_passes() {
    let barrier = Arc::new(new_barrier(2));
    let stale = start_waiter(&barrier);
    barrier.reset();
    // A new cycle completes right away; the old waiter must still learn its cycle was reset.
    let fresh = start_waiter(&barrier);
    assert_eq!(barrier.wait(), Ok(1));
    assert_eq!(recv(&fresh), Ok(0));
    assert_eq!(cause(recv(&stale)), BreakCause::Reset);
}

/// An `abort` or `reset` right after a cycle passed does not undo it: the party that has not
/// returned from `wait` yet still gets its index. (CPython's waiter that has not woken by then
/// raises `BrokenBarrierError` after an `abort`, and gets its index after a `reset`, which leaves
/// a draining barrier as it is.) Repeated, so that the call often comes before that party wakes.
#[test]
fn abort_or_reset_right_after_a_cycle_passed_leaves_it_passed() {
    for reset in [false, true] {
        for _ in 0..50 {
            let barrier = Arc::new(new_barrier(2));
            let other = start_waiter(&barrier);
            assert_eq!(barrier.wait(), Ok(1));
            if reset {
                barrier.reset();
            } else {
                barrier.abort();
            }
            assert_eq!(recv(&other), Ok(0));
            assert_eq!(barrier.broken(), !reset);
        }
    }
}

#[test]
fn reset_by_one_thread() {
    // test_reset: the thread with index N/2 waits until the others are in the barrier, resets
    // it (they get Reset), then everyone passes again.
    const N: usize = 5;
    let barrier = Arc::new(new_barrier(N));
    let b = Arc::clone(&barrier);
    let results = run_threads(N, move |_| {
        let i = b.wait().unwrap();
        let second = if i == N / 2 {
            wait_n_waiting(&b, N - 1);
            b.reset();
            None
        } else {
            Some(b.wait())
        };
        (second, b.wait())
    });
    let mut resets = 0;
    for (second, third) in results {
        if let Some(second) = second {
            assert_eq!(cause(second), BreakCause::Reset);
            resets += 1;
        }
        assert!(third.is_ok(), "{third:?}");
    }
    assert_eq!(resets, N - 1);
}

#[test]
fn abort_and_reset() {
    // test_abort_and_reset: after an abort, a second barrier lines everyone up, one thread resets
    // the first barrier, and everyone passes it again.
    const N: usize = 5;
    let barrier = Arc::new(new_barrier(N));
    let barrier2 = Arc::new(new_barrier(N));
    let (b, b2) = (Arc::clone(&barrier), Arc::clone(&barrier2));
    let results = run_threads(N, move |_| {
        let i = b.wait().unwrap();
        let second = if i == N / 2 {
            b.abort();
            None
        } else {
            Some(b.wait())
        };
        // Everyone has left the broken barrier before the reset, and nobody enters it before.
        if b2.wait().unwrap() == N / 2 {
            b.reset();
        }
        b2.wait().unwrap();
        (second, b.wait())
    });
    let mut broken = 0;
    for (second, third) in results {
        if let Some(second) = second {
            assert_eq!(cause(second), BreakCause::Aborted);
            broken += 1;
        }
        assert!(third.is_ok(), "{third:?}");
    }
    assert_eq!(broken, N - 1);
    assert!(!barrier.broken());
}

#[test]
fn debug_shows_state() {
    let barrier = Barrier::new(2).unwrap();
    let text = format!("{barrier:?}");
    assert!(text.contains("parties: 2"), "{text}");
    assert!(text.contains("n_waiting: 0"), "{text}");
}
