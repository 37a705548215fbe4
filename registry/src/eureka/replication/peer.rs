//! The sending side: one task per peer posting batches, and the start-up copy of a peer's
//! registry. Peers are `http://HOST:PORT[/PATH]` base URLs of their Eureka API (the same form
//! clients use as `serviceUrl`, e.g. `http://rollcall-1.rollcall:8761/eureka`).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use super::{Action, BATCH_WAIT, OutItem, Outbox, PeerQueue, batch_body};
use crate::eureka::decode::{BodyFormat, decode_instance};
use crate::eureka::registry::{EurekaRegistry, Origin};

/// How long one request to a peer may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// The start-up copy is tried this many times, this far apart (peers start together).
const SYNC_ATTEMPTS: u32 = 5;
const SYNC_PAUSE: Duration = Duration::from_secs(2);

/// A peer's base URL, split.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerUrl {
    pub host: String,
    pub port: u16,
    /// Without a trailing slash (`/eureka`), possibly empty.
    pub path: String,
}

impl PeerUrl {
    pub fn parse(url: &str) -> Result<PeerUrl, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("{url:?}: peers are http:// URLs (https is not supported)"))?;
        let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
        let bad_port = |p: &str| format!("{url:?}: bad port {p:?}");
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, rest) = v6
                .split_once(']')
                .ok_or_else(|| format!("{url:?}: unclosed [ in the host"))?;
            let port = match rest.strip_prefix(':') {
                Some(p) => p.parse::<u16>().map_err(|_| bad_port(p))?,
                None if rest.is_empty() => 80,
                None => return Err(bad_port(rest)),
            };
            (host, port)
        } else {
            match authority.split_once(':') {
                Some((host, p)) => (host, p.parse::<u16>().map_err(|_| bad_port(p))?),
                None => (authority, 80),
            }
        };
        if host.is_empty() {
            return Err(format!("{url:?}: no host"));
        }
        let path = path.trim_end_matches('/');
        Ok(PeerUrl {
            host: host.to_string(),
            port,
            path: if path.is_empty() {
                String::new()
            } else {
                format!("/{path}")
            },
        })
    }
}

impl std::fmt::Display for PeerUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "http://{}:{}{}", self.host, self.port, self.path)
    }
}

/// One HTTP/1.1 request to a peer, marked as replication; the status and body.
async fn request(
    registry: &EurekaRegistry,
    peer: &PeerUrl,
    method: hyper::Method,
    path: &str,
    body: Option<String>,
) -> Result<(u16, Bytes), String> {
    // Peers share the registry's secret: present this server's own first credential.
    let authorization = registry
        .config()
        .auth
        .as_ref()
        .map(|a| a.peer_authorization());
    let exchange = async {
        let stream = TcpStream::connect((peer.host.as_str(), peer.port))
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let _ = stream.set_nodelay(true);
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .map_err(|e| format!("handshake: {e}"))?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let mut builder = Request::builder()
            .method(method)
            .uri(format!("{}{path}", peer.path))
            .header(hyper::header::HOST, format!("{}:{}", peer.host, peer.port))
            .header(hyper::header::ACCEPT, "application/json")
            .header("x-netflix-discovery-replication", "true");
        if let Some(authorization) = authorization {
            builder = builder.header(hyper::header::AUTHORIZATION, authorization);
        }
        if body.is_some() {
            builder = builder.header(hyper::header::CONTENT_TYPE, "application/json");
        }
        let req = builder
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| format!("request: {e}"))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| format!("send: {e}"))?;
        let status = resp.status().as_u16();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("read: {e}"))?
            .to_bytes();
        Ok((status, bytes))
    };
    tokio::time::timeout(REQUEST_TIMEOUT, exchange)
        .await
        .map_err(|_| format!("no answer within {REQUEST_TIMEOUT:?}"))?
}

/// Start replicating this registry's client changes to `peers`, and copy their registries.
/// Called once per registry (a second call is ignored).
pub fn start(registry: EurekaRegistry, peers: Vec<PeerUrl>, shutdown: CancellationToken) {
    if peers.is_empty()
        || registry
            .inner
            .outbox
            .set(Arc::new(Outbox::new(peers.len())))
            .is_err()
    {
        return;
    }
    tokio::spawn(sync_up(registry.clone(), peers.clone(), shutdown.clone()));
    for (index, peer) in peers.into_iter().enumerate() {
        tokio::spawn(send_loop(registry.clone(), peer, index, shutdown.clone()));
    }
}

fn queue(registry: &EurekaRegistry, index: usize) -> Option<&PeerQueue> {
    registry.inner.outbox.get()?.peers.get(index)
}

