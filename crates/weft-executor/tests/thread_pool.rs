//! Behaviour tests of [`ThreadPoolExecutor`]: submit, map, shutdown, drop, the initializer,
//! lazy and reused workers, thread names, and the `Executor` trait.
//!
//! Re-expressed from CPython's `Lib/test/test_concurrent_futures/`:
//! - `executor.py` (`ExecutorTest`): `test_submit`, `test_map`, `test_map_exception`,
//!   `test_map_timeout`, `test_shutdown_race_issue12456`, `test_max_workers_negative`
//!   (`test_submit_keyword` has no counterpart: a closure takes its arguments);
//! - `test_thread_pool.py`: `test_default_workers`, `test_saturation`, `test_idle_thread_reuse`,
//!   `test_executor_map_current_future_cancel`, and `test_map_submits_without_iteration`, whose
//!   opposite holds here (weft's `map` is lazy, as its docs say);
//! - `test_shutdown.py`: `test_run_after_shutdown`, `test_hang_issue12364`,
//!   `test_cancel_futures`, `test_hang_gh94440`, `test_threads_terminate`,
//!   `test_context_manager_shutdown`, `test_del_shutdown`, `test_shutdown_no_wait`,
//!   `test_thread_names_assigned`, `test_thread_names_default`, `test_cancel_futures_wait_false`;
//! - `test_init.py`: `InitializerMixin.test_initializer` and
//!   `FailingInitializerMixin.test_initializer`.
//!
//! Added (issue 6): map's read-ahead over an endless input, a panic in one item cancelling the
//! rest, shutdown from inside a task, queued tasks failing with BrokenPool when the initializer
//! panics, 100k tasks from 4 submitting threads, and every task ending done, failed or cancelled
//! when a shutdown with `cancel_futures` races with submitters.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use common::{assert_pending, get, occupy, pool, recv, spawn, LONG, SHORT, SLACK};
use weft_executor::{
    BuildError, Executor, SubmitError, TaskError, ThreadPoolBuilder, ThreadPoolExecutor,
};
use weft_sync::{Barrier, Event};

#[path = "../../weft-sync/tests/common/busy.rs"]
mod busy;

// ---------------------------------------------------------------------------------------------
// submit

#[test]
fn submit_returns_the_result() {
    let pool = pool(2);
    let f = pool.submit(|| 2_u32.pow(8)).unwrap();
    assert_eq!(get(f), Ok(256));
}

#[test]
fn a_panicking_task_fails_only_its_own_future() {
    let pool = pool(1);
    let bad = pool
        .submit(|| -> u8 { panic!("ZeroDivisionError") })
        .unwrap();
    let good = pool.submit(|| 1_u8).unwrap();
    assert_eq!(
        get(bad).unwrap_err().panic_message(),
        Some("ZeroDivisionError")
    );
    assert_eq!(get(good), Ok(1));
    // The worker survived the panic and was reused.
    assert_eq!(pool.worker_count(), 1);
}

/// Panics when dropped: a task's capture, or a panic's payload.
struct PanicOnDrop;

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("PanicOnDrop dropped");
    }
}

#[test]
fn a_panic_whose_payload_panics_when_dropped_fails_only_its_own_future() {
    let pool = pool(1);
    let bad = pool
        .submit(|| -> u8 { std::panic::panic_any(PanicOnDrop) })
        .unwrap();
    assert_eq!(get(bad).unwrap_err().panic_message(), Some("Box<dyn Any>"));
    // The worker took its idle token back and runs the next task.
    assert_eq!(get(pool.submit(|| 1_u8).unwrap()), Ok(1));
    assert_eq!(pool.worker_count(), 1);
}

/// Fails unless `err` is a panic located at `line` of this file.
fn assert_panicked_at<E: std::fmt::Debug>(err: &TaskError<E>, line: u32) {
    let location = err
        .panic_location()
        .unwrap_or_else(|| panic!("no location: {err:?}"));
    assert!(
        location.contains(&format!("thread_pool.rs:{line}:")),
        "{location} is not line {line}"
    );
}

// Python: `f.exception().__traceback__` ends at the raise in the task.
const TASK_LINE: u32 = line!() + 5;
const FALLIBLE_LINE: u32 = line!() + 15;
#[test]
fn a_tasks_panic_carries_the_tasks_location() {
    let pool = pool(1);
    let f = pool.submit(|| -> u8 { panic!("located") }).unwrap();
    let err = get(f).unwrap_err();
    assert_panicked_at(&err, TASK_LINE);
    assert_eq!(
        err.to_string(),
        format!(
            "the task panicked at {}: located",
            err.panic_location().unwrap()
        )
    );
    let f = pool
        .submit_fallible(|| -> Result<u8, ()> { panic!("fallible") })
        .unwrap();
    assert_panicked_at(&get(f).unwrap_err(), FALLIBLE_LINE);
    // Through the Executor trait (`submit_call`): the function's line.
    let f = Executor::submit(&pool, explode, 3).unwrap();
    assert_panicked_at(&get(f).unwrap_err(), EXPLODE_LINE);
}

const EXPLODE_LINE: u32 = line!() + 2;
fn explode(x: u32) -> u32 {
    panic!("exploded at {x}")
}

const DROPPED_PAYLOAD_LINE: u32 = line!() + 5;
#[test]
fn a_panic_whose_payload_panics_when_dropped_is_located_at_the_panic() {
    let pool = pool(1);
    let bad = pool
        .submit(|| -> u8 { std::panic::panic_any(PanicOnDrop) })
        .unwrap();
    // Not the line of PanicOnDrop::drop, whose panic happens after the task's.
    assert_panicked_at(&get(bad).unwrap_err(), DROPPED_PAYLOAD_LINE);
}

const CHUNK_LINE: u32 = line!() + 9;
#[test]
fn a_map_chunks_panic_is_located_at_the_items_panic() {
    let pool = pool(2);
    let results: Vec<_> = pool
        .map(
            |x: u32| {
                assert!(x < 100);
                if x == 3 {
                    panic!("three")
                }
                x
            },
            0..6,
        )
        .chunksize(2)
        .collect();
    // Chunks [0, 1], [2, 3]: the second fails as a whole, and the iterator ends there.
    assert_eq!(results.len(), 3, "{results:?}");
    assert_eq!(results[..2], [Ok(0), Ok(1)]);
    let err = results[2].as_ref().unwrap_err();
    assert_eq!(err.panic_message(), Some("three"));
    assert_panicked_at(err, CHUNK_LINE);
}

