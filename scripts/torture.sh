#!/usr/bin/env bash
# Builds statestored if needed (a Release build in ./build, or whatever
# build is already there) and runs the kill -9 torture against it.
# Usage: scripts/torture.sh [torture.py options]   e.g. --cycles 200 --seed 7
set -euo pipefail
SS_ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$SS_ROOT/scripts/deps.sh"
ss_need_packages "${SS_BUILD_PACKAGES[@]}" python3
if [ -f "$SS_ROOT/build/CMakeCache.txt" ]; then ss_build "$SS_ROOT/build"
else ss_build "$SS_ROOT/build" -DCMAKE_BUILD_TYPE=Release -DSS_TESTS=OFF; fi
exec python3 "$SS_ROOT/scripts/torture.py" --build-dir "$SS_ROOT/build" "$@"
