//! The counts a [`ProcessQueue`](crate::ProcessQueue) shares between processes, and their wait
//! protocol, apart from the sockets so that loom can check it (`tests/loom.rs`).
//!
//! - `state`: the shutdown bit and the number of places taken (items queued plus puts under way).
//!   One word, so a put reserves its place and sees a shutdown in the same compare-and-swap.
//! - `unfinished`: items put and not yet marked done; `join` waits for it to reach zero.
//! - `put_waiters`: putters asleep on a full queue, so that a get makes a wake-up system call
//!   only when someone sleeps.
//!
//! Sleeping is a futex wait on the word itself (shared, not process-private, so it works across
//! processes on the shared page): it sleeps only while the word still holds the value the waiter
//! saw, so a change made before the waker's wake-up call is never missed.

use std::time::Instant;

use crate::model::{fence_for_model, futex_wait, futex_wake, AtomicU32, Ordering, MODEL};

/// "Every sleeper": the kernel reads the count as an `int`, so `u32::MAX` would be -1 and wake
/// only one.
const WAKE_ALL: u32 = i32::MAX as u32;
/// The shutdown bit of `state`.
const SHUT: u32 = 1 << 31;
/// The largest bound a queue can count to: the places-taken count shares its word with the
/// shutdown bit.
pub(crate) const MAX_BOUND: u32 = SHUT - 1;
/// How many times a putter looks again at a full queue before it sleeps: a consumer running in
/// another process frees a place within microseconds, and not sleeping saves both sides a system
/// call per item when the queue runs full. Models never spin (`MODEL`): they explore the sleep.
const SPIN_ROUNDS: u32 = 64;

/// What [`Counts::reserve`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reserve {
    /// A place is taken and the item counted unfinished: send it, or [`Counts::unreserve`].
    Ok,
    /// The queue stayed full until the deadline.
    Full,
    /// The queue is shut down.
    ShutDown,
}

/// `task_done` was called more times than items were put (Python's `ValueError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManyTaskDone;

impl std::fmt::Display for TooManyTaskDone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("task_done() called too many times")
    }
}

impl std::error::Error for TooManyTaskDone {}

/// The shared counts. `#[repr(C)]`; `Counts::default()` is all zeros, as a new shared page is.
#[repr(C)]
#[derive(Debug, Default)]
pub struct Counts {
    state: AtomicU32,
    unfinished: AtomicU32,
    put_waiters: AtomicU32,
}

impl Counts {
    /// Takes a place for one item and counts it unfinished, waiting while the queue holds
    /// `maxsize` (0: no bound) until `deadline` (`None`: for ever).
    pub fn reserve(&self, maxsize: u32, deadline: Option<Instant>) -> Reserve {
        let mut spins = 0;
        loop {
            let state = self.state.load(Ordering::Acquire);
            if state & SHUT != 0 {
                return Reserve::ShutDown;
            }
            if maxsize == 0 || state < maxsize {
                if self
                    .state
                    .compare_exchange_weak(state, state + 1, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    self.unfinished.fetch_add(1, Ordering::AcqRel);
                    return Reserve::Ok;
                }
                continue;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                // A get's wake-up may have come to us as our time ran out: pass it on to
                // another sleeper if a place is free now.
                if self.queued() < maxsize && self.put_waiters.load(Ordering::SeqCst) > 0 {
                    futex_wake(&self.state, 1);
                }
                return Reserve::Full;
            }
            if !MODEL && spins < SPIN_ROUNDS {
                spins += 1;
                if spins < SPIN_ROUNDS / 2 {
                    std::hint::spin_loop();
                } else {
                    std::thread::yield_now();
                }
                continue;
            }
            // Announce the sleep, then sleep only if `state` is still what we saw: a get that
            // changed it before our wait returns at once; one after it sees `put_waiters`.
            self.put_waiters.fetch_add(1, Ordering::SeqCst);
            fence_for_model();
            futex_wait(&self.state, state, deadline);
            self.put_waiters.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Gives back a place taken by [`reserve`](Self::reserve) whose item was not sent.
    pub fn unreserve(&self) {
        if self.unfinished.fetch_sub(1, Ordering::AcqRel) == 1 {
            futex_wake(&self.unfinished, WAKE_ALL);
        }
        self.took();
    }

    /// An item left the queue: frees its place and wakes a putter that sleeps for one.
    pub fn took(&self) {
        self.state.fetch_sub(1, Ordering::SeqCst);
        fence_for_model();
        if self.put_waiters.load(Ordering::SeqCst) > 0 {
            futex_wake(&self.state, 1);
        }
    }

    /// Marks one item done; wakes the joiners when none is left.
    pub fn task_done(&self) -> Result<(), TooManyTaskDone> {
        let mut current = self.unfinished.load(Ordering::Acquire);
        loop {
            if current == 0 {
                return Err(TooManyTaskDone);
            }
            match self.unfinished.compare_exchange_weak(
                current,
                current - 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(now) => current = now,
            }
        }
        if current == 1 {
            futex_wake(&self.unfinished, WAKE_ALL);
        }
        Ok(())
    }

    /// Waits until no item is unfinished, or `deadline`; whether none is.
    pub fn join_until(&self, deadline: Option<Instant>) -> bool {
        loop {
            let left = self.unfinished.load(Ordering::Acquire);
            if left == 0 {
                return true;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return false;
            }
            futex_wait(&self.unfinished, left, deadline);
        }
    }

    /// Sets the shutdown bit and wakes every sleeping putter (they see the bit and fail).
    pub fn shut(&self) {
        self.state.fetch_or(SHUT, Ordering::SeqCst);
        futex_wake(&self.state, WAKE_ALL);
    }

    /// Whether the shutdown bit is set.
    pub fn is_shut(&self) -> bool {
        self.state.load(Ordering::Acquire) & SHUT != 0
    }

    /// Places taken: items queued plus puts under way.
    pub fn queued(&self) -> u32 {
        self.state.load(Ordering::Acquire) & !SHUT
    }

    /// Items put and not yet marked done.
    pub fn unfinished(&self) -> u32 {
        self.unfinished.load(Ordering::Acquire)
    }
}
