//! A private shim that swaps the atomics, `Arc`, `Mutex` and `Condvar` used by weft's own wait logic
//! for loom's model-checked versions under `--cfg weft_loom` (the shape of tokio's `loom` module).
//!
//! Outside loom the mutex and condition variable are parking_lot's. Under loom the mutex is
//! loom's and the condition variable parks on the model parking table ([`lot`]), so that a timed
//! wait can time out in the models. The API is value-style (`wait` takes the guard and gives it
//! back) so that both backends fit it.

use std::time::Instant;

#[cfg(not(weft_loom))]
mod imp {
    use std::time::Instant;

    pub(crate) use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
    pub(crate) use std::sync::Arc;

    pub(crate) type MutexGuard<'a, T> = parking_lot::MutexGuard<'a, T>;

    #[derive(Debug, Default)]
    pub(crate) struct Mutex<T>(parking_lot::Mutex<T>);

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Self(parking_lot::Mutex::new(value))
        }

        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            self.0.lock()
        }
    }

    #[derive(Debug, Default)]
    pub(crate) struct Condvar(parking_lot::Condvar);

    impl Condvar {
        pub(crate) fn new() -> Self {
            Self(parking_lot::Condvar::new())
        }

        /// Waits until notified or until `deadline` (never, for `None`); returns the guard and
        /// whether the wait timed out.
        pub(crate) fn wait_until<'a, T>(
            &self,
            mut guard: MutexGuard<'a, T>,
            deadline: Option<Instant>,
        ) -> (MutexGuard<'a, T>, bool) {
            let timed_out = match deadline {
                None => {
                    self.0.wait(&mut guard);
                    false
                }
                Some(deadline) => self.0.wait_until(&mut guard, deadline).timed_out(),
            };
            (guard, timed_out)
        }

        pub(crate) fn notify_one(&self) {
            self.0.notify_one();
        }

        pub(crate) fn notify_all(&self) {
            self.0.notify_all();
        }
    }

    pub(crate) type ThreadId = std::thread::ThreadId;

    /// The calling thread's id.
    pub(crate) fn thread_id() -> ThreadId {
        std::thread::current().id()
    }

    pub(crate) const MODEL: bool = false;
}

#[cfg(weft_loom)]
mod imp {
    use std::time::Instant;

    pub(crate) use ::loom::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
    pub(crate) use ::loom::sync::Arc;

