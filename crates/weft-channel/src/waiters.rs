//! Lists of threads and async tasks waiting for a queue to change, one list per condition (an
//! item arrived, space appeared, all tasks are done).
//!
//! The protocol, for a waiter: register (under the list lock, `count` += 1, `SeqCst`), then try
//! the operation again, and only then sleep. For a notifier: complete the operation (a `SeqCst`
//! read-modify-write on the queue), then read `count` (`SeqCst`), and if it is not zero pop a
//! waiter under the lock and wake it. In the single total order of `SeqCst` operations, either the
//! waiter's retry sees the operation or the notifier sees the waiter. A notified waiter always
//! tries again before it gives up; one that gives up without that retry (a dropped future, an
//! unwinding thread) passes its notification on, so no wake-up is ever lost. A retry that finds
//! nothing (another waiter was faster, or the timeout had come) passes nothing on: the item or
//! space the notification was for has been taken.
//!
//! A blocked thread registers a record on its own stack (the list holds a pointer to it), so
//! waiting costs it no allocation, as in crossbeam and kanal; an async task, which may move
//! between polls and can be dropped at any point, registers a record in an `Arc`. A notifier takes
//! what it needs from a thread's record (its handle) before it marks the record notified and
//! never touches it afterwards: from then on the thread may return and its stack frame go. A
//! thread that gives up removes its record under the list lock, also when it unwinds.

use std::any::Any;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::task::Waker;
use std::time::Instant;

use crate::fifo::Fifo;
use crate::loom::{
    model_fence, park, park_timeout, Arc, AtomicU8, AtomicUsize, Mutex, Ordering, Thread,
};

const WAITING: u8 = 0;
const NOTIFIED: u8 = 1;

/// One registered async task.
pub(crate) struct Waiter {
    state: AtomicU8,
    /// The key of the waiter's entry in its list, set under the list lock when it registers and
    /// read under it when it leaves. (A plain atomic under loom too: the lock orders it.)
    key: std::sync::atomic::AtomicU32,
    wake: Mutex<Option<Waker>>,
}

/// One registered thread, on its stack while it waits.
struct ThreadWaiter {
    state: AtomicU8,
    thread: Thread,
}

/// An entry of a waiter list.
enum Entry {
    Task(Arc<Waiter>),
    /// Points to a `ThreadWaiter` on the stack of the thread that waits: valid while the entry
    /// is in the list (the thread removes it, under the list lock, before its frame goes, unless
    /// a notifier removed it first).
    Thread(std::ptr::NonNull<ThreadWaiter>),
}

// SAFETY: a `Thread` entry is a pointer that is only dereferenced under the list lock, while the
// record it points to is registered (see `Entry::Thread`); the record is `Sync` (checked below),
// so reaching it from another thread is sound.
unsafe impl Send for Entry {}

/// The `Sync` that `Entry`'s `Send` relies on, checked at compile time.
const _: fn() = || {
    fn sync<T: Sync>() {}
    sync::<ThreadWaiter>();
};

impl Entry {
    /// Marks the waiter notified and gives what waking it needs. After this the entry's record
    /// must not be touched: a thread may return as soon as it sees the mark.
    fn notify(&self) -> Woken {
        match self {
            Entry::Task(w) => {
                w.state.store(NOTIFIED, Ordering::Release);
                Woken::Task(Arc::clone(w))
            }
            Entry::Thread(p) => {
                // SAFETY: the entry is in the list (this runs under the list lock, on an entry
                // just taken out of it), so the record is alive; after the store below it is not
                // touched again.
                let record = unsafe { p.as_ref() };
                let thread = record.thread.clone();
                record.state.store(NOTIFIED, Ordering::Release);
                Woken::Thread(thread)
            }
        }
    }
}

/// Who to wake, taken out of a notified entry.
enum Woken {
    Task(Arc<Waiter>),
    Thread(Thread),
}

impl Waiter {
    pub(crate) fn notified(&self) -> bool {
        self.state.load(Ordering::Acquire) == NOTIFIED
    }

