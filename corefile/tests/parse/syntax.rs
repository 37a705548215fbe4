//! In-memory Corefiles: structure and error tables.

use std::path::Path;

use corefile::{ParseOptions, parse_str};

use crate::common::{render, test_env};

fn parse(src: &str) -> Result<String, String> {
    parse_str(
        src,
        "Corefile",
        Path::new("/nonexistent-rollcall-dir"),
        &test_env(),
    )
    .map(|c| render(&c))
    .map_err(|e| e.to_string())
}

#[test]
fn structure() {
    let cases: &[(&str, &str, &str)] = &[
        ("empty file", "", ""),
        ("only comments", "# nothing\n   # here\n", ""),
        ("one block", ".:53 {\n  errors\n}\n", "[.:53] {errors}"),
        ("empty server block", ".:53 {\n}\n", "[.:53] {}"),
        ("server block as {}", ".:53 {}\n", "[.:53] {}"),
        (
            "args and two blocks",
            ".:53 {\n forward . 8.8.8.8 1.1.1.1\n}\nexample.org:1053 {\n whoami\n}",
            "[.:53] {forward . 8.8.8.8 1.1.1.1} | [example.org:1053] {whoami}",
        ),
        (
            "keys separated by commas and spaces",
            ".:53, example.org:53 dns://in-addr.arpa {\n log\n}",
            "[.:53 example.org:53 dns://in-addr.arpa] {log}",
        ),
        (
            "keys joined by commas in one word",
            "a.:53,b.:53 {\n}",
            "[a.:53 b.:53] {}",
        ),
        ("comma on its own", "a , b {\n}", "[a b] {}"),
        (
            "keys continued after trailing comma",
            "cluster.local:53,\n  10.96.0.0/12,\n  in-addr.arpa {\n log\n}",
            "[cluster.local:53 10.96.0.0/12 in-addr.arpa] {log}",
        ),
        ("quoted key kept whole", "\"a, b\" {\n}", "[\"a, b\"] {}"),
        (
            "nested blocks two deep",
            ".:53 {\n a {\n  b 1 {\n   c 2\n  }\n  d\n }\n e\n}",
            "[.:53] {a {b 1 {c 2}; d}; e}",
        ),
        (
            "empty directive block",
            ".:53 {\n health {\n }\n ready\n}",
            "[.:53] {health {}; ready}",
        ),
        (
            "directive block as {}",
            ".:53 {\n health {}\n}",
            "[.:53] {health {}}",
        ),
        (
            "comments",
            "# top\n.:53 { # after brace\n  errors # trailing\n  # whole line\n  log a#b\n} # after close\n",
            "[.:53] {errors; log a#b}",
        ),
        (
            "crlf line endings",
            ".:53 {\r\n  cache 30 {\r\n    success 100\r\n  }\r\n  log\r\n}\r\n",
            "[.:53] {cache 30 {success 100}; log}",
        ),
        (
            "quoted strings with spaces and escaped quotes",
            ".:53 {\n template \"a b\" \"say \\\"hi\\\"\" \"C:\\dir\"\n}",
            "[.:53] {template \"a b\" \"say \\\"hi\\\"\" \"C:\\\\dir\"}",
        ),
        (
            "quoted string spanning lines stays one line",
            ".:53 {\n motd \"line1\nline2\" end\n next\n}",
            "[.:53] {motd \"line1\\nline2\" end; next}",
        ),
        (
            "quoted braces are words",
            ".:53 {\n x \"{\" \"}\"\n}",
            "[.:53] {x \"{\" \"}\"}",
        ),
        ("empty quoted arg", ".:53 {\n x \"\"\n}", "[.:53] {x \"\"}"),
        (
            "env substitution in keys and args",
            ".:{$PORT} {\n kubernetes {%ZONE%}\n log \"zone {$ZONE}\" {$UNSET}\n}",
            "[.:1053] {kubernetes cluster.local; log \"zone cluster.local\" }",
        ),
        (
            "env values cannot add structure",
            ".:53 {\n {$BRACE}\n x {$TWO_WORDS} {$NEWLINE}\n}",
            "[.:53] {{; x a b x\ny}",
        ),
        (
            "single block without braces",
            ".:53\nerrors\nforward . /etc/resolv.conf {\n max_concurrent 10\n}\nlog",
            "[.:53] {errors; forward . /etc/resolv.conf {max_concurrent 10}; log}",
        ),
        (
            "single block without braces, keys only",
            "example.org:53",
            "[example.org:53] {}",
        ),
        (
            "snippet after unbraced block is a directive",
            "(s) {\n log\n}\n.:53\nimport s\nerrors",
            "[.:53] {log; errors}",
        ),
        (
            "snippet of directives",
            "(common) {\n errors\n cache 30\n}\n.:53 {\n import common\n log\n}\nexample.org {\n import common\n}",
            "[.:53] {errors; cache 30; log} | [example.org] {errors; cache 30}",
        ),
        (
            "snippet of server blocks",
            "(blocks) {\n a.:53 {\n  log\n }\n b.:53 {\n }\n}\nimport blocks\n",
            "[a.:53] {log} | [b.:53] {}",
        ),
        (
            "snippet with args",
            "(fwd) {\n forward {args[0]} {args[1]} {\n  max_fails {args[2]}\n }\n}\n.:53 {\n import fwd . 8.8.8.8\n}",
            "[.:53] {forward . 8.8.8.8 {max_fails }}",
        ),
        (
            "snippet args inside words and env in args",
            "(k) {\n{args[0]}:{args[1]} {\n}\n}\nimport k zone.{$ZONE} {$PORT}",
            "[zone.cluster.local:1053] {}",
        ),
        (
            "snippet imported inside a directive block",
            "(opts) {\n pods insecure\n fallthrough\n}\n.:53 {\n kubernetes cluster.local {\n  import opts\n  ttl 30\n }\n}",
            "[.:53] {kubernetes cluster.local {pods insecure; fallthrough; ttl 30}}",
        ),
        (
            "snippet importing a snippet",
            "(inner) {\n log\n}\n(outer) {\n import inner\n errors\n}\n.:53 {\n import outer\n}",
            "[.:53] {log; errors}",
        ),
        (
            "empty snippet",
            "(e) {\n}\n(f) {}\n.:53 {\n import e\n import f\n}",
            "[.:53] {}",
        ),
        (
            "snippet used twice is not a cycle",
            "(s) {\n log\n}\n.:53 {\n import s\n import s\n}",
            "[.:53] {log; log}",
        ),
        (
            "quoted import keyword still imports",
            "(s) {\n log\n}\n.:53 {\n \"import\" s\n}",
            "[.:53] {log}",
        ),
        ("bom is ignored", "\u{feff}.:53 {\n}", "[.:53] {}"),
        (
            "tabs and odd spacing",
            "\t.:53\t{\n\t\tforward\t.\t1.1.1.1\n\t}\t\n",
            "[.:53] {forward . 1.1.1.1}",
        ),
    ];
    for (what, src, want) in cases {
        assert_eq!(parse(src).as_deref(), Ok(*want), "{what}: {src:?}");
    }
}

