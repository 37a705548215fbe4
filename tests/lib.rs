//! Support code for rollcall's integration tests and benchmarks (never part of the shipped
//! binary): [`apiserver`], a test Kubernetes API server that rollcall's real kube-rs client talks
//! to over TLS on 127.0.0.1, and [`upstream`], a programmable upstream DNS server for `forward`.
//! The tests themselves live in the `it` binary (`it/main.rs`).

pub mod apiserver;
pub mod upstream;
