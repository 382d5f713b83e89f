//! Scenario: producers and consumers over a bounded buffer guarded by one `weft::sync::Condition`
//! (Python's classic `Condition` example). Several producers and several consumers; every item is
//! consumed exactly once (checked by count, sum and the full set of items), the buffer never
//! holds more than its capacity, and producers block while it is full. Waits use
//! `wait_for_timeout` so that a lost notification fails the test instead of hanging it.
#![cfg(feature = "sync")]

use std::collections::VecDeque;
use std::sync::mpsc::{self, Receiver};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use weft::sync::Condition;

/// How long any wait may take before the test fails instead of hanging.
const LONG: Duration = Duration::from_secs(10);

struct Buffer {
    items: VecDeque<u64>,
    capacity: usize,
    /// Producers that have not finished yet.
    producing: usize,
    /// The most items the buffer ever held.
    high_water: usize,
}

fn spawn<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Receiver<T> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx
}

fn produce(buffer: &Condition<Buffer>, items: impl Iterator<Item = u64>) {
    for item in items {
        let mut guard = buffer.acquire();
        assert!(
            guard.wait_for_timeout(|b| b.items.len() < b.capacity, LONG),
            "producer: no room within {LONG:?}"
        );
        guard.items.push_back(item);
        guard.high_water = guard.high_water.max(guard.items.len());
        drop(guard);
        buffer.notify_all();
    }
    buffer.acquire().producing -= 1;
    buffer.notify_all();
}

/// Takes items until the buffer is empty and every producer is done; returns what it took.
fn consume(buffer: &Condition<Buffer>) -> Vec<u64> {
    let mut taken = Vec::new();
    loop {
        let mut guard = buffer.acquire();
        assert!(
            guard.wait_for_timeout(|b| !b.items.is_empty() || b.producing == 0, LONG),
            "consumer: nothing to do within {LONG:?}"
        );
        match guard.items.pop_front() {
            Some(item) => {
                drop(guard);
                buffer.notify_all();
                taken.push(item);
            }
            None => return taken,
        }
    }
}

fn run(producers: u64, consumers: usize, per_producer: u64, capacity: usize) {
    let buffer = Arc::new(Condition::new(Buffer {
        items: VecDeque::new(),
        capacity,
        producing: producers as usize,
        high_water: 0,
    }));
    let consumer_rxs: Vec<_> = (0..consumers)
        .map(|_| {
            let buffer = Arc::clone(&buffer);
            spawn(move || consume(&buffer))
        })
        .collect();
    let producer_rxs: Vec<_> = (0..producers)
        .map(|p| {
            let buffer = Arc::clone(&buffer);
            // Producer p makes the distinct items p * per_producer .. (p + 1) * per_producer.
            spawn(move || produce(&buffer, p * per_producer..(p + 1) * per_producer))
        })
        .collect();
    for rx in &producer_rxs {
        rx.recv_timeout(LONG).expect("a producer panicked or hung");
    }
    let mut all: Vec<u64> = Vec::new();
    for rx in &consumer_rxs {
        all.extend(rx.recv_timeout(LONG).expect("a consumer panicked or hung"));
    }

    let total = producers * per_producer;
    assert_eq!(all.len() as u64, total, "count");
    assert_eq!(all.iter().sum::<u64>(), total * (total - 1) / 2, "sum");
    all.sort_unstable();
    assert!(all.iter().copied().eq(0..total), "every item exactly once");
    let state = buffer.acquire();
    assert!(state.items.is_empty());
    assert_eq!(state.producing, 0);
    assert!(state.high_water <= capacity, "buffer overfilled");
    assert!(state.high_water >= 1);
}

#[test]
fn several_producers_and_consumers_small_buffer() {
    run(3, 3, 2_000, 4);
}

#[test]
fn more_consumers_than_producers_buffer_of_one() {
    run(2, 5, 1_000, 1);
}

#[test]
fn more_producers_than_consumers() {
    run(5, 2, 1_000, 8);
}
