//! [`Reply`], what a plugin answers before the dispatcher encodes it, and [`PluginError`], every
//! way serving a query can fail that is not an answer (mapped to an RCODE in one place).

use std::error::Error;
use std::sync::Arc;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::Record;

/// An answer, before it is encoded for the wire.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reply {
    pub rcode: ResponseCode,
    pub authoritative: bool,
    /// Set when a sub-lookup (e.g. a chased CNAME target) was itself truncated.
    pub truncated: bool,
    pub answers: Vec<Record>,
    pub authority: Vec<Record>,
    pub additionals: Vec<Record>,
    /// Which plugin wrote the reply (for logs and metrics).
    pub plugin: &'static str,
    /// Header bits of a relayed answer (`forward`), sent as the upstream set them.
    pub relayed: Option<RelayedFlags>,
    /// Answered from in-memory data that can change at any moment (the cluster store, the
    /// Eureka registry, a hosts table, a template): `cache` never stores such a reply, since it
    /// is cheaper to recompute than to cache and must never be served stale. Set with
    /// [`Reply::from_memory`].
    pub live: bool,
    /// In-memory data that passed this name on (fallthrough) and may answer it after its next
    /// change: `cache` serves a stored copy only while none of them has changed. Empty for a
    /// name no such plugin looked at (no cost to check).
    pub watches: Vec<Watch>,
}

/// Something that moves whenever the data a plugin answers from changes (e.g. the cluster
/// store's SOA serial). Read once per cache hit on a watched entry: one atomic load.
pub trait ChangeCount: Send + Sync + 'static {
    fn count(&self) -> u64;
}

/// A [`ChangeCount`] and the value it had when the name was passed on.
#[derive(Clone)]
pub struct Watch {
    source: Arc<dyn ChangeCount>,
    seen: u64,
}

impl Watch {
    /// Reads the count now: take it before asking the rest of the chain, so a change made
    /// while the question is on its way is seen as a change.
    pub fn new(source: Arc<dyn ChangeCount>) -> Self {
        let seen = source.count();
        Watch { source, seen }
    }

    /// A watch whose count was read earlier (before the plugin looked the name up, so a change
    /// landing between that look-up and now still counts as a change).
    pub fn at(source: Arc<dyn ChangeCount>, seen: u64) -> Self {
        Watch { source, seen }
    }

    /// Whether the data moved since the name was passed on.
    pub fn changed(&self) -> bool {
        self.source.count() != self.seen
    }
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch").field("seen", &self.seen).finish()
    }
}

/// The same source (by identity) seen at the same count.
impl PartialEq for Watch {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::addr_eq(Arc::as_ptr(&self.source), Arc::as_ptr(&other.source))
            && self.seen == other.seen
    }
}

/// Header bits an upstream decides, kept on a relayed answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelayedFlags {
    pub recursion_available: bool,
    pub authentic_data: bool,
}

impl Reply {
    pub fn new(rcode: ResponseCode, plugin: &'static str) -> Self {
        Reply {
            rcode,
            plugin,
            ..Reply::default()
        }
    }

    /// Marks a reply built from in-memory data that can change: never cached (see
    /// [`Reply::live`]).
    #[must_use]
    pub fn from_memory(mut self) -> Self {
        self.live = true;
        self
    }

    /// Records that a plugin answering from memory passed this name on (see [`Reply::watches`]).
    #[must_use]
    pub fn watched(mut self, watch: Watch) -> Self {
        self.watches.push(watch);
        self
    }
}

/// A failure that is not an answer. The dispatcher maps each to an RCODE ([`PluginError::rcode`]),
/// the only place that happens. The cause is the plugin's own typed error, kept as the `source`.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PluginError {
    /// Nothing in the chain claims the name: it is outside every zone rollcall answers (and no
    /// `forward` takes it).
    #[error("no next plugin: the chain ended without an answer")]
    NoNextPlugin,
    /// An upstream (or the way to it) failed: SERVFAIL.
    #[error("upstream: {plugin}: {source}")]
    Upstream {
        plugin: &'static str,
        #[source]
        source: Cause,
    },
    /// The plugin could not build an answer it should have: SERVFAIL.
    #[error("internal: {plugin}: {source}")]
    Internal {
        plugin: &'static str,
        #[source]
        source: Cause,
    },
    /// A plugin's own limit was hit (e.g. `forward`'s `max_concurrent`): the client is refused.
    #[error("overloaded: {plugin}: {source}")]
    Overloaded {
        plugin: &'static str,
        #[source]
        source: Cause,
    },
    /// The query gets no reply at all (`acl`'s `drop`).
    #[error("dropped: {0}")]
    Dropped(&'static str),
}

/// The typed cause of a [`PluginError`], shared so a cached failure can be cloned.
pub type Cause = Arc<dyn Error + Send + Sync>;

impl PluginError {
    pub fn upstream(plugin: &'static str, cause: impl Error + Send + Sync + 'static) -> Self {
        PluginError::Upstream {
            plugin,
            source: Arc::new(cause),
        }
    }

    pub fn internal(plugin: &'static str, cause: impl Error + Send + Sync + 'static) -> Self {
        PluginError::Internal {
            plugin,
            source: Arc::new(cause),
        }
    }

    pub fn overloaded(plugin: &'static str, cause: impl Error + Send + Sync + 'static) -> Self {
        PluginError::Overloaded {
            plugin,
            source: Arc::new(cause),
        }
    }

    /// The one place a plugin failure becomes an RCODE.
    pub fn rcode(&self) -> ResponseCode {
        match self {
            // `Dropped` is never answered (the dispatcher sends nothing); REFUSED if it ever were.
            PluginError::NoNextPlugin
            | PluginError::Overloaded { .. }
            | PluginError::Dropped(_) => ResponseCode::Refused,
            PluginError::Upstream { .. } | PluginError::Internal { .. } => ResponseCode::ServFail,
        }
    }
}

/// Equal when of the same kind, from the same plugin, with the same message (causes are compared
/// by what they say: a test's expected failure is built anew).
impl PartialEq for PluginError {
    fn eq(&self, other: &Self) -> bool {
        use PluginError::*;
        match (self, other) {
            (NoNextPlugin, NoNextPlugin) => true,
            (Dropped(a), Dropped(b)) => a == b,
            (
                Upstream { plugin, source }
                | Internal { plugin, source }
                | Overloaded { plugin, source },
                Upstream {
                    plugin: p,
                    source: s,
                }
                | Internal {
                    plugin: p,
                    source: s,
                }
                | Overloaded {
                    plugin: p,
                    source: s,
                },
            ) => {
                std::mem::discriminant(self) == std::mem::discriminant(other)
                    && plugin == p
                    && source.to_string() == s.to_string()
            }
            _ => false,
        }
    }
}
