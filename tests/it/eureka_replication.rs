//! Eureka peer replication between rollcall servers (`eureka ZONE { peers URL... }`), over
//! their real HTTP APIs: a change made at one node (register, heartbeat, status override,
//! cancel) reaches the other within a batch interval, and answers by DNS there too; a node
//! started later copies a peer's registry; a peer that lost an instance gets it back from the
//! next heartbeat. Each Corefile lists every node, itself included, as a StatefulSet's would.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use crate::eureka_dns::{eureka_addr, register_json};
use crate::http::request;
use crate::support::{TestServer, ask_in_process, scratch_dir};

fn free_port() -> u16 {
    std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

async fn node(port: u16, peers: &[u16]) -> TestServer {
    node_with(port, peers, "").await
}

/// A node whose `eureka` stanza also has `extra` lines.
async fn node_with(port: u16, peers: &[u16], extra: &str) -> TestServer {
    let urls: Vec<String> = peers
        .iter()
        .map(|p| format!("http://127.0.0.1:{p}/eureka"))
        .collect();
    let corefile = format!(
        ".:0 {{\n    bind 127.0.0.1\n    eureka eureka.local {{\n        listen 127.0.0.1:{port}\n        peers {}\n{extra}\n    }}\n}}\n",
        urls.join(" ")
    );
    TestServer::start_text(&corefile, &scratch_dir("eureka-peers")).await
}

fn instance(app: &str, id: &str, ip: &str) -> serde_json::Value {
    serde_json::json!({
        "instanceId": id, "hostName": id, "app": app, "ipAddr": ip, "status": "UP",
        "port": {"$": 8080, "@enabled": "true"},
        "dataCenterInfo": {"@class": "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo", "name": "MyOwn"},
    })
}

/// The instance as `addr` serves it (JSON), or the HTTP status when it does not.
async fn fetch(addr: SocketAddr, app: &str, id: &str) -> Result<serde_json::Value, u16> {
    let r = request(
        addr,
        "GET",
        &format!("/eureka/apps/{app}/{id}"),
        &[("Accept", "application/json")],
        b"",
    )
    .await;
    if r.status != 200 {
        return Err(r.status);
    }
    serde_json::from_slice(&r.body).map_err(|_| 0)
}

/// Wait (bounded) until `check` holds for what `addr` serves.
async fn eventually(
    what: &str,
    addr: SocketAddr,
    app: &str,
    id: &str,
    check: impl Fn(&Result<serde_json::Value, u16>) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let got = fetch(addr, app, id).await;
        if check(&got) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: after 5 s {addr} serves {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn status_of(v: &Result<serde_json::Value, u16>) -> Option<&str> {
    v.as_ref().ok()?.get("instance")?.get("status")?.as_str()
}

fn last_renewal(v: &Result<serde_json::Value, u16>) -> u64 {
    v.as_ref()
        .ok()
        .and_then(|v| v["instance"]["leaseInfo"]["lastRenewalTimestamp"].as_u64())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_at_one_node_reach_its_peers() {
    let (pa, pb) = (free_port(), free_port());
    let a = node(pa, &[pa, pb]).await;
    let b = node(pb, &[pa, pb]).await;
    let (ea, eb) = (eureka_addr(&a), eureka_addr(&b));

    // Register at A: B serves it, and answers it by DNS.
    assert_eq!(
        register_json(ea, "ORDERS", &instance("ORDERS", "orders-1", "10.1.0.1")).await,
        204
    );
    eventually("register", eb, "ORDERS", "orders-1", |v| {
        status_of(v) == Some("UP")
    })
    .await;
    let dns = ask_in_process(&b, "orders.eureka.local. A").await;
    assert_eq!(
        dns.answer,
        vec!["orders.eureka.local. 5 IN A 10.1.0.1"],
        "{dns:?}"
    );

    // A heartbeat at A renews B's lease too.
    let before = last_renewal(&fetch(eb, "ORDERS", "orders-1").await);
    tokio::time::sleep(Duration::from_millis(20)).await;
    let hb = request(
        ea,
        "PUT",
        "/eureka/apps/ORDERS/orders-1?status=UP",
        &[],
        b"",
    )
    .await;
    assert_eq!(hb.status, 200);
    eventually("heartbeat", eb, "ORDERS", "orders-1", |v| {
        last_renewal(v) > before
    })
    .await;

    // A status override and its removal.
    let r = request(
        ea,
        "PUT",
        "/eureka/apps/ORDERS/orders-1/status?value=OUT_OF_SERVICE",
        &[],
        b"",
    )
    .await;
    assert_eq!(r.status, 200);
    eventually("override", eb, "ORDERS", "orders-1", |v| {
        status_of(v) == Some("OUT_OF_SERVICE")
    })
    .await;
    let r = request(
        ea,
        "DELETE",
        "/eureka/apps/ORDERS/orders-1/status?value=UP",
        &[],
        b"",
    )
    .await;
    assert_eq!(r.status, 200);
    eventually("override removed", eb, "ORDERS", "orders-1", |v| {
        status_of(v) == Some("UP")
    })
    .await;

    // Replication goes both ways, and a cancel is replicated.
    assert_eq!(
        register_json(eb, "BILLING", &instance("BILLING", "billing-1", "10.2.0.1")).await,
        204
    );
    eventually("register at B", ea, "BILLING", "billing-1", |v| v.is_ok()).await;
    let r = request(ea, "DELETE", "/eureka/apps/ORDERS/orders-1", &[], b"").await;
    assert_eq!(r.status, 200);
    eventually("cancel", eb, "ORDERS", "orders-1", |v| *v == Err(404)).await;

    // A peer that lost an instance (here: A got it as a peer's change, so B never did) gets it
    // back from the next client heartbeat at A: B answers the replicated heartbeat 404, A
    // replicates a registration.
    let body = serde_json::json!({"instance": instance("CART", "cart-1", "10.3.0.1")}).to_string();
    let r = request(
        ea,
        "POST",
        "/eureka/apps/CART",
        &[
            ("Content-Type", "application/json"),
            ("x-netflix-discovery-replication", "true"),
        ],
        body.as_bytes(),
    )
    .await;
    assert_eq!(r.status, 204);
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(
        fetch(eb, "CART", "cart-1").await.err(),
        Some(404),
        "a peer's change is not replicated again"
    );
    let hb = request(ea, "PUT", "/eureka/apps/CART/cart-1?status=UP", &[], b"").await;
    assert_eq!(hb.status, 200);
    eventually("repaired by heartbeat", eb, "CART", "cart-1", |v| v.is_ok()).await;

    // A node started later copies its peer's registry at start.
    let pc = free_port();
    let c = node(pc, &[pa]).await;
    let ec = eureka_addr(&c);
    eventually("sync up", ec, "BILLING", "billing-1", |v| {
        status_of(v) == Some("UP")
    })
    .await;
    eventually("sync up", ec, "CART", "cart-1", |v| v.is_ok()).await;

    // Bad batches are refused with 400, and nothing is applied.
    let r = request(
        eb,
        "POST",
        "/eureka/peerreplication/batch/",
        &[("Content-Type", "application/json")],
        b"{\"replicationList\": 7}",
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text());
}

/// With `auth`, writes need credentials, replication included: each node presents its own
/// file's first credential to its peers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_authenticate_with_the_shared_secret() {
    let dir = scratch_dir("eureka-peer-auth");
    let secret = dir.join("users");
    std::fs::write(
        &secret,
        "# replicas and clients\nregistry:s3cret\nother:pw\n",
    )
    .unwrap();
    let extra = format!("        auth basic {}", secret.display());
    let (pa, pb) = (free_port(), free_port());
    let a = node_with(pa, &[pa, pb], &extra).await;
    let b = node_with(pb, &[pa, pb], &extra).await;
    let (ea, eb) = (eureka_addr(&a), eureka_addr(&b));
    let body =
        serde_json::json!({"instance": instance("ORDERS", "orders-1", "10.1.0.1")}).to_string();
    let anonymous = request(
        ea,
        "POST",
        "/eureka/apps/ORDERS",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
    .await;
    assert_eq!(anonymous.status, 401);
    // base64("other:pw"): a client's credential, not the one the replicas present.
    let credential = "Basic b3RoZXI6cHc=".to_string();
    let r = request(
        ea,
        "POST",
        "/eureka/apps/ORDERS",
        &[
            ("Content-Type", "application/json"),
            ("Authorization", &credential),
        ],
        body.as_bytes(),
    )
    .await;
    assert_eq!(r.status, 204);
    eventually("authenticated replication", eb, "ORDERS", "orders-1", |v| {
        v.is_ok()
    })
    .await;
    // Without credentials the batch endpoint refuses, like every write.
    let r = request(
        eb,
        "POST",
        "/eureka/peerreplication/batch/",
        &[],
        b"{\"replicationList\":[]}",
    )
    .await;
    assert_eq!(r.status, 401);
}