    /// loom's guard, with the mutex it locks: a wait gives the lock up and takes it again.
    pub(crate) struct MutexGuard<'a, T> {
        mutex: &'a Mutex<T>,
        guard: ::loom::sync::MutexGuard<'a, T>,
    }

    impl<T> std::ops::Deref for MutexGuard<'_, T> {
        type Target = T;

        fn deref(&self) -> &T {
            &self.guard
        }
    }

    impl<T> std::ops::DerefMut for MutexGuard<'_, T> {
        fn deref_mut(&mut self) -> &mut T {
            &mut self.guard
        }
    }

    #[derive(Debug)]
    pub(crate) struct Mutex<T>(::loom::sync::Mutex<T>);

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Self(::loom::sync::Mutex::new(value))
        }

        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            MutexGuard {
                mutex: self,
                // No code run under these mutexes panics, so they are never poisoned.
                guard: self.0.lock().unwrap_or_else(|e| e.into_inner()),
            }
        }
    }

    /// A condition variable on the model parking table (`super::lot`), keyed by its address:
    /// one FIFO queue for timed and untimed waits, as parking_lot's `Condvar` has.
    ///
    /// A timed wait not woken yet times out at its thread's next turn (`lot::park_eager`), so
    /// loom explores both ends of it: timed out first, or, where the model switches to other
    /// threads before that turn, woken by their notify. As parking_lot's, it reports a time-out
    /// only if no notify woke it, and a timed-out waiter has left the queue, so a later
    /// `notify_one` goes to another waiter. An untimed wait never times out.
    #[derive(Debug)]
    pub(crate) struct Condvar {
        /// Gives the condition variable a size, hence an address of its own to key its queue.
        _key: u8,
    }

    impl Condvar {
        pub(crate) fn new() -> Self {
            Self { _key: 0 }
        }

        fn key(&self) -> usize {
            std::ptr::from_ref(self) as usize
        }

        /// Waits until notified or, for `Some` deadline, until the model times the wait out;
        /// returns the guard and whether the wait timed out.
        pub(crate) fn wait_until<'a, T>(
            &self,
            guard: MutexGuard<'a, T>,
            deadline: Option<Instant>,
        ) -> (MutexGuard<'a, T>, bool) {
            let MutexGuard { mutex, guard } = guard;
            // SAFETY: none needed (the model's functions are `unsafe` only to match
            // parking_lot_core's); the key is this condition variable's address, which no lock
            // uses, and the closures neither panic nor call into the table.
            let parked = unsafe { super::lot::park_eager(self.key(), || drop(guard), deadline) };
            let timed_out = parked == super::lot::ParkResult::TimedOut;
            (mutex.lock(), timed_out)
        }

        pub(crate) fn notify_one(&self) {
            // SAFETY: as in `wait_until`.
            unsafe {
                super::lot::unpark_requeue(
                    self.key(),
                    self.key(),
                    || super::lot::RequeueOp::UnparkOne,
                    |_, _| super::lot::DEFAULT_UNPARK_TOKEN,
                );
            }
        }

        pub(crate) fn notify_all(&self) {
            // SAFETY: as in `wait_until`.
            unsafe {
                super::lot::unpark_all(self.key(), super::lot::DEFAULT_UNPARK_TOKEN);
            }
        }
    }

    pub(crate) type ThreadId = ::loom::thread::ThreadId;

    /// The calling (model) thread's id.
    pub(crate) fn thread_id() -> ThreadId {
        ::loom::thread::current().id()
    }

    pub(crate) const MODEL: bool = true;
}

pub(crate) use imp::*;

/// The parking table [`RawLock`](crate::raw::RawLock) and its condition variable park in:
/// parking_lot_core's, or under `--cfg weft_loom` a model with the same interface, where the
/// shim's `Condvar` parks too.
#[cfg(not(weft_loom))]
pub(crate) mod lot {
    pub(crate) use parking_lot_core::{
        park, unpark_one, unpark_requeue, ParkResult, RequeueOp, UnparkResult, UnparkToken,
        DEFAULT_PARK_TOKEN, DEFAULT_UNPARK_TOKEN,
    };
}

/// A model of parking_lot_core's table for loom: one queue of parked threads under a loom
/// mutex, which stands for the table's bucket lock (the callbacks run under it, as there).
///
/// loom does not model time. A timed park that has not been woken yet yields once (letting every
/// other thread run first, which costs no preemption of the model's bound) and then times out,
/// so the models see both ends of a timed wait: woken meanwhile (moved onto a lock's queue by a
/// notify, too), or timed out. The shim's `Condvar` parks with
/// [`park_eager`](lot::park_eager), which times out at the thread's next turn instead, without
/// yielding first. Either way a park times out only if no unpark reached it, and leaves the
/// queue as it does. Unparks are fair (a hand-off) or not in turn, starting with what
/// [`first_unpark_fair`](lot::first_unpark_fair) set, so a model run with each start sees both
/// kinds of each unlock.
#[cfg(weft_loom)]
pub(crate) mod lot {
    use std::time::Instant;

    use ::loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use ::loom::sync::{Arc, Mutex};
    use ::loom::thread::{self, Thread};

    /// parking_lot_core's `UnparkToken`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) struct UnparkToken(pub usize);
    /// parking_lot_core's `ParkToken`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) struct ParkToken(pub usize);
    pub(crate) const DEFAULT_UNPARK_TOKEN: UnparkToken = UnparkToken(0);
    pub(crate) const DEFAULT_PARK_TOKEN: ParkToken = ParkToken(0);

