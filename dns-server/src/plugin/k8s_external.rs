//! # k8s_external
//!
//! Answers for Services from outside the cluster, as CoreDNS's `k8s_external` does:
//! `<svc>.<ns>.<ZONE>` A/AAAA with the Service's external addresses (`spec.externalIPs`, then
//! `status.loadBalancer.ingress[].ip`), and `_<port>._<proto>.<svc>.<ns>.<ZONE>` SRV to that
//! name. The apex has SOA and NS (`ns1.<APEX>.<ZONE>`), and `ns1.<APEX>.<ZONE>` answers with the
//! external addresses of `kube-dns` in `kube-system`. A Service without external addresses is
//! NXDOMAIN. The data comes from the same server block's `kubernetes` plugin (its store), so it
//! needs one; until that has synced, names here get SERVFAIL (with the zone's SOA), never
//! NXDOMAIN.
//!
//! ## Syntax
//! ```text
//! k8s_external [ZONE...] {
//!     apex APEX
//!     ttl TTL
//!     fallthrough [ZONE...]
//! }
//! ```
//! - `ZONE`: the zones answered (default: the server block's zones).
//! - `apex`: the one label under which the name servers live (default `dns`).
//! - `ttl`: the TTL of answers, 0–3600 (default 5).
//! - `fallthrough`: an NXDOMAIN in these zones (all when none given) goes to the next plugin.
//! - `headless` (answering headless Services' endpoints) is not supported yet: a Corefile with it
//!   is refused.
//! - The server block must have a `kubernetes` plugin: setup fails without one.
//!
//! ## Example
//! ```corefile
//! .:53 {
//!     kubernetes cluster.local
//!     k8s_external example.org
//! }
//! ```
//! `web.apps.example.org` then answers with the external IP of Service `web` in `apps`.

use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use corefile::Directive;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::SOA;
use hickory_proto::rr::{Name, RData, Record, RecordType};

use crate::contract::{
    Args, ChangeCount, Fallthrough, Next, Outcome, Plugin, PluginFuture, Query, Reply,
    SetupContext, SetupResult, Watch, in_zone,
};
use crate::dns::records;
use registry::store::Store;

const NAME: &str = "k8s_external";

struct ExternalZone {
    /// Lower-case with trailing dot.
    name: String,
    origin: Name,
    /// `ns1.<apex>.<zone>`.
    ns1: Name,
    hostmaster: Name,
}

/// The cluster's Services, as this plugin reads them: put in the block's
/// [`Extensions`](crate::contract::Extensions) by the block's `kubernetes` (the provider), found
/// here once the block is set up, as CoreDNS's k8s_external finds its `Externaler`.
pub struct ClusterServices(pub Store);

pub struct K8sExternal {
    zones: Vec<ExternalZone>,
    apex: String,
    ttl: u32,
    fallthrough: Fallthrough,
    store: OnceLock<Store>,
}

impl K8sExternal {
    fn zone_of(&self, name: &str) -> Option<&ExternalZone> {
        self.zones
            .iter()
            .filter(|z| in_zone(name, &z.name))
            .max_by_key(|z| z.name.len())
    }

    fn soa(&self, zone: &ExternalZone, serial: u32) -> Record {
        let soa = SOA::new(
            zone.ns1.clone(),
            zone.hostmaster.clone(),
            serial,
            7200,
            1800,
            86400,
            self.ttl,
        );
        Record::from_rdata(zone.origin.clone(), self.ttl, RData::SOA(soa))
    }

    fn negative(&self, zone: &ExternalZone, rcode: ResponseCode, serial: u32) -> Reply {
        let mut reply = Reply::new(rcode, NAME);
        reply.authoritative = true;
        reply.authority.push(self.soa(zone, serial));
        reply
    }

    fn addresses(&self, owner: &Name, qtype: RecordType, ips: &[IpAddr]) -> Vec<Record> {
        ips.iter()
            .filter(|ip| match qtype {
                RecordType::A => ip.is_ipv4(),
                RecordType::AAAA => ip.is_ipv6(),
                _ => false,
            })
            .map(|ip| records::address(owner, self.ttl, *ip))
            .collect()
    }

