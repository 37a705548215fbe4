//! The `manifests DIR` source: Kubernetes objects read from YAML and JSON files instead of the API.
//!
//! Every `*.yaml`, `*.yml` and `*.json` under the directory (recursively, hidden entries skipped)
//! is read in path order. A file holds any number of YAML documents (`---`), or one JSON object;
//! a document is one object or a `List` (`kind: List`, `ServiceList`, …) of them. Namespaces,
//! Services, EndpointSlices, legacy Endpoints (turned into slices) and Pods are loaded; any other
//! kind is skipped quietly, so the source can point at a real manifest tree.
//!
//! Nothing is lost by a bad edit. The loader remembers, per file and per document, the objects it
//! last served; a document that no longer parses or converts keeps serving its last good version,
//! and a file that stops parsing part-way (half-written YAML) keeps every document from that point
//! on. Only deleting a file (or a document from a file that still parses) removes its objects.
//!
//! [`run`] loads once, marks the source synced, then watches the directory (inotify through
//! `notify`, or polling every second if no watcher can be set up) and reloads the whole directory
//! after each burst of changes settles.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use k8s_openapi::api::core::v1::{Endpoints, Namespace, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_yaml_ng::{Mapping, Value};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::convert;
use super::filter::Filter;
use crate::store::{ClusterObject, ObjectKey, ObjectKind, StoreWriter, SyncToken};

/// A burst of changes is over once nothing happened for this long…
const QUIET: Duration = Duration::from_millis(150);
/// …or this long after its first change, whichever comes first.
const MAX_DELAY: Duration = Duration::from_millis(500);
/// How often the directory is scanned when it cannot be watched (or does not exist yet).
const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// Directory nesting followed at most (symlink loops are cut earlier, by canonical path).
const MAX_DEPTH: usize = 32;
/// `List`s nested in `List`s followed at most.
const MAX_LIST_DEPTH: usize = 4;

/// One document that could not be loaded. `document` is its 1-based index in the file; 0 means
/// the whole file or directory (unreadable, missing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestError {
    pub file: PathBuf,
    pub document: usize,
    pub reason: String,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.document == 0 {
            write!(f, "{}: {}", self.file.display(), self.reason)
        } else {
            write!(
                f,
                "{}: document {}: {}",
                self.file.display(),
                self.document,
                self.reason
            )
        }
    }
}

impl std::error::Error for ManifestError {}

#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    /// What the store should hold: every object loaded, plus the last good version of any
    /// document that failed this time (for a stateful [`ManifestLoader`]). One per key, the later
    /// file (in path order) winning a duplicate.
    pub objects: Vec<ClusterObject>,
    pub errors: Vec<ManifestError>,
    /// Manifest files found.
    pub files: usize,
}

/// Load every `*.yaml`, `*.yml` and `*.json` under `dir`, recursively (hidden files and
/// directories skipped), in path order. Each error is also logged at warn.
pub fn load_dir(dir: &Path, filter: &Filter) -> LoadReport {
    ManifestLoader::new(dir.to_path_buf(), filter.clone()).reload()
}

/// Load `dir` into the store, mark `token` synced, then reload on every change until `shutdown`.
/// The source owns the store's writer from here on.
pub async fn run(
    dir: PathBuf,
    filter: Filter,
    store: StoreWriter,
    token: SyncToken,
    shutdown: CancellationToken,
) {
    let wake = Arc::new(Notify::new());
    let shared = Arc::new(Mutex::new(Reloader {
        loader: ManifestLoader::new(dir.clone(), filter),
        served: None,
        store,
    }));

    if dir_identity(&dir).is_none() {
        tracing::error!(
            dir = %dir.display(),
            "manifests directory does not exist or is not a directory: serving no objects until it appears"
        );
    }
    // Watch before the first load, so a change between the two is not missed.
    let mut watch = WatchState::default();
    watch.refresh(&dir, &wake);
    reload(&shared).await;
    token.mark_synced();

    let mut poll = tokio::time::interval(POLL_INTERVAL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let watching = watch.watcher.is_some();
        tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            () = wake.notified() => {
                if !debounce(&wake, &shutdown).await {
                    break;
                }
                reload(&shared).await;
            }
            _ = poll.tick(), if !watching => {
                if changed_on_disk(&shared).await {
                    reload(&shared).await;
                }
            }
        }
        // The directory appeared, or was deleted or replaced (its watch went with it).
        if watch.refresh(&dir, &wake) {
            reload(&shared).await;
        }
    }
    tracing::debug!(dir = %dir.display(), "manifests source stopped");
}

