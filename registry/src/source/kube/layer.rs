//! A tower layer on the kube client's HTTP stack, under every list and watch request:
//! - `apiserver_qps` / `apiserver_burst`: a token bucket, waited on in `poll_ready` (kube's client
//!   drives its stack through one buffer worker, so waiting there delays every request in turn,
//!   as client-go's rate limiter does);
//! - a deadline for the response headers, so an API server that accepts a connection but never
//!   answers costs one timeout, not a hung list (watch *bodies* are covered by the silence check
//!   in [`super::watch`] instead, because a healthy watch can be quiet for minutes);
//! - activity stamps: every response and every chunk of a watch stream (BOOKMARKs included)
//!   records when its kind was last heard from ([`super::activity`]).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};
use tower::{BoxError, Layer, Service};

use super::activity::{Activity, kind_of_path};
use crate::store::ObjectKind;

/// Client-side request rate: `qps` sustained, `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    pub qps: f64,
    pub burst: u32,
}

#[derive(Clone)]
pub(crate) struct ApiLayer {
    pub(crate) rate: Option<RateLimit>,
    pub(crate) header_timeout: Duration,
    pub(crate) activity: Arc<Activity>,
}

impl<S> Layer<S> for ApiLayer {
    type Service = ApiService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ApiService {
            inner,
            bucket: self.rate.map(TokenBucket::new),
            header_timeout: self.header_timeout,
            activity: Arc::clone(&self.activity),
        }
    }
}

pub(crate) struct ApiService<S> {
    inner: S,
    bucket: Option<TokenBucket>,
    header_timeout: Duration,
    activity: Arc<Activity>,
}

impl<S, B> Service<Request<kube::client::Body>> for ApiService<S>
where
    S: Service<Request<kube::client::Body>, Response = Response<B>>,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Response = Response<ActivityBody<B>>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        if let Some(bucket) = &mut self.bucket {
            ready!(bucket.poll_acquire(cx));
        }
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request<kube::client::Body>) -> Self::Future {
        if let Some(bucket) = &mut self.bucket {
            bucket.spend();
        }
        let kind = kind_of_path(request.uri().path());
        let activity = Arc::clone(&self.activity);
        let timeout = self.header_timeout;
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = match tokio::time::timeout(timeout, response).await {
                Ok(result) => result.map_err(Into::into)?,
                Err(_) => return Err(NoResponse { timeout }.into()),
            };
            if let Some(kind) = kind {
                activity.heard(kind);
            }
            Ok(response.map(|inner| ActivityBody {
                inner,
                kind,
                activity,
            }))
        })
    }
}

/// The API server did not send response headers in time ([`super::Tuning::request_timeout`]).
#[derive(Debug, thiserror::Error)]
#[error("the API server sent no response within {} ms", .timeout.as_millis())]
pub(crate) struct NoResponse {
    timeout: Duration,
}

/// A response body that stamps its kind's activity on every frame.
pub(crate) struct ActivityBody<B> {
    inner: B,
    kind: Option<ObjectKind>,
    activity: Arc<Activity>,
}

impl<B> Body for ActivityBody<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let (Poll::Ready(Some(Ok(_))), Some(kind)) = (&polled, self.kind) {
            self.activity.heard(kind);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Tokens refill at `qps` per second up to `burst`; a request takes one.
struct TokenBucket {
    rate: f64,
    capacity: f64,
    tokens: f64,
    refilled: Instant,
    /// A token was taken in `poll_ready` and not yet spent by `call`.
    reserved: bool,
    wait: Option<Pin<Box<Sleep>>>,
}

impl TokenBucket {
    fn new(limit: RateLimit) -> Self {
        let capacity = f64::from(limit.burst.max(1));
        TokenBucket {
            rate: limit.qps.max(f64::MIN_POSITIVE),
            capacity,
            tokens: capacity,
            refilled: Instant::now(),
            reserved: false,
            wait: None,
        }
    }

    fn poll_acquire(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.reserved {
            return Poll::Ready(());
        }
        loop {
            if let Some(wait) = &mut self.wait {
                ready!(wait.as_mut().poll(cx));
                self.wait = None;
            }
            let now = Instant::now();
            let elapsed = now.duration_since(self.refilled).as_secs_f64();
            self.tokens = (self.tokens + elapsed * self.rate).min(self.capacity);
            self.refilled = now;
            if self.tokens >= 1.0 {
                self.tokens -= 1.0;
                self.reserved = true;
                return Poll::Ready(());
            }
            let missing = (1.0 - self.tokens) / self.rate;
            let delay = Duration::try_from_secs_f64(missing).unwrap_or(Duration::from_secs(1));
            self.wait = Some(Box::pin(tokio::time::sleep(delay)));
        }
    }

    fn spend(&mut self) {
        self.reserved = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn bucket_allows_a_burst_then_paces() {
        let mut bucket = TokenBucket::new(RateLimit {
            qps: 10.0,
            burst: 3,
        });
        let start = Instant::now();
        for _ in 0..6 {
            std::future::poll_fn(|cx| bucket.poll_acquire(cx)).await;
            bucket.spend();
        }
        let took = start.elapsed();
        // Three at once, then three more at 10 per second.
        assert!(
            took >= Duration::from_millis(290) && took < Duration::from_millis(400),
            "{took:?}"
        );
    }
}
