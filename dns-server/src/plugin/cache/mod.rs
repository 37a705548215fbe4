//! # cache
//!
//! Caches the replies of the rest of the chain, as CoreDNS's `cache` does: positive answers
//! (NOERROR with records), denials (NXDOMAIN and NODATA, for the SOA's negative TTL, RFC 2308)
//! and failures (SERVFAIL, for the `servfail` duration), keyed by the lower-cased name, type,
//! class and DO bit. Truncated replies, other RCODEs and answers with a TTL of 0 are never
//! cached. Each entry lives for the smallest TTL in its reply, kept between the kind's MINTTL
//! and TTL; replies carry that TTL (counting down as the entry ages), except with `keepttl`.
//! A cached reply is not authoritative (AA is cleared), as in CoreDNS.
//!
//! Unlike CoreDNS, cluster data is never served stale, whatever the Corefile's zones and
//! `disable` lines say. A reply a plugin built from in-memory data that can change at any
//! moment (`kubernetes`, `eureka`, `hosts`, `k8s_external`, `template`) is marked
//! [`Reply::live`] and never stored (its TTLs are still kept within the cache's bounds, as
//! CoreDNS's clients see them): it is cheaper to recompute than to cache, so a deleted
//! Service's PTR stops answering as soon as the store drops it. And when such a plugin passes a
//! name on (`fallthrough`, e.g. kubeadm's reverse zones), the reply the rest of the chain gives
//! carries a [`Watch`] on that plugin's data (the cluster store's serial, `hosts`' table): the entry is served
//! only while the data is unchanged, so an upstream's NXDOMAIN cached for an endpoint that was
//! not ready yet gives way to the endpoint's PTR as soon as it is. The cache names no plugin: it
//! reads both from the reply. A name no such plugin looked at (every plain forwarded name)
//! carries no watch, and its hit costs one length check more.
//!
//! Unlike CoreDNS, concurrent misses for one key are coalesced: the first goes down the chain,
//! the others wait for it (at most 6 s) and are answered from what it cached, so a popular name
//! expiring sends one query upstream, not one per client (`rollcall_cache_coalesced_total`). A
//! reply that is not cached leaves each waiter to ask the chain itself.
//!
//! ## Syntax
//! ```text
//! cache [TTL] [ZONES...] {
//!     success CAPACITY [TTL] [MINTTL]
//!     denial CAPACITY [TTL] [MINTTL]
//!     prefetch AMOUNT [[DURATION] [PERCENTAGE%]]
//!     serve_stale [DURATION] [immediate|verify]
//!     servfail DURATION
//!     disable success|denial [ZONES...]
//!     keepttl
//! }
//! ```
//! - `TTL` caps both kinds (defaults 3600 s success, 1800 s denial); MINTTL defaults to 5 s
//!   (lowered to TTL when TTL is smaller). `ZONES` limits caching to names in them (default:
//!   the server block's zones).
//! - `success`/`denial CAPACITY [TTL] [MINTTL]`: entries per kind, default 9,984, at least
//!   1,024 (smaller values are raised), spread over 256 shards; a full shard evicts a random
//!   entry. TTL and MINTTL set that kind's cap and floor (MINTTL at most TTL).
//! - `prefetch AMOUNT [DURATION=1m] [PERCENTAGE%=10%]`: an entry asked AMOUNT times with at
//!   most DURATION between two asks is refreshed in the background once less than PERCENTAGE
//!   of its TTL is left, while the cached reply is served.
//! - `serve_stale [DURATION=1h] [immediate|verify]`: an expired entry may be answered (TTL 0)
//!   for DURATION after it expired: `immediate` answers it and refreshes in the background,
//!   `verify` asks the rest of the chain first and answers the stale entry only if that fails.
//! - `servfail DURATION`: how long SERVFAIL is cached (default 5s, at most 5m, 0 disables).
//! - `disable success|denial [ZONES...]`: never cache that kind for names in ZONES (default:
//!   the cache's zones). kubeadm's Corefile disables both for `cluster.local`; cluster answers
//!   are live without it (above), but with both disabled a name costs one zone check instead of
//!   a cache look-up.
//! - `keepttl`: serve the TTLs as the chain returned them instead of counting down.
//!
//! `serve_stale_policy` and the `verify` TIMEOUT/RESPONSE_TTL arguments are not implemented: a
//! Corefile with them is refused.
//! Counters for metrics are in [`CacheStats`], reached through [`Cache::stats`].
//!
//! ## Examples
//! kubeadm's: cache everything for at most 30 s, but never the cluster's own answers:
//! ```corefile
//! .:53 {
//!     cache 30 {
//!         disable success cluster.local
//!         disable denial cluster.local
//!     }
//!     kubernetes cluster.local
//!     forward . /etc/resolv.conf
//! }
//! ```
//! A bigger cache that refreshes popular names before they expire and rides out an upstream
//! outage with stale answers:
//! ```corefile
//! .:53 {
//!     cache {
//!         success 50000 3600 30
//!         denial 10000 300
//!         prefetch 10 1m 20%
//!         serve_stale 1h verify
//!     }
//!     forward . /etc/resolv.conf
//! }
//! ```

