//! ExternalName Services whose target is outside the cluster zone, end to end: rollcall
//! in-process on a real socket with kubeadm's Corefile shape (cache disabled for the cluster
//! zone), the cluster from manifests, a test upstream behind `forward` answering the targets.
//! A/AAAA get the CNAME and the target's records in one reply; the CNAME alone when the target
//! cannot be resolved; TC exactly when the chased answer does not fit.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};
use rollcall_tests::upstream::{Behavior, TestUpstream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use crate::support::{Answer, TestServer, ask_dig, scratch_dir, write_atomically};

fn external(name: &str, target: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: apps}}\nspec: {{type: ExternalName, externalName: {target}}}\n---\n"
    )
}

fn cluster(ext_target: &str) -> String {
    let mut yaml = String::from("apiVersion: v1\nkind: Namespace\nmetadata: {name: apps}\n---\n");
    yaml.push_str(&external("ext", ext_target));
    yaml.push_str(&external("gone", "missing.example.org"));
    // An in-zone hop first, then out of the zone.
    yaml.push_str(&external("alias", "ext.apps.svc.cluster.local"));
    for n in SIZES {
        yaml.push_str(&external(
            &format!("big{n}"),
            &format!("big{n}.example.org"),
        ));
    }
    yaml
}

/// Address counts around the 512-byte limit of a UDP client without EDNS.
const SIZES: [u8; 5] = [20, 26, 27, 28, 40];

fn addresses(n: u8) -> Vec<Ipv4Addr> {
    (1..=n).map(|i| Ipv4Addr::new(198, 51, 100, i)).collect()
}

fn a(server: &TestServer, name: &str) -> Answer {
    ask_dig(server.addr, &format!("{name} A"), false)
}

fn cname(owner: &str, target: &str) -> String {
    format!("{owner}. 5 IN CNAME {target}.")
}

fn query_bytes(name: &str) -> Vec<u8> {
    let mut msg = Message::new(77, MessageType::Query, OpCode::Query);
    msg.metadata.recursion_desired = true;
    msg.add_query(Query::query(
        Name::from_ascii(name).expect("name"),
        RecordType::A,
    ));
    msg.to_vec().expect("encode")
}

async fn udp_exchange(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    socket.send_to(bytes, addr).await.expect("send");
    let mut buf = vec![0u8; 65535];
    let (len, _) = tokio::time::timeout(Duration::from_secs(5), socket.recv_from(&mut buf))
        .await
        .expect("a UDP reply within 5 s")
        .expect("recv");
    buf.truncate(len);
    buf
}

async fn tcp_exchange(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let len = u16::try_from(bytes.len()).expect("small").to_be_bytes();
    stream.write_all(&len).await.expect("write");
    stream.write_all(bytes).await.expect("write");
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).await.expect("length");
    let mut reply = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut reply).await.expect("reply");
    reply
}