#[test]
fn errors() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "missing close brace",
            ".:53 {\n errors\n",
            "Corefile:3:1: expected '}' to close the block opened at Corefile:1:6, found end of file",
        ),
        (
            "directive block never closed",
            ".:53 {\n cache 30 {\n  success 10\n",
            "Corefile:4:1: expected '}' to close the block opened at Corefile:2:11, found end of file",
        ),
        (
            "close brace too few at the end",
            ".:53 {\n cache 30 {\n  success 10\n}\n",
            "Corefile:5:1: expected '}' to close the block opened at Corefile:1:6, found end of file",
        ),
        (
            "unexpected close at top",
            "}\n",
            "Corefile:1:1: unexpected '}': there is no open block to close",
        ),
        (
            "extra close brace",
            ".:53 {\n}\n}\n",
            "Corefile:3:1: unexpected '}': there is no open block to close",
        ),
        (
            "close brace in unbraced block",
            ".:53\nerrors\n}\n",
            "Corefile:3:1: unexpected '}': there is no open block to close",
        ),
        (
            "text after close brace",
            ".:53 {\n} log\n",
            "Corefile:2:3: expected end of line after '}', found 'log'",
        ),
        (
            "close brace in the middle of a line",
            ".:53 {\n errors }\n}",
            "Corefile:2:9: unexpected '}' in the middle of a line",
        ),
        (
            "close brace after keys",
            ".:53 }\n",
            "Corefile:1:6: unexpected '}' in the middle of a line",
        ),
        (
            "open brace in the middle of a line",
            ".:53 {\n a { b\n}",
            "Corefile:2:4: unexpected '{' in the middle of a line",
        ),
        (
            "{} in the middle of a line",
            ".:53 {\n a {} b\n}",
            "Corefile:2:4: unexpected '{' in the middle of a line",
        ),
        (
            "open brace alone on the next line after a directive",
            ".:53 {\n health\n {\n }\n}",
            "Corefile:3:2: unexpected '{': expected a directive name",
        ),
        (
            "open brace alone on the next line after keys",
            ".:53 {\n}\nexample.org\n{\n}\n",
            "Corefile:4:1: unexpected '{' at the start of a line: expected it at the end of the server block keys",
        ),
        (
            "open brace on the next line of a single unbraced block",
            ".:53\n{\n}\n",
            "Corefile:2:1: unexpected '{': expected a directive name",
        ),
        (
            "second block without braces",
            ".:53 {\n}\nexample.org\n",
            "Corefile:3:1: expected '{' at the end of the server block keys, found end of line after 'example.org'",
        ),
        (
            "server block without keys",
            "{\n errors\n}",
            "Corefile:1:1: unexpected '{': expected server block keys before it",
        ),
        (
            "server block with only commas",
            ", , {\n}",
            "Corefile:1:5: server block has no keys: expected at least one key (such as '.:53'), found '{'",
        ),
        (
            "unterminated quote",
            ".:53 {\n log \"oops\n}\n",
            "Corefile:2:6: unterminated quoted string: expected a closing '\"', found end of file",
        ),
        (
            "empty snippet name",
            "() {\n log\n}",
            "Corefile:1:1: expected a snippet name between '(' and ')', found '()'",
        ),
        (
            "snippet without brace",
            "(s)\nlog\n",
            "Corefile:1:1: expected '{' after the snippet name, found end of line after '(s)'",
        ),
        (
            "snippet never closed",
            "(s) {\n log\n",
            "Corefile:3:1: expected '}' to close the snippet opened at Corefile:1:5, found end of file",
        ),
        (
            "snippet close brace with trailing text",
            "(s) {\n log\n} x\n",
            "Corefile:3:3: expected end of line after '}', found 'x'",
        ),
        (
            "snippet defined twice",
            "(s) {\n}\n(s) {\n}\n",
            "Corefile:3:1: expected a new snippet name, found '(s)' which is already defined at Corefile:1:1",
        ),
        (
            "unknown snippet or file",
            ".:53 {\n import nope\n}",
            "Corefile:2:9: expected a snippet name or an existing file after 'import', found 'nope' (no snippet with that name is defined and '/nonexistent-rollcall-dir/nope' does not exist)",
        ),
        (
            "snippet used before it is defined",
            ".:53 {\n import later\n}\n(later) {\n}",
            "Corefile:2:9: expected a snippet name or an existing file after 'import', found 'later'",
        ),
        (
            "import without argument",
            ".:53 {\n import\n}",
            "Corefile:2:2: expected a snippet name or file path after 'import', found end of line",
        ),
        (
            "import without argument at top level",
            "import # nothing\n",
            "Corefile:1:1: expected a snippet name or file path after 'import', found end of line",
        ),
        (
            "import with a block",
            "(s) {\n}\n.:53 {\n import s {\n }\n}",
            "Corefile:4:11: unexpected '{' in the middle of a line",
        ),
        (
            "snippet importing itself",
            "(a) {\n import a\n}\n.:53 {\n import a\n}",
            "Corefile:2:9: import cycle: expected 'a' to not import itself, found /nonexistent-rollcall-dir/Corefile -> (a) -> (a)",
        ),
        (
            "snippets importing each other",
            "(a) {\n import b\n}\n(b) {\n log\n import a\n}\n.:53 {\n import a\n}",
            "Corefile:6:9: import cycle: expected 'a' to not import itself, found /nonexistent-rollcall-dir/Corefile -> (a) -> (b) -> (a)",
        ),
        (
            "error inside a snippet points into the snippet",
            "(s) {\n {\n }\n}\n.:53 {\n import s\n}",
            "Corefile:2:2: unexpected '{': expected a directive name",
        ),
        (
            "missing keys inside a snippet of blocks",
            "(s) {\n , {\n }\n}\nimport s\n",
            "Corefile:2:4: server block has no keys",
        ),
    ];
    for (what, src, want) in cases {
        match parse(src) {
            Ok(tree) => panic!("{what}: expected error {want:?}, parsed {tree:?}"),
            Err(err) => assert!(err.contains(want), "{what}:\n  got  {err}\n  want {want}"),
        }
    }
}

