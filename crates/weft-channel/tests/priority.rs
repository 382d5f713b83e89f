//! Behaviour tests for [`weft_channel::PriorityQueue`] (smallest first) from threads: order
//! (including Python's `(priority, item)` tuples), sizes, `try_`/timeout forms, blocking puts and
//! gets released from another thread, `task_done`/`join`, `shutdown` and `shutdown_immediate`,
//! `iter`, clones, items that own resources or panic in `drop`, and an `Ord` that panics.
//!
//! Re-expresses CPython's `Lib/test/test_queue.py` for `queue.PriorityQueue`
//! (`PriorityQueueTest`, the `BaseQueueTestMixin` cases, written once in `common` for the three
//! task-tracking queues): `test_basic` (`basic_queue_test` with the order `[111, 222, 333]`,
//! twice on one queue, including `do_blocking_test` for `put`, `put(timeout=10)`, `get` and
//! `get(timeout=10)`), `test_nowait`, `test_queue_task_done`, `test_queue_join`
//! (`queue_join_test` twice), and Python 3.13's shutdown tests: `test_shutdown_empty`,
//! `_nonempty`, `_immediate`, `_allowed_transitions`, `_[immediate_]all_methods_in_one_thread`,
//! `_[immediate_]all_methods_in_many_threads`, `_[immediate_]get`, `_[immediate_]put`,
//! `_[immediate_]join`, `_[immediate_]put_join`, `_get_task_done_join` and `_pending_get`; plus
//! `BaseSimpleQueueTest.test_references` (`items_leave_the_queue`).
//!
//! `FailingQueueTest` (an exception raised inside `_put`/`_get`, after which "the queue isn't
//! damaged") becomes an `Ord` that panics: the only user code a queue runs while it holds items.
//! weft contains the panic (the put or get completes; the default panic hook still prints the
//! message, which the test harness captures), so the tests check that the queue stays usable and
//! consistent: every item put comes out exactly once, `qsize` and `unfinished_tasks` stay right,
//! blocking puts and gets still work, and once comparisons stop panicking the heap order is back.
//! The panic hook is left alone (it is process-global and tests run in parallel).
//!
//! Not applicable: `test_negative_timeout_raises_exception` (a `Duration` cannot be negative) and
//! `test_shrinking_queue` (`maxsize` cannot be changed).
//!
//! No test sleeps to synchronize: a thread that must be blocked is observed asleep in the kernel
//! (`spawn_blocked`), threads report over channels, a test that waits for another thread gives up
//! after `LONG`, and a check that something has *not* happened watches for `BRIEF`.

use std::cmp::Reverse;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use std::time::Duration;

use weft_channel::{PriorityQueue, TryGetError};

mod common;
use common::*;

type Q = PriorityQueue<i64>;

shared_queue_tests!(Q);

#[test]
fn items_leave_the_queue_when_taken() {
    items_leave_the_queue::<PriorityQueue<Arc<u32>>>();
}

/// A value whose `Drop` panics goes through the queue untouched. When the last handle is dropped
/// with such a value inside, the panic reaches the code dropping the handle, and every other item
/// is still dropped (the heap drops its items one at a time, each under `catch_unwind`).
#[test]
fn panicking_drop_values() {
    assert_eq!(panicking_drop::<PriorityQueue<Droppy>>(), 4);
}

#[test]
fn two_items_panicking_when_dropped_in_the_last_handle() {
    two_relentless_bombs_in_the_last_handle(PriorityQueue::unbounded());
    two_relentless_bombs_in_the_last_handle(PriorityQueue::new(10));
}

/// A key whose comparison panics once, when armed, with a payload whose own `Drop` panics.
struct OddKey(u32, Arc<AtomicBool>);

/// The payload `OddKey` panics with.
struct PanicOnDrop;

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("the payload's drop panics");
    }
}

impl PartialEq for OddKey {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}
impl Eq for OddKey {}
impl PartialOrd for OddKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for OddKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        if self.1.swap(false, Ordering::SeqCst) {
            std::panic::panic_any(PanicOnDrop);
        }
        self.0.cmp(&other.0)
    }
}

