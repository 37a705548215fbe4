//! The `forward` plugin's metrics (served by `prometheus`), read at scrape time from the
//! counters the plugin keeps anyway. Names follow CoreDNS's `forward` where it has one.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use super::ForwardStats;
use crate::metrics::dns::{rcode_index, rcode_label};
use crate::metrics::{Exposition, MetricsSource};

pub struct ForwardMetrics {
    pub stats: Arc<ForwardStats>,
    pub max_fails: u32,
}

impl MetricsSource for ForwardMetrics {
    fn render(&self, out: &mut Exposition) {
        let stats = &self.stats;
        let from = [("from", stats.from.as_str())];
        out.counter(
            "coredns_forward_max_concurrent_rejects_total",
            "Queries refused because max_concurrent queries were already in flight.",
            &from,
            stats.max_concurrent_rejects.load(Relaxed),
        );
        out.counter(
            "coredns_forward_healthcheck_broken_total",
            "Queries that found every upstream down.",
            &from,
            stats.healthcheck_broken.load(Relaxed),
        );
        out.gauge(
            "rollcall_forward_in_flight",
            "Queries waiting on an upstream now.",
            &from,
            u64::from(stats.in_flight.load(Relaxed)),
        );
        for upstream in &stats.upstreams {
            let to = upstream.addr.to_string();
            let labels = [("from", stats.from.as_str()), ("to", to.as_str())];
            out.counter(
                "coredns_forward_requests_total",
                "Queries sent to the upstream.",
                &labels,
                upstream.requests.load(Relaxed),
            );
            for (code, count) in upstream.rcodes.iter().enumerate() {
                let count = count.load(Relaxed);
                if count == 0 {
                    continue;
                }
                let rcode = u16::try_from(code).map_or("", |c| rcode_label(rcode_index(c)));
                out.counter(
                    "coredns_forward_responses_total",
                    "Replies from the upstream, by RCODE.",
                    &[
                        ("from", stats.from.as_str()),
                        ("to", to.as_str()),
                        ("rcode", rcode),
                    ],
                    count,
                );
            }
            out.counter(
                "rollcall_forward_failures_total",
                "Exchanges with the upstream that ended without a reply (timeout or error).",
                &labels,
                upstream.failures.load(Relaxed),
            );
            out.counter(
                "coredns_forward_healthcheck_failures_total",
                "Health-check probes of the upstream that failed.",
                &labels,
                upstream.healthcheck_failures.load(Relaxed),
            );
            out.counter(
                "rollcall_forward_request_duration_seconds_total",
                "Time spent waiting for the upstream's replies (divide by the responses for the mean).",
                &labels,
                upstream.duration_micros_total.load(Relaxed) as f64 / 1e6,
            );
            let down = self.max_fails > 0 && upstream.fails.load(Relaxed) >= self.max_fails;
            out.gauge(
                "rollcall_forward_upstream_down",
                "1 while the upstream is marked down (max_fails consecutive failures).",
                &labels,
                down,
            );
        }
    }
}
