//! Behaviour tests for [`weft_thread::Thread`], [`weft_thread::spawn`],
//! [`weft_thread::ThreadHandle`] and [`weft_thread::Runnable`]: starting and joining with a
//! value, names (`Thread-N` by default, `Thread-N (f)` for a named function, custom, also the OS thread's name, NUL refused), stack
//! size, the daemon flag and its inheritance, panics handed to `join`, `join_timeout` (short, 1 ns,
//! zero, `Duration::MAX`, retried on the handle it gives back), joining the current thread,
//! `ident` and `native_id`, the subclass style, and detaching by dropping the handle.
//!
//! Re-expresses CPython's `Lib/test/test_threading.py` `ThreadTests`: `test_name`,
//! `test_various_ops` (and its `_small_stack` / `_large_stack` variants), `test_daemon_param`,
//! `test_limbo_cleanup` (a refused start leaves nothing behind), `test_tstate_lock` (`is_alive`
//! while running and after), `test_no_refcycle_through_target`, `test_leak_without_join`, and
//! `ThreadingExceptionTests.test_joining_current_thread`. Timers, stop/pause, the registry and
//! the excepthook have their own files; exit semantics are tested on real processes in
//! `tests/exit.rs`.
//!
//! No test sleeps to synchronize: threads are held on a `weft_sync::Event` the test sets, report
//! over channels, and every wait gives up after `LONG`.

use std::cell::RefCell;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use weft_thread::{
    current_thread, JoinError, JoinTimeoutError, Runnable, StartError, Thread, ThreadHandle,
};

mod common;
use common::*;

/// The handle a `join_timeout` that timed out gives back; any other result fails the test.
fn timed_out<T: std::fmt::Debug>(
    result: Result<T, JoinTimeoutError<T>>,
) -> weft_thread::ThreadHandle<T> {
    match result {
        Err(JoinTimeoutError::Timeout(handle)) => handle,
        other => panic!("expected Timeout, got {other:?}"),
    }
}

#[test]
fn start_and_join_return_the_value() {
    let handle = Thread::new(|| 6 * 7).start().unwrap();
    assert_eq!(handle.join().unwrap(), 42);

    let owned = Thread::new(|| vec![String::from("a"), String::from("b")])
        .start()
        .unwrap();
    assert_eq!(value(owned), ["a", "b"]);
}

#[test]
fn spawn_is_the_short_form() {
    let handle = weft_thread::spawn(|| "spawned").unwrap();
    assert!(handle.name().starts_with("Thread-"), "{}", handle.name());
    assert_eq!(handle.join().unwrap(), "spawned");
}

#[test]
fn many_threads_each_return_their_own_value() {
    // test_various_ops: a bunch of threads, all joined, each with its own ident and native id.
    let handles: Vec<_> = (0..10u64)
        .map(|i| {
            Thread::new(move || (i * i, current_thread().native_id()))
                .name(format!("various-{i}"))
                .start()
                .unwrap()
        })
        .collect();
    let idents: HashSet<u64> = handles.iter().map(ThreadHandle::ident).collect();
    assert_eq!(idents.len(), 10);
    assert!(!idents.contains(&0));
    let mut native_ids = HashSet::new();
    for (i, handle) in (0..10u64).zip(handles) {
        let (square, native_id) = value(handle);
        assert_eq!(square, i * i);
        if cfg!(target_os = "linux") {
            native_ids.insert(native_id.expect("native_id inside a weft thread on Linux"));
        }
    }
    if cfg!(target_os = "linux") {
        // The kernel hands out thread ids in sequence and reuses one only after wrapping around.
        assert_eq!(native_ids.len(), 10);
    }
}

#[test]
fn default_names_follow_the_thread_n_pattern() {
    // test_name: Thread-N, with N counting up.
    let first = weft_thread::spawn(|| std::thread::current().name().map(str::to_owned)).unwrap();
    let second = Thread::new(|| ()).start().unwrap();
    let number = |name: &str| -> u64 {
        name.strip_prefix("Thread-")
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{name:?} is not Thread-N"))
    };
    let (n1, n2) = (number(first.name()), number(second.name()));
    assert!(n1 >= 1);
    assert!(n2 > n1, "{n2} after {n1}");
    let first_name = first.name().to_owned();
    // The OS thread carries the same name.
    assert_eq!(value(first).as_deref(), Some(first_name.as_str()));
    value(second);
}

fn answer() -> u32 {
    42
}