/// A stateful loader: [`ManifestLoader::reload`] re-reads the directory and keeps, for documents
/// that fail, the objects they last loaded (see the module docs).
#[derive(Debug)]
pub struct ManifestLoader {
    dir: PathBuf,
    filter: Filter,
    files: BTreeMap<PathBuf, FileState>,
    /// The directory as it was at the last reload (for polling).
    listing: Option<Listing>,
}

/// Per file: the objects served from each document (1-based index). Documents that yield nothing
/// have no entry.
#[derive(Debug, Clone, Default)]
struct FileState {
    docs: BTreeMap<usize, Vec<ClusterObject>>,
}

impl ManifestLoader {
    pub fn new(dir: PathBuf, filter: Filter) -> Self {
        ManifestLoader {
            dir,
            filter,
            files: BTreeMap::new(),
            listing: None,
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Re-read the directory. Logs each error at warn and a summary at info.
    pub fn reload(&mut self) -> LoadReport {
        let started = std::time::Instant::now();
        let listing = list(&self.dir);
        let mut errors = Vec::new();
        if let Some(reason) = &listing.dir_error {
            errors.push(ManifestError {
                file: self.dir.clone(),
                document: 0,
                reason: reason.clone(),
            });
        }
        for (dir, reason) in &listing.failed_dirs {
            errors.push(ManifestError {
                file: dir.clone(),
                document: 0,
                reason: reason.clone(),
            });
        }

        let mut old = std::mem::take(&mut self.files);
        let mut files = BTreeMap::new();
        for stamp in &listing.files {
            let prev = old.remove(&stamp.path).unwrap_or_default();
            let state = self.load_file(&stamp.path, prev, &mut errors);
            files.insert(stamp.path.clone(), state);
        }
        // A file not listed is gone, unless its directory could not be read this time.
        for (path, state) in old {
            if listing
                .failed_dirs
                .iter()
                .any(|(dir, _)| path.starts_with(dir))
            {
                files.insert(path, state);
            }
        }
        self.files = files;

        let objects = self.served_objects();
        for e in &errors {
            tracing::warn!(
                file = %e.file.display(),
                document = e.document,
                reason = %e.reason,
                "manifest skipped"
            );
        }
        let report = LoadReport {
            objects,
            errors,
            files: listing.files.len(),
        };
        self.listing = Some(listing);
        tracing::info!(
            dir = %self.dir.display(),
            files = report.files,
            objects = report.objects.len(),
            errors = report.errors.len(),
            elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
            "manifests loaded"
        );
        report
    }

    /// True when a scan finds the directory different from the last reload (files added,
    /// removed, or with another size or modification time).
    pub fn changed_on_disk(&self) -> bool {
        self.listing.as_ref() != Some(&list(&self.dir))
    }

    fn served_objects(&self) -> Vec<ClusterObject> {
        let mut objects: Vec<ClusterObject> = Vec::new();
        let mut origin: Vec<&Path> = Vec::new();
        let mut seen: HashMap<ObjectKey, usize> = HashMap::new();
        for (path, state) in &self.files {
            for object in state.docs.values().flatten() {
                let key = object.key();
                match seen.get(&key) {
                    Some(&i) => {
                        tracing::warn!(
                            kind = key.kind.as_str(),
                            object = %key.name,
                            first = %origin[i].display(),
                            again = %path.display(),
                            "object defined twice: the later definition wins"
                        );
                        objects[i] = object.clone();
                        origin[i] = path;
                    }
                    None => {
                        seen.insert(key, objects.len());
                        objects.push(object.clone());
                        origin.push(path);
                    }
                }
            }
        }
        objects
    }

    fn load_file(
        &self,
        path: &Path,
        mut prev: FileState,
        errors: &mut Vec<ManifestError>,
    ) -> FileState {
        let whole_file_error = |errors: &mut Vec<ManifestError>, reason: String| {
            errors.push(ManifestError {
                file: path.to_path_buf(),
                document: 0,
                reason,
            });
        };
        let text = match fs::read(path) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => text,
                Err(e) => {
                    whole_file_error(errors, format!("not UTF-8 text: {e}"));
                    return prev;
                }
            },
            // Deleted between the listing and now.
            Err(e) if e.kind() == io::ErrorKind::NotFound => return FileState::default(),
            Err(e) => {
                whole_file_error(errors, format!("cannot read: {e}"));
                return prev;
            }
        };

        let mut state = FileState::default();
        let (documents, broken_from) = split_documents(path, &text);
        for (index, document) in documents {
            let mut failed = false;
            let mut fresh = Vec::new();
            match document {
                Ok(value) => {
                    let mut reasons = Vec::new();
                    self.collect(value, "", 0, &mut fresh, &mut reasons);
                    failed = !reasons.is_empty();
                    errors.extend(reasons.into_iter().map(|reason| ManifestError {
                        file: path.to_path_buf(),
                        document: index,
                        reason,
                    }));
                }
                Err(reason) => errors.push(ManifestError {
                    file: path.to_path_buf(),
                    document: index,
                    reason,
                }),
            }
            if failed {
                // Keep what this document served before, except what loaded fresh just now.
                let keys: HashSet<ObjectKey> = fresh.iter().map(ClusterObject::key).collect();
                if let Some(old) = prev.docs.remove(&index) {
                    fresh.extend(old.into_iter().filter(|o| !keys.contains(&o.key())));
                }
            }
            if !fresh.is_empty() {
                state.docs.insert(index, fresh);
            }
        }
        // The file stopped parsing at this document: nothing from here on can be trusted, so
        // everything it served from here on stays.
        if let Some(from) = broken_from {
            for (index, old) in prev.docs.split_off(&from) {
                state.docs.entry(index).or_insert(old);
            }
        }
        state
    }

