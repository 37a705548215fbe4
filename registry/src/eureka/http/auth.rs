//! Authentication of requests: HTTP basic against a password map, or bearer tokens.

use axum::http::{HeaderMap, header};
use base64::Engine as _;

use super::error::{ApiError, Challenge};
use crate::eureka::EurekaAuth;

/// Equality that takes the same time wherever the inputs differ.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= usize::from(x ^ y);
    }
    diff == 0
}

/// The credentials after `scheme ` in an `Authorization` header (scheme case-insensitive).
fn credentials<'a>(headers: &'a HeaderMap, scheme: &str) -> Option<&'a str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (s, rest) = value.split_once(' ')?;
    s.eq_ignore_ascii_case(scheme).then(|| rest.trim())
}

/// `Ok` when the request carries valid credentials.
pub(crate) fn check(auth: &EurekaAuth, headers: &HeaderMap) -> Result<(), ApiError> {
    match auth {
        EurekaAuth::Basic { users, .. } => {
            let ok = credentials(headers, "Basic")
                .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
                .and_then(|raw| String::from_utf8(raw).ok())
                .is_some_and(|pair| match pair.split_once(':') {
                    Some((user, password)) => users
                        .get(user)
                        .is_some_and(|want| ct_eq(want.as_bytes(), password.as_bytes())),
                    None => false,
                });
            if ok {
                Ok(())
            } else {
                Err(ApiError::Unauthorized(Challenge::Basic))
            }
        }
        EurekaAuth::Bearer { tokens } => {
            let ok = credentials(headers, "Bearer").is_some_and(|given| {
                // Check every token, so timing does not tell which one matched.
                tokens
                    .iter()
                    .fold(false, |acc, t| ct_eq(t.as_bytes(), given.as_bytes()) | acc)
            });
            if ok {
                Ok(())
            } else {
                Err(ApiError::Unauthorized(Challenge::Bearer))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use std::collections::HashMap;

    fn headers(auth: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(auth).unwrap());
        h
    }

    #[test]
    fn basic() {
        let auth = EurekaAuth::Basic {
            users: HashMap::from([("u".to_string(), "p:w".to_string())]),
            first: "u:p:w".to_string(),
        };
        assert_eq!(
            auth.peer_authorization(),
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode("u:p:w")
            )
        );
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        assert!(check(&auth, &headers(&format!("Basic {}", b64("u:p:w")))).is_ok());
        assert!(check(&auth, &headers(&format!("basic {}", b64("u:p:w")))).is_ok());
        assert!(check(&auth, &headers(&format!("Basic {}", b64("u:p")))).is_err());
        assert!(check(&auth, &headers(&format!("Basic {}", b64("x:p:w")))).is_err());
        assert!(check(&auth, &headers("Basic !!!")).is_err());
        assert!(check(&auth, &HeaderMap::new()).is_err());
    }

    #[test]
    fn bearer() {
        let auth = EurekaAuth::Bearer {
            tokens: vec!["t1".to_string(), "t2".to_string()],
        };
        assert!(check(&auth, &headers("Bearer t2")).is_ok());
        assert!(check(&auth, &headers("Bearer t3")).is_err());
        assert!(check(&auth, &headers("Basic t2")).is_err());
    }

    #[test]
    fn constant_time_eq() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"abcd"));
        assert!(ct_eq(b"", b""));
    }
}
