#!/usr/bin/env bash
# Eureka registry benchmark (not a test): 100,000 registered instances, heartbeats at ≈3,300/s
# (every instance renewing every 30 s), rollcall's CPU and heartbeat latency under that load,
# full-registry and delta GET latency (JSON, gzip) at 100,000 instances, memory per instance.
# Results and how to read them: bench/EUREKA-RESULTS.md.
#
# The server runs pinned to CPU 0 (taskset -c 0), every load generator on CPU 1. All traffic
# goes to 127.0.0.1. Needs wrk (Debian `wrk`), taskset, curl, python3; builds the release
# binary and the loader (tests/examples/eureka_load.rs) itself.
#
#   bench/eureka-bench.sh                 # the full run, ≈5 minutes
#   HB_SECS=30 DELTA_WAIT=0 bench/eureka-bench.sh   # a quick smoke run
#
# Knobs (environment): APPS (1000) × PER_APP (100) instances; CONNS (100) heartbeat connections
# each pausing PAUSE_MS (30) between heartbeats; HB_SECS (120) of heartbeats measured alone;
# DELTA_WAIT (200): seconds after the bulk load before the steady-state delta is timed (the
# 100,000 ADDED changes must have left the 3-minute delta window); OUT (bench/out/eureka).
set -euo pipefail
cd "$(dirname "$0")/.."

APPS=${APPS:-1000}
PER_APP=${PER_APP:-100}
CONNS=${CONNS:-100}
PAUSE_MS=${PAUSE_MS:-30}
HB_SECS=${HB_SECS:-120}
DELTA_WAIT=${DELTA_WAIT:-200}
OUT=${OUT:-bench/out/eureka}
TOTAL=$((APPS * PER_APP))

for tool in wrk taskset curl python3; do
  command -v "$tool" >/dev/null || { echo "eureka-bench: $tool is missing (apt-get install wrk util-linux curl python3)" >&2; exit 1; }
done
[ "$(nproc)" -ge 2 ] || { echo "eureka-bench: needs 2 CPUs (server on 0, load on 1)" >&2; exit 1; }

rm -rf "$OUT"
mkdir -p "$OUT"
log() { echo "[eureka-bench $(date +%T)] $*" >&2; }

log "building the release binary and the loader"
cargo build --release --locked -q -p rollcall
cargo build --release --locked -q -p rollcall-tests --example eureka_load
BIN=${ROLLCALL_BIN:-target/release/rollcall}
LOADER=target/release/examples/eureka_load

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
DNS_PORT=$(free_port)
HTTP_PORT=$(free_port)
URL=http://127.0.0.1:$HTTP_PORT
cat > "$OUT/Corefile" <<EOF
.:$DNS_PORT {
    bind 127.0.0.1
    eureka registry.bench {
        listen 127.0.0.1:$HTTP_PORT
    }
}
EOF

