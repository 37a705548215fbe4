//! The embedded default: a small example cluster and a Corefile, compiled into the binary so
//! `cargo run --release` answers at once on 127.0.0.1:1053 with no cluster and no files.
//! The manifests are written to a fresh temporary directory (the `manifests` source watches a
//! directory), whose path reaches the Corefile through `{$ROLLCALL_EXAMPLE_CLUSTER}`.

use std::path::{Path, PathBuf};

pub const COREFILE: &str = include_str!("../embedded/Corefile");

/// (file name, contents) of the example cluster's manifests.
pub const CLUSTER: &[(&str, &str)] = &[
    (
        "namespaces.yaml",
        include_str!("../embedded/cluster/namespaces.yaml"),
    ),
    ("apps.yaml", include_str!("../embedded/cluster/apps.yaml")),
    ("data.yaml", include_str!("../embedded/cluster/data.yaml")),
    (
        "kube-system.yaml",
        include_str!("../embedded/cluster/kube-system.yaml"),
    ),
];

pub const CLUSTER_ENV: &str = "ROLLCALL_EXAMPLE_CLUSTER";

/// Write the example cluster under `parent` and return its directory.
pub fn write_cluster(parent: &Path) -> std::io::Result<PathBuf> {
    let dir = parent.join(format!("rollcall-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    for (name, text) in CLUSTER {
        std::fs::write(dir.join(name), text)?;
    }
    Ok(dir)
}
