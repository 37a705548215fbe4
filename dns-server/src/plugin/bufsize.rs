//! # bufsize
//!
//! Caps the EDNS UDP payload size of the server block, as CoreDNS's `bufsize` does: a client
//! that advertises more than SIZE is answered as if it had advertised SIZE, so a UDP reply larger
//! than that is truncated (TC) and the client retries over TCP instead of risking IP
//! fragmentation. The block's replies advertise SIZE in their OPT record. It configures the
//! block rather than joining the chain: the dispatcher reads the size from the route it picked
//! (see [`crate::contract::WireOptions`]), so honouring it costs nothing per query.
//!
//! Without `bufsize` a block uses 1232 (RFC 9715, DNS flag day 2020). Clients without EDNS get
//! 512 bytes over UDP either way; TCP is not limited.
//!
//! ## Syntax
//! ```text
//! bufsize [SIZE]
//! ```
//! SIZE is between 512 and 4096; default 1232.
//!
//! ## Example
//! ```corefile
//! .:53 {
//!     bufsize 1400
//!     forward . /etc/resolv.conf
//! }
//! ```

use corefile::Directive;

use crate::contract::{Args, EDNS_PAYLOAD, Outcome, SetupContext, SetupResult, WireOptions};

pub fn setup(ctx: &mut SetupContext<'_>, d: &Directive) -> SetupResult {
    let mut args = Args::new(d);
    args.no_block()?;
    let size = args.next();
    args.end()?;
    let size = match size {
        None => EDNS_PAYLOAD,
        // u32_in keeps it within 512..=4096.
        Some(size) => u16::try_from(args.u32_in(size, 512, 4096)?).unwrap_or(EDNS_PAYLOAD),
    };
    ctx.block.get_or_default::<WireOptions>().payload = size;
    Ok(Outcome::Configured(format!("EDNS payload {size}")))
}

#[cfg(test)]
mod tests {
    use crate::plugin::testing;

    #[test]
    fn sets_the_block_payload() {
        assert_eq!(testing::block("bufsize 512").blocks[0].options.payload, 512);
        assert_eq!(testing::block("bufsize").blocks[0].options.payload, 1232);
        assert_eq!(testing::block("log").blocks[0].options.payload, 1232);
        assert_eq!(
            testing::error("bufsize 511"),
            "Corefile:2:9: bufsize: expected a number between 512 and 4096, found \"511\""
        );
        assert_eq!(
            testing::error("bufsize 1232 x"),
            "Corefile:2:14: bufsize: unexpected argument \"x\""
        );
    }
}
