//! Scenario: `weft::aio::run_in_executor` on weft-executor's pools, the process pool above all
//! (weft-async's own tests use a thread pool only): `await loop.run_in_executor(pool, f, arg)`
//! from tasks of `weft::aio::run` and `run_multi_thread`, with the pool's workers forked from
//! this very program.
//!
//! - The value, and a worker's panic as `TaskError::Panicked` with its message.
//! - A call given up by `timeout` before the pool sent it to a worker never runs (dropping the
//!   future cancels it, as Python's `run_in_executor` cancels its concurrent future).
//! - `shutdown(wait=false, cancel_futures=true)` from a thread while a task awaits a call still
//!   queued: the await answers `Cancelled`, for a process pool and for a thread pool.
//! - The pool dropped inside `run` while a call is awaited: the drop waits for the call (leaving
//!   Python's `with` block), and the await still answers.
//! - An await given up (through `&mut`) while the call runs: the call runs on, its future
//!   answers later, and the pool takes more calls.
//! - `kill_workers` from a thread while calls are awaited: every await answers (the held call
//!   `BrokenPool`, the others their value, `BrokenPool` or `Cancelled`).
//! - 500 calls awaited at once on a multi-thread run, every value in order.
//! - A `ProcessQueue` filled by pool calls and drained by the loop through `to_thread`; once the
//!   calls are done the workers have let go of their handles, so a get on the last handle fails
//!   with `Disconnected` instead of waiting for ever.
//!
//! A process pool's call that has been sent to a worker counts as started (Python's call queue),
//! so the cancelling cases first fill what the pool sends ahead to its one busy worker (`fill`).
//! The busy worker is held by a call blocked on a `Pipe`, released from here: no sleeps.
//!
//! This file has its own `main` (`harness = false`): `weft::main` is the guard that makes this
//! program the pool's worker program too. It prints cargo-test-style lines; the panic of
//! `value_and_panic` is also printed on stderr by the worker's panic hook, as the process pool's
//! docs say.

use std::sync::Arc;
use std::time::Duration;

use weft::aio::{create_task, gather, run, run_in_executor, run_multi_thread, timeout, to_thread};
use weft::executor::{Future, ProcessPoolExecutor, TaskError, ThreadPoolExecutor};
use weft::process::{Connection, ConnectionError, Pipe, ProcessQueue, QueueError};

/// How long anything that does answer may take before the case fails instead of hanging.
const LONG: Duration = Duration::from_secs(60);
/// A timeout that is meant to expire: the call it bounds cannot end before it.
const SHORT: Duration = Duration::from_millis(20);

fn triple(x: u64) -> u64 {
    x * 3
}

fn boom(_: ()) -> u64 {
    panic!("boom in the worker")
}

/// Holds its worker until the parent sends a value on the pipe, and returns it.
fn hold(conn: Connection<u8>) -> u8 {
    conn.recv().unwrap()
}

/// Tells the parent that it ran.
fn mark(conn: Connection<u8>) -> u8 {
    conn.send(&1).unwrap();
    1
}

fn produce((q, n): (ProcessQueue<u64>, u64)) -> u64 {
    for i in 0..n {
        q.put(i).unwrap();
    }
    n
}

fn pool(workers: usize) -> ProcessPoolExecutor {
    ProcessPoolExecutor::builder()
        .max_workers(workers)
        .build()
        .unwrap()
}

/// Submits to `p`, whose workers are all busy, until a call stays pending: the pool sends a
/// few calls ahead to each worker (they count as started), and the next call waits in its queue.
fn fill(p: &ProcessPoolExecutor) -> Vec<Future<u64>> {
    let mut fillers = Vec::new();
    loop {
        let f = p.submit(triple, 1).unwrap();
        let pending = !f.running();
        fillers.push(f);
        if pending {
            return fillers;
        }
        assert!(fillers.len() < 1_000, "every call counts as started");
    }
}

fn value_and_panic() {
    let p = pool(2);
    let (value, panicked) = run(async {
        let value = run_in_executor(&p, triple, 2).unwrap();
        let panicked = run_in_executor(&p, boom, ()).unwrap();
        (timeout(LONG, value).await, timeout(LONG, panicked).await)
    })
    .unwrap();
    assert_eq!(value, Ok(Ok(6)));
    match panicked {
        Ok(Err(TaskError::Panicked { message, .. })) => {
            assert_eq!(message, "boom in the worker");
        }
        other => panic!("expected the worker's panic, got {other:?}"),
    }
}

