#!/usr/bin/env bash
# Measures statestored against redis-server (appendonly, appendfsync always)
# on this machine and this disk, and prints the target table.
#
#   scripts/bench.sh                  full run, about 15 minutes
#   BENCH_QUICK=1 scripts/bench.sh    about a minute: a smoke test of the script
#
# Environment (defaults in brackets, quick mode's second):
#   BENCH_ROUNDS   [3|1]   rounds of each throughput pair; the table shows medians
#   BENCH_SECONDS  [5|1]   measured seconds per throughput run
#   BENCH_RESP_SECONDS [3|1]  the same for the RESP pairs (resp50, rb-*);
#                          by default BENCH_SECONDS, at most 3
#   BENCH_WARMUP   [1|0.5] unmeasured seconds before each throughput run
#   BENCH_ENTRIES  [1000000|100000]  entries for restart, memory and COMPACT
#   BENCH_PORT     [17400] statestored listens here, Redis on the next port
#   BENCH_KEEP     [0]     1 keeps the data directories and logs
#   BENCH_OUT      [build/bench/results.md]  where the table is also written
#   BENCH_NICE     [0]     e.g. -5: run servers and clients at that priority (root),
#                          for a machine that other work keeps busy; both systems
#                          get the same
#
# Every throughput run starts a fresh server on an empty data directory, and
# the two systems alternate (A, B, A, B, ...) so that drift in the machine
# (page cache, disk, neighbours) hits both alike. Data directories live under
# build/, on the same disk as the repository; never on tmpfs, where fdatasync
# costs nothing.
#
# The RESP pairs drive both servers with redis-benchmark (redis-tools), a
# load generator that is not ours, on Redis's own SET and GET; statestored
# answers RESP on its one port.
set -euo pipefail
SS_ROOT=$(cd "$(dirname "$0")/.." && pwd)
# The Python the tests and scripts share (tests/pylib/sstools).
export PYTHONPATH="$SS_ROOT/tests/pylib${PYTHONPATH:+:$PYTHONPATH}"
. "$SS_ROOT/scripts/deps.sh"
ss_need_packages "${SS_BUILD_PACKAGES[@]}" python3 redis-server redis-tools

if [ "${BENCH_QUICK:-0}" = 1 ]; then
    d_rounds=1 d_seconds=1 d_warmup=0.5 d_entries=100000 fsync_n=200 probe_base=1 after_compact=1
    churn_secs=3
else
    d_rounds=3 d_seconds=5 d_warmup=1 d_entries=1000000 fsync_n=1000 probe_base=2 after_compact=1
    churn_secs=20
fi
CHURN_MIN=$((8 * 1024 * 1024)) # --auto-compact-min of the churn run
ROUNDS=${BENCH_ROUNDS:-$d_rounds}
SECS=${BENCH_SECONDS:-$d_seconds}
RSECS=${BENCH_RESP_SECONDS:-$(awk -v s="$SECS" 'BEGIN { print s < 3 ? s : 3 }')}
WARMUP=${BENCH_WARMUP:-$d_warmup}
ENTRIES=${BENCH_ENTRIES:-$d_entries}
SPORT=${BENCH_PORT:-17400}
RPORT=$((SPORT + 1))
OUT=${BENCH_OUT:-$SS_ROOT/build/bench/results.md}
COMMAND="$({ env | grep -E '^BENCH_' || true; } | sort | tr '\n' ' ')scripts/bench.sh $*"
UTIL=(python3 "$SS_ROOT/scripts/bench_util.py")
NICE=${BENCH_NICE:-0}

log() { echo "bench: $*" >&2; }
die() { log "$*"; exit 1; }

log "building Release (build/bench) and the no-fdatasync variant (build/bench-nosync)"
ss_build "$SS_ROOT/build/bench" -DCMAKE_BUILD_TYPE=Release -DSS_TESTS=OFF -DSS_BENCH_NOSYNC=OFF
ss_build "$SS_ROOT/build/bench-nosync" -DCMAKE_BUILD_TYPE=Release -DSS_TESTS=OFF -DSS_BENCH_NOSYNC=ON
SS="$SS_ROOT/build/bench/statestored"
SS_NOSYNC="$SS_ROOT/build/bench-nosync/statestored"
BENCH="$SS_ROOT/build/bench/statestore-bench"
REDIS=$(command -v redis-server) || die "redis-server not found"
RB=$(command -v redis-benchmark) || die "redis-benchmark not found (package redis-tools)"
RCLI=$(command -v redis-cli) || die "redis-cli not found (package redis-tools)"
for f in "$SS" "$SS_NOSYNC" "$BENCH"; do [ -x "$f" ] || die "$f was not built"; done

