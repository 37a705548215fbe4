//! The real binary: `--help`, `check`, the embedded default answering dig, JSON logs, and a clean
//! exit on SIGTERM.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{ask_dig, rollcall_bin, scratch_dir};

fn workspace() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

#[test]
fn help_tells_a_new_user_what_to_do() {
    let out = Command::new(rollcall_bin()).arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "serve",
        "check",
        "dig @127.0.0.1 -p 1053",
        "--log-format",
        "--corefile",
    ] {
        assert!(text.contains(needle), "--help lacks {needle:?}:\n{text}");
    }
}

#[test]
fn check_prints_the_plan_in_chain_order() {
    let out = Command::new(rollcall_bin())
        .arg("check")
        .arg(workspace().join("dns-server/embedded/Corefile"))
        .env("ROLLCALL_EXAMPLE_CLUSTER", "/srv/example")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "check failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("listen: 127.0.0.1:1053 (udp+tcp)"),
        "{stdout}"
    );
    let errors = stdout.find("2. errors").expect("errors in chain");
    let eureka = stdout
        .find("3. eureka: zone registry.cluster.local.; http 127.0.0.1:8761")
        .expect("eureka in chain");
    let kubernetes = stdout.find("4. kubernetes").expect("kubernetes in chain");
    assert!(errors < eureka && eureka < kubernetes, "{stdout}");
    assert!(stdout.contains("manifests /srv/example"), "{stdout}");
}

/// `rollcall check` of `corefile/tests/data/FILE` succeeds; its plan.
fn check_clean(file: &str) -> String {
    let path = workspace().join("corefile/tests/data").join(file);
    let out = Command::new(rollcall_bin())
        .arg("check")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{file} must check clean:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `rollcall check` printed these directives in this order (plugin.cfg's, not the Corefile's).
fn assert_plan_order(stdout: &str, chain: &[&str]) {
    let positions: Vec<usize> = chain
        .iter()
        .map(|name| {
            stdout
                .find(&format!(". {name}"))
                .unwrap_or_else(|| panic!("{name} missing from the plan:\n{stdout}"))
        })
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "chain out of order:\n{stdout}"
    );
}

#[test]
fn check_accepts_the_kubeadm_corefile_and_plans_it_in_chain_order() {
    let stdout = check_clean("kubeadm.Corefile");
    // plugin.cfg's order, whatever the Corefile's.
    let chain = [
        "reload",
        "ready",
        "health",
        "prometheus",
        "errors",
        "loadbalance",
        "cache",
        "kubernetes",
        "loop",
        "forward",
    ];
    assert_plan_order(&stdout, &chain);
}

#[test]
fn check_accepts_the_k3s_corefile_unchanged() {
    // k3s's default, byte for byte: NodeHosts and the custom/ imports need not exist.
    let stdout = check_clean("k3s.Corefile");
    assert!(
        stdout.contains(
            ". hosts: file /etc/coredns/NodeHosts; zones .; ttl 60; reload 15s; fallthrough (all zones)"
        ),
        "{stdout}"
    );
    // plugin.cfg's order: hosts answers node names before kubernetes sees them.
    let chain = [
        "reload",
        "ready",
        "health",
        "prometheus",
        "errors",
        "loadbalance",
        "cache",
        "hosts",
        "kubernetes",
        "loop",
        "forward",
    ];
    assert_plan_order(&stdout, &chain);
}

