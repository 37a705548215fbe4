//! The UDP loop. A query the chain answers from memory is answered inline, with no task spawned
//! (the whole answer is computed on the first poll); only a query that has to wait (upstream,
//! timers) becomes a task of its own.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use arc_swap::{ArcSwap, Cache};
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use super::dispatch::Dispatcher;
use crate::contract::Transport;

type Pending = Pin<Box<dyn Future<Output = Option<Vec<u8>>> + Send>>;

pub async fn serve(
    socket: Arc<UdpSocket>,
    dispatcher: Arc<ArcSwap<Dispatcher>>,
    shutdown: CancellationToken,
) {
    // A reload stores a new dispatcher; the cache sees it on the next packet. Per packet this
    // costs one atomic load (pointer compare) on top of the `Arc` clone the loop always did.
    let mut dispatcher = Cache::new(dispatcher);
    let mut buf = vec![0u8; 65535];
    loop {
        let (len, src) = tokio::select! {
            received = socket.recv_from(&mut buf) => match received {
                Ok(ok) => ok,
                Err(error) => {
                    // ICMP errors from earlier sends surface here on Linux; they are not fatal.
                    tracing::debug!(%error, "udp receive error");
                    continue;
                }
            },
            () = shutdown.cancelled() => return,
        };
        let message = buf[..len].to_vec();
        let d = Arc::clone(dispatcher.load());
        let fut: Pending = Box::pin(async move { d.respond(&message, src, Transport::Udp).await });
        match poll_once(fut) {
            Ok(reply) => send(&socket, reply, src).await,
            Err(fut) => {
                let socket = Arc::clone(&socket);
                tokio::spawn(async move {
                    let reply = fut.await;
                    send(&socket, reply, src).await;
                });
            }
        }
    }
}

/// Poll a future once with a no-op waker: its output if it finished, else the future to spawn
/// (the task polls it again with a real waker).
fn poll_once(mut fut: Pending) -> Result<Option<Vec<u8>>, Pending> {
    let mut cx = Context::from_waker(Waker::noop());
    match fut.as_mut().poll(&mut cx) {
        Poll::Ready(reply) => Ok(reply),
        Poll::Pending => Err(fut),
    }
}

async fn send(socket: &UdpSocket, reply: Option<Vec<u8>>, to: SocketAddr) {
    let Some(reply) = reply else { return };
    // try_send_to first: the socket is almost always writable, and this skips a readiness await.
    match socket.try_send_to(&reply, to) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
            if let Err(error) = socket.send_to(&reply, to).await {
                tracing::debug!(%error, %to, "udp send failed");
            }
        }
        Err(error) => tracing::debug!(%error, %to, "udp send failed"),
    }
}
