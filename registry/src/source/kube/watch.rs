//! One watch task per kind: kube's watcher → shrunk records → the store.
//!
//! - `Apply` upserts, `Delete` deletes (an object that stops passing `namespaces`/`labels` is
//!   deleted too), and a relist (`Init`, `InitApply`…, `InitDone`) is collected aside and swapped
//!   in with [`StoreWriter::finish_relist`], which upserts before it deletes: no existing name is missing at
//!   any moment, and deletions missed while disconnected are applied.
//! - The first `InitDone` marks the kind synced.
//! - Errors never end the task: it logs, backs off ([`super::backoff`]) and polls the watcher
//!   again, which resumes from its last resourceVersion or relists after a 410 Gone. Until then
//!   the store keeps serving what it last had.
//! - A watch silent for longer than [`super::Tuning::silence_limit`] (no event, no bookmark, no
//!   byte) is dropped and started again from a fresh list.
//! - One object that cannot be converted is logged and skipped, never fatal.

use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Api;
use kube::runtime::watcher::{self, Event};
use serde::de::DeserializeOwned;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::Tuning;
use super::activity::Activity;
use super::backoff::Backoff;
use super::intern::Interner;
use super::slim::{SlimEndpointSlice, SlimNamespace, SlimPod, SlimService};
use crate::source::convert::{self, ConvertError};
use crate::source::filter::Filter;
use crate::store::{self, ClusterObject, ObjectKey, ObjectKind, StoreWriter, SyncToken};

/// A Kubernetes type rollcall watches.
pub(crate) trait Watched:
    kube::Resource<DynamicType = ()>
    + k8s_openapi::Resource
    + k8s_openapi::Metadata<Ty = ObjectMeta>
    + Clone
    + DeserializeOwned
    + Debug
    + Send
    + Sync
    + 'static
{
    const OBJECT_KIND: ObjectKind;
    fn to_record(&self) -> Result<ClusterObject, ConvertError>;
}

impl Watched for SlimNamespace {
    const OBJECT_KIND: ObjectKind = ObjectKind::Namespace;
    fn to_record(&self) -> Result<ClusterObject, ConvertError> {
        convert::namespace(&self.0).map(ClusterObject::Namespace)
    }
}

impl Watched for SlimService {
    const OBJECT_KIND: ObjectKind = ObjectKind::Service;
    fn to_record(&self) -> Result<ClusterObject, ConvertError> {
        convert::service(&self.0).map(ClusterObject::Service)
    }
}

impl Watched for SlimEndpointSlice {
    const OBJECT_KIND: ObjectKind = ObjectKind::EndpointSlice;
    fn to_record(&self) -> Result<ClusterObject, ConvertError> {
        convert::endpoint_slice(&self.0).map(ClusterObject::EndpointSlice)
    }
}

impl Watched for SlimPod {
    const OBJECT_KIND: ObjectKind = ObjectKind::Pod;
    fn to_record(&self) -> Result<ClusterObject, ConvertError> {
        convert::pod(&self.0).map(ClusterObject::Pod)
    }
}

/// The store key of an API object, if it has a name.
fn key_of<K: Watched>(object: &K) -> Option<ObjectKey> {
    let meta = object.metadata();
    let name = meta.name.as_deref().filter(|n| !n.is_empty())?;
    Some(match K::OBJECT_KIND {
        ObjectKind::Namespace => ObjectKey::new(ObjectKind::Namespace, "", name),
        kind => ObjectKey::new(kind, &convert::object_namespace(meta), name),
    })
}

/// Everything one kind's task needs.
pub(crate) struct KindTask {
    /// The store's one writer, shared by the source's per-kind tasks.
    pub(crate) store: Arc<StoreWriter>,
    pub(crate) token: SyncToken,
    pub(crate) filter: Arc<Filter>,
    pub(crate) activity: Arc<Activity>,
    pub(crate) interner: Arc<Interner>,
    pub(crate) tuning: Tuning,
    pub(crate) shutdown: CancellationToken,
    /// Set at the first `InitDone`.
    pub(crate) synced: AtomicBool,
}

/// Why the inner loop gave up on a watcher stream.
enum Restart {
    Silent(Duration),
    Gone,
}

