//! Corefile AST → a typed [`Setup`]: server blocks with their zones, listen addresses and
//! plugin chains in the fixed order of [`crate::plugin::order`], plus the start hooks
//! (sources, HTTP listeners) to run once serving begins. All validation happens here, before
//! anything binds a socket, so `rollcall check` and `rollcall serve` report the same errors.

pub mod args;
pub mod keys;

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use corefile::{Corefile, Directive, Span};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::plugin::Plugin;
use crate::plugin::loop_detect::ForwardingLoop;
use crate::plugin::order::{self, DirectiveSetup};

/// A setup failure with the position of the offending token.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{span}: {directive}: {message}")]
pub struct SetupError {
    pub span: Span,
    pub directive: String,
    pub message: String,
}

impl SetupError {
    pub fn new(span: &Span, directive: &str, message: impl Into<String>) -> Self {
        SetupError {
            span: span.clone(),
            directive: directive.to_string(),
            message: message.into(),
        }
    }
}

/// Runs when serving starts (never under `check`): spawns a source or binds a listener.
pub type StartHook = Box<dyn FnOnce(&StartContext) -> Result<(), String> + Send>;

pub struct StartContext {
    /// Cancelled when this configuration stops: at shutdown, or after a reload swapped in the next.
    pub shutdown: CancellationToken,
    /// Every plugin's readiness check in this configuration.
    pub readiness: Vec<(String, ReadinessCheck)>,
    /// What `/ready` reports: the checks of the configuration that is answering. A reload swaps
    /// the new configuration's checks in only once it answers, so `/ready` never flaps.
    pub live_readiness: Arc<ArcSwap<Vec<(String, ReadinessCheck)>>>,
    /// Set while `health`'s lameduck drains the server: `/ready` answers 503.
    pub draining: Arc<std::sync::atomic::AtomicBool>,
    /// Listeners a hook bound besides DNS (e.g. the Eureka HTTP API), as (directive, address):
    /// with port 0 in a Corefile this is how the real port is found.
    pub bound: std::sync::Mutex<Vec<(&'static str, SocketAddr)>>,
    /// DNS listen addresses as configured → as bound (port 0 resolved), for plugins that query
    /// their own server (`loop`).
    pub dns_addrs: Vec<(SocketAddr, SocketAddr)>,
    /// Cancelled once this configuration answers DNS: at once on a first start, after the swap
    /// on a reload (the hooks run while the previous configuration still answers). A plugin
    /// that queries its own server (`loop`) waits for it, or it would test the old chain.
    pub answering: CancellationToken,
    sockets: std::sync::Mutex<SocketPool>,
}

/// TCP listeners of plugins (probes, Eureka, metrics) by configured address. A reload hands the
/// previous configuration's listeners to the next one, so a port both need never closes.
#[derive(Default)]
struct SocketPool {
    inherited: Vec<PoolEntry>,
    claimed: Vec<PoolEntry>,
    inherited_state: Vec<StateEntry>,
    kept_state: Vec<StateEntry>,
}

/// What one configuration hands to the next on a reload: its plugins' TCP listeners and the
/// state plugins chose to carry over (see [`StartContext::hand_over`]).
#[derive(Clone, Default)]
pub struct HandOver {
    pub(crate) sockets: Vec<PoolEntry>,
    pub(crate) state: Vec<StateEntry>,
}

/// (key, value) of plugin state carried across a reload.
type StateEntry = (String, Arc<dyn std::any::Any + Send + Sync>);

/// A plugin's TCP listener, shared across a reload by configured address.
pub type SharedListener = Arc<TcpListener>;

/// (directive, configured address, listener).
pub type PoolEntry = (&'static str, SocketAddr, SharedListener);

impl StartContext {
    /// The context of a configuration with no predecessor, answering from the start (so
    /// [`Self::answering`] is already cancelled).
    pub fn new(shutdown: CancellationToken, readiness: Vec<(String, ReadinessCheck)>) -> Self {
        let live = Arc::new(ArcSwap::from_pointee(readiness.clone()));
        let ctx = StartContext::next(
            shutdown,
            readiness,
            live,
            Arc::new(std::sync::atomic::AtomicBool::new(false)),
            HandOver::default(),
        );
        ctx.answering.cancel();
        ctx
    }

    /// The context of a configuration that follows another: the process-wide probe state, and
    /// what the previous configuration hands over (see [`StartContext::tcp_listener`] and
    /// [`StartContext::hand_over`]).
    pub(crate) fn next(
        shutdown: CancellationToken,
        readiness: Vec<(String, ReadinessCheck)>,
        live_readiness: Arc<ArcSwap<Vec<(String, ReadinessCheck)>>>,
        draining: Arc<std::sync::atomic::AtomicBool>,
        inherited: HandOver,
    ) -> Self {
        StartContext {
            dns_addrs: Vec::new(),
            answering: CancellationToken::new(),
            shutdown,
            readiness,
            live_readiness,
            draining,
            bound: std::sync::Mutex::new(Vec::new()),
            sockets: std::sync::Mutex::new(SocketPool {
                inherited: inherited.sockets,
                claimed: Vec::new(),
                inherited_state: inherited.state,
                kept_state: Vec::new(),
            }),
        }
    }

    pub fn record_bound(&self, what: &'static str, addr: SocketAddr) {
        match self.bound.lock() {
            Ok(mut list) => list.push((what, addr)),
            Err(poisoned) => poisoned.into_inner().push((what, addr)),
        }
    }

    /// A listening TCP socket for a plugin's server at `addr` (as configured; port 0 allowed).
    /// After a reload this is the previous configuration's socket for the same address when it
    /// had one: both accept on it until the old configuration stops, so no connection is refused
    /// and no bind races the old listener. Records the bound address for [`Self::bound`].
    pub fn tcp_listener(
        &self,
        what: &'static str,
        addr: SocketAddr,
    ) -> Result<SharedListener, String> {
        let mut pool = self
            .sockets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // The same directive's socket first (two `:0` listeners must not trade ports), else any
        // directive's on that exact address (a port that moved from one plugin to another).
        let found = pool
            .inherited
            .iter()
            .position(|(w, a, _)| *w == what && *a == addr)
            .or_else(|| {
                (addr.port() != 0)
                    .then(|| pool.inherited.iter().position(|(_, a, _)| *a == addr))
                    .flatten()
            });
        let listener = match found {
            Some(i) => pool.inherited.remove(i).2,
            None => {
                let std_listener = std::net::TcpListener::bind(addr)
                    .map_err(|e| format!("{what}: cannot listen on {addr}: {e}"))?;
                std_listener
                    .set_nonblocking(true)
                    .map_err(|e| format!("{what}: {e}"))?;
                Arc::new(TcpListener::from_std(std_listener).map_err(|e| format!("{what}: {e}"))?)
            }
        };
        pool.claimed.push((what, addr, Arc::clone(&listener)));
        drop(pool);
        let bound = listener.local_addr().map_err(|e| format!("{what}: {e}"))?;
        self.record_bound(what, bound);
        Ok(listener)
    }

    /// Offer `value` under `key` to the configuration that follows this one (a reload), and take
    /// what the previous configuration offered under the same key, if it was a `T`. State a
    /// plugin must not lose on a reload (the Eureka registrations) goes through here.
    pub fn hand_over<T: std::any::Any + Send + Sync>(
        &self,
        key: &str,
        value: Arc<T>,
    ) -> Option<Arc<T>> {
        let mut pool = self
            .sockets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        pool.kept_state.push((key.to_string(), value));
        let i = pool.inherited_state.iter().position(|(k, _)| k == key)?;
        let (_, previous) = pool.inherited_state.remove(i);
        previous.downcast::<T>().ok()
    }

    /// (listeners bound, by directive; what this configuration hands to the next one).
    pub(crate) fn finish(self) -> (Vec<(&'static str, SocketAddr)>, HandOver) {
        let bound = self
            .bound
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let pool = self
            .sockets
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let hand_over = HandOver {
            sockets: pool.claimed,
            state: pool.kept_state,
        };
        (bound, hand_over)
    }
}

/// Reports whether one plugin is ready to serve (for `ready` and logs).
pub type ReadinessCheck = Arc<dyn Fn() -> bool + Send + Sync>;

/// The names of the checks that do not pass yet (for `/ready` and the reload's wait).
pub fn not_ready(checks: &[(String, ReadinessCheck)]) -> Vec<&str> {
    checks
        .iter()
        .filter(|(_, ready)| !ready())
        .map(|(name, _)| name.as_str())
        .collect()
}

/// What a directive's setup may add to its server block besides a plugin.
pub struct SetupContext<'a> {
    /// The block's zones, lower-case with trailing dot.
    pub block_zones: &'a [String],
    /// The block's port (from its keys, or the default).
    pub port: u16,
    /// Directory of the Corefile: relative paths in directives resolve against it.
    pub base_dir: &'a Path,
    /// Addresses set by `bind`.
    pub bind: &'a mut Vec<IpAddr>,
    pub hooks: &'a mut Vec<StartHook>,
    pub readiness: &'a mut Vec<(String, ReadinessCheck)>,
    /// How long shutdown keeps serving after a signal (`health { lameduck D }`).
    pub lameduck: &'a mut std::time::Duration,
    /// What `check` prints for a directive that configures the block instead of joining the chain.
    pub option_detail: &'a mut Option<String>,
    /// `reload`: how often to check the Corefile (process-wide; the first block's wins).
    pub reload: &'a mut Option<crate::plugin::reload::ReloadConfig>,
    /// How long a reload waits for the new sources to sync before swapping (the longest
    /// `startup_timeout`).
    pub startup_wait: &'a mut std::time::Duration,
    /// The setup's metrics: plugins [`register`](crate::metrics::Registry::register) a
    /// [`MetricsSource`](crate::metrics::MetricsSource) here.
    pub metrics: &'a Arc<crate::metrics::Registry>,
    /// Set by `prometheus`: count this block's queries.
    pub block_metrics: &'a mut bool,
    /// Plugins of this block that others in it may need (set by their setup).
    pub block_plugins: &'a mut BlockPlugins,
    /// Wiring run once every directive of the block is set up (see [`BlockLink`]).
    pub block_links: &'a mut Vec<BlockLink>,
    /// This block's forwarding-loop switch: `loop` sets it when its probe comes back, `forward`
    /// then answers SERVFAIL without forwarding. One per block, so a loop found in one block
    /// leaves the others forwarding.
    pub forwarding_loop: &'a Arc<ForwardingLoop>,
    /// How the dispatcher treats this block's queries (`bufsize`, `chaos`).
    pub options: &'a mut BlockOptions,
}

/// Per-block settings the dispatcher applies before and after the chain runs, read from the
/// route the dispatcher already picked, so honouring them costs no allocation per query (but
/// for the NSID a client asks for).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockOptions {
    /// The EDNS UDP payload size the block advertises and the most it sends over UDP
    /// (`bufsize`; default [`EDNS_PAYLOAD`](crate::server::dispatch::EDNS_PAYLOAD)).
    pub payload: u16,
    /// CH-class queries enter the chain (`chaos`); otherwise every class but IN is refused.
    pub chaos: bool,
    /// The name server identifier answered to queries that ask for it (`nsid`, RFC 5001).
    pub nsid: Option<Vec<u8>>,
}

impl Default for BlockOptions {
    fn default() -> Self {
        BlockOptions {
            payload: crate::server::dispatch::EDNS_PAYLOAD,
            chaos: false,
            nsid: None,
        }
    }
}

/// Plugins a server block's other plugins may refer to. A directive early in the chain can
/// need one later in it (`autopath @kubernetes`), so such references are resolved by a
/// [`BlockLink`] after the whole block is set up.
#[derive(Default)]
pub struct BlockPlugins {
    pub kubernetes: Option<Arc<crate::plugin::kubernetes::Kubernetes>>,
}

/// Connects a plugin to another of its block once the block is complete; an error names the
/// directive that asked.
pub type BlockLink = Box<dyn FnOnce(&BlockPlugins) -> Result<(), SetupError>>;

impl SetupContext<'_> {
    /// The `server` label of this block's metrics (`dns://:53`; the first `bind` address, as
    /// far as the block has set it up).
    pub fn server_label(&self) -> String {
        let ip = self
            .bind
            .first()
            .copied()
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        crate::metrics::server_label(SocketAddr::new(ip, self.port))
    }

