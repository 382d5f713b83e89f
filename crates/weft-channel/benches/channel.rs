//! weft-channel against crossbeam-channel, kanal, tokio's mpsc and async-channel, side by side in
//! one run (`cargo xtask bench channel`).
//!
//! Each criterion group is one workload named `channel-<workload>`, with the function `weft` and
//! one or more baselines named after the crate they measure; `cargo xtask bench channel` compares
//! weft with the fastest of them, next to the Python anchor of `benches/python/channel.py`.
//!
//! The shapes are crossbeam-channel's benchmark suite's (crossbeam-channel/benchmarks): `seq` (one
//! thread sends, then receives), `spsc` (one producer thread, one consumer thread), `mpsc` (4
//! producers, 1 consumer), `mpmc` (4 producers, 4 consumers), with capacities bounded(1),
//! bounded(1000) and unbounded. One criterion iteration is one message: a sample moves `iters`
//! messages, split evenly among the producers and among the consumers. The threads are started
//! before the clock starts and released together; a sample's time runs from the first thread's
//! start to the last one's end. `seq` moves its messages in rounds (100 000 per round unbounded,
//! 1000 per round bounded(1000): send the round, then receive it), so a queue never holds more
//! than one round. The async workloads run tasks on a two-worker tokio runtime built once.
//!
//! With `--bench` (as `cargo bench` runs it), the binary first prints two footprint tables,
//! measured with the counting allocator below: heap bytes per queued item, and the bytes an idle
//! waiter (a pending future, a blocked thread) costs; then the time that dropping 100 000 pending
//! gets takes, newest first and oldest first (each waiter leaving its list).
#![allow(
    missing_docs,
    reason = "criterion_group! generates an undocumented function"
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};
use std::sync::{Arc, Barrier, Condvar, Mutex};
use std::task::{Context, Wake, Waker};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, BenchmarkGroup, Criterion};
use weft_channel::{LifoQueue, PriorityQueue, Queue, SimpleQueue};

type Group<'a> = BenchmarkGroup<'a, criterion::measurement::WallTime>;

/// Whether the command line sets `flag` (`--flag value` or `--flag=value`).
fn cli_sets(flag: &str) -> bool {
    std::env::args().any(|a| a == flag || a.starts_with(&format!("{flag}=")))
}

fn group<'a>(c: &'a mut Criterion, name: &str) -> Group<'a> {
    let mut g = c.benchmark_group(format!("channel-{name}"));
    // A group's settings override the command line's: set them only where it is silent, so that
    // `-- --warm-up-time 0.2 --measurement-time 0.5` gives a quick run.
    if !cli_sets("--warm-up-time") {
        g.warm_up_time(Duration::from_millis(500));
    }
    if !cli_sets("--measurement-time") {
        g.measurement_time(Duration::from_secs(2));
    }
    if !cli_sets("--sample-size") {
        g.sample_size(20);
    }
    g
}

/// The `i`th message a producer sends: scrambled, so that the priority queues do real work.
#[inline]
fn msg(i: u64) -> u64 {
    i.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Worker `i`'s share of `n` messages split among `k` workers.
fn share(n: u64, k: usize, i: usize) -> u64 {
    let k = k as u64;
    n / k + u64::from((i as u64) < n % k)
}

// ---------------------------------------------------------------------------------------------
// The channels of the thread workloads
// ---------------------------------------------------------------------------------------------

/// A channel for the thread workloads: both ends in one cloneable handle; blocking send and
/// receive.
trait Chan: Clone + Send + 'static {
    fn make(cap: Option<usize>) -> Self;
    fn send(&self, v: u64);
    fn recv(&self) -> u64;
}

macro_rules! weft_chan {
    ($($ty:ident),*) => {$(
        impl Chan for $ty<u64> {
            fn make(cap: Option<usize>) -> Self {
                match cap {
                    Some(cap) => $ty::bounded(cap).unwrap(),
                    None => $ty::unbounded(),
                }
            }
            #[inline]
            fn send(&self, v: u64) {
                self.put(v).unwrap();
            }
            #[inline]
            fn recv(&self) -> u64 {
                self.get().unwrap()
            }
        }
    )*};
}

weft_chan!(Queue, LifoQueue, PriorityQueue);

