//! The plugin contract: what a plugin is and everything it may use. A plugin imports this module
//! (plus the DNS helpers in [`crate::dns`] and the counters in [`crate::metrics`]), never
//! `setup/` or `server/`; setup and server name no concrete plugin. As CoreDNS's `plugin.md`
//! states it for Go:
//!
//! - A plugin either answers a query or hands it to the rest of the chain with [`Next::serve`].
//!   A plugin that owns a zone answers every query in it (NXDOMAIN included), except where its
//!   [`Fallthrough`] option says to pass NXDOMAIN on.
//! - Middleware (errors, log, ...) calls `next` and inspects or post-processes the result.
//! - Replies are owned values and store data sits behind immutable `Arc`s, so a plugin can never
//!   mutate an answer another plugin (or a cache) still holds.
//! - A plugin returns `Err` for failures that are not an answer (upstream timeout, no next
//!   plugin); the dispatcher maps every error to an RCODE in one place ([`PluginError::rcode`]).
//! - A plugin that answers from memory returns [`PluginFuture::ready`]: no allocation, no task.
//!
//! The layout:
//!
//! | file | holds |
//! |---|---|
//! | `chain.rs` | [`Plugin`], [`Next`], [`OwnedNext`], [`PluginFuture`] |
//! | `reply.rs` | [`Reply`] (with what `cache` needs: [`Reply::live`], [`Watch`]), [`PluginError`] |
//! | `query.rs` | [`Query`], the per-query view the dispatcher builds once; [`in_zone`] |
//! | `setup.rs` | [`SetupContext`], [`Outcome`], [`SetupError`], the chain table's row types |
//! | `args.rs` | [`Args`], the cursor over a directive's tokens; [`Fallthrough`], [`Describe`] |
//! | `extensions.rs` | [`Extensions`], typed per-block (and per-configuration) shared state |
//! | `block.rs` | what block options tell the server: [`Bind`], [`WireOptions`], ... |
//! | `start.rs` | [`StartContext`] for start hooks: listeners, hand-over across a reload |
//! | `http.rs` | the minimal HTTP responder of the probe and metrics endpoints |
//! | `names.rs` | zone arguments: [`normalize_zone`], [`reverse_zones`] of a CIDR |
//! | `zone.rs` | [`Zone`]: a zone's SOA and negative answers, for zone-owning plugins |
//!
//! Which plugins exist and the order they run in is the chain table, `crate::plugin`: the
//! only file that names every plugin.

pub mod args;
pub mod block;
pub mod chain;
pub mod extensions;
pub mod http;
pub mod names;
pub mod query;
pub mod reply;
pub mod setup;
pub mod start;
pub mod suggest;
pub mod zone;

pub use args::{Args, Describe, Fallthrough};
pub use block::{
    Bind, CountQueries, EDNS_PAYLOAD, Lameduck, ReloadConfig, StartupWait, WireOptions,
};
pub use chain::{Next, OwnedNext, Plugin, PluginFuture, PluginResult};
pub use extensions::Extensions;
pub use names::{normalize_zone, reverse_zones};
pub use query::{Query, Transport, fqdn_lower, in_zone};
pub use reply::{Cause, ChangeCount, PluginError, RelayedFlags, Reply, Watch};
pub use setup::{
    BlockLink, DirectiveSetup, DirectiveSpec, Outcome, Registered, RepeatableSetupFn, SetupContext,
    SetupError, SetupFn, SetupResult,
};
pub use start::{
    HandOver, PoolEntry, ReadinessCheck, SharedListener, StartContext, StartError, StartHook,
    not_ready,
};
pub use zone::Zone;
