//! # forward
//!
//! Sends queries for names under `FROM` (minus `except`) to upstream resolvers and passes their
//! answers back: rcode, AA, RA, AD, and the answer, authority and additional sections as received (the
//! upstream's OPT record is dropped; the server writes its own). Names outside `FROM` go to the
//! next plugin.
//!
//! ## Syntax
//! ```text
//! forward FROM TO... {
//!     except IGNORED_NAMES...
//!     force_tcp
//!     prefer_udp
//!     expire DURATION                  # idle pooled TCP connections are closed after this (10s)
//!     max_fails INTEGER                # consecutive failures that mark an upstream down (2; 0 = never)
//!     health_check DURATION [no_rec] [domain NAME]   # probe interval for failing upstreams (0.5s)
//!     policy random|round_robin|sequential           # (random)
//!     max_concurrent INTEGER           # REFUSED above this many queries in flight
//!     next RCODE...                    # these upstream rcodes go to the next plugin instead
//!     failover RCODE...                # these upstream rcodes make the next upstream be tried
//!     failfast_all_unhealthy_upstreams # SERVFAIL at once when every upstream is down
//! }
//! ```
//! `FROM` is a zone, or a CIDR whose first reverse zone is used (as CoreDNS does).
//! `TO` is `IP[:PORT]` (port 53 by default; an IP with a port out of range is a bad port, not a
//! file name), `dns://IP[:PORT]`, or a resolv.conf file whose
//! `nameserver` lines are read at setup (relative to the Corefile's directory; it must exist and
//! name at least one); at most 15 upstreams. `max_concurrent` is at least 1; `force_tcp` and
//! `prefer_udp` exclude each other. Durations are Go's (`500ms`, `10s`). `tls://`, `https://`,
//! `grpc://`, `quic://` and `h3://` upstreams, `tls`, `tls_servername` and `max_idle_conns` are not
//! supported yet: a Corefile with them is refused.
//!
//! ## Examples
//! kubeadm's: everything outside the cluster zone to the node's resolvers:
//! ```corefile
//! .:53 {
//!     kubernetes cluster.local
//!     forward . /etc/resolv.conf {
//!         max_concurrent 1000
//!     }
//! }
//! ```
//! A private domain to its own servers, tried in order; the rest to public resolvers, except
//! names under `lan`, which never leave:
//! ```corefile
//! corp.example:53 {
//!     forward . 10.0.0.53 10.0.1.53:5353 {
//!         policy sequential
//!         health_check 5s domain corp.example
//!         failover SERVFAIL REFUSED
//!     }
//! }
//! .:53 {
//!     forward . dns://1.1.1.1 8.8.8.8 {
//!         except lan
//!         prefer_udp
//!     }
//! }
//! ```
//!
//! ## Behaviour
//! The question goes out as the client asked it, with the client's RD and CD bits, a fresh random
//! message id, and EDNS (payload 1,232, the client's DO bit). Over UDP unless `force_tcp`, or the
//! client came over TCP and `prefer_udp` is not set; a truncated UDP reply is retried over TCP.
//! Upstreams are tried in `policy` order, skipping those that are down, each for at most
//! [`READ_TIMEOUT`], all within [`OVERALL_TIMEOUT`]. A failed exchange counts against the upstream;
//! while it has failures, a background probe (`. IN NS`, or `domain NAME`) runs every
//! `health_check` interval and a reply of any rcode clears them. When every upstream is down they
//! are all tried in random order anyway (as CoreDNS does), unless
//! `failfast_all_unhealthy_upstreams`. No reply from any → SERVFAIL. A reply whose rcode `failover`
//! lists makes the next upstream be tried; the last upstream's reply is answered whatever its
//! rcode (and the reply kept from an earlier one when the later ones give none), as CoreDNS does.
//! `next` applies to the reply finally chosen.
//!
//! A resolv.conf naming systemd-resolved's stub (127.0.0.53, 127.0.0.54) would send every query
//! back to this host, where in a pod or with `hostNetwork` the stub address may reach rollcall
//! itself (coredns/coredns#2087). So when `/run/systemd/resolve/resolv.conf` (resolved's list of
//! the real upstreams) exists and names non-loopback nameservers, those replace the stub entries,
//! and a warning says so; otherwise the stub is kept, with a warning (see [`setup`]).
//!
//! When the block's `loop` plugin has found a forwarding loop ([`ForwardingLoop`]), this plugin
//! stops forwarding: every name it would forward gets SERVFAIL at once and nothing is sent, so
//! the loop cannot amplify, while the plugins before it keep answering. It logs the loop's error
//! line again at most once a minute while it refuses queries, and stops its health probes.
//!
//! Counters are kept in [`ForwardStats`] (plain atomics) for metrics.

