//! Behaviour tests for the registry of live threads and Python's exit rule:
//! [`weft_thread::active_count`], [`weft_thread::enumerate`], [`weft_thread::current_thread`],
//! [`weft_thread::main_thread`], [`weft_thread::ThreadInfo`] (also for threads weft did not
//! start), [`weft_thread::wait_non_daemon`], [`weft_thread::main`] and
//! [`weft_thread::is_exiting`].
//!
//! Re-expresses CPython's `Lib/test/test_threading.py`: `ThreadTests.test_enumerate_after_join`,
//! `test_limbo_cleanup` (a thread the OS refuses leaves nothing behind), `test_main_thread`, `test_foreign_thread` and `test_ident_of_no_threading_threads` (a thread
//! started outside `threading` gets a `_DummyThread` with an ident), `test_shutdown_locks` (only
//! non-daemon threads are waited for at exit), `test_join_nondaemon_on_shutdown` and
//! `ThreadJoinOnShutdown.test_1_join_on_shutdown` (the program waits for its non-daemon threads,
//! also when the main body fails), in process: the real-process versions are in `tests/exit.rs`.
//!
//! The registry is process-wide and the tests of this file share one process, so they run one at
//! a time (`serial()`): with no other test's thread alive, counts can be exact. Every thread a
//! test starts ends before the test returns. No test sleeps to synchronize: threads are held on
//! a `weft_sync::Event`, report over channels, and every wait gives up after `LONG`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use weft_thread::{
    active_count, current_thread, enumerate, main_thread, wait_non_daemon, StartError, Thread,
    ThreadHandle,
};

mod common;
use common::*;

/// Runs this file's tests one at a time.
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Starts a thread held on `gate` until the test sets it.
fn held(gate: &Arc<weft_sync::Event>, name: &str, daemon: bool) -> ThreadHandle<()> {
    let g = Arc::clone(gate);
    Thread::new(move || g.wait())
        .name(name)
        .daemon(daemon)
        .start()
        .unwrap()
}

fn live_idents() -> Vec<u64> {
    enumerate().iter().map(|t| t.ident()).collect()
}

#[test]
fn active_count_follows_the_live_threads() {
    let _serial = serial();
    let before = active_count();
    assert!(before >= 1, "the main thread is always counted");
    let go = gate();
    let handles = vec![
        held(&go, "count-a", false),
        held(&go, "count-b", true), // daemon threads are alive too
        held(&go, "count-c", false),
    ];
    assert_eq!(active_count(), before + 3);
    let live = live_idents();
    for h in &handles {
        assert!(
            live.contains(&h.ident()),
            "{} missing from enumerate()",
            h.name()
        );
    }
    go.set();
    for h in handles {
        value(h);
    }
    assert_eq!(active_count(), before);
}

#[test]
fn enumerate_lists_main_first_then_live_threads_in_start_order() {
    let _serial = serial();
    let go = gate();
    let first = held(&go, "enum-first", false);
    let second = held(&go, "enum-second", true);
    let all = enumerate();
    assert_eq!(all[0].name(), "MainThread");
    assert_eq!(all[0], main_thread());
    assert_eq!(all.len(), active_count());
    let position = |ident: u64| all.iter().position(|t| t.ident() == ident).unwrap();
    assert!(position(first.ident()) < position(second.ident()));
    let info = &all[position(second.ident())];
    assert_eq!(info.name(), "enum-second");
    assert!(info.is_daemon());
    go.set();
    value(first);
    value(second);
}

#[test]
fn enumerate_excludes_joined_threads() {
    // test_enumerate_after_join: try hard to see a joined thread still listed.
    let _serial = serial();
    for _ in 0..100 {
        let handle = weft_thread::spawn(|| ()).unwrap();
        let ident = handle.ident();
        value(handle);
        assert!(
            !live_idents().contains(&ident),
            "a joined thread is still listed"
        );
    }
}

