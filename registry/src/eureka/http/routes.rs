//! Routing and the endpoint handlers.
//!
//! Routes (under `/eureka` and `/eureka/v2`; a trailing slash is accepted everywhere):
//!
//! | Method | Path | |
//! |---|---|---|
//! | GET | `/apps` | full registry |
//! | GET | `/apps/delta` | changes of the last `delta_retention` |
//! | GET, POST | `/apps/{APP}` | one application; register (204) |
//! | GET, PUT, DELETE | `/apps/{APP}/{ID}` | one instance; heartbeat (200/404); cancel (200) |
//! | PUT, DELETE | `/apps/{APP}/{ID}/status` | status override; remove it |
//! | PUT | `/apps/{APP}/{ID}/metadata` | merge metadata from the query |
//! | GET | `/instances/{ID}` | an instance by id |
//! | GET | `/vips/{vip}`, `/svips/{svip}` | instances by (secure) VIP address |
//! | GET | `/status` | server status |
//!
//! and `GET /` for the dashboard.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use http_body_util::{BodyExt as _, LengthLimitError, Limited};

use super::auth;
use super::error::ApiError;
use super::negotiate::{self, doc_response, empty, response_format};
use crate::eureka::decode::{BodyFormat, decode_instance};
use crate::eureka::listing::Doc;
use crate::eureka::model::Status;
use crate::eureka::registry::Origin;
use crate::eureka::render::{self, Format};
use crate::eureka::replication::{self, Action};
use crate::eureka::{EurekaRegistry, dashboard};

/// The path after the API prefix, or `None` for paths outside the API.
fn strip_api_prefix(path: &str) -> Option<&str> {
    ["/eureka/v2", "/eureka"].into_iter().find_map(|p| {
        let rest = path.strip_prefix(p)?;
        (rest.is_empty() || rest.starts_with('/')).then_some(rest)
    })
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-decoding (and `+` → space when `plus_is_space`, for query strings).
fn percent_decode(s: &str, plus_is_space: bool) -> Result<String, ApiError> {
    if !s.contains(['%', '+']) {
        return Ok(s.to_string());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let decoded = bytes
                    .get(i + 1)
                    .and_then(|h| hex(*h))
                    .zip(bytes.get(i + 2).and_then(|l| hex(*l)));
                match decoded {
                    Some((h, l)) => {
                        out.push(h << 4 | l);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out)
        .map_err(|_| ApiError::BadRequest(format!("`{s}` is not UTF-8 once percent-decoded")))
}

fn parse_query(q: Option<&str>) -> Result<Vec<(String, String)>, ApiError> {
    let Some(q) = q else {
        return Ok(Vec::new());
    };
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            Ok((percent_decode(k, true)?, percent_decode(v, true)?))
        })
        .collect()
}

fn param<'a>(q: &'a [(String, String)], name: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn timestamp_param(q: &[(String, String)]) -> Result<Option<u64>, ApiError> {
    match param(q, "lastDirtyTimestamp").map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => v
            .parse::<u64>()
            .map(Some)
            .map_err(|_| ApiError::BadRequest(format!("lastDirtyTimestamp `{v}` is not a number"))),
    }
}

fn status_param(q: &[(String, String)], required: bool) -> Result<Option<Status>, ApiError> {
    match param(q, "value").map(str::trim) {
        None | Some("") if required => Err(ApiError::BadRequest(
            "missing query parameter `value` (UP, DOWN, STARTING, OUT_OF_SERVICE, UNKNOWN)"
                .to_string(),
        )),
        None | Some("") => Ok(None),
        Some(v) => Status::parse(v).map(Some).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "`{v}` is not a status (UP, DOWN, STARTING, OUT_OF_SERVICE, UNKNOWN)"
            ))
        }),
    }
}