mod loop_switch;
mod metrics;
pub mod setup;
mod upstream;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use rand::seq::SliceRandom;
use tokio_util::sync::CancellationToken;

pub use upstream::UpstreamStats;
use upstream::{Expect, Upstream};

use crate::contract::{
    Describe, EDNS_PAYLOAD, Next, Plugin, PluginError, PluginFuture, PluginResult, Query,
    RelayedFlags, Reply, Transport, in_zone,
};
pub use loop_switch::ForwardingLoop;

const NAME: &str = "forward";

/// Why a query was not forwarded, or no upstream answered it (the `source` of the
/// [`PluginError`]).
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error("off, the loop plugin found a forwarding loop (nothing sent)")]
    Looping,
    #[error("every upstream is down (failfast_all_unhealthy_upstreams)")]
    AllDown,
    #[error("more than max_concurrent {0} queries in flight")]
    TooMany(u32),
    #[error("no upstream was tried")]
    NoneTried,
    #[error("{upstream}: {source}")]
    Exchange {
        upstream: std::net::SocketAddr,
        #[source]
        source: upstream::ExchangeError,
    },
    #[error("{0}; gave up after {OVERALL_TIMEOUT:?}")]
    GaveUp(Box<ForwardError>),
    #[error("cannot encode the query: {0}")]
    Encode(#[source] hickory_proto::ProtoError),
}

/// CoreDNS's limit on upstreams per `forward`.
pub const MAX_UPSTREAMS: usize = 15;
/// How long one upstream gets to answer one exchange.
pub const READ_TIMEOUT: Duration = Duration::from_secs(2);
/// How long one query may spend trying upstreams.
pub const OVERALL_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a health-check probe waits for its reply.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    Random,
    RoundRobin,
    Sequential,
}

impl Policy {
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::Random => "random",
            Policy::RoundRobin => "round_robin",
            Policy::Sequential => "sequential",
        }
    }
}

/// A parsed `forward` stanza.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Lower-case, fully qualified.
    pub from: String,
    pub except: Vec<String>,
    pub to: Vec<SocketAddr>,
    pub force_tcp: bool,
    pub prefer_udp: bool,
    pub expire: Duration,
    pub max_fails: u32,
    pub health_check: Duration,
    pub health_no_rec: bool,
    pub health_domain: Name,
    pub policy: Policy,
    /// 0: no limit.
    pub max_concurrent: u32,
    pub next: Vec<ResponseCode>,
    /// Replies with these rcodes make the next upstream be tried (`failover`).
    pub failover: Vec<ResponseCode>,
    pub failfast: bool,
}

impl Config {
    pub fn new(from: String, to: Vec<SocketAddr>) -> Self {
        Config {
            from,
            except: Vec::new(),
            to,
            force_tcp: false,
            prefer_udp: false,
            expire: Duration::from_secs(10),
            max_fails: 2,
            health_check: Duration::from_millis(500),
            health_no_rec: false,
            health_domain: Name::root(),
            policy: Policy::Random,
            max_concurrent: 0,
            next: Vec::new(),
            failover: Vec::new(),
            failfast: false,
        }
    }

    /// The one-line description `rollcall check` prints.
    pub fn describe(&self) -> String {
        let to: Vec<String> = self.to.iter().map(ToString::to_string).collect();
        let mut health_check = format!("health_check {:?}", self.health_check);
        if self.health_no_rec {
            health_check.push_str(" no_rec");
        }
        if !self.health_domain.is_root() {
            health_check.push_str(&format!(" domain {}", self.health_domain));
        }
        let rcodes = |label: &str, codes: &[ResponseCode]| {
            let names: Vec<&str> = codes.iter().map(|r| crate::dns::rcode_name(*r)).collect();
            (!codes.is_empty()).then(|| format!("{label} {}", names.join(" ")))
        };
        Describe::new()
            .part(format!("from {}", self.from))
            .part(format!("to {}", to.join(" ")))
            .part(format!("policy {}", self.policy.as_str()))
            .part(format!("max_fails {}", self.max_fails))
            .part(health_check)
            .part(format!("expire {:?}", self.expire))
            .maybe((!self.except.is_empty()).then(|| format!("except {}", self.except.join(" "))))
            .flag(self.force_tcp, "force_tcp")
            .flag(self.prefer_udp, "prefer_udp")
            .maybe(
                (self.max_concurrent > 0)
                    .then(|| format!("max_concurrent {}", self.max_concurrent)),
            )
            .maybe(rcodes("next", &self.next))
            .maybe(rcodes("failover", &self.failover))
            .flag(self.failfast, "failfast_all_unhealthy_upstreams")
            .finish()
    }
}

