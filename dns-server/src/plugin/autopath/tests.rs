//! autopath in front of a table-driven plugin that records the names it was asked.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::Mutex;

use hickory_proto::rr::RecordType;

use super::*;

/// Answers from a table (NXDOMAIN for other names), recording every name asked.
#[derive(Default)]
struct Table {
    answers: HashMap<String, PluginResult>,
    asked: Mutex<Vec<String>>,
}

impl Table {
    fn with(mut self, name: &str, result: PluginResult) -> Self {
        self.answers.insert(name.to_string(), result);
        self
    }

    fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap().clone()
    }
}

impl Plugin for Table {
    fn name(&self) -> &'static str {
        "table"
    }

    fn serve<'a>(&'a self, query: &'a Query, _next: Next<'a>) -> PluginFuture<'a> {
        self.asked.lock().unwrap().push(query.lower.clone());
        PluginFuture::ready(
            self.answers
                .get(&query.lower)
                .cloned()
                .unwrap_or_else(|| Ok(Reply::new(ResponseCode::NXDomain, "table"))),
        )
    }
}

fn found(name: &str) -> PluginResult {
    let mut reply = Reply::new(ResponseCode::NoError, "table");
    reply.answers.push(records::address(
        &Name::from_ascii(name).unwrap(),
        30,
        Ipv4Addr::new(192, 0, 2, 1).into(),
    ));
    Ok(reply)
}

fn autopath(search: &[&str]) -> AutoPath {
    AutoPath {
        zones: vec![".".into()],
        source: SearchSource::File(search.iter().map(|s| s.to_string()).collect()),
        successes: Arc::default(),
    }
}

const SEARCH: &[&str] = &[
    "apps.svc.cluster.local.",
    "svc.cluster.local.",
    "cluster.local.",
];

async fn ask(ap: AutoPath, table: Table, name: &str) -> (PluginResult, Vec<String>, u64) {
    let table = Arc::new(table);
    let chain: Vec<Arc<dyn Plugin>> = vec![table.clone()];
    let query = Query::new(Name::from_ascii(name).unwrap(), RecordType::A);
    let result = ap.serve(&query, Next::new(&chain)).await;
    (result, table.asked(), ap.successes.load(Relaxed))
}

#[tokio::test]
async fn walks_the_search_path_and_answers_with_a_cname() {
    let table = Table::default().with("www.example.org.", found("www.example.org."));
    let (result, asked, successes) = ask(
        autopath(SEARCH),
        table,
        "WWW.Example.org.apps.svc.cluster.local.",
    )
    .await;
    assert_eq!(
        asked,
        [
            "www.example.org.apps.svc.cluster.local.",
            "www.example.org.svc.cluster.local.",
            "www.example.org.cluster.local.",
            "www.example.org.",
        ]
    );
    let reply = result.unwrap();
    assert_eq!(reply.rcode, ResponseCode::NoError);
    let text: Vec<String> = reply.answers.iter().map(ToString::to_string).collect();
    assert_eq!(
        text,
        [
            "WWW.Example.org.apps.svc.cluster.local. 30 IN CNAME www.example.org.",
            "www.example.org. 30 IN A 192.0.2.1",
        ]
    );
    assert_eq!(successes, 1);
}

#[tokio::test]
async fn a_service_in_another_namespace_is_found_one_step_on() {
    let table = Table::default().with(
        "web.prod.svc.cluster.local.",
        found("web.prod.svc.cluster.local."),
    );
    let (result, asked, _) = ask(autopath(SEARCH), table, "web.prod.apps.svc.cluster.local.").await;
    assert_eq!(asked.len(), 2);
    let reply = result.unwrap();
    assert_eq!(reply.answers.len(), 2);
    assert_eq!(
        reply.answers[0].to_string(),
        "web.prod.apps.svc.cluster.local. 30 IN CNAME web.prod.svc.cluster.local."
    );
}

#[tokio::test]
async fn an_answer_at_the_first_step_is_returned_as_is_without_a_task() {
    let name = "web.apps.svc.cluster.local.";
    let table = Arc::new(Table::default().with(name, found(name)));
    let chain: Vec<Arc<dyn Plugin>> = vec![table.clone()];
    let ap = autopath(SEARCH);
    let query = Query::new(Name::from_ascii(name).unwrap(), RecordType::A);
    let future = ap.serve(&query, Next::new(&chain));
    assert!(
        matches!(future, PluginFuture::Ready(_)),
        "stays a ready future"
    );
    let reply = future.await.unwrap();
    assert_eq!(reply.answers.len(), 1, "no CNAME for the name asked");
    assert_eq!(table.asked(), [name]);
    assert_eq!(ap.successes.load(Relaxed), 0);
}

