use std::net::IpAddr;
use std::sync::Arc;

use super::*;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn svc(name: &str, ns: &str, kind: ServiceKind) -> ClusterObject {
    ClusterObject::Service(ServiceRecord {
        name: name.into(),
        namespace: ns.into(),
        kind,
        ports: vec![],
        external_ips: Box::default(),
    })
}

fn slice(name: &str, ns: &str, service: &str, addrs: &[(&str, bool)]) -> ClusterObject {
    ClusterObject::EndpointSlice(EndpointSliceRecord {
        name: name.into(),
        namespace: ns.into(),
        service: service.into(),
        ports: vec![],
        endpoints: addrs
            .iter()
            .map(|(a, ready)| EndpointRecord {
                addresses: vec![ip(a)].into(),
                hostname: None,
                pod_name: None,
                ready: *ready,
            })
            .collect(),
    })
}

#[test]
fn slices_merge_dedupe_and_drop_unready() {
    let writer = StoreWriter::new();
    let store = writer.reader();
    writer.upsert(svc("db", "apps", ServiceKind::Headless));
    writer.upsert(slice(
        "db-a",
        "apps",
        "db",
        &[("10.0.0.1", true), ("10.0.0.2", false)],
    ));
    writer.upsert(slice(
        "db-b",
        "apps",
        "db",
        &[("10.0.0.1", true), ("10.0.0.3", true)],
    ));
    let entry = store.service("db.apps").unwrap();
    let addrs: Vec<IpAddr> = entry.endpoints.iter().map(|e| e.addr).collect();
    assert_eq!(addrs, vec![ip("10.0.0.1"), ip("10.0.0.3")]);
    assert_eq!(store.ptr(ip("10.0.0.3")).unwrap().len(), 1);
    assert!(store.ptr(ip("10.0.0.2")).is_none());
}

#[test]
fn slice_before_service_joins_when_service_arrives() {
    let writer = StoreWriter::new();
    let store = writer.reader();
    writer.upsert(slice("db-a", "apps", "db", &[("10.0.0.1", true)]));
    assert!(store.service("db.apps").is_none());
    writer.upsert(svc("db", "apps", ServiceKind::Headless));
    assert_eq!(store.service("db.apps").unwrap().endpoints.len(), 1);
}

#[test]
fn replace_removes_unlisted_and_keeps_listed() {
    let writer = StoreWriter::new();
    let store = writer.reader();
    let a = svc("a", "ns", ServiceKind::ClusterIp(vec![ip("10.96.0.1")]));
    let b = svc("b", "ns", ServiceKind::ClusterIp(vec![ip("10.96.0.2")]));
    writer.replace(&ObjectKind::ALL, vec![a.clone(), b]);
    let before = store.service("a.ns").unwrap();
    let serial = store.serial();
    writer.replace(&ObjectKind::ALL, vec![a]);
    assert!(store.service("b.ns").is_none());
    assert!(store.ptr(ip("10.96.0.2")).is_none());
    // Unchanged objects keep their entry (no rebuild, no window).
    assert!(Arc::ptr_eq(&before, &store.service("a.ns").unwrap()));
    assert!(store.serial() > serial);
}

#[test]
fn namespace_lives_while_anything_references_it() {
    let writer = StoreWriter::new();
    let store = writer.reader();
    writer.upsert(ClusterObject::Namespace(NamespaceRecord {
        name: "apps".into(),
    }));
    writer.upsert(svc("a", "apps", ServiceKind::Headless));
    writer.delete(&ObjectKey::new(ObjectKind::Namespace, "", "apps"));
    assert!(store.namespace_exists("apps"));
    writer.delete(&ObjectKey::new(ObjectKind::Service, "apps", "a"));
    assert!(!store.namespace_exists("apps"));
}

#[test]
fn pods_indexed_by_every_ip() {
    let writer = StoreWriter::new();
    let store = writer.reader();
    let pod = |ips: &[&str]| {
        ClusterObject::Pod(PodRecord {
            name: "p".into(),
            namespace: "ns".into(),
            ips: ips.iter().map(|s| ip(s)).collect(),
        })
    };
    writer.upsert(pod(&["10.244.0.5", "fd00::5"]));
    assert!(store.pod_namespaces(ip("fd00::5")).is_some());
    writer.upsert(pod(&["10.244.0.6"]));
    assert!(store.pod_namespaces(ip("10.244.0.5")).is_none());
    assert!(store.pod_namespaces(ip("fd00::5")).is_none());
    assert_eq!(
        store.pod_namespaces(ip("10.244.0.6")).unwrap()[0].as_ref(),
        "ns"
    );
}