/// Counters of one `forward` plugin, plain atomics: the `prometheus` plugin reads them.
#[derive(Debug)]
pub struct ForwardStats {
    /// The `FROM` zone.
    pub from: String,
    /// Queries refused because `max_concurrent` were already in flight
    /// (`coredns_forward_max_concurrent_rejects_total`).
    pub max_concurrent_rejects: AtomicU64,
    /// Queries that found every upstream down (`coredns_forward_healthcheck_broken_total`).
    pub healthcheck_broken: AtomicU64,
    /// Queries in flight now.
    pub in_flight: AtomicU32,
    /// One entry per upstream, in `TO` order.
    pub upstreams: Vec<Arc<UpstreamStats>>,
}

pub struct Forward {
    config: Config,
    upstreams: Vec<Upstream>,
    round_robin: AtomicUsize,
    stats: Arc<ForwardStats>,
    /// The server block's switch: set by `loop` when forwarding comes back to this server.
    forwarding_loop: Arc<ForwardingLoop>,
}

/// Releases a `max_concurrent` slot when the query ends (or is cancelled).
struct Slot<'a>(&'a AtomicU32);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
    }
}

impl Forward {
    pub fn new(config: Config) -> Self {
        let upstreams: Vec<Upstream> = config
            .to
            .iter()
            .map(|addr| Upstream::new(*addr, config.expire))
            .collect();
        let stats = Arc::new(ForwardStats {
            from: config.from.clone(),
            max_concurrent_rejects: AtomicU64::new(0),
            healthcheck_broken: AtomicU64::new(0),
            in_flight: AtomicU32::new(0),
            upstreams: upstreams.iter().map(|u| Arc::clone(&u.stats)).collect(),
        });
        Forward {
            config,
            upstreams,
            round_robin: AtomicUsize::new(0),
            stats,
            forwarding_loop: Arc::new(ForwardingLoop::new()),
        }
    }

    /// Obey the server block's forwarding-loop switch (the one its `loop` sets).
    #[must_use]
    pub fn with_forwarding_loop(mut self, forwarding_loop: Arc<ForwardingLoop>) -> Self {
        self.forwarding_loop = forwarding_loop;
        self
    }

    /// A query this plugin would forward, while the block has a forwarding loop: SERVFAIL, and
    /// the loop's error line when a report is due (see [`ForwardingLoop::refused`]).
    fn refuse_looping(&self) -> PluginError {
        if let Some(line) = self.forwarding_loop.refused(Instant::now()) {
            tracing::error!(from = %self.config.from, "{line}");
        }
        PluginError::upstream(NAME, ForwardError::Looping)
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// This plugin's counters (shared; they stay valid for as long as anyone holds them).
    pub fn stats(&self) -> Arc<ForwardStats> {
        Arc::clone(&self.stats)
    }

    fn handles(&self, name: &str) -> bool {
        in_zone(name, &self.config.from) && !self.config.except.iter().any(|e| in_zone(name, e))
    }

    fn acquire(&self) -> Option<Slot<'_>> {
        let in_flight = &self.stats.in_flight;
        let before = in_flight.fetch_add(1, Relaxed);
        let slot = Slot(in_flight);
        if self.config.max_concurrent != 0 && before >= self.config.max_concurrent {
            return None; // `slot` drops here and gives the count back
        }
        Some(slot)
    }

    /// Upstream indices in the order this query tries them.
    fn order(&self, order: &mut [usize]) {
        for (i, slot) in order.iter_mut().enumerate() {
            *slot = i;
        }
        match self.config.policy {
            Policy::Sequential => {}
            Policy::RoundRobin => {
                let start = self.round_robin.fetch_add(1, Relaxed);
                if !order.is_empty() {
                    order.rotate_left(start % order.len());
                }
            }
            Policy::Random => order.shuffle(&mut rand::rng()),
        }
    }

