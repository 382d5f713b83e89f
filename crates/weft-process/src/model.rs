//! A private shim: the atomics and futex calls of [`ring`](crate::ring), swapped for loom's
//! model-checked versions under `--cfg weft_loom`.

#[cfg(not(weft_loom))]
mod imp {
    use std::time::Instant;

    pub(crate) use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

    pub(crate) const MODEL: bool = false;

    /// The protocol's store-load orders come from `SeqCst` read-modify-writes and the kernel's
    /// futex barrier; only loom, which treats `SeqCst` as acquire/release, needs a fence here.
    #[inline(always)]
    pub(crate) fn fence_for_model() {}

    /// Sleeps while `word` holds `expected`, until `deadline`; may return early for any reason
    /// (callers look again). A shared futex: it works on a page mapped by several processes.
    pub(crate) fn futex_wait(word: &AtomicU32, expected: u32, deadline: Option<Instant>) {
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            let timeout = deadline.map(crate::wire::timespec_until);
            let flags = rustix::thread::futex::Flags::empty();
            let _ = rustix::thread::futex::wait(word, flags, expected, timeout.as_ref());
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        {
            let _ = (word, expected, deadline);
            std::thread::yield_now();
        }
    }

    /// Wakes up to `n` sleepers on `word` (`n` at most `i32::MAX`: the kernel reads an `int`).
    pub(crate) fn futex_wake(word: &AtomicU32, n: u32) {
        debug_assert!(
            n <= i32::MAX as u32,
            "futex wake count {n} reads as negative"
        );
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            let _ = rustix::thread::futex::wake(word, rustix::thread::futex::Flags::empty(), n);
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        let _ = (word, n);
    }
}

#[cfg(weft_loom)]
mod imp {
    use std::collections::{HashMap, VecDeque};
    use std::time::Instant;

    pub(crate) use loom::sync::atomic::{AtomicU32, AtomicU64, Ordering};
    use loom::sync::{Condvar, Mutex};

    pub(crate) const MODEL: bool = true;

    /// loom treats `SeqCst` accesses as acquire/release and so cannot see the store-load order
    /// the protocol relies on; an explicit `SeqCst` fence, which loom does model, stands in for it.
    pub(crate) fn fence_for_model() {
        loom::sync::atomic::fence(Ordering::SeqCst);
    }

    /// The sleepers of one futex word, in the order they went to sleep, by ticket.
    #[derive(Default)]
    struct Word {
        asleep: VecDeque<u64>,
    }

    /// The futex "hash bucket" for the whole model.
    #[derive(Default)]
    struct Bucket {
        words: HashMap<usize, Word>,
        next_ticket: u64,
    }

    loom::lazy_static! {
        /// Checking the word and going to sleep are atomic with respect to a wake, as in the
        /// kernel.
        static ref BUCKET: (Mutex<Bucket>, Condvar) = (Mutex::new(Bucket::default()), Condvar::new());
    }

    fn address(word: &AtomicU32) -> usize {
        std::ptr::from_ref(word) as usize
    }

    /// Sleeps while `word` holds `expected`, until a wake-up on that same word picks this
    /// sleeper. loom does not model time: a deadline is ignored (the models wait to be woken).
    pub(crate) fn futex_wait(word: &AtomicU32, expected: u32, _deadline: Option<Instant>) {
        let (lock, cond) = &*BUCKET;
        let mut bucket = lock.lock().unwrap_or_else(|e| e.into_inner());
        if word.load(Ordering::SeqCst) != expected {
            return;
        }
        let ticket = bucket.next_ticket;
        bucket.next_ticket += 1;
        bucket
            .words
            .entry(address(word))
            .or_default()
            .asleep
            .push_back(ticket);
        while bucket.words[&address(word)].asleep.contains(&ticket) {
            bucket = cond.wait(bucket).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Wakes the `n` longest sleepers on `word` (as the kernel wakes the first `n` of its queue),
    /// and no one asleep on another word.
    pub(crate) fn futex_wake(word: &AtomicU32, n: u32) {
        assert!(
            n <= i32::MAX as u32,
            "futex wake count {n} reads as negative"
        );
        let (lock, cond) = &*BUCKET;
        let mut bucket = lock.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(sleepers) = bucket.words.get_mut(&address(word)) {
            for _ in 0..n.min(sleepers.asleep.len() as u32) {
                sleepers.asleep.pop_front();
            }
        }
        cond.notify_all();
    }
}

pub(crate) use imp::*;