pub(crate) async fn run<K: Watched>(api: Api<K>, config: watcher::Config, task: KindTask) {
    let kind = K::OBJECT_KIND;
    let mut backoff = Backoff::new(task.tuning.backoff_initial, task.tuning.backoff_max);
    let mut failing = Failing::default();
    loop {
        let stream = watcher(api.clone(), config.clone()).boxed();
        let restart = tokio::select! {
            () = task.shutdown.cancelled() => return,
            restart = drive::<K>(stream, &task, &mut backoff, &mut failing) => restart,
        };
        task.activity.count_restart(kind);
        match restart {
            Restart::Silent(silent) => tracing::warn!(
                kind = kind.as_str(),
                silent_ms = silent.as_millis(),
                "watch silent for too long (no event, not even a bookmark): restarting it with a full relist"
            ),
            Restart::Gone => tracing::info!(
                kind = kind.as_str(),
                "resourceVersion expired (410 Gone): relisting"
            ),
        }
        let delay = backoff.next_delay();
        tokio::select! {
            () = task.shutdown.cancelled() => return,
            () = tokio::time::sleep(delay) => {}
        }
    }
}

fn watcher<K: Watched>(
    api: Api<K>,
    config: watcher::Config,
) -> impl futures_util::Stream<Item = Result<Event<K>, watcher::Error>> + Send {
    kube::runtime::watcher(api, config)
}

/// Tracks a run of failures so an outage logs once at warn when it starts, every 30 s while it
/// lasts, and once at info when it ends, instead of once per retry.
#[derive(Default)]
struct Failing {
    since: Option<Instant>,
    attempts: u64,
    last_warned: Option<Instant>,
}

const OUTAGE_LOG_EVERY: Duration = Duration::from_secs(30);

async fn drive<K: Watched>(
    mut stream: futures_util::stream::BoxStream<'static, Result<Event<K>, watcher::Error>>,
    task: &KindTask,
    backoff: &mut Backoff,
    failing: &mut Failing,
) -> Restart {
    let kind = K::OBJECT_KIND;
    let limit = task.tuning.silence_limit;
    // Silence counts from the later of: the last byte heard, this stream's start, the last
    // failure (a retrying watcher is not silent, it is failing, and says so in the log).
    let mut quiet_from = Instant::now();
    let mut relist: Option<Relist> = None;
    loop {
        let heard = task.activity.last_heard(kind).unwrap_or(quiet_from);
        let deadline = heard.max(quiet_from) + limit;
        let item = tokio::select! {
            () = tokio::time::sleep_until(deadline) => {
                let heard = task.activity.last_heard(kind).unwrap_or(quiet_from).max(quiet_from);
                if heard + limit <= Instant::now() {
                    return Restart::Silent(heard.elapsed());
                }
                continue;
            }
            item = stream.next() => item,
        };
        let Some(item) = item else {
            // kube's watcher never ends; if it did, start a new one.
            return Restart::Gone;
        };
        match item {
            Ok(event) => {
                backoff.reset();
                if let Some(since) = failing.since.take() {
                    tracing::info!(
                        kind = kind.as_str(),
                        attempts = failing.attempts,
                        outage_ms = since.elapsed().as_millis(),
                        "API server reachable again"
                    );
                    failing.attempts = 0;
                    failing.last_warned = None;
                }
                handle(event, task, &mut relist);
            }
            Err(error) => {
                let gone = is_gone(&error);
                note_failure(kind, &error, task, failing);
                if gone && matches!(error, watcher::Error::WatchStartFailed(_)) {
                    // kube retries a failed watch start with the same resourceVersion; when the
                    // server refuses it with an HTTP 410, only a new list helps.
                    return Restart::Gone;
                }
                if gone {
                    // The watcher relists by itself on its next poll.
                    continue;
                }
                let delay = backoff.next_delay();
                tokio::select! {
                    () = task.shutdown.cancelled() => return Restart::Gone,
                    () = tokio::time::sleep(delay) => {}
                }
                quiet_from = Instant::now();
            }
        }
    }
}

