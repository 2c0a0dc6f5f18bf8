#!/usr/bin/env bash
# The statestored demo, in one command from a fresh clone:
#
#     demo/run_demo.sh
#
# Builds statestored if needed (into $SS_BUILD_DIR, default build/), starts a
# fresh daemon on a free port with a temporary data dir, and runs an
# incremental order pipeline through a normal run, a crash before commit, a
# crash after commit, a kill -9 of the daemon mid-run, and a TTL that
# expires. After every step demo/check.py checks the invariants; the demo
# ends with "DEMO PASSED" and exit 0 only if all of them held.
set -euo pipefail

SS_ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEMO="$SS_ROOT/demo"
BUILD=${SS_BUILD_DIR:-$SS_ROOT/build}
NAME=orders

say() { printf '%s\n' "$*"; }
step() { printf '\n== %s\n' "$*"; }
die() { printf 'DEMO FAILED: %s\n' "$*"; exit 1; }
# Shows a command the way a user would type it, then runs it.
show() { printf '$ %s\n' "$*"; }

if [ ! -x "$BUILD/statestored" ] || [ ! -x "$BUILD/statestore-cli" ]; then
  step "Building statestored into $BUILD"
  # shellcheck source=../scripts/deps.sh
  . "$SS_ROOT/scripts/deps.sh"
  ss_need_packages "${SS_BUILD_PACKAGES[@]}"
  ss_build_kept "$BUILD"
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ss-demo.XXXXXX")
ORDERS=$WORK/orders.log
OUTPUT=$WORK/output.json
DPID=""
PPID_BG=""
PORT=0
NSTART=0

