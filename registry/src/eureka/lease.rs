//! The leases: one instance's lease ([`InstanceSlot`]: its current [`InstanceRecord`] plus the
//! renewal atomics heartbeats update) and one application's leases ([`AppSlot`]: the instance
//! map and the change generation views read).
//!
//! Only the registry (`registry.rs`) changes these; views and eviction read them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use arc_swap::ArcSwap;

use super::locks::{read, write};
use super::model::InstanceInfo;
use super::model::Status;
use super::render::LeaseView;

/// An immutable snapshot of one instance; replaced as a whole on every change.
#[derive(Debug)]
pub(crate) struct InstanceRecord {
    pub info: InstanceInfo,
    /// The stored status override (Netflix's `overriddenInstanceStatusMap` entry).
    pub override_status: Option<Status>,
    pub registration_ms: u64,
    pub service_up_ms: u64,
    pub eviction_ms: u64,
    pub duration_ms: u64,
}

/// A lease: the current record plus the renewal atomics heartbeats update.
#[derive(Debug)]
pub(crate) struct InstanceSlot {
    pub record: ArcSwap<InstanceRecord>,
    last_renewal_ms: AtomicU64,
    expires_at_ms: AtomicU64,
}

impl InstanceSlot {
    pub(crate) fn new(record: Arc<InstanceRecord>) -> Self {
        Self {
            record: ArcSwap::new(record),
            last_renewal_ms: AtomicU64::new(0),
            expires_at_ms: AtomicU64::new(0),
        }
    }

    pub(crate) fn renew(&self, now_ms: u64, duration_ms: u64) {
        self.last_renewal_ms.store(now_ms, Ordering::Relaxed);
        self.expires_at_ms
            .store(now_ms.saturating_add(duration_ms), Ordering::Relaxed);
    }

    pub(crate) fn last_renewal_ms(&self) -> u64 {
        self.last_renewal_ms.load(Ordering::Relaxed)
    }

    /// Last renewal + duration; the lease is expired once now is past it.
    pub(crate) fn expires_at_ms(&self) -> u64 {
        self.expires_at_ms.load(Ordering::Relaxed)
    }

    pub(crate) fn is_expired(&self, now_ms: u64) -> bool {
        now_ms > self.expires_at_ms()
    }

    pub(crate) fn lease_view(&self, rec: &InstanceRecord) -> LeaseView {
        LeaseView {
            registration: rec.registration_ms,
            last_renewal: self.last_renewal_ms(),
            eviction: rec.eviction_ms,
            service_up: rec.service_up_ms,
        }
    }
}

/// One application: its leases, and a generation the registry bumps on every change to them
/// (views that rebuild lazily compare it with the one they built from).
pub(crate) struct AppSlot {
    pub name: String,
    instances: RwLock<HashMap<String, Arc<InstanceSlot>>>,
    generation: AtomicU64,
}

impl AppSlot {
    pub(crate) fn new(name: String) -> Self {
        Self {
            name,
            instances: RwLock::new(HashMap::new()),
            generation: AtomicU64::new(0),
        }
    }

    pub(crate) fn get(&self, id: &str) -> Option<Arc<InstanceSlot>> {
        read(&self.instances).get(id).cloned()
    }

    pub(crate) fn len(&self) -> usize {
        read(&self.instances).len()
    }

    pub(crate) fn slots(&self) -> Vec<Arc<InstanceSlot>> {
        read(&self.instances).values().cloned().collect()
    }

    /// Calls `f` with each `(instance id, lease)` under the map's read lock: for scans that
    /// keep only a few entries (nothing slow may run in `f`).
    pub(crate) fn for_each(&self, mut f: impl FnMut(&str, &Arc<InstanceSlot>)) {
        for (id, slot) in read(&self.instances).iter() {
            f(id, slot);
        }
    }

    /// The generation: grows with every change to the application's leases.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Registry only (under its write lock): after a change.
    pub(crate) fn bump_generation(&self) {
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// Registry only (under its write lock).
    pub(crate) fn insert(&self, id: String, slot: Arc<InstanceSlot>) {
        write(&self.instances).insert(id, slot);
    }

    /// Registry only (under its write lock): removes `id`'s lease, only if it is still
    /// `expected` when given.
    pub(crate) fn remove(
        &self,
        id: &str,
        expected: Option<&Arc<InstanceSlot>>,
    ) -> Option<Arc<InstanceSlot>> {
        let mut map = write(&self.instances);
        if let Some(expected) = expected
            && !map.get(id).is_some_and(|s| Arc::ptr_eq(s, expected))
        {
            return None;
        }
        map.remove(id)
    }
}
