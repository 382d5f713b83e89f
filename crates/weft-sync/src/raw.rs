//! [`RawLock`], the lock under [`Lock`](crate::Lock), [`RLock`](crate::RLock) and
//! [`Condition`](crate::Condition), and [`RawCondvar`], `Condition`'s condition variable.
//!
//! The lock is parking_lot's design, written here on `parking_lot_core`: one byte holds a
//! `LOCKED` bit and a `PARKED` bit (some thread is parked waiting for the lock). A waiter spins a
//! little, then sets `PARKED` and parks in parking_lot_core's table under the lock's address. An
//! unlock that finds `PARKED` set wakes one parked thread, and hands the lock straight to it
//! (without unlocking) when parking_lot_core says it is time to be fair, about every 0.5 ms, so
//! that no waiter starves.
//!
//! Why not parking_lot's own `Mutex`: its timed lock spins and then yields the core up to seven
//! times before it looks at the deadline, whenever nobody is parked yet. On a busy machine each
//! yield can give a whole time slice away: 100 `acquire_timeout(1 ms)` calls took 3.2–4.3 s
//! with four threads spinning on two cores, against 0.11–0.25 s for 100 `park_timeout(1 ms)`
//! (the weft-sync audit of 2026-11-27). Here a timed lock spins only its `spin_loop` rounds, as
//! weft's other timed waits do ([`spin_until_deadline`](crate::spin_until_deadline)), and then
//! parks with its deadline. An untimed lock keeps parking_lot's spin and yields, so its speed is
//! parking_lot's.
//!
//! The condition variable parks its waiters under its own address. A waiter is queued before it
//! releases the lock (in parking_lot_core's `before_sleep`), so a notify made after the release
//! always finds it; woken, it takes the lock again. As parking_lot's `Condvar` does, a notify made
//! while the lock is held moves the waiter onto the lock's queue instead of waking it (woken, it
//! would only find the lock held and park again; 25–27 µs against 6–7 µs a ping-pong round trip
//! without this); the unlock wakes it, or hands it the lock.
//!
//! Under `--cfg weft_loom` the atomics and the parking table are the models of `crate::loom`,
//! and `Lock`, `RLock` and a `Condition` made by `new` use parking_lot's types instead (a `const
//! fn new` cannot create loom's atomics, and a `static` must outlive every model). A `Condition`
//! made by its loom-only `model` constructor runs on this lock and condition variable, over the
//! model parking table, so the models of tests/loom.rs check its waiter count, timeouts
//! included; the models at the end of this file check the lock and the condition variable
//! themselves.

#![cfg_attr(
    weft_loom,
    allow(
        dead_code,
        reason = "under the models only the models and a model `Condition` use the raw lock"
    )
)]

use std::time::Instant;

use crate::loom::lot::{self, ParkResult, RequeueOp, UnparkResult, UnparkToken};
use crate::loom::{AtomicU8, Ordering, MODEL};

/// The lock is held.
const LOCKED: u8 = 1;
/// Some thread is parked waiting for the lock (or about to park).
const PARKED: u8 = 2;
/// The token an unlock gives a thread it hands the lock to: that thread now holds it.
const HANDOFF: UnparkToken = UnparkToken(1);
/// Rounds of 2, 4 and 8 `spin_loop` hints before a waiter parks (or yields).
const SPIN_ROUNDS: u32 = 3;
/// `thread::yield_now` calls after the spin rounds, for an untimed lock only.
const YIELDS: u32 = 7;

/// A one-byte lock whose timed acquire never yields the core: see the module.
#[derive(Debug)]
pub(crate) struct RawLock {
    state: AtomicU8,
}

impl RawLock {
    /// An unlocked lock.
    #[cfg(not(weft_loom))]
    pub(crate) const fn new() -> Self {
        Self {
            state: AtomicU8::new(0),
        }
    }

    /// An unlocked lock.
    #[cfg(weft_loom)]
    pub(crate) fn new() -> Self {
        Self {
            state: AtomicU8::new(0),
        }
    }

    /// The key of the lock's waiters in the parking table.
    fn key(&self) -> usize {
        std::ptr::from_ref(self) as usize
    }

    /// Takes the lock, waiting as long as it takes.
    #[inline]
    pub(crate) fn lock(&self) {
        if self
            .state
            .compare_exchange_weak(0, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.lock_slow(None);
        }
    }

