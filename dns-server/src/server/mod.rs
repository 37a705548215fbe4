//! Sockets: bind every listen address of a [`Setup`] (UDP and TCP on the same port), run the
//! start hooks, and serve until the shutdown token is cancelled. [`Running::reload`] swaps in a
//! new [`Setup`] while serving ([`reload`] has the Corefile watch and the steps).

pub mod dispatch;
pub mod reload;
mod tcp;
mod udp;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::contract::{HandOver, ReadinessCheck, ReloadConfig, StartContext};
use crate::setup::Setup;
use dispatch::{Chain, Dispatcher, Route};

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("start-up failed: {0}")]
    Start(#[source] crate::contract::StartError),
}

/// A server that is up: its real addresses (port 0 resolved) and its tasks.
pub struct Running {
    /// Listen addresses as configured → as bound.
    pub addrs: Vec<(SocketAddr, SocketAddr)>,
    /// The dispatcher behind each bound address (tests drive it in-process, without sockets).
    pub dispatchers: Vec<(SocketAddr, Arc<Dispatcher>)>,
    pub readiness: Vec<(String, ReadinessCheck)>,
    /// `health { lameduck D }`: keep serving this long after a shutdown signal.
    pub lameduck: std::time::Duration,
    /// Set during the lameduck: `/ready` answers 503.
    pub draining: Arc<std::sync::atomic::AtomicBool>,
    /// Other listeners the plugins bound (directive, address), e.g. the Eureka HTTP API.
    pub other_listeners: Vec<(&'static str, SocketAddr)>,
    /// `reload`: how often to check the Corefile, if the serving one says so.
    pub reload: Option<ReloadConfig>,
    tasks: JoinSet<()>,
    shutdown: CancellationToken,
    udp_workers: usize,
    /// DNS listeners by configured address; they outlive a reload that keeps their address.
    listeners: BTreeMap<SocketAddr, Listener>,
    /// Cancels the serving configuration's start-hook tasks (sources, HTTP servers).
    generation: CancellationToken,
    /// What `/ready` reports (the serving configuration's checks).
    live_readiness: Arc<ArcSwap<Vec<(String, ReadinessCheck)>>>,
    /// What the serving configuration hands to the next: plugin listeners and carried state.
    hand_over: HandOver,
}

/// One DNS listen address: its UDP and TCP loops read the dispatcher from `dispatcher` (a
/// reload stores the new one there) and stop with `stop`.
struct Listener {
    bound: SocketAddr,
    dispatcher: Arc<ArcSwap<Dispatcher>>,
    stop: CancellationToken,
}

impl Running {
    /// The bound address for the first listener (convenient for tests with one block).
    pub fn first_addr(&self) -> Option<SocketAddr> {
        self.addrs.first().map(|(_, bound)| *bound)
    }

    pub fn is_ready(&self) -> bool {
        self.readiness.iter().all(|(_, check)| check())
    }

    /// Wait until every task has stopped (after the shutdown token is cancelled).
    pub async fn wait(mut self) {
        while self.tasks.join_next().await.is_some() {}
    }

    /// Replace the serving configuration with `setup` without a gap in answering (see
    /// [`reload`]). On an error the running configuration is left exactly as it was.
    pub async fn reload(&mut self, setup: Setup) -> Result<(), ServerError> {
        self.apply(setup, true).await
    }

    /// Start `setup` beside whatever serves now, then swap it in: bind the addresses not served
    /// yet, run the start hooks under a new generation token, wait for the new sources to sync
    /// (`reloading` only), store the new dispatchers into the kept listeners, start the new
    /// ones, and only then stop the listeners and the generation that are gone.
    async fn apply(&mut self, setup: Setup, reloading: bool) -> Result<(), ServerError> {
        let dispatchers = dispatchers(&setup);
        let mut fresh = BTreeMap::new();
        for (addr, _) in &dispatchers {
            if !self.listeners.contains_key(addr) {
                // On an error the sockets bound so far are dropped, so closed.
                fresh.insert(*addr, bind_pair(*addr, self.udp_workers.max(1))?);
            }
        }
        let generation = self.shutdown.child_token();
        let mut ctx = StartContext::next(
            generation.clone(),
            setup.readiness.clone(),
            Arc::clone(&self.live_readiness),
            Arc::clone(&self.draining),
            self.hand_over.clone(),
        );
        ctx.dns_addrs = dispatchers
            .iter()
            .filter_map(|(addr, _)| {
                let bound = match self.listeners.get(addr) {
                    Some(kept) => kept.bound,
                    None => fresh.get(addr).map(|(_, _, bound)| *bound)?,
                };
                Some((*addr, bound))
            })
            .collect();
        for hook in setup.hooks {
            if let Err(error) = hook(&ctx) {
                generation.cancel();
                return Err(ServerError::Start(error));
            }
        }
        let answering = ctx.answering.clone();
        let (other_listeners, hand_over) = ctx.finish();
        if reloading {
            reload::wait_until_ready(&setup.readiness, setup.startup_wait, &self.shutdown).await;
        }

        // The swap. From here nothing fails.
        self.live_readiness.store(Arc::new(setup.readiness.clone()));
        let mut listeners = BTreeMap::new();
        let mut addrs = Vec::new();
        let mut bound_dispatchers = Vec::new();
        for (addr, dispatcher) in dispatchers {
            let listener = if let Some(kept) = self.listeners.remove(&addr) {
                kept.dispatcher.store(Arc::clone(&dispatcher));
                kept
            } else if let Some((udp, tcp, bound)) = fresh.remove(&addr) {
                self.serve(udp, tcp, bound, Arc::clone(&dispatcher))
            } else {
                continue; // every new address was bound above
            };
            addrs.push((addr, listener.bound));
            bound_dispatchers.push((listener.bound, dispatcher));
            listeners.insert(addr, listener);
        }
        for (_, gone) in std::mem::replace(&mut self.listeners, listeners) {
            tracing::info!(listen = %gone.bound, "no longer serving DNS there");
            gone.stop.cancel();
        }
        std::mem::replace(&mut self.generation, generation).cancel();
        while self.tasks.try_join_next().is_some() {}
        self.addrs = addrs;
        self.dispatchers = bound_dispatchers;
        self.readiness = setup.readiness;
        self.lameduck = setup.lameduck;
        self.other_listeners = other_listeners;
        self.reload = setup.reload;
        self.hand_over = hand_over;
        answering.cancel();
        Ok(())
    }

