//! weft-async's tasks against raw tokio, side by side in one run (`cargo xtask bench async`).
//!
//! Each criterion group is one workload named `async-<workload>`, with the function `weft` and
//! its baselines, all on tokio's single-threaded runtime (weft's `run`); an iteration builds the
//! runtime, runs the batch and drops the runtime, for weft and the baselines alike.
//! `benches/python/async.py` measures the same workloads with asyncio. `footprint` prints the
//! bytes allocated per task (a counting allocator wraps the system one).
#![allow(
    missing_docs,
    reason = "criterion_group! generates an undocumented function"
)]

use std::convert::Infallible;
use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use weft_async::{create_task, gather, run, TaskGroup};

mod common;
use common::{current_thread, live_bytes, Group};

#[global_allocator]
static GLOBAL: common::Counting = common::Counting;

const TASKS: u64 = 100_000;
const GROUP: u64 = 10_000;

fn group<'a>(c: &'a mut Criterion, name: &str, n: u64) -> Group<'a> {
    common::group(c, &format!("async-{name}"), n, Duration::from_secs(3))
}

async fn value(i: u64) -> u64 {
    black_box(i)
}

fn weft_gather(n: u64) -> u64 {
    run(async move {
        let tasks: Vec<_> = (0..n).map(|i| create_task(value(i))).collect();
        gather(tasks).await.unwrap().into_iter().sum()
    })
    .unwrap()
}

fn tokio_spawn_await(n: u64) -> u64 {
    current_thread().block_on(async move {
        let handles: Vec<_> = (0..n).map(|i| tokio::spawn(value(i))).collect();
        let mut sum = 0;
        for h in handles {
            sum += h.await.unwrap();
        }
        sum
    })
}

fn weft_task_group(n: u64) -> u64 {
    run(async move {
        let tg = TaskGroup::<Infallible>::new();
        let tasks: Vec<_> = (0..n)
            .map(|i| tg.create_task(async move { Ok(value(i).await) }).unwrap())
            .collect();
        tg.wait().await.unwrap();
        let mut sum = 0;
        for t in tasks {
            sum += t.await.unwrap();
        }
        sum
    })
    .unwrap()
}

fn tokio_join_set(n: u64) -> u64 {
    current_thread().block_on(async move {
        let mut set = tokio::task::JoinSet::new();
        for i in 0..n {
            set.spawn(value(i));
        }
        let mut sum = 0;
        while let Some(v) = set.join_next().await {
            sum += v.unwrap();
        }
        sum
    })
}

fn gather_100k(c: &mut Criterion) {
    let expected: u64 = (0..TASKS).sum();
    assert_eq!(weft_gather(TASKS), expected);
    assert_eq!(tokio_spawn_await(TASKS), expected);
    let mut g = group(c, "gather-100k", TASKS);
    g.bench_function("weft", |b| b.iter(|| weft_gather(TASKS)));
    g.bench_function("tokio-spawn-await", |b| b.iter(|| tokio_spawn_await(TASKS)));
    g.finish();
}

fn task_group_10k(c: &mut Criterion) {
    let expected: u64 = (0..GROUP).sum();
    assert_eq!(weft_task_group(GROUP), expected);
    assert_eq!(tokio_join_set(GROUP), expected);
    let mut g = group(c, "task-group-10k", GROUP);
    g.bench_function("weft", |b| b.iter(|| weft_task_group(GROUP)));
    g.bench_function("tokio-joinset", |b| b.iter(|| tokio_join_set(GROUP)));
    g.finish();
}

/// Heap bytes in use per task while `n` tasks are alive (started, not yet run), measured
/// inside one runtime.
fn per_task<F: std::future::Future>(n: u64, make: impl FnOnce(u64) -> F) -> f64 {
    let live = || live_bytes() as f64;
    let rt = current_thread();
    rt.block_on(async move {
        let before = live();
        let alive = make(n).await;
        let after = live();
        drop(black_box(alive));
        (after - before) / n as f64
    })
}

fn footprint(_: &mut Criterion) {
    const N: u64 = 10_000;
    let weft_task = per_task(N, |n| async move {
        (0..n).map(|i| create_task(value(i))).collect::<Vec<_>>()
    });
    let tokio_task = per_task(N, |n| async move {
        (0..n).map(|i| tokio::spawn(value(i))).collect::<Vec<_>>()
    });
    // Both without the per-task handles (JoinSet::spawn's AbortHandle, create_task's GroupTask).
    let weft_group = per_task(N, |n| async move {
        let tg = TaskGroup::<Infallible>::new();
        for i in 0..n {
            drop(tg.create_task(async move { Ok(value(i).await) }));
        }
        tg
    });
    let join_set = per_task(N, |n| async move {
        let mut set = tokio::task::JoinSet::new();
        for i in 0..n {
            set.spawn(value(i));
        }
        set
    });
    // The same task body as the group's (a group task returns a Result).
    let join_set_result = per_task(N, |n| async move {
        let mut set = tokio::task::JoinSet::new();
        for i in 0..n {
            set.spawn(async move { Ok::<_, Infallible>(value(i).await) });
        }
        set
    });
    println!("\n=== footprint: heap bytes in use per pending task (10k tasks) ===");
    println!("create_task: weft {weft_task:.0} B, tokio::spawn {tokio_task:.0} B");
    println!(
        "TaskGroup task: weft {weft_group:.0} B, tokio JoinSet {join_set:.0} B \
         ({join_set_result:.0} B with the group's task body)"
    );
}

criterion_group!(benches, gather_100k, task_group_10k, footprint);
criterion_main!(benches);
