//! `gen-cluster --services N --pods M --out DIR [--seed S] [--port P]`: write a synthetic
//! Kubernetes cluster as manifests (DIR/cluster/), a Corefile serving it (DIR/Corefile) and
//! dnsperf query files per category (DIR/queries/). Deterministic for a given set of options.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use rollcall_bench::synth::{self, Options};

#[derive(Parser)]
#[command(
    name = "gen-cluster",
    about = "Generate a synthetic cluster, Corefile and dnsperf query files for rollcall benchmarks"
)]
struct Args {
    /// Services (about 70% ClusterIP, 20% headless, 10% ExternalName; kube-dns included).
    #[arg(long, default_value_t = 5000)]
    services: usize,
    /// Pods (raised if the Services' endpoints need more).
    #[arg(long, default_value_t = 50_000)]
    pods: usize,
    /// Output directory (its cluster/ and queries/ are replaced).
    #[arg(long)]
    out: PathBuf,
    /// PRNG seed: the same seed and options give the same files.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Port of the Corefile's server block.
    #[arg(long, default_value_t = 1053)]
    port: u16,
    /// Namespaces (kube-system and default included).
    #[arg(long, default_value_t = 50)]
    namespaces: usize,
    /// Minimum lines per category file (distinct names repeat only when the cluster has fewer).
    #[arg(long, default_value_t = 10_000)]
    min_lines: usize,
    /// Lines of mix.txt.
    #[arg(long, default_value_t = 100_000)]
    mix_lines: usize,
    /// Serve the cluster through kubeadm's default chain (errors, health, ready, prometheus,
    /// cache with cluster.local disabled, loadbalance, reload) instead of `kubernetes` alone.
    #[arg(long)]
    kubeadm: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let opts = Options {
        services: args.services.max(1),
        pods: args.pods,
        namespaces: args.namespaces.max(3),
        seed: args.seed,
        port: args.port,
        kubeadm: args.kubeadm,
        min_lines: args.min_lines,
        mix_lines: args.mix_lines,
    };
    match synth::write_all(&opts, &args.out) {
        Ok(summary) => {
            println!("{summary}");
            println!(
                "wrote {}/{{Corefile,cluster/,queries/}}",
                args.out.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("gen-cluster: {}: {e}", args.out.display());
            ExitCode::FAILURE
        }
    }
}