mod metrics;
pub mod setup;
pub mod store;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{RData, Record, RecordType};

use self::store::{Clock, Entry, Kind, Store};
use crate::contract::{
    Next, Plugin, PluginError, PluginFuture, PluginResult, Query, Reply, Watch, in_zone,
};

pub use self::setup::setup;

/// Capacity and TTL bounds of one kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindConfig {
    pub capacity: usize,
    /// Seconds.
    pub max_ttl: u32,
    /// Seconds.
    pub min_ttl: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefetch {
    pub amount: u32,
    pub window: Duration,
    pub percentage: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeStale {
    pub window: Duration,
    /// `verify`: ask the chain first; `immediate` (false): answer stale and refresh.
    pub verify: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Lower-case with trailing dot.
    pub zones: Vec<String>,
    pub success: KindConfig,
    pub denial: KindConfig,
    pub prefetch: Option<Prefetch>,
    pub serve_stale: Option<ServeStale>,
    pub servfail: Duration,
    pub disable_success: Vec<String>,
    pub disable_denial: Vec<String>,
    pub keepttl: bool,
}

/// Plain counters, for the `prometheus` plugin to export (CoreDNS's `coredns_cache_*`).
/// Denial counts include cached SERVFAIL, as CoreDNS's do.
#[derive(Debug, Default)]
pub struct CacheStats {
    /// Lookups: queries in the cache's zones not disabled for both kinds.
    pub requests: AtomicU64,
    pub success_hits: AtomicU64,
    pub denial_hits: AtomicU64,
    /// Lookups that went to the rest of the chain, by the kind of reply it gave.
    pub success_misses: AtomicU64,
    pub denial_misses: AtomicU64,
    /// A reply that is not cached (other RCODEs, truncated, TTL 0, disabled kind).
    pub uncacheable_misses: AtomicU64,
    /// Entries now held (gauges).
    pub success_entries: AtomicU64,
    pub denial_entries: AtomicU64,
    /// Entries dropped to make room.
    pub success_evictions: AtomicU64,
    pub denial_evictions: AtomicU64,
    /// Background refreshes started by `prefetch`.
    pub prefetches: AtomicU64,
    /// Replies answered from an expired entry (`serve_stale`).
    pub served_stale: AtomicU64,
    /// Misses answered by waiting for an identical query already asking the chain.
    pub coalesced: AtomicU64,
}

impl CacheStats {
    pub fn misses(&self) -> u64 {
        self.success_misses.load(Ordering::Relaxed)
            + self.denial_misses.load(Ordering::Relaxed)
            + self.uncacheable_misses.load(Ordering::Relaxed)
    }

    fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Count an insert. Called under the shard's lock, so an entry's decrement always follows
    /// its increment and the gauges never dip below zero.
    fn inserted(&self, kind: Kind, displaced: &store::Displaced) {
        let entries = |k: Kind| match k {
            Kind::Success => &self.success_entries,
            Kind::Denial => &self.denial_entries,
        };
        CacheStats::bump(entries(kind));
        if let Some(old) = displaced.replaced {
            entries(old).fetch_sub(1, Ordering::Relaxed);
        }
        if let Some(evicted) = displaced.evicted {
            entries(evicted).fetch_sub(1, Ordering::Relaxed);
            CacheStats::bump(match evicted {
                Kind::Success => &self.success_evictions,
                Kind::Denial => &self.denial_evictions,
            });
        }
    }
}

/// Which kinds `disable` rules out for one name.
#[derive(Debug, Clone, Copy)]
struct Disabled {
    success: bool,
    denial: bool,
}

impl Disabled {
    fn of(self, kind: Kind) -> bool {
        match kind {
            Kind::Success => self.success,
            Kind::Denial => self.denial,
        }
    }
}

pub struct Cache {
    shared: Arc<Shared>,
}

/// What a background refresh needs: it outlives the query that started it.
struct Shared {
    config: Config,
    store: Store,
    stats: Arc<CacheStats>,
    clock: Clock,
    /// Misses on their way down the chain, by key: a second query for the same key waits for
    /// the first instead of asking the chain again (see [`Coalesced`]).
    in_flight: std::sync::Mutex<std::collections::HashMap<u64, tokio::sync::watch::Receiver<bool>>>,
}

/// How long a query waits for an identical one already on its way down the chain before it
/// asks the chain itself (a little more than `forward`'s overall timeout).
const COALESCE_WAIT: Duration = Duration::from_secs(6);

/// The first miss for a key: it asks the chain; when it is dropped (answered, failed or
/// cancelled), the key leaves `in_flight` and the queries waiting for it look again.
struct Coalesced<'a> {
    shared: &'a Shared,
    key: u64,
    done: tokio::sync::watch::Sender<bool>,
}

