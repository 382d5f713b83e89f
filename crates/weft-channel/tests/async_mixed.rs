//! Behaviour tests for the async side of the queues (`put_async`, `get_async`, `join_async`) on
//! tokio, alone and mixed with threads on the same queue: tasks on current-thread and multi-thread
//! runtimes pass items and wait for `task_done`; a thread blocked in `get`/`put` is woken by a
//! task's `put_async`/`get_async` and a task awaiting `get_async`/`put_async` by a thread's
//! `put`/`get`; dropping a pending future (never woken, or woken and then dropped, by hand or by
//! `tokio::time::timeout`) loses no item and no wake-up; shutdown wakes pending async getters and
//! putters with errors; `join_async` returns after `task_done` calls from threads; a waker that
//! uses the same queue when it is cloned or dropped (replaced by the next poll's) does not
//! deadlock the future that holds it.
//!
//! These are not CPython `test_queue.py` cases (`asyncio.Queue` has its own suite,
//! `test_asyncio/test_queues.py`; `test_get_cancelled_race` and `test_put_cancelled_race` there
//! are the models for the dropped-future tests).
//!
//! No test sleeps to synchronize: a future is known to be waiting once it returned `Pending`
//! (`report_pending`, or polling it by hand), a thread once it is asleep in the kernel
//! (`spawn_blocked`); every wait for another thread or task gives up after `LONG`, and every task
//! a test starts is awaited before it returns.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use weft_channel::{GetError, LifoQueue, PriorityQueue, PutError, Queue, SimpleQueue, TryGetError};

mod common;
use common::*;

#[derive(Clone, Copy, Debug)]
enum Flavor {
    Current,
    Multi,
}

fn runtime(flavor: Flavor) -> tokio::runtime::Runtime {
    match flavor {
        Flavor::Current => current_rt(),
        Flavor::Multi => multi_rt(2),
    }
}

/// Runs `fut` as a spawned task on a fresh `flavor` runtime, driven by a helper thread. Returns
/// the task's result and a receiver that hears when the task first returned `Pending`.
fn start_task<T: Send + 'static>(
    flavor: Flavor,
    fut: impl Future<Output = T> + Send + 'static,
) -> (Receiver<T>, Receiver<()>) {
    let (fut, pending) = report_pending(fut);
    let done = spawn(move || {
        runtime(flavor).block_on(async move { within_async(tokio::spawn(fut)).await.unwrap() })
    });
    (done, pending)
}

/// Producer, consumer and joiner tasks on one runtime pass 200 items through a bounded queue;
/// `join_async` returns once the consumer marked them all done; shutdown ends the consumer.
fn tasks_pass_items<Q: TaskQueue<i64>>(flavor: Flavor) {
    let q = Q::bounded(4).unwrap();
    runtime(flavor).block_on(within_async(async move {
        let producer = {
            let q = q.clone();
            tokio::spawn(async move {
                for i in 0..200 {
                    q.put_async(i).await.unwrap();
                }
            })
        };
        let consumer = {
            let q = q.clone();
            tokio::spawn(async move {
                let mut got = Vec::new();
                while let Ok(x) = q.get_async().await {
                    got.push(x);
                    q.task_done().unwrap();
                }
                got
            })
        };
        producer.await.unwrap();
        q.join_async().await;
        assert_eq!(q.unfinished_tasks(), 0);
        q.shutdown();
        let mut got = consumer.await.unwrap();
        if Q::KIND == Kind::Fifo {
            assert_eq!(
                got,
                (0..200).collect::<Vec<_>>(),
                "one producer: FIFO order"
            );
        }
        got.sort();
        assert_eq!(got, (0..200).collect::<Vec<_>>());
        assert_eq!(q.get_async().await, Err(GetError));
        assert_eq!(q.put_async(1).await, Err(PutError(1)));
    }));
}

#[test]
fn tasks_pass_items_current_thread() {
    tasks_pass_items::<Queue<i64>>(Flavor::Current);
    tasks_pass_items::<LifoQueue<i64>>(Flavor::Current);
    tasks_pass_items::<PriorityQueue<i64>>(Flavor::Current);
}

#[test]
fn tasks_pass_items_multi_thread() {
    tasks_pass_items::<Queue<i64>>(Flavor::Multi);
    tasks_pass_items::<LifoQueue<i64>>(Flavor::Multi);
    tasks_pass_items::<PriorityQueue<i64>>(Flavor::Multi);
}

/// Items already there: the async forms complete on their first poll, in the variant's order.
fn ready_futures_complete_at_once<Q: TaskQueue<i64>>() {
    let q = Q::bounded(3).unwrap();
    let waker = CountingWaker::new();
    for x in [2, 3, 1] {
        assert_eq!(poll_once(&mut q.put_async(x), &waker), Poll::Ready(Ok(())));
    }
    assert!(poll_once(&mut q.put_async(9), &waker).is_pending());
    assert_eq!(q.qsize(), 3, "the dropped put left nothing behind");
    let got: Vec<i64> = (0..3)
        .map(|_| match poll_once(&mut q.get_async(), &waker) {
            Poll::Ready(r) => r.unwrap(),
            Poll::Pending => panic!("an item was there"),
        })
        .collect();
    assert_eq!(got, expected(Q::KIND, &[2, 3, 1]));
    assert!(poll_once(&mut q.join_async(), &waker).is_pending());
    for _ in 0..3 {
        q.task_done().unwrap();
    }
    assert_eq!(poll_once(&mut q.join_async(), &waker), Poll::Ready(()));
    assert_eq!(waker.count(), 0, "no one was woken");
}

