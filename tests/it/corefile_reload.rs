//! The `reload` plugin end to end, against the real binary: the Corefile is replaced the way a
//! ConfigMap update replaces it (a new file renamed over the old), and the running server follows
//! within a few intervals, without a failed query or a non-200 `/ready` while it swaps; a broken
//! Corefile changes nothing and is logged with its line; a new port moves the listener; a Corefile
//! without `reload` stops the watching (SIGUSR1 still reloads). In-process: plugins' HTTP
//! listeners and DNS sockets are handed over; a new `kubernetes` source that cannot list yet
//! holds the swap back (old answers, `/ready` 200), and the old watches stop after it.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hickory_proto::op::Message;

use crate::support::{
    ask_dig, parse_question, query_bytes, render, rollcall_bin, scratch_dir, write_atomically,
};

const WEB: &str = "web-service.apps.svc.cluster.local. A";

fn free_port() -> u16 {
    // UDP and TCP must both be free; the server binds both.
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

struct Corefile {
    port: u16,
    ready: u16,
    ttl: &'static str,
    reload: &'static str,
    zones: &'static str,
}

impl Corefile {
    fn render(&self, cluster: &Path) -> String {
        format!(
            ".:{port} {{\n    bind 127.0.0.1\n    {reload}\n    ready 127.0.0.1:{ready}\n    errors\n    kubernetes {zones} {{\n        manifests {cluster}\n        ttl {ttl}\n    }}\n}}\n",
            port = self.port,
            reload = self.reload,
            ready = self.ready,
            zones = self.zones,
            cluster = cluster.display(),
            ttl = self.ttl,
        )
    }
}

/// A `rollcall serve` child; its log goes to a file, read on demand. Killed on drop.
struct Server {
    child: Child,
    dir: PathBuf,
    corefile: PathBuf,
    cluster: PathBuf,
    log: PathBuf,
}

impl Server {
    fn start(tag: &str, config: &Corefile) -> Server {
        let dir = scratch_dir(tag);
        let cluster = rollcall::embedded::write_cluster(&dir).unwrap();
        let corefile = dir.join("Corefile");
        std::fs::write(&corefile, config.render(&cluster)).unwrap();
        let log = dir.join("rollcall.log");
        let child = Command::new(rollcall_bin())
            .args(["serve", "--threads", "2", "--corefile"])
            .arg(&corefile)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stderr(Stdio::from(std::fs::File::create(&log).unwrap()))
            .spawn()
            .unwrap();
        let server = Server {
            child,
            dir,
            corefile,
            cluster,
            log,
        };
        let addr = dns_addr(config.port);
        let deadline = Instant::now() + Duration::from_secs(15);
        while ask_dig(addr, WEB, false).rcode != "NOERROR" {
            assert!(
                Instant::now() < deadline,
                "server did not come up:\n{}",
                server.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    fn write(&self, config: &Corefile) {
        write_atomically(&self.corefile, &config.render(&self.cluster));
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Wait until the log contains `needle` `count` times.
    fn wait_log(&self, needle: &str, count: usize, within: Duration) {
        let deadline = Instant::now() + within;
        while self.log().matches(needle).count() < count {
            assert!(
                Instant::now() < deadline,
                "no {needle:?} (x{count}) in the log within {within:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{name}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn dns_addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// The TTL of the first answer record, or the rcode when there is none.
fn ttl_of(port: u16, q: &str) -> String {
    let a = ask_dig(dns_addr(port), q, false);
    match a.answer.first() {
        Some(rr) => rr.split_whitespace().nth(1).unwrap_or("?").to_string(),
        None => a.rcode,
    }
}

fn wait_until(what: &str, within: Duration, mut ok: impl FnMut() -> Option<String>) {
    let deadline = Instant::now() + within;
    loop {
        let Some(last) = ok() else { return };
        assert!(
            Instant::now() < deadline,
            "{what}: not within {within:?}; last: {last}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn wait_for_ttl(port: u16, want: &str, within: Duration) {
    wait_until(&format!("TTL {want}"), within, || {
        let got = ttl_of(port, WEB);
        (got != want).then_some(got)
    });
}

/// Background UDP queries and `/ready` probes that record every failure.
struct Watchers {
    stop: Arc<AtomicBool>,
    dns: JoinHandle<(usize, Vec<String>)>,
    ready: JoinHandle<(usize, Vec<String>)>,
}

impl Watchers {
    fn start(port: u16, ready_port: u16) -> Watchers {
        Watchers::start_at(
            dns_addr(port),
            WEB,
            SocketAddr::from(([127, 0, 0, 1], ready_port)),
        )
    }

    fn start_at(dns: SocketAddr, question: &'static str, ready: SocketAddr) -> Watchers {
        let stop = Arc::new(AtomicBool::new(false));
        let dns = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
                socket
                    .set_read_timeout(Some(Duration::from_secs(2)))
                    .unwrap();
                let (name, qtype) = parse_question(question);
                let (mut sent, mut failures) = (0usize, Vec::new());
                let mut buf = [0u8; 4096];
                while !stop.load(Ordering::Relaxed) {
                    sent += 1;
                    let id = (sent % 65536) as u16;
                    socket.send_to(&query_bytes(&name, qtype, id), dns).unwrap();
                    // Skip stale replies (a late answer to an earlier id).
                    let outcome = loop {
                        match socket.recv(&mut buf) {
                            Ok(n) => match Message::from_vec(&buf[..n]) {
                                Ok(m) if m.metadata.id != id => continue,
                                Ok(m) => {
                                    let a = render(&m);
                                    break (a.rcode != "NOERROR" || a.answer.is_empty())
                                        .then(|| format!("query {sent}: {a:?}"));
                                }
                                Err(e) => break Some(format!("query {sent}: undecodable: {e}")),
                            },
                            Err(e) => break Some(format!("query {sent}: no reply: {e}")),
                        }
                    };
                    failures.extend(outcome);
                    std::thread::sleep(Duration::from_millis(2));
                }
                (sent, failures)
            })
        };
        let ready = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let (mut sent, mut failures) = (0usize, Vec::new());
                while !stop.load(Ordering::Relaxed) {
                    sent += 1;
                    match http_get(ready, "/ready") {
                        Ok(response) if response.starts_with("HTTP/1.1 200") => {}
                        Ok(response) => failures.push(format!("probe {sent}: {response}")),
                        Err(e) => failures.push(format!("probe {sent}: {e}")),
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                (sent, failures)
            })
        };
        Watchers { stop, dns, ready }
    }

    /// Stop, and assert that nothing failed.
    fn finish(self) {
        self.stop.store(true, Ordering::Relaxed);
        let (queries, dns_failures) = self.dns.join().unwrap();
        let (probes, ready_failures) = self.ready.join().unwrap();
        assert!(
            queries > 100 && probes > 100,
            "{queries} queries, {probes} probes"
        );
        assert!(
            dns_failures.is_empty(),
            "{} of {queries} queries failed: {:?}",
            dns_failures.len(),
            &dns_failures[..dns_failures.len().min(5)]
        );
        assert!(
            ready_failures.is_empty(),
            "{} of {probes} /ready probes failed: {:?}",
            ready_failures.len(),
            &ready_failures[..ready_failures.len().min(5)]
        );
    }
}

fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    // One write: the probe server reads the request once.
    stream.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response)
}

#[test]
fn edits_are_swapped_in_without_a_failed_query_or_an_unready_probe() {
    let (port, ready) = (free_port(), free_port());
    let mut config = Corefile {
        port,
        ready,
        ttl: "5",
        reload: "reload 2s 1s",
        zones: "cluster.local",
    };
    let server = Server::start("corefile-reload-edit", &config);
    assert_eq!(ttl_of(port, WEB), "5");
    let watchers = Watchers::start(port, ready);
    std::thread::sleep(Duration::from_millis(300));

    // A new TTL.
    config.ttl = "7";
    server.write(&config);
    wait_for_ttl(port, "7", Duration::from_secs(12));
    server.wait_log(
        "reload: now serving the new Corefile",
        1,
        Duration::from_secs(5),
    );

    // A new zone.
    let other = "web-service.apps.svc.other.test. A";
    assert_eq!(ttl_of(port, other), "REFUSED");
    config.zones = "cluster.local other.test";
    server.write(&config);
    wait_until("the added zone", Duration::from_secs(12), || {
        let got = ttl_of(port, other);
        (got != "7").then_some(got)
    });
    std::thread::sleep(Duration::from_millis(300));
    watchers.finish();

    let log = server.log();
    assert!(
        log.matches("reload: now serving the new Corefile").count() == 2,
        "{log}"
    );
    // Old and new hash prefixes are logged.
    assert!(log.contains("old=") && log.contains("new="), "{log}");
}

#[test]
fn a_broken_corefile_keeps_the_running_one_and_names_the_line() {
    let (port, ready) = (free_port(), free_port());
    let mut config = Corefile {
        port,
        ready,
        ttl: "5",
        reload: "reload 2s 1s",
        zones: "cluster.local",
    };
    let server = Server::start("corefile-reload-broken", &config);

    // Line 8 of the rendered Corefile is `        ttl 99999`.
    config.ttl = "99999";
    server.write(&config);
    server.wait_log(
        "Corefile:8:13: kubernetes: expected a number between 0 and 3600, found \"99999\"",
        1,
        Duration::from_secs(12),
    );
    assert!(
        server.log().contains("still serving the previous one"),
        "{}",
        server.log()
    );
    // Several more intervals: the same broken content is not retried, answers stay.
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(ttl_of(port, WEB), "5");
    assert_eq!(
        server
            .log()
            .matches("kubernetes: expected a number")
            .count(),
        1,
        "{}",
        server.log()
    );

    // A syntax error: an unclosed block.
    write_atomically(
        &server.corefile,
        &config
            .render(&server.cluster)
            .replace("ttl 99999\n    }", "ttl 5\n"),
    );
    server.wait_log("the new Corefile is invalid", 2, Duration::from_secs(12));
    assert_eq!(ttl_of(port, WEB), "5");

    // Fixed: the watch still runs.
    config.ttl = "9";
    server.write(&config);
    wait_for_ttl(port, "9", Duration::from_secs(12));
}

#[test]
fn a_new_port_moves_the_listener() {
    let (old_port, new_port, ready) = (free_port(), free_port(), free_port());
    let mut config = Corefile {
        port: old_port,
        ready,
        ttl: "5",
        reload: "reload 2s 1s",
        zones: "cluster.local",
    };
    let server = Server::start("corefile-reload-port", &config);
    config.port = new_port;
    server.write(&config);
    wait_until("the new port", Duration::from_secs(12), || {
        let got = ttl_of(new_port, WEB);
        (got != "5").then_some(got)
    });
    // The old port is closed (TCP refused, UDP unanswered).
    assert!(TcpStream::connect(dns_addr(old_port)).is_err());
    assert_eq!(ask_dig(dns_addr(old_port), WEB, false).rcode, "TIMEOUT");
    assert!(
        server.log().contains("no longer serving DNS there"),
        "{}",
        server.log()
    );
}

#[test]
fn without_reload_the_watch_stops_and_sigusr1_still_reloads() {
    let (port, ready) = (free_port(), free_port());
    let mut config = Corefile {
        port,
        ready,
        ttl: "5",
        reload: "reload 2s 1s",
        zones: "cluster.local",
    };
    let server = Server::start("corefile-reload-off", &config);
    // The edit that removes `reload` is itself applied.
    config.reload = "# no reload";
    config.ttl = "6";
    server.write(&config);
    wait_for_ttl(port, "6", Duration::from_secs(12));
    // Later edits are not picked up by themselves...
    config.ttl = "8";
    server.write(&config);
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(ttl_of(port, WEB), "6");
    // ... but SIGUSR1 reloads at once.
    server.signal("USR1");
    wait_for_ttl(port, "8", Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_listeners_and_dns_sockets_are_handed_over_in_process() {
    use crate::http::request;
    use crate::support::ask_hickory;
    use rollcall::contract::Transport;

    let dir = scratch_dir("corefile-reload-sockets");
    let cluster = rollcall::embedded::write_cluster(&dir).unwrap();
    let text = |ttl: u32| {
        format!(
            "cluster.local {{\n bind 127.0.0.1\n health 127.0.0.1:0\n ready 127.0.0.1:0\n eureka registry.cluster.local {{\n  listen 127.0.0.1:0\n }}\n kubernetes {{\n  manifests {}\n  ttl {ttl}\n }}\n}}\n",
            cluster.display()
        )
    };
    let load = |ttl| {
        let options = corefile::ParseOptions::with_env(|_| None);
        rollcall::load_corefile_str(&text(ttl), "Corefile", &dir, &options, 0).unwrap()
    };
    let shutdown = tokio_util::sync::CancellationToken::new();
    let mut running = rollcall::server::start(load(5), shutdown.clone(), 1)
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !running.is_ready() {
        assert!(Instant::now() < deadline, "never synced");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let dns = running.first_addr().unwrap();
    let before = running.other_listeners.clone();
    assert_eq!(before.len(), 3, "{before:?}");
    let ttl =
        |a: crate::support::Answer| a.answer[0].split_whitespace().nth(1).unwrap().to_string();
    assert_eq!(ttl(ask_hickory(dns, WEB, Transport::Udp).await), "5");
    // A Eureka registration made before the reload must survive it.
    let eureka = before
        .iter()
        .find(|(w, _)| *w == "eureka")
        .map(|(_, a)| *a)
        .unwrap();
    let registration = br#"{"instance":{"instanceId":"o-1","hostName":"10.1.0.5","app":"ORDERS","ipAddr":"10.1.0.5","status":"UP","port":{"$":8080,"@enabled":"true"},"dataCenterInfo":{"name":"MyOwn"}}}"#;
    let r = request(
        eureka,
        "POST",
        "/eureka/apps/ORDERS",
        &[("Content-Type", "application/json")],
        registration,
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.text());
    let orders = "orders.registry.cluster.local. A";
    assert_eq!(
        ask_hickory(dns, orders, Transport::Udp).await.rcode,
        "NOERROR"
    );

    running.reload(load(7)).await.unwrap();
    let carried = ask_hickory(dns, orders, Transport::Udp).await;
    assert_eq!(
        carried.answer,
        vec!["orders.registry.cluster.local. 5 IN A 10.1.0.5".to_string()],
        "the registration is answered after the reload: {carried:?}"
    );
    // Same DNS address, same port for every plugin listener (port 0 in the Corefile).
    assert_eq!(running.first_addr(), Some(dns));
    assert_eq!(running.other_listeners, before);
    assert_eq!(ttl(ask_hickory(dns, WEB, Transport::Udp).await), "7");
    assert_eq!(ttl(ask_hickory(dns, WEB, Transport::Tcp).await), "7");
    for (what, addr) in &before {
        let path = match *what {
            "health" => "/health",
            "ready" => "/ready",
            _ => "/eureka/apps",
        };
        let r = request(*addr, "GET", path, &[("Accept", "application/json")], b"").await;
        assert_eq!(r.status, 200, "{what} after the reload: {}", r.text());
    }
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(5), running.wait())
        .await
        .expect("every task stops at shutdown");
    let _ = std::fs::remove_dir_all(dir);
}

/// A reload whose new `kubernetes` source cannot list for a while: the old configuration keeps
/// answering (no SERVFAIL) and `/ready` stays 200 until the new one synced, then it is swapped in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_waits_for_the_new_kubernetes_source_to_sync() {
    use crate::kube_support::Cluster;
    use crate::support::ask_hickory;
    use rollcall::contract::Transport;
    use rollcall_tests::apiserver::ADMIN_TOKEN;

    let cluster = Cluster::start().await;
    cluster.seed(3);
    let kubeconfig = cluster.kubeconfig(ADMIN_TOKEN);
    let load = |ttl: u32| {
        let text = format!(
            "cluster.local {{\n bind 127.0.0.1\n ready 127.0.0.1:0\n kubernetes {{\n  kubeconfig {}\n  ttl {ttl}\n }}\n}}\n",
            kubeconfig.display()
        );
        let options = corefile::ParseOptions::with_env(|_| None);
        rollcall::load_corefile_str(&text, "Corefile", &cluster.dir, &options, 0).unwrap()
    };
    let shutdown = tokio_util::sync::CancellationToken::new();
    let mut running = rollcall::server::start(load(5), shutdown.clone(), 1)
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !running.is_ready() {
        assert!(Instant::now() < deadline, "never synced");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let dns = running.first_addr().unwrap();
    let ready = running.other_listeners[0].1;
    const SVC: &str = "svc-1.apps.svc.cluster.local. A";
    let ttl =
        |a: crate::support::Answer| a.answer[0].split_whitespace().nth(1).unwrap().to_string();
    assert_eq!(ttl(ask_hickory(dns, SVC, Transport::Udp).await), "5");

    let watchers = Watchers::start_at(dns, SVC, ready);
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The running watches are established; every new list fails for a while.
    cluster.api.fail_requests(Duration::from_millis(1500));
    let started = Instant::now();
    running.reload(load(7)).await.unwrap();
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(1000),
        "swapped in after {took:?}, before the new source could list"
    );
    assert_eq!(ttl(ask_hickory(dns, SVC, Transport::Udp).await), "7");
    tokio::time::sleep(Duration::from_millis(300)).await;
    tokio::task::spawn_blocking(move || watchers.finish())
        .await
        .unwrap();

    // The old configuration's watches were shut down: when the API server ends every watch,
    // only the new configuration's three (Namespaces, Services, EndpointSlices) come back.
    let watches = || cluster.api.stats().watches.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = watches();
    cluster.api.drop_watches();
    tokio::time::sleep(Duration::from_millis(3000)).await;
    assert_eq!(watches() - before, 3, "watches restarted after the reload");
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(5), running.wait())
        .await
        .expect("every task stops at shutdown");
}