#[test]
fn enumerate_excludes_a_thread_that_ended_without_being_joined() {
    let _serial = serial();
    let handle = weft_thread::spawn(|| ()).unwrap();
    let ident = handle.ident();
    wait_until("the thread has ended", || !handle.is_alive());
    assert!(!live_idents().contains(&ident));
    value(handle);
}

#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
#[test]
fn a_thread_the_os_refuses_leaves_nothing_behind() {
    // test_limbo_cleanup: a 1 PiB stack cannot be mapped, so the OS refuses the thread; the
    // failed start must not leave a live (and, being non-daemon, waited-for) thread behind.
    let _serial = serial();
    let before = active_count();
    let (tx, rx) = mpsc::channel::<()>();
    let err = Thread::new(move || tx.send(()).unwrap())
        .name("never-started")
        .daemon(false)
        .stack_size(1 << 50)
        .start()
        .unwrap_err();
    assert!(matches!(err, StartError::Spawn(_)), "{err:?}");
    assert!(
        err.to_string().starts_with("can't start new thread"),
        "{err}"
    );
    // The message shows the OS error, so the chain goes on below it (nothing, for an OS
    // error), as `io::Error`'s does.
    assert!(std::error::Error::source(&err).is_none());
    assert_eq!(
        rx.try_recv(),
        Err(mpsc::TryRecvError::Disconnected),
        "the body never ran"
    );
    assert_eq!(active_count(), before);
    assert!(enumerate().iter().all(|t| t.name() != "never-started"));
    within(wait_non_daemon); // not waiting for a thread that does not exist
}

/// A body whose captures panic when dropped, dropped by the failed start (std drops the closure
/// it could not run): the panic reaches the caller of `start`, as std's `Builder::spawn` lets
/// it, and the failed start still leaves no live or waited-for thread behind.
#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
#[test]
fn a_refused_thread_whose_body_panics_when_dropped_leaves_nothing_behind() {
    struct PanicsOnDrop;
    impl Drop for PanicsOnDrop {
        fn drop(&mut self) {
            panic!("the body's capture panics when dropped");
        }
    }
    let _serial = serial();
    let before = active_count();
    let capture = PanicsOnDrop;
    let start = Thread::new(move || drop(capture))
        .name("never-started-2")
        .daemon(false)
        .stack_size(1 << 50);
    let panicked = catch_unwind(AssertUnwindSafe(|| start.start())).unwrap_err();
    assert_eq!(
        weft_sync::panic_message(panicked.as_ref()),
        "the body's capture panics when dropped"
    );
    assert_eq!(active_count(), before);
    assert!(enumerate().iter().all(|t| t.name() != "never-started-2"));
    within(wait_non_daemon); // not waiting for a thread that does not exist
}

#[test]
fn current_thread_inside_matches_the_handle() {
    let _serial = serial();
    let handle = Thread::new(current_thread)
        .name("introspective")
        .daemon(true)
        .start()
        .unwrap();
    let expected = (handle.name().to_owned(), handle.ident(), handle.is_daemon());
    wait_until("the thread has ended", || !handle.is_alive());
    let native = handle.native_id();
    let info = handle.info();
    let inside = value(handle);
    assert_eq!(
        (inside.name().to_owned(), inside.ident(), inside.is_daemon()),
        expected
    );
    assert_eq!(inside.native_id(), native);
    assert_eq!(inside, info);
    assert!(format!("{inside:?}").contains("introspective"));
}

#[test]
fn main_thread_is_main_thread() {
    // test_main_thread
    let _serial = serial();
    let main = main_thread();
    assert_eq!(main.name(), "MainThread");
    assert!(!main.is_daemon());
    assert_ne!(main.ident(), 0);
    assert_eq!(main_thread(), main, "always the same record");
    #[cfg(target_os = "linux")]
    assert_eq!(main.native_id(), Some(u64::from(std::process::id())));
    let handle = weft_thread::spawn(|| (main_thread(), current_thread())).unwrap();
    let (main_inside, me) = value(handle);
    assert_eq!(main_inside, main);
    assert_ne!(me.ident(), main.ident());
}

