#!/usr/bin/env bash
# The README's live walk-through: a server on the test clock, three example module sets,
# events, the clock moved past midnight, state and outputs. The test suite runs this script.
#
#   examples/quickstart.sh                 # uses `twinlog` from PATH
#   TWINLOG=target/debug/twinlog examples/quickstart.sh
set -euo pipefail
cd "$(dirname "$0")/.."
tw=${TWINLOG:-twinlog}
work=$(mktemp -d)
export TWINLOG_DATA_DIR="$work/data"
pid=
cleanup() {
  if [ -n "$pid" ]; then kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
say() { printf '\n$ %s\n' "$*"; }

say twinlog serve --clock test --tz America/Los_Angeles --http 127.0.0.1:0 '&'
"$tw" serve --clock test --tz America/Los_Angeles --http 127.0.0.1:0 >"$work/serve.out" 2>"$work/serve.err" &
pid=$!
for _ in $(seq 200); do
  grep -q serving "$work/serve.out" && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/serve.err" >&2; exit 1; }
  sleep 0.05
done
cat "$work/serve.out"

say twinlog module deploy lamp1.scc button.scc lamp.scc hallway.scc
"$tw" module deploy examples/modules/lamp1/lamp1.scc examples/modules/button-lamp/button.scc \
  examples/modules/button-lamp/lamp.scc examples/modules/motion-timer/hallway.scc

say "twinlog event send …  (the house goes to auto; motion in the hallway; the porch button)"
"$tw" event send '{"time": "2023-01-19T21:00:00-08:00", "variable": "mode", "value": "auto"}'
"$tw" event send '{"variable": "motion"}'
"$tw" event send '{"variable": "pushed"}'

say twinlog clock advance --to 2023-01-19T23:45:00-08:00
"$tw" clock advance --to 2023-01-19T23:45:00-08:00
say "twinlog event send '{\"module\": \"button1\", \"variable\": \"press\"}'  (lamp1 on, its 30-minute timer starts)"
"$tw" event send '{"module": "button1", "variable": "press"}'
say twinlog module state lamp1
"$tw" module state lamp1

say "twinlog clock advance --by 20m  (past midnight on a Friday: AT midnight ON weekdays AND mode.auto)"
"$tw" clock advance --by 20m
say twinlog module state lamp1
"$tw" module state lamp1
say "twinlog module trace lamp1 --limit 2  (why did it go off at midnight?)"
"$tw" module trace lamp1 --limit 2
say twinlog module state hallway
"$tw" module state hallway

say twinlog tail twinlog.default.out --from-beginning
"$tw" tail twinlog.default.out --from-beginning -n 100 | cut -d' ' -f4-

say twinlog module list
"$tw" module list
