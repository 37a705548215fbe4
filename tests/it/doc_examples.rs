//! Every Corefile example in the docs goes through the setup `rollcall check` runs, and every
//! directive rollcall implements has such an example in its module doc, so the docs cannot drift
//! from the code (CoreDNS keeps `test/readme_test.go` for its plugin READMEs).
//!
//! Where examples are looked for: the `//!` module docs of `dns-server/src/plugin/**/*.rs`,
//! `README.md` and `ARCHITECTURE.md`. A fenced block is an example by its tag (the word after
//! the opening fence):
//! - `corefile`: a whole Corefile, checked as written.
//! - `corefile-stanza`: directives of one server block (a plugin's stanza, say), checked
//!   inside `. { … }`.
//! - Any other tag is not checked: `text` is for a `## Syntax` grammar with its placeholders.
//!   In a plugin doc, a fence under a heading that starts with "Example" must carry one of the
//!   two tags above, so an example cannot slip past this test by its tag.
//!
//! Files an example names: setup reads few files (`check` connects nowhere and reads no
//! manifests, kubeconfig, TLS or hosts file; a missing hosts file is only a warning). Those it
//! does read: `forward`'s and `autopath`'s resolv.conf and `eureka`'s `auth` files. An example
//! is set up with a scratch directory as its Corefile's directory, holding `resolv.conf`,
//! `eureka-users` (`user:password` lines) and `eureka-tokens`, so relative paths to those
//! names work; absolute paths are taken as written (`/etc/resolv.conf` must exist, as it does
//! on any machine that resolves names).
//!
//! A directive's module doc is the one whose heading is `# <directive>` (the file the chain
//! table's setup lives in; `bind`, a server-block option, has its own module too).

use std::path::{Path, PathBuf};

use rollcall::contract::DirectiveSetup;
use rollcall::plugin::CHAIN;

use crate::support::scratch_dir;

const WHOLE: &str = "corefile";
const STANZA: &str = "corefile-stanza";

fn workspace() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).to_path_buf()
}

/// One fenced Corefile example.
struct Example {
    /// `path:line` of the opening fence.
    at: String,
    /// The Corefile to check (a stanza already wrapped in `. { … }`).
    corefile: String,
}

/// What one documentation file holds.
struct Doc {
    /// Workspace-relative path.
    path: String,
    /// Level-1 headings (`# name`), for finding a directive's module doc.
    titles: Vec<String>,
    examples: Vec<Example>,
    /// Fences under an "Example" heading that are not tagged as examples.
    untagged: Vec<String>,
}

/// The text of a file's doc: `//!` lines of a Rust file (with the line numbers they have in
/// the file), every line of a Markdown file.
fn doc_lines(path: &Path, text: &str) -> Vec<(usize, String)> {
    let rust = path.extension().is_some_and(|e| e == "rs");
    text.lines()
        .enumerate()
        .filter_map(|(n, line)| {
            if !rust {
                return Some((n + 1, line.to_string()));
            }
            let rest = line.trim_start().strip_prefix("//!")?;
            Some((n + 1, rest.strip_prefix(' ').unwrap_or(rest).to_string()))
        })
        .collect()
}