    /// parking_lot_core's `ParkResult`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) enum ParkResult {
        Unparked(UnparkToken),
        Invalid,
        TimedOut,
    }

    /// parking_lot_core's `UnparkResult`, with the fields weft reads.
    #[derive(Debug, Clone, Copy, Default)]
    pub(crate) struct UnparkResult {
        pub(crate) unparked_threads: usize,
        pub(crate) requeued_threads: usize,
        pub(crate) have_more_threads: bool,
        pub(crate) be_fair: bool,
    }

    struct Parked {
        key: usize,
        thread: Thread,
        /// 0 while parked; the unpark token plus one once woken.
        woken: Arc<AtomicUsize>,
    }

    ::loom::lazy_static! {
        static ref QUEUE: Mutex<Vec<Parked>> = Mutex::new(Vec::new());
        static ref FAIR: AtomicBool = AtomicBool::new(FIRST_FAIR.with(std::cell::Cell::get));
    }

    std::thread_local! {
        /// Whether each model execution's first unpark is fair, set outside the model on the
        /// thread that runs it (loom runs a model's threads on the caller's): per test, as the
        /// test harness runs the tests on threads of their own at once.
        static FIRST_FAIR: std::cell::Cell<bool> = const { std::cell::Cell::new(true) };
    }

    /// Sets whether the first unpark of each execution of the next models is fair (a hand-off);
    /// the later ones alternate.
    #[cfg_attr(
        not(test),
        allow(dead_code, reason = "only the raw lock's models set it")
    )]
    pub(crate) fn first_unpark_fair(fair: bool) {
        FIRST_FAIR.with(|f| f.set(fair));
    }

    fn queue() -> ::loom::sync::MutexGuard<'static, Vec<Parked>> {
        QUEUE.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// See parking_lot_core's `park`. A timed park not woken yet yields once, then times out.
    ///
    /// # Safety
    /// None here; `unsafe` to match parking_lot_core's.
    pub(crate) unsafe fn park(
        key: usize,
        validate: impl FnOnce() -> bool,
        before_sleep: impl FnOnce(),
        timed_out: impl FnOnce(usize, bool),
        token: ParkToken,
        deadline: Option<Instant>,
    ) -> ParkResult {
        // SAFETY: none needed.
        unsafe {
            park_yielding(
                key,
                validate,
                before_sleep,
                timed_out,
                token,
                deadline,
                true,
            )
        }
    }

    /// [`park`] for the shim's `Condvar`, where a timed park not woken yet times out at its
    /// thread's next turn, without yielding first: loom then explores its time-out at every
    /// point of the other threads' runs (each a preemption), before their notify or after.
    ///
    /// # Safety
    /// None here; `unsafe` to match parking_lot_core's.
    pub(crate) unsafe fn park_eager(
        key: usize,
        before_sleep: impl FnOnce(),
        deadline: Option<Instant>,
    ) -> ParkResult {
        // SAFETY: none needed.
        unsafe {
            park_yielding(
                key,
                || true,
                before_sleep,
                |_, _| {},
                DEFAULT_PARK_TOKEN,
                deadline,
                false,
            )
        }
    }

    /// [`park`], yielding once before a time-out if `yield_first`.
    unsafe fn park_yielding(
        key: usize,
        validate: impl FnOnce() -> bool,
        before_sleep: impl FnOnce(),
        timed_out: impl FnOnce(usize, bool),
        _token: ParkToken,
        deadline: Option<Instant>,
        yield_first: bool,
    ) -> ParkResult {
        let woken = Arc::new(AtomicUsize::new(0));
        {
            let mut queue = queue();
            if !validate() {
                return ParkResult::Invalid;
            }
            queue.push(Parked {
                key,
                thread: thread::current(),
                woken: Arc::clone(&woken),
            });
        }
        before_sleep();
        let mut yielded = !yield_first;
        loop {
            let token = woken.load(Ordering::Acquire);
            if token != 0 {
                return ParkResult::Unparked(UnparkToken(token - 1));
            }
            if deadline.is_some() && !yielded {
                yielded = true;
                thread::yield_now();
                continue;
            }
            if deadline.is_some() {
                let mut queue = queue();
                if let Some(at) = queue.iter().position(|p| Arc::ptr_eq(&p.woken, &woken)) {
                    // Under the key it waits on now: a requeue may have moved it.
                    let at_key = queue.remove(at).key;
                    let was_last = !queue.iter().any(|p| p.key == at_key);
                    timed_out(at_key, was_last);
                    return ParkResult::TimedOut;
                }
                // Woken meanwhile: the token is (being) stored.
                drop(queue);
                thread::yield_now();
                continue;
            }
            thread::park();
        }
    }

    /// See parking_lot_core's `unpark_one`.
    ///
    /// # Safety
    /// None here; `unsafe` to match parking_lot_core's.
    pub(crate) unsafe fn unpark_one(
        key: usize,
        callback: impl FnOnce(UnparkResult) -> UnparkToken,
    ) -> UnparkResult {
        let mut queue = queue();
        let Some(at) = queue.iter().position(|p| p.key == key) else {
            let result = UnparkResult::default();
            callback(result);
            return result;
        };
        let parked = queue.remove(at);
        let result = UnparkResult {
            unparked_threads: 1,
            requeued_threads: 0,
            have_more_threads: queue.iter().any(|p| p.key == key),
            be_fair: FAIR.fetch_xor(true, Ordering::Relaxed),
        };
        let token = callback(result);
        parked.woken.store(token.0 + 1, Ordering::Release);
        drop(queue);
        parked.thread.unpark();
        result
    }

    /// See parking_lot_core's `unpark_all`: wakes every thread parked on `key` at once.
    ///
    /// # Safety
    /// None here; `unsafe` to match parking_lot_core's.
    pub(crate) unsafe fn unpark_all(key: usize, token: UnparkToken) -> usize {
        let mut queue = queue();
        let mut woken = Vec::new();
        let mut at = 0;
        while at < queue.len() {
            if queue[at].key == key {
                woken.push(queue.remove(at));
            } else {
                at += 1;
            }
        }
        for parked in &woken {
            parked.woken.store(token.0 + 1, Ordering::Release);
        }
        drop(queue);
        for parked in &woken {
            parked.thread.unpark();
        }
        woken.len()
    }

    /// parking_lot_core's `RequeueOp`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) enum RequeueOp {
        Abort,
        UnparkOneRequeueRest,
        RequeueAll,
        UnparkOne,
        RequeueOne,
    }

    /// See parking_lot_core's `unpark_requeue`: requeued threads go to the end of `to`'s queue.
    ///
    /// # Safety
    /// None here; `unsafe` to match parking_lot_core's.
    pub(crate) unsafe fn unpark_requeue(
        from: usize,
        to: usize,
        validate: impl FnOnce() -> RequeueOp,
        callback: impl FnOnce(RequeueOp, UnparkResult) -> UnparkToken,
    ) -> UnparkResult {
        let mut queue = queue();
        let op = validate();
        if op == RequeueOp::Abort {
            return UnparkResult::default();
        }
        let mut result = UnparkResult::default();
        let mut woken = None;
        let mut moved = Vec::new();
        let mut at = 0;
        while at < queue.len() {
            if queue[at].key != from {
                at += 1;
                continue;
            }
            let first = woken.is_none() && moved.is_empty();
            let wake =
                first && matches!(op, RequeueOp::UnparkOne | RequeueOp::UnparkOneRequeueRest);
            let requeue = match op {
                RequeueOp::RequeueAll => true,
                RequeueOp::RequeueOne => first,
                RequeueOp::UnparkOneRequeueRest => !first,
                _ => false,
            };
            if wake {
                woken = Some(queue.remove(at));
            } else if requeue {
                let mut parked = queue.remove(at);
                parked.key = to;
                moved.push(parked);
            } else {
                at += 1;
            }
        }
        result.unparked_threads = usize::from(woken.is_some());
        result.requeued_threads = moved.len();
        result.have_more_threads = queue.iter().any(|p| p.key == from);
        queue.extend(moved);
        let token = callback(op, result);
        if let Some(parked) = &woken {
            parked.woken.store(token.0 + 1, Ordering::Release);
        }
        drop(queue);
        if let Some(parked) = woken {
            parked.thread.unpark();
        }
        result
    }
}

