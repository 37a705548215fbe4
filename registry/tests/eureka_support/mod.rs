//! Shared helpers of the Eureka API tests: a server on 127.0.0.1:0 with a manual clock, a tiny
//! HTTP/1.1 client over a TCP stream, and JSON / XML helpers.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::net::SocketAddr;
use std::sync::Arc;

use registry::eureka::{EurekaConfig, EurekaRegistry, ManualClock, serve};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

pub const T0: u64 = 1_700_000_000_000;

pub struct Server {
    pub addr: SocketAddr,
    pub registry: EurekaRegistry,
    pub clock: Arc<ManualClock>,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    pub async fn start(config: EurekaConfig) -> Server {
        let clock = Arc::new(ManualClock::new(T0));
        let registry = EurekaRegistry::with_clock(config, clock.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(serve(
            registry.clone(),
            std::sync::Arc::new(listener),
            shutdown.clone(),
        ));
        Server {
            addr,
            registry,
            clock,
            shutdown,
            task,
        }
    }

    pub async fn default() -> Server {
        Server::start(EurekaConfig::default()).await
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.unwrap().unwrap();
    }

    pub async fn req(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Resp {
        request(self.addr, method, path, headers, body).await
    }

    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Resp {
        self.req("GET", path, headers, b"").await
    }

    pub async fn get_json(&self, path: &str) -> Resp {
        self.get(path, &[("Accept", "application/json")]).await
    }

    pub async fn put(&self, path: &str) -> Resp {
        self.req("PUT", path, &[], b"").await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.req("DELETE", path, &[], b"").await
    }

    /// POSTs `{"instance": instance}` as JSON.
    pub async fn register(&self, prefix: &str, app: &str, instance: &Value) -> Resp {
        let body = serde_json::to_vec(&json!({ "instance": instance })).unwrap();
        self.req(
            "POST",
            &format!("{prefix}/apps/{app}"),
            &[("Content-Type", "application/json")],
            &body,
        )
        .await
    }
}

/// A typical registration, shaped like py-eureka-client's.
pub fn instance(app: &str, id: &str, ip: &str, port: u16) -> Value {
    json!({
        "instanceId": id,
        "hostName": ip,
        "app": app.to_uppercase(),
        "ipAddr": ip,
        "status": "UP",
        "overriddenstatus": "UNKNOWN",
        "port": {"$": port, "@enabled": "true"},
        "securePort": {"$": 443, "@enabled": "false"},
        "countryId": 1,
        "dataCenterInfo": {"@class": "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo", "name": "MyOwn"},
        "leaseInfo": {"renewalIntervalInSecs": 30, "durationInSecs": 90},
        "metadata": {"management.port": port.to_string()},
        "homePageUrl": format!("http://{ip}:{port}/"),
        "statusPageUrl": format!("http://{ip}:{port}/info"),
        "healthCheckUrl": format!("http://{ip}:{port}/health"),
        "vipAddress": app.to_lowercase(),
        "secureVipAddress": app.to_lowercase(),
        "isCoordinatingDiscoveryServer": "false",
        "lastUpdatedTimestamp": T0.to_string(),
        "lastDirtyTimestamp": T0.to_string(),
    })
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// The body as sent (still gzipped when Content-Encoding says so).
    pub raw: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body, gunzipped when it is gzip-encoded.
    pub fn body(&self) -> Vec<u8> {
        if self.header("content-encoding") == Some("gzip") {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&self.raw[..])
                .read_to_end(&mut out)
                .unwrap();
            out
        } else {
            self.raw.clone()
        }
    }

    pub fn text(&self) -> String {
        String::from_utf8(self.body()).unwrap()
    }

    pub fn json(&self) -> Value {
        assert_eq!(
            self.header("content-type"),
            Some("application/json"),
            "status {} body {}",
            self.status,
            self.text()
        );
        serde_json::from_slice(&self.body()).unwrap()
    }

    pub fn xml(&self) -> XmlNode {
        assert_eq!(
            self.header("content-type"),
            Some("application/xml"),
            "status {} body {}",
            self.status,
            self.text()
        );
        parse_xml(&self.text())
    }
}

pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Resp {
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    let chunked = headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("transfer-encoding"));
    if !chunked && (!body.is_empty() || method == "POST" || method == "PUT") {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body);
    let mut resp = raw_request(addr, &bytes).await;
    if method == "HEAD" {
        resp.raw.clear();
    }
    resp
}

