//! `cargo xtask demo [NAME]`: the tour of the demos in `examples/`.
//!
//! The demos and their order are the `[[example]]` entries of the root `Cargo.toml`; each demo's
//! first line is `//! <Python concept>: <one-line description>`.

use std::time::Instant;

use crate::{cargo, root, status};

struct Demo {
    name: String,
    concept: String,
    description: String,
    /// The `required-features` of its `[[example]]` entry, passed to `cargo run`.
    features: Vec<String>,
}

/// The `[[example]]` names of the root manifest, in order, with their first doc line.
fn demos() -> Result<Vec<Demo>, String> {
    let manifest = std::fs::read_to_string(root().join("Cargo.toml"))
        .map_err(|e| format!("cannot read Cargo.toml: {e}"))?;
    let mut demos: Vec<Demo> = Vec::new();
    let mut in_example = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_example = line == "[[example]]";
            continue;
        }
        if let Some(list) = line.strip_prefix("required-features") {
            if let (true, Some(demo)) = (in_example, demos.last_mut()) {
                demo.features = list
                    .trim_start()
                    .trim_start_matches('=')
                    .trim()
                    .trim_matches(['[', ']'])
                    .split(',')
                    .map(|f| f.trim().trim_matches('"').to_owned())
                    .filter(|f| !f.is_empty())
                    .collect();
            }
            continue;
        }
        let Some(value) = line.strip_prefix("name") else {
            continue;
        };
        if !in_example {
            continue;
        }
        let name = value
            .trim_start()
            .trim_start_matches('=')
            .trim()
            .trim_matches('"')
            .to_owned();
        let path = root().join("examples").join(format!("{name}.rs"));
        let source = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let first = source.lines().next().unwrap_or_default();
        let doc = first.strip_prefix("//!").map(str::trim).unwrap_or_default();
        let (concept, description) = doc.split_once(": ").ok_or_else(|| {
            format!(
                "{}: the first line must be `//! <Python concept>: <description>`",
                path.display()
            )
        })?;
        demos.push(Demo {
            name,
            concept: concept.to_owned(),
            description: description.to_owned(),
            features: Vec::new(),
        });
    }
    Ok(demos)
}

fn print_list(demos: &[Demo]) {
    let width = demos.iter().map(|d| d.name.len()).max().unwrap_or(0);
    println!("demos (cargo xtask demo NAME):");
    for d in demos {
        println!(
            "  {:width$}  {}: {}",
            d.name,
            d.concept,
            d.description,
            width = width
        );
    }
}

fn run_one(demo: &Demo) -> Result<(), String> {
    let mut cmd = cargo();
    cmd.args(["run", "--quiet", "--example", &demo.name]);
    // Default features cover most demos; one that needs another feature gets it (cargo keeps
    // both builds, so the others are not rebuilt).
    if !demo.features.is_empty() {
        cmd.args(["--features", &demo.features.join(",")]);
    }
    status(cmd)
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let demos = demos()?;
    match args {
        [] => {
            print_list(&demos);
            println!();
            let mut build = cargo();
            build.args(["build", "--quiet", "--examples"]);
            status(build)?;
            let start = Instant::now();
            for (i, demo) in demos.iter().enumerate() {
                println!(
                    "\n=== {}/{} {} — {} (cargo xtask demo {}) ===",
                    i + 1,
                    demos.len(),
                    demo.concept,
                    demo.description,
                    demo.name
                );
                run_one(demo)?;
            }
            println!(
                "\ntour finished: {} demos in {:.1} s",
                demos.len(),
                start.elapsed().as_secs_f64()
            );
            Ok(())
        }
        [name] => match demos.iter().find(|d| &d.name == name) {
            Some(demo) => {
                println!("=== {} — {} ===", demo.concept, demo.description);
                run_one(demo)
            }
            None => {
                print_list(&demos);
                Err(format!("no demo named `{name}`"))
            }
        },
        _ => Err("usage: cargo xtask demo [NAME]".to_owned()),
    }
}