/// A task that catches a panic itself and then raises another payload with `resume_unwind`:
/// no location unless a caught panic had its text (weft-thread's rule), and never one of an
/// earlier task on the same worker.
const CAUGHT_LINE: u32 = line!() + 6;
#[test]
fn a_resumed_payload_is_located_only_by_a_panic_of_the_same_task() {
    let pool = pool(1);
    let f = pool
        .submit(|| -> u8 {
            let _ = std::panic::catch_unwind(|| panic!("same text"));
            std::panic::resume_unwind(Box::new("same text"))
        })
        .unwrap();
    assert_panicked_at(&get(f).unwrap_err(), CAUGHT_LINE);
    // The same worker, a later task: the earlier task's panic lends it nothing.
    let f = pool
        .submit(|| -> u8 { std::panic::resume_unwind(Box::new("same text")) })
        .unwrap();
    let err = get(f).unwrap_err();
    assert_eq!(err.panic_message(), Some("same text"));
    assert_eq!(err.panic_location(), None);
}

#[test]
fn submit_fallible_fails_the_future_with_the_tasks_error() {
    let pool = pool(1);
    let f = pool.submit_fallible(|| "12".parse::<u8>()).unwrap();
    assert_eq!(get(f), Ok(12));
    let f = pool.submit_fallible(|| Err::<u8, _>("bad input")).unwrap();
    assert_eq!(get(f), Err(TaskError::Failed("bad input")));
    let f = pool
        .submit_fallible(|| -> Result<u8, &str> { panic!("worse") })
        .unwrap();
    assert_eq!(get(f).unwrap_err().panic_message(), Some("worse"));
}

#[test]
fn submit_after_shutdown_gives_the_closure_back() {
    let pool = pool(1);
    pool.shutdown(true, false);
    let data = String::from("abc");
    let err = pool.submit(move || data.len()).unwrap_err();
    assert!(err.is_shut_down());
    assert!(!err.is_broken_pool());
    assert_eq!(
        err.to_string(),
        "cannot submit after the pool was shut down or the program's exit began"
    );
    assert_eq!(format!("{err:?}"), "ShutDown(..)");
    assert_eq!((err.into_inner())(), 3);
    // submit_fallible too.
    let err = pool.submit_fallible(|| Ok::<_, ()>(4)).unwrap_err();
    assert_eq!((err.into_inner())(), Ok(4));
}

#[test]
fn shutdown_is_idempotent() {
    let pool = pool(2);
    let f = pool.submit(|| 1).unwrap();
    pool.shutdown(true, false);
    pool.shutdown(true, true);
    pool.shutdown(false, false);
    assert_eq!(get(f), Ok(1));
}

// ---------------------------------------------------------------------------------------------
// Workers: max_workers, default, laziness, reuse, saturation, names

#[test]
fn max_workers_zero_is_an_error() {
    let err = ThreadPoolExecutor::builder()
        .max_workers(0)
        .build()
        .unwrap_err();
    assert_eq!(err, BuildError::ZeroWorkers);
    assert_eq!(err.to_string(), "max_workers must be greater than 0");
}

#[test]
fn a_nul_in_the_name_prefix_is_an_error() {
    // std cannot name a thread so: refused at build, not a panic at the first submit.
    let err = ThreadPoolExecutor::builder()
        .thread_name_prefix("io\0pool")
        .build()
        .unwrap_err();
    assert_eq!(err, BuildError::NulInNamePrefix);
    assert!(err.to_string().contains("NUL"), "{err}");
}

#[test]
fn default_max_workers_is_pythons() {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    assert_eq!(ThreadPoolExecutor::new().max_workers(), (cores + 4).min(32));
    assert_eq!(
        ThreadPoolExecutor::default().max_workers(),
        (cores + 4).min(32)
    );
    assert_eq!(pool(3).max_workers(), 3);
}

#[test]
fn workers_start_lazily() {
    let pool = pool(4);
    assert_eq!(pool.worker_count(), 0);
    let busy = occupy(&pool, 2);
    assert_eq!(pool.worker_count(), 2);
    busy.release();
}

#[test]
fn idle_workers_are_reused() {
    // CPython's test_idle_thread_reuse: three tasks one after another use one thread.
    let pool = ThreadPoolExecutor::new();
    assert_eq!(get(pool.submit(|| 21 * 2).unwrap()), Ok(42));
    assert_eq!(get(pool.submit(|| 6 * 7).unwrap()), Ok(42));
    assert_eq!(get(pool.submit(|| 3 * 14).unwrap()), Ok(42));
    assert_eq!(pool.worker_count(), 1);
}

#[test]
fn idle_workers_are_reused_many_times() {
    // The same, many times over: a submit after a result never starts a second thread.
    let pool = ThreadPoolExecutor::new();
    for i in 0..1000 {
        assert_eq!(get(pool.submit(move || i).unwrap()), Ok(i));
    }
    assert_eq!(pool.worker_count(), 1);
}

#[test]
fn saturation_starts_exactly_max_workers() {
    let pool = pool(4);
    let gate = Arc::new(Event::new());
    let futures: Vec<_> = (0..15 * 4)
        .map(|_| {
            let g = Arc::clone(&gate);
            pool.submit(move || assert!(g.wait_timeout(LONG))).unwrap()
        })
        .collect();
    assert_eq!(pool.worker_count(), 4);
    gate.set();
    pool.shutdown(true, false);
    for f in futures {
        assert!(f.done());
        get(f).unwrap();
    }
    assert_eq!(pool.worker_count(), 4);
}

#[test]
fn thread_names_with_a_prefix() {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(5)
        .thread_name_prefix("SpecialPool")
        .build()
        .unwrap();
    // Five tasks that wait for each other run on five different workers at once.
    let all_running = Arc::new(Barrier::new(5).unwrap().timeout(LONG));
    let futures: Vec<_> = (0..5)
        .map(|_| {
            let b = Arc::clone(&all_running);
            pool.submit(move || {
                b.wait().unwrap();
                std::thread::current().name().map(String::from)
            })
            .unwrap()
        })
        .collect();
    let mut names: Vec<String> = futures
        .into_iter()
        .map(|f| get(f).unwrap().expect("a worker thread has a name"))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "SpecialPool_0",
            "SpecialPool_1",
            "SpecialPool_2",
            "SpecialPool_3",
            "SpecialPool_4"
        ]
    );
}

#[test]
fn a_cloned_builder_builds_pools_with_the_same_settings() {
    let inits = Arc::new(AtomicUsize::new(0));
    let i = Arc::clone(&inits);
    let builder = ThreadPoolExecutor::builder()
        .max_workers(3)
        .thread_name_prefix("Twin")
        .initializer(move || {
            i.fetch_add(1, Ordering::SeqCst);
        });
    let first = builder.clone().build().unwrap();
    let second = builder.build().unwrap();
    for pool in [&first, &second] {
        assert_eq!(pool.max_workers(), 3);
        let name = get(pool
            .submit(|| std::thread::current().name().map(String::from))
            .unwrap())
        .unwrap();
        assert_eq!(name.as_deref(), Some("Twin_0"));
    }
    // One worker in each pool, each run the one initializer the clones share.
    assert_eq!(inits.load(Ordering::SeqCst), 2);
}

#[test]
fn the_default_builder_is_builder() {
    let pool = ThreadPoolBuilder::default().build().unwrap();
    assert_eq!(pool.max_workers(), ThreadPoolExecutor::new().max_workers());
    let name = pool_name_of(&pool);
    assert!(name.starts_with("ThreadPoolExecutor-"), "{name}");
}