    /// Takes the lock if it is free.
    #[inline]
    pub(crate) fn try_lock(&self) -> bool {
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            if state & LOCKED != 0 {
                return false;
            }
            match self.state.compare_exchange_weak(
                state,
                state | LOCKED,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => state = now,
            }
        }
    }

    /// Takes the lock, waiting until `deadline` at most; whether it took it.
    #[inline]
    pub(crate) fn try_lock_until(&self, deadline: Instant) -> bool {
        self.state
            .compare_exchange_weak(0, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
            || self.lock_slow(Some(deadline))
    }

    /// Whether some thread holds the lock.
    #[inline]
    pub(crate) fn is_locked(&self) -> bool {
        self.state.load(Ordering::Relaxed) & LOCKED != 0
    }

    /// Releases the lock.
    ///
    /// # Safety
    /// The caller holds the lock.
    #[inline]
    pub(crate) unsafe fn unlock(&self) {
        if self
            .state
            .compare_exchange(LOCKED, 0, Ordering::Release, Ordering::Relaxed)
            .is_err()
        {
            self.unlock_slow(false);
        }
    }

    /// Releases the lock, handing it to a parked thread if there is one.
    ///
    /// # Safety
    /// The caller holds the lock.
    #[inline]
    pub(crate) unsafe fn unlock_fair(&self) {
        if self
            .state
            .compare_exchange(LOCKED, 0, Ordering::Release, Ordering::Relaxed)
            .is_err()
        {
            self.unlock_slow(true);
        }
    }

    /// Sets `PARKED` if the lock is held; whether it is. Called by a notify under the parking
    /// table's lock of this key, before it moves a waiter onto the lock's queue: an unlock that
    /// sees `PARKED` takes that lock too, so it wakes the moved waiter.
    fn mark_parked_if_locked(&self) -> bool {
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            if state & LOCKED == 0 {
                return false;
            }
            match self.state.compare_exchange_weak(
                state,
                state | PARKED,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => state = now,
            }
        }
    }

    /// Sets `PARKED`: a notify moved waiters onto this lock's queue (under the table's lock of
    /// this key).
    fn mark_parked(&self) {
        self.state.fetch_or(PARKED, Ordering::Relaxed);
    }

    /// One round of waiting before parking, if the budget allows one; whether it waited. A timed
    /// lock only spins: a yield can cost a time slice, longer than a short timeout.
    fn spin(rounds: &mut u32, timed: bool) -> bool {
        if MODEL {
            return false;
        }
        if *rounds < SPIN_ROUNDS {
            *rounds += 1;
            for _ in 0..(1u32 << *rounds) {
                std::hint::spin_loop();
            }
            return true;
        }
        if !timed && *rounds < SPIN_ROUNDS + YIELDS {
            *rounds += 1;
            std::thread::yield_now();
            return true;
        }
        false
    }

    /// The contended acquire: spins, then parks until an unlock wakes it or `deadline` passes.
    /// Whether it took the lock (always, without a deadline).
    #[cold]
    fn lock_slow(&self, deadline: Option<Instant>) -> bool {
        let mut rounds = 0;
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            // Free: take it, even past threads that are parked (they were woken or will be).
            if state & LOCKED == 0 {
                match self.state.compare_exchange_weak(
                    state,
                    state | LOCKED,
                    Ordering::Acquire,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return true,
                    Err(now) => state = now,
                }
                continue;
            }
            // Nobody parked yet: the holder may let go soon.
            if state & PARKED == 0 && Self::spin(&mut rounds, deadline.is_some()) {
                state = self.state.load(Ordering::Relaxed);
                continue;
            }
            if state & PARKED == 0 {
                if let Err(now) = self.state.compare_exchange_weak(
                    state,
                    state | PARKED,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    state = now;
                    continue;
                }
            }
            // The table's bucket lock is held while `validate` and `timed_out` run, as it is
            // while an unlock's callback runs: the state they read and write is consistent
            // with the queue.
            let validate = || self.state.load(Ordering::Relaxed) == LOCKED | PARKED;
            let timed_out = |_key: usize, was_last: bool| {
                if was_last {
                    self.state.fetch_and(!PARKED, Ordering::Relaxed);
                }
            };
            // SAFETY: the key is this lock's address, which no other kind of waiter uses;
            // `validate` and `timed_out` neither panic nor call into the parking table, and
            // `before_sleep` does nothing.
            let parked = unsafe {
                lot::park(
                    self.key(),
                    validate,
                    || {},
                    timed_out,
                    lot::DEFAULT_PARK_TOKEN,
                    deadline,
                )
            };
            match parked {
                // The unlock that woke this thread handed it the lock.
                ParkResult::Unparked(token) if token == HANDOFF => return true,
                ParkResult::TimedOut => return false,
                // Woken by an unlock, or the lock changed before parking: try again.
                ParkResult::Unparked(_) | ParkResult::Invalid => {}
            }
            rounds = 0;
            state = self.state.load(Ordering::Relaxed);
        }
    }

    /// The unlock that found `PARKED` set: wakes one parked thread, handing it the lock when
    /// `fair` or when the table says it is time.
    #[cold]
    fn unlock_slow(&self, fair: bool) {
        let callback = |result: UnparkResult| {
            if result.unparked_threads != 0 && (fair || result.be_fair) {
                // The lock stays held, by the woken thread now.
                if !result.have_more_threads {
                    self.state.store(LOCKED, Ordering::Relaxed);
                }
                return HANDOFF;
            }
            let rest = if result.have_more_threads { PARKED } else { 0 };
            // A swap, not a store: the same for the hardware, but it keeps the state's changes
            // in one order for loom too (its models of a plain store after another thread's
            // read-modify-write let `validate` read the older value, a deadlock no hardware has).
            self.state.swap(rest, Ordering::Release);
            lot::DEFAULT_UNPARK_TOKEN
        };
        // SAFETY: the key is this lock's address; the callback neither panics nor calls into
        // the parking table.
        unsafe {
            lot::unpark_one(self.key(), callback);
        }
    }
}

