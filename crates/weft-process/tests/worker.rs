//! `Worker`, the reusable pool worker, on real processes: many calls on one worker, chunks, a
//! panic in a call (and in a chunk) then more calls, a panic message over the frame limit (cut),
//! arguments and results that fail to decode or encode, the initializer (run once; its panic
//! reported, an oversized message cut; not ready until it returns), `max_tasks` retirement,
//! SIGKILL and SIGTERM mid-call seen as the end of the channel, a clean stop, waiting on many
//! workers, the lent descriptor refusing writes, a connection in a call taking what it read
//! ahead, and a call whose argument's `Serialize` panics (refused, the connection in it kept).
//!
//! This file has its own `main` (`harness = false`): the test binary is also the child program
//! (`weft_process::main` dispatches children to their functions). It prints cargo-test-style lines
//! so `cargo xtask test` counts its cases.

use std::num::NonZeroU64;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use weft_process::{
    Call, CallError, Connection, ConnectionError, Pipe, ProcessError, StartMethod, Worker,
    WorkerBuilder, WorkerEvent,
};

#[path = "mp/deep.rs"]
mod deep;
#[path = "mp/runner.rs"]
mod runner;
use runner::{ensure, Case};

/// The most any wait in these tests may take before the case fails instead of hanging.
const LIMIT: Duration = Duration::from_secs(60);

const CASES: &[(&str, Case)] = &[
    ("spawn_runs_every_case", spawn_runs_every_case),
    (
        "start_method_decides_the_parent",
        start_method_decides_the_parent,
    ),
    ("many_calls_on_one_worker", many_calls_on_one_worker),
    (
        "terminate_while_another_thread_joins",
        terminate_while_another_thread_joins,
    ),
    ("calls_pipelined_then_replies_in_order", pipelined_in_order),
    ("chunk_of_calls", chunk_of_calls),
    ("panic_in_a_call_then_more_calls", panic_then_more_calls),
    ("panic_in_a_chunk_fails_the_chunk", panic_in_a_chunk),
    (
        "a_panic_message_over_the_frame_limit_is_cut",
        huge_panic_message_is_cut,
    ),
    (
        "argument_that_fails_to_decode_then_more_calls",
        argument_fails_to_decode,
    ),
    (
        "result_that_fails_to_encode_then_more_calls",
        result_fails_to_encode,
    ),
    ("deep_result_then_more_calls", deep_result_then_more_calls),
    (
        "result_of_another_type_is_a_decode_error",
        result_decode_error,
    ),
    ("initializer_runs_once_before_calls", initializer_runs_once),
    (
        "initializer_panic_is_reported",
        initializer_panic_is_reported,
    ),
    (
        "an_initializer_panic_message_over_the_frame_limit_is_cut",
        huge_initializer_panic_is_cut,
    ),
    (
        "ready_once_the_initializer_returns",
        ready_once_the_initializer_returns,
    ),
    ("max_tasks_retires_the_worker", max_tasks_retires),
    ("sigkill_mid_call_is_the_end", sigkill_mid_call),
    ("terminate_mid_call_is_the_end", terminate_mid_call),
    ("close_then_join_is_a_clean_stop", close_then_join),
    ("wait_any_over_many_workers", wait_any_over_many_workers),
    ("wait_any_with_no_workers", wait_any_with_no_workers),
    ("try_recv_never_waits", try_recv_never_waits),
    (
        "lent_descriptor_cannot_write_calls",
        lent_descriptor_cannot_write,
    ),
    ("dropped_worker_ends", dropped_worker_ends),
    (
        "connection_in_a_call_takes_what_it_read_ahead",
        connection_in_a_call_takes_what_it_read_ahead,
    ),
    (
        "call_whose_argument_serialize_panics_is_refused",
        call_whose_argument_serialize_panics,
    ),
    (
        "end_seen_while_a_grandchild_holds_the_socket",
        end_seen_while_a_grandchild_holds_the_socket,
    ),
    (
        "send_to_an_exited_worker_whose_grandchild_holds_the_socket",
        send_to_an_exited_worker_whose_grandchild_holds_the_socket,
    ),
    ("workers_know_their_names", workers_know_their_names),
    (
        "a_workers_processes_are_named_below_it",
        a_workers_processes_are_named_below_it,
    ),
];

fn main() {
    runner::apply_start_method();
    weft_process::main(run_cases);
}

/// Every case again with the workers spawned (`StartMethod::Spawn`) instead of forked by the
/// fork server (the default).
fn spawn_runs_every_case() -> Result<(), String> {
    runner::rerun_with_spawn(CASES.len())
}

fn run_cases() {
    runner::run(CASES, LIMIT);
}

fn s<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// The next event, failing the case instead of waiting past `LIMIT`.
fn next(worker: &Worker) -> Result<WorkerEvent, String> {
    worker.recv_timeout(LIMIT).map_err(|e| format!("recv: {e}"))
}

/// The next event, which must be the reply to `id`.
fn reply<R: serde::de::DeserializeOwned>(
    worker: &Worker,
    id: u64,
) -> Result<Result<R, CallError>, String> {
    match next(worker)? {
        WorkerEvent::Reply(reply) => {
            ensure!(reply.id() == id, "reply {} where {id} was due", reply.id());
            Ok(reply.into_result())
        }
        other => Err(format!("{other:?} where the reply to {id} was due")),
    }
}

/// The worker's end: the channel closes and the worker exits with `code`.
fn ends_with(worker: &Worker, code: i32) -> Result<(), String> {
    match worker.recv_timeout(LIMIT) {
        Err(ConnectionError::Closed) => {}
        other => return Err(format!("{other:?} where the end was due")),
    }
    match worker.join_timeout(LIMIT) {
        Some(got) if got == code => Ok(()),
        got => Err(format!("exit code {got:?}, {code} expected")),
    }
}

