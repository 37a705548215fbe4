//! A test Kubernetes API server: real HTTP/1.1 over TLS on 127.0.0.1, bearer tokens and client
//! certificates, and the list/watch protocol for Namespaces, Services, Pods (core/v1) and
//! EndpointSlices (discovery.k8s.io/v1), so rollcall's real kube-rs client can be driven through
//! everything an API server does in production. Test support only: never in the shipped binary.
//!
//! What it speaks:
//! - `GET /api/v1/{namespaces,services,pods}`, `/api/v1/namespaces/NS/{services,pods}`,
//!   `/apis/discovery.k8s.io/v1/endpointslices` and `/apis/discovery.k8s.io/v1/namespaces/NS/endpointslices`;
//!   `/api`, `/apis` and `/version` answer minimal discovery documents.
//! - Lists: `labelSelector`, `limit` + `continue` (pages of one consistent snapshot), the list's
//!   `resourceVersion` in `metadata`.
//! - Watches (`watch=true`): from `resourceVersion=N` (replaying the history after N), or from
//!   "now" with synthetic ADDED events when N is empty or 0; ADDED, MODIFIED, DELETED (also when a
//!   label selector starts or stops matching), BOOKMARK every `bookmark_interval` with
//!   `allowWatchBookmarks=true`, an ERROR event carrying a 410 `Expired` Status when N is older
//!   than the history, `timeoutSeconds`; one JSON object per line in a chunked body.
//! - Auth: `Authorization: Bearer TOKEN` (unknown → 401, a token without rights → 403) or a
//!   client certificate signed by the test CA (full rights).
//!
//! Control (Rust methods): [`ApiServer::apply`], [`ApiServer::delete`]; faults:
//! [`ApiServer::drop_watches`], [`ApiServer::gone_next_watches`], [`ApiServer::fail_requests`],
//! [`ApiServer::stall_requests`], [`ApiServer::mute_watches`], [`ApiServer::stop`] /
//! [`ApiServer::restart`] (same port; optionally a new resourceVersion history), and
//! [`ApiServer::compact`].

mod http;
pub mod objects;
mod selector;
pub mod store;
pub mod tls;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use selector::LabelSelector;
use store::State;
pub use store::{Change, Resource};
pub use tls::{Pki, PkiFiles};

/// What a bearer token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// list and watch everything served.
    Full,
    /// Authenticated, but no RBAC rights (403).
    Nothing,
}

/// The token with full rights that [`Options::default`] installs.
pub const ADMIN_TOKEN: &str = "rollcall-test-admin-token";
/// A token that authenticates but has no rights.
pub const NO_RIGHTS_TOKEN: &str = "rollcall-test-no-rights-token";

#[derive(Debug, Clone)]
pub struct Options {
    /// Serve HTTPS (the default) or plain HTTP.
    pub tls: bool,
    pub bookmark_interval: Duration,
    /// Changes kept for watches to resume from; older resourceVersions get 410 Gone.
    pub history_limit: usize,
    pub tokens: Vec<(String, Access)>,
    /// The address to listen on (port ephemeral); the server certificate names it too.
    /// Default 127.0.0.1.
    pub bind: IpAddr,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            tls: true,
            bookmark_interval: Duration::from_millis(500),
            history_limit: 10_000,
            tokens: vec![
                (ADMIN_TOKEN.to_string(), Access::Full),
                (NO_RIGHTS_TOKEN.to_string(), Access::Nothing),
            ],
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
        }
    }
}

/// Request counters, for assertions.
#[derive(Debug, Default)]
pub struct Stats {
    pub lists: AtomicU64,
    pub watches: AtomicU64,
    pub unauthorized: AtomicU64,
    pub forbidden: AtomicU64,
    pub gone: AtomicU64,
    pub failed: AtomicU64,
    pub stalled: AtomicU64,
}

