//! Behaviour tests for `weft_process::subprocess` from threads: `run` and its options, the
//! redirections, `Popen` (communicate, poll, wait, wait_timeout, signals, pipes), the errors, and
//! the one-line helpers. The async twins are in `subprocess_async.rs`.
//!
//! Re-expresses cases of CPython's `Lib/test/test_subprocess.py`:
//! - `RunFuncTestCase`: `test_returncode`, `test_check`, `test_check_zero`, `test_timeout`,
//!   `test_capture_stdout`, `test_capture_stderr`, `test_capture_output`,
//!   `test_check_output_input_arg`, `test_check_output_stdin_with_input_arg`,
//!   `test_check_output_timeout`, `test_run_with_shell_timeout_and_capture_output` (here: a
//!   grandchild holding the pipes does not stall a timed-out `run`).
//! - `ProcessTestCase`: `test_call_seq`, `test_check_call_zero`, `test_check_call_nonzero`,
//!   `test_check_output`, `test_check_output_nonzero`, `test_stdin_devnull`,
//!   `test_stdout_devnull`, `test_stdin_filedes`, `test_stdout_filedes`, `test_stdout_fileobj`,
//!   `test_stdout_stderr_file`, `test_stdout_pipe`, `test_env`, `test_empty_env`, `test_cwd`,
//!   `test_invalid_cmd`, `test_file_not_found_includes_filename`,
//!   `test_file_not_found_with_bad_cwd`, `test_nonexisting_with_pipes`, `test_communicate`,
//!   `test_communicate_stdin`, `test_communicate_returns`, `test_communicate_pipe_buf` (10 MiB
//!   each way at once), `test_communicate_timeout`, `test_communicate_timeout_large_output`,
//!   `test_communicate_epipe`, `test_poll`, `test_wait`, `test_wait_timeout`,
//!   `test_zombie_fast_process_del` (a dropped `Popen` is reaped once it exits).
//! - `POSIXProcessTestCase`: `test_run_abort` (a signal death is a negative return code),
//!   `test_send_signal`, `test_kill`, `test_terminate`, `test_send_signal_dead`,
//!   `test_kill_dead`, `test_terminate_dead`, `test_stderr_stdout`, `test_stdout_stderr_order`,
//!   `test_shell_sequence`, `test_shell_string`, `test_process_group_0`.
//!
//! Not applicable: text mode, encodings and `bufsize` (weft returns bytes; `stdout_str` decodes),
//! `preexec_fn`, `close_fds`/`pass_fds` (not replicated: the child inherits every descriptor not
//! marked close-on-exec; std and weft open theirs close-on-exec), Windows cases.
//!
//! The children are standard Unix tools (`sh`, `cat`, `head`, `tee`, `sleep`, `env`, `pwd`).
//! No test sleeps to synchronize: a child that must still be running when it is killed runs
//! `sleep 30` (that sleep is what the timeouts time), children report their pids on stdout, and
//! an exit is awaited on a pidfd. Timing assertions are upper bounds only, with `LONG` margins.

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use weft_process::subprocess::{
    call, check_call, check_output, run, CompletedProcess, Killer, Popen, Redirect, SubprocessError,
};

mod common;
use common::*;

/// A path in the temp dir unique to this test process and `name`.
fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("weft-subprocess-{}-{name}", std::process::id()))
}

// ---------------------------------------------------------------------------------------------
// run: status, check, capture, input
// ---------------------------------------------------------------------------------------------

#[test]
fn returncode() {
    let done = run(["sh", "-c", "exit 47"]).output().unwrap();
    assert_eq!(done.returncode, 47);
    assert!(!done.success());
    assert_eq!(done.args, ["sh", "-c", "exit 47"]);
    assert!(
        done.stdout.is_empty() && done.stderr.is_empty(),
        "nothing captured unless asked"
    );
}

#[test]
fn check_nonzero_is_called_process_error_with_output() {
    let err = run(["sh", "-c", "echo out; echo err >&2; exit 3"])
        .capture()
        .check()
        .output()
        .unwrap_err();
    match &err {
        SubprocessError::CalledProcessError {
            args,
            returncode,
            stdout,
            stderr,
        } => {
            assert_eq!(args, &["sh", "-c", "echo out; echo err >&2; exit 3"]);
            assert_eq!(*returncode, 3);
            assert_eq!(stdout, b"out\n");
            assert_eq!(stderr, b"err\n");
        }
        other => panic!("expected CalledProcessError, got {other:?}"),
    }
    assert_eq!(err.returncode(), Some(3));
    assert_eq!(err.stdout(), b"out\n");
    assert_eq!(err.stderr(), b"err\n");
    assert_eq!(
        err.to_string(),
        "command `sh -c 'echo out; echo err >&2; exit 3'` returned non-zero exit status 3"
    );
    assert!(!err.is_timeout());
}

#[test]
fn check_zero_is_ok() {
    let done = run(["true"]).check().output().unwrap();
    assert_eq!(done.returncode, 0);
    assert!(done.success());
}

#[test]
fn check_returncode_gives_back_or_errs() {
    let ok = run(["true"]).output().unwrap();
    assert_eq!(ok.clone().check_returncode().unwrap(), ok);
    let bad = run(["sh", "-c", "echo x; exit 9"])
        .capture()
        .output()
        .unwrap();
    let err = bad.check_returncode().unwrap_err();
    assert_eq!((err.returncode(), err.stdout()), (Some(9), &b"x\n"[..]));
}

