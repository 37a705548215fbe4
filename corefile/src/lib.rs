//! Syntax of CoreDNS's Corefile (Caddy v1's Caddyfile), turned into a plain
//! tree. The crate knows nothing about DNS or plugins: it only answers "what
//! did the user write, and where".
//!
//! Modules, in the order text flows through them:
//! - `lexer`: characters to tokens grouped by line (quotes, comments, positions).
//! - `env`: `{$NAME}` / `{%NAME%}` substitution inside each token.
//! - `source`: one file or snippet body, ready to parse.
//! - `parser`: lines to server blocks and nested directives.
//! - `import`: snippets, file and glob imports, cycle detection.
//! - `ast`, `span`, `error`, `options`: the public types re-exported here.
//!
//! Snippets and imports are fully expanded, so consumers see only
//! [`ServerBlock`]s and [`Directive`]s, each with a [`Span`] pointing at the
//! text it came from.

mod ast;
mod env;
mod error;
mod import;
mod lexer;
mod options;
mod parser;
mod source;
mod span;

use std::fs;
use std::path::Path;

pub use ast::{Corefile, Directive, ServerBlock, Token};
pub use error::ParseError;
pub use options::ParseOptions;
pub use span::Span;

use import::Origin;
use parser::Parser;
use source::{Source, parent_dir};

/// Parses the Corefile at `path`; relative imports resolve from its directory.
///
/// A read failure is reported at line 1, column 1 of `path`, since there is
/// no token to point at.
pub fn parse_file(path: &Path, opts: &ParseOptions) -> Result<Corefile, ParseError> {
    let name = path.display().to_string();
    let text = fs::read_to_string(path).map_err(|e| {
        let span = Span {
            file: name.as_str().into(),
            line: 1,
            col: 1,
        };
        ParseError::new(&span, format!("expected a readable Corefile, found: {e}"))
    })?;
    let source = Source::from_text(&text, name.into(), parent_dir(path), opts)?;
    Parser::new(opts).parse_root(&source, Origin::file(path))
}

/// `name` is the file name used in spans and errors; `base_dir` resolves relative `import` paths.
pub fn parse_str(
    src: &str,
    name: &str,
    base_dir: &Path,
    opts: &ParseOptions,
) -> Result<Corefile, ParseError> {
    let source = Source::from_text(src, name.into(), base_dir.to_path_buf(), opts)?;
    // If the text is also a file on disk, importing that file is a cycle.
    Parser::new(opts).parse_root(&source, Origin::file(&base_dir.join(name)))
}