/// `rollcall check` on `corefile` written to a scratch file: it must fail; (path, stderr).
fn check_failing(scratch: &str, corefile: &str) -> (std::path::PathBuf, String) {
    let path = scratch_dir(scratch).join("Corefile");
    std::fs::write(&path, corefile).unwrap();
    let out = Command::new(rollcall_bin())
        .arg("check")
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    (path, String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn check_reports_syntax_errors_with_position() {
    let (_, stderr) = check_failing("check", ".:53 {\n    errors\n");
    assert!(stderr.contains("Corefile:1:"), "position missing: {stderr}");
}

/// A syntax error is printed once (it was printed twice, as its own cause).
#[test]
fn check_prints_a_syntax_error_once() {
    let (_, stderr) = check_failing("check-once", ".:53 {\n    errors\n");
    assert_eq!(stderr.matches("expected '}'").count(), 1, "{stderr}");
}

/// Every problem in file order, whatever the chain order; "did you mean" for a misspelled
/// directive or property; an out-of-range port is a bad port, not a missing resolv.conf.
#[test]
fn check_lists_problems_in_file_order_with_suggestions() {
    let (path, stderr) = check_failing(
        "check-order",
        ".:53 {\n    forward . 8.8.8.8:99999\n    cache {\n        sucess 10\n    }\n    kubernetes {\n        startup_timout 1s\n    }\n    forwrd . 1.1.1.1\n}\n",
    );
    let lines: Vec<&str> = stderr.lines().collect();
    let file = path.display().to_string();
    assert_eq!(
        lines,
        [
            format!(
                "rollcall: {file}:2:15: forward: bad port \"99999\" in \"8.8.8.8:99999\": expected 0 to 65535"
            ),
            format!("{file}:4:9: cache: unknown property \"sucess\" (did you mean \"success\"?)"),
            format!(
                "{file}:7:9: kubernetes: unknown property \"startup_timout\" (did you mean \"startup_timeout\"?)"
            ),
            format!("{file}:9:5: forwrd: unknown directive (did you mean \"forward\"?)"),
        ],
        "{stderr}"
    );
}

#[test]
fn embedded_default_answers_dig_and_stops_cleanly_on_sigterm() {
    // The embedded default listens on fixed ports; say so plainly if something else holds them.
    for port in [1053, 8761] {
        assert!(
            std::net::TcpListener::bind(("127.0.0.1", port)).is_ok(),
            "127.0.0.1:{port} is taken by another process (a rollcall left running?)"
        );
    }
    let mut child = Command::new(rollcall_bin())
        .args(["--log-format", "json"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let addr = "127.0.0.1:1053".parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let answer = loop {
        let a = ask_dig(addr, "web-service.apps.svc.cluster.local. A", false);
        if a.rcode == "NOERROR" {
            break a;
        }
        assert!(
            Instant::now() < deadline,
            "embedded default did not answer within 15 s: {a:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        answer.answer,
        vec!["web-service.apps.svc.cluster.local. 30 IN A 10.96.0.100"]
    );
    let headless = ask_dig(addr, "db.data.svc.cluster.local. A", true);
    assert_eq!(headless.answer.len(), 3, "{headless:?}");

    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "rollcall did not exit within 10 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit status after SIGTERM: {status}");
    let stderr = child.stderr.take().unwrap();
    let lines: Vec<String> = BufReader::new(stderr)
        .lines()
        .map_while(Result::ok)
        .collect();
    assert!(!lines.is_empty());
    for line in &lines {
        let parsed: Result<serde_json::Value, _> = serde_json::from_str(line);
        assert!(
            parsed.is_ok(),
            "--log-format json wrote a non-JSON line: {line}"
        );
    }
    assert!(lines.iter().any(|l| l.contains("shutting down")));
}

#[test]
fn log_plugin_writes_one_common_log_format_line_per_query() {
    let dir = scratch_dir("log");
    let cluster = rollcall::embedded::write_cluster(&dir).unwrap();
    let corefile = dir.join("Corefile");
    let port = {
        let probe = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    std::fs::write(
        &corefile,
        format!(
            ".:{port} {{\n bind 127.0.0.1\n log {{\n  class denial error\n }}\n kubernetes cluster.local {{\n  manifests {}\n }}\n}}\n",
            cluster.display()
        ),
    )
    .unwrap();
    let mut child = Command::new(rollcall_bin())
        .args(["serve", "--corefile"])
        .arg(&corefile)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while ask_dig(addr, "web-service.apps.svc.cluster.local. A", false).rcode != "NOERROR" {
        assert!(Instant::now() < deadline, "server did not come up");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        ask_dig(addr, "nope.apps.svc.cluster.local. A", false).rcode,
        "NXDOMAIN"
    );
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let stderr = child.stderr.take().unwrap();
    let lines: Vec<String> = BufReader::new(stderr)
        .lines()
        .map_while(Result::ok)
        .collect();
    let logged: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("rollcall::log"))
        .collect();
    assert!(
        logged
            .iter()
            .any(|l| l.contains("\"A IN nope.apps.svc.cluster.local. udp")
                && l.contains("NXDOMAIN qr,aa")),
        "no log line for the NXDOMAIN query:\n{}",
        lines.join("\n")
    );
    assert!(
        !logged.iter().any(|l| l.contains("NOERROR")),
        "class denial error must not log successes:\n{}",
        lines.join("\n")
    );
}
