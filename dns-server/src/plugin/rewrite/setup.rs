//! `rewrite` lines → rules. Every line of a server block is one rule; a block continues its
//! line (CoreDNS appends the block's lines to the arguments).

use std::sync::Arc;

use corefile::{Directive, Token};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{DNSClass, RecordType};
use regex::Regex;

use super::Rewrite;
use super::rule::{Action, Matcher, Mode, ResponseRewrite, Rule};
use crate::contract::{Args, Describe, Outcome, SetupContext, SetupError, SetupResult};

/// RFC 2181 §8: TTLs are at most 2^31 - 1 seconds.
const MAX_TTL: u32 = 2_147_483_647;

pub fn setup(_ctx: &mut SetupContext<'_>, lines: &[&Directive]) -> SetupResult {
    let mut rules = Vec::with_capacity(lines.len());
    let mut described = Describe::new();
    for line in lines {
        let line = flatten(line)?;
        let mut args = Args::new(&line);
        described.part(words(args.remaining()));
        rules.push(rule(&mut args)?);
    }
    Ok(Outcome::Link(
        Arc::new(Rewrite { rules }),
        described.finish(),
    ))
}

/// The line with its block's lines (each line's name and arguments) appended to its arguments,
/// so a rule reads the same written on one line or spread over a block.
fn flatten(d: &Directive) -> Result<Directive, SetupError> {
    let mut args = d.args.clone();
    for line in d.block.iter().flatten() {
        if let Some(inner) = line.block.as_ref().and_then(|b| b.first()) {
            return Err(Args::new(d).error(&inner.name, "rules cannot nest blocks"));
        }
        args.push(line.name.clone());
        args.extend(line.args.iter().cloned());
    }
    Ok(Directive {
        name: d.name.clone(),
        args,
        block: None,
        span: d.span.clone(),
    })
}