fn stoppable_answer(_stop: weft_thread::StopToken) -> u32 {
    42
}

#[test]
fn a_named_function_is_in_the_default_name() {
    // Python 3.10+: `Thread(target=answer).name == "Thread-N (answer)"`; a lambda or a subclass
    // without a target has none here (a Rust closure has no name).
    let named = Thread::new(answer).start().unwrap();
    let stoppable = Thread::new_stoppable(stoppable_answer).start().unwrap();
    let spawned = weft_thread::spawn(answer).unwrap();
    let closure = Thread::new(|| 42).start().unwrap();
    let default_name = |name: &str| -> (u64, Option<String>) {
        let rest = name
            .strip_prefix("Thread-")
            .unwrap_or_else(|| panic!("{name:?}"));
        match rest.split_once(' ') {
            Some((n, target)) => {
                let target = target.strip_prefix('(').and_then(|t| t.strip_suffix(')'));
                (
                    n.parse().unwrap(),
                    Some(target.unwrap_or_else(|| panic!("{name:?}")).into()),
                )
            }
            None => (rest.parse().unwrap(), None),
        }
    };
    let (n1, target1) = default_name(named.name());
    let (n2, target2) = default_name(stoppable.name());
    let (n3, target3) = default_name(spawned.name());
    let (n4, target4) = default_name(closure.name());
    assert_eq!(target1.as_deref(), Some("answer"));
    assert_eq!(target2.as_deref(), Some("stoppable_answer"));
    assert_eq!(target3.as_deref(), Some("answer"));
    assert_eq!(target4, None);
    // One counter for every default name, as Python's.
    assert!(n1 < n2 && n2 < n3 && n3 < n4, "{n1} {n2} {n3} {n4}");
    for handle in [named, stoppable, spawned, closure] {
        assert_eq!(value(handle), 42);
    }
}

#[test]
fn custom_name_is_the_handle_weft_and_os_name() {
    let handle = Thread::new(|| {
        (
            std::thread::current().name().map(str::to_owned),
            current_thread().name().to_owned(),
        )
    })
    .name("weft-worker-7")
    .start()
    .unwrap();
    assert_eq!(handle.name(), "weft-worker-7");
    assert_eq!(handle.info().name(), "weft-worker-7");
    let (os_name, weft_name) = value(handle);
    assert_eq!(os_name.as_deref(), Some("weft-worker-7"));
    assert_eq!(weft_name, "weft-worker-7");
}

#[test]
fn name_with_nul_is_refused_and_given_back() {
    // test_limbo_cleanup: a start that fails leaves no thread behind and runs nothing.
    let (tx, rx) = mpsc::channel::<()>();
    let err = Thread::new(move || tx.send(()).unwrap())
        .name("bad\0name")
        .start()
        .unwrap_err();
    match &err {
        StartError::InvalidName(name) => assert_eq!(name, "bad\0name"),
        other => panic!("expected InvalidName, got {other:?}"),
    }
    assert!(err.to_string().contains("NUL"), "{err}");
    // The body was dropped without running.
    assert_eq!(rx.try_recv(), Err(mpsc::TryRecvError::Disconnected));
    assert!(weft_thread::enumerate()
        .iter()
        .all(|t| t.name() != "bad\0name"));
}

#[test]
fn stack_size_small_and_large() {
    // test_various_ops_small_stack / _large_stack: a thread with a given stack size runs.
    let small = Thread::new(|| 1).stack_size(256 * 1024).start().unwrap();
    assert_eq!(value(small), 1);

    // 3 MiB of locals overflow a default (2 MiB) Rust thread stack, which would abort the whole
    // test process; with a 32 MiB stack they fit.
    let large = Thread::new(|| {
        let buf = std::hint::black_box([1u8; 3 << 20]);
        buf.iter().map(|&b| u64::from(b)).sum::<u64>()
    })
    .stack_size(32 << 20)
    .start()
    .unwrap();
    assert_eq!(value(large), 3 << 20);
}

#[test]
fn a_spawn_error_shows_its_cause_once_in_the_chain() {
    // The message shows the OS error's text, so `source()` goes on below it (as for
    // `std::io::Error`): a chain printer would otherwise print that text twice.
    let e = StartError::Spawn(std::io::Error::other("no threads left"));
    assert_eq!(e.to_string(), "can't start new thread: no threads left");
    assert!(std::error::Error::source(&e).is_none());
}

