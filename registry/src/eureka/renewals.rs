//! The self-preservation numbers, as Netflix's `PeerAwareInstanceRegistryImpl` keeps them: the
//! renewals counted over the last minute ([`RenewalMeter`], lock-free, updated by every
//! heartbeat) and the expected renewal rate ([`RenewalState`], changed under the registry's
//! write lock):
//!
//! - the renewals-per-minute threshold is `(int)(expectedClients × 60 / renewalInterval ×
//!   renewalPercentThreshold)`; expected clients start at 1 (like Spring Cloud), +1 per new
//!   lease, −1 per client cancel, and are re-derived from the registry size every 15 minutes;
//! - with self-preservation on, expired leases are evicted only while the renewals of the last
//!   minute exceed the threshold.

use std::sync::atomic::{AtomicU64, Ordering};

use super::config::EurekaConfig;

const THRESHOLD_UPDATE_INTERVAL_MS: u64 = 15 * 60 * 1000;

/// Renewals counted per clock second over the last 60 seconds, without locks: each bucket packs
/// `second << 32 | count` into one atomic.
pub(crate) struct RenewalMeter {
    buckets: [AtomicU64; 60],
}

impl Default for RenewalMeter {
    fn default() -> Self {
        Self {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl RenewalMeter {
    pub(crate) fn record(&self, now_ms: u64) {
        let sec = (now_ms / 1000) & 0xffff_ffff;
        let bucket = &self.buckets[(sec % 60) as usize];
        let mut cur = bucket.load(Ordering::Relaxed);
        loop {
            let next = if cur >> 32 == sec {
                cur.wrapping_add(1)
            } else {
                (sec << 32) | 1
            };
            match bucket.compare_exchange_weak(cur, next, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return,
                Err(actual) => cur = actual,
            }
        }
    }

    /// Renewals in the 60 seconds up to `now_ms`.
    pub(crate) fn last_minute(&self, now_ms: u64) -> u64 {
        let sec = (now_ms / 1000) & 0xffff_ffff;
        self.buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .filter(|v| {
                let s = v >> 32;
                s <= sec && sec - s < 60
            })
            .map(|v| v & 0xffff_ffff)
            .sum()
    }
}

/// The expected renewal rate and its threshold.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RenewalState {
    pub(crate) expected_clients: u64,
    pub(crate) renews_threshold: u64,
    last_update_ms: u64,
}

impl RenewalState {
    pub(crate) fn new(cfg: &EurekaConfig, now_ms: u64) -> Self {
        // Like Spring Cloud's server, which opens for traffic expecting one client.
        let expected_clients = 1;
        Self {
            expected_clients,
            renews_threshold: renews_threshold(cfg, expected_clients),
            last_update_ms: now_ms,
        }
    }

    /// A new lease.
    pub(crate) fn client_added(&mut self, cfg: &EurekaConfig) {
        if self.expected_clients > 0 {
            self.expected_clients += 1;
            self.renews_threshold = renews_threshold(cfg, self.expected_clients);
        }
    }

    /// A client cancelled its lease (evictions do not count).
    pub(crate) fn client_cancelled(&mut self, cfg: &EurekaConfig) {
        if self.expected_clients > 0 {
            self.expected_clients -= 1;
            self.renews_threshold = renews_threshold(cfg, self.expected_clients);
        }
    }

    /// Netflix's 15-minute `updateRenewalThreshold` for a registry of `count` leases; `force`
    /// skips the interval check.
    pub(crate) fn rederive(&mut self, cfg: &EurekaConfig, count: u64, now_ms: u64, force: bool) {
        if !force && now_ms.saturating_sub(self.last_update_ms) < THRESHOLD_UPDATE_INTERVAL_MS {
            return;
        }
        self.last_update_ms = now_ms;
        if count as f64 > cfg.renewal_percent_threshold * self.expected_clients as f64
            || !cfg.self_preservation
        {
            self.expected_clients = count;
            self.renews_threshold = renews_threshold(cfg, count);
        }
    }

    /// Whether expired leases may be evicted with `renews_last_min` renewals in the last minute:
    /// always without self-preservation, else only above the threshold.
    pub(crate) fn expiration_enabled(&self, cfg: &EurekaConfig, renews_last_min: u64) -> bool {
        !cfg.self_preservation
            || (self.renews_threshold > 0 && renews_last_min > self.renews_threshold)
    }
}

/// Netflix's `numberOfRenewsPerMinThreshold`.
pub(crate) fn renews_threshold(cfg: &EurekaConfig, expected_clients: u64) -> u64 {
    let interval = f64::from(cfg.expected_renewal_interval_secs.max(1));
    let v = expected_clients as f64 * (60.0 / interval) * cfg.renewal_percent_threshold;
    if v.is_finite() && v > 0.0 {
        v as u64
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_700_000_000_000;

    #[test]
    fn meter_counts_the_last_minute() {
        let m = RenewalMeter::default();
        m.record(T0);
        m.record(T0 + 500);
        m.record(T0 + 30_000);
        assert_eq!(m.last_minute(T0 + 30_000), 3);
        assert_eq!(m.last_minute(T0 + 59_999), 3);
        assert_eq!(m.last_minute(T0 + 60_000), 1);
        assert_eq!(m.last_minute(T0 + 90_000), 0);
        // A bucket reused a minute later starts from zero.
        m.record(T0 + 60_000);
        assert_eq!(m.last_minute(T0 + 60_000), 2);
    }

    #[test]
    fn threshold_formula() {
        let cfg = EurekaConfig::default();
        assert_eq!(renews_threshold(&cfg, 1), 1);
        assert_eq!(renews_threshold(&cfg, 11), 18);
        assert_eq!(renews_threshold(&cfg, 0), 0);
    }
}
