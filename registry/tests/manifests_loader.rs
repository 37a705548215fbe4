//! `ManifestLoader::reload` across edits: what a bad edit keeps, what a deletion removes.
//! Synchronous: each step writes files, reloads once and checks the report.

// Test helpers outside #[test] functions may fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use registry::source::filter::Filter;
use registry::source::manifests::{LoadReport, ManifestLoader};
use registry::store::{ClusterObject, ServiceKind};

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let path = std::env::temp_dir().join(format!(
            "rollcall-manifests-{name}-{}-{nanos}",
            std::process::id()
        ));
        fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("mkdir");
        }
        fs::write(&path, text).expect("write");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn svc(name: &str, ip: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: apps}}\nspec: {{clusterIP: \"{ip}\"}}\n"
    )
}

/// Service key → its first ClusterIP, as a string.
fn services(report: &LoadReport) -> BTreeMap<String, String> {
    report
        .objects
        .iter()
        .filter_map(|o| match o {
            ClusterObject::Service(s) => {
                let ip = match &s.kind {
                    ServiceKind::ClusterIp(ips) => ips.first().map(IpAddr::to_string),
                    _ => None,
                };
                Some((o.key().name.to_string(), ip.unwrap_or_default()))
            }
            _ => None,
        })
        .collect()
}

