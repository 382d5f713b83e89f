//! Behaviour tests for [`weft_channel::Queue`] (FIFO) from threads: order, sizes, `try_`/timeout
//! forms, blocking puts and gets released from another thread, `task_done`/`join`, `shutdown` and
//! `shutdown_immediate`, `iter`, clones, and items that own resources or panic in `drop`.
//!
//! Re-expresses CPython's `Lib/test/test_queue.py` for `queue.Queue` (`QueueTest`, the
//! `BaseQueueTestMixin` cases, written once in `common` for the three task-tracking queues):
//! `test_basic` (`basic_queue_test`, twice on one queue, including `do_blocking_test` for `put`,
//! `put(timeout=10)`, `get` and `get(timeout=10)`), `test_nowait`, `test_queue_task_done`,
//! `test_queue_join` (`queue_join_test` twice), and Python 3.13's shutdown tests:
//! `test_shutdown_empty`, `_nonempty`, `_immediate`, `_allowed_transitions`,
//! `_[immediate_]all_methods_in_one_thread`, `_[immediate_]all_methods_in_many_threads`,
//! `_[immediate_]get`, `_[immediate_]put`, `_[immediate_]join`, `_[immediate_]put_join`,
//! `_get_task_done_join` and `_pending_get`; plus `BaseSimpleQueueTest.test_references`
//! (`items_leave_the_queue`).
//!
//! Not applicable: `test_negative_timeout_raises_exception` (a `Duration` cannot be negative) and
//! `test_shrinking_queue` (`maxsize` cannot be changed). `FailingQueueTest` (an exception raised
//! inside `_put`/`_get`) has no counterpart for a FIFO queue, which runs no user code while it
//! holds an item; its analogue, a panicking `Ord`, is in `priority.rs`.
//!
//! No test sleeps to synchronize: a thread that must be blocked is observed asleep in the kernel
//! (`spawn_blocked`), threads report over channels, a test that waits for another thread gives up
//! after `LONG`, and a check that something has *not* happened watches for `BRIEF`.

use std::sync::Arc;

use weft_channel::Queue;

mod common;
use common::*;

#[path = "../../weft-sync/tests/common/busy.rs"]
mod busy;

type Q = Queue<i64>;

shared_queue_tests!(Q);

#[test]
fn items_leave_the_queue_when_taken() {
    items_leave_the_queue::<Queue<Arc<u32>>>();
}

/// A value whose `Drop` panics goes through the queue untouched. When the last handle is dropped
/// with such a value inside, the panic reaches the code dropping the handle, after the items
/// queued before it have been dropped (weft's stores go on past the panic and drop the ones
/// behind it too). Only the first part is asserted.
#[test]
fn panicking_drop_values() {
    let dropped_others = panicking_drop::<Queue<Droppy>>();
    assert!(
        dropped_others >= 2,
        "the items ahead of the bomb were dropped"
    );
}

#[test]
fn two_items_panicking_when_dropped_in_the_last_handle() {
    // The ring, the deque behind a bound over 65 536, and the list.
    two_relentless_bombs_in_the_last_handle(Queue::bounded(4).unwrap());
    two_relentless_bombs_in_the_last_handle(Queue::bounded(70_000).unwrap());
    two_relentless_bombs_in_the_last_handle(Queue::unbounded());
}

/// An unbounded queue's block holds 31 items: made on the stack (which an unoptimised build
/// does) it took 31 items' worth, 4 MiB here before any item was put, and overflowed this
/// 512 KiB thread's stack. (A put still moves its item through a few frames: large items are
/// better boxed.)
#[test]
fn an_unbounded_queue_of_large_items_does_not_overflow_a_small_stack() {
    const SIZE: usize = 128 * 1024;
    let ran = std::thread::Builder::new()
        .stack_size(512 * 1024)
        .spawn(|| {
            drop(Queue::<[u8; SIZE]>::unbounded());
            drop(weft_channel::SimpleQueue::<[u8; SIZE]>::new());
        })
        .unwrap()
        .join();
    assert!(ran.is_ok());
}

#[test]
fn fifo_order() {
    let q = Q::bounded(100).unwrap();
    for i in 0..100 {
        q.put(i).unwrap();
    }
    let got: Vec<i64> = (0..100).map(|_| q.get().unwrap()).collect();
    assert_eq!(got, (0..100).collect::<Vec<_>>());
    // Interleaved puts and gets, through the ring buffer's wrap-around.
    let q = Q::bounded(3).unwrap();
    let mut next_out = 0;
    for i in 0..50 {
        q.put(i).unwrap();
        if q.full() {
            assert_eq!(q.get(), Ok(next_out));
            next_out += 1;
        }
    }
    while let Ok(x) = q.try_get() {
        assert_eq!(x, next_out);
        next_out += 1;
    }
    assert_eq!(next_out, 50);
}

