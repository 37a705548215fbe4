//! CoreDNS's small plugins end to end: one Corefile served in-process on a real socket, asked
//! with dig over UDP and TCP. `local`, `any`, `chaos`, `minimal` and `bufsize 512` sit in front
//! of a `forward` to a test upstream (which must never hear of a local name); `whoami` answers a
//! zone of its own; a second zone without `minimal` or `bufsize` shows what they change.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::Command;

use rollcall_tests::upstream::TestUpstream;

use crate::support::{TestServer, ask_dig, fixtures};

/// 40 A records: about 680 bytes on the wire, over 512 and under 1232.
fn big_answers() -> String {
    (1..=40)
        .map(|i| format!("        answer \"{{{{ .Name }}}} 60 IN A 10.0.0.{i}\"\n"))
        .collect()
}

fn corefile(upstream: SocketAddr) -> String {
    let big = big_answers();
    format!(
        r#".:0 {{
    bind 127.0.0.1
    bufsize 512
    local
    any
    chaos 9.9.9 alice bob
    minimal
    template IN A big.example {{
{big}    }}
    template IN A glue.example {{
        answer "{{{{ .Name }}}} 60 IN A 192.0.2.1"
        authority "glue.example. 60 IN NS ns.glue.example."
        additional "ns.glue.example. 60 IN A 192.0.2.53"
    }}
    forward . {upstream}
}}
whole.example:0 {{
    bind 127.0.0.1
    nsid replica-a
    template IN A big.whole.example {{
{big}    }}
    template IN A glue.whole.example {{
        answer "{{{{ .Name }}}} 60 IN A 192.0.2.1"
        authority "whole.example. 60 IN NS ns.whole.example."
        additional "ns.whole.example. 60 IN A 192.0.2.53"
    }}
}}
whoami.example:0 {{
    bind 127.0.0.1
    whoami
}}
"#
    )
}

/// dig's full output for `args` (with `+norec`, `+time=3 +tries=1`), asked of `addr`.
fn dig(addr: SocketAddr, args: &[&str]) -> String {
    let out = Command::new("dig")
        .arg(format!("@{}", addr.ip()))
        .arg("-p")
        .arg(addr.port().to_string())
        .args(["+norec", "+time=3", "+tries=1"])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running dig (install dnsutils; .ci/run does): {e}"));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn transport(tcp: bool) -> &'static str {
    if tcp { "+tcp" } else { "+notcp" }
}

