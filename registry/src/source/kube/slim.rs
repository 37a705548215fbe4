//! The four watched types, deserialized with only the fields DNS needs.
//!
//! A list of 150,000 Pods is mostly `spec`, `managedFields`, annotations and conditions that no
//! answer uses. Deserializing the full k8s-openapi types builds all of that only to drop it a
//! moment later: seconds of CPU at start-up, and heap churn that stays as resident memory.
//! These wrappers hold the k8s-openapi type (so [`crate::source::convert`] and the filter work
//! unchanged) but fill only `metadata.{name, namespace, resourceVersion, labels}` and the fields
//! their conversion reads; serde skips everything else without allocating.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    LoadBalancerStatus, Namespace, Pod, PodIP, PodStatus, Service, ServiceSpec, ServiceStatus,
};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Deserializer};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Meta {
    name: Option<String>,
    namespace: Option<String>,
    resource_version: Option<String>,
    /// Kept only where a decision reads it (`labels`, the slice's Service); skipped otherwise.
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BareMeta {
    name: Option<String>,
    namespace: Option<String>,
    resource_version: Option<String>,
}

impl From<Meta> for ObjectMeta {
    fn from(m: Meta) -> Self {
        ObjectMeta {
            name: m.name,
            namespace: m.namespace,
            resource_version: m.resource_version,
            labels: m.labels,
            ..ObjectMeta::default()
        }
    }
}

impl From<BareMeta> for ObjectMeta {
    fn from(m: BareMeta) -> Self {
        ObjectMeta {
            name: m.name,
            namespace: m.namespace,
            resource_version: m.resource_version,
            ..ObjectMeta::default()
        }
    }
}

/// A newtype over a k8s-openapi type that takes its API identity from the inner type.
macro_rules! slim {
    ($(#[$doc:meta])* $name:ident($inner:ty)) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub(crate) struct $name(pub(crate) $inner);

        impl k8s_openapi::Resource for $name {
            const API_VERSION: &'static str = <$inner as k8s_openapi::Resource>::API_VERSION;
            const GROUP: &'static str = <$inner as k8s_openapi::Resource>::GROUP;
            const KIND: &'static str = <$inner as k8s_openapi::Resource>::KIND;
            const VERSION: &'static str = <$inner as k8s_openapi::Resource>::VERSION;
            const URL_PATH_SEGMENT: &'static str =
                <$inner as k8s_openapi::Resource>::URL_PATH_SEGMENT;
            type Scope = <$inner as k8s_openapi::Resource>::Scope;
        }

        impl k8s_openapi::ListableResource for $name {
            const LIST_KIND: &'static str = <$inner as k8s_openapi::ListableResource>::LIST_KIND;
        }

        impl k8s_openapi::Metadata for $name {
            type Ty = ObjectMeta;
            fn metadata(&self) -> &ObjectMeta {
                k8s_openapi::Metadata::metadata(&self.0)
            }
            fn metadata_mut(&mut self) -> &mut ObjectMeta {
                k8s_openapi::Metadata::metadata_mut(&mut self.0)
            }
        }
    };
}

slim!(
    /// `metadata` only.
    SlimNamespace(Namespace)
);
slim!(
    /// `metadata` (with labels) and `spec`; no `status`.
    SlimService(Service)
);
slim!(
    /// `metadata` (with labels), `addressType`, `endpoints`, `ports`.
    SlimEndpointSlice(EndpointSlice)
);
slim!(
    /// `metadata` (no labels) and `status.podIP`/`podIPs`.
    SlimPod(Pod)
);

impl<'de> Deserialize<'de> for SlimNamespace {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Shadow {
            metadata: BareMeta,
        }
        let s = Shadow::deserialize(d)?;
        Ok(SlimNamespace(Namespace {
            metadata: s.metadata.into(),
            ..Namespace::default()
        }))
    }
}

impl<'de> Deserialize<'de> for SlimService {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        /// Of the status, only the load balancer's ingress addresses (for `k8s_external`).
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Status {
            load_balancer: Option<LoadBalancerStatus>,
        }
        #[derive(Deserialize)]
        struct Shadow {
            metadata: Meta,
            spec: Option<ServiceSpec>,
            status: Option<Status>,
        }
        let s = Shadow::deserialize(d)?;
        Ok(SlimService(Service {
            metadata: s.metadata.into(),
            spec: s.spec,
            status: s.status.map(|st| ServiceStatus {
                load_balancer: st.load_balancer,
                ..ServiceStatus::default()
            }),
        }))
    }
}

