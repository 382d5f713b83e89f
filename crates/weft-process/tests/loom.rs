//! loom models of ProcessQueue's shared-memory protocol (`src/ring.rs`): a getter asleep on an
//! empty queue is always woken by a put, a putter asleep on a full queue (by count or by bytes)
//! by a get, both by shutdown; two sleeping getters both get the two items put; the lock hands
//! over to a thread asleep on it; `join` returns exactly when the last item is marked done; an
//! extra `task_done` is refused exactly once; `shut_now` (shutdown_immediate) takes each item
//! exactly once against a racing get and put, and wakes a joiner and a getter. Threads stand
//! in for processes: the words, the lock included, are the same atomics, and the futex is
//! modelled by one mutex and condition variable that make the check of the word and the sleep
//! atomic with respect to a wake-up, as
//! the kernel does; a wake-up reaches the `n` longest sleepers of its own word only, as the
//! kernel's queue does (so a lock hand-over that forgets the other sleepers deadlocks the model).
//! loom reports a lost wake-up as a deadlock. Time is not
//! modelled: the naps' look-arounds, the takeover of a dead holder's lock and `alone` are tested
//! across real processes (tests/mp/queue_cases.rs).
//!
//! Run with `RUSTFLAGS="--cfg weft_loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p weft-process
//! --release --test loom` (or `cargo xtask test`).
#![cfg(weft_loom)]

use loom::sync::Arc;
use loom::thread;
use weft_process::ring::{Data, Get, Peers, Put, Ring};

/// A ring and its bytes, shared by the model's threads.
struct Queue {
    ring: Ring,
    data: Data,
}

fn queue(cap: u32) -> Arc<Queue> {
    Arc::new(Queue {
        ring: Ring::default(),
        data: Data::owned(cap),
    })
}

/// One "process" (the model's threads share it): the lock's holder is always alive, and others
/// always hold the queue.
struct Model;

impl Peers for Model {
    fn tag(&self) -> u32 {
        1
    }

    fn holds(&self, _tag: u32) -> bool {
        true
    }

    fn alone(&self) -> bool {
        false
    }
}

impl Queue {
    fn put(&self, item: u8, maxsize: u32) -> Put {
        self.ring
            .put(&self.data, &[item], maxsize, None, &Model)
            .expect("fits")
    }

    fn get(&self) -> Result<u8, Get> {
        let mut buf = Vec::new();
        match self.ring.get(&self.data, &mut buf, 16, None, &Model) {
            Get::Done => Ok(buf[0]),
            other => Err(other),
        }
    }

    fn shut(&self) {
        self.ring.shut(&Model);
    }

    /// `shutdown_immediate`'s ring part: the records taken out (one byte each here).
    fn shut_now(&self) -> Vec<u8> {
        let (mut bytes, mut ends) = (Vec::new(), Vec::new());
        let corrupted = self
            .ring
            .shut_now(&self.data, 16, &Model, &mut bytes, &mut ends);
        assert!(!corrupted);
        assert_eq!(ends, (1..=bytes.len()).collect::<Vec<_>>());
        bytes
    }
}

/// `shut_now` races a getter and a putter: each item queued is taken by exactly one of
/// `shut_now` and the getter, the put either lands (and its item is taken too) or fails, a
/// getter that finds the queue empty fails with `ShutDown` (never left asleep), and every item
/// counts done once taken out, so `join` returns once the getter marks its own.
#[test]
fn shut_now_races_a_getter_and_a_putter() {
    loom::model(|| {
        let q = queue(16);
        assert_eq!(q.put(1, 0), Put::Done);
        let getter = {
            let q = Arc::clone(&q);
            thread::spawn(move || {
                let got = q.get();
                if got.is_ok() {
                    q.ring.task_done().unwrap();
                }
                got
            })
        };
        let putter = {
            let q = Arc::clone(&q);
            thread::spawn(move || q.put(2, 0))
        };
        let mut taken = q.shut_now();
        let got = getter.join().unwrap();
        let put = putter.join().unwrap();
        match got {
            Ok(item) => taken.push(item),
            Err(e) => assert_eq!(e, Get::ShutDown),
        }
        taken.sort_unstable();
        match put {
            Put::Done => assert_eq!(taken, [1, 2]),
            other => {
                assert_eq!(other, Put::ShutDown);
                assert_eq!(taken, [1]);
            }
        }
        assert_eq!(q.get(), Err(Get::ShutDown));
        assert!(q.ring.join_until(None));
    });
}

/// `shut_now` wakes a joiner asleep on an item that was never got (it is counted done) and a
/// getter asleep on an empty queue.
#[test]
fn shut_now_wakes_joiner_and_getter() {
    loom::model(|| {
        let q = queue(16);
        assert_eq!(q.put(1, 0), Put::Done);
        let joiner = {
            let q = Arc::clone(&q);
            thread::spawn(move || q.ring.join_until(None))
        };
        let empty = queue(16);
        let getter = {
            let q = Arc::clone(&empty);
            thread::spawn(move || q.get())
        };
        assert_eq!(q.shut_now(), [1]);
        assert!(empty.shut_now().is_empty());
        assert!(joiner.join().unwrap());
        assert_eq!(getter.join().unwrap(), Err(Get::ShutDown));
        assert_eq!(q.ring.unfinished(), 0);
    });
}

