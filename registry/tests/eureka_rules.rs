//! Lease and status-override semantics over HTTP, with a controlled clock: overrides surviving
//! heartbeats and re-registration, override removal forcing re-registration, lastDirtyTimestamp
//! handling, expiry, eviction and self-preservation, delta retention, the DNS view.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod eureka_support;

use std::time::Duration;

use eureka_support::*;
use registry::eureka::EurekaConfig;
use serde_json::json;

/// Named so that `cargo test -p registry eureka` selects these tests.
mod eureka {
    #[allow(unused_imports)]
    use super::*;

    async fn status_of(s: &Server, app: &str, id: &str) -> String {
        let v = s.get_json(&format!("/eureka/apps/{app}/{id}")).await.json();
        v["instance"]["status"].as_str().unwrap().to_string()
    }

    #[tokio::test]
    async fn override_survives_heartbeat_and_reregistration() {
        let s = Server::default().await;
        let inst = instance("ORDERS", "o1", "10.0.0.1", 8080);
        s.register("/eureka", "ORDERS", &inst).await;
        let r = s
            .put(&format!(
                "/eureka/apps/ORDERS/o1/status?value=OUT_OF_SERVICE&lastDirtyTimestamp={T0}"
            ))
            .await;
        assert_eq!(r.status, 200);
        assert_eq!(status_of(&s, "ORDERS", "o1").await, "OUT_OF_SERVICE");
        let v = s.get_json("/eureka/apps/ORDERS/o1").await.json();
        assert_eq!(v["instance"]["overriddenStatus"], "OUT_OF_SERVICE");
        assert!(s.registry.dns_app("orders").is_none(), "not UP: not in DNS");
        // Heartbeats (client still reports UP) keep the override.
        for _ in 0..3 {
            let r = s
                .put(&format!(
                    "/eureka/apps/ORDERS/o1?status=UP&lastDirtyTimestamp={T0}"
                ))
                .await;
            assert_eq!(r.status, 200);
        }
        assert_eq!(status_of(&s, "ORDERS", "o1").await, "OUT_OF_SERVICE");
        // Re-registration with UP keeps it too.
        assert_eq!(s.register("/eureka", "ORDERS", &inst).await.status, 204);
        assert_eq!(status_of(&s, "ORDERS", "o1").await, "OUT_OF_SERVICE");
        // A client reporting DOWN wins over the override (rule 1), the override stays stored.
        let mut down = inst.clone();
        down["status"] = json!("DOWN");
        s.register("/eureka", "ORDERS", &down).await;
        assert_eq!(status_of(&s, "ORDERS", "o1").await, "DOWN");
        s.register("/eureka", "ORDERS", &inst).await;
        assert_eq!(status_of(&s, "ORDERS", "o1").await, "OUT_OF_SERVICE");
        // Back in service via another override.
        s.put("/eureka/apps/ORDERS/o1/status?value=UP").await;
        assert_eq!(status_of(&s, "ORDERS", "o1").await, "UP");
        assert_eq!(s.registry.dns_app("orders").unwrap().instances.len(), 1);
        s.stop().await;
    }

    #[tokio::test]
    async fn override_delete_forces_reregistration() {
        let s = Server::default().await;
        let inst = instance("ORDERS", "o1", "10.0.0.1", 8080);
        s.register("/eureka", "ORDERS", &inst).await;
        s.put("/eureka/apps/ORDERS/o1/status?value=OUT_OF_SERVICE")
            .await;
        let r = s
            .delete(&format!(
                "/eureka/apps/ORDERS/o1/status?lastDirtyTimestamp={T0}"
            ))
            .await;
        assert_eq!(r.status, 200);
        assert_eq!(status_of(&s, "ORDERS", "o1").await, "UNKNOWN");
        let v = s.get_json("/eureka/apps/ORDERS/o1").await.json();
        assert_eq!(v["instance"]["overriddenStatus"], "UNKNOWN");
        // Next heartbeat: 404, so the client registers again and reports its real status.
        assert_eq!(s.put("/eureka/apps/ORDERS/o1?status=UP").await.status, 404);
        assert_eq!(s.register("/eureka", "ORDERS", &inst).await.status, 204);
        assert_eq!(status_of(&s, "ORDERS", "o1").await, "UP");
        assert_eq!(s.put("/eureka/apps/ORDERS/o1").await.status, 200);
        // DELETE with a value sets that status instead.
        s.put("/eureka/apps/ORDERS/o1/status?value=OUT_OF_SERVICE")
            .await;
        assert_eq!(
            s.delete("/eureka/v2/apps/ORDERS/o1/status?value=UP")
                .await
                .status,
            200
        );
        assert_eq!(status_of(&s, "ORDERS", "o1").await, "UP");
        assert_eq!(s.put("/eureka/apps/ORDERS/o1").await.status, 200);
        // Deleting when there is no override changes nothing.
        let before = s.registry.version();
        assert_eq!(s.delete("/eureka/apps/ORDERS/o1/status").await.status, 200);
        assert_eq!(s.registry.version(), before);
        assert_eq!(status_of(&s, "ORDERS", "o1").await, "UP");
        // Unknown instance.
        assert_eq!(s.delete("/eureka/apps/ORDERS/zz/status").await.status, 404);
        assert_eq!(
            s.put("/eureka/apps/ORDERS/zz/status?value=UP").await.status,
            404
        );
        s.stop().await;
    }

