#!/usr/bin/env bash
# Builds the Debian package statestored_<version>_amd64.deb: a Release build
# in build/package for prefix /usr, with Debian's build flags (all of
# dpkg-buildflags' hardening), then cpack; prints the package's path. Runs
# lintian on it when lintian is installed: an error fails the script.
# Installs missing Debian packages when run as root.
# Usage: scripts/package.sh      then: sudo apt-get install ./build/package/statestored_*.deb
set -euo pipefail
SS_ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$SS_ROOT/scripts/deps.sh"
ss_need_packages "${SS_BUILD_PACKAGES[@]}" "${SS_PACKAGE_PACKAGES[@]}"

dir=$SS_ROOT/build/package
# Passed as cache values, not the CFLAGS environment cmake reads only on a
# first configure, so that a flag dpkg-buildflags adds reaches every build.
flags() { DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --get "$1"; }
ss_build "$dir" -DCMAKE_BUILD_TYPE=Release -DSS_TESTS=OFF -DCMAKE_INSTALL_PREFIX=/usr \
  -DCMAKE_C_FLAGS="$(flags CFLAGS) $(flags CPPFLAGS)" \
  -DCMAKE_EXE_LINKER_FLAGS="$(flags LDFLAGS)"

rm -f "$dir"/statestored_*.deb
(cd "$dir" && cpack -G DEB >&2)
deb=$(ls "$dir"/statestored_*.deb)
if command -v lintian >/dev/null 2>&1; then
  echo "== lintian" >&2
  lintian "$deb" >&2
fi
echo "$deb"