impl Chan for SimpleQueue<u64> {
    fn make(cap: Option<usize>) -> Self {
        assert!(cap.is_none(), "a SimpleQueue is unbounded");
        SimpleQueue::new()
    }
    #[inline]
    fn send(&self, v: u64) {
        self.put(v);
    }
    #[inline]
    fn recv(&self) -> u64 {
        self.get()
    }
}

#[derive(Clone)]
struct Crossbeam(
    crossbeam_channel::Sender<u64>,
    crossbeam_channel::Receiver<u64>,
);

impl Chan for Crossbeam {
    fn make(cap: Option<usize>) -> Self {
        let (tx, rx) = match cap {
            Some(cap) => crossbeam_channel::bounded(cap),
            None => crossbeam_channel::unbounded(),
        };
        Self(tx, rx)
    }
    #[inline]
    fn send(&self, v: u64) {
        self.0.send(v).unwrap();
    }
    #[inline]
    fn recv(&self) -> u64 {
        self.1.recv().unwrap()
    }
}

#[derive(Clone)]
struct Kanal(kanal::Sender<u64>, kanal::Receiver<u64>);

impl Chan for Kanal {
    fn make(cap: Option<usize>) -> Self {
        let (tx, rx) = match cap {
            Some(cap) => kanal::bounded(cap),
            None => kanal::unbounded(),
        };
        Self(tx, rx)
    }
    #[inline]
    fn send(&self, v: u64) {
        self.0.send(v).unwrap();
    }
    #[inline]
    fn recv(&self) -> u64 {
        self.1.recv().unwrap()
    }
}

/// The storage of [`CondvarQueue`]: a stack or a min-heap.
trait Pile: Default + Send + 'static {
    fn push(&mut self, v: u64);
    fn pop(&mut self) -> Option<u64>;
    fn len(&self) -> usize;
}

impl Pile for Vec<u64> {
    fn push(&mut self, v: u64) {
        Vec::push(self, v);
    }
    fn pop(&mut self) -> Option<u64> {
        Vec::pop(self)
    }
    fn len(&self) -> usize {
        Vec::len(self)
    }
}

impl Pile for BinaryHeap<Reverse<u64>> {
    fn push(&mut self, v: u64) {
        BinaryHeap::push(self, Reverse(v));
    }
    fn pop(&mut self) -> Option<u64> {
        BinaryHeap::pop(self).map(|Reverse(v)| v)
    }
    fn len(&self) -> usize {
        BinaryHeap::len(self)
    }
}

struct CondvarState<P> {
    items: P,
    /// Threads waiting in `not_empty` / `not_full`.
    getters: usize,
    putters: usize,
}

/// The textbook blocking queue: the items under a std mutex and two std condition variables,
/// notified only when someone waits (the counts are kept under the mutex).
struct CondvarQueue<P> {
    state: Mutex<CondvarState<P>>,
    not_empty: Condvar,
    not_full: Condvar,
    cap: usize,
}

impl<P: Pile> CondvarQueue<P> {
    fn new(cap: Option<usize>) -> Self {
        Self {
            state: Mutex::new(CondvarState {
                items: P::default(),
                getters: 0,
                putters: 0,
            }),
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
            cap: cap.unwrap_or(usize::MAX),
        }
    }

    fn put(&self, v: u64) {
        let mut s = self.state.lock().unwrap();
        while s.items.len() >= self.cap {
            s.putters += 1;
            s = self.not_full.wait(s).unwrap();
            s.putters -= 1;
        }
        s.items.push(v);
        let wake = s.getters > 0;
        drop(s);
        if wake {
            self.not_empty.notify_one();
        }
    }

    fn get(&self) -> u64 {
        let mut s = self.state.lock().unwrap();
        loop {
            if let Some(v) = s.items.pop() {
                let wake = s.putters > 0;
                drop(s);
                if wake {
                    self.not_full.notify_one();
                }
                return v;
            }
            s.getters += 1;
            s = self.not_empty.wait(s).unwrap();
            s.getters -= 1;
        }
    }
}

struct Shared<P>(Arc<CondvarQueue<P>>);

