#!/usr/bin/env bash
# Builds statestored and statestored-faulty (the daemon whose compaction can
# be slowed, tests/progs) in ./build - Release with tests, as test.sh builds
# it - and runs the kill -9 torture against them.
# Usage: scripts/torture.sh [torture.py options]   e.g. --cycles 200 --seed 7
#        scripts/torture.sh --replica [options]    the torture of a replica (torture_repl.py)
set -euo pipefail
SS_ROOT=$(cd "$(dirname "$0")/.." && pwd)
# The Python the tests and scripts share (tests/pylib/sstools).
export PYTHONPATH="$SS_ROOT/tests/pylib${PYTHONPATH:+:$PYTHONPATH}"
. "$SS_ROOT/scripts/deps.sh"
ss_need_packages "${SS_BUILD_PACKAGES[@]}" "${SS_TEST_PACKAGES[@]}"
ss_build "$SS_ROOT/build" -DCMAKE_BUILD_TYPE=Release -DSS_TESTS=ON
exec python3 "$SS_ROOT/scripts/torture.py" --build-dir "$SS_ROOT/build" "$@"
