//! The writer's half of the store: the raw objects as the sources gave them, and the code that
//! derives the read-side indexes (joined Services, PTR, pod IPs, namespace liveness) from them.
//! Runs only under the store's writer mutex.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;

use smallvec::SmallVec;

use super::Inner;
use super::pods::{NamespaceChange, PodTable};
use super::records::{
    ClusterObject, EndpointSliceRecord, ObjectKey, ObjectKind, PortRecord, ServiceRecord,
};
use super::view::{PtrOwners, ReadyEndpoint, ServiceEntry};

#[derive(Default)]
pub(crate) struct WriterState {
    namespaces: HashSet<Box<str>>,
    services: HashMap<Box<str>, Arc<ServiceRecord>>,
    slices: HashMap<Box<str>, Arc<EndpointSliceRecord>>,
    /// Service key (`name.namespace`) → keys of the slices labelled with it, in name order so the
    /// merge (and which duplicate wins) is deterministic. Nearly always one slice: kept inline
    /// (a `BTreeSet` would allocate a whole node per Service).
    slices_by_service: HashMap<Box<str>, SliceKeys>,
    /// Pod identity → what the pod index needs to undo this pod's entries.
    pods: PodTable,
    /// Services whose joined entry must be rebuilt before the write ends.
    dirty: BTreeSet<Box<str>>,
}

/// Slice keys in name order.
type SliceKeys = SmallVec<[Box<str>; 1]>;

fn service_key(name: &str, namespace: &str) -> Box<str> {
    ObjectKey::new(ObjectKind::Service, namespace, name).name
}

impl WriterState {
    pub(crate) fn upsert(&mut self, inner: &Inner, object: ClusterObject) {
        self.upsert_raw(inner, object);
        self.flush(inner);
    }

    pub(crate) fn delete(&mut self, inner: &Inner, key: &ObjectKey) {
        self.delete_raw(inner, key);
        self.flush(inner);
    }

    /// Upsert every object of `kinds`, then delete what was not among them. Pods are collected
    /// into a table aside and swapped in whole.
    pub(crate) fn replace(
        &mut self,
        inner: &Inner,
        kinds: &[ObjectKind],
        objects: Vec<ClusterObject>,
    ) {
        let mut relist = kinds
            .contains(&ObjectKind::Pod)
            .then(|| self.pods.empty_like());
        let mut seen: HashSet<Box<str>> = HashSet::new();
        for object in objects {
            let kind = object.kind();
            if !kinds.contains(&kind) {
                continue;
            }
            match (object, relist.as_mut()) {
                (ClusterObject::Pod(pod), Some(table)) => table.insert_aside(pod),
                (object, _) => {
                    seen.insert(object.key().name);
                    self.upsert_raw(inner, object);
                }
            }
        }
        for &kind in kinds.iter().filter(|k| **k != ObjectKind::Pod) {
            let gone: Vec<Box<str>> = self
                .names(kind)
                .filter(|name| !seen.contains(*name))
                .cloned()
                .collect();
            for name in gone {
                self.delete_raw(inner, &ObjectKey { kind, name });
            }
        }
        if let Some(table) = relist {
            self.swap_pods(inner, table);
        }
        self.flush(inner);
    }

    /// A relist of pods collected aside becomes the live table.
    pub(crate) fn swap_pods(&mut self, inner: &Inner, table: PodTable) {
        self.pods
            .swap_in(&inner.pods, table, |change| namespace_change(inner, change));
    }

    pub(crate) fn empty_pod_table(&self) -> PodTable {
        self.pods.empty_like()
    }

    pub(crate) fn pod_count(&self) -> usize {
        self.pods.len()
    }

    /// The keys held for `kind`; pods are held by identity only, so none are listed for them.
    pub(crate) fn keys(&self, kind: ObjectKind) -> Vec<ObjectKey> {
        self.names(kind)
            .map(|name| ObjectKey {
                kind,
                name: name.clone(),
            })
            .collect()
    }

