#!/usr/bin/env bash
# Configures and builds solver-state into ./build (Release with debug info).
# Uses ccache when present; BUILD_DIR, JOBS and TARGETS may be set by the
# caller, and extra arguments go to cmake.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build}
launcher=()
if command -v ccache >/dev/null; then
  export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD}
  # With -g, ccache hashes the build directory by default, so a checkout in
  # another folder (a fresh CI clone) would miss every object.
  export CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-1}
  # Three builds (plain, sanitized, minimal) of ~3.7 GB of objects take
  # ~0.6 GB in the cache (ccache compresses them). 4 GB keeps several
  # generations of them while bounding what a CI disk that keeps the cache
  # carries from run to run.
  export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-4G}
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
cmake -S . -B "$build_dir" -G Ninja "${launcher[@]}" "$@" >/dev/null
# TARGETS (space-separated) builds only those, e.g. TARGETS=unit_tests.
ninja -C "$build_dir" -j "${JOBS:-$(nproc)}" ${TARGETS:-}