WORK=$(mktemp -d "$SS_ROOT/build/bench-run.XXXXXX")
FACTS="$WORK/facts"
RESULTS="$WORK/results.csv"
STATS="$WORK/stats"
: >"$FACTS"
: >"$RESULTS"
: >"$STATS"
fstype=$(df --output=fstype "$WORK" | tail -1 | tr -d ' ')
[ "$fstype" != tmpfs ] || die "$WORK is on tmpfs: fdatasync would be free there"

SRV_PID=""
BG_PIDS=()
cleanup() {
    local p
    for p in "${BG_PIDS[@]}" $SRV_PID; do
        kill -KILL "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    if [ "${BENCH_KEEP:-0}" = 1 ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fact() { printf '%s=%s\n' "$1" "$2" >>"$FACTS"; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
field() { cut -d, -f"$2" <<<"$1"; } # field CSVLINE N (columns: statestore-bench --help)

# server SYSTEM DIR sets CMD (the server's command line), PORT and PROTO.
# Redis is made durable like statestored (every write fsynced before its
# reply), with no RDB snapshots. Neither compacts by itself (no automatic
# AOF rewrite, --auto-compact-min 0): a compaction in the middle of a run
# would measure something else, and the restart test must replay the log
# it was given.
server() {
    local sys=$1 dir=$2
    case $sys in
    ss | ss-cas | ss-resp)
        CMD=("$SS" -p "$SPORT" -d "$dir" --log-level warn --auto-compact-min 0)
        ;;
    ss-h0) CMD=("$SS" -p "$SPORT" -d "$dir" --log-level warn --auto-compact-min 0 --history 0) ;;
    ss-nosync) CMD=("$SS_NOSYNC" -p "$SPORT" -d "$dir" --log-level warn --auto-compact-min 0) ;;
    ss-churn) CMD=("$SS" -p "$SPORT" -d "$dir" --log-level warn --auto-compact-min "$CHURN_MIN") ;;
    redis)
        CMD=("$REDIS" --port "$RPORT" --bind 127.0.0.1 --appendonly yes --appendfsync always
            --save '' --auto-aof-rewrite-percentage 0 --dir "$dir" --logfile "$dir.log")
        ;;
    *) die "unknown system $sys" ;;
    esac
    case $sys in # ss-resp: statestored spoken to in RESP, on its one port
    redis) PORT=$RPORT PROTO=(--redis) ;;
    ss-resp) PORT=$SPORT PROTO=(--redis) ;;
    *) PORT=$SPORT PROTO=() ;;
    esac
}

# start SYSTEM DIR: SYSTEM is one of server's. Sets SRV_PID too.
start() {
    local sys=$1 dir=$2
    mkdir -p "$dir"
    server "$sys" "$dir"
    "${CMD[@]}" 2>>"$dir.log" &
    SRV_PID=$!
    "${UTIL[@]}" wait "$PORT" "${PROTO[@]}" 30 || die "$sys did not start; see $dir.log"
}

stop() { # stop [SIGNAL]
    [ -n "$SRV_PID" ] || return 0
    kill -s "${1:-TERM}" "$SRV_PID"
    wait "$SRV_PID" 2>/dev/null || true
    SRV_PID=""
}

bench() { "$BENCH" -p "$PORT" "${PROTO[@]}" --csv "$@"; }

# The bench arguments a system adds to its pair's: ss-cas is statestored
# driven with CAS_CHECKPOINT where the other side sends SET_CHECKPOINT.
sys_args() {
    case $1 in
    ss-cas) echo --cas ;;
    esac
}

if [ "$NICE" != 0 ]; then
    # Every server and client below is a child of this shell and inherits it.
    renice -n "$NICE" -p $$ >/dev/null || die "cannot renice to $NICE"
fi

