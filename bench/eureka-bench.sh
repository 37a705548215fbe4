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
#   bench/eureka-bench.sh                                       # the full run, ≈7 minutes
#   APPS=100 HB_SECS=10 HB2_SECS=10 DELTA_WAIT=0 bench/eureka-bench.sh   # a quick smoke run
#
# Knobs (environment): APPS (1000) × PER_APP (100) instances; heartbeats offered by CONNS (11)
# wrk connections each pausing PAUSE_MS (3) between heartbeats (≈3,300/s) for HB_SECS (120),
# then for comparison by CONNS2 (105) connections pausing PAUSE2_MS (30) for HB2_SECS (60):
# wrk's per-connection timers fall into step, so more connections at the same rate means
# bigger simultaneous bursts (see EUREKA-RESULTS.md); DELTA_WAIT (200): seconds after the bulk
# load before the steady-state delta is timed (the 100,000 ADDED changes must have left the
# 3-minute delta window); RT (1 when root): run the server and the load generators at
# SCHED_FIFO priority (chrt -f 20) so other processes on the machine do not preempt them (the
# figures then measure rollcall, not its neighbours); OUT (bench/out/eureka); ROLLCALL_BIN
# (target/release/rollcall); SKIP_BUILD=1 to use the binaries as they are.
set -euo pipefail
cd "$(dirname "$0")/.."

APPS=${APPS:-1000}
PER_APP=${PER_APP:-100}
CONNS=${CONNS:-11}
PAUSE_MS=${PAUSE_MS:-3}
HB_SECS=${HB_SECS:-120}
CONNS2=${CONNS2:-105}
PAUSE2_MS=${PAUSE2_MS:-30}
HB2_SECS=${HB2_SECS:-60}
DELTA_WAIT=${DELTA_WAIT:-200}
OUT=${OUT:-bench/out/eureka}
TOTAL=$((APPS * PER_APP))
if [ -z "${RT:-}" ]; then
  if [ "$(id -u)" = 0 ] && command -v chrt >/dev/null; then RT=1; else RT=0; fi
fi
if [ "$RT" = 1 ]; then PRIO=(chrt -f 20); else PRIO=(); fi

for tool in wrk taskset curl python3; do
  command -v "$tool" >/dev/null || { echo "eureka-bench: $tool is missing (apt-get install wrk util-linux curl python3)" >&2; exit 1; }
done
[ "$(nproc)" -ge 2 ] || { echo "eureka-bench: needs 2 CPUs (server on 0, load on 1)" >&2; exit 1; }

rm -rf "$OUT"
mkdir -p "$OUT"
log() { echo "[eureka-bench $(date +%T)] $*" >&2; }

if [ -z "${SKIP_BUILD:-}" ]; then
  log "building the release binary and the loader"
  cargo build --release --locked -q -p rollcall
  cargo build --release --locked -q -p rollcall-tests --example eureka_load
fi
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

RUST_LOG=warn "${PRIO[@]}" taskset -c 0 "$BIN" serve --corefile "$OUT/Corefile" 2> "$OUT/rollcall.log" &
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
LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg)
RSS_IDLE=$(rss_kib)
log "rollcall pid $SERVER_PID on CPU 0 (SCHED_FIFO: $RT), RSS idle ${RSS_IDLE} KiB; registering $TOTAL instances"
LOAD_START=$(now)
"${PRIO[@]}" taskset -c 1 "$LOADER" --addr "127.0.0.1:$HTTP_PORT" --apps "$APPS" --per-app "$PER_APP" --conns 32 \
  --ids-out "$OUT/ids.txt" | tee "$OUT/load.txt"
LOAD_END=$(now)
sleep 1
RSS_LOADED=$(rss_kib)

# The registry really holds them all, and a full fetch decodes.
COUNT=$(curl -sf --compressed -H 'Accept: application/json' "$URL/eureka/apps/" |
  python3 -c 'import json,sys; d=json.load(sys.stdin)["applications"]; print(sum(len(a["instance"]) for a in d["application"]), d["apps__hashcode"])')
log "full registry lists: $COUNT"
[ "${COUNT%% *}" = "$TOTAL" ] || { echo "expected $TOTAL instances in the full registry, got $COUNT" >&2; exit 1; }
# The next full GET (JSON, gzip), timed by curl, for the record.
COLD_FULL_MS=$(curl -s -o /dev/null -w '%{time_total}' -H 'Accept: application/json' -H 'Accept-Encoding: gzip' "$URL/eureka/apps/" |
  awk '{printf "%.1f", $1 * 1000}')
