//! loom models of the queues' wait protocol: a blocked getter or putter is always woken, task
//! accounting lets `join` return exactly when the work is done, shutdown wakes everyone, and the
//! hand-off between async and blocking waiters loses no wake-up, also when a notified async waiter
//! is dropped or polled again with another waker.
//!
//! Run with `RUSTFLAGS="--cfg weft_loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p weft-channel
//! --release --test loom` (or `cargo xtask test`). Under `weft_loom` bounded queues use weft's ring
//! buffer with loom's atomics and cells (a wait for another thread's half-done ring step blocks
//! instead of spinning, see `src/loom.rs`); so does unbounded storage, weft's list of blocks, with
//! blocks of two slots so that a few items cross blocks and free them; the stores under a lock
//! use loom's mutex; the waiter lists and counters are loom's, and every wait parks. loom reports
//! a lost wake-up as a deadlock.
#![cfg(weft_loom)]

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use loom::future::block_on;
use loom::thread;
use weft_channel::{GetError, LifoQueue, Queue, SimpleQueue, TryGetError};

/// A put always wakes a getter blocked on an empty queue.
#[test]
fn put_wakes_blocked_getter() {
    loom::model(|| {
        let q = Queue::unbounded();
        let getter = {
            let q = q.clone();
            thread::spawn(move || q.get())
        };
        q.put(7).unwrap();
        assert_eq!(getter.join().unwrap(), Ok(7));
    });
}

/// A get always wakes a putter blocked on a full queue, and FIFO order holds.
#[test]
fn get_wakes_blocked_putter() {
    loom::model(|| {
        let q = Queue::bounded(1).unwrap();
        q.put(1).unwrap();
        let putter = {
            let q = q.clone();
            thread::spawn(move || q.put(2))
        };
        assert_eq!(q.get(), Ok(1));
        putter.join().unwrap().unwrap();
        assert_eq!(q.get(), Ok(2));
    });
}

/// `join` returns once the item taken by another thread is marked done, and not before.
#[test]
fn join_waits_for_task_done() {
    loom::model(|| {
        let q = Queue::unbounded();
        q.put(1).unwrap();
        let worker = {
            let q = q.clone();
            thread::spawn(move || {
                q.get().unwrap();
                q.task_done().unwrap();
            })
        };
        q.join();
        assert_eq!(q.unfinished_tasks(), 0);
        worker.join().unwrap();
        assert!(q.task_done().is_err());
    });
}

/// `shutdown` wakes a getter blocked on an empty queue with `ShutDown`.
#[test]
fn shutdown_wakes_blocked_getter() {
    loom::model(|| {
        let q = Queue::<u8>::unbounded();
        let getter = {
            let q = q.clone();
            thread::spawn(move || q.get())
        };
        q.shutdown();
        assert_eq!(getter.join().unwrap(), Err(GetError));
    });
}

/// `shutdown_immediate` hands back what was queued, counts it done, and wakes a joiner.
#[test]
fn shutdown_immediate_releases_joiner() {
    loom::model(|| {
        let q = Queue::unbounded();
        q.put(1).unwrap();
        let joiner = {
            let q = q.clone();
            thread::spawn(move || q.join())
        };
        assert_eq!(q.shutdown_immediate(), [1]);
        joiner.join().unwrap();
        assert_eq!(q.try_get(), Err(TryGetError::ShutDown));
    });
}

/// An async getter is woken by a thread's put.
#[test]
fn thread_put_wakes_async_getter() {
    loom::model(|| {
        let q = SimpleQueue::new();
        let task = {
            let q = q.clone();
            thread::spawn(move || block_on(q.get_async()))
        };
        q.put(3);
        assert_eq!(task.join().unwrap(), 3);
    });
}

/// A blocked thread is woken by an async put that had to wait for room itself.
#[test]
fn async_put_and_blocking_get_hand_off() {
    loom::model(|| {
        let q = Queue::bounded(1).unwrap();
        q.put(1).unwrap();
        let task = {
            let q = q.clone();
            thread::spawn(move || block_on(q.put_async(2)))
        };
        assert_eq!(q.get(), Ok(1));
        assert_eq!(q.get(), Ok(2));
        task.join().unwrap().unwrap();
    });
}

