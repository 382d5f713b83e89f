//! weft's `subprocess.run` against std's `Command`, side by side in one run
//! (`cargo bench -p weft-process --bench subprocess`).
//!
//! Two criterion groups, named for `cargo xtask bench process`'s table (function `weft` against
//! the baseline): `process-run`, spawning `true` and waiting for it with nothing captured
//! (against `std Command::status`; the target is weft within 1.1× of std), and
//! `process-run_capture`, spawning `echo` with stdout and stderr captured (against
//! `std Command::output`). One iteration is one child process, start to reaped.
#![allow(
    missing_docs,
    reason = "criterion_group! generates an undocumented function"
)]

use std::hint::black_box;
use std::process::Command;
use std::time::Duration;

use criterion::{criterion_group, Criterion};
use weft_process::subprocess::run;

/// Whether the command line sets `flag` (`--flag value` or `--flag=value`).
fn cli_sets(flag: &str) -> bool {
    std::env::args().any(|a| a == flag || a.starts_with(&format!("{flag}=")))
}

fn group<'a>(
    c: &'a mut Criterion,
    name: &str,
) -> criterion::BenchmarkGroup<'a, criterion::measurement::WallTime> {
    let mut g = c.benchmark_group(name);
    // A group's settings override the command line's: set them only where it is silent.
    if !cli_sets("--warm-up-time") {
        g.warm_up_time(Duration::from_millis(500));
    }
    if !cli_sets("--measurement-time") {
        g.measurement_time(Duration::from_secs(3));
    }
    if !cli_sets("--sample-size") {
        g.sample_size(20);
    }
    g
}

fn process_run(c: &mut Criterion) {
    let mut g = group(c, "process-run");
    g.bench_function("weft", |b| {
        b.iter(|| {
            let done = run(["true"]).output().unwrap();
            assert_eq!(black_box(done.returncode), 0);
        })
    });
    g.bench_function("std Command::status", |b| {
        b.iter(|| {
            let status = Command::new("true").status().unwrap();
            assert!(black_box(status).success());
        })
    });
    g.finish();
    let mut g = group(c, "process-run_capture");
    g.bench_function("weft", |b| {
        b.iter(|| {
            let done = run(["echo", "hello"]).capture().output().unwrap();
            assert_eq!(black_box(done.stdout).len(), 6);
        })
    });
    g.bench_function("std Command::output", |b| {
        b.iter(|| {
            let out = Command::new("echo").arg("hello").output().unwrap();
            assert_eq!(black_box(out.stdout).len(), 6);
        })
    });
    g.finish();
}

criterion_group!(benches, process_run);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
