//! THE chain table, and one module per Corefile directive: this is the only file that names every
//! plugin. Each module opens with its directive's syntax (the one place it is written); what a
//! plugin is and may use is the contract, [`crate::contract`].
//!
//! A new plugin is a module here (its `//!` doc has the syntax and a checked example; `pub fn
//! setup` parses the stanza with [`Args`](crate::contract::Args) and returns an
//! [`Outcome`](crate::contract::Outcome)), its `pub mod` line and its row in [`CHAIN`]. State it
//! shares with another plugin of its block goes through the block's
//! [`Extensions`](crate::contract::Extensions) under a type the consumer owns.
//!
//! Plugins run in [`CHAIN`]'s order whatever order a Corefile lists them in, as CoreDNS's
//! `plugin.cfg` fixes it. Every directive CoreDNS knows is listed so a Corefile written for
//! CoreDNS gets a precise "not implemented by rollcall yet" instead of "unknown directive";
//! rollcall's own `eureka` sits just before `kubernetes`.
//!
//! One deliberate difference: `autopath` runs before `cache` (CoreDNS moved cache ahead of it).
//! An autopath answer depends on who asks, and a cache in front of autopath hands one client's
//! walked answer, or NXDOMAIN that stops the walk, to another (complaint §d 3). Behind
//! autopath, the cache only sees the client-independent names the walk asks.

pub mod acl;
pub mod any;
pub mod autopath;
pub mod bind;
pub mod bufsize;
pub mod cache;
pub mod chaos;
pub mod dns64;
pub mod errors;
pub mod eureka;
pub mod forward;
pub mod health;
pub mod hosts;
pub mod k8s_external;
pub mod kubernetes;
pub mod loadbalance;
pub mod local;
pub mod log;
pub mod loop_detect;
pub mod minimal;
pub mod nsid;
pub mod prometheus;
pub mod ready;
pub mod reload;
pub mod rewrite;
pub mod template;
#[cfg(test)]
pub(crate) mod testing;
pub mod whoami;

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
    spec("reload", Implemented(reload::setup)),
    spec("nsid", Implemented(nsid::setup)),
    spec("bufsize", Implemented(bufsize::setup)),
    spec("bind", Implemented(bind::setup)),
    spec("debug", NotYet),
    spec("trace", NotYet),
    spec("ready", Implemented(ready::setup)),
    spec("health", Implemented(health::setup)),
    spec("pprof", NotYet),
    spec("prometheus", Implemented(prometheus::setup)),
    spec("errors", Implemented(errors::setup)),
    spec("log", Implemented(log::setup)),
    spec("dnstap", NotYet),
    spec("local", Implemented(local::setup)),
    spec("dns64", Implemented(dns64::setup)),
    spec("acl", Repeatable(acl::setup)),
    spec("any", Implemented(any::setup)),
    spec("chaos", Implemented(chaos::setup)),
    spec("loadbalance", Implemented(loadbalance::setup)),
    spec("tsig", NotYet),
    spec("autopath", Implemented(autopath::setup)),
    spec("cache", Implemented(cache::setup)),
    spec("rewrite", Repeatable(rewrite::setup::setup)),
    spec("header", NotYet),
    spec("dnssec", NotYet),
    spec("minimal", Implemented(minimal::setup)),
    spec("template", Repeatable(template::setup::setup)),
    spec("transfer", NotYet),
    spec("hosts", Implemented(hosts::setup)),
    spec("route53", NotYet),
    spec("azure", NotYet),
    spec("clouddns", NotYet),
    spec("k8s_external", Implemented(k8s_external::setup)),
    // eureka runs before kubernetes: its zone usually sits inside the cluster zone
    // (registry.cluster.local), and the more specific zone must get the first look.
    spec("eureka", Implemented(eureka::setup::setup)),
    spec("kubernetes", Implemented(kubernetes::setup::setup)),
    spec("file", NotYet),
    spec("auto", NotYet),
    spec("secondary", NotYet),
    spec("etcd", NotYet),
    spec("loop", Implemented(loop_detect::setup)),
    spec("forward", Implemented(forward::setup::setup)),
    spec("grpc", NotYet),
    spec("erratic", NotYet),
    spec("whoami", Implemented(whoami::setup)),
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
