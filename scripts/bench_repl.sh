# shellcheck shell=bash disable=SC2154 # bench.sh's variables (fstype, WORK...)
# The replication mode of scripts/bench.sh (BENCH_REPL=1, issue 18), sourced
# by it after its helpers (start, stop, ask, bench, rb, fact, ...): not a
# script of its own.
#
# Three systems, each round alternating them (A, B, C, A, B, C, ...), every
# run on fresh servers and empty data directories under build/:
#   ss          statestored, one node
#   ss-pair     statestored primary (--sync-replicas 1) on BENCH_PORT and one
#               replica (--replica-of) on BENCH_PORT + 2, its own data
#               directory: a write is acknowledged once it is durable on both
#   ss-pair-wait  ss-pair again, its clients sending SET + WAIT 1 0 as
#               Redis's do (statestored's WAIT answers at once: with
#               --sync-replicas 1 every acknowledged write is on the
#               replica already); repl-set50 only
#   redis-pair  redis-server primary on BENCH_PORT + 1 and one replica
#               (replicaof) on BENCH_PORT + 3, both appendonly yes,
#               appendfsync always
#
# Workloads:
#   repl-set50     statestore-bench --redis -c 50: RESP SET at 50 connections,
#                  closed loop. On redis-pair every SET is followed by WAIT 1 0
#                  (statestore-bench --wait 1), the pair being one request:
#                  Redis's way to the same guarantee (see WAIT_NOTE in
#                  sstools/bench.py: the installed Redis is 7.0, which has no
#                  WAITAOF). The target ratio is ss-pair against redis-pair.
#   repl-rb-set50  redis-benchmark -t set -c 50 (as the TLS trios): ss and
#                  ss-pair; redis-pair with plain SETs (redis-benchmark cannot
#                  WAIT), a figure for scale with a weaker guarantee.
#   repl-lag       ss-pair under repl-set50's load, with the lag prober
#                  (bench_util.py repl-lag) running: replica lag in
#                  milliseconds and in revisions.
#
# BENCH_REPL_SYSTEMS [ss ss-pair ss-pair-wait redis-pair] runs only some of
# them (the lag run needs ss-pair).
REPL_SYSTEMS=${BENCH_REPL_SYSTEMS:-ss ss-pair ss-pair-wait redis-pair}
SREP=$((SPORT + 2))  # statestored's replica
RREP=$((SPORT + 3))  # Redis's replica
REP_PID=""
REPL_READY_S=60      # the longest a replica may take to be in sync
LAG="$WORK/lag.txt"
: >"$LAG"

for sys in $REPL_SYSTEMS; do
    case $sys in
    ss | redis-pair) ;;
    ss-pair | ss-pair-wait)
        "$SS" --help 2>&1 | grep -q -- '--replica-of' ||
            die "$SS has no --replica-of option: this statestored has no replication yet" \
                "(issue 18), so the ss-pair system cannot run. BENCH_REPL_SYSTEMS=\"ss redis-pair\"" \
                "runs the rest."
        ;;
    *) die "BENCH_REPL_SYSTEMS: unknown system '$sys' (ss ss-pair ss-pair-wait redis-pair)" ;;
    esac
done

# stats_field TEXT NAME: NAME's value in "name value" lines (ask's STATS).
stats_field() { awk -v k="$2" '$1 == k { print $2; exit }' <<<"$1"; }
# rinfo PORT SECTION FIELD: a field of a Redis INFO section, or nothing.
rinfo() {
    "$RCLI" -p "$1" INFO "$2" 2>/dev/null | tr -d '\r' |
        awk -F: -v f="$3" '$1 == f { print substr($0, length(f) + 2); exit }'
}

# rep_start DIR CMD...: the replica's process, logging to DIR.log.
rep_start() {
    local dir=$1
    shift
    mkdir -p "$dir"
    "$@" 2>>"$dir.log" &
    REP_PID=$!
}

