//! weft-executor's thread pool against the pools Rust programs use today, side by side in one run
//! (`cargo xtask bench executor`).
//!
//! Each criterion group is one workload named `executor-<workload>`, with the function `weft` and
//! its baselines, all with 2 workers (this machine's core count). `benches/python/executor.py`
//! measures the same workloads with CPython's concurrent.futures. `footprint` prints the bytes
//! allocated per task and a pool's idle footprint (a counting allocator wraps the system one).
#![allow(
    missing_docs,
    reason = "criterion_group! generates an undocumented function"
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion};
use crossbeam_channel::{Receiver, Sender, TryRecvError};
use crossbeam_utils::Backoff;
use rayon::prelude::*;
use weft_executor::ThreadPoolExecutor;

/// Counts the bytes allocated, for the per-task memory figures.
struct Counting;

static ALLOCATED: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged; the counter is a side note.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATED.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's contract is passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract is passed on as is.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const WORKERS: usize = 2;
const BATCH: usize = 100_000;

type Group<'a> = BenchmarkGroup<'a, criterion::measurement::WallTime>;

fn group<'a>(c: &'a mut Criterion, name: &str) -> Group<'a> {
    let mut g = c.benchmark_group(format!("executor-{name}"));
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20);
    g
}

fn weft_pool() -> ThreadPoolExecutor {
    ThreadPoolExecutor::builder()
        .max_workers(WORKERS)
        .build()
        .unwrap()
}

type Job = Box<dyn FnOnce() + Send>;

/// The pool Rust programs write by hand: workers on a crossbeam channel of boxed jobs, a oneshot
/// (a bounded(1) channel) per task for the result. With `spin`, workers and waiters spin briefly
/// (crossbeam's Backoff) before parking.
struct CrossbeamPool {
    tx: Option<Sender<Job>>,
    threads: Vec<std::thread::JoinHandle<()>>,
    spin: bool,
}

impl CrossbeamPool {
    fn new(spin: bool) -> Self {
        let (tx, rx) = crossbeam_channel::unbounded::<Job>();
        let threads = (0..WORKERS)
            .map(|_| {
                let rx = rx.clone();
                std::thread::spawn(move || {
                    while let Some(job) = next(&rx, spin) {
                        job();
                    }
                })
            })
            .collect();
        CrossbeamPool {
            tx: Some(tx),
            threads,
            spin,
        }
    }

    fn submit<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Receiver<T> {
        let (reply, result) = crossbeam_channel::bounded(1);
        let job: Job = Box::new(move || {
            let _ = reply.send(f());
        });
        let _ = self.tx.as_ref().unwrap().send(job);
        result
    }

    fn result<T>(&self, rx: Receiver<T>) -> T {
        next(&rx, self.spin).unwrap()
    }
}

fn next<T>(rx: &Receiver<T>, spin: bool) -> Option<T> {
    if spin {
        let backoff = Backoff::new();
        while !backoff.is_completed() {
            match rx.try_recv() {
                Ok(v) => return Some(v),
                Err(TryRecvError::Disconnected) => return None,
                Err(TryRecvError::Empty) => backoff.snooze(),
            }
        }
    }
    rx.recv().ok()
}