/// A put wakes a getter asleep on the empty queue, which gets the item.
#[test]
fn put_wakes_sleeping_getter() {
    loom::model(|| {
        let q = queue(16);
        let getter = {
            let q = Arc::clone(&q);
            thread::spawn(move || q.get())
        };
        assert_eq!(q.put(7, 0), Put::Done);
        assert_eq!(getter.join().unwrap(), Ok(7));
        assert_eq!((q.ring.queued(), q.ring.unfinished()), (0, 1));
    });
}

/// Two getters asleep, two puts: each put wakes one, and both items are got once.
#[test]
fn two_puts_wake_two_getters() {
    loom::model(|| {
        let q = queue(16);
        let getters: Vec<_> = (0..2)
            .map(|_| {
                let q = Arc::clone(&q);
                thread::spawn(move || q.get())
            })
            .collect();
        assert_eq!(q.put(1, 0), Put::Done);
        assert_eq!(q.put(2, 0), Put::Done);
        let mut got: Vec<u8> = getters
            .into_iter()
            .map(|g| g.join().unwrap().unwrap())
            .collect();
        got.sort_unstable();
        assert_eq!(got, [1, 2]);
    });
}

/// A get frees the place a putter asleep on a queue of bound 1 waits for.
#[test]
fn get_wakes_putter_full_by_count() {
    loom::model(|| {
        let q = queue(16);
        assert_eq!(q.put(1, 1), Put::Done);
        let putter = {
            let q = Arc::clone(&q);
            thread::spawn(move || q.put(2, 1))
        };
        assert_eq!(q.get(), Ok(1));
        assert_eq!(putter.join().unwrap(), Put::Done);
        assert_eq!(q.get(), Ok(2));
    });
}

/// A get frees the bytes a putter asleep on an unbounded but full ring waits for (8 bytes: one
/// 5-byte record at a time).
#[test]
fn get_wakes_putter_full_by_bytes() {
    loom::model(|| {
        let q = queue(8);
        assert_eq!(q.put(1, 0), Put::Done);
        let putter = {
            let q = Arc::clone(&q);
            thread::spawn(move || q.put(2, 0))
        };
        assert_eq!(q.get(), Ok(1));
        assert_eq!(putter.join().unwrap(), Put::Done);
        // The second record wrapped around the ring's end and reads back whole.
        assert_eq!(q.get(), Ok(2));
    });
}

/// Shutdown wakes a getter asleep on an empty queue and a putter asleep on a full one: both
/// fail, and the item already queued is still there to drain.
#[test]
fn shutdown_wakes_sleepers() {
    loom::model(|| {
        let full = queue(16);
        assert_eq!(full.put(1, 1), Put::Done);
        let putter = {
            let q = Arc::clone(&full);
            thread::spawn(move || q.put(2, 1))
        };
        let empty = queue(16);
        let getter = {
            let q = Arc::clone(&empty);
            thread::spawn(move || q.get())
        };
        full.shut();
        empty.shut();
        assert_eq!(putter.join().unwrap(), Put::ShutDown);
        assert_eq!(getter.join().unwrap(), Err(Get::ShutDown));
        assert_eq!(full.get(), Ok(1));
        assert_eq!(full.get(), Err(Get::ShutDown));
    });
}

/// `join` returns once both items are marked done, from two other "processes", never before.
#[test]
fn join_waits_for_the_last_task_done() {
    loom::model(|| {
        let q = queue(16);
        assert_eq!(q.put(1, 0), Put::Done);
        assert_eq!(q.put(2, 0), Put::Done);
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let q = Arc::clone(&q);
                thread::spawn(move || {
                    q.get().unwrap();
                    q.ring.task_done()
                })
            })
            .collect();
        assert!(q.ring.join_until(None));
        assert_eq!(q.ring.unfinished(), 0);
        for w in workers {
            assert_eq!(w.join().unwrap(), Ok(()));
        }
    });
}

/// Two `task_done` calls race for one unfinished item: exactly one succeeds.
#[test]
fn extra_task_done_refused_once() {
    loom::model(|| {
        let q = queue(16);
        assert_eq!(q.put(1, 0), Put::Done);
        assert_eq!(q.get(), Ok(1));
        let other = {
            let q = Arc::clone(&q);
            thread::spawn(move || q.ring.task_done().is_ok())
        };
        let mine = q.ring.task_done().is_ok();
        let theirs = other.join().unwrap();
        assert!(mine ^ theirs, "exactly one task_done may succeed");
        assert_eq!(q.ring.unfinished(), 0);
    });
}

/// Two putters and a getter take the lock in turn, sleeping on it while another holds it: the
/// unlock's wake-up always reaches a sleeper, and every item arrives once.
#[test]
fn contended_lock_hands_over() {
    loom::model(|| {
        let q = queue(16);
        let putters: Vec<_> = (1..=2)
            .map(|item| {
                let q = Arc::clone(&q);
                thread::spawn(move || q.put(item, 0))
            })
            .collect();
        let mut got = vec![q.get().unwrap(), q.get().unwrap()];
        for p in putters {
            assert_eq!(p.join().unwrap(), Put::Done);
        }
        got.sort_unstable();
        assert_eq!(got, [1, 2]);
    });
}
