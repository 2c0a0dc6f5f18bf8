#!/usr/bin/env bash
# Builds statestored (installing missing Debian packages when root) and runs
# it on port 7070 with ./data. Extra arguments go to the daemon.
set -euo pipefail
SS_ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$SS_ROOT/scripts/deps.sh"
ss_need_packages "${SS_BUILD_PACKAGES[@]}"
# Keep an existing build's settings (test.sh's, say); a first build skips tests.
if [ -f "$SS_ROOT/build/CMakeCache.txt" ]; then ss_build "$SS_ROOT/build"
else ss_build "$SS_ROOT/build" -DCMAKE_BUILD_TYPE=Release -DSS_TESTS=OFF; fi
exec "$SS_ROOT/build/statestored" -p 7070 -d ./data "$@"
