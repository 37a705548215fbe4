//! The `kubernetes` plugin's metrics (served by `prometheus`): sync state, how long ago the API
//! server last said anything about each watched kind (the staleness signal: a healthy watch
//! hears a bookmark at least every minute or so), events applied, watch restarts, and store
//! sizes. All read at scrape time from counters the source keeps anyway.

use std::sync::OnceLock;

use registry::source::kube::KubeSource;
use registry::store::Store;

use crate::metrics::{Exposition, MetricsSource};

pub struct KubernetesMetrics {
    /// The plugin's first zone: tells two `kubernetes` blocks apart.
    pub zone: String,
    pub store: Store,
    /// Set when the API source starts (never for `manifests`).
    pub source: OnceLock<KubeSource>,
}

impl MetricsSource for KubernetesMetrics {
    fn render(&self, out: &mut Exposition) {
        let zone = [("zone", self.zone.as_str())];
        out.gauge(
            "rollcall_kubernetes_synced",
            "1 once every watched kind (or the manifests directory) delivered its first complete list.",
            &zone,
            self.store.is_synced(),
        );
        out.gauge(
            "rollcall_store_services",
            "Services in the store.",
            &zone,
            self.store.service_count(),
        );
        out.gauge(
            "rollcall_store_pod_ips",
            "Pod IPs in the store (pods verified only).",
            &zone,
            self.store.pod_ip_count(),
        );
        let Some(source) = self.source.get() else {
            return;
        };
        for kind in source.kinds() {
            let labels = [("zone", self.zone.as_str()), ("kind", kind.as_str())];
            if let Some(age) = source.last_heard(*kind) {
                out.gauge(
                    "rollcall_kubernetes_last_event_age_seconds",
                    "Seconds since the API server last sent anything (list, watch event, bookmark) for this kind.",
                    &labels,
                    age.as_secs_f64(),
                );
            }
            out.counter(
                "rollcall_kubernetes_events_total",
                "Watch events applied to the store (a relist counts once).",
                &labels,
                source.events(*kind),
            );
            out.counter(
                "rollcall_kubernetes_watch_restarts_total",
                "Watches restarted after a silence or an expired resourceVersion.",
                &labels,
                source.restarts(*kind),
            );
        }
    }
}