#[test]
fn ready_futures_complete_on_first_poll() {
    ready_futures_complete_at_once::<Queue<i64>>();
    ready_futures_complete_at_once::<LifoQueue<i64>>();
    ready_futures_complete_at_once::<PriorityQueue<i64>>();
}

/// A thread blocked in `get` is woken by a task's `put_async`.
fn thread_get_woken_by_task_put<Q: TaskQueue<i64>>(flavor: Flavor) {
    let q = Q::bounded(2).unwrap();
    let q2 = q.clone();
    let getter = spawn_blocked(move || q2.get());
    assert_pending(&getter);
    let q2 = q.clone();
    let (done, _) = start_task(flavor, async move { q2.put_async(5).await });
    assert_eq!(recv(&done), Ok(()));
    assert_eq!(recv(&getter), Ok(5));
    assert!(q.empty());
}

/// A task awaiting `get_async` is woken by a thread's `put`.
fn task_get_woken_by_thread_put<Q: TaskQueue<i64>>(flavor: Flavor) {
    let q = Q::bounded(2).unwrap();
    let q2 = q.clone();
    let (done, pending) = start_task(flavor, async move { q2.get_async().await });
    recv(&pending);
    assert_pending(&done);
    q.put(7).unwrap();
    assert_eq!(recv(&done), Ok(7));
    assert!(q.empty());
}

/// A bounded queue is full: a task awaiting `put_async` is woken by a thread's `get`.
fn task_put_woken_by_thread_get<Q: TaskQueue<i64>>(flavor: Flavor) {
    let q = Q::bounded(1).unwrap();
    q.put(1).unwrap();
    let q2 = q.clone();
    let (done, pending) = start_task(flavor, async move { q2.put_async(2).await });
    recv(&pending);
    assert_pending(&done);
    assert_eq!(q.get(), Ok(1));
    assert_eq!(recv(&done), Ok(()));
    assert_eq!(q.get_timeout(LONG), Ok(2));
    assert_eq!(q.unfinished_tasks(), 2);
}

/// A full queue: a thread blocked in `put` is woken by a task's `get_async`.
fn thread_put_woken_by_task_get<Q: TaskQueue<i64>>(flavor: Flavor) {
    let q = Q::bounded(1).unwrap();
    q.put(1).unwrap();
    let q2 = q.clone();
    let putter = spawn_blocked(move || q2.put(2));
    assert_pending(&putter);
    let q2 = q.clone();
    let (done, _) = start_task(flavor, async move { q2.get_async().await });
    assert_eq!(recv(&done), Ok(1));
    assert_eq!(recv(&putter), Ok(()));
    assert_eq!(q.try_get(), Ok(2));
}

fn threads_and_tasks_wake_each_other<Q: TaskQueue<i64>>(flavor: Flavor) {
    thread_get_woken_by_task_put::<Q>(flavor);
    task_get_woken_by_thread_put::<Q>(flavor);
    task_put_woken_by_thread_get::<Q>(flavor);
    thread_put_woken_by_task_get::<Q>(flavor);
}

#[test]
fn threads_and_tasks_wake_each_other_current_thread() {
    threads_and_tasks_wake_each_other::<Queue<i64>>(Flavor::Current);
    threads_and_tasks_wake_each_other::<LifoQueue<i64>>(Flavor::Current);
    threads_and_tasks_wake_each_other::<PriorityQueue<i64>>(Flavor::Current);
}

#[test]
fn threads_and_tasks_wake_each_other_multi_thread() {
    threads_and_tasks_wake_each_other::<Queue<i64>>(Flavor::Multi);
    threads_and_tasks_wake_each_other::<LifoQueue<i64>>(Flavor::Multi);
    threads_and_tasks_wake_each_other::<PriorityQueue<i64>>(Flavor::Multi);
}

#[test]
fn simple_queue_get_async_woken_by_thread_put() {
    for flavor in [Flavor::Current, Flavor::Multi] {
        let q = SimpleQueue::new();
        let q2 = q.clone();
        let (done, pending) = start_task(flavor, async move { q2.get_async().await });
        recv(&pending);
        assert_pending(&done);
        q.put("x");
        assert_eq!(recv(&done), "x");
        // And an item already there is taken at once.
        q.put("y");
        let rt = runtime(flavor);
        assert_eq!(rt.block_on(within_async(q.get_async())), "y");
    }
}

/// A future polled with one waker and then with another (a task that moved) is woken through
/// the newer one.
#[test]
fn get_async_wakes_the_latest_waker() {
    let q = Queue::unbounded();
    let mut fut = q.get_async();
    let first = CountingWaker::new();
    assert!(poll_once(&mut fut, &first).is_pending());
    let (fut, pending) = report_pending(fut);
    // A scoped thread: the future borrows the queue. `within_async` bounds the wait.
    let got = std::thread::scope(|s| {
        let done = s.spawn(move || current_rt().block_on(within_async(fut)));
        recv(&pending);
        q.put(3).unwrap();
        done.join().unwrap()
    });
    assert_eq!(got, Ok(3));
    assert_eq!(first.count(), 0, "the stale waker was woken instead");
}

/// Dropping a `get_async` future that was waiting (never woken) takes nothing: the next item
/// reaches a later get, or a thread that waited behind the dropped future.
#[test]
fn dropping_pending_get_async_loses_nothing() {
    let q = Queue::unbounded();
    let waker = CountingWaker::new();
    let mut fut = q.get_async();
    assert!(poll_once(&mut fut, &waker).is_pending());
    drop(fut);
    q.put(1).unwrap();
    assert_eq!(q.try_get(), Ok(1));
    assert_eq!(waker.count(), 0, "a dropped future was woken");

    // Registered ahead of a blocked thread, then dropped: the put goes to the thread.
    let mut fut = q.get_async();
    assert!(poll_once(&mut fut, &waker).is_pending());
    let q2 = q.clone();
    let getter = spawn_blocked(move || q2.get());
    assert_pending(&getter);
    drop(fut);
    q.put(2).unwrap();
    assert_eq!(recv(&getter), Ok(2));
    assert!(q.empty());
}

