//! The Eureka REST API over raw HTTP: every endpoint in both formats and under both prefixes,
//! content negotiation, gzip, lenient input, exact output shapes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod eureka_support;

use eureka_support::*;
use registry::eureka::InstanceInfo;
use serde_json::{Value, json};

/// Named so that `cargo test -p registry eureka` selects these tests.
mod eureka {
    #[allow(unused_imports)]
    use super::*;

    const PREFIXES: [&str; 2] = ["/eureka", "/eureka/v2"];

    #[tokio::test]
    async fn register_and_read_under_both_prefixes() {
        let s = Server::default().await;
        for (n, prefix) in PREFIXES.iter().enumerate() {
            // Lower-case app in the path and the body: stored upper-case.
            let ip = format!("10.0.0.{}", n + 1);
            let r = s
                .register(
                    prefix,
                    "orders",
                    &instance("orders", &format!("{ip}:orders:8080"), &ip, 8080),
                )
                .await;
            assert_eq!(r.status, 204, "{}", r.text());
            assert!(r.raw.is_empty());
        }
        for prefix in PREFIXES {
            for path in ["/apps", "/apps/"] {
                let v = s.get_json(&format!("{prefix}{path}")).await.json();
                let apps = json_apps(&v);
                assert_eq!(apps.len(), 1);
                assert_eq!(apps[0]["name"], "ORDERS");
                assert_eq!(apps[0]["instance"].as_array().unwrap().len(), 2);
            }
            let r = s
                .get(
                    &format!("{prefix}/apps/orders"),
                    &[("Accept", "application/json")],
                )
                .await;
            assert_eq!(r.status, 200);
            assert_eq!(r.json()["application"]["name"], "ORDERS");
        }
        s.stop().await;
    }

    #[tokio::test]
    async fn content_negotiation_defaults_to_xml() {
        let s = Server::default().await;
        s.register(
            "/eureka",
            "ORDERS",
            &instance("ORDERS", "i1", "10.0.0.1", 8080),
        )
        .await;
        for accept in [
            None,
            Some("*/*"),
            Some("application/xml"),
            Some("text/html"),
        ] {
            let headers: Vec<(&str, &str)> = accept.iter().map(|a| ("Accept", *a)).collect();
            for path in [
                "/eureka/apps/",
                "/eureka/apps/ORDERS",
                "/eureka/apps/ORDERS/i1",
                "/eureka/apps/delta",
            ] {
                let r = s.get(path, &headers).await;
                assert_eq!(r.status, 200);
                assert_eq!(
                    r.header("content-type"),
                    Some("application/xml"),
                    "{path} {accept:?}"
                );
                r.xml();
            }
        }
        for accept in [
            "application/json",
            "application/json, */*",
            "Application/JSON;q=0.5",
        ] {
            let r = s.get("/eureka/apps/", &[("Accept", accept)]).await;
            assert_eq!(r.header("content-type"), Some("application/json"));
            r.json();
        }
        s.stop().await;
    }