SERVER_PID=
HB_PID=
cleanup() {
  [ -n "$HB_PID" ] && kill "$HB_PID" 2>/dev/null || true
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT

RUST_LOG=warn taskset -c 0 "$BIN" serve --corefile "$OUT/Corefile" 2> "$OUT/rollcall.log" &
SERVER_PID=$!
for _ in $(seq 100); do
  curl -sf -o /dev/null "$URL/eureka/apps/" && break
  sleep 0.1
done
curl -sf -o /dev/null "$URL/eureka/apps/" || { echo "rollcall did not start:"; cat "$OUT/rollcall.log"; exit 1; } >&2

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$SERVER_PID/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$SERVER_PID/stat"; }
TICKS=$(getconf CLK_TCK)
now() { date +%s.%N; }

sleep 1
RSS_IDLE=$(rss_kib)
log "rollcall pid $SERVER_PID on CPU 0, RSS idle ${RSS_IDLE} KiB; registering $TOTAL instances"
LOAD_START=$(now)
taskset -c 1 "$LOADER" --addr "127.0.0.1:$HTTP_PORT" --apps "$APPS" --per-app "$PER_APP" --conns 32 \
  --ids-out "$OUT/ids.txt" | tee "$OUT/load.txt"
LOAD_END=$(now)
sleep 1
RSS_LOADED=$(rss_kib)

# The registry really holds them all, and a full fetch decodes.
COUNT=$(curl -sf --compressed -H 'Accept: application/json' "$URL/eureka/apps/" |
  python3 -c 'import json,sys; d=json.load(sys.stdin)["applications"]; print(sum(len(a["instance"]) for a in d["application"]), d["apps__hashcode"])')
log "full registry lists: $COUNT"
[ "${COUNT%% *}" = "$TOTAL" ] || { echo "expected $TOTAL instances in the full registry, got $COUNT" >&2; exit 1; }
# Cold (first JSON+gzip render after the load) full GET, for the record.
COLD_FULL_MS=$(curl -s -o /dev/null -w '%{time_total}' -H 'Accept: application/json' -H 'Accept-Encoding: gzip' "$URL/eureka/apps/" |
  awk '{printf "%.1f", $1 * 1000}')
RSS_RENDERED=$(rss_kib)

log "heartbeats: $CONNS connections × 1 per ${PAUSE_MS} ms for ${HB_SECS} s (measured alone)"
C0=$(cpu_ticks); T0=$(now)
taskset -c 1 wrk -t1 -c"$CONNS" -d"${HB_SECS}s" --timeout 2s --latency -s bench/eureka-heartbeat.lua "$URL" \
  -- "$OUT/ids.txt" "$PAUSE_MS" > "$OUT/heartbeat.txt"
C1=$(cpu_ticks); T1=$(now)
cat "$OUT/heartbeat.txt"
CPU_PCT=$(python3 -c "print(round(($C1 - $C0) / $TICKS / ($T1 - $T0) * 100, 1))")
HB_RATE=$(awk '/Requests\/sec/ {print $2}' "$OUT/heartbeat.txt")
HB_P50=$(awk '$1 == "50%" {print $2}' "$OUT/heartbeat.txt")
HB_P99=$(awk '$1 == "99%" {print $2}' "$OUT/heartbeat.txt")
HB_BAD=$(awk '/Non-2xx/ {print $NF}' "$OUT/heartbeat.txt")
HB_ERR=$(grep -c 'Socket errors' "$OUT/heartbeat.txt" || true)
log "rollcall CPU over the heartbeat run: ${CPU_PCT}% of one core"

# Heartbeats go on for the rest of the run (reads are timed at that load).
taskset -c 1 wrk -t1 -c"$CONNS" -d3600s --timeout 2s --latency -s bench/eureka-heartbeat.lua "$URL" \
  -- "$OUT/ids.txt" "$PAUSE_MS" > "$OUT/heartbeat-during-reads.txt" &
HB_PID=$!
sleep 2

log "full registry GETs (JSON, gzip), 40 × one every 250 ms"
taskset -c 1 python3 bench/eureka-get.py --port "$HTTP_PORT" --path /eureka/apps/ --n 40 --pause 0.25 | tee "$OUT/full.json"
log "full registry GETs, each after one registry change"
taskset -c 1 python3 bench/eureka-get.py --port "$HTTP_PORT" --path /eureka/apps/ --n 40 --pause 0.25 --change-each \
  --apps "$APPS" --per-app "$PER_APP" | tee "$OUT/full-change.json"
log "delta GETs while the $TOTAL registrations are still in the delta window"
taskset -c 1 python3 bench/eureka-get.py --port "$HTTP_PORT" --path /eureka/apps/delta --n 20 --pause 0.25 | tee "$OUT/delta-bulk.json"

WAIT=$(python3 -c "print(max(0, round($LOAD_END + $DELTA_WAIT - $(now))))")
if [ "$WAIT" -gt 0 ]; then
  log "waiting ${WAIT} s for the bulk registrations to leave the 3-minute delta window"
  sleep "$WAIT"
fi
log "delta GETs (steady state), each after one registry change"
taskset -c 1 python3 bench/eureka-get.py --port "$HTTP_PORT" --path /eureka/apps/delta --n 100 --pause 0.1 --change-each \
  --apps "$APPS" --per-app "$PER_APP" | tee "$OUT/delta.json"
log "delta GETs (steady state), no change in between"
taskset -c 1 python3 bench/eureka-get.py --port "$HTTP_PORT" --path /eureka/apps/delta --n 100 --pause 0.1 | tee "$OUT/delta-same.json"

kill -INT "$HB_PID" 2>/dev/null || true
wait "$HB_PID" 2>/dev/null || true
HB_PID=
RSS_END=$(rss_kib)
STILL=$(curl -sf --compressed -H 'Accept: application/json' "$URL/eureka/apps/" |
  python3 -c 'import json,sys; d=json.load(sys.stdin)["applications"]; print(sum(len(a["instance"]) for a in d["application"]))')

j() { python3 -c "import json,sys; print(json.load(open('$1'))['$2'])"; }
per_inst() { python3 -c "print(round(($1 - $RSS_IDLE) * 1024 / $TOTAL))"; }
LOAD_RATE=$(grep -o '([0-9]*/s)' "$OUT/load.txt" | tr -d '()/s')

cat > "$OUT/summary.md" <<EOF
| measure | result | floor |
|---|---|---|
| instances registered (loader, 32 connections) | $TOTAL in $(python3 -c "print(round($LOAD_END - $LOAD_START, 1))") s (${LOAD_RATE}/s) | |
| heartbeat rate sustained (${HB_SECS} s) | ${HB_RATE}/s, non-2xx: ${HB_BAD:-0}, socket errors: ${HB_ERR} | ≈3,300/s |
| rollcall CPU during heartbeats | ${CPU_PCT}% of one core | < 30% |
| heartbeat latency p50 / p99 | ${HB_P50} / ${HB_P99} | p99 < 2 ms |
| full GET (JSON, gzip), cold first render | ${COLD_FULL_MS} ms | |
| full GET p50 / p99 (unchanged registry) | $(j "$OUT/full.json" p50_ms) / $(j "$OUT/full.json" p99_ms) ms, $(j "$OUT/full.json" bytes) bytes | p50 < 150 ms |
| full GET p50 / p99 (one change before each) | $(j "$OUT/full-change.json" p50_ms) / $(j "$OUT/full-change.json" p99_ms) ms | p50 < 150 ms |
| delta GET p50 / p99 (steady state, one change before each) | $(j "$OUT/delta.json" p50_ms) / $(j "$OUT/delta.json" p99_ms) ms, $(j "$OUT/delta.json" bytes) bytes | p50 < 5 ms |
| delta GET p50 (steady state, no change between) | $(j "$OUT/delta-same.json" p50_ms) ms | p50 < 5 ms |
| delta GET p50 with the $TOTAL bulk registrations in the window | $(j "$OUT/delta-bulk.json" p50_ms) ms, $(j "$OUT/delta-bulk.json" bytes) bytes | |
| RSS idle → loaded → after first render → end | ${RSS_IDLE} → ${RSS_LOADED} → ${RSS_RENDERED} → ${RSS_END} KiB | |
| memory per instance (RSS delta / $TOTAL) | $(per_inst "$RSS_LOADED") B loaded, $(per_inst "$RSS_END") B at the end | |
| instances still registered at the end | $STILL | $TOTAL |
EOF
log "done; summary in $OUT/summary.md"
cat "$OUT/summary.md"
