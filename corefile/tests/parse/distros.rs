//! The default Corefiles shipped by common Kubernetes distributions.

use std::path::{Path, PathBuf};

use corefile::{Corefile, Directive, parse_file};

use crate::common::{TempDir, render, test_env};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn names(directives: &[Directive]) -> Vec<&str> {
    directives.iter().map(Directive::name).collect()
}

fn parse(name: &str) -> Corefile {
    parse_file(&data(name), &test_env()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn only_block<'a>(corefile: &'a Corefile, name: &str) -> &'a corefile::ServerBlock {
    assert_eq!(corefile.blocks.len(), 1, "{name}");
    let block = &corefile.blocks[0];
    let keys: Vec<&str> = block.keys.iter().map(|k| k.text.as_str()).collect();
    assert_eq!(keys, [".:53"], "{name}");
    block
}

fn find<'a>(directives: &'a [Directive], name: &str) -> &'a Directive {
    directives.iter().find(|d| d.name() == name).unwrap()
}

#[test]
fn kubeadm() {
    let parsed = parse("kubeadm.Corefile");
    let block = only_block(&parsed, "kubeadm");
    assert_eq!(
        names(&block.directives),
        [
            "errors",
            "health",
            "ready",
            "kubernetes",
            "prometheus",
            "forward",
            "cache",
            "loop",
            "reload",
            "loadbalance"
        ]
    );
    let k8s = find(&block.directives, "kubernetes");
    assert_eq!(
        k8s.arg_strs(),
        ["cluster.local", "in-addr.arpa", "ip6.arpa"]
    );
    let props = k8s.block.as_deref().unwrap();
    assert_eq!(names(props), ["pods", "fallthrough", "ttl"]);
    assert_eq!(props[1].arg_strs(), ["in-addr.arpa", "ip6.arpa"]);
    let cache = find(&block.directives, "cache");
    assert_eq!(
        render(&Corefile {
            blocks: vec![corefile::ServerBlock {
                keys: vec![],
                directives: vec![cache.clone()],
                span: cache.span.clone(),
            }],
        }),
        "[] {cache 30 {disable success cluster.local; disable denial cluster.local}}"
    );
    assert_eq!(
        find(&block.directives, "health")
            .block
            .as_deref()
            .map(names),
        Some(vec!["lameduck"])
    );
    assert_eq!(
        find(&block.directives, "forward")
            .block
            .as_deref()
            .map(names),
        Some(vec!["max_concurrent"])
    );
}

#[test]
fn k3s() {
    let parsed = parse("k3s.Corefile");
    let block = only_block(&parsed, "k3s");
    assert_eq!(
        names(&block.directives),
        [
            "errors",
            "health",
            "ready",
            "kubernetes",
            "hosts",
            "prometheus",
            "forward",
            "cache",
            "loop",
            "reload",
            "loadbalance"
        ]
    );
    let hosts = find(&block.directives, "hosts");
    assert_eq!(hosts.arg_strs(), ["/etc/coredns/NodeHosts"]);
    assert_eq!(
        hosts.block.as_deref().map(names),
        Some(vec!["ttl", "reload", "fallthrough"])
    );
    assert_eq!(find(&block.directives, "health").block, None);
}

#[test]
fn eks() {
    let parsed = parse("eks.Corefile");
    let block = only_block(&parsed, "eks");
    assert_eq!(
        names(&block.directives),
        [
            "errors",
            "health",
            "ready",
            "kubernetes",
            "prometheus",
            "forward",
            "cache",
            "loop",
            "reload",
            "loadbalance"
        ]
    );
    assert_eq!(
        find(&block.directives, "health")
            .block
            .as_deref()
            .map(names),
        Some(vec!["lameduck"])
    );
    assert_eq!(
        find(&block.directives, "kubernetes")
            .block
            .as_deref()
            .map(names),
        Some(vec!["pods", "fallthrough"])
    );
}

#[test]
fn aks() {
    let parsed = parse("aks.Corefile");
    let block = only_block(&parsed, "aks");
    assert_eq!(
        names(&block.directives),
        [
            "errors",
            "ready",
            "health",
            "kubernetes",
            "prometheus",
            "forward",
            "cache",
            "loop",
            "reload",
            "loadbalance"
        ]
    );
}

/// AKS's custom ConfigMap is mounted as `custom/`; its drop-ins must splice
/// into the default server block and add server blocks at top level.
#[test]
fn aks_with_custom_drop_ins() {
    let dir = TempDir::new("aks");
    let original = std::fs::read_to_string(data("aks.Corefile")).unwrap();
    let root = dir.write("Corefile", &original);
    dir.write("custom/log.override", "log\n");
    dir.write(
        "custom/corp.server",
        "corp.example:53 {\n  forward . 10.0.0.10\n}\n",
    );
    let parsed = parse_file(&root, &test_env()).unwrap();
    assert_eq!(parsed.blocks.len(), 2);
    assert_eq!(
        parsed.blocks[0].directives.last().map(Directive::name),
        Some("log")
    );
    assert_eq!(
        render(&Corefile {
            blocks: parsed.blocks[1..].to_vec()
        }),
        "[corp.example:53] {forward . 10.0.0.10}"
    );
}
