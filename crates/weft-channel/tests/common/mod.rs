//! Helpers shared by the weft-channel behaviour tests: coordinate through channels and gates with
//! timeouts, so that a bug fails a test instead of hanging it, and never sleep to synchronize.
//!
//! `TaskQueue` puts `Queue`, `LifoQueue` and `PriorityQueue` behind one trait, so the scenarios
//! CPython's `Lib/test/test_queue.py` runs on all three (`BaseQueueTestMixin`) are written once
//! here and called from `queue.rs`, `lifo.rs` and `priority.rs` with the order each variant must
//! give.
//!
//! "The other thread is blocked" is observed, not assumed: `spawn_blocked` waits until the thread
//! is asleep in the kernel (Linux: its `/proc` state is `S`, which a thread spinning or running
//! never shows), so a test that then wakes it really exercises the park/unpark path; a future is
//! known to be waiting once `report_pending` saw it return `Pending`.
#![allow(dead_code, reason = "each test file uses a different subset")]

use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll};
use std::thread;
use std::time::{Duration, Instant};

use weft_channel::{
    GetError, GetFuture, GetTimeoutError, Iter, JoinFuture, LifoQueue, PriorityQueue, PutError,
    PutFuture, PutTimeoutError, Queue, TaskDoneError, TryGetError, TryPutError, ZeroCapacity,
};

/// How long a test waits for another thread or task before failing instead of hanging.
pub(crate) const LONG: Duration = Duration::from_secs(10);
/// How long a test watches for something that must not happen.
pub(crate) const BRIEF: Duration = Duration::from_millis(50);
/// A timeout that is expected to expire.
pub(crate) const SHORT: Duration = Duration::from_millis(100);
/// Slack for the lower bound of a timed wait (clock granularity).
pub(crate) const SLACK: Duration = Duration::from_millis(10);
/// Upper bound for anything that should happen "at once" or "promptly": generous, so a loaded
/// machine does not fail the test, yet far below the waits the tests interrupt.
pub(crate) const PROMPT: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------------------------
// Threads
// ---------------------------------------------------------------------------------------------

/// Runs `f` on a new thread; its result arrives on the returned channel.
pub(crate) fn spawn<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Receiver<T> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx
}

/// Runs `f` on a helper thread and returns its result, failing the test if it takes more than
/// `LONG` (for calls that could block forever if the library were wrong).
pub(crate) fn within<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    recv(&spawn(f))
}

/// The next message from another thread, failing the test if none arrives within `LONG`.
pub(crate) fn recv<T>(rx: &Receiver<T>) -> T {
    rx.recv_timeout(LONG)
        .expect("the other thread panicked or did not answer in time")
}

/// Fails if a message arrives (or the sender panics) within `BRIEF`.
pub(crate) fn assert_pending<T: fmt::Debug>(rx: &Receiver<T>) {
    match rx.recv_timeout(BRIEF) {
        Err(RecvTimeoutError::Timeout) => {}
        other => panic!("expected the other thread to still be blocked, got {other:?}"),
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

/// The kernel id of the calling thread (Linux only).
#[cfg(target_os = "linux")]
pub(crate) fn kernel_tid() -> u64 {
    let link = std::fs::read_link("/proc/thread-self").expect("/proc/thread-self");
    link.file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.parse().ok())
        .expect("/proc/thread-self points to PID/task/TID")
}

/// The scheduler state (`R`, `S`, ...) of thread `tid` of this process, `None` once it exited.
#[cfg(target_os = "linux")]
fn thread_state(tid: u64) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).ok()?;
    // "tid (comm) S ...": the command may hold spaces and parentheses, the state follows the last.
    let after = &stat[stat.rfind(')')? + 1..];
    after.trim_start().chars().next()
}

/// Runs `f` (a call that should block) on a new thread and returns once that thread is asleep in
/// the kernel, i.e. parked inside `f` (or `f` already returned: the caller's `assert_pending`
/// then reports the bug). Elsewhere than Linux it just lets `BRIEF` pass.
pub(crate) fn spawn_blocked<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Receiver<T> {
    #[cfg(target_os = "linux")]
    {
        let (tid_tx, tid_rx) = mpsc::channel();
        let rx = spawn(move || {
            tid_tx.send(kernel_tid()).unwrap();
            f()
        });
        let tid = recv(&tid_rx);
        wait_until("the thread sleeps inside the blocking call", || {
            matches!(thread_state(tid), None | Some('S'))
        });
        rx
    }
    #[cfg(not(target_os = "linux"))]
    {
        let rx = spawn(f);
        let (_keep, never) = mpsc::channel::<()>();
        let _ = never.recv_timeout(BRIEF);
        rx
    }
}

/// `python_test_queue.do_blocking_test`: runs `block` on another thread, checks that it blocks,
/// runs `trigger` here, and returns what `block` returned once `trigger` released it.
pub(crate) fn blocking_test<R: fmt::Debug + Send + 'static>(
    block: impl FnOnce() -> R + Send + 'static,
    trigger: impl FnOnce(),
) -> R {
    let rx = spawn_blocked(block);
    assert_pending(&rx);
    trigger();
    recv(&rx)
}

/// A one-shot gate threads wait at until the test opens it (Python's `go = threading.Event()`);
/// waiting fails the thread after `LONG` instead of hanging.
#[derive(Debug, Default)]
pub(crate) struct Gate {
    open: Mutex<bool>,
    cv: Condvar,
}

impl Gate {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub(crate) fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.cv.notify_all();
    }

    pub(crate) fn wait(&self) {
        let guard = self.open.lock().unwrap();
        let (guard, timeout) = self
            .cv
            .wait_timeout_while(guard, LONG, |open| !*open)
            .unwrap();
        assert!(*guard && !timeout.timed_out(), "the gate never opened");
    }
}

/// A barrier whose `wait` fails after `LONG` instead of hanging when a party never arrives.
#[derive(Debug)]
pub(crate) struct TimedBarrier {
    parties: usize,
    state: Mutex<(usize, u64)>,
    cv: Condvar,
}

impl TimedBarrier {
    pub(crate) fn new(parties: usize) -> Arc<Self> {
        Arc::new(Self {
            parties,
            state: Mutex::new((0, 0)),
            cv: Condvar::new(),
        })
    }

    pub(crate) fn wait(&self) {
        let mut state = self.state.lock().unwrap();
        let generation = state.1;
        state.0 += 1;
        if state.0 == self.parties {
            *state = (0, generation + 1);
            self.cv.notify_all();
            return;
        }
        let (state, timeout) = self
            .cv
            .wait_timeout_while(state, LONG, |s| s.1 == generation)
            .unwrap();
        assert!(
            state.1 != generation && !timeout.timed_out(),
            "a barrier party never arrived"
        );
    }
}

/// Asserts that `elapsed` lies in `[expected - SLACK, expected + PROMPT]`.
pub(crate) fn assert_waited(elapsed: Duration, expected: Duration) {
    assert!(
        elapsed + SLACK >= expected,
        "returned after {elapsed:?}, before the {expected:?} timeout"
    );
    assert!(
        elapsed <= expected + PROMPT,
        "returned after {elapsed:?}, far after the {expected:?} timeout"
    );
}

/// Runs `f` and asserts it returned promptly (well before `LONG`), returning its result.
pub(crate) fn promptly<R>(f: impl FnOnce() -> R) -> R {
    let start = Instant::now();
    let r = f();
    assert!(
        start.elapsed() < PROMPT,
        "took {:?}, expected at once",
        start.elapsed()
    );
    r
}

// ---------------------------------------------------------------------------------------------
// Async
// ---------------------------------------------------------------------------------------------

/// A tokio runtime on the calling thread, with timers.
pub(crate) fn current_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

/// A multi-thread tokio runtime with `workers` worker threads and timers.
pub(crate) fn multi_rt(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_time()
        .build()
        .unwrap()
}

/// Awaits `fut`, failing the test if it takes more than `LONG`.
pub(crate) async fn within_async<F: Future>(fut: F) -> F::Output {
    tokio::time::timeout(LONG, fut)
        .await
        .expect("the future did not complete in time")
}

/// Wraps `fut` so that the returned receiver gets a message the first time `fut` returns
/// `Pending`: from then on the future is registered as a waiter.
pub(crate) fn report_pending<F: Future>(fut: F) -> (ReportPending<F>, Receiver<()>) {
    let (tx, rx) = mpsc::channel();
    (
        ReportPending {
            inner: Box::pin(fut),
            tx: Some(tx),
        },
        rx,
    )
}

