//! `hosts` stanza → the plugin with its first table, and the reload task's start hook; see the
//! module doc for the syntax and defaults.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use corefile::Directive;

use super::table::{self, Loader, Outcome};
use super::{Hosts, HostsMetrics, NAME};
use crate::contract::{SetupContext, SetupError, SetupResult, args};

const DEFAULT_FILE: &str = "/etc/hosts";
const DEFAULT_TTL: u32 = 3600;
const MAX_TTL: u32 = 65_535;
const DEFAULT_RELOAD: Duration = Duration::from_secs(5);

struct Config {
    path: PathBuf,
    zones: Vec<String>,
    ttl: u32,
    reload: Duration,
    reverse: bool,
    fallthrough: Option<Vec<String>>,
    inline: Vec<table::Entry>,
}

fn parse(ctx: &SetupContext<'_>, d: &Directive) -> Result<Config, SetupError> {
    let (path_token, zone_tokens) = match d.args.split_first() {
        Some((path, zones)) => (Some(path), zones),
        None => (None, &[][..]),
    };
    let mut config = Config {
        path: path_token.map_or_else(
            || PathBuf::from(DEFAULT_FILE),
            |t| ctx.resolve_path(&t.text),
        ),
        zones: if zone_tokens.is_empty() {
            ctx.block_zones.to_vec()
        } else {
            args::zones(zone_tokens, NAME)?
        },
        ttl: DEFAULT_TTL,
        reload: DEFAULT_RELOAD,
        reverse: true,
        fallthrough: None,
        inline: Vec::new(),
    };
    for prop in d.block.iter().flatten() {
        let name = args::leaf_property(prop, NAME)?;
        match name {
            "ttl" => {
                let t = args::exactly_one(prop, NAME)?;
                config.ttl = args::parse_u32(t, NAME, 1, MAX_TTL)?;
            }
            "reload" => {
                let t = args::exactly_one(prop, NAME)?;
                config.reload = args::parse_duration(t, NAME)?;
            }
            "no_reverse" => {
                if let Some(extra) = prop.args.first() {
                    return Err(args::err(
                        extra,
                        NAME,
                        format!("no_reverse takes no argument, found {:?}", extra.text),
                    ));
                }
                config.reverse = false;
            }
            "fallthrough" => config.fallthrough = Some(args::zones(&prop.args, NAME)?),
            _ if table::parse_ip(name).is_some() => {
                // CoreDNS reads every line after `fallthrough` as a property, never an entry.
                if config.fallthrough.is_some() {
                    return Err(args::err(
                        &prop.name,
                        NAME,
                        "inline entries must come before fallthrough",
                    ));
                }
                let fields = std::iter::once(name).chain(prop.args.iter().map(|t| t.text.as_str()));
                if !table::parse_fields(fields, &config.zones, &mut config.inline) {
                    // CoreDNS skips what does not parse without a word; say where it was.
                    tracing::warn!(
                        "{}: hosts: inline entry without a name or with a name that is not a domain name: skipped in part",
                        prop.span
                    );
                }
            }
            _ => {
                return Err(args::err(
                    &prop.name,
                    NAME,
                    format!(
                        "unknown property {name:?} (an inline entry starts with an IP address)"
                    ),
                ));
            }
        }
    }
    Ok(config)
}

/// The plan line `rollcall check` prints.
fn describe(c: &Config) -> String {
    let mut parts = vec![
        format!("file {}", c.path.display()),
        format!("zones {}", c.zones.join(" ")),
        format!("ttl {}", c.ttl),
    ];
    if c.reload.is_zero() {
        parts.push("reload off".into());
    } else {
        parts.push(format!("reload {:?}", c.reload));
    }
    if !c.inline.is_empty() {
        parts.push(format!("inline entries {}", c.inline.len()));
    }
    if !c.reverse {
        parts.push("no_reverse".into());
    }
    match &c.fallthrough {
        Some(z) if z.is_empty() => parts.push("fallthrough (all zones)".into()),
        Some(z) => parts.push(format!("fallthrough {}", z.join(" "))),
        None => {}
    }
    parts.join("; ")
}

pub fn setup(ctx: &mut SetupContext<'_>, d: &Directive) -> SetupResult {
    let config = parse(ctx, d)?;
    let detail = describe(&config);
    let Config {
        path,
        zones,
        ttl,
        reload,
        reverse,
        fallthrough,
        inline,
    } = config;
    // As CoreDNS: a missing file (or a directory) is only worth a warning, since it may appear
    // later (a ConfigMap mounted after start); any other failure to look at it is an error.
    let mut warned = false;
    match std::fs::metadata(&path) {
        Ok(meta) if meta.is_dir() => {
            tracing::warn!("hosts: {} is a directory", path.display());
            warned = true;
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            tracing::warn!("hosts: file does not exist: {}", path.display());
            warned = true;
        }
        Err(e) => {
            let at = d.args.first().unwrap_or(&d.name);
            return Err(args::err(
                at,
                NAME,
                format!("unable to access hosts file {}: {e}", path.display()),
            ));
        }
    }
    let loader = Arc::new(Loader::new(path, zones.clone(), inline, reverse));
    let (first, stamp) = match loader.load(None) {
        Outcome::Loaded {
            table,
            stamp,
            skipped,
        } => {
            tracing::info!(
                path = %loader.path.display(),
                entries = table.entries(),
                skipped_lines = skipped,
                "hosts: file loaded"
            );
            (table, Some(stamp))
        }
        Outcome::Unreadable(e) => {
            if !warned {
                tracing::warn!("hosts: cannot read {}: {e}", loader.path.display());
            }
            (loader.inline_only(), None)
        }
        Outcome::Unchanged => (loader.inline_only(), None),
    };
    let table = Arc::new(ArcSwap::from_pointee(first));
    ctx.metrics.shared::<HostsMetrics>().add(Arc::clone(&table));
    if !reload.is_zero() {
        let table = Arc::clone(&table);
        ctx.on_start(move |start| {
            tokio::spawn(table::watch(
                loader,
                table,
                stamp,
                reload,
                start.shutdown.clone(),
            ));
            Ok(())
        });
    }
    let plugin = Hosts {
        zones,
        ttl,
        fallthrough,
        table,
    };
    Ok(crate::contract::Outcome::Link(Arc::new(plugin), detail))
}
