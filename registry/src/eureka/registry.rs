//! The registry core: the leases and the operations on them (register, renew, cancel, status
//! override and its removal, metadata, eviction of given leases, adoption at a reload), the
//! delta queue, `versions__delta` and the status counts behind `apps__hashcode`.
//!
//! It knows none of its views: every change bumps the application's generation and is told to
//! the [`ChangeListener`]s it was built with (the DNS view, the rendered listings), under the
//! write lock and in change order. Eviction and replication use its methods only.
//!
//! Concurrency: heartbeats take no global lock: a map lookup, a read lock on one application's
//! instance map, an `ArcSwap` load and two atomic stores. Every change (register, cancel,
//! status, metadata, eviction) runs under one write mutex, so the delta queue, the version, the
//! status counts and what the listeners are told change together. Readers never take the write
//! mutex except the delta read, which looks at the queue under it.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use dashmap::DashMap;

use super::clock::Clock;
use super::config::EurekaConfig;
use super::delta_queue::DeltaQueue;
use super::lease::{AppSlot, InstanceRecord, InstanceSlot};
use super::locks::lock;
use super::model::{ActionType, InstanceInfo, Status};
use super::render::{LeaseView, StatusCounts};
use super::renewals::{RenewalMeter, RenewalState};
use super::rules::effective_status;

/// Why a registry operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// No such application or instance (or its lease expired), or the client must register again.
    #[error("{0}")]
    NotFound(String),
    /// A configured limit (applications, instances per application) would be exceeded.
    #[error("{0}")]
    LimitExceeded(String),
    /// The instance lacks something the registry needs (an id, an application name).
    #[error("{0}")]
    Invalid(String),
}

/// What a view is told of the registry's changes. Called under the registry's write lock, in
/// change order: an implementation must be quick and must not call the registry's writing
/// methods.
pub(crate) trait ChangeListener: Send + Sync {
    /// A new application (its first lease is being registered).
    fn app_added(&self, app: &Arc<AppSlot>);
    /// The lease `id` of `app` was added, changed or removed.
    fn instance_changed(&self, app: &Arc<AppSlot>, id: &str);
    /// `app` lost its last lease and left the registry.
    fn app_removed(&self, app: &Arc<AppSlot>);
}

/// A lease found expired by a scan: `(app, id, slot)`.
pub(crate) type ExpiredLease = (String, String, Arc<InstanceSlot>);
/// An application's name and its leases with their records (for the dashboard).
pub(crate) type DashboardApp = (String, Vec<(Arc<InstanceRecord>, Arc<InstanceSlot>)>);

/// State that changes only under the write mutex.
struct WriteState {
    delta: DeltaQueue,
    counts: StatusCounts,
    renewal: RenewalState,
}

struct Inner {
    config: EurekaConfig,
    clock: Arc<dyn Clock>,
    apps: DashMap<String, Arc<AppSlot>>,
    write: Mutex<WriteState>,
    version: AtomicU64,
    instance_count: AtomicUsize,
    renewals: RenewalMeter,
    started_ms: u64,
    listeners: Vec<Arc<dyn ChangeListener>>,
}

/// Who asked for a change: a client (the change is then replicated to the peers) or a peer
/// (applied as sent and never replicated again; Netflix's `isReplication`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    Client,
    Peer,
}

/// The registry core. Cheap to clone (an `Arc` inside).
#[derive(Clone)]
pub(crate) struct Registry {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("apps", &self.inner.apps.len())
            .field("instances", &self.instance_count())
            .field("version", &self.version())
            .finish()
    }
}
/// A snapshot of the registry's counters (for `/status` and the dashboard).
#[derive(Clone, Debug, PartialEq)]
pub struct RegistryStats {
    /// Applications with at least one instance.
    pub apps: usize,
    /// Registered instances (including expired, not yet evicted ones).
    pub instances: usize,
    /// Renewals in the last 60 seconds.
    pub renews_last_min: u64,
    /// Renewals per minute below which self-preservation stops eviction.
    pub renews_threshold: u64,
    /// Clients expected to renew (Netflix's `expectedNumberOfClientsSendingRenews`).
    pub expected_clients: u64,
    /// Whether self-preservation is configured on.
    pub self_preservation_enabled: bool,
    /// Whether expired leases are evicted now (false while self-preservation holds them).
    pub lease_expiration_enabled: bool,
    /// `versions__delta`.
    pub version: u64,
    /// Changes in the delta queue.
    pub delta_queue_len: usize,
    /// Time since the registry was created.
    pub uptime: Duration,
}

