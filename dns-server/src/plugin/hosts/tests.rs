//! Parsing hosts text (file and inline), answering from the table in front of a recording next
//! plugin, the file's reload, and the setup through a Corefile.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use hickory_proto::rr::{Name, RData};

use tokio_util::sync::CancellationToken;

use super::table::{Entry, Loader, Outcome, parse_ip, parse_text};
use super::*;
use crate::contract::PluginResult;

const ROOT: &[&str] = &["."];

fn zones(z: &[&str]) -> Vec<String> {
    z.iter().map(|s| s.to_string()).collect()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// (key, address) pairs of parsed entries, in order.
fn pairs(entries: &[Entry]) -> Vec<(String, String)> {
    entries
        .iter()
        .map(|e| (e.key.to_string(), e.ip.to_string()))
        .collect()
}

fn own(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn file_lines_comments_and_aliases() {
    let text = "\
# The following lines are desirable for IPv4 capable hosts
127.0.0.1       localhost
192.168.1.10    example.com     example   # the canonical name, then an alias

\t10.0.0.1\tTabbed.Example.Org.
::1             localhost ip6-localhost
fdfc:a744:27b5:3b0e::1  example.com
";
    let parsed = parse_text(text, &zones(ROOT));
    assert_eq!(parsed.skipped, 0);
    assert_eq!(
        pairs(&parsed.entries),
        own(&[
            ("localhost.", "127.0.0.1"),
            ("example.com.", "192.168.1.10"),
            ("example.", "192.168.1.10"),
            ("tabbed.example.org.", "10.0.0.1"),
            ("localhost.", "::1"),
            ("ip6-localhost.", "::1"),
            ("example.com.", "fdfc:a744:27b5:3b0e::1"),
        ])
    );
    // The PTR target is the lower-cased name.
    assert_eq!(
        parsed.entries[3].name,
        Name::from_ascii("tabbed.example.org.").unwrap()
    );
}

#[test]
fn bad_lines_are_skipped_and_counted() {
    let text = "\
not-an-ip host.example.
10.0.0.1
10.0.0.300 too-big.example.
10.0.0.2 good.example. bad..name.example. also-good.example.
1.2.3.4 # only a comment after the address
  # a comment line
10.0.0.3 fine.example.
";
    let parsed = parse_text(text, &zones(ROOT));
    assert_eq!(
        pairs(&parsed.entries),
        own(&[
            ("good.example.", "10.0.0.2"),
            ("also-good.example.", "10.0.0.2"),
            ("fine.example.", "10.0.0.3"),
        ])
    );
    // No address, no name (twice), an address out of range, a bad name.
    assert_eq!(parsed.skipped, 5);
}

#[test]
fn names_outside_the_zones_are_not_loaded() {
    let text = "10.0.0.1 node1.cluster.local. node1.example.org. cluster.local.\n";
    let parsed = parse_text(text, &zones(&["cluster.local."]));
    assert_eq!(parsed.skipped, 0);
    assert_eq!(
        pairs(&parsed.entries),
        own(&[
            ("node1.cluster.local.", "10.0.0.1"),
            ("cluster.local.", "10.0.0.1")
        ])
    );
}

#[test]
fn ipv6_zones_are_dropped_and_ipv4_mapped_addresses_are_ipv4() {
    assert_eq!(parse_ip("fe80::1%eth0"), Some(ip("fe80::1")));
    assert_eq!(parse_ip("::ffff:10.1.2.3"), Some(ip("10.1.2.3")));
    assert_eq!(parse_ip("10.1.2.3"), Some(ip("10.1.2.3")));
    assert_eq!(parse_ip("%eth0"), None);
    assert_eq!(parse_ip("host"), None);
    let parsed = parse_text(
        "fe80::1%eth0 link.example.\n::ffff:10.1.2.3 mapped.example.\n",
        &zones(ROOT),
    );
    assert_eq!(
        pairs(&parsed.entries),
        own(&[
            ("link.example.", "fe80::1"),
            ("mapped.example.", "10.1.2.3")
        ])
    );
}

// --- answering ---

/// The next plugin: answers NXDOMAIN from "next" and records the names it was asked.
#[derive(Default)]
struct Recorder {
    asked: Mutex<Vec<String>>,
}

impl Plugin for Recorder {
    fn name(&self) -> &'static str {
        "next"
    }

    fn serve<'a>(&'a self, query: &'a Query, _next: Next<'a>) -> PluginFuture<'a> {
        self.asked.lock().unwrap().push(query.lower.clone());
        PluginFuture::ready(Ok(Reply::new(ResponseCode::NXDomain, "next")))
    }
}

