//! [`Args`]: a cursor over one Corefile line's arguments, in the spirit of mini-redis's `Parse`
//! and Caddy's dispenser. It knows the directive it belongs to (errors are reported under that
//! name) and every token's position, so a setup reads like the syntax it parses and every error
//! says `file:line:col: directive: expected X, found Y`.
//!
//! ```text
//! cache [TTL] [ZONES...] {            Args::new(d)     → a cursor over "TTL ZONES..."
//!     success CAPACITY [TTL] [MINTTL] args.block()     → one cursor per property line, same owner
//! }
//! ```
//!
//! Also here: the value helpers every setup shares (numbers, Go durations, zone lists) and
//! [`Fallthrough`], the `fallthrough [ZONES...]` option of plugins that own a zone.

use std::net::SocketAddr;
use std::time::Duration;

use corefile::{Directive, Token};

use super::names::{normalize_zone, reverse_zones};
use super::query::in_zone;
use super::setup::SetupError;
use super::suggest::did_you_mean;

/// A cursor over the arguments of a directive, or of a property line in a directive's block.
#[derive(Clone, Copy)]
pub struct Args<'a> {
    /// The directive errors are reported under (the property's owner for a property line).
    owner: &'a str,
    line: &'a Directive,
    /// Arguments consumed from the front.
    at: usize,
    /// Arguments consumed from the back ([`Self::next_back`]).
    back: usize,
}

impl<'a> Args<'a> {
    /// A cursor over a directive's own arguments.
    pub fn new(directive: &'a Directive) -> Self {
        Args {
            owner: directive.name(),
            line: directive,
            at: 0,
            back: 0,
        }
    }

