//! Tidy checks over the repository's own sources: every Rust file opens with a `//!` paragraph saying what it is
//! for, and no file of ours leaves a `todo!()` or `dbg!()` behind.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            if path
                .file_name()
                .is_some_and(|n| n != "target" && n != "golden")
            {
                rust_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_source_file_starts_with_a_module_doc() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut files = Vec::new();
    rust_files(crates, &mut files);
    assert!(
        files.len() > 50,
        "found only {} files under {}",
        files.len(),
        crates.display()
    );
    let mut missing = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        if !text.trim_start().starts_with("//!") {
            missing.push(f.display().to_string());
        }
        let stray = ["todo!(", "dbg!("].iter().any(|m| text.contains(m));
        // This file names the macros it looks for.
        if stray && !f.ends_with("tidy.rs") {
            missing.push(format!("{} leaves todo!() or dbg!()", f.display()));
        }
    }
    assert!(
        missing.is_empty(),
        "files without a //! module doc or with leftovers:\n{}",
        missing.join("\n")
    );
}
