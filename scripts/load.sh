#!/usr/bin/env bash
# Builds statestored (Release, in ./build, when missing or out of date) and
# runs the load and abuse scenarios of scripts/load.py against it.
# Usage: scripts/load.sh [--quick] [--only NAME,...] [--json FILE]
# Needs root for 10,000+ connections (it raises RLIMIT_NOFILE for itself and
# the daemon); exits non-zero on any violation.
set -euo pipefail
SS_ROOT=$(cd "$(dirname "$0")/.." && pwd)
# The Python the tests and scripts share (tests/pylib/sstools).
export PYTHONPATH="$SS_ROOT/tests/pylib${PYTHONPATH:+:$PYTHONPATH}"
. "$SS_ROOT/scripts/deps.sh"
ss_need_packages "${SS_BUILD_PACKAGES[@]}" python3
ss_build_kept "$SS_ROOT/build"
exec python3 "$SS_ROOT/scripts/load.py" --build-dir "$SS_ROOT/build" "$@"
