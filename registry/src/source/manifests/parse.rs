//! One file's text → its documents → the records they hold. A file holds any number of YAML
//! documents (`---`), or one JSON object; a document is one object or a `List` (`kind: List`,
//! `ServiceList`, …) of them. Kinds DNS does not use are skipped quietly.

use std::path::Path;

use k8s_openapi::api::core::v1::{Endpoints, Namespace, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_yaml_ng::{Mapping, Value};

use crate::source::convert::{self, ConvertError};
use crate::source::filter::Filter;
use crate::store::ClusterObject;

/// `List`s nested in `List`s followed at most.
const MAX_LIST_DEPTH: usize = 4;

/// A document that could not be parsed at all; the file cannot be read past it.
#[derive(Debug, thiserror::Error)]
pub(super) enum DocumentError {
    #[error("invalid JSON: {0}")]
    Json(#[source] serde_json::Error),
    #[error("invalid YAML: {0}")]
    Yaml(#[source] serde_yaml_ng::Error),
}

/// Why one object of a document (or one item of a `List` in it) was not loaded. `what` names
/// the object as the manifest writes it (`Service apps/web`).
#[derive(Debug, thiserror::Error)]
pub(super) enum ObjectError {
    #[error("{what}: apiVersion {version} is not supported (expected {expected})")]
    UnsupportedVersion {
        what: String,
        version: String,
        expected: &'static str,
    },
    /// A YAML merge key (`<<`) that cannot be applied.
    #[error("{what}: {source}")]
    Merge {
        what: String,
        #[source]
        source: serde_yaml_ng::Error,
    },
    /// The object does not deserialize as its kind.
    #[error("{what}: {source}")]
    Decode {
        what: String,
        #[source]
        source: serde_yaml_ng::Error,
    },
    /// It deserialized, but cannot be served (an address that is not one, …).
    #[error("{what}: {source}")]
    Convert {
        what: String,
        #[source]
        source: ConvertError,
    },
    #[error("{kind} nested too deep")]
    TooDeep { kind: String },
    #[error("{kind}: items is not a list")]
    ItemsNotAList { kind: String },
    /// Item `index` of a `List`.
    #[error("items[{index}]: {error}")]
    Item {
        index: usize,
        #[source]
        error: Box<ObjectError>,
    },
}

/// A document's 1-based index in its file, and its value or why it did not parse.
pub(super) type Document = (usize, Result<Value, DocumentError>);

/// The documents of a file with their 1-based index, and the index at which the file stopped
/// parsing, if it did (that document is the last one returned, as an error).
pub(super) fn split_documents(path: &Path, text: &str) -> (Vec<Document>, Option<usize>) {
    let is_json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    if is_json {
        if text.trim().is_empty() {
            return (Vec::new(), None);
        }
        return match serde_json::from_str::<Value>(text) {
            Ok(value) => (vec![(1, Ok(value))], None),
            Err(e) => (vec![(1, Err(DocumentError::Json(e)))], Some(1)),
        };
    }
    let mut documents = Vec::new();
    for (i, document) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let index = i + 1;
        match Value::deserialize(document) {
            Ok(value) => documents.push((index, Ok(value))),
            Err(e) => {
                // The parser cannot resynchronise after a syntax error: stop here.
                documents.push((index, Err(DocumentError::Yaml(e))));
                return (documents, Some(index));
            }
        }
    }
    (documents, None)
}

/// One document's objects (those `filter` keeps) into `out`; why it (or a `List` item) failed
/// into `errors`.
pub(super) fn collect(
    value: Value,
    filter: &Filter,
    out: &mut Vec<ClusterObject>,
    errors: &mut Vec<ObjectError>,
) {
    collect_at(value, filter, "", 0, out, errors);
}

/// [`collect`] at `List` depth `depth`; `context` (`items[1]: `) is for the debug log.
fn collect_at(
    value: Value,
    filter: &Filter,
    context: &str,
    depth: usize,
    out: &mut Vec<ClusterObject>,
    errors: &mut Vec<ObjectError>,
) {
    let mut map = match value {
        Value::Mapping(map) => map,
        Value::Null => return,
        _ => {
            tracing::debug!("{context}not a mapping: skipped");
            return;
        }
    };
    let Some(kind) = map.get("kind").and_then(Value::as_str).map(str::to_owned) else {
        tracing::debug!("{context}no kind: skipped");
        return;
    };
    let is_list = kind == "List" || (kind.ends_with("List") && map.contains_key("items"));
    if !is_list {
        match object(&kind, map, filter) {
            Ok(objects) => out.extend(objects),
            Err(error) => errors.push(error),
        }
        return;
    }

    if depth >= MAX_LIST_DEPTH {
        errors.push(ObjectError::TooDeep { kind });
        return;
    }
    let items = match map.remove("items") {
        Some(Value::Sequence(items)) => items,
        None | Some(Value::Null) => return,
        Some(_) => {
            errors.push(ObjectError::ItemsNotAList { kind });
            return;
        }
    };
    // Items of a typed list (`ServiceList` from the API) may omit their kind and apiVersion.
    let item_kind = kind.strip_suffix("List").filter(|k| !k.is_empty());
    let api_version = map.get("apiVersion").cloned();
    for (i, mut item) in items.into_iter().enumerate() {
        if let (Some(item_kind), Value::Mapping(m)) = (item_kind, &mut item)
            && !m.contains_key("kind")
        {
            m.insert("kind".into(), item_kind.into());
            if let Some(v) = &api_version {
                m.entry("apiVersion".into()).or_insert(v.clone());
            }
        }
        let mut item_errors = Vec::new();
        collect_at(
            item,
            filter,
            &format!("{context}items[{i}]: "),
            depth + 1,
            out,
            &mut item_errors,
        );
        errors.extend(item_errors.into_iter().map(|error| ObjectError::Item {
            index: i,
            error: Box::new(error),
        }));
    }
}

/// One object of `kind`. Kinds DNS does not use (and kinds of the same name from other API
/// groups, like Knative's Service) are skipped: `Ok(vec![])`.
fn object(
    kind: &str,
    mut map: Mapping,
    filter: &Filter,
) -> Result<Vec<ClusterObject>, ObjectError> {
    let expected = match kind {
        "Namespace" | "Service" | "Endpoints" | "Pod" => "v1",
        "EndpointSlice" => "discovery.k8s.io/v1",
        _ => {
            tracing::debug!(kind, "not a kind DNS uses: skipped");
            return Ok(Vec::new());
        }
    };
    let what = describe(kind, &map);
    if let Some(version) = map.get("apiVersion").and_then(Value::as_str)
        && version != expected
    {
        if api_group(version) == api_group(expected) {
            return Err(ObjectError::UnsupportedVersion {
                what,
                version: version.to_owned(),
                expected,
            });
        }
        tracing::debug!(kind, api_version = version, "other API group: skipped");
        return Ok(Vec::new());
    }
    let mut value = Value::Mapping(std::mem::take(&mut map));
    if let Err(source) = value.apply_merge() {
        return Err(ObjectError::Merge { what, source });
    }

    let result = match kind {
        "Namespace" => load::<Namespace>(value, filter, |o| {
            Ok(vec![ClusterObject::Namespace(convert::namespace(o)?)])
        }),
        "Service" => load::<Service>(value, filter, |o| {
            Ok(vec![ClusterObject::Service(convert::service(o)?)])
        }),
        "EndpointSlice" => load::<EndpointSlice>(value, filter, |o| {
            Ok(vec![ClusterObject::EndpointSlice(convert::endpoint_slice(
                o,
            )?)])
        }),
        "Endpoints" => load::<Endpoints>(value, filter, |o| {
            Ok(convert::endpoints(o)?
                .into_iter()
                .map(ClusterObject::EndpointSlice)
                .collect())
        }),
        _ => load::<Pod>(value, filter, |o| {
            Ok(vec![ClusterObject::Pod(convert::pod(o)?)])
        }),
    };
    result.map_err(|failure| match failure {
        Failure::Decode(source) => ObjectError::Decode { what, source },
        Failure::Convert(source) => ObjectError::Convert { what, source },
    })
}

/// Why one object failed, before it is named: it did not deserialize, or did not convert.
enum Failure {
    Decode(serde_yaml_ng::Error),
    Convert(ConvertError),
}

impl From<ConvertError> for Failure {
    fn from(e: ConvertError) -> Self {
        Failure::Convert(e)
    }
}

/// Deserialize a known kind and convert it, unless the filter drops it.
fn load<K>(
    value: Value,
    filter: &Filter,
    convert: impl FnOnce(&K) -> Result<Vec<ClusterObject>, ConvertError>,
) -> Result<Vec<ClusterObject>, Failure>
where
    K: DeserializeOwned + k8s_openapi::Resource + k8s_openapi::Metadata<Ty = ObjectMeta>,
{
    let object: K = serde_yaml_ng::from_value(value).map_err(Failure::Decode)?;
    if !filter.keeps(&object) {
        return Ok(Vec::new());
    }
    Ok(convert(&object)?)
}

/// `Service apps/web`, `Namespace apps`, as written in the manifest.
fn describe(kind: &str, map: &Mapping) -> String {
    let meta = map.get("metadata");
    let field = |f: &str| {
        meta.and_then(|m| m.get(f))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let name = field("name").unwrap_or("<no name>");
    if kind == "Namespace" {
        format!("{kind} {name}")
    } else {
        let namespace = field("namespace").unwrap_or(convert::DEFAULT_NAMESPACE);
        format!("{kind} {namespace}/{name}")
    }
}

fn api_group(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(group, _)| group)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docs(path: &str, text: &str) -> (Vec<Document>, Option<usize>) {
        split_documents(Path::new(path), text)
    }

    #[test]
    fn yaml_documents_are_numbered_and_empty_ones_count() {
        let (d, broken) = docs("a.yaml", "a: 1\n---\n---\nb: 2\n");
        assert_eq!(broken, None);
        let indexes: Vec<usize> = d.iter().map(|(i, _)| *i).collect();
        assert_eq!(indexes, vec![1, 2, 3]);
        assert!(matches!(&d[1].1, Ok(Value::Null)));
        let (d, _) = docs("a.yaml", "");
        assert!(d.iter().all(|(_, v)| matches!(v, Ok(Value::Null))));
        let (d, _) = docs("a.yaml", "---\na: 1\n");
        assert_eq!(d.len(), 1);
    }

    #[test]
    fn yaml_syntax_error_stops_the_file() {
        let (d, broken) = docs("a.yaml", "a: 1\n---\nb: [1, 2\n---\nc: 3\n");
        assert_eq!(broken, Some(2));
        assert_eq!(d.len(), 2);
        assert!(d[0].1.is_ok());
        let reason = d[1].1.as_ref().expect_err("syntax error").to_string();
        assert!(reason.starts_with("invalid YAML: "), "{reason}");
    }

    #[test]
    fn duplicate_keys_are_a_document_error() {
        let (d, broken) = docs("a.yaml", "a: 1\na: 2\n---\nc: 3\n");
        assert_eq!(broken, Some(1));
        assert!(d[0].1.is_err());
    }

    #[test]
    fn json_is_one_document() {
        let (d, broken) = docs("a.JSON", r#"{"kind": "Service"}"#);
        assert_eq!(broken, None);
        assert_eq!(d.len(), 1);
        let (d, broken) = docs("a.json", "  \n");
        assert!(d.is_empty() && broken.is_none());
        let (d, broken) = docs("a.json", r#"{"kind": "#);
        assert_eq!(broken, Some(1));
        assert!(matches!(&d[0].1, Err(r) if r.to_string().starts_with("invalid JSON: ")));
    }
}
