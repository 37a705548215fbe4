//! The manifests in deploy/ are valid Kubernetes objects: each document deserializes into its
//! k8s-openapi type, and serializing it back gives the same JSON (k8s-openapi ignores unknown
//! fields, so a misspelt or misplaced field shows up as a difference). Then the properties the
//! deployment promises: RBAC only list/watch on the four resources, two spread replicas, probes,
//! non-root with NET_BIND_SERVICE only, the kube-dns Service on 10.96.0.10, kubeadm's Corefile.

use std::path::{Path, PathBuf};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

/// Every YAML document under deploy/, as (file, JSON).
fn documents() -> Vec<(String, Value)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(deploy_dir())
        .expect("deploy/ exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    let mut docs = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for doc in serde_yaml_ng::Deserializer::from_str(&text) {
            let value: Value = serde::Deserialize::deserialize(doc)
                .unwrap_or_else(|e| panic!("{}: not YAML: {e}", file.display()));
            if !value.is_null() {
                docs.push((
                    file.file_name().unwrap().to_string_lossy().into_owned(),
                    value,
                ));
            }
        }
    }
    docs
}

/// The first path where `a` and `b` differ.
fn difference(a: &Value, b: &Value, path: &str) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for key in x.keys().chain(y.keys()) {
                let here = format!("{path}.{key}");
                match (x.get(key), y.get(key)) {
                    (Some(p), Some(q)) => {
                        if let Some(d) = difference(p, q, &here) {
                            return Some(d);
                        }
                    }
                    (Some(p), None) => {
                        return Some(format!("{here}: {p} is not a field of the type"));
                    }
                    (None, Some(q)) => return Some(format!("{here}: {q} appeared")),
                    (None, None) => {}
                }
            }
            None
        }
        (Value::Array(x), Value::Array(y)) => {
            if x.len() != y.len() {
                return Some(format!("{path}: {} items became {}", x.len(), y.len()));
            }
            x.iter()
                .zip(y)
                .enumerate()
                .find_map(|(i, (p, q))| difference(p, q, &format!("{path}[{i}]")))
        }
        _ if a == b => None,
        _ => Some(format!("{path}: {a} became {b}")),
    }
}

fn strict<T: DeserializeOwned + Serialize>(file: &str, value: &Value) -> T {
    let typed: T = serde_json::from_value(value.clone())
        .unwrap_or_else(|e| panic!("{file}: not a valid {}: {e}", std::any::type_name::<T>()));
    let back = serde_json::to_value(&typed).unwrap();
    if let Some(d) = difference(value, &back, "") {
        panic!(
            "{file}: does not round-trip through {}: {d}",
            std::any::type_name::<T>()
        );
    }
    typed
}