    #[tokio::test]
    async fn json_output_shape_and_types() {
        let s = Server::default().await;
        let mut inst = instance("ORDERS", "10.0.0.5:orders:8080", "10.0.0.5", 8080);
        inst["appGroupName"] = json!("GROUP");
        inst["asgName"] = json!("asg-1");
        s.register("/eureka", "ORDERS", &inst).await;
        let v = s.get_json("/eureka/apps/").await.json();
        let apps = &v["applications"];
        let version: u64 = apps["versions__delta"].as_str().unwrap().parse().unwrap();
        assert!(version > 0);
        assert_eq!(apps["apps__hashcode"], "UP_1_");
        assert!(apps["application"].is_array());
        let i = &apps["application"][0]["instance"];
        assert!(i.is_array(), "one instance is still an array");
        let i = &i[0];
        for (k, want) in [
            ("instanceId", "10.0.0.5:orders:8080"),
            ("hostName", "10.0.0.5"),
            ("app", "ORDERS"),
            ("ipAddr", "10.0.0.5"),
            ("status", "UP"),
            ("overriddenStatus", "UNKNOWN"),
            ("isCoordinatingDiscoveryServer", "false"),
            ("lastDirtyTimestamp", &T0.to_string()),
            ("lastUpdatedTimestamp", &T0.to_string()),
            ("actionType", "ADDED"),
            ("vipAddress", "orders"),
            ("homePageUrl", "http://10.0.0.5:8080/"),
            ("appGroupName", "GROUP"),
            ("asgName", "asg-1"),
        ] {
            assert_eq!(
                i[k].as_str(),
                Some(want),
                "{k} must be the string {want:?}: {i}"
            );
        }
        assert_eq!(i["port"], json!({"$": 8080, "@enabled": "true"}));
        assert_eq!(i["securePort"], json!({"$": 443, "@enabled": "false"}));
        assert!(i["countryId"].is_number());
        assert_eq!(
            i["dataCenterInfo"],
            json!({"@class": "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo", "name": "MyOwn"})
        );
        let lease = &i["leaseInfo"];
        for k in [
            "renewalIntervalInSecs",
            "durationInSecs",
            "registrationTimestamp",
            "lastRenewalTimestamp",
            "evictionTimestamp",
            "serviceUpTimestamp",
        ] {
            assert!(lease[k].is_u64(), "leaseInfo.{k} is a number: {lease}");
        }
        assert_eq!(lease["durationInSecs"], 90);
        assert_eq!(lease["registrationTimestamp"], T0);
        assert_eq!(lease["serviceUpTimestamp"], T0);
        assert_eq!(i["metadata"], json!({"management.port": "8080"}));
        s.stop().await;
    }

    #[tokio::test]
    async fn xml_output_shape() {
        let s = Server::default().await;
        let mut inst = instance("ORDERS", "i1", "10.0.0.5", 8080);
        inst["metadata"] = json!({"management.port": "8080", "my_key": "a<b", "bad key": "x"});
        s.register("/eureka", "ORDERS", &inst).await;
        let mut bare = instance("ORDERS", "i2", "10.0.0.6", 8081);
        bare["metadata"] = json!({});
        s.register("/eureka", "ORDERS", &bare).await;
        let root = s.get("/eureka/apps/", &[]).await.xml();
        assert_eq!(root.name, "applications");
        assert!(root.text_of("versions__delta").parse::<u64>().is_ok());
        assert_eq!(root.text_of("apps__hashcode"), "UP_2_");
        let app = root.child("application");
        assert_eq!(app.text_of("name"), "ORDERS");
        let insts = app.all("instance");
        assert_eq!(insts.len(), 2);
        let i = insts[0];
        assert_eq!(i.text_of("instanceId"), "i1");
        assert_eq!(i.text_of("overriddenstatus"), "UNKNOWN");
        assert!(i.opt("overriddenStatus").is_none());
        assert_eq!(i.child("port").attr("enabled"), Some("true"));
        assert_eq!(i.text_of("port"), "8080");
        assert_eq!(i.child("securePort").attr("enabled"), Some("false"));
        assert_eq!(i.text_of("countryId"), "1");
        let dc = i.child("dataCenterInfo");
        assert_eq!(
            dc.attr("class"),
            Some("com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo")
        );
        assert_eq!(dc.text_of("name"), "MyOwn");
        let lease = i.child("leaseInfo");
        assert_eq!(lease.text_of("durationInSecs"), "90");
        assert_eq!(lease.text_of("registrationTimestamp"), T0.to_string());
        let md = i.child("metadata");
        assert_eq!(md.text_of("management.port"), "8080");
        // XStream's name encoding of `_`; a key that cannot be an element name is left out.
        assert_eq!(md.text_of("my__key"), "a<b");
        assert_eq!(md.children.len(), 2);
        assert_eq!(i.text_of("isCoordinatingDiscoveryServer"), "false");
        assert_eq!(i.text_of("lastDirtyTimestamp"), T0.to_string());
        assert_eq!(i.text_of("actionType"), "ADDED");
        let empty_md = insts[1].child("metadata");
        assert_eq!(
            empty_md.attr("class"),
            Some("java.util.Collections$EmptyMap")
        );
        assert!(empty_md.children.is_empty());
        // The JSON side of empty metadata.
        let v = s.get_json("/eureka/apps/ORDERS/i2").await.json();
        assert_eq!(
            v["instance"]["metadata"],
            json!({"@class": "java.util.Collections$EmptyMap"})
        );
        s.stop().await;
    }

