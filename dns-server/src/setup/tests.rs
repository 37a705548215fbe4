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

#[test]
fn misspelled_properties_get_a_suggestion_in_file_order() {
    let errs = errors(
        ".:53 {\n health {\n  lamduck 1s\n }\n log {\n  clas all\n }\n dns64 {\n  prefx 64:ff9b::/96\n }\n template IN A {\n  answr \"x 60 IN A 1.2.3.4\"\n }\n kubernetes\n k8s_external example.org {\n  apx dns\n }\n}\n",
    );
    assert_eq!(
        errs,
        [
            "Corefile:3:3: health: unknown property \"lamduck\" (did you mean \"lameduck\"?)",
            "Corefile:6:3: log: unknown property \"clas\" (did you mean \"class\"?)",
            "Corefile:9:3: dns64: unknown property \"prefx\" (did you mean \"prefix\"?)",
            "Corefile:12:3: template: unknown property \"answr\" (did you mean \"answer\"?)",
            "Corefile:16:3: k8s_external: unknown property \"apx\" (did you mean \"apex\"?)",
        ]
    );
}