/// Reads a request body up to the limit (after gzip decoding when so encoded).
async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, ApiError> {
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        && len > limit as u64
    {
        return Err(ApiError::PayloadTooLarge(limit));
    }
    let bytes = match Limited::new(body, limit).collect().await {
        Ok(c) => c.to_bytes(),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
            return Err(ApiError::PayloadTooLarge(limit));
        }
        Err(e) => {
            return Err(ApiError::BadRequest(format!(
                "cannot read the request body: {e}"
            )));
        }
    };
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_ascii_lowercase());
    match encoding.as_deref() {
        None | Some("") | Some("identity") => Ok(bytes),
        Some("gzip") | Some("x-gzip") => {
            use std::io::Read as _;
            let mut out = Vec::new();
            let mut dec = flate2::read::GzDecoder::new(&bytes[..]).take(limit as u64 + 1);
            dec.read_to_end(&mut out)
                .map_err(|e| ApiError::BadRequest(format!("malformed gzip body: {e}")))?;
            if out.len() > limit {
                return Err(ApiError::PayloadTooLarge(limit));
            }
            Ok(Bytes::from(out))
        }
        Some(other) => Err(ApiError::UnsupportedMediaType(format!(
            "unsupported Content-Encoding `{other}`"
        ))),
    }
}

/// Runs CPU-heavy rendering off the async workers, so heartbeats are not held up.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::Internal(format!("rendering failed: {e}")))
}

async fn listing(
    registry: &EurekaRegistry,
    headers: &HeaderMap,
    f: impl FnOnce(&EurekaRegistry, Format, bool) -> Result<Vec<Bytes>, ApiError> + Send + 'static,
) -> Result<Response, ApiError> {
    let format = response_format(headers);
    let gz = negotiate::wants_gzip(headers);
    let reg = registry.clone();
    // Render and (when asked) compress on a blocking thread.
    let body = blocking(move || f(&reg, format, gz)).await??;
    Ok(negotiate::chunks_response(format, gz, body))
}

async fn doc_listing(
    registry: &EurekaRegistry,
    headers: &HeaderMap,
    f: impl FnOnce(&EurekaRegistry, Format) -> Arc<Doc> + Send + 'static,
) -> Result<Response, ApiError> {
    let format = response_format(headers);
    let gz = negotiate::wants_gzip(headers);
    let reg = registry.clone();
    let (body, gzipped) = blocking(move || f(&reg, format).body(gz)).await?;
    Ok(negotiate::chunks_response(format, gzipped, body))
}

const ALLOW_GET: &str = "GET, HEAD";
const ALLOW_APP: &str = "GET, HEAD, POST";
const ALLOW_INSTANCE: &str = "GET, HEAD, PUT, DELETE";
const ALLOW_STATUS: &str = "PUT, DELETE";
const ALLOW_METADATA: &str = "PUT";
const ALLOW_POST: &str = "POST";
/// A replication batch holds up to 250 whole instances.
const MAX_BATCH_BYTES: usize = 16 << 20;

