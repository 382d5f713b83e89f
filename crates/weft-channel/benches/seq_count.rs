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
#![allow(missing_docs, reason = "a benchmark binary")]

use std::hint::black_box;
use std::time::Instant;

use weft_channel::Queue;

const ITEMS: usize = 10_000_000;

/// Moves `ITEMS` items through the queue `make` builds, in rounds of `round`.
fn seq<Q>(round: usize, make: impl FnOnce() -> Q, put: impl Fn(&Q, u64), get: impl Fn(&Q) -> u64) {
    let q = make();
    for _ in 0..ITEMS / round {
        for i in 0..round {
            put(&q, i as u64);
        }
        for _ in 0..round {
            black_box(get(&q));
        }
    }
}

fn workload(name: &str) -> bool {
    match name {
        "weft" => seq(
            100_000,
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
            100_000,
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
            eprintln!("unknown workload {name}: weft, kanal, weft-bounded or kanal-bounded");
            std::process::exit(2);
        }
    }
}
