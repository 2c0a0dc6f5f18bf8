#!/usr/bin/env bash
# Sourced by the other scripts: installs the Debian packages statestored
# needs to build and test, or says exactly how to.
ss_need_packages() {
  local missing=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing packages: ${missing[*]}" >&2
    echo "install them with: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "installing: ${missing[*]}" >&2
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >&2; then
    apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >&2
  fi
}

# libssl-dev: OpenSSL 3 (scrypt password hashes; TLS).
SS_BUILD_PACKAGES=(cmake make gcc pkg-config libev-dev libhttp-parser-dev libssl-dev)
# redis-tools (redis-cli, redis-benchmark), python3-redis (redis-py) and
# nodejs are the real clients of tests/integration/test_resp_clients.py.
# redis-server is the other side of test_resp_conformance.py and of the
# latency pair in test_bench_scale.py, whose plots gnuplot-nox draws (as it
# does scripts/bench.sh's).
# prometheus (the server and promtool) and python3-prometheus-client are
# the real consumers of /metrics and the alert rules in test_metrics.py.
SS_TEST_PACKAGES=(libcmocka-dev python3 redis-tools python3-redis nodejs redis-server gnuplot-nox
                  prometheus python3-prometheus-client)
# npm only where the command is missing: NodeSource's nodejs (this image's)
# carries its own npm and conflicts with Debian's npm package.
command -v npm >/dev/null 2>&1 || SS_TEST_PACKAGES+=(npm)
# The Debian package (scripts/package.sh): dpkg-shlibdeps computes its
# Depends. test_package.py builds it too, runs lintian on it, and renders
# the man pages with groff and man.
SS_PACKAGE_PACKAGES=(dpkg-dev)
SS_TEST_PACKAGES+=("${SS_PACKAGE_PACKAGES[@]}" lintian groff-base man-db)
# Replication's partition tests (tests/pylib/sstools/cluster.py) make
# separate hosts on one machine: network namespaces, veth pairs and a bridge
# (ip, from iproute2), links cut with DROP rules inside a namespace
# (iptables; its nf_tables backend is nftables, whose nft lists the rules),
# and lossy links with tc netem (iproute2 too; the kernel's sch_netem must
# be there, else those cases skip and say so).
SS_TEST_PACKAGES+=(iproute2 iptables nftables)
# The fuzz build: clang, and compiler-rt for libFuzzer and the sanitizers
# (only recommended by clang, so named here for installs without recommends).
SS_FUZZ_PACKAGES=(clang libclang-rt-dev)

# ss_build DIR [cmake args...]: configure (a no-op when nothing changed),
# then build what is out of date. Warnings are errors here.
ss_build() {
  local dir=$1; shift
  cmake -S "$SS_ROOT" -B "$dir" -DSS_WERROR=ON "$@" >/dev/null
  cmake --build "$dir" -j "$(nproc)" >&2
}

# ss_build_kept DIR: brings DIR's build up to date, keeping its settings
# when it is configured already (test.sh's, say); a first build there is
# Release without tests.
ss_build_kept() {
  if [ -f "$1/CMakeCache.txt" ]; then ss_build "$1"
  else ss_build "$1" -DCMAKE_BUILD_TYPE=Release -DSS_TESTS=OFF; fi
}

# ss_node_deps: the Node.js clients test_resp_clients.py runs, installed in
# tests/node/node_modules exactly as tests/node/package-lock.json pins them
# (npm ci); skipped when node_modules is newer than the lockfile.
ss_node_deps() {
  local dir=$SS_ROOT/tests/node
  if [ -f "$dir/node_modules/.package-lock.json" ] &&
     [ "$dir/node_modules/.package-lock.json" -nt "$dir/package-lock.json" ]; then
    return 0
  fi
  echo "installing the Node.js clients of tests/node (npm ci)" >&2
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) >&2
}
