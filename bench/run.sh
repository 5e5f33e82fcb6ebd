#!/usr/bin/env bash
# Reproduces the figures in docs/performance.md in one command.
#
#   bench/run.sh           budget run: 1000 calls × 60 s (ramp 10 s) through switchboard,
#                          then the same traffic through the floor relay; start-up time
#   bench/run.sh limit     steps the call count up until p99 relay time > 20 ms or a
#                          frame/call is lost (no floor run)
#   bench/run.sh soak      300 calls × 10 min; RSS after the calls vs the idle baseline
#   bench/run.sh ab BIN    the budget run (switchboard, then the floor relay) on a given
#                          release binary, no build, 300 calls × 30 s (ramp 5 s): run
#                          it alternately on a build before and after a change
#   bench/run.sh prewarm   200 calls × 30 s (ramp 5 s) through the voice webhook (1 s
#                          webhook → stream gap; stamping model with 400 ms connect and
#                          500 ms to first greeting audio), pre-warm on, then off (a fresh
#                          switchboard and SQLite file each); compares greeting latency,
#                          greeting frames lost, frames lost and CPU per call-second
#                          (no floor run: the floor relay has no voice webhook); PAIRS=N
#                          repeats the pair N times in alternating order and summarises
#                          the CPU ratio (mean, min, max); each pre-warm run prints its
#                          prewarm_claims_total (calls moved to the stream's worker)
#   bench/run.sh live      300 calls × 30 s (ramp 5 s) on the Realtime link, then on the
#                          GPT-Live link (model.api = "live", µ-law passthrough), a fresh
#                          switchboard each; CPU per call-second per run and the ratio;
#                          PAIRS=N repeats the pair in alternating order
#   bench/run.sh recording 300 calls × 30 s (ramp 5 s) with the tenant's local recording
#                          off, then on (config.toml with [tenants.recording] mode = "all",
#                          recordings in a temporary folder), a fresh switchboard each; CPU
#                          per call-second per run and the on/off ratio; PAIRS=N repeats the
#                          pair in alternating order
#   bench/run.sh sip       300 calls × 30 s (ramp 5 s) relayed (Media Streams, GPT-Live link),
#                          then 300 OpenAI SIP calls (switchboard sip-loadtest plays OpenAI;
#                          switchboard carries no audio, only webhooks and sidebands: first
#                          without transcripts, as the relayed run's model, then with a caller
#                          and a receptionist line every 3 s), a fresh switchboard each; CPU
#                          per call-second of each and the ratios; PAIRS=N
#   bench/run.sh cluster   two nodes of one cluster on this machine (PostgreSQL schema of
#                          their own, NATS at 127.0.0.1:4222), 200 calls × 30 s spread over
#                          both with calls.max_calls_per_tenant = 150: CPU per call-second
#                          per node, and whether the cap held (150 admitted, 50 refused)
#
# Environment: SB_BIN (a release binary to run instead of building one), CALLS, DURATION, RAMP (override the mode's defaults), CAP (cluster
# mode's tenant cap), BENCH_PG_URL, NATS_URL, LIMIT_STEPS ("500 1000 1500 …"), GAP,
# CONNECT_DELAY, FIRST_AUDIO_DELAY, ORDER, PAIRS (prewarm mode: 1s, 400ms, 500ms, order
# alternating per pair, 1 pair),
# OUT (results directory, default bench/results).
# Writes OUT/<mode>-<UTC date>.{txt,json} and prints the tables.
set -euo pipefail
cd "$(dirname "$0")/.."

MODE=${1:-budget}
OUT=${OUT:-bench/results}
SB_PORT=${SB_PORT:-18080}
MODEL_PORT=${MODEL_PORT:-19100}
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$OUT"

if [ "$MODE" = ab ]; then
  BIN=${2:?usage: bench/run.sh ab /path/to/switchboard}
elif [ -n "${SB_BIN:-}" ]; then
  BIN=$SB_BIN
else
  cargo build --release --quiet
  BIN=${CARGO_TARGET_DIR:-target}/release/switchboard
fi
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

