//! Pods, held compactly: `pods verified` only asks "does a pod in namespace N have address A?",
//! and a cluster may have 150,000 of them, so neither half keeps a pod's name.
//!
//! - The writer's [`PodTable`] maps a pod's identity (a 128-bit keyed hash of `name.namespace`,
//!   so no name string is stored) to its namespace and addresses: enough to undo the pod's index
//!   entries when it changes or goes. The hash keys are random per store, so nobody can craft
//!   two pod names that collide, and 128 bits make an accidental collision in a cluster's
//!   lifetime vanishingly unlikely.
//! - The readers' [`PodIndex`] maps an address to the namespaces of the pods that have it, with
//!   IPv4 addresses keyed by their 4 bytes (most clusters) rather than a 17-byte `IpAddr`.
//!
//! A relist builds a whole new table aside and [`PodTable::swap_in`] installs it: new entries are
//! indexed before old ones are removed, so no address answered before is missing in between.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::net::IpAddr;
use std::sync::Arc;

use super::ipmap::IpMap;
use super::records::PodRecord;
use super::view::PodNamespaces;

/// A pod's identity: the keyed hash of its lower-cased `name.namespace`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct PodId(u64, u64);

/// The two independently keyed hashers a table's ids come from (shared with its relist tables).
#[derive(Clone, Default)]
struct PodIdKeys(RandomState, RandomState);

impl PodIdKeys {
    /// The id of the object key `name.namespace` (already joined, as deletes carry it).
    fn of_key(&self, joined: &str) -> PodId {
        self.of_parts(&[joined.as_bytes()])
    }

    fn of_pod(&self, pod: &PodRecord) -> PodId {
        self.of_parts(&[pod.name.as_bytes(), b".", pod.namespace.as_bytes()])
    }

    /// Hashes the lower-cased concatenation of `parts` without building it.
    fn of_parts(&self, parts: &[&[u8]]) -> PodId {
        let mut a = self.0.build_hasher();
        let mut b = self.1.build_hasher();
        let mut chunk = [0u8; 64];
        for part in parts {
            for piece in part.chunks(chunk.len()) {
                let lower = &mut chunk[..piece.len()];
                lower.copy_from_slice(piece);
                lower.make_ascii_lowercase();
                a.write(lower);
                b.write(lower);
            }
        }
        PodId(a.finish(), b.finish())
    }
}

/// A pod's addresses: nearly always one IPv4 address, kept inline.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PodAddrs {
    None,
    V4(u32),
    Many(Box<[IpAddr]>),
}

impl PodAddrs {
    fn of(ips: &[IpAddr]) -> Self {
        match ips {
            [] => PodAddrs::None,
            [IpAddr::V4(v4)] => PodAddrs::V4(u32::from(*v4)),
            many => PodAddrs::Many(many.into()),
        }
    }

