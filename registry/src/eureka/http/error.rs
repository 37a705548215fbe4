//! Every error answer of the API, mapped to its status in one place.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;

use crate::eureka::registry::RegistryError;

/// The authentication scheme a 401 challenges for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Challenge {
    Basic,
    Bearer,
}

/// An error answer.
#[derive(Debug)]
pub(crate) enum ApiError {
    /// 400: malformed body or parameter.
    BadRequest(String),
    /// 401: credentials missing or wrong.
    Unauthorized(Challenge),
    /// 403: a configured limit would be exceeded.
    LimitExceeded(String),
    /// 404: unknown path, application or instance (for a heartbeat: register again).
    NotFound(String),
    /// 405.
    MethodNotAllowed(&'static str),
    /// 413.
    PayloadTooLarge(usize),
    /// 415: a body encoding we cannot read.
    UnsupportedMediaType(String),
    /// 500: should not happen.
    Internal(String),
}

impl From<RegistryError> for ApiError {
    fn from(e: RegistryError) -> Self {
        match e {
            RegistryError::NotFound(m) => ApiError::NotFound(m),
            RegistryError::LimitExceeded(m) => ApiError::LimitExceeded(m),
            RegistryError::Invalid(m) => ApiError::BadRequest(m),
        }
    }
}

impl ApiError {
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::LimitExceeded(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn message(&self) -> String {
        match self {
            ApiError::BadRequest(m)
            | ApiError::LimitExceeded(m)
            | ApiError::NotFound(m)
            | ApiError::UnsupportedMediaType(m)
            | ApiError::Internal(m) => m.clone(),
            ApiError::Unauthorized(_) => "authentication required".to_string(),
            ApiError::MethodNotAllowed(allow) => format!("method not allowed (allowed: {allow})"),
            ApiError::PayloadTooLarge(limit) => {
                format!("request body larger than the limit of {limit} bytes")
            }
        }
    }

    /// The answer: the status, a plain-text message, and the headers the status needs.
    pub(crate) fn into_response(self) -> Response {
        let status = self.status();
        let mut body = self.message();
        body.push('\n');
        let mut resp = Response::new(Body::from(body));
        *resp.status_mut() = status;
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        match self {
            ApiError::Unauthorized(Challenge::Basic) => {
                h.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"eureka\", charset=\"UTF-8\""),
                );
            }
            ApiError::Unauthorized(Challenge::Bearer) => {
                h.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"eureka\""),
                );
            }
            ApiError::MethodNotAllowed(allow) => {
                h.insert(header::ALLOW, HeaderValue::from_static(allow));
            }
            _ => {}
        }
        resp
    }
}