    #[tokio::test]
    async fn lenient_input_forms() {
        let s = Server::default().await;
        // eureka-js-client style: string port, boolean @enabled, no @class, no timestamps,
        // lower-case app, camel-case overriddenStatus.
        let js = json!({
            "hostName": "js-host", "app": "web", "ipAddr": "10.0.1.1", "vipAddress": "web",
            "port": {"$": "8080", "@enabled": true},
            "dataCenterInfo": {"name": "MyOwn"},
            "overriddenStatus": "UNKNOWN",
        });
        assert_eq!(s.register("/eureka/v2", "web", &js).await.status, 204);
        // Bare port number, numbers and booleans as strings.
        let bare = json!({
            "instanceId": "bare-1", "hostName": "bare", "app": "WEB", "ipAddr": "10.0.1.2",
            "port": 9090, "securePort": {"$": "9443", "@enabled": "true"}, "countryId": "1",
            "leaseInfo": {"durationInSecs": "45", "renewalIntervalInSecs": "15"},
            "dataCenterInfo": {"name": "MyOwn"}, "lastDirtyTimestamp": 5,
        });
        assert_eq!(s.register("/eureka", "WEB", &bare).await.status, 204);
        let v = s.get_json("/eureka/apps/WEB").await.json();
        let insts = v["application"]["instance"].as_array().unwrap();
        let js = insts.iter().find(|i| i["hostName"] == "js-host").unwrap();
        assert_eq!(js["instanceId"], "js-host", "id defaults to the host name");
        assert_eq!(js["port"], json!({"$": 8080, "@enabled": "true"}));
        assert_eq!(js["securePort"], json!({"$": 7002, "@enabled": "false"}));
        assert_eq!(
            js["dataCenterInfo"]["@class"],
            "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo"
        );
        assert_eq!(
            js["lastDirtyTimestamp"],
            T0.to_string(),
            "missing timestamps are now"
        );
        let bare = insts.iter().find(|i| i["instanceId"] == "bare-1").unwrap();
        assert_eq!(bare["port"], json!({"$": 9090, "@enabled": "true"}));
        assert_eq!(bare["securePort"], json!({"$": 9443, "@enabled": "true"}));
        assert_eq!(bare["leaseInfo"]["durationInSecs"], 45);
        assert_eq!(bare["leaseInfo"]["renewalIntervalInSecs"], 15);
        assert_eq!(bare["lastDirtyTimestamp"], "5");
        // Old-style lower-case overriddenstatus is read too.
        let mut old = instance("WEB", "old-1", "10.0.1.3", 80);
        old["overriddenstatus"] = json!("OUT_OF_SERVICE");
        s.register("/eureka", "WEB", &old).await;
        let v = s.get_json("/eureka/apps/WEB/old-1").await.json();
        assert_eq!(v["instance"]["status"], "OUT_OF_SERVICE");
        assert_eq!(v["instance"]["overriddenStatus"], "OUT_OF_SERVICE");
        s.stop().await;
    }

