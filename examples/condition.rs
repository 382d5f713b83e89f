//! threading.Condition: producer and consumers share a bounded buffer, using wait() and notify()
//!
//! The classic Condition example: the producer waits while the buffer is full, consumers wait
//! while it is empty, and each side notifies the other after changing the buffer. `wait()`
//! releases the lock while sleeping and holds it again before it returns.
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
}
