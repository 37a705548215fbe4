//! The `rollcall` binary: CLI, logging, signals. The only place `anyhow` appears.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use tokio_util::sync::CancellationToken;

use rollcall::embedded;
use rollcall::server::reload::{self, CorefileWatch};

mod memory;

/// rollcall: in-cluster DNS server and service-discovery registry, configured by a CoreDNS Corefile.
///
/// With no arguments, rollcall serves its embedded example cluster on 127.0.0.1:1053:
///
///     dig @127.0.0.1 -p 1053 web-service.apps.svc.cluster.local
///
/// Point it at your own Corefile with `rollcall serve --corefile ./Corefile`; serve your own
/// manifests with a `kubernetes` block containing `manifests DIR` (see README.md).
#[derive(Parser)]
#[command(name = "rollcall", version, about, long_about, verbatim_doc_comment)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    /// Log format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Subcommand)]
enum Command {
    /// Serve DNS as a Corefile says (default: the embedded example cluster on 127.0.0.1:1053).
    Serve(ServeArgs),
    /// Validate a Corefile and print the plan: server blocks, listeners, zones, and each block's
    /// plugin chain in execution order. Exits non-zero with file:line:column errors otherwise.
    Check {
        /// The Corefile to check.
        corefile: PathBuf,
        /// Port for server block keys that give none (CoreDNS's -dns.port).
        #[arg(long, default_value_t = 53)]
        port: u16,
    },
}

#[derive(clap::Args, Default)]
struct ServeArgs {
    /// The Corefile to serve. Without it, the embedded example cluster and Corefile are used.
    #[arg(long, short = 'c')]
    corefile: Option<PathBuf>,
    /// Port for server block keys that give none (CoreDNS's -dns.port).
    #[arg(long, default_value_t = 53)]
    port: u16,
    /// Worker threads and UDP receive sockets per listener (default: one per CPU).
    #[arg(long)]
    threads: Option<usize>,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn main() -> ExitCode {
    memory::tune_allocator();
    let cli = Cli::parse();
    init_tracing(cli.log_format);
    let result = match cli.command {
        Some(Command::Check { corefile, port }) => check(&corefile, port),
        Some(Command::Serve(args)) => serve(args),
        None => serve(ServeArgs {
            port: 53,
            ..ServeArgs::default()
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("rollcall: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,hickory_proto=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn check(path: &std::path::Path, port: u16) -> anyhow::Result<()> {
    let setup = rollcall::load_corefile(path, port)?;
    print!("{setup}");
    println!("{}: OK", path.display());
    Ok(())
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
        .max(1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(run(args, threads))
}

async fn run(args: ServeArgs, threads: usize) -> anyhow::Result<()> {
    let mut example_dir = None;
    // Hashed before it is loaded: an edit in between shows up as a change at the first check.
    let mut watch = match &args.corefile {
        Some(path) => Some(
            CorefileWatch::new(path, args.port)
                .with_context(|| format!("reading {}", path.display()))?,
        ),
        None => None,
    };
    let setup = match &args.corefile {
        Some(path) => rollcall::load_corefile(path, args.port)?,
        None => {
            let dir = embedded::write_cluster(&std::env::temp_dir())
                .context("writing the example cluster")?;
            tracing::info!(dir = %dir.display(), "serving the embedded example cluster");
            let env_dir = dir.clone();
            let options = corefile::ParseOptions::with_env(move |name| {
                if name == embedded::CLUSTER_ENV {
                    Some(env_dir.display().to_string())
                } else {
                    std::env::var(name).ok()
                }
            });
            example_dir = Some(dir);
            rollcall::load_corefile_str(
                embedded::COREFILE,
                "<embedded Corefile>",
                &std::env::temp_dir(),
                &options,
                args.port,
            )?
        }
    };
    let shutdown = CancellationToken::new();
    // Registered before serving, so no signal is missed.
    let (mut stop, mut usr1) = (StopSignals::new(), ReloadSignal::new());
    let mut running = rollcall::server::start(setup, shutdown.clone(), threads).await?;
    loop {
        let interval = if watch.is_some() {
            running.reload
        } else {
            None
        };
        tokio::select! {
            () = stop.recv() => break,
            () = usr1.recv() => {
                match watch.as_mut() {
                    Some(watch) => {
                        watch.check(&mut running, true).await;
                    }
                    None => tracing::warn!("SIGUSR1: no Corefile file to reload (serving the embedded one)"),
                }
            }
            () = reload::tick(interval) => {
                if let Some(watch) = watch.as_mut() {
                    watch.check(&mut running, false).await;
                }
            }
        }
    }
    if !running.lameduck.is_zero() {
        // Keep answering while /ready reports 503, so endpoints drop this pod before it stops.
        running
            .draining
            .store(true, std::sync::atomic::Ordering::Release);
        tracing::info!(lameduck = ?running.lameduck, "draining before shutdown");
        tokio::time::sleep(running.lameduck).await;
    }
    tracing::info!("shutting down");
    shutdown.cancel();
    if tokio::time::timeout(Duration::from_secs(5), running.wait())
        .await
        .is_err()
    {
        tracing::warn!("tasks did not stop within 5 s");
    }
    if let Some(dir) = example_dir {
        let _ = std::fs::remove_dir_all(dir);
    }
    Ok(())
}

/// SIGTERM or SIGINT: shut down.
struct StopSignals {
    #[cfg(unix)]
    unix: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl StopSignals {
    fn new() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let unix = match (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
            ) {
                (Ok(term), Ok(int)) => Some((term, int)),
                _ => None,
            };
            StopSignals { unix }
        }
        #[cfg(not(unix))]
        StopSignals {}
    }

    async fn recv(&mut self) {
        #[cfg(unix)]
        if let Some((term, int)) = self.unix.as_mut() {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// SIGUSR1: reload the Corefile now (as CoreDNS).
struct ReloadSignal {
    #[cfg(unix)]
    unix: Option<tokio::signal::unix::Signal>,
}

impl ReloadSignal {
    fn new() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            ReloadSignal {
                unix: signal(SignalKind::user_defined1()).ok(),
            }
        }
        #[cfg(not(unix))]
        ReloadSignal {}
    }

    async fn recv(&mut self) {
        #[cfg(unix)]
        if let Some(usr1) = self.unix.as_mut() {
            usr1.recv().await;
            return;
        }
        std::future::pending::<()>().await;
    }
}
