use std::net::SocketAddr;
use std::sync::Arc;

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::{Name, RData, Record, RecordType, rdata};

use super::setup::{StubResolver, replace_resolved_stub, resolv_conf_nameservers};
use super::*;
use crate::contract::Plugin;

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn forward(policy: Policy, n: usize) -> Forward {
    let to = (0..n)
        .map(|i| addr(&format!("127.0.0.{}:53", i + 1)))
        .collect();
    let mut config = Config::new(".".into(), to);
    config.policy = policy;
    Forward::new(config)
}

#[test]
fn resolv_conf_lines() {
    let text = "# comment\nsearch svc.cluster.local\nnameserver 10.0.0.10\nnameserver ::1 # v6\n\
                nameserver fe80::1%eth0\noptions ndots:5\n  nameserver   192.168.1.1\n";
    assert_eq!(
        resolv_conf_nameservers(text),
        vec![
            addr("10.0.0.10:53"),
            addr("[::1]:53"),
            addr("192.168.1.1:53")
        ]
    );
    assert!(resolv_conf_nameservers("search x\n").is_empty());
}

fn addrs(list: &[&str]) -> Vec<SocketAddr> {
    list.iter().map(|s| addr(s)).collect()
}

/// What systemd-resolved writes to /run/systemd/resolve/resolv.conf.
const RESOLVED_REAL: &str = "# This is /run/systemd/resolve/resolv.conf managed by man:systemd-resolved(8).\n\
    nameserver 10.0.0.2\nnameserver 2001:db8::53\nnameserver 127.0.0.1\nsearch example.internal\n";

#[test]
fn resolved_stub_is_replaced_by_the_real_upstreams_in_place() {
    let stub = addrs(&["127.0.0.53:53"]);
    assert_eq!(
        replace_resolved_stub(&stub, Some(RESOLVED_REAL)),
        StubResolver::Replaced {
            // The real list's loopback entry is dropped: it could loop as well.
            servers: addrs(&["10.0.0.2:53", "[2001:db8::53]:53"]),
            upstreams: addrs(&["10.0.0.2:53", "[2001:db8::53]:53"]),
        }
    );
    // Other entries stay where they were; both stub addresses go; nothing is listed twice.
    let mixed = addrs(&[
        "192.168.1.1:53",
        "127.0.0.53:53",
        "127.0.0.1:53",
        "127.0.0.54:53",
        "10.0.0.2:53",
    ]);
    assert_eq!(
        replace_resolved_stub(&mixed, Some(RESOLVED_REAL)),
        StubResolver::Replaced {
            servers: addrs(&[
                "192.168.1.1:53",
                "[2001:db8::53]:53",
                "127.0.0.1:53",
                "10.0.0.2:53",
            ]),
            upstreams: addrs(&["10.0.0.2:53", "[2001:db8::53]:53"]),
        }
    );
}

#[test]
fn resolved_stub_is_kept_without_a_usable_real_list() {
    let stub = addrs(&["127.0.0.53:53", "10.9.9.9:53"]);
    assert!(matches!(
        replace_resolved_stub(&stub, None),
        StubResolver::Kept(why) if why.contains("does not exist")
    ));
    for real in ["nameserver 127.0.0.1\nnameserver ::1\n", "search x\n", ""] {
        assert!(
            matches!(
                replace_resolved_stub(&stub, Some(real)),
                StubResolver::Kept(why) if why.contains("loopback")
            ),
            "{real:?}"
        );
    }
    // No stub: the real list is not even looked at.
    for servers in [addrs(&["10.0.0.10:53"]), addrs(&["127.0.0.1:53"])] {
        assert_eq!(
            replace_resolved_stub(&servers, Some(RESOLVED_REAL)),
            StubResolver::NotListed
        );
    }
}