/// The spin budget before a blocking primitive parks its thread.
///
/// On the 2-vCPU VMs weft is measured on, waking a parked thread costs about 25 µs while a
/// cache-line round trip costs 0.4 µs, so a waiter first spins: `SPIN_ROUNDS` rounds of
/// exponentially more `spin_loop` hints (1, 2, 4 … 64: 127 in all, roughly 2–4 µs), then up to
/// `YIELDS` calls to `thread::yield_now` (each lets another runnable thread have the core), and only
/// then parks. Under loom the budget is zero: every wait parks, which is the path worth modelling.
pub(crate) const SPIN_ROUNDS: u32 = 7;
/// See [`SPIN_ROUNDS`].
pub(crate) const YIELDS: u32 = 16;

/// Spins within weft's budget until `done()` is true; returns whether it became true. The wait
/// that weft's blocking primitives do before they park, for crates built on them (weft-executor's
/// futures and workers use it); under `--cfg weft_loom` it only checks once.
///
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering};
/// let flag = AtomicBool::new(true);
/// assert!(weft_sync::spin_until(|| flag.load(Ordering::Acquire)));
/// ```
#[inline]
pub fn spin_until(mut done: impl FnMut() -> bool) -> bool {
    if MODEL {
        return done();
    }
    if spin_rounds(&mut done) {
        return true;
    }
    for _ in 0..YIELDS {
        std::thread::yield_now();
        if done() {
            return true;
        }
    }
    false
}

