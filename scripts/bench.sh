#!/usr/bin/env bash
# Measures statestored against redis-server (appendonly, appendfsync always)
# on this machine and this disk, and prints the target table.
#
#   scripts/bench.sh                  full run, about 15 minutes
#   BENCH_QUICK=1 scripts/bench.sh    about a minute: a smoke test of the script
#   BENCH_TLS=1 scripts/bench.sh      only the TLS trios (about 90 s; 30 s with
#                                     BENCH_QUICK=1): redis-benchmark SET at 50
#                                     connections, and pipelined -P 16, on
#                                     statestored over TLS, in plaintext and on
#                                     Redis over TLS
#   BENCH_SCALE=1 scripts/bench.sh    the scale mode instead: the growth table
#                                     (issue 15) over BENCH_SCALE_SIZES, with plots;
#                                     BENCH_QUICK=1 too: 20k and 50k, about 25 s
#   BENCH_REPL=1 scripts/bench.sh     the replication mode instead (issue 18; about
#                                     4 minutes, 30 s with BENCH_QUICK=1): SET at 50
#                                     connections on one statestored, on a primary
#                                     with one synchronous replica, and on a Redis
#                                     primary + replica where each SET is followed
#                                     by WAIT 1 0; and the replica's lag under that
#                                     load. See scripts/bench_repl.sh.
#
# Environment (defaults in brackets, quick mode's second):
#   BENCH_ROUNDS   [3|1]   rounds of each throughput pair; the table shows medians
#   BENCH_SECONDS  [5|1]   measured seconds per throughput run
#   BENCH_RESP_SECONDS [3|1]  the same for the RESP pairs (resp50, rb-*);
#                          by default BENCH_SECONDS, at most 3
#   BENCH_WARMUP   [1|0.5] unmeasured seconds before each throughput run
#   BENCH_ENTRIES  [1000000|100000]  entries for restart, memory and COMPACT
#   BENCH_PORT     [17400] statestored listens here, Redis on the next port, and
#                          their TLS ports on the two after (the replication
#                          mode: their replicas)
#   BENCH_KEEP     [0]     1 keeps the data directories and logs
#   BENCH_OUT      [build/bench/results.md]  where the table is also written
#   BENCH_NICE     [0]     e.g. -5: run servers and clients at that priority (root),
#                          for a machine that other work keeps busy; both systems
#                          get the same
#   BENCH_BUILD_DIR [none] take statestored and statestore-bench from this build
#                          directory instead of building build/bench (the normal
#                          run still builds build/bench-nosync)
#   BENCH_SCALE    [0]     1: the scale mode (below)
#   BENCH_REPL     [0]     1: the replication mode, BENCH_OUT [build/bench/repl.md]
#   BENCH_REPL_SYSTEMS ["ss ss-pair redis-pair"]  its systems, a subset to run fewer
#   BENCH_SCALE_SIZES ["100000 1000000 10000000"|"20000 50000"]  entries per size;
#                          by default 100000000 joins them when the machine has
#                          the memory and the disk (see scale_fits)
#
# The scale mode (BENCH_SCALE=1) writes BENCH_OUT [build/bench/scale.md], the
# growth table (one row per size: RSS per entry at --history 0 and at the
# default depth, restart, COMPACT with a writer and a prober running, SET
# and GET at 50 connections, a full LIST_CHECKPOINTS), the disk-bound line
# and a SET latency pair against Redis; beside it scale.csv (the table's
# figures), scale.facts and scale-runs.csv (every statestore-bench line), and
# the plots scale-growth.png and latency.png. The normal run draws
# latency.png beside its table too.
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
ss_need_packages "${SS_BUILD_PACKAGES[@]}" python3 redis-server redis-tools gnuplot-nox

SCALE=${BENCH_SCALE:-0}
TLS_ONLY=${BENCH_TLS:-0}
REPL=${BENCH_REPL:-0}
[ "$SCALE" != 1 ] || [ "$REPL" != 1 ] || { echo "bench: BENCH_SCALE and BENCH_REPL are separate modes" >&2; exit 2; }
if [ "${BENCH_QUICK:-0}" = 1 ]; then
    d_rounds=1 d_seconds=1 d_warmup=0.5 d_entries=100000 fsync_n=200 after_compact=1
    churn_secs=3 d_sizes="20000 50000"
    # The scale mode's quick run is a test's (about 25 s in all).
    [ "$SCALE" != 1 ] || d_warmup=0.2 after_compact=0.5
    [ "${BENCH_REPL:-0}" != 1 ] || fsync_n=50 # the test's run: the disk figure matters less
else
    d_rounds=3 d_seconds=5 d_warmup=1 d_entries=1000000 fsync_n=1000 after_compact=1
    churn_secs=20 d_sizes="100000 1000000 10000000"
