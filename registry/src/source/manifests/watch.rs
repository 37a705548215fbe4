//! The directory watch (inotify through `notify`): which events mean "reload", and re-creating
//! the watch when the directory appears, or is removed or replaced.

use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::Notify;

use super::scan::is_editor_temp;

/// The directory watch, re-created when the directory appears or is replaced.
#[derive(Default)]
pub(super) struct WatchState {
    watcher: Option<RecommendedWatcher>,
    /// The directory the watch is on (a new one at the same path needs a new watch).
    watched: Option<DirId>,
    /// Set by the watcher when the watched directory itself was removed or renamed: its watch
    /// is dead even if a new directory (possibly reusing the inode) is already in its place.
    root_gone: Arc<AtomicBool>,
    /// No watcher can be created here: poll for good.
    unavailable: bool,
}

impl WatchState {
    /// False while there is no watch (the directory is missing, or cannot be watched): the
    /// caller polls instead.
    pub(super) fn is_watching(&self) -> bool {
        self.watcher.is_some()
    }

    /// Drop a watch whose directory is gone and watch the directory if it exists. True when a new
    /// watch started (the caller reloads: changes before it were not seen).
    pub(super) fn refresh(&mut self, dir: &Path, wake: &Arc<Notify>) -> bool {
        if self.unavailable {
            return false;
        }
        let current = dir_identity(dir);
        let gone = self.root_gone.swap(false, Ordering::AcqRel);
        if self.watcher.is_some() && (gone || self.watched != current) {
            tracing::warn!(dir = %dir.display(), "manifests directory removed or replaced");
            self.watcher = None;
            self.watched = None;
        }
        if self.watcher.is_some() || current.is_none() {
            return false;
        }
        match start_watcher(dir, Arc::clone(wake), Arc::clone(&self.root_gone)) {
            Ok(watcher) => {
                tracing::debug!(dir = %dir.display(), "watching manifests directory");
                self.watcher = Some(watcher);
                self.watched = current;
                true
            }
            Err(e) => {
                tracing::warn!(
                    dir = %dir.display(),
                    error = %e,
                    "cannot watch manifests directory: polling every second instead"
                );
                self.unavailable = true;
                false
            }
        }
    }
}

fn start_watcher(
    dir: &Path,
    wake: Arc<Notify>,
    root_gone: Arc<AtomicBool>,
) -> notify::Result<RecommendedWatcher> {
    let root = dir.to_path_buf();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        match event {
            Ok(event) => {
                if is_root_removal(&event, &root) {
                    root_gone.store(true, Ordering::Release);
                }
                if is_relevant(&event) {
                    wake.notify_one();
                }
            }
            Err(e) => {
                // E.g. an overflowed event queue: a reload re-reads everything anyway.
                tracing::warn!(error = %e, "manifests watch error");
                wake.notify_one();
            }
        }
    })?;
    watcher.watch(dir, RecursiveMode::Recursive)?;
    Ok(watcher)
}

fn is_root_removal(event: &notify::Event, root: &Path) -> bool {
    use notify::EventKind;
    use notify::event::ModifyKind;
    matches!(
        event.kind,
        EventKind::Remove(_) | EventKind::Modify(ModifyKind::Name(_))
    ) && event.paths.iter().any(|p| p == root)
}

/// Opening and reading files (our own reloads included) changes nothing, nor does an editor's
/// swap file.
fn is_relevant(event: &notify::Event) -> bool {
    use notify::EventKind;
    use notify::event::{AccessKind, AccessMode};
    match event.kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => {}
        EventKind::Access(_) => return false,
        _ => {}
    }
    event.paths.is_empty()
        || !event.paths.iter().all(|p| {
            p.file_name()
                .is_some_and(|n| is_editor_temp(&n.to_string_lossy()))
        })
}

pub(super) type DirId = (u64, u64);

/// The directory's identity (device, inode); `None` when it does not exist.
#[cfg(unix)]
pub(super) fn dir_identity(dir: &Path) -> Option<DirId> {
    use std::os::unix::fs::MetadataExt;
    fs::metadata(dir)
        .ok()
        .filter(|m| m.is_dir())
        .map(|m| (m.dev(), m.ino()))
}

#[cfg(not(unix))]
pub(super) fn dir_identity(dir: &Path) -> Option<DirId> {
    fs::metadata(dir)
        .ok()
        .filter(|m| m.is_dir())
        .map(|_| (0, 0))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    #[test]
    fn relevant_events() {
        use notify::event::{
            AccessKind, AccessMode, CreateKind, ModifyKind, RemoveKind, RenameMode,
        };
        use notify::{Event, EventKind};
        let ev = |kind, path: &str| Event::new(kind).add_path(PathBuf::from(path));
        assert!(!is_relevant(&ev(
            EventKind::Access(AccessKind::Open(AccessMode::Any)),
            "/d/a.yaml"
        )));
        assert!(is_relevant(&ev(
            EventKind::Access(AccessKind::Close(AccessMode::Write)),
            "/d/a.yaml"
        )));
        assert!(is_relevant(&ev(
            EventKind::Modify(ModifyKind::Any),
            "/d/a.yaml"
        )));
        assert!(is_relevant(&ev(
            EventKind::Create(CreateKind::Any),
            "/d/..data"
        )));
        assert!(!is_relevant(&ev(
            EventKind::Modify(ModifyKind::Any),
            "/d/.a.yaml.swp"
        )));

        let root = Path::new("/d");
        assert!(is_root_removal(
            &ev(EventKind::Remove(RemoveKind::Folder), "/d"),
            root
        ));
        assert!(is_root_removal(
            &ev(EventKind::Modify(ModifyKind::Name(RenameMode::From)), "/d"),
            root
        ));
        assert!(!is_root_removal(
            &ev(EventKind::Remove(RemoveKind::File), "/d/a.yaml"),
            root
        ));
        assert!(!is_root_removal(
            &ev(EventKind::Create(CreateKind::Folder), "/d"),
            root
        ));
    }
}