WORK=$(mktemp -d)
SB_PID=
NODE_PIDS=()
cleanup() {
  for pid in $SB_PID "${NODE_PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

export RUST_LOG=${RUST_LOG:-warn}
export SWITCHBOARD_SERVER__BIND=127.0.0.1:$SB_PORT
export SWITCHBOARD_SERVER__ADMIN_TOKEN=bench
export SWITCHBOARD_MODEL__URL=ws://127.0.0.1:$MODEL_PORT/v1/realtime
export SWITCHBOARD_CALLS__MAX_CALLS=100000
# Every emulated call comes from 127.0.0.1: lift the per-address connection cap
# (server.max_connections_per_address) that would refuse calls past 256.
export SWITCHBOARD_SERVER__MAX_CONNECTIONS_PER_ADDRESS=0

# Starts switchboard on a fresh SQLite file; prints the start-up time to /health 200.
start_switchboard() {
  export SWITCHBOARD_DATABASE__URL=$WORK/switchboard-$RANDOM.db
  local t0 t1
  t0=$(date +%s%N)
  "$BIN" ${SB_CONFIG:+--config "$SB_CONFIG"} serve >"$WORK/switchboard.log" 2>&1 &
  SB_PID=$!
  until curl -fs -o /dev/null "http://127.0.0.1:$SB_PORT/health"; do
    if ! kill -0 "$SB_PID" 2>/dev/null; then cat "$WORK/switchboard.log"; exit 1; fi
    sleep 0.005
  done
  t1=$(date +%s%N)
  echo "start-up to ready (migrations on a fresh SQLite file, /health 200): $(( (t1 - t0) / 1000000 )) ms"
}

stop_switchboard() {
  kill "$SB_PID" 2>/dev/null || true
  wait "$SB_PID" 2>/dev/null || true
  SB_PID=
}

# Starts cluster node ID on PORT (the cluster's database and NATS are exported by
# the caller); appends its PID to NODE_PIDS.
start_node() { # id port
  local id=$1 port=$2 pid
  SWITCHBOARD_SERVER__BIND=127.0.0.1:$port SWITCHBOARD_CLUSTER__NODE_ID=$id \
    SWITCHBOARD_DATABASE__SPOOL_FILE=$WORK/spool-$id.jsonl \
    "$BIN" serve >"$WORK/$id.log" 2>&1 &
  pid=$!
  NODE_PIDS+=("$pid")
  until curl -fs -o /dev/null "http://127.0.0.1:$port/health"; do
    if ! kill -0 "$pid" 2>/dev/null; then cat "$WORK/$id.log"; exit 1; fi
    sleep 0.05
  done
}

loadtest() { # calls duration ramp json [extra args…]
  local calls=$1 duration=$2 ramp=$3 json=$4
  shift 4
  "$BIN" loadtest --url "ws://127.0.0.1:$SB_PORT/media-stream" --calls "$calls" \
    --duration "$duration" --ramp "$ramp" --target-pid "$SB_PID" \
    --model-url "$SWITCHBOARD_MODEL__URL" --json "$json" "$@"
}

case "$MODE" in
  budget)
    {
      echo "# bench/run.sh budget · $(date -u +%FT%TZ) · $(nproc) CPUs · $(uname -r)"
      start_switchboard
      loadtest "${CALLS:-1000}" "${DURATION:-60s}" "${RAMP:-10s}" "$OUT/budget-$STAMP.json" --floor
      stop_switchboard
    } 2>&1 | tee "$OUT/budget-$STAMP.txt"
    ;;
  ab)
    {
      echo "# bench/run.sh ab $BIN · $(date -u +%FT%TZ) · $(nproc) CPUs"
      start_switchboard
      loadtest "${CALLS:-300}" "${DURATION:-30s}" "${RAMP:-5s}" "$OUT/ab-$STAMP.json" --floor
      stop_switchboard
    } 2>&1 | tee "$OUT/ab-$STAMP.txt"
    ;;
  limit)
    {
      echo "# bench/run.sh limit · $(date -u +%FT%TZ) · $(nproc) CPUs"
      for n in ${LIMIT_STEPS:-500 1000 1500 2000 2500 3000 4000}; do
        start_switchboard
        loadtest "$n" "${DURATION:-30s}" "${RAMP:-10s}" "$OUT/limit-$n-$STAMP.json" || true
        stop_switchboard
        verdict=$(jq -r '.runs[0] as $r | [$r.completed == $r.calls,
            $r.carrier_to_model.lost == 0, $r.model_to_carrier.lost == 0,
            $r.carrier_to_model.out_of_order == 0, $r.model_to_carrier.out_of_order == 0,
            $r.carrier_to_model.relay_time.p99_ms <= 20, $r.model_to_carrier.relay_time.p99_ms <= 20]
            | all' "$OUT/limit-$n-$STAMP.json")
        echo "== $n calls: within limit: $verdict"
        [ "$verdict" = true ] || { echo "== limit: first failing step $n calls"; break; }
      done
    } 2>&1 | tee "$OUT/limit-$STAMP.txt"
    ;;
  cluster)
    {
      echo "# bench/run.sh cluster · $(date -u +%FT%TZ) · $(nproc) CPUs"
      schema=bench_${STAMP,,}
      pg=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/test}
      psql "$pg" -qc "CREATE SCHEMA $schema"
      export SWITCHBOARD_DATABASE__URL="$pg?options=-c%20search_path%3D$schema"
      export SWITCHBOARD_CLUSTER__NATS_URL=${NATS_URL:-nats://127.0.0.1:4222}
      # Every bus message is signed with the cluster secret (the same on both nodes).
      export SWITCHBOARD_CLUSTER__SECRET=${CLUSTER_SECRET:-bench-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')}
      export SWITCHBOARD_CLUSTER__NAME=$schema
      export SWITCHBOARD_CALLS__MAX_CALLS_PER_TENANT=${CAP:-150}
      start_node sb-1 "$SB_PORT"
      start_node sb-2 "$((SB_PORT + 1))"
      json="$OUT/cluster-$STAMP.json"
      "$BIN" loadtest --url "ws://127.0.0.1:$SB_PORT/media-stream" \
        --url "ws://127.0.0.1:$((SB_PORT + 1))/media-stream" \
        --target-pid "${NODE_PIDS[0]}" --target-pid "${NODE_PIDS[1]}" \
        --calls "${CALLS:-200}" --duration "${DURATION:-30s}" --ramp "${RAMP:-5s}" \
        --model-url "$SWITCHBOARD_MODEL__URL" --json "$json" || true
      jq -r --argjson cap "$SWITCHBOARD_CALLS__MAX_CALLS_PER_TENANT" '.runs[0] |
        "admitted \(.calls - .refused) of \(.calls) calls (tenant cap \($cap)): cap held: \((.calls - .refused) <= $cap and .refused == ([.calls - $cap, 0] | max)) · completed \(.completed)"' "$json"
      for pid in "${NODE_PIDS[@]}"; do kill "$pid"; wait "$pid" 2>/dev/null || true; done
      NODE_PIDS=()
      psql "$pg" -qc "DROP SCHEMA $schema CASCADE"
    } 2>&1 | tee "$OUT/cluster-$STAMP.txt"
    ;;
  soak)
    {
      echo "# bench/run.sh soak · $(date -u +%FT%TZ) · $(nproc) CPUs"
      start_switchboard
      loadtest "${CALLS:-300}" "${DURATION:-10m}" "${RAMP:-10s}" "$OUT/soak-$STAMP.json" --settle 30s
      stop_switchboard
      jq -r '.runs[0].server | "RSS idle \(.rss_idle_kib) KiB → loaded \(.rss_loaded_kib) KiB → after \(.rss_after_kib) KiB (\(.rss_after_vs_idle_pct) % vs idle; budget ≤ 10 %)"' \
        "$OUT/soak-$STAMP.json"
    } 2>&1 | tee "$OUT/soak-$STAMP.txt"
    ;;
  prewarm)
    {
      echo "# bench/run.sh prewarm · $(date -u +%FT%TZ) · $(nproc) CPUs · $(uname -r)"
      export SWITCHBOARD_CALLS__GREET_CALLER=true
      # PAIRS on/off pairs, the order alternating (on off, off on, …) so drift
      # on a shared machine does not favour one side; run-to-run CPU varies by
      # several per cent, so a single pair cannot show a 5 % difference.
      for pair in $(seq 1 "${PAIRS:-1}"); do
        order=${ORDER:-$([ $((pair % 2)) -eq 1 ] && echo "on off" || echo "off on")}
        for prewarm in $order; do
          echo "== pair $pair: pre-warm $prewarm"
          if [ "$prewarm" = on ]; then export SWITCHBOARD_CALLS__PREWARM=true
          else export SWITCHBOARD_CALLS__PREWARM=false; fi
          start_switchboard
          loadtest "${CALLS:-200}" "${DURATION:-30s}" "${RAMP:-5s}" "$OUT/prewarm-$prewarm-$STAMP-$pair.json" \
            --webhook "http://127.0.0.1:$SB_PORT/twiml" --webhook-gap "${GAP:-1s}" --greeting \
            --model-connect-delay "${CONNECT_DELAY:-400ms}" \
            --model-first-audio-delay "${FIRST_AUDIO_DELAY:-500ms}"
          # Where the pre-warmed calls ran: on the webhook's worker, moved to the
          # stream's, or (never expected) left across threads.
          curl -fs "http://127.0.0.1:$SB_PORT/metrics" | grep '^switchboard_prewarm_claims_total' || true
          stop_switchboard
        done
      done
      echo "== pre-warm on vs off (webhook → stream gap ${GAP:-1s}; model ${CONNECT_DELAY:-400ms} connect, ${FIRST_AUDIO_DELAY:-500ms} to first audio)"
      jq -rs '
        def f(x): if x == null then "n/a" else (x * 10 | round / 10 | tostring) end;
        def lost(r): (r.carrier_to_model.lost // 0) + (r.model_to_carrier.lost // 0);
        [.[].runs[0]] as [$on, $off]
        | ($on.server.cpu_ms_per_call_second) as $c_on
        | ($off.server.cpu_ms_per_call_second) as $c_off
        | [["", "pre-warm on", "pre-warm off", "on/off"],
           ["calls completed / failed", "\($on.completed) / \($on.failed)", "\($off.completed) / \($off.failed)", ""],
           ["greeting latency p50 / p95 ms",
            "\(f($on.greeting.latency.p50_ms)) / \(f($on.greeting.latency.p95_ms))",
            "\(f($off.greeting.latency.p50_ms)) / \(f($off.greeting.latency.p95_ms))", ""],
           ["greeting frames sent / lost",
            "\($on.greeting.frames_sent) / \($on.greeting.lost)",
            "\($off.greeting.frames_sent) / \($off.greeting.lost)", ""],
           ["frames lost (c→m + m→c)", "\(lost($on))", "\(lost($off))", ""],
           ["server CPU ms per call-second", "\($c_on * 1000 | round / 1000)", "\($c_off * 1000 | round / 1000)",
            (if $c_off > 0 then "\($c_on / $c_off * 1000 | round / 1000)×" else "n/a" end)],
           ["server CPU ms per call, whole run", f($on.server.cpu_ms_per_call), f($off.server.cpu_ms_per_call),
            (if $off.server.cpu_ms_per_call > 0 then "\($on.server.cpu_ms_per_call / $off.server.cpu_ms_per_call * 1000 | round / 1000)×" else "n/a" end)]]
        | .[] | "\(.[0] | . + " " * (36 - length))\(.[1] | . + " " * (16 - length))\(.[2] | . + " " * (16 - length))\(.[3])"
      ' "$OUT/prewarm-on-$STAMP-1.json" "$OUT/prewarm-off-$STAMP-1.json"
      if [ "${PAIRS:-1}" -gt 1 ]; then
        echo "== server CPU ms per call-second over ${PAIRS} pairs (steady window)"
        for pair in $(seq 1 "$PAIRS"); do
          jq -s '[.[].runs[0].server.cpu_ms_per_call_second]' \
            "$OUT/prewarm-on-$STAMP-$pair.json" "$OUT/prewarm-off-$STAMP-$pair.json"
        done | jq -rs '
          def r(x): x * 1000 | round / 1000;
          def mean(xs): (xs | add) / (xs | length);
          (map(.[0] / .[1])) as $ratios
          | (to_entries[] | "pair \(.key + 1)     on \(r(.value[0]))  off \(r(.value[1]))  on/off \(r(.value[0] / .value[1]))×"),
            "mean       on \(r(mean(map(.[0]))))  off \(r(mean(map(.[1]))))  ratio of means \(r(mean(map(.[0])) / mean(map(.[1]))))×",
            "on/off per pair: mean \(r(mean($ratios)))×, min \(r($ratios | min))×, max \(r($ratios | max))×"
        '
      fi
    } 2>&1 | tee "$OUT/prewarm-$STAMP.txt"
    ;;
  live)
    {
      echo "# bench/run.sh live · $(date -u +%FT%TZ) · $(nproc) CPUs · $(uname -r)"
      # The same traffic on the Realtime link and on the GPT-Live link (µ-law
      # passthrough both ways; the GPT-Live stamping model also sends its silent
      # track between replies), PAIRS times in alternating order.
      for pair in $(seq 1 "${PAIRS:-1}"); do
        order=${ORDER:-$([ $((pair % 2)) -eq 1 ] && echo "realtime live" || echo "live realtime")}
        for api in $order; do
          echo "== pair $pair: $api"
          export SWITCHBOARD_MODEL__API=$api
          start_switchboard
          loadtest "${CALLS:-300}" "${DURATION:-30s}" "${RAMP:-5s}" "$OUT/live-$api-$STAMP-$pair.json" \
            --model-api "$api"
          stop_switchboard
        done
      done
      unset SWITCHBOARD_MODEL__API
      echo "== server CPU ms per call-second (steady window): GPT-Live vs Realtime"
      for pair in $(seq 1 "${PAIRS:-1}"); do
        jq -s '[.[].runs[0] | .server.cpu_ms_per_call_second, (.carrier_to_model.lost + .model_to_carrier.lost)]' \
          "$OUT/live-live-$STAMP-$pair.json" "$OUT/live-realtime-$STAMP-$pair.json"
      done | jq -rs '
        def r(x): x * 1000 | round / 1000;
        def mean(xs): (xs | add) / (xs | length);
        (map(.[0] / .[2])) as $ratios
        | (to_entries[] | "pair \(.key + 1)  live \(r(.value[0]))  realtime \(r(.value[2]))  live/realtime \(r(.value[0] / .value[2]))×  frames lost \(.value[1]) / \(.value[3])"),
          "live/realtime per pair: mean \(r(mean($ratios)))×, min \(r($ratios | min))×, max \(r($ratios | max))×"
      '
    } 2>&1 | tee "$OUT/live-$STAMP.txt"
    ;;
  recording)
    {
      echo "# bench/run.sh recording · $(date -u +%FT%TZ) · $(nproc) CPUs · $(uname -r)"
      # The shipped config.toml twice, recording off and on, in $WORK (so its
      # relative recording.dir lands there too).
      sed 's/^mode = "off"/mode = "all"/' config.toml >"$WORK/recording-on.toml"
      cp config.toml "$WORK/recording-off.toml"
      for pair in $(seq 1 "${PAIRS:-1}"); do
        order=${ORDER:-$([ $((pair % 2)) -eq 1 ] && echo "off on" || echo "on off")}
        for rec in $order; do
          echo "== pair $pair: recording $rec"
          SB_CONFIG="$WORK/recording-$rec.toml" start_switchboard
          loadtest "${CALLS:-300}" "${DURATION:-30s}" "${RAMP:-5s}" "$OUT/recording-$rec-$STAMP-$pair.json"
          stop_switchboard
        done
        echo "recordings written: $(find "$WORK/data/recordings" -name '*.wav' 2>/dev/null | wc -l) files, $(du -sh "$WORK/data/recordings" 2>/dev/null | cut -f1)"
        rm -rf "$WORK/data/recordings"
      done
      echo "== server CPU ms per call-second (steady window): recording on vs off"
      for pair in $(seq 1 "${PAIRS:-1}"); do
        jq -s '[.[].runs[0] | .server.cpu_ms_per_call_second, (.carrier_to_model.lost + .model_to_carrier.lost)]' \
          "$OUT/recording-on-$STAMP-$pair.json" "$OUT/recording-off-$STAMP-$pair.json"
      done | jq -rs '
        def r(x): x * 1000 | round / 1000;
        def mean(xs): (xs | add) / (xs | length);
        (map(.[0] / .[2])) as $ratios
        | (to_entries[] | "pair \(.key + 1)  on \(r(.value[0]))  off \(r(.value[2]))  on/off \(r(.value[0] / .value[2]))×  frames lost \(.value[1]) / \(.value[3])"),
          "on/off per pair: mean \(r(mean($ratios)))×, min \(r($ratios | min))×, max \(r($ratios | max))×"
      '
    } 2>&1 | tee "$OUT/recording-$STAMP.txt"
    ;;
  sip)
    {
      echo "# bench/run.sh sip · $(date -u +%FT%TZ) · $(nproc) CPUs · $(uname -r)"
      # The same number of calls relayed (Media Streams, GPT-Live link) and
      # carried by OpenAI SIP (no audio here; sip-loadtest plays OpenAI:
      # signed webhooks, call controls, sidebands with a caller and a
      # receptionist line every 2 s), a fresh switchboard each, tenant on
      # api = "live".
      SIP_PORT=${SIP_PORT:-19250}
      export SWITCHBOARD_OPENAI__WEBHOOK_SECRET=whsec_c3dpdGNoYm9hcmQtYmVuY2gtc2VjcmV0LTMyYnl0ZXMhIQ==
      export SWITCHBOARD_OPENAI__API_BASE=http://127.0.0.1:$SIP_PORT
      export SWITCHBOARD_MODEL__API_KEY=sk-bench
      for pair in $(seq 1 "${PAIRS:-1}"); do
        echo "== pair $pair: relayed (Media Streams → GPT-Live link)"
        SWITCHBOARD_MODEL__API=live start_switchboard
        loadtest "${CALLS:-300}" "${DURATION:-30s}" "${RAMP:-5s}" "$OUT/sip-relayed-$STAMP-$pair.json" --model-api live
        stop_switchboard
        # As the relayed run's model: no transcripts; then a caller and a
        # receptionist line every 3 s (each stored as it comes).
        for lines in 0s 3s; do
          echo "== pair $pair: OpenAI SIP (sideband only, transcript lines every $lines)"
          SWITCHBOARD_MODEL__API=live start_switchboard
          "$BIN" sip-loadtest --webhook "http://127.0.0.1:$SB_PORT/openai/webhook" --listen "127.0.0.1:$SIP_PORT" \
            --calls "${CALLS:-300}" --duration "${DURATION:-30s}" --ramp "${RAMP:-5s}" --target-pid "$SB_PID" \
            --line-every "$lines" --json "$OUT/sip-sideband-$lines-$STAMP-$pair.json"
          stop_switchboard
        done
      done
      echo "== server CPU ms per call-second: relayed vs OpenAI SIP"
      for pair in $(seq 1 "${PAIRS:-1}"); do
        relayed=$(jq '.runs[0].server.cpu_ms_per_call_second' "$OUT/sip-relayed-$STAMP-$pair.json")
        for lines in 0s 3s; do
          sip=$(jq '.cpu_ms_per_call_second' "$OUT/sip-sideband-$lines-$STAMP-$pair.json")
          echo "pair $pair  relayed $(jq -n "$relayed * 1000 | round / 1000")  sip (lines every $lines) $(jq -n "$sip * 1000 | round / 1000")  relayed/sip $(jq -n "$relayed / $sip * 10 | round / 10")×"
        done
      done
    } 2>&1 | tee "$OUT/sip-$STAMP.txt"
    ;;
  *)
    echo "usage: bench/run.sh [budget|limit|soak|prewarm|cluster|live|recording|sip|ab BIN]" >&2
    exit 2
    ;;
esac
