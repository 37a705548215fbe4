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

use super::{Action, BATCH_WAIT, OutItem, Outbox, batch_body, out_item};
use crate::eureka::decode::{BodyFormat, decode_instance};
use crate::eureka::registry::{Origin, Registry};

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

/// Why a peer URL was refused.
#[derive(Debug, thiserror::Error)]
pub enum PeerUrlError {
    /// Not `http://...`.
    #[error("{url:?}: peers are http:// URLs (https is not supported)")]
    NotHttp {
        /// The URL as given.
        url: String,
    },
    /// The port is not a number from 0 to 65535.
    #[error("{url:?}: bad port {port:?}")]
    BadPort {
        /// The URL as given.
        url: String,
        /// The port as given.
        port: String,
        /// Why it did not parse, when it looked like a port at all.
        #[source]
        source: Option<std::num::ParseIntError>,
    },
    /// `[` without `]`.
    #[error("{url:?}: unclosed [ in the host")]
    UnclosedBracket {
        /// The URL as given.
        url: String,
    },
    /// An empty host.
    #[error("{url:?}: no host")]
    NoHost {
        /// The URL as given.
        url: String,
    },
}

/// Why a request to a peer failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PeerError {
    #[error("connect: {0}")]
    Connect(#[source] std::io::Error),
    #[error("handshake: {0}")]
    Handshake(#[source] hyper::Error),
    #[error("request: {0}")]
    Request(#[source] hyper::http::Error),
    #[error("send: {0}")]
    Send(#[source] hyper::Error),
    #[error("read: {0}")]
    Read(#[source] hyper::Error),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The start-up copy: `GET /apps` did not answer 200.
    #[error("GET /apps answered {0}")]
    Status(u16),
    /// The start-up copy: the answer is not JSON.
    #[error("malformed JSON: {0}")]
    Json(#[source] serde_json::Error),
}

impl PeerUrl {
    pub fn parse(url: &str) -> Result<PeerUrl, PeerUrlError> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| PeerUrlError::NotHttp {
                url: url.to_string(),
            })?;
        let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
        let port_of = |p: &str| {
            p.parse::<u16>().map_err(|e| PeerUrlError::BadPort {
                url: url.to_string(),
                port: p.to_string(),
                source: Some(e),
            })
        };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, rest) = v6
                .split_once(']')
                .ok_or_else(|| PeerUrlError::UnclosedBracket {
                    url: url.to_string(),
                })?;
            let port = match rest.strip_prefix(':') {
                Some(p) => port_of(p)?,
                None if rest.is_empty() => 80,
                None => {
                    return Err(PeerUrlError::BadPort {
                        url: url.to_string(),
                        port: rest.to_string(),
                        source: None,
                    });
                }
            };
            (host, port)
        } else {
            match authority.split_once(':') {
                Some((host, p)) => (host, port_of(p)?),
                None => (authority, 80),
            }
        };
        if host.is_empty() {
            return Err(PeerUrlError::NoHost {
                url: url.to_string(),
            });
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
    registry: &Registry,
    peer: &PeerUrl,
    method: hyper::Method,
    path: &str,
    body: Option<String>,
) -> Result<(u16, Bytes), PeerError> {
    // Peers share the registry's secret: present this server's own first credential.
    let authorization = registry
        .config()
        .auth
        .as_ref()
        .map(|a| a.peer_authorization());
    let exchange = async {
        let stream = TcpStream::connect((peer.host.as_str(), peer.port))
            .await
            .map_err(PeerError::Connect)?;
        let _ = stream.set_nodelay(true);
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .map_err(PeerError::Handshake)?;
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
            .map_err(PeerError::Request)?;
        let resp = sender.send_request(req).await.map_err(PeerError::Send)?;
        let status = resp.status().as_u16();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(PeerError::Read)?
            .to_bytes();
        Ok((status, bytes))
    };
    tokio::time::timeout(REQUEST_TIMEOUT, exchange)
        .await
        .map_err(|_| PeerError::Timeout(REQUEST_TIMEOUT))?
}

/// Starts the tasks that send `outbox`'s items (one queue per peer, in the order of `peers`)
/// and copy the peers' registries into `registry`.
pub(crate) fn spawn(
    registry: Registry,
    outbox: Arc<Outbox>,
    peers: Vec<PeerUrl>,
    shutdown: CancellationToken,
) {
    tokio::spawn(sync_up(registry.clone(), peers.clone(), shutdown.clone()));
    for (index, peer) in peers.into_iter().enumerate() {
        tokio::spawn(send_loop(
            registry.clone(),
            Arc::clone(&outbox),
            peer,
            index,
            shutdown.clone(),
        ));
    }
}

async fn send_loop(
    registry: Registry,
    outbox: Arc<Outbox>,
    peer: PeerUrl,
    index: usize,
    shutdown: CancellationToken,
) {
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
            send_batch(&registry, &outbox, &peer, index, &batch).await;
        }
    }
}

async fn send_batch(
    registry: &Registry,
    outbox: &Outbox,
    peer: &PeerUrl,
    index: usize,
    batch: &[OutItem],
) {
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
                if let Some(queue) = outbox.peers.get(index) {
                    queue.push_front(out_item(registry, Action::Register, &item.app, &item.id));
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

fn take_peer_copy(registry: &Registry, app: &str, instance: &Value) {
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
async fn sync_up(registry: Registry, peers: Vec<PeerUrl>, shutdown: CancellationToken) {
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
async fn copy_registry(registry: &Registry, peer: &PeerUrl) -> Result<usize, PeerError> {
    let (status, bytes) = request(registry, peer, hyper::Method::GET, "/apps", None).await?;
    if status != 200 {
        return Err(PeerError::Status(status));
    }
    let root: Value = serde_json::from_slice(&bytes).map_err(PeerError::Json)?;
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
