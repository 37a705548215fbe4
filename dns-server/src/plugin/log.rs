//! # log
//!
//! Writes one line per query in CoreDNS's common log format:
//! `{remote}:{port} - {id} "{type} {class} {name} {proto} {size} {do} {bufsize}" {rcode} {flags} - {duration}`
//! (tracing target `rollcall::log`, level info).
//!
//! ## Syntax
//! ```text
//! log [NAMES...] {
//!     class success|denial|error|all
//! }
//! ```
//! `NAMES` limits logging to queries at or below those names (default: all). `class` picks which
//! answers to log: `success` (NOERROR with data), `denial` (NXDOMAIN or NODATA), `error`
//! (SERVFAIL, REFUSED, FORMERR, NOTIMP and failures), `all` (default). Several classes may be given.
//! `NAMES` are zones (a CIDR stands for its reverse zones). Custom format strings are not
//! supported: a Corefile with one is refused.
//!
//! ## Example
//! ```corefile
//! .:53 {
//!     log cluster.local {
//!         class denial error
//!     }
//!     kubernetes cluster.local
//! }
//! ```

use std::sync::Arc;
use std::time::Instant;

use corefile::Directive;
use hickory_proto::op::ResponseCode;

use crate::contract::{
    Args, Next, Outcome, Plugin, PluginFuture, PluginResult, Query, SetupContext, SetupResult,
    in_zone, normalize_zone,
};
use crate::dns::rcode_name;

#[derive(Debug, Clone, Copy, Default)]
struct Classes {
    success: bool,
    denial: bool,
    error: bool,
}

impl Classes {
    const ALL: Classes = Classes {
        success: true,
        denial: true,
        error: true,
    };
}

pub struct Log {
    names: Vec<String>,
    classes: Classes,
}

impl Log {
    fn wants(&self, query: &Query) -> bool {
        self.names.is_empty() || self.names.iter().any(|n| in_zone(&query.lower, n))
    }

    fn emit(&self, query: &Query, result: &PluginResult, started: Instant) {
        let (rcode, flags, denial) = match result {
            Ok(reply) => {
                let denial = reply.rcode == ResponseCode::NXDomain
                    || (reply.rcode == ResponseCode::NoError && reply.answers.is_empty());
                let mut flags = String::from("qr");
                if reply.authoritative {
                    flags.push_str(",aa");
                }
                if reply.truncated {
                    flags.push_str(",tc");
                }
                (rcode_name(reply.rcode), flags, denial)
            }
            Err(e) => (rcode_name(e.rcode()), "qr".to_string(), false),
        };
        let is_error = !matches!(rcode, "NOERROR" | "NXDOMAIN") || result.is_err();
        let class = if is_error {
            self.classes.error
        } else if denial {
            self.classes.denial
        } else {
            self.classes.success
        };
        if !class {
            return;
        }
        tracing::info!(
            target: "rollcall::log",
            "{}:{} - {} \"{} IN {} {} - {} {}\" {} {} - {:.6}s",
            query.src.ip(),
            query.src.port(),
            query.id,
            query.qtype,
            query.name,
            query.transport.as_str(),
            query.dnssec_ok,
            query.max_size,
            rcode,
            flags,
            started.elapsed().as_secs_f64()
        );
    }
}

impl Plugin for Log {
    fn name(&self) -> &'static str {
        "log"
    }

    fn serve<'a>(&'a self, query: &'a Query, next: Next<'a>) -> PluginFuture<'a> {
        if !self.wants(query) {
            return next.serve(query);
        }
        let started = Instant::now();
        match next.serve(query) {
            PluginFuture::Ready(Some(result)) => {
                self.emit(query, &result, started);
                PluginFuture::ready(result)
            }
            PluginFuture::Ready(None) => PluginFuture::Ready(None),
            PluginFuture::Pending(fut) => PluginFuture::boxed(async move {
                let result = fut.await;
                self.emit(query, &result, started);
                result
            }),
        }
    }
}

pub fn setup(_ctx: &mut SetupContext<'_>, d: &Directive) -> SetupResult {
    let mut args = Args::new(d);
    let mut names = Vec::new();
    for name in args.rest() {
        if name.text.contains('{') {
            return Err(args.error(name, "custom log formats are not supported"));
        }
        names.push(normalize_zone(&name.text).map_err(|e| args.error(name, e.to_string()))?);
    }
    let mut classes = Classes::default();
    let mut any_class = false;
    for mut prop in args.block() {
        match prop.name() {
            "class" => {
                for class in prop.one_or_more("success, denial, error or all")? {
                    any_class = true;
                    match class.text.as_str() {
                        "success" => classes.success = true,
                        "denial" => classes.denial = true,
                        "error" => classes.error = true,
                        "all" => classes = Classes::ALL,
                        other => {
                            return Err(prop.error(
                                class,
                                format!(
                                    "unknown class {other:?}: expected success, denial, error or all"
                                ),
                            ));
                        }
                    }
                }
            }
            _ => return Err(prop.unknown_property_of(&["class"])),
        }
    }
    if !any_class {
        classes = Classes::ALL;
    }
    let detail = if names.is_empty() {
        String::new()
    } else {
        format!("names {}", names.join(" "))
    };
    Ok(Outcome::Link(Arc::new(Log { names, classes }), detail))
}
