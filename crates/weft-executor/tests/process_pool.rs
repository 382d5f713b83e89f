//! Behaviour tests of `ProcessPoolExecutor` on real worker processes: submit, map (order,
//! chunks, read-ahead), panics, codec failures, the initializer, a killed or aborting worker,
//! `max_tasks_per_child`, shutdown in all its forms, terminate/kill of the workers.
//!
//! Re-expressed from CPython's `Lib/test/test_concurrent_futures/`:
//! - `executor.py` (`ExecutorTest`): `test_submit`, `test_map`, `test_map_exception`,
//!   `test_map_submits_without_iteration` (weft's `map` is lazy instead, as documented);
//! - `test_process_pool.py`: `test_killed_child`, `test_map_chunksize`, `test_traceback` (a
//!   panic's message and location reach the future), `test_max_tasks_per_child`,
//!   `test_max_tasks_early_shutdown`, `test_terminate_workers`, `test_kill_workers`,
//!   `test_ressources_gced_in_workers` (the workers are reaped);
//! - `test_shutdown.py`: `test_run_after_shutdown`, `test_cancel_futures`,
//!   `test_cancel_futures_wait_false`, `test_processes_terminate`,
//!   `test_context_manager_shutdown`, `test_del_shutdown`, `test_shutdown_no_wait`;
//! - `test_init.py`: `InitializerMixin.test_initializer` and
//!   `FailingInitializerMixin.test_initializer` (pending futures and later submits fail with
//!   BrokenPool).
//!
//! Added (issue 6): every future of a batch answers when a worker aborts mid-batch, 10k tasks in
//! one batch, submitting threads racing a `shutdown(cancel_futures)` (every task ends done or
//! cancelled, every refused argument comes back), the `Executor` trait, done callbacks run by the
//! pool, an argument serde cannot encode; since: a map item that cannot be encoded (the results
//! before it still come), deeply nested results (decoded, and dropped unawaited, on the reader),
//! a burst whose answered tasks leave no table or queue room behind,
//! a broken pool shut down still refusing with BrokenPool (Python checks `_broken` first),
//! done callbacks on the reader thread that panic or shut the pool down, an argument whose
//! `Serialize` panics (refused with the argument back, as one that returns an error is), an
//! accepted argument whose `Drop` panics in the parent (the pool's drop used to hang), an
//! argument over the frame limit, a task or an initializer that exits the worker (even with
//! code 0: `test_deadlock.py`'s `os._exit` cases), a call over the byte budget while a worker
//! is still in its initializer (at the start, or a `max_tasks_per_child` replacement: it held
//! up the submit, or the reader and every future with it), a cancelled call over the byte budget
//! at the head of the queue (it held back the calls behind it until a worker was idle), no
//! replacement for a retiring worker of a shut-down pool whose queue holds only cancelled calls
//! (one was started and closed at once), what a
//! worker prints for a panic (it names the worker, not `thread 'main'`; a scenario run of this
//! binary, `WEFT_POOL_SCENARIO`).
//!
//! This file has its own `main` (`harness = false`): the test binary is also the worker program
//! (`weft_process::main` dispatches workers to their loop). It prints cargo-test-style lines so
//! `cargo xtask test` counts its cases.

use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Serialize, Serializer};
use weft_executor::{
    BuildError, Executor, Future, ProcessPoolExecutor, StartMethod, SubmitError, TaskError,
};
use weft_process::{Connection, ConnectionError, Pipe};

#[path = "../../weft-process/tests/mp/runner.rs"]
mod runner;
use runner::{ensure, Case};

/// The most any wait in these tests may take before the case fails instead of hanging.
const LIMIT: Duration = Duration::from_secs(60);

#[path = "common/counting.rs"]
mod counting;
use counting::{live_bytes, Counting};

#[global_allocator]
static GLOBAL: Counting = Counting;

const CASES: &[(&str, Case)] = &[
    ("spawn_runs_every_case", spawn_runs_every_case),
    ("broken_then_shut_down", broken_then_shut_down),
    (
        "start_method_chooses_how_workers_start",
        start_method_chooses_how_workers_start,
    ),
    ("submit", submit),
    ("submit_through_the_executor_trait", executor_trait),
    ("map_in_order", map_in_order),
    ("map_with_chunksize", map_with_chunksize),
    ("map_with_buffersize_over_endless_input", map_endless),
    ("map_panic_ends_the_iteration", map_panic),
    (
        "map_yields_the_results_before_an_item_that_cannot_be_encoded",
        map_unencodable_item,
    ),
    ("panic_fails_only_its_future", panic_fails_only_its_future),
    (
        "a_workers_panic_report_names_the_worker",
        worker_panic_report,
    ),
    (
        "a_panic_whose_payload_panics_when_dropped_fails_only_its_future",
        panic_payload_drop_panics,
    ),
    ("argument_serde_cannot_encode", unencodable_argument),
    (
        "an_argument_over_the_frame_limit_comes_back",
        argument_over_the_frame_limit,
    ),
    (
        "an_argument_whose_serialize_panics_comes_back",
        argument_whose_serialize_panics,
    ),
    (
        "an_argument_whose_drop_panics_is_dropped_outside_the_pool",
        argument_whose_drop_panics,
    ),
    (
        "a_worker_end_is_seen_while_a_grandchild_holds_its_socket",
        grandchild_holds_the_socket,
    ),
    ("a_deeply_nested_result_arrives", deep_result),
    (
        "an_unawaited_deep_result_drops_on_the_reader",
        unawaited_deep_result,
    ),
    ("panicking_serde_fails_only_its_task", panicking_serde),
    (
        "a_result_whose_drop_panics_in_the_worker_still_arrives",
        result_drop_panics,
    ),
    ("done_callbacks_run", done_callbacks_run),
    (
        "callbacks_on_the_reader_may_panic_or_shut_the_pool_down",
        callbacks_on_the_reader,
    ),
    ("ten_thousand_tasks", ten_thousand_tasks),
    (
        "a_burst_leaves_no_room_behind",
        a_burst_leaves_no_room_behind,
    ),
    ("initializer_runs_in_each_worker", initializer_runs),
    ("failing_initializer_breaks_the_pool", failing_initializer),
    ("aborting_worker_breaks_the_pool", aborting_worker),
    ("a_task_that_exits_breaks_the_pool", exit_in_a_task),
    (
        "an_initializer_that_exits_breaks_the_pool",
        initializer_that_exits,
    ),
    ("sigkilled_worker_breaks_the_pool", sigkilled_worker),
    (
        "a_worker_that_execs_another_program_breaks_the_pool",
        exec_in_a_task,
    ),
    (
        "every_future_answers_when_a_worker_dies",
        every_future_answers,
    ),
    ("max_tasks_per_child_replaces_workers", max_tasks_per_child),
    ("max_tasks_early_shutdown", max_tasks_early_shutdown),
    (
        "a_shut_down_pool_replaces_no_worker_for_only_cancelled_calls",
        no_replacement_for_only_cancelled_calls,
    ),
    (
        "a_big_call_to_a_starting_worker_holds_up_no_other_reply",
        big_call_to_a_starting_worker,
    ),
    (
        "a_big_call_at_the_start_goes_to_the_first_worker_ready",
        big_call_at_the_start,
    ),
    ("zero_workers_or_tasks_is_an_error", build_errors),
    ("worker_processes_are_named_by_the_prefix", worker_names),
    (
        "submit_after_shutdown_gives_the_argument_back",
        run_after_shutdown,
    ),
    ("shutdown_cancel_futures", cancel_futures),
    (
        "a_cancelled_big_call_holds_back_no_call_behind_it",
        cancelled_big_call_at_the_head,
    ),
    (
        "shutdown_without_wait_still_runs_the_queue",
        shutdown_no_wait,
    ),
    ("drop_waits_and_reaps_the_workers", drop_waits_and_reaps),
    (
        "concurrent_shutdowns_with_wait_both_wait",
        concurrent_shutdowns_with_wait,
    ),
    ("terminate_workers", terminate_workers),
    ("kill_workers", kill_workers),
    (
        "submitters_racing_shutdown_lose_nothing",
        submitters_racing_shutdown,
    ),
];

/// Set to a scenario's name, this binary runs that scenario (under the guard) instead of the
/// cases, for a case that reads what the scenario prints.
const SCENARIO: &str = "WEFT_POOL_SCENARIO";

fn main() {
    runner::apply_start_method();
    match std::env::var(SCENARIO).as_deref() {
        Ok("worker-panic") => weft_process::main(worker_panic_scenario),
        _ => weft_process::main(run_cases),
    }
}

/// Every case again with the pools' workers spawned (`StartMethod::Spawn`, the default of that
/// run) instead of forked by the fork server.
fn spawn_runs_every_case() -> Result<(), String> {
    runner::rerun_with_spawn(CASES.len())
}

fn run_cases() {
    runner::run(CASES, LIMIT);
}

fn parent_of(_: ()) -> u32 {
    std::os::unix::process::parent_id()
}

