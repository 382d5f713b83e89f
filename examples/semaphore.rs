//! threading.Semaphore: at most 2 of 6 downloads at once; BoundedSemaphore catches an extra release
//!
//! ```python
//! slots = threading.Semaphore(2)
//!
//! def download(n):
//!     with slots:               # blocks while both slots are taken
//!         fetch(n)
//!
//! pool = threading.BoundedSemaphore(2)
//! pool.acquire(); pool.release()
//! pool.release()                # ValueError: Semaphore released too many times
//! ```

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use weft::sync::{BoundedSemaphore, ReleaseError, Semaphore};

const SLOTS: usize = 2;
const DOWNLOADS: usize = 6;

fn main() {
    println!("1. Semaphore({SLOTS}) as download slots, {DOWNLOADS} downloads:");
    let slots = Arc::new(Semaphore::new(SLOTS));
    let active = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));

    let downloads: Vec<_> = (1..=DOWNLOADS)
        .map(|n| {
            let (slots, active, most) =
                (Arc::clone(&slots), Arc::clone(&active), Arc::clone(&most));
            thread::spawn(move || {
                let _slot = slots.acquire(); // `with slots:`; given back when dropped
                let now = active.fetch_add(1, SeqCst) + 1;
                most.fetch_max(now, SeqCst);
                println!("  download {n}: started ({now} running)");
                thread::sleep(Duration::from_millis(10)); // simulated network I/O
                active.fetch_sub(1, SeqCst);
                println!("  download {n}: finished");
            })
        })
        .collect();
    for d in downloads {
        d.join().expect("download panicked");
    }
    let most = most.load(SeqCst);
    println!(
        "  most downloads at once: {most} (limit {SLOTS}); permits available again: {}",
        slots.available()
    );
    assert!(most <= SLOTS, "the semaphore let {most} in at once");

    println!();
    println!("2. an extra release():");
    let plain = Semaphore::new(SLOTS);
    plain.release(1).expect("a Semaphore has no upper bound");
    println!(
        "  Semaphore({SLOTS}).release(1) -> Ok, now {} permits (the bug goes unnoticed)",
        plain.available()
    );

    let pool = BoundedSemaphore::new(SLOTS);
    let kept = pool.acquire().forget(); // Python style: acquire() here...
    println!(
        "  BoundedSemaphore({SLOTS}): acquire() -> {} available",
        pool.available()
    );
    pool.release(kept).expect("giving back what was taken");
    println!("  release(1) -> Ok, {} available", pool.available());
    match pool.release(1) {
        Err(err @ ReleaseError::TooManyReleases { .. }) => {
            println!("  release(1) again -> Err: {err}");
        }
        other => panic!("expected TooManyReleases, got {other:?}"),
    }
    println!(
        "  still {} available (max {}): nothing was released",
        pool.available(),
        pool.max()
    );
}