impl RegistryStats {
    /// Self-preservation is on and currently suspending eviction.
    pub fn self_preservation_active(&self) -> bool {
        self.self_preservation_enabled && !self.lease_expiration_enabled
    }
}

fn not_found_instance(app: &str, id: &str) -> RegistryError {
    RegistryError::NotFound(format!(
        "instance {id} of application {app} is not registered"
    ))
}

impl Registry {
    /// A registry on the given clock that tells `listeners` of every change.
    pub(crate) fn new(
        config: EurekaConfig,
        clock: Arc<dyn Clock>,
        listeners: Vec<Arc<dyn ChangeListener>>,
    ) -> Self {
        let now = clock.now_millis();
        let w = WriteState {
            delta: DeltaQueue::default(),
            counts: [0; 5],
            renewal: RenewalState::new(&config, now),
        };
        Self {
            inner: Arc::new(Inner {
                config,
                clock,
                apps: DashMap::new(),
                write: Mutex::new(w),
                version: AtomicU64::new(1),
                instance_count: AtomicUsize::new(0),
                renewals: RenewalMeter::default(),
                started_ms: now,
                listeners,
            }),
        }
    }

    /// The configuration.
    pub(crate) fn config(&self) -> &EurekaConfig {
        &self.inner.config
    }

    pub(crate) fn now(&self) -> u64 {
        self.inner.clock.now_millis()
    }

    /// The number of applications.
    pub(crate) fn app_count(&self) -> usize {
        self.inner.apps.len()
    }

    /// Grows with every change (used as the DNS zone's SOA serial).
    pub(crate) fn serial(&self) -> u32 {
        (self.version() & 0xffff_ffff) as u32
    }

    /// `versions__delta`: bumped by every change.
    pub(crate) fn version(&self) -> u64 {
        self.inner.version.load(Ordering::SeqCst)
    }

    /// Registered instances (including expired ones not yet evicted).
    pub(crate) fn instance_count(&self) -> usize {
        self.inner.instance_count.load(Ordering::Relaxed)
    }

    /// Registers (or re-registers) an instance, as `POST /apps/{APP}` does. The application
    /// name is upper-cased; an empty instance id becomes the host name; a zero lease duration
    /// becomes the configured default.
    pub(crate) fn register(&self, info: InstanceInfo) -> Result<(), RegistryError> {
        self.register_from(info, Origin::Client)
    }

    /// [`Self::register`] for a client or a peer: a peer's registration skips the rule that
    /// keeps an existing lease's UP or OUT_OF_SERVICE status (Netflix's rule chain does too).
    pub(crate) fn register_from(
        &self,
        mut info: InstanceInfo,
        origin: Origin,
    ) -> Result<(), RegistryError> {
        info.app = info.app.to_uppercase();
        if info.instance_id.trim().is_empty() {
            info.instance_id = info.host_name.clone();
        }
        if info.app.trim().is_empty() || info.instance_id.trim().is_empty() {
            return Err(RegistryError::Invalid(
                "an instance needs an application name and an instance id or host name".to_string(),
            ));
        }
        let now = self.now();
        let mut w = lock(&self.inner.write);
        self.register_locked(&mut w, info, now, origin)
    }

