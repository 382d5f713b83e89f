//! `cargo xtask bench [NAME]`: runs the criterion benches of `weft-NAME` (every crate's without
//! NAME) and prints the ratio table: weft ÷ baseline per workload, from the medians criterion
//! saved under `target/criterion`, plus the Python anchor of `benches/python/NAME.py` when python3
//! is present.
//!
//! Bench groups are named `NAME-<workload>` and hold the function `weft` and one or more
//! baselines; the table compares weft with the fastest of them.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use crate::{cargo, root, status};

/// The crate suffixes that have benches (`crates/weft-NAME/benches`).
fn bench_crates() -> Vec<String> {
    crate::crates_having("benches")
        .into_iter()
        .filter_map(|n| n.strip_prefix("weft-").map(str::to_owned))
        .collect()
}

/// The median point estimate in nanoseconds from a criterion `estimates.json`.
fn median_ns(dir: &Path) -> Option<f64> {
    let json = std::fs::read_to_string(dir.join("new/estimates.json")).ok()?;
    let median = &json[json.find("\"median\"")?..];
    let value = &median[median.find("\"point_estimate\":")? + "\"point_estimate\":".len()..];
    let end = value.find([',', '}'])?;
    value[..end].trim().parse().ok()
}

/// A criterion function's display name, from its `benchmark.json`.
fn function_id(dir: &Path) -> Option<String> {
    let json = std::fs::read_to_string(dir.join("new/benchmark.json")).ok()?;
    let key = "\"function_id\":\"";
    let rest = &json[json.find(key)? + key.len()..];
    Some(rest[..rest.find('"')?].to_owned())
}

/// `name -> ns per operation` printed by the Python anchor script of crate `name`, if any.
fn python_anchors(name: &str) -> BTreeMap<String, f64> {
    let script = root().join("benches/python").join(format!("{name}.py"));
    if !script.is_file() {
        return BTreeMap::new();
    }
    println!("\n=== python anchors: {} ===", script.display());
    let output = match Command::new("python3").arg(&script).output() {
        Ok(out) if out.status.success() => out,
        Ok(out) => {
            eprintln!(
                "python anchors failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            return BTreeMap::new();
        }
        Err(_) => {
            println!("python3 not found: no Python anchors");
            return BTreeMap::new();
        }
    };
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_owned(), v.trim().parse().ok()?))
        })
        .collect()
}

fn format_ns(ns: f64) -> String {
    if ns >= 1_000_000.0 {
        format!("{:.2} ms", ns / 1_000_000.0)
    } else if ns >= 1_000.0 {
        format!("{:.2} µs", ns / 1_000.0)
    } else {
        format!("{ns:.1} ns")
    }
}

/// Where criterion saved its results: `$CRITERION_HOME`, else `criterion` in the target
/// directory (`$CARGO_TARGET_DIR`, else `target`), as criterion looks them up.
fn criterion_dir() -> std::path::PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return home.into();
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| root().join("target"), |t| root().join(t));
    target.join("criterion")
}

fn table(name: &str) {
    let dir = criterion_dir();
    if !dir.is_dir() {
        println!(
            "(no criterion results under {}: run the benches first)",
            dir.display()
        );
    }
    let mut groups: Vec<_> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|f| f.to_str())
                .is_some_and(|f| f.starts_with(&format!("{name}-")))
        })
        .collect();
    groups.sort();
    let python = python_anchors(name);
    println!("\n## weft-{name}\n");
    println!(
        "| workload | weft | baseline | baseline time | weft ÷ baseline | Python | Python ÷ weft |"
    );
    println!("|---|---|---|---|---|---|---|");
    let mut matched = std::collections::BTreeSet::new();
    for group in groups {
        let workload = group
            .file_name()
            .and_then(|f| f.to_str())
            .unwrap_or_default()
            .to_owned();
        let weft = median_ns(&group.join("weft"));
        // The baseline is the fastest of the group's other functions.
        let baseline = std::fs::read_dir(&group)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                let f = p.file_name().and_then(|f| f.to_str()).unwrap_or_default();
                p.is_dir() && f != "weft" && f != "report"
            })
            .filter_map(|p| median_ns(&p).map(|ns| (p, ns)))
            .min_by(|a, b| a.1.total_cmp(&b.1));
        let base_ns = baseline.as_ref().map(|(_, ns)| *ns);
        let base_name = baseline
            .as_ref()
            .and_then(|(p, _)| function_id(p))
            .unwrap_or_else(|| "?".to_owned());
        let py = python.get(&workload).copied();
        matched.insert(workload.clone());
        let cell = |v: Option<f64>| v.map(format_ns).unwrap_or_else(|| "—".to_owned());
        let ratio = match (weft, base_ns) {
            (Some(w), Some(b)) if b > 0.0 => format!("{:.2}×", w / b),
            _ => "—".to_owned(),
        };
        let vs_python = match (weft, py) {
            (Some(w), Some(p)) if w > 0.0 && p / w >= 10.0 => format!("{:.0}×", p / w),
            (Some(w), Some(p)) if w > 0.0 => format!("{:.2}×", p / w),
            _ => "—".to_owned(),
        };
        let short = workload
            .strip_prefix(&format!("{name}-"))
            .unwrap_or(&workload);
        println!(
            "| {short} | {} | {base_name} | {} | {ratio} | {} | {vs_python} |",
            cell(weft),
            cell(base_ns),
            cell(py)
        );
    }
    // Anchors with no group of their own (another Python context for the same workload, a
    // footprint) are listed under the table, so that no measured figure is lost.
    let others: Vec<String> = python
        .iter()
        .filter(|(k, _)| !matched.contains(*k))
        .map(|(k, v)| format!("{k} {}", format_ns(*v)))
        .collect();
    if !others.is_empty() {
        println!(
            "\nOther Python anchors (ns figures shown as times): {}",
            others.join("; ")
        );
    }
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let all = bench_crates();
    let names: Vec<String> = match args {
        [] => all,
        [name] if all.contains(name) => vec![name.clone()],
        [name] => {
            return Err(format!(
                "no benches for `{name}`; there are: {}",
                all.join(", ")
            ))
        }
        _ => return Err("usage: cargo xtask bench [NAME]".to_owned()),
    };
    for name in &names {
        let mut cmd = cargo();
        cmd.args(["bench", "-p", &format!("weft-{name}")]);
        status(cmd)?;
        if name == "sync" {
            // Deadlock detection's cost: the same crate with the feature on, its groups only.
            let mut cmd = cargo();
            cmd.args([
                "bench",
                "-p",
                "weft-sync",
                "--features",
                "deadlock-detection",
            ]);
            cmd.args(["--bench", "sync", "--", "lockdep"]);
            status(cmd)?;
        }
    }
    for name in &names {
        table(name);
    }
    Ok(())
}
