//! `eureka` stanza → the registry, the DNS plugin, and the HTTP listener's start hook.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use corefile::Directive;
use registry::eureka::replication::PeerUrl;
use registry::eureka::{EurekaAuth, EurekaConfig, EurekaRegistry};
use tokio_util::sync::CancellationToken;

use super::Eureka;
use crate::plugin::order::SetupResult;
use crate::setup::keys::normalize_zone;
use crate::setup::{SetupContext, args};

const NAME: &str = "eureka";

pub fn setup(ctx: &mut SetupContext<'_>, d: &Directive) -> SetupResult {
    let zone_token = args::exactly_one(d, NAME)?;
    let zone = normalize_zone(&zone_token.text).map_err(|m| args::err(zone_token, NAME, m))?;
    if !ctx
        .block_zones
        .iter()
        .any(|z| crate::server::query::in_zone(&zone, z))
    {
        return Err(args::err(
            zone_token,
            NAME,
            format!("zone {zone} is outside this server block's zones"),
        ));
    }
    let mut config = EurekaConfig::default();
    let mut ttl = 5;
    let mut peers: Vec<PeerUrl> = Vec::new();
    for prop in d.block.iter().flatten() {
        let name = args::leaf_property(prop, NAME)?;
        match name {
            "listen" => {
                let t = args::exactly_one(prop, NAME)?;
                config.listen = t.text.parse::<SocketAddr>().map_err(|_| {
                    args::err(
                        t,
                        NAME,
                        format!(
                            "listen: expected ADDRESS:PORT like 127.0.0.1:8761, found {:?}",
                            t.text
                        ),
                    )
                })?;
            }
            "ttl" => ttl = args::parse_u32(args::exactly_one(prop, NAME)?, NAME, 0, 3600)?,
            "lease_duration" => {
                config.default_lease_secs =
                    args::parse_u32(args::exactly_one(prop, NAME)?, NAME, 1, 86400)?
            }
            "eviction_interval" => {
                config.eviction_interval =
                    args::parse_duration(args::exactly_one(prop, NAME)?, NAME)?
            }
            "delta_retention" => {
                config.delta_retention = args::parse_duration(args::exactly_one(prop, NAME)?, NAME)?
            }
            "self_preservation" => {
                let t = args::exactly_one(prop, NAME)?;
                config.self_preservation = match t.text.as_str() {
                    "on" | "true" => true,
                    "off" | "false" => false,
                    other => {
                        return Err(args::err(
                            t,
                            NAME,
                            format!("self_preservation: expected on or off, found {other:?}"),
                        ));
                    }
                };
            }
            "renewal_percent_threshold" => {
                let t = args::exactly_one(prop, NAME)?;
                config.renewal_percent_threshold = match t.text.parse::<f64>() {
                    Ok(v) if (0.0..=1.0).contains(&v) => v,
                    _ => {
                        return Err(args::err(
                            t,
                            NAME,
                            format!("expected a fraction between 0 and 1, found {:?}", t.text),
                        ));
                    }
                };
            }
            "max_body" => {
                config.max_body_bytes =
                    args::parse_u32(args::exactly_one(prop, NAME)?, NAME, 1024, 64 << 20)? as usize
            }
            "max_instances_per_app" => {
                config.max_instances_per_app =
                    args::parse_u32(args::exactly_one(prop, NAME)?, NAME, 1, u32::MAX)? as usize;
            }
            "max_apps" => {
                config.max_apps =
                    args::parse_u32(args::exactly_one(prop, NAME)?, NAME, 1, u32::MAX)? as usize
            }
            "auth" => {
                let [kind, file] = prop.args.as_slice() else {
                    return Err(args::err(
                        &prop.name,
                        NAME,
                        "auth: expected `auth basic PASSWORD_FILE` or `auth bearer TOKEN_FILE`",
                    ));
                };
                let path = ctx.resolve_path(&file.text);
                let auth = match kind.text.as_str() {
                    "basic" => EurekaAuth::basic_from_file(&path),
                    "bearer" => EurekaAuth::bearer_from_file(&path),
                    other => {
                        return Err(args::err(
                            kind,
                            NAME,
                            format!("auth: expected basic or bearer, found {other:?}"),
                        ));
                    }
                };
                config.auth = Some(auth.map_err(|e| args::err(file, NAME, format!("auth: {e}")))?);
            }
            "peers" => {
                if prop.args.is_empty() {
                    return Err(args::err(&prop.name, NAME, "peers needs at least one URL"));
                }
                for t in &prop.args {
                    peers.push(
                        PeerUrl::parse(&t.text).map_err(|e| args::err(t, NAME, e.to_string()))?,
                    );
                }
            }
            "auth_reads" => {
                args::no_args(prop)?;
                config.auth_reads = true;
            }
            _ => {
                return Err(args::err(
                    &prop.name,
                    NAME,
                    format!("unknown property {name:?}"),
                ));
            }
        }
    }
    if config.auth_reads && config.auth.is_none() {
        return Err(args::err(&d.name, NAME, "auth_reads needs an `auth` line"));
    }
    let listen = config.listen;
    let mut detail = format!(
        "zone {zone}; http {listen}; ttl {ttl}; lease {}s; self_preservation {}",
        config.default_lease_secs,
        if config.self_preservation {
            "on"
        } else {
            "off"
        }
    );
    if !peers.is_empty() {
        let list: Vec<String> = peers.iter().map(ToString::to_string).collect();
        detail.push_str(&format!("; peers {}", list.join(" ")));
    }
    let registry = EurekaRegistry::new(config);
    ctx.metrics.register(Arc::new(EurekaMetrics {
        zone: zone.clone(),
        registry: registry.clone(),
    }));
    let http_registry = registry.clone();
    ctx.hooks.push(Box::new(move |start| {
        // A reload keeps the registrations: this registry takes over the one it replaces.
        let previous =
            start.hand_over(&format!("{NAME} {listen}"), Arc::new(http_registry.clone()));
        if let Some(previous) = previous {
            let adopted = http_registry.adopt(&previous);
            tracing::info!(
                adopted,
                "eureka: registrations carried over from the previous configuration"
            );
        }
        let listener = start.tcp_listener(NAME, listen)?;
        let bound = listener.local_addr().map_err(|e| format!("{NAME}: {e}"))?;
        let shutdown: CancellationToken = start.shutdown.clone();
        tracing::info!(listen = %bound, "serving the Eureka API and dashboard");
        // A StatefulSet's Corefile names every replica, this one included: not a peer.
        let others: Vec<PeerUrl> = peers
            .iter()
            .filter(|p| !is_self(p, bound))
            .cloned()
            .collect();
        if !others.is_empty() {
            tracing::info!(peers = ?others.iter().map(ToString::to_string).collect::<Vec<_>>(), "eureka: replicating to peers");
        }
        http_registry.start_replication(others, shutdown.clone());
        tokio::spawn(async move {
            if let Err(error) = registry::eureka::serve(http_registry, listener, shutdown).await {
                tracing::error!(%error, "eureka HTTP server stopped");
            }
        });
        Ok(())
    }));
    let nameserver_ips: Vec<IpAddr> = ctx
        .bind
        .iter()
        .copied()
        .filter(|ip| !ip.is_unspecified())
        .collect();
    let plugin = Eureka::new(&zone, ttl, registry, nameserver_ips)
        .map_err(|m| args::err(zone_token, NAME, m))?;
    Ok(Some((Arc::new(plugin), detail)))
}