    /// This line's name: the directive's, or the property's for a block line.
    pub fn name(&self) -> &'a str {
        self.line.name()
    }

    /// The token of this line's name (where errors about a missing argument point).
    pub fn name_token(&self) -> &'a Token {
        &self.line.name
    }

    /// An error at `token`, under the owning directive's name.
    pub fn error(&self, token: &Token, message: impl Into<String>) -> SetupError {
        SetupError::new(&token.span, self.owner, message)
    }

    /// An error at this line's name.
    pub fn error_at_name(&self, message: impl Into<String>) -> SetupError {
        self.error(&self.line.name, message)
    }

    /// The next argument, consumed.
    #[allow(clippy::should_implement_trait)] // a cursor, not an iterator: it also reports errors
    pub fn next(&mut self) -> Option<&'a Token> {
        let token = self.peek()?;
        self.at += 1;
        Some(token)
    }

    /// The next argument, not consumed.
    pub fn peek(&self) -> Option<&'a Token> {
        self.remaining().first()
    }

    /// The last argument not consumed yet, consumed: for syntax whose fixed argument comes after
    /// a list (`autopath [ZONE...] RESOLV-CONF`).
    pub fn next_back(&mut self) -> Option<&'a Token> {
        let token = self.remaining().last()?;
        self.back += 1;
        Some(token)
    }

    /// The next argument when `wanted` says yes to its text.
    pub fn next_if(&mut self, wanted: impl FnOnce(&str) -> bool) -> Option<&'a Token> {
        let token = self.peek().filter(|t| wanted(&t.text))?;
        self.at += 1;
        Some(token)
    }

    /// The next argument, or "NAME needs WHAT" at this line's name.
    pub fn expect(&mut self, what: &str) -> Result<&'a Token, SetupError> {
        match self.next() {
            Some(token) => Ok(token),
            None => Err(self.error_at_name(format!("{} needs {what}", self.name()))),
        }
    }

    /// Every argument left, at least one ("NAME needs WHAT" at this line's name when none).
    pub fn one_or_more(&mut self, what: &str) -> Result<&'a [Token], SetupError> {
        match self.rest() {
            [] => Err(self.error_at_name(format!("{} needs {what}", self.name()))),
            rest => Ok(rest),
        }
    }

    /// The arguments not consumed yet, left in place.
    pub fn remaining(&self) -> &'a [Token] {
        let args = &self.line.args;
        args.get(self.at..args.len().saturating_sub(self.back))
            .unwrap_or_default()
    }

    /// Every argument not consumed yet.
    pub fn rest(&mut self) -> &'a [Token] {
        let rest = self.remaining();
        self.at += rest.len();
        rest
    }

    pub fn is_done(&self) -> bool {
        self.remaining().is_empty()
    }

    /// Fails on the first argument left: "unexpected argument "X"".
    pub fn end(&self) -> Result<(), SetupError> {
        match self.peek() {
            Some(extra) => Err(self.error(extra, format!("unexpected argument {:?}", extra.text))),
            None => Ok(()),
        }
    }

    /// The one argument this line takes ("NAME needs one argument" / "NAME takes one argument,
    /// found "X"").
    pub fn one(&mut self) -> Result<&'a Token, SetupError> {
        let Some(token) = self.next() else {
            return Err(self.error_at_name(format!("{} needs one argument", self.name())));
        };
        if let Some(extra) = self.peek() {
            return Err(self.error(
                extra,
                format!("{} takes one argument, found {:?}", self.name(), extra.text),
            ));
        }
        Ok(token)
    }

    /// At most `max` arguments left, or "NAME takes SYNTAX, found "X"" at the first one over.
    pub fn at_most(&self, max: usize, syntax: &str) -> Result<(), SetupError> {
        match self.remaining().get(max) {
            Some(extra) => Err(self.error(
                extra,
                format!("{} takes {syntax}, found {:?}", self.name(), extra.text),
            )),
            None => Ok(()),
        }
    }

    /// `token` as a number within `min..=max`.
    pub fn u32_in(&self, token: &Token, min: u32, max: u32) -> Result<u32, SetupError> {
        match token.text.parse::<u32>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(self.error(
                token,
                format!(
                    "expected a number between {min} and {max}, found {:?}",
                    token.text
                ),
            )),
        }
    }

    /// The next argument as a number within `min..=max` (or "NAME needs WHAT").
    pub fn next_u32(&mut self, what: &str, min: u32, max: u32) -> Result<u32, SetupError> {
        let token = self.expect(what)?;
        self.u32_in(token, min, max)
    }

    /// `token` as a Go-style duration, as CoreDNS takes them: `5s`, `100ms`, `1m30s`, `2h`.
    pub fn duration(&self, token: &Token) -> Result<Duration, SetupError> {
        parse_go_duration(&token.text).ok_or_else(|| {
            self.error(
                token,
                format!(
                    "expected a duration like 5s or 100ms, found {:?}",
                    token.text
                ),
            )
        })
    }

    /// The one argument of a `NAME NUMBER` line, within `min..=max` ([`Self::one`], then
    /// [`Self::u32_in`]).
    pub fn one_u32(&mut self, min: u32, max: u32) -> Result<u32, SetupError> {
        let token = self.one()?;
        self.u32_in(token, min, max)
    }

    /// The one argument of a `NAME DURATION` line ([`Self::one`], then [`Self::duration`]).
    pub fn one_duration(&mut self) -> Result<Duration, SetupError> {
        let token = self.one()?;
        self.duration(token)
    }

    /// Every argument left as a zone, normalized (lower-case, trailing dot); a CIDR
    /// (`10.96.0.0/12`) stands for its reverse zones, as CoreDNS's plugins take it.
    pub fn zones(&mut self) -> Result<Vec<String>, SetupError> {
        let mut zones = Vec::new();
        for token in self.rest() {
            let parsed = if token.text.contains('/') {
                reverse_zones(&token.text)
            } else {
                normalize_zone(&token.text).map(|z| vec![z])
            };
            zones.extend(parsed.map_err(|e| self.error(token, e.to_string()))?);
        }
        Ok(zones)
    }

    /// [`Self::zones`], or the block's zones when none are given.
    pub fn zones_or(&mut self, block_zones: &[String]) -> Result<Vec<String>, SetupError> {
        let zones = self.zones()?;
        Ok(if zones.is_empty() {
            block_zones.to_vec()
        } else {
            zones
        })
    }

    /// The optional `[ADDRESS]` of an HTTP endpoint directive (`health`, `ready`): `:PORT`,
    /// `HOST:PORT`, or nothing for every address on `default_port`; nothing may follow it.
    pub fn http_addr(&mut self, default_port: u16) -> Result<SocketAddr, SetupError> {
        let Some(token) = self.next() else {
            return Ok(SocketAddr::from(([0, 0, 0, 0], default_port)));
        };
        self.end()?;
        let text = match token.text.strip_prefix(':') {
            Some(port) => format!("0.0.0.0:{port}"),
            None => token.text.clone(),
        };
        text.parse().map_err(|_| {
            self.error(
                token,
                format!(
                    "expected an address like :8080 or 127.0.0.1:8080, found {:?}",
                    token.text
                ),
            )
        })
    }

    /// Fails when the line has a block: "unknown property "X"" at its first line.
    pub fn no_block(&self) -> Result<(), SetupError> {
        match self.line.block.as_ref().and_then(|b| b.first()) {
            Some(first) => {
                Err(self.error(&first.name, format!("unknown property {:?}", first.name())))
            }
            None => Ok(()),
        }
    }

    /// Neither arguments nor a block (an argument is reported first: it comes first in the file).
    pub fn bare(&self) -> Result<(), SetupError> {
        self.end()?;
        self.no_block()
    }

    /// A cursor for each property line of this line's block, under the same owner.
    pub fn block(&self) -> impl Iterator<Item = Args<'a>> + 'a {
        let owner = self.owner;
        self.line.block.iter().flatten().map(move |line| Args {
            owner,
            line,
            at: 0,
            back: 0,
        })
    }

    /// The name of a property that takes no block of its own ("NAME takes no block").
    pub fn leaf(&self) -> Result<&'a str, SetupError> {
        if self.line.block.is_some() {
            return Err(self.error_at_name(format!("{} takes no block", self.name())));
        }
        Ok(self.name())
    }

    /// "unknown property "NAME"" at this line's name: the last arm of a property match.
    pub fn unknown_property(&self) -> SetupError {
        self.error_at_name(format!("unknown property {:?}", self.name()))
    }

    /// [`Self::unknown_property`], with "did you mean" the closest of the `known` properties.
    pub fn unknown_property_of(&self, known: &[&str]) -> SetupError {
        let hint = did_you_mean(self.name(), known.iter().copied());
        self.error_at_name(format!("unknown property {:?}{hint}", self.name()))
    }
}

