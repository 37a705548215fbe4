//! # health
//!
//! An HTTP liveness endpoint: `GET /health` answers 200 `OK` while the process runs. With
//! `lameduck`, shutdown is delayed by that long after SIGTERM: DNS keeps answering and `/health`
//! stays 200 while `/ready` (if configured) turns 503, so endpoints converge before the pod stops.
//!
//! ## Syntax
//! ```text
//! health [ADDRESS] {
//!     lameduck DURATION
//! }
//! ```
//! `ADDRESS` defaults to `:8080` (all interfaces); `IP:PORT` listens on one address (an IP, not a
//! host name), `:0` on a free port. `/health` is the only path. `lameduck` takes a duration
//! (`5s`); with several blocks giving it, the longest applies.
//!
//! ## Example (kubeadm's)
//! ```corefile
//! .:53 {
//!     health {
//!         lameduck 5s
//!     }
//!     ready
//!     kubernetes cluster.local
//! }
//! ```

use std::sync::Arc;

use corefile::Directive;

use super::order::SetupResult;
use crate::setup::{SetupContext, args};

pub fn setup(ctx: &mut SetupContext<'_>, d: &Directive) -> SetupResult {
    let addr = probe_addr(d, "health", 8080)?;
    for prop in d.block.iter().flatten() {
        match prop.name() {
            "lameduck" => {
                let duration = args::parse_duration(args::exactly_one(prop, "health")?, "health")?;
                *ctx.lameduck = (*ctx.lameduck).max(duration);
            }
            other => {
                return Err(args::err(
                    &prop.name,
                    "health",
                    format!("unknown property {other:?}"),
                ));
            }
        }
    }
    let detail = format!("http {addr}/health; lameduck {:?}", *ctx.lameduck);
    ctx.hooks.push(Box::new(move |start| {
        crate::server::http::spawn(
            "health",
            addr,
            Arc::new(|path: &str| match path {
                "/health" => (200, "OK".to_string()),
                _ => (404, "not found\n".to_string()),
            }),
            start,
        )
    }));
    *ctx.option_detail = Some(detail);
    Ok(None)
}

/// `[ADDRESS]` of a probe directive: `:PORT`, `HOST:PORT`, or nothing for the default port.
pub fn probe_addr(
    d: &Directive,
    name: &str,
    default_port: u16,
) -> Result<std::net::SocketAddr, crate::setup::SetupError> {
    match d.args.as_slice() {
        [] => Ok(std::net::SocketAddr::from(([0, 0, 0, 0], default_port))),
        [one] => {
            let text = if one.text.starts_with(':') {
                format!("0.0.0.0{}", one.text)
            } else {
                one.text.clone()
            };
            text.parse().map_err(|_| {
                args::err(
                    one,
                    name,
                    format!(
                        "expected an address like :8080 or 127.0.0.1:8080, found {:?}",
                        one.text
                    ),
                )
            })
        }
        [_, extra, ..] => Err(args::err(
            extra,
            name,
            format!("unexpected argument {:?}", extra.text),
        )),
    }
}
