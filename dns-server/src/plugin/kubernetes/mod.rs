//! # kubernetes
//!
//! Answers the cluster zone from rollcall's store, as the Kubernetes DNS-Based Service Discovery
//! specification 1.1.0 says, and as CoreDNS's `kubernetes` plugin does where the spec is silent
//! (see `../shared/reference/kubernetes-dns.md`): Service A/AAAA (ClusterIP, dual-stack, or one
//! record per ready endpoint when headless), endpoint names, SRV for ports, PTR for ClusterIPs
//! and ready endpoints, ExternalName CNAMEs (targets chased), pod records, `dns-version`,
//! SOA and NS at the apex, and NXDOMAIN versus NODATA exactly as the reference lists them.
//! Until every source has synced, names in its zones get SERVFAIL (with the zone's SOA in the
//! authority section, as CoreDNS answers), never NXDOMAIN. `ns.dns.<zone>` A/AAAA, the name in
//! the SOA, answers the DNS Service's address: the `kube-dns` Service's ClusterIPs, or the
//! server's own addresses when the cluster has none.
//!
//! ## ExternalName
//! Every type is answered with the CNAME to `spec.externalName` (RFC 1034 §3.6.2). An in-zone
//! target is chased from the store (at most 10 hops, then SERVFAIL), its rcode and SOA ending
//! the reply (RFC 6604). For A/AAAA of a target outside this plugin's zones, as CoreDNS does,
//! the target is asked of the rest of the chain after `kubernetes` (`forward`, and any plugin
//! after it) and its answer records follow the CNAME in the same reply, so a client needs no
//! second round trip; when the target cannot be resolved (a failure, or any rcode but NOERROR)
//! the reply is the CNAME alone. TC is set exactly when the whole chain does not fit the
//! client's size (or the upstream's own answer was truncated).
//! - Unlike CoreDNS, which asks its whole server again, the plugins before `kubernetes` are not
//!   run for the target: the query is not logged or counted twice, `acl`/`rewrite` do not apply
//!   to a name the client did not ask, and the chase cannot come back into `kubernetes`, so it
//!   cannot loop (one external hop per query). The cost: a `cache` before `kubernetes` does not
//!   hold the target's records on their own; the whole reply is cached under the Service's
//!   name where that cache keeps `kubernetes` answers (kubeadm's Corefile disables it for
//!   `cluster.local`, so an edited `externalName` answers its new chain at once). With a
//!   forward to a caching node-local resolver the extra cost is one round trip to it.
//!
//! ## Syntax
//! ```text
//! kubernetes [ZONES...] {
//!     endpoint URL
//!     tls CERT KEY CACERT
//!     kubeconfig KUBECONFIG [CONTEXT]
//!     startup_timeout DURATION
//!     apiserver_qps QPS
//!     apiserver_burst BURST
//!     manifests DIR
//!     pods disabled|insecure|verified
//!     endpoint_pod_names
//!     ttl SECONDS
//!     namespaces NAMESPACE...
//!     labels SELECTOR
//!     noendpoints
//!     fallthrough [ZONES...]
//!     ignore empty_service
//! }
//! ```
//! - `ZONES` default to the server block's zones; a CIDR (`10.96.0.0/12`) stands for its reverse zones.
//! - The source is the Kubernetes API unless `manifests` is given. With no connection option,
//!   rollcall uses the pod's service account, as CoreDNS does (`KUBERNETES_SERVICE_HOST`/`_PORT`,
//!   the token and CA under `/var/run/secrets/kubernetes.io/serviceaccount/`).
//!   - `endpoint URL`: a remote API server (`https://HOST[:PORT]`, or `http://`);
//!     `tls CERT KEY CACERT`: the client certificate and key to present there, and the CA that
//!     signed the server's (only with `endpoint`).
//!   - `kubeconfig KUBECONFIG [CONTEXT]`: connect as a kubeconfig file says (its current context,
//!     or CONTEXT); its server address wins over `endpoint`.
//!   - `startup_timeout DURATION` (default `5s`): until every watch has listed once, names in
//!     these zones get SERVFAIL with the zone's SOA (never NXDOMAIN); after DURATION rollcall
//!     serves what it has and logs a warning.
//!   - `apiserver_qps QPS`, `apiserver_burst BURST` (default 10): a client-side rate limit on
//!     list and watch requests (none by default); `apiserver_burst` only with `apiserver_qps`.
//!   - Files named here (kubeconfig, TLS) are read when serving starts, not by `rollcall check`;
//!     relative paths are relative to the Corefile's directory.
//!   - Watched: Namespaces, Services, EndpointSlices (not with `noendpoints`), and Pods only with
//!     `pods verified`. Through API outages the last synced state keeps answering; reconnects back
//!     off from 100 ms to 2 s, a 410 Gone relists and swaps the new state in whole, and a watch
//!     silent for 5 minutes (not even a bookmark) is restarted.
//!   - These options cannot be combined with `manifests`.
//! - `manifests DIR`: serve the Kubernetes YAML/JSON manifests (Namespace, Service, EndpointSlice,
//!   Endpoints, Pod; multi-document and `kind: List`) under DIR, watched: edits are answered within
//!   a second, and an invalid document is logged and skipped without losing what was served.
//! - `pods`: `dashed-ip.<ns>.pod.<zone>` records: `disabled` (default) NXDOMAIN; `insecure` answer
//!   any well-formed IP in an existing namespace; `verified` only when a pod in that namespace has
//!   the IP (every `status.podIPs` address counts, both families).
//! - `endpoint_pod_names`: name endpoints without a hostname by their pod's name (if under 64
//!   characters) instead of their dashed IP.
//! - `ttl`: TTL of answers, 0–3600, default 5; also the SOA minimum.
//! - `namespaces`: only these namespaces exist; `labels`: only Services and EndpointSlices whose
//!   labels match the selector (`environment in (staging, qa),application=nginx`).
//! - `noendpoints`: no endpoint data: headless Services and endpoint names answer NXDOMAIN.
//! - `fallthrough [ZONES]`: an NXDOMAIN in these zones (all when none given) goes to the next
//!   plugin instead.
//! - `ignore empty_service`: a ClusterIP Service with no ready endpoint answers NXDOMAIN, so a
//!   client's search path moves on.
//! - Not implemented yet (refused): `namespace_labels`, `multicluster`, `zonal`,
//!   `apiserver_max_inflight`. Refused as removed from CoreDNS: `resyncperiod`, `upstream`,
//!   `transfer`.
//!
//! ## Examples
//! In a cluster (the kubeadm default):
//! ```corefile
//! .:53 {
//!     kubernetes cluster.local in-addr.arpa ip6.arpa {
//!         pods insecure
//!         fallthrough in-addr.arpa ip6.arpa
//!         ttl 30
//!     }
//! }
//! ```
//! Outside it, through a kubeconfig:
//! ```corefile
//! cluster.local:1053 {
//!     kubernetes {
//!         kubeconfig /home/me/.kube/config kind-dev
//!         startup_timeout 10s
//!     }
//! }
//! ```
//! Or straight at an API server, with a client certificate:
//! ```corefile
//! cluster.local:1053 {
//!     kubernetes {
//!         endpoint https://10.0.0.1:6443
//!         tls client.crt client.key ca.crt
//!         apiserver_qps 20
//!         apiserver_burst 40
//!     }
//! }
//! ```
//! From a directory of manifests, no cluster needed:
//! ```corefile
//! cluster.local:1053 {
//!     kubernetes cluster.local in-addr.arpa ip6.arpa {
//!         manifests ./cluster
//!         pods insecure
//!         fallthrough in-addr.arpa ip6.arpa
//!         ttl 30
//!     }
//! }
//! ```