pub async fn raw_request(addr: SocketAddr, bytes: &[u8]) -> Resp {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    let mut buf = Vec::new();
    // The server may answer (and close) before reading a rejected body: a reset is fine then.
    let _ = stream.read_to_end(&mut buf).await;
    parse_response(&buf)
}

fn parse_response(buf: &[u8]) -> Resp {
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(buf)));
    let head = std::str::from_utf8(&buf[..split]).unwrap();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status: u16 = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap();
            (k.trim().to_string(), v.trim().to_string())
        })
        .collect();
    let body = &buf[split + 4..];
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    let raw = if chunked {
        dechunk(body)
    } else {
        body.to_vec()
    };
    if let Some((_, len)) = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        && !raw.is_empty()
    {
        assert_eq!(len.parse::<usize>().unwrap(), raw.len(), "Content-Length");
    }
    Resp {
        status,
        headers,
        raw,
    }
}

fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = body.windows(2).position(|w| w == b"\r\n").unwrap();
        let size_str = std::str::from_utf8(&body[..line_end]).unwrap();
        let size = usize::from_str_radix(size_str.split(';').next().unwrap().trim(), 16).unwrap();
        body = &body[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&body[..size]);
        body = &body[size + 2..];
    }
}

/// A parsed XML element.
#[derive(Debug, Clone, PartialEq)]
pub struct XmlNode {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<XmlNode>,
    pub text: String,
}

impl XmlNode {
    pub fn child(&self, name: &str) -> &XmlNode {
        self.children
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("<{}> has no <{name}>: {self:?}", self.name))
    }

    pub fn opt(&self, name: &str) -> Option<&XmlNode> {
        self.children.iter().find(|c| c.name == name)
    }

    pub fn all(&self, name: &str) -> Vec<&XmlNode> {
        self.children.iter().filter(|c| c.name == name).collect()
    }

    pub fn text_of(&self, name: &str) -> &str {
        &self.child(name).text
    }

    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

pub fn parse_xml(text: &str) -> XmlNode {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(text);
    let mut stack: Vec<XmlNode> = Vec::new();
    let mut root = None;
    let node = |e: &quick_xml::events::BytesStart<'_>| XmlNode {
        name: String::from_utf8(e.name().as_ref().to_vec()).unwrap(),
        attrs: e
            .attributes()
            .map(|a| {
                let a = a.unwrap();
                (
                    String::from_utf8(a.key.as_ref().to_vec()).unwrap(),
                    a.unescape_value().unwrap().into_owned(),
                )
            })
            .collect(),
        children: Vec::new(),
        text: String::new(),
    };
    loop {
        match reader.read_event().unwrap() {
            Event::Start(e) => stack.push(node(&e)),
            Event::Empty(e) => {
                let n = node(&e);
                match stack.last_mut() {
                    Some(p) => p.children.push(n),
                    None => root = Some(n),
                }
            }
            Event::End(_) => {
                let n = stack.pop().unwrap();
                match stack.last_mut() {
                    Some(p) => p.children.push(n),
                    None => root = Some(n),
                }
            }
            Event::Text(t) => {
                if let Some(p) = stack.last_mut() {
                    p.text.push_str(&t.xml10_content().unwrap());
                }
            }
            Event::GeneralRef(r) => {
                let s = match r.resolve_char_ref().unwrap() {
                    Some(c) => c.to_string(),
                    None => match r.decode().unwrap().as_ref() {
                        "lt" => "<".into(),
                        "gt" => ">".into(),
                        "amp" => "&".into(),
                        "quot" => "\"".into(),
                        "apos" => "'".into(),
                        other => panic!("entity {other}"),
                    },
                };
                if let Some(p) = stack.last_mut() {
                    p.text.push_str(&s);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    root.expect("an XML root element")
}

/// `applications.application[*]` of a JSON listing.
pub fn json_apps(v: &Value) -> &Vec<Value> {
    v["applications"]["application"]
        .as_array()
        .expect("application is an array")
}

/// The instances of app `name` in a JSON listing.
pub fn json_instances<'a>(v: &'a Value, name: &str) -> Vec<&'a Value> {
    json_apps(v)
        .iter()
        .filter(|a| a["name"] == name)
        .flat_map(|a| {
            a["instance"]
                .as_array()
                .expect("instance is an array")
                .iter()
        })
        .collect()
}
