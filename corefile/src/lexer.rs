//! Splits text into tokens grouped by line.
//!
//! Lines matter in this grammar (a newline ends a directive), so the lexer
//! hands the parser whole lines instead of a flat stream with newline flags.
//! Quoted strings may span lines without ending one.

use std::iter::Peekable;
use std::mem;
use std::str::Chars;
use std::sync::Arc;

use crate::{ParseError, Span, Token};

/// What a token means to the structure. Decided from the raw source, before
/// environment substitution, so that only braces the user typed (unquoted)
/// open or close blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Word,
    Open,
    Close,
    /// `{}` written as one word: a block that is opened and closed at once.
    EmptyBlock,
}

#[derive(Clone, Debug)]
pub(crate) struct Lexeme {
    pub token: Token,
    pub kind: Kind,
}

/// The tokens of one source line; never empty.
pub(crate) type Line = Vec<Lexeme>;

pub(crate) struct Lexed {
    pub lines: Vec<Line>,
    /// Position just past the last character, for "found end of file" errors.
    pub eof: Span,
}

pub(crate) fn lex(src: &str, file: Arc<str>) -> Result<Lexed, ParseError> {
    let src = src.strip_prefix('\u{feff}').unwrap_or(src);
    let mut cur = Cursor {
        chars: src.chars().peekable(),
        file,
        line: 1,
        col: 1,
    };
    let mut lines = Vec::new();
    let mut line = Vec::new();
    while let Some(c) = cur.peek() {
        if c == '\n' {
            cur.bump();
            if !line.is_empty() {
                lines.push(mem::take(&mut line));
            }
        } else if c.is_whitespace() {
            cur.bump();
        } else if c == '#' {
            cur.skip_comment();
        } else if c == '"' {
            let span = cur.span();
            cur.bump();
            let text = cur.quoted(&span)?;
            line.push(Lexeme {
                token: Token {
                    text,
                    span,
                    quoted: true,
                },
                kind: Kind::Word,
            });
        } else {
            let span = cur.span();
            let text = cur.word();
            let kind = match text.as_str() {
                "{" => Kind::Open,
                "}" => Kind::Close,
                "{}" => Kind::EmptyBlock,
                _ => Kind::Word,
            };
            line.push(Lexeme {
                token: Token {
                    text,
                    span,
                    quoted: false,
                },
                kind,
            });
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    Ok(Lexed {
        lines,
        eof: cur.span(),
    })
}

struct Cursor<'a> {
    chars: Peekable<Chars<'a>>,
    file: Arc<str>,
    line: u32,
    col: u32,
}

impl Cursor<'_> {
    fn peek(&mut self) -> Option<char> {
        self.chars.peek().copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.chars.next()?;
        if c == '\n' {
            self.line = self.line.saturating_add(1);
            self.col = 1;
        } else {
            self.col = self.col.saturating_add(1);
        }
        Some(c)
    }

    fn span(&self) -> Span {
        Span {
            file: self.file.clone(),
            line: self.line,
            col: self.col,
        }
    }

    /// Leaves the newline in place so the caller still ends the line.
    fn skip_comment(&mut self) {
        while self.peek().is_some_and(|c| c != '\n') {
            self.bump();
        }
    }

    /// A bare word runs to the next whitespace; `#` and `"` inside it are
    /// ordinary characters, as in Caddy.
    fn word(&mut self) -> String {
        let mut text = String::new();
        while let Some(c) = self.peek().filter(|c| !c.is_whitespace()) {
            self.bump();
            text.push(c);
        }
        text
    }

    /// Reads after an opening quote. Only `\"` is an escape; any other
    /// backslash is kept literally (Caddy v1), so regexes and Windows paths
    /// survive unmangled. CRLF becomes LF so values do not depend on how the
    /// file was saved.
    fn quoted(&mut self, open: &Span) -> Result<String, ParseError> {
        let mut text = String::new();
        loop {
            match self.bump() {
                None => {
                    return Err(ParseError::new(
                        open,
                        "unterminated quoted string: expected a closing '\"', found end of file",
                    ));
                }
                Some('"') => return Ok(text),
                Some('\\') => match self.bump() {
                    Some('"') => text.push('"'),
                    Some(c) => {
                        text.push('\\');
                        text.push(c);
                    }
                    None => text.push('\\'),
                },
                Some('\r') if self.peek() == Some('\n') => {}
                Some(c) => text.push(c),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Renders lines as `text@line:col` words, lines separated by ` | `,
    /// quoted tokens in Rust debug quotes.
    fn render(src: &str) -> String {
        match lex(src, Arc::from("f")) {
            Err(e) => format!("error {e}"),
            Ok(lexed) => lexed
                .lines
                .iter()
                .map(|line| {
                    line.iter()
                        .map(|l| {
                            let t = &l.token;
                            let text = if t.quoted {
                                format!("{:?}", t.text)
                            } else {
                                t.text.clone()
                            };
                            format!("{text}@{}:{}", t.span.line, t.span.col)
                        })
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .collect::<Vec<_>>()
                .join(" | "),
        }
    }

    #[test]
    fn tokens_and_positions() {
        let cases = [
            ("", ""),
            ("a b\nc", "a@1:1 b@1:3 | c@2:1"),
            ("  a\t\tb  ", "a@1:3 b@1:6"),
            ("a # comment\n# whole line\nb", "a@1:1 | b@3:1"),
            ("a#b c", "a#b@1:1 c@1:5"),
            ("a \"b c\" d", "a@1:1 \"b c\"@1:3 d@1:9"),
            ("\"x\ny\" z\nw", "\"x\\ny\"@1:1 z@2:4 | w@3:1"),
            (r#""say \"hi\"""#, r#""say \"hi\""@1:1"#),
            (r#""a\b\\c""#, r#""a\\b\\\\c"@1:1"#),
            (r#""\\" x"#, r#""\\\\"@1:1 x@1:6"#),
            ("a\r\nb\r\n", "a@1:1 | b@2:1"),
            ("\"a\r\nb\"", "\"a\\nb\"@1:1"),
            ("ünï b", "ünï@1:1 b@1:5"),
            ("\u{feff}a", "a@1:1"),
            ("\"\"", "\"\"@1:1"),
            ("\"a\"b", "\"a\"@1:1 b@1:4"),
            ("a\"b\"", "a\"b\"@1:1"),
            (
                "x \"unterminated\n",
                "error f:1:3: unterminated quoted string: expected a closing '\"', found end of file",
            ),
        ];
        for (src, want) in cases {
            assert_eq!(render(src), want, "source {src:?}");
        }
    }

    #[test]
    fn brace_kinds_come_from_raw_unquoted_text() {
        let lexed = lex("{ } {} \"{\" {x}", Arc::from("f")).unwrap();
        let kinds: Vec<Kind> = lexed.lines[0].iter().map(|l| l.kind).collect();
        assert_eq!(
            kinds,
            [
                Kind::Open,
                Kind::Close,
                Kind::EmptyBlock,
                Kind::Word,
                Kind::Word
            ]
        );
    }

    #[test]
    fn eof_position_is_after_last_char() {
        let lexed = lex("ab\ncd\n", Arc::from("f")).unwrap();
        assert_eq!((lexed.eof.line, lexed.eof.col), (3, 1));
        let lexed = lex("ab", Arc::from("f")).unwrap();
        assert_eq!((lexed.eof.line, lexed.eof.col), (1, 3));
    }
}
