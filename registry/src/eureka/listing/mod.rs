//! The rendered listings, derived from the registry core: `GET /apps` and `GET /apps/{APP}`
//! from each application's cached chunks (`chunk.rs`), invalidated group by group as the core
//! tells of changes (a [`ChangeListener`]); the delta (`delta.rs`); `GET /vips/...` rendered on
//! demand; and the body types they answer with (`body.rs`).

mod body;
mod chunk;
mod delta;

use std::sync::Arc;

use bytes::Bytes;
use dashmap::DashMap;

pub(crate) use body::{Doc, Pieces};
pub(crate) use delta::DeltaListing;

use crate::eureka::lease::{AppSlot, InstanceRecord};
use crate::eureka::model::InstanceInfo;
use crate::eureka::par::par_map;
use crate::eureka::registry::{ChangeListener, Registry, RegistryError};
use crate::eureka::render::{self, Format, LeaseView};
use chunk::{AppListing, Chunk};

/// An application's name and its instances with their leases, ready to render.
type AppGroup = (String, Vec<(Arc<InstanceRecord>, LeaseView)>);

fn not_found_app(app: &str) -> RegistryError {
    RegistryError::NotFound(format!("application {app} is not registered"))
}

/// The listings' per-application render caches, by application name.
#[derive(Default)]
pub(crate) struct Listings {
    apps: DashMap<String, Arc<AppListing>>,
}

impl ChangeListener for Listings {
    fn app_added(&self, app: &Arc<AppSlot>) {
        self.apps
            .insert(app.name.clone(), Arc::new(AppListing::new(Arc::clone(app))));
    }

    fn instance_changed(&self, app: &Arc<AppSlot>, id: &str) {
        if let Some(listing) = self.apps.get(&app.name)
            && Arc::ptr_eq(&listing.app, app)
        {
            listing.invalidate(id);
        }
    }

    fn app_removed(&self, app: &Arc<AppSlot>) {
        self.apps
            .remove_if(&app.name, |_, l| Arc::ptr_eq(&l.app, app));
    }
}

impl Listings {
    fn sorted(&self) -> Vec<Arc<AppListing>> {
        let mut apps: Vec<Arc<AppListing>> =
            self.apps.iter().map(|e| Arc::clone(e.value())).collect();
        apps.sort_by(|a, b| a.app.name.cmp(&b.app.name));
        apps
    }

    /// `GET /apps`: every application, every instance. `gzip`: compress the chunks now (in
    /// parallel) rather than while assembling the answer.
    pub(crate) fn full(&self, core: &Registry, format: Format, gzip: bool) -> Pieces {
        let version = core.version();
        let apps = self.sorted();
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
            render::app_open(p.text(), format, &app.app.name);
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
    pub(crate) fn app(
        &self,
        app: &str,
        format: Format,
        gzip: bool,
    ) -> Result<Pieces, RegistryError> {
        let a = self
            .apps
            .get(app)
            .map(|e| Arc::clone(e.value()))
            .ok_or_else(|| not_found_app(app))?;
        let chunks = ready_chunks(&a, format, false);
        if chunks.is_empty() {
            return Err(not_found_app(app));
        }
        if gzip {
            par_map(&chunks, |c| c.deflated().is_some());
        }
        let mut p = Pieces::default();
        render::single_app_open(p.text(), format);
        render::app_open(p.text(), format, &a.app.name);
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
    pub(crate) fn vip(&self, core: &Registry, vip: &str, secure: bool, format: Format) -> Doc {
        let version = core.version();
        let mut groups: Vec<AppGroup> = Vec::new();
        let mut counts = [0u64; 5];
        for app in core.sorted_apps() {
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

/// An application's non-empty chunks, deflated already when `gzip`.
fn ready_chunks(app: &AppListing, format: Format, gzip: bool) -> Vec<Arc<Chunk>> {
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
