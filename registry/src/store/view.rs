//! The read side: what the DNS answer path gets back from a lookup. Each value is immutable and
//! shared (`Arc`), rebuilt whole by the writer whenever one of its inputs changes.

use std::net::IpAddr;
use std::sync::Arc;

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

/// A pod known at an IP (for `pods verified`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodRef {
    pub namespace: Arc<str>,
    pub name: Arc<str>,
}