const HOSTS: &str = "\
10.0.0.1 node1.cluster.local node1.example.org
10.0.0.2 node2.cluster.local
fd00::2  node2.cluster.local
fd00::3  v6only.cluster.local
::ffff:10.0.0.4 mapped.cluster.local
10.0.0.1 node1.cluster.local
";

fn hosts(text: &str, zones_: &[&str], inline: &str, fallthrough: Option<&[&str]>) -> Hosts {
    let zones_ = zones(zones_);
    let file = parse_text(text, &zones_);
    let inline = parse_text(inline, &zones_);
    Hosts {
        ttl: 60,
        fallthrough: match fallthrough {
            None => Fallthrough::Never,
            Some([]) => Fallthrough::All,
            Some(some) => Fallthrough::Zones(zones(some)),
        },
        table: Arc::new(ArcSwap::from_pointee(Table::build(
            &file.entries,
            &inline.entries,
            true,
            None,
        ))),
        zones: zones_,
    }
}

/// (result, names the next plugin was asked).
async fn ask(h: &Hosts, name: &str, qtype: RecordType) -> (PluginResult, Vec<String>) {
    let next = Arc::new(Recorder::default());
    let chain: Vec<Arc<dyn Plugin>> = vec![next.clone()];
    let query = Query::new(Name::from_ascii(name).unwrap(), qtype);
    let result = h.serve(&query, Next::new(&chain)).await;
    let asked = next.asked.lock().unwrap().clone();
    (result, asked)
}

fn data(reply: &Reply) -> Vec<String> {
    reply
        .answers
        .iter()
        .map(|r| format!("{} {} {}", r.name, r.ttl, r.data))
        .collect()
}

#[tokio::test]
async fn a_and_aaaa_are_answered_authoritatively_in_file_order() {
    let h = hosts(
        HOSTS,
        &["cluster.local."],
        "10.0.0.9 node1.cluster.local",
        None,
    );
    let (reply, asked) = ask(&h, "node1.cluster.local.", RecordType::A).await;
    let reply = reply.unwrap();
    assert!(asked.is_empty());
    assert_eq!(reply.rcode, ResponseCode::NoError);
    assert!(reply.authoritative);
    assert_eq!(reply.plugin, "hosts");
    // The duplicate line is answered once; the inline entry comes after the file's.
    assert_eq!(
        data(&reply),
        [
            "node1.cluster.local. 60 10.0.0.1",
            "node1.cluster.local. 60 10.0.0.9"
        ]
    );
    let (reply, _) = ask(&h, "node2.cluster.local.", RecordType::AAAA).await;
    assert_eq!(data(&reply.unwrap()), ["node2.cluster.local. 60 fd00::2"]);
    let (reply, _) = ask(&h, "mapped.cluster.local.", RecordType::A).await;
    assert_eq!(data(&reply.unwrap()), ["mapped.cluster.local. 60 10.0.0.4"]);
}

#[tokio::test]
async fn names_match_whatever_their_case_and_answers_echo_the_question() {
    let h = hosts(HOSTS, &["cluster.local."], "", None);
    let (reply, _) = ask(&h, "NODE2.Cluster.Local.", RecordType::A).await;
    assert_eq!(data(&reply.unwrap()), ["NODE2.Cluster.Local. 60 10.0.0.2"]);
}

