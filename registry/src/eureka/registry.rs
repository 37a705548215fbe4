//! The registry: leases and the operations on them (register, renew, cancel, status override,
//! metadata, evict), the delta queue, `versions__delta`, `apps__hashcode`, the per-application
//! render chunks behind the listings, and the DNS view.
//!
//! Concurrency: heartbeats take no global lock: a map lookup, a read lock on one application's
//! instance map, an `ArcSwap` load and two atomic stores. Every change (register, cancel,
//! status, metadata, eviction) runs under one write mutex, so the delta queue, the version, the
//! status counts and the DNS view change together. Readers never take the write mutex except the
//! delta read, which looks at the queue under it (copying only the applications whose part
//! changed since the last delta read).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, RwLock};
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::Bytes;
use dashmap::DashMap;

use super::EurekaConfig;
use super::clock::{Clock, SystemClock};
use super::dns::{DnsApp, DnsState};
use super::evict::RenewalMeter;
use super::gzip::{DeflatedChunk, GzipStitcher, deflate_chunk, gzip_parts};
use super::model::{ActionType, InstanceInfo, Status};
use super::par::par_map;
use super::render::{self, Format, LeaseView, StatusCounts};
use super::rules::effective_status;

/// Why a registry operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// No such application or instance (or its lease expired), or the client must register again.
    #[error("{0}")]
    NotFound(String),
    /// A configured limit (applications, instances per application) would be exceeded.
    #[error("{0}")]
    LimitExceeded(String),
    /// The instance lacks something the registry needs (an id, an application name).
    #[error("{0}")]
    Invalid(String),
}

/// An immutable snapshot of one instance; replaced as a whole on every change.
#[derive(Debug)]
pub(crate) struct InstanceRecord {
    pub info: InstanceInfo,
    /// The stored status override (Netflix's `overriddenInstanceStatusMap` entry).
    pub override_status: Option<Status>,
    pub registration_ms: u64,
    pub service_up_ms: u64,
    pub eviction_ms: u64,
    pub duration_ms: u64,
}

/// A lease: the current record plus the renewal atomics heartbeats update.
#[derive(Debug)]
pub(crate) struct InstanceSlot {
    pub record: ArcSwap<InstanceRecord>,
    last_renewal_ms: AtomicU64,
    expires_at_ms: AtomicU64,
}

impl InstanceSlot {
    fn new(record: Arc<InstanceRecord>) -> Self {
        Self {
            record: ArcSwap::new(record),
            last_renewal_ms: AtomicU64::new(0),
            expires_at_ms: AtomicU64::new(0),
        }
    }

    fn renew(&self, now_ms: u64, duration_ms: u64) {
        self.last_renewal_ms.store(now_ms, Ordering::Relaxed);
        self.expires_at_ms
            .store(now_ms.saturating_add(duration_ms), Ordering::Relaxed);
    }

    pub(crate) fn last_renewal_ms(&self) -> u64 {
        self.last_renewal_ms.load(Ordering::Relaxed)
    }

    /// Last renewal + duration; the lease is expired once now is past it.
    pub(crate) fn expires_at_ms(&self) -> u64 {
        self.expires_at_ms.load(Ordering::Relaxed)
    }

    pub(crate) fn is_expired(&self, now_ms: u64) -> bool {
        now_ms > self.expires_at_ms()
    }

    pub(crate) fn lease_view(&self, rec: &InstanceRecord) -> LeaseView {
        LeaseView {
            registration: rec.registration_ms,
            last_renewal: self.last_renewal_ms(),
            eviction: rec.eviction_ms,
            service_up: rec.service_up_ms,
        }
    }
}

/// A rendered group of one application's instances (`inst,inst,...` in JSON, concatenated
/// `<instance>`s in XML), with its status counts and, once asked for, its deflated form.
pub(crate) struct Chunk {
    pub plain: Bytes,
    pub counts: StatusCounts,
    pub len: usize,
    deflated: OnceLock<Option<DeflatedChunk>>,
}

impl Chunk {
    fn deflated(&self) -> Option<&DeflatedChunk> {
        self.deflated
            .get_or_init(|| deflate_chunk(&self.plain))
            .as_ref()
    }
}

#[derive(Default)]
struct GroupCache {
    generation: u64,
    json: Option<Arc<Chunk>>,
    xml: Option<Arc<Chunk>>,
}

impl GroupCache {
    fn get(&self, f: Format) -> Option<&Arc<Chunk>> {
        match f {
            Format::Json => self.json.as_ref(),
            Format::Xml => self.xml.as_ref(),
        }
    }

    fn set(&mut self, f: Format, c: Arc<Chunk>) {
        match f {
            Format::Json => self.json = Some(c),
            Format::Xml => self.xml = Some(c),
        }
    }
}

/// Rendered chunks of one application. Large applications are split into `2^bits` groups by a
/// hash of the instance id, so one change re-renders a few hundred instances, not all.
struct RenderCache {
    bits: u32,
    epoch: u64,
    groups: Vec<GroupCache>,
}

fn desired_bits(instances: usize) -> u32 {
    if instances <= 1024 {
        return 0;
    }
    let target = instances.div_ceil(512) as u64;
    (64 - (target - 1).leading_zeros()).min(10)
}

fn group_of(id: &str, bits: u32) -> usize {
    if bits == 0 {
        return 0;
    }
    // FNV-1a: stable across runs, good enough to spread ids.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (h >> (64 - bits)) as usize
}

/// Per-group `(generation, cached chunk)` as read from a [`RenderCache`].
type GroupSnapshot = Vec<(u64, Option<Arc<Chunk>>)>;
/// An application's name and its instances with their leases, ready to render.
type AppGroup = (String, Vec<(Arc<InstanceRecord>, LeaseView)>);
/// An application's name and its leases (for the dashboard).
pub(crate) type DashboardApp = (String, Vec<(Arc<InstanceRecord>, Arc<InstanceSlot>)>);

/// One application: its leases and its render cache.
pub(crate) struct AppSlot {
    pub name: String,
    instances: RwLock<HashMap<String, Arc<InstanceSlot>>>,
    render: Mutex<RenderCache>,
    pub(crate) dns: DnsState,
}

impl AppSlot {
    fn new(name: String) -> Self {
        Self {
            name,
            instances: RwLock::new(HashMap::new()),
            render: Mutex::new(RenderCache {
                bits: 0,
                epoch: 0,
                groups: vec![GroupCache::default()],
            }),
            dns: DnsState::default(),
        }
    }

    pub(crate) fn get(&self, id: &str) -> Option<Arc<InstanceSlot>> {
        read(&self.instances).get(id).cloned()
    }

    pub(crate) fn len(&self) -> usize {
        read(&self.instances).len()
    }

    pub(crate) fn slots(&self) -> Vec<Arc<InstanceSlot>> {
        read(&self.instances).values().cloned().collect()
    }

