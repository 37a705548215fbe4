//! `forward` stanza → [`Config`], the plugin, and the start hook for its health checks.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use corefile::{Directive, Token};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::Name;

use super::ForwardingLoop;
use super::{Config, Forward, MAX_UPSTREAMS, Policy};
use crate::contract::{
    Args, Outcome, SetupContext, SetupError, SetupResult, normalize_zone, reverse_zones,
};

pub fn setup(ctx: &mut SetupContext<'_>, d: &Directive) -> SetupResult {
    let config = parse(ctx, d)?;
    let detail = config.describe();
    let max_fails = config.max_fails;
    // The block's `loop` (if any) turns this forward off when its probe comes back.
    let forward =
        Arc::new(Forward::new(config).with_forwarding_loop(ForwardingLoop::of_block(ctx)));
    ctx.metrics
        .register(Arc::new(super::metrics::ForwardMetrics {
            stats: forward.stats(),
            max_fails,
        }));
    let health = Arc::clone(&forward);
    ctx.on_start(move |start| {
        health.spawn_health_checks(&start.shutdown);
        Ok(())
    });
    Ok(Outcome::Link(forward, detail))
}

/// `forward FROM TO... { PROPERTIES }`; see the module doc.
pub fn parse(ctx: &SetupContext<'_>, d: &Directive) -> Result<Config, SetupError> {
    let mut args = Args::new(d);
    let Some(from) = args.next() else {
        return Err(args.error_at_name("needs FROM and at least one TO"));
    };
    if args.is_done() {
        return Err(args.error(
            from,
            "needs at least one TO (an IP address or a resolv.conf file) after FROM",
        ));
    }
    let from = from_zone(&args, from)?;
    let mut upstreams = Vec::new();
    for to in args.rest() {
        for addr in parse_to(ctx, &args, to)? {
            if upstreams.len() == MAX_UPSTREAMS {
                return Err(args.error(to, format!("more than {MAX_UPSTREAMS} upstreams")));
            }
            upstreams.push(addr);
        }
    }
    let mut config = Config::new(from, upstreams);
    for mut prop in args.block() {
        match prop.name() {
            "except" => {
                for name in prop.one_or_more("at least one name")? {
                    let zone =
                        normalize_zone(&name.text).map_err(|e| prop.error(name, e.to_string()))?;
                    config.except.push(zone);
                }
            }
            flag @ ("force_tcp" | "prefer_udp" | "failfast_all_unhealthy_upstreams") => {
                prop.end()?;
                match flag {
                    "force_tcp" => config.force_tcp = true,
                    "prefer_udp" => config.prefer_udp = true,
                    _ => config.failfast = true,
                }
            }
            "expire" => {
                let t = prop.one()?;
                config.expire = prop.duration(t)?;
            }
            "max_fails" => {
                let t = prop.one()?;
                config.max_fails = prop.u32_in(t, 0, u32::MAX)?;
            }
            "max_concurrent" => {
                let t = prop.one()?;
                config.max_concurrent = prop.u32_in(t, 1, u32::MAX)?;
            }
            "policy" => {
                let t = prop.one()?;
                config.policy = match t.text.as_str() {
                    "random" => Policy::Random,
                    "round_robin" => Policy::RoundRobin,
                    "sequential" => Policy::Sequential,
                    other => {
                        return Err(prop.error(
                            t,
                            format!("unknown policy {other:?} (random, round_robin or sequential)"),
                        ));
                    }
                };
            }
            "health_check" => health_check(prop, &mut config)?,
            "next" => {
                for t in prop.one_or_more("at least one RCODE")? {
                    config.next.push(rcode(&prop, t)?);
                }
            }
            "failover" => {
                for t in prop.one_or_more("at least one RCODE")? {
                    config.failover.push(rcode(&prop, t)?);
                }
            }
            name @ ("tls" | "tls_servername" | "max_idle_conns") => {
                return Err(prop.error_at_name(format!("{name} is not supported by rollcall yet")));
            }
            _ => return Err(prop.unknown_property_of(PROPERTIES)),
        }
    }
    if config.force_tcp && config.prefer_udp {
        return Err(args.error_at_name("force_tcp and prefer_udp cannot both be set"));
    }
    Ok(config)
}

/// `FROM`: a zone, or a CIDR that names reverse zones (as in CoreDNS, only the first one it
/// expands to is used).
fn from_zone(args: &Args<'_>, from: &Token) -> Result<String, SetupError> {
    if !from.text.contains('/') {
        return normalize_zone(&from.text).map_err(|e| args.error(from, e.to_string()));
    }
    let zones = reverse_zones(&from.text).map_err(|e| args.error(from, e.to_string()))?;
    zones
        .into_iter()
        .next()
        .ok_or_else(|| args.error(from, format!("{:?} names no reverse zone", from.text)))
}

