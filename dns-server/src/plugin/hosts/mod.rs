//! # hosts
//!
//! Answers A, AAAA and PTR queries from an `/etc/hosts`-style file and from entries written in
//! the Corefile, as CoreDNS's `hosts` does; k3s's default Corefile serves its nodes' names this
//! way (`hosts /etc/coredns/NodeHosts`). The file is re-read when its modification time, size or
//! inode changes (a file renamed into place); until then, and while it is missing or unreadable, the last table it gave keeps
//! answering (a missing file at start is logged, not fatal). A line whose address does not parse,
//! or a name that is not a valid domain name, is skipped.
//!
//! - A/AAAA for a name in the table: its addresses, authoritative, with `ttl`.
//! - PTR for an address of the table: its names (unless `no_reverse`), even outside ZONES.
//! - A name in the table without the type asked: NOERROR with no answer.
//! - A name not in the table: the next plugin under `fallthrough` (for its zones), else SERVFAIL
//!   (there is no SOA to make an NXDOMAIN with). A PTR for an unknown address, and any name
//!   outside ZONES, always goes to the next plugin.
//!
//! Names match case-insensitively. IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`) are IPv4
//! addresses, answered as A; an IPv6 zone (`fe80::1%eth0`) is dropped. Each name's addresses
//! (and each address's names) are listed once, file entries before inline ones.
//!
//! The table is an immutable snapshot, swapped whole when the file changes: a query loads it
//! once and answers with a ready future, never waiting for the reload task.
//!
//! Its answers are never cached by `cache` (they are live); a name it passes on to the next
//! plugin carries a watch on the table, so a forwarded answer the cache kept for it is dropped
//! once a reload swaps in a new table (a node added to NodeHosts answers at once).
//!
//! Metrics (under `prometheus`): `coredns_hosts_entries` (every name→address and address→name
//! entry of every hosts table, as CoreDNS counts them) and `coredns_hosts_reload_timestamp_seconds`
//! (the modification time of the newest file loaded).
//!
//! ## Syntax
//! ```text
//! hosts [FILE [ZONES...]] {
//!     [INLINE...]
//!     ttl SECONDS
//!     no_reverse
//!     reload DURATION
//!     fallthrough [ZONES...]
//! }
//! ```
//! - `FILE`: default `/etc/hosts`; a relative path is relative to the Corefile's directory. A
//!   missing file is a warning, not an error, for `rollcall check` too (it may appear later).
//! - `ZONES`: only names in these zones are loaded and answered (default: the server block's).
//! - `INLINE`: `IP NAME...` lines, in the block before `fallthrough`, answered with the file's.
//! - `ttl`: 1–65535, default 3600.
//! - `no_reverse`: no PTR records.
//! - `reload`: how often the file is checked for changes (default `5s`; `0` never).
//! - `fallthrough [ZONES...]`: names not in the table (in these zones; all when none given) go
//!   to the next plugin.
//!
//! ## Examples
//! k3s's default, the stanza as its Corefile has it:
//! ```corefile-stanza
//! hosts /etc/coredns/NodeHosts {
//!     ttl 60
//!     reload 15s
//!     fallthrough
//! }
//! ```
//! Names written in the Corefile besides the file's, in one zone, the file read once (`reload 0`):
//! ```corefile
//! .:53 {
//!     hosts /etc/hosts internal.example {
//!         10.0.0.5 build.internal.example
//!         fd00::5 build.internal.example
//!         reload 0
//!         fallthrough
//!     }
//!     forward . /etc/resolv.conf
//! }
//! ```

mod setup;
mod table;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::UNIX_EPOCH;

use arc_swap::ArcSwap;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Record, RecordType};

use crate::contract::{
    ChangeCount, Fallthrough, Next, Plugin, PluginFuture, Query, Reply, Watch, in_zone,
};
use crate::dns::names::reverse_to_ip;
use crate::dns::records;
use crate::metrics::{Exposition, MetricsSource};

pub use setup::setup;
use table::Table;

const NAME: &str = "hosts";