impl<P> Clone for Shared<P> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<P: Pile> Chan for Shared<P> {
    fn make(cap: Option<usize>) -> Self {
        Self(Arc::new(CondvarQueue::new(cap)))
    }
    #[inline]
    fn send(&self, v: u64) {
        self.0.put(v);
    }
    #[inline]
    fn recv(&self) -> u64 {
        self.0.get()
    }
}

// ---------------------------------------------------------------------------------------------
// Thread workloads
// ---------------------------------------------------------------------------------------------

type Job = Box<dyn FnOnce() + Send>;

/// Runs each job on a thread of its own, all released together once started; returns the time
/// from the first job's start to the last job's end (thread start-up and exit are not counted).
fn run_threads(jobs: Vec<Job>) -> Duration {
    let start = Barrier::new(jobs.len());
    thread::scope(|s| {
        let handles: Vec<_> = jobs
            .into_iter()
            .map(|job| {
                let start = &start;
                s.spawn(move || {
                    start.wait();
                    let t0 = Instant::now();
                    job();
                    (t0, Instant::now())
                })
            })
            .collect();
        let spans: Vec<(Instant, Instant)> =
            handles.into_iter().map(|h| h.join().unwrap()).collect();
        let first = spans.iter().map(|s| s.0).min().unwrap();
        let last = spans.iter().map(|s| s.1).max().unwrap();
        last - first
    })
}

#[derive(Clone, Copy)]
enum Shape {
    /// One thread: send a round of `round` messages, receive them, repeat.
    Seq { round: u64 },
    /// `producers` threads send, `consumers` threads receive.
    Threads { producers: usize, consumers: usize },
}

const SPSC: Shape = Shape::Threads {
    producers: 1,
    consumers: 1,
};
const MPSC: Shape = Shape::Threads {
    producers: 4,
    consumers: 1,
};
const MPMC: Shape = Shape::Threads {
    producers: 4,
    consumers: 4,
};

/// Moves `n` messages through a new `C` of capacity `cap` in `shape`; returns the time taken.
fn run<C: Chan>(shape: Shape, cap: Option<usize>, n: u64) -> Duration {
    let ch = C::make(cap);
    match shape {
        Shape::Seq { round } => {
            let t0 = Instant::now();
            let mut left = n;
            while left > 0 {
                let k = left.min(round);
                for i in 0..k {
                    ch.send(msg(i));
                }
                for _ in 0..k {
                    black_box(ch.recv());
                }
                left -= k;
            }
            t0.elapsed()
        }
        Shape::Threads {
            producers,
            consumers,
        } => {
            let mut jobs: Vec<Job> = Vec::new();
            for p in 0..producers {
                let (ch, k) = (ch.clone(), share(n, producers, p));
                jobs.push(Box::new(move || {
                    for i in 0..k {
                        ch.send(msg(i));
                    }
                }));
            }
            for c in 0..consumers {
                let (ch, k) = (ch.clone(), share(n, consumers, c));
                jobs.push(Box::new(move || {
                    for _ in 0..k {
                        black_box(ch.recv());
                    }
                }));
            }
            drop(ch);
            run_threads(jobs)
        }
    }
}

fn bench<C: Chan>(g: &mut Group<'_>, name: &str, shape: Shape, cap: Option<usize>) {
    g.bench_function(name, |b| b.iter_custom(|n| run::<C>(shape, cap, n)));
}

fn queue(c: &mut Criterion) {
    let workloads: [(&str, Shape, Option<usize>); 10] = [
        ("queue_seq_unbounded", Shape::Seq { round: 100_000 }, None),
        (
            "queue_seq_bounded1000",
            Shape::Seq { round: 1000 },
            Some(1000),
        ),
        ("queue_spsc_bounded1", SPSC, Some(1)),
        ("queue_spsc_bounded1000", SPSC, Some(1000)),
        ("queue_spsc_unbounded", SPSC, None),
        ("queue_mpsc_bounded1000", MPSC, Some(1000)),
        ("queue_mpsc_unbounded", MPSC, None),
        ("queue_mpmc_bounded1000", MPMC, Some(1000)),
        ("queue_mpmc_unbounded", MPMC, None),
        ("queue_mpmc_bounded1", MPMC, Some(1)),
    ];
    for (name, shape, cap) in workloads {
        let mut g = group(c, name);
        bench::<Queue<u64>>(&mut g, "weft", shape, cap);
        bench::<Crossbeam>(&mut g, "crossbeam-channel", shape, cap);
        bench::<Kanal>(&mut g, "kanal", shape, cap);
        g.finish();
    }
}

