//! The delta queue behind `GET /apps/delta`: every change of the retention window, kept per
//! application so that the rendered delta of an application can be reused until that
//! application's part of the queue changes. The registry changes it under its write lock.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use super::lease::{InstanceRecord, InstanceSlot};

/// One entry of the delta queue: the record as the change left it, and its lease (for the
/// last renewal at render time).
pub(crate) struct DeltaItem {
    /// Grows by one per change; changes are appended and trimmed in order.
    pub(crate) seq: u64,
    pub(crate) record: Arc<InstanceRecord>,
    pub(crate) slot: Arc<InstanceSlot>,
}

#[derive(Default)]
pub(crate) struct DeltaQueue {
    /// Every change in order: `(time, application)`, for trimming.
    order: VecDeque<(u64, String)>,
    /// Each application's changes in order.
    by_app: BTreeMap<String, VecDeque<DeltaItem>>,
    next_seq: u64,
}

impl DeltaQueue {
    /// Changes in the queue.
    pub(crate) fn len(&self) -> usize {
        self.order.len()
    }

    /// Each application with changes, by name, and its changes in order.
    pub(crate) fn by_app(&self) -> impl Iterator<Item = (&String, &VecDeque<DeltaItem>)> {
        self.by_app.iter()
    }

    /// Whether `app` has changes in the queue.
    pub(crate) fn has_app(&self, app: &str) -> bool {
        self.by_app.contains_key(app)
    }

    pub(crate) fn push(
        &mut self,
        at_ms: u64,
        record: Arc<InstanceRecord>,
        slot: Arc<InstanceSlot>,
    ) {
        let app = record.info.app.clone();
        self.next_seq += 1;
        self.order.push_back((at_ms, app.clone()));
        self.by_app.entry(app).or_default().push_back(DeltaItem {
            seq: self.next_seq,
            record,
            slot,
        });
    }

    /// Drops the changes made before `cutoff_ms`.
    pub(crate) fn trim(&mut self, cutoff_ms: u64) {
        while let Some((at, _)) = self.order.front()
            && *at < cutoff_ms
        {
            let Some((_, app)) = self.order.pop_front() else {
                break;
            };
            if let Some(items) = self.by_app.get_mut(&app) {
                items.pop_front();
                if items.is_empty() {
                    self.by_app.remove(&app);
                }
            }
        }
    }
}
