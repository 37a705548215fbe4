//! `cache` stanza → [`Config`]; see the module doc for the syntax and defaults.

use std::sync::Arc;
use std::time::Duration;

use corefile::{Directive, Token};

use super::{Cache, Config, KindConfig, Prefetch, ServeStale};
use crate::contract::{Outcome, SetupContext, SetupError, SetupResult, args};

const NAME: &str = "cache";

/// 256 shards × 39 entries, CoreDNS's default.
pub const DEFAULT_CAPACITY: usize = 9_984;
/// Smaller capacities are raised to this (CoreDNS's minimum).
pub const MIN_CAPACITY: usize = 1_024;
pub const DEFAULT_SUCCESS_TTL: u32 = 3_600;
pub const DEFAULT_DENIAL_TTL: u32 = 1_800;
pub const DEFAULT_MIN_TTL: u32 = 5;
pub const DEFAULT_SERVFAIL: Duration = Duration::from_secs(5);
const MAX_SERVFAIL: Duration = Duration::from_secs(300);
/// RFC 2181 §8: TTLs are at most 2^31 - 1 seconds.
const MAX_TTL: u32 = 2_147_483_647;
const MAX_CAPACITY: u32 = 100_000_000;

fn ttl(t: &Token, min: u32) -> Result<u32, SetupError> {
    args::parse_u32(t, NAME, min, MAX_TTL)
}

/// `success|denial CAPACITY [TTL] [MINTTL]`.
fn kind(prop: &Directive, into: &mut KindConfig) -> Result<(), SetupError> {
    let name = prop.name();
    match prop.args.as_slice() {
        [] => {
            return Err(args::err(
                &prop.name,
                NAME,
                format!("{name} needs CAPACITY [TTL] [MINTTL]"),
            ));
        }
        [_, _, _, extra, ..] => {
            return Err(args::err(
                extra,
                NAME,
                format!(
                    "{name} takes CAPACITY [TTL] [MINTTL], found {:?}",
                    extra.text
                ),
            ));
        }
        _ => {}
    }
    let capacity = args::parse_u32(&prop.args[0], NAME, 1, MAX_CAPACITY)?;
    into.capacity = usize::try_from(capacity)
        .unwrap_or(usize::MAX)
        .max(MIN_CAPACITY);
    if let Some(t) = prop.args.get(1) {
        into.max_ttl = ttl(t, 1)?;
        into.min_ttl = into.min_ttl.min(into.max_ttl);
    }
    if let Some(t) = prop.args.get(2) {
        into.min_ttl = ttl(t, 0)?;
        if into.min_ttl > into.max_ttl {
            return Err(args::err(
                t,
                NAME,
                format!(
                    "{name}: MINTTL {} is above TTL {}",
                    into.min_ttl, into.max_ttl
                ),
            ));
        }
    }
    Ok(())
}

/// `prefetch AMOUNT [[DURATION] [PERCENTAGE%]]`.
fn prefetch(prop: &Directive) -> Result<Prefetch, SetupError> {
    let mut p = Prefetch {
        amount: 0,
        window: Duration::from_secs(60),
        percentage: 10,
    };
    let Some((amount, rest)) = prop.args.split_first() else {
        return Err(args::err(
            &prop.name,
            NAME,
            "prefetch needs AMOUNT [[DURATION] [PERCENTAGE%]]",
        ));
    };
    p.amount = args::parse_u32(amount, NAME, 1, u32::MAX)?;
    let mut rest = rest.iter();
    let mut next = rest.next();
    if let Some(t) = next.filter(|t| !t.text.ends_with('%')) {
        p.window = args::parse_duration(t, NAME)?;
        if p.window.is_zero() {
            return Err(args::err(t, NAME, "prefetch DURATION must be above 0"));
        }
        next = rest.next();
    }
    if let Some(t) = next {
        let pct = t
            .text
            .strip_suffix('%')
            .and_then(|n| n.parse::<u8>().ok())
            .filter(|n| *n <= 100);
        p.percentage = pct.ok_or_else(|| {
            args::err(
                t,
                NAME,
                format!(
                    "prefetch: expected a percentage like 10%, found {:?}",
                    t.text
                ),
            )
        })?;
    }
    if let Some(extra) = rest.next() {
        return Err(args::err(
            extra,
            NAME,
            format!(
                "prefetch takes AMOUNT [[DURATION] [PERCENTAGE%]], found {:?}",
                extra.text
            ),
        ));
    }
    Ok(p)
}

/// `serve_stale [DURATION] [immediate|verify]`.
fn serve_stale(prop: &Directive) -> Result<ServeStale, SetupError> {
    let mut s = ServeStale {
        window: Duration::from_secs(3600),
        verify: false,
    };
    let mut tokens = prop.args.iter().peekable();
    if let Some(t) = tokens.next_if(|t| !matches!(t.text.as_str(), "immediate" | "verify")) {
        s.window = args::parse_duration(t, NAME)?;
    }
    if let Some(t) = tokens.next() {
        s.verify = match t.text.as_str() {
            "immediate" => false,
            "verify" => true,
            other => {
                return Err(args::err(
                    t,
                    NAME,
                    format!("serve_stale: expected immediate or verify, found {other:?}"),
                ));
            }
        };
    }
    if let Some(extra) = tokens.next() {
        return Err(args::err(
            extra,
            NAME,
            format!(
                "serve_stale takes [DURATION] [immediate|verify], found {:?} (a verify timeout is not supported)",
                extra.text
            ),
        ));
    }
    Ok(s)
}

