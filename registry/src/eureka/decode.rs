//! Reading a registration body (`{"instance":{...}}` or `<instance>...</instance>`) into an
//! [`InstanceInfo`], as leniently as Netflix's and Spring's decoders and the real clients need:
//! numbers and booleans may come as strings, `port` may be a bare number, `@class` may be
//! missing, timestamps may be missing, `overriddenStatus` or `overriddenstatus`.

use serde_json::{Map, Value};

use super::model::{
    AMAZON_DATA_CENTER_CLASS, ActionType, DEFAULT_DATA_CENTER_CLASS, DataCenterInfo, InstanceInfo,
    Status,
};
use super::xml::{self, XmlError};

/// Why a registration body was refused (the message of a 400 answer: the texts follow
/// Netflix's where it has one).
#[derive(Debug, thiserror::Error)]
pub(crate) enum DecodeError {
    #[error("malformed JSON: {0}")]
    Json(#[source] serde_json::Error),
    #[error("malformed XML: body is not UTF-8 ({0})")]
    NotUtf8(#[source] std::str::Utf8Error),
    #[error(transparent)]
    Xml(#[from] XmlError),
    #[error("expected an <instance> root element, found <{0}>")]
    WrongRoot(String),
    #[error("expected a JSON object {{\"instance\":{{...}}}}")]
    NotAnInstance,
    #[error("\"instance\" must be a JSON object")]
    InstanceNotAnObject,
    /// A required field: `instanceId`, `hostname`, `ip address`, `appName`, ...
    #[error("Missing {0}")]
    Missing(&'static str),
    #[error("Mismatched appName, expecting {expected} but was {found}")]
    MismatchedApp { expected: String, found: String },
    #[error("`{field}`: {shown} is not an integer")]
    NotAnInteger {
        field: &'static str,
        shown: String,
        #[source]
        source: Option<std::num::ParseIntError>,
    },
    #[error("`{field}`: {value} is not a port number")]
    NotAPort {
        field: &'static str,
        value: i64,
        #[source]
        source: std::num::TryFromIntError,
    },
}

/// The encoding of a request body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BodyFormat {
    Json,
    Xml,
}

impl BodyFormat {
    /// From `Content-Type`, else from the first non-blank byte.
    pub(crate) fn detect(content_type: Option<&str>, body: &[u8]) -> BodyFormat {
        if let Some(ct) = content_type {
            let ct = ct.to_ascii_lowercase();
            if ct.contains("json") {
                return BodyFormat::Json;
            }
            if ct.contains("xml") {
                return BodyFormat::Xml;
            }
        }
        match body.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'<') => BodyFormat::Xml,
            _ => BodyFormat::Json,
        }
    }
}

/// Decodes and validates a registration for the application `path_app` (already upper-cased).
pub(crate) fn decode_instance(
    body: &[u8],
    format: BodyFormat,
    path_app: &str,
    now_ms: u64,
    default_lease_secs: u32,
) -> Result<InstanceInfo, DecodeError> {
    let (root, from_xml) = match format {
        BodyFormat::Json => {
            let v: Value = serde_json::from_slice(body).map_err(DecodeError::Json)?;
            (v, false)
        }
        BodyFormat::Xml => {
            let text = std::str::from_utf8(body).map_err(DecodeError::NotUtf8)?;
            let (name, v) = xml::parse(text)?;
            if name != "instance" {
                return Err(DecodeError::WrongRoot(name));
            }
            (v, true)
        }
    };
    let empty = Map::new();
    let obj: &Map<String, Value> = if from_xml {
        match &root {
            Value::Object(m) => m,
            _ => &empty,
        }
    } else {
        let Value::Object(top) = &root else {
            return Err(DecodeError::NotAnInstance);
        };
        match top.get("instance") {
            Some(Value::Object(m)) => m,
            Some(_) => return Err(DecodeError::InstanceNotAnObject),
            None if ["app", "hostName", "instanceId", "ipAddr"]
                .iter()
                .any(|k| top.contains_key(*k)) =>
            {
                top
            }
            None => return Err(DecodeError::NotAnInstance),
        }
    };
    instance_from_map(obj, from_xml, path_app, now_ms, default_lease_secs)
}

fn instance_from_map(
    m: &Map<String, Value>,
    from_xml: bool,
    path_app: &str,
    now_ms: u64,
    default_lease_secs: u32,
) -> Result<InstanceInfo, DecodeError> {
    let metadata = string_map(m.get("metadata"), from_xml);
    let dci = match m.get("dataCenterInfo") {
        Some(Value::Object(d)) => Some(d),
        _ => None,
    };
    let dc_name = dci.and_then(|d| text(d.get("name")));
    let dc_metadata = dci.and_then(|d| match d.get("metadata") {
        Some(v @ Value::Object(_)) => Some(string_map(Some(v), from_xml)),
        _ => None,
    });

    let host_name = text(m.get("hostName")).unwrap_or_default();
    // Netflix's getId(): instanceId, else (Spring) metadata.instanceId, else the Amazon
    // instance-id, else the host name.
    let instance_id = non_blank(text(m.get("instanceId")))
        .or_else(|| non_blank(lookup(&metadata, "instanceId")))
        .or_else(|| {
            if dc_name.as_deref() == Some("Amazon") {
                dc_metadata
                    .as_ref()
                    .and_then(|md| non_blank(lookup(md, "instance-id")))
            } else {
                None
            }
        })
        .or_else(|| non_blank(Some(host_name.clone())));
    let Some(instance_id) = instance_id else {
        return Err(DecodeError::Missing("instanceId"));
    };
    if host_name.trim().is_empty() {
        return Err(DecodeError::Missing("hostname"));
    }
    let ip_addr = text(m.get("ipAddr")).unwrap_or_default();
    if ip_addr.trim().is_empty() {
        return Err(DecodeError::Missing("ip address"));
    }
    let app = text(m.get("app")).unwrap_or_default();
    if app.trim().is_empty() {
        return Err(DecodeError::Missing("appName"));
    }
    let app = app.to_uppercase();
    if app != path_app {
        return Err(DecodeError::MismatchedApp {
            expected: path_app.to_string(),
            found: app,
        });
    }
    let Some(dci) = dci else {
        return Err(DecodeError::Missing("dataCenterInfo"));
    };
    let Some(dc_name) = non_blank(dc_name) else {
        return Err(DecodeError::Missing("dataCenterInfo Name"));
    };
    let dc_class = non_blank(text(dci.get("@class"))).unwrap_or_else(|| {
        if dc_name == "Amazon" {
            AMAZON_DATA_CENTER_CLASS.to_string()
        } else {
            DEFAULT_DATA_CENTER_CLASS.to_string()
        }
    });

    let status = text(m.get("status"))
        .filter(|s| !s.trim().is_empty())
        .map_or(Status::Up, |s| Status::parse_lenient(&s));
    let overridden_status = text(m.get("overriddenStatus"))
        .or_else(|| text(m.get("overriddenstatus")))
        .filter(|s| !s.trim().is_empty())
        .map_or(Status::Unknown, |s| Status::parse_lenient(&s));
    let (port, port_enabled) = parse_port(m.get("port"), "port", 7001, true)?;
    let (secure_port, secure_port_enabled) =
        parse_port(m.get("securePort"), "securePort", 7002, false)?;
    let country_id = number(m.get("countryId"), "countryId")?.unwrap_or(1);

    let lease = match m.get("leaseInfo") {
        Some(Value::Object(l)) => Some(l),
        _ => None,
    };
    let renewal_interval_secs = match lease {
        Some(l) => number(
            l.get("renewalIntervalInSecs"),
            "leaseInfo.renewalIntervalInSecs",
        )?,
        None => None,
    }
    .filter(|n| *n > 0)
    .map_or(30, clamp_u32);
    let duration_secs = match lease {
        Some(l) => number(l.get("durationInSecs"), "leaseInfo.durationInSecs")?,
        None => None,
    }
    .filter(|n| *n > 0)
    .map_or(default_lease_secs.max(1), clamp_u32);
    let last_dirty_timestamp = number(m.get("lastDirtyTimestamp"), "lastDirtyTimestamp")?
        .map_or(now_ms, |n| u64::try_from(n).unwrap_or(0));
    // Validated for a clear error, otherwise set by the server.
    number(m.get("lastUpdatedTimestamp"), "lastUpdatedTimestamp")?;

    Ok(InstanceInfo {
        instance_id,
        app,
        app_group_name: text(m.get("appGroupName")),
        ip_addr,
        sid: text(m.get("sid")),
        host_name,
        status,
        overridden_status,
        port,
        port_enabled,
        secure_port,
        secure_port_enabled,
        country_id,
        data_center_info: DataCenterInfo {
            class: dc_class,
            name: dc_name,
            metadata: dc_metadata,
        },
        renewal_interval_secs,
        duration_secs,
        metadata,
        home_page_url: text(m.get("homePageUrl")),
        status_page_url: text(m.get("statusPageUrl")),
        health_check_url: text(m.get("healthCheckUrl")),
        secure_health_check_url: text(m.get("secureHealthCheckUrl")),
        vip_address: text(m.get("vipAddress")),
        secure_vip_address: text(m.get("secureVipAddress")),
        asg_name: text(m.get("asgName")),
        last_updated_timestamp: now_ms,
        last_dirty_timestamp,
        action_type: ActionType::Added,
    })
}

fn clamp_u32(n: i64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn non_blank(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.trim().is_empty())
}

fn lookup(map: &[(String, String)], key: &str) -> Option<String> {
    map.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
}

/// A scalar as text: strings as they are, numbers and booleans printed; an object's `$`.
fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Object(o) => text(o.get("$")),
        Value::Null | Value::Array(_) => None,
    }
}

