//! Behaviour tests for the async twins of `weft_process::subprocess` on tokio:
//! [`Run::output_async`], [`Run::spawn_async`] and `AsyncPopen`.
//!
//! Re-expresses, for async code, the cases of CPython's `Lib/test/test_subprocess.py` that
//! `subprocess.rs` covers for threads (`test_capture_output`, `test_check`, `test_timeout`,
//! `test_communicate`, `test_communicate_pipe_buf`, `test_communicate_timeout`,
//! `test_wait_timeout`, `test_terminate`, `test_kill`, `test_stderr_stdout`, `test_invalid_cmd`),
//! and of `Lib/test/test_asyncio/test_subprocess.py`: `test_stdin_stdout`, `test_communicate`,
//! `test_shell`, `test_kill`, `test_terminate`, `test_send_signal`, `test_stdin_broken_pipe`,
//! `test_cancel_make_subprocess_transport_exec` (here: a cancelled communicate loses nothing).
//!
//! No test sleeps to synchronize; `sleep 30` children are what the timeouts time. Timing
//! assertions are upper bounds with `LONG` margins.
#![cfg(feature = "async")]

use std::fs;
use std::future::Future;
use std::time::{Duration, Instant};

use weft_process::subprocess::{run, Redirect, Run, SubprocessError};

mod common;
use common::*;

/// Runs `f` on a current-thread tokio runtime with I/O and time.
fn block_on<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// Runs `f` on a two-worker tokio runtime.
fn block_on_multi<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

#[test]
fn output_async_captures() {
    let done = block_on(
        run(["sh", "-c", "echo out; echo err >&2; exit 3"])
            .capture()
            .output_async(),
    )
    .unwrap();
    assert_eq!(done.returncode, 3);
    assert_eq!(done.stdout, b"out\n");
    assert_eq!(done.stderr, b"err\n");
}

#[test]
fn output_async_input_and_check() {
    let done = block_on(
        run(["tr", "a-z", "A-Z"])
            .input("hello")
            .capture()
            .check()
            .output_async(),
    )
    .unwrap();
    assert_eq!(done.stdout, b"HELLO");
    let err = block_on(
        run(["sh", "-c", "echo why >&2; exit 5"])
            .capture()
            .check()
            .output_async(),
    )
    .unwrap_err();
    assert_eq!(err.returncode(), Some(5));
    assert_eq!(err.stderr(), b"why\n");
}

#[test]
fn output_async_timeout_kills_and_reaps() {
    let start = Instant::now();
    let err = block_on(
        run(["sh", "-c", "echo $$; echo partial >&2; exec sleep 30"])
            .capture()
            .timeout(Duration::from_millis(200))
            .output_async(),
    )
    .unwrap_err();
    let elapsed = start.elapsed();
    assert!(
        elapsed < LONG && elapsed >= Duration::from_millis(200),
        "{elapsed:?}"
    );
    assert!(err.is_timeout(), "{err:?}");
    assert_eq!(err.stderr(), b"partial\n");
    assert_reaped(first_line_pid(err.stdout()));
}

#[test]
fn output_async_timeout_ignores_grandchildren_holding_the_pipes() {
    let start = Instant::now();
    let err = block_on(
        run(["sh", "-c", "sleep 30 & echo $!; wait"])
            .capture()
            .timeout(Duration::from_millis(200))
            .output_async(),
    )
    .unwrap_err();
    assert!(start.elapsed() < LONG, "{:?}", start.elapsed());
    assert!(err.is_timeout());
    let grandchild = first_line_pid(err.stdout());
    weft_process::subprocess::check_call(["kill", "-9", &grandchild.to_string()]).unwrap();
}

#[test]
fn output_async_zero_and_max_timeouts() {
    block_on(async {
        let err = run(["sleep", "30"])
            .timeout(Duration::ZERO)
            .output_async()
            .await
            .unwrap_err();
        assert!(err.is_timeout());
        let done = run(["echo", "x"])
            .capture()
            .timeout(Duration::MAX)
            .output_async()
            .await
            .unwrap();
        assert_eq!(done.stdout, b"x\n");
    });
}

/// The longest timeout that can be added to now, less half a millisecond: a deadline in the
/// clock's last millisecond.
fn timeout_at_the_clock_end() -> Duration {
    let now = Instant::now();
    let fits = |d: Duration| now.checked_add(d).is_some();
    let (mut secs, mut top) = (0u64, u64::MAX);
    while secs < top {
        let mid = secs + (top - secs).div_ceil(2);
        if fits(Duration::from_secs(mid)) {
            secs = mid;
        } else {
            top = mid - 1;
        }
    }
    let (mut nanos, mut top) = (0u32, 999_999_999u32);
    while nanos < top {
        let mid = nanos + (top - nanos).div_ceil(2);
        if fits(Duration::new(secs, mid)) {
            nanos = mid;
        } else {
            top = mid - 1;
        }
    }
    Duration::new(secs, nanos) - Duration::from_micros(500)
}

