//! Query name → answer. The shape of the name (how many labels under the zone, and whether the
//! last is `svc` or `pod`) decides what is looked up; the store decides NXDOMAIN versus NODATA.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, Record, RecordType};
use registry::store::{ReadyEndpoint, ServiceEntry, ServiceKind};

use super::{Kubernetes, PodsMode};
use crate::contract::{Query, Reply, Zone};
use crate::dns::names::{dashed, reverse_to_ip, undash};
use crate::dns::records;

const PLUGIN: &str = "kubernetes";
/// How many ExternalName hops are chased inside the zone before giving up.
const MAX_CHASE: u8 = 10;
const DNS_VERSION_TTL: u32 = 28800;
const SCHEMA_VERSION: &str = "1.1.0";

impl Kubernetes {
    pub(super) fn resolve(&self, q: &Query, zone: &Zone, depth: u8) -> Reply {
        if zone.is_reverse() {
            return self.resolve_reverse(q, zone);
        }
        let rest = &q.lower[..q.lower.len() - zone.name.len().min(q.lower.len())];
        let rest = rest.strip_suffix('.').unwrap_or(rest);
        if rest.is_empty() || zone.name == "." && rest.is_empty() {
            return self.apex(q, zone);
        }
        let labels: Vec<&str> = rest.split('.').collect();
        match labels.as_slice() {
            ["dns-version"] => self.positive_or_nodata(q, zone, RecordType::TXT, || {
                vec![records::txt(&q.name, DNS_VERSION_TTL, SCHEMA_VERSION)]
            }),
            ["ns", "dns"] => self.nameserver_addresses(q, zone),
            [.., "svc"] => self.resolve_svc(q, zone, &labels[..labels.len() - 1], depth),
            [.., "pod"] => self.resolve_pod(q, zone, &labels[..labels.len() - 1]),
            _ => self.nx(zone),
        }
    }

    fn ttl(&self) -> u32 {
        self.config.ttl
    }

    fn nx(&self, zone: &Zone) -> Reply {
        zone.nxdomain(self.ttl(), self.store.serial(), PLUGIN)
    }

    fn nodata(&self, zone: &Zone) -> Reply {
        zone.nodata(self.ttl(), self.store.serial(), PLUGIN)
    }

    fn answer(&self, answers: Vec<Record>, additionals: Vec<Record>) -> Reply {
        let mut reply = Reply::new(ResponseCode::NoError, PLUGIN);
        reply.authoritative = true;
        reply.answers = answers;
        reply.additionals = additionals;
        reply
    }

    /// The name exists; answer only when the question is `rtype`.
    fn positive_or_nodata(
        &self,
        q: &Query,
        zone: &Zone,
        rtype: RecordType,
        build: impl FnOnce() -> Vec<Record>,
    ) -> Reply {
        if q.qtype == rtype {
            self.answer(build(), Vec::new())
        } else {
            self.nodata(zone)
        }
    }

    /// The name exists and has these addresses: A/AAAA answer the matching family, anything
    /// else (and a family with no address) is NODATA.
    fn addresses(&self, q: &Query, zone: &Zone, ips: impl Iterator<Item = IpAddr>) -> Reply {
        let want_v6 = match q.qtype {
            RecordType::A => false,
            RecordType::AAAA => true,
            _ => return self.nodata(zone),
        };
        let answers: Vec<Record> = ips
            .filter(|ip| records::family_matches(ip, want_v6))
            .map(|ip| records::address(&q.name, self.ttl(), ip))
            .collect();
        if answers.is_empty() {
            self.nodata(zone)
        } else {
            self.answer(answers, Vec::new())
        }
    }

    fn apex(&self, q: &Query, zone: &Zone) -> Reply {
        match q.qtype {
            RecordType::SOA => {
                let mut soa = zone.soa(self.ttl(), self.store.serial());
                soa.name = q.name.clone();
                self.answer(vec![soa], Vec::new())
            }
            RecordType::NS => {
                let (target, ips) = self.nameserver();
                let Ok(target) = target else {
                    return Zone::servfail(PLUGIN);
                };
                let glue = ips
                    .iter()
                    .map(|ip| records::address(&target, self.ttl(), *ip))
                    .collect();
                self.answer(vec![records::ns(&q.name, self.ttl(), target)], glue)
            }
            _ => self.nodata(zone),
        }
    }

