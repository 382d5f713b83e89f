//! Helpers shared by the behaviour tests: coordinate through channels with timeouts, so that a bug
//! fails a test instead of hanging it, and never sleep to synchronize.
#![allow(dead_code, reason = "each test file uses a different subset")]

use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::Duration;

/// How long a test waits for another thread before failing instead of hanging.
pub(crate) const LONG: Duration = Duration::from_secs(10);
/// How long a test watches for something that must not happen.
pub(crate) const BRIEF: Duration = Duration::from_millis(50);
/// A timeout that is expected to expire.
pub(crate) const SHORT: Duration = Duration::from_millis(100);
/// Slack for the lower bound of a timed wait (clock granularity).
pub(crate) const SLACK: Duration = Duration::from_millis(10);

/// Runs `f` on a new thread; its result arrives on the returned channel.
pub(crate) fn spawn<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Receiver<T> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx
}

/// Runs `f` on a thread of its own and fails the test if it has not returned within `limit` (a
/// watchdog for code that would loop or hang if the library were wrong, longer than `LONG`); a
/// panic in `f` goes on.
pub(crate) fn within(limit: Duration, f: impl FnOnce() + Send + 'static) {
    let (tx, rx) = mpsc::channel();
    let worker = thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    match rx.recv_timeout(limit) {
        // Returned, or panicked (the sender dropped): the join gives either.
        Ok(()) | Err(RecvTimeoutError::Disconnected) => worker
            .join()
            .unwrap_or_else(|payload| std::panic::resume_unwind(payload)),
        Err(RecvTimeoutError::Timeout) => panic!("still running after {limit:?}"),
    }
}

/// The next message from another thread, failing the test if none arrives within `LONG`.
pub(crate) fn recv<T>(rx: &Receiver<T>) -> T {
    rx.recv_timeout(LONG)
        .expect("the other thread panicked or did not answer in time")
}

/// Fails if a message arrives (or the sender panics) within `BRIEF`.
pub(crate) fn assert_pending<T: std::fmt::Debug>(rx: &Receiver<T>) {
    match rx.recv_timeout(BRIEF) {
        Err(RecvTimeoutError::Timeout) => {}
        other => panic!("expected the other thread to still be blocked, got {other:?}"),
    }
}

#[path = "busy.rs"]
mod busy;
#[allow(unused_imports, reason = "only the timed-wait tests load the cores")]
pub(crate) use busy::with_busy_cores;
