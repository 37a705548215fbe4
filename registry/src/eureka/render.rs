//! The exact output shapes of Netflix's `EurekaJacksonCodec` (JSON) and XStream converters
//! (XML), written by hand: arrays always, `port.$` a number with a string `@enabled`,
//! `dataCenterInfo.@class`, string-typed `isCoordinatingDiscoveryServer` /
//! `lastUpdatedTimestamp` / `lastDirtyTimestamp` / `actionType` / `versions__delta`, XML
//! attributes `enabled` / `class`, metadata keys as XML element names, lower-case
//! `overriddenstatus` in XML, `java.util.Collections$EmptyMap` for empty metadata.

use std::fmt::Write as _;

use super::model::{EMPTY_MAP_CLASS, InstanceInfo, Status};
use super::xml::{escape_into, metadata_element_name};

/// A response format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Format {
    Json,
    Xml,
}

impl Format {
    pub(crate) fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Xml => "application/xml",
        }
    }
}

/// The lease part of `leaseInfo`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct LeaseView {
    pub registration: u64,
    pub last_renewal: u64,
    pub eviction: u64,
    pub service_up: u64,
}

/// Per-status instance counts, indexed by [`Status::index`].
pub(crate) type StatusCounts = [u64; 5];

/// `apps__hashcode`: `STATUS_count_` for each status present, in status-name order.
pub(crate) fn hashcode(counts: &StatusCounts) -> String {
    let mut s = String::new();
    for st in Status::ALL {
        let n = counts[st.index()];
        if n > 0 {
            let _ = write!(s, "{}_{}_", st.as_str(), n);
        }
    }
    s
}

/// Appends `s` as a JSON string literal.
pub(crate) fn json_str(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let rep: &str = match c {
            '"' => "\\\"",
            '\\' => "\\\\",
            '\n' => "\\n",
            '\r' => "\\r",
            '\t' => "\\t",
            c if (c as u32) < 0x20 || c == '\u{2028}' || c == '\u{2029}' => {
                out.push_str(&s[start..i]);
                let _ = write!(out, "\\u{:04x}", c as u32);
                start = i + c.len_utf8();
                continue;
            }
            _ => continue,
        };
        out.push_str(&s[start..i]);
        out.push_str(rep);
        start = i + c.len_utf8();
    }
    out.push_str(&s[start..]);
    out.push('"');
}

fn json_field_str(out: &mut String, key: &str, value: &str) {
    out.push('"');
    out.push_str(key);
    out.push_str("\":");
    json_str(out, value);
    out.push(',');
}

fn json_opt_str(out: &mut String, key: &str, value: Option<&str>) {
    if let Some(v) = value {
        json_field_str(out, key, v);
    }
}

fn json_map(out: &mut String, map: &[(String, String)]) {
    if map.is_empty() {
        out.push_str("{\"@class\":\"");
        out.push_str(EMPTY_MAP_CLASS);
        out.push_str("\"}");
        return;
    }
    out.push('{');
    for (i, (k, v)) in map.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_str(out, k);
        out.push(':');
        json_str(out, v);
    }
    out.push('}');
}

