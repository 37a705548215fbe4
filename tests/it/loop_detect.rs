//! coredns/coredns#2087 end to end, through the real binary. A Corefile that forwards to itself:
//! `loop` finds it and logs CoreDNS's message, and instead of exiting (CoreDNS's crash loop)
//! rollcall keeps running, answers the cluster zone, answers forwarded names SERVFAIL at once
//! without sending them, and reports the loop on `/metrics` while `/health` and `/ready` stay
//! OK. A real upstream does not trip it. And in a pod-like network namespace whose resolv.conf
//! names systemd-resolved's stub 127.0.0.53 (which there reaches rollcall itself), `forward`
//! uses the upstreams listed in `/run/systemd/resolve/resolv.conf` instead.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rollcall::contract::Transport;
use rollcall_tests::upstream::TestUpstream;

use crate::netns::Netns;
use crate::support::{
    Answer, ask_dig, ask_hickory, parse_dig, rollcall_bin, scratch_dir, service_manifest,
};

/// A port free for both UDP and TCP on 127.0.0.1 (a forward-to-self Corefile must name it).
fn free_port() -> u16 {
    for _ in 0..50 {
        let udp = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = udp.local_addr().unwrap().port();
        if std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return port;
        }
    }
    panic!("no free port");
}

/// `rollcall serve` with its log (stdout and stderr) in a file, so it can be read while it runs.
struct Served {
    child: Child,
    log: PathBuf,
}