fn double(x: u64) -> u64 {
    x * 2
}

fn pid_of(_: ()) -> u32 {
    std::process::id()
}

fn parent_of(_: ()) -> u32 {
    rustix::process::getppid().map_or(0, |p| p.as_raw_nonzero().get() as u32)
}

/// A spawned worker's parent is this process; a forked one's is the fork server.
fn start_method_decides_the_parent() -> Result<(), String> {
    let parent = |method| -> Result<u32, String> {
        let worker = Worker::builder().start_method(method).start().map_err(s)?;
        worker
            .send(1, Call::new(parent_of, &()).map_err(s)?)
            .map_err(s)?;
        let got = reply(&worker, 1)?.map_err(s)?;
        worker.close();
        ensure!(worker.join() == 0, "the worker did not exit cleanly");
        Ok(got)
    };
    let me = std::process::id();
    ensure!(
        parent(StartMethod::Spawn)? == me,
        "a spawned worker's parent"
    );
    let server = parent(StartMethod::ForkServer)?;
    ensure!(
        server != me && server != 0,
        "a forked worker's parent: {server}"
    );
    Ok(())
}

fn park_forever(_: ()) -> u64 {
    loop {
        std::thread::park();
    }
}

/// While one thread waits in `join`, others can still ask `is_alive` and `terminate` the worker
/// (Python's join in one thread, terminate from another): a join no longer holds the worker's
/// state for the whole wait.
fn terminate_while_another_thread_joins() -> Result<(), String> {
    let worker = Worker::start().map_err(s)?;
    worker
        .send(1, Call::new(park_forever, &()).map_err(s)?)
        .map_err(s)?;
    let pid = worker.pid();
    let w = &worker;
    std::thread::scope(|scope| {
        let joiner = scope.spawn(move || w.join());
        let (tx, rx) = std::sync::mpsc::channel();
        scope.spawn(move || {
            // Asks for 200 ms while the other thread joins: every answer comes at once.
            let start = Instant::now();
            let mut alive = true;
            while start.elapsed() < Duration::from_millis(200) {
                alive &= w.is_alive();
            }
            let _ = tx.send((alive, w.terminate().is_ok()));
        });
        let probed = rx.recv_timeout(LIMIT);
        if probed.is_err() {
            // Blocked behind the joiner: end the worker so that the scope can end.
            if let Some(pid) = rustix::process::Pid::from_raw(pid as i32) {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            }
        }
        let code = joiner.join().map_err(|_| "the joiner panicked")?;
        let (alive, terminated) =
            probed.map_err(|_| "is_alive or terminate blocked while another thread joined")?;
        ensure!(
            alive && terminated,
            "alive {alive}, terminated {terminated}"
        );
        ensure!(code == -15, "exit code {code}, -15 (SIGTERM) expected");
        Ok(())
    })
}

fn many_calls_on_one_worker() -> Result<(), String> {
    let worker = Worker::start().map_err(s)?;
    ensure!(
        worker.pid() != std::process::id(),
        "the worker is this process"
    );
    for i in 0..1000u64 {
        worker
            .send(i, Call::new(double, &i).map_err(s)?)
            .map_err(s)?;
        let got: u64 = reply(&worker, i)?.map_err(s)?;
        ensure!(got == 2 * i, "call {i} gave {got}");
    }
    let pid: u32 = {
        worker
            .send(7, Call::new(pid_of, &()).map_err(s)?)
            .map_err(s)?;
        reply(&worker, 7)?.map_err(s)?
    };
    ensure!(
        pid == worker.pid(),
        "calls ran in {pid}, not the worker {}",
        worker.pid()
    );
    ensure!(worker.sent() == 1001, "sent {}", worker.sent());
    ensure!(worker.in_flight() == 0, "in flight {}", worker.in_flight());
    worker.close();
    ends_with(&worker, 0)
}

fn pipelined_in_order() -> Result<(), String> {
    let worker = Worker::start().map_err(s)?;
    for i in 0..200u64 {
        worker
            .send(1000 + i, Call::new(double, &i).map_err(s)?)
            .map_err(s)?;
    }
    ensure!(
        worker.in_flight() == 200,
        "in flight {}",
        worker.in_flight()
    );
    for i in 0..200u64 {
        let got: u64 = reply(&worker, 1000 + i)?.map_err(s)?;
        ensure!(got == 2 * i, "call {i} gave {got}");
    }
    worker.close();
    ends_with(&worker, 0)
}

fn chunk_of_calls() -> Result<(), String> {
    let worker = Worker::start().map_err(s)?;
    let args: Vec<u64> = (0..1000).collect();
    worker
        .send(1, Call::chunk(double, &args).map_err(s)?)
        .map_err(s)?;
    let got: Vec<u64> = reply(&worker, 1)?.map_err(s)?;
    ensure!(
        got == args.iter().map(|x| x * 2).collect::<Vec<_>>(),
        "chunk gave {} results",
        got.len()
    );
    worker
        .send(2, Call::chunk(double, &[]).map_err(s)?)
        .map_err(s)?;
    let empty: Vec<u64> = reply(&worker, 2)?.map_err(s)?;
    ensure!(empty.is_empty(), "empty chunk gave {empty:?}");
    worker.close();
    ends_with(&worker, 0)
}

fn fail_on_odd(x: u64) -> u64 {
    if x % 2 == 1 {
        panic!("odd argument {x}");
    }
    x
}

