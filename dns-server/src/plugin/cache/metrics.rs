//! The `cache` plugin's metrics (served by `prometheus`) under CoreDNS's names, read at scrape
//! time from the counters the cache keeps anyway.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use super::CacheStats;
use crate::metrics::{Exposition, MetricsSource};

pub struct CacheMetrics {
    pub stats: Arc<CacheStats>,
    /// The `server` label (`dns://:53`).
    pub server: String,
    /// The `zones` label: the cache's zones, space-separated.
    pub zones: String,
}

impl MetricsSource for CacheMetrics {
    fn render(&self, out: &mut Exposition) {
        let s = &self.stats;
        let base = [
            ("server", self.server.as_str()),
            ("zones", self.zones.as_str()),
            ("view", ""),
        ];
        let typed = |kind: &'static str| {
            [
                ("server", self.server.as_str()),
                ("type", kind),
                ("zones", self.zones.as_str()),
                ("view", ""),
            ]
        };
        for (kind, entries, hits, evictions) in [
            (
                "success",
                &s.success_entries,
                &s.success_hits,
                &s.success_evictions,
            ),
            (
                "denial",
                &s.denial_entries,
                &s.denial_hits,
                &s.denial_evictions,
            ),
        ] {
            out.gauge(
                "coredns_cache_entries",
                "The number of elements in the cache.",
                &typed(kind),
                entries.load(Relaxed),
            );
            out.counter(
                "coredns_cache_hits_total",
                "The count of cache hits.",
                &typed(kind),
                hits.load(Relaxed),
            );
            out.counter(
                "coredns_cache_evictions_total",
                "The count of cache evictions.",
                &typed(kind),
                evictions.load(Relaxed),
            );
        }
        out.counter(
            "coredns_cache_requests_total",
            "The count of cache requests.",
            &base,
            s.requests.load(Relaxed),
        );
        out.counter(
            "coredns_cache_misses_total",
            "The count of cache misses.",
            &base,
            s.misses(),
        );
        out.counter(
            "coredns_cache_prefetch_total",
            "The number of times the cache has prefetched a cached item.",
            &base,
            s.prefetches.load(Relaxed),
        );
        out.counter(
            "coredns_cache_served_stale_total",
            "The number of requests served from stale cache entries.",
            &base,
            s.served_stale.load(Relaxed),
        );
        out.counter(
            "rollcall_cache_coalesced_total",
            "Misses answered by waiting for an identical query already asking the rest of the chain.",
            &base,
            s.coalesced.load(Relaxed),
        );
    }
}
