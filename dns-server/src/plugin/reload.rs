//! # reload
//!
//! Re-reads the Corefile while serving: every INTERVAL ± JITTER the running binary hashes the
//! Corefile's content (SHA512, as CoreDNS does; the content, never the mtime, because a
//! Kubernetes ConfigMap update swaps a symlink) and, when the hash changed, sets the new Corefile
//! up completely aside, waits for its sources to sync, and swaps it in without a gap in answering
//! (see [`crate::server::reload`]). A Corefile that does not parse or set up is logged with its
//! file:line and the running configuration keeps serving, unchanged; the same broken content is
//! not tried again, only a further change is. `SIGUSR1` reloads at once (as CoreDNS).
//!
//! ## Syntax
//! ```text
//! reload [INTERVAL] [JITTER]
//! ```
//! - `INTERVAL` (default `30s`, at least `2s`) and `JITTER` (default `15s`, at least `1s`) are
//!   CoreDNS's defaults and minimums; a JITTER above INTERVAL/2 is lowered to INTERVAL/2, as
//!   CoreDNS does. Each check waits a uniformly random time in INTERVAL ± JITTER.
//! - The directive configures the whole process, not the block: with `reload` in several blocks
//!   the first one (in Corefile order) sets the interval. A new Corefile without `reload` stops
//!   the watching (`SIGUSR1` still reloads).
//! - Only the Corefile's own text is hashed (as CoreDNS): an edit to an `import`ed file alone is
//!   not noticed until the Corefile changes or `SIGUSR1` arrives.
//! - Applies to `rollcall serve --corefile FILE`; the embedded example has no file to watch.
//! - Listen addresses the new Corefile keeps stay the same sockets, and `eureka`'s registrations
//!   carry over to the new configuration.
//!
//! ## Example
//! ```corefile
//! .:53 {
//!     reload 10s 5s
//!     kubernetes cluster.local
//! }
//! ```

use std::time::Duration;

use corefile::Directive;

use super::order::SetupResult;
use crate::setup::{SetupContext, SetupError, args};

const NAME: &str = "reload";

/// CoreDNS's defaults and lower bounds.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
pub const DEFAULT_JITTER: Duration = Duration::from_secs(15);
pub const MIN_INTERVAL: Duration = Duration::from_secs(2);
pub const MIN_JITTER: Duration = Duration::from_secs(1);

/// How often the Corefile is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReloadConfig {
    pub interval: Duration,
    /// At most `interval / 2`.
    pub jitter: Duration,
}

impl Default for ReloadConfig {
    fn default() -> Self {
        ReloadConfig {
            interval: DEFAULT_INTERVAL,
            jitter: DEFAULT_JITTER,
        }
    }
}

impl ReloadConfig {
    /// The wait before the next check: INTERVAL ± JITTER, `unit` uniform in `[0, 1)` (taken as an
    /// argument so tests can pin it).
    pub fn delay(&self, unit: f64) -> Duration {
        let unit = unit.clamp(0.0, 1.0);
        let low = self.interval.saturating_sub(self.jitter);
        low + (self.jitter * 2).mul_f64(unit)
    }
}

pub fn setup(ctx: &mut SetupContext<'_>, d: &Directive) -> SetupResult {
    args::no_block(d)?;
    let config = parse(d)?;
    *ctx.option_detail = Some(format!(
        "check the Corefile's SHA512 every {:?} ± {:?}{}",
        config.interval,
        config.jitter,
        if ctx.reload.is_some() {
            " (an earlier block's reload applies)"
        } else {
            ""
        }
    ));
    ctx.reload.get_or_insert(config);
    Ok(None)
}

fn parse(d: &Directive) -> Result<ReloadConfig, SetupError> {
    let mut config = ReloadConfig::default();
    match d.args.as_slice() {
        [] => {}
        [interval] => config.interval = interval_arg(interval)?,
        [interval, jitter] => {
            config.interval = interval_arg(interval)?;
            config.jitter = args::parse_duration(jitter, NAME)?;
            if config.jitter < MIN_JITTER {
                return Err(args::err(
                    jitter,
                    NAME,
                    format!(
                        "jitter must be at least {MIN_JITTER:?}, found {:?}",
                        jitter.text
                    ),
                ));
            }
        }
        [_, _, extra, ..] => {
            return Err(args::err(
                extra,
                NAME,
                format!(
                    "unexpected argument {:?} (reload [INTERVAL] [JITTER])",
                    extra.text
                ),
            ));
        }
    }
    config.jitter = config.jitter.min(config.interval / 2);
    Ok(config)
}

fn interval_arg(t: &corefile::Token) -> Result<Duration, SetupError> {
    let interval = args::parse_duration(t, NAME)?;
    if interval < MIN_INTERVAL {
        return Err(args::err(
            t,
            NAME,
            format!(
                "interval must be at least {MIN_INTERVAL:?}, found {:?}",
                t.text
            ),
        ));
    }
    Ok(interval)
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

    #[test]
    fn delay_stays_within_interval_plus_minus_jitter() {
        let c = ReloadConfig {
            interval: Duration::from_secs(30),
            jitter: Duration::from_secs(15),
        };
        assert_eq!(c.delay(0.0), Duration::from_secs(15));
        assert_eq!(c.delay(0.5), Duration::from_secs(30));
        assert!(c.delay(0.999_999) < Duration::from_secs(45));
        assert_eq!(c.delay(7.0), Duration::from_secs(45));
        let no_jitter = ReloadConfig {
            interval: Duration::from_secs(2),
            jitter: Duration::ZERO,
        };
        assert_eq!(no_jitter.delay(0.3), Duration::from_secs(2));
    }
}
