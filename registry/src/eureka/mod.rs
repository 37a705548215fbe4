//! The Eureka-compatible service registry: leases, the Netflix Eureka REST API, a dashboard, and
//! the per-application view that the DNS `eureka` plugin answers from.
//!
//! # Module layout
//!
//! - [`config`](EurekaConfig) (this file): configuration, authentication, errors and [`serve`].
//! - `clock`: the time source ([`Clock`], [`SystemClock`], [`ManualClock`] for tests).
//! - `model`: [`InstanceInfo`] and friends, as the registry keeps them.
//! - `decode`: lenient reading of a registration body (JSON or XML) into an [`InstanceInfo`].
//! - `xml`: a small XML reader (quick-xml into a tree) and XML escaping for the writers.
//! - `render`: the exact JSON and XML output shapes (instances, applications, status).
//! - `gzip`: gzip output, including stitching pre-compressed chunks into one gzip stream.
//! - `par`: spreading the rendering and compression of big listings over the cores.
//! - `rules`: Netflix's instance-status override rules.
//! - `registry`: [`EurekaRegistry`]: register / renew / cancel / status override / metadata,
//!   the delta queue, `apps__hashcode`, `versions__delta`, per-application render chunks.
//! - `evict`: lease eviction, self-preservation and the renewals-per-minute meter.
//! - `dns`: [`DnsApp`] / [`DnsInstance`], the lock-free view used by the DNS answer path.
//! - `http`: routing, content negotiation, authentication and the error → status mapping.
//! - `dashboard`: the HTML dashboard served at `/`.
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
mod dashboard;
mod decode;
mod dns;
mod evict;
mod gzip;
mod http;
mod model;
mod par;
mod registry;
mod render;
pub mod replication;
mod rules;
mod xml;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use clock::{Clock, ManualClock, SystemClock};
pub use dns::{DnsApp, DnsInstance};
pub use model::{ActionType, DataCenterInfo, InstanceInfo, Status};
pub use registry::{EurekaRegistry, Origin, RegistryStats};

/// Configuration of the Eureka registry and its HTTP API.
#[derive(Clone, Debug)]
pub struct EurekaConfig {
    /// Where the binary binds the HTTP API (default 127.0.0.1:8761). [`serve`] binds nothing.
    pub listen: SocketAddr,
    /// Lease duration when a registration carries no positive `leaseInfo.durationInSecs`.
    pub default_lease_secs: u32,
    /// How often expired leases are evicted.
    pub eviction_interval: Duration,
    /// Whether self-preservation may suspend eviction when too few renewals arrive.
    pub self_preservation: bool,
    /// Fraction of the expected renewals per minute below which eviction stops (0.85).
    pub renewal_percent_threshold: f64,
    /// The clients' renewal interval the expected renewal rate is derived from (30 s).
    pub expected_renewal_interval_secs: u32,
    /// How long changes stay in the delta queue (`/apps/delta`).
    pub delta_retention: Duration,
    /// Largest accepted request body (after gzip decoding); larger ones get 413.
    pub max_body_bytes: usize,
    /// Most instances one application may hold; registering more gets 403.
    pub max_instances_per_app: usize,
    /// Most applications the registry may hold; registering more gets 403.
    pub max_apps: usize,
    /// Credentials required for writes (and reads when `auth_reads`); `None` = open.
    pub auth: Option<EurekaAuth>,
    /// Whether reads (GET, and the dashboard) need credentials too.
    pub auth_reads: bool,
}

impl Default for EurekaConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8761)),
            default_lease_secs: 90,
            eviction_interval: Duration::from_secs(60),
            self_preservation: true,
            renewal_percent_threshold: 0.85,
            expected_renewal_interval_secs: 30,
            delta_retention: Duration::from_secs(180),
            max_body_bytes: 64 * 1024,
            max_instances_per_app: 100_000,
            max_apps: 100_000,
            auth: None,
            auth_reads: false,
        }
    }
}

/// How requests authenticate.
#[derive(Clone)]
pub enum EurekaAuth {
    /// HTTP basic authentication against `user → password`.
    Basic {
        /// Accepted users and their passwords.
        users: HashMap<String, String>,
        /// The file's first `user:password`: what this server presents to its peers.
        first: String,
    },
    /// `Authorization: Bearer <token>` with one of these tokens.
    Bearer {
        /// Accepted tokens.
        tokens: Vec<String>,
    },
}

impl std::fmt::Debug for EurekaAuth {
    // Never print secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Basic { users, .. } => f
                .debug_struct("Basic")
                .field("users", &users.len())
                .finish(),
            Self::Bearer { tokens } => f
                .debug_struct("Bearer")
                .field("tokens", &tokens.len())
                .finish(),
        }
    }
}

impl EurekaAuth {
    /// Reads a password file: one `user:password` a line (the password may contain `:`); blank
    /// lines and lines starting with `#` are skipped.
    pub fn basic_from_file(path: &Path) -> Result<Self, EurekaError> {
        let text = read_secret_file(path)?;
        let mut users = HashMap::new();
        let mut first = None;
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((user, password)) = line.split_once(':') else {
                return Err(EurekaError::AuthFile {
                    path: path.to_path_buf(),
                    message: format!("line {}: expected `user:password`", n + 1),
                });
            };
            if user.is_empty() {
                return Err(EurekaError::AuthFile {
                    path: path.to_path_buf(),
                    message: format!("line {}: empty user name", n + 1),
                });
            }
            first.get_or_insert_with(|| line.to_string());
            users.insert(user.to_string(), password.to_string());
        }
        let Some(first) = first else {
            return Err(EurekaError::AuthFile {
                path: path.to_path_buf(),
                message: "no `user:password` line".to_string(),
            });
        };
        Ok(Self::Basic { users, first })
    }

    /// Reads a token file: one bearer token a line; blank lines and `#` comments are skipped.
    pub fn bearer_from_file(path: &Path) -> Result<Self, EurekaError> {
        let text = read_secret_file(path)?;
        let tokens: Vec<String> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_string)
            .collect();
        if tokens.is_empty() {
            return Err(EurekaError::AuthFile {
                path: path.to_path_buf(),
                message: "no token".to_string(),
            });
        }
        Ok(Self::Bearer { tokens })
    }
}

impl EurekaAuth {
    /// The `Authorization` value this server sends to its peers: the first credential of its
    /// own file (the replicas of one registry share their secrets).
    pub fn peer_authorization(&self) -> String {
        use base64::Engine as _;
        match self {
            Self::Basic { first, .. } => format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(first)
            ),
            Self::Bearer { tokens } => {
                format!("Bearer {}", tokens.first().map_or("", String::as_str))
            }
        }
    }
}

fn read_secret_file(path: &Path) -> Result<String, EurekaError> {
    std::fs::read_to_string(path).map_err(|source| EurekaError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Errors of the Eureka module's setup (request errors are HTTP statuses, never these).
#[derive(Debug, thiserror::Error)]
pub enum EurekaError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A password or token file is malformed.
    #[error("bad credentials file {path}: {message}")]
    AuthFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

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
        registry.clone(),
        maintenance_stop.clone(),
    ));
    let result = http::serve_http(registry, listener, shutdown).await;
    maintenance_stop.cancel();
    // The task only sleeps between ticks; it ends at once when cancelled.
    let _ = maintenance.await;
    result
}