#[test]
fn thread_names_by_default() {
    let pool = pool(2);
    let name = get(pool
        .submit(|| std::thread::current().name().map(String::from))
        .unwrap())
    .unwrap()
    .unwrap();
    let (prefix, index) = name.rsplit_once('_').unwrap();
    assert_eq!(index, "0");
    let id = prefix.strip_prefix("ThreadPoolExecutor-").unwrap();
    assert!(id.parse::<u64>().is_ok(), "{name}");
    // Unique per pool.
    let other = pool_name_of(&ThreadPoolExecutor::new());
    assert_ne!(other, name);
}

#[test]
fn an_empty_name_prefix_gives_the_default_names() {
    // As Python's `ThreadPoolExecutor(thread_name_prefix="")`, whose workers are named
    // `ThreadPoolExecutor-N_0`, and as weft-thread's `Thread::name("")`: empty means the default.
    let pool = ThreadPoolExecutor::builder()
        .max_workers(1)
        .thread_name_prefix("")
        .build()
        .unwrap();
    let name = pool_name_of(&pool);
    let (prefix, index) = name.rsplit_once('_').unwrap();
    assert_eq!(index, "0");
    let id = prefix.strip_prefix("ThreadPoolExecutor-");
    assert!(id.is_some_and(|id| id.parse::<u64>().is_ok()), "{name}");
}

fn pool_name_of(pool: &ThreadPoolExecutor) -> String {
    get(pool
        .submit(|| std::thread::current().name().map(String::from))
        .unwrap())
    .unwrap()
    .unwrap()
}

#[test]
fn is_worker_thread() {
    let pool = Arc::new(pool(1));
    let other = ThreadPoolExecutor::new();
    assert!(!pool.is_worker_thread());
    let p = Arc::clone(&pool);
    assert_eq!(
        get(pool.submit(move || p.is_worker_thread()).unwrap()),
        Ok(true)
    );
    let p = Arc::clone(&pool);
    assert_eq!(
        get(other.submit(move || p.is_worker_thread()).unwrap()),
        Ok(false)
    );
}

// ---------------------------------------------------------------------------------------------
// Initializer: test_init.py

thread_local! {
    static INITIALIZER_STATUS: std::cell::Cell<&'static str> =
        const { std::cell::Cell::new("uninitialized") };
}

#[test]
fn the_initializer_runs_in_each_worker_before_its_tasks() {
    let runs = Arc::new(AtomicUsize::new(0));
    let r = Arc::clone(&runs);
    let pool = ThreadPoolExecutor::builder()
        .max_workers(2)
        .initializer(move || {
            r.fetch_add(1, Ordering::SeqCst);
            INITIALIZER_STATUS.with(|s| s.set("initialized"));
        })
        .build()
        .unwrap();
    let barrier = Arc::new(Barrier::new(2).unwrap().timeout(LONG));
    let futures: Vec<_> = (0..2)
        .map(|_| {
            let b = Arc::clone(&barrier);
            pool.submit(move || {
                b.wait().unwrap();
                INITIALIZER_STATUS.with(|s| s.get())
            })
            .unwrap()
        })
        .collect();
    for f in futures {
        assert_eq!(get(f), Ok("initialized"));
    }
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    assert_eq!(pool.broken(), None);
}

#[test]
fn a_panicking_initializer_breaks_the_pool() {
    // Queued tasks fail with BrokenPool, and every later submit is refused with the closure
    // back. The initializer waits for a signal so the tasks are queued when it panics.
    let go = Arc::new(Event::new());
    let g = Arc::clone(&go);
    let pool = ThreadPoolExecutor::builder()
        .max_workers(2)
        .initializer(move || {
            assert!(g.wait_timeout(LONG));
            panic!("error in initializer");
        })
        .build()
        .unwrap();
    let queued: Vec<_> = (0..10).map(|i| pool.submit(move || i).unwrap()).collect();
    go.set();
    for f in queued {
        match get(f) {
            Err(TaskError::BrokenPool { reason }) => {
                assert!(reason.contains("error in initializer"), "{reason}")
            }
            other => panic!("expected BrokenPool, got {other:?}"),
        }
    }
    let reason = pool.broken().expect("the pool is broken");
    assert!(reason.contains("error in initializer"), "{reason}");
    let err = pool.submit(|| 7).unwrap_err();
    assert!(err.is_broken_pool());
    assert!(err.to_string().contains("error in initializer"), "{err}");
    assert_eq!((err.into_inner())(), 7);
    // Drop does not hang on a broken pool.
}

#[test]
fn a_panicking_initializer_with_a_task_submitted_later() {
    // CPython's FailingInitializerMixin.test_initializer: the first submit either is refused or
    // its future fails; once broken, submit always fails.
    let pool = ThreadPoolExecutor::builder()
        .max_workers(2)
        .initializer(|| panic!("error in initializer"))
        .build()
        .unwrap();
    match pool.submit(|| INITIALIZER_STATUS.with(|s| s.get())) {
        Err(e) => assert!(e.is_broken_pool()),
        Ok(f) => assert!(get(f).unwrap_err().is_broken_pool()),
    }
    assert!(pool.broken().is_some());
    assert!(pool.submit(|| ()).unwrap_err().is_broken_pool());
}

