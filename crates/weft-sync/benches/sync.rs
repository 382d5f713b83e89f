//! weft-sync against the best existing crate for each job, side by side in one run.
//!
//! Each criterion group is one workload named `sync-<workload>`, with two functions: `weft` and the
//! baseline (named after the crate type it measures). `cargo xtask bench sync` runs this file and
//! prints the weft ÷ baseline ratio of each group's median, next to the Python anchor measured by
//! `benches/python/sync.py`. The two-thread workloads time `iters` operations of the measuring
//! thread while a partner thread runs its side; the partner is started before the clock starts.
#![allow(
    missing_docs,
    reason = "criterion_group! generates an undocumented function"
)]

use std::hint::black_box;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, BenchmarkGroup, Criterion};

type Group<'a> = BenchmarkGroup<'a, criterion::measurement::WallTime>;

fn group<'a>(c: &'a mut Criterion, name: &str) -> Group<'a> {
    let mut g = c.benchmark_group(format!("sync-{name}"));
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    g
}

/// Runs `mine(iters)` on this thread and `partner(iters)` on another, both released together by
/// a start barrier; returns the time until both are done.
fn two_threads<S: Send + Sync + 'static>(
    iters: u64,
    shared: Arc<S>,
    mine: impl FnOnce(&S, u64),
    partner: impl FnOnce(&S, u64) + Send + 'static,
) -> Duration {
    let start = Arc::new(std::sync::Barrier::new(2));
    let other = {
        let (start, shared) = (Arc::clone(&start), Arc::clone(&shared));
        thread::spawn(move || {
            start.wait();
            partner(&shared, iters);
        })
    };
    start.wait();
    let t0 = Instant::now();
    mine(&shared, iters);
    other.join().unwrap();
    t0.elapsed()
}

fn lock(c: &mut Criterion) {
    let mut g = group(c, "lock_uncontended");
    let weft = weft_sync::Lock::new(0u64);
    g.bench_function("weft", |b| b.iter(|| *black_box(&weft).acquire() += 1));
    let base = parking_lot::Mutex::new(0u64);
    g.bench_function("parking_lot::Mutex", |b| {
        b.iter(|| *black_box(&base).lock() += 1)
    });
    g.finish();

    let mut g = group(c, "lock_contended_2t");
    g.bench_function("weft", |b| {
        b.iter_custom(|iters| {
            let run = |l: &weft_sync::Lock<u64>, n: u64| {
                for _ in 0..n {
                    *l.acquire() += 1;
                }
            };
            two_threads(iters, Arc::new(weft_sync::Lock::new(0)), run, run)
        })
    });
    g.bench_function("parking_lot::Mutex", |b| {
        b.iter_custom(|iters| {
            let run = |l: &parking_lot::Mutex<u64>, n: u64| {
                for _ in 0..n {
                    *l.lock() += 1;
                }
            };
            two_threads(iters, Arc::new(parking_lot::Mutex::new(0)), run, run)
        })
    });
    g.finish();
}

fn rlock(c: &mut Criterion) {
    let mut g = group(c, "rlock_uncontended");
    let weft = weft_sync::RLock::new(());
    g.bench_function("weft", |b| b.iter(|| drop(black_box(&weft).acquire())));
    let base = parking_lot::ReentrantMutex::new(());
    g.bench_function("parking_lot::ReentrantMutex", |b| {
        b.iter(|| drop(black_box(&base).lock()))
    });
    g.finish();

    let mut g = group(c, "rlock_reentered_3");
    g.bench_function("weft", |b| {
        b.iter(|| {
            let l = black_box(&weft);
            let (_a, _b, _c) = (l.acquire(), l.acquire(), l.acquire());
        })
    });
    g.bench_function("parking_lot::ReentrantMutex", |b| {
        b.iter(|| {
            let l = black_box(&base);
            let (_a, _b, _c) = (l.lock(), l.lock(), l.lock());
        })
    });
    g.finish();
}

/// The textbook semaphore: a count under a mutex and a condition variable.
struct CondvarSemaphore {
    count: std::sync::Mutex<usize>,
    cv: std::sync::Condvar,
}

impl CondvarSemaphore {
    fn new(n: usize) -> Self {
        Self {
            count: std::sync::Mutex::new(n),
            cv: std::sync::Condvar::new(),
        }
    }
    fn acquire(&self) {
        let mut count = self.count.lock().unwrap();
        while *count == 0 {
            count = self.cv.wait(count).unwrap();
        }
        *count -= 1;
    }
    fn release(&self) {
        *self.count.lock().unwrap() += 1;
        self.cv.notify_one();
    }
}