/// `health_check DURATION [no_rec] [domain NAME]`.
fn health_check(mut prop: Args<'_>, config: &mut Config) -> Result<(), SetupError> {
    let interval = prop.expect("a duration")?;
    config.health_check = prop.duration(interval)?;
    while let Some(t) = prop.next() {
        match t.text.as_str() {
            "no_rec" => config.health_no_rec = true,
            "domain" => {
                let Some(domain) = prop.next() else {
                    return Err(prop.error(t, "domain needs a name"));
                };
                let zone =
                    normalize_zone(&domain.text).map_err(|e| prop.error(domain, e.to_string()))?;
                config.health_domain =
                    Name::from_ascii(&zone).map_err(|e| prop.error(domain, e.to_string()))?;
            }
            other => {
                return Err(prop.error(
                    t,
                    format!("unexpected health_check argument {other:?} (no_rec or domain NAME)"),
                ));
            }
        }
    }
    Ok(())
}

fn rcode(prop: &Args<'_>, t: &Token) -> Result<ResponseCode, SetupError> {
    Ok(match t.text.to_ascii_uppercase().as_str() {
        "NOERROR" => ResponseCode::NoError,
        "FORMERR" => ResponseCode::FormErr,
        "SERVFAIL" => ResponseCode::ServFail,
        "NXDOMAIN" => ResponseCode::NXDomain,
        "NOTIMP" => ResponseCode::NotImp,
        "REFUSED" => ResponseCode::Refused,
        _ => {
            return Err(prop.error(
                t,
                format!(
                    "unknown rcode {:?} (NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP or REFUSED)",
                    t.text
                ),
            ));
        }
    })
}

/// One `TO`: `IP[:PORT]`, `dns://IP[:PORT]`, or a resolv.conf file.
fn parse_to(
    ctx: &SetupContext<'_>,
    args: &Args<'_>,
    t: &Token,
) -> Result<Vec<SocketAddr>, SetupError> {
    let text = t.text.as_str();
    for scheme in ["tls://", "https://", "grpc://", "quic://", "h3://"] {
        if text.starts_with(scheme) {
            return Err(args.error(
                t,
                format!("{scheme} upstreams are not supported by rollcall yet"),
            ));
        }
    }
    if let Some(port) = bad_port(text.strip_prefix("dns://").unwrap_or(text)) {
        return Err(args.error(
            t,
            format!("bad port {port:?} in {text:?}: expected 0 to 65535"),
        ));
    }
    if let Some(rest) = text.strip_prefix("dns://") {
        return parse_addr(rest).map(|a| vec![a]).ok_or_else(|| {
            args.error(
                t,
                format!("{text:?} is not an IP address with an optional port"),
            )
        });
    }
    if let Some(addr) = parse_addr(text) {
        return Ok(vec![addr]);
    }
    let path = ctx.resolve_path(text);
    let contents = std::fs::read_to_string(&path).map_err(|e| {
        args.error(
            t,
            format!(
                "{text:?} is neither an IP address nor a readable resolv.conf ({}: {e})",
                path.display()
            ),
        )
    })?;
    let servers = resolv_conf_nameservers(&contents);
    if servers.is_empty() {
        return Err(args.error(t, format!("no nameserver lines in {}", path.display())));
    }
    // Read only when needed: most resolv.confs name no stub, and `check` should touch no more
    // files than it must.
    let real = if servers.iter().any(|a| is_resolved_stub(a.ip())) {
        std::fs::read_to_string(RESOLVED_UPSTREAMS_FILE).ok()
    } else {
        None
    };
    let (servers, stub_kept) = match replace_resolved_stub(&servers, real.as_deref()) {
        StubResolver::NotListed => (servers, None),
        StubResolver::Replaced {
            servers: replaced,
            upstreams,
        } => {
            let stubs: Vec<String> = servers
                .iter()
                .filter(|a| is_resolved_stub(a.ip()))
                .map(|a| a.ip().to_string())
                .collect();
            let upstreams: Vec<String> = upstreams.iter().map(ToString::to_string).collect();
            tracing::warn!(
                "forward: {} names systemd-resolved's stub resolver ({}), which can send queries back to this server (coredns/coredns#2087); forwarding to the upstreams systemd-resolved uses instead, from {RESOLVED_UPSTREAMS_FILE}: {}",
                path.display(),
                stubs.join(" "),
                upstreams.join(" "),
            );
            (replaced, None)
        }
        StubResolver::Kept(why) => (servers, Some(why)),
    };
    if servers.iter().any(|a| a.ip().is_loopback()) {
        // coredns/coredns#2087: a loopback stub (systemd-resolved's 127.0.0.53) in the node's
        // resolv.conf makes a forwarding loop once it points back at us.
        match stub_kept {
            Some(why) => tracing::warn!(
                file = %path.display(),
                "forward: resolv.conf names systemd-resolved's stub resolver and {RESOLVED_UPSTREAMS_FILE} {why}, so the stub stays; the `loop` plugin turns forwarding off if it forwards back to itself"
            ),
            None => tracing::warn!(
                file = %path.display(),
                "forward: resolv.conf lists a loopback nameserver; the `loop` plugin turns forwarding off if it forwards back to itself"
            ),
        }
    }
    Ok(servers)
}

