//! Behaviour tests for [`weft_thread::catch_panic`]: a caught panic comes back with its message,
//! its location (the panic's line, also for a payload whose `Drop` panics, and by the rule for
//! `resume_unwind` payloads of the thread bodies) and the current thread's name and ident; the
//! value of a call that does not panic passes through; nested calls and calls in a weft thread
//! body take only their own panics. That nothing is printed is checked on a real process in
//! `tests/exit.rs` (`catch_panic_prints_nothing`).
//!
//! Python's anchor: an exception caught with `try`/`except` keeps its traceback and is not
//! printed. No test sleeps to synchronize.

use std::panic::{panic_any, resume_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};

use weft_thread::{catch_panic, current_thread, Panicked, Thread};

mod common;
use common::*;

/// Fails unless `panicked` is located at `line` of this file.
fn assert_located_at(panicked: &Panicked, line: u32) {
    let location = panicked.location().expect("a location");
    assert!(
        location.contains(&format!("catch_panic.rs:{line}:")),
        "{location} is not line {line}"
    );
}

const BOOM_LINE: u32 = line!() + 2;
fn boom() -> u32 {
    panic!("boom")
}

#[test]
fn a_caught_panic_has_its_message_location_and_thread() {
    let (err, me) = within(|| {
        let me = current_thread();
        (catch_panic(boom).unwrap_err(), me)
    });
    assert_eq!(err.message(), "boom");
    assert_located_at(&err, BOOM_LINE);
    assert_eq!(err.thread_name(), me.name());
    assert_eq!(err.ident(), me.ident());
}

#[test]
fn the_thread_name_is_the_std_threads() {
    let handle = std::thread::Builder::new()
        .name("catcher".into())
        .spawn(|| catch_panic(boom).unwrap_err())
        .unwrap();
    let err = handle.join().unwrap();
    assert_eq!(err.thread_name(), "catcher");
}

#[test]
fn a_value_passes_through() {
    assert_eq!(catch_panic(|| 5).unwrap(), 5);
    // A panic caught inside does not fail the call.
    assert!(catch_panic(|| catch_panic(boom).is_err()).unwrap());
}

#[test]
fn a_payload_that_is_not_a_string_reads_box_dyn_any() {
    let err = catch_panic(|| panic_any(7_u8)).unwrap_err();
    assert_eq!(err.message(), "Box<dyn Any>");
    assert!(err.location().is_some());
}

/// A payload whose drop panics.
struct PanicOnDrop<'a>(&'a AtomicUsize);

impl Drop for PanicOnDrop<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
        panic!("the payload's drop panicked");
    }
}

const PANIC_ANY_LINE: u32 = line!() + 4;
#[test]
fn a_payload_whose_drop_panics_keeps_the_location_of_the_panic() {
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    let err = catch_panic(|| panic_any(PanicOnDrop(&DROPS))).unwrap_err();
    assert_eq!(DROPS.load(Ordering::SeqCst), 1, "the payload was dropped");
    assert_eq!(err.message(), "Box<dyn Any>");
    assert_located_at(&err, PANIC_ANY_LINE);
}

#[test]
fn a_resumed_payload_has_no_location_unless_a_caught_panic_had_its_text() {
    let err = catch_panic(|| resume_unwind(Box::new("never hooked"))).unwrap_err();
    assert_eq!(err.message(), "never hooked");
    assert_eq!(err.location(), None);

    let err = catch_panic(|| {
        let caught = catch_panic(boom).unwrap_err();
        resume_unwind(Box::new(caught.message().to_owned()))
    })
    .unwrap_err();
    assert_eq!(err.message(), "boom");
    assert_located_at(&err, BOOM_LINE);
}

#[test]
fn an_earlier_calls_panic_lends_no_location() {
    // The same text, caught by an earlier call on this thread: not this call's panic.
    within(|| {
        assert!(catch_panic(boom).is_err());
        let err = catch_panic(|| resume_unwind(Box::new("boom"))).unwrap_err();
        assert_eq!(err.location(), None, "{err:?}");
    });
}

const OUTER_LINE: u32 = line!() + 5;
#[test]
fn a_nested_call_takes_its_own_panic_and_the_outer_one_its_own() {
    let err = catch_panic(|| {
        assert_located_at(&catch_panic(boom).unwrap_err(), BOOM_LINE);
        panic!("outer")
    })
    .unwrap_err();
    assert_eq!(err.message(), "outer");
    assert_located_at(&err, OUTER_LINE);
}

const BODY_LINE: u32 = line!() + 7;
#[test]
fn in_a_thread_body_it_leaves_the_bodys_panic_alone() {
    weft_thread::set_excepthook(|_| {}); // this file's only hook: nothing else reports
    let handle = Thread::<()>::new(|| {
        let inner = catch_panic(boom).unwrap_err();
        assert_located_at(&inner, BOOM_LINE);
        panic!("the body's own")
    })
    .name("catch-panic-body")
    .start()
    .unwrap();
    let err = finish(handle).unwrap_err();
    weft_thread::reset_excepthook();
    assert_eq!(err.message(), "the body's own");
    assert_located_at(&err, BODY_LINE);
}

/// A payload that catches a panic of its own when dropped, with `catch_panic`.
struct CatchesWhenDropped;
impl Drop for CatchesWhenDropped {
    fn drop(&mut self) {
        assert!(catch_panic(|| panic!("in the payload's drop")).is_err());
    }
}

const PAYLOAD_BODY_LINE: u32 = line!() + 5;
#[test]
fn a_payload_whose_drop_calls_catch_panic_keeps_the_bodys_location() {
    // The drop runs once the body has ended, outside it: its top-level call clears what it
    // recorded, which must not take the body's own record with it.
    let handle = Thread::<()>::new(|| panic_any(CatchesWhenDropped))
        .name("payload-catches")
        .start()
        .unwrap();
    let err = finish(handle).unwrap_err();
    assert_eq!(err.message(), "Box<dyn Any>");
    assert_located_at(&err, PAYLOAD_BODY_LINE);
}