#[tokio::test]
async fn a_detected_loop_is_servfail_at_once_without_sending() {
    let flag = Arc::new(super::ForwardingLoop::new());
    // An upstream that never answers: a query that went out would take READ_TIMEOUT.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let f = Forward::new(Config::new(".".into(), vec![silent.local_addr().unwrap()]))
        .with_forwarding_loop(Arc::clone(&flag));
    flag.detect("plugin/loop: Loop (a -> b)".into(), Instant::now());
    let chain: Vec<Arc<dyn Plugin>> = vec![];
    let q = Query::new(Name::from_ascii("example.org.").unwrap(), RecordType::A);
    let started = Instant::now();
    let result = f.serve(&q, Next::new(&chain)).await;
    assert!(
        matches!(&result, Err(e) if e.rcode() == ResponseCode::ServFail),
        "{result:?}"
    );
    assert!(started.elapsed() < Duration::from_millis(100));
    assert_eq!(
        f.stats.upstreams[0].requests.load(Relaxed),
        0,
        "nothing sent"
    );
    silent.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 512];
    assert!(
        silent.recv(&mut buf).is_err(),
        "a packet reached the upstream"
    );
    // Names outside FROM still go down the chain.
    let f = Forward::new(Config::new(
        "example.org.".into(),
        vec![addr("127.0.0.1:9")],
    ))
    .with_forwarding_loop(flag);
    let other = Query::new(Name::from_ascii("example.net.").unwrap(), RecordType::A);
    assert_eq!(
        f.serve(&other, Next::new(&chain)).await,
        Err(PluginError::NoNextPlugin)
    );
}

#[test]
fn sequential_and_round_robin_orders() {
    let f = forward(Policy::Sequential, 3);
    let mut order = [0usize; 3];
    f.order(&mut order);
    assert_eq!(order, [0, 1, 2]);
    f.order(&mut order);
    assert_eq!(order, [0, 1, 2]);

    let f = forward(Policy::RoundRobin, 3);
    let firsts: Vec<usize> = (0..4)
        .map(|_| {
            f.order(&mut order);
            order[0]
        })
        .collect();
    assert_eq!(firsts, vec![0, 1, 2, 0]);

    let f = forward(Policy::Random, 3);
    f.order(&mut order);
    let mut sorted = order;
    sorted.sort_unstable();
    assert_eq!(sorted, [0, 1, 2], "random is a permutation");
}

#[test]
fn from_and_except_select_names() {
    let mut config = Config::new("example.org.".into(), vec![addr("127.0.0.1:53")]);
    config.except = vec!["internal.example.org.".into()];
    let f = Forward::new(config);
    assert!(f.handles("example.org."));
    assert!(f.handles("www.example.org."));
    assert!(!f.handles("internal.example.org."));
    assert!(!f.handles("a.internal.example.org."));
    assert!(!f.handles("example.com."));
}

#[test]
fn max_concurrent_slots_are_given_back() {
    let mut config = Config::new(".".into(), vec![addr("127.0.0.1:53")]);
    config.max_concurrent = 2;
    let f = Forward::new(config);
    let a = f.acquire();
    let b = f.acquire();
    assert!(a.is_some() && b.is_some());
    assert!(f.acquire().is_none(), "a third query is over the limit");
    assert_eq!(f.stats.in_flight.load(Relaxed), 2);
    drop(a);
    assert!(f.acquire().is_some());
    drop(b);
    assert_eq!(f.stats.in_flight.load(Relaxed), 0);
}

#[test]
fn request_keeps_the_question_rd_cd_and_do() {
    let mut q = Query::new(
        Name::from_ascii("WwW.Example.ORG.").unwrap(),
        RecordType::AAAA,
    );
    q.recursion_desired = false;
    q.checking_disabled = true;
    q.dnssec_ok = true;
    let msg = Message::from_vec(&encode_request(&q).unwrap()).unwrap();
    assert!(!msg.metadata.recursion_desired);
    assert!(msg.metadata.checking_disabled);
    assert_eq!(msg.queries[0].name().to_ascii(), "WwW.Example.ORG.");
    assert_eq!(msg.queries[0].query_type(), RecordType::AAAA);
    let edns = msg.edns.unwrap();
    assert!(edns.flags().dnssec_ok);
    assert_eq!(edns.max_payload(), 1232);
}

