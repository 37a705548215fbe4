//! The HTTP side: accept (TLS or not), authenticate, route, list, watch.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_util::sync::CancellationToken;

use super::selector::LabelSelector;
use super::store::{Change, ChangeType, Resource};
use super::{Access, Shared, active, lock};

type Body = BoxBody<Bytes, Infallible>;

/// A consistent list, paged by `continue` tokens.
pub(crate) struct Snapshot {
    rv: u64,
    items: Arc<Vec<Bytes>>,
    created: Instant,
}

pub(crate) async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    tls: Option<Arc<ServerConfig>>,
    stop: CancellationToken,
) {
    let acceptor = tls.map(TlsAcceptor::from);
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((tcp, _peer)) = accepted else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let shared = Arc::clone(&shared);
        let acceptor = acceptor.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            match acceptor {
                Some(acceptor) => {
                    let handshake = tokio::select! {
                        () = stop.cancelled() => return,
                        r = acceptor.accept(tcp) => r,
                    };
                    let Ok(stream) = handshake else { return };
                    let client_cert = stream.get_ref().1.peer_certificates().is_some();
                    serve_connection(stream, shared, client_cert, stop).await;
                }
                None => serve_connection(tcp, shared, false, stop).await,
            }
        });
    }
}

async fn serve_connection<S>(
    stream: S,
    shared: Arc<Shared>,
    client_cert: bool,
    stop: CancellationToken,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req| {
        let shared = Arc::clone(&shared);
        async move { Ok::<_, Infallible>(handle(shared, client_cert, req).await) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        () = stop.cancelled() => {}
        _ = conn => {}
    }
}

fn full(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    let mut response = Response::new(Full::new(body.into()).boxed());
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

fn status(code: StatusCode, reason: &str, message: &str) -> Response<Body> {
    let body = serde_json::json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code.as_u16(),
    });
    full(code, body.to_string())
}

