//! docs.rs builds each crate's documentation with a nightly rustdoc and `--cfg docsrs`, where
//! `#[cfg_attr(docsrs, doc(cfg(..)))]` needs the crate to enable `feature(doc_cfg)`, and where
//! `feature(doc_auto_cfg)` no longer exists (it was folded into `doc_cfg`; naming it is error
//! E0557). Either mistake fails the whole documentation build, and only there: no stable build
//! sees it. This test reads the sources so that a stable `cargo test` catches both.

use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("a readable source directory") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The source directories of the umbrella and of each crate under `crates/`.
fn source_dirs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut dirs = vec![root.join("src")];
    for entry in std::fs::read_dir(root.join("crates")).expect("the crates directory") {
        let src = entry.expect("a directory entry").path().join("src");
        if src.is_dir() {
            dirs.push(src);
        }
    }
    dirs.sort();
    dirs
}

#[test]
fn docsrs_attributes_build_on_nightly() {
    let mut problems = Vec::new();
    for dir in source_dirs() {
        let mut files = Vec::new();
        rust_files(&dir, &mut files);
        let read = |p: &Path| std::fs::read_to_string(p).expect("a readable source file");
        let lib = read(&dir.join("lib.rs"));
        let enables_doc_cfg = lib.contains("#![cfg_attr(docsrs, feature(doc_cfg))]");
        for file in &files {
            let text = read(file);
            if text.contains("doc_auto_cfg") {
                problems.push(format!(
                    "{}: `doc_auto_cfg` was removed from rustdoc; use `feature(doc_cfg)`",
                    file.display()
                ));
            }
            if text.contains("doc(cfg(") && !enables_doc_cfg {
                problems.push(format!(
                    "{}: uses `doc(cfg(..))` under docsrs, but {} lacks \
                     `#![cfg_attr(docsrs, feature(doc_cfg))]`",
                    file.display(),
                    dir.join("lib.rs").display()
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
