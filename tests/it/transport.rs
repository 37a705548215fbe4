//! Wire-level behaviour over real sockets: truncation, EDNS, compression, TCP, and bad input.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use crate::support::{TestServer, scratch_dir};

const ENDPOINTS: usize = 100;

fn big_cluster(dir: &Path) {
    std::fs::create_dir_all(dir.join("cluster")).unwrap();
    let mut yaml = String::from(
        "apiVersion: v1\nkind: Service\nmetadata: {name: big, namespace: load}\nspec: {clusterIP: None, ports: [{name: http, port: 80}]}\n---\n\
         apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: big-1, namespace: load, labels: {kubernetes.io/service-name: big}}\n\
         addressType: IPv4\nports: [{name: http, port: 80, protocol: TCP}]\nendpoints:\n",
    );
    for i in 0..ENDPOINTS {
        yaml.push_str(&format!(
            "  - {{addresses: [10.1.{}.{}]}}\n",
            i / 200,
            i % 200 + 1
        ));
    }
    yaml.push_str("---\napiVersion: v1\nkind: Service\nmetadata: {name: small, namespace: load}\nspec: {clusterIP: 10.96.9.9}\n");
    std::fs::write(dir.join("cluster/big.yaml"), yaml).unwrap();
    std::fs::write(
        dir.join("Corefile"),
        "cluster.local {\n bind 127.0.0.1\n kubernetes {\n  manifests cluster\n }\n}\n",
    )
    .unwrap();
}

async fn server() -> TestServer {
    let dir = scratch_dir("transport");
    big_cluster(&dir);
    TestServer::start(&dir).await
}

fn query(name: &str, qtype: RecordType, edns: Option<u16>) -> Message {
    let mut msg = Message::new(4242, MessageType::Query, OpCode::Query);
    msg.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
    if let Some(size) = edns {
        let mut e = Edns::new();
        e.set_max_payload(size);
        msg.edns = Some(e);
    }
    msg
}

async fn udp_exchange(addr: SocketAddr, bytes: &[u8]) -> Option<Vec<u8>> {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket.send_to(bytes, addr).await.unwrap();
    let mut buf = vec![0u8; 65535];
    match tokio::time::timeout(Duration::from_millis(500), socket.recv_from(&mut buf)).await {
        Ok(Ok((len, _))) => Some(buf[..len].to_vec()),
        _ => None,
    }
}