/// The header flags dig printed (`qr aa rd`, ...).
fn flags(text: &str) -> Vec<String> {
    text.lines()
        .find_map(|l| l.trim().strip_prefix(";; flags:"))
        .and_then(|rest| rest.split(';').next())
        .map(|f| f.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_plugins_over_udp_and_tcp() {
    let upstream = TestUpstream::start().await.expect("test upstream binds");
    upstream.add_a("www.example.net", &[Ipv4Addr::new(198, 51, 100, 7)]);
    let server = TestServer::start_text(&corefile(upstream.addr), &fixtures()).await;
    let addr = server.addr;
    let asked_upstream = || upstream.udp_queries() + upstream.tcp_queries();

    for tcp in [false, true] {
        // local: answered here, never forwarded.
        let a = ask_dig(addr, "localhost. A", tcp);
        assert_eq!(a.answer, ["localhost. 604800 IN A 127.0.0.1"], "{a:?}");
        let a = ask_dig(addr, "localhost.example.net. AAAA", tcp);
        assert_eq!(a.answer, ["localhost.example.net. 604800 IN AAAA ::1"]);
        let a = ask_dig(addr, "1.0.0.127.in-addr.arpa. PTR", tcp);
        assert_eq!(
            a.answer,
            ["1.0.0.127.in-addr.arpa. 604800 IN PTR localhost."]
        );
        let a = ask_dig(addr, "nope.localhost. A", tcp);
        assert_eq!(a.rcode, "NXDOMAIN", "{a:?}");
        assert_eq!(
            a.authority,
            ["localhost. 604800 IN SOA localhost. root.localhost. SERIAL 0 0 0 604800"]
        );
        let a = ask_dig(addr, "127.in-addr.arpa. A", tcp);
        assert_eq!((a.rcode.as_str(), a.answer.len()), ("NOERROR", 0), "{a:?}");
        assert_eq!(asked_upstream(), 0, "a local name reached forward");

        // any: RFC 8482's HINFO instead of the chain.
        let a = ask_dig(addr, "www.example.net. ANY", tcp);
        assert_eq!(
            a.answer,
            ["www.example.net. 8482 IN HINFO ANY obsoleted See RFC 8482"],
            "{a:?}"
        );
        assert_eq!(asked_upstream(), 0, "ANY reached forward");

        // chaos: CH TXT about the server.
        let out = dig(
            addr,
            &[
                transport(tcp),
                "-c",
                "CH",
                "-t",
                "TXT",
                "-q",
                "version.bind",
            ],
        );
        assert!(
            out.contains("version.bind.\t\t0\tCH\tTXT\t\"9.9.9\""),
            "{out}"
        );
        let out = dig(
            addr,
            &[
                transport(tcp),
                "+short",
                "-c",
                "CH",
                "-t",
                "TXT",
                "-q",
                "authors.bind",
            ],
        );
        let mut authors: Vec<&str> = out.lines().collect();
        authors.sort_unstable();
        assert_eq!(authors, ["\"alice\"", "\"bob\""]);
        let out = dig(
            addr,
            &[transport(tcp), "-c", "CH", "-t", "TXT", "-q", "id.server"],
        );
        assert!(out.contains("id.server.\t\t0\tCH\tTXT\t\""), "{out}");
        // A block without chaos still refuses the class.
        let out = dig(
            addr,
            &[
                transport(tcp),
                "-c",
                "CH",
                "-t",
                "TXT",
                "-q",
                "version.bind.whole.example",
            ],
        );
        assert!(out.contains("status: REFUSED"), "{out}");
        assert_eq!(asked_upstream(), 0, "chaos reached forward");

        // minimal: answers lose authority and additionals; the block without it keeps them.
        let a = ask_dig(addr, "glue.example. A", tcp);
        assert_eq!(a.answer, ["glue.example. 60 IN A 192.0.2.1"]);
        assert!(a.authority.is_empty() && a.additional.is_empty(), "{a:?}");
        let a = ask_dig(addr, "glue.whole.example. A", tcp);
        assert_eq!(a.authority, ["whole.example. 60 IN NS ns.whole.example."]);
        assert_eq!(a.additional, ["ns.whole.example. 60 IN A 192.0.2.53"]);
        // ... and a denial keeps its SOA.
        let a = ask_dig(addr, "nope.localhost. A", tcp);
        assert_eq!(a.authority.len(), 1, "{a:?}");

        // whoami: the client's address and port in the additional section.
        let out = dig(
            addr,
            &[
                transport(tcp),
                "+noall",
                "+additional",
                "+comments",
                "whoami.example",
                "A",
            ],
        );
        assert!(flags(&out).contains(&"aa".to_string()), "{out}");
        assert!(
            out.contains("whoami.example.\t\t0\tIN\tA\t127.0.0.1"),
            "{out}"
        );
        let proto = if tcp { "_tcp" } else { "_udp" };
        let srv = out
            .lines()
            .find(|l| l.starts_with(&format!("{proto}.whoami.example.")))
            .unwrap_or_else(|| panic!("no {proto} SRV:\n{out}"));
        let fields: Vec<&str> = srv.split_whitespace().collect();
        assert_eq!(fields[3], "SRV", "{srv}");
        let port: u16 = fields[6].parse().expect("SRV port");
        assert!(port > 0 && fields[7] == ".", "{srv}");
    }

    // bufsize 512: a 40-record answer does not fit a 512-byte UDP reply, whatever the client
    // offers; the OPT advertises 512. Over TCP, or in the block without bufsize, it all comes.
    let udp = dig(
        addr,
        &["+notcp", "+ignore", "+bufsize=4096", "big.example", "A"],
    );
    assert!(flags(&udp).contains(&"tc".to_string()), "{udp}");
    let rcvd: usize = udp
        .lines()
        .find_map(|l| l.split("MSG SIZE  rcvd: ").nth(1))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no message size:\n{udp}"));
    // As many whole records as fit, and the OPT (RFC 6891 §7): 16 bytes each, so within one
    // record of the limit.
    assert!((512 - 16..=512).contains(&rcvd), "{udp}");
    assert!(
        udp.contains("udp: 512"),
        "the truncated reply keeps its OPT:\n{udp}"
    );
    assert!(!udp.contains("extra bytes"), "{udp}");
    let small = dig(addr, &["+notcp", "+bufsize=4096", "localhost", "A"]);
    assert!(small.contains("udp: 512"), "{small}");
    let tcp = ask_dig(addr, "big.example. A", true);
    assert_eq!(tcp.answer.len(), 40, "{tcp:?}");
    let whole = dig(
        addr,
        &[
            "+notcp",
            "+ignore",
            "+bufsize=4096",
            "big.whole.example",
            "A",
        ],
    );
    assert!(!flags(&whole).contains(&"tc".to_string()), "{whole}");
    assert!(whole.contains("udp: 1232"), "{whole}");
    assert_eq!(
        ask_dig(addr, "big.whole.example. A", false).answer.len(),
        40
    );
    assert_eq!(asked_upstream(), 0);

    // nsid (whole.example's block): only to a client that asks, and kept in a truncated reply
    // within the client's size.
    let asked = dig(
        addr,
        &[
            "+notcp",
            "+nsid",
            "+bufsize=512",
            "+ignore",
            "big.whole.example",
            "A",
        ],
    );
    assert!(asked.contains("(\"replica-a\")"), "{asked}");
    assert!(flags(&asked).contains(&"tc".to_string()), "{asked}");
    assert!(!asked.contains("extra bytes"), "{asked}");
    let rcvd: usize = asked
        .lines()
        .find_map(|l| l.split("MSG SIZE  rcvd: ").nth(1))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no message size:\n{asked}"));
    assert!(rcvd <= 512, "{asked}");
    let not_asked = dig(addr, &["+notcp", "glue.whole.example", "A"]);
    assert!(!not_asked.contains("NSID"), "{not_asked}");
    let other_block = dig(addr, &["+notcp", "+nsid", "localhost", "A"]);
    assert!(
        !other_block.contains("NSID"),
        "no nsid in that block: {other_block}"
    );

    // The wiring is real: a name that is not local does reach the upstream.
    let a = ask_dig(addr, "www.example.net. A", false);
    assert_eq!(
        a.answer,
        ["www.example.net. 300 IN A 198.51.100.7"],
        "{a:?}"
    );
    assert_eq!(upstream.queries_for("www.example.net."), 1);
}

/// dns64 in front of the cluster (with `allow_ipv4`, since dig asks over IPv4 loopback here):
/// an IPv4-only Service's AAAA is synthesized inside 64:ff9b::/96; a dual-stack Service keeps
/// its own AAAA; a missing name stays NXDOMAIN.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns64_synthesizes_aaaa_for_ipv4_only_services() {
    let corefile = ".:0 {\n    bind 127.0.0.1\n    dns64 {\n        allow_ipv4\n    }\n    kubernetes cluster.local {\n        manifests cluster\n    }\n}\n";
    let server = TestServer::start_text(corefile, &fixtures().join("k8s")).await;
    for tcp in [false, true] {
        let a = ask_dig(server.addr, "web-service.apps.svc.cluster.local AAAA", tcp);
        assert_eq!(
            a.answer,
            ["web-service.apps.svc.cluster.local. 5 IN AAAA 64:ff9b::a60:64"],
            "{a:?}"
        );
        let dual = ask_dig(server.addr, "api.apps.svc.cluster.local AAAA", tcp);
        assert_eq!(
            dual.answer,
            ["api.apps.svc.cluster.local. 5 IN AAAA fd00:10:96::101"],
            "{dual:?}"
        );
        let missing = ask_dig(server.addr, "nope.apps.svc.cluster.local AAAA", tcp);
        assert_eq!(missing.rcode, "NXDOMAIN", "{missing:?}");
    }
}