/// `start_method` on the builder decides how the workers start, whatever the program's default
/// (this binary runs its cases under both): spawned workers are this process's children, forked
/// ones the fork server's.
fn start_method_chooses_how_workers_start() -> Result<(), String> {
    let parent = |method| -> Result<u32, String> {
        let pool = ProcessPoolExecutor::builder()
            .max_workers(1)
            .start_method(method)
            .build()
            .map_err(s)?;
        let got = get(pool.submit(parent_of, ()).map_err(s)?)?.map_err(s)?;
        pool.shutdown(true, false);
        Ok(got)
    };
    let me = std::process::id();
    ensure!(
        parent(StartMethod::Spawn)? == me,
        "a spawned worker's parent"
    );
    let forked = parent(StartMethod::ForkServer)?;
    ensure!(
        forked != me && forked != 0,
        "a forked worker's parent: {forked}"
    );
    Ok(())
}

fn s<E: std::fmt::Debug>(e: E) -> String {
    format!("{e:?}")
}

fn pool(workers: usize) -> Result<ProcessPoolExecutor, String> {
    ProcessPoolExecutor::builder()
        .max_workers(workers)
        .build()
        .map_err(s)
}

/// The future's result, failing the case instead of waiting past `LIMIT`.
fn get<T>(f: Future<T>) -> Result<Result<T, TaskError>, String> {
    match f.result_timeout(LIMIT) {
        Ok(v) => Ok(Ok(v)),
        Err(weft_executor::ResultTimeoutError::Task(e)) => Ok(Err(e)),
        Err(_) => Err(format!("no result within {LIMIT:?}")),
    }
}

/// Waits until process `pid` has exited (a zombie or reaped), up to `LIMIT`: its pidfd turns
/// readable then, so the test blocks on it instead of polling `/proc`.
fn wait_exited(pid: u32) -> Result<(), String> {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    use rustix::process::{pidfd_open, Pid, PidfdFlags};
    let raw = i32::try_from(pid).map_err(s)?;
    let id = Pid::from_raw(raw).ok_or("pid 0")?;
    let fd = match pidfd_open(id, PidfdFlags::empty()) {
        Ok(fd) => fd,
        // Gone already: exited and reaped.
        Err(rustix::io::Errno::SRCH) => return Ok(()),
        Err(e) => return Err(format!("pidfd_open({pid}): {e}")),
    };
    let limit = Timespec {
        tv_sec: i64::try_from(LIMIT.as_secs()).map_err(s)?,
        tv_nsec: 0,
    };
    loop {
        let mut fds = [PollFd::new(&fd, PollFlags::IN)];
        match poll(&mut fds, Some(&limit)) {
            Ok(0) => return Err(format!("worker {pid} still runs after {LIMIT:?}")),
            Ok(_) => return Ok(()),
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(format!("poll of worker {pid}'s pidfd: {e}")),
        }
    }
}

fn reaped(pid: u32) -> bool {
    !std::path::Path::new(&format!("/proc/{pid}")).exists()
}

fn square(x: u64) -> u64 {
    x * x
}

fn my_name(_: ()) -> String {
    weft_process::current_process_name().to_owned()
}

fn my_pid(_: ()) -> u32 {
    std::process::id()
}

/// Tells the test it runs (its pid), then waits for a word; returns it.
fn gated(conn: Connection<String>) -> String {
    let _ = conn.send(&std::process::id().to_string());
    conn.recv().unwrap_or_default()
}

/// Submits a gated task and waits until it runs: the gate to open it, and its worker's pid.
fn occupy(pool: &ProcessPoolExecutor) -> Result<(Future<String>, Connection<String>, u32), String> {
    let (ours, theirs) = Pipe::<String>::new().map_err(s)?;
    let f = pool.submit(gated, theirs).map_err(s)?;
    let pid = ours.recv_timeout(LIMIT).map_err(s)?;
    Ok((f, ours, pid.parse().map_err(s)?))
}

fn submit() -> Result<(), String> {
    let pool = pool(2)?;
    let f = pool.submit(square, 8).map_err(s)?;
    ensure!(get(f)? == Ok(64), "square(8)");
    let pid = get(pool.submit(my_pid, ()).map_err(s)?)?.map_err(s)?;
    ensure!(pid != std::process::id(), "the task ran in the parent");
    ensure!(
        pool.worker_pids().contains(&pid),
        "ran in {pid}, not a worker"
    );
    ensure!(
        pool.worker_pids().len() == 2,
        "workers {:?}",
        pool.worker_pids()
    );
    Ok(())
}

fn total<E: Executor>(pool: &E) -> u64 {
    let f = Executor::submit(pool, square, 3).unwrap();
    let rest: u64 = Executor::map(pool, square, 1..=2).map(Result::unwrap).sum();
    f.result().unwrap() + rest
}

fn executor_trait() -> Result<(), String> {
    let pool = pool(2)?;
    ensure!(total(&pool) == 9 + 1 + 4, "total");
    Executor::shutdown(&pool, true, false);
    let refused = Executor::submit(&pool, square, 5);
    ensure!(
        matches!(refused, Err(SubmitError::ShutDown(5))),
        "{refused:?}"
    );
    Ok(())
}

fn map_in_order() -> Result<(), String> {
    let pool = pool(2)?;
    let got: Vec<u64> = pool
        .map(square, 0..100)
        .collect::<Result<_, _>>()
        .map_err(s)?;
    ensure!(
        got == (0..100).map(|x| x * x).collect::<Vec<_>>(),
        "{got:?}"
    );
    let empty: Vec<u64> = pool
        .map(square, Vec::new())
        .collect::<Result<_, _>>()
        .map_err(s)?;
    ensure!(empty.is_empty(), "{empty:?}");
    Ok(())
}

fn map_with_chunksize() -> Result<(), String> {
    let pool = pool(2)?;
    let expected: Vec<u64> = (0..5000).map(|x| x * x).collect();
    for chunksize in [1, 5, 1000, 10_000] {
        let got: Vec<u64> = pool
            .map(square, 0..5000)
            .chunksize(chunksize)
            .collect::<Result<_, _>>()
            .map_err(s)?;
        ensure!(got == expected, "chunksize {chunksize}");
    }
    // Python's process pool raises ValueError for a chunksize under 1: here the first item,
    // before any worker starts.
    let zero: Vec<Result<u64, TaskError>> = pool.map(square, 0..10).chunksize(0).collect();
    ensure!(zero == [Err(TaskError::ZeroChunksize)], "{zero:?}");
    let zero: Vec<Result<u64, TaskError>> = pool.map(square, 0..10).buffersize(0).collect();
    ensure!(zero == [Err(TaskError::ZeroBuffersize)], "{zero:?}");
    Ok(())
}

fn map_endless() -> Result<(), String> {
    let pool = pool(2)?;
    let got: Vec<u64> = pool
        .map(square, 0..)
        .chunksize(7)
        .buffersize(3)
        .take(50)
        .collect::<Result<_, _>>()
        .map_err(s)?;
    ensure!(got == (0..50).map(|x| x * x).collect::<Vec<_>>(), "{got:?}");
    Ok(())
}

fn fail_on_five(x: u64) -> u64 {
    if x == 5 {
        panic!("five is not allowed");
    }
    x
}

fn map_panic() -> Result<(), String> {
    let pool = pool(2)?;
    let got: Vec<Result<u64, TaskError>> = pool.map(fail_on_five, 0..20).collect();
    ensure!(got.len() == 6, "{got:?}");
    ensure!(got[..5] == [Ok(0), Ok(1), Ok(2), Ok(3), Ok(4)], "{got:?}");
    ensure!(
        got[5].as_ref().err().and_then(TaskError::panic_message) == Some("five is not allowed"),
        "{got:?}"
    );
    // A chunk fails whole, as in Python.
    let got: Vec<Result<u64, TaskError>> = pool.map(fail_on_five, 0..20).chunksize(4).collect();
    ensure!(got.len() == 5 && got[4].is_err(), "{got:?}");
    Ok(())
}

/// A linked list, which serde encodes and decodes recursively, one frame a link; its drop is
/// a loop.
#[derive(Serialize, serde::Deserialize)]
enum List {
    Nil,
    Cons(u32, Box<List>),
}

impl Drop for List {
    fn drop(&mut self) {
        // Each link is dropped with an empty tail, so its own drop goes no deeper.
        let List::Cons(_, rest) = self else { return };
        let mut next = std::mem::replace(&mut **rest, List::Nil);
        while let List::Cons(_, rest) = &mut next {
            next = std::mem::replace(&mut **rest, List::Nil);
        }
    }
}

fn list_of(depth: u32) -> List {
    (0..depth).fold(List::Nil, |rest, i| List::Cons(i, Box::new(rest)))
}

/// A result nested 10 000 deep (in a debug build, 5 000 overflowed the 2 MiB default stack of
/// the parent's reader thread, which decodes results, and aborted the parent).
fn deep_result() -> Result<(), String> {
    let pool = pool(1)?;
    let list = get(pool.submit(list_of, 30_000).map_err(s)?)?.map_err(s)?;
    let mut depth = 0;
    let mut link = &list;
    while let List::Cons(_, rest) = link {
        depth += 1;
        link = rest;
    }
    ensure!(depth == 30_000, "depth {depth}");
    Ok(())
}