    /// One document's objects into `out`; the reasons it (or a `List` item) failed into `errors`.
    fn collect(
        &self,
        value: Value,
        context: &str,
        depth: usize,
        out: &mut Vec<ClusterObject>,
        errors: &mut Vec<String>,
    ) {
        let mut map = match value {
            Value::Mapping(map) => map,
            Value::Null => return,
            _ => {
                tracing::debug!("{context}not a mapping: skipped");
                return;
            }
        };
        let Some(kind) = map.get("kind").and_then(Value::as_str).map(str::to_owned) else {
            tracing::debug!("{context}no kind: skipped");
            return;
        };
        let is_list = kind == "List" || (kind.ends_with("List") && map.contains_key("items"));
        if !is_list {
            match self.object(&kind, map) {
                Ok(objects) => out.extend(objects),
                Err(reason) => errors.push(format!("{context}{reason}")),
            }
            return;
        }

        if depth >= MAX_LIST_DEPTH {
            errors.push(format!("{context}{kind} nested too deep"));
            return;
        }
        let items = match map.remove("items") {
            Some(Value::Sequence(items)) => items,
            None | Some(Value::Null) => return,
            Some(_) => {
                errors.push(format!("{context}{kind}: items is not a list"));
                return;
            }
        };
        // Items of a typed list (`ServiceList` from the API) may omit their kind and apiVersion.
        let item_kind = kind.strip_suffix("List").filter(|k| !k.is_empty());
        let api_version = map.get("apiVersion").cloned();
        for (i, mut item) in items.into_iter().enumerate() {
            if let (Some(item_kind), Value::Mapping(m)) = (item_kind, &mut item)
                && !m.contains_key("kind")
            {
                m.insert("kind".into(), item_kind.into());
                if let Some(v) = &api_version {
                    m.entry("apiVersion".into()).or_insert(v.clone());
                }
            }
            self.collect(
                item,
                &format!("{context}items[{i}]: "),
                depth + 1,
                out,
                errors,
            );
        }
    }

