//! THE chain table: the only file that names every plugin. Plugins run in this order whatever
//! order a Corefile lists them in, as CoreDNS's `plugin.cfg` fixes it. Every directive CoreDNS knows is listed so a Corefile written for
//! CoreDNS gets a precise "not implemented by rollcall yet" instead of "unknown directive";
//! rollcall's own `eureka` sits just before `kubernetes`.
//!
//! One deliberate difference: `autopath` runs before `cache` (CoreDNS moved cache ahead of it).
//! An autopath answer depends on who asks, and a cache in front of autopath hands one client's
//! walked answer, or NXDOMAIN that stops the walk, to another (complaint §d 3). Behind
//! autopath, the cache only sees the client-independent names the walk asks.

use crate::contract::DirectiveSetup::{self, Implemented, NotYet, Repeatable};
use crate::contract::DirectiveSpec;

const fn spec(name: &'static str, setup: DirectiveSetup) -> DirectiveSpec {
    DirectiveSpec { name, setup }
}

/// Execution order, first to last.
pub const CHAIN: &[DirectiveSpec] = &[
    spec("root", NotYet),
    spec("metadata", NotYet),
    spec("geoip", NotYet),
    spec("cancel", NotYet),
    spec("tls", NotYet),
    spec("timeouts", NotYet),
    spec("multisocket", NotYet),
    spec("reload", Implemented(super::reload::setup)),
    spec("nsid", Implemented(super::nsid::setup)),
    spec("bufsize", Implemented(super::bufsize::setup)),
    spec("bind", Implemented(super::bind::setup)),
    spec("debug", NotYet),
    spec("trace", NotYet),
    spec("ready", Implemented(super::ready::setup)),
    spec("health", Implemented(super::health::setup)),
    spec("pprof", NotYet),
    spec("prometheus", Implemented(super::prometheus::setup)),
    spec("errors", Implemented(super::errors::setup)),
    spec("log", Implemented(super::log::setup)),
    spec("dnstap", NotYet),
    spec("local", Implemented(super::local::setup)),
    spec("dns64", Implemented(super::dns64::setup)),
    spec("acl", Repeatable(super::acl::setup)),
    spec("any", Implemented(super::any::setup)),
    spec("chaos", Implemented(super::chaos::setup)),
    spec("loadbalance", Implemented(super::loadbalance::setup)),
    spec("tsig", NotYet),
    spec("autopath", Implemented(super::autopath::setup)),
    spec("cache", Implemented(super::cache::setup)),
    spec("rewrite", Repeatable(super::rewrite::setup::setup)),
    spec("header", NotYet),
    spec("dnssec", NotYet),
    spec("minimal", Implemented(super::minimal::setup)),
    spec("template", Repeatable(super::template::setup::setup)),
    spec("transfer", NotYet),
    spec("hosts", Implemented(super::hosts::setup)),
    spec("route53", NotYet),
    spec("azure", NotYet),
    spec("clouddns", NotYet),
    spec("k8s_external", Implemented(super::k8s_external::setup)),
    // eureka runs before kubernetes: its zone usually sits inside the cluster zone
    // (registry.cluster.local), and the more specific zone must get the first look.
    spec("eureka", Implemented(super::eureka::setup::setup)),
    spec("kubernetes", Implemented(super::kubernetes::setup::setup)),
    spec("file", NotYet),
    spec("auto", NotYet),
    spec("secondary", NotYet),
    spec("etcd", NotYet),
    spec("loop", Implemented(super::loop_detect::setup)),
    spec("forward", Implemented(super::forward::setup::setup)),
    spec("grpc", NotYet),
    spec("erratic", NotYet),
    spec("whoami", Implemented(super::whoami::setup)),
    spec("on", NotYet),
    spec("sign", NotYet),
    spec("view", NotYet),
];

pub fn lookup(name: &str) -> Option<DirectiveSpec> {
    CHAIN.iter().find(|s| s.name == name).copied()
}

pub fn position(name: &str) -> Option<usize> {
    CHAIN.iter().position(|s| s.name == name)
}