/// A linked list whose drop recurses, a few frames a link, as most nested types' do.
#[derive(Serialize, serde::Deserialize)]
enum Chain {
    End,
    Link(Box<Chain>),
}

fn chain_of(depth: u32) -> Chain {
    (0..depth).fold(Chain::End, |rest, _| Chain::Link(Box::new(rest)))
}

/// A result nobody waits for is dropped on the pool's reader thread: one that drops recursively
/// 60 000 deep, which the main thread's 8 MiB stack holds, overflowed the reader's 2 MiB and
/// aborted the program. The pool goes on.
fn unawaited_deep_result() -> Result<(), String> {
    let pool = pool(1)?;
    drop(pool.submit(chain_of, 60_000).map_err(s)?);
    // One worker answers in order: this reply comes after the dropped one.
    ensure!(
        get(pool.submit(square, 3).map_err(s)?)? == Ok(9),
        "the next task"
    );
    Ok(())
}

/// A worker killed mid-task while a process it forked holds its socket open: the task fails
/// with `BrokenPool` at once, and dropping the pool returns (Linux: the pool watches each
/// worker's pidfd). Both used to wait for that process to exit (the audit: 24.8 s and 25.0 s
/// for a 25 s sleep).
fn grandchild_holds_the_socket() -> Result<(), String> {
    let pool = pool(1)?;
    let grandchild = get(pool.submit(runner::fork_sleeping_copy, ()).map_err(s)?)?.map_err(s)?;
    let _grandchild = runner::KillOnDrop(grandchild);
    ensure!(grandchild != 0, "fork failed");
    let (running, _gate, pid) = occupy(&pool)?;
    drop(runner::KillOnDrop(pid));
    let got = get(running)?;
    ensure!(matches!(got, Err(TaskError::BrokenPool { .. })), "{got:?}");
    let (done, dropped) = mpsc::channel();
    std::thread::spawn(move || {
        drop(pool);
        let _ = done.send(());
    });
    dropped
        .recv_timeout(LIMIT)
        .map_err(|_| "dropping the pool waited for the grandchild")?;
    Ok(())
}

/// Encodes unless it is 3.
#[derive(Debug, serde::Deserialize)]
struct NotThree(u32);

impl Serialize for NotThree {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0 == 3 {
            return Err(serde::ser::Error::custom("3 does not encode"));
        }
        s.serialize_u32(self.0)
    }
}

fn not_three(x: NotThree) -> u32 {
    x.0
}

/// An item that cannot be encoded is the error in its place, after the results of the items
/// before it (Python's map raises the pickling error at that item), with or without a
/// `buffersize`; a chunk holding it fails whole. The map used to end with the error first,
/// dropping the results already computed.
fn map_unencodable_item() -> Result<(), String> {
    let pool = pool(2)?;
    for (chunksize, buffersize, ok) in [(1, None, 3), (1, Some(2), 3), (2, None, 2)] {
        let mut map = pool
            .map(not_three, (0..6).map(NotThree))
            .chunksize(chunksize);
        if let Some(n) = buffersize {
            map = map.buffersize(n);
        }
        let got: Vec<Result<u32, TaskError>> = map.collect();
        let want: Vec<Result<u32, TaskError>> = (0..ok).map(Ok).collect();
        ensure!(
            got.len() == ok as usize + 1
                && got[..ok as usize] == want[..]
                && matches!(got[ok as usize], Err(TaskError::Serialize { .. })),
            "chunksize {chunksize}, buffersize {buffersize:?}: {got:?}"
        );
    }
    Ok(())
}

fn panic_fails_only_its_future() -> Result<(), String> {
    let pool = pool(2)?;
    let futures: Vec<_> = (0..10)
        .map(|x| pool.submit(fail_on_five, x))
        .collect::<Result<_, _>>()
        .map_err(s)?;
    for (x, f) in futures.into_iter().enumerate() {
        let got = get(f)?;
        if x == 5 {
            let err = got.as_ref().err().ok_or("task 5 did not fail")?;
            ensure!(
                err.panic_message() == Some("five is not allowed"),
                "{got:?}"
            );
            // Where the worker panicked, as Python's `_RemoteTraceback` says: in `fail_on_five`,
            // a function of this file.
            let at = err.panic_location().unwrap_or_default();
            ensure!(
                at.starts_with(concat!(file!(), ":")),
                "location {at:?}, not in {}",
                file!()
            );
            ensure!(
                err.to_string() == format!("the task panicked at {at}: five is not allowed"),
                "{err}"
            );
        } else {
            ensure!(got == Ok(x as u64), "task {x}: {got:?}");
        }
    }
    ensure!(pool.broken().is_none(), "a panic broke the pool");
    Ok(())
}

/// The scenario of `worker_panic_report`: a task of a `panicky` pool panics, an initializer of a
/// `refusing` pool panics, then the parent's main thread panics (caught). It prints on stdout
/// the first worker's pid and the task's error, in lines `pid: N` and `error: ...`.
fn worker_panic_scenario() {
    let pool = ProcessPoolExecutor::builder()
        .max_workers(1)
        .name_prefix("panicky")
        .build()
        .unwrap();
    let err = pool.submit(fail_on_five, 5).unwrap().result().unwrap_err();
    println!("pid: {}", pool.worker_pids()[0]);
    println!("error: {err}");
    drop(pool);
    let pool = ProcessPoolExecutor::builder()
        .max_workers(1)
        .name_prefix("refusing")
        .initializer(broken_initializer)
        .build()
        .unwrap();
    let err = pool.submit(square, 1).unwrap().result().unwrap_err();
    println!("initializer: {err}");
    drop(pool);
    let _ = std::panic::catch_unwind(|| panic!("the parent panics"));
}

/// A worker's panic, in a task or in its initializer, is printed on its stderr (the parent's,
/// inherited) below a line naming the worker (`worker process 'panicky-0' (pid N):`): std's
/// default hook alone said `thread 'main' panicked`, the worker's main thread, which read as the
/// parent's. The future still gets the message and location, and a panic in the parent is
/// printed as before, with no such line. (Python's worker prints nothing and its parent's
/// `result()` raises with the remote traceback; the print is the only place a `RUST_BACKTRACE`
/// backtrace of the worker can be read.)
fn worker_panic_report() -> Result<(), String> {
    let exe = std::env::current_exe().map_err(s)?;
    let out = std::process::Command::new(exe)
        .env(SCENARIO, "worker-panic")
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE")
        .output()
        .map_err(s)?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let context = format!("{}\nstdout:\n{stdout}\nstderr:\n{stderr}", out.status);
    ensure!(out.status.success(), "{context}");
    let field = |name: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(str::to_owned)
            .ok_or_else(|| format!("no {name:?} line: {context}"))
    };
    let pid = field("pid: ")?;
    // The future's error: `the task panicked at LOCATION: five is not allowed`.
    let error = field("error: ")?;
    let at = error
        .strip_prefix("the task panicked at ")
        .and_then(|rest| rest.strip_suffix(": five is not allowed"))
        .ok_or_else(|| format!("the future's error: {context}"))?;
    ensure!(
        at.starts_with(concat!(file!(), ":")),
        "location {at:?}: {context}"
    );
    // Each report of std's hook (`thread 'NAME' (TID) panicked at ...`), with the last line
    // above it that is not blank (std's hook begins with an empty line).
    let lines: Vec<&str> = stderr.lines().collect();
    let reports: Vec<(&str, &[&str])> = (0..lines.len())
        .filter(|&i| lines[i].starts_with("thread '"))
        .map(|i| {
            let above = lines[..i].iter().rev().find(|l| !l.is_empty());
            (above.copied().unwrap_or(""), &lines[i..])
        })
        .collect();
    let named = |name: &str| format!("worker process '{name}' (pid ");
    let task = reports
        .iter()
        .find(|(above, _)| *above == format!("{}{pid}):", named("panicky-0")))
        .ok_or_else(|| format!("no report below the panicky worker's name: {context}"))?;
    ensure!(
        task.1[0].ends_with(&format!(" panicked at {at}:"))
            && task.1.get(1) == Some(&"five is not allowed"),
        "the task's report: {context}"
    );
    let initializer = field("initializer: ")?;
    ensure!(
        initializer.contains("initializer panicked: initializer refuses"),
        "{context}"
    );
    ensure!(
        reports
            .iter()
            .any(|(above, report)| above.starts_with(&named("refusing-0"))
                && report.get(1) == Some(&"initializer refuses")),
        "no report of the initializer's panic below its worker's name: {context}"
    );
    // The parent's own panic, printed by std's hook as before: the one report with no worker
    // named above it.
    let unnamed: Vec<_> = reports
        .iter()
        .filter(|(above, _)| !above.starts_with("worker process '"))
        .collect();
    ensure!(
        unnamed.len() == 1
            && unnamed[0].1[0].starts_with("thread 'main'")
            && unnamed[0].1.get(1) == Some(&"the parent panics"),
        "the reports with no worker named: {context}"
    );
    Ok(())
}

/// A panic payload whose own `Drop` panics.
struct PanicOnDrop;

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("the payload's drop panics");
    }
}

/// The line of `panic_with_an_odd_payload`'s panic.
const ODD_PANIC_LINE: u32 = line!() + 3;