# ---- the machine and its disk ----
log "measuring fdatasync latency in $WORK"
read -r fs_append fs_zeroed < <("${UTIL[@]}" fsync "$WORK" "$fsync_n")
fact date "$(date -u '+%Y-%m-%d %H:%M UTC')"
fact cpu "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
fact cores "$(nproc)"
fact kernel "$(uname -r)"
fact disk "$(df --output=source,fstype "$WORK" | tail -1 | tr -s ' ')"
fact fsync_append_us "$fs_append"
fact fsync_zeroed_us "$fs_zeroed"
fact fsync_n "$fsync_n"
fact commit "$(git -C "$SS_ROOT" rev-parse --short HEAD)$(git -C "$SS_ROOT" diff --quiet HEAD -- src include || echo '+dirty')"
fact redis "$("$REDIS" --version | cut -d' ' -f3 | cut -d= -f2)"
fact redis_benchmark "$("$RB" --version | cut -d' ' -f2)"
fact command "$COMMAND"
fact loadavg "$(cut -d' ' -f1-3 /proc/loadavg)"
fact nice "$NICE"
if awk '{ exit !($1 > 0.5) }' /proc/loadavg; then
    log "warning: load average $(cut -d' ' -f1 /proc/loadavg): something else is running; figures will be noisy"
fi
fact rounds "$ROUNDS"
fact seconds "$SECS"
fact resp_seconds "$RSECS"
fact warmup "$WARMUP"
fact entries "$ENTRIES"

# ---- throughput pairs, alternating ----
# pair WORKLOAD SYSTEM_A SYSTEM_B BENCH_ARGS...
pair() {
    local wl=$1 a=$2 b=$3 r sys line
    shift 3
    for ((r = 1; r <= ROUNDS; r++)); do
        for sys in "$a" "$b"; do
            start "$sys" "$WORK/$wl-$sys-$r"
            # shellcheck disable=SC2046 # sys_args is zero or more words
            line=$(bench -d "$SECS" --warmup "$WARMUP" "$@" $(sys_args "$sys"))
            if [ "$sys" != redis ]; then
                echo "$wl $sys $r $("${UTIL[@]}" stats "$PORT" | tr ' ' = | tr '\n' ' ')" >>"$STATS"
            fi
            stop
            rm -rf "$WORK/$wl-$sys-$r"
            log "$wl $sys round $r: $line"
            echo "$wl,$sys,$r,$line" >>"$RESULTS"
        done
    done
}
pair set50 ss redis -c 50 --set-ratio 1
pair set1 ss redis -c 1 --set-ratio 1
pair get50 ss redis -c 50 --set-ratio 0 --prefill
pair nosync50 ss ss-nosync -c 50 --set-ratio 1
# CAS against SET on the same 50 pipelines, one per connection: every CAS
# expects the revision its previous OK returned, so each one succeeds (a
# CONFLICT would be counted as an error).
pair cas50 ss ss-cas -c 50 --own-keys
# One multi-commit of 100 pipelines per request; Redis runs MSET of 100 keys.
pair mset1 ss redis -c 1 --mset 100
pair mset50 ss redis -c 50 --mset 100
# The same SETs from statestore-bench, statestored's text protocol against
# its RESP (--redis: RESP SET/GET, here on statestored's port). Like the
# redis-benchmark pairs, its runs last RSECS.
SECS=$RSECS pair resp50 ss ss-resp -c 50 --set-ratio 1

# ---- RESP pairs, load from redis-benchmark ----
RB_KEYS=100000 # -r: keys key:000000000000 .. key:000000099999, random
RB_VALUE=10    # -d: bytes per value, as statestore-bench's -v default
fact rb_keys "$RB_KEYS"
fact rb_value "$RB_VALUE"
rb_timeout=$(awk -v s="$RSECS" -v w="$WARMUP" 'BEGIN { printf "%d\n", 10 * (s + w) + 60 }')

