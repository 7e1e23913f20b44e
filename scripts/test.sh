#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what it needs, then runs every test.
#
#   scripts/test.sh            # everything
#   scripts/test.sh -p twinlog-log   # extra arguments go to `cargo nextest run`
#
# Needs only the Rust toolchain and python3. The log, the bus and the language are tested
# in-process, the end-to-end tests drive the real `twinlog` binary, and the Kafka bus's tests
# run against a Kafka-protocol broker this script installs once (cached, see
# scripts/kafka-broker.sh), starts on a free loopback port and stops by its PID.
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

if [[ -n "${TWINLOG_TEST_KAFKA:-}" ]]; then
  step "using the Kafka broker at $TWINLOG_TEST_KAFKA (TWINLOG_TEST_KAFKA)"
else
  step "starting the test Kafka broker (scripts/kafka-broker.sh)"
  TWINLOG_KAFKA_DIR="$(mktemp -d)"
  export TWINLOG_KAFKA_DIR
  trap 'scripts/kafka-broker.sh stop; rm -rf "$TWINLOG_KAFKA_DIR"' EXIT
  TWINLOG_TEST_KAFKA="$(scripts/kafka-broker.sh start)"
  export TWINLOG_TEST_KAFKA
  echo "broker at $TWINLOG_TEST_KAFKA" >&2
fi

# The broker-restart test runs a private broker of its own from this binary.
TWINLOG_TEST_TANSU="$(scripts/kafka-broker.sh bin)"
export TWINLOG_TEST_TANSU

step "running tests"
cargo nextest run --workspace --profile ci "$@"

step "running doc tests"
cargo test --workspace --doc --quiet
