//! asyncio's primitives against tokio's nearest equivalents, side by side in one run.
//!
//! Each criterion group is one workload named `async-<workload>`, with the function `weft` and
//! its baselines: two tasks handing a turn back and forth (`*-pingpong`, per round trip), two
//! tasks meeting at a barrier (per generation), and an uncontended semaphore acquire+release. The
//! groups run on tokio's single-threaded runtime unless named `-mt` (two worker threads). Before
//! the groups, `footprint` prints the bytes per idle waiter: the heap each waiting task costs
//! (task, future and any waiter-list slot; a counting allocator wraps the system one) and the
//! size of the bare wait future.
#![allow(
    missing_docs,
    reason = "criterion_group! generates an undocumented function"
)]

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use tokio::sync::{Mutex, Notify};
use weft_async::{Barrier, BoundedSemaphore, Condition, Event};

mod common;
use common::{current_thread, live_bytes, Group};

#[global_allocator]
static GLOBAL: common::Counting = common::Counting;

fn group<'a>(c: &'a mut Criterion, name: &str) -> Group<'a> {
    common::group(c, &format!("async-{name}"), 1, Duration::from_secs(2))
}

fn multi_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Times `iters` rounds of a two-party workload: `peer(iters)` is spawned, `main(iters)` runs
/// on the runtime's main future.
fn rounds<P, M, PF, MF>(rt: &tokio::runtime::Runtime, iters: u64, peer: P, main: M) -> Duration
where
    P: FnOnce(u64) -> PF,
    M: FnOnce(u64) -> MF,
    PF: Future<Output = ()> + Send + 'static,
    MF: Future<Output = ()>,
{
    rt.block_on(async {
        let start = Instant::now();
        let peer = tokio::spawn(peer(iters));
        main(iters).await;
        peer.await.unwrap();
        start.elapsed()
    })
}

// --- Event ping-pong ---------------------------------------------------------------------------

/// A manual-reset event, as both sides of the `event` group use it: weft's [`Event`] and the
/// flag-plus-`Notify` baseline run the same ping-pong.
trait ManualReset: Send + Sync + 'static {
    fn new() -> Self;
    fn set(&self);
    fn clear(&self);
    fn wait(&self) -> impl Future<Output = ()> + Send + '_;
}

impl ManualReset for Event {
    fn new() -> Self {
        Event::new()
    }
    fn set(&self) {
        Event::set(self);
    }
    fn clear(&self) {
        Event::clear(self);
    }
    fn wait(&self) -> impl Future<Output = ()> + Send + '_ {
        Event::wait(self)
    }
}

/// Two tasks hand a turn back and forth through two manual-reset events.
fn flag_pingpong<E: ManualReset>(rt: &tokio::runtime::Runtime, iters: u64) -> Duration {
    let (ping, pong) = (Arc::new(E::new()), Arc::new(E::new()));
    let (p2, q2) = (Arc::clone(&ping), Arc::clone(&pong));
    rounds(
        rt,
        iters,
        move |n| async move {
            for _ in 0..n {
                p2.wait().await;
                p2.clear();
                q2.set();
            }
        },
        move |n| async move {
            for _ in 0..n {
                ping.set();
                pong.wait().await;
                pong.clear();
            }
        },
    )
}

/// The usual tokio signal: `Notify::notify_one`, whose single stored permit makes it an
/// auto-reset event.
fn notify_pingpong(rt: &tokio::runtime::Runtime, iters: u64) -> Duration {
    let (ping, pong) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let (p2, q2) = (Arc::clone(&ping), Arc::clone(&pong));
    rounds(
        rt,
        iters,
        move |n| async move {
            for _ in 0..n {
                p2.notified().await;
                q2.notify_one();
            }
        },
        move |n| async move {
            for _ in 0..n {
                ping.notify_one();
                pong.notified().await;
            }
        },
    )
}

/// A manual-reset event built the way tokio's docs suggest: an atomic flag plus `Notify`.
struct FlagNotify {
    flag: AtomicBool,
    notify: Notify,
}

