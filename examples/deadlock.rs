//! Deadlock: two threads lock A and B in opposite orders; a timeout or a fixed order avoids it
//!
//! The chapter's deadlock: thread 1 moves money from A to B (locks A, then B) while thread 2 moves
//! money from B to A (locks B, then A). If each gets its first lock, each waits forever for the
//! other's. In Python:
//!
//! ```python
//! def transfer(src, dst, amount):
//!     with src.lock:
//!         with dst.lock:        # blocks forever if another thread holds dst and wants src
//!             src.balance -= amount
//!             dst.balance += amount
//! ```
//!
//! This demo never makes that blocking call. Fix 1: `dst.lock.acquire(timeout=...)`; on failure,
//! release `src` and retry. Fix 2: always lock the accounts in one global order (A before B), so
//! no thread can hold B while it waits for A.

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use weft::sync::{Barrier, Lock};

struct Account {
    name: &'static str,
    balance: Lock<i64>,
}

struct Bank {
    a: Account,
    b: Account,
    /// Makes both threads hold their first lock before either asks for its second: the deadlock
    /// then happens on every run, not just on unlucky ones.
    both_started: Barrier,
}

/// Fix 1: take `from`, then try `to` for at most `patience`; if that fails, give `from` back
/// and start over. Returns the number of attempts.
fn transfer_with_timeout(
    bank: &Bank,
    who: &str,
    from: &Account,
    to: &Account,
    amount: i64,
    patience: Duration,
) -> u32 {
    let mut attempt = 0;
    loop {
        attempt += 1;
        // Blocking is safe here: this thread holds no other lock.
        let mut src = from.balance.acquire();
        println!("{who}: holds {}, wants {}", from.name, to.name);
        if attempt == 1 {
            bank.both_started.wait().expect("the other thread arrives");
        }
        match to.balance.acquire_timeout(patience) {
            Some(mut dst) => {
                *src -= amount;
                *dst += amount;
                println!(
                    "{who}: got {} too, moved {amount} {} -> {}",
                    to.name, from.name, to.name
                );
                return attempt;
            }
            None => {
                println!(
                    "{who}: no {} after {} ms: deadlock? releasing {} and retrying",
                    to.name,
                    patience.as_millis(),
                    from.name
                );
                drop(src); // back off: let the other thread finish
                thread::yield_now();
            }
        }
    }
}

/// Fix 2: lock the two accounts in alphabetical order, whichever way the money goes.
fn transfer_in_order(bank: &Bank, who: &str, from: &Account, to: &Account, amount: i64) {
    let (first, second) = if from.name < to.name {
        (from, to)
    } else {
        (to, from)
    };
    bank.both_started.wait().expect("the other thread arrives");
    let mut first_balance = first.balance.acquire();
    let mut second_balance = second.balance.acquire();
    let (src, dst) = if std::ptr::eq(first, from) {
        (&mut *first_balance, &mut *second_balance)
    } else {
        (&mut *second_balance, &mut *first_balance)
    };
    *src -= amount;
    *dst += amount;
    println!(
        "{who}: locked {} then {}, moved {amount} {} -> {}",
        first.name, second.name, from.name, to.name
    );
}

fn main() {
    let bank = Arc::new(Bank {
        a: Account {
            name: "A",
            balance: Lock::new(500),
        },
        b: Account {
            name: "B",
            balance: Lock::new(500),
        },
        both_started: Barrier::new(2)
            .expect("two parties")
            .timeout(Duration::from_secs(5)),
    });

    println!("1. opposite orders, acquire_timeout on the second lock:");
    let t1 = {
        let bank = Arc::clone(&bank);
        thread::spawn(move || {
            let patience = Duration::from_millis(30);
            transfer_with_timeout(&bank, "thread-1", &bank.a, &bank.b, 100, patience)
        })
    };
    let t2 = {
        let bank = Arc::clone(&bank);
        thread::spawn(move || {
            let patience = Duration::from_millis(80);
            transfer_with_timeout(&bank, "thread-2", &bank.b, &bank.a, 40, patience)
        })
    };
    let attempts1 = t1.join().expect("thread-1 panicked");
    let attempts2 = t2.join().expect("thread-2 panicked");
    println!("   done: thread-1 needed {attempts1} attempt(s), thread-2 {attempts2}");

    println!();
    println!("2. fixed lock order (always A before B), plain blocking acquire:");
    let t1 = {
        let bank = Arc::clone(&bank);
        thread::spawn(move || transfer_in_order(&bank, "thread-1", &bank.a, &bank.b, 100))
    };
    let t2 = {
        let bank = Arc::clone(&bank);
        thread::spawn(move || transfer_in_order(&bank, "thread-2", &bank.b, &bank.a, 40))
    };
    t1.join().expect("thread-1 panicked");
    t2.join().expect("thread-2 panicked");

    let a = *bank.a.balance.acquire();
    let b = *bank.b.balance.acquire();
    println!();
    println!("balances: A = {a}, B = {b}, total {} (was 1000)", a + b);
    assert_eq!(a + b, 1_000);
}
