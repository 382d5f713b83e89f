//! The `seq` loop alone, for counting with `perf stat` rather than timing with criterion: one
//! thread puts a round of `u64` items into a queue and then takes them, 100 rounds, through
//! weft's `Queue` or kanal's channel, unbounded (rounds of 100 000, as the `seq` unbounded row)
//! or bounded(1000) (rounds of 1000). Instruction counts from it are stable to about 0.1 % from
//! run to run where criterion's times on this VM swing by half.
//!
//! ```text
//! cargo bench -p weft-channel --bench seq_count --no-run   # prints the binary's path
//! perf stat -e instructions,cycles <binary> weft            # or kanal, weft-bounded, kanal-bounded
//! ```
//!
//! Divide the counts by 10 000 000 (the items moved). Run without a workload (as `cargo bench`
//! does), it runs each once and prints the time per item.
//!
//! `SEQ_COUNT_ROUND=n` sets the unbounded rounds' size (100 000 by default; 1000 keeps a
//! round's items in the L1 cache). `SEQ_COUNT_REPEAT=n` runs a workload n times over, long
//! enough for interval counts
//! (`perf stat -I 250 -e instructions,cycles <binary> weft`), which show how the cycles per item
//! move within one process. The workload `probe` is no queue: 10 000 000 iterations (times the
//! repeat count) of one compare-and-swap on a private atomic, a byte store and 24 independent
//! add, xor and shift operations, the shape of a queue step without its memory traffic. It
//! tells whether the machine itself runs such a loop at a varying number of instructions per
//! cycle (BENCHMARKS.md, after the channel table).
#![allow(missing_docs, reason = "a benchmark binary")]

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use weft_channel::Queue;

const ITEMS: usize = 10_000_000;

/// The number in the environment variable `name`, or `default`.
fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

/// How many times over a workload runs: `SEQ_COUNT_REPEAT`, or once.
fn repeat() -> usize {
    env_or("SEQ_COUNT_REPEAT", 1)
}

/// The unbounded rounds' size: `SEQ_COUNT_ROUND`, or 100 000 (the criterion row's).
fn round() -> usize {
    env_or("SEQ_COUNT_ROUND", 100_000)
}

/// Moves `ITEMS` items (times [`repeat`]) through the queue `make` builds, in rounds of `round`.
fn seq<Q>(round: usize, make: impl FnOnce() -> Q, put: impl Fn(&Q, u64), get: impl Fn(&Q) -> u64) {
    let q = make();
    for _ in 0..repeat() * ITEMS / round {
        for i in 0..round {
            put(&q, i as u64);
        }
        for _ in 0..round {
            black_box(get(&q));
        }
    }
}

/// The `probe` workload: per iteration one compare-and-swap, one byte store and 24 independent
/// integer operations in six chains, which no queue touches.
fn probe() {
    let cell = AtomicU64::new(0);
    let mut bytes = vec![0u8; 1 << 16];
    let [mut a, mut b, mut c, mut d, mut e, mut f] = black_box([1u64, 2, 3, 4, 5, 6]);
    for i in 0..black_box(repeat() * ITEMS) as u64 {
        let old = cell.load(Ordering::Relaxed);
        let _ = cell.compare_exchange(old, old + 2, Ordering::SeqCst, Ordering::Relaxed);
        bytes[(i as usize * 9) & 0xffff] = i as u8;
        for _ in 0..2 {
            a = a.wrapping_add(i);
            b ^= a;
            c = c.wrapping_add(b >> 1);
            d ^= i << 1;
            e = e.wrapping_add(d);
            f ^= e;
            a = a.wrapping_add(f);
            b ^= c;
            c = c.wrapping_add(d >> 3);
            d ^= e << 1;
            e = e.wrapping_add(a);
            f ^= b;
        }
    }
    black_box((a ^ b ^ c ^ d ^ e ^ f, bytes));
}

fn workload(name: &str) -> bool {
    match name {
        "probe" => probe(),
        "weft" => seq(
            round(),
            Queue::<u64>::unbounded,
            |q, i| q.put(i).expect("open"),
            |q| q.get().expect("open"),
        ),
        "weft-bounded" => seq(
            1000,
            || Queue::<u64>::bounded(1000).expect("a bound"),
            |q, i| q.put(i).expect("open"),
            |q| q.get().expect("open"),
        ),
        "kanal" => seq(
            round(),
            kanal::unbounded::<u64>,
            |(s, _), i| s.send(i).expect("open"),
            |(_, r)| r.recv().expect("open"),
        ),
        "kanal-bounded" => seq(
            1000,
            || kanal::bounded::<u64>(1000),
            |(s, _), i| s.send(i).expect("open"),
            |(_, r)| r.recv().expect("open"),
        ),
        _ => return false,
    }
    true
}

fn main() {
    let names: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    if names.is_empty() {
        for name in ["weft", "kanal", "weft-bounded", "kanal-bounded"] {
            let start = Instant::now();
            workload(name);
            let per_item = start.elapsed().as_secs_f64() * 1e9 / ITEMS as f64;
            println!("seq_count {name}: {per_item:.1} ns an item");
        }
        return;
    }
    for name in &names {
        if !workload(name) {
            eprintln!("unknown workload {name}: weft, kanal, weft-bounded, kanal-bounded or probe");
            std::process::exit(2);
        }
    }
}
