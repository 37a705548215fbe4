//! # loop
//!
//! Detects forwarding loops (a `forward` whose upstream sends the query back to this server, as
//! when a node's resolv.conf names a loopback stub resolver, coredns/coredns#2087). Once serving,
//! it sends `HINFO <random>.<random>.<first zone of the block>.` to the server's own address, so
//! the query runs through the chain like any other. If this plugin sees that very query more than
//! twice, the server is talking to itself: it logs
//! `Loop (A -> B) detected for zone "Z", see https://coredns.io/plugins/loop#troubleshooting`
//! and stops the server, which exits non-zero with that message.
//!
//! The probe is retried every second for up to 30 s while it gets no reply (or SERVFAIL); after a
//! reply, or after 30 s, the plugin disables itself. While disabled it costs one relaxed atomic
//! load per query.
//!
//! ## Syntax
//! ```text
//! loop
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use corefile::Directive;
use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use tokio_util::sync::CancellationToken;

use super::order::SetupResult;
use super::{Next, Plugin, PluginFuture};
use crate::server::query::{Query, fqdn_lower};
use crate::setup::{Fatal, SetupContext, args};

const NAME: &str = "loop";
/// How long the probe keeps trying to get an answer.
const PROBE_WINDOW: Duration = Duration::from_secs(30);
/// Pause between probes that got no answer.
const RETRY_PAUSE: Duration = Duration::from_secs(1);
/// How long one probe waits for its answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// After an answer, stay armed this long so late copies of a looping query are still counted.
const LINGER: Duration = Duration::from_secs(2);

pub struct Loop {
    zone: String,
    qname: Name,
    /// `qname` lower-cased with a trailing dot, as [`Query::lower`] holds it.
    lower: String,
    probing: AtomicBool,
    seen: AtomicU32,
    /// The server's own address, once it listens (for the message).
    own_addr: OnceLock<SocketAddr>,
    fatal: OnceLock<Fatal>,
}

impl Loop {
    pub fn new(zone: &str) -> Self {
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
            fatal: OnceLock::new(),
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
            "Loop ({} -> {to}) detected for zone {:?}, see https://coredns.io/plugins/loop#troubleshooting. Query: \"HINFO {}\"",
            query.src, self.zone, self.qname
        );
        tracing::error!("{message}");
        if let Some(fatal) = self.fatal.get() {
            fatal.report(format!("plugin/loop: {message}"));
        }
    }

    /// Send the probe until it is answered or the window closes, then disarm.
    async fn probe(self: Arc<Self>, target: SocketAddr, shutdown: CancellationToken) {
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
    args::no_args(d)?;
    args::no_block(d)?;
    let zone = ctx
        .block_zones
        .first()
        .cloned()
        .unwrap_or_else(|| ".".into());
    let plugin = Arc::new(Loop::new(&zone));
    let ips: Vec<IpAddr> = if ctx.bind.is_empty() {
        vec![IpAddr::V4(Ipv4Addr::UNSPECIFIED)]
    } else {
        ctx.bind.clone()
    };
    let configured: Vec<SocketAddr> = ips
        .iter()
        .map(|ip| SocketAddr::new(*ip, ctx.port))
        .collect();
    let hook_plugin = Arc::clone(&plugin);
    ctx.hooks.push(Box::new(move |start| {
        let Some(bound) = start
            .dns_addrs
            .iter()
            .find(|(conf, _)| configured.contains(conf))
            .map(|(_, bound)| *bound)
        else {
            return Err("loop: the server block's listen address is not bound".into());
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
        let _ = hook_plugin.fatal.set(start.fatal.clone());
        tokio::spawn(Arc::clone(&hook_plugin).probe(target, start.shutdown.clone()));
        Ok(())
    }));
    let detail = if zone == "." {
        "probe HINFO <random>.<random>.".to_string()
    } else {
        format!("probe HINFO <random>.<random>.{zone}")
    };
    Ok(Some((plugin, detail)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe_query(l: &Loop) -> Query {
        Query::new(l.qname.clone(), RecordType::HINFO)
    }

    #[test]
    fn probe_name_is_below_the_zone() {
        let l = Loop::new("cluster.local.");
        assert!(l.lower.ends_with(".cluster.local."), "{}", l.lower);
        assert_eq!(l.lower.split('.').count(), 5);
        let root = Loop::new(".");
        assert_eq!(root.lower.split('.').count(), 3, "{}", root.lower);
    }

    #[test]
    fn third_sighting_is_fatal() {
        let l = Loop::new(".");
        let shutdown = CancellationToken::new();
        let fatal = Fatal::new(shutdown.clone());
        let _ = l.fatal.set(fatal.clone());
        let q = probe_query(&l);
        l.saw_probe(&q);
        l.saw_probe(&q);
        assert!(fatal.message().is_none());
        assert!(!shutdown.is_cancelled());
        l.saw_probe(&q);
        let message = fatal.message().unwrap_or_default();
        assert!(
            message.contains("Loop (127.0.0.1:0 -> this server) detected for zone \".\""),
            "{message}"
        );
        assert!(message.contains("https://coredns.io/plugins/loop#troubleshooting"));
        assert!(shutdown.is_cancelled());
        assert!(!l.is_probing());
    }

    #[tokio::test]
    async fn only_the_probe_counts_and_only_while_probing() {
        let l = Loop::new(".");
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