impl Drop for CrossbeamPool {
    fn drop(&mut self) {
        self.tx = None;
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn rayon_pool() -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(WORKERS)
        .build()
        .unwrap()
}

/// Submit 100k trivial tasks, then collect every result.
fn thread_batch(c: &mut Criterion) {
    let mut g = group(c, "thread_batch_100k");
    let pool = weft_pool();
    g.bench_function("weft", |b| {
        b.iter(|| {
            let fs: Vec<_> = (0..BATCH)
                .map(|i| pool.submit(move || i).unwrap())
                .collect();
            let sum: usize = fs.into_iter().map(|f| f.result().unwrap()).sum();
            black_box(sum)
        })
    });
    let cb = CrossbeamPool::new(false);
    g.bench_function("crossbeam-channel pool + oneshot", |b| {
        b.iter(|| {
            let rs: Vec<_> = (0..BATCH).map(|i| cb.submit(move || i)).collect();
            let sum: usize = rs.into_iter().map(|r| cb.result(r)).sum();
            black_box(sum)
        })
    });
    let rp = rayon_pool();
    g.bench_function("rayon spawn + oneshot", |b| {
        b.iter(|| {
            let rs: Vec<_> = (0..BATCH)
                .map(|i| {
                    let (tx, rx) = crossbeam_channel::bounded(1);
                    rp.spawn(move || {
                        let _ = tx.send(i);
                    });
                    rx
                })
                .collect();
            let sum: usize = rs.into_iter().map(|r| r.recv().unwrap()).sum();
            black_box(sum)
        })
    });
    g.finish();
}

/// `submit(f).result()` one task at a time.
fn thread_serial(c: &mut Criterion) {
    let mut g = group(c, "thread_serial");
    let pool = weft_pool();
    g.bench_function("weft", |b| {
        b.iter(|| pool.submit(|| black_box(1)).unwrap().result().unwrap())
    });
    let cb = CrossbeamPool::new(true);
    g.bench_function("crossbeam pool, spinning before park", |b| {
        b.iter(|| cb.result(cb.submit(|| black_box(1))))
    });
    g.finish();
}

fn work(x: u64) -> u64 {
    x.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(17)
}

/// `map` over 100k items, one task per item (Python's default chunksize).
fn thread_map(c: &mut Criterion) {
    let mut g = group(c, "thread_map_100k");
    let pool = weft_pool();
    g.bench_function("weft", |b| {
        b.iter(|| {
            let sum = pool
                .map(work, 0..BATCH as u64)
                .map(|r| r.unwrap())
                .fold(0u64, u64::wrapping_add);
            black_box(sum)
        })
    });
    let cb = CrossbeamPool::new(false);
    g.bench_function("crossbeam-channel pool + oneshot", |b| {
        b.iter(|| {
            let rs: Vec<_> = (0..BATCH as u64)
                .map(|i| cb.submit(move || work(i)))
                .collect();
            let sum = rs
                .into_iter()
                .map(|r| cb.result(r))
                .fold(0u64, u64::wrapping_add);
            black_box(sum)
        })
    });
    g.finish();
}

/// `map` over 100k items in chunks (one per worker and a few more), against rayon's par_iter.
fn thread_map_chunked(c: &mut Criterion) {
    let mut g = group(c, "thread_map_chunked_100k");
    let pool = weft_pool();
    g.bench_function("weft", |b| {
        b.iter(|| {
            let sum = pool
                .map(work, 0..BATCH as u64)
                .chunksize(BATCH / (4 * WORKERS))
                .map(|r| r.unwrap())
                .fold(0u64, u64::wrapping_add);
            black_box(sum)
        })
    });
    let rp = rayon_pool();
    g.bench_function("rayon par_iter", |b| {
        b.iter(|| {
            let v: Vec<u64> = rp.install(|| (0..BATCH as u64).into_par_iter().map(work).collect());
            black_box(v.into_iter().fold(0u64, u64::wrapping_add))
        })
    });
    g.finish();
}

fn count_primes(range: (u64, u64)) -> u64 {
    (range.0..range.1)
        .filter(|&n| n >= 2 && (2..).take_while(|d| d * d <= n).all(|d| n % d != 0))
        .count() as u64
}

/// A CPU-bound job (primes below 400k in 16 chunks) on 2 workers against 1 worker.
fn thread_cpu(c: &mut Criterion) {
    let mut g = group(c, "thread_cpu_2_workers");
    let chunks: Vec<(u64, u64)> = (0..16u64).map(|i| (i * 25_000, (i + 1) * 25_000)).collect();
    let run = |pool: &ThreadPoolExecutor| -> u64 {
        pool.map(count_primes, chunks.clone())
            .map(|r| r.unwrap())
            .sum()
    };
    let two = weft_pool();
    g.bench_function("weft", |b| b.iter(|| black_box(run(&two))));
    let one = ThreadPoolExecutor::builder()
        .max_workers(1)
        .build()
        .unwrap();
    g.bench_function("weft, 1 worker", |b| b.iter(|| black_box(run(&one))));
    g.finish();
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Bytes allocated per task (the future and the queued job) and a pool's idle footprint.
fn footprint(_: &mut Criterion) {
    const N: usize = 10_000;
    let pool = weft_pool();
    pool.submit(|| ()).unwrap().result().unwrap();
    let before = ALLOCATED.load(Ordering::Relaxed);
    let fs: Vec<_> = (0..N).map(|i| pool.submit(move || i).unwrap()).collect();
    let weft_bytes = ALLOCATED.load(Ordering::Relaxed) - before;
    black_box(fs.into_iter().map(|f| f.result().unwrap()).sum::<usize>());
    let cb = CrossbeamPool::new(false);
    let before = ALLOCATED.load(Ordering::Relaxed);
    let rs: Vec<_> = (0..N).map(|i| cb.submit(move || i)).collect();
    let cb_bytes = ALLOCATED.load(Ordering::Relaxed) - before;
    black_box(rs.into_iter().map(|r| cb.result(r)).sum::<usize>());
    let vec_bytes = N * std::mem::size_of::<usize>(); // the Vec that holds the handles
    println!(
        "footprint: bytes allocated per queued task: weft {:.0}, crossbeam pool + oneshot {:.0}",
        (weft_bytes - vec_bytes) as f64 / N as f64,
        (cb_bytes - vec_bytes) as f64 / N as f64,
    );
    drop(pool);
    drop(cb);

    let rss0 = rss_kib();
    let heap0 = ALLOCATED.load(Ordering::Relaxed);
    let idle = weft_pool();
    let gate = std::sync::Arc::new(std::sync::Barrier::new(WORKERS + 1));
    let fs: Vec<_> = (0..WORKERS)
        .map(|_| {
            let g = gate.clone();
            idle.submit(move || {
                g.wait();
            })
            .unwrap()
        })
        .collect();
    gate.wait();
    fs.into_iter().for_each(|f| f.result().unwrap());
    let weft_heap = ALLOCATED.load(Ordering::Relaxed) - heap0;
    let weft_rss = rss_kib().saturating_sub(rss0);
    let rss1 = rss_kib();
    let heap1 = ALLOCATED.load(Ordering::Relaxed);
    let rp = rayon_pool();
    rp.broadcast(|_| ());
    let rayon_heap = ALLOCATED.load(Ordering::Relaxed) - heap1;
    let rayon_rss = rss_kib().saturating_sub(rss1);
    println!(
        "footprint: idle pool of {WORKERS} started workers: weft {weft_heap} heap bytes, \
         +{weft_rss} KiB RSS; rayon {rayon_heap} heap bytes, +{rayon_rss} KiB RSS"
    );
    drop(idle);
    drop(rp);
}

criterion_group!(
    benches,
    thread_batch,
    thread_serial,
    thread_map,
    thread_map_chunked,
    thread_cpu,
    footprint
);
criterion_main!(benches);
