//! What a thread pool prints for panics, checked on real processes: a task's panic goes to its
//! future and nothing is printed (Python's `ThreadPoolExecutor` prints nothing for an exception
//! in a task: `f.exception()` has it, with its traceback), nor for a panic a task catches
//! itself; a panic in the drop of a task's panic payload, which nothing else reports, is
//! printed once by the panic hook. (A done callback's panic: `tests/future.rs`,
//! `a_panicking_callback_is_reported_on_stderr`.)
//!
//! This file has its own `main` (`harness = false`): run with `WEFT_PANIC_OUTPUT=<name>` it *is*
//! the program under test; run without, it starts itself once per scenario and checks what the
//! child printed. It prints cargo-test-style lines so `cargo xtask test` counts its cases.

use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use weft_executor::{TaskError, ThreadPoolExecutor};

const SCENARIO: &str = "WEFT_PANIC_OUTPUT";
/// How long a child may take before the test fails instead of hanging.
const CHILD_LIMIT: Duration = Duration::from_secs(60);

type Check = fn(&str, &str) -> Result<(), String>;

const CASES: &[(&str, Check)] = &[
    ("a_tasks_panic_prints_nothing", check_silent_tasks),
    (
        "a_panic_in_dropping_a_payload_is_printed_once",
        check_payload_drop,
    ),
];

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
    let mut failed = 0;
    for (name, check) in &cases {
        let outcome = run_child(name).and_then(|out| {
            let stdout = String::from_utf8_lossy(&out.stdout);
            let stderr = String::from_utf8_lossy(&out.stderr);
            if !out.status.success() {
                return Err(format!("the child failed: {}", out.status));
            }
            check(&stdout, &stderr)
                .map_err(|why| format!("{why}\n  stdout: {stdout:?}\n  stderr: {stderr:?}"))
        });
        match outcome {
            Ok(()) => println!("test {name} ... ok"),
            Err(why) => {
                println!("test {name} ... FAILED\n  {why}");
                failed += 1;
            }
        }
    }
    println!(
        "\ntest result: {}. {} passed; {failed} failed; 0 ignored; 0 measured; {} filtered out\n",
        if failed == 0 { "ok" } else { "FAILED" },
        cases.len() - failed,
        CASES.len() - cases.len()
    );
    if failed > 0 {
        std::process::exit(101);
    }
}

/// Runs this binary as the program of scenario `name`.
fn run_child(name: &str) -> Result<Output, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let child = Command::new(exe)
        .env(SCENARIO, name)
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start the child: {e}"))?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(CHILD_LIMIT) {
        Ok(Ok(out)) => Ok(out),
        Ok(Err(e)) => Err(format!("waiting for the child failed: {e}")),
        Err(_) => Err(format!("the child did not exit within {CHILD_LIMIT:?}")),
    }
}

/// Panics when dropped: a panic's payload.
struct PanicOnDrop;

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("PanicOnDrop dropped");
    }
}

fn show<T: std::fmt::Debug, E: std::fmt::Debug>(what: &str, r: Result<T, TaskError<E>>) {
    match r {
        Ok(v) => println!("{what}: {v:?}"),
        Err(e) => println!("{what}: {e:?}"),
    }
}

fn child(name: &str) {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(2)
        .build()
        .expect("a pool");
    match name {
        "a_tasks_panic_prints_nothing" => {
            let f = pool.submit(|| -> u8 { panic!("task boom") }).unwrap();
            show("submit", f.result());
            let f = pool
                .submit_fallible(|| -> Result<u8, ()> { panic!("fallible boom") })
                .unwrap();
            show("submit_fallible", f.result());
            for item in pool
                .map(|x: u32| if x == 3 { panic!("map boom") } else { x }, 0..6)
                .chunksize(2)
            {
                show("map", item);
            }
            let f = pool
                .submit(|| std::panic::catch_unwind(|| panic!("caught in the task")).is_err())
                .unwrap();
            show("caught inside", f.result());
        }
        "a_panic_in_dropping_a_payload_is_printed_once" => {
            let f = pool
                .submit(|| -> u8 { std::panic::panic_any(PanicOnDrop) })
                .unwrap();
            show("submit", f.result());
        }
        other => panic!("no scenario {other}"),
    }
}

fn ensure(ok: bool, what: &str) -> Result<(), String> {
    ok.then_some(()).ok_or_else(|| what.to_owned())
}

fn check_silent_tasks(stdout: &str, stderr: &str) -> Result<(), String> {
    ensure(
        stderr.is_empty(),
        "a task's panic, or one it caught, must not be printed",
    )?;
    for message in ["task boom", "fallible boom", "map boom"] {
        ensure(
            stdout.contains(message),
            "each future must fail with its panic",
        )?;
    }
    ensure(
        stdout.matches("panic_output.rs:").count() == 3,
        "each panic must carry its location",
    )?;
    ensure(
        stdout.contains("caught inside: true"),
        "the task that caught its panic returns",
    )
}

fn check_payload_drop(stdout: &str, stderr: &str) -> Result<(), String> {
    ensure(
        stderr.matches("PanicOnDrop dropped").count() == 1,
        "the drop's panic, which nobody else reports, must be printed once",
    )?;
    ensure(
        stderr.matches("panicked at").count() == 1,
        "the task's own panic must not be printed",
    )?;
    ensure(
        stdout.contains("Box<dyn Any>") && stdout.contains("panic_output.rs:"),
        "the future fails with the task's panic and its location",
    )
}
