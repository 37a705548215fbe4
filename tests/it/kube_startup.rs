//! Start-up against the API: never answer from an unsynced store (SERVFAIL, not NXDOMAIN, and
//! not ready), serve what there is after `startup_timeout` and say so, and report credentials
//! the API server refuses.

use std::time::{Duration, Instant};

use rollcall_tests::apiserver::{NO_RIGHTS_TOKEN, Resource};

use crate::kube_support::{Cluster, LogCapture, Rollcall, TOKEN};
use crate::support::ask_dig;

#[tokio::test]
async fn never_synced_answers_servfail_until_the_api_server_recovers() {
    let cluster = Cluster::start().await;
    cluster.seed(2);
    cluster.api.fail_requests(Duration::from_millis(1500));
    let rc = Rollcall::start(
        &cluster.corefile(TOKEN, "        startup_timeout 30s"),
        &cluster.dir,
    )
    .await;
    let started = Instant::now();
    for q in [
        "svc-0.apps.svc.cluster.local. A",
        "nothing.apps.svc.cluster.local. A",
        "1.0.96.10.in-addr.arpa. PTR",
    ] {
        let a = rc.ask(q).await;
        assert_eq!(a.rcode, "SERVFAIL", "{q} before sync: {a:?}");
    }
    assert!(!rc.is_ready());
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        rc.ask("nothing.apps.svc.cluster.local. A").await.rcode,
        "SERVFAIL"
    );

    rc.wait_for(
        "svc-0.apps.svc.cluster.local. A",
        "NOERROR",
        None,
        Duration::from_secs(6),
    )
    .await;
    assert!(rc.is_ready());
    assert_eq!(
        rc.ask("nothing.apps.svc.cluster.local. A").await.rcode,
        "NXDOMAIN"
    );
    println!(
        "first answer {:?} after start (API failing for the first 1.5 s)",
        started.elapsed()
    );
    assert!(
        cluster
            .api
            .stats()
            .failed
            .load(std::sync::atomic::Ordering::Relaxed)
            > 0
    );
}

/// CoreDNS's backend error: SERVFAIL with the zone's SOA in the authority section (negative-
/// caching resolvers bound the failure by it), asked with dig over UDP and TCP.
#[tokio::test]
async fn unsynced_servfail_carries_the_zones_soa() {
    let cluster = Cluster::start().await;
    cluster.seed(1);
    cluster.api.fail_requests(Duration::from_secs(60));
    let corefile = format!(
        ".:0 {{\n    bind 127.0.0.1\n    kubernetes cluster.local in-addr.arpa {{\n        kubeconfig {}\n        startup_timeout 60s\n    }}\n    k8s_external example.org\n}}\n",
        cluster.kubeconfig(TOKEN).display()
    );
    let rc = Rollcall::start(&corefile, &cluster.dir).await;
    let addr = rc.addr;
    for (q, soa) in [
        (
            "svc-0.apps.svc.cluster.local. A",
            "cluster.local. 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. SERIAL 7200 1800 86400 5",
        ),
        (
            "1.0.96.10.in-addr.arpa. PTR",
            "in-addr.arpa. 5 IN SOA ns.dns.in-addr.arpa. hostmaster.in-addr.arpa. SERIAL 7200 1800 86400 5",
        ),
        (
            "svc-0.apps.example.org. A",
            "example.org. 5 IN SOA ns1.dns.example.org. hostmaster.dns.example.org. SERIAL 7200 1800 86400 5",
        ),
    ] {
        for tcp in [false, true] {
            let q = q.to_string();
            let a = tokio::task::spawn_blocking(move || ask_dig(addr, &q, tcp))
                .await
                .expect("dig");
            assert_eq!(a.rcode, "SERVFAIL", "{a:?}");
            assert!(a.aa, "{a:?}");
            assert!(a.answer.is_empty(), "{a:?}");
            assert_eq!(a.authority, vec![soa.to_string()], "tcp={tcp}");
        }
    }
    assert!(!rc.is_ready());
}