/// systemd-resolved's own list of the upstreams it uses (the servers behind its stub).
pub const RESOLVED_UPSTREAMS_FILE: &str = "/run/systemd/resolve/resolv.conf";

/// systemd-resolved's stub listeners: 127.0.0.53 (the stub resolv.conf names it) and
/// 127.0.0.54 (its proxy-only listener).
/// The properties a "did you mean" may suggest (not the refused ones).
const PROPERTIES: &[&str] = &[
    "except",
    "force_tcp",
    "prefer_udp",
    "failfast_all_unhealthy_upstreams",
    "expire",
    "max_fails",
    "max_concurrent",
    "policy",
    "health_check",
    "next",
    "failover",
];

const RESOLVED_STUBS: [IpAddr; 2] = [
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, 53)),
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, 54)),
];

fn is_resolved_stub(ip: IpAddr) -> bool {
    RESOLVED_STUBS.contains(&ip)
}

/// What [`replace_resolved_stub`] decided for one resolv.conf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StubResolver {
    /// No systemd-resolved stub address: the list stays as it is.
    NotListed,
    /// The stub entries replaced by systemd-resolved's real upstreams.
    Replaced {
        /// The new list: the real upstreams where the first stub entry was, every other entry
        /// kept in place, no address twice.
        servers: Vec<SocketAddr>,
        /// The upstreams taken from the real list.
        upstreams: Vec<SocketAddr>,
    },
    /// A stub is listed but the real list cannot stand in for it: why (it ends a sentence that
    /// starts with the real list's path).
    Kept(&'static str),
}

/// The nameservers of a resolv.conf (`servers`) with systemd-resolved's stub addresses replaced by
/// the non-loopback nameservers of its real list, `real` (the contents of
/// [`RESOLVED_UPSTREAMS_FILE`], `None` when it could not be read). A real list with only loopback
/// servers cannot help (they may loop as well), so the stub is then kept.
pub fn replace_resolved_stub(servers: &[SocketAddr], real: Option<&str>) -> StubResolver {
    let Some(first_stub) = servers.iter().position(|a| is_resolved_stub(a.ip())) else {
        return StubResolver::NotListed;
    };
    let Some(real) = real else {
        return StubResolver::Kept("does not exist or cannot be read");
    };
    let upstreams: Vec<SocketAddr> = resolv_conf_nameservers(real)
        .into_iter()
        .filter(|a| !a.ip().is_loopback())
        .collect();
    if upstreams.is_empty() {
        return StubResolver::Kept("lists no nameserver that is not a loopback address");
    }
    let mut out: Vec<SocketAddr> = Vec::with_capacity(servers.len() + upstreams.len());
    for (i, addr) in servers.iter().enumerate() {
        if i == first_stub {
            for up in &upstreams {
                if !out.contains(up) && !servers.contains(up) {
                    out.push(*up);
                }
            }
        } else if !is_resolved_stub(addr.ip()) && !out.contains(addr) {
            out.push(*addr);
        }
    }
    StubResolver::Replaced {
        servers: out,
        upstreams,
    }
}

/// `1.2.3.4`, `1.2.3.4:53`, `::1`, `[::1]`, `[::1]:53`.
/// The port of an `IP:PORT` whose IP is one but whose port is not a port number
/// (`8.8.8.8:99999`, `[::1]:x`): reported as such rather than tried as a resolv.conf path.
fn bad_port(text: &str) -> Option<&str> {
    if text.parse::<IpAddr>().is_ok() {
        return None;
    }
    let (host, port) = text.rsplit_once(':')?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    host.parse::<IpAddr>().ok()?;
    port.parse::<u16>().is_err().then_some(port)
}

fn parse_addr(text: &str) -> Option<SocketAddr> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Some(addr);
    }
    let bare = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(text);
    bare.parse::<IpAddr>()
        .ok()
        .map(|ip| SocketAddr::new(ip, 53))
}

/// The `nameserver` addresses of a resolv.conf, port 53 (zone ids like `fe80::1%eth0` are skipped).
pub fn resolv_conf_nameservers(contents: &str) -> Vec<SocketAddr> {
    contents
        .lines()
        .filter_map(|line| {
            let line = line.split(['#', ';']).next().unwrap_or("");
            let mut fields = line.split_whitespace();
            match (fields.next(), fields.next()) {
                (Some("nameserver"), Some(addr)) => addr.parse::<IpAddr>().ok(),
                _ => None,
            }
        })
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}
