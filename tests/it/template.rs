//! `template` end to end: rollcall in-process on a real socket with the fixture cluster, asked
//! with dig. The IPv4-only cluster's classic: every AAAA gets an empty NOERROR at once (no
//! AAAA lookups through the search path, no conntrack race for the second query of a pair).

use crate::support::{TestServer, ask_dig, fixtures};

const COREFILE: &str = r#".:0 {
    bind 127.0.0.1
    template ANY AAAA {
        rcode NOERROR
    }
    template IN A example.org {
        match ^ip-(?P<a>[0-9]+)-(?P<b>[0-9]+)-(?P<c>[0-9]+)-(?P<d>[0-9]+)[.]example[.]org[.]$
        answer "{{ .Name }} 60 IN A {{ .Group.a }}.{{ .Group.b }}.{{ .Group.c }}.{{ .Group.d }}"
    }
    kubernetes cluster.local {
        manifests cluster
        ttl 5
    }
}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_answer_before_the_cluster() {
    let server = TestServer::start_text(COREFILE, &fixtures().join("k8s")).await;
    for tcp in [false, true] {
        let a = ask_dig(server.addr, "web-service.apps.svc.cluster.local AAAA", tcp);
        assert_eq!(a.rcode, "NOERROR", "{a:?}");
        assert!(
            a.aa && a.answer.is_empty() && a.authority.is_empty(),
            "{a:?}"
        );
        let a = ask_dig(server.addr, "web-service.apps.svc.cluster.local A", tcp);
        assert_eq!(
            a.answer,
            vec!["web-service.apps.svc.cluster.local. 5 IN A 10.96.0.100"]
        );
        let a = ask_dig(server.addr, "ip-10-1-2-3.example.org A", tcp);
        assert_eq!(
            a.answer,
            vec!["ip-10-1-2-3.example.org. 60 IN A 10.1.2.3"],
            "tcp={tcp}"
        );
        let a = ask_dig(server.addr, "www.example.org A", tcp);
        assert_eq!(a.rcode, "NXDOMAIN", "{a:?}");
    }
}
