//! Scenario: `weft::aio::Task::cancel` storms on the waits of a `weft::channel` queue shared with
//! threads. Producer tasks put every item through a `put_async` in a task of its own and cancel
//! every third of those tasks; meanwhile the main task keeps starting getter tasks and cancels
//! the one that has waited longest (the likeliest to have been woken by a put just before);
//! two threads take items with `get` throughout. Each item must end in exactly one of two ways:
//! put (its put completed) and taken once by a consumer, thread or task; or never put and dropped
//! inside its cancelled `put_async`, as that future's docs say. An item put and then dropped
//! untaken is one a cancelled wait swallowed; consumers mark what they take done, so
//! `join_async` also hangs (and fails after `LONG`) on such an item. Items record their own
//! drops. Each storage is stormed under `run` and under `run_multi_thread`: the bounded ring of
//! `Queue`, the deque of a `Queue` bounded above 65 536, the list of an unbounded one, and the
//! locked stack and heap of `LifoQueue` and `PriorityQueue` (weft-channel's stress tests drop
//! pending futures on a bounded `Queue` alone, and by tokio's timeout; its `async_mixed.rs`
//! checks that dropped futures pass their wake-ups on).
//!
//! Checked by making a dropped `GetFuture` that had been woken take an item and drop it: every
//! case then fails.
#![cfg(all(feature = "aio", feature = "channel"))]

use std::cmp::Ordering as CmpOrdering;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use weft::aio::{create_task, run, run_multi_thread, timeout, yield_now};
use weft::channel::{
    GetError, GetFuture, JoinFuture, LifoQueue, PriorityQueue, PutError, PutFuture, Queue,
};

const LONG: Duration = Duration::from_secs(60);
const PRODUCERS: u64 = 4;
const PER_PRODUCER: u64 = 1_000;
const ITEMS: u64 = PRODUCERS * PER_PRODUCER;
/// Rounds of getter tasks at most (the producers usually finish first).
const MAX_ROUNDS: usize = 4_000;

/// One counter per item.
type Counts = Arc<Vec<AtomicU64>>;

fn counts() -> Counts {
    Arc::new((0..ITEMS).map(|_| AtomicU64::new(0)).collect())
}

/// An item that records its drop unless a consumer took it.
struct Item {
    id: u64,
    taken: bool,
    dropped: Counts,
}

impl Item {
    fn take(mut self, seen: &Counts) {
        self.taken = true;
        seen[self.id as usize].fetch_add(1, Ordering::SeqCst);
    }
}

impl Drop for Item {
    fn drop(&mut self) {
        if !self.taken {
            self.dropped[self.id as usize].fetch_add(1, Ordering::SeqCst);
        }
    }
}

// By id, for the PriorityQueue.
impl PartialEq for Item {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl Eq for Item {}

impl PartialOrd for Item {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}

impl Ord for Item {
    fn cmp(&self, other: &Self) -> CmpOrdering {
        self.id.cmp(&other.id)
    }
}

/// The queue types under test, behind the operations the storm uses.
trait StormQueue: Clone + Send + Sync + 'static {
    fn put_async(&self, item: Item) -> PutFuture<'_, Item>;
    fn get_async(&self) -> GetFuture<'_, Item>;
    fn get(&self) -> Result<Item, GetError>;
    fn task_done(&self);
    fn join_async(&self) -> JoinFuture<'_, Item>;
    fn shutdown(&self);
}

macro_rules! storm_queue {
    ($ty:ident) => {
        impl StormQueue for $ty<Item> {
            fn put_async(&self, item: Item) -> PutFuture<'_, Item> {
                $ty::put_async(self, item)
            }
            fn get_async(&self) -> GetFuture<'_, Item> {
                $ty::get_async(self)
            }
            fn get(&self) -> Result<Item, GetError> {
                $ty::get(self)
            }
            fn task_done(&self) {
                $ty::task_done(self).unwrap()
            }
            fn join_async(&self) -> JoinFuture<'_, Item> {
                $ty::join_async(self)
            }
            fn shutdown(&self) {
                $ty::shutdown(self)
            }
        }
    };
}

storm_queue!(Queue);
storm_queue!(LifoQueue);
storm_queue!(PriorityQueue);

