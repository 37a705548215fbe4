//! `kubernetes` stanza → [`Config`], the store, and the source's start hook.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use corefile::{Directive, Token};
use registry::source::filter::Filter;
use registry::source::kube::{self as kube_source, Connection, KubeOptions, RateLimit, TlsFiles};
use registry::source::manifests;
use registry::source::selector::Selector;
use registry::store::StoreWriter;

use super::{ApiConfig, Config, Kubernetes, PodsMode};
use crate::contract::{
    Args, Describe, Fallthrough, Outcome, SetupContext, SetupError, SetupResult, StartError,
    StartupWait,
};
use crate::plugin::autopath::ClientNamespace;
use crate::plugin::k8s_external::ClusterServices;

const NAME: &str = "kubernetes";
/// The properties a "did you mean" may suggest (not the refused ones).
const PROPERTIES: &[&str] = &[
    "manifests",
    "endpoint",
    "tls",
    "kubeconfig",
    "startup_timeout",
    "apiserver_qps",
    "apiserver_burst",
    "pods",
    "endpoint_pod_names",
    "ttl",
    "namespaces",
    "labels",
    "noendpoints",
    "fallthrough",
    "ignore",
];

/// CoreDNS's default `startup_timeout`.
const DEFAULT_STARTUP_TIMEOUT: Duration = Duration::from_secs(5);

impl Config {
    /// The configuration of a bare `kubernetes ZONES...` line: CoreDNS's defaults.
    pub fn new(zones: Vec<String>) -> Self {
        Config {
            zones,
            manifests: None,
            pods: PodsMode::Disabled,
            endpoint_pod_names: false,
            ttl: 5,
            namespaces: None,
            labels: None,
            noendpoints: false,
            fallthrough: Fallthrough::Never,
            ignore_empty_service: false,
            nameserver_ips: Vec::new(),
            api: ApiConfig {
                connection: Connection::InCluster,
                startup_timeout: DEFAULT_STARTUP_TIMEOUT,
                rate_limit: None,
            },
        }
    }
}
/// client-go's default burst, used when only `apiserver_qps` is given.
const DEFAULT_BURST: u32 = 10;