fn panic_then_more_calls() -> Result<(), String> {
    let worker = Worker::start().map_err(s)?;
    for round in 0..3u64 {
        let odd = 2 * round + 1;
        worker
            .send(odd, Call::new(fail_on_odd, &odd).map_err(s)?)
            .map_err(s)?;
        match reply::<u64>(&worker, odd)? {
            Err(CallError::Panicked { message, location }) => {
                ensure!(
                    message == format!("odd argument {odd}"),
                    "message {message:?}"
                );
                ensure!(
                    location
                        .as_deref()
                        .is_some_and(|at| at.starts_with("crates/weft-process/tests/worker.rs:")),
                    "location {location:?}"
                );
            }
            other => return Err(format!("panicking call gave {other:?}")),
        }
        worker
            .send(odd + 1, Call::new(fail_on_odd, &(odd + 1)).map_err(s)?)
            .map_err(s)?;
        let got: u64 = reply(&worker, odd + 1)?.map_err(s)?;
        ensure!(got == odd + 1, "the call after the panic gave {got}");
    }
    worker.close();
    ends_with(&worker, 0)
}

/// The bytes of `huge_panic`'s message: over the 64 MiB frame limit.
const HUGE: usize = 65 << 20;

/// Panics with a message over the frame limit (through `resume_unwind`, which the panic hook
/// does not print).
fn huge_panic(_: ()) -> u8 {
    std::panic::resume_unwind(Box::new("p".repeat(HUGE)))
}

/// A panic whose message is over the frame limit is still reported as a panic, its message cut
/// with a note of how much was cut; the worker goes on. It used to fail the call as a result
/// that could not be encoded ("a result of 68157477 bytes ... is over the ... frame limit").
fn huge_panic_message_is_cut() -> Result<(), String> {
    let worker = Worker::start().map_err(s)?;
    worker
        .send(1, Call::new(huge_panic, &()).map_err(s)?)
        .map_err(s)?;
    match reply::<u8>(&worker, 1)? {
        Err(CallError::Panicked { message, .. }) => {
            // The message's start is kept, then the note (a check byte by byte is seconds in a
            // debug build).
            let Some(kept) = message.rfind("... (") else {
                return Err(format!("no note after {} bytes", message.len()));
            };
            ensure!(
                kept > 60 << 20 && kept < HUGE && message.starts_with("ppp"),
                "{kept} bytes of the message kept"
            );
            let note = &message[kept..];
            ensure!(
                message[..kept].ends_with("ppp")
                    && note == format!("... ({} more bytes cut)", HUGE - kept),
                "note {note:?}"
            );
        }
        Err(other) => return Err(format!("a huge panic gave {other:?}")),
        Ok(v) => return Err(format!("a huge panic gave {v}")),
    }
    worker
        .send(2, Call::new(double, &4).map_err(s)?)
        .map_err(s)?;
    let got: u64 = reply(&worker, 2)?.map_err(s)?;
    ensure!(got == 8, "the call after gave {got}");
    worker.close();
    ends_with(&worker, 0)
}

fn panic_in_a_chunk() -> Result<(), String> {
    let worker = Worker::start().map_err(s)?;
    worker
        .send(1, Call::chunk(fail_on_odd, &[0, 2, 3, 4]).map_err(s)?)
        .map_err(s)?;
    match reply::<Vec<u64>>(&worker, 1)? {
        Err(CallError::Panicked { message, location }) => {
            ensure!(message == "odd argument 3", "message {message:?}");
            ensure!(location.is_some(), "no location");
        }
        other => return Err(format!("chunk with a panic gave {other:?}")),
    }
    worker
        .send(2, Call::chunk(fail_on_odd, &[0, 2]).map_err(s)?)
        .map_err(s)?;
    let got: Vec<u64> = reply(&worker, 2)?.map_err(s)?;
    ensure!(got == [0, 2], "chunk after the panic gave {got:?}");
    worker.close();
    ends_with(&worker, 0)
}

/// Serializes fine; refuses to deserialize (in the worker).
#[derive(Debug)]
struct Undecodable;

impl Serialize for Undecodable {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u8(0)
    }
}

impl<'de> Deserialize<'de> for Undecodable {
    fn deserialize<D: Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Err(serde::de::Error::custom("Undecodable refuses"))
    }
}

/// Deserializes fine; refuses to serialize (as a result, in the worker).
#[derive(Debug)]
struct Unencodable;

impl Serialize for Unencodable {
    fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("Unencodable refuses"))
    }
}

impl<'de> Deserialize<'de> for Unencodable {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        u8::deserialize(d).map(|_| Unencodable)
    }
}

fn take_undecodable(_: Undecodable) -> u64 {
    1
}

fn make_unencodable(_: ()) -> Unencodable {
    Unencodable
}

fn argument_fails_to_decode() -> Result<(), String> {
    let worker = Worker::start().map_err(s)?;
    worker
        .send(1, Call::new(take_undecodable, &Undecodable).map_err(s)?)
        .map_err(s)?;
    match reply::<u64>(&worker, 1)? {
        Err(CallError::ArgumentDecode(why)) => {
            ensure!(
                why.contains("did not decode") && why.contains("Undecodable refuses"),
                "why {why:?}"
            )
        }
        other => return Err(format!("undecodable argument gave {other:?}")),
    }
    worker
        .send(2, Call::new(double, &4).map_err(s)?)
        .map_err(s)?;
    let got: u64 = reply(&worker, 2)?.map_err(s)?;
    ensure!(got == 8, "the next call gave {got}");
    worker.close();
    ends_with(&worker, 0)
}

/// 40 connections: more than the 32 descriptors a message carries.
fn forty_connections(_: ()) -> Vec<weft_process::Connection<u8>> {
    (0..40)
        .map(|_| weft_process::Pipe::<u8>::new().unwrap().0)
        .collect()
}