#[tokio::test]
async fn every_step_nxdomain_gives_the_first_reply() {
    let (result, asked, successes) = ask(
        autopath(SEARCH),
        Table::default(),
        "nothing.apps.svc.cluster.local.",
    )
    .await;
    assert_eq!(asked.len(), 4);
    assert_eq!(asked[3], "nothing.");
    assert_eq!(result.unwrap().rcode, ResponseCode::NXDomain);
    assert_eq!(successes, 0);
}

#[tokio::test]
async fn names_not_under_the_first_domain_are_not_walked() {
    for name in [
        "www.example.org.",
        "web.prod.svc.cluster.local.",
        // The domain itself has no name to search for.
        "apps.svc.cluster.local.",
        // Label-aligned: `xapps` is not `apps`.
        "web.xapps.svc.cluster.local.",
    ] {
        let (result, asked, _) = ask(autopath(SEARCH), Table::default(), name).await;
        assert_eq!(asked, [name], "{name}");
        assert_eq!(result.unwrap().rcode, ResponseCode::NXDomain);
    }
}

#[tokio::test]
async fn a_failure_ends_the_walk() {
    let table = Table::default().with(
        "www.example.org.cluster.local.",
        Err(crate::plugin::testing::upstream_failure("timeout")),
    );
    let (result, asked, _) = ask(
        autopath(SEARCH),
        table,
        "www.example.org.apps.svc.cluster.local.",
    )
    .await;
    assert_eq!(asked.len(), 3, "stopped at the failing step: {asked:?}");
    assert_eq!(
        result,
        Err(crate::plugin::testing::upstream_failure("timeout"))
    );
}

#[tokio::test]
async fn outside_its_zones_autopath_passes_the_query_on() {
    let mut ap = autopath(SEARCH);
    ap.zones = vec!["example.com.".into()];
    let (_, asked, _) = ask(ap, Table::default(), "x.apps.svc.cluster.local.").await;
    assert_eq!(asked, ["x.apps.svc.cluster.local."]);
}

#[test]
fn domains_are_stripped_on_label_boundaries() {
    assert_eq!(
        strip_zone("a.b.cluster.local.", "cluster.local."),
        Some("a.b.")
    );
    assert_eq!(strip_zone("cluster.local.", "cluster.local."), Some(""));
    assert_eq!(strip_zone("xcluster.local.", "cluster.local."), None);
    assert_eq!(strip_zone("a.b.", "."), Some("a.b."));
    assert_eq!(strip_domain("a.b.svc.", "svc."), Some("a.b".to_string()));
    assert_eq!(strip_domain("svc.", "svc."), None);
}

#[tokio::test]
async fn nodata_found_on_the_path_is_an_alias_too() {
    let mut nodata = Reply::new(ResponseCode::NoError, "table");
    nodata.authority.push(records::address(
        &Name::from_ascii("unrelated.").unwrap(),
        99,
        Ipv4Addr::new(192, 0, 2, 9).into(),
    ));
    let table = Table::default().with("www.example.org.", Ok(nodata));
    let (result, _, successes) = ask(
        autopath(SEARCH),
        table,
        "www.example.org.apps.svc.cluster.local.",
    )
    .await;
    let reply = result.unwrap();
    let text: Vec<String> = reply.answers.iter().map(ToString::to_string).collect();
    assert_eq!(
        text,
        ["www.example.org.apps.svc.cluster.local. 0 IN CNAME www.example.org."],
        "no SOA to take a TTL from: 0"
    );
    assert_eq!(reply.authority.len(), 1, "the step's authority is kept");
    assert_eq!(successes, 1);
}

#[tokio::test]
async fn the_alias_of_nodata_lives_as_long_as_the_negative_answer() {
    let mut nodata = Reply::new(ResponseCode::NoError, "table");
    nodata.authority.push(
        crate::contract::Zone::new("example.org.")
            .unwrap()
            .soa(30, 1),
    );
    let table = Table::default().with("www.example.org.", Ok(nodata));
    let (result, _, _) = ask(
        autopath(SEARCH),
        table,
        "www.example.org.apps.svc.cluster.local.",
    )
    .await;
    let reply = result.unwrap();
    assert_eq!(reply.answers.len(), 1);
    assert_eq!(reply.answers[0].ttl, 30);
}
