//! threading.Lock: a shared bank account never overdraws when every withdrawal holds the lock
//!
//! Four ATMs withdraw from one account at once. Checking the balance and then debiting it is a
//! critical section: without the lock two ATMs could both see enough money and both pay out.
//! The chapter also warns that a lock used badly costs time: held longer than its critical
//! section (here, while printing a receipt), it makes the threads take turns at work that
//! could overlap. The last part times both ways.
//!
//! ```python
//! lock = threading.Lock()
//!
//! def withdraw(amount):
//!     global balance
//!     with lock:
//!         if balance >= amount:
//!             balance -= amount
//!
//! lock.acquire(blocking=False)   # -> False while another thread holds it
//! lock.acquire(timeout=0.02)     # -> False after 20 ms
//! lock.locked()
//! lock.release()
//! ```

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use weft::sync::Lock;

struct Account {
    balance: u64,
    paid: u64,
    refused: u32,
}

fn main() {
    let account = Arc::new(Lock::new(Account {
        balance: 1_000,
        paid: 0,
        refused: 0,
    }));
    println!("opening balance: 1000; 4 ATMs each try 10 withdrawals of 30");

    let atms: Vec<_> = (1..=4)
        .map(|atm| {
            let account = Arc::clone(&account);
            thread::spawn(move || {
                let (mut paid, mut refused) = (0, 0);
                for _ in 0..10 {
                    let mut acct = account.acquire(); // `with lock:`
                    if acct.balance >= 30 {
                        thread::yield_now(); // "counting the cash": nobody else can get in
                        acct.balance -= 30;
                        acct.paid += 30;
                        paid += 1;
                    } else {
                        acct.refused += 1;
                        refused += 1;
                    }
                } // each guard is dropped at the end of its iteration: the lock is released
                (atm, paid, refused)
            })
        })
        .collect();
    for atm in atms {
        let (atm, paid, refused) = atm.join().expect("ATM panicked");
        println!("  ATM {atm}: {paid} withdrawals paid, {refused} refused");
    }
    let acct = account.acquire();
    println!(
        "closing balance: {}, paid out {}, refused {} (1000 = {} + {})",
        acct.balance, acct.paid, acct.refused, acct.balance, acct.paid
    );
    assert_eq!(
        acct.balance + acct.paid,
        1_000,
        "money appeared or vanished"
    );
    acct.release(); // Python's `lock.release()`; dropping the guard does the same

    // Non-blocking and timed acquires, while the main thread holds the lock.
    println!();
    let guard = account.acquire();
    println!("main: acquired the lock; locked() = {}", account.locked());
    let auditor = {
        let account = Arc::clone(&account);
        thread::spawn(move || {
            let now = account.try_acquire();
            println!(
                "auditor: try_acquire() -> {}",
                if now.is_some() {
                    "got it"
                } else {
                    "None (busy)"
                }
            );
            let began = Instant::now();
            let timed = account.acquire_timeout(Duration::from_millis(20));
            println!(
                "auditor: acquire_timeout(20 ms) -> {} after {} ms",
                if timed.is_some() { "got it" } else { "None" },
                began.elapsed().as_millis()
            );
        })
    };
    // The auditor never blocks without a timeout, so waiting for it here cannot deadlock.
    auditor.join().expect("auditor panicked");
    guard.release();
    println!("main: released; locked() = {}", account.locked());

    let auditor = {
        let account = Arc::clone(&account);
        thread::spawn(move || {
            let acct = account
                .acquire_timeout(Duration::from_millis(20))
                .expect("the lock is free now");
            println!(
                "auditor: acquire_timeout(20 ms) -> got it, balance {}",
                acct.balance
            );
        })
    };
    auditor.join().expect("auditor panicked");

    held_too_long();
}

/// How long printing a receipt takes: I/O that needs no lock.
const RECEIPT: Duration = Duration::from_millis(40);

/// Four ATMs each record one withdrawal, then print a receipt, first with the guard kept alive
/// over the printing, then dropped before it.
fn held_too_long() {
    println!();
    println!("4 ATMs each record a withdrawal, then print a receipt (40 ms of I/O):");
    let withdrawals = Arc::new(Lock::new(0u32));
    for hold_while_printing in [true, false] {
        let began = Instant::now();
        let atms: Vec<_> = (0..4)
            .map(|_| {
                let withdrawals = Arc::clone(&withdrawals);
                thread::spawn(move || {
                    let mut count = withdrawals.acquire();
                    *count += 1; // the critical section
                    if hold_while_printing {
                        thread::sleep(RECEIPT); // the guard lives on: every other ATM waits
                        drop(count);
                    } else {
                        drop(count); // released as soon as the shared state is updated
                        thread::sleep(RECEIPT);
                    }
                })
            })
            .collect();
        for atm in atms {
            atm.join().expect("ATM panicked");
        }
        let how = if hold_while_printing {
            "held while printing: the ATMs take turns"
        } else {
            "held for the update only: the receipts print at once"
        };
        println!("  lock {how}: {} ms", began.elapsed().as_millis());
    }
    assert_eq!(*withdrawals.acquire(), 8);
    println!("  (about 4 x 40 ms, then about 40 ms; a busy machine adds to both)");
}