fi
CHURN_MIN=$((8 * 1024 * 1024)) # --auto-compact-min of the churn run
ROUNDS=${BENCH_ROUNDS:-$d_rounds}
SECS=${BENCH_SECONDS:-$d_seconds}
RSECS=${BENCH_RESP_SECONDS:-$(awk -v s="$SECS" 'BEGIN { print s < 3 ? s : 3 }')}
WARMUP=${BENCH_WARMUP:-$d_warmup}
ENTRIES=${BENCH_ENTRIES:-$d_entries}
SPORT=${BENCH_PORT:-17400}
RPORT=$((SPORT + 1))
TPORT=$((SPORT + 2))  # statestored's --tls-port
RTPORT=$((SPORT + 3)) # Redis's --tls-port
if [ "$SCALE" = 1 ]; then
    OUT=${BENCH_OUT:-$SS_ROOT/build/bench/scale.md}
    START_TIMEOUT=900 # a server replaying 100M records
elif [ "$REPL" = 1 ]; then
    OUT=${BENCH_OUT:-$SS_ROOT/build/bench/repl.md}
    START_TIMEOUT=30
else
    OUT=${BENCH_OUT:-$SS_ROOT/build/bench/results.md}
    START_TIMEOUT=30
fi
COMMAND="$({ env | grep -E '^BENCH_' || true; } | sort | tr '\n' ' ')scripts/bench.sh $*"
UTIL=(python3 "$SS_ROOT/scripts/bench_util.py")
NICE=${BENCH_NICE:-0}

log() { echo "bench: $*" >&2; }
die() { log "$*"; exit 1; }

if [ -n "${BENCH_BUILD_DIR:-}" ]; then
    BIN=$(cd "$BENCH_BUILD_DIR" && pwd) || die "BENCH_BUILD_DIR $BENCH_BUILD_DIR: no such directory"
    log "using statestored and statestore-bench of $BIN (BENCH_BUILD_DIR)"
    btype=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$BIN/CMakeCache.txt" 2>/dev/null || true)
    [ "$btype" = Release ] || log "warning: $BIN is a '${btype:-unknown}' build, not Release"
else
    log "building Release (build/bench)"
    ss_build "$SS_ROOT/build/bench" -DCMAKE_BUILD_TYPE=Release -DSS_TESTS=OFF -DSS_BENCH_NOSYNC=OFF
    BIN="$SS_ROOT/build/bench"
fi
SS="$BIN/statestored"
BENCH="$BIN/statestore-bench"
SS_NOSYNC="$SS_ROOT/build/bench-nosync/statestored"
if [ "$SCALE" != 1 ] && [ "$TLS_ONLY" != 1 ] && [ "$REPL" != 1 ]; then # only the full run has nosync rows
    log "building the no-fdatasync variant (build/bench-nosync)"
    ss_build "$SS_ROOT/build/bench-nosync" -DCMAKE_BUILD_TYPE=Release -DSS_TESTS=OFF -DSS_BENCH_NOSYNC=ON
    [ -x "$SS_NOSYNC" ] || die "$SS_NOSYNC was not built"
fi
REDIS=$(command -v redis-server) || die "redis-server not found"
RB=$(command -v redis-benchmark) || die "redis-benchmark not found (package redis-tools)"
RCLI=$(command -v redis-cli) || die "redis-cli not found (package redis-tools)"
command -v gnuplot >/dev/null || die "gnuplot not found (package gnuplot-nox)"
for f in "$SS" "$BENCH"; do [ -x "$f" ] || die "$f was not built"; done

mkdir -p "$SS_ROOT/build"
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
    for p in "${BG_PIDS[@]}" $SRV_PID ${REP_PID:-}; do
        kill -KILL "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    if [ "${BENCH_KEEP:-0}" = 1 ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fact() { printf '%s=%s\n' "$1" "$2" >>"$FACTS"; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
# cpu_ticks PID: the process's user + system CPU time, in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
CLK_TCK=$(getconf CLK_TCK)
field() { cut -d, -f"$2" <<<"$1"; } # field CSVLINE N (columns: statestore-bench --help)

