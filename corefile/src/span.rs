use std::fmt;
use std::sync::Arc;

/// Where a token starts. Every parsed value and every error carries one so that
/// a user can find the offending text, even when it was spliced in by an
/// `import` from another file or from a snippet.
///
/// Lines and columns are 1-based and columns count characters, not bytes, so
/// the position matches what an editor shows.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Span {
    /// Name of the file the text came from (shared, since every token has one).
    pub file: Arc<str>,
    pub line: u32,
    pub col: u32,
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}
