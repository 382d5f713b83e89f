//! multiprocessing on real processes: `Process` (result round trip, panics, signals, join with
//! timeout, terminate, eight children at once, exit codes), the `weft::main` guard (a missing one
//! is a clear error), parent death, inherited descriptors, `Pipe` both ways and across processes,
//! and bad input on the wire (corrupted frames, frames over the limit, a child writing garbage).
//! Re-expresses the applicable cases of CPython's `Lib/test/_test_multiprocessing.py`
//! (`_TestProcess`: test_process, test_terminate, test_kill, test_exitcode, test_many_processes;
//! `_TestConnection`: test_connection, test_duplex_false, test_sendbytes' size checks).
//!
//! This file has its own `main` (`harness = false`): the test binary is also the child program
//! (`weft_process::main` dispatches children to their functions), and with `WEFT_MP_SCENARIO` set
//! it is a whole program under test. It prints cargo-test-style lines so `cargo xtask test`
//! counts its cases.

use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsFd;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Deserializer, Serialize};
use weft_process::{Connection, ConnectionError, Pipe, Process, ProcessError, StartMethod};

#[path = "mp/deep.rs"]
mod deep;
#[path = "mp/queue_cases.rs"]
mod queue_cases;

#[path = "mp/runner.rs"]
mod runner;
pub(crate) use runner::{ensure, Case};

const SCENARIO: &str = "WEFT_MP_SCENARIO";
/// The most any wait in these tests may take before the case fails instead of hanging.
const LIMIT: Duration = Duration::from_secs(60);

const CASES: &[(&str, Case)] = &[
    ("spawn_runs_every_case", spawn_runs_every_case),
    (
        "start_method_decides_the_parent",
        start_method_decides_the_parent,
    ),
    (
        "start_method_overrides_the_default",
        start_method_overrides_the_default,
    ),
    (
        "killed_fork_server_takes_its_children_and_is_replaced",
        killed_fork_server_takes_its_children_and_is_replaced,
    ),
    (
        "no_descriptor_left_fails_the_start_not_the_server",
        no_descriptor_left_fails_the_start_not_the_server,
    ),
    (
        "descriptor_opened_before_init_stays_the_childs",
        descriptor_opened_before_init_stays_the_childs,
    ),
    (
        "ignored_sigchld_keeps_exit_codes",
        ignored_sigchld_keeps_exit_codes,
    ),
    (
        "thread_before_init_refuses_a_fork_server_clearly",
        thread_before_init_refuses_a_fork_server_clearly,
    ),
    (
        "child_takes_cwd_env_and_stdio_of_its_start",
        child_takes_cwd_env_and_stdio_of_its_start,
    ),
    (
        "stdout_closed_before_init_is_dev_null_for_children",
        stdout_closed_before_init_is_dev_null_for_children,
    ),
    (
        "fork_server_keeps_the_sigchld_action_and_no_stdio",
        fork_server_keeps_the_sigchld_action_and_no_stdio,
    ),
    (
        "exit_seen_before_join_keeps_the_result",
        exit_seen_before_join_keeps_the_result,
    ),
    (
        "exit_seen_before_join_keeps_a_large_result",
        exit_seen_before_join_keeps_a_large_result,
    ),
    (
        "killed_while_writing_its_result_reports_the_signal",
        killed_while_writing_its_result_reports_the_signal,
    ),
    ("result_round_trip", result_round_trip),
    ("struct_argument_and_result", struct_argument_and_result),
    ("closure_without_captures", closure_without_captures),
    ("panic_in_child_is_reported", panic_in_child_is_reported),
    (
        "panic_in_child_is_printed_below_its_name",
        panic_in_child_is_printed_below_its_name,
    ),
    (
        "panic_while_a_thread_holds_stderr_is_reported",
        panic_while_a_thread_holds_stderr_is_reported,
    ),
    ("huge_panic_message_is_cut", huge_panic_message_is_cut),
    (
        "sigkill_is_reported_as_signal",
        sigkill_is_reported_as_signal,
    ),
    ("terminate_is_sigterm", terminate_is_sigterm),
    (
        "join_timeout_gives_the_handle_back",
        join_timeout_gives_the_handle_back,
    ),
    ("eight_children_at_once", eight_children_at_once),
    ("exit_without_result", exit_without_result),
    ("result_that_fails_to_decode", result_that_fails_to_decode),
    ("result_that_fails_to_encode", result_that_fails_to_encode),
    (
        "connection_sent_takes_what_it_read_ahead",
        connection_sent_takes_what_it_read_ahead,
    ),
    (
        "connection_started_with_takes_what_it_read_ahead",
        connection_started_with_takes_what_it_read_ahead,
    ),
    (
        "read_ahead_moves_half_messages_and_descriptors",
        read_ahead_moves_half_messages_and_descriptors,
    ),
    (
        "read_ahead_comes_back_when_the_end_is_not_sent",
        read_ahead_comes_back_when_the_end_is_not_sent,
    ),
    (
        "too_many_connections_in_a_result_or_an_argument",
        too_many_connections_in_a_result_or_an_argument,
    ),
    (
        "argument_whose_serialize_panics_comes_back",
        argument_whose_serialize_panics_comes_back,
    ),
    (
        "message_whose_serialize_panics_is_not_sent",
        message_whose_serialize_panics_is_not_sent,
    ),
    ("child_knows_its_name", child_knows_its_name),
    (
        "grandchildren_are_named_below_their_parent",
        grandchildren_are_named_below_their_parent,
    ),
    (
        "join_returns_while_a_grandchild_holds_the_channel",
        join_returns_while_a_grandchild_holds_the_channel,
    ),
    ("start_from_a_thread", start_from_a_thread),
    (
        "child_inherits_only_its_channel",
        child_inherits_only_its_channel,
    ),
    (
        "pipe_both_ways_across_processes",
        pipe_both_ways_across_processes,
    ),
    ("one_way_pipe_directions", one_way_pipe_directions),
    (
        "deep_values_cross_processes_on_small_stacks",
        deep_values_cross_processes,
    ),
    (
        "connection_sent_through_a_connection",
        connection_sent_through_a_connection,
    ),
    ("closed_end_is_eof", closed_end_is_eof),
    ("recv_timeout_then_message", recv_timeout_then_message),
    (
        "frame_over_limit_refused_on_send",
        frame_over_limit_refused_on_send,
    ),
    (
        "oversized_header_is_an_error_without_allocation",
        oversized_header_is_an_error,
    ),
    ("corrupted_frame_is_an_error", corrupted_frame_is_an_error),
    (
        "undecodable_message_keeps_connection_usable",
        undecodable_message_keeps_connection,
    ),
    ("child_writing_garbage", child_writing_garbage),
    (
        "missing_guard_is_a_clear_error",
        missing_guard_is_a_clear_error,
    ),
    ("rebuilt_binary_is_refused", rebuilt_binary_is_refused),
    ("parent_death_kills_children", parent_death_kills_children),
    (
        "main_waits_for_non_daemon_children_only",
        main_waits_for_non_daemon_children,
    ),
    (
        "is_exiting_while_main_waits_for_children",
        is_exiting_while_main_waits_for_children,
    ),
    (
        "child_runs_before_exit_functions",
        child_runs_before_exit_functions,
    ),
    (
        "daemon_ignoring_sigterm_is_killed_at_exit",
        daemon_ignoring_sigterm_is_killed,
    ),
    (
        "queue_shutdown_and_task_done_wake_every_sleeper",
        queue_cases::wake_every_sleeper,
    ),
    (
        "queue_round_trip_in_one_process",
        queue_cases::round_trip_in_one_process,
    ),
    (
        "queue_two_producers_two_consumers_100k",
        queue_cases::two_by_two_100k,
    ),
    (
        "queue_task_done_and_join_across_processes",
        queue_cases::join_across_processes,
    ),
    (
        "queue_bound_blocks_and_times_out",
        queue_cases::bound_blocks_and_times_out,
    ),
    (
        "queue_shutdown_wakes_and_drains",
        queue_cases::shutdown_wakes_and_drains,
    ),
    ("queue_too_many_task_done", queue_cases::too_many_task_done),
    (
        "queue_ring_bounds_an_unbounded_queue",
        queue_cases::ring_bounds_an_unbounded_queue,
    ),
    (
        "queue_dead_lock_holder_is_taken_over",
        queue_cases::dead_lock_holder_is_taken_over,
    ),
    (
        "queue_dead_lock_holder_is_taken_over_by_a_try_get",
        queue_cases::dead_lock_holder_is_taken_over_by_a_try_get,
    ),
    (
        "queue_scribbled_record_is_reported",
        queue_cases::scribbled_record_is_reported,
    ),
    (
        "queue_disconnected_when_every_other_holder_is_gone",
        queue_cases::disconnected_when_every_other_holder_is_gone,
    ),
    (
        "queue_put_disconnected_gives_the_item_back",
        queue_cases::put_disconnected_gives_the_item_back,
    ),
    (
        "queue_dead_holders_slots_are_reused",
        queue_cases::dead_holders_slots_are_reused,
    ),
    (
        "queue_handle_in_flight_counts_as_held",
        queue_cases::handle_in_flight_counts_as_held,
    ),
    (
        "queue_signals_do_not_stop_the_look_around",
        queue_cases::signals_do_not_stop_the_look_around,
    ),
    (
        "queue_unsent_handle_leaves_no_holder",
        queue_cases::unsent_handle_leaves_no_holder,
    ),
    (
        "queue_item_whose_decode_panics_counts_done",
        queue_cases::item_whose_decode_panics_counts_done,
    ),
    (
        "queue_item_over_limit_comes_back",
        queue_cases::item_over_limit_comes_back,
    ),
    (
        "queue_item_whose_serialize_panics_comes_back",
        queue_cases::item_whose_serialize_panics_comes_back,
    ),
    (
        "queue_iter_ends_when_another_process_shuts_down",
        queue_cases::iter_ends_when_another_process_shuts_down,
    ),
    (
        "queue_undecodable_items_in_iter_and_shutdown_immediate",
        queue_cases::undecodable_items_in_iter_and_shutdown_immediate,
    ),
    (
        "queue_shutdown_immediate_wakes_other_processes",
        queue_cases::shutdown_immediate_wakes_other_processes,
    ),
    (
        "queue_shutdown_immediate_races_a_getter",
        queue_cases::shutdown_immediate_races_a_getter,
    ),
    (
        "queue_maxsize_is_an_option",
        queue_cases::maxsize_is_an_option,
    ),
    (
        "queue_shutdown_immediate_on_scribbled_memory",
        queue_cases::shutdown_immediate_on_scribbled_memory,
    ),
];

fn main() {
    runner::apply_start_method();
    if let Ok(name) = std::env::var(SCENARIO) {
        scenario(&name);
        return;
    }
    weft_process::main(run_cases);
}

fn run_cases() {
    runner::run(CASES, LIMIT);
}

fn double(x: u64) -> u64 {
    x * 2
}

/// Every case of this binary again, with every process spawned (`StartMethod::Spawn`) instead of
/// forked by the fork server (the default): results, panics, signals, timeouts, names,
/// descriptors, pipes, queues, the guard, parent death and the exit sequence hold for both.
fn spawn_runs_every_case() -> Result<(), String> {
    runner::rerun_with_spawn(CASES.len())
}

fn parent_pid(_: ()) -> u32 {
    rustix::process::getppid().map_or(0, |p| p.as_raw_nonzero().get() as u32)
}

