#!/usr/bin/env bash
# The same benchmarks on two builds of the same sources that differ only in
# the executables' malloc, taken in turn (A, B, A, B...) so a drift of the
# machine hits both alike (bench/README.md, "The allocator"):
#   store-bench (the store actors in process), node_bench (a cluster over
#   loopback; each build starts its own build's store nodes), codec-bench
#   (256 B and a JSON order: none, AES, zstd -5 + AES), query-bench (1M
#   orders: the indexed query, writes with and without two indexes) and
#   bench/http.sh (the gateway against redis-benchmark).
#
# usage: bench/allocator.sh [glibc build dir] [jemalloc build dir] [rounds=2]
#   The glibc build, once:
#     cmake -S . -B build-glibc -G Ninja -DSOLVER_STATE_ALLOCATOR=system \
#       -DSOLVER_STATE_TESTS=OFF
#     ninja -C build-glibc solver-state store_bench node_bench codec_bench \
#       query_bench
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
cd "$here"
glibc="${1:-build-glibc}"
jemalloc="${2:-build}"
rounds="${3:-2}"
for build in "$glibc" "$jemalloc"; do
  for tool in solver-state bench/store-bench bench/node_bench \
              bench/codec-bench bench/query-bench; do
    [ -x "$build/$tool" ] || { echo "missing $build/$tool (see the usage above)" >&2; exit 1; }
  done
  echo "$build: $("$build/solver-state" --version | tail -1)"
done

heading() { echo "== $1, $2 ($(date -u +%T))"; }
for ((round = 1; round <= rounds; ++round)); do
  for build in "$glibc" "$jemalloc"; do
    heading store-bench "$build"
    "$build/bench/store-bench" 2>&1 | tail -4
    heading node_bench "$build"
    "$build/bench/node_bench" 2>&1 | grep -v '^\['
  done
  for build in "$glibc" "$jemalloc"; do
    heading codec-bench "$build"
    "$build/bench/codec-bench" 200000 7 128 256B,order none,aes,zfast+aes 2>&1 \
      | grep -A8 '^(b)'
    heading query-bench "$build"
    "$build/bench/query-bench" 1000000 200000 3 2>&1 | grep -v '^\['
  done
  for build in "$glibc" "$jemalloc"; do
    heading http.sh "$build"
    bench/http.sh 10 "$build" 2>&1 | tail -3
  done
done
