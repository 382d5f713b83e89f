//! The queue engine shared by every queue type: storage, the three waiter lists, task accounting
//! and shutdown, for threads and async tasks alike.

use std::any::Any;
use std::future::Future;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::error::{
    GetError, GetTimeoutError, PutError, PutTimeoutError, TaskDoneError, TryGetError, TryPutError,
};
use crossbeam_utils::CachePadded;

use crate::loom::{AtomicUsize, Ordering};
use crate::ring::{First, Push};
use crate::store::Store;
use crate::waiters::{keep_first, Waiter, Waiters};

/// `state` bits: whether the queue was shut down, and how.
const SHUTDOWN: usize = 1;
const IMMEDIATE: usize = 2;
const SHUT_MASK: usize = SHUTDOWN | IMMEDIATE;

/// The storage counts the puts, gets and items done and carries the shutdown mark (see
/// `store.rs`); the core adds the waiting and the shutdown state that getters read.
///
/// Each field that one side writes often sits on its own cache line (`CachePadded`), so that a
/// producer's writes do not evict the lines the consumers read on every operation and the other
/// way round: the storage pads its own lines; each waiter list is written only when someone waits
/// but read by every operation of the other side; `state` is read by every get and written once.
pub(crate) struct Core<T, S> {
    store: S,
    /// Waiting for an item.
    getters: CachePadded<Waiters>,
    /// Waiting for space (bounded queues only).
    putters: CachePadded<Waiters>,
    /// Waiting for the unfinished count to reach zero.
    joiners: CachePadded<Waiters>,
    /// The shutdown bits (read-mostly).
    state: CachePadded<AtomicUsize>,
    bounded: bool,
    _item: std::marker::PhantomData<fn(T) -> T>,
}

pub(crate) fn deadline(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}

impl<T, S: Store<T>> Core<T, S> {
    pub(crate) fn new(store: S) -> Self {
        let bounded = store.capacity().is_some();
        Self {
            store,
            getters: CachePadded::new(Waiters::new()),
            putters: CachePadded::new(Waiters::new()),
            joiners: CachePadded::new(Waiters::new()),
            state: CachePadded::new(AtomicUsize::new(0)),
            bounded,
            _item: std::marker::PhantomData,
        }
    }

    #[inline]
    pub(crate) fn try_put(&self, item: T) -> Result<(), TryPutError<T>> {
        // One step of the storage checks for shutdown, adds the item and counts the put.
        self.pushed(self.store.push(item))
    }

    /// The storage's answer to a push, as `try_put` gives it; getters are told of a success.
    #[inline]
    fn pushed(&self, push: Result<(), Push<T>>) -> Result<(), TryPutError<T>> {
        match push {
            Ok(()) => {
                self.getters.notify_one();
                Ok(())
            }
            Err(Push::Full(item)) => Err(TryPutError::Full(item)),
            Err(Push::ShutDown(item)) => Err(TryPutError::ShutDown(item)),
        }
    }

    /// Whether a put may succeed now, read without writing (a hint for a spinning putter).
    #[inline]
    fn may_put(&self) -> bool {
        !self.store.looks_full() || self.is_shutdown()
    }

    /// Whether a get may succeed now, read without writing (a hint for a spinning getter).
    #[inline]
    fn may_get(&self) -> bool {
        !self.store.looks_empty() || self.is_shutdown()
    }

    /// The put attempt of the blocking and async forms: `None` while full (the item stays in
    /// `slot`), the final result otherwise.
    #[inline]
    fn put_step(&self, slot: &mut Option<T>) -> Option<Result<(), T>> {
        let item = slot.take()?;
        match self.try_put(item) {
            Ok(()) => Some(Ok(())),
            Err(TryPutError::ShutDown(item)) => Some(Err(item)),
            Err(TryPutError::Full(item)) => {
                *slot = Some(item);
                None
            }
        }
    }

