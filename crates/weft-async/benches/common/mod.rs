//! What the weft-async benches share: a counting allocator for the memory figures (a bench opts
//! in with `#[global_allocator] static GLOBAL: common::Counting = common::Counting;`), the runtime
//! they measure on, criterion groups that leave the command line's settings alone, and the
//! generator benches' way to time a stream.
#![allow(dead_code, reason = "each bench uses a part")]

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use criterion::{BenchmarkGroup, Criterion, Throughput};
use futures_core::Stream;
use futures_util::StreamExt;

/// A criterion group timed by the clock.
pub(crate) type Group<'a> = BenchmarkGroup<'a, criterion::measurement::WallTime>;

/// Whether the command line sets `flag` (`--flag value` or `--flag=value`).
fn cli_sets(flag: &str) -> bool {
    std::env::args().any(|a| a == flag || a.starts_with(&format!("{flag}=")))
}

/// The group `name`, `n` elements per iteration, measured for `measurement`. A group's settings
/// override the command line's: they are set only where it is silent, so that
/// `-- --warm-up-time 0.2 --measurement-time 0.5` gives a quick run.
pub(crate) fn group<'a>(
    c: &'a mut Criterion,
    name: &str,
    n: u64,
    measurement: Duration,
) -> Group<'a> {
    let mut g = c.benchmark_group(name);
    if !cli_sets("--warm-up-time") {
        g.warm_up_time(Duration::from_millis(500));
    }
    if !cli_sets("--measurement-time") {
        g.measurement_time(measurement);
    }
    if !cli_sets("--sample-size") {
        g.sample_size(20);
    }
    g.throughput(Throughput::Elements(n));
    g
}

/// Sums a stream's items, each through `black_box`.
pub(crate) async fn sum<S: Stream<Item = u64>>(s: S) -> u64 {
    let mut s = pin!(s);
    let mut total = 0u64;
    while let Some(x) = s.next().await {
        total = total.wrapping_add(black_box(x));
    }
    total
}

/// One function of a generator group: sums the `n` items of the stream `make(n)` on `rt`. Every
/// function goes through this same code, so that only the stream differs.
pub(crate) fn bench_stream<S: Stream<Item = u64>>(
    g: &mut Group<'_>,
    rt: &tokio::runtime::Runtime,
    name: &str,
    n: u64,
    make: fn(u64) -> S,
) {
    let expected = (0..n).sum::<u64>();
    g.bench_function(name, |b| {
        b.to_async(rt)
            .iter(|| async { assert_eq!(sum(make(black_box(n))).await, expected) })
    });
}

/// Counts the bytes allocated and freed, for the per-task and per-waiter memory figures.
pub(crate) struct Counting;

static ALLOCATED: AtomicUsize = AtomicUsize::new(0);
static FREED: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged; the counters are a side
// note.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATED.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's contract is passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        FREED.fetch_add(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's contract is passed on as is.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Heap bytes in use now (allocated minus freed), as counted by [`Counting`].
pub(crate) fn live_bytes() -> usize {
    ALLOCATED
        .load(Ordering::Relaxed)
        .wrapping_sub(FREED.load(Ordering::Relaxed))
}

/// tokio's single-threaded runtime (weft's `run`), with its drivers.
pub(crate) fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}
