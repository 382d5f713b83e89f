//! The first-in first-out list that holds a condition's waiters, with removal from the middle in
//! constant time.
//!
//! A waiter that gives up (a timed-out thread, a dropped future) must leave the list wherever it
//! stands. With a plain deque that meant a scan: 100 000 pending `get_async` futures dropped
//! newest first took about 3 s, against 2.6 ms oldest first. Here every entry lives in a slot of
//! a vector, linked to its neighbours by index, and its key (the slot's index) is what the waiter
//! keeps to leave; freed slots are chained for reuse, so the vector is as long as the most
//! entries held at once, and it is emptied whenever the last entry goes: keeping its capacity
//! up to [`KEEP_SLOTS`] slots, freeing it after a larger burst (the deque before it kept any
//! capacity for the queue's life: 16 MB after a million waiters). Links are `u32`: a slot is 24
//! bytes with a waiter list's entry.

/// No slot: the end of a chain.
const NIL: u32 = u32::MAX;
/// The most slots an emptied list keeps room for (1.5 KiB); a larger vector is freed.
const KEEP_SLOTS: usize = 64;

struct Slot<E> {
    /// The entry; `None` while the slot is free.
    entry: Option<E>,
    /// The neighbours in the list while occupied; `next` chains the free slots otherwise.
    prev: u32,
    next: u32,
}

pub(crate) struct Fifo<E> {
    slots: Vec<Slot<E>>,
    /// The oldest and the newest entry.
    head: u32,
    tail: u32,
    /// The first free slot.
    free: u32,
    len: u32,
}

impl<E> Fifo<E> {
    pub(crate) const fn new() -> Self {
        Self {
            slots: Vec::new(),
            head: NIL,
            tail: NIL,
            free: NIL,
            len: 0,
        }
    }

    /// Appends `entry` at the back; returns the key that [`remove`](Self::remove) takes.
    pub(crate) fn push_back(&mut self, entry: E) -> u32 {
        let slot = Slot {
            entry: Some(entry),
            prev: self.tail,
            next: NIL,
        };
        let key = match self.free {
            NIL => {
                // 2^32 slots of 24 bytes would not fit in this machine's memory, nor would the
                // threads or tasks behind them.
                let key = u32::try_from(self.slots.len())
                    .ok()
                    .filter(|&k| k != NIL)
                    .expect("more than 4 billion waiters on one queue");
                self.slots.push(slot);
                key
            }
            key => {
                let free = &mut self.slots[key as usize];
                self.free = free.next;
                *free = slot;
                key
            }
        };
        match self.tail {
            NIL => self.head = key,
            tail => self.slots[tail as usize].next = key,
        }
        self.tail = key;
        self.len += 1;
        key
    }

    /// Takes out the oldest entry.
    pub(crate) fn pop_front(&mut self) -> Option<E> {
        match self.head {
            NIL => None,
            key => self.take(key),
        }
    }

    /// Takes out the entry that `key` was given for, which `is_it` recognises. A key is only
    /// passed while its entry is in the list (the callers know that from the entry's state, under
    /// the same lock), so the slot holds it; a slot that does not (a broken rule) falls back to a
    /// search rather than take another waiter's entry. A debug build then panics, but only after
    /// the search took the entry out: a thread's entry points to its stack, and the thread's frame
    /// goes as the panic unwinds it.
    pub(crate) fn remove(&mut self, key: u32, is_it: impl Fn(&E) -> bool) -> Option<E> {
        let at_key = self
            .slots
            .get(key as usize)
            .and_then(|slot| slot.entry.as_ref())
            .is_some_and(&is_it);
        if at_key {
            return self.take(key);
        }
        let mut at = self.head;
        let mut found = None;
        while at != NIL {
            let slot = &self.slots[at as usize];
            if slot.entry.as_ref().is_some_and(&is_it) {
                found = self.take(at);
                break;
            }
            at = slot.next;
        }
        debug_assert!(false, "a waiter's key does not name its entry");
        found
    }

    /// Takes every entry out, oldest first.
    pub(crate) fn drain(&mut self) -> Vec<E> {
        let mut entries = Vec::with_capacity(self.len as usize);
        while let Some(entry) = self.pop_front() {
            entries.push(entry);
        }
        entries
    }

    /// Unlinks the occupied slot `key` and frees it.
    fn take(&mut self, key: u32) -> Option<E> {
        let slot = &mut self.slots[key as usize];
        let entry = slot.entry.take();
        let (prev, next) = (slot.prev, slot.next);
        slot.next = self.free;
        self.free = key;
        match prev {
            NIL => self.head = next,
            p => self.slots[p as usize].next = next,
        }
        match next {
            NIL => self.tail = prev,
            n => self.slots[n as usize].prev = prev,
        }
        self.len -= 1;
        if self.len == 0 {
            // No entry left: start the vector over, so the slots of a waiter that comes and goes
            // alone are always the first, and give the memory of a burst back.
            if self.slots.capacity() > KEEP_SLOTS {
                self.slots = Vec::new();
            } else {
                self.slots.clear();
            }
            self.free = NIL;
        }
        entry
    }
}

#[cfg(all(test, not(weft_loom)))]
mod tests {
    use super::*;