/// Python's `maxsize` is only a bound: `Queue(maxsize=sys.maxsize)` is an ordinary queue, and
/// `LifoQueue`/`PriorityQueue::new(usize::MAX)` behave so. `Queue` must not try to allocate
/// storage for `maxsize` items up front. (Only sizes whose allocation fails with a panic are
/// tried: a merely enormous one, such as `1 << 40`, would abort the test process.)
#[test]
fn huge_maxsize_is_just_a_bound() {
    for maxsize in [usize::MAX, usize::MAX / 2] {
        let made = std::panic::catch_unwind(|| Q::new(maxsize));
        let q = made.unwrap_or_else(|_| {
            panic!("Queue::new({maxsize}) panicked instead of making a queue bounded at {maxsize}")
        });
        assert_eq!(q.maxsize(), Some(maxsize));
        assert!(!q.full());
        q.put(1).unwrap();
        q.put(2).unwrap();
        assert_eq!(q.get(), Ok(1));
        assert_eq!(q.qsize(), 1);
        assert!(Q::bounded(maxsize).is_ok());
    }
}

/// One producer thread, one consumer thread (`BaseSimpleQueueTest.test_order`): order is kept
/// across threads through a small bounded queue.
#[test]
fn order_kept_between_one_producer_and_one_consumer() {
    let q = Q::bounded(4).unwrap();
    let q2 = q.clone();
    let consumer = spawn(move || {
        let mut got = Vec::new();
        for x in q2.iter() {
            got.push(x);
            q2.task_done().unwrap();
        }
        got
    });
    for i in 0..10_000 {
        q.put(i).unwrap();
    }
    assert!(q.join_timeout(LONG));
    q.shutdown();
    assert_eq!(recv(&consumer), (0..10_000).collect::<Vec<_>>());
}

/// Each blocked putter on a full queue is released by one get, in turn; nothing is lost.
#[test]
fn blocked_putters_released_one_get_at_a_time() {
    let q = Q::bounded(1).unwrap();
    q.put(0).unwrap();
    let putters: Vec<_> = (1..=3)
        .map(|i| {
            let q = q.clone();
            spawn_blocked(move || q.put(i))
        })
        .collect();
    for p in &putters {
        assert_pending(p);
    }
    let mut got = Vec::new();
    let mut done = [false; 3];
    for round in 1..=3 {
        got.push(q.get_timeout(LONG).unwrap());
        // Room for one item: exactly one more putter can finish.
        let count = |done: &mut [bool; 3]| {
            for (d, p) in done.iter_mut().zip(&putters) {
                if let Ok(r) = p.try_recv() {
                    assert_eq!(r, Ok(()));
                    *d = true;
                }
            }
            done.iter().filter(|d| **d).count()
        };
        wait_until("a putter finished", || count(&mut done) >= round);
        assert!(q.full());
        assert_eq!(
            count(&mut done),
            round,
            "more putters finished than there was room for"
        );
    }
    got.push(q.get_timeout(LONG).unwrap());
    assert_eq!(got[0], 0);
    got.sort();
    assert_eq!(got, [0, 1, 2, 3]);
    assert!(q.empty());
    assert_eq!(q.unfinished_tasks(), 4);
}

/// Blocked getters are each released by one put; every item reaches exactly one getter.
#[test]
fn blocked_getters_released_one_put_at_a_time() {
    let q = Q::unbounded();
    let getters: Vec<_> = (0..4)
        .map(|_| {
            let q = q.clone();
            spawn_blocked(move || q.get())
        })
        .collect();
    for g in &getters {
        assert_pending(g);
    }
    for i in 0..4 {
        q.put(i).unwrap();
    }
    let mut got: Vec<i64> = getters.iter().map(|g| recv(g).unwrap()).collect();
    got.sort();
    assert_eq!(got, [0, 1, 2, 3]);
    assert!(q.empty());
}

/// Timed gets and puts that nothing ends come back near their timeout on a busy machine (four
/// threads spinning on two cores): a hundred 1 ms `get_timeout`s on an empty queue, and as many
/// `put_timeout`s on a full one, take a few times what a hundred 1 ms `park_timeout`s take at
/// most. Their spin yielded the core four times before the first look at the clock, each yield
/// a time slice under load (about eight times the floor).
#[test]
fn timed_waits_end_near_their_timeout_on_a_busy_machine() {
    use std::time::{Duration, Instant};
    let empty = Queue::<u32>::unbounded();
    let full = Queue::bounded(1).unwrap();
    full.put(0).unwrap();
    let (floor, gets, puts) = busy::with_busy_cores(4, || {
        // What a 1 ms sleep costs under this load: std's `park_timeout`, the floor.
        let start = Instant::now();
        for _ in 0..100 {
            std::thread::park_timeout(Duration::from_millis(1));
        }
        let floor = start.elapsed();
        let start = Instant::now();
        for _ in 0..100 {
            assert!(empty.get_timeout(Duration::from_millis(1)).is_err());
        }
        let gets = start.elapsed();
        let start = Instant::now();
        for i in 0..100 {
            assert!(full.put_timeout(i, Duration::from_millis(1)).is_err());
        }
        (floor, gets, start.elapsed())
    });
    // Generous: four times the floor and 100 ms more (it measured 0.8 s against a 0.1 s floor).
    let limit = floor * 4 + Duration::from_millis(100);
    assert!(gets < limit, "gets {gets:?}, floor {floor:?}");
    assert!(puts < limit, "puts {puts:?}, floor {floor:?}");
}

/// `puts_racing_shutdown_immediate_all_come_back` for the third FIFO storage, the deque behind a
/// bound too large for a ring.
#[test]
fn puts_racing_shutdown_immediate_all_come_back_large_bound() {
    common::puts_racing_shutdown_immediate_all_come_back(|| Q::bounded((1 << 16) + 1).unwrap());
}