/// An async getter that registered and is then dropped — possibly after a put already notified
/// it — passes the wake-up on: the blocked thread still gets the item.
#[test]
fn dropped_async_getter_passes_wakeup_on() {
    loom::model(|| {
        let q = SimpleQueue::new();
        let blocked = {
            let q = q.clone();
            thread::spawn(move || q.get())
        };
        let dropper = {
            let q = q.clone();
            thread::spawn(move || {
                let mut cx = Context::from_waker(Waker::noop());
                let mut fut = pin!(q.get_async());
                match fut.as_mut().poll(&mut cx) {
                    // It took the item itself: put it back for the blocked thread.
                    Poll::Ready(item) => q.put(item),
                    // Registered; dropping it now must not swallow a notification.
                    Poll::Pending => {}
                }
            })
        };
        q.put(5);
        dropper.join().unwrap();
        assert_eq!(blocked.join().unwrap(), 5);
    });
}

/// Two blocked getters and two puts: both getters finish. (A waiter that registered, then found an
/// item on its own re-check while a put's notification was on its way to it, must pass that
/// notification on, or the other getter would sleep beside the second item.)
#[test]
fn two_getters_two_puts() {
    loom::model(|| {
        let q = SimpleQueue::new();
        let getters: Vec<_> = (0..2)
            .map(|_| {
                let q = q.clone();
                thread::spawn(move || q.get())
            })
            .collect();
        q.put(1);
        q.put(2);
        let mut got: Vec<i32> = getters.into_iter().map(|g| g.join().unwrap()).collect();
        got.sort();
        assert_eq!(got, [1, 2]);
    });
}

/// On queue `$q` (any tracked queue type): a put races `shutdown`; it either fails, or lands where
/// the getters still find it: a get after the shutdown returns the item exactly when the put said
/// `Ok`, and the next get says shut down. Gives whether the put landed.
macro_rules! put_racing_shutdown {
    ($q:expr) => {{
        let q = $q;
        let putter = {
            let q = q.clone();
            thread::spawn(move || q.put(1).is_ok())
        };
        q.shutdown();
        let got = q.get();
        let put_ok = putter.join().unwrap();
        assert_eq!(got.is_ok(), put_ok);
        assert_eq!(q.get(), Err(GetError));
        put_ok
    }};
}

/// A put racing `shutdown` is never stranded (see `put_racing_shutdown!`).
#[test]
fn put_racing_shutdown_is_never_stranded() {
    loom::model(|| {
        put_racing_shutdown!(Queue::unbounded());
    });
}

/// An async getter polled again without a wake-up (the non-fresh path of `poll_wait`), then
/// dropped, beside a blocked getter and two puts: no item is lost.
#[test]
fn spurious_repoll_async_getter() {
    loom::model(|| {
        let q = SimpleQueue::new();
        let blocked = {
            let q = q.clone();
            thread::spawn(move || q.get())
        };
        let t = {
            let q = q.clone();
            thread::spawn(move || {
                let mut cx = Context::from_waker(Waker::noop());
                let mut fut = pin!(q.get_async());
                // poll twice regardless of wake-ups, then give up and drop
                for _ in 0..2 {
                    if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
                        return Some(v);
                    }
                }
                None
            })
        };
        q.put(1);
        q.put(2);
        let a = t.join().unwrap();
        let b = blocked.join().unwrap();
        // If the async one took nothing, the other item must still be there.
        match a {
            Some(x) => assert_eq!(x + b, 3),
            None => {
                let c = q.try_get().unwrap();
                assert_eq!(b + c, 3);
            }
        }
    });
}

