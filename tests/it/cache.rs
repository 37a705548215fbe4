//! The cache in front of an authoritative server (a second rollcall answering from the same
//! manifests with its kubernetes plugin, reached through `forward`), over real UDP sockets with
//! hickory's client: answers in a cached zone outlive a change on disk until their TTL, with the
//! TTL counting down; `disable success|denial cluster.local` keeps the cluster zone live; an
//! NXDOMAIN is cached for the SOA's negative TTL. (The kubernetes plugin's own answers are never
//! cached, whatever the Corefile says: `cache_live.rs`.)

use std::time::{Duration, Instant};

use rollcall::contract::Transport;

use crate::support::{
    Answer, TestServer, ask_hickory, scratch_dir, service_manifest, write_atomically,
};

/// One block, two zones: `cached.local` is cached (forwarded to [`AUTHORITY`]), `cluster.local`
/// is not (kubeadm's `disable` lines; its kubernetes answers are live anyway). kubernetes
/// answers with TTL 3 (also the SOA minimum); the floor is lowered to 1 s so the TTL is the
/// source's.
fn corefile(authority: std::net::SocketAddr) -> String {
    format!(
        "cluster.local cached.local {{
    bind 127.0.0.1
    cache 3600 {{
        success 1024 3600 1
        denial 1024 1800 1
        disable success cluster.local
        disable denial cluster.local
    }}
    kubernetes cluster.local {{
        manifests cluster
        ttl 3
    }}
    forward cached.local {authority}
}}
"
    )
}

/// The authoritative server for `cached.local`, reading the same manifests.
const AUTHORITY: &str = "cached.local {
    bind 127.0.0.1
    kubernetes cached.local {
        manifests cluster
        ttl 3
    }
}
";

const TTL: Duration = Duration::from_secs(3);

/// The front server, the cluster directory, and the authoritative server behind it.
async fn start(files: &[(&str, String)]) -> (TestServer, std::path::PathBuf, TestServer) {
    let dir = scratch_dir("cache");
    let cluster = dir.join("cluster");
    std::fs::create_dir_all(&cluster).unwrap();
    for (name, text) in files {
        std::fs::write(cluster.join(name), text).unwrap();
    }
    let authority = TestServer::start_text(AUTHORITY, &dir).await;
    let front = TestServer::start_text(&corefile(authority.addr), &dir).await;
    (front, cluster, authority)
}

async fn ask(server: &TestServer, q: &str) -> Answer {
    ask_hickory(server.addr, q, Transport::Udp).await
}