/// See [`report_pending`].
pub(crate) struct ReportPending<F> {
    inner: Pin<Box<F>>,
    tx: Option<mpsc::Sender<()>>,
}

impl<F: Future> Future for ReportPending<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let poll = self.inner.as_mut().poll(cx);
        if poll.is_pending() {
            if let Some(tx) = self.tx.take() {
                let _ = tx.send(());
            }
        }
        poll
    }
}

/// A waker that counts how often it was woken, for polling futures by hand.
#[derive(Debug, Default)]
pub(crate) struct CountingWaker(AtomicUsize);

impl CountingWaker {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub(crate) fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

impl std::task::Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Polls `fut` once with `waker`.
pub(crate) fn poll_once<F: Future + Unpin>(
    fut: &mut F,
    waker: &Arc<CountingWaker>,
) -> Poll<F::Output> {
    let waker = std::task::Waker::from(Arc::clone(waker));
    Pin::new(fut).poll(&mut Context::from_waker(&waker))
}

// ---------------------------------------------------------------------------------------------
// Item types
// ---------------------------------------------------------------------------------------------

/// An item that counts its drops and, when armed, panics in `drop` (unless the thread is already
/// panicking: a double panic would abort the test process). Ordered by `key` alone.
pub(crate) struct Droppy {
    pub(crate) key: u32,
    pub(crate) armed: bool,
    /// Panics even while the thread unwinds (which aborts the process if that is where it is
    /// dropped).
    pub(crate) relentless: bool,
    pub(crate) drops: Arc<AtomicUsize>,
}

impl Droppy {
    pub(crate) fn new(key: u32, armed: bool, drops: &Arc<AtomicUsize>) -> Self {
        Self {
            key,
            armed,
            relentless: false,
            drops: Arc::clone(drops),
        }
    }

    /// An armed item that panics even while the thread unwinds.
    pub(crate) fn relentless(key: u32, drops: &Arc<AtomicUsize>) -> Self {
        let mut item = Self::new(key, true, drops);
        item.relentless = true;
        item
    }

    /// Drops the item without the panic.
    pub(crate) fn defuse(mut self) {
        self.armed = false;
    }
}

impl Drop for Droppy {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
        if self.armed && (self.relentless || !thread::panicking()) {
            panic!("Droppy {} panics in drop (on purpose)", self.key);
        }
    }
}

impl fmt::Debug for Droppy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Droppy({}, armed: {})", self.key, self.armed)
    }
}

impl PartialEq for Droppy {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}
impl Eq for Droppy {}
impl PartialOrd for Droppy {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Droppy {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key.cmp(&other.key)
    }
}

// ---------------------------------------------------------------------------------------------
// One trait for the three task-tracking queues
// ---------------------------------------------------------------------------------------------

/// The order a variant gives items back in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Fifo,
    Lifo,
    Priority,
}

/// The order in which a `kind` queue fed `put` (in this order, with nothing taken in between)
/// gives the items back.
pub(crate) fn expected<T: Ord + Clone>(kind: Kind, put: &[T]) -> Vec<T> {
    let mut v = put.to_vec();
    match kind {
        Kind::Fifo => {}
        Kind::Lifo => v.reverse(),
        Kind::Priority => v.sort(),
    }
    v
}

/// The API `Queue`, `LifoQueue` and `PriorityQueue` share, for the scenarios below.
pub(crate) trait TaskQueue<T: Send + 'static>:
    Clone + Send + Sync + fmt::Debug + 'static
{
    const KIND: Kind;
    fn new(maxsize: usize) -> Self;
    fn bounded(capacity: usize) -> Result<Self, ZeroCapacity>;
    fn unbounded() -> Self;
    fn put(&self, item: T) -> Result<(), PutError<T>>;
    fn try_put(&self, item: T) -> Result<(), TryPutError<T>>;
    fn put_timeout(&self, item: T, timeout: Duration) -> Result<(), PutTimeoutError<T>>;
    fn put_async(&self, item: T) -> PutFuture<'_, T>;
    fn get(&self) -> Result<T, GetError>;
    fn try_get(&self) -> Result<T, TryGetError>;
    fn get_timeout(&self, timeout: Duration) -> Result<T, GetTimeoutError>;
    fn get_async(&self) -> GetFuture<'_, T>;
    fn qsize(&self) -> usize;
    fn empty(&self) -> bool;
    fn full(&self) -> bool;
    fn maxsize(&self) -> Option<usize>;
    fn task_done(&self) -> Result<(), TaskDoneError>;
    fn unfinished_tasks(&self) -> usize;
    fn join(&self);
    fn join_timeout(&self, timeout: Duration) -> bool;
    fn join_async(&self) -> JoinFuture<'_, T>;
    fn shutdown(&self);
    fn shutdown_immediate(&self) -> Vec<T>;
    fn is_shutdown(&self) -> bool;
    fn iter(&self) -> Iter<'_, T>;
}

macro_rules! impl_task_queue {
    ($ty:ident, $kind:expr, [$($bound:tt)*]) => {
        impl<T: $($bound)* + 'static> TaskQueue<T> for $ty<T> {
            const KIND: Kind = $kind;
            fn new(maxsize: usize) -> Self {
                $ty::new(maxsize)
            }
            fn bounded(capacity: usize) -> Result<Self, ZeroCapacity> {
                $ty::bounded(capacity)
            }
            fn unbounded() -> Self {
                $ty::unbounded()
            }
            fn put(&self, item: T) -> Result<(), PutError<T>> {
                $ty::put(self, item)
            }
            fn try_put(&self, item: T) -> Result<(), TryPutError<T>> {
                $ty::try_put(self, item)
            }
            fn put_timeout(&self, item: T, timeout: Duration) -> Result<(), PutTimeoutError<T>> {
                $ty::put_timeout(self, item, timeout)
            }
            fn put_async(&self, item: T) -> PutFuture<'_, T> {
                $ty::put_async(self, item)
            }
            fn get(&self) -> Result<T, GetError> {
                $ty::get(self)
            }
            fn try_get(&self) -> Result<T, TryGetError> {
                $ty::try_get(self)
            }
            fn get_timeout(&self, timeout: Duration) -> Result<T, GetTimeoutError> {
                $ty::get_timeout(self, timeout)
            }
            fn get_async(&self) -> GetFuture<'_, T> {
                $ty::get_async(self)
            }
            fn qsize(&self) -> usize {
                $ty::qsize(self)
            }
            fn empty(&self) -> bool {
                $ty::empty(self)
            }
            fn full(&self) -> bool {
                $ty::full(self)
            }
            fn maxsize(&self) -> Option<usize> {
                $ty::maxsize(self)
            }
            fn task_done(&self) -> Result<(), TaskDoneError> {
                $ty::task_done(self)
            }
            fn unfinished_tasks(&self) -> usize {
                $ty::unfinished_tasks(self)
            }
            fn join(&self) {
                $ty::join(self)
            }
            fn join_timeout(&self, timeout: Duration) -> bool {
                $ty::join_timeout(self, timeout)
            }
            fn join_async(&self) -> JoinFuture<'_, T> {
                $ty::join_async(self)
            }
            fn shutdown(&self) {
                $ty::shutdown(self)
            }
            fn shutdown_immediate(&self) -> Vec<T> {
                $ty::shutdown_immediate(self)
            }
            fn is_shutdown(&self) -> bool {
                $ty::is_shutdown(self)
            }
            fn iter(&self) -> Iter<'_, T> {
                $ty::iter(self)
            }
        }
    };
}

impl_task_queue!(Queue, Kind::Fifo, [Send]);
impl_task_queue!(LifoQueue, Kind::Lifo, [Send]);
impl_task_queue!(PriorityQueue, Kind::Priority, [Ord + Send]);

// ---------------------------------------------------------------------------------------------
// Scenarios from CPython's BaseQueueTestMixin, for every task-tracking queue
// ---------------------------------------------------------------------------------------------

/// `QUEUE_SIZE` in `test_queue.py`.
pub(crate) const QUEUE_SIZE: usize = 5;