/// An `Ord` panic whose payload panics when dropped is contained like any other: the put and
/// the get complete, the counts agree, nothing is lost, and the order comes back.
#[test]
fn ord_panic_with_a_payload_that_panics_when_dropped() {
    let armed = Arc::new(AtomicBool::new(false));
    let key = |k| OddKey(k, Arc::clone(&armed));
    let q = PriorityQueue::unbounded();
    q.put(key(5)).unwrap();
    q.put(key(3)).unwrap();
    armed.store(true, Ordering::SeqCst);
    q.put(key(1)).unwrap(); // its sift compares, and panics
    assert!(
        !armed.load(Ordering::SeqCst),
        "the comparison did not panic"
    );
    assert_eq!((q.qsize(), q.unfinished_tasks()), (3, 3));
    armed.store(true, Ordering::SeqCst);
    let first = q.get().unwrap(); // the sift after taking the root panics
    assert!(
        !armed.load(Ordering::SeqCst),
        "the comparison did not panic"
    );
    q.put(key(4)).unwrap();
    let mut got: Vec<u32> = (0..3).map(|_| q.get().unwrap().0).collect();
    assert_eq!(
        got,
        {
            let mut sorted = got.clone();
            sorted.sort();
            sorted
        },
        "in order once the heap is rebuilt"
    );
    got.push(first.0);
    got.sort();
    assert_eq!(got, [1, 3, 4, 5]);
    for _ in 0..4 {
        q.task_done().unwrap();
    }
    assert!(q.task_done().is_err());
    assert!(q.join_timeout(Duration::ZERO));
}

/// A small deterministic pseudo-random sequence (xorshift), for shuffled keys.
fn shuffled(n: u32, seed: u32) -> Vec<u32> {
    let mut v: Vec<u32> = (0..n).collect();
    let mut x = seed | 1;
    for i in (1..v.len()).rev() {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        v.swap(i, x as usize % (i + 1));
    }
    v
}

#[test]
fn smallest_first() {
    let q = PriorityQueue::unbounded();
    let keys = shuffled(500, 7);
    for &k in &keys {
        q.put(k).unwrap();
        q.put(k).unwrap(); // duplicates too
    }
    let got: Vec<u32> = (0..1000).map(|_| q.get().unwrap()).collect();
    let mut want: Vec<u32> = keys.iter().flat_map(|&k| [k, k]).collect();
    want.sort();
    assert_eq!(got, want);
    // Interleaved: each get takes the smallest item still there.
    q.put(5).unwrap();
    q.put(3).unwrap();
    assert_eq!(q.get(), Ok(3));
    q.put(4).unwrap();
    q.put(9).unwrap();
    assert_eq!(q.get(), Ok(4));
    q.put(1).unwrap();
    assert_eq!(q.get(), Ok(1));
    assert_eq!(q.get(), Ok(5));
    assert_eq!(q.get(), Ok(9));
}

/// Python's idiom: `(priority, item)` tuples; equal priorities fall back to the item, as tuple
/// comparison does in Python.
#[test]
fn priority_item_tuples() {
    let q = PriorityQueue::bounded(8).unwrap();
    q.put((2, "write report")).unwrap();
    q.put((1, "fix outage")).unwrap();
    q.put((3, "lunch")).unwrap();
    q.put((1, "answer pager")).unwrap();
    q.put((2, "code review")).unwrap();
    let got: Vec<_> = (0..5).map(|_| q.get().unwrap()).collect();
    assert_eq!(
        got,
        [
            (1, "answer pager"),
            (1, "fix outage"),
            (2, "code review"),
            (2, "write report"),
            (3, "lunch"),
        ]
    );
    // Largest first with Reverse.
    let q = PriorityQueue::unbounded();
    for k in [3, 9, 1, 7] {
        q.put(Reverse(k)).unwrap();
    }
    let got: Vec<i32> = (0..4).map(|_| q.get().unwrap().0).collect();
    assert_eq!(got, [9, 7, 3, 1]);
}

/// A putter blocked on a full queue puts its item in order once a get makes room.
#[test]
fn blocked_putters_item_takes_its_place() {
    let q = Q::bounded(3).unwrap();
    for i in [5, 7, 9] {
        q.put(i).unwrap();
    }
    let q2 = q.clone();
    let r = blocking_test(move || q2.put(6), || assert_eq!(q.get(), Ok(5)));
    assert_eq!(r, Ok(()));
    let got: Vec<i64> = (0..3).map(|_| q.get().unwrap()).collect();
    assert_eq!(got, [6, 7, 9]);
}

/// Makes `Touchy` comparisons panic: those involving a poisoned item (`every == 0`) or every
/// `every`-th comparison, while armed. One per test: no global state.
#[derive(Debug, Default)]
struct Trap {
    armed: AtomicBool,
    every: usize,
    compares: AtomicUsize,
    panics: AtomicUsize,
}

impl Trap {
    fn new(every: usize) -> Arc<Self> {
        Arc::new(Self {
            every,
            ..Self::default()
        })
    }

