//! `hosts` stanza → the plugin with its first table, and the reload task's start hook; see the
//! module doc for the syntax and defaults.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use corefile::Directive;

use super::table::{self, Loader, Outcome};
use super::{Hosts, HostsMetrics};
use crate::contract::{Args, Describe, Fallthrough, SetupContext, SetupError, SetupResult};

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
    fallthrough: Fallthrough,
    inline: Vec<table::Entry>,
}

/// `hosts [FILE [ZONES...]] { ... }`.
fn parse(ctx: &SetupContext<'_>, d: &Directive) -> Result<Config, SetupError> {
    let mut args = Args::new(d);
    let path = args.next().map_or_else(
        || PathBuf::from(DEFAULT_FILE),
        |file| ctx.resolve_path(&file.text),
    );
    let mut config = Config {
        path,
        zones: args.zones_or(ctx.block_zones)?,
        ttl: DEFAULT_TTL,
        reload: DEFAULT_RELOAD,
        reverse: true,
        fallthrough: Fallthrough::Never,
        inline: Vec::new(),
    };
    for mut prop in args.block() {
        match prop.leaf()? {
            "ttl" => config.ttl = prop.one_u32(1, MAX_TTL)?,
            "reload" => config.reload = prop.one_duration()?,
            "no_reverse" => {
                prop.at_most(0, "no argument")?;
                config.reverse = false;
            }
            "fallthrough" => config.fallthrough = Fallthrough::parse(&mut prop)?,
            ip if table::parse_ip(ip).is_some() => {
                // CoreDNS reads every line after `fallthrough` as a property, never an entry.
                if config.fallthrough != Fallthrough::Never {
                    return Err(prop.error_at_name("inline entries must come before fallthrough"));
                }
                let names = prop.rest().iter().map(|t| t.text.as_str());
                let fields = std::iter::once(ip).chain(names);
                if !table::parse_fields(fields, &config.zones, &mut config.inline) {
                    // CoreDNS skips what does not parse without a word; say where it was.
                    tracing::warn!(
                        "{}: hosts: inline entry without a name or with a name that is not a domain name: skipped in part",
                        prop.name_token().span
                    );
                }
            }
            name => {
                return Err(prop.error_at_name(format!(
                    "unknown property {name:?} (an inline entry starts with an IP address)"
                )));
            }
        }
    }
    Ok(config)
}

/// The plan line `rollcall check` prints.
fn describe(c: &Config) -> String {
    Describe::new()
        .part(format!("file {}", c.path.display()))
        .part(format!("zones {}", c.zones.join(" ")))
        .part(format!("ttl {}", c.ttl))
        .part(if c.reload.is_zero() {
            "reload off".into()
        } else {
            format!("reload {:?}", c.reload)
        })
        .maybe((!c.inline.is_empty()).then(|| format!("inline entries {}", c.inline.len())))
        .flag(!c.reverse, "no_reverse")
        .maybe(c.fallthrough.describe())
        .finish()
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
            // At FILE, or at the directive when the default file is meant.
            let args = Args::new(d);
            return Err(args.error(
                args.peek().unwrap_or(args.name_token()),
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