    #[inline(always)]
    pub(crate) fn put(&self, item: T) -> Result<(), PutError<T>> {
        // The storage's first attempt inline, and each other case one out-of-line call: most
        // puts succeed at once, and what is left is small enough to inline wherever `put` is
        // called (about 30 instructions for a `u64` in a list or a ring).
        match self.store.push_first(item) {
            First::Done(()) => {
                self.getters.notify_one();
                Ok(())
            }
            First::Answer(item) => self.put_wait(item),
            First::Again(item) => self.put_slow(item),
        }
    }

    /// [`Core::put`] when the storage's first attempt said `Again`: the rest of `try_put` (the
    /// storage's loop), then the wait if full.
    #[cold]
    #[inline(never)]
    fn put_slow(&self, item: T) -> Result<(), PutError<T>> {
        let item = match self.pushed(self.store.push_again(item)) {
            Ok(()) => return Ok(()),
            Err(TryPutError::ShutDown(item)) => return Err(PutError(item)),
            Err(TryPutError::Full(item)) => item,
        };
        self.put_wait(item)
    }

    #[cold]
    fn put_wait(&self, item: T) -> Result<(), PutError<T>> {
        let mut slot = Some(item);
        match self
            .putters
            .wait(None, || self.may_put(), || self.put_step(&mut slot))
        {
            Some(result) => result.map_err(PutError),
            // A wait without a deadline ends only with a result; were it ever to end without
            // one, the item would still be handed back rather than dropped or panicked on.
            None => match slot.take() {
                Some(item) => Err(PutError(item)),
                None => Ok(()),
            },
        }
    }

    pub(crate) fn put_timeout(&self, item: T, timeout: Duration) -> Result<(), PutTimeoutError<T>> {
        let mut slot = Some(item);
        match self.putters.wait(
            deadline(timeout),
            || self.may_put(),
            || self.put_step(&mut slot),
        ) {
            Some(result) => result.map_err(PutTimeoutError::ShutDown),
            None => match slot.take() {
                Some(item) => Err(PutTimeoutError::Timeout(item)),
                None => Ok(()),
            },
        }
    }

    #[inline]
    pub(crate) fn try_get(&self) -> Result<T, TryGetError> {
        // What an immediate shutdown leaves is the caller's of `shutdown_immediate`: a get that
        // starts once the shutdown can be seen (`is_shutdown`) takes none of it, as in Python,
        // whose shutdown empties the queue under its lock. `state` is written once, so this read
        // stays in the getter's cache; the hot path touches no line the producers write besides
        // the storage. (Relaxed: a thread that has seen the shutdown, or been told of it, sees
        // this bit too.)
        if self.state.load(Ordering::Relaxed) & IMMEDIATE != 0 {
            return Err(TryGetError::ShutDown);
        }
        if let Some(item) = self.store.pop() {
            return Ok(self.took(item));
        }
        self.try_get_empty()
    }

    /// A get took `item`: a putter waiting for space may go on. Quietly: a putter's waker that
    /// panics must not drop the item on its way to the caller.
    #[inline]
    fn took(&self, item: T) -> T {
        if self.bounded {
            self.putters.notify_one_quiet();
        }
        item
    }

    /// The queue looked empty: `Empty`, or `ShutDown` once no put can land any more. A shut-down
    /// queue answers with an item or `ShutDown`, never `Empty`, as Python's does.
    #[cold]
    fn try_get_empty(&self) -> Result<T, TryGetError> {
        // A shutdown marks the storage before it sets `state`: once `state` says shut down no
        // put can land any more, and the storage's pop waits for puts in progress (the ring's
        // reserved slots; a lock holder).
        let state = self.state.load(Ordering::SeqCst);
        if state & SHUT_MASK == 0 {
            return Err(TryGetError::Empty);
        }
        if state & IMMEDIATE != 0 {
            return Err(TryGetError::ShutDown);
        }
        match self.store.pop() {
            Some(item) => Ok(self.took(item)),
            None => Err(TryGetError::ShutDown),
        }
    }

