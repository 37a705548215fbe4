//! Cluster objects shrunk to the fields DNS answers need. Every field here costs memory on every
//! object of a 150,000-pod cluster, so each one is a decision: add a field only when an answer
//! depends on it.

use std::net::IpAddr;
use std::sync::Arc;

use smallvec::SmallVec;

/// An endpoint's addresses: almost always exactly one, kept inline (no allocation per endpoint).
pub type EndpointAddresses = SmallVec<[IpAddr; 1]>;
/// A pod's `status.podIPs`: one or two (dual-stack), inline.
pub type PodIps = SmallVec<[IpAddr; 2]>;

/// Which of the four watched kinds an object is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ObjectKind {
    Namespace,
    Service,
    EndpointSlice,
    Pod,
}

impl ObjectKind {
    pub const ALL: [ObjectKind; 4] = [
        ObjectKind::Namespace,
        ObjectKind::Service,
        ObjectKind::EndpointSlice,
        ObjectKind::Pod,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::Namespace => "Namespace",
            ObjectKind::Service => "Service",
            ObjectKind::EndpointSlice => "EndpointSlice",
            ObjectKind::Pod => "Pod",
        }
    }
}

/// One object as a source hands it to the store.
#[derive(Debug, Clone, PartialEq)]
pub enum ClusterObject {
    Namespace(NamespaceRecord),
    Service(ServiceRecord),
    EndpointSlice(EndpointSliceRecord),
    Pod(PodRecord),
}

impl ClusterObject {
    pub fn kind(&self) -> ObjectKind {
        match self {
            ClusterObject::Namespace(_) => ObjectKind::Namespace,
            ClusterObject::Service(_) => ObjectKind::Service,
            ClusterObject::EndpointSlice(_) => ObjectKind::EndpointSlice,
            ClusterObject::Pod(_) => ObjectKind::Pod,
        }
    }

    /// The object's identity within its kind: `name.namespace` (just `name` for a Namespace).
    pub fn key(&self) -> ObjectKey {
        match self {
            ClusterObject::Namespace(n) => ObjectKey::new(ObjectKind::Namespace, "", &n.name),
            ClusterObject::Service(s) => ObjectKey::new(ObjectKind::Service, &s.namespace, &s.name),
            ClusterObject::EndpointSlice(e) => {
                ObjectKey::new(ObjectKind::EndpointSlice, &e.namespace, &e.name)
            }
            ClusterObject::Pod(p) => ObjectKey::new(ObjectKind::Pod, &p.namespace, &p.name),
        }
    }
}

/// Kind plus `name.namespace`, lower-cased: the same spelling a DNS query uses, so the answer path
/// can look a Service up with a slice of the query name and no allocation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey {
    pub kind: ObjectKind,
    pub name: Box<str>,
}

impl ObjectKey {
    pub fn new(kind: ObjectKind, namespace: &str, name: &str) -> Self {
        let joined = if namespace.is_empty() {
            name.to_ascii_lowercase()
        } else {
            format!("{name}.{namespace}").to_ascii_lowercase()
        };
        ObjectKey {
            kind,
            name: joined.into_boxed_str(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceRecord {
    pub name: Arc<str>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRecord {
    pub name: Arc<str>,
    pub namespace: Arc<str>,
    pub kind: ServiceKind,
    pub ports: Vec<PortRecord>,
    /// `spec.externalIPs` then `status.loadBalancer.ingress[].ip`, for `k8s_external` (empty
    /// for nearly every Service: an empty box allocates nothing).
    pub external_ips: Box<[IpAddr]>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceKind {
    /// `spec.clusterIPs` (or `spec.clusterIP`): one per IP family on a dual-stack Service.
    ClusterIp(Vec<IpAddr>),
    /// `clusterIP: None`: answered from the ready endpoints.
    Headless,
    /// The target with any trailing dot removed, lower-cased.
    ExternalName(Arc<str>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    pub fn parse(s: &str) -> Option<Protocol> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" => Some(Protocol::Tcp),
            "udp" => Some(Protocol::Udp),
            "sctp" => Some(Protocol::Sctp),
            _ => None,
        }
    }

    /// Lower-case, as it appears in an SRV name (`_tcp`).
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PortRecord {
    /// Lower-cased; `None` for an unnamed port (no SRV record of its own).
    pub name: Option<Arc<str>>,
    pub protocol: Protocol,
    pub port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointSliceRecord {
    pub name: Arc<str>,
    pub namespace: Arc<str>,
    /// From the `kubernetes.io/service-name` label: which Service this slice belongs to.
    pub service: Arc<str>,
    pub ports: Vec<PortRecord>,
    pub endpoints: Vec<EndpointRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointRecord {
    pub addresses: EndpointAddresses,
    pub hostname: Option<Arc<str>>,
    /// `targetRef.name` when the target is a Pod (for `endpoint_pod_names`).
    pub pod_name: Option<Arc<str>>,
    /// `conditions.ready`, with unset counted as ready (as CoreDNS does).
    pub ready: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodRecord {
    pub name: Arc<str>,
    pub namespace: Arc<str>,
    /// `status.podIPs` (every family, so a dual-stack pod verifies on both addresses).
    pub ips: PodIps,
}
