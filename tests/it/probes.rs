//! `health` and `ready`: the probe endpoints a Deployment's liveness and readiness checks use.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::http::request;
use crate::support::scratch_dir;

fn listener(running: &rollcall::server::Running, what: &str) -> SocketAddr {
    running
        .other_listeners
        .iter()
        .find(|(w, _)| *w == what)
        .map(|(_, a)| *a)
        .unwrap_or_else(|| panic!("{what} bound no listener"))
}

async fn start(corefile: &str) -> (rollcall::server::Running, CancellationToken) {
    let dir = scratch_dir("probes");
    std::fs::create_dir_all(dir.join("cluster")).unwrap();
    std::fs::write(
        dir.join("cluster/svc.yaml"),
        "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: apps}\nspec: {clusterIP: 10.96.0.1}\n",
    )
    .unwrap();
    let options = corefile::ParseOptions::with_env(|_| None);
    let setup = rollcall::load_corefile_str(corefile, "Corefile", &dir, &options, 0).unwrap();
    let shutdown = CancellationToken::new();
    let running = rollcall::server::start(setup, shutdown.clone(), 1)
        .await
        .unwrap();
    (running, shutdown)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_answers_and_ready_follows_sync_and_lameduck() {
    let (running, shutdown) = start(
        "cluster.local {\n bind 127.0.0.1\n health 127.0.0.1:0 {\n  lameduck 2s\n }\n ready 127.0.0.1:0\n kubernetes {\n  manifests cluster\n }\n}\n",
    )
    .await;
    assert_eq!(running.lameduck, Duration::from_secs(2));
    let health = listener(&running, "health");
    let ready = listener(&running, "ready");
    let r = request(health, "GET", "/health", &[], b"").await;
    assert_eq!((r.status, r.text().as_str()), (200, "OK"));
    assert_eq!(request(health, "GET", "/nope", &[], b"").await.status, 404);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = request(ready, "GET", "/ready", &[], b"").await;
        if r.status == 200 {
            break;
        }
        assert_eq!(r.status, 503);
        assert!(Instant::now() < deadline, "never ready: {}", r.text());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // During the lameduck /ready drains while /health stays up.
    running
        .draining
        .store(true, std::sync::atomic::Ordering::Release);
    assert_eq!(request(ready, "GET", "/ready", &[], b"").await.status, 503);
    assert_eq!(
        request(health, "GET", "/health", &[], b"").await.status,
        200
    );
    shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_names_the_plugins_that_are_not_synced() {
    // An API server that is not there: the kubernetes plugin never syncs.
    let (running, shutdown) = start(
        "cluster.local {\n bind 127.0.0.1\n ready 127.0.0.1:0\n kubernetes {\n  endpoint https://127.0.0.1:9\n  startup_timeout 60s\n }\n}\n",
    )
    .await;
    let r = request(listener(&running, "ready"), "GET", "/ready", &[], b"").await;
    assert_eq!(r.status, 503);
    assert!(r.text().contains("not ready: kubernetes"), "{}", r.text());
    shutdown.cancel();
}
