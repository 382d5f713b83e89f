//! Tests for [`weft_sync::drop_panic_payload`]: a payload whose `Drop` panics does not unwind
//! from it, and the payload of that second panic is dropped too, not leaked.

use std::panic::{catch_unwind, panic_any};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

mod common;
use common::within;

/// Counts its drops.
struct Counted(&'static AtomicUsize);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A payload whose `Drop` panics with a [`Counted`] payload.
struct PanicsWithCounted(&'static AtomicUsize);

impl Drop for PanicsWithCounted {
    fn drop(&mut self) {
        panic_any(Counted(self.0));
    }
}

/// Found by LeakSanitizer: the payload of the panic in the first payload's `Drop` was forgotten
/// (one leak per such drop).
#[test]
fn the_payload_of_a_panicking_payload_drop_is_dropped_too() {
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    let payload = catch_unwind(|| panic_any(PanicsWithCounted(&DROPS))).unwrap_err();
    weft_sync::drop_panic_payload(payload);
    assert_eq!(
        DROPS.load(Ordering::SeqCst),
        1,
        "the second payload was leaked"
    );
}

/// A payload whose every `Drop` panics anew with another such payload does not keep
/// `drop_panic_payload` looping: it returns (under a watchdog, so a regression fails instead of
/// hanging the run).
#[test]
fn an_endless_chain_of_panicking_payloads_ends() {
    struct Forever;
    impl Drop for Forever {
        fn drop(&mut self) {
            panic_any(Forever);
        }
    }
    within(Duration::from_secs(60), || {
        weft_sync::drop_panic_payload(catch_unwind(|| panic_any(Forever)).unwrap_err());
    });
}

/// A payload whose `Drop` does not panic is dropped once.
#[test]
fn a_plain_payload_is_dropped_once() {
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    let payload = catch_unwind(|| panic_any(Counted(&DROPS))).unwrap_err();
    weft_sync::drop_panic_payload(payload);
    assert_eq!(DROPS.load(Ordering::SeqCst), 1);
}
