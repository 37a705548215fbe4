//! # autopath
//!
//! Follows the client's search path on the server, as CoreDNS's `autopath` does. A pod with
//! `ndots:5` asks `www.example.org.<ns>.svc.cluster.local` first, then the rest of its search
//! list, then `www.example.org`: up to six round trips per name and type (complaint §d 1). When a
//! query's name sits under the first domain of the client's search path, autopath tries every
//! search domain in turn through the rest of the chain, and answers the first reply that is not
//! NXDOMAIN, with a CNAME from the name asked to the name that answered. When every domain gives
//! NXDOMAIN, the client gets the first NXDOMAIN and walks its path itself.
//!
//! With `@kubernetes` the search path is the client pod's own:
//! `<ns>.svc.<zone> svc.<zone> <zone>`, then the `search` domains of rollcall's own
//! `/etc/resolv.conf` (what a pod inherits from its node), then the bare name. The pod is found
//! by the query's source address, so the `kubernetes` plugin of the same server block needs
//! `pods verified`; without it autopath does nothing, as in CoreDNS. Unlike CoreDNS, an address
//! that more than one pod holds (hostNetwork pods, an address reused during a replacement) gets
//! no autopath: its namespace is not known for sure, and a wrong guess answers a name the client
//! never asked for. The decision depends only on (client address, name), so A and AAAA are
//! treated alike, and the walk's answer is never cached for other clients: `cache` runs after
//! autopath and only sees the client-independent names it asks.
//!
//! Counted in `coredns_autopath_success_total{server}`.
//!
//! ## Syntax
//! ```text
//! autopath [ZONE...] RESOLV-CONF
//! ```
//! - `ZONE`: the zones autopath acts in (default: the server block's zones).
//! - `RESOLV-CONF` (required, the last argument): `@kubernetes`, or a resolv.conf file whose
//!   `search` list is used for every client. The file is read at setup (relative to the
//!   Corefile's directory) and must have a `search` line.
//! - `@kubernetes` needs a `kubernetes` plugin in the same server block (setup fails without
//!   one) and only acts with its `pods verified` (a warning says so otherwise).
//!
//! ## Examples
//! CoreDNS's documented use:
//! ```corefile
//! .:53 {
//!     autopath @kubernetes
//!     kubernetes cluster.local in-addr.arpa ip6.arpa {
//!         pods verified
//!     }
//!     forward . /etc/resolv.conf
//! }
//! ```
//! One search list for every client, from a file next to the Corefile:
//! ```corefile
//! .:53 {
//!     autopath resolv.conf
//!     forward . /etc/resolv.conf
//! }
//! ```

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};

use corefile::Directive;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RData};

use crate::contract::{
    Args, Next, Outcome, Plugin, PluginError, PluginFuture, PluginResult, Query, Reply,
    SetupContext, SetupResult, Zone, in_zone,
};
use crate::dns::records;
use crate::dns::resolv_conf::search_domains;
use crate::metrics::{Exposition, MetricsSource};

const NAME: &str = "autopath";
/// Where `@kubernetes` reads the node's search domains, as CoreDNS does.
const HOST_RESOLV_CONF: &str = "/etc/resolv.conf";

/// Who asks: the namespace of the client pod behind a query's source address, and the cluster
/// zone the query is under. `@kubernetes` finds its provider (the block's `kubernetes`) in the
/// block's [`Extensions`](crate::contract::Extensions) under `Arc<dyn ClientNamespace>`, as
/// CoreDNS's autopath finds an `AutoPather`.
pub trait ClientNamespace: Send + Sync {
    fn client_namespace(&self, query: &Query) -> Option<(Arc<str>, &Zone)>;
    /// Whether the provider can tell clients apart at all (kubernetes: `pods verified`).
    fn knows_clients(&self) -> bool;
}

/// Where a client's search path comes from.
enum SearchSource {
    /// A resolv.conf's `search` list, the same for every client.
    File(Vec<String>),
    /// `@kubernetes`: the client pod's namespace, then the node's search domains.
    Kubernetes {
        plugin: OnceLock<Arc<dyn ClientNamespace>>,
        host_search: Vec<String>,
    },
}

pub struct AutoPath {
    zones: Vec<String>,
    source: SearchSource,
    successes: Arc<AtomicU64>,
}

