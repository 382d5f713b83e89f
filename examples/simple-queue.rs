//! queue.SimpleQueue: many threads log through one unbounded queue to a single writer thread
//!
//! `queue.SimpleQueue` is the bare FIFO: unbounded, so `put` never blocks and never fails; no
//! `task_done`/`join`, no `maxsize`, no `shutdown`. It suits `logging.handlers.QueueHandler`,
//! which needs no task tracking: any thread may log without waiting for the slow writer, and
//! the writer (`QueueListener`) learns the end from a sentinel, `None`, since the queue itself
//! cannot be closed:
//!
//! ```python
//! log = queue.SimpleQueue()
//!
//! def writer():
//!     while (line := log.get()) is not None:   # None: the sentinel, no more lines
//!         out.write(line)
//!
//! def worker(n):
//!     for step in range(3):
//!         log.put(f"worker {n}: step {step}")   # never blocks, never raises
//!
//! log.get(timeout=0.01)                          # queue.Empty when nothing comes
//! log.put(None)                                  # after the workers: stop the writer
//! ```
//!
//! `weft::channel::SimpleQueue` is the same and the fastest of weft's queues. The sentinel is
//! `None` of an `Option`, so the type says which items are lines. The writer below is a thread;
//! `get_async().await` takes from the same queue in async code.

use std::time::{Duration, Instant};

use weft::channel::{Empty, SimpleQueue};
use weft::thread::{self, Thread};

const WORKERS: usize = 4;
const STEPS: usize = 3;

fn main() {
    let log: SimpleQueue<Option<String>> = SimpleQueue::new();

    // Nothing has been put: a timed get fails with Empty after the timeout.
    let start = Instant::now();
    let nothing = log.get_timeout(Duration::from_millis(10));
    println!(
        "get(timeout=10 ms) on an empty queue -> {nothing:?} after {:?}",
        start.elapsed()
    );
    assert_eq!(nothing, Err(Empty));

    let writer = {
        let log = log.clone();
        Thread::new(move || {
            let mut written = Vec::new();
            // `get` blocks while the queue is empty; the sentinel ends the loop.
            while let Some(line) = log.get() {
                println!("  writer: {line}");
                written.push(line);
            }
            written
        })
        .name("writer")
        .start()
        .expect("the OS refused a thread")
    };

    let workers: Vec<_> = (1..=WORKERS)
        .map(|n| {
            let log = log.clone();
            thread::spawn(move || {
                for step in 0..STEPS {
                    // Unbounded: put returns at once, whatever the writer is doing.
                    log.put(Some(format!("worker {n}: step {step}")));
                }
            })
            .expect("the OS refused a thread")
        })
        .collect();
    for w in workers {
        w.join().expect("a worker panicked");
    }
    println!(
        "all {WORKERS} workers are done; {} lines may still be queued",
        log.qsize()
    );

    // Every line was put before the sentinel, so the writer writes them all, then stops.
    log.put(None);
    let written = writer.join().expect("the writer panicked");
    println!(
        "the writer wrote {} lines and stopped at the sentinel",
        written.len()
    );
    assert_eq!(written.len(), WORKERS * STEPS);
    for n in 1..=WORKERS {
        // One queue keeps each worker's own lines in the order it put them.
        let mine: Vec<&String> = written
            .iter()
            .filter(|l| l.starts_with(&format!("worker {n}:")))
            .collect();
        let expected: Vec<String> = (0..STEPS)
            .map(|step| format!("worker {n}: step {step}"))
            .collect();
        assert_eq!(mine, expected.iter().collect::<Vec<_>>());
    }
    assert!(log.empty());
    println!("each worker's lines came out in the order it put them; the queue is empty");
}
