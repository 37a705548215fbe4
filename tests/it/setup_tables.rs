//! Corefile → plan or error, as data (`fixtures/setup/cases.yaml`), through the same setup code
//! `rollcall check` and `rollcall serve` run.

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
    #[serde(default)]
    errors_contain: Option<Vec<String>>,
}

#[test]
fn corefile_setup_tables() {
    let text = std::fs::read_to_string(fixtures().join("setup/cases.yaml")).unwrap();
    let cases: Vec<Case> = serde_yaml_ng::from_str(&text).unwrap();
    assert!(cases.len() >= 15);
    let mut failures = Vec::new();
    for case in cases {
        let options = corefile::ParseOptions::with_env(|_| None);
        let result = rollcall::load_corefile_str(
            &case.corefile,
            "Corefile",
            Path::new("/tmp"),
            &options,
            53,
        );
        let got_errors: Vec<String> = match &result {
            Ok(_) => vec![],
            Err(rollcall::LoadError::Setup(errors)) => {
                errors.iter().map(ToString::to_string).collect()
            }
            Err(e) => vec![e.to_string()],
        };
        if let Some(plan) = &case.plan {
            match &result {
                Ok(setup) => {
                    let got = setup.to_string();
                    if got.trim_end() != plan.trim_end() {
                        failures.push(format!(
                            "{}: plan\n--- expected\n{plan}--- got\n{got}",
                            case.name
                        ));
                    }
                }
                Err(e) => failures.push(format!("{}: expected a plan, got error {e}", case.name)),
            }
        }
        if let Some(want) = &case.errors
            && &got_errors != want
        {
            failures.push(format!(
                "{}: errors\n  expected {want:?}\n  got      {got_errors:?}",
                case.name
            ));
        }
        if let Some(want) = &case.errors_contain {
            for w in want {
                if !got_errors.iter().any(|g| g.contains(w.as_str())) {
                    failures.push(format!(
                        "{}: no error contains {w:?}; got {got_errors:?}",
                        case.name
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
