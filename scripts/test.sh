#!/usr/bin/env bash
# Builds statestored and runs the suite: a Release build (unit tests, the
# fault matrix, and the tests only Release runs), then an ASan+UBSan build
# (everything but those); then a short fuzz run: a clang build of the libFuzzer
# targets (tests/fuzz) runs each for FUZZ_SECONDS (default 4), two at a time.
# Installs missing Debian packages when run as root.
# Usage: scripts/test.sh [ctest args...]   (e.g. -R test_table)
# With ctest args the fuzz run is skipped; SS_TEST_FUZZ=1 forces it, and
# SS_TEST_FUZZ=0 skips it always.
set -euo pipefail
SS_ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$SS_ROOT/scripts/deps.sh"
fuzz=${SS_TEST_FUZZ:-$([ $# -eq 0 ] && echo 1 || echo 0)}
ss_need_packages "${SS_BUILD_PACKAGES[@]}" "${SS_TEST_PACKAGES[@]}"
ss_node_deps
[ "$fuzz" = 1 ] && ss_need_packages "${SS_FUZZ_PACKAGES[@]}"

jobs=$(nproc)
# The ASan+UBSan tree builds in the background at the lowest CPU priority
# while the Release tests run: they wait on sockets, timers and fdatasync
# about a fifth of the time (user+sys 198 s over 123 s of wall on 2 cores),
# and a niced build takes what they leave (the suite went from 7 min 54 s
# to 7 min 26 s). The sanitized tests leave nothing idle, so the fuzz tree
# builds after them.
logs=$(mktemp -d)
# The trap must not fail: under set -e a failing command in it (kill with no
# job left to kill exits 2) becomes the script's exit status, so a run whose
# every test passed exited 2.
cleanup() {
  local pids
  pids=$(jobs -p)
  [ -z "$pids" ] || kill $pids 2>/dev/null || true
  rm -rf "$logs"
}
trap cleanup EXIT
# bg_build NAME DIR ARGS...: ss_build DIR ARGS... niced, in the background,
# its output in $logs/NAME; bg_wait NAME PID: waits for it, shows its output,
# and stops the run if it failed.
bg_build() {
  local name=$1; shift
  ( renice -n 19 -p "$BASHPID" >/dev/null; ss_build "$@" ) >"$logs/$name" 2>&1 &
}
bg_wait() {
  local rc=0
  wait "$2" || rc=$?
  cat "$logs/$1" >&2
  [ "$rc" -eq 0 ] || { echo "test.sh: the $1 build failed" >&2; exit 1; }
}

echo "== Release build" >&2
ss_build "$SS_ROOT/build" -DCMAKE_BUILD_TYPE=Release -DSS_TESTS=ON
bg_build sanitize "$SS_ROOT/build/sanitize" -DCMAKE_BUILD_TYPE=Debug -DSS_SANITIZE=ON -DSS_TESTS=ON
san_pid=$!
# The integration tests that drive the daemon (label "twin") run once, in
# the sanitized build, where a memory error or undefined behaviour on their
# paths fails them too; the Release pass runs the unit tests, the fault
# matrix at every call, and what only Release runs (figures, the package,
# other programs' views of us). tests/CMakeLists.txt says which is which.
twin=(-LE twin)
[ $# -eq 0 ] || twin=()
(cd "$SS_ROOT/build" && ctest --output-on-failure -j "$jobs" "${twin[@]}" "$@")

echo "== ASan+UBSan build" >&2
bg_wait sanitize "$san_pid"
(cd "$SS_ROOT/build/sanitize" &&
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --output-on-failure -j "$jobs" "$@")

if [ "$fuzz" = 1 ]; then
  # Here, not only in the CMake cache, which keeps an older default in a
  # build/fuzz configured before it changed.
  export FUZZ_SECONDS=${FUZZ_SECONDS:-4}
  echo "== Fuzz build (clang, libFuzzer, ASan+UBSan): ${FUZZ_SECONDS}s per target" >&2
  ss_build "$SS_ROOT/build/fuzz" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DSS_FUZZ=ON -DSS_TESTS=OFF
  (cd "$SS_ROOT/build/fuzz" && ctest --output-on-failure -j 2 -R fuzz)
fi