    async fn forward<'a>(&'a self, query: &'a Query, next: Next<'a>) -> PluginResult {
        let Some(_slot) = self.acquire() else {
            self.stats.max_concurrent_rejects.fetch_add(1, Relaxed);
            return Err(PluginError::overloaded(
                NAME,
                ForwardError::TooMany(self.config.max_concurrent),
            ));
        };
        let mut request = encode_request(query)?;
        let started = Instant::now();
        let deadline = started + OVERALL_TIMEOUT;
        let mut buf = [0usize; MAX_UPSTREAMS];
        let order = &mut buf[..self.upstreams.len().min(MAX_UPSTREAMS)];
        self.order(order);
        let max_fails = self.config.max_fails;
        let any_healthy = order.iter().any(|&i| !self.upstreams[i].is_down(max_fails));
        if !any_healthy {
            self.stats.healthcheck_broken.fetch_add(1, Relaxed);
            if self.config.failfast {
                return Err(PluginError::upstream(NAME, ForwardError::AllDown));
            }
            order.shuffle(&mut rand::rng());
        }
        let tcp =
            self.config.force_tcp || (query.transport == Transport::Tcp && !self.config.prefer_udp);
        let mut last_error = ForwardError::NoneTried;
        // A `failover` reply, answered if no later upstream does better.
        let mut kept: Option<Message> = None;
        let last = order.len().saturating_sub(1);
        for (position, &i) in order.iter().enumerate() {
            let upstream = &self.upstreams[i];
            if any_healthy && upstream.is_down(max_fails) {
                continue;
            }
            let now = Instant::now();
            if now >= deadline {
                last_error = ForwardError::GaveUp(Box::new(last_error));
                break;
            }
            let budget = (deadline - now).min(READ_TIMEOUT);
            let id: u16 = rand::random();
            request[..2].copy_from_slice(&id.to_be_bytes());
            let expect = Expect {
                id,
                name: &query.name,
                qtype: query.qtype,
                qclass: query.qclass,
            };
            upstream.stats.requests.fetch_add(1, Relaxed);
            let attempt = Instant::now();
            let result = if tcp {
                upstream.exchange_tcp(&request, &expect, budget).await
            } else {
                match upstream.exchange_udp(&request, &expect, budget).await {
                    Ok(msg) if msg.metadata.truncation => {
                        let budget = deadline
                            .saturating_duration_since(Instant::now())
                            .min(READ_TIMEOUT);
                        // Over TCP the whole answer fits; if TCP fails, the truncated answer
                        // still tells the client to retry over TCP itself.
                        Ok(upstream
                            .exchange_tcp(&request, &expect, budget)
                            .await
                            .unwrap_or(msg))
                    }
                    Err(upstream::ExchangeError::Oversized) => {
                        let budget = deadline
                            .saturating_duration_since(Instant::now())
                            .min(READ_TIMEOUT);
                        upstream.exchange_tcp(&request, &expect, budget).await
                    }
                    other => other,
                }
            };
            match result {
                Ok(msg) => {
                    upstream.record_success();
                    let rcode = msg.metadata.response_code;
                    upstream.count_reply(rcode, attempt.elapsed());
                    if position < last && self.config.failover.contains(&rcode) {
                        kept = Some(msg);
                        continue;
                    }
                    return self.answer(msg, query, next).await;
                }
                Err(error) => {
                    upstream.stats.failures.fetch_add(1, Relaxed);
                    upstream.record_failure();
                    tracing::debug!(upstream = %upstream.addr, qname = %query.name, %error, "forward: exchange failed");
                    last_error = ForwardError::Exchange {
                        upstream: upstream.addr,
                        source: error,
                    };
                }
            }
        }
        match kept {
            Some(msg) => self.answer(msg, query, next).await,
            None => Err(PluginError::upstream(NAME, last_error)),
        }
    }

    /// The upstream's reply, or the rest of the chain's when `next` lists its rcode.
    async fn answer<'a>(&'a self, msg: Message, query: &'a Query, next: Next<'a>) -> PluginResult {
        if self.config.next.contains(&msg.metadata.response_code) {
            return next.serve(query).await;
        }
        Ok(reply_from(msg))
    }

    /// Start one probe loop per upstream (at serve time, never under `check`). A loop sleeps
    /// while its upstream is healthy and probes it every `health_check` while it has failures.
    pub fn spawn_health_checks(self: &Arc<Self>, shutdown: &CancellationToken) {
        if self.config.max_fails == 0 || self.config.health_check.is_zero() {
            return;
        }
        for i in 0..self.upstreams.len() {
            let this = Arc::clone(self);
            let shutdown = shutdown.clone();
            tokio::spawn(async move { this.health_loop(i, shutdown).await });
        }
    }

    async fn health_loop(&self, i: usize, shutdown: CancellationToken) {
        let Some(upstream) = self.upstreams.get(i) else {
            return;
        };
        let interval = self.config.health_check;
        loop {
            tokio::select! {
                () = tokio::time::sleep(interval) => {}
                () = shutdown.cancelled() => return,
            }
            // With a forwarding loop the "upstream" is this server: probing it is pointless.
            if upstream.fails() == 0 || self.forwarding_loop.is_detected() {
                continue;
            }
            let ok = tokio::select! {
                ok = self.probe(upstream) => ok,
                () = shutdown.cancelled() => return,
            };
            if ok {
                if upstream.is_down(self.config.max_fails) {
                    tracing::info!(upstream = %upstream.addr, "forward: upstream is healthy again");
                }
                upstream.record_success();
            } else {
                upstream.stats.healthcheck_failures.fetch_add(1, Relaxed);
                upstream.record_failure();
                if upstream.fails() == self.config.max_fails {
                    tracing::warn!(upstream = %upstream.addr, "forward: upstream is down (health check failed)");
                }
            }
        }
    }

    /// `. IN NS` (or `domain NAME`) to the upstream: any reply, whatever its rcode, is healthy.
    async fn probe(&self, upstream: &Upstream) -> bool {
        let name = self.config.health_domain.clone();
        let mut probe = Query::new(name, RecordType::NS);
        probe.recursion_desired = !self.config.health_no_rec;
        let Ok(mut request) = encode_request(&probe) else {
            return false;
        };
        let id: u16 = rand::random();
        request[..2].copy_from_slice(&id.to_be_bytes());
        let expect = Expect {
            id,
            name: &probe.name,
            qtype: probe.qtype,
            qclass: probe.qclass,
        };
        let result = if self.config.force_tcp {
            upstream
                .exchange_tcp(&request, &expect, HEALTH_TIMEOUT)
                .await
        } else {
            upstream
                .exchange_udp(&request, &expect, HEALTH_TIMEOUT)
                .await
        };
        result.is_ok()
    }
}

