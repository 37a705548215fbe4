//! # whoami
//!
//! Tells clients how they reached the server, as CoreDNS's `whoami` does: every query it sees
//! gets an empty, authoritative NOERROR whose additional section holds the client's address (an A
//! or AAAA record for the name asked) and an SRV record `_udp.<name>` or `_tcp.<name>` (the
//! transport used) whose port is the client's source port and whose target is the root. TTLs are
//! 0. It sits at the end of the chain, so it only answers what no plugin before it did.
//!
//! ## Syntax
//! ```text
//! whoami
//! ```
//! No arguments or properties.
//!
//! ## Example
//! ```corefile
//! .:53 {
//!     whoami
//! }
//! ```

use std::sync::Arc;

use corefile::Directive;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::Name;

use crate::contract::{
    Args, Next, Outcome, Plugin, PluginFuture, Query, Reply, SetupContext, SetupResult,
};
use crate::dns::records;

pub struct WhoAmI;

impl Plugin for WhoAmI {
    fn name(&self) -> &'static str {
        "whoami"
    }

    fn serve<'a>(&'a self, query: &'a Query, _next: Next<'a>) -> PluginFuture<'a> {
        let mut reply = Reply::new(ResponseCode::NoError, "whoami");
        reply.authoritative = true;
        // A v4 client on a dual-stack socket arrives as ::ffff:a.b.c.d: it is an IPv4 client.
        let ip = query.src.ip().to_canonical();
        let mut address = records::address(&query.name, 0, ip);
        address.dns_class = query.qclass;
        reply.additionals.push(address);
        // `_udp.` + the name; a name already 255 bytes long has no room for it, and then the
        // address alone is the answer rather than an encoding failure.
        if let Ok(owner) = query
            .name
            .prepend_label(format!("_{}", query.transport.as_str()))
        {
            let mut srv = records::srv(&owner, 0, 0, 0, query.src.port(), Name::root());
            srv.dns_class = query.qclass;
            reply.additionals.push(srv);
        }
        PluginFuture::ready(Ok(reply))
    }
}

pub fn setup(_ctx: &mut SetupContext<'_>, d: &Directive) -> SetupResult {
    Args::new(d).bare()?;
    Ok(Outcome::Link(Arc::new(WhoAmI), String::new()))
}

#[cfg(test)]
mod tests {
    use hickory_proto::rr::RecordType;

    use super::*;
    use crate::contract::Transport;
    use crate::plugin::testing;

    fn texts(reply: &Reply) -> Vec<String> {
        reply.additionals.iter().map(ToString::to_string).collect()
    }

    #[tokio::test]
    async fn address_and_port_of_the_client() {
        let plugin = testing::plugin("whoami");
        let mut query = Query::new(Name::from_ascii("Example.org.").unwrap(), RecordType::A);
        query.src = "10.0.0.7:40212".parse().unwrap();
        let (result, passed_on) = testing::ask(&plugin, &query).await;
        let reply = result.unwrap();
        assert!(!passed_on && reply.authoritative && reply.answers.is_empty());
        assert_eq!(
            texts(&reply),
            [
                "Example.org. 0 IN A 10.0.0.7",
                "_udp.Example.org. 0 IN SRV 0 0 40212 ."
            ]
        );
        query.src = "[fd00::7]:53000".parse().unwrap();
        query.transport = Transport::Tcp;
        let (result, _) = testing::ask(&plugin, &query).await;
        assert_eq!(
            texts(&result.unwrap()),
            [
                "Example.org. 0 IN AAAA fd00::7",
                "_tcp.Example.org. 0 IN SRV 0 0 53000 ."
            ]
        );
        // The root, and a v4-mapped source, as CoreDNS names them.
        let mut query = Query::new(Name::root(), RecordType::NS);
        query.src = "[::ffff:192.0.2.1]:1000".parse().unwrap();
        let (result, _) = testing::ask(&plugin, &query).await;
        assert_eq!(
            texts(&result.unwrap()),
            [". 0 IN A 192.0.2.1", "_udp. 0 IN SRV 0 0 1000 ."]
        );
    }
}
