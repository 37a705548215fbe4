//! `rewrite` lines → rules. Every line of a server block is one rule; a block continues its
//! line (CoreDNS appends the block's lines to the arguments).

use std::sync::Arc;

use corefile::{Directive, Token};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{DNSClass, RecordType};
use regex::Regex;

use super::Rewrite;
use super::rule::{Action, Matcher, Mode, ResponseRewrite, Rule};
use crate::contract::{Outcome, SetupContext, SetupError, SetupResult, args};

const NAME: &str = "rewrite";
/// RFC 2181 §8: TTLs are at most 2^31 - 1 seconds.
const MAX_TTL: u32 = 2_147_483_647;

pub fn setup(_ctx: &mut SetupContext<'_>, lines: &[&Directive]) -> SetupResult {
    let mut rules = Vec::with_capacity(lines.len());
    let mut described = Vec::with_capacity(lines.len());
    for line in lines {
        let tokens = flatten(line)?;
        let (rule, text) = parse_rule(line, &tokens)?;
        rules.push(rule);
        described.push(text);
    }
    let detail = described.join("; ");
    Ok(Outcome::Link(Arc::new(Rewrite { rules }), detail))
}

/// The line's arguments followed by its block's lines (each line's name and arguments).
fn flatten(d: &Directive) -> Result<Vec<&Token>, SetupError> {
    let mut tokens: Vec<&Token> = d.args.iter().collect();
    for line in d.block.iter().flatten() {
        if let Some(inner) = line.block.as_ref().and_then(|b| b.first()) {
            return Err(args::err(&inner.name, NAME, "rules cannot nest blocks"));
        }
        tokens.push(&line.name);
        tokens.extend(line.args.iter());
    }
    Ok(tokens)
}

fn parse_rule(d: &Directive, tokens: &[&Token]) -> Result<(Rule, String), SetupError> {
    let (mode, rest) = match tokens.split_first() {
        Some((first, rest)) if first.text.eq_ignore_ascii_case("continue") => {
            (Mode::Continue, rest)
        }
        Some((first, rest)) if first.text.eq_ignore_ascii_case("stop") => (Mode::Stop, rest),
        _ => (Mode::Stop, tokens),
    };
    let Some((field, rest)) = rest.split_first() else {
        return Err(args::err(
            &d.name,
            NAME,
            "needs a rule: [continue|stop] name|type|class|ttl|rcode ...",
        ));
    };
    let action = match field.text.to_ascii_lowercase().as_str() {
        "name" => name_rule(field, rest)?,
        "type" => {
            let [from, to] = pair(field, rest)?;
            Action::Type {
                from: record_type(from)?,
                to: record_type(to)?,
            }
        }
        "class" => {
            let [from, to] = pair(field, rest)?;
            Action::Class {
                from: class(from)?,
                to: class(to)?,
            }
        }
        "ttl" => {
            let (matcher, rest) = matched_name(field, rest, 1)?;
            Action::Response {
                matcher,
                rewrite: ttl(rest[0])?,
            }
        }
        "rcode" => {
            let (matcher, rest) = matched_name(field, rest, 2)?;
            Action::Response {
                matcher,
                rewrite: ResponseRewrite::Rcode {
                    from: rcode(rest[0])?,
                    to: rcode(rest[1])?,
                },
            }
        }
        "edns0" | "cname" => {
            return Err(args::err(
                field,
                NAME,
                format!("{} rules are not supported by rollcall yet", field.text),
            ));
        }
        other => {
            return Err(args::err(
                field,
                NAME,
                format!("unknown field {other:?}: expected name, type, class, ttl or rcode"),
            ));
        }
    };
    let text = tokens
        .iter()
        .map(|t| t.text.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    Ok((Rule { mode, action }, text))
}

fn pair<'t>(field: &Token, rest: &[&'t Token]) -> Result<[&'t Token; 2], SetupError> {
    match rest {
        [from, to] => Ok([from, to]),
        [_, _, extra, ..] => Err(args::err(
            extra,
            NAME,
            format!("{} takes FROM TO, found {:?}", field.text, extra.text),
        )),
        _ => Err(args::err(
            field,
            NAME,
            format!("{} needs FROM TO", field.text),
        )),
    }
}

/// `Name.` for names: lower-case, fully qualified (what CoreDNS's `Normalize` does).
fn normalized(text: &str) -> String {
    let mut s = text.to_ascii_lowercase();
    if !s.ends_with('.') {
        s.push('.');
    }
    s
}

