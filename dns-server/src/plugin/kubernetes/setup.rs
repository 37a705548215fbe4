//! `kubernetes` stanza → [`Config`], the store, and the source's start hook.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;

use corefile::{Directive, Token};
use registry::source::filter::Filter;
use registry::source::manifests;
use registry::source::selector::Selector;
use registry::store::Store;

use super::{Config, Kubernetes, PodsMode};
use crate::plugin::order::SetupResult;
use crate::setup::keys::{normalize_zone, reverse_zones};
use crate::setup::{SetupContext, SetupError, args};

const NAME: &str = "kubernetes";

fn zones_from(tokens: &[Token]) -> Result<Vec<String>, SetupError> {
    let mut zones = Vec::new();
    for t in tokens {
        let parsed = if t.text.contains('/') {
            reverse_zones(&t.text)
        } else {
            normalize_zone(&t.text).map(|z| vec![z])
        };
        zones.extend(parsed.map_err(|m| args::err(t, NAME, m))?);
    }
    Ok(zones)
}

pub fn parse(ctx: &SetupContext<'_>, d: &Directive) -> Result<Config, SetupError> {
    let mut zones = zones_from(&d.args)?;
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
    };
    for prop in d.block.iter().flatten() {
        let name = prop.name();
        if prop.block.is_some() {
            return Err(args::err(
                &prop.name,
                NAME,
                format!("{name} takes no block"),
            ));
        }
        match name {
            "manifests" => {
                let dir = args::exactly_one(prop, NAME)?;
                config.manifests = Some(ctx.resolve_path(&dir.text));
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
            "fallthrough" => config.fallthrough = Some(zones_from(&prop.args)?),
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
            "endpoint"
            | "tls"
            | "kubeconfig"
            | "namespace_labels"
            | "multicluster"
            | "zonal"
            | "startup_timeout"
            | "apiserver_qps"
            | "apiserver_burst"
            | "apiserver_max_inflight" => {
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
    config.nameserver_ips = ctx
        .bind
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

pub fn setup(ctx: &mut SetupContext<'_>, d: &Directive) -> SetupResult {
    let config = parse(ctx, d)?;
    let Some(dir) = config.manifests.clone() else {
        return Err(args::err(
            &d.name,
            NAME,
            "no source: add `manifests DIR` inside the block (the Kubernetes API source is not implemented yet)",
        ));
    };
    let store = Store::new();
    let filter = Filter {
        namespaces: config.namespaces.clone(),
        labels: config.labels.clone(),
    };
    let detail = describe(&config);
    let token = store.register_source(format!("manifests {}", dir.display()));
    let source_store = store.clone();
    ctx.hooks.push(Box::new(move |start| {
        let shutdown = start.shutdown.clone();
        tokio::spawn(manifests::run(dir, filter, source_store, token, shutdown));
        Ok(())
    }));
    let ready_store = store.clone();
    ctx.readiness
        .push((NAME.to_string(), Arc::new(move || ready_store.is_synced())));
    let plugin = Kubernetes::new(config, store).map_err(|m| args::err(&d.name, NAME, m))?;
    Ok(Some((Arc::new(plugin), detail)))
}

fn describe(c: &Config) -> String {
    let mut parts = vec![format!("zones {}", c.zones.join(" "))];
    if let Some(dir) = &c.manifests {
        parts.push(format!("manifests {}", dir.display()));
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
