//! A private shim that swaps the atomics, `Arc`, `Mutex` and thread parking used by the queues'
//! wait logic for loom's model-checked versions under `--cfg weft_loom`.

#[cfg(not(weft_loom))]
mod imp {
    pub(crate) use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
    pub(crate) use std::sync::Arc;
    pub(crate) use std::thread::{current, park, park_timeout, Thread};

    pub(crate) type Mutex<T> = parking_lot::Mutex<T>;

    /// Where the wait protocol relies on `SeqCst` store-load ordering between two locations.
    /// Outside loom this is a no-op: the queue operations it follows already perform a `SeqCst`
    /// read-modify-write or fence (crossbeam-queue's push and pop do), and the counters are `SeqCst`.
    #[inline(always)]
    pub(crate) fn model_fence() {}

    pub(crate) const MODEL: bool = false;

    /// One step of a short wait for another thread's non-blocking operation to finish.
    #[inline]
    pub(crate) fn snooze(backoff: &crossbeam_utils::Backoff) {
        backoff.snooze();
    }
}

#[cfg(weft_loom)]
mod imp {
    pub(crate) use ::loom::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
    pub(crate) use ::loom::sync::Arc;
    pub(crate) use ::loom::thread::{current, park, Thread};

    /// loom does not model time: a timed park is an untimed one.
    pub(crate) fn park_timeout(_: std::time::Duration) {
        park();
    }

    /// A loom mutex with parking_lot's signature (`lock` gives the guard directly).
    #[derive(Debug, Default)]
    pub(crate) struct Mutex<T>(::loom::sync::Mutex<T>);

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Self(::loom::sync::Mutex::new(value))
        }

        pub(crate) fn lock(&self) -> ::loom::sync::MutexGuard<'_, T> {
            self.0.lock().unwrap_or_else(|e| e.into_inner())
        }
    }

    /// loom treats `SeqCst` accesses as acquire/release and so cannot see the store-load order
    /// the protocol relies on; an explicit `SeqCst` fence, which loom does model, stands in for it.
    pub(crate) fn model_fence() {
        ::loom::sync::atomic::fence(Ordering::SeqCst);
    }

    pub(crate) const MODEL: bool = true;

    /// In a model, a wait loop must yield to loom's scheduler.
    pub(crate) fn snooze(_backoff: &crossbeam_utils::Backoff) {
        ::loom::thread::yield_now();
    }
}

pub(crate) use imp::*;
