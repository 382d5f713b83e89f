//! Deadlock detection: the two-lock inversion reported on its first run, before it ever hangs
//!
//! The chapter warns that locks taken in inconsistent orders deadlock — but usually only once in a
//! thousand runs, in production. With the `deadlock-detection` feature, weft records the order in
//! which lock classes are taken (as the Linux kernel's lockdep does) and reports the inversion the
//! first time both orders are merely *run*, here one after the other on one thread, where nothing
//! can hang:
//!
//! ```python
//! def transfer(src, dst):        # Python has no such check: this runs fine, until it does not
//!     with src.lock:
//!         with dst.lock: ...
//! transfer(a, b); transfer(b, a)
//! ```
//!
//! Run it with `cargo run --example deadlock-detect --features deadlock-detection` (`cargo xtask
//! demo` does). The report names the lock classes, where each was taken and by which thread. The
//! fixed version takes the accounts in one global order, and nothing is reported.

use std::sync::{Arc, Mutex};

use weft::sync::deadlock::{set_deadlock_hook, DeadlockReport};
use weft::sync::Lock;

struct Account {
    id: u32,
    balance: Lock<i64>,
}

impl Account {
    fn new(name: &'static str, id: u32, balance: i64) -> Self {
        // A named class: every account lock of the program is "account/<name>" here; locks
        // created without a name are classed by the line that creates them.
        Self {
            id,
            balance: Lock::named(name, balance),
        }
    }
}

/// The chapter's transfer: the source's lock, then the destination's.
fn transfer(from: &Account, to: &Account, amount: i64) {
    let mut src = from.balance.acquire();
    let mut dst = to.balance.acquire();
    *src -= amount;
    *dst += amount;
}

/// The fix: always lock the account with the smaller id first.
fn transfer_ordered(from: &Account, to: &Account, amount: i64) {
    let (first, second) = if from.id < to.id {
        (from, to)
    } else {
        (to, from)
    };
    let mut g1 = first.balance.acquire();
    let mut g2 = second.balance.acquire();
    let (src, dst) = if from.id < to.id {
        (&mut g1, &mut g2)
    } else {
        (&mut g2, &mut g1)
    };
    **src -= amount;
    **dst += amount;
}

fn main() {
    // Reports go to stderr by default; this demo collects them to print them in order.
    let reports: Arc<Mutex<Vec<DeadlockReport>>> = Arc::default();
    let sink = Arc::clone(&reports);
    set_deadlock_hook(move |r| {
        sink.lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(r.clone())
    });

    let a = Account::new("account/alice", 1, 100);
    let b = Account::new("account/bob", 2, 100);
    println!("transfer(alice -> bob), then transfer(bob -> alice), one after the other:");
    transfer(&a, &b, 10);
    transfer(&b, &a, 5);
    for report in reports.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
        print!("{report}");
    }

    let c = Account::new("account/carol", 3, 100);
    let d = Account::new("account/dave", 4, 100);
    println!("\nthe same two transfers with a global lock order:");
    transfer_ordered(&c, &d, 10);
    transfer_ordered(&d, &c, 5);
    let left = reports.lock().unwrap_or_else(|e| e.into_inner()).len();
    println!("reports: {left}");
    println!(
        "balances: alice {} bob {} carol {} dave {}",
        *a.balance.acquire(),
        *b.balance.acquire(),
        *c.balance.acquire(),
        *d.balance.acquire()
    );
}
