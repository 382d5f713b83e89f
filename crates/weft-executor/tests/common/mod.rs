//! Helpers shared by the behaviour tests: futures in each state, a pool whose workers are held
//! busy on an [`Event`] (so later tasks stay queued), and waits with timeouts, so that a bug fails
//! a test instead of hanging it. Nothing here sleeps to synchronize.
#![allow(dead_code, reason = "each test file uses a different subset")]

use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use weft_executor::{Future, Outcome, TaskError, ThreadPoolExecutor};
use weft_sync::Event;

/// How long a test waits for something that must happen before failing instead of hanging.
pub(crate) const LONG: Duration = Duration::from_secs(60);
/// How long a test watches for something that must not happen.
pub(crate) const BRIEF: Duration = Duration::from_millis(100);
/// A timeout that is expected to expire.
pub(crate) const SHORT: Duration = Duration::from_millis(100);
/// Slack for the lower bound of a timed wait (clock granularity).
pub(crate) const SLACK: Duration = Duration::from_millis(10);

/// A pool of `n` workers.
pub(crate) fn pool(n: usize) -> ThreadPoolExecutor {
    ThreadPoolExecutor::builder()
        .max_workers(n)
        .build()
        .unwrap()
}

/// Workers held busy until [`Busy::release`]: each runs a task blocked on one [`Event`].
pub(crate) struct Busy {
    pub(crate) gate: Arc<Event>,
    pub(crate) futures: Vec<Future<()>>,
}

impl Busy {
    /// Lets the busy tasks finish and waits for them.
    pub(crate) fn release(self) {
        self.gate.set();
        for f in self.futures {
            get(f).unwrap();
        }
    }
}

/// Occupies `n` workers of `pool` (which must have at least `n` idle or unstarted workers):
/// returns once every one of the `n` tasks is running, so tasks submitted afterwards stay queued.
pub(crate) fn occupy(pool: &ThreadPoolExecutor, n: usize) -> Busy {
    let gate = Arc::new(Event::new());
    let (tx, rx) = mpsc::channel();
    let futures = (0..n)
        .map(|_| {
            let (gate, tx) = (Arc::clone(&gate), tx.clone());
            pool.submit(move || {
                tx.send(()).unwrap();
                assert!(gate.wait_timeout(LONG), "a busy task was never released");
            })
            .unwrap()
        })
        .collect();
    for _ in 0..n {
        recv(&rx);
    }
    Busy { gate, futures }
}

/// The future's result, failing the test if it takes longer than [`LONG`].
pub(crate) fn get<T, E>(f: Future<T, E>) -> Outcome<T, E> {
    match f.result_timeout(LONG) {
        Ok(v) => Ok(v),
        Err(e) => match e {
            weft_executor::ResultTimeoutError::Timeout(_) => panic!("the future never finished"),
            weft_executor::ResultTimeoutError::Task(e) => Err(e),
        },
    }
}

/// A finished future with `value`.
pub(crate) fn succeeded<T>(value: T) -> Future<T> {
    Future::ready(Ok(value))
}

/// A finished future whose task panicked with `message`.
pub(crate) fn failed<T>(message: &str) -> Future<T> {
    Future::ready(Err(TaskError::Panicked {
        message: message.into(),
        location: None,
    }))
}

/// A cancelled future (queued on a pool of its own behind a busy worker, then cancelled).
pub(crate) fn cancelled<T: Send + 'static>() -> Future<T> {
    let pool = pool(1);
    let busy = occupy(&pool, 1);
    let f = pool
        .submit(|| -> T { panic!("a cancelled task ran") })
        .unwrap();
    assert!(f.cancel());
    busy.release();
    f
}

/// Runs `f` on a new thread; its result arrives on the returned channel.
pub(crate) fn spawn<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Receiver<T> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx
}

/// The next message from another thread, failing the test if none arrives within [`LONG`].
pub(crate) fn recv<T>(rx: &Receiver<T>) -> T {
    rx.recv_timeout(LONG)
        .expect("the other thread panicked or did not answer in time")
}

/// Fails if a message arrives (or the sender panics) within [`BRIEF`].
pub(crate) fn assert_pending<T: std::fmt::Debug>(rx: &Receiver<T>) {
    match rx.recv_timeout(BRIEF) {
        Err(RecvTimeoutError::Timeout) => {}
        other => panic!("expected the other thread to still be blocked, got {other:?}"),
    }
}