/// [`spin_until`] for a wait with a deadline (`None`: none, the same as `spin_until`): only the
/// `spin_loop` rounds (a few microseconds), no `thread::yield_now`. On a busy machine each yield
/// can hand the core away for a whole time slice, milliseconds, so sixteen of them overran a
/// 1 ms timeout tenfold; a timed wait parks with its timeout instead, as std's `park_timeout`.
///
/// ```
/// use std::time::{Duration, Instant};
/// let soon = Instant::now() + Duration::from_millis(1);
/// assert!(!weft_sync::spin_until_deadline(Some(soon), || false));
/// ```
#[inline]
pub fn spin_until_deadline(deadline: Option<Instant>, mut done: impl FnMut() -> bool) -> bool {
    if deadline.is_none() {
        return spin_until(done);
    }
    if MODEL {
        return done();
    }
    spin_rounds(&mut done)
}

/// The `SPIN_ROUNDS` rounds of `spin_loop` hints, `done()` checked after each.
#[inline]
fn spin_rounds(done: &mut impl FnMut() -> bool) -> bool {
    for round in 0..SPIN_ROUNDS {
        for _ in 0..(1u32 << round) {
            std::hint::spin_loop();
        }
        if done() {
            return true;
        }
    }
    false
}

/// Marks the state word `state`, last read as `cur`, as having parked waiters by setting `bit`;
/// returns `false` if the word changed since it was read (the caller then reads it again).
/// Call it holding the lock that the wakers take to notify.
#[inline]
pub(crate) fn mark_parked(state: &AtomicUsize, cur: usize, bit: usize) -> bool {
    cur & bit != 0
        || state
            .compare_exchange(cur, cur | bit, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
}

/// The instant `timeout` from now, or `None` ("wait forever") when that instant is not
/// representable, as for `Duration::MAX` (std's `Instant + Duration` would panic there).
#[inline]
pub(crate) fn deadline(timeout: std::time::Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}

/// Whether `deadline` has passed already.
#[inline]
pub(crate) fn expired(deadline: Option<Instant>) -> bool {
    deadline.is_some_and(|d| d <= Instant::now())
}