/// `basic_queue_test`: order, sizes, `put_nowait` Full, a put timing out, blocking puts released
/// by a get from another thread, `get_nowait` Empty, a get timing out, blocking gets released by
/// a put. Call with an empty `new(QUEUE_SIZE)` queue; leaves it empty.
pub(crate) fn basic_queue_test<Q: TaskQueue<i64>>(q: &Q) {
    assert_eq!(q.qsize(), 0, "call this function with an empty queue");
    assert!(q.empty());
    assert!(!q.full());
    for x in [111, 333, 222] {
        q.put(x).unwrap();
    }
    let got: Vec<i64> = (0..3).map(|_| q.try_get().unwrap()).collect();
    assert_eq!(got, expected(Q::KIND, &[111, 333, 222]), "wrong order");
    for i in 0..QUEUE_SIZE - 1 {
        q.put(i as i64).unwrap();
        assert!(q.qsize() > 0, "queue should not be empty");
    }
    assert!(!q.full(), "queue should not be full");
    let last = 2 * QUEUE_SIZE as i64;
    let full = 3 * 2 * QUEUE_SIZE as i64;
    q.put(last).unwrap();
    assert!(q.full(), "queue should be full");
    assert!(!q.empty());
    assert_eq!(q.qsize(), QUEUE_SIZE);
    assert_eq!(q.try_put(full), Err(TryPutError::Full(full)));
    assert_eq!(
        q.put_timeout(full, Duration::from_millis(10)),
        Err(PutTimeoutError::Timeout(full))
    );
    assert_eq!(q.qsize(), QUEUE_SIZE);
    // A blocking put, released by a get.
    let q2 = q.clone();
    let r = blocking_test(
        move || q2.put(full),
        || {
            q.get().unwrap();
        },
    );
    assert_eq!(r, Ok(()));
    let q2 = q.clone();
    let r = blocking_test(
        move || q2.put_timeout(full, LONG),
        || {
            q.get().unwrap();
        },
    );
    assert_eq!(r, Ok(()));
    assert!(q.full());
    // Empty it.
    for _ in 0..QUEUE_SIZE {
        q.try_get().unwrap();
    }
    assert_eq!(q.qsize(), 0, "queue should be empty");
    assert_eq!(q.try_get(), Err(TryGetError::Empty));
    assert_eq!(
        q.get_timeout(Duration::from_millis(10)),
        Err(GetTimeoutError::Timeout)
    );
    // A blocking get, released by a put.
    const EMPTY: i64 = -7;
    let q2 = q.clone();
    let r = blocking_test(move || q2.get(), || q.put(EMPTY).unwrap());
    assert_eq!(r, Ok(EMPTY));
    let q2 = q.clone();
    let r = blocking_test(move || q2.get_timeout(LONG), || q.put(EMPTY).unwrap());
    assert_eq!(r, Ok(EMPTY));
    assert!(q.empty());
}

/// `test_nowait`: `try_put` until Full (the item comes back), `try_get` until Empty.
pub(crate) fn nowait<Q: TaskQueue<i64>>() {
    let q = Q::new(QUEUE_SIZE);
    for i in 0..QUEUE_SIZE {
        q.try_put(i as i64).unwrap();
    }
    let err = q.try_put(99).unwrap_err();
    assert!(err.is_full());
    assert_eq!(err.into_inner(), 99);
    assert_eq!(q.qsize(), QUEUE_SIZE);
    assert_eq!(
        q.unfinished_tasks(),
        QUEUE_SIZE,
        "a refused item is not counted"
    );
    let mut got: Vec<i64> = (0..QUEUE_SIZE).map(|_| q.try_get().unwrap()).collect();
    got.sort();
    assert_eq!(got, [0, 1, 2, 3, 4]);
    assert_eq!(q.try_get(), Err(TryGetError::Empty));
}

/// `test_queue_task_done`: `task_done` on a fresh queue is Python's `ValueError`.
pub(crate) fn task_done_on_fresh_queue<Q: TaskQueue<i64>>() {
    let q = Q::unbounded();
    assert_eq!(q.task_done(), Err(TaskDoneError));
    assert_eq!(q.unfinished_tasks(), 0);
    q.put(1).unwrap();
    assert_eq!(q.unfinished_tasks(), 1);
    q.task_done().unwrap();
    assert_eq!(q.task_done(), Err(TaskDoneError), "count went negative");
    assert_eq!(q.unfinished_tasks(), 0);
}

/// `queue_join_test`: two workers sum 0..100 and call `task_done`; `join` returns only once all
/// are done; the workers end on a negative sentinel; joining twice works.
pub(crate) fn queue_join_test<Q: TaskQueue<i64>>(q: &Q) {
    let cum = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let (q, cum) = (q.clone(), Arc::clone(&cum));
            spawn(move || loop {
                let x = q.get_timeout(LONG).expect("the worker got no item");
                if x < 0 {
                    q.task_done().unwrap();
                    return;
                }
                cum.fetch_add(x as usize, Ordering::SeqCst);
                q.task_done().unwrap();
            })
        })
        .collect();
    for i in 0..100 {
        q.put(i).unwrap();
    }
    assert!(q.join_timeout(LONG), "join did not return");
    assert_eq!(
        cum.load(Ordering::SeqCst),
        (0..100).sum::<usize>(),
        "join() did not block until all tasks were done"
    );
    for _ in 0..2 {
        q.put(-1).unwrap(); // instruct the workers to close
    }
    assert!(q.join_timeout(LONG), "joining twice works");
    for w in &workers {
        recv(w);
    }
    assert_eq!(q.unfinished_tasks(), 0);
}

/// `test_queue_join`: `queue_join_test` twice on one queue, then `task_done` is an error.
pub(crate) fn queue_join<Q: TaskQueue<i64>>() {
    let q = Q::unbounded();
    queue_join_test(&q);
    queue_join_test(&q);
    assert_eq!(q.task_done(), Err(TaskDoneError));
}

/// `join` blocks until `task_done` was called for every item put, counted by `unfinished_tasks`.
pub(crate) fn join_blocks_until_every_task_done<Q: TaskQueue<i64>>() {
    let q = Q::unbounded();
    for i in 0..3 {
        q.put(i).unwrap();
    }
    assert_eq!(q.unfinished_tasks(), 3);
    let q2 = q.clone();
    let joined = spawn_blocked(move || q2.join());
    assert_pending(&joined);
    for _ in 0..3 {
        q.get().unwrap();
    }
    assert_eq!(q.unfinished_tasks(), 3, "get does not mark a task done");
    q.task_done().unwrap();
    q.task_done().unwrap();
    assert_eq!(q.unfinished_tasks(), 1);
    assert_pending(&joined);
    q.task_done().unwrap();
    recv(&joined);
    assert_eq!(q.unfinished_tasks(), 0);
    // Several joiners at once, all released by the last task_done.
    q.put(9).unwrap();
    let joiners: Vec<_> = (0..3)
        .map(|_| {
            let q = q.clone();
            spawn_blocked(move || q.join_timeout(LONG))
        })
        .collect();
    for j in &joiners {
        assert_pending(j);
    }
    q.get().unwrap();
    q.task_done().unwrap();
    for j in &joiners {
        assert!(recv(j));
    }
}

/// `join_timeout` is false while an item is unfinished (after waiting the timeout), true at once
/// when none is.
pub(crate) fn join_timeout_false_then_true<Q: TaskQueue<i64>>() {
    let q = Q::unbounded();
    assert!(q.join_timeout(Duration::ZERO), "nothing put: done");
    q.put(1).unwrap();
    let start = Instant::now();
    assert!(!q.join_timeout(SHORT));
    assert_waited(start.elapsed(), SHORT);
    assert!(!q.join_timeout(Duration::ZERO));
    q.get().unwrap();
    assert!(!q.join_timeout(Duration::ZERO), "taken but not done");
    q.task_done().unwrap();
    assert!(promptly(|| q.join_timeout(Duration::ZERO)));
    assert!(promptly(|| q.join_timeout(LONG)));
    assert!(promptly(|| q.join_timeout(Duration::MAX)));
    promptly(|| q.join());
    // join_timeout(Duration::MAX) waits as long as it takes.
    q.put(2).unwrap();
    let q2 = q.clone();
    let joined = spawn_blocked(move || q2.join_timeout(Duration::MAX));
    assert_pending(&joined);
    q.get().unwrap();
    q.task_done().unwrap();
    assert!(recv(&joined));
}

/// A zero timeout tries once: it succeeds when it can, fails at once when it cannot.
pub(crate) fn zero_timeout_tries_once<Q: TaskQueue<i64>>() {
    let q = Q::bounded(1).unwrap();
    assert_eq!(
        promptly(|| q.get_timeout(Duration::ZERO)),
        Err(GetTimeoutError::Timeout)
    );
    assert_eq!(q.put_timeout(1, Duration::ZERO), Ok(()));
    let err = promptly(|| q.put_timeout(2, Duration::ZERO)).unwrap_err();
    assert!(err.is_timeout());
    assert_eq!(err.into_inner(), 2);
    assert_eq!(q.get_timeout(Duration::ZERO), Ok(1));
    assert_eq!(q.qsize(), 0);
    assert_eq!(q.unfinished_tasks(), 1, "the timed-out put is not counted");
}

