//! The read side: what the DNS answer path gets back from a lookup. Each value is immutable and
//! shared (`Arc`), rebuilt whole by the writer whenever one of its inputs changes.

use std::net::IpAddr;
use std::sync::Arc;

use smallvec::SmallVec;

use super::records::{PortRecord, ServiceKind, ServiceRecord};

/// A Service joined with the ready endpoints of all its EndpointSlices.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceEntry {
    pub service: Arc<ServiceRecord>,
    /// Ready endpoints, one per address, de-duplicated across slices (first slice by name wins).
    pub endpoints: Vec<ReadyEndpoint>,
}

impl ServiceEntry {
    pub fn is_headless(&self) -> bool {
        matches!(self.service.kind, ServiceKind::Headless)
    }

    pub fn cluster_ips(&self) -> &[IpAddr] {
        match &self.service.kind {
            ServiceKind::ClusterIp(ips) => ips,
            _ => &[],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadyEndpoint {
    pub addr: IpAddr,
    pub hostname: Option<Arc<str>>,
    pub pod_name: Option<Arc<str>>,
    /// The ports of the slice this endpoint came from (shared by every endpoint of that slice).
    pub ports: Arc<[PortRecord]>,
}

/// The Services an address belongs to (for PTR): nearly always one, kept inline.
pub type PtrOwners = SmallVec<[Arc<ServiceEntry>; 1]>;

/// The namespaces of the pods that have an address (for `pods verified`): nearly always one.
pub type PodNamespaces = SmallVec<[Arc<str>; 1]>;
