//! Builds the tree from lexed lines, expanding snippets and imports as it goes.
//!
//! Parsing is line-oriented like Caddy's: a line is a server block header, a
//! snippet definition, an `import`, a directive, or a lone `}`. A block is
//! opened only by `{` at the end of a line and closed only by `}` alone on a
//! line, which keeps every error local and easy to explain.

use std::collections::HashMap;
use std::fs;

use crate::import::{self, MAX_IMPORT_DEPTH, Origin, Snippet};
use crate::lexer::{Kind, Lexeme, Line};
use crate::source::{Source, parent_dir};
use crate::{Corefile, Directive, ParseError, ParseOptions, ServerBlock, Span, Token};

type Result<T> = std::result::Result<T, ParseError>;

pub(crate) struct Parser<'o> {
    opts: &'o ParseOptions,
    snippets: HashMap<String, Snippet>,
    /// What is being imported right now, outermost first.
    chain: Vec<Origin>,
}

impl<'o> Parser<'o> {
    pub fn new(opts: &'o ParseOptions) -> Self {
        Self {
            opts,
            snippets: HashMap::new(),
            chain: Vec::new(),
        }
    }

    pub fn parse_root(mut self, source: &Source, origin: Origin) -> Result<Corefile> {
        self.chain.push(origin);
        let mut blocks = Vec::new();
        self.top_level(source, true, &mut blocks)?;
        Ok(Corefile { blocks })
    }

    /// Parses server blocks, snippet definitions and imports. Only the root
    /// file may hold a single server block without braces: anywhere else a
    /// missing `{` is far more likely a typo than that shorthand.
    fn top_level(
        &mut self,
        src: &Source,
        is_root: bool,
        blocks: &mut Vec<ServerBlock>,
    ) -> Result<()> {
        let mut i = 0;
        while let Some(line) = src.lines.get(i) {
            i += 1;
            let first = &line[0];
            match first.kind {
                Kind::Close => return Err(unexpected_close(&first.token)),
                Kind::Open | Kind::EmptyBlock => {
                    return Err(ParseError::new(
                        &first.token.span,
                        format!(
                            "unexpected '{}': expected server block keys before it, on the same line",
                            first.token.text
                        ),
                    ));
                }
                Kind::Word if is_import(first) => {
                    for (origin, imported) in self.expand_import(line, src)? {
                        self.nested(origin, |p| p.top_level(&imported, false, blocks))?;
                    }
                    continue;
                }
                Kind::Word => {}
            }

            // Keys may continue onto the next line after a trailing comma.
            let mut head: Vec<&Lexeme> = line.iter().collect();
            while head.last().is_some_and(|l| ends_with_comma(l)) {
                let Some(next) = src.lines.get(i) else { break };
                head.extend(next);
                i += 1;
            }
            let (last, before) = match head.split_last() {
                Some((last, before)) if opens_block(last) => (*last, before),
                _ => (head[head.len() - 1], &head[..]),
            };
            check_words(before.iter().copied())?;

            if let Some(name) = snippet_name(before)? {
                let (lines, end) = match last.kind {
                    Kind::Open => snippet_body(src, &mut i, &last.token)?,
                    Kind::EmptyBlock => (Vec::new(), last.token.span.clone()),
                    _ => return Err(expected_open(src, i, &last.token, "after the snippet name")),
                };
                self.define_snippet(name, &before[0].token, lines, end, src)?;
                continue;
            }

            let keys = split_keys(before);
            let Some(first_key) = keys.first() else {
                return Err(ParseError::new(
                    &last.token.span,
                    format!(
                        "server block has no keys: expected at least one key (such as '.:53'), found '{}'",
                        last.token.text
                    ),
                ));
            };
            let span = first_key.span.clone();
            let directives = match last.kind {
                Kind::Open => self.directives(src, &mut i, Some(&last.token))?,
                Kind::EmptyBlock => Vec::new(),
                _ if is_root && blocks.is_empty() => {
                    // Single server block without braces: the rest of the file is its body.
                    self.directives(src, &mut i, None)?
                }
                _ => {
                    return Err(expected_open(
                        src,
                        i,
                        &last.token,
                        "at the end of the server block keys",
                    ));
                }
            };
            blocks.push(ServerBlock {
                keys,
                directives,
                span,
            });
        }
        Ok(())
    }