#[test]
fn capture_stdout_only() {
    let done = run(["sh", "-c", "echo out; echo err >&2"])
        .stdout(Redirect::Pipe)
        .stderr(Redirect::Null)
        .output()
        .unwrap();
    assert_eq!(done.stdout, b"out\n");
    assert!(done.stderr.is_empty());
}

#[test]
fn capture_stderr_only() {
    let done = run(["sh", "-c", "echo out; echo err >&2"])
        .stdout(Redirect::Null)
        .stderr(Redirect::Pipe)
        .output()
        .unwrap();
    assert!(done.stdout.is_empty());
    assert_eq!(done.stderr, b"err\n");
}

#[test]
fn capture_output() {
    let done = run(["sh", "-c", "echo out; echo err >&2"])
        .capture()
        .output()
        .unwrap();
    assert_eq!(done.stdout_str(), "out\n");
    assert_eq!(done.stderr_str(), "err\n");
}

#[test]
fn lossy_text() {
    let done = run(["printf", "a\\377b"]).capture().output().unwrap();
    assert_eq!(done.stdout, b"a\xffb");
    assert_eq!(done.stdout_str(), "a\u{fffd}b");
}

#[test]
fn input_bytes() {
    let done = run(["tr", "a-z", "A-Z"])
        .input("hello")
        .capture()
        .output()
        .unwrap();
    assert_eq!(done.stdout, b"HELLO");
}

#[test]
fn empty_input_closes_stdin() {
    // cat would wait for ever on an open stdin.
    let done = run(["cat"])
        .input(Vec::new())
        .capture()
        .timeout(LONG)
        .output()
        .unwrap();
    assert!(done.stdout.is_empty());
    assert_eq!(done.returncode, 0);
}

#[test]
fn big_input_through_cat() {
    let data = pattern(BIG);
    let done = run(["cat"])
        .input(data.clone())
        .capture()
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    assert_eq!(done.stdout.len(), BIG);
    assert!(done.stdout == data, "the output differs from the input");
}

#[test]
fn stdin_and_input_conflict() {
    let err = run(["cat"])
        .stdin(Redirect::Null)
        .input("x")
        .output()
        .unwrap_err();
    assert!(
        matches!(err, SubprocessError::InvalidArgument(_)),
        "{err:?}"
    );
    // An explicit pipe is what input needs anyway.
    let done = run(["cat"])
        .stdin(Redirect::Pipe)
        .input("x")
        .capture()
        .output()
        .unwrap();
    assert_eq!(done.stdout, b"x");
}

// ---------------------------------------------------------------------------------------------
// Timeouts
// ---------------------------------------------------------------------------------------------

#[test]
fn timeout_kills_and_reaps_keeping_the_output() {
    let start = Instant::now();
    let err = run(["sh", "-c", "echo $$; echo partial >&2; exec sleep 30"])
        .capture()
        .timeout(Duration::from_millis(200))
        .output()
        .unwrap_err();
    let elapsed = start.elapsed();
    assert!(elapsed < LONG, "took {elapsed:?}");
    assert!(
        elapsed >= Duration::from_millis(200),
        "gave up after {elapsed:?}"
    );
    let SubprocessError::TimeoutExpired {
        args,
        timeout,
        stdout,
        stderr,
    } = &err
    else {
        panic!("expected TimeoutExpired, got {err:?}");
    };
    assert_eq!(args[0], "sh");
    assert_eq!(*timeout, Duration::from_millis(200));
    assert_eq!(stderr, b"partial\n");
    let pid = first_line_pid(stdout);
    assert_reaped(pid);
    assert!(err.is_timeout());
    assert!(err.to_string().ends_with("timed out after 200ms"), "{err}");
}

#[test]
fn timeout_without_pipes_kills_and_reaps() {
    // The child tells its pid through a file, since nothing is piped.
    let path = temp_path("timeout-pid");
    let start = Instant::now();
    let err = run(["sh", "-c", "echo $$ > \"$0\"; exec sleep 30"])
        .arg(&path)
        .timeout(Duration::from_millis(200))
        .output()
        .unwrap_err();
    assert!(start.elapsed() < LONG);
    assert!(err.is_timeout(), "{err:?}");
    assert!(err.stdout().is_empty());
    let pid = first_line_pid(&fs::read(&path).unwrap());
    fs::remove_file(&path).unwrap();
    assert_reaped(pid);
}

#[test]
fn timeout_does_not_wait_for_grandchildren_holding_the_pipes() {
    // The shell is killed, but its background `sleep` keeps the pipes' write ends open: a
    // `run` that waited for end-of-file would hang for 30 s (as CPython's does).
    let start = Instant::now();
    let err = run(["sh", "-c", "sleep 30 & echo $!; wait"])
        .capture()
        .timeout(Duration::from_millis(200))
        .output()
        .unwrap_err();
    assert!(start.elapsed() < LONG, "took {:?}", start.elapsed());
    assert!(err.is_timeout());
    let grandchild = first_line_pid(err.stdout());
    check_call(["kill", "-9", &grandchild.to_string()]).unwrap();
}

