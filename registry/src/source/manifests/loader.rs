//! The stateful loader: re-reads the whole directory and remembers, per file and per document,
//! the objects it last served, so a document that no longer parses or converts keeps serving its
//! last good version (see the module docs of [`super`]).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::string::FromUtf8Error;

use super::parse::{self, ObjectError};
use super::report::{LoadReport, ManifestError};
use super::scan::{self, Listing};
use crate::source::filter::Filter;
use crate::store::{ClusterObject, ObjectKey};

/// A whole file that could not be read (its documents keep what they served).
#[derive(Debug, thiserror::Error)]
pub(super) enum FileError {
    #[error("not UTF-8 text: {0}")]
    NotUtf8(#[source] FromUtf8Error),
    #[error("cannot read: {0}")]
    Read(#[source] io::Error),
}

/// A stateful loader: [`ManifestLoader::reload`] re-reads the directory and keeps, for documents
/// that fail, the objects they last loaded (see the module docs).
#[derive(Debug)]
pub struct ManifestLoader {
    dir: PathBuf,
    filter: Filter,
    files: BTreeMap<PathBuf, FileState>,
    /// The directory as it was at the last reload (for polling).
    listing: Option<Listing>,
}

/// Per file: the objects served from each document (1-based index). Documents that yield nothing
/// have no entry.
#[derive(Debug, Clone, Default)]
struct FileState {
    docs: BTreeMap<usize, Vec<ClusterObject>>,
}

impl ManifestLoader {
    pub fn new(dir: PathBuf, filter: Filter) -> Self {
        ManifestLoader {
            dir,
            filter,
            files: BTreeMap::new(),
            listing: None,
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Re-read the directory. Logs each error at warn and a summary at info.
    pub fn reload(&mut self) -> LoadReport {
        let started = std::time::Instant::now();
        let listing = scan::list(&self.dir);
        let mut errors = Vec::new();
        if let Some(reason) = &listing.dir_error {
            errors.push(ManifestError {
                file: self.dir.clone(),
                document: 0,
                reason: reason.to_string(),
            });
        }
        for (dir, reason) in &listing.failed_dirs {
            errors.push(ManifestError {
                file: dir.clone(),
                document: 0,
                reason: reason.to_string(),
            });
        }

        let mut old = std::mem::take(&mut self.files);
        let mut files = BTreeMap::new();
        for stamp in &listing.files {
            let prev = old.remove(&stamp.path).unwrap_or_default();
            let state = self.load_file(&stamp.path, prev, &mut errors);
            files.insert(stamp.path.clone(), state);
        }
        // A file not listed is gone, unless its directory could not be read this time.
        for (path, state) in old {
            if listing
                .failed_dirs
                .iter()
                .any(|(dir, _)| path.starts_with(dir))
            {
                files.insert(path, state);
            }
        }
        self.files = files;

        let objects = self.served_objects();
        for e in &errors {
            tracing::warn!(
                file = %e.file.display(),
                document = e.document,
                reason = %e.reason,
                "manifest skipped"
            );
        }
        let report = LoadReport {
            objects,
            errors,
            files: listing.files.len(),
        };
        self.listing = Some(listing);
        tracing::info!(
            dir = %self.dir.display(),
            files = report.files,
            objects = report.objects.len(),
            errors = report.errors.len(),
            elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
            "manifests loaded"
        );
        report
    }

    /// True when a scan finds the directory different from the last reload (files added,
    /// removed, or with another size or modification time).
    pub fn changed_on_disk(&self) -> bool {
        self.listing.as_ref() != Some(&scan::list(&self.dir))
    }

    fn served_objects(&self) -> Vec<ClusterObject> {
        let mut objects: Vec<ClusterObject> = Vec::new();
        let mut origin: Vec<&Path> = Vec::new();
        let mut seen: HashMap<ObjectKey, usize> = HashMap::new();
        for (path, state) in &self.files {
            for object in state.docs.values().flatten() {
                let key = object.key();
                match seen.get(&key) {
                    Some(&i) => {
                        tracing::warn!(
                            kind = key.kind.as_str(),
                            object = %key.name,
                            first = %origin[i].display(),
                            again = %path.display(),
                            "object defined twice: the later definition wins"
                        );
                        objects[i] = object.clone();
                        origin[i] = path;
                    }
                    None => {
                        seen.insert(key, objects.len());
                        objects.push(object.clone());
                        origin.push(path);
                    }
                }
            }
        }
        objects
    }

    fn load_file(
        &self,
        path: &Path,
        mut prev: FileState,
        errors: &mut Vec<ManifestError>,
    ) -> FileState {
        let whole_file_error = |errors: &mut Vec<ManifestError>, error: FileError| {
            errors.push(ManifestError {
                file: path.to_path_buf(),
                document: 0,
                reason: error.to_string(),
            });
        };
        let text = match fs::read(path) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => text,
                Err(e) => {
                    whole_file_error(errors, FileError::NotUtf8(e));
                    return prev;
                }
            },
            // Deleted between the listing and now.
            Err(e) if e.kind() == io::ErrorKind::NotFound => return FileState::default(),
            Err(e) => {
                whole_file_error(errors, FileError::Read(e));
                return prev;
            }
        };

        let mut state = FileState::default();
        let (documents, broken_from) = parse::split_documents(path, &text);
        for (index, document) in documents {
            let mut failed = false;
            let mut fresh = Vec::new();
            match document {
                Ok(value) => {
                    let mut failures: Vec<ObjectError> = Vec::new();
                    parse::collect(value, &self.filter, &mut fresh, &mut failures);
                    failed = !failures.is_empty();
                    errors.extend(failures.into_iter().map(|error| ManifestError {
                        file: path.to_path_buf(),
                        document: index,
                        reason: error.to_string(),
                    }));
                }
                Err(error) => errors.push(ManifestError {
                    file: path.to_path_buf(),
                    document: index,
                    reason: error.to_string(),
                }),
            }
            if failed {
                // Keep what this document served before, except what loaded fresh just now.
                let keys: HashSet<ObjectKey> = fresh.iter().map(ClusterObject::key).collect();
                if let Some(old) = prev.docs.remove(&index) {
                    fresh.extend(old.into_iter().filter(|o| !keys.contains(&o.key())));
                }
            }
            if !fresh.is_empty() {
                state.docs.insert(index, fresh);
            }
        }
        // The file stopped parsing at this document: nothing from here on can be trusted, so
        // everything it served from here on stays.
        if let Some(from) = broken_from {
            for (index, old) in prev.docs.split_off(&from) {
                state.docs.entry(index).or_insert(old);
            }
        }
        state
    }
}
