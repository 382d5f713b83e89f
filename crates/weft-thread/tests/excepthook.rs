//! Behaviour tests for the excepthook: [`weft_thread::set_excepthook`],
//! [`weft_thread::reset_excepthook`] and [`weft_thread::default_excepthook`]. A panic that ends
//! a weft thread (also a `Timer`'s) is reported exactly once, in that thread, with its name,
//! ident, message and location, before `join` returns the same panic; a panic inside the hook is
//! contained; a panic the thread catches itself, or one in a thread weft did not start, is not
//! reported.
//!
//! Re-expresses CPython's `Lib/test/test_threading.py` `ExceptHookTests`: `test_excepthook`
//! (the report names the thread and carries the message), `test_custom_excepthook`,
//! `test_custom_excepthook_fail` (a failing hook does not take the thread down) and
//! `test_original_excepthook` (restoring the default stops the custom hook from being called).
//!
//! The hook is process-wide, so every test that installs one lives in this file (each
//! integration-test file is its own process) and they run one at a time (`serial()`); each
//! restores the default hook when it ends, and reports are filtered by this test's thread names.
//! No test sleeps to synchronize.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use weft_thread::{
    current_thread, default_excepthook, reset_excepthook, set_excepthook, JoinTimeoutError,
    Panicked, Thread, Timer,
};

mod common;
use common::*;

/// Runs this file's tests one at a time and restores the default hook afterwards, even when the
/// test fails.
struct Serial {
    _guard: MutexGuard<'static, ()>,
}

impl Drop for Serial {
    fn drop(&mut self) {
        reset_excepthook();
    }
}

fn serial() -> Serial {
    static SERIAL: Mutex<()> = Mutex::new(());
    let guard = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    reset_excepthook();
    Serial { _guard: guard }
}

/// Fails unless `panicked` is located at `line` of this file.
fn assert_located_at(panicked: &Panicked, line: u32) {
    let location = panicked.location().expect("a location");
    assert!(
        location.contains(&format!("excepthook.rs:{line}:")),
        "{location} is not line {line}"
    );
}

/// One call of the hook: what it received, and the name of the thread it ran in.
#[derive(Clone, Debug)]
struct Report {
    panic: Panicked,
    ran_in: String,
}

type Reports = Arc<Mutex<Vec<Report>>>;

/// Installs a hook that records every report.
fn record_reports() -> Reports {
    let reports: Reports = Arc::default();
    let r = Arc::clone(&reports);
    set_excepthook(move |panic| {
        r.lock().unwrap().push(Report {
            panic: panic.clone(),
            ran_in: current_thread().name().to_owned(),
        });
    });
    reports
}

/// The reports about threads whose name starts with `prefix`.
fn reports_for(reports: &Reports, prefix: &str) -> Vec<Report> {
    reports
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.panic.thread_name().starts_with(prefix))
        .cloned()
        .collect()
}

/// Starts a thread named `name` that panics with `message`, and returns the panic `join` gave.
fn panic_in_thread(name: &str, message: &'static str) -> Panicked {
    let handle = Thread::<()>::new(move || panic!("{message}"))
        .name(name)
        .start()
        .unwrap();
    finish(handle).expect_err("the thread should have panicked")
}

#[test]
fn the_hook_gets_one_report_per_panicking_thread() {
    // test_excepthook / test_custom_excepthook
    let _serial = serial();
    let reports = record_reports();
    let handles: Vec<_> = ["first", "second", "third"]
        .into_iter()
        .map(|m| {
            Thread::<()>::new(move || panic!("{m} failed"))
                .name(format!("hooked-{m}"))
                .start()
                .unwrap()
        })
        .collect();
    let quiet = Thread::new(|| 1).name("hooked-quiet").start().unwrap();
    let idents: Vec<u64> = handles.iter().map(|h| h.ident()).collect();
    let joined: Vec<Panicked> = handles
        .into_iter()
        .map(|h| finish(h).unwrap_err())
        .collect();
    assert_eq!(value(quiet), 1);

    // Every report was made before join returned.
    let mut got = reports_for(&reports, "hooked-");
    got.sort_by_key(|r| r.panic.ident());
    assert_eq!(got.len(), 3, "{got:?}");
    for ((report, from_join), ident) in got.iter().zip(&joined).zip(idents) {
        assert_eq!(
            &report.panic, from_join,
            "the hook and join see the same panic"
        );
        assert_eq!(report.panic.ident(), ident);
        let m = report.panic.thread_name().strip_prefix("hooked-").unwrap();
        assert_eq!(report.panic.message(), format!("{m} failed"));
        assert!(report.panic.location().unwrap().contains("excepthook.rs:"));
        assert_eq!(
            report.ran_in,
            report.panic.thread_name(),
            "runs in the thread"
        );
    }
}

