//! Which objects a source keeps: the `namespaces` and `labels` options of the `kubernetes`
//! directive. Applied to the API objects before conversion, so a filtered-out object is never
//! converted (and never reported as broken).

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::convert::DEFAULT_NAMESPACE;
use super::selector::Selector;

#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Keep only objects in these namespaces (and the Namespace objects of these names).
    pub namespaces: Option<BTreeSet<String>>,
    /// Keep only Services, EndpointSlices and Endpoints whose labels match. Pods and Namespaces
    /// are not label-filtered (as in CoreDNS).
    pub labels: Option<Selector>,
}

impl Filter {
    /// True when `namespace` (an object's namespace, or a Namespace object's name) is exposed.
    /// Case-insensitive; an empty namespace is `default`.
    pub fn keeps_namespace(&self, namespace: &str) -> bool {
        let namespace = if namespace.is_empty() {
            DEFAULT_NAMESPACE
        } else {
            namespace
        };
        match &self.namespaces {
            None => true,
            Some(set) => set.iter().any(|n| n.eq_ignore_ascii_case(namespace)),
        }
    }

    /// True when an object with these labels passes the `labels` selector.
    pub fn keeps_labels(&self, labels: Option<&BTreeMap<String, String>>) -> bool {
        match &self.labels {
            None => true,
            Some(selector) => match labels {
                Some(labels) => selector.matches(labels),
                None => selector.matches(&BTreeMap::new()),
            },
        }
    }

    /// The whole rule for an object of `kind` (its Kubernetes kind, e.g. `"Service"`).
    pub fn keeps_meta(&self, kind: &str, meta: &ObjectMeta) -> bool {
        match kind {
            "Namespace" => self.keeps_namespace(meta.name.as_deref().unwrap_or_default()),
            "Pod" => self.keeps_namespace(meta.namespace.as_deref().unwrap_or_default()),
            _ => {
                self.keeps_namespace(meta.namespace.as_deref().unwrap_or_default())
                    && self.keeps_labels(meta.labels.as_ref())
            }
        }
    }

    /// [`Filter::keeps_meta`] for a typed object.
    pub fn keeps<K>(&self, object: &K) -> bool
    where
        K: k8s_openapi::Resource + k8s_openapi::Metadata<Ty = ObjectMeta>,
    {
        self.keeps_meta(K::KIND, object.metadata())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{Namespace, Pod, Service};
    use k8s_openapi::api::discovery::v1::EndpointSlice;
    use serde_json::json;

    fn from<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
        serde_json::from_value(v).expect("valid object")
    }

    #[test]
    fn default_keeps_everything() {
        let f = Filter::default();
        let svc: Service = from(json!({"metadata": {"name": "a", "namespace": "x"}}));
        assert!(f.keeps(&svc));
    }

    #[test]
    fn namespaces() {
        let f = Filter {
            namespaces: Some(["apps".to_owned(), "default".to_owned()].into()),
            labels: None,
        };
        let svc: Service = from(json!({"metadata": {"name": "a", "namespace": "apps"}}));
        assert!(f.keeps(&svc));
        let svc: Service = from(json!({"metadata": {"name": "a", "namespace": "Apps"}}));
        assert!(f.keeps(&svc));
        let svc: Service = from(json!({"metadata": {"name": "a", "namespace": "other"}}));
        assert!(!f.keeps(&svc));
        let svc: Service = from(json!({"metadata": {"name": "a"}}));
        assert!(f.keeps(&svc), "no namespace means default");
        let pod: Pod = from(json!({"metadata": {"name": "p", "namespace": "other"}}));
        assert!(!f.keeps(&pod));
        let ns: Namespace = from(json!({"metadata": {"name": "apps"}}));
        assert!(f.keeps(&ns));
        let ns: Namespace = from(json!({"metadata": {"name": "other"}}));
        assert!(!f.keeps(&ns));
    }

    #[test]
    fn labels_apply_to_services_and_slices_only() {
        let f = Filter {
            namespaces: None,
            labels: Some(Selector::parse("app=web,!canary").expect("selector")),
        };
        let svc: Service = from(json!({"metadata": {"name": "a", "labels": {"app": "web"}}}));
        assert!(f.keeps(&svc));
        let svc: Service =
            from(json!({"metadata": {"name": "a", "labels": {"app": "web", "canary": "1"}}}));
        assert!(!f.keeps(&svc));
        let svc: Service = from(json!({"metadata": {"name": "a"}}));
        assert!(!f.keeps(&svc));
        let slice: EndpointSlice = from(
            json!({"metadata": {"name": "a", "labels": {"app": "db"}}, "addressType": "IPv4", "endpoints": []}),
        );
        assert!(!f.keeps(&slice));
        let pod: Pod = from(json!({"metadata": {"name": "p"}}));
        assert!(f.keeps(&pod));
        let ns: Namespace = from(json!({"metadata": {"name": "apps"}}));
        assert!(f.keeps(&ns));

        let f = Filter {
            namespaces: None,
            labels: Some(Selector::parse("!canary").expect("selector")),
        };
        let svc: Service = from(json!({"metadata": {"name": "a"}}));
        assert!(
            f.keeps(&svc),
            "an object without labels can match a negative selector"
        );
    }
}
