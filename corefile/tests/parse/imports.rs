//! Imports of real files and globs, in a scratch directory per test.

use corefile::{ParseOptions, parse_file, parse_str};

use crate::common::{TempDir, render, test_env};

#[test]
fn imports_a_relative_file_with_its_own_spans() {
    let dir = TempDir::new("relative");
    dir.write("common.conf", "errors\ncache 30\n");
    let root = dir.write("Corefile", ".:53 {\n  import common.conf\n  log\n}\n");
    let parsed = parse_file(&root, &test_env()).unwrap();
    assert_eq!(render(&parsed), "[.:53] {errors; cache 30; log}");

    let directives = &parsed.blocks[0].directives;
    let imported = dir.path().join("common.conf").display().to_string();
    assert_eq!(directives[1].span.to_string(), format!("{imported}:2:1"));
    assert_eq!(
        directives[2].span.to_string(),
        format!("{}:3:3", root.display())
    );
}

#[test]
fn glob_imports_every_match_in_sorted_order() {
    let dir = TempDir::new("glob");
    dir.write("conf.d/b.conf", "b\n");
    dir.write("conf.d/a.conf", "a\n");
    dir.write("conf.d/c.conf", "c {\n}\n");
    dir.write("conf.d/ignored.txt", "nope\n");
    std::fs::create_dir_all(dir.path().join("conf.d/sub.conf")).unwrap();
    let src = ".:53 {\n  import conf.d/*.conf\n}\n";
    let parsed = parse_str(src, "Corefile", dir.path(), &test_env()).unwrap();
    assert_eq!(render(&parsed), "[.:53] {a; b; c {}}");
}

#[test]
fn glob_without_matches_is_empty() {
    let dir = TempDir::new("nomatch");
    let src = "import missing/*.server\n.:53 {\n  import missing/*.override\n  log\n}\nimport /nonexistent-rollcall/*.server\n";
    let parsed = parse_str(src, "Corefile", dir.path(), &test_env()).unwrap();
    assert_eq!(render(&parsed), "[.:53] {log}");
}

#[test]
fn top_level_import_of_server_blocks() {
    let dir = TempDir::new("blocks");
    dir.write("custom/a.server", "a.local:53 {\n  whoami\n}\n");
    dir.write("custom/b.server", "b.local:53 {\n}\n");
    let src = ".:53 {\n  log\n}\nimport custom/*.server\n";
    let parsed = parse_str(src, "Corefile", dir.path(), &test_env()).unwrap();
    assert_eq!(
        render(&parsed),
        "[.:53] {log} | [a.local:53] {whoami} | [b.local:53] {}"
    );
}

#[test]
fn nested_imports_resolve_relative_to_the_importing_file() {
    let dir = TempDir::new("nested");
    dir.write("sub/outer.conf", "outer\nimport inner.conf\n");
    dir.write("sub/inner.conf", "inner\n");
    // A file next to the root with the same name must not be picked.
    dir.write("inner.conf", "wrong\n");
    let root = dir.write("Corefile", ".:53 {\n  import sub/outer.conf\n}\n");
    let parsed = parse_file(&root, &test_env()).unwrap();
    assert_eq!(render(&parsed), "[.:53] {outer; inner}");
}

#[test]
fn absolute_paths_and_args_work_for_files() {
    let dir = TempDir::new("absolute");
    let file = dir.write("fwd.conf", "forward . {args[0]}\n");
    let src = format!(".:53 {{\n  import {} 9.9.9.9\n}}\n", file.display());
    let parsed = parse_str(&src, "Corefile", std::path::Path::new("/"), &test_env()).unwrap();
    assert_eq!(render(&parsed), "[.:53] {forward . 9.9.9.9}");
}

#[test]
fn snippets_defined_in_imported_files_are_usable_after_the_import() {
    let dir = TempDir::new("snippets");
    dir.write("snippets.conf", "(common) {\n  errors\n  log\n}\n");
    let src = "import snippets.conf\n.:53 {\n  import common\n}\n";
    let parsed = parse_str(src, "Corefile", dir.path(), &test_env()).unwrap();
    assert_eq!(render(&parsed), "[.:53] {errors; log}");
}