/// Parks the thread that holds a [`RawLock`] until a notify or a deadline, releasing the lock
/// while it waits and taking it again before it returns: see the module. Used with one lock only
/// (each `Condition` has its own).
#[derive(Debug)]
pub(crate) struct RawCondvar {
    /// 1 while some thread may be parked here: set by a waiter as it queues itself, cleared
    /// by the notify that takes the last one or by the time-out of the last one (each under
    /// the table's lock of this key). A notify that reads 0 has nothing to do.
    waiters: AtomicU8,
}

impl RawCondvar {
    /// A condition variable nobody waits on.
    #[cfg(not(weft_loom))]
    pub(crate) const fn new() -> Self {
        Self {
            waiters: AtomicU8::new(0),
        }
    }

    /// A condition variable nobody waits on.
    #[cfg(weft_loom)]
    pub(crate) fn new() -> Self {
        Self {
            waiters: AtomicU8::new(0),
        }
    }

    fn key(&self) -> usize {
        std::ptr::from_ref(self) as usize
    }

    /// Waits for a notify or `deadline`; whether the wait timed out (never when a notify
    /// woke it: a wait is woken by a notify or times out, never both, and never for nothing).
    ///
    /// # Safety
    /// The caller holds `lock`, the only lock used with this condition variable; it holds it
    /// again when this returns.
    pub(crate) unsafe fn wait_until(&self, lock: &RawLock, deadline: Option<Instant>) -> bool {
        let key = self.key();
        let mut requeued = false;
        let validate = || {
            self.waiters.store(1, Ordering::Relaxed);
            true
        };
        // A notify that found the lock held moved this thread onto the lock's queue instead of
        // waking it: timing out there is not timing out, the notify counted it as woken.
        let timed_out = |at: usize, was_last: bool| {
            requeued = at != key;
            if !requeued && was_last {
                self.waiters.store(0, Ordering::Relaxed);
            }
        };
        // SAFETY: the key is this condition variable's address, used by no lock; `validate`
        // and `timed_out` neither panic nor call into the parking table; `before_sleep`
        // releases the lock the caller holds (which may wake a thread parked on the lock, under
        // another key, as the table allows; it does not park and does not panic).
        let parked = unsafe {
            lot::park(
                key,
                validate,
                || lock.unlock(),
                timed_out,
                lot::DEFAULT_PARK_TOKEN,
                deadline,
            )
        };
        match parked {
            // Moved onto the lock's queue, then handed the lock by an unlock.
            ParkResult::Unparked(token) if token == HANDOFF => {}
            _ => lock.lock(),
        }
        matches!(parked, ParkResult::TimedOut) && !requeued
    }

