//! rollcall's registry: two systems that share this crate and nothing else.
//!
//! The cluster store and its sources:
//! - [`store`]: the cluster store (Services, EndpointSlices, Pods, Namespaces shrunk to what DNS
//!   needs), indexed by name and by IP, as a pair: one [`store::StoreWriter`] (not `Clone`) for
//!   the source that feeds it, cloneable [`store::Store`] readers for the DNS plugins. Readers
//!   clone an `Arc` and drop the map guard at once.
//! - [`source`]: writers of the cluster store: a directory of manifests, or the Kubernetes API.
//!
//! The Eureka registry:
//! - [`eureka`]: the Eureka-compatible registry (leases, REST API, dashboard) and the per-app view
//!   that the DNS `eureka` plugin answers from.
//!
//! **Boundary:** `store` and `source` never import `eureka`, and `eureka` never imports `store` or
//! `source` (`tests/boundary.rs` checks it), so either could become a crate of its own.

pub mod eureka;
pub mod source;
pub mod store;
