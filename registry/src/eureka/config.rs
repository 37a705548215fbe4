//! The registry's configuration, and the credentials its HTTP API checks (read from files at
//! setup; a bad file is an [`EurekaError`]).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Configuration of the Eureka registry and its HTTP API.
#[derive(Clone, Debug)]
pub struct EurekaConfig {
    /// Where the binary binds the HTTP API (default 127.0.0.1:8761).
    /// [`serve`](crate::eureka::serve) binds nothing.
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