/// Short timeouts wait about that long, and a put gives its item back.
pub(crate) fn short_timeouts_expire<Q: TaskQueue<i64>>() {
    let q = Q::bounded(1).unwrap();
    let start = Instant::now();
    assert_eq!(q.get_timeout(SHORT), Err(GetTimeoutError::Timeout));
    assert_waited(start.elapsed(), SHORT);
    q.put(1).unwrap();
    let start = Instant::now();
    assert_eq!(q.put_timeout(2, SHORT), Err(PutTimeoutError::Timeout(2)));
    assert_waited(start.elapsed(), SHORT);
    assert_eq!(q.qsize(), 1);
    assert_eq!(q.unfinished_tasks(), 1);
    assert_eq!(q.get_timeout(SHORT), Ok(1));
}

/// `Duration::MAX` waits as long as it takes (no overflow, no early return).
pub(crate) fn max_timeouts_wait<Q: TaskQueue<i64>>() {
    let q = Q::bounded(1).unwrap();
    let q2 = q.clone();
    let r = blocking_test(move || q2.get_timeout(Duration::MAX), || q.put(5).unwrap());
    assert_eq!(r, Ok(5));
    q.put(6).unwrap();
    let q2 = q.clone();
    let r = blocking_test(
        move || q2.put_timeout(7, Duration::MAX),
        || assert_eq!(q.get(), Ok(6)),
    );
    assert_eq!(r, Ok(()));
    assert_eq!(q.get_timeout(Duration::MAX), Ok(7));
}

/// `qsize`/`empty`/`full`/`maxsize`, `new(0)` unbounded (Python's meaning), `bounded(0)` an error.
pub(crate) fn sizes<Q: TaskQueue<i64>>() {
    let q = Q::new(0);
    assert_eq!(q.maxsize(), None);
    for i in 0..10_000 {
        q.try_put(i).unwrap();
        assert!(!q.full(), "an unbounded queue is never full");
    }
    assert_eq!(q.qsize(), 10_000);
    assert!(!q.empty());
    assert_eq!(Q::unbounded().maxsize(), None);
    assert!(!Q::unbounded().full());
    assert_eq!(Q::bounded(0).unwrap_err(), ZeroCapacity);
    assert!(!ZeroCapacity.to_string().is_empty());

    let q = Q::new(3);
    assert_eq!(q.maxsize(), Some(3));
    let q = Q::bounded(2).unwrap();
    assert_eq!(q.maxsize(), Some(2));
    assert!(q.empty() && !q.full() && q.qsize() == 0);
    q.put(1).unwrap();
    assert!(!q.empty() && !q.full() && q.qsize() == 1);
    q.put(2).unwrap();
    assert!(!q.empty() && q.full() && q.qsize() == 2);
    assert!(q.try_put(3).unwrap_err().is_full());
    q.get().unwrap();
    assert!(!q.full() && q.qsize() == 1);
    q.get().unwrap();
    assert!(q.empty() && q.qsize() == 0);

    let q = Q::bounded(1).unwrap();
    q.put(1).unwrap();
    assert!(q.full());
    let dbg = format!("{q:?}");
    assert!(dbg.contains("qsize: 1"), "{dbg}");
}

/// Clones are handles to one queue: items, counts and shutdown are shared.
pub(crate) fn clones_share_state<Q: TaskQueue<i64>>() {
    let q = Q::bounded(4).unwrap();
    let q2 = q.clone();
    q.put(1).unwrap();
    assert_eq!(q2.qsize(), 1);
    assert_eq!(q2.unfinished_tasks(), 1);
    assert_eq!(q2.get(), Ok(1));
    assert!(q.empty());
    q2.task_done().unwrap();
    assert_eq!(q.unfinished_tasks(), 0);
    // A clone on another thread.
    let q3 = q.clone();
    within(move || q3.put(2).unwrap());
    assert_eq!(q2.get_timeout(LONG), Ok(2));
    drop(q2);
    assert_eq!(q.unfinished_tasks(), 1, "dropping a handle changes nothing");
    let q4 = q.clone();
    q4.shutdown();
    assert!(q.is_shutdown());
    assert_eq!(q.put(3), Err(PutError(3)));
}

/// `iter` takes items until the queue is shut down and drained, and a thread blocked in it
/// wakes up at shutdown.
pub(crate) fn iter_ends_after_shutdown_and_drain<Q: TaskQueue<i64>>() {
    let q = Q::unbounded();
    for i in [3, 1, 2] {
        q.put(i).unwrap();
    }
    q.shutdown();
    let q2 = q.clone();
    let got = within(move || q2.iter().collect::<Vec<_>>());
    assert_eq!(got, expected(Q::KIND, &[3, 1, 2]));
    assert_eq!(q.iter().next(), None);

    let q = Q::unbounded();
    let q2 = q.clone();
    let got = spawn_blocked(move || {
        let v: Vec<i64> = q2.iter().collect();
        v
    });
    assert_pending(&got);
    q.put(4).unwrap();
    assert_pending(&got);
    q.shutdown();
    assert_eq!(recv(&got), [4]);
}

/// `Default` is Python's `Queue()` with no `maxsize`: unbounded.
pub(crate) fn default_is_unbounded<Q: TaskQueue<i64> + Default>() {
    let q = Q::default();
    assert_eq!(q.maxsize(), None);
    for i in 0..1000 {
        q.try_put(i).unwrap();
    }
    assert_eq!(q.qsize(), 1000);
    assert!(!q.full());
}

/// `for item in &q` is `q.iter()`, and an ended iterator stays ended (`FusedIterator`): the
/// queue is shut down and drained for good.
pub(crate) fn iter_by_reference_and_fused<Q>()
where
    Q: TaskQueue<i64>,
    for<'a> &'a Q: IntoIterator<Item = i64, IntoIter = Iter<'a, i64>>,
{
    fn is_fused<I: std::iter::FusedIterator>(_: &I) {}
    let q = Q::unbounded();
    for i in [3, 1, 2] {
        q.put(i).unwrap();
    }
    q.shutdown();
    let q2 = q.clone();
    let got = within(move || {
        let mut got = Vec::new();
        for item in &q2 {
            got.push(item);
        }
        got
    });
    assert_eq!(got, expected(Q::KIND, &[3, 1, 2]));
    let mut it = q.iter();
    is_fused(&it);
    assert_eq!(it.next(), None);
    assert!(q.put(4).is_err());
    assert_eq!(it.next(), None);
}

/// `test_references`: an item leaves the queue (no clone kept) as soon as it is taken, and
/// items still queued are dropped with the queue.
pub(crate) fn items_leave_the_queue<Q: TaskQueue<Arc<u32>>>() {
    let q = Q::bounded(20).unwrap();
    let mut weak = Vec::new();
    for i in 0..20 {
        let item = Arc::new(i);
        weak.push(Arc::downgrade(&item));
        q.put(item).unwrap();
    }
    // A refused item comes back as the very same value.
    let extra = Arc::new(99);
    let back = q.try_put(Arc::clone(&extra)).unwrap_err().into_inner();
    assert!(Arc::ptr_eq(&back, &extra));
    drop(back);
    assert_eq!(Arc::strong_count(&extra), 1);
    for _ in 0..20 {
        let item = q.get().unwrap();
        let w = Arc::downgrade(&item);
        drop(item);
        assert!(w.upgrade().is_none(), "the queue kept a reference");
    }
    assert!(weak.iter().all(|w| w.upgrade().is_none()));

    // Dropping the last handle drops what is still queued.
    let q = Q::unbounded();
    let kept: Vec<_> = (0..5).map(Arc::new).collect();
    for item in &kept {
        q.put(Arc::clone(item)).unwrap();
    }
    let q2 = q.clone();
    drop(q);
    assert!(
        kept.iter().all(|k| Arc::strong_count(k) == 2),
        "a handle is left"
    );
    drop(q2);
    assert!(
        kept.iter().all(|k| Arc::strong_count(k) == 1),
        "queued items leaked"
    );
}