    #[tokio::test]
    async fn xml_registration_body() {
        let s = Server::default().await;
        let body = r#"<?xml version="1.0" encoding="UTF-8"?>
<instance>
  <instanceId>x1</instanceId><hostName>xml-host</hostName><app>XMLAPP</app>
  <ipAddr>10.0.2.1</ipAddr><status>UP</status><overriddenstatus>UNKNOWN</overriddenstatus>
  <port enabled="true">7000</port><securePort enabled="false">7443</securePort>
  <countryId>1</countryId>
  <dataCenterInfo class="com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo"><name>MyOwn</name></dataCenterInfo>
  <leaseInfo><renewalIntervalInSecs>30</renewalIntervalInSecs><durationInSecs>60</durationInSecs></leaseInfo>
  <metadata><zone>z1</zone><a__b>v</a__b></metadata>
  <vipAddress>xmlapp</vipAddress><lastDirtyTimestamp>77</lastDirtyTimestamp>
</instance>"#;
        let r = s
            .req(
                "POST",
                "/eureka/v2/apps/XMLAPP",
                &[("Content-Type", "application/xml")],
                body.as_bytes(),
            )
            .await;
        assert_eq!(r.status, 204, "{}", r.text());
        let v = s.get_json("/eureka/apps/XMLAPP/x1").await.json();
        let i = &v["instance"];
        assert_eq!(i["port"], json!({"$": 7000, "@enabled": "true"}));
        assert_eq!(i["leaseInfo"]["durationInSecs"], 60);
        assert_eq!(i["metadata"], json!({"zone": "z1", "a_b": "v"}));
        assert_eq!(i["lastDirtyTimestamp"], "77");
        // Without a Content-Type the body is sniffed.
        let r = s
            .req(
                "POST",
                "/eureka/apps/XMLAPP",
                &[],
                body.replace("x1", "x2").as_bytes(),
            )
            .await;
        assert_eq!(r.status, 204, "{}", r.text());
        s.stop().await;
    }

    #[tokio::test]
    async fn one_app_one_instance_and_by_id() {
        let s = Server::default().await;
        let id = "10.0.0.7:pay:9000";
        s.register("/eureka", "PAY", &instance("PAY", id, "10.0.0.7", 9000))
            .await;
        // One application.
        let v = s.get_json("/eureka/apps/pay").await.json();
        assert_eq!(v["application"]["name"], "PAY");
        assert!(v["application"]["instance"].is_array());
        let x = s.get("/eureka/apps/pay", &[]).await.xml();
        assert_eq!(x.name, "application");
        assert_eq!(x.text_of("name"), "PAY");
        assert_eq!(x.all("instance").len(), 1);
        // One instance, raw and percent-encoded id.
        for path in [
            format!("/eureka/apps/PAY/{id}"),
            "/eureka/v2/apps/pay/10.0.0.7%3Apay%3A9000".to_string(),
        ] {
            let v = s.get_json(&path).await.json();
            assert_eq!(v["instance"]["instanceId"], id);
            let x = s.get(&path, &[]).await.xml();
            assert_eq!(x.name, "instance");
            assert_eq!(x.text_of("instanceId"), id);
        }
        // By id, in any app.
        let v = s.get_json(&format!("/eureka/instances/{id}")).await.json();
        assert_eq!(v["instance"]["app"], "PAY");
        assert_eq!(
            s.get(&format!("/eureka/v2/instances/{id}"), &[])
                .await
                .xml()
                .name,
            "instance"
        );
        assert_eq!(s.get_json("/eureka/instances/nope").await.status, 404);
        // Unknown app / instance.
        assert_eq!(s.get_json("/eureka/apps/NOPE").await.status, 404);
        assert_eq!(s.get_json("/eureka/apps/PAY/nope").await.status, 404);
        s.stop().await;
    }

