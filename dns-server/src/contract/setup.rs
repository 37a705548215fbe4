//! What a directive's setup is given and returns: [`SetupContext`] (the block's zones and port,
//! the Corefile's directory, the metrics registry, the typed state shared within the block and
//! the configuration, and the hooks to run at start), [`Outcome`], and [`SetupError`] with the
//! offending token's position. The chain table (`crate::plugin::CHAIN`) pairs each directive with
//! its [`DirectiveSetup`].

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use corefile::{Directive, Span};

use super::block::Bind;
use super::chain::Plugin;
use super::extensions::Extensions;
use super::start::{ReadinessCheck, StartContext, StartError, StartHook};
use crate::metrics::Registry;

/// A setup failure with the position of the offending token.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{span}: {directive}: {message}")]
pub struct SetupError {
    pub span: Span,
    pub directive: String,
    pub message: String,
}

impl SetupError {
    pub fn new(span: &Span, directive: &str, message: impl Into<String>) -> Self {
        SetupError {
            span: span.clone(),
            directive: directive.to_string(),
            message: message.into(),
        }
    }
}

/// What a directive's setup produced.
pub enum Outcome {
    /// A link of the block's chain, and the one line `rollcall check` prints for it.
    Link(Arc<dyn Plugin>, String),
    /// The directive configures the block or the server (through [`SetupContext::block`] or
    /// [`SetupContext::server`]) and adds no link; the line `rollcall check` prints.
    Configured(String),
}

pub type SetupResult = Result<Outcome, SetupError>;

/// A directive's setup: parse the stanza, return what it made.
pub type SetupFn = fn(&mut SetupContext<'_>, &Directive) -> SetupResult;

/// The setup of a directive a server block may give more than once (`rewrite`): it receives
/// every occurrence, in Corefile order, and builds one plugin from them all, as CoreDNS does.
pub type RepeatableSetupFn = fn(&mut SetupContext<'_>, &[&Directive]) -> SetupResult;

#[derive(Clone, Copy)]
pub enum DirectiveSetup {
    Implemented(SetupFn),
    Repeatable(RepeatableSetupFn),
    /// A CoreDNS directive rollcall does not have yet.
    NotYet,
}

/// One row of the chain table.
#[derive(Clone, Copy)]
pub struct DirectiveSpec {
    pub name: &'static str,
    pub setup: DirectiveSetup,
}

/// Connects a plugin to another of its block once the block is complete (a directive early in
/// the chain can need one later in it: `autopath @kubernetes`); an error names the directive
/// that asked.
pub type BlockLink = Box<dyn FnOnce(&Extensions) -> Result<(), SetupError>>;

/// What a directive's setup may use and add to besides its plugin.
pub struct SetupContext<'a> {
    /// The block's zones, lower-case with trailing dot.
    pub block_zones: &'a [String],
    /// The block's port (from its keys, or the default).
    pub port: u16,
    /// Directory of the Corefile: relative paths in directives resolve against it.
    pub base_dir: &'a Path,
    /// The setup's metrics: plugins [`register`](Registry::register) a
    /// [`MetricsSource`](crate::metrics::MetricsSource) here.
    pub metrics: &'a Arc<Registry>,
    /// State this block's plugins share, by type: the types of [`super::block`] the server
    /// reads, and the types consumer plugins own (e.g. `forward`'s loop switch, `autopath`'s
    /// namespace provider). One map per block, so one block's state never leaks into another.
    pub block: &'a mut Extensions,
    /// State of the whole configuration, by type ([`super::block`]'s `Lameduck`,
    /// `StartupWait`, `ReloadConfig`).
    pub server: &'a mut Extensions,
    hooks: &'a mut Vec<StartHook>,
    readiness: &'a mut Vec<(String, ReadinessCheck)>,
    links: &'a mut Vec<BlockLink>,
}

/// What setup keeps for one configuration while directives run: the start hooks, readiness
/// checks and block links they register.
#[derive(Default)]
pub struct Registered {
    pub hooks: Vec<StartHook>,
    pub readiness: Vec<(String, ReadinessCheck)>,
    pub links: Vec<BlockLink>,
}

impl<'a> SetupContext<'a> {
    pub fn new(
        block_zones: &'a [String],
        port: u16,
        base_dir: &'a Path,
        metrics: &'a Arc<Registry>,
        block: &'a mut Extensions,
        server: &'a mut Extensions,
        registered: &'a mut Registered,
    ) -> Self {
        SetupContext {
            block_zones,
            port,
            base_dir,
            metrics,
            block,
            server,
            hooks: &mut registered.hooks,
            readiness: &mut registered.readiness,
            links: &mut registered.links,
        }
    }

    /// Run `hook` when serving starts (never under `check`): spawn a source, bind a listener.
    pub fn on_start(
        &mut self,
        hook: impl FnOnce(&StartContext) -> Result<(), StartError> + Send + 'static,
    ) {
        self.hooks.push(Box::new(hook));
    }

    /// A check `/ready` (and a reload's wait) reports under `name`.
    pub fn readiness(&mut self, name: impl Into<String>, check: ReadinessCheck) {
        self.readiness.push((name.into(), check));
    }

    /// Run `link` once every directive of the block is set up, with the block's state.
    pub fn after_block(
        &mut self,
        link: impl FnOnce(&Extensions) -> Result<(), SetupError> + 'static,
    ) {
        self.links.push(Box::new(link));
    }

    /// The addresses `bind` gave this block so far (empty: every address).
    pub fn bind_addrs(&self) -> &[IpAddr] {
        self.block.get::<Bind>().map_or(&[], |b| b.0.as_slice())
    }

    /// The `server` label of this block's metrics (`dns://:53`; the first `bind` address, as
    /// far as the block has set it up).
    pub fn server_label(&self) -> String {
        let ip = self
            .bind_addrs()
            .first()
            .copied()
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        crate::metrics::server_label(SocketAddr::new(ip, self.port))
    }

    pub fn resolve_path(&self, path: &str) -> PathBuf {
        let p = Path::new(path);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base_dir.join(p)
        }
    }
}