    /// One object of `kind`. Kinds DNS does not use (and kinds of the same name from other API
    /// groups, like Knative's Service) are skipped: `Ok(vec![])`.
    fn object(&self, kind: &str, mut map: Mapping) -> Result<Vec<ClusterObject>, String> {
        let expected = match kind {
            "Namespace" | "Service" | "Endpoints" | "Pod" => "v1",
            "EndpointSlice" => "discovery.k8s.io/v1",
            _ => {
                tracing::debug!(kind, "not a kind DNS uses: skipped");
                return Ok(Vec::new());
            }
        };
        let what = describe(kind, &map);
        if let Some(version) = map.get("apiVersion").and_then(Value::as_str)
            && version != expected
        {
            if api_group(version) == api_group(expected) {
                return Err(format!(
                    "{what}: apiVersion {version} is not supported (expected {expected})"
                ));
            }
            tracing::debug!(kind, api_version = version, "other API group: skipped");
            return Ok(Vec::new());
        }
        let mut value = Value::Mapping(std::mem::take(&mut map));
        value.apply_merge().map_err(|e| format!("{what}: {e}"))?;

        let filter = &self.filter;
        let result = match kind {
            "Namespace" => load::<Namespace>(value, filter, |o| {
                Ok(vec![ClusterObject::Namespace(convert::namespace(o)?)])
            }),
            "Service" => load::<Service>(value, filter, |o| {
                Ok(vec![ClusterObject::Service(convert::service(o)?)])
            }),
            "EndpointSlice" => load::<EndpointSlice>(value, filter, |o| {
                Ok(vec![ClusterObject::EndpointSlice(convert::endpoint_slice(
                    o,
                )?)])
            }),
            "Endpoints" => load::<Endpoints>(value, filter, |o| {
                Ok(convert::endpoints(o)?
                    .into_iter()
                    .map(ClusterObject::EndpointSlice)
                    .collect())
            }),
            _ => load::<Pod>(value, filter, |o| {
                Ok(vec![ClusterObject::Pod(convert::pod(o)?)])
            }),
        };
        result.map_err(|e: Failure| format!("{what}: {e}"))
    }
}

/// Why one object failed: it did not deserialize, or did not convert.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("{0}")]
    Parse(String),
    #[error(transparent)]
    Convert(#[from] convert::ConvertError),
}

/// Deserialize a known kind and convert it, unless the filter drops it.
fn load<K>(
    value: Value,
    filter: &Filter,
    convert: impl FnOnce(&K) -> Result<Vec<ClusterObject>, convert::ConvertError>,
) -> Result<Vec<ClusterObject>, Failure>
where
    K: DeserializeOwned + k8s_openapi::Resource + k8s_openapi::Metadata<Ty = ObjectMeta>,
{
    let object: K = serde_yaml_ng::from_value(value).map_err(|e| Failure::Parse(e.to_string()))?;
    if !filter.keeps(&object) {
        return Ok(Vec::new());
    }
    Ok(convert(&object)?)
}

/// `Service apps/web`, `Namespace apps`, as written in the manifest.
fn describe(kind: &str, map: &Mapping) -> String {
    let meta = map.get("metadata");
    let field = |f: &str| {
        meta.and_then(|m| m.get(f))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let name = field("name").unwrap_or("<no name>");
    if kind == "Namespace" {
        format!("{kind} {name}")
    } else {
        let namespace = field("namespace").unwrap_or(convert::DEFAULT_NAMESPACE);
        format!("{kind} {namespace}/{name}")
    }
}

fn api_group(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(group, _)| group)
}

type Document = (usize, Result<Value, String>);

/// The documents of a file with their 1-based index, and the index at which the file stopped
/// parsing, if it did (that document is the last one returned, as an error).
fn split_documents(path: &Path, text: &str) -> (Vec<Document>, Option<usize>) {
    let is_json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    if is_json {
        if text.trim().is_empty() {
            return (Vec::new(), None);
        }
        return match serde_json::from_str::<Value>(text) {
            Ok(value) => (vec![(1, Ok(value))], None),
            Err(e) => (vec![(1, Err(format!("invalid JSON: {e}")))], Some(1)),
        };
    }
    let mut documents = Vec::new();
    for (i, document) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let index = i + 1;
        match Value::deserialize(document) {
            Ok(value) => documents.push((index, Ok(value))),
            Err(e) => {
                // The parser cannot resynchronise after a syntax error: stop here.
                documents.push((index, Err(format!("invalid YAML: {e}"))));
                return (documents, Some(index));
            }
        }
    }
    (documents, None)
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct FileStamp {
    path: PathBuf,
    len: u64,
    modified: Option<SystemTime>,
}

/// What a directory scan found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Listing {
    /// Manifest files, sorted by path.
    files: Vec<FileStamp>,
    /// Directories that could not be read (their files are kept as they were).
    failed_dirs: Vec<(PathBuf, String)>,
    /// The directory itself is missing or not a directory.
    dir_error: Option<String>,
}

