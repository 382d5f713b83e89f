//! weft-thread against std, side by side in one run (`cargo xtask bench thread`).
//!
//! Each criterion group is one workload named `thread-<workload>`, with the functions `weft` and
//! the baseline. `benches/python/thread.py` measures the same workloads with CPython's threading.
#![allow(
    missing_docs,
    reason = "criterion_group! generates an undocumented function"
)]

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use criterion::{criterion_group, BenchmarkGroup, Criterion};

type Group<'a> = BenchmarkGroup<'a, criterion::measurement::WallTime>;

fn group<'a>(c: &'a mut Criterion, name: &str) -> Group<'a> {
    let mut g = c.benchmark_group(format!("thread-{name}"));
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    g
}

fn spawn_join(c: &mut Criterion) {
    let mut g = group(c, "spawn_join");
    g.bench_function("weft", |b| {
        b.iter(|| weft_thread::spawn(|| black_box(1)).unwrap().join().unwrap())
    });
    g.bench_function("std::thread", |b| {
        b.iter(|| std::thread::spawn(|| black_box(1)).join().unwrap())
    });
    g.finish();
}

/// Times only the join of a thread that has already finished.
fn join_finished(c: &mut Criterion) {
    let mut g = group(c, "join_timeout_finished");
    // The join of an exited thread is dominated by the kernel's thread teardown, which varies a
    // lot on this VM: sample longer.
    g.measurement_time(Duration::from_secs(5)).sample_size(60);
    g.bench_function("weft", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let h = weft_thread::spawn(|| black_box(1)).unwrap();
                while h.is_alive() {
                    std::thread::yield_now();
                }
                let t0 = Instant::now();
                black_box(h.join_timeout(Duration::from_secs(10)).unwrap());
                total += t0.elapsed();
            }
            total
        })
    });
    g.bench_function("std JoinHandle::join", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let h = std::thread::spawn(|| black_box(1));
                while !h.is_finished() {
                    std::thread::yield_now();
                }
                let t0 = Instant::now();
                black_box(h.join().unwrap());
                total += t0.elapsed();
            }
            total
        })
    });
    g.finish();
}

fn is_stopped(c: &mut Criterion) {
    let mut g = group(c, "is_stopped");
    let token = weft_thread::Thread::new_stoppable(|stop| stop)
        .start()
        .unwrap()
        .join()
        .unwrap();
    g.bench_function("weft", |b| b.iter(|| black_box(&token).is_stopped()));
    let flag = AtomicBool::new(false);
    g.bench_function("AtomicBool load", |b| {
        b.iter(|| black_box(&flag).load(Ordering::Acquire))
    });
    g.finish();
}

/// From `stop()` to the moment a thread parked in a one-hour sleep has woken up.
fn stop_latency(c: &mut Criterion) {
    let mut g = group(c, "stop_wakes_sleeper");
    g.sample_size(20);
    g.bench_function("weft", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let h = weft_thread::Thread::new_stoppable(|stop| {
                    let _ = stop.sleep(Duration::from_secs(3600));
                    Instant::now()
                })
                .start()
                .unwrap();
                std::thread::sleep(Duration::from_millis(1)); // let it park
                let t0 = Instant::now();
                h.stop();
                total += h.join().unwrap() - t0;
            }
            total
        })
    });
    g.bench_function("Mutex<bool>+Condvar flag", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let flag = Arc::new((Mutex::new(false), Condvar::new()));
                let f = Arc::clone(&flag);
                let h = std::thread::spawn(move || {
                    let (m, cv) = &*f;
                    let guard = m.lock().unwrap();
                    let _ = cv
                        .wait_timeout_while(guard, Duration::from_secs(3600), |stop| !*stop)
                        .unwrap();
                    Instant::now()
                });
                std::thread::sleep(Duration::from_millis(1)); // let it park
                let t0 = Instant::now();
                *flag.0.lock().unwrap() = true;
                flag.1.notify_all();
                total += h.join().unwrap() - t0;
            }
            total
        })
    });
    g.finish();
}

criterion_group!(benches, spawn_join, join_finished, is_stopped, stop_latency);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