/// A call whose result is nested [`deep::DEEP_RESULT`] deep: the worker encodes it (postcard alone
/// overflowed the worker's stack, killing it and so the pool it served; Python's pool loses only
/// that task, whose worker dies of a `RecursionError` in pickle and again in the `repr` that
/// `MaybeEncodingError` takes), and the worker serves the next call.
fn deep_result_then_more_calls() -> Result<(), String> {
    let worker = Worker::start().map_err(s)?;
    let call = Call::new(deep::list_of, &deep::DEEP_RESULT).map_err(s)?;
    worker.send(1, call).map_err(s)?;
    let list: deep::List = reply(&worker, 1)?.map_err(s)?;
    ensure!(
        deep::links(&list) == Some(deep::DEEP_RESULT),
        "the result is not the list"
    );
    worker
        .send(2, Call::new(double, &5).map_err(s)?)
        .map_err(s)?;
    let got: u64 = reply(&worker, 2)?.map_err(s)?;
    ensure!(got == 10, "the next call gave {got}");
    Ok(())
}

fn result_fails_to_encode() -> Result<(), String> {
    let worker = Worker::start().map_err(s)?;
    worker
        .send(1, Call::new(make_unencodable, &()).map_err(s)?)
        .map_err(s)?;
    match reply::<Unencodable>(&worker, 1)? {
        Err(CallError::ResultEncode(why)) => ensure!(
            why.contains("could not be encoded") && why.contains("Unencodable refuses"),
            "why {why:?}"
        ),
        other => return Err(format!("unencodable result gave {other:?}")),
    }
    worker
        .send(2, Call::new(double, &5).map_err(s)?)
        .map_err(s)?;
    let got: u64 = reply(&worker, 2)?.map_err(s)?;
    ensure!(got == 10, "the next call gave {got}");
    // A result carrying more descriptors than a message can: that call fails, the worker
    // goes on (it used to read the refused send as its parent gone, and exit).
    worker
        .send(3, Call::new(forty_connections, &()).map_err(s)?)
        .map_err(s)?;
    match reply::<Vec<weft_process::Connection<u8>>>(&worker, 3)? {
        Err(CallError::ResultEncode(why)) => ensure!(why.contains("40"), "why {why:?}"),
        other => return Err(format!("a result with 40 connections gave {other:?}")),
    }
    worker
        .send(4, Call::new(double, &6).map_err(s)?)
        .map_err(s)?;
    let got: u64 = reply(&worker, 4)?.map_err(s)?;
    ensure!(got == 12, "the call after gave {got}");
    // Encoding is refused in the parent too, before anything is sent.
    let refused = Call::new(|_: Unencodable| 0u8, &Unencodable);
    ensure!(
        matches!(refused, Err(weft_process::ProcessError::Encode(_))),
        "{refused:?}"
    );
    worker.close();
    ends_with(&worker, 0)
}

fn result_decode_error() -> Result<(), String> {
    let worker = Worker::start().map_err(s)?;
    worker
        .send(1, Call::new(double, &21).map_err(s)?)
        .map_err(s)?;
    match reply::<String>(&worker, 1)? {
        Err(CallError::ResultDecode(_)) => {}
        other => return Err(format!("u64 read as a String gave {other:?}")),
    }
    worker.close();
    ends_with(&worker, 0)
}

static INITIALIZED: AtomicU64 = AtomicU64::new(0);

fn count_init() {
    INITIALIZED.fetch_add(1, Ordering::SeqCst);
}

fn initialized(_: ()) -> u64 {
    INITIALIZED.load(Ordering::SeqCst)
}

fn initializer_runs_once() -> Result<(), String> {
    let worker = WorkerBuilder::new()
        .initializer(count_init)
        .start()
        .map_err(s)?;
    for id in 0..3 {
        worker
            .send(id, Call::new(initialized, &()).map_err(s)?)
            .map_err(s)?;
        let got: u64 = reply(&worker, id)?.map_err(s)?;
        ensure!(got == 1, "the initializer ran {got} times by call {id}");
    }
    ensure!(
        INITIALIZED.load(Ordering::SeqCst) == 0,
        "the initializer ran in the parent"
    );
    worker.close();
    ends_with(&worker, 0)
}

fn broken_init() {
    panic!("cannot initialize");
}

fn initializer_panic_is_reported() -> Result<(), String> {
    let worker = WorkerBuilder::new()
        .initializer(broken_init)
        .start()
        .map_err(s)?;
    // A call sent meanwhile is never run: the worker reports the failure and exits.
    let _ = worker.send(1, Call::new(double, &1).map_err(s)?);
    match next(&worker)? {
        WorkerEvent::InitializerFailed { message } => {
            ensure!(message == "cannot initialize", "message {message:?}")
        }
        other => return Err(format!("{other:?} instead of the initializer's failure")),
    }
    ends_with(&worker, 1)
}

/// An initializer that panics with a message over the frame limit (see `huge_panic`).
fn huge_init() {
    std::panic::resume_unwind(Box::new("i".repeat(HUGE)))
}

/// An initializer's panic whose message is over the frame limit is still reported, its message
/// cut with a note of how much was cut. The failure's report used to be over the limit: its
/// send failed, and the parent saw only the channel's end.
fn huge_initializer_panic_is_cut() -> Result<(), String> {
    let worker = WorkerBuilder::new()
        .initializer(huge_init)
        .start()
        .map_err(s)?;
    match next(&worker)? {
        WorkerEvent::InitializerFailed { message } => {
            let Some(kept) = message.rfind("... (") else {
                return Err(format!("no note after {} bytes", message.len()));
            };
            ensure!(
                kept > 60 << 20
                    && message.starts_with("iii")
                    && message[..kept].ends_with("iii")
                    && message[kept..] == format!("... ({} more bytes cut)", HUGE - kept),
                "{kept} bytes kept, then {:?}",
                &message[kept..]
            );
        }
        other => return Err(format!("{other:?} instead of the initializer's failure")),
    }
    ends_with(&worker, 1)
}