#[test]
fn a_broken_pool_shut_down_still_refuses_as_broken() {
    // Python's submit checks `_broken` before `_shutdown`: a broken pool that was then shut
    // down raises BrokenThreadPool, not RuntimeError. So does a `map` made afterwards.
    let pool = ThreadPoolExecutor::builder()
        .max_workers(1)
        .initializer(|| panic!("error in initializer"))
        .build()
        .unwrap();
    match pool.submit(|| ()) {
        Err(e) => assert!(e.is_broken_pool()),
        Ok(f) => assert!(get(f).unwrap_err().is_broken_pool()),
    }
    assert!(pool.broken().is_some());
    pool.shutdown(true, false);
    let err = pool.submit(|| 7).unwrap_err();
    assert!(err.is_broken_pool(), "{err:?}");
    assert_eq!((err.into_inner())(), 7);
    let mapped: Vec<_> = pool.map(|x: u8| x, [1]).collect();
    assert!(
        matches!(&mapped[..], [Err(TaskError::BrokenPool { .. })]),
        "{mapped:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Shutdown and drop: test_shutdown.py

#[test]
fn shutdown_waits_for_queued_tasks() {
    // test_hang_issue12364 and test_threads_terminate: shutdown(wait) returns once every queued
    // task has run.
    let pool = pool(3);
    let busy = occupy(&pool, 3);
    let futures: Vec<_> = (0..50).map(|i| pool.submit(move || i).unwrap()).collect();
    let gate = Arc::clone(&busy.gate);
    let releaser = spawn(move || gate.set());
    pool.shutdown(true, false);
    recv(&releaser);
    for (i, f) in futures.into_iter().enumerate() {
        assert!(f.done(), "task {i} not done after shutdown(wait)");
        assert_eq!(get(f), Ok(i));
    }
    busy.release();
}

#[test]
fn shutdown_with_cancel_futures_cancels_what_is_queued() {
    // test_cancel_futures: with the worker held busy, every queued task is cancelled (CPython
    // can only say "more than 20"); the running one finishes.
    let pool = pool(1);
    let busy = occupy(&pool, 1);
    let ran = Arc::new(AtomicUsize::new(0));
    let futures: Vec<_> = (0..50)
        .map(|_| {
            let r = Arc::clone(&ran);
            pool.submit(move || r.fetch_add(1, Ordering::SeqCst))
                .unwrap()
        })
        .collect();
    pool.shutdown(false, true);
    for f in &futures {
        assert!(f.cancelled());
        assert!(f.done());
    }
    assert!(pool.submit(|| 0).unwrap_err().is_shut_down());
    busy.release();
    pool.shutdown(true, false);
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    for f in futures {
        assert_eq!(get(f), Err(TaskError::Cancelled));
    }
}

/// A queued task whose captures panic when dropped (cancelling drops them): the shutdown goes on
/// cancelling the rest of the queue, and returns.
#[test]
fn shutdown_with_cancel_futures_survives_a_task_that_panics_when_dropped() {
    let pool = pool(1);
    let busy = occupy(&pool, 1);
    let bomb = PanicOnDrop;
    let first = pool
        .submit(move || {
            let _bomb = &bomb;
        })
        .unwrap();
    let rest: Vec<_> = (0..3).map(|i| pool.submit(move || i).unwrap()).collect();
    let shut = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        pool.shutdown(false, true);
    }));
    assert!(shut.is_ok(), "the drop's panic stopped the shutdown");
    assert!(first.cancelled());
    for f in &rest {
        assert!(f.cancelled(), "a task after the bomb ran or stayed queued");
    }
    busy.release();
    pool.shutdown(true, false);
    for f in rest {
        assert_eq!(get(f), Err(TaskError::Cancelled));
    }
}

#[test]
fn shutdown_without_wait_returns_while_a_task_runs() {
    // test_shutdown_no_wait and test_cancel_futures_wait_false: the running task still ends
    // normally, the queued ones run (or are cancelled).
    let pool = pool(2);
    let busy = occupy(&pool, 1);
    let queued = pool.submit(|| "apple").unwrap();
    pool.shutdown(false, false);
    assert!(!busy.futures[0].done());
    busy.release();
    assert_eq!(get(queued), Ok("apple"));

    let pool2 = self::pool(2);
    let busy = occupy(&pool2, 1);
    pool2.shutdown(false, true);
    busy.release();
}

#[test]
fn shutdown_after_a_cancelled_submit_does_not_hang() {
    // test_hang_gh94440.
    let pool = pool(1);
    assert_eq!(get(pool.submit(|| 0).unwrap()), Ok(0));
    let _ = pool.submit(|| 0).unwrap().cancel();
    let p = Arc::new(pool);
    let p2 = Arc::clone(&p);
    let done = spawn(move || p2.shutdown(true, false));
    recv(&done);
}

#[test]
fn shutdown_from_inside_a_task_does_not_deadlock() {
    let pool = Arc::new(pool(2));
    let busy = occupy(&pool, 1);
    let p = Arc::clone(&pool);
    let f = pool
        .submit(move || {
            p.shutdown(true, false);
            p.submit(|| ()).is_err()
        })
        .unwrap();
    let gate = Arc::clone(&busy.gate);
    // The task's shutdown waits for the other worker (held busy): let it go from here.
    let releaser = spawn(move || gate.set());
    assert_eq!(get(f), Ok(true));
    recv(&releaser);
    busy.release();
    // With cancel_futures, and with one worker whose queue still holds work.
    let pool = Arc::new(self::pool(1));
    let p = Arc::clone(&pool);
    let first = pool.submit(move || p.shutdown(true, true)).unwrap();
    let second = pool.submit(|| 2).unwrap();
    get(first).unwrap();
    let second = get(second);
    assert!(
        second == Ok(2) || second == Err(TaskError::Cancelled),
        "{second:?}"
    );
}

#[test]
fn drop_waits_for_queued_work() {
    // test_context_manager_shutdown / test_del_shutdown: dropping the pool is leaving Python's
    // `with` block.
    let pool = pool(2);
    let busy = occupy(&pool, 2);
    let done = Arc::new(AtomicUsize::new(0));
    for _ in 0..20 {
        let d = Arc::clone(&done);
        drop(
            pool.submit(move || d.fetch_add(1, Ordering::SeqCst))
                .unwrap(),
        );
    }
    busy.gate.set();
    drop(pool);
    assert_eq!(done.load(Ordering::SeqCst), 20);
    for f in busy.futures {
        assert!(f.done());
    }
}

/// Caps this process's address space at 256 MiB above what it maps now (`VmSize`).
fn cap_address_space() {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmSize:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    let limit = Rlimit {
        current: Some(kib * 1024 + (256 << 20)),
        maximum: getrlimit(Resource::As).maximum,
    };
    setrlimit(Resource::As, limit).unwrap();
}

/// Set in the child process of [`a_worker_that_cannot_start_gives_the_task_back`].
const NO_THREADS_CHILD: &str = "WEFT_EXECUTOR_TEST_NO_THREADS_CHILD";

/// No worker thread can start (here: every new thread asks for a 1 TiB stack, in an address
/// space capped a little above what the process uses, whatever the overcommit policy): the submit
/// gives the closure back with `SubmitError::Spawn` and the pool is not broken (it queued the
/// job, failed its future and broke the pool for good, even on EAGAIN). Python's submit raises
/// and tries again on the next one. A `map` yields `TaskError::Spawn` (it yielded `BrokenPool`,
/// though the pool was not broken).
#[test]
fn a_worker_that_cannot_start_gives_the_task_back() {
    // The stack size std gives new threads is read once per process: a child process (this
    // test binary again, this test only) has the impossible one.
    if std::env::var_os(NO_THREADS_CHILD).is_some() {
        cap_address_space();
        let pool = pool(2);
        let data = String::from("ten bytes!");
        let err = pool.submit(move || data.len()).unwrap_err();
        assert!(matches!(err, SubmitError::Spawn { .. }), "{err:?}");
        assert!(
            err.to_string()
                .starts_with("cannot start a worker thread: "),
            "{err}"
        );
        assert_eq!((err.into_inner())(), 10, "the closure comes back");
        assert_eq!(pool.broken(), None);
        assert_eq!(pool.worker_count(), 0);
        let again = pool.submit(|| 2).unwrap_err();
        assert!(matches!(again, SubmitError::Spawn { .. }), "{again:?}");
        // A map says so too, as its only item, and leaves the pool unbroken.
        let mapped: Vec<Result<u8, TaskError>> = pool.map(|x: u8| x, 0..3).collect();
        assert!(
            matches!(&mapped[..], [Err(TaskError::Spawn { reason })] if !reason.is_empty()),
            "{mapped:?}"
        );
        assert_eq!(pool.broken(), None);
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_worker_that_cannot_start_gives_the_task_back",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(NO_THREADS_CHILD, "1")
        .env("RUST_MIN_STACK", (1u64 << 40).to_string())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "child failed: {stdout}\n{stderr}"
    );
}

