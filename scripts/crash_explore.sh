#!/usr/bin/env bash
# Crash-state exploration, the large opt-in run (CI runs a small one in
# tests/unit/test_crash_states.c). Builds a Release tree in build/, then runs
# tests/progs/crash_explore over every workload, preallocation off and on,
# 512-byte and 4 KB tear granularity, and prints one row per combination:
# crash points, states generated and distinct states checked, violations by
# kind. Violations are described on stderr (the first few per row).
#
# Usage: scripts/crash_explore.sh [crash_explore args...]
#   default args: --max-states 20000 --chunk both --seed 1
#   e.g.  scripts/crash_explore.sh --max-states 20000 --seed 7 --workload ttl
#         scripts/crash_explore.sh --trace       (print the recorded calls)
# Crash states are materialized under $TMPDIR (default: /dev/shm if present).
# Exit status: 0 if no violation was found, 1 if any was.
set -euo pipefail
SS_ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$SS_ROOT/scripts/deps.sh"
ss_need_packages "${SS_BUILD_PACKAGES[@]}" "${SS_TEST_PACKAGES[@]}"

ss_build "$SS_ROOT/build" -DCMAKE_BUILD_TYPE=Release -DSS_TESTS=ON
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
  export TMPDIR=/dev/shm
fi
[ $# -eq 0 ] && set -- --max-states 20000 --chunk both --seed 1
exec "$SS_ROOT/build/tests/crash_explore" "$@"