/// Routes one request.
pub(crate) async fn dispatch(
    registry: &EurekaRegistry,
    req: Request,
) -> Result<Response, ApiError> {
    let (parts, body) = req.into_parts();
    let method = parts.method;
    let headers = parts.headers;
    let is_read = method == Method::GET || method == Method::HEAD;
    let cfg = registry.config();
    if let Some(a) = &cfg.auth
        && (!is_read || cfg.auth_reads)
    {
        auth::check(a, &headers)?;
    }
    let path = parts.uri.path();
    if path == "/" {
        return if is_read {
            Ok(negotiate::text_response(
                &headers,
                "text/html; charset=utf-8",
                dashboard::render(registry),
            ))
        } else {
            Err(ApiError::MethodNotAllowed(ALLOW_GET))
        };
    }
    let Some(rest) = strip_api_prefix(path) else {
        return Err(ApiError::NotFound(format!("no such path: {path}")));
    };
    let rest = rest.strip_prefix('/').unwrap_or(rest);
    let mut raw: Vec<&str> = rest.split('/').collect();
    if raw.len() > 1 && raw.last() == Some(&"") {
        raw.pop();
    }
    if raw.iter().any(|s| s.is_empty()) {
        return Err(ApiError::NotFound(format!("no such path: {path}")));
    }
    let segs: Vec<String> = raw
        .iter()
        .map(|s| percent_decode(s, false))
        .collect::<Result<_, _>>()?;
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let query = parse_query(parts.uri.query())?;
    // A peer's change (Netflix's `x-netflix-discovery-replication`): applied, never sent on.
    let replication = headers
        .get("x-netflix-discovery-replication")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true"));

    match segs.as_slice() {
        ["apps"] => {
            if !is_read {
                return Err(ApiError::MethodNotAllowed(ALLOW_GET));
            }
            listing(registry, &headers, |r, f, gz| {
                Ok(r.full_listing(f, gz).into_body(gz))
            })
            .await
        }
        ["apps", "delta"] if is_read => {
            listing(registry, &headers, |r, f, gz| Ok(r.delta_listing(f, gz))).await
        }
        ["apps", app] => {
            let app = app.to_uppercase();
            if is_read {
                listing(registry, &headers, move |r, f, gz| {
                    Ok(r.app_listing(&app, f, gz)?.into_body(gz))
                })
                .await
            } else if method == Method::POST {
                let bytes = read_body(&headers, body, cfg.max_body_bytes).await?;
                let content_type = headers
                    .get(header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok());
                let format = BodyFormat::detect(content_type, &bytes);
                let info =
                    decode_instance(&bytes, format, &app, registry.now(), cfg.default_lease_secs)
                        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
                if replication {
                    registry.register_from(info, Origin::Peer)?;
                } else {
                    let id = info.instance_id.clone();
                    registry.register(info)?;
                    registry.replicate(Action::Register, &app, &id);
                }
                Ok(empty(StatusCode::NO_CONTENT))
            } else {
                Err(ApiError::MethodNotAllowed(ALLOW_APP))
            }
        }
        ["apps", app, id] => {
            let app = app.to_uppercase();
            if is_read {
                let (rec, lease) = registry.instance(&app, id)?;
                let format = response_format(&headers);
                Ok(doc_response(
                    &headers,
                    format,
                    render::single_instance(format, &rec.info, &lease),
                ))
            } else if method == Method::PUT {
                let ts = timestamp_param(&query)?;
                if replication {
                    return Ok(peer_heartbeat_response(registry, &app, id, ts));
                }
                registry.renew(&app, id, ts)?;
                registry.replicate(Action::Heartbeat, &app, id);
                Ok(empty(StatusCode::OK))
            } else if method == Method::DELETE {
                registry.cancel(&app, id)?;
                if !replication {
                    registry.replicate(Action::Cancel, &app, id);
                }
                Ok(empty(StatusCode::OK))
            } else {
                Err(ApiError::MethodNotAllowed(ALLOW_INSTANCE))
            }
        }
        ["apps", app, id, "status"] => {
            let app = app.to_uppercase();
            if method == Method::PUT {
                let status = status_param(&query, true)?;
                let ts = timestamp_param(&query)?;
                match status {
                    Some(s) => registry.set_status_override(&app, id, s, ts)?,
                    None => return Err(ApiError::BadRequest("missing `value`".to_string())),
                }
                if !replication {
                    registry.replicate(Action::StatusUpdate, &app, id);
                }
                Ok(empty(StatusCode::OK))
            } else if method == Method::DELETE {
                let status = status_param(&query, false)?;
                let ts = timestamp_param(&query)?;
                registry.delete_status_override(&app, id, status, ts)?;
                if !replication {
                    registry.replicate(Action::DeleteStatusOverride, &app, id);
                }
                Ok(empty(StatusCode::OK))
            } else {
                Err(ApiError::MethodNotAllowed(ALLOW_STATUS))
            }
        }
        ["apps", app, id, "metadata"] => {
            if method != Method::PUT {
                return Err(ApiError::MethodNotAllowed(ALLOW_METADATA));
            }
            let app = app.to_uppercase();
            let entries: Vec<(String, String)> =
                query.into_iter().filter(|(k, _)| !k.is_empty()).collect();
            registry.update_metadata(&app, id, &entries)?;
            if !replication {
                registry.replicate(Action::Register, &app, id);
            }
            Ok(empty(StatusCode::OK))
        }
        ["instances", id] => {
            if !is_read {
                return Err(ApiError::MethodNotAllowed(ALLOW_GET));
            }
            let (rec, lease) = registry
                .instance_by_id(id)
                .ok_or_else(|| ApiError::NotFound(format!("instance {id} is not registered")))?;
            let format = response_format(&headers);
            Ok(doc_response(
                &headers,
                format,
                render::single_instance(format, &rec.info, &lease),
            ))
        }
        [kind @ ("vips" | "svips"), vip] => {
            if !is_read {
                return Err(ApiError::MethodNotAllowed(ALLOW_GET));
            }
            let secure = *kind == "svips";
            let vip = vip.to_string();
            doc_listing(registry, &headers, move |r, f| {
                Arc::new(r.vip_listing(&vip, secure, f))
            })
            .await
        }
        ["peerreplication", "batch"] => {
            if method != Method::POST {
                return Err(ApiError::MethodNotAllowed(ALLOW_POST));
            }
            let bytes = read_body(&headers, body, MAX_BATCH_BYTES.max(cfg.max_body_bytes)).await?;
            let reg = registry.clone();
            let out = blocking(move || replication::apply_batch(reg.core(), &bytes))
                .await?
                .map_err(|e| ApiError::BadRequest(e.to_string()))?;
            Ok(negotiate::text_response(
                &headers,
                Format::Json.content_type(),
                out,
            ))
        }
        ["status"] => {
            if !is_read {
                return Err(ApiError::MethodNotAllowed(ALLOW_GET));
            }
            let format = response_format(&headers);
            Ok(doc_response(
                &headers,
                format,
                status_document(registry, format),
            ))
        }
        _ => Err(ApiError::NotFound(format!("no such path: {path}"))),
    }
}

