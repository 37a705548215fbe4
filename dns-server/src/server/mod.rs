//! Sockets: bind every listen address of a [`Setup`] (UDP and TCP on the same port), run the
//! start hooks, and serve until the shutdown token is cancelled.

pub mod dispatch;
pub mod http;
pub mod query;
mod tcp;
mod udp;

use std::net::SocketAddr;
use std::sync::Arc;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::{TcpListener, UdpSocket};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::setup::{ReadinessCheck, Setup, StartContext};
use dispatch::{Chain, Dispatcher, Route};

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("start-up failed: {0}")]
    Start(String),
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
    tasks: JoinSet<()>,
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
}

/// Bind, start the sources, and serve. `udp_workers` sockets share each UDP port
/// (SO_REUSEPORT), so the kernel spreads queries over that many receive loops.
pub async fn start(
    setup: Setup,
    shutdown: CancellationToken,
    udp_workers: usize,
) -> Result<Running, ServerError> {
    let mut tasks = JoinSet::new();
    let mut addrs = Vec::new();
    let mut bound_dispatchers = Vec::new();
    for (addr, dispatcher) in dispatchers(&setup) {
        let (udp, tcp) = bind_pair(addr, udp_workers.max(1))?;
        let bound = tcp
            .local_addr()
            .map_err(|source| ServerError::Bind { addr, source })?;
        for socket in udp {
            tasks.spawn(udp::serve(
                Arc::new(socket),
                Arc::clone(&dispatcher),
                shutdown.clone(),
            ));
        }
        tasks.spawn(tcp::serve(tcp, Arc::clone(&dispatcher), shutdown.clone()));
        bound_dispatchers.push((bound, dispatcher));
        tracing::info!(listen = %bound, "serving DNS over UDP and TCP");
        addrs.push((addr, bound));
    }
    let ctx = StartContext::new(shutdown.clone(), setup.readiness.clone());
    let draining = Arc::clone(&ctx.draining);
    for hook in setup.hooks {
        hook(&ctx).map_err(ServerError::Start)?;
    }
    let other_listeners = ctx
        .bound
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    Ok(Running {
        addrs,
        dispatchers: bound_dispatchers,
        readiness: setup.readiness,
        lameduck: setup.lameduck,
        draining,
        other_listeners,
        tasks,
    })
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
) -> Result<(Vec<UdpSocket>, TcpListener), ServerError> {
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
        return Ok((udp, tcp));
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