    #[inline]
    fn get_step(&self) -> Option<Result<T, GetError>> {
        match self.try_get() {
            Ok(item) => Some(Ok(item)),
            Err(TryGetError::ShutDown) => Some(Err(GetError)),
            Err(TryGetError::Empty) => None,
        }
    }

    #[inline(always)]
    pub(crate) fn get(&self) -> Result<T, GetError> {
        // As for `put`: after `try_get`'s shutdown check, the storage's first attempt inline,
        // and each other case one out-of-line call.
        if self.state.load(Ordering::Relaxed) & IMMEDIATE != 0 {
            return Err(GetError);
        }
        match self.store.pop_first() {
            First::Done(item) => Ok(self.took(item)),
            First::Answer(()) => self.get_empty(),
            First::Again(()) => self.get_slow(),
        }
    }

    /// [`Core::get`] when the storage looked empty: `ShutDown`, an item put meanwhile, or the
    /// wait.
    #[cold]
    #[inline(never)]
    fn get_empty(&self) -> Result<T, GetError> {
        match self.try_get_empty() {
            Ok(item) => Ok(item),
            Err(TryGetError::ShutDown) => Err(GetError),
            Err(TryGetError::Empty) => self.get_wait(),
        }
    }

    /// [`Core::get`] when the storage's first attempt said `Again`: the rest of `try_get` (the
    /// storage's loop), then as [`Core::get_empty`] if it found nothing.
    #[cold]
    #[inline(never)]
    fn get_slow(&self) -> Result<T, GetError> {
        match self.store.pop_again() {
            Some(item) => Ok(self.took(item)),
            None => self.get_empty(),
        }
    }

    #[cold]
    fn get_wait(&self) -> Result<T, GetError> {
        self.getters
            .wait(None, || self.may_get(), || self.get_step())
            .unwrap_or(Err(GetError))
    }

    pub(crate) fn get_timeout(&self, timeout: Duration) -> Result<T, GetTimeoutError> {
        match self
            .getters
            .wait(deadline(timeout), || self.may_get(), || self.get_step())
        {
            Some(Ok(item)) => Ok(item),
            Some(Err(GetError)) => Err(GetTimeoutError::ShutDown),
            None => Err(GetTimeoutError::Timeout),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.store.len()
    }

    pub(crate) fn capacity(&self) -> Option<usize> {
        self.store.capacity()
    }

    /// Counts `n` items done (`shutdown_immediate`).
    fn untrack(&self, n: usize) {
        // The storage is closed: its put count is final. A `task_done` called too many times can
        // have been accepted meanwhile; the done count still never passes the puts.
        let puts = self.store.puts();
        let n = u64::try_from(n).unwrap_or(u64::MAX);
        let _ = self
            .store
            .done()
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |d| {
                Some(d.saturating_add(n).min(puts))
            });
        // The joiners are woken by the caller, with every other waiter, whatever their wakers do.
    }

    pub(crate) fn task_done(&self) -> Result<(), TaskDoneError> {
        let store = &self.store;
        let mut done = store.done().load(Ordering::SeqCst);
        loop {
            // Fewer done than taken is enough (the getters' own count); else ask the puts.
            if done >= store.pops() && done >= store.puts() {
                return Err(TaskDoneError);
            }
            match store.done().compare_exchange_weak(
                done,
                done + 1,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => break,
                Err(now) => done = now,
            }
        }
        // A joiner registers before it reads the counts; this reads the joiners after the count
        // moved, so one of the two sees the other. Only then the put count is read.
        if self.joiners.has_waiters() && done + 1 >= store.puts() {
            self.joiners.notify_all();
        }
        Ok(())
    }