async fn tcp_exchange(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let len = u16::try_from(bytes.len()).unwrap().to_be_bytes();
    stream.write_all(&len).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).await.unwrap();
    let mut reply = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut reply).await.unwrap();
    reply
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_truncates_at_the_advertised_size_and_tcp_carries_everything() {
    let s = server().await;
    let name = "big.load.svc.cluster.local.";

    let plain_bytes = udp_exchange(s.addr, &query(name, RecordType::A, None).to_vec().unwrap())
        .await
        .unwrap();
    assert!(
        plain_bytes.len() <= 512,
        "no EDNS: at most 512 bytes, got {}",
        plain_bytes.len()
    );
    let plain = Message::from_vec(&plain_bytes).unwrap();
    assert!(
        plain.metadata.truncation,
        "TC must be set when the answer does not fit"
    );

    let edns = udp_exchange(
        s.addr,
        &query(name, RecordType::A, Some(4096)).to_vec().unwrap(),
    )
    .await
    .unwrap();
    assert!(
        edns.len() <= 1232,
        "EDNS: capped at rollcall's 1232, got {}",
        edns.len()
    );
    let edns_msg = Message::from_vec(&edns).unwrap();
    assert!(edns_msg.metadata.truncation);
    assert_eq!(edns_msg.edns.as_ref().map(Edns::max_payload), Some(1232));

    let small_edns = udp_exchange(
        s.addr,
        &query(name, RecordType::A, Some(700)).to_vec().unwrap(),
    )
    .await
    .unwrap();
    assert!(
        small_edns.len() <= 700,
        "client's smaller EDNS size is honoured, got {}",
        small_edns.len()
    );
    // Truncated or not, a reply is exactly one message (no bytes of a record that did not fit
    // left at the end) and answers EDNS with an OPT record (RFC 6891 §7).
    for (bytes, edns) in [(&plain_bytes, false), (&edns, true), (&small_edns, true)] {
        let mut decoder = BinDecoder::new(bytes);
        let msg = Message::read(&mut decoder).unwrap();
        assert!(
            decoder.is_empty(),
            "{} bytes after the message",
            decoder.len()
        );
        assert!(msg.metadata.truncation);
        assert_eq!(msg.edns.is_some(), edns);
    }

    let full = tcp_exchange(s.addr, &query(name, RecordType::A, None).to_vec().unwrap()).await;
    let full_msg = Message::from_vec(&full).unwrap();
    assert!(!full_msg.metadata.truncation);
    assert_eq!(full_msg.answers.len(), ENDPOINTS);
    // Name compression: every owner name after the first is a 2-byte pointer, so a record costs
    // 16 bytes; uncompressed it would be about 45.
    assert!(
        full.len() < 12 + 32 + ENDPOINTS * 16 + 64,
        "response not compressed: {} bytes",
        full.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn srv_additionals_are_dropped_before_setting_tc() {
    let s = server().await;
    // 100 SRV records do not fit in 1232 bytes, so TC is right here; the answer without glue must
    // still be complete over TCP.
    let reply = tcp_exchange(
        s.addr,
        &query(
            "_http._tcp.big.load.svc.cluster.local.",
            RecordType::SRV,
            None,
        )
        .to_vec()
        .unwrap(),
    )
    .await;
    let msg = Message::from_vec(&reply).unwrap();
    assert_eq!(msg.answers.len(), ENDPOINTS);
    assert_eq!(msg.additionals.len(), ENDPOINTS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_clear_rcode_and_loses_nothing() {
    let s = server().await;
    // Too short to be a header: silently dropped.
    assert!(udp_exchange(s.addr, &[1, 2, 3]).await.is_none());
    // A header that promises a question that is not there: FORMERR with the same id.
    let header_only = [0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    let reply = Message::from_vec(&udp_exchange(s.addr, &header_only).await.unwrap()).unwrap();
    assert_eq!(reply.metadata.id, 0x1234);
    assert_eq!(reply.metadata.response_code, ResponseCode::FormErr);
    // A response is never answered (no reflection loops).
    let mut response = query("small.load.svc.cluster.local.", RecordType::A, None);
    response.metadata.message_type = MessageType::Response;
    assert!(
        udp_exchange(s.addr, &response.to_vec().unwrap())
            .await
            .is_none()
    );
    // Two questions: FORMERR.
    let mut two = query("small.load.svc.cluster.local.", RecordType::A, None);
    two.add_query(Query::query(
        Name::from_ascii("big.load.svc.cluster.local.").unwrap(),
        RecordType::A,
    ));
    let reply =
        Message::from_vec(&udp_exchange(s.addr, &two.to_vec().unwrap()).await.unwrap()).unwrap();
    assert_eq!(reply.metadata.response_code, ResponseCode::FormErr);
    // EDNS version 1: BADVERS.
    let mut v1 = query("small.load.svc.cluster.local.", RecordType::A, Some(1232));
    if let Some(e) = v1.edns.as_mut() {
        e.set_version(1);
    }
    let reply =
        Message::from_vec(&udp_exchange(s.addr, &v1.to_vec().unwrap()).await.unwrap()).unwrap();
    // 16 decodes as BADSIG or BADVERS depending on context; the number is what matters.
    assert_eq!(u16::from(reply.metadata.response_code), 16);
    // Opcodes other than QUERY: NOTIMP.
    let mut notify = query("small.load.svc.cluster.local.", RecordType::SOA, None);
    notify.metadata.op_code = OpCode::Notify;
    let reply = Message::from_vec(
        &udp_exchange(s.addr, &notify.to_vec().unwrap())
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(reply.metadata.response_code, ResponseCode::NotImp);
    // Zone transfers: REFUSED.
    let reply = tcp_exchange(
        s.addr,
        &query("cluster.local.", RecordType::AXFR, None)
            .to_vec()
            .unwrap(),
    )
    .await;
    assert_eq!(
        Message::from_vec(&reply).unwrap().metadata.response_code,
        ResponseCode::Refused
    );
    // Garbage over TCP closes that connection only; the server keeps answering.
    let mut junk = TcpStream::connect(s.addr).await.unwrap();
    junk.write_all(&[0, 5, 1, 2, 3, 4, 5]).await.unwrap();
    let ok = udp_exchange(
        s.addr,
        &query("small.load.svc.cluster.local.", RecordType::A, None)
            .to_vec()
            .unwrap(),
    )
    .await
    .unwrap();
    let ok = Message::from_vec(&ok).unwrap();
    assert_eq!(ok.metadata.response_code, ResponseCode::NoError);
    assert_eq!(ok.answers.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kdig_sees_truncation_and_retries_over_tcp() {
    let s = server().await;
    let run = |args: &[&str]| {
        let out = std::process::Command::new("kdig")
            .arg(format!("@{}", s.addr.ip()))
            .arg("-p")
            .arg(s.port().to_string())
            .args(args)
            .arg("big.load.svc.cluster.local")
            .arg("A")
            .output()
            .expect("kdig (install knot-dnsutils; .ci/run does)");
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let udp = run(&["+notcp", "+noedns", "+ignore"]);
    assert!(udp.contains(" tc"), "kdig over UDP should see TC:\n{udp}");
    let tcp = run(&["+tcp"]);
    assert_eq!(
        tcp.matches("\tA\t").count(),
        ENDPOINTS,
        "kdig over TCP should see every record:\n{tcp}"
    );
}
