#!/usr/bin/env bash
# Builds statestored and runs the whole suite twice: a Release build, then an
# ASan+UBSan build. Installs missing Debian packages when run as root.
# Usage: scripts/test.sh [ctest args...]   (e.g. -R test_table)
set -euo pipefail
SS_ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$SS_ROOT/scripts/deps.sh"
ss_need_packages "${SS_BUILD_PACKAGES[@]}" "${SS_TEST_PACKAGES[@]}"

jobs=$(nproc)
echo "== Release build" >&2
ss_build "$SS_ROOT/build" -DCMAKE_BUILD_TYPE=Release -DSS_TESTS=ON
(cd "$SS_ROOT/build" && ctest --output-on-failure -j "$jobs" "$@")

echo "== ASan+UBSan build" >&2
ss_build "$SS_ROOT/build/sanitize" -DCMAKE_BUILD_TYPE=Debug -DSS_SANITIZE=ON -DSS_TESTS=ON
(cd "$SS_ROOT/build/sanitize" &&
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --output-on-failure -j "$jobs" "$@")
