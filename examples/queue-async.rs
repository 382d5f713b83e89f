//! asyncio.Queue + queue.Queue: one queue fed by threads and drained by async tasks at once
//!
//! Python has two queues for two worlds: `queue.Queue` for threads and `asyncio.Queue` for
//! coroutines. An `asyncio.Queue` is not thread-safe: a thread cannot put on it (it would need
//! `loop.call_soon_threadsafe`), and a coroutine that calls `queue.Queue.get()` blocks the whole
//! event loop. So a thread-to-coroutine pipeline in Python needs glue:
//!
//! ```python
//! aq = asyncio.Queue()                           # usable from the event loop only
//!
//! def producer(loop):                            # a thread
//!     for item in items:
//!         loop.call_soon_threadsafe(aq.put_nowait, item)   # no back-pressure
//!
//! async def consumer():
//!     while True:
//!         item = await aq.get()
//!         ...
//!         aq.task_done()
//!
//! await aq.join()                                # a thread cannot wait for this
//! ```
//!
//! A weft queue is one queue for both: threads call `put`, `get` and `join`, async tasks await
//! `put_async`, `get_async` and `join_async`, on the same handle, with the same bound and the same
//! unfinished-task count. A `put` wakes whichever waited longest, thread or task.

use std::time::Duration;

use weft::channel::{Queue, SimpleQueue};
use weft::thread::Thread;

/// Items each producer thread puts.
const ITEMS: u32 = 4;

fn main() {
    weft::main(|| {
        // Bounded: a producer thread blocks in `put` until a task has made room.
        let q = Queue::bounded(2).expect("capacity is not zero");
        // A one-item signal from the thread world to the async one.
        let all_put = SimpleQueue::new();
        println!("2 producer threads, 2 consumer tasks, one Queue of maxsize 2");

        let producers: Vec<_> = ["thread-A", "thread-B"]
            .into_iter()
            .map(|name| {
                let q = q.clone();
                Thread::new(move || {
                    for n in 1..=ITEMS {
                        let item = format!("{name}/{n}");
                        println!("  {name} puts {item}");
                        q.put(item).expect("the queue is open");
                        std::thread::sleep(Duration::from_millis(1)); // producing the next one
                    }
                })
                .name(name)
                .start()
                .expect("the OS refused a thread")
            })
            .collect();

        // A thread waits for the work with the blocking `join()`, then shuts the queue down.
        let waiter = {
            let (q, all_put) = (q.clone(), all_put.clone());
            Thread::new(move || {
                for producer in producers {
                    producer.join().expect("producer panicked");
                }
                println!(
                    "waiter thread: all put, {} unfinished",
                    q.unfinished_tasks()
                );
                all_put.put(());
                q.join();
                println!("waiter thread: q.join() returned; shutting the queue down");
                q.shutdown();
            })
            .name("waiter")
            .start()
            .expect("the OS refused a thread")
        };

        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_time()
            .build()
            .expect("the runtime starts");
        // The consumer tasks run on the runtime's 2 worker threads, not on this one.
        let consumers: Vec<_> = ["task-1", "task-2"]
            .into_iter()
            .map(|name| rt.spawn(consume(name, q.clone())))
            .collect();
        // A task waits for the same work with `join_async().await`.
        let joiner = rt.spawn({
            let q = q.clone();
            async move {
                all_put.get_async().await;
                q.join_async().await;
                println!("joiner task: q.join_async() returned");
            }
        });
        let consumed = rt.block_on(async {
            let mut consumed = Vec::new();
            for consumer in consumers {
                consumed.push(consumer.await.expect("consumer task panicked"));
            }
            joiner.await.expect("joiner task panicked");
            consumed
        });
        waiter.join().expect("waiter panicked");

        let mut total = 0;
        for (name, items) in ["task-1", "task-2"].iter().zip(&consumed) {
            println!("{name} consumed {}: {}", items.len(), items.join(", "));
            total += items.len();
        }
        assert_eq!(total, 2 * ITEMS as usize, "every item exactly once");
        println!("{total} items from 2 threads, consumed by 2 tasks; none lost");
    })
}

/// A consumer task: `get_async` until the queue is shut down, calling `task_done` for each item.
async fn consume(name: &'static str, q: Queue<String>) -> Vec<String> {
    let mut items = Vec::new();
    while let Ok(item) = q.get_async().await {
        println!("    {name} got {item}");
        tokio::time::sleep(Duration::from_millis(3)).await; // async work on the item
        items.push(item);
        q.task_done().expect("one task_done per get");
    }
    items
}
