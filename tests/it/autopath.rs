//! `autopath @kubernetes` end to end: rollcall in-process on a real socket, the cluster from
//! manifests with pods on loopback addresses, dig asking from each pod's address (`dig -b`), and
//! a test upstream behind `forward`. The search path is decided per client address: its pod's
//! namespace, never a guess for an address no pod or several pods hold.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use rollcall_tests::upstream::TestUpstream;

use crate::http::request;
use crate::support::{Answer, TestServer, ask_dig_from, scratch_dir, write_atomically};

const CLUSTER: &str = "\
apiVersion: v1
kind: Namespace
metadata: {name: apps}
---
apiVersion: v1
kind: Namespace
metadata: {name: web}
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: apps}
spec: {clusterIP: 10.96.1.1, ports: [{port: 5432}]}
---
apiVersion: v1
kind: Service
metadata: {name: front, namespace: web}
spec: {clusterIP: 10.96.2.2, ports: [{port: 80}]}
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: apps}
status: {podIP: 127.0.0.2, podIPs: [{ip: 127.0.0.2}]}
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: web}
status: {podIP: 127.0.0.3, podIPs: [{ip: 127.0.0.3}]}
---
# Two hostNetwork pods of different namespaces share their node's address.
apiVersion: v1
kind: Pod
metadata: {name: agent, namespace: apps}
spec: {hostNetwork: true, containers: []}
status: {podIP: 127.0.0.4, podIPs: [{ip: 127.0.0.4}]}
---
apiVersion: v1
kind: Pod
metadata: {name: exporter, namespace: web}
spec: {hostNetwork: true, containers: []}
status: {podIP: 127.0.0.4, podIPs: [{ip: 127.0.0.4}]}
";

const APPS_POD: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
const WEB_POD: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3));
const SHARED: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 4));
const NO_POD: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 9));

fn ask(server: &TestServer, from: IpAddr, q: &str) -> Answer {
    ask_dig_from(Some(from), server.addr, q, false)
}

fn nxdomain(a: &Answer) -> bool {
    a.rcode == "NXDOMAIN" && a.answer.is_empty()
}

