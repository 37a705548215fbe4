//! Corefile AST → a typed [`Setup`]: server blocks with their zones, listen addresses and
//! plugin chains in the fixed order of the chain table ([`crate::plugin`]), plus the start
//! hooks (sources, HTTP listeners) to run once serving begins. All validation happens here,
//! before anything binds a socket, so `rollcall check` and `rollcall serve` report the same
//! errors. Setup names no plugin: it runs each directive's setup from the chain table with a
//! [`SetupContext`], and reads what block options said from the block's typed
//! [`Extensions`] ([`Bind`], [`WireOptions`], [`CountQueries`]) and the configuration's
//! ([`Lameduck`], [`StartupWait`], [`ReloadConfig`]).

pub mod keys;

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use corefile::{Corefile, Directive, Span};

use crate::contract::suggest::did_you_mean;
use crate::contract::{
    Bind, CountQueries, DirectiveSetup, Extensions, Lameduck, Outcome, Plugin, ReadinessCheck,
    Registered, ReloadConfig, SetupContext, SetupError, StartHook, StartupWait, WireOptions,
};
use crate::plugin;

pub struct BlockPlan {
    pub keys: Vec<String>,
    pub span: Span,
    pub zones: Vec<String>,
    pub port: u16,
    pub bind: Vec<IpAddr>,
    pub chain: Vec<Arc<dyn Plugin>>,
    /// (directive, one-line description) in chain order, for `rollcall check`.
    pub described: Vec<(String, String)>,
    /// The block has `prometheus`: its queries are counted.
    pub metrics: bool,
    pub options: WireOptions,
}

impl BlockPlan {
    pub fn listen_addrs(&self) -> Vec<SocketAddr> {
        self.bind
            .iter()
            .map(|ip| SocketAddr::new(*ip, self.port))
            .collect()
    }
}

pub struct Setup {
    pub blocks: Vec<BlockPlan>,
    pub hooks: Vec<StartHook>,
    pub readiness: Vec<(String, ReadinessCheck)>,
    pub lameduck: Duration,
    /// `reload`, if any block has it.
    pub reload: Option<ReloadConfig>,
    /// The longest time this setup's sources may take to sync (a reload waits this long at most).
    pub startup_wait: Duration,
    pub metrics: Arc<crate::metrics::Registry>,
}

impl Setup {
    /// Listen address → (zone, block index) routes, longest zone first.
    pub fn listeners(&self) -> BTreeMap<SocketAddr, Vec<(String, usize)>> {
        let mut map: BTreeMap<SocketAddr, Vec<(String, usize)>> = BTreeMap::new();
        for (i, block) in self.blocks.iter().enumerate() {
            for addr in block.listen_addrs() {
                let routes = map.entry(addr).or_default();
                for zone in &block.zones {
                    routes.push((zone.clone(), i));
                }
            }
        }
        for routes in map.values_mut() {
            routes.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(&b.0)));
        }
        map
    }
}

impl fmt::Display for Setup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, block) in self.blocks.iter().enumerate() {
            writeln!(
                f,
                "server block {} ({}): {}",
                i + 1,
                block.span,
                block.keys.join(" ")
            )?;
            let listen: Vec<String> = block
                .listen_addrs()
                .iter()
                .map(|a| format!("{a} (udp+tcp)"))
                .collect();
            writeln!(f, "  listen: {}", listen.join(", "))?;
            writeln!(f, "  zones:  {}", block.zones.join(" "))?;
            writeln!(f, "  chain (execution order):")?;
            for (n, (name, detail)) in block.described.iter().enumerate() {
                if detail.is_empty() {
                    writeln!(f, "    {}. {name}", n + 1)?;
                } else {
                    writeln!(f, "    {}. {name}: {detail}", n + 1)?;
                }
            }
        }
        Ok(())
    }
}