#[test]
fn a_foreign_named_thread_gets_a_record_with_its_std_name() {
    // test_foreign_thread / test_ident_of_no_threading_threads
    let _serial = serial();
    let before = active_count();
    let (tx, rx) = mpsc::channel();
    let go = gate();
    let g = Arc::clone(&go);
    let foreign = std::thread::Builder::new()
        .name("foreign-7".to_owned())
        .spawn(move || {
            let first = current_thread();
            let again = current_thread();
            #[cfg(target_os = "linux")]
            assert_eq!(first.native_id(), Some(kernel_tid()));
            tx.send((first, again)).unwrap();
            g.wait();
        })
        .unwrap();
    let (first, again) = recv(&rx);
    assert_eq!(first.name(), "foreign-7");
    assert_ne!(first.ident(), 0);
    assert_ne!(first.ident(), main_thread().ident());
    assert_eq!(again, first, "the same record on every call");
    assert!(first.is_daemon(), "like Python's _DummyThread");
    // Not counted, not listed, while it is alive.
    assert_eq!(active_count(), before);
    assert!(!live_idents().contains(&first.ident()));
    go.set();
    foreign.join().unwrap();
}

#[test]
fn an_unnamed_foreign_thread_is_dummy_n() {
    let _serial = serial();
    let info = within(current_thread);
    assert_eq!(info.name(), format!("Dummy-{}", info.ident()));
    assert_ne!(info.ident(), 0);
    let other = within(current_thread);
    assert_ne!(
        other.ident(),
        info.ident(),
        "each foreign thread gets its own ident"
    );
}

#[test]
fn wait_non_daemon_returns_once_non_daemon_threads_finished() {
    // test_join_nondaemon_on_shutdown, in process.
    let _serial = serial();
    let go = gate();
    let finished = Arc::new(AtomicBool::new(false));
    let f = Arc::clone(&finished);
    let g = Arc::clone(&go);
    let worker = Thread::new(move || {
        g.wait();
        f.store(true, Ordering::SeqCst);
    })
    .daemon(false)
    .start()
    .unwrap();
    let f = Arc::clone(&finished);
    let waiter = spawn(move || {
        wait_non_daemon();
        f.load(Ordering::SeqCst)
    });
    assert_pending(&waiter);
    // Released by a third thread.
    let g = Arc::clone(&go);
    let releaser = spawn(move || g.set());
    recv(&releaser);
    assert!(
        recv(&waiter),
        "wait_non_daemon returned before the thread finished"
    );
    value(worker);
}

#[test]
fn wait_non_daemon_returns_once_the_threads_are_no_longer_alive() {
    // Python's shutdown joins the threads: once it returns, none of them `is_alive()`.
    let _serial = serial();
    for round in 0..200 {
        let handle = Thread::new(|| ()).daemon(false).start().unwrap();
        let handle = within(move || {
            wait_non_daemon();
            let alive = handle.is_alive();
            (handle, alive)
        });
        assert!(
            !handle.1,
            "round {round}: is_alive() after wait_non_daemon() returned"
        );
        value(handle.0);
    }
}

#[test]
fn wait_non_daemon_does_not_wait_for_daemon_threads() {
    // test_shutdown_locks: only non-daemon threads are waited for.
    let _serial = serial();
    let daemon_gate = gate();
    let worker_gate = gate();
    let daemon = held(&daemon_gate, "blocked-daemon", true);
    let worker = held(&worker_gate, "short-worker", false);
    let waiter = spawn(wait_non_daemon);
    assert_pending(&waiter);
    worker_gate.set();
    recv(&waiter);
    assert!(daemon.is_alive(), "the daemon thread is still blocked");
    value(worker);
    daemon_gate.set();
    value(daemon);
}