/// The gate a `gated-…` worker's initializer waits at: a FIFO named after the worker.
fn gate_path(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("weft-{name}.fifo"))
}

/// Waits until the parent opens the worker's gate for writing and closes it.
fn wait_at_the_gate() {
    let _ = std::fs::read(gate_path(weft_process::current_process_name()));
}

/// A worker is not ready while its initializer runs (calls sent meanwhile wait in its socket),
/// and is once it has returned: its notice comes before the first reply. Only a worker started
/// with `notify_ready` sends one.
fn ready_once_the_initializer_returns() -> Result<(), String> {
    let name = format!("gated-{}", std::process::id());
    let gate = gate_path(&name);
    let _ = std::fs::remove_file(&gate);
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        &gate,
        rustix::fs::Mode::RUSR | rustix::fs::Mode::WUSR,
    )
    .map_err(s)?;
    let worker = WorkerBuilder::new()
        .name(name.as_str())
        .initializer(wait_at_the_gate)
        .notify_ready()
        .start();
    let result = worker.as_ref().map_err(s).and_then(|worker| {
        worker
            .send(1, Call::new(double, &21).map_err(s)?)
            .map_err(s)?;
        ensure!(!worker.is_ready(), "ready before anything was received");
        // Whatever comes meanwhile is taken; neither a reply nor the notice can come.
        match worker.recv_timeout(Duration::from_millis(200)) {
            Err(ConnectionError::Timeout) => {}
            other => return Err(format!("{other:?} while the initializer waits")),
        }
        ensure!(!worker.is_ready(), "ready while the initializer waits");
        // Opening blocks until the initializer opens its end: the gate cannot be passed early.
        std::fs::write(&gate, b"go").map_err(s)?;
        let got: u64 = reply(worker, 1)?.map_err(s)?;
        ensure!(got == 42, "double(21) gave {got}");
        ensure!(worker.is_ready(), "not ready after its first reply");
        worker.close();
        ends_with(worker, 0)
    });
    let result = result.and_then(|()| {
        // Without `notify_ready` no notice is sent.
        let quiet = Worker::start().map_err(s)?;
        quiet
            .send(2, Call::new(double, &2).map_err(s)?)
            .map_err(s)?;
        let got: u64 = reply(&quiet, 2)?.map_err(s)?;
        ensure!(
            got == 4 && !quiet.is_ready(),
            "got {got}, ready {}",
            quiet.is_ready()
        );
        quiet.close();
        ends_with(&quiet, 0)
    });
    if let (Err(_), Ok(worker)) = (&result, &worker) {
        // Still at the gate, perhaps.
        let _ = worker.kill();
        worker.join();
    }
    let _ = std::fs::remove_file(&gate);
    result
}

fn max_tasks_retires() -> Result<(), String> {
    let worker = WorkerBuilder::new()
        .max_tasks(NonZeroU64::new(3).unwrap())
        .start()
        .map_err(s)?;
    ensure!(
        worker.max_tasks() == Some(3),
        "max_tasks {:?}",
        worker.max_tasks()
    );
    worker
        .send(0, Call::new(fail_on_odd, &1).map_err(s)?)
        .map_err(s)?;
    for id in 1..3 {
        worker
            .send(id, Call::new(double, &id).map_err(s)?)
            .map_err(s)?;
    }
    let refused = worker.send(3, Call::new(double, &3).map_err(s)?);
    match refused {
        Err(e) if e.is_retiring() => {
            let call = e.into_inner();
            ensure!(call.len() > 8, "the refused call came back empty");
        }
        other => return Err(format!("a fourth call to a 3-task worker: {other:?}")),
    }
    // A panicking call counts as a task too.
    ensure!(
        matches!(reply::<u64>(&worker, 0)?, Err(CallError::Panicked { .. })),
        "the first call should have panicked"
    );
    for id in 1..3 {
        let got: u64 = reply(&worker, id)?.map_err(s)?;
        ensure!(got == 2 * id, "call {id} gave {got}");
    }
    match next(&worker)? {
        WorkerEvent::Retired => {}
        other => return Err(format!("{other:?} instead of Retired")),
    }
    ends_with(&worker, 0)
}

/// Everything received on `conn` until its other end closes.
fn recv_all(conn: Connection<u32>) -> Vec<u32> {
    conn.iter().map_while(Result::ok).collect()
}

/// A connection that had read ahead (a receive took 1; 2 and 3 came with it) goes to the worker
/// in a call with those messages, and the parent's end keeps none of them.
fn connection_in_a_call_takes_what_it_read_ahead() -> Result<(), String> {
    let worker = Worker::start().map_err(s)?;
    let (a, b) = Pipe::<u32>::new().map_err(s)?;
    for i in 1..=3 {
        b.send(&i).map_err(s)?;
    }
    ensure!(a.recv().map_err(s)? == 1, "first");
    worker
        .send(1, Call::new(recv_all, &a).map_err(s)?)
        .map_err(s)?;
    ensure!(
        !a.poll(Duration::ZERO).map_err(s)?,
        "the parent's end kept what it read ahead"
    );
    drop(a);
    b.send(&4).map_err(s)?;
    drop(b);
    let got: Vec<u32> = reply(&worker, 1)?.map_err(s)?;
    ensure!(got == [2, 3, 4], "the worker received {got:?}");
    Ok(())
}

