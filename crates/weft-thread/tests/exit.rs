//! Python's exit rule, tested on real processes: `weft_thread::main` waits for non-daemon threads
//! and not for daemon ones, `wait_non_daemon` does the same without `main`, a panicking thread is
//! reported once by the excepthook, and a panic in the main body still waits for the others.
//! Also: the exit rule waits for a finished thread's clean-up (the drop of a result no handle
//! will take, its thread-locals' destructors), and a panic on the smallest stack weft accepts is
//! reported with its backtrace instead of overflowing the stack. A panic that cannot unwind (a
//! debug build's precondition check) is printed before the abort, and `RUST_BACKTRACE` (not
//! `RUST_LIB_BACKTRACE`) decides a panic's backtrace and its format. A `before_exit` function's
//! panic whose report cannot be written (stderr on `/dev/full`) still lets `main` run the other
//! functions and wait.
//! (CPython's `test_threading.ThreadJoinOnShutdown` and `test_daemon_threads_*` check the same.)
//!
//! This file has its own `main` (`harness = false`): run with `WEFT_EXIT_SCENARIO=<name>` it *is*
//! the program under test; run without, it starts itself once per scenario and checks what the
//! child printed and how it ended. It prints cargo-test-style lines so `cargo xtask test` counts
//! its cases.

use std::process::{Command, Output};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use weft_sync::Event;

const SCENARIO: &str = "WEFT_EXIT_SCENARIO";
/// How long a child may take before the test fails instead of hanging.
const CHILD_LIMIT: Duration = Duration::from_secs(60);
/// How long the daemon thread would keep running if the process waited for it.
const DAEMON_NAP: Duration = Duration::from_secs(120);
/// The work a non-daemon thread still has to do after the main body has returned; a process that
/// did not wait for it would exit long before.
const LATE_WORK: Duration = Duration::from_millis(300);

fn main() {
    if let Ok(name) = std::env::var(SCENARIO) {
        child(&name);
        return;
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        for (name, _) in CASES {
            println!("{name}: test");
        }
        return;
    }
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let cases: Vec<_> = CASES
        .iter()
        .filter(|(name, _)| filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str())))
        .collect();
    println!("\nrunning {} tests", cases.len());
    let mut failed = Vec::new();
    for (name, check) in &cases {
        match run_child(name).and_then(|(out, took)| check(&out, took)) {
            Ok(()) => println!("test {name} ... ok"),
            Err(why) => {
                println!("test {name} ... FAILED\n  {why}");
                failed.push(*name);
            }
        }
    }
    let passed = cases.len() - failed.len();
    println!(
        "\ntest result: {}. {passed} passed; {} failed; 0 ignored; 0 measured; {} filtered out\n",
        if failed.is_empty() { "ok" } else { "FAILED" },
        failed.len(),
        CASES.len() - cases.len()
    );
    if !failed.is_empty() {
        std::process::exit(101);
    }
}

type Check = fn(&Output, Duration) -> Result<(), String>;

const CASES: &[(&str, Check)] = &[
    ("main_waits_for_non_daemon_thread", check_non_daemon),
    ("main_does_not_wait_for_daemon_thread", check_daemon),
    ("wait_non_daemon_without_main", check_wait_non_daemon),
    (
        "panic_in_thread_reported_once_with_its_name",
        check_panic_report,
    ),
    (
        "panic_in_main_body_still_waits_then_fails",
        check_main_panic,
    ),
    (
        "first_thread_started_while_unwinding",
        check_started_while_unwinding,
    ),
    (
        "panic_while_unwinding_in_a_thread_is_printed",
        check_double_panic,
    ),
    (
        "non_unwinding_panic_in_a_thread_is_printed",
        check_non_unwinding,
    ),
    (
        "uninhabited_zeroed_in_a_thread_is_printed",
        check_uninhabited,
    ),
    (
        "backtrace_follows_rust_backtrace_not_rust_lib_backtrace",
        check_backtrace_short,
    ),
    (
        "backtrace_off_when_only_rust_lib_backtrace_asks",
        check_backtrace_off,
    ),
    (
        "backtrace_full_when_rust_backtrace_is_full",
        check_backtrace_full,
    ),
    (
        "main_waits_for_a_detached_result_and_thread_locals",
        check_clean_up,
    ),
    (
        "wait_non_daemon_waits_for_a_detached_result_and_thread_locals",
        check_clean_up,
    ),
    (
        "a_thread_local_destructor_may_join_a_thread_in_wait_non_daemon",
        check_join_from_clean_up,
    ),
    (
        "wait_non_daemon_from_a_clean_up_waits_for_the_running_bodies",
        check_wait_from_clean_up,
    ),
    (
        "panic_with_backtrace_on_the_smallest_stack",
        check_small_stack,
    ),
    (
        "panic_with_backtrace_deep_in_a_small_stack",
        check_small_stack,
    ),
    (
        "before_exit_runs_after_the_body_before_the_wait",
        check_before_exit,
    ),
    #[cfg(target_os = "linux")]
    (
        "before_exit_panic_with_an_unwritable_stderr_still_waits",
        check_before_exit_unwritable_stderr,
    ),
    ("catch_panic_prints_nothing", check_catch_panic),
    (
        "a_nested_catch_panics_payload_drop_is_printed",
        check_nested_payload_drop,
    ),
];

