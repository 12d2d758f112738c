#!/usr/bin/env bash
# Redis and PostgreSQL backends vs each server's own benchmark tool, in one
# run on this machine: through the store actors, and through the whole
# service (build/solver-state, HTTP gateway) driven by wrk. Usage:
#   bench/backends.sh [redis|postgresql|all] [seconds-per-phase] [shards...]
# (store phases at the first shard count, the gateway at each; default 2)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "missing wrk (scripts/install-deps.sh)" >&2; exit 1; }
CCACHE_BASEDIR="$PWD" cmake -S . -B build -G Ninja >/dev/null
ninja -C build redis_postgres_bench solver-state >/dev/null
SOLVER_STATE_BIN="$PWD/build/solver-state" \
  exec build/bench/redis_postgres_bench "${1:-all}" "${2:-5}" "${@:3}"