#[test]
fn sync_gate_waits_for_every_source() {
    let writer = StoreWriter::new();
    let store = writer.reader();
    let a = writer.register_source("a");
    let b = writer.register_source("b");
    a.mark_synced();
    a.mark_synced();
    assert!(!store.is_synced());
    b.mark_synced();
    assert!(store.is_synced());
}

#[test]
fn pods_sharing_an_ip_are_counted_separately() {
    let writer = StoreWriter::new();
    let store = writer.reader();
    let pod = |name: &str, ns: &str| {
        ClusterObject::Pod(PodRecord {
            name: name.into(),
            namespace: ns.into(),
            ips: std::iter::once(ip("10.0.0.9")).collect(),
        })
    };
    writer.upsert(pod("a", "ns1"));
    writer.upsert(pod("b", "ns2"));
    writer.upsert(pod("a", "ns1"));
    assert_eq!(store.pod_namespaces(ip("10.0.0.9")).unwrap().len(), 2);
    writer.delete(&ObjectKey::new(ObjectKind::Pod, "ns1", "a"));
    let left = store.pod_namespaces(ip("10.0.0.9")).unwrap();
    assert_eq!(
        left.iter().map(|n| n.as_ref()).collect::<Vec<_>>(),
        vec!["ns2"]
    );
    writer.delete(&ObjectKey::new(ObjectKind::Pod, "ns2", "b"));
    assert!(store.pod_namespaces(ip("10.0.0.9")).is_none());
}

#[test]
fn a_pod_relist_is_swapped_in_whole() {
    let writer = StoreWriter::new();
    let store = writer.reader();
    let pod = |name: &str, ns: &str, addr: &str| {
        ClusterObject::Pod(PodRecord {
            name: name.into(),
            namespace: ns.into(),
            ips: std::iter::once(ip(addr)).collect(),
        })
    };
    writer.upsert(pod("kept", "ns1", "10.0.0.1"));
    writer.upsert(pod("moved", "ns1", "10.0.0.2"));
    writer.upsert(pod("gone", "ns2", "10.0.0.3"));

    let mut relist = writer.start_relist(ObjectKind::Pod);
    relist.push(pod("kept", "ns1", "10.0.0.1"));
    relist.push(pod("moved", "ns1", "10.0.0.4"));
    relist.push(pod("new", "ns3", "fd00::7"));
    assert_eq!(relist.len(), 3);
    // Nothing changes until the relist is finished.
    assert!(store.pod_in_namespace(ip("10.0.0.3"), "ns2"));
    assert!(!store.pod_in_namespace(ip("fd00::7"), "ns3"));
    writer.finish_relist(relist);

    assert!(store.pod_in_namespace(ip("10.0.0.1"), "ns1"));
    assert!(!store.pod_in_namespace(ip("10.0.0.1"), "ns2"));
    assert!(store.pod_in_namespace(ip("10.0.0.4"), "ns1"));
    assert!(store.pod_namespaces(ip("10.0.0.2")).is_none());
    assert!(store.pod_namespaces(ip("10.0.0.3")).is_none());
    assert!(store.pod_in_namespace(ip("fd00::7"), "ns3"));
    assert_eq!(store.pod_count(), 3);
    // ns2 was kept alive only by its pod.
    assert!(!store.namespace_exists("ns2"));
    assert!(store.namespace_exists("ns3"));

    // A later delete finds the relisted pod by its key.
    writer.delete(&ObjectKey::new(ObjectKind::Pod, "ns3", "new"));
    assert!(store.pod_namespaces(ip("fd00::7")).is_none());
    assert_eq!(store.pod_count(), 2);
}

#[test]
fn replace_with_pods_keeps_other_kinds_exact() {
    let writer = StoreWriter::new();
    let store = writer.reader();
    let pod = |name: &str| {
        ClusterObject::Pod(PodRecord {
            name: name.into(),
            namespace: "apps".into(),
            ips: std::iter::once(ip("10.1.0.1")).collect(),
        })
    };
    writer.replace(
        &ObjectKind::ALL,
        vec![svc("a", "apps", ServiceKind::Headless), pod("p")],
    );
    writer.replace(
        &ObjectKind::ALL,
        vec![svc("b", "apps", ServiceKind::Headless)],
    );
    assert!(store.service("a.apps").is_none());
    assert!(store.service("b.apps").is_some());
    assert!(store.pod_namespaces(ip("10.1.0.1")).is_none());
    assert_eq!(store.pod_count(), 0);
}