#[test]
fn setting_a_hook_replaces_the_previous_one() {
    let _serial = serial();
    let old = record_reports();
    let new = record_reports();
    panic_in_thread("replaced-1", "x");
    assert!(reports_for(&old, "replaced-").is_empty());
    assert_eq!(reports_for(&new, "replaced-").len(), 1);
}

#[test]
fn reset_excepthook_restores_the_default() {
    // test_original_excepthook
    let _serial = serial();
    let reports = record_reports();
    let first = panic_in_thread("reset-before", "seen by the custom hook");
    assert_eq!(reports_for(&reports, "reset-").len(), 1);
    reset_excepthook();
    let second = panic_in_thread("reset-after", "printed by the default hook");
    // The custom hook is no longer called; the panic still reaches join.
    assert_eq!(reports_for(&reports, "reset-").len(), 1);
    assert_eq!(first.message(), "seen by the custom hook");
    assert_eq!(second.message(), "printed by the default hook");
}

#[test]
fn a_panicking_hook_does_not_take_the_thread_or_process_down() {
    // test_custom_excepthook_fail
    let _serial = serial();
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    set_excepthook(move |_| {
        c.fetch_add(1, Ordering::SeqCst);
        panic!("the hook itself failed");
    });
    let panicked = panic_in_thread("bad-hook-1", "original");
    assert_eq!(
        panicked.message(),
        "original",
        "join gets the thread's panic, not the hook's"
    );
    assert_eq!(panicked.thread_name(), "bad-hook-1");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // Everything still works afterwards, the hook included.
    assert_eq!(value(weft_thread::spawn(|| 5).unwrap()), 5);
    panic_in_thread("bad-hook-2", "again");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

/// A panic payload whose own `Drop` panics.
struct PanicOnDrop;

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("the payload's drop panics");
    }
}

#[test]
fn panics_whose_payloads_panic_when_dropped_still_reach_join() {
    // The thread's own panic, and then the hook's: neither payload's drop may take the thread
    // down before it publishes its result (join would hang).
    let _serial = serial();
    let reports = record_reports();
    let handle = Thread::<()>::new(|| std::panic::panic_any(PanicOnDrop))
        .name("odd-payload")
        .start()
        .unwrap();
    let panicked = finish(handle).unwrap_err();
    assert_eq!(panicked.message(), "Box<dyn Any>");
    assert_eq!(reports_for(&reports, "odd-payload").len(), 1);
    set_excepthook(|_| std::panic::panic_any(PanicOnDrop));
    let panicked = panic_in_thread("odd-hook", "original");
    assert_eq!(panicked.message(), "original");
}

#[test]
fn a_panic_the_thread_catches_is_not_reported() {
    let _serial = serial();
    let reports = record_reports();
    let handle = Thread::new(|| {
        let caught = catch_unwind(|| panic!("caught inside"));
        assert!(caught.is_err());
        "recovered"
    })
    .name("catcher")
    .start()
    .unwrap();
    assert_eq!(value(handle), "recovered");
    assert!(reports_for(&reports, "catcher").is_empty());
}

#[test]
fn after_a_caught_panic_an_uncaught_one_reports_its_own_location() {
    let _serial = serial();
    let reports = record_reports();
    let line = line!() + 4;
    let handle = Thread::<()>::new(|| {
        let _ = catch_unwind(|| panic!("caught first"));
        // The report must point here, not at the caught panic.
        panic!("uncaught second");
    })
    .name("catch-then-fail")
    .start()
    .unwrap();
    let panicked = finish(handle).unwrap_err();
    assert_eq!(panicked.message(), "uncaught second");
    assert_located_at(&panicked, line);
    let got = reports_for(&reports, "catch-then-fail");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].panic, panicked);
}

#[test]
fn panics_outside_weft_threads_are_not_reported() {
    let _serial = serial();
    let reports = record_reports();
    // A weft thread has started in this process, so weft's panic hook is installed.
    value(weft_thread::spawn(|| ()).unwrap());
    let foreign = std::thread::Builder::new()
        .name("not-weft".to_owned())
        .spawn(|| panic!("std thread panic"))
        .unwrap();
    assert!(foreign.join().is_err());
    assert!(reports_for(&reports, "not-weft").is_empty());
}

#[test]
fn a_timer_panic_is_reported_with_the_timer_name() {
    let _serial = serial();
    let reports = record_reports();
    let timer = Timer::new(Duration::ZERO, || panic!("timer failed"))
        .name("hooked-timer")
        .start()
        .unwrap();
    let joined = within(move || timer.join().map_err(|e| e.into_panicked()));
    let panicked = joined.unwrap_err().expect("Panicked");
    let got = reports_for(&reports, "hooked-timer");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].panic, panicked);
    assert_eq!(panicked.message(), "timer failed");
}