RSS_RENDERED=$(rss_kib)

get() { "${PRIO[@]}" taskset -c 1 python3 bench/eureka-get.py --port "$HTTP_PORT" --apps "$APPS" --per-app "$PER_APP" "$@"; }
log "delta GETs right after the load: the $TOTAL registrations are all in the delta window"
get --path /eureka/apps/delta --n 20 --pause 0.25 | tee "$OUT/delta-bulk.json"

# hb NAME CONNS PAUSE_MS SECS: one measured heartbeat run; sets CPU_PCT and the HB_* figures.
hb() {
  local name=$1 conns=$2 pause=$3 secs=$4
  log "heartbeats ($name): $conns connections × 1 per ${pause} ms for ${secs} s"
  local c0 t0 c1 t1
  c0=$(cpu_ticks)
  t0=$(now)
  "${PRIO[@]}" taskset -c 1 wrk -t1 -c"$conns" -d"${secs}s" --timeout 2s --latency -s bench/eureka-heartbeat.lua "$URL" \
    -- "$OUT/ids.txt" "$pause" > "$OUT/heartbeat-$name.txt"
  c1=$(cpu_ticks)
  t1=$(now)
  cat "$OUT/heartbeat-$name.txt" >&2
  CPU_PCT=$(python3 -c "print(round(($c1 - $c0) / $TICKS / ($t1 - $t0) * 100, 1))")
  HB_RATE=$(awk '/Requests\/sec/ {print $2}' "$OUT/heartbeat-$name.txt")
  HB_P50=$(awk '$1 == "50%" {print $2}' "$OUT/heartbeat-$name.txt")
  HB_P90=$(awk '$1 == "90%" {print $2}' "$OUT/heartbeat-$name.txt")
  HB_P99=$(awk '$1 == "99%" {print $2}' "$OUT/heartbeat-$name.txt")
  HB_MAX=$(awk '$1 == "Latency" && NF >= 4 {print $4}' "$OUT/heartbeat-$name.txt")
  HB_BAD=$(awk '/Non-2xx/ {print $NF}' "$OUT/heartbeat-$name.txt")
  HB_ERR=$(grep -c 'Socket errors' "$OUT/heartbeat-$name.txt" || true)
  log "rollcall CPU over the $name heartbeat run: ${CPU_PCT}% of one core"
}
hb main "$CONNS" "$PAUSE_MS" "$HB_SECS"
MAIN_ROW="| $CONNS conns × ${PAUSE_MS} ms pause, ${HB_SECS} s | ${HB_RATE}/s (non-2xx ${HB_BAD:-0}, socket errors ${HB_ERR}) | ${CPU_PCT}% | ${HB_P50} / ${HB_P90} / ${HB_P99} / ${HB_MAX} |"
MAIN_CPU=$CPU_PCT
MAIN_P99=$HB_P99
hb bursty "$CONNS2" "$PAUSE2_MS" "$HB2_SECS"
BURSTY_ROW="| $CONNS2 conns × ${PAUSE2_MS} ms pause, ${HB2_SECS} s | ${HB_RATE}/s (non-2xx ${HB_BAD:-0}, socket errors ${HB_ERR}) | ${CPU_PCT}% | ${HB_P50} / ${HB_P90} / ${HB_P99} / ${HB_MAX} |"

# Heartbeats go on for the rest of the run (reads are timed at that load).
"${PRIO[@]}" taskset -c 1 wrk -t1 -c"$CONNS" -d3600s --timeout 2s --latency -s bench/eureka-heartbeat.lua "$URL" \
  -- "$OUT/ids.txt" "$PAUSE_MS" > "$OUT/heartbeat-during-reads.txt" &
HB_PID=$!
sleep 2

log "full registry GETs (JSON, gzip), 40 × one every 250 ms"
get --path /eureka/apps/ --n 40 --pause 0.25 | tee "$OUT/full.json"
log "full registry GETs, each after one registry change"
get --path /eureka/apps/ --n 40 --pause 0.25 --change-each | tee "$OUT/full-change.json"

WAIT=$(python3 -c "print(max(0, round($LOAD_END + $DELTA_WAIT - $(now))))")
if [ "$WAIT" -gt 0 ]; then
  log "waiting ${WAIT} s for the bulk registrations to leave the 3-minute delta window"
  sleep "$WAIT"
