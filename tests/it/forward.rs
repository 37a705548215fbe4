//! `forward` end to end: rollcall in-process on real sockets, one or two programmable upstreams
//! (`rollcall_tests::upstream`), asked with dig, hickory's client and the dispatcher.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

use rollcall::contract::Transport;
use rollcall_tests::upstream::{Behavior, TestUpstream};

use crate::support::{
    Answer, TestServer, ask_dig, ask_hickory, ask_in_process, fixtures, scratch_dir,
};

const NAME: &str = "www.example.org.";
const IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);

async fn upstream() -> TestUpstream {
    let up = TestUpstream::start().await.expect("test upstream binds");
    up.add_a(NAME, &[IP]);
    up
}

/// A server forwarding `.` with these `forward` properties, plus the k8s fixture cluster.
async fn server(to: &[SocketAddr], props: &str) -> TestServer {
    let to: Vec<String> = to.iter().map(ToString::to_string).collect();
    let corefile = format!(
        ".:0 {{\n    bind 127.0.0.1\n    kubernetes cluster.local in-addr.arpa {{\n        manifests cluster\n        pods insecure\n        fallthrough in-addr.arpa\n    }}\n    forward . {} {{\n{props}\n    }}\n}}\n",
        to.join(" ")
    );
    TestServer::start_text(&corefile, &fixtures().join("k8s")).await
}

