//! The real Eureka clients against the real release binary: py-eureka-client (PyPI) and
//! eureka-js-client (npm), driven by `tests/clients/py_clients.py` and `js_clients.js` at once
//! against one rollcall, so each discovers the other's instances through its own discovery API.
//! This test starts the binary, runs both scripts, meets them at their marker files to check
//! DNS at the right moments (`<app>.<zone>` A and `_http._tcp` SRV while registered, the
//! OUT_OF_SERVICE instance gone, NXDOMAIN after deregistration), and fails with both scripts'
//! output and the server log when anything does not hold.
//!
//! The interpreters and packages are installed by `.ci/run` (`pip install -r
//! tests/clients/requirements.txt`, `npm ci --prefix tests/clients`); when they are missing the
//! test fails and says so.

use std::collections::BTreeSet;
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::support::{Answer, ask_dig, rollcall_bin, scratch_dir};

/// `tests/clients/`.
pub fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("clients")
}

/// A port free on 127.0.0.1 for both UDP and TCP (bound, read, released).
fn free_port(udp_too: bool) -> u16 {
    for _ in 0..50 {
        let tcp = TcpListener::bind("127.0.0.1:0").expect("bind a TCP probe");
        let port = tcp.local_addr().expect("probe address").port();
        if !udp_too || UdpSocket::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no port free for both UDP and TCP on 127.0.0.1");
}

/// The real `rollcall` binary serving one `eureka` zone on free loopback ports; killed on drop.
pub struct Rollcall {
    child: Child,
    pub dns: SocketAddr,
    pub http: SocketAddr,
    pub zone: String,
    pub dir: PathBuf,
    log: PathBuf,
}

impl Rollcall {
    /// Starts `rollcall serve` with a Corefile holding `eureka ZONE { listen …  extra }` and
    /// waits until both the HTTP API and DNS answer.
    pub fn start(tag: &str, zone: &str, extra: &str) -> Rollcall {
        let dir = scratch_dir(tag);
        let dns_port = free_port(true);
        let http_port = free_port(false);
        let corefile = dir.join("Corefile");
        std::fs::write(
            &corefile,
            format!(
                ".:{dns_port} {{\n    bind 127.0.0.1\n    eureka {zone} {{\n        listen 127.0.0.1:{http_port}\n{extra}    }}\n}}\n"
            ),
        )
        .expect("write the Corefile");
        let log = dir.join("rollcall.log");
        let bin = rollcall_bin();
        let child = Command::new(&bin)
            .args(["serve", "--corefile"])
            .arg(&corefile)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("server log file"))
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
        let mut server = Rollcall {
            child,
            dns: SocketAddr::from(([127, 0, 0, 1], dns_port)),
            http: SocketAddr::from(([127, 0, 0, 1], http_port)),
            zone: zone.trim_end_matches('.').to_string(),
            dir,
            log,
        };
        server.wait_ready();
        server
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().expect("poll rollcall") {
                panic!(
                    "rollcall exited during start-up ({status}):\n{}",
                    self.log_text()
                );
            }
            let http_up =
                TcpStream::connect_timeout(&self.http, Duration::from_millis(200)).is_ok();
            if http_up
                && ask_dig(self.dns, &format!("{}. SOA", self.zone), false).rcode == "NOERROR"
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "rollcall did not serve HTTP on {} and DNS on {} within 20 s:\n{}",
                self.http,
                self.dns,
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.http)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The A records of `<name>.<zone>` (rcode, sorted addresses), asked with dig.
    pub fn a_records(&self, name: &str) -> (String, Vec<String>) {
        let answer = ask_dig(self.dns, &format!("{name}.{}. A", self.zone), false);
        (answer.rcode.clone(), record_data(&answer.answer, "A"))
    }
}

impl Drop for Rollcall {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The data fields (after the type) of the records of type `rtype` in a rendered section.
fn record_data(section: &[String], rtype: &str) -> Vec<String> {
    let mut out: Vec<String> = section
        .iter()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            (fields.get(3) == Some(&rtype)).then(|| fields[4..].join(" "))
        })
        .collect();
    out.sort();
    out
}

