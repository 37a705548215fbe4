//! dnsperf query files per category, with the answers each line must get.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::fs;
use std::io;
use std::net::IpAddr;
use std::path::Path;

use super::*;

// ---------------------------------------------------------------------------------------------
// Queries.

/// One dnsperf line.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Q {
    pub name: String,
    pub qtype: &'static str,
}

impl Q {
    fn new(name: impl Into<String>, qtype: &'static str) -> Self {
        Q {
            name: name.into(),
            qtype,
        }
    }
}

/// A category: its distinct queries and the answer every one of them must get.
pub struct Category {
    pub name: &'static str,
    pub distinct: Vec<Q>,
    pub nxdomain: bool,
    /// Share of `mix.txt`, in percent.
    pub mix_percent: usize,
}

pub struct Queries {
    pub categories: Vec<Category>,
    pub mix: Vec<(usize, Q)>,
    pub min_lines: usize,
    seed: u64,
}

/// Dashed pod labels come from the server's own helper, so the generator cannot drift from it.
pub use rollcall::dns::names::dashed;

pub fn reverse_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.{}.in-addr.arpa", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(v6) => {
            let mut s = String::with_capacity(72);
            for byte in v6.octets().iter().rev() {
                let _ = write!(s, "{:x}.{:x}.", byte & 0x0f, byte >> 4);
            }
            s.push_str("ip6.arpa");
            s
        }
    }
}