/// Items whose `Drop` panics: the queue itself never drops an item it hands on (get, refused
/// put, shutdown), so put/get work and the panic happens where the caller drops the item.
/// Dropping the last handle of a queue that still holds such an item propagates the panic to the
/// code dropping the handle (caught here, so not a double panic). Returns how many of the
/// `OTHERS` plain items queued with the bomb were dropped by then (each variant's file asserts
/// what its storage guarantees).
pub(crate) fn panicking_drop<Q: TaskQueue<Droppy>>() -> usize {
    let drops = Arc::new(AtomicUsize::new(0));
    let q = Q::bounded(2).unwrap();
    q.put(Droppy::new(1, true, &drops)).unwrap();
    q.put(Droppy::new(2, true, &drops)).unwrap();
    let refused = q.try_put(Droppy::new(3, true, &drops)).unwrap_err();
    assert!(refused.is_full());
    refused.into_inner().defuse();
    let timed_out = q
        .put_timeout(Droppy::new(4, true, &drops), Duration::ZERO)
        .unwrap_err();
    timed_out.into_inner().defuse();
    assert_eq!(drops.load(Ordering::SeqCst), 2, "only the defused ones");
    let item = q.get().unwrap();
    assert!(item.armed);
    // Dropping the taken item panics in the caller, not in the queue.
    assert!(catch_unwind(AssertUnwindSafe(|| drop(item))).is_err());
    assert_eq!(drops.load(Ordering::SeqCst), 3);
    q.task_done().unwrap();
    q.shutdown();
    let err = q.put(Droppy::new(5, true, &drops)).unwrap_err();
    err.into_inner().defuse();
    let left = q.get().unwrap();
    left.defuse();
    assert!(q.empty());
    q.task_done().unwrap();
    assert!(q.join_timeout(Duration::ZERO));

    // shutdown_immediate hands the bombs back instead of dropping them.
    let q = Q::unbounded();
    q.put(Droppy::new(6, true, &drops)).unwrap();
    let left = q.shutdown_immediate();
    assert_eq!(left.len(), 1);
    left.into_iter().for_each(Droppy::defuse);

    // The last handle dropped with a bomb (and OTHERS plain items) inside.
    const OTHERS: usize = 4;
    let others = Arc::new(AtomicUsize::new(0));
    let q = Q::unbounded();
    for k in 10..10 + OTHERS as u32 / 2 {
        q.put(Droppy::new(k, false, &others)).unwrap();
    }
    q.put(Droppy::new(20, true, &drops)).unwrap();
    for k in 30..30 + OTHERS as u32 / 2 {
        q.put(Droppy::new(k, false, &others)).unwrap();
    }
    let before = drops.load(Ordering::SeqCst);
    let q2 = q.clone();
    drop(q);
    assert_eq!(drops.load(Ordering::SeqCst), before, "not the last handle");
    let dropped = catch_unwind(AssertUnwindSafe(move || drop(q2)));
    assert!(
        dropped.is_err(),
        "the panic of an item's drop reaches whoever drops the last handle"
    );
    assert_eq!(
        drops.load(Ordering::SeqCst),
        before + 1,
        "the bomb went off"
    );
    others.load(Ordering::SeqCst)
}

/// The last handle of `q` dropped with two items that panic when dropped (even while unwinding)
/// among plain ones: one panic reaches whoever drops it, and every item is dropped, not just
/// the ones before the first panic (a `Vec` dropping the rest while unwinding would abort).
pub(crate) fn two_relentless_bombs_in_the_last_handle<Q: TaskQueue<Droppy>>(q: Q) {
    let drops = Arc::new(AtomicUsize::new(0));
    q.put(Droppy::new(1, false, &drops)).unwrap();
    q.put(Droppy::relentless(2, &drops)).unwrap();
    q.put(Droppy::new(3, false, &drops)).unwrap();
    q.put(Droppy::relentless(4, &drops)).unwrap();
    let dropped = catch_unwind(AssertUnwindSafe(move || drop(q)));
    assert!(dropped.is_err(), "one of the panics reaches the caller");
    assert_eq!(drops.load(Ordering::SeqCst), 4, "every item was dropped");
}

// ---------------------------------------------------------------------------------------------
// Shutdown scenarios (CPython 3.13's test_shutdown_*)
// ---------------------------------------------------------------------------------------------

/// Shuts `q` down, immediately or not; returns the items `shutdown_immediate` handed back.
pub(crate) fn shut<Q: TaskQueue<i64>>(q: &Q, immediate: bool) -> Vec<i64> {
    if immediate {
        q.shutdown_immediate()
    } else {
        q.shutdown();
        Vec::new()
    }
}

/// `test_shutdown_empty`: every put fails with its item back, every get fails, promptly.
pub(crate) fn shutdown_empty<Q: TaskQueue<i64>>() {
    let q = Q::unbounded();
    assert!(!q.is_shutdown());
    q.shutdown();
    assert!(q.is_shutdown());
    let err = q.put(1).unwrap_err();
    assert_eq!(err, PutError(1));
    assert_eq!(err.into_inner(), 1);
    assert!(!PutError(1).to_string().is_empty());
    assert_eq!(q.try_put(2), Err(TryPutError::ShutDown(2)));
    assert!(!q.try_put(2).unwrap_err().is_full());
    assert_eq!(
        promptly(|| q.put_timeout(3, LONG)),
        Err(PutTimeoutError::ShutDown(3))
    );
    assert!(!q.put_timeout(3, LONG).unwrap_err().is_timeout());
    assert_eq!(promptly(|| q.get()), Err(GetError));
    assert_eq!(q.try_get(), Err(TryGetError::ShutDown));
    assert_eq!(
        promptly(|| q.get_timeout(LONG)),
        Err(GetTimeoutError::ShutDown)
    );
    assert_eq!(q.unfinished_tasks(), 0, "refused puts are not counted");
    assert!(q.join_timeout(Duration::ZERO));
    assert_eq!(q.qsize(), 0);
}

/// `test_shutdown_nonempty`: gets drain what is left, then fail.
pub(crate) fn shutdown_nonempty<Q: TaskQueue<i64>>() {
    let q = Q::bounded(3).unwrap();
    for i in [2, 1, 3] {
        q.put(i).unwrap();
    }
    q.shutdown();
    let got = vec![
        q.get().unwrap(),
        q.try_get().unwrap(),
        q.get_timeout(LONG).unwrap(),
    ];
    assert_eq!(got, expected(Q::KIND, &[2, 1, 3]));
    assert_eq!(promptly(|| q.get()), Err(GetError));
    assert_eq!(q.try_get(), Err(TryGetError::ShutDown));
    assert_eq!(q.unfinished_tasks(), 3);
    assert!(
        !q.join_timeout(Duration::ZERO),
        "shutdown does not mark tasks done"
    );
    for _ in 0..3 {
        q.task_done().unwrap();
    }
    assert!(q.join_timeout(Duration::ZERO));
}

/// `test_shutdown_immediate`: the items left come back in the order gets would have taken them,
/// count as done, and gets fail at once.
pub(crate) fn shutdown_immediate_returns_leftovers<Q: TaskQueue<i64>>() {
    let q = Q::bounded(5).unwrap();
    for i in [4, 9, 1, 7] {
        q.put(i).unwrap();
    }
    assert_eq!(q.unfinished_tasks(), 4);
    let left = q.shutdown_immediate();
    assert_eq!(left, expected(Q::KIND, &[4, 9, 1, 7]));
    assert!(q.is_shutdown());
    assert_eq!(q.qsize(), 0);
    assert_eq!(q.unfinished_tasks(), 0, "the leftovers count as done");
    assert_eq!(q.task_done(), Err(TaskDoneError));
    assert_eq!(promptly(|| q.get()), Err(GetError));
    assert_eq!(q.try_get(), Err(TryGetError::ShutDown));
    assert_eq!(
        promptly(|| q.get_timeout(LONG)),
        Err(GetTimeoutError::ShutDown)
    );
    assert_eq!(q.put(5), Err(PutError(5)));
    promptly(|| q.join());
    assert_eq!(q.shutdown_immediate(), Vec::<i64>::new(), "nothing left");
}

/// A get that starts once `shutdown_immediate` can be seen (`is_shutdown`) fails, while the
/// shutdown is still taking the items out: it takes none of those the caller gets back, as in
/// Python, whose shutdown empties the queue under its lock. The queue is long, so the getter
/// starts while the shutdown drains.
pub(crate) fn no_get_starts_after_shutdown_immediate_is_seen<Q: TaskQueue<i64>>(
    make: impl Fn() -> Q,
) {
    const ITEMS: i64 = 20_000;
    for round in 0..20 {
        let q = make();
        for i in 0..ITEMS {
            q.put(i).unwrap();
        }
        let started = Gate::new();
        let getter = {
            let (q, started) = (q.clone(), Arc::clone(&started));
            spawn(move || {
                started.open();
                while !q.is_shutdown() {
                    std::hint::spin_loop();
                }
                q.get()
            })
        };
        started.wait();
        let left = q.shutdown_immediate();
        assert_eq!(recv(&getter), Err(GetError), "round {round}");
        assert_eq!(left.len() as i64, ITEMS, "round {round}");
        assert_eq!(q.unfinished_tasks(), 0, "round {round}");
    }
}