fn panic_with_an_odd_payload(_: u32) -> u32 {
    std::panic::panic_any(PanicOnDrop)
}

/// The worker reports the panic and drops its payload without dying (it used to exit, breaking
/// the pool). The location is the task's panic, not the payload's drop, which panicked after it
/// (and whose location the worker's panic hook recorded last).
fn panic_payload_drop_panics() -> Result<(), String> {
    let pool = pool(1)?;
    let got = get(pool.submit(panic_with_an_odd_payload, 1).map_err(s)?)?;
    ensure!(
        got.as_ref().err().and_then(TaskError::panic_message) == Some("Box<dyn Any>"),
        "{got:?}"
    );
    let at = got.as_ref().err().and_then(TaskError::panic_location);
    ensure!(
        at.is_some_and(|at| at.starts_with(&format!("{}:{ODD_PANIC_LINE}:", file!()))),
        "location {at:?}, not line {ODD_PANIC_LINE} of {}",
        file!()
    );
    ensure!(pool.broken().is_none(), "{:?}", pool.broken());
    let got = get(pool.submit(fail_on_five, 3).map_err(s)?)?;
    ensure!(got == Ok(3), "{got:?}");
    Ok(())
}

/// Refuses to be encoded.
#[derive(Debug, PartialEq, serde::Deserialize)]
struct Unencodable;

impl Serialize for Unencodable {
    fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("Unencodable refuses"))
    }
}

fn take_unencodable(_: Unencodable) -> u8 {
    0
}

/// A value whose serde code panics on 13: in the worker (decoding the argument, encoding the
/// result) and in the parent's reader thread (decoding the result).
#[derive(Debug, PartialEq)]
struct Touchy(u32);

impl Serialize for Touchy {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        assert!(self.0 != 13 || weft_process::current_process_name() == "MainProcess");
        s.serialize_u32(self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Touchy {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = u32::deserialize(d)?;
        assert!(v != 13, "Touchy refuses 13");
        Ok(Touchy(v))
    }
}

fn touchy_echo(x: u32) -> Touchy {
    Touchy(x)
}

fn touchy_take(t: Touchy) -> u32 {
    t.0
}

fn panicking_serde() -> Result<(), String> {
    let pool = pool(1)?;
    // Decoding the result panics on the parent's reader thread.
    let bad = pool.submit(touchy_echo, 13).map_err(s)?;
    // Encoding the argument in the parent is fine; decoding it in the worker panics.
    let bad_arg = pool.submit(touchy_take, Touchy(13)).map_err(s)?;
    let good = pool.submit(touchy_echo, 5).map_err(s)?;
    let got = get(bad)?;
    ensure!(matches!(got, Err(TaskError::Serialize { .. })), "{got:?}");
    let got = get(bad_arg)?;
    ensure!(matches!(got, Err(TaskError::Serialize { .. })), "{got:?}");
    ensure!(get(good)? == Ok(Touchy(5)), "the other task");
    ensure!(pool.broken().is_none(), "a serde panic broke the pool");
    ensure!(
        get(pool.submit(square, 4).map_err(s)?)? == Ok(16),
        "pool unusable"
    );
    Ok(())
}

/// A result whose `Drop` panics in a worker (the worker's copy, after it was encoded); the
/// parent's copies drop quietly.
#[derive(Debug, PartialEq, Serialize, serde::Deserialize)]
struct DropBomb(u32);

impl Drop for DropBomb {
    fn drop(&mut self) {
        assert!(
            weft_process::current_process_name() == "MainProcess",
            "DropBomb dropped in a worker"
        );
    }
}

fn drop_bomb(x: u32) -> DropBomb {
    DropBomb(x)
}

fn drop_bomb_unless_two(x: u32) -> DropBomb {
    assert!(x != 2, "two");
    DropBomb(x)
}

/// Python ignores an exception in `__del__`: the worker's copy of a result panicking as it is
/// dropped neither fails the task nor kills the worker (it used to abort it, breaking the pool).
fn result_drop_panics() -> Result<(), String> {
    let pool = pool(1)?;
    let got = get(pool.submit(drop_bomb, 7).map_err(s)?)?;
    ensure!(got == Ok(DropBomb(7)), "{got:?}");
    let got: Vec<_> = pool
        .map(drop_bomb, 0..6)
        .chunksize(3)
        .collect::<Result<_, _>>()
        .map_err(s)?;
    ensure!(got == (0..6).map(DropBomb).collect::<Vec<_>>(), "{got:?}");
    // A panic midway through a chunk drops the results so far while unwinding.
    let got: Vec<_> = pool.map(drop_bomb_unless_two, 0..3).chunksize(3).collect();
    ensure!(
        matches!(got.as_slice(), [Err(TaskError::Panicked { .. })]),
        "{got:?}"
    );
    ensure!(pool.broken().is_none(), "{:?}", pool.broken());
    ensure!(
        get(pool.submit(square, 4).map_err(s)?)? == Ok(16),
        "pool unusable"
    );
    Ok(())
}

fn unencodable_argument() -> Result<(), String> {
    let pool = pool(1)?;
    // Nothing is sent; the argument comes back with the codec's message, which holds the
    // `Serialize` impl's own.
    match pool.submit(take_unencodable, Unencodable) {
        Err(SubmitError::Serialize { message, value }) => {
            ensure!(
                message.contains("could not be encoded")
                    && message.contains("Unencodable refuses")
                    // Said once: not the codec's "a message could not be encoded" inside the
                    // argument's.
                    && message.matches("could not be encoded").count() == 1,
                "{message}"
            );
            ensure!(value == Unencodable, "the argument back");
        }
        other => return Err(format!("{other:?}")),
    }
    ensure!(
        get(pool.submit(square, 3).map_err(s)?)? == Ok(9),
        "pool unusable"
    );
    Ok(())
}

fn text_len(text: String) -> usize {
    text.len()
}

/// An argument whose call is over the 64 MiB frame limit is refused in the parent
/// (`submit`'s docs), the argument back whole; the pool goes on.
fn argument_over_the_frame_limit() -> Result<(), String> {
    let pool = pool(1)?;
    let len = (64 << 20) + 1;
    match pool.submit(text_len, "a".repeat(len)) {
        Err(SubmitError::Serialize { message, value }) => {
            ensure!(message.contains("frame limit"), "{message}");
            ensure!(value.len() == len, "{} bytes came back", value.len());
        }
        other => return Err(format!("{:?}", other.map_err(|e| e.to_string()))),
    }
    ensure!(
        get(pool.submit(square, 3).map_err(s)?)? == Ok(9),
        "pool unusable"
    );
    Ok(())
}

/// Encodes unless it is 3, where its `Serialize` panics (in the parent, as the call is encoded).
#[derive(Debug, PartialEq, serde::Deserialize)]
struct PanicsOnThree(u32);

impl Serialize for PanicsOnThree {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        assert!(self.0 != 3, "PanicsOnThree refuses 3");
        s.serialize_u32(self.0)
    }
}

fn panics_on_three(x: PanicsOnThree) -> u32 {
    x.0
}

/// An argument whose `Serialize` panics as the call is encoded is refused as one that returns
/// an error is: `SubmitError::Serialize` with the argument back, the pool still usable; in
/// `map`, the error in the item's place after the results before it. Python's `submit` fails
/// the future with what `__reduce__` raised, and its `map` yields 1, 2 then raises it at the
/// item. The panic used to unwind out of `submit` (the argument dropped) and out of `map`'s
/// first `next`, before any result.
fn argument_whose_serialize_panics() -> Result<(), String> {
    let pool = pool(1)?;
    let submitted = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        pool.submit(panics_on_three, PanicsOnThree(3))
    }))
    .map_err(|p| format!("submit panicked: {}", weft_sync::panic_message(&*p)))?;
    match submitted {
        Err(SubmitError::Serialize { message, value }) => {
            ensure!(message.contains("PanicsOnThree refuses 3"), "{message}");
            ensure!(value == PanicsOnThree(3), "the argument back");
        }
        other => return Err(format!("{other:?}")),
    }
    ensure!(
        get(pool.submit(square, 3).map_err(s)?)? == Ok(9),
        "pool unusable"
    );
    let got: Vec<Result<u32, TaskError>> =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pool.map(panics_on_three, (1..6).map(PanicsOnThree))
                .collect()
        }))
        .map_err(|p| format!("map panicked: {}", weft_sync::panic_message(&*p)))?;
    ensure!(
        got.len() == 3
            && got[..2] == [Ok(1), Ok(2)]
            && matches!(got[2], Err(TaskError::Serialize { .. })),
        "{got:?}"
    );
    Ok(())
}

/// An argument whose `Drop` panics in the parent (where `armed`, which is not sent, is set).
#[derive(Serialize, serde::Deserialize)]
struct DropsLoudly {
    x: u64,
    #[serde(skip)]
    armed: bool,
}

impl Drop for DropsLoudly {
    fn drop(&mut self) {
        if std::mem::take(&mut self.armed) {
            panic!("DropsLoudly's drop");
        }
    }
}

fn take_loud(d: DropsLoudly) -> u64 {
    d.x
}

