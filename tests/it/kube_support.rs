//! Plumbing for the Kubernetes API tests: the test API server (`rollcall_tests::apiserver`), a
//! rollcall started in-process against it without waiting for sync, polling helpers, and a
//! log capture (tests run on tokio's current-thread runtime, so a thread-local subscriber sees
//! every task the test spawns).

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use registry::source::kube::Tuning;
use rollcall::server::Running;
use rollcall::server::dispatch::Dispatcher;
use rollcall_tests::apiserver::{ADMIN_TOKEN, ApiServer, Options, Resource, objects};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::support::{Answer, parse_question, query_bytes, render, scratch_dir};

/// Shorter timings than production, for every kube test in this process: a watch silent for
/// 2 s is restarted, and a request without response headers within 1 s fails. The backoff is
/// production's (100 ms → 2 s), since the recovery-time test measures it.
pub fn test_tuning() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        Tuning::set_process_default(Tuning {
            silence_limit: Duration::from_secs(2),
            request_timeout: Duration::from_secs(1),
            status_log_interval: Duration::from_secs(1),
            ..Tuning::default()
        });
    });
}

/// A test API server with a small cluster, and a scratch directory for kubeconfigs.
pub struct Cluster {
    pub api: ApiServer,
    pub dir: PathBuf,
}

impl Cluster {
    pub async fn start() -> Cluster {
        test_tuning();
        let api = ApiServer::start(Options::default()).await;
        let dir = scratch_dir("kube");
        Cluster { api, dir }
    }

    pub fn kubeconfig(&self, token: &str) -> PathBuf {
        self.api.write_kubeconfig(&self.dir, token)
    }

    /// A Corefile for zone cluster.local on 127.0.0.1:0 using a kubeconfig with `token`, with
    /// `extra` lines inside the kubernetes block.
    pub fn corefile(&self, token: &str, extra: &str) -> String {
        format!(
            "cluster.local:0 in-addr.arpa:0 {{\n    bind 127.0.0.1\n    kubernetes cluster.local in-addr.arpa {{\n        kubeconfig {}\n{extra}\n    }}\n}}\n",
            self.kubeconfig(token).display()
        )
    }

    /// Namespaces `apps` and `data`, and `count` Services `svc-N.apps` with one ready endpoint
    /// each (10.1.x.y) and ClusterIPs 10.96.x.y.
    pub fn seed(&self, count: u16) {
        self.api.apply(objects::namespace("apps"));
        self.api.apply(objects::namespace("data"));
        for i in 0..count {
            self.add_service("apps", i);
        }
    }

    /// Every object of a manifests directory (`*.yaml`, `*.yml`, `*.json`; `List`s flattened),
    /// as a cluster holding them would serve them. A legacy `v1/Endpoints` becomes the
    /// EndpointSlices the EndpointSliceMirroring controller would write (the API path watches
    /// slices only). Returns how many objects were applied; panics on a kind the test API server
    /// cannot serve, so a fixture cannot silently grow past what this path checks.
    pub fn seed_manifests(&self, dir: &Path) -> usize {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.expect("directory entry").path())
            .filter(|p| {
                p.extension()
                    .is_some_and(|e| e == "yaml" || e == "yml" || e == "json")
            })
            .collect();
        files.sort();
        let mut applied = 0;
        for file in files {
            let text = std::fs::read_to_string(&file).expect("manifest file");
            for document in serde_yaml_ng::Deserializer::from_str(&text) {
                let value = serde_json::Value::deserialize(document)
                    .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
                for object in flatten(value) {
                    for object in as_served(object) {
                        self.api.apply(object);
                        applied += 1;
                    }
                }
            }
        }
        applied
    }

    pub fn add_service(&self, namespace: &str, i: u16) {
        let name = format!("svc-{i}");
        self.api
            .apply(objects::service(namespace, &name, cluster_ip(i), 80));
        self.api.apply(objects::endpoint_slice(
            namespace,
            &name,
            &format!("{name}-abcde"),
            &[(format!("{name}-pod"), pod_ip(i))],
            8080,
        ));
    }
}

/// The objects of one YAML document: itself, or the items of a `List`.
fn flatten(value: Value) -> Vec<Value> {
    match value.get("kind").and_then(Value::as_str) {
        None => Vec::new(),
        Some("List") => match value.get("items") {
            Some(Value::Array(items)) => items.iter().cloned().flat_map(flatten).collect(),
            _ => Vec::new(),
        },
        Some(_) => vec![value],
    }
}

/// What the API server holds for a manifest object: itself, or the mirrored slices of an
/// `Endpoints`.
fn as_served(object: Value) -> Vec<Value> {
    match object.get("kind").and_then(Value::as_str) {
        Some(kind) if Resource::from_kind(kind).is_some() => vec![object],
        Some("Endpoints") => mirrored_slices(&object),
        other => panic!("the test API server cannot serve kind {other:?}: {object}"),
    }
}

