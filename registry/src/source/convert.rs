//! Kubernetes API objects (k8s-openapi types) → the store's records.
//!
//! Independent of where the objects come from: the manifest source and the Kubernetes API watcher
//! both call these. Every name is lower-cased (DNS is case-insensitive and the store is keyed by the
//! lower-case spelling); an object without a namespace is in `default`, as `kubectl apply` would
//! put it.

use std::net::IpAddr;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Endpoints, Namespace, ObjectReference, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::store::{
    EndpointAddresses, EndpointRecord, EndpointSliceRecord, NamespaceRecord, PodIps, PodRecord,
    PortRecord, Protocol, ServiceKind, ServiceRecord,
};

/// The label that ties an EndpointSlice to its Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// The namespace of an object whose `metadata.namespace` is unset.
pub const DEFAULT_NAMESPACE: &str = "default";

/// Why an object cannot become a record. `field` values are JSON paths into the object
/// (`spec.ports[1].port`), so a message points at the line to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    #[error("metadata.name is missing")]
    MissingName,
    #[error("{field} {value:?} is not an IP address")]
    BadIp { field: String, value: String },
    #[error("label {SERVICE_NAME_LABEL} is missing (an EndpointSlice must name its Service)")]
    MissingServiceName,
    #[error("{field}: port {port} is out of range 1..=65535")]
    BadPort { field: String, port: i64 },
    #[error("{field} {value:?} is not TCP, UDP or SCTP")]
    BadProtocol { field: String, value: String },
    #[error("spec.externalName is empty on a Service of type ExternalName")]
    EmptyExternalName,
    #[error(
        "no clusterIP: spec.clusterIP and spec.clusterIPs are unset (use clusterIP: None for a headless Service)"
    )]
    NoClusterIp,
}

/// `metadata.name`, lower-cased; an error when absent or empty.
pub fn object_name(meta: &ObjectMeta) -> Result<Arc<str>, ConvertError> {
    match meta.name.as_deref() {
        Some(name) if !name.is_empty() => Ok(lower(name)),
        _ => Err(ConvertError::MissingName),
    }
}

/// `metadata.namespace`, lower-cased; [`DEFAULT_NAMESPACE`] when absent or empty.
pub fn object_namespace(meta: &ObjectMeta) -> Arc<str> {
    match meta.namespace.as_deref() {
        Some(ns) if !ns.is_empty() => lower(ns),
        _ => Arc::from(DEFAULT_NAMESPACE),
    }
}

pub fn namespace(ns: &Namespace) -> Result<NamespaceRecord, ConvertError> {
    Ok(NamespaceRecord {
        name: object_name(&ns.metadata)?,
    })
}

pub fn service(svc: &Service) -> Result<ServiceRecord, ConvertError> {
    let name = object_name(&svc.metadata)?;
    let namespace = object_namespace(&svc.metadata);
    let spec = svc.spec.as_ref();

    let is_external = spec
        .and_then(|s| s.type_.as_deref())
        .is_some_and(|t| t.eq_ignore_ascii_case("ExternalName"));
    let kind = if is_external {
        let target = spec
            .and_then(|s| s.external_name.as_deref())
            .unwrap_or_default()
            .trim();
        let target = target.strip_suffix('.').unwrap_or(target);
        if target.is_empty() {
            return Err(ConvertError::EmptyExternalName);
        }
        ServiceKind::ExternalName(lower(target))
    } else {
        let cluster_ip = spec
            .and_then(|s| s.cluster_ip.as_deref())
            .filter(|ip| !ip.is_empty());
        let cluster_ips: &[String] = spec
            .and_then(|s| s.cluster_ips.as_deref())
            .unwrap_or_default();
        let headless = cluster_ip.is_some_and(is_none_ip)
            || cluster_ips.first().is_some_and(|ip| is_none_ip(ip));
        if headless {
            ServiceKind::Headless
        } else if !cluster_ips.is_empty() {
            let ips = cluster_ips
                .iter()
                .enumerate()
                .map(|(i, ip)| parse_ip(&format!("spec.clusterIPs[{i}]"), ip))
                .collect::<Result<Vec<_>, _>>()?;
            ServiceKind::ClusterIp(ips)
        } else if let Some(ip) = cluster_ip {
            ServiceKind::ClusterIp(vec![parse_ip("spec.clusterIP", ip)?])
        } else {
            return Err(ConvertError::NoClusterIp);
        }
    };

    let ports = spec
        .and_then(|s| s.ports.as_deref())
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, p)| {
            port_record(
                &format!("spec.ports[{i}]"),
                p.name.as_deref(),
                p.protocol.as_deref(),
                i64::from(p.port),
            )
        })
        .collect::<Result<Vec<_>, _>>()?;

    let external_ips = external_ips(svc)?;
    Ok(ServiceRecord {
        name,
        namespace,
        kind,
        ports,
        external_ips,
    })
}

