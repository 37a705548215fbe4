//! The HTTP side: one axum fallback handler that routes by hand (both `/eureka/` and
//! `/eureka/v2/`, trailing slashes, percent-encoded ids), authentication, content negotiation,
//! and the mapping of errors to statuses ([`error`]).

mod auth;
mod error;
mod negotiate;
mod routes;

use axum::Router;
use axum::extract::{Request, State};
use axum::response::Response;
use axum::serve::ListenerExt as _;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use super::EurekaRegistry;

async fn handle(State(registry): State<EurekaRegistry>, req: Request) -> Response {
    match routes::dispatch(&registry, req).await {
        Ok(resp) => resp,
        Err(e) => e.into_response(),
    }
}

/// Serves the API on `listener` until `shutdown` is cancelled.
pub(crate) async fn serve_http(
    registry: EurekaRegistry,
    listener: Arc<TcpListener>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let app = Router::new().fallback(handle).with_state(registry);
    let listener = Shared(listener).tap_io(|tcp| {
        // Small answers (heartbeats) must not wait for Nagle.
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}

/// A listener that another server may accept on too (during a configuration reload).
struct Shared(Arc<TcpListener>);

impl axum::serve::Listener for Shared {
    type Io = TcpStream;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.0.accept().await {
                Ok(accepted) => return accepted,
                // Out of descriptors or an aborted handshake: back off briefly, as axum does.
                Err(error) => {
                    tracing::debug!(%error, "eureka accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.0.local_addr()
    }
}