    fn register_locked(
        &self,
        w: &mut WriteState,
        incoming: InstanceInfo,
        now: u64,
        origin: Origin,
    ) -> Result<(), RegistryError> {
        let cfg = &self.inner.config;
        let app_name = incoming.app.clone();
        let id = incoming.instance_id.clone();
        let app = self
            .inner
            .apps
            .get(&app_name)
            .map(|e| Arc::clone(e.value()));
        let existing = app.as_ref().and_then(|a| a.get(&id));
        if existing.is_none() {
            let in_app = app.as_ref().map_or(0, |a| a.len());
            if in_app >= cfg.max_instances_per_app {
                return Err(RegistryError::LimitExceeded(format!(
                    "application {app_name} already has {in_app} instances (limit {})",
                    cfg.max_instances_per_app
                )));
            }
            if app.is_none() && self.inner.apps.len() >= cfg.max_apps {
                return Err(RegistryError::LimitExceeded(format!(
                    "the registry already holds {} applications (limit {})",
                    self.inner.apps.len(),
                    cfg.max_apps
                )));
            }
        }
        let app = match app {
            Some(a) => a,
            None => {
                let a = Arc::new(AppSlot::new(app_name.clone()));
                self.inner.apps.insert(app_name.clone(), Arc::clone(&a));
                for l in &self.inner.listeners {
                    l.app_added(&a);
                }
                a
            }
        };
        let existing_rec = existing.as_ref().map(|s| s.record.load_full());

        let mut info = incoming;
        if let Some(er) = &existing_rec {
            // The registry keeps what it has when that is newer.
            if er.info.last_dirty_timestamp > info.last_dirty_timestamp {
                info = er.info.clone();
            }
        }
        let mut override_status = existing_rec.as_ref().and_then(|r| r.override_status);
        if info.overridden_status != Status::Unknown && override_status.is_none() {
            override_status = Some(info.overridden_status);
        }
        if let Some(o) = override_status {
            info.overridden_status = o;
        }
        let existing_status = match origin {
            Origin::Client => existing_rec.as_ref().map(|r| r.info.status),
            Origin::Peer => None,
        };
        info.status = effective_status(info.status, override_status, existing_status);
        info.action_type = ActionType::Added;
        info.last_updated_timestamp = now;
        if info.duration_secs == 0 {
            info.duration_secs = cfg.default_lease_secs.max(1);
        }
        let mut service_up_ms = existing_rec.as_ref().map_or(0, |r| r.service_up_ms);
        if info.status == Status::Up && service_up_ms == 0 {
            service_up_ms = now;
        }
        let duration_ms = u64::from(info.duration_secs) * 1000;
        let new_status = info.status;
        let record = Arc::new(InstanceRecord {
            info,
            override_status,
            registration_ms: now,
            service_up_ms,
            eviction_ms: 0,
            duration_ms,
        });
        let slot = match existing {
            Some(s) => {
                s.record.store(Arc::clone(&record));
                s
            }
            None => {
                let s = Arc::new(InstanceSlot::new(Arc::clone(&record)));
                app.insert(id.clone(), Arc::clone(&s));
                self.inner.instance_count.fetch_add(1, Ordering::Relaxed);
                w.renewal.client_added(cfg);
                s
            }
        };
        slot.renew(now, duration_ms);
        if let Some(er) = &existing_rec {
            w.counts[er.info.status.index()] = w.counts[er.info.status.index()].saturating_sub(1);
        }
        w.counts[new_status.index()] += 1;
        tracing::debug!(app = %app_name, id = %id, status = %new_status, new = existing_rec.is_none(), "registered");
        self.changed(w, &app, &id, record, slot, now);
        Ok(())
    }

    /// Take over `old`'s unexpired instances (a Corefile reload set up this registry to replace
    /// it): each is registered again with its last `InstanceInfo` (status, override, metadata)
    /// and keeps its lease's last renewal, so a reload neither drops a live instance nor extends
    /// a dead one's lease. Returns how many were taken over.
    pub(crate) fn adopt(&self, old: &Registry) -> usize {
        let (old_now, now) = (old.now(), self.now());
        let slots: Vec<Arc<InstanceSlot>> = old
            .inner
            .apps
            .iter()
            .flat_map(|app| app.value().slots())
            .filter(|slot| !slot.is_expired(old_now))
            .collect();
        let mut w = lock(&self.inner.write);
        let mut adopted = 0;
        for slot in slots {
            let info = slot.record.load().info.clone();
            let (app, id) = (info.app.clone(), info.instance_id.clone());
            if let Err(error) = self.register_locked(&mut w, info, now, Origin::Client) {
                tracing::warn!(%app, %id, %error, "eureka: an instance could not be carried over");
                continue;
            }
            if let Some(new) = self.app(&app).and_then(|a| a.get(&id)) {
                new.renew(slot.last_renewal_ms(), new.record.load().duration_ms);
            }
            adopted += 1;
        }
        adopted
    }