fn a_call_given_up_before_it_was_sent_never_runs() {
    let p = pool(1);
    let (release, held) = Pipe::<u8>::new().unwrap();
    let (ran, mark_end) = Pipe::<u8>::new().unwrap();
    let busy = p.submit(hold, held).unwrap();
    let _fillers = fill(&p);
    let gave_up =
        run(async { timeout(SHORT, run_in_executor(&p, mark, mark_end).unwrap()).await }).unwrap();
    assert!(gave_up.is_err());
    release.send(&5).unwrap();
    assert_eq!(busy.result(), Ok(5));
    // The workers are gone with the pool, and the cancelled call's pipe end with its job: the
    // pipe reads its end, or the mark had the call run.
    drop(p);
    match ran.recv_timeout(LONG) {
        Err(ConnectionError::Closed) => {}
        other => panic!("the cancelled call ran, or its pipe end stayed open: {other:?}"),
    }
}

fn shutdown_with_cancel_futures_answers_an_awaited_call() {
    let p = Arc::new(pool(1));
    let (release, held) = Pipe::<u8>::new().unwrap();
    let busy = p.submit(hold, held).unwrap();
    let _fillers = fill(&p);
    let p2 = Arc::clone(&p);
    let awaited = run(async move {
        let call = run_in_executor(&*p2, triple, 1).unwrap();
        let shut = create_task(to_thread(move || {
            p2.shutdown(false, true);
            release.send(&7).unwrap();
        }));
        let awaited = timeout(LONG, call).await;
        timeout(LONG, shut).await.unwrap().unwrap().unwrap();
        awaited
    })
    .unwrap();
    assert_eq!(awaited, Ok(Err(TaskError::Cancelled)));
    assert_eq!(busy.result(), Ok(7));
}

fn shutdown_with_cancel_futures_answers_an_awaited_thread_pool_call() {
    let p = Arc::new(
        ThreadPoolExecutor::builder()
            .max_workers(1)
            .build()
            .unwrap(),
    );
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let (busy_tx, busy_rx) = std::sync::mpsc::channel();
    let busy = p
        .submit(move || {
            busy_tx.send(()).unwrap();
            release_rx.recv_timeout(LONG).unwrap();
        })
        .unwrap();
    busy_rx.recv_timeout(LONG).unwrap();
    let p2 = Arc::clone(&p);
    let awaited = run(async move {
        let call = run_in_executor(&*p2, triple, 1).unwrap();
        let shut = create_task(to_thread(move || {
            p2.shutdown(false, true);
            release_tx.send(()).unwrap();
        }));
        let awaited = timeout(LONG, call).await;
        timeout(LONG, shut).await.unwrap().unwrap().unwrap();
        awaited
    })
    .unwrap();
    assert_eq!(awaited, Ok(Err(TaskError::Cancelled)));
    assert_eq!(busy.result(), Ok(()));
}

fn the_pool_dropped_inside_run_waits_and_the_call_answers() {
    let answered = run(async {
        let p = pool(1);
        let call = run_in_executor(&p, triple, 3).unwrap();
        drop(p);
        timeout(LONG, call).await
    })
    .unwrap();
    assert_eq!(answered, Ok(Ok(9)));
}

fn an_await_given_up_leaves_the_call_running() {
    let p = pool(1);
    let (release, held) = Pipe::<u8>::new().unwrap();
    let (first, again) = run(async {
        let mut call = run_in_executor(&p, hold, held).unwrap();
        assert!(timeout(SHORT, &mut call).await.is_err());
        release.send(&3).unwrap();
        let again = run_in_executor(&p, triple, 4).unwrap();
        (timeout(LONG, call).await, timeout(LONG, again).await)
    })
    .unwrap();
    assert_eq!((first, again), (Ok(Ok(3)), Ok(Ok(12))));
}

