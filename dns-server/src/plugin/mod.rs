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

pub mod acl;
pub mod any;
pub mod autopath;
pub mod bufsize;
pub mod cache;
pub mod chaos;
pub mod dns64;
pub mod errors;
pub mod eureka;
pub mod forward;
pub mod health;
pub mod hosts;
pub mod k8s_external;
pub mod kubernetes;
pub mod loadbalance;
pub mod local;
pub mod log;
pub mod loop_detect;
pub mod minimal;
pub mod nsid;
pub mod order;
pub mod prometheus;
pub mod ready;
pub mod reload;
pub mod rewrite;
pub mod template;
#[cfg(test)]
pub(crate) mod testing;
pub mod whoami;

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

    /// Post-process the result: applied at once to a ready result (still no allocation), or
    /// after the await for a pending one.
    pub fn map(self, f: impl FnOnce(PluginResult) -> PluginResult + Send + 'a) -> Self {
        match self {
            PluginFuture::Ready(Some(result)) => PluginFuture::ready(f(result)),
            done @ PluginFuture::Ready(None) => done,
            PluginFuture::Pending(fut) => PluginFuture::boxed(async move { f(fut.await) }),
        }
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

    /// The rest of the chain as an owned value, for work that outlives the query (a cache
    /// refreshing an entry in the background). Clones the `Arc`s: one allocation per call.
    pub fn to_owned_chain(self) -> OwnedNext {
        OwnedNext {
            rest: self.rest.into(),
        }
    }
}

/// The rest of a chain, owned: see [`Next::to_owned_chain`].
#[derive(Clone)]
pub struct OwnedNext {
    rest: Arc<[Arc<dyn Plugin>]>,
}

impl OwnedNext {
    pub async fn serve(&self, query: &Query) -> PluginResult {
        Next::new(&self.rest).serve(query).await
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
    /// Header bits of a relayed answer (`forward`), sent as the upstream set them.
    pub relayed: Option<RelayedFlags>,
}

/// Header bits an upstream decides, kept on a relayed answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelayedFlags {
    pub recursion_available: bool,
    pub authentic_data: bool,
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
    /// A plugin's own limit was hit (e.g. `forward`'s `max_concurrent`): the client is refused.
    #[error("overloaded: {0}")]
    Overloaded(String),
    /// The query gets no reply at all (`acl`'s `drop`).
    #[error("dropped: {0}")]
    Dropped(&'static str),
}

impl PluginError {
    /// The one place a plugin failure becomes an RCODE.
    pub fn rcode(&self) -> ResponseCode {
        match self {
            // Nothing in the chain claims the name: it is outside every zone rollcall answers
            // (and no `forward` takes it).
            // `Dropped` is never answered (the dispatcher sends nothing); REFUSED if it ever were.
            PluginError::NoNextPlugin | PluginError::Overloaded(_) | PluginError::Dropped(_) => {
                ResponseCode::Refused
            }
            PluginError::Upstream(_) | PluginError::Internal(_) => ResponseCode::ServFail,
        }
    }
}
