#!/usr/bin/env bash
# Builds statestored if needed (a Release build in ./build, or whatever
# build is already there) and runs the kill -9 torture against it.
# Usage: scripts/torture.sh [torture.py options]   e.g. --cycles 200 --seed 7
set -euo pipefail
SS_ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$SS_ROOT/scripts/deps.sh"
ss_need_packages "${SS_BUILD_PACKAGES[@]}" python3
ss_build_kept "$SS_ROOT/build"
exec python3 "$SS_ROOT/scripts/torture.py" --build-dir "$SS_ROOT/build" "$@"