/// A spawned child's parent is this process; a forked one's is the fork server, one server for
/// all (so the fork server is really used), itself a child of this process.
fn start_method_decides_the_parent() -> Result<(), String> {
    let me = std::process::id();
    let run = |method| {
        Process::new(parent_pid, ())
            .start_method(method)
            .start()
            .map_err(ProcessError::from)
            .and_then(|c| c.join())
            .map_err(|e| e.to_string())
    };
    ensure!(run(StartMethod::Spawn)? == me, "a spawned child's parent");
    let server = run(StartMethod::ForkServer)?;
    ensure!(
        server != me && server != 0,
        "a forked child's parent: {server}"
    );
    ensure!(
        run(StartMethod::ForkServer)? == server,
        "the same server forks every child"
    );
    let status = std::fs::read_to_string(format!("/proc/{server}/status"))
        .map_err(|e| format!("the server is not running: {e}"))?;
    ensure!(
        status.contains(&format!("PPid:\t{me}")),
        "the server is this process's child:\n{status}"
    );
    Ok(())
}

/// A fork server killed while a child it forked runs: the child dies with it (its join reports
/// SIGKILL, nothing hangs), and the next start gets a new server.
fn killed_fork_server_takes_its_children_and_is_replaced() -> Result<(), String> {
    let forked = |f: fn(()) -> u32| {
        Process::new(f, ())
            .start_method(StartMethod::ForkServer)
            .start()
            .map_err(|e| e.to_string())
    };
    let server = forked(parent_pid)?.join().map_err(|e| e.to_string())?;
    let (ours, theirs) = Pipe::<String>::new().map_err(|e| e.to_string())?;
    let waiting = Process::new(wait_for_word, theirs)
        .start_method(StartMethod::ForkServer)
        .start()
        .map_err(|e| e.to_string())?;
    let pid = rustix::process::Pid::from_raw(server as i32).ok_or("no server pid")?;
    rustix::process::kill_process(pid, rustix::process::Signal::KILL)
        .map_err(|e| format!("kill the server: {e}"))?;
    let got = waiting.join();
    ensure!(
        matches!(got, Err(ProcessError::Signaled { signal: 9 })),
        "the server's child: {got:?}"
    );
    drop(ours);
    let replaced = forked(parent_pid)?.join().map_err(|e| e.to_string())?;
    ensure!(
        replaced != server && replaced != std::process::id(),
        "a new server ({replaced}, the old one was {server})"
    );
    Ok(())
}

