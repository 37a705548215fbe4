//! Kubernetes label selectors, as written in the `labels` option of the `kubernetes` directive and
//! as the API server accepts them in `labelSelector`:
//!
//! ```text
//! environment in (staging, qa),application=nginx,!canary,tier notin (cache),track
//! ```
//!
//! Requirements are comma-joined and all must hold. Operators: `=`, `==`, `!=`, `in (…)`,
//! `notin (…)`, `>` and `<` (integer comparison), a bare key (exists) and `!key` (does not exist).
//! `!=` and `notin` also match objects that lack the key, as in Kubernetes.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

/// A parsed label selector. The empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector {
    /// Sorted by key (stable), as Kubernetes renders them.
    requirements: Vec<Requirement>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub key: String,
    pub operator: Operator,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operator {
    /// `key` present.
    Exists,
    /// `!key`.
    DoesNotExist,
    /// `key=value` or `key==value`.
    Equals(String),
    /// `key!=value`: also true when the key is absent.
    NotEquals(String),
    /// `key in (a,b)`.
    In(BTreeSet<String>),
    /// `key notin (a,b)`: also true when the key is absent.
    NotIn(BTreeSet<String>),
    /// `key>n`: the value is an integer greater than `n`.
    GreaterThan(i64),
    /// `key<n`: the value is an integer less than `n`.
    LessThan(i64),
}

/// A syntax error, with the byte offset in the input where it was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid label selector {input:?}: {reason} (at offset {position})")]
pub struct SelectorError {
    pub input: String,
    pub position: usize,
    pub reason: SyntaxError,
}

/// What is wrong at [`SelectorError::position`]. `found` is the token there, as quoted text
/// (`"app"`, `','`, `end of input`); `op` is `in` or `notin`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyntaxError {
    #[error("expected a label key, found {found}")]
    ExpectedKey { found: String },
    #[error(
        "expected an operator (=, ==, !=, in, notin, >, <), ',' or end of input after key {key:?}, found {found}"
    )]
    ExpectedOperator { key: String, found: String },
    #[error("{text:?} is not an integer (required by '>' and '<')")]
    NotAnInteger { text: String },
    #[error("expected an integer after {operator}, found {found}")]
    ExpectedInteger { operator: String, found: String },
    #[error("expected a label value, found {found}")]
    ExpectedValue { found: String },
    #[error("expected '(' after '{op}', found {found}")]
    ExpectedOpen { op: &'static str, found: String },
    #[error("the value set of '{op}' is empty")]
    EmptySet { op: &'static str },
    #[error("expected ',' or ')' in the value set of '{op}', found {found}")]
    ExpectedCommaOrClose { op: &'static str, found: String },
    #[error("unclosed '(' in the value set of '{op}'")]
    Unclosed { op: &'static str },
    #[error("expected a value in the value set of '{op}', found {found}")]
    ExpectedSetValue { op: &'static str, found: String },
    #[error("expected ',' or end of input after a requirement, found {found}")]
    ExpectedCommaOrEnd { found: String },
    #[error(transparent)]
    Label(#[from] LabelError),
}

/// A label key or value that Kubernetes would reject. `what` is `key name` or `value`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelError {
    #[error("{what} {text:?} is longer than 63 characters")]
    TooLong { what: &'static str, text: String },
    #[error(
        "{what} {text:?} is invalid: it must consist of alphanumeric characters, '-', '_' or '.', and start and end with an alphanumeric character"
    )]
    BadCharacters { what: &'static str, text: String },
    #[error(
        "key prefix {prefix:?} is invalid: it must be a lower-case DNS subdomain (e.g. example.com)"
    )]
    BadPrefix { prefix: String },
    #[error("key {key:?} has an empty name")]
    EmptyName { key: String },
}

impl Selector {
    /// The selector that matches every object.
    pub fn everything() -> Self {
        Selector::default()
    }

    pub fn parse(input: &str) -> Result<Selector, SelectorError> {
        Parser::new(input).parse()
    }

    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }
}

impl Requirement {
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.key);
        match &self.operator {
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
            Operator::Equals(v) => value == Some(v),
            Operator::NotEquals(v) => value != Some(v),
            Operator::In(set) => value.is_some_and(|v| set.contains(v)),
            Operator::NotIn(set) => !value.is_some_and(|v| set.contains(v)),
            Operator::GreaterThan(n) => value
                .and_then(|v| v.parse::<i64>().ok())
                .is_some_and(|v| v > *n),
            Operator::LessThan(n) => value
                .and_then(|v| v.parse::<i64>().ok())
                .is_some_and(|v| v < *n),
        }
    }
}

