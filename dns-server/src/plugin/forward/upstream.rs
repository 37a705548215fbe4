//! One upstream resolver: its address, its health (consecutive failures), its pooled sockets,
//! and one request/response exchange over UDP or TCP.
//!
//! UDP sockets are connected to the upstream and pooled: a query takes one, sends, reads until
//! a reply with its message id and question arrives, and gives the socket back. A socket whose
//! exchange failed (timeout, ICMP error) is dropped, so a late reply can never be read as the
//! answer to a later query. TCP connections are pooled the same way and dropped once idle for
//! longer than `expire`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// Idle sockets kept per upstream (more are opened under load and closed when returned).
const UDP_POOL_MAX: usize = 64;
const TCP_POOL_MAX: usize = 16;
/// Receive buffer per exchange. rollcall advertises a 1,232-byte payload, so a compliant upstream
/// never sends more over UDP; a datagram that fills the buffer is treated as truncated.
const UDP_BUF: usize = 4096;

/// Per-upstream counters, plain atomics (read by metrics).
#[derive(Debug)]
pub struct UpstreamStats {
    pub addr: SocketAddr,
    /// Exchanges attempted (UDP and TCP retries after TC count once).
    pub requests: AtomicU64,
    /// Replies by RCODE, index = RCODE for 0..=15.
    pub rcodes: [AtomicU64; 16],
    /// Replies with an extended RCODE above 15.
    pub rcode_other: AtomicU64,
    /// Exchanges that ended in a timeout or an error (no reply).
    pub failures: AtomicU64,
    /// Health-check probes that failed.
    pub healthcheck_failures: AtomicU64,
    /// Sum of reply latencies in microseconds (with `rcodes`, gives the mean).
    pub duration_micros_total: AtomicU64,
    /// Consecutive failures now: the upstream is down once this reaches `max_fails`.
    pub fails: AtomicU32,
}

impl UpstreamStats {
    fn new(addr: SocketAddr) -> Self {
        UpstreamStats {
            addr,
            requests: AtomicU64::new(0),
            rcodes: Default::default(),
            rcode_other: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            healthcheck_failures: AtomicU64::new(0),
            duration_micros_total: AtomicU64::new(0),
            fails: AtomicU32::new(0),
        }
    }

    /// Replies seen with this RCODE.
    pub fn rcode_count(&self, rcode: u16) -> u64 {
        match self.rcodes.get(usize::from(rcode)) {
            Some(counter) => counter.load(Relaxed),
            None => self.rcode_other.load(Relaxed),
        }
    }

    fn count_reply(&self, rcode: ResponseCode, elapsed: Duration) {
        let code = u16::from(rcode);
        match self.rcodes.get(usize::from(code)) {
            Some(counter) => counter.fetch_add(1, Relaxed),
            None => self.rcode_other.fetch_add(1, Relaxed),
        };
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.duration_micros_total.fetch_add(micros, Relaxed);
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    #[error("timed out")]
    Timeout,
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("reply does not fit a {UDP_BUF}-byte datagram")]
    Oversized,
    #[error("bad reply: {0}")]
    BadReply(String),
}

/// What a reply must match: the id sent and the question asked.
pub struct Expect<'a> {
    pub id: u16,
    pub name: &'a Name,
    pub qtype: RecordType,
    pub qclass: DNSClass,
}

impl Expect<'_> {
    /// The decoded reply when `bytes` answers this question, else `None` (stray or spoofed).
    fn check(&self, bytes: &[u8]) -> Option<Message> {
        if bytes.len() < 12 || u16::from_be_bytes([bytes[0], bytes[1]]) != self.id {
            return None;
        }
        let msg = Message::from_vec(bytes).ok()?;
        if msg.metadata.message_type != MessageType::Response {
            return None;
        }
        let matches = match msg.queries.as_slice() {
            [q] => {
                q.name() == self.name
                    && q.query_type() == self.qtype
                    && q.query_class() == self.qclass
            }
            // Some servers drop the question from error replies (FORMERR, NOTIMP, REFUSED).
            [] => msg.metadata.response_code != ResponseCode::NoError,
            _ => false,
        };
        matches.then_some(msg)
    }
}

pub struct Upstream {
    pub addr: SocketAddr,
    pub stats: Arc<UpstreamStats>,
    expire: Duration,
    udp: Mutex<Vec<UdpSocket>>,
    tcp: Mutex<Vec<(TcpStream, Instant)>>,
}

impl Upstream {
    pub fn new(addr: SocketAddr, expire: Duration) -> Self {
        Upstream {
            addr,
            stats: Arc::new(UpstreamStats::new(addr)),
            expire,
            udp: Mutex::new(Vec::new()),
            tcp: Mutex::new(Vec::new()),
        }
    }

    pub fn is_down(&self, max_fails: u32) -> bool {
        max_fails != 0 && self.stats.fails.load(Relaxed) >= max_fails
    }

    pub fn fails(&self) -> u32 {
        self.stats.fails.load(Relaxed)
    }

    pub fn record_failure(&self) {
        let _ = self
            .stats
            .fails
            .fetch_update(Relaxed, Relaxed, |n| Some(n.saturating_add(1)));
    }

    pub fn record_success(&self) {
        if self.stats.fails.load(Relaxed) != 0 {
            self.stats.fails.store(0, Relaxed);
        }
    }

    pub fn count_reply(&self, rcode: ResponseCode, elapsed: Duration) {
        self.stats.count_reply(rcode, elapsed);
    }

