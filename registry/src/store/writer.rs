//! The writer's handle: the only way to change the store. Not `Clone`, so a store has exactly one
//! writer, owned by the source that feeds it (a source with several tasks, like the Kubernetes
//! watchers, shares it behind an `Arc` of its own); plugins get [`Store`] readers only.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::index::WriterState;
use super::pods::PodTable;
use super::records::{ClusterObject, ObjectKey, ObjectKind};
use super::sync::{self, SyncToken};
use super::{Inner, Store, unix_now};

/// Writes the cluster store; [`StoreWriter::reader`] hands out readers of what it writes.
///
/// ```
/// use registry::store::{ObjectKind, StoreWriter};
/// let writer = StoreWriter::new();
/// let store = writer.reader();
/// writer.replace(&ObjectKind::ALL, Vec::new());
/// assert_eq!(store.service_count(), 0);
/// ```
///
/// A store has one writer: it cannot be cloned,
/// ```compile_fail,E0599
/// let writer = registry::store::StoreWriter::new();
/// let second = writer.clone();
/// ```
/// and a reader cannot write:
/// ```compile_fail,E0599
/// use registry::store::{ObjectKind, StoreWriter};
/// let store = StoreWriter::new().reader();
/// store.replace(&ObjectKind::ALL, Vec::new());
/// ```
pub struct StoreWriter {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for StoreWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("StoreWriter").field(&self.reader()).finish()
    }
}

impl Default for StoreWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl StoreWriter {
    /// A new, empty store, and the one writer it will ever have.
    pub fn new() -> Self {
        StoreWriter {
            inner: Arc::new(Inner::new()),
        }
    }

    /// A reader of this store (cheap: an `Arc` clone). Readers outlive the writer and keep
    /// answering from the last state written.
    pub fn reader(&self) -> Store {
        Store {
            inner: Arc::clone(&self.inner),
        }
    }

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

    /// Start collecting a relist of `kind` aside; [`StoreWriter::finish_relist`] swaps it in whole.
    /// Pods go straight into a compact table rather than a list of records.
    pub fn start_relist(&self, kind: ObjectKind) -> Relist {
        let pods =
            (kind == ObjectKind::Pod).then(|| self.inner.with_writer(|w| w.empty_pod_table()));
        Relist {
            kind,
            objects: Vec::new(),
            pods,
        }
    }

    /// Make the store hold exactly what `relist` collected for its kind, as
    /// [`StoreWriter::replace`].
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

/// A relist being collected aside (from [`StoreWriter::start_relist`]).
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
