//! # template
//!
//! Answers questions from templates, as CoreDNS's `template` does: for a question of the given
//! class and type in the zones, whose name matches one of the regexes, the answer, additional
//! and authority records are rendered from the templates with the question and the regex's
//! capture groups, with the given RCODE. The common uses in clusters: answer every AAAA with an
//! empty NOERROR in an IPv4-only cluster, or synthesize `ip-10-0-0-1.example` style names.
//!
//! ## Syntax
//! ```text
//! template CLASS TYPE [ZONE...] {
//!     match REGEX...
//!     answer RR
//!     additional RR
//!     authority RR
//!     rcode CODE
//!     fallthrough [ZONE...]
//! }
//! ```
//! - `CLASS`, `TYPE`: the question's class (`IN`, `CH`, `HS`, `ANY`) and type (`A`, `AAAA`, ...,
//!   `ANY`).
//! - `ZONE`: where the template applies (default: the server block's zones).
//! - `match`: regexes against the question name (lower-case, trailing dot; default `.*`).
//!   Named groups `(?P<x>...)` and numbered groups are available to the templates.
//! - `answer`, `additional`, `authority`: one record per line (repeat the line for more), in
//!   zone-file form (`{{ .Name }} 60 IN A 127.0.0.1`), with `{{ .Name }}`, `{{ .Zone }}`,
//!   `{{ .Class }}`, `{{ .Type }}`, `{{ .Remote }}`, `{{ .Regex }}`, `{{ .Group.x }}`,
//!   `{{ index .Match 1 }}`. Other Go template actions, and a group no `match` regex has, are
//!   refused at setup.
//! - `rcode`: `NOERROR` (default), `NXDOMAIN`, `SERVFAIL`, `REFUSED`, `FORMERR`, `NOTIMP`,
//!   `YXDOMAIN`, `NOTAUTH`.
//! - `ederror` (extended DNS errors) is not supported yet: a Corefile with it is refused.
//! - `fallthrough`: a question whose class, type and zone match but whose name matches no regex
//!   goes on down the chain (for these zones; all when none are given) instead of NXDOMAIN.
//!
//! Templates are tried in Corefile order; a question no template's class, type and zone match
//! goes on down the chain. Where CoreDNS writes no reply at all for a name no regex matches
//! (without `fallthrough`), rollcall answers NXDOMAIN. A record that does not parse after
//! rendering gives SERVFAIL and counts in `coredns_template_rr_failures_total`; answers count in
//! `coredns_template_matches_total` (labelled with the template's class and type).
//!
//! ## Example
//! ```corefile
//! .:53 {
//!     template ANY AAAA {
//!         rcode NOERROR
//!     }
//!     template IN A example.org {
//!         match ^ip-(?P<a>[0-9]+)-(?P<b>[0-9]+)-(?P<c>[0-9]+)-(?P<d>[0-9]+)[.]example[.]org[.]$
//!         answer "{{ .Name }} 60 IN A {{ .Group.a }}.{{ .Group.b }}.{{ .Group.c }}.{{ .Group.d }}"
//!     }
//! }
//! ```

mod render;
pub mod setup;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{DNSClass, Record, RecordType};
use regex::Regex;

use crate::contract::{Fallthrough, Next, Plugin, PluginError, PluginFuture, Reply};
use crate::contract::{Query, in_zone};
use crate::metrics::{Exposition, MetricsSource};
use render::{Data, Template};

const NAME: &str = "template";

pub struct Rule {
    class: DNSClass,
    qtype: RecordType,
    zones: Vec<String>,
    regexes: Vec<Regex>,
    answers: Vec<Template>,
    additionals: Vec<Template>,
    authorities: Vec<Template>,
    rcode: ResponseCode,
    fallthrough: Fallthrough,
    matches: AtomicU64,
    rr_failures: AtomicU64,
}

/// What one rule makes of a question.
enum Outcome {
    /// Class, type or zone differ: the next rule may apply.
    NotMine,
    /// Mine, but no regex matched.
    NoMatch {
        fall_through: bool,
    },
    Answer(Reply),
}

impl Rule {
    fn wildcard_class(&self, class: DNSClass) -> bool {
        self.class == DNSClass::ANY || class == DNSClass::ANY || class == self.class
    }

