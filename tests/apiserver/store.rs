//! The objects, the global resourceVersion counter and the bounded event history.
//!
//! Objects are kept serialized (with their resourceVersion filled in), so a list of 150,000 pods
//! is a concatenation of byte strings, not 150,000 serializations.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use serde_json::Value;

use super::selector::LabelSelector;

/// The four resources served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Resource {
    Namespaces,
    Services,
    EndpointSlices,
    Pods,
}

impl Resource {
    pub const ALL: [Resource; 4] = [
        Resource::Namespaces,
        Resource::Services,
        Resource::EndpointSlices,
        Resource::Pods,
    ];

    pub fn plural(self) -> &'static str {
        match self {
            Resource::Namespaces => "namespaces",
            Resource::Services => "services",
            Resource::EndpointSlices => "endpointslices",
            Resource::Pods => "pods",
        }
    }

    pub fn kind(self) -> &'static str {
        match self {
            Resource::Namespaces => "Namespace",
            Resource::Services => "Service",
            Resource::EndpointSlices => "EndpointSlice",
            Resource::Pods => "Pod",
        }
    }

    pub fn api_version(self) -> &'static str {
        match self {
            Resource::EndpointSlices => "discovery.k8s.io/v1",
            _ => "v1",
        }
    }

    pub fn namespaced(self) -> bool {
        self != Resource::Namespaces
    }

    pub fn from_kind(kind: &str) -> Option<Resource> {
        Resource::ALL.into_iter().find(|r| r.kind() == kind)
    }

    pub fn from_plural(plural: &str) -> Option<Resource> {
        Resource::ALL.into_iter().find(|r| r.plural() == plural)
    }
}

/// One stored object.
#[derive(Debug, Clone)]
pub struct Stored {
    pub rv: u64,
    pub json: Bytes,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeType {
    Added,
    Modified,
    Deleted,
}

impl ChangeType {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeType::Added => "ADDED",
            ChangeType::Modified => "MODIFIED",
            ChangeType::Deleted => "DELETED",
        }
    }
}

/// One change, as watchers receive it.
#[derive(Debug)]
pub struct Change {
    pub rv: u64,
    pub resource: Resource,
    pub namespace: String,
    pub kind: ChangeType,
    pub json: Bytes,
    pub labels: BTreeMap<String, String>,
    /// Labels before a MODIFIED (a label selector may start or stop matching).
    pub old_labels: Option<BTreeMap<String, String>>,
    /// When the server wrote it (for propagation measurements).
    pub at: std::time::Instant,
}

/// (namespace, name); namespace empty for Namespaces.
pub type Key = (String, String);

pub struct State {
    pub rv: u64,
    pub objects: HashMap<Resource, BTreeMap<Key, Stored>>,
    pub history: VecDeque<Arc<Change>>,
    pub history_limit: usize,
    /// A watch may start from resourceVersion N only when N >= floor (the changes after N are
    /// all still in the history).
    pub floor: u64,
}

impl State {
    pub fn new(history_limit: usize, start_rv: u64) -> State {
        State {
            rv: start_rv,
            objects: Resource::ALL
                .into_iter()
                .map(|r| (r, BTreeMap::new()))
                .collect(),
            history: VecDeque::new(),
            history_limit: history_limit.max(1),
            floor: start_rv,
        }
    }

    fn record(&mut self, change: Arc<Change>) {
        self.history.push_back(Arc::clone(&change));
        while self.history.len() > self.history_limit {
            if let Some(old) = self.history.pop_front() {
                self.floor = self.floor.max(old.rv);
            }
        }
    }

    /// Drop the history: only watches from the current resourceVersion can start.
    pub fn compact(&mut self) {
        self.history.clear();
        self.floor = self.rv;
    }

    /// A new history, as after an etcd restore: resourceVersions jump by `gap` and nothing
    /// before the jump can be watched from.
    pub fn new_history(&mut self, gap: u64) {
        self.rv += gap;
        let rv = self.rv;
        // Every object gets a new resourceVersion in the new history.
        for map in self.objects.values_mut() {
            for stored in map.values_mut() {
                if let Ok(mut value) = serde_json::from_slice::<Value>(&stored.json) {
                    set_rv(&mut value, rv);
                    if let Ok(bytes) = serde_json::to_vec(&value) {
                        stored.json = Bytes::from(bytes);
                        stored.rv = rv;
                    }
                }
            }
        }
        self.compact();
    }

