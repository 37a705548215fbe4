//! `manifests::run` against a live temp directory: every change reaches the store within a second,
//! a broken edit keeps the old objects (and is logged), a missing directory is picked up later.
//! Every wait polls the store with a deadline; nothing sleeps blindly.

// Test helpers outside #[test] functions may fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::future::Future;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Mutex, Once};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use registry::source::filter::Filter;
use registry::source::manifests;
use registry::store::{ObjectKind, Store, StoreWriter};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The promise: a change is in the store within a second.
const WITHIN: Duration = Duration::from_secs(1);

// ---- a tracing subscriber that keeps INFO and above, to check what was logged ----

static LOGS: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Capture;

struct Fields(String);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!(" {}={:?}", field.name(), value));
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, metadata: &tracing::Metadata<'_>) -> bool {
        *metadata.level() <= tracing::Level::INFO
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut fields = Fields(event.metadata().level().to_string());
        event.record(&mut fields);
        LOGS.lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(fields.0);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

fn capture_logs() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        tracing::subscriber::set_global_default(Capture).expect("set subscriber");
    });
}

fn logged(needles: &[&str]) -> bool {
    log_count(needles) > 0
}

fn log_count(needles: &[&str]) -> usize {
    LOGS.lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .filter(|line| needles.iter().all(|n| line.contains(n)))
        .count()
}

// ---- fixtures ----

struct TempDir(PathBuf);

impl TempDir {
    fn path(name: &str) -> PathBuf {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        std::env::temp_dir().join(format!(
            "rollcall-manifests-{name}-{}-{nanos}",
            std::process::id()
        ))
    }

    fn new(name: &str) -> TempDir {
        let dir = TempDir(Self::path(name));
        fs::create_dir_all(&dir.0).expect("mkdir");
        dir
    }

    fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn svc(name: &str, ip: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: apps}}\nspec: {{clusterIP: \"{ip}\"}}\n"
    )
}

struct Running {
    store: Store,
    shutdown: CancellationToken,
    task: JoinHandle<()>,
}

impl Running {
    async fn start(dir: PathBuf) -> Running {
        capture_logs();
        let writer = StoreWriter::new();
        let store = writer.reader();
        let token = writer.register_source("manifests");
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(manifests::run(
            dir,
            Filter::default(),
            writer,
            token,
            shutdown.clone(),
        ));
        let s = store.clone();
        wait_for("the first load", WITHIN, move || s.is_synced()).await;
        Running {
            store,
            shutdown,
            task,
        }
    }

    fn ip(&self, key: &str) -> Option<IpAddr> {
        self.store
            .service(key)
            .and_then(|e| e.cluster_ips().first().copied())
    }

    /// Wait until `key` has ClusterIP `ip` (or is gone, for `None`).
    async fn expect(&self, key: &str, ip: Option<&str>, within: Duration) {
        let want: Option<IpAddr> = ip.map(|s| s.parse().expect("ip"));
        let store = self.store.clone();
        let key_owned = key.to_owned();
        let what = format!("{key} → {ip:?}");
        wait_for(&what, within, move || {
            store
                .service(&key_owned)
                .and_then(|e| e.cluster_ips().first().copied())
                == want
        })
        .await;
    }

    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(WITHIN, self.task)
            .await
            .expect("run stops promptly on shutdown")
            .expect("run does not panic");
    }
}

