//! Scanning the manifests directory: which files are manifests, and a snapshot of them (path,
//! size, modification time) that tells a poll whether anything changed since the last load.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Directory nesting followed at most (symlink loops are cut earlier, by canonical path).
const MAX_DEPTH: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct FileStamp {
    pub(super) path: PathBuf,
    len: u64,
    modified: Option<SystemTime>,
}

/// What a directory scan found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Listing {
    /// Manifest files, sorted by path.
    pub(super) files: Vec<FileStamp>,
    /// Directories that could not be read (their files are kept as they were).
    pub(super) failed_dirs: Vec<(PathBuf, ScanError)>,
    /// The directory itself is missing or not a directory.
    pub(super) dir_error: Option<ScanError>,
}

/// Why (part of) the directory could not be scanned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum ScanError {
    #[error("directory does not exist")]
    Missing,
    #[error("not a directory")]
    NotADirectory,
    /// The I/O error as text: a listing is compared with the next scan's (polling), and
    /// `io::Error` is neither `Clone` nor `PartialEq`.
    #[error("cannot read directory: {0}")]
    Unreadable(String),
}

pub(super) fn list(dir: &Path) -> Listing {
    let mut listing = Listing::default();
    match fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => {
            listing.dir_error = Some(ScanError::NotADirectory);
            return listing;
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            listing.dir_error = Some(ScanError::Missing);
            return listing;
        }
        Err(e) => {
            listing
                .failed_dirs
                .push((dir.to_path_buf(), ScanError::Unreadable(e.to_string())));
            return listing;
        }
    }
    let mut visited = HashSet::new();
    walk(dir, 0, &mut visited, &mut listing);
    listing.files.sort_by(|a, b| a.path.cmp(&b.path));
    listing
}

fn walk(dir: &Path, depth: usize, visited: &mut HashSet<PathBuf>, listing: &mut Listing) {
    if depth > MAX_DEPTH {
        tracing::warn!(dir = %dir.display(), "manifest directories nested too deep: not read");
        return;
    }
    // A symlink back up the tree would otherwise loop forever.
    if let Ok(canonical) = fs::canonicalize(dir)
        && !visited.insert(canonical)
    {
        return;
    }
    let entries = fs::read_dir(dir).and_then(|entries| {
        entries
            .map(|entry| entry.map(|e| e.path()))
            .collect::<io::Result<Vec<_>>>()
    });
    let mut entries = match entries {
        Ok(entries) => entries,
        Err(e) => {
            listing
                .failed_dirs
                .push((dir.to_path_buf(), ScanError::Unreadable(e.to_string())));
            return;
        }
    };
    entries.sort();
    for path in entries {
        let Some(name) = path.file_name().map(|n| n.to_string_lossy()) else {
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        // Follows symlinks (a ConfigMap volume's files are symlinks); a dangling one is skipped.
        let Ok(meta) = fs::metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            walk(&path, depth + 1, visited, listing);
        } else if meta.is_file() && is_manifest_name(&name) {
            listing.files.push(FileStamp {
                path,
                len: meta.len(),
                modified: meta.modified().ok(),
            });
        }
    }
}

fn is_manifest_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    [".yaml", ".yml", ".json"]
        .iter()
        .any(|ext| lower.len() > ext.len() && lower.ends_with(ext))
}

/// Editor swap, backup and probe files: never loaded, and a change to one alone is no reason to
/// reload.
pub(super) fn is_editor_temp(name: &str) -> bool {
    name.ends_with('~')
        || [".swp", ".swo", ".swx", ".swpx"]
            .iter()
            .any(|ext| name.ends_with(ext))
        || name.starts_with(".#")
        || (name.starts_with('#') && name.ends_with('#'))
        || name == "4913"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(is_manifest_name("a.yaml"));
        assert!(is_manifest_name("a.YML"));
        assert!(is_manifest_name("a.json"));
        assert!(!is_manifest_name(".yaml"));
        assert!(!is_manifest_name("a.yaml~"));
        assert!(!is_manifest_name("a.yaml.swp"));
        assert!(!is_manifest_name("a.txt"));
        assert!(is_editor_temp(".a.yaml.swp"));
        assert!(is_editor_temp("a.yaml~"));
        assert!(is_editor_temp("#a.yaml#"));
        assert!(is_editor_temp("4913"));
        assert!(!is_editor_temp("a.yaml"));
        assert!(!is_editor_temp("..data"));
    }
}
