//! The cluster store: the single source of truth that the DNS answer path reads.
//!
//! It comes as a pair, in kube-rs's reflector way, so that "plugins never write the store" is a
//! fact of the types rather than a convention:
//! - [`StoreWriter`] (not `Clone`) holds every write method: [`StoreWriter::upsert`],
//!   [`StoreWriter::delete`], [`StoreWriter::replace`], relists
//!   ([`StoreWriter::start_relist`]/[`StoreWriter::finish_relist`]) and the sync gate
//!   ([`StoreWriter::register_source`], [`StoreWriter::give_up_waiting_for_sync`]). It is made
//!   once, by whoever sets up a source, and moved into that source.
//! - [`Store`] (cheap `Clone`) is a reader, from [`StoreWriter::reader`]: [`Store::service`],
//!   [`Store::ptr`], [`Store::pod_namespaces`] and friends. Each is one `DashMap` lookup that
//!   clones an `Arc` and drops the shard guard before returning, so a reader never holds a guard
//!   across `.await` and never waits for a writer for longer than one shard write. No method of
//!   `Store` writes, and no `Store` can be turned into a writer.
//!
//! Writes are serialised by one mutex that readers on the answer path never touch, because a
//! Service and its EndpointSlices arrive from different watchers and the joined [`ServiceEntry`]
//! must be rebuilt from a consistent view of both.
//!
//! A relist or a reload goes through [`StoreWriter::replace`]: the new objects are upserted and
//! only then are the keys not seen removed, so an existing name never disappears in between (no
//! NXDOMAIN window). Every write bumps the SOA serial, which only grows.
//!
//! Files: `records.rs` (what is stored), `view.rs` (what a read returns), `writer.rs` (the
//! writer handle), `index.rs` (the writer's raw objects and the derivation of the read views),
//! `pods.rs` and `ipmap.rs` (compact pod and address indexes), `sync.rs` (the sync gate).

mod index;
mod ipmap;
mod pods;
pub mod records;
mod sync;
pub mod view;
mod writer;

use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use dashmap::DashMap;

pub use records::*;
pub use sync::SyncToken;
pub use view::{PodNamespaces, PtrOwners, ReadyEndpoint, ServiceEntry};
pub use writer::{Relist, StoreWriter};

use index::WriterState;
use ipmap::IpMap;
use pods::PodIndex;
use sync::SyncState;

/// A reader of the cluster store: cheap to clone, every clone a handle to the same store, and
/// no method that writes. Made by [`StoreWriter::reader`].
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    /// `name.namespace` → the Service joined with its ready endpoints.
    pub(crate) services: DashMap<Box<str>, Arc<ServiceEntry>>,
    /// Namespace → how many objects (the Namespace itself, Services, Pods) keep it alive. A
    /// namespace exists for DNS when this is above zero, so manifests that omit the Namespace
    /// object still answer NODATA rather than NXDOMAIN for `<ns>.svc.<zone>`.
    pub(crate) namespaces: DashMap<Box<str>, u32>,
    /// ClusterIP or ready endpoint address → the Services it belongs to (for PTR).
    pub(crate) ptr: IpMap<PtrOwners>,
    /// Pod IP → the namespaces of the pods that have it (for `pods verified`).
    pub(crate) pods: PodIndex,
    serial: AtomicU32,
    sync: Arc<SyncState>,
    /// Only [`StoreWriter`] takes it to write; readers take it only for the diagnostics
    /// ([`Store::keys`], [`Store::pod_count`]), never on the answer path.
    writer: Mutex<WriterState>,
}

impl Inner {
    fn new() -> Self {
        Inner {
            services: DashMap::default(),
            namespaces: DashMap::default(),
            ptr: IpMap::default(),
            pods: PodIndex::default(),
            serial: AtomicU32::new(unix_now()),
            sync: Arc::default(),
            writer: Mutex::default(),
        }
    }

    fn with_writer<T>(&self, f: impl FnOnce(&WriterState) -> T) -> T {
        // A panic inside a previous write leaves the maps consistent per key (every write is a
        // whole-value swap), so a poisoned lock is safe to keep using.
        match self.writer.lock() {
            Ok(w) => f(&w),
            Err(poisoned) => f(&poisoned.into_inner()),
        }
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("services", &self.inner.services.len())
            .field("serial", &self.serial())
            .finish()
    }
}

impl Store {
    /// A Service by `name.namespace`, lower-cased (a slice of the query name).
    pub fn service(&self, name_dot_namespace: &str) -> Option<Arc<ServiceEntry>> {
        self.inner
            .services
            .get(name_dot_namespace)
            .map(|e| Arc::clone(e.value()))
    }

    pub fn namespace_exists(&self, namespace: &str) -> bool {
        self.inner
            .namespaces
            .get(namespace)
            .is_some_and(|count| *count > 0)
    }

    /// The Services whose ClusterIP or ready endpoint is `ip`.
    pub fn ptr(&self, ip: IpAddr) -> Option<PtrOwners> {
        self.inner.ptr.read(ip, Clone::clone)
    }

    /// The namespaces of the pods with `ip` among their `status.podIPs`.
    pub fn pod_namespaces(&self, ip: IpAddr) -> Option<PodNamespaces> {
        self.inner.pods.get(ip)
    }

    /// True when a pod in `namespace` has `ip` among its `status.podIPs` (`pods verified`).
    pub fn pod_in_namespace(&self, ip: IpAddr, namespace: &str) -> bool {
        self.inner.pods.contains(ip, namespace)
    }

    /// The SOA serial: grows with every change.
    pub fn serial(&self) -> u32 {
        self.inner.serial.load(Ordering::Acquire)
    }

    /// True once every registered source has delivered its first complete list.
    pub fn is_synced(&self) -> bool {
        self.inner.sync.is_synced()
    }

    /// True when answers may come from the store: synced, or start-up gave up waiting.
    pub fn is_serving(&self) -> bool {
        self.inner.sync.serving()
    }

    pub fn service_count(&self) -> usize {
        self.inner.services.len()
    }

    /// Distinct pod IPs held (`pods verified` only; 0 otherwise).
    pub fn pod_ip_count(&self) -> usize {
        self.inner.pods.len()
    }

    /// How many pods the store holds (with `pods verified`). Takes the writer's lock: for
    /// diagnostics and tests, not the answer path.
    pub fn pod_count(&self) -> usize {
        self.inner.with_writer(WriterState::pod_count)
    }

    /// The keys currently held for `kind` (for tests and diagnostics; pods are held by identity
    /// hash only, so none are listed for them). Takes the writer's lock, like
    /// [`Store::pod_count`].
    pub fn keys(&self, kind: ObjectKind) -> Vec<ObjectKey> {
        self.inner.with_writer(|w| w.keys(kind))
    }
}

fn unix_now() -> u32 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
        .unwrap_or(1)
}

#[cfg(test)]
mod tests;
