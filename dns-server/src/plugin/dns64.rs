//! # dns64
//!
//! DNS64 (RFC 6147), as CoreDNS's `dns64` does: for an AAAA question whose answer holds no AAAA
//! record, the A records of the name are asked of the rest of the chain and returned as AAAA
//! records inside PREFIX, for IPv6-only pods behind a NAT64. Only queries that came over IPv6 are
//! translated, unless `allow_ipv4`. NXDOMAIN is never translated (the name does not exist);
//! NOERROR without AAAA and failures are. CNAMEs of the A answer are kept; each AAAA lives as long
//! as its A record, at most as long as the original answer's negative TTL (600 s without one).
//! Translations count in `coredns_dns64_requests_translated_total{server}`.
//!
//! ## Syntax
//! ```text
//! dns64 [PREFIX] {
//!     prefix PREFIX
//!     translate_all
//!     allow_ipv4
//! }
//! ```
//! - `PREFIX` (as an argument or as the `prefix` property): an IPv6 /96 whose last 32 bits are
//!   zero, default `64:ff9b::/96`. RFC 6052 also allows /32, /40, /48, /56 and /64; only /96 is
//!   supported here.
//! - `translate_all`: translate even when the AAAA answer has AAAA records.
//! - `allow_ipv4`: translate queries that came over IPv4 too.
//!
//! ## Example
//! ```corefile
//! .:53 {
//!     dns64 64:ff9b::/96 {
//!         allow_ipv4
//!     }
//!     forward . /etc/resolv.conf
//! }
//! ```

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use corefile::{Directive, Token};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::AAAA;
use hickory_proto::rr::{DNSClass, RData, Record, RecordType};

use crate::contract::{
    Args, Describe, Next, Outcome, Plugin, PluginFuture, PluginResult, Query, Reply, SetupContext,
    SetupError, SetupResult,
};
use crate::metrics::{Exposition, MetricsSource};

/// The well-known prefix (RFC 6052).
const WELL_KNOWN: Ipv6Addr = Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0);
/// The TTL cap when the AAAA answer carried no SOA.
const DEFAULT_TTL: u32 = 600;

pub struct Dns64 {
    prefix: Ipv6Addr,
    translate_all: bool,
    allow_ipv4: bool,
    translated: Arc<AtomicU64>,
}

impl Dns64 {
    fn intercepts(&self, query: &Query) -> bool {
        query.qtype == RecordType::AAAA
            && query.qclass == DNSClass::IN
            && (self.allow_ipv4 || query.src.ip().to_canonical().is_ipv6())
    }

    /// RFC 6147 §5.1: translate unless the name does not exist or has AAAA records already.
    fn wants_translation(&self, result: &PluginResult) -> bool {
        match result {
            Err(_) => true,
            Ok(reply) if reply.rcode == ResponseCode::NXDomain => false,
            Ok(reply) if reply.rcode != ResponseCode::NoError => true,
            Ok(reply) => {
                self.translate_all
                    || !reply
                        .answers
                        .iter()
                        .any(|r| r.record_type() == RecordType::AAAA)
            }
        }
    }

    fn embed(&self, v4: Ipv4Addr) -> Ipv6Addr {
        let [a, b, c, d] = v4.octets();
        let mut octets = self.prefix.octets();
        octets[12..].copy_from_slice(&[a, b, c, d]);
        Ipv6Addr::from(octets)
    }

    /// The A reply as AAAA: A records translated, other records (the CNAME chain) kept.
    fn synthesize(&self, a_reply: Reply, cap: u32) -> Reply {
        let mut reply = a_reply;
        reply.answers = reply
            .answers
            .into_iter()
            .map(|r| match &r.data {
                RData::A(a) => {
                    let mut aaaa = Record::from_rdata(
                        r.name.clone(),
                        r.ttl.min(cap),
                        RData::AAAA(AAAA(self.embed(a.0))),
                    );
                    aaaa.dns_class = r.dns_class;
                    aaaa
                }
                _ => r,
            })
            .collect();
        reply
            .additionals
            .retain(|r| r.record_type() != RecordType::A);
        reply
    }
}

