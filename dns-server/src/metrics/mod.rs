//! Metrics shared by every plugin: the [`Registry`] one `Setup` owns, the [`MetricsSource`]
//! trait plugins implement to add their own metrics, the per-query DNS counters ([`dns`]) and
//! the text exposition format ([`expo`]). The `prometheus` directive serves all of it on
//! `/metrics` (see [`crate::plugin::prometheus`]).
//!
//! # Adding a plugin's metrics
//! Keep the hot-path state as plain atomics in the plugin, write a source that reads them, and
//! register it from the directive's setup:
//! ```ignore
//! struct ForwardMetrics(Arc<ForwardStats>);
//! impl MetricsSource for ForwardMetrics {
//!     fn render(&self, out: &mut Exposition) {
//!         out.counter("coredns_forward_max_concurrent_rejects_total",
//!             "Counter of the number of queries rejected because the concurrent queries were at maximum.",
//!             &[], self.0.rejects.load(Ordering::Relaxed));
//!     }
//! }
//! // in setup(ctx, d):
//! ctx.metrics.register(Arc::new(ForwardMetrics(Arc::clone(&stats))));
//! ```
//! Sources are called only when `/metrics` is scraped, and only if some block has `prometheus`.
//! Two sources may write the same family (e.g. one per server block): [`expo::Exposition`]
//! keeps one header per family; their label sets must differ.

pub mod dns;
pub mod expo;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Once};

pub use dns::{Observation, ZoneMetrics};
pub use expo::Exposition;

/// Something that contributes samples to `/metrics`. Called at scrape time only.
pub trait MetricsSource: Send + Sync + 'static {
    fn render(&self, out: &mut Exposition);
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Every metric of one `Setup`: registered sources, the DNS counters of each route of each
/// block that has `prometheus`, and the addresses `/metrics` is served on. The mutexes are taken
/// at setup, at start and at scrape time, never by a query.
#[derive(Default)]
pub struct Registry {
    sources: Mutex<Vec<Arc<dyn MetricsSource>>>,
    zones: Mutex<Vec<Arc<ZoneMetrics>>>,
    /// (server, zone, plugin name) for `coredns_plugin_enabled`.
    enabled: Mutex<BTreeSet<(String, String, String)>>,
    listeners: Mutex<BTreeSet<SocketAddr>>,
    /// Keys of sources registered with [`Registry::register_once`].
    once: Mutex<BTreeSet<&'static str>>,
}

impl Registry {
    pub fn new() -> Self {
        Registry::default()
    }

    /// Add a plugin's metrics (from a directive's setup; see the module doc).
    pub fn register(&self, source: Arc<dyn MetricsSource>) {
        lock(&self.sources).push(source);
    }

    /// Add a process-wide source (a counter without a `server` label, like CoreDNS's
    /// `coredns_local_localhost_requests_total`) the first time `key` is asked for; later blocks
    /// with the same plugin share it instead of writing a second, identical sample.
    pub fn register_once(
        &self,
        key: &'static str,
        source: impl FnOnce() -> Arc<dyn MetricsSource>,
    ) {
        if lock(&self.once).insert(key) {
            self.register(source());
        }
    }

    /// Record that `/metrics` is served on `addr`; false if some block already asked for it
    /// (blocks share one listener per address, as CoreDNS does).
    pub fn add_listener(&self, addr: SocketAddr) -> bool {
        lock(&self.listeners).insert(addr)
    }

