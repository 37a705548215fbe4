//! # errors
//!
//! Logs every error the rest of the chain returns (the query still gets SERVFAIL from the
//! dispatcher), except "no plugin claims this name", which is a REFUSED answer, not a failure.
//! Without `errors`, failures are only counted, not logged, as in CoreDNS.
//!
//! ## Syntax
//! ```text
//! errors
//! ```
//! No arguments or properties (`consolidate` and `stacktrace` are not implemented).
//!
//! ## Example
//! ```corefile
//! .:53 {
//!     errors
//!     kubernetes cluster.local
//! }
//! ```

use std::sync::Arc;

use corefile::Directive;

use crate::contract::{
    Args, Next, Outcome, Plugin, PluginError, PluginFuture, Query, SetupContext, SetupResult,
};

pub struct Errors;

impl Plugin for Errors {
    fn name(&self) -> &'static str {
        "errors"
    }

    fn serve<'a>(&'a self, query: &'a Query, next: Next<'a>) -> PluginFuture<'a> {
        match next.serve(query) {
            PluginFuture::Ready(Some(Err(e))) => {
                log_error(query, &e);
                PluginFuture::ready(Err(e))
            }
            ready @ PluginFuture::Ready(_) => ready,
            PluginFuture::Pending(fut) => PluginFuture::boxed(async move {
                let result = fut.await;
                if let Err(e) = &result {
                    log_error(query, e);
                }
                result
            }),
        }
    }
}

fn log_error(query: &Query, error: &PluginError) {
    // A name no plugin claims is refused, not failed: logging it would put every stray
    // out-of-zone query in the error log.
    if matches!(error, PluginError::NoNextPlugin) {
        return;
    }
    tracing::error!(target: "rollcall::errors", qname = %query.name, qtype = %query.qtype, %error, "query failed");
}

pub fn setup(_ctx: &mut SetupContext<'_>, d: &Directive) -> SetupResult {
    Args::new(d).bare()?;
    Ok(Outcome::Link(Arc::new(Errors), String::new()))
}
