//! Python's `threading` synchronization primitives for Rust: locks that own their data,
//! conditions, semaphores, barriers and events, with blocking, `try_` and `_timeout` forms.
//!
//! ```
//! use std::sync::Arc;
//! use weft_sync::{Event, Lock};
//!
//! let total = Arc::new(Lock::new(0u64));
//! let go = Arc::new(Event::new());
//! let workers: Vec<_> = (0..4)
//!     .map(|i| {
//!         let (total, go) = (Arc::clone(&total), Arc::clone(&go));
//!         std::thread::spawn(move || {
//!             go.wait();
//!             *total.acquire() += i;
//!         })
//!     })
//!     .collect();
//! go.set();
//! for w in workers {
//!     w.join().unwrap();
//! }
//! assert_eq!(*total.acquire(), 0 + 1 + 2 + 3);
//! ```
//!
//! # The primitives
//! - [`Lock`]: mutual exclusion; the guard owns access to the data.
//! - [`RLock`]: a lock the holding thread may take again.
//! - [`Condition`]: wait until notified, with the lock and data built in.
//! - [`Semaphore`]: at most N holders at once; also a signal between threads.
//! - [`BoundedSemaphore`]: a semaphore that refuses to be released past its start value.
//! - [`Barrier`]: N threads meet, with an action, a timeout, abort and reset.
//! - [`Event`]: a flag that threads wait on.
//! - [`panic_message`], [`drop_panic_payload`] and [`into_panic_message`]: for a caught panic's
//!   payload, as the other weft crates report and drop it.
//!
//! Acquiring has three forms: blocking (`acquire`), non-blocking (`try_acquire`) and timed
//! (`acquire_timeout(d)`); waiting (on a `Condition`, `Barrier` or `Event`) has a blocking and a
//! timed form (`wait`, `wait_timeout(d)`; an `Event` also has `is_set`). Timeouts are
//! [`Duration`](std::time::Duration)s: `Duration::MAX` means "forever", and zero means "try
//! once", except for a `Barrier`, where the barrier breaks unless this thread is the last to
//! arrive (stricter than Python's `wait(0)`, which lets go of the barrier's lock for a moment),
//! and a `Condition`'s `wait_timeout(0)`, which, as Python's `wait(0)`, lets go of the lock and
//! takes it back (another thread may have changed the data meanwhile).
//!
//! # Coming from Python
//! | Python `threading` | weft-sync |
//! |---|---|
//! | `lock = Lock()`; `with lock:` | `let lock = Lock::new(data);` `let guard = lock.acquire();` |
//! | `lock.acquire(blocking=False)` | `lock.try_acquire()` → `Option<guard>` |
//! | `lock.acquire(timeout=t)` | `lock.acquire_timeout(d)` → `Option<guard>` |
//! | `lock.release()` | drop the guard, or `guard.release()` |
//! | releasing a `Lock` from another thread | [`Semaphore::new(0)`](Semaphore) + `release(1)` |
//! | `RLock()` | [`RLock`]; guards give `&T`, use `Cell`/`RefCell` inside |
//! | `cond.wait(timeout)` → bool | `guard.wait_timeout(d)` → bool |
//! | `cond.wait_for(pred, timeout)` | `guard.wait_for_timeout(\|data\| ..., d)` |
//! | `cond.notify(n)` | `cond.notify(n)` → how many were woken |
//! | `Semaphore(n)`; `with sem:` | `Semaphore::new(n)`; `let _permit = sem.acquire();` |
//! | `sem.release(n)` | `sem.release(n)` → `Result` |
//! | `BoundedSemaphore` `ValueError` | [`ReleaseError::TooManyReleases`] |
//! | `Barrier(n, action, timeout)` | `Barrier::new(n)?.action(f).timeout(d)` |
//! | `BrokenBarrierError` | [`BrokenBarrier`], with its [`BreakCause`] |
//! | `Event()`; `set`/`clear`/`is_set`/`wait` | [`Event`], the same names |
//!
//! # Relationship with std, parking_lot and tokio
//! [`Lock`], [`RLock`] and [`Condition`] are `parking_lot`'s `Mutex`, `ReentrantMutex` and
//! `Condvar` in design, with Python's names, timeouts that accept `Duration::MAX`, and (for
//! `Condition`) the lock built in. Their raw lock is weft's own, on `parking_lot_core` (the parking
//! table parking_lot itself uses) and lock_api: parking_lot's timed lock yields the core up to
//! seven times before it looks at its deadline, which on a busy machine made a 1 ms
//! `acquire_timeout` take 30–50 ms; weft's spins without yielding, then parks with the deadline.
//! Its speed is parking_lot's (BENCHMARKS.md), and its wait logic has loom models. `std` has no
//! semaphore and its `Barrier` has no timeout, action, abort or reset; tokio's `Semaphore` and
//! `Barrier` are for async tasks, not threads. [`Semaphore`], [`Barrier`] and [`Event`] carry their
//! own wait logic: a short bounded spin, then a parking_lot `Mutex`/`Condvar` slow path, after an
//! atomic fast path for `Semaphore` and `Event` (every `Barrier` arrival takes its mutex). That
//! logic is model-checked with loom (`--cfg weft_loom`), timed-out waits included (a time-out
//! racing a release, a `set`, or the last arrival), and so is `Condition`'s count of its
//! waiters, an atomic kept so that a `notify(n)` called without the lock does not wake one of
//! them twice (see [`Condition::notify`]): its models run on the raw lock and condition variable
//! `Condition` is built on, timed-out waits included.
//!
//! In async code: these are thread primitives, and their waits block the calling thread, which
//! for an async task is the runtime's. Under weft-async's `run` (one thread, as asyncio's event
//! loop) every task of the run stops until the wait returns, and a wait for something another
//! task of that run would do (an `Event::wait` for its `set`, an `acquire` of a lock it holds
//! across an `.await`) never returns, as a `threading` wait inside a coroutine. Async tasks use
//! weft-async's `Event`, `Lock`, `Condition`, `Semaphore`, `BoundedSemaphore` and `Barrier`,
//! which are awaited, or hand the blocking call to its `to_thread`.
//!
//! Poisoning: none of these types is poisoned by a panic while held, as with parking_lot.
//!
//! Spinning: a blocking wait spins briefly before it parks (127 `spin_loop` hints, then up to
//! 16 `yield_now` calls for `Semaphore`, `Barrier` and `Event`; parking_lot's 14 hints and 7
//! yields for the locks); a wait with a timeout spins the hints only, since on a busy machine
//! each yield can give the core away for a whole time slice.
//!
//! # Deadlock detection
//! With the `deadlock-detection` feature (off by default; the umbrella's feature of the same
//! name), [`Lock`], [`RLock`] and [`Condition`] check lock order as the Linux kernel's lockdep
//! does, and report an inversion the **first time both orders run** — even one after the other,
//! on one thread, where nothing hangs — naming the lock classes, where each was taken and by
//! which thread:
//!
//! ```text
//! weft deadlock detection: possible deadlock: lock order cycle
//!   thread 'main' held 'account/bob' (acquired at src/bank.rs:43:32) and then took 'account/alice' at src/bank.rs:44:30
//!   thread 'main' held 'account/alice' (acquired at src/bank.rs:43:32) and then took 'account/bob' at src/bank.rs:44:30
//! ```
//!
//! - A lock's *class* is where it was created (`#[track_caller]`), so locks created at one place
//!   share it; [`Lock::named`] (and `RLock::named`, `Condition::named`) gives one by name. Locks
//!   made through a function item (`.map(Lock::new)`) or `#[derive(Default)]` get the class of
//!   that shim or derive: use a closure (`.map(|v| Lock::new(v))`) or `named` to tell them
//!   apart. Classes and their edges are kept for the life of the process.
//! - Each blocking or timed acquire made while holding other locks records the edges
//!   *held class → acquired class*. `try_acquire` records none (it cannot wait); re-entering an
//!   `RLock` is not an edge; a `Condition` wait drops its lock from the held set while it waits,
//!   and records *held class → condition* for the locks it keeps (it takes the condition's lock
//!   back holding them) when it starts, so an inversion through that re-take is reported
//!   before it can hang: the re-take itself is not live-checked.
//!   Two locks of one class, one inside the other, are a cycle unless the inner one is taken with
//!   [`Lock::acquire_nested`] (only `Lock` has it: give `RLock`s or `Condition`s taken one
//!   inside the other distinct names with `named`). A thread acquiring a `Lock` it holds is
//!   reported at once, also by `acquire_timeout` with a non-zero timeout (which, unless the
//!   policy panics, then waits out its timeout as without the feature).
//! - An acquire blocked longer than `deadlock::set_live_threshold` (1 s by default) follows
//!   the wait-for graph and reports a deadlock that has really happened, with the threads in it.
//! - `deadlock::set_deadlock_policy`: `Report` (default: stderr, once per distinct cycle),
//!   `Panic` (for test suites: the acquire that closes the cycle panics, and one that would
//!   wait for ever panics every time), `Ignore`;
//!   `deadlock::set_deadlock_hook` receives the reports instead of stderr; it runs on the thread
//!   that found the cycle, before that thread takes the new lock (for a `Condition` wait,
//!   before the wait lets the condition's lock go), and may itself take locks other than the
//!   ones its thread holds. Under `Ignore` nothing is recorded and the hook is not called.
//! - Cost: an uncontended acquire + release is about 17 ns holding no other lock and 23–26 ns
//!   holding two (parking_lot alone: 5 ns); with the feature off the locks' acquire paths are
//!   unchanged.
//!   Semaphores, barriers and events are not locks and are not tracked.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(clippy::missing_errors_doc)]