# server SYSTEM DIR sets CMD (the server's command line), PORT and PROTO;
# PING_PORT, the plain port that answers PING and STATS; and TLS, what
# redis-benchmark and redis-cli need to speak TLS to PORT (tls_setup).
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
    ss-auto) CMD=("$SS" -p "$SPORT" -d "$dir" --log-level warn) ;; # default automatic compaction
    # The replication mode's primary (its replica: bench_repl.sh).
    ss-sync) CMD=("$SS" -p "$SPORT" -d "$dir" --log-level info --auto-compact-min 0
        --sync-replicas 1) ;;
    ss-tls) CMD=("$SS" -p "$SPORT" -d "$dir" --log-level warn --auto-compact-min 0
        --tls-port "$TPORT" --tls-cert-file "$TLS_CRT" --tls-key-file "$TLS_KEY") ;;
    redis | redis-tls | redis-primary)
        CMD=("$REDIS" --port "$RPORT" --bind 127.0.0.1 --appendonly yes --appendfsync always
            --save '' --auto-aof-rewrite-percentage 0 --dir "$dir" --logfile "$dir.log")
        # A primary's replica syncs at once, not after the default 5 s wait
        # for more replicas to share one diskless transfer.
        [ "$sys" != redis-primary ] || CMD+=(--repl-diskless-sync-delay 0)
        [ "$sys" != redis-tls ] || CMD+=(--tls-port "$RTPORT" --tls-cert-file "$TLS_CRT"
            --tls-key-file "$TLS_KEY" --tls-ca-cert-file "$TLS_CA" --tls-auth-clients no)
        ;;
    *) die "unknown system $sys" ;;
    esac
    case $sys in # ss-resp: statestored spoken to in RESP, on its one port
    redis | redis-primary) PORT=$RPORT PROTO=(--redis) ;;
    redis-tls) PORT=$RTPORT PROTO=(--redis) ;;
    ss-resp) PORT=$SPORT PROTO=(--redis) ;;
    ss-tls) PORT=$TPORT PROTO=() ;;
    *) PORT=$SPORT PROTO=() ;;
    esac
    case $sys in
    ss-tls) PING_PORT=$SPORT TLS=(--tls --cacert "$TLS_CA") ;;
    redis-tls) PING_PORT=$RPORT TLS=(--tls --cacert "$TLS_CA") ;;
    *) PING_PORT=$PORT TLS=() ;;
    esac
}

