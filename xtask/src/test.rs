//! `cargo xtask test`: every check, in the order a reviewer would run them, and one summary line.
//!
//! Steps: `cargo fmt --check`, `cargo clippy -D warnings` on all targets, `cargo test` on all
//! targets, the doctests, the tour of demos (`cargo xtask demo`), `cargo doc` with `-D
//! warnings`, and the loom models (each crate's `tests/loom.rs` and the models inside
//! its library, built with `--cfg weft_loom` in the `loom` profile into `target/loom`, with
//! `LOOM_MAX_PREEMPTIONS=2`, each model in a process of its own: `cargo xtask loom-models`,
//! loom.rs), then clippy on those model builds (`target/loom-clippy`: the code
//! only the models compile); before the models, `cargo check --all-targets` of the umbrella with
//! no default feature and with each feature alone, and of each crate without its default
//! features. Every step runs even when an earlier one failed. The last line counts checks: each
//! test case is one, fmt, clippy and each check are one each, and a step that fails without
//! reporting test results (a build error), or a test step that ran no test at all, counts as one
//! failure.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::cargo;

/// Counts of one step.
#[derive(Default)]
struct Tally {
    passed: u64,
    failed: u64,
}

/// Runs `cmd`, echoing its stdout while counting cargo test's `test result:` lines.
fn run_counting(mut cmd: Command) -> (bool, Tally) {
    cmd.stdout(Stdio::piped());
    let mut tally = Tally::default();
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => {
            eprintln!("could not run {cmd:?}: {e}");
            return (false, tally);
        }
    };
    if let Some(out) = child.stdout.take() {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            println!("{line}");
            if let Some(rest) = line.strip_prefix("test result: ") {
                tally.passed += count(rest, " passed");
                tally.failed += count(rest, " failed");
            }
        }
    }
    let ok = child.wait().map(|s| s.success()).unwrap_or(false);
    (ok, tally)
}