/// The last handle of a pool dropped inside one of its tasks (A), while another task (B) waits
/// for work (C) queued behind A: the drop does not join B's worker (which waited for C, which
/// only A's worker could run: a deadlock), and everything finishes, as in Python.
#[test]
fn the_last_handle_dropped_in_a_task_does_not_wait_for_work_behind_it() {
    let pool = Arc::new(pool(2));
    let (main_dropped, b_dropped) = (Arc::new(Event::new()), Arc::new(Event::new()));
    let (tx, rx) = mpsc::channel();
    let (p, a_waits_for, tx_a) = (
        Arc::clone(&pool),
        [Arc::clone(&main_dropped), Arc::clone(&b_dropped)],
        tx.clone(),
    );
    let _a = pool
        .submit(move || {
            for e in a_waits_for {
                assert!(e.wait_timeout(LONG));
            }
            drop(p); // the last handle: B and main let theirs go
            tx_a.send("A dropped the pool").unwrap();
        })
        .unwrap();
    let (p, b_dropped_too) = (Arc::clone(&pool), Arc::clone(&b_dropped));
    let _b = pool
        .submit(move || {
            let c = p.submit(|| 3).unwrap(); // queued: both workers are busy
            drop(p);
            b_dropped_too.set();
            tx.send(if c.result() == Ok(3) {
                "B got C"
            } else {
                "C failed"
            })
            .unwrap();
        })
        .unwrap();
    drop(pool);
    main_dropped.set();
    let mut seen: Vec<&str> = (0..2)
        .map(|_| {
            rx.recv_timeout(LONG)
                .expect("A's drop waited for B, B for C")
        })
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, ["A dropped the pool", "B got C"]);
}

#[test]
fn drop_waits_even_after_a_shutdown_from_inside_a_task() {
    // A task's shutdown(wait) cannot wait for its own thread; the pool's drop, later, on another
    // thread, must still wait for that worker to run the rest of the queue.
    let pool = Arc::new(pool(1));
    let p = Arc::clone(&pool);
    // `first` shuts the pool down only once `second` is queued behind it.
    let queued = Arc::new(Event::new());
    let q = Arc::clone(&queued);
    let first = pool
        .submit(move || {
            assert!(q.wait_timeout(LONG));
            p.shutdown(true, false);
            drop(p);
        })
        .unwrap();
    let (started_tx, started) = mpsc::channel();
    let release = Arc::new(Event::new());
    let r = Arc::clone(&release);
    let finished = Arc::new(AtomicBool::new(false));
    let fin = Arc::clone(&finished);
    // Queued behind `first`, accepted before its shutdown.
    let second = pool
        .submit(move || {
            started_tx.send(()).unwrap();
            assert!(r.wait_timeout(LONG));
            fin.store(true, Ordering::SeqCst);
        })
        .unwrap();
    queued.set();
    get(first).unwrap();
    recv(&started);
    let pool = Arc::try_unwrap(pool).expect("the task dropped its handle");
    let dropper = spawn(move || drop(pool));
    assert_pending(&dropper);
    release.set();
    recv(&dropper);
    assert!(
        finished.load(Ordering::SeqCst),
        "drop returned before the queued task ran"
    );
    assert!(second.done());
}

#[test]
fn concurrent_shutdowns_with_wait_both_wait() {
    // Python's shutdown(wait=True) joins every worker, whoever else is shutting down too.
    let pool = Arc::new(pool(1));
    let busy = occupy(&pool, 1);
    let waiters: Vec<_> = (0..2)
        .map(|_| {
            let p = Arc::clone(&pool);
            spawn(move || p.shutdown(true, false))
        })
        .collect();
    for w in &waiters {
        assert_pending(w);
    }
    busy.release();
    for w in &waiters {
        recv(w);
    }
}

#[test]
fn map_results_survive_the_pools_shutdown() {
    // test_shutdown_no_wait's second half: results already computed are still yielded.
    let pool = pool(5);
    let mut results = pool.map(|x: i32| x.abs(), -5..5);
    let first = results.next();
    pool.shutdown(false, false);
    let rest: Vec<_> = results.collect();
    assert_eq!(first, Some(Ok(5)));
    assert_eq!(
        rest,
        [4, 3, 2, 1, 0, 1, 2, 3, 4]
            .map(Ok::<i32, TaskError>)
            .to_vec()
    );
}

// ---------------------------------------------------------------------------------------------
// map: executor.py and test_thread_pool.py

#[test]
fn map_yields_in_input_order() {
    let pool = pool(4);
    let expected: Vec<u64> = (0..10u64).map(|x| x.pow(x as u32)).collect();
    let got: Vec<u64> = pool
        .map(|x: u64| x.pow(x as u32), 0..10u64)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(got, expected);
    for chunksize in [1, 3, 10, 100] {
        let got: Vec<u64> = pool
            .map(|x: u64| x.pow(x as u32), 0..10u64)
            .chunksize(chunksize)
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(got, expected, "chunksize {chunksize}");
    }
}

#[test]
fn map_order_holds_when_items_finish_out_of_order() {
    // The first item finishes last: it waits until the nine others have run.
    let pool = pool(4);
    let others = Arc::new(AtomicUsize::new(0));
    let others_done = Arc::new(Event::new());
    let (o, d) = (Arc::clone(&others), Arc::clone(&others_done));
    let finish_order = Arc::new(Mutex::new(Vec::new()));
    let fo = Arc::clone(&finish_order);
    let got: Vec<usize> = pool
        .map(
            move |i: usize| {
                if i == 0 {
                    assert!(d.wait_timeout(LONG));
                    fo.lock().unwrap().push(i);
                } else {
                    // Recorded before the ninth sets the event: item 0 cannot record first.
                    fo.lock().unwrap().push(i);
                    if o.fetch_add(1, Ordering::SeqCst) + 1 == 9 {
                        d.set();
                    }
                }
                i
            },
            0..10,
        )
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(got, (0..10).collect::<Vec<_>>());
    assert_eq!(finish_order.lock().unwrap().last(), Some(&0));
}

#[test]
fn map_on_an_empty_input() {
    let pool = pool(1);
    assert_eq!(pool.map(|x: u8| x, Vec::new()).count(), 0);
    assert_eq!(pool.worker_count(), 0);
}

