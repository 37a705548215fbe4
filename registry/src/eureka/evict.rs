//! Lease eviction, as Netflix's `AbstractInstanceRegistry.evict` does it, on the registry's
//! methods only (the self-preservation numbers are `renewals.rs`):
//!
//! - with self-preservation on, eviction runs only while the renewals of the last minute exceed
//!   the threshold;
//! - one run evicts at most `size − (int)(size × renewalPercentThreshold)` expired leases,
//!   chosen at random.
//!
//! The background task also trims the delta queue and re-derives the renewal threshold.

use rand::seq::SliceRandom;
use tokio_util::sync::CancellationToken;

use super::registry::Registry;

/// Whether expired leases may be evicted now: always without self-preservation, else only
/// while renewals in the last minute exceed the threshold.
pub(crate) fn lease_expiration_enabled(registry: &Registry) -> bool {
    registry
        .renewal_state()
        .expiration_enabled(registry.config(), registry.renewals_last_minute())
}

/// One eviction run (the background task calls this every `eviction_interval`); returns how
/// many leases were evicted.
pub(crate) fn evict_expired(registry: &Registry) -> usize {
    if !lease_expiration_enabled(registry) {
        return 0;
    }
    let now = registry.now();
    let mut expired = registry.expired_leases(now);
    if expired.is_empty() {
        return 0;
    }
    let size = registry.instance_count();
    let keep = (size as f64 * registry.config().renewal_percent_threshold) as usize;
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
    let evicted = registry.evict(expired, now);
    for (app, id) in &evicted {
        tracing::info!(app = %app, id = %id, "evicted expired lease");
    }
    evicted.len()
}

/// Netflix's 15-minute `updateRenewalThreshold`; `force` skips the interval check.
pub(crate) fn update_renewal_threshold(registry: &Registry, force: bool) {
    let now = registry.now();
    let count = registry.instance_count() as u64;
    let cfg = registry.config();
    registry.update_renewal_state(|state| state.rederive(cfg, count, now, force));
}

/// What the background task does on each tick.
fn maintenance_tick(registry: &Registry) {
    update_renewal_threshold(registry, false);
    evict_expired(registry);
    registry.trim_delta_queue();
}

/// The background task: every `eviction_interval`, evict, trim the delta queue and update the
/// renewal threshold when due; ends when `stop` is cancelled.
pub(crate) async fn run_maintenance(registry: Registry, stop: CancellationToken) {
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
                if let Err(error) = tokio::task::spawn_blocking(move || maintenance_tick(&r)).await {
                    tracing::error!(%error, "eureka maintenance tick failed");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eureka::{EurekaConfig, EurekaRegistry, InstanceInfo, ManualClock};
    use std::sync::Arc;
    use std::time::Duration;

    const T0: u64 = 1_700_000_000_000;

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
        update_renewal_threshold(r.core(), true);
        // 4 > 0.85 × 5 is false: unchanged.
        assert_eq!(r.stats().expected_clients, 5);
        let (r, _) = setup(true, 6);
        assert_eq!(r.stats().expected_clients, 7);
        update_renewal_threshold(r.core(), false);
        assert_eq!(r.stats().expected_clients, 7, "not due yet");
        update_renewal_threshold(r.core(), true);
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
        let task = tokio::spawn(run_maintenance(r.core().clone(), stop.clone()));
        clock.advance(Duration::from_secs(91));
        tokio::time::sleep(Duration::from_secs(59)).await;
        assert_eq!(r.instance_count(), 20);
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(r.instance_count(), 17, "20 - (int)17 = 3 evicted");
        stop.cancel();
        task.await.unwrap();
    }
}