# rb N ARGS...: one redis-benchmark run of N requests against PORT; prints
# "rps avg_ms p50_ms p99_ms max_ms" from its --csv (columns found by name).
rb() {
    local n=$1 out fig
    shift
    out=$(timeout "$rb_timeout" "$RB" -p "$PORT" -r "$RB_KEYS" -d "$RB_VALUE" -n "$n" --csv "$@" \
        2>&1) || die "redis-benchmark -n $n $* failed: $out"
    fig=$(awk -F, '{ gsub(/"/, ""); gsub(/\r/, "") }
        $1 == "test" { for (i = 1; i <= NF; i++) col[$i] = i; next }
        ("rps" in col) && ("p99_latency_ms" in col) && $col["rps"] > 0 {
            print $col["rps"], $col["avg_latency_ms"], $col["p50_latency_ms"],
                $col["p99_latency_ms"], $col["max_latency_ms"]; exit }' <<<"$out")
    [ -n "$fig" ] || die "redis-benchmark -n $n $*: no figures in: $out"
    echo "$fig"
}

# rb_info FIELD: a field of the server's INFO stats, or nan. redis-benchmark
# counts a -ERR reply or a nil as a request done, so the errors column comes
# from total_error_replies (both servers), and Redis's keyspace_misses checks
# that the prefill wrote the names redis-benchmark asks for (statestored
# does not count misses).
rb_info() {
    "$RCLI" -p "$PORT" INFO stats | tr -d '\r' |
        awk -F: -v f="$1" '$1 == f { v = $2 } END { print v == "" ? "nan" : v }'
}

# rb_prefill: SET every key of the key space once (redis-cli --pipe), then
# check that all are there, so that no GET misses.
rb_prefill() {
    local out keys
    out=$(awk -v n="$RB_KEYS" -v d="$RB_VALUE" 'BEGIN {
        v = sprintf("%*s", d, ""); gsub(/ /, "x", v)
        for (i = 0; i < n; i++)
            printf "*3\r\n$3\r\nSET\r\n$16\r\nkey:%012d\r\n$%d\r\n%s\r\n", i, d, v }' |
        "$RCLI" -p "$PORT" --pipe 2>&1) || die "prefill failed: $out"
    grep -q 'errors: 0,' <<<"$out" || die "prefill: $out"
    keys=$("$RCLI" -p "$PORT" DBSIZE)
    [ "$keys" = "$RB_KEYS" ] || die "prefill: DBSIZE $keys, not $RB_KEYS"
}

# rb_rate WL SYS SEED_WL FACTOR: the ops/s to expect of WL on SYS: its last
# round's, else the statestore-bench pair SEED_WL's on SYS times FACTOR.
rb_rate() {
    awk -F, -v wl="$1" -v sys="$2" -v seed="$3" -v f="$4" '
        $1 == wl && $2 == sys { own = $7 } $1 == seed && $2 == sys { s = $7 * f }
        END { print own ? own : s ? s : 20000 }' "$RESULTS"
}

# rbpair WORKLOAD SEED_WL FACTOR [--prefill] REDIS_BENCHMARK_ARGS...: as pair,
# statestored and Redis alternating, each run on a fresh server and data
# directory, the load from redis-benchmark. It stops after -n requests, not
# after a time, so an unmeasured warmup run (about WARMUP s at the rate
# rb_rate expects) first measures the rate that makes the measured run take
# about RSECS s. Rows go to RESULTS in statestore-bench's CSV columns (no
# p99.9 or reply gap from redis-benchmark: nan).
rbpair() {
    local wl=$1 seed=$2 factor=$3 prefill=0 r sys dir n fig rps avg p50 p99 max errs misses line
    shift 3
    if [ "$1" = --prefill ]; then prefill=1 && shift; fi
    for ((r = 1; r <= ROUNDS; r++)); do
        for sys in ss redis; do
            dir="$WORK/$wl-$sys-$r"
            start "$sys" "$dir"
            [ "$prefill" = 0 ] || rb_prefill
            n=$(awk -v e="$(rb_rate "$wl" "$sys" "$seed" "$factor")" -v w="$WARMUP" \
                'BEGIN { n = e * w; printf "%d\n", n < 1000 ? 1000 : n }')
            fig=$(rb "$n" "$@")
            n=$(awk -v e="${fig%% *}" -v s="$RSECS" \
                'BEGIN { n = e * s; printf "%d\n", n < 1000 ? 1000 : n }')
            fig=$(rb "$n" "$@")
            errs=$(rb_info total_error_replies)
            [ "$errs" != nan ] || die "$sys: no total_error_replies in INFO stats"
            misses=$(rb_info keyspace_misses)
            [ "$prefill" = 0 ] || [ "$misses" = nan ] || [ "$misses" = 0 ] ||
                die "$wl $sys: $misses GETs missed after the prefill"
            if [ "$sys" = ss ]; then
                echo "$wl $sys $r $("${UTIL[@]}" stats "$PORT" | tr ' ' = | tr '\n' ' ')" >>"$STATS"
            fi
            stop
            rm -rf "$dir"
            read -r rps avg p50 p99 max <<<"$fig"
            line=$(awk -v n="$n" -v rps="$rps" -v avg="$avg" -v p50="$p50" -v p99="$p99" \
                -v max="$max" -v e="$errs" -v m="$misses" 'BEGIN {
                printf "redis-benchmark,%d,%.3f,%.0f,%.1f,%.1f,nan,%.1f,%.1f,%d,%s,0,nan,0\n",
                    n, n / rps, rps, p50 * 1000, p99 * 1000, max * 1000, avg * 1000, e, m }')
            log "$wl $sys round $r: $line"
            echo "$wl,$sys,$r,$line" >>"$RESULTS"
        done
    done
}
rbpair rb-set50 set50 1 -c 50 -t set
rbpair rb-set50p16 set50 8 -c 50 -P 16 -t set
rbpair rb-get50 get50 1 --prefill -c 50 -t get

