//! kubeadm's default Corefile, read from `deploy/configmap.yaml` and served unchanged by the
//! release binary, the way the rollcall pod runs it: in its own network namespace (reached over
//! a veth pair), with the in-cluster credentials kubelet gives a pod (`KUBERNETES_SERVICE_HOST`
//! and `_PORT`, and the service account's token, CA and namespace under
//! `/var/run/secrets/kubernetes.io/serviceaccount/`, mounted in a private mount namespace so the
//! host's /run is untouched), and the node's resolv.conf naming an upstream on the host. Then,
//! with dig and curl from inside the namespace: every directive of that Corefile doing its job,
//! and a SIGTERM drains through the 5 s lameduck and exits 0.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rollcall_tests::apiserver::{ADMIN_TOKEN, ApiServer, Options, objects};
use rollcall_tests::upstream::TestUpstream;

use crate::netns::Netns;
use crate::support::{Answer, parse_dig, rollcall_bin, scratch_dir};

/// `data.Corefile` of deploy/configmap.yaml, exactly as the ConfigMap carries it.
fn kubeadm_corefile() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/configmap.yaml");
    let text = std::fs::read_to_string(&path).expect("deploy/configmap.yaml");
    let value: serde_json::Value = serde_yaml_ng::from_str(&text).expect("configmap.yaml is YAML");
    value["data"]["Corefile"]
        .as_str()
        .expect("configmap.yaml has data.Corefile")
        .to_string()
}

/// Runs `cmd` to completion; kills it and panics after `limit`.
fn output_within(mut cmd: Command, limit: Duration) -> Output {
    let what = format!("{cmd:?}");
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    let pid = child.id().to_string();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => out.unwrap_or_else(|e| panic!("{what}: {e}")),
        Err(_) => {
            let _ = Command::new("kill").args(["-KILL", &pid]).output();
            panic!("{what} did not finish within {limit:?}");
        }
    }
}

/// The pod: rollcall under `ip netns exec` and `unshare --mount`, its stdout and stderr in a log.
struct Pod<'a> {
    ns: &'a mut Netns,
    log: PathBuf,
}