#[tokio::test]
async fn a_name_without_the_type_asked_is_nodata() {
    let h = hosts(HOSTS, &["cluster.local."], "", None);
    for (name, qtype) in [
        ("v6only.cluster.local.", RecordType::A),
        ("node1.cluster.local.", RecordType::AAAA),
        ("node1.cluster.local.", RecordType::MX),
        ("node1.cluster.local.", RecordType::TXT),
    ] {
        let (reply, asked) = ask(&h, name, qtype).await;
        let reply = reply.unwrap();
        assert_eq!(reply.rcode, ResponseCode::NoError, "{name} {qtype}");
        assert!(reply.authoritative && reply.answers.is_empty(), "{name}");
        assert!(asked.is_empty(), "{name} {qtype}");
    }
}

#[tokio::test]
async fn an_absent_name_is_servfail_without_fallthrough() {
    let h = hosts(HOSTS, &["cluster.local."], "", None);
    let (reply, asked) = ask(&h, "nope.cluster.local.", RecordType::A).await;
    let reply = reply.unwrap();
    assert_eq!(reply.rcode, ResponseCode::ServFail);
    assert!(!reply.authoritative && reply.answers.is_empty());
    assert!(asked.is_empty());
    // Names outside ZONES are never this plugin's, fallthrough or not; node1.example.org was
    // not loaded.
    for name in ["node1.example.org.", "www.example.org."] {
        let (reply, asked) = ask(&h, name, RecordType::A).await;
        assert_eq!(reply.unwrap().plugin, "next", "{name}");
        assert_eq!(asked, [name]);
    }
}

#[tokio::test]
async fn fallthrough_passes_absent_names_of_its_zones() {
    let h = hosts(HOSTS, &["."], "", Some(&[]));
    let (reply, asked) = ask(&h, "svc.cluster.local.", RecordType::A).await;
    assert_eq!(reply.unwrap().plugin, "next");
    assert_eq!(asked, ["svc.cluster.local."]);
    // Present names are still answered, NODATA included.
    let (reply, asked) = ask(&h, "v6only.cluster.local.", RecordType::A).await;
    assert_eq!(reply.unwrap().plugin, "hosts");
    assert!(asked.is_empty());

    let h = hosts(HOSTS, &["."], "", Some(&["example.org."]));
    let (reply, asked) = ask(&h, "www.example.org.", RecordType::A).await;
    assert_eq!(reply.unwrap().plugin, "next");
    assert_eq!(asked.len(), 1);
    let (reply, asked) = ask(&h, "svc.cluster.local.", RecordType::A).await;
    assert_eq!(reply.unwrap().rcode, ResponseCode::ServFail);
    assert!(asked.is_empty());
}

#[tokio::test]
async fn ptr_answers_the_names_of_an_address_even_outside_the_zones() {
    let h = hosts(
        HOSTS,
        &["cluster.local."],
        "10.0.0.1 extra.cluster.local",
        None,
    );
    let (reply, asked) = ask(&h, "1.0.0.10.in-addr.arpa.", RecordType::PTR).await;
    let reply = reply.unwrap();
    assert!(asked.is_empty());
    assert!(reply.authoritative);
    assert_eq!(
        data(&reply),
        [
            "1.0.0.10.in-addr.arpa. 60 node1.cluster.local.",
            "1.0.0.10.in-addr.arpa. 60 extra.cluster.local."
        ]
    );
    let v6 = crate::dns::names::ip_to_reverse(ip("fd00::2"));
    let (reply, _) = ask(&h, &v6, RecordType::PTR).await;
    assert_eq!(
        reply.unwrap().answers[0].data,
        RData::PTR(hickory_proto::rr::rdata::PTR(
            Name::from_ascii("node2.cluster.local.").unwrap()
        ))
    );
    // The IPv4-mapped form of an address asks for the same address.
    let mapped = crate::dns::names::ip_to_reverse(ip("::ffff:10.0.0.4"));
    let (reply, _) = ask(&h, &mapped, RecordType::PTR).await;
    assert_eq!(reply.unwrap().answers.len(), 1);
}