fn list(dir: &Path) -> Listing {
    let mut listing = Listing::default();
    match fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => {
            listing.dir_error = Some("not a directory".to_owned());
            return listing;
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            listing.dir_error = Some("directory does not exist".to_owned());
            return listing;
        }
        Err(e) => {
            listing
                .failed_dirs
                .push((dir.to_path_buf(), format!("cannot read directory: {e}")));
            return listing;
        }
    }
    let mut visited = HashSet::new();
    walk(dir, 0, &mut visited, &mut listing);
    listing.files.sort_by(|a, b| a.path.cmp(&b.path));
    listing
}

fn walk(dir: &Path, depth: usize, visited: &mut HashSet<PathBuf>, listing: &mut Listing) {
    if depth > MAX_DEPTH {
        tracing::warn!(dir = %dir.display(), "manifest directories nested too deep: not read");
        return;
    }
    // A symlink back up the tree would otherwise loop forever.
    if let Ok(canonical) = fs::canonicalize(dir)
        && !visited.insert(canonical)
    {
        return;
    }
    let entries = fs::read_dir(dir).and_then(|entries| {
        entries
            .map(|entry| entry.map(|e| e.path()))
            .collect::<io::Result<Vec<_>>>()
    });
    let mut entries = match entries {
        Ok(entries) => entries,
        Err(e) => {
            listing
                .failed_dirs
                .push((dir.to_path_buf(), format!("cannot read directory: {e}")));
            return;
        }
    };
    entries.sort();
    for path in entries {
        let Some(name) = path.file_name().map(|n| n.to_string_lossy()) else {
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        // Follows symlinks (a ConfigMap volume's files are symlinks); a dangling one is skipped.
        let Ok(meta) = fs::metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            walk(&path, depth + 1, visited, listing);
        } else if meta.is_file() && is_manifest_name(&name) {
            listing.files.push(FileStamp {
                path,
                len: meta.len(),
                modified: meta.modified().ok(),
            });
        }
    }
}

fn is_manifest_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    [".yaml", ".yml", ".json"]
        .iter()
        .any(|ext| lower.len() > ext.len() && lower.ends_with(ext))
}

/// Editor swap, backup and probe files: never loaded, and a change to one alone is no reason to
/// reload.
fn is_editor_temp(name: &str) -> bool {
    name.ends_with('~')
        || [".swp", ".swo", ".swx", ".swpx"]
            .iter()
            .any(|ext| name.ends_with(ext))
        || name.starts_with(".#")
        || (name.starts_with('#') && name.ends_with('#'))
        || name == "4913"
}

// ---- the running source ----

struct Reloader {
    loader: ManifestLoader,
    /// What the store got last, to skip writes (and serial bumps) when nothing changed.
    served: Option<Vec<ClusterObject>>,
    /// Written only from the reload, under the same lock as the loader.
    store: StoreWriter,
}

fn lock(shared: &Mutex<Reloader>) -> MutexGuard<'_, Reloader> {
    // A panic in a reload leaves the loader's state usable (every field is replaced whole).
    match shared.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

async fn reload(shared: &Arc<Mutex<Reloader>>) {
    let shared = Arc::clone(shared);
    let result = tokio::task::spawn_blocking(move || {
        let mut reloader = lock(&shared);
        let report = reloader.loader.reload();
        if reloader.served.as_ref() == Some(&report.objects) {
            tracing::debug!("manifests unchanged: store not written");
            return;
        }
        reloader
            .store
            .replace(&ObjectKind::ALL, report.objects.clone());
        reloader.served = Some(report.objects);
    })
    .await;
    if let Err(e) = result {
        tracing::error!(error = %e, "manifest reload failed");
    }
}

async fn changed_on_disk(shared: &Arc<Mutex<Reloader>>) -> bool {
    let shared = Arc::clone(shared);
    tokio::task::spawn_blocking(move || lock(&shared).loader.changed_on_disk())
        .await
        .unwrap_or(true)
}

/// Wait until changes stop for [`QUIET`] (at most [`MAX_DELAY`]). False on shutdown.
async fn debounce(wake: &Notify, shutdown: &CancellationToken) -> bool {
    let deadline = Instant::now() + MAX_DELAY;
    loop {
        let quiet_until = (Instant::now() + QUIET).min(deadline);
        tokio::select! {
            biased;
            () = shutdown.cancelled() => return false,
            () = tokio::time::sleep_until(quiet_until) => return true,
            () = wake.notified() => {}
        }
    }
}

