//! threading.Condition: producer and consumers share a bounded buffer, using wait() and notify()
//!
//! The classic Condition example: the producer waits while the buffer is full, consumers wait
//! while it is empty, and each side notifies the other after changing the buffer. `wait()`
//! releases the lock while sleeping and holds it again before it returns. Then the rest of the
//! chapter's Condition: `wait(timeout)` gives up after the timeout, holding the lock again, and
//! `notify(n)` wakes n of the waiting threads (and says how many).
//!
//! Which waiters a notify wakes is not for the program to choose: weft, like CPython 3.11, wakes
//! the longest waiting first, but which thread that is depends on the scheduler (below, the
//! tickets need not go to waiters 1 and 2), and the threads `notify_all` wakes take the lock one
//! at a time. The chapter says `notify(n)` may wake n or more, after Python's docs, which let a
//! later implementation wake more than n; CPython 3.11 wakes exactly n when n are waiting, and
//! weft's `notify(n)` wakes at most n and returns the count.
//!
//! ```python
//! cond = threading.Condition()
//!
//! def producer():
//!     for item in range(6):
//!         with cond:
//!             while len(buffer) == CAPACITY:
//!                 cond.wait()
//!             buffer.append(item)
//!             cond.notify_all()
//!
//! def consumer():
//!     with cond:
//!         cond.wait_for(lambda: buffer or done)
//!         ...
//!
//! with cond:
//!     cond.wait(timeout=0.05)   # False: nobody notified; the lock is held again
//!     cond.notify(2)            # wakes two of the waiting threads
//! ```

use std::collections::VecDeque;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use weft::sync::Condition;

const CAPACITY: usize = 3;
const ITEMS: u32 = 6;

/// The data the condition's lock protects.
struct Buffer {
    items: VecDeque<u32>,
    /// Set by the producer after its last item, so consumers know when to stop.
    done: bool,
}

fn main() {
    let shared = Arc::new(Condition::new(Buffer {
        items: VecDeque::with_capacity(CAPACITY),
        done: false,
    }));
    println!("1 producer, 2 consumers, a buffer of {CAPACITY}, {ITEMS} items");

    let consumers: Vec<_> = ["consumer-1", "consumer-2"]
        .into_iter()
        .map(|name| {
            let shared = Arc::clone(&shared);
            thread::spawn(move || {
                let mut eaten = Vec::new();
                loop {
                    let mut buf = shared.acquire();
                    // `while not (buffer or done): wait()`, rechecked after every wake-up.
                    buf.wait_for(|b| !b.items.is_empty() || b.done);
                    let Some(item) = buf.items.pop_front() else {
                        println!("{name}: buffer empty and producer done, stopping");
                        break;
                    };
                    println!("{name}: took {item} (buffer now {:?})", buf.items);
                    shared.notify_all(); // there is room again: wake the producer
                    buf.release();
                    eaten.push(item);
                    thread::sleep(Duration::from_millis(2)); // "process" the item, unlocked
                }
                eaten
            })
        })
        .collect();

    for item in 0..ITEMS {
        let mut buf = shared.acquire();
        while buf.items.len() == CAPACITY {
            println!("producer: buffer full {:?}, waiting", buf.items);
            buf.wait(); // releases the lock, sleeps, then holds the lock again
        }
        buf.items.push_back(item);
        println!("producer: put {item}");
        shared.notify_all(); // there is an item: wake a consumer
    }
    shared.acquire().done = true;
    let woken = shared.notify_all();
    println!("producer: done; notify_all() woke {woken} waiting consumer(s)");

    let mut all: Vec<u32> = Vec::new();
    for consumer in consumers {
        all.extend(consumer.join().expect("consumer panicked"));
    }
    all.sort_unstable();
    println!("consumed, sorted: {all:?}");
    assert_eq!(
        all,
        (0..ITEMS).collect::<Vec<_>>(),
        "every item exactly once"
    );

    wait_with_timeout();
    notify_n();
}

/// `wait(timeout)`: nobody notifies, so the wait gives up after the timeout, and returns with
/// the lock held again, as every wait does.
fn wait_with_timeout() {
    println!();
    let cond = Condition::new(());
    let mut guard = cond.acquire();
    let notified = guard.wait_timeout(Duration::from_millis(50));
    println!(
        "wait_timeout(50 ms) with nobody notifying: notified = {notified}, lock held again = {}",
        cond.locked()
    );
    assert!(!notified && cond.locked());
}

/// Who is waiting for a turn, and how many turns are on offer.
struct Turns {
    arrived: usize,
    tickets: usize,
}

/// `notify(n)`: three threads wait for a ticket; `notify(2)` wakes two of them, `notify(1)` the
/// last one. Only the main thread notifies, so no waiter is woken by anyone else.
fn notify_n() {
    println!();
    let turns = Arc::new(Condition::new(Turns {
        arrived: 0,
        tickets: 0,
    }));
    let waiters: Vec<_> = (1..=3)
        .map(|i| {
            let turns = Arc::clone(&turns);
            thread::spawn(move || {
                let mut t = turns.acquire();
                t.arrived += 1; // then waits at once: the lock is let go only by the wait
                t.wait_for(|t| t.tickets > 0);
                t.tickets -= 1;
                println!("  waiter {i}: got a ticket");
            })
        })
        .collect();
    // Once all three have arrived and this thread holds the lock, all three are waiting.
    let mut t = lock_when(&turns, |t| t.arrived == 3);
    t.tickets = 2;
    let woken = turns.notify(2);
    println!("3 threads waiting; notify(2) woke {woken} (which two: the scheduler's doing)");
    drop(t);
    let mut t = lock_when(&turns, |t| t.tickets == 0);
    t.tickets = 1;
    let woken = turns.notify(1);
    println!("one still waiting; notify(1) woke {woken}");
    drop(t);
    for w in waiters {
        w.join().expect("waiter panicked");
    }
}

/// Takes the lock once `ready` holds, looking again (and letting other threads run) until then:
/// the main thread watches without waiting on the condition, so no notify is meant for it.
fn lock_when<T>(
    cond: &Condition<T>,
    ready: impl Fn(&T) -> bool,
) -> weft::sync::ConditionGuard<'_, T> {
    loop {
        let guard = cond.acquire();
        if ready(&guard) {
            return guard;
        }
        drop(guard);
        thread::yield_now();
    }
}