#[tokio::test]
async fn startup_timeout_serves_what_it_has_and_says_so() {
    let (logs, _guard) = LogCapture::install(tracing::Level::WARN);
    let cluster = Cluster::start().await;
    cluster.seed(2);
    // Pods never list; Services do.
    cluster
        .api
        .fail_resource(Resource::Pods, Duration::from_secs(60));
    let rc = Rollcall::start(
        &cluster.corefile(TOKEN, "        pods verified\n        startup_timeout 1s"),
        &cluster.dir,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        rc.ask("svc-0.apps.svc.cluster.local. A").await.rcode,
        "SERVFAIL"
    );
    let took = rc
        .wait_for(
            "svc-0.apps.svc.cluster.local. A",
            "NOERROR",
            None,
            Duration::from_secs(3),
        )
        .await;
    assert!(
        took >= Duration::from_millis(500),
        "served before startup_timeout: {took:?}"
    );
    assert!(!rc.is_ready(), "still not ready: Pods never listed");
    assert!(
        logs.text().contains("not synced within startup_timeout"),
        "{}",
        logs.text()
    );
}

#[tokio::test]
async fn refused_credentials_leave_the_store_unsynced_and_are_logged() {
    let (logs, _guard) = LogCapture::install(tracing::Level::WARN);
    let cluster = Cluster::start().await;
    cluster.seed(1);
    let bad = Rollcall::start(&cluster.corefile("not-a-valid-token", ""), &cluster.dir).await;
    let forbidden = Rollcall::start(&cluster.corefile(NO_RIGHTS_TOKEN, ""), &cluster.dir).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    for rc in [&bad, &forbidden] {
        assert!(!rc.is_ready());
        assert_eq!(
            rc.ask("svc-0.apps.svc.cluster.local. A").await.rcode,
            "SERVFAIL"
        );
    }
    let stats = cluster.api.stats();
    assert!(
        stats
            .unauthorized
            .load(std::sync::atomic::Ordering::Relaxed)
            > 0
    );
    assert!(stats.forbidden.load(std::sync::atomic::Ordering::Relaxed) > 0);
    // Each source warns once per kind when its failures start; on a loaded machine the two
    // sources get there at different times, so wait (bounded) for both before asserting.
    // Only rollcall's own warnings count (kube's watcher logs the status codes too).
    let ours = || {
        logs.text()
            .lines()
            .filter(|l| l.contains("Kubernetes API request failed"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let logged = |text: &str| {
        (text.contains("401") || text.contains("Unauthorized"))
            && (text.contains("403") || text.contains("forbidden"))
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !logged(&ours()) && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let text = ours();
    assert!(
        text.contains("401") || text.contains("Unauthorized"),
        "no warning names the refused token:\n{}",
        logs.text()
    );
    assert!(
        text.contains("403") || text.contains("forbidden"),
        "no warning names the missing rights:\n{}",
        logs.text()
    );
}

#[tokio::test]
async fn serve_fails_at_start_without_a_usable_connection() {
    let cluster = Cluster::start().await;
    let corefile = "cluster.local:0 {\n    bind 127.0.0.1\n    kubernetes {\n        kubeconfig /nonexistent/kubeconfig\n    }\n}\n";
    let options = corefile::ParseOptions::with_env(|_| None);
    // `check` (setup alone) accepts it: it reads no file and connects nowhere.
    let setup = rollcall::load_corefile_str(corefile, "Corefile", &cluster.dir, &options, 0)
        .expect("setup does not touch the kubeconfig");
    let err =
        match rollcall::server::start(setup, tokio_util::sync::CancellationToken::new(), 1).await {
            Ok(_) => panic!("serving with a missing kubeconfig must fail"),
            Err(e) => e.to_string(),
        };
    assert!(err.contains("/nonexistent/kubeconfig"), "{err}");
}
