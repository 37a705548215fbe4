//! Peer replication, as Netflix's `PeerEurekaNodes` do it: every change a client makes
//! (register, heartbeat, cancel, status override and its removal) is sent on to each peer in
//! batches (`POST {peer}/peerreplication/batch/`, at most 250 items, at most 500 ms late) and
//! applied there as a peer's change, never replicated again. A replicated heartbeat the peer
//! answers 404 is followed by a registration; a 409 (the peer's copy is newer) makes this node
//! take the peer's copy. At start a node copies a peer's registry (`GET {peer}/apps`).
//! Replication is best effort, as in Netflix: a batch a peer could not take is dropped, and
//! the clients' heartbeats (every 30 s) repair the peer within one round.

mod peer;

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::Mutex;

use serde_json::Value;
use tokio::sync::Notify;

use super::decode::{BodyFormat, decode_instance};
use super::locks::lock;
use super::model::Status;
use super::registry::{Origin, Registry, RegistryError};
use super::render::{self, json_str};

pub(crate) use peer::spawn;
pub use peer::{PeerUrl, PeerUrlError};

/// Items waiting beyond this are dropped, oldest first (a peer down for a long time must not
/// grow memory without bound; heartbeats repair it later).
const MAX_QUEUED: usize = 100_000;
/// Netflix's batch limits.
pub(crate) const BATCH_ITEMS: usize = 250;
pub(crate) const BATCH_WAIT: std::time::Duration = std::time::Duration::from_millis(500);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    Register,
    Heartbeat,
    Cancel,
    StatusUpdate,
    DeleteStatusOverride,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Action::Register => "Register",
            Action::Heartbeat => "Heartbeat",
            Action::Cancel => "Cancel",
            Action::StatusUpdate => "StatusUpdate",
            Action::DeleteStatusOverride => "DeleteStatusOverride",
        }
    }

    fn parse(s: &str) -> Option<Action> {
        [
            Action::Register,
            Action::Heartbeat,
            Action::Cancel,
            Action::StatusUpdate,
            Action::DeleteStatusOverride,
        ]
        .into_iter()
        .find(|a| a.as_str() == s)
    }
}

/// One change on its way to the peers, already in its wire form.
#[derive(Clone, Debug)]
pub(crate) struct OutItem {
    pub action: Action,
    pub app: String,
    pub id: String,
    /// The `replicationList` element.
    pub json: String,
}

/// Changes waiting for one peer.
pub(crate) struct PeerQueue {
    queue: Mutex<VecDeque<OutItem>>,
    pub(crate) notify: Notify,
}

impl PeerQueue {
    fn new() -> Self {
        PeerQueue {
            queue: Mutex::new(VecDeque::new()),
            notify: Notify::new(),
        }
    }

    fn push(&self, item: OutItem) {
        let mut queue = lock(&self.queue);
        queue.push_back(item);
        if queue.len() > MAX_QUEUED {
            queue.pop_front();
        }
        let full = queue.len() >= BATCH_ITEMS;
        drop(queue);
        if full {
            self.notify.notify_one();
        }
    }

    /// Up to a batch of the oldest items.
    pub(crate) fn take_batch(&self) -> Vec<OutItem> {
        let mut queue = lock(&self.queue);
        let n = queue.len().min(BATCH_ITEMS);
        queue.drain(..n).collect()
    }

    pub(crate) fn push_front(&self, item: OutItem) {
        lock(&self.queue).push_front(item);
    }
}

/// Changes waiting for the peer tasks: every peer gets every item.
pub(crate) struct Outbox {
    pub(crate) peers: Vec<PeerQueue>,
}

impl Outbox {
    pub(crate) fn new(peers: usize) -> Self {
        Outbox {
            peers: (0..peers).map(|_| PeerQueue::new()).collect(),
        }
    }

    fn push(&self, item: OutItem) {
        for peer in &self.peers {
            peer.push(item.clone());
        }
    }

    /// Queue a client's change to this instance for every peer.
    pub(crate) fn queue(&self, registry: &Registry, action: Action, app: &str, id: &str) {
        self.push(out_item(registry, action, app, id));
    }
}

/// The wire form of a change to this instance, with its current state.
pub(crate) fn out_item(registry: &Registry, action: Action, app: &str, id: &str) -> OutItem {
    let json = match registry.instance(app, id) {
        Ok((rec, lease)) => {
            let mut json = String::with_capacity(1024);
            item_head(&mut json, action, &rec.info.app, id);
            let _ = write!(
                json,
                ",\"lastDirtyTimestamp\":{},\"status\":",
                rec.info.last_dirty_timestamp
            );
            json_str(&mut json, rec.info.status.as_str());
            json.push_str(",\"overriddenStatus\":");
            json_str(
                &mut json,
                rec.override_status.unwrap_or(Status::Unknown).as_str(),
            );
            json.push_str(",\"instanceInfo\":");
            render::json_instance(&mut json, &rec.info, &lease);
            json.push('}');
            json
        }
        // Cancelled: the item needs only its names.
        Err(_) => {
            let mut json = String::new();
            item_head(&mut json, action, app, id);
            json.push('}');
            json
        }
    };
    OutItem {
        action,
        app: app.to_string(),
        id: id.to_string(),
        json,
    }
}

