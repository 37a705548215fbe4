//! `prometheus`: real queries over UDP and TCP (hickory's client and dig), then `/metrics` scraped
//! over real HTTP, parsed as the text exposition format and checked value by value.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use rollcall::contract::Transport;

use crate::http::request;
use crate::kube_support::{Cluster, Rollcall, TOKEN};
use crate::support::{TestServer, ask_hickory, scratch_dir};

/// One sample: metric name and its labels.
type Series = (String, BTreeMap<String, String>);

/// The parsed exposition: every sample, and each family's `# TYPE`.
struct Scrape {
    samples: BTreeMap<Series, f64>,
    types: BTreeMap<String, String>,
}

/// A small parser for the text format 0.0.4 that rejects what Prometheus rejects: a sample before
/// its family's `# TYPE`, a family's samples split by another family, a duplicate series, a bad
/// escape, a value that is not a float.
fn parse(text: &str) -> Scrape {
    let mut samples = BTreeMap::new();
    let mut types = BTreeMap::new();
    let mut helps = BTreeSet::new();
    let mut finished: BTreeSet<String> = BTreeSet::new();
    let mut current = String::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap().to_string();
            assert!(helps.insert(name), "second HELP: {line}");
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert!(
                ["counter", "gauge", "histogram"].contains(&kind),
                "type {line}"
            );
            assert!(
                types.insert(name.to_string(), kind.to_string()).is_none(),
                "second TYPE: {line}"
            );
            if !current.is_empty() {
                finished.insert(std::mem::take(&mut current));
            }
            assert!(!finished.contains(name), "family {name} split");
            current = name.to_string();
            continue;
        }
        assert!(!line.starts_with('#') && !line.is_empty(), "line {line:?}");
        let (series, value) = line.rsplit_once(' ').unwrap();
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => (name, parse_labels(rest.strip_suffix('}').unwrap())),
            None => (series, BTreeMap::new()),
        };
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .filter(|f| types.get(*f).is_some_and(|t| t == "histogram"))
            .unwrap_or(name);
        assert_eq!(family, current, "sample outside its family: {line}");
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("value in {line}")),
        };
        assert!(
            samples.insert((name.to_string(), labels), value).is_none(),
            "duplicate series {line}"
        );
    }
    Scrape { samples, types }
}

fn parse_labels(text: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut chars = text.chars().peekable();
    while chars.peek().is_some() {
        let name: String = chars.by_ref().take_while(|c| *c != '=').collect();
        assert_eq!(chars.next(), Some('"'), "label {name} in {text}");
        let mut value = String::new();
        loop {
            match chars.next().expect("closing quote") {
                '"' => break,
                '\\' => match chars.next() {
                    Some('\\') => value.push('\\'),
                    Some('"') => value.push('"'),
                    Some('n') => value.push('\n'),
                    other => panic!("bad escape {other:?} in {text}"),
                },
                c => value.push(c),
            }
        }
        assert!(labels.insert(name, value).is_none(), "repeated label");
        match chars.next() {
            Some(',') | None => {}
            other => panic!("after a label: {other:?} in {text}"),
        }
    }
    labels
}

impl Scrape {
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let labels = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.samples.get(&(name.to_string(), labels)).copied()
    }

    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.get(name, labels).unwrap_or_else(|| {
            let near: Vec<String> = self
                .samples
                .keys()
                .filter(|(n, _)| n == name)
                .map(|(n, l)| format!("{n}{l:?}"))
                .collect();
            panic!("no {name}{labels:?}; have:\n{}", near.join("\n"))
        })
    }

    /// Every series of `name` whose labels include `labels`.
    fn matching(
        &self,
        name: &str,
        labels: &[(&str, &str)],
    ) -> Vec<(&BTreeMap<String, String>, f64)> {
        self.samples
            .iter()
            .filter(|((n, l), _)| {
                n == name
                    && labels
                        .iter()
                        .all(|(k, v)| l.get(*k).map(String::as_str) == Some(v))
            })
            .map(|((_, l), v)| (l, *v))
            .collect()
    }
}

async fn scrape(addr: SocketAddr) -> (Scrape, String) {
    let r = request(addr, "GET", "/metrics", &[], b"").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = r.text();
    (parse(&text), text)
}