/// While its excepthook runs, a thread is still alive (Python's `is_alive()` is true then too):
/// `is_alive`, `enumerate` and a zero `join_timeout` say so, and `join` returns the panic once the
/// hook has returned.
#[test]
fn a_thread_is_alive_while_its_excepthook_runs() {
    let _serial = serial();
    let in_hook = gate();
    let leave_hook = gate();
    let (entered, leave) = (Arc::clone(&in_hook), Arc::clone(&leave_hook));
    set_excepthook(move |panic| {
        if panic.thread_name() == "alive-in-hook" {
            entered.set();
            leave.wait();
        }
    });
    let handle = Thread::<()>::new(|| panic!("reported slowly"))
        .name("alive-in-hook")
        .start()
        .unwrap();
    let ident = handle.ident();
    assert!(in_hook.wait_timeout(LONG), "the hook did not run");
    assert!(handle.is_alive());
    assert!(weft_thread::enumerate().iter().any(|t| t.ident() == ident));
    let handle = match handle.join_timeout(Duration::ZERO) {
        Err(JoinTimeoutError::Timeout(handle)) => handle,
        other => panic!("expected a timeout while the hook runs, got {other:?}"),
    };
    leave_hook.set();
    let panicked = finish(handle).expect_err("the thread panicked");
    assert_eq!(panicked.message(), "reported slowly");
    assert!(weft_thread::enumerate().iter().all(|t| t.ident() != ident));
}

#[test]
fn the_hook_may_reset_itself() {
    // The hook runs with no lock of weft's held: it can replace or reset the hook.
    let _serial = serial();
    let calls = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&calls);
    set_excepthook(move |_| {
        c.fetch_add(1, Ordering::SeqCst);
        reset_excepthook();
    });
    panic_in_thread("self-reset-1", "first");
    panic_in_thread("self-reset-2", "second");
    assert_eq!(calls.load(Ordering::SeqCst), 1, "the hook removed itself");
}

#[test]
fn default_excepthook_can_be_called_directly() {
    let _serial = serial();
    // Keep a panic to hand it to the default hook, without printing it the first time.
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    set_excepthook(move |p| {
        let _ = tx.lock().unwrap().send(p.clone());
    });
    let panicked = panic_in_thread("for-default", "handed to the default hook");
    assert_eq!(recv(&rx), panicked);
    // Prints "Exception in thread for-default: ..." to stderr, and does not panic.
    let outcome = catch_unwind(AssertUnwindSafe(|| default_excepthook(&panicked)));
    assert!(outcome.is_ok());

    // A custom hook may delegate to it.
    let delegated = Arc::new(AtomicUsize::new(0));
    let d = Arc::clone(&delegated);
    set_excepthook(move |p| {
        d.fetch_add(1, Ordering::SeqCst);
        default_excepthook(p);
    });
    panic_in_thread("delegating", "printed through the default hook");
    assert_eq!(delegated.load(Ordering::SeqCst), 1);
}

#[test]
fn a_panic_raised_again_with_resume_unwind_keeps_only_a_location_of_its_own() {
    let _serial = serial();
    let _reports = record_reports();
    // A different payload raised with `resume_unwind` (which skips the panic hook) after a
    // caught panic: the caught one's location and backtrace are not this panic's.
    let handle = Thread::<()>::new(|| {
        let _ = catch_unwind(|| panic!("caught first"));
        std::panic::resume_unwind(Box::new("raised second"));
    })
    .start()
    .unwrap();
    let panicked = finish(handle).unwrap_err();
    assert_eq!(panicked.message(), "raised second");
    assert_eq!(panicked.location(), None);
    assert_eq!(panicked.backtrace(), None);
    // The caught panic's own payload raised again is that panic: its location stands.
    let line = line!() + 2;
    let handle = Thread::<()>::new(|| {
        let caught = catch_unwind(|| panic!("caught, then raised again")).unwrap_err();
        std::panic::resume_unwind(caught);
    })
    .start()
    .unwrap();
    let panicked = finish(handle).unwrap_err();
    assert_eq!(panicked.message(), "caught, then raised again");
    assert_located_at(&panicked, line);
}

#[test]
fn a_panic_caught_in_a_destructor_while_unwinding_keeps_the_ending_panics_location() {
    let _serial = serial();
    let _reports = record_reports();
    /// Catches a panic of its own when dropped: recorded after the panic that ends the body.
    struct CatchesOnDrop;
    impl Drop for CatchesOnDrop {
        fn drop(&mut self) {
            assert!(catch_unwind(|| panic!("caught in a destructor")).is_err());
        }
    }
    let line = line!() + 3;
    let handle = Thread::<()>::new(|| {
        let _guard = CatchesOnDrop;
        panic!("the real panic");
    })
    .start()
    .unwrap();
    let panicked = finish(handle).unwrap_err();
    assert_eq!(panicked.message(), "the real panic");
    assert_located_at(&panicked, line);
}
