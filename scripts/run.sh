#!/usr/bin/env bash
# Builds statestored (installing missing Debian packages when root) and runs
# it on port 7070 with ./data. Extra arguments go to the daemon.
set -euo pipefail
SS_ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$SS_ROOT/scripts/deps.sh"
ss_need_packages "${SS_BUILD_PACKAGES[@]}"
ss_build_kept "$SS_ROOT/build"
exec "$SS_ROOT/build/statestored" -p 7070 -d ./data "$@"