impl FromStr for Selector {
    type Err = SelectorError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Selector::parse(s)
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = &self.key;
        match &self.operator {
            Operator::Exists => write!(f, "{key}"),
            Operator::DoesNotExist => write!(f, "!{key}"),
            Operator::Equals(v) => write!(f, "{key}={v}"),
            Operator::NotEquals(v) => write!(f, "{key}!={v}"),
            Operator::In(set) => write!(f, "{key} in ({})", join(set)),
            Operator::NotIn(set) => write!(f, "{key} notin ({})", join(set)),
            Operator::GreaterThan(n) => write!(f, "{key}>{n}"),
            Operator::LessThan(n) => write!(f, "{key}<{n}"),
        }
    }
}

fn join(set: &BTreeSet<String>) -> String {
    set.iter().map(String::as_str).collect::<Vec<_>>().join(",")
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token<'a> {
    Ident(&'a str),
    Bang,
    Eq,
    DoubleEq,
    NotEq,
    Gt,
    Lt,
    Open,
    Close,
    Comma,
    End,
}

impl Token<'_> {
    fn describe(&self) -> String {
        match self {
            Token::Ident(s) => format!("{s:?}"),
            Token::Bang => "'!'".into(),
            Token::Eq => "'='".into(),
            Token::DoubleEq => "'=='".into(),
            Token::NotEq => "'!='".into(),
            Token::Gt => "'>'".into(),
            Token::Lt => "'<'".into(),
            Token::Open => "'('".into(),
            Token::Close => "')'".into(),
            Token::Comma => "','".into(),
            Token::End => "end of input".into(),
        }
    }
}

fn is_special(c: char) -> bool {
    c.is_whitespace() || matches!(c, '!' | '=' | '<' | '>' | '(' | ')' | ',')
}

struct Parser<'a> {
    input: &'a str,
    pos: usize,
    /// The token read by `peek`, with its start offset.
    peeked: Option<(usize, Token<'a>)>,
}

impl<'a> Parser<'a> {
    fn new(input: &'a str) -> Self {
        Parser {
            input,
            pos: 0,
            peeked: None,
        }
    }

    fn error(&self, position: usize, reason: impl Into<SyntaxError>) -> SelectorError {
        SelectorError {
            input: self.input.to_owned(),
            position,
            reason: reason.into(),
        }
    }

    fn lex(&mut self) -> (usize, Token<'a>) {
        let rest = &self.input[self.pos..];
        let trimmed = rest.trim_start();
        self.pos += rest.len() - trimmed.len();
        let start = self.pos;
        let mut chars = trimmed.chars();
        let Some(c) = chars.next() else {
            return (start, Token::End);
        };
        let next = chars.next();
        let (token, len) = match (c, next) {
            ('!', Some('=')) => (Token::NotEq, 2),
            ('!', _) => (Token::Bang, 1),
            ('=', Some('=')) => (Token::DoubleEq, 2),
            ('=', _) => (Token::Eq, 1),
            ('>', _) => (Token::Gt, 1),
            ('<', _) => (Token::Lt, 1),
            ('(', _) => (Token::Open, 1),
            (')', _) => (Token::Close, 1),
            (',', _) => (Token::Comma, 1),
            _ => {
                let len = trimmed.find(is_special).unwrap_or(trimmed.len());
                (Token::Ident(&trimmed[..len]), len)
            }
        };
        self.pos += len;
        (start, token)
    }

    fn next(&mut self) -> (usize, Token<'a>) {
        match self.peeked.take() {
            Some(t) => t,
            None => self.lex(),
        }
    }

    fn peek(&mut self) -> &(usize, Token<'a>) {
        if self.peeked.is_none() {
            let t = self.lex();
            self.peeked = Some(t);
        }
        match &self.peeked {
            Some(t) => t,
            None => &(0, Token::End),
        }
    }

