//! # ready
//!
//! An HTTP readiness endpoint: `GET /ready` answers 200 `OK` once every plugin that reports
//! readiness is ready (`kubernetes`: every watched kind has synced), else 503 with the names of
//! those that are not. During `health`'s lameduck it answers 503, so traffic drains first.
//!
//! ## Syntax
//! ```text
//! ready [ADDRESS]
//! ```
//! `ADDRESS` defaults to `:8181` (all interfaces); `:PORT` listens on every interface,
//! `IP:PORT` on one (an IP, not a host name). `/ready` is the only path.
//!
//! ## Example
//! ```corefile
//! .:53 {
//!     ready :8181
//!     kubernetes cluster.local
//! }
//! ```

use std::sync::Arc;
use std::sync::atomic::Ordering;

use corefile::Directive;

use crate::contract::{Args, Outcome, SetupContext, SetupResult};

pub fn setup(ctx: &mut SetupContext<'_>, d: &Directive) -> SetupResult {
    let mut args = Args::new(d);
    let addr = args.http_addr(8181)?;
    args.no_block()?;
    ctx.on_start(move |start| {
        let checks = Arc::clone(&start.live_readiness);
        let draining = Arc::clone(&start.draining);
        crate::contract::http::spawn(
            "ready",
            addr,
            Arc::new(move |path: &str| {
                if path != "/ready" {
                    return (404, "not found\n".to_string());
                }
                if draining.load(Ordering::Acquire) {
                    return (503, "shutting down\n".to_string());
                }
                let checks = checks.load();
                let waiting = crate::contract::not_ready(&checks);
                if waiting.is_empty() {
                    (200, "OK".to_string())
                } else {
                    (503, format!("not ready: {}\n", waiting.join(", ")))
                }
            }),
            start,
        )
    });
    Ok(Outcome::Configured(format!("http {addr}/ready")))
}
