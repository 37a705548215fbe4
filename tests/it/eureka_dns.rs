//! Registered apps answered by DNS: the golden table in `fixtures/eureka/` (registrations made
//! through the real REST API, then questions asked five ways), plus timing and lease rules.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_yaml_ng::Value;

use crate::golden::run_cases;
use crate::http::request;
use crate::support::{TestServer, ask_in_process, fixtures, scratch_dir};

#[derive(serde::Deserialize)]
struct Registration {
    app: String,
    #[serde(default)]
    format: Option<String>,
    instance: Value,
    #[serde(default)]
    r#override: Option<String>,
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The XML form Eureka clients send: `$` becomes text, `@x` an attribute.
fn to_xml(name: &str, v: &Value) -> String {
    match v {
        Value::Mapping(map) => {
            let mut attrs = String::new();
            let mut children = String::new();
            let mut text = String::new();
            for (k, child) in map {
                let key = scalar(k);
                if key == "$" {
                    text = escape(&scalar(child));
                } else if let Some(attr) = key.strip_prefix('@') {
                    attrs.push_str(&format!(" {attr}=\"{}\"", escape(&scalar(child))));
                } else {
                    children.push_str(&to_xml(&key, child));
                }
            }
            format!("<{name}{attrs}>{text}{children}</{name}>")
        }
        other => format!("<{name}>{}</{name}>", escape(&scalar(other))),
    }
}

pub fn eureka_addr(server: &TestServer) -> SocketAddr {
    server.listener("eureka")
}

pub async fn register_json(addr: SocketAddr, app: &str, instance: &serde_json::Value) -> u16 {
    let body = serde_json::json!({ "instance": instance }).to_string();
    request(
        addr,
        "POST",
        &format!("/eureka/apps/{app}"),
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
    .await
    .status
}

async fn register_all(server: &TestServer) {
    let text = std::fs::read_to_string(fixtures().join("eureka/registrations.yaml")).unwrap();
    let registrations: Vec<Registration> = serde_yaml_ng::from_str(&text).unwrap();
    let addr = eureka_addr(server);
    for r in registrations {
        let status = if r.format.as_deref() == Some("xml") {
            let body = to_xml("instance", &r.instance);
            request(
                addr,
                "POST",
                &format!("/eureka/v2/apps/{}", r.app),
                &[("Content-Type", "application/xml")],
                body.as_bytes(),
            )
            .await
            .status
        } else {
            let json: serde_json::Value = serde_json::to_value(&r.instance).unwrap();
            register_json(addr, &r.app, &json).await
        };
        assert_eq!(status, 204, "registering {}", r.app);
        if let Some(status) = r.r#override {
            let id = r.instance.get("instanceId").map(scalar).unwrap();
            let path = format!("/eureka/apps/{}/{id}/status?value={status}", r.app);
            assert_eq!(request(addr, "PUT", &path, &[], b"").await.status, 200);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registered_apps_golden_answers() {
    let dir = fixtures().join("eureka");
    let server = TestServer::start(&dir).await;
    register_all(&server).await;
    run_cases(&server, &dir.join("cases.yaml")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_is_answered_at_once_and_leaves_when_it_should() {
    let dir = scratch_dir("eureka-dns");
    let server = TestServer::start_text(
        ".:0 {\n bind 127.0.0.1\n eureka apps.test {\n  listen 127.0.0.1:0\n }\n}\n",
        &dir,
    )
    .await;
    let addr = eureka_addr(&server);
    let instance = |id: &str, ip: &str, lease: u32| {
        serde_json::json!({
            "instanceId": id, "hostName": ip, "app": "FAST", "ipAddr": ip, "status": "UP",
            "port": {"$": 80, "@enabled": "true"}, "dataCenterInfo": {"name": "MyOwn"},
            "leaseInfo": {"durationInSecs": lease}
        })
    };
    let q = "fast.apps.test. A";
    assert_eq!(ask_in_process(&server, q).await.rcode, "NXDOMAIN");

    // Registered → answerable by DNS at once (the floor is 100 ms).
    let start = Instant::now();
    assert_eq!(
        register_json(addr, "fast", &instance("f-1", "10.9.0.1", 90)).await,
        204
    );
    let answer = ask_in_process(&server, q).await;
    let elapsed = start.elapsed();
    assert_eq!(answer.answer, vec!["fast.apps.test. 5 IN A 10.9.0.1"]);
    assert!(
        elapsed < Duration::from_millis(100),
        "registration → DNS took {elapsed:?}"
    );

    // Status override OUT_OF_SERVICE → gone from DNS; override removed → back after re-register.
    let path = "/eureka/apps/FAST/f-1/status?value=OUT_OF_SERVICE";
    assert_eq!(request(addr, "PUT", path, &[], b"").await.status, 200);
    assert_eq!(ask_in_process(&server, q).await.rcode, "NXDOMAIN");
    assert_eq!(
        request(addr, "DELETE", "/eureka/apps/FAST/f-1/status", &[], b"")
            .await
            .status,
        200
    );
    assert_eq!(
        request(addr, "PUT", "/eureka/apps/FAST/f-1", &[], b"")
            .await
            .status,
        404,
        "heartbeat after override removal must ask for re-registration"
    );
    assert_eq!(
        register_json(addr, "FAST", &instance("f-1", "10.9.0.1", 90)).await,
        204
    );
    assert_eq!(ask_in_process(&server, q).await.answer.len(), 1);

    // Cancel → NXDOMAIN at once.
    assert_eq!(
        request(addr, "DELETE", "/eureka/apps/FAST/f-1", &[], b"")
            .await
            .status,
        200
    );
    assert_eq!(ask_in_process(&server, q).await.rcode, "NXDOMAIN");

    // An expired lease is never answered, even before the eviction task runs (default 60 s).
    assert_eq!(
        register_json(addr, "fast", &instance("f-2", "10.9.0.2", 1)).await,
        204
    );
    assert_eq!(
        ask_in_process(&server, q).await.answer,
        vec!["fast.apps.test. 5 IN A 10.9.0.2"]
    );
    let deadline = Instant::now() + Duration::from_secs(4);
    loop {
        if ask_in_process(&server, q).await.rcode == "NXDOMAIN" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "an expired lease is still answered"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