impl ManualReset for FlagNotify {
    fn new() -> Self {
        Self {
            flag: AtomicBool::new(false),
            notify: Notify::new(),
        }
    }
    fn set(&self) {
        self.flag.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }
    fn clear(&self) {
        self.flag.store(false, Ordering::SeqCst);
    }
    async fn wait(&self) {
        loop {
            let notified = self.notify.notified();
            if self.flag.load(Ordering::SeqCst) {
                return;
            }
            notified.await;
        }
    }
}

fn event(c: &mut Criterion) {
    for (name, rt) in [
        ("event-pingpong", current_thread()),
        ("event-pingpong-mt", multi_thread()),
    ] {
        let mut g = group(c, name);
        g.bench_function("weft", |b| {
            b.iter_custom(|n| flag_pingpong::<Event>(&rt, n))
        });
        g.bench_function("tokio-flag-notify", |b| {
            b.iter_custom(|n| flag_pingpong::<FlagNotify>(&rt, n))
        });
        g.bench_function("tokio-notify-one", |b| {
            b.iter_custom(|n| notify_pingpong(&rt, n))
        });
        g.finish();
    }
}

// --- Condition ping-pong -----------------------------------------------------------------------

/// Two tasks take turns: each waits for `turn == me`, flips it and notifies.
fn condition_pingpong(rt: &tokio::runtime::Runtime, iters: u64) -> Duration {
    let cond = Arc::new(Condition::new(false));
    let c2 = Arc::clone(&cond);
    rounds(
        rt,
        iters,
        move |n| async move {
            for _ in 0..n {
                let mut g = c2.acquire().await.wait_for(|turn| *turn).await;
                *g = false;
                g.notify_one();
            }
        },
        move |n| async move {
            for _ in 0..n {
                let mut g = cond.acquire().await.wait_for(|turn| !*turn).await;
                *g = true;
                g.notify_one();
            }
            drop(cond.acquire().await.wait_for(|turn| !*turn).await);
        },
    )
}

/// The same with what tokio offers: a `Mutex` for the state and a `Notify` to wake the other.
fn mutex_notify_pingpong(rt: &tokio::runtime::Runtime, iters: u64) -> Duration {
    let state = Arc::new((Mutex::new(false), Notify::new()));
    let s2 = Arc::clone(&state);
    async fn wait_for(s: &(Mutex<bool>, Notify), want: bool) -> tokio::sync::MutexGuard<'_, bool> {
        loop {
            let notified = s.1.notified();
            let g = s.0.lock().await;
            if *g == want {
                return g;
            }
            drop(g);
            notified.await;
        }
    }
    rounds(
        rt,
        iters,
        move |n| async move {
            for _ in 0..n {
                let mut g = wait_for(&s2, true).await;
                *g = false;
                s2.1.notify_waiters();
            }
        },
        move |n| async move {
            for _ in 0..n {
                let mut g = wait_for(&state, false).await;
                *g = true;
                state.1.notify_waiters();
            }
            drop(wait_for(&state, false).await);
        },
    )
}

fn condition(c: &mut Criterion) {
    for (name, rt) in [
        ("condition-pingpong", current_thread()),
        ("condition-pingpong-mt", multi_thread()),
    ] {
        let mut g = group(c, name);
        g.bench_function("weft", |b| b.iter_custom(|n| condition_pingpong(&rt, n)));
        g.bench_function("tokio-mutex-notify", |b| {
            b.iter_custom(|n| mutex_notify_pingpong(&rt, n))
        });
        g.finish();
    }
}

// --- Barrier -----------------------------------------------------------------------------------

