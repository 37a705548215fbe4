//! Scale floors of the Kubernetes API source (issue 3), against the test API server:
//! 20,000 Services, 150,000 Pods and their EndpointSlices.
//!
//! ```text
//! cargo build --release -p rollcall
//! cargo run --release -p rollcall-tests --example kube_scale            # both runs
//! cargo run --release -p rollcall-tests --example kube_scale -- --quick # 2,000 / 15,000
//! ```
//!
//! For each run (with `pods verified`, then without), a fresh `rollcall serve` (the release
//! binary, `ROLLCALL_BIN` or `target/release/rollcall`) starts against the API server and this
//! measures:
//! - initial sync: from spawning the process to the first NOERROR for a Service (the store
//!   answers only once every watched kind has listed), floor 5 s;
//! - resident memory once synced (`VmRSS`, and the peak `VmHWM`, from /proc), floor 100 MB;
//! - propagation: a few hundred changes (ClusterIP changes of Services, endpoint changes of
//!   headless Services' EndpointSlices), each timed from just before the server writes it to the
//!   first DNS answer (UDP, polled back to back) that shows it; p50/p99, floor p99 100 ms.
//!
//! Only 127.0.0.1 is used. Prints a Markdown table for bench/KUBE-RESULTS.md.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RData, RecordType};
use rollcall_tests::apiserver::{ADMIN_TOKEN, ApiServer, Options, objects};

const NAMESPACES: usize = 100;
/// Every HEADLESS_EVERY-th Service is headless (its A records come from its EndpointSlice).
const HEADLESS_EVERY: usize = 10;

struct Size {
    services: usize,
    pods: usize,
    changes: usize,
}

fn service_name(i: usize) -> (String, String) {
    (format!("svc-{i}"), format!("ns-{}", i % NAMESPACES))
}

fn ip(base: u8, n: usize) -> Ipv4Addr {
    let n = u32::try_from(n).expect("small index");
    Ipv4Addr::from(u32::from(Ipv4Addr::new(10, base, 0, 0)) + n + 1)
}

fn endpoints_of(service: usize, size: &Size) -> Vec<(String, Ipv4Addr)> {
    (service..size.pods)
        .step_by(size.services)
        .map(|p| (format!("pod-{p}"), ip(1, p)))
        .collect()
}

fn load(api: &ApiServer, size: &Size) -> Duration {
    let start = Instant::now();
    let mut objects_out = Vec::with_capacity(size.services * 2 + size.pods + NAMESPACES);
    for n in 0..NAMESPACES {
        objects_out.push(objects::namespace(&format!("ns-{n}")));
    }
    for i in 0..size.services {
        let (name, ns) = service_name(i);
        if i.is_multiple_of(HEADLESS_EVERY) {
            objects_out.push(objects::headless_service(&ns, &name, 80));
        } else {
            objects_out.push(objects::service(&ns, &name, ip(96, i), 80));
        }
        objects_out.push(objects::endpoint_slice(
            &ns,
            &name,
            &format!("{name}-x7k2p"),
            &endpoints_of(i, size),
            8080,
        ));
    }
    for p in 0..size.pods {
        let service = p % size.services;
        let (name, ns) = service_name(service);
        objects_out.push(objects::pod(&ns, &format!("pod-{p}"), ip(1, p), &name));
    }
    api.apply_all(objects_out).expect("load the cluster");
    start.elapsed()
}

struct Dns {
    socket: UdpSocket,
    id: u16,
}

impl Dns {
    fn new(server: SocketAddr) -> Dns {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
        socket.connect(server).expect("connect");
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        Dns { socket, id: 1 }
    }

