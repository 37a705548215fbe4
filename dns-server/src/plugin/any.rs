//! # any
//!
//! Answers every query of type ANY with one `HINFO "ANY obsoleted" "See RFC 8482"` record for
//! the name asked (TTL 8482), as RFC 8482 allows and CoreDNS's `any` does, instead of sending it
//! down the chain: an ANY answer assembled from every plugin would be large, costly and never
//! complete. Other types pass on untouched.
//!
//! ## Syntax
//! ```text
//! any
//! ```
//! No arguments or properties.
//!
//! ## Example
//! ```corefile
//! .:53 {
//!     any
//!     forward . /etc/resolv.conf
//! }
//! ```

use std::sync::Arc;

use corefile::Directive;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::HINFO;
use hickory_proto::rr::{RData, Record, RecordType};

use crate::contract::{
    Args, Next, Outcome, Plugin, PluginFuture, Query, Reply, SetupContext, SetupResult,
};

/// CoreDNS's TTL for the HINFO (the RFC's number, a wink rather than a requirement).
const TTL: u32 = 8482;

pub struct Any;

impl Plugin for Any {
    fn name(&self) -> &'static str {
        "any"
    }

    fn serve<'a>(&'a self, query: &'a Query, next: Next<'a>) -> PluginFuture<'a> {
        if query.qtype != RecordType::ANY {
            return next.serve(query);
        }
        let mut reply = Reply::new(ResponseCode::NoError, "any");
        reply.answers.push(Record::from_rdata(
            query.name.clone(),
            TTL,
            RData::HINFO(HINFO::new("ANY obsoleted".into(), "See RFC 8482".into())),
        ));
        PluginFuture::ready(Ok(reply))
    }
}

pub fn setup(_ctx: &mut SetupContext<'_>, d: &Directive) -> SetupResult {
    Args::new(d).bare()?;
    Ok(Outcome::Link(
        Arc::new(Any),
        "HINFO for ANY (RFC 8482)".into(),
    ))
}

#[cfg(test)]
mod tests {
    use hickory_proto::rr::Name;

    use super::*;
    use crate::plugin::testing;

    #[tokio::test]
    async fn any_gets_hinfo_and_other_types_pass_on() {
        let plugin = testing::plugin("any");
        let query = Query::new(Name::from_ascii("Example.ORG.").unwrap(), RecordType::ANY);
        let (result, passed_on) = testing::ask(&plugin, &query).await;
        let reply = result.unwrap();
        assert!(!passed_on);
        assert_eq!(reply.rcode, ResponseCode::NoError);
        assert_eq!(
            reply
                .answers
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            ["Example.ORG. 8482 IN HINFO ANY obsoleted See RFC 8482"]
        );
        let RData::HINFO(hinfo) = &reply.answers[0].data else {
            panic!("{reply:?}")
        };
        assert_eq!(
            (&*hinfo.cpu, &*hinfo.os),
            (&b"ANY obsoleted"[..], &b"See RFC 8482"[..])
        );
        let query = Query::new(Name::from_ascii("example.org.").unwrap(), RecordType::A);
        let (_, passed_on) = testing::ask(&plugin, &query).await;
        assert!(passed_on);
    }

    #[test]
    fn takes_no_arguments() {
        assert_eq!(
            testing::error("any x"),
            "Corefile:2:5: any: unexpected argument \"x\""
        );
    }
}
