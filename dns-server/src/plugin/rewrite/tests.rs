//! Rules parsed from Corefile text, run in front of a plugin that answers every question with
//! an A record (and a CNAME for names starting with `alias.`) and records what it was asked.

use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{DNSClass, Name, RecordType};

use crate::contract::{Next, Plugin, PluginFuture, PluginResult, Query, Reply};
use crate::dns::records;

#[derive(Default)]
struct Echo {
    asked: Mutex<Vec<(String, RecordType, DNSClass)>>,
    rcode: Mutex<Option<ResponseCode>>,
}

impl Plugin for Echo {
    fn name(&self) -> &'static str {
        "echo"
    }

    fn serve<'a>(&'a self, query: &'a Query, _next: Next<'a>) -> PluginFuture<'a> {
        self.asked
            .lock()
            .unwrap()
            .push((query.lower.clone(), query.qtype, query.qclass));
        let rcode = self.rcode.lock().unwrap().unwrap_or(ResponseCode::NoError);
        let mut reply = Reply::new(rcode, "echo");
        if query.lower.starts_with("alias.") {
            let target =
                Name::from_ascii(format!("target.{}", &query.lower["alias.".len()..])).unwrap();
            reply
                .answers
                .push(records::cname(&query.name, 300, target.clone()));
            reply.answers.push(records::address(
                &target,
                300,
                Ipv4Addr::new(192, 0, 2, 2).into(),
            ));
        } else {
            reply.answers.push(records::address(
                &query.name,
                300,
                Ipv4Addr::new(192, 0, 2, 1).into(),
            ));
        }
        PluginFuture::ready(Ok(reply))
    }
}

fn rewrite(lines: &str) -> Arc<dyn Plugin> {
    crate::plugin::testing::plugin(lines)
}

async fn ask(
    lines: &str,
    name: &str,
    qtype: RecordType,
) -> (PluginResult, Vec<(String, RecordType, DNSClass)>) {
    let plugin = rewrite(lines);
    let echo = Arc::new(Echo::default());
    let chain: Vec<Arc<dyn Plugin>> = vec![echo.clone()];
    let query = Query::new(Name::from_ascii(name).unwrap(), qtype);
    let result = plugin.serve(&query, Next::new(&chain)).await;
    let asked = echo.asked.lock().unwrap().clone();
    (result, asked)
}

use crate::plugin::testing::answer_texts as answers;

#[tokio::test]
async fn exact_name_is_rewritten_and_the_answer_names_the_question_again() {
    let (result, asked) = ask(
        "rewrite name DB.example.com db.prod.svc.cluster.local",
        "db.example.com.",
        RecordType::A,
    )
    .await;
    assert_eq!(asked[0].0, "db.prod.svc.cluster.local.");
    assert_eq!(answers(&result), ["db.example.com. 300 IN A 192.0.2.1"]);
    // Not matching: passed on untouched.
    let (_, asked) = ask(
        "rewrite name db.example.com db.prod.svc.cluster.local",
        "www.example.com.",
        RecordType::A,
    )
    .await;
    assert_eq!(asked[0].0, "www.example.com.");
}

#[tokio::test]
async fn prefix_suffix_substring_and_answer_auto() {
    let (result, asked) = ask(
        "rewrite name suffix .schmoogle.com. .google.com. answer auto",
        "www.schmoogle.com.",
        RecordType::A,
    )
    .await;
    assert_eq!(asked[0].0, "www.google.com.");
    assert_eq!(answers(&result), ["www.schmoogle.com. 300 IN A 192.0.2.1"]);

    let (result, asked) = ask(
        "rewrite name substring service.us-west-1.example.org service.us-west-1.consul",
        "ftp.service.us-west-1.example.org.",
        RecordType::A,
    )
    .await;
    assert_eq!(asked[0].0, "ftp.service.us-west-1.consul.");
    assert_eq!(
        answers(&result),
        ["ftp.service.us-west-1.consul. 300 IN A 192.0.2.1"],
        "no answer rule: the answer keeps the rewritten name, as in CoreDNS"
    );

    let (_, asked) = ask(
        "rewrite name prefix api api-v2",
        "api.example.com.",
        RecordType::A,
    )
    .await;
    assert_eq!(asked[0].0, "api-v2.example.com.");
}

