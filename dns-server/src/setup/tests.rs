use std::path::Path;

use super::*;

fn plan(text: &str) -> Result<Setup, Vec<SetupError>> {
    let corefile = corefile::parse_str(
        text,
        "Corefile",
        Path::new("/tmp"),
        &corefile::ParseOptions::with_env(|_| None),
    )
    .map_err(|e| vec![SetupError::new(&e.span, "parse", e.message)])?;
    build(&corefile, Path::new("/tmp"), 53)
}

fn errors(text: &str) -> Vec<String> {
    match plan(text) {
        Ok(_) => vec![],
        Err(e) => e.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn chain_order_is_fixed_not_corefile_order() {
    let setup = plan(
        ".:1053 {\n kubernetes cluster.local {\n  manifests /nonexistent\n }\n log\n errors\n}\n",
    )
    .unwrap();
    let names: Vec<&str> = setup.blocks[0]
        .described
        .iter()
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(names, ["errors", "log", "kubernetes"]);
}

#[test]
fn every_unimplemented_directive_is_reported_at_once() {
    let errs = errors(".:53 {\n pprof\n transfer\n frobnicate\n}\n");
    assert_eq!(errs.len(), 3, "{errs:?}");
    assert!(errs[0].starts_with("Corefile:2:2: pprof: directive not implemented"));
    assert!(errs[1].starts_with("Corefile:3:2: transfer: directive not implemented"));
    assert_eq!(errs[2], "Corefile:4:2: frobnicate: unknown directive");
}