    fn arm(&self, on: bool) {
        self.armed.store(on, Ordering::SeqCst);
    }

    fn panics(&self) -> usize {
        self.panics.load(Ordering::SeqCst)
    }

    fn check(&self, a: &Touchy, b: &Touchy) {
        if !self.armed.load(Ordering::SeqCst) {
            return;
        }
        let n = self.compares.fetch_add(1, Ordering::SeqCst) + 1;
        let hit = match self.every {
            0 => a.poison || b.poison,
            every => n % every == 0,
        };
        if hit {
            self.panics.fetch_add(1, Ordering::SeqCst);
            panic!(
                "comparing Touchy {} with {} panics (on purpose)",
                a.key, b.key
            );
        }
    }
}

/// An item whose `Ord` panics when its `Trap` says so.
#[derive(Debug)]
struct Touchy {
    key: u32,
    poison: bool,
    trap: Arc<Trap>,
}

impl Touchy {
    fn new(key: u32, trap: &Arc<Trap>) -> Self {
        Self {
            key,
            poison: false,
            trap: Arc::clone(trap),
        }
    }

    fn poison(key: u32, trap: &Arc<Trap>) -> Self {
        Self {
            key,
            poison: true,
            trap: Arc::clone(trap),
        }
    }
}

impl PartialEq for Touchy {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}
impl Eq for Touchy {}
impl PartialOrd for Touchy {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Touchy {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.trap.check(self, other);
        self.key.cmp(&other.key)
    }
}

/// Asserts that `got` holds every key of `put` exactly once.
fn exactly_once(mut got: Vec<u32>, mut put: Vec<u32>) {
    got.sort_unstable();
    put.sort_unstable();
    assert_eq!(got.len(), put.len(), "items lost or duplicated");
    assert_eq!(got, put, "items lost or duplicated");
}

/// `FailingQueueTest.failing_queue_test`, with the failure inside the heap's comparisons: a
/// non-blocking put, a blocked put and gets (blocking or not) whose comparisons panic all
/// complete, and the queue is not damaged.
#[test]
fn ord_panic_leaves_the_queue_usable() {
    let trap = Trap::new(0);
    let q = PriorityQueue::new(QUEUE_SIZE);
    let mut put = Vec::new();
    for i in 0..QUEUE_SIZE as u32 - 1 {
        q.put(Touchy::new(i * 10, &trap)).unwrap();
        put.push(i * 10);
    }
    trap.arm(true);
    // A failing non-blocking put: a comparison with the new item panics; the put completes.
    q.try_put(Touchy::poison(5, &trap)).unwrap();
    put.push(5);
    assert!(trap.panics() >= 1, "the comparison did not panic");
    assert_eq!(q.qsize(), QUEUE_SIZE);
    assert!(q.full(), "queue should be full");
    assert_eq!(q.unfinished_tasks(), QUEUE_SIZE);
    // Full: refused, the item comes back.
    let err = q.try_put(Touchy::poison(6, &trap)).unwrap_err();
    assert!(err.is_full());
    assert_eq!(err.into_inner().key, 6);
    let err = q
        .put_timeout(Touchy::poison(6, &trap), Duration::from_millis(10))
        .unwrap_err();
    assert!(err.is_timeout());
    // A failing blocked put, released by a get whose comparisons may panic too.
    let mut got = Vec::new();
    let q2 = q.clone();
    let trap2 = Arc::clone(&trap);
    let r = blocking_test(
        move || {
            q2.put(Touchy::poison(7, &trap2))
                .map_err(|e| e.into_inner().key)
        },
        || got.push(q.get().unwrap().key),
    );
    assert_eq!(r, Ok(()));
    put.push(7);
    assert_eq!(q.qsize(), QUEUE_SIZE, "queue should be full");
    // Gets while comparisons panic: each takes one item.
    for left in (0..QUEUE_SIZE).rev() {
        got.push(q.get_timeout(LONG).unwrap().key);
        assert_eq!(q.qsize(), left);
    }
    assert_eq!(q.try_get().map(|t| t.key), Err(TryGetError::Empty));
    // A failing blocked get, released by a put.
    let (q2, q3) = (q.clone(), q.clone());
    let trap2 = Arc::clone(&trap);
    let r = blocking_test(
        move || q2.get().map(|t| t.key),
        move || q3.put(Touchy::poison(8, &trap2)).unwrap(),
    );
    got.push(r.unwrap());
    put.push(8);
    let panics = trap.panics();
    assert!(panics >= 2, "only {panics} comparisons panicked");
    exactly_once(got, put.clone());
    // Not damaged: the counts add up, and with comparisons behaving the order is right again.
    assert!(q.empty());
    assert_eq!(q.unfinished_tasks(), put.len());
    trap.arm(false);
    for k in [3, 1, 2] {
        q.put(Touchy::new(k, &trap)).unwrap();
    }
    let keys: Vec<u32> = (0..3).map(|_| q.get().unwrap().key).collect();
    assert_eq!(keys, [1, 2, 3]);
    for _ in 0..put.len() + 3 {
        q.task_done().unwrap();
    }
    assert!(q.join_timeout(Duration::ZERO));
    assert!(q.task_done().is_err());
}

