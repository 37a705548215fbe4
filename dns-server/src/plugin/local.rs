//! # local
//!
//! Answers "local" names itself so they never leave the server (a `forward` would send them to
//! the internet), as CoreDNS's `local` does:
//!
//! - the zones `localhost.`, `0.in-addr.arpa.`, `127.in-addr.arpa.` and `255.in-addr.arpa.`:
//!   `localhost.` has A 127.0.0.1 and AAAA ::1, each zone apex an SOA and NS (`localhost.`),
//!   `1.0.0.127.in-addr.arpa.` a PTR to `localhost.`; other types at those names are NODATA and
//!   every other name in the zones NXDOMAIN (SOA of the zone in the authority section);
//! - any name whose first label is `localhost` (`localhost.example.org.`): A 127.0.0.1, AAAA ::1,
//!   NODATA for other types. Counted in `coredns_local_localhost_requests_total` when the block
//!   has `prometheus`.
//!
//! One addition to CoreDNS, which intercepts no `ip6.arpa.` name: `::1`'s reverse name
//! (`1.0.….0.ip6.arpa.`) gets its PTR to `localhost.` (NODATA for other types) the same way as
//! `1.0.0.127.in-addr.arpa.`. Other `ip6.arpa.` names go down the chain.
//!
//! Records have a TTL of one week (604800), as CoreDNS's. Replies are not authoritative.
//!
//! ## Syntax
//! ```text
//! local
//! ```
//! No arguments or properties.
//!
//! ## Example
//! ```corefile
//! .:53 {
//!     local
//!     forward . /etc/resolv.conf
//! }
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use corefile::Directive;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::SOA;
use hickory_proto::rr::{Name, RData, Record, RecordType};

use crate::contract::{
    Args, Next, Outcome, Plugin, PluginFuture, Query, Reply, SetupContext, SetupResult, in_zone,
};
use crate::dns::records;

const TTL: u32 = 604_800;

const ZONES: [&str; 4] = [
    "localhost.",
    "0.in-addr.arpa.",
    "127.in-addr.arpa.",
    "255.in-addr.arpa.",
];

const LOOPBACK_V4_PTR: &str = "1.0.0.127.in-addr.arpa.";
const LOOPBACK_V6_PTR: &str =
    "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa.";

pub struct Local {
    /// `localhost.` as a name, built once.
    localhost: Name,
}

/// The suffix of the name as asked that is `zone` (keeps the client's spelling, as CoreDNS's
/// SOA owner does).
fn zone_of(name: &Name, zone: &str) -> Name {
    name.trim_to(zone.trim_end_matches('.').split('.').count())
}

impl Local {
    fn soa(&self, owner: &Name) -> Record {
        let rname = Name::from_labels(["root", "localhost"]).unwrap_or_else(|_| Name::root());
        Record::from_rdata(
            owner.clone(),
            TTL,
            RData::SOA(SOA::new(self.localhost.clone(), rname, 1, 0, 0, 0, TTL)),
        )
    }

    fn address(&self, owner: &Name, qtype: RecordType, reply: &mut Reply) {
        match qtype {
            RecordType::A => reply.answers.push(records::address(
                owner,
                TTL,
                std::net::Ipv4Addr::LOCALHOST.into(),
            )),
            RecordType::AAAA => reply.answers.push(records::address(
                owner,
                TTL,
                std::net::Ipv6Addr::LOCALHOST.into(),
            )),
            _ => reply.authority.push(self.soa(owner)),
        }
    }