/// Two futures wait; the put wakes the first, which is dropped without being polled again: its
/// wake-up passes to the second, which gets the item (asyncio's `test_get_cancelled_race`).
#[test]
fn woken_then_dropped_get_async_passes_the_item_on() {
    let q = Queue::unbounded();
    let (wa, wb) = (CountingWaker::new(), CountingWaker::new());
    let mut a = q.get_async();
    let mut b = q.get_async();
    assert!(poll_once(&mut a, &wa).is_pending());
    assert!(poll_once(&mut b, &wb).is_pending());
    q.put(1).unwrap();
    assert_eq!(wa.count(), 1, "the longest waiter is woken");
    assert_eq!(wb.count(), 0, "only one waiter per item");
    drop(a);
    assert_eq!(wb.count(), 1, "the dropped waiter's wake-up was lost");
    assert_eq!(poll_once(&mut b, &wb), Poll::Ready(Ok(1)));

    // The same with a thread behind the dropped future.
    let mut a = q.get_async();
    assert!(poll_once(&mut a, &wa).is_pending());
    let q2 = q.clone();
    let getter = spawn_blocked(move || q2.get());
    assert_pending(&getter);
    q.put(2).unwrap();
    assert_eq!(wa.count(), 2);
    assert_pending(&getter);
    drop(a);
    assert_eq!(recv(&getter), Ok(2));
}

/// The same for a `SimpleQueue`, whose `get_async` future (`SimpleGetFuture`, output `T`) wraps
/// the queue's: woken and dropped unpolled, it passes the wake-up on, to a future or a thread;
/// dropped while merely waiting, it takes nothing.
#[test]
fn simple_queue_dropped_get_async_passes_the_item_on() {
    let q = SimpleQueue::new();
    let (wa, wb) = (CountingWaker::new(), CountingWaker::new());
    let mut a = q.get_async();
    let mut b = q.get_async();
    assert!(poll_once(&mut a, &wa).is_pending());
    assert!(poll_once(&mut b, &wb).is_pending());
    q.put(1);
    assert_eq!((wa.count(), wb.count()), (1, 0));
    drop(a);
    assert_eq!(wb.count(), 1, "the dropped waiter's wake-up was lost");
    assert_eq!(poll_once(&mut b, &wb), Poll::Ready(1));

    let mut a = q.get_async();
    assert!(poll_once(&mut a, &wa).is_pending());
    let q2 = q.clone();
    let getter = spawn_blocked(move || q2.get());
    assert_pending(&getter);
    q.put(2);
    assert_pending(&getter);
    drop(a);
    assert_eq!(recv(&getter), 2);

    let mut a = q.get_async();
    assert!(poll_once(&mut a, &wa).is_pending());
    drop(a);
    q.put(3);
    assert_eq!(q.try_get(), Ok(3));
}

/// A future woken for an item that then takes it has used its wake-up: the next waiter is not
/// woken (there is nothing for it) and keeps its place in line, so the next put goes to it and
/// not to a thread that started waiting later ("a `put` wakes whichever getter waited longest,
/// thread or task", `Queue`'s docs).
#[test]
fn woken_get_async_that_takes_its_item_does_not_wake_the_next_waiter() {
    let q = Queue::unbounded();
    let (wa, wb) = (CountingWaker::new(), CountingWaker::new());
    let mut a = q.get_async();
    let mut b = q.get_async();
    assert!(poll_once(&mut a, &wa).is_pending());
    assert!(poll_once(&mut b, &wb).is_pending());
    q.put(1).unwrap();
    assert_eq!((wa.count(), wb.count()), (1, 0));
    assert_eq!(poll_once(&mut a, &wa), Poll::Ready(Ok(1)));
    assert_eq!(
        wb.count(),
        0,
        "B was woken although the only item went to A, which had been woken for it"
    );
    // A thread starts waiting after B.
    let q2 = q.clone();
    let getter = spawn_blocked(move || q2.get());
    assert_pending(&getter);
    q.put(2).unwrap();
    assert_eq!(wb.count(), 1, "the put did not wake B, the longest waiter");
    assert_eq!(poll_once(&mut b, &wb), Poll::Ready(Ok(2)));
    assert_pending(&getter);
    q.put(3).unwrap();
    assert_eq!(recv(&getter), Ok(3));
}

/// The same race through `tokio::time::timeout`, as it happens in real code: task A waits with a
/// 1 ms timeout, task B without; this thread puts one item at a moment swept across A's deadline
/// (0 to 3 ms after A started waiting: a busy wait that only varies the interleaving, the
/// assertions hold for any). Whoever wins, the item is taken exactly once, and if A timed out
/// (possibly after being woken for the item) B gets it.
#[test]
fn timed_out_get_async_never_swallows_an_item() {
    const ROUNDS: u32 = 150;
    let rt = multi_rt(2);
    let (mut a_won, mut b_won) = (0, 0);
    for i in 0..ROUNDS {
        let q = Queue::unbounded();
        let (qa, qb) = (q.clone(), q.clone());
        // A waits first, so the put wakes A unless A's timeout already dropped it.
        let (a_fut, a_pending) = report_pending(async move {
            tokio::time::timeout(Duration::from_millis(1), qa.get_async()).await
        });
        let a = rt.spawn(a_fut);
        recv(&a_pending);
        let (b_fut, b_pending) = report_pending(async move { qb.get_async().await });
        let b = rt.spawn(b_fut);
        recv(&b_pending);
        let put_at = std::time::Instant::now() + Duration::from_micros(u64::from(i) * 20);
        while std::time::Instant::now() < put_at {
            std::hint::spin_loop();
        }
        q.put(i).unwrap();
        match rt.block_on(within_async(a)).unwrap() {
            Ok(got) => {
                assert_eq!(got, Ok(i));
                a_won += 1;
                q.shutdown();
                assert_eq!(rt.block_on(within_async(b)).unwrap(), Err(GetError));
            }
            Err(_elapsed) => {
                b_won += 1;
                assert_eq!(rt.block_on(within_async(b)).unwrap(), Ok(i));
            }
        }
        assert!(q.empty());
    }
    assert_eq!(a_won + b_won, ROUNDS);
}

