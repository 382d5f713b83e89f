//! A private shim that swaps the atomics, `Arc`, `Mutex` and thread parking used by the queues'
//! wait logic for loom's model-checked versions under `--cfg weft_loom`.

#[cfg(not(weft_loom))]
mod imp {
    pub(crate) use std::sync::atomic::{
        fence, AtomicBool, AtomicPtr, AtomicU64, AtomicU8, AtomicUsize, Ordering,
    };
    pub(crate) use std::sync::Arc;

    /// `std`'s `UnsafeCell` with loom's closure-based access, so the ring's slots are checked
    /// by loom under `weft_loom` and cost nothing otherwise.
    #[derive(Debug)]
    pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

    impl<T> UnsafeCell<T> {
        pub(crate) const fn new(value: T) -> Self {
            Self(std::cell::UnsafeCell::new(value))
        }

        #[inline(always)]
        pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
    }
    pub(crate) use std::thread::{current, park, park_timeout, Thread};

    pub(crate) type Mutex<T> = parking_lot::Mutex<T>;

    /// Where the wait protocol relies on `SeqCst` store-load ordering between two locations.
    /// Outside loom this is a no-op: the queue operations it follows already perform a `SeqCst`
    /// read-modify-write or fence (the ring's and the list's push and pop, a store's lock), and the
    /// counters are `SeqCst`.
    #[inline(always)]
    pub(crate) fn model_fence() {}

    pub(crate) const MODEL: bool = false;

    /// A ring operation that finds another one half done (a slot reserved but not yet written,
    /// or taken but not yet freed) waits a few spins for it: the other thread's step never
    /// blocks. (Under loom, see the other `Progress`.)
    #[derive(Debug)]
    pub(crate) struct Progress;

    impl Progress {
        pub(crate) const fn new() -> Self {
            Self
        }

        /// One ring operation completed.
        #[inline(always)]
        pub(crate) fn done(&self) {}

        /// One step of waiting for a half-done operation of another thread.
        #[inline]
        pub(crate) fn wait(&self, _ticket: &mut Option<u64>, backoff: &crossbeam_utils::Backoff) {
            backoff.snooze();
        }
    }

    /// One step of a short busy retry after losing a race.
    #[inline]
    pub(crate) fn spin(backoff: &crossbeam_utils::Backoff) {
        backoff.spin();
    }
}

#[cfg(weft_loom)]
mod imp {
    pub(crate) use ::loom::cell::UnsafeCell;
    pub(crate) use ::loom::sync::atomic::{
        fence, AtomicBool, AtomicPtr, AtomicU64, AtomicU8, AtomicUsize, Ordering,
    };
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

    /// Under loom a spinning wait for another thread's half-done ring operation cannot be
    /// modelled: loom may keep scheduling the spinners (or let them read an old stamp) for ever
    /// and exceed its branch limit (tokio-rs/loom#398 reports the same for this ring
    /// algorithm). So the waiter blocks instead until some ring operation completes: it first
    /// takes a ticket (the completion count, under a loom mutex) and looks again, which re-reads
    /// the ring after every operation completed so far; only if it still finds one half done
    /// does it sleep until the count moves. The first look of every operation stays lock-free,
    /// so its decisions (full, empty) still rest on the ring's own fences.
    #[derive(Debug)]
    pub(crate) struct Progress {
        completed: ::loom::sync::Mutex<u64>,
        moved: ::loom::sync::Condvar,
    }

    impl Progress {
        pub(crate) fn new() -> Self {
            Self {
                completed: ::loom::sync::Mutex::new(0),
                moved: ::loom::sync::Condvar::new(),
            }
        }

        pub(crate) fn done(&self) {
            *self.completed.lock().unwrap_or_else(|e| e.into_inner()) += 1;
            self.moved.notify_all();
        }

        pub(crate) fn wait(&self, ticket: &mut Option<u64>, _backoff: &crossbeam_utils::Backoff) {
            let mut completed = self.completed.lock().unwrap_or_else(|e| e.into_inner());
            match ticket.take() {
                None => *ticket = Some(*completed),
                Some(t) => {
                    while *completed == t {
                        completed = self
                            .moved
                            .wait(completed)
                            .unwrap_or_else(|e| e.into_inner());
                    }
                }
            }
        }
    }

    /// In a model, a retry loop must yield to loom's scheduler.
    pub(crate) fn spin(_backoff: &crossbeam_utils::Backoff) {
        ::loom::thread::yield_now();
    }
}

pub(crate) use imp::*;
