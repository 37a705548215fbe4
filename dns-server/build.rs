//! Build facts for `coredns_build_info` (the `prometheus` plugin): the compiler's version, as
//! `ROLLCALL_RUSTC`. `ROLLCALL_REVISION`, if set in the build's environment, names the revision.

use std::process::Command;

fn main() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map(|text| {
            text.split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "rust".into());
    println!("cargo:rustc-env=ROLLCALL_RUSTC={version}");
    println!("cargo:rerun-if-changed=build.rs");
}