#[test]
fn map_panic_in_one_item_ends_the_iterator_and_cancels_the_rest() {
    // test_map_exception, and what follows: the error is yielded once, then the iterator ends
    // and the items not yet run never run.
    let pool = pool(1);
    let hold = Arc::new(Event::new());
    let h = Arc::clone(&hold);
    let ran = Arc::new(Mutex::new(Vec::new()));
    let r = Arc::clone(&ran);
    let mut results = pool.map(
        move |(x, y): (i32, i32)| {
            r.lock().unwrap().push(y);
            if y == 5 {
                // Hold the only worker so the later items stay queued until cancelled.
                assert!(h.wait_timeout(LONG));
            }
            (x / y, x % y)
        },
        [(1, 2), (1, 3), (1, 0), (1, 5), (1, 7), (1, 11)],
    );
    assert_eq!(results.next(), Some(Ok((0, 1))));
    assert_eq!(results.next(), Some(Ok((0, 1))));
    let err = results.next().unwrap().unwrap_err();
    assert!(
        err.panic_message().unwrap().contains("divide by zero"),
        "{err:?}"
    );
    assert_eq!(results.next(), None);
    assert_eq!(results.next(), None);
    hold.set();
    drop(results);
    pool.shutdown(true, false);
    let ran = ran.lock().unwrap().clone();
    assert!(
        ran == [2, 3, 0] || ran == [2, 3, 0, 5],
        "items after the failure ran: {ran:?}"
    );
}

#[test]
fn map_timeout() {
    // test_map_timeout: the two quick items come back, then the timeout, then nothing.
    let pool = pool(3);
    let gate = Arc::new(Event::new());
    let g = Arc::clone(&gate);
    let start = Instant::now();
    let mut results = pool
        .map(
            move |i: u32| {
                if i == 2 {
                    assert!(g.wait_timeout(LONG));
                }
                i
            },
            [0, 1, 2],
        )
        .timeout(SHORT);
    assert_eq!(results.next(), Some(Ok(0)));
    assert_eq!(results.next(), Some(Ok(1)));
    assert_eq!(results.next(), Some(Err(TaskError::Timeout)));
    let waited = start.elapsed();
    assert!(waited >= SHORT - SLACK, "timed out after {waited:?}");
    assert!(waited < LONG);
    assert_eq!(results.next(), None);
    gate.set();
}

#[test]
fn map_timeout_counts_from_the_first_next() {
    // Nothing is submitted before the first `next()` (weft's map is lazy), so the timeout counts
    // from there: a consumer that starts late still gets every quick result.
    let pool = pool(2);
    let results = pool.map(|i: u32| i * 2, 0..4).timeout(5 * SHORT);
    // Letting the clock pass the timeout (not synchronizing with anything).
    std::thread::sleep(6 * SHORT);
    let got: Vec<_> = results.collect();
    assert_eq!(got, (0..4).map(|i| Ok(i * 2)).collect::<Vec<_>>());
}

#[test]
fn map_timeout_cancels_the_current_and_later_items() {
    // test_executor_map_current_future_cancel: with the only worker busy, a zero timeout times
    // out the first item and cancels it and the second; neither ever runs.
    let pool = pool(1);
    let busy = occupy(&pool, 1);
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = Arc::clone(&log);
    {
        let mut results = pool
            .map(
                move |ident: &str| l.lock().unwrap().push(ident),
                ["second", "third"],
            )
            .timeout(Duration::ZERO);
        assert_eq!(results.next(), Some(Err(TaskError::Timeout)));
    }
    busy.release();
    pool.shutdown(true, false);
    assert!(log.lock().unwrap().is_empty(), "{:?}", log.lock().unwrap());
}

/// Python's `map` raises `ValueError` for a `chunksize` or a `buffersize` under 1 (3.14's
/// `Executor.map`, the process pool's `map`), even over an empty input; weft's `map` does
/// nothing before the first `next`, so that is where the error comes: the first and only item,
/// with nothing read from the input or submitted. They used to be raised to 1 silently.
#[test]
fn map_with_a_zero_chunksize_or_buffersize_yields_only_the_error() {
    let pool = pool(2);
    let ran = Arc::new(AtomicUsize::new(0));
    for (chunksize, buffersize, want) in [
        (0, None, TaskError::ZeroChunksize),
        (1, Some(0), TaskError::ZeroBuffersize),
        // The chunk size is checked first, as Python's process pool checks it first.
        (0, Some(0), TaskError::ZeroChunksize),
    ] {
        let pulled = Arc::new(AtomicUsize::new(0));
        let p = Arc::clone(&pulled);
        let input = (0u64..10).inspect(move |_| {
            p.fetch_add(1, Ordering::SeqCst);
        });
        let r = Arc::clone(&ran);
        let mut results = pool
            .map(
                move |x: u64| {
                    r.fetch_add(1, Ordering::SeqCst);
                    x
                },
                input,
            )
            .chunksize(chunksize);
        if let Some(n) = buffersize {
            results = results.buffersize(n);
        }
        assert_eq!(results.size_hint(), (1, Some(1)));
        let got: Vec<_> = results.collect();
        assert_eq!(got, [Err(want.clone())], "{chunksize} {buffersize:?}");
        assert_eq!(pulled.load(Ordering::SeqCst), 0, "items read");
    }
    // Over an empty input too, as Python's `ValueError`; `fold` (what `sum` uses) as `next`.
    let got: Result<u64, TaskError> = pool.map(|x: u64| x, Vec::new()).chunksize(0).sum();
    assert_eq!(got, Err(TaskError::ZeroChunksize));
    let got: Vec<_> = pool.map(|x: u64| x, Vec::new()).buffersize(0).collect();
    assert_eq!(got, [Err(TaskError::ZeroBuffersize)]);
    pool.shutdown(true, false);
    assert_eq!(ran.load(Ordering::SeqCst), 0, "tasks ran");
    let (chunksize, buffersize): (TaskError, TaskError) =
        (TaskError::ZeroChunksize, TaskError::ZeroBuffersize);
    assert_eq!(chunksize.to_string(), "map's chunksize must be at least 1");
    assert_eq!(
        buffersize.to_string(),
        "map's buffersize must be at least 1"
    );
}

/// A zero given after the first `next` (the setters take the map by value, so they can still
/// be called) is the same error, after the results already loaded and in place of the next
/// chunk, whose pending calls are cancelled. A `chunksize(0)` given then used to read an empty
/// chunk, take the input as done and end the map early, quietly: with a `buffersize`, the rest
/// of the input was never mapped.
#[test]
fn map_with_a_zero_given_after_the_first_next_yields_the_error() {
    let pool = pool(2);
    let mut results = pool.map(|x: u64| x, 0..10u64).chunksize(2).buffersize(1);
    assert_eq!(results.next(), Some(Ok(0)));
    let results = results.chunksize(0);
    assert_eq!(results.size_hint(), (2, Some(2)));
    let rest: Vec<_> = results.collect();
    assert_eq!(rest, [Ok(1), Err(TaskError::ZeroChunksize)]);
    let mut results = pool.map(|x: u64| x, 0..10u64).buffersize(2);
    assert_eq!(results.next(), Some(Ok(0)));
    let rest: Vec<_> = results.buffersize(0).collect();
    assert_eq!(rest, [Err(TaskError::ZeroBuffersize)]);
}

