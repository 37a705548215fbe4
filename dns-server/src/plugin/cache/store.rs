//! The cache's memory: a fixed number of shards, each a mutex over a small map, bounded per
//! shard and per kind, with random eviction when a shard is full (as CoreDNS evicts). A guard is
//! held for one lookup or one insert and never across an `.await`; entries are immutable
//! `Arc`s, so a reader clones one and builds its reply after the guard is gone.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use super::CacheStats;
use crate::contract::{PluginResult, Query};

/// CoreDNS's shard count: 9,984 entries per kind are 39 per shard.
pub const SHARDS: usize = 256;

/// Which capacity, TTL bounds and `disable` list an entry falls under. SERVFAIL is a denial
/// here, as in CoreDNS (its negative cache holds NXDOMAIN, NODATA and SERVFAIL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Success,
    Denial,
}

impl Kind {
    fn index(self) -> usize {
        match self {
            Kind::Success => 0,
            Kind::Denial => 1,
        }
    }
}

/// Milliseconds since the cache was built: the system's monotonic clock, or a hand-moved one
/// in tests (so TTLs expire without sleeping).
#[derive(Clone)]
pub struct Clock(ClockSource);

#[derive(Clone)]
enum ClockSource {
    System(Instant),
    #[cfg(test)]
    Manual(Arc<AtomicU64>),
}

impl Clock {
    pub fn system() -> Self {
        Clock(ClockSource::System(Instant::now()))
    }

    /// A clock that moves only when the returned handle says so.
    #[cfg(test)]
    pub fn manual() -> (Self, ManualClock) {
        let ms = Arc::new(AtomicU64::new(0));
        (Clock(ClockSource::Manual(ms.clone())), ManualClock(ms))
    }