# pair_fail WHAT DIR: dies with the tails of both members' logs.
pair_fail() {
    die "$1; the end of $2/primary.log: $(tail -5 "$2/primary.log" 2>/dev/null)" \
        "; the end of $2/replica.log: $(tail -5 "$2/replica.log" 2>/dev/null)"
}

# ss_pair_ready DIR: until the primary lists one replica online and in its
# sync set, and the replica's link is up.
ss_pair_ready() {
    local dir=$1 end=$((SECONDS + REPL_READY_S)) pst rst
    while [ "$SECONDS" -lt "$end" ]; do
        kill -0 "$REP_PID" 2>/dev/null || pair_fail "the statestored replica exited" "$dir"
        kill -0 "$SRV_PID" 2>/dev/null || pair_fail "the statestored primary exited" "$dir"
        pst=$(ask "$SPORT" STATS) || pst=""
        rst=$(ask "$SREP" STATS) || rst=""
        # primary_link: "up" in the spec; STATS gives 1 (a number, for /metrics).
        if [[ "$(stats_field "$rst" primary_link)" == @(up|1) ]] &&
            awk '$1 ~ /^replica[0-9]+$/ && $2 ~ /state=online/ && $2 ~ /in_sync_set=1/ { ok = 1 }
                 END { exit !ok }' <<<"$pst"; then
            return 0
        fi
        sleep 0.05
    done
    pair_fail "the statestored replica was not online in the sync set after ${REPL_READY_S} s" \
        "$dir"
}

# redis_pair_ready DIR: until the replica's link is up, the primary lists it
# online, and the replica's AOF rewrite after its full sync is over (a
# replica with appendonly rewrites its AOF once it has loaded the RDB).
redis_pair_ready() {
    local dir=$1 end=$((SECONDS + REPL_READY_S))
    while [ "$SECONDS" -lt "$end" ]; do
        kill -0 "$REP_PID" 2>/dev/null || pair_fail "the Redis replica exited" "$dir"
        if [ "$(rinfo "$RREP" replication master_link_status)" = up ] &&
            [[ "$(rinfo "$RPORT" replication slave0)" == *state=online* ]] &&
            [ "$(rinfo "$RREP" persistence aof_rewrite_in_progress)" = 0 ] &&
            [ "$(rinfo "$RREP" persistence aof_rewrite_scheduled)" = 0 ]; then
            return 0
        fi
        sleep 0.05
    done
    pair_fail "the Redis replica was not in sync after ${REPL_READY_S} s" "$dir"
}

# repl_start SYSTEM DIR: SYSTEM's servers on fresh directories under DIR;
# sets PORT, PROTO and TLS (server's) for the node the load goes to, and
# SRV_PID and REP_PID.
repl_start() {
    local sys=$1 dir=$2
    mkdir -p "$dir"
    case $sys in
    ss) start ss "$dir/primary" ;;
    ss-pair | ss-pair-wait)
        start ss-sync "$dir/primary"
        listening "$SREP" && die "port $SREP is taken already (BENCH_PORT + 2)"
        rep_start "$dir/replica" "$SS" -p "$SREP" -d "$dir/replica" --auto-compact-min 0 \
            --log-level info --replica-of "127.0.0.1:$SPORT"
        ss_pair_ready "$dir"
        ;;
    redis-pair)
        start redis-primary "$dir/primary"
        listening "$RREP" && die "port $RREP is taken already (BENCH_PORT + 3)"
        rep_start "$dir/replica" "$REDIS" --port "$RREP" --bind 127.0.0.1 --appendonly yes \
            --appendfsync always --save '' --auto-aof-rewrite-percentage 0 \
            --dir "$dir/replica" --logfile "$dir/replica.log" --replicaof 127.0.0.1 "$RPORT"
        redis_pair_ready "$dir"
        ;;
    esac
    # server() left PORT and PROTO as the primary's.
}

repl_stop() {
    stop
    if [ -n "$REP_PID" ]; then
        kill -TERM "$REP_PID" 2>/dev/null || true
        wait "$REP_PID" 2>/dev/null || true
        REP_PID=""
    fi
}

