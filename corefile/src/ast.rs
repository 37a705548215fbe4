use crate::Span;

/// One word of the Corefile after quote removal and environment substitution.
///
/// `quoted` is kept because a plugin may want to treat `"{"` or `"import"`
/// differently from the bare word, and because error messages should show
/// the value the way the user wrote it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    pub text: String,
    pub span: Span,
    pub quoted: bool,
}

/// A whole configuration with snippets and imports already expanded, so
/// consumers never need to know those features exist.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Corefile {
    pub blocks: Vec<ServerBlock>,
}

/// `keys { directives }`. Keys stay verbatim strings: interpreting zones,
/// ports and schemes is the server's business, not the syntax's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerBlock {
    pub keys: Vec<Token>,
    pub directives: Vec<Directive>,
    /// Position of the first key.
    pub span: Span,
}

/// A line `name args... [{ ... }]`. Lines inside a block ("properties") use
/// the same type because they have the same shape and may nest further.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    pub name: Token,
    pub args: Vec<Token>,
    /// `None` when the line has no block; `Some(vec![])` for an empty one,
    /// which some plugins distinguish from no block at all.
    pub block: Option<Vec<Directive>>,
    /// Position of the name.
    pub span: Span,
}

impl Directive {
    pub fn name(&self) -> &str {
        &self.name.text
    }

    /// Argument texts without spans, for the common case of matching on values.
    pub fn arg_strs(&self) -> Vec<&str> {
        self.args.iter().map(|t| t.text.as_str()).collect()
    }
}