    /// The server's own name: the `kube-dns` Service when the cluster has one (its ClusterIP is
    /// what pods are given as nameserver), else `ns.dns.<zone>` with the configured addresses.
    fn nameserver(&self) -> (Result<Name, hickory_proto::ProtoError>, Vec<IpAddr>) {
        let zone = &self.cluster_zone.name;
        if let Some(entry) = self.store.service("kube-dns.kube-system")
            && !entry.cluster_ips().is_empty()
        {
            let name = Name::from_ascii(format!("kube-dns.kube-system.svc.{zone}"));
            return (name, entry.cluster_ips().to_vec());
        }
        let name = Name::from_ascii(format!("ns.dns.{zone}"));
        (name, self.config.nameserver_ips.clone())
    }

    /// `ns.dns.<zone>`: the DNS Service's addresses, as CoreDNS answers them: the `kube-dns`
    /// ClusterIPs when the cluster has that Service, else the server's own addresses.
    fn nameserver_addresses(&self, q: &Query, zone: &Zone) -> Reply {
        match self.store.service("kube-dns.kube-system") {
            Some(entry) if !entry.cluster_ips().is_empty() => {
                self.addresses(q, zone, entry.cluster_ips().iter().copied())
            }
            _ => self.addresses(q, zone, self.config.nameserver_ips.iter().copied()),
        }
    }

    // ---- <...>.svc.<zone> ----

    fn resolve_svc(&self, q: &Query, zone: &Zone, labels: &[&str], depth: u8) -> Reply {
        match labels {
            [] => self.nodata(zone),
            [ns] => {
                if self.store.namespace_exists(ns) {
                    self.nodata(zone)
                } else {
                    self.nx(zone)
                }
            }
            [svc, ns] => match self.store.service(&format!("{svc}.{ns}")) {
                Some(entry) => self.service(q, zone, &entry, depth),
                None => self.nx(zone),
            },
            [endpoint, svc, ns] => match self.store.service(&format!("{svc}.{ns}")) {
                Some(entry) => self.endpoint(q, zone, &entry, endpoint),
                None => self.nx(zone),
            },
            [port, proto, svc, ns] => match self.store.service(&format!("{svc}.{ns}")) {
                Some(entry) => self.port_srv(q, zone, &entry, Some((port, proto))),
                None => self.nx(zone),
            },
            _ => self.nx(zone),
        }
    }

    fn service(&self, q: &Query, zone: &Zone, entry: &ServiceEntry, depth: u8) -> Reply {
        match &entry.service.kind {
            ServiceKind::ExternalName(target) => self.external_name(q, target, depth),
            ServiceKind::ClusterIp(ips) => {
                if self.config.ignore_empty_service && self.ready_endpoints(entry).is_empty() {
                    return self.nx(zone);
                }
                if q.qtype == RecordType::SRV {
                    return self.port_srv(q, zone, entry, None);
                }
                self.addresses(q, zone, ips.iter().copied())
            }
            ServiceKind::Headless => {
                let endpoints = self.ready_endpoints(entry);
                if endpoints.is_empty() {
                    return self.nx(zone);
                }
                if q.qtype == RecordType::SRV {
                    return self.port_srv(q, zone, entry, None);
                }
                self.addresses(q, zone, endpoints.iter().map(|e| e.addr))
            }
        }
    }