    #[tokio::test]
    async fn override_to_the_current_status_stores_nothing() {
        let s = Server::default().await;
        s.register("/eureka", "A", &instance("A", "a1", "10.0.0.1", 80))
            .await;
        let before = s.registry.version();
        assert_eq!(s.put("/eureka/apps/A/a1/status?value=UP").await.status, 200);
        assert_eq!(s.registry.version(), before);
        // So a DOWN re-registration is not masked by an override afterwards.
        let mut down = instance("A", "a1", "10.0.0.1", 80);
        down["status"] = json!("STARTING");
        s.register("/eureka", "A", &down).await;
        assert_eq!(status_of(&s, "A", "a1").await, "STARTING");
        s.stop().await;
    }

    #[tokio::test]
    async fn last_dirty_timestamp_rules() {
        let s = Server::default().await;
        let mut inst = instance("A", "a1", "10.0.0.1", 80);
        inst["lastDirtyTimestamp"] = json!("1000");
        s.register("/eureka", "A", &inst).await;
        assert_eq!(
            s.put("/eureka/apps/A/a1?lastDirtyTimestamp=1000")
                .await
                .status,
            200
        );
        assert_eq!(
            s.put("/eureka/apps/A/a1?lastDirtyTimestamp=999")
                .await
                .status,
            200
        );
        assert_eq!(
            s.put("/eureka/apps/A/a1?lastDirtyTimestamp=1001")
                .await
                .status,
            404,
            "client has newer data: register again"
        );
        // A re-registration with older data keeps what the registry has.
        let mut older = inst.clone();
        older["lastDirtyTimestamp"] = json!("500");
        older["port"] = json!({"$": 9999, "@enabled": "true"});
        assert_eq!(s.register("/eureka", "A", &older).await.status, 204);
        let v = s.get_json("/eureka/apps/A/a1").await.json();
        assert_eq!(v["instance"]["port"]["$"], 80);
        assert_eq!(v["instance"]["lastDirtyTimestamp"], "1000");
        // Newer data replaces it.
        let mut newer = older.clone();
        newer["lastDirtyTimestamp"] = json!("2000");
        s.register("/eureka", "A", &newer).await;
        let v = s.get_json("/eureka/apps/A/a1").await.json();
        assert_eq!(v["instance"]["port"]["$"], 9999);
        // The status override raises lastDirtyTimestamp when given a larger one.
        s.put("/eureka/apps/A/a1/status?value=OUT_OF_SERVICE&lastDirtyTimestamp=3000")
            .await;
        let v = s.get_json("/eureka/apps/A/a1").await.json();
        assert_eq!(v["instance"]["lastDirtyTimestamp"], "3000");
        s.stop().await;
    }