/// The tasks' part: producers whose put tasks are cancelled now and then, getter tasks cancelled
/// as they wait; then the join and the shutdown that ends the consumers. Counts each item put
/// in `put_done`, taken in `seen`, dropped untaken in `dropped`.
async fn storm<Q: StormQueue>(q: Q, seen: Counts, dropped: Counts, put_done: Counts) {
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let (q, dropped, put_done) = (q.clone(), dropped.clone(), put_done.clone());
            create_task(async move {
                let mut puts = Vec::new();
                for i in 0..PER_PRODUCER {
                    let id = p * PER_PRODUCER + i;
                    let item = Item {
                        id,
                        taken: false,
                        dropped: dropped.clone(),
                    };
                    let (q, put_done) = (q.clone(), put_done.clone());
                    let put = create_task(async move {
                        match q.put_async(item).await {
                            // Counted in the poll that completes the put: a cancel can no
                            // longer come between the two.
                            Ok(()) => {
                                put_done[id as usize].fetch_add(1, Ordering::SeqCst);
                            }
                            Err(PutError(_)) => panic!("the queue is shut down only at the end"),
                        }
                    });
                    if i % 3 == 0 {
                        // Let it start waiting (or finish), then cancel it.
                        yield_now().await;
                        put.cancel();
                    }
                    puts.push(put);
                    if puts.len() > 8 {
                        let _ = timeout(LONG, puts.remove(0)).await.unwrap();
                    }
                }
                for put in puts {
                    // A cancelled put ends `Cancelled`, one that beat its cancel `Ok`.
                    let _ = timeout(LONG, put).await.unwrap();
                }
            })
        })
        .collect();
    // Getter tasks while the producers run, two at a time; the one that has waited longest (at
    // the head of the waiters, so the likeliest to have been woken by a put meanwhile) is then
    // cancelled, the other one left waiting.
    let mut waiting = std::collections::VecDeque::new();
    let mut getters = Vec::new();
    let mut rounds = 0;
    while !producers.iter().all(|p| p.done()) && rounds < MAX_ROUNDS {
        for _ in 0..2 {
            let (q, seen) = (q.clone(), seen.clone());
            waiting.push_back(create_task(async move {
                if let Ok(item) = q.get_async().await {
                    item.take(&seen);
                    q.task_done();
                }
            }));
        }
        yield_now().await;
        if let Some(oldest) = waiting.pop_front() {
            oldest.cancel();
            getters.push(oldest);
        }
        rounds += 1;
    }
    getters.extend(waiting);
    for p in producers {
        timeout(LONG, p).await.unwrap().unwrap();
    }
    // Every put has ended. Each item put is marked done by the consumer that takes it, so the
    // join waits for ever on one that a cancelled get swallowed; then the shutdown ends the
    // consumers.
    timeout(LONG, q.join_async()).await.unwrap();
    q.shutdown();
    for getter in getters {
        let _ = timeout(LONG, getter).await.unwrap();
    }
}

fn storm_on<Q: StormQueue>(make: impl Fn() -> Q) {
    for multi_thread in [false, true] {
        let q = make();
        let (seen, dropped, put_done) = (counts(), counts(), counts());
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let (q, seen) = (q.clone(), seen.clone());
                std::thread::spawn(move || {
                    while let Ok(item) = q.get() {
                        item.take(&seen);
                        q.task_done();
                    }
                })
            })
            .collect();
        let tasks = storm(q, seen.clone(), dropped.clone(), put_done.clone());
        if multi_thread {
            run_multi_thread(tasks).unwrap();
        } else {
            run(tasks).unwrap();
        }
        for t in threads {
            t.join().unwrap();
        }
        let load = |c: &Counts, i: usize| c[i].load(Ordering::SeqCst);
        let wrong: Vec<_> = (0..ITEMS as usize)
            .map(|i| (i, load(&put_done, i), load(&seen, i), load(&dropped, i)))
            // Put and taken once, or never put and dropped once (inside its cancelled put).
            .filter(|&(_, p, s, d)| (p, s, d) != (1, 1, 0) && (p, s, d) != (0, 0, 1))
            .take(5)
            .collect();
        assert!(
            wrong.is_empty(),
            "multi-thread {multi_thread}: (item, put, taken, dropped) {wrong:?}"
        );
    }
}

#[test]
fn cancelled_waits_on_a_bounded_queue_lose_and_double_nothing() {
    storm_on(|| Queue::bounded(2).unwrap());
}

#[test]
fn cancelled_waits_on_a_large_bounded_queue_lose_and_double_nothing() {
    // Above 65 536 the storage is a deque under a mutex; never full here, so only gets wait.
    storm_on(|| Queue::bounded(100_000).unwrap());
}

#[test]
fn cancelled_waits_on_an_unbounded_queue_lose_and_double_nothing() {
    // The list of blocks: never full, so only gets wait.
    storm_on(Queue::unbounded);
}

#[test]
fn cancelled_waits_on_a_lifo_queue_lose_and_double_nothing() {
    storm_on(|| LifoQueue::new(2));
}

#[test]
fn cancelled_waits_on_a_priority_queue_lose_and_double_nothing() {
    storm_on(|| PriorityQueue::new(2));
}