/// `kubernetes [ZONES...] { ... }` → [`Config`]; see the module doc for the syntax.
pub fn parse(ctx: &SetupContext<'_>, d: &Directive) -> Result<Config, SetupError> {
    let mut args = Args::new(d);
    let mut config = Config::new(args.zones_or(ctx.block_zones)?);
    let mut api = ApiOptions::default();
    let mut manifests_token = None;
    for mut prop in args.block() {
        let name = prop.leaf()?;
        if is_api_option(name) {
            api.first.get_or_insert(prop.name_token());
        }
        match name {
            "manifests" => {
                let dir = prop.one()?;
                config.manifests = Some(ctx.resolve_path(&dir.text));
                manifests_token = Some(prop.name_token());
            }
            "endpoint" => {
                let url = prop.one()?;
                check_endpoint(&prop, url)?;
                api.endpoint = Some(url.text.clone());
            }
            "tls" => {
                const SYNTAX: &str = "tls needs three arguments: CERT KEY CACERT";
                let (Some(cert), Some(key), Some(ca)) = (prop.next(), prop.next(), prop.next())
                else {
                    return Err(prop.error_at_name(SYNTAX));
                };
                if let Some(extra) = prop.peek() {
                    return Err(prop.error(extra, SYNTAX));
                }
                let files = TlsFiles {
                    cert: ctx.resolve_path(&cert.text),
                    key: ctx.resolve_path(&key.text),
                    ca: ctx.resolve_path(&ca.text),
                };
                api.tls = Some((prop.name_token(), files));
            }
            "kubeconfig" => {
                prop.at_most(2, "FILE [CONTEXT]")?;
                let Some(file) = prop.next() else {
                    return Err(
                        prop.error_at_name("kubeconfig needs a file (and optionally a context)")
                    );
                };
                let context = prop.next().map(|c| c.text.clone());
                api.kubeconfig = Some((ctx.resolve_path(&file.text), context));
            }
            "startup_timeout" => config.api.startup_timeout = prop.one_duration()?,
            "apiserver_qps" => {
                let qps = prop.one()?;
                match qps.text.parse::<f64>() {
                    Ok(n) if n.is_finite() && n > 0.0 => api.qps = Some(n),
                    _ => {
                        return Err(prop.error(
                            qps,
                            format!(
                                "apiserver_qps: expected a positive number, found {:?}",
                                qps.text
                            ),
                        ));
                    }
                }
            }
            "apiserver_burst" => {
                let burst = prop.one()?;
                api.burst = Some((burst, prop.u32_in(burst, 1, 1_000_000)?));
            }
            "pods" => {
                let mode = prop.one()?;
                config.pods = match mode.text.as_str() {
                    "disabled" => PodsMode::Disabled,
                    "insecure" => PodsMode::Insecure,
                    "verified" => PodsMode::Verified,
                    other => {
                        return Err(prop.error(
                            mode,
                            format!(
                                "pods: expected disabled, insecure or verified, found {other:?}"
                            ),
                        ));
                    }
                };
            }
            "endpoint_pod_names" => {
                prop.end()?;
                config.endpoint_pod_names = true;
            }
            "ttl" => config.ttl = prop.one_u32(0, 3600)?,
            "namespaces" => {
                if prop.is_done() {
                    return Err(prop.error_at_name("namespaces needs at least one namespace"));
                }
                let namespaces = prop.rest().iter().map(|ns| ns.text.to_ascii_lowercase());
                config.namespaces = Some(namespaces.collect::<BTreeSet<_>>());
            }
            "labels" => {
                let Some(first) = prop.peek() else {
                    return Err(prop.error_at_name("labels needs a selector"));
                };
                let text = prop
                    .rest()
                    .iter()
                    .map(|t| t.text.as_str())
                    .collect::<Vec<_>>()
                    .join(" ");
                let selector = Selector::parse(&text)
                    .map_err(|e| prop.error(first, format!("labels: {e}")))?;
                config.labels = Some(selector);
            }
            "noendpoints" => {
                prop.end()?;
                config.noendpoints = true;
            }
            "fallthrough" => config.fallthrough = Fallthrough::parse(&mut prop)?,
            "ignore" => {
                let what = prop.one()?;
                if what.text != "empty_service" {
                    return Err(prop.error(
                        what,
                        format!("ignore: expected empty_service, found {:?}", what.text),
                    ));
                }
                config.ignore_empty_service = true;
            }
            "namespace_labels" | "multicluster" | "zonal" | "apiserver_max_inflight" => {
                return Err(prop.error_at_name(format!(
                    "option {name:?} is not implemented by rollcall yet"
                )));
            }
            "resyncperiod" | "upstream" | "transfer" => {
                return Err(prop.error_at_name(format!(
                    "option {name:?} was removed from CoreDNS and is not supported"
                )));
            }
            _ => return Err(prop.unknown_property_of(PROPERTIES)),
        }
    }
    if let (Some(manifests), Some(option)) = (manifests_token, api.first) {
        return Err(args.error(
            option,
            format!(
                "{} connects to the Kubernetes API, but this block serves files with `manifests` (at {}): use one source or the other",
                option.text, manifests.span
            ),
        ));
    }
    if let Some((token, _)) = &api.tls
        && api.endpoint.is_none()
    {
        return Err(args.error(
            token,
            "tls configures the connection to `endpoint URL`: add endpoint, or use kubeconfig",
        ));
    }
    if let (Some((token, _)), None) = (api.burst, api.qps) {
        return Err(args.error(
            token,
            "apiserver_burst needs apiserver_qps (the sustained rate the burst is above)",
        ));
    }
    config.api.rate_limit = api.qps.map(|qps| RateLimit {
        qps,
        burst: api.burst.map_or(DEFAULT_BURST, |(_, b)| b),
    });
    config.api.connection = match (api.kubeconfig, api.endpoint) {
        // CoreDNS: with a kubeconfig, its server address wins over `endpoint`.
        (Some((path, context)), _) => Connection::Kubeconfig { path, context },
        (None, Some(url)) => Connection::Endpoint {
            url,
            tls: api.tls.map(|(_, files)| files),
        },
        (None, None) => Connection::InCluster,
    };
    config.nameserver_ips = ctx
        .bind_addrs()
        .iter()
        .copied()
        .filter(|ip| !ip.is_unspecified())
        .collect();
    if config.nameserver_ips.is_empty()
        && let Some(ip) = std::env::var("POD_IP")
            .ok()
            .and_then(|v| v.parse::<IpAddr>().ok())
    {
        config.nameserver_ips.push(ip);
    }
    Ok(config)
}