    #[tokio::test]
    async fn expired_lease_reads_as_404_and_leaves_dns_before_eviction() {
        let s = Server::start(EurekaConfig {
            self_preservation: false,
            ..EurekaConfig::default()
        })
        .await;
        let mut short = instance("ORDERS", "o1", "10.0.0.1", 8080);
        short["leaseInfo"] = json!({"renewalIntervalInSecs": 5, "durationInSecs": 10});
        s.register("/eureka", "ORDERS", &short).await;
        s.register(
            "/eureka",
            "ORDERS",
            &instance("ORDERS", "o2", "10.0.0.2", 8080),
        )
        .await;
        assert_eq!(s.registry.dns_app("orders").unwrap().instances.len(), 2);
        s.clock.advance(Duration::from_secs(10));
        assert_eq!(
            s.get_json("/eureka/apps/ORDERS/o1").await.status,
            200,
            "at exactly the duration"
        );
        s.clock.advance(Duration::from_millis(1));
        assert_eq!(s.get_json("/eureka/apps/ORDERS/o1").await.status, 404);
        assert_eq!(s.get_json("/eureka/instances/o1").await.status, 404);
        let dns = s.registry.dns_app("orders").unwrap();
        assert_eq!(dns.instances.len(), 1);
        assert_eq!(dns.instances[0].host_name, "10.0.0.2");
        // Still listed until evicted (as Netflix does).
        let v = s.get_json("/eureka/apps/").await.json();
        assert_eq!(json_instances(&v, "ORDERS").len(), 2);
        // A heartbeat revives it.
        assert_eq!(s.put("/eureka/apps/ORDERS/o1").await.status, 200);
        assert_eq!(s.get_json("/eureka/apps/ORDERS/o1").await.status, 200);
        assert_eq!(s.registry.dns_app("orders").unwrap().instances.len(), 2);
        // Expire both; eviction removes at most 15 % (at least... 2 - (int)1.7 = 1) per run.
        s.clock.advance(Duration::from_secs(91));
        assert!(s.registry.dns_app("orders").is_none());
        assert_eq!(s.registry.evict_expired(), 1);
        assert_eq!(s.registry.evict_expired(), 1);
        let v = s.get_json("/eureka/apps/").await.json();
        assert_eq!(json_apps(&v).len(), 0);
        let d = s.get_json("/eureka/apps/delta").await.json();
        let deleted: Vec<_> = json_instances(&d, "ORDERS")
            .into_iter()
            .filter(|i| i["actionType"] == "DELETED")
            .collect();
        assert_eq!(deleted.len(), 2);
        s.stop().await;
    }

    #[tokio::test]
    async fn self_preservation_stops_eviction() {
        let s = Server::default().await;
        for n in 0..10 {
            let ip = format!("10.0.0.{n}");
            s.register("/eureka", "A", &instance("A", &format!("a{n}"), &ip, 80))
                .await;
        }
        let st = s.get_json("/eureka/status").await.json();
        // expected clients 1 + 10 → (int)(11 × 2 × 0.85) = 18 renewals per minute.
        assert_eq!(st["generalStats"]["renews-threshold"], "18");
        // Nobody renews: everything expires, but self-preservation keeps them.
        s.clock.advance(Duration::from_secs(120));
        assert_eq!(s.registry.evict_expired(), 0);
        let st = s.get_json("/eureka/status").await.json();
        assert_eq!(st["generalStats"]["self-preservation-active"], "true");
        assert_eq!(st["generalStats"]["lease-expiration-enabled"], "false");
        let html = s.get("/", &[]).await.text();
        assert!(html.contains("EMERGENCY!"));
        assert_eq!(s.registry.instance_count(), 10);
        // Seven instances renew every 15 s: 21 renewals in the last minute > 18.
        for _ in 0..3 {
            for n in 0..7 {
                assert_eq!(s.put(&format!("/eureka/apps/A/a{n}")).await.status, 200);
            }
            s.clock.advance(Duration::from_secs(15));
        }
        let st = s.get_json("/eureka/status").await.json();
        assert_eq!(st["generalStats"]["renews-last-min"], "21");
        assert_eq!(st["generalStats"]["self-preservation-active"], "false");
        // At most 10 - (int)8.5 = 2 per run; the renewed ones are never evicted.
        assert_eq!(s.registry.evict_expired(), 2);
        assert_eq!(s.registry.instance_count(), 8);
        assert_eq!(s.registry.evict_expired(), 1);
        assert_eq!(s.registry.instance_count(), 7);
        for n in 0..7 {
            assert_eq!(
                s.get_json(&format!("/eureka/apps/A/a{n}")).await.status,
                200
            );
        }
        assert!(!s.get("/", &[]).await.text().contains("EMERGENCY!"));
        s.stop().await;
    }

