//! What a load reports: the objects the store should hold, and one [`ManifestError`] per file or
//! document that could not be loaded.

use std::fmt;
use std::path::PathBuf;

use crate::store::ClusterObject;

/// One document that could not be loaded. `document` is its 1-based index in the file; 0 means
/// the whole file or directory (unreadable, missing). A line of a report, kept with the report
/// and compared in tests: the typed cause (`parse::DocumentError`, `parse::ObjectError`,
/// `loader::FileError`, `scan::ScanError`) is rendered into `reason` once, where it is found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestError {
    pub file: PathBuf,
    pub document: usize,
    pub reason: String,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.document == 0 {
            write!(f, "{}: {}", self.file.display(), self.reason)
        } else {
            write!(
                f,
                "{}: document {}: {}",
                self.file.display(),
                self.document,
                self.reason
            )
        }
    }
}

impl std::error::Error for ManifestError {}

#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    /// What the store should hold: every object loaded, plus the last good version of any
    /// document that failed this time (for a stateful [`super::ManifestLoader`]). One per key,
    /// the later file (in path order) winning a duplicate.
    pub objects: Vec<ClusterObject>,
    pub errors: Vec<ManifestError>,
    /// Manifest files found.
    pub files: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_display() {
        let e = ManifestError {
            file: PathBuf::from("/m/a.yaml"),
            document: 2,
            reason: "bad".into(),
        };
        assert_eq!(e.to_string(), "/m/a.yaml: document 2: bad");
        let e = ManifestError {
            file: PathBuf::from("/m"),
            document: 0,
            reason: "directory does not exist".into(),
        };
        assert_eq!(e.to_string(), "/m: directory does not exist");
    }
}
