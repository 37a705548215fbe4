#!/usr/bin/env bash
# The whole test suite: unit tests, golden answer tables over real sockets (hickory client, dig,
# kdig), the glibc resolver in a network namespace, Corefile tables, manifest reloads.
# Tools the tests drive (dig, kdig, ip) are installed by .ci/run; tests that need a missing tool
# say so and fail rather than pass silently.
set -euo pipefail
cd "$(dirname "$0")"
cargo build --release --locked -p rollcall
ROLLCALL_BIN="$PWD/target/release/rollcall" cargo test --workspace --locked "$@"