    /// Wakes the longest-waiting thread, if any; whether there was one. While `lock` is held
    /// the thread is moved onto the lock's queue instead, to be woken by the unlock: woken now,
    /// it would only find the lock held and park again.
    pub(crate) fn notify_one(&self, lock: &RawLock) -> bool {
        if self.waiters.load(Ordering::Relaxed) == 0 {
            return false;
        }
        let validate = || {
            if self.waiters.load(Ordering::Relaxed) == 0 {
                RequeueOp::Abort
            } else if lock.mark_parked_if_locked() {
                RequeueOp::RequeueOne
            } else {
                RequeueOp::UnparkOne
            }
        };
        let callback = |_op, result: UnparkResult| {
            if !result.have_more_threads {
                self.waiters.store(0, Ordering::Relaxed);
            }
            lot::DEFAULT_UNPARK_TOKEN
        };
        // SAFETY: the keys are this condition variable's and its lock's; the closures neither
        // panic nor call into the parking table.
        let result = unsafe { lot::unpark_requeue(self.key(), lock.key(), validate, callback) };
        result.unparked_threads + result.requeued_threads != 0
    }

    /// Wakes every waiting thread; how many there were. While `lock` is held they all move onto
    /// its queue; otherwise one is woken and the rest move (each unlock then wakes the next).
    pub(crate) fn notify_all(&self, lock: &RawLock) -> usize {
        if self.waiters.load(Ordering::Relaxed) == 0 {
            return 0;
        }
        let validate = || {
            if self.waiters.load(Ordering::Relaxed) == 0 {
                return RequeueOp::Abort;
            }
            // Every waiter is woken or moved.
            self.waiters.store(0, Ordering::Relaxed);
            if lock.mark_parked_if_locked() {
                RequeueOp::RequeueAll
            } else {
                RequeueOp::UnparkOneRequeueRest
            }
        };
        let callback = |op, result: UnparkResult| {
            if op == RequeueOp::UnparkOneRequeueRest && result.requeued_threads != 0 {
                lock.mark_parked();
            }
            lot::DEFAULT_UNPARK_TOKEN
        };
        // SAFETY: as for `notify_one`.
        let result = unsafe { lot::unpark_requeue(self.key(), lock.key(), validate, callback) };
        result.unparked_threads + result.requeued_threads
    }
}

#[cfg(not(weft_loom))]
mod api {
    use std::time::{Duration, Instant};

    use super::RawLock;

    // SAFETY: `lock`/`try_lock` return holding the lock exclusively and `unlock` releases it
    // (the acquire and release orderings of the state word order the data's accesses); the
    // guard is not `Send`, as parking_lot's is not without its `send_guard` feature.
    unsafe impl lock_api::RawMutex for RawLock {
        #[allow(
            clippy::declare_interior_mutable_const,
            reason = "lock_api's INIT pattern"
        )]
        const INIT: RawLock = RawLock::new();
        type GuardMarker = lock_api::GuardNoSend;

        #[inline]
        fn lock(&self) {
            RawLock::lock(self);
        }

        #[inline]
        fn try_lock(&self) -> bool {
            RawLock::try_lock(self)
        }

        #[inline]
        unsafe fn unlock(&self) {
            // SAFETY: lock_api calls it only while the lock is held.
            unsafe { RawLock::unlock(self) }
        }

        #[inline]
        fn is_locked(&self) -> bool {
            RawLock::is_locked(self)
        }
    }

    // SAFETY: as above; a fair unlock hands the lock over or releases it.
    unsafe impl lock_api::RawMutexFair for RawLock {
        #[inline]
        unsafe fn unlock_fair(&self) {
            // SAFETY: lock_api calls it only while the lock is held.
            unsafe { RawLock::unlock_fair(self) }
        }
    }

    // SAFETY: a timed lock returns `true` only holding the lock.
    unsafe impl lock_api::RawMutexTimed for RawLock {
        type Duration = Duration;
        type Instant = Instant;

        #[inline]
        fn try_lock_for(&self, timeout: Duration) -> bool {
            match Instant::now().checked_add(timeout) {
                Some(deadline) => self.try_lock_until(deadline),
                None => {
                    self.lock();
                    true
                }
            }
        }

        #[inline]
        fn try_lock_until(&self, deadline: Instant) -> bool {
            RawLock::try_lock_until(self, deadline)
        }
    }
}

