//! The rendered `GET /apps/delta`: each application's part of the delta queue rendered once
//! per format and reused while that part is unchanged, and the whole last answer per (format,
//! gzip) reused while the queue is unchanged.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use super::body::Pieces;
use super::chunk::Chunk;
use crate::eureka::lease::{InstanceRecord, InstanceSlot};
use crate::eureka::locks::lock;
use crate::eureka::par::par_map;
use crate::eureka::registry::Registry;
use crate::eureka::render::{self, Format};

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

/// The delta listing's caches.
#[derive(Default)]
pub(crate) struct DeltaListing {
    /// Rendered delta applications, JSON then XML.
    chunks: [DeltaChunks; 2],
    /// JSON plain, JSON gzip, XML plain, XML gzip.
    bodies: [DeltaBody; 4],
}

impl DeltaListing {
    /// `GET /apps/delta`: the changes of the retention window, each instance once with its
    /// latest state, grouped by application, and the hash code of the whole registry. An
    /// application's part is rendered again only when its queued changes changed.
    pub(crate) fn listing(&self, core: &Registry, format: Format, gzip: bool) -> Vec<Bytes> {
        let cache = &self.chunks[usize::from(format == Format::Xml)];
        let body_cache = &self.bodies[usize::from(format == Format::Xml) * 2 + usize::from(gzip)];
        // (application, first seq, last seq, cached chunk or the items to render)
        type Part = (
            String,
            u64,
            u64,
            Result<Arc<Chunk>, Vec<(Arc<InstanceRecord>, Arc<InstanceSlot>)>>,
        );
        let found = core.with_delta(|delta, version, counts| {
            let key = (version, delta.len());
            if let Some((v, n, body)) = lock(body_cache).as_ref()
                && (*v, *n) == key
            {
                return ControlFlow::Break(body.clone());
            }
            let mut cached = lock(cache);
            cached.retain(|app, _| delta.has_app(app));
            let parts: Vec<Part> = delta
                .by_app()
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
            ControlFlow::Continue((key, render::hashcode(counts), parts))
        });
        // Break: the body of the same queue content, answered before.
        let (key, hash, parts) = match found {
            ControlFlow::Continue(parts) => parts,
            ControlFlow::Break(body) => return body,
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
    Chunk::new(Bytes::from(out), [0; 5], keep.len())
}
