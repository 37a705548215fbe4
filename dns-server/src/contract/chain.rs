//! The chain's types: [`Plugin`] (one link), [`Next`] (the rest of the chain), and
//! [`PluginFuture`], the owned result of serving a query that is ready at once for plugins that
//! answer from memory (no allocation) and boxed only for those that truly wait.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::query::Query;
use super::reply::{PluginError, Reply};

/// One link of a server block's chain.
pub trait Plugin: Send + Sync + 'static {
    /// The directive name, for logs and the plan.
    fn name(&self) -> &'static str;

    fn serve<'a>(&'a self, query: &'a Query, next: Next<'a>) -> PluginFuture<'a>;
}

/// What serving a query gives: an answer, or a failure the dispatcher maps to an RCODE.
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
                None => Poll::Ready(Err(PluginError::internal("chain", PolledTwice))),
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

/// A [`PluginFuture`] polled again after it completed: a bug in the caller.
#[derive(Debug, thiserror::Error)]
#[error("plugin future polled after completion")]
struct PolledTwice;