#[test]
fn wait_non_daemon_waits_for_threads_started_meanwhile() {
    let _serial = serial();
    let first_gate = gate();
    let second_gate = gate();
    let (g1, g2) = (Arc::clone(&first_gate), Arc::clone(&second_gate));
    let first = Thread::new(move || {
        g1.wait();
        // Started before this thread ends, so the count of non-daemon threads never drops to 0.
        held(&g2, "started-meanwhile", false)
    })
    .daemon(false)
    .start()
    .unwrap();
    let waiter = spawn(wait_non_daemon);
    assert_pending(&waiter);
    first_gate.set();
    let second = value(first);
    assert!(
        !second.is_daemon(),
        "a non-daemon thread starts non-daemon threads"
    );
    assert_pending(&waiter);
    second_gate.set();
    recv(&waiter);
    value(second);
}

#[test]
fn wait_non_daemon_from_a_non_daemon_thread_waits_for_the_others_only() {
    let _serial = serial();
    let go = gate();
    let other = held(&go, "the-other", false);
    let (tx, rx) = mpsc::channel();
    let waiting = Thread::new(move || {
        wait_non_daemon();
        tx.send(()).unwrap();
    })
    .daemon(false)
    .start()
    .unwrap();
    assert_pending(&rx);
    go.set();
    recv(&rx); // it did not wait for itself
    value(other);
    value(waiting);
}

#[test]
fn non_daemon_threads_blocked_in_wait_non_daemon_leave_it_together() {
    // Two non-daemon threads that both wait for the others, then meet: once each is waiting for
    // the other only, both return (the first to leave must not make the second wait until it has
    // finished, which would keep them from meeting).
    let _serial = serial();
    let go = gate();
    let meet = Arc::new(weft_sync::Barrier::new(2).unwrap().timeout(LONG));
    let start = |name: &str| {
        let (go, meet) = (Arc::clone(&go), Arc::clone(&meet));
        Thread::new(move || {
            go.wait(); // both are started (counted) before either waits
            wait_non_daemon();
            meet.wait().is_ok()
        })
        .name(name)
        .daemon(false)
        .start()
        .unwrap()
    };
    let (a, b) = (start("waiter-a"), start("waiter-b"));
    go.set();
    assert!(value(a), "waiter-a did not meet waiter-b");
    assert!(value(b), "waiter-b did not meet waiter-a");
}

#[test]
fn wait_non_daemon_from_outside_waits_for_a_thread_that_waited_itself() {
    // A non-daemon thread that calls wait_non_daemon() and then goes on working is still a
    // non-daemon thread: the program (here a thread weft did not start, like `main`'s) waits
    // until it has finished, not merely until it has stopped waiting. The outside waiter calls
    // wait_non_daemon() the moment the last other thread finished, while the inner waiter is
    // still being woken up: the window in which both are satisfied by the same registry state.
    let _serial = serial();
    for round in 0..3 {
        let other_gate = gate();
        let work_gate = gate();
        let other = Arc::new(held(&other_gate, "waited-for", false));
        let (waited_tx, waited_rx) = mpsc::channel();
        let w = Arc::clone(&work_gate);
        let waiting = Thread::new(move || {
            wait_non_daemon();
            waited_tx.send(()).unwrap();
            w.wait(); // still working after its own wait
        })
        .daemon(false)
        .start()
        .unwrap();
        assert_pending(&waited_rx); // `waiting` is blocked in wait_non_daemon(): `other` runs

        let o = Arc::clone(&other);
        let outside = spawn(move || {
            while o.is_alive() {
                std::hint::spin_loop();
            }
            drop(o);
            wait_non_daemon();
        });
        other_gate.set();
        recv(&waited_rx); // `waiting` is past its wait and still running
                          // An outside waiter that got through did so before `waiting` left its wait, so before the
                          // message above; give it a moment to report.
        let returned_early = outside.recv_timeout(SLACK).is_ok();
        work_gate.set();
        if !returned_early {
            recv(&outside);
        }
        value(waiting);
        wait_until("the outside waiter let go of `other`", || {
            Arc::strong_count(&other) == 1
        });
        value(Arc::into_inner(other).unwrap());
        assert!(
            !returned_early,
            "round {round}: wait_non_daemon() returned while a non-daemon thread was still running"
        );
    }
}

