//! The running source: the first load, then a reload after each burst of changes settles (or
//! on each changed poll when the directory cannot be watched), written into the store.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::loader::ManifestLoader;
use super::watch::{WatchState, dir_identity};
use crate::source::filter::Filter;
use crate::store::{ClusterObject, ObjectKind, StoreWriter, SyncToken};

/// A burst of changes is over once nothing happened for this long…
const QUIET: Duration = Duration::from_millis(150);
/// …or this long after its first change, whichever comes first.
const MAX_DELAY: Duration = Duration::from_millis(500);
/// How often the directory is scanned when it cannot be watched (or does not exist yet).
const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Load `dir` into the store, mark `token` synced, then reload on every change until `shutdown`.
/// The source owns the store's writer from here on.
pub async fn run(
    dir: PathBuf,
    filter: Filter,
    store: StoreWriter,
    token: SyncToken,
    shutdown: CancellationToken,
) {
    let wake = Arc::new(Notify::new());
    let shared = Arc::new(Mutex::new(Reloader {
        loader: ManifestLoader::new(dir.clone(), filter),
        served: None,
        store,
    }));

    if dir_identity(&dir).is_none() {
        tracing::error!(
            dir = %dir.display(),
            "manifests directory does not exist or is not a directory: serving no objects until it appears"
        );
    }
    // Watch before the first load, so a change between the two is not missed.
    let mut watch = WatchState::default();
    watch.refresh(&dir, &wake);
    reload(&shared).await;
    token.mark_synced();

    let mut poll = tokio::time::interval(POLL_INTERVAL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let watching = watch.is_watching();
        tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            () = wake.notified() => {
                if !debounce(&wake, &shutdown).await {
                    break;
                }
                reload(&shared).await;
            }
            _ = poll.tick(), if !watching => {
                if changed_on_disk(&shared).await {
                    reload(&shared).await;
                }
            }
        }
        // The directory appeared, or was deleted or replaced (its watch went with it).
        if watch.refresh(&dir, &wake) {
            reload(&shared).await;
        }
    }
    tracing::debug!(dir = %dir.display(), "manifests source stopped");
}

struct Reloader {
    loader: ManifestLoader,
    /// What the store got last, to skip writes (and serial bumps) when nothing changed.
    served: Option<Vec<ClusterObject>>,
    /// Written only from the reload, under the same lock as the loader.
    store: StoreWriter,
}

fn lock(shared: &Mutex<Reloader>) -> MutexGuard<'_, Reloader> {
    // A panic in a reload leaves the loader's state usable (every field is replaced whole).
    match shared.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

async fn reload(shared: &Arc<Mutex<Reloader>>) {
    let shared = Arc::clone(shared);
    let result = tokio::task::spawn_blocking(move || {
        let mut reloader = lock(&shared);
        let report = reloader.loader.reload();
        if reloader.served.as_ref() == Some(&report.objects) {
            tracing::debug!("manifests unchanged: store not written");
            return;
        }
        reloader
            .store
            .replace(&ObjectKind::ALL, report.objects.clone());
        reloader.served = Some(report.objects);
    })
    .await;
    if let Err(e) = result {
        tracing::error!(error = %e, "manifest reload failed");
    }
}

async fn changed_on_disk(shared: &Arc<Mutex<Reloader>>) -> bool {
    let shared = Arc::clone(shared);
    tokio::task::spawn_blocking(move || lock(&shared).loader.changed_on_disk())
        .await
        .unwrap_or(true)
}

/// Wait until changes stop for [`QUIET`] (at most [`MAX_DELAY`]). False on shutdown.
async fn debounce(wake: &Notify, shutdown: &CancellationToken) -> bool {
    let deadline = Instant::now() + MAX_DELAY;
    loop {
        let quiet_until = (Instant::now() + QUIET).min(deadline);
        tokio::select! {
            biased;
            () = shutdown.cancelled() => return false,
            () = tokio::time::sleep_until(quiet_until) => return true,
            () = wake.notified() => {}
        }
    }
}