    fn contents(fifo: &mut Fifo<u32>) -> Vec<u32> {
        fifo.drain()
    }

    /// A list holding `0..n`, and the key of each.
    fn filled(n: u32) -> (Fifo<u32>, Vec<u32>) {
        let mut fifo = Fifo::new();
        let keys = (0..n).map(|v| fifo.push_back(v)).collect();
        (fifo, keys)
    }

    /// Removes the values `values`, in that order, by their keys.
    fn remove_each(fifo: &mut Fifo<u32>, keys: &[u32], values: impl Iterator<Item = u32>) {
        for v in values {
            assert_eq!(fifo.remove(keys[v as usize], |&e| e == v), Some(v));
        }
    }

    #[test]
    fn first_in_first_out_with_removals_anywhere() {
        let (mut fifo, keys) = filled(6);
        remove_each(&mut fifo, &keys, [3, 0, 5].into_iter());
        assert_eq!(fifo.pop_front(), Some(1));
        // Freed slots are reused, and the new entries go to the back.
        let seven = fifo.push_back(7);
        let eight = fifo.push_back(8);
        assert!(seven < 6 && eight < 6, "freed slots are reused");
        assert_eq!(fifo.remove(seven, |&e| e == 7), Some(7));
        assert_eq!(contents(&mut fifo), [2, 4, 8]);
        assert_eq!(fifo.pop_front(), None);
    }

    #[test]
    fn newest_first_removal_keeps_the_order_of_the_rest() {
        let (mut fifo, keys) = filled(100);
        remove_each(&mut fifo, &keys, (50..100).rev());
        for v in 0..25 {
            assert_eq!(fifo.pop_front(), Some(v));
        }
        assert_eq!(contents(&mut fifo), (25..50).collect::<Vec<_>>());
    }

    #[test]
    fn an_empty_list_starts_over() {
        let (mut fifo, keys) = filled(2);
        remove_each(&mut fifo, &keys, [1, 0].into_iter());
        assert_eq!(fifo.slots.len(), 0);
        assert_eq!(fifo.push_back(3), 0, "the first slot again");
        assert_eq!(contents(&mut fifo), [3]);
        assert!(fifo.slots.capacity() > 0, "a small list keeps its room");
    }

    /// After a burst of waiters, the emptied list frees its vector; while any entry is left it
    /// keeps it (keys index it).
    #[test]
    fn an_emptied_list_gives_a_burst_back() {
        let (mut fifo, keys) = filled(1000);
        remove_each(&mut fifo, &keys, (1..1000).rev());
        assert!(fifo.slots.capacity() >= 1000, "one entry is left");
        assert_eq!(fifo.pop_front(), Some(0));
        assert_eq!(fifo.slots.capacity(), 0);
        assert_eq!(fifo.push_back(5), 0);
        assert_eq!(contents(&mut fifo), [5]);
    }

    /// A key that does not name its entry (never passed: the callers' rule) still takes out
    /// that entry and no other. A debug build panics, but only once the entry is out: a thread's
    /// entry points into the frame the panic unwinds (the assertion used to fire before the
    /// search, leaving the entry in the list).
    #[test]
    fn a_wrong_key_takes_out_the_right_entry() {
        let (mut fifo, keys) = filled(4);
        let removed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            fifo.remove(keys[1], |&e| e == 2)
        }));
        if cfg!(debug_assertions) {
            assert!(removed.is_err(), "a debug build asserts");
        } else {
            assert_eq!(removed.ok(), Some(Some(2)));
        }
        assert_eq!(contents(&mut fifo), [0, 1, 3]);
    }

    /// The keys and links against a model (a plain vector) over a long pseudo-random mix of
    /// pushes, pops and removals at any position; the vector never outgrows the entries held.
    #[test]
    fn agrees_with_a_plain_vector() {
        let mut fifo = Fifo::new();
        let mut model: Vec<(u32, u32)> = Vec::new(); // (value, key), oldest first
        let mut seed = 0x9e37_79b9_u32;
        let mut next_value = 0;
        let (mut most, mut deepest) = (0, 0);
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            match seed % 4 {
                0 | 1 => {
                    let key = fifo.push_back(next_value);
                    model.push((next_value, key));
                    next_value += 1;
                }
                2 => {
                    let expected = (!model.is_empty()).then(|| model.remove(0).0);
                    assert_eq!(fifo.pop_front(), expected);
                }
                _ if !model.is_empty() => {
                    let (value, key) = model.remove((seed >> 8) as usize % model.len());
                    assert_eq!(fifo.remove(key, |&e| e == value), Some(value));
                }
                _ => {}
            }
            assert_eq!(fifo.len as usize, model.len());
            // Freed slots are reused before the vector grows: it is as long as the most entries
            // held at once since the list was last empty.
            most = if model.is_empty() {
                0
            } else {
                most.max(model.len())
            };
            assert_eq!(
                fifo.slots.len(),
                most,
                "the vector grew past the most entries held"
            );
            deepest = deepest.max(most);
        }
        assert!(deepest > 20, "the walk reached only {deepest} entries");
        let rest: Vec<u32> = model.iter().map(|&(v, _)| v).collect();
        assert_eq!(contents(&mut fifo), rest);
    }
}