/// This process running out of descriptors while the fork server's answer arrives fails that
/// start (or it succeeds), but never the server: a child it forked before runs on and finishes.
fn no_descriptor_left_fails_the_start_not_the_server() -> Result<(), String> {
    let out = run_scenario("few-fds")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    ensure!(
        out.status.success() && stdout.contains("earlier child: Ok(\"word\")"),
        "{}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// A file a program opens before `init` (a static logger, say) is the child's in both start
/// methods: a spawned child opens its own, a forked one keeps the server's, which the fork must
/// not close.
fn descriptor_opened_before_init_stays_the_childs() -> Result<(), String> {
    let path = std::env::temp_dir().join(format!("weft-mp-log-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = Command::new(exe)
        .env(SCENARIO, "pre-init-fd")
        .env(LOG_PATH, &path)
        .output()
        .map_err(|e| e.to_string())?;
    let log = std::fs::read_to_string(&path).unwrap_or_default();
    let _ = std::fs::remove_file(&path);
    ensure!(
        out.status.success() && log.contains("spawned child") && log.contains("forked child"),
        "{}: stdout {}\nstderr {}\nlog {log:?}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// A program that ignores SIGCHLD (which an exec keeps): a forked child's exit code still comes
/// back (the server reaps with the default disposition) and the child ignores SIGCHLD as the
/// program does. A subprocess's `Killer` sends nothing once the kernel has reaped the child.
fn ignored_sigchld_keeps_exit_codes() -> Result<(), String> {
    let out = run_scenario("sigchld-ignored")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    ensure!(
        out.status.success()
            && stdout.contains("forked: Err(Exited { code: 7 })")
            && stdout.contains("child ignores SIGCHLD: true")
            && stdout.contains("auto-reaped: Some(Os { code: 10")
            && stdout.contains("killer after auto-reap: Ok(())")
            && stdout.contains("wait after auto-reap: Ok(0)"),
        "{}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// A program that starts a thread before `init` cannot have a fork server (forking a
/// multi-threaded process is unsound): a start with the default method spawns instead; a start
/// that chooses the fork server fails with a message that says why and what to use instead, a
/// second one fails the same way without trying again, and spawning works.
fn thread_before_init_refuses_a_fork_server_clearly() -> Result<(), String> {
    let out = run_scenario("thread-before-init")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    ensure!(
        out.status.success()
            && lines.len() == 4
            && lines[0] == "default: Ok(42)"
            && lines[1].contains("more than one thread")
            && lines[1].contains("StartMethod::Spawn")
            && lines[2] == lines[1]
            && lines[3] == "spawned: Ok(42)",
        "{}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// A command that runs scenario `name` with a new empty directory of its own (`WEFT_MP_DIR`),
/// and that directory, for the caller to read and remove.
fn scenario_with_dir(name: &str) -> Result<(std::path::PathBuf, Command), String> {
    let dir = std::env::temp_dir().join(format!("weft-mp-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let mut command = Command::new(std::env::current_exe().map_err(|e| e.to_string())?);
    command.env(SCENARIO, name).env("WEFT_MP_DIR", &dir);
    Ok((dir, command))
}

/// What a child sees of its parent (whose pid is `parent`): its working directory, two
/// variables, and whether the parent is its parent (spawned) or not (forked by the fork server).
/// It writes a line to stdout and one to stderr.
fn surroundings(parent: u32) -> (String, Option<String>, Option<String>, bool) {
    use std::io::Write as _;
    println!("a child writes to its stdout");
    eprintln!("a child writes to its stderr");
    let _ = std::io::stdout().flush();
    (
        std::env::current_dir().map_or_else(|e| e.to_string(), |d| d.display().to_string()),
        std::env::var("WEFT_MP_EARLY").ok(),
        std::env::var("WEFT_MP_LATE").ok(),
        std::os::unix::process::parent_id() == parent,
    )
}

/// A child takes the working directory, environment, stdout and stderr its parent has when it
/// starts it, whatever they were when the fork server started (the first start of the scenario
/// starts it; the second comes after the parent changed all four). Both children are forked by
/// the fork server, the default (spawned in the spawn run). The environment holds an entry
/// that the C library cannot remove by name.
fn child_takes_cwd_env_and_stdio_of_its_start() -> Result<(), String> {
    let (dir, mut command) = scenario_with_dir("surroundings")?;
    let out = command
        .env("WEFT_MP_EARLY", "set before")
        // An entry no `setenv` can make or `unsetenv` remove (a key starting with `=`): a child
        // rewriting its environment must get past it.
        .env("=odd", "entry")
        .output()
        .map_err(|e| e.to_string())?;
    let captured = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
    let (out_file, err_file) = (captured("stdout"), captured("stderr"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let here = std::env::current_dir().map_err(|e| e.to_string())?;
    let there = dir.canonicalize().unwrap_or(dir.clone());
    let _ = std::fs::remove_dir_all(&dir);
    let spawned = runner::spawn_run();
    let first: Result<_, ()> = Ok((
        here.display().to_string(),
        Some("set before".to_string()),
        None::<String>,
        spawned,
    ));
    let second: Result<_, ()> = Ok((
        there.display().to_string(),
        None::<String>,
        Some("set after".to_string()),
        spawned,
    ));
    let (first, second) = (format!("first: {first:?}"), format!("second: {second:?}"));
    ensure!(
        out.status.success()
            && stdout.lines().collect::<Vec<_>>()
                == [
                    "a child writes to its stdout",
                    first.as_str(),
                    second.as_str()
                ]
            && stderr.lines().collect::<Vec<_>>() == ["a child writes to its stderr"]
            && out_file == "a child writes to its stdout\n"
            && err_file == "a child writes to its stderr\n",
        "{}\nstdout:\n{stdout}\nexpected {first} and {second}\nfiles: {out_file:?} \
         {err_file:?}\nstderr:\n{stderr}",
        out.status,
    );
    Ok(())
}

/// The flags of this process's SIGCHLD action, and its parent's pid.
fn sigchld_flags_and_parent(_: ()) -> (i32, u32) {
    (sigchld_flags(), std::os::unix::process::parent_id())
}

fn sigchld_flags() -> i32 {
    // SAFETY: reads the current action into a zeroed `sigaction` (a valid value); no change.
    unsafe {
        let mut now: libc::sigaction = std::mem::zeroed();
        libc::sigaction(libc::SIGCHLD, std::ptr::null(), &mut now);
        now.sa_flags
    }
}

extern "C" fn on_sigchld(_: libc::c_int, _: *mut libc::siginfo_t, _: *mut libc::c_void) {}

/// A program that installs a SIGCHLD handler with flags before `init` (as signal-hook does):
/// its forked children get the whole action back, flags included, not just the handler; and
/// the fork server holds neither the stdout nor the stderr the program had when it started
/// (a reader of those would otherwise wait for the server's exit).
fn fork_server_keeps_the_sigchld_action_and_no_stdio() -> Result<(), String> {
    let out = run_scenario("server-state")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let expected: &[&str] = if runner::spawn_run() {
        &["same flags: true"]
    } else {
        &[
            "same flags: true",
            "server stdout: /dev/null",
            "server stderr: /dev/null",
        ]
    };
    ensure!(
        out.status.success() && stdout.lines().collect::<Vec<_>>() == expected,
        "{}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// Prints `child n` on its stdout and returns `n` and whether that stdout is `/dev/null`.
fn shout(n: u32) -> (u32, bool) {
    use std::io::Write as _;
    println!("child {n}");
    let _ = std::io::stdout().flush();
    let null = std::fs::metadata("/dev/null").map(|m| std::os::unix::fs::MetadataExt::rdev(&m));
    let out = rustix::fs::fstat(std::io::stdout()).map(|st| st.st_rdev);
    (n, matches!((null, out), (Ok(a), Ok(b)) if a == b))
}

/// A program that closes its stdout before `init`, in the parent and in the fork server: a
/// forked child started while it is closed writes to `/dev/null`, as a spawned Rust program
/// would, not into a descriptor of weft's that took the free number; once the parent has a
/// stdout again, its children write there, and none of the server's descriptors took the
/// server's free number 1 (a child would close it after making it its stdout). A spawned child
/// runs the code before `init` itself, so its stdout is closed, whatever its parent has (the
/// spawn run checks that).
fn stdout_closed_before_init_is_dev_null_for_children() -> Result<(), String> {
    let (dir, mut command) = scenario_with_dir("closed-stdout")?;
    let out = command.output().map_err(|e| e.to_string())?;
    let file = std::fs::read_to_string(dir.join("stdout")).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let (lines, written) = if runner::spawn_run() {
        (
            [
                "first: Ok((1, false))",
                "second: Ok((2, false))",
                "third: Ok((3, false))",
            ],
            "",
        )
    } else {
        (
            [
                "first: Ok((1, true))",
                "second: Ok((2, false))",
                "third: Ok((3, false))",
            ],
            "child 2\nchild 3\n",
        )
    };
    ensure!(
        out.status.success()
            && out.stdout.is_empty()
            && stderr.lines().collect::<Vec<_>>() == lines
            && file == written,
        "{}\nfile: {file:?}\nstderr:\n{stderr}",
        out.status,
    );
    Ok(())
}

/// Asks `is_alive` until it says the child has exited (which reaps it).
fn seen_exited<R>(child: &weft_process::ProcessHandle<R>) -> Result<(), String> {
    let deadline = Instant::now() + LIMIT;
    while child.is_alive() {
        ensure!(Instant::now() < deadline, "the child never exited");
        std::thread::yield_now();
    }
    Ok(())
}

/// `is_alive` and `exitcode` may see the exit (and reap the child) before `join`, which still
/// returns the result.
fn exit_seen_before_join_keeps_the_result() -> Result<(), String> {
    let child = Process::new(double, 21)
        .start()
        .map_err(|e| e.to_string())?;
    seen_exited(&child)?;
    ensure!(
        child.exitcode() == Some(0),
        "exitcode {:?}",
        child.exitcode()
    );
    let got = child.join().map_err(|e| e.to_string())?;
    ensure!(got == 42, "join gave {got}");
    Ok(())
}

fn bytes(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

/// The same with a result larger than one read of the channel (150 000 bytes) and one larger
/// than the socket holds (4 MiB: the child blocks writing it until the parent reads), for both
/// start methods, and a `{:?}` of the handle (which asks for the exit code) before `join`.
/// Python's `while p.is_alive()` then `join()`: `is_alive` reads what the child sent, so the
/// child can finish writing and exit (it said "alive" for ever).
fn exit_seen_before_join_keeps_a_large_result() -> Result<(), String> {
    for len in [150_000, 4 << 20] {
        for method in [StartMethod::ForkServer, StartMethod::Spawn] {
            let child = Process::new(bytes, len)
                .start_method(method)
                .start()
                .map_err(|e| e.to_string())?;
            seen_exited(&child).map_err(|e| format!("{method:?}, {len} bytes: {e}"))?;
            let shown = format!("{child:?}");
            let got = child
                .join()
                .map_err(|e| format!("{method:?}: {e} ({shown})"))?;
            ensure!(
                got == bytes(len),
                "{method:?}: join gave {} bytes",
                got.len()
            );
        }
    }
    Ok(())
}

/// Whether process `pid` is blocked in `sendmsg` (the first field of `/proc/<pid>/syscall`).
fn blocked_sending(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/syscall"))
        .is_ok_and(|s| s.split(' ').next() == Some(&libc::SYS_sendmsg.to_string()))
}

/// A child killed while it writes a result larger than the socket holds (blocked, as nobody
/// reads yet): `join` reports the signal, as the docs of `kill` and `terminate` say, not the
/// channel cut mid-message (it said `Connection(Truncated)`).
fn killed_while_writing_its_result_reports_the_signal() -> Result<(), String> {
    for method in [StartMethod::ForkServer, StartMethod::Spawn] {
        let child = Process::new(bytes, 4 << 20)
            .start_method(method)
            .start()
            .map_err(|e| e.to_string())?;
        // Blocked in `sendmsg`: the socket holds less than the 4 MiB message, so part of it is
        // out and part is not. (`is_alive` would read the channel, so it is not asked.)
        let deadline = Instant::now() + LIMIT;
        while !blocked_sending(child.pid()) {
            ensure!(
                Instant::now() < deadline,
                "{method:?}: the child never blocked sending"
            );
            std::thread::yield_now();
        }
        child.kill().map_err(|e| e.to_string())?;
        let got = child.join().map(|v| v.len());
        ensure!(
            matches!(got, Err(ProcessError::Signaled { signal: 9 })),
            "{method:?}: got {got:?}"
        );
    }
    Ok(())
}

/// Where the `pre-init-fd` scenario logs.
const LOG_PATH: &str = "WEFT_MP_LOG";

/// The `pre-init-fd` scenario's log, opened before `init` in every process of the program.
static LOG: std::sync::OnceLock<std::fs::File> = std::sync::OnceLock::new();

fn log_line(line: String) -> bool {
    use std::io::Write as _;
    LOG.get()
        .is_some_and(|mut f| writeln!(f, "{line}").and_then(|()| f.flush()).is_ok())
}

fn sigchld_ignored(_: ()) -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("SigIgn:"))
        .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
        .is_some_and(|mask| mask & (1 << (libc::SIGCHLD - 1)) != 0)
}

/// The default start method is per program (the fork server unless set); `Process::start_method`
/// overrides it either way.
fn start_method_overrides_the_default() -> Result<(), String> {
    let (default, other) = if runner::spawn_run() {
        (StartMethod::Spawn, StartMethod::ForkServer)
    } else {
        (StartMethod::ForkServer, StartMethod::Spawn)
    };
    ensure!(
        weft_process::start_method() == default,
        "default start method {:?}",
        weft_process::start_method()
    );
    let child = Process::new(double, 21)
        .start_method(other)
        .start()
        .map_err(|e| e.to_string())?;
    ensure!(child.join().map_err(|e| e.to_string())? == 42, "result");
    Ok(())
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Job {
    words: Vec<String>,
    repeat: u32,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Report {
    joined: String,
    total_len: usize,
}

fn join_words(job: Job) -> Report {
    let joined = job.words.join(" ").repeat(job.repeat as usize);
    Report {
        total_len: joined.len(),
        joined,
    }
}

fn result_round_trip() -> Result<(), String> {
    let child = Process::new(double, 21)
        .start()
        .map_err(|e| e.to_string())?;
    ensure!(
        child.pid() != std::process::id(),
        "the child runs in this process"
    );
    let got = child.join().map_err(|e| e.to_string())?;
    ensure!(got == 42, "got {got}");
    Ok(())
}

fn struct_argument_and_result() -> Result<(), String> {
    let job = Job {
        words: vec!["a".into(), "bc".into()],
        repeat: 3,
    };
    let report = Process::new(join_words, job)
        .start()
        .map_err(ProcessError::from)
        .and_then(|c| c.join());
    let report = report.map_err(|e| e.to_string())?;
    ensure!(
        report
            == Report {
                joined: "a bca bca bc".into(),
                total_len: 12
            },
        "{report:?}"
    );
    Ok(())
}

fn closure_without_captures() -> Result<(), String> {
    let got = Process::new(|v: Vec<u32>| v.iter().sum::<u32>(), vec![1, 2, 3])
        .start()
        .map_err(ProcessError::from)
        .and_then(|c| c.join())
        .map_err(|e| e.to_string())?;
    ensure!(got == 6, "got {got}");
    Ok(())
}

fn boom(_: ()) {
    panic!("boom in the child");
}

fn panic_in_child_is_reported() -> Result<(), String> {
    let child = Process::new(boom, ()).start().map_err(|e| e.to_string())?;
    let pid = child.pid();
    match child.join() {
        Err(ProcessError::Panicked { message, location }) => {
            ensure!(message == "boom in the child", "message {message:?}");
            let at = location.unwrap_or_default();
            ensure!(
                at.starts_with(concat!(file!(), ":")),
                "location {at:?}, not in {}",
                file!()
            );
        }
        other => return Err(format!("expected Panicked, got {other:?}")),
    }
    ensure!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "child {pid} was not reaped"
    );
    Ok(())
}

/// A child's panic is printed on its stderr (the parent's, inherited) below a line naming the
/// child, `process 'NAME' (pid N):`, as Python prints `Process NAME:` above a child's traceback:
/// std's hook alone says `thread 'main'`, which read as the parent's main thread. A panic on a
/// thread the child started names that thread and gets no such line.
fn panic_in_child_is_printed_below_its_name() -> Result<(), String> {
    let out = run_scenario("child-panic")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let context = format!("{}\nstdout:\n{stdout}\nstderr:\n{stderr}", out.status);
    ensure!(out.status.success(), "{context}");
    let pid = stdout
        .lines()
        .find_map(|l| l.strip_prefix("pid: "))
        .ok_or_else(|| format!("no pid line: {context}"))?;
    // Each report of std's hook, with the last line above it that is not blank.
    let lines: Vec<&str> = stderr.lines().collect();
    let reports: Vec<(&str, &[&str])> = (0..lines.len())
        .filter(|&i| lines[i].starts_with("thread '"))
        .map(|i| {
            let above = lines[..i].iter().rev().find(|l| !l.is_empty());
            (above.copied().unwrap_or(""), &lines[i..])
        })
        .collect();
    let named = format!("process 'boomer' (pid {pid}):");
    ensure!(
        reports.iter().any(|(above, report)| *above == named
            && report[0].starts_with("thread 'main'")
            && report.get(1) == Some(&"boom in the child")),
        "no report of the child's panic below {named:?}: {context}"
    );
    ensure!(
        reports
            .iter()
            .any(|(above, report)| !above.starts_with("process '")
                && report[0].starts_with("thread 'helper'")
                && report.get(1) == Some(&"boom on a thread of the child")),
        "the report of a panic on the child's own thread: {context}"
    );
    Ok(())
}

/// Panics on a thread of its own (`helper`), then on the child's main thread.
fn boom_on_two_threads(_: ()) {
    let helper = std::thread::Builder::new()
        .name("helper".into())
        .spawn(|| panic!("boom on a thread of the child"))
        .expect("a thread");
    let _ = helper.join();
    panic!("boom in the child");
}

/// Panics on the child's main thread while a thread of its own holds `io::stderr()`'s lock
/// until the main thread lets go of a channel, as a logger thread keeping a `StderrLock` for
/// its loop does. std's hook writes to fd 2 without that lock, so the panic unwinds, the
/// channel closes and the logger lets go.
fn panic_while_stderr_is_locked(_: ()) {
    let (locked_tx, locked) = std::sync::mpsc::channel::<()>();
    let (keep, logger_done) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        let _held = std::io::stderr().lock();
        let _ = locked_tx.send(());
        // Returns once `keep` is dropped, as the main thread unwinds.
        let _ = logger_done.recv();
    });
    locked.recv().expect("the logger thread");
    let _keep = keep;
    panic!("boom with stderr locked");
}

/// The line that names the child above its panic's report must not wait for `io::stderr()`'s
/// lock: it used to, so a panic while another thread of the child held that lock (waiting for
/// the main thread) hung the child, and its `join`, for good.
fn panic_while_a_thread_holds_stderr_is_reported() -> Result<(), String> {
    let child = Process::new(panic_while_stderr_is_locked, ())
        .start()
        .map_err(|e| e.to_string())?;
    match child.join_timeout(LIMIT) {
        Err((ProcessError::Panicked { message, .. }, _)) => {
            ensure!(message == "boom with stderr locked", "message {message:?}");
            Ok(())
        }
        Err((e, Some(handle))) => {
            let _ = handle.kill();
            let _ = handle.join();
            Err(format!("the child did not end within {LIMIT:?}: {e}"))
        }
        other => Err(format!(
            "expected Panicked, got {:?}",
            other.map_err(|(e, _)| e)
        )),
    }
}

/// Panics with a message over the 64 MiB frame limit (through `resume_unwind`, which the panic
/// hook does not print).
fn huge_boom(_: ()) {
    std::panic::resume_unwind(Box::new("p".repeat(65 << 20)))
}

/// A child's panic whose message is over the frame limit is still reported as a panic, its
/// message cut with a note of how much was cut (it was reported as a result over the limit).
fn huge_panic_message_is_cut() -> Result<(), String> {
    let child = Process::new(huge_boom, ())
        .start()
        .map_err(|e| e.to_string())?;
    match child.join() {
        Err(ProcessError::Panicked { message, .. }) => {
            let Some(kept) = message.rfind("... (") else {
                return Err(format!("no note after {} bytes", message.len()));
            };
            ensure!(
                kept > 60 << 20 && message[kept..].ends_with(" more bytes cut)"),
                "{} bytes kept, then {:?}",
                kept,
                &message[kept..]
            );
            ensure!(message.as_bytes()[..16] == [b'p'; 16], "the start is kept");
        }
        other => {
            let shown = format!("{other:?}");
            return Err(format!(
                "expected Panicked, got {}",
                &shown[..shown.len().min(300)]
            ));
        }
    }
    Ok(())
}

use std::path::Path;

/// Returns at once, leaving a `before_exit` function that sends a word on `conn`.
fn leave_before_exit(conn: Connection<String>) -> u32 {
    weft_thread::before_exit(move || {
        let _ = conn.send(&"before_exit ran".to_string());
    });
    7
}

/// A child runs its `before_exit` functions as it exits, as Python's child runs
/// `threading._shutdown` (which joins the `concurrent.futures` pools it left alive): the
/// function's pools are not cut off.
fn child_runs_before_exit_functions() -> Result<(), String> {
    let (ours, theirs) = Pipe::<String>::new().map_err(|e| e.to_string())?;
    let child = Process::new(leave_before_exit, theirs)
        .start()
        .map_err(|e| e.to_string())?;
    ensure!(child.join().map_err(|e| e.to_string())? == 7, "the result");
    // The child has exited: a word it sent is there already (the timeout only ends a failure).
    let got = ours
        .recv_timeout(Duration::from_secs(10))
        .map_err(|e| format!("no word from the child: {e}"))?;
    ensure!(got == "before_exit ran", "got {got:?}");
    Ok(())
}

/// Blocks until the connection it gets says otherwise (or closes), then returns what it got.
fn wait_for_word(conn: Connection<String>) -> String {
    conn.recv().unwrap_or_else(|e| format!("error: {e}"))
}

fn sigkill_is_reported_as_signal() -> Result<(), String> {
    let (ours, theirs) = Pipe::<String>::new().map_err(|e| e.to_string())?;
    let child = Process::new(wait_for_word, theirs)
        .start()
        .map_err(|e| e.to_string())?;
    ensure!(child.is_alive(), "the child should be blocked");
    ensure!(child.exitcode().is_none(), "running child has an exit code");
    child.kill().map_err(|e| e.to_string())?;
    let got = child.join();
    ensure!(
        matches!(got, Err(ProcessError::Signaled { signal: 9 })),
        "got {got:?}"
    );
    drop(ours);
    Ok(())
}

fn terminate_is_sigterm() -> Result<(), String> {
    let (_ours, theirs) = Pipe::<String>::new().map_err(|e| e.to_string())?;
    let child = Process::new(wait_for_word, theirs)
        .start()
        .map_err(|e| e.to_string())?;
    child.terminate().map_err(|e| e.to_string())?;
    let deadline = Instant::now() + LIMIT;
    while child.exitcode().is_none() {
        ensure!(Instant::now() < deadline, "terminated child did not end");
        std::thread::yield_now();
    }
    ensure!(
        child.exitcode() == Some(-15),
        "exitcode {:?}",
        child.exitcode()
    );
    ensure!(!child.is_alive(), "still alive");
    let got = child.join();
    ensure!(
        matches!(got, Err(ProcessError::Signaled { signal: 15 })),
        "got {got:?}"
    );
    Ok(())
}

fn join_timeout_gives_the_handle_back() -> Result<(), String> {
    let (ours, theirs) = Pipe::<String>::new().map_err(|e| e.to_string())?;
    let child = Process::new(wait_for_word, theirs)
        .start()
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    let child = match child.join_timeout(Duration::from_millis(50)) {
        Err((ProcessError::Timeout, Some(handle))) => handle,
        other => {
            return Err(format!(
                "expected a timeout, got {:?}",
                other.map_err(|e| e.0)
            ))
        }
    };
    ensure!(
        started.elapsed() < Duration::from_secs(10),
        "join_timeout took {:?}",
        started.elapsed()
    );
    ensure!(child.is_alive(), "child should still run");
    let child = match child.join_timeout(Duration::ZERO) {
        Err((ProcessError::Timeout, Some(handle))) => handle,
        other => return Err(format!("zero timeout: {:?}", other.map_err(|e| e.0))),
    };
    ours.send(&"go".to_string()).map_err(|e| e.to_string())?;
    let got = child
        .join_timeout(Duration::MAX)
        .map_err(|e| e.0.to_string())?;
    ensure!(got == "go", "got {got:?}");
    Ok(())
}

fn sum_range(n: u64) -> u64 {
    (0..=n).sum()
}

fn eight_children_at_once() -> Result<(), String> {
    let children: Vec<_> = (0..8u64)
        .map(|i| Process::new(sum_range, 1000 * i).start())
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let pids: std::collections::HashSet<u32> = children.iter().map(|c| c.pid()).collect();
    ensure!(pids.len() == 8, "pids not distinct");
    for (i, child) in children.into_iter().enumerate() {
        let n = 1000 * i as u64;
        let got = child.join().map_err(|e| e.to_string())?;
        ensure!(got == n * (n + 1) / 2, "child {i}: {got}");
    }
    Ok(())
}

fn exit_seven(_: ()) -> u32 {
    std::process::exit(7)
}

fn exit_without_result() -> Result<(), String> {
    let child = Process::new(exit_seven, ())
        .start()
        .map_err(|e| e.to_string())?;
    let got = child.join();
    ensure!(
        matches!(got, Err(ProcessError::Exited { code: 7 })),
        "got {got:?}"
    );
    Ok(())
}

/// Accepts only even numbers when decoding.
#[derive(Serialize, Debug)]
struct Even(u32);

impl<'de> Deserialize<'de> for Even {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = u32::deserialize(d)?;
        if n % 2 == 1 {
            return Err(serde::de::Error::custom(format!("{n} is odd")));
        }
        Ok(Even(n))
    }
}

fn make_odd(n: u32) -> Even {
    Even(n * 2 + 1)
}

fn result_that_fails_to_decode() -> Result<(), String> {
    let got = Process::new(make_odd, 1)
        .start()
        .map_err(ProcessError::from)
        .and_then(|c| c.join());
    match got {
        // The `Deserialize` impl's own message is kept, though postcard's error has none.
        Err(ProcessError::Decode(why)) => ensure!(
            why.contains("decode") && why.contains("3 is odd"),
            "why: {why}"
        ),
        other => return Err(format!("expected Decode, got {other:?}")),
    }
    Ok(())
}

/// Refuses to be encoded.
#[derive(Debug, Deserialize)]
struct Unsendable;

impl Serialize for Unsendable {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("unsendable"))
    }
}

fn make_unsendable(_: ()) -> Unsendable {
    Unsendable
}

/// The child ran but could not send its result: `ResultEncode` (not the argument's `Encode`),
/// exit code 1.
fn result_that_fails_to_encode() -> Result<(), String> {
    let child = Process::new(make_unsendable, ())
        .start()
        .map_err(|e| e.to_string())?;
    match child.join() {
        Err(ProcessError::ResultEncode(why)) => ensure!(
            why.contains("result") && why.contains("unsendable"),
            "why: {why}"
        ),
        other => return Err(format!("expected ResultEncode, got {other:?}")),
    }
    Ok(())
}

/// 40 connections: more than the 32 descriptors a message carries.
fn forty_connections(_: ()) -> Vec<Connection<u8>> {
    (0..40).map(|_| Pipe::<u8>::new().unwrap().0).collect()
}

/// A result over the descriptor limit is reported as such (exit code 1), not lost as if the
/// child had exited without one; an argument over it fails the start before any child runs.
fn too_many_connections_in_a_result_or_an_argument() -> Result<(), String> {
    let child = Process::new(forty_connections, ())
        .start()
        .map_err(|e| e.to_string())?;
    let got = child.join();
    match &got {
        Err(ProcessError::ResultEncode(why)) => ensure!(why.contains("40"), "why: {why}"),
        other => return Err(format!("expected ResultEncode, got {other:?}")),
    }
    for size in [0, 100_000] {
        let conns: Vec<Connection<u8>> = (0..40).map(|_| Pipe::<u8>::new().unwrap().0).collect();
        let started = Process::new(count_connections_and_bytes, (conns, vec![1u8; size])).start();
        match started {
            Err(e) => {
                match e.error() {
                    ProcessError::Encode(why) => ensure!(why.contains("40"), "why: {why}"),
                    other => return Err(format!("expected Encode, got {other:?}")),
                }
                // The refused start gives the argument back, connections and all.
                let (conns, bytes) = e.into_arg();
                ensure!(
                    conns.len() == 40 && bytes.len() == size,
                    "{} connections and {} bytes came back",
                    conns.len(),
                    bytes.len()
                );
            }
            Ok(child) => {
                return Err(format!(
                    "a {size}-byte argument with 40 connections started: {:?}",
                    child.join()
                ))
            }
        }
    }
    Ok(())
}

fn count_connections_and_bytes(v: (Vec<Connection<u8>>, Vec<u8>)) -> usize {
    v.0.len() + v.1.len()
}

/// Encodes unless it is 3, where its `Serialize` panics (in the parent, as the argument is
/// encoded by `start`).
#[derive(Debug, PartialEq, Deserialize)]
pub(crate) struct PanicsOnThree(pub(crate) u32);

impl Serialize for PanicsOnThree {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        assert!(self.0 != 3, "PanicsOnThree refuses 3");
        s.serialize_u32(self.0)
    }
}

fn first_of_panics_on_three(arg: (Connection<u32>, PanicsOnThree)) -> u32 {
    arg.1 .0
}

/// An argument whose `Serialize` panics as `start` encodes it is refused as one that returns an
/// error is: `ProcessError::Encode` in a `StartError` that gives the argument back, with what a
/// connection in it had read ahead, and nothing started. Python's `start()` raises what
/// `__reduce__` raised and the `Process` stays unstarted. The panic used to unwind out of
/// `start`, dropping the argument.
fn argument_whose_serialize_panics_comes_back() -> Result<(), String> {
    let (a, _b) = pipe_that_read_ahead()?;
    let started = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        Process::new(first_of_panics_on_three, (a, PanicsOnThree(3))).start()
    }))
    .map_err(|p| format!("start panicked: {}", weft_sync::panic_message(&*p)))?;
    let e = match started {
        Err(e) => e,
        Ok(child) => return Err(format!("started: {:?}", child.join())),
    };
    match e.error() {
        ProcessError::Encode(why) => ensure!(why.contains("PanicsOnThree refuses 3"), "{why}"),
        other => return Err(format!("expected Encode, got {other:?}")),
    }
    // Said once: "the argument could not be encoded: its Serialize panicked: …", not the
    // codec's "a message could not be encoded" inside the argument's.
    let message = e.error().to_string();
    ensure!(
        message.matches("could not be encoded").count() == 1,
        "{message}"
    );
    let (a, three) = e.into_arg();
    ensure!(three == PanicsOnThree(3), "the argument back");
    holds_two_and_three(&a, "a start refused by a panic")?;
    let child = Process::new(first_of_panics_on_three, (a, PanicsOnThree(4)))
        .start()
        .map_err(|e| e.to_string())?;
    ensure!(
        child.join().map_err(|e| e.to_string())? == 4,
        "a later start"
    );
    Ok(())
}

/// A message whose `Serialize` panics as `send` encodes it is refused as one that returns an
/// error is: `ConnectionError::Encode` with the panic's message, nothing written (the peer's
/// next message is the one sent after), the connection usable, and what a connection inside the
/// message had read ahead back in that connection (it then travels with the next send). Python's
/// `send` raises what pickling raised and writes nothing. The panic used to unwind out of `send`.
fn message_whose_serialize_panics_is_not_sent() -> Result<(), String> {
    let (tx, rx) = Pipe::<PanicsOnThree>::new().map_err(|e| e.to_string())?;
    let sent =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| tx.send(&PanicsOnThree(3))))
            .map_err(|p| format!("send panicked: {}", weft_sync::panic_message(&*p)))?;
    match sent {
        Err(ConnectionError::Encode(why)) => {
            ensure!(why.contains("PanicsOnThree refuses 3"), "{why}")
        }
        other => return Err(format!("expected Encode, got {other:?}")),
    }
    ensure!(
        !rx.poll(Duration::ZERO).map_err(|e| e.to_string())?,
        "a refused message reached the other end"
    );
    tx.send(&PanicsOnThree(4)).map_err(|e| e.to_string())?;
    let got = rx.recv_timeout(LIMIT).map_err(|e| e.to_string())?;
    ensure!(got == PanicsOnThree(4), "received {got:?} for 4");

    let (a, _b) = pipe_that_read_ahead()?;
    let (carrier, peer) =
        Pipe::<(Connection<u32>, PanicsOnThree)>::new().map_err(|e| e.to_string())?;
    let refused = (a, PanicsOnThree(3));
    let sent = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| carrier.send(&refused)))
        .map_err(|p| format!("send panicked: {}", weft_sync::panic_message(&*p)))?;
    ensure!(
        matches!(&sent, Err(ConnectionError::Encode(why)) if why.contains("refuses 3")),
        "a message with a connection: {sent:?}"
    );
    ensure!(
        !peer.poll(Duration::ZERO).map_err(|e| e.to_string())?,
        "a refused message with a connection reached the other end"
    );
    let (a, _) = refused;
    carrier
        .send(&(a, PanicsOnThree(4)))
        .map_err(|e| e.to_string())?;
    let (moved, four) = peer.recv_timeout(LIMIT).map_err(|e| e.to_string())?;
    ensure!(four == PanicsOnThree(4), "received {four:?} for 4");
    holds_two_and_three(&moved, "a send refused by a panic")
}

/// A child that returns while a process it forked holds its channel's socket open is joined
/// when it exits, with its result, as Python's `join` watches the process and not its pipes
/// (Linux: its pidfd). `join` used to wait for that process to exit.
fn join_returns_while_a_grandchild_holds_the_channel() -> Result<(), String> {
    let child = Process::new(runner::fork_sleeping_copy, ())
        .start()
        .map_err(|e| e.to_string())?;
    let joined = child.join_timeout(LIMIT);
    let grandchild = match &joined {
        Ok(pid) => *pid,
        Err((_, Some(handle))) => {
            // Still waiting: the grandchild is the process's only child of its own; end both.
            let _ = handle.kill();
            0
        }
        Err(_) => 0,
    };
    drop(runner::KillOnDrop(grandchild));
    ensure!(grandchild != 0, "join: {:?}", joined.map_err(|(e, _)| e));
    Ok(())
}

fn my_name(_: ()) -> String {
    weft_process::current_process_name().to_string()
}

fn child_knows_its_name() -> Result<(), String> {
    ensure!(
        weft_process::current_process_name() == "MainProcess",
        "parent name"
    );
    let child = Process::new(my_name, ())
        .name("worker-7")
        .start()
        .map_err(|e| e.to_string())?;
    ensure!(child.name() == "worker-7", "handle name");
    let got = child.join().map_err(|e| e.to_string())?;
    ensure!(got == "worker-7", "child saw {got:?}");
    let default = Process::new(my_name, ())
        .start()
        .map_err(|e| e.to_string())?;
    ensure!(
        default.name().starts_with("Process-"),
        "default name {}",
        default.name()
    );
    let got = default.join().map_err(|e| e.to_string())?;
    ensure!(got.starts_with("Process-"), "child saw {got:?}");
    Ok(())
}

/// The names two children of this child give themselves, default-named (started here, in a child).
fn names_below(_: ()) -> (String, String) {
    let first = Process::new(my_name, ()).start().expect("first grandchild");
    let second = Process::new(my_name, ())
        .start()
        .expect("second grandchild");
    (
        first.join().expect("first grandchild's name"),
        second.join().expect("second grandchild's name"),
    )
}

/// A child's children are named below it, as Python's (`Process-3:1`, `Process-3:2`): their
/// default names used to restart at `Process-1` in every child, repeating those of the main
/// process's children. A named child's children are numbered below its number all the same.
fn grandchildren_are_named_below_their_parent() -> Result<(), String> {
    let child = Process::new(names_below, ())
        .start()
        .map_err(|e| e.to_string())?;
    let parent = child.name().to_string();
    let (first, second) = child.join().map_err(|e| e.to_string())?;
    ensure!(
        (first.as_str(), second.as_str())
            == (&format!("{parent}:1")[..], &format!("{parent}:2")[..]),
        "the children of {parent} are named {first:?} and {second:?}"
    );
    let named = Process::new(names_below, ())
        .name("named")
        .start()
        .map_err(|e| e.to_string())?;
    let (first, second) = named.join().map_err(|e| e.to_string())?;
    let number = first
        .strip_prefix("Process-")
        .and_then(|rest| rest.strip_suffix(":1"))
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    ensure!(
        number.is_some_and(|n| second == format!("Process-{n}:2")),
        "the children of a named child are named {first:?} and {second:?}"
    );
    Ok(())
}

/// A child started from a thread that then ends must keep running: the parent-death signal is
/// tied to the thread that started it, so weft starts it from a long-lived thread.
fn start_from_a_thread() -> Result<(), String> {
    let (ours, theirs) = Pipe::<String>::new().map_err(|e| e.to_string())?;
    let child = std::thread::spawn(move || Process::new(wait_for_word, theirs).start())
        .join()
        .map_err(|_| "thread panicked".to_string())?
        .map_err(|e| e.to_string())?;
    ensure!(
        child.is_alive(),
        "child died with the thread that started it"
    );
    ours.send(&"still here".to_string())
        .map_err(|e| e.to_string())?;
    let got = child.join().map_err(|e| e.to_string())?;
    ensure!(got == "still here", "got {got:?}");
    Ok(())
}

/// The descriptors the child has beyond stdin/stdout/stderr, as readlink targets.
fn list_fds(_: ()) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc/self/fd")
        .into_iter()
        .flatten()
        .flatten()
    {
        let n: u32 = entry.file_name().to_string_lossy().parse().unwrap_or(0);
        if n < 3 {
            continue;
        }
        let target = std::fs::read_link(entry.path()).map(|p| p.display().to_string());
        match target {
            Ok(t) if t.starts_with("/proc/") && t.ends_with("/fd") => {} // read_dir's own
            Ok(t) => out.push(t),
            Err(_) => {} // the directory handle, already closed
        }
    }
    out
}

fn child_inherits_only_its_channel() -> Result<(), String> {
    // Some descriptors of our own, which must not leak into the child.
    let _pipe = Pipe::<u8>::new().map_err(|e| e.to_string())?;
    let file = std::fs::File::open("/proc/self/stat").map_err(|e| e.to_string())?;
    // One opened the way C libraries and build tools do, without close-on-exec.
    rustix::io::fcntl_setfd(&file, rustix::io::FdFlags::empty()).map_err(|e| e.to_string())?;
    let fds = Process::new(list_fds, ())
        .start()
        .map_err(ProcessError::from)
        .and_then(|c| c.join())
        .map_err(|e| e.to_string())?;
    ensure!(
        fds.len() == 1 && fds[0].starts_with("socket:"),
        "child has {fds:?}"
    );
    Ok(())
}

/// Echoes each number back doubled until the parent closes its end.
fn echo_doubled(conn: Connection<u64>) -> u64 {
    let mut count = 0;
    while let Ok(n) = conn.recv() {
        if conn.send(&(n * 2)).is_err() {
            break;
        }
        count += 1;
    }
    count
}

fn pipe_both_ways_across_processes() -> Result<(), String> {
    let (ours, theirs) = Pipe::<u64>::new().map_err(|e| e.to_string())?;
    let child = Process::new(echo_doubled, theirs)
        .start()
        .map_err(|e| e.to_string())?;
    for n in 0..200u64 {
        ours.send(&n).map_err(|e| e.to_string())?;
        let back = ours.recv_timeout(LIMIT).map_err(|e| e.to_string())?;
        ensure!(back == n * 2, "sent {n}, got {back}");
    }
    drop(ours);
    let count = child.join().map_err(|e| e.to_string())?;
    ensure!(count == 200, "child echoed {count}");
    Ok(())
}

/// A value nested 20 000 deep crosses to a child and back by every way a process sends one, each
/// side encoding and decoding it on a 256 KiB stack: through a `Pipe`, through a `ProcessQueue`,
/// as a `Process`'s argument; and a result nested [`deep::DEEP_RESULT`] deep, encoded on the
/// child's main thread, comes back. Each send used to overflow its thread's stack in postcard's
/// recursion and abort the process, so each way runs as a program of its own (the scenarios of
/// [`DEEP_WAYS`]), which prints `crossed` when the value came back.
fn deep_values_cross_processes() -> Result<(), String> {
    let mut failed = Vec::new();
    for (way, _) in DEEP_WAYS {
        let out = Command::new(std::env::current_exe().map_err(|e| e.to_string())?)
            .env(SCENARIO, way)
            .output()
            .map_err(|e| e.to_string())?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() || stdout.trim_end() != "crossed" {
            failed.push(format!(
                "{way} ended with {}:\n{stdout}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    ensure!(failed.is_empty(), "{}", failed.join("\n"));
    Ok(())
}

/// How deep the values of [`DEEP_WAYS`] are (but the result's).
const DEEP: u32 = 20_000;

/// The scenarios of [`deep_values_cross_processes`], each a way a deep value crosses.
const DEEP_WAYS: [(&str, Case); 4] = [
    ("deep-pipe", deep_through_a_pipe),
    ("deep-queue", deep_through_a_queue),
    ("deep-argument", deep_argument),
    ("deep-result", deep_result),
];

/// Sent through a `Pipe` and back, on small stacks here and in the child.
fn deep_through_a_pipe() -> Result<(), String> {
    let (ours, theirs) = Pipe::<deep::List>::new().map_err(|e| e.to_string())?;
    let child = Process::new(echo_deep, theirs)
        .start()
        .map_err(|e| e.to_string())?;
    deep::on_small_stack(move || -> Result<(), String> {
        ours.send(&deep::list_of(DEEP)).map_err(|e| e.to_string())?;
        let back = ours.recv_timeout(LIMIT).map_err(|e| e.to_string())?;
        ensure!(deep::links(&back) == Some(DEEP), "the echo is not the list");
        Ok(())
    })?;
    ensure!(
        child.join().map_err(|e| e.to_string())?,
        "the child's echo failed"
    );
    Ok(())
}

/// Put on a `ProcessQueue` here, got and put back by the child, got here, on small stacks.
fn deep_through_a_queue() -> Result<(), String> {
    let queue = weft_process::ProcessQueue::<deep::List>::with_item_limit(0, 160 << 10)
        .map_err(|e| e.to_string())?;
    let child = Process::new(requeue_deep, queue.clone())
        .start()
        .map_err(|e| e.to_string())?;
    let queue = deep::on_small_stack(move || {
        queue
            .put(deep::list_of(DEEP))
            .map(|()| queue)
            .map_err(|e| e.to_string())
    })?;
    ensure!(
        child.join().map_err(|e| e.to_string())?,
        "the child's requeue failed"
    );
    deep::on_small_stack(move || -> Result<(), String> {
        let back = queue.get_timeout(LIMIT).map_err(|e| e.to_string())?;
        ensure!(deep::links(&back) == Some(DEEP), "the item is not the list");
        Ok(())
    })
}

/// A `Process`'s argument, encoded here on a small stack.
fn deep_argument() -> Result<(), String> {
    let child = deep::on_small_stack(|| Process::new(count_links, deep::list_of(DEEP)).start())
        .map_err(|e| e.to_string())?;
    let links = child.join().map_err(|e| e.to_string())?;
    ensure!(links == Some(DEEP), "the child got {links:?} links");
    Ok(())
}

/// A `Process`'s result, encoded on the child's main thread, decoded here on a small stack.
fn deep_result() -> Result<(), String> {
    let child = Process::new(deep::list_of, deep::DEEP_RESULT)
        .start()
        .map_err(|e| e.to_string())?;
    deep::on_small_stack(move || -> Result<(), String> {
        let back = child.join().map_err(|e| e.to_string())?;
        ensure!(
            deep::links(&back) == Some(deep::DEEP_RESULT),
            "the result is not the list"
        );
        Ok(())
    })
}

/// Receives a list and sends it back, both on a small stack; whether it went.
fn echo_deep(conn: Connection<deep::List>) -> bool {
    deep::on_small_stack(move || {
        conn.recv_timeout(LIMIT)
            .is_ok_and(|list| conn.send(&list).is_ok())
    })
}

/// Gets a list and puts it back, both on a small stack; whether it went.
fn requeue_deep(queue: weft_process::ProcessQueue<deep::List>) -> bool {
    deep::on_small_stack(move || {
        queue
            .get_timeout(LIMIT)
            .is_ok_and(|list| queue.put(list).is_ok())
    })
}

/// The number of links of a list (as [`deep::links`] counts them).
fn count_links(list: deep::List) -> Option<u32> {
    deep::links(&list)
}

fn one_way_pipe_directions() -> Result<(), String> {
    let (rx, tx) = Pipe::<u32>::one_way().map_err(|e| e.to_string())?;
    ensure!(rx.readable() && !rx.writable(), "receiver flags");
    ensure!(tx.writable() && !tx.readable(), "sender flags");
    ensure!(
        matches!(rx.send(&1), Err(ConnectionError::WrongDirection)),
        "rx.send"
    );
    ensure!(
        matches!(tx.recv(), Err(ConnectionError::WrongDirection)),
        "tx.recv"
    );
    tx.send(&5).map_err(|e| e.to_string())?;
    ensure!(rx.recv().map_err(|e| e.to_string())? == 5, "value");
    Ok(())
}

/// Receives a connection through a connection, and answers on the received one.
fn answer_on_received(control: Connection<Connection<String>>) -> bool {
    match control.recv() {
        Ok(conn) => conn.send(&"via a passed connection".to_string()).is_ok(),
        Err(_) => false,
    }
}

fn connection_sent_through_a_connection() -> Result<(), String> {
    let (control, child_control) = Pipe::<Connection<String>>::new().map_err(|e| e.to_string())?;
    let child = Process::new(answer_on_received, child_control)
        .start()
        .map_err(|e| e.to_string())?;
    let (ours, theirs) = Pipe::<String>::new().map_err(|e| e.to_string())?;
    control.send(&theirs).map_err(|e| e.to_string())?;
    drop(theirs);
    let got = ours.recv_timeout(LIMIT).map_err(|e| e.to_string())?;
    ensure!(got == "via a passed connection", "got {got:?}");
    ensure!(
        child.join().map_err(|e| e.to_string())?,
        "child reported failure"
    );
    // Encoding a connection outside a weft message is an error, not a lost descriptor.
    let err = postcard::to_stdvec(&ours).err();
    ensure!(
        err.is_some(),
        "serializing a Connection with plain postcard should fail"
    );
    Ok(())
}

/// Receives a connection through a connection, and everything received on it until its other
/// end closes.
fn recv_all_on_received(control: Connection<Connection<u32>>) -> Result<Vec<u32>, String> {
    let conn = control.recv().map_err(|e| e.to_string())?;
    conn.iter()
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())
}

/// Everything received on `conn` until its other end closes.
fn recv_all(conn: Connection<u32>) -> Result<Vec<u32>, String> {
    conn.iter()
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())
}

/// Sends 1, 2 and 3 on `b`, receives 1 on `a`: the receive read the socket's 2 and 3 ahead
/// into `a`, which the socket no longer has.
fn pipe_that_read_ahead() -> Result<(Connection<u32>, Connection<u32>), String> {
    let (a, b) = Pipe::<u32>::new().map_err(|e| e.to_string())?;
    for i in 1..=3 {
        b.send(&i).map_err(|e| e.to_string())?;
    }
    ensure!(a.recv().map_err(|e| e.to_string())? == 1, "first");
    Ok((a, b))
}

/// An end that has read ahead (a receive took one message and buffered the next two) is sent
/// through a connection to a child with those messages: the child receives 2, 3 and then what
/// comes next, and this end holds none of them any more. So does an end whose message a
/// `poll` read in.
fn connection_sent_takes_what_it_read_ahead() -> Result<(), String> {
    for polled in [false, true] {
        let (control, child_control) = Pipe::<Connection<u32>>::new().map_err(|e| e.to_string())?;
        let child = Process::new(recv_all_on_received, child_control)
            .start()
            .map_err(|e| e.to_string())?;
        let (a, b) = if polled {
            let (a, b) = Pipe::<u32>::new().map_err(|e| e.to_string())?;
            b.send(&2).map_err(|e| e.to_string())?;
            ensure!(a.poll(LIMIT).map_err(|e| e.to_string())?, "poll");
            (a, b)
        } else {
            pipe_that_read_ahead()?
        };
        control.send(&a).map_err(|e| e.to_string())?;
        ensure!(
            !a.poll(Duration::ZERO).map_err(|e| e.to_string())?,
            "the sent end kept a message it had read ahead (polled: {polled})"
        );
        drop(a);
        if polled {
            b.send(&3).map_err(|e| e.to_string())?;
        }
        b.send(&4).map_err(|e| e.to_string())?;
        drop(b);
        let got = child.join().map_err(|e| e.to_string())?;
        ensure!(
            got == Ok(vec![2, 3, 4]),
            "the child got {got:?} (polled: {polled})"
        );
    }
    Ok(())
}

/// An end that has read ahead, given to a child as its argument, takes those messages along.
fn connection_started_with_takes_what_it_read_ahead() -> Result<(), String> {
    let (a, b) = pipe_that_read_ahead()?;
    let child = Process::new(recv_all, a)
        .start()
        .map_err(|e| e.to_string())?;
    b.send(&4).map_err(|e| e.to_string())?;
    drop(b);
    let got = child.join().map_err(|e| e.to_string())?;
    ensure!(got == Ok(vec![2, 3, 4]), "the child got {got:?}");
    Ok(())
}

/// Writes `bytes` to `conn`'s socket directly, as a peer would.
fn write_raw<T>(conn: &Connection<T>, bytes: &[u8]) -> Result<(), String> {
    let mut done = 0;
    while done < bytes.len() {
        done += rustix::io::write(conn, &bytes[done..]).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// What an end read of a message it has not wholly received moves with it, and the rest comes
/// from the socket; descriptors read ahead (a connection inside a message) move with their
/// message. Sent within this process, through a pipe.
fn read_ahead_moves_half_messages_and_descriptors() -> Result<(), String> {
    let (carrier_in, carrier_out) = Pipe::<Connection<u32>>::new().map_err(|e| e.to_string())?;
    // Half a frame of 7: a timed-out receive keeps what it read of it.
    let (a, b) = Pipe::<u32>::new().map_err(|e| e.to_string())?;
    let payload = postcard::to_stdvec(&7u32).map_err(|e| e.to_string())?;
    let mut frame = (payload.len() as u32).to_le_bytes().to_vec();
    frame.extend_from_slice(&[0, 0, b'w', b'f']);
    frame.extend_from_slice(&payload);
    write_raw(&b, &frame[..5])?;
    ensure!(
        matches!(
            a.recv_timeout(Duration::from_millis(20)),
            Err(ConnectionError::Timeout)
        ),
        "half a frame was received"
    );
    carrier_in.send(&a).map_err(|e| e.to_string())?;
    drop(a);
    let moved = carrier_out.recv().map_err(|e| e.to_string())?;
    write_raw(&b, &frame[5..])?;
    let got = moved.recv_timeout(LIMIT).map_err(|e| e.to_string())?;
    ensure!(got == 7, "the moved end received {got} for 7");

    // Two connections sent one after the other: receiving the first reads the second ahead,
    // with its descriptors.
    let (outer_a, outer_b) = Pipe::<Connection<u32>>::new().map_err(|e| e.to_string())?;
    let (first, _first_peer) = Pipe::<u32>::new().map_err(|e| e.to_string())?;
    let (second, second_peer) = Pipe::<u32>::new().map_err(|e| e.to_string())?;
    outer_b.send(&first).map_err(|e| e.to_string())?;
    outer_b.send(&second).map_err(|e| e.to_string())?;
    drop((first, second));
    let _first = outer_a.recv().map_err(|e| e.to_string())?;
    let (carrier_in, carrier_out) =
        Pipe::<Connection<Connection<u32>>>::new().map_err(|e| e.to_string())?;
    carrier_in.send(&outer_a).map_err(|e| e.to_string())?;
    drop(outer_a);
    let moved = carrier_out.recv().map_err(|e| e.to_string())?;
    let second = moved.recv_timeout(LIMIT).map_err(|e| e.to_string())?;
    second_peer.send(&9).map_err(|e| e.to_string())?;
    let got = second.recv_timeout(LIMIT).map_err(|e| e.to_string())?;
    ensure!(got == 9, "the connection read ahead received {got} for 9");
    Ok(())
}

/// A value whose encoding fails.
#[derive(serde::Deserialize)]
struct FailsToEncode;

impl serde::Serialize for FailsToEncode {
    fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("this value does not encode"))
    }
}

/// Takes connections and returns how many.
fn hold_connections(conns: (Connection<u32>, Vec<Connection<u8>>)) -> usize {
    conns.1.len() + 1
}

/// Checks that `a` holds 2 and 3, in order, and nothing more.
fn holds_two_and_three(a: &Connection<u32>, after: &str) -> Result<(), String> {
    for want in [2, 3] {
        let got = a.recv_timeout(Duration::from_millis(100));
        ensure!(
            matches!(got, Ok(v) if v == want),
            "after {after}: {got:?} for {want}"
        );
    }
    ensure!(
        !a.poll(Duration::ZERO).map_err(|e| e.to_string())?,
        "after {after}: more than 2 and 3"
    );
    Ok(())
}

/// The messages an end read ahead come back to it when the message carrying the end is not
/// sent: a send to a closed connection, an encode that fails after the end, a start refused, a
/// call dropped unsent. Nothing is lost or doubled.
fn read_ahead_comes_back_when_the_end_is_not_sent() -> Result<(), String> {
    let (a, _b) = pipe_that_read_ahead()?;
    let (control, gone) = Pipe::<Connection<u32>>::new().map_err(|e| e.to_string())?;
    drop(gone);
    ensure!(
        matches!(control.send(&a), Err(ConnectionError::Closed)),
        "send to a closed connection"
    );
    holds_two_and_three(&a, "a failed send")?;

    let (a, _b) = pipe_that_read_ahead()?;
    let (control, _peer) =
        Pipe::<(Connection<u32>, Vec<Connection<u8>>)>::new().map_err(|e| e.to_string())?;
    let many: Vec<Connection<u8>> = (0..40).map(|_| Pipe::<u8>::new().unwrap().0).collect();
    let value = (a, many);
    ensure!(
        matches!(control.send(&value), Err(ConnectionError::TooManyFds(41))),
        "41 connections in one message"
    );
    holds_two_and_three(&value.0, "a send of too many connections")?;

    let (a, _b) = pipe_that_read_ahead()?;
    let (control, _peer) =
        Pipe::<(Connection<u32>, FailsToEncode)>::new().map_err(|e| e.to_string())?;
    let value = (a, FailsToEncode);
    ensure!(
        matches!(control.send(&value), Err(ConnectionError::Encode(_))),
        "a value that fails to encode"
    );
    holds_two_and_three(&value.0, "a failed encode")?;

    // A start refused (too many connections) gives the argument back, its end with it.
    let (a, _b) = pipe_that_read_ahead()?;
    let many: Vec<Connection<u8>> = (0..40).map(|_| Pipe::<u8>::new().unwrap().0).collect();
    let refused = match Process::new(hold_connections, (a, many)).start() {
        Err(e) => e.into_arg(),
        Ok(child) => return Err(format!("41 connections started: {:?}", child.join())),
    };
    holds_two_and_three(&refused.0, "a refused start")?;

    // While a call holds them, the end cannot receive (what comes next is in the call), so a
    // second call made meanwhile takes nothing, and they come back in order whichever call is
    // dropped first. (A receive meanwhile used to read past them, and to get them back out of
    // order, from the review.)
    let (a, b) = pipe_that_read_ahead()?;
    let first = weft_process::Call::new(recv_all, &a).map_err(|e| e.to_string())?;
    ensure!(
        matches!(a.poll(Duration::ZERO), Err(ConnectionError::InTransit)),
        "poll while a call holds the read-ahead"
    );
    b.send(&4).map_err(|e| e.to_string())?;
    ensure!(
        matches!(a.recv(), Err(ConnectionError::InTransit)),
        "recv while a call holds the read-ahead"
    );
    let second = weft_process::Call::new(recv_all, &a).map_err(|e| e.to_string())?;
    drop(first);
    drop(second);
    for want in [2, 3, 4] {
        let got = a.recv_timeout(LIMIT);
        ensure!(
            matches!(got, Ok(v) if v == want),
            "after two calls dropped: {got:?} for {want}"
        );
    }
    Ok(())
}

fn closed_end_is_eof() -> Result<(), String> {
    let (a, b) = Pipe::<u8>::new().map_err(|e| e.to_string())?;
    a.send(&1).map_err(|e| e.to_string())?;
    drop(a);
    ensure!(
        b.recv().map_err(|e| e.to_string())? == 1,
        "the message sent before closing is lost"
    );
    ensure!(
        matches!(b.recv(), Err(ConnectionError::Closed)),
        "expected Closed"
    );
    ensure!(
        b.poll(Duration::ZERO).map_err(|e| e.to_string())?,
        "poll should report the close"
    );
    ensure!(
        matches!(b.send(&2), Err(ConnectionError::Closed)),
        "send to a closed peer"
    );
    Ok(())
}

fn recv_timeout_then_message() -> Result<(), String> {
    let (a, b) = Pipe::<String>::new().map_err(|e| e.to_string())?;
    let started = Instant::now();
    ensure!(
        matches!(
            b.recv_timeout(Duration::from_millis(20)),
            Err(ConnectionError::Timeout)
        ),
        "timeout"
    );
    ensure!(
        started.elapsed() < Duration::from_secs(10),
        "recv_timeout took {:?}",
        started.elapsed()
    );
    ensure!(
        !b.poll(Duration::ZERO).map_err(|e| e.to_string())?,
        "poll on nothing"
    );
    // Half a frame, then a timeout, then the rest: the message arrives whole.
    let (bytes, _) = (
        postcard::to_stdvec(&"hello".to_string()).map_err(|e| e.to_string())?,
        (),
    );
    let mut frame = (bytes.len() as u32).to_le_bytes().to_vec();
    frame.extend_from_slice(&[0, 0, b'w', b'f']);
    frame.extend_from_slice(&bytes);
    rustix::io::write(a.as_fd(), &frame[..5]).map_err(|e| e.to_string())?;
    ensure!(
        matches!(
            b.recv_timeout(Duration::from_millis(10)),
            Err(ConnectionError::Timeout)
        ),
        "half frame"
    );
    rustix::io::write(a.as_fd(), &frame[5..]).map_err(|e| e.to_string())?;
    let got = b.recv_timeout(Duration::MAX).map_err(|e| e.to_string())?;
    ensure!(got == "hello", "got {got:?}");
    Ok(())
}

fn frame_over_limit_refused_on_send() -> Result<(), String> {
    let (a, b) = Pipe::<Vec<u8>>::with_limit(true, 64).map_err(|e| e.to_string())?;
    let big = vec![7u8; 1000];
    match a.send(&big) {
        Err(ConnectionError::TooLarge { len, limit: 64 }) => ensure!(len > 1000, "len {len}"),
        other => return Err(format!("expected TooLarge, got {other:?}")),
    }
    a.send(&vec![1, 2, 3]).map_err(|e| e.to_string())?;
    ensure!(
        b.recv().map_err(|e| e.to_string())? == vec![1, 2, 3],
        "small message after a refused one"
    );
    Ok(())
}

fn oversized_header_is_an_error() -> Result<(), String> {
    let (a, b) = Pipe::<Vec<u8>>::new().map_err(|e| e.to_string())?;
    // A header announcing 4 GiB - 1: refused before any allocation.
    rustix::io::write(a.as_fd(), &[0xff, 0xff, 0xff, 0xff, 0, 0, b'w', b'f'])
        .map_err(|e| e.to_string())?;
    ensure!(
        matches!(b.recv(), Err(ConnectionError::TooLarge { .. })),
        "expected TooLarge"
    );
    ensure!(
        matches!(b.recv(), Err(ConnectionError::TooLarge { .. })),
        "the error must stick"
    );
    Ok(())
}

fn corrupted_frame_is_an_error() -> Result<(), String> {
    let (a, b) = Pipe::<u32>::new().map_err(|e| e.to_string())?;
    rustix::io::write(a.as_fd(), b"GET / HTTP/1.1\r\n").map_err(|e| e.to_string())?;
    ensure!(
        matches!(b.recv(), Err(ConnectionError::Corrupted(_))),
        "expected Corrupted"
    );
    // A frame that ends early.
    let (c, d) = Pipe::<u32>::new().map_err(|e| e.to_string())?;
    rustix::io::write(c.as_fd(), &[10, 0, 0, 0, 0, 0, b'w', b'f', 1]).map_err(|e| e.to_string())?;
    drop(c);
    ensure!(
        matches!(d.recv(), Err(ConnectionError::Truncated)),
        "expected Truncated"
    );
    // A frame that claims descriptors it does not carry.
    let (e, f) = Pipe::<u32>::new().map_err(|e| e.to_string())?;
    rustix::io::write(e.as_fd(), &[1, 0, 0, 0, 2, 0, b'w', b'f', 1]).map_err(|e| e.to_string())?;
    ensure!(
        matches!(f.recv(), Err(ConnectionError::Corrupted(_))),
        "expected Corrupted fds"
    );
    Ok(())
}

fn undecodable_message_keeps_connection() -> Result<(), String> {
    let (a, b) = Pipe::<Even>::new().map_err(|e| e.to_string())?;
    a.send(&Even(3)).map_err(|e| e.to_string())?;
    a.send(&Even(4)).map_err(|e| e.to_string())?;
    ensure!(
        matches!(b.recv(), Err(ConnectionError::Decode(_))),
        "expected Decode"
    );
    let next = b.recv().map_err(|e| e.to_string())?;
    ensure!(next.0 == 4, "next message {next:?}");
    // A message of another type that starts like one of this type (two bytes, read as a `u8`)
    // is not cut to its first byte.
    let (c, d) = Pipe::<u8>::new().map_err(|e| e.to_string())?;
    rustix::io::write(c.as_fd(), &[2, 0, 0, 0, 0, 0, b'w', b'f', 7, 9])
        .map_err(|e| e.to_string())?;
    c.send(&5).map_err(|e| e.to_string())?;
    ensure!(
        matches!(d.recv(), Err(ConnectionError::Decode(ref why)) if why.contains("left over")),
        "expected Decode for the left-over byte"
    );
    ensure!(
        d.recv().map_err(|e| e.to_string())? == 5,
        "the next message"
    );
    Ok(())
}

fn write_garbage(conn: Connection<u64>) -> bool {
    let junk: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    rustix::io::write(conn.as_fd(), &junk).is_ok()
}

fn child_writing_garbage() -> Result<(), String> {
    let (ours, theirs) = Pipe::<u64>::new().map_err(|e| e.to_string())?;
    let child = Process::new(write_garbage, theirs)
        .start()
        .map_err(|e| e.to_string())?;
    ensure!(
        child.join().map_err(|e| e.to_string())?,
        "child could not write"
    );
    match ours.recv_timeout(LIMIT) {
        Err(ConnectionError::Corrupted(_) | ConnectionError::TooLarge { .. }) => Ok(()),
        other => Err(format!("expected a corrupted-stream error, got {other:?}")),
    }
}

/// Runs this test binary as a program under test, returning its output.
fn run_scenario(name: &str) -> Result<std::process::Output, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    Command::new(exe)
        .env(SCENARIO, name)
        .output()
        .map_err(|e| e.to_string())
}

/// Runs scenario `name` (see [`run_scenario`]), which must exit successfully; its stdout.
fn scenario_stdout(name: &str) -> Result<String, String> {
    let out = run_scenario(name)?;
    ensure!(
        out.status.success(),
        "status {:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn missing_guard_is_a_clear_error() -> Result<(), String> {
    let stdout = scenario_stdout("no-guard")?;
    ensure!(
        stdout.contains("weft::main") && stdout.contains("weft::process::init()"),
        "message: {stdout}"
    );
    Ok(())
}

fn rebuilt_binary_is_refused() -> Result<(), String> {
    // Play the parent by hand: a child spec whose executable identity is not this one's.
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let (ours, theirs) = std::os::unix::net::UnixStream::pair().map_err(|e| e.to_string())?;
    let out = Command::new(exe)
        .env(
            "WEFT_PROCESS_CHILD",
            format!("v1 {} 1 1", std::process::id()),
        )
        .stdin(Stdio::from(std::os::fd::OwnedFd::from(theirs)))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| e.to_string())?;
    drop(ours);
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(out.status.code() == Some(2), "status {:?}", out.status);
    ensure!(stderr.contains("not the parent's"), "stderr: {stderr}");
    Ok(())
}

fn pidfd_exits(pid: u32, limit: Duration) -> Result<bool, String> {
    let pid = rustix::process::Pid::from_raw(pid as i32).ok_or("bad pid")?;
    let fd = match rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::SRCH) => return Ok(true),
        Err(e) => return Err(e.to_string()),
    };
    let mut fds = [rustix::event::PollFd::new(
        &fd,
        rustix::event::PollFlags::IN,
    )];
    let ts = rustix::event::Timespec {
        tv_sec: limit.as_secs() as i64,
        tv_nsec: 0,
    };
    Ok(rustix::event::poll(&mut fds, Some(&ts)).map_err(|e| e.to_string())? == 1)
}

fn parent_death_kills_children() -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut middle = Command::new(exe)
        .env(SCENARIO, "orphan")
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let mut line = String::new();
    BufReader::new(middle.stdout.take().ok_or("no stdout")?)
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    let grandchild: u32 = line
        .trim()
        .parse()
        .map_err(|_| format!("middle printed {line:?}"))?;
    ensure!(
        Path::new(&format!("/proc/{grandchild}")).exists(),
        "grandchild not running"
    );
    middle.kill().map_err(|e| e.to_string())?;
    middle.wait().map_err(|e| e.to_string())?;
    ensure!(
        pidfd_exits(grandchild, LIMIT)?,
        "grandchild {grandchild} outlived its parent"
    );
    Ok(())
}

