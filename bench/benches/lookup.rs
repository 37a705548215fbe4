//! In-process benchmarks (no sockets): what one core can answer when the network is free.
//!
//! 1. `Dispatcher::respond(bytes, src, Transport::Udp)` per query category, on the dispatcher built
//!    from the generated Corefile exactly as `rollcall serve` builds it (Corefile → setup → the
//!    kubernetes plugin's manifest source), fed the same query files dnsperf sends. Decoding the
//!    query, routing, answering and encoding the reply are all inside the measurement.
//! 2. Raw store reads: `Store::service` (hit and miss), `Store::pod_namespaces`, `Store::ptr`, on a store
//!    built with `manifests::load_dir` + `StoreWriter::replace`.
//! 3. `metrics`: what `prometheus` adds per query (`ZoneMetrics::record` and the clock reads).
//!    Point `ROLLCALL_BENCH_DIR` at a cluster whose Corefile has `prometheus` to see it in (1).
//!
//! Run: `cargo bench -p rollcall-bench --bench lookup` (uses bench/out/ if run-dnsperf.sh
//! generated it, else generates 5,000 Services / 50,000 pods there first). Environment:
//! `ROLLCALL_BENCH_DIR` (cluster directory), `ROLLCALL_BENCH_SERVICES`, `ROLLCALL_BENCH_PODS`
//! (when generating), `ROLLCALL_BENCH_SECS` (measured seconds per repetition, default 1),
//! `ROLLCALL_BENCH_ONLY` (comma-separated categories, e.g. `srv,ptr`, and `store`; for profiling
//! one case with `perf record`).
//!
//! No criterion: each case is warmed up with one pass over its queries, then measured in
//! `REPS` repetitions of about `ROLLCALL_BENCH_SECS` each; the table shows the fastest and the
//! median repetition (the fastest is the least disturbed by other processes on the machine).

use std::future::Future;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::str::FromStr;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};
use registry::source::filter::Filter;
use registry::source::manifests;
use registry::store::{ObjectKind, StoreWriter};
use rollcall::contract::{StartContext, Transport};
use rollcall::server::dispatch::Dispatcher;
use rollcall_bench::synth::{self, Options};
use tokio_util::sync::CancellationToken;

const REPS: usize = 5;
const CATEGORIES: &[&str] = &[
    "service",
    "headless",
    "srv",
    "ptr",
    "pod",
    "nodata",
    "externalname",
    "nxdomain",
    "mix",
];

