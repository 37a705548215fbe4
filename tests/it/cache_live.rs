//! `cache` never serves cluster data stale, with kubeadm's Corefile shape (the cache disabled
//! for `cluster.local` but not for the reverse zones), over real UDP sockets with hickory's
//! client and a fake upstream that caches its NXDOMAINs (SOA negative TTL 30 s):
//! a deleted Service's ClusterIP PTR stops answering at once; a reverse name forwarded while its
//! endpoint was not ready answers the endpoint's PTR as soon as it is ready, although the
//! upstream's NXDOMAIN for it was cached (and was served from the cache until then).

use std::time::{Duration, Instant};

use rollcall::contract::Transport;
use rollcall_tests::upstream::TestUpstream;

use crate::support::{
    Answer, TestServer, ask_hickory, scratch_dir, service_manifest, write_atomically,
};

/// kubeadm's Corefile, with the manifests source and a fake upstream.
fn corefile(upstream: std::net::SocketAddr) -> String {
    format!(
        ".:0 {{
    bind 127.0.0.1
    cache 30 {{
        disable success cluster.local
        disable denial cluster.local
    }}
    kubernetes cluster.local in-addr.arpa ip6.arpa {{
        manifests cluster
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 30
    }}
    forward . {upstream}
}}
"
    )
}

/// How long a change in the store may take to show in answers: the manifests watch's
/// debounce and reload, on a busy machine. Far below the 30 s a cached entry would live.
const CHANGE_SHOWS_WITHIN: Duration = Duration::from_secs(5);

async fn start(files: &[(&str, String)]) -> (TestServer, TestUpstream, std::path::PathBuf) {
    let up = TestUpstream::start().await.expect("test upstream binds");
    up.set_negative_soa(30);
    let dir = scratch_dir("cache-live");
    let cluster = dir.join("cluster");
    std::fs::create_dir_all(&cluster).unwrap();
    for (name, text) in files {
        std::fs::write(cluster.join(name), text).unwrap();
    }
    let server = TestServer::start_text(&corefile(up.addr), &dir).await;
    (server, up, cluster)
}

async fn ask(server: &TestServer, q: &str) -> Answer {
    ask_hickory(server.addr, q, Transport::Udp).await
}

/// Polls until `want` holds, for at most `limit`.
async fn wait_for(server: &TestServer, q: &str, limit: Duration, want: impl Fn(&Answer) -> bool) {
    let start = Instant::now();
    loop {
        let got = ask(server, q).await;
        if want(&got) {
            return;
        }
        assert!(
            start.elapsed() < limit,
            "{q}: not answered as wanted within {limit:?}; last {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn ptr_to(target: &'static str) -> impl Fn(&Answer) -> bool {
    move |a| a.rcode == "NOERROR" && a.answer.iter().any(|r| r.ends_with(target))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_services_clusterip_ptr_stops_answering_at_once() {
    let (server, up, cluster) = start(&[("web.yaml", service_manifest("web", "10.96.1.1"))]).await;
    let q = "1.1.96.10.in-addr.arpa. PTR";
    for _ in 0..2 {
        // The second ask would be a cache hit if kubernetes' answer had been cached.
        let got = ask(&server, q).await;
        assert!(ptr_to("web.apps.svc.cluster.local.")(&got), "{got:?}");
        assert!(got.aa, "kubernetes answers, not the cache: {got:?}");
    }

    std::fs::remove_file(cluster.join("web.yaml")).unwrap();
    wait_for(&server, q, CHANGE_SHOWS_WITHIN, |a| a.rcode == "NXDOMAIN").await;
    assert_eq!(
        up.queries_for("1.1.96.10.in-addr.arpa"),
        1,
        "once gone from the store, the name falls through to the upstream"
    );
}

const HEADLESS: &str = "apiVersion: v1
kind: Service
metadata: {name: db, namespace: apps}
spec:
  clusterIP: None
  ports: [{name: sql, port: 5432}]
";

fn endpoints(ready: bool) -> String {
    format!(
        "apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {{name: db-1, namespace: apps, labels: {{kubernetes.io/service-name: db}}}}
addressType: IPv4
ports: [{{name: sql, port: 5432, protocol: TCP}}]
endpoints:
  - {{addresses: [10.244.1.5], conditions: {{ready: {ready}}}}}
"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_upstream_nxdomain_gives_way_to_an_endpoint_once_ready() {
    let (server, up, cluster) = start(&[
        ("db.yaml", HEADLESS.to_string()),
        ("db-slice.yaml", endpoints(false)),
    ])
    .await;
    let q = "5.1.244.10.in-addr.arpa. PTR";
    let upstream_name = "5.1.244.10.in-addr.arpa";

    // Not ready: kubernetes passes the name on, the upstream denies it, the cache keeps that.
    let first = ask(&server, q).await;
    assert_eq!(first.rcode, "NXDOMAIN", "{first:?}");
    let second = ask(&server, q).await;
    assert_eq!(second.rcode, "NXDOMAIN", "{second:?}");
    assert_eq!(
        up.queries_for(upstream_name),
        1,
        "the forwarded denial is cached while the store is unchanged"
    );

    write_atomically(&cluster.join("db-slice.yaml"), &endpoints(true));
    wait_for(
        &server,
        q,
        CHANGE_SHOWS_WITHIN,
        ptr_to(".db.apps.svc.cluster.local."),
    )
    .await;
    // And it keeps answering from the store (never from the cache).
    let got = ask(&server, q).await;
    assert!(ptr_to(".db.apps.svc.cluster.local.")(&got), "{got:?}");
    assert!(got.aa, "{got:?}");
}

/// k3s's shape: `hosts NodeHosts { fallthrough }` before `forward`, and `cache 30`. A node name
/// asked before the node joined is denied upstream and that denial cached; once NodeHosts lists
/// the node (the next reload), its address answers, though the denial had 30 s to live.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_upstream_nxdomain_gives_way_to_a_name_hosts_now_lists() {
    let up = TestUpstream::start().await.expect("test upstream binds");
    up.set_negative_soa(30);
    let dir = scratch_dir("cache-live-hosts");
    std::fs::write(dir.join("NodeHosts"), "10.0.0.11 node1\n").unwrap();
    let corefile = format!(
        ".:0 {{
    bind 127.0.0.1
    cache 30
    hosts NodeHosts {{
        reload 200ms
        fallthrough
    }}
    forward . {}
}}
",
        up.addr
    );
    let server = TestServer::start_text(&corefile, &dir).await;
    let q = "node2. A";
    for _ in 0..2 {
        assert_eq!(ask(&server, q).await.rcode, "NXDOMAIN");
    }
    assert_eq!(up.queries_for("node2"), 1, "the denial is cached");

    write_atomically(&dir.join("NodeHosts"), "10.0.0.11 node1\n10.0.0.12 node2\n");
    wait_for(&server, q, CHANGE_SHOWS_WITHIN, |a| {
        a.rcode == "NOERROR" && a.answer.iter().any(|r| r.ends_with("10.0.0.12"))
    })
    .await;
}
