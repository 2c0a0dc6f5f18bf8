#!/usr/bin/env bash
# Builds statestored in ./build - Release with tests, as test.sh builds it -
# and runs the replication failover checker against it: one primary and two
# replicas (--sync-replicas 1) on separate network namespaces, the primary
# killed or cut off under load in each cycle, the in-sync replica promoted,
# every acknowledged write checked (tests/pylib/sstools/failover.py).
# Namespaces need root; without them the run is on loopback, kills only.
# Usage: scripts/failover.sh [failover.py options]
#   scripts/failover.sh --cycles 100          the long form
#   scripts/failover.sh --catch-up 1000000    the catch-up times (partial, full)
set -euo pipefail
SS_ROOT=$(cd "$(dirname "$0")/.." && pwd)
# The Python the tests and scripts share (tests/pylib/sstools).
export PYTHONPATH="$SS_ROOT/tests/pylib${PYTHONPATH:+:$PYTHONPATH}"
export SS_BUILD_DIR="$SS_ROOT/build" SS_SOURCE_DIR="$SS_ROOT"
. "$SS_ROOT/scripts/deps.sh"
ss_need_packages "${SS_BUILD_PACKAGES[@]}" "${SS_TEST_PACKAGES[@]}"
ss_build "$SS_ROOT/build" -DCMAKE_BUILD_TYPE=Release -DSS_TESTS=ON
exec python3 "$SS_ROOT/scripts/failover.py" "$@"
