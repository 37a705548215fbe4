//! A synthetic cluster for benchmarks: Namespaces, Services (ClusterIP, some dual-stack; headless
//! StatefulSet-style with hostnames; ExternalName), EndpointSlices targeting the generated Pods,
//! and Pods with unique addresses; written as Kubernetes manifests, plus a Corefile that serves
//! them and dnsperf query files per category.
//!
//! Everything is derived from one seeded PRNG, so the same options give byte-identical output.
//!
//! Files: `mod.rs` (options, the seeded PRNG, the cluster model and its generation),
//! `manifests.rs` (the YAML manifests and the Corefile), `queries.rs` (dnsperf query files per
//! category and the expected answers).
//!
//! Layout of the output directory:
//! ```text
//! DIR/Corefile
//! DIR/cluster/namespaces.yaml        one `kind: List` of every Namespace
//! DIR/cluster/<namespace>.yaml       that namespace's Services, EndpointSlices, Pods (multi-document)
//! DIR/queries/<category>.txt         dnsperf input: `name TYPE` per line
//! DIR/queries/expected.tsv           category, lines, NOERROR lines, NXDOMAIN lines
//! ```

use std::fs;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

mod manifests;
mod queries;

pub use manifests::corefile;
use manifests::write_manifests;
use queries::summary;
pub use queries::{Category, Q, Queries, dashed, read_expected, read_queries, reverse_name};

/// The cluster domain every generated name lives under.
pub const ZONE: &str = "cluster.local";
/// A name that always exists and its answer: the generator always creates `kube-dns`.
pub const KNOWN_NAME: &str = "kube-dns.kube-system.svc.cluster.local";
pub const KNOWN_ADDR: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 10);

#[derive(Debug, Clone)]
pub struct Options {
    /// Services, `kube-dns` included.
    pub services: usize,
    /// Pods; raised to the number the Services' endpoints need if that is larger.
    pub pods: usize,
    /// Namespaces, `kube-system` and `default` included (at least 3).
    pub namespaces: usize,
    pub seed: u64,
    /// The port of the Corefile's server block.
    pub port: u16,
    /// Each category file has at least this many lines (names repeat, reshuffled, only when the
    /// cluster has fewer distinct names).
    pub min_lines: usize,
    /// Lines of `mix.txt`.
    pub mix_lines: usize,
    /// Wrap `kubernetes` in the rest of kubeadm's chain (see [`corefile`]).
    pub kubeadm: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            services: 5000,
            pods: 50_000,
            namespaces: 50,
            seed: 1,
            port: 1053,
            min_lines: 10_000,
            mix_lines: 100_000,
            kubeadm: false,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// PRNG (SplitMix64): tiny, seedable, and stable across platforms and releases.

pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// True with probability `percent`/100.
    pub fn percent(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }

    /// Like the suffixes Kubernetes controllers generate (no vowels, no confusable digits).
    pub fn suffix(&mut self, len: usize) -> String {
        const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        (0..len)
            .map(|_| char::from(ALPHABET[self.below(ALPHABET.len())]))
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// The model.

#[derive(Debug, Clone)]
pub struct Port {
    pub name: &'static str,
    pub protocol: &'static str,
    pub port: u16,
    pub target: u16,
}

#[derive(Debug, Clone)]
pub enum Kind {
    ClusterIp { v4: Ipv4Addr, v6: Option<Ipv6Addr> },
    Headless,
    ExternalName(String),
}

#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Index into [`Cluster::pods`].
    pub pod: usize,
    pub ready: bool,
    pub hostname: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Service {
    pub name: String,
    /// Index into [`Cluster::namespaces`].
    pub ns: usize,
    pub kind: Kind,
    /// Endpoints are dual-stack (an IPv6 slice beside each IPv4 one).
    pub dual: bool,
    pub ports: Vec<Port>,
    /// Each inner list is one EndpointSlice (per family); most Services have one, some two.
    pub slices: Vec<(String, Vec<Endpoint>)>,
}

impl Service {
    pub fn fqdn(&self, c: &Cluster) -> String {
        format!("{}.{}.svc.{ZONE}", self.name, c.namespaces[self.ns])
    }

    pub fn endpoints(&self) -> impl Iterator<Item = &Endpoint> {
        self.slices.iter().flat_map(|(_, e)| e.iter())
    }
}

#[derive(Debug, Clone)]
pub struct Pod {
    pub name: String,
    pub ns: usize,
    pub app: String,
    pub node: usize,
    pub v4: Ipv4Addr,
    pub v6: Option<Ipv6Addr>,
}

#[derive(Debug, Clone)]
pub struct Cluster {
    pub namespaces: Vec<String>,
    pub services: Vec<Service>,
    pub pods: Vec<Pod>,
}

const DEPLOYMENTS: &[&str] = &[
    "web",
    "api",
    "auth",
    "cart",
    "checkout",
    "catalog",
    "search",
    "payments",
    "orders",
    "users",
    "inventory",
    "notify",
    "gateway",
    "frontend",
    "backend",
    "worker",
    "billing",
    "shipping",
    "reviews",
    "ratings",
    "recommend",
    "session",
    "profile",
    "media",
    "upload",
    "report",
];
/// A named port: (name, protocol, number).
type NamedPort = (&'static str, &'static str, u16);

/// (prefix, ports) of StatefulSet-style databases and brokers.
const STATEFUL: &[(&str, &[NamedPort])] = &[
    ("redis", &[("redis", "TCP", 6379)]),
    ("postgres", &[("postgres", "TCP", 5432)]),
    (
        "kafka",
        &[("kafka", "TCP", 9092), ("controller", "TCP", 9093)],
    ),
    (
        "zookeeper",
        &[
            ("client", "TCP", 2181),
            ("peer", "TCP", 2888),
            ("election", "TCP", 3888),
        ],
    ),
    (
        "elasticsearch",
        &[("http", "TCP", 9200), ("transport", "TCP", 9300)],
    ),
    ("mongo", &[("mongodb", "TCP", 27017)]),
    ("mysql", &[("mysql", "TCP", 3306)]),
    (
        "rabbitmq",
        &[("amqp", "TCP", 5672), ("management", "TCP", 15672)],
    ),
    ("etcd", &[("client", "TCP", 2379), ("peer", "TCP", 2380)]),
    ("cassandra", &[("cql", "TCP", 9042)]),
    (
        "memcached",
        &[("memcache", "TCP", 11211), ("memcache-udp", "UDP", 11211)],
    ),
];
const EXTERNAL_PREFIXES: &[&str] = &["ext-db", "partner-api", "legacy", "saas", "mail", "storage"];
const EXTERNAL_DOMAINS: &[&str] = &[
    "example.com",
    "example.net",
    "example.org",
    "corp.example.com",
    "partner.example.net",
    "rds.example-cloud.com",
    "cache.example-cloud.com",
    "api.example.io",
];
/// Names a pod looks up outside the cluster (their search-path expansions are NXDOMAIN).
const EXTERNAL_LOOKUPS: &[&str] = &[
    "api.github.com",
    "registry-1.docker.io",
    "s3.amazonaws.com",
    "sts.amazonaws.com",
    "www.googleapis.com",
    "oauth2.googleapis.com",
    "pypi.org",
    "files.pythonhosted.org",
    "registry.npmjs.org",
    "proxy.golang.org",
    "login.microsoftonline.com",
    "api.stripe.com",
    "hooks.slack.com",
    "sentry.io",
    "o1.ingest.sentry.io",
    "api.datadoghq.com",
    "ghcr.io",
    "quay.io",
    "storage.googleapis.com",
    "dynamodb.us-east-1.amazonaws.com",
];
const STANDALONE: &[&str] = &[
    "job",
    "cron",
    "batch",
    "migrate",
    "debug",
    "node-exporter",
    "fluent-bit",
    "kube-proxy",
    "csi-node",
    "runner",
    "build",
    "test",
];

fn v4_add(base: Ipv4Addr, n: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(base) + n)
}

/// Pod addresses: node `n` owns `10.(64 + n/256).(n%256).0/24` and `fd00:10:244:<n>::/64`.
fn pod_v4(node: usize, slot: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 64 + (node / 256) as u8, (node % 256) as u8, slot as u8)
}