fn answered(a: &Answer) -> bool {
    a.rcode == "NOERROR" && a.answer == vec![format!("{NAME} 300 IN A {IP}")]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outside_names_are_forwarded_over_udp_and_tcp_cluster_names_are_not() {
    let up = upstream().await;
    let server = server(&[up.addr], "").await;
    let q = format!("{NAME} A");

    let dig_udp = tokio::task::spawn_blocking({
        let (addr, q) = (server.addr, q.clone());
        move || ask_dig(addr, &q, false)
    });
    let a = dig_udp.await.unwrap();
    assert!(answered(&a), "dig udp: {a:?}");
    assert!(!a.aa, "the upstream's AA bit is kept (not authoritative)");
    assert_eq!((up.udp_queries(), up.tcp_queries()), (1, 0));

    let dig_tcp = tokio::task::spawn_blocking({
        let (addr, q) = (server.addr, q.clone());
        move || ask_dig(addr, &q, true)
    });
    let a = dig_tcp.await.unwrap();
    assert!(answered(&a), "dig tcp: {a:?}");
    assert_eq!(up.tcp_queries(), 1, "a TCP client is forwarded over TCP");

    for transport in [Transport::Udp, Transport::Tcp] {
        let a = ask_hickory(server.addr, &q, transport).await;
        assert!(answered(&a), "hickory {transport:?}: {a:?}");
    }
    assert_eq!(up.queries_for(NAME), 4);

    let missing = ask_in_process(&server, "nothing.example.org. A").await;
    assert_eq!(missing.rcode, "NXDOMAIN", "the upstream's rcode is kept");

    // The cluster zone is the kubernetes plugin's: never forwarded, even NXDOMAIN.
    let cluster = ask_in_process(&server, "web-service.apps.svc.cluster.local. A").await;
    assert_eq!(cluster.rcode, "NOERROR");
    assert!(cluster.aa);
    let nx = ask_in_process(&server, "nope.apps.svc.cluster.local. A").await;
    assert_eq!(nx.rcode, "NXDOMAIN");
    assert!(nx.aa);
    assert_eq!(up.queries_for("web-service.apps.svc.cluster.local."), 0);
    assert_eq!(up.queries_for("nope.apps.svc.cluster.local."), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reverse_names_the_cluster_lacks_fall_through_to_forward() {
    let up = upstream().await;
    let server = server(&[up.addr], "").await;
    let a = ask_in_process(&server, "4.3.2.1.in-addr.arpa. PTR").await;
    assert_eq!(a.rcode, "NXDOMAIN");
    assert!(!a.aa, "the NXDOMAIN is the upstream's, not kubernetes'");
    assert_eq!(up.queries_for("4.3.2.1.in-addr.arpa."), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn except_names_are_not_forwarded() {
    let up = upstream().await;
    up.add_a("a.internal.example.", &[IP]);
    let server = server(&[up.addr], "        except internal.example").await;
    let a = ask_in_process(&server, "a.internal.example. A").await;
    assert_eq!(a.rcode, "REFUSED", "no plugin after forward takes it");
    assert_eq!(up.queries_for("a.internal.example."), 0);
    assert!(answered(
        &ask_in_process(&server, &format!("{NAME} A")).await
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequential_uses_the_first_round_robin_alternates() {
    let (a, b) = (upstream().await, upstream().await);
    let seq = server(&[a.addr, b.addr], "        policy sequential").await;
    for _ in 0..6 {
        assert!(answered(&ask_in_process(&seq, &format!("{NAME} A")).await));
    }
    assert_eq!((a.queries_for(NAME), b.queries_for(NAME)), (6, 0));

    let (c, d) = (upstream().await, upstream().await);
    let rr = server(&[c.addr, d.addr], "        policy round_robin").await;
    for _ in 0..6 {
        assert!(answered(&ask_in_process(&rr, &format!("{NAME} A")).await));
    }
    assert_eq!((c.queries_for(NAME), d.queries_for(NAME)), (3, 3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_upstream_fails_over_to_the_next() {
    let (a, b) = (upstream().await, upstream().await);
    a.set_behavior(Behavior::Drop);
    let server = server(&[a.addr, b.addr], "        policy sequential").await;
    let started = Instant::now();
    let answer = ask_in_process(&server, &format!("{NAME} A")).await;
    let took = started.elapsed();
    assert!(answered(&answer), "{answer:?}");
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_millis(3500),
        "one 2 s read timeout, then the second upstream: {took:?}"
    );
    assert_eq!((a.queries_for(NAME), b.queries_for(NAME)), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servfail_when_every_upstream_is_silent() {
    let a = upstream().await;
    a.set_behavior(Behavior::Drop);
    let server = server(&[a.addr], "").await;
    let answer = ask_in_process(&server, &format!("{NAME} A")).await;
    assert_eq!(answer.rcode, "SERVFAIL");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_udp_replies_are_retried_over_tcp_and_force_tcp_reuses_one_connection() {
    let up = upstream().await;
    up.set_behavior(Behavior::Truncate);
    let server = server(&[up.addr], "").await;
    let a = ask_in_process(&server, &format!("{NAME} A")).await;
    assert!(answered(&a), "the full answer, from the TCP retry: {a:?}");
    assert_eq!((up.udp_queries(), up.tcp_queries()), (1, 1));

    let up = upstream().await;
    let server = self::server(&[up.addr], "        force_tcp").await;
    assert!(answered(
        &ask_in_process(&server, &format!("{NAME} A")).await
    ));
    assert!(answered(
        &ask_in_process(&server, &format!("{NAME} A")).await
    ));
    assert_eq!((up.udp_queries(), up.tcp_queries()), (0, 2));
    assert_eq!(up.tcp_connections(), 1, "the TCP connection is pooled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_concurrent_refuses_the_excess() {
    let up = upstream().await;
    up.set_behavior(Behavior::Delay(Duration::from_millis(800)));
    let server = server(&[up.addr], "        max_concurrent 2").await;
    let q = format!("{NAME} A");
    let answers = futures_util::future::join_all((0..6).map(|_| ask_in_process(&server, &q))).await;
    let ok = answers.iter().filter(|a| answered(a)).count();
    let refused = answers.iter().filter(|a| a.rcode == "REFUSED").count();
    assert_eq!((ok, refused), (2, 4), "{answers:?}");
    assert_eq!(up.queries_for(NAME), 2);
    // Slots are given back: the next query is forwarded.
    assert!(answered(&ask_in_process(&server, &q).await));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_upstream_is_marked_down_then_up_again_by_health_checks() {
    let (a, b) = (upstream().await, upstream().await);
    a.set_behavior(Behavior::Drop);
    let server = server(
        &[a.addr, b.addr],
        "        policy sequential\n        max_fails 2\n        health_check 100ms",
    )
    .await;
    let q = format!("{NAME} A");
    assert!(answered(&ask_in_process(&server, &q).await));
    assert_eq!(a.queries_for(NAME), 1);
    // One query failure plus one failed probe (1 s timeout) make two: A is down.
    tokio::time::sleep(Duration::from_millis(1800)).await;
    assert!(a.queries_for(".") >= 1, "health probes ask `. IN NS`");
    let started = Instant::now();
    assert!(answered(&ask_in_process(&server, &q).await));
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "a down upstream is skipped: {:?}",
        started.elapsed()
    );
    assert_eq!((a.queries_for(NAME), b.queries_for(NAME)), (1, 2));

    a.set_behavior(Behavior::Answer);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        assert!(answered(&ask_in_process(&server, &q).await));
        if a.queries_for(NAME) == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "A never came back up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resolv_conf_nameservers_are_the_upstreams() {
    let dir = scratch_dir("forward-resolv");
    // A loopback address of its own, so port 53 is free whatever else runs on this machine.
    let ip = Ipv4Addr::new(127, 77, (std::process::id() % 250) as u8 + 1, 53);
    std::fs::write(
        dir.join("resolv.conf"),
        format!("search svc.cluster.local\nnameserver {ip}\noptions ndots:5\n"),
    )
    .unwrap();
    let corefile = ".:0 {\n    bind 127.0.0.1\n    forward . resolv.conf\n}\n";
    let options = corefile::ParseOptions::with_env(|_| None);
    let plan = rollcall::load_corefile_str(corefile, "Corefile", &dir, &options, 0)
        .unwrap()
        .to_string();
    assert!(
        plan.contains(&format!("forward: from .; to {ip}:53;")),
        "{plan}"
    );

    let up = match TestUpstream::start_at(SocketAddr::from((ip, 53))).await {
        Ok(up) => up,
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            eprintln!("skipping the live half: binding port 53 needs privileges ({e})");
            return;
        }
        Err(e) => panic!("binding {ip}:53: {e}"),
    };
    up.add_a(NAME, &[IP]);
    let server = TestServer::start_text(corefile, &dir).await;
    assert!(answered(
        &ask_in_process(&server, &format!("{NAME} A")).await
    ));
    assert_eq!(up.queries_for(NAME), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn check_accepts_the_kubeadm_forward_and_loop() {
    let dir = scratch_dir("forward-check");
    std::fs::write(dir.join("resolv.conf"), "nameserver 10.96.0.10\n").unwrap();
    let corefile =
        ".:53 {\n    forward . ./resolv.conf {\n       max_concurrent 1000\n    }\n    loop\n}\n";
    let options = corefile::ParseOptions::with_env(|_| None);
    let plan = rollcall::load_corefile_str(corefile, "Corefile", Path::new(&dir), &options, 53)
        .unwrap()
        .to_string();
    let lp = plan.find("1. loop: probe HINFO ").expect("loop first");
    let fw = plan
        .find("2. forward: from .; to 10.96.0.10:53; policy random; max_fails 2; health_check 500ms; expire 10s; max_concurrent 1000")
        .expect("forward after loop");
    assert!(lp < fw, "{plan}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn next_rcodes_go_on_down_the_chain_others_are_passed_back() {
    let up = upstream().await;
    up.set_behavior(Behavior::ServFail);
    let plain = server(&[up.addr], "").await;
    let a = ask_in_process(&plain, &format!("{NAME} A")).await;
    assert_eq!(
        a.rcode, "SERVFAIL",
        "the upstream's SERVFAIL is passed back"
    );

    let with_next = server(&[up.addr], "        next SERVFAIL NXDOMAIN").await;
    let a = ask_in_process(&with_next, &format!("{NAME} A")).await;
    assert_eq!(
        a.rcode, "REFUSED",
        "sent on to the (empty) rest of the chain"
    );
    assert_eq!(up.queries_for(NAME), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefer_udp_forwards_tcp_clients_over_udp() {
    let up = upstream().await;
    let server = server(&[up.addr], "        prefer_udp").await;
    let a = ask_hickory(server.addr, &format!("{NAME} A"), Transport::Tcp).await;
    assert!(answered(&a), "{a:?}");
    assert_eq!((up.udp_queries(), up.tcp_queries()), (1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upstreams_header_bits_are_kept() {
    use hickory_proto::op::Message;
    use hickory_proto::rr::Name;

    let up = upstream().await;
    up.set_flags(false, true);
    let server = server(&[up.addr], "").await;
    let ask = |name: &str| {
        let bytes = crate::support::query_bytes(
            &Name::from_ascii(name).unwrap(),
            hickory_proto::rr::RecordType::A,
            9,
        );
        let dispatcher = server.dispatcher.clone();
        async move {
            let reply = dispatcher
                .respond(&bytes, "127.0.0.1:5353".parse().unwrap(), Transport::Udp)
                .await
                .unwrap();
            Message::from_vec(&reply).unwrap().metadata
        }
    };
    let relayed = ask(NAME).await;
    assert!(
        !relayed.recursion_available && relayed.authentic_data,
        "{relayed:?}"
    );
    assert_eq!(relayed.id, 9, "the client's id, not the upstream's");
    let local = ask("web-service.apps.svc.cluster.local.").await;
    assert!(
        local.recursion_available && !local.authentic_data,
        "{local:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_rcodes_try_the_next_upstream_and_the_last_reply_stands() {
    let (a, b) = (upstream().await, upstream().await);
    a.set_behavior(Behavior::ServFail);
    let plain = server(&[a.addr, b.addr], "        policy sequential").await;
    let r = ask_in_process(&plain, &format!("{NAME} A")).await;
    assert_eq!(
        r.rcode, "SERVFAIL",
        "without failover the first reply stands"
    );

    let failover = server(
        &[a.addr, b.addr],
        "        policy sequential\n        failover SERVFAIL REFUSED",
    )
    .await;
    let r = ask_in_process(&failover, &format!("{NAME} A")).await;
    assert!(answered(&r), "the second upstream answers: {r:?}");
    assert_eq!((a.queries_for(NAME), b.queries_for(NAME)), (2, 1));

    // Every upstream fails over: the last one's reply is the answer.
    b.set_behavior(Behavior::ServFail);
    let r = ask_in_process(&failover, &format!("{NAME} A")).await;
    assert_eq!(r.rcode, "SERVFAIL");
    assert_eq!((a.queries_for(NAME), b.queries_for(NAME)), (3, 2));
}
