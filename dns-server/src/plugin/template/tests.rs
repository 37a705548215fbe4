//! Templates parsed from Corefile text, in front of a plugin that answers everything it sees
//! with NOERROR (so "went down the chain" is visible).

use std::sync::{Arc, Mutex};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RecordType};

use crate::contract::{Next, Plugin, PluginFuture, PluginResult, Query, Reply};

#[derive(Default)]
struct Rest {
    asked: Mutex<Vec<String>>,
}

impl Plugin for Rest {
    fn name(&self) -> &'static str {
        "rest"
    }

    fn serve<'a>(&'a self, query: &'a Query, _next: Next<'a>) -> PluginFuture<'a> {
        self.asked.lock().unwrap().push(query.lower.clone());
        PluginFuture::ready(Ok(Reply::new(ResponseCode::NoError, "rest")))
    }
}

fn template(stanzas: &str) -> Arc<dyn Plugin> {
    crate::plugin::testing::plugin(stanzas)
}

async fn ask(plugin: &Arc<dyn Plugin>, name: &str, qtype: RecordType) -> (PluginResult, bool) {
    let rest = Arc::new(Rest::default());
    let chain: Vec<Arc<dyn Plugin>> = vec![rest.clone()];
    let query = Query::new(Name::from_ascii(name).unwrap(), qtype);
    let result = plugin.serve(&query, Next::new(&chain)).await;
    let passed_on = !rest.asked.lock().unwrap().is_empty();
    (result, passed_on)
}

use crate::plugin::testing::answer_texts as records;

#[tokio::test]
async fn empty_noerror_for_every_aaaa() {
    let t = template("template ANY AAAA {\n rcode NOERROR\n}");
    let (result, passed_on) = ask(&t, "www.example.org.", RecordType::AAAA).await;
    let reply = result.unwrap();
    assert!(!passed_on);
    assert_eq!(reply.rcode, ResponseCode::NoError);
    assert!(reply.answers.is_empty() && reply.authoritative);
    // Other types are not this template's: down the chain.
    let (_, passed_on) = ask(&t, "www.example.org.", RecordType::A).await;
    assert!(passed_on);
}

#[tokio::test]
async fn answers_from_named_groups() {
    let t = template(
        "template IN A example.org {\n match ^ip-(?P<a>[0-9]+)-(?P<b>[0-9]+)-(?P<c>[0-9]+)-(?P<d>[0-9]+)[.]example[.]org[.]$\n answer \"{{ .Name }} 60 IN A {{ .Group.a }}.{{ .Group.b }}.{{ .Group.c }}.{{ .Group.d }}\"\n additional \"ns.{{ .Zone }} 60 IN A 192.0.2.53\"\n}",
    );
    let (result, _) = ask(&t, "IP-10-1-2-3.example.org.", RecordType::A).await;
    assert_eq!(
        records(&result),
        ["ip-10-1-2-3.example.org. 60 IN A 10.1.2.3"]
    );
    assert_eq!(
        result.as_ref().unwrap().additionals[0].to_string(),
        "ns.example.org. 60 IN A 192.0.2.53"
    );
    // In the zone, right type, no regex match, no fallthrough: NXDOMAIN.
    let (result, passed_on) = ask(&t, "www.example.org.", RecordType::A).await;
    assert_eq!(result.unwrap().rcode, ResponseCode::NXDomain);
    assert!(!passed_on);
    // Outside its zone: down the chain.
    let (_, passed_on) = ask(&t, "ip-10-1-2-3.example.com.", RecordType::A).await;
    assert!(passed_on);
}

#[tokio::test]
async fn fallthrough_and_rules_in_corefile_order() {
    let t = template(
        "template IN A example.org {\n match ^a[.]\n answer \"{{ .Name }} 5 A 192.0.2.1\"\n fallthrough\n}\ntemplate IN A example.org {\n match ^b[.]\n answer \"{{ .Name }} 5 A 192.0.2.2\"\n fallthrough example.org\n}",
    );
    let (a, _) = ask(&t, "a.example.org.", RecordType::A).await;
    assert_eq!(records(&a), ["a.example.org. 5 IN A 192.0.2.1"]);
    let (b, _) = ask(&t, "b.example.org.", RecordType::A).await;
    assert_eq!(records(&b), ["b.example.org. 5 IN A 192.0.2.2"]);
    let (c, passed_on) = ask(&t, "c.example.org.", RecordType::A).await;
    assert!(passed_on, "both fall through: {c:?}");
}

#[tokio::test]
async fn a_record_that_does_not_parse_fails_the_query() {
    let t = template("template IN A {\n answer \"{{ .Name }} 60 IN A {{ .Name }}\"\n}");
    let (result, _) = ask(&t, "x.example.", RecordType::A).await;
    assert!(result.is_err(), "{result:?}");
}
