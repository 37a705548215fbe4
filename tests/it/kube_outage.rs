//! API server faults, each exercised against rollcall's real kube-rs client: answers stay right
//! through an outage, a restart with a new resourceVersion history (410 Gone → relist, deletions
//! reconciled, no NXDOMAIN for a live name at any moment), dropped and silent watches, stalls and
//! 500s; and how long rollcall takes to be current once the API server is back.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rollcall_tests::apiserver::{Resource, objects};

use crate::kube_support::{Cluster, Rollcall, TOKEN, cluster_ip};

const SYNC: Duration = Duration::from_secs(10);

/// Ask `names` in a loop until `stop`; every answer must be NOERROR with a record.
fn reader(
    rc: &Arc<Rollcall>,
    names: Vec<String>,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<u64> {
    let rc = Arc::clone(rc);
    tokio::spawn(async move {
        let mut asked = 0u64;
        while !stop.load(Ordering::Relaxed) {
            for name in &names {
                let a = rc.ask(&format!("{name} A")).await;
                assert!(
                    a.rcode == "NOERROR" && !a.answer.is_empty(),
                    "{name} must answer through the fault, got {a:?} after {asked} answers"
                );
                asked += 1;
            }
            tokio::task::yield_now().await;
        }
        asked
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_then_new_history_reconciles_deletions_without_an_nxdomain_window() {
    let cluster = Cluster::start().await;
    cluster.seed(20);
    let rc = Arc::new(Rollcall::start(&cluster.corefile(TOKEN, ""), &cluster.dir).await);
    rc.wait_ready(SYNC).await;

    let live: Vec<String> = (0..10)
        .map(|i| format!("svc-{i}.apps.svc.cluster.local."))
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let reading = reader(&rc, live, Arc::clone(&stop));

    // The API server goes away; answers stay.
    cluster.api.stop().await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for i in [0, 15, 19] {
        let a = rc.ask(&format!("svc-{i}.apps.svc.cluster.local. A")).await;
        assert_eq!(a.rcode, "NOERROR", "svc-{i} during the outage: {a:?}");
    }

    // While it is down: deletions and a change, which rollcall cannot see yet.
    for i in 10..20 {
        cluster
            .api
            .delete(Resource::Services, "apps", &format!("svc-{i}"));
    }
    cluster.api.apply(objects::service(
        "apps",
        "svc-5",
        "10.96.222.5".parse().unwrap(),
        80,
    ));
    cluster.add_service("apps", 42);

    // Back, with a new history: the old resourceVersion is gone (410), rollcall relists.
    cluster.api.restart(true).await;
    let back = Instant::now();
    rc.wait_for(
        "svc-42.apps.svc.cluster.local. A",
        "NOERROR",
        None,
        Duration::from_secs(5),
    )
    .await;
    rc.wait_for(
        "svc-5.apps.svc.cluster.local. A",
        "NOERROR",
        Some("10.96.222.5"),
        Duration::from_secs(5),
    )
    .await;
    for i in 10..20 {
        rc.wait_for(
            &format!("svc-{i}.apps.svc.cluster.local. A"),
            "NXDOMAIN",
            None,
            Duration::from_secs(5),
        )
        .await;
    }
    let recovery = back.elapsed();
    println!("outage recovery: current {recovery:?} after the API server answered again");
    assert!(
        recovery < Duration::from_secs(5),
        "recovery took {recovery:?}"
    );
    assert!(
        cluster.api.stats().gone.load(Ordering::Relaxed) > 0,
        "the relist came from a 410"
    );

    stop.store(true, Ordering::Relaxed);
    let asked = reading.await.expect("reader never saw a wrong answer");
    assert!(asked > 100, "the reader ran ({asked} answers)");
}

#[tokio::test]
async fn recovery_time_after_a_long_outage_stays_under_five_seconds() {
    let cluster = Cluster::start().await;
    cluster.seed(5);
    let rc = Rollcall::start(&cluster.corefile(TOKEN, ""), &cluster.dir).await;
    rc.wait_ready(SYNC).await;

    // Long enough for the backoff to reach its cap (2 s) several times over.
    cluster.api.stop().await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    cluster.add_service("apps", 77);
    cluster.api.restart(false).await;
    let back = Instant::now();
    rc.wait_for(
        "svc-77.apps.svc.cluster.local. A",
        "NOERROR",
        None,
        Duration::from_secs(5),
    )
    .await;
    let recovery = back.elapsed();
    println!("recovery after a 6 s outage (same history): {recovery:?}");
    assert!(recovery < Duration::from_secs(5));
}

#[tokio::test]
async fn dropped_and_expired_watches_resume_or_relist() {
    let cluster = Cluster::start().await;
    cluster.seed(3);
    let rc = Rollcall::start(&cluster.corefile(TOKEN, ""), &cluster.dir).await;
    rc.wait_ready(SYNC).await;

    // Dropped: resumes from its resourceVersion, nothing lost.
    let lists_before = cluster.api.stats().lists.load(Ordering::Relaxed);
    cluster.api.drop_watches();
    cluster.add_service("apps", 10);
    rc.wait_for(
        "svc-10.apps.svc.cluster.local. A",
        "NOERROR",
        None,
        Duration::from_secs(3),
    )
    .await;
    assert_eq!(
        cluster.api.stats().lists.load(Ordering::Relaxed),
        lists_before,
        "a dropped watch resumes without a relist"
    );

    // Expired: the next watches get 410 Gone; rollcall relists and catches a change made while
    // its watch was deaf.
    cluster.api.mute_watches(true);
    cluster.api.delete(Resource::Services, "apps", "svc-2");
    // Let the muted watch consume (and lose) the deletion.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        rc.ask("svc-2.apps.svc.cluster.local. A").await.rcode,
        "NOERROR"
    );
    cluster.api.gone_next_watches(4);
    cluster.api.mute_watches(false);
    cluster.api.drop_watches();
    rc.wait_for(
        "svc-2.apps.svc.cluster.local. A",
        "NXDOMAIN",
        None,
        Duration::from_secs(3),
    )
    .await;
    assert!(cluster.api.stats().gone.load(Ordering::Relaxed) >= 1);
    assert!(cluster.api.stats().lists.load(Ordering::Relaxed) > lists_before);
}

#[tokio::test]
async fn a_silent_watch_is_restarted_with_a_relist() {
    let cluster = Cluster::start().await;
    cluster.seed(3);
    let rc = Rollcall::start(&cluster.corefile(TOKEN, ""), &cluster.dir).await;
    rc.wait_ready(SYNC).await;

    // The watch stays connected but says nothing, not even bookmarks: a change is lost to it.
    cluster.api.mute_watches(true);
    cluster.api.delete(Resource::Services, "apps", "svc-1");
    cluster.add_service("apps", 11);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        rc.ask("svc-11.apps.svc.cluster.local. A").await.rcode,
        "NXDOMAIN",
        "the muted watch did not deliver it"
    );
    // Silence limit in tests: 2 s; the restart relists and finds both changes.
    let took = rc
        .wait_for(
            "svc-11.apps.svc.cluster.local. A",
            "NOERROR",
            None,
            Duration::from_secs(5),
        )
        .await;
    rc.wait_for(
        "svc-1.apps.svc.cluster.local. A",
        "NXDOMAIN",
        None,
        Duration::from_secs(1),
    )
    .await;
    println!("silent watch detected and relisted after {took:?}");
    cluster.api.mute_watches(false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalls_and_errors_keep_the_last_state_and_recover() {
    let cluster = Cluster::start().await;
    cluster.seed(3);
    let rc = Arc::new(Rollcall::start(&cluster.corefile(TOKEN, ""), &cluster.dir).await);
    rc.wait_ready(SYNC).await;
    let stop = Arc::new(AtomicBool::new(false));
    let reading = reader(
        &rc,
        vec!["svc-0.apps.svc.cluster.local.".into()],
        Arc::clone(&stop),
    );

    // Stalled: requests are accepted and never answered (the 1 s header timeout ends them).
    cluster.api.stall_requests(Duration::from_secs(2));
    cluster.api.drop_watches();
    cluster.add_service("apps", 20);
    let took = rc
        .wait_for(
            "svc-20.apps.svc.cluster.local. A",
            "NOERROR",
            None,
            Duration::from_secs(6),
        )
        .await;
    println!("current {took:?} after a 2 s stall began");
    assert!(cluster.api.stats().stalled.load(Ordering::Relaxed) > 0);

    // 500s for a while, with the history compacted meanwhile: the relist after recovery finds
    // a change made during the errors.
    // The window is longer than the backoff's 2 s cap, so a reconnect always lands inside it.
    cluster.api.fail_requests(Duration::from_secs(4));
    cluster.api.drop_watches();
    cluster.api.delete(Resource::Services, "apps", "svc-20");
    cluster.api.compact();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        rc.ask("svc-1.apps.svc.cluster.local. A").await.rcode,
        "NOERROR"
    );
    rc.wait_for(
        "svc-20.apps.svc.cluster.local. A",
        "NXDOMAIN",
        None,
        Duration::from_secs(10),
    )
    .await;
    assert!(cluster.api.stats().failed.load(Ordering::Relaxed) > 0);
    assert_eq!(
        rc.ask("svc-1.apps.svc.cluster.local. A").await.answer[0]
            .split_whitespace()
            .last(),
        Some(cluster_ip(1).to_string().as_str())
    );

    stop.store(true, Ordering::Relaxed);
    reading.await.expect("no wrong answer during the faults");
}
