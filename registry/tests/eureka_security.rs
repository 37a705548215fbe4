//! Bad input, limits and authentication: every error answer, and that a bad request never
//! changes or loses what is registered.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod eureka_support;

use std::collections::HashMap;
use std::io::Write as _;

use base64::Engine as _;
use eureka_support::*;
use registry::eureka::{EurekaAuth, EurekaConfig};
use serde_json::json;

/// Named so that `cargo test -p registry eureka` selects these tests.
mod eureka {
    #[allow(unused_imports)]
    use super::*;

    fn basic(user: &str, password: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        )
    }

    /// Registers `A/a1` and returns a snapshot to compare with after bad requests.
    async fn baseline(s: &Server) -> (u64, String) {
        assert_eq!(
            s.register("/eureka", "A", &instance("A", "a1", "10.0.0.1", 80))
                .await
                .status,
            204
        );
        (
            s.registry.version(),
            s.get_json("/eureka/apps/A/a1").await.text(),
        )
    }

    async fn unchanged(s: &Server, before: &(u64, String)) {
        assert_eq!(
            s.registry.version(),
            before.0,
            "a bad request changed the registry"
        );
        assert_eq!(s.get_json("/eureka/apps/A/a1").await.text(), before.1);
    }

    #[tokio::test]
    async fn malformed_bodies_are_400_with_a_message() {
        let s = Server::default().await;
        let before = baseline(&s).await;
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("application/json", b"{\"instance\": {".to_vec(), "malformed JSON"),
        ("application/json", b"not json".to_vec(), "malformed JSON"),
        ("application/json", b"[1,2]".to_vec(), "JSON object"),
        ("application/json", b"{\"instance\": 5}".to_vec(), "\"instance\""),
        ("application/xml", b"<instance><app>A</app>".to_vec(), "XML"),
        ("application/xml", b"<instance></wrong>".to_vec(), "malformed XML"),
        ("application/xml", b"<application/>".to_vec(), "<instance>"),
        ("application/xml", vec![b'<', 0xff, 0xfe, b'>'], "UTF-8"),
        (
            "application/json",
            serde_json::to_vec(&json!({"instance": {"hostName": "h", "app": "A", "ipAddr": "10.0.0.1"}})).unwrap(),
            "Missing dataCenterInfo",
        ),
        (
            "application/json",
            serde_json::to_vec(&json!({"instance": {"app": "A", "ipAddr": "10.0.0.1"}})).unwrap(),
            "Missing instanceId",
        ),
        (
            "application/json",
            serde_json::to_vec(&json!({"instance": {"hostName": "h", "app": "A", "dataCenterInfo": {"name": "MyOwn"}}})).unwrap(),
            "Missing ip address",
        ),
        (
            "application/json",
            serde_json::to_vec(&json!({"instance": {"hostName": "h", "ipAddr": "1", "dataCenterInfo": {"name": "MyOwn"}}})).unwrap(),
            "Missing appName",
        ),
        (
            "application/json",
            serde_json::to_vec(&json!({"instance": instance("B", "a1", "10.0.0.1", 80)})).unwrap(),
            "Mismatched appName, expecting A but was B",
        ),
        (
            "application/json",
            serde_json::to_vec(&json!({"instance": {"instanceId": "a1", "hostName": "h", "app": "A", "ipAddr": "1",
                "dataCenterInfo": {"name": "MyOwn"}, "port": {"$": "eighty"}}})).unwrap(),
            "port",
        ),
        (
            "application/json",
            serde_json::to_vec(&json!({"instance": {"instanceId": "a1", "hostName": "h", "app": "A", "ipAddr": "1",
                "dataCenterInfo": {"name": "MyOwn"}, "leaseInfo": {"durationInSecs": "long"}}})).unwrap(),
            "durationInSecs",
        ),
    ];
        for (ct, body, want) in cases {
            let r = s
                .req("POST", "/eureka/apps/A", &[("Content-Type", ct)], &body)
                .await;
            assert_eq!(r.status, 400, "{ct} {:?}", String::from_utf8_lossy(&body));
            let text = r.text();
            assert!(text.contains(want), "{want:?} not in {text:?}");
            assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
            unchanged(&s, &before).await;
        }
        s.stop().await;
    }

    #[tokio::test]
    async fn oversized_bodies_are_413() {
        let s = Server::start(EurekaConfig {
            max_body_bytes: 1024,
            ..EurekaConfig::default()
        })
        .await;
        let before = baseline(&s).await;
        let mut big = instance("A", "a1", "10.0.0.1", 80);
        big["metadata"] = json!({"pad": "x".repeat(2000)});
        let body = serde_json::to_vec(&json!({ "instance": big })).unwrap();
        let r = s
            .req(
                "POST",
                "/eureka/apps/A",
                &[("Content-Type", "application/json")],
                &body,
            )
            .await;
        assert_eq!(r.status, 413);
        assert!(r.text().contains("1024"));
        // Chunked, without a Content-Length.
        let mut raw = b"POST /eureka/apps/A HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        for chunk in body.chunks(500) {
            raw.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            raw.extend_from_slice(chunk);
            raw.extend_from_slice(b"\r\n");
        }
        raw.extend_from_slice(b"0\r\n\r\n");
        let r = raw_request(s.addr, &raw).await;
        assert_eq!(r.status, 413);
        // A gzip body that inflates past the limit.
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(&body).unwrap();
        let gz = enc.finish().unwrap();
        assert!(gz.len() < 1024);
        let r = s
            .req(
                "POST",
                "/eureka/apps/A",
                &[
                    ("Content-Type", "application/json"),
                    ("Content-Encoding", "gzip"),
                ],
                &gz,
            )
            .await;
        assert_eq!(r.status, 413);
        unchanged(&s, &before).await;
        s.stop().await;
    }

    #[tokio::test]
    async fn gzip_request_bodies_are_read() {
        let s = Server::default().await;
        let body =
            serde_json::to_vec(&json!({"instance": instance("A", "a1", "10.0.0.1", 80)})).unwrap();
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&body).unwrap();
        let r = s
            .req(
                "POST",
                "/eureka/apps/A",
                &[
                    ("Content-Type", "application/json"),
                    ("Content-Encoding", "gzip"),
                ],
                &enc.finish().unwrap(),
            )
            .await;
        assert_eq!(r.status, 204, "{}", r.text());
        let r = s
            .req(
                "POST",
                "/eureka/apps/A",
                &[
                    ("Content-Type", "application/json"),
                    ("Content-Encoding", "gzip"),
                ],
                b"not gzip",
            )
            .await;
        assert_eq!(r.status, 400);
        let r = s
            .req(
                "POST",
                "/eureka/apps/A",
                &[("Content-Encoding", "br")],
                &body,
            )
            .await;
        assert_eq!(r.status, 415);
        s.stop().await;
    }

    #[tokio::test]
    async fn bad_parameters_paths_and_methods() {
        let s = Server::default().await;
        let before = baseline(&s).await;
        for (method, path, status, want) in [
            (
                "PUT",
                "/eureka/apps/A/a1/status?value=SIDEWAYS",
                400,
                "SIDEWAYS",
            ),
            ("PUT", "/eureka/apps/A/a1/status", 400, "value"),
            (
                "DELETE",
                "/eureka/apps/A/a1/status?value=SIDEWAYS",
                400,
                "SIDEWAYS",
            ),
            (
                "PUT",
                "/eureka/apps/A/a1?lastDirtyTimestamp=yesterday",
                400,
                "lastDirtyTimestamp",
            ),
            (
                "PUT",
                "/eureka/apps/A/a1/status?value=DOWN&lastDirtyTimestamp=x",
                400,
                "lastDirtyTimestamp",
            ),
            ("GET", "/nope", 404, "no such path"),
            ("GET", "/eureka/nope", 404, "no such path"),
            ("GET", "/eureka/apps/A/a1/extra/more", 404, "no such path"),
            ("GET", "/eureka//apps", 404, "no such path"),
            ("GET", "/eureka/apps/NOPE", 404, "NOPE"),
            ("GET", "/eureka/apps/A/nope", 404, "nope"),
            ("PUT", "/eureka/apps/NOPE/x", 404, "NOPE"),
            ("DELETE", "/eureka/apps/NOPE/x", 404, "NOPE"),
            ("PUT", "/eureka/apps/A/nope/metadata?a=b", 404, "nope"),
            ("DELETE", "/eureka/apps", 405, "GET"),
            ("PATCH", "/eureka/apps/A", 405, "POST"),
            ("POST", "/eureka/apps/A/a1", 405, "PUT"),
            ("GET", "/eureka/apps/A/a1/status", 405, "DELETE"),
            ("GET", "/eureka/apps/A/a1/metadata", 405, "PUT"),
            ("POST", "/eureka/status", 405, "GET"),
            ("GET", "/eureka/apps/%ff", 400, "UTF-8"),
        ] {
            let r = s.req(method, path, &[], b"").await;
            assert_eq!(r.status, status, "{method} {path}: {}", r.text());
            assert!(
                r.text().contains(want),
                "{method} {path}: {want:?} not in {:?}",
                r.text()
            );
            if status == 405 {
                assert!(r.header("allow").is_some());
            }
        }
        unchanged(&s, &before).await;
        s.stop().await;
    }

    #[tokio::test]
    async fn limits_give_403_with_a_message() {
        let s = Server::start(EurekaConfig {
            max_apps: 2,
            max_instances_per_app: 2,
            ..EurekaConfig::default()
        })
        .await;
        assert_eq!(
            s.register("/eureka", "A", &instance("A", "a1", "10.0.0.1", 80))
                .await
                .status,
            204
        );
        assert_eq!(
            s.register("/eureka", "A", &instance("A", "a2", "10.0.0.2", 80))
                .await
                .status,
            204
        );
        let r = s
            .register("/eureka", "A", &instance("A", "a3", "10.0.0.3", 80))
            .await;
        assert_eq!(r.status, 403);
        assert!(r.text().contains("limit 2"), "{}", r.text());
        // Re-registering an existing instance is fine at the limit.
        assert_eq!(
            s.register("/eureka", "A", &instance("A", "a2", "10.0.0.2", 80))
                .await
                .status,
            204
        );
        assert_eq!(
            s.register("/eureka", "B", &instance("B", "b1", "10.0.0.4", 80))
                .await
                .status,
            204
        );
        let r = s
            .register("/eureka", "C", &instance("C", "c1", "10.0.0.5", 80))
            .await;
        assert_eq!(r.status, 403);
        assert!(r.text().contains("applications"), "{}", r.text());
        assert_eq!(s.get_json("/eureka/apps/C").await.status, 404);
        // Freeing room lets it in.
        s.delete("/eureka/apps/B/b1").await;
        assert_eq!(
            s.register("/eureka", "C", &instance("C", "c1", "10.0.0.5", 80))
                .await
                .status,
            204
        );
        let v = s.get_json("/eureka/apps").await.json();
        assert_eq!(json_apps(&v).len(), 2);
        s.stop().await;
    }

    #[tokio::test]
    async fn basic_auth_on_writes() {
        let s = Server::start(EurekaConfig {
            auth: Some(EurekaAuth::Basic {
                users: HashMap::from([("eureka".to_string(), "s3cret".to_string())]),
                first: "eureka:s3cret".to_string(),
            }),
            ..EurekaConfig::default()
        })
        .await;
        let body =
            serde_json::to_vec(&json!({"instance": instance("A", "a1", "10.0.0.1", 80)})).unwrap();
        let post = |auth: Option<String>| {
            let body = body.clone();
            let addr = s.addr;
            async move {
                let mut h = vec![("Content-Type", "application/json".to_string())];
                if let Some(a) = auth {
                    h.push(("Authorization", a));
                }
                let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (*k, v.as_str())).collect();
                request(addr, "POST", "/eureka/apps/A", &h, &body).await
            }
        };
        for bad in [
            None,
            Some(basic("eureka", "wrong")),
            Some(basic("nobody", "s3cret")),
            Some("Bearer s3cret".to_string()),
        ] {
            let r = post(bad.clone()).await;
            assert_eq!(r.status, 401, "{bad:?}");
            assert!(
                r.header("www-authenticate")
                    .unwrap()
                    .starts_with("Basic realm=")
            );
        }
        assert_eq!(s.registry.instance_count(), 0);
        assert_eq!(post(Some(basic("eureka", "s3cret"))).await.status, 204);
        // Heartbeat, status and cancel need it too.
        assert_eq!(s.put("/eureka/apps/A/a1").await.status, 401);
        assert_eq!(
            s.put("/eureka/apps/A/a1/status?value=DOWN").await.status,
            401
        );
        assert_eq!(s.delete("/eureka/apps/A/a1").await.status, 401);
        let auth = basic("eureka", "s3cret");
        assert_eq!(
            s.req("PUT", "/eureka/apps/A/a1", &[("Authorization", &auth)], b"")
                .await
                .status,
            200
        );
        // Reads are open.
        assert_eq!(s.get_json("/eureka/apps").await.status, 200);
        assert_eq!(s.get("/", &[]).await.status, 200);
        assert_eq!(
            s.req(
                "DELETE",
                "/eureka/apps/A/a1",
                &[("Authorization", &auth)],
                b""
            )
            .await
            .status,
            200
        );
        s.stop().await;
    }

    #[tokio::test]
    async fn bearer_auth_on_reads_too() {
        let s = Server::start(EurekaConfig {
            auth: Some(EurekaAuth::Bearer {
                tokens: vec!["tok-1".to_string(), "tok-2".to_string()],
            }),
            auth_reads: true,
            ..EurekaConfig::default()
        })
        .await;
        for path in ["/eureka/apps", "/eureka/apps/delta", "/eureka/status", "/"] {
            let r = s.get(path, &[]).await;
            assert_eq!(r.status, 401, "{path}");
            assert_eq!(
                r.header("www-authenticate"),
                Some("Bearer realm=\"eureka\"")
            );
            assert_eq!(
                s.get(path, &[("Authorization", "Bearer tok-3")])
                    .await
                    .status,
                401
            );
            assert_eq!(
                s.get(path, &[("Authorization", "Bearer tok-2")])
                    .await
                    .status,
                200
            );
        }
        let body =
            serde_json::to_vec(&json!({"instance": instance("A", "a1", "10.0.0.1", 80)})).unwrap();
        let r = s
            .req(
                "POST",
                "/eureka/apps/A",
                &[
                    ("Content-Type", "application/json"),
                    ("Authorization", "Bearer tok-1"),
                ],
                &body,
            )
            .await;
        assert_eq!(r.status, 204);
        s.stop().await;
    }

    #[test]
    fn credential_files() {
        let dir = std::env::temp_dir().join(format!("eureka-auth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pw = dir.join("passwords");
        std::fs::write(&pw, "# users\nalice:pa:ss\r\n\n bob:x \n").unwrap();
        match EurekaAuth::basic_from_file(&pw).unwrap() {
            EurekaAuth::Basic { users, .. } => {
                assert_eq!(users.get("alice").map(String::as_str), Some("pa:ss"));
                assert_eq!(users.get("bob").map(String::as_str), Some("x"));
                assert_eq!(users.len(), 2);
            }
            other => panic!("{other:?}"),
        }
        std::fs::write(&pw, "no-colon\n").unwrap();
        assert!(
            EurekaAuth::basic_from_file(&pw)
                .unwrap_err()
                .to_string()
                .contains("line 1")
        );
        std::fs::write(&pw, "# nothing\n").unwrap();
        assert!(EurekaAuth::basic_from_file(&pw).is_err());
        let tok = dir.join("tokens");
        std::fs::write(&tok, "t1\n# c\n t2 \n").unwrap();
        match EurekaAuth::bearer_from_file(&tok).unwrap() {
            EurekaAuth::Bearer { tokens } => assert_eq!(tokens, ["t1", "t2"]),
            other => panic!("{other:?}"),
        }
        std::fs::write(&tok, "\n").unwrap();
        assert!(EurekaAuth::bearer_from_file(&tok).is_err());
        assert!(EurekaAuth::bearer_from_file(&dir.join("missing")).is_err());
        // Secrets never show in Debug.
        std::fs::write(&pw, "alice:pa:ss\n").unwrap();
        let dbg = format!("{:?}", EurekaAuth::basic_from_file(&pw).unwrap());
        assert!(
            dbg.contains("Basic") && !dbg.contains("pa:ss") && !dbg.contains("alice"),
            "{dbg}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
