//! queue.PriorityQueue: jobs arrive in any order; the worker always takes the most urgent first
//!
//! A `PriorityQueue` hands out the smallest item first (it is a `heapq` under a lock), so
//! `(priority, job)` tuples come out most urgent first, whatever order they were put in. A
//! sequence number in the middle keeps equal priorities first come, first served, as the Python
//! docs recommend. In Python:
//!
//! ```python
//! jobs = queue.PriorityQueue()
//! for seq, (priority, job) in enumerate(arrivals):
//!     jobs.put((priority, seq, job))
//!
//! def worker():
//!     while True:
//!         priority, _, job = jobs.get()     # the smallest tuple: the most urgent job
//!         run(job)
//!         jobs.task_done()
//! ```
//!
//! In Rust the priority can be an enum: `#[derive(PartialOrd, Ord)]` orders its variants as
//! written, so `Urgency::Critical < Urgency::Low` and tuples compare it first. Any `T: Ord` works;
//! wrap a key in `std::cmp::Reverse` to take the largest first.

use std::sync::mpsc;
use std::time::Duration;

use weft::channel::PriorityQueue;
use weft::thread::Thread;

/// How urgent a job is; the most urgent compares smallest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Urgency {
    Critical,
    High,
    Normal,
    Low,
}

use Urgency::{Critical, High, Low, Normal};

/// The overnight jobs, in the order they arrive.
const ARRIVALS: [(Urgency, &str); 7] = [
    (Low, "rotate logs"),
    (Normal, "send newsletter"),
    (High, "renew TLS certificate"),
    (Low, "compress old backups"),
    (Normal, "rebuild search index"),
    (High, "apply security patch"),
    (Normal, "email invoices"),
];

fn main() {
    weft::main(|| {
        let jobs = PriorityQueue::unbounded();
        println!("arrival order:");
        for (seq, (urgency, job)) in ARRIVALS.into_iter().enumerate() {
            println!("  {seq}. {urgency:?}: {job}");
            jobs.put((urgency, seq, job)).expect("the queue is open");
        }

        println!("the worker takes the most urgent first; FIFO among equals:");
        // The worker tells main which job it is running, and finishes it once main has replied.
        let (running_tx, running_rx) = mpsc::channel();
        let (reply_tx, reply_rx) = mpsc::channel();
        let worker = {
            let jobs = jobs.clone();
            Thread::new(move || {
                let mut order = Vec::new();
                for (urgency, seq, job) in jobs.iter() {
                    println!("  worker: running {urgency:?} #{seq}: {job}");
                    if order.len() == 1 {
                        // Hold this job until main has reacted to it.
                        running_tx.send(job).expect("main is listening");
                        reply_rx.recv().expect("main replies");
                    }
                    std::thread::sleep(Duration::from_millis(5)); // the work
                    order.push((seq, job));
                    jobs.task_done().expect("one task_done per get");
                }
                order
            })
            .name("worker")
            .start()
            .expect("the OS refused a thread")
        };

        let busy_with = running_rx.recv().expect("the worker reports");
        let page = "restart the crashed database";
        println!("main: while the worker runs {busy_with:?}, a Critical job arrives: {page}");
        jobs.put((Critical, ARRIVALS.len(), page))
            .expect("the queue is open");
        reply_tx.send(()).expect("the worker is waiting");

        jobs.join();
        jobs.shutdown();
        let order = worker.join().expect("worker panicked");
        let seqs: Vec<_> = order.iter().map(|(seq, _)| seq.to_string()).collect();
        println!(
            "main: all {} jobs done; by arrival number: {}",
            order.len(),
            seqs.join(" > ")
        );
        assert_eq!(order[2].1, page, "the Critical job jumps the queue");
    })
}
