//! `load_dir` on the fixture tree in tests/data/manifests/tree: document forms, kinds, errors,
//! hidden and non-manifest files, recursion, and the namespace and label filters.

// Test helpers outside #[test] functions may fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use registry::source::filter::Filter;
use registry::source::manifests::{LoadReport, load_dir};
use registry::source::selector::Selector;
use registry::store::{
    ClusterObject, EndpointRecord, EndpointSliceRecord, ObjectKey, ObjectKind, PortRecord,
    Protocol, ServiceKind, ServiceRecord,
};

fn tree() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/manifests/tree")
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip")
}

fn keys(report: &LoadReport, kind: ObjectKind) -> BTreeSet<String> {
    report
        .objects
        .iter()
        .filter(|o| o.kind() == kind)
        .map(|o| o.key().name.to_string())
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn service<'a>(report: &'a LoadReport, key: &str) -> &'a ServiceRecord {
    report
        .objects
        .iter()
        .find_map(|o| match o {
            ClusterObject::Service(s) if o.key().name.as_ref() == key => Some(s),
            _ => None,
        })
        .unwrap_or_else(|| panic!("service {key} not loaded"))
}

fn slice<'a>(report: &'a LoadReport, key: &str) -> &'a EndpointSliceRecord {
    report
        .objects
        .iter()
        .find_map(|o| match o {
            ClusterObject::EndpointSlice(s) if o.key().name.as_ref() == key => Some(s),
            _ => None,
        })
        .unwrap_or_else(|| panic!("slice {key} not loaded"))
}

#[test]
fn loads_every_supported_form_and_kind() {
    let report = load_dir(&tree(), &Filter::default());
    // apps/namespace, apps/web, broken, db, lists, nested/deeper/other, other-kinds, pod, pods-list
    assert_eq!(report.files, 9, "{report:#?}");
    assert_eq!(
        keys(&report, ObjectKind::Service),
        set(&[
            "web.apps",
            "db.data",
            "list-a.apps",
            "list-b.apps",
            "typed-a.other",
            "deep.other",
            "good-before.apps",
            "good-after.apps",
        ])
    );
    assert_eq!(keys(&report, ObjectKind::Namespace), set(&["apps"]));
    assert_eq!(
        keys(&report, ObjectKind::EndpointSlice),
        set(&["web-abc12.apps", "db-0.data", "db-1.data"])
    );
    assert_eq!(
        keys(&report, ObjectKind::Pod),
        set(&["web-0.apps", "db-0.data", "db-1.data"])
    );
    // No object twice.
    let all: Vec<ObjectKey> = report.objects.iter().map(ClusterObject::key).collect();
    let unique: BTreeSet<&ObjectKey> = all.iter().collect();
    assert_eq!(all.len(), unique.len());
}

#[test]
fn multi_document_yaml_converts_fields() {
    let report = load_dir(&tree(), &Filter::default());
    let web = service(&report, "web.apps");
    assert_eq!(web.name.as_ref(), "web", "names are lower-cased");
    assert_eq!(
        web.kind,
        ServiceKind::ClusterIp(vec![ip("10.96.0.10"), ip("fd00::10")])
    );
    assert_eq!(
        web.ports,
        vec![PortRecord {
            name: Some(Arc::from("http")),
            protocol: Protocol::Tcp,
            port: 80
        }]
    );
    let s = slice(&report, "web-abc12.apps");
    assert_eq!(s.service.as_ref(), "web");
    assert_eq!(
        s.endpoints,
        vec![
            EndpointRecord {
                addresses: vec![ip("10.1.0.1")].into(),
                hostname: Some(Arc::from("web-0")),
                pod_name: Some(Arc::from("web-0")),
                ready: true,
            },
            EndpointRecord {
                addresses: vec![ip("10.1.0.2")].into(),
                hostname: None,
                pod_name: None,
                ready: false,
            },
        ]
    );
}

#[test]
fn lists_and_typed_lists() {
    let report = load_dir(&tree(), &Filter::default());
    assert_eq!(
        service(&report, "list-a.apps").kind,
        ServiceKind::ClusterIp(vec![ip("10.96.1.1")])
    );
    assert_eq!(
        service(&report, "list-b.apps").kind,
        ServiceKind::ExternalName(Arc::from("example.com"))
    );
    assert_eq!(
        service(&report, "typed-a.other").kind,
        ServiceKind::ClusterIp(vec![ip("10.96.2.1")])
    );
}

#[test]
fn json_files() {
    let report = load_dir(&tree(), &Filter::default());
    let pod = report
        .objects
        .iter()
        .find_map(|o| match o {
            ClusterObject::Pod(p) if p.name.as_ref() == "web-0" => Some(p),
            _ => None,
        })
        .expect("pod from pod.json");
    assert_eq!(pod.ips.to_vec(), vec![ip("10.1.0.1"), ip("fd00::1:1")]);
    assert!(
        keys(&report, ObjectKind::Pod).contains("db-1.data"),
        "PodList in JSON"
    );
}