/// Python's producer/consumer idiom: the consumer calls `task_done` per item, the producer
/// `join`s at the end. The baseline is the same traffic without any tracking.
fn task_done(c: &mut Criterion) {
    let mut g = group(c, "queue_task_done_spsc_bounded1000");
    g.bench_function("weft", |b| {
        b.iter_custom(|n| {
            let producer = Queue::<u64>::bounded(1000).unwrap();
            let consumer = producer.clone();
            run_threads(vec![
                Box::new(move || {
                    for i in 0..n {
                        producer.put(msg(i)).unwrap();
                    }
                    producer.join();
                }),
                Box::new(move || {
                    for _ in 0..n {
                        black_box(consumer.get().unwrap());
                        consumer.task_done().unwrap();
                    }
                }),
            ])
        })
    });
    bench::<Crossbeam>(&mut g, "crossbeam-channel", SPSC, Some(1000));
    g.finish();
}

fn simple(c: &mut Criterion) {
    for (name, shape) in [("simple_spsc", SPSC), ("simple_mpmc", MPMC)] {
        let mut g = group(c, name);
        bench::<SimpleQueue<u64>>(&mut g, "weft", shape, None);
        bench::<Crossbeam>(&mut g, "crossbeam-channel", shape, None);
        g.finish();
    }
}

fn lifo_priority(c: &mut Criterion) {
    let mut g = group(c, "lifo_mpmc_bounded1000");
    bench::<LifoQueue<u64>>(&mut g, "weft", MPMC, Some(1000));
    bench::<Shared<Vec<u64>>>(&mut g, "Mutex+Condvar", MPMC, Some(1000));
    g.finish();

    let mut g = group(c, "priority_mpmc_bounded1000");
    bench::<PriorityQueue<u64>>(&mut g, "weft", MPMC, Some(1000));
    bench::<Shared<BinaryHeap<Reverse<u64>>>>(&mut g, "Mutex+Condvar", MPMC, Some(1000));
    g.finish();
}

// ---------------------------------------------------------------------------------------------
// Async workloads
// ---------------------------------------------------------------------------------------------

type Task = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Spawns `tasks` on `rt` and returns the time until all of them completed.
fn run_tasks(rt: &tokio::runtime::Runtime, tasks: Vec<Task>) -> Duration {
    rt.block_on(async move {
        let t0 = Instant::now();
        let handles: Vec<_> = tasks.into_iter().map(tokio::spawn).collect();
        for h in handles {
            h.await.unwrap();
        }
        t0.elapsed()
    })
}

fn weft_async(
    rt: &tokio::runtime::Runtime,
    producers: usize,
    consumers: usize,
    n: u64,
) -> Duration {
    let q = Queue::<u64>::bounded(1000).unwrap();
    let mut tasks: Vec<Task> = Vec::new();
    for p in 0..producers {
        let (q, k) = (q.clone(), share(n, producers, p));
        tasks.push(Box::pin(async move {
            for i in 0..k {
                q.put_async(msg(i)).await.unwrap();
            }
        }));
    }
    for c in 0..consumers {
        let (q, k) = (q.clone(), share(n, consumers, c));
        tasks.push(Box::pin(async move {
            for _ in 0..k {
                black_box(q.get_async().await.unwrap());
            }
        }));
    }
    run_tasks(rt, tasks)
}

fn tokio_async(rt: &tokio::runtime::Runtime, producers: usize, n: u64) -> Duration {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<u64>(1000);
    let mut tasks: Vec<Task> = Vec::new();
    for p in 0..producers {
        let (tx, k) = (tx.clone(), share(n, producers, p));
        tasks.push(Box::pin(async move {
            for i in 0..k {
                tx.send(msg(i)).await.unwrap();
            }
        }));
    }
    drop(tx);
    tasks.push(Box::pin(async move {
        for _ in 0..n {
            black_box(rx.recv().await.unwrap());
        }
    }));
    run_tasks(rt, tasks)
}