/// Runs this binary as the program of scenario `name`; gives its output and run time.
fn run_child(name: &str) -> Result<(Output, Duration), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let start = Instant::now();
    let mut command = Command::new(exe);
    command
        .env(SCENARIO, name)
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE");
    match name {
        "backtrace_follows_rust_backtrace_not_rust_lib_backtrace" => {
            command
                .env("RUST_BACKTRACE", "1")
                .env("RUST_LIB_BACKTRACE", "0");
        }
        "backtrace_off_when_only_rust_lib_backtrace_asks" => {
            command.env("RUST_LIB_BACKTRACE", "1");
        }
        "backtrace_full_when_rust_backtrace_is_full" => {
            command.env("RUST_BACKTRACE", "full");
        }
        _ if name.contains("backtrace") => {
            command.env("RUST_BACKTRACE", "1");
        }
        _ => {}
    }
    command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    if name == "before_exit_panic_with_an_unwritable_stderr_still_waits" {
        // Every write to it fails (ENOSPC).
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .map_err(|e| format!("cannot open /dev/full: {e}"))?;
        command.stderr(full);
    }
    let child = command
        .spawn()
        .map_err(|e| format!("cannot start the child: {e}"))?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(CHILD_LIMIT) {
        Ok(Ok(out)) => Ok((out, start.elapsed())),
        Ok(Err(e)) => Err(format!("waiting for the child failed: {e}")),
        Err(_) => Err(format!("the child did not exit within {CHILD_LIMIT:?}")),
    }
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ensure(ok: bool, what: &str, out: &Output) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        let (stdout, stderr) = text(out);
        Err(format!(
            "{what}\n  status: {}\n  stdout: {stdout:?}\n  stderr: {stderr:?}",
            out.status
        ))
    }
}

/// Lines in order: `before` must come, and then `after`.
fn in_order(stdout: &str, before: &str, after: &str) -> bool {
    match (stdout.find(before), stdout.find(after)) {
        (Some(b), Some(a)) => b < a,
        _ => false,
    }
}

/// Starts a non-daemon thread that, once `gate` is set, works for `LATE_WORK` and then prints.
fn late_worker(gate: &std::sync::Arc<Event>) {
    let gate = std::sync::Arc::clone(gate);
    weft_thread::Thread::new(move || {
        gate.wait();
        std::thread::sleep(LATE_WORK); // the work still to do after main's body returned
        println!("non-daemon thread finished");
    })
    .name("late")
    .start()
    .expect("thread starts");
}