    pub fn now_ms(&self) -> u64 {
        match &self.0 {
            ClockSource::System(base) => {
                u64::try_from(base.elapsed().as_millis()).unwrap_or(u64::MAX)
            }
            #[cfg(test)]
            ClockSource::Manual(ms) => ms.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
pub struct ManualClock(Arc<AtomicU64>);

#[cfg(test)]
impl ManualClock {
    pub fn advance(&self, by: std::time::Duration) {
        let ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.0.fetch_add(ms, Ordering::Relaxed);
    }
}

/// One cached answer. Immutable except for the prefetch bookkeeping, which is atomics.
pub struct Entry {
    name: Box<str>,
    qtype: u16,
    qclass: u16,
    dnssec_ok: bool,
    pub kind: Kind,
    /// The reply as stored (TTLs already cut to `ttl` unless `keepttl`), or a failure.
    pub value: PluginResult,
    pub stored_ms: u64,
    /// Seconds the entry is fresh for.
    pub ttl: u32,
    hits: AtomicU32,
    last_hit_ms: AtomicU64,
    /// Set while a background refresh (prefetch or serve_stale) runs, so only one does.
    pub refreshing: AtomicBool,
}

impl Entry {
    pub fn new(query: &Query, kind: Kind, value: PluginResult, now_ms: u64, ttl: u32) -> Self {
        Entry {
            name: query.lower.as_str().into(),
            qtype: u16::from(query.qtype),
            qclass: u16::from(query.qclass),
            dnssec_ok: query.dnssec_ok,
            kind,
            value,
            stored_ms: now_ms,
            ttl,
            hits: AtomicU32::new(0),
            last_hit_ms: AtomicU64::new(now_ms),
            refreshing: AtomicBool::new(false),
        }
    }

    /// Start with the hit count of the entry this one refreshes (CoreDNS carries it over, so
    /// a popular name keeps being prefetched).
    pub fn with_hits(self, hits: u32) -> Self {
        self.hits.store(hits, Ordering::Relaxed);
        self
    }

    /// The full key, to tell a hash collision from a hit.
    fn matches(&self, query: &Query) -> bool {
        self.qtype == u16::from(query.qtype)
            && self.qclass == u16::from(query.qclass)
            && self.dnssec_ok == query.dnssec_ok
            && *self.name == *query.lower
    }

    pub fn expires_ms(&self) -> u64 {
        self.stored_ms
            .saturating_add(u64::from(self.ttl).saturating_mul(1000))
    }

    /// Whole seconds of TTL left: the TTL minus the whole seconds elapsed, never below 0.
    pub fn remaining(&self, now_ms: u64) -> u32 {
        let age = now_ms.saturating_sub(self.stored_ms) / 1000;
        u32::try_from(u64::from(self.ttl).saturating_sub(age)).unwrap_or(0)
    }

    pub fn hits(&self) -> u32 {
        self.hits.load(Ordering::Relaxed)
    }

    /// Count a hit and return how many there were in a row with at most `window_ms` between
    /// two of them (CoreDNS's `Freq`). Races only lose a count, which prefetch tolerates.
    pub fn hit(&self, window_ms: u64, now_ms: u64) -> u32 {
        let last = self.last_hit_ms.swap(now_ms, Ordering::Relaxed);
        if now_ms.saturating_sub(last) > window_ms {
            self.hits.store(1, Ordering::Relaxed);
            1
        } else {
            self.hits.fetch_add(1, Ordering::Relaxed).saturating_add(1)
        }
    }
}

/// The key is already a hash: use it as is.
#[derive(Default)]
struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type Map = HashMap<u64, Arc<Entry>, BuildHasherDefault<IdentityHasher>>;

#[derive(Default)]
struct Shard {
    map: Map,
    /// Entries per [`Kind`].
    counts: [usize; 2],
}

/// What an insert displaced, for the entry and eviction counters.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Displaced {
    /// The kind of the entry the same key held before.
    pub replaced: Option<Kind>,
    /// The kind of a random entry evicted to make room.
    pub evicted: Option<Kind>,
}

pub struct Store {
    shards: Box<[Mutex<Shard>]>,
    /// Capacity of one shard per [`Kind`].
    per_shard: [usize; 2],
    hasher: RandomState,
}

impl Store {
    /// `success` and `denial` entries in all, spread over `shards` shards (at least one entry
    /// per shard and kind).
    pub fn new(success: usize, denial: usize, shards: usize) -> Self {
        let shards = shards.max(1);
        let per = |capacity: usize| capacity.div_ceil(shards).max(1);
        Store {
            shards: (0..shards).map(|_| Mutex::new(Shard::default())).collect(),
            per_shard: [per(success), per(denial)],
            hasher: RandomState::new(),
        }
    }

    /// The hash of (name, type, class, DO); randomly seeded so clients cannot aim at a shard.
    pub fn key(&self, query: &Query) -> u64 {
        let mut h = self.hasher.build_hasher();
        h.write(query.lower.as_bytes());
        h.write_u16(u16::from(query.qtype));
        h.write_u16(u16::from(query.qclass));
        h.write_u8(u8::from(query.dnssec_ok));
        h.finish()
    }

    fn shard(&self, key: u64) -> MutexGuard<'_, Shard> {
        // Middle bits: the map itself uses the low bits (bucket) and the top 7 (tag).
        let index = usize::try_from((key >> 32) & 0xffff).unwrap_or(0) % self.shards.len();
        match self.shards[index].lock() {
            Ok(guard) => guard,
            // Nothing panics while holding a shard; if something did, the map is still whole.
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    pub fn get(&self, key: u64, query: &Query) -> Option<Arc<Entry>> {
        let shard = self.shard(key);
        shard
            .map
            .get(&key)
            .filter(|e| e.matches(query))
            .map(Arc::clone)
    }

    /// Insert or replace; when the entry's kind is at capacity in its shard, evict a random
    /// entry of that kind first. The entry gauges in `stats` are updated under the lock.
    pub fn insert(&self, key: u64, entry: Arc<Entry>, stats: &CacheStats) -> Displaced {
        let kind = entry.kind;
        let mut shard = self.shard(key);
        let mut displaced = Displaced::default();
        let same_kind = shard.map.get(&key).map(|e| e.kind) == Some(kind);
        if !same_kind && shard.counts[kind.index()] >= self.per_shard[kind.index()] {
            let of_kind = shard.counts[kind.index()];
            let pick = usize::try_from(rand::random::<u32>()).unwrap_or(0) % of_kind.max(1);
            let victim = shard
                .map
                .iter()
                .filter(|(k, e)| e.kind == kind && **k != key)
                .nth(pick)
                .map(|(k, _)| *k);
            if let Some(victim) = victim
                && shard.map.remove(&victim).is_some()
            {
                shard.counts[kind.index()] -= 1;
                displaced.evicted = Some(kind);
            }
        }
        if let Some(old) = shard.map.insert(key, entry) {
            shard.counts[old.kind.index()] -= 1;
            displaced.replaced = Some(old.kind);
        }
        shard.counts[kind.index()] += 1;
        stats.inserted(kind, &displaced);
        displaced
    }

    /// Entries of `kind` across all shards (tests and sanity checks; takes every lock).
    pub fn len(&self, kind: Kind) -> usize {
        (0..self.shards.len())
            .map(|i| match self.shards[i].lock() {
                Ok(s) => s.counts[kind.index()],
                Err(p) => p.into_inner().counts[kind.index()],
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use hickory_proto::op::ResponseCode;
    use hickory_proto::rr::{Name, RecordType};

    use super::*;
    use crate::contract::Reply;

    fn query(name: &str, qtype: RecordType) -> Query {
        Query::new(Name::from_ascii(name).unwrap(), qtype)
    }

    fn entry(q: &Query, kind: Kind, now: u64, ttl: u32) -> Arc<Entry> {
        Arc::new(Entry::new(
            q,
            kind,
            Ok(Reply::new(ResponseCode::NoError, "test")),
            now,
            ttl,
        ))
    }

    #[test]
    fn remaining_ttl_counts_whole_seconds_down_to_zero() {
        let q = query("a.example.", RecordType::A);
        let e = entry(&q, Kind::Success, 10_000, 3);
        assert_eq!(e.remaining(10_000), 3);
        assert_eq!(e.remaining(10_999), 3);
        assert_eq!(e.remaining(11_000), 2);
        assert_eq!(e.remaining(12_500), 1);
        assert_eq!(e.remaining(13_000), 0);
        assert_eq!(e.remaining(99_000), 0);
        assert_eq!(e.expires_ms(), 13_000);
    }

    #[test]
    fn keys_separate_type_class_and_do_bit_and_ignore_case() {
        let store = Store::new(100, 100, 4);
        let stats = CacheStats::default();
        let a = query("Web.Example.", RecordType::A);
        let lower = query("web.example.", RecordType::A);
        let aaaa = query("web.example.", RecordType::AAAA);
        let mut dnssec = query("web.example.", RecordType::A);
        dnssec.dnssec_ok = true;
        assert_eq!(store.key(&a), store.key(&lower));
        assert_ne!(store.key(&a), store.key(&aaaa));
        assert_ne!(store.key(&a), store.key(&dnssec));
        store.insert(store.key(&a), entry(&a, Kind::Success, 0, 30), &stats);
        assert!(store.get(store.key(&lower), &lower).is_some());
        assert!(store.get(store.key(&aaaa), &aaaa).is_none());
        assert!(store.get(store.key(&dnssec), &dnssec).is_none());
        // A colliding hash with another question is a miss, not a wrong answer.
        assert!(store.get(store.key(&a), &aaaa).is_none());
    }

    #[test]
    fn a_full_shard_evicts_a_random_entry_of_the_same_kind() {
        let store = Store::new(3, 2, 1);
        let stats = CacheStats::default();
        let names: Vec<Query> = (0..10)
            .map(|i| query(&format!("n{i}.example."), RecordType::A))
            .collect();
        let mut evicted = 0;
        for q in &names[..3] {
            assert_eq!(
                store.insert(store.key(q), entry(q, Kind::Success, 0, 30), &stats),
                Displaced::default()
            );
        }
        for q in &names[3..5] {
            assert_eq!(
                store
                    .insert(store.key(q), entry(q, Kind::Denial, 0, 30), &stats)
                    .evicted,
                None
            );
        }
        for q in &names[5..] {
            let d = store.insert(store.key(q), entry(q, Kind::Success, 0, 30), &stats);
            assert_eq!(d.evicted, Some(Kind::Success));
            evicted += 1;
            assert_eq!(store.len(Kind::Success), 3);
            assert_eq!(
                store.len(Kind::Denial),
                2,
                "denials are never evicted for successes"
            );
        }
        assert_eq!(evicted, 5);
        // The newest is always present.
        let last = &names[9];
        assert!(store.get(store.key(last), last).is_some());
        // Replacing a key is not an eviction.
        let d = store.insert(store.key(last), entry(last, Kind::Success, 5, 30), &stats);
        assert_eq!(
            d,
            Displaced {
                replaced: Some(Kind::Success),
                evicted: None
            }
        );
        // A key changing kind moves between the counts.
        let d = store.insert(store.key(last), entry(last, Kind::Denial, 6, 30), &stats);
        assert_eq!(d.replaced, Some(Kind::Success));
        assert_eq!(d.evicted, Some(Kind::Denial));
        assert_eq!(store.len(Kind::Success), 2);
        assert_eq!(store.len(Kind::Denial), 2);
        let gauge = |a: &AtomicU64| a.load(Ordering::Relaxed);
        assert_eq!(gauge(&stats.success_entries), 2);
        assert_eq!(gauge(&stats.denial_entries), 2);
        assert_eq!(gauge(&stats.success_evictions), 5);
        assert_eq!(gauge(&stats.denial_evictions), 1);
    }

    #[test]
    fn hits_count_only_within_the_window() {
        let q = query("a.example.", RecordType::A);
        let e = entry(&q, Kind::Success, 0, 30);
        assert_eq!(e.hit(1000, 100), 1);
        assert_eq!(e.hit(1000, 900), 2);
        assert_eq!(e.hit(1000, 1800), 3);
        assert_eq!(e.hit(1000, 5000), 1);
        assert_eq!(e.hits(), 1);
    }
}