    #[tokio::test]
    async fn vips_and_svips() {
        let s = Server::default().await;
        let mut a = instance("A", "a1", "10.0.0.1", 80);
        a["vipAddress"] = json!("shared,a-only");
        a["secureVipAddress"] = json!("secure-a");
        let mut b = instance("B", "b1", "10.0.0.2", 80);
        b["vipAddress"] = json!("shared");
        b["secureVipAddress"] = json!("secure-b");
        s.register("/eureka", "A", &a).await;
        s.register("/eureka", "B", &b).await;
        let v = s.get_json("/eureka/vips/shared").await.json();
        let names: Vec<&str> = json_apps(&v)
            .iter()
            .map(|a| a["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["A", "B"]);
        assert_eq!(v["applications"]["apps__hashcode"], "UP_2_");
        let v = s.get_json("/eureka/v2/vips/a-only").await.json();
        assert_eq!(json_apps(&v).len(), 1);
        let x = s.get("/eureka/svips/secure-b", &[]).await.xml();
        assert_eq!(x.all("application").len(), 1);
        assert_eq!(x.child("application").text_of("name"), "B");
        // No match: an empty list, not an error.
        let v = s.get_json("/eureka/vips/none").await.json();
        assert_eq!(v["applications"]["application"], json!([]));
        assert_eq!(v["applications"]["apps__hashcode"], "");
        s.stop().await;
    }

    #[tokio::test]
    async fn gzip_when_asked() {
        let s = Server::default().await;
        // Enough instances in one app that the listing is made of several cached groups.
        for n in 0..1300u32 {
            let mut info = InstanceInfo::new("BIG", &format!("big-{n}"), "h", "10.1.0.1", 8080);
            info.metadata.push(("n".into(), n.to_string()));
            s.registry.register(info).unwrap();
        }
        s.register("/eureka", "SMALL", &instance("SMALL", "s1", "10.0.0.1", 80))
            .await;
        for accept in ["application/json", "application/xml"] {
            let plain = s.get("/eureka/apps/", &[("Accept", accept)]).await;
            assert_eq!(plain.header("content-encoding"), None);
            let gz = s
                .get(
                    "/eureka/apps/",
                    &[("Accept", accept), ("Accept-Encoding", "gzip, deflate")],
                )
                .await;
            assert_eq!(gz.header("content-encoding"), Some("gzip"));
            assert!(gz.raw.len() * 3 < plain.raw.len(), "compressed");
            assert_eq!(gz.body(), plain.raw, "same document");
            // Twice: the second answer comes from the cached chunks.
            let again = s
                .get(
                    "/eureka/apps/",
                    &[("Accept", accept), ("Accept-Encoding", "gzip")],
                )
                .await;
            assert_eq!(again.body(), plain.raw);
        }
        let v: Value = serde_json::from_slice(
            &s.get(
                "/eureka/apps/",
                &[("Accept", "application/json"), ("Accept-Encoding", "gzip")],
            )
            .await
            .body(),
        )
        .unwrap();
        assert_eq!(json_instances(&v, "BIG").len(), 1300);
        assert_eq!(v["applications"]["apps__hashcode"], "UP_1301_");
        // Every other read can be gzipped too.
        for path in [
            "/eureka/apps/SMALL",
            "/eureka/apps/SMALL/s1",
            "/eureka/apps/delta",
            "/eureka/vips/small",
            "/eureka/status",
            "/",
        ] {
            let r = s.get(path, &[("Accept-Encoding", "gzip")]).await;
            assert_eq!(r.status, 200, "{path}");
            assert_eq!(r.header("content-encoding"), Some("gzip"), "{path}");
            assert!(!r.text().is_empty());
        }
        // Never br/deflate.
        let r = s
            .get("/eureka/apps/", &[("Accept-Encoding", "br, deflate")])
            .await;
        assert_eq!(r.header("content-encoding"), None);
        s.stop().await;
    }

    #[tokio::test]
    async fn listing_sees_every_change_at_once() {
        let s = Server::default().await;
        for n in 0..1100u32 {
            s.registry
                .register(InstanceInfo::new(
                    "BIG",
                    &format!("i{n}"),
                    "h",
                    "10.1.0.1",
                    8080,
                ))
                .unwrap();
        }
        let first = s.get_json("/eureka/apps/").await.json();
        assert_eq!(json_instances(&first, "BIG").len(), 1100);
        assert_eq!(
            s.put("/eureka/apps/BIG/i5/status?value=OUT_OF_SERVICE")
                .await
                .status,
            200
        );
        assert_eq!(s.delete("/eureka/apps/BIG/i6").await.status, 200);
        let v = s.get_json("/eureka/apps/").await.json();
        let insts = json_instances(&v, "BIG");
        assert_eq!(insts.len(), 1099);
        assert!(
            insts
                .iter()
                .any(|i| i["instanceId"] == "i5" && i["status"] == "OUT_OF_SERVICE")
        );
        assert!(!insts.iter().any(|i| i["instanceId"] == "i6"));
        assert_eq!(
            v["applications"]["apps__hashcode"],
            "OUT_OF_SERVICE_1_UP_1098_"
        );
        let x = s
            .get("/eureka/apps/BIG", &[("Accept-Encoding", "gzip")])
            .await
            .xml();
        assert_eq!(x.all("instance").len(), 1099);
        s.stop().await;
    }

    #[tokio::test]
    async fn hashcode_and_version() {
        let s = Server::default().await;
        let v = s.get_json("/eureka/apps").await.json();
        assert_eq!(v["applications"]["apps__hashcode"], "");
        assert_eq!(v["applications"]["application"], json!([]));
        let mut versions = vec![
            v["applications"]["versions__delta"]
                .as_str()
                .unwrap()
                .to_string(),
        ];
        let version = |v: &Value| {
            v["applications"]["versions__delta"]
                .as_str()
                .unwrap()
                .to_string()
        };
        s.register("/eureka", "A", &instance("A", "a1", "10.0.0.1", 80))
            .await;
        s.register("/eureka", "A", &instance("A", "a2", "10.0.0.2", 80))
            .await;
        s.register("/eureka", "B", &instance("B", "b1", "10.0.0.3", 80))
            .await;
        versions.push(version(&s.get_json("/eureka/apps").await.json()));
        s.put("/eureka/apps/A/a2/status?value=OUT_OF_SERVICE").await;
        versions.push(version(&s.get_json("/eureka/apps/delta").await.json()));
        s.put("/eureka/apps/B/b1/status?value=DOWN").await;
        let v = s.get_json("/eureka/apps").await.json();
        versions.push(version(&v));
        assert_eq!(
            v["applications"]["apps__hashcode"],
            "DOWN_1_OUT_OF_SERVICE_1_UP_1_"
        );
        let x = s.get("/eureka/apps", &[]).await.xml();
        assert_eq!(x.text_of("apps__hashcode"), "DOWN_1_OUT_OF_SERVICE_1_UP_1_");
        // A heartbeat is no change.
        assert_eq!(s.put("/eureka/apps/A/a1").await.status, 200);
        let v = s.get_json("/eureka/apps").await.json();
        assert_eq!(version(&v), versions[3]);
        s.delete("/eureka/apps/A/a1").await;
        versions.push(version(&s.get_json("/eureka/apps").await.json()));
        let nums: Vec<u64> = versions.iter().map(|v| v.parse().unwrap()).collect();
        assert!(nums.windows(2).all(|w| w[0] < w[1]), "{nums:?}");
        s.stop().await;
    }

    #[tokio::test]
    async fn delta_carries_actions_and_the_full_hash() {
        let s = Server::default().await;
        s.register("/eureka", "A", &instance("A", "a1", "10.0.0.1", 80))
            .await;
        s.register("/eureka", "A", &instance("A", "a2", "10.0.0.2", 80))
            .await;
        s.register("/eureka", "B", &instance("B", "b1", "10.0.0.3", 80))
            .await;
        s.put("/eureka/apps/A/a2/status?value=OUT_OF_SERVICE").await;
        s.delete("/eureka/apps/B/b1").await;
        let v = s.get_json("/eureka/apps/delta").await.json();
        assert_eq!(
            v["applications"]["apps__hashcode"],
            "OUT_OF_SERVICE_1_UP_1_"
        );
        let action = |v: &Value, app: &str, id: &str| -> String {
            json_instances(v, app)
                .into_iter()
                .find(|i| i["instanceId"] == id)
                .map(|i| i["actionType"].as_str().unwrap().to_string())
                .unwrap_or_default()
        };
        assert_eq!(action(&v, "A", "a1"), "ADDED");
        assert_eq!(action(&v, "A", "a2"), "MODIFIED");
        assert_eq!(action(&v, "B", "b1"), "DELETED");
        // Each instance once, with its latest state.
        assert_eq!(json_instances(&v, "A").len(), 2);
        let a2 = json_instances(&v, "A")
            .into_iter()
            .find(|i| i["instanceId"] == "a2")
            .unwrap();
        assert_eq!(a2["status"], "OUT_OF_SERVICE");
        // Same in XML under the other prefix.
        let x = s.get("/eureka/v2/apps/delta", &[]).await.xml();
        assert_eq!(x.text_of("apps__hashcode"), "OUT_OF_SERVICE_1_UP_1_");
        let b = x
            .all("application")
            .into_iter()
            .find(|a| a.text_of("name") == "B")
            .unwrap();
        assert_eq!(b.child("instance").text_of("actionType"), "DELETED");
        // The full listing shows actionType too.
        let full = s.get_json("/eureka/apps").await.json();
        let a2 = json_instances(&full, "A")
            .into_iter()
            .find(|i| i["instanceId"] == "a2")
            .unwrap();
        assert_eq!(a2["actionType"], "MODIFIED");
        assert!(
            json_instances(&full, "B").is_empty(),
            "an app without instances is omitted"
        );
        s.stop().await;
    }

    #[tokio::test]
    async fn heartbeat_and_cancel_answers() {
        let s = Server::default().await;
        s.register("/eureka", "A", &instance("A", "a1", "10.0.0.1", 80))
            .await;
        // Java: status + lastDirtyTimestamp; js: no params.
        for path in [
            format!("/eureka/apps/A/a1?status=UP&lastDirtyTimestamp={T0}"),
            "/eureka/v2/apps/a/a1".to_string(),
        ] {
            let r = s.put(&path).await;
            assert_eq!(r.status, 200);
            assert!(r.raw.is_empty());
            assert_eq!(
                r.header("content-type"),
                None,
                "no typed body on a heartbeat"
            );
        }
        // PUT without any Content-Length, and with a chunked empty body.
        let addr = s.addr;
        let r = raw_request(
            addr,
            b"PUT /eureka/apps/A/a1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .await;
        assert_eq!(r.status, 200);
        let r = raw_request(
        addr,
        b"PUT /eureka/apps/A/a1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    )
    .await;
        assert_eq!(r.status, 200);
        assert_eq!(s.put("/eureka/apps/A/unknown").await.status, 404);
        assert_eq!(s.put("/eureka/apps/NOAPP/a1").await.status, 404);
        let r = s.delete("/eureka/apps/A/a1").await;
        assert_eq!(r.status, 200);
        assert_eq!(s.delete("/eureka/apps/A/a1").await.status, 404);
        assert_eq!(
            s.put("/eureka/apps/A/a1").await.status,
            404,
            "cancelled: register again"
        );
        s.stop().await;
    }

    #[tokio::test]
    async fn metadata_update() {
        let s = Server::default().await;
        s.register("/eureka", "A", &instance("A", "a1", "10.0.0.1", 80))
            .await;
        let r = s
            .put("/eureka/apps/A/a1/metadata?zone=eu-1&management.port=9999&x+y=a%20b")
            .await;
        assert_eq!(r.status, 200);
        let v = s.get_json("/eureka/apps/A/a1").await.json();
        assert_eq!(
            v["instance"]["metadata"],
            json!({"management.port": "9999", "zone": "eu-1", "x y": "a b"})
        );
        assert_eq!(s.put("/eureka/apps/A/zz/metadata?a=b").await.status, 404);
        s.stop().await;
    }

    #[tokio::test]
    async fn status_endpoint() {
        let s = Server::default().await;
        s.register("/eureka", "A", &instance("A", "a1", "10.0.0.1", 80))
            .await;
        let v = s.get_json("/eureka/status").await.json();
        let g = &v["generalStats"];
        assert_eq!(g["registered-instances"], "1");
        assert_eq!(g["self-preservation-enabled"], "true");
        assert!(g["renews-threshold"].is_string());
        let x = s.get("/eureka/v2/status", &[]).await.xml();
        assert_eq!(x.name, "statusInfo");
        assert_eq!(x.child("generalStats").text_of("registered-apps"), "1");
        s.stop().await;
    }

    #[tokio::test]
    async fn dashboard_lists_apps_and_escapes() {
        let s = Server::default().await;
        let mut evil = instance("EVIL", "<script>alert(1)</script>", "10.0.0.1", 80);
        evil["hostName"] = json!("\"><img src=x onerror=alert(1)>");
        evil["statusPageUrl"] = json!("javascript:alert(1)");
        assert_eq!(s.register("/eureka", "EVIL", &evil).await.status, 204);
        s.register(
            "/eureka",
            "ORDERS",
            &instance("ORDERS", "o1", "10.0.0.2", 8080),
        )
        .await;
        s.put("/eureka/apps/ORDERS/o1").await;
        let r = s.get("/", &[]).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
        let html = r.text();
        assert!(html.contains("ORDERS"));
        assert!(html.contains("href=\"http://10.0.0.2:8080/info\""));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(!html.contains("<script>alert(1)"));
        assert!(!html.contains("<img src=x"));
        assert!(!html.contains("href=\"javascript:"));
        assert!(html.contains("Self-preservation"));
        assert!(html.contains("Renews (last min)"));
        assert!(html.contains("setInterval"), "auto-refresh");
        assert_eq!(s.req("POST", "/", &[], b"").await.status, 405);
        s.stop().await;
    }

    #[tokio::test]
    async fn delta_follows_every_change() {
        let s = Server::default().await;
        s.register("/eureka", "A", &instance("A", "a1", "10.0.0.1", 80))
            .await;
        let d1 = s.get_json("/eureka/apps/delta").await.json();
        let again = s.get_json("/eureka/apps/delta").await.json();
        assert_eq!(d1, again, "nothing changed");
        s.register("/eureka", "A", &instance("A", "a2", "10.0.0.2", 80))
            .await;
        let d2 = s.get_json("/eureka/apps/delta").await.json();
        assert_ne!(
            d1["applications"]["versions__delta"],
            d2["applications"]["versions__delta"]
        );
        assert_eq!(json_instances(&d2, "A").len(), 2);
        assert_eq!(d2["applications"]["apps__hashcode"], "UP_2_");
        s.put("/eureka/apps/A/a1/status?value=DOWN").await;
        let x = s
            .get("/eureka/apps/delta", &[("Accept-Encoding", "gzip")])
            .await
            .xml();
        assert_eq!(x.text_of("apps__hashcode"), "DOWN_1_UP_1_");
        s.stop().await;
    }

    #[tokio::test]
    async fn head_requests() {
        let s = Server::default().await;
        s.register("/eureka", "A", &instance("A", "a1", "10.0.0.1", 80))
            .await;
        for path in ["/eureka/apps/", "/eureka/apps/A", "/eureka/apps/A/a1", "/"] {
            let r = s.req("HEAD", path, &[], b"").await;
            assert_eq!(r.status, 200, "{path}");
            assert!(r.header("content-type").is_some());
        }
        s.stop().await;
    }
}