/// Two putters blocked on a full bounded(1) queue are both let through by two gets.
#[test]
fn two_putters_two_gets() {
    loom::model(|| {
        let q = Queue::bounded(1).unwrap();
        q.put(0).unwrap();
        let ps: Vec<_> = (1..3)
            .map(|i| {
                let q = q.clone();
                thread::spawn(move || q.put(i).unwrap())
            })
            .collect();
        let a = q.get().unwrap();
        let b = q.get().unwrap();
        for p in ps {
            p.join().unwrap();
        }
        let c = q.get().unwrap();
        let mut v = vec![a, b, c];
        v.sort();
        assert_eq!(v, [0, 1, 2]);
    });
}

/// `shutdown_immediate` racing a put: the put either fails or its item is among those returned,
/// and `join` returns.
#[test]
fn immediate_vs_put_join() {
    loom::model(|| {
        let q = Queue::unbounded();
        let p = {
            let q = q.clone();
            thread::spawn(move || q.put(1).is_ok())
        };
        let left = q.shutdown_immediate();
        let ok = p.join().unwrap();
        assert_eq!(ok, left.len() == 1);
        assert_eq!(q.try_get(), Err(TryGetError::ShutDown));
        q.join();
    });
}

/// Async puts and async gets on two threads hand items over through a bounded(1) queue, in order.
#[test]
fn async_both_sides() {
    loom::model(|| {
        let q = Queue::bounded(1).unwrap();
        let p = {
            let q = q.clone();
            thread::spawn(move || {
                block_on(q.put_async(1)).unwrap();
                block_on(q.put_async(2)).unwrap();
            })
        };
        let a = block_on(q.get_async()).unwrap();
        let b = block_on(q.get_async()).unwrap();
        p.join().unwrap();
        assert_eq!((a, b), (1, 2));
    });
}

/// `join_async` returns once a thread marked both items done.
#[test]
fn async_join() {
    loom::model(|| {
        let q = Queue::unbounded();
        q.put(1).unwrap();
        q.put(2).unwrap();
        let w = {
            let q = q.clone();
            thread::spawn(move || {
                for _ in 0..2 {
                    q.get().unwrap();
                    q.task_done().unwrap();
                }
            })
        };
        block_on(q.join_async());
        assert_eq!(q.unfinished_tasks(), 0);
        w.join().unwrap();
    });
}

// Bounded queues up to 2^16 items store their items in weft's own ring buffer (src/ring.rs),
// which loom checks too: the slots are loom cells, the head, tail and stamps loom atomics. The
// models above with `bounded(1)` run through it; these cover what the ring does differently: the
// put count is the tail, shutdown is a mark bit of the tail, `task_done` counts on its own line.

/// A put into a bounded ring wakes a getter blocked on it while empty (the getter's empty check
/// and the put's notification see each other).
#[test]
fn ring_put_wakes_blocked_getter() {
    loom::model(|| {
        let q = Queue::bounded(2).unwrap();
        let getter = {
            let q = q.clone();
            thread::spawn(move || q.get())
        };
        q.put(7).unwrap();
        assert_eq!(getter.join().unwrap(), Ok(7));
    });
}

/// `shutdown` wakes a putter blocked on a full ring, which gets its item back; the queued item is
/// still delivered, then `ShutDown`.
#[test]
fn ring_shutdown_wakes_blocked_putter() {
    loom::model(|| {
        let q = Queue::bounded(1).unwrap();
        q.put(1).unwrap();
        let putter = {
            let q = q.clone();
            thread::spawn(move || q.put(2))
        };
        q.shutdown();
        assert_eq!(putter.join().unwrap().unwrap_err().into_inner(), 2);
        assert_eq!(q.get(), Ok(1));
        assert_eq!(q.get(), Err(GetError));
    });
}

/// `join` on a ring returns once the item taken by another thread is marked done; a put racing
/// the work is either counted before `join` saw all done or after.
#[test]
fn ring_join_waits_for_task_done() {
    loom::model(|| {
        let q = Queue::bounded(2).unwrap();
        q.put(1).unwrap();
        let worker = {
            let q = q.clone();
            thread::spawn(move || {
                q.get().unwrap();
                q.task_done().unwrap();
            })
        };
        q.join();
        assert_eq!(q.unfinished_tasks(), 0);
        worker.join().unwrap();
        assert!(q.task_done().is_err());
        assert_eq!(q.unfinished_tasks(), 0);
    });
}

