#!/usr/bin/env bash
# The statestored demo, in one command from a fresh clone:
#
#     demo/run_demo.sh
#
# Builds statestored if needed (into $SS_BUILD_DIR, default build/), starts a
# fresh daemon on a free port with a temporary data dir, and runs an
# incremental order pipeline through a normal run, a crash before commit, a
# crash after commit, a kill -9 of the daemon mid-run, a TTL that expires, a
# zombie run fenced by compare-and-set, and an operator's rewind that fences
# a run in flight. After every step demo/check.py checks the invariants; the
# demo ends with "DEMO PASSED" and exit 0 only if all of them held.
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
# the log is replayed. A restart on the same port retries for 5 s while the
# port is in use: the port was picked from the ephemeral range, and while the
# daemon was dead another program's outgoing connection may have been given
# that number (it happened once beside the suite's load tests).
start_daemon() {
  local log i tries=0
  while :; do
    NSTART=$((NSTART + 1))
    log="$WORK/statestored.$NSTART.log"
    "$BUILD/statestored" -p "$1" -d "$WORK/data" 2>"$log" &
    DPID=$!
    for i in $(seq 200); do
      if grep -q 'listening on' "$log"; then
        PORT=$(sed -n 's/.*listening on [^ ]*:\([0-9][0-9]*\).*/\1/p' "$log" | head -n1)
        say "statestored (pid $DPID) is listening on 127.0.0.1:$PORT, data in $WORK/data"
        return 0
      fi
      kill -0 "$DPID" 2>/dev/null || break
      sleep 0.05
    done
    kill -0 "$DPID" 2>/dev/null && die "statestored did not start within 10 s"
    wait "$DPID" 2>/dev/null || true
    tries=$((tries + 1))
    if [ "$1" != 0 ] && [ "$tries" -lt 25 ] && grep -q 'Address already in use' "$log"; then
      sleep 0.2
      continue
    fi
    cat "$log"
    die "statestored exited during startup"
  done
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
# getrev: sets REV and CPV to the pipeline's revision and checkpoint (0 0 if
# it has none), with GETREV_CHECKPOINT.
getrev() {
  local r
  r=$(cli GETREV_CHECKPOINT "$NAME")
  if [ "$r" = NULL ]; then REV=0; CPV=0; else REV=${r%% *}; CPV=${r#* }; fi
}
# start_stalled TAG ARGS...: starts a pipeline run in the background that
# stalls after processing until $WORK/wake-TAG exists (its transcript goes to
# $WORK/TAG.txt), and waits until it says it stalled.
start_stalled() {
  local tag=$1 i
  shift
  show "python3 demo/pipeline.py --name $NAME $* --stall-until wake-$tag &"
  python3 "$DEMO/pipeline.py" --name "$NAME" --port "$PORT" --orders "$ORDERS" \
    --output "$OUTPUT" "$@" --stall-until "$WORK/wake-$tag" >"$WORK/$tag.txt" 2>&1 &
  PPID_BG=$!
  for i in $(seq 500); do
    grep -q STALLED "$WORK/$tag.txt" && break
    kill -0 "$PPID_BG" 2>/dev/null || { cat "$WORK/$tag.txt"; die "the run exited before stalling"; }
    sleep 0.02
  done
  grep -q STALLED "$WORK/$tag.txt" || die "the run did not stall within 10 s"
  sed 's/^/  /' "$WORK/$tag.txt"
}
# wake TAG: wakes the stalled run, waits for it and sets RC to its status.
wake() {
  show "touch wake-$1   # the stalled run wakes up"
  touch "$WORK/wake-$1"
  RC=0; wait "$PPID_BG" || RC=$?
  PPID_BG=""
  grep -v STALLED "$WORK/$1.txt" | grep -A20 'woke up' | sed 's/^/  /'
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
grep -q "read checkpoint $committed (revision" "$WORK/b.txt" || die "the run after the crash did not resume from $committed"
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

step "Scenario E: a zombie run wakes up after another run committed"
say "Run 1 processes a batch, then stalls (a GC pause, a partition) before it writes and"
say "commits. Run 2 takes over and commits. Run 1 wakes up: its CAS_CHECKPOINT fails."
produce 100
getrev; e_rev0=$REV
start_stalled e1 --batch-size 100
rc=0; pipeline --batch-size 40 --until-caught-up || rc=$?
expect_status 0 "$rc" "run 2"
getrev; e_rev2=$REV; e_cp2=$CPV
[ "$e_rev2" -gt "$e_rev0" ] || die "run 2 did not commit a new revision"
say "run 2 committed checkpoint $e_cp2 at revision $e_rev2; run 1 still holds revision $e_rev0."
wake e1
expect_status 6 "$RC" "the zombie run"
grep -q "FENCED: CONFLICT" "$WORK/e1.txt" || die "the zombie run was not fenced by CONFLICT"
show "statestore-cli GETREV_CHECKPOINT $NAME"
getrev; say "$REV $CPV"
[ "$REV" = "$e_rev2" ] && [ "$CPV" = "$e_cp2" ] ||
  die "the zombie changed the checkpoint: revision $REV value $CPV, run 2 left $e_rev2 $e_cp2"
say "The zombie's commit was refused: checkpoint $CPV at revision $REV is run 2's. Its late"
say "output merge only re-applied records that were already there."
get_cp
check --caught-up

step "Scenario F: an operator rewinds the pipeline while a run is in flight"
say "To reprocess after a bug fix, an operator looks at the pipeline's history and rolls it"
say "back. A run that was in flight holds the old revision, so it is fenced."
produce 60
show "statestore-cli HISTORY_CHECKPOINT $NAME"
cli HISTORY_CHECKPOINT "$NAME" | tee "$WORK/f-history.txt"
# Two commits back if the history holds that many versions, else the oldest.
f_row=$(grep -v '^END$' "$WORK/f-history.txt" | sed -n '3p')
[ -n "$f_row" ] || f_row=$(grep -v '^END$' "$WORK/f-history.txt" | tail -n1)
read -r f_to f_ms f_cp <<<"$f_row"
[ -n "$f_cp" ] || die "HISTORY_CHECKPOINT printed no versions"
say "rewinding to revision $f_to (checkpoint $f_cp, committed at unix ms $f_ms)"
start_stalled f1 --batch-size 100
getrev; f_held=$REV
show "statestore-cli ROLLBACK_CHECKPOINT $NAME $f_to $f_held"
rc=0; f_out=$(cli ROLLBACK_CHECKPOINT "$NAME" "$f_to" "$f_held") || rc=$?
say "$f_out"
expect_status 0 "$rc" "ROLLBACK_CHECKPOINT"
f_rev=${f_out#OK }
getrev
[ "$CPV" = "$f_cp" ] && [ "$REV" = "$f_rev" ] || die "after the rollback: revision $REV value $CPV"
say "Checkpoint $f_cp is current again, as a new revision $f_rev: every holder of an older one"
say "is fenced. (The rewind is the one deliberate move backwards: the never-backwards check"
say "starts again from it.)"
{ cat "$WORK/history"; echo "(rewound to)"; } >>"$WORK/history.before-rewinds"
echo "$CPV" >"$WORK/history"
show "statestore-cli HISTORY_CHECKPOINT $NAME 2"
cli HISTORY_CHECKPOINT "$NAME" 2
wake f1
expect_status 6 "$RC" "the run in flight during the rewind"
grep -q "FENCED: CONFLICT" "$WORK/f1.txt" || die "the run in flight was not fenced"
getrev
[ "$CPV" = "$f_cp" ] && [ "$REV" = "$f_rev" ] ||
  die "the run in flight undid the rewind: revision $REV value $CPV"
get_cp
check
rc=0; pipeline --batch-size 100 --until-caught-up | tee "$WORK/f2.txt" || rc=$?
expect_status 0 "$rc" "the pipeline after the rewind"
grep -q "read checkpoint $f_cp (revision $f_rev)" "$WORK/f2.txt" ||
  die "the next run did not start from the rewound checkpoint $f_cp"
say "The next run reprocessed from $f_cp; re-applying records already in the output changed"
say "nothing, so the output still equals a clean run's."
check --caught-up

step "Done"
show "statestore-cli STATS"
cli STATS | grep -E '^STAT (entries|commits|fsyncs|fsync_us_mean) ' || true
say "checkpoint values seen, in order (never decreasing but for the operator's rewind):"
say "  $(cat "$WORK/history.before-rewinds" "$WORK/history" 2>/dev/null | uniq | tr '\n' ' ')"
say "DEMO PASSED"