fn pod_v6(node: usize, slot: usize) -> Ipv6Addr {
    Ipv6Addr::new(0xfd00, 0x10, 0x244, node as u16, 0, 0, 0, slot as u16)
}

/// Pods are placed round-robin over nodes, slots `.2`–`.251` of each node's /24.
const SLOTS_PER_NODE: usize = 250;

pub fn generate(opts: &Options) -> Cluster {
    let mut rng = Rng::new(opts.seed);
    let mut namespaces = vec!["kube-system".to_string(), "default".to_string()];
    for i in 0..opts.namespaces.max(3) - 2 {
        namespaces.push(format!("ns-{i}"));
    }

    // Pods are created while Services are; their addresses are assigned once the count is known.
    let mut pods: Vec<Pod> = Vec::new();

    let mut services = Vec::with_capacity(opts.services.max(1));
    // kube-dns: the name run-dnsperf.sh waits for.
    {
        let mut eps = Vec::new();
        for _ in 0..2 {
            let name = format!("coredns-{}-{}", rng.suffix(10), rng.suffix(5));
            let pod = new_pod(&mut pods, name, 0, "kube-dns", false);
            eps.push(Endpoint {
                pod,
                ready: true,
                hostname: None,
            });
        }
        services.push(Service {
            name: "kube-dns".into(),
            ns: 0,
            kind: Kind::ClusterIp {
                v4: KNOWN_ADDR,
                v6: None,
            },
            dual: false,
            ports: vec![
                Port {
                    name: "dns",
                    protocol: "UDP",
                    port: 53,
                    target: 53,
                },
                Port {
                    name: "dns-tcp",
                    protocol: "TCP",
                    port: 53,
                    target: 53,
                },
                Port {
                    name: "metrics",
                    protocol: "TCP",
                    port: 9153,
                    target: 9153,
                },
            ],
            slices: vec![(format!("kube-dns-{}", rng.suffix(5)), eps)],
        });
    }

    // Exactly 70% / 20% / 10% of the remaining Services, in a shuffled order.
    let rest = opts.services.saturating_sub(1);
    let headless = rest * 2 / 10;
    let external = rest / 10;
    let mut kinds: Vec<u8> = Vec::with_capacity(rest);
    kinds.extend(std::iter::repeat_n(1u8, headless));
    kinds.extend(std::iter::repeat_n(2u8, external));
    kinds.extend(std::iter::repeat_n(0u8, rest - headless - external));
    rng.shuffle(&mut kinds);

    let service_base = Ipv4Addr::new(10, 96, 4, 0);
    let mut external_slots = Vec::new();
    for (i, kind) in kinds.into_iter().enumerate() {
        let id = i + 1;
        let ns = 1 + rng.below(namespaces.len() - 1);
        match kind {
            0 => {
                let prefix = *rng.pick(DEPLOYMENTS);
                let name = format!("{prefix}-{id}");
                let v4 = v4_add(service_base, id as u32);
                let dual = rng.percent(20);
                let v6 = dual.then(|| Ipv6Addr::new(0xfd00, 0x10, 0x96, 0, 0, 0, 0, id as u16));
                let mut ports = vec![Port {
                    name: "http",
                    protocol: "TCP",
                    port: 80,
                    target: 8080,
                }];
                if rng.percent(50) {
                    ports.push(Port {
                        name: "grpc",
                        protocol: "TCP",
                        port: 9090,
                        target: 9090,
                    });
                }
                if rng.percent(40) {
                    ports.push(Port {
                        name: "metrics",
                        protocol: "TCP",
                        port: 9100,
                        target: 9100,
                    });
                }
                if rng.percent(20) {
                    ports.push(Port {
                        name: "https",
                        protocol: "TCP",
                        port: 443,
                        target: 8443,
                    });
                }
                if rng.percent(5) {
                    ports.push(Port {
                        name: "syslog",
                        protocol: "UDP",
                        port: 514,
                        target: 5514,
                    });
                }
                let ready = *rng.pick(&[1usize, 2, 2, 3, 3, 3, 4, 5, 6]);
                let not_ready = usize::from(rng.percent(20));
                let hash = rng.suffix(10);
                let mut eps = Vec::new();
                for k in 0..ready + not_ready {
                    let pod_name = format!("{name}-{hash}-{}", rng.suffix(5));
                    let pod = new_pod(&mut pods, pod_name, ns, &name, dual);
                    eps.push(Endpoint {
                        pod,
                        ready: k < ready,
                        hostname: None,
                    });
                }
                // The not-ready endpoint lands anywhere in the slice.
                rng.shuffle(&mut eps);
                let slices = split_slices(&mut rng, &name, eps);
                services.push(Service {
                    name,
                    ns,
                    kind: Kind::ClusterIp { v4, v6 },
                    dual,
                    ports,
                    slices,
                });
            }
            1 => {
                let (prefix, main_ports) = *rng.pick(STATEFUL);
                let name = format!("{prefix}-{id}");
                let dual = rng.percent(10);
                let mut ports: Vec<Port> = main_ports
                    .iter()
                    .map(|&(name, protocol, port)| Port {
                        name,
                        protocol,
                        port,
                        target: port,
                    })
                    .collect();
                if rng.percent(50) {
                    ports.push(Port {
                        name: "metrics",
                        protocol: "TCP",
                        port: 9100,
                        target: 9100,
                    });
                }
                let replicas = *rng.pick(&[2usize, 3, 3, 3, 5, 5]);
                let starting = rng.percent(15);
                let mut eps = Vec::new();
                for k in 0..replicas + usize::from(starting) {
                    let pod_name = format!("{name}-{k}");
                    let pod = new_pod(&mut pods, pod_name.clone(), ns, &name, dual);
                    eps.push(Endpoint {
                        pod,
                        ready: k < replicas,
                        hostname: Some(pod_name),
                    });
                }
                let slices = split_slices(&mut rng, &name, eps);
                services.push(Service {
                    name,
                    ns,
                    kind: Kind::Headless,
                    dual,
                    ports,
                    slices,
                });
            }
            _ => {
                let prefix = *rng.pick(EXTERNAL_PREFIXES);
                let name = format!("{prefix}-{id}");
                external_slots.push(services.len());
                services.push(Service {
                    name,
                    ns,
                    kind: Kind::ExternalName(String::new()),
                    dual: false,
                    ports: Vec::new(),
                    slices: Vec::new(),
                });
            }
        }
    }
    // ExternalName targets: 30% another Service of the cluster (chased in-zone), else outside.
    let cluster_ip: Vec<usize> = (0..services.len())
        .filter(|&i| matches!(services[i].kind, Kind::ClusterIp { .. }))
        .collect();
    for slot in external_slots {
        let target = if rng.percent(30) && !cluster_ip.is_empty() {
            let t = &services[*rng.pick(&cluster_ip)];
            format!("{}.{}.svc.{ZONE}", t.name, namespaces[t.ns])
        } else {
            let domain = *rng.pick(EXTERNAL_DOMAINS);
            format!("{}.{domain}", services[slot].name)
        };
        services[slot].kind = Kind::ExternalName(target);
    }

    // Pods that back no Service: jobs, DaemonSets, debugging shells.
    let needed = pods.len();
    if opts.pods < needed {
        eprintln!(
            "gen-cluster: the Services' endpoints need {needed} pods; generating {needed} instead of {}",
            opts.pods
        );
    }
    while pods.len() < opts.pods {
        let prefix = *rng.pick(STANDALONE);
        let ns = if prefix.starts_with("kube")
            || prefix.starts_with("csi")
            || prefix.starts_with("node")
        {
            0
        } else {
            1 + rng.below(namespaces.len() - 1)
        };
        let name = format!("{prefix}-{}-{}", rng.suffix(10), rng.suffix(5));
        let dual = rng.percent(15);
        new_pod(&mut pods, name, ns, prefix, dual);
    }

    // Addresses: round-robin over enough nodes for every slot to stay under .252.
    let nodes = pods.len().div_ceil(100).max(1);
    assert!(nodes <= 64 * 256, "too many pods for 10.64.0.0/10");
    for (k, pod) in pods.iter_mut().enumerate() {
        let node = k % nodes;
        let slot = 2 + k / nodes;
        assert!(slot < 2 + SLOTS_PER_NODE);
        pod.node = node;
        pod.v4 = pod_v4(node, slot);
        if pod.v6.is_some() {
            pod.v6 = Some(pod_v6(node, slot));
        }
    }

    Cluster {
        namespaces,
        services,
        pods,
    }
}