    fn answer(&self, query: &Query) -> Option<Reply> {
        let name = query.lower.as_str();
        let mut reply = Reply::new(ResponseCode::NoError, "local");
        if name.len() > "localhost.".len() && name.starts_with("localhost.") {
            LOCALHOST_REQUESTS.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(qname = %query.name, qtype = %query.qtype, src = %query.src, "intercepting localhost query");
            self.address(&query.name, query.qtype, &mut reply);
            return Some(reply);
        }
        if name == LOOPBACK_V6_PTR {
            match query.qtype {
                RecordType::PTR => {
                    reply
                        .answers
                        .push(records::ptr(&query.name, TTL, self.localhost.clone()))
                }
                _ => reply.authority.push(self.soa(&query.name)),
            }
            return Some(reply);
        }
        let zone = ZONES.iter().find(|z| in_zone(name, z))?;
        if name == *zone {
            match query.qtype {
                RecordType::A | RecordType::AAAA if name == "localhost." => {
                    self.address(&query.name, query.qtype, &mut reply);
                }
                RecordType::SOA => reply.answers.push(self.soa(&query.name)),
                RecordType::NS => {
                    reply
                        .answers
                        .push(records::ns(&query.name, TTL, self.localhost.clone()))
                }
                _ => reply.authority.push(self.soa(&query.name)),
            }
        } else if name == LOOPBACK_V4_PTR {
            match query.qtype {
                RecordType::PTR => {
                    reply
                        .answers
                        .push(records::ptr(&query.name, TTL, self.localhost.clone()))
                }
                _ => reply.authority.push(self.soa(&zone_of(&query.name, zone))),
            }
        } else {
            reply.rcode = ResponseCode::NXDomain;
            reply.authority.push(self.soa(&zone_of(&query.name, zone)));
        }
        Some(reply)
    }
}

impl Plugin for Local {
    fn name(&self) -> &'static str {
        "local"
    }

    fn serve<'a>(&'a self, query: &'a Query, next: Next<'a>) -> PluginFuture<'a> {
        match self.answer(query) {
            Some(reply) => PluginFuture::ready(Ok(reply)),
            None => next.serve(query),
        }
    }
}

/// `localhost.<domain>` queries answered, by every `local` of the process (CoreDNS's counter
/// has no `server` label either). A static, so a reload does not reset it to zero.
static LOCALHOST_REQUESTS: AtomicU64 = AtomicU64::new(0);

/// `coredns_local_localhost_requests_total`, rendered at scrape time.
#[derive(Default)]
struct LocalMetrics;

impl crate::metrics::MetricsSource for LocalMetrics {
    fn render(&self, out: &mut crate::metrics::Exposition) {
        out.counter(
            "coredns_local_localhost_requests_total",
            "Counter of localhost.<domain> requests.",
            &[],
            LOCALHOST_REQUESTS.load(Ordering::Relaxed),
        );
    }
}

