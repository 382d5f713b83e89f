//! threading.RLock: the thread holding a reentrant lock may acquire it again, e.g. when recursing
//!
//! A plain `Lock` taken twice by the same thread blocks that thread forever (it waits for
//! itself). An `RLock` counts the holds of its owner and is released when the last one is.
//!
//! ```python
//! lock = threading.RLock()
//!
//! def countdown(n):
//!     with lock:                # re-entered at every level of the recursion
//!         log.append(n)
//!         if n > 0:
//!             countdown(n - 1)
//! ```
//!
//! weft's `RLock` guards give `&T` (several may be alive at once), so the data sits in a
//! `RefCell` for mutation.

use std::cell::RefCell;
use std::sync::Arc;
use std::thread;

use weft::sync::{Lock, RLock};

type Log = RLock<RefCell<Vec<u32>>>;

/// Acquires the lock at every level of the recursion, while the outer levels still hold it.
fn countdown(lock: &Log, n: u32, depth: usize) {
    let log = lock.acquire();
    log.borrow_mut().push(n);
    println!(
        "{:indent$}countdown({n}): acquired, this thread's hold #{} (owned by me: {})",
        "",
        depth + 1,
        lock.is_owned_by_current_thread(),
        indent = 2 + 2 * depth
    );
    if n > 0 {
        countdown(lock, n - 1, depth + 1);
    }
} // this level's hold is released here

fn main() {
    let lock: Arc<Log> = Arc::new(RLock::new(RefCell::new(Vec::new())));

    println!("1. recursion under one RLock:");
    countdown(&lock, 3, 0);
    println!("  all holds released, locked() = {}", lock.locked());
    println!("  log = {:?}", lock.acquire().borrow());

    println!();
    println!("2. while this thread holds the RLock, other threads stay out:");
    let outer = lock.acquire();
    let inner = lock.acquire();
    println!("  main: acquired twice");
    let other = Arc::clone(&lock);
    let got_in = thread::spawn(move || other.try_acquire().is_some())
        .join()
        .expect("thread panicked");
    assert!(!got_in);
    println!("  other thread: try_acquire() -> None (main holds it)");
    inner.release();
    println!("  main: released once, still locked() = {}", lock.locked());
    outer.release();
    println!("  main: released twice, now locked() = {}", lock.locked());
    let other = Arc::clone(&lock);
    let got_in = thread::spawn(move || other.try_acquire().is_some())
        .join()
        .expect("thread panicked");
    assert!(got_in);
    println!("  other thread: try_acquire() -> got it");

    println!();
    println!("3. the same with a plain Lock:");
    let plain = Lock::new(());
    let held = plain.acquire();
    println!("  main: acquired the Lock once");
    // `plain.acquire()` here would wait for this very thread: a deadlock with itself.
    let again = plain.try_acquire();
    println!(
        "  main: try_acquire() again -> {} (a blocking acquire() would hang forever)",
        if again.is_some() { "got it" } else { "None" }
    );
    assert!(again.is_none());
    held.release();
}