impl Drop for Coalesced<'_> {
    fn drop(&mut self) {
        self.shared
            .in_flight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&self.key);
        self.done.send_replace(true);
    }
}

/// What a miss does: lead (ask the chain), or wait for the query that leads.
enum MissRole<'a> {
    Lead(Coalesced<'a>),
    Wait(tokio::sync::watch::Receiver<bool>),
}

impl Shared {
    fn miss_role(&self, key: u64) -> MissRole<'_> {
        let mut in_flight = self
            .in_flight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(rx) = in_flight.get(&key) {
            return MissRole::Wait(rx.clone());
        }
        let (done, rx) = tokio::sync::watch::channel(false);
        in_flight.insert(key, rx);
        MissRole::Lead(Coalesced {
            shared: self,
            key,
            done,
        })
    }
}

/// Why a reply reaches [`Shared::admit`]: a lookup that missed, or a background refresh
/// (not a miss; it carries the refreshed entry's hit count over).
#[derive(Debug, Clone, Copy)]
enum Origin {
    Miss,
    Refresh { hits: u32 },
}

enum Lookup {
    Fresh(Arc<Entry>),
    Stale(Arc<Entry>),
    Miss,
}

impl Cache {
    pub fn new(config: Config) -> Self {
        Cache::with_clock(config, Clock::system(), store::SHARDS)
    }

    fn with_clock(config: Config, clock: Clock, shards: usize) -> Self {
        let store = Store::new(config.success.capacity, config.denial.capacity, shards);
        Cache {
            shared: Arc::new(Shared {
                config,
                store,
                stats: Arc::new(CacheStats::default()),
                clock,
                in_flight: std::sync::Mutex::default(),
            }),
        }
    }

    /// The counters, shared with whoever exports them.
    pub fn stats(&self) -> Arc<CacheStats> {
        self.shared.stats.clone()
    }

    fn disabled(&self, name: &str) -> Disabled {
        let config = &self.shared.config;
        Disabled {
            success: config.disable_success.iter().any(|z| in_zone(name, z)),
            denial: config.disable_denial.iter().any(|z| in_zone(name, z)),
        }
    }

    /// Answer from a fresh entry; maybe start a prefetch.
    fn serve_fresh(
        &self,
        entry: &Arc<Entry>,
        key: u64,
        query: &Query,
        next: Next<'_>,
        disabled: Disabled,
        now: u64,
    ) -> PluginResult {
        let shared = &self.shared;
        CacheStats::bump(match entry.kind {
            Kind::Success => &shared.stats.success_hits,
            Kind::Denial => &shared.stats.denial_hits,
        });
        if let Some(p) = shared.config.prefetch {
            let window = u64::try_from(p.window.as_millis()).unwrap_or(u64::MAX);
            let hits = entry.hit(window, now);
            let threshold = (u64::from(entry.ttl) * u64::from(p.percentage)).div_ceil(100);
            if hits >= p.amount
                && u64::from(entry.remaining(now)) <= threshold
                && !is_failure(&entry.value)
                && self.spawn_refresh(entry, key, query, next, disabled)
            {
                CacheStats::bump(&shared.stats.prefetches);
            }
        }
        shared.respond(entry, query, now, false)
    }

    /// Run the rest of the chain in a task and store what it answers (unless it fails: the
    /// entry being refreshed stays). Returns false when a refresh already runs or no runtime
    /// is there to run one.
    fn spawn_refresh(
        &self,
        entry: &Arc<Entry>,
        key: u64,
        query: &Query,
        next: Next<'_>,
        disabled: Disabled,
    ) -> bool {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return false;
        };
        if entry.refreshing.swap(true, Ordering::AcqRel) {
            return false;
        }
        let shared = self.shared.clone();
        let chain = next.to_owned_chain();
        let query = query.clone();
        let entry = entry.clone();
        runtime.spawn(async move {
            let result = chain.serve(&query).await;
            if !is_failure(&result) {
                let now = shared.clock.now_ms();
                // The refreshed reply goes nowhere but the cache.
                let _stored = shared.admit(
                    key,
                    &query,
                    result,
                    now,
                    disabled,
                    Origin::Refresh { hits: entry.hits() },
                );
            }
            entry.refreshing.store(false, Ordering::Release);
        });
        true
    }
}

