//! The slim shapes ([`super::slim`], what the API path deserializes into) against the full
//! k8s-openapi objects (what the manifests source deserializes into), over the whole golden
//! fixture `tests/fixtures/k8s/cluster/`: every Namespace, Service, EndpointSlice and Pod must
//! become the same record and pass the same filters either way. A field `convert.rs` starts to
//! read but `slim.rs` does not keep fails here, as long as the fixture sets it; the coverage check
//! below (an exhaustive destructuring of every record) makes a new record field fail to compile
//! until the fixture is shown to exercise it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{Namespace, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::slim::{SlimEndpointSlice, SlimNamespace, SlimPod, SlimService};
use super::watch::Watched;
use crate::source::convert::{self, ConvertError};
use crate::source::filter::Filter;
use crate::source::selector::Selector;
use crate::store::{
    ClusterObject, EndpointRecord, EndpointSliceRecord, NamespaceRecord, PodRecord, PortRecord,
    Protocol, ServiceKind, ServiceRecord,
};

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/k8s/cluster")
}

/// Every object of the fixture directory (`List`s flattened), as JSON, the way the API server
/// sends it, with the file it came from.
fn fixture_objects() -> Vec<(String, Value)> {
    let dir = fixture_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    let mut objects = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        for document in serde_yaml_ng::Deserializer::from_str(&text) {
            let value = Value::deserialize(document).unwrap();
            flatten(value, &mut |v| objects.push((name.clone(), v)));
        }
    }
    objects
}

fn flatten(value: Value, out: &mut impl FnMut(Value)) {
    match value.get("kind").and_then(Value::as_str) {
        None => {}
        Some("List") => {
            for item in value["items"].as_array().cloned().unwrap_or_default() {
                flatten(item, out);
            }
        }
        Some(_) => out(value),
    }
}

/// The filters the golden Corefile uses (and none), each applied to both shapes.
fn filters() -> Vec<Filter> {
    let namespaces = Some(BTreeSet::from(["apps".to_string(), "data".to_string()]));
    let labels = Some(Selector::parse("tier in (frontend, backend)").unwrap());
    vec![
        Filter::default(),
        Filter {
            namespaces: namespaces.clone(),
            labels: None,
        },
        Filter {
            namespaces: None,
            labels: labels.clone(),
        },
        Filter { namespaces, labels },
    ]
}

/// The object deserialized both ways: the same record (or the same error), the same filter
/// decisions. Returns the record.
fn both_ways<S, F>(
    what: &str,
    object: &Value,
    full_record: impl Fn(&F) -> Result<ClusterObject, ConvertError>,
) -> ClusterObject
where
    S: Watched,
    F: DeserializeOwned + k8s_openapi::Resource + k8s_openapi::Metadata<Ty = ObjectMeta>,
{
    let slim: S = serde_json::from_value(object.clone())
        .unwrap_or_else(|e| panic!("{what}: slim shape: {e}"));
    let full: F = serde_json::from_value(object.clone())
        .unwrap_or_else(|e| panic!("{what}: full object: {e}"));
    let slim_record = slim.to_record();
    assert_eq!(
        slim_record,
        full_record(&full),
        "{what}: the slim shape converts to another record than the full object"
    );
    for filter in filters() {
        assert_eq!(
            filter.keeps(&slim),
            filter.keeps(&full),
            "{what}: {filter:?} decides differently for the slim shape"
        );
    }
    slim_record.unwrap_or_else(|e| panic!("{what}: the fixture object does not convert: {e}"))
}