/// An async joiner on a ring is woken by the last of two `task_done` calls on another thread.
#[test]
fn ring_async_join_two_items() {
    loom::model(|| {
        let q = Queue::bounded(2).unwrap();
        q.put(1).unwrap();
        q.put(2).unwrap();
        let w = {
            let q = q.clone();
            thread::spawn(move || {
                for _ in 0..2 {
                    q.get().unwrap();
                    q.task_done().unwrap();
                }
            })
        };
        block_on(q.join_async());
        assert_eq!(q.unfinished_tasks(), 0);
        w.join().unwrap();
    });
}

/// A put racing `shutdown` on a ring either fails or lands where the getters find it.
#[test]
fn ring_put_racing_shutdown_is_never_stranded() {
    loom::model(|| {
        put_racing_shutdown!(Queue::bounded(2).unwrap());
    });
}

/// `shutdown_immediate` racing a put on a ring: the put fails or its item is handed back, the
/// item is counted done and `join` returns.
#[test]
fn ring_immediate_vs_put_join() {
    loom::model(|| {
        let q = Queue::bounded(2).unwrap();
        let p = {
            let q = q.clone();
            thread::spawn(move || q.put(1).is_ok())
        };
        let left = q.shutdown_immediate();
        let ok = p.join().unwrap();
        assert_eq!(ok, left.len() == 1);
        assert_eq!(q.try_get(), Err(TryGetError::ShutDown));
        assert_eq!(q.unfinished_tasks(), 0);
        q.join();
    });
}

/// `shutdown` wakes a getter blocked on an empty ring with `ShutDown` (the ring's own empty
/// answer, then the queue's shutdown check and the wait).
#[test]
fn ring_shutdown_wakes_blocked_getter() {
    loom::model(|| {
        let q = Queue::<u8>::bounded(2).unwrap();
        let getter = {
            let q = q.clone();
            thread::spawn(move || q.get())
        };
        q.shutdown();
        assert_eq!(getter.join().unwrap(), Err(GetError));
    });
}

/// On queue `$q` (a `Queue<i32>`, empty): a blocking `get` races `shutdown_immediate` for the
/// one item queued. The item goes to exactly one of them and is counted done only if the drain
/// took it; a get that begins once `is_shutdown` sees the shutdown takes nothing (the check
/// `get` makes itself before the storage's first attempt); a later get fails.
macro_rules! get_racing_immediate {
    ($q:expr) => {{
        let q = $q;
        q.put(1).unwrap();
        let getter = {
            let q = q.clone();
            thread::spawn(move || {
                let seen = q.is_shutdown();
                (seen, q.get())
            })
        };
        let left = q.shutdown_immediate();
        let (seen, got) = getter.join().unwrap();
        if seen {
            assert_eq!(
                got,
                Err(GetError),
                "a get begun after the shutdown took an item"
            );
        }
        match got {
            Ok(item) => {
                assert_eq!(item, 1);
                assert!(left.is_empty(), "the item went to both: {left:?}");
                assert_eq!(q.unfinished_tasks(), 1);
            }
            Err(GetError) => {
                assert_eq!(left, [1]);
                assert_eq!(q.unfinished_tasks(), 0);
            }
        }
        assert_eq!(q.get(), Err(GetError));
    }};
}

/// A get racing `shutdown_immediate` on the list (see `get_racing_immediate!`).
#[test]
fn get_racing_immediate() {
    loom::model(|| get_racing_immediate!(Queue::unbounded()));
}

/// A get racing `shutdown_immediate` on a ring (see `get_racing_immediate!`).
#[test]
fn ring_get_racing_immediate() {
    loom::model(|| get_racing_immediate!(Queue::bounded(2).unwrap()));
}

/// A put racing `shutdown` on a FIFO queue bounded past the ring's limit (the deque under a
/// lock, whose puts and gets have no first attempt of their own) is never stranded.
#[test]
fn deque_put_racing_shutdown_is_never_stranded() {
    loom::model(|| {
        put_racing_shutdown!(Queue::bounded(70_000).unwrap());
    });
}