impl Pod<'_> {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `dig @127.0.0.1` inside the namespace.
    fn dig(&self, args: &[&str]) -> String {
        let mut all = vec!["dig", "@127.0.0.1", "+time=2", "+tries=1"];
        all.extend_from_slice(args);
        let out = output_within(self.ns.command(&all), Duration::from_secs(10));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn ask(&self, name: &str, qtype: &str) -> Answer {
        let text = self.dig(&["+noall", "+comments", "+answer", "+authority", name, qtype]);
        parse_dig(&text).unwrap_or_else(|| {
            panic!(
                "no answer to {name} {qtype}:\n{text}\nrollcall's log:\n{}",
                self.log()
            )
        })
    }

    /// The answer section's data, in the order the server sent it.
    fn short(&self, name: &str, qtype: &str) -> Vec<String> {
        self.dig(&["+short", name, qtype])
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// `curl http://127.0.0.1:PORT/PATH` inside the namespace: (status, body); status 0 when
    /// nothing answered.
    fn http(&self, port: u16, path: &str) -> (u16, String) {
        let url = format!("http://127.0.0.1:{port}{path}");
        let out = output_within(
            self.ns.command(&[
                "curl",
                "-s",
                "--noproxy",
                "*",
                "-m",
                "3",
                "-w",
                "\n%{http_code}",
                &url,
            ]),
            Duration::from_secs(10),
        );
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
        (code.trim().parse().unwrap_or(0), body.to_string())
    }

    fn exited(&mut self) -> Option<ExitStatus> {
        let child = self.ns.server.as_mut().expect("rollcall is running");
        child.try_wait().expect("try_wait")
    }

    fn pid(&self) -> u32 {
        self.ns.server.as_ref().expect("rollcall is running").id()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubeadm_corefile_runs_unchanged_in_a_pod_like_namespace() {
    for tool in ["dig", "curl", "unshare"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(found, "{tool} is not installed (.ci/run installs it)");
    }
    let pid = std::process::id();
    let n = u8::try_from(pid % 250 + 1).expect("1..=250");
    let host_ip = std::net::Ipv4Addr::new(10, 253, n, 1);
    // The node's resolv.conf, as `forward . /etc/resolv.conf` reads it in the pod
    // (dnsPolicy: Default): the upstream on the host.
    let mut ns = match Netns::create(
        "k",
        &format!("nameserver {host_ip}\noptions timeout:2 attempts:1\n"),
    ) {
        Ok(ns) => ns,
        Err(why) => {
            eprintln!("SKIPPED kubeadm pod test: {why}");
            return;
        }
    };
    let veth = ns.add_veth(n, 0).expect("veth pair to the namespace");
    assert_eq!(veth.host, host_ip);

    let upstream = TestUpstream::start_at(SocketAddr::new(IpAddr::V4(veth.host), 53))
        .await
        .expect("upstream on the host end of the veth, port 53");
    upstream.add_a("www.example.org", &["192.0.2.80".parse().expect("ip")]);

    let api = ApiServer::start(Options {
        bind: IpAddr::V4(veth.host),
        ..Options::default()
    })
    .await;
    api.apply(objects::namespace("apps"));
    api.apply(objects::service(
        "apps",
        "web",
        "10.96.0.100".parse().expect("ip"),
        80,
    ));
    api.apply(objects::endpoint_slice(
        "apps",
        "web",
        "web-abcde",
        &[("web-pod".to_string(), "10.244.1.10".parse().expect("ip"))],
        8080,
    ));
    api.apply(objects::headless_service("apps", "db", 5432));
    let db_ips = ["10.244.3.20", "10.244.3.21", "10.244.3.22"];
    let db_endpoints: Vec<(String, std::net::Ipv4Addr)> = db_ips
        .iter()
        .enumerate()
        .map(|(i, ip)| (format!("db-{i}"), ip.parse().expect("ip")))
        .collect();
    api.apply(objects::endpoint_slice(
        "apps",
        "db",
        "db-xyz12",
        &db_endpoints,
        5432,
    ));

    // What kubelet mounts: the service account's token, the cluster CA, the pod's namespace.
    let dir = scratch_dir("kubeadm-pod");
    let secrets = dir.join("serviceaccount");
    std::fs::create_dir_all(&secrets).expect("secrets dir");
    std::fs::write(secrets.join("token"), ADMIN_TOKEN).expect("token");
    std::fs::write(secrets.join("ca.crt"), &api.pki().ca_pem).expect("ca.crt");
    std::fs::write(secrets.join("namespace"), "kube-system").expect("namespace");
    let corefile = dir.join("Corefile");
    std::fs::write(&corefile, kubeadm_corefile()).expect("Corefile");
    let log = dir.join("rollcall.log");
    let log_file = std::fs::File::create(&log).expect("log file");

    // `ip netns exec` and `unshare` (no --fork) both exec, so the child's pid is rollcall's.
    let script = "mount -t tmpfs tmpfs /run \
        && mkdir -p /var/run/secrets/kubernetes.io/serviceaccount \
        && cp \"$SA_SRC\"/token \"$SA_SRC\"/ca.crt \"$SA_SRC\"/namespace /var/run/secrets/kubernetes.io/serviceaccount/ \
        && exec \"$ROLLCALL\" serve --corefile \"$COREFILE\"";
    let child = ns
        .mount_ns_command(script)
        .env("KUBERNETES_SERVICE_HOST", api.addr().ip().to_string())
        .env("KUBERNETES_SERVICE_PORT", api.addr().port().to_string())
        .env("SA_SRC", &secrets)
        .env("ROLLCALL", rollcall_bin())
        .env("COREFILE", &corefile)
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().expect("log fd"))
        .stderr(log_file)
        .spawn()
        .expect("start rollcall in the namespace");
    ns.server = Some(child);
    let mut pod = Pod { ns: &mut ns, log };

    // /ready: 200 once the kubernetes plugin synced from the API server.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = pod.exited() {
            panic!("rollcall exited early ({status}):\n{}", pod.log());
        }
        let (code, _) = pod.http(8181, "/ready");
        if code == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "/ready not 200 within 30 s (last {code}); rollcall's log:\n{}",
            pod.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        api.stats().lists.load(std::sync::atomic::Ordering::Relaxed) > 0,
        "rollcall listed from the API server"
    );
    assert_eq!(pod.http(8080, "/health"), (200, "OK".to_string()));
    // The credentials were mounted in rollcall's private mount namespace only.
    let host_token = std::fs::read_to_string("/var/run/secrets/kubernetes.io/serviceaccount/token");
    assert!(
        !host_token.is_ok_and(|t| t == ADMIN_TOKEN),
        "the test's token is on the host's /var/run"
    );

    // kubernetes: a ClusterIP Service, authoritative, `ttl 30`.
    let a = pod.ask("web.apps.svc.cluster.local", "A");
    assert_eq!(
        (a.rcode.as_str(), a.aa, a.answer.clone()),
        (
            "NOERROR",
            true,
            vec!["web.apps.svc.cluster.local. 30 IN A 10.96.0.100".to_string()]
        ),
        "{a:?}"
    );

    // kubernetes + loadbalance: the headless Service's three endpoints, shuffled per answer.
    let mut orders = std::collections::HashSet::new();
    for _ in 0..12 {
        let order = pod.short("db.apps.svc.cluster.local", "A");
        let mut set = order.clone();
        set.sort();
        assert_eq!(set, db_ips, "headless answer {order:?}");
        orders.insert(order);
    }
    assert!(
        orders.len() > 1,
        "loadbalance: 12 answers all in one order {orders:?}"
    );

    // kubernetes in in-arpa.arpa: the ClusterIP's PTR.
    let ptr = pod.ask("100.0.96.10.in-addr.arpa", "PTR");
    assert_eq!(
        (ptr.rcode.as_str(), ptr.answer.clone()),
        (
            "NOERROR",
            vec!["100.0.96.10.in-addr.arpa. 30 IN PTR web.apps.svc.cluster.local.".to_string()]
        ),
        "{ptr:?}"
    );

    // forward . /etc/resolv.conf and cache 30: the upstream is asked once for two queries.
    for _ in 0..2 {
        let ext = pod.ask("www.example.org", "A");
        assert_eq!(ext.rcode, "NOERROR", "{ext:?}");
        assert_eq!(ext.answer.len(), 1, "{ext:?}");
        assert!(ext.answer[0].ends_with("IN A 192.0.2.80"), "{ext:?}");
        assert!(!ext.aa, "a forwarded answer is not authoritative: {ext:?}");
    }
    assert_eq!(
        upstream.queries_for("www.example.org"),
        1,
        "the second query must come from the cache"
    );
    let nx = pod.ask("no-such-name.example.org", "A");
    assert_eq!(nx.rcode, "NXDOMAIN", "{nx:?}");
    assert!(upstream.queries_for("no-such-name.example.org") >= 1);

    // prometheus :9153.
    let (code, metrics) = pod.http(9153, "/metrics");
    assert_eq!(code, 200, "{metrics}");
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("coredns_dns_requests_total{")
                && l.contains("server=\"dns://:53\"")),
        "coredns_dns_requests_total with server=\"dns://:53\" missing:\n{metrics}"
    );
    for name in ["coredns_cache_hits_total", "coredns_forward_requests_total"] {
        assert!(
            metrics.lines().any(|l| l.starts_with(name)),
            "{name} missing:\n{metrics}"
        );
    }

    // loop: its HINFO probe went through forward to the upstream (a real, separate server, so
    // the probe never comes back) and did not trip.
    let asked_by_test =
        upstream.queries_for("www.example.org") + upstream.queries_for("no-such-name.example.org");
    let deadline = Instant::now() + Duration::from_secs(10);
    while upstream.udp_queries() + upstream.tcp_queries() <= asked_by_test {
        assert!(
            Instant::now() < deadline,
            "loop's probe never reached the upstream; log:\n{}",
            pod.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(pod.exited().is_none(), "rollcall stopped:\n{}", pod.log());
    assert!(!pod.log().contains("Loop ("), "{}", pod.log());

    // SIGTERM: /ready 503 while the 5 s lameduck lasts, DNS still answers, then exit 0.
    let kill = Command::new("kill")
        .args(["-TERM", &pod.pid().to_string()])
        .output()
        .expect("kill");
    assert!(kill.status.success());
    let term = Instant::now();
    loop {
        let (code, _) = pod.http(8181, "/ready");
        if code == 503 {
            break;
        }
        assert!(
            term.elapsed() < Duration::from_secs(3),
            "/ready not 503 within 3 s of SIGTERM (last {code}); log:\n{}",
            pod.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let a = pod.ask("web.apps.svc.cluster.local", "A");
    assert_eq!(a.rcode, "NOERROR", "answers while draining: {a:?}");
    assert!(
        term.elapsed() < Duration::from_secs(5),
        "that was inside the lameduck"
    );
    let status = loop {
        if let Some(status) = pod.exited() {
            break status;
        }
        assert!(
            term.elapsed() < Duration::from_secs(20),
            "rollcall did not exit within 20 s of SIGTERM; log:\n{}",
            pod.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let drained = term.elapsed();
    assert!(
        status.success(),
        "exit status {status}; log:\n{}",
        pod.log()
    );
    assert!(
        drained >= Duration::from_millis(4500),
        "exited after {drained:?}, before the 5 s lameduck ended"
    );
    pod.ns.server = None;
    let _ = std::fs::remove_dir_all(&dir);
}
