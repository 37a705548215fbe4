//! `loop` end to end, through the real binary: a Corefile that forwards to itself makes
//! `rollcall serve` exit non-zero with CoreDNS's loop message, quickly; a real upstream does not.

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rollcall_tests::upstream::TestUpstream;

use crate::support::{ask_dig, rollcall_bin, scratch_dir};

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

fn serve(corefile: &str, tag: &str) -> (Child, std::path::PathBuf) {
    let dir = scratch_dir(tag);
    let path = dir.join("Corefile");
    std::fs::write(&path, corefile).unwrap();
    let child = Command::new(rollcall_bin())
        .args(["serve", "--threads", "2", "--corefile"])
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    (child, dir)
}

fn wait_exit(child: &mut Child, within: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

#[test]
fn forwarding_to_itself_exits_non_zero_with_the_loop_message() {
    let port = free_port();
    let corefile =
        format!(".:{port} {{\n    bind 127.0.0.1\n    forward . 127.0.0.1:{port}\n    loop\n}}\n");
    let (mut child, dir) = serve(&corefile, "loop-self");
    let started = Instant::now();
    let status = wait_exit(&mut child, Duration::from_secs(10));
    let elapsed = started.elapsed();
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let mut stderr = String::new();
    let _ = child.stderr.take().unwrap().read_to_string(&mut stderr);
    let status = status.unwrap_or_else(|| panic!("still running after 10 s:\n{stderr}"));
    assert!(
        !status.success(),
        "a loop must be a failure: {status}\n{stderr}"
    );
    // A is the address the looping query came from (forward's socket), B the server itself.
    let want = format!(
        " -> 127.0.0.1:{port}) detected for zone \".\", see https://coredns.io/plugins/loop#troubleshooting. Query: \"HINFO "
    );
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("rollcall: plugin/loop: Loop (127.0.0.1:"),
        "the exit reason comes last:\n{stderr}"
    );
    assert!(last.contains(&want), "{want}\nnot in:\n{stderr}");
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
    eprintln!("loop detected and exited in {elapsed:?}");
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
    let (mut child, dir) = serve(&corefile, "loop-ok");
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
    let running = child.try_wait().unwrap().is_none();
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let answer = tokio::task::spawn_blocking(move || ask_dig(addr, "www.example.org. A", false))
        .await
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let mut stderr = String::new();
    let _ = child.stderr.take().unwrap().read_to_string(&mut stderr);
    assert!(running, "rollcall exited:\n{stderr}");
    assert_eq!(answer.rcode, "NOERROR", "{answer:?}");
    assert_eq!(up.queries_for("www.example.org."), 1);
    assert!(
        up.udp_queries() >= 2,
        "the probe and the query both went upstream"
    );
    assert!(!stderr.contains("Loop ("), "{stderr}");
    let _ = std::fs::remove_dir_all(dir);
}
