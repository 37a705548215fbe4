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
    Outcome, SetupContext, SetupError, SetupResult, StartError, StartupWait, args,
};
use crate::plugin::autopath::ClientNamespace;
use crate::plugin::k8s_external::ClusterServices;

const NAME: &str = "kubernetes";

/// CoreDNS's default `startup_timeout`.
const DEFAULT_STARTUP_TIMEOUT: Duration = Duration::from_secs(5);
/// client-go's default burst, used when only `apiserver_qps` is given.
const DEFAULT_BURST: u32 = 10;

pub fn parse(ctx: &SetupContext<'_>, d: &Directive) -> Result<Config, SetupError> {
    let mut zones = args::zones(&d.args, NAME)?;
    if zones.is_empty() {
        zones = ctx.block_zones.to_vec();
    }
    let mut config = Config {
        zones,
        manifests: None,
        pods: PodsMode::Disabled,
        endpoint_pod_names: false,
        ttl: 5,
        namespaces: None,
        labels: None,
        noendpoints: false,
        fallthrough: None,
        ignore_empty_service: false,
        nameserver_ips: Vec::new(),
        api: ApiConfig {
            connection: Connection::InCluster,
            startup_timeout: DEFAULT_STARTUP_TIMEOUT,
            rate_limit: None,
        },
    };
    let mut api = ApiOptions::default();
    let mut manifests_token = None;
    for prop in d.block.iter().flatten() {
        let name = args::leaf_property(prop, NAME)?;
        match name {
            "manifests" => {
                let dir = args::exactly_one(prop, NAME)?;
                config.manifests = Some(ctx.resolve_path(&dir.text));
                manifests_token = Some(&prop.name);
            }
            "endpoint" => {
                let url = args::exactly_one(prop, NAME)?;
                check_endpoint(url)?;
                api.endpoint = Some(url.text.clone());
                api.first.get_or_insert(&prop.name);
            }
            "tls" => {
                let [cert, key, ca] = prop.args.as_slice() else {
                    return Err(args::err(
                        prop.args.get(3).unwrap_or(&prop.name),
                        NAME,
                        "tls needs three arguments: CERT KEY CACERT",
                    ));
                };
                api.tls = Some((
                    &prop.name,
                    TlsFiles {
                        cert: ctx.resolve_path(&cert.text),
                        key: ctx.resolve_path(&key.text),
                        ca: ctx.resolve_path(&ca.text),
                    },
                ));
                api.first.get_or_insert(&prop.name);
            }
            "kubeconfig" => {
                let (file, context) = match prop.args.as_slice() {
                    [file] => (file, None),
                    [file, context] => (file, Some(context.text.clone())),
                    [] => {
                        return Err(args::err(
                            &prop.name,
                            NAME,
                            "kubeconfig needs a file (and optionally a context)",
                        ));
                    }
                    [_, _, extra, ..] => {
                        return Err(args::err(
                            extra,
                            NAME,
                            format!("kubeconfig takes FILE [CONTEXT], found {:?}", extra.text),
                        ));
                    }
                };
                api.kubeconfig = Some((ctx.resolve_path(&file.text), context));
                api.first.get_or_insert(&prop.name);
            }
            "startup_timeout" => {
                let t = args::exactly_one(prop, NAME)?;
                config.api.startup_timeout = args::parse_duration(t, NAME)?;
                api.first.get_or_insert(&prop.name);
            }
            "apiserver_qps" => {
                let t = args::exactly_one(prop, NAME)?;
                match t.text.parse::<f64>() {
                    Ok(qps) if qps.is_finite() && qps > 0.0 => api.qps = Some(qps),
                    _ => {
                        return Err(args::err(
                            t,
                            NAME,
                            format!(
                                "apiserver_qps: expected a positive number, found {:?}",
                                t.text
                            ),
                        ));
                    }
                }
                api.first.get_or_insert(&prop.name);
            }
            "apiserver_burst" => {
                let t = args::exactly_one(prop, NAME)?;
                api.burst = Some((t, args::parse_u32(t, NAME, 1, 1_000_000)?));
                api.first.get_or_insert(&prop.name);
            }
            "pods" => {
                let mode = args::exactly_one(prop, NAME)?;
                config.pods = match mode.text.as_str() {
                    "disabled" => PodsMode::Disabled,
                    "insecure" => PodsMode::Insecure,
                    "verified" => PodsMode::Verified,
                    other => {
                        return Err(args::err(
                            mode,
                            NAME,
                            format!(
                                "pods: expected disabled, insecure or verified, found {other:?}"
                            ),
                        ));
                    }
                };
            }
            "endpoint_pod_names" => {
                args::no_args(prop)?;
                config.endpoint_pod_names = true;
            }
            "ttl" => config.ttl = args::parse_u32(args::exactly_one(prop, NAME)?, NAME, 0, 3600)?,
            "namespaces" => {
                if prop.args.is_empty() {
                    return Err(args::err(
                        &prop.name,
                        NAME,
                        "namespaces needs at least one namespace",
                    ));
                }
                config.namespaces = Some(
                    prop.args
                        .iter()
                        .map(|a| a.text.to_ascii_lowercase())
                        .collect::<BTreeSet<_>>(),
                );
            }
            "labels" => {
                if prop.args.is_empty() {
                    return Err(args::err(&prop.name, NAME, "labels needs a selector"));
                }
                let text = prop.arg_strs().join(" ");
                let selector = Selector::parse(&text)
                    .map_err(|e| args::err(&prop.args[0], NAME, format!("labels: {e}")))?;
                config.labels = Some(selector);
            }
            "noendpoints" => {
                args::no_args(prop)?;
                config.noendpoints = true;
            }
            "fallthrough" => config.fallthrough = Some(args::zones(&prop.args, NAME)?),
            "ignore" => {
                let what = args::exactly_one(prop, NAME)?;
                if what.text != "empty_service" {
                    return Err(args::err(
                        what,
                        NAME,
                        format!("ignore: expected empty_service, found {:?}", what.text),
                    ));
                }
                config.ignore_empty_service = true;
            }
            "namespace_labels" | "multicluster" | "zonal" | "apiserver_max_inflight" => {
                return Err(args::err(
                    &prop.name,
                    NAME,
                    format!("option {name:?} is not implemented by rollcall yet"),
                ));
            }
            "resyncperiod" | "upstream" | "transfer" => {
                return Err(args::err(
                    &prop.name,
                    NAME,
                    format!("option {name:?} was removed from CoreDNS and is not supported"),
                ));
            }
            _ => {
                return Err(args::err(
                    &prop.name,
                    NAME,
                    format!("unknown property {name:?}"),
                ));
            }
        }
    }
    if let (Some(manifests), Some(option)) = (manifests_token, api.first) {
        return Err(args::err(
            option,
            NAME,
            format!(
                "{} connects to the Kubernetes API, but this block serves files with `manifests` (at {}): use one source or the other",
                option.text, manifests.span
            ),
        ));
    }
    if let Some((token, _)) = &api.tls
        && api.endpoint.is_none()
    {
        return Err(args::err(
            token,
            NAME,
            "tls configures the connection to `endpoint URL`: add endpoint, or use kubeconfig",
        ));
    }
    if let (Some((token, _)), None) = (api.burst, api.qps) {
        return Err(args::err(
            token,
            NAME,
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

/// `endpoint URL`: http or https, with a host.
fn check_endpoint(url: &Token) -> Result<(), SetupError> {
    let text = url.text.as_str();
    let rest = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"));
    match rest {
        Some(rest) if !rest.is_empty() && !rest.starts_with('/') && !rest.starts_with(':') => {
            Ok(())
        }
        _ => Err(args::err(
            url,
            NAME,
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
        Kubernetes::new(config, store).map_err(|e| args::err(&d.name, NAME, e.to_string()))?,
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
    let mut parts = vec![format!("zones {}", c.zones.join(" "))];
    match &c.manifests {
        Some(dir) => parts.push(format!("manifests {}", dir.display())),
        None => {
            parts.push(format!("api {}", c.api.connection));
            parts.push(format!(
                "startup_timeout {}",
                go_duration(c.api.startup_timeout)
            ));
            if let Some(rate) = &c.api.rate_limit {
                parts.push(format!(
                    "apiserver_qps {} apiserver_burst {}",
                    rate.qps, rate.burst
                ));
            }
        }
    }
    parts.push(format!(
        "pods {}",
        match c.pods {
            PodsMode::Disabled => "disabled",
            PodsMode::Insecure => "insecure",
            PodsMode::Verified => "verified",
        }
    ));
    parts.push(format!("ttl {}", c.ttl));
    if c.endpoint_pod_names {
        parts.push("endpoint_pod_names".into());
    }
    if let Some(ns) = &c.namespaces {
        parts.push(format!(
            "namespaces {}",
            ns.iter().cloned().collect::<Vec<_>>().join(" ")
        ));
    }
    if let Some(l) = &c.labels {
        parts.push(format!("labels {l}"));
    }
    if c.noendpoints {
        parts.push("noendpoints".into());
    }
    match &c.fallthrough {
        Some(z) if z.is_empty() => parts.push("fallthrough (all zones)".into()),
        Some(z) => parts.push(format!("fallthrough {}", z.join(" "))),
        None => {}
    }
    if c.ignore_empty_service {
        parts.push("ignore empty_service".into());
    }
    parts.join("; ")
}