#[derive(Debug, Default)]
struct Faults {
    /// Answer 500 to lists and watches until then.
    fail_until: Mutex<Option<Instant>>,
    /// Answer 500 to lists and watches of one resource until then.
    fail_resource_until: Mutex<HashMap<Resource, Instant>>,
    /// Accept requests but send nothing until then.
    stall_until: Mutex<Option<Instant>>,
    /// The next N watches get an ERROR 410 at once.
    gone_next: AtomicUsize,
    /// Watch streams send nothing (events are lost to them, bookmarks are not sent).
    muted: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

fn active(until: &Mutex<Option<Instant>>) -> bool {
    lock(until).is_some_and(|t| Instant::now() < t)
}

pub(crate) struct Shared {
    state: Mutex<State>,
    events: broadcast::Sender<Arc<Change>>,
    faults: Faults,
    tokens: HashMap<String, Access>,
    /// Cancelled to end every watch stream (a new token is installed for the next ones).
    watches: Mutex<CancellationToken>,
    bookmark_interval: Duration,
    stats: Stats,
    /// Recent request lines (`GET path?query`), newest last, at most 2,000.
    requests: Mutex<std::collections::VecDeque<String>>,
    /// List snapshots for `continue` tokens.
    snapshots: Mutex<HashMap<u64, http::Snapshot>>,
    next_snapshot: AtomicU64,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    fn watch_token(&self) -> CancellationToken {
        lock(&self.watches).clone()
    }

    fn log_request(&self, line: String) {
        let mut log = lock(&self.requests);
        log.push_back(line);
        while log.len() > 2000 {
            log.pop_front();
        }
    }
}

struct Serving {
    stop: CancellationToken,
    task: JoinHandle<()>,
}

/// A running test API server. Dropping it stops it.
pub struct ApiServer {
    shared: Arc<Shared>,
    addr: SocketAddr,
    pki: Pki,
    tls_config: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    serving: Mutex<Option<Serving>>,
}

impl ApiServer {
    /// Bind `options.bind` (127.0.0.1 by default) on an ephemeral port and serve.
    pub async fn start(options: Options) -> ApiServer {
        let pki = Pki::generate_for(&[options.bind]).expect("test PKI");
        let tls_config = options
            .tls
            .then(|| pki.server_config().expect("TLS server config"));
        let (events, _) = broadcast::channel(1 << 16);
        let shared = Arc::new(Shared {
            state: Mutex::new(State::new(options.history_limit, 1)),
            events,
            faults: Faults::default(),
            tokens: options.tokens.into_iter().collect(),
            watches: Mutex::new(CancellationToken::new()),
            bookmark_interval: options.bookmark_interval,
            stats: Stats::default(),
            requests: Mutex::new(Default::default()),
            snapshots: Mutex::new(HashMap::new()),
            next_snapshot: AtomicU64::new(1),
        });
        let listener = TcpListener::bind(SocketAddr::new(options.bind, 0))
            .await
            .expect("bind the test API server");
        let addr = listener.local_addr().expect("local addr");
        let server = ApiServer {
            shared,
            addr,
            pki,
            tls_config,
            serving: Mutex::new(None),
        };
        server.serve(listener);
        server
    }

    fn serve(&self, listener: TcpListener) {
        let stop = CancellationToken::new();
        let task = tokio::spawn(http::accept_loop(
            listener,
            Arc::clone(&self.shared),
            self.tls_config.clone(),
            stop.clone(),
        ));
        *lock(&self.serving) = Some(Serving { stop, task });
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn url(&self) -> String {
        let scheme = if self.tls_config.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}", self.addr)
    }

    pub fn pki(&self) -> &Pki {
        &self.pki
    }

    pub fn stats(&self) -> &Stats {
        &self.shared.stats
    }

    /// Recent request lines (`GET /api/v1/services?watch=true&…`), oldest first.
    pub fn requests(&self) -> Vec<String> {
        lock(&self.shared.requests).iter().cloned().collect()
    }

    /// The current resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.shared.state().rv
    }