/// The lock types `Lock`, `RLock` and `Condition` are built on: lock_api's over [`RawLock`], or
/// under `--cfg weft_loom` parking_lot's (see the module).
#[cfg(not(weft_loom))]
pub(crate) mod types {
    pub(crate) type Mutex<T> = lock_api::Mutex<super::RawLock, T>;
    pub(crate) type MutexGuard<'a, T> = lock_api::MutexGuard<'a, super::RawLock, T>;
    pub(crate) type ReentrantMutex<T> =
        lock_api::ReentrantMutex<super::RawLock, parking_lot::RawThreadId, T>;
    pub(crate) type ReentrantMutexGuard<'a, T> =
        lock_api::ReentrantMutexGuard<'a, super::RawLock, parking_lot::RawThreadId, T>;
    /// `Condition`'s lock: `Lock`'s (not so under the models).
    pub(crate) type CondMutex<T> = Mutex<T>;
    /// [`CondMutex`]'s guard.
    pub(crate) type CondMutexGuard<'a, T> = MutexGuard<'a, T>;

    /// `Condition`'s condition variable, over [`RawCondvar`](super::RawCondvar).
    #[derive(Debug)]
    pub(crate) struct Condvar(super::RawCondvar);

    impl Condvar {
        pub(crate) const fn new() -> Self {
            Self(super::RawCondvar::new())
        }

        /// Waits with `guard`'s lock released until a notify or `deadline`; whether it timed out.
        pub(crate) fn wait_until<T: ?Sized>(
            &self,
            guard: &mut MutexGuard<'_, T>,
            deadline: Option<std::time::Instant>,
        ) -> bool {
            // SAFETY: `raw` is unsafe because the lock could be released under a live guard;
            // `wait_until` releases it only while this thread waits, and holds it again before
            // it returns, so the guard's hold is whole whenever the guard is usable.
            unsafe {
                let raw = lock_api::MutexGuard::mutex(guard).raw();
                self.0.wait_until(raw, deadline)
            }
        }

        /// Wakes one waiter; `mutex` is the one it waits with.
        pub(crate) fn notify_one<T: ?Sized>(&self, mutex: &Mutex<T>) -> bool {
            // SAFETY: only the raw lock's state is read and marked; nothing is unlocked.
            self.0.notify_one(unsafe { mutex.raw() })
        }

        /// Wakes every waiter; `mutex` is the one they wait with.
        pub(crate) fn notify_all<T: ?Sized>(&self, mutex: &Mutex<T>) -> usize {
            // SAFETY: as for `notify_one`.
            self.0.notify_all(unsafe { mutex.raw() })
        }
    }
}

/// See the non-loom `types`: parking_lot's own for `Lock` and `RLock` under the models, and for
/// `Condition` either parking_lot's (made by `new`, `const`, as a `static` needs: no model sees
/// it) or the raw lock and condition variable over the model parking table (made by `model`).
#[cfg(weft_loom)]
pub(crate) mod types {
    use std::time::{Duration, Instant};

    pub(crate) use parking_lot::{Mutex, MutexGuard, ReentrantMutex, ReentrantMutexGuard};

    use super::{RawCondvar, RawLock};

    /// `Condition`'s raw lock under the models: parking_lot's, or the model one.
    #[derive(Debug)]
    pub(crate) enum CondLock {
        /// A `Mutex<()>` rather than its raw lock: the condition variable waits with a guard of
        /// it.
        Plain(Mutex<()>),
        Model(RawLock),
    }

    /// `Condition`'s lock under the models.
    pub(crate) type CondMutex<T> = lock_api::Mutex<CondLock, T>;
    /// [`CondMutex`]'s guard.
    pub(crate) type CondMutexGuard<'a, T> = lock_api::MutexGuard<'a, CondLock, T>;

