//! I/O-bound vs CPU-bound: threads overlap waits; without a GIL they also split computing
//!
//! The chapter: threads suit I/O-bound work, because instead of waiting for a blocking operation
//! the program runs other threads meanwhile. For CPU-bound work threads need not help, and the
//! cost of switching between them can even make it slower. Whether threads truly run at the same
//! time depends on the number of processors and on the implementation: CPython's GIL lets one
//! thread at a time run Python code, so there CPU-bound threads are no faster.
//!
//! ```python
//! def io_task():  time.sleep(0.1)                        # waiting: the GIL is released
//! def cpu_task(lo, hi): return sum(mix(i) for i in range(lo, hi))  # holds the GIL
//!
//! threads = [threading.Thread(target=io_task) for _ in range(5)]   # ~5x faster than in a row
//! threads = [threading.Thread(target=cpu_task, args=part) for part in halves]  # no faster
//! ```
//!
//! Rust has no GIL: threads of CPU work run in parallel on as many cores as the machine has. This
//! demo times both kinds of work run one after another and on threads, then (on Linux) the CPU
//! work again with the process confined to one processor, where threads can only take turns.
//! The timings depend on the machine and on its load.

use std::hint::black_box;
use std::num::NonZeroUsize;
use std::ops::Range;
use std::time::{Duration, Instant};

use weft::thread;

/// How many I/O tasks, and how long each one waits.
const IO_TASKS: u32 = 5;
const IO_WAIT: Duration = Duration::from_millis(100);
/// About how long the CPU work takes on one thread (calibrated at start-up).
const CPU_TARGET: Duration = Duration::from_millis(300);

/// A simulated blocking call: a network request or a disk read.
fn io_task() {
    std::thread::sleep(IO_WAIT);
}

/// CPU-bound work: mixes every number of `range` (splitmix64) and adds the results up.
fn cpu_task(range: Range<u64>) -> u64 {
    let mut total = 0u64;
    for i in range {
        let mut z = black_box(i).wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        total = total.wrapping_add(z ^ (z >> 31));
    }
    total
}

/// Runs `cpu_task` over `0..n` split into `parts` threads; returns the total and the time taken.
fn cpu_on_threads(n: u64, parts: u64) -> (u64, Duration) {
    let began = Instant::now();
    let chunk = n.div_ceil(parts);
    let handles: Vec<_> = (0..parts)
        .map(|p| {
            let range = p * chunk..((p + 1) * chunk).min(n);
            thread::spawn(move || cpu_task(range)).expect("the OS refused a thread")
        })
        .collect();
    let total = handles
        .into_iter()
        .map(|h| h.join().expect("worker panicked"))
        .fold(0, u64::wrapping_add);
    (total, began.elapsed())
}

/// Prints one timing line, with the speed-up over `baseline` when there is one.
fn report(label: &str, took: Duration, baseline: Option<Duration>) {
    let ms = took.as_secs_f64() * 1e3;
    match baseline {
        None => println!("  {label:<18} {ms:6.1} ms"),
        Some(base) => println!(
            "  {label:<18} {ms:6.1} ms  ({:.1}x faster)",
            base.as_secs_f64() / took.as_secs_f64()
        ),
    }
}

/// The chapter's "with one processor, only one thread runs at a time": the same split, with this
/// thread (and so the threads it starts, which inherit the setting) allowed on one processor.
#[cfg(target_os = "linux")]
fn one_processor(n: u64, expected: u64, one: Duration) {
    use rustix::thread::{sched_getaffinity, sched_setaffinity, CpuSet};
    let Some(cpu) = sched_getaffinity(None)
        .ok()
        .and_then(|allowed| (0..CpuSet::MAX_CPU).find(|&c| allowed.is_set(c)))
    else {
        return;
    };
    let mut only = CpuSet::new();
    only.set(cpu);
    if sched_setaffinity(None, &only).is_err() {
        return;
    }
    println!();
    println!("3. the same work confined to one processor (sched_setaffinity to CPU {cpu})");
    let (total, took) = cpu_on_threads(n, 2);
    assert_eq!(total, expected, "the split changed the sum");
    report("2 threads:", took, Some(one));
    println!("  one processor: the threads take turns, one at a time: about one thread's time");
}

#[cfg(not(target_os = "linux"))]
fn one_processor(_: u64, _: u64, _: Duration) {}

fn main() {
    weft::main(|| {
        let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
        println!("this machine runs {cores} threads in parallel (available_parallelism)");

        println!();
        println!(
            "1. I/O-bound: {IO_TASKS} tasks, each waiting {} ms",
            IO_WAIT.as_millis()
        );
        let began = Instant::now();
        for _ in 0..IO_TASKS {
            io_task();
        }
        let in_a_row = began.elapsed();
        let began = Instant::now();
        let waiting: Vec<_> = (0..IO_TASKS)
            .map(|_| thread::spawn(io_task).expect("the OS refused a thread"))
            .collect();
        for t in waiting {
            t.join().expect("I/O task panicked");
        }
        let threaded = began.elapsed();
        report("one after another:", in_a_row, None);
        report(&format!("{IO_TASKS} threads:"), threaded, Some(in_a_row));
        println!("  the waits overlap: a thread needs no CPU while it waits");

        // Size the CPU work to take about CPU_TARGET on one thread, whatever the build profile.
        let mut probe = 100_000;
        let per_item = loop {
            let began = Instant::now();
            black_box(cpu_task(0..probe));
            let took = began.elapsed();
            if took >= Duration::from_millis(20) {
                break took.as_secs_f64() / probe as f64;
            }
            probe *= 2;
        };
        let n = ((CPU_TARGET.as_secs_f64() / per_item) as u64).max(probe);

        println!();
        println!("2. CPU-bound: mixing and summing {n} numbers");
        let (expected, one) = cpu_on_threads(n, 1);
        report("1 thread:", one, None);
        let mut counts = vec![2];
        if cores > 2 {
            counts.push(cores.min(16));
        }
        let mut best = 1.0f64;
        for parts in counts {
            let (total, took) = cpu_on_threads(n, parts as u64);
            assert_eq!(total, expected, "the split changed the sum");
            report(&format!("{parts} threads:"), took, Some(one));
            best = best.max(one.as_secs_f64() / took.as_secs_f64());
        }
        if cores == 1 {
            println!("  one core: the threads take turns, so splitting cannot help here");
        } else if best >= 1.3 {
            println!("  Rust threads ran on separate cores at the same time; under CPython's");
            println!("  GIL the same split would take about as long as one thread, or longer.");
        } else {
            println!("  little speed-up this run: the other cores were busy (the machine's load);");
            println!("  on idle cores the threads run at the same time, as Rust has no GIL.");
        }
        one_processor(n, expected, one);
        println!();
        println!("Threads overlap waiting everywhere; they speed up computing only with several");
        println!("cores and no GIL (in Python: multiprocessing or ProcessPoolExecutor).");
    })
}
