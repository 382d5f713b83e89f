//! Behaviour tests for [`weft_channel::LifoQueue`] (last in, first out) from threads: order,
//! sizes, `try_`/timeout forms, blocking puts and gets released from another thread,
//! `task_done`/`join`, `shutdown` and `shutdown_immediate`, `iter`, clones, and items that own
//! resources or panic in `drop`.
//!
//! Re-expresses CPython's `Lib/test/test_queue.py` for `queue.LifoQueue` (`LifoQueueTest`, the
//! `BaseQueueTestMixin` cases, written once in `common` for the three task-tracking queues):
//! `test_basic` (`basic_queue_test` with the LIFO order `[222, 333, 111]`, twice on one queue,
//! including `do_blocking_test` for `put`, `put(timeout=10)`, `get` and `get(timeout=10)`),
//! `test_nowait`, `test_queue_task_done`, `test_queue_join` (`queue_join_test` twice), and
//! Python 3.13's shutdown tests: `test_shutdown_empty`, `_nonempty`, `_immediate`,
//! `_allowed_transitions`, `_[immediate_]all_methods_in_one_thread`,
//! `_[immediate_]all_methods_in_many_threads`, `_[immediate_]get`, `_[immediate_]put`,
//! `_[immediate_]join`, `_[immediate_]put_join`, `_get_task_done_join` and `_pending_get`; plus
//! `BaseSimpleQueueTest.test_references` (`items_leave_the_queue`). `shutdown_immediate` hands the
//! leftovers back in the order gets would have taken them: newest first.
//!
//! Not applicable: `test_negative_timeout_raises_exception` (a `Duration` cannot be negative),
//! `test_shrinking_queue` (`maxsize` cannot be changed) and `FailingQueueTest` (a LIFO queue runs
//! no user code while it holds an item; the analogue, a panicking `Ord`, is in `priority.rs`).
//!
//! No test sleeps to synchronize: a thread that must be blocked is observed asleep in the kernel
//! (`spawn_blocked`), threads report over channels, a test that waits for another thread gives up
//! after `LONG`, and a check that something has *not* happened watches for `BRIEF`.

use std::sync::Arc;

use weft_channel::LifoQueue;

mod common;
use common::*;

type Q = LifoQueue<i64>;

shared_queue_tests!(Q);

#[test]
fn items_leave_the_queue_when_taken() {
    items_leave_the_queue::<LifoQueue<Arc<u32>>>();
}

/// A value whose `Drop` panics goes through the queue untouched. When the last handle is dropped
/// with such a value inside, the panic reaches the code dropping the handle, and every other item
/// is still dropped (the stack drops its items one at a time, each under `catch_unwind`).
#[test]
fn panicking_drop_values() {
    assert_eq!(panicking_drop::<LifoQueue<Droppy>>(), 4);
}

#[test]
fn two_items_panicking_when_dropped_in_the_last_handle() {
    two_relentless_bombs_in_the_last_handle(LifoQueue::unbounded());
}

#[test]
fn lifo_order() {
    let q = Q::bounded(100).unwrap();
    for i in 0..100 {
        q.put(i).unwrap();
    }
    let got: Vec<i64> = (0..100).map(|_| q.get().unwrap()).collect();
    assert_eq!(got, (0..100).rev().collect::<Vec<_>>());
    // Interleaved: each get takes the newest item still there.
    let q = Q::unbounded();
    q.put(1).unwrap();
    q.put(2).unwrap();
    assert_eq!(q.get(), Ok(2));
    q.put(3).unwrap();
    q.put(4).unwrap();
    assert_eq!(q.get(), Ok(4));
    assert_eq!(q.get(), Ok(3));
    q.put(5).unwrap();
    assert_eq!(q.try_get(), Ok(5));
    assert_eq!(q.get_timeout(LONG), Ok(1));
    assert_eq!(q.try_get(), Err(weft_channel::TryGetError::Empty));
}

/// A putter blocked on a full stack pushes its item on top once a get makes room: the next get
/// takes it.
#[test]
fn blocked_putters_item_goes_on_top() {
    let q = Q::bounded(3).unwrap();
    for i in 1..=3 {
        q.put(i).unwrap();
    }
    let q2 = q.clone();
    let r = blocking_test(move || q2.put(10), || assert_eq!(q.get(), Ok(3)));
    assert_eq!(r, Ok(()));
    assert_eq!(q.get(), Ok(10));
    assert_eq!(q.get(), Ok(2));
    assert_eq!(q.get(), Ok(1));
}