    /// Replaces the waker of an async waiter (a task may move between polls).
    ///
    /// The new waker is cloned, and the old one dropped, outside the waiter's lock: both are user
    /// code, which may use the same queue (a waker whose drop puts an item), and a notifier
    /// that picks this waiter takes that lock to wake it (it would deadlock on the lock held
    /// by its own thread). A notifier that takes the old waker in between wakes it; the caller
    /// then sees the waiter notified.
    pub(crate) fn set_waker(&self, waker: &Waker) {
        if self
            .wake
            .lock()
            .as_ref()
            .is_some_and(|w| w.will_wake(waker))
        {
            return;
        }
        let new = Some(waker.clone());
        let old = std::mem::replace(&mut *self.wake.lock(), new);
        drop(old);
    }
}

/// Drops a caught panic's payload without letting a panic in the payload's own `Drop` escape
/// (weft-sync's `drop_panic_payload`; this crate does not depend on weft-sync): the payload of
/// that panic is dropped the same way in turn, and only the last of a chain of 8 payloads that
/// each panic again is forgotten (a bound on the loop).
pub(crate) fn drop_payload(mut payload: Box<dyn Any + Send>) {
    for _ in 0..8 {
        match catch_unwind(AssertUnwindSafe(move || drop(payload))) {
            Ok(()) => return,
            Err(again) => payload = again,
        }
    }
    std::mem::forget(payload);
}

/// Keeps the first of several caught panics in `first`, to go on once the work is done; a later
/// one is dropped with [`drop_payload`].
pub(crate) fn keep_first(first: &mut Option<Box<dyn Any + Send>>, payload: Box<dyn Any + Send>) {
    match first {
        None => *first = Some(payload),
        Some(_) => drop_payload(payload),
    }
}

/// Drops the items `next` hands out one at a time, each even if an earlier one's `Drop` panicked
/// (a `Vec` dropping the rest while unwinding from one would abort); the first panic then goes
/// on, as [`raise_first`] says. For a store's `Drop`; items without drop glue are left to the
/// store's own drop, which frees them at once.
pub(crate) fn drop_each<T>(mut next: impl FnMut() -> Option<T>) {
    if !std::mem::needs_drop::<T>() {
        return;
    }
    let mut panic = None;
    while let Some(item) = next() {
        if let Err(payload) = catch_unwind(AssertUnwindSafe(move || drop(item))) {
            keep_first(&mut panic, payload);
        }
    }
    raise_first(panic);
}

/// Re-raises the first panic a store's `Drop` caught dropping its items, unless the thread is
/// already unwinding (the store dropped with the handle of a panicking thread), where a second
/// panic would abort: then it is dropped.
pub(crate) fn raise_first(panic: Option<Box<dyn Any + Send>>) {
    match panic {
        Some(payload) if std::thread::panicking() => drop_payload(payload),
        Some(payload) => resume_unwind(payload),
        None => {}
    }
}

/// The waiters for one condition.
pub(crate) struct Waiters {
    count: AtomicUsize,
    list: Mutex<Fifo<Entry>>,
}

impl Waiters {
    pub(crate) fn new() -> Self {
        Self {
            count: AtomicUsize::new(0),
            list: Mutex::new(Fifo::new()),
        }
    }

    /// Appends `entry`; `keep` gets its key, under the list lock (before a waiter could leave).
    fn register(&self, entry: Entry, keep: impl FnOnce(u32)) {
        let mut list = self.list.lock();
        keep(list.push_back(entry));
        self.count.fetch_add(1, Ordering::SeqCst);
        drop(list);
        model_fence();
    }

    /// Registers an async task.
    pub(crate) fn register_task(&self, waker: &Waker) -> Arc<Waiter> {
        let waiter = Arc::new(Waiter {
            state: AtomicU8::new(WAITING),
            key: std::sync::atomic::AtomicU32::new(0),
            wake: Mutex::new(Some(waker.clone())),
        });
        self.register(Entry::Task(Arc::clone(&waiter)), |key| {
            waiter.key.store(key, std::sync::atomic::Ordering::Relaxed);
        });
        waiter
    }

