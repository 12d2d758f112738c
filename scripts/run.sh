#!/usr/bin/env bash
# Installs the dependencies, builds, and runs the service in the foreground
# on its built-in defaults (HTTP on 127.0.0.1:8080). Extra arguments go to
# the binary, e.g. scripts/run.sh --config config/solver-state.yaml
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
exec build/solver-state "$@"
