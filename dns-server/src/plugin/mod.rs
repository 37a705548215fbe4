//! The plugin contract, as CoreDNS's `plugin.md` states it for Go:
//!
//! - A plugin either answers a query or hands it to the rest of the chain with [`Next::serve`].
//!   A plugin that owns a zone answers every query in it (NXDOMAIN included), except where its
//!   `fallthrough` option says to pass NXDOMAIN on.
//! - Middleware (errors, log, ...) calls `next` and inspects or post-processes the result.
//! - Replies are owned values and store data sits behind immutable `Arc`s, so a plugin can never
//!   mutate an answer another plugin (or a cache) still holds.
//! - A plugin returns `Err` for failures that are not an answer (upstream timeout, no next
//!   plugin); the dispatcher maps every error to an RCODE in one place.
//!
//! The order plugins run in is fixed by [`order`], never by the order of lines in a Corefile.

pub mod errors;
pub mod eureka;
pub mod health;
pub mod kubernetes;
pub mod log;
pub mod order;
pub mod prometheus;
pub mod ready;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::Record;

use crate::server::query::Query;

/// One link of a server block's chain.
pub trait Plugin: Send + Sync + 'static {
    /// The directive name, for logs and the plan.
    fn name(&self) -> &'static str;

    fn serve<'a>(&'a self, query: &'a Query, next: Next<'a>) -> PluginFuture<'a>;
}

pub type PluginResult = Result<Reply, PluginError>;

/// What a plugin returns. Plugins that answer from memory return [`PluginFuture::ready`], which
/// costs no allocation; only plugins that really wait (network, timers) box a future.
pub enum PluginFuture<'a> {
    Ready(Option<PluginResult>),
    Pending(Pin<Box<dyn Future<Output = PluginResult> + Send + 'a>>),
}

impl<'a> PluginFuture<'a> {
    pub fn ready(result: PluginResult) -> Self {
        PluginFuture::Ready(Some(result))
    }

    pub fn boxed(fut: impl Future<Output = PluginResult> + Send + 'a) -> Self {
        PluginFuture::Pending(Box::pin(fut))
    }
}

impl Future for PluginFuture<'_> {
    type Output = PluginResult;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<PluginResult> {
        match self.get_mut() {
            PluginFuture::Ready(result) => match result.take() {
                Some(result) => Poll::Ready(result),
                None => Poll::Ready(Err(PluginError::Internal(
                    "plugin future polled after completion".into(),
                ))),
            },
            PluginFuture::Pending(fut) => fut.as_mut().poll(cx),
        }
    }
}

/// The rest of the chain after the current plugin.
#[derive(Clone, Copy)]
pub struct Next<'a> {
    rest: &'a [Arc<dyn Plugin>],
}

impl<'a> Next<'a> {
    pub fn new(chain: &'a [Arc<dyn Plugin>]) -> Self {
        Next { rest: chain }
    }

    pub fn serve(self, query: &'a Query) -> PluginFuture<'a> {
        match self.rest.split_first() {
            Some((plugin, rest)) => plugin.serve(query, Next { rest }),
            None => PluginFuture::ready(Err(PluginError::NoNextPlugin)),
        }
    }
}

/// An answer, before it is encoded for the wire.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reply {
    pub rcode: ResponseCode,
    pub authoritative: bool,
    /// Set when a sub-lookup (e.g. a chased CNAME target) was itself truncated.
    pub truncated: bool,
    pub answers: Vec<Record>,
    pub authority: Vec<Record>,
    pub additionals: Vec<Record>,
    /// Which plugin wrote the reply (for logs and metrics).
    pub plugin: &'static str,
}

impl Reply {
    pub fn new(rcode: ResponseCode, plugin: &'static str) -> Self {
        Reply {
            rcode,
            plugin,
            ..Reply::default()
        }
    }
}

#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum PluginError {
    #[error("no next plugin: the chain ended without an answer")]
    NoNextPlugin,
    #[error("upstream: {0}")]
    Upstream(String),
    #[error("internal: {0}")]
    Internal(String),
}

impl PluginError {
    /// The one place a plugin failure becomes an RCODE.
    pub fn rcode(&self) -> ResponseCode {
        match self {
            // Nothing in the chain claims the name: it is outside every zone rollcall answers
            // (until a `forward` plugin takes such names).
            PluginError::NoNextPlugin => ResponseCode::Refused,
            PluginError::Upstream(_) | PluginError::Internal(_) => ResponseCode::ServFail,
        }
    }
}