fn is_gone(error: &watcher::Error) -> bool {
    match error {
        watcher::Error::WatchError(status) => status.code == 410,
        watcher::Error::InitialListFailed(e)
        | watcher::Error::WatchStartFailed(e)
        | watcher::Error::WatchFailed(e) => {
            matches!(e, kube::Error::Api(status) if status.code == 410)
        }
        _ => false,
    }
}

fn note_failure(kind: ObjectKind, error: &watcher::Error, task: &KindTask, failing: &mut Failing) {
    let now = Instant::now();
    failing.attempts += 1;
    let since = *failing.since.get_or_insert(now);
    let age_ms = task
        .activity
        .age(kind)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    if is_gone(error) {
        tracing::debug!(kind = kind.as_str(), %error, "watch expired (410 Gone)");
        return;
    }
    let due = failing
        .last_warned
        .is_none_or(|t| now.duration_since(t) >= OUTAGE_LOG_EVERY);
    if due {
        failing.last_warned = Some(now);
        tracing::warn!(
            kind = kind.as_str(),
            error = %error_chain(error),
            attempts = failing.attempts,
            failing_ms = now.duration_since(since).as_millis(),
            last_heard_ms_ago = age_ms,
            synced = task.store.reader().is_synced(),
            "Kubernetes API request failed: retrying with backoff, answering from the last synced state"
        );
    } else {
        tracing::debug!(kind = kind.as_str(), error = %error_chain(error), "Kubernetes API request failed");
    }
}

/// The error and its sources, `: `-joined (kube's errors put the useful part in the source).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let part = e.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = e.source();
    }
    text
}

/// A relist in progress: objects collected since `Init`.
struct Relist {
    objects: store::Relist,
    skipped: usize,
    started: Instant,
}

fn handle<K: Watched>(event: Event<K>, task: &KindTask, relist: &mut Option<Relist>) {
    let kind = K::OBJECT_KIND;
    match event {
        Event::Init => {
            *relist = Some(Relist {
                objects: task.store.start_relist(kind),
                skipped: 0,
                started: Instant::now(),
            });
        }
        Event::InitApply(object) => {
            let Some(list) = relist.as_mut() else {
                // Cannot happen (InitApply only follows Init); apply it rather than lose it.
                apply(&object, task);
                return;
            };
            if !task.filter.keeps(&object) {
                return;
            }
            match object.to_record() {
                Ok(record) => list.objects.push(task.interner.shrink(record)),
                Err(error) => {
                    list.skipped += 1;
                    skip_warning(&object, &error);
                }
            }
        }
        Event::InitDone => {
            let Some(list) = relist.take() else {
                return;
            };
            let count = list.objects.len();
            task.store.finish_relist(list.objects);
            task.activity.count_event(kind);
            let first = !task.synced.swap(true, Ordering::AcqRel);
            task.token.mark_synced();
            tracing::info!(
                kind = kind.as_str(),
                objects = count,
                skipped = list.skipped,
                elapsed_ms = list.started.elapsed().as_millis(),
                first_sync = first,
                store_synced = task.store.reader().is_synced(),
                "listed"
            );
        }
        Event::Apply(object) => {
            apply(&object, task);
            task.activity.count_event(kind);
        }
        Event::Delete(object) => {
            if let Some(key) = key_of(&object) {
                task.store.delete(&key);
            }
            task.activity.count_event(kind);
        }
    }
}

fn apply<K: Watched>(object: &K, task: &KindTask) {
    if !task.filter.keeps(object) {
        // It may have been kept before (its labels changed): it is gone for DNS now.
        if let Some(key) = key_of(object) {
            task.store.delete(&key);
        }
        return;
    }
    match object.to_record() {
        Ok(record) => task.store.upsert(task.interner.shrink(record)),
        // The last good version (if any) stays: a broken update does not delete a name.
        Err(error) => skip_warning(object, &error),
    }
}

fn skip_warning<K: Watched>(object: &K, error: &ConvertError) {
    let meta = object.metadata();
    tracing::warn!(
        kind = K::KIND,
        namespace = meta.namespace.as_deref().unwrap_or_default(),
        name = meta.name.as_deref().unwrap_or_default(),
        %error,
        "object skipped: cannot be served"
    );
}
