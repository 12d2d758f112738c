#!/usr/bin/env bash
# Redis and PostgreSQL backends through the store actors vs each server's own
# benchmark tool, in one run on this machine. Usage:
#   bench/backends.sh [redis|postgresql|all] [seconds-per-phase] [shards]
set -euo pipefail
cd "$(dirname "$0")/.."
CCACHE_BASEDIR="$PWD" cmake -S . -B build -G Ninja >/dev/null
ninja -C build redis_postgres_bench >/dev/null
exec build/bench/redis_postgres_bench "${1:-all}" "${2:-5}" "${3:-8}"