impl Served {
    fn start(dir: &Path, corefile: &str) -> Served {
        let path = dir.join("Corefile");
        std::fs::write(&path, corefile).unwrap();
        let log = dir.join("rollcall.log");
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(rollcall_bin())
            .args(["serve", "--threads", "2", "--corefile"])
            .arg(&path)
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap();
        Served { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `GET path` on 127.0.0.1:port: (status, body).
fn http_get(port: u16, path: &str) -> (u16, String) {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
        return (0, String::new());
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    // One write: the probe server reads the request once.
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .unwrap();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// The value of the sample `name{labels}` exactly as exposed (labels in exposition order).
fn sample(metrics: &str, name_and_labels: &str) -> Option<f64> {
    metrics.lines().find_map(|line| {
        line.strip_prefix(name_and_labels)
            .and_then(|rest| rest.strip_prefix(' '))
            .and_then(|v| v.trim().parse().ok())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forwarding_loop_turns_forward_off_and_the_cluster_zone_keeps_answering() {
    let (port, metrics, health, ready) = (free_port(), free_port(), free_port(), free_port());
    let dir = scratch_dir("loop-self");
    let cluster = dir.join("cluster");
    std::fs::create_dir_all(&cluster).unwrap();
    std::fs::write(
        cluster.join("web.yaml"),
        service_manifest("web", "10.96.1.1"),
    )
    .unwrap();
    // kubeadm's chain, with `forward` pointed back at the server itself.
    let corefile = format!(
        ".:{port} {{\n    bind 127.0.0.1\n    errors\n    health 127.0.0.1:{health}\n    ready 127.0.0.1:{ready}\n    prometheus 127.0.0.1:{metrics}\n    kubernetes cluster.local {{\n        manifests {}\n    }}\n    forward . 127.0.0.1:{port}\n    loop\n}}\n",
        cluster.display()
    );
    let mut served = Served::start(&dir, &corefile);
    let started = Instant::now();
    // A is the address the looping query came from (forward's socket), B the server itself.
    let want = format!(
        " -> 127.0.0.1:{port}) detected for zone \".\", see https://coredns.io/plugins/loop#troubleshooting. Query: \"HINFO "
    );
    let line = loop {
        let log = served.log();
        if let Some(line) = log.lines().find(|l| l.contains("Loop (")) {
            break line.to_string();
        }
        assert!(served.running(), "rollcall exited:\n{log}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no loop found within 10 s:\n{log}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let found_in = started.elapsed();
    assert!(found_in < Duration::from_secs(5), "took {found_in:?}");
    assert!(line.contains("ERROR"), "{line}");
    assert!(
        line.contains("plugin/loop: Loop (127.0.0.1:"),
        "CoreDNS's text: {line}"
    );
    assert!(line.contains(&want), "{want}\nnot in:\n{line}");
    eprintln!("loop found in {found_in:?}: {line}");

    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let dig = |q: &'static str| {
        tokio::task::spawn_blocking(move || {
            let asked = Instant::now();
            let answer = ask_dig(addr, q, false);
            (answer, asked.elapsed())
        })
    };
    // The cluster zone is still answered (kubernetes runs before loop and forward).
    let (web, _) = dig("web.apps.svc.cluster.local. A").await.unwrap();
    assert_eq!(web.rcode, "NOERROR", "{web:?}\n{}", served.log());
    assert!(web.answer[0].ends_with("IN A 10.96.1.1"), "{web:?}");

    // Forwarded names: SERVFAIL at once, and nothing sent upstream (here: to itself).
    let requests = format!("coredns_forward_requests_total{{from=\".\",to=\"127.0.0.1:{port}\"}}");
    let (code, before) = http_get(metrics, "/metrics");
    assert_eq!(code, 200, "{before}");
    let sent_before = sample(&before, &requests).unwrap_or_else(|| panic!("{requests}:\n{before}"));
    for name in [
        "www.example.org. A",
        "example.net. AAAA",
        "www.example.org. MX",
    ] {
        let (answer, took) = dig(name).await.unwrap();
        assert_eq!(answer.rcode, "SERVFAIL", "{name}: {answer:?}");
        assert!(took < Duration::from_secs(1), "{name}: took {took:?}");
    }
    let (_, after) = http_get(metrics, "/metrics");
    assert_eq!(
        sample(&after, &requests),
        Some(sent_before),
        "forward sent queries after the loop was found:\n{after}"
    );
    let gauge =
        format!("rollcall_forward_loop_detected{{server=\"dns://127.0.0.1:{port}\",zone=\".\"}}");
    assert_eq!(sample(&after, &gauge), Some(1.0), "{gauge}:\n{after}");

    // The probes stay OK: failing them would restart the pod, CoreDNS's crash loop.
    assert_eq!(http_get(health, "/health"), (200, "OK".to_string()));
    assert_eq!(http_get(ready, "/ready").0, 200);

    // Still serving after the probe's window, and the error line is not repeated within the
    // minute (the refused queries above are counted for the next report).
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(served.running(), "rollcall exited:\n{}", served.log());
    let (web, _) = dig("web.apps.svc.cluster.local. A").await.unwrap();
    assert_eq!(web.rcode, "NOERROR", "{web:?}");
    let log = served.log();
    assert_eq!(log.matches("Loop (").count(), 1, "{log}");
    assert!(
        log.contains("loop: forward is off for this server block"),
        "{log}"
    );
    drop(served);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_upstream_does_not_trip_it() {
    let up = TestUpstream::start().await.unwrap();
    up.add_a("www.example.org.", &[Ipv4Addr::new(192, 0, 2, 10)]);
    let port = free_port();
    let corefile = format!(
        ".:{port} {{\n    bind 127.0.0.1\n    forward . {}\n    loop\n}}\n",
        up.addr
    );
    let dir = scratch_dir("loop-ok");
    let mut served = Served::start(&dir, &corefile);
    // The probe reaches the upstream once (an HINFO for <random>.<random>.), answered NXDOMAIN.
    let deadline = Instant::now() + Duration::from_secs(10);
    while up.udp_queries() == 0 {
        assert!(
            Instant::now() < deadline,
            "the loop probe never reached the upstream"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Past the probe's 2 s linger: still serving.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let running = served.running();
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let answer = tokio::task::spawn_blocking(move || ask_dig(addr, "www.example.org. A", false))
        .await
        .unwrap();
    let log = served.log();
    assert!(running, "rollcall exited:\n{log}");
    assert_eq!(answer.rcode, "NOERROR", "{answer:?}");
    assert_eq!(up.queries_for("www.example.org."), 1);
    assert!(
        up.udp_queries() >= 2,
        "the probe and the query both went upstream"
    );
    assert!(!log.contains("Loop ("), "{log}");
    drop(served);
    let _ = std::fs::remove_dir_all(dir);
}

/// Until `up` has received `at_least` UDP queries (a `loop` probe).
async fn wait_for_queries(up: &TestUpstream, at_least: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while up.udp_queries() < at_least {
        assert!(Instant::now() < deadline, "no probe reached the upstream");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A reload builds new plugins and the new `loop` probes the new chain once it answers (not the
/// old one, which answers while the new sources sync): a loop the reload brings is found, and a
/// reload that removes it forwards again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_probes_the_new_configuration() {
    let up = TestUpstream::start().await.unwrap();
    up.add_a("www.example.org.", &[Ipv4Addr::new(192, 0, 2, 10)]);
    let port = free_port();
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let dir = scratch_dir("loop-reload");
    std::fs::create_dir_all(dir.join("cluster")).unwrap();
    std::fs::write(
        dir.join("cluster/web.yaml"),
        service_manifest("web", "10.96.1.1"),
    )
    .unwrap();
    let load = |to: String| {
        let corefile = format!(
            ".:{port} {{\n    bind 127.0.0.1\n    kubernetes cluster.local {{\n        manifests cluster\n    }}\n    forward . {to}\n    loop\n}}\n"
        );
        let options = corefile::ParseOptions::with_env(|_| None);
        rollcall::load_corefile_str(&corefile, "Corefile", &dir, &options, 0).unwrap()
    };
    let gauge =
        format!("rollcall_forward_loop_detected{{server=\"dns://127.0.0.1:{port}\",zone=\".\"}}");

    let shutdown = tokio_util::sync::CancellationToken::new();
    let mut running = rollcall::server::start(load(up.addr.to_string()), shutdown.clone(), 2)
        .await
        .unwrap();
    wait_for_queries(&up, 1).await;

    // Reload into a loop: found, forward off, the cluster zone answered.
    let looping = load(format!("127.0.0.1:{port}"));
    let metrics = std::sync::Arc::clone(&looping.metrics);
    running.reload(looping).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while sample(&metrics.render(), &gauge) != Some(1.0) {
        assert!(
            Instant::now() < deadline,
            "the loop the reload brought was not found:\n{}",
            metrics.render()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let asked = up.udp_queries();
    let ext = ask_hickory(addr, "www.example.org. A", Transport::Udp).await;
    assert_eq!(ext.rcode, "SERVFAIL", "{ext:?}");
    let web = ask_hickory(addr, "web.apps.svc.cluster.local. A", Transport::Udp).await;
    assert_eq!(web.rcode, "NOERROR", "{web:?}");
    assert_eq!(up.udp_queries(), asked, "nothing forwarded");

    // Reload out of it: the new configuration probes the upstream and forwards again.
    let fixed = load(up.addr.to_string());
    let metrics = std::sync::Arc::clone(&fixed.metrics);
    running.reload(fixed).await.unwrap();
    wait_for_queries(&up, asked + 1).await;
    let ext = ask_hickory(addr, "www.example.org. A", Transport::Udp).await;
    assert_eq!(ext.rcode, "NOERROR", "{ext:?}");
    assert_eq!(up.queries_for("www.example.org."), 1);
    assert_eq!(sample(&metrics.render(), &gauge), Some(0.0));
    shutdown.cancel();
    running.wait().await;
    let _ = std::fs::remove_dir_all(dir);
}

/// rollcall in a network namespace of its own (listening on :53 of every address, as in a pod,
/// so 127.0.0.53 reaches it) and a private mount namespace with a fresh tmpfs on /run, where
/// `resolved` (if given) is written as `/run/systemd/resolve/resolv.conf`.
fn serve_in_namespace(ns: &mut Netns, dir: &Path, resolved: Option<&str>) -> PathBuf {
    let corefile = dir.join("Corefile");
    std::fs::write(
        &corefile,
        ".:53 {\n    errors\n    forward . /etc/resolv.conf\n    loop\n}\n",
    )
    .unwrap();
    let log = dir.join(if resolved.is_some() {
        "with-real-list.log"
    } else {
        "without-real-list.log"
    });
    let file = std::fs::File::create(&log).unwrap();
    // `ip netns exec` and `unshare` (no --fork) both exec, so the child's pid is rollcall's.
    let script = "mount -t tmpfs tmpfs /run \
        && if [ -n \"$RESOLVED\" ]; then mkdir -p /run/systemd/resolve \
            && printf '%s' \"$RESOLVED\" > /run/systemd/resolve/resolv.conf; fi \
        && exec \"$ROLLCALL\" serve --threads 2 --corefile \"$COREFILE\"";
    let child = ns
        .mount_ns_command(script)
        .env("RESOLVED", resolved.unwrap_or(""))
        .env("ROLLCALL", rollcall_bin())
        .env("COREFILE", &corefile)
        .stdin(Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .expect("start rollcall in the namespace");
    ns.server = Some(child);
    log
}

/// `dig @127.0.0.1 NAME TYPE` inside the namespace; None while nothing answers.
fn dig_in(ns: &Netns, name: &str, qtype: &str) -> Option<Answer> {
    let out = ns.exec(&[
        "dig",
        "@127.0.0.1",
        "+time=2",
        "+tries=1",
        "+noall",
        "+comments",
        "+answer",
        name,
        qtype,
    ]);
    parse_dig(&String::from_utf8_lossy(&out.stdout))
}

fn exited(ns: &mut Netns) -> bool {
    ns.server
        .as_mut()
        .is_none_or(|child| child.try_wait().unwrap().is_some())
}

fn stop(ns: &mut Netns) {
    if let Some(mut child) = ns.server.take() {
        let _ = child.kill();
        let _ = child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resolved_stub_in_resolv_conf_is_replaced_by_resolveds_real_upstreams() {
    for tool in ["dig", "unshare"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(found, "{tool} is not installed (.ci/run installs it)");
    }
    let host_had_real_list = Path::new("/run/systemd/resolve/resolv.conf").exists();
    // The node's resolv.conf on a systemd-resolved host, as the pod (dnsPolicy: Default) sees it.
    let mut ns = match Netns::create(
        "r",
        "# This is /run/systemd/resolve/stub-resolv.conf managed by man:systemd-resolved(8).\n\
         nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch .\n",
    ) {
        Ok(ns) => ns,
        Err(why) => {
            eprintln!("SKIPPED resolved stub test: {why}");
            return;
        }
    };
    let n = u8::try_from(std::process::id() % 250 + 1).unwrap();
    // Slot 1: kubeadm_pod.rs uses slot 0 of the same /24, maybe at the same time.
    let veth = ns.add_veth(n, 1).expect("veth pair to the namespace");
    let upstream = TestUpstream::start_at(SocketAddr::from((veth.host, 53)))
        .await
        .expect("upstream on the host end of the veth, port 53");
    upstream.add_a("www.example.org", &[Ipv4Addr::new(192, 0, 2, 53)]);
    let dir = scratch_dir("resolved-stub");

    // resolved's real list: a loopback entry (dropped: it could loop too) and the upstream.
    let real = format!(
        "# This is /run/systemd/resolve/resolv.conf managed by man:systemd-resolved(8).\n\
         nameserver 127.0.0.1\nnameserver {}\nsearch .\n",
        veth.host
    );
    let log = serve_in_namespace(&mut ns, &dir, Some(&real));
    let read_log = || std::fs::read_to_string(&log).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(15);
    let answer = loop {
        assert!(!exited(&mut ns), "rollcall exited:\n{}", read_log());
        if let Some(answer) = dig_in(&ns, "www.example.org", "A") {
            break answer;
        }
        assert!(
            Instant::now() < deadline,
            "no answer within 15 s:\n{}",
            read_log()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(answer.rcode, "NOERROR", "{answer:?}\n{}", read_log());
    assert!(answer.answer[0].ends_with("IN A 192.0.2.53"), "{answer:?}");
    assert_eq!(upstream.queries_for("www.example.org"), 1);
    let text = read_log();
    let want = format!(
        "forward: /etc/resolv.conf names systemd-resolved's stub resolver (127.0.0.53), which can send queries back to this server (coredns/coredns#2087); forwarding to the upstreams systemd-resolved uses instead, from /run/systemd/resolve/resolv.conf: {}:53",
        veth.host
    );
    assert!(text.contains(&want), "{want}\nnot in:\n{text}");
    assert!(text.contains("WARN"), "{text}");
    // loop's probe went to the real upstream and came back answered: no loop, still serving.
    let deadline = Instant::now() + Duration::from_secs(10);
    while upstream.udp_queries() + upstream.tcp_queries() < 2 {
        assert!(
            Instant::now() < deadline,
            "loop's probe never reached the upstream:\n{}",
            read_log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(2500));
    assert!(!exited(&mut ns), "rollcall exited:\n{}", read_log());
    assert!(!read_log().contains("Loop ("), "{}", read_log());
    stop(&mut ns);
    if !host_had_real_list {
        assert!(
            !Path::new("/run/systemd/resolve/resolv.conf").exists(),
            "the test's file leaked out of the private mount namespace"
        );
    }

    // The control: without resolved's real list the stub stays (with the warning), and in the
    // namespace 127.0.0.53:53 is rollcall itself, so this is #2087's loop. rollcall finds it,
    // keeps running, and answers forwarded names SERVFAIL without sending them.
    let log = serve_in_namespace(&mut ns, &dir, None);
    let read_log = || std::fs::read_to_string(&log).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !read_log().contains("Loop (") {
        assert!(!exited(&mut ns), "rollcall exited:\n{}", read_log());
        assert!(
            Instant::now() < deadline,
            "no loop found within 10 s:\n{}",
            read_log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let text = read_log();
    assert!(
        text.contains(
            "/run/systemd/resolve/resolv.conf does not exist or cannot be read, so the stub stays"
        ),
        "{text}"
    );
    assert!(
        text.contains("-> 127.0.0.1:53) detected for zone \".\", see https://coredns.io/plugins/loop#troubleshooting"),
        "{text}"
    );
    let asked = upstream.queries_for("www.example.org");
    let answer = dig_in(&ns, "www.example.org", "A").expect("an answer");
    assert_eq!(answer.rcode, "SERVFAIL", "{answer:?}");
    assert_eq!(upstream.queries_for("www.example.org"), asked);
    assert!(!exited(&mut ns), "rollcall exited:\n{}", read_log());
    stop(&mut ns);
    let _ = std::fs::remove_dir_all(&dir);
}