#[test]
fn map_is_lazy() {
    // The opposite of CPython's test_map_submits_without_iteration: weft's map submits nothing
    // until the first `next` (its docs say so), so a map never iterated runs nothing.
    let pool = pool(2);
    let finished = Arc::new(AtomicUsize::new(0));
    let f = Arc::clone(&finished);
    let results = pool.map(move |_: i32| f.fetch_add(1, Ordering::SeqCst), 0..10);
    drop(results);
    pool.shutdown(true, false);
    assert_eq!(finished.load(Ordering::SeqCst), 0);
}

#[test]
fn map_without_buffersize_submits_everything_at_the_first_next() {
    let pool = pool(1);
    let busy = occupy(&pool, 1);
    let pulled = Arc::new(AtomicUsize::new(0));
    let p = Arc::clone(&pulled);
    let input = (0..100).inspect(move |_| {
        p.fetch_add(1, Ordering::SeqCst);
    });
    let gate = Arc::clone(&busy.gate);
    let mut results = pool.map(|x: i32| x, input);
    let releaser = spawn(move || gate.set());
    assert_eq!(results.next(), Some(Ok(0)));
    assert_eq!(pulled.load(Ordering::SeqCst), 100);
    recv(&releaser);
    assert_eq!(results.count(), 99);
    busy.release();
}

#[test]
fn map_buffersize_reads_an_endless_input_lazily() {
    let pool = pool(4);
    let pulled = Arc::new(AtomicUsize::new(0));
    let p = Arc::clone(&pulled);
    let input = (0u64..).inspect(move |_| {
        p.fetch_add(1, Ordering::SeqCst);
    });
    let first: Vec<u64> = pool
        .map(|x: u64| x * 2, input)
        .buffersize(4)
        .take(100)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(first, (0..100).map(|x| x * 2).collect::<Vec<_>>());
    let pulled = pulled.load(Ordering::SeqCst);
    assert!((100..=105).contains(&pulled), "read {pulled} items ahead");

    // With chunks: at most 3 chunks of 10 ahead.
    let pulled = Arc::new(AtomicUsize::new(0));
    let p = Arc::clone(&pulled);
    let input = (0u64..).inspect(move |_| {
        p.fetch_add(1, Ordering::SeqCst);
    });
    let mut results = pool.map(|x: u64| x + 1, input).chunksize(10).buffersize(3);
    assert_eq!(results.next(), Some(Ok(1)));
    let pulled = pulled.load(Ordering::SeqCst);
    assert!((10..=50).contains(&pulled), "read {pulled} items ahead");
}

#[test]
fn dropping_a_map_cancels_what_it_queued() {
    // Item 0 returns at once, item 1 holds the only worker, items 2.. stay queued until the
    // map is dropped, which cancels them.
    let pool = pool(1);
    let hold = Arc::new(Event::new());
    let h = Arc::clone(&hold);
    let ran = Arc::new(Mutex::new(Vec::new()));
    let r = Arc::clone(&ran);
    let mut results = pool.map(
        move |x: usize| {
            r.lock().unwrap().push(x);
            if x == 1 {
                assert!(h.wait_timeout(LONG));
            }
            x
        },
        0..10,
    );
    assert_eq!(results.next(), Some(Ok(0)));
    drop(results);
    hold.set();
    pool.shutdown(true, false);
    let ran = ran.lock().unwrap().clone();
    assert!(ran == [0] || ran == [0, 1], "queued items ran: {ran:?}");
}

#[test]
fn map_on_a_pool_shut_down_midway() {
    let pool = pool(2);
    let mut results = pool.map(|x: u8| x, 0..10).buffersize(1);
    assert_eq!(results.next(), Some(Ok(0)));
    pool.shutdown(true, false);
    // The read-ahead cannot be refilled: the iterator ends with Cancelled, as Python's map ends
    // with the RuntimeError of its submit.
    let rest: Vec<_> = results.collect();
    assert_eq!(rest.last(), Some(&Err(TaskError::Cancelled)));
    assert_eq!(rest.iter().filter(|r| r.is_err()).count(), 1);
}

#[test]
fn map_then_shutdown_does_not_hang() {
    // test_shutdown_race_issue12456.
    let pool = pool(2);
    let results: Vec<_> = pool.map(|x: i32| x.to_string(), vec![2; 3]).collect();
    assert_eq!(results.len(), 3);
    pool.shutdown(true, false);
}

// ---------------------------------------------------------------------------------------------
// The Executor trait

fn through_the_trait<E: Executor>(pool: &E) -> (u64, Vec<u64>) {
    fn cube(x: u64) -> u64 {
        x * x * x
    }
    let one = pool.submit(cube, 3).unwrap().result().unwrap();
    let many = pool.map(cube, 1..=4).map(Result::unwrap).collect();
    (one, many)
}