/// The parent drops an accepted argument once its call is made: a panic in that `Drop` is
/// ignored, as Python ignores an exception in `__del__`; the task runs, its future comes back,
/// and the pool shuts down. The argument used to be dropped under the pool's lock, after its
/// call had been handed to a worker: the panic unwound out of `submit` dropping that call
/// unsent, which stayed in flight for ever, so the pool's drop never returned.
fn argument_whose_drop_panics() -> Result<(), String> {
    let pool = pool(1)?;
    let submitted = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        pool.submit(take_loud, DropsLoudly { x: 3, armed: true })
    }));
    // One loud item a chunk: a second panic while the first unwinds would abort (a `Vec`'s
    // drop).
    let items = [true, false].map(|armed| DropsLoudly { x: 4, armed });
    let mapped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        pool.map(take_loud, items).chunksize(2).collect::<Vec<_>>()
    }));
    let after = pool.submit(square, 6).map_err(s)?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        drop(pool);
        let _ = tx.send(());
    });
    ensure!(
        rx.recv_timeout(LIMIT).is_ok(),
        "the pool's drop did not return"
    );
    let f = submitted
        .map_err(|p| format!("submit panicked: {}", weft_sync::panic_message(&*p)))?
        .map_err(s)?;
    ensure!(get(f)? == Ok(3), "the task of the loud argument");
    let mapped = mapped.map_err(|p| format!("map panicked: {}", weft_sync::panic_message(&*p)))?;
    ensure!(mapped == [Ok(4), Ok(4)], "{mapped:?}");
    ensure!(get(after)? == Ok(36), "the task after");
    Ok(())
}

fn done_callbacks_run() -> Result<(), String> {
    let pool = pool(2)?;
    let (tx, rx) = mpsc::channel();
    for x in 0..20u64 {
        let tx = tx.clone();
        pool.submit(square, x)
            .map_err(s)?
            .add_done_callback(move |r| {
                let _ = tx.send(*r.as_ref().unwrap());
            });
    }
    let mut got: Vec<u64> = (0..20)
        .map(|_| rx.recv_timeout(LIMIT))
        .collect::<Result<_, _>>()
        .map_err(s)?;
    got.sort_unstable();
    ensure!(got == (0..20).map(|x| x * x).collect::<Vec<_>>(), "{got:?}");
    Ok(())
}

/// Done callbacks run on the pool's reader thread. One that panics is reported and stops
/// nothing: the callbacks after it run, the pool is not broken, its other futures complete. One
/// that shuts the pool down with `wait` returns at once, since the reader cannot wait for itself
/// (`shutdown`'s docs), and the task sent behind still answers.
fn callbacks_on_the_reader() -> Result<(), String> {
    let pool = Arc::new(pool(1)?);
    let (running, gate, _) = occupy(&pool)?;
    running.add_done_callback(|_| panic!("a done callback panics on the reader thread"));
    let (tx, rx) = mpsc::channel();
    let p = Arc::clone(&pool);
    running.add_done_callback(move |_| {
        p.shutdown(true, false);
        let _ = tx.send(());
    });
    let behind = pool.submit(square, 7).map_err(s)?;
    gate.send(&"go".to_owned()).map_err(s)?;
    rx.recv_timeout(LIMIT)
        .map_err(|_| "the callback's shutdown(wait) did not return")?;
    ensure!(get(running)? == Ok("go".to_owned()), "the task's answer");
    ensure!(get(behind)? == Ok(49), "the task sent behind it");
    ensure!(pool.broken().is_none(), "{:?}", pool.broken());
    ensure!(
        pool.submit(square, 1).is_err_and(|e| e.is_shut_down()),
        "a submit after the callback's shutdown"
    );
    Ok(())
}

fn ten_thousand_tasks() -> Result<(), String> {
    let pool = pool(2)?;
    let futures: Vec<_> = (0..10_000u64)
        .map(|x| pool.submit(square, x))
        .collect::<Result<_, _>>()
        .map_err(s)?;
    for (x, f) in futures.into_iter().enumerate() {
        let x = x as u64;
        ensure!(get(f)? == Ok(x * x), "task {x}");
    }
    Ok(())
}

/// Once a burst has been answered, the pool gives back the room its task table and queue took
/// (50 000 tasks held about 7 MB of it before), so an idle pool's footprint is not its largest
/// burst's.
fn a_burst_leaves_no_room_behind() -> Result<(), String> {
    const BURST: u64 = 50_000;
    let pool = pool(2)?;
    ensure!(get(pool.submit(square, 2).map_err(s)?)? == Ok(4), "warm-up");
    let idle = live_bytes();
    let futures: Vec<_> = (0..BURST)
        .map(|x| pool.submit(square, x))
        .collect::<Result<_, _>>()
        .map_err(s)?;
    let queued = live_bytes() - idle;
    for (x, f) in futures.into_iter().enumerate() {
        let x = x as u64;
        ensure!(get(f)? == Ok(x * x), "task {x}");
    }
    let kept = live_bytes() - idle;
    ensure!(
        kept < 256 * 1024,
        "{kept} heap bytes kept after the burst ({queued} while it was queued)"
    );
    Ok(())
}

static INITIALIZED: AtomicU64 = AtomicU64::new(0);

fn init_marker() {
    INITIALIZED.store(std::process::id() as u64, Ordering::SeqCst);
}

fn initialized_in(_: ()) -> (u64, u32) {
    (INITIALIZED.load(Ordering::SeqCst), std::process::id())
}

fn initializer_runs() -> Result<(), String> {
    let pool = ProcessPoolExecutor::builder()
        .max_workers(2)
        .initializer(init_marker)
        .build()
        .map_err(s)?;
    for _ in 0..10 {
        let (marker, pid) = get(pool.submit(initialized_in, ()).map_err(s)?)?.map_err(s)?;
        ensure!(marker == pid as u64, "worker {pid} saw marker {marker}");
    }
    ensure!(
        INITIALIZED.load(Ordering::SeqCst) == 0,
        "the initializer ran in the parent"
    );
    Ok(())
}

fn broken_initializer() {
    panic!("initializer refuses");
}

fn failing_initializer() -> Result<(), String> {
    let pool = ProcessPoolExecutor::builder()
        .max_workers(2)
        .initializer(broken_initializer)
        .build()
        .map_err(s)?;
    // Each task fails with BrokenPool: pending when the pool broke, or refused (with its
    // argument back) once it was broken.
    for x in 0..10 {
        let reason = match pool.submit(square, x) {
            Ok(f) => match get(f)? {
                Err(TaskError::BrokenPool { reason }) => reason,
                other => return Err(format!("pending task: {other:?}")),
            },
            Err(SubmitError::BrokenPool { reason, value }) => {
                ensure!(value == x, "argument {value} came back for {x}");
                reason
            }
            Err(other) => return Err(format!("submit: {other:?}")),
        };
        ensure!(
            reason.contains("initializer panicked: initializer refuses"),
            "reason {reason:?}"
        );
    }
    ensure!(pool.broken().is_some(), "the pool is not broken");
    match pool.submit(square, 77) {
        Err(SubmitError::BrokenPool { reason, value }) => {
            ensure!(value == 77, "argument {value}");
            ensure!(reason.contains("initializer"), "reason {reason:?}");
        }
        other => return Err(format!("submit to a broken pool: {other:?}")),
    }
    Ok(())
}

fn abort_now(_: ()) -> u8 {
    std::process::abort()
}

fn aborting_worker() -> Result<(), String> {
    let pool = pool(2)?;
    let f = pool.submit(abort_now, ()).map_err(s)?;
    match get(f)? {
        Err(TaskError::BrokenPool { reason }) => {
            ensure!(reason.contains("SIGABRT"), "reason {reason:?}")
        }
        other => return Err(format!("aborted task: {other:?}")),
    }
    match pool.submit(square, 2) {
        Err(SubmitError::BrokenPool { value: 2, .. }) => {}
        other => return Err(format!("submit after the abort: {other:?}")),
    }
    Ok(())
}

fn exit_zero(_: ()) -> u8 {
    std::process::exit(0)
}

/// A task that exits the worker, even with code 0, breaks the pool (Python's `test_deadlock`
/// cases with `os._exit`): an end with a call still unanswered is never a clean one, not even
/// for a worker due to retire after that call (`max_tasks_per_child(1)`), whose clean end
/// would only replace it.
fn exit_in_a_task() -> Result<(), String> {
    for retiring in [false, true] {
        let mut builder = ProcessPoolExecutor::builder().max_workers(2);
        if retiring {
            builder = builder.max_tasks_per_child(1);
        }
        let pool = builder.build().map_err(s)?;
        match get(pool.submit(exit_zero, ()).map_err(s)?)? {
            Err(TaskError::BrokenPool { reason }) => ensure!(
                reason.contains("exited with code 0"),
                "retiring {retiring}: reason {reason:?}"
            ),
            other => return Err(format!("retiring {retiring}: the exiting task: {other:?}")),
        }
        match pool.submit(square, 2) {
            Err(SubmitError::BrokenPool { value: 2, .. }) => {}
            other => return Err(format!("retiring {retiring}: submit after: {other:?}")),
        }
    }
    Ok(())
}

fn exiting_initializer() {
    std::process::exit(3)
}