    /// Removes the entry registered with the key `key()` gives (which `is_it` recognises),
    /// under the list lock, unless `state` says it was notified (then a notifier already took it
    /// out); returns whether it was. A waiter not notified is in the list: a notifier marks an
    /// entry under the lock as it takes it out.
    fn remove(
        &self,
        state: &AtomicU8,
        key: impl FnOnce() -> u32,
        is_it: impl Fn(&Entry) -> bool,
    ) -> bool {
        let mut list = self.list.lock();
        if state.load(Ordering::Acquire) == NOTIFIED {
            return true;
        }
        if list.remove(key(), is_it).is_some() {
            self.count.fetch_sub(1, Ordering::SeqCst);
        }
        false
    }

    /// Removes `waiter`, which is giving up (or is done, holding what it waited for). If it had
    /// been notified already, the notification goes to the next waiter instead, as
    /// [`notify_one_quiet`](Self::notify_one_quiet) does: the caller may hold an item to deliver,
    /// or be a destructor.
    pub(crate) fn cancel(&self, waiter: &Arc<Waiter>) {
        if self.leave(waiter) {
            self.notify_one_quiet();
        }
    }

    /// Takes `waiter` out of the list if it is still there; returns whether it had been notified
    /// (a notified waiter is no longer in the list).
    pub(crate) fn leave(&self, waiter: &Arc<Waiter>) -> bool {
        self.remove(
            &waiter.state,
            || waiter.key.load(std::sync::atomic::Ordering::Relaxed),
            |e| matches!(e, Entry::Task(w) if Arc::ptr_eq(w, waiter)),
        )
    }

    /// Whether anyone is registered (after a `SeqCst` fence under loom, as `notify_one`).
    #[inline]
    pub(crate) fn has_waiters(&self) -> bool {
        model_fence();
        self.count.load(Ordering::SeqCst) != 0
    }

    /// Wakes the longest-waiting waiter, if any. Call after the operation it waits for completed.
    ///
    /// A waker is user code: if it panics, the notification goes on to the next waiter (the
    /// panicking one's task will not run to use it), and then the panic goes on to the caller.
    #[inline]
    pub(crate) fn notify_one(&self) {
        model_fence();
        if self.count.load(Ordering::SeqCst) != 0 {
            if let Some(payload) = self.notify_first() {
                resume_unwind(payload);
            }
        }
    }

    /// As [`notify_one`](Self::notify_one), for a caller that must not unwind: one holding an
    /// item it took for its own caller (a panic would drop it), or a destructor. A waker's panic
    /// is not passed on; the notification still reaches a waiter.
    #[inline]
    pub(crate) fn notify_one_quiet(&self) {
        model_fence();
        if self.count.load(Ordering::SeqCst) != 0 {
            if let Some(payload) = self.notify_first() {
                drop_payload(payload);
            }
        }
    }

    /// Wakes the first waiter; when its waker panics, the next one too, and so on. Returns the
    /// first panic.
    #[cold]
    fn notify_first(&self) -> Option<Box<dyn Any + Send>> {
        let mut panic = None;
        loop {
            let woken = {
                let mut list = self.list.lock();
                list.pop_front().map(|e| self.mark_notified(&e))
            };
            let Some(woken) = woken else { break };
            match catch_unwind(AssertUnwindSafe(|| Self::wake(woken))) {
                Ok(()) => break,
                Err(payload) => {
                    keep_first(&mut panic, payload);
                }
            }
        }
        panic
    }

    /// Wakes every waiter.
    pub(crate) fn notify_all(&self) {
        model_fence();
        if self.count.load(Ordering::SeqCst) != 0 {
            self.notify_every();
        }
    }