/// `test_shutdown_allowed_transitions`: open -> shutdown -> immediate; shutdown again is harmless.
pub(crate) fn shutdown_allowed_transitions<Q: TaskQueue<i64>>() {
    let q = Q::unbounded();
    assert!(!q.is_shutdown());
    q.put(1).unwrap();
    q.put(2).unwrap();
    q.shutdown();
    assert!(q.is_shutdown());
    q.shutdown();
    assert!(q.is_shutdown());
    // Immediate after a plain shutdown still returns what was left.
    assert_eq!(q.shutdown_immediate(), expected(Q::KIND, &[1, 2]));
    assert!(q.is_shutdown());
    q.shutdown();
    assert!(q.is_shutdown());
    assert_eq!(q.try_get(), Err(TryGetError::ShutDown));
    assert_eq!(q.unfinished_tasks(), 0);
}

// Python's "L", "O", "E", "W" messages.
const L: i64 = 1;
const O: i64 = 2;
const E: i64 = 3;
const W: i64 = 4;
// Python's "Y", "D".
const Y: i64 = 5;
const D: i64 = 6;

/// `_shutdown_all_methods_in_one_thread`.
pub(crate) fn shutdown_all_methods_in_one_thread<Q: TaskQueue<i64>>(immediate: bool) {
    let q = Q::bounded(2).unwrap();
    q.put(L).unwrap();
    q.try_put(O).unwrap();
    let left = shut(&q, immediate);
    assert_eq!(promptly(|| q.put(E)), Err(PutError(E)));
    assert_eq!(q.try_put(W), Err(TryPutError::ShutDown(W)));
    if immediate {
        assert_eq!(left, expected(Q::KIND, &[L, O]));
        assert_eq!(promptly(|| q.get()), Err(GetError));
        assert_eq!(q.try_get(), Err(TryGetError::ShutDown));
        assert_eq!(q.task_done(), Err(TaskDoneError));
        promptly(|| q.join());
    } else {
        assert!([L, O].contains(&q.get().unwrap()));
        q.task_done().unwrap();
        assert!([L, O].contains(&q.get().unwrap()));
        q.task_done().unwrap();
        promptly(|| q.join());
        // Shut down and empty: ShutDown, for every form of get.
        assert_eq!(promptly(|| q.get()), Err(GetError));
        assert_eq!(q.try_get(), Err(TryGetError::ShutDown));
        assert_eq!(
            promptly(|| q.get_timeout(Duration::from_secs(1))),
            Err(GetTimeoutError::ShutDown)
        );
    }
}

/// `_shutdown_get`: getters that call `get` after the shutdown of a full queue: with a plain
/// shutdown two get the items and the third fails; with an immediate one both fail.
pub(crate) fn shutdown_get<Q: TaskQueue<i64>>(immediate: bool) {
    let q = Q::bounded(2).unwrap();
    q.put(Y).unwrap();
    q.put(D).unwrap();
    let go = Gate::new();
    let n = if immediate { 2 } else { 3 };
    let getters: Vec<_> = (0..n)
        .map(|_| {
            let (q, go) = (q.clone(), Arc::clone(&go));
            spawn(move || {
                go.wait();
                q.get()
            })
        })
        .collect();
    let left = shut(&q, immediate);
    go.open();
    let results: Vec<_> = getters.iter().map(recv).collect();
    if immediate {
        assert_eq!(left, expected(Q::KIND, &[Y, D]));
        assert_eq!(results, [Err(GetError), Err(GetError)]);
    } else {
        let mut got: Vec<Option<i64>> = results.into_iter().map(Result::ok).collect();
        got.sort();
        assert_eq!(got, [None, Some(Y), Some(D)]);
    }
}

/// Threads blocked in `get`, `get_timeout` and `iter` on an empty queue all wake with an error at
/// shutdown (`test_shutdown_pending_get`, for several waiters).
pub(crate) fn shutdown_wakes_blocked_getters<Q: TaskQueue<i64>>(immediate: bool) {
    let q = Q::unbounded();
    let mut getters = Vec::new();
    for _ in 0..3 {
        let q = q.clone();
        getters.push(spawn_blocked(move || q.get().map_err(|_| ())));
    }
    let q2 = q.clone();
    getters.push(spawn_blocked(move || q2.get_timeout(LONG).map_err(|_| ())));
    let q2 = q.clone();
    getters.push(spawn_blocked(move || q2.iter().next().ok_or(())));
    for g in &getters {
        assert_pending(g);
    }
    assert_eq!(shut(&q, immediate), Vec::<i64>::new());
    for g in &getters {
        assert_eq!(recv(g), Err(()));
    }
}

/// `_shutdown_put`, plus putters already blocked on the full queue: every put fails with its own
/// item back and the queue keeps what it had.
pub(crate) fn shutdown_put<Q: TaskQueue<i64>>(immediate: bool) {
    let q = Q::bounded(2).unwrap();
    q.put(Y).unwrap();
    q.put(D).unwrap();
    let go = Gate::new();
    let late: Vec<_> = [E, W]
        .into_iter()
        .map(|item| {
            let (q, go) = (q.clone(), Arc::clone(&go));
            spawn(move || {
                go.wait();
                q.put(item)
            })
        })
        .collect();
    let blocked: Vec<_> = [10, 11, 12]
        .into_iter()
        .map(|item| {
            let q = q.clone();
            spawn_blocked(move || q.put(item))
        })
        .collect();
    let q2 = q.clone();
    let blocked_timeout = spawn_blocked(move || q2.put_timeout(13, LONG));
    for b in &blocked {
        assert_pending(b);
    }
    let left = shut(&q, immediate);
    go.open();
    assert_eq!(recv(&late[0]), Err(PutError(E)));
    assert_eq!(recv(&late[1]), Err(PutError(W)));
    for (b, item) in blocked.iter().zip([10, 11, 12]) {
        assert_eq!(recv(b), Err(PutError(item)));
    }
    assert_eq!(recv(&blocked_timeout), Err(PutTimeoutError::ShutDown(13)));
    if immediate {
        assert_eq!(left, expected(Q::KIND, &[Y, D]));
        assert_eq!(q.qsize(), 0);
        assert_eq!(q.unfinished_tasks(), 0);
    } else {
        assert_eq!(q.qsize(), 2);
        assert_eq!(q.unfinished_tasks(), 2, "failed puts are not counted");
        let got = vec![q.get().unwrap(), q.get().unwrap()];
        assert_eq!(got, expected(Q::KIND, &[Y, D]));
    }
}

/// `_shutdown_join`: joiners return once the item is done (plain shutdown: a worker takes it and
/// calls `task_done`; immediate: it is discarded and counted as done).
pub(crate) fn shutdown_join<Q: TaskQueue<i64>>(immediate: bool) {
    let q = Q::unbounded();
    q.put(Y).unwrap();
    let joiners: Vec<_> = (0..2)
        .map(|_| {
            let q = q.clone();
            spawn_blocked(move || q.join_timeout(LONG))
        })
        .collect();
    for j in &joiners {
        assert_pending(j);
    }
    let go = Gate::new();
    let worker = (!immediate).then(|| {
        let (q, go) = (q.clone(), Arc::clone(&go));
        spawn(move || {
            go.wait();
            let item = q.get();
            q.task_done().unwrap();
            item
        })
    });
    let left = shut(&q, immediate);
    go.open();
    for j in &joiners {
        assert!(recv(j), "join did not return");
    }
    match worker {
        Some(w) => assert_eq!(recv(&w), Ok(Y)),
        None => assert_eq!(left, [Y]),
    }
    assert_eq!(q.unfinished_tasks(), 0);
}