/// An integer given as a number or a numeric string; `None` when absent or empty.
fn number(v: Option<&Value>, field: &'static str) -> Result<Option<i64>, DecodeError> {
    let bad = |shown: &dyn std::fmt::Display| DecodeError::NotAnInteger {
        field,
        shown: shown.to_string(),
        source: None,
    };
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => {
            if let Some(i) = n.as_i64() {
                Ok(Some(i))
            } else if n.as_u64().is_some() {
                Ok(Some(i64::MAX))
            } else {
                match n.as_f64() {
                    Some(f) if f.fract() == 0.0 && f.abs() < 9.0e18 => Ok(Some(f as i64)),
                    _ => Err(bad(n)),
                }
            }
        }
        Some(Value::String(s)) => {
            let t = s.trim();
            if t.is_empty() {
                return Ok(None);
            }
            t.parse::<i64>()
                .map(Some)
                .map_err(|source| DecodeError::NotAnInteger {
                    field,
                    shown: format!("{s:?}"),
                    source: Some(source),
                })
        }
        Some(Value::Object(o)) if o.contains_key("$") => number(o.get("$"), field),
        Some(other) => Err(bad(other)),
    }
}

fn boolish(v: Option<&Value>) -> Option<bool> {
    match v? {
        Value::Bool(b) => Some(*b),
        Value::String(s) => Some(s.trim().eq_ignore_ascii_case("true")),
        Value::Number(n) => Some(n.as_f64().is_some_and(|f| f != 0.0)),
        _ => None,
    }
}

