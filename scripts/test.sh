#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what it needs, then runs every test.
#
#   scripts/test.sh            # everything
#   scripts/test.sh -p twinlog-log   # extra arguments go to `cargo nextest run`
#
# Needs only the Rust toolchain. No service is started: the log, the bus and the language
# are tested in-process, and the end-to-end tests drive the real `twinlog` binary.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*" >&2; }

if ! cargo nextest --version >/dev/null 2>&1; then
  step "installing cargo-nextest (not found)"
  cargo install cargo-nextest --locked
fi

step "formatting (cargo fmt --check)"
cargo fmt --all -- --check

step "building tests"
cargo nextest run --workspace --no-run

step "running tests"
cargo nextest run --workspace --profile ci "$@"

step "running doc tests"
cargo test --workspace --doc --quiet
