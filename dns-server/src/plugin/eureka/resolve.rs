//! Query name → answer from the registry's per-app DNS view.

use std::net::IpAddr;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, Record, RecordType};
use registry::eureka::DnsApp;

use super::Eureka;
use crate::contract::{Query, Reply};
use crate::dns::names::{dashed, undash};
use crate::dns::records;

const PLUGIN: &str = "eureka";

impl Eureka {
    pub(super) fn resolve(&self, q: &Query) -> Reply {
        let zone = &self.zone;
        let rest = &q.lower[..q.lower.len() - zone.name.len()];
        let rest = rest.strip_suffix('.').unwrap_or(rest);
        if rest.is_empty() {
            return self.apex(q);
        }
        let labels: Vec<&str> = rest.split('.').collect();
        match labels.as_slice() {
            ["ns", "dns"] => self.addresses(q, self.nameserver_ips.iter().copied()),
            [app] => match self.registry.dns_app(app) {
                Some(app) => self.addresses(q, app.instances.iter().map(|i| i.addr)),
                None => self.nx(),
            },
            [instance, app] if !instance.starts_with('_') => {
                let Some(ip) = undash(instance) else {
                    return self.nx();
                };
                match self.registry.dns_app(app) {
                    Some(entry) if entry.instances.iter().any(|i| i.addr == ip) => {
                        self.addresses(q, std::iter::once(ip))
                    }
                    _ => self.nx(),
                }
            }
            [service, proto, app] => match self.registry.dns_app(app) {
                Some(entry) => self.srv(q, &entry, service, proto, app),
                None => self.nx(),
            },
            _ => self.nx(),
        }
    }

    fn nx(&self) -> Reply {
        self.zone.nxdomain(self.ttl, self.registry.serial(), PLUGIN)
    }

    fn nodata(&self) -> Reply {
        self.zone.nodata(self.ttl, self.registry.serial(), PLUGIN)
    }

    fn answer(&self, answers: Vec<Record>, additionals: Vec<Record>) -> Reply {
        let mut reply = Reply::new(ResponseCode::NoError, PLUGIN);
        reply.authoritative = true;
        reply.answers = answers;
        reply.additionals = additionals;
        reply
    }

    fn apex(&self, q: &Query) -> Reply {
        match q.qtype {
            RecordType::SOA => {
                let mut soa = self.zone.soa(self.ttl, self.registry.serial());
                soa.name = q.name.clone();
                self.answer(vec![soa], Vec::new())
            }
            RecordType::NS => {
                let Ok(ns) = Name::from_ascii(format!("ns.dns.{}", self.zone.name)) else {
                    return self.nodata();
                };
                let glue = self
                    .nameserver_ips
                    .iter()
                    .map(|ip| records::address(&ns, self.ttl, *ip))
                    .collect();
                self.answer(vec![records::ns(&q.name, self.ttl, ns)], glue)
            }
            _ => self.nodata(),
        }
    }

    fn addresses(&self, q: &Query, ips: impl Iterator<Item = IpAddr>) -> Reply {
        let want_v6 = match q.qtype {
            RecordType::A => false,
            RecordType::AAAA => true,
            _ => return self.nodata(),
        };
        let mut seen = std::collections::HashSet::new();
        let answers: Vec<Record> = ips
            .filter(|ip| records::family_matches(ip, want_v6) && seen.insert(*ip))
            .map(|ip| records::address(&q.name, self.ttl, ip))
            .collect();
        if answers.is_empty() {
            self.nodata()
        } else {
            self.answer(answers, Vec::new())
        }
    }

    fn srv(&self, q: &Query, entry: &DnsApp, service: &str, proto: &str, app: &str) -> Reply {
        let secure = match (service, proto) {
            ("_http", "_tcp") => false,
            ("_https", "_tcp") => true,
            _ => return self.nx(),
        };
        let rows: Vec<(IpAddr, u16)> = entry
            .instances
            .iter()
            .filter_map(|i| if secure { i.secure_port } else { i.port }.map(|p| (i.addr, p)))
            .collect();
        if rows.is_empty() {
            return self.nx();
        }
        if q.qtype != RecordType::SRV {
            return self.nodata();
        }
        let weight = u16::try_from((100 / rows.len()).max(1)).unwrap_or(1);
        let mut answers = Vec::with_capacity(rows.len());
        let mut additionals = Vec::with_capacity(rows.len());
        let mut seen = std::collections::HashSet::new();
        for (ip, port) in rows {
            if !seen.insert((ip, port)) {
                continue;
            }
            let Ok(target) = Name::from_ascii(format!("{}.{app}.{}", dashed(ip), self.zone.name))
            else {
                continue;
            };
            additionals.push(records::address(&target, self.ttl, ip));
            answers.push(records::srv(&q.name, self.ttl, 0, weight, port, target));
        }
        self.answer(answers, additionals)
    }
}