/// Fails the test unless `program args…` runs and exits 0: used to check the client packages.
fn require(program: &str, args: &[&str], cwd: &Path, what: &str) {
    let out = Command::new(program)
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap_or_else(|e| {
            panic!("`{program}` is not runnable ({e}): {what}. CI installs it in .ci/run.")
        });
    assert!(
        out.status.success(),
        "{what}: `{program} {}` failed:\n{}{}\nInstall with .ci/run (pip install -r tests/clients/requirements.txt; npm ci --prefix tests/clients).",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_string())
}

/// A script run with its output in files (never a pipe that could fill up).
struct Script {
    name: &'static str,
    child: Child,
    out: PathBuf,
    status: Option<ExitStatus>,
}

impl Script {
    fn spawn(name: &'static str, mut cmd: Command, dir: &Path) -> Script {
        let out = dir.join(format!("{name}.out"));
        let file = std::fs::File::create(&out).expect("script output file");
        let child = cmd
            .stdout(file.try_clone().expect("dup output file"))
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("starting the {name} script: {e}"));
        Script {
            name,
            child,
            out,
            status: None,
        }
    }

    fn poll(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().expect("poll script");
        }
        self.status
    }

    fn output(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }
}

impl Drop for Script {
    fn drop(&mut self) {
        if self.status.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

struct Run<'a> {
    server: &'a Rollcall,
    sync: PathBuf,
    scripts: Vec<Script>,
}

impl Run<'_> {
    fn marker(&self, name: &str) -> bool {
        self.sync.join(name).exists()
    }

    fn write_marker(&self, name: &str) {
        let tmp = self.sync.join(format!("{name}.tmp"));
        std::fs::write(&tmp, b"harness").expect("write marker");
        std::fs::rename(&tmp, self.sync.join(name)).expect("publish marker");
    }

    fn report(&self) -> String {
        let mut text = String::new();
        for s in &self.scripts {
            text.push_str(&format!(
                "\n===== {} script ({}) =====\n{}",
                s.name,
                s.status
                    .map_or("still running".to_string(), |st| st.to_string()),
                s.output()
            ));
        }
        let log = self.server.log_text();
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
        text.push_str("\n===== rollcall log (last 40 lines) =====\n");
        for line in tail.into_iter().rev() {
            text.push_str(line);
            text.push('\n');
        }
        text
    }

    fn fail(&self, msg: &str) -> ! {
        panic!("{msg}\n{}", self.report());
    }