fn metrics_listener(listeners: &[(&'static str, SocketAddr)]) -> SocketAddr {
    let found: Vec<SocketAddr> = listeners
        .iter()
        .filter(|(w, _)| *w == "prometheus")
        .map(|(_, a)| *a)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one shared /metrics listener: {listeners:?}"
    );
    found[0]
}

fn dig_dnssec(addr: SocketAddr, name: &str) -> String {
    let out = Command::new("dig")
        .arg(format!("@{}", addr.ip()))
        .args(["-p", &addr.port().to_string()])
        .args(["+dnssec", "+time=3", "+tries=1", "+short", name, "A"])
        .output()
        .unwrap_or_else(|e| panic!("running dig: {e}"));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_real_queries_with_coredns_names_and_labels() {
    let dir = scratch_dir("metrics");
    std::fs::create_dir_all(dir.join("cluster")).unwrap();
    std::fs::write(
        dir.join("cluster/svc.yaml"),
        "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: apps}\nspec: {clusterIP: 10.96.0.1}\n",
    )
    .unwrap();
    // Two blocks on one DNS address, naming one prometheus address: one listener serves both.
    let corefile = "cluster.local:0 {\n bind 127.0.0.1\n prometheus 127.0.0.1:0\n kubernetes {\n  manifests cluster\n }\n}\n\
                    example.org:0 {\n bind 127.0.0.1\n prometheus 127.0.0.1:0\n errors\n}\n";
    let server = TestServer::start_text(corefile, &dir).await;
    let metrics = metrics_listener(&server.other_listeners);
    let dns = server.addr;

    // Before any query: only what always exists.
    let (before, _) = scrape(metrics).await;
    assert_eq!(before.matching("coredns_dns_requests_total", &[]).len(), 0);

    let q = |s: &'static str, t| ask_hickory(dns, s, t);
    for _ in 0..3 {
        assert_eq!(
            q("web.apps.svc.cluster.local A", Transport::Udp)
                .await
                .rcode,
            "NOERROR"
        );
    }
    assert_eq!(
        q("web.apps.svc.cluster.local AAAA", Transport::Udp)
            .await
            .rcode,
        "NOERROR"
    );
    assert_eq!(
        q("nope.apps.svc.cluster.local A", Transport::Udp)
            .await
            .rcode,
        "NXDOMAIN"
    );
    assert_eq!(
        q("web.apps.svc.cluster.local NULL", Transport::Udp)
            .await
            .rcode,
        "NOERROR"
    );
    assert_eq!(
        q("web.apps.svc.cluster.local A", Transport::Tcp)
            .await
            .rcode,
        "NOERROR"
    );
    assert_eq!(
        q("www.example.org A", Transport::Udp).await.rcode,
        "REFUSED"
    );
    assert_eq!(q("elsewhere.test A", Transport::Udp).await.rcode, "REFUSED");
    assert_eq!(dig_dnssec(dns, "web.apps.svc.cluster.local"), "10.96.0.1");
    // Refused before the chain runs (zone transfers): still counted under the zone it names.
    let axfr = Command::new("dig")
        .arg(format!("@{}", dns.ip()))
        .args(["-p", &dns.port().to_string(), "+time=3", "+tries=1"])
        .args(["cluster.local", "AXFR"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&axfr.stdout).contains("Transfer failed"));

    let (m, text) = scrape(metrics).await;
    let server_label = "dns://127.0.0.1:0";
    let cl = [
        ("server", server_label),
        ("zone", "cluster.local."),
        ("view", ""),
    ];
    let with = |extra: &[(&'static str, &'static str)]| -> Vec<(&'static str, &'static str)> {
        cl.iter().copied().chain(extra.iter().copied()).collect()
    };
    let req = |proto, ty| {
        m.value(
            "coredns_dns_requests_total",
            &with(&[("proto", proto), ("family", "1"), ("type", ty)]),
        )
    };
    assert_eq!(req("udp", "A"), 5.0, "3 hickory + NXDOMAIN + dig\n{text}");
    assert_eq!(req("udp", "AAAA"), 1.0);
    assert_eq!(req("udp", "other"), 1.0, "NULL is not a monitored type");
    assert_eq!(req("tcp", "A"), 1.0);
    assert_eq!(req("tcp", "AXFR"), 1.0);
    assert_eq!(
        m.matching("coredns_dns_requests_total", &[("zone", "cluster.local.")])
            .len(),
        5,
        "no other series for the zone"
    );
    let resp = |rcode, plugin| {
        m.value(
            "coredns_dns_responses_total",
            &with(&[("rcode", rcode), ("plugin", plugin)]),
        )
    };
    assert_eq!(resp("NOERROR", "kubernetes"), 7.0);
    assert_eq!(resp("NXDOMAIN", "kubernetes"), 1.0);
    assert_eq!(resp("REFUSED", ""), 1.0, "the AXFR");
    assert_eq!(m.value("coredns_dns_do_requests_total", &cl), 1.0);

    // Histograms: cumulative buckets, +Inf = _count, a count per type (not per proto).
    let hist = with(&[("type", "A")]);
    let count = m.value("coredns_dns_request_duration_seconds_count", &hist);
    assert_eq!(count, 6.0);
    let mut buckets = m.matching("coredns_dns_request_duration_seconds_bucket", &hist);
    assert_eq!(buckets.len(), 17);
    buckets.sort_by(|a, b| {
        let le = |l: &BTreeMap<String, String>| match l["le"].as_str() {
            "+Inf" => f64::INFINITY,
            v => v.parse::<f64>().unwrap(),
        };
        le(a.0).total_cmp(&le(b.0))
    });
    assert!(buckets.windows(2).all(|w| w[0].1 <= w[1].1));
    assert_eq!(buckets.last().unwrap().1, count);
    assert_eq!(buckets.last().unwrap().0["le"], "+Inf");
    assert_eq!(buckets[0].0["le"], "0.00025");
    assert!(m.value("coredns_dns_request_duration_seconds_sum", &hist) > 0.0);
    let tcp = with(&[("proto", "tcp")]);
    assert_eq!(m.value("coredns_dns_request_size_bytes_count", &tcp), 2.0);
    assert_eq!(m.value("coredns_dns_response_size_bytes_count", &tcp), 2.0);
    let udp = with(&[("proto", "udp")]);
    assert_eq!(m.value("coredns_dns_request_size_bytes_count", &udp), 7.0);
    // Requests of 40–100 bytes; a 10.96.0.1 answer is under 200 bytes.
    let small = with(&[("proto", "udp"), ("le", "100")]);
    assert_eq!(
        m.value("coredns_dns_request_size_bytes_bucket", &small),
        7.0
    );
    let zero = with(&[("proto", "udp"), ("le", "0")]);
    assert_eq!(
        m.value("coredns_dns_response_size_bytes_bucket", &zero),
        0.0
    );

    // The second block's zone, and the query no zone takes.
    let org = [
        ("server", server_label),
        ("zone", "example.org."),
        ("view", ""),
    ];
    let org_resp: Vec<_> = org
        .iter()
        .copied()
        .chain([("rcode", "REFUSED"), ("plugin", "")])
        .collect();
    assert_eq!(m.value("coredns_dns_responses_total", &org_resp), 1.0);
    let dropped = [("server", server_label), ("zone", "dropped"), ("view", "")];
    let dropped_req: Vec<_> = dropped
        .iter()
        .copied()
        .chain([("proto", "udp"), ("family", "1"), ("type", "A")])
        .collect();
    assert_eq!(m.value("coredns_dns_requests_total", &dropped_req), 1.0);
    let dropped_resp: Vec<_> = dropped
        .iter()
        .copied()
        .chain([("rcode", "REFUSED"), ("plugin", "")])
        .collect();
    assert_eq!(m.value("coredns_dns_responses_total", &dropped_resp), 1.0);

    // Static metrics and the kubernetes plugin's own.
    for name in ["prometheus", "kubernetes"] {
        assert_eq!(
            m.value("coredns_plugin_enabled", &with(&[("name", name)])),
            1.0
        );
    }
    let build = m.matching(
        "coredns_build_info",
        &[("version", env!("CARGO_PKG_VERSION"))],
    );
    assert_eq!(build.len(), 1, "{text}");
    assert_eq!(build[0].1, 1.0);
    assert!(build[0].0["goversion"].starts_with("rustc 1."), "{text}");
    assert_eq!(m.value("coredns_panics_total", &[]), 0.0);
    assert_eq!(m.types["coredns_dns_request_duration_seconds"], "histogram");
    assert_eq!(m.types["coredns_dns_requests_total"], "counter");
    let zone = [("zone", "cluster.local.")];
    assert_eq!(m.value("rollcall_kubernetes_synced", &zone), 1.0);
    assert_eq!(m.value("rollcall_store_services", &zone), 1.0);

    // Only /metrics is served.
    assert_eq!(request(metrics, "GET", "/", &[], b"").await.status, 404);
}

#[tokio::test]
async fn metrics_report_the_age_of_the_last_api_event_per_kind() {
    let cluster = Cluster::start().await;
    cluster.seed(3);
    let corefile = format!(
        "cluster.local:0 {{\n    bind 127.0.0.1\n    prometheus 127.0.0.1:0\n    kubernetes cluster.local {{\n        kubeconfig {}\n    }}\n}}\n",
        cluster.kubeconfig(TOKEN).display()
    );
    let rollcall = Rollcall::start(&corefile, &cluster.dir).await;
    rollcall.wait_ready(Duration::from_secs(10)).await;
    let metrics = metrics_listener(&rollcall.other_listeners());
    let (m, text) = scrape(metrics).await;
    let zone = [("zone", "cluster.local.")];
    assert_eq!(m.value("rollcall_kubernetes_synced", &zone), 1.0, "{text}");
    assert_eq!(m.value("rollcall_store_services", &zone), 3.0);
    for kind in ["Namespace", "Service", "EndpointSlice"] {
        let labels = [("zone", "cluster.local."), ("kind", kind)];
        let age = m.value("rollcall_kubernetes_last_event_age_seconds", &labels);
        assert!((0.0..10.0).contains(&age), "{kind}: {age}");
        assert!(m.value("rollcall_kubernetes_events_total", &labels) >= 1.0);
        assert_eq!(
            m.value("rollcall_kubernetes_watch_restarts_total", &labels),
            0.0
        );
    }
    assert_eq!(
        m.types["rollcall_kubernetes_last_event_age_seconds"],
        "gauge"
    );
    // Pods are not watched without `pods verified`: no series for them.
    assert!(
        m.matching(
            "rollcall_kubernetes_last_event_age_seconds",
            &[("kind", "Pod")]
        )
        .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_and_forward_report_hits_misses_and_upstream_replies() {
    use rollcall_tests::upstream::TestUpstream;

    let up = TestUpstream::start().await.expect("test upstream binds");
    up.add_a("www.example.org.", &["192.0.2.10".parse().unwrap()]);
    let dir = scratch_dir("metrics-forward");
    let corefile = format!(
        ".:0 {{\n bind 127.0.0.1\n prometheus 127.0.0.1:0\n cache 30\n forward . {}\n}}\n",
        up.addr
    );
    let server = TestServer::start_text(&corefile, &dir).await;
    let metrics = metrics_listener(&server.other_listeners);

    for _ in 0..3 {
        let a = ask_hickory(server.addr, "www.example.org. A", Transport::Udp).await;
        assert_eq!(a.rcode, "NOERROR", "{a:?}");
    }
    let nx = ask_hickory(server.addr, "missing.example.org. A", Transport::Udp).await;
    assert_eq!(nx.rcode, "NXDOMAIN", "{nx:?}");

    let (m, text) = scrape(metrics).await;
    let to = up.addr.to_string();
    let upstream = [("from", "."), ("to", to.as_str())];
    // One miss went upstream per name; the two repeats were cache hits.
    assert_eq!(
        m.value("coredns_forward_requests_total", &upstream),
        2.0,
        "{text}"
    );
    assert_eq!(
        m.value(
            "coredns_forward_responses_total",
            &[("from", "."), ("to", to.as_str()), ("rcode", "NOERROR")]
        ),
        1.0
    );
    assert_eq!(
        m.value(
            "coredns_forward_responses_total",
            &[("from", "."), ("to", to.as_str()), ("rcode", "NXDOMAIN")]
        ),
        1.0
    );
    assert_eq!(m.value("rollcall_forward_upstream_down", &upstream), 0.0);
    let cache = |kind: &'static str| {
        [
            ("server", "dns://127.0.0.1:0"),
            ("type", kind),
            ("zones", "."),
            ("view", ""),
        ]
    };
    assert_eq!(m.value("coredns_cache_hits_total", &cache("success")), 2.0);
    assert_eq!(m.value("coredns_cache_entries", &cache("success")), 1.0);
    let base = [
        ("server", "dns://127.0.0.1:0"),
        ("zones", "."),
        ("view", ""),
    ];
    assert_eq!(m.value("coredns_cache_requests_total", &base), 4.0);
    assert_eq!(m.value("coredns_cache_misses_total", &base), 2.0);
    assert_eq!(m.types["coredns_cache_hits_total"], "counter");
    assert_eq!(m.types["coredns_cache_entries"], "gauge");
}