#[test]
fn the_executor_trait_submits_and_maps() {
    let pool = pool(2);
    assert_eq!(through_the_trait(&pool), (27, vec![1, 8, 27, 64]));
    Executor::shutdown(&pool, true, false);
    match Executor::submit(&pool, |s: String| s.len(), "back".to_string()) {
        Err(SubmitError::ShutDown(arg)) => assert_eq!(arg, "back"),
        other => panic!("expected ShutDown, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Scale and races (issue 6)

#[test]
fn a_hundred_thousand_tasks_from_four_submitting_threads_all_resolve() {
    let pool = pool(4);
    let per_thread = 25_000u64;
    let start = Arc::new(Barrier::new(4).unwrap().timeout(LONG));
    let sums: Vec<u64> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4u64)
            .map(|t| {
                let (pool, start) = (&pool, Arc::clone(&start));
                s.spawn(move || {
                    start.wait().unwrap();
                    let futures: Vec<_> = (0..per_thread)
                        .map(|i| {
                            let n = t * per_thread + i;
                            pool.submit(move || n * 3 + 1).unwrap()
                        })
                        .collect();
                    futures.into_iter().map(|f| get(f).unwrap()).sum::<u64>()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let n = 4 * per_thread;
    let expected: u64 = (0..n).map(|i| i * 3 + 1).sum();
    assert_eq!(sums.iter().sum::<u64>(), expected);
    assert!(pool.worker_count() <= 4);
}

#[test]
fn every_task_ends_done_failed_or_cancelled_when_shutdown_races_submitters() {
    for round in 0..20 {
        let pool = pool(3);
        let (piled_up, rx) = mpsc::channel();
        let results: Vec<(Vec<_>, usize)> = std::thread::scope(|s| {
            let submitters: Vec<_> = (0..4u64)
                .map(|t| {
                    let (pool, piled_up) = (&pool, piled_up.clone());
                    s.spawn(move || {
                        let mut futures = Vec::new();
                        for i in 0u64.. {
                            if i == 200 {
                                piled_up.send(()).unwrap();
                            }
                            let task = move || {
                                if i % 7 == 3 {
                                    panic!("task {t}/{i} fails");
                                }
                                i
                            };
                            match pool.submit(task) {
                                Ok(f) => futures.push(f),
                                Err(e) => {
                                    assert!(e.is_shut_down(), "{e:?}");
                                    // The refused closure comes back intact.
                                    if i % 7 != 3 {
                                        assert_eq!((e.into_inner())(), i);
                                    }
                                    break;
                                }
                            }
                        }
                        let n = futures.len();
                        (futures, n)
                    })
                })
                .collect();
            // Shut down with cancel_futures while the four keep submitting.
            for _ in 0..4 {
                recv(&rx);
            }
            pool.shutdown(round % 2 == 0, true);
            submitters.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut counts = [0usize; 3];
        let mut submitted = 0;
        for (futures, n) in results {
            submitted += n;
            for f in futures {
                match get(f) {
                    Ok(_) => counts[0] += 1,
                    Err(TaskError::Panicked { .. }) => counts[1] += 1,
                    Err(TaskError::Cancelled) => counts[2] += 1,
                    Err(e) => panic!("round {round}: a task ended with {e:?}"),
                }
            }
        }
        assert!(submitted >= 800);
        assert_eq!(counts.iter().sum::<usize>(), submitted);
    }
}

#[test]
fn a_done_callback_may_submit_to_its_pool_and_wait() {
    // The worker runs the callback: it must not count itself idle until the callback is done, or
    // the nested task would wait for that very worker (Python frees the slot after callbacks).
    let pool = Arc::new(
        ThreadPoolExecutor::builder()
            .max_workers(4)
            .build()
            .unwrap(),
    );
    let gate = Arc::new(Event::new());
    let g = Arc::clone(&gate);
    let first = pool.submit(move || g.wait_timeout(LONG)).unwrap();
    let (tx, rx) = mpsc::channel();
    let p = Arc::clone(&pool);
    first.add_done_callback(move |_| {
        let nested = p.submit(|| 2).unwrap();
        tx.send(nested.result_timeout(LONG).ok()).unwrap();
    });
    gate.set(); // the callback is registered: it runs on the worker
    assert_eq!(
        recv(&rx),
        Some(2),
        "the nested task waited for the worker running the callback"
    );
    assert!(first.result().unwrap());
}

#[test]
fn result_timeout_keeps_its_promise_while_callbacks_run_elsewhere() {
    // Done callbacks running on the worker hold the value until they return; a `result_timeout`
    // made meanwhile gives the future back at its timeout instead of waiting for them.
    let pool = ThreadPoolExecutor::builder()
        .max_workers(1)
        .build()
        .unwrap();
    let (task_gate, callback_gate) = (Arc::new(Event::new()), Arc::new(Event::new()));
    let (t, c) = (Arc::clone(&task_gate), Arc::clone(&callback_gate));
    let f = pool
        .submit(move || {
            t.wait_timeout(LONG);
            7
        })
        .unwrap();
    f.add_done_callback(move |_| {
        c.wait_timeout(LONG);
    });
    task_gate.set();
    assert!(f.wait_timeout(LONG));
    let f = match f.result_timeout(SHORT) {
        Err(weft_executor::ResultTimeoutError::Timeout(f)) => f,
        other => panic!("expected the future back at the timeout, got {other:?}"),
    };
    callback_gate.set();
    assert_eq!(f.result_timeout(LONG).ok(), Some(7));
}

/// A future's timed waits that the task does not end come back near their timeout on a busy
/// machine (four threads spinning on two cores): forty 1 ms `wait_timeout`s and
/// `result_timeout`s take well under a second each in all. They used to spin through sixteen
/// `yield_now`s first, each giving the core away for a time slice: 50-100 ms a wait (the audit).
#[test]
fn timed_waits_end_near_their_timeout_on_a_busy_machine() {
    let pool = pool(1);
    let gate = Arc::new(Event::new());
    let held = Arc::clone(&gate);
    let f = pool.submit(move || held.wait()).unwrap();
    let (f, waits, results) = busy::with_busy_cores(4, || {
        let start = Instant::now();
        for _ in 0..40 {
            assert!(!f.wait_timeout(Duration::from_millis(1)));
        }
        let waits = start.elapsed();
        let mut f = f;
        let start = Instant::now();
        for _ in 0..40 {
            f = match f.result_timeout(Duration::from_millis(1)) {
                Err(weft_executor::ResultTimeoutError::Timeout(f)) => f,
                other => panic!("the task is held: {other:?}"),
            };
        }
        (f, waits, start.elapsed())
    });
    gate.set();
    assert!(f.result().is_ok());
    assert!(waits < Duration::from_secs(1), "{waits:?}");
    assert!(results < Duration::from_secs(1), "{results:?}");
}

/// A done callback of a future that `shutdown(cancel_futures)` cancels, which shuts the pool
/// down again and waits for it, returns: the queue is closed before the cancelled futures'
/// callbacks run, so the workers end. It waited for ever (the workers still waited for work; the
/// audit, where CPython deadlocks too).
/// A task of a one-worker pool that submits to its own pool and waits holds the only worker:
/// the task it waits for stays queued (Python deadlocks there). With a timeout, as the pool's
/// docs advise, the wait ends, the future comes back, and the task runs once the worker is free.
#[test]
fn a_task_waiting_with_a_timeout_for_a_task_of_its_own_one_worker_pool_gets_it_back() {
    let pool = Arc::new(pool(1));
    let own = Arc::clone(&pool);
    let outer = pool
        .submit(
            move || match own.submit(|| 7).unwrap().result_timeout(SHORT) {
                Err(weft_executor::ResultTimeoutError::Timeout(inner)) => inner,
                other => panic!("expected a timeout, got {other:?}"),
            },
        )
        .unwrap();
    let inner = get(outer).unwrap();
    assert_eq!(get(inner), Ok(7));
    assert_eq!(pool.worker_count(), 1);
}

#[test]
fn a_cancelled_future_callback_that_shuts_down_and_waits_returns() {
    let pool = Arc::new(pool(1));
    let (started, gate) = (Arc::new(Event::new()), Arc::new(Event::new()));
    let (on_start, held) = (Arc::clone(&started), Arc::clone(&gate));
    let running = pool
        .submit(move || {
            on_start.set();
            held.wait();
        })
        .unwrap();
    // The worker has taken the first task: the second stays queued, to be cancelled.
    started.wait();
    let queued = pool.submit(|| 1).unwrap();
    let (done, returned) = mpsc::channel();
    let nested = Arc::clone(&pool);
    queued.add_done_callback(move |r| {
        let cancelled = matches!(r, Err(TaskError::Cancelled));
        gate.set();
        nested.shutdown(true, false);
        let _ = done.send(cancelled);
    });
    let outer = Arc::clone(&pool);
    let shut = std::thread::spawn(move || outer.shutdown(true, true));
    let cancelled = returned
        .recv_timeout(Duration::from_secs(60))
        .expect("the callback's shutdown(wait) returned");
    assert!(cancelled, "the queued task was not cancelled");
    shut.join().unwrap();
    assert!(running.result().is_ok());
}
