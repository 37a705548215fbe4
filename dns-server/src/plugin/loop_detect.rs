//! # loop
//!
//! Detects forwarding loops (a `forward` whose upstream sends the query back to this server, as
//! when a node's resolv.conf names a loopback stub resolver, coredns/coredns#2087). Once its
//! configuration answers (after a reload: once swapped in, so it tests its own chain), it sends
//! `HINFO <random>.<random>.<first zone of the block>.` to the server's own address, so the
//! query runs through the chain like any other. If this plugin sees that very query more than
//! twice, the server is talking to itself: it logs CoreDNS's message at error level,
//! `plugin/loop: Loop (A -> B) detected for zone "Z", see https://coredns.io/plugins/loop#troubleshooting. Query: "HINFO N"`,
//! and turns forwarding off for its server block ([`ForwardingLoop`]): from then on that block's
//! `forward` answers SERVFAIL at once, sending nothing, for every name it would forward.
//!
//! **This differs from CoreDNS on purpose.** CoreDNS exits, and in a pod that is a crash loop:
//! every restart finds the same loop, and while it lasts the cluster's own names, which never
//! needed an upstream, fail too. Turning `forward` off stops the amplification just as surely,
//! while `kubernetes` (earlier in the chain) keeps answering the cluster zone. The loop is
//! reported instead: the error line above again at most once a minute while forwarded queries are
//! refused, and the gauge `rollcall_forward_loop_detected{server,zone}` = 1. `/health` and
//! `/ready` stay OK, also on purpose: a failing liveness probe restarts the pod (the crash loop
//! again), a failing readiness probe takes a server that still answers the cluster zone out of
//! the Service. Forwarding stays off until the next configuration (a reload builds new plugins,
//! and the new `loop` probes again) or a restart.
//!
//! The probe is retried every second for up to 30 s while it gets no reply (or SERVFAIL); after a
//! reply, or after 30 s, the plugin disables itself. While disabled it costs one relaxed atomic
//! load per query.
//!
//! ## Syntax
//! ```text
//! loop
//! ```
//! No arguments or properties. The probe goes to the block's first `bind` address (loopback
//! when the block listens on every interface) and its name is under the block's first zone.
//!
//! ## Example (kubeadm's)
//! ```corefile
//! .:53 {
//!     kubernetes cluster.local in-addr.arpa ip6.arpa
//!     forward . /etc/resolv.conf
//!     loop
//! }
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicU32};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use corefile::Directive;
use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use tokio_util::sync::CancellationToken;

use crate::contract::{
    Args, Next, Outcome, Plugin, PluginFuture, Query, SetupContext, SetupResult, StartError,
    fqdn_lower,
};

use crate::metrics::{Exposition, MetricsSource, server_label};
use crate::plugin::forward::ForwardingLoop;

const NAME: &str = "loop";
/// How long the probe keeps trying to get an answer.
const PROBE_WINDOW: Duration = Duration::from_secs(30);
/// Pause between probes that got no answer.
const RETRY_PAUSE: Duration = Duration::from_secs(1);
/// How long one probe waits for its answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// After an answer, stay armed this long so late copies of a looping query are still counted.
const LINGER: Duration = Duration::from_secs(2);
/// The block's listen address was not among those bound (a bug in the start order).
#[derive(Debug, thiserror::Error)]
#[error("the server block's listen address is not bound")]
struct NotBound;

/// `rollcall_forward_loop_detected{server,zone}` for one block with `loop`.
struct LoopMetrics {
    flag: Arc<ForwardingLoop>,
    /// The block's `server` labels (one per listen address).
    servers: Vec<String>,
    zone: String,
}

impl MetricsSource for LoopMetrics {
    fn render(&self, out: &mut Exposition) {
        let detected = self.flag.is_detected();
        for server in &self.servers {
            out.gauge(
                "rollcall_forward_loop_detected",
                "1 once the loop plugin found a forwarding loop: the server block's forward answers SERVFAIL without forwarding until the next configuration.",
                &[("server", server.as_str()), ("zone", self.zone.as_str())],
                detected,
            );
        }
    }
}

pub struct Loop {
    zone: String,
    qname: Name,
    /// `qname` lower-cased with a trailing dot, as [`Query::lower`] holds it.
    lower: String,
    probing: AtomicBool,
    seen: AtomicU32,
    /// The server's own address, once it listens (for the message).
    own_addr: OnceLock<SocketAddr>,
    /// The block's switch `forward` obeys.
    forwarding_loop: Arc<ForwardingLoop>,
}

impl Loop {
    pub fn new(zone: &str, forwarding_loop: Arc<ForwardingLoop>) -> Self {
        let a: u64 = rand::random();
        let b: u64 = rand::random();
        let text = if zone == "." {
            format!("{a}.{b}.")
        } else {
            format!("{a}.{b}.{zone}")
        };
        let qname = Name::from_ascii(&text).unwrap_or_else(|_| Name::root());
        Loop {
            zone: zone.to_string(),
            lower: fqdn_lower(&qname),
            qname,
            probing: AtomicBool::new(true),
            seen: AtomicU32::new(0),
            own_addr: OnceLock::new(),
            forwarding_loop,
        }
    }