    // SAFETY: each variant is a lock that holds exclusively between a successful `lock` or
    // `try_lock` and the `unlock`; the guard is not `Send`, as parking_lot's.
    unsafe impl lock_api::RawMutex for CondLock {
        #[allow(
            clippy::declare_interior_mutable_const,
            reason = "lock_api's INIT pattern"
        )]
        const INIT: CondLock = CondLock::Plain(Mutex::new(()));
        type GuardMarker = lock_api::GuardNoSend;

        fn lock(&self) {
            match self {
                // SAFETY: locking is safe; only releasing under a live guard would not be.
                Self::Plain(m) => unsafe { lock_api::RawMutex::lock(m.raw()) },
                Self::Model(l) => l.lock(),
            }
        }

        fn try_lock(&self) -> bool {
            match self {
                // SAFETY: as for `lock`.
                Self::Plain(m) => unsafe { lock_api::RawMutex::try_lock(m.raw()) },
                Self::Model(l) => l.try_lock(),
            }
        }

        unsafe fn unlock(&self) {
            match self {
                // SAFETY: lock_api calls it only while the lock is held.
                Self::Plain(m) => unsafe { lock_api::RawMutex::unlock(m.raw()) },
                // SAFETY: as above.
                Self::Model(l) => unsafe { l.unlock() },
            }
        }

        fn is_locked(&self) -> bool {
            match self {
                Self::Plain(m) => m.is_locked(),
                Self::Model(l) => l.is_locked(),
            }
        }
    }

    // SAFETY: a timed lock returns `true` only holding the lock.
    unsafe impl lock_api::RawMutexTimed for CondLock {
        type Duration = Duration;
        type Instant = Instant;

        fn try_lock_for(&self, timeout: Duration) -> bool {
            match Instant::now().checked_add(timeout) {
                Some(deadline) => self.try_lock_until(deadline),
                None => {
                    lock_api::RawMutex::lock(self);
                    true
                }
            }
        }

        fn try_lock_until(&self, deadline: Instant) -> bool {
            match self {
                // SAFETY: as for `lock`.
                Self::Plain(m) => unsafe {
                    lock_api::RawMutexTimed::try_lock_until(m.raw(), deadline)
                },
                Self::Model(l) => l.try_lock_until(deadline),
            }
        }
    }

    /// `Condition`'s condition variable under the models: parking_lot's, or the model one
    /// (always with the lock of the same kind).
    #[derive(Debug)]
    pub(crate) enum Condvar {
        Plain(parking_lot::Condvar),
        Model(RawCondvar),
    }

    impl Condvar {
        pub(crate) const fn new() -> Self {
            Self::Plain(parking_lot::Condvar::new())
        }

        pub(crate) fn model() -> Self {
            Self::Model(RawCondvar::new())
        }

        pub(crate) fn wait_until<T: ?Sized>(
            &self,
            guard: &mut CondMutexGuard<'_, T>,
            deadline: Option<Instant>,
        ) -> bool {
            // SAFETY: the lock is released only while this thread waits, and held again before
            // this returns, so the guard's hold is whole whenever the guard is usable.
            let raw = unsafe { lock_api::MutexGuard::mutex(guard).raw() };
            match (self, raw) {
                (Self::Plain(cv), CondLock::Plain(m)) => {
                    // SAFETY: `guard` holds `m`; this guard stands for it during the wait and is
                    // forgotten after, so the lock stays held by `guard`.
                    let mut plain = unsafe { m.make_guard_unchecked() };
                    let timed_out = match deadline {
                        Some(deadline) => cv.wait_until(&mut plain, deadline).timed_out(),
                        None => {
                            cv.wait(&mut plain);
                            false
                        }
                    };
                    std::mem::forget(plain);
                    timed_out
                }
                // SAFETY: the caller holds `l`, the only lock used with `cv`.
                (Self::Model(cv), CondLock::Model(l)) => unsafe { cv.wait_until(l, deadline) },
                _ => unreachable!("a Condition's lock and condition variable are of one kind"),
            }
        }

        pub(crate) fn notify_one<T: ?Sized>(&self, mutex: &CondMutex<T>) -> bool {
            // SAFETY: only the raw lock's state is read and marked; nothing is unlocked.
            match (self, unsafe { mutex.raw() }) {
                (Self::Plain(cv), _) => cv.notify_one(),
                (Self::Model(cv), CondLock::Model(l)) => cv.notify_one(l),
                _ => unreachable!("a Condition's lock and condition variable are of one kind"),
            }
        }

        pub(crate) fn notify_all<T: ?Sized>(&self, mutex: &CondMutex<T>) -> usize {
            // SAFETY: as for `notify_one`.
            match (self, unsafe { mutex.raw() }) {
                (Self::Plain(cv), _) => cv.notify_all(),
                (Self::Model(cv), CondLock::Model(l)) => cv.notify_all(l),
                _ => unreachable!("a Condition's lock and condition variable are of one kind"),
            }
        }
    }
}

/// loom models of the lock and the condition variable, over the model parking table of
/// `crate::loom::lot` (every other unlock that wakes a thread hands the lock over; a timed park
/// not woken yet times out the first time it runs). loom reports a lost wake-up as a deadlock.
#[cfg(all(test, weft_loom))]
mod models {
    use std::time::{Duration, Instant};

