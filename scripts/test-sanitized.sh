#!/usr/bin/env bash
# Builds with AddressSanitizer and UndefinedBehaviorSanitizer into
# ./build-asan and runs the unit tests (CTest label "unit": in-process, no
# external server) under them. Any report fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
export BUILD_DIR=${ASAN_BUILD_DIR:-build-asan}
# -O0 with line tables only: a fraction of the normal build's compile time,
# and still the file and line of every report. Only the unit test executables.
TARGETS=unit_tests scripts/build.sh -DSOLVER_STATE_SANITIZE=address,undefined \
  -DSOLVER_STATE_BENCH=OFF -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_CXX_FLAGS_DEBUG="-O0 -g1"
# CAF's own library is not instrumented; its allocations at exit are not ours.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:halt_on_error=1:detect_stack_use_after_return=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:suppressions=$PWD/tests/support/ubsan.supp}
cd "$BUILD_DIR"
ctest --output-on-failure -j "${TEST_JOBS:-2}" -L unit "$@"
