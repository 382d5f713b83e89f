//! A private shim: the atomics, futex calls and process-shared lock of [`ring`](crate::ring),
//! swapped for loom's model-checked versions under `--cfg weft_loom`.

#[cfg(not(weft_loom))]
mod imp {
    use std::time::Instant;

    use std::cell::UnsafeCell;

    use rustix::io::Errno;

    pub(crate) use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

    pub(crate) const MODEL: bool = false;

    /// A lock that processes sharing its memory take in turn: the C library's robust,
    /// process-shared mutex. When its holder dies (the kernel walks the dead thread's robust
    /// list), the next `lock` gets it with `owner_died` set instead of waiting for ever.
    #[repr(C)]
    pub(crate) struct ShmLock(UnsafeCell<libc::pthread_mutex_t>);

    // SAFETY: a pthread mutex is made to be locked and unlocked from any thread (and, being
    // process-shared, any process); all access goes through the C library's calls.
    unsafe impl Sync for ShmLock {}
    // SAFETY: as above; it is never moved while in use (it lives in a shared mapping).
    unsafe impl Send for ShmLock {}

    /// Holds a [`ShmLock`]; unlocks it when dropped.
    pub(crate) struct ShmGuard<'a>(&'a ShmLock);

    impl Drop for ShmGuard<'_> {
        fn drop(&mut self) {
            // SAFETY: the guard exists only while this thread holds the mutex, which was
            // initialized by `ShmLock::init`.
            unsafe { libc::pthread_mutex_unlock(self.0 .0.get()) };
        }
    }

    /// How many times `lock` tries before it sleeps.
    const LOCK_SPINS: u32 = 100;

    fn check(rc: libc::c_int) -> Result<(), Errno> {
        if rc == 0 {
            Ok(())
        } else {
            Err(Errno::from_raw_os_error(rc))
        }
    }

    impl ShmLock {
        /// Makes the (zeroed) memory at `this` a robust, process-shared mutex.
        ///
        /// # Safety
        /// `this` points to writable memory for a `ShmLock` that no other thread or process
        /// uses yet, and that stays mapped at this address while this process uses it.
        pub(crate) unsafe fn init(this: *mut ShmLock) -> Result<(), Errno> {
            let mut attr = std::mem::MaybeUninit::<libc::pthread_mutexattr_t>::uninit();
            // SAFETY: `attr` is initialized by the first call before the others use it and
            // destroyed once the mutex is made; `this` is ours alone (the caller's contract).
            unsafe {
                check(libc::pthread_mutexattr_init(attr.as_mut_ptr()))?;
                let made = check(libc::pthread_mutexattr_setpshared(
                    attr.as_mut_ptr(),
                    libc::PTHREAD_PROCESS_SHARED,
                ))
                .and_then(|()| {
                    check(libc::pthread_mutexattr_setrobust(
                        attr.as_mut_ptr(),
                        libc::PTHREAD_MUTEX_ROBUST,
                    ))
                })
                .and_then(|()| {
                    check(libc::pthread_mutex_init(
                        UnsafeCell::raw_get(std::ptr::addr_of!((*this).0)),
                        attr.as_ptr(),
                    ))
                });
                libc::pthread_mutexattr_destroy(attr.as_mut_ptr());
                made
            }
        }

        /// Takes the lock, waiting for it; the flag says that its last holder died holding it
        /// (the lock is now consistent again, and ours).
        pub(crate) fn lock(&self) -> Result<(ShmGuard<'_>, bool), Errno> {
            // A holder keeps the lock for a copy of one item: look again a few times before
            // sleeping in the kernel, which would cost both sides a system call.
            let mut rc = libc::EBUSY;
            for _ in 0..LOCK_SPINS {
                // SAFETY: the mutex was initialized by `ShmLock::init` before this memory was
                // shared (`ProcessQueue` does so on creation, and receivers map memory made that
                // way).
                rc = unsafe { libc::pthread_mutex_trylock(self.0.get()) };
                if rc != libc::EBUSY {
                    break;
                }
                std::hint::spin_loop();
            }
            if rc == libc::EBUSY {
                // SAFETY: as above.
                rc = unsafe { libc::pthread_mutex_lock(self.0.get()) };
            }
            match rc {
                0 => Ok((ShmGuard(self), false)),
                libc::EOWNERDEAD => {
                    // SAFETY: we hold the mutex (EOWNERDEAD hands it over); marking it consistent
                    // is what the holder must do before unlocking it.
                    unsafe { libc::pthread_mutex_consistent(self.0.get()) };
                    Ok((ShmGuard(self), true))
                }
                rc => Err(Errno::from_raw_os_error(rc)),
            }
        }
    }

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
    use std::time::Instant;

    use rustix::io::Errno;

    pub(crate) use loom::sync::atomic::{AtomicU32, AtomicU64, Ordering};
    use loom::sync::{Condvar, Mutex, MutexGuard};

    pub(crate) const MODEL: bool = true;

    /// The process-shared lock, as a loom mutex (whose holders never die in a model).
    #[derive(Default)]
    pub(crate) struct ShmLock(Mutex<()>);

    /// Holds a [`ShmLock`].
    pub(crate) type ShmGuard<'a> = MutexGuard<'a, ()>;

    impl ShmLock {
        /// Takes the lock; its holder never died.
        pub(crate) fn lock(&self) -> Result<(ShmGuard<'_>, bool), Errno> {
            Ok((self.0.lock().unwrap_or_else(|e| e.into_inner()), false))
        }
    }

    /// loom treats `SeqCst` accesses as acquire/release and so cannot see the store-load order
    /// the protocol relies on; an explicit `SeqCst` fence, which loom does model, stands in for it.
    pub(crate) fn fence_for_model() {
        loom::sync::atomic::fence(Ordering::SeqCst);
    }

    loom::lazy_static! {
        /// One futex "hash bucket" for the whole model: the check of the word and the sleep are
        /// atomic with respect to a wake, as the kernel's are.
        static ref BUCKET: (Mutex<()>, Condvar) = (Mutex::new(()), Condvar::new());
    }

    /// Sleeps while `word` holds `expected`. loom does not model time: a deadline is ignored
    /// (the models use none), and any wake-up wakes every sleeper (futex callers look again).
    pub(crate) fn futex_wait(word: &AtomicU32, expected: u32, _deadline: Option<Instant>) {
        let (lock, cond) = &*BUCKET;
        let guard = lock.lock().unwrap_or_else(|e| e.into_inner());
        if word.load(Ordering::SeqCst) != expected {
            return;
        }
        drop(cond.wait(guard));
    }

    /// Wakes the sleepers (all of them: a superset of the `n` a futex would wake; the count's
    /// range is checked as the real one is).
    pub(crate) fn futex_wake(_word: &AtomicU32, n: u32) {
        assert!(
            n <= i32::MAX as u32,
            "futex wake count {n} reads as negative"
        );
        let (lock, cond) = &*BUCKET;
        let _guard = lock.lock().unwrap_or_else(|e| e.into_inner());
        cond.notify_all();
    }
}

pub(crate) use imp::*;