    use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use loom::sync::Arc;
    use loom::thread;

    use super::{RawCondvar, RawLock};

    /// Runs `f` as a loom model twice: with the first unpark of each execution fair (a
    /// hand-off), and not; the later ones alternate (see `crate::loom::lot`).
    fn model(f: impl Fn() + Send + Sync + 'static) {
        let f = std::sync::Arc::new(f);
        for fair in [true, false] {
            crate::loom::lot::first_unpark_fair(fair);
            let f = std::sync::Arc::clone(&f);
            loom::model(move || f());
        }
    }

    /// Takes `lock`, checks that nobody else holds it, releases it.
    fn exclusive(lock: &RawLock, holders: &AtomicUsize) {
        lock.lock();
        assert_eq!(holders.fetch_add(1, Ordering::SeqCst), 0);
        holders.fetch_sub(1, Ordering::SeqCst);
        // SAFETY: taken just above.
        unsafe { lock.unlock() };
    }

    /// A thread that tries `lock` with a deadline (which the model table lets pass at once),
    /// releases it if it got it, and says whether it did.
    fn timed_waiter(lock: &Arc<RawLock>) -> thread::JoinHandle<bool> {
        let lock = Arc::clone(lock);
        thread::spawn(move || {
            let got = lock.try_lock_until(Instant::now() + Duration::from_secs(60));
            if got {
                // SAFETY: taken just above.
                unsafe { lock.unlock() };
            }
            got
        })
    }

    /// Takes `lock`, waiting as long as it takes, and releases it.
    fn lock_and_unlock(lock: &RawLock) {
        lock.lock();
        // SAFETY: taken just above.
        unsafe { lock.unlock() };
    }

    /// Three threads contending: never two holders, all finish (every parked thread is woken,
    /// by a plain or a hand-over unlock), and the lock ends free with no `PARKED` bit left.
    #[test]
    fn three_threads_exclude_each_other() {
        model(|| {
            let lock = Arc::new(RawLock::new());
            let holders = Arc::new(AtomicUsize::new(0));
            let others: Vec<_> = (0..2)
                .map(|_| {
                    let (lock, holders) = (Arc::clone(&lock), Arc::clone(&holders));
                    thread::spawn(move || exclusive(&lock, &holders))
                })
                .collect();
            exclusive(&lock, &holders);
            for t in others {
                t.join().unwrap();
            }
            assert_eq!(lock.state.load(Ordering::SeqCst), 0);
        });
    }

    /// A timed lock of a held lock either gets it after the release or times out; either way
    /// the `PARKED` bit it set is cleared (by the unlock that woke it, or by its time-out), so
    /// the lock ends free and an untimed lock afterwards does not park for ever.
    #[test]
    fn a_timed_lock_gets_the_lock_or_times_out_cleanly() {
        model(|| {
            let lock = Arc::new(RawLock::new());
            lock.lock();
            let timed = timed_waiter(&lock);
            // SAFETY: taken above.
            unsafe { lock.unlock() };
            timed.join().unwrap();
            assert_eq!(lock.state.load(Ordering::SeqCst), 0);
            lock_and_unlock(&lock);
        });
    }

    /// A timed lock that times out while the lock stays held takes its `PARKED` bit back as
    /// the last parked thread, so the holder's unlock stays the fast one.
    #[test]
    fn a_timed_out_lock_clears_its_parked_bit() {
        model(|| {
            let lock = Arc::new(RawLock::new());
            lock.lock();
            let timed = timed_waiter(&lock);
            assert!(!timed.join().unwrap());
            assert_eq!(lock.state.load(Ordering::SeqCst), super::LOCKED);
            // SAFETY: taken above.
            unsafe { lock.unlock() };
        });
    }

    /// A timed and an untimed waiter on one held lock: whatever the timed one does, the untimed
    /// one is woken (a timed-out waiter that was not the last keeps `PARKED` set).
    #[test]
    fn a_timed_out_waiter_leaves_the_other_waiter_wakeable() {
        model(|| {
            let lock = Arc::new(RawLock::new());
            lock.lock();
            let timed = timed_waiter(&lock);
            let untimed = {
                let lock = Arc::clone(&lock);
                thread::spawn(move || lock_and_unlock(&lock))
            };
            // SAFETY: taken above.
            unsafe { lock.unlock() };
            timed.join().unwrap();
            untimed.join().unwrap();
            assert_eq!(lock.state.load(Ordering::SeqCst), 0);
        });
    }

