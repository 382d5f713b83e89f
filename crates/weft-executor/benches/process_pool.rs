//! weft-executor's process pool against the floors it builds on and CPython's
//! `ProcessPoolExecutor` (`benches/python/executor.py`, fork context), side by side in one run
//! (`cargo xtask bench executor`). A separate bench binary from `executor.rs` because it is also
//! the worker program: its `main` starts with the child-process guard.
//!
//! Groups (named as the Python anchors' workloads, 2 workers):
//! - `executor-process_batch_10k`: submit 10k trivial tasks, then collect the results; the floor
//!   is the same 10k 8-byte messages raw on sockets to 2 echoing processes, pipelined.
//! - `executor-process_serial`: `submit().result()` one at a time; the floor is one raw 8-byte
//!   socket round trip between two processes.
//! - `executor-process_map_chunked_100k`: `map` over 100k items with `chunksize(1000)`.
//!
//! `footprint` prints a worker process's RSS, the pool's idle footprint in the parent, and the
//! heap a burst of tasks takes and leaves behind (a counting allocator wraps the system one).
#![allow(
    missing_docs,
    reason = "criterion_group! generates an undocumented function"
)]

use std::fs::File;
use std::hint::black_box;
use std::io::{Read, Write};
use std::os::fd::AsFd;

use std::time::{Duration, Instant};

use criterion::{criterion_group, BenchmarkGroup, Criterion};
use weft_executor::ProcessPoolExecutor;
use weft_process::{Connection, Pipe, Process};

const WORKERS: usize = 2;

#[path = "../tests/common/counting.rs"]
mod counting;
use counting::{live_bytes, Counting};

#[global_allocator]
static GLOBAL: Counting = Counting;

type Group<'a> = BenchmarkGroup<'a, criterion::measurement::WallTime>;

fn group<'a>(c: &'a mut Criterion, name: &str) -> Group<'a> {
    let mut g = c.benchmark_group(format!("executor-{name}"));
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20);
    g
}

fn noop(x: u64) -> u64 {
    x
}

/// The Python anchors' `work`: a multiplicative hash.
fn work(x: u64) -> u64 {
    x.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 7
}

fn pool() -> ProcessPoolExecutor {
    let pool = ProcessPoolExecutor::builder()
        .max_workers(WORKERS)
        .build()
        .unwrap();
    // Workers started and warm, as the Python script does before timing.
    let warm: u64 = pool.map(noop, 0..8).map(Result::unwrap).sum();
    assert_eq!(warm, 28);
    pool
}

/// The connection's socket as a plain file: raw reads and writes, no framing or codec.
fn raw(conn: &Connection<u64>) -> File {
    File::from(conn.as_fd().try_clone_to_owned().unwrap())
}

/// Echoes 8-byte records on the connection's raw socket: the floor.
fn echo_raw(conn: Connection<u64>) {
    let mut socket = raw(&conn);
    let mut buf = [0u8; 8];
    while socket.read_exact(&mut buf).is_ok() {
        if socket.write_all(&buf).is_err() {
            return;
        }
    }
}

/// Echoing children, each with the raw socket to it (and the connection keeping it open).
fn echo_children() -> Vec<(File, Connection<u64>, weft_process::ProcessHandle<()>)> {
    (0..WORKERS)
        .map(|_| {
            let (ours, theirs) = Pipe::<u64>::new().unwrap();
            let child = Process::new(echo_raw, theirs).start().unwrap();
            (raw(&ours), ours, child)
        })
        .collect()
}

fn finish(children: Vec<(File, Connection<u64>, weft_process::ProcessHandle<()>)>) {
    for (file, conn, child) in children {
        drop(file);
        drop(conn);
        child.join().unwrap();
    }
}

fn process_batch(c: &mut Criterion) {
    const N: u64 = 10_000;
    let mut g = group(c, "process_batch_10k");
    let pool = pool();
    g.bench_function("weft", |b| {
        b.iter(|| {
            let futures: Vec<_> = (0..N).map(|i| pool.submit(noop, i).unwrap()).collect();
            let sum: u64 = futures.into_iter().map(|f| f.result().unwrap()).sum();
            assert_eq!(sum, N * (N - 1) / 2);
        })
    });
    drop(pool);
    let mut children = echo_children();
    g.bench_function(
        "raw 8-byte records to 2 echo processes, pipelined (floor)",
        |b| {
            // Up to WINDOW records in flight per child (one write each, as one message per
            // task: the kernel charges each about 1 KiB of socket buffer, so all 5000 at once
            // would fill it and deadlock), the replies read as they come.
            const WINDOW: u64 = 64;
            let share = N / WORKERS as u64;
            let mut buf = vec![0u8; 8 * WINDOW as usize];
            b.iter(|| {
                let mut sent = [0u64; WORKERS];
                let mut got = [0u64; WORKERS];
                for (c, (file, _, _)) in children.iter_mut().enumerate() {
                    while sent[c] < WINDOW.min(share) {
                        file.write_all(&sent[c].to_le_bytes()).unwrap();
                        sent[c] += 1;
                    }
                }
                while got.iter().any(|&g| g < 8 * share) {
                    for (c, (file, _, _)) in children.iter_mut().enumerate() {
                        if got[c] == 8 * share {
                            continue;
                        }
                        got[c] += file.read(&mut buf).unwrap() as u64;
                        while sent[c] < share && sent[c] - got[c] / 8 < WINDOW {
                            file.write_all(&sent[c].to_le_bytes()).unwrap();
                            sent[c] += 1;
                        }
                    }
                }
                black_box(&buf);
            })
        },
    );
    finish(children);
    g.finish();
}