/// Whether `peer` is this server: the port it listens on, at this host's name or one of its
/// own addresses.
fn is_self(peer: &PeerUrl, bound: SocketAddr) -> bool {
    if peer.port != bound.port() {
        return false;
    }
    if let Ok(ip) = peer.host.parse::<IpAddr>() {
        return ip == bound.ip()
            || (ip.is_loopback() && (bound.ip().is_loopback() || bound.ip().is_unspecified()));
    }
    if peer.host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let hostname = hostname.trim();
    !hostname.is_empty()
        && (peer.host.eq_ignore_ascii_case(hostname)
            || peer
                .host
                .to_ascii_lowercase()
                .starts_with(&format!("{}.", hostname.to_ascii_lowercase())))
}

/// The registry's sizes for `prometheus`, read at scrape time.
struct EurekaMetrics {
    zone: String,
    registry: EurekaRegistry,
}

impl crate::metrics::MetricsSource for EurekaMetrics {
    fn render(&self, out: &mut crate::metrics::Exposition) {
        let stats = self.registry.stats();
        let zone = [("zone", self.zone.as_str())];
        out.gauge(
            "rollcall_eureka_apps",
            "Eureka applications with at least one instance.",
            &zone,
            stats.apps,
        );
        out.gauge(
            "rollcall_eureka_instances",
            "Registered Eureka instances (including expired ones not yet evicted).",
            &zone,
            stats.instances,
        );
        out.gauge(
            "rollcall_eureka_renews_last_minute",
            "Eureka lease renewals in the last 60 seconds.",
            &zone,
            stats.renews_last_min,
        );
    }
}
