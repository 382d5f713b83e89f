//! asyncio.Lock, Event, Semaphore, Condition, Barrier: when one thread still needs them
//!
//! asyncio runs one task at a time, so plain code between two `await`s needs no lock. But a task
//! that reads shared state, awaits, and then writes what it read has let others run in between,
//! and their updates are lost. asyncio's primitives are the threading ones for tasks: their
//! waits are `await`s that let the loop run the other tasks.
//!
//! ```python
//! balance = 0
//! async def deposit(lock):
//!     global balance
//!     async with lock:                 # without it: 10 deposits leave balance == 1
//!         b = balance
//!         await asyncio.sleep(0)       # the other tasks run here
//!         balance = b + 1
//!
//! start = asyncio.Event()              # tasks wait for start.set()
//! slots = asyncio.BoundedSemaphore(2)  # at most 2 downloads at once
//! async def download(n):
//!     await start.wait()
//!     async with slots: ...
//! slots.release()                      # ValueError: released too many times
//!
//! async with cond:                     # cond = asyncio.Condition()
//!     await cond.wait_for(lambda: len(items) >= 3)
//! barrier = asyncio.Barrier(3)         # await barrier.wait(): the phase ends for all at once
//! ```
//!
//! `weft::aio` has each of them; the lock and the condition own the data they guard, and the
//! barrier takes threading's action (run once, by the last task to arrive).

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use weft::aio::{
    create_task, gather, run, yield_now, Barrier, BoundedSemaphore, Condition, Event, Lock,
};

/// Ten deposits that read, await, then write: in one task, sharing a `Cell`, with no lock.
async fn deposits_without_a_lock() -> u64 {
    let balance = Cell::new(0u64);
    let deposit = || async {
        let b = balance.get();
        yield_now().await; // the other deposits run here and read the same balance
        balance.set(b + 1);
        Ok::<_, std::convert::Infallible>(())
    };
    gather((0..10).map(|_| deposit()))
        .await
        .expect("infallible");
    balance.get()
}

/// The same deposits as tasks, holding the `Lock` across the await.
async fn deposits_with_a_lock() -> u64 {
    let balance = Arc::new(Lock::new(0u64));
    let tasks = (0..10).map(|_| {
        let balance = Arc::clone(&balance);
        create_task(async move {
            let mut b = balance.lock().await; // `async with lock:`; the guard owns the balance
            let read = *b;
            yield_now().await; // the others wait for the lock
            *b = read + 1;
        })
    });
    gather(tasks).await.expect("no task panicked");
    *balance.lock().await
}

fn main() {
    run(async {
        let lost = deposits_without_a_lock().await;
        let kept = deposits_with_a_lock().await;
        println!("10 deposits across an await: {lost} without a lock, {kept} with one");
        assert_eq!((lost, kept), (1, 10));

        // Event and BoundedSemaphore: five downloads start together, at most two at once.
        let start = Arc::new(Event::new());
        let slots = Arc::new(BoundedSemaphore::new(2));
        let (now, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let downloads: Vec<_> = (1..=5)
            .map(|n| {
                let (start, slots) = (Arc::clone(&start), Arc::clone(&slots));
                let (now, most) = (Arc::clone(&now), Arc::clone(&most));
                create_task(async move {
                    start.wait().await;
                    let _slot = slots.acquire().await; // released when `_slot` drops
                    let running = now.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(running, Ordering::SeqCst);
                    println!("  download {n} runs ({running} at once)");
                    yield_now().await; // the download's I/O: the others get to try
                    now.fetch_sub(1, Ordering::SeqCst);
                })
            })
            .collect();
        yield_now().await; // the downloads run up to `start.wait()` and wait there
        println!("start.set()");
        start.set();
        gather(downloads).await.expect("no task panicked");
        let most = most.load(Ordering::SeqCst);
        println!("at most {most} downloads ran at once");
        assert_eq!(most, 2);
        let extra = slots.release();
        println!("one release too many -> {extra:?} (Python's ValueError)");
        assert!(extra.is_err());

        // Condition: a consumer waits until three items are there; the producer notifies.
        let cond = Arc::new(Condition::new(Vec::new()));
        let consumer = {
            let cond = Arc::clone(&cond);
            create_task(async move {
                let items = cond
                    .acquire()
                    .await
                    .wait_for(|items| items.len() >= 3)
                    .await;
                items.clone()
            })
        };
        yield_now().await; // the consumer takes the lock, finds nothing, and waits
        for item in ["a", "b", "c"] {
            let mut items = cond.acquire().await;
            items.push(item);
            let woken = items.notify(1); // under the lock, as Python requires
            println!("  put {item}, notify(1) woke {woken}");
            assert_eq!(woken, 1);
            drop(items);
            yield_now().await; // the consumer checks its predicate and waits again
        }
        let got = consumer.await.expect("the consumer did not panic");
        println!("the consumer woke up with {got:?}");
        assert_eq!(got, ["a", "b", "c"]);

        // Barrier: three tasks finish a phase together; the action runs once per phase.
        let phases = Arc::new(AtomicUsize::new(0));
        let barrier = {
            let phases = Arc::clone(&phases);
            Arc::new(Barrier::new(3).expect("3 parties").action(move || {
                println!("  phase {} done", phases.fetch_add(1, Ordering::SeqCst) + 1)
            }))
        };
        let workers = (1..=3).map(|n| {
            let barrier = Arc::clone(&barrier);
            create_task(async move {
                for phase in 1..=2 {
                    println!("  worker {n} ends phase {phase}");
                    barrier.wait().await.expect("nobody broke the barrier");
                }
            })
        });
        gather(workers).await.expect("no task panicked");
        assert_eq!(phases.load(Ordering::SeqCst), 2);
    })
    .expect("no runtime is running on this thread");
}
