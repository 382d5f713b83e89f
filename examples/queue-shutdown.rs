//! queue.Queue.shutdown: workers drain what is left, then stop; immediate=True hands items back
//!
//! Before Python 3.13 a worker blocked in `get()` stayed blocked forever unless someone put a
//! sentinel (one `None` per worker). `shutdown()` ends that: later puts fail, gets drain what is
//! left and then raise `queue.ShutDown`, and every blocked getter wakes up.
//! `shutdown(immediate=True)` also stops the gets at once, and the items still queued are
//! dropped.
//!
//! ```python
//! def worker():
//!     while True:
//!         try:
//!             job = q.get()          # blocks while the queue is empty
//!         except queue.ShutDown:     # shut down and nothing left
//!             return
//!         process(job); q.task_done()
//!
//! for job in jobs:
//!     q.put(job)
//! q.shutdown()                       # after the last item: no sentinels needed
//! q.put(late)                        # raises queue.ShutDown
//!
//! q2.shutdown(immediate=True)        # the queued items are discarded; join() returns
//! ```
//!
//! weft gives back what Python discards: a failed `put` returns its item inside the error, and
//! `shutdown_immediate()` returns the items that were still queued.

use std::sync::mpsc;
use std::time::Duration;

use weft::channel::{GetError, Queue};
use weft::thread::{self, Thread};

const WORKERS: usize = 5;
const JOBS: [&str; 3] = ["parse a.log", "parse b.log", "parse c.log"];
const UPLOADS: [&str; 6] = ["1.jpg", "2.jpg", "3.jpg", "4.jpg", "5.jpg", "6.jpg"];

fn main() {
    weft::main(|| {
        shutdown();
        println!();
        shutdown_immediate();
    })
}

/// `shutdown()`: the workers drain the queue, then every one of them gets `ShutDown`.
fn shutdown() {
    let q = Queue::unbounded();
    println!("shutdown(): {WORKERS} workers, {} jobs", JOBS.len());
    let workers: Vec<_> = (1..=WORKERS)
        .map(|i| {
            let q = q.clone();
            Thread::new(move || {
                let me = thread::current_thread().name().to_owned();
                let mut done = 0;
                loop {
                    let shut_before = q.is_shutdown();
                    match q.get() {
                        Ok(job) => {
                            let when = if q.is_shutdown() {
                                "queue already shut down: draining"
                            } else {
                                "queue still open"
                            };
                            println!("  {me}: got {job:?} ({when})");
                            std::thread::sleep(Duration::from_millis(10)); // the work
                            done += 1;
                            q.task_done().expect("one task_done per get");
                        }
                        Err(GetError) => {
                            let how = if shut_before {
                                "at once, nothing left"
                            } else {
                                "woken from a blocked get()"
                            };
                            println!("  {me}: get() -> ShutDown, {how}; stopping");
                            return done;
                        }
                    }
                }
            })
            .name(format!("worker-{i}"))
            .start()
            .expect("the OS refused a thread")
        })
        .collect();

    std::thread::sleep(Duration::from_millis(20)); // the producer gets ready; workers wait
    println!("producer: puts {} jobs, then calls shutdown()", JOBS.len());
    for job in JOBS {
        q.put(job).expect("the queue is open");
    }
    q.shutdown();

    let late = "parse d.log";
    let err = q.put(late).expect_err("the queue is shut down");
    println!(
        "producer: put({late:?}) -> {err:?}; the item comes back: {:?}",
        err.into_inner()
    );

    let done: usize = workers
        .into_iter()
        .map(|w| w.join().expect("worker panicked"))
        .sum();
    println!(
        "all {WORKERS} workers stopped; {done} jobs processed, unfinished_tasks = {}",
        q.unfinished_tasks()
    );
    assert_eq!(done, JOBS.len(), "shutdown() loses no queued job");
}

/// `shutdown_immediate()`: the gets stop now, and the queued items come back to the caller.
fn shutdown_immediate() {
    let q = Queue::bounded(UPLOADS.len()).expect("capacity is not zero");
    println!(
        "shutdown_immediate(): one uploader, {} files",
        UPLOADS.len()
    );
    for file in UPLOADS {
        q.put(file).expect("the queue is open");
    }

    // The uploader tells main when it starts its second file, and finishes it once main replies.
    let (started_tx, started_rx) = mpsc::channel();
    let (reply_tx, reply_rx) = mpsc::channel();
    let uploader = {
        let q = q.clone();
        Thread::new(move || {
            let mut uploaded = Vec::new();
            while let Ok(file) = q.get() {
                println!("  uploader: uploading {file}");
                if uploaded.len() == 1 {
                    started_tx.send(file).expect("main is listening");
                    reply_rx.recv().expect("main replies");
                }
                std::thread::sleep(Duration::from_millis(10)); // the upload
                uploaded.push(file);
                q.task_done().expect("one task_done per get");
            }
            println!("  uploader: get() -> ShutDown; stopping");
            uploaded
        })
        .name("uploader")
        .start()
        .expect("the OS refused a thread")
    };

    let busy_with = started_rx.recv().expect("the uploader reports");
    let left = q.shutdown_immediate();
    println!("main: during {busy_with}, shutdown_immediate() gave back {left:?}");
    println!(
        "main: Python would discard them; unfinished_tasks = {} (the upload in progress)",
        q.unfinished_tasks()
    );
    reply_tx.send(()).expect("the uploader is waiting");

    q.join(); // the queued items count as done; only the running upload is waited for
    println!("main: join() returned once the running upload called task_done()");
    let uploaded = uploader.join().expect("uploader panicked");
    println!("uploaded {uploaded:?}; still to upload {left:?}");
    assert_eq!(uploaded.len() + left.len(), UPLOADS.len(), "nothing lost");
}