fn barrier(c: &mut Criterion) {
    for (name, rt) in [
        ("barrier2", current_thread()),
        ("barrier2-mt", multi_thread()),
    ] {
        let mut g = group(c, name);
        g.bench_function("weft", |b| {
            b.iter_custom(|n| {
                let barrier = Arc::new(Barrier::new(2).unwrap());
                let b2 = Arc::clone(&barrier);
                rounds(
                    &rt,
                    n,
                    move |n| async move {
                        for _ in 0..n {
                            b2.wait().await.unwrap();
                        }
                    },
                    move |n| async move {
                        for _ in 0..n {
                            barrier.wait().await.unwrap();
                        }
                    },
                )
            })
        });
        g.bench_function("tokio-barrier", |b| {
            b.iter_custom(|n| {
                let barrier = Arc::new(tokio::sync::Barrier::new(2));
                let b2 = Arc::clone(&barrier);
                rounds(
                    &rt,
                    n,
                    move |n| async move {
                        for _ in 0..n {
                            b2.wait().await;
                        }
                    },
                    move |n| async move {
                        for _ in 0..n {
                            barrier.wait().await;
                        }
                    },
                )
            })
        });
        g.finish();
    }
}

// --- BoundedSemaphore --------------------------------------------------------------------------

fn semaphore(c: &mut Criterion) {
    let rt = current_thread();
    let mut g = group(c, "bounded-semaphore-acquire");
    let weft = BoundedSemaphore::new(4);
    let tokio_sem = tokio::sync::Semaphore::new(4);
    g.bench_function("weft", |b| {
        b.to_async(&rt)
            .iter(|| async { drop(weft.acquire().await) })
    });
    g.bench_function("tokio-semaphore", |b| {
        b.to_async(&rt)
            .iter(|| async { drop(tokio_sem.acquire().await.unwrap()) })
    });
    g.finish();

    let mut g = group(c, "bounded-semaphore-manual");
    g.bench_function("weft", |b| {
        b.to_async(&rt).iter(|| async {
            weft.acquire_forget().await;
            weft.release().unwrap();
        })
    });
    g.bench_function("tokio-semaphore", |b| {
        b.to_async(&rt).iter(|| async {
            tokio_sem.acquire().await.unwrap().forget();
            tokio_sem.add_permits(1); // unbounded: no over-release check
        })
    });
    g.finish();
}

// --- Footprint ---------------------------------------------------------------------------------

const WAITERS: usize = 10_000;

/// Spawns `WAITERS` tasks that each run `wait`, lets them all reach their wait, and returns the
/// heap bytes live per waiting task; then `release` lets them finish.
fn per_waiter<W, F, R, RF>(wait: W, release: R) -> usize
where
    W: Fn() -> F,
    F: Future<Output = ()> + Send + 'static,
    R: FnOnce() -> RF,
    RF: Future<Output = ()>,
{
    let rt = current_thread();
    rt.block_on(async {
        let before = live_bytes();
        let tasks: Vec<_> = (0..WAITERS).map(|_| tokio::spawn(wait())).collect();
        for _ in 0..4 {
            tokio::task::yield_now().await; // every task runs to its wait
        }
        let bytes = live_bytes().wrapping_sub(before);
        // The handles vector is not the waiters' cost.
        let handles = tasks.capacity() * std::mem::size_of::<tokio::task::JoinHandle<()>>();
        release().await;
        for t in tasks {
            t.await.unwrap();
        }
        (bytes - handles) / WAITERS
    })
}

