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

use crate::contract::{Args, Lameduck, Outcome, SetupContext, SetupResult};

pub fn setup(ctx: &mut SetupContext<'_>, d: &Directive) -> SetupResult {
    let mut args = Args::new(d);
    let addr = args.http_addr(8080)?;
    for mut prop in args.block() {
        match prop.name() {
            "lameduck" => {
                let value = prop.one()?;
                let duration = prop.duration(value)?;
                let lameduck = ctx.server.get_or_default::<Lameduck>();
                lameduck.0 = lameduck.0.max(duration);
            }
            _ => return Err(prop.unknown_property_of(&["lameduck"])),
        }
    }
    let lameduck = ctx
        .server
        .get::<Lameduck>()
        .map_or_else(Default::default, |l| l.0);
    ctx.on_start(move |start| {
        crate::contract::http::spawn(
            "health",
            addr,
            Arc::new(|path: &str| match path {
                "/health" => (200, "OK".to_string()),
                _ => (404, "not found\n".to_string()),
            }),
            start,
        )
    });
    Ok(Outcome::Configured(format!(
        "http {addr}/health; lameduck {lameduck:?}"
    )))
}