/// Poll `check` every 10 ms until it holds; fail after `within`.
async fn wait_for(what: &str, within: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    loop {
        if check() {
            return;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {within:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Hold `state` for a while: proves something does *not* happen (bounded, not a blind wait for
/// the thing under test).
async fn holds_for(what: &str, duration: Duration, mut check: impl FnMut() -> bool) {
    let end = Instant::now() + duration;
    while Instant::now() < end {
        assert!(check(), "{what} stopped holding");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn run_test<F: Future<Output = ()>>(f: F) {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f);
}

// ---- tests ----

#[test]
fn add_edit_delete() {
    run_test(async {
        let dir = TempDir::new("add-edit-delete");
        fs::write(dir.file("a.yaml"), svc("a", "10.0.0.1")).expect("write");
        let r = Running::start(dir.0.clone()).await;
        assert_eq!(r.ip("a.apps"), Some("10.0.0.1".parse().expect("ip")));

        fs::write(dir.file("b.yaml"), svc("b", "10.0.0.2")).expect("write");
        r.expect("b.apps", Some("10.0.0.2"), WITHIN).await;

        fs::write(dir.file("b.yaml"), svc("b", "10.0.0.3")).expect("write");
        r.expect("b.apps", Some("10.0.0.3"), WITHIN).await;

        fs::remove_file(dir.file("b.yaml")).expect("rm");
        r.expect("b.apps", None, WITHIN).await;
        assert!(r.ip("a.apps").is_some(), "other files are untouched");

        // A new subdirectory is watched too.
        fs::create_dir_all(dir.file("sub/deeper")).expect("mkdir");
        fs::write(dir.file("sub/deeper/c.yaml"), svc("c", "10.0.0.4")).expect("write");
        r.expect("c.apps", Some("10.0.0.4"), WITHIN).await;
        r.stop().await;
    });
}

#[test]
fn rename_over_is_seen() {
    run_test(async {
        let dir = TempDir::new("rename");
        fs::write(dir.file("a.yaml"), svc("a", "10.0.0.1")).expect("write");
        let r = Running::start(dir.0.clone()).await;

        // How editors and kubectl-like tools save: write a temp file, rename it over the target.
        let tmp = dir.file(".a.yaml.tmp");
        fs::write(&tmp, svc("a", "10.0.0.9")).expect("write");
        fs::rename(&tmp, dir.file("a.yaml")).expect("rename");
        r.expect("a.apps", Some("10.0.0.9"), WITHIN).await;

        // A new file arriving by rename.
        let tmp = dir.file("b.yaml~");
        fs::write(&tmp, svc("b", "10.0.0.2")).expect("write");
        fs::rename(&tmp, dir.file("b.yaml")).expect("rename");
        r.expect("b.apps", Some("10.0.0.2"), WITHIN).await;
        r.stop().await;
    });
}

#[test]
fn a_broken_edit_keeps_the_old_objects_and_is_logged() {
    run_test(async {
        let dir = TempDir::new("broken-edit");
        let file = dir.file("a.yaml");
        fs::write(
            &file,
            format!("{}---\n{}", svc("a", "10.0.0.1"), svc("b", "10.0.0.2")),
        )
        .expect("write");
        fs::write(dir.file("marker.yaml"), svc("marker", "10.0.1.1")).expect("write");
        let r = Running::start(dir.0.clone()).await;
        assert!(r.ip("b.apps").is_some());

        // Half-written YAML.
        fs::write(
            &file,
            "apiVersion: v1\nkind: Service\nmetadata: {name: a, nam",
        )
        .expect("write");
        let path = file.display().to_string();
        wait_for("the error to be logged", WITHIN, || {
            logged(&["WARN", &path, "invalid YAML"])
        })
        .await;
        assert_eq!(r.ip("a.apps"), Some("10.0.0.1".parse().expect("ip")));
        assert_eq!(r.ip("b.apps"), Some("10.0.0.2".parse().expect("ip")));

        // One bad document: the other one's edit applies, the bad one keeps its old version.
        fs::write(
            &file,
            format!("{}---\n{}", svc("a", "10.0.0.11"), svc("b", "10.0.0.300")),
        )
        .expect("write");
        r.expect("a.apps", Some("10.0.0.11"), WITHIN).await;
        assert_eq!(r.ip("b.apps"), Some("10.0.0.2".parse().expect("ip")));
        assert!(logged(&[
            "WARN",
            &path,
            "document=2",
            "Service apps/b: spec.clusterIP \"10.0.0.300\" is not an IP address"
        ]));

        // Fixed.
        fs::write(
            &file,
            format!("{}---\n{}", svc("a", "10.0.0.11"), svc("b", "10.0.0.22")),
        )
        .expect("write");
        r.expect("b.apps", Some("10.0.0.22"), WITHIN).await;
        r.stop().await;
    });
}

#[test]
fn idle_and_editor_temp_files_cause_no_reload() {
    run_test(async {
        let dir = TempDir::new("swap");
        fs::write(dir.file("a.yaml"), svc("a", "10.0.0.1")).expect("write");
        let r = Running::start(dir.0.clone()).await;
        let path = dir.0.display().to_string();
        let reloads = || log_count(&["INFO", "manifests loaded", &path]);
        wait_for("the first load to be logged", WITHIN, || reloads() >= 1).await;
        let serial = r.store.serial();

        // Reading the files must not trigger another reload (the watcher sees our own opens).
        let before = reloads();
        holds_for("no reload while idle", Duration::from_millis(500), || {
            reloads() == before
        })
        .await;

        // A swap file with manifest-like content and a backup file: no reload, nothing loads.
        fs::write(dir.file(".a.yaml.swp"), svc("swp", "10.0.0.5")).expect("write");
        fs::write(dir.file("a.yaml~"), svc("backup", "10.0.0.6")).expect("write");
        let store = r.store.clone();
        holds_for(
            "no reload for editor temp files",
            Duration::from_millis(500),
            || {
                reloads() == before
                    && store.service("swp.apps").is_none()
                    && store.service("backup.apps").is_none()
            },
        )
        .await;

        // Another file type does reload, but nothing changes: no store write.
        fs::write(dir.file("notes.txt"), svc("notes", "10.0.0.7")).expect("write");
        wait_for("a reload", WITHIN, || reloads() > before).await;
        assert!(r.store.service("notes.apps").is_none());
        assert_eq!(
            r.store.serial(),
            serial,
            "an unchanged reload does not write the store"
        );
        assert_eq!(r.store.keys(ObjectKind::Service).len(), 1);
        r.stop().await;
    });
}

#[test]
fn a_missing_directory_serves_empty_then_loads_when_it_appears() {
    run_test(async {
        let path = TempDir::path("missing");
        let r = Running::start(path.clone()).await;
        assert!(
            r.store.is_synced(),
            "synced although the directory is missing"
        );
        assert_eq!(r.store.service_count(), 0);

        let dir = TempDir(path);
        fs::create_dir_all(&dir.0).expect("mkdir");
        fs::write(dir.file("a.yaml"), svc("a", "10.0.0.1")).expect("write");
        // Polled every second until it exists, then watched.
        r.expect("a.apps", Some("10.0.0.1"), Duration::from_secs(3))
            .await;
        fs::write(dir.file("a.yaml"), svc("a", "10.0.0.2")).expect("write");
        r.expect("a.apps", Some("10.0.0.2"), WITHIN).await;

        // Deleted and re-created: the new directory is watched again.
        fs::remove_dir_all(&dir.0).expect("rm");
        r.expect("a.apps", None, WITHIN).await;
        fs::create_dir_all(&dir.0).expect("mkdir");
        fs::write(dir.file("b.yaml"), svc("b", "10.0.0.3")).expect("write");
        r.expect("b.apps", Some("10.0.0.3"), Duration::from_secs(3))
            .await;
        fs::write(dir.file("b.yaml"), svc("b", "10.0.0.4")).expect("write");
        r.expect("b.apps", Some("10.0.0.4"), WITHIN).await;
        r.stop().await;
    });
}

#[tokio::test]
async fn runs_on_a_current_thread_runtime() {
    let dir = TempDir::new("current-thread");
    fs::write(dir.file("a.yaml"), svc("a", "10.0.0.1")).expect("write");
    let r = Running::start(dir.0.clone()).await;
    fs::write(dir.file("a.yaml"), svc("a", "10.0.0.2")).expect("write");
    r.expect("a.apps", Some("10.0.0.2"), WITHIN).await;
    r.stop().await;
}