/// The search domains to try after the first one (lower-case, trailing dot; `""` is the bare
/// name), and the name asked with the first domain cut off.
struct Walk {
    base: String,
    rest: Vec<String>,
}

impl AutoPath {
    fn walk(&self, query: &Query) -> Option<Walk> {
        match &self.source {
            SearchSource::File(search) => {
                let (first, rest) = search.split_first()?;
                let base = strip_domain(&query.lower, first)?;
                let mut rest = rest.to_vec();
                rest.push(String::new());
                Some(Walk { base, rest })
            }
            SearchSource::Kubernetes {
                plugin,
                host_search,
            } => {
                let (namespace, zone) = plugin.get()?.client_namespace(query)?;
                // `<ns>.svc.<zone>`, checked without building it: most queries a pod sends
                // are not under its own namespace's domain and cost no allocation.
                let under_zone = strip_zone(&query.lower, &zone.name)?;
                let under_svc = under_zone.strip_suffix("svc.")?;
                let base = under_svc
                    .strip_suffix('.')?
                    .strip_suffix(&*namespace)?
                    .strip_suffix('.')?;
                if base.is_empty() {
                    return None;
                }
                let domain = |prefix: &str| {
                    if zone.name == "." {
                        format!("{prefix}.")
                    } else {
                        format!("{prefix}.{}", zone.name)
                    }
                };
                let first = domain(&format!("{namespace}.svc"));
                let mut rest = vec![domain("svc"), zone.name.clone()];
                // A node's search list may repeat the cluster's domains (rollcall's own
                // resolv.conf in a ClusterFirst pod): each name is tried once.
                for host in host_search {
                    if *host != first && !rest.contains(host) {
                        rest.push(host.clone());
                    }
                }
                rest.push(String::new());
                Some(Walk {
                    base: base.to_string(),
                    rest,
                })
            }
        }
    }
}

/// `name` without the trailing `zone` (both lower-case with trailing dot), keeping the dot that
/// ends the remaining labels: `a.b.cluster.local.` − `cluster.local.` = `a.b.`.
fn strip_zone<'a>(name: &'a str, zone: &str) -> Option<&'a str> {
    if zone == "." {
        return Some(name);
    }
    let rest = name.strip_suffix(zone)?;
    (rest.is_empty() || rest.ends_with('.')).then_some(rest)
}

/// The labels of `name` in front of `domain`, without the dot between them; None unless
/// `name` is strictly below `domain`.
fn strip_domain(name: &str, domain: &str) -> Option<String> {
    let rest = strip_zone(name, domain)?.strip_suffix('.')?;
    (!rest.is_empty()).then(|| rest.to_string())
}

/// The reply for `step`, as the answer to `asked`: prefixed with the CNAME `asked` → `step`.
/// Unlike CoreDNS's `cnamer`, NODATA gets the CNAME too, so both address families tell the
/// client the same thing (the name is an alias): glibc stops searching on it instead of
/// walking the rest of its search path for AAAA after autopath answered A (complaint §d 3).
fn alias_reply(mut reply: Reply, asked: &Name, step: Name) -> Reply {
    let ttl = reply.answers.first().map_or_else(
        || {
            reply
                .authority
                .iter()
                .find_map(|r| match &r.data {
                    RData::SOA(soa) => Some(r.ttl.min(soa.minimum)),
                    _ => None,
                })
                .unwrap_or(0)
        },
        |first| first.ttl,
    );
    reply.answers.insert(0, records::cname(asked, ttl, step));
    reply
}

impl Plugin for AutoPath {
    fn name(&self) -> &'static str {
        NAME
    }

    fn serve<'a>(&'a self, query: &'a Query, next: Next<'a>) -> PluginFuture<'a> {
        if !self.zones.iter().any(|z| in_zone(&query.lower, z)) {
            return next.serve(query);
        }
        let Some(walk) = self.walk(query) else {
            return next.serve(query);
        };
        // The first step is the query itself: answered from memory, it stays a ready future.
        let first = next.serve(query);
        if let PluginFuture::Ready(Some(Ok(reply))) = &first
            && reply.rcode != ResponseCode::NXDomain
        {
            return first;
        }
        PluginFuture::boxed(async move {
            let first = first.await?;
            if first.rcode != ResponseCode::NXDomain {
                return Ok(first);
            }
            match self.try_rest(query, next, walk).await? {
                Some((step, found)) => {
                    self.successes.fetch_add(1, Relaxed);
                    Ok(alias_reply(found, &query.name, step))
                }
                None => Ok(first),
            }
        })
    }
}