#[test]
fn env_substitution_applies_in_imported_files() {
    let dir = TempDir::new("env");
    dir.write("port.conf", "bind {$HOST}\n");
    let opts = ParseOptions::with_env(|name| (name == "HOST").then(|| "127.0.0.1".to_owned()));
    let parsed = parse_str(
        ".:53 {\n  import port.conf\n}\n",
        "Corefile",
        dir.path(),
        &opts,
    )
    .unwrap();
    assert_eq!(render(&parsed), "[.:53] {bind 127.0.0.1}");
}

#[test]
fn missing_plain_file_is_an_error_naming_the_path() {
    let dir = TempDir::new("missing");
    let err = parse_str(
        ".:53 {\n  import nope.conf\n}\n",
        "Corefile",
        dir.path(),
        &test_env(),
    )
    .unwrap_err();
    let path = dir.path().join("nope.conf").display().to_string();
    assert_eq!(err.span.to_string(), "Corefile:2:10");
    assert!(
        err.message.contains(&format!("'{path}' does not exist")),
        "{err}"
    );
}

#[test]
fn errors_in_imported_files_carry_that_files_name() {
    let dir = TempDir::new("badimport");
    let bad = dir.write("bad.conf", "ok\nbroken {\n");
    let root = dir.write("Corefile", ".:53 {\n  import bad.conf\n}\n");
    let err = parse_file(&root, &test_env()).unwrap_err();
    let bad = bad.display().to_string();
    assert_eq!(
        err.to_string(),
        format!(
            "{bad}:3:1: expected '}}' to close the block opened at {bad}:2:8, found end of file"
        )
    );
}

#[test]
fn file_importing_itself_is_a_cycle() {
    let dir = TempDir::new("selfcycle");
    let root = dir.write("Corefile", ".:53 {\n  import Corefile\n}\n");
    let err = parse_file(&root, &test_env()).unwrap_err();
    assert_eq!(err.span.to_string(), format!("{}:2:10", root.display()));
    assert!(
        err.message
            .starts_with("import cycle: expected 'Corefile' to not import itself"),
        "{err}"
    );
}

#[test]
fn indirect_file_cycle_through_a_glob() {
    let dir = TempDir::new("cycle");
    dir.write("a.conf", "a\nimport ./b.conf\n");
    dir.write("b.conf", "b\nimport *.conf\n");
    let err = parse_str(
        ".:53 {\n  import a.conf\n}\n",
        "Corefile",
        dir.path(),
        &test_env(),
    )
    .unwrap_err();
    let b = dir.path().join("b.conf").display().to_string();
    assert_eq!(err.span.to_string(), format!("{b}:2:8"));
    assert!(err.message.contains("import cycle"), "{err}");
    assert!(err.message.contains("a.conf -> "), "{err}");
}

#[test]
fn parse_str_root_importing_its_own_file_is_a_cycle() {
    let dir = TempDir::new("strcycle");
    let src = ".:53 {\n  import Corefile\n}\n";
    dir.write("Corefile", src);
    let err = parse_str(src, "Corefile", dir.path(), &test_env()).unwrap_err();
    assert!(err.message.contains("import cycle"), "{err}");
}

#[test]
fn deep_file_imports_are_capped() {
    let dir = TempDir::new("deep");
    for n in 0..40 {
        dir.write(&format!("f{n}.conf"), &format!("import f{}.conf\n", n + 1));
    }
    dir.write("f40.conf", "log\n");
    let err = parse_str(
        ".:53 {\n  import f0.conf\n}\n",
        "Corefile",
        dir.path(),
        &test_env(),
    )
    .unwrap_err();
    assert!(err.message.contains("nested at most 32 deep"), "{err}");
}

#[test]
fn unreadable_root_is_an_error_at_its_path() {
    let dir = TempDir::new("noroot");
    let path = dir.path().join("Corefile");
    let err = parse_file(&path, &test_env()).unwrap_err();
    assert_eq!(err.span.to_string(), format!("{}:1:1", path.display()));
    assert!(
        err.message.starts_with("expected a readable Corefile"),
        "{err}"
    );
}

#[test]
fn importing_a_directory_by_plain_path_is_an_error() {
    let dir = TempDir::new("dirimport");
    std::fs::create_dir_all(dir.path().join("conf.d")).unwrap();
    let err = parse_str(
        ".:53 {\n  import conf.d\n}\n",
        "Corefile",
        dir.path(),
        &test_env(),
    )
    .unwrap_err();
    assert!(err.message.starts_with("expected a readable file"), "{err}");
}