mod barrier;
mod condition;
mod error;
mod event;
mod lock;
#[cfg(feature = "deadlock-detection")]
#[path = "lockdep.rs"]
mod lockdep;
#[cfg(not(feature = "deadlock-detection"))]
#[path = "lockdep_off.rs"]
mod lockdep;
mod loom;
mod raw;
mod rlock;
mod semaphore;

pub use barrier::Barrier;
pub use condition::{Condition, ConditionGuard};
pub use error::{AcquireError, BreakCause, BrokenBarrier, ReleaseError, ZeroParties};
pub use event::Event;
pub use lock::{Lock, LockGuard};
pub use rlock::{RLock, RLockGuard};
pub use semaphore::{BoundedSemaphore, Semaphore, SemaphorePermit};

/// Deadlock detection (feature `deadlock-detection`, off by default): lock-order validation
/// that reports an inversion the first time both orders are taken, and a live check of the
/// wait-for graph. See the [crate documentation](crate#deadlock-detection).
#[cfg(feature = "deadlock-detection")]
pub mod deadlock {
    pub use crate::lockdep::{
        clear_deadlock_hook, deadlock_policy, set_deadlock_hook, set_deadlock_policy,
        set_live_threshold, CycleStep, DeadlockPolicy, DeadlockReport, ReportKind,
    };
}