    fn ready_endpoints<'e>(&self, entry: &'e ServiceEntry) -> &'e [ReadyEndpoint] {
        if self.config.noendpoints {
            &[]
        } else {
            &entry.endpoints
        }
    }

    /// An endpoint's name: its hostname, else (with `endpoint_pod_names`) its pod's name when
    /// short enough to be a label, else its dashed address.
    fn endpoint_name<'e>(&self, endpoint: &'e ReadyEndpoint) -> Cow<'e, str> {
        if let Some(host) = &endpoint.hostname {
            return Cow::Borrowed(host);
        }
        if self.config.endpoint_pod_names
            && let Some(pod) = &endpoint.pod_name
            && pod.len() < 64
        {
            return Cow::Borrowed(pod);
        }
        Cow::Owned(dashed(endpoint.addr))
    }

    fn endpoint(&self, q: &Query, zone: &Zone, entry: &ServiceEntry, label: &str) -> Reply {
        if matches!(entry.service.kind, ServiceKind::ExternalName(_)) {
            return self.nx(zone);
        }
        let matching: Vec<IpAddr> = self
            .ready_endpoints(entry)
            .iter()
            .filter(|e| self.endpoint_name(e) == label)
            .map(|e| e.addr)
            .collect();
        if matching.is_empty() {
            return self.nx(zone);
        }
        self.addresses(q, zone, matching.into_iter())
    }

    /// SRV for `_port._proto.<svc>` (`port` given) or for the bare Service name (every port).
    fn port_srv(
        &self,
        q: &Query,
        zone: &Zone,
        entry: &ServiceEntry,
        port: Option<(&str, &str)>,
    ) -> Reply {
        let wanted = port.map(|(p, proto)| {
            (
                p.strip_prefix('_').unwrap_or(p),
                proto.strip_prefix('_').unwrap_or(proto),
            )
        });
        let matches = |name: &Option<std::sync::Arc<str>>, protocol: &str| match wanted {
            None => true,
            Some((want_port, want_proto)) => {
                name.as_deref() == Some(want_port) && protocol == want_proto
            }
        };
        // The Service's own name is the question minus any `_port._proto` labels, so it needs
        // no formatting or parsing, and echoes the client's spelling.
        let service_host = match port {
            Some(_) => q.name.trim_to(q.name.num_labels().saturating_sub(2).into()),
            None => q.name.clone(),
        };
        // Each distinct target name is built once; rows and glue refer to it by index.
        let mut targets: Vec<Name> = Vec::new();
        let mut rows: Vec<(usize, u16)> = Vec::new();
        let mut glue: Vec<(usize, IpAddr)> = Vec::new();
        match &entry.service.kind {
            ServiceKind::ExternalName(_) => return self.nx(zone),
            ServiceKind::ClusterIp(ips) => {
                for p in entry
                    .service
                    .ports
                    .iter()
                    .filter(|p| matches(&p.name, p.protocol.as_str()))
                {
                    rows.push((0, p.port));
                }
                if !rows.is_empty() {
                    targets.push(service_host);
                    glue.extend(ips.iter().map(|ip| (0, *ip)));
                }
            }
            ServiceKind::Headless => {
                // Endpoints sharing a hostname (one per IP family) share one target name.
                let mut index_of: HashMap<Cow<'_, str>, usize> = HashMap::new();
                let few = self.ready_endpoints(entry).len() <= 32;
                for e in self.ready_endpoints(entry) {
                    let mut ports = e
                        .ports
                        .iter()
                        .filter(|p| matches(&p.name, p.protocol.as_str()))
                        .peekable();
                    if ports.peek().is_none() {
                        continue;
                    }
                    let label = self.endpoint_name(e);
                    // Few targets (the usual case): a scan beats hashing.
                    let known = if few {
                        targets
                            .iter()
                            .position(|t| t.iter().next() == Some(label.as_bytes()))
                    } else {
                        index_of.get(&label).copied()
                    };
                    let index = match known {
                        Some(i) => i,
                        None => match service_host.prepend_label(label.as_ref()) {
                            Ok(name) => {
                                targets.push(name);
                                if !few {
                                    index_of.insert(label, targets.len() - 1);
                                }
                                targets.len() - 1
                            }
                            Err(_) => continue,
                        },
                    };
                    rows.extend(ports.map(|p| (index, p.port)));
                    glue.push((index, e.addr));
                }
            }
        }
        if rows.is_empty() {
            // A bare Service name exists even without ports (NODATA); a port name does not.
            return if port.is_none() {
                self.nodata(zone)
            } else {
                self.nx(zone)
            };
        }
        if q.qtype != RecordType::SRV {
            return self.nodata(zone);
        }
        // Rows are (target index, port): sorting keeps targets in endpoint order and makes
        // duplicates adjacent, with no hashing on the answer path.
        rows.sort_unstable();
        rows.dedup();
        glue.sort_unstable();
        glue.dedup();
        let weight = u16::try_from((100 / rows.len()).max(1)).unwrap_or(1);
        let ttl = self.ttl();
        let answers = rows
            .iter()
            .map(|(t, port)| records::srv(&q.name, ttl, 0, weight, *port, targets[*t].clone()))
            .collect();
        let additionals = glue
            .iter()
            .map(|(t, ip)| records::address(&targets[*t], ttl, *ip))
            .collect();
        self.answer(answers, additionals)
    }

    fn external_name(&self, q: &Query, target: &str, depth: u8) -> Reply {
        let Ok(target_name) = Name::from_ascii(format!("{target}.")) else {
            return Zone::servfail(PLUGIN);
        };
        let cname = records::cname(&q.name, self.ttl(), target_name.clone());
        if q.qtype == RecordType::CNAME {
            return self.answer(vec![cname], Vec::new());
        }
        let sub = q.with_name(target_name);
        let chased = match self.zone_of(&sub.lower) {
            Some(target_zone) if depth < MAX_CHASE => {
                Some(self.resolve(&sub, target_zone, depth + 1))
            }
            Some(_) => return Zone::servfail(PLUGIN),
            None => None,
        };
        let mut reply = self.answer(vec![cname], Vec::new());
        if let Some(chased) = chased {
            // RFC 6604: the rcode is the final target's; its SOA explains a negative end.
            reply.rcode = chased.rcode;
            reply.truncated |= chased.truncated;
            reply.answers.extend(chased.answers);
            reply.authority = chased.authority;
            reply.additionals = chased.additionals;
        }
        reply
    }

    // ---- <...>.pod.<zone> ----

    fn resolve_pod(&self, q: &Query, zone: &Zone, labels: &[&str]) -> Reply {
        match labels {
            [] => self.nodata(zone),
            [ns] => {
                if self.store.namespace_exists(ns) {
                    self.nodata(zone)
                } else {
                    self.nx(zone)
                }
            }
            [ip_label, ns] => {
                let Some(ip) = undash(ip_label) else {
                    return self.nx(zone);
                };
                let exists = match self.config.pods {
                    PodsMode::Disabled => false,
                    PodsMode::Insecure => self.store.namespace_exists(ns),
                    PodsMode::Verified => self.store.pod_in_namespace(ip, ns),
                };
                if exists {
                    self.addresses(q, zone, std::iter::once(ip))
                } else {
                    self.nx(zone)
                }
            }
            _ => self.nx(zone),
        }
    }

    // ---- reverse zones ----

    fn resolve_reverse(&self, q: &Query, zone: &Zone) -> Reply {
        if q.lower == zone.name {
            return self.apex(q, zone);
        }
        let Some(ip) = reverse_to_ip(&q.lower) else {
            return self.nx(zone);
        };
        let targets = self.ptr_targets(ip);
        if targets.is_empty() {
            return self.nx(zone);
        }
        if q.qtype != RecordType::PTR {
            return self.nodata(zone);
        }
        let answers = targets
            .into_iter()
            .filter_map(|t| Name::from_ascii(t).ok())
            .map(|t| records::ptr(&q.name, self.ttl(), t))
            .collect();
        self.answer(answers, Vec::new())
    }

    /// Names for `ip`: the Services whose ClusterIP it is; failing that, the endpoints that have
    /// it; failing that (with `pods verified`), the pods.
    fn ptr_targets(&self, ip: IpAddr) -> Vec<String> {
        let zone = &self.cluster_zone.name;
        let mut targets = Vec::new();
        if let Some(owners) = self.store.ptr(ip) {
            for entry in owners.iter().filter(|e| e.cluster_ips().contains(&ip)) {
                targets.push(format!(
                    "{}.{}.svc.{zone}",
                    entry.service.name, entry.service.namespace
                ));
            }
            if targets.is_empty() {
                for entry in owners.iter() {
                    for e in self.ready_endpoints(entry).iter().filter(|e| e.addr == ip) {
                        targets.push(format!(
                            "{}.{}.{}.svc.{zone}",
                            self.endpoint_name(e),
                            entry.service.name,
                            entry.service.namespace
                        ));
                    }
                }
            }
        }
        if targets.is_empty()
            && self.config.pods == PodsMode::Verified
            && let Some(namespaces) = self.store.pod_namespaces(ip)
        {
            for namespace in namespaces.iter() {
                targets.push(format!("{}.{namespace}.pod.{zone}", dashed(ip)));
            }
        }
        let mut seen = HashSet::new();
        targets.retain(|t| seen.insert(t.clone()));
        targets
    }
}