    /// Records a change: delta queue, version, the application's generation; then tells the
    /// views.
    fn changed(
        &self,
        w: &mut WriteState,
        app: &Arc<AppSlot>,
        id: &str,
        record: Arc<InstanceRecord>,
        slot: Arc<InstanceSlot>,
        now: u64,
    ) {
        w.delta.push(now, record, slot);
        self.trim_delta(w, now);
        self.inner.version.fetch_add(1, Ordering::SeqCst);
        app.bump_generation();
        for l in &self.inner.listeners {
            l.instance_changed(app, id);
        }
    }

    fn trim_delta(&self, w: &mut WriteState, now: u64) {
        let retention =
            u64::try_from(self.inner.config.delta_retention.as_millis()).unwrap_or(u64::MAX);
        let cutoff = now.saturating_sub(retention);
        w.delta.trim(cutoff);
    }

    /// The application, by its (upper-cased) name.
    pub(crate) fn app(&self, app: &str) -> Option<Arc<AppSlot>> {
        self.inner.apps.get(app).map(|e| Arc::clone(e.value()))
    }

    /// The instance's slot if it is registered and its lease has not expired.
    fn live_slot(
        &self,
        app: &str,
        id: &str,
        now: u64,
    ) -> Result<(Arc<AppSlot>, Arc<InstanceSlot>), RegistryError> {
        let a = self.app(app).ok_or_else(|| not_found_instance(app, id))?;
        let s = a.get(id).ok_or_else(|| not_found_instance(app, id))?;
        if s.is_expired(now) {
            return Err(RegistryError::NotFound(format!(
                "the lease of instance {id} of application {app} has expired"
            )));
        }
        Ok((a, s))
    }

    /// A heartbeat, as `PUT /apps/{APP}/{ID}` does. `NotFound` tells the client to register
    /// again: unknown lease, a status that resolves to UNKNOWN (override removed), or a
    /// `lastDirtyTimestamp` newer than the registry's.
    pub(crate) fn renew(
        &self,
        app: &str,
        id: &str,
        last_dirty_timestamp: Option<u64>,
    ) -> Result<(), RegistryError> {
        let now = self.now();
        let a = self.app(app).ok_or_else(|| not_found_instance(app, id))?;
        let slot = a.get(id).ok_or_else(|| not_found_instance(app, id))?;
        let rec = slot.record.load_full();
        let status = effective_status(rec.info.status, rec.override_status, Some(rec.info.status));
        if status == Status::Unknown {
            return Err(RegistryError::NotFound(format!(
                "instance {id} of application {app} has status UNKNOWN: register again"
            )));
        }
        if status != rec.info.status {
            self.set_status_from_renew(&a, &slot, status, now);
        }
        self.inner.renewals.record(now);
        slot.renew(now, rec.duration_ms);
        if let Some(ts) = last_dirty_timestamp
            && ts > rec.info.last_dirty_timestamp
        {
            return Err(RegistryError::NotFound(format!(
                "instance {id} of application {app} has newer data (lastDirtyTimestamp {ts} > {}): register again",
                rec.info.last_dirty_timestamp
            )));
        }
        Ok(())
    }

    fn set_status_from_renew(
        &self,
        app: &Arc<AppSlot>,
        slot: &Arc<InstanceSlot>,
        status: Status,
        now: u64,
    ) {
        let mut w = lock(&self.inner.write);
        let rec = slot.record.load_full();
        if rec.info.status == status {
            return;
        }
        let mut info = rec.info.clone();
        info.status = status;
        info.action_type = ActionType::Modified;
        info.last_updated_timestamp = now;
        let id = info.instance_id.clone();
        let record = Arc::new(InstanceRecord {
            info,
            override_status: rec.override_status,
            registration_ms: rec.registration_ms,
            service_up_ms: rec.service_up_ms,
            eviction_ms: rec.eviction_ms,
            duration_ms: rec.duration_ms,
        });
        slot.record.store(Arc::clone(&record));
        let old = rec.info.status.index();
        w.counts[old] = w.counts[old].saturating_sub(1);
        w.counts[status.index()] += 1;
        self.changed(&mut w, app, &id, record, Arc::clone(slot), now);
    }

