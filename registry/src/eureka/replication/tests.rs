//! The receiving side and the wire form, without sockets (the two-node exchange is in
//! `tests/it/eureka_replication.rs`).

use std::sync::Arc;

use serde_json::{Value, json};

use super::*;
use crate::eureka::model::InstanceInfo;
use crate::eureka::{EurekaConfig, ManualClock};

fn registry() -> Registry {
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    Registry::new(EurekaConfig::default(), clock, Vec::new())
}

fn answers(registry: &Registry, items: Value) -> Vec<Value> {
    let body = json!({ "replicationList": items }).to_string();
    let out = apply_batch(registry, body.as_bytes()).unwrap();
    let v: Value = serde_json::from_str(&out).unwrap();
    v["responseList"].as_array().unwrap().clone()
}

#[test]
fn an_outgoing_item_round_trips_through_a_peer() {
    let here = registry();
    let mut info = InstanceInfo::new("ORDERS", "orders-1", "orders-1", "10.1.0.1", 8080);
    info.metadata.push(("zone".into(), "a".into()));
    here.register(info).unwrap();
    let item = out_item(&here, Action::Register, "ORDERS", "orders-1");
    let body = batch_body(std::slice::from_ref(&item));
    let there = registry();
    let out = apply_batch(&there, body.as_bytes()).unwrap();
    assert_eq!(out, "{\"responseList\":[{\"statusCode\":200}]}");
    let (rec, _) = there.instance("ORDERS", "orders-1").unwrap();
    assert_eq!(rec.info.ip_addr, "10.1.0.1");
    assert_eq!(
        rec.info.metadata,
        vec![("zone".to_string(), "a".to_string())]
    );
}

#[test]
fn heartbeats_answer_404_unknown_409_older_200_current() {
    let r = registry();
    let unknown = answers(
        &r,
        json!([{"action": "Heartbeat", "appName": "X", "id": "x-1"}]),
    );
    assert_eq!(unknown[0]["statusCode"], 404);

    let mut info = InstanceInfo::new("X", "x-1", "x-1", "10.0.0.1", 80);
    info.last_dirty_timestamp = 1_000;
    r.register(info).unwrap();
    let (rec, _) = r.instance("X", "x-1").unwrap();
    let ts = rec.info.last_dirty_timestamp;
    let older = answers(
        &r,
        json!([{"action": "Heartbeat", "appName": "x", "id": "x-1", "lastDirtyTimestamp": ts - 1}]),
    );
    assert_eq!(older[0]["statusCode"], 409);
    assert_eq!(older[0]["responseEntity"]["instanceId"], "x-1");
    let current = answers(
        &r,
        json!([{"action": "Heartbeat", "appName": "X", "id": "x-1", "lastDirtyTimestamp": ts.to_string()}]),
    );
    assert_eq!(current[0]["statusCode"], 200);
}

#[test]
fn status_cancel_and_bad_items() {
    let r = registry();
    r.register(InstanceInfo::new("X", "x-1", "x-1", "10.0.0.1", 80))
        .unwrap();
    let got = answers(
        &r,
        json!([
            {"action": "StatusUpdate", "appName": "X", "id": "x-1", "status": "OUT_OF_SERVICE"},
            {"action": "StatusUpdate", "appName": "X", "id": "x-1"},
            {"action": "Explode", "appName": "X", "id": "x-1"},
            {"action": "Register", "appName": "X", "id": "x-2"},
            {"action": "Cancel", "appName": "X", "id": "x-1"},
            {"action": "Cancel", "appName": "X", "id": "x-1"},
        ]),
    );
    let codes: Vec<u64> = got
        .iter()
        .map(|a| a["statusCode"].as_u64().unwrap())
        .collect();
    assert_eq!(codes, [200, 400, 400, 400, 200, 404]);
    assert!(apply_batch(&r, b"[]").is_err());
    assert!(apply_batch(&r, b"{not json").is_err());
}

#[test]
fn a_peer_registration_does_not_keep_the_old_up_status() {
    // Netflix's rule 3 (keep an existing UP/OUT_OF_SERVICE lease status) is for clients only.
    let r = registry();
    r.register(InstanceInfo::new("X", "x-1", "x-1", "10.0.0.1", 80))
        .unwrap();
    let mut down = InstanceInfo::new("X", "x-1", "x-1", "10.0.0.1", 80);
    down.status = Status::OutOfService;
    down.last_dirty_timestamp += 10;
    r.register_from(down.clone(), Origin::Peer).unwrap();
    assert_eq!(
        r.instance("X", "x-1").unwrap().0.info.status,
        Status::OutOfService
    );
    let mut up = down;
    up.status = Status::Up;
    up.last_dirty_timestamp += 10;
    r.register_from(up.clone(), Origin::Client).unwrap();
    assert_eq!(
        r.instance("X", "x-1").unwrap().0.info.status,
        Status::OutOfService,
        "a client's registration keeps the lease's OUT_OF_SERVICE"
    );
}

#[test]
fn peer_urls() {
    let p = PeerUrl::parse("http://rollcall-1.rollcall:8761/eureka/").unwrap();
    assert_eq!(
        (p.host.as_str(), p.port, p.path.as_str()),
        ("rollcall-1.rollcall", 8761, "/eureka")
    );
    assert_eq!(p.to_string(), "http://rollcall-1.rollcall:8761/eureka");
    let p = PeerUrl::parse("http://[::1]:9000").unwrap();
    assert_eq!(
        (p.host.as_str(), p.port, p.path.as_str()),
        ("::1", 9000, "")
    );
    assert_eq!(PeerUrl::parse("http://peer").unwrap().port, 80);
    assert!(PeerUrl::parse("https://peer:8761/eureka").is_err());
    assert!(PeerUrl::parse("http://peer:x/eureka").is_err());
    assert!(PeerUrl::parse("http://:8761").is_err());
}

#[test]
fn a_queue_keeps_at_most_max_queued_and_hands_out_batches() {
    let outbox = Outbox::new(2);
    for i in 0..(BATCH_ITEMS + 5) {
        outbox.push(OutItem {
            action: Action::Cancel,
            app: "X".into(),
            id: format!("x-{i}"),
            json: String::new(),
        });
    }
    for peer in &outbox.peers {
        assert_eq!(peer.take_batch().len(), BATCH_ITEMS);
        assert_eq!(peer.take_batch().len(), 5);
        assert!(peer.take_batch().is_empty());
    }
}