#[test]
fn slim_shapes_convert_like_full_objects_over_the_golden_fixture() {
    let mut records = Vec::new();
    let mut legacy_endpoints = 0;
    for (file, object) in fixture_objects() {
        let kind = object["kind"].as_str().unwrap_or_default().to_string();
        let what = format!(
            "{file}: {kind} {}/{}",
            object["metadata"]["namespace"].as_str().unwrap_or_default(),
            object["metadata"]["name"].as_str().unwrap_or_default()
        );
        let record = match kind.as_str() {
            "Namespace" => both_ways::<SlimNamespace, Namespace>(&what, &object, |o| {
                convert::namespace(o).map(ClusterObject::Namespace)
            }),
            "Service" => both_ways::<SlimService, Service>(&what, &object, |o| {
                convert::service(o).map(ClusterObject::Service)
            }),
            "EndpointSlice" => both_ways::<SlimEndpointSlice, EndpointSlice>(&what, &object, |o| {
                convert::endpoint_slice(o).map(ClusterObject::EndpointSlice)
            }),
            "Pod" => both_ways::<SlimPod, Pod>(&what, &object, |o| {
                convert::pod(o).map(ClusterObject::Pod)
            }),
            // Not watched: on a cluster the EndpointSliceMirroring controller turns it into
            // EndpointSlices, which the API path reads as above.
            "Endpoints" => {
                legacy_endpoints += 1;
                continue;
            }
            other => panic!("{what}: a kind this test does not know: {other}"),
        };
        records.push(record);
    }
    assert!(legacy_endpoints > 0, "the fixture lost its v1 Endpoints");
    check_coverage(&records);
}

/// Every field of every record is set to something other than its default by some fixture
/// object, so a field the slim shapes dropped could not go unnoticed. The destructurings list
/// every field (no `..`): a new record field does not compile here until it is covered.
fn check_coverage(records: &[ClusterObject]) {
    #[derive(Default, Debug)]
    struct Seen {
        namespaces: bool,
        service_namespace: bool,
        cluster_ip: bool,
        dual_stack: bool,
        headless: bool,
        external_name: bool,
        service_ports: bool,
        named_port: bool,
        unnamed_port: bool,
        non_tcp_port: bool,
        external_ips: bool,
        slice_service: bool,
        slice_ports: bool,
        endpoint_addresses: bool,
        endpoint_hostname: bool,
        endpoint_pod_name: bool,
        endpoint_not_ready: bool,
        endpoint_ready: bool,
        pod_ips: bool,
        pod_dual_stack: bool,
    }
    fn port(p: &PortRecord, seen: &mut Seen) {
        let PortRecord {
            name,
            protocol,
            port,
        } = p;
        assert_ne!(*port, 0);
        seen.named_port |= name.is_some();
        seen.unnamed_port |= name.is_none();
        seen.non_tcp_port |= *protocol != Protocol::Tcp;
    }
    let mut seen = Seen::default();
    for record in records {
        match record {
            ClusterObject::Namespace(NamespaceRecord { name }) => {
                seen.namespaces |= !name.is_empty();
            }
            ClusterObject::Service(ServiceRecord {
                name,
                namespace,
                kind,
                ports,
                external_ips,
            }) => {
                assert!(!name.is_empty());
                seen.service_namespace |= namespace.as_ref() != convert::DEFAULT_NAMESPACE;
                match kind {
                    ServiceKind::ClusterIp(ips) => {
                        seen.cluster_ip = true;
                        seen.dual_stack |= ips.len() > 1;
                    }
                    ServiceKind::Headless => seen.headless = true,
                    ServiceKind::ExternalName(_) => seen.external_name = true,
                }
                seen.service_ports |= !ports.is_empty();
                for p in ports {
                    port(p, &mut seen);
                }
                seen.external_ips |= !external_ips.is_empty();
            }
            ClusterObject::EndpointSlice(EndpointSliceRecord {
                name,
                namespace,
                service,
                ports,
                endpoints,
            }) => {
                assert!(!name.is_empty() && !namespace.is_empty());
                seen.slice_service |= !service.is_empty();
                seen.slice_ports |= !ports.is_empty();
                for p in ports {
                    port(p, &mut seen);
                }
                for EndpointRecord {
                    addresses,
                    hostname,
                    pod_name,
                    ready,
                } in endpoints
                {
                    seen.endpoint_addresses |= !addresses.is_empty();
                    seen.endpoint_hostname |= hostname.is_some();
                    seen.endpoint_pod_name |= pod_name.is_some();
                    seen.endpoint_ready |= *ready;
                    seen.endpoint_not_ready |= !*ready;
                }
            }
            ClusterObject::Pod(PodRecord {
                name,
                namespace,
                ips,
            }) => {
                assert!(!name.is_empty() && !namespace.is_empty());
                seen.pod_ips |= !ips.is_empty();
                seen.pod_dual_stack |= ips.len() > 1;
            }
        }
    }
    let debug = format!("{seen:?}");
    assert!(
        !debug.contains("false"),
        "the golden fixture leaves some record field at its default, so a slim shape could drop it unnoticed: {debug}"
    );
}
