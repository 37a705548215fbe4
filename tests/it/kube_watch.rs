//! The Kubernetes API source through the test API server: objects created, changed and deleted
//! change the answers; `namespaces`, `labels`, `pods verified` and `noendpoints` narrow what is
//! watched; connection options (kubeconfig, endpoint + tls); a broken object is skipped.

use std::time::Duration;

use rollcall_tests::apiserver::{Resource, objects};

use crate::kube_support::{Cluster, LogCapture, Rollcall, TOKEN, cluster_ip, pod_ip};

const SYNC: Duration = Duration::from_secs(10);
/// Generous: the real figure (printed) is a few milliseconds.
const PROPAGATION: Duration = Duration::from_secs(2);

#[tokio::test]
async fn changes_reach_answers_quickly() {
    let cluster = Cluster::start().await;
    cluster.seed(3);
    let rc = Rollcall::start(&cluster.corefile(TOKEN, ""), &cluster.dir).await;
    let synced = rc.wait_ready(SYNC).await;
    println!("initial sync: {synced:?}");

    let a = rc.ask("svc-1.apps.svc.cluster.local. A").await;
    assert_eq!(a.rcode, "NOERROR", "{a:?}");
    assert!(a.answer[0].ends_with(&cluster_ip(1).to_string()), "{a:?}");
    // Over a real socket too.
    let a = crate::support::ask_hickory(
        rc.addr,
        "svc-1.apps.svc.cluster.local. A",
        rollcall::contract::Transport::Udp,
    )
    .await;
    assert!(a.answer[0].ends_with(&cluster_ip(1).to_string()), "{a:?}");

    // Create.
    cluster.add_service("apps", 7);
    let created = rc
        .wait_for(
            "svc-7.apps.svc.cluster.local. A",
            "NOERROR",
            Some(&cluster_ip(7).to_string()),
            PROPAGATION,
        )
        .await;
    // Endpoint names follow the slice.
    rc.wait_for(
        "_http._tcp.svc-7.apps.svc.cluster.local. SRV",
        "NOERROR",
        Some("svc-7.apps.svc.cluster.local."),
        PROPAGATION,
    )
    .await;

    // Update: a new ClusterIP.
    let new_ip = "10.96.200.7";
    let mut svc = objects::service("apps", "svc-7", new_ip.parse().unwrap(), 80);
    svc["metadata"]["labels"]["version"] = "2".into();
    cluster.api.apply(svc);
    let updated = rc
        .wait_for(
            "svc-7.apps.svc.cluster.local. A",
            "NOERROR",
            Some(new_ip),
            PROPAGATION,
        )
        .await;

    // Headless: answers follow the EndpointSlice's ready addresses.
    cluster
        .api
        .apply(objects::headless_service("data", "db", 5432));
    cluster.api.apply(objects::endpoint_slice(
        "data",
        "db",
        "db-1",
        &[("db-0".into(), pod_ip(100)), ("db-1".into(), pod_ip(101))],
        5432,
    ));
    rc.wait_for(
        "db.data.svc.cluster.local. A",
        "NOERROR",
        Some(&pod_ip(101).to_string()),
        PROPAGATION,
    )
    .await;
    cluster.api.apply(objects::endpoint_slice(
        "data",
        "db",
        "db-1",
        &[("db-0".into(), pod_ip(100))],
        5432,
    ));
    let start = std::time::Instant::now();
    loop {
        let a = rc.ask("db.data.svc.cluster.local. A").await;
        if a.answer.len() == 1 {
            break;
        }
        assert!(
            start.elapsed() < PROPAGATION,
            "endpoint removal not seen: {a:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    // Delete.
    assert!(cluster.api.delete(Resource::Services, "apps", "svc-7"));
    let deleted = rc
        .wait_for(
            "svc-7.apps.svc.cluster.local. A",
            "NXDOMAIN",
            None,
            PROPAGATION,
        )
        .await;
    // A Namespace deleted with nothing left in it: NXDOMAIN for the namespace.
    cluster.api.delete(Resource::EndpointSlices, "data", "db-1");
    cluster.api.delete(Resource::Services, "data", "db");
    cluster.api.delete(Resource::Namespaces, "", "data");
    rc.wait_for("data.svc.cluster.local. A", "NXDOMAIN", None, PROPAGATION)
        .await;
    println!(
        "propagation over the test API server: create {created:?}, update {updated:?}, delete {deleted:?}"
    );
}

#[tokio::test]
async fn one_namespace_uses_the_namespaced_api_and_labels_the_selector() {
    let cluster = Cluster::start().await;
    cluster.seed(2);
    cluster.add_service("data", 50);
    let mut labelled = objects::service("apps", "canary", cluster_ip(60), 80);
    labelled["metadata"]["labels"]["track"] = "canary".into();
    cluster.api.apply(labelled);
    let rc = Rollcall::start(
        &cluster.corefile(
            TOKEN,
            "        namespaces apps\n        labels track!=canary",
        ),
        &cluster.dir,
    )
    .await;
    rc.wait_ready(SYNC).await;
    assert_eq!(
        rc.ask("svc-1.apps.svc.cluster.local. A").await.rcode,
        "NOERROR"
    );
    assert_eq!(
        rc.ask("svc-50.data.svc.cluster.local. A").await.rcode,
        "NXDOMAIN"
    );
    assert_eq!(
        rc.ask("canary.apps.svc.cluster.local. A").await.rcode,
        "NXDOMAIN"
    );

    let requests = cluster.api.requests();
    let lists = |path: &str| {
        requests
            .iter()
            .any(|r| r.starts_with(&format!("GET {path}?")))
    };
    assert!(lists("/api/v1/namespaces/apps/services"), "{requests:#?}");
    assert!(
        lists("/apis/discovery.k8s.io/v1/namespaces/apps/endpointslices"),
        "{requests:#?}"
    );
    assert!(
        !lists("/api/v1/services"),
        "no cluster-wide Service watch: {requests:#?}"
    );
    assert!(
        requests
            .iter()
            .filter(|r| r.contains("/services?"))
            .all(|r| r.contains("labelSelector=track")),
        "the label selector goes to the API server: {requests:#?}"
    );
    assert!(
        !requests.iter().any(|r| r.contains("/pods")),
        "no pod watch without `pods verified`"
    );

    // An object whose labels stop matching disappears; matching again brings it back.
    let mut svc = objects::service("apps", "svc-1", cluster_ip(1), 80);
    svc["metadata"]["labels"]["track"] = "canary".into();
    cluster.api.apply(svc);
    rc.wait_for(
        "svc-1.apps.svc.cluster.local. A",
        "NXDOMAIN",
        None,
        Duration::from_secs(2),
    )
    .await;
    cluster
        .api
        .apply(objects::service("apps", "svc-1", cluster_ip(1), 80));
    rc.wait_for(
        "svc-1.apps.svc.cluster.local. A",
        "NOERROR",
        None,
        Duration::from_secs(2),
    )
    .await;
}

#[tokio::test]
async fn pods_verified_watches_pods_and_noendpoints_skips_slices() {
    let cluster = Cluster::start().await;
    cluster.seed(1);
    cluster.api.apply(objects::pod(
        "apps",
        "web-0",
        "10.1.9.9".parse().unwrap(),
        "web",
    ));
    let rc = Rollcall::start(
        &cluster.corefile(TOKEN, "        pods verified\n        noendpoints"),
        &cluster.dir,
    )
    .await;
    rc.wait_ready(SYNC).await;
    let a = rc.ask("10-1-9-9.apps.pod.cluster.local. A").await;
    assert_eq!(a.rcode, "NOERROR", "{a:?}");
    assert_eq!(
        rc.ask("10-1-9-8.apps.pod.cluster.local. A").await.rcode,
        "NXDOMAIN"
    );
    cluster.api.apply(objects::pod(
        "apps",
        "web-1",
        "10.1.9.8".parse().unwrap(),
        "web",
    ));
    rc.wait_for(
        "10-1-9-8.apps.pod.cluster.local. A",
        "NOERROR",
        None,
        PROPAGATION,
    )
    .await;
    cluster.api.delete(Resource::Pods, "apps", "web-0");
    rc.wait_for(
        "10-1-9-9.apps.pod.cluster.local. A",
        "NXDOMAIN",
        None,
        PROPAGATION,
    )
    .await;

    let requests = cluster.api.requests();
    assert!(requests.iter().any(|r| r.starts_with("GET /api/v1/pods?")));
    assert!(
        !requests.iter().any(|r| r.contains("endpointslices")),
        "noendpoints: no EndpointSlice watch: {requests:#?}"
    );
}

#[tokio::test]
async fn endpoint_with_client_certificate() {
    let cluster = Cluster::start().await;
    cluster.seed(1);
    let files = cluster.api.pki().write(&cluster.dir).unwrap();
    let corefile = format!(
        "cluster.local:0 {{\n    bind 127.0.0.1\n    kubernetes {{\n        endpoint {}\n        tls {} {} {}\n    }}\n}}\n",
        cluster.api.url(),
        files.client_cert.display(),
        files.client_key.display(),
        files.ca.display()
    );
    let rc = Rollcall::start(&corefile, &cluster.dir).await;
    rc.wait_ready(SYNC).await;
    assert_eq!(
        rc.ask("svc-0.apps.svc.cluster.local. A").await.rcode,
        "NOERROR"
    );
    assert_eq!(
        cluster
            .api
            .stats()
            .unauthorized
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
}

#[tokio::test]
async fn a_broken_object_is_skipped_and_logged() {
    let (logs, _guard) = LogCapture::install(tracing::Level::WARN);
    let cluster = Cluster::start().await;
    cluster.seed(2);
    let mut broken = objects::service("apps", "broken", cluster_ip(9), 80);
    broken["spec"]["clusterIP"] = "not-an-ip".into();
    broken["spec"]["clusterIPs"] = serde_json::json!(["not-an-ip"]);
    cluster.api.apply(broken);
    let rc = Rollcall::start(&cluster.corefile(TOKEN, ""), &cluster.dir).await;
    rc.wait_ready(SYNC).await;
    assert_eq!(
        rc.ask("svc-1.apps.svc.cluster.local. A").await.rcode,
        "NOERROR"
    );
    assert_eq!(
        rc.ask("broken.apps.svc.cluster.local. A").await.rcode,
        "NXDOMAIN"
    );

    // A broken update keeps the last good version; later good objects still arrive.
    let mut svc = objects::service("apps", "svc-1", cluster_ip(1), 80);
    svc["spec"]["ports"][0]["port"] = 0.into();
    cluster.api.apply(svc);
    cluster.add_service("apps", 30);
    rc.wait_for(
        "svc-30.apps.svc.cluster.local. A",
        "NOERROR",
        None,
        PROPAGATION,
    )
    .await;
    assert_eq!(
        rc.ask("svc-1.apps.svc.cluster.local. A").await.rcode,
        "NOERROR"
    );

    let text = logs.text();
    assert!(
        text.contains("object skipped") && text.contains("broken") && text.contains("not-an-ip"),
        "{text}"
    );
    assert!(text.contains("spec.ports[0].port"), "{text}");
}
