//! The `kubernetes` directive's API options, as data (`fixtures/kube/setup.yaml`): Corefile →
//! plan or positioned error, through the same setup `rollcall check` runs.

use std::path::Path;

use crate::support::fixtures;

#[derive(serde::Deserialize)]
struct Case {
    name: String,
    corefile: String,
    #[serde(default)]
    plan: Option<String>,
    #[serde(default)]
    errors: Option<Vec<String>>,
}

#[test]
fn kubernetes_api_option_tables() {
    let text = std::fs::read_to_string(fixtures().join("kube/setup.yaml")).unwrap();
    let cases: Vec<Case> = serde_yaml_ng::from_str(&text).unwrap();
    assert!(cases.len() >= 10);
    let mut failures = Vec::new();
    for case in cases {
        let options = corefile::ParseOptions::with_env(|_| None);
        let result = rollcall::load_corefile_str(
            &case.corefile,
            "Corefile",
            Path::new("/etc/coredns"),
            &options,
            53,
        );
        match (&result, &case.plan, &case.errors) {
            (Ok(setup), Some(plan), None) => {
                let got = setup.to_string();
                if got.trim_end() != plan.trim_end() {
                    failures.push(format!(
                        "{}: plan\n--- expected\n{plan}--- got\n{got}",
                        case.name
                    ));
                }
            }
            (Err(rollcall::LoadError::Setup(errors)), None, Some(want)) => {
                let got: Vec<String> = errors.iter().map(ToString::to_string).collect();
                if &got != want {
                    failures.push(format!(
                        "{}: errors\n  expected {want:?}\n  got      {got:?}",
                        case.name
                    ));
                }
            }
            (Ok(setup), _, _) => failures.push(format!("{}: unexpected plan\n{setup}", case.name)),
            (Err(e), _, _) => failures.push(format!("{}: unexpected error {e}", case.name)),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