    pub fn resolve_path(&self, path: &str) -> PathBuf {
        let p = Path::new(path);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base_dir.join(p)
        }
    }
}

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
    pub options: BlockOptions,
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
    pub lameduck: std::time::Duration,
    /// `reload`, if any block has it.
    pub reload: Option<crate::plugin::reload::ReloadConfig>,
    /// The longest time this setup's sources may take to sync (a reload waits this long at most).
    pub startup_wait: std::time::Duration,
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
    let mut setup = Setup {
        blocks: Vec::new(),
        hooks: Vec::new(),
        readiness: Vec::new(),
        lameduck: std::time::Duration::ZERO,
        reload: None,
        startup_wait: std::time::Duration::ZERO,
        metrics: Arc::new(crate::metrics::Registry::new()),
    };
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
                Err(message) => errors.push(SetupError::new(&key.span, "server block", message)),
            }
        }
        let mut bind = Vec::new();
        let mut block_metrics = false;
        let mut block_plugins = BlockPlugins::default();
        let mut block_links = Vec::new();
        let forwarding_loop = Arc::new(ForwardingLoop::new());
        let mut options = BlockOptions::default();
        let mut chain = Vec::new();
        let mut described = Vec::new();
        let mut directives: Vec<&Directive> = block.directives.iter().collect();
        directives.sort_by_key(|d| order::position(d.name()).unwrap_or(usize::MAX));
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
            let Some(spec) = order::lookup(name) else {
                for d in occurrences {
                    errors.push(SetupError::new(&d.span, name, "unknown directive"));
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
            let mut option_detail = None;
            let mut ctx = SetupContext {
                block_zones: &zones,
                port: port.unwrap_or(default_port),
                base_dir,
                bind: &mut bind,
                hooks: &mut setup.hooks,
                readiness: &mut setup.readiness,
                lameduck: &mut setup.lameduck,
                option_detail: &mut option_detail,
                reload: &mut setup.reload,
                startup_wait: &mut setup.startup_wait,
                metrics: &setup.metrics,
                block_metrics: &mut block_metrics,
                block_plugins: &mut block_plugins,
                block_links: &mut block_links,
                forwarding_loop: &forwarding_loop,
                options: &mut options,
            };
            let result = match spec.setup {
                DirectiveSetup::Implemented(setup_fn) => setup_fn(&mut ctx, directive),
                DirectiveSetup::Repeatable(setup_fn) => setup_fn(&mut ctx, occurrences),
                DirectiveSetup::NotYet => continue,
            };
            match result {
                Ok(Some((plugin, detail))) => {
                    described.push((name.to_string(), detail));
                    chain.push(plugin);
                }
                Ok(None) => described.push((
                    name.to_string(),
                    option_detail.unwrap_or_else(|| "(server block option)".into()),
                )),
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
        for link in block_links {
            if let Err(e) = link(&block_plugins) {
                errors.push(e);
            }
        }
        if bind.is_empty() {
            bind.push(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        }
        setup.blocks.push(BlockPlan {
            keys: block.keys.iter().map(|k| k.text.clone()).collect(),
            span: block.span.clone(),
            zones,
            port: port.unwrap_or(default_port),
            bind,
            chain,
            described,
            metrics: block_metrics,
            options,
        });
    }
    if setup.blocks.is_empty() {
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
    if errors.is_empty() {
        Ok(setup)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests;