/// Dropping a pending `put_async` drops its item (never put) and leaves the queue as it was;
/// a putter that waited behind a woken-then-dropped one gets the room.
#[test]
fn dropping_pending_put_async_leaves_the_queue_consistent() {
    let q = Queue::bounded(1).unwrap();
    q.put(Arc::new(0)).unwrap();
    let item = Arc::new(1);
    let waker = CountingWaker::new();
    let mut fut = q.put_async(Arc::clone(&item));
    assert!(poll_once(&mut fut, &waker).is_pending());
    drop(fut);
    assert_eq!(
        Arc::strong_count(&item),
        1,
        "the dropped future dropped its item"
    );
    assert_eq!(q.qsize(), 1);
    assert_eq!(q.unfinished_tasks(), 1, "the item was never counted");
    assert_eq!(*q.get().unwrap(), 0);
    assert!(q.empty());
    q.put(Arc::new(2)).unwrap();
    assert_eq!(*q.get().unwrap(), 2);

    // Woken (a get made room), then dropped: the room goes to a thread blocked behind it.
    q.put(Arc::new(3)).unwrap();
    let mut a = q.put_async(Arc::new(4));
    assert!(poll_once(&mut a, &waker).is_pending());
    let q2 = q.clone();
    let putter = spawn_blocked(move || q2.put(Arc::new(5)).map_err(|e| *e.into_inner()));
    assert_pending(&putter);
    assert_eq!(*q.get().unwrap(), 3);
    assert_eq!(waker.count(), 1, "the longest waiting putter is woken");
    drop(a);
    assert_eq!(recv(&putter), Ok(()));
    assert_eq!(*q.get().unwrap(), 5);
    assert!(q.empty());
    assert_eq!(q.unfinished_tasks(), 4, "0, 2, 3 and 5; never 1 or 4");
}

/// `PutFuture::into_inner` gives back the item of a put that found no room, and passes on the
/// room it was woken for, as dropping the future does; after the put, it gives nothing.
#[test]
fn into_inner_gives_back_an_item_that_was_not_put() {
    let q = Queue::bounded(1).unwrap();
    q.put(Arc::new(0)).unwrap();
    let waker = CountingWaker::new();
    let item = Arc::new(1);
    let mut fut = q.put_async(Arc::clone(&item));
    assert!(poll_once(&mut fut, &waker).is_pending());
    let back = fut.into_inner().expect("the item was not put");
    assert!(Arc::ptr_eq(&back, &item));
    assert_eq!(q.qsize(), 1);
    assert_eq!(q.unfinished_tasks(), 1, "the item was never counted");

    // Woken (a get made room), then reclaimed: the room goes to a thread blocked behind it.
    let mut a = q.put_async(Arc::new(4));
    assert!(poll_once(&mut a, &waker).is_pending());
    let q2 = q.clone();
    let putter = spawn_blocked(move || q2.put(Arc::new(5)).map_err(|e| *e.into_inner()));
    assert_pending(&putter);
    assert_eq!(*q.get().unwrap(), 0);
    assert_eq!(waker.count(), 1, "the longest waiting putter is woken");
    assert_eq!(a.into_inner().map(|i| *i), Some(4));
    assert_eq!(recv(&putter), Ok(()));
    assert_eq!(*q.get().unwrap(), 5);

    // Completed: the item is in the queue, or came back in the error.
    let mut put = q.put_async(Arc::new(6));
    assert_eq!(poll_once(&mut put, &waker), Poll::Ready(Ok(())));
    assert!(put.into_inner().is_none());
    assert_eq!(*q.get().unwrap(), 6);
    q.shutdown();
    let mut refused = q.put_async(Arc::new(7));
    match poll_once(&mut refused, &waker) {
        Poll::Ready(Err(PutError(i))) => assert_eq!(*i, 7),
        other => panic!("expected the item back in PutError, got {other:?}"),
    }
    assert!(refused.into_inner().is_none());
}

/// A `put_async` polled again after it completed (by a `select!` loop without a guard, say)
/// stays pending and does not wait as a putter: the room a get makes goes to the putter that
/// is waiting. It used to wait again, first in line, and take that wake-up (20 of 20, from the
/// audit). So for one refused at shutdown, and for a `get_async`, which used to take another
/// item.
#[test]
fn futures_polled_again_after_completing_stay_pending_and_take_nothing() {
    let q = Queue::bounded(1).unwrap();
    let waker = CountingWaker::new();
    let mut done = q.put_async(1);
    assert_eq!(poll_once(&mut done, &waker), Poll::Ready(Ok(())));
    assert!(poll_once(&mut done, &waker).is_pending());
    let live_waker = CountingWaker::new();
    let mut live = q.put_async(2);
    assert!(poll_once(&mut live, &live_waker).is_pending());
    assert_eq!(q.get(), Ok(1));
    assert_eq!(live_waker.count(), 1, "the waiting putter was not woken");
    assert_eq!(waker.count(), 0);
    assert_eq!(poll_once(&mut live, &live_waker), Poll::Ready(Ok(())));

    let mut get = q.get_async();
    assert_eq!(poll_once(&mut get, &waker), Poll::Ready(Ok(2)));
    q.put(3).unwrap();
    assert!(poll_once(&mut get, &waker).is_pending());
    assert_eq!(q.qsize(), 1, "a completed get took another item");

    q.shutdown();
    let mut refused = q.put_async(4);
    assert!(matches!(
        poll_once(&mut refused, &waker),
        Poll::Ready(Err(PutError(4)))
    ));
    assert!(poll_once(&mut refused, &waker).is_pending());
    assert_eq!(q.get(), Ok(3));
    assert_eq!(q.get(), Err(GetError));
}