/// A one-socket UDP upstream: answers every query with an A record and reports the client port.
async fn tiny_upstream(
    reply_tc: bool,
) -> (SocketAddr, tokio::sync::mpsc::UnboundedReceiver<SocketAddr>) {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let local = socket.local_addr().unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut buf = [0u8; 4096];
        while let Ok((n, src)) = socket.recv_from(&mut buf).await {
            let Ok(query) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            let _ = tx.send(src);
            let mut reply = Message::new(query.metadata.id, MessageType::Response, OpCode::Query);
            reply.metadata.recursion_desired = query.metadata.recursion_desired;
            reply.metadata.recursion_available = true;
            reply.metadata.truncation = reply_tc;
            reply.add_queries(query.queries.clone());
            let name = query.queries[0].name().clone();
            reply.add_answer(Record::from_rdata(
                name,
                60,
                RData::A(rdata::A::new(192, 0, 2, 1)),
            ));
            let mut edns = hickory_proto::op::Edns::new();
            edns.set_max_payload(4096);
            reply.set_edns(edns);
            let _ = socket.send_to(&reply.to_vec().unwrap(), src).await;
        }
    });
    (local, rx)
}

#[tokio::test]
async fn udp_sockets_are_reused_and_replies_keep_sections() {
    let (up, mut seen) = tiny_upstream(false).await;
    let f = Forward::new(Config::new(".".into(), vec![up]));
    let chain: Vec<Arc<dyn Plugin>> = vec![];
    let q = Query::new(Name::from_ascii("example.org.").unwrap(), RecordType::A);
    for _ in 0..3 {
        let reply = f.serve(&q, Next::new(&chain)).await.unwrap();
        assert_eq!(reply.rcode, ResponseCode::NoError);
        assert_eq!(reply.answers.len(), 1);
        assert!(
            reply
                .additionals
                .iter()
                .all(|r| r.record_type() != RecordType::OPT)
        );
    }
    let ports: Vec<u16> = (0..3).map(|_| seen.try_recv().unwrap().port()).collect();
    assert!(
        ports.windows(2).all(|w| w[0] == w[1]),
        "one pooled socket: {ports:?}"
    );
    let stats = f.stats();
    assert_eq!(stats.upstreams[0].requests.load(Relaxed), 3);
    assert_eq!(stats.upstreams[0].rcode_count(0), 3);
}

#[tokio::test]
async fn names_outside_from_go_to_the_next_plugin() {
    let f = Forward::new(Config::new(
        "example.org.".into(),
        vec![addr("127.0.0.1:9")],
    ));
    let chain: Vec<Arc<dyn Plugin>> = vec![];
    let q = Query::new(Name::from_ascii("example.com.").unwrap(), RecordType::A);
    assert_eq!(
        f.serve(&q, Next::new(&chain)).await,
        Err(PluginError::NoNextPlugin)
    );
}

#[tokio::test]
async fn all_down_with_failfast_is_an_upstream_error_at_once() {
    let mut config = Config::new(".".into(), vec![addr("127.0.0.1:9")]);
    config.failfast = true;
    let f = Forward::new(config);
    f.upstreams[0].record_failure();
    f.upstreams[0].record_failure();
    let chain: Vec<Arc<dyn Plugin>> = vec![];
    let q = Query::new(Name::from_ascii("example.org.").unwrap(), RecordType::A);
    let started = Instant::now();
    let result = f.serve(&q, Next::new(&chain)).await;
    assert!(
        matches!(result, Err(PluginError::Upstream { .. })),
        "{result:?}"
    );
    assert!(started.elapsed() < Duration::from_millis(100));
    assert_eq!(f.stats.healthcheck_broken.load(Relaxed), 1);
}