fn async_channel_async(
    rt: &tokio::runtime::Runtime,
    producers: usize,
    consumers: usize,
    n: u64,
) -> Duration {
    let (tx, rx) = async_channel::bounded::<u64>(1000);
    let mut tasks: Vec<Task> = Vec::new();
    for p in 0..producers {
        let (tx, k) = (tx.clone(), share(n, producers, p));
        tasks.push(Box::pin(async move {
            for i in 0..k {
                tx.send(msg(i)).await.unwrap();
            }
        }));
    }
    for c in 0..consumers {
        let (rx, k) = (rx.clone(), share(n, consumers, c));
        tasks.push(Box::pin(async move {
            for _ in 0..k {
                black_box(rx.recv().await.unwrap());
            }
        }));
    }
    run_tasks(rt, tasks)
}

fn asyncs(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let rt = &rt;
    // tokio's mpsc has a single consumer: no mpmc row for it.
    for (name, producers, consumers) in [
        ("async_spsc_bounded1000", 1, 1),
        ("async_mpsc_bounded1000", 4, 1),
        ("async_mpmc_bounded1000", 4, 4),
    ] {
        let mut g = group(c, name);
        g.bench_function("weft", |b| {
            b.iter_custom(|n| weft_async(rt, producers, consumers, n))
        });
        if consumers == 1 {
            g.bench_function("tokio::sync::mpsc", |b| {
                b.iter_custom(|n| tokio_async(rt, producers, n))
            });
        }
        g.bench_function("async-channel", |b| {
            b.iter_custom(|n| async_channel_async(rt, producers, consumers, n))
        });
        g.finish();
    }
}

// ---------------------------------------------------------------------------------------------
// Footprint tables
// ---------------------------------------------------------------------------------------------

/// Counts live heap bytes while [`COUNTING`] is on; otherwise only forwards to the system
/// allocator (one relaxed load per call, so the timed workloads are not disturbed).
struct CountingAlloc;

#[repr(align(128))]
struct Padded<T>(T);

static COUNTING: Padded<AtomicBool> = Padded(AtomicBool::new(false));
static LIVE: Padded<AtomicIsize> = Padded(AtomicIsize::new(0));

#[inline]
fn count(bytes: isize) {
    if COUNTING.0.load(Ordering::Relaxed) {
        LIVE.0.fetch_add(bytes, Ordering::SeqCst);
    }
}

/// The live heap bytes counted so far.
fn live() -> isize {
    LIVE.0.load(Ordering::SeqCst)
}

// SAFETY: every call is forwarded unchanged to the system allocator, which upholds the
// `GlobalAlloc` contract; the counting touches only an atomic.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as isize);
        // SAFETY: our caller meets `alloc`'s contract, which is the system allocator's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size() as isize);
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-(layout.size() as isize));
        // SAFETY: `ptr` came from this allocator, that is from the system allocator, with
        // `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size as isize - layout.size() as isize);
        // SAFETY: as for `dealloc`, and `new_size` meets `realloc`'s contract by our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

const FILL: u64 = 100_000;

/// Heap bytes of the channel `make` builds, empty and then holding [`FILL`] items.
fn footprint<C>(make: impl FnOnce() -> C, push: impl Fn(&C, u64)) -> (isize, isize) {
    let base = live();
    let ch = make();
    let empty = live() - base;
    for i in 0..FILL {
        push(&ch, i);
    }
    let full = live() - base;
    drop(ch);
    (empty, full)
}

struct NoopWake;

impl Wake for NoopWake {
    fn wake(self: Arc<Self>) {}
}

/// Polls the future `$make` builds once (it must stay pending); returns its size and the heap
/// bytes that appeared while it is pending. A first future is polled and dropped before, so
/// one-off allocations (a waiter list's first buffer) are not counted.
macro_rules! pending {
    ($cx:expr, $make:expr) => {{
        {
            let mut fut = std::pin::pin!($make);
            assert!(fut.as_mut().poll($cx).is_pending());
        }
        let base = live();
        let mut fut = std::pin::pin!($make);
        assert!(fut.as_mut().poll($cx).is_pending());
        (std::mem::size_of_val(&*fut), live() - base)
    }};
}

