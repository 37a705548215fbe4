//! Compact renderings so that expected trees fit on one line of a table.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use corefile::{Corefile, Directive, ParseOptions, Token};

/// Blocks as `[key key] {directive; directive {nested}}`, separated by ` | `.
/// Quoted tokens are shown in Rust debug quotes.
pub fn render(corefile: &Corefile) -> String {
    corefile
        .blocks
        .iter()
        .map(|b| format!("[{}] {{{}}}", words(&b.keys), directives(&b.directives)))
        .collect::<Vec<_>>()
        .join(" | ")
}

fn directives(list: &[Directive]) -> String {
    list.iter()
        .map(|d| {
            let mut out = word(&d.name);
            if !d.args.is_empty() {
                out.push(' ');
                out.push_str(&words(&d.args));
            }
            if let Some(block) = &d.block {
                out.push_str(&format!(" {{{}}}", directives(block)));
            }
            out
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn words(tokens: &[Token]) -> String {
    tokens.iter().map(word).collect::<Vec<_>>().join(" ")
}

fn word(token: &Token) -> String {
    if token.quoted {
        format!("{:?}", token.text)
    } else {
        token.text.clone()
    }
}

/// Environment used by in-memory tests; never the process environment.
pub fn test_env() -> ParseOptions {
    ParseOptions::with_env(|name| {
        let value = match name {
            "PORT" => "1053",
            "ZONE" => "cluster.local",
            "BRACE" => "{",
            "TWO_WORDS" => "a b",
            "NEWLINE" => "x\ny",
            _ => return None,
        };
        Some(value.to_owned())
    })
}

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(label: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("corefile-test-{}-{label}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Writes `contents` to `rel`, creating parent directories.
    pub fn write(&self, rel: &str, contents: &str) -> PathBuf {
        let path = self.0.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, contents).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