/// Encodes unless it is 3, where its `Serialize` panics (in the parent, as the call is made).
#[derive(Debug, PartialEq, Deserialize)]
struct PanicsOnThree(u32);

impl Serialize for PanicsOnThree {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        assert!(self.0 != 3, "PanicsOnThree refuses 3");
        s.serialize_u32(self.0)
    }
}

/// Everything received on the connection until its other end closes, and the number.
fn recv_all_and_number(arg: (Connection<u32>, PanicsOnThree)) -> (Vec<u32>, u32) {
    (recv_all(arg.0), arg.1 .0)
}

fn number(x: PanicsOnThree) -> u32 {
    x.0
}

/// A call whose argument's `Serialize` panics as the call is made is refused as one that
/// returns an error is: `ProcessError::Encode` with the panic's message (`Call::new` and
/// `Call::chunk`), and a connection in the argument keeps what it had read ahead, so the next
/// call takes it to the worker, which receives nothing else before it. The panic used to unwind
/// out of `Call::new` (a pool's `submit` caught it; a caller of `Call` did not).
fn call_whose_argument_serialize_panics() -> Result<(), String> {
    let refused = |made: std::thread::Result<Result<Call, ProcessError>>, what: &str| match made {
        Err(p) => Err(format!(
            "{what} panicked: {}",
            weft_sync::panic_message(&*p)
        )),
        // The message names the argument once: "the argument could not be encoded: its
        // Serialize panicked: …", not the codec's "a message could not be encoded" inside it.
        Ok(Err(e @ ProcessError::Encode(_)))
            if e.to_string().contains("PanicsOnThree refuses 3")
                && e.to_string().matches("could not be encoded").count() == 1 =>
        {
            Ok(())
        }
        Ok(Err(e)) => Err(format!("{what}: {e}")),
        Ok(Ok(call)) => Err(format!("{what} made {call:?}")),
    };
    let (a, b) = Pipe::<u32>::new().map_err(s)?;
    for i in 1..=3 {
        b.send(&i).map_err(s)?;
    }
    ensure!(a.recv().map_err(s)? == 1, "first");
    let arg = (a, PanicsOnThree(3));
    refused(
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            Call::new(recv_all_and_number, &arg)
        })),
        "Call::new",
    )?;
    let items = [PanicsOnThree(2), PanicsOnThree(3)];
    refused(
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| Call::chunk(number, &items))),
        "Call::chunk",
    )?;
    let (a, _) = arg;
    ensure!(
        a.poll(Duration::ZERO).map_err(s)?,
        "the end lost what it had read ahead"
    );
    let worker = Worker::start().map_err(s)?;
    let call = Call::new(recv_all_and_number, &(a, PanicsOnThree(4))).map_err(s)?;
    worker.send(1, call).map_err(s)?;
    b.send(&4).map_err(s)?;
    drop(b);
    let got: (Vec<u32>, u32) = reply(&worker, 1)?.map_err(s)?;
    ensure!(got == (vec![2, 3, 4], 4), "the worker received {got:?}");
    worker.close();
    ends_with(&worker, 0)
}

/// A worker that has forked a sleeping copy of itself (without `exec`), which holds the worker's
/// sockets open until the returned guard kills it.
fn worker_with_a_forked_copy() -> Result<(Worker, runner::KillOnDrop), String> {
    let worker = Worker::start().map_err(s)?;
    worker
        .send(1, Call::new(runner::fork_sleeping_copy, &()).map_err(s)?)
        .map_err(s)?;
    let grandchild: u32 = reply(&worker, 1)?.map_err(s)?;
    ensure!(grandchild != 0, "fork failed");
    Ok((worker, runner::KillOnDrop(grandchild)))
}

/// A worker killed while a process it started holds its channel's socket open ends at once:
/// receiving reports `Closed` and `join` its signal (Linux: its pidfd is watched). It used to
/// wait for that process to exit, here for ever (the audit: 25 s for a 25 s sleep).
fn end_seen_while_a_grandchild_holds_the_socket() -> Result<(), String> {
    let (worker, _grandchild) = worker_with_a_forked_copy()?;
    let wait = std::thread::scope(|scope| {
        let waiter = scope.spawn(|| Worker::wait_any(&[&worker], Some(LIMIT)));
        worker.kill().map_err(s)?;
        waiter.join().map_err(|_| "wait_any panicked")?.map_err(s)
    })?;
    ensure!(wait == [0], "wait_any: {wait:?}");
    ends_with(&worker, -9)
}

fn byte_count(bytes: Vec<u8>) -> usize {
    bytes.len()
}

/// A send that waits for room in the calls socket of a worker that has exited fails with
/// `Disconnected` (Linux: its pidfd is watched), giving the call back, even while a process the
/// worker forked holds that socket open and never reads it. It used to wait for that process
/// to exit (hung 3 of 3 in the audit's probe, past a 10 s watchdog).
fn send_to_an_exited_worker_whose_grandchild_holds_the_socket() -> Result<(), String> {
    let (worker, _grandchild) = worker_with_a_forked_copy()?;
    worker.kill().map_err(s)?;
    ends_with(&worker, -9)?;
    // Far more than the socket holds: the sends fill it, then one waits for room.
    let payload = vec![0u8; 16 << 10];
    let payload_len = payload.len();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut refused = None;
        for id in 2..1_000 {
            let call = match Call::new(byte_count, &payload) {
                Ok(call) => call,
                Err(e) => {
                    refused = Some(Err(e.to_string()));
                    break;
                }
            };
            if let Err(e) = worker.send(id, call) {
                refused = Some(Ok((e.is_retiring(), e.into_inner().len())));
                break;
            }
        }
        let _ = tx.send(refused);
    });
    match rx.recv_timeout(LIMIT) {
        Ok(Some(Ok((false, len)))) => {
            ensure!(len > payload_len, "the call came back short: {len} bytes");
            Ok(())
        }
        Ok(other) => Err(format!("sends to the exited worker: {other:?}")),
        Err(_) => Err(format!("a send to the exited worker hung past {LIMIT:?}")),
    }
}

