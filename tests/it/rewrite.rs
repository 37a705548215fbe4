//! `rewrite` end to end: rollcall in-process on a real socket in front of the fixture cluster,
//! asked with dig (UDP and TCP) and hickory's client. The client only ever sees the name it
//! asked, whatever name the cluster answered for.

use rollcall::contract::Transport;

use crate::support::{TestServer, ask_dig, ask_hickory, fixtures};

const COREFILE: &str = r".:0 {
    bind 127.0.0.1
    rewrite name exact db.example.com web-service.apps.svc.cluster.local
    rewrite stop {
        name regex (.*)\.corp\.example {1}.apps.svc.cluster.local
        answer name (.*)\.apps\.svc\.cluster\.local {1}.corp.example
    }
    rewrite continue ttl suffix .corp.example. 60
    rewrite type ANY A
    kubernetes cluster.local {
        manifests cluster
        ttl 5
    }
}
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rewritten_names_answer_as_asked_over_udp_and_tcp() {
    let server = TestServer::start_text(COREFILE, &fixtures().join("k8s")).await;
    for tcp in [false, true] {
        let a = ask_dig(server.addr, "db.example.com A", tcp);
        assert_eq!(a.rcode, "NOERROR", "{a:?}");
        assert_eq!(
            a.answer,
            vec!["db.example.com. 5 IN A 10.96.0.100"],
            "tcp={tcp}"
        );

        // The regex rule with its answer rule; the ttl rule matches on the asked name, but a
        // stop rule before it ended the list, so the cluster's TTL stays.
        let a = ask_dig(server.addr, "web-service.corp.example A", tcp);
        assert_eq!(
            a.answer,
            vec!["web-service.corp.example. 5 IN A 10.96.0.100"],
            "tcp={tcp}"
        );
    }
    let a = ask_hickory(server.addr, "web-service.corp.example A", Transport::Udp).await;
    assert_eq!(
        a.answer,
        vec!["web-service.corp.example. 5 IN A 10.96.0.100"]
    );

    // A name the rule maps to nothing in the cluster: the cluster's NXDOMAIN, for the name asked.
    let a = ask_dig(server.addr, "nothing.corp.example A", false);
    assert_eq!(a.rcode, "NXDOMAIN", "{a:?}");
    // Unmatched names pass untouched; ANY becomes A.
    let a = ask_dig(server.addr, "web-service.apps.svc.cluster.local ANY", false);
    assert_eq!(
        a.answer,
        vec!["web-service.apps.svc.cluster.local. 5 IN A 10.96.0.100"]
    );
}
