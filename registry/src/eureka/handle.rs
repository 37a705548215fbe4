//! [`EurekaRegistry`]: the handle the HTTP API, the dashboard, the DNS plugin and the binary
//! hold. It puts the layers together: the registry core, the views it tells of its changes (the
//! DNS view, the rendered listings), eviction, and replication to the peers once started
//! (Netflix's `PeerAwareInstanceRegistry`: the HTTP layer asks it to replicate a client's
//! change after the core accepted it).

use std::sync::{Arc, OnceLock};

use tokio_util::sync::CancellationToken;

use super::clock::{Clock, SystemClock};
use super::config::EurekaConfig;
use super::dns::{DnsApp, DnsView};
use super::evict;
use super::lease::InstanceRecord;
use super::listing::{DeltaListing, Doc, Listings, Pieces};
use super::model::{InstanceInfo, Status};
use super::registry::{DashboardApp, Origin, Registry, RegistryError, RegistryStats};
use super::render::{Format, LeaseView};
use super::replication::{self, Action, Outbox, PeerUrl};

/// The Eureka registry. Cheap to clone (an `Arc` inside).
#[derive(Clone)]
pub struct EurekaRegistry {
    inner: Arc<Parts>,
}

struct Parts {
    core: Registry,
    dns: Arc<DnsView>,
    listings: Arc<Listings>,
    delta: DeltaListing,
    /// Changes waiting to be sent to the peers (set when replication starts).
    outbox: OnceLock<Arc<Outbox>>,
}

impl std::fmt::Debug for EurekaRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EurekaRegistry")
            .field("apps", &self.inner.core.app_count())
            .field("instances", &self.instance_count())
            .field("version", &self.version())
            .finish()
    }
}

impl EurekaRegistry {
    /// A registry on the system clock.
    pub fn new(config: EurekaConfig) -> Self {
        Self::with_clock(config, Arc::new(SystemClock))
    }

    /// A registry on the given clock (tests use [`super::ManualClock`]).
    pub fn with_clock(config: EurekaConfig, clock: Arc<dyn Clock>) -> Self {
        let dns = Arc::new(DnsView::default());
        let listings = Arc::new(Listings::default());
        let core = Registry::new(config, clock, vec![dns.clone(), listings.clone()]);
        Self {
            inner: Arc::new(Parts {
                core,
                dns,
                listings,
                delta: DeltaListing::default(),
                outbox: OnceLock::new(),
            }),
        }
    }

    /// The registry core, for the layers above it (HTTP, replication, eviction).
    pub(crate) fn core(&self) -> &Registry {
        &self.inner.core
    }

    /// The configuration.
    pub fn config(&self) -> &EurekaConfig {
        self.inner.core.config()
    }

    pub(crate) fn now(&self) -> u64 {
        self.inner.core.now()
    }

    /// DNS view of one app, looked up by its lower-cased name. Only UP, unexpired instances are
    /// listed; `None` when the app has no such instance.
    pub fn dns_app(&self, app_lowercase: &str) -> Option<Arc<DnsApp>> {
        self.inner.dns.app(app_lowercase, self.now())
    }

    /// Grows with every change (used as the DNS zone's SOA serial).
    pub fn serial(&self) -> u32 {
        self.inner.core.serial()
    }

    /// `versions__delta`: bumped by every change.
    pub fn version(&self) -> u64 {
        self.inner.core.version()
    }

    /// Registered instances (including expired ones not yet evicted).
    pub fn instance_count(&self) -> usize {
        self.inner.core.instance_count()
    }

    /// Registers (or re-registers) an instance, as `POST /apps/{APP}` does. The application
    /// name is upper-cased; an empty instance id becomes the host name; a zero lease duration
    /// becomes the configured default.
    pub fn register(&self, info: InstanceInfo) -> Result<(), RegistryError> {
        self.inner.core.register(info)
    }

    /// [`Self::register`] for a client or a peer: a peer's registration skips the rule that
    /// keeps an existing lease's UP or OUT_OF_SERVICE status (Netflix's rule chain does too).
    pub fn register_from(&self, info: InstanceInfo, origin: Origin) -> Result<(), RegistryError> {
        self.inner.core.register_from(info, origin)
    }

    /// Take over `old`'s unexpired instances (a Corefile reload set up this registry to replace
    /// it): each is registered again with its last `InstanceInfo` (status, override, metadata)
    /// and keeps its lease's last renewal, so a reload neither drops a live instance nor extends
    /// a dead one's lease. Returns how many were taken over.
    pub fn adopt(&self, old: &EurekaRegistry) -> usize {
        self.inner.core.adopt(&old.inner.core)
    }

