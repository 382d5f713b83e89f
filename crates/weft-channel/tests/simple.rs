//! Behaviour tests for [`weft_channel::SimpleQueue`] (unbounded FIFO, no task tracking, no
//! shutdown) from threads: order, sizes, `try_get`/`get_timeout`, a blocking get released from
//! another thread, many producers and consumers, clones, and items that own resources or panic
//! in `drop`.
//!
//! Re-expresses CPython's `Lib/test/test_queue.py` `BaseSimpleQueueTest`: `test_basic`,
//! `test_order` (one feeder, one consumer: order kept), `test_many_threads`,
//! `test_many_threads_nonblock` and `test_many_threads_timeout` (50 feeders and 50 consumers, with
//! a blocking, a non-blocking and a timed get; the feeders' random `sleep`s, which only vary the
//! interleaving, are left out and the non-blocking consumer yields instead of sleeping),
//! `test_references` and `test_reentrancy` (bpo-14976: a `put` from a destructor; Rust has no
//! garbage collector to run it inside another `put`, so the destructor runs between operations,
//! which checks that no lock is held across them).
//!
//! Not applicable: `test_negative_timeout_raises_exception` (a `Duration` cannot be negative) and
//! `test_is_default` (there is one implementation).
//!
//! No test sleeps to synchronize: a thread that must be blocked is observed asleep in the kernel
//! (`spawn_blocked`), threads report over channels, and a test that waits for another thread gives
//! up after `LONG`.

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use weft_channel::{Empty, SimpleQueue};

mod common;
use common::*;

#[test]
fn basic() {
    let q = SimpleQueue::new();
    assert!(q.empty());
    assert_eq!(q.qsize(), 0);
    q.put(1);
    assert!(!q.empty());
    assert_eq!(q.qsize(), 1);
    q.put(2);
    q.put(3);
    q.put(4);
    assert!(!q.empty());
    assert_eq!(q.qsize(), 4);

    assert_eq!(q.get(), 1);
    assert_eq!(q.qsize(), 3);
    assert_eq!(q.try_get(), Ok(2));
    assert_eq!(q.qsize(), 2);
    assert_eq!(q.get_timeout(Duration::ZERO), Ok(3));
    assert!(!q.empty());
    assert_eq!(q.qsize(), 1);
    assert_eq!(q.get_timeout(SHORT), Ok(4));
    assert!(q.empty());
    assert_eq!(q.qsize(), 0);

    assert_eq!(q.try_get(), Err(Empty));
    assert_eq!(q.get_timeout(Duration::from_millis(1)), Err(Empty));
    assert_eq!(q.try_get(), Err(Empty));
    assert!(q.empty());
    assert_eq!(q.qsize(), 0);
}

#[test]
fn constructors_default_debug_and_clones() {
    let q: SimpleQueue<u8> = SimpleQueue::default();
    assert!(q.empty());
    let q2 = q.clone();
    q.put(7);
    assert_eq!(q2.qsize(), 1);
    assert!(format!("{q2:?}").contains("qsize: 1"));
    let q3 = q2.clone();
    within(move || q3.put(8));
    drop(q);
    assert_eq!(q2.get(), 7);
    assert_eq!(q2.get(), 8);
    // Unbounded: never blocks a producer.
    for i in 0..100_000u32 {
        q2.put((i % 256) as u8);
    }
    assert_eq!(q2.qsize(), 100_000);
}

/// Zero timeout tries once; a short one waits about that long; `Duration::MAX` waits as long as
/// it takes.
#[test]
fn timeouts() {
    let q = SimpleQueue::new();
    assert_eq!(promptly(|| q.get_timeout(Duration::ZERO)), Err(Empty));
    let start = Instant::now();
    assert_eq!(q.get_timeout(SHORT), Err(Empty));
    assert_waited(start.elapsed(), SHORT);
    let q2 = q.clone();
    let r = blocking_test(move || q2.get_timeout(Duration::MAX), || q.put(3));
    assert_eq!(r, Ok(3));
}

/// A blocking get, released by a put from another thread (`do_blocking_test(q.get, ...)`).
#[test]
fn blocking_get_released_by_put() {
    let q = SimpleQueue::new();
    let q2 = q.clone();
    let r = blocking_test(move || q2.get(), || q.put("empty"));
    assert_eq!(r, "empty");
    let q2 = q.clone();
    let r = blocking_test(move || q2.get_timeout(LONG), || q.put("again"));
    assert_eq!(r, Ok("again"));
    // Several blocked getters, one item each.
    let getters: Vec<_> = (0..3)
        .map(|_| {
            let q = q.clone();
            spawn_blocked(move || q.get())
        })
        .collect();
    for g in &getters {
        assert_pending(g);
    }
    for s in ["a", "b", "c"] {
        q.put(s);
    }
    let mut got: Vec<_> = getters.iter().map(recv).collect();
    got.sort();
    assert_eq!(got, ["a", "b", "c"]);
}

/// How the consumers of `run_threads` take items.
#[derive(Clone, Copy)]
enum Consume {
    Blocking,
    NonBlocking,
    Timeout,
}

