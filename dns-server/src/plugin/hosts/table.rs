//! The hosts table: `IP NAME...` lines → entries, the immutable snapshot answers are read from,
//! and the file's loader and reload task.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use hickory_proto::rr::Name;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use crate::contract::{ChangeCount, fqdn_lower, in_zone};

/// One name → address pair of a hosts line.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Lower-case with the trailing dot, as [`crate::contract::Query::lower`] spells it.
    pub key: Box<str>,
    /// The same name, lower-case: the target of PTR answers.
    pub name: Name,
    pub ip: IpAddr,
}

/// The entries of a text and how many of its lines were (partly) skipped.
#[derive(Debug, Default)]
pub struct Parsed {
    pub entries: Vec<Entry>,
    pub skipped: usize,
}

/// An address as a hosts file writes it: an IPv6 zone (`%eth0`) is dropped, and an IPv4-mapped
/// IPv6 address is the IPv4 address (answered as A, as Go's `net.IP.To4` makes CoreDNS do).
pub fn parse_ip(text: &str) -> Option<IpAddr> {
    let text = text.split_once('%').map_or(text, |(addr, _zone)| addr);
    text.parse::<IpAddr>().ok().map(|ip| ip.to_canonical())
}

/// A host name → (key, name), both lower-case and fully qualified; `None` when it is not a
/// domain name (it could never be asked for).
fn parse_name(field: &str) -> Option<(Box<str>, Name)> {
    let mut text = field.to_ascii_lowercase();
    if !text.ends_with('.') {
        text.push('.');
    }
    let name = Name::from_ascii(&text).ok()?;
    Some((fqdn_lower(&name).into_boxed_str(), name))
}

/// One line's fields, `IP NAME...`, appended to `out` for the names in `zones` (names outside
/// them are ignored, as in CoreDNS). False when something was skipped: the address or a name
/// does not parse, or no name follows the address.
pub fn parse_fields<'a>(
    mut fields: impl Iterator<Item = &'a str>,
    zones: &[String],
    out: &mut Vec<Entry>,
) -> bool {
    let Some(ip) = fields.next().and_then(parse_ip) else {
        return false;
    };
    let mut clean = true;
    let mut named = false;
    for field in fields {
        named = true;
        let Some((key, name)) = parse_name(field) else {
            clean = false;
            continue;
        };
        if zones.iter().any(|z| in_zone(&key, z)) {
            out.push(Entry { key, name, ip });
        }
    }
    clean && named
}

/// A hosts file's text: `#` starts a comment, fields are separated by whitespace, a bad line
/// is skipped (and counted).
pub fn parse_text(text: &str, zones: &[String]) -> Parsed {
    let mut parsed = Parsed::default();
    for line in text.lines() {
        let line = line.split_once('#').map_or(line, |(data, _comment)| data);
        let mut fields = line.split_whitespace().peekable();
        if fields.peek().is_none() {
            continue;
        }
        if !parse_fields(fields, zones, &mut parsed.entries) {
            parsed.skipped += 1;
        }
    }
    parsed
}

/// A name's addresses, by family, in file order.
#[derive(Debug, Default)]
pub struct Addresses {
    pub v4: Vec<Ipv4Addr>,
    pub v6: Vec<Ipv6Addr>,
}

/// What the plugin answers from; never changed once built (a reload builds a new one).
#[derive(Debug, Default)]
pub struct Table {
    names: HashMap<Box<str>, Addresses>,
    reverse: HashMap<IpAddr, Vec<Name>>,
    entries: usize,
    file_mtime: Option<SystemTime>,
    /// Which build this is: unique per process, so the `cache` can tell a swapped table.
    generation: u64,
}

/// Tables built so far, for [`Table::generation`].
static BUILT: AtomicU64 = AtomicU64::new(0);

/// The table now in place changes its generation when the reload task swaps in a new one: a
/// name `hosts` passed on may be one it answers now.
impl ChangeCount for ArcSwap<Table> {
    fn count(&self) -> u64 {
        self.load().generation
    }
}

impl Table {
    /// The file's entries, then the inline ones; a (name, address) pair given twice is kept
    /// once (CoreDNS would answer it twice).
    pub fn build(
        file: &[Entry],
        inline: &[Entry],
        reverse: bool,
        file_mtime: Option<SystemTime>,
    ) -> Table {
        let mut table = Table {
            file_mtime,
            generation: BUILT.fetch_add(1, Ordering::Relaxed) + 1,
            ..Table::default()
        };
        let mut seen: HashSet<(&str, IpAddr)> = HashSet::new();
        for entry in file.iter().chain(inline) {
            if !seen.insert((&entry.key, entry.ip)) {
                continue;
            }
            let addresses = table.names.entry(entry.key.clone()).or_default();
            match entry.ip {
                IpAddr::V4(v4) => addresses.v4.push(v4),
                IpAddr::V6(v6) => addresses.v6.push(v6),
            }
            if reverse {
                // One name per key, so a new (name, address) pair is a new PTR target too.
                table
                    .reverse
                    .entry(entry.ip)
                    .or_default()
                    .push(entry.name.clone());
            }
        }
        // CoreDNS counts the forward and the reverse entries.
        table.entries = seen.len() * if reverse { 2 } else { 1 };
        table
    }

