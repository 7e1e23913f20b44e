#!/usr/bin/env bash
# The Kafka bus beside raw librdkafka, in the same run, on the same broker:
#   scripts/bench-kafka.sh [RECORDS]            # default 200000 records of 100 bytes
# Uses the broker at $TWINLOG_BENCH_KAFKA (host:port) if set, else starts the test broker
# (scripts/kafka-broker.sh) and stops it after. Prints the JSON report of
# `twinlog bench log --bus kafka://…` (produce and consume rates of both, and the ratios).
set -euo pipefail
cd "$(dirname "$0")/.."
records="${1:-200000}"
cargo build --release -p twinlog >&2
if [[ -z "${TWINLOG_BENCH_KAFKA:-}" ]]; then
  TWINLOG_KAFKA_DIR="$(mktemp -d)"
  export TWINLOG_KAFKA_DIR
  trap 'scripts/kafka-broker.sh stop; rm -rf "$TWINLOG_KAFKA_DIR"' EXIT
  TWINLOG_BENCH_KAFKA="$(scripts/kafka-broker.sh start)"
fi
# fetch.wait.max.ms=10: the test broker waits the full max wait on every fetch.
target/release/twinlog bench log --records "$records" --size 100 \
  --bus "kafka://$TWINLOG_BENCH_KAFKA" --kafka-option fetch.wait.max.ms=10 --json
