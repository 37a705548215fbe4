//! The crate holds two systems that must not import each other (see `src/lib.rs`): the cluster
//! store with its sources, and the Eureka registry. A text check over the source files, so that
//! a `use` across the boundary fails a test rather than waiting for a reviewer.

use std::fs;
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every `(file, line)` under `src/<dir>` that names one of `forbidden` (module paths).
fn crossings(dir: &str, forbidden: &[&str]) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(dir);
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let mut found = Vec::new();
    for file in files {
        let Ok(text) = fs::read_to_string(&file) else {
            found.push(format!("{}: unreadable", file.display()));
            continue;
        };
        for (i, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            if forbidden.iter().any(|f| code.contains(f)) {
                found.push(format!("{}:{}: {}", file.display(), i + 1, line.trim()));
            }
        }
    }
    found
}

#[test]
fn store_and_sources_do_not_import_eureka() {
    let mut found = crossings("store", &["crate::eureka", "registry::eureka"]);
    found.extend(crossings("source", &["crate::eureka", "registry::eureka"]));
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn eureka_does_not_import_the_store_or_sources() {
    let found = crossings(
        "eureka",
        &[
            "crate::store",
            "crate::source",
            "registry::store",
            "registry::source",
        ],
    );
    assert!(found.is_empty(), "{}", found.join("\n"));
}
