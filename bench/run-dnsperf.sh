#!/usr/bin/env bash
# dnsperf benchmark of rollcall on a synthetic cluster (see bench/README.md).
#
#   bench/run-dnsperf.sh [--services N] [--pods M] [--duration S] [--clients C] [--outstanding Q]
#                        [--latency-qps R] [--port P] [--seed S] [--no-build] [--only CATS]
#                        [--wait-quiet SECONDS] [--rt none|latency|all] [--retry-busy K]
#                        [--kubeadm]
#
# Builds the release binaries, generates the cluster into bench/out/, starts
# `taskset -c 0 rollcall serve --threads 1`, waits until kube-dns.kube-system.svc.cluster.local
# answers, then runs dnsperf pinned to CPU 1 once per query category (throughput: no rate limit)
# and once on mix.txt limited to --latency-qps (latency: per-query output, percentiles computed
# here). Every response code is checked against what the generator expects. Prints a Markdown
# table and writes it, with the raw dnsperf output, to bench/out/.
#
# The machine may be shared: each row reports the CPU other processes used during the run
# ("others", in % of one core). --wait-quiet S waits up to S seconds before each run until the
# machine is idle (other processes under 10% of one core for a second). --rt latency runs the
# server and dnsperf as SCHED_FIFO (chrt -f 10) during the latency run, so other processes on a
# shared machine cannot preempt them (--rt all: during every run; default none). --retry-busy K
# repeats a run (up to K more times) while other processes took over 15% of a core during it, and
# keeps the least disturbed attempt.
#
# --kubeadm serves the cluster through the rest of kubeadm's default chain (errors, health,
# ready, prometheus, cache with cluster.local disabled, loadbalance, reload) around kubernetes.
#
# Sends traffic to 127.0.0.1 only. Each dnsperf run is bounded by --duration (at most 30 s).
set -euo pipefail

SERVICES=5000
PODS=50000
DURATION=20
CLIENTS=4
OUTSTANDING=200
LATENCY_QPS=20000
PORT=1053
SEED=1
BUILD=1
ONLY=""
WAIT_QUIET=0
RT=none
RETRY_BUSY=0
KUBEADM=()
CATEGORIES=(service headless srv ptr pod nodata externalname nxdomain mix)

usage() { sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while [ $# -gt 0 ]; do
    case "$1" in
        --services) SERVICES=$2; shift 2 ;;
        --pods) PODS=$2; shift 2 ;;
        --duration) DURATION=$2; shift 2 ;;
        --clients) CLIENTS=$2; shift 2 ;;
        --outstanding) OUTSTANDING=$2; shift 2 ;;
        --latency-qps) LATENCY_QPS=$2; shift 2 ;;
        --port) PORT=$2; shift 2 ;;
        --seed) SEED=$2; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --only) ONLY=$2; shift 2 ;;
        --wait-quiet) WAIT_QUIET=$2; shift 2 ;;
        --rt) RT=$2; shift 2 ;;
        --retry-busy) RETRY_BUSY=$2; shift 2 ;;
        --kubeadm) KUBEADM=(--kubeadm); shift ;;
        -h|--help) usage 0 ;;
        *) echo "unknown option: $1" >&2; usage 2 ;;
    esac
done
if [ "$DURATION" -gt 30 ]; then
    echo "--duration $DURATION: capped at 30 s" >&2
    DURATION=30
fi
case "$RT" in none|latency|all) ;; *) echo "--rt: none, latency or all" >&2; exit 2 ;; esac
if [ "$RT" != none ] && ! command -v chrt >/dev/null; then echo "--rt needs chrt (util-linux)" >&2; exit 2; fi
if [ -n "$ONLY" ]; then
    IFS=',' read -r -a CATEGORIES <<< "$ONLY"
fi

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$ROOT/bench/out
mkdir -p "$OUT"
# One run at a time: a second run would regenerate bench/out under the first one's server (which
# reloads watched manifests) and compete for the same two cores.
if command -v flock >/dev/null; then
    exec 9>"$OUT/.run.lock"
    if ! flock -n 9; then
        echo "== another run-dnsperf.sh is running; waiting for it (up to 30 min)" >&2
        flock -w 1800 9 || { echo "gave up waiting for the other run" >&2; exit 2; }
    fi
fi
for tool in dnsperf dig taskset; do
    command -v "$tool" >/dev/null || { echo "$tool is not installed (apt-get install -y dnsperf dnsutils util-linux)" >&2; exit 2; }