/// Shutdown wakes pending async getters (empty queue) and putters (full queue) with errors; the
/// putters get their items back.
fn shutdown_wakes_pending_futures(flavor: Flavor, immediate: bool) {
    let empty = Queue::<i64>::unbounded();
    let full = Queue::bounded(1).unwrap();
    full.put(0).unwrap();
    let mut getters = Vec::new();
    let mut putters = Vec::new();
    for i in 1..=2 {
        let q = empty.clone();
        let (done, pending) = start_task(flavor, async move { q.get_async().await });
        recv(&pending);
        getters.push(done);
        let q = full.clone();
        let (done, pending) = start_task(flavor, async move { q.put_async(i).await });
        recv(&pending);
        putters.push((i, done));
    }
    for g in &getters {
        assert_pending(g);
    }
    if immediate {
        assert!(empty.shutdown_immediate().is_empty());
        assert_eq!(full.shutdown_immediate(), [0]);
    } else {
        empty.shutdown();
        full.shutdown();
    }
    for g in &getters {
        assert_eq!(recv(g), Err(GetError));
    }
    for (i, p) in &putters {
        assert_eq!(recv(p), Err(PutError(*i)));
    }
    if !immediate {
        assert_eq!(full.try_get(), Ok(0));
    }
    assert_eq!(full.try_get(), Err(TryGetError::ShutDown));
}

#[test]
fn shutdown_wakes_pending_async_getters_and_putters() {
    for flavor in [Flavor::Current, Flavor::Multi] {
        shutdown_wakes_pending_futures(flavor, false);
        shutdown_wakes_pending_futures(flavor, true);
    }
}

/// `join_async` returns once threads called `task_done` for every item (and not before); a
/// dropped pending `join_async` changes nothing.
fn join_async_after_task_done_from_threads(flavor: Flavor) {
    let q = Queue::unbounded();
    for i in 0..3 {
        q.put(i).unwrap();
    }
    let waker = CountingWaker::new();
    let mut dropped = q.join_async();
    assert!(poll_once(&mut dropped, &waker).is_pending());
    let q2 = q.clone();
    let (joined, pending) = start_task(flavor, async move { q2.join_async().await });
    recv(&pending);
    drop(dropped);
    let workers: Vec<_> = (0..3)
        .map(|_| {
            let q = q.clone();
            spawn(move || {
                let item = q.get_timeout(LONG).unwrap();
                (q, item)
            })
        })
        .collect();
    let workers: Vec<_> = workers.iter().map(recv).collect();
    for (q, _) in &workers[..2] {
        q.task_done().unwrap();
    }
    assert_pending(&joined);
    let (q3, _) = &workers[2];
    let q3 = q3.clone();
    within(move || q3.task_done().unwrap());
    recv(&joined);
    assert_eq!(q.unfinished_tasks(), 0);
}

#[test]
fn join_async_returns_after_task_done_from_threads() {
    join_async_after_task_done_from_threads(Flavor::Current);
    join_async_after_task_done_from_threads(Flavor::Multi);
}

/// `join_async` also returns when `shutdown_immediate` discards the last unfinished items, and
/// many pending joiners (tasks and a thread) all return.
#[test]
fn join_async_released_by_shutdown_immediate() {
    let q = Queue::unbounded();
    q.put(1).unwrap();
    q.put(2).unwrap();
    let rt = multi_rt(2);
    let joiners: Vec<_> = (0..4)
        .map(|_| {
            let q = q.clone();
            let (fut, pending) = report_pending(async move { q.join_async().await });
            let handle = rt.spawn(fut);
            recv(&pending);
            handle
        })
        .collect();
    let q2 = q.clone();
    let thread_joiner = spawn_blocked(move || q2.join_timeout(LONG));
    assert_pending(&thread_joiner);
    assert_eq!(q.shutdown_immediate(), [1, 2]);
    rt.block_on(within_async(async {
        for j in joiners {
            j.await.unwrap();
        }
    }));
    assert!(recv(&thread_joiner));
}

/// A pending `join_async` woken by the last `task_done` checks the count again when polled, as
/// `queue.Queue.join` does: an item put in between is waited for too (`asyncio.Queue.join`, whose
/// event stays set for the waiters it woke, would return).
#[test]
fn join_async_woken_then_put_again_waits_for_the_new_item() {
    let q = Queue::unbounded();
    q.put(1).unwrap();
    let mut join = q.join_async();
    let waker = CountingWaker::new();
    assert!(poll_once(&mut join, &waker).is_pending());
    assert_eq!(q.get(), Ok(1));
    q.task_done().unwrap();
    assert_eq!(waker.count(), 1);
    q.put(2).unwrap();
    assert!(poll_once(&mut join, &waker).is_pending());
    assert_eq!(q.get(), Ok(2));
    q.task_done().unwrap();
    assert_eq!(waker.count(), 2);
    assert!(poll_once(&mut join, &waker).is_ready());
}

