//! Per-source "synced" state: the DNS path must never answer NXDOMAIN from a store that has not
//! seen a full list from every source yet (it answers SERVFAIL instead).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

#[derive(Debug, Default)]
pub(crate) struct SyncState {
    pending: AtomicUsize,
    gave_up_waiting: AtomicBool,
}

impl SyncState {
    pub(crate) fn is_synced(&self) -> bool {
        self.pending.load(Ordering::Acquire) == 0
    }

    pub(crate) fn serving(&self) -> bool {
        self.is_synced() || self.gave_up_waiting.load(Ordering::Acquire)
    }
}

/// Held by one source (or one watched kind); `mark_synced` after its first complete list.
/// Dropping an unsynced token does not mark it synced: a source that died before its first list
/// leaves the store unsynced, which is the truth.
#[derive(Debug)]
pub struct SyncToken {
    state: Arc<SyncState>,
    done: AtomicBool,
    label: String,
}

impl SyncToken {
    pub(crate) fn new(state: Arc<SyncState>, label: String) -> Self {
        state.pending.fetch_add(1, Ordering::AcqRel);
        SyncToken {
            state,
            done: AtomicBool::new(false),
            label,
        }
    }

    /// Idempotent.
    pub fn mark_synced(&self) {
        if !self.done.swap(true, Ordering::AcqRel) {
            self.state.pending.fetch_sub(1, Ordering::AcqRel);
            tracing::debug!(source = %self.label, "source synced");
        }
    }

    pub fn label(&self) -> &str {
        &self.label
    }
}

pub(crate) fn give_up_waiting(state: &SyncState) {
    state.gave_up_waiting.store(true, Ordering::Release);
}