/// `_shutdown_put_join`: a put after the shutdown fails; a joiner returns once the one item is
/// done (taken and `task_done` after a plain shutdown, discarded by an immediate one).
pub(crate) fn shutdown_put_join<Q: TaskQueue<i64>>(immediate: bool) {
    let q = Q::bounded(2).unwrap();
    q.put(Y).unwrap();
    let go = Gate::new();
    let (q2, go2) = (q.clone(), Arc::clone(&go));
    let putter = spawn(move || {
        go2.wait();
        q2.put(E)
    });
    let q2 = q.clone();
    let joiner = spawn_blocked(move || q2.join_timeout(LONG));
    assert_eq!(q.unfinished_tasks(), 1);
    let left = shut(&q, immediate);
    go.open();
    if immediate {
        assert_eq!(left, [Y]);
        assert_eq!(q.try_get(), Err(TryGetError::ShutDown));
    } else {
        assert_pending(&joiner);
        assert_eq!(q.get_timeout(LONG), Ok(Y));
        q.task_done().unwrap();
    }
    assert_eq!(recv(&putter), Err(PutError(E)));
    assert!(recv(&joiner));
}

/// `test_shutdown_get_task_done_join`: after a plain shutdown, workers still take the items and
/// mark them done, and the joiners return.
pub(crate) fn shutdown_get_task_done_join<Q: TaskQueue<i64>>() {
    let q = Q::bounded(2).unwrap();
    q.put(Y).unwrap();
    q.put(D).unwrap();
    assert_eq!(q.unfinished_tasks(), q.qsize());
    let go = Gate::new();
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let (q, go) = (q.clone(), Arc::clone(&go));
            spawn(move || {
                go.wait();
                let item = q.get();
                if item.is_ok() {
                    q.task_done().unwrap();
                }
                item
            })
        })
        .collect();
    let joiners: Vec<_> = (0..2)
        .map(|_| {
            let q = q.clone();
            spawn(move || q.join_timeout(LONG))
        })
        .collect();
    go.open();
    q.shutdown();
    let mut got: Vec<Option<i64>> = workers.iter().map(|w| recv(w).ok()).collect();
    got.sort();
    assert_eq!(got, [Some(Y), Some(D)]);
    for j in &joiners {
        assert!(recv(j));
    }
}

/// `test_shutdown_pending_get`: one thread blocked in `get` on an empty queue wakes with
/// ShutDown at a plain shutdown.
pub(crate) fn shutdown_pending_get<Q: TaskQueue<i64>>() {
    let q = Q::unbounded();
    let q2 = q.clone();
    let getter = spawn_blocked(move || q2.get());
    assert_pending(&getter);
    q.shutdown();
    assert_eq!(recv(&getter), Err(GetError));
}

/// After `shutdown_immediate`, `join` waits for the items taken before it (in flight) and no
/// longer for the ones it discarded.
pub(crate) fn shutdown_immediate_join_waits_for_in_flight<Q: TaskQueue<i64>>() {
    let q = Q::unbounded();
    for i in 0..4 {
        q.put(i).unwrap();
    }
    let a = q.get().unwrap();
    let b = q.get().unwrap();
    assert_eq!(vec![a, b], expected(Q::KIND, &[0, 1, 2, 3])[..2]);
    let q2 = q.clone();
    let joiner = spawn_blocked(move || q2.join_timeout(LONG));
    assert_pending(&joiner);
    let left = q.shutdown_immediate();
    assert_eq!(left, expected(Q::KIND, &[0, 1, 2, 3])[2..]);
    assert_eq!(q.unfinished_tasks(), 2, "the two taken items are in flight");
    assert_pending(&joiner);
    q.task_done().unwrap();
    assert_pending(&joiner);
    q.task_done().unwrap();
    assert!(recv(&joiner));
    assert_eq!(q.task_done(), Err(TaskDoneError));
}

/// Three threads that put 1 until a put fails, each sending back how many puts returned `Ok`.
fn putting_threads<Q: TaskQueue<i64>>(q: &Q) -> Vec<Receiver<usize>> {
    (0..3)
        .map(|_| {
            let q = q.clone();
            spawn(move || {
                let mut ok = 0;
                while q.put(1).is_ok() {
                    ok += 1;
                }
                ok
            })
        })
        .collect()
}

/// Puts racing a plain `shutdown`: three threads put as fast as they can while this thread shuts
/// the queue down and drains it until a get reports ShutDown ("shut down and empty"). Every put
/// that returned `Ok` must have been drained by then, as in Python (where `put` checks and
/// appends under one lock): an item that lands after the consumers were told the queue is
/// drained is stranded, and `join` would wait for it forever. 200 rounds.
pub(crate) fn puts_racing_shutdown_are_never_stranded<Q: TaskQueue<i64>>() {
    let mut stranded_rounds = 0;
    let mut stranded_items = 0;
    for _ in 0..200 {
        let q = Q::unbounded();
        let putters = putting_threads(&q);
        wait_until("items flow", || q.qsize() >= 200);
        q.shutdown();
        let mut drained = 0;
        loop {
            match q.try_get() {
                Ok(_) => drained += 1,
                Err(TryGetError::ShutDown) => break,
                Err(TryGetError::Empty) => panic!("Empty from a queue that was shut down"),
            }
        }
        let ok: usize = putters.iter().map(recv).sum();
        let left = q.qsize();
        assert_eq!(ok, drained + left, "items lost");
        if left > 0 {
            stranded_rounds += 1;
            stranded_items += left;
        }
    }
    assert_eq!(
        (stranded_rounds, stranded_items),
        (0, 0),
        "(rounds, items): puts that returned Ok landed after a get had reported the queue shut \
         down and drained"
    );
}

/// Puts racing `shutdown_immediate`: three threads put (blocking on a full queue, which
/// `make` may give) while this thread shuts the queue down at once. A put under way when the
/// shutdown is called finishes first (documented), so every put that returned `Ok` is among the
/// items it returns, nothing is left in the queue, nothing is unfinished, and a second call
/// returns nothing: an item landing after the drain would be stranded, and `join` would wait
/// for it forever. 100 rounds.
pub(crate) fn puts_racing_shutdown_immediate_all_come_back<Q: TaskQueue<i64>>(
    make: impl Fn() -> Q,
) {
    for _ in 0..100 {
        let q = make();
        let putters = putting_threads(&q);
        wait_until("items flow", || q.qsize() >= 50);
        let left = q.shutdown_immediate().len();
        let ok: usize = putters.iter().map(recv).sum();
        assert_eq!(
            ok, left,
            "puts that returned Ok against the items handed back"
        );
        assert_eq!(q.qsize(), 0);
        assert_eq!(q.unfinished_tasks(), 0);
        assert_eq!(q.shutdown_immediate(), [], "a put landed after the drain");
    }
}

/// `task_done` may be called before the matching `get` (Python allows it while the count is
/// positive). `shutdown_immediate` then discards items already counted done: like Python, which
/// decrements `unfinished_tasks` only while it is positive, the count stops at zero instead of
/// wrapping around.
pub(crate) fn shutdown_immediate_after_early_task_done<Q: TaskQueue<i64>>() {
    let q = Q::unbounded();
    q.put(1).unwrap();
    q.put(2).unwrap();
    q.task_done().unwrap();
    q.task_done().unwrap();
    assert_eq!(q.unfinished_tasks(), 0);
    assert_eq!(q.shutdown_immediate(), expected(Q::KIND, &[1, 2]));
    assert_eq!(q.unfinished_tasks(), 0, "the count wrapped around");
    assert!(q.join_timeout(Duration::ZERO));
    assert_eq!(q.task_done(), Err(TaskDoneError));
}

