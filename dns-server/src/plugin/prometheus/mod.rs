//! # prometheus
//!
//! Serves Prometheus metrics on `GET /metrics` (text exposition format 0.0.4), with CoreDNS's
//! metric names and labels so existing dashboards and alerts work. It counts the queries of the
//! server blocks that have the directive; queries that match no block's zone are counted under
//! zone `dropped`. Like `health` it configures the block and adds no chain link: the dispatcher
//! records each query into counters resolved at start-up (see [`crate::metrics::dns`]), so the
//! query path does no lookup, formatting, allocation or locking.
//!
//! Several server blocks may name the same address: they share one listener (and every listener
//! serves every metric), as in CoreDNS.
//!
//! ## Syntax
//! ```text
//! prometheus [ADDRESS]
//! ```
//! `ADDRESS` defaults to `localhost:9153` (loopback only); `:9153` listens on every interface,
//! `10.0.0.10:9153` or `[::1]:9153` on one. The path is always `/metrics`.
//!
//! ## Example
//! ```corefile
//! .:53 {
//!     prometheus :9153
//!     kubernetes cluster.local
//! }
//! ```
//!
//! ## Metrics
//! - `coredns_build_info{version, revision, goversion}`: 1; rollcall's version, the
//!   `ROLLCALL_REVISION` set at build time (else `unknown`) and the compiler (`rustc 1.95.0`).
//! - `coredns_panics_total`
//! - `coredns_plugin_enabled{server, zone, view, name}`: 1 per directive of a counted block.
//! - `coredns_dns_requests_total{server, zone, view, proto, family, type}`: `family` 1 = IPv4,
//!   2 = IPv6; `type` is one of CoreDNS's monitored qtypes (A AAAA CNAME DNSKEY DS MX NSEC3 NSEC
//!   NS PTR RRSIG SOA SRV TXT HTTPS IXFR AXFR ANY) or `other`.
//! - `coredns_dns_request_duration_seconds{server, zone, view, type}`: histogram, 0.25 ms
//!   doubling to 8.192 s, from the datagram's arrival in the dispatcher to the encoded answer.
//! - `coredns_dns_request_size_bytes{server, zone, view, proto}`,
//!   `coredns_dns_response_size_bytes{server, zone, view, proto}`: histograms, buckets 0 … 64000.
//! - `coredns_dns_responses_total{server, zone, view, rcode, plugin}`: `plugin` is the plugin that
//!   wrote the answer, empty when the server did (REFUSED for no zone, FORMERR, …).
//! - `coredns_dns_do_requests_total{server, zone, view}`
//! - Whatever other plugins register (see [`crate::metrics`]): `kubernetes` adds
//!   `rollcall_kubernetes_synced{zone}`, `rollcall_kubernetes_last_event_age_seconds{zone, kind}`
//!   (seconds since the API server last said anything about that kind: a list, a watch event or
//!   bookmark; absent before the first), `rollcall_kubernetes_events_total{zone, kind}`,
//!   `rollcall_kubernetes_watch_restarts_total{zone, kind}`, `rollcall_store_services{zone}` and
//!   `rollcall_store_pod_ips{zone}`; `eureka` adds `rollcall_eureka_apps{zone}`,
//!   `rollcall_eureka_instances{zone}` and `rollcall_eureka_renews_last_minute{zone}`.
//!
//! The `view` label is always empty (rollcall has no `view` plugin). Metrics start from zero at
//! every start: there is no persistence.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use corefile::{Directive, Token};

use crate::contract::{Args, CountQueries, Outcome, SetupContext, SetupError, SetupResult};
use crate::metrics::expo::CONTENT_TYPE;

const DEFAULT_PORT: u16 = 9153;

pub fn setup(ctx: &mut SetupContext<'_>, d: &Directive) -> SetupResult {
    let mut args = Args::new(d);
    args.no_block()?;
    let addr = args.next();
    args.end()?;
    let addr = match addr {
        None => SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), DEFAULT_PORT),
        Some(addr) => parse_addr(&args, addr)?,
    };
    ctx.block.insert(CountQueries);
    let shared = if ctx.metrics.add_listener(addr) {
        let registry = Arc::clone(ctx.metrics);
        ctx.on_start(move |start| {
            crate::metrics::count_panics();
            crate::contract::http::spawn_typed(
                "prometheus",
                addr,
                CONTENT_TYPE,
                Arc::new(move |path: &str| match path {
                    "/metrics" => (200, registry.render()),
                    _ => (404, "not found\n".to_string()),
                }),
                start,
            )
        });
        ""
    } else {
        " (shared with an earlier block)"
    };
    Ok(Outcome::Configured(format!("http {addr}/metrics{shared}")))
}

/// `:PORT`, `HOST:PORT` (HOST an IP address or `localhost`), `[V6]:PORT`.
fn parse_addr(args: &Args<'_>, t: &Token) -> Result<SocketAddr, SetupError> {
    let text = t.text.as_str();
    let bad = |why: &str| {
        args.error(
            t,
            format!("expected an address like :9153 or 127.0.0.1:9153, found {text:?}{why}"),
        )
    };
    let (host, port) = text.rsplit_once(':').ok_or_else(|| bad(" (no port)"))?;
    let port: u16 = port.parse().map_err(|_| bad(" (bad port)"))?;
    let ip = match host.trim_start_matches('[').trim_end_matches(']') {
        "" => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
        ip => ip
            .parse()
            .map_err(|_| bad(" (host names other than localhost are not supported)"))?,
    };
    Ok(SocketAddr::new(ip, port))
}