    fn names(&self, kind: ObjectKind) -> Box<dyn Iterator<Item = &Box<str>> + '_> {
        match kind {
            ObjectKind::Namespace => Box::new(self.namespaces.iter()),
            ObjectKind::Service => Box::new(self.services.keys()),
            ObjectKind::EndpointSlice => Box::new(self.slices.keys()),
            ObjectKind::Pod => Box::new(std::iter::empty()),
        }
    }

    fn upsert_raw(&mut self, inner: &Inner, object: ClusterObject) {
        let key = object.key().name;
        match object {
            ClusterObject::Namespace(ns) => {
                if self.namespaces.insert(key) {
                    namespace_ref(inner, &ns.name, 1);
                }
            }
            ClusterObject::Service(svc) => {
                if self.services.get(&key).is_some_and(|old| **old == svc) {
                    return;
                }
                let namespace = Arc::clone(&svc.namespace);
                if self.services.insert(key.clone(), Arc::new(svc)).is_none() {
                    namespace_ref(inner, &namespace, 1);
                }
                self.dirty.insert(key);
            }
            ClusterObject::EndpointSlice(slice) => {
                if self.slices.get(&key).is_some_and(|old| **old == slice) {
                    return;
                }
                let owner = service_key(&slice.service, &slice.namespace);
                if let Some(old) = self.slices.insert(key.clone(), Arc::new(slice)) {
                    let old_owner = service_key(&old.service, &old.namespace);
                    if old_owner != owner {
                        self.unlink_slice(&old_owner, &key);
                    }
                }
                let keys = self.slices_by_service.entry(owner.clone()).or_default();
                if let Err(at) = keys.binary_search(&key) {
                    keys.insert(at, key);
                }
                self.dirty.insert(owner);
            }
            ClusterObject::Pod(pod) => {
                let change = self.pods.upsert(&inner.pods, pod);
                namespace_change(inner, change);
            }
        }
    }

    fn delete_raw(&mut self, inner: &Inner, key: &ObjectKey) {
        match key.kind {
            ObjectKind::Namespace => {
                if self.namespaces.remove(&key.name) {
                    namespace_ref(inner, &key.name, -1);
                }
            }
            ObjectKind::Service => {
                if let Some(old) = self.services.remove(&key.name) {
                    namespace_ref(inner, &old.namespace, -1);
                    self.dirty.insert(key.name.clone());
                }
            }
            ObjectKind::EndpointSlice => {
                if let Some(old) = self.slices.remove(&key.name) {
                    let owner = service_key(&old.service, &old.namespace);
                    self.unlink_slice(&owner, &key.name);
                    self.dirty.insert(owner);
                }
            }
            ObjectKind::Pod => {
                let change = self.pods.delete(&inner.pods, &key.name);
                namespace_change(inner, change);
            }
        }
    }

    fn unlink_slice(&mut self, owner: &str, slice_key: &str) {
        if let Some(set) = self.slices_by_service.get_mut(owner) {
            if let Ok(at) = set.binary_search_by(|k| (**k).cmp(slice_key)) {
                set.remove(at);
            }
            if set.is_empty() {
                self.slices_by_service.remove(owner);
            }
        }
        self.dirty.insert(owner.into());
    }

    /// Rebuild the joined entry of every dirty Service and move the PTR index from the old entry's
    /// addresses to the new one's.
    fn flush(&mut self, inner: &Inner) {
        for key in std::mem::take(&mut self.dirty) {
            let new = self
                .services
                .get(&key)
                .map(|svc| Arc::new(self.join(&key, svc)));
            let old = match &new {
                Some(entry) => inner.services.insert(key.clone(), Arc::clone(entry)),
                None => inner.services.remove(&key).map(|(_, old)| old),
            };
            reindex_ptr(inner, &key, old.as_deref(), new.as_ref());
        }
    }

    fn join(&self, key: &str, service: &Arc<ServiceRecord>) -> ServiceEntry {
        let mut endpoints = Vec::new();
        let mut seen = HashSet::new();
        for slice_key in self.slices_by_service.get(key).into_iter().flatten() {
            let Some(slice) = self.slices.get(slice_key) else {
                continue;
            };
            let ports: Arc<[PortRecord]> = slice.ports.clone().into();
            for endpoint in slice.endpoints.iter().filter(|e| e.ready) {
                for &addr in &endpoint.addresses {
                    if seen.insert(addr) {
                        endpoints.push(ReadyEndpoint {
                            addr,
                            hostname: endpoint.hostname.clone(),
                            pod_name: endpoint.pod_name.clone(),
                            ports: Arc::clone(&ports),
                        });
                    }
                }
            }
        }
        ServiceEntry {
            service: Arc::clone(service),
            endpoints,
        }
    }
}

fn entry_addresses(entry: &ServiceEntry) -> BTreeSet<IpAddr> {
    entry
        .cluster_ips()
        .iter()
        .copied()
        .chain(entry.endpoints.iter().map(|e| e.addr))
        .collect()
}

fn reindex_ptr(
    inner: &Inner,
    key: &str,
    old: Option<&ServiceEntry>,
    new: Option<&Arc<ServiceEntry>>,
) {
    let old_addrs = old.map(entry_addresses).unwrap_or_default();
    let new_addrs = new.map(|e| entry_addresses(e)).unwrap_or_default();
    for ip in old_addrs.union(&new_addrs) {
        let mut owners: PtrOwners = inner
            .ptr
            .read(*ip, |list| {
                list.iter()
                    .filter(|e| service_key(&e.service.name, &e.service.namespace).as_ref() != key)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        if let Some(entry) = new.filter(|_| new_addrs.contains(ip)) {
            owners.push(Arc::clone(entry));
            owners.sort_by(|a, b| {
                (&a.service.namespace, &a.service.name)
                    .cmp(&(&b.service.namespace, &b.service.name))
            });
        }
        if owners.is_empty() {
            inner.ptr.remove(*ip);
        } else {
            inner.ptr.insert(*ip, owners);
        }
    }
}

fn namespace_ref(inner: &Inner, namespace: &str, delta: i32) {
    let namespace = namespace.to_ascii_lowercase();
    let mut remove = false;
    {
        let mut count = inner
            .namespaces
            .entry(namespace.clone().into_boxed_str())
            .or_insert(0);
        *count = count.saturating_add_signed(delta);
        if *count == 0 {
            remove = true;
        }
    }
    if remove {
        inner
            .namespaces
            .remove_if(namespace.as_str(), |_, count| *count == 0);
    }
}

fn namespace_change(inner: &Inner, change: NamespaceChange) {
    match change {
        NamespaceChange::None => {}
        NamespaceChange::Added(namespace) => namespace_ref(inner, &namespace, 1),
        NamespaceChange::Removed(namespace) => namespace_ref(inner, &namespace, -1),
    }
}