/// Threads and tasks on a multi-thread runtime produce and consume on one bounded queue at once;
/// every item arrives exactly once and `join_async` and `join` both return.
#[test]
fn threads_and_tasks_share_one_queue() {
    const PER: i64 = 2_000;
    let q = Queue::bounded(2).unwrap();
    let rt = multi_rt(2);
    let sum = Arc::new(AtomicUsize::new(0));
    let task_producer = {
        let q = q.clone();
        rt.spawn(async move {
            for i in 0..PER {
                q.put_async(i).await.unwrap();
            }
        })
    };
    let task_consumer = {
        let (q, sum) = (q.clone(), Arc::clone(&sum));
        rt.spawn(async move {
            let mut n = 0;
            while let Ok(x) = q.get_async().await {
                sum.fetch_add(x as usize, Ordering::SeqCst);
                q.task_done().unwrap();
                n += 1;
            }
            n
        })
    };
    let thread_producer = {
        let q = q.clone();
        spawn(move || {
            for i in PER..2 * PER {
                q.put(i).unwrap();
            }
        })
    };
    let thread_consumer = {
        let (q, sum) = (q.clone(), Arc::clone(&sum));
        spawn(move || {
            let mut n = 0;
            for x in q.iter() {
                sum.fetch_add(x as usize, Ordering::SeqCst);
                q.task_done().unwrap();
                n += 1;
            }
            n
        })
    };
    recv(&thread_producer);
    rt.block_on(within_async(async {
        task_producer.await.unwrap();
        q.join_async().await;
    }));
    assert!(q.join_timeout(LONG));
    q.shutdown();
    let n_task = rt.block_on(within_async(task_consumer)).unwrap();
    let n_thread = recv(&thread_consumer);
    assert_eq!(n_task + n_thread, 2 * PER as usize);
    assert_eq!(
        sum.load(Ordering::SeqCst),
        (0..2 * PER as usize).sum::<usize>()
    );
}

/// A waker that panics when woken: user code inside a `put`.
struct PanickingWaker;

impl std::task::Wake for PanickingWaker {
    fn wake(self: Arc<Self>) {
        panic!("this waker panics");
    }
}

/// A put whose wake-up of a getter panics still ends its bookkeeping: the panic reaches the
/// putter, the item is in the queue, and after a shutdown a `try_get` answers at once instead of
/// waiting for a put that never ends.
#[test]
fn panicking_waker_does_not_leave_a_put_in_progress() {
    use std::task::{Context, Waker};

    let q = Queue::<u32>::unbounded();
    let waker = Waker::from(Arc::new(PanickingWaker));
    let mut cx = Context::from_waker(&waker);
    // A pending getter whose waker panics; leaked, so that it stays registered.
    let fut = Box::leak(Box::new(q.get_async()));
    assert!(std::pin::Pin::new(fut).poll(&mut cx).is_pending());

    let putter = {
        let q = q.clone();
        std::thread::spawn(move || q.put(1))
    };
    assert!(
        putter.join().is_err(),
        "the waker's panic reaches the putter"
    );
    q.shutdown();
    assert_eq!(q.try_get(), Ok(1));
    let answer = {
        let q = q.clone();
        common::spawn(move || q.try_get())
    };
    assert_eq!(common::recv(&answer), Err(TryGetError::ShutDown));
}

/// A `put_async` out of which a getter's waker panicked (its item put) leaves the list of
/// waiting putters at once, even if it is kept and never polled again: the room a get makes
/// then goes to a putter that waits. It stayed in the list and took that wake-up (the review).
#[test]
fn a_put_async_that_a_panicking_waker_ended_stops_waiting() {
    use std::task::{Context, Waker};

    let q = Queue::<u32>::bounded(1).unwrap();
    q.put(0).unwrap();
    let (w1, w2) = (CountingWaker::new(), CountingWaker::new());
    let mut p1 = q.put_async(1);
    assert!(poll_once(&mut p1, &w1).is_pending());
    let mut p2 = q.put_async(2);
    assert!(poll_once(&mut p2, &w2).is_pending());
    assert_eq!(q.get(), Ok(0));
    assert_eq!(w1.count(), 1, "the first putter is woken for the room");
    let panicky = Waker::from(Arc::new(PanickingWaker));
    let mut getter = q.get_async();
    assert!(std::pin::Pin::new(&mut getter)
        .poll(&mut Context::from_waker(&panicky))
        .is_pending());
    let panicked =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| poll_once(&mut p2, &w2)));
    assert!(
        panicked.is_err(),
        "the getter's waker panics out of the put"
    );
    assert!(poll_once(&mut p1, &w1).is_pending(), "2 is in the queue");
    assert_eq!(q.get(), Ok(2));
    assert_eq!(
        w1.count(),
        2,
        "the waiting putter was not woken for the room"
    );
    assert_eq!(poll_once(&mut p1, &w1), Poll::Ready(Ok(())));
    drop((p2, getter));
}

/// A waker that does nothing when woken.
struct Quiet;

impl std::task::Wake for Quiet {
    fn wake(self: Arc<Self>) {}
}

/// Polls `fut` once with `waker`, which must leave it pending, and leaks it: a waiter that stays
/// registered and is never polled again.
fn leak_pending<F: Future>(fut: F, waker: &std::task::Waker) {
    let fut = Box::leak(Box::new(Box::pin(fut)));
    let mut cx = std::task::Context::from_waker(waker);
    assert!(fut.as_mut().poll(&mut cx).is_pending());
}