/// Polls until `want` holds, for at most `limit`; returns the answer and when it came.
async fn wait_for(
    server: &TestServer,
    q: &str,
    limit: Duration,
    want: impl Fn(&Answer) -> bool,
) -> (Answer, Instant) {
    let start = Instant::now();
    loop {
        let got = ask(server, q).await;
        if want(&got) {
            return (got, Instant::now());
        }
        assert!(
            start.elapsed() < limit,
            "{q}: not answered as wanted within {limit:?}; last {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The TTL of the first record of a rendered section line (`NAME TTL IN TYPE DATA`).
fn ttl_of(line: &str) -> u32 {
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn has_ip(ip: &'static str) -> impl Fn(&Answer) -> bool {
    move |a| a.rcode == "NOERROR" && a.answer.iter().any(|r| r.ends_with(ip))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_answer_outlives_a_change_until_its_ttl_counts_down() {
    let (server, cluster, _authority) =
        start(&[("web.yaml", service_manifest("web", "10.96.1.1"))]).await;
    let cached = "web.apps.svc.cached.local. A";
    let live = "web.apps.svc.cluster.local. A";

    let sent = Instant::now();
    let first = ask(&server, cached).await;
    assert_eq!(
        first.answer,
        vec!["web.apps.svc.cached.local. 3 IN A 10.96.1.1"]
    );
    assert!(has_ip("10.96.1.1")(&ask(&server, live).await));

    write_atomically(
        &cluster.join("web.yaml"),
        &service_manifest("web", "10.96.1.2"),
    );
    // The disabled zone is live: the edit shows as soon as the store has it.
    wait_for(&server, live, Duration::from_secs(2), has_ip("10.96.1.2")).await;
    assert!(
        sent.elapsed() < TTL - Duration::from_millis(500),
        "the reload took too long to test the cache: {:?}",
        sent.elapsed()
    );

    // The cached zone still answers the old address, its TTL counting down.
    tokio::time::sleep_until((sent + Duration::from_millis(1100)).into()).await;
    let still = ask(&server, cached).await;
    assert!(has_ip("10.96.1.1")(&still), "{still:?}");
    let ttl = ttl_of(&still.answer[0]);
    assert!((1..=2).contains(&ttl), "TTL counts down: {still:?}");

    // Once the entry expires, the new answer appears, with a full TTL again.
    let (fresh, at) = wait_for(&server, cached, Duration::from_secs(5), has_ip("10.96.1.2")).await;
    assert!(
        at.duration_since(sent) >= TTL - Duration::from_millis(50),
        "the cached answer was replaced after {:?}, before its TTL",
        at.duration_since(sent)
    );
    assert_eq!(ttl_of(&fresh.answer[0]), 3);
    assert!(
        fresh.aa,
        "a miss passes kubernetes' authoritative answer on"
    );
    let hit = ask(&server, cached).await;
    assert!(has_ip("10.96.1.2")(&hit));
    assert!(
        !hit.aa,
        "a cached answer is not authoritative (as in CoreDNS)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nxdomain_is_cached_for_the_soa_minimum_while_cluster_denials_stay_live() {
    let (server, cluster, _authority) =
        start(&[("web.yaml", service_manifest("web", "10.96.1.1"))]).await;
    let cached = "late.apps.svc.cached.local. A";
    let live = "late.apps.svc.cluster.local. A";

    let sent = Instant::now();
    let first = ask(&server, cached).await;
    assert_eq!(first.rcode, "NXDOMAIN");
    // The SOA's minimum (kubernetes `ttl 3`), far below the denial cap of 1800 s.
    assert_eq!(first.authority.len(), 1, "{first:?}");
    assert!(
        first.authority[0].starts_with("cached.local. 3 IN SOA"),
        "{first:?}"
    );
    assert_eq!(ask(&server, live).await.rcode, "NXDOMAIN");

    std::fs::write(
        cluster.join("late.yaml"),
        service_manifest("late", "10.96.1.9"),
    )
    .unwrap();
    wait_for(&server, live, Duration::from_secs(2), has_ip("10.96.1.9")).await;
    assert!(sent.elapsed() < TTL - Duration::from_millis(500));

    tokio::time::sleep_until((sent + Duration::from_millis(1100)).into()).await;
    let still = ask(&server, cached).await;
    assert_eq!(still.rcode, "NXDOMAIN", "{still:?}");
    let ttl = ttl_of(&still.authority[0]);
    assert!((1..=2).contains(&ttl), "the SOA TTL counts down: {still:?}");

    let (_, at) = wait_for(&server, cached, Duration::from_secs(5), has_ip("10.96.1.9")).await;
    assert!(
        at.duration_since(sent) >= TTL - Duration::from_millis(50),
        "the cached NXDOMAIN went after {:?}, before its TTL",
        at.duration_since(sent)
    );
}

/// A popular external name expiring: twenty clients asking at once over UDP send one query
/// upstream; the rest wait for it and are answered from the cache.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_misses_go_upstream_once() {
    use rollcall_tests::upstream::{Behavior, TestUpstream};
    let up = TestUpstream::start().await.expect("test upstream binds");
    up.add_a("www.example.org", &["192.0.2.10".parse().expect("ip")]);
    up.set_behavior(Behavior::Delay(Duration::from_millis(300)));
    let corefile = format!(
        ".:0 {{\n    bind 127.0.0.1\n    cache 30\n    forward . {}\n}}\n",
        up.addr
    );
    let server = TestServer::start_text(&corefile, &scratch_dir("cache-coalesce")).await;
    let asks = (0..20).map(|_| ask_hickory(server.addr, "www.example.org. A", Transport::Udp));
    let answers = futures_util::future::join_all(asks).await;
    for a in &answers {
        // TTL 30 (the cache's cap), counting down: 29 if a second went by.
        let ok = matches!(
            a.answer.as_slice(),
            [one] if one == "www.example.org. 30 IN A 192.0.2.10" || one == "www.example.org. 29 IN A 192.0.2.10"
        );
        assert!(ok, "{a:?}");
    }
    assert_eq!(
        up.queries_for("www.example.org"),
        1,
        "one query went upstream"
    );
}
