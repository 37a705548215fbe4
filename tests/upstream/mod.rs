//! A programmable upstream DNS server for `forward` tests: real UDP and TCP sockets on one
//! 127.0.0.1 port, answers from a table, and faults on demand (TC over UDP, delay, drop,
//! SERVFAIL). It counts every query it receives, per transport and per name.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::{Name, RData, Record, RecordType, rdata};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio_util::sync::CancellationToken;

/// How the upstream treats the queries it receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behavior {
    /// Answer from the table: NOERROR with its records, or NXDOMAIN for unknown names.
    Answer,
    /// Over UDP: an empty reply with TC set. Over TCP: the full answer.
    Truncate,
    /// Answer after this delay.
    Delay(Duration),
    /// Never answer.
    Drop,
    /// Reply SERVFAIL.
    ServFail,
}

#[derive(Default)]
struct Counts {
    udp: AtomicU64,
    tcp: AtomicU64,
    tcp_connections: AtomicU64,
}

struct State {
    behavior: Mutex<Behavior>,
    /// RA and AD bits of replies.
    flags: Mutex<(bool, bool)>,
    /// (lower-case fqdn, type) → records.
    table: Mutex<HashMap<(String, RecordType), Vec<Record>>>,
    counts: Counts,
    /// lower-case fqdn → queries seen (both transports).
    by_name: Mutex<HashMap<String, u64>>,
    /// The negative TTL of an SOA (owner `.`) put in NXDOMAIN replies, so a cache keeps them.
    negative_soa: Mutex<Option<u32>>,
}

/// The upstream; stops when dropped.
pub struct TestUpstream {
    pub addr: SocketAddr,
    state: Arc<State>,
    shutdown: CancellationToken,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn key(name: &str) -> String {
    let mut k = name.to_ascii_lowercase();
    if !k.ends_with('.') {
        k.push('.');
    }
    k
}

impl TestUpstream {
    /// Bind UDP and TCP on one free 127.0.0.1 port and start answering.
    pub async fn start() -> std::io::Result<TestUpstream> {
        let mut last = None;
        for _ in 0..20 {
            let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await?;
            let addr = udp.local_addr()?;
            match TcpListener::bind(addr).await {
                Ok(tcp) => return Ok(TestUpstream::serve(udp, tcp, addr)),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| std::io::Error::other("no free port")))
    }

    /// Bind UDP and TCP on exactly `addr` (e.g. `127.77.0.1:53` for a resolv.conf upstream).
    pub async fn start_at(addr: SocketAddr) -> std::io::Result<TestUpstream> {
        let udp = UdpSocket::bind(addr).await?;
        let tcp = TcpListener::bind(addr).await?;
        Ok(TestUpstream::serve(udp, tcp, addr))
    }

    fn serve(udp: UdpSocket, tcp: TcpListener, addr: SocketAddr) -> TestUpstream {
        let state = Arc::new(State {
            behavior: Mutex::new(Behavior::Answer),
            flags: Mutex::new((true, false)),
            table: Mutex::new(HashMap::new()),
            counts: Counts::default(),
            by_name: Mutex::new(HashMap::new()),
            negative_soa: Mutex::new(None),
        });
        let shutdown = CancellationToken::new();
        tokio::spawn(udp_loop(
            Arc::new(udp),
            Arc::clone(&state),
            shutdown.clone(),
        ));
        tokio::spawn(tcp_loop(tcp, Arc::clone(&state), shutdown.clone()));
        TestUpstream {
            addr,
            state,
            shutdown,
        }
    }

    /// Answer `name A` with these addresses (TTL 300).
    pub fn add_a(&self, name: &str, ips: &[Ipv4Addr]) {
        let owner = Name::from_ascii(key(name)).unwrap_or_default();
        let records = ips
            .iter()
            .map(|ip| Record::from_rdata(owner.clone(), 300, RData::A(rdata::A(*ip))))
            .collect();
        lock(&self.state.table).insert((key(name), RecordType::A), records);
    }

    /// NXDOMAIN replies carry `. TTL IN SOA ...` with this negative TTL (RFC 2308), so a
    /// cache in front keeps them; none by default.
    pub fn set_negative_soa(&self, ttl: u32) {
        *lock(&self.state.negative_soa) = Some(ttl);
    }

    pub fn set_behavior(&self, behavior: Behavior) {
        *lock(&self.state.behavior) = behavior;
    }

    /// The RA and AD bits replies carry (default: RA set, AD clear).
    pub fn set_flags(&self, recursion_available: bool, authentic_data: bool) {
        *lock(&self.state.flags) = (recursion_available, authentic_data);
    }