impl Shared {
    fn lookup(&self, key: u64, query: &Query, now: u64) -> Lookup {
        let Some(entry) = self.store.get(key, query) else {
            return Lookup::Miss;
        };
        // A plugin answering from memory passed this name on and has changed since: it may
        // answer the name now. (Empty for a name no such plugin looked at: one length check.)
        if let Ok(reply) = &entry.value
            && reply.watches.iter().any(Watch::changed)
        {
            return Lookup::Miss;
        }
        let expires = entry.expires_ms();
        if now < expires {
            return Lookup::Fresh(entry);
        }
        match self.config.serve_stale {
            Some(stale)
                if !is_failure(&entry.value)
                    && now - expires
                        < u64::try_from(stale.window.as_millis()).unwrap_or(u64::MAX) =>
            {
                Lookup::Stale(entry)
            }
            _ => Lookup::Miss,
        }
    }

    /// The reply to send from an entry: TTLs counted down by its age (0 when stale), or as
    /// stored with `keepttl`; records owned by the question name spelled as this client spelled
    /// it (the entry may come from a query in another case, e.g. DNS 0x20).
    fn respond(&self, entry: &Entry, query: &Query, now: u64, stale: bool) -> PluginResult {
        if stale {
            CacheStats::bump(&self.stats.served_stale);
        }
        let stored = match &entry.value {
            Ok(reply) => reply,
            Err(e) => return Err(e.clone()),
        };
        let ttl = if stale {
            Some(0)
        } else if self.config.keepttl {
            None
        } else {
            Some(entry.remaining(now))
        };
        Ok(Reply {
            rcode: stored.rcode,
            authoritative: false,
            truncated: false,
            answers: copy(&stored.answers, ttl, query),
            authority: copy(&stored.authority, ttl, query),
            additionals: copy(&stored.additionals, ttl, query),
            plugin: "cache",
            relayed: stored.relayed,
            live: false,
            watches: Vec::new(),
        })
    }

    /// Store a reply from the chain if it is cacheable, and return it (TTLs set to the
    /// entry's lifetime unless `keepttl`).
    fn admit(
        &self,
        key: u64,
        query: &Query,
        mut result: PluginResult,
        now: u64,
        disabled: Disabled,
        origin: Origin,
    ) -> PluginResult {
        let cacheable = self.cacheable(&result).filter(|(k, _)| !disabled.of(*k));
        // Live data is cheaper to recompute than to cache, and must never be served stale: it
        // gets the TTLs a cached copy would have (as CoreDNS's clients see them), nothing more.
        let live = matches!(&result, Ok(reply) if reply.live);
        let hits = match origin {
            Origin::Refresh { hits } => hits,
            Origin::Miss => {
                CacheStats::bump(match cacheable {
                    _ if live => &self.stats.uncacheable_misses,
                    Some((Kind::Success, _)) => &self.stats.success_misses,
                    Some((Kind::Denial, _)) => &self.stats.denial_misses,
                    None => &self.stats.uncacheable_misses,
                });
                0
            }
        };
        let Some((kind, ttl)) = cacheable else {
            return result;
        };
        if !self.config.keepttl
            && let Ok(reply) = &mut result
        {
            for r in reply
                .answers
                .iter_mut()
                .chain(reply.authority.iter_mut())
                .chain(reply.additionals.iter_mut())
            {
                // Every record carries the entry's lifetime, as CoreDNS writes them.
                r.ttl = ttl;
            }
        }
        if live {
            return result;
        }
        let entry = Entry::new(query, kind, result.clone(), now, ttl).with_hits(hits);
        self.store.insert(key, Arc::new(entry), &self.stats);
        result
    }