fn process_serial(c: &mut Criterion) {
    let mut g = group(c, "process_serial");
    let pool = pool();
    g.bench_function("weft", |b| {
        b.iter(|| pool.submit(noop, black_box(7)).unwrap().result().unwrap())
    });
    drop(pool);
    let mut children = echo_children();
    g.bench_function("raw socket round trip (floor)", |b| {
        let file = &mut children[0].0;
        let mut buf = [0u8; 8];
        b.iter(|| {
            file.write_all(&7u64.to_le_bytes()).unwrap();
            file.read_exact(&mut buf).unwrap();
            black_box(buf)
        })
    });
    finish(children);
    g.finish();
}

fn process_map_chunked(c: &mut Criterion) {
    const N: u64 = 100_000;
    let mut g = group(c, "process_map_chunked_100k");
    let pool = pool();
    let expected: u64 = (0..N).map(work).fold(0, u64::wrapping_add);
    g.bench_function("weft", |b| {
        b.iter(|| {
            let sum = pool
                .map(work, 0..N)
                .chunksize(1000)
                .map(Result::unwrap)
                .fold(0, u64::wrapping_add);
            assert_eq!(sum, expected);
        })
    });
    g.bench_function("in this process, sequential", |b| {
        b.iter(|| (0..black_box(N)).map(work).fold(0, u64::wrapping_add))
    });
    g.finish();
}

fn count_primes(range: (u64, u64)) -> u64 {
    (range.0..range.1)
        .filter(|&n| n >= 2 && (2..).take_while(|d| d * d <= n).all(|d| n % d != 0))
        .count() as u64
}

/// A CPU-bound job (primes below 400k in 16 chunks, as the thread pool's `thread_cpu` group) on
/// 2 worker processes against 1.
fn process_cpu(c: &mut Criterion) {
    let mut g = group(c, "process_cpu_2_workers");
    let chunks: Vec<(u64, u64)> = (0..16u64).map(|i| (i * 25_000, (i + 1) * 25_000)).collect();
    let run = |pool: &ProcessPoolExecutor| -> u64 {
        pool.map(count_primes, chunks.clone())
            .map(Result::unwrap)
            .sum()
    };
    let two = pool();
    run(&two);
    g.bench_function("weft", |b| b.iter(|| black_box(run(&two))));
    drop(two);
    let one = ProcessPoolExecutor::builder()
        .max_workers(1)
        .build()
        .unwrap();
    run(&one);
    g.bench_function("weft, 1 worker", |b| b.iter(|| black_box(run(&one))));
    g.finish();
}

/// The resident set of the current process in KiB: all of it, and its anonymous part.
fn rss_kib(_: ()) -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("RssAnon:"))
}

fn footprint() {
    let before = rss_kib(());
    let t0 = Instant::now();
    let pool = pool();
    let started = t0.elapsed();
    let after = rss_kib(());
    let workers: Vec<(u64, u64)> = (0..WORKERS * 4)
        .map(|_| pool.submit(rss_kib, ()).unwrap().result().unwrap())
        .collect();
    let worker = workers.iter().max().copied().unwrap_or_default();
    println!();
    println!(
        "footprint: a worker process (idle, in a task): {} KiB RSS, {} KiB anonymous",
        worker.0, worker.1
    );
    println!(
        "footprint: a started pool of {WORKERS} workers in the parent: +{} KiB RSS \
         (+{} KiB anonymous; a reader thread, {WORKERS} sockets pairs); started and warm in {:?}",
        after.0.saturating_sub(before.0),
        after.1.saturating_sub(before.1),
        started
    );
    // What the pool keeps once a burst has been answered: its task table and queue give their
    // room back (Python's keep their dict's).
    const BURST: u64 = 200_000;
    let idle = live_bytes();
    let futures: Vec<_> = (0..BURST).map(|x| pool.submit(noop, x).unwrap()).collect();
    let queued = live_bytes();
    let sum: u64 = futures.into_iter().map(|f| f.result().unwrap()).sum();
    assert_eq!(sum, BURST * (BURST - 1) / 2);
    let after = live_bytes();
    println!(
        "footprint: a pool of {WORKERS} workers with {BURST} tasks submitted: +{} heap bytes \
         ({} per task); once all were answered: {:+} heap bytes against the idle pool",
        queued - idle,
        (queued - idle) / BURST as isize,
        after - idle
    );
    println!();
}

criterion_group!(
    benches,
    process_serial,
    process_batch,
    process_map_chunked,
    process_cpu
);

fn main() {
    weft_process::init();
    benches();
    footprint();
    Criterion::default().configure_from_args().final_summary();
}