/// A timeout whose deadline falls in the clock's last millisecond means no timeout, as
/// `Duration::MAX` does. The async waits panicked at their first poll before: tokio's timer
/// rounds a deadline up to its next millisecond, an addition that overflowed.
#[test]
fn async_timeouts_at_the_end_of_the_clock_never_fire() {
    block_on(async {
        let done = run(["echo", "x"])
            .capture()
            .timeout(timeout_at_the_clock_end())
            .output_async()
            .await
            .unwrap();
        assert_eq!(done.stdout, b"x\n");
        let mut p = run(["true"]).spawn_async().unwrap();
        let code = p.wait_timeout_async(timeout_at_the_clock_end()).await;
        assert_eq!(code.unwrap(), Some(0));
    });
}

#[test]
fn output_async_stderr_to_stdout() {
    let done = block_on(
        run(["sh", "-c", "echo 1; echo 2 >&2; echo 3"])
            .stdout(Redirect::Pipe)
            .stderr(Redirect::Stdout)
            .output_async(),
    )
    .unwrap();
    assert_eq!(done.stdout, b"1\n2\n3\n");
    assert!(done.stderr.is_empty());
}

#[test]
fn output_async_missing_program() {
    let err = block_on(run(["weft-no-such-program"]).output_async()).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("cannot run `weft-no-such-program`: No such file or directory"),
        "{err}"
    );
    let none: [&str; 0] = [];
    assert!(matches!(
        block_on(run(none).output_async()),
        Err(SubprocessError::EmptyArgs)
    ));
}

#[test]
fn output_async_bad_cwd_names_the_directory() {
    let err = block_on(run(["pwd"]).cwd("/no/such/dir/for/weft").output_async()).unwrap_err();
    assert!(
        matches!(&err, SubprocessError::Cwd { path, .. } if path.as_os_str() == "/no/such/dir/for/weft"),
        "{err:?}"
    );
}

#[test]
fn outside_a_runtime_is_an_error_not_a_panic() {
    let err = run(["true"]).spawn_async().unwrap_err();
    assert!(matches!(err, SubprocessError::Io(_)), "{err:?}");
}

#[test]
fn communicate_async_10_mib_each_way() {
    let data = pattern(BIG);
    let (out, err, code) = block_on_multi(async {
        let mut p = run(["tee", "/dev/stderr"])
            .stdin(Redirect::Pipe)
            .capture()
            .spawn_async()
            .unwrap();
        let (out, err) = p
            .communicate_timeout_async(&data, Duration::from_secs(60))
            .await
            .unwrap();
        (out, err, p.returncode())
    });
    assert_eq!((out.len(), err.len()), (BIG, BIG));
    assert!(
        out == data && err == data,
        "the output differs from the input"
    );
    assert_eq!(code, Some(0));
}

#[test]
fn communicate_async_timeout_continues() {
    block_on(async {
        let mut p = run(["sh", "-c", "echo first; echo banana >&2; exec sleep 30"])
            .capture()
            .spawn_async()
            .unwrap();
        let start = Instant::now();
        loop {
            let err = p
                .communicate_timeout_async(&[], Duration::from_millis(50))
                .await
                .unwrap_err();
            assert!(err.is_timeout(), "{err:?}");
            if err.stdout() == b"first\n" && err.stderr() == b"banana\n" {
                break;
            }
            assert!(start.elapsed() < LONG, "the output never came: {err:?}");
        }
        assert_eq!(
            p.poll(),
            None,
            "a communicate timeout leaves the child running"
        );
        assert!(matches!(
            p.communicate_async(b"late").await,
            Err(SubprocessError::InvalidArgument(_))
        ));
        p.kill().unwrap();
        let (out, err) = p.communicate_async(&[]).await.unwrap();
        assert_eq!(
            (out.as_slice(), err.as_slice()),
            (&b"first\n"[..], &b"banana\n"[..])
        );
        assert_eq!(p.returncode(), Some(-9));
    });
}