    /// The counters for one (server, zone) label set, created once and shared by every
    /// dispatcher routing there. `chain` is the block's plugin names (the `plugin` label
    /// values), `directives` every directive of the block (for `coredns_plugin_enabled`).
    pub fn zone(
        &self,
        server: &str,
        zone: &str,
        chain: &[&'static str],
        directives: &[String],
    ) -> Arc<ZoneMetrics> {
        {
            let mut enabled = lock(&self.enabled);
            for d in directives {
                enabled.insert((server.to_string(), zone.to_string(), d.clone()));
            }
        }
        let mut zones = lock(&self.zones);
        if let Some(z) = zones.iter().find(|z| z.server == server && z.zone == zone) {
            return Arc::clone(z);
        }
        let z = Arc::new(ZoneMetrics::new(
            server.to_string(),
            zone.to_string(),
            chain,
        ));
        zones.push(Arc::clone(&z));
        z
    }

    /// The whole `/metrics` body.
    pub fn render(&self) -> String {
        let mut e = Exposition::new();
        e.gauge(
            "coredns_build_info",
            "A metric with a constant '1' value labeled by version, revision, and goversion from which CoreDNS was built.",
            &[
                ("version", env!("CARGO_PKG_VERSION")),
                ("revision", option_env!("ROLLCALL_REVISION").unwrap_or("unknown")),
                ("goversion", option_env!("ROLLCALL_RUSTC").unwrap_or("rust")),
            ],
            1u64,
        );
        e.counter(
            "coredns_panics_total",
            "A metrics that counts the number of panics.",
            &[],
            PANICS.load(Ordering::Relaxed),
        );
        for (server, zone, name) in lock(&self.enabled).iter() {
            e.gauge(
                "coredns_plugin_enabled",
                "A metric that indicates whether a plugin is enabled on per server and zone basis.",
                &[
                    ("server", server),
                    ("zone", zone),
                    ("view", ""),
                    ("name", name),
                ],
                1u64,
            );
        }
        let mut zones: Vec<Arc<ZoneMetrics>> = lock(&self.zones).clone();
        zones.sort_by(|a, b| (&a.server, &a.zone).cmp(&(&b.server, &b.zone)));
        for z in &zones {
            z.render(&mut e);
        }
        let sources: Vec<Arc<dyn MetricsSource>> = lock(&self.sources).clone();
        for s in &sources {
            s.render(&mut e);
        }
        e.finish()
    }
}

/// The `server` label CoreDNS gives a listen address: `dns://:53`, or `dns://10.0.0.10:53`
/// under `bind`.
pub fn server_label(addr: SocketAddr) -> String {
    if addr.ip().is_unspecified() {
        format!("dns://:{}", addr.port())
    } else {
        format!("dns://{addr}")
    }
}

static PANICS: AtomicU64 = AtomicU64::new(0);

/// Count panics for `coredns_panics_total` (the previous hook still runs). Idempotent.
pub fn count_panics() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.fetch_add(1, Ordering::Relaxed);
            previous(info);
        }));
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(&'static str);
    impl MetricsSource for Fixed {
        fn render(&self, out: &mut Exposition) {
            out.gauge("plugin_things", "Things.", &[("block", self.0)], 2u64);
        }
    }

    #[test]
    fn sources_share_families_and_zones_are_created_once() {
        let r = Registry::new();
        r.register(Arc::new(Fixed("a")));
        r.register(Arc::new(Fixed("b")));
        let z1 = r.zone("dns://:53", ".", &["kubernetes"], &["prometheus".into()]);
        let z2 = r.zone("dns://:53", ".", &["kubernetes"], &["prometheus".into()]);
        assert!(Arc::ptr_eq(&z1, &z2));
        let text = r.render();
        assert_eq!(text.matches("# TYPE plugin_things gauge").count(), 1);
        assert!(text.contains("plugin_things{block=\"a\"} 2\nplugin_things{block=\"b\"} 2\n"));
        assert!(text.contains(
            "coredns_plugin_enabled{server=\"dns://:53\",zone=\".\",view=\"\",name=\"prometheus\"} 1"
        ));
        assert!(text.starts_with("# HELP coredns_build_info"));
        assert!(r.add_listener("127.0.0.1:9153".parse().unwrap()));
        assert!(!r.add_listener("127.0.0.1:9153".parse().unwrap()));
    }

    #[test]
    fn server_labels_follow_coredns() {
        assert_eq!(server_label("0.0.0.0:53".parse().unwrap()), "dns://:53");
        assert_eq!(server_label("[::]:53".parse().unwrap()), "dns://:53");
        assert_eq!(
            server_label("10.0.0.10:53".parse().unwrap()),
            "dns://10.0.0.10:53"
        );
    }
}