    pub(crate) fn unfinished(&self) -> usize {
        let done = self.store.done().load(Ordering::SeqCst);
        let n = self.store.puts().saturating_sub(done);
        usize::try_from(n).unwrap_or(usize::MAX)
    }

    fn all_done(&self) -> Option<()> {
        // The done count first: it never passes the puts, so if it reaches the puts read after
        // it, nothing was unfinished at that read.
        let done = self.store.done().load(Ordering::SeqCst);
        (done >= self.store.puts()).then_some(())
    }

    pub(crate) fn join(&self) {
        self.joiners.wait(None, || true, || self.all_done());
    }

    pub(crate) fn join_timeout(&self, timeout: Duration) -> bool {
        self.joiners
            .wait(deadline(timeout), || true, || self.all_done())
            .is_some()
    }

    pub(crate) fn shutdown(&self) {
        self.store.close();
        self.state.fetch_or(SHUTDOWN, Ordering::SeqCst);
        if let Some(panic) = wake_everyone(&[&self.getters, &self.putters]) {
            resume_unwind(panic);
        }
    }

    pub(crate) fn shutdown_immediate(&self) -> Vec<T> {
        // No put lands after this; the storage's pop waits for puts in progress.
        self.store.close();
        self.state.fetch_or(IMMEDIATE, Ordering::SeqCst);
        let mut left = Vec::new();
        while let Some(item) = self.store.pop() {
            left.push(item);
        }
        if !left.is_empty() {
            self.untrack(left.len());
        }
        // A panicking waker (an async waiter's executor) is not reported here: the items are
        // what the caller must get, and every waiter is woken all the same.
        if let Some(payload) = wake_everyone(&[&self.getters, &self.putters, &self.joiners]) {
            crate::waiters::drop_payload(payload);
        }
        left
    }

    pub(crate) fn is_shutdown(&self) -> bool {
        self.state.load(Ordering::SeqCst) & SHUT_MASK != 0
    }

    pub(crate) fn put_future(&self, item: T) -> PutFuture<'_, T> {
        PutFuture {
            core: self,
            slot: Some(item),
            waiter: None,
        }
    }
}

/// What the futures need from a core, without naming its storage type.
pub(crate) trait CoreOps<T> {
    fn put_step(&self, slot: &mut Option<T>) -> Option<Result<(), T>>;
    fn get_step(&self) -> Option<Result<T, GetError>>;
    fn all_done(&self) -> Option<()>;
    fn putters(&self) -> &Waiters;
    fn getters(&self) -> &Waiters;
    fn joiners(&self) -> &Waiters;
}

impl<T, S: Store<T>> CoreOps<T> for Core<T, S> {
    fn put_step(&self, slot: &mut Option<T>) -> Option<Result<(), T>> {
        Core::put_step(self, slot)
    }
    fn get_step(&self) -> Option<Result<T, GetError>> {
        Core::get_step(self)
    }
    fn all_done(&self) -> Option<()> {
        Core::all_done(self)
    }
    fn putters(&self) -> &Waiters {
        &self.putters
    }
    fn getters(&self) -> &Waiters {
        &self.getters
    }
    fn joiners(&self) -> &Waiters {
        &self.joiners
    }
}

impl<T, S: Store<T>> Core<T, S> {
    pub(crate) fn get_future(&self) -> GetFuture<'_, T> {
        GetFuture {
            core: Some(self),
            waiter: None,
        }
    }

    pub(crate) fn join_future(&self) -> JoinFuture<'_, T> {
        JoinFuture {
            core: self,
            waiter: None,
        }
    }
}