/// The directory watch, re-created when the directory appears or is replaced.
#[derive(Default)]
struct WatchState {
    watcher: Option<RecommendedWatcher>,
    /// The directory the watch is on (a new one at the same path needs a new watch).
    watched: Option<DirId>,
    /// Set by the watcher when the watched directory itself was removed or renamed: its watch
    /// is dead even if a new directory (possibly reusing the inode) is already in its place.
    root_gone: Arc<AtomicBool>,
    /// No watcher can be created here: poll for good.
    unavailable: bool,
}

impl WatchState {
    /// Drop a watch whose directory is gone and watch the directory if it exists. True when a new
    /// watch started (the caller reloads: changes before it were not seen).
    fn refresh(&mut self, dir: &Path, wake: &Arc<Notify>) -> bool {
        if self.unavailable {
            return false;
        }
        let current = dir_identity(dir);
        let gone = self.root_gone.swap(false, Ordering::AcqRel);
        if self.watcher.is_some() && (gone || self.watched != current) {
            tracing::warn!(dir = %dir.display(), "manifests directory removed or replaced");
            self.watcher = None;
            self.watched = None;
        }
        if self.watcher.is_some() || current.is_none() {
            return false;
        }
        match start_watcher(dir, Arc::clone(wake), Arc::clone(&self.root_gone)) {
            Ok(watcher) => {
                tracing::debug!(dir = %dir.display(), "watching manifests directory");
                self.watcher = Some(watcher);
                self.watched = current;
                true
            }
            Err(e) => {
                tracing::warn!(
                    dir = %dir.display(),
                    error = %e,
                    "cannot watch manifests directory: polling every second instead"
                );
                self.unavailable = true;
                false
            }
        }
    }
}

fn start_watcher(
    dir: &Path,
    wake: Arc<Notify>,
    root_gone: Arc<AtomicBool>,
) -> notify::Result<RecommendedWatcher> {
    let root = dir.to_path_buf();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        match event {
            Ok(event) => {
                if is_root_removal(&event, &root) {
                    root_gone.store(true, Ordering::Release);
                }
                if is_relevant(&event) {
                    wake.notify_one();
                }
            }
            Err(e) => {
                // E.g. an overflowed event queue: a reload re-reads everything anyway.
                tracing::warn!(error = %e, "manifests watch error");
                wake.notify_one();
            }
        }
    })?;
    watcher.watch(dir, RecursiveMode::Recursive)?;
    Ok(watcher)
}

fn is_root_removal(event: &notify::Event, root: &Path) -> bool {
    use notify::EventKind;
    use notify::event::ModifyKind;
    matches!(
        event.kind,
        EventKind::Remove(_) | EventKind::Modify(ModifyKind::Name(_))
    ) && event.paths.iter().any(|p| p == root)
}

/// Opening and reading files (our own reloads included) changes nothing, nor does an editor's
/// swap file.
fn is_relevant(event: &notify::Event) -> bool {
    use notify::EventKind;
    use notify::event::{AccessKind, AccessMode};
    match event.kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => {}
        EventKind::Access(_) => return false,
        _ => {}
    }
    event.paths.is_empty()
        || !event.paths.iter().all(|p| {
            p.file_name()
                .is_some_and(|n| is_editor_temp(&n.to_string_lossy()))
        })
}

type DirId = (u64, u64);

