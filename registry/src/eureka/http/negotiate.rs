//! Content negotiation as Eureka does it (JSON only when `Accept` contains `json`, else XML; gzip
//! when `Accept-Encoding` allows it) and the response bodies.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use http_body::{Frame, SizeHint};

use crate::eureka::gzip;
use crate::eureka::render::Format;

/// JSON when any `Accept` header contains `json`; XML otherwise (no header, `*/*`, XML).
pub(crate) fn response_format(headers: &HeaderMap) -> Format {
    let json = headers.get_all(header::ACCEPT).iter().any(|v| {
        v.to_str()
            .map(|s| s.to_ascii_lowercase().contains("json"))
            .unwrap_or(false)
    });
    if json { Format::Json } else { Format::Xml }
}

/// Whether `Accept-Encoding` allows gzip (`gzip`, `x-gzip` or `*` with a non-zero q).
pub(crate) fn wants_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            if !matches!(coding.as_str(), "gzip" | "x-gzip" | "*") {
                return false;
            }
            let q = parts
                .filter_map(|p| {
                    p.trim()
                        .strip_prefix("q=")
                        .or_else(|| p.trim().strip_prefix("Q="))
                })
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            q > 0.0
        })
}

/// A body sent as a list of buffers (the full registry is many cached chunks).
pub(crate) struct ChunksBody {
    chunks: VecDeque<Bytes>,
    remaining: u64,
}

impl ChunksBody {
    pub(crate) fn new(chunks: Vec<Bytes>) -> Self {
        let chunks: VecDeque<Bytes> = chunks.into_iter().filter(|b| !b.is_empty()).collect();
        let remaining = chunks.iter().map(|b| b.len() as u64).sum();
        Self { chunks, remaining }
    }
}

impl http_body::Body for ChunksBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        match this.chunks.pop_front() {
            Some(b) => {
                this.remaining = this.remaining.saturating_sub(b.len() as u64);
                Poll::Ready(Some(Ok(Frame::data(b))))
            }
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.chunks.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

fn with_headers(
    status: StatusCode,
    body: Body,
    content_type: &'static str,
    gzipped: bool,
) -> Response {
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::VARY,
        HeaderValue::from_static("Accept, Accept-Encoding"),
    );
    if gzipped {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    resp
}

/// A 200 answer with `text` of `content_type`, gzipped when the client allows it.
pub(crate) fn text_response(
    headers: &HeaderMap,
    content_type: &'static str,
    text: String,
) -> Response {
    if wants_gzip(headers)
        && let Some(gz) = gzip::gzip(text.as_bytes())
    {
        return with_headers(StatusCode::OK, Body::from(gz), content_type, true);
    }
    with_headers(StatusCode::OK, Body::from(text), content_type, false)
}

/// A 200 answer with a document in `format`.
pub(crate) fn doc_response(headers: &HeaderMap, format: Format, text: String) -> Response {
    text_response(headers, format.content_type(), text)
}

/// A 200 answer in `format` made of buffers (already gzipped when `gzipped`).
pub(crate) fn chunks_response(format: Format, gzipped: bool, body: Vec<Bytes>) -> Response {
    with_headers(
        StatusCode::OK,
        Body::new(ChunksBody::new(body)),
        format.content_type(),
        gzipped,
    )
}

/// An answer without a body (and without a content type: Java clients decode a typed 200 body).
pub(crate) fn empty(status: StatusCode) -> Response {
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = status;
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(name: header::HeaderName, v: &str) -> HeaderMap {
        let mut m = HeaderMap::new();
        m.insert(name, HeaderValue::from_str(v).unwrap());
        m
    }

    #[test]
    fn format() {
        assert_eq!(response_format(&HeaderMap::new()), Format::Xml);
        assert_eq!(response_format(&h(header::ACCEPT, "*/*")), Format::Xml);
        assert_eq!(
            response_format(&h(header::ACCEPT, "application/xml")),
            Format::Xml
        );
        assert_eq!(
            response_format(&h(header::ACCEPT, "application/json")),
            Format::Json
        );
        assert_eq!(
            response_format(&h(
                header::ACCEPT,
                "application/xml;q=0.9, application/JSON"
            )),
            Format::Json
        );
    }

    #[test]
    fn gzip_negotiation() {
        assert!(!wants_gzip(&HeaderMap::new()));
        assert!(wants_gzip(&h(header::ACCEPT_ENCODING, "gzip")));
        assert!(wants_gzip(&h(
            header::ACCEPT_ENCODING,
            "deflate, gzip;q=0.5"
        )));
        assert!(!wants_gzip(&h(header::ACCEPT_ENCODING, "gzip;q=0")));
        assert!(!wants_gzip(&h(header::ACCEPT_ENCODING, "br, deflate")));
        assert!(!wants_gzip(&h(header::ACCEPT_ENCODING, "identity")));
    }
}