/// A shutdown reaches every blocked thread even when an async getter's waker panics while it is
/// woken: the blocked putter wakes with its item back; `shutdown` then passes the panic on, and
/// `shutdown_immediate` still returns the queued items (they are what its caller must get).
#[test]
fn panicking_waker_does_not_stop_a_shutdown() {
    use std::task::Waker;

    for immediate in [false, true] {
        let q = Queue::<u32>::bounded(1).unwrap();
        // Two pending getters, leaked so that they stay registered: the put that fills the queue
        // wakes the first (which never takes the item), the shutdown the second, whose waker
        // panics.
        leak_pending(q.get_async(), &Waker::from(Arc::new(Quiet)));
        leak_pending(q.get_async(), &Waker::from(Arc::new(PanickingWaker)));
        assert_eq!(q.put(1), Ok(()));
        let putter = {
            let q = q.clone();
            common::spawn_blocked(move || q.put(2).map_err(|e| e.into_inner()))
        };
        let q2 = q.clone();
        if immediate {
            let left = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
                q2.shutdown_immediate()
            }));
            assert_eq!(left.expect("shutdown_immediate returns the items"), [1]);
        } else {
            let shut =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || q2.shutdown()));
            assert!(shut.is_err(), "shutdown passes the waker's panic on");
            assert_eq!(q.try_get(), Ok(1));
        }
        assert_eq!(common::recv(&putter), Err(2), "the blocked putter woke");
    }
}

/// A get takes its item, then wakes a putter waiting for the space; when that putter's waker
/// panics, the item still reaches the getter (a panic there would drop it: lost, and never
/// counted done), and the wake-up goes on to the next putter, a blocked thread.
#[test]
fn panicking_putter_waker_does_not_lose_the_item_a_get_took() {
    use std::task::Waker;

    for how in ["get", "try_get", "get_timeout", "get_async"] {
        let q = Queue::<u32>::bounded(1).unwrap();
        q.put(1).unwrap();
        leak_pending(q.put_async(2), &Waker::from(Arc::new(PanickingWaker)));
        let putter = {
            let q = q.clone();
            common::spawn_blocked(move || q.put(3))
        };
        let q2 = q.clone();
        let got = within(move || match how {
            "get" => q2.get().ok(),
            "try_get" => q2.try_get().ok(),
            "get_timeout" => q2.get_timeout(LONG).ok(),
            _ => current_rt().block_on(q2.get_async()).ok(),
        });
        assert_eq!(got, Some(1), "{how}");
        assert_eq!(
            common::recv(&putter),
            Ok(()),
            "{how}: the next putter was woken"
        );
        assert_eq!(q.try_get(), Ok(3));
        for _ in 0..2 {
            q.task_done().unwrap();
        }
        assert!(q.join_timeout(LONG), "{how}");
    }
}

/// A woken `get_async` dropped while its task unwinds passes its wake-up on; a waker that panics
/// there is not a second panic (which would abort the process), and the wake-up still reaches a
/// blocked thread.
#[test]
fn dropping_a_woken_future_while_unwinding_survives_a_panicking_waker() {
    use std::task::Waker;

    let q = Queue::<u32>::unbounded();
    let mut woken = Box::pin(q.get_async());
    let quiet = Waker::from(Arc::new(Quiet));
    assert!(woken
        .as_mut()
        .poll(&mut std::task::Context::from_waker(&quiet))
        .is_pending());
    leak_pending(q.get_async(), &Waker::from(Arc::new(PanickingWaker)));
    let getter = {
        let q = q.clone();
        common::spawn_blocked(move || q.get())
    };
    q.put(1).unwrap(); // wakes `woken`
    let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        let _woken = woken;
        panic!("the task's body panics");
    }));
    assert!(unwound.is_err());
    assert_eq!(
        common::recv(&getter),
        Ok(1),
        "the wake-up went on to the thread"
    );
}

/// `shutdown_immediate` returns the items and wakes every waiter even when a joiner's waker
/// panics (it used to wake the joiners first, outside the guard that keeps the items).
#[test]
fn panicking_joiner_waker_does_not_stop_shutdown_immediate() {
    use std::task::Waker;

    let q = Queue::<u32>::bounded(1).unwrap();
    q.put(1).unwrap();
    leak_pending(q.join_async(), &Waker::from(Arc::new(PanickingWaker)));
    let putter = {
        let q = q.clone();
        common::spawn_blocked(move || q.put(2).map_err(|e| e.into_inner()))
    };
    let q2 = q.clone();
    let left = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        q2.shutdown_immediate()
    }));
    assert_eq!(left.expect("shutdown_immediate returns the items"), [1]);
    assert_eq!(common::recv(&putter), Err(2), "the blocked putter woke");
    assert!(q.join_timeout(LONG));
}

/// A waker whose drop panics, replaced by the next poll's waker: the panic leaves the future
/// registered, so dropping it takes it out of the list, and a later put wakes the thread queued
/// behind it instead of a dead entry.
#[test]
fn a_panic_while_replacing_the_waker_leaves_no_dead_waiter() {
    use std::sync::atomic::AtomicBool;
    use std::task::{Context, Waker};

    static ARMED: AtomicBool = AtomicBool::new(false);
    struct DropBomb;
    impl std::task::Wake for DropBomb {
        fn wake(self: Arc<Self>) {}
    }
    impl Drop for DropBomb {
        fn drop(&mut self) {
            if ARMED.swap(false, Ordering::SeqCst) {
                panic!("this waker panics when dropped");
            }
        }
    }

    let q = Queue::<u32>::unbounded();
    let mut get = Box::pin(q.get_async());
    let first = Waker::from(Arc::new(DropBomb));
    assert!(get
        .as_mut()
        .poll(&mut Context::from_waker(&first))
        .is_pending());
    drop(first); // the future's clone is the last one
    ARMED.store(true, Ordering::SeqCst);
    let second = Waker::from(Arc::new(Quiet));
    let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        get.as_mut()
            .poll(&mut Context::from_waker(&second))
            .is_pending()
    }));
    assert!(polled.is_err(), "the old waker's drop panicked");
    drop(get);
    let getter = {
        let q = q.clone();
        common::spawn_blocked(move || q.get())
    };
    q.put(7).unwrap();
    assert_eq!(common::recv(&getter), Ok(7));
}