    /// A heartbeat, as `PUT /apps/{APP}/{ID}` does. `NotFound` tells the client to register
    /// again: unknown lease, a status that resolves to UNKNOWN (override removed), or a
    /// `lastDirtyTimestamp` newer than the registry's.
    pub fn renew(
        &self,
        app: &str,
        id: &str,
        last_dirty_timestamp: Option<u64>,
    ) -> Result<(), RegistryError> {
        self.inner.core.renew(app, id, last_dirty_timestamp)
    }

    /// Cancels a lease, as `DELETE /apps/{APP}/{ID}` does.
    pub fn cancel(&self, app: &str, id: &str) -> Result<(), RegistryError> {
        self.inner.core.cancel(app, id)
    }

    /// `PUT /apps/{APP}/{ID}/status?value=S`: stores an override and sets the status.
    pub fn set_status_override(
        &self,
        app: &str,
        id: &str,
        status: Status,
        last_dirty_timestamp: Option<u64>,
    ) -> Result<(), RegistryError> {
        self.inner
            .core
            .set_status_override(app, id, status, last_dirty_timestamp)
    }

    /// `DELETE /apps/{APP}/{ID}/status[?value=S]`: removes the override; the status becomes
    /// `new_status` or UNKNOWN (so the next heartbeat answers 404 and the client re-registers).
    pub fn delete_status_override(
        &self,
        app: &str,
        id: &str,
        new_status: Option<Status>,
        last_dirty_timestamp: Option<u64>,
    ) -> Result<(), RegistryError> {
        self.inner
            .core
            .delete_status_override(app, id, new_status, last_dirty_timestamp)
    }

    /// `PUT /apps/{APP}/{ID}/metadata?k=v`: merges metadata, then re-registers the instance
    /// (as Netflix does).
    pub fn update_metadata(
        &self,
        app: &str,
        id: &str,
        entries: &[(String, String)],
    ) -> Result<(), RegistryError> {
        self.inner.core.update_metadata(app, id, entries)
    }

    /// Counters for `/status` and the dashboard.
    pub fn stats(&self) -> RegistryStats {
        self.inner.core.stats()
    }

    /// Whether expired leases may be evicted now: always without self-preservation, else only
    /// while renewals in the last minute exceed the threshold.
    pub fn lease_expiration_enabled(&self) -> bool {
        evict::lease_expiration_enabled(&self.inner.core)
    }

    /// One eviction run (the background task calls this every `eviction_interval`); returns how
    /// many leases were evicted.
    pub fn evict_expired(&self) -> usize {
        evict::evict_expired(&self.inner.core)
    }

    /// Start replicating this registry's client changes to `peers`, and copy their registries.
    /// Called once per registry (a second call is ignored).
    pub fn start_replication(&self, peers: Vec<PeerUrl>, shutdown: CancellationToken) {
        if peers.is_empty() {
            return;
        }
        let outbox = Arc::new(Outbox::new(peers.len()));
        if self.inner.outbox.set(Arc::clone(&outbox)).is_err() {
            return;
        }
        replication::spawn(self.inner.core.clone(), outbox, peers, shutdown);
    }

    /// Queue a client's change for the peers (nothing when replication is off).
    pub(crate) fn replicate(&self, action: Action, app: &str, id: &str) {
        if let Some(outbox) = self.inner.outbox.get() {
            outbox.queue(&self.inner.core, action, app, id);
        }
    }

    /// One live instance with its lease (`GET /apps/{APP}/{ID}`).
    pub(crate) fn instance(
        &self,
        app: &str,
        id: &str,
    ) -> Result<(Arc<InstanceRecord>, LeaseView), RegistryError> {
        self.inner.core.instance(app, id)
    }

    /// The first live instance with this id in any application (`GET /instances/{ID}`).
    pub(crate) fn instance_by_id(&self, id: &str) -> Option<(Arc<InstanceRecord>, LeaseView)> {
        self.inner.core.instance_by_id(id)
    }

    /// Applications and instances for the dashboard: `(app, [(record, slot)])`, sorted.
    pub(crate) fn dashboard_apps(&self) -> Vec<DashboardApp> {
        self.inner.core.dashboard_apps()
    }