impl Queries {
    pub fn build(c: &Cluster, opts: &Options) -> Queries {
        let mut rng = Rng::new(opts.seed.wrapping_add(0x0051_E41E));
        let ns = |i: usize| c.namespaces[i].as_str();

        // Service A (and AAAA where dual-stack): ClusterIP answers.
        let mut service = Vec::new();
        let mut nodata = Vec::new();
        let mut headless = Vec::new();
        let mut srv = Vec::new();
        let mut external = Vec::new();
        let mut ptr = Vec::new();
        for s in &c.services {
            let fqdn = s.fqdn(c);
            match &s.kind {
                Kind::ClusterIp { v4, v6 } => {
                    service.push(Q::new(&fqdn, "A"));
                    ptr.push(Q::new(reverse_name(IpAddr::V4(*v4)), "PTR"));
                    match v6 {
                        Some(v6) => {
                            service.push(Q::new(&fqdn, "AAAA"));
                            ptr.push(Q::new(reverse_name(IpAddr::V6(*v6)), "PTR"));
                        }
                        None => nodata.push(Q::new(&fqdn, "AAAA")),
                    }
                }
                Kind::Headless => {
                    headless.push(Q::new(&fqdn, "A"));
                    for e in s.endpoints().filter(|e| e.ready) {
                        if let Some(h) = &e.hostname {
                            headless.push(Q::new(format!("{h}.{fqdn}"), "A"));
                        }
                    }
                    if !s.dual {
                        nodata.push(Q::new(&fqdn, "AAAA"));
                    }
                }
                Kind::ExternalName(_) => external.push(Q::new(&fqdn, "A")),
            }
            if !matches!(s.kind, Kind::ExternalName(_)) {
                for p in &s.ports {
                    srv.push(Q::new(
                        format!("_{}._{}.{fqdn}", p.name, p.protocol.to_ascii_lowercase()),
                        "SRV",
                    ));
                }
            }
        }

        // Pods: A by dashed name in their namespace (AAAA by the dashed IPv6 where they have
        // one); PTR of every pod address.
        let mut pod = Vec::new();
        for p in &c.pods {
            let v4 = IpAddr::V4(p.v4);
            pod.push(Q::new(
                format!("{}.{}.pod.{ZONE}", dashed(v4), ns(p.ns)),
                "A",
            ));
            ptr.push(Q::new(reverse_name(v4), "PTR"));
            match p.v6 {
                Some(v6) => {
                    let v6 = IpAddr::V6(v6);
                    pod.push(Q::new(
                        format!("{}.{}.pod.{ZONE}", dashed(v6), ns(p.ns)),
                        "AAAA",
                    ));
                    ptr.push(Q::new(reverse_name(v6), "PTR"));
                }
                None => nodata.push(Q::new(
                    format!("{}.{}.pod.{ZONE}", dashed(v4), ns(p.ns)),
                    "AAAA",
                )),
            }
        }

        // ndots:5 search-path expansion from a pod in namespace `client`: every candidate before
        // the one that exists (or all of them, for a name outside the cluster) is NXDOMAIN.
        let target = opts.min_lines.max(1000);
        let mut nx_set = HashSet::new();
        let mut nxdomain = Vec::new();
        let resolvable: Vec<&Service> = c
            .services
            .iter()
            .filter(|s| !matches!(s.kind, Kind::ExternalName(_)))
            .collect();
        let mut attempts = 0;
        while nxdomain.len() < target && attempts < target * 20 {
            attempts += 1;
            let client = ns(1 + rng.below(c.namespaces.len() - 1));
            let qtype = if rng.percent(50) { "A" } else { "AAAA" };
            let name = match rng.below(10) {
                // An external name: `<name>.<client>.svc`, `<name>.svc`, `<name>.cluster.local`.
                0..=3 => {
                    let host = *rng.pick(EXTERNAL_LOOKUPS);
                    let host = if rng.percent(50) {
                        host.to_string()
                    } else {
                        format!("{}-{}", rng.suffix(4), host)
                    };
                    match rng.below(3) {
                        0 => format!("{host}.{client}.svc.{ZONE}"),
                        1 => format!("{host}.svc.{ZONE}"),
                        _ => format!("{host}.{ZONE}"),
                    }
                }
                // A Service's full name, expanded before it is tried as is.
                4..=6 => {
                    let s = resolvable[rng.below(resolvable.len())];
                    let fqdn = s.fqdn(c);
                    match rng.below(3) {
                        0 => format!("{fqdn}.{client}.svc.{ZONE}"),
                        1 => format!("{fqdn}.svc.{ZONE}"),
                        _ => format!("{fqdn}.{ZONE}"),
                    }
                }
                // `svc.ns` (another namespace's Service): first tried as `svc.ns.<client>.svc`.
                7..=8 => {
                    let s = resolvable[rng.below(resolvable.len())];
                    if c.namespaces[s.ns] == client {
                        continue;
                    }
                    format!("{}.{}.{client}.svc.{ZONE}", s.name, ns(s.ns))
                }
                // A short name that lives in another namespace, tried in the client's.
                _ => {
                    let s = resolvable[rng.below(resolvable.len())];
                    if c.namespaces[s.ns] == client {
                        continue;
                    }
                    format!("{}.{client}.svc.{ZONE}", s.name)
                }
            };
            let q = Q::new(name, qtype);
            if nx_set.insert(q.clone()) {
                nxdomain.push(q);
            }
        }

        let categories = vec![
            Category {
                name: "service",
                distinct: service,
                nxdomain: false,
                mix_percent: 40,
            },
            Category {
                name: "nodata",
                distinct: nodata,
                nxdomain: false,
                mix_percent: 15,
            },
            Category {
                name: "headless",
                distinct: headless,
                nxdomain: false,
                mix_percent: 10,
            },
            Category {
                name: "srv",
                distinct: srv,
                nxdomain: false,
                mix_percent: 7,
            },
            Category {
                name: "ptr",
                distinct: ptr,
                nxdomain: false,
                mix_percent: 7,
            },
            Category {
                name: "pod",
                distinct: pod,
                nxdomain: false,
                mix_percent: 7,
            },
            Category {
                name: "externalname",
                distinct: external,
                nxdomain: false,
                mix_percent: 4,
            },
            Category {
                name: "nxdomain",
                distinct: nxdomain,
                nxdomain: true,
                mix_percent: 10,
            },
        ];
        debug_assert_eq!(categories.iter().map(|c| c.mix_percent).sum::<usize>(), 100);

        // mix.txt: exact shares (per category, lines = share of mix_lines), shuffled together.
        let mut mix = Vec::with_capacity(opts.mix_lines);
        for (i, cat) in categories.iter().enumerate() {
            if cat.distinct.is_empty() {
                continue;
            }
            let n = opts.mix_lines * cat.mix_percent / 100;
            for _ in 0..n {
                mix.push((i, cat.distinct[rng.below(cat.distinct.len())].clone()));
            }
        }
        rng.shuffle(&mut mix);

        Queries {
            categories,
            mix,
            min_lines: opts.min_lines,
            seed: opts.seed,
        }
    }

