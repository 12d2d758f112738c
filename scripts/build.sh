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
  # Three builds (plain, sanitized, minimal) of ~1.5 GB of objects each:
  # ccache's default 5 GB evicts one build while the next compiles.
  export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-12G}
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
cmake -S . -B "$build_dir" -G Ninja "${launcher[@]}" "$@" >/dev/null
# TARGETS (space-separated) builds only those, e.g. TARGETS=unit_tests.
ninja -C "$build_dir" -j "${JOBS:-$(nproc)}" ${TARGETS:-}