    /// Marks the group holding `id` for re-rendering (all groups when the split changes).
    fn invalidate(&self, id: &str) {
        let n = self.len();
        let mut cache = lock(&self.render);
        cache.epoch += 1;
        let epoch = cache.epoch;
        let bits = desired_bits(n);
        if bits != cache.bits {
            cache.bits = bits;
            cache.groups = (0..(1usize << bits))
                .map(|_| GroupCache {
                    generation: epoch,
                    json: None,
                    xml: None,
                })
                .collect();
        } else {
            let g = group_of(id, bits);
            if let Some(group) = cache.groups.get_mut(g) {
                *group = GroupCache {
                    generation: epoch,
                    json: None,
                    xml: None,
                };
            }
        }
    }

    /// The application's rendered groups in `format` (empty groups included), rendering and
    /// caching the ones a change invalidated.
    pub(crate) fn chunks(&self, format: Format) -> Vec<Arc<Chunk>> {
        let (bits, snapshot): (u32, GroupSnapshot) = {
            let cache = lock(&self.render);
            (
                cache.bits,
                cache
                    .groups
                    .iter()
                    .map(|g| (g.generation, g.get(format).cloned()))
                    .collect(),
            )
        };
        let missing: Vec<usize> = snapshot
            .iter()
            .enumerate()
            .filter(|(_, (_, c))| c.is_none())
            .map(|(i, _)| i)
            .collect();
        if missing.is_empty() {
            return snapshot.into_iter().filter_map(|(_, c)| c).collect();
        }
        let mut bucket_of: Vec<Option<usize>> = vec![None; snapshot.len()];
        for (b, g) in missing.iter().enumerate() {
            bucket_of[*g] = Some(b);
        }
        let mut buckets: Vec<Vec<Arc<InstanceSlot>>> = vec![Vec::new(); missing.len()];
        {
            let map = read(&self.instances);
            for (id, slot) in map.iter() {
                if let Some(Some(b)) = bucket_of.get(group_of(id, bits)) {
                    buckets[*b].push(Arc::clone(slot));
                }
            }
        }
        let rendered: Vec<Arc<Chunk>> = buckets
            .iter()
            .map(|slots| Arc::new(render_chunk(format, slots)))
            .collect();
        {
            let mut cache = lock(&self.render);
            if cache.bits == bits {
                for (b, g) in missing.iter().enumerate() {
                    if let Some(group) = cache.groups.get_mut(*g)
                        && group.generation == snapshot[*g].0
                    {
                        group.set(format, Arc::clone(&rendered[b]));
                    }
                }
            }
        }
        let mut out = Vec::with_capacity(snapshot.len());
        for (g, (_, c)) in snapshot.into_iter().enumerate() {
            match (c, bucket_of[g]) {
                (Some(c), _) => out.push(c),
                (None, Some(b)) => out.push(Arc::clone(&rendered[b])),
                (None, None) => {}
            }
        }
        out
    }
}

fn render_chunk(format: Format, slots: &[Arc<InstanceSlot>]) -> Chunk {
    let mut items: Vec<(Arc<InstanceRecord>, LeaseView)> = slots
        .iter()
        .map(|s| {
            let rec = s.record.load_full();
            let lease = s.lease_view(&rec);
            (rec, lease)
        })
        .collect();
    items.sort_by(|a, b| a.0.info.instance_id.cmp(&b.0.info.instance_id));
    let mut out = String::with_capacity(items.len() * 1200);
    let mut counts = [0u64; 5];
    for (n, (rec, lease)) in items.iter().enumerate() {
        if n > 0 {
            out.push_str(render::list_separator(format));
        }
        render::instance(&mut out, format, &rec.info, lease);
        counts[rec.info.status.index()] += 1;
    }
    Chunk {
        plain: Bytes::from(out),
        counts,
        len: items.len(),
        deflated: OnceLock::new(),
    }
}

/// A response body in pieces: text and rendered chunks, sent plain or as one gzip member.
#[derive(Default)]
pub(crate) struct Pieces {
    parts: Vec<Piece>,
    text: String,
}

enum Piece {
    Text(Bytes),
    Chunk(Arc<Chunk>),
}

impl Pieces {
    pub(crate) fn text(&mut self) -> &mut String {
        &mut self.text
    }

    fn push_chunk(&mut self, c: Arc<Chunk>) {
        if !self.text.is_empty() {
            let t = std::mem::take(&mut self.text);
            self.parts.push(Piece::Text(Bytes::from(t)));
        }
        self.parts.push(Piece::Chunk(c));
    }

    fn finish(mut self) -> Vec<Piece> {
        if !self.text.is_empty() {
            let t = std::mem::take(&mut self.text);
            self.parts.push(Piece::Text(Bytes::from(t)));
        }
        self.parts
    }

    /// The body uncompressed.
    pub(crate) fn into_plain(self) -> Vec<Bytes> {
        self.finish()
            .into_iter()
            .map(|p| match p {
                Piece::Text(t) => t,
                Piece::Chunk(c) => c.plain.clone(),
            })
            .collect()
    }

    /// The body, gzipped or not.
    pub(crate) fn into_body(self, gzip: bool) -> Vec<Bytes> {
        if gzip {
            self.into_gzip()
        } else {
            self.into_plain()
        }
    }

    /// The body as one gzip member.
    pub(crate) fn into_gzip(self) -> Vec<Bytes> {
        let mut gz = GzipStitcher::new();
        for p in self.finish() {
            match p {
                Piece::Text(t) => gz.push_plain(&t),
                Piece::Chunk(c) => match c.deflated() {
                    Some(d) => gz.push_chunk(d),
                    None => gz.push_plain(&c.plain),
                },
            }
        }
        gz.finish()
    }
}

/// A rendered document, gzipped once on first demand.
pub(crate) struct Doc {
    plain: Bytes,
    gzipped: OnceLock<Option<Vec<Bytes>>>,
}

impl Doc {
    fn new(plain: Bytes) -> Self {
        Self {
            plain,
            gzipped: OnceLock::new(),
        }
    }

    /// The body buffers, and whether they are gzip.
    pub(crate) fn body(&self, gzip: bool) -> (Vec<Bytes>, bool) {
        if gzip && let Some(parts) = self.gzipped.get_or_init(|| gzip_parts(&self.plain)) {
            return (parts.clone(), true);
        }
        (vec![self.plain.clone()], false)
    }
}

/// One entry of the delta queue.
pub(crate) struct DeltaItem {
    seq: u64,
    record: Arc<InstanceRecord>,
    slot: Arc<InstanceSlot>,
}

/// The delta queue, kept per application so that the rendered delta of an application can be
/// reused until that application's part of the queue changes.
#[derive(Default)]
struct DeltaQueue {
    /// Every change in order: `(time, application)`, for trimming.
    order: VecDeque<(u64, String)>,
    /// Each application's changes in order.
    by_app: BTreeMap<String, VecDeque<DeltaItem>>,
    next_seq: u64,
}

