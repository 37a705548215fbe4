//! What a plugin may do once serving starts (never under `check`): [`StartContext`], handed to
//! the start hooks setup registered ([`SetupContext::on_start`](super::SetupContext::on_start)):
//! spawn a source, bind a listener (kept across a reload by address), carry state to the next
//! configuration, and the readiness checks `/ready` reports.

use std::net::SocketAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Why a start hook failed: the configuration does not start (or a reload is abandoned).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{what}: cannot listen on {addr}: {source}")]
    Listen {
        what: &'static str,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// A plugin's own start failure (its typed error is the source).
    #[error("{what}: {source}")]
    Plugin {
        what: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl StartError {
    pub fn plugin(
        what: &'static str,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        StartError::Plugin {
            what,
            source: Box::new(source),
        }
    }
}

/// Runs when serving starts (never under `check`): spawns a source or binds a listener.
pub type StartHook = Box<dyn FnOnce(&StartContext) -> Result<(), StartError> + Send>;

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
    ) -> Result<SharedListener, StartError> {
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
                let listen = |source| StartError::Listen { what, addr, source };
                let std_listener = std::net::TcpListener::bind(addr).map_err(listen)?;
                std_listener.set_nonblocking(true).map_err(listen)?;
                Arc::new(TcpListener::from_std(std_listener).map_err(listen)?)
            }
        };
        pool.claimed.push((what, addr, Arc::clone(&listener)));
        drop(pool);
        let bound =
            listener
                .local_addr()
                .map_err(|source| StartError::Listen { what, addr, source })?;
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
