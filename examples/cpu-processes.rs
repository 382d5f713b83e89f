//! multiprocessing for CPU-bound work: split a computation over processes, share nothing
//!
//! The chapter's advice: for CPU-bound work, use processes and avoid shared state, so each one
//! runs truly in parallel (in Python, each has its own GIL). Here we count the primes below N by
//! giving each process one slice of the range and adding up the answers:
//!
//! ```python
//! def count_primes(lo, hi): ...
//!
//! if __name__ == "__main__":
//!     with multiprocessing.Pool(cores) as pool:
//!         total = sum(pool.starmap(count_primes, slices))
//! ```
//!
//! Each weft child gets its slice as its argument and returns its count as its result: nothing
//! is shared, so nothing needs a lock. (Rust has no GIL, so threads would parallelize this too;
//! processes add isolation: a crash in one child cannot take the others or the parent down.)
//! `weft::executor`'s ProcessPoolExecutor makes this a one-liner (the `process-pool` demo). The
//! timings include starting the processes, and depend on the machine's load.

use std::time::Instant;

use weft::process::Process;

const N: u64 = 2_000_000;

fn count_primes(range: (u64, u64)) -> u64 {
    let (lo, hi) = range;
    (lo..hi).filter(|&n| is_prime(n)).count() as u64
}

fn is_prime(n: u64) -> bool {
    if n < 2 {
        return false;
    }
    let mut d = 2;
    while d * d <= n {
        if n.is_multiple_of(d) {
            return false;
        }
        d += 1;
    }
    true
}

fn main() {
    weft::main(|| {
        let t0 = Instant::now();
        let alone = count_primes((0, N));
        let one = t0.elapsed();
        println!("one process: {alone} primes below {N} in {one:.2?}");

        let workers = std::thread::available_parallelism().map_or(2, |n| n.get()) as u64;
        let t0 = Instant::now();
        let slices = (0..workers).map(|i| (N * i / workers, N * (i + 1) / workers));
        let children: Vec<_> = slices
            .map(|slice| Process::new(count_primes, slice).start().expect("start"))
            .collect();
        let total: u64 = children.into_iter().map(|c| c.join().expect("child")).sum();
        let many = t0.elapsed();
        println!(
            "{workers} processes: {total} primes in {many:.2?} ({:.1}x)",
            one.as_secs_f64() / many.as_secs_f64()
        );
        assert_eq!(total, alone);
    })
}
