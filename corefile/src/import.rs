//! Snippets and file imports: what `import X args...` expands to, and the
//! bookkeeping that turns import cycles into errors instead of stack overflows.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::Span;
use crate::lexer::Line;
use crate::source::Source;

/// Deeper nesting than this is almost certainly a mistake, and the cap keeps
/// recursion bounded even for cycles the identity check cannot see (for
/// example the same file reached through different hard links).
pub(crate) const MAX_IMPORT_DEPTH: usize = 32;

/// A `(name) { ... }` definition. The body is kept as lexed lines and parsed
/// only when imported, because the same snippet may hold directives in one
/// place and whole server blocks in another.
pub(crate) struct Snippet {
    pub name: String,
    pub lines: Vec<Line>,
    pub defined_at: Span,
    /// The closing `}`: where "end of snippet" errors point.
    pub end: Span,
    pub base_dir: PathBuf,
}

impl Snippet {
    pub fn instantiate(&self, args: &[String]) -> Source {
        let mut source = Source {
            lines: self.lines.clone(),
            end: self.end.clone(),
            end_what: format!("end of snippet '{}'", self.name),
            base_dir: self.base_dir.clone(),
        };
        substitute_args(&mut source, args);
        source
    }
}

/// Something being imported, used to detect cycles.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    /// Canonical path when it can be resolved, so `./a` and `a` are the same file.
    File(PathBuf),
    Snippet(String),
}

impl Origin {
    pub fn file(path: &Path) -> Self {
        Self::File(std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()))
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(path) => write!(f, "{}", path.display()),
            Self::Snippet(name) => write!(f, "({name})"),
        }
    }
}

/// Replaces `{args[N]}` in every token with the N-th import argument; an
/// index past the end becomes empty, like an unset environment variable.
pub(crate) fn substitute_args(source: &mut Source, args: &[String]) {
    for lexeme in source.lines.iter_mut().flatten() {
        if lexeme.token.text.contains("{args[") {
            lexeme.token.text = replace_args(&lexeme.token.text, args);
        }
    }
}

fn replace_args(text: &str, args: &[String]) -> String {
    const OPEN: &str = "{args[";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find(OPEN) {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + OPEN.len()..];
        let digits = after
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(after.len());
        let index = after[..digits].parse::<usize>().ok();
        match index.filter(|_| after[digits..].starts_with("]}")) {
            Some(i) => {
                out.push_str(args.get(i).map_or("", String::as_str));
                rest = &after[digits + 2..];
            }
            None => {
                out.push_str(OPEN);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Why an import target names no file (the caller adds the span).
#[derive(Debug, thiserror::Error)]
pub(crate) enum ImportError {
    #[error(
        "expected a snippet name or an existing file after 'import', found '{target}' \
         (no snippet with that name is defined and '{}' does not exist)",
        path.display()
    )]
    Missing { target: String, path: PathBuf },
    #[error("expected a valid glob pattern after 'import', found '{target}': {source}")]
    Pattern {
        target: String,
        #[source]
        source: glob::PatternError,
    },
    #[error("cannot read a match of import '{target}': {source}")]
    Unreadable {
        target: String,
        #[source]
        source: glob::GlobError,
    },
}

/// Files an import target names, in sorted order. A glob may match nothing
/// (optional drop-in directories are the common case); a plain path must exist.
pub(crate) fn matching_files(target: &str, base_dir: &Path) -> Result<Vec<PathBuf>, ImportError> {
    let is_glob = target.contains(['*', '?', '[']);
    if !is_glob {
        let path = tidy(&base_dir.join(target));
        return if path.exists() {
            Ok(vec![path])
        } else {
            Err(ImportError::Missing {
                target: target.to_owned(),
                path,
            })
        };
    }
    let pattern = if Path::new(target).is_absolute() {
        target.to_owned()
    } else {
        // The directory is literal text, not part of the user's pattern.
        let dir = glob::Pattern::escape(&base_dir.to_string_lossy());
        Path::new(&dir).join(target).to_string_lossy().into_owned()
    };
    let entries = glob::glob(&pattern).map_err(|source| ImportError::Pattern {
        target: target.to_owned(),
        source,
    })?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry.map_err(|source| ImportError::Unreadable {
            target: target.to_owned(),
            source,
        })?;
        // A drop-in directory may contain subdirectories; only files are imported.
        if !path.is_dir() {
            files.push(tidy(&path));
        }
    }
    files.sort();
    Ok(files)
}

/// Drops inner `.` components so spans read `dir/b.conf`, not `dir/./b.conf`.
fn tidy(path: &Path) -> PathBuf {
    path.components().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_arg_placeholders() {
        let args = ["zero".to_owned(), "one".to_owned()];
        let cases = [
            ("{args[0]}", "zero"),
            ("x{args[1]}y{args[0]}", "xoneyzero"),
            ("{args[2]}", ""),
            ("{args[]}", "{args[]}"),
            ("{args[0]", "{args[0]"),
            ("{args[x]}", "{args[x]}"),
            ("{args[{args[0]}", "{args[zero"),
        ];
        for (input, want) in cases {
            assert_eq!(replace_args(input, &args), want, "input {input:?}");
        }
    }
}
