//! A synthetic cluster for benchmarks: Namespaces, Services (ClusterIP, some dual-stack; headless
//! StatefulSet-style with hostnames; ExternalName), EndpointSlices targeting the generated Pods,
//! and Pods with unique addresses; written as Kubernetes manifests, plus a Corefile that serves
//! them and dnsperf query files per category.
//!
//! Everything is derived from one seeded PRNG, so the same options give byte-identical output.
//!
//! Layout of the output directory:
//! ```text
//! DIR/Corefile
//! DIR/cluster/namespaces.yaml        one `kind: List` of every Namespace
//! DIR/cluster/<namespace>.yaml       that namespace's Services, EndpointSlices, Pods (multi-document)
//! DIR/queries/<category>.txt         dnsperf input: `name TYPE` per line
//! DIR/queries/expected.tsv           category, lines, NOERROR lines, NXDOMAIN lines
//! ```

use std::collections::HashSet;
use std::fmt::Write as _;
use std::fs;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

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
// Manifests.

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

/// The bench Corefile: `kubernetes` alone, or (`kubeadm`) inside the plugins of kubeadm's
/// default Corefile that a cluster name passes through: `errors`, `health { lameduck }`, `ready`,
/// `prometheus`, `cache` with `cluster.local` disabled, `loadbalance` and `reload`. `forward` and
/// `loop` are left out: no bench query leaves the cluster zone, and their probes would send
/// traffic off the machine.
pub fn corefile(cluster_dir: &Path, port: u16, kubeadm: bool) -> String {
    let kubernetes = format!(
        "    kubernetes cluster.local in-addr.arpa ip6.arpa {{\n        manifests {}\n        \
         pods verified\n        fallthrough in-addr.arpa ip6.arpa\n        ttl 30\n    }}\n",
        cluster_dir.display()
    );
    let around = if kubeadm {
        "    errors\n    health 127.0.0.1:0 {\n        lameduck 5s\n    }\n    ready 127.0.0.1:0\n    \
         prometheus 127.0.0.1:0\n    cache 30 {\n        disable success cluster.local\n        \
         disable denial cluster.local\n    }\n    reload\n    loadbalance\n"
    } else {
        ""
    };
    format!(
        "# Generated by gen-cluster (rollcall-bench). Do not edit: re-run gen-cluster.\n\
         .:{port} {{\n    bind 127.0.0.1\n{kubernetes}{around}}}\n"
    )
}

fn write_manifests(c: &Cluster, dir: &Path) -> io::Result<()> {
    let mut list = String::from(
        "# Every Namespace of the synthetic cluster, as one List.\napiVersion: v1\nkind: List\nitems:\n",
    );
    for ns in &c.namespaces {
        let _ = write!(
            list,
            "- apiVersion: v1\n  kind: Namespace\n  metadata:\n    name: {ns}\n"
        );
    }
    fs::write(dir.join("namespaces.yaml"), list)?;

    let mut per_ns: Vec<String> = vec![String::new(); c.namespaces.len()];
    for s in &c.services {
        service_yaml(&mut per_ns[s.ns], c, s);
    }
    for s in &c.services {
        for (name, eps) in &s.slices {
            slice_yaml(&mut per_ns[s.ns], c, s, name, eps, false);
            if s.dual {
                slice_yaml(&mut per_ns[s.ns], c, s, &format!("{name}-v6"), eps, true);
            }
        }
    }
    for p in &c.pods {
        pod_yaml(&mut per_ns[p.ns], c, p);
    }
    for (ns, text) in c.namespaces.iter().zip(per_ns) {
        if !text.is_empty() {
            fs::write(
                dir.join(format!("{ns}.yaml")),
                format!("# Namespace {ns}: Services, EndpointSlices, Pods.\n{text}"),
            )?;
        }
    }
    Ok(())
}

