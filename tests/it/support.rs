//! Shared test plumbing: start a server from a fixture directory, ask it questions in-process,
//! with hickory's client over UDP and TCP, and with dig; render every answer the same way.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_net::client::{Client, ClientHandle};
use hickory_net::runtime::TokioRuntimeProvider;
use hickory_net::tcp::TcpClientStream;
use hickory_net::udp::UdpClientStream;
use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use rollcall::contract::Transport;
use rollcall::server::Running;
use rollcall::server::dispatch::Dispatcher;
use tokio_util::sync::CancellationToken;

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// A server running in this test process on 127.0.0.1 with an ephemeral port.
pub struct TestServer {
    pub addr: SocketAddr,
    /// Non-DNS listeners plugins bound, e.g. ("eureka", 127.0.0.1:PORT).
    pub other_listeners: Vec<(&'static str, SocketAddr)>,
    pub dispatcher: Arc<Dispatcher>,
    shutdown: CancellationToken,
    _running: Running,
}

impl TestServer {
    /// Serve `dir/Corefile` (paths in it relative to `dir`); waits until every source synced.
    pub async fn start(dir: &Path) -> TestServer {
        let text = std::fs::read_to_string(dir.join("Corefile")).expect("fixture Corefile");
        TestServer::start_text(&text, dir).await
    }

