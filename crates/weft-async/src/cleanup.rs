//! The cleanup of a cancelled task: the exits of the `async_with` blocks (and stacks, and
//! groups) its future was inside when it was dropped, which `Drop` cannot await.
//!
//! A task started by [`create_task`](crate::create_task) or a [`TaskGroup`](crate::TaskGroup)
//! drops its future collecting those exits and has them awaited as a task of their own, with
//! its cleanup pending here under the task's id; awaiting the cancelled task's handle waits
//! for them, as Python's `await task` returns after the cancelled coroutine's `__aexit__`s.
//! Entries exist only while such exits run, so a task that was never inside an `async_with`
//! costs one atomic load when it is awaited after a cancellation.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use tokio::task::Id;

use crate::error::TaskError;

/// The cancelled tasks whose exits still run, by task id. (A registry, not wait logic: the
/// wait is [`Cleanup`]'s, which loom models.)
static PENDING: parking_lot::Mutex<BTreeMap<Id, Arc<Cleanup>>> =
    parking_lot::Mutex::new(BTreeMap::new());

/// `PENDING`'s length, read without its lock: zero in a program whose cancelled tasks were in
/// no `async_with`.
static PENDING_LEN: AtomicUsize = AtomicUsize::new(0);

/// One task's cleanup: whether its exits are done, and the waker of the handle awaiting it.
struct Cleanup(crate::loom::Mutex<(bool, Option<Waker>)>);

impl Cleanup {
    fn new() -> Self {
        Cleanup(crate::loom::Mutex::new((false, None)))
    }

    /// Marks it done and wakes the handle awaiting it.
    fn finish(&self) {
        let waker = {
            let mut state = self.0.lock();
            state.0 = true;
            state.1.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    fn is_done(&self) -> bool {
        self.0.lock().0
    }

    /// Ready once done; else keeps `cx`'s waker for [`finish`](Self::finish) (under the lock
    /// `finish` takes, so a finish cannot fall between the check and the registration).
    fn poll_done(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.0.lock();
        if state.0 {
            return Poll::Ready(());
        }
        if state.1.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            return Poll::Pending;
        }
        let replaced = state.1.replace(cx.waker().clone());
        // A replaced waker is dropped after the lock, as the other primitives do: its drop is
        // the task's code.
        drop(state);
        drop(replaced);
        Poll::Pending
    }
}

/// A task's cleanup, pending until this is dropped: after the exits have been awaited, or
/// when they never will be (their future dropped unrun, by a runtime shutting down).
pub(crate) struct CleanupPending {
    id: Id,
    cleanup: Arc<Cleanup>,
}

impl CleanupPending {
    /// Marks task `id`'s cleanup pending.
    pub(crate) fn register(id: Id) -> Self {
        let cleanup = Arc::new(Cleanup::new());
        let mut pending = PENDING.lock();
        pending.insert(id, Arc::clone(&cleanup));
        PENDING_LEN.store(pending.len(), Ordering::Release);
        CleanupPending { id, cleanup }
    }
}

impl Drop for CleanupPending {
    fn drop(&mut self) {
        {
            let mut pending = PENDING.lock();
            if pending
                .get(&self.id)
                .is_some_and(|c| Arc::ptr_eq(c, &self.cleanup))
            {
                pending.remove(&self.id);
            }
            PENDING_LEN.store(pending.len(), Ordering::Release);
        }
        self.cleanup.finish();
    }
}

/// The pending cleanup of task `id`, if it has one.
fn find(id: Id) -> Option<Arc<Cleanup>> {
    if PENDING_LEN.load(Ordering::Acquire) == 0 {
        return None;
    }
    PENDING.lock().get(&id).cloned()
}

/// Whether task `id` has exits still running from its cancellation.
pub(crate) fn is_pending(id: Id) -> bool {
    find(id).is_some_and(|c| !c.is_done())
}

/// Ready once task `id` has no exits left running from its cancellation.
pub(crate) fn poll_done(id: Id, cx: &mut Context<'_>) -> Poll<()> {
    match find(id) {
        Some(cleanup) => cleanup.poll_done(cx),
        None => Poll::Ready(()),
    }
}

/// The end of the await of a cancelled [`Task`](crate::Task) or
/// [`GroupTask`](crate::GroupTask) `id`: [`TaskError::Cancelled`] once the exits its
/// cancellation handed over have run. `cleaning` records that the await has got this far (so
/// that it polls here again, not the spent handle), `answered` that it has given its result.
#[cold]
#[inline(never)]
pub(crate) fn poll_cancelled<T>(
    id: Id,
    cleaning: &mut bool,
    answered: &mut bool,
    cx: &mut Context<'_>,
) -> Poll<Result<T, TaskError>> {
    *cleaning = true;
    if poll_done(id, cx).is_pending() {
        return Poll::Pending;
    }
    *answered = true;
    Poll::Ready(Err(TaskError::Cancelled))
}

/// loom: a finish on another thread always reaches the handle polling for it.
#[cfg(all(test, weft_loom))]
mod loom_tests {
    use super::Cleanup;

    #[test]
    fn a_finish_is_never_missed() {
        loom::model(|| {
            let cleanup = loom::sync::Arc::new(Cleanup::new());
            let finisher = {
                let cleanup = loom::sync::Arc::clone(&cleanup);
                loom::thread::spawn(move || cleanup.finish())
            };
            loom::future::block_on(std::future::poll_fn(|cx| cleanup.poll_done(cx)));
            assert!(cleanup.is_done());
            finisher.join().unwrap();
        });
    }
}