# repl_settle SYSTEM WL R: after a run, the replica must hold what the
# primary acknowledged. statestored in sync mode: the replica's
# durable_revision is at least the primary's revision at once (every write
# the primary applied was durable there first), and its applied revision
# reaches it. Redis: the replica's offset reaches the primary's. Also keeps
# both sides' STATS for the report (the daemon's own counters).
repl_settle() {
    local sys=$1 wl=$2 r=$3 pst rst prev durable applied end=$((SECONDS + 30)) poff roff t0
    case $sys in
    ss-pair | ss-pair-wait)
        pst=$(ask "$SPORT" STATS) || die "STATS on the primary failed"
        rst=$(ask "$SREP" STATS) || die "STATS on the replica failed"
        prev=$(stats_field "$pst" revision)
        durable=$(stats_field "$rst" durable_revision)
        if [ -z "$prev" ] || [ -z "$durable" ]; then
            die "$wl: no revision / durable_revision in STATS (primary $prev, replica $durable)"
        fi
        fact "durable_at_stop.$wl.$sys.$r" "$durable $prev"
        [ "$durable" -ge "$prev" ] ||
            log "WARNING $wl round $r: the replica's durable_revision $durable is behind the" \
                "primary's revision $prev right after the load: acknowledged writes were not" \
                "durable on the sync replica"
        # The replica applies what a COMMIT covers: the last group's COMMIT
        # has to reach it too, with no write after it to carry it.
        t0=$(date +%s%N)
        while applied=$(ask "$SREP" STATS | awk '$1 == "revision" { print $2 }') &&
            [ "${applied:-0}" -lt "$prev" ]; do
            if [ "$SECONDS" -ge "$end" ]; then
                log "WARNING $wl round $r: the replica has applied $applied, not the" \
                    "primary's $prev, 30 s after the load"
                break
            fi
            sleep 0.01
        done
        fact "apply_tail_ms.$wl.$sys.$r" "$((($(date +%s%N) - t0) / 1000000)) ${applied:-none} $prev"
        echo "$wl $sys-primary $r $(tr ' ' = <<<"$pst" | tr '\n' ' ')" >>"$STATS"
        echo "$wl $sys-replica $r $(tr ' ' = <<<"$rst" | tr '\n' ' ')" >>"$STATS"
        ;;
    redis-pair)
        # At least: the primary's PING to its replicas (every 10 s) moves
        # the offset on by itself.
        poff=$(rinfo "$RPORT" replication master_repl_offset)
        while roff=$(rinfo "$RREP" replication slave_repl_offset) &&
            [ "${roff:-0}" -lt "$poff" ]; do
            [ "$SECONDS" -lt "$end" ] ||
                die "$wl: the Redis replica did not reach offset $poff in 30 s"
            sleep 0.02
        done
        ;;
    ss)
        echo "$wl ss $r $(ask "$SPORT" STATS | tr ' ' = | tr '\n' ' ')" >>"$STATS"
        ;;
    esac
}

# repl_sb SYSTEM: repl-set50's statestore-bench line on SYSTEM's primary.
repl_sb() {
    local extra=()
    [ "$1" != redis-pair ] && [ "$1" != ss-pair-wait ] || extra=(--wait 1)
    "$BENCH" -p "$PORT" --redis --csv -c 50 -k "$RB_KEYS" -v "$RB_VALUE" --set-ratio 1 \
        -d "$SECS" --warmup "$WARMUP" "${extra[@]}" || die "statestore-bench on $1 failed"
}

