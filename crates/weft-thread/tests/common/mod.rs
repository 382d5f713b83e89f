//! Helpers shared by the weft-thread behaviour tests: coordinate through channels and events with
//! timeouts, so that a bug fails a test instead of hanging it, and never sleep to synchronize.
#![allow(dead_code, reason = "each test file uses a different subset")]

use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use weft_sync::Event;
use weft_thread::{JoinTimeoutError, Panicked, ThreadHandle};

/// How long a test waits for another thread before failing instead of hanging.
pub(crate) const LONG: Duration = Duration::from_secs(10);
/// How long a test watches for something that must not happen.
pub(crate) const BRIEF: Duration = Duration::from_millis(50);
/// A timeout that is expected to expire.
pub(crate) const SHORT: Duration = Duration::from_millis(100);
/// Slack for the lower bound of a timed wait (clock granularity).
pub(crate) const SLACK: Duration = Duration::from_millis(10);
/// Upper bound for anything that should happen "at once" or "promptly": generous, so a loaded
/// machine does not fail the test, yet far below the hour-long waits the tests interrupt.
pub(crate) const PROMPT: Duration = Duration::from_secs(5);

/// Runs `f` on a new std thread (not a weft thread); its result arrives on the returned channel.
pub(crate) fn spawn<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Receiver<T> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx
}

/// Runs `f` on a helper std thread and returns its result, failing the test if it takes more than
/// `LONG` (for calls that could block forever if the library were wrong).
pub(crate) fn within<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    recv(&spawn(f))
}

/// The next message from another thread, failing the test if none arrives within `LONG`.
pub(crate) fn recv<T>(rx: &Receiver<T>) -> T {
    rx.recv_timeout(LONG)
        .expect("the other thread panicked or did not answer in time")
}

/// Fails if a message arrives (or the sender goes away) within `BRIEF`.
pub(crate) fn assert_pending<T: std::fmt::Debug>(rx: &Receiver<T>) {
    match rx.recv_timeout(BRIEF) {
        Err(RecvTimeoutError::Timeout) => {}
        other => panic!("expected the other thread to still be blocked, got {other:?}"),
    }
}

/// Fails if a message arrives within `BRIEF`; the sender may have gone away.
pub(crate) fn assert_silent<T: std::fmt::Debug>(rx: &Receiver<T>) {
    if let Ok(message) = rx.recv_timeout(BRIEF) {
        panic!("expected no more messages, got {message:?}");
    }
}

/// Lets `BRIEF` pass while the test watches for something that must not happen (a counter that
/// must not move); an observation window, never a way to wait for another thread.
pub(crate) fn watch_brief() {
    let (_sender, never) = mpsc::channel::<()>();
    assert_pending(&never);
}

/// A fresh, lowered event to hold a thread until the test sets it.
///
/// A test that fails before setting it sets it as it unwinds, so the threads it held end
/// instead of staying alive for the rest of the run, where they would make later tests that
/// count or wait for the live threads time out too.
pub(crate) fn gate() -> Gate {
    Gate(Arc::new(Event::new()))
}

/// The event [`gate`] makes: an `Arc<Event>` (through `Deref`) that is set when dropped during a
/// panic.
pub(crate) struct Gate(Arc<Event>);

impl std::ops::Deref for Gate {
    type Target = Arc<Event>;

    fn deref(&self) -> &Arc<Event> {
        &self.0
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        if thread::panicking() {
            self.0.set();
        }
    }
}

/// Waits (yielding, never sleeping) until `condition` holds, failing the test after `LONG`.
pub(crate) fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + LONG;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        thread::yield_now();
    }
}

/// Joins `handle`, failing the test instead of hanging if the thread does not end within `LONG`.
pub(crate) fn finish<T>(handle: ThreadHandle<T>) -> Result<T, Panicked> {
    match handle.join_timeout(LONG) {
        Ok(value) => Ok(value),
        Err(JoinTimeoutError::Panicked(panicked)) => Err(panicked),
        Err(other) => panic!("joining {other:?} failed"),
    }
}

/// The value of a thread that must end normally within `LONG`.
pub(crate) fn value<T>(handle: ThreadHandle<T>) -> T {
    finish(handle).unwrap_or_else(|p| panic!("the thread panicked: {p}"))
}

/// The kernel id of the calling thread, read independently of weft (Linux only).
#[cfg(target_os = "linux")]
pub(crate) fn kernel_tid() -> u64 {
    let link = std::fs::read_link("/proc/thread-self").expect("/proc/thread-self");
    link.file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.parse().ok())
        .expect("/proc/thread-self points to PID/task/TID")
}

/// A timeout whose deadline falls within the clock's last millisecond (less a 0.5 ms margin
/// for the time between this call and the wait's own reading of the clock): the longest
/// timeout that can be added to now, to the nanosecond, less that margin.
pub(crate) fn timeout_at_the_clock_end() -> Duration {
    let now = Instant::now();
    let fits = |d: Duration| now.checked_add(d).is_some();
    let (mut secs, mut top) = (0u64, u64::MAX);
    while secs < top {
        let mid = secs + (top - secs).div_ceil(2);
        if fits(Duration::from_secs(mid)) {
            secs = mid;
        } else {
            top = mid - 1;
        }
    }
    let (mut nanos, mut top) = (0u32, 999_999_999u32);
    while nanos < top {
        let mid = nanos + (top - nanos).div_ceil(2);
        if fits(Duration::new(secs, mid)) {
            nanos = mid;
        } else {
            top = mid - 1;
        }
    }
    Duration::new(secs, nanos) - Duration::from_micros(500)
}