    /// (rcode, A addresses); rcode "TIMEOUT" when nothing came back.
    fn ask_a(&mut self, name: &str) -> (u16, Vec<Ipv4Addr>) {
        self.id = self.id.wrapping_add(1);
        let mut msg = Message::new(self.id, MessageType::Query, OpCode::Query);
        msg.add_query(Query::query(
            Name::from_ascii(name).expect("name"),
            RecordType::A,
        ));
        let bytes = msg.to_vec().expect("encode");
        if self.socket.send(&bytes).is_err() {
            return (u16::MAX, vec![]);
        }
        let mut buf = [0u8; 4096];
        loop {
            let Ok(n) = self.socket.recv(&mut buf) else {
                return (u16::MAX, vec![]);
            };
            let Ok(reply) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            if reply.metadata.id != self.id {
                continue;
            }
            let addrs = reply
                .answers
                .iter()
                .filter_map(|r| match &r.data {
                    RData::A(a) => Some(a.0),
                    _ => None,
                })
                .collect();
            return (u16::from(reply.metadata.response_code), addrs);
        }
    }
}

fn rss_kb(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn rollcall_bin() -> PathBuf {
    if let Ok(path) = std::env::var("ROLLCALL_BIN") {
        return PathBuf::from(path);
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("release").join("rollcall")
}

fn free_port() -> u16 {
    let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
    s.local_addr().expect("addr").port()
}

struct RunResult {
    label: &'static str,
    sync: Duration,
    rss_mb: f64,
    hwm_mb: f64,
    rss_after_mb: f64,
    p50: Duration,
    p99: Duration,
    max: Duration,
    changes: usize,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn run(api: &ApiServer, dir: &Path, size: &Size, pods_verified: bool, round: usize) -> RunResult {
    let port = free_port();
    let kubeconfig = api.write_kubeconfig(dir, ADMIN_TOKEN);
    let corefile = dir.join(format!("Corefile-{round}"));
    std::fs::write(
        &corefile,
        format!(
            "cluster.local:{port} {{\n    bind 127.0.0.1\n    kubernetes {{\n        kubeconfig {}\n{}        startup_timeout 60s\n    }}\n}}\n",
            kubeconfig.display(),
            if pods_verified { "        pods verified\n" } else { "" }
        ),
    )
    .expect("write Corefile");
    let log = std::fs::File::create(dir.join(format!("rollcall-{round}.log"))).expect("log file");
    let spawned = Instant::now();
    let mut child: Child = Command::new(rollcall_bin())
        .args(["serve", "--threads", "2", "-c"])
        .arg(&corefile)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn rollcall (cargo build --release -p rollcall first)");
    let pid = child.id();
    let server: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let mut dns = Dns::new(server);

    let probe = "svc-1.ns-1.svc.cluster.local.";
    let sync = loop {
        let (rcode, _) = dns.ask_a(probe);
        if rcode == 0 {
            break spawned.elapsed();
        }
        assert!(
            spawned.elapsed() < Duration::from_secs(120),
            "no sync within 120 s"
        );
        std::thread::sleep(Duration::from_millis(2));
    };
    std::thread::sleep(Duration::from_secs(1));
    let (rss, hwm) = rss_kb(pid);
    if pods_verified {
        let pod = ip(1, 12345 % size.pods).to_string().replace('.', "-");
        let ns = format!("ns-{}", (12345 % size.pods % size.services) % NAMESPACES);
        let (rcode, _) = dns.ask_a(&format!("{pod}.{ns}.pod.cluster.local."));
        assert_eq!(rcode, 0, "pods verified answers for a known pod");
    }

    let mut latencies = Vec::with_capacity(size.changes);
    for c in 0..size.changes {
        // Walk the Services in a stride so consecutive changes hit different namespaces.
        // Half the changes are EndpointSlice changes of headless Services, half ClusterIP
        // changes of the others.
        let mut i = (c * 7919 + round * 104_729 + 1) % size.services;
        if c.is_multiple_of(2) {
            i -= i % HEADLESS_EVERY;
        } else if i.is_multiple_of(HEADLESS_EVERY) {
            i += 1;
        }
        let (name, ns) = service_name(i);
        let qname = format!("{name}.{ns}.svc.cluster.local.");
        let new_ip = ip(200 + u8::try_from(round % 50).unwrap_or(0), c);
        let t0 = Instant::now();
        if i.is_multiple_of(HEADLESS_EVERY) {
            let mut eps = endpoints_of(i, size);
            eps.push((format!("extra-{c}"), new_ip));
            api.apply(objects::endpoint_slice(
                &ns,
                &name,
                &format!("{name}-x7k2p"),
                &eps,
                8080,
            ));
        } else {
            api.apply(objects::service(&ns, &name, new_ip, 80));
        }
        loop {
            let (_, addrs) = dns.ask_a(&qname);
            if addrs.contains(&new_ip) {
                latencies.push(t0.elapsed());
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "change {c} to {qname} not seen in 10 s"
            );
        }
    }
    let (rss_after, _) = rss_kb(pid);
    let _ = child.kill();
    let _ = child.wait();
    latencies.sort();
    RunResult {
        label: if pods_verified {
            "pods verified"
        } else {
            "pods disabled"
        },
        sync,
        rss_mb: rss as f64 / 1024.0,
        hwm_mb: hwm as f64 / 1024.0,
        rss_after_mb: rss_after as f64 / 1024.0,
        p50: percentile(&latencies, 50.0),
        p99: percentile(&latencies, 99.0),
        max: latencies.last().copied().unwrap_or_default(),
        changes: latencies.len(),
    }
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let size = if quick {
        Size {
            services: 2_000,
            pods: 15_000,
            changes: 100,
        }
    } else {
        Size {
            services: 20_000,
            pods: 150_000,
            changes: 300,
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let api = runtime.block_on(ApiServer::start(Options {
        bookmark_interval: Duration::from_secs(30),
        ..Options::default()
    }));
    let dir = std::env::temp_dir().join(format!("rollcall-kube-scale-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let loaded = load(&api, &size);
    println!(
        "loaded {} Services, {} EndpointSlices, {} Pods, {NAMESPACES} Namespaces into the test API server in {loaded:.1?}",
        size.services, size.services, size.pods
    );

    let mut results = Vec::new();
    for (round, pods_verified) in [true, false].into_iter().enumerate() {
        let _enter = runtime.enter();
        let r = run(&api, &dir, &size, pods_verified, round);
        println!(
            "{}: sync {:.2?}, RSS {:.1} MB (peak {:.1} MB, {:.1} MB after the changes), propagation p50 {:.2?} p99 {:.2?} max {:.2?} over {} changes",
            r.label, r.sync, r.rss_mb, r.hwm_mb, r.rss_after_mb, r.p50, r.p99, r.max, r.changes
        );
        results.push(r);
    }

    println!();
    println!(
        "| run | initial sync | RSS synced | peak RSS | RSS after changes | propagation p50 | p99 | max |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for r in &results {
        println!(
            "| {} | {:.2} s | {:.1} MB | {:.1} MB | {:.1} MB | {:.2} ms | {:.2} ms | {:.2} ms |",
            r.label,
            r.sync.as_secs_f64(),
            r.rss_mb,
            r.hwm_mb,
            r.rss_after_mb,
            r.p50.as_secs_f64() * 1e3,
            r.p99.as_secs_f64() * 1e3,
            r.max.as_secs_f64() * 1e3
        );
    }
    let mut failed = Vec::new();
    for r in &results {
        if r.sync > Duration::from_secs(5) {
            failed.push(format!("{}: sync {:.2?} > 5 s", r.label, r.sync));
        }
        if r.hwm_mb > 100.0 {
            failed.push(format!("{}: peak RSS {:.1} MB > 100 MB", r.label, r.hwm_mb));
        }
        if r.p99 > Duration::from_millis(100) {
            failed.push(format!("{}: p99 {:.2?} > 100 ms", r.label, r.p99));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    if failed.is_empty() {
        println!("\nall floors met (sync <= 5 s, RSS <= 100 MB, p99 <= 100 ms)");
    } else {
        println!("\nfloors missed:\n  {}", failed.join("\n  "));
        std::process::exit(1);
    }
}
