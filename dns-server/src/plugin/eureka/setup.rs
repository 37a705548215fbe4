//! `eureka` stanza → the registry, the DNS plugin, and the HTTP listener's start hook.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use corefile::Directive;
use registry::eureka::replication::PeerUrl;
use registry::eureka::{EurekaAuth, EurekaConfig, EurekaRegistry};
use tokio_util::sync::CancellationToken;

use super::Eureka;
use crate::contract::{
    Args, Describe, Outcome, SetupContext, SetupError, SetupResult, StartError, in_zone,
    normalize_zone,
};

const NAME: &str = "eureka";

/// What the stanza's block sets.
struct Properties {
    config: EurekaConfig,
    ttl: u32,
    peers: Vec<PeerUrl>,
}

pub fn setup(ctx: &mut SetupContext<'_>, d: &Directive) -> SetupResult {
    let mut args = Args::new(d);
    let zone_token = args.one()?;
    let zone =
        normalize_zone(&zone_token.text).map_err(|m| args.error(zone_token, m.to_string()))?;
    if !ctx.block_zones.iter().any(|z| in_zone(&zone, z)) {
        return Err(args.error(
            zone_token,
            format!("zone {zone} is outside this server block's zones"),
        ));
    }
    let Properties { config, ttl, peers } = properties(ctx, &args)?;
    let listen = config.listen;
    let self_preservation = if config.self_preservation {
        "on"
    } else {
        "off"
    };
    let detail = Describe::new()
        .part(format!("zone {zone}"))
        .part(format!("http {listen}"))
        .part(format!("ttl {ttl}"))
        .part(format!("lease {}s", config.default_lease_secs))
        .part(format!("self_preservation {self_preservation}"))
        .maybe((!peers.is_empty()).then(|| {
            let list: Vec<String> = peers.iter().map(ToString::to_string).collect();
            format!("peers {}", list.join(" "))
        }))
        .finish();
    let registry = EurekaRegistry::new(config);
    ctx.metrics.register(Arc::new(EurekaMetrics {
        zone: zone.clone(),
        registry: registry.clone(),
    }));
    let http_registry = registry.clone();
    ctx.on_start(move |start| {
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
        let bound = listener.local_addr().map_err(|source| StartError::Listen {
            what: NAME,
            addr: listen,
            source,
        })?;
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
    });
    let nameserver_ips: Vec<IpAddr> = ctx
        .bind_addrs()
        .iter()
        .copied()
        .filter(|ip| !ip.is_unspecified())
        .collect();
    let plugin = Eureka::new(&zone, ttl, registry, nameserver_ips)
        .map_err(|m| args.error(zone_token, m.to_string()))?;
    Ok(Outcome::Link(Arc::new(plugin), detail))
}

/// The block's properties, with `EurekaConfig`'s defaults for those not given.
fn properties(ctx: &SetupContext<'_>, args: &Args<'_>) -> Result<Properties, SetupError> {
    let mut config = EurekaConfig::default();
    let mut ttl = 5;
    let mut peers = Vec::new();
    for mut prop in args.block() {
        match prop.leaf()? {
            "listen" => {
                let addr = prop.one()?;
                config.listen = addr.text.parse::<SocketAddr>().map_err(|_| {
                    prop.error(
                        addr,
                        format!(
                            "listen: expected ADDRESS:PORT like 127.0.0.1:8761, found {:?}",
                            addr.text
                        ),
                    )
                })?;
            }
            "ttl" => ttl = prop.one_u32(0, 3600)?,
            "lease_duration" => config.default_lease_secs = prop.one_u32(1, 86400)?,
            "eviction_interval" => config.eviction_interval = prop.one_duration()?,
            "delta_retention" => config.delta_retention = prop.one_duration()?,
            "self_preservation" => {
                let switch = prop.one()?;
                config.self_preservation = match switch.text.as_str() {
                    "on" | "true" => true,
                    "off" | "false" => false,
                    other => {
                        return Err(prop.error(
                            switch,
                            format!("self_preservation: expected on or off, found {other:?}"),
                        ));
                    }
                };
            }
            "renewal_percent_threshold" => {
                let fraction = prop.one()?;
                config.renewal_percent_threshold = match fraction.text.parse::<f64>() {
                    Ok(v) if (0.0..=1.0).contains(&v) => v,
                    _ => {
                        return Err(prop.error(
                            fraction,
                            format!(
                                "expected a fraction between 0 and 1, found {:?}",
                                fraction.text
                            ),
                        ));
                    }
                };
            }
            "max_body" => config.max_body_bytes = prop.one_u32(1024, 64 << 20)? as usize,
            "max_instances_per_app" => {
                config.max_instances_per_app = prop.one_u32(1, u32::MAX)? as usize;
            }
            "max_apps" => config.max_apps = prop.one_u32(1, u32::MAX)? as usize,
            "auth" => {
                let (Some(kind), Some(file), None) = (prop.next(), prop.next(), prop.peek()) else {
                    return Err(prop.error_at_name(
                        "auth: expected `auth basic PASSWORD_FILE` or `auth bearer TOKEN_FILE`",
                    ));
                };
                let path = ctx.resolve_path(&file.text);
                let auth = match kind.text.as_str() {
                    "basic" => EurekaAuth::basic_from_file(&path),
                    "bearer" => EurekaAuth::bearer_from_file(&path),
                    other => {
                        return Err(prop.error(
                            kind,
                            format!("auth: expected basic or bearer, found {other:?}"),
                        ));
                    }
                };
                config.auth = Some(auth.map_err(|e| prop.error(file, format!("auth: {e}")))?);
            }
            "peers" => {
                if prop.is_done() {
                    return Err(prop.error_at_name("peers needs at least one URL"));
                }
                for url in prop.rest() {
                    peers.push(
                        PeerUrl::parse(&url.text).map_err(|m| prop.error(url, m.to_string()))?,
                    );
                }
            }
            "auth_reads" => {
                prop.end()?;
                config.auth_reads = true;
            }
            _ => return Err(prop.unknown_property()),
        }
    }
    if config.auth_reads && config.auth.is_none() {
        return Err(args.error_at_name("auth_reads needs an `auth` line"));
    }
    Ok(Properties { config, ttl, peers })
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