/// Tells the parent it runs, then waits for a word that never comes.
fn block_in_call(conn: Connection<String>) -> String {
    let _ = conn.send(&"running".to_string());
    conn.recv().unwrap_or_default()
}

fn blocked_worker() -> Result<(Worker, Connection<String>), String> {
    let worker = Worker::start().map_err(s)?;
    let (ours, theirs) = Pipe::<String>::new().map_err(s)?;
    worker
        .send(1, Call::new(block_in_call, &theirs).map_err(s)?)
        .map_err(s)?;
    drop(theirs);
    let started = ours.recv_timeout(LIMIT).map_err(s)?;
    ensure!(started == "running", "got {started:?}");
    ensure!(worker.is_alive(), "the worker should be running its call");
    Ok((worker, ours))
}

fn sigkill_mid_call() -> Result<(), String> {
    let (worker, _ours) = blocked_worker()?;
    worker.kill().map_err(s)?;
    ends_with(&worker, -9)?;
    let refused = worker.send(2, Call::new(double, &1).map_err(s)?);
    ensure!(
        matches!(
            refused,
            Err(weft_process::SendCallError::Disconnected { .. })
        ),
        "send to a killed worker: {refused:?}"
    );
    Ok(())
}

fn terminate_mid_call() -> Result<(), String> {
    let (worker, _ours) = blocked_worker()?;
    worker.terminate().map_err(s)?;
    ends_with(&worker, -15)
}

fn close_then_join() -> Result<(), String> {
    let worker = Worker::start().map_err(s)?;
    for i in 0..5u64 {
        worker
            .send(i, Call::new(double, &i).map_err(s)?)
            .map_err(s)?;
    }
    worker.close();
    match worker.send(9, Call::new(double, &9).map_err(s)?) {
        Err(e) if !e.is_retiring() => {
            let call = e.into_inner();
            ensure!(call.len() > 8, "the refused call came back empty");
        }
        other => return Err(format!("send after close: {other:?}")),
    }
    // The calls sent before `close` are all served.
    for i in 0..5u64 {
        let got: u64 = reply(&worker, i)?.map_err(s)?;
        ensure!(got == 2 * i, "call {i} gave {got}");
    }
    ends_with(&worker, 0)?;
    ensure!(!worker.is_alive(), "joined worker alive");
    ensure!(
        worker.exitcode() == Some(0),
        "exitcode {:?}",
        worker.exitcode()
    );
    Ok(())
}

fn wait_any_with_no_workers() -> Result<(), String> {
    // Nothing could end a wait for ever on nothing: an error at once, not a hang.
    let err = Worker::wait_any(&[], None).err();
    ensure!(
        err.as_ref().map(std::io::Error::kind) == Some(std::io::ErrorKind::InvalidInput),
        "no workers, no timeout: {err:?}"
    );
    // A timeout too long for the clock waits for ever, so it is refused the same way.
    let err = Worker::wait_any(&[], Some(Duration::MAX)).err();
    ensure!(
        err.as_ref().map(std::io::Error::kind) == Some(std::io::ErrorKind::InvalidInput),
        "no workers, Duration::MAX: {err:?}"
    );
    // With a timeout it sleeps and finds nothing, as Python's `wait([], timeout)`.
    let start = Instant::now();
    let ready = Worker::wait_any(&[], Some(Duration::from_millis(30))).map_err(s)?;
    ensure!(ready.is_empty(), "ready with no workers: {ready:?}");
    let waited = start.elapsed();
    ensure!(
        waited >= Duration::from_millis(30) && waited < LIMIT,
        "the timeout was not kept: {waited:?}"
    );
    Ok(())
}

fn wait_any_over_many_workers() -> Result<(), String> {
    let workers: Vec<Worker> = (0..3)
        .map(|_| Worker::start())
        .collect::<Result<_, _>>()
        .map_err(s)?;
    let refs: Vec<&Worker> = workers.iter().collect();
    let start = Instant::now();
    let none = Worker::wait_any(&refs, Some(Duration::from_millis(50))).map_err(s)?;
    ensure!(none.is_empty(), "ready without a call: {none:?}");
    ensure!(
        start.elapsed() >= Duration::from_millis(50),
        "the timeout was cut short"
    );
    workers[1]
        .send(11, Call::new(double, &11).map_err(s)?)
        .map_err(s)?;
    let ready = Worker::wait_any(&refs, Some(LIMIT)).map_err(s)?;
    ensure!(ready == [1], "ready {ready:?}, [1] expected");
    // Asking whether a worker runs leaves its replies to be received (a `Process`'s exit
    // code reads its channel, which holds nothing but its outcome; a worker's holds replies).
    ensure!(
        workers[1].is_alive() && workers[1].exitcode().is_none(),
        "the worker should run"
    );
    let got: u64 = reply(&workers[1], 11)?.map_err(s)?;
    ensure!(got == 22, "got {got}");
    // Two replies buffered at once: the second is found without waiting for the socket.
    workers[2]
        .send(1, Call::new(double, &1).map_err(s)?)
        .map_err(s)?;
    workers[2]
        .send(2, Call::new(double, &2).map_err(s)?)
        .map_err(s)?;
    let mut got = Vec::new();
    while got.len() < 2 {
        let ready = Worker::wait_any(&refs, Some(LIMIT)).map_err(s)?;
        ensure!(ready == [2], "ready {ready:?}, [2] expected");
        while let Some(event) = workers[2].try_recv().map_err(s)? {
            match event {
                WorkerEvent::Reply(r) => got.push(r.into_result::<u64>().map_err(s)?),
                other => return Err(format!("{other:?}")),
            }
        }
    }
    ensure!(got == [2, 4], "got {got:?}");
    // The end of a worker wakes the waiter too.
    workers[0].close();
    let ready = Worker::wait_any(&refs, Some(LIMIT)).map_err(s)?;
    ensure!(ready == [0], "ready {ready:?} after closing worker 0");
    for w in &workers {
        w.close();
    }
    for w in &workers {
        ends_with(w, 0)?;
    }
    Ok(())
}

