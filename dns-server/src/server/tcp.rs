//! DNS over TCP (RFC 7766): two-byte length prefix, several queries per connection, answered in
//! order, an idle timeout so clients cannot hold connections forever.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::{ArcSwap, Cache};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use super::dispatch::Dispatcher;
use crate::contract::Transport;

const IDLE_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn serve(
    listener: TcpListener,
    dispatcher: Arc<ArcSwap<Dispatcher>>,
    shutdown: CancellationToken,
) {
    loop {
        let (stream, src) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(ok) => ok,
                Err(error) => {
                    tracing::warn!(%error, "tcp accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => return,
        };
        let d = Cache::new(Arc::clone(&dispatcher));
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            tokio::select! {
                result = connection(stream, src, d) => {
                    if let Err(error) = result {
                        tracing::debug!(%error, %src, "tcp connection ended");
                    }
                }
                () = shutdown.cancelled() => {}
            }
        });
    }
}

async fn connection(
    mut stream: TcpStream,
    src: SocketAddr,
    // Read per message: a reload applies to the next query on an open connection.
    mut dispatcher: Cache<Arc<ArcSwap<Dispatcher>>, Arc<Dispatcher>>,
) -> std::io::Result<()> {
    let _ = stream.set_nodelay(true);
    let mut message = Vec::new();
    loop {
        let mut len = [0u8; 2];
        match tokio::time::timeout(IDLE_TIMEOUT, stream.read_exact(&mut len)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Ok(Err(e)) => return Err(e),
            Err(_) => return Ok(()),
        }
        let len = usize::from(u16::from_be_bytes(len));
        message.resize(len, 0);
        match tokio::time::timeout(IDLE_TIMEOUT, stream.read_exact(&mut message)).await {
            Ok(result) => {
                result?;
            }
            Err(_) => return Ok(()),
        }
        let Some(reply) = dispatcher
            .load()
            .respond(&message, src, Transport::Tcp)
            .await
        else {
            continue;
        };
        let Ok(reply_len) = u16::try_from(reply.len()) else {
            continue;
        };
        let mut framed = Vec::with_capacity(reply.len() + 2);
        framed.extend_from_slice(&reply_len.to_be_bytes());
        framed.extend_from_slice(&reply);
        stream.write_all(&framed).await?;
    }
}