fn semaphore(c: &mut Criterion) {
    let mut g = group(c, "semaphore_uncontended");
    let weft = weft_sync::Semaphore::new(1);
    g.bench_function("weft", |b| b.iter(|| drop(black_box(&weft).acquire())));
    let base = tokio::sync::Semaphore::new(1);
    g.bench_function("tokio::Semaphore try_acquire", |b| {
        b.iter(|| drop(black_box(&base).try_acquire().unwrap()))
    });
    g.finish();

    // Both threads take and give back the one permit as fast as they can.
    let mut g = group(c, "semaphore_contended_2t");
    g.bench_function("weft", |b| {
        b.iter_custom(|iters| {
            let run = |s: &weft_sync::Semaphore, n: u64| {
                for _ in 0..n {
                    drop(s.acquire());
                }
            };
            two_threads(iters, Arc::new(weft_sync::Semaphore::new(1)), run, run)
        })
    });
    g.bench_function("Mutex+Condvar semaphore", |b| {
        b.iter_custom(|iters| {
            let run = |s: &CondvarSemaphore, n: u64| {
                for _ in 0..n {
                    s.acquire();
                    s.release();
                }
            };
            two_threads(iters, Arc::new(CondvarSemaphore::new(1)), run, run)
        })
    });
    g.finish();

    // The permit is handed over: each thread releases the other's semaphore, then acquires its own.
    let mut g = group(c, "semaphore_handoff_2t");
    g.bench_function("weft", |b| {
        b.iter_custom(|iters| {
            let sems = Arc::new([weft_sync::Semaphore::new(0), weft_sync::Semaphore::new(0)]);
            two_threads(
                iters,
                sems,
                |s, n| {
                    for _ in 0..n {
                        s[1].release(1).unwrap();
                        s[0].acquire().forget();
                    }
                },
                |s, n| {
                    for _ in 0..n {
                        s[1].acquire().forget();
                        s[0].release(1).unwrap();
                    }
                },
            )
        })
    });
    g.bench_function("Mutex+Condvar semaphore", |b| {
        b.iter_custom(|iters| {
            let sems = Arc::new([CondvarSemaphore::new(0), CondvarSemaphore::new(0)]);
            two_threads(
                iters,
                sems,
                |s, n| {
                    for _ in 0..n {
                        s[1].release();
                        s[0].acquire();
                    }
                },
                |s, n| {
                    for _ in 0..n {
                        s[1].acquire();
                        s[0].release();
                    }
                },
            )
        })
    });
    g.finish();
}

fn barrier(c: &mut Criterion) {
    let mut g = group(c, "barrier_2t");
    g.bench_function("weft", |b| {
        b.iter_custom(|iters| {
            let run = |b: &weft_sync::Barrier, n: u64| {
                for _ in 0..n {
                    b.wait().unwrap();
                }
            };
            two_threads(
                iters,
                Arc::new(weft_sync::Barrier::new(2).unwrap()),
                run,
                run,
            )
        })
    });
    g.bench_function("std::sync::Barrier", |b| {
        b.iter_custom(|iters| {
            let run = |b: &std::sync::Barrier, n: u64| {
                for _ in 0..n {
                    b.wait();
                }
            };
            two_threads(iters, Arc::new(std::sync::Barrier::new(2)), run, run)
        })
    });
    g.finish();
}

fn condition(c: &mut Criterion) {
    // A turn flag passed back and forth: each side waits for its turn, flips it, notifies.
    let mut g = group(c, "condition_pingpong_2t");
    g.bench_function("weft", |b| {
        b.iter_custom(|iters| {
            let side = |me: bool| {
                move |c: &weft_sync::Condition<bool>, n: u64| {
                    for _ in 0..n {
                        let mut turn = c.acquire();
                        turn.wait_for(|t| *t == me);
                        *turn = !me;
                        c.notify_one();
                    }
                }
            };
            two_threads(
                iters,
                Arc::new(weft_sync::Condition::new(true)),
                side(true),
                side(false),
            )
        })
    });
    g.bench_function("parking_lot Mutex+Condvar", |b| {
        b.iter_custom(|iters| {
            type Pair = (parking_lot::Mutex<bool>, parking_lot::Condvar);
            let side = |me: bool| {
                move |(m, cv): &Pair, n: u64| {
                    for _ in 0..n {
                        let mut turn = m.lock();
                        while *turn != me {
                            cv.wait(&mut turn);
                        }
                        *turn = !me;
                        cv.notify_one();
                    }
                }
            };
            let pair = Arc::new((parking_lot::Mutex::new(true), parking_lot::Condvar::new()));
            two_threads(iters, pair, side(true), side(false))
        })
    });
    g.finish();
}

/// The textbook event: a flag under a mutex and a condition variable.
struct CondvarEvent {
    flag: std::sync::Mutex<bool>,
    cv: std::sync::Condvar,
}

