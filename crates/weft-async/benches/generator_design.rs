//! Where the macro-free generator's time goes: `generator` against stripped-down versions of its
//! own design, side by side in one run (`cargo bench -p weft-async --bench generator_design`).
//!
//! Each function consumes 1M `u64` items on a current-thread runtime, like
//! `benches/generator.rs`. The stripped-down generators pass values the way `generator` does,
//! through a thread-local pointer to a slot on the stack of each poll, and drop one part of it at
//! a time:
//! - `unchecked`: no identity check (a yield writes to whatever slot is current: the design
//!   async-stream uses, unsound if a yielder moves to another generator, its issue 106);
//! - `identity-check`: the slot carries the generator's identity and each yield checks it, as
//!   `generator`'s do;
//! - `identity-check+catch_unwind`: the same with each poll of the body in `catch_unwind`, which
//!   `generator` used before a drop guard replaced it.
//!
//! `weft` is `generator` itself, which adds to `identity-check` the state `aclose` and `asend`
//! need and the panic guard. The sketches are in `common/design.rs`, which `instructions.rs`
//! shares to count them.
#![allow(
    missing_docs,
    reason = "criterion_group! generates an undocumented function"
)]

mod common;
#[path = "common/design.rs"]
mod design;

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use futures_core::Stream;

use common::bench_stream;
use design::{counting_sketch, IDENTITY, IDENTITY_AND_CATCH_UNWIND, UNCHECKED};

const ITEMS: u64 = 1_000_000;

fn counting_weft(n: u64) -> impl Stream<Item = u64> {
    weft_async::generator(move |mut co| async move {
        for i in 0..n {
            co.yield_(i).await;
        }
    })
}

fn design(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let mut g = common::group(c, "async-generator-design", ITEMS, Duration::from_secs(3));
    bench_stream(&mut g, &rt, "weft", ITEMS, counting_weft);
    bench_stream(
        &mut g,
        &rt,
        "unchecked",
        ITEMS,
        counting_sketch::<UNCHECKED>,
    );
    bench_stream(
        &mut g,
        &rt,
        "identity-check",
        ITEMS,
        counting_sketch::<IDENTITY>,
    );
    bench_stream(
        &mut g,
        &rt,
        "identity-check+catch_unwind",
        ITEMS,
        counting_sketch::<IDENTITY_AND_CATCH_UNWIND>,
    );
    g.finish();
}

criterion_group!(benches, design);
criterion_main!(benches);