impl<'de> Deserialize<'de> for SlimEndpointSlice {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Shadow {
            metadata: Meta,
            #[serde(default)]
            address_type: String,
            #[serde(default)]
            endpoints: Vec<Endpoint>,
            ports: Option<Vec<EndpointPort>>,
        }
        let s = Shadow::deserialize(d)?;
        Ok(SlimEndpointSlice(EndpointSlice {
            metadata: s.metadata.into(),
            address_type: s.address_type,
            endpoints: s.endpoints,
            ports: s.ports,
        }))
    }
}

impl<'de> Deserialize<'de> for SlimPod {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Status {
            #[serde(rename = "podIP")]
            pod_ip: Option<String>,
            #[serde(rename = "podIPs")]
            pod_ips: Option<Vec<PodIP>>,
        }
        #[derive(Deserialize)]
        struct Shadow {
            metadata: BareMeta,
            status: Option<Status>,
        }
        let s = Shadow::deserialize(d)?;
        Ok(SlimPod(Pod {
            metadata: s.metadata.into(),
            spec: None,
            status: s.status.map(|st| PodStatus {
                pod_ip: st.pod_ip,
                pod_ips: st.pod_ips,
                ..PodStatus::default()
            }),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::convert;
    use serde_json::json;

    #[test]
    fn slim_objects_convert_like_full_ones() {
        let pod = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web-0", "namespace": "apps", "resourceVersion": "7",
                         "labels": {"app": "web"}, "managedFields": [{"manager": "kubelet"}]},
            "spec": {"containers": [{"name": "c", "image": "i"}]},
            "status": {"podIP": "10.0.0.1", "podIPs": [{"ip": "10.0.0.1"}, {"ip": "fd00::1"}],
                       "conditions": [{"type": "Ready", "status": "True"}]}
        });
        let slim: SlimPod = serde_json::from_value(pod.clone()).unwrap();
        let full: Pod = serde_json::from_value(pod).unwrap();
        assert_eq!(convert::pod(&slim.0), convert::pod(&full));
        assert_eq!(slim.0.metadata.resource_version.as_deref(), Some("7"));
        assert!(slim.0.spec.is_none() && slim.0.metadata.managed_fields.is_none());

        let slice = json!({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "web-x", "namespace": "apps",
                         "labels": {"kubernetes.io/service-name": "web"},
                         "annotations": {"a": "b"}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.0.0.1"], "conditions": {"ready": true},
                           "targetRef": {"kind": "Pod", "name": "web-0"}}],
            "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]
        });
        let slim: SlimEndpointSlice = serde_json::from_value(slice.clone()).unwrap();
        let full: EndpointSlice = serde_json::from_value(slice).unwrap();
        assert_eq!(
            convert::endpoint_slice(&slim.0),
            convert::endpoint_slice(&full)
        );

        let svc = json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "web", "namespace": "apps", "labels": {"app": "web"}},
            "spec": {"clusterIP": "10.96.0.1", "ports": [{"name": "http", "port": 80}],
                     "type": "LoadBalancer", "externalIPs": ["192.0.2.7"]},
            "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.9"}, {"hostname": "lb.example"}]},
                       "conditions": [{"type": "x", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z", "reason": "r", "message": "m"}]}
        });
        let slim: SlimService = serde_json::from_value(svc.clone()).unwrap();
        let full: Service = serde_json::from_value(svc).unwrap();
        assert_eq!(convert::service(&slim.0), convert::service(&full));
        let ips: Vec<String> = convert::service(&slim.0)
            .unwrap()
            .external_ips
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            ips,
            ["192.0.2.7", "203.0.113.9"],
            "externalIPs, then the load balancer's"
        );
        assert_eq!(
            slim.0.metadata.labels.as_ref().map(|l| l["app"].as_str()),
            Some("web")
        );

        let ns: SlimNamespace =
            serde_json::from_value(json!({"metadata": {"name": "apps"}})).unwrap();
        assert_eq!(convert::namespace(&ns.0).unwrap().name.as_ref(), "apps");
    }
}
