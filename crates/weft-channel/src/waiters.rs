//! Lists of threads and async tasks waiting for a queue to change, one list per condition (an
//! item arrived, space appeared, all tasks are done).
//!
//! The protocol, for a waiter: register (under the list lock, `count` += 1, `SeqCst`), then try the
//! operation again, and only then sleep. For a notifier: complete the operation (a `SeqCst`
//! read-modify-write on the queue), then read `count` (`SeqCst`), and if it is not zero pop a waiter
//! under the lock and wake it. In the single total order of `SeqCst` operations, either the
//! waiter's retry sees the operation or the notifier sees the waiter. A notified waiter that does
//! not use its notification (timed out, dropped, or found another thread was faster) passes it on,
//! so no wake-up is ever lost.

use std::collections::VecDeque;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::task::Waker;
use std::time::Instant;

use crate::loom::{
    model_fence, park, park_timeout, Arc, AtomicU8, AtomicUsize, Mutex, Ordering, Thread,
};

const WAITING: u8 = 0;
const NOTIFIED: u8 = 1;

/// Who to wake.
enum Wake {
    Thread(Thread),
    Task(Option<Waker>),
}

/// One registered waiter.
pub(crate) struct Waiter {
    state: AtomicU8,
    wake: Mutex<Wake>,
}

impl Waiter {
    pub(crate) fn notified(&self) -> bool {
        self.state.load(Ordering::Acquire) == NOTIFIED
    }

    /// Replaces the waker of an async waiter (a task may move between polls).
    pub(crate) fn set_waker(&self, waker: &Waker) {
        if let Wake::Task(slot) = &mut *self.wake.lock() {
            match slot {
                Some(w) if w.will_wake(waker) => {}
                _ => *slot = Some(waker.clone()),
            }
        }
    }
}

/// The waiters for one condition.
pub(crate) struct Waiters {
    count: AtomicUsize,
    list: Mutex<VecDeque<Arc<Waiter>>>,
}

impl Waiters {
    pub(crate) fn new() -> Self {
        Self {
            count: AtomicUsize::new(0),
            list: Mutex::new(VecDeque::new()),
        }
    }

    fn register(&self, wake: Wake) -> Arc<Waiter> {
        let waiter = Arc::new(Waiter {
            state: AtomicU8::new(WAITING),
            wake: Mutex::new(wake),
        });
        let mut list = self.list.lock();
        list.push_back(Arc::clone(&waiter));
        self.count.fetch_add(1, Ordering::SeqCst);
        drop(list);
        model_fence();
        waiter
    }

    /// Registers the current thread.
    pub(crate) fn register_thread(&self) -> Arc<Waiter> {
        self.register(Wake::Thread(crate::loom::current()))
    }

    /// Registers an async task.
    pub(crate) fn register_task(&self, waker: &Waker) -> Arc<Waiter> {
        self.register(Wake::Task(Some(waker.clone())))
    }

    /// Removes `waiter`, which is giving up. If it had been notified already, the notification
    /// goes to the next waiter instead.
    pub(crate) fn cancel(&self, waiter: &Arc<Waiter>) {
        let mut list = self.list.lock();
        if waiter.state.load(Ordering::Acquire) == NOTIFIED {
            drop(list);
            self.notify_one();
            return;
        }
        if let Some(pos) = list.iter().position(|w| Arc::ptr_eq(w, waiter)) {
            list.remove(pos);
            self.count.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Takes `waiter` out of the list if it is still there; returns whether it had been notified
    /// (a notified waiter is no longer in the list).
    pub(crate) fn leave(&self, waiter: &Arc<Waiter>) -> bool {
        let mut list = self.list.lock();
        if waiter.state.load(Ordering::Acquire) == NOTIFIED {
            return true;
        }
        if let Some(pos) = list.iter().position(|w| Arc::ptr_eq(w, waiter)) {
            list.remove(pos);
            self.count.fetch_sub(1, Ordering::SeqCst);
        }
        false
    }

    /// Whether anyone is registered (after a `SeqCst` fence under loom, as `notify_one`).
    #[inline]
    pub(crate) fn has_waiters(&self) -> bool {
        model_fence();
        self.count.load(Ordering::SeqCst) != 0
    }

    /// Wakes the longest-waiting waiter, if any. Call after the operation it waits for completed.
    #[inline]
    pub(crate) fn notify_one(&self) {
        model_fence();
        if self.count.load(Ordering::SeqCst) != 0 {
            self.notify(1);
        }
    }

    /// Wakes every waiter.
    pub(crate) fn notify_all(&self) {
        model_fence();
        if self.count.load(Ordering::SeqCst) != 0 {
            self.notify(usize::MAX);
        }
    }

    #[cold]
    fn notify(&self, n: usize) {
        if n == 1 {
            let waiter = {
                let mut list = self.list.lock();
                let waiter = list.pop_front();
                if let Some(w) = &waiter {
                    self.mark_notified(w);
                }
                waiter
            };
            if let Some(waiter) = waiter {
                Self::wake(&waiter);
            }
            return;
        }
        let woken: Vec<_> = {
            let mut list = self.list.lock();
            let woken: Vec<_> = list.drain(..).collect();
            for w in &woken {
                self.mark_notified(w);
            }
            woken
        };
        // A waker is user code: if one panics, the others are still woken, then the panic goes on.
        let mut panic = None;
        for waiter in &woken {
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| Self::wake(waiter))) {
                panic.get_or_insert(payload);
            }
        }
        if let Some(payload) = panic {
            resume_unwind(payload);
        }
    }

    /// Under the list lock: `waiter` has just been taken out of the list.
    fn mark_notified(&self, waiter: &Waiter) {
        self.count.fetch_sub(1, Ordering::SeqCst);
        waiter.state.store(NOTIFIED, Ordering::Release);
    }

    fn wake(waiter: &Waiter) {
        let wake = std::mem::replace(&mut *waiter.wake.lock(), Wake::Task(None));
        match wake {
            Wake::Thread(thread) => thread.unpark(),
            Wake::Task(Some(waker)) => waker.wake(),
            Wake::Task(None) => {}
        }
    }

    /// Blocks the current thread until `op` gives a result or `deadline` passes (never, for `None`).
    /// `op` is tried first, then within a short spin whenever `ready` (a cheap read that writes
    /// nothing, so spinning does not slow down the threads it waits for) says it may succeed, then
    /// around each sleep.
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
            while !backoff.is_completed() {
                backoff.snooze();
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
            let waiter = self.register_thread();
            if let Some(r) = op() {
                // Succeeded after all. A notification that came meanwhile may have been for another
                // item than the one taken (one that was already there when this thread
                // registered): pass it on, or a waiter behind this one could sleep beside it.
                self.cancel(&waiter);
                return Some(r);
            }
            loop {
                if waiter.notified() {
                    break;
                }
                match deadline {
                    None => park(),
                    Some(d) => {
                        let now = Instant::now();
                        if d <= now {
                            if !self.leave(&waiter) {
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