fi
log "delta GETs (steady state), each after one registry change"
get --path /eureka/apps/delta --n 100 --pause 0.1 --change-each | tee "$OUT/delta.json"
log "delta GETs (steady state), no change in between"
get --path /eureka/apps/delta --n 100 --pause 0.1 | tee "$OUT/delta-same.json"

kill -INT "$HB_PID" 2>/dev/null || true
wait "$HB_PID" 2>/dev/null || true
HB_PID=
RSS_END=$(rss_kib)
STILL=$(curl -sf --compressed -H 'Accept: application/json' "$URL/eureka/apps/" |
  python3 -c 'import json,sys; d=json.load(sys.stdin)["applications"]; print(sum(len(a["instance"]) for a in d["application"]))')
DURING=$(awk '$1 == "50%" {p50=$2} $1 == "99%" {p99=$2} /Requests\/sec/ {r=$2} END {print r "/s | | " p50 " / – / " p99 " / –"}' "$OUT/heartbeat-during-reads.txt")

j() { python3 -c "import json,sys; print(json.load(open('$1'))['$2'])"; }
per_inst() { python3 -c "print(round(($1 - $RSS_IDLE) * 1024 / $TOTAL))"; }
LOAD_RATE=$(grep -o '([0-9]*/s)' "$OUT/load.txt" | tr -d '()/s')

{
  echo "Server pinned to CPU 0, load on CPU 1, SCHED_FIFO: $([ "$RT" = 1 ] && echo yes || echo no); load average at the start: $LOADAVG."
  echo
  echo "| heartbeat run | rate sustained | rollcall CPU (one core) | latency p50 / p90 / p99 / max |"
  echo "|---|---|---|---|"
  echo "$MAIN_ROW"
  echo "$BURSTY_ROW"
  echo "| $CONNS conns, during the read measurements | $DURING |"
  echo
  echo "| measure | result | floor |"
  echo "|---|---|---|"
  echo "| instances registered (loader, 32 connections) | $TOTAL in $(python3 -c "print(round($LOAD_END - $LOAD_START, 1))") s (${LOAD_RATE}/s) | |"
  echo "| rollcall CPU at ≈3,300 heartbeats/s | ${MAIN_CPU}% of one core | < 30% |"
  echo "| heartbeat p99 at ≈3,300/s | ${MAIN_P99} | < 2 ms |"
  echo "| full GET (JSON, gzip), first after the load (curl) | ${COLD_FULL_MS} ms | |"
  echo "| full GET p50 / p99 (unchanged registry) | $(j "$OUT/full.json" p50_ms) / $(j "$OUT/full.json" p99_ms) ms, $(j "$OUT/full.json" bytes) bytes gzip | p50 < 150 ms |"
  echo "| full GET p50 / p99 (one change before each) | $(j "$OUT/full-change.json" p50_ms) / $(j "$OUT/full-change.json" p99_ms) ms | p50 < 150 ms |"
  echo "| delta GET p50 / p99 (steady state, one change before each) | $(j "$OUT/delta.json" p50_ms) / $(j "$OUT/delta.json" p99_ms) ms, $(j "$OUT/delta.json" bytes) bytes gzip | p50 < 5 ms |"
  echo "| delta GET p50 / p99 (steady state, no change between) | $(j "$OUT/delta-same.json" p50_ms) / $(j "$OUT/delta-same.json" p99_ms) ms | p50 < 5 ms |"
  echo "| delta GET p50 / p99 right after the load ($TOTAL ADDED in the window, no heartbeats yet) | $(j "$OUT/delta-bulk.json" p50_ms) / $(j "$OUT/delta-bulk.json" p99_ms) ms, $(j "$OUT/delta-bulk.json" bytes) bytes gzip | |"
  echo "| RSS idle → registered → after a full GET → end | ${RSS_IDLE} → ${RSS_LOADED} → ${RSS_RENDERED} → ${RSS_END} KiB | |"
  echo "| memory per instance (RSS delta / $TOTAL) | $(per_inst "$RSS_LOADED") B registered, $(per_inst "$RSS_RENDERED") B after a full GET, $(per_inst "$RSS_END") B at the end | |"
  echo "| instances still registered at the end | $STILL | $TOTAL |"
} > "$OUT/summary.md"
log "done; summary in $OUT/summary.md"
cat "$OUT/summary.md"
