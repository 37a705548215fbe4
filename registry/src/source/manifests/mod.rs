//! The `manifests DIR` source: Kubernetes objects read from YAML and JSON files instead of the API.
//!
//! Every `*.yaml`, `*.yml` and `*.json` under the directory (recursively, hidden entries skipped)
//! is read in path order. A file holds any number of YAML documents (`---`), or one JSON object;
//! a document is one object or a `List` (`kind: List`, `ServiceList`, …) of them. Namespaces,
//! Services, EndpointSlices, legacy Endpoints (turned into slices) and Pods are loaded; any other
//! kind is skipped quietly, so the source can point at a real manifest tree.
//!
//! Nothing is lost by a bad edit. The loader remembers, per file and per document, the objects it
//! last served; a document that no longer parses or converts keeps serving its last good version,
//! and a file that stops parsing part-way (half-written YAML) keeps every document from that point
//! on. Only deleting a file (or a document from a file that still parses) removes its objects.
//!
//! [`run`] loads once, marks the source synced, then watches the directory (inotify through
//! `notify`, or polling every second if no watcher can be set up) and reloads the whole directory
//! after each burst of changes settles. It owns the store's [`crate::store::StoreWriter`].
//!
//! Files, each using only those listed before it:
//! - `report.rs`: [`LoadReport`] and [`ManifestError`], what a load tells its caller;
//! - `scan.rs`: which files are manifests, and a snapshot of the directory for polling;
//! - `parse.rs`: a file's text → documents → records, with the typed reasons one fails;
//! - `loader.rs`: [`ManifestLoader`], the whole directory with last-good objects per document;
//! - `watch.rs`: the inotify watch and which events mean "reload";
//! - `run.rs`: [`run`], the running source (debounce, reload, write the store).

mod loader;
mod parse;
mod report;
mod run;
mod scan;
mod watch;

use std::path::Path;

pub use loader::ManifestLoader;
pub use report::{LoadReport, ManifestError};
pub use run::run;

use super::filter::Filter;

/// Load every `*.yaml`, `*.yml` and `*.json` under `dir`, recursively (hidden files and
/// directories skipped), in path order. Each error is also logged at warn.
pub fn load_dir(dir: &Path, filter: &Filter) -> LoadReport {
    ManifestLoader::new(dir.to_path_buf(), filter.clone()).reload()
}