impl AutoPath {
    /// The first reply of the rest of the search path that is not NXDOMAIN. A failure ends the
    /// walk, as in CoreDNS: the client then gets SERVFAIL and retries.
    async fn try_rest(
        &self,
        query: &Query,
        next: Next<'_>,
        walk: Walk,
    ) -> Result<Option<(Name, Reply)>, PluginError> {
        for domain in &walk.rest {
            let text = format!("{}.{domain}", walk.base);
            // A name over 255 octets cannot exist: that step is skipped.
            let Ok(name) = Name::from_ascii(&text) else {
                continue;
            };
            let step = query.with_name(name);
            let reply: PluginResult = Next::serve(next, &step).await;
            let reply = reply?;
            if reply.rcode != ResponseCode::NXDomain {
                return Ok(Some((step.name, reply)));
            }
        }
        Ok(None)
    }
}

struct AutoPathMetrics {
    server: String,
    successes: Arc<AtomicU64>,
}

impl MetricsSource for AutoPathMetrics {
    fn render(&self, out: &mut Exposition) {
        out.counter(
            "coredns_autopath_success_total",
            "Counter of requests that did autopath.",
            &[("server", self.server.as_str())],
            self.successes.load(Relaxed),
        );
    }
}

pub fn setup(ctx: &mut SetupContext<'_>, d: &Directive) -> SetupResult {
    let mut args = Args::new(d);
    args.no_block()?;
    let Some(resolv) = args.next_back() else {
        return Err(args.error_at_name("needs RESOLV-CONF: @kubernetes or a resolv.conf file"));
    };
    let zones = args.zones_or(ctx.block_zones)?;
    let (source, detail) = match resolv.text.strip_prefix('@') {
        Some("kubernetes") => {
            // A missing file just means no node search domains, as in CoreDNS.
            let host_search = std::fs::read_to_string(HOST_RESOLV_CONF)
                .map(|text| search_domains(&text))
                .unwrap_or_default();
            let detail = format!(
                "zones {}; the client pod's search path, then {HOST_RESOLV_CONF}'s search domains and the bare name",
                zones.join(" ")
            );
            let source = SearchSource::Kubernetes {
                plugin: OnceLock::new(),
                host_search,
            };
            (source, detail)
        }
        Some(other) => {
            return Err(args.error(
                resolv,
                format!("@{other}: only @kubernetes provides search paths"),
            ));
        }
        None => {
            let path = ctx.resolve_path(&resolv.text);
            let text = std::fs::read_to_string(&path).map_err(|e| {
                args.error(
                    resolv,
                    format!("cannot read resolv.conf {}: {e}", path.display()),
                )
            })?;
            let search = search_domains(&text);
            if search.is_empty() {
                return Err(args.error(resolv, format!("{} has no search domains", path.display())));
            }
            let detail = format!("zones {}; search {}", zones.join(" "), search.join(" "));
            (SearchSource::File(search), detail)
        }
    };
    let successes = Arc::new(AtomicU64::new(0));
    ctx.metrics.register(Arc::new(AutoPathMetrics {
        server: ctx.server_label(),
        successes: Arc::clone(&successes),
    }));
    let plugin = Arc::new(AutoPath {
        zones,
        source,
        successes,
    });
    if matches!(plugin.source, SearchSource::Kubernetes { .. }) {
        let linked = Arc::clone(&plugin);
        let no_provider = args.error(
            resolv,
            "@kubernetes: this server block has no kubernetes plugin",
        );
        ctx.after_block(move |block| {
            let SearchSource::Kubernetes { plugin, .. } = &linked.source else {
                return Ok(());
            };
            let Some(kubernetes) = block.get::<Arc<dyn ClientNamespace>>() else {
                return Err(no_provider);
            };
            if !kubernetes.knows_clients() {
                tracing::warn!(
                    "autopath @kubernetes does nothing unless the kubernetes plugin has `pods verified`"
                );
            }
            let _ = plugin.set(Arc::clone(kubernetes));
            Ok(())
        });
    }
    Ok(Outcome::Link(plugin, detail))
}

#[cfg(test)]
mod tests;
