//! multiprocessing.Queue: producer and consumer processes share one process-safe queue
//!
//! `multiprocessing.Queue` is safe between threads *and* processes; it does the locking for you.
//! In Python:
//!
//! ```python
//! def consumer(q, name):
//!     while (item := q.get()) is not None:
//!         print(name, "got", item); q.task_done()
//!     q.task_done()
//!
//! if __name__ == "__main__":
//!     q = multiprocessing.JoinableQueue(maxsize=4)
//!     workers = [multiprocessing.Process(target=consumer, args=(q, f"c{i}")) for i in range(2)]
//!     for w in workers: w.start()
//!     for i in range(10): q.put(i * i)
//!     q.join()                            # every item processed
//!     for w in workers: q.put(None)
//! ```
//!
//! weft's `ProcessQueue` is passed to each child inside its argument, and works between threads
//! as well: here a thread of the parent produces beside two producer processes, each thread with
//! its own clone of the handle. It is bounded, joinable,
//! and can be shut down for every process at once (Python 3.13's `shutdown`): consumers drain
//! what is left, then their `get` fails, so no sentinel values are needed.
//!
//! And where Python's `get()` would wait for ever because every other process holding the queue
//! is gone (exited, or killed), weft's fails with `QueueError::Disconnected`.

use weft::process::{current_process_name, Process, ProcessQueue, QueueError};

/// Takes jobs until the queue is shut down and drained; returns how many it handled.
fn consumer(q: ProcessQueue<(u32, String)>) -> u32 {
    let mut handled = 0;
    for (n, text) in &q {
        println!("  [{}] got job {n}: {text}", current_process_name());
        handled += 1;
        let _ = q.task_done();
    }
    handled
}

/// A producer process: puts its share of the jobs.
fn producer(args: (ProcessQueue<(u32, String)>, u32)) -> u32 {
    let (q, base) = args;
    for i in 0..5 {
        let n = base + i;
        q.put((n, format!("square is {}", n * n))).expect("put");
    }
    5
}

/// Puts a last word and exits, dropping its handle: after it, no one else holds the queue.
fn last_word(q: ProcessQueue<(u32, String)>) {
    q.put((0, "the last word".into())).expect("put");
}

fn main() {
    weft::main(|| {
        let q = ProcessQueue::new(4).expect("queue");
        let consumers: Vec<_> = (1..=2)
            .map(|i| {
                Process::new(consumer, q.clone())
                    .name(format!("consumer-{i}"))
                    .start()
                    .expect("start")
            })
            .collect();
        let producers: Vec<_> = [0, 100]
            .into_iter()
            .map(|base| {
                Process::new(producer, (q.clone(), base))
                    .name(format!("producer-{base}"))
                    .start()
                    .expect("start")
            })
            .collect();
        // A thread of this process produces too, through its own clone of the handle.
        let thread_producer = {
            let q = q.clone();
            std::thread::spawn(move || producer((q, 200)))
        };
        let put: u32 = producers
            .into_iter()
            .map(|p| p.join().expect("producer"))
            .sum::<u32>()
            + thread_producer.join().expect("producer thread");
        q.join(); // every job put has been marked done, by whichever process
        println!("all {put} jobs processed; shutting the queue down");
        q.shutdown();
        for c in consumers {
            let name = c.name().to_string();
            println!("{name} handled {}", c.join().expect("consumer"));
        }

        // A queue whose other holders are all gone: no `get` could ever be answered.
        let q = ProcessQueue::new(4).expect("queue");
        let child = Process::new(last_word, q.clone()).start().expect("start");
        child.join().expect("child");
        println!("got {:?}", q.get().expect("the child's item"));
        match q.get() {
            Err(QueueError::Disconnected(None)) => {
                println!(
                    "then Disconnected: every other holder is gone (Python would wait for ever)"
                )
            }
            other => println!("unexpected: {other:?}"),
        }
    })
}