done
NCPU=$(nproc)
SERVER_CPU=0
CLIENT_CPU=$(( NCPU > 1 ? 1 : 0 ))

# ---- build ------------------------------------------------------------------------------------
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
if [ "$BUILD" = 1 ]; then
    echo "== building (release)" >&2
    build() { (cd "$ROOT" && cargo build --release -p rollcall -p rollcall-bench --bin rollcall --bin gen-cluster --bin udp-reflect) >&2; }
    if ! build; then
        # The workspace is shared: someone's half-finished file can break it for a moment.
        echo "== build failed; retrying in 60 s" >&2
        sleep 60
        build
    fi
fi
BIN=${ROLLCALL_BIN:-$TARGET/release/rollcall}
GEN=${GEN_CLUSTER_BIN:-$TARGET/release/gen-cluster}
REFLECT=$TARGET/release/udp-reflect
[ -x "$BIN" ] && [ -x "$GEN" ] || { echo "missing $BIN or $GEN (build first, or drop --no-build)" >&2; exit 2; }

if ss -Hlun "sport = :$PORT" | grep -q .; then
    echo "UDP port $PORT is already in use on this machine: stop that server or pass --port" >&2
    exit 2
fi

# ---- cluster ----------------------------------------------------------------------------------
echo "== generating $SERVICES Services / $PODS pods into $OUT" >&2
"$GEN" --services "$SERVICES" --pods "$PODS" --seed "$SEED" --port "$PORT" --out "$OUT" "${KUBEADM[@]}" | tee "$OUT/cluster-summary.txt" >&2

# ---- server -----------------------------------------------------------------------------------
SERVER_PID=""
cleanup() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
}
trap cleanup EXIT INT TERM

START_NS=$(date +%s%N)
taskset -c "$SERVER_CPU" "$BIN" serve --corefile "$OUT/Corefile" --threads 1 >"$OUT/server.log" 2>&1 &
SERVER_PID=$!
echo "== rollcall pid $SERVER_PID on CPU $SERVER_CPU; waiting for kube-dns.kube-system.svc.cluster.local" >&2
ready=0
for _ in $(seq 1 600); do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        echo "rollcall exited:" >&2; cat "$OUT/server.log" >&2; exit 1
    fi
    if dig +short +time=1 +tries=1 @127.0.0.1 -p "$PORT" kube-dns.kube-system.svc.cluster.local A 2>/dev/null | grep -qx '10.96.0.10'; then
        ready=1; break
    fi
    sleep 0.2
done
[ "$ready" = 1 ] || { echo "rollcall did not answer within 120 s" >&2; cat "$OUT/server.log" >&2; exit 1; }
READY_S=$(awk -v a="$START_NS" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$SERVER_PID/status"; }
hwm_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$SERVER_PID/status"; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$SERVER_PID/stat"; }
TICKS=$(getconf CLK_TCK)
# Scheduling policy of every thread of the server: `fifo` or `other`.
server_policy() {
    local tid
    for tid in /proc/"$SERVER_PID"/task/*; do
        if [ "$1" = fifo ]; then chrt -f -p 10 "${tid##*/}" >/dev/null; else chrt -o -p 0 "${tid##*/}" >/dev/null; fi
    done
}
CLIENT_RT=()
if [ "$RT" = all ]; then server_policy fifo; CLIENT_RT=(chrt -f 10); fi
RSS_IDLE=$(rss_kb)
echo "== ready after ${READY_S} s; VmRSS ${RSS_IDLE} kB" >&2

# Seconds between two `date +%s%N` readings.
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b - a) / 1e9 }'; }
# Busy jiffies of the whole machine (all CPUs), for what other processes take during a run.
busy_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
# Wait (at most WAIT_QUIET s) until the machine is idle for a second.
wait_quiet() {
    [ "$WAIT_QUIET" -gt 0 ] || return 0
    local deadline=$(( $(date +%s) + WAIT_QUIET )) b0 b1
    while :; do
        b0=$(busy_ticks); sleep 1; b1=$(busy_ticks)
        if [ $(( b1 - b0 )) -le $(( TICKS / 10 )) ]; then return 0; fi
        if [ "$(date +%s)" -ge "$deadline" ]; then
            echo "   (machine still busy: $(( (b1 - b0) * 100 / TICKS ))% of a core used by others; running anyway)" >&2
            return 0
        fi
    done
}

