//! # acl
//!
//! Allows or refuses queries by the client's address and the question's type, as CoreDNS's
//! `acl` does: the rules of every `acl` in the server block are tried in Corefile order, the
//! first rule that matches decides, and a query no rule matches is allowed.
//!
//! ## Syntax
//! ```text
//! acl [ZONES...] {
//!     ACTION [type QTYPE...] [net SOURCE...]
//! }
//! ```
//! - `ZONES`: the names the rules apply to (default: the server block's zones).
//! - `ACTION`: `allow` (on down the chain), `block` (REFUSED), `filter` (an empty NOERROR),
//!   `drop` (no reply at all).
//! - `type`: the question types matched (default `*`, every type).
//! - `net`: the client networks matched, as CIDRs or addresses (one host), IPv4 or IPv6
//!   (default `*`, every client).
//! - Each rule is one line of the block; a block needs at least one. `acl` may be given several
//!   times in a server block: its stanzas are tried in Corefile order, as one rule list.
//!
//! ## Example
//! ```corefile
//! .:53 {
//!     acl {
//!         allow net 10.0.0.0/8 192.168.0.0/16 127.0.0.1
//!         block
//!     }
//!     kubernetes cluster.local
//! }
//! ```

use std::net::IpAddr;
use std::sync::Arc;

use corefile::{Directive, Token};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

use crate::contract::{
    Args, Next, Outcome, Plugin, PluginError, PluginFuture, Query, Reply, SetupContext, SetupError,
    SetupResult, in_zone,
};

const NAME: &str = "acl";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Allow,
    Block,
    Filter,
    Drop,
}

/// A network: an address and how many leading bits must match.
#[derive(Debug, Clone, Copy)]
struct Net {
    addr: IpAddr,
    bits: u8,
}

impl Net {
    fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.bits)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.bits))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

#[derive(Debug)]
struct Rule {
    action: Action,
    /// Empty: every type.
    types: Vec<RecordType>,
    /// Empty: every client.
    nets: Vec<Net>,
}

#[derive(Debug)]
struct Policy {
    zones: Vec<String>,
    rules: Vec<Rule>,
}

pub struct Acl {
    policies: Vec<Policy>,
}

impl Acl {
    fn decide(&self, query: &Query) -> Action {
        let client = query.src.ip();
        for policy in &self.policies {
            if !policy.zones.iter().any(|z| in_zone(&query.lower, z)) {
                continue;
            }
            for rule in &policy.rules {
                let type_ok = rule.types.is_empty() || rule.types.contains(&query.qtype);
                let net_ok = rule.nets.is_empty() || rule.nets.iter().any(|n| n.contains(client));
                if type_ok && net_ok {
                    return rule.action;
                }
            }
        }
        Action::Allow
    }
}

impl Plugin for Acl {
    fn name(&self) -> &'static str {
        NAME
    }

    fn serve<'a>(&'a self, query: &'a Query, next: Next<'a>) -> PluginFuture<'a> {
        match self.decide(query) {
            Action::Allow => next.serve(query),
            Action::Block => PluginFuture::ready(Ok(Reply::new(ResponseCode::Refused, NAME))),
            Action::Filter => PluginFuture::ready(Ok(Reply::new(ResponseCode::NoError, NAME))),
            Action::Drop => PluginFuture::ready(Err(PluginError::Dropped("acl drop"))),
        }
    }
}

fn net(args: &Args<'_>, t: &Token) -> Result<Net, SetupError> {
    let bad = |why: &str| args.error(t, format!("{:?} is not a network: {why}", t.text));
    let (addr, bits) = match t.text.split_once('/') {
        Some((addr, bits)) => (addr, Some(bits)),
        None => (t.text.as_str(), None),
    };
    let addr: IpAddr = addr
        .parse()
        .map_err(|_| bad("expected an IP address or CIDR"))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let bits = match bits {
        None => max,
        Some(b) => b
            .parse::<u8>()
            .ok()
            .filter(|b| *b <= max)
            .ok_or_else(|| bad("bad prefix length"))?,
    };
    Ok(Net {
        addr: addr.to_canonical(),
        bits,
    })
}

