//! rollcall's registry: the single in-memory store that the DNS answer path reads, and every
//! source that writes it.
//!
//! - [`store`]: the cluster store (Services, EndpointSlices, Pods, Namespaces shrunk to what DNS
//!   needs), indexed by name and by IP. Readers clone an `Arc` and drop the map guard at once.
//! - [`source`]: writers of the cluster store: a directory of manifests (and the Kubernetes API).
//! - [`eureka`]: the Eureka-compatible registry (leases, REST API, dashboard) and the per-app view
//!   that the DNS `eureka` plugin answers from.

pub mod eureka;
pub mod source;
pub mod store;