#[test]
fn communicate_async_timeout_continues_writing_the_input() {
    let data = pattern(4 * 1024 * 1024);
    let out = block_on(async {
        let mut p = run(["cat"])
            .stdin(Redirect::Pipe)
            .stdout(Redirect::Pipe)
            .spawn_async()
            .unwrap();
        match p.communicate_timeout_async(&data, Duration::ZERO).await {
            Err(e) => {
                assert!(e.is_timeout(), "{e:?}");
                p.communicate_async(&[]).await.unwrap().0
            }
            Ok((out, _)) => out,
        }
    });
    assert!(out == data, "the output differs from the input");
}

/// A `communicate_async` dropped after its first poll (a lost `select!` branch, Python's
/// cancelled `communicate()`) keeps the input it has not written: the next call, with empty
/// input, writes the rest, and the child reads all of it.
#[test]
fn a_dropped_communicate_async_keeps_the_rest_of_the_input() {
    let data = pattern(1024 * 1024);
    let (small, big) = block_on(async {
        let mut small = run(["cat"])
            .stdin(Redirect::Pipe)
            .stdout(Redirect::Pipe)
            .spawn_async()
            .unwrap();
        let mut big = run(["wc", "-c"])
            .stdin(Redirect::Pipe)
            .stdout(Redirect::Pipe)
            .spawn_async()
            .unwrap();
        for (p, input) in [(&mut small, &b"hello\n"[..]), (&mut big, &data[..])] {
            tokio::select! {
                biased;
                _ = p.communicate_async(input) => panic!("done in one poll"),
                () = std::future::ready(()) => {}
            }
        }
        (
            small.communicate_async(&[]).await.unwrap().0,
            big.communicate_async(&[]).await.unwrap().0,
        )
    });
    assert_eq!(small, b"hello\n");
    assert_eq!(String::from_utf8_lossy(&big).trim(), data.len().to_string());
}

/// Dropping an `output_async` future kills the child (Python's `subprocess.run` kills it when
/// interrupted): the child's stdout, a socket it holds until it ends, closes long before its
/// `sleep 30` would.
#[test]
fn dropping_output_async_kills_the_child() {
    use std::io::Read;
    use std::os::unix::net::UnixStream;

    let (mut ours, theirs) = UnixStream::pair().unwrap();
    let theirs = fs::File::from(std::os::fd::OwnedFd::from(theirs));
    let start = Instant::now();
    block_on(async move {
        let fut = run(["sh", "-c", "echo started; exec sleep 30"])
            .stdout(Redirect::File(theirs))
            .output_async();
        tokio::select! {
            biased;
            _ = fut => panic!("done in one poll"),
            () = std::future::ready(()) => {}
        }
    });
    ours.set_read_timeout(Some(LONG)).unwrap();
    let mut seen = Vec::new();
    ours.read_to_end(&mut seen)
        .expect("the child still holds its stdout: it was not killed");
    assert!(start.elapsed() < LONG, "{:?}", start.elapsed());
}

#[test]
fn communicate_async_broken_stdin_is_not_an_error() {
    block_on(async {
        let mut p = run(["true"]).stdin(Redirect::Pipe).spawn_async().unwrap();
        p.communicate_async(&pattern(1024 * 1024)).await.unwrap();
        assert_eq!(p.returncode(), Some(0));
    });
}

#[test]
fn wait_timeout_async_then_signals() {
    block_on(async {
        let mut p = run(["sleep", "30"]).spawn_async().unwrap();
        let start = Instant::now();
        assert_eq!(
            p.wait_timeout_async(Duration::from_millis(200))
                .await
                .unwrap(),
            None
        );
        assert!(start.elapsed() >= Duration::from_millis(200) && start.elapsed() < LONG);
        assert_eq!(p.wait_timeout_async(Duration::ZERO).await.unwrap(), None);
        assert_eq!(p.poll(), None);
        p.send_signal(0).unwrap();
        p.terminate().unwrap();
        assert_eq!(
            p.wait_timeout_async(Duration::MAX).await.unwrap(),
            Some(-15)
        );
        assert_reaped(p.pid());
        // Signals to a reaped child are no-ops.
        p.kill().unwrap();
        assert_eq!(p.returncode(), Some(-15));

        let mut p = run(["sleep", "30"]).spawn_async().unwrap();
        p.kill().unwrap();
        assert_eq!(p.wait_async().await.unwrap(), -9);

        let mut p = run(["sleep", "30"]).spawn_async().unwrap();
        assert!(p.send_signal(12345).is_err());
        p.send_signal(2).unwrap();
        assert_eq!(p.wait_async().await.unwrap(), -2);
    });
}

