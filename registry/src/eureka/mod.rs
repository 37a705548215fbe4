//! The Eureka-compatible service registry: leases, the Netflix Eureka REST API, a dashboard, and
//! the per-application view that the DNS `eureka` plugin answers from.
//!
//! # Module layout
//!
//! Files are in layers; each imports only from layers below it (no import circles), so the core
//! knows none of its views and the views know nothing of HTTP.
//!
//! 1. Data and formats (import nothing of the registry):
//!    - `config`: [`EurekaConfig`], [`EurekaAuth`] (password and token files), [`EurekaError`].
//!    - `clock`: the time source ([`Clock`], [`SystemClock`], [`ManualClock`] for tests).
//!    - `model`: [`InstanceInfo`] and friends, as the registry keeps them; `rules`: Netflix's
//!      instance-status override rules.
//!    - `xml` (a small XML reader, escaping), `decode` (a registration body, JSON or XML, into
//!      an [`InstanceInfo`]), `render` (the exact JSON and XML output shapes, `apps__hashcode`),
//!      `gzip` (stitching pre-compressed chunks into one gzip stream), `par` (spreading work
//!      over the cores), `locks` (poison-tolerant lock helpers).
//! 2. The core: the leases and the operations that change them.
//!    - `lease`: one instance's lease (its record plus the renewal atomics heartbeats update)
//!      and one application's leases with its change generation.
//!    - `renewals`: the renewals-per-minute meter and the self-preservation threshold.
//!    - `delta_queue`: the changes of the retention window behind `/apps/delta`.
//!    - `registry`: register / renew / cancel / status override / metadata / adoption at a
//!      reload, the delta queue, `versions__delta`, the status counts; it tells every change
//!      to the `ChangeListener`s it was built with, under its write lock.
//! 3. Views derived from the core, and the tasks that drive it (each uses the core's methods
//!    only):
//!    - `dns`: [`DnsApp`] / [`DnsInstance`], the view the DNS answer path reads without
//!      waiting on a writer (rebuilt lazily from the application's generation).
//!    - `listing/`: the rendered listings: per-application chunks cached per format and group
//!      and invalidated by change events (`chunk`), the delta listing (`delta`), the body
//!      types (`body`).
//!    - `evict`: lease eviction and its background task.
//!    - `replication/`: the peers: client changes batched out, peers' changes applied.
//! 4. `handle`: [`EurekaRegistry`], the one handle the rest holds: the core, its views, eviction
//!    and replication put together.
//! 5. The edges: `http/` (routing, content negotiation, authentication, the error → status
//!    mapping), `dashboard` (the HTML page at `/`), and [`serve`] in this file.
//!
//! # Behaviour
//!
//! The REST API is served under both `/eureka/` (Spring Cloud) and `/eureka/v2/` (Netflix) and
//! follows Netflix's server: register answers 204, heartbeat 200 or 404 (unknown lease, status
//! resolving to UNKNOWN, or a newer `lastDirtyTimestamp`), reads are XML unless `Accept` contains
//! `json`, gzip when `Accept-Encoding` contains `gzip`. There is no response cache: every change
//! (register, cancel, status change, metadata, eviction) is visible to the next read and bumps
//! `versions__delta`. Listings show `leaseInfo` as of the moment their chunk was rendered; GET of
//! a single instance always shows the live lease.
//!
//! Leases expire `durationInSecs` (default 90) after the last renewal. Expired instances vanish
//! from the DNS view and from `GET /apps/{APP}/{ID}` at once, and are removed from the listings by
//! the eviction task, subject to self-preservation.
//!
//! # Corefile directive
//!
//! The DNS server's `eureka` directive builds an [`EurekaConfig`] from its block. Its syntax,
//! defaults and examples are written once, in the plugin's module doc
//! (`dns-server/src/plugin/eureka/mod.rs`). Each option sets the field of its name, except
//! `lease_duration` → `default_lease_secs`, `max_body` → `max_body_bytes`, `auth` →
//! [`EurekaAuth::basic_from_file`] or [`EurekaAuth::bearer_from_file`], `peers` → the
//! [`replication`] peers, and `ttl`, which only concerns DNS answers.
//! `expected_renewal_interval_secs` (30) has no directive option.

mod clock;
mod config;
mod dashboard;
mod decode;
mod delta_queue;
mod dns;
mod evict;
mod gzip;
mod handle;
mod http;
mod lease;
mod listing;
mod locks;
mod model;
mod par;
mod registry;
mod render;
mod renewals;
pub mod replication;
mod rules;
mod xml;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{EurekaAuth, EurekaConfig, EurekaError};
pub use dns::{DnsApp, DnsInstance};
pub use handle::EurekaRegistry;
pub use model::{ActionType, DataCenterInfo, InstanceInfo, Status};
pub use registry::{Origin, RegistryStats};

/// Runs the HTTP API and dashboard on `listener` until `shutdown` is cancelled; also runs the
/// eviction task and the delta-queue trimming. Binds nothing itself. The listener is shared: a
/// DNS server reloading its configuration hands the same socket to the next server, which
/// accepts on it while this one stops.
pub async fn serve(
    registry: EurekaRegistry,
    listener: std::sync::Arc<tokio::net::TcpListener>,
    shutdown: tokio_util::sync::CancellationToken,
) -> std::io::Result<()> {
    let maintenance_stop = shutdown.child_token();
    let maintenance = tokio::spawn(evict::run_maintenance(
        registry.core().clone(),
        maintenance_stop.clone(),
    ));
    let result = http::serve_http(registry, listener, shutdown).await;
    maintenance_stop.cancel();
    // The task only sleeps between ticks; it ends at once when cancelled.
    let _ = maintenance.await;
    result
}
