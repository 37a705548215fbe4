//! rollcall's DNS server: the Corefile setup, the plugin chain and the sockets. It reads the
//! registry's store and never writes it.
//!
//! Layers, each importing only the ones below it:
//!
//! - [`server`]: sockets and the dispatcher (bytes → block → chain → bytes); names no plugin.
//! - [`setup`]: Corefile AST → typed server blocks and chains (all validation); names no plugin.
//! - [`plugin`]: THE chain table ([`plugin::CHAIN`], the only place naming every plugin) and one
//!   module per directive.
//! - [`contract`]: what a plugin is and may use (Plugin, Next, Reply, Query, SetupContext, the
//!   argument cursor, typed per-block extensions, StartContext).
//! - [`dns`]: record and name helpers below the contract.
//! - [`metrics`]: the metrics registry, per-query DNS counters and the exposition format.
//! - [`embedded`]: the bundled example cluster and Corefile behind `cargo run --release`.

pub mod contract;
pub mod dns;
pub mod embedded;
pub mod metrics;
pub mod plugin;
pub mod server;
pub mod setup;

use std::path::Path;

/// Parse and set up a Corefile file (what `rollcall check` and `rollcall serve` both run).
pub fn load_corefile(path: &Path, default_port: u16) -> Result<setup::Setup, LoadError> {
    let corefile = corefile::parse_file(path, &corefile::ParseOptions::new())?;
    let base = path.parent().unwrap_or(Path::new("."));
    setup::build(&corefile, base, default_port).map_err(LoadError::Setup)
}

/// Parse and set up Corefile text (`name` appears in error positions).
pub fn load_corefile_str(
    text: &str,
    name: &str,
    base_dir: &Path,
    options: &corefile::ParseOptions,
    default_port: u16,
) -> Result<setup::Setup, LoadError> {
    let corefile = corefile::parse_str(text, name, base_dir, options)?;
    setup::build(&corefile, base_dir, default_port).map_err(LoadError::Setup)
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Transparent: `{:#}` would print the message twice were the ParseError also its source.
    #[error(transparent)]
    Parse(#[from] corefile::ParseError),
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Setup(Vec<contract::SetupError>),
}
