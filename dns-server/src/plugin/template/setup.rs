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
use super::{NAME, Rule, TemplateMetrics, TemplatePlugin};
use crate::contract::{Outcome, SetupContext, SetupError, SetupResult, args};

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

fn parse(ctx: &SetupContext<'_>, d: &Directive) -> Result<Rule, SetupError> {
    let [class, qtype, zone_tokens @ ..] = d.args.as_slice() else {
        return Err(args::err(&d.name, NAME, "needs CLASS TYPE [ZONE...]"));
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
            args::err(
                class,
                NAME,
                format!("{:?} is not a class (IN, CH, HS, ANY)", class.text),
            )
        })?;
    let qtype = RecordType::from_str(&qtype.text.to_ascii_uppercase())
        .ok()
        .filter(|t| !matches!(t, RecordType::Unknown(_)))
        .ok_or_else(|| {
            args::err(
                qtype,
                NAME,
                format!("{:?} is not a record type", qtype.text),
            )
        })?;
    let zones = if zone_tokens.is_empty() {
        ctx.block_zones.to_vec()
    } else {
        args::zones(zone_tokens, NAME)?
    };
    let mut rule = Rule {
        class,
        qtype,
        zones,
        regexes: Vec::new(),
        answers: Vec::new(),
        additionals: Vec::new(),
        authorities: Vec::new(),
        rcode: ResponseCode::NoError,
        fallthrough: None,
        matches: AtomicU64::new(0),
        rr_failures: AtomicU64::new(0),
    };
    for prop in d.block.iter().flatten() {
        let name = args::leaf_property(prop, NAME)?;
        match name {
            "match" => {
                if prop.args.is_empty() {
                    return Err(args::err(
                        &prop.name,
                        NAME,
                        "match needs at least one REGEX",
                    ));
                }
                for t in &prop.args {
                    let re = Regex::new(&t.text).map_err(|e| {
                        args::err(t, NAME, format!("invalid regex {:?}: {e}", t.text))
                    })?;
                    rule.regexes.push(re);
                }
            }
            "answer" | "additional" | "authority" => {
                let t = args::exactly_one(prop, NAME)?;
                let template =
                    Template::parse(&t.text).map_err(|m| args::err(t, NAME, m.to_string()))?;
                match name {
                    "answer" => rule.answers.push(template),
                    "additional" => rule.additionals.push(template),
                    _ => rule.authorities.push(template),
                }
            }
            "rcode" => {
                let t = args::exactly_one(prop, NAME)?;
                rule.rcode = rcode(t)?;
            }
            "fallthrough" => rule.fallthrough = Some(args::zones(&prop.args, NAME)?),
            "ederror" => {
                return Err(args::err(
                    &prop.name,
                    NAME,
                    "ederror is not supported by rollcall yet",
                ));
            }
            other => {
                return Err(args::err(
                    &prop.name,
                    NAME,
                    format!("unknown property {other:?}"),
                ));
            }
        }
    }
    if rule.regexes.is_empty() {
        rule.regexes
            .push(Regex::new(".*").map_err(|e| args::err(&d.name, NAME, e.to_string()))?);
    }
    check_groups(d, &rule)?;
    Ok(rule)
}

/// A template may only name capture groups some regex of its rule has (CoreDNS renders a
/// missing group as nothing, which yields a record that fails at query time).
fn check_groups(d: &Directive, rule: &Rule) -> Result<(), SetupError> {
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
            return Err(args::err(
                &d.name,
                NAME,
                format!("a template uses group {missing:?}, which no match regex has"),
            ));
        }
    }
    Ok(())
}

fn rcode(t: &Token) -> Result<ResponseCode, SetupError> {
    let code = match t.text.to_ascii_uppercase().as_str() {
        "NOERROR" | "SUCCESS" => ResponseCode::NoError,
        "FORMERR" => ResponseCode::FormErr,
        "SERVFAIL" => ResponseCode::ServFail,
        "NXDOMAIN" => ResponseCode::NXDomain,
        "NOTIMP" => ResponseCode::NotImp,
        "REFUSED" => ResponseCode::Refused,
        "YXDOMAIN" => ResponseCode::YXDomain,
        "NOTAUTH" => ResponseCode::NotAuth,
        _ => {
            return Err(args::err(
                t,
                NAME,
                format!(
                    "{:?} is not an RCODE (NOERROR, NXDOMAIN, SERVFAIL, REFUSED, ...)",
                    t.text
                ),
            ));
        }
    };
    Ok(code)
}
