//! weft's developer tasks, run as `cargo xtask VERB` (the alias is in `.cargo/config.toml`).
//!
//! - `cargo xtask demo [NAME]`: the tour of demos in `examples/`, or one of them.
//! - `cargo xtask test`: every check CI runs (fmt, clippy, tests, doctests, the demos, docs, loom
//!   models).
//! - `cargo xtask bench [NAME]`: the criterion benches of `weft-NAME` (or all), as a ratio table.
//! - `cargo xtask loom-models CRATE...`: the loom step of `test` alone (loom.rs).

mod bench;
mod demo;
mod loom;
mod test;

use std::path::PathBuf;
use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rest = &args[args.len().min(1)..];
    let result = match args.first().map(String::as_str) {
        Some("demo") => demo::run(rest),
        Some("test") => test::run(rest),
        Some("bench") => bench::run(rest),
        // Internal: the loom step of `test`.
        Some("loom-models") => loom::run(rest),
        _ => {
            eprintln!(
                "usage: cargo xtask <verb>\n\n\
                 verbs:\n  \
                 demo [NAME]   list the demos and run the tour, or run demo NAME\n  \
                 test          fmt, clippy, tests, doctests, demos, docs, loom models: every check CI runs\n  \
                 bench [NAME]  criterion benches of weft-NAME (all crates without NAME), as ratios"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("xtask: {msg}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root (the parent of this crate's directory).
fn root() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    dir.parent().map(PathBuf::from).unwrap_or(dir)
}

/// The directory names under `crates/` that contain `path` (a file or directory), sorted.
fn crates_having(path: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root().join("crates"))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().join(path).exists())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    names
}

/// A `cargo` command run from the workspace root, with the cargo that runs xtask.
fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(root());
    cmd
}

/// Runs `cmd`, inheriting the terminal; an error names the command if it fails.
fn status(mut cmd: Command) -> Result<(), String> {
    let shown = format!("{cmd:?}");
    let status = cmd
        .status()
        .map_err(|e| format!("could not run {shown}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{shown} failed ({status})"))
    }
}
