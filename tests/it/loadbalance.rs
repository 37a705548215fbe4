//! loadbalance over real sockets: a headless service with six ready endpoints, asked with dig
//! (which prints records in wire order) through `loadbalance` and a `cache` in front of the
//! kubernetes plugin. The order changes across queries (cached ones included); the set never does.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::process::Command;

use crate::support::{TestServer, scratch_dir};

const POOL: &str = "apiVersion: v1
kind: Service
metadata: {name: pool, namespace: apps}
spec:
  clusterIP: None
  ports: [{name: http, port: 80}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: pool-1, namespace: apps, labels: {kubernetes.io/service-name: pool}}
addressType: IPv4
ports: [{name: http, port: 80, protocol: TCP}]
endpoints:
  - {addresses: [10.244.9.1]}
  - {addresses: [10.244.9.2]}
  - {addresses: [10.244.9.3]}
  - {addresses: [10.244.9.4]}
  - {addresses: [10.244.9.5], conditions: {ready: true}}
  - {addresses: [10.244.9.6]}
  - {addresses: [10.244.9.7], conditions: {ready: false}}
";

/// The answer section in wire order (`dig +short`).
fn dig_short(addr: SocketAddr, name: &str) -> Vec<String> {
    let out = Command::new("dig")
        .arg(format!("@{}", addr.ip()))
        .arg("-p")
        .arg(addr.port().to_string())
        .args(["+short", "+time=3", "+tries=1", name, "A"])
        .output()
        .unwrap_or_else(|e| panic!("running dig (install dnsutils): {e}"));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headless_addresses_change_order_and_never_membership() {
    let dir = scratch_dir("loadbalance");
    std::fs::create_dir_all(dir.join("cluster")).unwrap();
    std::fs::write(dir.join("cluster/pool.yaml"), POOL).unwrap();
    let server = TestServer::start_text(
        "cluster.local {\n bind 127.0.0.1\n loadbalance\n cache 30\n kubernetes {\n  manifests cluster\n }\n}\n",
        &dir,
    )
    .await;
    let addr = server.addr;
    let want: BTreeSet<String> = (1..=6).map(|i| format!("10.244.9.{i}")).collect();
    let orders = tokio::task::spawn_blocking(move || {
        let mut orders = BTreeSet::new();
        let mut firsts = BTreeSet::new();
        for _ in 0..20 {
            let got = dig_short(addr, "pool.apps.svc.cluster.local.");
            assert_eq!(got.len(), 6, "{got:?}");
            assert_eq!(got.iter().cloned().collect::<BTreeSet<_>>(), want);
            firsts.insert(got[0].clone());
            orders.insert(got);
        }
        (orders, firsts)
    })
    .await
    .unwrap();
    // 720 orders; 20 draws all alike is a 720^-19 chance.
    assert!(
        orders.0.len() > 1,
        "the order never changed: {:?}",
        orders.0
    );
    assert!(orders.1.len() > 1, "the same address always came first");
}
