//! The Kubernetes API source: kube-rs watchers that keep the store equal to the cluster, and keep
//! answering from the last synced state through anything the API server does.
//!
//! ```text
//!             ┌ Namespace ─────┐
//! kube Client ┼ Service ───────┼─ watch::run ─ convert + filter ─▶ StoreWriter::{upsert, delete, finish_relist}
//! (ApiLayer)  ┼ EndpointSlice ─┤   (one task per kind)
//!             └ Pod ───────────┘   only with `pods verified`
//! ```
//!
//! - **What is watched.** Namespaces, Services and EndpointSlices (`discovery.k8s.io/v1`); not
//!   EndpointSlices under `noendpoints`; Pods only for `pods verified` (the only answer that needs
//!   them: `endpoint_pod_names` reads the pod name from the slice's `targetRef`). One namespace in
//!   `namespaces` → the namespaced API; several → cluster-wide, filtered here. `labels` becomes
//!   the `labelSelector` of the Service and EndpointSlice watches (and is checked again here).
//! - **Sync gate.** Each kind holds a [`SyncToken`]; the store is synced when every kind has
//!   listed once. Until then the `kubernetes` plugin answers SERVFAIL. After `startup_timeout`
//!   the store serves what it has, with a warning in the log.
//! - **Outages.** See `watch.rs`: relists swap in whole, a silent watch is restarted, failures
//!   retry with a short jittered backoff (`backoff.rs`), and nothing is ever cleared first.
//! - **Staleness.** [`KubeSource::last_heard`] gives the age of the last response or watch chunk
//!   (bookmarks included) per kind; it is logged at debug every minute and with every restart.

mod activity;
mod backoff;
mod connect;
mod intern;
mod layer;
mod slim;
#[cfg(test)]
mod tests;
mod watch;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use kube::Api;
use kube::runtime::watcher;
use tokio_util::sync::CancellationToken;

pub use connect::{ConnectError, Connection, TlsFiles};
pub use layer::RateLimit;

use activity::Activity;
use intern::Interner;
use layer::ApiLayer;
use slim::{SlimEndpointSlice, SlimNamespace, SlimPod, SlimService};
use watch::{KindTask, Watched};

use super::filter::Filter;
use crate::store::{ObjectKind, StoreWriter, SyncToken};

/// Timing knobs that are not Corefile options. The defaults suit production; tests and the
/// benchmark shorten them with [`Tuning::set_process_default`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tuning {
    /// First delay after a failure; doubles per failure (with jitter) up to `backoff_max`.
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// A watch with no event, bookmark or byte for this long is restarted with a relist.
    pub silence_limit: Duration,
    /// How long a request may wait for the response headers.
    pub request_timeout: Duration,
    /// `timeoutSeconds` of each watch request (the server ends it; the watcher resumes).
    pub watch_timeout_secs: u32,
    /// Objects per list page.
    pub page_size: u32,
    /// How often the per-kind activity is logged at debug.
    pub status_log_interval: Duration,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_secs(2),
            silence_limit: Duration::from_secs(300),
            request_timeout: Duration::from_secs(30),
            watch_timeout_secs: 290,
            page_size: 500,
            status_log_interval: Duration::from_secs(60),
        }
    }
}

static PROCESS_TUNING: RwLock<Option<Tuning>> = RwLock::new(None);

impl Tuning {
    /// What a source started from now on uses: the override, if any, else the defaults.
    pub fn current() -> Tuning {
        let guard = match PROCESS_TUNING.read() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        guard.unwrap_or_default()
    }

    /// Override the defaults for every source started later in this process (tests, benches).
    pub fn set_process_default(tuning: Tuning) {
        let mut guard = match PROCESS_TUNING.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        *guard = Some(tuning);
    }
}

/// What to watch and how to connect: the `kubernetes` directive's API options.
#[derive(Debug, Clone)]
pub struct KubeOptions {
    pub connection: Connection,
    pub filter: Filter,
    /// Watch EndpointSlices (false under `noendpoints`).
    pub endpoint_slices: bool,
    /// Watch Pods (`pods verified`).
    pub pods: bool,
    /// Keep endpoints' pod names (`endpoint_pod_names`).
    pub endpoint_pod_names: bool,
    /// Serve unsynced data after this long (`startup_timeout`, default 5 s).
    pub startup_timeout: Duration,
    pub rate_limit: Option<RateLimit>,
    pub tuning: Tuning,
}

impl KubeOptions {
    /// The kinds these options watch, in the order their tasks start.
    pub fn kinds(&self) -> Vec<ObjectKind> {
        let mut kinds = vec![ObjectKind::Namespace, ObjectKind::Service];
        if self.endpoint_slices {
            kinds.push(ObjectKind::EndpointSlice);
        }
        if self.pods {
            kinds.push(ObjectKind::Pod);
        }
        kinds
    }
}

/// One [`SyncToken`] per watched kind, registered before serving starts.
pub struct SyncTokens(Vec<(ObjectKind, SyncToken)>);

impl SyncTokens {
    pub fn register(store: &StoreWriter, options: &KubeOptions) -> SyncTokens {
        SyncTokens(
            options
                .kinds()
                .into_iter()
                .map(|kind| {
                    (
                        kind,
                        store.register_source(format!("kubernetes {}", kind.as_str())),
                    )
                })
                .collect(),
        )
    }

    fn take(&mut self, kind: ObjectKind) -> Option<SyncToken> {
        let i = self.0.iter().position(|(k, _)| *k == kind)?;
        Some(self.0.swap_remove(i).1)
    }
}

/// A running source: a handle for status (and, later, metrics).
#[derive(Clone)]
pub struct KubeSource {
    kinds: Vec<ObjectKind>,
    activity: Arc<Activity>,
}