    /// Polls DNS until `<name>.<zone>` A answers exactly `want` (NXDOMAIN when empty).
    fn expect_a(&self, name: &str, want: &[&str], when: &str) {
        let want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let (rcode, addrs) = self.server.a_records(name);
            let ok = if want.is_empty() {
                rcode == "NXDOMAIN"
            } else {
                rcode == "NOERROR" && addrs == want
            };
            if ok {
                return;
            }
            if Instant::now() > deadline {
                self.fail(&format!(
                    "{when}: DNS {name}.{} A answered {rcode} {addrs:?}, expected {}",
                    self.server.zone,
                    if want.is_empty() {
                        "NXDOMAIN".to_string()
                    } else {
                        format!("{want:?}")
                    }
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn expect_srv(&self, app: &str, ports: &[u16], addrs: &[&str]) {
        let q = format!("_http._tcp.{app}.{}. SRV", self.server.zone);
        let answer: Answer = ask_dig(self.server.dns, &q, false);
        let got_ports: BTreeSet<u16> = record_data(&answer.answer, "SRV")
            .iter()
            .filter_map(|d| d.split_whitespace().nth(2).and_then(|p| p.parse().ok()))
            .collect();
        let want_ports: BTreeSet<u16> = ports.iter().copied().collect();
        let glue = record_data(&answer.additional, "A");
        let want_glue: Vec<String> = addrs.iter().map(|s| s.to_string()).collect();
        if answer.rcode != "NOERROR" || got_ports != want_ports || glue != want_glue {
            self.fail(&format!(
                "DNS {q}: expected SRV ports {want_ports:?} with A {want_glue:?} in the additional section, got {answer:?}"
            ));
        }
    }
}

#[test]
fn py_and_js_eureka_clients_register_heartbeat_discover_each_other_and_leave() {
    let clients = clients_dir();
    require(
        &python(),
        &["-c", "import py_eureka_client, dns.message"],
        &clients,
        "python3 with py-eureka-client and dnspython (tests/clients/requirements.txt)",
    );
    require(
        "node",
        &["-e", "require('eureka-js-client')"],
        &clients,
        "node with eureka-js-client (tests/clients/package.json)",
    );

    let server = Rollcall::start("eureka-clients", "registry.test", "");
    let sync = server.dir.join("sync");
    std::fs::create_dir_all(&sync).expect("sync dir");
    let base = server.base_url();

    let mut py = Command::new(python());
    py.arg(clients.join("py_clients.py"))
        .args(["--eureka", &format!("{base}/eureka")])
        .args(["--dns", &server.dns.to_string()])
        .args(["--zone", &server.zone])
        .arg("--sync")
        .arg(&sync)
        .arg("--hold")
        .env("PYTHONUNBUFFERED", "1");
    let mut js = Command::new("node");
    js.arg(clients.join("js_clients.js"))
        .args(["--eureka", &base])
        .arg("--sync")
        .arg(&sync)
        .arg("--hold");
    let mut run = Run {
        server: &server,
        sync: sync.clone(),
        scripts: vec![],
    };
    run.scripts.push(Script::spawn("py", py, &server.dir));
    run.scripts.push(Script::spawn("js", js, &server.dir));

    let py_ips = ["127.0.10.1", "127.0.10.2"];
    let js_ips = ["127.0.20.1", "127.0.20.2"];
    let deadline = Instant::now() + Duration::from_secs(180);
    let (mut saw_registered, mut saw_oos, mut released) = (false, false, false);
    loop {
        let statuses: Vec<Option<ExitStatus>> = run.scripts.iter_mut().map(Script::poll).collect();
        for (s, st) in run.scripts.iter().zip(&statuses) {
            if let Some(st) = st
                && !st.success()
            {
                run.fail(&format!("the {} client script failed ({st})", s.name));
            }
        }
        if statuses.iter().all(Option::is_some) {
            break;
        }
        if !saw_registered && run.marker("py.registered") && run.marker("js.registered") {
            // Registered (and heartbeating) → answerable by DNS, app names case-insensitive.
            run.expect_a("py-svc", &py_ips, "both PY-SVC instances registered");
            run.expect_a("JS-SVC", &js_ips, "both JS-SVC instances registered");
            run.write_marker("harness.saw-registered");
            saw_registered = true;
        }
        if !saw_oos && run.marker("py.oos") {
            run.expect_a(
                "py-svc",
                &py_ips[..1],
                "PY-SVC instance 2 is OUT_OF_SERVICE",
            );
            run.write_marker("harness.saw-oos");
            saw_oos = true;
        }
        if !released && run.marker("py.ready-to-stop") && run.marker("js.ready-to-stop") {
            run.expect_a("py-svc", &py_ips, "PY-SVC instance 2 is back UP");
            run.expect_a("js-svc", &js_ips, "before deregistration");
            run.expect_srv("js-svc", &[9001, 9002], &js_ips);
            run.expect_srv("py-svc", &[8101, 8102], &py_ips);
            run.write_marker("go-stop");
            released = true;
        }
        if Instant::now() > deadline {
            run.fail("the client scripts did not finish within 180 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    for (step, done) in [
        ("DNS checks while registered", saw_registered),
        ("DNS check of the OUT_OF_SERVICE instance", saw_oos),
        ("DNS checks before deregistration", released),
    ] {
        if !done {
            run.fail(&format!(
                "the scripts exited 0 but the harness never got to its {step}"
            ));
        }
    }
    for marker in ["py.stopped", "js.stopped"] {
        if !run.marker(marker) {
            run.fail(&format!("a script exited 0 without writing {marker}"));
        }
    }
    // Deregistered → gone from DNS at once.
    run.expect_a("py-svc", &[], "after both PY-SVC clients stopped");
    run.expect_a("js-svc", &[], "after both JS-SVC clients stopped");
    for s in &run.scripts {
        let out = s.output();
        assert!(
            out.contains(&format!("OK [{}]", s.name)),
            "the {} script exited 0 without its OK line:\n{out}",
            s.name
        );
    }
}