#[test]
fn main_returns_the_body_value_after_non_daemon_threads_finished() {
    // ThreadJoinOnShutdown.test_1_join_on_shutdown, in process.
    let _serial = serial();
    let go = gate();
    let g = Arc::clone(&go);
    let finished = Arc::new(AtomicBool::new(false));
    let f = Arc::clone(&finished);
    let (body_tx, body_rx) = mpsc::channel();
    let program = spawn(move || {
        let value = weft_thread::main(|| {
            Thread::new(move || {
                g.wait();
                f.store(true, Ordering::SeqCst);
            })
            .daemon(false)
            .start()
            .unwrap(); // detached: main must wait for it anyway
            body_tx.send(()).unwrap();
            7
        });
        (value, Instant::now())
    });
    recv(&body_rx); // the body has returned...
    assert_pending(&program); // ...but main has not
    go.set();
    let (value, _) = recv(&program);
    assert_eq!(value, 7);
    assert!(finished.load(Ordering::SeqCst));
}

#[test]
fn main_with_nothing_to_wait_for_returns_the_body_value() {
    let _serial = serial();
    assert_eq!(within(|| weft_thread::main(|| "quick")), "quick");
}

#[test]
fn main_re_raises_the_body_panic_after_waiting() {
    // The process still waits for non-daemon threads after the main body failed.
    let _serial = serial();
    let go = gate();
    let g = Arc::clone(&go);
    let finished = Arc::new(AtomicBool::new(false));
    let f = Arc::clone(&finished);
    let (body_tx, body_rx) = mpsc::channel();
    let program = spawn(move || {
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            weft_thread::main(|| -> u32 {
                Thread::new(move || {
                    g.wait();
                    f.store(true, Ordering::SeqCst);
                })
                .daemon(false)
                .start()
                .unwrap();
                body_tx.send(()).unwrap();
                panic!("main body failed");
            })
        }));
        outcome.map_err(|payload| {
            payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .unwrap_or_default()
        })
    });
    recv(&body_rx);
    assert_pending(&program);
    go.set();
    assert_eq!(recv(&program), Err("main body failed".to_owned()));
    assert!(finished.load(Ordering::SeqCst));
}

#[test]
fn is_exiting_from_the_bodys_end_until_main_returns() {
    // Python's `not main_thread().is_alive()`: false in the body, true while the exit runs its
    // `before_exit` functions and waits for the threads, false again once `main` has returned,
    // also after a body that panicked. A `main` that a thread runs meanwhile (a concurrent one)
    // does not end the first one's exit.
    let _serial = serial();
    assert!(!weft_thread::is_exiting());
    let go = gate();
    let g = Arc::clone(&go);
    let (seen_tx, seen_rx) = mpsc::channel();
    let program = spawn(move || {
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            weft_thread::main(|| {
                let in_body = weft_thread::is_exiting();
                weft_thread::before_exit({
                    let seen_tx = seen_tx.clone();
                    move || {
                        seen_tx
                            .send(("before_exit", weft_thread::is_exiting()))
                            .unwrap()
                    }
                });
                Thread::new(move || {
                    g.wait();
                    seen_tx
                        .send(("waited for", weft_thread::is_exiting()))
                        .unwrap();
                    weft_thread::main(|| ());
                    seen_tx
                        .send(("after a main of its own", weft_thread::is_exiting()))
                        .unwrap();
                })
                .daemon(false)
                .start()
                .unwrap();
                assert!(!in_body, "is_exiting in the body");
                panic!("the body fails");
            })
        }));
        (outcome.is_err(), weft_thread::is_exiting())
    });
    assert_eq!(recv(&seen_rx), ("before_exit", true));
    assert_pending(&program);
    go.set();
    assert_eq!(recv(&seen_rx), ("waited for", true));
    assert_eq!(recv(&seen_rx), ("after a main of its own", true));
    assert_eq!(recv(&program), (true, false));
    assert!(!weft_thread::is_exiting());
}