    #[cold]
    fn notify_every(&self) {
        let woken: Vec<_> = {
            let mut list = self.list.lock();
            let entries = list.drain();
            entries.iter().map(|e| self.mark_notified(e)).collect()
        };
        // A waker is user code: if one panics, the others are still woken, then the panic goes on.
        let mut panic = None;
        for waiter in woken {
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| Self::wake(waiter))) {
                keep_first(&mut panic, payload);
            }
        }
        if let Some(payload) = panic {
            resume_unwind(payload);
        }
    }

    /// Under the list lock: `entry` has just been taken out of the list.
    fn mark_notified(&self, entry: &Entry) -> Woken {
        self.count.fetch_sub(1, Ordering::SeqCst);
        entry.notify()
    }

    fn wake(woken: Woken) {
        match woken {
            Woken::Thread(thread) => thread.unpark(),
            Woken::Task(waiter) => {
                let waker = waiter.wake.lock().take();
                if let Some(waker) = waker {
                    waker.wake();
                }
            }
        }
    }

    /// Blocks the current thread until `op` gives a result or `deadline` passes (never, for
    /// `None`). `op` is tried first, then within a short spin whenever `ready` (a cheap read that
    /// writes nothing, so spinning does not slow down the threads it waits for) says it may
    /// succeed, then around each sleep.
    pub(crate) fn wait<R>(
        &self,
        deadline: Option<Instant>,
        ready: impl Fn() -> bool,
        mut op: impl FnMut() -> Option<R>,
    ) -> Option<R> {
        if let Some(r) = op() {
            return Some(r);
        }
        if deadline.is_some_and(|d| d <= Instant::now()) {
            // A zero (or past) timeout tries once.
            return None;
        }
        if !crate::loom::MODEL {
            let backoff = crossbeam_utils::Backoff::new();
            // A timed wait only spins (seven rounds, as the backoff's own spin phase): a yield
            // may give the core away for a whole time slice on a busy machine, which overran a
            // 1 ms timeout many times over; it sleeps with its timeout instead.
            let mut spins = if deadline.is_some() { 7 } else { u32::MAX };
            while !backoff.is_completed() && spins > 0 {
                if deadline.is_some() {
                    backoff.spin();
                    spins -= 1;
                } else {
                    backoff.snooze();
                }
                if !ready() {
                    continue;
                }
                if let Some(r) = op() {
                    return Some(r);
                }
            }
        }
        loop {
            if deadline.is_some_and(|d| d <= Instant::now()) {
                return op();
            }
            let record = ThreadWaiter {
                state: AtomicU8::new(WAITING),
                thread: crate::loom::current(),
            };
            let waiter = Registered::new(self, &record);
            if let Some(r) = op() {
                // Succeeded after all. A notification that came meanwhile may have been for another
                // item than the one taken (one that was already there when this thread
                // registered): pass it on, or a waiter behind this one could sleep beside it.
                waiter.cancel();
                return Some(r);
            }
            loop {
                if record.state.load(Ordering::Acquire) == NOTIFIED {
                    waiter.notified();
                    break;
                }
                match deadline {
                    None => park(),
                    Some(d) => {
                        let now = Instant::now();
                        if d <= now {
                            if !waiter.leave() {
                                return op();
                            }
                            break;
                        }
                        park_timeout(d - now);
                    }
                }
            }
            // Notified: try again; if another thread was faster, pass nothing on (it took the
            // item or space this notification was for) and wait again.
            if let Some(r) = op() {
                return Some(r);
            }
        }
    }
}

/// A thread's registration in a waiter list, for as long as the record may be in it: dropped
/// without one of its methods (the thread unwinds), it removes the record like `cancel`.
struct Registered<'a> {
    waiters: &'a Waiters,
    record: &'a ThreadWaiter,
    /// The record's key in the list.
    key: u32,
}

impl<'a> Registered<'a> {
    fn new(waiters: &'a Waiters, record: &'a ThreadWaiter) -> Self {
        let mut key = 0;
        waiters.register(Entry::Thread(std::ptr::NonNull::from(record)), |k| {
            key = k;
        });
        Self {
            waiters,
            record,
            key,
        }
    }

    /// Takes the record out of the list; returns whether it had been notified (then a notifier
    /// took it out already).
    fn leave(self) -> bool {
        let this = std::mem::ManuallyDrop::new(self);
        this.remove()
    }

    /// Takes the record out of the list, passing on a notification it had received (quietly:
    /// the caller holds what it waited for, maybe an item to deliver).
    fn cancel(self) {
        let waiters = self.waiters;
        if self.leave() {
            waiters.notify_one_quiet();
        }
    }

    /// The record was seen notified: a notifier took it out of the list.
    fn notified(self) {
        std::mem::forget(self);
    }

    fn remove(&self) -> bool {
        let record: *const ThreadWaiter = self.record;
        self.waiters.remove(
            &self.record.state,
            || self.key,
            |e| matches!(e, Entry::Thread(p) if std::ptr::eq(p.as_ptr(), record)),
        )
    }
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        if self.remove() {
            // This runs while the thread unwinds: a waker that panics in the pass-on must not
            // make it a second panic (an abort).
            self.waiters.notify_one_quiet();
        }
    }
}

