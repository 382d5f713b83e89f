//! Decoding a message: weft's stack-growing adapter (`src/deep.rs`, included here by path)
//! against `serde_stacker` (the adapter over the same `stacker` that looks at the stack at every
//! value) and plain postcard (which grows nothing: the floor, and an abort for a value nested
//! deeper than the stack holds). Run with `cargo xtask bench process`; each group is one value
//! shape, `process-decode_<shape>`, with the functions `weft`, `serde_stacker` and `postcard`.
//!
//! Counting instructions instead, where a timer is too noisy (BENCHMARKS.md): `count SHAPE
//! DECODER` decodes shape `SHAPE` three times with `DECODER` (`weft`, `serde_stacker`, `postcard`,
//! or `none` for the encoding alone, to subtract):
//!
//! ```text
//! cargo bench -p weft-process --bench decode --no-run   # prints the binary's path
//! valgrind --tool=cachegrind --cache-sim=no <that binary> count pairs_1m weft
//! ```
//!
//! Every message a process sends (a `Process`'s argument and result, a `Connection` or
//! `ProcessQueue` message, a pool's call and reply) decodes through the adapter.
#![allow(
    missing_docs,
    reason = "criterion_group! generates an undocumented function"
)]

#[path = "../src/deep.rs"]
#[allow(
    dead_code,
    reason = "the constants are the module's documentation here"
)]
mod deep;

use std::hint::black_box;
use std::time::Duration;

use criterion::Criterion;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A mix of the variant kinds.
#[derive(Serialize, Deserialize)]
enum Shape {
    Empty,
    Count(u32),
    Point { x: u16, y: u16 },
}

/// A struct with a nested field.
#[derive(Serialize, Deserialize)]
struct Record {
    id: u64,
    name: String,
    tags: Vec<u8>,
    score: Option<f64>,
}

/// A linked list: one level of nesting per link.
#[derive(Serialize, Deserialize)]
enum List {
    Nil,
    Cons(u32, Box<List>),
}

fn plain<T: DeserializeOwned>(bytes: &[u8]) -> T {
    let mut de = postcard::Deserializer::from_bytes(bytes);
    T::deserialize(&mut de).unwrap()
}

fn stacker<T: DeserializeOwned>(bytes: &[u8]) -> T {
    let mut de = postcard::Deserializer::from_bytes(bytes);
    T::deserialize(serde_stacker::Deserializer::new(&mut de)).unwrap()
}

fn weft<T: DeserializeOwned>(bytes: &[u8]) -> T {
    let mut de = postcard::Deserializer::from_bytes(bytes);
    T::deserialize(deep::Deep::new(&mut de)).unwrap()
}

/// How the shapes run: measured by criterion, or one shape decoded three times by one decoder
/// (see the module).
enum Runner<'a> {
    Criterion(&'a mut Criterion),
    Count { shape: String, decoder: String },
}

fn shape<T: Serialize + DeserializeOwned>(run: &mut Runner<'_>, name: &str, value: T) {
    let c = match run {
        Runner::Criterion(c) => c,
        Runner::Count { shape, decoder } => {
            if shape == name {
                let bytes = postcard::to_stdvec(&value).unwrap();
                let decode: fn(&[u8]) -> T = match decoder.as_str() {
                    "weft" => weft::<T>,
                    "serde_stacker" => stacker::<T>,
                    "postcard" => plain::<T>,
                    "none" => return,
                    other => panic!("unknown decoder {other}"),
                };
                for _ in 0..3 {
                    drop(black_box(decode(black_box(&bytes))));
                }
            }
            return;
        }
    };
    let bytes = postcard::to_stdvec(&value).unwrap();
    drop(value);
    let mut g = c.benchmark_group(format!("process-decode_{name}"));
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    g.bench_function("weft", |b| b.iter(|| weft::<T>(black_box(&bytes))));
    g.bench_function("serde_stacker", |b| {
        b.iter(|| stacker::<T>(black_box(&bytes)))
    });
    g.bench_function("postcard", |b| b.iter(|| plain::<T>(black_box(&bytes))));
    g.finish();
}

fn decode(c: &mut Runner<'_>) {
    const N: u32 = 1_000_000;
    shape(c, "pairs_1m", (0..N).map(|i| (i, !i)).collect::<Vec<_>>());
    shape(
        c,
        "options_1m",
        (0..N)
            .map(|i| (i % 3 != 0).then_some(i))
            .collect::<Vec<_>>(),
    );
    shape(
        c,
        "enums_1m",
        (0..N)
            .map(|i| match i % 3 {
                0 => Shape::Empty,
                1 => Shape::Count(i),
                _ => Shape::Point {
                    x: i as u16,
                    y: (i >> 16) as u16,
                },
            })
            .collect::<Vec<_>>(),
    );
    shape(c, "u64s_1m", (0..u64::from(N)).collect::<Vec<_>>());
    shape(
        c,
        "records_100k",
        (0..100_000u64)
            .map(|id| Record {
                id,
                name: format!("record {id}"),
                tags: vec![id as u8; 4],
                score: (id % 2 == 0).then_some(id as f64),
            })
            .collect::<Vec<_>>(),
    );
    // Deep enough to be measured, shallow enough for plain postcard on the main thread.
    shape(
        c,
        "list_1k_deep",
        (0..1000).fold(List::Nil, |rest, i| List::Cons(i, Box::new(rest))),
    );
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    if let [mode, shape, decoder] = args.as_slice() {
        if mode == "count" {
            let (shape, decoder) = (shape.clone(), decoder.clone());
            decode(&mut Runner::Count { shape, decoder });
            return;
        }
    }
    let mut c = Criterion::default().configure_from_args();
    decode(&mut Runner::Criterion(&mut c));
    c.final_summary();
}
