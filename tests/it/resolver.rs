//! The glibc resolver, as a pod uses it: inside a network namespace, rollcall listens on
//! 127.0.0.1:53 and resolv.conf carries the cluster search path with `ndots:5`. `getent` goes
//! through nsswitch and glibc's stub resolver exactly like an application's getaddrinfo().

use std::process::Command;
use std::time::{Duration, Instant};

use crate::netns::Netns;
use crate::support::{rollcall_bin, scratch_dir};

fn getent(ns: &Netns, db: &str, name: &str) -> (bool, String) {
    let out = ns.exec(&["getent", db, name]);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
    )
}

#[test]
fn glibc_resolves_cluster_names_through_the_search_path() {
    let mut ns = match Netns::create(
        "t",
        "nameserver 127.0.0.1\nsearch apps.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5 timeout:2 attempts:1\n",
    ) {
        Ok(ns) => ns,
        Err(why) => {
            eprintln!("SKIPPED glibc resolver test: {why}");
            return;
        }
    };
    let dir = scratch_dir("netns");
    let cluster = rollcall::embedded::write_cluster(&dir).expect("example cluster");
    let corefile = dir.join("Corefile");
    std::fs::write(
        &corefile,
        format!(
            ".:53 {{\n bind 127.0.0.1\n kubernetes cluster.local in-addr.arpa ip6.arpa {{\n  manifests {}\n  pods insecure\n }}\n}}\n",
            cluster.display()
        ),
    )
    .unwrap();
    let bin = rollcall_bin();
    let child = Command::new("ip")
        .args(["netns", "exec", &ns.name])
        .arg(&bin)
        .args(["serve", "--corefile"])
        .arg(&corefile)
        .args(["--threads", "1"])
        .spawn()
        .expect("start rollcall in the namespace");
    ns.server = Some(child);

    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (ok, _) = getent(&ns, "hosts", "web-service.apps.svc.cluster.local");
        if ok {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "rollcall did not answer inside the namespace within 15 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let (ok, out) = getent(&ns, "hosts", "web-service");
    assert!(ok, "getent hosts web-service failed");
    assert!(
        out.starts_with("10.96.0.100"),
        "short name through the search path: {out}"
    );
    assert!(
        out.contains("web-service.apps.svc.cluster.local"),
        "canonical name: {out}"
    );

    let (ok, out) = getent(&ns, "hosts", "web-service.apps");
    assert!(
        ok && out.starts_with("10.96.0.100"),
        "name.namespace: {out}"
    );

    let (ok, out) = getent(&ns, "ahosts", "db.data");
    assert!(ok, "getent ahosts db.data failed");
    for ip in ["10.244.3.20", "10.244.3.21", "10.244.3.22"] {
        assert!(out.contains(ip), "headless A {ip} missing from:\n{out}");
    }
    for ip in [
        "fd00:10:244:3::20",
        "fd00:10:244:3::21",
        "fd00:10:244:3::22",
    ] {
        assert!(out.contains(ip), "headless AAAA {ip} missing from:\n{out}");
    }

    // glibc's `hosts` prefers the IPv6 address of a dual-stack name.
    let (ok, out) = getent(&ns, "hosts", "db-1.db.data");
    assert!(
        ok && out.starts_with("fd00:10:244:3::21"),
        "endpoint hostname: {out}"
    );
    let (ok, out) = getent(&ns, "ahosts", "db-1.db.data");
    assert!(
        ok && out.contains("10.244.3.21") && !out.contains("10.244.3.20"),
        "endpoint hostname, both families: {out}"
    );

    let (ok, out) = getent(&ns, "hosts", "no-such-service");
    assert!(!ok, "an unknown name must fail, got: {out}");

    let (ok, out) = getent(&ns, "hosts", "10.96.0.100");
    assert!(
        ok && out.contains("web-service.apps.svc.cluster.local"),
        "reverse lookup: {out}"
    );
}