fn expect(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn loader(dir: &Path) -> ManifestLoader {
    ManifestLoader::new(dir.to_path_buf(), Filter::default())
}

#[test]
fn an_invalid_document_keeps_its_last_good_version() {
    let dir = TempDir::new("doc-retain");
    let file = dir.write(
        "s.yaml",
        &format!("{}---\n{}", svc("a", "10.0.0.1"), svc("b", "10.0.0.2")),
    );
    let mut loader = loader(&dir.0);
    let report = loader.reload();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(
        services(&report),
        expect(&[("a.apps", "10.0.0.1"), ("b.apps", "10.0.0.2")])
    );

    // Document 1 changes, document 2 breaks: the change applies, b keeps its last good version.
    dir.write(
        "s.yaml",
        &format!("{}---\n{}", svc("a", "10.0.0.11"), svc("b", "10.0.0.999")),
    );
    let report = loader.reload();
    assert_eq!(
        services(&report),
        expect(&[("a.apps", "10.0.0.11"), ("b.apps", "10.0.0.2")])
    );
    assert_eq!(report.errors.len(), 1);
    assert_eq!(report.errors[0].file, file);
    assert_eq!(report.errors[0].document, 2);
    assert!(
        report.errors[0]
            .reason
            .contains("\"10.0.0.999\" is not an IP address"),
        "{}",
        report.errors[0]
    );

    // Still broken on the next reload: still retained.
    let report = loader.reload();
    assert_eq!(services(&report)["b.apps"], "10.0.0.2");

    // Fixed: the new version replaces the retained one.
    dir.write(
        "s.yaml",
        &format!("{}---\n{}", svc("a", "10.0.0.11"), svc("b", "10.0.0.22")),
    );
    let report = loader.reload();
    assert!(report.errors.is_empty());
    assert_eq!(
        services(&report),
        expect(&[("a.apps", "10.0.0.11"), ("b.apps", "10.0.0.22")])
    );
}

#[test]
fn an_unparseable_file_keeps_everything_it_served() {
    let dir = TempDir::new("file-retain");
    dir.write(
        "s.yaml",
        &format!("{}---\n{}", svc("a", "10.0.0.1"), svc("b", "10.0.0.2")),
    );
    dir.write("other.yaml", &svc("c", "10.0.0.3"));
    let mut loader = loader(&dir.0);
    loader.reload();

    // Half-written: the first document is cut inside a flow mapping.
    dir.write(
        "s.yaml",
        "apiVersion: v1\nkind: Service\nmetadata: {name: a, namesp",
    );
    let report = loader.reload();
    assert_eq!(
        services(&report),
        expect(&[
            ("a.apps", "10.0.0.1"),
            ("b.apps", "10.0.0.2"),
            ("c.apps", "10.0.0.3")
        ])
    );
    assert_eq!(report.errors.len(), 1);
    assert_eq!(report.errors[0].document, 1);
    assert!(
        report.errors[0].reason.starts_with("invalid YAML"),
        "{}",
        report.errors[0]
    );

    // Broken from document 2 on: document 1 is fresh, the rest is kept.
    dir.write(
        "s.yaml",
        &format!("{}---\nkind: Service\nspec: [", svc("a", "10.0.0.11")),
    );
    let report = loader.reload();
    assert_eq!(
        services(&report),
        expect(&[
            ("a.apps", "10.0.0.11"),
            ("b.apps", "10.0.0.2"),
            ("c.apps", "10.0.0.3")
        ])
    );
    assert_eq!(report.errors[0].document, 2);

    // Not UTF-8: the whole file is kept.
    fs::write(dir.0.join("s.yaml"), [0xff, 0xfe, 0x00]).expect("write");
    let report = loader.reload();
    assert_eq!(services(&report).len(), 3);
    assert_eq!(report.errors[0].document, 0);
}

#[test]
fn invalid_json_keeps_the_last_good_object() {
    let dir = TempDir::new("json-retain");
    dir.write(
        "s.json",
        r#"{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "j"}, "spec": {"clusterIP": "10.0.0.5"}}"#,
    );
    let mut loader = loader(&dir.0);
    assert_eq!(
        services(&loader.reload()),
        expect(&[("j.default", "10.0.0.5")])
    );
    dir.write("s.json", r#"{"apiVersion": "v1", "kind": "Serv"#);
    let report = loader.reload();
    assert_eq!(services(&report), expect(&[("j.default", "10.0.0.5")]));
    assert!(report.errors[0].reason.starts_with("invalid JSON"));
}

#[test]
fn a_list_with_a_bad_item_keeps_that_item() {
    let dir = TempDir::new("list-retain");
    let list = |a: &str, b: &str| {
        format!(
            "apiVersion: v1\nkind: List\nitems:\n- {{apiVersion: v1, kind: Service, metadata: {{name: a}}, spec: {{clusterIP: \"{a}\"}}}}\n- {{apiVersion: v1, kind: Service, metadata: {{name: b}}, spec: {{clusterIP: \"{b}\"}}}}\n"
        )
    };
    dir.write("l.yaml", &list("10.0.0.1", "10.0.0.2"));
    let mut loader = loader(&dir.0);
    loader.reload();
    dir.write("l.yaml", &list("10.0.0.11", "bad"));
    let report = loader.reload();
    assert_eq!(
        services(&report),
        expect(&[("a.default", "10.0.0.11"), ("b.default", "10.0.0.2")])
    );
    assert_eq!(report.errors.len(), 1);
    assert_eq!(report.errors[0].document, 1);
    assert!(
        report.errors[0]
            .reason
            .starts_with("items[1]: Service default/b: "),
        "{}",
        report.errors[0]
    );
}

#[test]
fn never_good_is_never_served() {
    let dir = TempDir::new("never-good");
    dir.write("s.yaml", &svc("a", "nope"));
    let mut loader = loader(&dir.0);
    let report = loader.reload();
    assert!(report.objects.is_empty());
    assert_eq!(report.errors.len(), 1);
}

#[test]
fn deleting_files_and_documents_removes_their_objects() {
    let dir = TempDir::new("delete");
    dir.write(
        "s.yaml",
        &format!("{}---\n{}", svc("a", "10.0.0.1"), svc("b", "10.0.0.2")),
    );
    dir.write("sub/t.yaml", &svc("c", "10.0.0.3"));
    let mut loader = loader(&dir.0);
    assert_eq!(services(&loader.reload()).len(), 3);
    assert!(!loader.changed_on_disk());

    // A document removed from a file that parses is gone.
    dir.write("s.yaml", &svc("a", "10.0.0.1"));
    assert!(loader.changed_on_disk());
    assert_eq!(
        services(&loader.reload()),
        expect(&[("a.apps", "10.0.0.1"), ("c.apps", "10.0.0.3")])
    );

    // A deleted file (or directory) is gone.
    fs::remove_dir_all(dir.0.join("sub")).expect("rm");
    assert!(loader.changed_on_disk());
    assert_eq!(
        services(&loader.reload()),
        expect(&[("a.apps", "10.0.0.1")])
    );
    fs::remove_file(dir.0.join("s.yaml")).expect("rm");
    let report = loader.reload();
    assert!(report.objects.is_empty());
    assert_eq!(report.files, 0);
}

#[test]
fn a_duplicate_object_takes_the_later_file() {
    let dir = TempDir::new("dup");
    dir.write("a.yaml", &svc("x", "10.0.0.1"));
    dir.write("b.yaml", &svc("x", "10.0.0.2"));
    let report = loader(&dir.0).reload();
    assert_eq!(services(&report), expect(&[("x.apps", "10.0.0.2")]));
    assert_eq!(report.objects.len(), 1);
}

#[test]
fn unsupported_api_version_of_a_known_group_is_an_error() {
    let dir = TempDir::new("apiversion");
    dir.write(
        "s.yaml",
        "apiVersion: discovery.k8s.io/v1beta1\nkind: EndpointSlice\nmetadata: {name: s, namespace: apps, labels: {kubernetes.io/service-name: a}}\naddressType: IPv4\nendpoints: []\n",
    );
    let report = loader(&dir.0).reload();
    assert!(report.objects.is_empty());
    assert_eq!(report.errors.len(), 1);
    assert_eq!(
        report.errors[0].reason,
        "EndpointSlice apps/s: apiVersion discovery.k8s.io/v1beta1 is not supported (expected discovery.k8s.io/v1)"
    );
}
