//! Scenario: a shared counter incremented from 8 threads ends exact when every increment holds a
//! `weft::sync::Lock` (the chapter's fix for the lost-update race; compare CPython's
//! `lock_tests.py` `BaseLockTests.test_acquire_contended`, here at scale).
#![cfg(feature = "sync")]

use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use weft::sync::Lock;

const THREADS: usize = 8;
const INCREMENTS: usize = 5_000;

#[test]
fn counter_is_exact_with_a_lock() {
    let counter = Arc::new(Lock::new(0usize));
    let (done_tx, done_rx) = mpsc::channel();
    for _ in 0..THREADS {
        let (counter, done_tx) = (Arc::clone(&counter), done_tx.clone());
        thread::spawn(move || {
            for _ in 0..INCREMENTS {
                // Read, then write back, as the racy version does; the guard makes it atomic.
                let mut guard = counter.acquire();
                let seen = *guard;
                thread::yield_now();
                *guard = seen + 1;
            }
            done_tx.send(()).unwrap();
        });
    }
    for _ in 0..THREADS {
        done_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("a worker panicked or hung");
    }
    assert_eq!(*counter.acquire(), THREADS * INCREMENTS);
    assert!(!counter.locked());
}

#[test]
fn counter_is_exact_with_guard_release() {
    // The same, releasing explicitly with `guard.release()` (Python's `lock.release()`).
    let counter = Arc::new(Lock::new(0u64));
    let workers: Vec<_> = (0..THREADS)
        .map(|_| {
            let counter = Arc::clone(&counter);
            let (tx, rx) = mpsc::channel();
            thread::spawn(move || {
                for _ in 0..INCREMENTS {
                    let mut guard = counter.acquire();
                    *guard += 1;
                    guard.release();
                }
                // Let go of the shared handle before reporting, so the test can unwrap the Arc.
                drop(counter);
                tx.send(()).unwrap();
            });
            rx
        })
        .collect();
    for rx in &workers {
        rx.recv_timeout(Duration::from_secs(10))
            .expect("a worker panicked or hung");
    }
    let total = Arc::try_unwrap(counter)
        .expect("all workers done")
        .into_inner();
    assert_eq!(total, (THREADS * INCREMENTS) as u64);
}
