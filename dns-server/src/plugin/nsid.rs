//! # nsid
//!
//! Adds the name server identifier (RFC 5001) to replies, as CoreDNS's `nsid` does: a query
//! whose OPT record carries an (empty) NSID option gets one back with DATA, so an operator can
//! tell which replica answered. Queries that do not ask get nothing extra. It configures the
//! block rather than joining the chain: the dispatcher adds the option (see
//! [`crate::contract::WireOptions`]).
//!
//! ## Syntax
//! ```text
//! nsid [DATA...]
//! ```
//! DATA (several words are joined by spaces, at most 512 bytes) defaults to the host's name,
//! e.g. the pod's name.
//!
//! ## Example
//! ```corefile
//! .:53 {
//!     nsid replica-a
//!     kubernetes cluster.local
//! }
//! ```

use corefile::Directive;

use crate::contract::{Args, Outcome, SetupContext, SetupResult, WireOptions};

/// RFC 5001 leaves the size open; a whole OPT option carries at most 65,535 bytes, and a reply
/// should stay small.
const MAX_NSID: usize = 512;

pub fn setup(ctx: &mut SetupContext<'_>, d: &Directive) -> SetupResult {
    let mut args = Args::new(d);
    args.no_block()?;
    let data = match args.rest() {
        [] => super::chaos::hostname(),
        words => words
            .iter()
            .map(|t| t.text.as_str())
            .collect::<Vec<_>>()
            .join(" "),
    };
    if data.len() > MAX_NSID {
        return Err(args.error_at_name(format!("DATA is {} bytes; at most {MAX_NSID}", data.len())));
    }
    let detail = format!("NSID {data:?} to clients that ask");
    ctx.block.get_or_default::<WireOptions>().nsid = Some(data.into_bytes());
    Ok(Outcome::Configured(detail))
}