    /// A category's file: its distinct queries shuffled, repeated (reshuffled each round) up to
    /// `min_lines`.
    pub fn lines<'a>(&self, cat: &'a Category) -> Vec<&'a Q> {
        let mut rng = Rng::new(
            self.seed
                .wrapping_add(cat.name.len() as u64 * 7919)
                .wrapping_add(cat.distinct.len() as u64),
        );
        let mut out: Vec<&Q> = Vec::new();
        if cat.distinct.is_empty() {
            return out;
        }
        while out.len() < self.min_lines.max(cat.distinct.len()) {
            let mut round: Vec<&Q> = cat.distinct.iter().collect();
            rng.shuffle(&mut round);
            let room = self.min_lines.max(cat.distinct.len()) - out.len();
            out.extend(round.into_iter().take(room));
        }
        out
    }

    pub fn write(&self, dir: &Path) -> io::Result<()> {
        let mut expected = String::from("# category\tlines\tdistinct\tnoerror\tnxdomain\n");
        for cat in &self.categories {
            let lines = self.lines(cat);
            write_queries(
                &dir.join(format!("{}.txt", cat.name)),
                lines.iter().copied(),
            )?;
            let (ok, nx) = if cat.nxdomain {
                (0, lines.len())
            } else {
                (lines.len(), 0)
            };
            let _ = writeln!(
                expected,
                "{}\t{}\t{}\t{ok}\t{nx}",
                cat.name,
                lines.len(),
                cat.distinct.len()
            );
        }
        write_queries(&dir.join("mix.txt"), self.mix.iter().map(|(_, q)| q))?;
        let nx = self
            .mix
            .iter()
            .filter(|(i, _)| self.categories[*i].nxdomain)
            .count();
        let distinct: HashSet<&Q> = self.mix.iter().map(|(_, q)| q).collect();
        let _ = writeln!(
            expected,
            "mix\t{}\t{}\t{}\t{nx}",
            self.mix.len(),
            distinct.len(),
            self.mix.len() - nx
        );
        fs::write(dir.join("expected.tsv"), expected)
    }
}

fn write_queries<'a>(path: &Path, queries: impl Iterator<Item = &'a Q>) -> io::Result<()> {
    let mut text = String::new();
    for q in queries {
        let _ = writeln!(text, "{} {}", q.name, q.qtype);
    }
    fs::write(path, text)
}

pub(super) fn summary(c: &Cluster, q: &Queries) -> String {
    let count = |f: fn(&Kind) -> bool| c.services.iter().filter(|s| f(&s.kind)).count();
    let cluster_ip = count(|k| matches!(k, Kind::ClusterIp { .. }));
    let dual = c
        .services
        .iter()
        .filter(|s| matches!(s.kind, Kind::ClusterIp { v6: Some(_), .. }))
        .count();
    let headless = count(|k| matches!(k, Kind::Headless));
    let external = count(|k| matches!(k, Kind::ExternalName(_)));
    let slices: usize = c
        .services
        .iter()
        .map(|s| s.slices.len() * if s.dual { 2 } else { 1 })
        .sum();
    let endpoints: usize = c.services.iter().map(|s| s.endpoints().count()).sum();
    let ready: usize = c
        .services
        .iter()
        .map(|s| s.endpoints().filter(|e| e.ready).count())
        .sum();
    let dual_pods = c.pods.iter().filter(|p| p.v6.is_some()).count();
    let mut s = format!(
        "{} namespaces; {} Services ({cluster_ip} ClusterIP of which {dual} dual-stack, {headless} headless, {external} ExternalName); \
         {slices} EndpointSlices with {endpoints} endpoints ({ready} ready); {} Pods ({dual_pods} dual-stack)\nqueries:",
        c.namespaces.len(),
        c.services.len(),
        c.pods.len()
    );
    for cat in &q.categories {
        let _ = write!(s, " {} {} distinct;", cat.name, cat.distinct.len());
    }
    let _ = write!(s, " mix {} lines", q.mix.len());
    s
}

/// Parse a dnsperf query file (`name TYPE` per line; `#` comments and blank lines skipped).
pub fn read_queries(path: &Path) -> io::Result<Vec<(String, String)>> {
    let text = fs::read_to_string(path)?;
    Ok(text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            Some((
                parts.next()?.to_string(),
                parts.next().unwrap_or("A").to_string(),
            ))
        })
        .collect())
}

/// The expected answers, from `queries/expected.tsv`: (category, lines, noerror, nxdomain).
pub fn read_expected(path: &Path) -> io::Result<Vec<(String, usize, usize, usize)>> {
    let text = fs::read_to_string(path)?;
    Ok(text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            Some((
                f.first()?.to_string(),
                f.get(1)?.parse().ok()?,
                f.get(3)?.parse().ok()?,
                f.get(4)?.parse().ok()?,
            ))
        })
        .collect())
}