/// The original answer's negative TTL (its SOA's), else the default cap.
fn ttl_cap(result: &PluginResult) -> u32 {
    result
        .as_ref()
        .ok()
        .and_then(|reply| {
            reply.authority.iter().find_map(|r| match &r.data {
                RData::SOA(soa) => Some(r.ttl.min(soa.minimum)),
                _ => None,
            })
        })
        .unwrap_or(DEFAULT_TTL)
}

impl Plugin for Dns64 {
    fn name(&self) -> &'static str {
        "dns64"
    }

    fn serve<'a>(&'a self, query: &'a Query, next: Next<'a>) -> PluginFuture<'a> {
        if !self.intercepts(query) {
            return next.serve(query);
        }
        PluginFuture::boxed(async move {
            let original = next.serve(query).await;
            if !self.wants_translation(&original) {
                return original;
            }
            let mut a_query = query.clone();
            a_query.qtype = RecordType::A;
            let a_result: PluginResult = Next::serve(next, &a_query).await;
            match a_result {
                Ok(a_reply)
                    if a_reply.rcode == ResponseCode::NoError
                        && a_reply
                            .answers
                            .iter()
                            .any(|r| r.record_type() == RecordType::A) =>
                {
                    self.translated.fetch_add(1, Relaxed);
                    Ok(self.synthesize(a_reply, ttl_cap(&original)))
                }
                // Nothing to translate: the AAAA answer stands.
                _ => original,
            }
        })
    }
}

struct Dns64Metrics {
    server: String,
    translated: Arc<AtomicU64>,
}

impl MetricsSource for Dns64Metrics {
    fn render(&self, out: &mut Exposition) {
        out.counter(
            "coredns_dns64_requests_translated_total",
            "Counter of DNS requests translated by dns64.",
            &[("server", self.server.as_str())],
            self.translated.load(Relaxed),
        );
    }
}

fn prefix(args: &Args<'_>, t: &Token) -> Result<Ipv6Addr, SetupError> {
    let bad = |why: &str| args.error(t, format!("{:?}: {why}", t.text));
    let (addr, len) = t
        .text
        .split_once('/')
        .ok_or_else(|| bad("expected an IPv6 prefix like 64:ff9b::/96"))?;
    let addr: Ipv6Addr = addr.parse().map_err(|_| bad("not an IPv6 address"))?;
    if len != "96" {
        return Err(bad("only /96 prefixes are supported"));
    }
    if addr.octets()[12..] != [0, 0, 0, 0] {
        return Err(bad("the last 32 bits must be zero"));
    }
    Ok(addr)
}

