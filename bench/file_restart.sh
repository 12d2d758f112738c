#!/usr/bin/env bash
# How long the file backend takes to stop and to start again after a write
# load, against Redis with appendfsync always after the same load, in the
# same run.
#
#   solver-state: wrk PUTs 256-byte values to distinct keys (50 connections,
#   fsync: always, one shard, sync_interval 30 s) for SECONDS; then SIGTERM
#   -> exit is timed, and a restart -> /readyz 200.
#   redis-server: redis-benchmark SETs 256-byte values to random keys of
#   1,000,000 (-c 50 -r 1000000) for about as many requests as the service
#   took; then SHUTDOWN -> exit, and a restart -> loading done (AOF replay).
#
# usage: bench/file_restart.sh [seconds of load, default 20] [build dir, default build]
set -euo pipefail

duration="${1:-20}"
build="${2:-build}"
here="$(cd "$(dirname "$0")/.." && pwd)"
binary="$here/$build/solver-state"
for tool in wrk redis-server redis-cli redis-benchmark curl; do
  command -v "$tool" >/dev/null || { echo "missing $tool (scripts/install-deps.sh)" >&2; exit 1; }
done
[ -x "$binary" ] || { echo "build $binary first (ninja -C $build solver-state)" >&2; exit 1; }

work="$(mktemp -d "${TMPDIR:-/tmp}/solver-state-restart-XXXXXX")"
pid=
cleanup() {
  [ -z "$pid" ] || kill -KILL "$pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# -- solver-state ------------------------------------------------------------------
cat >"$work/config.yaml" <<YAML
state:
  type: file
  shards: 1
  max_items: 0
  file:
    base_path: $work/state
    fsync: always
    sync_interval: 30s
YAML
# The HTTP port opens once the store is open: a large store takes a while.
start_service() {
  "$binary" --config "$work/config.yaml" --listen 127.0.0.1:0 >"$work/service.log" 2>&1 &
  pid=$!
  port=
  for _ in $(seq 60000); do
    port="$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/service.log")"
    [ -n "$port" ] && break
    kill -0 "$pid" 2>/dev/null || { cat "$work/service.log" >&2; exit 1; }
    sleep 0.01
  done
  [ -n "$port" ] || { cat "$work/service.log" >&2; exit 1; }
}

cat >"$work/put.lua" <<'LUA'
-- Distinct keys: thread N writes bench:N:1, bench:N:2, ...
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end
local counter = 0
request = function()
  counter = counter + 1
  return wrk.format("PUT", "/v1/state/bench:" .. id .. ":" .. counter,
                    {["Content-Type"] = "application/octet-stream"},
                    string.rep("v", 256))
end
LUA

start_service
wrk -t2 -c50 -d"${duration}s" -s "$work/put.lua" "http://127.0.0.1:$port" >"$work/wrk.txt"
puts="$(awk '/requests in/ {print $1}' "$work/wrk.txt")"
failed="$(awk '/Non-2xx/ {print $NF}' "$work/wrk.txt")"
keys=$(( puts - ${failed:-0} )) # every PUT a new key
log_bytes="$(du -cb "$work"/state/~wal-*.log 2>/dev/null | tail -1 | cut -f1)"
rss_kb="$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")"

start=$(now_ms)
kill -TERM "$pid"
wait "$pid" || { echo "solver-state did not stop cleanly" >&2; tail "$work/service.log" >&2; exit 1; }
ours_stop=$(( $(now_ms) - start ))
pid=

start=$(now_ms)
start_service
until [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz")" = 200 ]; do sleep 0.01; done
ours_start=$(( $(now_ms) - start ))
reopened=
for _ in $(seq 100); do # shards report their sizes every sweep_interval
  reopened="$(curl -sf "http://127.0.0.1:$port/metrics" | awk '/^state_keys_total/ {print $2}')"
  [ -n "$reopened" ] && break
  sleep 0.05
done
kill -TERM "$pid"; wait "$pid" || true; pid=
# wrk does not count the requests still in flight when it stops (up to 50).
[ "${reopened:-0}" -ge "$keys" ] || { echo "restart found $reopened keys, expected $keys" >&2; exit 1; }
keys=$reopened

# -- Redis, appendfsync always -----------------------------------------------------
redis_port=$(( 20000 + RANDOM % 40000 ))
mkdir -p "$work/redis"
start_redis() {
  redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$work/redis" --save "" \
    --appendonly yes --appendfsync always --daemonize no >"$work/redis.log" 2>&1 &
  pid=$!
  until redis-cli -p "$redis_port" ping 2>/dev/null | grep -q PONG; do sleep 0.01; done
  until redis-cli -p "$redis_port" info persistence | grep -q '^loading:0'; do sleep 0.01; done
}
start_redis
redis-benchmark -p "$redis_port" -t set -c 50 -d 256 -r 1000000 -n "$puts" -q >"$work/redis-bench.txt"
redis_keys="$(redis-cli -p "$redis_port" dbsize)"
start=$(now_ms)
redis-cli -p "$redis_port" shutdown >/dev/null 2>&1 || true
wait "$pid" || true
redis_stop=$(( $(now_ms) - start ))
pid=
start=$(now_ms)
start_redis
redis_start=$(( $(now_ms) - start ))
redis-cli -p "$redis_port" shutdown >/dev/null 2>&1 || true
wait "$pid" || true
pid=

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) b = 1; printf "%.2f", a / b }'; }
echo "load: $duration s of PUTs, 256 B values, distinct keys (wrk -c50)"
echo "solver-state (file, fsync: always, 1 shard): $puts PUTs, $keys keys, log $((log_bytes / 1048576)) MiB, RSS $((rss_kb / 1024)) MiB"
echo "  stop (SIGTERM -> exit):       $ours_stop ms"
echo "  start (exec -> /readyz 200):  $ours_start ms ($(grep -o 'opened .* in [0-9.]* s' "$work/service.log" | sed 's/.* in //') opening the store)"
echo "redis (appendfsync always): $puts SETs, $redis_keys keys"
echo "  stop (SHUTDOWN -> exit):      $redis_stop ms"
echo "  start (exec -> loading done): $redis_start ms"
echo "ratio solver-state / redis: stop $(ratio "$ours_stop" "$redis_stop"), start $(ratio "$ours_start" "$redis_start")"
