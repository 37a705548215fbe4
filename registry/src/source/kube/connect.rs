//! [`Connection`] → a kube [`Client`], with CoreDNS's meanings:
//! - in-cluster (the default): `KUBERNETES_SERVICE_HOST`/`_PORT`, the service account's token
//!   (re-read as it rotates) and CA under `/var/run/secrets/kubernetes.io/serviceaccount/`;
//! - `kubeconfig FILE [CONTEXT]`: cluster, user and TLS from the file (its server address wins
//!   over `endpoint`);
//! - `endpoint URL` with optional `tls CERT KEY CACERT` (client certificate, key and the CA that
//!   signed the API server's certificate).
//!
//! Reading files happens in [`prepare`], synchronously, so a missing file or an unknown context
//! fails `rollcall serve` at start with a clear message. Nothing here connects: the first request
//! is the watchers' first list.

use std::path::{Path, PathBuf};

use base64::Engine;
use kube::Client;
use kube::client::ClientBuilder;
use kube::config::{KubeConfigOptions, Kubeconfig};

use super::layer::ApiLayer;

/// Where the API server is and how to authenticate to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connection {
    /// The pod's service account (CoreDNS's default).
    InCluster,
    Kubeconfig {
        path: PathBuf,
        context: Option<String>,
    },
    Endpoint {
        url: String,
        tls: Option<TlsFiles>,
    },
}

/// `tls CERT KEY CACERT`, PEM files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
}

impl std::fmt::Display for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Connection::InCluster => f.write_str("in-cluster service account"),
            Connection::Kubeconfig {
                path,
                context: Some(context),
            } => write!(f, "kubeconfig {} context {context}", path.display()),
            Connection::Kubeconfig {
                path,
                context: None,
            } => write!(f, "kubeconfig {}", path.display()),
            Connection::Endpoint { url, tls: None } => write!(f, "endpoint {url}"),
            Connection::Endpoint { url, tls: Some(t) } => write!(
                f,
                "endpoint {url} tls {} {} {}",
                t.cert.display(),
                t.key.display(),
                t.ca.display()
            ),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("in-cluster configuration: {0} (run inside a pod, or set kubeconfig or endpoint)")]
    InCluster(#[source] kube::config::InClusterError),
    #[error("kubeconfig {path}: {source}")]
    Kubeconfig {
        path: PathBuf,
        #[source]
        source: kube::config::KubeconfigError,
    },
    #[error("kubeconfig {path}: no context named {context:?}")]
    NoContext { path: PathBuf, context: String },
    #[error("endpoint {url:?}: {source}")]
    EndpointUrl {
        url: String,
        #[source]
        source: http::uri::InvalidUri,
    },
    #[error("endpoint {url:?}: expected http://HOST[:PORT] or https://HOST[:PORT]")]
    EndpointScheme { url: String },
    #[error("tls: {path}: {source}")]
    TlsFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("tls: {path}: bad base64 in a certificate: {source}")]
    TlsBase64 {
        path: PathBuf,
        #[source]
        source: base64::DecodeError,
    },
    #[error("tls: {path}: no PEM certificate in the file")]
    TlsNoCertificate { path: PathBuf },
    #[error("cannot build the Kubernetes client: {0}")]
    Client(#[source] kube::Error),
}

/// A connection with its files read: ready to become a client.
pub(crate) enum Prepared {
    Config(Box<kube::Config>),
    Kubeconfig {
        path: PathBuf,
        kubeconfig: Box<Kubeconfig>,
        options: KubeConfigOptions,
    },
}