/// `{"$":8080,"@enabled":"true"}`, `{"$":"8080","@enabled":true}`, `8080` or `"8080"`.
fn parse_port(
    v: Option<&Value>,
    field: &'static str,
    default_port: u16,
    default_enabled: bool,
) -> Result<(u16, bool), DecodeError> {
    let to_port = |n: Option<i64>| -> Result<u16, DecodeError> {
        match n {
            None => Ok(default_port),
            Some(n) => u16::try_from(n).map_err(|source| DecodeError::NotAPort {
                field,
                value: n,
                source,
            }),
        }
    };
    match v {
        None | Some(Value::Null) => Ok((default_port, default_enabled)),
        Some(Value::Object(o)) => {
            let p = to_port(number(o.get("$"), field)?)?;
            let enabled = boolish(o.get("@enabled")).unwrap_or(default_enabled);
            Ok((p, enabled))
        }
        Some(other) => Ok((to_port(number(Some(other), field)?)?, default_enabled)),
    }
}

/// A string map (metadata): `@class` skipped, scalars as text; XML element names decoded.
fn string_map(v: Option<&Value>, from_xml: bool) -> Vec<(String, String)> {
    let Some(Value::Object(o)) = v else {
        return Vec::new();
    };
    let mut out: Vec<(String, String)> = Vec::with_capacity(o.len());
    for (k, v) in o {
        if k.starts_with('@') {
            continue;
        }
        let value = match v {
            Value::Null => continue,
            Value::String(s) => s.clone(),
            Value::Object(inner) if from_xml && inner.contains_key("$") => {
                text(inner.get("$")).unwrap_or_default()
            }
            other => other.to_string(),
        };
        let key = if from_xml {
            xml::decode_element_name(k)
        } else {
            k.clone()
        };
        if let Some(entry) = out.iter_mut().find(|(ek, _)| *ek == key) {
            entry.1 = value;
        } else {
            out.push((key, value));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000_000;

    fn json(body: &str) -> Result<InstanceInfo, String> {
        decode_instance(body.as_bytes(), BodyFormat::Json, "ORDERS", NOW, 90)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn full_json() {
        let i = json(
            r#"{"instance":{"instanceId":"10.0.0.5:orders:8080","hostName":"h","app":"orders",
            "ipAddr":"10.0.0.5","status":"STARTING","overriddenstatus":"OUT_OF_SERVICE",
            "port":{"$":"8080","@enabled":true},"securePort":{"$":443,"@enabled":"false"},
            "countryId":"2","dataCenterInfo":{"@class":"com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo","name":"MyOwn"},
            "leaseInfo":{"renewalIntervalInSecs":"10","durationInSecs":20},
            "metadata":{"management.port":"8080","n":5},
            "vipAddress":"orders","lastDirtyTimestamp":"123","lastUpdatedTimestamp":"5",
            "isCoordinatingDiscoveryServer":"false"}}"#,
        )
        .unwrap();
        assert_eq!(i.instance_id, "10.0.0.5:orders:8080");
        assert_eq!(i.app, "ORDERS");
        assert_eq!(i.status, Status::Starting);
        assert_eq!(i.overridden_status, Status::OutOfService);
        assert_eq!((i.port, i.port_enabled), (8080, true));
        assert_eq!((i.secure_port, i.secure_port_enabled), (443, false));
        assert_eq!(i.country_id, 2);
        assert_eq!((i.renewal_interval_secs, i.duration_secs), (10, 20));
        assert_eq!(
            i.metadata,
            vec![
                ("management.port".to_string(), "8080".to_string()),
                ("n".to_string(), "5".to_string())
            ]
        );
        assert_eq!(i.last_dirty_timestamp, 123);
        assert_eq!(i.last_updated_timestamp, NOW);
        assert_eq!(i.vip_address.as_deref(), Some("orders"));
    }

    #[test]
    fn minimal_json_gets_defaults() {
        let i = json(
            r#"{"instance":{"hostName":"h1","app":"ORDERS","ipAddr":"1.2.3.4","port":8080,
            "dataCenterInfo":{"name":"MyOwn"}}}"#,
        )
        .unwrap();
        assert_eq!(i.instance_id, "h1");
        assert_eq!(i.status, Status::Up);
        assert_eq!(i.overridden_status, Status::Unknown);
        assert_eq!((i.port, i.port_enabled), (8080, true));
        assert_eq!((i.secure_port, i.secure_port_enabled), (7002, false));
        assert_eq!(i.country_id, 1);
        assert_eq!(i.duration_secs, 90);
        assert_eq!(i.renewal_interval_secs, 30);
        assert_eq!(i.data_center_info.class, DEFAULT_DATA_CENTER_CLASS);
        assert_eq!(i.last_dirty_timestamp, NOW);
        // `overriddenStatus` (camel case) is read too.
        let i = json(
            r#"{"instance":{"hostName":"h1","app":"ORDERS","ipAddr":"1.2.3.4",
            "overriddenStatus":"DOWN","dataCenterInfo":{"name":"Amazon"}}}"#,
        )
        .unwrap();
        assert_eq!(i.overridden_status, Status::Down);
        assert_eq!(i.data_center_info.class, AMAZON_DATA_CENTER_CLASS);
        assert_eq!((i.port, i.port_enabled), (7001, true));
    }

    #[test]
    fn instance_id_from_metadata() {
        let i = json(
            r#"{"instance":{"hostName":"h1","app":"ORDERS","ipAddr":"1.2.3.4",
            "metadata":{"instanceId":"meta-id"},"dataCenterInfo":{"name":"MyOwn"}}}"#,
        )
        .unwrap();
        assert_eq!(i.instance_id, "meta-id");
    }

    #[test]
    fn xml_body() {
        let i = decode_instance(
            br#"<instance><instanceId>i1</instanceId><hostName>h</hostName><app>ORDERS</app>
            <ipAddr>10.0.0.1</ipAddr><status>UP</status><overriddenstatus>UNKNOWN</overriddenstatus>
            <port enabled="true">8080</port><securePort enabled="true">8443</securePort>
            <dataCenterInfo class="com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo"><name>MyOwn</name></dataCenterInfo>
            <leaseInfo><durationInSecs>30</durationInSecs></leaseInfo>
            <metadata><a__b>1</a__b><zone>z</zone></metadata></instance>"#,
            BodyFormat::Xml,
            "ORDERS",
            NOW,
            90,
        )
        .unwrap();
        assert_eq!(i.instance_id, "i1");
        assert_eq!((i.secure_port, i.secure_port_enabled), (8443, true));
        assert_eq!(i.duration_secs, 30);
        assert_eq!(
            i.metadata,
            vec![
                ("a_b".to_string(), "1".to_string()),
                ("zone".to_string(), "z".to_string())
            ]
        );
    }

    #[test]
    fn errors_name_the_problem() {
        let cases = [
            ("{", "malformed JSON"),
            ("[]", "JSON object"),
            (
                r#"{"instance":{"app":"ORDERS","ipAddr":"1"}}"#,
                "Missing instanceId",
            ),
            (
                r#"{"instance":{"app":"ORDERS","instanceId":"i","ipAddr":"1"}}"#,
                "Missing hostname",
            ),
            (
                r#"{"instance":{"app":"ORDERS","hostName":"h"}}"#,
                "Missing ip address",
            ),
            (
                r#"{"instance":{"hostName":"h","ipAddr":"1"}}"#,
                "Missing appName",
            ),
            (
                r#"{"instance":{"app":"OTHER","hostName":"h","ipAddr":"1"}}"#,
                "Mismatched appName",
            ),
            (
                r#"{"instance":{"app":"ORDERS","hostName":"h","ipAddr":"1"}}"#,
                "Missing dataCenterInfo",
            ),
            (
                r#"{"instance":{"app":"ORDERS","hostName":"h","ipAddr":"1","dataCenterInfo":{}}}"#,
                "Missing dataCenterInfo Name",
            ),
            (
                r#"{"instance":{"app":"ORDERS","hostName":"h","ipAddr":"1","dataCenterInfo":{"name":"x"},"port":"http"}}"#,
                "`port`",
            ),
            (
                r#"{"instance":{"app":"ORDERS","hostName":"h","ipAddr":"1","dataCenterInfo":{"name":"x"},"port":70000}}"#,
                "not a port",
            ),
        ];
        for (body, want) in cases {
            let err = json(body).unwrap_err();
            assert!(err.contains(want), "{body}: {err}");
        }
        let err = decode_instance(b"<app/>", BodyFormat::Xml, "ORDERS", NOW, 90)
            .unwrap_err()
            .to_string();
        assert!(err.contains("<instance>"), "{err}");
    }

    #[test]
    fn detect_format() {
        assert_eq!(
            BodyFormat::detect(Some("application/json"), b"<"),
            BodyFormat::Json
        );
        assert_eq!(BodyFormat::detect(Some("text/XML"), b"{"), BodyFormat::Xml);
        assert_eq!(BodyFormat::detect(None, b"  <instance/>"), BodyFormat::Xml);
        assert_eq!(
            BodyFormat::detect(Some("text/plain"), b"{}"),
            BodyFormat::Json
        );
    }

    /// Seeded byte mutations of a JSON and an XML registration: decoding answers Ok or a
    /// message for the 400, never panics.
    #[test]
    fn mutated_bodies_never_panic() {
        let json_body = r#"{"instance":{"instanceId":"i-1","hostName":"h","app":"ORDERS","ipAddr":"10.0.0.5","status":"UP","overriddenStatus":"UNKNOWN","port":{"$":8080,"@enabled":"true"},"securePort":{"$":8443,"@enabled":"false"},"countryId":1,"dataCenterInfo":{"@class":"com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo","name":"MyOwn"},"leaseInfo":{"renewalIntervalInSecs":30,"durationInSecs":90},"metadata":{"zone":"a"},"lastDirtyTimestamp":"1700000000000"}}"#;
        let xml_body = r#"<instance><instanceId>i-1</instanceId><hostName>h</hostName><app>ORDERS</app><ipAddr>10.0.0.5</ipAddr><status>UP</status><port enabled="true">8080</port><dataCenterInfo class="com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo"><name>MyOwn</name></dataCenterInfo><leaseInfo><durationInSecs>90</durationInSecs></leaseInfo><metadata><zone>a</zone></metadata></instance>"#;
        let mut state: u64 = 0x0BAD_F00D_1234_5678;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let (mut ok, mut refused) = (0, 0);
        for round in 0..20_000u64 {
            let (seed, format) = if round % 2 == 0 {
                (json_body, BodyFormat::Json)
            } else {
                (xml_body, BodyFormat::Xml)
            };
            let mut bytes = seed.as_bytes().to_vec();
            for _ in 0..=(next() % 4) {
                let len = bytes.len() as u64;
                let at = usize::try_from(next() % (len + 1)).unwrap_or(0);
                match next() % 3 {
                    0 if at < bytes.len() => bytes[at] = (next() % 256) as u8,
                    1 => bytes.insert(
                        at,
                        b"{}[]<>\"/:,$@0a "[usize::try_from(next() % 15).unwrap_or(0)],
                    ),
                    _ => bytes.truncate(at),
                }
            }
            match decode_instance(&bytes, format, "ORDERS", NOW, 90) {
                Ok(_) => ok += 1,
                Err(message) => {
                    assert!(!message.to_string().is_empty());
                    refused += 1;
                }
            }
        }
        assert!(ok > 0 && refused > 0, "{ok} decoded, {refused} refused");
    }
}