async fn start() -> (TestUpstream, TestServer, std::path::PathBuf) {
    let upstream = TestUpstream::start().await.expect("test upstream binds");
    upstream.add_a("www.example.org", &[Ipv4Addr::new(192, 0, 2, 80)]);
    upstream.add_a("other.example.org", &[Ipv4Addr::new(192, 0, 2, 90)]);
    for n in SIZES {
        upstream.add_a(&format!("big{n}.example.org"), &addresses(n));
    }
    let dir = scratch_dir("external-name");
    std::fs::create_dir_all(dir.join("cluster")).expect("cluster dir");
    write_atomically(&dir.join("cluster/apps.yaml"), &cluster("www.example.org"));
    let corefile = format!(
        ".:0 {{\n    bind 127.0.0.1\n    cache 30 {{\n        disable success cluster.local\n        disable denial cluster.local\n    }}\n    kubernetes cluster.local in-addr.arpa ip6.arpa {{\n        manifests cluster\n        ttl 5\n    }}\n    forward . {}\n}}\n",
        upstream.addr
    );
    let server = TestServer::start_text(&corefile, &dir).await;
    (upstream, server, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_target_is_answered_with_the_cname_in_one_reply() {
    let (upstream, server, _dir) = start().await;
    let ext = "ext.apps.svc.cluster.local";

    let reply = a(&server, ext);
    assert_eq!(reply.rcode, "NOERROR", "{reply:?}");
    assert!(reply.aa, "{reply:?}");
    assert_eq!(
        reply.answer,
        vec![
            cname(ext, "www.example.org"),
            "www.example.org. 300 IN A 192.0.2.80".to_string(),
        ],
        "{reply:?}"
    );
    assert_eq!(upstream.queries_for("www.example.org"), 1);

    // An in-zone hop, then the external target: the whole chain in one reply.
    let alias = "alias.apps.svc.cluster.local";
    let reply = a(&server, alias);
    assert_eq!(
        reply.answer,
        vec![
            cname(alias, ext),
            cname(ext, "www.example.org"),
            "www.example.org. 300 IN A 192.0.2.80".to_string(),
        ],
        "{reply:?}"
    );

    // AAAA of a target with no AAAA: the CNAME and nothing else, NOERROR.
    let reply = ask_dig(server.addr, &format!("{ext} AAAA"), false);
    assert_eq!(reply.rcode, "NOERROR", "{reply:?}");
    assert_eq!(reply.answer, vec![cname(ext, "www.example.org")]);

    // Over TCP the same.
    let reply = ask_dig(server.addr, &format!("{ext} A"), true);
    assert_eq!(reply.answer.len(), 2, "{reply:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unresolvable_target_answers_the_cname_alone() {
    let (upstream, server, _dir) = start().await;
    // The upstream says the target does not exist.
    let gone = "gone.apps.svc.cluster.local";
    let reply = a(&server, gone);
    assert_eq!(reply.rcode, "NOERROR", "{reply:?}");
    assert_eq!(reply.answer, vec![cname(gone, "missing.example.org")]);
    assert_eq!(upstream.queries_for("missing.example.org"), 1);

    // The upstream fails.
    upstream.set_behavior(Behavior::ServFail);
    let ext = "ext.apps.svc.cluster.local";
    let reply = a(&server, ext);
    assert_eq!(reply.rcode, "NOERROR", "{reply:?}");
    assert_eq!(reply.answer, vec![cname(ext, "www.example.org")]);
    assert!(upstream.queries_for("www.example.org") >= 1);
    // ... and recovers: the next answer is whole again (nothing of the failure was kept).
    upstream.set_behavior(Behavior::Answer);
    let reply = a(&server, ext);
    assert_eq!(reply.answer.len(), 2, "{reply:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edited_external_name_answers_the_new_chain_at_once() {
    let (_upstream, server, dir) = start().await;
    let ext = "ext.apps.svc.cluster.local";
    assert_eq!(a(&server, ext).answer.len(), 2);

    write_atomically(
        &dir.join("cluster/apps.yaml"),
        &cluster("other.example.org"),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let reply = loop {
        let reply = a(&server, ext);
        if reply.answer.first() != Some(&cname(ext, "www.example.org")) {
            break reply;
        }
        assert!(
            Instant::now() < deadline,
            "the edit was not answered within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // The first answer with the new CNAME carries the new target's address, never the old.
    assert_eq!(
        reply.answer,
        vec![
            cname(ext, "other.example.org"),
            "other.example.org. 300 IN A 192.0.2.90".to_string(),
        ],
        "{reply:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tc_is_set_exactly_when_the_chased_answer_does_not_fit() {
    let (_upstream, server, _dir) = start().await;
    let mut saw = (false, false);
    for n in SIZES {
        let name = format!("big{n}.apps.svc.cluster.local.");
        let bytes = query_bytes(&name);
        let full = tcp_exchange(server.addr, &bytes).await;
        let full_msg = Message::from_vec(&full).expect("TCP reply");
        assert!(!full_msg.metadata.truncation, "{n}: TCP carries everything");
        assert_eq!(full_msg.answers.len(), usize::from(n) + 1, "{n}: CNAME + A");
        let udp = udp_exchange(server.addr, &bytes).await;
        assert!(udp.len() <= 512, "{n}: no EDNS, at most 512 bytes");
        let udp_msg = Message::from_vec(&udp).expect("UDP reply");
        let fits = full.len() <= 512;
        assert_eq!(
            udp_msg.metadata.truncation,
            !fits,
            "{n}: the whole answer takes {} bytes",
            full.len()
        );
        if fits {
            assert_eq!(udp, full, "{n}: what fits is sent whole");
            saw.0 = true;
        } else {
            saw.1 = true;
        }
    }
    assert_eq!(saw, (true, true), "sizes on both sides of 512 bytes");
}
