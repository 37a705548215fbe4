//! The dashboard at `GET /` as a person sees it: the real binary, instances registered through
//! the REST API, the page loaded in headless Chromium (Debian's `chromium`, installed by
//! `.ci/run`). Asserts the DOM after the page's script ran — the apps, each instance with its
//! status and lease age, renewals in the last minute, the self-preservation state, and one
//! auto-refresh having replaced the content — and writes `tests/artifacts/dashboard.png`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::eureka_clients::Rollcall;
use crate::http::request;
use crate::support::scratch_dir;

const CHROMIUM: &str = "chromium";

/// Runs headless Chromium on `url` with `extra` (e.g. `--dump-dom`); returns its stdout.
fn chromium(url: &str, extra: &[String]) -> String {
    let profile = scratch_dir("chromium-profile");
    let mut child = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run `{CHROMIUM}` ({e}): install Debian's chromium package (.ci/run does)"
            )
        });
    // Read both pipes on threads so a chatty browser cannot block on a full pipe.
    let mut stdout = child.stdout.take().expect("stdout pipe");
    let mut stderr = child.stderr.take().expect("stderr pipe");
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(status) = child.try_wait().expect("poll chromium") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium {extra:?} {url} did not finish within 90 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    let _ = std::fs::remove_dir_all(&profile);
    assert!(
        status.success(),
        "chromium {extra:?} {url} failed ({status}):\n{stderr}"
    );
    stdout
}

/// The page's text with tags removed and whitespace collapsed.
fn text_of(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => {
                in_tag = true;
                out.push(' ');
            }
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    let out = out
        .replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&nbsp;", " ")
        .replace("&#39;", "'")
        .replace("&quot;", "\"");
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The innermost `<tr>…</tr>` of `html` that contains `needle`.
fn row_with<'a>(html: &'a str, needle: &str) -> Option<&'a str> {
    let at = html.find(needle)?;
    let start = html[..at].rfind("<tr")?;
    let end = at + html[at..].find("</tr>")? + "</tr>".len();
    Some(&html[start..end])
}

/// The element with `id="<id>"` up to its first closing tag: its own text.
fn element_text(html: &str, id: &str) -> Option<String> {
    let at = html.find(&format!("id=\"{id}\""))?;
    let open_end = at + html[at..].find('>')? + 1;
    let close = open_end + html[open_end..].find('<')?;
    Some(html[open_end..close].trim().to_string())
}

/// The first number after `label` in `text`.
fn number_after(text: &str, label: &str) -> Option<u64> {
    let at = text.find(label)? + label.len();
    text[at..]
        .split(|c: char| !c.is_ascii_digit())
        .find(|s| !s.is_empty())?
        .parse()
        .ok()
}

fn has_age(text: &str) -> bool {
    // "4s ago", "3m 02s ago", "5h 07m ago" …
    text.split(" ago").next().is_some_and(|before| {
        before
            .split_whitespace()
            .last()
            .is_some_and(|w| w.len() > 1 && w[..w.len() - 1].chars().all(|c| c.is_ascii_digit()))
    })
}

async fn register(http: SocketAddr, app: &str, id: &str, ip: &str, port: u16) {
    let body = serde_json::json!({ "instance": {
        "instanceId": id, "hostName": ip, "app": app, "ipAddr": ip, "status": "UP",
        "port": {"$": port, "@enabled": "true"},
        "dataCenterInfo": {"@class": "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo", "name": "MyOwn"},
        "leaseInfo": {"renewalIntervalInSecs": 30, "durationInSecs": 90},
        "statusPageUrl": format!("http://{ip}:{port}/info"),
        "vipAddress": app.to_ascii_lowercase(),
    }});
    let r = request(
        http,
        "POST",
        &format!("/eureka/apps/{app}"),
        &[("Content-Type", "application/json")],
        body.to_string().as_bytes(),
    )
    .await;
    assert_eq!(r.status, 204, "registering {app}/{id}: {}", r.text());
}

fn artifact(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("artifacts");
    std::fs::create_dir_all(&dir).expect("tests/artifacts");
    dir.join(name)
}