impl CondvarEvent {
    fn new() -> Self {
        Self {
            flag: std::sync::Mutex::new(false),
            cv: std::sync::Condvar::new(),
        }
    }
    fn set(&self) {
        *self.flag.lock().unwrap() = true;
        self.cv.notify_all();
    }
    fn clear(&self) {
        *self.flag.lock().unwrap() = false;
    }
    fn wait(&self) {
        let mut flag = self.flag.lock().unwrap();
        while !*flag {
            flag = self.cv.wait(flag).unwrap();
        }
    }
}

fn event(c: &mut Criterion) {
    // Two events: each side waits for its own, clears it, and sets the other's.
    let mut g = group(c, "event_pingpong_2t");
    g.bench_function("weft", |b| {
        b.iter_custom(|iters| {
            let events = Arc::new([weft_sync::Event::new(), weft_sync::Event::new()]);
            events[0].set();
            let side = |me: usize| {
                move |e: &[weft_sync::Event; 2], n: u64| {
                    for _ in 0..n {
                        e[me].wait();
                        e[me].clear();
                        e[1 - me].set();
                    }
                }
            };
            two_threads(iters, events, side(0), side(1))
        })
    });
    g.bench_function("Mutex<bool>+Condvar", |b| {
        b.iter_custom(|iters| {
            let events = Arc::new([CondvarEvent::new(), CondvarEvent::new()]);
            events[0].set();
            let side = |me: usize| {
                move |e: &[CondvarEvent; 2], n: u64| {
                    for _ in 0..n {
                        e[me].wait();
                        e[me].clear();
                        e[1 - me].set();
                    }
                }
            };
            two_threads(iters, events, side(0), side(1))
        })
    });
    g.finish();
}

/// Prints the footprint table: `size_of` each primitive beside its baseline. None of weft's
/// primitives allocates per waiter: a parked thread waits in parking_lot's per-thread parking slot.
fn sizes() {
    use std::mem::size_of;
    let rows = [
        (
            "Lock<()>",
            size_of::<weft_sync::Lock<()>>(),
            "parking_lot::Mutex<()>",
            size_of::<parking_lot::Mutex<()>>(),
        ),
        (
            "RLock<()>",
            size_of::<weft_sync::RLock<()>>(),
            "parking_lot::ReentrantMutex<()>",
            size_of::<parking_lot::ReentrantMutex<()>>(),
        ),
        (
            "Condition<()>",
            size_of::<weft_sync::Condition<()>>(),
            "parking_lot Mutex<()>+Condvar",
            size_of::<(parking_lot::Mutex<()>, parking_lot::Condvar)>(),
        ),
        (
            "Semaphore",
            size_of::<weft_sync::Semaphore>(),
            "tokio::sync::Semaphore",
            size_of::<tokio::sync::Semaphore>(),
        ),
        (
            "BoundedSemaphore",
            size_of::<weft_sync::BoundedSemaphore>(),
            "Mutex+Condvar semaphore",
            size_of::<CondvarSemaphore>(),
        ),
        (
            "Barrier",
            size_of::<weft_sync::Barrier>(),
            "std::sync::Barrier",
            size_of::<std::sync::Barrier>(),
        ),
        (
            "Event",
            size_of::<weft_sync::Event>(),
            "Mutex<bool>+Condvar",
            size_of::<CondvarEvent>(),
        ),
    ];
    println!("| type | bytes | baseline | bytes |");
    println!("|---|---|---|---|");
    for (weft, w, base, b) in rows {
        println!("| {weft} | {w} | {base} | {b} |");
    }
}

/// The spin budget a waiter spends before it parks: a one-microsecond acquire on an empty
/// semaphore spins through the whole budget, then finds its deadline passed at the parking step.
/// No baseline: this row documents the figure quoted in BENCHMARKS.md.
fn spin_budget(c: &mut Criterion) {
    let mut g = group(c, "spin_budget");
    let empty = weft_sync::Semaphore::new(0);
    g.bench_function("weft", |b| {
        b.iter(|| {
            black_box(&empty)
                .acquire_timeout(Duration::from_micros(1))
                .is_none()
        })
    });
    g.finish();
}

criterion_group!(
    benches,
    lock,
    rlock,
    semaphore,
    barrier,
    condition,
    event,
    spin_budget
);

