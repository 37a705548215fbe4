//! When each watched kind last heard from the API server.
//!
//! kube's watcher consumes BOOKMARK events itself, so the source cannot see them as events. The
//! client's HTTP layer ([`super::layer`]) sees every response and every chunk of a watch stream
//! instead, and stamps the kind here. A healthy watch gets a bookmark at least every minute or so
//! even when nothing changes, so a long silence means the watch is dead without having said so
//! (CoreDNS's "stale until restart" failure), and [`super::watch`] restarts it with a relist.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use crate::store::ObjectKind;

fn index(kind: ObjectKind) -> usize {
    match kind {
        ObjectKind::Namespace => 0,
        ObjectKind::Service => 1,
        ObjectKind::EndpointSlice => 2,
        ObjectKind::Pod => 3,
    }
}

/// The kind a request path is about: its last segment is the resource's plural name
/// (`/api/v1/namespaces/apps/services` → Service, `/api/v1/namespaces` → Namespace).
pub(crate) fn kind_of_path(path: &str) -> Option<ObjectKind> {
    match path.trim_end_matches('/').rsplit('/').next()? {
        "namespaces" => Some(ObjectKind::Namespace),
        "services" => Some(ObjectKind::Service),
        "endpointslices" => Some(ObjectKind::EndpointSlice),
        "pods" => Some(ObjectKind::Pod),
        _ => None,
    }
}

/// Per-kind counters, shared by the HTTP layer (writer of `last_heard`) and the watch tasks.
#[derive(Debug)]
pub(crate) struct Activity {
    base: Instant,
    /// Nanoseconds since `base` of the last response or watch chunk; 0 = never.
    last_heard: [AtomicU64; 4],
    /// Watch events applied to the store (Apply, Delete, and each relist counted once).
    events: [AtomicU64; 4],
    /// Watch restarts (silence, 410 on watch start).
    restarts: [AtomicU64; 4],
}

impl Activity {
    pub(crate) fn new() -> Self {
        Activity {
            base: Instant::now(),
            last_heard: Default::default(),
            events: Default::default(),
            restarts: Default::default(),
        }
    }

    fn now_nanos(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_nanos())
            .unwrap_or(u64::MAX)
            .max(1)
    }

    pub(crate) fn heard(&self, kind: ObjectKind) {
        self.last_heard[index(kind)].store(self.now_nanos(), Ordering::Relaxed);
    }

    /// When the kind was last heard from, if ever.
    pub(crate) fn last_heard(&self, kind: ObjectKind) -> Option<Instant> {
        match self.last_heard[index(kind)].load(Ordering::Relaxed) {
            0 => None,
            nanos => Some(self.base + Duration::from_nanos(nanos)),
        }
    }

    pub(crate) fn age(&self, kind: ObjectKind) -> Option<Duration> {
        self.last_heard(kind).map(|t| t.elapsed())
    }

    pub(crate) fn count_event(&self, kind: ObjectKind) {
        self.events[index(kind)].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn events(&self, kind: ObjectKind) -> u64 {
        self.events[index(kind)].load(Ordering::Relaxed)
    }

    pub(crate) fn count_restart(&self, kind: ObjectKind) {
        self.restarts[index(kind)].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn restarts(&self, kind: ObjectKind) -> u64 {
        self.restarts[index(kind)].load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_their_kind() {
        assert_eq!(kind_of_path("/api/v1/services"), Some(ObjectKind::Service));
        assert_eq!(
            kind_of_path("/api/v1/namespaces/apps/services"),
            Some(ObjectKind::Service)
        );
        assert_eq!(
            kind_of_path("/api/v1/namespaces"),
            Some(ObjectKind::Namespace)
        );
        assert_eq!(
            kind_of_path("/apis/discovery.k8s.io/v1/namespaces/a/endpointslices"),
            Some(ObjectKind::EndpointSlice)
        );
        assert_eq!(kind_of_path("/api/v1/pods"), Some(ObjectKind::Pod));
        assert_eq!(kind_of_path("/api/v1/namespaces/apps"), None);
        assert_eq!(kind_of_path("/version"), None);
    }

    #[test]
    fn ages_grow_from_the_last_touch() {
        let a = Activity::new();
        assert!(a.age(ObjectKind::Pod).is_none());
        a.heard(ObjectKind::Pod);
        assert!(
            a.age(ObjectKind::Pod)
                .is_some_and(|d| d < Duration::from_secs(5))
        );
        assert!(a.age(ObjectKind::Service).is_none());
    }
}