/// A waker that runs `on_drop` when its last clone is dropped: user code that uses the queue.
struct DropHook(std::sync::Mutex<Option<Box<dyn FnOnce() + Send>>>);

impl std::task::Wake for DropHook {
    fn wake(self: Arc<Self>) {}
}

impl Drop for DropHook {
    fn drop(&mut self) {
        let hook = self.0.get_mut().map(Option::take).unwrap_or(None);
        if let Some(hook) = hook {
            hook();
        }
    }
}

/// Polls `fut` with a waker whose drop runs `on_drop`, then again with another waker, which
/// replaces (drops) the first: `on_drop` makes the room or the item the future waits for, so the
/// second poll completes. The old waker was dropped under the waiter's own lock, which the
/// notifier `on_drop` ran takes to wake that same waiter: the thread deadlocked on itself (the
/// audit's probe: hung 2 of 2, getter and putter).
fn replaced_waker_that_uses_the_queue<F>(mut fut: F, on_drop: impl FnOnce() + Send + 'static)
where
    F: Future + Unpin,
    F::Output: std::fmt::Debug,
{
    use std::task::{Context, Waker};

    let hook: Box<dyn FnOnce() + Send> = Box::new(on_drop);
    let first = Waker::from(Arc::new(DropHook(std::sync::Mutex::new(Some(hook)))));
    assert!(std::pin::Pin::new(&mut fut)
        .poll(&mut Context::from_waker(&first))
        .is_pending());
    drop(first); // the future's clone is the last one
    let second = CountingWaker::new();
    assert!(
        poll_once(&mut fut, &second).is_ready(),
        "the first waker's drop made the future ready"
    );
}

#[test]
fn a_get_async_whose_replaced_waker_puts_completes() {
    within(|| {
        let q = Queue::<u32>::unbounded();
        let q2 = q.clone();
        replaced_waker_that_uses_the_queue(q.get_async(), move || q2.try_put(5).unwrap());
        assert_eq!(q.qsize(), 0, "the get took the item");
    });
}

#[test]
fn a_put_async_whose_replaced_waker_gets_completes() {
    within(|| {
        let q = Queue::<u32>::bounded(1).unwrap();
        q.put(0).unwrap();
        let q2 = q.clone();
        replaced_waker_that_uses_the_queue(q.put_async(1), move || {
            assert_eq!(q2.try_get(), Ok(0));
        });
        assert_eq!(q.try_get(), Ok(1));
    });
}

/// The waker of `cloning_puts`: its data is an `Arc<Queue<u32>>`, and each clone puts 42.
static CLONING_PUTS: std::task::RawWakerVTable =
    std::task::RawWakerVTable::new(clone_and_put, drop_queue_arc, |_| {}, drop_queue_arc);

unsafe fn clone_and_put(data: *const ()) -> std::task::RawWaker {
    let queue = data.cast::<Queue<u32>>();
    // SAFETY: `data` came from `Arc::into_raw` and the waker being cloned still holds it.
    unsafe {
        (*queue).try_put(42).unwrap();
        Arc::increment_strong_count(queue);
    }
    std::task::RawWaker::new(data, &CLONING_PUTS)
}

unsafe fn drop_queue_arc(data: *const ()) {
    // SAFETY: each waker holds one count of the `Arc` its data came from.
    drop(unsafe { Arc::from_raw(data.cast::<Queue<u32>>()) });
}

/// A waker whose clone puts an item into `q`: user code that uses the queue.
fn cloning_puts(q: &Queue<u32>) -> std::task::Waker {
    let data = Arc::into_raw(Arc::new(q.clone())).cast::<()>();
    // SAFETY: the vtable's functions keep the contract of `RawWaker` for an `Arc`'s data.
    unsafe { std::task::Waker::from_raw(std::task::RawWaker::new(data, &CLONING_PUTS)) }
}

/// A pending `get_async` polled again with a waker whose clone puts an item: the clone was made
/// under the waiter's own lock, which the put's wake-up of that same waiter takes (the audit's
/// probe hung 1 of 1). Now it completes with the item.
#[test]
fn a_get_async_whose_new_waker_puts_when_cloned_completes() {
    use std::task::Context;

    within(|| {
        let q = Queue::<u32>::unbounded();
        let mut get = q.get_async();
        assert!(poll_once(&mut get, &CountingWaker::new()).is_pending());
        let waker = cloning_puts(&q);
        let polled = std::pin::Pin::new(&mut get).poll(&mut Context::from_waker(&waker));
        assert_eq!(polled, Poll::Ready(Ok(42)));
    });
}

/// A waiter that gives up leaves its list by its key: 300 000 pending `get_async` futures
/// dropped newest first, each of which used to be found by a scan from the oldest (about 3 s
/// for 100 000 in a release build, growing with the square of the count), take a moment, and the
/// queue then works as before. `within` fails the test after 10 s instead of hanging the run.
#[test]
fn many_pending_gets_dropped_newest_first() {
    let done = within(|| {
        let q = Queue::<u64>::unbounded();
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        let mut pending: Vec<_> = (0..300_000).map(|_| Box::pin(q.get_async())).collect();
        for fut in &mut pending {
            assert!(fut.as_mut().poll(&mut cx).is_pending());
        }
        while let Some(fut) = pending.pop() {
            drop(fut);
        }
        q.put(7).unwrap();
        q.try_get().unwrap()
    });
    assert_eq!(done, 7);
}