/// Go-style durations: `5s`, `100ms`, `1m30s`, `2h`, and `0`.
pub fn parse_go_duration(s: &str) -> Option<Duration> {
    if s == "0" {
        return Some(Duration::ZERO);
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit() && c != '.')?;
        let (num, tail) = rest.split_at(digits);
        let value: f64 = num.parse().ok()?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let secs = match unit {
            "ns" => value / 1e9,
            "us" | "µs" => value / 1e6,
            "ms" => value / 1e3,
            "s" => value,
            "m" => value * 60.0,
            "h" => value * 3600.0,
            _ => return None,
        };
        total += Duration::try_from_secs_f64(secs).ok()?;
        rest = tail;
    }
    Some(total)
}

/// `fallthrough [ZONES...]`: which names a zone-owning plugin passes to the next plugin instead of
/// answering NXDOMAIN.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Fallthrough {
    /// NXDOMAIN is answered (no `fallthrough`).
    #[default]
    Never,
    /// `fallthrough` with no zones: every name.
    All,
    /// `fallthrough ZONES...`: names in these zones.
    Zones(Vec<String>),
}

impl Fallthrough {
    /// The option's arguments (the property line `fallthrough [ZONES...]`).
    pub fn parse(args: &mut Args<'_>) -> Result<Self, SetupError> {
        let zones = args.zones()?;
        Ok(if zones.is_empty() {
            Fallthrough::All
        } else {
            Fallthrough::Zones(zones)
        })
    }

    /// `name` (lower-case, trailing dot) goes on to the next plugin.
    pub fn passes(&self, name: &str) -> bool {
        match self {
            Fallthrough::Never => false,
            Fallthrough::All => true,
            Fallthrough::Zones(zones) => zones.iter().any(|z| in_zone(name, z)),
        }
    }

    /// How `rollcall check` shows it; `None` when off.
    pub fn describe(&self) -> Option<String> {
        match self {
            Fallthrough::Never => None,
            Fallthrough::All => Some("fallthrough (all zones)".into()),
            Fallthrough::Zones(zones) => Some(format!("fallthrough {}", zones.join(" "))),
        }
    }
}

/// The one-line description `rollcall check` prints for a plugin: parts joined by "; ".
#[derive(Debug, Default)]
pub struct Describe(Vec<String>);

impl Describe {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a part.
    pub fn part(&mut self, part: impl Into<String>) -> &mut Self {
        self.0.push(part.into());
        self
    }

    /// Adds a part when there is one.
    pub fn maybe(&mut self, part: Option<impl Into<String>>) -> &mut Self {
        if let Some(part) = part {
            self.0.push(part.into());
        }
        self
    }

    /// Adds `text` when `on`.
    pub fn flag(&mut self, on: bool, text: &str) -> &mut Self {
        if on {
            self.0.push(text.to_string());
        }
        self
    }