    /// Parses directive lines until the `}` matching `open`, or to the end of
    /// `src` when there is no enclosing block in this source.
    fn directives(
        &mut self,
        src: &Source,
        i: &mut usize,
        open: Option<&Token>,
    ) -> Result<Vec<Directive>> {
        let mut out = Vec::new();
        loop {
            let Some(line) = src.lines.get(*i) else {
                return match open {
                    Some(open) => Err(ParseError::new(
                        &src.end,
                        format!(
                            "expected '}}' to close the block opened at {}, found {}",
                            open.span, src.end_what
                        ),
                    )),
                    None => Ok(out),
                };
            };
            *i += 1;
            let first = &line[0];
            match first.kind {
                Kind::Close if open.is_none() => return Err(unexpected_close(&first.token)),
                Kind::Close => {
                    return match line.get(1) {
                        Some(extra) => Err(ParseError::new(
                            &extra.token.span,
                            format!(
                                "expected end of line after '}}', found '{}': '}}' must be alone on its line",
                                extra.token.text
                            ),
                        )),
                        None => Ok(out),
                    };
                }
                Kind::Open | Kind::EmptyBlock => {
                    return Err(ParseError::new(
                        &first.token.span,
                        format!(
                            "unexpected '{}': expected a directive name; a block's '{{' must be at the end \
                             of the line it belongs to",
                            first.token.text
                        ),
                    ));
                }
                Kind::Word if is_import(first) => {
                    for (origin, imported) in self.expand_import(line, src)? {
                        let expanded =
                            self.nested(origin, |p| p.directives(&imported, &mut 0, None))?;
                        out.extend(expanded);
                    }
                    continue;
                }
                Kind::Word => {}
            }

            let (args, opener) = match line.split_last() {
                Some((last, rest)) if opens_block(last) => (&rest[1..], Some(last)),
                _ => (&line[1..], None),
            };
            check_words(args)?;
            let block = match opener {
                Some(open) if open.kind == Kind::Open => {
                    Some(self.directives(src, i, Some(&open.token))?)
                }
                Some(_) => Some(Vec::new()),
                None => None,
            };
            out.push(Directive {
                name: first.token.clone(),
                args: args.iter().map(|l| l.token.clone()).collect(),
                block,
                span: first.token.span.clone(),
            });
        }
    }

    /// Resolves `import TARGET args...` into the sources to splice, checking
    /// depth and cycles before anything is parsed.
    fn expand_import(&mut self, line: &Line, src: &Source) -> Result<Vec<(Origin, Source)>> {
        let Some(target) = line.get(1) else {
            return Err(ParseError::new(
                &line[0].token.span,
                "expected a snippet name or file path after 'import', found end of line",
            ));
        };
        check_words(&line[1..])?;
        let target = &target.token;
        if self.chain.len() > MAX_IMPORT_DEPTH {
            return Err(ParseError::new(
                &target.span,
                format!(
                    "expected imports nested at most {MAX_IMPORT_DEPTH} deep, found deeper nesting at '{}'",
                    target.text
                ),
            ));
        }
        let args: Vec<String> = line[2..].iter().map(|l| l.token.text.clone()).collect();

        if let Some(snippet) = self.snippets.get(&target.text) {
            let origin = Origin::Snippet(snippet.name.clone());
            self.check_cycle(&origin, target)?;
            return Ok(vec![(origin, snippet.instantiate(&args))]);
        }

        let files = import::matching_files(&target.text, &src.base_dir)
            .map_err(|e| ParseError::new(&target.span, e.to_string()))?;
        let mut out = Vec::with_capacity(files.len());
        for path in files {
            let origin = Origin::file(&path);
            self.check_cycle(&origin, target)?;
            let text = fs::read_to_string(&path).map_err(|e| {
                ParseError::new(
                    &target.span,
                    format!("expected a readable file, found '{}': {e}", path.display()),
                )
            })?;
            let name = path.display().to_string();
            let mut source = Source::from_text(&text, name.into(), parent_dir(&path), self.opts)?;
            import::substitute_args(&mut source, &args);
            out.push((origin, source));
        }
        Ok(out)
    }

    fn check_cycle(&self, origin: &Origin, target: &Token) -> Result<()> {
        if !self.chain.contains(origin) {
            return Ok(());
        }
        let path: Vec<String> = self
            .chain
            .iter()
            .chain([origin])
            .map(ToString::to_string)
            .collect();
        Err(ParseError::new(
            &target.span,
            format!(
                "import cycle: expected '{}' to not import itself, found {}",
                target.text,
                path.join(" -> ")
            ),
        ))
    }

    fn nested<T>(&mut self, origin: Origin, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        self.chain.push(origin);
        let result = f(self);
        self.chain.pop();
        result
    }

    fn define_snippet(
        &mut self,
        name: &str,
        at: &Token,
        lines: Vec<Line>,
        end: Span,
        src: &Source,
    ) -> Result<()> {
        if let Some(previous) = self.snippets.get(name) {
            return Err(ParseError::new(
                &at.span,
                format!(
                    "expected a new snippet name, found '({name})' which is already defined at {}",
                    previous.defined_at
                ),
            ));
        }
        let snippet = Snippet {
            name: name.to_owned(),
            lines,
            defined_at: at.span.clone(),
            end,
            base_dir: src.base_dir.clone(),
        };
        self.snippets.insert(name.to_owned(), snippet);
        Ok(())
    }
}

