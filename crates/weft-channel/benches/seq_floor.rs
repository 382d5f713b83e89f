//! The floor under the `seq` rows: one thread puts 1000 `u64` items and then takes them, in
//! rounds, through weft's bounded(1000) `Queue`, kanal's bounded(1000) channel and two sketches
//! of the designs underneath, side by side in one run (`cargo bench -p weft-channel --bench
//! seq_floor`; the ratio table of `cargo xtask bench channel` leaves this group out):
//! - `vyukov-ring`: the ring protocol of weft's bounded FIFO queue (`src/ring.rs`), bare: a stamp
//!   per slot and one compare-and-swap of the tail or the head per operation, without the
//!   shutdown mark, the waiter checks or the queue around it;
//! - `spin-deque`: kanal's design, a `VecDeque` under a spin lock (one compare-and-swap to lock,
//!   a store to unlock), without the channel around it (a `RefCell` stands in for the lock's
//!   `UnsafeCell`, a flag check more per operation).
//!
//! The sketches are used from the benchmark's one thread only, so they need no `unsafe`: their
//! atomics are there to cost what they cost in the real designs. What the run shows is whether
//! weft's `seq` gap to kanal is weft's bookkeeping or the ring's design.
#![allow(
    missing_docs,
    reason = "criterion_group! generates an undocumented function"
)]

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use crossbeam_utils::CachePadded;
use weft_channel::Queue;

/// Items per round, and the bound.
const ROUND: u64 = 1000;

/// Puts and takes `n` items in rounds of [`ROUND`]; the time per item is what criterion reports
/// (an iteration is one item).
fn seq(n: u64, mut put: impl FnMut(u64), mut get: impl FnMut() -> u64) -> Duration {
    let t0 = Instant::now();
    let mut left = n;
    while left > 0 {
        let k = left.min(ROUND);
        for i in 0..k {
            put(black_box(i));
        }
        for _ in 0..k {
            black_box(get());
        }
        left -= k;
    }
    t0.elapsed()
}

struct Slot {
    /// The position that may write the slot next, plus one once written (Vyukov's stamp).
    stamp: AtomicU64,
    value: Cell<u64>,
}

/// The bare ring: `cap` slots, positions `lap | index` with the lap above the index bits.
struct VyukovRing {
    head: CachePadded<AtomicU64>,
    tail: CachePadded<AtomicU64>,
    slots: Box<[Slot]>,
    cap: u64,
    /// The lap unit: the power of two above every index.
    one_lap: u64,
}

impl VyukovRing {
    fn new(cap: u64) -> Self {
        Self {
            head: CachePadded::new(AtomicU64::new(0)),
            tail: CachePadded::new(AtomicU64::new(0)),
            slots: (0..cap)
                .map(|i| Slot {
                    stamp: AtomicU64::new(i),
                    value: Cell::new(0),
                })
                .collect(),
            cap,
            one_lap: (cap + 1).next_power_of_two(),
        }
    }

    fn next(&self, pos: u64) -> u64 {
        if (pos & (self.one_lap - 1)) + 1 < self.cap {
            pos + 1
        } else {
            (pos & !(self.one_lap - 1)) + self.one_lap
        }
    }

    fn slot(&self, pos: u64) -> &Slot {
        &self.slots[(pos & (self.one_lap - 1)) as usize]
    }

    #[inline]
    fn push(&self, value: u64) -> bool {
        let tail = self.tail.load(Ordering::SeqCst);
        let slot = self.slot(tail);
        if slot.stamp.load(Ordering::Acquire) != tail
            || self
                .tail
                .compare_exchange(tail, self.next(tail), Ordering::SeqCst, Ordering::Relaxed)
                .is_err()
        {
            return false; // full (one thread: no race to retry)
        }
        slot.value.set(value);
        slot.stamp.store(tail + 1, Ordering::Release);
        true
    }

    #[inline]
    fn pop(&self) -> Option<u64> {
        let head = self.head.load(Ordering::Relaxed);
        let slot = self.slot(head);
        if slot.stamp.load(Ordering::Acquire) != head + 1
            || self
                .head
                .compare_exchange(head, self.next(head), Ordering::SeqCst, Ordering::Relaxed)
                .is_err()
        {
            return None;
        }
        let value = slot.value.get();
        slot.stamp
            .store(head.wrapping_add(self.one_lap), Ordering::Release);
        Some(value)
    }
}

/// A `VecDeque` under a spin lock.
struct SpinDeque {
    locked: AtomicBool,
    items: RefCell<VecDeque<u64>>,
    cap: usize,
}

impl SpinDeque {
    fn with<R>(&self, f: impl FnOnce(&mut VecDeque<u64>) -> R) -> R {
        while self
            .locked
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            std::hint::spin_loop();
        }
        let r = f(&mut self.items.borrow_mut());
        self.locked.store(false, Ordering::Release);
        r
    }

    #[inline]
    fn push(&self, value: u64) -> bool {
        self.with(|q| {
            let room = q.len() < self.cap;
            if room {
                q.push_back(value);
            }
            room
        })
    }

    #[inline]
    fn pop(&self) -> Option<u64> {
        self.with(|q| q.pop_front())
    }
}

fn floor(c: &mut Criterion) {
    let mut g = c.benchmark_group("seq-floor");
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    g.bench_function("weft", |b| {
        b.iter_custom(|n| {
            let q = Queue::bounded(ROUND as usize).unwrap();
            seq(n, |i| q.put(i).unwrap(), || q.get().unwrap())
        })
    });
    g.bench_function("kanal", |b| {
        b.iter_custom(|n| {
            let (tx, rx) = kanal::bounded(ROUND as usize);
            seq(n, |i| tx.send(i).unwrap(), || rx.recv().unwrap())
        })
    });
    g.bench_function("vyukov-ring", |b| {
        b.iter_custom(|n| {
            let r = VyukovRing::new(ROUND);
            seq(n, |i| assert!(r.push(i)), || r.pop().unwrap())
        })
    });
    g.bench_function("spin-deque", |b| {
        b.iter_custom(|n| {
            let d = SpinDeque {
                locked: AtomicBool::new(false),
                items: RefCell::new(VecDeque::with_capacity(ROUND as usize)),
                cap: ROUND as usize,
            };
            seq(n, |i| assert!(d.push(i)), || d.pop().unwrap())
        })
    });
    g.finish();
}

criterion_group!(benches, floor);
criterion_main!(benches);