/// Every 7th comparison panics while 300 shuffled items go in and half come out: `qsize` stays
/// right after each operation, and once comparisons behave again the heap is rebuilt: the rest
/// come out in order; every item comes out exactly once.
#[test]
fn ord_panicking_every_few_comparisons_loses_nothing() {
    let trap = Trap::new(7);
    let q = PriorityQueue::unbounded();
    let keys = shuffled(300, 99);
    trap.arm(true);
    for (i, &k) in keys.iter().enumerate() {
        q.put(Touchy::new(k, &trap)).unwrap();
        assert_eq!(q.qsize(), i + 1);
    }
    let mut got = Vec::new();
    for left in (150..300).rev() {
        got.push(q.get().unwrap().key);
        assert_eq!(q.qsize(), left);
    }
    assert!(trap.panics() > 0, "no comparison panicked");
    assert_eq!(q.unfinished_tasks(), 300);
    trap.arm(false);
    let rest: Vec<u32> = (0..150).map(|_| q.get().unwrap().key).collect();
    assert!(
        rest.windows(2).all(|w| w[0] < w[1]),
        "the heap was not rebuilt: {rest:?}"
    );
    got.extend(rest);
    exactly_once(got, keys);
    assert!(q.empty());
    for _ in 0..300 {
        q.task_done().unwrap();
    }
    assert!(q.join_timeout(Duration::ZERO));
}

/// `shutdown_immediate` takes the items out through the heap too: with every 5th comparison
/// panicking while it drains, it still returns every item exactly once, no panic escapes it,
/// nothing is left unfinished, and the queue answers ShutDown.
#[test]
fn ord_panicking_while_shutdown_immediate_drains_loses_nothing() {
    let trap = Trap::new(5);
    let q = PriorityQueue::unbounded();
    let keys = shuffled(200, 7);
    for &k in &keys {
        q.put(Touchy::new(k, &trap)).unwrap();
    }
    trap.arm(true);
    let left = q.shutdown_immediate();
    trap.arm(false);
    assert!(trap.panics() > 0, "no comparison panicked");
    exactly_once(left.iter().map(|t| t.key).collect(), keys);
    assert!(q.empty());
    assert_eq!(q.unfinished_tasks(), 0);
    assert!(q.join_timeout(Duration::ZERO));
    assert_eq!(q.try_get().map(|t| t.key), Err(TryGetError::ShutDown));
}

/// Three putters and two getters on a bounded queue while every 5th comparison panics: each item
/// comes out exactly once and nobody hangs.
#[test]
fn ord_panics_under_concurrency_lose_nothing() {
    const PER_PUTTER: u32 = 200;
    const TOTAL: usize = 3 * PER_PUTTER as usize;
    let trap = Trap::new(5);
    trap.arm(true);
    let q = PriorityQueue::bounded(16).unwrap();
    let putters: Vec<_> = (0..3)
        .map(|p| {
            let (q, trap) = (q.clone(), Arc::clone(&trap));
            spawn(move || {
                for i in 0..PER_PUTTER {
                    q.put(Touchy::new(p * PER_PUTTER + i, &trap)).unwrap();
                }
            })
        })
        .collect();
    let claimed = Arc::new(AtomicUsize::new(0));
    let getters: Vec<_> = (0..2)
        .map(|_| {
            let (q, claimed) = (q.clone(), Arc::clone(&claimed));
            spawn(move || {
                let mut got = Vec::new();
                while claimed.fetch_add(1, Ordering::SeqCst) < TOTAL {
                    got.push(q.get_timeout(LONG).expect("an item went missing").key);
                    q.task_done().unwrap();
                }
                got
            })
        })
        .collect();
    for p in &putters {
        recv(p);
    }
    let got: Vec<u32> = getters.iter().flat_map(recv).collect();
    assert!(trap.panics() > 0, "no comparison panicked");
    exactly_once(got, (0..TOTAL as u32).collect());
    assert!(q.empty());
    assert!(q.join_timeout(Duration::ZERO));
}
