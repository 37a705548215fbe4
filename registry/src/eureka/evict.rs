//! Lease eviction and self-preservation, as Netflix's `AbstractInstanceRegistry.evict` and
//! `PeerAwareInstanceRegistryImpl` do them:
//!
//! - the renewals-per-minute threshold is `(int)(expectedClients × 60 / renewalInterval ×
//!   renewalPercentThreshold)`; expected clients start at 1 (like Spring Cloud), +1 per new
//!   lease, −1 per client cancel, and are re-derived from the registry size every 15 minutes;
//! - with self-preservation on, eviction runs only while the renewals of the last minute exceed
//!   the threshold;
//! - one run evicts at most `size − (int)(size × renewalPercentThreshold)` expired leases,
//!   chosen at random.

use std::sync::atomic::{AtomicU64, Ordering};

use rand::seq::SliceRandom;
use tokio_util::sync::CancellationToken;

use super::registry::{EurekaRegistry, lock, renews_threshold};

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

impl EurekaRegistry {
    /// Whether expired leases may be evicted now: always without self-preservation, else only
    /// while renewals in the last minute exceed the threshold.
    pub fn lease_expiration_enabled(&self) -> bool {
        if !self.inner.config.self_preservation {
            return true;
        }
        let threshold = lock(&self.inner.write).renews_threshold;
        threshold > 0 && self.inner.renewals.last_minute(self.now()) > threshold
    }

    /// One eviction run (the background task calls this every `eviction_interval`); returns how
    /// many leases were evicted.
    pub fn evict_expired(&self) -> usize {
        if !self.lease_expiration_enabled() {
            return 0;
        }
        let now = self.now();
        let mut expired = self.expired_slots(now);
        if expired.is_empty() {
            return 0;
        }
        let size = self.instance_count();
        let keep = (size as f64 * self.inner.config.renewal_percent_threshold) as usize;
        let limit = size.saturating_sub(keep);
        if expired.len() > limit {
            tracing::warn!(
                expired = expired.len(),
                limit,
                "evicting only part of the expired leases"
            );
            expired.shuffle(&mut rand::rng());
            expired.truncate(limit);
        }
        let mut evicted = 0;
        let mut w = lock(&self.inner.write);
        for (app, id, slot) in expired {
            // A heartbeat may have come in since the scan.
            if !slot.is_expired(now) {
                continue;
            }
            if self
                .cancel_locked(&mut w, &app, &id, now, false, Some(&slot))
                .is_ok()
            {
                tracing::info!(app = %app, id = %id, "evicted expired lease");
                evicted += 1;
            }
        }
        evicted
    }

    /// Netflix's 15-minute `updateRenewalThreshold`; `force` skips the interval check.
    pub(crate) fn update_renewal_threshold(&self, force: bool) {
        let now = self.now();
        let cfg = &self.inner.config;
        let count = self.instance_count() as u64;
        let mut w = lock(&self.inner.write);
        if !force && now.saturating_sub(w.last_threshold_update_ms) < THRESHOLD_UPDATE_INTERVAL_MS {
            return;
        }
        w.last_threshold_update_ms = now;
        if count as f64 > cfg.renewal_percent_threshold * w.expected_clients as f64
            || !cfg.self_preservation
        {
            w.expected_clients = count;
            w.renews_threshold = renews_threshold(cfg, count);
        }
    }

    /// What the background task does on each tick.
    pub(crate) fn maintenance_tick(&self) {
        self.update_renewal_threshold(false);
        self.evict_expired();
        let now = self.now();
        let mut w = lock(&self.inner.write);
        self.trim_delta(&mut w, now);
    }
}

