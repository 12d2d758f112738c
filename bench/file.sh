#!/usr/bin/env bash
# The file backend IN PROCESS (store actors, no HTTP) against redis-server
# with an append-only file over TCP, in one run on one machine (see
# bench/README.md, "File backend"). The ratio flatters the file backend, which
# pays no network or HTTP: bench/embedded.sh measures both engines and Redis
# over TCP, which is what a client sees.
#   bench/file.sh [SECONDS] [RESTART_KEYS]
# Needs build/bench/file_bench (ninja -C build file_bench), redis-server and
# redis-benchmark. Everything lives in a temp dir on the same filesystem as
# TMPDIR; the Redis server listens on a free loopback port and is stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
restart_keys=${2:-1000000}
bench=build/bench/file_bench
[ -x "$bench" ] || { echo "build it first: ninja -C build file_bench" >&2; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/file-bench-XXXXXX")
redis_pid=""
cleanup() {
  [ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null && wait "$redis_pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --dir "$tmp" --save "" \
  --appendonly yes --appendfsync always --daemonize no >"$tmp/redis.log" 2>&1 &
redis_pid=$!
until redis-cli -p "$port" ping >/dev/null 2>&1; do sleep 0.1; done
requests=$(( seconds * 4000 ))

redis_rps() { # the SET line of redis-benchmark -q
  redis-benchmark -p "$port" -c 50 -d 256 -t set -n "$1" -q 2>/dev/null \
    | tr '\r' '\n' | awk '/^SET:/ {print $2}' | tail -1
}

echo "machine: $(nproc) cores, $(. /etc/os-release; echo "$PRETTY_NAME"), $(df -T "$tmp" | awk 'NR==2 {print $2}') at $tmp"
rate_of() { echo "$1" | sed -E 's/.*: ([0-9]+) writes\/s.*/\1/'; }
ratio() { python3 -c "print(f'{float(\"$1\")/float(\"$2\"):.2f}x')"; }

redis_always=$(redis_rps "$requests")
echo "redis appendfsync always: $redis_always SET/s (redis-benchmark -c 50 -d 256 -t set -n $requests)"
for shards in ${FILE_SHARDS:-1 2 8}; do
  out=$(SHARDS=$shards "$bench" write "$tmp/state-always-$shards" always "$seconds" 50)
  echo "shards=$shards (in process) $out -> $(ratio "$(rate_of "$out")" "$redis_always") of redis over TCP"
done

redis-cli -p "$port" config set appendfsync everysec >/dev/null
redis_everysec=$(redis_rps $(( requests * 10 )))
echo "redis appendfsync everysec: $redis_everysec SET/s"
for shards in ${FILE_SHARDS:-1 2 8}; do
  out=$(SHARDS=$shards "$bench" write "$tmp/state-interval-$shards" interval "$seconds" 50)
  echo "shards=$shards (in process) $out -> $(ratio "$(rate_of "$out")" "$redis_everysec") of redis over TCP"
done

# Transactions of 2 and 10 keys beside single-key puts, fsync: always, one run.
"$bench" txn "$tmp/state-txn" "$seconds" 50

"$bench" restart "$tmp/state-restart" "$restart_keys"