    /// Cancels a lease, as `DELETE /apps/{APP}/{ID}` does.
    pub(crate) fn cancel(&self, app: &str, id: &str) -> Result<(), RegistryError> {
        let now = self.now();
        let mut w = lock(&self.inner.write);
        self.cancel_locked(&mut w, app, id, now, true, None)
    }

    /// Removes a lease. `expected_slot`: only if the map still holds that lease (eviction).
    fn cancel_locked(
        &self,
        w: &mut WriteState,
        app: &str,
        id: &str,
        now: u64,
        client_cancel: bool,
        expected_slot: Option<&Arc<InstanceSlot>>,
    ) -> Result<(), RegistryError> {
        let a = self.app(app).ok_or_else(|| not_found_instance(app, id))?;
        let slot = a
            .remove(id, expected_slot)
            .ok_or_else(|| not_found_instance(app, id))?;
        self.inner.instance_count.fetch_sub(1, Ordering::Relaxed);
        let old = slot.record.load_full();
        let mut info = old.info.clone();
        info.action_type = ActionType::Deleted;
        info.last_updated_timestamp = now;
        let record = Arc::new(InstanceRecord {
            info,
            override_status: None,
            registration_ms: old.registration_ms,
            service_up_ms: old.service_up_ms,
            eviction_ms: now,
            duration_ms: old.duration_ms,
        });
        slot.record.store(Arc::clone(&record));
        let idx = old.info.status.index();
        w.counts[idx] = w.counts[idx].saturating_sub(1);
        tracing::debug!(app = %app, id = %id, client_cancel, "lease removed");
        if client_cancel {
            w.renewal.client_cancelled(&self.inner.config);
        }
        self.changed(w, &a, id, record, slot, now);
        if a.len() == 0
            && self
                .inner
                .apps
                .remove_if(app, |_, v| Arc::ptr_eq(v, &a) && v.len() == 0)
                .is_some()
        {
            for l in &self.inner.listeners {
                l.app_removed(&a);
            }
        }
        Ok(())
    }

    /// `PUT /apps/{APP}/{ID}/status?value=S`: stores an override and sets the status.
    pub(crate) fn set_status_override(
        &self,
        app: &str,
        id: &str,
        status: Status,
        last_dirty_timestamp: Option<u64>,
    ) -> Result<(), RegistryError> {
        let now = self.now();
        let mut w = lock(&self.inner.write);
        let (a, slot) = self.live_slot(app, id, now)?;
        let rec = slot.record.load_full();
        slot.renew(now, rec.duration_ms);
        if rec.info.status == status {
            // Netflix stores nothing when the status is already that.
            return Ok(());
        }
        let mut info = rec.info.clone();
        info.status = status;
        info.overridden_status = status;
        if let Some(ts) = last_dirty_timestamp {
            info.last_dirty_timestamp = info.last_dirty_timestamp.max(ts);
        }
        info.action_type = ActionType::Modified;
        info.last_updated_timestamp = now;
        let mut service_up_ms = rec.service_up_ms;
        if status == Status::Up && service_up_ms == 0 {
            service_up_ms = now;
        }
        let record = Arc::new(InstanceRecord {
            info,
            override_status: Some(status),
            registration_ms: rec.registration_ms,
            service_up_ms,
            eviction_ms: rec.eviction_ms,
            duration_ms: rec.duration_ms,
        });
        slot.record.store(Arc::clone(&record));
        let old = rec.info.status.index();
        w.counts[old] = w.counts[old].saturating_sub(1);
        w.counts[status.index()] += 1;
        self.changed(&mut w, &a, id, record, slot, now);
        Ok(())
    }