/// Add a pod (its addresses are assigned at the end) and return its index.
fn new_pod(pods: &mut Vec<Pod>, name: String, ns: usize, app: &str, dual: bool) -> usize {
    pods.push(Pod {
        name,
        ns,
        app: app.to_string(),
        node: 0,
        v4: Ipv4Addr::UNSPECIFIED,
        v6: dual.then_some(Ipv6Addr::UNSPECIFIED),
    });
    pods.len() - 1
}

/// One slice, or (a quarter of the Services with four endpoints or more) two.
fn split_slices(
    rng: &mut Rng,
    service: &str,
    mut eps: Vec<Endpoint>,
) -> Vec<(String, Vec<Endpoint>)> {
    let first = format!("{service}-{}", rng.suffix(5));
    if eps.len() >= 4 && rng.percent(25) {
        let second = eps.split_off(eps.len() / 2);
        vec![
            (first, eps),
            (format!("{service}-{}", rng.suffix(5)), second),
        ]
    } else {
        vec![(first, eps)]
    }
}

// ---------------------------------------------------------------------------------------------
// Output.

/// Write `cluster/`, `Corefile` and `queries/` under `out` (its `cluster/` and `queries/` are
/// replaced). Returns a one-paragraph summary.
pub fn write_all(opts: &Options, out: &Path) -> io::Result<String> {
    fs::create_dir_all(out)?;
    let out = fs::canonicalize(out)?;
    let cluster = generate(opts);
    let cluster_dir = out.join("cluster");
    let queries_dir = out.join("queries");
    for dir in [&cluster_dir, &queries_dir] {
        if dir.exists() {
            fs::remove_dir_all(dir)?;
        }
        fs::create_dir_all(dir)?;
    }
    write_manifests(&cluster, &cluster_dir)?;
    fs::write(
        out.join("Corefile"),
        corefile(&cluster_dir, opts.port, opts.kubeadm),
    )?;
    let queries = Queries::build(&cluster, opts);
    queries.write(&queries_dir)?;
    Ok(summary(&cluster, &queries))
}