pub fn setup(ctx: &mut SetupContext<'_>, d: &Directive) -> SetupResult {
    let mut plugin = Dns64 {
        prefix: WELL_KNOWN,
        translate_all: false,
        allow_ipv4: false,
        translated: Arc::default(),
    };
    let mut args = Args::new(d);
    let first = args.next();
    args.end()?;
    if let Some(p) = first {
        plugin.prefix = prefix(&args, p)?;
    }
    for mut prop in args.block() {
        match prop.leaf()? {
            "prefix" => {
                let p = prop.one()?;
                plugin.prefix = prefix(&prop, p)?;
            }
            "translate_all" => {
                prop.end()?;
                plugin.translate_all = true;
            }
            "allow_ipv4" => {
                prop.end()?;
                plugin.allow_ipv4 = true;
            }
            _ => return Err(prop.unknown_property_of(&["prefix", "translate_all", "allow_ipv4"])),
        }
    }
    ctx.metrics.register(Arc::new(Dns64Metrics {
        server: ctx.server_label(),
        translated: Arc::clone(&plugin.translated),
    }));
    let detail = Describe::new()
        .part(format!("prefix {}/96", plugin.prefix))
        .flag(plugin.translate_all, "translate_all")
        .flag(plugin.allow_ipv4, "allow_ipv4")
        .finish();
    Ok(Outcome::Link(Arc::new(plugin), detail))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::records;
    use crate::plugin::testing;
    use hickory_proto::rr::Name;
    use std::sync::Mutex;

    /// Answers A with 192.0.2.1 (TTL 900) behind a CNAME, AAAA with `aaaa` as its reply.
    struct Backend {
        aaaa: Mutex<PluginResult>,
        asked: Mutex<Vec<RecordType>>,
    }

    impl Plugin for Backend {
        fn name(&self) -> &'static str {
            "backend"
        }

        fn serve<'a>(&'a self, query: &'a Query, _next: Next<'a>) -> PluginFuture<'a> {
            self.asked.lock().unwrap().push(query.qtype);
            if query.qtype == RecordType::AAAA {
                return PluginFuture::ready(self.aaaa.lock().unwrap().clone());
            }
            let target = Name::from_ascii("target.example.").unwrap();
            let mut reply = Reply::new(ResponseCode::NoError, "backend");
            reply
                .answers
                .push(records::cname(&query.name, 300, target.clone()));
            reply.answers.push(records::address(
                &target,
                900,
                Ipv4Addr::new(192, 0, 2, 1).into(),
            ));
            PluginFuture::ready(Ok(reply))
        }
    }

    async fn ask(lines: &str, from: &str, aaaa: PluginResult) -> (PluginResult, Vec<RecordType>) {
        let plugin = testing::plugin(lines);
        let backend = Arc::new(Backend {
            aaaa: Mutex::new(aaaa),
            asked: Mutex::new(Vec::new()),
        });
        let chain: Vec<Arc<dyn Plugin>> = vec![backend.clone()];
        let mut query = Query::new(Name::from_ascii("www.example.").unwrap(), RecordType::AAAA);
        query.src = std::net::SocketAddr::new(from.parse().unwrap(), 5353);
        let result = plugin.serve(&query, Next::new(&chain)).await;
        let asked = backend.asked.lock().unwrap().clone();
        (result, asked)
    }

    fn nodata(soa_ttl: u32) -> PluginResult {
        let mut reply = Reply::new(ResponseCode::NoError, "backend");
        reply.authority.push(
            crate::contract::Zone::new("example.")
                .unwrap()
                .soa(soa_ttl, 1),
        );
        Ok(reply)
    }

    #[tokio::test]
    async fn nodata_over_ipv6_is_translated_with_the_cname_kept() {
        let (result, asked) = ask("dns64", "2001:db8::5", nodata(60)).await;
        assert_eq!(asked, [RecordType::AAAA, RecordType::A]);
        let text = testing::answer_texts(&result);
        assert_eq!(
            text,
            [
                "www.example. 300 IN CNAME target.example.",
                "target.example. 60 IN AAAA 64:ff9b::c000:201",
            ],
            "TTL capped by the SOA's negative TTL"
        );
        // The SOA record itself lives 300 s (as the zone writes it): that caps the A's 900.
        let (result, _) = ask("dns64 2001:db8:64::/96", "2001:db8::5", nodata(3600)).await;
        assert_eq!(
            testing::answer_texts(&result)[1],
            "target.example. 300 IN AAAA 2001:db8:64::c000:201"
        );
    }

    #[tokio::test]
    async fn what_is_not_translated() {
        // IPv4 clients (without allow_ipv4), NXDOMAIN, and names with AAAA records.
        let (_, asked) = ask("dns64", "10.0.0.1", nodata(60)).await;
        assert_eq!(asked, [RecordType::AAAA]);
        let (_, asked) = ask("dns64 {\n allow_ipv4\n}", "10.0.0.1", nodata(60)).await;
        assert_eq!(asked, [RecordType::AAAA, RecordType::A]);
        let (result, asked) = ask(
            "dns64",
            "2001:db8::5",
            Ok(Reply::new(ResponseCode::NXDomain, "backend")),
        )
        .await;
        assert_eq!(asked, [RecordType::AAAA]);
        assert_eq!(result.unwrap().rcode, ResponseCode::NXDomain);
        let mut has_aaaa = Reply::new(ResponseCode::NoError, "backend");
        has_aaaa.answers.push(records::address(
            &Name::from_ascii("www.example.").unwrap(),
            30,
            "2001:db8::1".parse().unwrap(),
        ));
        let (_, asked) = ask("dns64", "2001:db8::5", Ok(has_aaaa.clone())).await;
        assert_eq!(asked, [RecordType::AAAA]);
        let (_, asked) = ask("dns64 {\n translate_all\n}", "2001:db8::5", Ok(has_aaaa)).await;
        assert_eq!(asked, [RecordType::AAAA, RecordType::A]);
    }
}