    fn for_each(&self, mut f: impl FnMut(IpAddr)) {
        match self {
            PodAddrs::None => {}
            PodAddrs::V4(v4) => f(IpAddr::V4((*v4).into())),
            PodAddrs::Many(ips) => ips.iter().copied().for_each(f),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct PodSlot {
    namespace: Arc<str>,
    addrs: PodAddrs,
}

/// What a pod change did to the namespaces pods keep alive (the store's namespace refcounts).
#[must_use]
pub(crate) enum NamespaceChange {
    None,
    Added(Arc<str>),
    Removed(Arc<str>),
}

/// The writer's pods: identity → namespace and addresses.
#[derive(Default)]
pub(crate) struct PodTable {
    keys: PodIdKeys,
    slots: HashMap<PodId, PodSlot>,
}

impl PodTable {
    /// An empty table whose ids match this one's (for a relist built aside).
    pub(crate) fn empty_like(&self) -> PodTable {
        PodTable {
            keys: self.keys.clone(),
            slots: HashMap::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Record a pod in a table that is not live yet (a relist being built).
    pub(crate) fn insert_aside(&mut self, pod: PodRecord) {
        let id = self.keys.of_pod(&pod);
        self.slots.insert(id, slot_of(pod));
    }

    /// Add or change one pod in the live table, indexing new addresses before dropping old ones.
    pub(crate) fn upsert(&mut self, index: &PodIndex, pod: PodRecord) -> NamespaceChange {
        let id = self.keys.of_pod(&pod);
        let slot = slot_of(pod);
        if self.slots.get(&id) == Some(&slot) {
            return NamespaceChange::None;
        }
        index.add(&slot);
        let added = Arc::clone(&slot.namespace);
        match self.slots.insert(id, slot) {
            Some(old) => {
                index.remove(&old);
                NamespaceChange::None
            }
            None => NamespaceChange::Added(added),
        }
    }

    /// Remove the pod whose object key is `joined` (`name.namespace`).
    pub(crate) fn delete(&mut self, index: &PodIndex, joined: &str) -> NamespaceChange {
        match self.slots.remove(&self.keys.of_key(joined)) {
            Some(old) => {
                index.remove(&old);
                NamespaceChange::Removed(old.namespace)
            }
            None => NamespaceChange::None,
        }
    }

    /// Make `new` (built with [`PodTable::empty_like`]) the live table: index what it adds, then
    /// unindex what it drops. Reports every namespace reference gained and lost.
    pub(crate) fn swap_in(
        &mut self,
        index: &PodIndex,
        new: PodTable,
        mut on_namespace: impl FnMut(NamespaceChange),
    ) {
        for (id, slot) in &new.slots {
            match self.slots.get(id) {
                Some(old) if old == slot => {}
                Some(_) => index.add(slot),
                None => {
                    index.add(slot);
                    on_namespace(NamespaceChange::Added(Arc::clone(&slot.namespace)));
                }
            }
        }
        let old = std::mem::replace(&mut self.slots, new.slots);
        for (id, slot) in old {
            match self.slots.get(&id) {
                Some(kept) if *kept == slot => {}
                Some(_) => index.remove(&slot),
                None => {
                    index.remove(&slot);
                    on_namespace(NamespaceChange::Removed(slot.namespace));
                }
            }
        }
    }
}

fn slot_of(pod: PodRecord) -> PodSlot {
    PodSlot {
        addrs: PodAddrs::of(&pod.ips),
        namespace: pod.namespace,
    }
}

/// The readers' pods: address → namespaces of the pods that have it. A multiset: two pods may
/// share an address (hostNetwork), and a pod being replaced is indexed twice for a moment.
#[derive(Default)]
pub(crate) struct PodIndex(IpMap<PodNamespaces>);

impl PodIndex {
    /// How many addresses have at least one pod.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    pub(crate) fn get(&self, ip: IpAddr) -> Option<PodNamespaces> {
        self.0.read(ip, Clone::clone)
    }

    pub(crate) fn contains(&self, ip: IpAddr, namespace: &str) -> bool {
        self.0
            .read(ip, |namespaces| {
                namespaces.iter().any(|n| &**n == namespace)
            })
            .unwrap_or(false)
    }

    fn add(&self, slot: &PodSlot) {
        slot.addrs.for_each(|ip| {
            self.0.update(
                ip,
                |namespaces| namespaces.push(Arc::clone(&slot.namespace)),
                PodNamespaces::is_empty,
            );
        });
    }

    fn remove(&self, slot: &PodSlot) {
        slot.addrs.for_each(|ip| {
            self.0.update(
                ip,
                |namespaces| {
                    if let Some(i) = namespaces.iter().position(|n| *n == slot.namespace) {
                        namespaces.remove(i);
                    }
                },
                PodNamespaces::is_empty,
            );
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_hash_the_joined_lower_cased_key() {
        let keys = PodIdKeys::default();
        let pod = PodRecord {
            name: "Web-1".into(),
            namespace: "Apps".into(),
            ips: Default::default(),
        };
        assert_eq!(keys.of_pod(&pod), keys.of_key("web-1.apps"));
        assert_ne!(keys.of_key("web-1.apps"), keys.of_key("web-1.app"));
        let long = "x".repeat(200);
        assert_eq!(
            keys.of_parts(&[long.as_bytes(), b".", b"ns"]),
            keys.of_key(&format!("{long}.ns"))
        );
    }

    #[test]
    fn one_ipv4_address_is_inline() {
        assert_eq!(
            PodAddrs::of(&["10.0.0.1".parse().unwrap()]),
            PodAddrs::V4(0x0a00_0001)
        );
        assert!(std::mem::size_of::<PodAddrs>() <= 24);
    }
}