fn main_waits_for_non_daemon_children() -> Result<(), String> {
    let started = Instant::now();
    let stdout = scenario_stdout("exit-sequence")?;
    // The non-daemon child finished its work before the program ended...
    ensure!(stdout.contains("late work done"), "stdout: {stdout}");
    let (main_at, child_at) = (stdout.find("main returned"), stdout.find("late work done"));
    ensure!(
        main_at.is_some() && main_at < child_at,
        "main's body must end before the child's work: {stdout}"
    );
    // ...and the daemon child, which would sleep for minutes, did not hold it up.
    ensure!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
    Ok(())
}

fn daemon_ignoring_sigterm_is_killed() -> Result<(), String> {
    let started = Instant::now();
    scenario_stdout("stubborn-daemon")?;
    ensure!(
        started.elapsed() < Duration::from_secs(30),
        "exit took {:?}",
        started.elapsed()
    );
    Ok(())
}

fn ignore_sigterm_and_nap(_: ()) {
    // SAFETY: installs the SIG_IGN disposition, no handler code; nothing else in this child
    // process deals with signals.
    unsafe { libc::signal(libc::SIGTERM, libc::SIG_IGN) };
    std::thread::sleep(Duration::from_secs(600));
}

fn nap_forever(_: ()) {
    std::thread::sleep(Duration::from_secs(600));
}