#[tokio::test]
async fn regex_with_groups_and_answer_name() {
    let lines = "rewrite stop {\n name regex (.*)-(us-west-1)\\.example\\.org {1}.service.{2}.consul\n answer name (.*)\\.service\\.(us-west-1)\\.consul {1}-{2}.example.org\n}";
    let (result, asked) = ask(lines, "ftp-us-west-1.example.org.", RecordType::A).await;
    assert_eq!(asked[0].0, "ftp.service.us-west-1.consul.");
    assert_eq!(
        answers(&result),
        ["ftp-us-west-1.example.org. 300 IN A 192.0.2.1"]
    );
}

#[tokio::test]
async fn answer_value_rewrites_names_inside_records() {
    let lines = "rewrite name regex alias\\.(.*)\\.internal alias.{1}.cluster.local answer name alias\\.(.*)\\.cluster\\.local alias.{1}.internal answer value target\\.(.*)\\.cluster\\.local target.{1}.internal";
    let (result, _) = ask(lines, "alias.web.internal.", RecordType::A).await;
    assert_eq!(
        answers(&result),
        [
            "alias.web.internal. 300 IN CNAME target.web.internal.",
            "target.web.cluster.local. 300 IN A 192.0.2.2",
        ]
    );
}

#[tokio::test]
async fn continue_lets_later_rules_apply_and_stop_ends_the_list() {
    let lines = "rewrite continue name a.example b.example\nrewrite type ANY HINFO\nrewrite name b.example c.example";
    let (_, asked) = ask(lines, "a.example.", RecordType::ANY).await;
    assert_eq!(asked[0].0, "b.example.", "the type rule stopped the list");
    assert_eq!(asked[0].1, RecordType::HINFO);

    let (_, asked) = ask("rewrite class CH IN", "version.bind.", RecordType::TXT).await;
    assert_eq!(
        asked[0].2,
        DNSClass::IN,
        "IN queries are not changed by a CH rule"
    );
}

#[tokio::test]
async fn ttl_and_rcode_rules_change_the_response() {
    let (result, asked) = ask(
        "rewrite ttl regex .*\\.example\\.org 15",
        "www.example.org.",
        RecordType::A,
    )
    .await;
    assert_eq!(asked[0].0, "www.example.org.");
    assert_eq!(answers(&result), ["www.example.org. 15 IN A 192.0.2.1"]);
    let (result, _) = ask(
        "rewrite ttl www.example.org 400-",
        "www.example.org.",
        RecordType::A,
    )
    .await;
    assert_eq!(result.unwrap().answers[0].ttl, 400);
    let (result, _) = ask(
        "rewrite ttl www.example.org -100",
        "www.example.org.",
        RecordType::A,
    )
    .await;
    assert_eq!(result.unwrap().answers[0].ttl, 100);

    let plugin = rewrite("rewrite rcode suffix example.org. SERVFAIL NXDOMAIN");
    let echo = Arc::new(Echo::default());
    *echo.rcode.lock().unwrap() = Some(ResponseCode::ServFail);
    let chain: Vec<Arc<dyn Plugin>> = vec![echo.clone()];
    let query = Query::new(Name::from_ascii("x.example.org.").unwrap(), RecordType::A);
    let reply = plugin.serve(&query, Next::new(&chain)).await.unwrap();
    assert_eq!(reply.rcode, ResponseCode::NXDomain);
}

#[tokio::test]
async fn an_invalid_name_after_the_rewrite_fails_the_query() {
    let long = "a".repeat(70);
    let lines = format!("rewrite name regex (.*) {long}.{{1}}");
    let (result, asked) = ask(&lines, "x.example.", RecordType::A).await;
    assert!(asked.is_empty());
    assert!(result.is_err(), "{result:?}");
}