/// Heap bytes that appear while a thread is blocked in `wait` (measured on its second wait, so
/// that per-thread caches and list buffers of the first are not counted); `release` unblocks it.
fn blocked_thread(wait: impl Fn() + Sync, release: impl Fn()) -> isize {
    let turn = Barrier::new(2);
    thread::scope(|s| {
        s.spawn(|| {
            for _ in 0..2 {
                turn.wait();
                turn.wait();
                wait();
            }
        });
        let mut held = 0;
        for _ in 0..2 {
            turn.wait();
            let base = live();
            turn.wait();
            thread::sleep(Duration::from_millis(100)); // long past any spinning: parked
            held = live() - base;
            release();
        }
        held
    })
}

/// Prints the footprint tables: heap bytes per queued item and per idle waiter.
fn footprints() {
    COUNTING.0.store(true, Ordering::SeqCst);
    let cap = Some(FILL as usize);
    let rows = [
        (
            "weft Queue bounded(100 000)",
            footprint(|| Queue::<u64>::make(cap), |q, i| q.try_put(i).unwrap()),
        ),
        (
            "weft Queue unbounded",
            footprint(|| Queue::<u64>::make(None), |q, i| q.try_put(i).unwrap()),
        ),
        (
            "weft SimpleQueue",
            footprint(SimpleQueue::<u64>::new, |q, i| q.put(i)),
        ),
        (
            "weft LifoQueue unbounded",
            footprint(
                || LifoQueue::<u64>::make(None),
                |q, i| q.try_put(i).unwrap(),
            ),
        ),
        (
            "weft PriorityQueue unbounded",
            footprint(
                || PriorityQueue::<u64>::make(None),
                |q, i| q.try_put(i).unwrap(),
            ),
        ),
        (
            "crossbeam-channel bounded(100 000)",
            footprint(|| Crossbeam::make(cap), |c, i| c.0.try_send(i).unwrap()),
        ),
        (
            "crossbeam-channel unbounded",
            footprint(|| Crossbeam::make(None), |c, i| c.0.try_send(i).unwrap()),
        ),
        (
            "kanal bounded(100 000)",
            footprint(|| Kanal::make(cap), |c, i| c.send(i)),
        ),
        (
            "kanal unbounded",
            footprint(|| Kanal::make(None), |c, i| c.send(i)),
        ),
        (
            "tokio::sync::mpsc channel(100 000)",
            footprint(
                || tokio::sync::mpsc::channel::<u64>(FILL as usize),
                |c, i| c.0.try_send(i).unwrap(),
            ),
        ),
        (
            "tokio::sync::mpsc unbounded",
            footprint(tokio::sync::mpsc::unbounded_channel::<u64>, |c, i| {
                c.0.send(i).unwrap()
            }),
        ),
        (
            "async-channel bounded(100 000)",
            footprint(
                || async_channel::bounded::<u64>(FILL as usize),
                |c, i| c.0.try_send(i).unwrap(),
            ),
        ),
        (
            "async-channel unbounded",
            footprint(async_channel::unbounded::<u64>, |c, i| {
                c.0.try_send(i).unwrap()
            }),
        ),
    ];
    println!("| channel of u64 | empty: heap bytes | + bytes per item, 100 000 queued | total bytes per item, 100 000 queued |");
    println!("|---|---|---|---|");
    for (name, (empty, full)) in rows {
        let grown = (full - empty) as f64 / FILL as f64;
        let total = full as f64 / FILL as f64;
        println!("| {name} | {empty} | {grown:.2} | {total:.2} |");
    }

    let waker = Waker::from(Arc::new(NoopWake));
    let cx = &mut Context::from_waker(&waker);
    let weft_q = Queue::<u64>::bounded(1).unwrap();
    let weft_get = pending!(cx, weft_q.get_async());
    weft_q.put(0).unwrap();
    let weft_put = pending!(cx, weft_q.put_async(1));
    let (ac_tx, ac_rx) = async_channel::bounded::<u64>(1);
    let ac_get = pending!(cx, ac_rx.recv());
    ac_tx.try_send(0).unwrap();
    let ac_put = pending!(cx, ac_tx.send(1));
    let (tk_tx, mut tk_rx) = tokio::sync::mpsc::channel::<u64>(1);
    let tk_get = pending!(cx, tk_rx.recv());
    tk_tx.try_send(0).unwrap();
    let tk_put = pending!(cx, tk_tx.send(1));
    drop((weft_q, ac_tx, ac_rx, tk_tx, tk_rx));

    let q = Queue::<u64>::unbounded();
    let weft_thread = blocked_thread(
        || {
            black_box(q.get().unwrap());
        },
        || q.put(0).unwrap(),
    );
    let cb = Crossbeam::make(None);
    let cb_thread = blocked_thread(
        || {
            black_box(cb.recv());
        },
        || cb.send(0),
    );
    let kn = Kanal::make(None);
    let kn_thread = blocked_thread(
        || {
            black_box(kn.recv());
        },
        || kn.send(0),
    );
    let cv = Shared::<Vec<u64>>::make(None);
    let cv_thread = blocked_thread(
        || {
            black_box(cv.recv());
        },
        || cv.send(0),
    );
    COUNTING.0.store(false, Ordering::SeqCst);

    let rows = [
        (
            "weft `get_async` (empty queue)",
            Some(weft_get.0),
            weft_get.1,
        ),
        ("async-channel `recv`", Some(ac_get.0), ac_get.1),
        ("tokio::sync::mpsc `recv`", Some(tk_get.0), tk_get.1),
        (
            "weft `put_async` (full queue)",
            Some(weft_put.0),
            weft_put.1,
        ),
        ("async-channel `send`", Some(ac_put.0), ac_put.1),
        ("tokio::sync::mpsc `send`", Some(tk_put.0), tk_put.1),
        ("thread blocked in weft `get`", None, weft_thread),
        (
            "thread blocked in crossbeam-channel `recv`",
            None,
            cb_thread,
        ),
        ("thread blocked in kanal `recv`", None, kn_thread),
        ("thread blocked in Mutex+Condvar `get`", None, cv_thread),
    ];
    println!();
    println!("| idle waiter (u64 items) | future bytes | heap bytes while waiting |");
    println!("|---|---|---|");
    for (name, size, heap) in rows {
        let size = size.map_or_else(|| "—".to_owned(), |s| s.to_string());
        println!("| {name} | {size} | {heap} |");
    }
    println!();
}