#[tokio::test]
async fn a_ptr_the_table_does_not_know_goes_on_whatever_fallthrough_says() {
    let h = hosts(HOSTS, &["."], "", None);
    for name in [
        "9.0.0.10.in-addr.arpa.",
        "0.10.in-addr.arpa.",
        "node1.cluster.local.",
    ] {
        let (reply, asked) = ask(&h, name, RecordType::PTR).await;
        assert_eq!(reply.unwrap().plugin, "next", "{name}");
        assert_eq!(asked, [name]);
    }
    // In ZONES, an A for a reverse name is an absent name like any other.
    let (reply, _) = ask(&h, "1.0.0.10.in-addr.arpa.", RecordType::A).await;
    assert_eq!(reply.unwrap().rcode, ResponseCode::ServFail);
}

#[tokio::test]
async fn no_reverse_builds_no_ptr_records() {
    let parsed = parse_text(HOSTS, &zones(ROOT));
    let table = Table::build(&parsed.entries, &[], false, None);
    assert_eq!(table.names_of(ip("10.0.0.1")), None);
    // 6 distinct (name, address) pairs; CoreDNS counts the reverse ones too when it has them.
    assert_eq!(table.entries(), 6);
    assert_eq!(Table::build(&parsed.entries, &[], true, None).entries(), 12);
}

// --- the file ---

fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "rollcall-hosts-{tag}-{}-{:?}",
        std::process::id(),
        std::time::SystemTime::now()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn loaded(outcome: Outcome) -> (Table, table::Stamp) {
    match outcome {
        Outcome::Loaded { table, stamp, .. } => (table, stamp),
        other => panic!("expected a load, got {other:?}"),
    }
}

