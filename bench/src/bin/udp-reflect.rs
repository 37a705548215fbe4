//! `udp-reflect [--port 1054] [--seconds 60]`: the cheapest possible "DNS server" for calibrating
//! the benchmark: one thread, a blocking std UDP socket on 127.0.0.1, and each datagram sent
//! straight back with QR set and RCODE NXDOMAIN (no parsing). dnsperf against it measures the
//! ceiling of this machine's loopback path and of dnsperf itself: no real server can beat it
//! with one recvfrom + one sendto per query. Exits by itself after `--seconds`.

use std::net::UdpSocket;
use std::time::{Duration, Instant};

fn main() {
    let mut port = 1054u16;
    let mut seconds = 60u64;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--port" => port = args.next().and_then(|v| v.parse().ok()).unwrap_or(port),
            "--seconds" => seconds = args.next().and_then(|v| v.parse().ok()).unwrap_or(seconds),
            _ => {
                eprintln!("usage: udp-reflect [--port P] [--seconds S]");
                std::process::exit(2);
            }
        }
    }
    let socket = match UdpSocket::bind(("127.0.0.1", port)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("udp-reflect: bind 127.0.0.1:{port}: {e}");
            std::process::exit(1);
        }
    };
    let _ = socket.set_read_timeout(Some(Duration::from_millis(200)));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut buf = [0u8; 4096];
    let mut answered = 0u64;
    while Instant::now() < deadline {
        let Ok((len, src)) = socket.recv_from(&mut buf) else {
            continue;
        };
        if len < 12 {
            continue;
        }
        buf[2] |= 0x80; // QR
        buf[3] = (buf[3] & 0xf0) | 3; // NXDOMAIN
        if socket.send_to(&buf[..len], src).is_ok() {
            answered += 1;
        }
    }
    println!("udp-reflect: answered {answered} queries");
}