fn regex(t: &Token) -> Result<Regex, SetupError> {
    Regex::new(&t.text).map_err(|e| args::err(t, NAME, format!("invalid regex {:?}: {e}", t.text)))
}

/// Highest `{N}` a replacement uses.
fn groups_used(replacement: &str) -> usize {
    (0..=100)
        .filter(|i| replacement.contains(&format!("{{{i}}}")))
        .max()
        .unwrap_or(0)
}

/// A regex and its replacement, checked as CoreDNS does: the replacement may not use more
/// groups than the regex has.
fn regex_pair(from: &Token, to: &Token) -> Result<(Regex, String), SetupError> {
    let re = regex(from)?;
    let to_text = normalized(&to.text);
    if groups_used(&to_text) > re.captures_len() - 1 {
        return Err(args::err(
            to,
            NAME,
            format!(
                "{:?} uses more groups than the regex {:?} has",
                to.text, from.text
            ),
        ));
    }
    Ok((re, to_text))
}

fn matcher(kind: &Token, from: &Token) -> Result<Matcher, SetupError> {
    Ok(match kind.text.to_ascii_lowercase().as_str() {
        "exact" => Matcher::Exact(normalized(&from.text)),
        "prefix" => Matcher::Prefix(normalized(&from.text)),
        "suffix" => Matcher::Suffix(normalized(&from.text)),
        "substring" => Matcher::Substring(normalized(&from.text)),
        "regex" => Matcher::Regex(regex(from)?),
        other => {
            return Err(args::err(
                kind,
                NAME,
                format!(
                    "unknown match type {other:?}: expected exact, prefix, suffix, substring or regex"
                ),
            ));
        }
    })
}

/// `[MATCH] NAME` followed by `values` more tokens (ttl, rcode).
fn matched_name<'t>(
    field: &Token,
    rest: &[&'t Token],
    values: usize,
) -> Result<(Matcher, Vec<&'t Token>), SetupError> {
    let usage = || {
        args::err(
            field,
            NAME,
            format!(
                "{} needs [exact|prefix|suffix|substring|regex] NAME {}",
                field.text,
                if values == 1 { "TTL" } else { "FROM TO" }
            ),
        )
    };
    if rest.len() == values + 1 {
        let exact = Matcher::Exact(normalized(&rest[0].text));
        return Ok((exact, rest[1..].to_vec()));
    }
    if rest.len() == values + 2 {
        return Ok((matcher(rest[0], rest[1])?, rest[2..].to_vec()));
    }
    match rest.get(values + 2) {
        Some(extra) => Err(args::err(
            extra,
            NAME,
            format!("unexpected argument {:?}", extra.text),
        )),
        None => Err(usage()),
    }
}

fn name_rule(field: &Token, rest: &[&Token]) -> Result<Action, SetupError> {
    let (kind, from, to, answers) = match rest {
        [from, to] => (None, *from, *to, &[][..]),
        [kind, from, to, answers @ ..] => (Some(*kind), *from, *to, answers),
        _ => {
            return Err(args::err(
                field,
                NAME,
                "name needs [exact|prefix|suffix|substring|regex] FROM TO",
            ));
        }
    };
    let (matcher, to_text) = match kind {
        None => (Matcher::Exact(normalized(&from.text)), normalized(&to.text)),
        Some(kind) if kind.text.eq_ignore_ascii_case("regex") => {
            let (re, to_text) = regex_pair(from, to)?;
            (Matcher::Regex(re), to_text)
        }
        Some(kind) => (matcher(kind, from)?, normalized(&to.text)),
    };
    let mut responses = Vec::new();
    // An exact rewrite is undone on the way back without being asked (CoreDNS does the same).
    if let Matcher::Exact(original) = &matcher {
        responses.push(ResponseRewrite::Names {
            matcher: Matcher::Exact(to_text.clone()),
            to: original.clone(),
        });
    }
    let mut at = 0;
    while at < answers.len() {
        let word = answers[at];
        if !word.text.eq_ignore_ascii_case("answer") {
            return Err(args::err(
                word,
                NAME,
                format!("expected `answer auto|name|value`, found {:?}", word.text),
            ));
        }
        let Some(what) = answers.get(at + 1) else {
            return Err(args::err(
                word,
                NAME,
                "answer needs auto, name FROM TO or value FROM TO",
            ));
        };
        match what.text.to_ascii_lowercase().as_str() {
            "auto" => {
                let Some(back) = matcher.reversed(&to_text) else {
                    return Err(args::err(
                        what,
                        NAME,
                        "answer auto cannot undo a regex rule: use answer name FROM TO",
                    ));
                };
                if !matches!(matcher, Matcher::Exact(_)) {
                    responses.push(ResponseRewrite::Names {
                        matcher: back,
                        to: matcher.pattern_text(),
                    });
                }
                at += 2;
            }
            kind @ ("name" | "value") => {
                let (Some(from), Some(to)) = (answers.get(at + 2), answers.get(at + 3)) else {
                    return Err(args::err(
                        what,
                        NAME,
                        format!("answer {kind} needs FROM TO"),
                    ));
                };
                let (re, to_text) = regex_pair(from, to)?;
                let matcher = Matcher::Regex(re);
                responses.push(if kind == "name" {
                    ResponseRewrite::Names {
                        matcher,
                        to: to_text,
                    }
                } else {
                    ResponseRewrite::Values {
                        matcher,
                        to: to_text,
                    }
                });
                at += 4;
            }
            other => {
                return Err(args::err(
                    what,
                    NAME,
                    format!("unknown answer rewrite {other:?}: expected auto, name or value"),
                ));
            }
        }
    }
    Ok(Action::Name {
        matcher,
        to: to_text,
        responses,
    })
}