#[test]
fn the_file_is_read_again_only_when_it_changed() {
    let dir = scratch("load");
    let path = dir.join("hosts");
    write(&path, "10.0.0.1 a.example\n");
    let inline = parse_text("10.0.0.9 inline.example", &zones(ROOT)).entries;
    let loader = Loader::new(path.clone(), zones(ROOT), inline, true);
    let (table, stamp) = loaded(loader.load(None));
    assert!(table.addresses("a.example.").is_some());
    assert!(table.addresses("inline.example.").is_some());
    assert!(table.file_mtime().is_some());
    assert!(matches!(loader.load(Some(stamp)), Outcome::Unchanged));

    write(&path, "10.0.0.2 b.example\n10.0.0.3 c.example\n");
    let (table, _) = loaded(loader.load(Some(stamp)));
    assert!(table.addresses("a.example.").is_none());
    assert!(table.addresses("c.example.").is_some());
    assert!(table.addresses("inline.example.").is_some());

    std::fs::remove_file(&path).unwrap();
    assert!(matches!(loader.load(Some(stamp)), Outcome::Unreadable(_)));
    let only = loader.inline_only();
    assert!(only.addresses("inline.example.").is_some());
    assert_eq!(only.file_mtime(), None);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn the_reload_task_swaps_the_table_and_keeps_it_when_the_file_goes() {
    let dir = scratch("watch");
    let path = dir.join("hosts");
    write(&path, "10.0.0.1 a.example\n");
    let loader = Arc::new(Loader::new(path.clone(), zones(ROOT), Vec::new(), true));
    let (first, stamp) = loaded(loader.load(None));
    let table = Arc::new(ArcSwap::from_pointee(first));
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(table::watch(
        Arc::clone(&loader),
        Arc::clone(&table),
        Some(stamp),
        Duration::from_millis(20),
        shutdown.clone(),
    ));
    let wait_for = |want: &'static str| {
        let table = Arc::clone(&table);
        async move {
            for _ in 0..250 {
                if table.load().addresses(want).is_some() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            panic!("{want} never appeared");
        }
    };
    write(&path, "10.0.0.2 b.example\n");
    wait_for("b.example.").await;
    assert!(table.load().addresses("a.example.").is_none());
    // Gone: the last table keeps answering (CoreDNS keeps it too).
    std::fs::remove_file(&path).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(table.load().addresses("b.example.").is_some());
    write(&path, "10.0.0.3 c.example\n");
    wait_for("c.example.").await;
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the task stops on shutdown")
        .unwrap();
    let _ = std::fs::remove_dir_all(dir);
}

// --- setup ---

fn setup_in(dir: &Path, corefile: &str) -> crate::setup::Setup {
    let options = corefile::ParseOptions::with_env(|_| None);
    crate::load_corefile_str(corefile, "Corefile", dir, &options, 53)
        .unwrap_or_else(|e| panic!("{e}"))
}

async fn ask_block(setup: &crate::setup::Setup, name: &str, qtype: RecordType) -> PluginResult {
    let chain = &setup.blocks[0].chain;
    let query = Query::new(Name::from_ascii(name).unwrap(), qtype);
    Next::new(chain).serve(&query).await
}

#[tokio::test]
async fn setup_reads_the_file_relative_to_the_corefile_and_the_inline_entries() {
    let dir = scratch("setup");
    write(
        &dir.join("NodeHosts"),
        "10.0.0.1 node1\n10.0.0.2 node2 # comment\nbogus line\n",
    );
    let setup = setup_in(
        &dir,
        ".:53 {\n    hosts NodeHosts {\n        10.0.0.9 Inline.Node\n        fd00::9 inline.node\n        ttl 30\n        reload 0\n        fallthrough\n    }\n}\n",
    );
    assert_eq!(
        setup.blocks[0].described[0].1,
        format!(
            "file {}; zones .; ttl 30; reload off; inline entries 2; fallthrough (all zones)",
            dir.join("NodeHosts").display()
        )
    );
    // `reload 0`: no task to start.
    assert!(setup.hooks.is_empty());
    let reply = ask_block(&setup, "node2.", RecordType::A).await.unwrap();
    assert_eq!(data(&reply), ["node2. 30 10.0.0.2"]);
    let reply = ask_block(&setup, "inline.node.", RecordType::AAAA)
        .await
        .unwrap();
    assert_eq!(data(&reply), ["inline.node. 30 fd00::9"]);
    // Fallthrough to the end of the chain: nothing claims the name.
    assert_eq!(
        ask_block(&setup, "other.", RecordType::A).await,
        Err(crate::contract::PluginError::NoNextPlugin)
    );
    let text = setup.metrics.render();
    assert!(text.contains("coredns_hosts_entries 8\n"), "{text}");
    assert!(
        !text.contains("coredns_hosts_reload_timestamp_seconds 0\n"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_missing_file_is_not_fatal_and_two_blocks_share_the_gauges() {
    let dir = scratch("missing");
    let setup = setup_in(
        &dir,
        "a.example:53 {\n    hosts missing {\n        10.0.0.1 x.a.example\n    }\n}\nb.example:53 {\n    hosts missing {\n        10.0.0.2 y.b.example\n        10.0.0.3 out.of.zone\n    }\n}\n",
    );
    assert_eq!(setup.hooks.len(), 2, "one reload task per plugin");
    let reply = ask_block(&setup, "x.a.example.", RecordType::A)
        .await
        .unwrap();
    assert_eq!(data(&reply), ["x.a.example. 3600 10.0.0.1"]);
    let text = setup.metrics.render();
    assert_eq!(
        text.matches("# TYPE coredns_hosts_entries gauge").count(),
        1
    );
    assert!(text.contains("coredns_hosts_entries 4\n"), "{text}");
    assert!(
        text.contains("coredns_hosts_reload_timestamp_seconds 0\n"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(dir);
}