/// Build the whole setup, collecting every error rather than stopping at the first, so
/// `rollcall check` lists all the directives a Corefile needs that rollcall lacks.
pub fn build(
    corefile: &Corefile,
    base_dir: &Path,
    default_port: u16,
) -> Result<Setup, Vec<SetupError>> {
    let mut errors = Vec::new();
    let metrics = Arc::new(crate::metrics::Registry::new());
    let mut registered = Registered::default();
    let mut server = Extensions::new();
    let mut blocks = Vec::new();
    let mut seen_zones: BTreeMap<(u16, String), Span> = BTreeMap::new();
    for block in &corefile.blocks {
        let mut zones = Vec::new();
        let mut port = None;
        for key in &block.keys {
            match keys::parse_key(&key.text, default_port) {
                Ok(parsed) => {
                    if port.is_some_and(|p| p != parsed.port) {
                        errors.push(SetupError::new(
                            &key.span,
                            "server block",
                            "all keys of one server block must use the same port",
                        ));
                    }
                    port = Some(parsed.port);
                    for zone in parsed.zones {
                        if let Some(first) =
                            seen_zones.insert((parsed.port, zone.clone()), key.span.clone())
                        {
                            errors.push(SetupError::new(
                                &key.span,
                                "server block",
                                format!("zone {zone} on port {} is already served by the block at {first}", parsed.port),
                            ));
                        }
                        zones.push(zone);
                    }
                }
                Err(e) => errors.push(SetupError::new(&key.span, "server block", e.to_string())),
            }
        }
        let mut block_ext = Extensions::new();
        let mut links: Vec<Arc<dyn Plugin>> = Vec::new();
        let mut described = Vec::new();
        let mut directives: Vec<&Directive> = block.directives.iter().collect();
        directives.sort_by_key(|d| plugin::position(d.name()).unwrap_or(usize::MAX));
        let mut at = 0;
        while at < directives.len() {
            let directive = directives[at];
            let name = directive.name();
            // Every occurrence of this directive: adjacent, since the sort is stable.
            let same = directives[at..]
                .iter()
                .take_while(|d| d.name() == name)
                .count();
            let occurrences = &directives[at..at + same];
            at += same;
            let Some(spec) = plugin::lookup(name) else {
                for d in occurrences {
                    let hint = did_you_mean(name, plugin::CHAIN.iter().map(|s| s.name));
                    errors.push(SetupError::new(
                        &d.span,
                        name,
                        format!("unknown directive{hint}"),
                    ));
                }
                continue;
            };
            if let DirectiveSetup::NotYet = spec.setup {
                for d in occurrences {
                    errors.push(SetupError::new(
                        &d.span,
                        name,
                        "directive not implemented by rollcall yet (CoreDNS has it)",
                    ));
                }
                continue;
            }
            let mut ctx = SetupContext::new(
                &zones,
                port.unwrap_or(default_port),
                base_dir,
                &metrics,
                &mut block_ext,
                &mut server,
                &mut registered,
            );
            let result = match spec.setup {
                DirectiveSetup::Implemented(setup_fn) => setup_fn(&mut ctx, directive),
                DirectiveSetup::Repeatable(setup_fn) => setup_fn(&mut ctx, occurrences),
                DirectiveSetup::NotYet => continue,
            };
            match result {
                Ok(Outcome::Link(plugin, detail)) => {
                    described.push((name.to_string(), detail));
                    links.push(plugin);
                }
                Ok(Outcome::Configured(detail)) => described.push((name.to_string(), detail)),
                Err(e) => errors.push(e),
            }
            if let (DirectiveSetup::Implemented(_), [first, repeated @ ..]) =
                (spec.setup, occurrences)
            {
                for d in repeated {
                    errors.push(SetupError::new(
                        &d.span,
                        name,
                        format!("given twice in one server block (first at {})", first.span),
                    ));
                }
            }
        }
        for link in std::mem::take(&mut registered.links) {
            if let Err(e) = link(&block_ext) {
                errors.push(e);
            }
        }
        let mut bind = block_ext.remove::<Bind>().unwrap_or_default().0;
        if bind.is_empty() {
            bind.push(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        }
        blocks.push(BlockPlan {
            keys: block.keys.iter().map(|k| k.text.clone()).collect(),
            span: block.span.clone(),
            zones,
            port: port.unwrap_or(default_port),
            bind,
            chain: links,
            described,
            metrics: block_ext.get::<CountQueries>().is_some(),
            options: block_ext.remove::<WireOptions>().unwrap_or_default(),
        });
    }
    if blocks.is_empty() {
        errors.push(SetupError::new(
            &Span {
                file: "Corefile".into(),
                line: 1,
                col: 1,
            },
            "Corefile",
            "no server blocks",
        ));
    }
    // In file order, each once: setups run in chain order, and a shared problem (a port both
    // blocks use) may be found twice.
    errors.sort_by(|a, b| {
        (&*a.span.file, a.span.line, a.span.col).cmp(&(&*b.span.file, b.span.line, b.span.col))
    });
    errors.dedup();
    if errors.is_empty() {
        Ok(Setup {
            blocks,
            hooks: registered.hooks,
            readiness: registered.readiness,
            lameduck: server.get::<Lameduck>().map_or(Duration::ZERO, |l| l.0),
            reload: server.get::<ReloadConfig>().copied(),
            startup_wait: server.get::<StartupWait>().map_or(Duration::ZERO, |w| w.0),
            metrics,
        })
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests;