#[cfg(all(test, not(weft_loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::time::Duration;

    /// Threads blocked on a list (their records on their own stacks) are woken, and a timed wait
    /// that expires takes its record out: afterwards nobody is registered and the notifications
    /// find no stale record. Small enough for Miri, which checks the paths it runs for
    /// use-after-free (it would not reliably catch a notifier touching a record after marking
    /// it: a woken thread is usually still parked then; that rule is kept by `Entry::notify`).
    #[test]
    fn stack_records_come_and_go() {
        // Under a watchdog: a record left behind (a wrong key) made the run hang.
        crate::ring::tests::within_a_minute(stack_records_come_and_go_unwatched);
    }

    fn stack_records_come_and_go_unwatched() {
        let waiters = Waiters::new();
        let go = AtomicBool::new(false);
        let taken = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    waiters.wait(
                        None,
                        || true,
                        || {
                            go.load(Ordering::SeqCst)
                                .then(|| taken.fetch_add(1, Ordering::SeqCst))
                        },
                    )
                });
            }
            let timed = s.spawn(|| {
                waiters.wait(
                    Instant::now().checked_add(Duration::from_millis(1)),
                    || true,
                    || None::<()>,
                )
            });
            assert_eq!(timed.join().unwrap(), None);
            go.store(true, Ordering::SeqCst);
            waiters.notify_all();
        });
        assert_eq!(taken.load(Ordering::SeqCst), 2);
        assert!(!waiters.has_waiters());
        waiters.notify_all();
    }

    /// Tasks leave the list from anywhere by their key: after the newest, one in the middle and
    /// the oldest gave up, the notifications reach the others oldest first, and the list ends
    /// empty.
    #[test]
    fn task_waiters_leave_from_anywhere() {
        let waiters = Waiters::new();
        let all: Vec<Arc<Waiter>> = (0..6)
            .map(|_| waiters.register_task(Waker::noop()))
            .collect();
        for gone in [5, 2, 0] {
            assert!(!waiters.leave(&all[gone]), "not notified yet");
        }
        for expected in [1, 3, 4] {
            waiters.notify_one();
            let notified: Vec<usize> = (0..6).filter(|&i| all[i].notified()).collect();
            assert_eq!(notified.last(), Some(&expected));
        }
        assert!(!waiters.has_waiters());
        // Leaving after the notification says so (`cancel` would pass it on) and takes nothing
        // out: the notifier did.
        assert!(waiters.leave(&all[4]));
        let again = waiters.register_task(Waker::noop());
        assert!(!waiters.leave(&again));
        assert!(!waiters.has_waiters());
    }

    /// Found by LeakSanitizer: the payload of a panic in a caught payload's own `Drop` was
    /// forgotten (one leak per such drop); it is dropped too.
    #[test]
    fn the_payload_of_a_panicking_payload_drop_is_dropped_too() {
        use std::panic::panic_any;
        use std::sync::atomic::AtomicUsize;
        static DROPS: AtomicUsize = AtomicUsize::new(0);
        struct Counted;
        impl Drop for Counted {
            fn drop(&mut self) {
                DROPS.fetch_add(1, Ordering::SeqCst);
            }
        }
        struct PanicsWithCounted;
        impl Drop for PanicsWithCounted {
            fn drop(&mut self) {
                panic_any(Counted);
            }
        }
        let payload = catch_unwind(|| panic_any(PanicsWithCounted)).unwrap_err();
        drop_payload(payload);
        assert_eq!(
            DROPS.load(Ordering::SeqCst),
            1,
            "the second payload was leaked"
        );
        // A payload that panics anew with another like it forever does not loop forever (under
        // a watchdog, so a regression fails instead of hanging the run).
        struct Forever;
        impl Drop for Forever {
            fn drop(&mut self) {
                panic_any(Forever);
            }
        }
        crate::ring::tests::within_a_minute(|| {
            drop_payload(catch_unwind(|| panic_any(Forever)).unwrap_err());
        });
    }
}