/// Polls `op` as an async waiter on `waiters`: registers a waker before sleeping and re-checks,
/// so a notification can never fall between the check and the registration.
fn poll_wait<R>(
    waiters: &Waiters,
    waiter: &mut Option<crate::loom::Arc<Waiter>>,
    cx: &mut Context<'_>,
    mut op: impl FnMut() -> Option<R>,
) -> Poll<R> {
    // Whether the waiter was registered during this poll: then it is still in the list and a
    // notification may be on its way to it for another item than the one `op` finds.
    let mut fresh = false;
    // Whether a notification had come before this poll's first try: only then is it the one
    // that try answers. One that comes while `op` runs (a get can wait inside for a put's write)
    // may be for another item than the one `op` takes, and is passed on like a fresh waiter's.
    let woken = waiter.as_ref().is_some_and(|w| w.notified());
    loop {
        // A waker that `op` wakes may panic (a put waking a getter), after `op` did its work:
        // this future is done then, and must not stay in the list, where it would take a
        // wake-up meant for a live waiter for as long as it is kept.
        let done = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(&mut op)) {
            Ok(done) => done,
            Err(payload) => {
                if let Some(w) = waiter.take() {
                    waiters.cancel(&w);
                }
                std::panic::resume_unwind(payload);
            }
        };
        if let Some(r) = done {
            if let Some(w) = waiter.take() {
                if fresh || !woken {
                    // Pass a notification that came meanwhile on (see `Waiters::wait`).
                    waiters.cancel(&w);
                } else {
                    // Woken before this poll: the notification was this task's to use.
                    waiters.leave(&w);
                }
            }
            return Poll::Ready(r);
        }
        match waiter.as_ref() {
            Some(w) => {
                // Kept in `waiter` meanwhile: if the waker's clone (or the old waker's drop)
                // panics, the future's drop still takes it out of the list.
                w.set_waker(cx.waker());
                if !w.notified() {
                    return Poll::Pending;
                }
                // Notified, but another waiter was faster: register again.
                *waiter = None;
            }
            None => {
                *waiter = Some(waiters.register_task(cx.waker()));
                fresh = true;
            }
        }
    }
}

/// The future of `put_async`. Dropping it before it completes drops the item, which was never
/// put, and passes on any wake-up it had received; [`into_inner`](PutFuture::into_inner) gives
/// the item back instead. Polled again after it completed (or after a getter's waker panicked
/// out of it, the item put), it stays pending and waits for no room.
#[must_use = "futures do nothing unless awaited"]
pub struct PutFuture<'a, T> {
    core: &'a (dyn CoreOps<T> + Sync),
    slot: Option<T>,
    waiter: Option<crate::loom::Arc<Waiter>>,
}

// The item is moved in and out, never pinned.
impl<T> Unpin for PutFuture<'_, T> {}

impl<T> Future for PutFuture<'_, T> {
    type Output = Result<(), PutError<T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if this.slot.is_none() {
            // Completed: waiting as a putter would take a wake-up meant for a live one.
            return Poll::Pending;
        }
        let core = this.core;
        let slot = &mut this.slot;
        poll_wait(core.putters(), &mut this.waiter, cx, || core.put_step(slot))
            .map(|r| r.map_err(PutError))
    }
}

impl<T> PutFuture<'_, T> {
    /// Gives the item back if it has not been put, and lets go of the wait as dropping the
    /// future does; `None` once the future has completed (the item was put, or returned in its
    /// [`PutError`]). For a `select!` on `&mut fut` that chose another branch, or a timeout
    /// that gave up, this is the way to keep an item that found no room: nothing is lost.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let q = weft_channel::Queue::bounded(1).unwrap();
    /// q.put("first").unwrap();
    /// let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    /// rt.block_on(async {
    ///     let mut put = q.put_async("second");
    ///     // The queue stays full, so the timeout gives up on the put.
    ///     let waited = tokio::time::timeout(Duration::from_millis(10), &mut put).await;
    ///     assert!(waited.is_err());
    ///     assert_eq!(put.into_inner(), Some("second"));
    /// });
    /// assert_eq!(q.qsize(), 1);
    /// ```
    pub fn into_inner(mut self) -> Option<T> {
        // `self` is dropped after this, which takes its waiter out of the list.
        self.slot.take()
    }
}