/// An initializer that exits instead of panicking breaks the pool too, with the exit code as
/// the reason: each task fails with BrokenPool, or is refused with its argument back.
fn initializer_that_exits() -> Result<(), String> {
    let pool = ProcessPoolExecutor::builder()
        .max_workers(2)
        .initializer(exiting_initializer)
        .build()
        .map_err(s)?;
    for x in 0..5 {
        let reason = match pool.submit(square, x) {
            Ok(f) => match get(f)? {
                Err(TaskError::BrokenPool { reason }) => reason,
                other => return Err(format!("pending task: {other:?}")),
            },
            Err(SubmitError::BrokenPool { reason, value }) => {
                ensure!(value == x, "argument {value} came back for {x}");
                reason
            }
            Err(other) => return Err(format!("submit: {other:?}")),
        };
        ensure!(reason.contains("exited with code 3"), "reason {reason:?}");
    }
    Ok(())
}

/// Where the workers of the pool named `prefix` say that they have started ([`say_started`]):
/// a datagram socket the test binds ([`Started`]).
fn started_socket(prefix: &str) -> PathBuf {
    std::env::temp_dir().join(format!("weft-{prefix}.started"))
}

/// Tells the test that bound the socket of this worker's pool ([`started_socket`]) that this
/// worker has started: sends its name, `<prefix>-<n>`.
fn say_started() {
    let name = weft_process::current_process_name();
    if let Some((prefix, _)) = name.rsplit_once('-') {
        let to = started_socket(prefix);
        let _ = UnixDatagram::unbound().and_then(|s| s.send_to(name.as_bytes(), to));
    }
}

/// The socket on which the workers of a pool say that they have started ([`say_started`]),
/// bound under a name no other run uses (the pool's name prefix: this process's id, a count and
/// the time) and removed when dropped, whatever the test does in between (a pool that fails to
/// build, a failed check, a panic).
struct Started {
    socket: UnixDatagram,
    /// The name prefix to give the pool.
    prefix: String,
    path: PathBuf,
}

impl Started {
    /// Binds the socket for a pool whose name prefix starts with `kind`.
    fn bind(kind: &str) -> Result<Self, String> {
        static BOUND: AtomicU64 = AtomicU64::new(0);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        for _ in 0..100 {
            let n = BOUND.fetch_add(1, Ordering::Relaxed);
            let prefix = format!("{kind}{}-{n}-{now}", std::process::id());
            let path = started_socket(&prefix);
            match UnixDatagram::bind(&path) {
                // The file is ours to remove from here on (and only from here: a name in use
                // is another's file).
                Ok(socket) => {
                    return Ok(Started {
                        socket,
                        prefix,
                        path,
                    })
                }
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => continue,
                Err(e) => return Err(format!("cannot bind {}: {e}", path.display())),
            }
        }
        Err("no free name for a started socket".into())
    }

    /// The name of the next worker that says it has started, waiting up to `LIMIT`.
    fn next(&self) -> Result<String, String> {
        self.socket.set_read_timeout(Some(LIMIT)).map_err(s)?;
        let mut name = [0; 256];
        let len = self.socket.recv(&mut name).map_err(|e| e.to_string())?;
        Ok(String::from_utf8_lossy(&name[..len]).into_owned())
    }