#[test]
fn legacy_endpoints_become_slices() {
    let report = load_dir(&tree(), &Filter::default());
    assert_eq!(service(&report, "db.data").kind, ServiceKind::Headless);
    let first = slice(&report, "db-0.data");
    assert_eq!(first.service.as_ref(), "db");
    assert_eq!(first.endpoints.len(), 2);
    assert_eq!(first.endpoints[0].hostname.as_deref(), Some("db-0"));
    assert_eq!(first.endpoints[0].pod_name.as_deref(), Some("db-0"));
    assert!(first.endpoints[0].ready);
    assert_eq!(first.endpoints[1].addresses.to_vec(), vec![ip("10.2.0.2")]);
    assert!(!first.endpoints[1].ready, "notReadyAddresses are not ready");
    let second = slice(&report, "db-1.data");
    assert_eq!(
        second.endpoints[0].addresses.to_vec(),
        vec![ip("fd00::2:1")]
    );
    assert_eq!(second.ports[0].port, 5432);
}

#[test]
fn an_invalid_document_is_reported_and_the_rest_loads() {
    let report = load_dir(&tree(), &Filter::default());
    assert_eq!(report.errors.len(), 1, "{:#?}", report.errors);
    let e = &report.errors[0];
    assert_eq!(e.file, tree().join("broken.yaml"));
    assert_eq!(e.document, 2);
    assert_eq!(
        e.reason,
        "Service apps/bad: spec.clusterIP \"10.96.0.300\" is not an IP address"
    );
    assert_eq!(
        e.to_string(),
        format!(
            "{}: document 2: Service apps/bad: spec.clusterIP \"10.96.0.300\" is not an IP address",
            tree().join("broken.yaml").display()
        )
    );
    let services = keys(&report, ObjectKind::Service);
    assert!(services.contains("good-before.apps"));
    assert!(services.contains("good-after.apps"));
    assert!(!services.contains("bad.apps"));
}

#[test]
fn unknown_kinds_hidden_and_other_files_are_skipped() {
    let report = load_dir(&tree(), &Filter::default());
    let services = keys(&report, ObjectKind::Service);
    for absent in ["knative.apps", "hidden.apps", "hidden-file.apps"] {
        assert!(!services.contains(absent), "{absent} must not load");
    }
    // Deployment, ConfigMap (with a non-string key), StatefulSet, Kustomization, values files,
    // sequences and scalars: none of them is an error.
    assert!(
        report
            .errors
            .iter()
            .all(|e| e.file.ends_with("broken.yaml"))
    );
}

#[test]
fn recursive_directories() {
    let report = load_dir(&tree().join("nested"), &Filter::default());
    assert_eq!(report.files, 1);
    assert_eq!(keys(&report, ObjectKind::Service), set(&["deep.other"]));
}

#[test]
fn namespace_filter() {
    let filter = Filter {
        namespaces: Some(set(&["apps", "data"])),
        labels: None,
    };
    let report = load_dir(&tree(), &filter);
    assert_eq!(
        keys(&report, ObjectKind::Service),
        set(&[
            "web.apps",
            "db.data",
            "list-a.apps",
            "list-b.apps",
            "good-before.apps",
            "good-after.apps",
        ])
    );
    assert_eq!(keys(&report, ObjectKind::Namespace), set(&["apps"]));
    assert_eq!(
        keys(&report, ObjectKind::Pod),
        set(&["web-0.apps", "db-0.data", "db-1.data"])
    );

    let filter = Filter {
        namespaces: Some(set(&["other"])),
        labels: None,
    };
    let report = load_dir(&tree(), &filter);
    assert_eq!(
        keys(&report, ObjectKind::Service),
        set(&["typed-a.other", "deep.other"])
    );
    assert!(keys(&report, ObjectKind::Namespace).is_empty());
    assert!(keys(&report, ObjectKind::Pod).is_empty());
    assert!(keys(&report, ObjectKind::EndpointSlice).is_empty());
    assert!(
        report.errors.is_empty(),
        "a filtered-out broken object is not reported: {:?}",
        report.errors
    );
}

#[test]
fn label_filter() {
    let filter = Filter {
        namespaces: None,
        labels: Some(Selector::parse("tier in (frontend, backend)").expect("selector")),
    };
    let report = load_dir(&tree(), &filter);
    assert_eq!(
        keys(&report, ObjectKind::Service),
        set(&["web.apps", "db.data", "deep.other"])
    );
    assert_eq!(
        keys(&report, ObjectKind::EndpointSlice),
        set(&["web-abc12.apps", "db-0.data", "db-1.data"]),
        "slices and legacy Endpoints are label-filtered by their own labels"
    );
    // Pods and Namespaces are not label-filtered.
    assert_eq!(keys(&report, ObjectKind::Namespace), set(&["apps"]));
    assert_eq!(keys(&report, ObjectKind::Pod).len(), 3);

    let filter = Filter {
        namespaces: Some(set(&["apps"])),
        labels: Some(Selector::parse("tier=backend").expect("selector")),
    };
    let report = load_dir(&tree(), &filter);
    assert!(keys(&report, ObjectKind::Service).is_empty());
    assert!(keys(&report, ObjectKind::EndpointSlice).is_empty());
    assert_eq!(keys(&report, ObjectKind::Pod), set(&["web-0.apps"]));
}

#[test]
fn missing_directory_is_an_error_not_a_panic() {
    let dir = tree().join("does-not-exist");
    let report = load_dir(&dir, &Filter::default());
    assert!(report.objects.is_empty());
    assert_eq!(report.files, 0);
    assert_eq!(report.errors.len(), 1);
    assert_eq!(report.errors[0].file, dir);
    assert!(report.errors[0].reason.contains("does not exist"));
}
