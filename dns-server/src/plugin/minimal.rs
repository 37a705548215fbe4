//! # minimal
//!
//! Makes replies as small as they can be, as CoreDNS's `minimal` does: a NOERROR reply with
//! answers loses its authority and additional sections (the NS and glue a client did not ask
//! for). Replies where those sections carry the point are left whole: NXDOMAIN and NODATA (the
//! SOA that sets the negative TTL), referrals (no answer, NS in authority) and errors. The reply
//! is trimmed after the rest of the chain made it, in place (no allocation).
//!
//! ## Syntax
//! ```text
//! minimal
//! ```
//! No arguments or properties.
//!
//! ## Example
//! ```corefile
//! .:53 {
//!     minimal
//!     kubernetes cluster.local
//!     forward . /etc/resolv.conf
//! }
//! ```

use std::sync::Arc;

use corefile::Directive;
use hickory_proto::op::ResponseCode;

use crate::contract::{
    Args, Next, Outcome, Plugin, PluginFuture, PluginResult, Query, SetupContext, SetupResult,
};

pub struct Minimal;

fn trim(mut result: PluginResult) -> PluginResult {
    if let Ok(reply) = &mut result
        && reply.rcode == ResponseCode::NoError
        && !reply.answers.is_empty()
    {
        reply.authority.clear();
        reply.additionals.clear();
    }
    result
}

impl Plugin for Minimal {
    fn name(&self) -> &'static str {
        "minimal"
    }

    fn serve<'a>(&'a self, query: &'a Query, next: Next<'a>) -> PluginFuture<'a> {
        next.serve(query).map(trim)
    }
}

pub fn setup(_ctx: &mut SetupContext<'_>, d: &Directive) -> SetupResult {
    Args::new(d).bare()?;
    Ok(Outcome::Link(Arc::new(Minimal), String::new()))
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use hickory_proto::rr::{Name, RecordType};

    use super::*;
    use crate::contract::Reply;
    use crate::dns::records;
    use crate::plugin::testing::{self, Rest};

    fn reply(rcode: ResponseCode, answers: usize, authority: &str) -> Reply {
        let owner = Name::from_ascii("example.org.").unwrap();
        let mut reply = Reply::new(rcode, "rest");
        for _ in 0..answers {
            reply
                .answers
                .push(records::address(&owner, 5, Ipv4Addr::LOCALHOST.into()));
        }
        let ns = Name::from_ascii("ns.example.org.").unwrap();
        match authority {
            "ns" => reply.authority.push(records::ns(&owner, 5, ns.clone())),
            "soa" => reply
                .authority
                .push(records::txt(&owner, 5, "stand-in for an SOA")),
            _ => {}
        }
        reply
            .additionals
            .push(records::address(&ns, 5, Ipv4Addr::LOCALHOST.into()));
        reply
    }

    async fn through_minimal(from_rest: Reply) -> Reply {
        let plugin = testing::plugin("minimal");
        let query = Query::new(Name::from_ascii("example.org.").unwrap(), RecordType::A);
        let rest = Rest {
            reply: from_rest,
            ..Rest::default()
        };
        testing::ask_with(&plugin, &query, rest).await.0.unwrap()
    }

    #[tokio::test]
    async fn answers_lose_authority_and_additionals() {
        let got = through_minimal(reply(ResponseCode::NoError, 2, "ns")).await;
        assert_eq!(got.answers.len(), 2);
        assert!(got.authority.is_empty() && got.additionals.is_empty());
    }

    #[tokio::test]
    async fn denials_referrals_and_errors_stay_whole() {
        for kept in [
            reply(ResponseCode::NXDomain, 0, "soa"),
            reply(ResponseCode::NoError, 0, "soa"),
            reply(ResponseCode::NoError, 0, "ns"),
            reply(ResponseCode::ServFail, 0, ""),
        ] {
            assert_eq!(through_minimal(kept.clone()).await, kept);
        }
    }
}