fn killed_workers_answer_every_await() {
    let p = Arc::new(pool(2));
    let (release, held) = Pipe::<u8>::new().unwrap();
    let p2 = Arc::clone(&p);
    let (held_call, others) = run(async move {
        let held_call = run_in_executor(&*p2, hold, held).unwrap();
        let others: Vec<_> = (0..20)
            .map(|i| run_in_executor(&*p2, triple, i).unwrap())
            .collect();
        let killer = create_task(to_thread(move || p2.kill_workers()));
        let answers = (
            timeout(LONG, held_call).await,
            timeout(LONG, weft::aio::gather_settled(others)).await,
        );
        timeout(LONG, killer).await.unwrap().unwrap().unwrap();
        answers
    })
    .unwrap();
    drop(release);
    assert!(
        matches!(held_call, Ok(Err(TaskError::BrokenPool { .. }))),
        "{held_call:?}"
    );
    // Python 3.14's `kill_workers` shuts the pool down cancelling what was not sent: those
    // that ran before the kill have their value, those sent are failed with the pool, the rest
    // are cancelled.
    for answer in others.expect("an await never answered") {
        assert!(
            matches!(
                answer,
                Ok(_) | Err(TaskError::BrokenPool { .. } | TaskError::Cancelled)
            ),
            "{answer:?}"
        );
    }
}

fn many_calls_on_a_multi_thread_run() {
    let p = pool(2);
    let values = run_multi_thread(async {
        let calls: Vec<_> = (0..500)
            .map(|i| run_in_executor(&p, triple, i).unwrap())
            .collect();
        timeout(LONG, gather(calls)).await
    })
    .unwrap();
    let expected: Vec<u64> = (0..500).map(|i| i * 3).collect();
    assert_eq!(values, Ok(Ok(expected)));
}

fn a_process_queue_filled_by_pool_calls() {
    let p = pool(2);
    let q = ProcessQueue::<u64>::new(4).unwrap();
    let (produced, sum) = run(async {
        let calls: Vec<_> = (0..3)
            .map(|_| run_in_executor(&p, produce, (q.clone(), 20)).unwrap())
            .collect();
        let mine = q.clone();
        let sum = to_thread(move || (0..60).map(|_| mine.get().unwrap()).sum::<u64>());
        (timeout(LONG, gather(calls)).await, timeout(LONG, sum).await)
    })
    .unwrap();
    assert_eq!(produced, Ok(Ok(vec![20, 20, 20])));
    assert_eq!(sum, Ok(Ok(3 * (0..20).sum::<u64>())));
    // The workers live on, but hold the queue no more: this handle is the last one.
    match q.get_timeout(LONG) {
        Err(QueueError::Disconnected(None)) => {}
        other => panic!("expected Disconnected, got {other:?}"),
    }
}

const CASES: &[(&str, fn())] = &[
    ("value_and_panic", value_and_panic),
    (
        "a_call_given_up_before_it_was_sent_never_runs",
        a_call_given_up_before_it_was_sent_never_runs,
    ),
    (
        "shutdown_with_cancel_futures_answers_an_awaited_call",
        shutdown_with_cancel_futures_answers_an_awaited_call,
    ),
    (
        "shutdown_with_cancel_futures_answers_an_awaited_thread_pool_call",
        shutdown_with_cancel_futures_answers_an_awaited_thread_pool_call,
    ),
    (
        "the_pool_dropped_inside_run_waits_and_the_call_answers",
        the_pool_dropped_inside_run_waits_and_the_call_answers,
    ),
    (
        "an_await_given_up_leaves_the_call_running",
        an_await_given_up_leaves_the_call_running,
    ),
    (
        "killed_workers_answer_every_await",
        killed_workers_answer_every_await,
    ),
    (
        "many_calls_on_a_multi_thread_run",
        many_calls_on_a_multi_thread_run,
    ),
    (
        "a_process_queue_filled_by_pool_calls",
        a_process_queue_filled_by_pool_calls,
    ),
];

fn main() {
    weft::main(|| {
        println!("\nrunning {} tests", CASES.len());
        for (name, case) in CASES {
            // A failing case panics out of `main` with its message: the binary fails.
            case();
            println!("test {name} ... ok");
        }
        println!("\ntest result: ok. {} passed; 0 failed\n", CASES.len());
    });
}