fn query_params(query: Option<&str>) -> Vec<(String, String)> {
    query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let decoded = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match (bytes[i], decoded) {
            (_, Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b'+', None) => {
                out.push(b' ');
                i += 1;
            }
            (b, None) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Which resource a path names, and its namespace (None: all namespaces).
fn route(path: &str) -> Option<(Resource, Option<String>)> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segments.as_slice() {
        ["api", "v1", plural] => Some((Resource::from_plural(plural)?, None)),
        ["api", "v1", "namespaces", ns, plural] => {
            let r = Resource::from_plural(plural).filter(|r| r.namespaced())?;
            Some((r, Some((*ns).to_string())))
        }
        ["apis", "discovery.k8s.io", "v1", "endpointslices"] => {
            Some((Resource::EndpointSlices, None))
        }
        [
            "apis",
            "discovery.k8s.io",
            "v1",
            "namespaces",
            ns,
            "endpointslices",
        ] => Some((Resource::EndpointSlices, Some((*ns).to_string()))),
        _ => None,
    }
    .filter(|(r, _)| {
        // core/v1 does not serve endpointslices, discovery does not serve the others.
        path.starts_with("/apis/") == (*r == Resource::EndpointSlices)
    })
}

async fn handle(shared: Arc<Shared>, client_cert: bool, req: Request<Incoming>) -> Response<Body> {
    let path = req.uri().path().to_string();
    let query = req.uri().query().map(str::to_string);
    shared.log_request(format!(
        "{} {}{}",
        req.method(),
        path,
        query
            .as_deref()
            .map(|q| format!("?{q}"))
            .unwrap_or_default()
    ));

    // Stalled: the request was accepted, and nothing comes back while the stall lasts.
    if active(&shared.faults.stall_until) {
        shared.stats.stalled.fetch_add(1, Ordering::Relaxed);
        while active(&shared.faults.stall_until) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    let token = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let access = match token {
        Some(token) => shared.tokens.get(token).copied(),
        None if client_cert => Some(Access::Full),
        None => None,
    };
    let Some(access) = access else {
        shared.stats.unauthorized.fetch_add(1, Ordering::Relaxed);
        return status(StatusCode::UNAUTHORIZED, "Unauthorized", "Unauthorized");
    };

    if req.method() != Method::GET {
        return status(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "the test API server only lists and watches",
        );
    }
    match path.as_str() {
        "/version" => {
            return full(
                StatusCode::OK,
                r#"{"major":"1","minor":"35","gitVersion":"v1.35.0-rollcall-test"}"#,
            );
        }
        "/api" => {
            return full(
                StatusCode::OK,
                r#"{"kind":"APIVersions","versions":["v1"],"serverAddressByClientCIDRs":[]}"#,
            );
        }
        "/apis" => {
            return full(
                StatusCode::OK,
                r#"{"kind":"APIGroupList","apiVersion":"v1","groups":[{"name":"discovery.k8s.io","versions":[{"groupVersion":"discovery.k8s.io/v1","version":"v1"}],"preferredVersion":{"groupVersion":"discovery.k8s.io/v1","version":"v1"}}]}"#,
            );
        }
        _ => {}
    }
    let Some((resource, namespace)) = route(&path) else {
        return status(
            StatusCode::NOT_FOUND,
            "NotFound",
            "the server could not find the requested resource",
        );
    };
    if access == Access::Nothing {
        shared.stats.forbidden.fetch_add(1, Ordering::Relaxed);
        let scope = namespace
            .as_deref()
            .map_or("at the cluster scope".to_string(), |ns| {
                format!("in the namespace \"{ns}\"")
            });
        return status(
            StatusCode::FORBIDDEN,
            "Forbidden",
            &format!(
                "{} is forbidden: User \"test\" cannot list resource \"{}\" {scope}",
                resource.plural(),
                resource.plural()
            ),
        );
    }
    let resource_failing = lock(&shared.faults.fail_resource_until)
        .get(&resource)
        .is_some_and(|t| Instant::now() < *t);
    if resource_failing || active(&shared.faults.fail_until) {
        shared.stats.failed.fetch_add(1, Ordering::Relaxed);
        return status(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "Internal error occurred: injected by the test",
        );
    }

    let params = query_params(query.as_deref());
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let selector = match LabelSelector::parse(param("labelSelector").unwrap_or_default()) {
        Ok(s) => s,
        Err(e) => return status(StatusCode::BAD_REQUEST, "BadRequest", &e),
    };
    if matches!(param("watch"), Some("true" | "1")) {
        shared.stats.watches.fetch_add(1, Ordering::Relaxed);
        watch(
            &shared,
            resource,
            namespace,
            selector,
            param("resourceVersion").unwrap_or_default(),
            param("allowWatchBookmarks") == Some("true"),
            param("timeoutSeconds").and_then(|t| t.parse::<u64>().ok()),
        )
    } else {
        shared.stats.lists.fetch_add(1, Ordering::Relaxed);
        list(
            &shared,
            resource,
            namespace.as_deref(),
            &selector,
            param("limit").and_then(|l| l.parse::<usize>().ok()),
            param("continue"),
        )
    }
}

fn list(
    shared: &Shared,
    resource: Resource,
    namespace: Option<&str>,
    selector: &LabelSelector,
    limit: Option<usize>,
    continue_token: Option<&str>,
) -> Response<Body> {
    let (rv, items, offset) = match continue_token.filter(|t| !t.is_empty()) {
        Some(token) => {
            let parsed = token
                .split_once(':')
                .and_then(|(id, off)| Some((id.parse::<u64>().ok()?, off.parse::<usize>().ok()?)));
            let found = parsed.and_then(|(id, off)| {
                lock(&shared.snapshots)
                    .get(&id)
                    .map(|s| (s.rv, Arc::clone(&s.items), off))
            });
            match found {
                Some(found) => found,
                None => {
                    return status(
                        StatusCode::GONE,
                        "Expired",
                        "The provided continue parameter is too old to display a consistent list result.",
                    );
                }
            }
        }
        None => {
            let state = shared.state();
            (
                state.rv,
                Arc::new(state.select(resource, namespace, selector)),
                0,
            )
        }
    };
    let end = limit
        .filter(|l| *l > 0)
        .map_or(items.len(), |l| (offset + l).min(items.len()));
    let mut metadata = serde_json::json!({ "resourceVersion": rv.to_string() });
    if end < items.len() {
        let id = match continue_token
            .and_then(|t| t.split_once(':'))
            .and_then(|(id, _)| id.parse::<u64>().ok())
        {
            Some(id) => id,
            None => {
                let id = shared.next_snapshot.fetch_add(1, Ordering::Relaxed);
                let mut snapshots = lock(&shared.snapshots);
                snapshots.retain(|_, s| s.created.elapsed() < Duration::from_secs(120));
                snapshots.insert(
                    id,
                    Snapshot {
                        rv,
                        items: Arc::clone(&items),
                        created: Instant::now(),
                    },
                );
                id
            }
        };
        metadata["continue"] = serde_json::Value::String(format!("{id}:{end}"));
        metadata["remainingItemCount"] = serde_json::Value::from(items.len() - end);
    }
    let head = format!(
        r#"{{"kind":"{}List","apiVersion":"{}","metadata":{},"items":["#,
        resource.kind(),
        resource.api_version(),
        metadata
    );
    let page = &items[offset.min(end)..end];
    let mut body =
        Vec::with_capacity(head.len() + page.iter().map(|b| b.len() + 1).sum::<usize>() + 2);
    body.extend_from_slice(head.as_bytes());
    for (i, item) in page.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(item);
    }
    body.extend_from_slice(b"]}");
    full(StatusCode::OK, body)
}

fn event_line(kind: &str, object: &[u8]) -> Bytes {
    let mut line = Vec::with_capacity(object.len() + 32);
    line.extend_from_slice(br#"{"type":""#);
    line.extend_from_slice(kind.as_bytes());
    line.extend_from_slice(br#"","object":"#);
    line.extend_from_slice(object);
    line.extend_from_slice(b"}\n");
    Bytes::from(line)
}

fn gone_line(requested: &str, oldest: u64) -> Bytes {
    let status = serde_json::json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": format!("too old resource version: {requested} ({oldest})"),
        "reason": "Expired",
        "code": 410,
    });
    event_line("ERROR", status.to_string().as_bytes())
}

fn bookmark_line(resource: Resource, rv: u64) -> Bytes {
    let object = format!(
        r#"{{"kind":"{}","apiVersion":"{}","metadata":{{"resourceVersion":"{rv}"}}}}"#,
        resource.kind(),
        resource.api_version()
    );
    event_line("BOOKMARK", object.as_bytes())
}

/// What a watcher of (resource, namespace, selector) sees of a change, if anything.
fn seen_as(
    change: &Change,
    resource: Resource,
    namespace: Option<&str>,
    selector: &LabelSelector,
) -> Option<&'static str> {
    if change.resource != resource || namespace.is_some_and(|ns| ns != change.namespace) {
        return None;
    }
    let now = selector.matches(&change.labels);
    let before = change
        .old_labels
        .as_ref()
        .is_some_and(|l| selector.matches(l));
    match change.kind {
        ChangeType::Added => now.then_some("ADDED"),
        ChangeType::Modified => match (before, now) {
            (true, true) => Some("MODIFIED"),
            (false, true) => Some("ADDED"),
            (true, false) => Some("DELETED"),
            (false, false) => None,
        },
        ChangeType::Deleted => (before || now).then_some("DELETED"),
    }
}

