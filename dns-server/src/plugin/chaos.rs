//! # chaos
//!
//! Answers the CH-class TXT questions servers are traditionally asked about themselves, as
//! CoreDNS's `chaos` does: `version.bind` and `version.server` get VERSION, `authors.bind` one
//! TXT per author (in a random order each time), `hostname.bind` and `id.server` the host's
//! name. Any other question, CH or not, goes down the chain unchanged.
//!
//! Without `chaos` the dispatcher refuses every class but IN; a block with it lets CH queries
//! into its chain (see [`crate::contract::WireOptions`]).
//!
//! ## Syntax
//! ```text
//! chaos [VERSION] [AUTHORS...]
//! ```
//! VERSION defaults to `rollcall-<version>`; AUTHORS (repeated names are given once) defaults to
//! none, so `authors.bind` gets an empty NOERROR. Every text is cut at 255 bytes, the most one
//! TXT string holds.
//!
//! ## Example
//! ```corefile
//! .:53 {
//!     chaos dns-1.2.3 "Platform team" "On call"
//!     kubernetes cluster.local
//! }
//! ```

use std::sync::Arc;

use corefile::Directive;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{DNSClass, Name, RecordType};
use rand::seq::SliceRandom;

use crate::contract::{
    Args, Next, Outcome, Plugin, PluginFuture, Query, Reply, SetupContext, SetupResult, WireOptions,
};
use crate::dns::records;

pub struct Chaos {
    version: String,
    authors: Vec<String>,
    hostname: String,
}

impl Chaos {
    fn txt(name: &Name, text: &str) -> hickory_proto::rr::Record {
        let mut record = records::txt(name, 0, text);
        record.dns_class = DNSClass::CH;
        record
    }
}

impl Plugin for Chaos {
    fn name(&self) -> &'static str {
        "chaos"
    }

    fn serve<'a>(&'a self, query: &'a Query, next: Next<'a>) -> PluginFuture<'a> {
        if query.qclass != DNSClass::CH || query.qtype != RecordType::TXT {
            return next.serve(query);
        }
        let mut reply = Reply::new(ResponseCode::NoError, "chaos");
        match query.lower.as_str() {
            "version.bind." | "version.server." => {
                reply.answers.push(Self::txt(&query.name, &self.version));
            }
            "authors.bind." => {
                let mut order: Vec<&String> = self.authors.iter().collect();
                order.shuffle(&mut rand::rng());
                reply.answers = order
                    .into_iter()
                    .map(|author| Self::txt(&query.name, author))
                    .collect();
            }
            "hostname.bind." | "id.server." => {
                reply.answers.push(Self::txt(&query.name, &self.hostname));
            }
            _ => return next.serve(query),
        }
        PluginFuture::ready(Ok(reply))
    }
}

/// At most 255 bytes (one TXT character-string), cut at a character boundary.
fn trim(text: &str) -> String {
    let mut end = text.len().min(255);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

/// The host's name, read once at setup (CoreDNS asks the OS per query; it does not change under
/// a running server often enough to be worth a syscall per answer). `localhost` when unknown, as
/// CoreDNS falls back.
pub(crate) fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()))
        .unwrap_or_else(|| "localhost".into())
}

pub fn setup(ctx: &mut SetupContext<'_>, d: &Directive) -> SetupResult {
    let mut args = Args::new(d);
    args.no_block()?;
    let version = match args.next() {
        Some(v) => trim(&v.text),
        None => format!("rollcall-{}", env!("CARGO_PKG_VERSION")),
    };
    let mut authors: Vec<String> = Vec::new();
    for a in args.rest() {
        let author = trim(&a.text);
        if !authors.contains(&author) {
            authors.push(author);
        }
    }
    ctx.block.get_or_default::<WireOptions>().chaos = true;
    let detail = if authors.is_empty() {
        format!("version {version}")
    } else {
        format!("version {version}; authors {}", authors.join(" "))
    };
    Ok(Outcome::Link(
        Arc::new(Chaos {
            version,
            authors,
            hostname: trim(&hostname()),
        }),
        detail,
    ))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::plugin::testing;

    fn ch(name: &str, qtype: RecordType) -> Query {
        let mut q = Query::new(Name::from_ascii(name).unwrap(), qtype);
        q.qclass = DNSClass::CH;
        q
    }

    fn texts(reply: &Reply) -> Vec<String> {
        reply.answers.iter().map(ToString::to_string).collect()
    }

    #[tokio::test]
    async fn version_hostname_and_authors() {
        let plugin = testing::plugin("chaos 1.2.3 ann bob ann");
        for name in ["version.bind.", "VERSION.server."] {
            let (result, passed_on) = testing::ask(&plugin, &ch(name, RecordType::TXT)).await;
            assert!(!passed_on);
            assert_eq!(texts(&result.unwrap()), [format!("{name} 0 CH TXT 1.2.3")]);
        }
        let (result, _) = testing::ask(&plugin, &ch("id.server.", RecordType::TXT)).await;
        assert_eq!(
            texts(&result.unwrap()),
            [format!("id.server. 0 CH TXT {}", trim(&hostname()))]
        );
        let mut firsts = BTreeSet::new();
        for _ in 0..40 {
            let (result, _) = testing::ask(&plugin, &ch("authors.bind.", RecordType::TXT)).await;
            let got = texts(&result.unwrap());
            assert_eq!(got.len(), 2, "ann once: {got:?}");
            firsts.insert(got[0].clone());
        }
        assert_eq!(firsts.len(), 2, "shuffled: 40 draws of one order is 2^-39");
    }

    #[tokio::test]
    async fn defaults_and_what_passes_on() {
        let plugin = testing::plugin("chaos");
        let (result, _) = testing::ask(&plugin, &ch("version.bind.", RecordType::TXT)).await;
        assert_eq!(
            texts(&result.unwrap()),
            [format!(
                "version.bind. 0 CH TXT rollcall-{}",
                env!("CARGO_PKG_VERSION")
            )]
        );
        let (result, passed_on) =
            testing::ask(&plugin, &ch("authors.bind.", RecordType::TXT)).await;
        assert!(!passed_on && result.unwrap().answers.is_empty());
        // Another CH name, another type, or the IN class: not chaos's.
        for query in [
            ch("other.bind.", RecordType::TXT),
            ch("version.bind.", RecordType::A),
            Query::new(Name::from_ascii("version.bind.").unwrap(), RecordType::TXT),
        ] {
            let (_, passed_on) = testing::ask(&plugin, &query).await;
            assert!(passed_on, "{query:?}");
        }
    }

    #[test]
    fn long_texts_are_cut_at_255_bytes() {
        assert_eq!(trim(&"é".repeat(200)).len(), 254);
        assert_eq!(trim("short"), "short");
    }

    #[test]
    fn lets_ch_into_the_block() {
        let setup = testing::block("chaos");
        assert!(setup.blocks[0].options.chaos);
        assert!(!testing::block("any").blocks[0].options.chaos);
    }
}