pub fn setup(ctx: &mut SetupContext<'_>, d: &Directive) -> SetupResult {
    Args::new(d).bare()?;
    // One process-wide series however many blocks have `local`.
    let _ = ctx.metrics.shared::<LocalMetrics>();
    Ok(Outcome::Link(
        Arc::new(Local {
            localhost: Name::from_labels(["localhost"]).unwrap_or_else(|_| Name::root()),
        }),
        "localhost. 0/127/255.in-addr.arpa. localhost.<domain> ::1".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::testing;

    async fn ask(name: &str, qtype: RecordType) -> (Reply, bool) {
        let plugin = testing::plugin("local");
        let query = Query::new(Name::from_ascii(name).unwrap(), qtype);
        let (result, passed_on) = testing::ask(&plugin, &query).await;
        (result.unwrap(), passed_on)
    }

    fn texts(records: &[Record]) -> Vec<String> {
        records.iter().map(ToString::to_string).collect()
    }

    const SOA_LOCALHOST: &str =
        "localhost. 604800 IN SOA localhost. root.localhost. 1 0 0 0 604800";

    #[tokio::test]
    async fn localhost_addresses_and_apex_records() {
        let (r, passed_on) = ask("localhost.", RecordType::A).await;
        assert!(!passed_on && !r.authoritative);
        assert_eq!(texts(&r.answers), ["localhost. 604800 IN A 127.0.0.1"]);
        let (r, _) = ask("localhost.", RecordType::AAAA).await;
        assert_eq!(texts(&r.answers), ["localhost. 604800 IN AAAA ::1"]);
        let (r, _) = ask("localhost.", RecordType::NS).await;
        assert_eq!(texts(&r.answers), ["localhost. 604800 IN NS localhost."]);
        let (r, _) = ask("localhost.", RecordType::SOA).await;
        assert_eq!(texts(&r.answers), [SOA_LOCALHOST]);
        let (r, _) = ask("localhost.", RecordType::MX).await;
        assert_eq!((r.rcode, r.answers.len()), (ResponseCode::NoError, 0));
        assert_eq!(texts(&r.authority), [SOA_LOCALHOST]);
        // A zone apex that is not localhost.: NODATA for addresses.
        let (r, _) = ask("127.in-addr.arpa.", RecordType::A).await;
        assert_eq!((r.rcode, r.answers.len()), (ResponseCode::NoError, 0));
        assert_eq!(
            texts(&r.authority),
            ["127.in-addr.arpa. 604800 IN SOA localhost. root.localhost. 1 0 0 0 604800"]
        );
    }

    #[tokio::test]
    async fn names_below_the_zones_and_the_loopback_ptrs() {
        let (r, _) = ask("foo.localhost.", RecordType::A).await;
        assert_eq!(r.rcode, ResponseCode::NXDomain);
        assert_eq!(texts(&r.authority), [SOA_LOCALHOST]);
        let (r, _) = ask("1.0.0.127.in-addr.arpa.", RecordType::PTR).await;
        assert_eq!(
            texts(&r.answers),
            ["1.0.0.127.in-addr.arpa. 604800 IN PTR localhost."]
        );
        let (r, _) = ask("1.0.0.127.IN-ADDR.arpa.", RecordType::A).await;
        assert_eq!((r.rcode, r.answers.len()), (ResponseCode::NoError, 0));
        assert_eq!(
            texts(&r.authority),
            ["127.IN-ADDR.arpa. 604800 IN SOA localhost. root.localhost. 1 0 0 0 604800"]
        );
        let (r, _) = ask("5.0.0.127.in-addr.arpa.", RecordType::PTR).await;
        assert_eq!(r.rcode, ResponseCode::NXDomain);
        let (r, _) = ask("1.0.0.0.in-addr.arpa.", RecordType::PTR).await;
        assert_eq!(r.rcode, ResponseCode::NXDomain);
        let (r, _) = ask(LOOPBACK_V6_PTR, RecordType::PTR).await;
        assert_eq!(
            texts(&r.answers),
            [format!("{LOOPBACK_V6_PTR} 604800 IN PTR localhost.")]
        );
        let (r, _) = ask(LOOPBACK_V6_PTR, RecordType::A).await;
        assert!(r.answers.is_empty() && r.authority.len() == 1 && r.rcode == ResponseCode::NoError);
    }

    #[tokio::test]
    async fn localhost_prefix_answers_and_everything_else_passes_on() {
        let before = LOCALHOST_REQUESTS.load(Ordering::Relaxed);
        let (r, passed_on) = ask("localhost.example.org.", RecordType::A).await;
        assert!(!passed_on);
        assert_eq!(
            texts(&r.answers),
            ["localhost.example.org. 604800 IN A 127.0.0.1"]
        );
        let (r, _) = ask("localhost.example.org.", RecordType::TXT).await;
        assert_eq!(
            texts(&r.authority),
            ["localhost.example.org. 604800 IN SOA localhost. root.localhost. 1 0 0 0 604800"]
        );
        assert!(LOCALHOST_REQUESTS.load(Ordering::Relaxed) >= before + 2);
        for name in [
            "example.org.",
            "mylocalhost.",
            "x.localhost.example.org.",
            "1.0.0.10.in-addr.arpa.",
            "2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa.",
        ] {
            let (_, passed_on) = ask(name, RecordType::A).await;
            assert!(passed_on, "{name}");
        }
    }

    #[test]
    fn takes_nothing() {
        assert_eq!(
            testing::error("local x"),
            "Corefile:2:7: local: unexpected argument \"x\""
        );
    }
}