async fn send_loop(
    registry: EurekaRegistry,
    peer: PeerUrl,
    index: usize,
    shutdown: CancellationToken,
) {
    let Some(outbox) = registry.inner.outbox.get().cloned() else {
        return;
    };
    let Some(queue) = outbox.peers.get(index) else {
        return;
    };
    loop {
        tokio::select! {
            () = queue.notify.notified() => {}
            () = tokio::time::sleep(BATCH_WAIT) => {}
            () = shutdown.cancelled() => return,
        }
        loop {
            let batch = queue.take_batch();
            if batch.is_empty() {
                break;
            }
            send_batch(&registry, &peer, index, &batch).await;
        }
    }
}

async fn send_batch(registry: &EurekaRegistry, peer: &PeerUrl, index: usize, batch: &[OutItem]) {
    let body = batch_body(batch);
    let (status, bytes) = match request(
        registry,
        peer,
        hyper::Method::POST,
        "/peerreplication/batch/",
        Some(body),
    )
    .await
    {
        Ok(answer) => answer,
        Err(error) => {
            // Dropped, as Netflix drops it: the clients' next heartbeats repair the peer.
            tracing::warn!(%peer, %error, items = batch.len(), "eureka: replication batch not delivered");
            return;
        }
    };
    if status != 200 {
        tracing::warn!(%peer, status, items = batch.len(), "eureka: peer refused a replication batch");
        return;
    }
    let answers: Vec<Value> = serde_json::from_slice::<Value>(&bytes)
        .ok()
        .and_then(|v| v.get("responseList").and_then(Value::as_array).cloned())
        .unwrap_or_default();
    for (item, answer) in batch.iter().zip(answers.iter()) {
        let code = answer
            .get("statusCode")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        match (item.action, code) {
            // The peer does not know the instance: register it there.
            (Action::Heartbeat, 404) => {
                if let Some(queue) = queue(registry, index) {
                    queue.push_front(registry.out_item(Action::Register, &item.app, &item.id));
                    queue.notify.notify_one();
                }
            }
            // The peer's copy is newer: take it.
            (_, 409) => {
                if let Some(entity) = answer.get("responseEntity") {
                    take_peer_copy(registry, &item.app, entity);
                }
            }
            (_, 200) | (Action::Cancel, 404) => {}
            (action, code) => {
                tracing::debug!(%peer, ?action, app = %item.app, id = %item.id, code, "eureka: peer did not apply a replicated change");
            }
        }
    }
}

fn take_peer_copy(registry: &EurekaRegistry, app: &str, instance: &Value) {
    let Ok(bytes) = serde_json::to_vec(instance) else {
        return;
    };
    let cfg = registry.config();
    match decode_instance(
        &bytes,
        BodyFormat::Json,
        app,
        registry.now(),
        cfg.default_lease_secs,
    ) {
        Ok(info) => {
            if let Err(error) = registry.register_from(info, Origin::Peer) {
                tracing::debug!(%error, app, "eureka: could not take a peer's copy");
            }
        }
        Err(error) => tracing::debug!(%error, app, "eureka: a peer's copy is malformed"),
    }
}

/// Copy every peer's registry (Netflix's `syncUp`), retrying while peers are still starting.
async fn sync_up(registry: EurekaRegistry, peers: Vec<PeerUrl>, shutdown: CancellationToken) {
    for peer in peers {
        for attempt in 1..=SYNC_ATTEMPTS {
            match copy_registry(&registry, &peer).await {
                Ok(count) => {
                    tracing::info!(%peer, instances = count, "eureka: copied a peer's registry");
                    break;
                }
                Err(error) if attempt == SYNC_ATTEMPTS => {
                    tracing::warn!(%peer, %error, "eureka: could not copy the peer's registry; its changes still arrive by replication");
                }
                Err(_) => {
                    tokio::select! {
                        () = tokio::time::sleep(SYNC_PAUSE) => {}
                        () = shutdown.cancelled() => return,
                    }
                }
            }
        }
    }
}

/// `GET {peer}/apps` and register every instance as the peer's.
async fn copy_registry(registry: &EurekaRegistry, peer: &PeerUrl) -> Result<usize, String> {
    let (status, bytes) = request(registry, peer, hyper::Method::GET, "/apps", None).await?;
    if status != 200 {
        return Err(format!("GET /apps answered {status}"));
    }
    let root: Value = serde_json::from_slice(&bytes).map_err(|e| format!("malformed JSON: {e}"))?;
    let apps = root
        .get("applications")
        .and_then(|a| a.get("application"))
        .map(one_or_many)
        .unwrap_or_default();
    let mut count = 0;
    for app in apps {
        let name = app
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_uppercase();
        for instance in app.get("instance").map(one_or_many).unwrap_or_default() {
            take_peer_copy(registry, &name, instance);
            count += 1;
        }
    }
    Ok(count)
}

/// Eureka's JSON gives a lone element as an object, several as an array.
fn one_or_many(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(items) => items.iter().collect(),
        Value::Object(_) => vec![v],
        _ => Vec::new(),
    }
}
