#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz) with clang under ASan+UBSan in
# build/fuzz, runs each for a while and prints a table: target, executions,
# exec/s, crashes, corpus size. Installs clang when missing (as root).
#
# Usage: scripts/fuzz.sh [seconds-per-target [jobs [executions]]]
#   seconds-per-target  how long each target runs at most (default 60)
#   jobs                how many targets run at once (default: nproc)
#   executions          stop a target after this many inputs (default: no
#                       limit), e.g. 10000000 for the long run the README
#                       reports, with seconds set high enough not to cut it
# SS_FUZZ_TARGETS="fuzz_proto fuzz_log" limits the run to those targets.
# SS_FUZZ_WORKERS=n runs each target as n processes that share its corpus
# (libFuzzer's -jobs=n -workers=n; their logs are fuzz-<job>.log in the
# target's run directory); the execution cap is split between them and the
# table adds up their executions and exec/s.
# SS_FUZZ_TIMEOUT (default 10) is the seconds one input may take before it
# counts as a hang; raise it when the fuzzers run at idle priority beside
# other work (chrt --idle 0 scripts/fuzz.sh ...), where an input can wait
# longer than that for a CPU.
#
# Each target keeps its corpus in build/fuzz/fuzz-runs/<target>/corpus, so
# runs build on one another; the seeds in tests/fuzz/corpus/<target> are read
# as a second corpus and never written. A crash or an oracle failure stops
# that target; its input is kept in build/fuzz/fuzz-runs/<target>/artifacts/
# and the command that reproduces it is printed. Exits 1 if any target found
# one, 0 otherwise.
set -euo pipefail
SS_ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$SS_ROOT/scripts/deps.sh"
ss_need_packages "${SS_BUILD_PACKAGES[@]}" "${SS_FUZZ_PACKAGES[@]}"

secs=${1:-60}
jobs=${2:-$(nproc)}
execs_max=${3:-0}
case "$secs$jobs$execs_max" in
  *[!0-9]*) echo "usage: $0 [seconds-per-target [jobs [executions]]]" >&2; exit 2 ;;
esac
[ "$jobs" -ge 1 ] || jobs=1
workers=${SS_FUZZ_WORKERS:-1}
case "$workers" in
  '' | *[!0-9]* | 0) echo "$0: SS_FUZZ_WORKERS must be a positive number" >&2; exit 2 ;;
esac

build=$SS_ROOT/build/fuzz
echo "== building the fuzz targets in $build" >&2
ss_build "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSS_FUZZ=ON \
  -DSS_TESTS=OFF

targets=()
for src in "$SS_ROOT"/tests/fuzz/fuzz_*.c; do
  targets+=("$(basename "$src" .c)")
done
if [ -n "${SS_FUZZ_TARGETS:-}" ]; then
  read -r -a targets <<<"$SS_FUZZ_TARGETS"
fi

runs=$build/fuzz-runs
start_mark=$runs/.start
mkdir -p "$runs"
touch "$start_mark"

run_target() {
  local t=$1 dir=$runs/$1
  local args=(-max_total_time="$secs" -timeout="${SS_FUZZ_TIMEOUT:-10}" -rss_limit_mb=2048 -print_final_stats=1
              -artifact_prefix="$dir/artifacts/")
  if [ "$execs_max" -gt 0 ]; then args+=(-runs="$(((execs_max + workers - 1) / workers))"); fi
  [ -f "$SS_ROOT/tests/fuzz/$t.dict" ] && args+=(-dict="$SS_ROOT/tests/fuzz/$t.dict")
  mkdir -p "$dir/corpus" "$dir/artifacts"
  rm -f "$dir"/fuzz-*.log
  # The jobs write their logs to the working directory.
  if [ "$workers" -gt 1 ]; then
    args+=(-jobs="$workers" -workers="$workers")
    cd "$dir"
  fi
  local rc=0
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1} \
    "$build/tests/fuzz/$t" "${args[@]}" "$dir/corpus" "$SS_ROOT/tests/fuzz/corpus/$t" \
    >"$dir/log.txt" 2>&1 || rc=$?
  echo "$rc" >"$dir/rc"
}

echo "== fuzzing ${targets[*]} for ${secs}s each, $jobs at a time, $workers process(es) each" >&2
running=0
for t in "${targets[@]}"; do
  if [ "$running" -ge "$jobs" ]; then
    wait -n || true
    running=$((running - 1))
  fi
  run_target "$t" &
  running=$((running + 1))
done
wait || true

failed=0
printf '%-12s %14s %9s %8s %8s\n' target executions exec/s crashes corpus
for t in "${targets[@]}"; do
  dir=$runs/$t
  logs=("$dir/log.txt")
  [ "$workers" -gt 1 ] && logs=("$dir"/fuzz-*.log)
  execs= speed=
  for log in "${logs[@]}"; do
    [ -f "$log" ] || continue
    e=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    r=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    [ -n "$e" ] && execs=$((${execs:-0} + e))
    [ -n "$r" ] && speed=$((${speed:-0} + r))
  done
  corpus=$(grep -o 'corp: [0-9]*' "${logs[0]}" | tail -n 1 | cut -d' ' -f2 || true)
  crashes=$(find "$dir/artifacts" -type f -newer "$start_mark" | wc -l)
  rc=$(cat "$dir/rc")
  printf '%-12s %14s %9s %8s %8s\n' "$t" "${execs:-?}" "${speed:-?}" "$crashes" "${corpus:-?}"
  if [ "$rc" != 0 ] || [ "$crashes" -gt 0 ]; then
    failed=1
    echo "  $t failed (exit $rc); its log: ${logs[*]}" >&2
    grep -hE '^==fuzz oracle failure|^SUMMARY|runtime error' "${logs[@]}" | head -n 3 |
      sed 's/^/  /' >&2 || true
    find "$dir/artifacts" -type f -newer "$start_mark" | while read -r f; do
      echo "  reproduce: $build/tests/fuzz/$t $f" >&2
    done
  fi
done
exit "$failed"