#[test]
fn import_depth_is_capped() {
    // s0 imports s1 imports s2 ...: no cycle, just too deep.
    let mut src = String::new();
    for n in (0..40).rev() {
        src.push_str(&format!("(s{n}) {{\n import s{}\n}}\n", n + 1));
    }
    src.push_str("(s40) {\n log\n}\n.:53 {\n import s0\n}\n");
    let err = parse_str(&src, "Corefile", Path::new("/nonexistent"), &test_env()).unwrap_err();
    assert!(
        err.message
            .contains("expected imports nested at most 32 deep"),
        "{err}"
    );

    // Exactly at the cap is fine.
    let mut src = String::new();
    for n in (0..31).rev() {
        src.push_str(&format!("(s{n}) {{\n import s{}\n}}\n", n + 1));
    }
    src.push_str("(s31) {\n log\n}\n.:53 {\n import s0\n}\n");
    let parsed = parse_str(&src, "Corefile", Path::new("/nonexistent"), &test_env()).unwrap();
    assert_eq!(render(&parsed), "[.:53] {log}");
}

#[test]
fn spans_are_one_based_character_positions() {
    let src = "# héllo\n  ünï.:53 {\n\tlog \"a b\" c\n}\n";
    let parsed = parse_str(src, "Corefile", Path::new("."), &test_env()).unwrap();
    let block = &parsed.blocks[0];
    assert_eq!(block.span.to_string(), "Corefile:2:3");
    assert_eq!(block.keys[0].span.to_string(), "Corefile:2:3");
    let log = &block.directives[0];
    assert_eq!(log.span.to_string(), "Corefile:3:2");
    let cols: Vec<u32> = log.args.iter().map(|t| t.span.col).collect();
    assert_eq!(cols, [6, 12]);
    assert_eq!(log.name(), "log");
    assert_eq!(log.arg_strs(), ["a b", "c"]);
    assert!(log.args[0].quoted && !log.args[1].quoted);
}