/// `weft_thread::is_exiting` holds while `main` waits for a non-daemon child, as Python's pools
/// refuse submits while its exit joins the children (after `threading._shutdown`): a daemon
/// thread there cannot make a pool and have work taken that the process's exit then cuts off.
fn is_exiting_while_main_waits_for_children() -> Result<(), String> {
    let stdout = scenario_stdout("exiting-while-children")?;
    ensure!(
        stdout.contains("exiting while main waits for the child: true"),
        "stdout: {stdout}"
    );
    Ok(())
}

fn late_work(_: ()) {
    std::thread::sleep(Duration::from_millis(300));
    println!("late work done");
    let _ = std::io::stdout().flush();
}

fn scenario(name: &str) {
    match name {
        way if way.starts_with("deep-") => weft_process::main(|| {
            let (_, run) = DEEP_WAYS
                .iter()
                .find(|(w, _)| *w == way)
                .expect("a deep way");
            match run() {
                Ok(()) => println!("crossed"),
                Err(why) => println!("{why}"),
            }
        }),
        "child-panic" => weft_process::main(|| {
            let child = Process::new(boom_on_two_threads, ())
                .name("boomer")
                .start()
                .expect("start");
            println!("pid: {}", child.pid());
            let _ = child.join();
        }),
        "no-guard" => {
            // No weft_process::main or init(): starting a process must fail, clearly.
            match Process::new(double, 1).start() {
                Err(e) => println!("{e}"),
                Ok(_) => println!("started without the guard"),
            }
        }
        "orphan" => weft_process::main(|| {
            let child = Process::new(nap_forever, ()).start().expect("start");
            println!("{}", child.pid());
            let _ = std::io::stdout().flush();
            std::thread::sleep(Duration::from_secs(600));
        }),
        "exit-sequence" => weft_process::main(|| {
            let _daemon = Process::new(nap_forever, ())
                .daemon(true)
                .start()
                .expect("daemon");
            let _worker = Process::new(late_work, ()).start().expect("worker");
            println!("main returned");
            let _ = std::io::stdout().flush();
        }),
        "exiting-while-children" => weft_process::main(|| {
            // The child runs until the daemon thread lets it go: `main` waits for it meanwhile.
            let (ours, theirs) = Pipe::<String>::new().expect("pipe");
            let _child = Process::new(wait_for_word, theirs).start().expect("child");
            let began = std::sync::Arc::new(weft_sync::Event::new());
            let b = std::sync::Arc::clone(&began);
            weft_thread::before_exit(move || b.set());
            weft_thread::Thread::new(move || {
                began.wait();
                // Once the non-daemon threads are done `main` waits for the child alone, which
                // it does until the word below: the flag must hold all that time. An exit that
                // clears it first (before the children) clears it within microseconds; the 3 s
                // only end a passing run.
                let until = Instant::now() + Duration::from_secs(3);
                let held = loop {
                    if !weft_thread::is_exiting() {
                        break false;
                    }
                    if Instant::now() > until {
                        break true;
                    }
                    std::thread::yield_now();
                };
                println!("exiting while main waits for the child: {held}");
                let _ = std::io::stdout().flush();
                let _ = ours.send(&"go".to_owned());
            })
            .daemon(true)
            .start()
            .expect("thread");
        }),
        "stubborn-daemon" => weft_process::main(|| {
            let _daemon = Process::new(ignore_sigterm_and_nap, ())
                .daemon(true)
                .start()
                .expect("daemon");
        }),
        "few-fds" => weft_process::main(|| {
            let (ours, theirs) = Pipe::<String>::new().expect("pipe");
            let earlier = Process::new(wait_for_word, theirs)
                .start_method(StartMethod::ForkServer)
                .start()
                .expect("earlier child");
            // Leave two descriptors: the new start's socket pair, and nothing for the answer.
            let open = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count()) as u64;
            let before = rustix::process::getrlimit(rustix::process::Resource::Nofile);
            let tight = rustix::process::Rlimit {
                current: Some(open + 1),
                maximum: before.maximum,
            };
            rustix::process::setrlimit(rustix::process::Resource::Nofile, tight).expect("limit");
            let squeezed = Process::new(double, 1)
                .start_method(StartMethod::ForkServer)
                .start()
                .map(|c| c.join());
            rustix::process::setrlimit(rustix::process::Resource::Nofile, before).expect("limit");
            println!("squeezed start: {squeezed:?}");
            ours.send(&"word".to_string()).expect("send");
            println!("earlier child: {:?}", earlier.join());
            let after = Process::new(double, 21)
                .start_method(StartMethod::ForkServer)
                .start()
                .map_err(ProcessError::from)
                .and_then(|c| c.join());
            println!("after: {after:?}");
            let _ = std::io::stdout().flush();
        }),
        "pre-init-fd" => {
            if let Some(path) = std::env::var_os(LOG_PATH) {
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .expect("log");
                let _ = LOG.set(file);
            }
            weft_process::main(|| {
                for (method, who) in [
                    (StartMethod::Spawn, "spawned child"),
                    (StartMethod::ForkServer, "forked child"),
                ] {
                    let wrote = Process::new(log_line, who.to_string())
                        .start_method(method)
                        .start()
                        .map_err(ProcessError::from)
                        .and_then(|c| c.join());
                    assert!(matches!(wrote, Ok(true)), "{who}: {wrote:?}");
                }
            })
        }
        "thread-before-init" => {
            let (_keep, park) = std::sync::mpsc::channel::<()>();
            std::thread::spawn(move || {
                let _ = park.recv();
            });
            weft_process::main(|| {
                // The default spawns instead, where no fork server can be had.
                let default = Process::new(double, 21)
                    .start()
                    .map_err(ProcessError::from)
                    .and_then(|c| c.join());
                println!("default: {default:?}");
                for _ in 0..2 {
                    match Process::new(double, 21)
                        .start_method(StartMethod::ForkServer)
                        .start()
                    {
                        Err(e) => println!("{e}"),
                        Ok(_) => println!("started a fork server with two threads"),
                    }
                }
                let spawned = Process::new(double, 21)
                    .start_method(StartMethod::Spawn)
                    .start()
                    .map_err(ProcessError::from)
                    .and_then(|c| c.join());
                println!("spawned: {spawned:?}");
                let _ = std::io::stdout().flush();
            })
        }
        "surroundings" => weft_process::main(|| {
            use std::io::Write as _;
            use std::os::fd::AsFd as _;
            let me = std::process::id();
            let first = Process::new(surroundings, me)
                .start()
                .map_err(ProcessError::from)
                .and_then(|c| c.join());
            let dir = std::path::PathBuf::from(std::env::var_os("WEFT_MP_DIR").expect("dir"));
            // One thread here (the children are joined): changing the environment is sound.
            let status = std::fs::read_to_string("/proc/self/status").expect("status");
            assert!(
                status.lines().any(|l| l == "Threads:\t1"),
                "more than one thread before changing the environment:\n{status}"
            );
            // SAFETY: this process has one thread (checked just above), so nothing else reads
            // or writes the environment meanwhile.
            unsafe { std::env::set_var("WEFT_MP_LATE", "set after") };
            // SAFETY: as above.
            unsafe { std::env::remove_var("WEFT_MP_EARLY") };
            std::env::set_current_dir(&dir).expect("cd");
            let out = std::fs::File::create("stdout").expect("file");
            let err = std::fs::File::create("stderr").expect("file");
            let saved_out = std::io::stdout().as_fd().try_clone_to_owned().expect("dup");
            let saved_err = std::io::stderr().as_fd().try_clone_to_owned().expect("dup");
            rustix::stdio::dup2_stdout(&out).expect("dup2");
            rustix::stdio::dup2_stderr(&err).expect("dup2");
            let second = Process::new(surroundings, me)
                .start()
                .map_err(ProcessError::from)
                .and_then(|c| c.join());
            rustix::stdio::dup2_stdout(&saved_out).expect("dup2");
            rustix::stdio::dup2_stderr(&saved_err).expect("dup2");
            println!("first: {first:?}");
            println!("second: {second:?}");
            let _ = std::io::stdout().flush();
        }),
        "closed-stdout" => {
            // SAFETY: nothing of this program holds descriptor 1 or uses stdout until the
            // scenario gives it a new one.
            unsafe { libc::close(1) };
            weft_process::main(|| {
                let first = Process::new(shout, 1)
                    .start()
                    .map_err(ProcessError::from)
                    .and_then(|c| c.join());
                let dir = std::path::PathBuf::from(std::env::var_os("WEFT_MP_DIR").expect("dir"));
                let file = std::fs::File::create(dir.join("stdout")).expect("file");
                if std::os::fd::AsRawFd::as_raw_fd(&file) == 1 {
                    // It took the free number: it is stdout now, once it loses its
                    // close-on-exec flag (as a `dup2` onto 1 would make it).
                    rustix::io::fcntl_setfd(&file, rustix::io::FdFlags::empty()).expect("setfd");
                    let _ = std::os::fd::IntoRawFd::into_raw_fd(file);
                } else {
                    rustix::stdio::dup2_stdout(&file).expect("dup2");
                }
                let second = Process::new(shout, 2)
                    .start()
                    .map_err(ProcessError::from)
                    .and_then(|c| c.join());
                let third = Process::new(shout, 3)
                    .start()
                    .map_err(ProcessError::from)
                    .and_then(|c| c.join());
                eprintln!("first: {first:?}");
                eprintln!("second: {second:?}");
                eprintln!("third: {third:?}");
            })
        }
        "server-state" => {
            // SAFETY: installs a handler that does nothing, before any thread starts.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = on_sigchld as *const () as usize;
                action.sa_flags = libc::SA_SIGINFO | libc::SA_NOCLDSTOP | libc::SA_RESTART;
                libc::sigemptyset(&mut action.sa_mask);
                libc::sigaction(libc::SIGCHLD, &action, std::ptr::null_mut());
            }
            weft_process::main(|| {
                let got = Process::new(sigchld_flags_and_parent, ())
                    .start()
                    .map_err(ProcessError::from)
                    .and_then(|c| c.join());
                let Ok((flags, parent)) = got else {
                    println!("child: {got:?}");
                    return;
                };
                println!("same flags: {}", flags == sigchld_flags());
                if parent != std::process::id() {
                    for fd in [1, 2] {
                        let target = std::fs::read_link(format!("/proc/{parent}/fd/{fd}"));
                        let name = if fd == 1 { "stdout" } else { "stderr" };
                        match target {
                            Ok(t) => println!("server {name}: {}", t.display()),
                            Err(e) => println!("server {name}: {e}"),
                        }
                    }
                }
                let _ = std::io::stdout().flush();
            })
        }
        "sigchld-ignored" => {
            // SAFETY: a standard disposition, set before any thread starts.
            unsafe { libc::signal(libc::SIGCHLD, libc::SIG_IGN) };
            weft_process::main(|| {
                let forked = Process::new(exit_seven, ())
                    .start_method(StartMethod::ForkServer)
                    .start()
                    .map_err(ProcessError::from)
                    .and_then(|c| c.join());
                println!("forked: {forked:?}");
                let ignores = Process::new(sigchld_ignored, ())
                    .start_method(StartMethod::ForkServer)
                    .start()
                    .map_err(ProcessError::from)
                    .and_then(|c| c.join());
                println!("child ignores SIGCHLD: {}", matches!(ignores, Ok(true)));
                // A subprocess the kernel reaps itself: its killer sends nothing afterwards (the
                // pid is no longer this child's), and wait reads the status as 0, as in Python.
                let mut p = weft_process::subprocess::run(["true"]).spawn().unwrap();
                let killer = p.killer();
                let pid = rustix::process::Pid::from_raw(p.pid() as i32).unwrap();
                // Blocks until the child is gone, then fails: nothing is left to wait for.
                let gone = rustix::process::waitid(
                    rustix::process::WaitId::Pid(pid),
                    rustix::process::WaitIdOptions::EXITED,
                );
                println!("auto-reaped: {:?}", gone.err());
                println!("killer after auto-reap: {:?}", killer.kill());
                println!("wait after auto-reap: {:?}", p.wait());
                let _ = std::io::stdout().flush();
            })
        }
        other => panic!("unknown scenario {other}"),
    }
}