#[test]
fn stack_sizes_below_the_minimum_are_refused_and_zero_is_the_default() {
    // Python's threading.stack_size: 0 is the platform default, below 32 KiB a ValueError.
    let min = Thread::<()>::MIN_STACK_SIZE;
    for bytes in [1, 4096, min - 1] {
        match Thread::new(|| ()).stack_size(bytes).start() {
            Err(StartError::StackSize(given)) => assert_eq!(given, bytes),
            other => panic!("{bytes} bytes: {other:?}"),
        }
    }
    let err = Thread::new(|| ()).stack_size(1).start().unwrap_err();
    assert_eq!(
        err.to_string(),
        "a thread stack of 1 bytes is below the minimum of 32 KiB"
    );
    for bytes in [0, min] {
        let handle = Thread::new(|| 2).stack_size(bytes).start().unwrap();
        assert_eq!(value(handle), 2, "{bytes} bytes");
    }
}

#[test]
fn daemon_flag_is_what_was_asked() {
    // test_daemon_param
    for daemon in [true, false] {
        let handle = Thread::new(|| current_thread().is_daemon())
            .daemon(daemon)
            .start()
            .unwrap();
        assert_eq!(handle.is_daemon(), daemon);
        assert_eq!(handle.info().is_daemon(), daemon);
        assert_eq!(value(handle), daemon, "current_thread().is_daemon() inside");
    }
}

/// From inside a weft thread with the given daemon flag, starts a thread with the default flag
/// and returns (the child's `is_daemon()`, what the child saw as `current_thread().is_daemon()`).
fn child_daemon_flag(parent_daemon: bool, spawn_child: fn() -> ThreadHandle<bool>) -> (bool, bool) {
    let parent = Thread::new(move || {
        let child = spawn_child();
        let flag = child.is_daemon();
        (flag, value(child))
    })
    .daemon(parent_daemon)
    .start()
    .unwrap();
    value(parent)
}

#[test]
fn daemon_thread_starts_daemon_threads_by_default() {
    let via_builder = || {
        Thread::new(|| current_thread().is_daemon())
            .start()
            .unwrap()
    };
    let via_spawn = || weft_thread::spawn(|| current_thread().is_daemon()).unwrap();
    assert_eq!(child_daemon_flag(true, via_builder), (true, true));
    assert_eq!(child_daemon_flag(true, via_spawn), (true, true));
}

#[test]
fn non_daemon_thread_starts_non_daemon_threads_by_default() {
    let via_builder = || {
        Thread::new(|| current_thread().is_daemon())
            .start()
            .unwrap()
    };
    let via_spawn = || weft_thread::spawn(|| current_thread().is_daemon()).unwrap();
    assert_eq!(child_daemon_flag(false, via_builder), (false, false));
    assert_eq!(child_daemon_flag(false, via_spawn), (false, false));
}

#[test]
fn explicit_daemon_flag_overrides_inheritance() {
    let not_daemon = || {
        Thread::new(|| current_thread().is_daemon())
            .daemon(false)
            .start()
            .unwrap()
    };
    let daemon = || {
        Thread::new(|| current_thread().is_daemon())
            .daemon(true)
            .start()
            .unwrap()
    };
    assert_eq!(child_daemon_flag(true, not_daemon), (false, false));
    assert_eq!(child_daemon_flag(false, daemon), (true, true));
}

#[test]
fn default_daemon_flag_from_a_foreign_thread_does_not_depend_on_current_thread() {
    // A thread weft did not start (here a std thread) starts a weft thread with the default flag,
    // then asks `current_thread()` (which only *reads* what weft knows of it), then starts
    // another. Both must get the same default.
    let (before, after) = within(|| {
        let first = weft_thread::spawn(|| ()).unwrap();
        let before = first.is_daemon();
        value(first);
        let _ = current_thread();
        let second = weft_thread::spawn(|| ()).unwrap();
        let after = second.is_daemon();
        value(second);
        (before, after)
    });
    assert_eq!(
        before, after,
        "calling current_thread() changed the default daemon flag of threads started afterwards"
    );
}