/// The EndpointSlices the EndpointSliceMirroring controller writes for a selector-less
/// Service's `Endpoints`: per subset and address family, `addresses` ready and
/// `notReadyAddresses` not, with hostname, node and targetRef kept, and the Endpoints' labels
/// plus the Service's name.
fn mirrored_slices(endpoints: &Value) -> Vec<Value> {
    let meta = &endpoints["metadata"];
    let name = meta["name"].as_str().expect("Endpoints name");
    let mut labels = meta.get("labels").cloned().unwrap_or_else(|| json!({}));
    labels[registry::source::convert::SERVICE_NAME_LABEL] = json!(name);
    labels["endpointslice.kubernetes.io/managed-by"] =
        json!("endpointslicemirroring-controller.k8s.io");
    let subsets = endpoints["subsets"].as_array().cloned().unwrap_or_default();
    let mut slices = Vec::new();
    for (i, subset) in subsets.iter().enumerate() {
        let ports = subset.get("ports").cloned().unwrap_or_else(|| json!([]));
        for (family, v6) in [("IPv4", false), ("IPv6", true)] {
            let mut endpoints = Vec::new();
            for (field, ready) in [("addresses", true), ("notReadyAddresses", false)] {
                for address in subset[field].as_array().into_iter().flatten() {
                    let ip = address["ip"].as_str().expect("address ip");
                    if ip.contains(':') != v6 {
                        continue;
                    }
                    let mut endpoint = json!({"addresses": [ip], "conditions": {"ready": ready}});
                    for (from, to) in [
                        ("hostname", "hostname"),
                        ("nodeName", "nodeName"),
                        ("targetRef", "targetRef"),
                    ] {
                        if let Some(v) = address.get(from) {
                            endpoint[to] = v.clone();
                        }
                    }
                    endpoints.push(endpoint);
                }
            }
            if endpoints.is_empty() {
                continue;
            }
            let mut slice_meta = json!({
                "name": format!("{name}-mirror-{i}-{}", family.to_ascii_lowercase()),
                "labels": labels,
            });
            if let Some(namespace) = meta.get("namespace") {
                slice_meta["namespace"] = namespace.clone();
            }
            slices.push(json!({
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": slice_meta,
                "addressType": family,
                "endpoints": endpoints,
                "ports": ports,
            }));
        }
    }
    slices
}

pub fn cluster_ip(i: u16) -> Ipv4Addr {
    let [hi, lo] = i.to_be_bytes();
    Ipv4Addr::new(10, 96, hi, lo.max(1))
}

pub fn pod_ip(i: u16) -> Ipv4Addr {
    let [hi, lo] = i.to_be_bytes();
    Ipv4Addr::new(10, 1, hi, lo.max(1))
}

/// rollcall serving a Corefile in this process; unlike `TestServer` it does not wait for sync.
pub struct Rollcall {
    pub addr: SocketAddr,
    pub dispatcher: Arc<Dispatcher>,
    shutdown: CancellationToken,
    running: Running,
}

impl Rollcall {
    pub async fn start(corefile: &str, dir: &Path) -> Rollcall {
        let options = corefile::ParseOptions::with_env(|_| None);
        let setup = rollcall::load_corefile_str(corefile, "Corefile", dir, &options, 0)
            .unwrap_or_else(|e| panic!("Corefile: {e}\n{corefile}"));
        let shutdown = CancellationToken::new();
        let running = rollcall::server::start(setup, shutdown.clone(), 1)
            .await
            .expect("server starts");
        let (addr, dispatcher) = running.dispatchers[0].clone();
        Rollcall {
            addr,
            dispatcher,
            shutdown,
            running,
        }
    }

    /// Non-DNS listeners plugins bound, e.g. ("prometheus", 127.0.0.1:PORT).
    pub fn other_listeners(&self) -> Vec<(&'static str, SocketAddr)> {
        self.running.other_listeners.clone()
    }

    /// `/ready`'s view: every source synced.
    pub fn is_ready(&self) -> bool {
        self.running.is_ready()
    }

    pub async fn ask(&self, q: &str) -> Answer {
        let (name, qtype) = parse_question(q);
        let bytes = query_bytes(&name, qtype, 7);
        let reply = self
            .dispatcher
            .respond(
                &bytes,
                "127.0.0.1:5353".parse().expect("addr"),
                rollcall::contract::Transport::Udp,
            )
            .await
            .expect("a reply");
        render(&hickory_proto::op::Message::from_vec(&reply).expect("decodable reply"))
    }

    /// Poll until `q` answers with `rcode` and (if given) an answer containing `contains`.
    /// Returns how long it took; panics after `limit`.
    pub async fn wait_for(
        &self,
        q: &str,
        rcode: &str,
        contains: Option<&str>,
        limit: Duration,
    ) -> Duration {
        let start = Instant::now();
        loop {
            let a = self.ask(q).await;
            let ok =
                a.rcode == rcode && contains.is_none_or(|c| a.answer.iter().any(|r| r.contains(c)));
            if ok {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < limit,
                "{q}: wanted {rcode} {contains:?} within {limit:?}, last answer {a:?}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    pub async fn wait_ready(&self, limit: Duration) -> Duration {
        let start = Instant::now();
        while !self.is_ready() {
            assert!(start.elapsed() < limit, "not synced within {limit:?}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        start.elapsed()
    }
}

impl Drop for Rollcall {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Captured log output (warn and above unless `level` says otherwise).
#[derive(Clone, Default)]
pub struct LogCapture(Arc<Mutex<Vec<u8>>>);

impl LogCapture {
    /// Capture this thread's logs until the guard drops.
    pub fn install(level: tracing::Level) -> (LogCapture, tracing::subscriber::DefaultGuard) {
        let capture = LogCapture::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(capture.clone())
            .with_max_level(level)
            .with_ansi(false)
            .finish();
        let guard = tracing::subscriber::set_default(subscriber);
        // Tests run in parallel, each thread with its own subscriber (or none): a callsite first
        // hit on another thread may have cached an interest that leaves this one out, so an
        // event would never reach this capture. Recompute every callsite's interest now.
        tracing::callsite::rebuild_interest_cache();
        (capture, guard)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("log lock")).into_owned()
    }
}

impl Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log lock").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogCapture {
    type Writer = LogCapture;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Always the admin token, for tests that do not care about auth.
pub const TOKEN: &str = ADMIN_TOKEN;