    /// The addresses of a name (lower-case, trailing dot); `None` when the table lacks it.
    pub fn addresses(&self, key: &str) -> Option<&Addresses> {
        self.names.get(key)
    }

    /// The names of an address (canonical: IPv4-mapped addresses as IPv4).
    pub fn names_of(&self, ip: IpAddr) -> Option<&[Name]> {
        self.reverse.get(&ip).map(Vec::as_slice)
    }

    /// Name → address and address → name entries, CoreDNS's `coredns_hosts_entries`.
    pub fn entries(&self) -> usize {
        self.entries
    }

    /// The modification time of the file this table was read from (`None`: inline only).
    pub fn file_mtime(&self) -> Option<SystemTime> {
        self.file_mtime
    }
}

/// The file as last read: a change of any part means reading it again. CoreDNS looks at the
/// modification time and size only; the file's identity also catches a same-size replacement
/// within one tick of the kernel's coarse clock, when it is renamed into place (ConfigMap
/// updates, editors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    mtime: SystemTime,
    len: u64,
    identity: (u64, u64),
}

/// (device, inode).
#[cfg(unix)]
fn identity(meta: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

#[cfg(not(unix))]
fn identity(_meta: &std::fs::Metadata) -> (u64, u64) {
    (0, 0)
}

/// What one look at the file gave.
#[derive(Debug)]
pub enum Outcome {
    /// Same modification time and size as last read.
    Unchanged,
    /// Missing or unreadable: the table in use stays (as in CoreDNS).
    Unreadable(std::io::Error),
    Loaded {
        table: Table,
        stamp: Stamp,
        skipped: usize,
    },
}

/// Reads the hosts file into a table: what setup and the reload task share.
#[derive(Debug)]
pub struct Loader {
    pub path: PathBuf,
    zones: Vec<String>,
    inline: Vec<Entry>,
    reverse: bool,
}

impl Loader {
    pub fn new(path: PathBuf, zones: Vec<String>, inline: Vec<Entry>, reverse: bool) -> Self {
        Loader {
            path,
            zones,
            inline,
            reverse,
        }
    }

    /// The table without the file (missing at start): the inline entries only.
    pub fn inline_only(&self) -> Table {
        Table::build(&[], &self.inline, self.reverse, None)
    }

    /// Read and parse the file unless it is the one `last` describes. Blocking.
    pub fn load(&self, last: Option<Stamp>) -> Outcome {
        let read = || -> std::io::Result<Option<(Stamp, Vec<u8>)>> {
            let mut file = std::fs::File::open(&self.path)?;
            let meta = file.metadata()?;
            let stamp = Stamp {
                mtime: meta.modified().unwrap_or(UNIX_EPOCH),
                len: meta.len(),
                identity: identity(&meta),
            };
            if last == Some(stamp) {
                return Ok(None);
            }
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes)?;
            Ok(Some((stamp, bytes)))
        };
        match read() {
            Err(e) => Outcome::Unreadable(e),
            Ok(None) => Outcome::Unchanged,
            Ok(Some((stamp, bytes))) => {
                // Names are ASCII; a stray non-UTF-8 byte only spoils its own field.
                let parsed = parse_text(&String::from_utf8_lossy(&bytes), &self.zones);
                Outcome::Loaded {
                    table: Table::build(
                        &parsed.entries,
                        &self.inline,
                        self.reverse,
                        Some(stamp.mtime),
                    ),
                    stamp,
                    skipped: parsed.skipped,
                }
            }
        }
    }
}

/// The reload task: every `period`, look at the file and swap in a new table when it changed.
/// `last` is what setup read (`None`: missing or unreadable, already logged).
pub async fn watch(
    loader: Arc<Loader>,
    table: Arc<ArcSwap<Table>>,
    mut last: Option<Stamp>,
    period: Duration,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval_at(Instant::now() + period, period);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    // Log a missing or unreadable file when it goes so, not on every tick.
    let mut unreadable = last.is_none();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let started = Instant::now();
        let worker = Arc::clone(&loader);
        let outcome = match tokio::task::spawn_blocking(move || worker.load(last)).await {
            Ok(outcome) => outcome,
            Err(e) => {
                tracing::error!(path = %loader.path.display(), "hosts: reading the file failed: {e}");
                continue;
            }
        };
        match outcome {
            Outcome::Unchanged => unreadable = false,
            Outcome::Unreadable(e) => {
                if !unreadable {
                    tracing::warn!(
                        path = %loader.path.display(),
                        "hosts: cannot read the file ({e}); the entries last read keep answering"
                    );
                }
                unreadable = true;
            }
            Outcome::Loaded {
                table: fresh,
                stamp,
                skipped,
            } => {
                tracing::info!(
                    path = %loader.path.display(),
                    entries = fresh.entries(),
                    skipped_lines = skipped,
                    elapsed_ms = started.elapsed().as_millis(),
                    "hosts: file reloaded"
                );
                unreadable = false;
                last = Some(stamp);
                table.store(Arc::new(fresh));
            }
        }
    }
}