/// `_shutdown_all_methods_in_many_threads`: 4 writers, 6 readers (and, for an immediate
/// shutdown, 2 joiners) run while one writer triggers the shutdown half-way; everyone ends, every
/// reader sees ShutDown, and no item is lost or duplicated: what was put equals what readers got
/// plus what `shutdown_immediate` handed back.
///
/// A put racing `shutdown_immediate` either fails or lands before its drain ends (documented:
/// puts under way finish first), so the items it returns are all that is left: the joiners
/// return without help, and a second `shutdown_immediate` once the writers ended finds nothing.
/// For a plain shutdown, a put that returned `Ok` must likewise be drained before the readers
/// see ShutDown (see `puts_racing_shutdown_are_never_stranded`).
pub(crate) fn shutdown_all_methods_in_many_threads<Q: TaskQueue<i64>>(immediate: bool) {
    const WRITERS: usize = 4;
    const READERS: usize = 6;
    const JOINERS: usize = 2;
    const NB_MSGS: usize = 1024 * 64;
    const PER_WRITER: usize = NB_MSGS / WRITERS;
    const WHEN: usize = PER_WRITER / 2;
    let q = Q::unbounded();
    let parties = WRITERS + READERS + if immediate { JOINERS } else { 0 };
    let barrier = TimedBarrier::new(parties);
    let triggered = Arc::new(AtomicBool::new(false));
    let (shutdown_tx, shutdown_rx) = mpsc::channel::<()>();

    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (q, barrier, triggered) = (q.clone(), Arc::clone(&barrier), Arc::clone(&triggered));
            let shutdown_tx = shutdown_tx.clone();
            spawn(move || {
                let base = (w * PER_WRITER) as i64;
                let mut put = Vec::new();
                for i in 0..WHEN / 2 {
                    q.put(base + i as i64).unwrap();
                    put.push(base + i as i64);
                }
                barrier.wait();
                for i in WHEN / 2..PER_WRITER {
                    match q.put(base + i as i64) {
                        Ok(()) => put.push(base + i as i64),
                        Err(e) => {
                            assert_eq!(e.into_inner(), base + i as i64);
                            break;
                        }
                    }
                    if i == WHEN && !triggered.swap(true, Ordering::SeqCst) {
                        shutdown_tx.send(()).unwrap();
                    }
                }
                put
            })
        })
        .collect();
    drop(shutdown_tx);
    let readers: Vec<_> = (0..READERS)
        .map(|_| {
            let (q, barrier) = (q.clone(), Arc::clone(&barrier));
            spawn(move || {
                let mut got = vec![q.get_timeout(LONG).expect("no first item")];
                q.task_done().unwrap();
                barrier.wait();
                loop {
                    match q.get_timeout(LONG) {
                        Ok(item) => {
                            got.push(item);
                            q.task_done().unwrap();
                        }
                        Err(GetTimeoutError::ShutDown) => return got,
                        Err(GetTimeoutError::Timeout) => panic!("a reader starved"),
                    }
                }
            })
        })
        .collect();
    let joiners: Vec<_> = (0..if immediate { JOINERS } else { 0 })
        .map(|_| {
            let (q, barrier) = (q.clone(), Arc::clone(&barrier));
            spawn(move || {
                barrier.wait();
                q.join_timeout(LONG)
            })
        })
        .collect();
    let shutter = {
        let q = q.clone();
        spawn(move || {
            shutdown_rx
                .recv_timeout(LONG)
                .expect("no writer triggered the shutdown");
            shut(&q, immediate)
        })
    };

    let mut put: Vec<i64> = writers.iter().flat_map(recv).collect();
    let mut got: Vec<i64> = readers.iter().flat_map(recv).collect();
    got.extend(recv(&shutter));
    assert!(triggered.load(Ordering::SeqCst));
    for j in &joiners {
        assert!(recv(j), "a joiner did not return");
    }
    if immediate {
        let stranded = q.shutdown_immediate();
        assert!(
            stranded.is_empty(),
            "{} puts landed after the drain",
            stranded.len()
        );
    }
    assert!(q.empty());
    assert_eq!(q.unfinished_tasks(), 0);
    put.sort_unstable();
    got.sort_unstable();
    assert_eq!(put.len(), got.len(), "items lost or duplicated");
    assert_eq!(put, got);
}

/// The scenarios the three task-tracking queues share, whatever their order (CPython's
/// `BaseQueueTestMixin`, including its `test_shutdown_*` cases): `shared_queue_tests!(Q)` writes
/// one `#[test]` per scenario for queue type `Q`.
#[allow(
    unused_macros,
    reason = "only the task-tracking queues' test files use it"
)]
macro_rules! shared_queue_tests {
    ($q:ty) => {
        #[test]
        fn basic() {
            // test_basic: twice on the same queue.
            let q = <$q>::new(common::QUEUE_SIZE);
            common::basic_queue_test(&q);
            common::basic_queue_test(&q);
        }

        #[test]
        fn nowait() {
            common::nowait::<$q>();
        }

        #[test]
        fn task_done_on_fresh_queue_is_an_error() {
            common::task_done_on_fresh_queue::<$q>();
        }

        #[test]
        fn queue_join() {
            common::queue_join::<$q>();
        }

        #[test]
        fn join_blocks_until_every_item_is_done() {
            common::join_blocks_until_every_task_done::<$q>();
        }

        #[test]
        fn join_timeout_is_false_then_true() {
            common::join_timeout_false_then_true::<$q>();
        }

        #[test]
        fn zero_timeout_tries_once() {
            common::zero_timeout_tries_once::<$q>();
        }

        #[test]
        fn short_timeouts_expire_and_give_the_item_back() {
            common::short_timeouts_expire::<$q>();
        }

        #[test]
        fn duration_max_waits() {
            common::max_timeouts_wait::<$q>();
        }

        #[test]
        fn sizes_and_constructors() {
            common::sizes::<$q>();
        }

        #[test]
        fn clones_share_one_queue() {
            common::clones_share_state::<$q>();
        }

        #[test]
        fn iter_ends_after_shutdown_and_drain() {
            common::iter_ends_after_shutdown_and_drain::<$q>();
        }

        #[test]
        fn default_is_unbounded() {
            common::default_is_unbounded::<$q>();
        }

        #[test]
        fn iter_by_reference_and_fused() {
            common::iter_by_reference_and_fused::<$q>();
        }

        #[test]
        fn shutdown_empty() {
            common::shutdown_empty::<$q>();
        }

        #[test]
        fn shutdown_nonempty() {
            common::shutdown_nonempty::<$q>();
        }

        #[test]
        fn shutdown_immediate() {
            common::shutdown_immediate_returns_leftovers::<$q>();
        }

        #[test]
        fn shutdown_allowed_transitions() {
            common::shutdown_allowed_transitions::<$q>();
        }

        #[test]
        fn no_get_starts_after_shutdown_immediate_is_seen() {
            common::no_get_starts_after_shutdown_immediate_is_seen(<$q>::unbounded);
            common::no_get_starts_after_shutdown_immediate_is_seen(|| {
                <$q>::bounded(1 << 16).unwrap()
            });
        }

        #[test]
        fn shutdown_all_methods_in_one_thread() {
            common::shutdown_all_methods_in_one_thread::<$q>(false);
        }

        #[test]
        fn shutdown_immediate_all_methods_in_one_thread() {
            common::shutdown_all_methods_in_one_thread::<$q>(true);
        }

        #[test]
        fn shutdown_all_methods_in_many_threads() {
            common::shutdown_all_methods_in_many_threads::<$q>(false);
        }

        #[test]
        fn shutdown_immediate_all_methods_in_many_threads() {
            common::shutdown_all_methods_in_many_threads::<$q>(true);
        }

        #[test]
        fn shutdown_get() {
            common::shutdown_get::<$q>(false);
        }

        #[test]
        fn shutdown_immediate_get() {
            common::shutdown_get::<$q>(true);
        }

        #[test]
        fn shutdown_wakes_blocked_getters() {
            common::shutdown_wakes_blocked_getters::<$q>(false);
        }

        #[test]
        fn shutdown_immediate_wakes_blocked_getters() {
            common::shutdown_wakes_blocked_getters::<$q>(true);
        }

        #[test]
        fn shutdown_put() {
            common::shutdown_put::<$q>(false);
        }

        #[test]
        fn shutdown_immediate_put() {
            common::shutdown_put::<$q>(true);
        }

        #[test]
        fn shutdown_join() {
            common::shutdown_join::<$q>(false);
        }

        #[test]
        fn shutdown_immediate_join() {
            common::shutdown_join::<$q>(true);
        }

        #[test]
        fn shutdown_put_join() {
            common::shutdown_put_join::<$q>(false);
        }

        #[test]
        fn shutdown_immediate_put_join() {
            common::shutdown_put_join::<$q>(true);
        }

        #[test]
        fn shutdown_get_task_done_join() {
            common::shutdown_get_task_done_join::<$q>();
        }

        #[test]
        fn shutdown_pending_get() {
            common::shutdown_pending_get::<$q>();
        }

        #[test]
        fn puts_racing_shutdown_are_never_stranded() {
            common::puts_racing_shutdown_are_never_stranded::<$q>();
        }

        #[test]
        fn puts_racing_shutdown_immediate_all_come_back() {
            common::puts_racing_shutdown_immediate_all_come_back(<$q>::unbounded);
            common::puts_racing_shutdown_immediate_all_come_back(|| <$q>::bounded(64).unwrap());
        }

        #[test]
        fn shutdown_immediate_after_early_task_done_keeps_the_count_at_zero() {
            common::shutdown_immediate_after_early_task_done::<$q>();
        }

        #[test]
        fn shutdown_immediate_join_waits_for_items_in_flight() {
            common::shutdown_immediate_join_waits_for_in_flight::<$q>();
        }
    };
}
#[allow(
    unused_imports,
    reason = "only the task-tracking queues' test files use it"
)]
pub(crate) use shared_queue_tests;