    /// Create or replace. Returns the change (already in the history), or an error message.
    pub fn put(&mut self, resource: Resource, mut value: Value) -> Result<Arc<Change>, String> {
        let (namespace, name) = key_of(resource, &value)?;
        self.rv += 1;
        let rv = self.rv;
        set_rv(&mut value, rv);
        if let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.entry("uid").or_insert_with(|| {
                Value::String(format!("uid-{}-{namespace}-{name}", resource.plural()))
            });
            if resource.namespaced() && !meta.contains_key("namespace") {
                meta.insert("namespace".into(), Value::String(namespace.clone()));
            }
        }
        if let Some(obj) = value.as_object_mut() {
            obj.insert("kind".into(), Value::String(resource.kind().into()));
            obj.insert(
                "apiVersion".into(),
                Value::String(resource.api_version().into()),
            );
        }
        let labels = labels_of(&value);
        let json = Bytes::from(serde_json::to_vec(&value).map_err(|e| e.to_string())?);
        let map = self.objects.entry(resource).or_default();
        let old = map.insert(
            (namespace.clone(), name),
            Stored {
                rv,
                json: json.clone(),
                labels: labels.clone(),
            },
        );
        let change = Arc::new(Change {
            rv,
            resource,
            namespace,
            kind: if old.is_some() {
                ChangeType::Modified
            } else {
                ChangeType::Added
            },
            json,
            labels,
            old_labels: old.map(|o| o.labels),
            at: std::time::Instant::now(),
        });
        self.record(Arc::clone(&change));
        Ok(change)
    }

    pub fn delete(
        &mut self,
        resource: Resource,
        namespace: &str,
        name: &str,
    ) -> Option<Arc<Change>> {
        let key = (
            if resource.namespaced() {
                namespace.to_string()
            } else {
                String::new()
            },
            name.to_string(),
        );
        let old = self.objects.get_mut(&resource)?.remove(&key)?;
        self.rv += 1;
        let rv = self.rv;
        let mut value: Value = serde_json::from_slice(&old.json).ok()?;
        set_rv(&mut value, rv);
        let json = Bytes::from(serde_json::to_vec(&value).ok()?);
        let change = Arc::new(Change {
            rv,
            resource,
            namespace: key.0,
            kind: ChangeType::Deleted,
            json,
            labels: old.labels.clone(),
            old_labels: Some(old.labels),
            at: std::time::Instant::now(),
        });
        self.record(Arc::clone(&change));
        Some(change)
    }

    /// The objects of `resource` in `namespace` (all when None) matching `selector`, in key order.
    pub fn select(
        &self,
        resource: Resource,
        namespace: Option<&str>,
        selector: &LabelSelector,
    ) -> Vec<Bytes> {
        self.objects
            .get(&resource)
            .into_iter()
            .flat_map(|m| m.iter())
            .filter(|((ns, _), _)| namespace.is_none_or(|want| ns == want))
            .filter(|(_, s)| selector.matches(&s.labels))
            .map(|(_, s)| s.json.clone())
            .collect()
    }

    /// The changes after `rv` (oldest first); `None` when some were compacted away (410 Gone).
    pub fn since(&self, rv: u64) -> Option<Vec<Arc<Change>>> {
        if rv < self.floor || rv > self.rv {
            return None;
        }
        Some(self.history.iter().filter(|c| c.rv > rv).cloned().collect())
    }
}

fn set_rv(value: &mut Value, rv: u64) {
    if let Some(obj) = value.as_object_mut() {
        let meta = obj
            .entry("metadata")
            .or_insert_with(|| Value::Object(Default::default()));
        if let Some(meta) = meta.as_object_mut() {
            meta.insert("resourceVersion".into(), Value::String(rv.to_string()));
        }
    }
}

fn key_of(resource: Resource, value: &Value) -> Result<Key, String> {
    let meta = value.get("metadata").ok_or("object has no metadata")?;
    let name = meta
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or("object has no metadata.name")?;
    let namespace = if resource.namespaced() {
        meta.get("namespace")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .unwrap_or("default")
            .to_string()
    } else {
        String::new()
    };
    Ok((namespace, name.to_string()))
}

fn labels_of(value: &Value) -> BTreeMap<String, String> {
    value
        .get("metadata")
        .and_then(|m| m.get("labels"))
        .and_then(Value::as_object)
        .map(|labels| {
            labels
                .iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                .collect()
        })
        .unwrap_or_default()
}
