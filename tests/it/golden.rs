//! Golden answer tables: `fixtures/<case>/` holds a Corefile, a cluster of manifests and
//! `cases.yaml` (question → expected answer). Every question is asked in-process, with hickory's
//! client over UDP and over TCP, and with dig over UDP and TCP; all five must match the file.
//! `UPDATE_GOLDEN=1` rewrites the expectations from the in-process answers (review the diff).
//!
//! The Kubernetes table is asked twice: once from the manifests source, once through the
//! Kubernetes API path (the test API server seeded with the same `cluster/` objects, rollcall's
//! real kube-rs watchers and slim shapes). One cases file, two sources, the same answers.

use std::path::Path;

use rollcall::contract::Transport;

use crate::kube_support::{Cluster, TOKEN};
use crate::support::{Answer, TestServer, ask_dig, ask_hickory, ask_in_process, fixtures};

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Case {
    q: String,
    why: String,
    #[serde(flatten)]
    expect: Option<Answer>,
}

async fn run_fixture(dir: &Path) {
    let server = TestServer::start(dir).await;
    run_cases(&server, &dir.join("cases.yaml")).await;
}

/// Ask every question of a cases file five ways and compare with its expectations.
pub async fn run_cases(server: &TestServer, path: &Path) {
    ask_cases(server, path, Rewrite::OnRequest).await;
}

/// Whether `UPDATE_GOLDEN=1` may rewrite the cases file from this run's answers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Rewrite {
    OnRequest,
    /// A second source checked against the same file: it never writes the expectations.
    Never,
}

async fn ask_cases(server: &TestServer, path: &Path, rewrite: Rewrite) {
    let text = std::fs::read_to_string(path).expect("cases file");
    let mut cases: Vec<Case> = serde_yaml_ng::from_str(&text).expect("cases file parses");
    let update = rewrite == Rewrite::OnRequest && std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut failures = Vec::new();
    for case in &mut cases {
        let got = ask_in_process(server, &case.q).await;
        if update {
            case.expect = Some(got.clone());
        }
        let Some(expect) = &case.expect else {
            failures.push(format!(
                "{}: no expected answer (run with UPDATE_GOLDEN=1)",
                case.q
            ));
            continue;
        };
        let mut ways = vec![("in-process", got)];
        ways.push((
            "hickory udp",
            ask_hickory(server.addr, &case.q, Transport::Udp).await,
        ));
        ways.push((
            "hickory tcp",
            ask_hickory(server.addr, &case.q, Transport::Tcp).await,
        ));
        ways.push(("dig udp", ask_dig(server.addr, &case.q, false)));
        ways.push(("dig tcp", ask_dig(server.addr, &case.q, true)));
        for (how, answer) in ways {
            if &answer != expect {
                failures.push(format!(
                    "{} ({}) via {how}:\n  expected {expect:?}\n  got      {answer:?}",
                    case.q, case.why
                ));
            }
        }
    }
    if update {
        let header: String = text
            .lines()
            .take_while(|l| l.starts_with('#'))
            .map(|l| format!("{l}\n"))
            .collect();
        let body = serde_yaml_ng::to_string(&cases).expect("serialize cases");
        std::fs::write(path, header + &body).expect("write cases file");
    }
    assert!(
        failures.is_empty(),
        "{} golden mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_spec_answers() {
    run_fixture(&fixtures().join("k8s")).await;
}

/// The same fixture through the Kubernetes API path: the test API server holds the objects of
/// `k8s/cluster/` (read from there, not copied), and each `kubernetes` block of the fixture's
/// Corefile watches it instead of reading the manifests, all its other options unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_spec_answers_through_the_api() {
    let dir = fixtures().join("k8s");
    let cluster = Cluster::start().await;
    let seeded = cluster.seed_manifests(&dir.join("cluster"));
    assert!(seeded > 0, "no objects seeded from the fixture");
    let corefile = std::fs::read_to_string(dir.join("Corefile")).expect("fixture Corefile");
    let corefile = through_the_api(&corefile, &cluster.kubeconfig(TOKEN));
    // Waits (bounded) until every block's watchers listed every kind once.
    let server = TestServer::start_text(&corefile, &dir).await;
    ask_cases(&server, &dir.join("cases.yaml"), Rewrite::Never).await;
}

/// The fixture's Corefile with every `manifests cluster` replaced by the API server's kubeconfig.
fn through_the_api(corefile: &str, kubeconfig: &Path) -> String {
    let mut blocks = 0;
    let text: String = corefile
        .lines()
        .map(|line| {
            let indent = &line[..line.len() - line.trim_start().len()];
            if line.trim() == "manifests cluster" {
                blocks += 1;
                format!("{indent}kubeconfig {}\n", kubeconfig.display())
            } else {
                format!("{line}\n")
            }
        })
        .collect();
    let kubernetes = corefile
        .lines()
        .filter(|l| l.trim_start().starts_with("kubernetes"))
        .count();
    assert!(
        blocks > 0 && blocks == kubernetes,
        "every kubernetes block of the fixture must read `manifests cluster` ({blocks} of {kubernetes})"
    );
    text
}
