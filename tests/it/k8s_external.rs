//! `k8s_external` end to end: Services with external addresses (from manifests, the same
//! conversion the API source uses), answered under an outside zone, asked with dig.

use crate::support::{TestServer, ask_dig, scratch_dir, write_atomically};

const CLUSTER: &str = "\
apiVersion: v1
kind: Namespace
metadata: {name: apps}
---
apiVersion: v1
kind: Namespace
metadata: {name: kube-system}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: apps}
spec:
  type: LoadBalancer
  clusterIP: 10.96.1.1
  externalIPs: [192.0.2.7]
  ports: [{name: https, port: 443, protocol: TCP}]
status:
  loadBalancer:
    ingress: [{ip: 203.0.113.9}, {ip: 2001:db8::9}]
---
apiVersion: v1
kind: Service
metadata: {name: internal, namespace: apps}
spec: {clusterIP: 10.96.1.2, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: kube-dns, namespace: kube-system}
spec: {clusterIP: 10.96.0.10, externalIPs: [192.0.2.53], ports: [{name: dns, port: 53, protocol: UDP}]}
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_with_external_addresses_answer_under_the_external_zone() {
    let dir = scratch_dir("k8s-external");
    std::fs::create_dir_all(dir.join("cluster")).expect("cluster dir");
    write_atomically(&dir.join("cluster/cluster.yaml"), CLUSTER);
    let corefile = ".:0 {\n    bind 127.0.0.1\n    kubernetes cluster.local {\n        manifests cluster\n    }\n    k8s_external example.org {\n        ttl 30\n    }\n}\n";
    let server = TestServer::start_text(corefile, &dir).await;
    let ask = |q: &str| ask_dig(server.addr, q, false);

    let a = ask("web.apps.example.org A");
    assert_eq!(a.rcode, "NOERROR", "{a:?}");
    assert!(a.aa);
    assert_eq!(
        a.answer,
        vec![
            "web.apps.example.org. 30 IN A 192.0.2.7",
            "web.apps.example.org. 30 IN A 203.0.113.9",
        ]
    );
    let aaaa = ask("web.apps.example.org AAAA");
    assert_eq!(
        aaaa.answer,
        vec!["web.apps.example.org. 30 IN AAAA 2001:db8::9"]
    );
    let srv = ask("_https._tcp.web.apps.example.org SRV");
    assert_eq!(
        srv.answer,
        vec!["_https._tcp.web.apps.example.org. 30 IN SRV 0 100 443 web.apps.example.org."]
    );
    // No external address, no such Service, no such port: NXDOMAIN with the zone's SOA.
    for q in [
        "internal.apps.example.org A",
        "nope.apps.example.org A",
        "_http._tcp.web.apps.example.org SRV",
    ] {
        let r = ask(q);
        assert_eq!(r.rcode, "NXDOMAIN", "{q}: {r:?}");
        assert!(
            r.authority.iter().any(|s| s.starts_with(
                "example.org. 30 IN SOA ns1.dns.example.org. hostmaster.dns.example.org."
            )),
            "{q}: {r:?}"
        );
    }
    // A name that exists with another type: NODATA. The apex: SOA and NS; ns1 → kube-dns's
    // external address.
    assert_eq!(ask("web.apps.example.org TXT").rcode, "NOERROR");
    assert_eq!(
        ask("example.org NS").answer,
        vec!["example.org. 30 IN NS ns1.dns.example.org."]
    );
    assert_eq!(
        ask("ns1.dns.example.org A").answer,
        vec!["ns1.dns.example.org. 30 IN A 192.0.2.53"]
    );
    // The cluster zone is untouched.
    assert_eq!(
        ask("web.apps.svc.cluster.local A").answer,
        vec!["web.apps.svc.cluster.local. 5 IN A 10.96.1.1"]
    );
}