    /// `GET /apps`: every application, every instance. `gzip`: compress the chunks now (in
    /// parallel) rather than while assembling the answer.
    pub(crate) fn full_listing(&self, format: Format, gzip: bool) -> Pieces {
        self.inner.listings.full(&self.inner.core, format, gzip)
    }

    /// `GET /apps/{APP}`; `NotFound` when the application has no instance.
    pub(crate) fn app_listing(
        &self,
        app: &str,
        format: Format,
        gzip: bool,
    ) -> Result<Pieces, RegistryError> {
        self.inner.listings.app(app, format, gzip)
    }

    /// `GET /vips/{vip}` and `GET /svips/{svip}`.
    pub(crate) fn vip_listing(&self, vip: &str, secure: bool, format: Format) -> Doc {
        self.inner
            .listings
            .vip(&self.inner.core, vip, secure, format)
    }

    /// `GET /apps/delta`.
    pub(crate) fn delta_listing(&self, format: Format, gzip: bool) -> Vec<bytes::Bytes> {
        self.inner.delta.listing(&self.inner.core, format, gzip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eureka::ManualClock;
    use std::time::Duration;

    fn info(app: &str, id: &str, ip: &str) -> InstanceInfo {
        InstanceInfo::new(app, id, id, ip, 8080)
    }

    fn registry() -> (EurekaRegistry, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new(1_700_000_000_000));
        (
            EurekaRegistry::with_clock(EurekaConfig::default(), clock.clone()),
            clock,
        )
    }

    #[test]
    fn dns_view_follows_changes_and_expiry() {
        let (r, clock) = registry();
        assert!(r.dns_app("orders").is_none());
        let s0 = r.serial();
        r.register(info("ORDERS", "b", "10.0.0.2")).unwrap();
        r.register(info("ORDERS", "a", "10.0.0.1")).unwrap();
        r.register(info("ORDERS", "bad-ip", "not-an-ip")).unwrap();
        assert!(r.serial() > s0);
        let v = r.dns_app("orders").unwrap();
        let hosts: Vec<&str> = v.instances.iter().map(|i| i.host_name.as_str()).collect();
        assert_eq!(hosts, ["a", "b"]);
        assert_eq!(v.instances[0].port, Some(8080));
        assert_eq!(v.instances[0].secure_port, None);
        // Same Arc while nothing changes.
        assert!(Arc::ptr_eq(&v, &r.dns_app("orders").unwrap()));
        // Status change removes it.
        r.set_status_override("ORDERS", "a", Status::OutOfService, None)
            .unwrap();
        assert_eq!(r.dns_app("orders").unwrap().instances.len(), 1);
        // Expiry removes it before eviction; a renewal brings it back.
        clock.advance(Duration::from_secs(60));
        r.renew("ORDERS", "bad-ip", None).unwrap();
        clock.advance(Duration::from_secs(31));
        assert!(r.dns_app("orders").is_none());
        r.renew("ORDERS", "b", None).unwrap();
        assert_eq!(r.dns_app("orders").unwrap().instances.len(), 1);
        r.cancel("ORDERS", "b").unwrap();
        assert!(r.dns_app("orders").is_none());
    }

    #[test]
    fn render_cache_sees_every_change() {
        let (r, _) = registry();
        for n in 0..1500 {
            r.register(info("BIG", &format!("i{n}"), "10.0.0.1"))
                .unwrap();
        }
        let text = |r: &EurekaRegistry| -> String {
            let parts = r.full_listing(Format::Json, false).into_plain();
            String::from_utf8(parts.concat()).unwrap()
        };
        let v: serde_json::Value = serde_json::from_str(&text(&r)).unwrap();
        assert_eq!(
            v["applications"]["application"][0]["instance"]
                .as_array()
                .unwrap()
                .len(),
            1500
        );
        r.set_status_override("BIG", "i7", Status::Down, None)
            .unwrap();
        r.cancel("BIG", "i8").unwrap();
        let v: serde_json::Value = serde_json::from_str(&text(&r)).unwrap();
        let insts = v["applications"]["application"][0]["instance"]
            .as_array()
            .unwrap();
        assert_eq!(insts.len(), 1499);
        assert!(
            insts
                .iter()
                .any(|i| i["instanceId"] == "i7" && i["status"] == "DOWN")
        );
        assert!(!insts.iter().any(|i| i["instanceId"] == "i8"));
        assert_eq!(v["applications"]["apps__hashcode"], "DOWN_1_UP_1498_");
    }
}
