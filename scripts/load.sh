#!/usr/bin/env bash
# Builds statestored (Release, in ./build, when missing or out of date) and
# runs the load and abuse scenarios of scripts/load.py against it.
# Usage: scripts/load.sh [--quick] [--only NAME,...] [--json FILE]
# Needs root for 10,000+ connections (it raises RLIMIT_NOFILE for itself and
# the daemon); exits non-zero on any violation.
set -euo pipefail
SS_ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$SS_ROOT/scripts/deps.sh"
ss_need_packages "${SS_BUILD_PACKAGES[@]}" python3
# Keep an existing build's settings; a first build is Release without tests.
if [ -f "$SS_ROOT/build/CMakeCache.txt" ]; then ss_build "$SS_ROOT/build"
else ss_build "$SS_ROOT/build" -DCMAKE_BUILD_TYPE=Release -DSS_TESTS=OFF; fi
exec python3 "$SS_ROOT/scripts/load.py" --build-dir "$SS_ROOT/build" "$@"