    /// The names of the workers that have said they started and were not taken yet, without
    /// waiting.
    fn heard(&self) -> Result<Vec<String>, String> {
        self.socket.set_nonblocking(true).map_err(s)?;
        let mut names = Vec::new();
        let mut name = [0; 256];
        loop {
            match self.socket.recv(&mut name) {
                Ok(len) => names.push(String::from_utf8_lossy(&name[..len]).into_owned()),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(names),
                Err(e) => return Err(e.to_string()),
            }
        }
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Holds the first replacement worker of a `stall…` pool in its initializer (30 s) (the other
/// workers start at once), as a slow initializer would; first it tells the test it has started
/// ([`say_started`]).
fn stall_first_replacement() {
    let name = weft_process::current_process_name();
    if name.starts_with("stall") && name.ends_with("-2") {
        say_started();
        std::thread::sleep(Duration::from_secs(30));
    }
}

/// The pool's one reader thread writes the calls it hands out, and a call may exceed the byte
/// budget when its worker has none in flight. Written to a worker still in its initializer
/// (here a `max_tasks_per_child` replacement), a call over the socket buffer blocked the reader
/// until the initializer ended, and with it every other future of the pool: a reply that
/// another worker had sent waited (with a 30 s initializer, 30 s). Such a call now waits in
/// the queue until a worker with nothing in flight is ready. Python's manager thread never
/// writes calls (its feeder thread does).
fn big_call_to_a_starting_worker() -> Result<(), String> {
    let started = Started::bind("stall")?;
    let pool = ProcessPoolExecutor::builder()
        .max_workers(2)
        .max_tasks_per_child(1)
        .name_prefix(started.prefix.as_str())
        .initializer(stall_first_replacement)
        .build()
        .map_err(s)?;
    let (a, gate_a, first) = occupy(&pool)?;
    let (b, gate_b, _) = occupy(&pool)?;
    // Both workers will retire after their call: this one waits for a replacement.
    let big = pool.submit(text_len, "c".repeat(1 << 20)).map_err(s)?;
    gate_a.send(&"a".to_string()).map_err(s)?;
    // The first worker retires; its replacement starts (and stalls) and is handed the big
    // call in the same round of the reader, the one that started it: once the replacement
    // runs its initializer, any later reply is read in a later round.
    started
        .next()
        .map_err(|e| format!("no replacement worker within {LIMIT:?}: {e}"))?;
    ensure!(
        !pool.worker_pids().contains(&first) && pool.worker_pids().len() == 2,
        "workers {:?}, the first was {first}",
        pool.worker_pids()
    );
    gate_b.send(&"b".to_string()).map_err(s)?;
    let answered = b.result_timeout(Duration::from_secs(10));
    pool.kill_workers();
    let _ = (get(a)?, get(big)?);
    match answered {
        Ok(word) => ensure!(word == "b", "b gave {word:?}"),
        Err(e) => return Err(format!("the other worker's reply waited: {e}")),
    }
    Ok(())
}

/// Holds the first worker of a `late` pool in its initializer (30 s); the second starts at once.
fn stall_first_worker() {
    if weft_process::current_process_name() == "late-0" {
        std::thread::sleep(Duration::from_secs(30));
    }
}

/// A call over the byte budget submitted as the pool starts is not written to a worker still
/// in its initializer (the submit blocked until that ended, here 30 s): the submit returns at
/// once and the call runs on the worker that is ready first. Python's `submit` never blocks.
fn big_call_at_the_start() -> Result<(), String> {
    let pool = ProcessPoolExecutor::builder()
        .max_workers(2)
        .name_prefix("late")
        .initializer(stall_first_worker)
        .build()
        .map_err(s)?;
    let start = Instant::now();
    let big = pool.submit(text_len, "d".repeat(1 << 20)).map_err(s)?;
    let submitted = start.elapsed();
    let answered = big.result_timeout(Duration::from_secs(10));
    pool.kill_workers();
    ensure!(
        submitted < Duration::from_secs(10),
        "the submit waited {submitted:?} for a worker's initializer"
    );
    match answered {
        Ok(len) => ensure!(len == 1 << 20, "text_len gave {len}"),
        Err(e) => return Err(format!("the big call waited for the slow worker: {e}")),
    }
    Ok(())
}

/// A broken pool that is then shut down still says it is broken, as Python's `submit` checks
/// `_broken` before `_shutdown_thread` (`BrokenProcessPool`, not `RuntimeError`); so does a
/// `map` made afterwards, whose item was `Cancelled`.
fn broken_then_shut_down() -> Result<(), String> {
    let pool = pool(1)?;
    let f = pool.submit(abort_now, ()).map_err(s)?;
    ensure!(
        matches!(get(f)?, Err(TaskError::BrokenPool { .. })),
        "not broken"
    );
    pool.shutdown(false, false);
    match pool.submit(square, 3) {
        Err(SubmitError::BrokenPool { value: 3, reason }) => {
            ensure!(reason.contains("SIGABRT"), "reason {reason:?}")
        }
        other => return Err(format!("submit to a broken, shut-down pool: {other:?}")),
    }
    let mapped: Vec<_> = pool.map(square, [4]).collect();
    ensure!(
        matches!(&mapped[..], [Err(TaskError::BrokenPool { .. })]),
        "map over a broken, shut-down pool: {mapped:?}"
    );
    pool.shutdown(true, false);
    match pool.submit(square, 5) {
        Err(SubmitError::BrokenPool { value: 5, .. }) => {}
        other => return Err(format!("submit after shutdown(wait): {other:?}")),
    }
    Ok(())
}

fn sigkilled_worker() -> Result<(), String> {
    let pool = pool(2)?;
    let (running, _gate, pid) = occupy(&pool)?;
    let status = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .map_err(s)?;
    ensure!(status.success(), "kill failed");
    match get(running)? {
        Err(TaskError::BrokenPool { reason }) => ensure!(
            reason.contains("SIGKILL") && reason.contains(&pid.to_string()),
            "reason {reason:?}"
        ),
        other => return Err(format!("task of the killed worker: {other:?}")),
    }
    drop(pool);
    ensure!(reaped(pid), "killed worker {pid} not reaped");
    Ok(())
}

/// Replaces its worker process with `sleep 30`: the worker's channel closes (close-on-exec) while
/// its process, the same pid, runs on.
fn exec_sleep(_: ()) -> u8 {
    use std::os::unix::process::CommandExt;
    let e = std::process::Command::new("sleep").arg("30").exec();
    panic!("exec failed: {e}")
}

fn exec_in_a_task() -> Result<(), String> {
    let pool = pool(1)?;
    let f = pool.submit(exec_sleep, ()).map_err(s)?;
    let pid = pool.worker_pids()[0];
    // The reader used to wait for the process to exit (30 s), every future of the pool with it.
    let answer = match f.result_timeout(Duration::from_secs(15)) {
        Err(weft_executor::ResultTimeoutError::Task(e)) => e,
        other => {
            // Still unreaped (the reader waits for it): end it, so the case ends too.
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            return Err(format!(
                "the exec'd task: {:?}",
                other.map_err(|e| e.to_string())
            ));
        }
    };
    match answer {
        TaskError::BrokenPool { reason } => ensure!(
            reason.contains("did not exit") && reason.contains(&pid.to_string()),
            "reason {reason:?}"
        ),
        other => return Err(format!("the exec'd task: {other:?}")),
    }
    ensure!(pool.submit(square, 2).is_err(), "the pool is not broken");
    drop(pool);
    ensure!(reaped(pid), "the exec'd worker {pid} was not reaped");
    Ok(())
}

fn every_future_answers() -> Result<(), String> {
    let pool = pool(2)?;
    let mut futures = Vec::new();
    let mut refused = 0;
    let mut submit = |f: fn(u64) -> u64, x: u64| match pool.submit(f, x) {
        Ok(future) => {
            futures.push(future);
            Ok(())
        }
        // Once the pool is broken, submits are refused: an answer too.
        Err(SubmitError::BrokenPool { value, .. }) if value == x => {
            refused += 1;
            Ok(())
        }
        Err(e) => Err(format!("submit {x}: {e:?}")),
    };
    for x in 0..200u64 {
        submit(square, x)?;
        if x == 100 {
            submit(|_: u64| -> u64 { std::process::abort() }, 0)?;
        }
    }
    let (mut ok, mut broken) = (0, 0);
    for f in futures {
        match get(f)? {
            Ok(_) => ok += 1,
            Err(TaskError::BrokenPool { .. }) => broken += 1,
            Err(other) => return Err(format!("unexpected {other:?}")),
        }
    }
    ensure!(
        ok + broken + refused == 201,
        "{ok} + {broken} + {refused} answers for 201 tasks"
    );
    ensure!(broken >= 1, "no task saw the breakage");
    Ok(())
}

fn max_tasks_per_child() -> Result<(), String> {
    let pool = ProcessPoolExecutor::builder()
        .max_workers(1)
        .max_tasks_per_child(3)
        .build()
        .map_err(s)?;
    let futures: Vec<_> = (0..9)
        .map(|_| pool.submit(my_pid, ()))
        .collect::<Result<_, _>>()
        .map_err(s)?;
    let pids: Vec<u32> = futures
        .into_iter()
        .map(|f| get(f).and_then(|r| r.map_err(s)))
        .collect::<Result<_, _>>()?;
    let mut distinct = pids.clone();
    distinct.dedup();
    ensure!(distinct.len() == 3, "pids {pids:?}");
    for chunk in pids.chunks(3) {
        ensure!(chunk.iter().all(|p| *p == chunk[0]), "pids {pids:?}");
    }
    // And the results stay right with more workers, chunks and retirements interleaved.
    let pool = ProcessPoolExecutor::builder()
        .max_workers(2)
        .max_tasks_per_child(5)
        .build()
        .map_err(s)?;
    let got: Vec<u64> = pool
        .map(square, 0..300)
        .chunksize(3)
        .collect::<Result<_, _>>()
        .map_err(s)?;
    ensure!(
        got == (0..300).map(|x| x * x).collect::<Vec<_>>(),
        "map with retirements"
    );
    ensure!(pool.broken().is_none(), "retirements broke the pool");
    Ok(())
}

fn max_tasks_early_shutdown() -> Result<(), String> {
    let pool = ProcessPoolExecutor::builder()
        .max_workers(3)
        .max_tasks_per_child(1)
        .build()
        .map_err(s)?;
    let futures: Vec<_> = (0..6u64)
        .map(|x| pool.submit(square, x))
        .collect::<Result<_, _>>()
        .map_err(s)?;
    pool.shutdown(true, false);
    for (x, f) in futures.into_iter().enumerate() {
        let x = x as u64;
        ensure!(get(f)? == Ok(x * x), "task {x}");
    }
    Ok(())
}

/// Tells the test it runs (its pid), then waits for a word and returns it, leaving its end of
/// the connection open until the worker exits: the test sees that end close once the worker
/// has exited.
fn gated_until_exit(conn: Connection<String>) -> String {
    let _ = conn.send(&std::process::id().to_string());
    let word = conn.recv().unwrap_or_default();
    // Closed by the worker's exit, not here.
    std::mem::forget(conn);
    word
}

/// A shut-down pool whose queue holds only cancelled calls when a worker retires starts no
/// replacement. The reader decided whether to replace the worker before the cancelled calls
/// left the queue, so it started one, which `close_idle` then closed at once: a process started
/// for nothing. Here the reader is held in a done callback while the retiring worker answers its
/// last call and exits, so that it hears the reply and the end in one round, the cancelled call
/// still queued; each worker that starts says so (`say_started`).
fn no_replacement_for_only_cancelled_calls() -> Result<(), String> {
    let started = Started::bind("retire")?;
    let pool = ProcessPoolExecutor::builder()
        .max_workers(1)
        .max_tasks_per_child(2)
        .name_prefix(started.prefix.as_str())
        .initializer(say_started)
        .build()
        .map_err(s)?;
    let (first, gate_first, _) = occupy(&pool)?;
    // The worker's second and last call.
    let (ours, theirs) = Pipe::<String>::new().map_err(s)?;
    let last = pool.submit(gated_until_exit, theirs).map_err(s)?;
    // Queued: the worker takes no more calls.
    let queued = pool.submit(square, 2).map_err(s)?;
    let (held_tx, held) = mpsc::channel();
    let (release, released) = mpsc::channel::<()>();
    first.add_done_callback(move |_| {
        let _ = held_tx.send(());
        let _ = released.recv_timeout(LIMIT);
    });
    gate_first.send(&"first".to_string()).map_err(s)?;
    held.recv_timeout(LIMIT)
        .map_err(|e| format!("the reader ran no callback: {e}"))?;
    let pid: u32 = ours.recv_timeout(LIMIT).map_err(s)?.parse().map_err(s)?;
    ensure!(queued.cancel(), "the queued call could not be cancelled");
    pool.shutdown(false, false);
    ours.send(&"last".to_string()).map_err(s)?;
    match ours.recv_timeout(LIMIT) {
        Err(ConnectionError::Closed) => {}
        other => return Err(format!("{other:?} where the worker's exit was due")),
    }
    wait_exited(pid)?;
    release.send(()).map_err(s)?;
    ensure!(get(first)? == Ok("first".to_string()), "the first call");
    ensure!(get(last)? == Ok("last".to_string()), "the last call");
    ensure!(
        get(queued)? == Err(TaskError::Cancelled),
        "the cancelled call"
    );
    pool.shutdown(true, false);
    ensure!(pool.broken().is_none(), "{:?}", pool.broken());
    let names = started.heard()?;
    ensure!(
        names == [format!("{}-0", started.prefix)],
        "workers started: {names:?}"
    );
    Ok(())
}

/// A task sees its worker's name, `<prefix>-<n>` (`name_prefix`'s docs): a replacement worker
/// takes the next number; without a prefix or with an empty one, `ProcessPoolExecutor-<pool>-<n>`.
fn worker_names() -> Result<(), String> {
    let named = ProcessPoolExecutor::builder()
        .max_workers(1)
        .max_tasks_per_child(1)
        .name_prefix("crunch")
        .build()
        .map_err(s)?;
    for want in ["crunch-0", "crunch-1"] {
        let got = get(named.submit(my_name, ()).map_err(s)?)?.map_err(s)?;
        ensure!(got == want, "{got}, not {want}");
    }
    let got = get(pool(1)?.submit(my_name, ()).map_err(s)?)?.map_err(s)?;
    ensure!(
        got.starts_with("ProcessPoolExecutor-") && got.ends_with("-0"),
        "{got}"
    );
    // An empty prefix gives the default too, as the thread pool's does (not `-0`).
    let empty = ProcessPoolExecutor::builder()
        .max_workers(1)
        .name_prefix("")
        .build()
        .map_err(s)?;
    let got = get(empty.submit(my_name, ()).map_err(s)?)?.map_err(s)?;
    ensure!(
        got.starts_with("ProcessPoolExecutor-") && got.ends_with("-0"),
        "{got}"
    );
    Ok(())
}

fn build_errors() -> Result<(), String> {
    let zero = ProcessPoolExecutor::builder().max_workers(0).build();
    ensure!(matches!(zero, Err(BuildError::ZeroWorkers)), "{zero:?}");
    let zero = ProcessPoolExecutor::builder()
        .max_tasks_per_child(0)
        .build();
    ensure!(
        matches!(zero, Err(BuildError::ZeroMaxTasksPerChild)),
        "{zero:?}"
    );
    let nul = ProcessPoolExecutor::builder()
        .name_prefix("cr\0unch")
        .build();
    ensure!(matches!(nul, Err(BuildError::NulInNamePrefix)), "{nul:?}");
    let default = ProcessPoolExecutor::new();
    ensure!(default.max_workers() >= 1, "default workers");
    ensure!(
        default.worker_pids().is_empty(),
        "workers before any submit"
    );
    Ok(())
}

fn run_after_shutdown() -> Result<(), String> {
    let pool = pool(1)?;
    pool.shutdown(true, false);
    match pool.submit(square, 9) {
        Err(SubmitError::ShutDown(9)) => {}
        other => return Err(format!("{other:?}")),
    }
    let refused: Vec<Result<u64, TaskError>> = pool.map(square, 0..3).collect();
    ensure!(
        refused == [Err(TaskError::Cancelled)],
        "map after shutdown: {refused:?}"
    );
    Ok(())
}

fn cancel_futures() -> Result<(), String> {
    let pool = pool(1)?;
    let (running, gate, _) = occupy(&pool)?;
    let queued: Vec<_> = (0..20)
        .map(|x| pool.submit(square, x))
        .collect::<Result<_, _>>()
        .map_err(s)?;
    pool.shutdown(false, true);
    gate.send(&"go".to_string()).map_err(s)?;
    ensure!(get(running)? == Ok("go".to_string()), "the running task");
    let (mut done, mut cancelled) = (0, 0);
    for (x, f) in queued.into_iter().enumerate() {
        match get(f)? {
            Ok(v) if v == (x * x) as u64 => done += 1,
            Err(TaskError::Cancelled) => cancelled += 1,
            other => return Err(format!("queued task {x}: {other:?}")),
        }
    }
    // On a fresh pool (no service times measured yet) at most one call waits in the worker's
    // socket behind the running one; a warm pool sends up to 64 ahead (see the type's docs).
    ensure!(cancelled >= 19, "{cancelled} cancelled, {done} done");
    ensure!(pool.submit(square, 1).is_err(), "submit after shutdown");
    Ok(())
}

/// A call over the byte budget waits at the head of the queue for an idle, ready worker, and
/// the calls behind it wait with it (submission order). Cancelled there, it used to stay until
/// a worker was idle, holding them back; it now leaves the queue at the next dispatch (here
/// the next submit), as Python's pool skips a cancelled work item when it fills its call
/// queue. A sent call counts as running, so `running()` says which calls were sent.
fn cancelled_big_call_at_the_head() -> Result<(), String> {
    let pool = pool(1)?;
    // The worker has one call in flight, so it is not idle: the big call cannot go.
    let (running, gate, _) = occupy(&pool)?;
    let big = pool.submit(text_len, "e".repeat(1 << 20)).map_err(s)?;
    let behind = pool.submit(square, 3).map_err(s)?;
    ensure!(
        !big.running() && !behind.running(),
        "sent before the worker was idle"
    );
    ensure!(big.cancel(), "the queued big call could not be cancelled");
    // The next dispatch meets the cancelled call first: it leaves, and the call behind it
    // goes to the worker, which has room for a small one.
    let last = pool.submit(square, 4).map_err(s)?;
    ensure!(
        behind.running(),
        "the call behind a cancelled one was not sent at the next dispatch"
    );
    gate.send(&"go".to_string()).map_err(s)?;
    ensure!(get(running)? == Ok("go".to_string()), "the running task");
    ensure!(get(behind)? == Ok(9), "the call behind");
    ensure!(get(last)? == Ok(16), "the last call");
    ensure!(get(big)? == Err(TaskError::Cancelled), "the cancelled call");
    ensure!(pool.broken().is_none(), "the pool broke");
    Ok(())
}

fn shutdown_no_wait() -> Result<(), String> {
    let pool = pool(2)?;
    let futures: Vec<_> = (0..50u64)
        .map(|x| pool.submit(square, x))
        .collect::<Result<_, _>>()
        .map_err(s)?;
    let pids = pool.worker_pids();
    pool.shutdown(false, false);
    for (x, f) in futures.into_iter().enumerate() {
        let x = x as u64;
        ensure!(get(f)? == Ok(x * x), "task {x}");
    }
    drop(pool);
    for pid in pids {
        ensure!(reaped(pid), "worker {pid} not reaped");
    }
    Ok(())
}

/// Two threads in `shutdown(wait)` at once: neither returns while a task still runs (only one
/// of them can join the pool's reader thread; the other waits for that join).
fn concurrent_shutdowns_with_wait() -> Result<(), String> {
    let pool = Arc::new(pool(1)?);
    let (f, gate, _) = occupy(&pool)?;
    let waiters: Vec<_> = (0..2)
        .map(|_| {
            let (pool, (tx, rx)) = (Arc::clone(&pool), mpsc::channel());
            std::thread::spawn(move || {
                pool.shutdown(true, false);
                let _ = tx.send(());
            });
            rx
        })
        .collect();
    for rx in &waiters {
        ensure!(
            rx.recv_timeout(Duration::from_millis(100)).is_err(),
            "a shutdown(wait) returned while the task still ran"
        );
    }
    gate.send(&"go".to_owned()).map_err(s)?;
    for rx in &waiters {
        rx.recv_timeout(LIMIT).map_err(s)?;
    }
    ensure!(get(f)? == Ok("go".to_owned()), "the task's answer");
    Ok(())
}

fn drop_waits_and_reaps() -> Result<(), String> {
    let pool = pool(2)?;
    let futures: Vec<_> = (0..20u64)
        .map(|x| pool.submit(square, x))
        .collect::<Result<_, _>>()
        .map_err(s)?;
    let pids = pool.worker_pids();
    drop(pool);
    for pid in &pids {
        ensure!(reaped(*pid), "worker {pid} not reaped after drop");
    }
    for (x, f) in futures.into_iter().enumerate() {
        ensure!(f.done(), "task {x} not done after drop");
        let x = x as u64;
        ensure!(get(f)? == Ok(x * x), "task {x}");
    }
    Ok(())
}

fn forced(kill: bool) -> Result<(), String> {
    let pool = pool(1)?;
    let (running, _gate, pid) = occupy(&pool)?;
    let queued: Vec<_> = (0..5)
        .map(|x| pool.submit(square, x))
        .collect::<Result<_, _>>()
        .map_err(s)?;
    if kill {
        pool.kill_workers();
    } else {
        pool.terminate_workers();
    }
    match get(running)? {
        Err(TaskError::BrokenPool { reason }) => ensure!(
            reason.contains(if kill {
                "kill_workers"
            } else {
                "terminate_workers"
            }),
            "reason {reason:?}"
        ),
        other => return Err(format!("the running task: {other:?}")),
    }
    for f in queued {
        match get(f)? {
            Err(TaskError::Cancelled | TaskError::BrokenPool { .. }) => {}
            other => return Err(format!("a queued task: {other:?}")),
        }
    }
    ensure!(pool.submit(square, 1).is_err(), "submit after terminate");
    wait_exited(pid)?;
    drop(pool);
    ensure!(reaped(pid), "worker {pid} not reaped");
    Ok(())
}

fn terminate_workers() -> Result<(), String> {
    forced(false)
}

fn kill_workers() -> Result<(), String> {
    forced(true)
}

fn submitters_racing_shutdown() -> Result<(), String> {
    let pool = Arc::new(pool(2)?);
    let (tx, rx) = mpsc::channel();
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let pool = Arc::clone(&pool);
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut accepted = Vec::new();
                let mut refused = 0u64;
                for i in 0..2000u64 {
                    let x = t * 10_000 + i;
                    match pool.submit(square, x) {
                        Ok(f) => accepted.push((x, f)),
                        Err(e) => {
                            assert_eq!(e.into_inner(), x, "the refused argument came back wrong");
                            refused += 1;
                        }
                    }
                    if i == 300 && t == 0 {
                        let _ = tx.send(());
                    }
                }
                (accepted, refused)
            })
        })
        .collect();
    rx.recv_timeout(LIMIT).map_err(s)?;
    pool.shutdown(false, true);
    let (mut done, mut cancelled, mut refused) = (0u64, 0u64, 0u64);
    for t in threads {
        let (accepted, r) = t.join().map_err(|_| "a submitter panicked".to_string())?;
        refused += r;
        for (x, f) in accepted {
            match get(f)? {
                Ok(v) if v == x * x => done += 1,
                Err(TaskError::Cancelled) => cancelled += 1,
                other => return Err(format!("task {x}: {other:?}")),
            }
        }
    }
    ensure!(
        done + cancelled + refused == 8000,
        "{done} done + {cancelled} cancelled + {refused} refused of 8000"
    );
    ensure!(done > 0, "nothing ran");
    Ok(())
}