    /// The reply for `query` in `zone`, from the kubernetes plugin's store.
    fn resolve(&self, query: &Query, zone: &ExternalZone, store: &Store) -> Reply {
        let serial = store.serial();
        let answer = |answers: Vec<Record>| {
            let mut reply = Reply::new(ResponseCode::NoError, NAME);
            reply.authoritative = true;
            reply.answers = answers;
            reply
        };
        let relative = query
            .lower
            .strip_suffix(zone.name.as_str())
            .unwrap_or_default();
        let labels: Vec<&str> = relative.split('.').filter(|l| !l.is_empty()).collect();
        match labels.as_slice() {
            [] => match query.qtype {
                RecordType::SOA => answer(vec![self.soa(zone, serial)]),
                RecordType::NS => {
                    answer(vec![records::ns(&zone.origin, self.ttl, zone.ns1.clone())])
                }
                _ => self.negative(zone, ResponseCode::NoError, serial),
            },
            [apex] if *apex == self.apex => self.negative(zone, ResponseCode::NoError, serial),
            ["ns1", apex] if *apex == self.apex => {
                let ips = store
                    .service("kube-dns.kube-system")
                    .map(|e| e.service.external_ips.to_vec())
                    .unwrap_or_default();
                match self.addresses(&query.name, query.qtype, &ips) {
                    found if !found.is_empty() => answer(found),
                    _ => self.negative(zone, ResponseCode::NoError, serial),
                }
            }
            [svc, ns] => {
                let Some(entry) = store
                    .service(&format!("{svc}.{ns}"))
                    .filter(|e| !e.service.external_ips.is_empty())
                else {
                    return self.negative(zone, ResponseCode::NXDomain, serial);
                };
                match self.addresses(&query.name, query.qtype, &entry.service.external_ips) {
                    found if !found.is_empty() => answer(found),
                    _ => self.negative(zone, ResponseCode::NoError, serial),
                }
            }
            [port, proto, svc, ns] if port.starts_with('_') && proto.starts_with('_') => {
                let Some(entry) = store
                    .service(&format!("{svc}.{ns}"))
                    .filter(|e| !e.service.external_ips.is_empty())
                else {
                    return self.negative(zone, ResponseCode::NXDomain, serial);
                };
                let (port, proto) = (&port[1..], &proto[1..]);
                let target = query
                    .name
                    .trim_to(query.name.num_labels().saturating_sub(2).into());
                let ports: Vec<u16> = entry
                    .service
                    .ports
                    .iter()
                    .filter(|p| p.name.as_deref() == Some(port) && p.protocol.as_str() == proto)
                    .map(|p| p.port)
                    .collect();
                if ports.is_empty() {
                    return self.negative(zone, ResponseCode::NXDomain, serial);
                }
                if query.qtype != RecordType::SRV {
                    return self.negative(zone, ResponseCode::NoError, serial);
                }
                let mut reply = answer(
                    ports
                        .iter()
                        .map(|p| records::srv(&query.name, self.ttl, 0, 100, *p, target.clone()))
                        .collect(),
                );
                reply.additionals = entry
                    .service
                    .external_ips
                    .iter()
                    .map(|ip| records::address(&target, self.ttl, *ip))
                    .collect();
                reply
            }
            _ => self.negative(zone, ResponseCode::NXDomain, serial),
        }
    }
}

impl Plugin for K8sExternal {
    fn name(&self) -> &'static str {
        NAME
    }

    fn serve<'a>(&'a self, query: &'a Query, next: Next<'a>) -> PluginFuture<'a> {
        let Some(zone) = self.zone_of(&query.lower) else {
            return next.serve(query);
        };
        let Some(store) = self.store.get() else {
            return next.serve(query);
        };
        if !store.is_serving() {
            // As `kubernetes` answers before sync: SERVFAIL with the zone's SOA.
            let reply = self.negative(zone, ResponseCode::ServFail, store.serial());
            return PluginFuture::ready(Ok(reply.from_memory()));
        }
        // Read before the look-up: a write landing after it must count as a change.
        let seen = store.count();
        let reply = self.resolve(query, zone, store);
        if reply.rcode == ResponseCode::NXDomain && self.fallthrough.passes(&query.lower) {
            // The cache keeps what the rest of the chain answers only while the store is
            // unchanged: a Service may take the name.
            let watch = Watch::at(Arc::new(store.clone()), seen);
            return next
                .serve(query)
                .map(move |result| result.map(|reply| reply.watched(watch)));
        }
        PluginFuture::ready(Ok(reply.from_memory()))
    }
}

/// A zone or apex that does not make valid names.
#[derive(Debug, thiserror::Error)]
#[error("{name:?}: {source}")]
struct BadName {
    name: String,
    #[source]
    source: hickory_proto::ProtoError,
}

fn external_zone(name: &str, apex: &str) -> Result<ExternalZone, BadName> {
    let parse =
        |text: String| Name::from_ascii(&text).map_err(|source| BadName { name: text, source });
    let under = |prefix: &str| {
        let text = if name == "." {
            format!("{prefix}.{apex}.")
        } else {
            format!("{prefix}.{apex}.{name}")
        };
        parse(text)
    };
    Ok(ExternalZone {
        name: name.to_string(),
        origin: parse(name.to_string())?,
        ns1: under("ns1")?,
        hostmaster: under("hostmaster")?,
    })
}

pub fn setup(ctx: &mut SetupContext<'_>, d: &Directive) -> SetupResult {
    let mut args = Args::new(d);
    let zone_names = args.zones_or(ctx.block_zones)?;
    let mut apex = "dns".to_string();
    let mut ttl = 5;
    let mut fallthrough = Fallthrough::Never;
    for mut prop in args.block() {
        match prop.leaf()? {
            "apex" => {
                let label = prop.one()?;
                apex = label.text.trim_end_matches('.').to_ascii_lowercase();
                if apex.is_empty() || apex.contains('.') {
                    return Err(prop.error(
                        label,
                        format!("apex must be one label, found {:?}", label.text),
                    ));
                }
            }
            "ttl" => ttl = prop.one_u32(0, 3600)?,
            "fallthrough" => fallthrough = Fallthrough::parse(&mut prop)?,
            "headless" => {
                return Err(prop.error_at_name("headless is not supported by rollcall yet"));
            }
            _ => return Err(prop.unknown_property_of(&["apex", "ttl", "fallthrough"])),
        }
    }
    let zones = zone_names
        .iter()
        .map(|z| external_zone(z, &apex))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| args.error_at_name(e.to_string()))?;
    let detail = format!("zones {}; apex {apex}; ttl {ttl}", zone_names.join(" "));
    let plugin = Arc::new(K8sExternal {
        zones,
        apex,
        ttl,
        fallthrough,
        store: OnceLock::new(),
    });
    let linked = Arc::clone(&plugin);
    let no_provider = args.error_at_name(
        "needs a kubernetes plugin in this server block (its Services are answered)",
    );
    ctx.after_block(move |block| {
        let Some(ClusterServices(store)) = block.get::<ClusterServices>() else {
            return Err(no_provider);
        };
        let _ = linked.store.set(store.clone());
        Ok(())
    });
    Ok(Outcome::Link(plugin, detail))
}
