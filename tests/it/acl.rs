//! `acl` end to end: the fixture cluster behind an access list, asked with dig from chosen
//! loopback addresses (`dig -b`) and, for `drop`, a raw UDP socket that gets no reply.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use crate::support::{TestServer, ask_dig_from, fixtures, parse_question, query_bytes};

const COREFILE: &str = ".:0 {
    bind 127.0.0.1
    acl cluster.local {
        drop type ANY
        allow net 127.0.0.2 127.0.0.0/30
        filter type AAAA
        block
    }
    kubernetes cluster.local {
        manifests cluster
    }
}
";

const NAME: &str = "web-service.apps.svc.cluster.local.";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_are_allowed_filtered_blocked_or_dropped() {
    let server = TestServer::start_text(COREFILE, &fixtures().join("k8s")).await;
    let from = |last: u8| Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)));
    for tcp in [false, true] {
        let allowed = ask_dig_from(from(2), server.addr, &format!("{NAME} A"), tcp);
        assert_eq!(
            allowed.answer,
            vec![format!("{NAME} 5 IN A 10.96.0.100")],
            "{allowed:?}"
        );
        let blocked = ask_dig_from(from(9), server.addr, &format!("{NAME} A"), tcp);
        assert_eq!(blocked.rcode, "REFUSED", "{blocked:?}");
        let filtered = ask_dig_from(from(9), server.addr, &format!("{NAME} AAAA"), tcp);
        assert_eq!(filtered.rcode, "NOERROR", "{filtered:?}");
        assert!(filtered.answer.is_empty(), "{filtered:?}");
    }
    // ANY is dropped for everyone: no reply at all.
    let socket = tokio::net::UdpSocket::bind("127.0.0.2:0")
        .await
        .expect("bind");
    let (name, qtype) = parse_question(&format!("{NAME} ANY"));
    socket
        .send_to(&query_bytes(&name, qtype, 99), server.addr)
        .await
        .expect("send");
    let mut buf = [0u8; 512];
    let reply = tokio::time::timeout(Duration::from_millis(500), socket.recv_from(&mut buf)).await;
    assert!(reply.is_err(), "a dropped query gets no reply");
    // The same client is still answered for other types.
    let ok = ask_dig_from(from(2), server.addr, &format!("{NAME} A"), false);
    assert_eq!(ok.rcode, "NOERROR");
}
