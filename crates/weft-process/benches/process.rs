//! weft-process's multiprocessing against the floors it builds on, side by side in one run
//! (`cargo xtask bench process`; `benches/subprocess.rs` has `run(["true"])`). The
//! `worker_round_trip` group is a `Worker` call's round trip, the path of weft-executor's
//! ProcessPoolExecutor.
//!
//! Each criterion group is one workload named `process-<workload>`, with the function `weft`
//! and the baseline. `benches/python/process.py` measures the same workloads with CPython's
//! multiprocessing. The bench binary is also the child program: its `main` starts with the
//! guard, as every program that starts processes does.
#![allow(
    missing_docs,
    reason = "criterion_group! generates an undocumented function"
)]

use std::hint::black_box;
use std::os::fd::AsFd;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use criterion::{criterion_group, BenchmarkGroup, Criterion};
use weft_process::{
    Call, Connection, Pipe, Process, ProcessQueue, StartMethod, Worker, WorkerEvent,
};

type Group<'a> = BenchmarkGroup<'a, criterion::measurement::WallTime>;

/// Set in a child started by the std baseline: it exits at once (or prints its RSS first).
const BASELINE_CHILD: &str = "WEFT_BENCH_BASELINE_CHILD";

fn group<'a>(c: &'a mut Criterion, name: &str) -> Group<'a> {
    let mut g = c.benchmark_group(format!("process-{name}"));
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20);
    g
}

fn noop(_: ()) {}

/// With the default start method, the fork server (started before the measurement by the
/// warm-up): a fork of a waiting server instead of an exec, against the exec floor.
fn start_join(c: &mut Criterion) {
    start_join_with(c, "start_join", None);
}

/// The same spawned (`StartMethod::Spawn`): this binary executed again for each process.
fn start_join_spawn(c: &mut Criterion) {
    start_join_with(c, "start_join_spawn", Some(StartMethod::Spawn));
}

/// A trivial process started with `method` (the default if `None`) and joined, against the
/// floor of executing this binary again with std.
fn start_join_with(c: &mut Criterion, name: &str, method: Option<StartMethod>) {
    let mut g = group(c, name);
    g.bench_function("weft", |b| {
        b.iter(|| {
            let process = Process::new(noop, ());
            match method {
                Some(method) => process.start_method(method),
                None => process,
            }
            .start()
            .unwrap()
            .join()
            .unwrap()
        })
    });
    let exe = std::env::current_exe().unwrap();
    g.bench_function("Command::new(current_exe) spawn+wait", |b| {
        b.iter(|| {
            let status = Command::new(&exe)
                .env(BASELINE_CHILD, "exit")
                .status()
                .unwrap();
            assert!(status.success());
        })
    });
    g.finish();
}

/// Echoes 8-byte values on the connection, through weft's frames.
fn echo_framed(conn: Connection<u64>) {
    while let Ok(v) = conn.recv() {
        if conn.send(&v).is_err() {
            break;
        }
    }
}

/// Echoes 8-byte records on the connection's raw socket: the floor, no framing or codec.
fn echo_raw(conn: Connection<u64>) {
    let mut buf = [0u8; 8];
    while let Ok(8) = rustix::io::read(conn.as_fd(), &mut buf) {
        if rustix::io::write(conn.as_fd(), &buf).is_err() {
            break;
        }
    }
}

fn pipe_round_trip(c: &mut Criterion) {
    let mut g = group(c, "pipe_round_trip");
    let (ours, theirs) = Pipe::<u64>::new().unwrap();
    let child = Process::new(echo_framed, theirs).start().unwrap();
    g.bench_function("weft", |b| {
        b.iter(|| {
            ours.send(&black_box(7)).unwrap();
            black_box(ours.recv().unwrap())
        })
    });
    drop(ours);
    child.join().unwrap();
    let (ours, theirs) = Pipe::<u64>::new().unwrap();
    let child = Process::new(echo_raw, theirs).start().unwrap();
    g.bench_function("raw socket round trip (floor)", |b| {
        let mut buf = [0u8; 8];
        b.iter(|| {
            rustix::io::write(ours.as_fd(), &7u64.to_le_bytes()).unwrap();
            let mut got = 0;
            while got < 8 {
                got += rustix::io::read(ours.as_fd(), &mut buf[got..]).unwrap();
            }
            black_box(buf)
        })
    });
    drop(ours);
    child.join().unwrap();
    g.finish();
}

fn echo(x: u64) -> u64 {
    x
}

/// One call's round trip through a `Worker` (encode the call, one write; the worker's read, call
/// and reply, one write; one read here), against the same 8 bytes raw on a socket.
fn worker_round_trip(c: &mut Criterion) {
    let mut g = group(c, "worker_round_trip");
    let worker = Worker::start().unwrap();
    let mut id = 0u64;
    g.bench_function("weft", |b| {
        b.iter(|| {
            id += 1;
            worker
                .send(id, Call::new(echo, &black_box(7)).unwrap())
                .unwrap();
            match worker.recv().unwrap() {
                WorkerEvent::Reply(r) => black_box(r.into_result::<u64>().unwrap()),
                other => panic!("{other:?}"),
            }
        })
    });
    worker.close();
    worker.join();
    let (ours, theirs) = Pipe::<u64>::new().unwrap();
    let child = Process::new(echo_raw, theirs).start().unwrap();
    g.bench_function("raw socket round trip (floor)", |b| {
        let mut buf = [0u8; 8];
        b.iter(|| {
            rustix::io::write(ours.as_fd(), &7u64.to_le_bytes()).unwrap();
            let mut got = 0;
            while got < 8 {
                got += rustix::io::read(ours.as_fd(), &mut buf[got..]).unwrap();
            }
            black_box(buf)
        })
    });
    drop(ours);
    child.join().unwrap();
    g.finish();
}

