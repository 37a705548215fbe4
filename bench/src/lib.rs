//! rollcall's benchmarks.
//!
//! - [`synth`]: a deterministic synthetic Kubernetes cluster (manifests, Corefile and dnsperf
//!   query files), used by the `gen-cluster` binary and by `benches/lookup.rs`.
//!
//! See `bench/README.md` for how to run `run-dnsperf.sh` and `cargo bench -p rollcall-bench`.

pub mod synth;
