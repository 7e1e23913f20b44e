#!/usr/bin/env bash
# Writes the same records through PostgreSQL COPY (a throw-away local cluster) and through
# `twinlog bench log`, then prints both rates and their ratio.
#
#   scripts/bench-vs-postgres.sh [RECORDS] [SIZE]      # defaults: 1000000 100
#
# Both sides are durable: PostgreSQL commits the COPY with synchronous_commit=on (one WAL
# fsync at commit, for the whole load); Twinlog acknowledges every batch of 1,000 records
# after an fsync that covers it (`--fsync always`, the default policy), and is also measured
# with `--fsync 5ms`, whose rate the bench's fixed in-flight window bounds (see
# docs/PERFORMANCE.md).
set -euo pipefail
cd "$(dirname "$0")/.."
records=${1:-1000000}
size=${2:-100}
pgbin=${PGBIN:-/usr/lib/postgresql/15/bin}
[ -x "$pgbin/initdb" ] || { echo "PostgreSQL server binaries not found in $pgbin (set PGBIN)" >&2; exit 1; }

work=$(mktemp -d /tmp/twinlog-vs-pg.XXXXXX)
chmod 777 "$work"
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() {
  as_pg "$pgbin/pg_ctl" -D "$work/pg" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
as_pg "$pgbin/initdb" -D "$work/pg" -A trust -U postgres >/dev/null
as_pg "$pgbin/pg_ctl" -D "$work/pg" -o "-p $port -k $work -c listen_addresses=127.0.0.1 -c fsync=on -c synchronous_commit=on" -l "$work/pg.log" -w start >/dev/null

# The same shape Twinlog stores: an 8-byte key and a SIZE-byte value per record.
python3 - "$records" "$size" > "$work/records.tsv" <<'PY'
import sys
n, size = int(sys.argv[1]), int(sys.argv[2])
value = "x" * size
out = sys.stdout
for i in range(n):
    out.write(f"{i:08d}\t{value}\n")
PY
psql=(psql -h 127.0.0.1 -p "$port" -U postgres -q -v ON_ERROR_STOP=1)
"${psql[@]}" -c "CREATE TABLE records (key text, value text)"
start=$(date +%s.%N)
"${psql[@]}" -c "\\copy records FROM '$work/records.tsv'"
end=$(date +%s.%N)
pg_rate=$(python3 -c "print(round($records / ($end - $start)))")

cargo build --release -q -p twinlog
twinlog_rate() {
  "${CARGO_TARGET_DIR:-target}"/release/twinlog --data-dir "$work/twinlog" bench log \
    --records "$records" --size "$size" --fsync "$1" --json |
    python3 -c "import json,sys; print(round(json.load(sys.stdin)['append_records_per_s']))"
}
tl_always=$(twinlog_rate always)
tl_5ms=$(twinlog_rate 5ms)

printf 'records                  %d of %d bytes\n' "$records" "$size"
printf 'postgres COPY            %12d records/s\n' "$pg_rate"
printf 'twinlog --fsync always   %12d records/s   ratio %5.1fx  (target: >= 4x)\n' "$tl_always" "$(python3 -c "print($tl_always / $pg_rate)")"
printf 'twinlog --fsync 5ms      %12d records/s   ratio %5.1fx\n' "$tl_5ms" "$(python3 -c "print($tl_5ms / $pg_rate)")"
