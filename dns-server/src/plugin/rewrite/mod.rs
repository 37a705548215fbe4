//! # rewrite
//!
//! Rewrites a query before the rest of the chain sees it, and the reply on its way back, as
//! CoreDNS's `rewrite` does: the client never sees the rewritten question (the reply always
//! carries the question it asked). Rules run in Corefile order; a rule that matches ends the
//! list (`stop`, the default) or lets the next rules apply too (`continue`). Every `rewrite`
//! line of a server block belongs to one plugin.
//!
//! ## Syntax
//! ```text
//! rewrite [continue|stop] name [exact|prefix|suffix|substring|regex] FROM TO [answer auto|answer name FROM TO|answer value FROM TO]...
//! rewrite [continue|stop] type FROM TO
//! rewrite [continue|stop] class FROM TO
//! rewrite [continue|stop] ttl [exact|prefix|suffix|substring|regex] NAME SECONDS|MIN-MAX
//! rewrite [continue|stop] rcode [exact|prefix|suffix|substring|regex] NAME FROM TO
//! rewrite [continue|stop] { RULE... }
//! ```
//! - `name`: the question name. `exact` (the default) replaces the whole name, `prefix` and
//!   `suffix` the matched end, `substring` every occurrence, `regex` the whole name with TO where
//!   `{1}`, `{2}`... are the capture groups. FROM and TO are lower-cased and (except for regex)
//!   fully qualified, as in CoreDNS. A name that is not valid after the rewrite gets SERVFAIL.
//!   - An `exact` rule turns the answer's owner names back into the name asked by itself.
//!   - `answer auto`: the same for `prefix`, `suffix` and `substring` (the replacement undone).
//!   - `answer name FROM TO`: owner names of every section that match the regex FROM become TO.
//!   - `answer value FROM TO`: names inside records (CNAME, NS, PTR, MX, SRV, SOA).
//! - `type`, `class`: the question's type or class (`ANY` → `HINFO`, `CH` → `IN`).
//! - `ttl`: for questions matching NAME, answer TTLs are set to SECONDS, or clamped to
//!   `MIN-MAX` (`MIN-` and `-MAX` leave one side open).
//! - `rcode`: for questions matching NAME, a reply with RCODE FROM gets TO instead.
//! - In the block form the lines are one rule continued: `name regex ... ` then `answer name ...`.
//! - `edns0` and `cname` rules are not supported yet: a Corefile with them is refused.
//!
//! ## Example
//! ```corefile
//! .:53 {
//!     rewrite name exact db.example.com db.prod.svc.cluster.local
//!     rewrite stop {
//!         name regex (.*)-(us-west-1)\.example\.org {1}.service.{2}.consul
//!         answer name (.*)\.service\.(us-west-1)\.consul {1}-{2}.example.org
//!     }
//!     kubernetes cluster.local
//! }
//! ```

mod rule;
pub mod setup;
#[cfg(test)]
mod tests;

use hickory_proto::rr::Name;

use crate::contract::Query;
use crate::contract::{Next, Plugin, PluginError, PluginFuture, PluginResult};
use rule::{Mode, Request, ResponseRewrite, Rule, rewrite_response};

/// A rewritten name that is not a DNS name (a regex replacement can build one).
#[derive(Debug, thiserror::Error)]
#[error("{0:?} is not a valid name after the rewrite")]
pub struct InvalidName(String);

pub struct Rewrite {
    rules: Vec<Rule>,
}

impl Rewrite {
    /// The request after every rule that applies, and the response rewrites they asked for;
    /// `None` when no rule matched.
    fn rewrite(&self, query: &Query) -> Option<(Request, Vec<ResponseRewrite>)> {
        let mut request = Request {
            name: query.lower.clone(),
            qtype: query.qtype,
            qclass: query.qclass,
        };
        let mut responses = Vec::new();
        let mut matched = false;
        for rule in &self.rules {
            if rule.apply(&mut request, &mut responses) {
                matched = true;
                if rule.mode == Mode::Stop {
                    break;
                }
            }
        }
        matched.then_some((request, responses))
    }
}

impl Plugin for Rewrite {
    fn name(&self) -> &'static str {
        "rewrite"
    }

    fn serve<'a>(&'a self, query: &'a Query, next: Next<'a>) -> PluginFuture<'a> {
        let Some((request, responses)) = self.rewrite(query) else {
            return next.serve(query);
        };
        let name = if request.name == query.lower {
            Ok(query.name.clone())
        } else {
            Name::from_ascii(&request.name)
        };
        let Ok(name) = name else {
            return PluginFuture::ready(Err(PluginError::internal(
                "rewrite",
                InvalidName(request.name.clone()),
            )));
        };
        let mut rewritten = query.with_name(name);
        rewritten.qtype = request.qtype;
        rewritten.qclass = request.qclass;
        PluginFuture::boxed(async move {
            let result: PluginResult = Next::serve(next, &rewritten).await;
            let mut reply = result?;
            rewrite_response(&mut reply, &responses);
            Ok(reply)
        })
    }
}