/// The API options as written, before they become a [`Connection`].
#[derive(Default)]
struct ApiOptions<'a> {
    /// The first API option, for the error when `manifests` is given too.
    first: Option<&'a Token>,
    endpoint: Option<String>,
    tls: Option<(&'a Token, TlsFiles)>,
    kubeconfig: Option<(PathBuf, Option<String>)>,
    qps: Option<f64>,
    burst: Option<(&'a Token, u32)>,
}

/// The options that configure the connection to the Kubernetes API (not `manifests`).
fn is_api_option(name: &str) -> bool {
    matches!(
        name,
        "endpoint" | "tls" | "kubeconfig" | "startup_timeout" | "apiserver_qps" | "apiserver_burst"
    )
}

/// `endpoint URL`: http or https, with a host.
fn check_endpoint(prop: &Args<'_>, url: &Token) -> Result<(), SetupError> {
    let text = url.text.as_str();
    let rest = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"));
    match rest {
        Some(rest) if !rest.is_empty() && !rest.starts_with('/') && !rest.starts_with(':') => {
            Ok(())
        }
        _ => Err(prop.error(
            url,
            format!("endpoint: expected https://HOST[:PORT] (or http://), found {text:?}"),
        )),
    }
}

pub fn setup(ctx: &mut SetupContext<'_>, d: &Directive) -> SetupResult {
    let config = parse(ctx, d)?;
    // The plugin and its metrics keep readers; the writer goes to the source's start hook.
    let writer = StoreWriter::new();
    let store = writer.reader();
    let filter = Filter {
        namespaces: config.namespaces.clone(),
        labels: config.labels.clone(),
    };
    let detail = describe(&config);
    let wait = ctx.server.get_or_default::<StartupWait>();
    wait.0 = wait.0.max(config.api.startup_timeout);
    let metrics = Arc::new(super::metrics::KubernetesMetrics {
        zone: config.zones.first().cloned().unwrap_or_default(),
        store: store.clone(),
        source: std::sync::OnceLock::new(),
    });
    ctx.metrics
        .register(Arc::clone(&metrics) as Arc<dyn crate::metrics::MetricsSource>);
    if let Some(dir) = config.manifests.clone() {
        let token = writer.register_source(format!("manifests {}", dir.display()));
        ctx.on_start(move |start| {
            let shutdown = start.shutdown.clone();
            tokio::spawn(manifests::run(dir, filter, writer, token, shutdown));
            Ok(())
        });
    } else {
        let options = KubeOptions {
            connection: config.api.connection.clone(),
            filter,
            endpoint_slices: !config.noendpoints,
            pods: config.pods == PodsMode::Verified,
            endpoint_pod_names: config.endpoint_pod_names,
            startup_timeout: config.api.startup_timeout,
            rate_limit: config.api.rate_limit,
            tuning: kube_source::Tuning::current(),
        };
        // Registered now, so the store is not "synced" before the watchers even start.
        let tokens = kube_source::SyncTokens::register(&writer, &options);
        ctx.on_start(move |start| {
            let source = kube_source::start(options, writer, tokens, start.shutdown.clone())
                .map_err(|e| StartError::plugin(NAME, e))?;
            let _ = metrics.source.set(source);
            Ok(())
        });
    }
    let ready_store = store.clone();
    ctx.readiness(NAME, Arc::new(move || ready_store.is_synced()));
    let services = ClusterServices(store.clone());
    let plugin = Arc::new(
        Kubernetes::new(config, store).map_err(|e| Args::new(d).error_at_name(e.to_string()))?,
    );
    // What the block's autopath and k8s_external read, under the types they own.
    ctx.block
        .insert(Arc::clone(&plugin) as Arc<dyn ClientNamespace>);
    ctx.block.insert(services);
    Ok(Outcome::Link(plugin, detail))
}

/// `5s`, `1500ms`: how a Corefile would write it.
fn go_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

fn describe(c: &Config) -> String {
    let mut parts = Describe::new();
    parts.part(format!("zones {}", c.zones.join(" ")));
    match &c.manifests {
        Some(dir) => {
            parts.part(format!("manifests {}", dir.display()));
        }
        None => {
            parts
                .part(format!("api {}", c.api.connection))
                .part(format!(
                    "startup_timeout {}",
                    go_duration(c.api.startup_timeout)
                ))
                .maybe(c.api.rate_limit.as_ref().map(|rate| {
                    format!("apiserver_qps {} apiserver_burst {}", rate.qps, rate.burst)
                }));
        }
    }
    let pods = match c.pods {
        PodsMode::Disabled => "disabled",
        PodsMode::Insecure => "insecure",
        PodsMode::Verified => "verified",
    };
    parts
        .part(format!("pods {pods}"))
        .part(format!("ttl {}", c.ttl))
        .flag(c.endpoint_pod_names, "endpoint_pod_names")
        .maybe(c.namespaces.as_ref().map(|ns| {
            let list: Vec<&str> = ns.iter().map(String::as_str).collect();
            format!("namespaces {}", list.join(" "))
        }))
        .maybe(c.labels.as_ref().map(|l| format!("labels {l}")))
        .flag(c.noendpoints, "noendpoints")
        .maybe(c.fallthrough.describe())
        .flag(c.ignore_empty_service, "ignore empty_service")
        .finish()
}