    #[tokio::test]
    async fn eviction_task_runs_on_its_interval() {
        let s = Server::start(EurekaConfig {
            self_preservation: false,
            eviction_interval: Duration::from_millis(50),
            ..EurekaConfig::default()
        })
        .await;
        s.register("/eureka", "A", &instance("A", "a1", "10.0.0.1", 80))
            .await;
        s.clock.advance(Duration::from_secs(91));
        let mut gone = false;
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            if s.registry.instance_count() == 0 {
                gone = true;
                break;
            }
        }
        assert!(gone, "the eviction task removed the expired lease");
        s.stop().await;
    }

    #[tokio::test]
    async fn delta_keeps_three_minutes() {
        let s = Server::default().await;
        s.register("/eureka", "A", &instance("A", "a1", "10.0.0.1", 80))
            .await;
        s.clock.advance(Duration::from_secs(120));
        s.register("/eureka", "A", &instance("A", "a2", "10.0.0.2", 80))
            .await;
        let d = s.get_json("/eureka/apps/delta").await.json();
        assert_eq!(json_instances(&d, "A").len(), 2);
        s.clock.advance(Duration::from_secs(61));
        // a1 (181 s old) dropped, a2 (61 s old) kept.
        for _ in 0..2 {
            s.put("/eureka/apps/A/a1").await;
            s.put("/eureka/apps/A/a2").await;
        }
        let d = s.get_json("/eureka/apps/delta").await.json();
        let ids: Vec<&str> = json_instances(&d, "A")
            .into_iter()
            .map(|i| i["instanceId"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["a2"]);
        // The hash still covers the whole registry.
        assert_eq!(d["applications"]["apps__hashcode"], "UP_2_");
        s.clock.advance(Duration::from_secs(180));
        let d = s.get_json("/eureka/apps/delta").await.json();
        assert_eq!(d["applications"]["application"], json!([]));
        assert_eq!(d["applications"]["apps__hashcode"], "UP_2_");
        s.stop().await;
    }

    #[tokio::test]
    async fn dns_view_is_immediate() {
        let s = Server::default().await;
        assert!(s.registry.dns_app("pay").is_none());
        let serial = s.registry.serial();
        let mut i = instance("pay", "p1", "10.0.0.9", 9000);
        i["securePort"] = json!({"$": 9443, "@enabled": "true"});
        s.register("/eureka", "pay", &i).await;
        assert!(s.registry.serial() > serial);
        let dns = s.registry.dns_app("pay").unwrap();
        assert_eq!(dns.instances.len(), 1);
        let d = &dns.instances[0];
        assert_eq!(d.addr.to_string(), "10.0.0.9");
        assert_eq!(d.port, Some(9000));
        assert_eq!(d.secure_port, Some(9443));
        // Not UP, not in DNS; IPv6 works; a non-IP ipAddr is left out.
        let mut v6 = instance("pay", "p2", "fd00::1", 9000);
        v6["hostName"] = json!("v6-host");
        s.register("/eureka", "pay", &v6).await;
        let mut bad = instance("pay", "p3", "not-an-ip", 9000);
        bad["hostName"] = json!("bad");
        s.register("/eureka", "pay", &bad).await;
        let mut starting = instance("pay", "p4", "10.0.0.10", 9000);
        starting["status"] = json!("STARTING");
        s.register("/eureka", "pay", &starting).await;
        let dns = s.registry.dns_app("pay").unwrap();
        let addrs: Vec<String> = dns.instances.iter().map(|i| i.addr.to_string()).collect();
        assert_eq!(addrs, ["10.0.0.9", "fd00::1"]);
        s.delete("/eureka/apps/PAY/p1").await;
        s.delete("/eureka/apps/PAY/p2").await;
        assert!(s.registry.dns_app("pay").is_none());
        s.stop().await;
    }

    /// A Corefile reload sets up a new registry that adopts the old one's live instances: status
    /// overrides kept, expired leases left behind, and each lease's last renewal kept (a reload
    /// does not extend a dead instance's lease).
    #[tokio::test]
    async fn a_reload_adopts_live_instances_with_their_overrides_and_leases() {
        let s = Server::default().await;
        s.register(
            "/eureka",
            "ORDERS",
            &instance("ORDERS", "gone", "10.0.0.3", 8080),
        )
        .await;
        s.clock.advance(Duration::from_secs(60));
        s.register(
            "/eureka",
            "ORDERS",
            &instance("ORDERS", "o1", "10.0.0.1", 8080),
        )
        .await;
        s.register(
            "/eureka",
            "ORDERS",
            &instance("ORDERS", "o2", "10.0.0.2", 8080),
        )
        .await;
        let r = s
            .put("/eureka/apps/ORDERS/o2/status?value=OUT_OF_SERVICE")
            .await;
        assert_eq!(r.status, 200);
        // `gone` renewed last 91 s ago (lease 90 s): expired, though not evicted yet.
        s.clock.advance(Duration::from_secs(31));

        let next =
            registry::eureka::EurekaRegistry::with_clock(EurekaConfig::default(), s.clock.clone());
        assert_eq!(next.adopt(&s.registry), 2);
        assert_eq!(next.instance_count(), 2);
        let dns = next.dns_app("orders").expect("o1 is UP");
        assert_eq!(dns.instances.len(), 1, "only o1 answers: {dns:?}");
        next.renew("ORDERS", "o2", None).unwrap();
        assert_eq!(
            next.dns_app("orders").unwrap().instances.len(),
            1,
            "o2 keeps its OUT_OF_SERVICE override through the adoption and a heartbeat"
        );
        // o1 last renewed at T0+60 s: 91 s later its lease is over, adoption did not extend it.
        s.clock.advance(Duration::from_secs(60));
        assert!(next.dns_app("orders").is_none());
    }
}