# ---- restart and memory: ENTRIES keys, then ENTRIES overwrites ----
last=$((ENTRIES - 1))
last_key=$(printf 'pipeline%08d' "$last")
last_val=$(printf '%010d' "$last")
for sys in ss redis; do
    dir="$WORK/replay-$sys"
    start "$sys" "$dir"
    rss0=$(rss_kb "$SRV_PID")
    line=$(bench --load-keys "$ENTRIES" -c 50 -P 64)
    rss1=$(rss_kb "$SRV_PID")
    log "$sys load $ENTRIES keys: $line; RSS $rss0 -> $rss1 kB"
    fact "load_${sys}_ops" "$(field "$line" 4)"
    fact "rss_${sys}_empty_kb" "$rss0"
    fact "rss_${sys}_full_kb" "$rss1"
    line=$(bench --load-keys "$ENTRIES" -c 50 -P 64)
    log "$sys overwrite $ENTRIES keys: $line"
    stop KILL # both fsynced every acknowledged write; no shutdown work
    fact "logbytes_$sys" "$(du -sb "$dir" | cut -f1)"
    server "$sys" "$dir"
    t=$("${UTIL[@]}" restart "$PORT" "$last_key" "$last_val" "${PROTO[@]}" -- "${CMD[@]}" 2>>"$dir.log")
    log "$sys restart over $((2 * ENTRIES)) records: $t s"
    fact "restart_${sys}_s" "$t"
    rm -rf "$dir"
done

# ---- memory per entry, by history depth ----
# ss-h0: the same ENTRIES keys with --history 0 (no earlier versions kept).
# ss-full: the default depth (4) after every key was overwritten 4 times with
# new values, so every entry holds a full history.
for sys in ss-h0 ss-full; do
    dir="$WORK/memory-$sys"
    start "${sys/-full/}" "$dir"
    rss0=$(rss_kb "$SRV_PID")
    line=$(bench --load-keys "$ENTRIES" -c 50 -P 64)
    if [ "$sys" = ss-full ]; then
        for pass in 1 2 3 4; do # writes pass*ENTRIES.. : every key once, a new value
            line=$(bench --sequential --seq-base "$((pass * ENTRIES))" -k "$ENTRIES" \
                -n "$ENTRIES" -c 50 -P 64)
            [ "$(field "$line" 10)" = 0 ] || die "$sys overwrite pass $pass: errors: $line"
        done
    fi
    rss1=$(rss_kb "$SRV_PID")
    log "$sys $ENTRIES keys: $line; RSS $rss0 -> $rss1 kB"
    fact "rss_${sys/-/_}_empty_kb" "$rss0"
    fact "rss_${sys/-/_}_full_kb" "$rss1"
    stop KILL
    rm -rf "$dir"
done

# ---- COMPACT at ENTRIES entries, with a writer and a prober running ----
dir="$WORK/compact"
start ss "$dir"
bench --load-keys "$ENTRIES" -c 50 -P 64 >/dev/null
# The writer continues the load's numbering, so "--check-seq <its next_seq>"
# knows the exact value every key must hold afterwards.
# Writer and prober run until told to stop (SIGINT: stop sending, drain,
# report), so a slow COMPACT cannot outlast them.
"$BENCH" -p "$SPORT" --csv --sequential --seq-base "$ENTRIES" -k "$ENTRIES" -c 4 -d 3600 \
    >"$WORK/writer.csv" &
