//! One `rewrite` rule: what it matches in a request, how it changes the request, and what it
//! changes in the response on the way back.

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use regex::Regex;

/// After a rule applied: try the next rule (`continue`) or go down the chain now (`stop`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Stop,
    Continue,
}

/// How a name (lower-case, trailing dot) is matched, and for `name` rules replaced.
#[derive(Debug, Clone)]
pub enum Matcher {
    Exact(String),
    Prefix(String),
    Suffix(String),
    Substring(String),
    Regex(Regex),
}

impl Matcher {
    pub fn matches(&self, name: &str) -> bool {
        match self {
            Matcher::Exact(s) => name == s,
            Matcher::Prefix(s) => name.starts_with(s.as_str()),
            Matcher::Suffix(s) => name.ends_with(s.as_str()),
            Matcher::Substring(s) => name.contains(s.as_str()),
            Matcher::Regex(re) => re.is_match(name),
        }
    }

    /// `name` rewritten to `to` when it matches: the matched part replaced (every occurrence
    /// for `substring`), or for `regex` `to` with `{N}` replaced by capture group N.
    pub fn replace(&self, name: &str, to: &str) -> Option<String> {
        match self {
            Matcher::Exact(s) => (name == s).then(|| to.to_string()),
            Matcher::Prefix(s) => name
                .strip_prefix(s.as_str())
                .map(|rest| format!("{to}{rest}")),
            Matcher::Suffix(s) => name
                .strip_suffix(s.as_str())
                .map(|rest| format!("{rest}{to}")),
            Matcher::Substring(s) => name
                .contains(s.as_str())
                .then(|| name.replace(s.as_str(), to)),
            Matcher::Regex(re) => re.captures(name).map(|groups| expand(to, &groups)),
        }
    }

    /// The same kind of match the other way round (`answer auto`): `to` back to the original.
    pub fn reversed(&self, to: &str) -> Option<Matcher> {
        match self {
            Matcher::Exact(_) => Some(Matcher::Exact(to.to_string())),
            Matcher::Prefix(_) => Some(Matcher::Prefix(to.to_string())),
            Matcher::Suffix(_) => Some(Matcher::Suffix(to.to_string())),
            Matcher::Substring(_) => Some(Matcher::Substring(to.to_string())),
            Matcher::Regex(_) => None,
        }
    }

    /// The text a `reversed` matcher rewrites back to.
    pub fn pattern_text(&self) -> String {
        match self {
            Matcher::Exact(s) | Matcher::Prefix(s) | Matcher::Suffix(s) | Matcher::Substring(s) => {
                s.clone()
            }
            Matcher::Regex(re) => re.as_str().to_string(),
        }
    }
}

/// `{0}`, `{1}`, ... in `template` replaced by the capture groups (a missing group by "").
fn expand(template: &str, groups: &regex::Captures<'_>) -> String {
    let mut out = template.to_string();
    for i in (0..groups.len()).rev() {
        let value = groups.get(i).map_or("", |m| m.as_str());
        out = out.replace(&format!("{{{i}}}"), value);
    }
    out
}

/// A change to the response, undoing or adjusting what a request rule did.
#[derive(Debug, Clone)]
pub enum ResponseRewrite {
    /// Owner names of every section (`answer name`, `answer auto`, exact rules).
    Names { matcher: Matcher, to: String },
    /// Names inside records: CNAME, NS, PTR targets, MX exchanges, SRV targets, SOA's
    /// MNAME and RNAME (`answer value`).
    Values { matcher: Matcher, to: String },
    /// TTL of answer records clamped to `min..=max` (one value: both the same).
    Ttl { min: u32, max: u32 },
    Rcode {
        from: ResponseCode,
        to: ResponseCode,
    },
}