/// Polls each future `make` builds once (each must stay pending), then drops them all, newest
/// first or oldest first; returns the time the drops took.
fn drop_pending<F: Future>(count: usize, make: impl Fn() -> F, newest_first: bool) -> Duration {
    let waker = Waker::from(Arc::new(NoopWake));
    let cx = &mut Context::from_waker(&waker);
    let mut pending: Vec<Pin<Box<F>>> = (0..count).map(|_| Box::pin(make())).collect();
    for fut in &mut pending {
        assert!(fut.as_mut().poll(cx).is_pending());
    }
    if newest_first {
        pending.reverse();
    }
    let start = Instant::now();
    drop(pending);
    start.elapsed()
}

/// Prints the time that dropping 100 000 pending gets takes (each waiter leaving its list: a
/// timeout or a `select!` dropping a waiting future), newest first and oldest first, the best of
/// three tries each.
fn cancellations() {
    const COUNT: usize = 100_000;
    let best = |f: &dyn Fn() -> Duration| (0..3).map(|_| f()).min().unwrap_or_default();
    let weft_q = Queue::<u64>::unbounded();
    let (_ac_tx, ac_rx) = async_channel::unbounded::<u64>();
    let rows: [(&str, Duration, Duration); 2] = [
        (
            "weft `get_async`",
            best(&|| drop_pending(COUNT, || weft_q.get_async(), true)),
            best(&|| drop_pending(COUNT, || weft_q.get_async(), false)),
        ),
        (
            "async-channel `recv`",
            best(&|| drop_pending(COUNT, || ac_rx.recv(), true)),
            best(&|| drop_pending(COUNT, || ac_rx.recv(), false)),
        ),
    ];
    println!("| 100 000 pending gets dropped | newest first | oldest first |");
    println!("|---|---|---|");
    for (name, newest, oldest) in rows {
        println!("| {name} | {newest:.2?} | {oldest:.2?} |");
    }
    println!();
}

criterion_group!(benches, queue, task_done, simple, asyncs, lifo_priority);

fn main() {
    if std::env::args().any(|a| a == "--bench") {
        footprints();
        cancellations();
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