/// `spec.externalIPs`, then the load balancer's ingress IPs (hostnames are not addresses).
fn external_ips(svc: &Service) -> Result<Box<[IpAddr]>, ConvertError> {
    let spec_ips = svc
        .spec
        .as_ref()
        .and_then(|s| s.external_ips.as_deref())
        .unwrap_or_default();
    let ingress = svc
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_deref())
        .unwrap_or_default();
    let mut ips = Vec::new();
    for (i, ip) in spec_ips.iter().enumerate() {
        ips.push(parse_ip(&format!("spec.externalIPs[{i}]"), ip)?);
    }
    for (i, entry) in ingress.iter().enumerate() {
        if let Some(ip) = entry.ip.as_deref().filter(|ip| !ip.is_empty()) {
            let ip = parse_ip(&format!("status.loadBalancer.ingress[{i}].ip"), ip)?;
            if !ips.contains(&ip) {
                ips.push(ip);
            }
        }
    }
    Ok(ips.into_boxed_slice())
}

pub fn endpoint_slice(slice: &EndpointSlice) -> Result<EndpointSliceRecord, ConvertError> {
    let name = object_name(&slice.metadata)?;
    let namespace = object_namespace(&slice.metadata);
    let service = slice
        .metadata
        .labels
        .as_ref()
        .and_then(|labels| labels.get(SERVICE_NAME_LABEL))
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(lower)
        .ok_or(ConvertError::MissingServiceName)?;

    let mut ports = Vec::new();
    for (i, p) in slice.ports.iter().flatten().enumerate() {
        // A port without a number means "all ports" to kube-proxy; DNS has nothing to publish.
        let Some(number) = p.port else { continue };
        ports.push(port_record(
            &format!("ports[{i}]"),
            p.name.as_deref(),
            p.protocol.as_deref(),
            i64::from(number),
        )?);
    }

    // FQDN slices carry host names, not addresses: nothing the store can index.
    let endpoints = if slice.address_type.eq_ignore_ascii_case("FQDN") {
        Vec::new()
    } else {
        slice
            .endpoints
            .iter()
            .enumerate()
            .map(|(i, ep)| {
                let addresses = ep
                    .addresses
                    .iter()
                    .enumerate()
                    .map(|(j, a)| parse_ip(&format!("endpoints[{i}].addresses[{j}]"), a))
                    .collect::<Result<EndpointAddresses, _>>()?;
                Ok(EndpointRecord {
                    addresses,
                    hostname: non_empty_lower(ep.hostname.as_deref()),
                    pod_name: pod_target(ep.target_ref.as_ref()),
                    // Unset means ready (CoreDNS and the Kubernetes docs agree).
                    ready: ep.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true),
                })
            })
            .collect::<Result<Vec<_>, ConvertError>>()?
    };

    Ok(EndpointSliceRecord {
        name,
        namespace,
        service,
        ports,
        endpoints,
    })
}