#[test]
fn every_manifest_is_a_strict_kubernetes_object() {
    let docs = documents();
    let mut kinds: Vec<String> = Vec::new();
    let (mut deployment, mut service, mut role, mut configmap) = (None, None, None, None);
    for (file, value) in &docs {
        let kind = value["kind"].as_str().unwrap_or_default().to_string();
        assert_eq!(
            value["metadata"]["namespace"]
                .as_str()
                .unwrap_or("kube-system"),
            "kube-system",
            "{file}"
        );
        match kind.as_str() {
            "ServiceAccount" => {
                strict::<ServiceAccount>(file, value);
            }
            "ClusterRole" => role = Some(strict::<ClusterRole>(file, value)),
            "ClusterRoleBinding" => {
                let binding = strict::<ClusterRoleBinding>(file, value);
                let subject = &binding.subjects.unwrap()[0];
                assert_eq!(
                    (subject.kind.as_str(), subject.name.as_str()),
                    ("ServiceAccount", "rollcall")
                );
            }
            "ConfigMap" => configmap = Some(strict::<ConfigMap>(file, value)),
            "Deployment" => deployment = Some(strict::<Deployment>(file, value)),
            "Service" => service = Some(strict::<Service>(file, value)),
            other => panic!("{file}: unexpected kind {other:?}"),
        }
        kinds.push(kind);
    }
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "ClusterRole",
            "ClusterRoleBinding",
            "ConfigMap",
            "Deployment",
            "Service",
            "ServiceAccount"
        ]
    );

    // RBAC: list and watch only, on exactly these resources.
    let mut granted: Vec<(String, String)> = Vec::new();
    for rule in role.unwrap().rules.unwrap() {
        assert_eq!(rule.verbs, ["list", "watch"]);
        for group in rule.api_groups.unwrap() {
            for resource in rule.resources.clone().unwrap() {
                granted.push((group.clone(), resource));
            }
        }
    }
    granted.sort();
    let want: Vec<(String, String)> = [
        ("", "namespaces"),
        ("", "pods"),
        ("", "services"),
        ("discovery.k8s.io", "endpointslices"),
    ]
    .iter()
    .map(|(g, r)| (g.to_string(), r.to_string()))
    .collect();
    assert_eq!(granted, want);

    // Deployment.
    let deployment = deployment.unwrap();
    let spec = deployment.spec.unwrap();
    assert_eq!(spec.replicas, Some(2));
    let pod = spec.template.spec.unwrap();
    assert_eq!(pod.service_account_name.as_deref(), Some("rollcall"));
    assert!(
        pod.topology_spread_constraints.unwrap()[0].topology_key == "kubernetes.io/hostname"
            && pod.affinity.unwrap().pod_anti_affinity.is_some(),
        "replicas spread across nodes"
    );
    let c = &pod.containers[0];
    let probe_path = |p: &Option<k8s_openapi::api::core::v1::Probe>| {
        let get = p.as_ref().unwrap().http_get.as_ref().unwrap();
        (
            get.path.clone().unwrap(),
            serde_json::to_value(&get.port).unwrap(),
        )
    };
    assert_eq!(
        probe_path(&c.liveness_probe),
        ("/health".into(), Value::from(8080))
    );
    assert_eq!(
        probe_path(&c.readiness_probe),
        ("/ready".into(), Value::from(8181))
    );
    let sc = c.security_context.as_ref().unwrap();
    assert_eq!(sc.read_only_root_filesystem, Some(true));
    assert_eq!(sc.run_as_non_root, Some(true));
    assert_eq!(sc.allow_privilege_escalation, Some(false));
    let caps = sc.capabilities.as_ref().unwrap();
    assert_eq!(caps.drop.as_deref(), Some(&["ALL".to_string()][..]));
    assert_eq!(
        caps.add.as_deref(),
        Some(&["NET_BIND_SERVICE".to_string()][..])
    );
    let env = c.env.as_ref().unwrap();
    let pod_ip = env.iter().find(|e| e.name == "POD_IP").expect("POD_IP");
    assert_eq!(
        pod_ip
            .value_from
            .as_ref()
            .unwrap()
            .field_ref
            .as_ref()
            .unwrap()
            .field_path,
        "status.podIP"
    );
    let resources = c.resources.as_ref().unwrap();
    let limit = &resources.limits.as_ref().unwrap()["memory"].0;
    let request = &resources.requests.as_ref().unwrap()["memory"].0;
    assert!(
        limit.ends_with("Mi") && request.ends_with("Mi"),
        "{request} {limit}"
    );

    // The kube-dns Service.
    let service = service.unwrap();
    assert_eq!(service.metadata.name.as_deref(), Some("kube-dns"));
    let spec = service.spec.unwrap();
    assert_eq!(spec.cluster_ip.as_deref(), Some("10.96.0.10"));
    let ports: Vec<(i32, String)> = spec
        .ports
        .unwrap()
        .iter()
        .map(|p| (p.port, p.protocol.clone().unwrap()))
        .collect();
    assert_eq!(
        ports,
        [
            (53, "UDP".to_string()),
            (53, "TCP".to_string()),
            (9153, "TCP".to_string())
        ]
    );

    // kubeadm's Corefile, as the ConfigMap carries it: rollcall sets every directive of it up.
    let corefile = configmap.unwrap().data.unwrap()["Corefile"].clone();
    assert!(corefile.contains("kubernetes cluster.local in-addr.arpa ip6.arpa"));
    let options = corefile::ParseOptions::with_env(|_| None);
    if let Err(e) = rollcall::load_corefile_str(
        &corefile,
        "Corefile",
        Path::new("/etc/rollcall"),
        &options,
        53,
    ) {
        panic!("the ConfigMap's Corefile does not set up: {e}");
    }
}

#[test]
fn dockerfile_is_multi_stage_and_static() {
    let text = std::fs::read_to_string(deploy_dir().join("Dockerfile")).unwrap();
    let stages: Vec<&str> = text.lines().filter(|l| l.starts_with("FROM ")).collect();
    assert_eq!(stages.len(), 2, "{stages:?}");
    assert!(stages[1].contains("distroless/static"), "{stages:?}");
    assert!(text.contains("x86_64-unknown-linux-musl"));
    assert!(text.contains("setcap cap_net_bind_service=+ep"));
    assert!(text.contains("USER 65532"));
}