#[test]
fn panic_reaches_join_with_message_name_and_location() {
    let line = line!() + 2;
    let handle = Thread::new(|| -> u32 {
        panic!("boom {}", 7);
    })
    .name("panicker")
    .start()
    .unwrap();
    let ident = handle.ident();
    let panicked = match handle.join() {
        Err(JoinError::Panicked(p)) => p,
        other => panic!("expected Panicked, got {other:?}"),
    };
    assert_eq!(panicked.message(), "boom 7");
    assert_eq!(panicked.thread_name(), "panicker");
    assert_eq!(panicked.ident(), ident);
    let location = panicked.location().expect("location of the panic");
    assert!(location.contains(".rs:"), "{location}");
    assert!(
        location.contains(&format!("thread.rs:{line}:")),
        "{location} is not line {line}"
    );
    assert_eq!(
        panicked.to_string(),
        format!("thread 'panicker' panicked at {location}: boom 7")
    );
}

#[test]
fn backtrace_is_captured_when_std_would_capture_one() {
    // RUST_BACKTRACE decides, as for std's own panic messages (not RUST_LIB_BACKTRACE, which
    // `Backtrace::capture` reads first; tests/exit.rs sets each in a child).
    let std_captures = std::env::var_os("RUST_BACKTRACE").is_some_and(|v| v != "0");
    let handle = weft_thread::spawn::<()>(|| panic!("with a backtrace?")).unwrap();
    let panicked = finish(handle).unwrap_err();
    assert_eq!(panicked.backtrace().is_some(), std_captures);
    if let Some(backtrace) = panicked.backtrace() {
        assert!(
            backtrace.contains("backtrace_is_captured_when_std_would_capture_one"),
            "{backtrace}"
        );
    }
}

#[test]
fn panic_with_a_non_string_payload() {
    let handle = weft_thread::spawn(|| std::panic::panic_any(42u8)).unwrap();
    let panicked = finish(handle).unwrap_err();
    assert_eq!(panicked.message(), "Box<dyn Any>");
}

#[test]
fn panic_through_join_timeout_and_into_panicked() {
    let handle = weft_thread::spawn::<()>(|| panic!("timed")).unwrap();
    match handle.join_timeout(LONG) {
        Err(JoinTimeoutError::Panicked(p)) => assert_eq!(p.message(), "timed"),
        other => panic!("expected Panicked, got {other:?}"),
    }
    let handle = weft_thread::spawn::<()>(|| panic!("plain")).unwrap();
    let err = handle.join().unwrap_err();
    assert!(err.to_string().ends_with(": plain"), "{err}");
    assert_eq!(err.into_panicked().unwrap().message(), "plain");
}

#[test]
fn join_timeout_times_out_while_running_then_returns_the_value() {
    // test_tstate_lock: alive while blocked, not alive once it ended; join(timeout) retried.
    let go = gate();
    let g = Arc::clone(&go);
    let handle = Thread::new(move || {
        g.wait();
        "released"
    })
    .start()
    .unwrap();
    assert!(handle.is_alive());

    let start = Instant::now();
    let handle = timed_out(handle.join_timeout(SHORT));
    let waited = start.elapsed();
    assert!(waited + SLACK >= SHORT, "returned early: {waited:?}");
    assert!(waited < PROMPT, "returned late: {waited:?}");
    assert!(handle.is_alive());

    // The error's helpers give the handle back too.
    let err = handle.join_timeout(Duration::ZERO).unwrap_err();
    assert!(err.is_timeout());
    assert!(err.to_string().contains("still running"), "{err}");
    let handle = err.into_handle().unwrap();

    go.set();
    wait_until("the released thread has ended", || !handle.is_alive());
    // A zero timeout on an ended thread gives the value at once.
    assert_eq!(handle.join_timeout(Duration::ZERO).unwrap(), "released");
}

#[test]
fn join_timeout_on_a_finished_thread_returns_the_value() {
    let handle = weft_thread::spawn(|| 5).unwrap();
    wait_until("the thread has finished", || !handle.is_alive());
    // Finished: even a zero timeout gets the value.
    assert_eq!(handle.join_timeout(Duration::ZERO).unwrap(), 5);
}