/// Deadlock detection's cost (`--features deadlock-detection`): an uncontended acquire + release
/// holding no other lock and holding two, against parking_lot (no tracking) and tracing-mutex
/// (the crate that does lock-order tracking), each in its own group so each ratio is against it.
#[cfg(feature = "deadlock-detection")]
fn lockdep(c: &mut Criterion) {
    // Distinct classes for the held locks (one class taken inside itself would be reported).
    const OUTER: [&str; 2] = ["bench-outer-1", "bench-outer-2"];
    type Traced = tracing_mutex::stdsync::tracing::Mutex<u64>;
    for held in [0usize, 2] {
        let mut g = group(c, &format!("lockdep_held{held}"));
        let outer: Vec<weft_sync::Lock<()>> = OUTER[..held]
            .iter()
            .map(|name| weft_sync::Lock::named(name, ()))
            .collect();
        let guards: Vec<_> = outer.iter().map(|l| l.acquire()).collect();
        let weft = weft_sync::Lock::new(0u64);
        g.bench_function("weft", |b| b.iter(|| *black_box(&weft).acquire() += 1));
        drop(guards);
        let outer: Vec<parking_lot::Mutex<()>> =
            (0..held).map(|_| parking_lot::Mutex::new(())).collect();
        let guards: Vec<_> = outer.iter().map(|l| l.lock()).collect();
        let base = parking_lot::Mutex::new(0u64);
        g.bench_function("parking_lot::Mutex", |b| {
            b.iter(|| *black_box(&base).lock() += 1)
        });
        drop(guards);
        g.finish();

        let mut g = group(c, &format!("lockdep_vs_tracing_held{held}"));
        let outer: Vec<weft_sync::Lock<()>> = OUTER[..held]
            .iter()
            .map(|name| weft_sync::Lock::named(name, ()))
            .collect();
        let guards: Vec<_> = outer.iter().map(|l| l.acquire()).collect();
        let weft = weft_sync::Lock::new(0u64);
        g.bench_function("weft", |b| b.iter(|| *black_box(&weft).acquire() += 1));
        drop(guards);
        let outer: Vec<Traced> = (0..held).map(|_| Traced::new(0)).collect();
        let guards: Vec<_> = outer.iter().map(|l| l.lock()).collect();
        let traced = Traced::new(0);
        g.bench_function("tracing-mutex", |b| {
            b.iter(|| {
                if let Ok(mut v) = black_box(&traced).lock() {
                    *v += 1;
                }
            })
        });
        drop(guards);
        g.finish();
    }
}

#[cfg(feature = "deadlock-detection")]
criterion_group!(lockdep_benches, lockdep);

/// Prints what a thread that holds many locks pays under deadlock detection (past the 16 it keeps
/// in place): `n` locks of one class taken with `try_acquire` and released, half oldest first and
/// half newest first; the same locks taken blocking (`acquire`) and released; and 1 000 zero-timeout
/// `Condition` waits holding them. The best of three tries each. (Locks of one class taken one
/// inside the other are one order cycle, a class nested in itself: the table counts its reports.)
#[cfg(feature = "deadlock-detection")]
fn many_held() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static REPORTS: AtomicUsize = AtomicUsize::new(0);
    weft_sync::deadlock::set_deadlock_hook(|_| {
        REPORTS.fetch_add(1, Ordering::Relaxed);
    });
    fn best(f: impl Fn() -> Duration) -> Duration {
        (0..3).map(|_| f()).min().unwrap_or_default()
    }
    fn timed(f: impl FnOnce()) -> Duration {
        let start = Instant::now();
        f();
        start.elapsed()
    }
    println!("| deadlock detection, n locks held | n | take + release | blocking take + release | 1 000 `Condition` waits |");
    println!("|---|---|---|---|---|");
    for n in [2_000usize, 8_000, 32_000] {
        let locks: Vec<weft_sync::Lock<()>> = (0..n)
            .map(|_| weft_sync::Lock::named("bench-many-held", ()))
            .collect();
        let take_release = best(|| {
            timed(|| {
                let mut guards: Vec<_> = locks.iter().map(|l| l.try_acquire()).collect();
                for g in &mut guards[..n / 2] {
                    drop(g.take());
                }
                while guards.pop().is_some() {}
            })
        });
        let blocking = best(|| {
            timed(|| {
                let guards: Vec<_> = locks.iter().map(|l| l.acquire()).collect();
                drop(guards);
            })
        });
        let cond = weft_sync::Condition::named("bench-many-held-cond", ());
        let waits = best(|| {
            let guards: Vec<_> = locks.iter().map(|l| l.try_acquire()).collect();
            let took = timed(|| {
                let mut guard = cond.acquire();
                for _ in 0..1_000 {
                    black_box(guard.wait_timeout(Duration::ZERO));
                }
            });
            drop(guards);
            took
        });
        println!("| | {n} | {take_release:.2?} | {blocking:.2?} | {waits:.2?} |");
    }
    weft_sync::deadlock::clear_deadlock_hook();
    let reports = REPORTS.load(Ordering::Relaxed);
    println!("(deadlock reports made meanwhile: {reports}, the class nested in itself)");
    println!();
}

fn main() {
    if std::env::args().any(|a| a == "--bench") {
        sizes();
        #[cfg(feature = "deadlock-detection")]
        many_held();
    }
    #[cfg(feature = "deadlock-detection")]
    lockdep_benches();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
