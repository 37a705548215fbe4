//! A unit of lexed text the parser works through: a file, or a snippet body
//! being spliced in. Each is parsed on its own, so a block can never be opened
//! in one file and closed in another, and "missing '}'" errors point at the
//! end of the text that forgot it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::lexer::{self, Line};
use crate::{ParseError, ParseOptions, Span, env};

pub(crate) struct Source {
    pub lines: Vec<Line>,
    /// Where this text ends, and how to call that place in messages.
    pub end: Span,
    pub end_what: String,
    /// Directory that relative `import` paths inside this text resolve from.
    pub base_dir: PathBuf,
}

impl Source {
    pub fn from_text(
        text: &str,
        file: Arc<str>,
        base_dir: PathBuf,
        opts: &ParseOptions,
    ) -> Result<Self, ParseError> {
        let mut lexed = lexer::lex(text, file)?;
        for lexeme in lexed.lines.iter_mut().flatten() {
            if lexeme.token.text.contains('{') {
                lexeme.token.text = env::substitute(&lexeme.token.text, opts);
            }
        }
        Ok(Self {
            lines: lexed.lines,
            end: lexed.eof,
            end_what: "end of file".to_owned(),
            base_dir,
        })
    }
}

/// The directory a file's relative imports resolve from.
pub(crate) fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    }
}