# tls_setup: a CA and a server certificate for 127.0.0.1 and localhost in
# WORK/tls, made by openssl (sstools.tlstools, the tests' own), which both
# servers serve; sets TLS_CA, TLS_CRT and TLS_KEY.
tls_setup() {
    mkdir -p "$WORK/tls"
    read -r TLS_CA TLS_CRT TLS_KEY < <(python3 -c 'import sys
from sstools import tlstools
p = tlstools.Pki(sys.argv[1])
print(p.ca.crt, p.server.crt, p.server.key)' "$WORK/tls") || die "cannot make the TLS certificates"
    [ -n "$TLS_KEY" ] || die "cannot make the TLS certificates"
}

# ask PORT REQUEST: sends one request line over bash's /dev/tcp and prints
# the reply: its one line, or for STATS its lines up to END without "STAT ".
# Fails if nothing listens; waits up to 60 s for a reply (COMPACT: 600 s).
# (A Python helper costs this machine about 0.4 s to start; this costs
# nothing, and the scale mode asks often.)
ask() {
    local fd line t=60
    [ "$2" != COMPACT ] || t=600
    { exec {fd}<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 1
    printf '%s\n' "$2" >&"$fd"
    while IFS= read -r -t "$t" line <&"$fd"; do
        line=${line%$'\r'}
        if [ "$2" != STATS ]; then
            printf '%s\n' "$line"
            break
        fi
        [ "$line" != END ] || break
        printf '%s\n' "${line#STAT }"
    done
    exec {fd}>&-
}

# wait_ping PORT SECONDS PID: until the server on PORT answers PING with
# PONG (Redis takes the inline form too, and answers -LOADING while it
# loads); fails at once if PID exits, say because the port was taken.
wait_ping() {
    local end=$((SECONDS + $2))
    while [ "$SECONDS" -lt "$end" ]; do
        [[ "$(ask "$1" PING)" != *PONG* ]] || return 0
        kill -0 "$3" 2>/dev/null || return 1
        sleep 0.01
    done
    return 1
}

# listening PORT: true if something accepts connections on PORT.
listening() {
    local fd
    { exec {fd}<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 1
    exec {fd}>&-
}

# start SYSTEM DIR: SYSTEM is one of server's. Sets SRV_PID too.
start() {
    local sys=$1 dir=$2
    mkdir -p "$dir"
    server "$sys" "$dir"
    # Else the PING below could be answered by whatever holds the port.
    ! listening "$PORT" || ! listening "$PING_PORT" ||
        die "port $PORT is taken already (BENCH_PORT, and Redis the next one)"
    "${CMD[@]}" 2>>"$dir.log" &
    SRV_PID=$!
    wait_ping "$PING_PORT" "$START_TIMEOUT" "$SRV_PID" ||
        die "$sys did not start; the end of $dir.log: $(tail -3 "$dir.log" 2>/dev/null)"
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

# compact_probe PREFIX N DIR: COMPACT on the statestored running on DIR,
# which holds keys 0..N-1 as --load-keys left them, while a 4-connection
# sequential writer and a GET prober run; then every key checked, live and
# after a kill -9 and restart. Records the facts PREFIXcompact_*, and leaves
# the restarted server running. Sets C_REPLY (COMPACT's reply), C_NEXT (the
# writer's next request number) and C_BASE, C_PROBE, C_WRITER, C_LIVE,
# C_RESTART (statestore-bench's lines: the prober without and with COMPACT,
# the writer, the two checks).
compact_probe() {
    local pfx=$1 n=$2 dir=$3 writer_pid probe_pid compact_ms cstats out
    # The writer continues the load's numbering, so "--check-seq <its next_seq>"
    # knows the exact value every key must hold afterwards.
    # Writer and prober run until told to stop (SIGINT: stop sending, drain,
    # report), so a slow COMPACT cannot outlast them.
    "$BENCH" -p "$SPORT" --csv --sequential --seq-base "$n" -k "$n" -c 4 -d 3600 \
        >"$WORK/writer.csv" &
    writer_pid=$!
    BG_PIDS+=("$writer_pid")
    sleep 0.5
    "$BENCH" -p "$SPORT" --csv --probe -k "$n" -d 3600 >"$WORK/probe.csv" &
    probe_pid=$!
    BG_PIDS+=("$probe_pid")
    sleep 0.3
    out=$("${UTIL[@]}" cmd "$SPORT" COMPACT) || die "COMPACT: no reply"
    read -r compact_ms C_REPLY <<<"$out"
    sleep "$after_compact" # a compaction that finishes after its reply shows here
    kill -INT "$probe_pid"
    wait "$probe_pid" || die "the probe failed"
    C_PROBE=$(cat "$WORK/probe.csv")
    # The baseline: the same prober over the same span with the writer
    # still running and no compaction, so that a pause of the machine is as
    # likely to land in one as in the other.
    C_BASE=$(bench --probe -k "$n" -d "$(field "$C_PROBE" 3)") || die "the baseline probe failed"
    kill -INT "$writer_pid"
    wait "$writer_pid" || die "the writer failed"
    BG_PIDS=()
    C_WRITER=$(cat "$WORK/writer.csv")
    # The daemon's own view: its longest loop iteration while the compaction
    # ran (start, walk slices and finish included), the time start and
    # finish took, and the walk's slices.
    cstats=$(ask "$SPORT" STATS) || die "STATS after COMPACT failed"
    fact "${pfx}compact_loop_max_us" "$(awk '$1 == "last_compaction_loop_max_us" { print $2 }' <<<"$cstats")"
    fact "${pfx}compact_own_stall_us" "$(awk '$1 == "last_compaction_stall_us" { print $2 }' <<<"$cstats")"
    fact "${pfx}compact_slices" "$(awk '$1 == "last_compaction_slices" { print $2 }' <<<"$cstats")"
    fact "${pfx}compact_slice_max_us" "$(awk '$1 == "last_compaction_slice_max_us" { print $2 }' <<<"$cstats")"
    log "COMPACT at $n: $compact_ms ms ($C_REPLY); probe $C_PROBE; baseline $C_BASE; writer $C_WRITER"
    C_NEXT=$(field "$C_WRITER" 14)
    C_LIVE=$(bench --check-seq "$C_NEXT" -k "$n" -P 64) || die "the check after COMPACT failed"
    stop KILL
    start ss "$dir"
    C_RESTART=$(bench --check-seq "$C_NEXT" -k "$n" -P 64) || die "the check after restart failed"
    log "check after COMPACT: $C_LIVE; after restart: $C_RESTART"
    fact "${pfx}compact_reply" "$C_REPLY"
    fact "${pfx}compact_ms" "$compact_ms"
    fact "${pfx}compact_gap_us" "$(field "$C_PROBE" 13)"
    fact "${pfx}compact_probe_max_us" "$(field "$C_PROBE" 8)"
    fact "${pfx}compact_base_gap_us" "$(field "$C_BASE" 13)"
    fact "${pfx}compact_writer_ops" "$(field "$C_WRITER" 4)"
    fact "${pfx}compact_writer_max_us" "$(field "$C_WRITER" 8)"
    fact "${pfx}compact_writer_errors" "$(field "$C_WRITER" 10)"
    fact "${pfx}compact_writes" "$((C_NEXT - n))"
    fact "${pfx}compact_lost_live" "$(($(field "$C_LIVE" 12) + $(field "$C_LIVE" 10)))"
    fact "${pfx}compact_lost_restart" "$(($(field "$C_RESTART" 12) + $(field "$C_RESTART" 10)))"
}

# backup_probe N: BACKUP of the statestored on SPORT (holding keys 0..N-1,
# the writer's numbering at C_NEXT, as compact_probe leaves it) while a
# 4-connection sequential writer runs: the same walk as COMPACT, with a tail.
# Records PREFIX-less facts backup_*; the copy must verify clean and is then
# removed.
backup_probe() {
    local n=$1 writer_pid out bstats backup_ms reply target="$WORK/backup"
    "$BENCH" -p "$SPORT" --csv --sequential --seq-base "$C_NEXT" -k "$n" -c 4 -d 3600 \
        >"$WORK/bwriter.csv" &
    writer_pid=$!
    BG_PIDS+=("$writer_pid")
    sleep 0.5
    out=$("${UTIL[@]}" cmd "$SPORT" "BACKUP $target") || die "BACKUP: no reply"
    read -r backup_ms reply <<<"$out"
    kill -INT "$writer_pid"
    wait "$writer_pid" || die "the writer failed"
    BG_PIDS=()
    bstats=$(ask "$SPORT" STATS) || die "STATS after BACKUP failed"
    "$BIN/statestore-check" verify "$target" >/dev/null || die "the backup does not verify"
    log "BACKUP at $n: $backup_ms ms ($reply); writer $(cat "$WORK/bwriter.csv")"
    fact backup_ms "$backup_ms"
    fact backup_reply "$reply"
    fact backup_loop_max_us "$(awk '$1 == "last_backup_loop_max_us" { print $2 }' <<<"$bstats")"
    fact backup_writer_errors "$(field "$(cat "$WORK/bwriter.csv")" 10)"
    rm -rf "$target"
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

# ---- the scale mode (BENCH_SCALE=1) ----
# Every figure goes into FACTS as "N.name=value" (N: the size), every
# statestore-bench line into RUNS as "workload,system,N,<its CSV>".
RUNS="$WORK/runs.csv"
: >"$RUNS"
run_row() { echo "$1,$2,$3,$4" >>"$RUNS"; } # run_row WORKLOAD SYSTEM N LINE

# ok WHAT LINE [misses]: dies unless statestore-bench's LINE has no errors
# (and no misses, with a third argument).
ok() {
    [ "$(field "$2" 10)" = 0 ] || die "$1: errors: $2"
    [ $# -lt 3 ] || [ "$(field "$2" 11)" = 0 ] || die "$1: misses: $2"
}

stat_of() { # stat_of NAME: one of STATS on SPORT
    ask "$SPORT" STATS | awk -v k="$1" '$1 == k { print $2 }'
}

# scale_fits N: prints why N entries do not fit this machine, or nothing.
# Estimates: about 150 B of RAM per entry (the table, the load's buffers,
# the page cache of the logs being written), and 80 B of disk
# per log record, of which a size writes about 3N: the load, the compacted
# snapshot beside the old log, and a tail of overwrites.
scale_fits() {
    local n=$1 mem_kb disk_b
    mem_kb=$(awk '/^MemAvailable:/ { print $2 }' /proc/meminfo)
    disk_b=$(df --output=avail -B1 "$WORK" | tail -1 | tr -d ' ')
    awk -v n="$n" -v m="$mem_kb" -v d="$disk_b" 'BEGIN {
        ram = 150 * n; disk = 80 * 3 * n
        if (ram > m * 1024)
            printf "needs about %.1f GiB of RAM (150 B per entry), MemAvailable is %.1f GiB\n",
                ram / 2^30, m / 2^20
        else if (disk > d)
            printf "needs about %.1f GiB of disk (80 B x 3N records), %.1f GiB free\n",
                disk / 2^30, d / 2^30 }'
}

# scale_load SYSTEM DIR N TAG: a fresh SYSTEM on DIR loaded with keys
# 0..N-1; its RSS before and after go to the facts N.rss_<TAG>empty_kb and
# N.rss_<TAG>full_kb, statestore-bench's line to LOADED. The server goes on.
scale_load() {
    local sys=$1 dir=$2 n=$3 tag=$4 rss0 rss1
    start "$sys" "$dir"
    rss0=$(rss_kb "$SRV_PID")
    LOADED=$(bench --load-keys "$n" -c 50 -P 64) || die "loading $n keys ($sys) failed"
    ok "load $n ($sys)" "$LOADED"
    rss1=$(rss_kb "$SRV_PID")
    run_row load "$sys" "$n" "$LOADED"
    fact "$n.rss_${tag}empty_kb" "$rss0"
    fact "$n.rss_${tag}full_kb" "$rss1"
    log "$n $sys: load $LOADED; RSS $rss0 -> $rss1 kB"
}

# scale_size N: the growth table's figures at N entries.
scale_size() {
    local n=$1 p="$1." dir line out t key val seq list_s list_seen list_calls list_max
    local list_slow1 list_slow2
    local records logb
    # 1. memory: --history 0, then the default depth (whose server goes on)
    dir="$WORK/s$n-h0"
    scale_load ss-h0 "$dir" "$n" h0_
    stop KILL
    rm -rf "$dir"
    dir="$WORK/s$n"
    scale_load ss "$dir" "$n" ""
    fact "${p}load_ops" "$(field "$LOADED" 4)"
    # 2. GET at 50 connections; every key exists. (SET comes after the
    # restart: its values would spoil the checks of the COMPACT run.)
    line=$(bench -c 50 -k "$n" --set-ratio 0 -d "$SECS" --warmup "$WARMUP") || die "GET run at $n failed"
    ok "GET at $n" "$line" misses
    run_row get50 ss "$n" "$line"
    fact "${p}get_ops" "$(field "$line" 4)"
    fact "${p}get_p99_us" "$(field "$line" 6)"
    log "$n GET: $line"
    # 3. a full listing at the default COUNT
    out=$("${UTIL[@]}" list "$SPORT" "$n") || die "the listing at $n failed"
    read -r list_s list_seen list_calls list_max list_slow1 list_slow2 <<<"$out"
    fact "${p}list_s" "$list_s"
    fact "${p}list_seen" "$list_seen"
    fact "${p}list_calls" "$list_calls"
    fact "${p}list_max_call_us" "$list_max"
    fact "${p}list_slow_1ms" "$list_slow1"
    fact "${p}list_slow_2ms" "$list_slow2"
    log "$n listing: $list_s s, $list_seen entries, $list_calls calls, longest call $list_max us;" \
        "loop iterations over 1 ms: $list_slow1, over 2 ms: $list_slow2"
    # 4. COMPACT with a writer and a prober
    compact_probe "$p" "$n" "$dir"
    run_row probe-base ss "$n" "$C_BASE"
    run_row probe ss "$n" "$C_PROBE"
    run_row writer ss "$n" "$C_WRITER"
    run_row check-live ss "$n" "$C_LIVE"
    run_row check-restart ss "$n" "$C_RESTART"
    [ "$C_REPLY" = OK ] || die "COMPACT at $n replied: $C_REPLY"
    ok "the writer during COMPACT at $n" "$C_WRITER"
    for line in "$C_LIVE" "$C_RESTART"; do
        if [ "$(field "$line" 12)" != 0 ] || [ "$(field "$line" 10)" != 0 ]; then
            die "COMPACT at $n lost acknowledged writes: $line"
        fi
    done
    # 5. restart after kill -9: until GET of the writer's last key answers
    # its value. --log-level info for the daemon's line "replayed N records".
    stop KILL
    seq=$((C_NEXT > n ? C_NEXT - 1 : n - 1))
    key=$(printf 'pipeline%08d' $((seq % n)))
    val=$(printf '%010d' "$seq")
    server ss "$dir"
    CMD+=(--log-level info)
    t=$("${UTIL[@]}" restart "$PORT" "$key" "$val" -- "${CMD[@]}" 2>"$dir.restart.log") ||
        die "restart at $n failed; see $dir.restart.log"
    records=$(sed -n 's/.*replayed \([0-9]*\) records.*/\1/p' "$dir.restart.log" | tail -1)
    logb=$(sed -n 's/.*replayed .*, log \([0-9]*\) bytes.*/\1/p' "$dir.restart.log" | tail -1)
    [ -n "$records" ] || die "restart at $n: no \"replayed N records\" line in $dir.restart.log"
    fact "${p}restart_s" "$t"
    fact "${p}restart_records" "$records"
    fact "${p}restart_log_bytes" "${logb:-nan}"
    log "$n restart: $t s for $records records (log $logb bytes)"
    # 2, continued. SET at 50 connections, N entries resident
    start ss "$dir"
    line=$(bench -c 50 -k "$n" --set-ratio 1 -d "$SECS" --warmup "$WARMUP") || die "SET run at $n failed"
    ok "SET at $n" "$line"
    run_row set50 ss "$n" "$line"
    fact "${p}set_ops" "$(field "$line" 4)"
    fact "${p}set_p99_us" "$(field "$line" 6)"
    log "$n SET: $line"
    stop KILL
    rm -rf "$dir"
}

# scale_disk N: default automatic compaction under SECS x 4 of overwrites
# of N keys, the data directory's bytes sampled every 50 ms; live = log_bytes
# after a final COMPACT.
scale_disk() {
    local n=$1 dir="$WORK/disk-$1" secs line watch_pid peak samples out
    secs=$(awk -v s="$SECS" 'BEGIN { print s * 4 }')
    start ss-auto "$dir"
    # The watcher starts with the load (a Python start takes a while here)
    # and stops when the overwrites do.
    rm -f "$WORK/disk.stop"
    "${UTIL[@]}" watch-disk "$dir" 86400 "$WORK/disk.stop" >"$WORK/disk.watch" &
    watch_pid=$!
    BG_PIDS+=("$watch_pid")
    line=$(bench --load-keys "$n" -c 50 -P 64) || die "loading $n keys (disk) failed"
    ok "load $n (disk)" "$line"
    run_row disk-load ss-auto "$n" "$line"
    line=$(bench -c 50 -k "$n" -d "$secs") || die "the overwrite run (disk) failed"
    ok "overwrites of $n keys (disk)" "$line"
    run_row disk-overwrite ss-auto "$n" "$line"
    : >"$WORK/disk.stop"
    wait "$watch_pid" || die "watching the data directory failed"
    BG_PIDS=()
    read -r peak samples <"$WORK/disk.watch"
    while true; do # an automatic compaction may still run
        out=$(stat_of compacting)
        [ -n "$out" ] || die "no STATS compacting (disk)"
        [ "$out" != 0 ] || break
        sleep 0.05
    done
    fact disk_auto_compactions "$(stat_of auto_compactions)"
    out=$(ask "$SPORT" COMPACT) || die "the final COMPACT (disk) failed"
    [ "$out" = OK ] || die "the final COMPACT (disk) replied: $out"
    fact disk_live_bytes "$(stat_of log_bytes)"
    fact disk_entries "$n"
    fact disk_secs "$secs"
    fact disk_ops "$(field "$line" 4)"
    fact disk_peak_bytes "$peak"
    fact disk_samples "$samples"
    # The daemon's defaults, from its --help.
    local opt
    for opt in min growth; do
        fact "disk_auto_$opt" "$("$SS" --help |
            sed -n "/--auto-compact-$opt/,/default/ s/.*(default \([0-9]*\).*/\1/p")"
    done
    log "disk at $n: peak $peak bytes over $samples samples; $line"
    stop KILL
    rm -rf "$dir"
}

scale_run() {
    local sizes=() n why disk_n="" lat_n line sys
    for n in $(tr ' ' '\n' <<<"${BENCH_SCALE_SIZES:-$d_sizes}" | grep . | sort -n -u); do
        [[ $n =~ ^[1-9][0-9]*$ ]] || die "BENCH_SCALE_SIZES: '$n' is not a number of entries"
        sizes+=("$n")
    done
    [ -n "${BENCH_SCALE_SIZES:-}" ] || [ "${BENCH_QUICK:-0}" = 1 ] || sizes+=(100000000)
    local run=()
    for n in "${sizes[@]}"; do
        why=$(scale_fits "$n")
        if [ -n "$why" ]; then
            log "skipping $n entries: $why"
            fact "skip.$n" "$why"
        else
            run+=("$n")
        fi
    done
    [ ${#run[@]} -gt 0 ] || die "no size fits this machine"
    fact sizes "${run[*]}"
    fact mem_gib "$(awk '/^MemTotal:/ { printf "%.1f\n", $2 / 2^20 }' /proc/meminfo)"
    for n in "${run[@]}"; do
        log "---- $n entries ----"
        scale_size "$n"
        if [ "${BENCH_QUICK:-0}" = 1 ] || [ "$n" -le 1000000 ]; then disk_n=$n; fi
    done
    scale_disk "${disk_n:-${run[0]}}"
    # SET latency against Redis (appendfsync always), at the smallest size.
    lat_n=${run[0]}
    for sys in ss redis; do
        start "$sys" "$WORK/lat-$sys"
        line=$(bench -c 50 -k "$lat_n" --set-ratio 1 -d "$SECS" --warmup "$WARMUP") ||
            die "the SET latency run on $sys failed"
        ok "SET latency on $sys" "$line"
        stop
        rm -rf "$WORK/lat-$sys"
        run_row lat-set50 "$sys" "$lat_n" "$line"
        fact "lat_$sys" "$line"
        log "latency $sys: $line"
    done
    fact lat_entries "$lat_n"

    # The table, scale.csv and both plots, in one Python start. To draw
    # them again: bench_util.py scale-report OUT.facts OUT-runs.csv OUT.md
    mkdir -p "$(dirname "$OUT")"
    cp "$FACTS" "${OUT%.md}.facts"
    cp "$RUNS" "${OUT%.md}-runs.csv"
    "${UTIL[@]}" scale-report "$FACTS" "$RUNS" "$OUT" || die "scale-report failed"
    log "table written to $OUT; beside it ${OUT##*/} .csv, .facts, -runs.csv, scale-growth.png, latency.png"
}

if [ "$SCALE" = 1 ]; then
    scale_run
    exit 0
fi

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
                echo "$wl $sys $r $(ask "$PORT" STATS | tr ' ' = | tr '\n' ' ')" >>"$STATS"
            fi
            stop
            rm -rf "$WORK/$wl-$sys-$r"
            log "$wl $sys round $r: $line"
            echo "$wl,$sys,$r,$line" >>"$RESULTS"
        done
    done
}
if [ "$TLS_ONLY" != 1 ] && [ "$REPL" != 1 ]; then
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
fi

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
    out=$(timeout "$rb_timeout" "$RB" -p "$PORT" "${TLS[@]}" -r "$RB_KEYS" -d "$RB_VALUE" -n "$n" \
        --csv "$@" 2>&1) || die "redis-benchmark -n $n $* failed: $out"
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
    "$RCLI" -p "$PORT" "${TLS[@]}" INFO stats | tr -d '\r' |
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
# statestored and Redis alternating (or the systems SYSTEMS names), each run on a fresh server and data
# directory, the load from redis-benchmark. It stops after -n requests, not
# after a time, so an unmeasured warmup run (about WARMUP s at the rate
# rb_rate expects) first measures the rate that makes the measured run take
# about RSECS s. Rows go to RESULTS in statestore-bench's CSV columns (no
# p99.9 or reply gap from redis-benchmark: nan).
rbpair() {
    local wl=$1 seed=$2 factor=$3 prefill=0 r sys dir n fig rps avg p50 p99 max errs misses line
    local cpu0 cpu1
    shift 3
    if [ "$1" = --prefill ]; then prefill=1 && shift; fi
    for ((r = 1; r <= ROUNDS; r++)); do
        for sys in ${SYSTEMS:-ss redis}; do
            dir="$WORK/$wl-$sys-$r"
            start "$sys" "$dir"
            [ "$prefill" = 0 ] || rb_prefill
            n=$(awk -v e="$(rb_rate "$wl" "$sys" "$seed" "$factor")" -v w="$WARMUP" \
                'BEGIN { n = e * w; printf "%d\n", n < 1000 ? 1000 : n }')
            fig=$(rb "$n" "$@")
            n=$(awk -v e="${fig%% *}" -v s="$RSECS" \
                'BEGIN { n = e * s; printf "%d\n", n < 1000 ? 1000 : n }')
            # The server's own CPU time per request, beside the rate: where
            # the client is the limit (redis-benchmark over TLS, on the same
            # cores), the rate says little about the server, and this does.
            cpu0=$(cpu_ticks "$SRV_PID")
            fig=$(rb "$n" "$@")
            cpu1=$(cpu_ticks "$SRV_PID")
            fact "cpu_ns.$wl.$sys.$r" "$(((cpu1 - cpu0) * 1000000000 / CLK_TCK / n))"
            errs=$(rb_info total_error_replies)
            [ "$errs" != nan ] || die "$sys: no total_error_replies in INFO stats"
            misses=$(rb_info keyspace_misses)
            [ "$prefill" = 0 ] || [ "$misses" = nan ] || [ "$misses" = 0 ] ||
                die "$wl $sys: $misses GETs missed after the prefill"
            if [[ $sys == ss* ]]; then
                echo "$wl $sys $r $(ask "$PING_PORT" STATS | tr ' ' = | tr '\n' ' ')" >>"$STATS"
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
if [ "$REPL" = 1 ]; then
    . "$SS_ROOT/scripts/bench_repl.sh"
    repl_run
    exit 0
fi
if [ "$TLS_ONLY" != 1 ]; then
    rbpair rb-set50 set50 1 -c 50 -t set
    rbpair rb-set50p16 set50 8 -c 50 -P 16 -t set
    rbpair rb-get50 get50 1 --prefill -c 50 -t get
fi

# ---- TLS: statestored over TLS, in plaintext, and Redis over TLS ----
# The same redis-benchmark SET at 50 connections (--tls --cacert for the
# TLS sides), the three alternating round by round, so both ratios - the
# cost of TLS to us, and us against Redis both over TLS - come from one run.
# The same pipelined (-P 16): far fewer records per request for the client
# to encrypt and decrypt, so more of the servers' own cost shows.
tls_setup
SYSTEMS="ss-tls ss redis-tls" rbpair rb-tls-set50 set50 1 -c 50 -t set
SYSTEMS="ss-tls ss redis-tls" rbpair rb-tls-set50p16 set50 8 -c 50 -P 16 -t set
if [ "$TLS_ONLY" = 1 ]; then
    mkdir -p "$(dirname "$OUT")"
    "${UTIL[@]}" report-tls "$FACTS" "$RESULTS" | tee "$OUT"
    cp "$RESULTS" "${OUT%.md}.csv"
    log "table also written to $OUT"
    exit 0
fi

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
compact_probe "" "$ENTRIES" "$dir"
backup_probe "$ENTRIES"
stop

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
"${UTIL[@]}" plot-latency "$RESULTS" "$(dirname "$OUT")/latency.png" set50 get50 ||
    die "plot-latency failed"
log "table also written to $OUT (raw figures beside it, and latency.png)"
