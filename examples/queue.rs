//! queue.Queue: producer and consumer threads hand off work; task_done and join track it
//!
//! `queue.Queue` together with `threading.Thread` is the usual producer/consumer setup: the
//! queue module implements multi-producer, multi-consumer queues with all the locking done for
//! you. A bounded queue makes a fast producer wait for the workers, every `get` is matched by a
//! `task_done`, and `join()` blocks until every job put has been processed. In Python (3.13):
//!
//! ```python
//! q = queue.Queue(maxsize=3)
//!
//! def worker():
//!     while True:
//!         try:
//!             job = q.get()          # blocks while the queue is empty
//!         except queue.ShutDown:     # shut down and drained: stop
//!             return
//!         process(job)
//!         q.task_done()
//!
//! for i in (1, 2, 3):
//!     threading.Thread(target=worker, name=f"worker-{i}").start()
//! for job in jobs:
//!     q.put(job)                     # blocks while 3 jobs are waiting
//! q.join()                           # until task_done() was called for every job
//! q.shutdown()                       # ends the workers' loops
//! ```
//!
//! In weft the queue is a cheap handle: clone it into each thread. `q.iter()` is the worker loop
//! (it ends once the queue is shut down and drained), and a failed `try_put` hands the job back,
//! so the producer can report the wait and then `put` the same job.

use std::time::{Duration, Instant};

use weft::channel::{Queue, TryPutError};
use weft::thread::{self, Thread};

/// The jobs to process: a file name and how long (ms) resizing it takes.
const JOBS: [(&str, u64); 9] = [
    ("cat.jpg", 20),
    ("dog.png", 10),
    ("beach.jpg", 30),
    ("map.png", 10),
    ("cake.jpg", 20),
    ("logo.svg", 10),
    ("tree.jpg", 20),
    ("moon.png", 30),
    ("bike.jpg", 10),
];

const WORKERS: usize = 3;

fn main() {
    weft::main(|| {
        let q = Queue::bounded(3).expect("capacity is not zero");
        println!(
            "{WORKERS} workers, {} jobs, a queue of maxsize {:?}",
            JOBS.len(),
            q.maxsize()
        );
        let began = Instant::now();

        let workers: Vec<_> = (1..=WORKERS)
            .map(|i| {
                let q = q.clone();
                Thread::new(move || {
                    let me = thread::current_thread().name().to_owned();
                    let mut done = Vec::new();
                    // `for job in q.iter()` is `while let Ok(job) = q.get()`.
                    for (file, ms) in q.iter() {
                        println!("  {me}: resizing {file}");
                        std::thread::sleep(Duration::from_millis(ms)); // the work
                        done.push(file);
                        q.task_done().expect("one task_done per get");
                    }
                    done
                })
                .name(format!("worker-{i}"))
                .start()
                .expect("the OS refused a thread")
            })
            .collect();

        let producer = {
            let q = q.clone();
            Thread::new(move || {
                for job in JOBS {
                    // `put_nowait` first, only to report the wait; then a blocking `put`.
                    if let Err(TryPutError::Full(job)) = q.try_put(job) {
                        println!("producer: queue full, waiting to put {}", job.0);
                        q.put(job).expect("the queue is open");
                    }
                }
                println!(
                    "producer: all {} jobs put, {} still unfinished",
                    JOBS.len(),
                    q.unfinished_tasks()
                );
            })
            .name("producer")
            .start()
            .expect("the OS refused a thread")
        };

        // Every job must be put before `join` means "all of them done".
        producer.join().expect("producer panicked");
        q.join();
        println!(
            "main: q.join() returned after {} ms: unfinished_tasks = {}",
            began.elapsed().as_millis(),
            q.unfinished_tasks()
        );
        q.shutdown();
        println!("main: q.shutdown(): the workers' loops end");

        let mut total = 0;
        for worker in workers {
            let name = worker.name().to_owned();
            let done = worker.join().expect("worker panicked");
            println!(
                "  {name} processed {} jobs: {}",
                done.len(),
                done.join(", ")
            );
            total += done.len();
        }
        assert_eq!(total, JOBS.len(), "every job exactly once");
        let work: u64 = JOBS.iter().map(|&(_, ms)| ms).sum();
        println!(
            "{total} jobs ({work} ms of work) done in {} ms by {WORKERS} workers",
            began.elapsed().as_millis()
        );
    })
}
