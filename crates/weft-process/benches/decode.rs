//! Decoding and encoding a message: weft's stack-growing adapter (`src/deep.rs`, included here by
//! path) against `serde_stacker` (the adapter over the same `stacker` that looks at the stack at
//! every value) and plain postcard (which grows nothing: the floor, and an abort for a value
//! nested deeper than the stack holds). Run with `cargo xtask bench process`; each group is one
//! value shape and direction, `process-decode_<shape>` and `process-encode_<shape>`, with the
//! functions `weft`, `serde_stacker` and `postcard`. (serde_stacker's `Serializer` grows the stack
//! only around the items of `collect_seq` and `collect_map`, so it guards a `Vec` or a map but not
//! an `Option`, a newtype, a struct or an enum nested in one another.)
//!
//! Counting instructions instead, where a timer is too noisy (BENCHMARKS.md): `count SHAPE
//! DECODER` decodes shape `SHAPE` three times with `DECODER` (`weft`, `serde_stacker`, `postcard`,
//! or `none` for the encoding alone, to subtract); `count-encode SHAPE ENCODER` encodes it three
//! times with `ENCODER` (the same names; `none` only builds the value):
//!
//! ```text
//! cargo bench -p weft-process --bench decode --no-run   # prints the binary's path
//! valgrind --tool=cachegrind --cache-sim=no <that binary> count pairs_1m weft
//! valgrind --tool=cachegrind --cache-sim=no <that binary> count-encode pairs_1m weft
//! ```
//!
//! `frames` prints the stack each level of 1000-deep values takes when encoded, postcard alone
//! and through weft's adapter (the figures `src/deep.rs` cites; build with `cargo test --bench
//! decode --no-run` for a debug build's).
//!
//! Every message a process sends (a `Process`'s argument and result, a `Connection` or
//! `ProcessQueue` message, a pool's call and reply) encodes and decodes through the adapter.
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

fn plain_encode<T: Serialize>(value: &T) -> Vec<u8> {
    postcard::to_extend(value, Vec::new()).unwrap()
}

fn stacker_encode<T: Serialize>(value: &T) -> Vec<u8> {
    use postcard::ser_flavors::{ExtendFlavor, Flavor};
    let mut ser = postcard::Serializer {
        output: ExtendFlavor::new(Vec::new()),
    };
    value
        .serialize(serde_stacker::Serializer::new(&mut ser))
        .unwrap();
    ser.output.finalize().unwrap()
}

fn weft_encode<T: Serialize>(value: &T) -> Vec<u8> {
    deep::to_extend(value, Vec::new()).unwrap()
}

/// How the shapes run: measured by criterion, or one shape decoded or encoded three times by one
/// decoder or encoder (see the module).
enum Runner<'a> {
    Criterion(&'a mut Criterion),
    Count { shape: String, decoder: String },
    CountEncode { shape: String, encoder: String },
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
        Runner::CountEncode { shape, encoder } => {
            if shape == name {
                let encode: fn(&T) -> Vec<u8> = match encoder.as_str() {
                    "weft" => weft_encode::<T>,
                    "serde_stacker" => stacker_encode::<T>,
                    "postcard" => plain_encode::<T>,
                    "none" => return drop(black_box(value)),
                    other => panic!("unknown encoder {other}"),
                };
                for _ in 0..3 {
                    drop(black_box(encode(black_box(&value))));
                }
            }
            return;
        }
    };
    let bytes = postcard::to_stdvec(&value).unwrap();
    let mut g = c.benchmark_group(format!("process-encode_{name}"));
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    g.bench_function("weft", |b| b.iter(|| weft_encode(black_box(&value))));
    g.bench_function("serde_stacker", |b| {
        b.iter(|| stacker_encode(black_box(&value)))
    });
    g.bench_function("postcard", |b| b.iter(|| plain_encode(black_box(&value))));
    g.finish();
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

thread_local! {
    /// The stack left where the last [`Probe`] was encoded.
    static LEFT: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Encoded as a unit, noting how much stack is left at that point.
struct Probe;

impl Serialize for Probe {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        LEFT.with(|l| l.set(stacker::remaining_stack().unwrap_or(0)));
        s.serialize_unit()
    }
}

/// Each way serde nests a value, a [`Probe`] at the end.
#[derive(Serialize)]
enum Nest {
    Leaf(Probe),
    Some(Option<Box<Nest>>),
    Seq(Vec<Nest>),
    Map(std::collections::BTreeMap<u8, Nest>),
    Tuple(u32, Box<Nest>),
    Named { next: Box<Nest> },
    Before(Box<Nest>, u32),
}

/// The stack used per link by encoding each kind of [`Nest`] 1000 deep, postcard alone and
/// through weft's adapter (on a 64 MiB thread, so that the adapter never grows it). A link is
/// two levels (the variant, then the value it holds) but for `Seq` and `Map`, whose element is
/// the next variant. Where the `Box` is the variant's last field, a release build may encode it
/// with a tail call: no stack at all.
fn frames() {
    const DEPTH: usize = 1000;
    /// A kind of nesting: its name, and how it wraps a value in one more link.
    type Kind = (&'static str, fn(Nest) -> Nest);
    let kinds: [Kind; 6] = [
        ("Some(Option<Box<_>>)", |n| Nest::Some(Some(Box::new(n)))),
        ("Seq(vec![_])", |n| Nest::Seq(vec![n])),
        ("Map([(1, _)])", |n| Nest::Map([(1, n)].into())),
        ("Tuple(7, Box<_>)", |n| Nest::Tuple(7, Box::new(n))),
        ("Named { next: Box<_> }", |n| Nest::Named {
            next: Box::new(n),
        }),
        ("Before(Box<_>, 7)", |n| Nest::Before(Box::new(n), 7)),
    ];
    for (name, wrap) in kinds {
        let per_level = |encode: fn(&Nest) -> Vec<u8>| {
            std::thread::Builder::new()
                .stack_size(64 << 20)
                .spawn(move || {
                    let nest = (0..DEPTH).fold(Nest::Leaf(Probe), |n, _| wrap(n));
                    let top = stacker::remaining_stack().unwrap_or(0);
                    drop(black_box(encode(&nest)));
                    let used = top - LEFT.with(std::cell::Cell::get);
                    used / DEPTH
                })
                .unwrap()
                .join()
                .unwrap()
        };
        println!(
            "{name}: postcard {} bytes a link, weft {} bytes a link",
            per_level(plain_encode::<Nest>),
            per_level(weft_encode::<Nest>)
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    if let [mode] = args.as_slice()
        && mode == "frames"
    {
        frames();
        return;
    }
    if let [mode, shape, coder] = args.as_slice() {
        // A thread's first look at its stack reads /proc/self/maps (about 95 k instructions, once
        // per thread): taken here, by every decoder and encoder and `none` alike, so that it is not
        // charged to the shape.
        black_box(stacker::remaining_stack());
        let (shape, coder) = (shape.clone(), coder.clone());
        if mode == "count" {
            decode(&mut Runner::Count {
                shape,
                decoder: coder,
            });
            return;
        }
        if mode == "count-encode" {
            decode(&mut Runner::CountEncode {
                shape,
                encoder: coder,
            });
            return;
        }
    }
    let mut c = Criterion::default().configure_from_args();
    decode(&mut Runner::Criterion(&mut c));
    c.final_summary();
}