pub(crate) fn prepare(connection: &Connection) -> Result<Prepared, ConnectError> {
    match connection {
        Connection::InCluster => kube::Config::incluster()
            .map(|c| Prepared::Config(Box::new(c)))
            .map_err(ConnectError::InCluster),
        Connection::Kubeconfig { path, context } => {
            let kubeconfig =
                Kubeconfig::read_from(path).map_err(|source| ConnectError::Kubeconfig {
                    path: path.clone(),
                    source,
                })?;
            if let Some(context) = context
                && !kubeconfig.contexts.iter().any(|c| &c.name == context)
            {
                return Err(ConnectError::NoContext {
                    path: path.clone(),
                    context: context.clone(),
                });
            }
            Ok(Prepared::Kubeconfig {
                path: path.clone(),
                kubeconfig: Box::new(kubeconfig),
                options: KubeConfigOptions {
                    context: context.clone(),
                    ..KubeConfigOptions::default()
                },
            })
        }
        Connection::Endpoint { url, tls } => {
            let uri: http::Uri = url.parse().map_err(|source| ConnectError::EndpointUrl {
                url: url.clone(),
                source,
            })?;
            if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
                return Err(ConnectError::EndpointScheme { url: url.clone() });
            }
            let mut config = kube::Config::new(uri);
            if let Some(tls) = tls {
                for path in [&tls.cert, &tls.key] {
                    readable(path)?;
                }
                config.root_cert = Some(pem_certificates(&tls.ca)?);
                config.auth_info.client_certificate = Some(tls.cert.display().to_string());
                config.auth_info.client_key = Some(tls.key.display().to_string());
            }
            Ok(Prepared::Config(Box::new(config)))
        }
    }
}

fn readable(path: &Path) -> Result<(), ConnectError> {
    std::fs::metadata(path)
        .map(|_| ())
        .map_err(|source| ConnectError::TlsFile {
            path: path.to_path_buf(),
            source,
        })
}

/// The DER certificates of a PEM file.
fn pem_certificates(path: &Path) -> Result<Vec<Vec<u8>>, ConnectError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConnectError::TlsFile {
        path: path.to_path_buf(),
        source,
    })?;
    let mut certs = Vec::new();
    let mut body: Option<String> = None;
    for line in text.lines().map(str::trim) {
        if line == "-----BEGIN CERTIFICATE-----" {
            body = Some(String::new());
        } else if line == "-----END CERTIFICATE-----" {
            let b64 = body.take().unwrap_or_default();
            let der = base64::engine::general_purpose::STANDARD
                .decode(b64.as_bytes())
                .map_err(|source| ConnectError::TlsBase64 {
                    path: path.to_path_buf(),
                    source,
                })?;
            certs.push(der);
        } else if let Some(b) = &mut body {
            b.push_str(line);
        }
    }
    if certs.is_empty() {
        return Err(ConnectError::TlsNoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(certs)
}

/// Build the client (no request is sent), with `layer` under kube's stack.
pub(crate) async fn client(prepared: Prepared, layer: &ApiLayer) -> Result<Client, ConnectError> {
    let mut config = match prepared {
        Prepared::Config(config) => *config,
        Prepared::Kubeconfig {
            path,
            kubeconfig,
            options,
        } => kube::Config::from_custom_kubeconfig(*kubeconfig, &options)
            .await
            .map_err(|source| ConnectError::Kubeconfig { path, source })?,
    };
    // Our own backoff retries every failure, quickly; kube's retry of 429/503/504 would only add
    // its own, slower, schedule in front of it.
    config.default_retry = false;
    let builder = ClientBuilder::try_from(config).map_err(ConnectError::Client)?;
    Ok(builder.with_layer(layer).build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_urls_are_checked() {
        assert!(matches!(
            prepare(&Connection::Endpoint {
                url: "https://127.0.0.1:6443".into(),
                tls: None
            }),
            Ok(Prepared::Config(_))
        ));
        for bad in ["127.0.0.1:6443", "ftp://x", "https://"] {
            assert!(
                prepare(&Connection::Endpoint {
                    url: bad.into(),
                    tls: None
                })
                .is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn missing_files_fail_at_start() {
        let err = prepare(&Connection::Kubeconfig {
            path: "/nonexistent/kubeconfig".into(),
            context: None,
        });
        assert!(matches!(err, Err(ConnectError::Kubeconfig { .. })));
        let err = prepare(&Connection::Endpoint {
            url: "https://127.0.0.1:6443".into(),
            tls: Some(TlsFiles {
                cert: "/nonexistent/c".into(),
                key: "/nonexistent/k".into(),
                ca: "/nonexistent/ca".into(),
            }),
        });
        assert!(matches!(err, Err(ConnectError::TlsFile { .. })));
    }
}