fn record_type(t: &Token) -> Result<RecordType, SetupError> {
    t.text
        .to_ascii_uppercase()
        .parse::<RecordType>()
        .ok()
        .filter(|rt| !matches!(rt, RecordType::Unknown(_)))
        .ok_or_else(|| args::err(t, NAME, format!("{:?} is not a DNS record type", t.text)))
}

fn class(t: &Token) -> Result<DNSClass, SetupError> {
    match t.text.to_ascii_uppercase().as_str() {
        "IN" => Ok(DNSClass::IN),
        "CH" => Ok(DNSClass::CH),
        "HS" => Ok(DNSClass::HS),
        "NONE" => Ok(DNSClass::NONE),
        "ANY" => Ok(DNSClass::ANY),
        _ => Err(args::err(
            t,
            NAME,
            format!("{:?} is not a DNS class (IN, CH, HS, NONE, ANY)", t.text),
        )),
    }
}

fn rcode(t: &Token) -> Result<ResponseCode, SetupError> {
    let known = [
        ("NOERROR", ResponseCode::NoError),
        ("FORMERR", ResponseCode::FormErr),
        ("SERVFAIL", ResponseCode::ServFail),
        ("NXDOMAIN", ResponseCode::NXDomain),
        ("NOTIMP", ResponseCode::NotImp),
        ("REFUSED", ResponseCode::Refused),
    ];
    let upper = t.text.to_ascii_uppercase();
    if let Some((_, code)) = known.iter().find(|(name, _)| *name == upper) {
        return Ok(*code);
    }
    match t.text.parse::<u16>() {
        Ok(n) if n <= 15 => Ok(ResponseCode::from_low(n as u8)),
        _ => Err(args::err(
            t,
            NAME,
            format!(
                "{:?} is not an RCODE (NOERROR, NXDOMAIN, SERVFAIL, REFUSED, ... or 0-15)",
                t.text
            ),
        )),
    }
}

/// `SECONDS`, `MIN-MAX`, `MIN-` or `-MAX`.
fn ttl(t: &Token) -> Result<ResponseRewrite, SetupError> {
    let bad = || {
        args::err(
            t,
            NAME,
            format!(
                "expected a TTL (0-{MAX_TTL}) or a range MIN-MAX, MIN- or -MAX, found {:?}",
                t.text
            ),
        )
    };
    let number = |s: &str| s.parse::<u32>().ok().filter(|n| *n <= MAX_TTL);
    let (min, max) = match t.text.split_once('-') {
        None => {
            let n = number(&t.text).ok_or_else(bad)?;
            (n, n)
        }
        Some(("", "")) => return Err(bad()),
        Some((min, max)) => {
            let min = if min.is_empty() {
                0
            } else {
                number(min).ok_or_else(bad)?
            };
            let max = if max.is_empty() {
                MAX_TTL
            } else {
                number(max).ok_or_else(bad)?
            };
            if min > max {
                return Err(bad());
            }
            (min, max)
        }
    };
    Ok(ResponseRewrite::Ttl { min, max })
}
