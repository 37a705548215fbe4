//! The cluster store: the single source of truth that the DNS answer path reads.
//!
//! Two halves with different rules:
//! - **Readers** (the DNS plugins) call [`Store::service`], [`Store::ptr`], [`Store::pod_namespaces`] and
//!   friends. Each is one `DashMap` lookup that clones an `Arc` and drops the shard guard before
//!   returning, so a reader never holds a guard across `.await` and never waits for a writer for
//!   longer than one shard write.
//! - **Writers** (the manifest source, the Kubernetes watchers) call [`Store::apply`] and
//!   [`Store::replace`]. Writes are serialised by one mutex that readers never touch, because a
//!   Service and its EndpointSlices arrive from different watchers and the joined
//!   [`ServiceEntry`] must be rebuilt from a consistent view of both.
//!
//! A relist or a reload goes through [`Store::replace`]: the new objects are upserted and only then
//! are the keys not seen removed, so an existing name never disappears in between (no NXDOMAIN
//! window). Every write bumps the SOA serial, which only grows.

mod index;
mod ipmap;
mod pods;
pub mod records;
mod sync;
pub mod view;

use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use dashmap::DashMap;

pub use records::*;
pub use sync::SyncToken;
pub use view::{PodNamespaces, PtrOwners, ReadyEndpoint, ServiceEntry};

use index::WriterState;
use ipmap::IpMap;
use pods::{PodIndex, PodTable};
use sync::SyncState;

/// Cheap to clone: every clone is a handle to the same store.
#[derive(Clone, Default)]
pub struct Store {
    inner: Arc<Inner>,
}

#[derive(Default)]
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
    writer: Mutex<WriterState>,
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
    pub fn new() -> Self {
        let store = Store::default();
        store.inner.serial.store(unix_now(), Ordering::Release);
        store
    }

    // ---- read side: the DNS answer path ----

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

    // ---- write side: sources only ----

    /// Register a source that must sync before the store answers. Call before the source starts.
    pub fn register_source(&self, label: impl Into<String>) -> SyncToken {
        SyncToken::new(Arc::clone(&self.inner.sync), label.into())
    }

    /// Serve from what the store has although not every source synced (`startup_timeout`).
    pub fn give_up_waiting_for_sync(&self) {
        sync::give_up_waiting(&self.inner.sync);
    }

    /// Add or replace one object.
    pub fn upsert(&self, object: ClusterObject) {
        self.write(|w, inner| w.upsert(inner, object));
    }

    /// Remove one object; unknown keys are ignored.
    pub fn delete(&self, key: &ObjectKey) {
        self.write(|w, inner| w.delete(inner, key));
    }

    /// Make the store hold exactly `objects` for each kind in `kinds` (a relist, a manifest reload):
    /// upsert everything first, then delete what was not listed, so no existing name is ever
    /// missing in between. Objects of kinds not in `kinds` are ignored.
    pub fn replace(&self, kinds: &[ObjectKind], objects: Vec<ClusterObject>) {
        self.write(|w, inner| w.replace(inner, kinds, objects));
    }

    /// Start collecting a relist of `kind` aside; [`Store::finish_relist`] swaps it in whole.
    /// Pods go straight into a compact table rather than a list of records.
    pub fn start_relist(&self, kind: ObjectKind) -> Relist {
        let pods = (kind == ObjectKind::Pod).then(|| self.with_writer(|w| w.empty_pod_table()));
        Relist {
            kind,
            objects: Vec::new(),
            pods,
        }
    }

    /// Make the store hold exactly what `relist` collected for its kind, as [`Store::replace`].
    pub fn finish_relist(&self, relist: Relist) {
        let Relist {
            kind,
            objects,
            pods,
        } = relist;
        match pods {
            Some(table) => self.write(|w, inner| w.swap_pods(inner, table)),
            None => self.replace(&[kind], objects),
        }
    }

    /// How many pods the store holds (with `pods verified`).
    pub fn pod_count(&self) -> usize {
        self.with_writer(|w| w.pod_count())
    }

    /// The keys currently held for `kind` (for tests and diagnostics; pods are held by identity
    /// hash only, so none are listed for them).
    pub fn keys(&self, kind: ObjectKind) -> Vec<ObjectKey> {
        self.with_writer(|w| w.keys(kind))
    }

    fn with_writer<T>(&self, f: impl FnOnce(&WriterState) -> T) -> T {
        match self.inner.writer.lock() {
            Ok(w) => f(&w),
            Err(poisoned) => f(&poisoned.into_inner()),
        }
    }

    fn write(&self, f: impl FnOnce(&mut WriterState, &Inner)) {
        // A panic inside a previous write leaves the maps consistent per key (every write is a
        // whole-value swap), so a poisoned lock is safe to keep using.
        let mut guard = match self.inner.writer.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut guard, &self.inner);
        drop(guard);
        self.bump_serial();
    }

    fn bump_serial(&self) {
        let now = unix_now();
        let _ = self
            .inner
            .serial
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |old| {
                Some(now.max(old.wrapping_add(1)))
            });
    }
}

/// A relist being collected aside (from [`Store::start_relist`]).
pub struct Relist {
    kind: ObjectKind,
    objects: Vec<ClusterObject>,
    pods: Option<PodTable>,
}

impl Relist {
    /// Add one listed object; objects of another kind are ignored.
    pub fn push(&mut self, object: ClusterObject) {
        match (object, self.pods.as_mut()) {
            (ClusterObject::Pod(pod), Some(table)) => table.insert_aside(pod),
            (object, None) if object.kind() == self.kind => self.objects.push(object),
            _ => {}
        }
    }

    pub fn len(&self) -> usize {
        self.pods.as_ref().map_or(self.objects.len(), PodTable::len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
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