impl DeltaQueue {
    fn len(&self) -> usize {
        self.order.len()
    }

    fn push(&mut self, at_ms: u64, record: Arc<InstanceRecord>, slot: Arc<InstanceSlot>) {
        let app = record.info.app.clone();
        self.next_seq += 1;
        self.order.push_back((at_ms, app.clone()));
        self.by_app.entry(app).or_default().push_back(DeltaItem {
            seq: self.next_seq,
            record,
            slot,
        });
    }

    fn trim(&mut self, cutoff_ms: u64) {
        while let Some((at, _)) = self.order.front()
            && *at < cutoff_ms
        {
            let Some((_, app)) = self.order.pop_front() else {
                break;
            };
            if let Some(items) = self.by_app.get_mut(&app) {
                items.pop_front();
                if items.is_empty() {
                    self.by_app.remove(&app);
                }
            }
        }
    }
}

/// A rendered application of the delta, valid while the application's queued changes run from
/// `first` to `last` (sequence numbers: changes are appended and trimmed in order).
struct DeltaChunk {
    first: u64,
    last: u64,
    chunk: Arc<Chunk>,
}

/// Rendered delta applications per format.
type DeltaChunks = Mutex<HashMap<String, DeltaChunk>>;

/// The last delta answer per (format, gzip), keyed by (version, queue length): every change
/// bumps the version and trimming shortens the queue, so the key names the queue's content.
type DeltaBody = Mutex<Option<(u64, usize, Vec<Bytes>)>>;

/// State that changes only under the write mutex.
pub(crate) struct WriteState {
    delta: DeltaQueue,
    counts: StatusCounts,
    pub(crate) expected_clients: u64,
    pub(crate) renews_threshold: u64,
    pub(crate) last_threshold_update_ms: u64,
}

pub(crate) struct Inner {
    pub(crate) config: EurekaConfig,
    pub(crate) clock: Arc<dyn Clock>,
    apps: DashMap<String, Arc<AppSlot>>,
    /// The same applications, by lower-cased name, for the DNS view.
    dns: DashMap<String, Arc<AppSlot>>,
    pub(crate) write: Mutex<WriteState>,
    version: AtomicU64,
    instance_count: AtomicUsize,
    pub(crate) renewals: RenewalMeter,
    pub(crate) started_ms: u64,
    delta_chunks: [DeltaChunks; 2],
    delta_bodies: [DeltaBody; 4],
    /// Changes waiting to be sent to the peers (set when replication starts).
    pub(crate) outbox: std::sync::OnceLock<Arc<super::replication::Outbox>>,
}

/// Who asked for a change: a client (the change is then replicated to the peers) or a peer
/// (applied as sent and never replicated again; Netflix's `isReplication`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    Client,
    Peer,
}

/// The Eureka registry. Cheap to clone (an `Arc` inside).
#[derive(Clone)]
pub struct EurekaRegistry {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for EurekaRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EurekaRegistry")
            .field("apps", &self.inner.apps.len())
            .field("instances", &self.instance_count())
            .field("version", &self.version())
            .finish()
    }
}

/// A snapshot of the registry's counters (for `/status` and the dashboard).
#[derive(Clone, Debug, PartialEq)]
pub struct RegistryStats {
    /// Applications with at least one instance.
    pub apps: usize,
    /// Registered instances (including expired, not yet evicted ones).
    pub instances: usize,
    /// Renewals in the last 60 seconds.
    pub renews_last_min: u64,
    /// Renewals per minute below which self-preservation stops eviction.
    pub renews_threshold: u64,
    /// Clients expected to renew (Netflix's `expectedNumberOfClientsSendingRenews`).
    pub expected_clients: u64,
    /// Whether self-preservation is configured on.
    pub self_preservation_enabled: bool,
    /// Whether expired leases are evicted now (false while self-preservation holds them).
    pub lease_expiration_enabled: bool,
    /// `versions__delta`.
    pub version: u64,
    /// Changes in the delta queue.
    pub delta_queue_len: usize,
    /// Time since the registry was created.
    pub uptime: Duration,
}

impl RegistryStats {
    /// Self-preservation is on and currently suspending eviction.
    pub fn self_preservation_active(&self) -> bool {
        self.self_preservation_enabled && !self.lease_expiration_enabled
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(PoisonError::into_inner)
}

fn not_found_app(app: &str) -> RegistryError {
    RegistryError::NotFound(format!("application {app} is not registered"))
}

fn not_found_instance(app: &str, id: &str) -> RegistryError {
    RegistryError::NotFound(format!(
        "instance {id} of application {app} is not registered"
    ))
}

impl EurekaRegistry {
    /// A registry on the system clock.
    pub fn new(config: EurekaConfig) -> Self {
        Self::with_clock(config, Arc::new(SystemClock))
    }