/// Python: `proc.kill()` from another task (here, a thread) while a task awaits `proc.wait()`,
/// in both orders.
#[test]
fn killer_stops_a_child_a_task_awaits() {
    block_on(async {
        for round in 0..10 {
            let mut p = run(["sleep", "30"]).spawn_async().unwrap();
            let killer = p.killer().unwrap();
            assert_eq!(killer_pid(&killer), format!("Some({})", p.pid()));
            let t = std::thread::spawn(move || killer.kill());
            if round % 2 == 0 {
                t.join().unwrap().unwrap();
                assert_eq!(p.wait_async().await.unwrap(), -9);
            } else {
                assert_eq!(p.wait_async().await.unwrap(), -9);
                t.join().unwrap().unwrap();
            }
        }
        // During a communicate, with a clone.
        let mut p = run(["sh", "-c", "echo started; exec sleep 30"])
            .stdout(Redirect::Pipe)
            .spawn_async()
            .unwrap();
        let killer = p.killer().unwrap().clone();
        let t = std::thread::spawn(move || killer.terminate());
        let (out, _) = p.communicate_async(&[]).await.unwrap();
        assert_eq!(p.returncode(), Some(-15));
        assert!(out.is_empty() || out == b"started\n", "{out:?}");
        t.join().unwrap().unwrap();
    });
}

/// Once the child has exited, and after tokio has reaped it (when its pid may name another
/// process), a killer sends nothing and reports no error.
#[test]
fn killer_sends_nothing_once_the_child_exited_or_was_reaped() {
    block_on(async {
        let mut p = run(["sh", "-c", "exit 3"]).spawn_async().unwrap();
        let killer = p.killer().unwrap();
        await_exit(p.pid());
        assert_eq!(killer_pid(&killer), "None");
        killer.kill().unwrap();
        killer.send_signal(0).unwrap();
        assert_eq!(p.wait_async().await.unwrap(), 3);
        killer.kill().unwrap(); // reaped: the pidfd's process is gone
        killer.terminate().unwrap();
        killer.send_signal(0).unwrap();
        assert!(killer.send_signal(12345).is_err());

        // Taken after the reap.
        let late = p.killer().unwrap();
        assert_eq!(killer_pid(&late), "None");
        late.kill().unwrap();

        // The AsyncPopen dropped while the child runs: tokio reaps it once it is killed.
        let mut p = run(["sleep", "30"]).spawn_async().unwrap();
        let pid = p.pid();
        let killer = p.killer().unwrap();
        drop(p);
        killer.kill().unwrap();
        await_exit(pid);
        // tokio reaps its orphans when it next spawns a child (or another runtime does).
        run(["true"]).output_async().await.unwrap();
        await_reaped(pid);
        killer.kill().unwrap();
    });
}

#[test]
fn streaming_async_pipes() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    block_on(async {
        let mut p = run(["cat"])
            .stdin(Redirect::Pipe)
            .stdout(Redirect::Pipe)
            .spawn_async()
            .unwrap();
        let mut stdin = p.take_stdin().unwrap();
        let mut lines = BufReader::new(p.take_stdout().unwrap()).lines();
        stdin.write_all(b"one\n").await.unwrap();
        assert_eq!(lines.next_line().await.unwrap().as_deref(), Some("one"));
        stdin.write_all(b"two\n").await.unwrap();
        assert_eq!(lines.next_line().await.unwrap().as_deref(), Some("two"));
        drop(stdin);
        assert_eq!(lines.next_line().await.unwrap(), None);
        assert_eq!(p.wait_async().await.unwrap(), 0);
    });
}

#[test]
fn many_children_at_once() {
    let outs = block_on_multi(async {
        let tasks: Vec<_> = (0..20)
            .map(|i| {
                tokio::spawn(
                    run(["sh", "-c", &format!("echo {i}")])
                        .capture()
                        .output_async(),
                )
            })
            .collect();
        let mut outs = Vec::new();
        for t in tasks {
            outs.push(t.await.unwrap().unwrap().stdout_str().trim().to_owned());
        }
        outs
    });
    let expected: Vec<String> = (0..20).map(|i| i.to_string()).collect();
    assert_eq!(outs, expected);
}

#[test]
fn futures_are_send() {
    fn send<T: Send>(_: &T) {}
    let f = run(["true"]).output_async();
    send(&f);
    drop(f);
    block_on(async {
        let mut p = run(["true"]).spawn_async().unwrap();
        let c = p.communicate_async(&[]);
        send(&c);
        c.await.unwrap();
    });
    fn run_is_send(_: Run) {}
    run_is_send(run(["true"]));
}
