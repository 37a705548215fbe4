//! A performance smoke test at the bench's scale (100,000 instances). Ignored by default; run
//! with `cargo test --release -p registry --test eureka_perf -- --ignored --nocapture`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod eureka_support;

use std::time::{Duration, Instant};

use eureka_support::*;
use registry::eureka::InstanceInfo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Named so that `cargo test -p registry eureka` selects these tests.
mod eureka {
    use super::*;

    fn p(mut v: Vec<Duration>, q: f64) -> Duration {
        v.sort();
        v[((v.len() as f64 - 1.0) * q).round() as usize]
    }

    async fn keepalive_put(stream: &mut TcpStream, path: &str) -> u16 {
        let req = format!("PUT {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
        stream.write_all(req.as_bytes()).await.unwrap();
        let mut buf = Vec::with_capacity(256);
        let mut byte = [0u8; 256];
        loop {
            let n = stream.read(&mut byte).await.unwrap();
            assert!(n > 0);
            buf.extend_from_slice(&byte[..n]);
            if buf.windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
        std::str::from_utf8(&buf[9..12]).unwrap().parse().unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "performance smoke test; run in release with --ignored"]
    async fn hundred_thousand_instances() {
        let s = Server::default().await;
        let t = Instant::now();
        for a in 0..1000 {
            for i in 0..100 {
                let app = format!("SERVICE-{a:04}");
                let ip = format!("10.{}.{}.{}", a / 256, a % 256, i + 1);
                let id = format!("{ip}:{}:8080", app.to_lowercase());
                let mut info = InstanceInfo::new(&app, &id, &ip, &ip, 8080);
                info.metadata = vec![
                    ("management.port".into(), "8080".into()),
                    ("zone".into(), "eu-west-1a".into()),
                ];
                info.home_page_url = Some(format!("http://{ip}:8080/"));
                info.status_page_url = Some(format!("http://{ip}:8080/actuator/info"));
                info.health_check_url = Some(format!("http://{ip}:8080/actuator/health"));
                info.secure_vip_address = info.vip_address.clone();
                s.registry.register(info).unwrap();
            }
        }
        println!("register 100k: {:?}", t.elapsed());

        let headers = [("Accept", "application/json"), ("Accept-Encoding", "gzip")];
        let t = Instant::now();
        let r = s.get("/eureka/apps/", &headers).await;
        println!(
            "full GET json+gzip, cold: {:?}, {} bytes gzipped, {} plain",
            t.elapsed(),
            r.raw.len(),
            r.body().len()
        );
        let mut times = Vec::new();
        for _ in 0..10 {
            let t = Instant::now();
            let r = s.get("/eureka/apps/", &headers).await;
            times.push(t.elapsed());
            assert_eq!(r.status, 200);
        }
        println!("full GET json+gzip, warm: p50 {:?}", p(times, 0.5));
        let mut times = Vec::new();
        for n in 0..10 {
            // Some churn between reads.
            for k in 0..20 {
                let a = (n * 37 + k * 101) % 1000;
                let path = format!(
                    "/eureka/apps/SERVICE-{a:04}/10.{}.{}.1:service-{a:04}:8080/status?value={}",
                    a / 256,
                    a % 256,
                    if n % 2 == 0 { "OUT_OF_SERVICE" } else { "UP" }
                );
                assert_eq!(s.put(&path).await.status, 200);
            }
            let t = Instant::now();
            let r = s.get("/eureka/apps/", &headers).await;
            times.push(t.elapsed());
            assert_eq!(r.status, 200);
        }
        println!(
            "full GET json+gzip after 20 changes: p50 {:?}",
            p(times, 0.5)
        );
        let mut times = Vec::new();
        for _ in 0..20 {
            let t = Instant::now();
            let r = s.get("/eureka/apps/delta", &headers).await;
            times.push(t.elapsed());
            assert_eq!(r.status, 200);
        }
        println!("delta GET json+gzip: p50 {:?}", p(times, 0.5));
        assert_eq!(
            s.put("/eureka/apps/SERVICE-0001/10.0.1.1:service-0001:8080/status?value=DOWN")
                .await
                .status,
            200
        );
        let t = Instant::now();
        let r = s.get("/eureka/apps/delta", &headers).await;
        println!(
            "delta GET json+gzip right after a change (whole registry in the queue): {:?}, {} bytes",
            t.elapsed(),
            r.raw.len()
        );
        let t = Instant::now();
        let r = s.get("/eureka/apps/", &[]).await;
        println!(
            "full GET xml plain: {:?}, {} bytes",
            t.elapsed(),
            r.raw.len()
        );

        // Heartbeats over keep-alive connections.
        let mut stream = TcpStream::connect(s.addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        let mut times = Vec::new();
        let t0 = Instant::now();
        for n in 0..3300u32 {
            let a = n % 1000;
            let i = n / 1000 + 1;
            let path = format!(
                "/eureka/apps/SERVICE-{a:04}/10.{}.{}.{i}:service-{a:04}:8080?status=UP&lastDirtyTimestamp=0",
                a / 256,
                a % 256
            );
            let t = Instant::now();
            assert_eq!(keepalive_put(&mut stream, &path).await, 200);
            times.push(t.elapsed());
        }
        println!(
            "3300 heartbeats in {:?}: p50 {:?} p99 {:?}",
            t0.elapsed(),
            p(times.clone(), 0.5),
            p(times, 0.99)
        );
        let t = Instant::now();
        let mut found = 0;
        for a in 0..100_000u32 {
            if s.registry
                .dns_app(&format!("service-{:04}", a % 1000))
                .is_some()
            {
                found += 1;
            }
        }
        println!("100k dns_app lookups: {:?} ({found} found)", t.elapsed());
        s.stop().await;
    }
}