    pub fn finish(&self) -> String {
        self.0.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn directive(text: &str) -> Directive {
        let corefile = corefile::parse_str(
            &format!(". {{\n{text}\n}}\n"),
            "Corefile",
            std::path::Path::new("."),
            &corefile::ParseOptions::default(),
        )
        .unwrap_or_else(|e| panic!("{e:?}"));
        corefile.blocks[0].directives[0].clone()
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("5s"), Some(Duration::from_secs(5)));
        assert_eq!(parse_go_duration("100ms"), Some(Duration::from_millis(100)));
        assert_eq!(parse_go_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_go_duration("5"), None);
        assert_eq!(parse_go_duration("abc"), None);
    }

    #[test]
    fn the_cursor_reads_in_order_and_reports_positions_under_the_directive() {
        let d = directive("cache 30 example.org {\n    success 100 x\n}");
        let mut args = Args::new(&d);
        let ttl = args.expect("TTL").map(|t| t.text.clone());
        assert_eq!(ttl.as_deref(), Ok("30"));
        assert_eq!(args.zones(), Ok(vec!["example.org.".to_string()]));
        assert!(args.is_done());
        let mut prop = args.block().next().unwrap_or(args);
        assert_eq!(prop.name(), "success");
        assert_eq!(prop.next_u32("CAPACITY", 1, 1000), Ok(100));
        let bad = prop.next_u32("TTL", 1, 10).map_err(|e| e.to_string());
        assert_eq!(
            bad,
            Err(r#"Corefile:3:17: cache: expected a number between 1 and 10, found "x""#.into())
        );
        let mut none = Args::new(&d);
        none.rest();
        assert_eq!(
            none.expect("AMOUNT").map_err(|e| e.to_string()),
            Err("Corefile:2:1: cache: cache needs AMOUNT".into())
        );
    }

    #[test]
    fn one_end_and_fallthrough() {
        let d = directive("hosts a b");
        assert_eq!(
            Args::new(&d).one().map_err(|e| e.message),
            Err(r#"hosts takes one argument, found "b""#.into())
        );
        assert_eq!(
            Args::new(&d).end().map_err(|e| e.message),
            Err(r#"unexpected argument "a""#.into())
        );
        let d = directive("except");
        assert_eq!(
            Args::new(&d)
                .one_or_more("at least one name")
                .map_err(|e| e.message),
            Err("except needs at least one name".into())
        );
        let d = directive("except a b");
        let names = Args::new(&d)
            .one_or_more("at least one name")
            .map(|t| t.len());
        assert_eq!(names, Ok(2));
        let d = directive("fallthrough in-addr.arpa");
        let ft = Fallthrough::parse(&mut Args::new(&d));
        assert_eq!(ft, Ok(Fallthrough::Zones(vec!["in-addr.arpa.".into()])));
        let ft = ft.unwrap_or_default();
        assert!(ft.passes("4.3.2.1.in-addr.arpa."));
        assert!(!ft.passes("example.org."));
        assert!(Fallthrough::All.passes("anything."));
        assert!(!Fallthrough::Never.passes("anything."));
    }

    #[test]
    fn next_back_takes_the_fixed_argument_after_a_list() {
        let d = directive("autopath example.org 10.0.0.0/8 @kubernetes");
        let mut args = Args::new(&d);
        assert_eq!(
            args.next_back().map(|t| t.text.as_str()),
            Some("@kubernetes")
        );
        assert_eq!(
            args.zones(),
            Ok(vec![
                "example.org.".to_string(),
                "10.in-addr.arpa.".to_string()
            ])
        );
        assert!(args.is_done());
        assert_eq!(args.next_back(), None);
        let d = directive("autopath @kubernetes");
        let mut args = Args::new(&d);
        assert!(args.next_back().is_some());
        assert_eq!(
            args.zones_or(&["cluster.local.".into()]),
            Ok(vec!["cluster.local.".into()])
        );
    }

    #[test]
    fn one_number_and_one_duration() {
        let d = directive("ttl 30");
        assert_eq!(Args::new(&d).one_u32(0, 3600), Ok(30));
        assert_eq!(
            Args::new(&d).one_u32(0, 10).map_err(|e| e.message),
            Err(r#"expected a number between 0 and 10, found "30""#.into())
        );
        let d = directive("reload 1m30s x");
        assert_eq!(
            Args::new(&d).one_duration().map_err(|e| e.message),
            Err(r#"reload takes one argument, found "x""#.into())
        );
        let d = directive("reload 1m30s");
        assert_eq!(Args::new(&d).one_duration(), Ok(Duration::from_secs(90)));
    }
}