/// `ACTION [type QTYPE...] [net SOURCE...]`
fn rule(mut prop: Args<'_>) -> Result<Rule, SetupError> {
    let action = match prop.leaf()? {
        "allow" => Action::Allow,
        "block" => Action::Block,
        "filter" => Action::Filter,
        "drop" => Action::Drop,
        other => {
            return Err(prop.error_at_name(format!(
                "unknown action {other:?}: expected allow, block, filter or drop"
            )));
        }
    };
    let mut rule = Rule {
        action,
        types: Vec::new(),
        nets: Vec::new(),
    };
    let mut section = None;
    for t in prop.rest() {
        match t.text.as_str() {
            "type" | "net" => section = Some(t.text.as_str()),
            "*" if section.is_some() => {}
            value => match section {
                Some("type") => {
                    let qtype: RecordType = value
                        .to_ascii_uppercase()
                        .parse()
                        .ok()
                        .filter(|q| !matches!(q, RecordType::Unknown(_)))
                        .ok_or_else(|| prop.error(t, format!("{value:?} is not a record type")))?;
                    rule.types.push(qtype);
                }
                Some(_) => rule.nets.push(net(&prop, t)?),
                None => {
                    return Err(prop.error(t, format!("expected `type` or `net`, found {value:?}")));
                }
            },
        }
    }
    Ok(rule)
}

pub fn setup(ctx: &mut SetupContext<'_>, stanzas: &[&Directive]) -> SetupResult {
    let mut policies = Vec::with_capacity(stanzas.len());
    let mut rules = 0;
    for d in stanzas {
        let mut args = Args::new(d);
        let zones = args.zones_or(ctx.block_zones)?;
        if args.block().next().is_none() {
            return Err(args.error_at_name("needs a block with at least one rule"));
        }
        let parsed = args.block().map(rule).collect::<Result<Vec<_>, _>>()?;
        rules += parsed.len();
        policies.push(Policy {
            zones,
            rules: parsed,
        });
    }
    let detail = format!(
        "{} polic{}, {rules} rule(s)",
        policies.len(),
        if policies.len() == 1 { "y" } else { "ies" }
    );
    Ok(Outcome::Link(Arc::new(Acl { policies }), detail))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::testing;
    use hickory_proto::rr::Name;

    fn query(from: &str, qtype: RecordType) -> Query {
        let mut q = Query::new(Name::from_ascii("web.example.").unwrap(), qtype);
        q.src = std::net::SocketAddr::new(from.parse().unwrap(), 5353);
        q
    }

    #[tokio::test]
    async fn first_matching_rule_decides_and_unmatched_queries_pass() {
        let acl = testing::plugin(
            "acl {\n allow net 10.0.0.0/8 ::1\n filter type AAAA net 192.168.0.0/16\n drop type ANY\n block net 192.168.0.0/16\n}",
        );
        let cases = [
            ("10.1.2.3", RecordType::ANY, "passed"),
            ("::ffff:10.1.2.3", RecordType::A, "passed"),
            ("::1", RecordType::A, "passed"),
            ("192.168.1.1", RecordType::AAAA, "NOERROR"),
            ("192.168.1.1", RecordType::A, "REFUSED"),
            ("172.16.0.1", RecordType::ANY, "dropped"),
            ("172.16.0.1", RecordType::A, "passed"),
        ];
        for (from, qtype, want) in cases {
            let (result, passed) = testing::ask(&acl, &query(from, qtype)).await;
            let got = match (&result, passed) {
                (_, true) => "passed".to_string(),
                (Ok(r), false) => crate::dns::rcode_name(r.rcode).to_string(),
                (Err(PluginError::Dropped(_)), false) => "dropped".to_string(),
                (Err(e), false) => e.to_string(),
            };
            assert_eq!(got, want, "{from} {qtype}");
        }
    }

    #[tokio::test]
    async fn rules_apply_only_in_their_zones() {
        let acl = testing::plugin("acl other.example {\n block\n}");
        let (_, passed) = testing::ask(&acl, &query("10.0.0.1", RecordType::A)).await;
        assert!(passed);
    }

    #[test]
    fn networks() {
        let n = |s: &str| Net {
            addr: s.split('/').next().unwrap().parse().unwrap(),
            bits: s.split('/').nth(1).unwrap().parse().unwrap(),
        };
        assert!(n("10.0.0.0/8").contains("10.255.0.1".parse().unwrap()));
        assert!(!n("10.0.0.0/8").contains("11.0.0.1".parse().unwrap()));
        assert!(n("0.0.0.0/0").contains("1.2.3.4".parse().unwrap()));
        assert!(n("fd00::/8").contains("fd12::1".parse().unwrap()));
        assert!(!n("fd00::/8").contains("10.0.0.1".parse().unwrap()));
    }
}