pub fn parse(ctx: &SetupContext<'_>, d: &Directive) -> Result<Config, SetupError> {
    let mut config = Config {
        zones: Vec::new(),
        success: KindConfig {
            capacity: DEFAULT_CAPACITY,
            max_ttl: DEFAULT_SUCCESS_TTL,
            min_ttl: DEFAULT_MIN_TTL,
        },
        denial: KindConfig {
            capacity: DEFAULT_CAPACITY,
            max_ttl: DEFAULT_DENIAL_TTL,
            min_ttl: DEFAULT_MIN_TTL,
        },
        prefetch: None,
        serve_stale: None,
        servfail: DEFAULT_SERVFAIL,
        disable_success: Vec::new(),
        disable_denial: Vec::new(),
        keepttl: false,
    };
    let mut rest = d.args.as_slice();
    if let Some((first, tail)) = rest.split_first()
        && first.text.bytes().all(|b| b.is_ascii_digit() || b == b'-')
    {
        let t = ttl(first, 1)?;
        config.success.max_ttl = t;
        config.denial.max_ttl = t;
        // A cap below the floor lowers the floor with it.
        config.success.min_ttl = config.success.min_ttl.min(t);
        config.denial.min_ttl = config.denial.min_ttl.min(t);
        rest = tail;
    }
    config.zones = args::zones(rest, NAME)?;
    if config.zones.is_empty() {
        config.zones = ctx.block_zones.to_vec();
    }
    for prop in d.block.iter().flatten() {
        let name = args::leaf_property(prop, NAME)?;
        match name {
            "success" => kind(prop, &mut config.success)?,
            "denial" => kind(prop, &mut config.denial)?,
            "prefetch" => config.prefetch = Some(prefetch(prop)?),
            "serve_stale" => config.serve_stale = Some(serve_stale(prop)?),
            "servfail" => {
                let t = args::exactly_one(prop, NAME)?;
                let d = args::parse_duration(t, NAME)?;
                if d > MAX_SERVFAIL {
                    return Err(args::err(
                        t,
                        NAME,
                        format!("servfail: at most 5m, found {:?}", t.text),
                    ));
                }
                config.servfail = d;
            }
            "disable" => {
                let Some((what, zone_tokens)) = prop.args.split_first() else {
                    return Err(args::err(
                        &prop.name,
                        NAME,
                        "disable needs success or denial [ZONES...]",
                    ));
                };
                let mut listed = args::zones(zone_tokens, NAME)?;
                if listed.is_empty() {
                    listed = config.zones.clone();
                }
                match what.text.as_str() {
                    "success" => config.disable_success.extend(listed),
                    "denial" => config.disable_denial.extend(listed),
                    other => {
                        return Err(args::err(
                            what,
                            NAME,
                            format!("disable: expected success or denial, found {other:?}"),
                        ));
                    }
                }
            }
            "keepttl" => {
                if let Some(extra) = prop.args.first() {
                    return Err(args::err(
                        extra,
                        NAME,
                        format!("keepttl takes no argument, found {:?}", extra.text),
                    ));
                }
                config.keepttl = true;
            }
            "serve_stale_policy" => {
                return Err(args::err(
                    &prop.name,
                    NAME,
                    format!("option {name:?} is not implemented by rollcall yet"),
                ));
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
    Ok(config)
}

/// The plan line `rollcall check` prints.
pub fn describe(c: &Config) -> String {
    let mut parts = vec![
        format!("zones {}", c.zones.join(" ")),
        format!(
            "success {} ttl {}..{}",
            c.success.capacity, c.success.min_ttl, c.success.max_ttl
        ),
        format!(
            "denial {} ttl {}..{}",
            c.denial.capacity, c.denial.min_ttl, c.denial.max_ttl
        ),
        format!("servfail {:?}", c.servfail),
    ];
    if let Some(p) = c.prefetch {
        parts.push(format!(
            "prefetch {} within {:?} below {}%",
            p.amount, p.window, p.percentage
        ));
    }
    if let Some(s) = c.serve_stale {
        let mode = if s.verify { "verify" } else { "immediate" };
        parts.push(format!("serve_stale {:?} {mode}", s.window));
    }
    if !c.disable_success.is_empty() {
        parts.push(format!("disable success {}", c.disable_success.join(" ")));
    }
    if !c.disable_denial.is_empty() {
        parts.push(format!("disable denial {}", c.disable_denial.join(" ")));
    }
    if c.keepttl {
        parts.push("keepttl".into());
    }
    parts.join("; ")
}

pub fn setup(ctx: &mut SetupContext<'_>, d: &Directive) -> SetupResult {
    let config = parse(ctx, d)?;
    let detail = describe(&config);
    let zones = config.zones.join(" ");
    let cache = Arc::new(Cache::new(config));
    ctx.metrics.register(Arc::new(super::metrics::CacheMetrics {
        stats: cache.stats(),
        server: ctx.server_label(),
        zones,
    }));
    Ok(Outcome::Link(cache, detail))
}
