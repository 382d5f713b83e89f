//! concurrent.futures.ProcessPoolExecutor: CPU-bound work on processes (and, in Rust, on threads)
//!
//! The chapter: CPU-bound tasks go to a ProcessPoolExecutor, because in Python only processes run
//! Python code in parallel (one GIL per interpreter):
//!
//! ```python
//! if __name__ == "__main__":
//!     with ProcessPoolExecutor() as ex:
//!         total = sum(ex.map(count_primes, slices, chunksize=1))
//! ```
//!
//! weft's ProcessPoolExecutor runs plain functions over serde values in worker processes, which
//! are this program started again (forks of its fork server, by default): `weft::main` is the
//! guard, as `if __name__ == "__main__"` is. Rust has no GIL, so a ThreadPoolExecutor speeds the
//! same work up just as well, and cheaper (no process start, no serialization). Processes are for isolation: a crash in a worker cannot corrupt the
//! parent (see `cargo xtask demo broken-pool`).

use std::time::Instant;

use weft::executor::{ProcessPoolExecutor, ThreadPoolExecutor};

const N: u64 = 400_000;
const SLICES: u64 = 8;

fn count_primes(range: (u64, u64)) -> u64 {
    (range.0..range.1).filter(|&n| is_prime(n)).count() as u64
}

fn is_prime(n: u64) -> bool {
    n >= 2
        && (2..)
            .take_while(|d| d * d <= n)
            .all(|d| !n.is_multiple_of(d))
}

fn slices() -> impl Iterator<Item = (u64, u64)> {
    (0..SLICES).map(|i| (N * i / SLICES, N * (i + 1) / SLICES))
}

fn main() {
    weft::main(|| {
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get());

        let t0 = Instant::now();
        let alone: u64 = slices().map(count_primes).sum();
        let one = t0.elapsed();
        println!("sequential:           {alone} primes below {N} in {one:.0?}");

        let processes = ProcessPoolExecutor::builder()
            .max_workers(workers)
            .build()
            .expect("a process pool");
        let t0 = Instant::now();
        let total: u64 = processes
            .map(count_primes, slices())
            .map(|r| r.expect("a worker's count"))
            .sum();
        let elapsed = t0.elapsed();
        println!(
            "{workers} worker processes:   {total} primes in {elapsed:.0?} ({:.1}x, workers started on the way)",
            one.as_secs_f64() / elapsed.as_secs_f64()
        );
        assert_eq!(total, alone);
        let t0 = Instant::now();
        let again: u64 = processes
            .map(count_primes, slices())
            .map(|r| r.expect("a worker's count"))
            .sum();
        let warm = t0.elapsed();
        println!(
            "again, workers warm:   {again} primes in {warm:.0?} ({:.1}x)",
            one.as_secs_f64() / warm.as_secs_f64()
        );

        let threads = ThreadPoolExecutor::builder()
            .max_workers(workers)
            .build()
            .expect("a thread pool");
        let t0 = Instant::now();
        let by_threads: u64 = threads
            .map(count_primes, slices())
            .map(|r| r.expect("a thread's count"))
            .sum();
        let elapsed = t0.elapsed();
        println!(
            "{workers} worker threads:     {by_threads} primes in {elapsed:.0?} ({:.1}x: no GIL in Rust)",
            one.as_secs_f64() / elapsed.as_secs_f64()
        );
        assert_eq!(by_threads, alone);
    })
}
