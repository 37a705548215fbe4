//! Reloading the Corefile while serving (the `reload` directive sets the interval, a
//! [`crate::contract::ReloadConfig`]; `SIGUSR1` forces a check). The mechanism is here: the
//! Corefile's hash and the reload decision.
//!
//! [`CorefileWatch::check`] hashes the file's content (SHA512). When it changed:
//! 1. the new Corefile is parsed and set up completely aside; an error is logged with its
//!    file:line and the running configuration keeps serving, untouched (that content is not
//!    tried again, only a further change is);
//! 2. [`super::Running::reload`] binds the listen addresses that are new, runs the new start
//!    hooks under a new generation token (sources, HTTP servers: a plugin's TCP listener whose
//!    configured address is unchanged is the same socket, accepted on by both configurations
//!    for a moment, see [`crate::contract::StartContext::tcp_listener`]), and waits until the new
//!    readiness checks pass (at most the longest `startup_timeout`), so a reload never answers
//!    SERVFAIL for cluster names and `/ready` keeps reporting the serving configuration;
//! 3. the swap: each kept DNS listener gets the new dispatcher (`ArcSwap`, read by the loops
//!    per packet), the new addresses start serving, `/ready` switches to the new checks; then
//!    the removed listeners and the old generation (kube watches, manifest watchers, Eureka,
//!    probe and metrics servers) are cancelled.
//!
//! Carried over: state a plugin hands on through [`crate::contract::StartContext::hand_over`]
//! (the Eureka registry's live registrations, with their overrides and lease times). Not
//! carried over: in-flight TCP connections on a removed address. A new address that overlaps a served one without being equal (say
//! `127.0.0.1:53` → `0.0.0.0:53`) fails to bind, and the reload is refused with that error.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::Running;
use crate::contract::{ReadinessCheck, ReloadConfig, not_ready};

/// Wait until every check passes, for at most `limit`, or until shutdown.
pub(crate) async fn wait_until_ready(
    checks: &[(String, ReadinessCheck)],
    limit: Duration,
    shutdown: &CancellationToken,
) {
    let deadline = Instant::now() + limit;
    loop {
        let waiting = not_ready(checks);
        if waiting.is_empty() {
            return;
        }
        if Instant::now() >= deadline {
            tracing::warn!(
                waiting = %waiting.join(", "),
                "reload: the new configuration's sources did not sync within startup_timeout; swapping it in anyway"
            );
            return;
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(20)) => {}
            () = shutdown.cancelled() => return,
        }
    }
}

/// Sleeps until the next check: INTERVAL ± JITTER, or forever without `reload`.
pub async fn tick(config: Option<ReloadConfig>) {
    match config {
        Some(config) => tokio::time::sleep(config.delay(rand::random::<f64>())).await,
        None => std::future::pending().await,
    }
}

/// The Corefile being served, by content hash.
pub struct CorefileWatch {
    path: PathBuf,
    default_port: u16,
    running: CorefileHash,
    failed: Option<CorefileHash>,
}

impl CorefileWatch {
    /// Hash the file as it is now; call before loading it, so an edit in between is seen as a
    /// change at the next check.
    pub fn new(path: &Path, default_port: u16) -> std::io::Result<Self> {
        Ok(CorefileWatch {
            path: path.to_path_buf(),
            default_port,
            running: CorefileHash::of(&std::fs::read(path)?),
            failed: None,
        })
    }

    /// One check (a tick, or `forced` by SIGUSR1): when the content changed, load it and swap it
    /// in. Everything that goes wrong is logged; the running configuration then stays.
    pub async fn check(&mut self, running: &mut Running, forced: bool) -> Decision {
        let bytes = match tokio::fs::read(&self.path).await {
            Ok(bytes) => bytes,
            Err(error) => {
                tracing::warn!(file = %self.path.display(), %error, "reload: cannot read the Corefile; still serving the previous one");
                return Decision::KnownBad;
            }
        };
        let now = CorefileHash::of(&bytes);
        let decision = decide(self.running, self.failed, now, forced);
        if decision != Decision::Reload {
            return decision;
        }
        let started = Instant::now();
        let (old, new) = (self.running.prefix(), now.prefix());
        tracing::info!(%old, %new, forced, "reload: the Corefile changed; setting it up");
        let setup = match crate::load_corefile(&self.path, self.default_port) {
            Ok(setup) => setup,
            Err(error) => {
                self.failed = Some(now);
                tracing::error!(%old, %new, "reload: the new Corefile is invalid; still serving the previous one:\n{error}");
                return Decision::KnownBad;
            }
        };
        match running.reload(setup).await {
            Ok(()) => {
                self.running = now;
                self.failed = None;
                tracing::info!(%old, %new, elapsed_ms = started.elapsed().as_millis(), "reload: now serving the new Corefile");
                Decision::Reload
            }
            Err(error) => {
                self.failed = Some(now);
                tracing::error!(%old, %new, %error, "reload: the new Corefile did not start; still serving the previous one");
                Decision::KnownBad
            }
        }
    }
}

/// SHA512 of a Corefile's bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct CorefileHash([u8; 64]);

impl CorefileHash {
    pub fn of(bytes: &[u8]) -> Self {
        let digest = ring::digest::digest(&ring::digest::SHA512, bytes);
        let mut out = [0u8; 64];
        out.copy_from_slice(digest.as_ref());
        CorefileHash(out)
    }

    /// The first 12 hex digits, for logs.
    pub fn prefix(&self) -> String {
        self.0[..6].iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl std::fmt::Debug for CorefileHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "sha512:{}…", self.prefix())
    }
}

/// What a check of the Corefile should do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Same content as the running configuration.
    Unchanged,
    /// Same content as the last attempt that failed: wait for another change.
    KnownBad,
    /// New content: set it up and swap it in.
    Reload,
}

/// `running`: the hash being served; `failed`: the last content that did not load; `forced`:
/// SIGUSR1 (reload whatever the hash says).
pub fn decide(
    running: CorefileHash,
    failed: Option<CorefileHash>,
    now: CorefileHash,
    forced: bool,
) -> Decision {
    if forced {
        Decision::Reload
    } else if now == running {
        Decision::Unchanged
    } else if failed == Some(now) {
        Decision::KnownBad
    } else {
        Decision::Reload
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha512_matches_a_known_vector() {
        // SHA512("abc"), FIPS 180-2 appendix C.1.
        let h = CorefileHash::of(b"abc");
        assert_eq!(h.prefix(), "ddaf35a19361");
        assert_ne!(
            CorefileHash::of(b".:53 {\n}\n"),
            CorefileHash::of(b".:53 {\n }\n")
        );
    }

    #[test]
    fn decisions() {
        let a = CorefileHash::of(b"a");
        let b = CorefileHash::of(b"b");
        let c = CorefileHash::of(b"c");
        assert_eq!(decide(a, None, a, false), Decision::Unchanged);
        assert_eq!(decide(a, None, b, false), Decision::Reload);
        assert_eq!(decide(a, Some(b), b, false), Decision::KnownBad);
        assert_eq!(decide(a, Some(b), c, false), Decision::Reload);
        // Back to the running content after a broken edit: nothing to do.
        assert_eq!(decide(a, Some(b), a, false), Decision::Unchanged);
        assert_eq!(decide(a, None, a, true), Decision::Reload);
        assert_eq!(decide(a, Some(b), b, true), Decision::Reload);
    }
}
