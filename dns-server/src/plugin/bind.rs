//! # bind
//!
//! Listens only on the given addresses instead of every interface, as CoreDNS's `bind`. It
//! configures the block rather than joining the chain: setup reads the block's
//! [`Bind`](crate::contract::Bind).
//!
//! ## Syntax
//! ```text
//! bind ADDRESS...
//! ```
//! ADDRESS is an IPv4 or IPv6 address; interface names are not supported.

use corefile::Directive;

use crate::contract::{Args, Bind, Outcome, SetupContext, SetupResult};

pub fn setup(ctx: &mut SetupContext<'_>, d: &Directive) -> SetupResult {
    let mut args = Args::new(d);
    args.no_block()?;
    if args.is_done() {
        return Err(args.error_at_name("needs at least one address"));
    }
    let bind = ctx.block.get_or_default::<Bind>();
    while let Some(arg) = args.next() {
        let ip = arg.text.parse().map_err(|_| {
            args.error(
                arg,
                format!(
                    "{:?} is not an IP address (interface names are not supported)",
                    arg.text
                ),
            )
        })?;
        bind.0.push(ip);
    }
    Ok(Outcome::Configured("(server block option)".into()))
}
