//! Each workload of `tasks.rs` and `generator.rs` once, for counting instructions where a timer is
//! too noisy (BENCHMARKS.md, weft-async):
//!
//! ```text
//! cargo bench -p weft-async --bench instructions --no-run   # prints the binary's path
//! valgrind --tool=cachegrind --cache-sim=no <that binary> generator
//! ```
//!
//! Workloads: `generator` (1M items through `generator(|co| ...)`), `try-generator` (the same
//! through `try_generator`), `coroutine` (1M `asend` round trips), `async-stream` (the same items
//! through `async_stream::stream!`), `tasks` (100k `create_task`, each awaited, in `run`), `group`
//! (a 10k-task `TaskGroup` in `run`), `async-with` (an `async_with` body polled 1M times in `run`,
//! each poll returning `Pending` once after waking its task), and `generator_design.rs`'s sketches
//! (`design-unchecked`, `design-identity-check`, `design-identity-check+catch_unwind`, 1M items
//! each, as `generator`). Run by `cargo bench` without a workload, it does nothing.
#![allow(missing_docs, reason = "a bench binary")]

use std::hint::black_box;

use futures_util::StreamExt;

#[path = "common/design.rs"]
mod design;

const ITEMS: u64 = 1_000_000;

fn main() {
    let Some(workload) = std::env::args().skip(1).find(|a| !a.starts_with("--")) else {
        return;
    };
    match workload.as_str() {
        "generator" => stream_sum(|| {
            weft_async::generator(|mut co| async move {
                for i in 0..black_box(ITEMS) {
                    co.yield_(i).await;
                }
            })
        }),
        "try-generator" => stream_sum(|| {
            weft_async::try_generator(|mut co| async move {
                for i in 0..black_box(ITEMS) {
                    co.yield_(i).await;
                }
                Ok::<(), ()>(())
            })
            .map(|r| r.expect("no error"))
        }),
        "coroutine" => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("runtime");
            let sum = rt.block_on(async {
                let mut c = weft_async::coroutine(|mut co| async move {
                    let mut total = 0u64;
                    loop {
                        total += co.yield_(total).await;
                    }
                });
                c.start().await.expect("fresh");
                let mut last = 0;
                for i in 0..black_box(ITEMS) {
                    last = c.asend(i).await.expect("suspended").expect("a value");
                }
                last
            });
            assert_eq!(sum, (0..ITEMS).sum::<u64>());
        }
        "async-stream" => stream_sum(|| {
            Box::pin(async_stream::stream! {
                for i in 0..black_box(ITEMS) {
                    yield i;
                }
            })
        }),
        "design-unchecked" => {
            stream_sum(|| design::counting_sketch::<{ design::UNCHECKED }>(black_box(ITEMS)));
        }
        "design-identity-check" => {
            stream_sum(|| design::counting_sketch::<{ design::IDENTITY }>(black_box(ITEMS)));
        }
        "design-identity-check+catch_unwind" => stream_sum(|| {
            design::counting_sketch::<{ design::IDENTITY_AND_CATCH_UNWIND }>(black_box(ITEMS))
        }),
        "tasks" => {
            let total = weft_async::run(async {
                let tasks: Vec<_> = (0..100_000u64)
                    .map(|i| weft_async::create_task(async move { black_box(i) }))
                    .collect();
                let mut sum = 0;
                for t in tasks {
                    sum += t.await.expect("a task of this run");
                }
                sum
            })
            .expect("not nested");
            assert_eq!(total, (0..100_000u64).sum::<u64>());
        }
        "group" => weft_async::run(async {
            let tg = weft_async::TaskGroup::<()>::new();
            for i in 0..10_000u64 {
                let _task = tg
                    .create_task(async move {
                        black_box(i);
                        Ok::<_, ()>(())
                    })
                    .expect("an open group");
            }
            tg.wait().await.expect("no failure");
        })
        .expect("not nested"),
        "async-with" => weft_async::run(async {
            let cm = weft_async::context_manager(
                || async { Ok::<_, std::convert::Infallible>(()) },
                |(), _| async { Ok::<_, std::convert::Infallible>(()) },
            );
            let polls = weft_async::async_with(cm, async |_: &mut ()| {
                let mut polls = 0u64;
                for _ in 0..black_box(ITEMS) {
                    polls += PendingOnce(false).await;
                }
                Ok::<_, std::convert::Infallible>(polls)
            })
            .await
            .expect("no failure");
            assert_eq!(polls, ITEMS);
        })
        .expect("not nested"),
        other => {
            panic!("no workload `{other}`: see the bench's docs")
        }
    }
}

/// A future that wakes its task and returns `Pending` once, then 1: one more poll of whatever
/// awaits it, through the runtime's queue.
struct PendingOnce(bool);

impl std::future::Future for PendingOnce {
    type Output = u64;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<u64> {
        if std::mem::replace(&mut self.0, true) {
            std::task::Poll::Ready(1)
        } else {
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    }
}

/// Sums the stream `make` returns on a current-thread runtime and checks the sum.
fn stream_sum<S: futures_core::Stream<Item = u64> + Unpin>(make: impl FnOnce() -> S) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let sum = rt.block_on(async {
        let mut s = make();
        let mut sum = 0u64;
        while let Some(x) = s.next().await {
            sum += black_box(x);
        }
        sum
    });
    assert_eq!(sum, (0..ITEMS).sum::<u64>());
}
