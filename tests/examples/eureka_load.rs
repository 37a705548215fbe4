//! Registers many Eureka instances fast, for `bench/eureka-bench.sh`: `APPS` applications
//! `BENCH-0000…` with `PER_APP` instances each (`bench-0000-000…`), each a realistic
//! Spring-Cloud-sized JSON registration, sent over `CONNS` keep-alive HTTP/1.1 connections.
//! Every answer must be 204; anything else stops the run with a non-zero exit.
//!
//! ```text
//! cargo run --release -p rollcall-tests --example eureka_load -- \
//!     --addr 127.0.0.1:8761 [--apps 1000] [--per-app 100] [--conns 32] [--prefix /eureka]
//!     [--ids-out FILE]   # also write "APP/ID" lines, the heartbeat paths for wrk
//! ```

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Options {
    addr: SocketAddr,
    apps: usize,
    per_app: usize,
    conns: usize,
    prefix: String,
    ids_out: Option<String>,
}

fn usage() -> ! {
    eprintln!(
        "usage: eureka_load --addr HOST:PORT [--apps N] [--per-app N] [--conns N] [--prefix /eureka] [--ids-out FILE]"
    );
    std::process::exit(2);
}

fn options() -> Options {
    let mut o = Options {
        addr: SocketAddr::from(([127, 0, 0, 1], 8761)),
        apps: 1000,
        per_app: 100,
        conns: 32,
        prefix: "/eureka".to_string(),
        ids_out: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--addr" => o.addr = value.parse().unwrap_or_else(|_| usage()),
            "--apps" => o.apps = value.parse().unwrap_or_else(|_| usage()),
            "--per-app" => o.per_app = value.parse().unwrap_or_else(|_| usage()),
            "--conns" => o.conns = value.parse().unwrap_or_else(|_| usage()),
            "--prefix" => o.prefix = value,
            "--ids-out" => o.ids_out = Some(value),
            _ => usage(),
        }
    }
    o
}

fn app_name(a: usize) -> String {
    format!("BENCH-{a:04}")
}

fn instance_id(a: usize, i: usize) -> String {
    format!("bench-{a:04}-{i:03}")
}

/// A loopback address per instance (only ever data in the registry: nothing connects to it).
fn ip(n: usize) -> String {
    format!("127.{}.{}.{}", 1 + n / 65_536, (n / 256) % 256, n % 256)
}

/// The body a Spring Cloud client sends (same fields, similar sizes).
fn body(a: usize, i: usize, n: usize, now: u128) -> String {
    let app = app_name(a);
    let id = instance_id(a, i);
    let ip = ip(n);
    let vip = app.to_ascii_lowercase();
    serde_json::json!({ "instance": {
        "instanceId": id,
        "hostName": ip,
        "app": app,
        "ipAddr": ip,
        "status": "UP",
        "overriddenStatus": "UNKNOWN",
        "port": {"$": 8080, "@enabled": "true"},
        "securePort": {"$": 443, "@enabled": "false"},
        "countryId": 1,
        "dataCenterInfo": {"@class": "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo", "name": "MyOwn"},
        "leaseInfo": {"renewalIntervalInSecs": 30, "durationInSecs": 90, "registrationTimestamp": 0,
                      "lastRenewalTimestamp": 0, "evictionTimestamp": 0, "serviceUpTimestamp": 0},
        "metadata": {"management.port": "8080", "zone": "zone-a", "version": "1.4.2"},
        "homePageUrl": format!("http://{ip}:8080/"),
        "statusPageUrl": format!("http://{ip}:8080/actuator/info"),
        "healthCheckUrl": format!("http://{ip}:8080/actuator/health"),
        "vipAddress": vip,
        "secureVipAddress": vip,
        "isCoordinatingDiscoveryServer": "false",
        "lastUpdatedTimestamp": now.to_string(),
        "lastDirtyTimestamp": now.to_string()
    }})
    .to_string()
}

/// Reads one response; returns its status code. Handles Content-Length bodies (204 has none).
async fn read_response(stream: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<u16> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let status: u16 = head
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            let len: usize = head
                .lines()
                .filter_map(|l| l.split_once(':'))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.trim().parse().ok())
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let mut chunk = [0u8; 4096];
                let n = stream.read(&mut chunk).await?;
                if n == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            buf.drain(..end + 4 + len);
            return Ok(status);
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

async fn worker(o: Arc<Options>, next: Arc<AtomicUsize>, now: u128) -> Result<usize, String> {
    let total = o.apps * o.per_app;
    let mut stream = TcpStream::connect(o.addr)
        .await
        .map_err(|e| format!("connect {}: {e}", o.addr))?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let mut buf = Vec::with_capacity(8192);
    let mut done = 0;
    loop {
        let n = next.fetch_add(1, Ordering::Relaxed);
        if n >= total {
            return Ok(done);
        }
        let (a, i) = (n % o.apps, n / o.apps);
        let payload = body(a, i, n, now);
        let request = format!(
            "POST {}/apps/{} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nAccept-Encoding: gzip\r\nContent-Length: {}\r\n\r\n{payload}",
            o.prefix,
            app_name(a),
            o.addr,
            payload.len()
        );
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| format!("write: {e}"))?;
        let status = read_response(&mut stream, &mut buf)
            .await
            .map_err(|e| format!("read: {e}"))?;
        if status != 204 {
            return Err(format!(
                "registering {}/{} answered {status}, expected 204",
                app_name(a),
                instance_id(a, i)
            ));
        }
        done += 1;
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let o = Arc::new(options());
    let total = o.apps * o.per_app;
    if let Some(path) = &o.ids_out {
        let mut lines = String::with_capacity(total * 32);
        // Instance-major order, so consecutive heartbeats hit different apps as real ones do.
        for n in 0..total {
            let (a, i) = (n % o.apps, n / o.apps);
            lines.push_str(&format!("{}/{}\n", app_name(a), instance_id(a, i)));
        }
        std::fs::write(path, lines).unwrap_or_else(|e| panic!("writing {path}: {e}"));
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let tasks: Vec<_> = (0..o.conns)
        .map(|_| tokio::spawn(worker(o.clone(), next.clone(), now)))
        .collect();
    let mut registered = 0;
    let mut failures = Vec::new();
    for t in tasks {
        match t.await {
            Ok(Ok(n)) => registered += n,
            Ok(Err(e)) => failures.push(e),
            Err(e) => failures.push(e.to_string()),
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "registered {registered} instances in {} apps in {secs:.2} s ({:.0}/s) over {} connections",
        o.apps,
        registered as f64 / secs,
        o.conns
    );
    if !failures.is_empty() || registered != total {
        eprintln!(
            "FAILED: {registered} of {total} registered; errors: {:?}",
            &failures[..failures.len().min(5)]
        );
        std::process::exit(1);
    }
}