impl KubeSource {
    pub fn kinds(&self) -> &[ObjectKind] {
        &self.kinds
    }

    /// How long ago the API server last said anything about `kind` (a list page, a watch event
    /// or bookmark, a response); `None` before the first response.
    pub fn last_heard(&self, kind: ObjectKind) -> Option<Duration> {
        self.activity.age(kind)
    }

    /// Watch events applied for `kind` (each relist counts once).
    pub fn events(&self, kind: ObjectKind) -> u64 {
        self.activity.events(kind)
    }

    /// Times the watch of `kind` was restarted (silence, expired resourceVersion).
    pub fn restarts(&self, kind: ObjectKind) -> u64 {
        self.activity.restarts(kind)
    }
}

/// Read the connection's files, then spawn the watchers (which connect on their own; nothing
/// here waits for the network). Must run inside a tokio runtime. The source takes the store's
/// writer for good; its per-kind tasks share it.
pub fn start(
    options: KubeOptions,
    store: StoreWriter,
    mut tokens: SyncTokens,
    shutdown: CancellationToken,
) -> Result<KubeSource, ConnectError> {
    let prepared = connect::prepare(&options.connection)?;
    let store = Arc::new(store);
    let activity = Arc::new(Activity::new());
    let kinds = options.kinds();
    let source = KubeSource {
        kinds: kinds.clone(),
        activity: Arc::clone(&activity),
    };
    let layer = ApiLayer {
        rate: options.rate_limit,
        header_timeout: options.tuning.request_timeout,
        activity: Arc::clone(&activity),
    };
    let filter = Arc::new(options.filter.clone());
    let interner = Arc::new(Interner::new(options.endpoint_pod_names));
    let mut tasks = Vec::new();
    for kind in &kinds {
        let Some(token) = tokens.take(*kind) else {
            continue;
        };
        tasks.push((
            *kind,
            KindTask {
                store: Arc::clone(&store),
                token,
                filter: Arc::clone(&filter),
                activity: Arc::clone(&activity),
                interner: Arc::clone(&interner),
                tuning: options.tuning,
                shutdown: shutdown.clone(),
                synced: Default::default(),
            },
        ));
    }

    tracing::info!(
        connection = %options.connection,
        kinds = ?kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>(),
        startup_timeout_ms = options.startup_timeout.as_millis(),
        "starting the Kubernetes API source"
    );
    let connection = options.connection.clone();
    let startup_timeout = options.startup_timeout;
    let status_interval = options.tuning.status_log_interval;
    let run_shutdown = shutdown.clone();
    tokio::spawn(async move {
        let client = match connect::client(prepared, &layer).await {
            Ok(client) => client,
            Err(error) => {
                tracing::error!(%connection, %error, "cannot create the Kubernetes client: the store will never sync");
                return;
            }
        };
        for (kind, task) in tasks {
            spawn_kind(kind, &client, &options, task);
        }
        run_shutdown.cancelled().await;
    });

    tokio::spawn(startup_timer(store, startup_timeout, shutdown.clone()));
    tokio::spawn(status_log(source.clone(), status_interval, shutdown));
    Ok(source)
}

fn spawn_kind(kind: ObjectKind, client: &kube::Client, options: &KubeOptions, task: KindTask) {
    let namespace = single_namespace(&options.filter);
    let mut config = watcher::Config::default()
        .timeout(task.tuning.watch_timeout_secs)
        .page_size(task.tuning.page_size);
    if matches!(kind, ObjectKind::Service | ObjectKind::EndpointSlice)
        && let Some(selector) = options.filter.labels.as_ref().filter(|s| !s.is_empty())
    {
        config = config.labels(&selector.to_string());
    }
    match kind {
        ObjectKind::Namespace => {
            spawn_watch(Api::<SlimNamespace>::all(client.clone()), config, task);
        }
        ObjectKind::Service => spawn_watch(api::<SlimService>(client, namespace), config, task),
        ObjectKind::EndpointSlice => {
            spawn_watch(api::<SlimEndpointSlice>(client, namespace), config, task);
        }
        ObjectKind::Pod => spawn_watch(api::<SlimPod>(client, namespace), config, task),
    }
}

fn spawn_watch<K: Watched>(api: Api<K>, config: watcher::Config, task: KindTask) {
    tokio::spawn(watch::run(api, config, task));
}

fn api<K>(client: &kube::Client, namespace: Option<&str>) -> Api<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// The one namespace of `namespaces NS`, which lets the watches use the namespaced API.
fn single_namespace(filter: &Filter) -> Option<&str> {
    match &filter.namespaces {
        Some(set) if set.len() == 1 => set.iter().next().map(String::as_str),
        _ => None,
    }
}

/// After `startup_timeout`, serve what the store has, and say so.
async fn startup_timer(store: Arc<StoreWriter>, after: Duration, shutdown: CancellationToken) {
    tokio::select! {
        () = shutdown.cancelled() => return,
        () = tokio::time::sleep(after) => {}
    }
    let reader = store.reader();
    if !reader.is_synced() {
        store.give_up_waiting_for_sync();
        tracing::warn!(
            startup_timeout_ms = after.as_millis(),
            services = reader.service_count(),
            "Kubernetes API not synced within startup_timeout: serving the incomplete store (answers may be missing) until the watches catch up"
        );
    }
}

/// Every `interval`, the age of the last word from the API server per kind, at debug.
async fn status_log(source: KubeSource, interval: Duration, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(interval.max(Duration::from_millis(100)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        for &kind in source.kinds() {
            tracing::debug!(
                kind = kind.as_str(),
                last_heard_ms_ago = source.last_heard(kind).map(|d| d.as_millis()),
                events = source.events(kind),
                restarts = source.restarts(kind),
                "watch status"
            );
        }
    }
}
