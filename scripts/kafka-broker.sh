#!/usr/bin/env bash
# A Kafka-protocol broker for the tests: tansu 0.6, in memory, on a free loopback port.
#
#   scripts/kafka-broker.sh install   # build it once into the cache (about 7.5 minutes cold)
#   scripts/kafka-broker.sh bin       # installs if needed, prints the binary's path
#   scripts/kafka-broker.sh start     # prints `127.0.0.1:PORT`; the PID goes to $TWINLOG_KAFKA_DIR/pid
#   scripts/kafka-broker.sh stop      # stops the broker started by `start`, by its PID
#
# The binary is cached in ${TWINLOG_CACHE:-~/.cache/twinlog}/tansu and never rebuilt when
# present. The broker runs from an empty working directory and listens on 127.0.0.1 only.
set -euo pipefail

CACHE="${TWINLOG_CACHE:-$HOME/.cache/twinlog}"
ROOT="$CACHE/tansu"
BIN="$ROOT/bin/tansu"
# Where a started broker keeps its PID, log and working dir (one broker per RUN dir).
RUN="${TWINLOG_KAFKA_DIR:-$CACHE/run}"

install() {
  if [[ -x "$BIN" ]]; then
    return 0
  fi
  echo "installing tansu 0.6.0 (a Kafka-protocol broker for the tests) into $ROOT; about 7.5 minutes the first time" >&2
  mkdir -p "$ROOT"
  cargo install tansu@0.6.0 --locked --no-default-features --features dynostore --root "$ROOT" >&2
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

start() {
  install
  if [[ -f "$RUN/pid" ]] && kill -0 "$(cat "$RUN/pid")" 2>/dev/null; then
    echo "error: a test broker started from $RUN is still running (PID $(cat "$RUN/pid")); stop it first: $0 stop" >&2
    return 1
  fi
  rm -rf "$RUN/work"
  mkdir -p "$RUN/work"
  local port
  port="$(free_port)"
  (cd "$RUN/work" && exec "$BIN" broker \
      --listener-url "tcp://127.0.0.1:$port" \
      --advertised-listener-url "tcp://127.0.0.1:$port" \
      --storage-engine memory://tansu/ >"$RUN/broker.log" 2>&1) &
  echo $! >"$RUN/pid"
  # Ready when the port accepts connections (at most 30 s).
  for _ in $(seq 1 300); do
    # Ours only if our process is alive and the port answers (the free port may have been
    # taken by someone else between the probe and the start).
    if kill -0 "$(cat "$RUN/pid")" 2>/dev/null \
      && python3 -c "import socket,sys; s=socket.socket(); s.settimeout(0.1); sys.exit(s.connect_ex(('127.0.0.1', $port)))" 2>/dev/null; then
      echo "127.0.0.1:$port"
      return 0
    fi
    if ! kill -0 "$(cat "$RUN/pid")" 2>/dev/null; then
      echo "error: the test broker exited; its log:" >&2
      cat "$RUN/broker.log" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "error: the test broker did not listen on 127.0.0.1:$port within 30 s; its log is $RUN/broker.log" >&2
  stop
  return 1
}

stop() {
  if [[ -f "$RUN/pid" ]]; then
    local pid
    pid="$(cat "$RUN/pid")"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$RUN/pid"
  fi
}

case "${1:-}" in
  install) install ;;
  bin) install; echo "$BIN" ;;
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 install|bin|start|stop" >&2; exit 2 ;;
esac
