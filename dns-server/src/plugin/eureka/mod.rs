//! # eureka
//!
//! A Netflix-Eureka-compatible registry (REST API and dashboard on an HTTP listener) whose
//! registered applications are answerable by DNS in the directive's zone. Real Eureka clients
//! (Spring Cloud, eureka-js-client, py-eureka-client) register, heartbeat and discover against it
//! unchanged; see `registry::eureka` and `../shared/reference/eureka-protocol.md`.
//!
//! DNS answers (app names match case-insensitively; only UP instances with an unexpired lease):
//! - `<app>.<zone>` A/AAAA: one record per instance address.
//! - `_http._tcp.<app>.<zone>` / `_https._tcp.<app>.<zone>` SRV: the instances' (secure) port,
//!   targets `<dashed-ip>.<app>.<zone>` with their addresses in the additional section.
//! - `<dashed-ip>.<app>.<zone>` A/AAAA: one instance.
//! - NXDOMAIN for unknown apps (or apps with no UP instance), NODATA for other types, SOA/NS at
//!   the apex, SOA in the authority section of every negative answer.
//!
//! ## Syntax
//! ```text
//! eureka ZONE {
//!     listen ADDRESS:PORT
//!     ttl SECONDS
//!     lease_duration SECONDS
//!     eviction_interval DURATION
//!     self_preservation on|off
//!     renewal_percent_threshold FRACTION
//!     delta_retention DURATION
//!     max_body BYTES
//!     max_instances_per_app N
//!     max_apps N
//!     auth basic PASSWORD_FILE | auth bearer TOKEN_FILE
//!     auth_reads
//!     peers URL...
//! }
//! ```
//! - `ZONE` (required): the DNS zone of registered apps, e.g. `registry.cluster.local`; it must be
//!   inside the server block's zones.
//! - `listen`: the HTTP API and dashboard, `IP:PORT`, default `127.0.0.1:8761`; served under both
//!   `/eureka/` and `/eureka/v2/`, dashboard at `/`.
//! - `ttl`: TTL of DNS answers, 0–3600, default 5 (registrations change fast).
//! - `lease_duration`: lease in seconds (1–86400) for registrations that carry no
//!   `leaseInfo.durationInSecs`, default 90.
//! - `eviction_interval`: how often expired leases are evicted, default `60s`.
//! - `self_preservation`: stop evicting when renewals fall below the threshold, `on` (default)
//!   or `off` (`true`/`false` too); `renewal_percent_threshold`: a fraction 0–1, default `0.85`.
//! - `delta_retention`: how long `/apps/delta` keeps changes, default `3m`.
//! - `max_body`: largest request body in bytes, 1024–64 MiB, default 65536 (larger: 413).
//! - `max_instances_per_app` / `max_apps`: limits, default 100000 each.
//! - `auth basic FILE`: writes need HTTP basic credentials from FILE (`user:password` lines);
//!   `auth bearer FILE`: a bearer token from FILE (one per line). FILE is read at setup
//!   (relative to the Corefile's directory), so `rollcall check` reports a missing or empty one.
//!   `auth_reads` (only with `auth`): reads and the dashboard need credentials too.
//! - `peers URL...`: replicate to these Eureka servers (`http://HOST:PORT/eureka`, as clients'
//!   `serviceUrl`), as Netflix's peers do: every client change is sent on in batches to
//!   `/peerreplication/batch/`, changes from peers are applied and not sent again, and at start
//!   the registry is copied from the peers. The list may name this server too (a StatefulSet's
//!   Corefile names every replica): a URL with this server's port at its host name or one of
//!   its addresses is skipped. With `auth`, a server presents its own file's first credential to
//!   its peers (the replicas of one registry share the secret).
//!
//! ## Examples
//! The embedded example's registry, next to the cluster zone:
//! ```corefile
//! .:1053 {
//!     eureka registry.cluster.local {
//!         listen 127.0.0.1:8761
//!     }
//!     kubernetes cluster.local
//! }
//! ```
//! Three replicas of one registry (a StatefulSet's pods), writes behind basic auth, every
//! replica naming all three:
//! ```corefile
//! .:53 {
//!     eureka registry.cluster.local {
//!         listen 0.0.0.0:8761
//!         auth basic eureka-users
//!         peers http://eureka-0.eureka:8761/eureka http://eureka-1.eureka:8761/eureka http://eureka-2.eureka:8761/eureka
//!         lease_duration 30
//!         self_preservation off
//!     }
//! }
//! ```

mod resolve;
pub mod setup;

use registry::eureka::EurekaRegistry;

use crate::contract::{Next, Plugin, PluginFuture, Query, Zone, in_zone, zone::ZoneNameError};

pub struct Eureka {
    zone: Zone,
    ttl: u32,
    registry: EurekaRegistry,
    nameserver_ips: Vec<std::net::IpAddr>,
}

impl Eureka {
    pub fn new(
        zone: &str,
        ttl: u32,
        registry: EurekaRegistry,
        nameserver_ips: Vec<std::net::IpAddr>,
    ) -> Result<Self, ZoneNameError> {
        Ok(Eureka {
            zone: Zone::new(zone)?,
            ttl,
            registry,
            nameserver_ips,
        })
    }

    pub fn registry(&self) -> &EurekaRegistry {
        &self.registry
    }
}

impl Plugin for Eureka {
    fn name(&self) -> &'static str {
        "eureka"
    }

    fn serve<'a>(&'a self, query: &'a Query, next: Next<'a>) -> PluginFuture<'a> {
        if !in_zone(&query.lower, &self.zone.name) {
            return next.serve(query);
        }
        PluginFuture::ready(Ok(self.resolve(query).from_memory()))
    }
}