pub struct Hosts {
    zones: Vec<String>,
    ttl: u32,
    fallthrough: Fallthrough,
    /// Swapped whole by the reload task; read with one load per query.
    table: Arc<ArcSwap<Table>>,
}

impl Hosts {
    /// The reply to `query`, or `None` when it belongs to the next plugin.
    fn answer(&self, query: &Query) -> Option<Reply> {
        let table = match query.qtype {
            // A PTR is answered outside ZONES too: reverse names are not the zones' names.
            RecordType::PTR => {
                // An address the table does not know is someone else's, fallthrough or not.
                let ip = reverse_to_ip(&query.lower)?.to_canonical();
                let answers = self
                    .table
                    .load()
                    .names_of(ip)?
                    .iter()
                    .map(|n| records::ptr(&query.name, self.ttl, n.clone()))
                    .collect();
                return Some(authoritative(answers));
            }
            _ if !self.zones.iter().any(|z| in_zone(&query.lower, z)) => return None,
            _ => self.table.load(),
        };
        let Some(found) = table.addresses(&query.lower) else {
            if self.fallthrough.passes(&query.lower) {
                return None;
            }
            // CoreDNS's choice: without an SOA there is no proper NXDOMAIN to give.
            return Some(Reply::new(ResponseCode::ServFail, NAME));
        };
        // A name without the type asked is NOERROR with no answer (NODATA).
        let answers = match query.qtype {
            RecordType::A => found
                .v4
                .iter()
                .map(|ip| records::address(&query.name, self.ttl, (*ip).into()))
                .collect(),
            RecordType::AAAA => found
                .v6
                .iter()
                .map(|ip| records::address(&query.name, self.ttl, (*ip).into()))
                .collect(),
            _ => Vec::new(),
        };
        Some(authoritative(answers))
    }
}

fn authoritative(answers: Vec<Record>) -> Reply {
    Reply {
        authoritative: true,
        answers,
        ..Reply::new(ResponseCode::NoError, NAME)
    }
}

impl Plugin for Hosts {
    fn name(&self) -> &'static str {
        NAME
    }

    fn serve<'a>(&'a self, query: &'a Query, next: Next<'a>) -> PluginFuture<'a> {
        // Read before the look-up: a swap landing after it must count as a change.
        let seen = self.table.count();
        match self.answer(query) {
            Some(reply) => PluginFuture::ready(Ok(reply.from_memory())),
            // A name outside ZONES (not a PTR) is never this plugin's, whatever the file says.
            None if query.qtype != RecordType::PTR
                && !self.zones.iter().any(|z| in_zone(&query.lower, z)) =>
            {
                next.serve(query)
            }
            None => {
                // The cache keeps what the rest of the chain answers only while the table is
                // the same: a reload may add the name.
                let table: Arc<dyn ChangeCount> = Arc::clone(&self.table) as _;
                let watch = Watch::at(table, seen);
                next.serve(query)
                    .map(move |result| result.map(|reply| reply.watched(watch)))
            }
        }
    }
}

/// Every hosts table of one setup, rendered as CoreDNS's two unlabelled gauges: one source per
/// registry ([`crate::metrics::Registry::shared`]), since two blocks' `hosts` must not write the
/// same series twice.
#[derive(Default)]
pub struct HostsMetrics {
    tables: Mutex<Vec<Arc<ArcSwap<Table>>>>,
}

impl HostsMetrics {
    fn add(&self, table: Arc<ArcSwap<Table>>) {
        self.tables
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(table);
    }
}

impl MetricsSource for HostsMetrics {
    fn render(&self, out: &mut Exposition) {
        let tables = self
            .tables
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let mut entries = 0usize;
        let mut newest = None;
        for table in &tables {
            let table = table.load();
            entries += table.entries();
            newest = newest.max(table.file_mtime());
        }
        let stamp = newest
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0.0, |d| d.as_secs_f64());
        out.gauge(
            "coredns_hosts_entries",
            "The combined number of entries in hosts and Corefile.",
            &[],
            entries,
        );
        out.gauge(
            "coredns_hosts_reload_timestamp_seconds",
            "The timestamp of the last reload of hosts file.",
            &[],
            stamp,
        );
    }
}

#[cfg(test)]
mod tests;