/// A peer's heartbeat: 404 (register it here), 409 with this node's newer copy, or 200.
fn peer_heartbeat_response(
    registry: &EurekaRegistry,
    app: &str,
    id: &str,
    ts: Option<u64>,
) -> Response {
    let (code, entity) = replication::peer_heartbeat(registry.core(), app, id, ts);
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match entity {
        Some(body) => {
            let mut resp =
                negotiate::text_response(&HeaderMap::new(), Format::Json.content_type(), body);
            *resp.status_mut() = status;
            resp
        }
        None => empty(status),
    }
}

fn status_document(registry: &EurekaRegistry, format: Format) -> String {
    let s = registry.stats();
    let up = s.uptime.as_secs();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let general: Vec<(&str, String)> = vec![
        ("environment", "rollcall".to_string()),
        ("num-of-cpus", cpus.to_string()),
        (
            "server-uptime",
            format!("{:02}:{:02}", up / 3600, (up / 60) % 60),
        ),
        ("registered-apps", s.apps.to_string()),
        ("registered-instances", s.instances.to_string()),
        ("renews-last-min", s.renews_last_min.to_string()),
        ("renews-threshold", s.renews_threshold.to_string()),
        ("expected-clients", s.expected_clients.to_string()),
        (
            "self-preservation-enabled",
            s.self_preservation_enabled.to_string(),
        ),
        (
            "self-preservation-active",
            s.self_preservation_active().to_string(),
        ),
        (
            "lease-expiration-enabled",
            s.lease_expiration_enabled.to_string(),
        ),
        ("versions-delta", s.version.to_string()),
        ("delta-queue-size", s.delta_queue_len.to_string()),
    ];
    let application: Vec<(&str, String)> = vec![
        ("registered-replicas", String::new()),
        ("available-replicas", String::new()),
        ("unavailable-replicas", String::new()),
    ];
    render::status_info(format, &general, &application)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        assert_eq!(strip_api_prefix("/eureka/v2/apps"), Some("/apps"));
        assert_eq!(strip_api_prefix("/eureka/apps/"), Some("/apps/"));
        assert_eq!(strip_api_prefix("/eureka"), Some(""));
        assert_eq!(strip_api_prefix("/eurekax/apps"), None);
        assert_eq!(strip_api_prefix("/apps"), None);
    }

    #[test]
    fn decoding() {
        assert_eq!(
            percent_decode("10.0.0.1%3Aapp%3a80", false).unwrap(),
            "10.0.0.1:app:80"
        );
        assert_eq!(percent_decode("a+b", false).unwrap(), "a+b");
        assert_eq!(percent_decode("a+b%2B", true).unwrap(), "a b+");
        assert_eq!(percent_decode("100%", false).unwrap(), "100%");
        assert!(percent_decode("%ff", false).is_err());
        let q = parse_query(Some("value=OUT_OF_SERVICE&lastDirtyTimestamp=12&&x")).unwrap();
        assert_eq!(param(&q, "value"), Some("OUT_OF_SERVICE"));
        assert_eq!(timestamp_param(&q).unwrap(), Some(12));
        assert_eq!(param(&q, "x"), Some(""));
    }
}