#[test]
fn check_output_timeout() {
    let err = run(["sh", "-c", "echo BDFL; exec sleep 30"])
        .stdout(Redirect::Pipe)
        .check()
        .timeout(Duration::from_millis(300))
        .output()
        .unwrap_err();
    assert!(err.is_timeout());
    assert_eq!(err.stdout(), b"BDFL\n");
}

#[test]
fn zero_and_max_timeouts() {
    // Zero: no time at all; the child may or may not have finished at the one check.
    let start = Instant::now();
    match run(["sleep", "30"]).timeout(Duration::ZERO).output() {
        Err(e) => assert!(e.is_timeout(), "{e:?}"),
        Ok(done) => panic!("sleep 30 finished at once: {done:?}"),
    }
    assert!(start.elapsed() < LONG);
    match run(["true"]).capture().timeout(Duration::ZERO).output() {
        Ok(done) => assert_eq!(done.returncode, 0),
        Err(e) => assert!(e.is_timeout(), "{e:?}"),
    }
    // Max: no timeout.
    let done = run(["echo", "x"])
        .capture()
        .timeout(Duration::MAX)
        .output()
        .unwrap();
    assert_eq!(done.stdout, b"x\n");
    let done = run(["true"]).timeout(Duration::MAX).output().unwrap();
    assert_eq!(done.returncode, 0);
}

// ---------------------------------------------------------------------------------------------
// Environment, working directory, shell, process group
// ---------------------------------------------------------------------------------------------

#[test]
fn env_adds_to_the_inherited_environment() {
    let done = run([
        "sh",
        "-c",
        "echo $FRUIT; test -n \"$PATH\" && echo has-path",
    ])
    .env("FRUIT", "orange")
    .capture()
    .output()
    .unwrap();
    assert_eq!(done.stdout, b"orange\nhas-path\n");
}

#[test]
fn env_clear_empties_it() {
    let done = run(["/usr/bin/env"])
        .env_clear()
        .capture()
        .output()
        .unwrap();
    assert_eq!(done.stdout_str(), "");
    let done = run(["/usr/bin/env"])
        .env_clear()
        .envs([("A", "1"), ("B", "2")])
        .capture()
        .output()
        .unwrap();
    assert_eq!(done.stdout_str(), "A=1\nB=2\n");
}

/// A name with `=` in it is refused (Python's `ValueError: illegal environment variable name`):
/// the child would read `A=B=1` as `A` set to `B=1`.
#[test]
fn an_environment_variable_name_with_an_equals_sign_is_refused() {
    let err = run(["true"]).env("A=B", "1").output().unwrap_err();
    assert!(
        matches!(err, SubprocessError::InvalidArgument(m) if m.contains("environment")),
        "{err:?}"
    );
}

#[test]
fn env_remove() {
    let done = run(["sh", "-c", "echo ${WEFT_GONE-unset}"])
        .env("WEFT_GONE", "set")
        .env_remove("WEFT_GONE")
        .capture()
        .output()
        .unwrap();
    assert_eq!(done.stdout, b"unset\n");
}

#[test]
fn cwd() {
    let dir = temp_path("cwd");
    fs::create_dir_all(&dir).unwrap();
    let done = run(["pwd", "-P"]).cwd(&dir).capture().output().unwrap();
    let expected = fs::canonicalize(&dir).unwrap();
    assert_eq!(
        done.stdout_str().trim_end(),
        expected.to_string_lossy(),
        "the child ran elsewhere"
    );
    fs::remove_dir(&dir).unwrap();
}

#[test]
fn a_bad_cwd_is_named_in_the_error_not_the_program() {
    // Python: FileNotFoundError / NotADirectoryError naming the directory, not the program.
    let missing = "/no/such/directory/for/weft";
    let err = run(["pwd"]).cwd(missing).output().unwrap_err();
    let SubprocessError::Cwd { path, source } = &err else {
        panic!("expected Cwd, got {err:?}");
    };
    assert_eq!(path, Path::new(missing));
    assert_eq!(source.kind(), io::ErrorKind::NotFound);
    assert_eq!(
        err.to_string(),
        format!("cannot start a child in `{missing}`: {source}")
    );
    // A file given as the directory.
    let file = std::env::current_exe().unwrap();
    let err = run(["pwd"]).cwd(&file).output().unwrap_err();
    assert!(
        matches!(&err, SubprocessError::Cwd { path, .. } if *path == file),
        "{err:?}"
    );
    // A good directory and a missing program: the program is named.
    let err = run(["no-such-program-for-weft"])
        .cwd("/")
        .output()
        .unwrap_err();
    assert!(
        matches!(&err, SubprocessError::Spawn { program, .. } if program == "no-such-program-for-weft"),
        "{err:?}"
    );
}

#[test]
fn a_nul_byte_anywhere_is_invalid_argument() {
    // Python: ValueError: embedded null byte.
    let runs = [
        run(["echo", "a\0b"]),
        run(["ec\0ho"]),
        run(["echo"]).env("A\0B", "x"),
        run(["echo"]).env("A", "x\0"),
        run(["echo"]).cwd("/tm\0p"),
    ];
    for r in runs {
        let err = r.output().unwrap_err();
        assert!(
            matches!(err, SubprocessError::InvalidArgument("embedded null byte")),
            "{err:?}"
        );
    }
    // What is not passed is not checked, as std does: a variable only removed, or set again.
    assert!(run(["true"]).env_remove("A\0B").output().is_ok());
    assert!(run(["true"])
        .env("A", "x\0")
        .env_remove("A")
        .output()
        .is_ok());
    assert!(run(["true"]).env("A", "x\0").env("A", "y").output().is_ok());
}