writer_pid=$!
BG_PIDS+=("$writer_pid")
sleep 0.5
base=$(bench --probe -k "$ENTRIES" -d "$probe_base")
"$BENCH" -p "$SPORT" --csv --probe -k "$ENTRIES" -d 3600 >"$WORK/probe.csv" &
probe_pid=$!
BG_PIDS+=("$probe_pid")
sleep 0.3
read -r compact_ms compact_reply < <("${UTIL[@]}" cmd "$SPORT" COMPACT)
sleep "$after_compact" # a compaction that finishes after its reply shows here
kill -INT "$probe_pid" "$writer_pid"
wait "$probe_pid" || die "the probe failed"
wait "$writer_pid" || die "the writer failed"
BG_PIDS=()
probe=$(cat "$WORK/probe.csv")
writer=$(cat "$WORK/writer.csv")
# The daemon's own view: its longest loop iteration while the compaction
# ran (fork and finish included), and the time those two took.
cstats=$("${UTIL[@]}" stats "$SPORT")
fact compact_loop_max_us "$(awk '$1 == "last_compaction_loop_max_us" { print $2 }' <<<"$cstats")"
fact compact_own_stall_us "$(awk '$1 == "last_compaction_stall_us" { print $2 }' <<<"$cstats")"
log "COMPACT: $compact_ms ms ($compact_reply); probe $probe; baseline $base; writer $writer"
next=$(field "$writer" 14)
check_live=$(bench --check-seq "$next" -k "$ENTRIES" -P 64)
stop KILL
start ss "$dir"
check_restart=$(bench --check-seq "$next" -k "$ENTRIES" -P 64)
stop
log "check after COMPACT: $check_live; after restart: $check_restart"
fact compact_reply "$compact_reply"
fact compact_ms "$compact_ms"
fact compact_gap_us "$(field "$probe" 13)"
fact compact_probe_max_us "$(field "$probe" 8)"
fact compact_base_gap_us "$(field "$base" 13)"
fact compact_writer_ops "$(field "$writer" 4)"
fact compact_writer_max_us "$(field "$writer" 8)"
fact compact_writer_errors "$(field "$writer" 10)"
fact compact_writes "$((next - ENTRIES))"
fact compact_lost_live "$(( $(field "$check_live" 12) + $(field "$check_live" 10) ))"
fact compact_lost_restart "$(( $(field "$check_restart" 12) + $(field "$check_restart" 10) ))"

# ---- COMPACT over and over while writers send large values ----
# Automatic compaction every few MB of log, while 8 connections pipeline
# SETs of 50 KB values over 1000 keys: a tail of megabytes per compaction.
# What matters is the loop's longest iteration while each one ran.
dir="$WORK/churn"
start ss-churn "$dir"
"${UTIL[@]}" watch-compactions "$SPORT" "$((churn_secs + 1))" >"$WORK/churn.watch" &
watch_pid=$!
BG_PIDS+=("$watch_pid")
churn=$(bench -c 8 -P 8 -v 50000 -k 1000 -d "$churn_secs")
wait "$watch_pid" || die "no compaction finished during the churn run"
BG_PIDS=()
stop
read -r churn_n churn_loop_med churn_loop_max churn_stall_med churn_stall_max <"$WORK/churn.watch"
log "churn: $churn_n compactions; loop max median $churn_loop_med us, max $churn_loop_max us; writers $churn"
fact churn_min_bytes "$CHURN_MIN"
fact churn_n "$churn_n"
fact churn_loop_med_us "$churn_loop_med"
fact churn_loop_max_us "$churn_loop_max"
fact churn_stall_med_us "$churn_stall_med"
fact churn_stall_max_us "$churn_stall_max"
fact churn_ops "$(field "$churn" 4)"

mkdir -p "$(dirname "$OUT")"
"${UTIL[@]}" report "$FACTS" "$RESULTS" "$STATS" | tee "$OUT"
# The raw figures, to re-render or compare runs:
#   PYTHONPATH=tests/pylib scripts/bench_util.py report OUT.facts OUT.csv OUT.stats
cp "$FACTS" "${OUT%.md}.facts"
cp "$RESULTS" "${OUT%.md}.csv"
cp "$STATS" "${OUT%.md}.stats"
log "table also written to $OUT (raw figures beside it)"