/// The number before `label` in a `test result:` line such as `ok. 9 passed; 0 failed; …`.
fn count(line: &str, label: &str) -> u64 {
    line.find(label)
        .and_then(|end| line[..end].rsplit([' ', '.']).next()?.parse().ok())
        .unwrap_or(0)
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    if !args.is_empty() {
        return Err("usage: cargo xtask test".to_owned());
    }
    let start = Instant::now();
    let mut steps: Vec<(String, Command, bool)> = Vec::new();

    let mut fmt = cargo();
    fmt.args(["fmt", "--all", "--check"]);
    steps.push(("fmt".to_owned(), fmt, false));

    let mut clippy = cargo();
    clippy.args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]);
    steps.push(("clippy".to_owned(), clippy, false));

    // Features that are off by default get their own clippy and test runs.
    let mut clippy_features = cargo();
    clippy_features.args([
        "clippy",
        "-p",
        "weft-sync",
        "-p",
        "weft",
        "--all-targets",
        "--features",
        "deadlock-detection",
        "--",
        "-D",
        "warnings",
    ]);
    steps.push((
        "clippy deadlock-detection".to_owned(),
        clippy_features,
        false,
    ));

    let mut tests = cargo();
    tests.args(["test", "--workspace", "--all-targets"]);
    steps.push(("tests".to_owned(), tests, true));

    let mut doctests = cargo();
    doctests.args(["test", "--workspace", "--doc"]);
    steps.push(("doctests".to_owned(), doctests, true));

    // The README's other command: the tour of demos, each run to its end (a demo that fails or
    // panics fails the step). The tests step built them; in a clean clone the step took 76 s:
    // the tour 34 s, the rest the build of the demo that needs `deadlock-detection` (which the
    // umbrella's deadlock-detection step then reuses: 17 s down to 1 s).
    let mut tour = Command::new(std::env::current_exe().unwrap_or_else(|_| "xtask".into()));
    tour.current_dir(crate::root()).arg("demo");
    steps.push(("demos".to_owned(), tour, false));

    // The umbrella's module links with only some modules present: with `sync` alone every other
    // link goes to docs.rs, with `aio` alone the `sync` one does. Before the full build, whose
    // pages are then the ones left in target/doc (so are weft-async's without its features).
    let doc_flags = std::env::var("RUSTDOCFLAGS").unwrap_or_default();
    let doc_flags = format!("{doc_flags} -D warnings").trim().to_owned();
    for feature in ["sync", "aio"] {
        let mut docs = cargo();
        docs.env("RUSTDOCFLAGS", &doc_flags)
            .args([
                "doc",
                "-p",
                "weft",
                "--no-deps",
                "--quiet",
                "--no-default-features",
            ])
            .args(["--features", feature]);
        steps.push((format!("docs weft {feature} alone"), docs, false));
    }
    // weft-async's crate docs link to its optional `run_in_executor` and `Queue`: without its
    // features those links go to docs.rs.
    let mut docs = cargo();
    docs.env("RUSTDOCFLAGS", &doc_flags).args([
        "doc",
        "-p",
        "weft-async",
        "--no-deps",
        "--quiet",
        "--no-default-features",
    ]);
    steps.push(("docs weft-async no defaults".to_owned(), docs, false));
    // The API docs as they are published: a broken intra-doc link or a malformed doc comment
    // fails the step.
    let mut docs = cargo();
    docs.env("RUSTDOCFLAGS", &doc_flags)
        .args(["doc", "--workspace", "--no-deps", "--quiet"]);
    steps.push(("docs".to_owned(), docs, false));

    let mut feature_tests = cargo();
    feature_tests.args([
        "test",
        "-p",
        "weft-sync",
        "--features",
        "deadlock-detection",
    ]);
    steps.push(("tests deadlock-detection".to_owned(), feature_tests, true));
    let mut feature_umbrella = cargo();
    feature_umbrella.args(["test", "-p", "weft", "--features", "deadlock-detection"]);
    feature_umbrella.args(["--test", "deadlock_threads"]);
    steps.push((
        "umbrella deadlock-detection".to_owned(),
        feature_umbrella,
        true,
    ));

    // The umbrella with each feature alone, and each crate without its default features: every
    // target (tests included) must build, for whoever depends on one part only, and without a
    // warning (an import only the default features use): clippy, which checks as `cargo check`
    // does and shares its dependencies' artifacts, with `-D warnings` for the workspace's crates.
    let features = [
        "sync",
        "thread",
        "channel",
        "process",
        "executor",
        "aio",
        "deadlock-detection",
    ];
    let mut subsets: Vec<(String, Option<&str>)> = vec![("weft".to_owned(), None)];
    subsets.extend(features.map(|f| ("weft".to_owned(), Some(f))));
    for krate in crate::crates_having("Cargo.toml") {
        subsets.push((krate, None));
    }
    for (package, feature) in subsets {
        let mut check = cargo();
        check.args([
            "clippy",
            "--quiet",
            "--all-targets",
            "--no-default-features",
        ]);
        check.args(["-p", &package]);
        let mut label = format!("check {package} no defaults");
        if let Some(feature) = feature {
            check.args(["--features", feature]);
            label = format!("check {package} {feature} alone");
        }
        check.args(["--", "-D", "warnings"]);
        steps.push((label, check, false));
    }

    let loom = crate::crates_having("tests/loom.rs");
    if !loom.is_empty() {
        // This very program, `loom-models`: the build, then each model in a process of its own,
        // one per core (see loom.rs for why not `cargo test`).
        let mut cmd = Command::new(std::env::current_exe().map_err(|e| e.to_string())?);
        cmd.current_dir(crate::root())
            .env("LOOM_MAX_PREEMPTIONS", "2")
            .arg("loom-models")
            .args(&loom);
        steps.push(("loom".to_owned(), cmd, true));
        let flags = std::env::var("RUSTFLAGS").unwrap_or_default();

        // The code compiled only for the models (the loom shims, `if MODEL` branches) gets the
        // same lints as the rest.
        let mut lint = cargo();
        lint.env("RUSTFLAGS", format!("{flags} --cfg weft_loom").trim())
            .args(["clippy", "--target-dir", "target/loom-clippy"]);
        for krate in &loom {
            lint.args(["-p", krate]);
        }
        lint.args(["--lib", "--test", "loom", "--", "-D", "warnings"]);
        steps.push(("clippy loom".to_owned(), lint, false));
    }

    let mut total = Tally::default();
    let mut report = Vec::new();
    for (name, cmd, counts_tests) in steps {
        println!("\n=== xtask test: {name} ===");
        let step_start = Instant::now();
        let (ok, tally) = run_counting(cmd);
        let secs = step_start.elapsed().as_secs_f64();
        let mut ok = ok;
        if counts_tests {
            total.passed += tally.passed;
            total.failed += tally.failed;
            if ok && tally.passed == 0 {
                // No test at all ran (a cfg that compiled the models out, a filter matching
                // nothing): the step checked nothing, which is a failure, not a pass.
                println!("xtask test: {name} ran no test");
                ok = false;
            }
            if !ok && tally.failed == 0 {
                total.failed += 1;
            }
        } else if ok {
            total.passed += 1;
        } else {
            total.failed += 1;
        }
        report.push(format!(
            "{name} {} ({secs:.0} s)",
            if ok { "ok" } else { "FAILED" }
        ));
    }
    println!(
        "\nxtask test: {} in {:.0} s",
        report.join(", "),
        start.elapsed().as_secs_f64()
    );
    println!("summary: {} passed, {} failed", total.passed, total.failed);
    if total.failed == 0 {
        Ok(())
    } else {
        Err(format!("{} checks failed", total.failed))
    }
}