/// `BaseSimpleQueueTest.run_threads`: `n` feeders share one input list and put a `None` sentinel
/// when it is empty; `n` consumers take items until they see a sentinel. Returns what the
/// consumers took; the queue ends empty.
fn run_threads(n: usize, inputs: &[u32], consume: Consume) -> Vec<u32> {
    let q = SimpleQueue::new();
    let seq = Arc::new(Mutex::new(inputs.iter().rev().copied().collect::<Vec<_>>()));
    let results = Arc::new(Mutex::new(Vec::new()));
    let feeders: Vec<_> = (0..n)
        .map(|_| {
            let (q, seq) = (q.clone(), Arc::clone(&seq));
            spawn(move || loop {
                let next = seq.lock().unwrap().pop();
                match next {
                    Some(v) => q.put(Some(v)),
                    None => return q.put(None),
                }
            })
        })
        .collect();
    let consumers: Vec<_> = (0..n)
        .map(|_| {
            let (q, results) = (q.clone(), Arc::clone(&results));
            spawn(move || loop {
                let deadline = Instant::now() + LONG;
                let val = match consume {
                    Consume::Blocking => q.get(),
                    Consume::NonBlocking => loop {
                        match q.try_get() {
                            Ok(v) => break v,
                            Err(Empty) => std::thread::yield_now(),
                        }
                        assert!(Instant::now() < deadline, "starved");
                    },
                    Consume::Timeout => loop {
                        if let Ok(v) = q.get_timeout(Duration::from_micros(10)) {
                            break v;
                        }
                        assert!(Instant::now() < deadline, "starved");
                    },
                };
                match val {
                    Some(v) => results.lock().unwrap().push(v),
                    None => return,
                }
            })
        })
        .collect();
    for t in feeders.iter().chain(&consumers) {
        recv(t);
    }
    assert!(q.empty());
    assert_eq!(q.qsize(), 0);
    results.lock().unwrap().clone()
}

#[test]
fn order() {
    // One producer, one consumer => results appended in a well-defined order.
    let inputs: Vec<u32> = (0..10_000).collect();
    assert_eq!(run_threads(1, &inputs, Consume::Blocking), inputs);
}

#[test]
fn many_threads() {
    let inputs: Vec<u32> = (0..10_000).collect();
    let mut results = run_threads(50, &inputs, Consume::Blocking);
    results.sort();
    assert_eq!(results, inputs);
}

#[test]
fn many_threads_nonblock() {
    let inputs: Vec<u32> = (0..10_000).collect();
    let mut results = run_threads(50, &inputs, Consume::NonBlocking);
    results.sort();
    assert_eq!(results, inputs);
}

#[test]
fn many_threads_timeout() {
    let inputs: Vec<u32> = (0..1_000).collect();
    let mut results = run_threads(50, &inputs, Consume::Timeout);
    results.sort();
    assert_eq!(results, inputs);
}

/// `test_references`: the queue lets go of an item as soon as it is taken; items still queued
/// are dropped with the last handle.
#[test]
fn references() {
    let q = SimpleQueue::new();
    for i in 0..20 {
        q.put(Arc::new(i));
    }
    for _ in 0..20 {
        let item = q.get();
        let weak = Arc::downgrade(&item);
        drop(item);
        assert!(weak.upgrade().is_none(), "the queue kept a reference");
    }
    let kept = Arc::new(5);
    q.put(Arc::clone(&kept));
    q.put(Arc::clone(&kept));
    assert_eq!(Arc::strong_count(&kept), 3);
    drop(q);
    assert_eq!(Arc::strong_count(&kept), 1, "queued items leaked");
}

/// `test_reentrancy` (bpo-14976): an object whose destructor puts into the queue, dropped
/// between a put and a get; every number comes out once, in order.
#[test]
fn reentrancy() {
    struct PutOnDrop {
        q: SimpleQueue<usize>,
        counter: Rc<Cell<usize>>,
    }
    impl Drop for PutOnDrop {
        fn drop(&mut self) {
            let n = self.counter.get();
            self.counter.set(n + 1);
            self.q.put(n);
        }
    }
    const N: usize = 10_000;
    let q = SimpleQueue::new();
    let counter = Rc::new(Cell::new(0));
    let next = |counter: &Rc<Cell<usize>>| {
        let n = counter.get();
        counter.set(n + 1);
        n
    };
    let mut results = Vec::new();
    loop {
        let o = PutOnDrop {
            q: q.clone(),
            counter: Rc::clone(&counter),
        };
        q.put(next(&counter));
        drop(o);
        results.push(q.get());
        if *results.last().unwrap() >= N {
            break;
        }
    }
    assert_eq!(results, (0..=N).collect::<Vec<_>>());
}

/// A value whose `Drop` panics goes through untouched; the panic happens where the taker drops
/// it, and when the last handle is dropped with one inside, the panic reaches the code dropping
/// the handle, after every item it held was dropped: those queued ahead of it and, as the list
/// goes on past the panic, those behind it too.
#[test]
fn panicking_drop_values() {
    let drops = Arc::new(AtomicUsize::new(0));
    let q = SimpleQueue::new();
    q.put(Droppy::new(1, true, &drops));
    let item = q.get();
    assert!(catch_unwind(AssertUnwindSafe(|| drop(item))).is_err());
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    q.put(Droppy::new(2, false, &drops));
    q.put(Droppy::new(3, true, &drops));
    q.put(Droppy::new(4, false, &drops));
    let q2 = q.clone();
    drop(q);
    assert_eq!(drops.load(Ordering::SeqCst), 1, "not the last handle");
    assert!(catch_unwind(AssertUnwindSafe(move || drop(q2))).is_err());
    assert_eq!(drops.load(Ordering::SeqCst), 4, "2, 3 and 4 were dropped");
}