type Item = Vec<u8>;
const ITEM_BYTES: usize = 64;

/// Gets items until an empty one, then reports how many it got.
fn consume(args: (ProcessQueue<Item>, Connection<u64>)) {
    let (q, done) = args;
    loop {
        let mut count = 0u64;
        loop {
            match q.get() {
                Ok(item) if item.is_empty() => break,
                Ok(_) => count += 1,
                Err(_) => return,
            }
        }
        if done.send(&count).is_err() {
            return;
        }
    }
}

/// Reads 64-byte records until a zero record, then answers with the count: the floor.
fn consume_raw(conn: Connection<u64>) {
    let mut buf = [0u8; ITEM_BYTES];
    loop {
        let mut count = 0u64;
        loop {
            let mut got = 0;
            while got < ITEM_BYTES {
                match rustix::io::read(conn.as_fd(), &mut buf[got..]) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => got += n,
                }
            }
            if buf[0] == 0 {
                break;
            }
            count += 1;
        }
        if rustix::io::write(conn.as_fd(), &count.to_le_bytes()).is_err() {
            return;
        }
    }
}

fn queue_1p1c(c: &mut Criterion) {
    let mut g = group(c, "queue_1p1c_64B");
    let q = ProcessQueue::<Item>::new(1000).unwrap();
    let (done_rx, done_tx) = Pipe::<u64>::new().unwrap();
    let child = Process::new(consume, (q.clone(), done_tx)).start().unwrap();
    g.bench_function("weft", |b| {
        b.iter_custom(|iters| {
            let item = vec![1u8; ITEM_BYTES];
            let t0 = Instant::now();
            for _ in 0..iters {
                q.put(item.clone()).unwrap();
            }
            q.put(Vec::new()).unwrap();
            let got = done_rx.recv().unwrap();
            let took = t0.elapsed();
            assert_eq!(got, iters);
            took
        })
    });
    q.shutdown();
    let _ = child.join();
    let (ours, theirs) = Pipe::<u64>::new().unwrap();
    let child = Process::new(consume_raw, theirs).start().unwrap();
    g.bench_function("raw 64-byte records on a stream socket (floor)", |b| {
        b.iter_custom(|iters| {
            let item = [1u8; ITEM_BYTES];
            let t0 = Instant::now();
            for _ in 0..iters {
                rustix::io::write(ours.as_fd(), &item).unwrap();
            }
            rustix::io::write(ours.as_fd(), &[0u8; ITEM_BYTES]).unwrap();
            let mut buf = [0u8; 8];
            let mut got = 0;
            while got < 8 {
                got += rustix::io::read(ours.as_fd(), &mut buf[got..]).unwrap();
            }
            let took = t0.elapsed();
            assert_eq!(u64::from_le_bytes(buf), iters);
            took
        })
    });
    drop(ours);
    let _ = child.join();
    g.finish();
}

/// The resident set of the current process in KiB: all of it, and its anonymous part (heap and
/// stacks, without the pages of the executable and libraries).
fn rss_kib(_: ()) -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("RssAnon:"))
}

/// Prints the resident memory of an idle child: weft's, and the same binary started by std.
fn footprint() {
    let forked = Process::new(rss_kib, ()).start().unwrap().join().unwrap();
    let spawned = Process::new(rss_kib, ())
        .start_method(StartMethod::Spawn)
        .start()
        .unwrap()
        .join()
        .unwrap();
    let worker = Worker::start().unwrap();
    worker.send(0, Call::new(rss_kib, &()).unwrap()).unwrap();
    let in_worker = match worker.recv().unwrap() {
        WorkerEvent::Reply(r) => r.into_result::<(u64, u64)>().unwrap(),
        other => panic!("{other:?}"),
    };
    worker.close();
    worker.join();
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(exe)
        .env(BASELINE_CHILD, "rss")
        .stdout(Stdio::piped())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let mut fields = text
        .split_whitespace()
        .map(|f| f.parse::<u64>().unwrap_or(0));
    let std_child = (fields.next().unwrap_or(0), fields.next().unwrap_or(0));
    println!();
    println!("| idle child process | RSS | of which anonymous |");
    println!("|---|---|---|");
    println!(
        "| weft Process forked by the fork server (the default), in its function | {} KiB | {} KiB |",
        forked.0, forked.1
    );
    println!(
        "| weft Process spawned, in its function | {} KiB | {} KiB |",
        spawned.0, spawned.1
    );
    println!(
        "| weft Worker (forked), in a call | {} KiB | {} KiB |",
        in_worker.0, in_worker.1
    );
    println!(
        "| the same binary started by std's Command, in main | {} KiB | {} KiB |",
        std_child.0, std_child.1
    );
    println!();
}

criterion_group!(
    benches,
    start_join,
    start_join_spawn,
    pipe_round_trip,
    worker_round_trip,
    queue_1p1c
);

fn main() {
    weft_process::init();
    match std::env::var(BASELINE_CHILD).as_deref() {
        Ok("exit") => return,
        Ok("rss") => {
            let (all, anon) = rss_kib(());
            println!("{all} {anon}");
            return;
        }
        _ => {}
    }
    benches();
    footprint();
    Criterion::default().configure_from_args().final_summary();
}