#[test]
fn join_timeout_does_not_wait_for_the_thread_locals_destructors() {
    // The body's value is published before the OS thread runs its thread-locals' destructors;
    // `join_timeout` returns it without waiting for them (one here waits on a gate the test
    // opens only afterwards, so waiting for it would break the timeout's promise).
    struct Held(Arc<weft_sync::Event>, Arc<AtomicBool>);
    impl Drop for Held {
        fn drop(&mut self) {
            self.0.wait_timeout(LONG);
            self.1.store(true, Ordering::SeqCst);
        }
    }
    thread_local! {
        static HELD: RefCell<Option<Held>> = const { RefCell::new(None) };
    }
    let go = gate();
    let dropped = Arc::new(AtomicBool::new(false));
    let (g, d) = (Arc::clone(&go), Arc::clone(&dropped));
    let handle = weft_thread::spawn(move || {
        HELD.with(|held| *held.borrow_mut() = Some(Held(g, d)));
        7
    })
    .unwrap();
    assert_eq!(handle.join_timeout(LONG).unwrap(), 7);
    assert!(
        !dropped.load(Ordering::SeqCst),
        "join_timeout waited for the thread-local's destructor"
    );
    go.set();
}

#[test]
fn join_timeout_zero_on_a_running_thread_returns_at_once() {
    let go = gate();
    let g = Arc::clone(&go);
    let handle = weft_thread::spawn(move || g.wait()).unwrap();
    let (result, waited) = within(move || {
        let start = Instant::now();
        let result = handle.join_timeout(Duration::ZERO);
        (result, start.elapsed())
    });
    assert!(waited < PROMPT, "{waited:?}");
    let handle = timed_out(result);
    assert!(handle.is_alive());
    go.set();
    value(handle);
}

/// The shortest non-zero timeout takes the timed path (a deadline), and gives the handle back
/// as a zero one does.
#[test]
fn join_timeout_of_one_nanosecond_on_a_running_thread_gives_the_handle_back() {
    let go = gate();
    let g = Arc::clone(&go);
    let handle = weft_thread::spawn(move || g.wait()).unwrap();
    let result = within(move || handle.join_timeout(Duration::from_nanos(1)));
    let handle = timed_out(result);
    assert!(handle.is_alive());
    go.set();
    value(handle);
}

#[test]
fn join_timeout_max_waits_until_done() {
    let go = gate();
    let g = Arc::clone(&go);
    let handle = weft_thread::spawn(move || {
        g.wait();
        99
    })
    .unwrap();
    let joined = spawn(move || {
        handle
            .join_timeout(Duration::MAX)
            .map_err(|e| e.to_string())
    });
    assert_pending(&joined); // still waiting: Duration::MAX is not a zero or short timeout
    go.set();
    assert_eq!(recv(&joined), Ok(99));
}

#[test]
fn join_waits_until_done() {
    let go = gate();
    let g = Arc::clone(&go);
    let (tx, rx) = mpsc::channel();
    let handle = weft_thread::spawn(move || {
        g.wait();
        tx.send("body finished").unwrap();
        1
    })
    .unwrap();
    let joined = spawn(move || handle.join().map_err(|e| e.to_string()));
    assert_pending(&joined);
    go.set();
    assert_eq!(recv(&joined), Ok(1));
    // join returned after the body sent this.
    assert_eq!(rx.try_recv(), Ok("body finished"));
}

#[test]
fn joining_the_current_thread_is_an_error_not_a_deadlock() {
    // ThreadingExceptionTests.test_joining_current_thread
    let (handle_tx, handle_rx) = mpsc::channel::<ThreadHandle<&'static str>>();
    let (back_tx, back_rx) = mpsc::channel();
    let handle = Thread::new(move || {
        let own = handle_rx.recv().unwrap();
        let own = match own.join() {
            Err(JoinError::CurrentThread(own)) => own,
            Err(other) => panic!("join: expected CurrentThread, got {other:?}"),
            Ok(_) => unreachable!("a thread cannot have finished while running"),
        };
        let own = match own.join_timeout(LONG) {
            Err(JoinTimeoutError::CurrentThread(own)) => own,
            other => panic!("join_timeout: expected CurrentThread, got {other:?}"),
        };
        let own = match own.join_timeout(Duration::ZERO) {
            Err(err @ JoinTimeoutError::CurrentThread(_)) => {
                assert!(!err.is_timeout());
                assert_eq!(err.to_string(), "cannot join current thread");
                err.into_handle().unwrap()
            }
            other => panic!("join_timeout(0): expected CurrentThread, got {other:?}"),
        };
        back_tx.send(own).unwrap();
        "survived"
    })
    .start()
    .unwrap();
    handle_tx.send(handle).unwrap();
    let handle = recv(&back_rx);
    assert_eq!(value(handle), "survived");
}