async fn autopath_successes(metrics: SocketAddr) -> u64 {
    let text = request(metrics, "GET", "/metrics", &[], b"").await.text();
    text.lines()
        .find(|l| l.starts_with("coredns_autopath_success_total{"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no coredns_autopath_success_total in:\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_path_is_walked_on_the_server_for_the_asking_pod_only() {
    let upstream = TestUpstream::start().await.expect("test upstream binds");
    upstream.add_a("www.example.org", &[Ipv4Addr::new(192, 0, 2, 80)]);
    let dir = scratch_dir("autopath");
    std::fs::create_dir_all(dir.join("cluster")).expect("cluster dir");
    write_atomically(&dir.join("cluster/cluster.yaml"), CLUSTER);
    let corefile = format!(
        ".:0 {{\n    bind 127.0.0.1\n    autopath @kubernetes\n    prometheus 127.0.0.1:0\n    cache 30\n    kubernetes cluster.local in-addr.arpa ip6.arpa {{\n        manifests cluster\n        pods verified\n        ttl 30\n    }}\n    forward . {}\n}}\n",
        upstream.addr
    );
    let server = TestServer::start_text(&corefile, &dir).await;
    let metrics = server.listener("prometheus");

    // The apps pod's first search domain: an external name is found by walking to the bare
    // name, in one round trip; the answer CNAMEs the name asked to the name that answered
    // (sections are compared sorted; TTLs are cache's cap of 30).
    let asked = "www.example.org.apps.svc.cluster.local.";
    let a = ask(&server, APPS_POD, &format!("{asked} A"));
    assert_eq!(a.rcode, "NOERROR", "{a:?}");
    assert_eq!(
        a.answer,
        vec![
            "www.example.org. 30 IN A 192.0.2.80".to_string(),
            format!("{asked} 30 IN CNAME www.example.org."),
        ],
        "{a:?}"
    );
    assert_eq!(upstream.queries_for("www.example.org"), 1);
    // AAAA is treated alike: the walk ends at the same name, which has no AAAA. The reply is
    // the same alias with no address, so the resolver stops searching for both families.
    let aaaa = ask(&server, APPS_POD, &format!("{asked} AAAA"));
    assert_eq!(aaaa.rcode, "NOERROR", "{aaaa:?}");
    assert_eq!(aaaa.answer.len(), 1, "{aaaa:?}");
    assert!(
        aaaa.answer[0].starts_with(asked) && aaaa.answer[0].ends_with(" IN CNAME www.example.org."),
        "{aaaa:?}"
    );

    // A Service of another namespace, as `getent hosts front.web` asks first from apps.
    let a = ask(&server, APPS_POD, "front.web.apps.svc.cluster.local A");
    assert_eq!(
        a.answer,
        vec![
            "front.web.apps.svc.cluster.local. 30 IN CNAME front.web.svc.cluster.local."
                .to_string(),
            "front.web.svc.cluster.local. 30 IN A 10.96.2.2".to_string(),
        ],
        "{a:?}"
    );
    // Its own namespace's Service: answered as asked, no CNAME.
    let a = ask(&server, APPS_POD, "db.apps.svc.cluster.local A");
    assert_eq!(
        a.answer,
        vec!["db.apps.svc.cluster.local. 30 IN A 10.96.1.1".to_string()]
    );
    // Nothing anywhere on the path: the first NXDOMAIN, and the client walks on itself.
    let a = ask(
        &server,
        APPS_POD,
        "no-such.example.apps.svc.cluster.local A",
    );
    assert!(nxdomain(&a), "{a:?}");
    assert_eq!(upstream.queries_for("no-such.example"), 1);
    assert_eq!(autopath_successes(metrics).await, 3);

    // Other clients asking the very same name (cached or not) get what the name is: NXDOMAIN.
    // The web pod's first search domain is web.svc.cluster.local; no pod or two pods of
    // different namespaces hold the other addresses.
    for from in [WEB_POD, SHARED, NO_POD] {
        let a = ask(&server, from, &format!("{asked} A"));
        assert!(nxdomain(&a), "from {from}: {a:?}");
    }
    // ... and the web pod gets its own path.
    let a = ask(&server, WEB_POD, "db.apps.web.svc.cluster.local A");
    assert!(
        a.answer.contains(
            &"db.apps.web.svc.cluster.local. 30 IN CNAME db.apps.svc.cluster.local.".to_string()
        ),
        "{a:?}"
    );
    let a = ask(&server, SHARED, "db.apps.apps.svc.cluster.local A");
    assert!(nxdomain(&a), "shared address: no autopath: {a:?}");
    assert_eq!(
        upstream.queries_for("www.example.org"),
        2,
        "A and AAAA once each: other clients never walked there"
    );
    assert_eq!(autopath_successes(metrics).await, 4);
}

/// glibc's resolver in a pod-like network namespace (search path of namespace `apps`,
/// `ndots:5`), rollcall on 127.0.0.1:53 in it with the pod's address 127.0.0.1, the upstream on
/// the host end of a veth. An external name costs one query per address family instead of a walk
/// over the whole search path (complaint §d 1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn glibc_gets_an_external_name_in_one_query_per_family() {
    use crate::netns::Netns;
    use crate::support::rollcall_bin;
    use std::time::{Duration, Instant};

    let pid = std::process::id();
    let n = u8::try_from(pid % 250 + 1).expect("1..=250");
    let mut ns = match Netns::create(
        "a",
        "nameserver 127.0.0.1\nsearch apps.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5 timeout:2 attempts:1\n",
    ) {
        Ok(ns) => ns,
        Err(why) => {
            eprintln!("SKIPPED glibc autopath test: {why}");
            return;
        }
    };
    // Slot 2: kubeadm_pod.rs and loop_detect.rs use slots 0 and 1 of the same /24.
    let veth = ns.add_veth(n, 2).expect("veth pair to the namespace");
    let upstream = TestUpstream::start_at(SocketAddr::new(IpAddr::V4(veth.host), 53))
        .await
        .expect("upstream on the host end of the veth");
    upstream.add_a("www.example.org", &[Ipv4Addr::new(192, 0, 2, 80)]);

    let dir = scratch_dir("autopath-glibc");
    std::fs::create_dir_all(dir.join("cluster")).expect("cluster dir");
    let pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: app, namespace: apps}\nstatus: {podIP: 127.0.0.1}\n---\n";
    write_atomically(
        &dir.join("cluster/cluster.yaml"),
        &format!("{pod}{CLUSTER}"),
    );
    let corefile = dir.join("Corefile");
    write_atomically(
        &corefile,
        &format!(
            ".:53 {{\n    bind 127.0.0.1\n    prometheus 127.0.0.1:9153\n    autopath @kubernetes\n    kubernetes cluster.local {{\n        manifests {}\n        pods verified\n    }}\n    forward . {}\n}}\n",
            dir.join("cluster").display(),
            veth.host
        ),
    );
    let child = ns
        .command(&[&rollcall_bin().to_string_lossy(), "serve", "--corefile"])
        .arg(&corefile)
        .args(["--threads", "1"])
        .spawn()
        .expect("start rollcall in the namespace");
    ns.server = Some(child);

    let getent = |name: &str| {
        let out = ns.exec(&["getent", "hosts", name]);
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string(),
        )
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    while !getent("db").0 {
        assert!(
            Instant::now() < deadline,
            "rollcall did not answer in the namespace within 15 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let requests = || {
        let out = ns.exec(&["curl", "-sf", "http://127.0.0.1:9153/metrics"]);
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let sum = |metric: &str| -> u64 {
            text.lines()
                .filter(|l| l.starts_with(metric))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
                .sum()
        };
        (
            sum("coredns_dns_requests_total{"),
            sum("coredns_autopath_success_total{"),
        )
    };
    let (before, successes_before) = requests();
    let (ok, out) = getent("www.example.org");
    assert!(ok, "getent hosts www.example.org failed");
    assert!(out.starts_with("192.0.2.80"), "{out}");
    let (after, successes) = requests();
    let asked = after - before;
    assert!(
        (1..=2).contains(&asked),
        "glibc sent {asked} queries (the search walk would take 8); output {out}"
    );
    assert_eq!(successes - successes_before, asked);
    assert_eq!(upstream.queries_for("www.example.org"), asked);
}
