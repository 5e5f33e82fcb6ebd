#!/usr/bin/env bash
# A/B a change: bench/run.sh's budget run (switchboard, then the floor relay, same
# traffic) against a given release binary, without building — so two builds
# (before and after a change) can be alternated on one quiet machine.
#
#   bench/ab.sh /path/to/switchboard-before
#   bench/ab.sh /path/to/switchboard-after
#
# Environment: CALLS (300), DURATION (30s), RAMP (5s), OUT (bench/results).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$1
CALLS=${CALLS:-300}
DURATION=${DURATION:-30s}
RAMP=${RAMP:-5s}
OUT=${OUT:-bench/results}
SB_PORT=${SB_PORT:-18080}
MODEL_PORT=${MODEL_PORT:-19100}
mkdir -p "$OUT"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
WORK=$(mktemp -d)
SB_PID=
cleanup() {
  if [ -n "$SB_PID" ]; then kill "$SB_PID" 2>/dev/null || true; wait "$SB_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
export RUST_LOG=${RUST_LOG:-warn}
export SWITCHBOARD_SERVER__BIND=127.0.0.1:$SB_PORT
export SWITCHBOARD_SERVER__ADMIN_TOKEN=bench
export SWITCHBOARD_MODEL__URL=ws://127.0.0.1:$MODEL_PORT/v1/realtime
export SWITCHBOARD_CALLS__MAX_CALLS=100000
export SWITCHBOARD_DATABASE__URL=$WORK/switchboard.db
t0=$(date +%s%N)
"$BIN" serve >"$WORK/switchboard.log" 2>&1 &
SB_PID=$!
until curl -fs -o /dev/null "http://127.0.0.1:$SB_PORT/health"; do
  if ! kill -0 "$SB_PID" 2>/dev/null; then cat "$WORK/switchboard.log"; exit 1; fi
  sleep 0.005
done
echo "start-up to ready: $(( ($(date +%s%N) - t0) / 1000000 )) ms"
"$BIN" loadtest --url "ws://127.0.0.1:$SB_PORT/media-stream" --calls "$CALLS" \
  --duration "$DURATION" --ramp "$RAMP" --target-pid "$SB_PID" \
  --model-url "$SWITCHBOARD_MODEL__URL" --json "$OUT/ab-$(date -u +%Y%m%dT%H%M%SZ).json" --floor