/// Legacy `v1/Endpoints`: one slice per subset, named `<endpoints-name>-<subset index>` and owned by
/// the Service of the same name. `addresses` are ready, `notReadyAddresses` are not.
pub fn endpoints(ep: &Endpoints) -> Result<Vec<EndpointSliceRecord>, ConvertError> {
    let name = object_name(&ep.metadata)?;
    let namespace = object_namespace(&ep.metadata);
    let mut slices = Vec::new();
    for (i, subset) in ep.subsets.iter().flatten().enumerate() {
        let ports = subset
            .ports
            .iter()
            .flatten()
            .enumerate()
            .map(|(j, p)| {
                port_record(
                    &format!("subsets[{i}].ports[{j}]"),
                    p.name.as_deref(),
                    p.protocol.as_deref(),
                    i64::from(p.port),
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut endpoints = Vec::new();
        let groups = [
            ("addresses", subset.addresses.as_deref(), true),
            (
                "notReadyAddresses",
                subset.not_ready_addresses.as_deref(),
                false,
            ),
        ];
        for (field, addresses, ready) in groups {
            for (j, a) in addresses.unwrap_or_default().iter().enumerate() {
                endpoints.push(EndpointRecord {
                    addresses: vec![parse_ip(&format!("subsets[{i}].{field}[{j}].ip"), &a.ip)?]
                        .into(),
                    hostname: non_empty_lower(a.hostname.as_deref()),
                    pod_name: pod_target(a.target_ref.as_ref()),
                    ready,
                });
            }
        }
        slices.push(EndpointSliceRecord {
            name: Arc::from(format!("{name}-{i}")),
            namespace: Arc::clone(&namespace),
            service: Arc::clone(&name),
            ports,
            endpoints,
        });
    }
    Ok(slices)
}

pub fn pod(pod: &Pod) -> Result<PodRecord, ConvertError> {
    let name = object_name(&pod.metadata)?;
    let namespace = object_namespace(&pod.metadata);
    let status = pod.status.as_ref();
    let pod_ips = status
        .and_then(|s| s.pod_ips.as_deref())
        .unwrap_or_default();
    let ips = if !pod_ips.is_empty() {
        pod_ips
            .iter()
            .enumerate()
            .map(|(i, p)| parse_ip(&format!("status.podIPs[{i}].ip"), &p.ip))
            .collect::<Result<PodIps, _>>()?
    } else {
        match status.and_then(|s| s.pod_ip.as_deref()) {
            Some(ip) if !ip.is_empty() => std::iter::once(parse_ip("status.podIP", ip)?).collect(),
            _ => PodIps::new(),
        }
    };
    Ok(PodRecord {
        name,
        namespace,
        ips,
    })
}

fn lower(s: &str) -> Arc<str> {
    Arc::from(s.to_ascii_lowercase())
}

fn non_empty_lower(s: Option<&str>) -> Option<Arc<str>> {
    s.filter(|s| !s.is_empty()).map(lower)
}

fn is_none_ip(ip: &str) -> bool {
    ip.eq_ignore_ascii_case("None")
}

fn parse_ip(field: &str, value: &str) -> Result<IpAddr, ConvertError> {
    value.trim().parse().map_err(|_| ConvertError::BadIp {
        field: field.to_owned(),
        value: value.to_owned(),
    })
}

fn pod_target(target: Option<&ObjectReference>) -> Option<Arc<str>> {
    let target = target?;
    if target.kind.as_deref() != Some("Pod") {
        return None;
    }
    non_empty_lower(target.name.as_deref())
}

fn port_record(
    field: &str,
    name: Option<&str>,
    protocol: Option<&str>,
    port: i64,
) -> Result<PortRecord, ConvertError> {
    let port = u16::try_from(port)
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| ConvertError::BadPort {
            field: format!("{field}.port"),
            port,
        })?;
    let protocol = match protocol.filter(|p| !p.is_empty()) {
        None => Protocol::Tcp,
        Some(p) => Protocol::parse(p).ok_or_else(|| ConvertError::BadProtocol {
            field: format!("{field}.protocol"),
            value: p.to_owned(),
        })?,
    };
    Ok(PortRecord {
        name: non_empty_lower(name),
        protocol,
        port,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn from<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
        serde_json::from_value(v).expect("valid object")
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn namespace_lowercases_and_requires_name() {
        let ns: Namespace = from(json!({"metadata": {"name": "Apps"}}));
        assert_eq!(namespace(&ns).expect("ok").name.as_ref(), "apps");
        let ns: Namespace = from(json!({"metadata": {}}));
        assert_eq!(namespace(&ns), Err(ConvertError::MissingName));
        let ns: Namespace = from(json!({"metadata": {"name": ""}}));
        assert_eq!(namespace(&ns), Err(ConvertError::MissingName));
    }

    #[test]
    fn service_cluster_ip_dual_stack_and_defaults() {
        let svc: Service = from(json!({
            "metadata": {"name": "Web", "namespace": "Apps"},
            "spec": {
                "clusterIP": "10.96.0.10",
                "clusterIPs": ["10.96.0.10", "fd00::10"],
                "ports": [
                    {"name": "HTTP", "port": 80},
                    {"name": "", "port": 53, "protocol": "UDP"},
                    {"port": 9000, "protocol": "sctp"}
                ]
            }
        }));
        let rec = service(&svc).expect("ok");
        assert_eq!(rec.name.as_ref(), "web");
        assert_eq!(rec.namespace.as_ref(), "apps");
        assert_eq!(
            rec.kind,
            ServiceKind::ClusterIp(vec![ip("10.96.0.10"), ip("fd00::10")])
        );
        assert_eq!(
            rec.ports,
            vec![
                PortRecord {
                    name: Some(Arc::from("http")),
                    protocol: Protocol::Tcp,
                    port: 80
                },
                PortRecord {
                    name: None,
                    protocol: Protocol::Udp,
                    port: 53
                },
                PortRecord {
                    name: None,
                    protocol: Protocol::Sctp,
                    port: 9000
                },
            ]
        );
    }

    #[test]
    fn service_namespace_defaults_to_default() {
        let svc: Service =
            from(json!({"metadata": {"name": "web"}, "spec": {"clusterIP": "10.0.0.1"}}));
        let rec = service(&svc).expect("ok");
        assert_eq!(rec.namespace.as_ref(), "default");
        assert_eq!(rec.kind, ServiceKind::ClusterIp(vec![ip("10.0.0.1")]));
        assert!(rec.ports.is_empty());
    }

    #[test]
    fn service_falls_back_to_cluster_ip() {
        let svc: Service = from(
            json!({"metadata": {"name": "web"}, "spec": {"clusterIP": "fd00::1", "clusterIPs": []}}),
        );
        assert_eq!(
            service(&svc).expect("ok").kind,
            ServiceKind::ClusterIp(vec![ip("fd00::1")])
        );
    }

    #[test]
    fn service_headless() {
        let svc: Service = from(json!({"metadata": {"name": "db"}, "spec": {"clusterIP": "None"}}));
        assert_eq!(service(&svc).expect("ok").kind, ServiceKind::Headless);
        let svc: Service =
            from(json!({"metadata": {"name": "db"}, "spec": {"clusterIPs": ["None"]}}));
        assert_eq!(service(&svc).expect("ok").kind, ServiceKind::Headless);
    }

    #[test]
    fn service_external_name() {
        let svc: Service = from(
            json!({"metadata": {"name": "ext"}, "spec": {"type": "ExternalName", "externalName": "Example.COM."}}),
        );
        assert_eq!(
            service(&svc).expect("ok").kind,
            ServiceKind::ExternalName(Arc::from("example.com"))
        );
        let svc: Service =
            from(json!({"metadata": {"name": "ext"}, "spec": {"type": "ExternalName"}}));
        assert_eq!(service(&svc), Err(ConvertError::EmptyExternalName));
        let svc: Service = from(
            json!({"metadata": {"name": "ext"}, "spec": {"type": "ExternalName", "externalName": "."}}),
        );
        assert_eq!(service(&svc), Err(ConvertError::EmptyExternalName));
    }

    #[test]
    fn service_errors() {
        let svc: Service =
            from(json!({"metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}]}}));
        assert_eq!(service(&svc), Err(ConvertError::NoClusterIp));
        let svc: Service = from(json!({"metadata": {"name": "web"}}));
        assert_eq!(service(&svc), Err(ConvertError::NoClusterIp));
        let svc: Service = from(json!({"metadata": {"name": "web"}, "spec": {"clusterIP": ""}}));
        assert_eq!(service(&svc), Err(ConvertError::NoClusterIp));

        let svc: Service =
            from(json!({"metadata": {"name": "web"}, "spec": {"clusterIP": "10.96.0.300"}}));
        let err = service(&svc).expect_err("bad ip");
        assert_eq!(
            err.to_string(),
            "spec.clusterIP \"10.96.0.300\" is not an IP address"
        );
        let svc: Service = from(
            json!({"metadata": {"name": "web"}, "spec": {"clusterIPs": ["10.0.0.1", "nope"]}}),
        );
        assert!(
            matches!(service(&svc), Err(ConvertError::BadIp { field, .. }) if field == "spec.clusterIPs[1]")
        );

        for bad in [0, -1, 65536] {
            let svc: Service = from(
                json!({"metadata": {"name": "web"}, "spec": {"clusterIP": "10.0.0.1", "ports": [{"port": 80}, {"port": bad}]}}),
            );
            let err = service(&svc).expect_err("bad port");
            assert_eq!(
                err,
                ConvertError::BadPort {
                    field: "spec.ports[1].port".into(),
                    port: i64::from(bad)
                }
            );
        }
        let svc: Service = from(
            json!({"metadata": {"name": "web"}, "spec": {"clusterIP": "10.0.0.1", "ports": [{"port": 65535, "protocol": "HTTP"}]}}),
        );
        assert!(
            matches!(service(&svc), Err(ConvertError::BadProtocol { value, .. }) if value == "HTTP")
        );
        let svc: Service = from(json!({"metadata": {}, "spec": {"clusterIP": "10.0.0.1"}}));
        assert_eq!(service(&svc), Err(ConvertError::MissingName));
    }

    fn slice_json(endpoints: serde_json::Value) -> serde_json::Value {
        json!({
            "metadata": {"name": "Web-abc12", "namespace": "apps", "labels": {"kubernetes.io/service-name": "Web"}},
            "addressType": "IPv4",
            "endpoints": endpoints,
            "ports": [{"name": "http", "port": 8080}, {"name": "all"}, {"port": 53, "protocol": "UDP"}]
        })
    }

    #[test]
    fn endpoint_slice_fields() {
        let slice: EndpointSlice = from(slice_json(json!([
            {"addresses": ["10.1.0.1"], "hostname": "Web-0", "targetRef": {"kind": "Pod", "name": "Web-0"}},
            {"addresses": ["10.1.0.2"], "conditions": {"ready": false}, "targetRef": {"kind": "Node", "name": "n1"}},
            {"addresses": ["10.1.0.3", "10.1.0.4"], "conditions": {"ready": true}},
            {"addresses": ["10.1.0.5"], "conditions": {}}
        ])));
        let rec = endpoint_slice(&slice).expect("ok");
        assert_eq!(rec.name.as_ref(), "web-abc12");
        assert_eq!(rec.namespace.as_ref(), "apps");
        assert_eq!(rec.service.as_ref(), "web");
        assert_eq!(
            rec.ports,
            vec![
                PortRecord {
                    name: Some(Arc::from("http")),
                    protocol: Protocol::Tcp,
                    port: 8080
                },
                PortRecord {
                    name: None,
                    protocol: Protocol::Udp,
                    port: 53
                },
            ]
        );
        assert_eq!(
            rec.endpoints,
            vec![
                EndpointRecord {
                    addresses: vec![ip("10.1.0.1")].into(),
                    hostname: Some(Arc::from("web-0")),
                    pod_name: Some(Arc::from("web-0")),
                    ready: true
                },
                EndpointRecord {
                    addresses: vec![ip("10.1.0.2")].into(),
                    hostname: None,
                    pod_name: None,
                    ready: false
                },
                EndpointRecord {
                    addresses: vec![ip("10.1.0.3"), ip("10.1.0.4")].into(),
                    hostname: None,
                    pod_name: None,
                    ready: true
                },
                EndpointRecord {
                    addresses: vec![ip("10.1.0.5")].into(),
                    hostname: None,
                    pod_name: None,
                    ready: true
                },
            ]
        );
    }

    #[test]
    fn endpoint_slice_errors_and_fqdn() {
        let mut v = slice_json(json!([]));
        v["metadata"]["labels"] = json!({});
        let slice: EndpointSlice = from(v);
        assert_eq!(
            endpoint_slice(&slice),
            Err(ConvertError::MissingServiceName)
        );

        let slice: EndpointSlice = from(slice_json(
            json!([{"addresses": ["10.1.0.1"]}, {"addresses": ["10.1.0.1", "x"]}]),
        ));
        let err = endpoint_slice(&slice).expect_err("bad ip");
        assert_eq!(
            err.to_string(),
            "endpoints[1].addresses[1] \"x\" is not an IP address"
        );

        let mut v = slice_json(json!([{"addresses": ["10.1.0.1"]}]));
        v["ports"] = json!([{"port": 70000}]);
        let slice: EndpointSlice = from(v);
        assert!(matches!(
            endpoint_slice(&slice),
            Err(ConvertError::BadPort { port: 70000, .. })
        ));

        let mut v = slice_json(json!([{"addresses": ["db.example.com"]}]));
        v["addressType"] = json!("FQDN");
        let slice: EndpointSlice = from(v);
        let rec = endpoint_slice(&slice).expect("fqdn is skipped, not an error");
        assert!(rec.endpoints.is_empty());
    }

    #[test]
    fn legacy_endpoints_become_one_slice_per_subset() {
        let ep: Endpoints = from(json!({
            "metadata": {"name": "DB", "namespace": "data"},
            "subsets": [
                {
                    "addresses": [{"ip": "10.2.0.1", "hostname": "db-0", "targetRef": {"kind": "Pod", "name": "db-0"}}],
                    "notReadyAddresses": [{"ip": "10.2.0.2"}],
                    "ports": [{"name": "pg", "port": 5432}]
                },
                {"addresses": [{"ip": "fd00::2"}]}
            ]
        }));
        let slices = endpoints(&ep).expect("ok");
        assert_eq!(slices.len(), 2);
        assert_eq!(slices[0].name.as_ref(), "db-0");
        assert_eq!(slices[1].name.as_ref(), "db-1");
        assert!(
            slices
                .iter()
                .all(|s| s.service.as_ref() == "db" && s.namespace.as_ref() == "data")
        );
        assert_eq!(
            slices[0].ports,
            vec![PortRecord {
                name: Some(Arc::from("pg")),
                protocol: Protocol::Tcp,
                port: 5432
            }]
        );
        assert_eq!(
            slices[0].endpoints,
            vec![
                EndpointRecord {
                    addresses: vec![ip("10.2.0.1")].into(),
                    hostname: Some(Arc::from("db-0")),
                    pod_name: Some(Arc::from("db-0")),
                    ready: true
                },
                EndpointRecord {
                    addresses: vec![ip("10.2.0.2")].into(),
                    hostname: None,
                    pod_name: None,
                    ready: false
                },
            ]
        );
        assert_eq!(
            slices[1].endpoints[0].addresses.to_vec(),
            vec![ip("fd00::2")]
        );
        assert!(slices[1].ports.is_empty());

        let ep: Endpoints = from(json!({"metadata": {"name": "empty"}}));
        assert!(endpoints(&ep).expect("ok").is_empty());

        let ep: Endpoints = from(
            json!({"metadata": {"name": "bad"}, "subsets": [{"notReadyAddresses": [{"ip": "1.2.3"}]}]}),
        );
        assert_eq!(
            endpoints(&ep).expect_err("bad ip").to_string(),
            "subsets[0].notReadyAddresses[0].ip \"1.2.3\" is not an IP address"
        );
    }

    #[test]
    fn pod_ips() {
        let p: Pod = from(json!({
            "metadata": {"name": "Web-0", "namespace": "apps"},
            "spec": {"hostNetwork": true, "containers": []},
            "status": {"podIP": "10.1.0.1", "podIPs": [{"ip": "10.1.0.1"}, {"ip": "fd00::1"}]}
        }));
        let rec = pod(&p).expect("ok");
        assert_eq!(rec.name.as_ref(), "web-0");
        assert_eq!(rec.namespace.as_ref(), "apps");
        assert_eq!(rec.ips.to_vec(), vec![ip("10.1.0.1"), ip("fd00::1")]);

        let p: Pod = from(json!({"metadata": {"name": "p"}, "status": {"podIP": "10.1.0.9"}}));
        let rec = pod(&p).expect("ok");
        assert_eq!(rec.ips.to_vec(), vec![ip("10.1.0.9")]);
        assert_eq!(rec.namespace.as_ref(), "default");

        let p: Pod = from(json!({"metadata": {"name": "pending"}}));
        assert!(pod(&p).expect("ok").ips.is_empty());

        let p: Pod =
            from(json!({"metadata": {"name": "p"}, "status": {"podIPs": [{"ip": "10.1.0.999"}]}}));
        assert_eq!(
            pod(&p).expect_err("bad ip").to_string(),
            "status.podIPs[0].ip \"10.1.0.999\" is not an IP address"
        );
    }
}