    pub fn udp_queries(&self) -> u64 {
        self.state.counts.udp.load(Ordering::Relaxed)
    }

    pub fn tcp_queries(&self) -> u64 {
        self.state.counts.tcp.load(Ordering::Relaxed)
    }

    /// TCP connections accepted.
    pub fn tcp_connections(&self) -> u64 {
        self.state.counts.tcp_connections.load(Ordering::Relaxed)
    }

    /// Queries for `name` over both transports.
    pub fn queries_for(&self, name: &str) -> u64 {
        lock(&self.state.by_name)
            .get(&key(name))
            .copied()
            .unwrap_or(0)
    }
}

impl Drop for TestUpstream {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// The reply for one query, or `None` to stay silent.
async fn respond(state: &State, bytes: &[u8], tcp: bool) -> Option<Vec<u8>> {
    let query = Message::from_vec(bytes).ok()?;
    let question = query.queries.first()?.clone();
    let name = key(&question.name().to_ascii());
    if tcp {
        state.counts.tcp.fetch_add(1, Ordering::Relaxed);
    } else {
        state.counts.udp.fetch_add(1, Ordering::Relaxed);
    }
    *lock(&state.by_name).entry(name.clone()).or_default() += 1;
    let behavior = *lock(&state.behavior);
    let mut reply = Message::new(query.metadata.id, MessageType::Response, OpCode::Query);
    reply.metadata.recursion_desired = query.metadata.recursion_desired;
    let (ra, ad) = *lock(&state.flags);
    reply.metadata.recursion_available = ra;
    reply.metadata.authentic_data = ad;
    reply.add_query(question.clone());
    match behavior {
        Behavior::Drop => return None,
        Behavior::ServFail => {
            reply.metadata.response_code = ResponseCode::ServFail;
            return reply.to_vec().ok();
        }
        Behavior::Truncate if !tcp => {
            reply.metadata.truncation = true;
            return reply.to_vec().ok();
        }
        Behavior::Delay(d) => tokio::time::sleep(d).await,
        Behavior::Truncate | Behavior::Answer => {}
    }
    let table = lock(&state.table);
    match table.get(&(name.clone(), question.query_type())) {
        Some(records) => {
            reply.add_answers(records.iter().cloned());
        }
        None if table.keys().any(|(n, _)| *n == name) => {}
        None => {
            reply.metadata.response_code = ResponseCode::NXDomain;
            if let Some(ttl) = *lock(&state.negative_soa) {
                let soa = rdata::SOA::new(Name::root(), Name::root(), 1, 7200, 1800, 86400, ttl);
                reply.add_authority(Record::from_rdata(Name::root(), ttl, RData::SOA(soa)));
            }
        }
    }
    drop(table);
    if let Some(edns) = &query.edns {
        let mut out = hickory_proto::op::Edns::new();
        out.set_max_payload(edns.max_payload().max(512));
        reply.set_edns(out);
    }
    reply.to_vec().ok()
}

async fn udp_loop(socket: Arc<UdpSocket>, state: Arc<State>, shutdown: CancellationToken) {
    let mut buf = vec![0u8; 65535];
    loop {
        let (n, src) = tokio::select! {
            r = socket.recv_from(&mut buf) => match r { Ok(ok) => ok, Err(_) => continue },
            () = shutdown.cancelled() => return,
        };
        let bytes = buf[..n].to_vec();
        let (socket, state) = (Arc::clone(&socket), Arc::clone(&state));
        tokio::spawn(async move {
            if let Some(reply) = respond(&state, &bytes, false).await {
                let _ = socket.send_to(&reply, src).await;
            }
        });
    }
}

async fn tcp_loop(listener: TcpListener, state: Arc<State>, shutdown: CancellationToken) {
    loop {
        let stream = tokio::select! {
            r = listener.accept() => match r { Ok((s, _)) => s, Err(_) => continue },
            () = shutdown.cancelled() => return,
        };
        state.counts.tcp_connections.fetch_add(1, Ordering::Relaxed);
        let state = Arc::clone(&state);
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = tcp_connection(stream, &state) => {}
                () = shutdown.cancelled() => {}
            }
        });
    }
}

async fn tcp_connection(mut stream: TcpStream, state: &State) -> std::io::Result<()> {
    loop {
        let mut len = [0u8; 2];
        stream.read_exact(&mut len).await?;
        let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
        stream.read_exact(&mut msg).await?;
        let Some(reply) = respond(state, &msg, true).await else {
            continue;
        };
        let Ok(n) = u16::try_from(reply.len()) else {
            continue;
        };
        stream.write_all(&n.to_be_bytes()).await?;
        stream.write_all(&reply).await?;
    }
}