    /// `DELETE /apps/{APP}/{ID}/status[?value=S]`: removes the override; the status becomes
    /// `new_status` or UNKNOWN (so the next heartbeat answers 404 and the client re-registers).
    pub(crate) fn delete_status_override(
        &self,
        app: &str,
        id: &str,
        new_status: Option<Status>,
        last_dirty_timestamp: Option<u64>,
    ) -> Result<(), RegistryError> {
        let now = self.now();
        let mut w = lock(&self.inner.write);
        let (a, slot) = self.live_slot(app, id, now)?;
        let rec = slot.record.load_full();
        slot.renew(now, rec.duration_ms);
        if rec.override_status.is_none() {
            return Ok(());
        }
        let status = new_status.unwrap_or(Status::Unknown);
        let mut info = rec.info.clone();
        info.status = status;
        info.overridden_status = Status::Unknown;
        if let Some(ts) = last_dirty_timestamp {
            info.last_dirty_timestamp = info.last_dirty_timestamp.max(ts);
        }
        info.action_type = ActionType::Modified;
        info.last_updated_timestamp = now;
        let record = Arc::new(InstanceRecord {
            info,
            override_status: None,
            registration_ms: rec.registration_ms,
            service_up_ms: rec.service_up_ms,
            eviction_ms: rec.eviction_ms,
            duration_ms: rec.duration_ms,
        });
        slot.record.store(Arc::clone(&record));
        let old = rec.info.status.index();
        w.counts[old] = w.counts[old].saturating_sub(1);
        w.counts[status.index()] += 1;
        self.changed(&mut w, &a, id, record, slot, now);
        Ok(())
    }

    /// `PUT /apps/{APP}/{ID}/metadata?k=v`: merges metadata, then re-registers the instance
    /// (as Netflix does).
    pub(crate) fn update_metadata(
        &self,
        app: &str,
        id: &str,
        entries: &[(String, String)],
    ) -> Result<(), RegistryError> {
        let now = self.now();
        let mut w = lock(&self.inner.write);
        let (_, slot) = self.live_slot(app, id, now)?;
        let mut info = slot.record.load().info.clone();
        for (k, v) in entries {
            info.set_metadata(k, v);
        }
        self.register_locked(&mut w, info, now, Origin::Client)
    }

    /// One live instance with its lease (`GET /apps/{APP}/{ID}`).
    pub(crate) fn instance(
        &self,
        app: &str,
        id: &str,
    ) -> Result<(Arc<InstanceRecord>, LeaseView), RegistryError> {
        let now = self.now();
        let (_, slot) = self.live_slot(app, id, now)?;
        let rec = slot.record.load_full();
        let lease = slot.lease_view(&rec);
        Ok((rec, lease))
    }

    /// The first live instance with this id in any application (`GET /instances/{ID}`).
    pub(crate) fn instance_by_id(&self, id: &str) -> Option<(Arc<InstanceRecord>, LeaseView)> {
        let now = self.now();
        let mut apps = self.sorted_apps();
        apps.retain(|a| a.get(id).is_some());
        apps.into_iter().find_map(|a| {
            let slot = a.get(id)?;
            if slot.is_expired(now) {
                return None;
            }
            let rec = slot.record.load_full();
            let lease = slot.lease_view(&rec);
            Some((rec, lease))
        })
    }

    /// Every application, by name.
    pub(crate) fn sorted_apps(&self) -> Vec<Arc<AppSlot>> {
        let mut apps: Vec<Arc<AppSlot>> = self
            .inner
            .apps
            .iter()
            .map(|e| Arc::clone(e.value()))
            .collect();
        apps.sort_by(|a, b| a.name.cmp(&b.name));
        apps
    }

    /// The status counts behind `apps__hashcode`.
    #[cfg(test)]
    pub(crate) fn status_counts(&self) -> StatusCounts {
        lock(&self.inner.write).counts
    }

    /// Runs `f` on the delta queue trimmed to the retention window, under the write lock (so
    /// `f` sees the queue, the version and the counts of one moment; it must be quick).
    pub(crate) fn with_delta<R>(&self, f: impl FnOnce(&DeltaQueue, u64, &StatusCounts) -> R) -> R {
        let now = self.now();
        let mut w = lock(&self.inner.write);
        self.trim_delta(&mut w, now);
        f(&w.delta, self.version(), &w.counts)
    }