fn try_recv_never_waits() -> Result<(), String> {
    let (worker, ours) = blocked_worker()?;
    let start = Instant::now();
    for _ in 0..100 {
        ensure!(
            worker.try_recv().map_err(s)?.is_none(),
            "an event from a blocked worker"
        );
    }
    ensure!(
        start.elapsed() < LIMIT,
        "try_recv waited ({:?})",
        start.elapsed()
    );
    ours.send(&"go".to_string()).map_err(s)?;
    let ready = Worker::wait_any(&[&worker], Some(LIMIT)).map_err(s)?;
    ensure!(ready == [0], "ready {ready:?}");
    let mut event = None;
    while event.is_none() {
        event = worker.try_recv().map_err(s)?;
    }
    match event {
        Some(WorkerEvent::Reply(r)) => {
            let got: String = r.into_result().map_err(s)?;
            ensure!(got == "go", "got {got:?}");
        }
        other => return Err(format!("{other:?}")),
    }
    worker.close();
    ends_with(&worker, 0)
}

fn lent_descriptor_cannot_write() -> Result<(), String> {
    let worker = Worker::start().map_err(s)?;
    let wrote = rustix::io::write(worker.as_fd(), b"\x10\0\0\0\0\0wf0123456789abcdef");
    ensure!(wrote.is_err(), "wrote {wrote:?} on the lent descriptor");
    worker
        .send(1, Call::new(double, &3).map_err(s)?)
        .map_err(s)?;
    let got: u64 = reply(&worker, 1)?.map_err(s)?;
    ensure!(got == 6, "got {got}");
    worker.close();
    ends_with(&worker, 0)
}

/// Whether process `pid` has exited (gone, or a zombie awaiting its reaper).
fn exited(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => true,
    }
}

fn dropped_worker_ends() -> Result<(), String> {
    let (worker, ours) = blocked_worker()?;
    let pid = worker.pid();
    drop(worker);
    // It finishes its call, cannot reply, and ends.
    ours.send(&"go".to_string()).map_err(s)?;
    let deadline = Instant::now() + LIMIT;
    while !exited(pid) {
        ensure!(Instant::now() < deadline, "dropped worker {pid} still runs");
        std::thread::yield_now();
    }
    // The next start reaps it.
    let next = Worker::start().map_err(s)?;
    ensure!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "dropped worker {pid} was not reaped"
    );
    next.close();
    ends_with(&next, 0)
}

fn name_of(_: ()) -> String {
    weft_process::current_process_name().to_string()
}

/// The name a `Process` started here gives itself (called in a worker).
fn name_of_a_process_started_here(_: ()) -> String {
    weft_process::Process::new(name_of, ())
        .start()
        .expect("a process started in a worker")
        .join()
        .expect("its name")
}

/// A `Process` a worker's call starts is named below the worker, as Python names a pool
/// worker's children (`Process-I:N`): it used to take the top-level `Process-1`, the name of
/// the main program's first child. Named workers are numbered too.
fn a_workers_processes_are_named_below_it() -> Result<(), String> {
    let unnamed = Worker::start().map_err(s)?;
    let identity = (unnamed.name().strip_prefix("Worker-"))
        .ok_or_else(|| format!("default name {:?}", unnamed.name()))?
        .to_owned();
    let named = WorkerBuilder::new().name("pool-7").start().map_err(s)?;
    let mut names = Vec::new();
    for w in [&unnamed, &named] {
        w.send(
            1,
            Call::new(name_of_a_process_started_here, &()).map_err(s)?,
        )
        .map_err(s)?;
        names.push(reply::<String>(w, 1)?.map_err(s)?);
        w.close();
        ends_with(w, 0)?;
    }
    ensure!(
        names[0] == format!("Process-{identity}:1"),
        "a process started in Worker-{identity} is named {:?}",
        names[0]
    );
    let below = (names[1].strip_prefix("Process-"))
        .and_then(|rest| rest.strip_suffix(":1"))
        .is_some_and(|n| !n.is_empty() && n != identity && n.bytes().all(|b| b.is_ascii_digit()));
    ensure!(
        below,
        "a process started in the named worker is named {:?}",
        names[1]
    );
    Ok(())
}

fn workers_know_their_names() -> Result<(), String> {
    let named = WorkerBuilder::new().name("pool-7").start().map_err(s)?;
    named
        .send(1, Call::new(name_of, &()).map_err(s)?)
        .map_err(s)?;
    let got: String = reply(&named, 1)?.map_err(s)?;
    ensure!(got == "pool-7", "named worker calls itself {got:?}");
    let unnamed = Worker::start().map_err(s)?;
    ensure!(
        unnamed.name().starts_with("Worker-"),
        "default name {:?}",
        unnamed.name()
    );
    for w in [&named, &unnamed] {
        w.close();
        ends_with(w, 0)?;
    }
    Ok(())
}