impl<T> Drop for PutFuture<'_, T> {
    fn drop(&mut self) {
        if let Some(w) = self.waiter.take() {
            self.core.putters().cancel(&w);
        }
    }
}

impl<T> std::fmt::Debug for PutFuture<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PutFuture")
            .field("pending", &self.slot.is_some())
            .finish()
    }
}

/// The future of `get_async`. Dropping it before it completes takes nothing from the queue and
/// passes on any wake-up it had received. Polled again after it completed, it stays pending and
/// takes no other item.
#[must_use = "futures do nothing unless awaited"]
pub struct GetFuture<'a, T> {
    /// `None` once the future has completed (which keeps the future 24 bytes).
    core: Option<&'a (dyn CoreOps<T> + Sync)>,
    waiter: Option<crate::loom::Arc<Waiter>>,
}

impl<T> Unpin for GetFuture<'_, T> {}

impl<T> Future for GetFuture<'_, T> {
    type Output = Result<T, GetError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let Some(core) = this.core else {
            return Poll::Pending;
        };
        let got = poll_wait(core.getters(), &mut this.waiter, cx, || core.get_step());
        if got.is_ready() {
            this.core = None;
        }
        got
    }
}

impl<T> Drop for GetFuture<'_, T> {
    fn drop(&mut self) {
        // A waiter is only kept while the future has not completed, so `core` is there.
        if let (Some(w), Some(core)) = (self.waiter.take(), self.core) {
            core.getters().cancel(&w);
        }
    }
}

impl<T> std::fmt::Debug for GetFuture<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GetFuture").finish_non_exhaustive()
    }
}

/// The future of [`SimpleQueue::get_async`](crate::SimpleQueue::get_async): the next item (a
/// `SimpleQueue` is never shut down, so the get cannot fail). Dropping it before it completes
/// takes nothing from the queue and passes on any wake-up it had received.
#[must_use = "futures do nothing unless awaited"]
pub struct SimpleGetFuture<'a, T> {
    inner: GetFuture<'a, T>,
}

impl<'a, T> SimpleGetFuture<'a, T> {
    pub(crate) fn new(inner: GetFuture<'a, T>) -> Self {
        Self { inner }
    }
}

impl<T> Future for SimpleGetFuture<'_, T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        match Pin::new(&mut self.get_mut().inner).poll(cx) {
            Poll::Ready(Ok(item)) => Poll::Ready(item),
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(GetError)) => crate::queue::never_shut_down(),
        }
    }
}

impl<T> std::fmt::Debug for SimpleGetFuture<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimpleGetFuture").finish_non_exhaustive()
    }
}

/// The future of `join_async`.
#[must_use = "futures do nothing unless awaited"]
pub struct JoinFuture<'a, T> {
    core: &'a (dyn CoreOps<T> + Sync),
    waiter: Option<crate::loom::Arc<Waiter>>,
}

impl<T> Unpin for JoinFuture<'_, T> {}

impl<T> Future for JoinFuture<'_, T> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let core = this.core;
        poll_wait(core.joiners(), &mut this.waiter, cx, || core.all_done())
    }
}

impl<T> Drop for JoinFuture<'_, T> {
    fn drop(&mut self) {
        if let Some(w) = self.waiter.take() {
            self.core.joiners().cancel(&w);
        }
    }
}

impl<T> std::fmt::Debug for JoinFuture<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinFuture").finish_non_exhaustive()
    }
}

/// Wakes every waiter of each list, also when a waker panics (`notify_all` wakes a whole list
/// before it re-raises): a shutdown must reach every blocked thread and task. Returns the first
/// panic.
fn wake_everyone(lists: &[&Waiters]) -> Option<Box<dyn Any + Send>> {
    let mut panic = None;
    for list in lists {
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| list.notify_all())) {
            keep_first(&mut panic, payload);
        }
    }
    panic
}
