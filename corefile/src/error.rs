use crate::Span;

/// A syntax error at a specific place. The message states what was expected
/// and what was found, so it is actionable without reading the grammar.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[error("{span}: {message}")]
pub struct ParseError {
    pub span: Span,
    pub message: String,
}

impl ParseError {
    pub(crate) fn new(span: &Span, message: impl Into<String>) -> Self {
        Self {
            span: span.clone(),
            message: message.into(),
        }
    }
}
