//! The view the DNS `eureka` plugin answers from: per lower-cased application name, the UP
//! instances with a parseable IP. Derived from the registry core: it is told when applications
//! come and go (as a [`ChangeListener`]) and reads their change generation lazily: a change
//! only bumps the generation; the first read after it rebuilds that application's view (so bulk
//! registrations cost nothing until someone asks), every other read is a map lookup, two atomic
//! loads and an `Arc` clone, with no lock held across anything slow.
//! Lease expiry is checked at read time against the instances' expiry atomics, so an instance
//! whose lease ran out is gone from the answer before the eviction task removes it.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwapOption;
use dashmap::DashMap;

use super::lease::{AppSlot, InstanceSlot};
use super::locks::lock;
use super::model::Status;
use super::registry::ChangeListener;

/// The DNS view of one application.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsApp {
    /// The application's UP, unexpired instances, ordered by instance id.
    pub instances: Vec<DnsInstance>,
}

/// One instance in the DNS view.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsInstance {
    /// `ipAddr`.
    pub addr: IpAddr,
    /// `hostName`.
    pub host_name: String,
    /// `port.$`, when `port.@enabled`.
    pub port: Option<u16>,
    /// `securePort.$`, when `securePort.@enabled`.
    pub secure_port: Option<u16>,
}

/// One application's DNS view plus what is needed to filter expired leases cheaply.
struct DnsEntry {
    app: Arc<DnsApp>,
    /// Parallel to `app.instances`.
    slots: Vec<Arc<InstanceSlot>>,
    /// A lower bound of the earliest lease expiry (renewals only move expiries later).
    min_expiry: AtomicU64,
}

impl DnsEntry {
    fn new(instances: Vec<DnsInstance>, slots: Vec<Arc<InstanceSlot>>) -> Self {
        let min = slots
            .iter()
            .map(|s| s.expires_at_ms())
            .min()
            .unwrap_or(u64::MAX);
        Self {
            app: Arc::new(DnsApp { instances }),
            slots,
            min_expiry: AtomicU64::new(min),
        }
    }

    /// The view at `now_ms`: the shared `Arc` while no lease has expired (the common case),
    /// else a filtered copy; `None` when nothing is left.
    fn view(&self, now_ms: u64) -> Option<Arc<DnsApp>> {
        if now_ms <= self.min_expiry.load(Ordering::Relaxed) {
            return Some(Arc::clone(&self.app));
        }
        let mut min = u64::MAX;
        let mut expired = 0usize;
        for s in &self.slots {
            let e = s.expires_at_ms();
            if now_ms > e {
                expired += 1;
            } else {
                min = min.min(e);
            }
        }
        if expired == 0 {
            self.min_expiry.store(min, Ordering::Relaxed);
            return Some(Arc::clone(&self.app));
        }
        if expired == self.slots.len() {
            return None;
        }
        let instances = self
            .app
            .instances
            .iter()
            .zip(&self.slots)
            .filter(|(_, s)| now_ms <= s.expires_at_ms())
            .map(|(i, _)| i.clone())
            .collect();
        Some(Arc::new(DnsApp { instances }))
    }
}

/// The DNS view of the whole registry: each application by its lower-cased name.
#[derive(Default)]
pub(crate) struct DnsView {
    apps: DashMap<String, Arc<DnsState>>,
}

impl DnsView {
    /// The view of one application at `now_ms`, looked up by its lower-cased name; `None` when
    /// it has no UP, unexpired instance with an IP.
    pub(crate) fn app(&self, app_lowercase: &str, now_ms: u64) -> Option<Arc<DnsApp>> {
        // Clone the state and drop the map guard at once: a rebuild must not hold the shard.
        let state = self
            .apps
            .get(app_lowercase)
            .map(|e| Arc::clone(e.value()))?;
        state.view(now_ms)
    }
}

impl ChangeListener for DnsView {
    fn app_added(&self, app: &Arc<AppSlot>) {
        self.apps.insert(
            app.name.to_lowercase(),
            Arc::new(DnsState::new(Arc::clone(app))),
        );
    }

    // Read lazily: `DnsState::view` compares the application's generation.
    fn instance_changed(&self, _app: &Arc<AppSlot>, _id: &str) {}

    fn app_removed(&self, app: &Arc<AppSlot>) {
        self.apps
            .remove_if(&app.name.to_lowercase(), |_, s| Arc::ptr_eq(&s.app, app));
    }
}

/// The DNS side of one application: the view built for it, and the generation it was built at.
struct DnsState {
    app: Arc<AppSlot>,
    built: ArcSwapOption<Built>,
    rebuild: Mutex<()>,
}

struct Built {
    generation: u64,
    /// `None`: no UP instance with a valid IP.
    entry: Option<DnsEntry>,
}

impl DnsState {
    fn new(app: Arc<AppSlot>) -> Self {
        Self {
            app,
            built: ArcSwapOption::empty(),
            rebuild: Mutex::new(()),
        }
    }

    /// The view at `now_ms`, rebuilt first if the application changed.
    fn view(&self, now_ms: u64) -> Option<Arc<DnsApp>> {
        let generation = self.app.generation();
        {
            let built = self.built.load();
            if let Some(b) = built.as_ref()
                && b.generation == generation
            {
                return b.entry.as_ref()?.view(now_ms);
            }
        }
        let _one_builder = lock(&self.rebuild);
        let generation = self.app.generation();
        if let Some(b) = self.built.load_full()
            && b.generation == generation
        {
            return b.entry.as_ref()?.view(now_ms);
        }
        let built = Arc::new(Built {
            generation,
            entry: build(&self.app),
        });
        self.built.store(Some(Arc::clone(&built)));
        built.entry.as_ref()?.view(now_ms)
    }
}

fn build(app: &AppSlot) -> Option<DnsEntry> {
    let mut items: Vec<_> = app
        .slots()
        .into_iter()
        .map(|s| (s.record.load_full(), s))
        .filter(|(r, _)| r.info.status == Status::Up)
        .collect();
    items.sort_by(|a, b| a.0.info.instance_id.cmp(&b.0.info.instance_id));
    let mut instances = Vec::with_capacity(items.len());
    let mut slots = Vec::with_capacity(items.len());
    for (rec, slot) in items {
        let Ok(addr) = rec.info.ip_addr.trim().parse() else {
            continue;
        };
        instances.push(DnsInstance {
            addr,
            host_name: rec.info.host_name.clone(),
            port: rec.info.port_enabled.then_some(rec.info.port),
            secure_port: rec.info.secure_port_enabled.then_some(rec.info.secure_port),
        });
        slots.push(slot);
    }
    if instances.is_empty() {
        None
    } else {
        Some(DnsEntry::new(instances, slots))
    }
}