fn streaming(rx: mpsc::Receiver<Bytes>) -> Response<Body> {
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, Infallible>(Frame::data(b)), rx))
    });
    let mut response = Response::new(BodyExt::boxed(StreamBody::new(stream)));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

fn watch(
    shared: &Arc<Shared>,
    resource: Resource,
    namespace: Option<String>,
    selector: LabelSelector,
    rv: &str,
    bookmarks: bool,
    timeout_secs: Option<u64>,
) -> Response<Body> {
    let (tx, rx) = mpsc::channel::<Bytes>(4096);
    let gone = shared
        .faults
        .gone_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();

    let (backlog, start_rv, events) = {
        let state = shared.state();
        let from = rv.parse::<u64>().ok().filter(|n| *n > 0);
        let backlog: Option<Vec<Bytes>> = match from {
            _ if gone => None,
            None => Some(
                state
                    .select(resource, namespace.as_deref(), &selector)
                    .iter()
                    .map(|json| event_line("ADDED", json))
                    .collect(),
            ),
            Some(n) => state.since(n).map(|changes| {
                changes
                    .iter()
                    .filter_map(|c| {
                        seen_as(c, resource, namespace.as_deref(), &selector)
                            .map(|kind| event_line(kind, &c.json))
                    })
                    .collect()
            }),
        };
        let Some(backlog) = backlog else {
            shared.stats.gone.fetch_add(1, Ordering::Relaxed);
            let line = gone_line(rv, state.floor);
            drop(state);
            let _ = tx.try_send(line);
            drop(tx);
            return streaming(rx);
        };
        (backlog, state.rv, shared.events.subscribe())
    };

    let watch_stop = shared.watch_token();
    let shared = Arc::clone(shared);
    tokio::spawn(async move {
        let muted = || shared.faults.muted.load(Ordering::SeqCst);
        for line in backlog {
            if !muted() && tx.send(line).await.is_err() {
                return;
            }
        }
        let mut events = events;
        let mut last_rv = start_rv;
        let deadline = timeout_secs
            .map(|s| tokio::time::Instant::now() + Duration::from_secs(s))
            .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600));
        let mut bookmark = tokio::time::interval(shared.bookmark_interval);
        bookmark.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        bookmark.tick().await;
        loop {
            tokio::select! {
                () = watch_stop.cancelled() => return,
                () = tokio::time::sleep_until(deadline) => return,
                _ = bookmark.tick(), if bookmarks => {
                    if !muted() && tx.send(bookmark_line(resource, last_rv)).await.is_err() {
                        return;
                    }
                }
                received = events.recv() => match received {
                    Ok(change) => {
                        last_rv = last_rv.max(change.rv);
                        if let Some(kind) = seen_as(&change, resource, namespace.as_deref(), &selector)
                            && !muted()
                            && tx.send(event_line(kind, &change.json)).await.is_err()
                        {
                            return;
                        }
                    }
                    // Too slow a reader: end the watch, as the API server does.
                    Err(broadcast::error::RecvError::Lagged(_) | broadcast::error::RecvError::Closed) => return,
                }
            }
        }
    });
    streaming(rx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(route("/api/v1/services"), Some((Resource::Services, None)));
        assert_eq!(
            route("/api/v1/namespaces/apps/pods"),
            Some((Resource::Pods, Some("apps".into())))
        );
        assert_eq!(
            route("/api/v1/namespaces"),
            Some((Resource::Namespaces, None))
        );
        assert_eq!(
            route("/apis/discovery.k8s.io/v1/namespaces/a/endpointslices"),
            Some((Resource::EndpointSlices, Some("a".into())))
        );
        assert_eq!(route("/api/v1/endpointslices"), None);
        assert_eq!(route("/api/v1/namespaces/a/namespaces"), None);
    }

    #[test]
    fn decodes_queries() {
        assert_eq!(
            percent_decode("app%3Dweb%2Ctier+in+%28a%29"),
            "app=web,tier in (a)"
        );
        assert_eq!(percent_decode("100%"), "100%");
    }
}
