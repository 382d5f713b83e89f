//! `cargo xtask loom-models CRATE...`: builds the loom models of the given crates (each one's
//! library tests and `tests/loom.rs`, in the `loom` profile (release, with the dependencies the
//! models barely run at opt-level 0: the root Cargo.toml) with `--cfg weft_loom`, into
//! `target/loom`) and runs every model in a process of its own, as many at once as there are
//! cores, with `LOOM_MAX_PREEMPTIONS=2` unless the environment sets another bound. `cargo xtask
//! test`'s loom step runs it.
//!
//! Why not `cargo test`: its test binaries run one after the other, each with one thread per
//! core, and the threads of one binary slow each other down: a model spends most of its time in
//! the kernel (loom maps and unmaps a stack for every thread of every execution), and those
//! calls contend inside one process. On 2 cores, weft-channel's models took 139–323 s as one
//! binary with two threads, and 93 s as two processes of one thread each. Each model's process
//! prints libtest's usual `test result:` line, which `cargo xtask test` counts.

use std::collections::VecDeque;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use crate::cargo;

pub(crate) fn run(crates: &[String]) -> Result<(), String> {
    if crates.is_empty() {
        return Err("usage: cargo xtask loom-models CRATE...".to_owned());
    }
    let binaries = build(crates)?;
    let mut queue = VecDeque::new();
    for binary in &binaries {
        for name in list(binary)? {
            queue.push_back((binary.clone(), name));
        }
    }
    if queue.is_empty() {
        return Err("no loom model found".to_owned());
    }
    let total = queue.len();
    let queue = Arc::new(Mutex::new(queue));
    let failed = Arc::new(Mutex::new(Vec::new()));
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    // The bound the models are written for, unless the caller asks for another.
    let preemptions = std::env::var("LOOM_MAX_PREEMPTIONS").unwrap_or_else(|_| "2".to_owned());
    let handles: Vec<_> = (0..workers)
        .map(|_| {
            let queue = Arc::clone(&queue);
            let failed = Arc::clone(&failed);
            let preemptions = preemptions.clone();
            std::thread::spawn(move || {
                loop {
                    let next = queue.lock().map(|mut q| q.pop_front()).unwrap_or(None);
                    let Some((binary, name)) = next else { break };
                    let out = Command::new(&binary)
                        .args(["--exact", &name, "--test-threads", "1"])
                        .env("LOOM_MAX_PREEMPTIONS", &preemptions)
                        .stdin(Stdio::null())
                        .output();
                    let (ok, text) = match out {
                        Ok(out) => (
                            out.status.success(),
                            format!(
                                "{}{}",
                                String::from_utf8_lossy(&out.stdout),
                                String::from_utf8_lossy(&out.stderr)
                            ),
                        ),
                        Err(e) => (false, format!("could not run {binary}: {e}\n")),
                    };
                    // One model's output at a time, whole: `cargo xtask test` reads the lines.
                    let mut failed = failed.lock().unwrap_or_else(|e| e.into_inner());
                    if ok {
                        // Its `test result:` line (and the passing model's name).
                        let named = format!("test {name} ");
                        for line in text
                            .lines()
                            .filter(|l| l.starts_with("test result:") || l.starts_with(&named))
                        {
                            println!("{line}");
                        }
                    } else {
                        println!("--- {binary} {name} ---\n{text}");
                        failed.push(name);
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join()
            .map_err(|_| "a loom runner thread panicked".to_owned())?;
    }
    let failed = failed.lock().unwrap_or_else(|e| e.into_inner()).clone();
    println!(
        "loom models: {} of {total} passed, in {} binaries, {workers} at a time",
        total - failed.len(),
        binaries.len()
    );
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("loom models failed: {}", failed.join(", ")))
    }
}

/// Builds the crates' loom test binaries; their paths.
fn build(crates: &[String]) -> Result<Vec<String>, String> {
    let mut cmd = cargo();
    let flags = std::env::var("RUSTFLAGS").unwrap_or_default();
    cmd.env("RUSTFLAGS", format!("{flags} --cfg weft_loom").trim())
        .args([
            "test",
            "--profile",
            "loom",
            "--target-dir",
            "target/loom",
            "--no-run",
        ])
        .args(["--message-format", "json-render-diagnostics"]);
    for krate in crates {
        cmd.args(["-p", krate]);
    }
    // `--lib` too: models of one part alone live beside it (`#[cfg(all(test, weft_loom))]`).
    cmd.args(["--lib", "--test", "loom"]);
    cmd.stderr(Stdio::inherit());
    let out = cmd
        .output()
        .map_err(|e| format!("could not run cargo: {e}"))?;
    if !out.status.success() {
        return Err("the loom build failed".to_owned());
    }
    // Each test artifact is a JSON line with `"executable":"<path>"` (`null` for the others).
    let key = "\"executable\":\"";
    let binaries: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| {
            let start = line.find(key)? + key.len();
            let len = line[start..].find('"')?;
            Some(line[start..start + len].to_owned())
        })
        .collect();
    if binaries.is_empty() {
        return Err("the loom build made no test binary".to_owned());
    }
    Ok(binaries)
}

/// The names of the tests in `binary`.
fn list(binary: &str) -> Result<Vec<String>, String> {
    let out = Command::new(binary)
        .args(["--list", "--format", "terse"])
        .output()
        .map_err(|e| format!("could not run {binary}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{binary} --list failed"));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_suffix(": test"))
        .map(str::to_owned)
        .collect())
}