    /// A registry on the given clock (tests use [`super::ManualClock`]).
    pub fn with_clock(config: EurekaConfig, clock: Arc<dyn Clock>) -> Self {
        let now = clock.now_millis();
        let mut w = WriteState {
            delta: DeltaQueue::default(),
            counts: [0; 5],
            // Like Spring Cloud's server, which opens for traffic expecting one client.
            expected_clients: 1,
            renews_threshold: 0,
            last_threshold_update_ms: now,
        };
        w.renews_threshold = renews_threshold(&config, w.expected_clients);
        Self {
            inner: Arc::new(Inner {
                config,
                clock,
                apps: DashMap::new(),
                dns: DashMap::new(),
                write: Mutex::new(w),
                version: AtomicU64::new(1),
                instance_count: AtomicUsize::new(0),
                renewals: RenewalMeter::default(),
                started_ms: now,
                delta_chunks: [Mutex::new(HashMap::new()), Mutex::new(HashMap::new())],
                delta_bodies: std::array::from_fn(|_| Mutex::new(None)),
                outbox: std::sync::OnceLock::new(),
            }),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &EurekaConfig {
        &self.inner.config
    }

    pub(crate) fn now(&self) -> u64 {
        self.inner.clock.now_millis()
    }

    /// DNS view of one app, looked up by its lower-cased name. Only UP, unexpired instances are
    /// listed; `None` when the app has no such instance.
    pub fn dns_app(&self, app_lowercase: &str) -> Option<Arc<DnsApp>> {
        let app = self
            .inner
            .dns
            .get(app_lowercase)
            .map(|e| Arc::clone(e.value()))?;
        app.dns.view(&app, self.now())
    }

    /// Grows with every change (used as the DNS zone's SOA serial).
    pub fn serial(&self) -> u32 {
        (self.version() & 0xffff_ffff) as u32
    }

    /// `versions__delta`: bumped by every change.
    pub fn version(&self) -> u64 {
        self.inner.version.load(Ordering::SeqCst)
    }

    /// Registered instances (including expired ones not yet evicted).
    pub fn instance_count(&self) -> usize {
        self.inner.instance_count.load(Ordering::Relaxed)
    }

    /// Registers (or re-registers) an instance, as `POST /apps/{APP}` does. The application
    /// name is upper-cased; an empty instance id becomes the host name; a zero lease duration
    /// becomes the configured default.
    pub fn register(&self, info: InstanceInfo) -> Result<(), RegistryError> {
        self.register_from(info, Origin::Client)
    }

    /// [`Self::register`] for a client or a peer: a peer's registration skips the rule that
    /// keeps an existing lease's UP or OUT_OF_SERVICE status (Netflix's rule chain does too).
    pub fn register_from(
        &self,
        mut info: InstanceInfo,
        origin: Origin,
    ) -> Result<(), RegistryError> {
        info.app = info.app.to_uppercase();
        if info.instance_id.trim().is_empty() {
            info.instance_id = info.host_name.clone();
        }
        if info.app.trim().is_empty() || info.instance_id.trim().is_empty() {
            return Err(RegistryError::Invalid(
                "an instance needs an application name and an instance id or host name".to_string(),
            ));
        }
        let now = self.now();
        let mut w = lock(&self.inner.write);
        self.register_locked(&mut w, info, now, origin)
    }

    fn register_locked(
        &self,
        w: &mut WriteState,
        incoming: InstanceInfo,
        now: u64,
        origin: Origin,
    ) -> Result<(), RegistryError> {
        let cfg = &self.inner.config;
        let app_name = incoming.app.clone();
        let id = incoming.instance_id.clone();
        let app = self
            .inner
            .apps
            .get(&app_name)
            .map(|e| Arc::clone(e.value()));
        let existing = app.as_ref().and_then(|a| a.get(&id));
        if existing.is_none() {
            let in_app = app.as_ref().map_or(0, |a| a.len());
            if in_app >= cfg.max_instances_per_app {
                return Err(RegistryError::LimitExceeded(format!(
                    "application {app_name} already has {in_app} instances (limit {})",
                    cfg.max_instances_per_app
                )));
            }
            if app.is_none() && self.inner.apps.len() >= cfg.max_apps {
                return Err(RegistryError::LimitExceeded(format!(
                    "the registry already holds {} applications (limit {})",
                    self.inner.apps.len(),
                    cfg.max_apps
                )));
            }
        }
        let app = match app {
            Some(a) => a,
            None => {
                let a = Arc::new(AppSlot::new(app_name.clone()));
                self.inner.apps.insert(app_name.clone(), Arc::clone(&a));
                self.inner
                    .dns
                    .insert(app_name.to_lowercase(), Arc::clone(&a));
                a
            }
        };
        let existing_rec = existing.as_ref().map(|s| s.record.load_full());

        let mut info = incoming;
        if let Some(er) = &existing_rec {
            // The registry keeps what it has when that is newer.
            if er.info.last_dirty_timestamp > info.last_dirty_timestamp {
                info = er.info.clone();
            }
        }
        let mut override_status = existing_rec.as_ref().and_then(|r| r.override_status);
        if info.overridden_status != Status::Unknown && override_status.is_none() {
            override_status = Some(info.overridden_status);
        }
        if let Some(o) = override_status {
            info.overridden_status = o;
        }
        let existing_status = match origin {
            Origin::Client => existing_rec.as_ref().map(|r| r.info.status),
            Origin::Peer => None,
        };
        info.status = effective_status(info.status, override_status, existing_status);
        info.action_type = ActionType::Added;
        info.last_updated_timestamp = now;
        if info.duration_secs == 0 {
            info.duration_secs = cfg.default_lease_secs.max(1);
        }
        let mut service_up_ms = existing_rec.as_ref().map_or(0, |r| r.service_up_ms);
        if info.status == Status::Up && service_up_ms == 0 {
            service_up_ms = now;
        }
        let duration_ms = u64::from(info.duration_secs) * 1000;
        let new_status = info.status;
        let record = Arc::new(InstanceRecord {
            info,
            override_status,
            registration_ms: now,
            service_up_ms,
            eviction_ms: 0,
            duration_ms,
        });
        let slot = match existing {
            Some(s) => {
                s.record.store(Arc::clone(&record));
                s
            }
            None => {
                let s = Arc::new(InstanceSlot::new(Arc::clone(&record)));
                write(&app.instances).insert(id.clone(), Arc::clone(&s));
                self.inner.instance_count.fetch_add(1, Ordering::Relaxed);
                if w.expected_clients > 0 {
                    w.expected_clients += 1;
                    w.renews_threshold = renews_threshold(cfg, w.expected_clients);
                }
                s
            }
        };
        slot.renew(now, duration_ms);
        if let Some(er) = &existing_rec {
            w.counts[er.info.status.index()] = w.counts[er.info.status.index()].saturating_sub(1);
        }
        w.counts[new_status.index()] += 1;
        tracing::debug!(app = %app_name, id = %id, status = %new_status, new = existing_rec.is_none(), "registered");
        self.changed(w, &app, &id, record, slot, now);
        Ok(())
    }

    /// Take over `old`'s unexpired instances (a Corefile reload set up this registry to replace
    /// it): each is registered again with its last `InstanceInfo` (status, override, metadata)
    /// and keeps its lease's last renewal, so a reload neither drops a live instance nor extends
    /// a dead one's lease. Returns how many were taken over.
    pub fn adopt(&self, old: &EurekaRegistry) -> usize {
        let (old_now, now) = (old.now(), self.now());
        let slots: Vec<Arc<InstanceSlot>> = old
            .inner
            .apps
            .iter()
            .flat_map(|app| app.value().slots())
            .filter(|slot| !slot.is_expired(old_now))
            .collect();
        let mut w = lock(&self.inner.write);
        let mut adopted = 0;
        for slot in slots {
            let info = slot.record.load().info.clone();
            let (app, id) = (info.app.clone(), info.instance_id.clone());
            if let Err(error) = self.register_locked(&mut w, info, now, Origin::Client) {
                tracing::warn!(%app, %id, %error, "eureka: an instance could not be carried over");
                continue;
            }
            if let Some(new) = self.app(&app).and_then(|a| a.get(&id)) {
                new.renew(slot.last_renewal_ms(), new.record.load().duration_ms);
            }
            adopted += 1;
        }
        adopted
    }

    /// Records a change: delta queue, version, render cache, DNS view.
    fn changed(
        &self,
        w: &mut WriteState,
        app: &Arc<AppSlot>,
        id: &str,
        record: Arc<InstanceRecord>,
        slot: Arc<InstanceSlot>,
        now: u64,
    ) {
        w.delta.push(now, record, slot);
        self.trim_delta(w, now);
        self.inner.version.fetch_add(1, Ordering::SeqCst);
        app.invalidate(id);
        app.dns.changed();
    }

    pub(crate) fn trim_delta(&self, w: &mut WriteState, now: u64) {
        let retention =
            u64::try_from(self.inner.config.delta_retention.as_millis()).unwrap_or(u64::MAX);
        let cutoff = now.saturating_sub(retention);
        w.delta.trim(cutoff);
    }

    fn app(&self, app: &str) -> Option<Arc<AppSlot>> {
        self.inner.apps.get(app).map(|e| Arc::clone(e.value()))
    }

    /// The instance's slot if it is registered and its lease has not expired.
    fn live_slot(
        &self,
        app: &str,
        id: &str,
        now: u64,
    ) -> Result<(Arc<AppSlot>, Arc<InstanceSlot>), RegistryError> {
        let a = self.app(app).ok_or_else(|| not_found_instance(app, id))?;
        let s = a.get(id).ok_or_else(|| not_found_instance(app, id))?;
        if s.is_expired(now) {
            return Err(RegistryError::NotFound(format!(
                "the lease of instance {id} of application {app} has expired"
            )));
        }
        Ok((a, s))
    }

    /// A heartbeat, as `PUT /apps/{APP}/{ID}` does. `NotFound` tells the client to register
    /// again: unknown lease, a status that resolves to UNKNOWN (override removed), or a
    /// `lastDirtyTimestamp` newer than the registry's.
    pub fn renew(
        &self,
        app: &str,
        id: &str,
        last_dirty_timestamp: Option<u64>,
    ) -> Result<(), RegistryError> {
        let now = self.now();
        let a = self.app(app).ok_or_else(|| not_found_instance(app, id))?;
        let slot = a.get(id).ok_or_else(|| not_found_instance(app, id))?;
        let rec = slot.record.load_full();
        let status = effective_status(rec.info.status, rec.override_status, Some(rec.info.status));
        if status == Status::Unknown {
            return Err(RegistryError::NotFound(format!(
                "instance {id} of application {app} has status UNKNOWN: register again"
            )));
        }
        if status != rec.info.status {
            self.set_status_from_renew(&a, &slot, status, now);
        }
        self.inner.renewals.record(now);
        slot.renew(now, rec.duration_ms);
        if let Some(ts) = last_dirty_timestamp
            && ts > rec.info.last_dirty_timestamp
        {
            return Err(RegistryError::NotFound(format!(
                "instance {id} of application {app} has newer data (lastDirtyTimestamp {ts} > {}): register again",
                rec.info.last_dirty_timestamp
            )));
        }
        Ok(())
    }

    fn set_status_from_renew(
        &self,
        app: &Arc<AppSlot>,
        slot: &Arc<InstanceSlot>,
        status: Status,
        now: u64,
    ) {
        let mut w = lock(&self.inner.write);
        let rec = slot.record.load_full();
        if rec.info.status == status {
            return;
        }
        let mut info = rec.info.clone();
        info.status = status;
        info.action_type = ActionType::Modified;
        info.last_updated_timestamp = now;
        let id = info.instance_id.clone();
        let record = Arc::new(InstanceRecord {
            info,
            override_status: rec.override_status,
            registration_ms: rec.registration_ms,
            service_up_ms: rec.service_up_ms,
            eviction_ms: rec.eviction_ms,
            duration_ms: rec.duration_ms,
        });
        slot.record.store(Arc::clone(&record));
        let old = rec.info.status.index();
        w.counts[old] = w.counts[old].saturating_sub(1);
        w.counts[status.index()] += 1;
        self.changed(&mut w, app, &id, record, Arc::clone(slot), now);
    }

    /// Cancels a lease, as `DELETE /apps/{APP}/{ID}` does.
    pub fn cancel(&self, app: &str, id: &str) -> Result<(), RegistryError> {
        let now = self.now();
        let mut w = lock(&self.inner.write);
        self.cancel_locked(&mut w, app, id, now, true, None)
    }

    /// Removes a lease. `expected_slot`: only if the map still holds that lease (eviction).
    pub(crate) fn cancel_locked(
        &self,
        w: &mut WriteState,
        app: &str,
        id: &str,
        now: u64,
        client_cancel: bool,
        expected_slot: Option<&Arc<InstanceSlot>>,
    ) -> Result<(), RegistryError> {
        let a = self.app(app).ok_or_else(|| not_found_instance(app, id))?;
        let slot = {
            let mut map = write(&a.instances);
            if let Some(expected) = expected_slot
                && !map.get(id).is_some_and(|s| Arc::ptr_eq(s, expected))
            {
                return Err(not_found_instance(app, id));
            }
            map.remove(id).ok_or_else(|| not_found_instance(app, id))?
        };
        self.inner.instance_count.fetch_sub(1, Ordering::Relaxed);
        let old = slot.record.load_full();
        let mut info = old.info.clone();
        info.action_type = ActionType::Deleted;
        info.last_updated_timestamp = now;
        let record = Arc::new(InstanceRecord {
            info,
            override_status: None,
            registration_ms: old.registration_ms,
            service_up_ms: old.service_up_ms,
            eviction_ms: now,
            duration_ms: old.duration_ms,
        });
        slot.record.store(Arc::clone(&record));
        let idx = old.info.status.index();
        w.counts[idx] = w.counts[idx].saturating_sub(1);
        tracing::debug!(app = %app, id = %id, client_cancel, "lease removed");
        if client_cancel && w.expected_clients > 0 {
            w.expected_clients -= 1;
            w.renews_threshold = renews_threshold(&self.inner.config, w.expected_clients);
        }
        self.changed(w, &a, id, record, slot, now);
        if a.len() == 0 {
            self.inner
                .apps
                .remove_if(app, |_, v| Arc::ptr_eq(v, &a) && v.len() == 0);
            self.inner.dns.remove_if(&app.to_lowercase(), |_, v| {
                Arc::ptr_eq(v, &a) && v.len() == 0
            });
        }
        Ok(())
    }

    /// `PUT /apps/{APP}/{ID}/status?value=S`: stores an override and sets the status.
    pub fn set_status_override(
        &self,
        app: &str,
        id: &str,
        status: Status,
        last_dirty_timestamp: Option<u64>,
    ) -> Result<(), RegistryError> {
        let now = self.now();
        let mut w = lock(&self.inner.write);
        let (a, slot) = self.live_slot(app, id, now)?;
        let rec = slot.record.load_full();
        slot.renew(now, rec.duration_ms);
        if rec.info.status == status {
            // Netflix stores nothing when the status is already that.
            return Ok(());
        }
        let mut info = rec.info.clone();
        info.status = status;
        info.overridden_status = status;
        if let Some(ts) = last_dirty_timestamp {
            info.last_dirty_timestamp = info.last_dirty_timestamp.max(ts);
        }
        info.action_type = ActionType::Modified;
        info.last_updated_timestamp = now;
        let mut service_up_ms = rec.service_up_ms;
        if status == Status::Up && service_up_ms == 0 {
            service_up_ms = now;
        }
        let record = Arc::new(InstanceRecord {
            info,
            override_status: Some(status),
            registration_ms: rec.registration_ms,
            service_up_ms,
            eviction_ms: rec.eviction_ms,
            duration_ms: rec.duration_ms,
        });
        slot.record.store(Arc::clone(&record));
        let old = rec.info.status.index();
        w.counts[old] = w.counts[old].saturating_sub(1);
        w.counts[status.index()] += 1;
        self.changed(&mut w, &a, id, record, slot, now);
        Ok(())
    }

    /// `DELETE /apps/{APP}/{ID}/status[?value=S]`: removes the override; the status becomes
    /// `new_status` or UNKNOWN (so the next heartbeat answers 404 and the client re-registers).
    pub fn delete_status_override(
        &self,
        app: &str,
        id: &str,
        new_status: Option<Status>,
        last_dirty_timestamp: Option<u64>,
    ) -> Result<(), RegistryError> {
        let now = self.now();
        let mut w = lock(&self.inner.write);
        let (a, slot) = self.live_slot(app, id, now)?;
        let rec = slot.record.load_full();
        slot.renew(now, rec.duration_ms);
        if rec.override_status.is_none() {
            return Ok(());
        }
        let status = new_status.unwrap_or(Status::Unknown);
        let mut info = rec.info.clone();
        info.status = status;
        info.overridden_status = Status::Unknown;
        if let Some(ts) = last_dirty_timestamp {
            info.last_dirty_timestamp = info.last_dirty_timestamp.max(ts);
        }
        info.action_type = ActionType::Modified;
        info.last_updated_timestamp = now;
        let record = Arc::new(InstanceRecord {
            info,
            override_status: None,
            registration_ms: rec.registration_ms,
            service_up_ms: rec.service_up_ms,
            eviction_ms: rec.eviction_ms,
            duration_ms: rec.duration_ms,
        });
        slot.record.store(Arc::clone(&record));
        let old = rec.info.status.index();
        w.counts[old] = w.counts[old].saturating_sub(1);
        w.counts[status.index()] += 1;
        self.changed(&mut w, &a, id, record, slot, now);
        Ok(())
    }

    /// `PUT /apps/{APP}/{ID}/metadata?k=v`: merges metadata, then re-registers the instance
    /// (as Netflix does).
    pub fn update_metadata(
        &self,
        app: &str,
        id: &str,
        entries: &[(String, String)],
    ) -> Result<(), RegistryError> {
        let now = self.now();
        let mut w = lock(&self.inner.write);
        let (_, slot) = self.live_slot(app, id, now)?;
        let mut info = slot.record.load().info.clone();
        for (k, v) in entries {
            info.set_metadata(k, v);
        }
        self.register_locked(&mut w, info, now, Origin::Client)
    }

    /// One live instance with its lease (`GET /apps/{APP}/{ID}`).
    pub(crate) fn instance(
        &self,
        app: &str,
        id: &str,
    ) -> Result<(Arc<InstanceRecord>, LeaseView), RegistryError> {
        let now = self.now();
        let (_, slot) = self.live_slot(app, id, now)?;
        let rec = slot.record.load_full();
        let lease = slot.lease_view(&rec);
        Ok((rec, lease))
    }

    /// The first live instance with this id in any application (`GET /instances/{ID}`).
    pub(crate) fn instance_by_id(&self, id: &str) -> Option<(Arc<InstanceRecord>, LeaseView)> {
        let now = self.now();
        let mut apps = self.sorted_apps();
        apps.retain(|a| a.get(id).is_some());
        apps.into_iter().find_map(|a| {
            let slot = a.get(id)?;
            if slot.is_expired(now) {
                return None;
            }
            let rec = slot.record.load_full();
            let lease = slot.lease_view(&rec);
            Some((rec, lease))
        })
    }

    fn sorted_apps(&self) -> Vec<Arc<AppSlot>> {
        let mut apps: Vec<Arc<AppSlot>> = self
            .inner
            .apps
            .iter()
            .map(|e| Arc::clone(e.value()))
            .collect();
        apps.sort_by(|a, b| a.name.cmp(&b.name));
        apps
    }

    /// `GET /apps`: every application, every instance. `gzip`: compress the chunks now (in
    /// parallel) rather than while assembling the answer.
    pub(crate) fn full_listing(&self, format: Format, gzip: bool) -> Pieces {
        let version = self.version();
        let apps = self.sorted_apps();
        let chunks_per_app = par_map(&apps, |app| ready_chunks(app, format, gzip));
        let mut counts = [0u64; 5];
        for c in chunks_per_app.iter().flatten() {
            for (total, n) in counts.iter_mut().zip(c.counts) {
                *total += n;
            }
        }
        let mut p = Pieces::default();
        render::apps_open(p.text(), format, version, &render::hashcode(&counts));
        let mut first = true;
        for (app, chunks) in apps.iter().zip(chunks_per_app) {
            if chunks.is_empty() {
                continue;
            }
            if !first {
                p.text().push_str(render::list_separator(format));
            }
            first = false;
            render::app_open(p.text(), format, &app.name);
            for (m, c) in chunks.into_iter().enumerate() {
                if m > 0 {
                    p.text().push_str(render::list_separator(format));
                }
                p.push_chunk(c);
            }
            render::app_close(p.text(), format);
        }
        render::apps_close(p.text(), format);
        p
    }

    /// `GET /apps/{APP}`; `NotFound` when the application has no instance.
    pub(crate) fn app_listing(
        &self,
        app: &str,
        format: Format,
        gzip: bool,
    ) -> Result<Pieces, RegistryError> {
        let a = self.app(app).ok_or_else(|| not_found_app(app))?;
        let chunks = ready_chunks(&a, format, false);
        if chunks.is_empty() {
            return Err(not_found_app(app));
        }
        if gzip {
            par_map(&chunks, |c| c.deflated().is_some());
        }
        let mut p = Pieces::default();
        render::single_app_open(p.text(), format);
        render::app_open(p.text(), format, &a.name);
        for (m, c) in chunks.into_iter().enumerate() {
            if m > 0 {
                p.text().push_str(render::list_separator(format));
            }
            p.push_chunk(c);
        }
        render::app_close(p.text(), format);
        render::single_app_close(p.text(), format);
        Ok(p)
    }

    /// `GET /vips/{vip}` and `GET /svips/{svip}`: the instances whose (secure) VIP address list
    /// names it, grouped by application (possibly none).
    pub(crate) fn vip_listing(&self, vip: &str, secure: bool, format: Format) -> Doc {
        let version = self.version();
        let mut groups: Vec<AppGroup> = Vec::new();
        let mut counts = [0u64; 5];
        for app in self.sorted_apps() {
            let mut items: Vec<(Arc<InstanceRecord>, LeaseView)> = app
                .slots()
                .into_iter()
                .filter_map(|s| {
                    let rec = s.record.load_full();
                    let list = if secure {
                        rec.info.secure_vip_address.as_deref()
                    } else {
                        rec.info.vip_address.as_deref()
                    };
                    if !InstanceInfo::vip_matches(list, vip) {
                        return None;
                    }
                    let lease = s.lease_view(&rec);
                    Some((rec, lease))
                })
                .collect();
            if items.is_empty() {
                continue;
            }
            items.sort_by(|a, b| a.0.info.instance_id.cmp(&b.0.info.instance_id));
            for (r, _) in &items {
                counts[r.info.status.index()] += 1;
            }
            groups.push((app.name.clone(), items));
        }
        Doc::new(render_groups(
            format,
            version,
            &render::hashcode(&counts),
            &groups,
        ))
    }

    /// `GET /apps/delta`: the changes of the retention window, each instance once with its
    /// latest state, grouped by application, and the hash code of the whole registry. An
    /// application's part is rendered again only when its queued changes changed.
    pub(crate) fn delta_listing(&self, format: Format, gzip: bool) -> Vec<Bytes> {
        let now = self.now();
        let cache = &self.inner.delta_chunks[usize::from(format == Format::Xml)];
        let body_cache =
            &self.inner.delta_bodies[usize::from(format == Format::Xml) * 2 + usize::from(gzip)];
        // (application, first seq, last seq, cached chunk or the items to render)
        type Part = (
            String,
            u64,
            u64,
            Result<Arc<Chunk>, Vec<(Arc<InstanceRecord>, Arc<InstanceSlot>)>>,
        );
        let (key, hash, parts) = {
            let mut w = lock(&self.inner.write);
            self.trim_delta(&mut w, now);
            let key = (self.version(), w.delta.len());
            if let Some((v, n, body)) = lock(body_cache).as_ref()
                && (*v, *n) == key
            {
                return body.clone();
            }
            let mut cached = lock(cache);
            cached.retain(|app, _| w.delta.by_app.contains_key(app));
            let parts: Vec<Part> = w
                .delta
                .by_app
                .iter()
                .filter_map(|(app, items)| {
                    let first = items.front()?.seq;
                    let last = items.back()?.seq;
                    let chunk = match cached.get(app) {
                        Some(c) if c.first == first && c.last == last => Ok(Arc::clone(&c.chunk)),
                        _ => Err(items
                            .iter()
                            .map(|d| (Arc::clone(&d.record), Arc::clone(&d.slot)))
                            .collect()),
                    };
                    Some((app.clone(), first, last, chunk))
                })
                .collect();
            (key, render::hashcode(&w.counts), parts)
        };
        let version = key.0;
        let chunks: Vec<Arc<Chunk>> = par_map(&parts, |(_, _, _, c)| {
            let chunk = match c {
                Ok(chunk) => Arc::clone(chunk),
                Err(items) => Arc::new(render_delta_app(format, items)),
            };
            if gzip {
                chunk.deflated();
            }
            chunk
        });
        {
            let mut cached = lock(cache);
            for ((app, first, last, was), chunk) in parts.iter().zip(&chunks) {
                if was.is_err() {
                    cached.insert(
                        app.clone(),
                        DeltaChunk {
                            first: *first,
                            last: *last,
                            chunk: Arc::clone(chunk),
                        },
                    );
                }
            }
        }
        let mut p = Pieces::default();
        render::apps_open(p.text(), format, version, &hash);
        for (n, ((app, ..), chunk)) in parts.iter().zip(chunks).enumerate() {
            if n > 0 {
                p.text().push_str(render::list_separator(format));
            }
            render::app_open(p.text(), format, app);
            p.push_chunk(chunk);
            render::app_close(p.text(), format);
        }
        render::apps_close(p.text(), format);
        let body = p.into_body(gzip);
        *lock(body_cache) = Some((key.0, key.1, body.clone()));
        body
    }

    /// Applications and instances for the dashboard: `(app, [(record, slot)])`, sorted.
    pub(crate) fn dashboard_apps(&self) -> Vec<DashboardApp> {
        self.sorted_apps()
            .into_iter()
            .filter_map(|a| {
                let mut items: Vec<(Arc<InstanceRecord>, Arc<InstanceSlot>)> = a
                    .slots()
                    .into_iter()
                    .map(|s| (s.record.load_full(), s))
                    .collect();
                if items.is_empty() {
                    return None;
                }
                items.sort_by(|x, y| x.0.info.instance_id.cmp(&y.0.info.instance_id));
                Some((a.name.clone(), items))
            })
            .collect()
    }

    /// Every lease, for eviction: `(app, id, slot)`.
    /// The leases that have expired at `now`; names are cloned only for those, so a scan of
    /// 100,000 live leases allocates nothing.
    pub(crate) fn expired_slots(&self, now: u64) -> Vec<(String, String, Arc<InstanceSlot>)> {
        let mut out = Vec::new();
        for a in self.sorted_apps() {
            let map = read(&a.instances);
            for (id, s) in map.iter().filter(|(_, s)| s.is_expired(now)) {
                out.push((a.name.clone(), id.clone(), Arc::clone(s)));
            }
        }
        out
    }

    /// Counters for `/status` and the dashboard.
    pub fn stats(&self) -> RegistryStats {
        let now = self.now();
        let (expected, threshold, delta_len) = {
            let w = lock(&self.inner.write);
            (w.expected_clients, w.renews_threshold, w.delta.len())
        };
        let renews = self.inner.renewals.last_minute(now);
        let sp = self.inner.config.self_preservation;
        RegistryStats {
            apps: self.inner.apps.len(),
            instances: self.instance_count(),
            renews_last_min: renews,
            renews_threshold: threshold,
            expected_clients: expected,
            self_preservation_enabled: sp,
            lease_expiration_enabled: !sp || (threshold > 0 && renews > threshold),
            version: self.version(),
            delta_queue_len: delta_len,
            uptime: Duration::from_millis(now.saturating_sub(self.inner.started_ms)),
        }
    }
}

fn render_groups(format: Format, version: u64, hash: &str, groups: &[AppGroup]) -> Bytes {
    let bodies: Vec<String> = par_map(groups, |(name, items)| {
        let mut out = String::with_capacity(64 + items.len() * 1200);
        render::app_open(&mut out, format, name);
        for (m, (rec, lease)) in items.iter().enumerate() {
            if m > 0 {
                out.push_str(render::list_separator(format));
            }
            render::instance(&mut out, format, &rec.info, lease);
        }
        render::app_close(&mut out, format);
        out
    });
    let mut out = String::with_capacity(256 + bodies.iter().map(String::len).sum::<usize>());
    render::apps_open(&mut out, format, version, hash);
    for (n, body) in bodies.iter().enumerate() {
        if n > 0 {
            out.push_str(render::list_separator(format));
        }
        out.push_str(body);
    }
    render::apps_close(&mut out, format);
    Bytes::from(out)
}

/// One application's part of the delta: each instance once (its latest change), by id.
fn render_delta_app(format: Format, items: &[(Arc<InstanceRecord>, Arc<InstanceSlot>)]) -> Chunk {
    let mut latest: HashMap<&str, usize> = HashMap::with_capacity(items.len());
    for (n, (rec, _)) in items.iter().enumerate() {
        latest.insert(rec.info.instance_id.as_str(), n);
    }
    let mut keep: Vec<usize> = latest.into_values().collect();
    keep.sort_by(|a, b| {
        items[*a]
            .0
            .info
            .instance_id
            .cmp(&items[*b].0.info.instance_id)
    });
    let mut out = String::with_capacity(keep.len() * 1200);
    for (m, n) in keep.iter().enumerate() {
        if m > 0 {
            out.push_str(render::list_separator(format));
        }
        let (rec, slot) = &items[*n];
        render::instance(&mut out, format, &rec.info, &slot.lease_view(rec));
    }
    Chunk {
        plain: Bytes::from(out),
        counts: [0; 5],
        len: keep.len(),
        deflated: OnceLock::new(),
    }
}

/// An application's non-empty chunks, deflated already when `gzip`.
fn ready_chunks(app: &AppSlot, format: Format, gzip: bool) -> Vec<Arc<Chunk>> {
    let chunks: Vec<Arc<Chunk>> = app
        .chunks(format)
        .into_iter()
        .filter(|c| c.len > 0)
        .collect();
    if gzip {
        for c in &chunks {
            c.deflated();
        }
    }
    chunks
}

/// Netflix's `numberOfRenewsPerMinThreshold`.
pub(crate) fn renews_threshold(cfg: &EurekaConfig, expected_clients: u64) -> u64 {
    let interval = f64::from(cfg.expected_renewal_interval_secs.max(1));
    let v = expected_clients as f64 * (60.0 / interval) * cfg.renewal_percent_threshold;
    if v.is_finite() && v > 0.0 {
        v as u64
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eureka::ManualClock;

    pub(crate) fn info(app: &str, id: &str, ip: &str) -> InstanceInfo {
        InstanceInfo::new(app, id, id, ip, 8080)
    }

    fn registry() -> (EurekaRegistry, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new(1_700_000_000_000));
        (
            EurekaRegistry::with_clock(EurekaConfig::default(), clock.clone()),
            clock,
        )
    }

    #[test]
    fn bits_and_groups() {
        assert_eq!(desired_bits(0), 0);
        assert_eq!(desired_bits(1024), 0);
        assert_eq!(desired_bits(1025), 2);
        assert_eq!(desired_bits(100_000), 8);
        assert_eq!(desired_bits(10_000_000), 10);
        for id in ["a", "b", "10.0.0.1:x:80"] {
            assert_eq!(group_of(id, 0), 0);
            assert!(group_of(id, 8) < 256);
        }
    }

    #[test]
    fn dns_view_follows_changes_and_expiry() {
        let (r, clock) = registry();
        assert!(r.dns_app("orders").is_none());
        let s0 = r.serial();
        r.register(info("ORDERS", "b", "10.0.0.2")).unwrap();
        r.register(info("ORDERS", "a", "10.0.0.1")).unwrap();
        r.register(info("ORDERS", "bad-ip", "not-an-ip")).unwrap();
        assert!(r.serial() > s0);
        let v = r.dns_app("orders").unwrap();
        let hosts: Vec<&str> = v.instances.iter().map(|i| i.host_name.as_str()).collect();
        assert_eq!(hosts, ["a", "b"]);
        assert_eq!(v.instances[0].port, Some(8080));
        assert_eq!(v.instances[0].secure_port, None);
        // Same Arc while nothing changes.
        assert!(Arc::ptr_eq(&v, &r.dns_app("orders").unwrap()));
        // Status change removes it.
        r.set_status_override("ORDERS", "a", Status::OutOfService, None)
            .unwrap();
        assert_eq!(r.dns_app("orders").unwrap().instances.len(), 1);
        // Expiry removes it before eviction; a renewal brings it back.
        clock.advance(Duration::from_secs(60));
        r.renew("ORDERS", "bad-ip", None).unwrap();
        clock.advance(Duration::from_secs(31));
        assert!(r.dns_app("orders").is_none());
        r.renew("ORDERS", "b", None).unwrap();
        assert_eq!(r.dns_app("orders").unwrap().instances.len(), 1);
        r.cancel("ORDERS", "b").unwrap();
        assert!(r.dns_app("orders").is_none());
    }

    #[test]
    fn hashcode_and_counts_track_changes() {
        let (r, _) = registry();
        r.register(info("A", "1", "10.0.0.1")).unwrap();
        r.register(info("A", "2", "10.0.0.2")).unwrap();
        r.set_status_override("A", "2", Status::Down, None).unwrap();
        let w = lock(&r.inner.write);
        assert_eq!(render::hashcode(&w.counts), "DOWN_1_UP_1_");
    }

    #[test]
    fn render_cache_sees_every_change() {
        let (r, _) = registry();
        for n in 0..1500 {
            r.register(info("BIG", &format!("i{n}"), "10.0.0.1"))
                .unwrap();
        }
        let text = |r: &EurekaRegistry| -> String {
            let parts = r.full_listing(Format::Json, false).into_plain();
            String::from_utf8(parts.concat()).unwrap()
        };
        let v: serde_json::Value = serde_json::from_str(&text(&r)).unwrap();
        assert_eq!(
            v["applications"]["application"][0]["instance"]
                .as_array()
                .unwrap()
                .len(),
            1500
        );
        r.set_status_override("BIG", "i7", Status::Down, None)
            .unwrap();
        r.cancel("BIG", "i8").unwrap();
        let v: serde_json::Value = serde_json::from_str(&text(&r)).unwrap();
        let insts = v["applications"]["application"][0]["instance"]
            .as_array()
            .unwrap();
        assert_eq!(insts.len(), 1499);
        assert!(
            insts
                .iter()
                .any(|i| i["instanceId"] == "i7" && i["status"] == "DOWN")
        );
        assert!(!insts.iter().any(|i| i["instanceId"] == "i8"));
        assert_eq!(v["applications"]["apps__hashcode"], "DOWN_1_UP_1498_");
    }

    #[test]
    fn threshold_formula() {
        let cfg = EurekaConfig::default();
        assert_eq!(renews_threshold(&cfg, 1), 1);
        assert_eq!(renews_threshold(&cfg, 11), 18);
        assert_eq!(renews_threshold(&cfg, 0), 0);
    }
}