/// Prints when dropped, after `LATE_WORK` of clean-up: the result of a detached thread, or a
/// thread-local's value.
struct SlowDrop(&'static str);

impl Drop for SlowDrop {
    fn drop(&mut self) {
        std::thread::sleep(LATE_WORK); // the clean-up still to do after the body ended
        println!("dropped the {}", self.0);
    }
}

thread_local! {
    static SLOW: std::cell::RefCell<Option<SlowDrop>> = const { std::cell::RefCell::new(None) };
    static JOINS: std::cell::RefCell<Option<JoinOnDrop>> = const { std::cell::RefCell::new(None) };
    static WAITS: std::cell::RefCell<Option<WaitOnDrop>> = const { std::cell::RefCell::new(None) };
}

/// Calls `wait_non_daemon` when dropped: from a thread's clean-up.
struct WaitOnDrop;

impl Drop for WaitOnDrop {
    fn drop(&mut self) {
        weft_thread::wait_non_daemon();
        println!("the clean-up was released");
    }
}

/// Joins its thread when dropped: a thread-local destructor that waits for another thread.
struct JoinOnDrop(Option<weft_thread::ThreadHandle<()>>);

impl Drop for JoinOnDrop {
    fn drop(&mut self) {
        if let Some(handle) = self.0.take() {
            handle.join().expect("the joined thread ends");
            println!("the clean-up joined the waiting thread");
        }
    }
}

/// Starts two detached non-daemon threads whose clean-up takes `LATE_WORK` after their bodies:
/// one returns a `SlowDrop` that no handle takes, the other leaves one in a thread-local.
fn detached_clean_up() {
    drop(weft_thread::spawn(|| SlowDrop("detached result")).expect("thread starts"));
    drop(
        weft_thread::spawn(|| SLOW.with(|s| *s.borrow_mut() = Some(SlowDrop("thread-local"))))
            .expect("thread starts"),
    );
}

/// Runs `body`, which panics, on a thread with a `stack`-byte stack, and prints what `join` gave.
fn panic_on_a_small_stack(body: fn(), stack: usize) {
    let err = weft_thread::Thread::new(body)
        .stack_size(stack)
        .start()
        .expect("thread starts")
        .join()
        .expect_err("the thread panicked")
        .into_panicked()
        .expect("a panic");
    println!("join gave: {}", err.message());
    println!("backtrace: {}", err.backtrace().is_some());
}

fn child(name: &str) {
    let gate = std::sync::Arc::new(Event::new());
    match name {
        "catch_panic_prints_nothing" => {
            // Before any weft thread starts: catch_panic installs the hook itself.
            let err = weft_thread::catch_panic(|| -> u32 { panic!("quiet on main") }).unwrap_err();
            println!("caught: {err}");
            let err = std::thread::spawn(|| {
                weft_thread::catch_panic(|| {
                    let inner = std::panic::catch_unwind(|| panic!("caught inside"));
                    assert!(inner.is_err());
                    panic!("quiet on a std thread")
                })
                .unwrap_err()
            })
            .join()
            .expect("the std thread returns the panic");
            println!("caught: {err}");
        }
        "a_nested_catch_panics_payload_drop_is_printed" => {
            /// A panic payload whose drop panics with its text.
            struct Bomb(&'static str);
            impl Drop for Bomb {
                fn drop(&mut self) {
                    panic!("{}", self.0)
                }
            }
            // In a weft thread body, and in another catch_panic: the inner call's payload drop
            // panics outside that call, and nobody else reports it.
            let h = weft_thread::spawn(|| {
                let err = weft_thread::catch_panic(|| std::panic::panic_any(Bomb("drop in body")));
                println!("caught: {}", err.unwrap_err());
            })
            .expect("a thread starts");
            assert!(h.join().is_ok());
            let outer = weft_thread::catch_panic(|| {
                let err = weft_thread::catch_panic(|| std::panic::panic_any(Bomb("drop in call")));
                println!("caught: {}", err.unwrap_err());
            });
            assert!(outer.is_ok());
        }
        "main_waits_for_non_daemon_thread" => weft_thread::main(|| {
            late_worker(&gate);
            println!("main body returned");
            gate.set();
        }),
        "before_exit_runs_after_the_body_before_the_wait" => {
            weft_thread::main(|| {
                weft_thread::before_exit(|| println!("first registered"));
                weft_thread::before_exit(|| panic!("a before_exit function failed"));
                weft_thread::before_exit(|| {
                    println!("last registered");
                    weft_thread::before_exit(|| println!("registered while they run"));
                });
                // A non-daemon thread that ends only when a before_exit function lets it: `main`
                // would wait for it for ever if the functions ran after the wait.
                let let_go = std::sync::Arc::clone(&gate);
                weft_thread::before_exit(move || let_go.set());
                weft_thread::spawn(move || {
                    gate.wait();
                    println!("the thread ended");
                })
                .expect("thread starts");
                println!("main body returned");
            });
            println!("main returned");
        }
        "before_exit_panic_with_an_unwritable_stderr_still_waits" => {
            weft_thread::main(|| {
                // Registered first, so it runs last: after the panicking one's report, which
                // cannot be written.
                let let_go = std::sync::Arc::clone(&gate);
                weft_thread::before_exit(move || {
                    println!("the other function ran");
                    let_go.set();
                });
                weft_thread::before_exit(|| panic!("a before_exit function failed"));
                weft_thread::spawn(move || {
                    gate.wait();
                    println!("the thread ended");
                })
                .expect("thread starts");
                println!("main body returned");
            });
            println!("main returned");
        }
        "main_does_not_wait_for_daemon_thread" => weft_thread::main(|| {
            let (tx, rx) = mpsc::channel();
            weft_thread::Thread::new(move || {
                println!("daemon thread started");
                tx.send(()).expect("main is listening");
                std::thread::sleep(DAEMON_NAP);
                println!("daemon thread finished");
            })
            .daemon(true)
            .start()
            .expect("thread starts");
            rx.recv().expect("the daemon thread reports");
            println!("main body returned");
        }),
        "wait_non_daemon_without_main" => {
            late_worker(&gate);
            gate.set();
            weft_thread::wait_non_daemon();
            println!("main returned");
        }
        "panic_in_thread_reported_once_with_its_name" => weft_thread::main(|| {
            let handle = weft_thread::Thread::new(|| panic!("boom"))
                .name("worker")
                .start()
                .expect("thread starts");
            let err = handle.join().expect_err("the thread panicked");
            println!("join gave: {err}");
        }),
        "panic_in_main_body_still_waits_then_fails" => weft_thread::main(|| {
            late_worker(&gate);
            gate.set();
            panic!("main body failed");
        }),
        "first_thread_started_while_unwinding" => {
            // The first weft thread of the process, started by a destructor while the main
            // thread unwinds (std forbids changing the panic hook there).
            struct StartsOnDrop;
            impl Drop for StartsOnDrop {
                fn drop(&mut self) {
                    let handle = weft_thread::spawn(|| 6 * 7).expect("thread starts");
                    println!("started while unwinding: {}", handle.join().expect("joins"));
                }
            }
            let caught = std::panic::catch_unwind(|| {
                let _starts = StartsOnDrop;
                panic!("unwinding main");
            });
            println!("main caught its panic: {}", caught.is_err());
            // A later start installs the hook: this panic is reported once, by the excepthook.
            let err = weft_thread::Thread::new(|| panic!("later"))
                .name("later")
                .start()
                .expect("thread starts")
                .join()
                .expect_err("the thread panicked");
            println!("join gave: {err}");
        }
        "panic_while_unwinding_in_a_thread_is_printed" => {
            struct FailsOnDrop;
            impl Drop for FailsOnDrop {
                fn drop(&mut self) {
                    panic!("the destructor failed too");
                }
            }
            let handle = weft_thread::Thread::new(|| {
                let _fails = FailsOnDrop;
                panic!("the real reason");
            })
            .name("doomed")
            .start()
            .expect("thread starts");
            let _ = handle.join(); // the process aborts first
            println!("not reached");
        }
        "non_unwinding_panic_in_a_thread_is_printed" => abort_in_a_thread(|| {
            if !cfg!(debug_assertions) {
                // Without the debug build's checks the read below would be undefined.
                println!("release build: skipped");
                std::process::exit(0);
            }
            let null: *const u8 = std::hint::black_box(std::ptr::null());
            // SAFETY: none: the pointer is null, which the debug build's precondition check
            // reports (a panic that cannot unwind, then an abort) before any read.
            let empty = unsafe { std::slice::from_raw_parts(null, 0) };
            println!("{}", empty.len());
        }),
        "uninhabited_zeroed_in_a_thread_is_printed" => abort_in_a_thread(|| {
            #[allow(invalid_value, reason = "the panic that cannot unwind under test")]
            // SAFETY: none: the type has no values, and the compiler replaces this call with a
            // panic that cannot unwind (in every build), then an abort.
            let _: std::convert::Infallible = unsafe { std::mem::zeroed() };
        }),
        "backtrace_follows_rust_backtrace_not_rust_lib_backtrace"
        | "backtrace_off_when_only_rust_lib_backtrace_asks"
        | "backtrace_full_when_rust_backtrace_is_full" => {
            weft_thread::set_excepthook(|_| {});
            let panicked = weft_thread::spawn::<()>(|| panic!("with a backtrace?"))
                .expect("thread starts")
                .join()
                .expect_err("the thread panicked")
                .into_panicked()
                .expect("a panic");
            match panicked.backtrace() {
                None => println!("backtrace: none"),
                // The full format prints each frame's address: `  0:     0x5581d4c3a1b2 - `.
                Some(b) if b.lines().any(|l| l.contains(":     0x")) => {
                    println!("backtrace: full")
                }
                Some(_) => println!("backtrace: short"),
            }
        }
        "main_waits_for_a_detached_result_and_thread_locals" => {
            weft_thread::main(detached_clean_up);
            println!("main returned");
        }
        "wait_non_daemon_waits_for_a_detached_result_and_thread_locals" => {
            detached_clean_up();
            weft_thread::wait_non_daemon();
            println!("main returned");
        }
        "a_thread_local_destructor_may_join_a_thread_in_wait_non_daemon" => {
            weft_thread::main(|| {
                let waiter = weft_thread::spawn(|| {
                    weft_thread::wait_non_daemon();
                    println!("the waiting thread was released");
                })
                .expect("thread starts");
                let joiner = Some(waiter);
                weft_thread::spawn(move || {
                    JOINS.with(|j| *j.borrow_mut() = Some(JoinOnDrop(joiner)));
                })
                .expect("thread starts");
            });
            println!("main returned");
        }
        "wait_non_daemon_from_a_clean_up_waits_for_the_running_bodies" => {
            weft_thread::main(|| {
                late_worker(&gate);
                gate.set();
                weft_thread::spawn(|| WAITS.with(|w| *w.borrow_mut() = Some(WaitOnDrop)))
                    .expect("thread starts");
                weft_thread::spawn(|| {
                    weft_thread::wait_non_daemon();
                    println!("the body was released");
                })
                .expect("thread starts");
            });
            println!("main returned");
        }
        "panic_with_backtrace_on_the_smallest_stack" => panic_on_a_small_stack(
            || panic!("on a small stack"),
            weft_thread::Thread::<()>::MIN_STACK_SIZE,
        ),
        "panic_with_backtrace_deep_in_a_small_stack" => {
            // 42 KiB down a 64 KiB stack: formatting the backtrace at the panic (symbolizing
            // takes some 20 KiB more) overflowed it; weft formats it once the body has unwound.
            #[inline(never)]
            fn down() {
                let frame = [0u8; 42 * 1024];
                std::hint::black_box(&frame);
                panic!("on a small stack");
            }
            panic_on_a_small_stack(down, 64 * 1024);
        }
        other => panic!("unknown scenario {other}"),
    }
}

fn check_started_while_unwinding(out: &Output, _took: Duration) -> Result<(), String> {
    let (stdout, stderr) = text(out);
    ensure(
        out.status.success(),
        "starting a thread while unwinding must not abort",
        out,
    )?;
    ensure(
        in_order(
            &stdout,
            "started while unwinding: 42",
            "main caught its panic: true",
        ),
        "the thread must run and be joined during the unwinding",
        out,
    )?;
    ensure(
        stderr.matches("Exception in thread later:").count() == 1
            && !stderr.contains("thread 'later' panicked"),
        "a thread started later must be reported once, by the excepthook",
        out,
    )
}

/// Runs `body` in a weft thread named `nounwind`, after the thread caught a panic of its own,
/// and joins it: `body` raises a panic that cannot unwind, so the process aborts first.
fn abort_in_a_thread(body: fn()) {
    let handle = weft_thread::Thread::new(move || {
        let _ = std::panic::catch_unwind(|| panic!("caught earlier"));
        body();
    })
    .name("nounwind")
    .start()
    .expect("thread starts");
    let _ = handle.join();
    println!("not reached");
}

/// A panic that cannot unwind other than a destructor's aborts the process: it is printed (with
/// its thread and `message`) after the panic the body caught before it.
fn check_printed_abort(out: &Output, message: &str) -> Result<(), String> {
    let (stdout, stderr) = text(out);
    ensure(
        !out.status.success() && !stdout.contains("not reached"),
        "a panic that cannot unwind aborts the process",
        out,
    )?;
    ensure(
        stderr.contains("thread 'nounwind' panicked at") && stderr.contains(message),
        "the panic that cannot unwind must be printed, with its thread and message",
        out,
    )?;
    ensure(
        stderr.contains("caught earlier"),
        "the panics recorded before it must be printed too",
        out,
    )
}

/// A debug build's precondition check.
fn check_non_unwinding(out: &Output, _took: Duration) -> Result<(), String> {
    if text(out).0.contains("release build: skipped") {
        return Ok(());
    }
    check_printed_abort(out, "unsafe precondition(s) violated")
}

/// `mem::zeroed` of an uninhabited type, in every build.
fn check_uninhabited(out: &Output, _took: Duration) -> Result<(), String> {
    check_printed_abort(out, "attempted to instantiate uninhabited type")
}

/// `RUST_BACKTRACE` decides whether a thread's panic carries a backtrace and in which format,
/// as for std's own panic messages; `RUST_LIB_BACKTRACE` (for error values) does not.
fn check_backtrace(out: &Output, want: &str, why: &str) -> Result<(), String> {
    let (stdout, _) = text(out);
    ensure(
        out.status.success() && stdout.contains(&format!("backtrace: {want}")),
        why,
        out,
    )
}

fn check_backtrace_short(out: &Output, _took: Duration) -> Result<(), String> {
    check_backtrace(
        out,
        "short",
        "RUST_BACKTRACE=1 asks for a short backtrace, whatever RUST_LIB_BACKTRACE says",
    )
}

fn check_backtrace_off(out: &Output, _took: Duration) -> Result<(), String> {
    check_backtrace(
        out,
        "none",
        "without RUST_BACKTRACE there is no backtrace, whatever RUST_LIB_BACKTRACE says",
    )
}

fn check_backtrace_full(out: &Output, _took: Duration) -> Result<(), String> {
    check_backtrace(out, "full", "RUST_BACKTRACE=full asks for the full format")
}

fn check_double_panic(out: &Output, _took: Duration) -> Result<(), String> {
    let (stdout, stderr) = text(out);
    ensure(
        !out.status.success() && !stdout.contains("not reached"),
        "a panic while unwinding aborts the process",
        out,
    )?;
    ensure(
        stderr.contains("the real reason") && stderr.contains("the destructor failed too"),
        "both panics must be printed before the abort",
        out,
    )?;
    ensure(
        stderr.contains("thread 'doomed' panicked at") && stderr.contains("exit.rs"),
        "with the thread's name and the location",
        out,
    )
}

/// The program exited 0 after printing `lines`, each of them, in this order; else `why`.
fn exits_0_printing(out: &Output, lines: &[&str], why: &str) -> Result<(), String> {
    let (stdout, _) = text(out);
    ensure(out.status.success(), "the program must exit 0", out)?;
    ensure(
        lines.windows(2).all(|w| in_order(&stdout, w[0], w[1])),
        why,
        out,
    )
}

fn check_before_exit(out: &Output, _took: Duration) -> Result<(), String> {
    exits_0_printing(
        out,
        &[
            "main body returned",
            "last registered",
            "registered while they run",
            "first registered",
            "main returned",
        ],
        "before_exit functions run after the body, last registered first, each once",
    )?;
    exits_0_printing(
        out,
        &["main body returned", "the thread ended", "main returned"],
        "main must wait for the thread a before_exit function lets go",
    )?;
    let (stdout, stderr) = text(out);
    ensure(
        stdout.matches("first registered").count() == 1,
        "each function runs once",
        out,
    )?;
    ensure(
        stderr.contains("a before_exit function panicked at ") && stderr.contains("exit.rs:"),
        "a panicking function is reported with its location, and the others still run",
        out,
    )?;
    ensure(
        stderr.matches("a before_exit function failed").count() == 1,
        "the panic is reported once (by weft's report, not also by the panic hook)",
        out,
    )
}

/// The report of a panicking `before_exit` function cannot be written (stderr is `/dev/full`):
/// the failed write must not end `main` early, before the other functions and the wait.
#[cfg(target_os = "linux")]
fn check_before_exit_unwritable_stderr(out: &Output, _took: Duration) -> Result<(), String> {
    exits_0_printing(
        out,
        &[
            "main body returned",
            "the other function ran",
            "the thread ended",
            "main returned",
        ],
        "the other before_exit functions run and main waits for the thread",
    )
}

fn check_clean_up(out: &Output, _took: Duration) -> Result<(), String> {
    for what in ["dropped the detached result", "dropped the thread-local"] {
        exits_0_printing(
            out,
            &[what, "main returned"],
            &format!("`{what}` must come before the program's exit"),
        )?;
    }
    Ok(())
}

fn check_join_from_clean_up(out: &Output, _took: Duration) -> Result<(), String> {
    exits_0_printing(
        out,
        &[
            "the waiting thread was released",
            "the clean-up joined the waiting thread",
            "main returned",
        ],
        "a thread in wait_non_daemon must not wait for another's clean-up joining it",
    )
}

fn check_wait_from_clean_up(out: &Output, _took: Duration) -> Result<(), String> {
    for released in ["the clean-up was released", "the body was released"] {
        exits_0_printing(
            out,
            &["non-daemon thread finished", released, "main returned"],
            &format!("`{released}` must come after the running body ended, before main returned"),
        )?;
    }
    Ok(())
}

fn check_small_stack(out: &Output, _took: Duration) -> Result<(), String> {
    let (stdout, stderr) = text(out);
    ensure(
        out.status.success(),
        "the panic's report must not overflow the thread's stack",
        out,
    )?;
    ensure(
        stdout.contains("join gave: on a small stack") && stdout.contains("backtrace: true"),
        "join must return the panic with its backtrace",
        out,
    )?;
    ensure(
        stderr.contains("Exception in thread") && stderr.contains("stack backtrace:"),
        "the excepthook must print the panic with its backtrace",
        out,
    )
}

fn check_non_daemon(out: &Output, _took: Duration) -> Result<(), String> {
    exits_0_printing(
        out,
        &["main body returned", "non-daemon thread finished"],
        "main must return only after the non-daemon thread finished its work",
    )
}

fn check_daemon(out: &Output, took: Duration) -> Result<(), String> {
    let (stdout, _) = text(out);
    ensure(out.status.success(), "the program must exit 0", out)?;
    ensure(
        in_order(&stdout, "daemon thread started", "main body returned"),
        "both lines must appear",
        out,
    )?;
    ensure(
        !stdout.contains("daemon thread finished"),
        "the daemon thread must not be waited for",
        out,
    )?;
    ensure(
        took < DAEMON_NAP / 4,
        &format!("the process took {took:?}: it waited for the daemon thread"),
        out,
    )
}

fn check_wait_non_daemon(out: &Output, _took: Duration) -> Result<(), String> {
    exits_0_printing(
        out,
        &["non-daemon thread finished", "main returned"],
        "wait_non_daemon must return after the thread finished",
    )
}

fn check_catch_panic(out: &Output, _took: Duration) -> Result<(), String> {
    let (stdout, stderr) = text(out);
    ensure(out.status.success(), "the program must succeed", out)?;
    ensure(
        stderr.is_empty(),
        "catch_panic must print nothing, for the panics it returns and those caught inside",
        out,
    )?;
    ensure(
        stdout.contains("panicked at crates/weft-thread/tests/exit.rs:")
            && stdout.contains("quiet on main")
            && stdout.contains("quiet on a std thread"),
        "each panic must come back with its location and message",
        out,
    )
}

fn check_nested_payload_drop(out: &Output, _took: Duration) -> Result<(), String> {
    let (_, stderr) = text(out);
    ensure(out.status.success(), "the program must succeed", out)?;
    ensure(
        stderr.matches("drop in body").count() == 1 && stderr.matches("drop in call").count() == 1,
        "a payload's panicking drop must be printed once, also in a body or another catch_panic",
        out,
    )?;
    ensure(
        !stderr.contains("Box<dyn Any>"),
        "the caught panics themselves must not be printed",
        out,
    )
}

fn check_panic_report(out: &Output, _took: Duration) -> Result<(), String> {
    let (stdout, stderr) = text(out);
    ensure(
        out.status.success(),
        "a thread's panic must not fail the program",
        out,
    )?;
    ensure(
        stderr.matches("Exception in thread worker:").count() == 1,
        "the excepthook must report the panic exactly once, with the thread's name",
        out,
    )?;
    ensure(
        stderr.contains("boom"),
        "the report must carry the message",
        out,
    )?;
    ensure(
        !stderr.contains("thread 'worker' panicked"),
        "the std panic hook must not print it a second time",
        out,
    )?;
    ensure(
        stdout.contains("join gave: thread 'worker' panicked") && stdout.contains("boom"),
        "join must return the panic",
        out,
    )
}

fn check_main_panic(out: &Output, _took: Duration) -> Result<(), String> {
    let (stdout, stderr) = text(out);
    ensure(
        out.status.code() == Some(101),
        "a panic in the main body must fail the program (exit code 101)",
        out,
    )?;
    ensure(
        stdout.contains("non-daemon thread finished"),
        "the non-daemon thread must still run to the end",
        out,
    )?;
    ensure(
        stderr.contains("main body failed"),
        "the main panic must be printed",
        out,
    )
}