    /// The probe's name (tests, logs).
    pub fn probe_name(&self) -> &Name {
        &self.qname
    }

    pub fn is_probing(&self) -> bool {
        self.probing.load(Relaxed)
    }

    fn saw_probe(&self, query: &Query) {
        let count = self.seen.fetch_add(1, Relaxed) + 1;
        if count <= 2 {
            return;
        }
        self.probing.store(false, Relaxed);
        let to = self
            .own_addr
            .get()
            .map_or_else(|| "this server".to_string(), ToString::to_string);
        let message = format!(
            "plugin/loop: Loop ({} -> {to}) detected for zone {:?}, see https://coredns.io/plugins/loop#troubleshooting. Query: \"HINFO {}\"",
            query.src, self.zone, self.qname
        );
        tracing::error!("{message}");
        if self.forwarding_loop.detect(message, Instant::now()) {
            tracing::warn!(
                zone = %self.zone,
                "loop: forward is off for this server block (SERVFAIL, nothing sent); the other plugins keep answering and rollcall keeps running. Fix the upstream (e.g. a resolv.conf naming this server), then reload or restart"
            );
        }
    }

    /// Send the probe until it is answered or the window closes, then disarm.
    async fn probe(
        self: Arc<Self>,
        target: SocketAddr,
        answering: CancellationToken,
        shutdown: CancellationToken,
    ) {
        // On a reload, until the swap the probe would run through the previous configuration's
        // chain and test its forward, not this one's.
        tokio::select! {
            () = answering.cancelled() => {}
            () = shutdown.cancelled() => return,
        }
        let started = Instant::now();
        while started.elapsed() < PROBE_WINDOW && self.is_probing() {
            let answered = tokio::select! {
                answered = exchange(&self.qname, target) => answered,
                () = shutdown.cancelled() => return,
            };
            if answered {
                tokio::select! {
                    () = tokio::time::sleep(LINGER) => {}
                    () = shutdown.cancelled() => return,
                }
                break;
            }
            // Retries send the same name: only copies of one probe count towards a loop.
            self.seen.store(0, Relaxed);
            tokio::select! {
                () = tokio::time::sleep(RETRY_PAUSE) => {}
                () = shutdown.cancelled() => return,
            }
        }
        if self.probing.swap(false, Relaxed) {
            tracing::debug!(zone = %self.zone, "loop: no forwarding loop found; disabled");
        }
    }
}

/// True when the probe got an answer other than SERVFAIL.
async fn exchange(qname: &Name, target: SocketAddr) -> bool {
    let local: SocketAddr = if target.is_ipv4() {
        SocketAddr::from(([0, 0, 0, 0], 0))
    } else {
        SocketAddr::from(([0u16; 8], 0))
    };
    let Ok(socket) = tokio::net::UdpSocket::bind(local).await else {
        return false;
    };
    let id: u16 = rand::random();
    let mut msg = Message::new(id, MessageType::Query, OpCode::Query);
    msg.metadata.recursion_desired = true;
    msg.add_query(hickory_proto::op::Query::query(
        qname.clone(),
        RecordType::HINFO,
    ));
    let Ok(bytes) = msg.to_vec() else {
        return false;
    };
    if socket.send_to(&bytes, target).await.is_err() {
        return false;
    }
    let wait = async {
        let mut buf = [0u8; 4096];
        loop {
            let Ok((n, _)) = socket.recv_from(&mut buf).await else {
                return false;
            };
            if let Ok(reply) = Message::from_vec(&buf[..n])
                && reply.metadata.id == id
            {
                return reply.metadata.response_code != ResponseCode::ServFail;
            }
        }
    };
    tokio::time::timeout(PROBE_TIMEOUT, wait)
        .await
        .unwrap_or(false)
}

impl Plugin for Loop {
    fn name(&self) -> &'static str {
        NAME
    }

    fn serve<'a>(&'a self, query: &'a Query, next: Next<'a>) -> PluginFuture<'a> {
        if self.probing.load(Relaxed)
            && query.qtype == RecordType::HINFO
            && query.lower == self.lower
        {
            self.saw_probe(query);
        }
        next.serve(query)
    }
}

