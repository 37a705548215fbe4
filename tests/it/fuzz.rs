//! Mutated queries against the in-process dispatcher, with most plugins in one chain (nsid, acl,
//! dns64, k8s_external, rewrite, autopath, cache, template, hosts, kubernetes, local, any, chaos,
//! minimal, loadbalance, whoami): whatever the bytes, nothing panics, and every reply is one well-formed DNS response
//! carrying the query's id. The mutations are seeded, so a failure reproduces.

use std::net::SocketAddr;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::rdata::opt::{EdnsOption, NSIDPayload};
use hickory_proto::rr::{DNSClass, Name, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};
use rollcall::contract::Transport;

use crate::support::{TestServer, fixtures};

const COREFILE: &str = r#".:0 {
    bind 127.0.0.1
    nsid fuzz
    acl example.net {
        drop type ANY
        block net 10.0.0.0/8
    }
    dns64 {
        allow_ipv4
    }
    k8s_external example.com
    any
    chaos rollcall-fuzz someone
    local
    minimal
    loadbalance
    rewrite name regex (.*)\.corp\.example {1}.apps.svc.cluster.local answer name (.*)\.apps\.svc\.cluster\.local {1}.corp.example
    autopath @kubernetes
    cache 30
    template IN A example.org {
        match ^ip-(?P<a>[0-9]+)[.]example[.]org[.]$
        answer "{{ .Name }} 60 IN A 10.0.0.{{ .Group.a }}"
        fallthrough
    }
    hosts {
        192.0.2.1 host.example
        fallthrough
    }
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        manifests cluster
        pods verified
        fallthrough in-addr.arpa ip6.arpa
    }
    whoami
}
"#;

/// xorshift64*: small, seeded, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n.max(1) as u64).unwrap_or(0)
    }
}

fn seeds() -> Vec<Vec<u8>> {
    let questions = [
        (
            "web-service.apps.svc.cluster.local.",
            RecordType::A,
            DNSClass::IN,
        ),
        (
            "_http._tcp.web-service.apps.svc.cluster.local.",
            RecordType::SRV,
            DNSClass::IN,
        ),
        (
            "headless.apps.svc.cluster.local.",
            RecordType::AAAA,
            DNSClass::IN,
        ),
        ("100.0.96.10.in-addr.arpa.", RecordType::PTR, DNSClass::IN),
        (
            "www.example.org.apps.svc.cluster.local.",
            RecordType::A,
            DNSClass::IN,
        ),
        ("db.corp.example.", RecordType::A, DNSClass::IN),
        ("ip-7.example.org.", RecordType::A, DNSClass::IN),
        ("host.example.", RecordType::ANY, DNSClass::IN),
        ("localhost.", RecordType::AAAA, DNSClass::IN),
        ("version.bind.", RecordType::TXT, DNSClass::CH),
        (
            "10-244-1-10.apps.pod.cluster.local.",
            RecordType::A,
            DNSClass::IN,
        ),
        ("cluster.local.", RecordType::SOA, DNSClass::IN),
        ("web-service.apps.example.com.", RecordType::A, DNSClass::IN),
        ("www.example.net.", RecordType::ANY, DNSClass::IN),
    ];
    let mut out = Vec::new();
    for (i, (name, qtype, class)) in questions.iter().enumerate() {
        for edns in [false, true] {
            let mut msg = Message::new(0x4242, MessageType::Query, OpCode::Query);
            msg.metadata.recursion_desired = true;
            let mut q = Query::query(Name::from_ascii(name).unwrap(), *qtype);
            q.set_query_class(*class);
            msg.add_query(q);
            if edns {
                let mut e = Edns::new();
                e.set_max_payload(u16::try_from(512 + i * 300).unwrap());
                e.set_dnssec_ok(i % 2 == 0);
                if i % 3 == 0 {
                    e.options_mut()
                        .insert(EdnsOption::NSID(NSIDPayload::new(Vec::new()).unwrap()));
                }
                msg.set_edns(e);
            }
            out.push(msg.to_vec().unwrap());
        }
    }
    out
}

