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
    use std::collections::HashMap;
    use std::time::Instant;

    pub(crate) use loom::sync::atomic::{AtomicU32, AtomicU64, Ordering};
    use loom::sync::{Condvar, Mutex};

    pub(crate) const MODEL: bool = true;

    /// loom treats `SeqCst` accesses as acquire/release and so cannot see the store-load order
    /// the protocol relies on; an explicit `SeqCst` fence, which loom does model, stands in for it.
    pub(crate) fn fence_for_model() {
        loom::sync::atomic::fence(Ordering::SeqCst);
    }

    loom::lazy_static! {
        /// The futex "hash bucket" for the whole model: how many wake-ups each word (by address)
        /// has had. Checking the word and sleeping are atomic with respect to a wake, as in the
        /// kernel.
        static ref BUCKET: (Mutex<HashMap<usize, u64>>, Condvar) =
            (Mutex::new(HashMap::new()), Condvar::new());
    }

    fn address(word: &AtomicU32) -> usize {
        std::ptr::from_ref(word) as usize
    }

    /// Sleeps while `word` holds `expected`, until a wake-up on that same word. loom does not
    /// model time: a deadline is ignored (the models wait to be woken).
    pub(crate) fn futex_wait(word: &AtomicU32, expected: u32, _deadline: Option<Instant>) {
        let (lock, cond) = &*BUCKET;
        let mut woken = lock.lock().unwrap_or_else(|e| e.into_inner());
        if word.load(Ordering::SeqCst) != expected {
            return;
        }
        let seen = woken.get(&address(word)).copied().unwrap_or(0);
        while woken.get(&address(word)).copied().unwrap_or(0) == seen {
            woken = cond.wait(woken).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Wakes the sleepers on `word` (all of them: a superset of the `n` a futex would wake; the
    /// count's range is checked as the real one is). A wake-up on another word wakes no one.
    pub(crate) fn futex_wake(word: &AtomicU32, n: u32) {
        assert!(
            n <= i32::MAX as u32,
            "futex wake count {n} reads as negative"
        );
        let (lock, cond) = &*BUCKET;
        let mut woken = lock.lock().unwrap_or_else(|e| e.into_inner());
        *woken.entry(address(word)).or_insert(0) += 1;
        cond.notify_all();
    }
}

pub(crate) use imp::*;