pub use loom::{spin_until, spin_until_deadline};

/// Drops a caught panic's payload, where a panic must not escape (a destructor, a thread about to
/// publish its result): a panic in the payload's own `Drop` does not unwind from here; its
/// payload (usually a message) is dropped the same way in turn. Only a chain of 8 payloads whose
/// every `Drop` panics again has its last one forgotten (leaked) rather than dropped.
/// `let _ = catch_unwind(...)` drops the payload outside the catch, so such a payload would
/// escape it.
///
/// ```
/// let payload = std::panic::catch_unwind(|| panic!("caught")).unwrap_err();
/// weft_sync::drop_panic_payload(payload);
/// ```
pub fn drop_panic_payload(mut payload: Box<dyn std::any::Any + Send>) {
    for _ in 0..PAYLOAD_DROP_TRIES {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(payload))) {
            Ok(()) => return,
            Err(again) => payload = again,
        }
    }
    std::mem::forget(payload);
}

/// How many payloads in a row [`drop_panic_payload`] drops when each one's `Drop` panics with
/// a new one, before it forgets the last (a bound, so that a payload that always panics anew
/// cannot keep it looping).
const PAYLOAD_DROP_TRIES: usize = 8;

/// The message of a panic payload (what `catch_unwind` or `JoinHandle::join` returns), as std's
/// panic hook prints it: the `&str` or `String` the panic was raised with, `"Box<dyn Any>"` for
/// any other payload. weft uses it wherever it reports a caught panic to whoever waits for the
/// result (a [`Barrier`]'s action, a weft thread's `join`).
///
/// ```
/// let payload = std::panic::catch_unwind(|| panic!("code {}", 7)).unwrap_err();
/// assert_eq!(weft_sync::panic_message(payload.as_ref()), "code 7");
/// ```
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "Box<dyn Any>".to_owned()
    }
}

/// The message of a caught panic ([`panic_message`]), its payload then dropped as
/// [`drop_panic_payload`] does: for whoever reports a panic and keeps nothing else of it.
///
/// ```
/// let payload = std::panic::catch_unwind(|| panic!("code {}", 7)).unwrap_err();
/// assert_eq!(weft_sync::into_panic_message(payload), "code 7");
/// ```
pub fn into_panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    let message = panic_message(payload.as_ref());
    drop_panic_payload(payload);
    message
}

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// The `Option` of a guard that `try_acquire` and `acquire_timeout` return is `#[must_use]`, as
/// the guards are: dropped at once, it would release what was just acquired. Each snippet below
/// discards one under `deny(unused_must_use)` and must not compile (the last one, using them,
/// does).
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// weft_sync::Lock::new(0).try_acquire();
/// ```
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// weft_sync::RLock::new(0).acquire_timeout(std::time::Duration::from_secs(1));
/// ```
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// weft_sync::Condition::new(0).try_acquire();
/// ```
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// weft_sync::BoundedSemaphore::new(1).acquire_timeout(std::time::Duration::from_secs(1));
/// ```
///
/// ```
/// #![deny(unused_must_use)]
/// let lock = weft_sync::Lock::new(0);
/// assert!(lock.try_acquire().is_some());
/// let sem = weft_sync::Semaphore::new(1);
/// let _permit = sem.acquire_timeout(std::time::Duration::from_secs(1)).unwrap();
/// ```
#[cfg(doctest)]
struct MustUseDoctests;