cleanup() {
  if [ -n "$PPID_BG" ] && kill -0 "$PPID_BG" 2>/dev/null; then kill "$PPID_BG" 2>/dev/null || true; fi
  if [ -n "$DPID" ] && kill -0 "$DPID" 2>/dev/null; then
    kill -TERM "$DPID" 2>/dev/null || true
    wait "$DPID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_daemon PORT: starts statestored on PORT (0: any free port) with the
# demo's data dir and waits for its "listening on" line, which it prints once
# the log is replayed.
start_daemon() {
  NSTART=$((NSTART + 1))
  local log="$WORK/statestored.$NSTART.log" i
  "$BUILD/statestored" -p "$1" -d "$WORK/data" 2>"$log" &
  DPID=$!
  for i in $(seq 200); do
    if grep -q 'listening on' "$log"; then
      PORT=$(sed -n 's/.*listening on [^ ]*:\([0-9][0-9]*\).*/\1/p' "$log" | head -n1)
      say "statestored (pid $DPID) is listening on 127.0.0.1:$PORT, data in $WORK/data"
      return 0
    fi
    kill -0 "$DPID" 2>/dev/null || { cat "$log"; die "statestored exited during startup"; }
    sleep 0.05
  done
  die "statestored did not start within 10 s"
}

cli() { "$BUILD/statestore-cli" -p "$PORT" "$@"; }
produce() {
  show "python3 demo/producer.py --count $1"
  python3 "$DEMO/producer.py" --path "$ORDERS" --count "$1"
}
# pipeline ARGS...: one pipeline run; prints its transcript, returns its status.
pipeline() {
  show "python3 demo/pipeline.py --name $NAME $*"
  python3 "$DEMO/pipeline.py" --name "$NAME" --port "$PORT" --orders "$ORDERS" \
    --output "$OUTPUT" "$@" | sed 's/^/  /'
  return "${PIPESTATUS[0]}"
}
check() {
  python3 "$DEMO/check.py" --name "$NAME" --port "$PORT" --orders "$ORDERS" \
    --output "$OUTPUT" --reference "$WORK/reference.json" --history "$WORK/history" "$@" ||
    die "invariants broken (above)"
}
# get_cp: sets CP to the committed checkpoint and checks, against every value
# seen before (the history file check.py shares), that it never went back.
get_cp() {
  CP=$(cli GET_CHECKPOINT "$NAME")
  [ "$CP" = NULL ] && CP=0
  local last
  last=$(tail -n1 "$WORK/history" 2>/dev/null || true)
  [ -z "$last" ] || [ "$CP" -ge "$last" ] || die "checkpoint moved backwards: $CP after $last"
  echo "$CP" >>"$WORK/history"
}
expect_status() { # expect_status WANT GOT WHAT
  [ "$1" = "$2" ] || die "$3 exited $2, expected $1"
}

step "Setup: a fresh statestored"
start_daemon 0
show "statestore-cli -p $PORT PING"
cli PING

step "Normal run: produce orders, run the pipeline until it has caught up"
produce 200
rc=0; pipeline --batch-size 80 --until-caught-up || rc=$?
expect_status 0 "$rc" "the pipeline"
check --caught-up

step "Scenario A: crash before commit"
say "The pipeline writes its output, then dies before committing the checkpoint."
produce 60
get_cp; before=$CP
rc=0; pipeline --batch-size 100 --crash-before-commit || rc=$?
expect_status 1 "$rc" "the crashing pipeline"
show "statestore-cli GET_CHECKPOINT $NAME"
get_cp; after=$CP; say "$after"
[ "$after" = "$before" ] || die "checkpoint moved from $before to $after without a commit"
say "The checkpoint is still $after, so the next run reads those 60 records again."
check
rc=0; pipeline --batch-size 100 || rc=$?
expect_status 0 "$rc" "the pipeline"
say "Reprocessing was safe: the output is keyed by order_id, so re-applying changed nothing."
check --caught-up

step "Scenario B: crash after commit"
say "The pipeline commits a batch, then dies; the next run must not redo that batch."
produce 80
rc=0; pipeline --batch-size 40 --crash-after-commit || rc=$?
expect_status 1 "$rc" "the crashing pipeline"
get_cp; committed=$CP
show "statestore-cli GET_CHECKPOINT $NAME"; say "$committed"
check
rc=0; pipeline --batch-size 40 --until-caught-up | tee "$WORK/b.txt" || rc=$?
expect_status 0 "$rc" "the pipeline"
grep -q "read checkpoint $committed\$" "$WORK/b.txt" || die "the run after the crash did not resume from $committed"
say "It resumed after $committed: the committed batch was not processed again."
check --caught-up

step "Scenario C: kill -9 statestored in the middle of a pipeline run"
produce 300
get_cp; start_cp=$CP
show "python3 demo/pipeline.py --name $NAME --batch-size 10 --pause 0.03 --until-caught-up &"
python3 "$DEMO/pipeline.py" --name "$NAME" --port "$PORT" --orders "$ORDERS" --output "$OUTPUT" \
  --batch-size 10 --pause 0.03 --until-caught-up >"$WORK/c.txt" 2>&1 &
PPID_BG=$!
# Wait (bounded) until the run has committed a few batches.
for i in $(seq 200); do
  get_cp
  [ "$CP" -ge $((start_cp + 50)) ] && break
  sleep 0.02
done
[ "$CP" -ge $((start_cp + 50)) ] || die "the pipeline made no progress"
kill -0 "$PPID_BG" 2>/dev/null || die "the pipeline finished before we could kill statestored"
get_cp; seen=$CP
say "checkpoint acknowledged before the kill: $seen"
show "kill -9 $DPID"
{ kill -9 "$DPID" && wait "$DPID"; } 2>/dev/null || true
say "statestored is dead; the pipeline's requests now fail and it retries with backoff."
sleep 0.3
show "statestored -p $PORT -d $WORK/data   # same port, same data dir"
start_daemon "$PORT"
get_cp; survived=$CP
say "checkpoint after restart: $survived"
[ "$survived" -ge "$seen" ] || die "an acknowledged checkpoint was lost: $seen before, $survived after"
say "Every acknowledged commit survived kill -9 (each OK came after an fdatasync)."
rc=0; wait "$PPID_BG" || rc=$?
PPID_BG=""
say "the pipeline's transcript around the kill:"
grep -B2 -A1 -E 'unreachable|FAILED' "$WORK/c.txt" | sed 's/^/  /' || true
say "  ..."
tail -n 3 "$WORK/c.txt" | sed 's/^/  /'
expect_status 0 "$rc" "the pipeline running through the kill"
check --caught-up

step "Scenario D: a checkpoint with a TTL expires"
show "printf 'SET_CHECKPOINT demo-ttl 42 2\\nTTL_CHECKPOINT demo-ttl\\nGET_CHECKPOINT demo-ttl\\n' | statestore-cli"
printf 'SET_CHECKPOINT demo-ttl 42 2\nTTL_CHECKPOINT demo-ttl\nGET_CHECKPOINT demo-ttl\n' | cli
say "waiting for it to expire (polling GET_CHECKPOINT, at most 10 s)..."
t0=$SECONDS
for i in $(seq 100); do
  v=$(cli GET_CHECKPOINT demo-ttl)
  [ "$v" = NULL ] && break
  sleep 0.1
done
[ "$v" = NULL ] || die "demo-ttl did not expire within 10 s"
say "expired after about $((SECONDS - t0)) s more"
show "statestore-cli GET_CHECKPOINT demo-ttl; statestore-cli TTL_CHECKPOINT demo-ttl"
cli GET_CHECKPOINT demo-ttl
ttl=$(cli TTL_CHECKPOINT demo-ttl); say "$ttl"
[ "$ttl" = -2 ] || die "TTL_CHECKPOINT of an expired checkpoint is $ttl, expected -2"
check --caught-up

step "Done"
show "statestore-cli STATS"
cli STATS | grep -E '^STAT (entries|commits|fsyncs|fsync_us_mean) ' || true
say "checkpoint values seen, in order (never decreasing): $(uniq "$WORK/history" | tr '\n' ' ')"
say "DEMO PASSED"