fn read_doc(root: &Path, path: &Path) -> Doc {
    let text = std::fs::read_to_string(path).unwrap();
    let rel = path
        .strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string();
    let mut doc = Doc {
        path: rel.clone(),
        titles: Vec::new(),
        examples: Vec::new(),
        untagged: Vec::new(),
    };
    let mut heading = String::new();
    // The open fence: its marker, tag, indentation, line, and the lines so far.
    let mut open: Option<(String, String, usize, usize, Vec<String>)> = None;
    for (n, line) in doc_lines(path, &text) {
        let trimmed = line.trim_start();
        if let Some((marker, tag, indent, at, body)) = &mut open {
            if trimmed.starts_with(marker.as_str()) && trimmed.trim_matches('`').is_empty() {
                let (tag, at) = (tag.clone(), *at);
                let body = std::mem::take(body).join("\n");
                open = None;
                let corefile = match tag.as_str() {
                    WHOLE => format!("{body}\n"),
                    STANZA => format!(". {{\n{body}\n}}\n"),
                    _ => {
                        if rel.starts_with("dns-server") && heading.starts_with("Example") {
                            doc.untagged
                                .push(format!("{rel}:{at}: ```{tag} under {heading:?}"));
                        }
                        continue;
                    }
                };
                doc.examples.push(Example {
                    at: format!("{rel}:{at}"),
                    corefile,
                });
            } else {
                // Markdown strips a fence's indentation from its lines (a list item's block).
                let cut = line.len() - line.trim_start().len();
                body.push(line[cut.min(*indent)..].to_string());
            }
            continue;
        }
        if trimmed.starts_with("```") {
            let marker: String = trimmed.chars().take_while(|c| *c == '`').collect();
            let tag = trimmed[marker.len()..]
                .split(|c: char| c == ',' || c.is_whitespace())
                .next()
                .unwrap_or("")
                .to_string();
            let indent = line.len() - trimmed.len();
            open = Some((marker, tag, indent, n, Vec::new()));
        } else if let Some(h) = line.strip_prefix('#') {
            let h = h.trim_start_matches('#').trim();
            heading = h.to_string();
            if line.starts_with("# ") {
                doc.titles.push(h.to_string());
            }
        }
    }
    assert!(open.is_none(), "{rel}: a fence is never closed");
    doc
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn all_docs() -> Vec<Doc> {
    let root = workspace();
    let mut files = Vec::new();
    rust_files(&root.join("dns-server/src/plugin"), &mut files);
    files.sort();
    files.push(root.join("README.md"));
    files.push(root.join("ARCHITECTURE.md"));
    files.iter().map(|f| read_doc(&root, f)).collect()
}

/// The Corefile's directory the examples are set up in, with the files setup reads.
fn example_dir() -> PathBuf {
    let dir = scratch_dir("doc-examples");
    for (name, text) in [
        (
            "resolv.conf",
            "search apps.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\n",
        ),
        ("eureka-users", "registry:s3cret\n"),
        ("eureka-tokens", "a-long-random-token\n"),
    ] {
        std::fs::write(dir.join(name), text).unwrap();
    }
    dir
}

/// `Ok` with the directives the example's server blocks give, or the setup's errors.
fn check(example: &Example, dir: &Path) -> Result<Vec<String>, String> {
    let options = corefile::ParseOptions::with_env(|_| None);
    let parsed = corefile::parse_str(&example.corefile, "Corefile", dir, &options)
        .map_err(|e| e.to_string())?;
    rollcall::load_corefile_str(&example.corefile, "Corefile", dir, &options, 53)
        .map_err(|e| e.to_string())?;
    Ok(parsed
        .blocks
        .iter()
        .flat_map(|b| b.directives.iter().map(|d| d.name().to_string()))
        .collect())
}

#[test]
fn every_corefile_example_in_the_docs_passes_check() {
    let docs = all_docs();
    let dir = example_dir();
    let mut failures: Vec<String> = docs.iter().flat_map(|d| d.untagged.clone()).collect();
    let mut checked = 0;
    for doc in &docs {
        for example in &doc.examples {
            checked += 1;
            if let Err(e) = check(example, &dir) {
                failures.push(format!(
                    "{}: example fails check:\n{}\n--- the example\n{}",
                    example.at, e, example.corefile
                ));
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(checked >= 30, "only {checked} examples found");
}

#[test]
fn every_implemented_directive_has_an_example_in_its_module_doc() {
    let docs = all_docs();
    let dir = example_dir();
    let mut failures = Vec::new();
    for spec in CHAIN {
        if matches!(spec.setup, DirectiveSetup::NotYet) {
            continue;
        }
        let name = spec.name;
        let homes: Vec<&Doc> = docs
            .iter()
            .filter(|d| d.path.starts_with("dns-server") && d.titles.iter().any(|t| t == name))
            .collect();
        let [home] = homes.as_slice() else {
            failures.push(format!(
                "{name}: {} plugin module docs are headed `# {name}` (want exactly one)",
                homes.len()
            ));
            continue;
        };
        let shown = home
            .examples
            .iter()
            .any(|e| check(e, &dir).is_ok_and(|names| names.iter().any(|n| n == name)));
        if !shown {
            failures.push(format!(
                "{name}: {} has no ```{WHOLE} or ```{STANZA} example using it that passes check",
                home.path
            ));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
