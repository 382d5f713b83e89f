//! The waiter list of [`Condition`](super::Condition), [`Barrier`](super::Barrier) and
//! [`Event`](super::Event): a FIFO of
//! waiting tasks kept in a slab, each slot holding the task's waker until it is notified and then
//! the value it was notified with (a barrier's index or break cause).
//!
//! The list lives under its owner's mutex; every method takes `&mut self`. A waiter registers
//! with [`push`](WaitList::push) (getting a key), polls with [`poll`](WaitList::poll), and on
//! drop calls [`remove`](WaitList::remove), which tells whether it had been notified already (so
//! the owner can pass the notification on). [`notify_first`](WaitList::notify_first) marks the
//! oldest waiter notified and hands back its waker, to be woken by [`WakeList`] after the mutex is
//! released. No waker is dropped under the mutex either: `poll` and `remove` hand back the waker
//! they take out of a slot, for the caller to drop once it has released the mutex (a waker's drop
//! is user code, which may use the same primitive and so take that mutex). As in tokio's
//! `Notify`, a new waker is still cloned under the mutex. Slots are reused, so a list's memory is
//! bounded by the most waiters it held at once. Links and counts are `u32` (a slot is 32 bytes
//! with a unit value, the list 48): four billion waiters would need 128 GiB of slots before the
//! index could overflow.

use std::task::{Poll, Waker};

/// No slot: the end of a chain.
const NIL: u32 = u32::MAX;
/// A list that held more waiters than this at once frees its slots when the last one leaves.
const SHRINK_ABOVE: usize = 64;

enum State<P> {
    /// Registered, not yet notified; the waker is `None` until the first poll.
    Waiting(Option<Waker>),
    /// Notified with a value the waiter has not collected yet.
    Notified(P),
    /// Free; `next` chains the free slots.
    Vacant,
}

struct Slot<P> {
    state: State<P>,
    /// Neighbours in the FIFO while `Waiting`; `next` chains free slots while `Vacant`.
    prev: u32,
    next: u32,
}

pub(crate) struct WaitList<P> {
    slots: Vec<Slot<P>>,
    /// The oldest and the newest waiting slot.
    head: u32,
    tail: u32,
    /// The first vacant slot.
    free: u32,
    /// The number of waiting (not yet notified) slots.
    waiting: u32,
    /// The number of slots not vacant (waiting, or notified and not yet collected).
    occupied: u32,
}

impl<P> WaitList<P> {
    pub(crate) const fn new() -> Self {
        Self {
            slots: Vec::new(),
            head: NIL,
            tail: NIL,
            free: NIL,
            waiting: 0,
            occupied: 0,
        }
    }

    /// The number of waiters not yet notified.
    #[inline]
    pub(crate) fn waiting(&self) -> usize {
        self.waiting as usize
    }

    /// Appends a waiter at the back; returns its key.
    pub(crate) fn push(&mut self, waker: Option<Waker>) -> usize {
        let slot = Slot {
            state: State::Waiting(waker),
            prev: self.tail,
            next: NIL,
        };
        let key = if self.free == NIL {
            // Cannot fail: 2^32 slots of 32 bytes would not fit in memory first.
            let key = u32::try_from(self.slots.len())
                .ok()
                .filter(|&key| key != NIL);
            let key = key.expect("more than 4 billion waiters");
            self.slots.push(slot);
            key
        } else {
            let key = self.free;
            self.free = self.slots[key as usize].next;
            self.slots[key as usize] = slot;
            key
        };
        match self.tail {
            NIL => self.head = key,
            tail => self.slots[tail as usize].next = key,
        }
        self.tail = key;
        self.waiting += 1;
        self.occupied += 1;
        key as usize
    }

    /// Collects the waiter's value if it was notified (freeing its slot), otherwise stores `waker`
    /// to be woken by the notification. Also gives back the waker that `waker` displaced, to be
    /// dropped after the owner's mutex is released.
    pub(crate) fn poll(&mut self, key: usize, waker: &Waker) -> (Poll<P>, Option<Waker>) {
        let slot = &mut self.slots[key];
        match &mut slot.state {
            State::Waiting(stored) => {
                let displaced = match stored {
                    Some(w) if w.will_wake(waker) => None,
                    _ => stored.replace(waker.clone()),
                };
                (Poll::Pending, displaced)
            }
            State::Notified(_) => match self.release(key as u32) {
                State::Notified(value) => (Poll::Ready(value), None),
                _ => (Poll::Pending, None), // unreachable: the state was just matched
            },
            // A key is used by one waiter, which never polls after removing.
            State::Vacant => (Poll::Pending, None),
        }
    }