fn item_head(out: &mut String, action: Action, app: &str, id: &str) {
    out.push_str("{\"action\":");
    json_str(out, action.as_str());
    out.push_str(",\"appName\":");
    json_str(out, app);
    out.push_str(",\"id\":");
    json_str(out, id);
}

/// A batch body for these items.
pub(crate) fn batch_body(items: &[OutItem]) -> String {
    let mut out = String::from("{\"replicationList\":[");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&item.json);
    }
    out.push_str("]}");
    out
}

fn number(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn text<'a>(item: &'a Value, key: &str) -> Option<&'a str> {
    item.get(key).and_then(Value::as_str)
}

/// The status code and optional instance body for one received item.
fn apply_item(registry: &Registry, item: &Value) -> (u16, Option<String>) {
    let (Some(action), Some(app), Some(id)) = (
        text(item, "action").and_then(Action::parse),
        text(item, "appName").map(str::to_uppercase),
        text(item, "id"),
    ) else {
        return (400, None);
    };
    let ts = number(item.get("lastDirtyTimestamp"));
    let status = text(item, "status").and_then(Status::parse);
    let code = |r: Result<(), RegistryError>| match r {
        Ok(()) => 200,
        Err(RegistryError::NotFound(_)) => 404,
        Err(RegistryError::LimitExceeded(_)) => 403,
        Err(RegistryError::Invalid(_)) => 400,
    };
    match action {
        Action::Register => {
            let Some(info) = item.get("instanceInfo") else {
                return (400, None);
            };
            let cfg = registry.config();
            let bytes = match serde_json::to_vec(info) {
                Ok(bytes) => bytes,
                Err(error) => {
                    tracing::debug!(%error, app, id, "eureka: a peer's registration is malformed");
                    return (400, None);
                }
            };
            match decode_instance(
                &bytes,
                BodyFormat::Json,
                &app,
                registry.now(),
                cfg.default_lease_secs,
            ) {
                Ok(info) => (code(registry.register_from(info, Origin::Peer)), None),
                Err(error) => {
                    tracing::debug!(%error, app, id, "eureka: a peer's registration is malformed");
                    (400, None)
                }
            }
        }
        Action::Heartbeat => peer_heartbeat(registry, &app, id, ts),
        Action::Cancel => (code(registry.cancel(&app, id)), None),
        Action::StatusUpdate => match status {
            Some(s) => (code(registry.set_status_override(&app, id, s, ts)), None),
            None => (400, None),
        },
        Action::DeleteStatusOverride => (
            code(registry.delete_status_override(&app, id, status, ts)),
            None,
        ),
    }
}

/// A heartbeat from a peer: 404 when unknown (the peer then registers it), 409 with this node's
/// copy when that is newer than the peer's (the peer then takes it), else 200.
pub(crate) fn peer_heartbeat(
    registry: &Registry,
    app: &str,
    id: &str,
    ts: Option<u64>,
) -> (u16, Option<String>) {
    if registry.renew(app, id, ts).is_err() {
        return (404, None);
    }
    match (registry.instance(app, id), ts) {
        (Ok((rec, lease)), Some(ts)) if rec.info.last_dirty_timestamp > ts => {
            let mut body = String::new();
            render::json_instance(&mut body, &rec.info, &lease);
            (409, Some(body))
        }
        _ => (200, None),
    }
}

/// Why a replication batch was refused as a whole (a 400 answer; its items are not looked at).
#[derive(Debug, thiserror::Error)]
pub(crate) enum BatchError {
    /// The body is not JSON.
    #[error("malformed JSON: {0}")]
    Json(#[source] serde_json::Error),
    /// The body is JSON, but not a batch.
    #[error("expected {{\"replicationList\":[...]}}")]
    NotABatch,
}

/// `POST /peerreplication/batch/`: apply every item, answer a code (and an entity) for each.
pub(crate) fn apply_batch(registry: &Registry, body: &[u8]) -> Result<String, BatchError> {
    let root: Value = serde_json::from_slice(body).map_err(BatchError::Json)?;
    let Some(items) = root.get("replicationList").and_then(Value::as_array) else {
        return Err(BatchError::NotABatch);
    };
    let mut out = String::from("{\"responseList\":[");
    for (i, item) in items.iter().enumerate() {
        let (code, entity) = apply_item(registry, item);
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{{\"statusCode\":{code}");
        if let Some(entity) = entity {
            out.push_str(",\"responseEntity\":");
            out.push_str(&entity);
        }
        out.push('}');
    }
    out.push_str("]}");
    Ok(out)
}

#[cfg(test)]
mod tests;
