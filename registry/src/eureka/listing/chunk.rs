//! The rendered listing of one application, kept between requests: its instances split into
//! groups by a hash of the instance id (one group up to 1,024 instances, then up to 1,024
//! groups of about 512), each group rendered once per format and deflated once on demand.
//! A change marks only its instance's group for re-rendering.

use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;

use crate::eureka::gzip::{DeflatedChunk, deflate_chunk};
use crate::eureka::lease::{AppSlot, InstanceRecord, InstanceSlot};
use crate::eureka::locks::lock;
use crate::eureka::render::{self, Format, LeaseView, StatusCounts};

/// A rendered group of one application's instances (`inst,inst,...` in JSON, concatenated
/// `<instance>`s in XML), with its status counts and, once asked for, its deflated form.
pub(crate) struct Chunk {
    pub plain: Bytes,
    pub counts: StatusCounts,
    pub len: usize,
    deflated: OnceLock<Option<DeflatedChunk>>,
}

impl Chunk {
    pub(crate) fn new(plain: Bytes, counts: StatusCounts, len: usize) -> Self {
        Self {
            plain,
            counts,
            len,
            deflated: OnceLock::new(),
        }
    }

    pub(crate) fn deflated(&self) -> Option<&DeflatedChunk> {
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

impl RenderCache {
    fn new() -> Self {
        Self {
            bits: 0,
            epoch: 0,
            groups: vec![GroupCache::default()],
        }
    }

    /// Marks the group holding `id` for re-rendering (all groups when the split changes).
    fn invalidate(&mut self, id: &str, instances: usize) {
        let cache = self;
        cache.epoch += 1;
        let epoch = cache.epoch;
        let bits = desired_bits(instances);
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
}

/// One application and its render cache.
pub(crate) struct AppListing {
    pub(crate) app: Arc<AppSlot>,
    cache: Mutex<RenderCache>,
}

impl AppListing {
    pub(crate) fn new(app: Arc<AppSlot>) -> Self {
        Self {
            app,
            cache: Mutex::new(RenderCache::new()),
        }
    }

    /// Marks the group holding `id` for re-rendering (all groups when the split changes).
    pub(crate) fn invalidate(&self, id: &str) {
        let instances = self.app.len();
        lock(&self.cache).invalidate(id, instances);
    }

    /// The application's rendered groups in `format` (empty groups included), rendering and
    /// caching the ones a change invalidated.
    pub(crate) fn chunks(&self, format: Format) -> Vec<Arc<Chunk>> {
        let (bits, snapshot): (u32, GroupSnapshot) = {
            let cache = lock(&self.cache);
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
        self.app.for_each(|id, slot| {
            if let Some(Some(b)) = bucket_of.get(group_of(id, bits)) {
                buckets[*b].push(Arc::clone(slot));
            }
        });
        let rendered: Vec<Arc<Chunk>> = buckets
            .iter()
            .map(|slots| Arc::new(render_chunk(format, slots)))
            .collect();
        {
            let mut cache = lock(&self.cache);
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
    Chunk::new(Bytes::from(out), counts, items.len())
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