    fn wildcard_type(&self, qtype: RecordType) -> bool {
        self.qtype == RecordType::ANY || qtype == RecordType::ANY || qtype == self.qtype
    }

    fn try_answer(&self, query: &Query) -> Result<Outcome, PluginError> {
        let Some(zone) = self
            .zones
            .iter()
            .filter(|z| in_zone(&query.lower, z))
            .max_by_key(|z| z.len())
        else {
            return Ok(Outcome::NotMine);
        };
        if !self.wildcard_class(query.qclass) || !self.wildcard_type(query.qtype) {
            return Ok(Outcome::NotMine);
        }
        let Some((regex, captures)) = self
            .regexes
            .iter()
            .find_map(|re| re.captures(&query.lower).map(|c| (re, c)))
        else {
            return Ok(Outcome::NoMatch {
                fall_through: self.fallthrough.passes(&query.lower),
            });
        };
        let mut groups = HashMap::new();
        for (i, name) in regex.capture_names().enumerate() {
            let value = captures.get(i).map_or("", |m| m.as_str()).to_string();
            if let Some(name) = name {
                groups.insert(name.to_string(), value.clone());
            }
            groups.insert(i.to_string(), value);
        }
        let class = query.qclass.to_string();
        let qtype = query.qtype.to_string();
        let data = Data {
            name: &query.lower,
            zone,
            class: &class,
            qtype: &qtype,
            remote: query.src.ip().to_string(),
            regex: regex.as_str(),
            groups,
        };
        self.matches.fetch_add(1, Relaxed);
        let mut reply = Reply::new(self.rcode, NAME);
        reply.authoritative = true;
        reply.answers = self.render(&self.answers, &data)?;
        reply.additionals = self.render(&self.additionals, &data)?;
        reply.authority = self.render(&self.authorities, &data)?;
        Ok(Outcome::Answer(reply))
    }

    fn render(&self, templates: &[Template], data: &Data<'_>) -> Result<Vec<Record>, PluginError> {
        templates
            .iter()
            .map(|t| {
                let text = t.render(data);
                render::parse_record(&text).map_err(|reason| {
                    self.rr_failures.fetch_add(1, Relaxed);
                    PluginError::internal(NAME, render::NotARecord { text, reason })
                })
            })
            .collect()
    }
}

pub struct TemplatePlugin {
    rules: Vec<Arc<Rule>>,
    /// Every rule's zones, for the quick "not mine" check.
    zones: Vec<String>,
}

impl Plugin for TemplatePlugin {
    fn name(&self) -> &'static str {
        NAME
    }

    fn serve<'a>(&'a self, query: &'a Query, next: Next<'a>) -> PluginFuture<'a> {
        if !self.zones.iter().any(|z| in_zone(&query.lower, z)) {
            return next.serve(query);
        }
        for rule in &self.rules {
            match rule.try_answer(query) {
                Ok(Outcome::NotMine) => continue,
                Ok(Outcome::NoMatch { fall_through: true }) => continue,
                Ok(Outcome::NoMatch {
                    fall_through: false,
                }) => {
                    let mut reply = Reply::new(ResponseCode::NXDomain, NAME);
                    reply.authoritative = true;
                    return PluginFuture::ready(Ok(reply.from_memory()));
                }
                Ok(Outcome::Answer(reply)) => {
                    return PluginFuture::ready(Ok(reply.from_memory()));
                }
                Err(e) => return PluginFuture::ready(Err(e)),
            }
        }
        next.serve(query)
    }
}

struct TemplateMetrics {
    server: String,
    rules: Vec<Arc<Rule>>,
}

impl MetricsSource for TemplateMetrics {
    fn render(&self, out: &mut Exposition) {
        for rule in &self.rules {
            let class = rule.class.to_string();
            let qtype = rule.qtype.to_string();
            let zones = rule.zones.join(" ");
            let labels = [
                ("server", self.server.as_str()),
                ("zone", zones.as_str()),
                ("view", ""),
                ("class", class.as_str()),
                ("type", qtype.as_str()),
            ];
            out.counter(
                "coredns_template_matches_total",
                "Counter of template regex matches.",
                &labels,
                rule.matches.load(Relaxed),
            );
            out.counter(
                "coredns_template_rr_failures_total",
                "Counter of mis-templated RRs.",
                &labels,
                rule.rr_failures.load(Relaxed),
            );
        }
    }
}