fn words(tokens: &[Token]) -> String {
    tokens
        .iter()
        .map(|t| t.text.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// `[continue|stop] name|type|class|ttl|rcode ...`
fn rule(args: &mut Args<'_>) -> Result<Rule, SetupError> {
    let mode_word = |t: &str| {
        ["continue", "stop"]
            .iter()
            .any(|m| t.eq_ignore_ascii_case(m))
    };
    let mode = match args.next_if(mode_word) {
        Some(t) if t.text.eq_ignore_ascii_case("continue") => Mode::Continue,
        _ => Mode::Stop,
    };
    let Some(field) = args.next() else {
        return Err(
            args.error_at_name("needs a rule: [continue|stop] name|type|class|ttl|rcode ...")
        );
    };
    let action = match field.text.to_ascii_lowercase().as_str() {
        "name" => name_rule(args, field)?,
        "type" => {
            let [from, to] = pair(args, field)?;
            Action::Type {
                from: record_type(args, from)?,
                to: record_type(args, to)?,
            }
        }
        "class" => {
            let [from, to] = pair(args, field)?;
            Action::Class {
                from: class(args, from)?,
                to: class(args, to)?,
            }
        }
        "ttl" => {
            let (matcher, [value]) = matched_name(args, field)?;
            Action::Response {
                matcher,
                rewrite: ttl(args, value)?,
            }
        }
        "rcode" => {
            let (matcher, [from, to]) = matched_name(args, field)?;
            Action::Response {
                matcher,
                rewrite: ResponseRewrite::Rcode {
                    from: rcode(args, from)?,
                    to: rcode(args, to)?,
                },
            }
        }
        "edns0" | "cname" => {
            return Err(args.error(
                field,
                format!("{} rules are not supported by rollcall yet", field.text),
            ));
        }
        other => {
            return Err(args.error(
                field,
                format!("unknown field {other:?}: expected name, type, class, ttl or rcode"),
            ));
        }
    };
    Ok(Rule { mode, action })
}

/// `FIELD FROM TO` (type, class).
fn pair<'a>(args: &mut Args<'a>, field: &Token) -> Result<[&'a Token; 2], SetupError> {
    match args.rest() {
        [from, to] => Ok([from, to]),
        [_, _, extra, ..] => Err(args.error(
            extra,
            format!("{} takes FROM TO, found {:?}", field.text, extra.text),
        )),
        _ => Err(args.error(field, format!("{} needs FROM TO", field.text))),
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

fn regex(args: &Args<'_>, t: &Token) -> Result<Regex, SetupError> {
    Regex::new(&t.text).map_err(|e| args.error(t, format!("invalid regex {:?}: {e}", t.text)))
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
fn regex_pair(args: &Args<'_>, from: &Token, to: &Token) -> Result<(Regex, String), SetupError> {
    let re = regex(args, from)?;
    let to_text = normalized(&to.text);
    if groups_used(&to_text) > re.captures_len() - 1 {
        return Err(args.error(
            to,
            format!(
                "{:?} uses more groups than the regex {:?} has",
                to.text, from.text
            ),
        ));
    }
    Ok((re, to_text))
}

fn matcher(args: &Args<'_>, kind: &Token, from: &Token) -> Result<Matcher, SetupError> {
    Ok(match kind.text.to_ascii_lowercase().as_str() {
        "exact" => Matcher::Exact(normalized(&from.text)),
        "prefix" => Matcher::Prefix(normalized(&from.text)),
        "suffix" => Matcher::Suffix(normalized(&from.text)),
        "substring" => Matcher::Substring(normalized(&from.text)),
        "regex" => Matcher::Regex(regex(args, from)?),
        other => {
            return Err(args.error(
                kind,
                format!(
                    "unknown match type {other:?}: expected exact, prefix, suffix, substring or regex"
                ),
            ));
        }
    })
}

/// `[MATCH] NAME` and then N values (ttl: `TTL`, rcode: `FROM TO`).
fn matched_name<'a, const N: usize>(
    args: &mut Args<'a>,
    field: &Token,
) -> Result<(Matcher, &'a [Token; N]), SetupError> {
    let rest = args.rest();
    if let Some(extra) = rest.get(N + 2) {
        return Err(args.error(extra, format!("unexpected argument {:?}", extra.text)));
    }
    let usage = || {
        args.error(
            field,
            format!(
                "{} needs [exact|prefix|suffix|substring|regex] NAME {}",
                field.text,
                if N == 1 { "TTL" } else { "FROM TO" }
            ),
        )
    };
    let (matcher, values) = match rest.split_at(rest.len().saturating_sub(N)) {
        ([name], values) => (Matcher::Exact(normalized(&name.text)), values),
        ([kind, name], values) => (matcher(args, kind, name)?, values),
        _ => return Err(usage()),
    };
    Ok((matcher, values.try_into().map_err(|_| usage())?))
}

/// `name [MATCH] FROM TO [answer auto | answer name FROM TO | answer value FROM TO]...`
fn name_rule(args: &mut Args<'_>, field: &Token) -> Result<Action, SetupError> {
    // Without a match type the rule is exactly FROM TO.
    let kind = if args.remaining().len() == 2 {
        None
    } else {
        args.next()
    };
    let (Some(from), Some(to)) = (args.next(), args.next()) else {
        return Err(args.error(
            field,
            "name needs [exact|prefix|suffix|substring|regex] FROM TO",
        ));
    };
    let (matcher, to_text) = match kind {
        None => (Matcher::Exact(normalized(&from.text)), normalized(&to.text)),
        Some(kind) if kind.text.eq_ignore_ascii_case("regex") => {
            let (re, to_text) = regex_pair(args, from, to)?;
            (Matcher::Regex(re), to_text)
        }
        Some(kind) => (matcher(args, kind, from)?, normalized(&to.text)),
    };
    let mut responses = Vec::new();
    // An exact rewrite is undone on the way back without being asked (CoreDNS does the same).
    if let Matcher::Exact(original) = &matcher {
        responses.push(ResponseRewrite::Names {
            matcher: Matcher::Exact(to_text.clone()),
            to: original.clone(),
        });
    }
    while let Some(word) = args.next() {
        if !word.text.eq_ignore_ascii_case("answer") {
            return Err(args.error(
                word,
                format!("expected `answer auto|name|value`, found {:?}", word.text),
            ));
        }
        let Some(what) = args.next() else {
            return Err(args.error(word, "answer needs auto, name FROM TO or value FROM TO"));
        };
        match what.text.to_ascii_lowercase().as_str() {
            "auto" => {
                let Some(back) = matcher.reversed(&to_text) else {
                    return Err(args.error(
                        what,
                        "answer auto cannot undo a regex rule: use answer name FROM TO",
                    ));
                };
                if !matches!(matcher, Matcher::Exact(_)) {
                    responses.push(ResponseRewrite::Names {
                        matcher: back,
                        to: matcher.pattern_text(),
                    });
                }
            }
            kind @ ("name" | "value") => {
                let (Some(from), Some(to)) = (args.next(), args.next()) else {
                    return Err(args.error(what, format!("answer {kind} needs FROM TO")));
                };
                let (re, to_text) = regex_pair(args, from, to)?;
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
            }
            other => {
                return Err(args.error(
                    what,
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

fn record_type(args: &Args<'_>, t: &Token) -> Result<RecordType, SetupError> {
    t.text
        .to_ascii_uppercase()
        .parse::<RecordType>()
        .ok()
        .filter(|rt| !matches!(rt, RecordType::Unknown(_)))
        .ok_or_else(|| args.error(t, format!("{:?} is not a DNS record type", t.text)))
}

fn class(args: &Args<'_>, t: &Token) -> Result<DNSClass, SetupError> {
    match t.text.to_ascii_uppercase().as_str() {
        "IN" => Ok(DNSClass::IN),
        "CH" => Ok(DNSClass::CH),
        "HS" => Ok(DNSClass::HS),
        "NONE" => Ok(DNSClass::NONE),
        "ANY" => Ok(DNSClass::ANY),
        _ => Err(args.error(
            t,
            format!("{:?} is not a DNS class (IN, CH, HS, NONE, ANY)", t.text),
        )),
    }
}

fn rcode(args: &Args<'_>, t: &Token) -> Result<ResponseCode, SetupError> {
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
        _ => Err(args.error(
            t,
            format!(
                "{:?} is not an RCODE (NOERROR, NXDOMAIN, SERVFAIL, REFUSED, ... or 0-15)",
                t.text
            ),
        )),
    }
}

/// `SECONDS`, `MIN-MAX`, `MIN-` or `-MAX`.
fn ttl(args: &Args<'_>, t: &Token) -> Result<ResponseRewrite, SetupError> {
    let bad = || {
        args.error(
            t,
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