    fn serve(
        &mut self,
        udp: Vec<UdpSocket>,
        tcp: TcpListener,
        bound: SocketAddr,
        dispatcher: Arc<Dispatcher>,
    ) -> Listener {
        let dispatcher = Arc::new(ArcSwap::new(dispatcher));
        let stop = self.shutdown.child_token();
        for socket in udp {
            self.tasks.spawn(udp::serve(
                Arc::new(socket),
                Arc::clone(&dispatcher),
                stop.clone(),
            ));
        }
        self.tasks
            .spawn(tcp::serve(tcp, Arc::clone(&dispatcher), stop.clone()));
        tracing::info!(listen = %bound, "serving DNS over UDP and TCP");
        Listener {
            bound,
            dispatcher,
            stop,
        }
    }
}

/// Bind, start the sources, and serve. `udp_workers` sockets share each UDP port
/// (SO_REUSEPORT), so the kernel spreads queries over that many receive loops.
pub async fn start(
    setup: Setup,
    shutdown: CancellationToken,
    udp_workers: usize,
) -> Result<Running, ServerError> {
    let mut running = Running {
        addrs: Vec::new(),
        dispatchers: Vec::new(),
        readiness: Vec::new(),
        lameduck: std::time::Duration::ZERO,
        draining: Arc::new(std::sync::atomic::AtomicBool::new(false)),
        other_listeners: Vec::new(),
        reload: None,
        tasks: JoinSet::new(),
        generation: shutdown.child_token(),
        shutdown,
        udp_workers,
        listeners: BTreeMap::new(),
        live_readiness: Arc::new(ArcSwap::from_pointee(Vec::new())),
        hand_over: HandOver::default(),
    };
    running.apply(setup, false).await?;
    Ok(running)
}

/// One dispatcher per listen address, routing to the blocks bound there. Routes of blocks with
/// `prometheus` get their counters here (label sets resolved once); when any block has it,
/// queries matching no zone are counted under zone "dropped", as CoreDNS does.
pub fn dispatchers(setup: &Setup) -> Vec<(SocketAddr, Arc<Dispatcher>)> {
    let chains: Vec<Chain> = setup
        .blocks
        .iter()
        .map(|b| b.chain.clone().into())
        .collect();
    let any_metrics = setup.blocks.iter().any(|b| b.metrics);
    setup
        .listeners()
        .into_iter()
        .map(|(addr, routes)| {
            let server = crate::metrics::server_label(addr);
            let routes = routes
                .into_iter()
                .map(|(zone, i)| {
                    let block = &setup.blocks[i];
                    let metrics = block.metrics.then(|| {
                        let names: Vec<&'static str> =
                            block.chain.iter().map(|p| p.name()).collect();
                        let directives: Vec<String> =
                            block.described.iter().map(|(n, _)| n.clone()).collect();
                        setup.metrics.zone(&server, &zone, &names, &directives)
                    });
                    Route {
                        zone,
                        chain: Arc::clone(&chains[i]),
                        metrics,
                        options: block.options.clone(),
                    }
                })
                .collect();
            let dropped = any_metrics.then(|| setup.metrics.zone(&server, "dropped", &[], &[]));
            (addr, Arc::new(Dispatcher::with_metrics(routes, dropped)))
        })
        .collect()
}

/// UDP and TCP on one port. With port 0 the UDP port is picked first and TCP takes the same.
fn bind_pair(
    addr: SocketAddr,
    udp_workers: usize,
) -> Result<(Vec<UdpSocket>, TcpListener, SocketAddr), ServerError> {
    let err = |source| ServerError::Bind { addr, source };
    let mut last_error = None;
    for _ in 0..20 {
        let first = udp_socket(addr).map_err(err)?;
        let port_addr = first.local_addr().map_err(err)?;
        let tcp = match tcp_listener(port_addr) {
            Ok(tcp) => tcp,
            Err(e) if addr.port() == 0 => {
                last_error = Some(e);
                continue;
            }
            Err(e) => return Err(err(e)),
        };
        let mut udp = vec![first];
        for _ in 1..udp_workers {
            udp.push(udp_socket(port_addr).map_err(err)?);
        }
        let bound = tcp.local_addr().map_err(err)?;
        return Ok((udp, tcp, bound));
    }
    Err(err(
        last_error.unwrap_or_else(|| std::io::Error::other("no free port"))
    ))
}

fn udp_socket(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_port(true)?;
    // A deep receive queue rides out bursts instead of dropping them.
    let _ = socket.set_recv_buffer_size(8 << 20);
    let _ = socket.set_send_buffer_size(8 << 20);
    if addr.is_ipv6() {
        let _ = socket.set_only_v6(false);
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

fn tcp_listener(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        let _ = socket.set_only_v6(false);
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    TcpListener::from_std(socket.into())
}
