//! `hosts` end to end: rollcall in-process on a real socket with a hosts file beside the
//! Corefile, the cluster from manifests, and a test upstream behind `forward`; asked with dig
//! and hickory's client. The file is edited while serving and the answers follow within the
//! reload period. Then k3s's default Corefile, kept verbatim but for the paths and ports a test
//! needs, answers a node name from NodeHosts, a cluster name and a forwarded name.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

use rollcall::contract::Transport;
use rollcall_tests::upstream::TestUpstream;

use crate::http::request;
use crate::support::{
    Answer, TestServer, ask_dig, ask_hickory, fixtures, scratch_dir, write_atomically,
};

/// dig off the runtime's workers (the server answers on them).
async fn dig(addr: SocketAddr, q: &str) -> Answer {
    let q = q.to_string();
    tokio::task::spawn_blocking(move || ask_dig(addr, &q, false))
        .await
        .expect("dig")
}

fn answered(a: &Answer, records: &[&str]) -> bool {
    a.rcode == "NOERROR" && a.answer == records
}

async fn metric(addr: SocketAddr, name: &str) -> f64 {
    let text = request(addr, "GET", "/metrics", &[], b"").await.text();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
}

const NODE_HOSTS: &str = "\
# written by the test, as k3s writes NodeHosts
10.0.0.11 node1
10.0.0.12 node2
fd00::12  node2
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_file_answers_falls_through_and_follows_edits() {
    let upstream = TestUpstream::start().await.expect("test upstream binds");
    upstream.add_a("www.example.org", &[Ipv4Addr::new(192, 0, 2, 80)]);
    let dir = scratch_dir("hosts");
    let hosts_file = dir.join("NodeHosts");
    write_atomically(&hosts_file, NODE_HOSTS);
    let corefile = format!(
        ".:0 {{\n    bind 127.0.0.1\n    prometheus 127.0.0.1:0\n    hosts NodeHosts {{\n        ttl 60\n        reload 1s\n        fallthrough\n    }}\n    kubernetes cluster.local in-addr.arpa ip6.arpa {{\n        manifests {}\n        fallthrough in-addr.arpa ip6.arpa\n    }}\n    forward . {}\n}}\n",
        fixtures().join("k8s/cluster").display(),
        upstream.addr
    );
    let server = TestServer::start_text(&corefile, &dir).await;
    let metrics = server.listener("prometheus");

    // The file's names: authoritative, `ttl 60`, for dig and for hickory over both transports.
    let a = dig(server.addr, "node1 A").await;
    assert!(a.aa && answered(&a, &["node1. 60 IN A 10.0.0.11"]), "{a:?}");
    for transport in [Transport::Udp, Transport::Tcp] {
        let a = ask_hickory(server.addr, "NODE2. AAAA", transport).await;
        assert!(
            a.aa && answered(&a, &["NODE2. 60 IN AAAA fd00::12"]),
            "{transport:?}: {a:?}"
        );
    }
    // The name is there without an AAAA: NOERROR, no answer, nothing asked upstream.
    let a = dig(server.addr, "node1 AAAA").await;
    assert!(a.aa && answered(&a, &[]), "{a:?}");
    // Its address's PTR, and a ClusterIP's, which hosts passes on to kubernetes.
    let a = dig(server.addr, "11.0.0.10.in-addr.arpa PTR").await;
    assert!(
        answered(&a, &["11.0.0.10.in-addr.arpa. 60 IN PTR node1."]),
        "{a:?}"
    );
    let a = dig(server.addr, "100.0.96.10.in-addr.arpa PTR").await;
    assert!(
        answered(
            &a,
            &["100.0.96.10.in-addr.arpa. 5 IN PTR web-service.apps.svc.cluster.local."]
        ),
        "{a:?}"
    );
    // fallthrough: a cluster name for kubernetes, anything else for forward.
    let a = dig(server.addr, "web-service.apps.svc.cluster.local A").await;
    assert!(
        answered(
            &a,
            &["web-service.apps.svc.cluster.local. 5 IN A 10.96.0.100"]
        ),
        "{a:?}"
    );
    let a = ask_hickory(server.addr, "www.example.org. A", Transport::Udp).await;
    assert!(
        answered(&a, &["www.example.org. 300 IN A 192.0.2.80"]),
        "{a:?}"
    );
    assert_eq!(upstream.queries_for("node1"), 0, "hosts answered node1");
    // Three (name, address) pairs, each forward and reverse.
    assert_eq!(metric(metrics, "coredns_hosts_entries").await, 6.0);
    let stamp = metric(metrics, "coredns_hosts_reload_timestamp_seconds").await;
    assert!(stamp > 1.0e9, "the file's modification time: {stamp}");

    // Edited as ConfigMap updates are (a new file renamed into place): node1 moves, node2
    // leaves, node3 arrives, all within the reload period (1 s, and a margin for busy CI).
    let edited = Instant::now();
    write_atomically(&hosts_file, "10.0.0.21 node1\n10.0.0.13 node3\n");
    loop {
        let a = dig(server.addr, "node1 A").await;
        if answered(&a, &["node1. 60 IN A 10.0.0.21"]) {
            break;
        }
        assert!(
            answered(&a, &["node1. 60 IN A 10.0.0.11"]),
            "only the old or the new answer while reloading: {a:?}"
        );
        assert!(
            edited.elapsed() < Duration::from_secs(4),
            "the edit was not served within the reload period"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let a = dig(server.addr, "node3 A").await;
    assert!(answered(&a, &["node3. 60 IN A 10.0.0.13"]), "{a:?}");
    // node2 is gone from the table: it falls through to forward, whose upstream does not know it.
    let a = dig(server.addr, "node2 A").await;
    assert_eq!(a.rcode, "NXDOMAIN", "{a:?}");
    assert_eq!(upstream.queries_for("node2"), 1);
    let a = dig(server.addr, "11.0.0.10.in-addr.arpa PTR").await;
    assert_eq!(a.rcode, "NXDOMAIN", "the old address's PTR is gone: {a:?}");
    assert_eq!(metric(metrics, "coredns_hosts_entries").await, 4.0);
}

/// corefile/tests/data/k3s.Corefile, which is k3s's default Corefile unchanged.
fn k3s_corefile() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../corefile/tests/data/k3s.Corefile");
    std::fs::read_to_string(&path).expect("k3s.Corefile")
}

/// `text` with `from` replaced by `to`, which must occur exactly once (so a change of the
/// fixture cannot silently leave a production path or port in the test).
fn replace_once(text: &str, from: &str, to: &str) -> String {
    assert_eq!(text.matches(from).count(), 1, "{from:?} in:\n{text}");
    text.replacen(from, to, 1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn k3s_default_corefile_serves_node_hosts_the_cluster_and_the_internet() {
    let upstream = TestUpstream::start().await.expect("test upstream binds");
    upstream.add_a("www.example.org", &[Ipv4Addr::new(192, 0, 2, 80)]);
    let dir = scratch_dir("k3s");
    // What k3s writes into the coredns ConfigMap's NodeHosts: one line per node.
    write_atomically(
        &dir.join("NodeHosts"),
        "172.18.0.2 k3d-server-0\n172.18.0.3 k3d-agent-0\n",
    );
    std::fs::create_dir_all(dir.join("custom")).expect("custom dir");
    let cluster = fixtures().join("k8s/cluster");
    let mut corefile = k3s_corefile();
    for (from, to) in [
        (".:53 {", ".:0 {\n    bind 127.0.0.1".to_string()),
        ("    health\n", "    health 127.0.0.1:0\n".to_string()),
        ("    ready\n", "    ready 127.0.0.1:0\n".to_string()),
        // No API server in this test: the same cluster from manifests.
        (
            "      pods insecure\n",
            format!(
                "      manifests {}\n      pods insecure\n",
                cluster.display()
            ),
        ),
        (
            "/etc/coredns/NodeHosts",
            dir.join("NodeHosts").display().to_string(),
        ),
        ("prometheus :9153", "prometheus 127.0.0.1:0".to_string()),
        (
            "forward . /etc/resolv.conf",
            format!("forward . {}", upstream.addr),
        ),
        (
            "/etc/coredns/custom/*.override",
            format!("{}/*.override", dir.join("custom").display()),
        ),
        (
            "/etc/coredns/custom/*.server",
            format!("{}/*.server", dir.join("custom").display()),
        ),
    ] {
        corefile = replace_once(&corefile, from, &to);
    }
    let server = TestServer::start_text(&corefile, &dir).await;

    // NodeHosts' `ttl 60`, capped by `cache 30` as in CoreDNS.
    let a = dig(server.addr, "k3d-server-0 A").await;
    assert!(
        a.aa && answered(&a, &["k3d-server-0. 30 IN A 172.18.0.2"]),
        "{a:?}"
    );
    let a = ask_hickory(server.addr, "k3d-agent-0. A", Transport::Tcp).await;
    assert!(answered(&a, &["k3d-agent-0. 30 IN A 172.18.0.3"]), "{a:?}");
    let a = dig(server.addr, "3.0.18.172.in-addr.arpa PTR").await;
    assert!(
        answered(&a, &["3.0.18.172.in-addr.arpa. 30 IN PTR k3d-agent-0."]),
        "{a:?}"
    );
    let a = dig(server.addr, "web-service.apps.svc.cluster.local A").await;
    assert!(
        a.aa && answered(
            &a,
            &["web-service.apps.svc.cluster.local. 5 IN A 10.96.0.100"]
        ),
        "{a:?}"
    );
    let a = ask_hickory(server.addr, "www.example.org. A", Transport::Udp).await;
    assert!(
        answered(&a, &["www.example.org. 30 IN A 192.0.2.80"]),
        "forwarded, TTL capped by cache 30: {a:?}"
    );
    assert_eq!(upstream.queries_for("www.example.org"), 1);
}