fn main() {
    let dir =
        std::env::var_os("ROLLCALL_BENCH_DIR").map_or_else(synth::default_out_dir, PathBuf::from);
    let secs: f64 = env_or("ROLLCALL_BENCH_SECS", 1.0);
    let only: Option<Vec<String>> = std::env::var("ROLLCALL_BENCH_ONLY").ok().map(|v| {
        v.split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    });
    let wanted = |what: &str| only.as_ref().is_none_or(|o| o.iter().any(|x| x == what));
    if !dir.join("Corefile").exists() || !dir.join("queries/expected.tsv").exists() {
        let opts = Options {
            services: env_or("ROLLCALL_BENCH_SERVICES", 5000),
            pods: env_or("ROLLCALL_BENCH_PODS", 50_000),
            ..Options::default()
        };
        eprintln!(
            "generating {} Services / {} pods into {}",
            opts.services,
            opts.pods,
            dir.display()
        );
        match synth::write_all(&opts, &dir) {
            Ok(summary) => eprintln!("{summary}"),
            Err(e) => fail(&format!("gen-cluster into {}: {e}", dir.display())),
        }
    }
    let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
    println!("# rollcall in-process benchmarks");
    println!("cluster: {}", dir.display());
    println!();

    let dispatcher = dispatcher_from_corefile(&dir);
    let expected = synth::read_expected(&dir.join("queries/expected.tsv"))
        .unwrap_or_else(|e| fail(&format!("expected.tsv: {e}")));

    println!("## Dispatcher::respond (wire query in, wire reply out; UDP, no EDNS; one thread)");
    println!();
    println!(
        "| category | queries | ns/op (best) | ns/op (median) | Mqps/core (best) | rcodes of one pass |"
    );
    println!("|---|---:|---:|---:|---:|---|");
    let src = SocketAddr::from(([127, 0, 0, 1], 40000));
    let mut failures = Vec::new();
    for &cat in CATEGORIES.iter().filter(|c| wanted(c)) {
        let path = dir.join(format!("queries/{cat}.txt"));
        let Ok(lines) = synth::read_queries(&path) else {
            continue;
        };
        let wire: Vec<Vec<u8>> = lines
            .iter()
            .enumerate()
            .map(|(i, (n, t))| wire_query(i, n, t))
            .collect();
        if wire.is_empty() {
            continue;
        }
        // Warm-up pass, which also checks every answer's RCODE.
        let mut rcodes = [0usize; 16];
        for q in &wire {
            let reply = respond_now(&dispatcher, q, src)
                .unwrap_or_else(|| fail(&format!("{cat}: no reply")));
            rcodes[usize::from(reply[3] & 0x0f)] += 1;
        }
        if let Some((_, _, ok, nx)) = expected.iter().find(|e| e.0 == cat) {
            let got_ok = rcodes[0];
            let got_nx = rcodes[3];
            // Files are sent whole here, so the counts must match exactly.
            if got_ok != *ok || got_nx != *nx {
                failures.push(format!(
                    "{cat}: expected NOERROR {ok} / NXDOMAIN {nx}, got {}",
                    rcode_text(&rcodes)
                ));
            }
        }
        let ns = measure(secs, |i| {
            let q = &wire[i % wire.len()];
            black_box(respond_now(&dispatcher, q, src));
        });
        println!(
            "| {cat} | {} | {:.0} | {:.0} | {:.2} | {} |",
            wire.len(),
            ns.best,
            ns.median,
            1e3 / ns.best,
            rcode_text(&rcodes)
        );
    }
    println!();

    if wanted("store") {
        store_benches(&dir, secs);
    }
    if wanted("metrics") {
        metrics_benches(secs);
    }

    if !failures.is_empty() {
        println!("## RCODE MISMATCHES");
        for f in &failures {
            println!("- {f}");
        }
        std::process::exit(1);
    }
}

struct Timing {
    best: f64,
    median: f64,
}

/// What `prometheus` adds to each query: two clock reads and one `ZoneMetrics::record`.
fn metrics_benches(secs: f64) {
    use rollcall::metrics::{Observation, ZoneMetrics};
    println!("## prometheus per-query cost (one thread)");
    println!();
    println!("| operation | ns/op (best) | ns/op (median) |");
    println!("|---|---:|---:|");
    let zone = ZoneMetrics::new(
        "dns://:53".into(),
        "cluster.local.".into(),
        &["errors", "kubernetes"],
    );
    let qtypes = [1u16, 28, 33, 12, 99];
    let observe = |i: usize| Observation {
        transport: Transport::Udp,
        ipv6: false,
        qtype: qtypes[i % qtypes.len()],
        dnssec_ok: i.is_multiple_of(16),
        request_len: 40 + i % 30,
        response_len: 90 + i % 200,
        rcode: if i.is_multiple_of(10) { 3 } else { 0 },
        plugin: "kubernetes",
        elapsed: Duration::from_nanos(800 + (i % 500) as u64),
    };
    let t = measure(secs, |i| zone.record(&black_box(observe(i))));
    println!("| ZoneMetrics::record | {:.1} | {:.1} |", t.best, t.median);
    let t = measure(secs, |_| {
        black_box(Instant::now().elapsed());
    });
    println!(
        "| Instant::now + elapsed | {:.1} | {:.1} |",
        t.best, t.median
    );
    let t = measure(secs, |i| {
        black_box(observe(i));
    });
    println!(
        "| (building the observation alone) | {:.1} | {:.1} |",
        t.best, t.median
    );
    println!();
}

