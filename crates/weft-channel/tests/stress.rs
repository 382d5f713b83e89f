//! Stress tests: many producers and consumers, threads and tokio tasks mixed, on one queue.
//!
//! Each tracked-queue run sends `N` distinct numbers through a bounded(16) queue from 4 producers
//! (2 threads calling `put`, 2 tasks awaiting `put_async`) to 4 consumers (2 threads calling
//! `get`, 2 tasks awaiting `get_async`) on a multi-thread runtime with 2 workers; consumers call
//! `task_done` for each item. Checked: every number arrives exactly once (a seen-bitmap, the count
//! and the sum), `join` returns once the consumers are done (a lost wake-up would leave an item
//! stranded and fail it), and shutdown ends every consumer. Everything waits under a generous
//! bound (`STRESS_LONG`), so a hang fails the test instead of stalling the suite.
//!
//! Sizes: 1,000,000 items through `Queue` and through `SimpleQueue` (unbounded; consumers stop at
//! sentinels), 100,000 through `LifoQueue` and `PriorityQueue`, in every build: measured in a
//! debug `cargo test` on 2 cores, the 1M `Queue` run takes about 0.5 s, far below the 20 s that
//! would have called for a smaller debug size. A fifth run, 200,000 items through `Queue`, has
//! every producer and consumer give up and retry now and then (`put_timeout`, `try_put`,
//! `get_timeout`, and `tokio::time::timeout` dropping pending `put_async`/`get_async` futures),
//! so cancelled waits, which must pass their wake-ups on, mix with the blocking ones.
//!
//! These are not CPython `test_queue.py` cases (its closest, `test_many_threads`, is in
//! `simple.rs`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use weft_channel::{LifoQueue, PriorityQueue, Queue, SimpleQueue};

mod common;
use common::*;

/// The bound on a whole stress run.
const STRESS_LONG: Duration = Duration::from_secs(120);

/// Which numbers arrived, how many, their sum, and whether one arrived twice.
struct Tally {
    seen: Vec<AtomicU64>,
    count: AtomicU64,
    sum: AtomicU64,
    duplicate: AtomicBool,
}

impl Tally {
    fn new(n: u64) -> Arc<Self> {
        Arc::new(Self {
            seen: (0..n.div_ceil(64)).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum: AtomicU64::new(0),
            duplicate: AtomicBool::new(false),
        })
    }

