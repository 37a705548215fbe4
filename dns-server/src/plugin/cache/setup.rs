//! `cache` stanza → [`Config`]; see the module doc for the syntax and defaults.

use std::sync::Arc;
use std::time::Duration;

use corefile::{Directive, Token};

use super::{Cache, Config, KindConfig, Prefetch, ServeStale};

/// The properties a "did you mean" may suggest.
const PROPERTIES: &[&str] = &[
    "success",
    "denial",
    "prefetch",
    "serve_stale",
    "servfail",
    "disable",
    "keepttl",
];
use crate::contract::{Args, Describe, Outcome, SetupContext, SetupError, SetupResult};

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

fn ttl(args: &Args<'_>, t: &Token, min: u32) -> Result<u32, SetupError> {
    args.u32_in(t, min, MAX_TTL)
}

/// `success|denial CAPACITY [TTL] [MINTTL]`.
fn kind(mut prop: Args<'_>, into: &mut KindConfig) -> Result<(), SetupError> {
    prop.at_most(3, "CAPACITY [TTL] [MINTTL]")?;
    let capacity = prop.next_u32("CAPACITY [TTL] [MINTTL]", 1, MAX_CAPACITY)?;
    into.capacity = usize::try_from(capacity)
        .unwrap_or(usize::MAX)
        .max(MIN_CAPACITY);
    if let Some(t) = prop.next() {
        into.max_ttl = ttl(&prop, t, 1)?;
        into.min_ttl = into.min_ttl.min(into.max_ttl);
    }
    if let Some(t) = prop.next() {
        into.min_ttl = ttl(&prop, t, 0)?;
        if into.min_ttl > into.max_ttl {
            return Err(prop.error(
                t,
                format!(
                    "{}: MINTTL {} is above TTL {}",
                    prop.name(),
                    into.min_ttl,
                    into.max_ttl
                ),
            ));
        }
    }
    Ok(())
}

/// `prefetch AMOUNT [[DURATION] [PERCENTAGE%]]`.
fn prefetch(mut prop: Args<'_>) -> Result<Prefetch, SetupError> {
    const SYNTAX: &str = "AMOUNT [[DURATION] [PERCENTAGE%]]";
    let mut p = Prefetch {
        amount: prop.next_u32(SYNTAX, 1, u32::MAX)?,
        window: Duration::from_secs(60),
        percentage: 10,
    };
    if let Some(t) = prop.next_if(|t| !t.ends_with('%')) {
        p.window = prop.duration(t)?;
        if p.window.is_zero() {
            return Err(prop.error(t, "prefetch DURATION must be above 0"));
        }
    }
    if let Some(t) = prop.next() {
        let pct = t
            .text
            .strip_suffix('%')
            .and_then(|n| n.parse::<u8>().ok())
            .filter(|n| *n <= 100);
        p.percentage = pct.ok_or_else(|| {
            prop.error(
                t,
                format!(
                    "prefetch: expected a percentage like 10%, found {:?}",
                    t.text
                ),
            )
        })?;
    }
    prop.at_most(0, SYNTAX)?;
    Ok(p)
}

/// `serve_stale [DURATION] [immediate|verify]`.
fn serve_stale(mut prop: Args<'_>) -> Result<ServeStale, SetupError> {
    let mut s = ServeStale {
        window: Duration::from_secs(3600),
        verify: false,
    };
    if let Some(t) = prop.next_if(|t| !matches!(t, "immediate" | "verify")) {
        s.window = prop.duration(t)?;
    }
    if let Some(t) = prop.next() {
        s.verify = match t.text.as_str() {
            "immediate" => false,
            "verify" => true,
            other => {
                return Err(prop.error(
                    t,
                    format!("serve_stale: expected immediate or verify, found {other:?}"),
                ));
            }
        };
    }
    if let Some(extra) = prop.peek() {
        return Err(prop.error(
            extra,
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
    let mut args = Args::new(d);
    if let Some(first) = args.next_if(|t| t.bytes().all(|b| b.is_ascii_digit() || b == b'-')) {
        let t = ttl(&args, first, 1)?;
        config.success.max_ttl = t;
        config.denial.max_ttl = t;
        // A cap below the floor lowers the floor with it.
        config.success.min_ttl = config.success.min_ttl.min(t);
        config.denial.min_ttl = config.denial.min_ttl.min(t);
    }
    config.zones = args.zones_or(ctx.block_zones)?;
    for mut prop in args.block() {
        match prop.leaf()? {
            "success" => kind(prop, &mut config.success)?,
            "denial" => kind(prop, &mut config.denial)?,
            "prefetch" => config.prefetch = Some(prefetch(prop)?),
            "serve_stale" => config.serve_stale = Some(serve_stale(prop)?),
            "servfail" => {
                let t = prop.one()?;
                let servfail = prop.duration(t)?;
                if servfail > MAX_SERVFAIL {
                    return Err(prop.error(t, format!("servfail: at most 5m, found {:?}", t.text)));
                }
                config.servfail = servfail;
            }
            "disable" => {
                let what = prop.expect("success or denial [ZONES...]")?;
                let listed = prop.zones_or(&config.zones)?;
                match what.text.as_str() {
                    "success" => config.disable_success.extend(listed),
                    "denial" => config.disable_denial.extend(listed),
                    other => {
                        return Err(prop.error(
                            what,
                            format!("disable: expected success or denial, found {other:?}"),
                        ));
                    }
                }
            }
            "keepttl" => {
                prop.at_most(0, "no argument")?;
                config.keepttl = true;
            }
            name @ "serve_stale_policy" => {
                return Err(prop.error_at_name(format!(
                    "option {name:?} is not implemented by rollcall yet"
                )));
            }
            _ => return Err(prop.unknown_property_of(PROPERTIES)),
        }
    }
    Ok(config)
}

/// The plan line `rollcall check` prints.
pub fn describe(c: &Config) -> String {
    Describe::new()
        .part(format!("zones {}", c.zones.join(" ")))
        .part(format!(
            "success {} ttl {}..{}",
            c.success.capacity, c.success.min_ttl, c.success.max_ttl
        ))
        .part(format!(
            "denial {} ttl {}..{}",
            c.denial.capacity, c.denial.min_ttl, c.denial.max_ttl
        ))
        .part(format!("servfail {:?}", c.servfail))
        .maybe(c.prefetch.map(|p| {
            format!(
                "prefetch {} within {:?} below {}%",
                p.amount, p.window, p.percentage
            )
        }))
        .maybe(c.serve_stale.map(|s| {
            let mode = if s.verify { "verify" } else { "immediate" };
            format!("serve_stale {:?} {mode}", s.window)
        }))
        .maybe(listed("disable success", &c.disable_success))
        .maybe(listed("disable denial", &c.disable_denial))
        .flag(c.keepttl, "keepttl")
        .finish()
}

/// `WHAT ZONES...`, or nothing when there are no zones.
fn listed(what: &str, zones: &[String]) -> Option<String> {
    (!zones.is_empty()).then(|| format!("{what} {}", zones.join(" ")))
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
