//! `template` stanzas → rules. Every `template` of a server block is one rule of one plugin,
//! tried in Corefile order.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use corefile::{Directive, Token};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{DNSClass, RecordType};
use regex::Regex;

use super::render::Template;
use super::{Rule, TemplateMetrics, TemplatePlugin};
use crate::contract::{Args, Fallthrough, Outcome, SetupContext, SetupError, SetupResult};

pub fn setup(ctx: &mut SetupContext<'_>, stanzas: &[&Directive]) -> SetupResult {
    let mut rules = Vec::with_capacity(stanzas.len());
    let mut described = Vec::with_capacity(stanzas.len());
    for stanza in stanzas {
        let rule = parse(ctx, stanza)?;
        described.push(format!(
            "{} {} in {}{}",
            rule.class,
            rule.qtype,
            rule.zones.join(" "),
            if rule.answers.is_empty() {
                format!(" → {}", crate::dns::rcode_name(rule.rcode))
            } else {
                format!(
                    " → {} record(s), {}",
                    rule.answers.len(),
                    crate::dns::rcode_name(rule.rcode)
                )
            }
        ));
        rules.push(Arc::new(rule));
    }
    let mut zones: Vec<String> = rules.iter().flat_map(|r| r.zones.iter().cloned()).collect();
    zones.sort();
    zones.dedup();
    ctx.metrics.register(Arc::new(TemplateMetrics {
        server: ctx.server_label(),
        rules: rules.clone(),
    }));
    Ok(Outcome::Link(
        Arc::new(TemplatePlugin { rules, zones }),
        described.join("; "),
    ))
}

/// `template CLASS TYPE [ZONE...] { ... }` → one rule.
fn parse(ctx: &SetupContext<'_>, d: &Directive) -> Result<Rule, SetupError> {
    let mut args = Args::new(d);
    let (Some(class), Some(qtype)) = (args.next(), args.next()) else {
        return Err(args.error_at_name("needs CLASS TYPE [ZONE...]"));
    };
    let class = DNSClass::from_str(&class.text.to_ascii_uppercase())
        .ok()
        .filter(|c| {
            matches!(
                c,
                DNSClass::IN | DNSClass::CH | DNSClass::HS | DNSClass::ANY
            )
        })
        .ok_or_else(|| {
            args.error(
                class,
                format!("{:?} is not a class (IN, CH, HS, ANY)", class.text),
            )
        })?;
    let qtype = RecordType::from_str(&qtype.text.to_ascii_uppercase())
        .ok()
        .filter(|t| !matches!(t, RecordType::Unknown(_)))
        .ok_or_else(|| args.error(qtype, format!("{:?} is not a record type", qtype.text)))?;
    let zones = args.zones_or(ctx.block_zones)?;
    let mut rule = Rule {
        class,
        qtype,
        zones,
        regexes: Vec::new(),
        answers: Vec::new(),
        additionals: Vec::new(),
        authorities: Vec::new(),
        rcode: ResponseCode::NoError,
        fallthrough: Fallthrough::Never,
        matches: AtomicU64::new(0),
        rr_failures: AtomicU64::new(0),
    };
    for mut prop in args.block() {
        match prop.leaf()? {
            "match" => {
                if prop.is_done() {
                    return Err(prop.error_at_name("match needs at least one REGEX"));
                }
                for regex in prop.rest() {
                    let re = Regex::new(&regex.text).map_err(|e| {
                        prop.error(regex, format!("invalid regex {:?}: {e}", regex.text))
                    })?;
                    rule.regexes.push(re);
                }
            }
            section @ ("answer" | "additional" | "authority") => {
                let rr = prop.one()?;
                let template =
                    Template::parse(&rr.text).map_err(|m| prop.error(rr, m.to_string()))?;
                match section {
                    "answer" => rule.answers.push(template),
                    "additional" => rule.additionals.push(template),
                    _ => rule.authorities.push(template),
                }
            }
            "rcode" => {
                let code = prop.one()?;
                rule.rcode = rcode(&prop, code)?;
            }
            "fallthrough" => rule.fallthrough = Fallthrough::parse(&mut prop)?,
            "ederror" => {
                return Err(prop.error_at_name("ederror is not supported by rollcall yet"));
            }
            _ => {
                return Err(prop.unknown_property_of(&[
                    "match",
                    "answer",
                    "additional",
                    "authority",
                    "rcode",
                    "fallthrough",
                    "ederror",
                ]));
            }
        }
    }
    if rule.regexes.is_empty() {
        rule.regexes
            .push(Regex::new(".*").map_err(|e| args.error_at_name(e.to_string()))?);
    }
    check_groups(&args, &rule)?;
    Ok(rule)
}

/// A template may only name capture groups some regex of its rule has (CoreDNS renders a
/// missing group as nothing, which yields a record that fails at query time).
fn check_groups(args: &Args<'_>, rule: &Rule) -> Result<(), SetupError> {
    let known = |group: &str| {
        rule.regexes.iter().any(|re| {
            group.parse::<usize>().map_or_else(
                |_| re.capture_names().any(|n| n == Some(group)),
                |i| i < re.captures_len(),
            )
        })
    };
    for template in rule
        .answers
        .iter()
        .chain(&rule.additionals)
        .chain(&rule.authorities)
    {
        if let Some(missing) = template.groups().find(|g| !known(g)) {
            return Err(args.error_at_name(format!(
                "a template uses group {missing:?}, which no match regex has"
            )));
        }
    }
    Ok(())
}

/// `rcode CODE`.
fn rcode(prop: &Args<'_>, code: &Token) -> Result<ResponseCode, SetupError> {
    let rcode = match code.text.to_ascii_uppercase().as_str() {
        "NOERROR" | "SUCCESS" => ResponseCode::NoError,
        "FORMERR" => ResponseCode::FormErr,
        "SERVFAIL" => ResponseCode::ServFail,
        "NXDOMAIN" => ResponseCode::NXDomain,
        "NOTIMP" => ResponseCode::NotImp,
        "REFUSED" => ResponseCode::Refused,
        "YXDOMAIN" => ResponseCode::YXDomain,
        "NOTAUTH" => ResponseCode::NotAuth,
        _ => {
            return Err(prop.error(
                code,
                format!(
                    "{:?} is not an RCODE (NOERROR, NXDOMAIN, SERVFAIL, REFUSED, ...)",
                    code.text
                ),
            ));
        }
    };
    Ok(rcode)
}