fn service_yaml(out: &mut String, c: &Cluster, s: &Service) {
    let ns = &c.namespaces[s.ns];
    let _ = write!(
        out,
        "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: {}\n  namespace: {ns}\n  labels:\n    app: {}\nspec:\n",
        s.name, s.name
    );
    match &s.kind {
        Kind::ClusterIp { v4, v6 } => {
            let _ = write!(
                out,
                "  type: ClusterIP\n  clusterIP: \"{v4}\"\n  clusterIPs:\n  - \"{v4}\"\n"
            );
            if let Some(v6) = v6 {
                let _ = write!(
                    out,
                    "  - \"{v6}\"\n  ipFamilies: [IPv4, IPv6]\n  ipFamilyPolicy: PreferDualStack\n"
                );
            } else {
                out.push_str("  ipFamilies: [IPv4]\n  ipFamilyPolicy: SingleStack\n");
            }
        }
        Kind::Headless => {
            out.push_str("  type: ClusterIP\n  clusterIP: None\n  clusterIPs: [None]\n  publishNotReadyAddresses: false\n");
        }
        Kind::ExternalName(target) => {
            let _ = write!(out, "  type: ExternalName\n  externalName: {target}\n");
        }
    }
    if !s.ports.is_empty() {
        let _ = write!(out, "  selector:\n    app: {}\n  ports:\n", s.name);
        for p in &s.ports {
            let _ = write!(
                out,
                "  - name: {}\n    protocol: {}\n    port: {}\n    targetPort: {}\n",
                p.name, p.protocol, p.port, p.target
            );
        }
    }
}

fn slice_yaml(out: &mut String, c: &Cluster, s: &Service, name: &str, eps: &[Endpoint], v6: bool) {
    let ns = &c.namespaces[s.ns];
    let _ = write!(
        out,
        "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: {name}\n  namespace: {ns}\n  labels:\n    \
         kubernetes.io/service-name: {}\n    endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io\n\
         addressType: {}\nports:\n",
        s.name,
        if v6 { "IPv6" } else { "IPv4" }
    );
    for p in &s.ports {
        let _ = write!(
            out,
            "- name: {}\n  protocol: {}\n  port: {}\n",
            p.name, p.protocol, p.target
        );
    }
    out.push_str("endpoints:\n");
    for e in eps {
        let pod = &c.pods[e.pod];
        // Dual-stack Services only select dual-stack pods; a v4-only pod has no v6 endpoint.
        let addr: IpAddr = match (v6, pod.v6) {
            (true, Some(v6)) => IpAddr::V6(v6),
            (true, None) => continue,
            (false, _) => IpAddr::V4(pod.v4),
        };
        let _ = write!(
            out,
            "- addresses:\n  - \"{addr}\"\n  conditions:\n    ready: {}\n    serving: {}\n    terminating: false\n",
            e.ready, e.ready
        );
        if let Some(h) = &e.hostname {
            let _ = writeln!(out, "  hostname: {h}");
        }
        let _ = write!(
            out,
            "  nodeName: node-{}\n  targetRef:\n    kind: Pod\n    name: {}\n    namespace: {ns}\n",
            pod.node, pod.name
        );
    }
}

fn pod_yaml(out: &mut String, c: &Cluster, p: &Pod) {
    let ns = &c.namespaces[p.ns];
    let _ = write!(
        out,
        "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: {}\n  namespace: {ns}\n  labels:\n    app: {}\n\
         status:\n  phase: Running\n  hostIP: \"10.0.{}.{}\"\n  podIP: \"{}\"\n  podIPs:\n  - ip: \"{}\"\n",
        p.name,
        p.app,
        p.node / 256,
        p.node % 256,
        p.v4,
        p.v4
    );
    if let Some(v6) = p.v6 {
        let _ = writeln!(out, "  - ip: \"{v6}\"");
    }
}

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

fn summary(c: &Cluster, q: &Queries) -> String {
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

/// The default output directory: `bench/out` beside this crate.
pub fn default_out_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("out")
}

#[cfg(test)]
mod tests {
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