    /// A notify made after the waiter released the lock always wakes it (the waiter is queued
    /// before it releases), and the waiter holds the lock again when its wait returns.
    #[test]
    fn a_notify_after_the_release_wakes_the_waiter() {
        model(|| {
            let lock = Arc::new(RawLock::new());
            let cv = Arc::new(RawCondvar::new());
            let flag = Arc::new(AtomicBool::new(false));
            let waiter = {
                let (lock, cv, flag) = (Arc::clone(&lock), Arc::clone(&cv), Arc::clone(&flag));
                thread::spawn(move || {
                    lock.lock();
                    while !flag.load(Ordering::Relaxed) {
                        // SAFETY: held; held again when it returns.
                        let timed_out = unsafe { cv.wait_until(&lock, None) };
                        assert!(!timed_out);
                        assert!(lock.is_locked());
                    }
                    // SAFETY: held.
                    unsafe { lock.unlock() };
                })
            };
            lock.lock();
            flag.store(true, Ordering::Relaxed);
            cv.notify_one(&lock);
            // SAFETY: taken above.
            unsafe { lock.unlock() };
            waiter.join().unwrap();
            assert_eq!(lock.state.load(Ordering::SeqCst), 0);
        });
    }

    /// `notify_all` with the lock held moves both waiters onto the lock's queue, and without it
    /// wakes one and moves the other: either way both wake, each holding the lock in turn, and
    /// the lock ends free with no `PARKED` bit left.
    #[test]
    fn notify_all_wakes_every_waiter_with_or_without_the_lock() {
        for held in [true, false] {
            model(move || {
                let lock = Arc::new(RawLock::new());
                let cv = Arc::new(RawCondvar::new());
                let flag = Arc::new(AtomicBool::new(false));
                let waiters: Vec<_> = (0..2)
                    .map(|_| {
                        let (lock, cv, flag) =
                            (Arc::clone(&lock), Arc::clone(&cv), Arc::clone(&flag));
                        thread::spawn(move || {
                            lock.lock();
                            while !flag.load(Ordering::Relaxed) {
                                // SAFETY: held; held again when it returns.
                                unsafe { cv.wait_until(&lock, None) };
                            }
                            // SAFETY: held.
                            unsafe { lock.unlock() };
                        })
                    })
                    .collect();
                lock.lock();
                flag.store(true, Ordering::Relaxed);
                if held {
                    cv.notify_all(&lock);
                    // SAFETY: taken above.
                    unsafe { lock.unlock() };
                } else {
                    // SAFETY: taken above.
                    unsafe { lock.unlock() };
                    cv.notify_all(&lock);
                }
                for w in waiters {
                    w.join().unwrap();
                }
                assert_eq!(lock.state.load(Ordering::SeqCst), 0);
            });
        }
    }

    /// A timed wait is woken by the notify or times out, never both: `notify_one` reports a
    /// wake-up exactly when the wait says it was notified.
    #[test]
    fn a_timed_wait_is_notified_or_times_out_never_both() {
        model(|| {
            let lock = Arc::new(RawLock::new());
            let cv = Arc::new(RawCondvar::new());
            let waiting = Arc::new(AtomicBool::new(false));
            let waiter = {
                let (lock, cv, waiting) =
                    (Arc::clone(&lock), Arc::clone(&cv), Arc::clone(&waiting));
                thread::spawn(move || {
                    lock.lock();
                    waiting.store(true, Ordering::Relaxed);
                    // SAFETY: held; held again when it returns.
                    let timed_out = unsafe {
                        cv.wait_until(&lock, Some(Instant::now() + Duration::from_secs(60)))
                    };
                    // SAFETY: held.
                    unsafe { lock.unlock() };
                    timed_out
                })
            };
            lock.lock();
            let was_waiting = waiting.load(Ordering::Relaxed);
            let woke = cv.notify_one(&lock);
            // SAFETY: taken above.
            unsafe { lock.unlock() };
            let timed_out = waiter.join().unwrap();
            // A waiter seen waiting under the lock is queued: the notify finds it unless it
            // timed out first.
            assert_eq!(woke, !timed_out && was_waiting);
            assert!(!woke || was_waiting);
        });
    }
}