#[test]
fn shell_runs_sh_c_with_python_argument_rules() {
    let done = run(["echo $0-$1 | tr a-z A-Z", "x", "y"])
        .shell(true)
        .capture()
        .output()
        .unwrap();
    assert_eq!(done.stdout, b"X-Y\n");
    assert_eq!(done.args, ["echo $0-$1 | tr a-z A-Z", "x", "y"]);
}

#[test]
fn no_shell_by_default() {
    let done = run(["echo", "$HOME; echo injected"])
        .capture()
        .output()
        .unwrap();
    assert_eq!(done.stdout, b"$HOME; echo injected\n");
}

#[test]
fn process_group_zero_makes_a_new_group() {
    // The shell leads its own group: its process group id (field 5 of stat) is its pid.
    let leads = r#"test "$(cut -d' ' -f5 /proc/$$/stat)" = "$$""#;
    assert_eq!(call(["sh", "-c", leads]).unwrap(), 1);
    let done = run(["sh", "-c", leads]).process_group(0).output().unwrap();
    assert_eq!(done.returncode, 0);
}

#[test]
fn a_negative_process_group_is_invalid_argument() {
    // It used to reach the child's `setpgid`, which failed with EINVAL, reported as
    // `Spawn { program: "true", .. }`: "cannot run `true`", blaming a program that is fine.
    // (Python ignores a negative process_group; weft refuses it, as it does other bad input.)
    for pgid in [-1, -5, i32::MIN] {
        let err = run(["true"]).process_group(pgid).output().unwrap_err();
        assert!(
            matches!(err, SubprocessError::InvalidArgument(why) if why.contains("process_group")),
            "{pgid}: {err:?}"
        );
        let err = run(["true"]).process_group(pgid).spawn().unwrap_err();
        assert!(
            matches!(err, SubprocessError::InvalidArgument(_)),
            "{pgid}: {err:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Errors before the child runs
// ---------------------------------------------------------------------------------------------

#[test]
fn missing_program_names_it() {
    let err = run(["weft-no-such-program", "arg"]).output().unwrap_err();
    let SubprocessError::Spawn { program, source } = &err else {
        panic!("expected Spawn, got {err:?}");
    };
    assert_eq!(program, "weft-no-such-program");
    assert_eq!(source.kind(), io::ErrorKind::NotFound);
    let message = err.to_string();
    assert!(
        message.starts_with("cannot run `weft-no-such-program`: No such file or directory"),
        "{message}"
    );
    // The message shows the OS error, so the chain goes on below it (as `io::Error`'s does),
    // and an OS error has nothing below it.
    assert!(std::error::Error::source(&err).is_none());
    assert_eq!(io::Error::from(err).kind(), io::ErrorKind::NotFound);
}

#[test]
fn missing_program_with_pipes() {
    let err = run(["weft-no-such-program"])
        .input("x")
        .capture()
        .spawn()
        .unwrap_err();
    assert!(matches!(err, SubprocessError::Spawn { .. }), "{err:?}");
}

#[test]
fn not_executable_is_a_spawn_error() {
    let err = run(["/dev/null"]).output().unwrap_err();
    let SubprocessError::Spawn { program, source } = &err else {
        panic!("expected Spawn, got {err:?}");
    };
    assert_eq!(program, "/dev/null");
    assert_eq!(source.kind(), io::ErrorKind::PermissionDenied);
}

#[test]
fn empty_args_is_an_error() {
    let none: [&str; 0] = [];
    assert!(matches!(
        run(none).output(),
        Err(SubprocessError::EmptyArgs)
    ));
    assert!(matches!(
        run(none).shell(true).spawn(),
        Err(SubprocessError::EmptyArgs)
    ));
    assert!(matches!(
        check_output(none),
        Err(SubprocessError::EmptyArgs)
    ));
    assert_eq!(
        SubprocessError::EmptyArgs.to_string(),
        "no program to run: the argument list is empty"
    );
}

#[test]
fn redirect_stdout_is_for_stderr_only() {
    let err = run(["true"]).stdin(Redirect::Stdout).output().unwrap_err();
    assert!(
        matches!(err, SubprocessError::InvalidArgument(_)),
        "{err:?}"
    );
    let err = run(["true"]).stdout(Redirect::Stdout).output().unwrap_err();
    assert!(
        matches!(err, SubprocessError::InvalidArgument(_)),
        "{err:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Signals
// ---------------------------------------------------------------------------------------------

#[test]
fn signal_death_is_a_negative_returncode() {
    let done = run(["sh", "-c", "kill -9 $$"]).output().unwrap();
    assert_eq!(done.returncode, -9);
    let err = run(["sh", "-c", "kill -ABRT $$"])
        .check()
        .output()
        .unwrap_err();
    assert_eq!(err.returncode(), Some(-6));
    assert!(err.to_string().ends_with("died with signal 6"), "{err}");
}

#[test]
fn terminate_kill_and_send_signal() {
    let mut p = run(["sleep", "30"]).spawn().unwrap();
    p.terminate().unwrap();
    assert_eq!(p.wait().unwrap(), -15);

    let mut p = run(["sleep", "30"]).spawn().unwrap();
    p.kill().unwrap();
    assert_eq!(p.wait().unwrap(), -9);

    let mut p = run(["sleep", "30"]).spawn().unwrap();
    p.send_signal(0).unwrap(); // alive
    p.send_signal(2).unwrap(); // SIGINT
    assert_eq!(p.wait().unwrap(), -2);
}

#[test]
fn signals_to_a_dead_child_are_no_ops() {
    let mut p = run(["true"]).spawn().unwrap();
    assert_eq!(p.wait().unwrap(), 0);
    p.send_signal(15).unwrap();
    p.terminate().unwrap();
    p.kill().unwrap();
    p.send_signal(0).unwrap();
    assert_eq!(p.returncode(), Some(0), "the status stays");
}

#[test]
fn unknown_signal_number_is_refused() {
    let mut p = run(["sleep", "30"]).spawn().unwrap();
    let err = p.send_signal(12345).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    let err = p.send_signal(-1).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert_eq!(p.poll(), None, "refused signals are not sent");
    p.kill().unwrap();
    assert_eq!(p.wait().unwrap(), -9);
}

// ---------------------------------------------------------------------------------------------
// Killer: signals from another thread
// ---------------------------------------------------------------------------------------------

#[test]
fn killer_is_send_sync_and_clone() {
    fn check<T: Send + Sync + Clone + 'static>() {}
    check::<Killer>();
}

#[test]
fn killer_stops_a_child_another_thread_waits_for() {
    // Python: threading.Timer(t, p.kill).start(); p.wait(), in both orders of kill and wait.
    for round in 0..20 {
        let mut p = run(["sleep", "30"]).spawn().unwrap();
        let killer = p.killer();
        assert_eq!(killer_pid(&killer), format!("Some({})", p.pid()));
        let t = std::thread::spawn(move || killer.kill());
        if round % 2 == 0 {
            t.join().unwrap().unwrap();
            assert_eq!(p.wait().unwrap(), -9);
        } else {
            assert_eq!(p.wait().unwrap(), -9);
            t.join().unwrap().unwrap();
        }
    }
}

#[test]
fn killer_stops_a_child_during_communicate() {
    let mut p = run(["sh", "-c", "echo started; exec sleep 30"])
        .stdout(Redirect::Pipe)
        .spawn()
        .unwrap();
    let killer = p.killer();
    let t = std::thread::spawn(move || killer.terminate());
    let started = Instant::now();
    let (out, _) = p.communicate(&[]).unwrap();
    assert!(started.elapsed() < LONG);
    assert_eq!(p.returncode(), Some(-15));
    // The signal may have come before the echo or after it.
    assert!(out.is_empty() || out == b"started\n", "{out:?}");
    t.join().unwrap().unwrap();
}

#[test]
fn killer_sends_nothing_once_the_child_exited_or_was_reaped() {
    let mut p = run(["sh", "-c", "exit 3"]).spawn().unwrap();
    let killer = p.killer();
    await_exit(p.pid()); // exited, not reaped: nothing is sent
    killer.kill().unwrap();
    killer.send_signal(0).unwrap();
    assert_eq!(killer_pid(&killer), format!("Some({})", p.pid()));
    assert_eq!(p.wait().unwrap(), 3);
    // Reaped: the pid is free for the system to reuse, and the killers forget it.
    assert_eq!(killer_pid(&killer), "None");
    killer.kill().unwrap();
    killer.terminate().unwrap();
    killer.send_signal(0).unwrap();
    assert_eq!(killer_pid(&p.killer()), "None");
    assert_eq!(p.returncode(), Some(3));

    // Taken after the reap.
    let mut p = run(["true"]).spawn().unwrap();
    assert_eq!(p.wait().unwrap(), 0);
    let late = p.killer();
    assert_eq!(killer_pid(&late), "None");
    late.kill().unwrap();

    // Reaped by poll and by wait_timeout.
    let mut p = run(["true"]).spawn().unwrap();
    let killer = p.killer();
    await_exit(p.pid());
    assert_eq!(p.poll(), Some(0));
    assert_eq!(killer_pid(&killer), "None");
    let mut p = run(["sleep", "30"]).spawn().unwrap();
    let killer = p.killer();
    assert_eq!(p.wait_timeout(Duration::ZERO).unwrap(), None);
    killer.kill().unwrap();
    assert_eq!(p.wait_timeout(LONG).unwrap(), Some(-9));
    assert_eq!(killer_pid(&killer), "None");
}

#[test]
fn killer_outlives_its_dropped_popen() {
    let mut p = run(["sleep", "30"]).spawn().unwrap();
    let pid = p.pid();
    let killer = p.killer();
    drop(p); // still running: kept to be reaped later
    killer.kill().unwrap();
    await_exit(pid);
    run(["true"]).output().unwrap(); // the next spawn reaps it...
    assert_reaped(pid);
    assert_eq!(killer_pid(&killer), "None"); // ...under the killers' lock
    killer.kill().unwrap();
}

#[test]
fn killer_refuses_unknown_signals() {
    let mut p = run(["sleep", "30"]).spawn().unwrap();
    let killer = p.killer();
    for bad in [12345, -1] {
        let err = killer.send_signal(bad).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }
    assert_eq!(p.poll(), None, "refused signals are not sent");
    killer.send_signal(9).unwrap();
    assert_eq!(p.wait().unwrap(), -9);
}

// ---------------------------------------------------------------------------------------------
// Redirections
// ---------------------------------------------------------------------------------------------

#[test]
fn stderr_to_stdout_keeps_the_order() {
    let done = run(["sh", "-c", "echo 1; echo 2 >&2; echo 3; echo 4 >&2"])
        .stdout(Redirect::Pipe)
        .stderr(Redirect::Stdout)
        .output()
        .unwrap();
    assert_eq!(done.stdout, b"1\n2\n3\n4\n");
    assert!(done.stderr.is_empty());
}

#[test]
fn stderr_to_stdout_with_capture_order_independent() {
    // `.stderr(Redirect::Stdout)` after `.capture()` overrides the stderr pipe.
    let done = run(["sh", "-c", "echo a >&2"])
        .capture()
        .stderr(Redirect::Stdout)
        .output()
        .unwrap();
    assert_eq!(
        (done.stdout.as_slice(), done.stderr.as_slice()),
        (&b"a\n"[..], &b""[..])
    );
}

#[test]
fn stderr_to_stdout_into_a_file_and_to_null() {
    let path = temp_path("merged");
    run(["sh", "-c", "echo out; echo err >&2"])
        .stdout(File::create(&path).unwrap())
        .stderr(Redirect::Stdout)
        .check()
        .output()
        .unwrap();
    assert_eq!(fs::read_to_string(&path).unwrap(), "out\nerr\n");
    fs::remove_file(&path).unwrap();

    let done = run(["sh", "-c", "echo out; echo err >&2"])
        .stdout(Redirect::Null)
        .stderr(Redirect::Stdout)
        .output()
        .unwrap();
    assert!(done.stdout.is_empty() && done.stderr.is_empty());
}

#[test]
fn stdout_to_a_file() {
    let path = temp_path("stdout-file");
    let done = run(["echo", "in the file"])
        .stdout(File::create(&path).unwrap())
        .output()
        .unwrap();
    assert!(done.stdout.is_empty());
    assert_eq!(fs::read_to_string(&path).unwrap(), "in the file\n");
    fs::remove_file(&path).unwrap();
}

#[test]
fn stdout_to_an_owned_fd() {
    let (reader, writer) = rustix::pipe::pipe().unwrap();
    run(["echo", "through a pipe"])
        .stdout(Redirect::from(writer))
        .output()
        .unwrap();
    let mut text = String::new();
    File::from(reader).read_to_string(&mut text).unwrap();
    assert_eq!(text, "through a pipe\n");
}

#[test]
fn stdin_from_a_file() {
    let path = temp_path("stdin-file");
    fs::write(&path, "from the file").unwrap();
    let done = run(["cat"])
        .stdin(File::open(&path).unwrap())
        .capture()
        .output()
        .unwrap();
    assert_eq!(done.stdout, b"from the file");
    fs::remove_file(&path).unwrap();
}

#[test]
fn devnull() {
    // stdin from /dev/null: cat sees end-of-file at once.
    let done = run(["cat"])
        .stdin(Redirect::Null)
        .capture()
        .timeout(LONG)
        .output()
        .unwrap();
    assert!(done.stdout.is_empty());
    let done = run(["echo", "gone"])
        .stdout(Redirect::Null)
        .output()
        .unwrap();
    assert!(done.stdout.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Popen: communicate
// ---------------------------------------------------------------------------------------------

#[test]
fn communicate_returns_both_streams() {
    let mut p = run(["sh", "-c", "cat; echo done >&2; exit 2"])
        .stdin(Redirect::Pipe)
        .capture()
        .spawn()
        .unwrap();
    let (out, err) = p.communicate(b"pineapple").unwrap();
    assert_eq!(out, b"pineapple");
    assert_eq!(err, b"done\n");
    assert_eq!(p.returncode(), Some(2));
    assert!(p.stdin().is_none() && p.stdout().is_none() && p.stderr().is_none());
}

#[test]
fn communicate_without_pipes_just_waits() {
    let mut p = run(["sh", "-c", "exit 4"]).spawn().unwrap();
    assert_eq!(p.communicate(&[]).unwrap(), (Vec::new(), Vec::new()));
    assert_eq!(p.returncode(), Some(4));
}

#[test]
fn communicate_10_mib_on_stdout_and_stderr_at_once() {
    // Both writers run at the same time; a parent reading one pipe to its end first would
    // deadlock with the other one full.
    let mut p = run([
        "sh",
        "-c",
        "head -c 10485760 /dev/zero & head -c 10485760 /dev/zero >&2; wait",
    ])
    .capture()
    .spawn()
    .unwrap();
    let (out, err) = p.communicate_timeout(&[], Duration::from_secs(60)).unwrap();
    assert_eq!(out.len(), BIG);
    assert_eq!(err.len(), BIG);
    assert!(out.iter().chain(&err).all(|&b| b == 0));
    assert_eq!(p.returncode(), Some(0));
}

#[test]
fn communicate_10_mib_in_while_10_mib_out_on_both() {
    // tee copies its input to stdout and stderr as it reads: 10 MiB in, 10 MiB out twice, all
    // in flight together.
    let data = pattern(BIG);
    let mut p = run(["tee", "/dev/stderr"])
        .stdin(Redirect::Pipe)
        .capture()
        .spawn()
        .unwrap();
    let (out, err) = p
        .communicate_timeout(&data, Duration::from_secs(60))
        .unwrap();
    assert_eq!((out.len(), err.len()), (BIG, BIG));
    assert!(out == data, "stdout differs from the input");
    assert!(err == data, "stderr differs from the input");
    assert_eq!(p.returncode(), Some(0));
}

#[test]
fn communicate_ignores_a_child_that_does_not_read() {
    // `true` exits without reading: the writes fail with EPIPE, which is not an error.
    let mut p = run(["true"]).stdin(Redirect::Pipe).spawn().unwrap();
    let (out, err) = p.communicate(&pattern(1024 * 1024)).unwrap();
    assert!(out.is_empty() && err.is_empty());
    assert_eq!(p.returncode(), Some(0));
}

#[test]
fn communicate_input_needs_a_stdin_pipe() {
    let mut p = run(["true"]).spawn().unwrap();
    let err = p.communicate(b"lost").unwrap_err();
    assert!(
        matches!(err, SubprocessError::InvalidArgument(_)),
        "{err:?}"
    );
    assert_eq!(p.wait().unwrap(), 0);
}

#[test]
fn communicate_timeout_keeps_the_output_and_continues() {
    let mut p = run(["sh", "-c", "echo first; echo banana >&2; exec sleep 30"])
        .capture()
        .spawn()
        .unwrap();
    // Each timed-out call returns everything read so far; wait (boundedly) until the child's
    // writes have arrived.
    let start = Instant::now();
    let err = loop {
        let err = p
            .communicate_timeout(&[], Duration::from_millis(50))
            .unwrap_err();
        assert!(err.is_timeout(), "{err:?}");
        if err.stdout() == b"first\n" && err.stderr() == b"banana\n" {
            break err;
        }
        assert!(start.elapsed() < LONG, "the output never came: {err:?}");
    };
    assert_eq!(err.args().unwrap()[0], "sh");
    assert_eq!(
        p.poll(),
        None,
        "a communicate timeout leaves the child running"
    );
    // Input once communication started is refused.
    let refused = p.communicate(b"late").unwrap_err();
    assert!(matches!(refused, SubprocessError::InvalidArgument(_)));
    // Python's recovery: kill, then communicate to collect the rest.
    p.kill().unwrap();
    let (out, errout) = p.communicate(&[]).unwrap();
    assert_eq!(out, b"first\n");
    assert_eq!(errout, b"banana\n");
    assert_eq!(p.returncode(), Some(-9));
}

#[test]
fn communicate_timeout_continues_writing_the_input() {
    let data = pattern(4 * 1024 * 1024);
    let mut p = run(["cat"])
        .stdin(Redirect::Pipe)
        .stdout(Redirect::Pipe)
        .spawn()
        .unwrap();
    // Zero time: at most one round of the loop, far from 4 MiB through a 64 KiB pipe.
    let out = match p.communicate_timeout(&data, Duration::ZERO) {
        Err(e) => {
            assert!(e.is_timeout(), "{e:?}");
            assert!(e.stdout().len() < data.len());
            p.communicate_timeout(&[], Duration::MAX).unwrap().0
        }
        Ok((out, _)) => out,
    };
    assert!(out == data, "the output differs from the input");
    assert_eq!(p.returncode(), Some(0));
}

#[test]
fn communicate_after_completion_returns_nothing_more() {
    let mut p = run(["echo", "once"])
        .stdout(Redirect::Pipe)
        .spawn()
        .unwrap();
    assert_eq!(p.communicate(&[]).unwrap().0, b"once\n");
    assert_eq!(p.communicate(&[]).unwrap(), (Vec::new(), Vec::new()));
}

// ---------------------------------------------------------------------------------------------
// Popen: poll, wait, wait_timeout, pipes, drop
// ---------------------------------------------------------------------------------------------

#[test]
fn poll_and_wait() {
    let mut p = run(["cat"]).stdin(Redirect::Pipe).spawn().unwrap();
    assert_eq!(p.poll(), None, "cat waits for input");
    assert_eq!(p.returncode(), None);
    drop(p.take_stdin());
    assert_eq!(p.wait().unwrap(), 0);
    assert_eq!(p.poll(), Some(0));
    assert_eq!(p.returncode(), Some(0));
    assert_eq!(p.wait().unwrap(), 0, "wait again gives the same status");
}

#[test]
fn wait_timeout_none_then_killable() {
    let mut p = run(["sleep", "30"]).spawn().unwrap();
    let start = Instant::now();
    assert_eq!(p.wait_timeout(Duration::from_millis(200)).unwrap(), None);
    let elapsed = start.elapsed();
    assert!(
        elapsed >= Duration::from_millis(200),
        "returned after {elapsed:?}"
    );
    assert!(elapsed < LONG, "returned after {elapsed:?}");
    assert_eq!(p.wait_timeout(Duration::ZERO).unwrap(), None);
    assert_eq!(p.poll(), None, "still running after the timeouts");
    p.kill().unwrap();
    assert_eq!(p.wait_timeout(Duration::MAX).unwrap(), Some(-9));
    assert_reaped(p.pid());
}

#[test]
fn wait_timeout_wakes_when_the_child_exits() {
    let mut p = run(["cat"]).stdin(Redirect::Pipe).spawn().unwrap();
    drop(p.take_stdin()); // cat exits soon
    let start = Instant::now();
    assert_eq!(p.wait_timeout(Duration::from_secs(60)).unwrap(), Some(0));
    assert!(
        start.elapsed() < LONG,
        "slept past the exit: {:?}",
        start.elapsed()
    );
}

#[test]
fn streaming_stdout_line_by_line() {
    let mut p = run(["sh", "-c", "for i in 1 2 3; do echo line $i; done"])
        .stdout(Redirect::Pipe)
        .spawn()
        .unwrap();
    let lines: Vec<String> = BufReader::new(p.take_stdout().unwrap())
        .lines()
        .collect::<io::Result<_>>()
        .unwrap();
    assert_eq!(lines, ["line 1", "line 2", "line 3"]);
    assert_eq!(p.wait().unwrap(), 0);
}

#[test]
fn writing_stdin_directly() {
    let mut p = run(["tr", "a-z", "A-Z"])
        .stdin(Redirect::Pipe)
        .stdout(Redirect::Pipe)
        .spawn()
        .unwrap();
    p.stdin().unwrap().write_all(b"quiet").unwrap();
    drop(p.take_stdin());
    let mut out = String::new();
    p.stdout().unwrap().read_to_string(&mut out).unwrap();
    assert_eq!(out, "QUIET");
    assert_eq!(p.wait().unwrap(), 0);
    assert!(p.take_stderr().is_none(), "stderr was not piped");
}

#[test]
fn pid_and_args() {
    let mut p = run(["sh", "-c", "echo $$"])
        .stdout(Redirect::Pipe)
        .spawn()
        .unwrap();
    assert_eq!(p.args(), ["sh", "-c", "echo $$"]);
    let (out, _) = p.communicate(&[]).unwrap();
    assert_eq!(first_line_pid(&out), p.pid());
    let debug = format!("{p:?}");
    assert!(
        debug.starts_with("Popen {") && debug.contains("returncode: Some(0)"),
        "{debug}"
    );
}

#[test]
fn dropped_popen_is_reaped_after_it_exits() {
    let mut p = run(["cat"]).stdin(Redirect::Pipe).spawn().unwrap();
    let pid = p.pid();
    let stdin = p.take_stdin();
    drop(p); // still running: cat waits for input
    assert!(matches!(proc_stat(pid), Some((state, _)) if state != 'Z'));
    drop(stdin); // now cat exits...
    await_exit(pid); // ...and is a zombie until someone reaps it
                     // The next spawn reaps it (Python's _cleanup).
    run(["true"]).output().unwrap();
    assert_reaped(pid);
}

#[test]
fn dropped_exited_popen_is_reaped_at_once() {
    let mut p = run(["cat"]).stdin(Redirect::Pipe).spawn().unwrap();
    let pid = p.pid();
    drop(p.take_stdin());
    await_exit(pid);
    drop(p);
    assert_reaped(pid);
}

// ---------------------------------------------------------------------------------------------
// One-line helpers
// ---------------------------------------------------------------------------------------------

#[test]
fn check_output_call_check_call() {
    assert_eq!(check_output(["echo", "BDFL"]).unwrap(), b"BDFL\n");
    let err = check_output(["sh", "-c", "echo partial; exit 5"]).unwrap_err();
    assert_eq!(
        (err.returncode(), err.stdout()),
        (Some(5), &b"partial\n"[..])
    );
    assert_eq!(call(["sh", "-c", "exit 47"]).unwrap(), 47);
    check_call(["true"]).unwrap();
    assert_eq!(
        check_call(["sh", "-c", "exit 47"])
            .unwrap_err()
            .returncode(),
        Some(47)
    );
    assert!(matches!(
        call(["weft-no-such-program"]),
        Err(SubprocessError::Spawn { .. })
    ));
}

#[test]
fn builder_args_and_os_strings() {
    let odd = OsString::from("with space");
    let done: CompletedProcess = run(["printf"])
        .arg("%s|%s")
        .args([odd.as_os_str(), "x".as_ref()])
        .capture()
        .output()
        .unwrap();
    assert_eq!(done.stdout, b"with space|x");
    assert_eq!(done.args, ["printf", "%s|%s", "with space", "x"]);
}

#[test]
fn auto_traits() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send::<Popen>();
    send_sync::<SubprocessError>();
    send_sync::<CompletedProcess>();
    send::<weft_process::subprocess::Run>();
}

#[test]
fn debug_output_is_cut() {
    let done = run(["head", "-c", "100000", "/dev/zero"])
        .capture()
        .output()
        .unwrap();
    let debug = format!("{done:?}");
    assert!(debug.len() < 2000, "{} bytes of Debug", debug.len());
    assert!(debug.contains("... (100000 bytes)"), "{debug}");
    let err = run(["sh", "-c", "echo hi; exit 1"])
        .capture()
        .check()
        .output()
        .unwrap_err();
    let debug = format!("{err:?}");
    assert!(debug.contains(r#"stdout: b"hi\n""#), "{debug}");
}