/// Run `op(i)` for about `secs` per repetition, `REPS` times; ns per call.
fn measure(secs: f64, mut op: impl FnMut(usize)) -> Timing {
    // Calibrate a batch that takes ~10 ms so the clock is read rarely.
    let mut batch = 1000usize;
    loop {
        let t = Instant::now();
        for i in 0..batch {
            op(i);
        }
        if t.elapsed() >= Duration::from_millis(10) || batch >= 1 << 26 {
            break;
        }
        batch *= 2;
    }
    let mut per_op = Vec::with_capacity(REPS);
    let mut i = 0usize;
    for _ in 0..REPS {
        let budget = Duration::from_secs_f64(secs);
        let start = Instant::now();
        let mut ops = 0usize;
        while start.elapsed() < budget {
            for _ in 0..batch {
                op(i);
                i = i.wrapping_add(1);
            }
            ops += batch;
        }
        per_op.push(start.elapsed().as_nanos() as f64 / ops as f64);
    }
    per_op.sort_by(f64::total_cmp);
    Timing {
        best: per_op[0],
        median: per_op[per_op.len() / 2],
    }
}

/// The dispatcher `rollcall serve` would build for the first listener of the Corefile, with the
/// manifest source started and synced.
fn dispatcher_from_corefile(dir: &Path) -> Arc<Dispatcher> {
    let corefile = dir.join("Corefile");
    let setup = rollcall::load_corefile(&corefile, 53)
        .unwrap_or_else(|e| fail(&format!("{}: {e}", corefile.display())));
    // Exactly the dispatcher `serve` builds (with the `prometheus` counters if the Corefile has it).
    let Some((_, dispatcher)) = rollcall::server::dispatchers(&setup).into_iter().next() else {
        fail("the Corefile has no listener")
    };

    // The source runs on a current-thread runtime that only moves while we block on it: after the
    // first sync it sits idle, so measurements below share the core with nothing.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail(&format!("runtime: {e}")));
    let readiness = setup.readiness;
    let started = Instant::now();
    runtime.block_on(async {
        let ctx = StartContext::new(CancellationToken::new(), readiness.clone());
        for hook in setup.hooks {
            hook(&ctx).unwrap_or_else(|e| fail(&format!("start hook: {e}")));
        }
        while !readiness.iter().all(|(_, ready)| ready()) {
            if started.elapsed() > Duration::from_secs(300) {
                fail("the manifest source did not sync within 300 s");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    println!(
        "Corefile setup + manifest source synced in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    // Keep the runtime (and the source task) alive without running it.
    std::mem::forget(runtime);
    dispatcher
}

/// `Dispatcher::respond` polled once, as the UDP loop does: memory answers finish on the first poll.
fn respond_now(dispatcher: &Dispatcher, query: &[u8], src: SocketAddr) -> Option<Vec<u8>> {
    let mut fut = pin!(dispatcher.respond(query, src, Transport::Udp));
    let mut cx = Context::from_waker(Waker::noop());
    match fut.as_mut().poll(&mut cx) {
        Poll::Ready(reply) => reply,
        Poll::Pending => fail("respond did not finish on the first poll (an answer that waits?)"),
    }
}

fn wire_query(i: usize, name: &str, qtype: &str) -> Vec<u8> {
    let name = Name::from_ascii(if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.")
    })
    .unwrap_or_else(|e| fail(&format!("{name}: {e}")));
    let qtype = RecordType::from_str(qtype).unwrap_or_else(|e| fail(&format!("{qtype}: {e}")));
    let mut msg = Message::new((i % 65536) as u16, MessageType::Query, OpCode::Query);
    msg.metadata.recursion_desired = true;
    msg.add_query(Query::query(name, qtype));
    msg.to_vec()
        .unwrap_or_else(|e| fail(&format!("encode: {e}")))
}

fn rcode_text(counts: &[usize; 16]) -> String {
    const NAMES: [&str; 16] = [
        "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN", "YXRRSET",
        "NXRRSET", "NOTAUTH", "NOTZONE", "RCODE11", "RCODE12", "RCODE13", "RCODE14", "RCODE15",
    ];
    counts
        .iter()
        .enumerate()
        .filter(|(_, n)| **n > 0)
        .map(|(i, n)| format!("{} {n}", NAMES[i]))
        .collect::<Vec<_>>()
        .join(", ")
}

fn store_benches(dir: &Path, secs: f64) {
    let started = Instant::now();
    let report = manifests::load_dir(&dir.join("cluster"), &Filter::default());
    let load = started.elapsed();
    if !report.errors.is_empty() {
        fail(&format!(
            "{} manifest errors, first: {}",
            report.errors.len(),
            report.errors[0]
        ));
    }
    let objects = report.objects.len();
    let writer = StoreWriter::new();
    let store = writer.reader();
    let started = Instant::now();
    writer.replace(&ObjectKind::ALL, report.objects);
    let replace = started.elapsed();
    println!("## Store");
    println!();
    println!(
        "manifests::load_dir: {objects} objects in {:.2} s; StoreWriter::replace: {:.0} ms; {} Services in the store",
        load.as_secs_f64(),
        replace.as_secs_f64() * 1e3,
        store.service_count()
    );
    println!();

    let read = |cat: &str| {
        synth::read_queries(&dir.join(format!("queries/{cat}.txt"))).unwrap_or_default()
    };
    // `name.namespace` keys of the Services the service category asks for.
    let hits: Vec<String> = read("service")
        .iter()
        .filter_map(|(n, _)| n.strip_suffix(".svc.cluster.local").map(str::to_string))
        .collect();
    let misses: Vec<String> = (0..10_000)
        .map(|i| format!("missing-{i}.ns-{}", i % 48))
        .collect();
    let pod_ips: Vec<IpAddr> = read("pod")
        .iter()
        .filter_map(|(n, t)| {
            (t == "A")
                .then(|| {
                    n.split('.')
                        .next()?
                        .replace('-', ".")
                        .parse::<Ipv4Addr>()
                        .ok()
                })
                .flatten()
        })
        .map(IpAddr::V4)
        .collect();
    let cluster_ips: Vec<IpAddr> = read("ptr")
        .iter()
        .filter_map(|(n, _)| {
            let head = n.strip_suffix(".in-addr.arpa")?;
            let o: Vec<u8> = head
                .split('.')
                .rev()
                .filter_map(|x| x.parse().ok())
                .collect();
            (o.len() == 4 && o[1] == 96).then(|| IpAddr::V4(Ipv4Addr::new(o[0], o[1], o[2], o[3])))
        })
        .collect();

    println!("| operation | keys | ns/op (best) | ns/op (median) | found |");
    println!("|---|---:|---:|---:|---:|");
    let row = |label: &str, keys: usize, found: usize, t: Timing| {
        println!(
            "| {label} | {keys} | {:.1} | {:.1} | {found} |",
            t.best, t.median
        );
    };
    if !hits.is_empty() {
        let found = hits.iter().filter(|k| store.service(k).is_some()).count();
        row(
            "Store::service (hit)",
            hits.len(),
            found,
            measure(secs, |i| {
                black_box(store.service(black_box(&hits[i % hits.len()])));
            }),
        );
    }
    let found = misses.iter().filter(|k| store.service(k).is_some()).count();
    row(
        "Store::service (miss)",
        misses.len(),
        found,
        measure(secs, |i| {
            black_box(store.service(black_box(&misses[i % misses.len()])));
        }),
    );
    if !pod_ips.is_empty() {
        let found = pod_ips
            .iter()
            .filter(|ip| store.pod_namespaces(**ip).is_some())
            .count();
        row(
            "Store::pod_namespaces",
            pod_ips.len(),
            found,
            measure(secs, |i| {
                black_box(store.pod_namespaces(black_box(pod_ips[i % pod_ips.len()])));
            }),
        );
    }
    if !cluster_ips.is_empty() {
        let found = cluster_ips
            .iter()
            .filter(|ip| store.ptr(**ip).is_some())
            .count();
        row(
            "Store::ptr (ClusterIPs)",
            cluster_ips.len(),
            found,
            measure(secs, |i| {
                black_box(store.ptr(black_box(cluster_ips[i % cluster_ips.len()])));
            }),
        );
    }
    let ns: Vec<String> = (0..48).map(|i| format!("ns-{i}")).collect();
    row(
        "Store::namespace_exists",
        ns.len(),
        ns.iter().filter(|n| store.namespace_exists(n)).count(),
        measure(secs, |i| {
            black_box(store.namespace_exists(black_box(&ns[i % ns.len()])));
        }),
    );
    println!();
}

fn env_or<T: FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn fail(message: &str) -> ! {
    eprintln!("lookup bench: {message}");
    std::process::exit(2)
}
