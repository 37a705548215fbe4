//! # bind
//!
//! Not a plugin but a server-block option (setup reads the block's [`Bind`]): the block listens
//! on these addresses only, instead of every IPv4 interface (`0.0.0.0`), on the port of its keys.
//! The first address names the block's `server` metric label; `loop` probes the block at one of
//! them; `kubernetes` and `eureka` answer their name server `ns.dns.<zone>` with them (`0.0.0.0`
//! and `::` aside).
//!
//! ## Syntax
//! ```text
//! bind ADDRESS...
//! ```
//! `ADDRESS` is an IPv4 or IPv6 address (interface names are not supported); at least one.
//!
//! ## Example
//! ```corefile
//! .:53 {
//!     bind 127.0.0.1 ::1
//!     forward . /etc/resolv.conf
//! }
//! ```

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