/// The background task: every `eviction_interval`, evict, trim the delta queue and update the
/// renewal threshold when due; ends when `stop` is cancelled.
pub(crate) async fn run_maintenance(registry: EurekaRegistry, stop: CancellationToken) {
    let period = registry
        .config()
        .eviction_interval
        .max(std::time::Duration::from_millis(10));
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = ticker.tick() => {
                // The scan walks every lease: keep it off the workers that answer HTTP.
                let r = registry.clone();
                if let Err(error) = tokio::task::spawn_blocking(move || r.maintenance_tick()).await {
                    tracing::error!(%error, "eureka maintenance tick failed");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eureka::{EurekaConfig, InstanceInfo, ManualClock};
    use std::sync::Arc;
    use std::time::Duration;

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

    fn setup(self_preservation: bool, n: usize) -> (EurekaRegistry, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new(T0));
        let cfg = EurekaConfig {
            self_preservation,
            ..EurekaConfig::default()
        };
        let r = EurekaRegistry::with_clock(cfg, clock.clone());
        for i in 0..n {
            r.register(InstanceInfo::new(
                "APP",
                &format!("i{i}"),
                "h",
                "10.0.0.1",
                80,
            ))
            .unwrap();
        }
        (r, clock)
    }

    #[test]
    fn without_self_preservation_expired_leases_go() {
        let (r, clock) = setup(false, 10);
        clock.advance(Duration::from_secs(90));
        assert_eq!(r.evict_expired(), 0, "not expired at exactly the duration");
        clock.advance(Duration::from_millis(1));
        // At most 10 - (int)(10 * 0.85) = 2 per run.
        assert_eq!(r.evict_expired(), 2);
        assert_eq!(r.instance_count(), 8);
        // 8 - (int)6.8 = 2, then 6 - (int)5.1 = 1.
        assert_eq!(r.evict_expired(), 2);
        assert_eq!(r.evict_expired(), 1);
        assert_eq!(r.instance_count(), 5);
    }

    #[test]
    fn self_preservation_holds_leases_until_renewals_suffice() {
        let (r, clock) = setup(true, 10);
        // expected clients 1 + 10 → threshold (int)(11 × 2 × 0.85) = 18.
        assert_eq!(r.stats().renews_threshold, 18);
        clock.advance(Duration::from_secs(100));
        assert!(!r.lease_expiration_enabled());
        assert_eq!(r.evict_expired(), 0);
        assert!(r.stats().self_preservation_active());
        // Eight instances renew three times within a minute: 24 > 18.
        for _ in 0..3 {
            for i in 0..8 {
                r.renew("APP", &format!("i{i}"), None).unwrap();
            }
            clock.advance(Duration::from_secs(10));
        }
        assert!(r.lease_expiration_enabled());
        assert!(!r.stats().self_preservation_active());
        assert_eq!(r.evict_expired(), 2);
        assert_eq!(r.instance_count(), 8);
        // Evictions do not lower the expected client count; cancels do.
        assert_eq!(r.stats().expected_clients, 11);
        r.cancel("APP", "i0").unwrap();
        assert_eq!(r.stats().expected_clients, 10);
    }

    #[test]
    fn threshold_is_rederived() {
        let (r, _) = setup(true, 4);
        assert_eq!(r.stats().expected_clients, 5);
        r.update_renewal_threshold(true);
        // 4 > 0.85 × 5 is false: unchanged.
        assert_eq!(r.stats().expected_clients, 5);
        let (r, _) = setup(true, 6);
        assert_eq!(r.stats().expected_clients, 7);
        r.update_renewal_threshold(false);
        assert_eq!(r.stats().expected_clients, 7, "not due yet");
        r.update_renewal_threshold(true);
        // 6 > 0.85 × 7 → expected := 6, threshold (int)(6 × 2 × 0.85) = 10.
        assert_eq!(r.stats().expected_clients, 6);
        assert_eq!(r.stats().renews_threshold, 10);
    }

    #[tokio::test(start_paused = true)]
    async fn background_task_evicts() {
        let clock = Arc::new(ManualClock::new(T0));
        let cfg = EurekaConfig {
            self_preservation: false,
            eviction_interval: Duration::from_secs(60),
            ..EurekaConfig::default()
        };
        let r = EurekaRegistry::with_clock(cfg, clock.clone());
        for i in 0..20 {
            r.register(InstanceInfo::new(
                "APP",
                &format!("i{i}"),
                "h",
                "10.0.0.1",
                80,
            ))
            .unwrap();
        }
        let stop = CancellationToken::new();
        let task = tokio::spawn(run_maintenance(r.clone(), stop.clone()));
        clock.advance(Duration::from_secs(91));
        tokio::time::sleep(Duration::from_secs(59)).await;
        assert_eq!(r.instance_count(), 20);
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(r.instance_count(), 17, "20 - (int)17 = 3 evicted");
        stop.cancel();
        task.await.unwrap();
    }
}
