//! weft-async's async generators against async-stream and a hand-written `Stream`, side by side
//! in one run (`cargo xtask bench async`, or `cargo bench -p weft-async --bench generator`).
//!
//! Each criterion group is one workload named `async-generator-<form>`, with the function
//! `weft` and its baselines; an iteration consumes 1M `u64` items on a current-thread tokio
//! runtime (built once), summing them (every item goes through `black_box`).
//! - `async-generator-macro`: weft's `async_gen!` (async-stream's `stream!` re-exported: the
//!   same code, so parity is expected) against `async_stream::stream!` and a hand-written
//!   `Stream` (the floor: no generator at all).
//! - `async-generator-fn`: the macro-free `generator(|mut co| ...)` against the same
//!   baselines and `mutex-slot`, the safe design weft did not take (a yielder and its stream
//!   sharing an `Arc<parking_lot::Mutex<Option<T>>>`): its figure is why `generator` passes
//!   values through a thread-local pointer with `unsafe` (see `src/generator.rs`); and
//!   `async-stream-boxed`, async-stream's stream in a `Box`, as `generator` boxes its body to be
//!   `Unpin`: what that box costs per item.
//! - `async-generator-asend`: 100k round trips with a two-way `coroutine` (`asend(v)` in, the
//!   next yield out) against the usual Rust way to talk to a running async loop: a task and a
//!   pair of tokio mpsc channels.
#![allow(
    missing_docs,
    reason = "criterion_group! generates an undocumented function"
)]

mod common;

use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use futures_core::Stream;

use common::{bench_stream, Group};
use parking_lot::Mutex;
use tokio::runtime::Runtime;
use weft_async::{async_gen, coroutine, generator};

const ITEMS: u64 = 1_000_000;
const ROUND_TRIPS: u64 = 100_000;

fn group<'a>(c: &'a mut Criterion, name: &str, n: u64) -> Group<'a> {
    common::group(
        c,
        &format!("async-generator-{name}"),
        n,
        Duration::from_secs(3),
    )
}

fn current_thread() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
}

/// The floor: a `Stream` written by hand, no generator.
struct Counter {
    next: u64,
    end: u64,
}

impl Stream for Counter {
    type Item = u64;

    fn poll_next(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<u64>> {
        if self.next == self.end {
            return Poll::Ready(None);
        }
        let i = self.next;
        self.next += 1;
        Poll::Ready(Some(i))
    }
}

fn hand_written(n: u64) -> Counter {
    Counter { next: 0, end: n }
}

fn async_stream_macro(n: u64) -> impl Stream<Item = u64> {
    async_stream::stream! {
        for i in 0..n {
            yield i;
        }
    }
}

/// async-stream's stream in a `Box`, as `generator` boxes its body (to be `Unpin`): what the box
/// costs.
fn async_stream_boxed(n: u64) -> Pin<Box<impl Stream<Item = u64>>> {
    Box::pin(async_stream_macro(n))
}

// ---------------------------------------------------------------------------------------------
// mutex-slot: the safe design, for comparison
// ---------------------------------------------------------------------------------------------

/// A generator whose yielder hands values over in an `Arc<Mutex<Option<T>>>`: no `unsafe`, a
/// lock on each side per item.
struct MutexGen<T, F> {
    slot: Arc<Mutex<Option<T>>>,
    body: Option<Pin<Box<F>>>,
}

struct MutexYielder<T> {
    slot: Arc<Mutex<Option<T>>>,
}

struct MutexYield<'a, T> {
    slot: &'a Mutex<Option<T>>,
    value: Option<T>,
}

impl<T> Unpin for MutexYield<'_, T> {}

impl<T> Future for MutexYield<'_, T> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
        match self.value.take() {
            Some(v) => {
                *self.slot.lock() = Some(v);
                Poll::Pending
            }
            None => Poll::Ready(()),
        }
    }
}

impl<T> MutexYielder<T> {
    fn yield_(&mut self, value: T) -> MutexYield<'_, T> {
        MutexYield {
            slot: &self.slot,
            value: Some(value),
        }
    }
}

fn mutex_generator<T, F: Future<Output = ()>>(
    f: impl FnOnce(MutexYielder<T>) -> F,
) -> MutexGen<T, F> {
    let slot = Arc::new(Mutex::new(None));
    let body = f(MutexYielder { slot: slot.clone() });
    MutexGen {
        slot,
        body: Some(Box::pin(body)),
    }
}

impl<T, F: Future<Output = ()>> Unpin for MutexGen<T, F> {}

