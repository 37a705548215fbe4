//! The manifest source end to end: files added, edited, broken and deleted under a watched
//! directory change the DNS answers within a second, and never open an NXDOMAIN window.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::support::{
    Answer, TestServer, ask_in_process, scratch_dir, service_manifest, write_atomically,
};

async fn wait_for(
    server: &TestServer,
    q: &str,
    want: impl Fn(&Answer) -> bool,
    what: &str,
) -> Duration {
    let start = Instant::now();
    loop {
        let got = ask_in_process(server, q).await;
        if want(&got) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "{what}: not answered within 1 s; last answer {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn has_ip(ip: &'static str) -> impl Fn(&Answer) -> bool {
    move |a| a.rcode == "NOERROR" && a.answer.iter().any(|r| r.ends_with(ip))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_are_answered_within_a_second_and_bad_edits_lose_nothing() {
    let dir = scratch_dir("reload");
    let cluster = dir.join("cluster");
    std::fs::create_dir_all(&cluster).unwrap();
    std::fs::write(
        cluster.join("web.yaml"),
        service_manifest("web", "10.96.1.1"),
    )
    .unwrap();
    let server = TestServer::start_text(
        "cluster.local {\n bind 127.0.0.1\n kubernetes {\n  manifests cluster\n }\n}\n",
        &dir,
    )
    .await;
    let web = "web.apps.svc.cluster.local. A";
    assert!(has_ip("10.96.1.1")(&ask_in_process(&server, web).await));

    // Added file.
    std::fs::write(
        cluster.join("api.yaml"),
        service_manifest("api", "10.96.1.2"),
    )
    .unwrap();
    wait_for(
        &server,
        "api.apps.svc.cluster.local. A",
        has_ip("10.96.1.2"),
        "added file",
    )
    .await;

    // Edited file (rename-over).
    write_atomically(
        &cluster.join("web.yaml"),
        &service_manifest("web", "10.96.1.3"),
    );
    wait_for(&server, web, has_ip("10.96.1.3"), "edited file").await;

    // A broken edit keeps the last good objects of that file.
    std::fs::write(
        cluster.join("web.yaml"),
        "apiVersion: v1\nkind: Service\nmetadata: {name: web\n  bad: [",
    )
    .unwrap();
    // A new file with one invalid document: the valid one still loads.
    std::fs::write(
        cluster.join("mixed.yaml"),
        format!("{}---\napiVersion: v1\nkind: Service\nmetadata: {{name: broken, namespace: apps}}\nspec: {{clusterIP: 10.96.1.300}}\n", service_manifest("ok", "10.96.1.4")),
    )
    .unwrap();
    wait_for(
        &server,
        "ok.apps.svc.cluster.local. A",
        has_ip("10.96.1.4"),
        "valid document beside an invalid one",
    )
    .await;
    let broken = ask_in_process(&server, "broken.apps.svc.cluster.local. A").await;
    assert_eq!(broken.rcode, "NXDOMAIN", "an invalid document is skipped");
    assert!(
        has_ip("10.96.1.3")(&ask_in_process(&server, web).await),
        "broken file must keep serving its last good version"
    );

    // Deleted file.
    std::fs::remove_file(cluster.join("api.yaml")).unwrap();
    wait_for(
        &server,
        "api.apps.svc.cluster.local. A",
        |a| a.rcode == "NXDOMAIN",
        "deleted file",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloads_never_open_an_nxdomain_window() {
    let dir = scratch_dir("window");
    let cluster = dir.join("cluster");
    std::fs::create_dir_all(&cluster).unwrap();
    let mut many = String::new();
    for i in 0..200 {
        many.push_str(&service_manifest(
            &format!("svc-{i}"),
            &format!("10.96.2.{}", i % 250 + 1),
        ));
        many.push_str("---\n");
    }
    std::fs::write(cluster.join("many.yaml"), &many).unwrap();
    let server = Arc::new(
        TestServer::start_text(
            "cluster.local {\n bind 127.0.0.1\n kubernetes {\n  manifests cluster\n }\n}\n",
            &dir,
        )
        .await,
    );
    let stop = Arc::new(AtomicBool::new(false));
    let misses = Arc::new(AtomicUsize::new(0));
    let asked = Arc::new(AtomicUsize::new(0));
    let reader = {
        let (server, stop, misses, asked) =
            (server.clone(), stop.clone(), misses.clone(), asked.clone());
        tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let q = format!("svc-{}.apps.svc.cluster.local. A", i % 200);
                if ask_in_process(&server, &q).await.rcode != "NOERROR" {
                    misses.fetch_add(1, Ordering::Relaxed);
                }
                asked.fetch_add(1, Ordering::Relaxed);
                i += 1;
                tokio::task::yield_now().await;
            }
        })
    };
    // Rewrite the file repeatedly (same services, changing order and an extra one each time),
    // so every reload replaces the whole set.
    for round in 0..20 {
        let mut text = String::new();
        let extra = service_manifest(&format!("extra-{round}"), "10.96.3.1");
        text.push_str(&extra);
        text.push_str("---\n");
        text.push_str(&many);
        write_atomically(&cluster.join("many.yaml"), &text);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    reader.await.unwrap();
    assert!(
        asked.load(Ordering::Relaxed) > 100,
        "the reader must have run during the reloads"
    );
    assert_eq!(
        misses.load(Ordering::Relaxed),
        0,
        "an existing name answered something other than NOERROR during a reload"
    );
}
