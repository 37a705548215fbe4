//! A minimal HTTP/1.1 responder for the probe endpoints (`/health`, `/ready`) and `/metrics`:
//! one GET per connection, a computed answer, nothing else. Probes and scrapers need no more, and
//! it keeps the DNS binary free of an HTTP stack for three paths.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Answers a path with (status, body).
pub type Responder = Arc<dyn Fn(&str) -> (u16, String) + Send + Sync>;

pub async fn serve(listener: Arc<TcpListener>, respond: Responder, shutdown: CancellationToken) {
    serve_typed(listener, "text/plain", respond, shutdown).await;
}

/// [`serve`] with the `Content-Type` of 200 answers (`/metrics` names its format version).
pub async fn serve_typed(
    listener: Arc<TcpListener>,
    content_type: &'static str,
    respond: Responder,
    shutdown: CancellationToken,
) {
    loop {
        let (mut stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(ok) => ok,
                Err(error) => {
                    tracing::debug!(%error, "probe accept failed");
                    continue;
                }
            },
            () = shutdown.cancelled() => return,
        };
        let respond = Arc::clone(&respond);
        tokio::spawn(async move {
            let mut buf = vec![0u8; 2048];
            let Ok(Ok(n)) =
                tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await
            else {
                return;
            };
            let request = String::from_utf8_lossy(&buf[..n]);
            let mut parts = request.split_whitespace();
            let (status, body) = match (parts.next(), parts.next()) {
                (Some("GET" | "HEAD"), Some(path)) => {
                    respond(path.split('?').next().unwrap_or(path))
                }
                _ => (405, "method not allowed\n".to_string()),
            };
            let reason = match status {
                200 => "OK",
                404 => "Not Found",
                405 => "Method Not Allowed",
                _ => "Service Unavailable",
            };
            let content_type = if status == 200 {
                content_type
            } else {
                "text/plain"
            };
            let response = format!(
                "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
        });
    }
}

/// Listen on `addr` (or take the previous configuration's socket there) for a probe endpoint and serve it (used by the `health` and `ready` start hooks).
pub fn spawn(
    what: &'static str,
    addr: std::net::SocketAddr,
    respond: Responder,
    start: &super::start::StartContext,
) -> Result<(), super::start::StartError> {
    spawn_typed(what, addr, "text/plain", respond, start)
}

/// [`spawn`] with the `Content-Type` of 200 answers.
pub fn spawn_typed(
    what: &'static str,
    addr: std::net::SocketAddr,
    content_type: &'static str,
    respond: Responder,
    start: &super::start::StartContext,
) -> Result<(), super::start::StartError> {
    let listener = start.tcp_listener(what, addr)?;
    // tcp_listener recorded the bound address (port 0 resolved); log what clients reach.
    if let Ok(bound) = listener.local_addr() {
        tracing::info!(listen = %bound, "serving {what} endpoint");
    }
    tokio::spawn(serve_typed(
        listener,
        content_type,
        respond,
        start.shutdown.clone(),
    ));
    Ok(())
}