    /// The kind and lifetime (seconds) of a reply, or `None` when it must not be cached.
    fn cacheable(&self, result: &PluginResult) -> Option<(Kind, u32)> {
        let reply = match result {
            Ok(reply) => reply,
            // Nothing answered, `forward` shed load, or `acl` dropped it: none says anything
            // about the name.
            Err(
                PluginError::NoNextPlugin
                | PluginError::Overloaded { .. }
                | PluginError::Dropped(_),
            ) => return None,
            Err(PluginError::Upstream { .. } | PluginError::Internal { .. }) => {
                return self.servfail();
            }
        };
        if reply.truncated {
            return None;
        }
        match reply.rcode {
            ResponseCode::NoError if !reply.answers.is_empty() => {
                let min = reply
                    .answers
                    .iter()
                    .chain(&reply.authority)
                    .chain(&reply.additionals)
                    .filter(|r| r.record_type() != RecordType::OPT)
                    .map(|r| r.ttl)
                    .min()?;
                bounded(min, self.config.success).map(|ttl| (Kind::Success, ttl))
            }
            ResponseCode::NoError | ResponseCode::NXDomain => {
                let negative = reply.authority.iter().find_map(|r| match &r.data {
                    RData::SOA(soa) => Some(r.ttl.min(soa.minimum)),
                    _ => None,
                })?;
                bounded(negative, self.config.denial).map(|ttl| (Kind::Denial, ttl))
            }
            ResponseCode::ServFail => self.servfail(),
            _ => None,
        }
    }

    fn servfail(&self) -> Option<(Kind, u32)> {
        let secs = self.config.servfail.as_millis().div_ceil(1000);
        match u32::try_from(secs) {
            Ok(0) | Err(_) => None,
            Ok(secs) => Some((Kind::Denial, secs)),
        }
    }
}

/// A TTL of 0 means "do not cache" at the source; otherwise keep it within the kind's bounds.
fn bounded(ttl: u32, kind: KindConfig) -> Option<u32> {
    (ttl > 0).then(|| ttl.clamp(kind.min_ttl.min(kind.max_ttl), kind.max_ttl))
}

fn is_failure(result: &PluginResult) -> bool {
    match result {
        Ok(reply) => reply.rcode == ResponseCode::ServFail,
        Err(_) => true,
    }
}

fn copy(records: &[Record], ttl: Option<u32>, query: &Query) -> Vec<Record> {
    records
        .iter()
        .map(|r| {
            let mut r = r.clone();
            if let Some(ttl) = ttl {
                r.ttl = r.ttl.min(ttl);
            }
            // `==` on names ignores case; `eq_case` does not.
            if r.name == query.name && !r.name.eq_case(&query.name) {
                r.name = query.name.clone();
            }
            r
        })
        .collect()
}

impl Plugin for Cache {
    fn name(&self) -> &'static str {
        "cache"
    }

    fn serve<'a>(&'a self, query: &'a Query, next: Next<'a>) -> PluginFuture<'a> {
        let shared = &*self.shared;
        if !shared.config.zones.iter().any(|z| in_zone(&query.lower, z)) {
            return next.serve(query);
        }
        let disabled = self.disabled(&query.lower);
        if disabled.success && disabled.denial {
            return next.serve(query);
        }
        CacheStats::bump(&shared.stats.requests);
        let key = shared.store.key(query);
        let now = shared.clock.now_ms();
        match shared.lookup(key, query, now) {
            Lookup::Fresh(entry) => {
                PluginFuture::ready(self.serve_fresh(&entry, key, query, next, disabled, now))
            }
            Lookup::Stale(entry) if shared.config.serve_stale.is_some_and(|s| s.verify) => {
                next.serve(query).map(move |result| {
                    if is_failure(&result) {
                        shared.respond(&entry, query, now, true)
                    } else {
                        shared.admit(
                            key,
                            query,
                            result,
                            shared.clock.now_ms(),
                            disabled,
                            Origin::Miss,
                        )
                    }
                })
            }
            Lookup::Stale(entry) => {
                self.spawn_refresh(&entry, key, query, next, disabled);
                PluginFuture::ready(shared.respond(&entry, query, now, true))
            }
            Lookup::Miss => match shared.miss_role(key) {
                MissRole::Lead(lead) => next.serve(query).map(move |result| {
                    let reply = shared.admit(
                        key,
                        query,
                        result,
                        shared.clock.now_ms(),
                        disabled,
                        Origin::Miss,
                    );
                    drop(lead);
                    reply
                }),
                MissRole::Wait(mut done) => PluginFuture::boxed(async move {
                    let _ = tokio::time::timeout(COALESCE_WAIT, done.wait_for(|d| *d)).await;
                    let now = shared.clock.now_ms();
                    if let Lookup::Fresh(entry) = shared.lookup(key, query, now) {
                        CacheStats::bump(&shared.stats.coalesced);
                        return shared.respond(&entry, query, now, false);
                    }
                    // Not cacheable (or the first query failed): ask the chain for this one.
                    let result = next.serve(query).await;
                    shared.admit(
                        key,
                        query,
                        result,
                        shared.clock.now_ms(),
                        disabled,
                        Origin::Miss,
                    )
                }),
            },
        }
    }
}

#[cfg(test)]
mod tests;
