//! Scenario: asyncio's producer/consumer pattern across weft's crates — a `weft::channel::Queue`
//! (asyncio.Queue) fed by `weft::thread` threads and by `weft::aio` tasks at once, drained by a
//! `TaskGroup` of consumer tasks inside `weft::aio::run`, with `join_async` as the
//! `await queue.join()` and `shutdown` ending the consumers. Every item is consumed exactly once
//! (count and sum) and the group ends without failure. Then a consumer that fails mid-way
//! cancels its siblings, and what is left in the queue is handed back by `shutdown_immediate`:
//! nothing is lost. Last, the same queue under `run_multi_thread`: four producer threads and four
//! consumer tasks on a small bound, `join_async` awaited while the workers run the consumers in
//! parallel; each item is seen exactly once (one counter per item).
#![cfg(all(feature = "aio", feature = "channel", feature = "thread"))]

use std::convert::Infallible;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use weft::aio::{create_task, run, run_multi_thread, timeout, to_thread, TaskFailure, TaskGroup};
use weft::channel::{GetError, Queue};
use weft::thread::{Thread, ThreadHandle};

const PER_PRODUCER: u64 = 2_000;
const LONG: Duration = Duration::from_secs(60);

/// Starts one thread per producer number `p` in `range`, each putting its `PER_PRODUCER` items
/// `p * PER_PRODUCER ..` on `q`.
fn producer_threads(q: &Queue<u64>, range: Range<u64>) -> Vec<ThreadHandle<()>> {
    range
        .map(|p| {
            let q = q.clone();
            Thread::new(move || {
                for i in 0..PER_PRODUCER {
                    q.put(p * PER_PRODUCER + i).unwrap();
                }
            })
            .start()
            .unwrap()
        })
        .collect()
}

#[test]
fn threads_and_tasks_produce_a_task_group_consumes() {
    let q = Queue::bounded(8).unwrap();
    let threads = producer_threads(&q, 0..2);
    let consumed = Arc::new(AtomicU64::new(0));
    let sum = Arc::new(AtomicU64::new(0));
    let (c, s) = (consumed.clone(), sum.clone());
    run(async move {
        // Two async producers on the same queue.
        let producers: Vec<_> = (2..4u64)
            .map(|p| {
                let q = q.clone();
                create_task(async move {
                    for i in 0..PER_PRODUCER {
                        q.put_async(p * PER_PRODUCER + i).await.unwrap();
                    }
                })
            })
            .collect();
        let tg = TaskGroup::<Infallible>::new();
        for _ in 0..3 {
            let (q, c, s) = (q.clone(), c.clone(), s.clone());
            tg.create_task(async move {
                loop {
                    match q.get_async().await {
                        Ok(item) => {
                            s.fetch_add(item, Ordering::Relaxed);
                            c.fetch_add(1, Ordering::Relaxed);
                            q.task_done().unwrap();
                        }
                        Err(GetError) => return Ok(()),
                    }
                }
            })
            .unwrap();
        }
        for p in producers {
            timeout(LONG, p).await.unwrap().unwrap();
        }
        // The producing threads are joined off the loop, so the consumers keep running.
        let joined = to_thread(move || threads.into_iter().all(|t| t.join().is_ok()));
        assert_eq!(timeout(LONG, joined).await, Ok(Ok(true)));
        // Everything is put: `await queue.join()` returns once every item is processed.
        timeout(LONG, q.join_async()).await.unwrap();
        assert_eq!(q.qsize(), 0);
        q.shutdown();
        timeout(LONG, tg.wait()).await.unwrap().unwrap();
    })
    .unwrap();
    let n = 4 * PER_PRODUCER;
    assert_eq!(consumed.load(Ordering::SeqCst), n);
    assert_eq!(sum.load(Ordering::SeqCst), (0..n).sum::<u64>());
}

#[test]
fn a_failing_consumer_cancels_its_siblings_and_the_rest_comes_back() {
    let q = Queue::unbounded();
    for i in 0..100u64 {
        q.put(i).unwrap();
    }
    let processed = Arc::new(AtomicU64::new(0));
    let p = processed.clone();
    let q2 = q.clone();
    let err = run(async move {
        let tg = TaskGroup::<String>::new();
        for _ in 0..3 {
            let (q, p) = (q2.clone(), p.clone());
            tg.create_task(async move {
                loop {
                    let item = q.get_async().await.map_err(|e| e.to_string())?;
                    if item == 10 {
                        return Err(format!("bad item {item}"));
                    }
                    p.fetch_add(1, Ordering::SeqCst);
                    q.task_done().unwrap();
                }
                #[allow(unreachable_code, reason = "gives the loop's task its type")]
                Ok::<(), String>(())
            })
            .unwrap();
        }
        timeout(LONG, tg.wait()).await.unwrap().unwrap_err()
    })
    .unwrap();
    assert_eq!(
        err.errors(),
        [TaskFailure::Failed("bad item 10".to_string())]
    );
    // Item 10 was taken by the failing consumer; the rest is either processed or still queued.
    let left = q.shutdown_immediate();
    assert_eq!(
        processed.load(Ordering::SeqCst) + 1 + left.len() as u64,
        100
    );
    assert!(left.windows(2).all(|w| w[0] < w[1]), "FIFO order kept");
}

#[test]
fn four_threads_feed_four_tasks_on_a_multi_thread_run() {
    const PRODUCERS: u64 = 4;
    let q = Queue::bounded(4).unwrap();
    let n = PRODUCERS * PER_PRODUCER;
    let seen: Arc<Vec<AtomicU64>> = Arc::new((0..n).map(|_| AtomicU64::new(0)).collect());
    let producers = producer_threads(&q, 0..PRODUCERS);
    let s = seen.clone();
    run_multi_thread(async move {
        let tg = TaskGroup::<Infallible>::new();
        for _ in 0..4 {
            let (q, s) = (q.clone(), s.clone());
            tg.create_task(async move {
                while let Ok(item) = q.get_async().await {
                    s[item as usize].fetch_add(1, Ordering::Relaxed);
                    q.task_done().unwrap();
                }
                Ok(())
            })
            .unwrap();
        }
        let joined = to_thread(move || producers.into_iter().all(|t| t.join().is_ok()));
        assert_eq!(timeout(LONG, joined).await, Ok(Ok(true)));
        // Every item put: the join returns once the consumers marked each one done.
        timeout(LONG, q.join_async()).await.unwrap();
        assert_eq!(q.unfinished_tasks(), 0);
        q.shutdown();
        timeout(LONG, tg.wait()).await.unwrap().unwrap();
    })
    .unwrap();
    let wrong: Vec<_> = (0..n as usize)
        .filter(|&i| seen[i].load(Ordering::SeqCst) != 1)
        .take(5)
        .collect();
    assert!(wrong.is_empty(), "items not seen exactly once: {wrong:?}");
}