    /// Drops delta queue entries older than the retention window.
    pub(crate) fn trim_delta_queue(&self) {
        let now = self.now();
        let mut w = lock(&self.inner.write);
        self.trim_delta(&mut w, now);
    }

    /// Renewals in the last 60 seconds.
    pub(crate) fn renewals_last_minute(&self) -> u64 {
        self.inner.renewals.last_minute(self.now())
    }

    /// The expected renewal rate.
    pub(crate) fn renewal_state(&self) -> RenewalState {
        lock(&self.inner.write).renewal
    }

    /// Changes the expected renewal rate under the write lock.
    pub(crate) fn update_renewal_state(&self, f: impl FnOnce(&mut RenewalState)) {
        f(&mut lock(&self.inner.write).renewal);
    }

    /// Applications and instances for the dashboard: `(app, [(record, slot)])`, sorted.
    pub(crate) fn dashboard_apps(&self) -> Vec<DashboardApp> {
        self.sorted_apps()
            .into_iter()
            .filter_map(|a| {
                let mut items: Vec<(Arc<InstanceRecord>, Arc<InstanceSlot>)> = a
                    .slots()
                    .into_iter()
                    .map(|s| (s.record.load_full(), s))
                    .collect();
                if items.is_empty() {
                    return None;
                }
                items.sort_by(|x, y| x.0.info.instance_id.cmp(&y.0.info.instance_id));
                Some((a.name.clone(), items))
            })
            .collect()
    }

    /// The leases that have expired at `now`: `(app, id, slot)`; names are cloned only for
    /// those, so a scan of 100,000 live leases allocates nothing.
    pub(crate) fn expired_leases(&self, now: u64) -> Vec<ExpiredLease> {
        let mut out = Vec::new();
        for a in self.sorted_apps() {
            a.for_each(|id, s| {
                if s.is_expired(now) {
                    out.push((a.name.clone(), id.to_string(), Arc::clone(s)));
                }
            });
        }
        out
    }

    /// Removes these leases if each is still the one held and still expired at `now` (a
    /// heartbeat may have come in since the scan); returns `(app, id)` of those removed.
    /// Evictions do not lower the expected client count.
    pub(crate) fn evict(&self, leases: Vec<ExpiredLease>, now: u64) -> Vec<(String, String)> {
        let mut evicted = Vec::new();
        let mut w = lock(&self.inner.write);
        for (app, id, slot) in leases {
            if slot.is_expired(now)
                && self
                    .cancel_locked(&mut w, &app, &id, now, false, Some(&slot))
                    .is_ok()
            {
                evicted.push((app, id));
            }
        }
        evicted
    }

    /// Counters for `/status` and the dashboard.
    pub(crate) fn stats(&self) -> RegistryStats {
        let now = self.now();
        let (renewal, delta_len) = {
            let w = lock(&self.inner.write);
            (w.renewal, w.delta.len())
        };
        let renews = self.inner.renewals.last_minute(now);
        let cfg = &self.inner.config;
        RegistryStats {
            apps: self.inner.apps.len(),
            instances: self.instance_count(),
            renews_last_min: renews,
            renews_threshold: renewal.renews_threshold,
            expected_clients: renewal.expected_clients,
            self_preservation_enabled: cfg.self_preservation,
            lease_expiration_enabled: renewal.expiration_enabled(cfg, renews),
            version: self.version(),
            delta_queue_len: delta_len,
            uptime: Duration::from_millis(now.saturating_sub(self.inner.started_ms)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eureka::ManualClock;
    use crate::eureka::render;

    fn info(app: &str, id: &str, ip: &str) -> InstanceInfo {
        InstanceInfo::new(app, id, id, ip, 8080)
    }

    #[test]
    fn hashcode_and_counts_track_changes() {
        let clock = Arc::new(ManualClock::new(1_700_000_000_000));
        let r = Registry::new(EurekaConfig::default(), clock, Vec::new());
        r.register(info("A", "1", "10.0.0.1")).unwrap();
        r.register(info("A", "2", "10.0.0.2")).unwrap();
        r.set_status_override("A", "2", Status::Down, None).unwrap();
        assert_eq!(render::hashcode(&r.status_counts()), "DOWN_1_UP_1_");
    }
}