fn mutate(rng: &mut Rng, base: &[u8]) -> Vec<u8> {
    let mut bytes = base.to_vec();
    for _ in 0..=rng.below(4) {
        match rng.below(6) {
            0 if !bytes.is_empty() => {
                let i = rng.below(bytes.len());
                bytes[i] ^= 1 << rng.below(8);
            }
            1 if !bytes.is_empty() => {
                let i = rng.below(bytes.len());
                bytes[i] = u8::try_from(rng.below(256)).unwrap();
            }
            2 => bytes.truncate(rng.below(bytes.len() + 1)),
            3 => {
                let i = rng.below(bytes.len() + 1);
                bytes.insert(i, u8::try_from(rng.below(256)).unwrap());
            }
            4 if bytes.len() > 12 => {
                // Repeat a slice: label lengths and compression pointers now point elsewhere.
                let from = 12 + rng.below(bytes.len() - 12);
                let len = rng.below(bytes.len() - from + 1).min(24);
                let chunk = bytes[from..from + len].to_vec();
                let at = rng.below(bytes.len() + 1);
                bytes.splice(at..at, chunk);
            }
            _ => {
                // A compression pointer to a random offset, in place of the name's start.
                if bytes.len() > 14 {
                    bytes[12] = 0xC0;
                    bytes[13] = u8::try_from(rng.below(256)).unwrap();
                }
            }
        }
    }
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutated_queries_never_panic_and_get_well_formed_replies() {
    let server = TestServer::start_text(COREFILE, &fixtures().join("k8s")).await;
    let seeds = seeds();
    let src: SocketAddr = "127.0.0.1:5353".parse().unwrap();
    let mut rng = Rng(0x005E_ED0F_F022);
    let (mut replies, mut silent) = (0u32, 0u32);
    for round in 0..200_000u32 {
        let base = &seeds[rng.below(seeds.len())];
        let bytes = mutate(&mut rng, base);
        let transport = if round % 4 == 0 {
            Transport::Tcp
        } else {
            Transport::Udp
        };
        let Some(reply) = server.dispatcher.respond(&bytes, src, transport).await else {
            silent += 1;
            continue;
        };
        replies += 1;
        let mut decoder = BinDecoder::new(&reply);
        let msg = Message::read(&mut decoder)
            .unwrap_or_else(|e| panic!("round {round}: undecodable reply {e} to {bytes:02x?}"));
        assert!(
            decoder.is_empty(),
            "round {round}: bytes after the reply to {bytes:02x?}"
        );
        assert_eq!(
            msg.metadata.message_type,
            MessageType::Response,
            "round {round}"
        );
        if bytes.len() >= 2 {
            assert_eq!(
                msg.metadata.id,
                u16::from_be_bytes([bytes[0], bytes[1]]),
                "round {round}: {bytes:02x?}"
            );
        }
        if transport == Transport::Udp {
            assert!(
                reply.len() <= 4096,
                "round {round}: {} bytes over UDP",
                reply.len()
            );
        }
    }
    // Most mutations still parse as queries (or as something worth a FORMERR); replies never
    // go to messages that are not queries, or too short to carry a header.
    eprintln!("fuzz: {replies} replies, {silent} dropped");
    assert!(replies > 100_000, "{replies} replies, {silent} dropped");
}

/// Mutated Corefiles (kubeadm's and the one above): setup either succeeds or names what is
/// wrong with a position; it never panics.
#[test]
fn mutated_corefiles_never_panic() {
    let kubeadm = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../corefile/tests/data/kubeadm.Corefile"),
    )
    .unwrap();
    let seeds: Vec<Vec<char>> = [kubeadm.as_str(), COREFILE]
        .iter()
        .map(|s| s.chars().collect())
        .collect();
    let alphabet: Vec<char> = "{}\"'#$.:/\\ \n\tabc019-_*@()[]".chars().collect();
    let options = corefile::ParseOptions::with_env(|_| None);
    let dir = fixtures().join("k8s");
    let mut rng = Rng(0x00C0_FEF1_1E00);
    let (mut ok, mut refused) = (0u32, 0u32);
    for round in 0..3_000u32 {
        let mut text = seeds[rng.below(seeds.len())].clone();
        for _ in 0..=rng.below(3) {
            let at = rng.below(text.len() + 1);
            match rng.below(3) {
                0 if at < text.len() => {
                    text.remove(at);
                }
                1 => text.insert(at, alphabet[rng.below(alphabet.len())]),
                _ => text.truncate(at),
            }
        }
        let text: String = text.into_iter().collect();
        match rollcall::load_corefile_str(&text, "Corefile", &dir, &options, 0) {
            Ok(_) => ok += 1,
            Err(e) => {
                refused += 1;
                let message = e.to_string();
                assert!(
                    message.contains("Corefile") && !message.is_empty(),
                    "round {round}: an error must say where: {message}"
                );
            }
        }
    }
    eprintln!("corefile fuzz: {ok} set up, {refused} refused");
    assert!(refused > 0 && ok > 0);
}