# repl_rb SYSTEM WL: redis-benchmark -t set -c 50 on SYSTEM's primary, as
# rbpair's runs: an unmeasured run sized by the rate expected, then one of
# about RSECS. Prints the row in statestore-bench's CSV columns.
repl_rb() {
    local sys=$1 wl=$2 n fig errs rps avg p50 p99 max
    n=$(awk -v e="$(rb_rate "$wl" "$sys" repl-set50 1)" -v w="$WARMUP" \
        'BEGIN { n = e * w; printf "%d\n", n < 1000 ? 1000 : n }')
    if [ "${BENCH_QUICK:-0}" = 1 ]; then
        # A smoke test of the script: one run, sized by the SET run's rate.
        fig=$(rb_rate "$wl" "$sys" repl-set50 1)
    else
        fig=$(rb "$n" -c 50 -t set)
    fi
    n=$(awk -v e="${fig%% *}" -v s="$RSECS" 'BEGIN { n = e * s; printf "%d\n", n < 1000 ? 1000 : n }')
    fig=$(rb "$n" -c 50 -t set)
    errs=$(rb_info total_error_replies)
    [ "$errs" != nan ] || die "$sys: no total_error_replies in INFO stats"
    read -r rps avg p50 p99 max <<<"$fig"
    awk -v n="$n" -v rps="$rps" -v avg="$avg" -v p50="$p50" -v p99="$p99" -v max="$max" \
        -v e="$errs" 'BEGIN {
        printf "redis-benchmark,%d,%.3f,%.0f,%.1f,%.1f,nan,%.1f,%.1f,%d,0,0,nan,0\n",
            n, n / rps, rps, p50 * 1000, p99 * 1000, max * 1000, avg * 1000, e }'
}

# repl_lag R: ss-pair under repl-set50's load, the prober (connected first,
# which takes a Python start) sampling from the end of the load's warmup to
# its end; its samples go to LAG.
repl_lag() {
    local r=$1 line lag_pid out end=$((SECONDS + 60))
    out="$WORK/lag-$r.txt"
    rm -f "$out" "$out.ready" "$out.go"
    "${UTIL[@]}" repl-lag "$SPORT" "$SREP" "$out" "$WARMUP" "$SECS" &
    lag_pid=$!
    BG_PIDS+=("$lag_pid")
    while [ ! -e "$out.ready" ]; do
        kill -0 "$lag_pid" 2>/dev/null || die "the lag prober exited before it was ready"
        [ "$SECONDS" -lt "$end" ] || die "the lag prober was not ready after 60 s"
        sleep 0.01
    done
    : >"$out.go"
    line=$(repl_sb ss-pair)
    wait "$lag_pid" || die "the lag prober failed"
    BG_PIDS=()
    sed "s/^/$r /" "$out" >>"$LAG"
    echo "$line"
}

repl_run() {
    local r wl sys dir line
    fact repl_systems "$REPL_SYSTEMS"
    fact rb_keys "$RB_KEYS"
    fact rb_value "$RB_VALUE"
    fact fs "$fstype"
    for ((r = 1; r <= ROUNDS; r++)); do
        for wl in repl-set50 repl-rb-set50 repl-lag; do
            for sys in $REPL_SYSTEMS; do
                [ "$wl" != repl-lag ] || [ "$sys" = ss-pair ] || continue
                [ "$wl" = repl-set50 ] || [ "$sys" != ss-pair-wait ] || continue
                dir="$WORK/$wl-$sys-$r"
                repl_start "$sys" "$dir"
                case $wl in
                repl-set50) line=$(repl_sb "$sys") ;;
                repl-rb-set50) line=$(repl_rb "$sys" "$wl") ;;
                repl-lag) line=$(repl_lag "$r") ;;
                esac
                repl_settle "$sys" "$wl" "$r"
                repl_stop
                rm -rf "$dir"
                log "$wl $sys round $r: $line"
                echo "$wl,$sys,$r,$line" >>"$RESULTS"
            done
        done
    done
    mkdir -p "$(dirname "$OUT")"
    "${UTIL[@]}" report-repl "$FACTS" "$RESULTS" "$LAG" "$STATS" | tee "$OUT"
    cp "$FACTS" "${OUT%.md}.facts"
    cp "$RESULTS" "${OUT%.md}.csv"
    cp "$LAG" "${OUT%.md}-lag.txt"
    cp "$STATS" "${OUT%.md}.stats"
    log "table also written to $OUT (raw figures beside it)"
}