/// `n` items put by one thread and got by another come out in order, all unfinished.
fn in_order(q: Queue<i32>, n: i32) {
    let p = {
        let q = q.clone();
        thread::spawn(move || {
            for i in 0..n {
                q.put(i).unwrap();
            }
        })
    };
    let got: Vec<i32> = (0..n).map(|_| q.get().unwrap()).collect();
    p.join().unwrap();
    assert_eq!(got, (0..n).collect::<Vec<_>>());
    assert_eq!(q.unfinished_tasks(), n as usize);
}

/// Items go around a one-slot ring twice (the lap in the stamps) between two threads, in order.
#[test]
fn ring_laps_in_order() {
    loom::model(|| in_order(Queue::bounded(1).unwrap(), 3));
}

/// Items go through the list's blocks (two slots each under loom) between two threads, in order:
/// the put of a block's last slot installs the next block, the get of it moves the head there and
/// frees the block behind.
#[test]
fn list_crosses_blocks_in_order() {
    loom::model(|| in_order(Queue::unbounded(), 3));
}

/// With one putter, the get that frees a block keeps it as a spare, and the put that needs a
/// block later (here the one of item 3, the second block's last slot) takes it back: five items
/// come out in order across three blocks whichever way the two threads interleave, with the
/// queue's waiting around them. (The hand-over's orderings are checked by the model of the list
/// alone, `list::models::reuse_hand_over`: here the waiter checks' fences order the threads on
/// their own.)
#[test]
fn list_reuses_a_freed_block() {
    loom::model(|| in_order(Queue::unbounded(), 5));
}

/// Two getters take items 1 and 2 while a third put runs: each item is taken once, and the queue
/// ends empty. Through the list (two slots per block under loom) the put installs the next block
/// while the get of the first block's last slot frees it once the other get is done; through a
/// full two-slot ring the getters race for the head and the put waits for the slot they free
/// (its stamp hands it to the next lap).
fn two_getters_and_a_put(q: Queue<i32>) {
    q.put(1).unwrap();
    q.put(2).unwrap();
    let other = {
        let q = q.clone();
        thread::spawn(move || q.get().unwrap())
    };
    let putter = {
        let q = q.clone();
        thread::spawn(move || q.put(3).unwrap())
    };
    let mine = q.get().unwrap();
    let theirs = other.join().unwrap();
    putter.join().unwrap();
    let mut got = [mine, theirs, q.try_get().unwrap()];
    got.sort_unstable();
    assert_eq!(got, [1, 2, 3]);
    assert_eq!(q.try_get(), Err(TryGetError::Empty));
}

/// [`two_getters_and_a_put`] through the list.
#[test]
fn list_two_getters_share_a_block() {
    loom::model(|| two_getters_and_a_put(Queue::unbounded()));
}

/// [`two_getters_and_a_put`] through the ring.
#[test]
fn ring_two_getters_share_the_head() {
    loom::model(|| two_getters_and_a_put(Queue::bounded(2).unwrap()));
}

/// A LifoQueue (its store counts puts and carries the shutdown flag under its lock): a put
/// racing `shutdown` either fails or is found by a get after it, and `join` waits for the
/// `task_done` of what was taken.
#[test]
fn lifo_put_racing_shutdown_then_join() {
    loom::model(|| {
        let q = LifoQueue::unbounded();
        if put_racing_shutdown!(q.clone()) {
            let worker = {
                let q = q.clone();
                thread::spawn(move || q.task_done().unwrap())
            };
            q.join();
            worker.join().unwrap();
        }
        assert_eq!(q.unfinished_tasks(), 0);
    });
}