#[derive(Debug, Clone)]
pub enum Action {
    Name {
        matcher: Matcher,
        to: String,
        responses: Vec<ResponseRewrite>,
    },
    Type {
        from: RecordType,
        to: RecordType,
    },
    Class {
        from: DNSClass,
        to: DNSClass,
    },
    /// Matches on the question name; changes only the response.
    Response {
        matcher: Matcher,
        rewrite: ResponseRewrite,
    },
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub mode: Mode,
    pub action: Action,
}

/// The request as the rules see and change it.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// Lower-case with trailing dot.
    pub name: String,
    pub qtype: RecordType,
    pub qclass: DNSClass,
}

impl Rule {
    /// Apply to `request` if the rule matches it; the response rewrites it asks for are pushed
    /// to `responses`. True when it matched.
    pub fn apply(&self, request: &mut Request, responses: &mut Vec<ResponseRewrite>) -> bool {
        match &self.action {
            Action::Name {
                matcher,
                to,
                responses: wanted,
            } => {
                let Some(name) = matcher.replace(&request.name, to) else {
                    return false;
                };
                request.name = name;
                responses.extend(wanted.iter().cloned());
                true
            }
            Action::Type { from, to } => {
                if request.qtype != *from {
                    return false;
                }
                request.qtype = *to;
                true
            }
            Action::Class { from, to } => {
                if request.qclass != *from {
                    return false;
                }
                request.qclass = *to;
                true
            }
            Action::Response { matcher, rewrite } => {
                if !matcher.matches(&request.name) {
                    return false;
                }
                responses.push(rewrite.clone());
                true
            }
        }
    }
}

/// `name` rewritten by `matcher` → `to`, if it matches and the result is a valid name.
fn renamed(name: &Name, matcher: &Matcher, to: &str) -> Option<Name> {
    let mut text = name.to_lowercase().to_ascii();
    if !text.ends_with('.') {
        text.push('.');
    }
    let new = matcher.replace(&text, to)?;
    Name::from_ascii(&new).ok()
}

fn rename_in_place(name: &mut Name, matcher: &Matcher, to: &str) {
    if let Some(new) = renamed(name, matcher, to) {
        *name = new;
    }
}

fn rewrite_values(record: &mut Record, matcher: &Matcher, to: &str) {
    match &mut record.data {
        RData::CNAME(c) => rename_in_place(&mut c.0, matcher, to),
        RData::NS(ns) => rename_in_place(&mut ns.0, matcher, to),
        RData::PTR(p) => rename_in_place(&mut p.0, matcher, to),
        RData::MX(mx) => rename_in_place(&mut mx.exchange, matcher, to),
        RData::SRV(srv) => rename_in_place(&mut srv.target, matcher, to),
        RData::SOA(soa) => {
            rename_in_place(&mut soa.mname, matcher, to);
            rename_in_place(&mut soa.rname, matcher, to);
        }
        _ => {}
    }
}

fn every_record(reply: &mut crate::contract::Reply) -> impl Iterator<Item = &mut Record> {
    reply
        .answers
        .iter_mut()
        .chain(reply.authority.iter_mut())
        .chain(reply.additionals.iter_mut())
}

/// Apply the response rewrites, in the order the rules asked for them.
pub fn rewrite_response(reply: &mut crate::contract::Reply, rewrites: &[ResponseRewrite]) {
    for rewrite in rewrites {
        match rewrite {
            ResponseRewrite::Names { matcher, to } => {
                for record in every_record(reply) {
                    rename_in_place(&mut record.name, matcher, to);
                }
            }
            ResponseRewrite::Values { matcher, to } => {
                for record in every_record(reply) {
                    rewrite_values(record, matcher, to);
                }
            }
            ResponseRewrite::Ttl { min, max } => {
                for record in &mut reply.answers {
                    record.ttl = record.ttl.clamp(*min, *max);
                }
            }
            ResponseRewrite::Rcode { from, to } => {
                if reply.rcode == *from {
                    reply.rcode = *to;
                }
            }
        }
    }
}