mod chase;
pub mod metrics;
mod resolve;
pub mod setup;

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use registry::source::kube::{Connection, RateLimit};
use registry::source::selector::Selector;
use registry::store::Store;

use crate::contract::{
    ChangeCount, Fallthrough, Next, Plugin, PluginFuture, Query, Watch, Zone, in_zone,
    zone::ZoneNameError,
};
use crate::plugin::autopath::ClientNamespace;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PodsMode {
    Disabled,
    Insecure,
    Verified,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub zones: Vec<String>,
    pub manifests: Option<PathBuf>,
    pub pods: PodsMode,
    pub endpoint_pod_names: bool,
    pub ttl: u32,
    pub namespaces: Option<BTreeSet<String>>,
    pub labels: Option<Selector>,
    pub noendpoints: bool,
    pub fallthrough: Fallthrough,
    pub ignore_empty_service: bool,
    /// Addresses `ns.dns.<zone>` answers with when no `kube-dns` Service names the server.
    pub nameserver_ips: Vec<IpAddr>,
    /// The Kubernetes API source (used when `manifests` is not given).
    pub api: ApiConfig,
}

/// How the API source connects, and how long start-up waits for it.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub connection: Connection,
    /// `startup_timeout`: serve unsynced data after this long (default 5 s).
    pub startup_timeout: Duration,
    /// `apiserver_qps` / `apiserver_burst`.
    pub rate_limit: Option<RateLimit>,
}