#[test]
fn ident_is_nonzero_unique_and_known_inside() {
    let a = Thread::new(|| current_thread().ident()).start().unwrap();
    let b = Thread::new(|| current_thread().ident()).start().unwrap();
    assert_ne!(a.ident(), 0);
    assert_ne!(b.ident(), 0);
    assert_ne!(a.ident(), b.ident());
    assert_eq!(a.info().ident(), a.ident());
    let (ia, ib) = (a.ident(), b.ident());
    assert_eq!(value(a), ia);
    assert_eq!(value(b), ib);
    // Never reused.
    let c = weft_thread::spawn(|| ()).unwrap();
    assert!(c.ident() != ia && c.ident() != ib);
    value(c);
}

#[cfg(target_os = "linux")]
#[test]
fn native_id_is_the_kernel_thread_id() {
    let go = gate();
    let g = Arc::clone(&go);
    let (tx, rx) = mpsc::channel();
    let handle = Thread::new(move || {
        tx.send(()).unwrap();
        g.wait();
        (current_thread().native_id(), kernel_tid())
    })
    .start()
    .unwrap();
    recv(&rx); // the thread has begun running
    let seen_from_outside = handle.native_id();
    assert!(seen_from_outside.is_some());
    assert_eq!(handle.info().native_id(), seen_from_outside);
    go.set();
    let (inside, kernel) = value_keeping_id(handle, seen_from_outside);
    assert_eq!(inside, Some(kernel));
    assert_eq!(seen_from_outside, Some(kernel));
    assert_ne!(Some(kernel), weft_thread::main_thread().native_id());
}

/// Joins `handle`, checking that its `native_id` did not change once the thread ended.
#[cfg(target_os = "linux")]
fn value_keeping_id<T>(handle: ThreadHandle<T>, expected: Option<u64>) -> T {
    wait_until("the thread has ended", || !handle.is_alive());
    assert_eq!(handle.native_id(), expected);
    value(handle)
}

#[test]
fn runnable_is_given_back_with_its_fields_filled_in() {
    struct Counter {
        upto: u32,
        total: u32,
        ran_in: Option<String>,
    }
    impl Runnable for Counter {
        fn run(&mut self) {
            self.total = (1..=self.upto).sum();
            self.ran_in = Some(current_thread().name().to_owned());
        }
    }
    let handle = Thread::from_runnable(Counter {
        upto: 4,
        total: 0,
        ran_in: None,
    })
    .name("counter")
    .start()
    .unwrap();
    let counter = value(handle);
    assert_eq!(counter.upto, 4);
    assert_eq!(counter.total, 10);
    assert_eq!(counter.ran_in.as_deref(), Some("counter"));
}

#[test]
fn dropping_the_handle_detaches_the_thread() {
    // test_leak_without_join: the thread runs to the end without being joined.
    let go = gate();
    let g = Arc::clone(&go);
    let (tx, rx) = mpsc::channel();
    let handle = weft_thread::spawn(move || {
        g.wait();
        tx.send("ran to completion").unwrap();
    })
    .unwrap();
    drop(handle);
    assert_pending(&rx);
    go.set();
    assert_eq!(recv(&rx), "ran to completion");
}

#[test]
fn the_body_and_its_captures_are_dropped_when_the_thread_ends() {
    // test_no_refcycle_through_target: neither a finished nor a panicked thread keeps its
    // closure (and what it captured) alive.
    let token = Arc::new(());
    let t = Arc::clone(&token);
    let handle = weft_thread::spawn(move || drop(Arc::clone(&t))).unwrap();
    value(handle);
    assert_eq!(Arc::strong_count(&token), 1);

    let t = Arc::clone(&token);
    let handle = weft_thread::spawn(move || {
        let _keep = &t;
        panic!("with captures");
    })
    .unwrap();
    assert!(finish(handle).is_err());
    assert_eq!(Arc::strong_count(&token), 1);

    // A detached thread releases them too.
    let t = Arc::clone(&token);
    drop(weft_thread::spawn(move || drop(t)).unwrap());
    wait_until("the detached thread dropped its captures", || {
        Arc::strong_count(&token) == 1
    });
}

#[test]
fn debug_shows_name_and_liveness() {
    let go = gate();
    let g = Arc::clone(&go);
    let builder = Thread::new(move || g.wait()).name("debugged").daemon(true);
    assert!(format!("{builder:?}").contains("debugged"));
    let handle = builder.start().unwrap();
    let text = format!("{handle:?}");
    assert!(text.contains("debugged"), "{text}");
    assert!(text.contains("alive: true"), "{text}");
    go.set();
    value(handle);
}