    /// Takes a waiter off the list: `None` if it was still waiting, or the value it had been
    /// notified with and not collected. Also gives back the waiter's stored waker, to be dropped
    /// after the owner's mutex is released.
    pub(crate) fn remove(&mut self, key: usize) -> (Option<P>, Option<Waker>) {
        match &self.slots[key].state {
            State::Waiting(_) => {
                self.unlink(key as u32);
                match self.release(key as u32) {
                    State::Waiting(waker) => (None, waker),
                    _ => (None, None), // unreachable: the state was just matched
                }
            }
            State::Notified(_) => match self.release(key as u32) {
                State::Notified(value) => (Some(value), None),
                _ => (None, None),
            },
            State::Vacant => (None, None),
        }
    }

    /// Notifies the oldest waiting waiter with `value`; returns `None` if nobody waits, else the
    /// waker to wake (itself `None` if the waiter has not been polled yet).
    pub(crate) fn notify_first(&mut self, value: P) -> Option<Option<Waker>> {
        let key = self.head;
        if key == NIL {
            return None;
        }
        self.unlink(key);
        match std::mem::replace(&mut self.slots[key as usize].state, State::Notified(value)) {
            State::Waiting(waker) => Some(waker),
            _ => Some(None), // unreachable: only waiting slots are linked
        }
    }

    /// Unlinks a waiting slot from the FIFO.
    fn unlink(&mut self, key: u32) {
        let slot = &self.slots[key as usize];
        let (prev, next) = (slot.prev, slot.next);
        match prev {
            NIL => self.head = next,
            p => self.slots[p as usize].next = next,
        }
        match next {
            NIL => self.tail = prev,
            n => self.slots[n as usize].prev = prev,
        }
        self.waiting -= 1;
    }

    /// Frees an unlinked slot; returns its old state.
    fn release(&mut self, key: u32) -> State<P> {
        let slot = &mut self.slots[key as usize];
        slot.next = self.free;
        slot.prev = NIL;
        self.free = key;
        let state = std::mem::replace(&mut slot.state, State::Vacant);
        self.occupied -= 1;
        if self.occupied == 0 && self.slots.len() > SHRINK_ABOVE {
            // After a burst of waiters, give the memory back once they have all gone.
            self.slots = Vec::new();
            self.free = NIL;
        }
        state
    }
}

/// Wakers collected under a lock, woken after it is released (waking a task on a multi-thread
/// runtime may unpark a worker thread, which must not happen under the lock).
pub(crate) struct WakeList {
    first: Option<Waker>,
    rest: Vec<Waker>,
}

impl WakeList {
    pub(crate) const fn new() -> Self {
        Self {
            first: None,
            rest: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, waker: Option<Waker>) {
        let Some(waker) = waker else { return };
        if self.first.is_none() {
            self.first = Some(waker);
        } else {
            self.rest.push(waker);
        }
    }

    /// Wakes every waker, also when one panics (a waker is user code): returns how many
    /// panicked and the first panic (the others' payloads are dropped).
    #[must_use = "a waker's panic is passed on or dropped with `drop_panic_payload`"]
    pub(crate) fn wake_all(self) -> (usize, Option<Box<dyn std::any::Any + Send>>) {
        let (mut panicked, mut first) = (0, None);
        for w in self.first.into_iter().chain(self.rest) {
            if let Err(payload) =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| w.wake()))
            {
                panicked += 1;
                match first {
                    None => first = Some(payload),
                    Some(_) => weft_sync::drop_panic_payload(payload),
                }
            }
        }
        (panicked, first)
    }

    /// As [`wake_all`](Self::wake_all), for a caller that must not unwind (it holds an outcome
    /// for its own caller, or is a destructor): a waker's panic is not passed on.
    pub(crate) fn wake_all_quietly(self) {
        if let (_, Some(payload)) = self.wake_all() {
            weft_sync::drop_panic_payload(payload);
        }
    }
}
