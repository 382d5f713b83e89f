//! The runner of the harness-less process test binaries (`harness = false`: the test binary is
//! also the child program, so it has a `main` of its own that starts with the guard). It prints
//! cargo-test-style lines, takes name filters and `--list`, and runs each case on its own thread
//! under a watchdog, so a hang fails the run instead of stalling it. Shared by weft-process's
//! `multiprocessing` and `worker` tests and, by path, weft-executor's `process_pool` tests.
#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::time::Duration;

/// A test case: `Err` says why it failed.
pub(crate) type Case = fn() -> Result<(), String>;

/// Fails the case with a message unless the condition holds.
macro_rules! ensure {
    ($cond:expr, $($why:tt)+) => {
        if !$cond {
            return Err(format!($($why)+));
        }
    };
}
pub(crate) use ensure;

/// Runs the cases the command line names (all of them by default), each given `limit`, and
/// exits with 101 if any failed or hung.
pub(crate) fn run(all: &[(&str, Case)], limit: Duration) {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        for (name, _) in all {
            println!("{name}: test");
        }
        return;
    }
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let cases: Vec<_> = all
        .iter()
        .filter(|(name, _)| filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str())))
        .collect();
    println!("\nrunning {} tests", cases.len());
    let mut failed = Vec::new();
    for (name, case) in &cases {
        let (tx, rx) = std::sync::mpsc::channel();
        let case = *case;
        std::thread::spawn(move || {
            let outcome = std::panic::catch_unwind(case)
                .unwrap_or_else(|p| Err(format!("panicked: {}", weft_sync::panic_message(&*p))));
            let _ = tx.send(outcome);
        });
        let outcome = rx.recv_timeout(2 * limit).unwrap_or_else(|_| {
            println!("test {name} ... FAILED\n  hung for {:?}", 2 * limit);
            println!(
                "\ntest result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out\n"
            );
            std::process::exit(101)
        });
        match outcome {
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
        all.len() - cases.len()
    );
    if !failed.is_empty() {
        std::process::exit(101);
    }
}

/// Set to `spawn` in a test binary's environment to start every process of the run by
/// executing the program again (`StartMethod::Spawn`), as `rerun_with_spawn` does; without it
/// the processes start with the default, the fork server.
pub(crate) const START: &str = "WEFT_MP_START";

/// Whether this run spawns its processes instead of forking them from the fork server.
pub(crate) fn spawn_run() -> bool {
    std::env::var(START).as_deref() == Ok("spawn")
}

/// The first line of a test binary's `main`: in a spawn run, makes spawning every process's
/// start method (scenario programs inherit it with the environment).
pub(crate) fn apply_start_method() {
    if spawn_run() {
        weft_process::set_start_method(weft_process::StartMethod::Spawn);
    }
}

/// The case that runs every case of this binary (`cases` of them) again with every process
/// spawned; inside that run it passes at once.
pub(crate) fn rerun_with_spawn(cases: usize) -> Result<(), String> {
    if spawn_run() {
        return Ok(());
    }
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = std::process::Command::new(exe)
        .env(START, "spawn")
        .output()
        .map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let expected = format!("test result: ok. {cases} passed; 0 failed");
    if out.status.success() && stdout.contains(&expected) {
        Ok(())
    } else {
        Err(format!(
            "the spawn run failed ({}):\n{stdout}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Forks this process without `exec` (so the copy holds every descriptor, a child's channel
/// socket included) and returns the copy's pid (0 if the fork failed); the copy sleeps until
/// killed, two minutes at most. For the cases where a process a child forked keeps its
/// channel open.
pub(crate) fn fork_sleeping_copy(_: ()) -> u32 {
    // SAFETY: the copy calls only async-signal-safe functions (`alarm`, `pause`), so it does
    // not depend on the state of this process's other threads, whatever locks they held.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: `alarm` and `pause` take plain values and only arm a timer and wait for a
        // signal. The alarm's SIGALRM ends the copy if the case fails before killing it (it
        // holds the test's output pipes too).
        unsafe { libc::alarm(120) };
        loop {
            // SAFETY: as above.
            unsafe { libc::pause() };
        }
    }
    pid.max(0) as u32
}

/// Kills the process `pid` when dropped (nothing for 0).
pub(crate) struct KillOnDrop(pub(crate) u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(pid) = rustix::process::Pid::from_raw(self.0 as i32) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        }
    }
}