fn is_import(lexeme: &Lexeme) -> bool {
    lexeme.token.text == "import"
}

fn opens_block(lexeme: &Lexeme) -> bool {
    matches!(lexeme.kind, Kind::Open | Kind::EmptyBlock)
}

fn ends_with_comma(lexeme: &Lexeme) -> bool {
    lexeme.kind == Kind::Word && !lexeme.token.quoted && lexeme.token.text.ends_with(',')
}

/// Braces are structural only at the ends of lines; anywhere else they are
/// errors rather than words, since they are always a misplaced block.
fn check_words<'a>(lexemes: impl IntoIterator<Item = &'a Lexeme>) -> Result<()> {
    for lexeme in lexemes {
        let message = match lexeme.kind {
            Kind::Word => continue,
            Kind::Close => {
                "unexpected '}' in the middle of a line: expected '}' alone on its own line"
            }
            Kind::Open | Kind::EmptyBlock => {
                "unexpected '{' in the middle of a line: expected '{' only as the last word of a line"
            }
        };
        return Err(ParseError::new(&lexeme.token.span, message));
    }
    Ok(())
}

fn unexpected_close(token: &Token) -> ParseError {
    ParseError::new(
        &token.span,
        "unexpected '}': there is no open block to close",
    )
}

/// Error for a header line that lacks its `{`, pointing at a `{` that was put
/// on the next line if that is the mistake.
fn expected_open(src: &Source, next_line: usize, last: &Token, place: &str) -> ParseError {
    if let Some(next) = src.lines.get(next_line).map(|l| &l[0])
        && next.kind == Kind::Open
    {
        return ParseError::new(
            &next.token.span,
            format!(
                "unexpected '{{' at the start of a line: expected it {place}, on the same line"
            ),
        );
    }
    ParseError::new(
        &last.span,
        format!(
            "expected '{{' {place}, found end of line after '{}'",
            last.text
        ),
    )
}

/// `Some(name)` if the header is a snippet definition `(name)`.
fn snippet_name<'a>(head: &[&'a Lexeme]) -> Result<Option<&'a str>> {
    let [only] = head else { return Ok(None) };
    let token = &only.token;
    if token.quoted {
        return Ok(None);
    }
    let Some(name) = token
        .text
        .strip_prefix('(')
        .and_then(|t| t.strip_suffix(')'))
    else {
        return Ok(None);
    };
    if name.is_empty() {
        return Err(ParseError::new(
            &token.span,
            "expected a snippet name between '(' and ')', found '()'",
        ));
    }
    Ok(Some(name))
}

/// Collects a snippet's body up to its matching `}` without parsing it.
/// Returns the body lines and the position of the closing `}`.
fn snippet_body(src: &Source, i: &mut usize, open: &Token) -> Result<(Vec<Line>, Span)> {
    let start = *i;
    let mut depth = 1usize;
    while let Some(line) = src.lines.get(*i) {
        *i += 1;
        for (k, lexeme) in line.iter().enumerate() {
            match lexeme.kind {
                Kind::Open => depth += 1,
                Kind::Close => depth -= 1,
                Kind::Word | Kind::EmptyBlock => continue,
            }
            if depth > 0 {
                continue;
            }
            if k > 0 {
                return Err(ParseError::new(
                    &lexeme.token.span,
                    "unexpected '}' in the middle of a line: expected the snippet's '}' alone on its own line",
                ));
            }
            if let Some(extra) = line.get(1) {
                return Err(ParseError::new(
                    &extra.token.span,
                    format!(
                        "expected end of line after '}}', found '{}': '}}' must be alone on its line",
                        extra.token.text
                    ),
                ));
            }
            return Ok((src.lines[start..*i - 1].to_vec(), lexeme.token.span.clone()));
        }
    }
    Err(ParseError::new(
        &src.end,
        format!(
            "expected '}}' to close the snippet opened at {}, found {}",
            open.span, src.end_what
        ),
    ))
}

/// Splits header words on commas (`a,b` and `a, b` are both two keys),
/// keeping each key's own column. Quoted keys are never split.
fn split_keys(head: &[&Lexeme]) -> Vec<Token> {
    let mut keys = Vec::new();
    for lexeme in head {
        let token = &lexeme.token;
        if token.quoted {
            keys.push(token.clone());
            continue;
        }
        let mut col = token.span.col;
        for part in token.text.split(',') {
            if !part.is_empty() {
                keys.push(Token {
                    text: part.to_owned(),
                    span: Span {
                        col,
                        ..token.span.clone()
                    },
                    quoted: false,
                });
            }
            col = col.saturating_add(u32::try_from(part.chars().count() + 1).unwrap_or(u32::MAX));
        }
    }
    keys
}