    fn parse(mut self) -> Result<Selector, SelectorError> {
        let mut requirements = Vec::new();
        if self.peek().1 == Token::End {
            return Ok(Selector { requirements });
        }
        loop {
            requirements.push(self.requirement()?);
            match self.next() {
                (_, Token::End) => break,
                (_, Token::Comma) => {}
                (at, t) => {
                    return Err(self.error(
                        at,
                        SyntaxError::ExpectedCommaOrEnd {
                            found: t.describe(),
                        },
                    ));
                }
            }
        }
        requirements.sort_by(|a: &Requirement, b: &Requirement| a.key.cmp(&b.key));
        Ok(Selector { requirements })
    }

    fn requirement(&mut self) -> Result<Requirement, SelectorError> {
        let (at, token) = self.next();
        let (negated, (at, token)) = if token == Token::Bang {
            (true, self.next())
        } else {
            (false, (at, token))
        };
        let key = match token {
            Token::Ident(key) => {
                validate_key(key).map_err(|reason| self.error(at, reason))?;
                key.to_owned()
            }
            t => {
                return Err(self.error(
                    at,
                    SyntaxError::ExpectedKey {
                        found: t.describe(),
                    },
                ));
            }
        };
        if negated {
            return Ok(Requirement {
                key,
                operator: Operator::DoesNotExist,
            });
        }
        let (op_at, op) = self.peek().clone();
        let operator = match op {
            Token::Comma | Token::End => Operator::Exists,
            Token::Eq | Token::DoubleEq => {
                self.next();
                Operator::Equals(self.single_value()?)
            }
            Token::NotEq => {
                self.next();
                Operator::NotEquals(self.single_value()?)
            }
            Token::Gt | Token::Lt => {
                self.next();
                let (at, token) = self.next();
                let n = match token {
                    Token::Ident(s) => s.parse::<i64>().map_err(|_| {
                        self.error(at, SyntaxError::NotAnInteger { text: s.to_owned() })
                    })?,
                    t => {
                        return Err(self.error(
                            at,
                            SyntaxError::ExpectedInteger {
                                operator: op.describe(),
                                found: t.describe(),
                            },
                        ));
                    }
                };
                if op == Token::Gt {
                    Operator::GreaterThan(n)
                } else {
                    Operator::LessThan(n)
                }
            }
            Token::Ident("in") => {
                self.next();
                Operator::In(self.value_set("in")?)
            }
            Token::Ident("notin") => {
                self.next();
                Operator::NotIn(self.value_set("notin")?)
            }
            t => {
                return Err(self.error(
                    op_at,
                    SyntaxError::ExpectedOperator {
                        key,
                        found: t.describe(),
                    },
                ));
            }
        };
        Ok(Requirement { key, operator })
    }

    /// The value after `=`, `==` or `!=`; may be empty (`key=`).
    fn single_value(&mut self) -> Result<String, SelectorError> {
        let (at, token) = self.peek().clone();
        match token {
            Token::Ident(v) => {
                self.next();
                validate_value(v).map_err(|reason| self.error(at, reason))?;
                Ok(v.to_owned())
            }
            Token::Comma | Token::End => Ok(String::new()),
            t => Err(self.error(
                at,
                SyntaxError::ExpectedValue {
                    found: t.describe(),
                },
            )),
        }
    }