#[test]
fn split_keys_keep_their_own_columns() {
    let parsed = parse_str("a,bb, c {\n}", "Corefile", Path::new("."), &test_env()).unwrap();
    let cols: Vec<(String, u32)> = parsed.blocks[0]
        .keys
        .iter()
        .map(|k| (k.text.clone(), k.span.col))
        .collect();
    assert_eq!(cols, [("a".into(), 1), ("bb".into(), 3), ("c".into(), 7)]);
}

#[test]
fn snippet_tokens_point_into_the_definition() {
    let src = "(s) {\n  log {args[0]}\n}\n.:53 {\n  import s x\n}\n";
    let parsed = parse_str(src, "Corefile", Path::new("."), &test_env()).unwrap();
    let log = &parsed.blocks[0].directives[0];
    assert_eq!(log.span.to_string(), "Corefile:2:3");
    assert_eq!(log.args[0].text, "x");
    assert_eq!(log.args[0].span.to_string(), "Corefile:2:7");
}

#[test]
fn process_environment_is_the_default() {
    // PATH is set for every test process; reading it must not need with_env.
    let src = ".:53 {\n x {$PATH}\n}";
    let parsed = parse_str(src, "Corefile", Path::new("."), &ParseOptions::default()).unwrap();
    let want = std::env::var("PATH").unwrap_or_default();
    assert_eq!(parsed.blocks[0].directives[0].arg_strs(), [want.as_str()]);
}

#[test]
fn error_display_is_span_then_message() {
    let err = parse_str("}", "Corefile", Path::new("."), &test_env()).unwrap_err();
    assert_eq!(err.span.line, 1);
    assert_eq!(err.span.col, 1);
    assert_eq!(err.to_string(), format!("{}: {}", err.span, err.message));
}