/// The default output directory: `bench/out` beside this crate.
pub fn default_out_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("out")
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn deterministic_and_unique() {
        let opts = Options {
            services: 200,
            pods: 2000,
            namespaces: 10,
            min_lines: 100,
            mix_lines: 1000,
            ..Options::default()
        };
        let a = generate(&opts);
        let b = generate(&opts);
        assert_eq!(a.pods.len(), b.pods.len());
        let ips_a: Vec<_> = a.pods.iter().map(|p| p.v4).collect();
        let ips_b: Vec<_> = b.pods.iter().map(|p| p.v4).collect();
        assert_eq!(ips_a, ips_b);
        let unique: HashSet<_> = ips_a.iter().collect();
        assert_eq!(unique.len(), ips_a.len(), "pod IPs are unique");
        let names: HashSet<_> = a.services.iter().map(|s| (s.ns, s.name.clone())).collect();
        assert_eq!(names.len(), a.services.len(), "service names are unique");
        let headless = a
            .services
            .iter()
            .filter(|s| matches!(s.kind, Kind::Headless))
            .count();
        assert_eq!(headless, 199 * 2 / 10);
    }

    #[test]
    fn dashed_and_reverse() {
        let v6: IpAddr = "fd00:10:244:3::20".parse().unwrap();
        assert_eq!(dashed(v6), "fd00-10-244-3--20");
        assert_eq!(
            reverse_name("10.64.1.2".parse().unwrap()),
            "2.1.64.10.in-addr.arpa"
        );
        assert!(reverse_name(v6).ends_with(".4.4.2.0.0.1.0.0.0.0.d.f.ip6.arpa"));
    }
}