pub fn setup(ctx: &mut SetupContext<'_>, d: &Directive) -> SetupResult {
    Args::new(d).bare()?;
    let zone = ctx
        .block_zones
        .first()
        .cloned()
        .unwrap_or_else(|| ".".into());
    let flag = ForwardingLoop::of_block(ctx);
    let plugin = Arc::new(Loop::new(&zone, Arc::clone(&flag)));
    let ips: Vec<IpAddr> = if ctx.bind_addrs().is_empty() {
        vec![IpAddr::V4(Ipv4Addr::UNSPECIFIED)]
    } else {
        ctx.bind_addrs().to_vec()
    };
    let configured: Vec<SocketAddr> = ips
        .iter()
        .map(|ip| SocketAddr::new(*ip, ctx.port))
        .collect();
    ctx.metrics.register(Arc::new(LoopMetrics {
        flag,
        // The labels the block's `coredns_dns_*` counters carry.
        servers: configured.iter().map(|a| server_label(*a)).collect(),
        zone: zone.clone(),
    }));
    let hook_plugin = Arc::clone(&plugin);
    ctx.on_start(move |start| {
        let Some(bound) = start
            .dns_addrs
            .iter()
            .find(|(conf, _)| configured.contains(conf))
            .map(|(_, bound)| *bound)
        else {
            return Err(StartError::plugin(NAME, NotBound));
        };
        let target = match bound.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => {
                SocketAddr::new(Ipv4Addr::LOCALHOST.into(), bound.port())
            }
            IpAddr::V6(ip) if ip.is_unspecified() => {
                SocketAddr::new(Ipv6Addr::LOCALHOST.into(), bound.port())
            }
            _ => bound,
        };
        let _ = hook_plugin.own_addr.set(target);
        tokio::spawn(Arc::clone(&hook_plugin).probe(
            target,
            start.answering.clone(),
            start.shutdown.clone(),
        ));
        Ok(())
    });
    let detail = if zone == "." {
        "probe HINFO <random>.<random>.".to_string()
    } else {
        format!("probe HINFO <random>.<random>.{zone}")
    };
    Ok(Outcome::Link(plugin, detail))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe_query(l: &Loop) -> Query {
        Query::new(l.qname.clone(), RecordType::HINFO)
    }

    fn new_loop(zone: &str) -> Loop {
        Loop::new(zone, Arc::new(ForwardingLoop::new()))
    }

    #[test]
    fn probe_name_is_below_the_zone() {
        let l = new_loop("cluster.local.");
        assert!(l.lower.ends_with(".cluster.local."), "{}", l.lower);
        assert_eq!(l.lower.split('.').count(), 5);
        let root = new_loop(".");
        assert_eq!(root.lower.split('.').count(), 3, "{}", root.lower);
    }

    #[test]
    fn third_sighting_turns_forwarding_off_with_corednss_message() {
        let l = new_loop(".");
        let _ = l.own_addr.set(SocketAddr::from(([127, 0, 0, 1], 1053)));
        let q = probe_query(&l);
        l.saw_probe(&q);
        l.saw_probe(&q);
        assert!(!l.forwarding_loop.is_detected());
        assert!(l.forwarding_loop.message().is_none());
        l.saw_probe(&q);
        assert!(l.forwarding_loop.is_detected());
        assert!(!l.is_probing());
        let message = l.forwarding_loop.message().unwrap_or_default();
        assert_eq!(
            message,
            format!(
                "plugin/loop: Loop (127.0.0.1:0 -> 127.0.0.1:1053) detected for zone \".\", see https://coredns.io/plugins/loop#troubleshooting. Query: \"HINFO {}\"",
                l.qname
            )
        );
    }

    #[test]
    fn the_gauge_follows_the_flag() {
        let flag = Arc::new(ForwardingLoop::new());
        let source = LoopMetrics {
            flag: Arc::clone(&flag),
            servers: vec!["dns://:53".into(), "dns://10.0.0.10:53".into()],
            zone: ".".into(),
        };
        let render = || {
            let mut out = Exposition::new();
            source.render(&mut out);
            out.finish()
        };
        let before = render();
        assert!(
            before.contains("rollcall_forward_loop_detected{server=\"dns://:53\",zone=\".\"} 0\n"),
            "{before}"
        );
        flag.detect("loop".into(), Instant::now());
        let after = render();
        assert!(
            after.contains("rollcall_forward_loop_detected{server=\"dns://:53\",zone=\".\"} 1\n"),
            "{after}"
        );
        assert!(
            after.contains(
                "rollcall_forward_loop_detected{server=\"dns://10.0.0.10:53\",zone=\".\"} 1\n"
            ),
            "{after}"
        );
    }

    #[tokio::test]
    async fn only_the_probe_counts_and_only_while_probing() {
        let l = new_loop(".");
        let chain: Vec<Arc<dyn Plugin>> = vec![];
        let other = Query::new(
            Name::from_ascii("example.org.").unwrap_or_default(),
            RecordType::HINFO,
        );
        let wrong_type = Query::new(l.qname.clone(), RecordType::A);
        for q in [&other, &wrong_type] {
            let _ = l.serve(q, Next::new(&chain)).await;
        }
        assert_eq!(l.seen.load(Relaxed), 0);
        let _ = l.serve(&probe_query(&l), Next::new(&chain)).await;
        assert_eq!(l.seen.load(Relaxed), 1);
        l.probing.store(false, Relaxed);
        let _ = l.serve(&probe_query(&l), Next::new(&chain)).await;
        assert_eq!(l.seen.load(Relaxed), 1, "disabled: not counted");
    }
}