impl<T, F: Future<Output = ()>> Stream for MutexGen<T, F> {
    type Item = T;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let Some(body) = self.body.as_mut() else {
            return Poll::Ready(None);
        };
        let done = body.as_mut().poll(cx).is_ready();
        if done {
            self.body = None;
        }
        match self.slot.lock().take() {
            Some(v) => Poll::Ready(Some(v)),
            None if done => Poll::Ready(None),
            None => Poll::Pending,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Groups
// ---------------------------------------------------------------------------------------------

fn weft_macro(n: u64) -> impl Stream<Item = u64> {
    async_gen! {
        for i in 0..n {
            yield i;
        }
    }
}

fn weft_fn(n: u64) -> impl Stream<Item = u64> {
    generator(move |mut co| async move {
        for i in 0..n {
            co.yield_(i).await;
        }
    })
}

fn mutex_slot(n: u64) -> impl Stream<Item = u64> {
    mutex_generator(move |mut co| async move {
        for i in 0..n {
            co.yield_(i).await;
        }
    })
}

// The xtask table compares `weft` with the fastest other function of a group, so the issue's
// baseline (async-stream) has a group of its own for each form, and the floor (a hand-written
// Stream) and the safe design (a mutex slot) have theirs.

fn macro_form(c: &mut Criterion) {
    let rt = current_thread();
    let mut g = group(c, "macro", ITEMS);
    bench_stream(&mut g, &rt, "async-stream", ITEMS, async_stream_macro);
    bench_stream(&mut g, &rt, "weft", ITEMS, weft_macro);
    g.finish();
}

fn fn_form(c: &mut Criterion) {
    let rt = current_thread();
    let mut g = group(c, "fn", ITEMS);
    bench_stream(&mut g, &rt, "async-stream", ITEMS, async_stream_macro);
    bench_stream(&mut g, &rt, "async-stream-boxed", ITEMS, async_stream_boxed);
    bench_stream(&mut g, &rt, "weft", ITEMS, weft_fn);
    g.finish();
}

/// The macro-free form against the floor, a hand-written `Stream`.
fn floor(c: &mut Criterion) {
    let rt = current_thread();
    let mut g = group(c, "floor", ITEMS);
    bench_stream(&mut g, &rt, "hand-written", ITEMS, hand_written);
    bench_stream(&mut g, &rt, "weft", ITEMS, weft_fn);
    g.finish();
}

/// Why the macro-free form passes values through a thread-local pointer (`unsafe`): the safe
/// design, a shared mutex slot, is the baseline here.
fn safe_slot(c: &mut Criterion) {
    let rt = current_thread();
    let mut g = group(c, "safe-slot", ITEMS);
    bench_stream(&mut g, &rt, "mutex-slot", ITEMS, mutex_slot);
    bench_stream(&mut g, &rt, "weft", ITEMS, weft_fn);
    g.finish();
}

fn asend(c: &mut Criterion) {
    let rt = current_thread();
    let mut g = group(c, "asend", ROUND_TRIPS);
    g.bench_function("weft", |b| {
        b.to_async(&rt).iter(|| async {
            // x = yield x + 1, forever
            let mut co = coroutine(|mut co| async move {
                let mut x: u64 = co.yield_(0).await;
                loop {
                    x = co.yield_(x + 1).await;
                }
            });
            let mut x = co.start().await.unwrap().unwrap();
            for _ in 0..ROUND_TRIPS {
                x = co.asend(black_box(x)).await.unwrap().unwrap();
            }
            assert_eq!(x, ROUND_TRIPS);
        })
    });
    g.bench_function("tokio-mpsc-task", |b| {
        b.to_async(&rt).iter(|| async {
            let (to_task, mut from_main) = tokio::sync::mpsc::channel::<u64>(1);
            let (to_main, mut from_task) = tokio::sync::mpsc::channel::<u64>(1);
            let echo = tokio::spawn(async move {
                while let Some(x) = from_main.recv().await {
                    if to_main.send(x + 1).await.is_err() {
                        break;
                    }
                }
            });
            let mut x = 0;
            for _ in 0..ROUND_TRIPS {
                to_task.send(black_box(x)).await.unwrap();
                x = from_task.recv().await.unwrap();
            }
            drop(to_task);
            echo.await.unwrap();
            assert_eq!(x, ROUND_TRIPS);
        })
    });
    g.finish();
}

criterion_group!(benches, macro_form, fn_form, floor, safe_slot, asend);
criterion_main!(benches);