impl Plugin for Forward {
    fn name(&self) -> &'static str {
        NAME
    }

    fn serve<'a>(&'a self, query: &'a Query, next: Next<'a>) -> PluginFuture<'a> {
        if !self.handles(&query.lower) {
            return next.serve(query);
        }
        if self.forwarding_loop.is_detected() {
            return PluginFuture::ready(Err(self.refuse_looping()));
        }
        PluginFuture::boxed(self.forward(query, next))
    }
}

/// The query as the client asked it, id 0 (each attempt writes a fresh one), EDNS with our
/// payload size and the client's DO bit.
fn encode_request(query: &Query) -> Result<Vec<u8>, PluginError> {
    let mut msg = Message::new(0, MessageType::Query, OpCode::Query);
    msg.metadata.recursion_desired = query.recursion_desired;
    msg.metadata.checking_disabled = query.checking_disabled;
    let mut question = hickory_proto::op::Query::query(query.name.clone(), query.qtype);
    question.set_query_class(query.qclass);
    msg.add_query(question);
    let mut edns = Edns::new();
    edns.set_max_payload(EDNS_PAYLOAD);
    edns.set_dnssec_ok(query.dnssec_ok);
    msg.set_edns(edns);
    msg.to_vec()
        .map_err(|e| PluginError::internal(NAME, ForwardError::Encode(e)))
}

fn reply_from(msg: Message) -> Reply {
    let strip = |records: Vec<hickory_proto::rr::Record>| -> Vec<hickory_proto::rr::Record> {
        records
            .into_iter()
            .filter(|r| {
                !matches!(
                    r.record_type(),
                    RecordType::OPT | RecordType::TSIG | RecordType::SIG
                )
            })
            .collect()
    };
    Reply {
        rcode: msg.metadata.response_code,
        authoritative: msg.metadata.authoritative,
        truncated: msg.metadata.truncation,
        answers: msg.answers,
        authority: msg.authorities,
        additionals: strip(msg.additionals),
        plugin: NAME,
        relayed: Some(RelayedFlags {
            recursion_available: msg.metadata.recursion_available,
            authentic_data: msg.metadata.authentic_data,
        }),
        ..Reply::default()
    }
}

#[cfg(test)]
mod tests;