    fn record(&self, x: u64) {
        let bit = 1 << (x % 64);
        if self.seen[(x / 64) as usize].fetch_or(bit, Ordering::Relaxed) & bit != 0 {
            self.duplicate.store(true, Ordering::SeqCst);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum.fetch_add(x, Ordering::Relaxed);
    }

    fn check(&self, n: u64) {
        assert!(
            !self.duplicate.load(Ordering::SeqCst),
            "an item arrived twice"
        );
        assert_eq!(
            self.count.load(Ordering::SeqCst),
            n,
            "items lost or duplicated"
        );
        assert_eq!(self.sum.load(Ordering::SeqCst), n * (n - 1) / 2, "checksum");
        for (i, word) in self.seen.iter().enumerate() {
            let bits = word.load(Ordering::SeqCst);
            let expect = if (i as u64 + 1) * 64 <= n {
                u64::MAX
            } else {
                (1 << (n % 64)) - 1
            };
            assert_eq!(bits, expect, "items missing around {}", i * 64);
        }
    }
}

/// Producer `p` of 4 puts the numbers `p, p + 4, p + 8, ...` below `n`.
fn numbers(p: u64, n: u64) -> impl Iterator<Item = u64> {
    (p..n).step_by(4)
}

fn stress_tracked<Q: TaskQueue<u64>>(n: u64) {
    stress_tracked_in(n, Q::bounded(16).unwrap());
}

/// As `stress_tracked`, through `q` (any bound).
fn stress_tracked_in<Q: TaskQueue<u64>>(n: u64, q: Q) {
    let start = Instant::now();
    let tally = Tally::new(n);
    let rt = multi_rt(2);
    let thread_producers: Vec<_> = (0..2)
        .map(|p| {
            let q = q.clone();
            spawn(move || {
                for x in numbers(p, n) {
                    q.put(x).unwrap();
                }
            })
        })
        .collect();
    let task_producers: Vec<_> = (2..4)
        .map(|p| {
            let q = q.clone();
            rt.spawn(async move {
                for x in numbers(p, n) {
                    q.put_async(x).await.unwrap();
                }
            })
        })
        .collect();
    let thread_consumers: Vec<_> = (0..2)
        .map(|_| {
            let (q, tally) = (q.clone(), Arc::clone(&tally));
            spawn(move || {
                while let Ok(x) = q.get() {
                    tally.record(x);
                    q.task_done().unwrap();
                }
            })
        })
        .collect();
    let task_consumers: Vec<_> = (0..2)
        .map(|_| {
            let (q, tally) = (q.clone(), Arc::clone(&tally));
            rt.spawn(async move {
                while let Ok(x) = q.get_async().await {
                    tally.record(x);
                    q.task_done().unwrap();
                }
            })
        })
        .collect();

    for p in &thread_producers {
        p.recv_timeout(STRESS_LONG).expect("a producer thread hung");
    }
    rt.block_on(async {
        for p in task_producers {
            tokio::time::timeout(STRESS_LONG, p)
                .await
                .expect("a producer task hung")
                .unwrap();
        }
    });
    assert!(
        q.join_timeout(STRESS_LONG),
        "join did not return: an item is stranded"
    );
    tally.check(n);
    assert!(q.empty());
    assert_eq!(q.unfinished_tasks(), 0);
    q.shutdown();
    for c in &thread_consumers {
        recv(c);
    }
    rt.block_on(async {
        for c in task_consumers {
            within_async(c).await.unwrap();
        }
    });
    eprintln!("{:?} {n} items: {:?}", Q::KIND, start.elapsed());
}

#[test]
fn queue_many_producers_and_consumers() {
    stress_tracked::<Queue<u64>>(1_000_000);
}

/// The same through an unbounded queue (weft's list of blocks: 32 000 of them pass) and one
/// bounded too large for a ring (the deque under a spin lock).
#[test]
fn unbounded_and_large_queues_many_producers_and_consumers() {
    stress_tracked_in(1_000_000, Queue::<u64>::unbounded());
    stress_tracked_in(200_000, Queue::<u64>::bounded(1 << 20).unwrap());
}

/// Producers and consumers that time out and retry: a cancelled wait (a timed-out thread, a
/// dropped future) must neither lose an item nor swallow the wake-up meant for another waiter.
#[test]
fn queue_with_timeouts_and_cancelled_futures() {
    let n: u64 = 200_000;
    let start = Instant::now();
    let q = Queue::bounded(16).unwrap();
    let tally = Tally::new(n);
    let rt = multi_rt(2);
    let tiny = Duration::from_micros(50);
    let producers = vec![
        {
            let q = q.clone();
            spawn(move || {
                for mut x in numbers(0, n) {
                    while let Err(e) = q.put_timeout(x, tiny) {
                        assert!(e.is_timeout());
                        x = e.into_inner();
                    }
                }
            })
        },
        {
            let q = q.clone();
            spawn(move || {
                for mut x in numbers(1, n) {
                    while let Err(e) = q.try_put(x) {
                        assert!(e.is_full());
                        x = e.into_inner();
                        std::thread::yield_now();
                    }
                }
            })
        },
    ];
    let task_producers = vec![
        {
            let q = q.clone();
            rt.spawn(async move {
                for x in numbers(2, n) {
                    // A timed-out `put_async` drops its future and the item with it: retry with
                    // a copy.
                    while tokio::time::timeout(Duration::from_millis(1), q.put_async(x))
                        .await
                        .is_err()
                    {}
                }
            })
        },
        {
            let q = q.clone();
            rt.spawn(async move {
                for x in numbers(3, n) {
                    q.put_async(x).await.unwrap();
                }
            })
        },
    ];
    let consumers = vec![
        {
            let (q, tally) = (q.clone(), Arc::clone(&tally));
            spawn(move || loop {
                match q.get_timeout(tiny) {
                    Ok(x) => {
                        tally.record(x);
                        q.task_done().unwrap();
                    }
                    Err(weft_channel::GetTimeoutError::Timeout) => {}
                    Err(weft_channel::GetTimeoutError::ShutDown) => return,
                }
            })
        },
        {
            let (q, tally) = (q.clone(), Arc::clone(&tally));
            spawn(move || {
                while let Ok(x) = q.get() {
                    tally.record(x);
                    q.task_done().unwrap();
                }
            })
        },
    ];
    let task_consumers = vec![
        {
            let (q, tally) = (q.clone(), Arc::clone(&tally));
            rt.spawn(async move {
                loop {
                    match tokio::time::timeout(Duration::from_millis(1), q.get_async()).await {
                        Ok(Ok(x)) => {
                            tally.record(x);
                            q.task_done().unwrap();
                        }
                        Ok(Err(_)) => return,
                        Err(_elapsed) => {}
                    }
                }
            })
        },
        {
            let (q, tally) = (q.clone(), Arc::clone(&tally));
            rt.spawn(async move {
                while let Ok(x) = q.get_async().await {
                    tally.record(x);
                    q.task_done().unwrap();
                }
            })
        },
    ];
    for p in &producers {
        p.recv_timeout(STRESS_LONG).expect("a producer thread hung");
    }
    rt.block_on(async {
        for p in task_producers {
            tokio::time::timeout(STRESS_LONG, p)
                .await
                .expect("a producer task hung")
                .unwrap();
        }
    });
    assert!(
        q.join_timeout(STRESS_LONG),
        "join did not return: an item is stranded"
    );
    tally.check(n);
    assert!(q.empty());
    q.shutdown();
    for c in &consumers {
        recv(c);
    }
    rt.block_on(async {
        for c in task_consumers {
            within_async(c).await.unwrap();
        }
    });
    eprintln!("Fifo with timeouts {n} items: {:?}", start.elapsed());
}

#[test]
fn lifo_many_producers_and_consumers() {
    stress_tracked::<LifoQueue<u64>>(100_000);
}

#[test]
fn priority_many_producers_and_consumers() {
    stress_tracked::<PriorityQueue<u64>>(100_000);
}

/// SimpleQueue: unbounded, no task tracking and no shutdown, so consumers stop at a sentinel
/// (one per consumer, put after every producer finished).
#[test]
fn simple_queue_many_producers_and_consumers() {
    const SENTINEL: u64 = u64::MAX;
    let n: u64 = 1_000_000;
    let start = Instant::now();
    let q = SimpleQueue::new();
    let tally = Tally::new(n);
    let rt = multi_rt(2);
    let producers: Vec<_> = (0..4)
        .map(|p| {
            let q = q.clone();
            spawn(move || {
                for x in numbers(p, n) {
                    q.put(x);
                }
            })
        })
        .collect();
    let thread_consumers: Vec<_> = (0..2)
        .map(|_| {
            let (q, tally) = (q.clone(), Arc::clone(&tally));
            spawn(move || loop {
                match q.get() {
                    SENTINEL => return,
                    x => tally.record(x),
                }
            })
        })
        .collect();
    let task_consumers: Vec<_> = (0..2)
        .map(|_| {
            let (q, tally) = (q.clone(), Arc::clone(&tally));
            rt.spawn(async move {
                loop {
                    match q.get_async().await {
                        SENTINEL => return,
                        x => tally.record(x),
                    }
                }
            })
        })
        .collect();
    for p in &producers {
        p.recv_timeout(STRESS_LONG).expect("a producer hung");
    }
    for _ in 0..4 {
        q.put(SENTINEL);
    }
    for c in &thread_consumers {
        c.recv_timeout(STRESS_LONG).expect("a consumer thread hung");
    }
    rt.block_on(async {
        for c in task_consumers {
            tokio::time::timeout(STRESS_LONG, c)
                .await
                .expect("a consumer task hung")
                .unwrap();
        }
    });
    tally.check(n);
    assert!(q.empty());
    eprintln!("SimpleQueue {n} items: {:?}", start.elapsed());
}