fn bool_str(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

/// One instance object, `{...}`.
pub(crate) fn json_instance(out: &mut String, i: &InstanceInfo, lease: &LeaseView) {
    out.push('{');
    json_field_str(out, "instanceId", &i.instance_id);
    json_field_str(out, "hostName", &i.host_name);
    json_field_str(out, "app", &i.app);
    json_field_str(out, "ipAddr", &i.ip_addr);
    json_opt_str(out, "sid", i.sid.as_deref());
    json_field_str(out, "status", i.status.as_str());
    json_field_str(out, "overriddenStatus", i.overridden_status.as_str());
    let _ = write!(
        out,
        "\"port\":{{\"$\":{},\"@enabled\":\"{}\"}},\"securePort\":{{\"$\":{},\"@enabled\":\"{}\"}},\"countryId\":{},",
        i.port,
        bool_str(i.port_enabled),
        i.secure_port,
        bool_str(i.secure_port_enabled),
        i.country_id
    );
    out.push_str("\"dataCenterInfo\":{\"@class\":");
    json_str(out, &i.data_center_info.class);
    out.push_str(",\"name\":");
    json_str(out, &i.data_center_info.name);
    if let Some(md) = &i.data_center_info.metadata {
        out.push_str(",\"metadata\":");
        json_map(out, md);
    }
    out.push_str("},");
    let _ = write!(
        out,
        "\"leaseInfo\":{{\"renewalIntervalInSecs\":{},\"durationInSecs\":{},\"registrationTimestamp\":{},\"lastRenewalTimestamp\":{},\"evictionTimestamp\":{},\"serviceUpTimestamp\":{}}},",
        i.renewal_interval_secs,
        i.duration_secs,
        lease.registration,
        lease.last_renewal,
        lease.eviction,
        lease.service_up
    );
    out.push_str("\"metadata\":");
    json_map(out, &i.metadata);
    out.push(',');
    json_opt_str(out, "appGroupName", i.app_group_name.as_deref());
    json_opt_str(out, "homePageUrl", i.home_page_url.as_deref());
    json_opt_str(out, "statusPageUrl", i.status_page_url.as_deref());
    json_opt_str(out, "healthCheckUrl", i.health_check_url.as_deref());
    json_opt_str(
        out,
        "secureHealthCheckUrl",
        i.secure_health_check_url.as_deref(),
    );
    json_opt_str(out, "vipAddress", i.vip_address.as_deref());
    json_opt_str(out, "secureVipAddress", i.secure_vip_address.as_deref());
    let _ = write!(
        out,
        "\"isCoordinatingDiscoveryServer\":\"false\",\"lastUpdatedTimestamp\":\"{}\",\"lastDirtyTimestamp\":\"{}\",\"actionType\":\"{}\"",
        i.last_updated_timestamp,
        i.last_dirty_timestamp,
        i.action_type.as_str()
    );
    if let Some(asg) = &i.asg_name {
        out.push_str(",\"asgName\":");
        json_str(out, asg);
    }
    out.push('}');
}

fn xml_elem(out: &mut String, name: &str, value: &str) {
    out.push('<');
    out.push_str(name);
    out.push('>');
    escape_into(out, value);
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

fn xml_opt(out: &mut String, name: &str, value: Option<&str>) {
    if let Some(v) = value {
        xml_elem(out, name, v);
    }
}

fn xml_num(out: &mut String, name: &str, value: impl std::fmt::Display) {
    let _ = write!(out, "<{name}>{value}</{name}>");
}

fn xml_map(out: &mut String, map: &[(String, String)]) {
    let mut wrote = false;
    for (k, v) in map {
        let Some(name) = metadata_element_name(k) else {
            continue;
        };
        if !wrote {
            out.push_str("<metadata>");
            wrote = true;
        }
        xml_elem(out, &name, v);
    }
    if wrote {
        out.push_str("</metadata>");
    } else {
        out.push_str("<metadata class=\"");
        out.push_str(EMPTY_MAP_CLASS);
        out.push_str("\"/>");
    }
}

/// One `<instance>...</instance>`.
pub(crate) fn xml_instance(out: &mut String, i: &InstanceInfo, lease: &LeaseView) {
    out.push_str("<instance>");
    xml_elem(out, "instanceId", &i.instance_id);
    xml_elem(out, "hostName", &i.host_name);
    xml_elem(out, "app", &i.app);
    xml_elem(out, "ipAddr", &i.ip_addr);
    xml_opt(out, "sid", i.sid.as_deref());
    xml_elem(out, "status", i.status.as_str());
    xml_elem(out, "overriddenstatus", i.overridden_status.as_str());
    let _ = write!(
        out,
        "<port enabled=\"{}\">{}</port><securePort enabled=\"{}\">{}</securePort>",
        bool_str(i.port_enabled),
        i.port,
        bool_str(i.secure_port_enabled),
        i.secure_port
    );
    xml_num(out, "countryId", i.country_id);
    out.push_str("<dataCenterInfo class=\"");
    escape_into(out, &i.data_center_info.class);
    out.push_str("\">");
    xml_elem(out, "name", &i.data_center_info.name);
    if let Some(md) = &i.data_center_info.metadata {
        xml_map(out, md);
    }
    out.push_str("</dataCenterInfo><leaseInfo>");
    xml_num(out, "renewalIntervalInSecs", i.renewal_interval_secs);
    xml_num(out, "durationInSecs", i.duration_secs);
    xml_num(out, "registrationTimestamp", lease.registration);
    xml_num(out, "lastRenewalTimestamp", lease.last_renewal);
    xml_num(out, "evictionTimestamp", lease.eviction);
    xml_num(out, "serviceUpTimestamp", lease.service_up);
    out.push_str("</leaseInfo>");
    xml_map(out, &i.metadata);
    xml_opt(out, "appGroupName", i.app_group_name.as_deref());
    xml_opt(out, "homePageUrl", i.home_page_url.as_deref());
    xml_opt(out, "statusPageUrl", i.status_page_url.as_deref());
    xml_opt(out, "healthCheckUrl", i.health_check_url.as_deref());
    xml_opt(
        out,
        "secureHealthCheckUrl",
        i.secure_health_check_url.as_deref(),
    );
    xml_opt(out, "vipAddress", i.vip_address.as_deref());
    xml_opt(out, "secureVipAddress", i.secure_vip_address.as_deref());
    out.push_str("<isCoordinatingDiscoveryServer>false</isCoordinatingDiscoveryServer>");
    xml_num(out, "lastUpdatedTimestamp", i.last_updated_timestamp);
    xml_num(out, "lastDirtyTimestamp", i.last_dirty_timestamp);
    xml_elem(out, "actionType", i.action_type.as_str());
    xml_opt(out, "asgName", i.asg_name.as_deref());
    out.push_str("</instance>");
}

/// One instance in `format`.
pub(crate) fn instance(out: &mut String, format: Format, i: &InstanceInfo, lease: &LeaseView) {
    match format {
        Format::Json => json_instance(out, i, lease),
        Format::Xml => xml_instance(out, i, lease),
    }
}

/// Separator between two instances (or two applications) in a list.
pub(crate) fn list_separator(format: Format) -> &'static str {
    match format {
        Format::Json => ",",
        Format::Xml => "",
    }
}

/// The opening of an application object, up to its first instance.
pub(crate) fn app_open(out: &mut String, format: Format, name: &str) {
    match format {
        Format::Json => {
            out.push_str("{\"name\":");
            json_str(out, name);
            out.push_str(",\"instance\":[");
        }
        Format::Xml => {
            out.push_str("<application>");
            xml_elem(out, "name", name);
        }
    }
}

/// The closing of an application object.
pub(crate) fn app_close(out: &mut String, format: Format) {
    match format {
        Format::Json => out.push_str("]}"),
        Format::Xml => out.push_str("</application>"),
    }
}

/// The opening of an `applications` document, up to its first application.
pub(crate) fn apps_open(out: &mut String, format: Format, version: u64, hash: &str) {
    match format {
        Format::Json => {
            let _ = write!(
                out,
                "{{\"applications\":{{\"versions__delta\":\"{version}\",\"apps__hashcode\":"
            );
            json_str(out, hash);
            out.push_str(",\"application\":[");
        }
        Format::Xml => {
            let _ = write!(
                out,
                "<applications><versions__delta>{version}</versions__delta>"
            );
            xml_elem(out, "apps__hashcode", hash);
        }
    }
}

/// The closing of an `applications` document.
pub(crate) fn apps_close(out: &mut String, format: Format) {
    match format {
        Format::Json => out.push_str("]}}"),
        Format::Xml => out.push_str("</applications>"),
    }
}

/// The wrapper around a single application (`{"application":...}` in JSON, nothing in XML).
pub(crate) fn single_app_open(out: &mut String, format: Format) {
    if format == Format::Json {
        out.push_str("{\"application\":");
    }
}

/// Closes [`single_app_open`].
pub(crate) fn single_app_close(out: &mut String, format: Format) {
    if format == Format::Json {
        out.push('}');
    }
}

/// `{"instance":{...}}` or `<instance>...</instance>`.
pub(crate) fn single_instance(format: Format, i: &InstanceInfo, lease: &LeaseView) -> String {
    let mut out = String::with_capacity(1024);
    match format {
        Format::Json => {
            out.push_str("{\"instance\":");
            json_instance(&mut out, i, lease);
            out.push('}');
        }
        Format::Xml => xml_instance(&mut out, i, lease),
    }
    out
}

/// A status document shaped like Netflix's `StatusInfo`: `generalStats` and `applicationStats`
/// maps of strings.
pub(crate) fn status_info(
    format: Format,
    general: &[(&str, String)],
    application: &[(&str, String)],
) -> String {
    let mut out = String::with_capacity(1024);
    match format {
        Format::Json => {
            out.push_str("{\"generalStats\":");
            json_pairs(&mut out, general);
            out.push_str(",\"applicationStats\":");
            json_pairs(&mut out, application);
            out.push('}');
        }
        Format::Xml => {
            out.push_str("<statusInfo><generalStats>");
            for (k, v) in general {
                xml_elem(&mut out, k, v);
            }
            out.push_str("</generalStats><applicationStats>");
            for (k, v) in application {
                xml_elem(&mut out, k, v);
            }
            out.push_str("</applicationStats></statusInfo>");
        }
    }
    out
}

fn json_pairs(out: &mut String, pairs: &[(&str, String)]) {
    out.push('{');
    for (n, (k, v)) in pairs.iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        json_str(out, k);
        out.push(':');
        json_str(out, v);
    }
    out.push('}');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eureka::model::{ActionType, DEFAULT_DATA_CENTER_CLASS, DataCenterInfo};

    fn sample() -> InstanceInfo {
        InstanceInfo {
            instance_id: "10.0.0.5:orders:8080".into(),
            app: "ORDERS".into(),
            app_group_name: None,
            ip_addr: "10.0.0.5".into(),
            sid: None,
            host_name: "h\"<&>".into(),
            status: Status::Up,
            overridden_status: Status::Unknown,
            port: 8080,
            port_enabled: true,
            secure_port: 443,
            secure_port_enabled: false,
            country_id: 1,
            data_center_info: DataCenterInfo {
                class: DEFAULT_DATA_CENTER_CLASS.into(),
                name: "MyOwn".into(),
                metadata: None,
            },
            renewal_interval_secs: 30,
            duration_secs: 90,
            metadata: vec![("management.port".into(), "8080".into())],
            home_page_url: Some("http://x/".into()),
            status_page_url: None,
            health_check_url: None,
            secure_health_check_url: None,
            vip_address: Some("orders".into()),
            secure_vip_address: None,
            asg_name: None,
            last_updated_timestamp: 2,
            last_dirty_timestamp: 1,
            action_type: ActionType::Added,
        }
    }

    #[test]
    fn json_shape_and_types() {
        let lease = LeaseView {
            registration: 10,
            last_renewal: 11,
            eviction: 0,
            service_up: 12,
        };
        let s = single_instance(Format::Json, &sample(), &lease);
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        let i = &v["instance"];
        assert_eq!(i["hostName"], "h\"<&>");
        assert_eq!(i["port"]["$"], 8080);
        assert_eq!(i["port"]["@enabled"], "true");
        assert_eq!(i["securePort"]["@enabled"], "false");
        assert_eq!(i["countryId"], 1);
        assert_eq!(i["dataCenterInfo"]["@class"], DEFAULT_DATA_CENTER_CLASS);
        assert_eq!(i["leaseInfo"]["lastRenewalTimestamp"], 11);
        assert_eq!(i["isCoordinatingDiscoveryServer"], "false");
        assert_eq!(i["lastUpdatedTimestamp"], "2");
        assert_eq!(i["lastDirtyTimestamp"], "1");
        assert_eq!(i["actionType"], "ADDED");
        assert_eq!(i["overriddenStatus"], "UNKNOWN");
        assert_eq!(i["metadata"]["management.port"], "8080");
        assert!(i.get("statusPageUrl").is_none());
        let mut empty = sample();
        empty.metadata.clear();
        let s = single_instance(Format::Json, &empty, &lease);
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["instance"]["metadata"]["@class"], EMPTY_MAP_CLASS);
    }

    #[test]
    fn xml_shape() {
        let mut i = sample();
        i.metadata.push(("bad key".into(), "x".into()));
        i.metadata.push(("a_b".into(), "<v>".into()));
        let s = single_instance(Format::Xml, &i, &LeaseView::default());
        assert!(s.starts_with("<instance><instanceId>10.0.0.5:orders:8080</instanceId>"));
        assert!(s.contains("<hostName>h&quot;&lt;&amp;&gt;</hostName>"));
        assert!(s.contains("<overriddenstatus>UNKNOWN</overriddenstatus>"));
        assert!(s.contains("<port enabled=\"true\">8080</port>"));
        assert!(s.contains("<securePort enabled=\"false\">443</securePort>"));
        assert!(s.contains(
            "<dataCenterInfo class=\"com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo\"><name>MyOwn</name></dataCenterInfo>"
        ));
        assert!(s.contains(
            "<metadata><management.port>8080</management.port><a__b>&lt;v&gt;</a__b></metadata>"
        ));
        assert!(!s.contains("bad key"));
        // The output parses back.
        let (root, _) = crate::eureka::xml::parse(&s).unwrap();
        assert_eq!(root, "instance");
        i.metadata.clear();
        let s = single_instance(Format::Xml, &i, &LeaseView::default());
        assert!(s.contains("<metadata class=\"java.util.Collections$EmptyMap\"/>"));
    }

    #[test]
    fn hashcodes() {
        assert_eq!(hashcode(&[0; 5]), "");
        let mut c = [0; 5];
        c[Status::Up.index()] = 3;
        c[Status::Down.index()] = 1;
        c[Status::OutOfService.index()] = 1;
        assert_eq!(hashcode(&c), "DOWN_1_OUT_OF_SERVICE_1_UP_3_");
    }

    #[test]
    fn json_escaping() {
        let mut s = String::new();
        json_str(&mut s, "a\"b\\c\n\u{1}\u{2028}é");
        let back: String = serde_json::from_str(&s).unwrap();
        assert_eq!(back, "a\"b\\c\n\u{1}\u{2028}é");
    }
}
