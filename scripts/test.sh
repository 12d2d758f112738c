#!/usr/bin/env bash
# Installs the dependencies, builds, and runs the whole test suite with CTest.
# Integration tests start their own servers (solver-state, redis-server,
# PostgreSQL, dynalite) on free loopback ports and stop them again; the
# OpenAPI response check needs its npm packages (ajv, yaml).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
[ -x scripts/install-dynalite.sh ] && scripts/install-dynalite.sh
scripts/install-openapi-check.sh
scripts/build.sh
cd "${BUILD_DIR:-build}"
ctest --output-on-failure -j "${TEST_JOBS:-2}" "$@"