fn footprint(_: &mut Criterion) {
    let ev = Arc::new(Event::new());
    let weft_event = per_waiter(
        || {
            let ev = Arc::clone(&ev);
            async move { ev.wait().await }
        },
        || async { ev.set() },
    );
    let flag = Arc::new(FlagNotify::new());
    let tokio_event = per_waiter(
        || {
            let flag = Arc::clone(&flag);
            async move { flag.wait().await }
        },
        || async { flag.set() },
    );

    let cond = Arc::new(Condition::new(false));
    let weft_cond = per_waiter(
        || {
            let cond = Arc::clone(&cond);
            async move { drop(cond.acquire().await.wait_for(|go| *go).await) }
        },
        || async {
            let mut g = cond.acquire().await;
            *g = true;
            g.notify_all();
        },
    );
    let mn = Arc::new((Mutex::new(false), Notify::new()));
    let tokio_cond = per_waiter(
        || {
            let mn = Arc::clone(&mn);
            async move {
                loop {
                    let notified = mn.1.notified();
                    if *mn.0.lock().await {
                        return;
                    }
                    notified.await;
                }
            }
        },
        || async {
            *mn.0.lock().await = true;
            mn.1.notify_waiters();
        },
    );

    let barrier = Arc::new(Barrier::new(WAITERS + 1).unwrap());
    let weft_barrier = per_waiter(
        || {
            let barrier = Arc::clone(&barrier);
            async move {
                barrier.wait().await.unwrap();
            }
        },
        || async {
            barrier.wait().await.unwrap();
        },
    );
    let tbarrier = Arc::new(tokio::sync::Barrier::new(WAITERS + 1));
    let tokio_barrier = per_waiter(
        || {
            let barrier = Arc::clone(&tbarrier);
            async move {
                barrier.wait().await;
            }
        },
        || async {
            tbarrier.wait().await;
        },
    );

    let sem = Arc::new(BoundedSemaphore::new(1));
    sem.try_acquire().unwrap().forget();
    let weft_sem = per_waiter(
        || {
            let sem = Arc::clone(&sem);
            async move {
                drop(sem.acquire().await);
            }
        },
        || async { sem.release().unwrap() }, // the permit then passes from waiter to waiter
    );
    let tsem = Arc::new(tokio::sync::Semaphore::new(0));
    let tokio_sem = per_waiter(
        || {
            let sem = Arc::clone(&tsem);
            async move {
                drop(sem.acquire().await.unwrap());
            }
        },
        || async { tsem.add_permits(1) },
    );

    let e = Event::new();
    let cnd = Condition::new(0u8);
    let b = Barrier::new(2).unwrap();
    let s = BoundedSemaphore::new(1);
    let f = FlagNotify::new();
    let tb = tokio::sync::Barrier::new(2);
    let ts = tokio::sync::Semaphore::new(1);
    let rt = current_thread();
    let cond_wait = rt.block_on(async { std::mem::size_of_val(&cnd.acquire().await.wait()) });
    println!("footprint: heap bytes per idle waiting task (task + future + waiter slot), {WAITERS} waiters; bare wait-future size in parentheses");
    println!(
        "  event:      weft {weft_event} ({}) | tokio flag+Notify {tokio_event} ({})",
        std::mem::size_of_val(&e.wait()),
        std::mem::size_of_val(&f.wait())
    );
    println!(
        "  condition:  weft {weft_cond} ({cond_wait}) | tokio Mutex+Notify {tokio_cond} (Notified {})",
        std::mem::size_of::<tokio::sync::futures::Notified<'_>>()
    );
    println!(
        "  barrier:    weft {weft_barrier} ({}) | tokio Barrier {tokio_barrier} ({})",
        std::mem::size_of_val(&b.wait()),
        std::mem::size_of_val(&tb.wait())
    );
    println!(
        "  bounded semaphore: weft {weft_sem} ({}) | tokio Semaphore {tokio_sem} ({})",
        std::mem::size_of_val(&s.acquire()),
        std::mem::size_of_val(&ts.acquire())
    );
    println!(
        "  primitive sizes: Event {} | Condition<u8> {} | Barrier {} | BoundedSemaphore {} | tokio Notify {} Mutex<u8> {} Barrier {} Semaphore {}",
        std::mem::size_of::<Event>(),
        std::mem::size_of::<Condition<u8>>(),
        std::mem::size_of::<Barrier>(),
        std::mem::size_of::<BoundedSemaphore>(),
        std::mem::size_of::<Notify>(),
        std::mem::size_of::<Mutex<u8>>(),
        std::mem::size_of::<tokio::sync::Barrier>(),
        std::mem::size_of::<tokio::sync::Semaphore>(),
    );
}

criterion_group!(benches, footprint, event, condition, barrier, semaphore);
criterion_main!(benches);
