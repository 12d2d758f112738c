#!/usr/bin/env bash
# HTTP gateway benchmark: wrk against build/solver-state (GET and PUT of a
# 256-byte value, 50 connections) and, in the same run, redis-benchmark
# against a local redis-server (-c 50 -d 256 -t get,set, no pipelining) as the
# baseline. Both servers run on free loopback ports and are stopped after.
#
# usage: bench/http.sh [seconds per wrk run, default 10] [build dir, default build]
# HTTP_THREADS=N sets http.threads, SCHEDULER_THREADS=N scheduler_threads
# (default: the service's own defaults).
set -euo pipefail

duration="${1:-10}"
build="${2:-build}"
here="$(cd "$(dirname "$0")/.." && pwd)"
. "$here/bench/service_port.sh"
binary="$here/$build/solver-state"
for tool in wrk redis-server redis-cli redis-benchmark curl; do
  command -v "$tool" >/dev/null || { echo "missing $tool (scripts/install-deps.sh)" >&2; exit 1; }
done
[ -x "$binary" ] || { echo "build $binary first (ninja -C $build solver-state)" >&2; exit 1; }

work="$(mktemp -d /tmp/solver-state-bench-XXXXXX)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# A port nobody listens on (the tiny race with other processes is harmless
# here: the server would fail to start and the script stops).
free_port() {
  local p
  while :; do
    p=$(( 20000 + RANDOM % 40000 ))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
}

# -- the gateway ------------------------------------------------------------------
cat >"$work/config.yaml" <<YAML
state:
  type: memory
  max_items: 100000
${HTTP_THREADS:+http: {threads: $HTTP_THREADS\}}
${SCHEDULER_THREADS:+scheduler_threads: $SCHEDULER_THREADS}
log:
  level: info
YAML
"$binary" --config "$work/config.yaml" --listen 127.0.0.1:0 >"$work/service.log" 2>&1 &
pids+=($!)
http_port="$(service_port "$work/service.log" "${pids[-1]}")"
[ -n "$http_port" ] || { cat "$work/service.log" >&2; exit 1; }
value="$(head -c 256 /dev/zero | tr '\0' 'v')"
curl -sf -X PUT --data-binary "$value" "http://127.0.0.1:$http_port/v1/state/bench:key" >/dev/null

cat >"$work/put.lua" <<'LUA'
wrk.method = "PUT"
wrk.body = string.rep("v", 256)
wrk.headers["Content-Type"] = "application/octet-stream"
LUA

# CPU seconds (user + system) a process has used so far: on a shared machine
# the server's CPU per request is steadier than its requests per second.
cpu_seconds() {
  awk -v hz="$(getconf CLK_TCK)" '{printf "%.4f", ($14 + $15) / hz}' "/proc/$1/stat"
}

# wrk prints "N requests in", "Requests/sec: N" and, with --latency, "99%  1.23ms".
run_wrk() { # label, extra args...
  local label="$1"; shift
  local before after
  before="$(cpu_seconds "${pids[0]}")"
  wrk -t1 -c50 -d"${duration}s" --latency "$@" \
    "http://127.0.0.1:$http_port/v1/state/bench:key" >"$work/wrk-$label.txt"
  after="$(cpu_seconds "${pids[0]}")"
  local rps p99 errors n
  n="$(awk '/requests in/ {print $1}' "$work/wrk-$label.txt")"
  rps="$(awk '/^Requests\/sec:/ {print $2}' "$work/wrk-$label.txt")"
  p99="$(awk '$1=="99%" {print $2}' "$work/wrk-$label.txt")"
  errors="$(grep -E 'Non-2xx|Socket errors' "$work/wrk-$label.txt" || true)"
  echo "$label $rps $p99 $(awk -v a="$before" -v b="$after" -v n="$n" 'BEGIN {printf "%.1f", (b - a) * 1e6 / n}')"
  [ -z "$errors" ] || echo "  wrk $label: $errors" >&2
}

wrk_get="$(run_wrk GET)"
wrk_put="$(run_wrk PUT -s "$work/put.lua")"
kill -TERM "${pids[0]}"; wait "${pids[0]}" 2>/dev/null || true
pids=()

# -- the baseline: redis ------------------------------------------------------------
redis_port="$(free_port)"
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no \
  --dir "$work" >"$work/redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break
  sleep 0.05
done
requests=$(( duration * 60000 ))
# One test per run, so the server's CPU can be charged to it. The CSV is
# "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
run_redis() { # set | get
  local before after
  before="$(cpu_seconds "${pids[0]}")"
  redis-benchmark -p "$redis_port" -c 50 -d 256 -t "$1" -n "$requests" --csv \
    >"$work/redis-$1.csv"
  after="$(cpu_seconds "${pids[0]}")"
  tail -n 1 "$work/redis-$1.csv" | tr -d '"' \
    | awk -F, -v a="$before" -v b="$after" -v n="$requests" \
        '{printf "%s %s %.1f", $2, $7, (b - a) * 1e6 / n}'
}
read -r redis_set_rps redis_set_p99 redis_set_cpu <<<"$(run_redis set)"
read -r redis_get_rps redis_get_p99 redis_get_cpu <<<"$(run_redis get)"

read -r _ http_get_rps http_get_p99 http_get_cpu <<<"$wrk_get"
read -r _ http_put_rps http_put_p99 http_put_cpu <<<"$wrk_put"

echo
echo "machine: $(nproc) cores, $(. /etc/os-release; echo "$PRETTY_NAME"), $(date -u +%Y-%m-%d)"
echo "gateway: wrk -t1 -c50 -d${duration}s, 256-byte value, one key; redis: redis-benchmark -c 50 -d 256 -n $requests"
echo "cpu_us = server CPU (user+sys) per request; ratio = gateway rps / redis rps"
printf '%-8s %12s %9s %7s %12s %9s %7s %6s\n' op gateway_rps p99 cpu_us redis_rps p99_ms cpu_us ratio
printf '%-8s %12s %9s %7s %12s %9s %7s %6s\n' "GET" "$http_get_rps" "$http_get_p99" "$http_get_cpu" \
  "$redis_get_rps" "$redis_get_p99" "$redis_get_cpu" \
  "$(awk -v a="$http_get_rps" -v b="$redis_get_rps" 'BEGIN {printf "%.2f", a / b}')"
printf '%-8s %12s %9s %7s %12s %9s %7s %6s\n' "PUT/SET" "$http_put_rps" "$http_put_p99" "$http_put_cpu" \
  "$redis_set_rps" "$redis_set_p99" "$redis_set_cpu" \
  "$(awk -v a="$http_put_rps" -v b="$redis_set_rps" 'BEGIN {printf "%.2f", a / b}')"