    /// `( v1, v2, … )`; empty values are allowed (`(a,)` holds `a` and ``) but the set is not.
    fn value_set(&mut self, op: &'static str) -> Result<BTreeSet<String>, SelectorError> {
        match self.next() {
            (_, Token::Open) => {}
            (at, t) => {
                return Err(self.error(
                    at,
                    SyntaxError::ExpectedOpen {
                        op,
                        found: t.describe(),
                    },
                ));
            }
        }
        let mut values = BTreeSet::new();
        let (at, token) = self.peek().clone();
        if token == Token::Close {
            return Err(self.error(at, SyntaxError::EmptySet { op }));
        }
        loop {
            let (at, token) = self.next();
            let value = match token {
                Token::Ident(v) => {
                    validate_value(v).map_err(|reason| self.error(at, reason))?;
                    let (at, after) = self.next();
                    match after {
                        Token::Comma => {}
                        Token::Close => {
                            values.insert(v.to_owned());
                            return Ok(values);
                        }
                        t => {
                            return Err(self.error(
                                at,
                                SyntaxError::ExpectedCommaOrClose {
                                    op,
                                    found: t.describe(),
                                },
                            ));
                        }
                    }
                    v.to_owned()
                }
                // An empty value between commas or before ')'.
                Token::Comma => String::new(),
                Token::Close => {
                    values.insert(String::new());
                    return Ok(values);
                }
                Token::End => {
                    return Err(self.error(at, SyntaxError::Unclosed { op }));
                }
                t => {
                    return Err(self.error(
                        at,
                        SyntaxError::ExpectedSetValue {
                            op,
                            found: t.describe(),
                        },
                    ));
                }
            };
            values.insert(value);
        }
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
}

/// The name part of a key, or a value: at most 63 characters, alphanumeric at both ends,
/// `-`, `_`, `.` allowed inside.
fn validate_name(what: &'static str, s: &str) -> Result<(), LabelError> {
    if s.len() > 63 {
        return Err(LabelError::TooLong {
            what,
            text: s.to_owned(),
        });
    }
    let starts_ok = s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    let ends_ok = s.chars().last().is_some_and(|c| c.is_ascii_alphanumeric());
    if !s.chars().all(is_name_char) || !starts_ok || !ends_ok {
        return Err(LabelError::BadCharacters {
            what,
            text: s.to_owned(),
        });
    }
    Ok(())
}

fn validate_key(key: &str) -> Result<(), LabelError> {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(prefix) = prefix {
        let labels_ok = prefix.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
        if prefix.is_empty() || prefix.len() > 253 || !labels_ok {
            return Err(LabelError::BadPrefix {
                prefix: prefix.to_owned(),
            });
        }
    }
    if name.is_empty() {
        return Err(LabelError::EmptyName {
            key: key.to_owned(),
        });
    }
    validate_name("key name", name)
}

fn validate_value(value: &str) -> Result<(), LabelError> {
    if value.is_empty() {
        return Ok(());
    }
    validate_name("value", value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn sel(s: &str) -> Selector {
        Selector::parse(s).unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
    }

    #[test]
    fn empty_matches_everything() {
        for s in ["", "   "] {
            let selector = sel(s);
            assert!(selector.is_empty());
            assert!(selector.matches(&labels(&[])));
            assert!(selector.matches(&labels(&[("a", "b")])));
            assert_eq!(selector.to_string(), "");
        }
    }

    #[test]
    fn equality() {
        let s = sel("app=nginx");
        assert!(s.matches(&labels(&[("app", "nginx"), ("x", "y")])));
        assert!(!s.matches(&labels(&[("app", "apache")])));
        assert!(!s.matches(&labels(&[])));
        assert_eq!(sel("app==nginx"), s);
        assert_eq!(sel(" app  ==  nginx ").to_string(), "app=nginx");

        let s = sel("app!=nginx");
        assert!(!s.matches(&labels(&[("app", "nginx")])));
        assert!(s.matches(&labels(&[("app", "apache")])));
        assert!(s.matches(&labels(&[])), "!= matches a missing key");
        assert_eq!(s.to_string(), "app!=nginx");

        let s = sel("app=");
        assert!(s.matches(&labels(&[("app", "")])));
        assert!(!s.matches(&labels(&[("app", "x")])));
    }

    #[test]
    fn set_based() {
        let s = sel("environment in (staging, qa),application=nginx");
        assert!(s.matches(&labels(&[("environment", "qa"), ("application", "nginx")])));
        assert!(s.matches(&labels(&[
            ("environment", "staging"),
            ("application", "nginx")
        ])));
        assert!(!s.matches(&labels(&[
            ("environment", "prod"),
            ("application", "nginx")
        ])));
        assert!(!s.matches(&labels(&[("environment", "qa")])));
        assert!(!s.matches(&labels(&[("application", "nginx")])));
        assert_eq!(
            s.to_string(),
            "application=nginx,environment in (qa,staging)"
        );

        let s = sel("tier notin (cache,db)");
        assert!(s.matches(&labels(&[("tier", "web")])));
        assert!(!s.matches(&labels(&[("tier", "db")])));
        assert!(s.matches(&labels(&[])), "notin matches a missing key");
        assert_eq!(s.to_string(), "tier notin (cache,db)");

        let s = sel("a in (x,)");
        assert!(s.matches(&labels(&[("a", "")])));
        assert!(s.matches(&labels(&[("a", "x")])));
        assert_eq!(sel("a in (x)").to_string(), "a in (x)");
    }

    #[test]
    fn existence() {
        let s = sel("canary");
        assert!(s.matches(&labels(&[("canary", "")])));
        assert!(!s.matches(&labels(&[])));
        let s = sel("!canary");
        assert!(!s.matches(&labels(&[("canary", "true")])));
        assert!(s.matches(&labels(&[])));
        let s = sel("app.kubernetes.io/name, ! app.kubernetes.io/component");
        assert!(s.matches(&labels(&[("app.kubernetes.io/name", "x")])));
        assert!(!s.matches(&labels(&[
            ("app.kubernetes.io/name", "x"),
            ("app.kubernetes.io/component", "y")
        ])));
        assert_eq!(
            s.to_string(),
            "!app.kubernetes.io/component,app.kubernetes.io/name"
        );
    }

    #[test]
    fn integer_comparison() {
        let s = sel("replicas>2,replicas<10");
        assert!(s.matches(&labels(&[("replicas", "5")])));
        assert!(!s.matches(&labels(&[("replicas", "2")])));
        assert!(!s.matches(&labels(&[("replicas", "10")])));
        assert!(!s.matches(&labels(&[("replicas", "many")])));
        assert!(!s.matches(&labels(&[])));
        assert_eq!(s.to_string(), "replicas>2,replicas<10");
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "a=b,c!=d,e in (f,g),h notin (i),j,!k,l>1,m<-2",
            "environment in (qa,staging),example.com/app=nginx",
        ] {
            let parsed = sel(s);
            let rendered = parsed.to_string();
            assert_eq!(sel(&rendered), parsed, "{rendered}");
            assert_eq!(rendered.parse::<Selector>().ok(), Some(parsed));
        }
    }

    fn err(s: &str) -> SelectorError {
        match Selector::parse(s) {
            Ok(sel) => panic!("{s:?} should not parse, got {sel:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn syntax_errors() {
        let e = err("a in (b");
        assert!(e.reason.to_string().contains("expected ',' or ')'"), "{e}");
        let e = err("a in b");
        assert!(
            e.reason.to_string().contains("expected '(' after 'in'"),
            "{e}"
        );
        assert_eq!(e.position, 5);
        let e = err("a in ()");
        assert!(e.reason.to_string().contains("empty"), "{e}");
        let e = err("a=b c=d");
        assert!(
            e.reason
                .to_string()
                .contains("expected ',' or end of input"),
            "{e}"
        );
        assert_eq!(e.position, 4);
        let e = err("a=b,");
        assert!(
            e.reason
                .to_string()
                .contains("expected a label key, found end of input"),
            "{e}"
        );
        let e = err(",a");
        assert_eq!(e.position, 0);
        let e = err("a>b");
        assert!(e.reason.to_string().contains("not an integer"), "{e}");
        let e = err("-a=b");
        assert!(
            e.reason.to_string().contains("key name \"-a\" is invalid"),
            "{e}"
        );
        let e = err("Example.com/a=b");
        assert!(e.reason.to_string().contains("key prefix"), "{e}");
        let e = err("a=b$c");
        assert!(
            e.reason.to_string().contains("value \"b$c\" is invalid"),
            "{e}"
        );
        let long = "x".repeat(64);
        let e = err(&format!("a={long}"));
        assert!(e.reason.to_string().contains("longer than 63"), "{e}");
        let e = err("a (b)");
        assert!(e.reason.to_string().contains("expected an operator"), "{e}");
        let e = err("!a=b");
        assert!(
            e.reason
                .to_string()
                .contains("expected ',' or end of input"),
            "{e}"
        );
        let e = err("a in (b c)");
        assert!(e.reason.to_string().contains("expected ',' or ')'"), "{e}");
        assert!(
            e.to_string()
                .starts_with("invalid label selector \"a in (b c)\": ")
        );
    }
}