    pub async fn start_text(corefile: &str, dir: &Path) -> TestServer {
        let options = corefile::ParseOptions::with_env(|_| None);
        let setup = rollcall::load_corefile_str(corefile, "Corefile", dir, &options, 0)
            .unwrap_or_else(|e| panic!("fixture Corefile: {e}"));
        let shutdown = CancellationToken::new();
        let running = rollcall::server::start(setup, shutdown.clone(), 2)
            .await
            .expect("server starts");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !running.is_ready() {
            assert!(
                Instant::now() < deadline,
                "sources did not sync within 10 s"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let (addr, dispatcher) = running.dispatchers[0].clone();
        TestServer {
            addr,
            other_listeners: running.other_listeners.clone(),
            dispatcher,
            shutdown,
            _running: running,
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The address a plugin's own listener bound (`eureka`, `prometheus`, ...).
    pub fn listener(&self, what: &str) -> SocketAddr {
        self.other_listeners
            .iter()
            .find(|(w, _)| *w == what)
            .map(|(_, a)| *a)
            .unwrap_or_else(|| panic!("{what} bound no listener: {:?}", self.other_listeners))
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// An answer reduced to what the golden files compare: rcode, AA, and sorted sections.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Answer {
    pub rcode: String,
    pub aa: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub answer: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authority: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub additional: Vec<String>,
}

pub fn parse_question(q: &str) -> (Name, RecordType) {
    let (name, qtype) = q.rsplit_once(' ').expect("question is NAME TYPE");
    let name = Name::from_ascii(name).expect("question name");
    let qtype: RecordType = qtype.parse().expect("question type");
    (name, qtype)
}

pub fn query_bytes(name: &Name, qtype: RecordType, id: u16) -> Vec<u8> {
    let mut msg = Message::new(id, MessageType::Query, OpCode::Query);
    msg.metadata.recursion_desired = true;
    msg.add_query(Query::query(name.clone(), qtype));
    msg.to_vec().expect("encode query")
}

pub fn render_record(r: &Record) -> String {
    let data = match &r.data {
        RData::SOA(soa) => format!(
            "{} {} SERIAL {} {} {} {}",
            soa.mname, soa.rname, soa.refresh, soa.retry, soa.expire, soa.minimum
        ),
        RData::TXT(txt) => txt.to_string().trim_matches('"').to_string(),
        other => other.to_string(),
    };
    format!("{} {} IN {} {}", r.name, r.ttl, r.record_type(), data)
}

pub fn render(msg: &Message) -> Answer {
    let section = |records: &[Record]| {
        let mut v: Vec<String> = records
            .iter()
            .filter(|r| r.record_type() != RecordType::OPT)
            .map(render_record)
            .collect();
        v.sort();
        v
    };
    Answer {
        rcode: rcode_name(u16::from(msg.metadata.response_code)),
        aa: msg.metadata.authoritative,
        answer: section(&msg.answers),
        authority: section(&msg.authorities),
        additional: section(&msg.additionals),
    }
}

/// The mnemonic dig prints for an RCODE.
pub fn rcode_name(code: u16) -> String {
    match code {
        0 => "NOERROR".into(),
        1 => "FORMERR".into(),
        2 => "SERVFAIL".into(),
        3 => "NXDOMAIN".into(),
        4 => "NOTIMP".into(),
        5 => "REFUSED".into(),
        16 => "BADVERS".into(),
        other => format!("RCODE{other}"),
    }
}

pub async fn ask_in_process(server: &TestServer, q: &str) -> Answer {
    let (name, qtype) = parse_question(q);
    let bytes = query_bytes(&name, qtype, 7);
    let reply = server
        .dispatcher
        .respond(
            &bytes,
            "127.0.0.1:5353".parse().expect("addr"),
            Transport::Udp,
        )
        .await
        .expect("a reply");
    render(&Message::from_vec(&reply).expect("decodable reply"))
}

pub async fn ask_hickory(addr: SocketAddr, q: &str, transport: Transport) -> Answer {
    let (name, qtype) = parse_question(q);
    let provider = TokioRuntimeProvider::default();
    let response = match transport {
        Transport::Udp => {
            let stream = UdpClientStream::builder(addr, provider).build();
            let (mut client, bg) = Client::<TokioRuntimeProvider>::from_sender(stream);
            tokio::spawn(bg);
            client.query(name, DNSClass::IN, qtype).await
        }
        Transport::Tcp => {
            let (stream, handle) =
                TcpClientStream::new(addr, None, Some(Duration::from_secs(5)), provider);
            let stream = stream.await.expect("tcp connect");
            let (mut client, bg) = Client::<TokioRuntimeProvider>::new(stream, handle);
            tokio::spawn(bg);
            client.query(name, DNSClass::IN, qtype).await
        }
    };
    let response = response.unwrap_or_else(|e| panic!("hickory {transport:?} query {q}: {e}"));
    render(&response)
}

/// Ask with dig (BIND's client); panics with a clear message when dig is not installed.
pub fn ask_dig(addr: SocketAddr, q: &str, tcp: bool) -> Answer {
    ask_dig_from(None, addr, q, tcp)
}

/// [`ask_dig`] from a chosen source address (`dig -b`), as a given pod would ask.
pub fn ask_dig_from(
    source: Option<std::net::IpAddr>,
    addr: SocketAddr,
    q: &str,
    tcp: bool,
) -> Answer {
    let (name, qtype) = q.rsplit_once(' ').expect("NAME TYPE");
    let mut cmd = Command::new("dig");
    if let Some(source) = source {
        cmd.arg("-b").arg(source.to_string());
    }
    cmd.arg(format!("@{}", addr.ip()))
        .arg("-p")
        .arg(addr.port().to_string())
        .args([
            "+noall",
            "+comments",
            "+answer",
            "+authority",
            "+additional",
            "+time=3",
            "+tries=1",
        ])
        .arg(if tcp { "+tcp" } else { "+notcp" })
        .arg(name)
        .arg(qtype);
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running dig (install dnsutils; .ci/run does): {e}"));
    let text = String::from_utf8_lossy(&out.stdout);
    if text.contains("connection timed out") || text.contains("communications error") {
        return Answer {
            rcode: "TIMEOUT".into(),
            aa: false,
            answer: vec![],
            authority: vec![],
            additional: vec![],
        };
    }
    parse_dig(&text).unwrap_or_else(|| panic!("unparseable dig output for {q}:\n{text}"))
}

pub fn parse_dig(text: &str) -> Option<Answer> {
    let mut rcode = None;
    let mut aa = false;
    let mut section = "";
    let (mut answer, mut authority, mut additional) = (vec![], vec![], vec![]);
    for line in text.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix(";; ->>HEADER<<-") {
            rcode = rest
                .split(',')
                .find_map(|p| p.trim().strip_prefix("status: "))
                .map(str::to_string);
        } else if let Some(rest) = line.strip_prefix(";; flags:") {
            let flags = rest.split(';').next().unwrap_or("");
            aa = flags.split_whitespace().any(|f| f == "aa");
        } else if line.starts_with(";; ANSWER SECTION") {
            section = "answer";
        } else if line.starts_with(";; AUTHORITY SECTION") {
            section = "authority";
        } else if line.starts_with(";; ADDITIONAL SECTION") {
            section = "additional";
        } else if line.starts_with(';') || line.is_empty() {
            if line.starts_with(";; OPT") {
                section = "";
            }
        } else {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 5 {
                continue;
            }
            let mut data: Vec<String> = fields[4..]
                .iter()
                .map(|s| s.trim_matches('"').to_string())
                .collect();
            if fields[3] == "SOA" && data.len() == 7 {
                data[2] = "SERIAL".into();
            }
            let rendered = format!(
                "{} {} {} {} {}",
                fields[0],
                fields[1],
                fields[2],
                fields[3],
                data.join(" ")
            );
            match section {
                "answer" => answer.push(rendered),
                "authority" => authority.push(rendered),
                "additional" => additional.push(rendered),
                _ => {}
            }
        }
    }
    answer.sort();
    authority.sort();
    additional.sort();
    Some(Answer {
        rcode: rcode?,
        aa,
        answer,
        authority,
        additional,
    })
}

/// The release (or debug) `rollcall` binary: `ROLLCALL_BIN` when set (test.sh sets it), else
/// the workspace's target directory.
pub fn rollcall_bin() -> PathBuf {
    if let Ok(path) = std::env::var("ROLLCALL_BIN") {
        return PathBuf::from(path);
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    // The newer of the two builds, so a stale release binary never shadows fresh work.
    let newest = ["release", "debug"]
        .iter()
        .map(|profile| target.join(profile).join("rollcall"))
        .filter_map(|p| {
            std::fs::metadata(&p)
                .and_then(|m| m.modified())
                .ok()
                .map(|t| (t, p))
        })
        .max();
    if let Some((_, path)) = newest {
        return path;
    }
    panic!(
        "no rollcall binary: run `cargo build --release -p rollcall` or set ROLLCALL_BIN (test.sh does)"
    );
}

/// A unique scratch directory under the system temp dir.
pub fn scratch_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "rollcall-test-{tag}-{}-{}",
        std::process::id(),
        Instant::now().elapsed().as_nanos() ^ u128::from(rand_u32())
    ));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn rand_u32() -> u32 {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let mut h = RandomState::new().build_hasher();
    h.write_u8(1);
    h.finish() as u32
}

/// Write via a temporary file and rename, as editors, kubectl-style tools and ConfigMap updates do.
pub fn write_atomically(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp~");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// A ClusterIP Service `name` in namespace `apps`, as a manifest.
pub fn service_manifest(name: &str, ip: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: apps}}\nspec: {{clusterIP: {ip}}}\n"
    )
}