/// Two putters on the list at once, crossing into a second block (two slots per block under
/// loom): the install of the next block while the other putter waits at the gap, and the switch
/// to contended mode. Every item arrives once, each putter's in its order.
#[test]
fn list_two_putters_cross_a_block() {
    loom::model(|| {
        let q = Queue::unbounded();
        let two = {
            let q = q.clone();
            thread::spawn(move || {
                q.put(0).unwrap();
                q.put(1).unwrap();
            })
        };
        let one = {
            let q = q.clone();
            thread::spawn(move || q.put(10).unwrap())
        };
        let got: Vec<i32> = (0..3).map(|_| q.get().unwrap()).collect();
        two.join().unwrap();
        one.join().unwrap();
        let firsts: Vec<_> = got.iter().copied().filter(|x| *x < 10).collect();
        assert_eq!(firsts, [0, 1], "one putter's items in order: {got:?}");
        assert!(got.contains(&10), "{got:?}");
        assert_eq!(q.try_get(), Err(TryGetError::Empty));
    });
}

/// Two getters on the list while one putter crosses blocks, so blocks are freed and reused as
/// spares under contention: every item is taken exactly once.
#[test]
fn list_two_getters_reuse_blocks() {
    loom::model(|| {
        let q = SimpleQueue::new();
        q.put(0);
        q.put(1);
        let getter = {
            let q = q.clone();
            thread::spawn(move || [q.get(), q.get()])
        };
        let putter = {
            let q = q.clone();
            thread::spawn(move || {
                q.put(2);
                q.put(3);
            })
        };
        let mut all = vec![q.get(), q.get()];
        putter.join().unwrap();
        all.extend(getter.join().unwrap());
        all.sort_unstable();
        assert_eq!(all, [0, 1, 2, 3]);
    });
}

/// A waker that records its wake-up and unparks the thread that polls with it, so a model can
/// tell which of a task's wakers was woken. The flag is test scaffolding, not under test: a std
/// atomic, which loom does not permute (its threads run one at a time); the thread reads it
/// before each park, and loom's unpark, which it does model, follows the store.
struct Flag {
    woken: std::sync::atomic::AtomicBool,
    thread: thread::Thread,
}

impl std::task::Wake for Flag {
    fn wake(self: std::sync::Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        self.woken.store(true, std::sync::atomic::Ordering::SeqCst);
        self.thread.unpark();
    }
}

/// Polls `fut` once with waker A, then with waker B (the task moved) until it is ready, sleeping
/// only until B is woken. A notifier that takes A while the second poll replaces it (between
/// `Waiter::set_waker`'s two lock sections, or before it) wakes A, not B: the poll must see the
/// waiter notified and try again rather than return `Pending`, or nobody wakes B.
fn poll_moving_between_wakers<F: Future>(fut: F) -> F::Output {
    let flag = || {
        std::sync::Arc::new(Flag {
            woken: std::sync::atomic::AtomicBool::new(false),
            thread: thread::current(),
        })
    };
    let (a, b) = (flag(), flag());
    let (wa, wb) = (Waker::from(a), Waker::from(std::sync::Arc::clone(&b)));
    let mut fut = pin!(fut);
    if let Poll::Ready(v) = fut.as_mut().poll(&mut Context::from_waker(&wa)) {
        return v;
    }
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut Context::from_waker(&wb)) {
            return v;
        }
        while !b.woken.swap(false, std::sync::atomic::Ordering::SeqCst) {
            thread::park();
        }
    }
}

/// An async getter polled again with another waker while a put notifies it: it gets the item
/// (the put's wake-up may go to the old waker, see `poll_moving_between_wakers`).
#[test]
fn async_getter_changing_waker_is_woken() {
    loom::model(|| {
        let q = SimpleQueue::new();
        let task = {
            let q = q.clone();
            thread::spawn(move || poll_moving_between_wakers(q.get_async()))
        };
        q.put(3);
        assert_eq!(task.join().unwrap(), 3);
    });
}

/// An async putter on a full queue polled again with another waker while a get makes room: its
/// item goes in.
#[test]
fn async_putter_changing_waker_is_woken() {
    loom::model(|| {
        let q = Queue::bounded(1).unwrap();
        q.put(1).unwrap();
        let task = {
            let q = q.clone();
            thread::spawn(move || poll_moving_between_wakers(q.put_async(2)))
        };
        assert_eq!(q.get(), Ok(1));
        task.join().unwrap().unwrap();
        assert_eq!(q.get(), Ok(2));
    });
}