# Expected answers per category (from the generator).
declare -A EXP_OK EXP_NX
while IFS=$'\t' read -r cat lines _distinct ok nx; do
    [[ "$cat" == \#* ]] && continue
    EXP_OK[$cat]=$ok; EXP_NX[$cat]=$nx
done < "$OUT/queries/expected.tsv"

# field NAME FILE: the value after "NAME:" in dnsperf's statistics.
field() { sed -n "s/^ *$1: *//p" "$2" | head -1; }
rcode_count() { { grep -o "$1 [0-9]*" <<< "$2" || true; } | awk '{ print $2 }' | head -1; }

ROWS=()
PROBLEMS=()
run_category() {
    local cat=$1 file="$OUT/queries/$1.txt" log="$OUT/dnsperf-$1.txt"
    [ -s "$file" ] || { echo "skip $cat: no $file" >&2; return; }
    wait_quiet
    local t0 b0 b1 w0 w1 secs; t0=$(cpu_ticks); b0=$(busy_ticks); w0=$(date +%s%N)
    /usr/bin/time -f '%P' -o "$OUT/dnsperf-$cat.cpu" \
        "${CLIENT_RT[@]}" taskset -c "$CLIENT_CPU" dnsperf -s 127.0.0.1 -p "$PORT" -d "$file" -l "$DURATION" \
        -c "$CLIENTS" -T 1 -q "$OUTSTANDING" >"$log" 2>&1 || true
    local t1; t1=$(cpu_ticks); b1=$(busy_ticks); w1=$(date +%s%N); secs=$(elapsed "$w0" "$w1")
    local qps avg lost codes completed sent cpu client others
    qps=$(field 'Queries per second' "$log")
    avg=$(field 'Average Latency (s)' "$log" | awk '{ printf "%.3f", $1 * 1000 }')
    lost=$(field 'Queries lost' "$log" | sed -n 's/.*(\(.*\)%).*/\1/p')
    completed=$(field 'Queries completed' "$log" | awk '{ print $1 }')
    sent=$(field 'Queries sent' "$log")
    codes=$(field 'Response codes' "$log")
    cpu=$(awk -v a="$t0" -v b="$t1" -v hz="$TICKS" -v d="$secs" 'BEGIN { printf "%.0f", (b - a) / hz / d * 100 }')
    client=$(tail -1 "$OUT/dnsperf-$cat.cpu" 2>/dev/null || echo "?")
    # Everything busy minus the server minus dnsperf (approximate: dnsperf waits up to 1 s more).
    others=$(awk -v b="$((b1 - b0))" -v s="$((t1 - t0))" -v c="${client%\%}" -v hz="$TICKS" -v d="$secs" \
        'BEGIN { o = (b - s) / hz / d * 100 - c; if (o < 0) o = 0; printf "%.0f", o }')
    if [ -z "$qps" ]; then
        PROBLEMS+=("$cat: dnsperf produced no statistics (see $log)")
        ROW="| $cat | - | - | - | - | - | - | - | dnsperf failed |"; OTHERS=0
        return
    fi
    # Correctness: only the expected RCODEs, in the expected proportion.
    local ok nx other
    ok=$(rcode_count NOERROR "$codes"); ok=${ok:-0}
    nx=$(rcode_count NXDOMAIN "$codes"); nx=${nx:-0}
    other=$(( completed - ok - nx ))
    if [ "$other" -ne 0 ]; then
        PROBLEMS+=("$cat: $other answers neither NOERROR nor NXDOMAIN ($codes)")
    fi
    local eok=${EXP_OK[$cat]:-0} enx=${EXP_NX[$cat]:-0}
    if [ "$enx" = 0 ] && [ "$nx" -ne 0 ]; then
        PROBLEMS+=("$cat: $nx NXDOMAIN where every name exists ($codes)")
    elif [ "$eok" = 0 ] && [ "$ok" -ne 0 ]; then
        PROBLEMS+=("$cat: $ok NOERROR where every name should be NXDOMAIN ($codes)")
    elif [ "$enx" != 0 ] && [ "$eok" != 0 ] && [ "$completed" -gt 0 ]; then
        # A mix cycles through its file, so the share only matches approximately.
        if ! awk -v nx="$nx" -v c="$completed" -v e="$enx" -v t="$((eok + enx))" \
            'BEGIN { d = nx / c - e / t; exit !(d < 0.01 && d > -0.01) }'; then
            PROBLEMS+=("$cat: NXDOMAIN share $nx/$completed, expected $enx/$((eok + enx)) ($codes)")
        fi
    fi
    local per_core
    per_core=$(awk -v q="$qps" -v c="$cpu" 'BEGIN { if (c > 0) printf "%.0f", q / (c / 100); else print "-" }')
    ROW="| $cat | $(printf '%.0f' "$qps") | $avg | $lost | $cpu% | $per_core | $client | $others% | $codes |"
    OTHERS=$others
    echo "   $cat: $(printf '%.0f' "$qps") qps, avg $avg ms, lost $lost%, server CPU $cpu%, dnsperf CPU $client, others $others%, $codes" >&2
}

echo "== throughput: dnsperf -c $CLIENTS -T 1 -q $OUTSTANDING -l $DURATION on CPU $CLIENT_CPU" >&2
for cat in "${CATEGORIES[@]}"; do
    best_row="" best_others=""
    for attempt in $(seq 0 "$RETRY_BUSY"); do
        ROW="" OTHERS=0
        run_category "$cat"
        [ -n "$ROW" ] || break
        if [ -z "$best_row" ] || [ "$OTHERS" -lt "$best_others" ]; then
            best_row=$ROW best_others=$OTHERS
            cp "$OUT/dnsperf-$cat.txt" "$OUT/dnsperf-$cat.best.txt"
        fi
        [ "$OTHERS" -gt 15 ] && [ "$attempt" -lt "$RETRY_BUSY" ] && { echo "   (others used $OTHERS% of a core: again)" >&2; continue; }
        break
    done
    [ -n "$best_row" ] && ROWS+=("$best_row")
done

# ---- calibration: the same dnsperf against udp-reflect (recvfrom + sendto, nothing else) ---------
CAL_ROW=""
if [ -x "$REFLECT" ] && ! ss -Hlun "sport = :$((PORT + 1))" | grep -q .; then
    echo "== calibration: dnsperf on mix.txt against udp-reflect (port $((PORT + 1)), CPU $SERVER_CPU)" >&2
    wait_quiet
    taskset -c "$SERVER_CPU" "$REFLECT" --port $((PORT + 1)) --seconds $((DURATION + 8)) >"$OUT/udp-reflect.log" 2>&1 &
    REFLECT_PID=$!
    sleep 0.3
    r0=$(awk '{ print $14 + $15 }' "/proc/$REFLECT_PID/stat"); b0=$(busy_ticks); w0=$(date +%s%N)
    /usr/bin/time -f '%P' -o "$OUT/dnsperf-calibration.cpu" \
        taskset -c "$CLIENT_CPU" dnsperf -s 127.0.0.1 -p $((PORT + 1)) -d "$OUT/queries/mix.txt" -l "$DURATION" \
        -c "$CLIENTS" -T 1 -q "$OUTSTANDING" >"$OUT/dnsperf-calibration.txt" 2>&1 || true
    r1=$(awk '{ print $14 + $15 }' "/proc/$REFLECT_PID/stat" 2>/dev/null || echo "$r0"); b1=$(busy_ticks); w1=$(date +%s%N)
    secs=$(elapsed "$w0" "$w1")
    kill "$REFLECT_PID" 2>/dev/null || true
    wait "$REFLECT_PID" 2>/dev/null || true
    cal_qps=$(printf '%.0f' "$(field 'Queries per second' "$OUT/dnsperf-calibration.txt")")
    cal_avg=$(field 'Average Latency (s)' "$OUT/dnsperf-calibration.txt" | awk '{ printf "%.3f", $1 * 1000 }')
    cal_cpu=$(awk -v s="$((r1 - r0))" -v hz="$TICKS" -v d="$secs" 'BEGIN { printf "%.0f", s / hz / d * 100 }')
    cal_client=$(tail -1 "$OUT/dnsperf-calibration.cpu" 2>/dev/null || echo "0%")
    cal_others=$(awk -v b="$((b1 - b0))" -v s="$((r1 - r0))" -v c="${cal_client%\%}" -v hz="$TICKS" -v d="$secs" \
        'BEGIN { o = (b - s) / hz / d * 100 - c; if (o < 0) o = 0; printf "%.0f", o }')
    CAL_ROW="| udp-reflect (ceiling: no DNS work) | $cal_qps | $cal_avg | $cal_cpu% | $cal_client | $cal_others% |"
    echo "   $cal_qps qps, avg $cal_avg ms, reflector CPU $cal_cpu%, dnsperf CPU $cal_client, others $cal_others%" >&2
fi

# ---- latency: mix at a fixed rate, per-query output ---------------------------------------------
LAT_LOG=$OUT/dnsperf-latency.txt
LAT_SORTED=$OUT/latency-sorted.txt
latency_run() {
    wait_quiet
    if [ "$RT" = latency ]; then server_policy fifo; CLIENT_RT=(chrt -f 10); fi
    LB0=$(busy_ticks); LT0=$(cpu_ticks); LW0=$(date +%s%N)
    /usr/bin/time -f '%P' -o "$OUT/dnsperf-latency.cpu" \
        "${CLIENT_RT[@]}" taskset -c "$CLIENT_CPU" dnsperf -s 127.0.0.1 -p "$PORT" -d "$OUT/queries/mix.txt" -l "$DURATION" \
        -c "$CLIENTS" -T 1 -q "$OUTSTANDING" -Q "$LATENCY_QPS" -v >"$LAT_LOG" 2>&1 || true
    LB1=$(busy_ticks); LT1=$(cpu_ticks); LSECS=$(elapsed "$LW0" "$(date +%s%N)")
    if [ "$RT" = latency ]; then server_policy other; CLIENT_RT=(); fi
    LAT_CPU=$(awk -v s="$((LT1 - LT0))" -v hz="$TICKS" -v d="$LSECS" 'BEGIN { printf "%.0f", s / hz / d * 100 }')
    LAT_CLIENT=$(tail -1 "$OUT/dnsperf-latency.cpu" 2>/dev/null || echo "0%")
    LAT_OTHERS=$(awk -v b="$((LB1 - LB0))" -v s="$((LT1 - LT0))" -v c="${LAT_CLIENT%\%}" -v hz="$TICKS" -v d="$LSECS" \
        'BEGIN { o = (b - s) / hz / d * 100 - c; if (o < 0) o = 0; printf "%.0f", o }')
    # "> RCODE name type seconds" per answered query. Names of nxdomain.txt must get NXDOMAIN, every
    # other name of the mix NOERROR.
    CHECK=$(awk -v nxfile="$OUT/queries/nxdomain.txt" -v lats="$OUT/latency-raw.txt" '
        BEGIN { while ((getline line < nxfile) > 0) { split(line, f, " "); nx[f[1] " " f[2]] = 1 } }
        /^> / {
            print $5 > lats
            want = (($3 " " $4) in nx) ? "NXDOMAIN" : "NOERROR"
            if ($2 != want) { bad++; if (bad <= 5) example = example sprintf(" [%s %s: %s, want %s]", $3, $4, $2, want) }
        }
        END { printf "%d%s\n", bad + 0, example }' "$LAT_LOG")
    sort -g "$OUT/latency-raw.txt" > "$LAT_SORTED" 2>/dev/null || : > "$LAT_SORTED"
    rm -f "$OUT/latency-raw.txt"
    LAT=$(awk '{ lat[NR] = $1 }
        END {
            n = NR
            if (n == 0) { print "0 - - - - -"; exit }
            split("0.50 0.90 0.99 0.999", q, " ")
            p = ""
            for (i = 1; i <= 4; i++) { k = int(q[i] * n + 0.5); if (k < 1) k = 1; if (k > n) k = n; p = p sprintf(" %.3f", lat[k] * 1000) }
            printf "%d%s %.3f\n", n, p, lat[n] * 1000
        }' "$LAT_SORTED")
    read -r LAT_BAD LAT_EXAMPLES <<< "$CHECK"
    read -r LAT_N P50 P90 P99 P999 PMAX <<< "$LAT"
    LAT_QPS=$(printf '%.0f' "$(field 'Queries per second' "$LAT_LOG")")
    LAT_AVG=$(field 'Average Latency (s)' "$LAT_LOG" | awk '{ printf "%.3f", $1 * 1000 }')
    LAT_LOST=$(field 'Queries lost' "$LAT_LOG" | sed -n 's/.*(\(.*\)%).*/\1/p')
    LAT_CODES=$(field 'Response codes' "$LAT_LOG")
    if [ "${LAT_BAD:-0}" != 0 ]; then
        PROBLEMS+=("latency run: $LAT_BAD answers with an unexpected RCODE:$LAT_EXAMPLES")
    fi
    LAT_ROW="| mix @ $LATENCY_QPS qps | $LAT_QPS | $LAT_AVG | $P50 | $P90 | $P99 | $P999 | $PMAX | $LAT_LOST | $LAT_CPU% | $LAT_CLIENT | $LAT_OTHERS% | $LAT_CODES |"
    echo "   $LAT_QPS qps, p50 $P50 ms, p90 $P90 ms, p99 $P99 ms, p99.9 $P999 ms, max $PMAX ms ($LAT_N answers), server CPU $LAT_CPU%, others $LAT_OTHERS%, $LAT_CODES" >&2
}
echo "== latency: mix.txt at $LATENCY_QPS qps for $DURATION s (dnsperf -v)" >&2
BEST_LAT_ROW="" BEST_LAT_OTHERS=""
for attempt in $(seq 0 "$RETRY_BUSY"); do
    latency_run
    if [ -z "$BEST_LAT_ROW" ] || [ "$LAT_OTHERS" -lt "$BEST_LAT_OTHERS" ]; then
        BEST_LAT_ROW=$LAT_ROW BEST_LAT_OTHERS=$LAT_OTHERS BEST_LAT_N=$LAT_N
        cp "$LAT_SORTED" "$OUT/latency-sorted.best.txt"
    fi
    [ "$LAT_OTHERS" -gt 15 ] && [ "$attempt" -lt "$RETRY_BUSY" ] && { echo "   (others used $LAT_OTHERS% of a core: again)" >&2; continue; }
    break
done

RSS_LOADED=$(rss_kb)
HWM=$(hwm_kb)

# ---- report -----------------------------------------------------------------------------------
REPORT=$OUT/results.md
{
    echo "### rollcall dnsperf results"
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) CPUs, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1); $(uname -r)"
    echo "- cluster: $(head -1 "$OUT/cluster-summary.txt")"
    echo "- server: \`taskset -c $SERVER_CPU rollcall serve --corefile bench/out/Corefile --threads 1\` (ready ${READY_S} s after start)"
    echo "- client: \`taskset -c $CLIENT_CPU dnsperf -s 127.0.0.1 -p $PORT -d bench/out/queries/CATEGORY.txt -l $DURATION -c $CLIENTS -T 1 -q $OUTSTANDING\`"
    echo "- scheduling: --rt $RT (SCHED_FIFO via chrt; none = ordinary scheduling); --wait-quiet $WAIT_QUIET; --retry-busy $RETRY_BUSY (best attempt kept)"
    echo "- RSS (VmRSS): ${RSS_IDLE} kB after loading, ${RSS_LOADED} kB after all runs (peak VmHWM ${HWM} kB)"
    echo
    echo "| category | QPS | avg latency (ms) | lost % | server CPU | QPS per server core | dnsperf CPU | others | response codes |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---|"
    for row in "${ROWS[@]}"; do echo "$row"; done
    echo
    if [ -n "$CAL_ROW" ]; then
        echo "Calibration: the same dnsperf command on mix.txt against \`udp-reflect\` (bench/src/bin/udp-reflect.rs: one thread, recvfrom + sendto, no parsing) on CPU $SERVER_CPU. This is the most any one-core server gets from this client on this machine; when it is close to rollcall's QPS, dnsperf is the limit:"
        echo
        echo "| server | QPS | avg latency (ms) | server CPU | dnsperf CPU | others |"
        echo "|---|---:|---:|---:|---:|---:|"
        echo "$CAL_ROW"
        echo
    fi
    echo "Latency: \`dnsperf ... -d mix.txt -Q $LATENCY_QPS -v\`; percentiles over the $BEST_LAT_N per-query latencies dnsperf -v printed:"
    echo
    echo "| run | QPS | avg (ms) | p50 (ms) | p90 (ms) | p99 (ms) | p99.9 (ms) | max (ms) | lost % | server CPU | dnsperf CPU | others | response codes |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    echo "$BEST_LAT_ROW"
    echo
    if [ ${#PROBLEMS[@]} -eq 0 ]; then
        echo "Correctness: every RCODE as expected (NOERROR for existing names and NODATA, NXDOMAIN only for nxdomain.txt names)."
    else
        echo "Correctness problems:"
        for p in "${PROBLEMS[@]}"; do echo "- $p"; done
    fi
} > "$REPORT"
cat "$REPORT"
[ ${#PROBLEMS[@]} -eq 0 ]