#[test]
fn dashboard_shows_registered_instances_in_headless_chromium() {
    let server = Rollcall::start("dashboard", "registry.test", "");
    let http = server.http;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        register(http, "ORDERS", "orders-1", "127.0.30.1", 8080).await;
        register(http, "ORDERS", "orders-2", "127.0.30.2", 8080).await;
        register(http, "billing", "billing-1", "127.0.30.3", 9090).await;
        let oos = "/eureka/apps/ORDERS/orders-2/status?value=OUT_OF_SERVICE";
        assert_eq!(request(http, "PUT", oos, &[], b"").await.status, 200);
        for _ in 0..3 {
            let r = request(http, "PUT", "/eureka/apps/ORDERS/orders-1", &[], b"").await;
            assert_eq!(r.status, 200, "heartbeat: {}", r.text());
        }
        let page = request(http, "GET", "/", &[], b"").await;
        assert_eq!(page.status, 200, "GET /: {}", page.text());
        let content_type = page.header("content-type").unwrap_or_default();
        assert!(
            content_type.starts_with("text/html"),
            "GET / is served as {content_type:?}, not text/html"
        );
    });
    let url = format!("{}/", server.base_url());

    // The DOM once the page's script ran (the budget of virtual time the brief gives).
    let dom = chromium(
        &url,
        &["--virtual-time-budget=3000".into(), "--dump-dom".into()],
    );
    let text = text_of(&dom);
    assert!(dom.contains("<html"), "--dump-dom gave no page:\n{dom}");
    for app in ["ORDERS", "BILLING"] {
        assert!(
            text.contains(app),
            "the dashboard does not show app {app}:\n{text}"
        );
    }
    let up = row_with(&dom, "orders-1").map(text_of).unwrap_or_default();
    assert!(
        up.contains("orders-1")
            && up.contains("127.0.30.1")
            && up.split_whitespace().any(|w| w == "UP"),
        "the row of orders-1 does not show it UP: {up:?}"
    );
    assert!(
        has_age(&up),
        "the row of orders-1 shows no lease age (`Ns ago`): {up:?}"
    );
    let oos = row_with(&dom, "orders-2").map(text_of).unwrap_or_default();
    assert!(
        oos.contains("OUT_OF_SERVICE") && !oos.split_whitespace().any(|w| w == "UP"),
        "the row of orders-2 does not show it OUT_OF_SERVICE: {oos:?}"
    );
    let billing = row_with(&dom, "billing-1").map(text_of).unwrap_or_default();
    assert!(
        billing.split_whitespace().any(|w| w == "UP"),
        "the row of billing-1 does not show it UP: {billing:?}"
    );
    let lower = text.to_ascii_lowercase();
    assert!(
        lower.contains("self-preservation") || lower.contains("self preservation"),
        "the dashboard does not show the self-preservation state:\n{text}"
    );
    let renews = number_after(&text, "Renews (last min)");
    assert!(
        renews.is_some_and(|n| n >= 3),
        "the dashboard does not show the 3 renewals of the last minute (got {renews:?}):\n{text}"
    );

    // Auto-refresh: with enough virtual time the page re-fetches itself and swaps the content in.
    let later = chromium(
        &url,
        &["--virtual-time-budget=12000".into(), "--dump-dom".into()],
    );
    let state = element_text(&later, "refresh-state").unwrap_or_default();
    assert!(
        state.starts_with("updated"),
        "the page did not auto-refresh within 12 s of virtual time (refresh state {state:?})"
    );
    assert!(
        text_of(&later).contains("orders-1"),
        "the refreshed page lost the instances:\n{}",
        text_of(&later)
    );

    // The screenshot, as the brief starts Chromium for it.
    let png = artifact("dashboard.png");
    let _ = std::fs::remove_file(&png);
    chromium(
        &url,
        &[
            format!("--screenshot={}", png.display()),
            "--window-size=1280,900".into(),
            "--virtual-time-budget=3000".into(),
        ],
    );
    let bytes = std::fs::read(&png).unwrap_or_default();
    assert!(
        bytes.len() > 10_000 && bytes.starts_with(b"\x89PNG"),
        "chromium wrote no screenshot at {} ({} bytes)",
        png.display(),
        bytes.len()
    );
}
