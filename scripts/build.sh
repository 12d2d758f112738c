#!/usr/bin/env bash
# Configures and builds solver-state into ./build (Release with debug info).
# Uses ccache when present; BUILD_DIR and JOBS may be set by the caller.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build}
launcher=()
if command -v ccache >/dev/null; then
  export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD}
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
cmake -S . -B "$build_dir" -G Ninja "${launcher[@]}" "$@" >/dev/null
ninja -C "$build_dir" -j "${JOBS:-$(nproc)}"