pub struct Kubernetes {
    config: Config,
    zones: Vec<Zone>,
    /// The zone PTR targets live in (the first forward zone).
    cluster_zone: Zone,
    store: Store,
    /// The store's serial, for the `cache` to tell when a name this plugin passed on
    /// (fallthrough) may have become one it answers.
    changes: Arc<dyn ChangeCount>,
}

/// Every write to the store bumps its serial, after the data is in place.
impl ChangeCount for Store {
    fn count(&self) -> u64 {
        u64::from(self.serial())
    }
}

impl Kubernetes {
    pub fn new(config: Config, store: Store) -> Result<Self, ZoneNameError> {
        let mut zones = config
            .zones
            .iter()
            .map(|z| Zone::new(z))
            .collect::<Result<Vec<_>, _>>()?;
        // Longest first, so the most specific zone wins.
        zones.sort_by_key(|z| std::cmp::Reverse(z.name.len()));
        let cluster_zone = match zones.iter().find(|z| !z.is_reverse() && z.name != ".") {
            Some(z) => z.clone(),
            None => Zone::new("cluster.local.")?,
        };
        Ok(Kubernetes {
            config,
            zones,
            cluster_zone,
            changes: Arc::new(store.clone()),
            store,
        })
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn pods_mode(&self) -> PodsMode {
        self.config.pods
    }

    fn zone_of(&self, name: &str) -> Option<&Zone> {
        self.zones.iter().find(|z| in_zone(name, &z.name))
    }
}

impl ClientNamespace for Kubernetes {
    /// The namespace of the pod at the query's source address (one pod, one namespace), with
    /// `pods verified` and a store that serves.
    fn client_namespace(&self, query: &Query) -> Option<(Arc<str>, &Zone)> {
        if self.config.pods != PodsMode::Verified || !self.store.is_serving() {
            return None;
        }
        let zone = self.zone_of(&query.lower).filter(|z| !z.is_reverse())?;
        let namespaces = self.store.pod_namespaces(query.src.ip().to_canonical())?;
        match namespaces.as_slice() {
            [only] => Some((Arc::clone(only), zone)),
            _ => None,
        }
    }

    fn knows_clients(&self) -> bool {
        self.config.pods == PodsMode::Verified
    }
}

impl Plugin for Kubernetes {
    fn name(&self) -> &'static str {
        "kubernetes"
    }

    fn serve<'a>(&'a self, query: &'a Query, next: Next<'a>) -> PluginFuture<'a> {
        let Some(zone) = self.zone_of(&query.lower) else {
            return next.serve(query);
        };
        if !self.store.is_serving() {
            let reply = zone.unavailable(self.config.ttl, self.store.serial(), "kubernetes");
            return PluginFuture::ready(Ok(reply.from_memory()));
        }
        // Read before the look-up: a write landing after it must count as a change.
        let seen = self.changes.count();
        let reply = self.resolve(query, zone, 0);
        if reply.rcode == hickory_proto::op::ResponseCode::NXDomain
            && self.config.fallthrough.passes(&query.lower)
        {
            let watch = Watch::at(Arc::clone(&self.changes), seen);
            return next
                .serve(query)
                .map(move |result| result.map(|reply| reply.watched(watch)));
        }
        if let Some(target) = self.external_target(query, &reply) {
            // The chased records come from the rest of the chain, but the reply is this
            // plugin's (AA, live cluster data): never cached as a whole.
            return chase::through_chain(reply.from_memory(), target, query, next);
        }
        PluginFuture::ready(Ok(reply.from_memory()))
    }
}