    /// One exchange over UDP on a pooled connected socket.
    pub async fn exchange_udp(
        &self,
        request: &[u8],
        expect: &Expect<'_>,
        timeout: Duration,
    ) -> Result<Message, ExchangeError> {
        let pooled = self
            .udp
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let socket = match pooled {
            Some(socket) => socket,
            None => {
                let local: SocketAddr = if self.addr.is_ipv4() {
                    SocketAddr::from(([0, 0, 0, 0], 0))
                } else {
                    SocketAddr::from(([0u16; 8], 0))
                };
                let socket = UdpSocket::bind(local).await?;
                socket.connect(self.addr).await?;
                socket
            }
        };
        let exchange = async {
            socket.send(request).await?;
            let mut buf = [0u8; UDP_BUF];
            loop {
                let n = socket.recv(&mut buf).await?;
                if n == buf.len() {
                    return Err(ExchangeError::Oversized);
                }
                if let Some(msg) = expect.check(&buf[..n]) {
                    return Ok(msg);
                }
            }
        };
        let result = match tokio::time::timeout(timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(ExchangeError::Timeout),
        };
        if result.is_ok() {
            let mut pool = self.udp.lock().unwrap_or_else(PoisonError::into_inner);
            if pool.len() < UDP_POOL_MAX {
                pool.push(socket);
            }
        }
        result
    }

    /// One exchange over TCP, on a pooled connection when one is fresh enough.
    pub async fn exchange_tcp(
        &self,
        request: &[u8],
        expect: &Expect<'_>,
        timeout: Duration,
    ) -> Result<Message, ExchangeError> {
        let exchange = async {
            if let Some(mut stream) = self.take_tcp() {
                // A pooled connection the upstream has closed fails here; then dial afresh.
                if let Ok(msg) = tcp_roundtrip(&mut stream, request, expect).await {
                    self.put_tcp(stream);
                    return Ok(msg);
                }
            }
            let mut stream = TcpStream::connect(self.addr).await?;
            let _ = stream.set_nodelay(true);
            let msg = tcp_roundtrip(&mut stream, request, expect).await?;
            self.put_tcp(stream);
            Ok(msg)
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(ExchangeError::Timeout),
        }
    }

    fn take_tcp(&self) -> Option<TcpStream> {
        let mut pool = self.tcp.lock().unwrap_or_else(PoisonError::into_inner);
        while let Some((stream, idle_since)) = pool.pop() {
            if idle_since.elapsed() < self.expire {
                return Some(stream);
            }
        }
        None
    }

    fn put_tcp(&self, stream: TcpStream) {
        if self.expire.is_zero() {
            return;
        }
        let mut pool = self.tcp.lock().unwrap_or_else(PoisonError::into_inner);
        if pool.len() < TCP_POOL_MAX {
            pool.push((stream, Instant::now()));
        }
    }
}

async fn tcp_roundtrip(
    stream: &mut TcpStream,
    request: &[u8],
    expect: &Expect<'_>,
) -> Result<Message, ExchangeError> {
    let len = u16::try_from(request.len())
        .map_err(|_| ExchangeError::BadReply("request too large".into()))?;
    let mut framed = Vec::with_capacity(request.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(request);
    stream.write_all(&framed).await?;
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).await?;
    let mut reply = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut reply).await?;
    expect
        .check(&reply)
        .ok_or_else(|| ExchangeError::BadReply("reply does not match the query".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::{OpCode, Query};

    fn reply_bytes(id: u16, name: &str, qtype: RecordType) -> Vec<u8> {
        let mut msg = Message::new(id, MessageType::Response, OpCode::Query);
        msg.add_query(Query::query(
            Name::from_ascii(name).unwrap_or_default(),
            qtype,
        ));
        msg.to_vec().unwrap_or_default()
    }

    #[test]
    fn replies_must_match_id_and_question() {
        let name = Name::from_ascii("example.org.").unwrap_or_default();
        let expect = Expect {
            id: 42,
            name: &name,
            qtype: RecordType::A,
            qclass: DNSClass::IN,
        };
        assert!(
            expect
                .check(&reply_bytes(42, "example.org.", RecordType::A))
                .is_some()
        );
        assert!(
            expect
                .check(&reply_bytes(42, "EXAMPLE.org.", RecordType::A))
                .is_some()
        );
        assert!(
            expect
                .check(&reply_bytes(43, "example.org.", RecordType::A))
                .is_none()
        );
        assert!(
            expect
                .check(&reply_bytes(42, "example.com.", RecordType::A))
                .is_none()
        );
        assert!(
            expect
                .check(&reply_bytes(42, "example.org.", RecordType::AAAA))
                .is_none()
        );
        assert!(expect.check(&[0, 42]).is_none());
    }

    #[test]
    fn failures_count_up_and_success_resets() {
        let up = Upstream::new(SocketAddr::from(([127, 0, 0, 1], 53)), Duration::ZERO);
        assert!(!up.is_down(2));
        up.record_failure();
        assert!(!up.is_down(2));
        up.record_failure();
        assert!(up.is_down(2));
        assert!(!up.is_down(0), "max_fails 0 never marks an upstream down");
        up.record_success();
        assert!(!up.is_down(2));
        up.count_reply(ResponseCode::NXDomain, Duration::from_micros(5));
        assert_eq!(up.stats.rcode_count(3), 1);
        assert_eq!(up.stats.rcode_count(0), 0);
    }
}
