//! Compile-time checks of the auto traits weft-thread promises (in the style of tokio's
//! `tests/async_send_sync.rs` and weft-sync's `tests/auto_traits.rs`): a `ThreadHandle<T>` is
//! `Send + Sync` for any `T: Send` (so it can be handed to another thread to join, or shared to
//! ask `is_alive`), a `Thread<T>` builder is `Send`, a `StopToken` is `Send + Sync + Clone`, the
//! timer handles are `Send + Sync` (an `IntervalHandle` shared in an `Arc` can be cancelled from
//! anywhere), `ThreadInfo` and `Panicked` are `Clone`, and every error type is
//! `Send + Sync + 'static` and converts into `Box<dyn Error + Send + Sync>`.
//!
//! These are not CPython `test_threading.py` cases; a failure here is a compile error.

use std::cell::{Cell, RefCell};
use std::error::Error;

use weft_thread::{
    Interval, IntervalHandle, JoinError, JoinTimeoutError, Panicked, StartError, StopToken,
    Stopped, Thread, ThreadHandle, ThreadInfo, Timer, TimerHandle,
};

fn is_send<T: ?Sized + Send>() {}
fn is_send_sync<T: ?Sized + Send + Sync>() {}
fn is_clone<T: Clone>() {}
fn is_error<T: Error + Send + Sync + 'static>() {}

/// Checked for every `T: Send`, not just the types named below.
fn handle_is_send_sync_for_any_send<T: Send>() {
    is_send_sync::<ThreadHandle<T>>();
}

fn errors_are_send_sync_for_any_send<T: Send + 'static>() {
    is_error::<JoinError<T>>();
    is_error::<JoinTimeoutError<T>>();
}

fn builder_is_send_for_any_send<T: Send + 'static>() {
    is_send::<Thread<T>>();
}

#[test]
fn thread_handle_is_send_sync_when_the_value_is_send() {
    handle_is_send_sync_for_any_send::<u32>();
    handle_is_send_sync_for_any_send::<String>();
    // Send but not Sync values are fine: the handle hands the value over, it never shares it.
    handle_is_send_sync_for_any_send::<Cell<u32>>();
    handle_is_send_sync_for_any_send::<RefCell<Vec<u8>>>();
    handle_is_send_sync_for_any_send::<std::sync::mpsc::Receiver<u8>>();
}

#[test]
fn thread_builder_is_send() {
    builder_is_send_for_any_send::<u32>();
    builder_is_send_for_any_send::<Cell<u32>>();
    is_send::<Timer>();
    is_send::<Interval>();
}

#[test]
fn stop_token_is_send_sync_clone() {
    is_send_sync::<StopToken>();
    is_clone::<StopToken>();
}

#[test]
fn timer_handles_are_send_sync() {
    is_send_sync::<TimerHandle>();
    is_send_sync::<IntervalHandle>();
}

#[test]
fn info_and_panic_are_send_sync_clone() {
    is_send_sync::<ThreadInfo>();
    is_clone::<ThreadInfo>();
    is_clone::<Panicked>();
}

#[test]
fn error_types_are_send_sync_static() {
    is_error::<StartError>();
    is_error::<Panicked>();
    is_error::<Stopped>();
    errors_are_send_sync_for_any_send::<u32>();
    errors_are_send_sync_for_any_send::<Cell<u32>>();

    let boxed: Vec<Box<dyn Error + Send + Sync>> = vec![
        Box::new(Stopped),
        Box::new(StartError::ZeroPeriod),
        Box::new(Thread::new(|| ()).name("\0").start().unwrap_err()),
    ];
    assert_eq!(boxed.len(), 3);
    assert!(boxed[2].to_string().contains("NUL"));
}

#[test]
fn stopped_is_a_plain_value() {
    fn is_copy_eq_hash<T: Copy + Eq + std::hash::Hash + std::fmt::Debug>() {}
    is_copy_eq_hash::<Stopped>();
    assert_eq!(Stopped, Stopped);
}