/// The directory's identity (device, inode); `None` when it does not exist.
#[cfg(unix)]
fn dir_identity(dir: &Path) -> Option<DirId> {
    use std::os::unix::fs::MetadataExt;
    fs::metadata(dir)
        .ok()
        .filter(|m| m.is_dir())
        .map(|m| (m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn dir_identity(dir: &Path) -> Option<DirId> {
    fs::metadata(dir)
        .ok()
        .filter(|m| m.is_dir())
        .map(|_| (0, 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docs(path: &str, text: &str) -> (Vec<Document>, Option<usize>) {
        split_documents(Path::new(path), text)
    }

    #[test]
    fn yaml_documents_are_numbered_and_empty_ones_count() {
        let (d, broken) = docs("a.yaml", "a: 1\n---\n---\nb: 2\n");
        assert_eq!(broken, None);
        let indexes: Vec<usize> = d.iter().map(|(i, _)| *i).collect();
        assert_eq!(indexes, vec![1, 2, 3]);
        assert!(matches!(&d[1].1, Ok(Value::Null)));
        let (d, _) = docs("a.yaml", "");
        assert!(d.iter().all(|(_, v)| matches!(v, Ok(Value::Null))));
        let (d, _) = docs("a.yaml", "---\na: 1\n");
        assert_eq!(d.len(), 1);
    }

    #[test]
    fn yaml_syntax_error_stops_the_file() {
        let (d, broken) = docs("a.yaml", "a: 1\n---\nb: [1, 2\n---\nc: 3\n");
        assert_eq!(broken, Some(2));
        assert_eq!(d.len(), 2);
        assert!(d[0].1.is_ok());
        let reason = d[1].1.as_ref().expect_err("syntax error");
        assert!(reason.starts_with("invalid YAML: "), "{reason}");
    }

    #[test]
    fn duplicate_keys_are_a_document_error() {
        let (d, broken) = docs("a.yaml", "a: 1\na: 2\n---\nc: 3\n");
        assert_eq!(broken, Some(1));
        assert!(d[0].1.is_err());
    }

    #[test]
    fn json_is_one_document() {
        let (d, broken) = docs("a.JSON", r#"{"kind": "Service"}"#);
        assert_eq!(broken, None);
        assert_eq!(d.len(), 1);
        let (d, broken) = docs("a.json", "  \n");
        assert!(d.is_empty() && broken.is_none());
        let (d, broken) = docs("a.json", r#"{"kind": "#);
        assert_eq!(broken, Some(1));
        assert!(matches!(&d[0].1, Err(r) if r.starts_with("invalid JSON: ")));
    }

    #[test]
    fn names() {
        assert!(is_manifest_name("a.yaml"));
        assert!(is_manifest_name("a.YML"));
        assert!(is_manifest_name("a.json"));
        assert!(!is_manifest_name(".yaml"));
        assert!(!is_manifest_name("a.yaml~"));
        assert!(!is_manifest_name("a.yaml.swp"));
        assert!(!is_manifest_name("a.txt"));
        assert!(is_editor_temp(".a.yaml.swp"));
        assert!(is_editor_temp("a.yaml~"));
        assert!(is_editor_temp("#a.yaml#"));
        assert!(is_editor_temp("4913"));
        assert!(!is_editor_temp("a.yaml"));
        assert!(!is_editor_temp("..data"));
    }

    #[test]
    fn relevant_events() {
        use notify::event::{
            AccessKind, AccessMode, CreateKind, ModifyKind, RemoveKind, RenameMode,
        };
        use notify::{Event, EventKind};
        let ev = |kind, path: &str| Event::new(kind).add_path(PathBuf::from(path));
        assert!(!is_relevant(&ev(
            EventKind::Access(AccessKind::Open(AccessMode::Any)),
            "/d/a.yaml"
        )));
        assert!(is_relevant(&ev(
            EventKind::Access(AccessKind::Close(AccessMode::Write)),
            "/d/a.yaml"
        )));
        assert!(is_relevant(&ev(
            EventKind::Modify(ModifyKind::Any),
            "/d/a.yaml"
        )));
        assert!(is_relevant(&ev(
            EventKind::Create(CreateKind::Any),
            "/d/..data"
        )));
        assert!(!is_relevant(&ev(
            EventKind::Modify(ModifyKind::Any),
            "/d/.a.yaml.swp"
        )));

        let root = Path::new("/d");
        assert!(is_root_removal(
            &ev(EventKind::Remove(RemoveKind::Folder), "/d"),
            root
        ));
        assert!(is_root_removal(
            &ev(EventKind::Modify(ModifyKind::Name(RenameMode::From)), "/d"),
            root
        ));
        assert!(!is_root_removal(
            &ev(EventKind::Remove(RemoveKind::File), "/d/a.yaml"),
            root
        ));
        assert!(!is_root_removal(
            &ev(EventKind::Create(CreateKind::Folder), "/d"),
            root
        ));
    }

    #[test]
    fn error_display() {
        let e = ManifestError {
            file: PathBuf::from("/m/a.yaml"),
            document: 2,
            reason: "bad".into(),
        };
        assert_eq!(e.to_string(), "/m/a.yaml: document 2: bad");
        let e = ManifestError {
            file: PathBuf::from("/m"),
            document: 0,
            reason: "directory does not exist".into(),
        };
        assert_eq!(e.to_string(), "/m: directory does not exist");
    }
}