    /// Write the CA and client certificate, and a kubeconfig that uses `token`, under `dir`.
    /// Returns the kubeconfig's path.
    pub fn write_kubeconfig(&self, dir: &Path, token: &str) -> PathBuf {
        let files = self.pki.write(dir).expect("write PKI");
        let path = dir.join(format!("kubeconfig-{}", token.len()));
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: {url}\n    certificate-authority: {ca}\nusers:\n- name: test\n  user:\n    token: {token}\ncontexts:\n- name: test\n  context:\n    cluster: test\n    user: test\ncurrent-context: test\n",
            url = self.url(),
            ca = files.ca.display(),
        );
        std::fs::write(&path, text).expect("write kubeconfig");
        path
    }

    // ---- objects ----

    /// Create or replace an object (its `kind` picks the resource). Returns its resourceVersion.
    pub fn apply(&self, object: Value) -> u64 {
        self.try_apply(object).expect("apply object")
    }

    pub fn try_apply(&self, object: Value) -> Result<u64, String> {
        let kind = object
            .get("kind")
            .and_then(Value::as_str)
            .ok_or("object has no kind")?;
        let resource = Resource::from_kind(kind).ok_or_else(|| format!("unserved kind {kind}"))?;
        let mut state = self.shared.state();
        let change = state.put(resource, object)?;
        let rv = change.rv;
        // Sent under the state lock, so a new watch sees each change exactly once (history or
        // channel).
        let _ = self.shared.events.send(change);
        Ok(rv)
    }

    /// Many objects under one lock (bulk loads for the benchmark).
    pub fn apply_all(&self, objects: impl IntoIterator<Item = Value>) -> Result<u64, String> {
        let mut state = self.shared.state();
        for object in objects {
            let kind = object
                .get("kind")
                .and_then(Value::as_str)
                .ok_or("object has no kind")?;
            let resource =
                Resource::from_kind(kind).ok_or_else(|| format!("unserved kind {kind}"))?;
            let change = state.put(resource, object)?;
            if self.shared.events.receiver_count() > 0 {
                let _ = self.shared.events.send(change);
            }
        }
        Ok(state.rv)
    }

    /// Delete an object; false when there was none.
    pub fn delete(&self, resource: Resource, namespace: &str, name: &str) -> bool {
        let mut state = self.shared.state();
        match state.delete(resource, namespace, name) {
            Some(change) => {
                let _ = self.shared.events.send(change);
                true
            }
            None => false,
        }
    }

    /// How many objects of `resource` are stored.
    pub fn count(&self, resource: Resource) -> usize {
        self.shared
            .state()
            .objects
            .get(&resource)
            .map_or(0, |m| m.len())
    }

    // ---- faults ----

    /// End every open watch stream now (cleanly: the client resumes from its resourceVersion).
    pub fn drop_watches(&self) {
        let mut token = lock(&self.shared.watches);
        token.cancel();
        *token = CancellationToken::new();
    }

    /// The next `n` watch requests get an ERROR event with a 410 Gone Status.
    pub fn gone_next_watches(&self, n: usize) {
        self.shared.faults.gone_next.store(n, Ordering::SeqCst);
    }

    /// Answer 500 to every list and watch for `duration` (zero: stop failing).
    pub fn fail_requests(&self, duration: Duration) {
        *lock(&self.shared.faults.fail_until) = Some(Instant::now() + duration);
    }

    /// Answer 500 to lists and watches of `resource` only, for `duration`.
    pub fn fail_resource(&self, resource: Resource, duration: Duration) {
        lock(&self.shared.faults.fail_resource_until).insert(resource, Instant::now() + duration);
    }

    /// Accept requests but never respond to them for `duration` (zero: respond again).
    pub fn stall_requests(&self, duration: Duration) {
        *lock(&self.shared.faults.stall_until) = Some(Instant::now() + duration);
    }

    /// Watch streams stay open but send nothing (no events, no bookmarks); the events they
    /// miss are lost to them, as with a silently broken watch.
    pub fn mute_watches(&self, muted: bool) {
        self.shared.faults.muted.store(muted, Ordering::SeqCst);
    }

    /// Forget the history: watches from any older resourceVersion get 410 Gone.
    pub fn compact(&self) {
        self.shared.state().compact();
    }

    /// Stop accepting and close every connection (lists and watches in flight end abruptly).
    pub async fn stop(&self) {
        let serving = lock(&self.serving).take();
        if let Some(serving) = serving {
            serving.stop.cancel();
            let _ = serving.task.await;
        }
        self.drop_watches();
    }

    /// Serve again on the same port. With `new_history`, resourceVersions jump and the history
    /// is gone (an etcd restore, a new control plane): every watch must relist.
    pub async fn restart(&self, new_history: bool) {
        if new_history {
            self.shared.state().new_history(1_000_000);
        }
        let mut last_error = None;
        for _ in 0..100 {
            match TcpListener::bind(self.addr).await {
                Ok(listener) => {
                    self.serve(listener);
                    return;
                }
                Err(e) => last_error = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("cannot rebind {}: {last_error:?}", self.addr);
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        if let Some(serving) = lock(&self.serving).take() {
            serving.stop.cancel();
            serving.task.abort();
        }
        lock(&self.shared.watches).cancel();
    }
}
