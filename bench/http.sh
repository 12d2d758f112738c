#!/usr/bin/env bash
# HTTP gateway benchmark: wrk against build/solver-state (GET and PUT of a
# 256-byte value, 50 connections) and, in the same run, redis-benchmark
# against a local redis-server (-c 50 -d 256 -t get,set, no pipelining) as the
# baseline. Both servers run on free loopback ports and are stopped after.
#
# usage: bench/http.sh [seconds per wrk run, default 10] [build dir, default build]
set -euo pipefail

duration="${1:-10}"
build="${2:-build}"
here="$(cd "$(dirname "$0")/.." && pwd)"
binary="$here/$build/solver-state"
for tool in wrk redis-server redis-benchmark python3; do
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

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# -- the gateway ------------------------------------------------------------------
cat >"$work/config.yaml" <<YAML
state:
  type: memory
  max_items: 100000
http:
  threads: 1
log:
  level: warn
YAML
# warn level hides the "listening" line, so pick the port here.
http_port="$(free_port)"
"$binary" --config "$work/config.yaml" --listen "127.0.0.1:$http_port" >"$work/service.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$http_port/healthz" >/dev/null 2>&1 && break
  sleep 0.05
done
value="$(head -c 256 /dev/zero | tr '\0' 'v')"
curl -sf -X PUT --data-binary "$value" "http://127.0.0.1:$http_port/v1/state/bench:key" >/dev/null

cat >"$work/put.lua" <<'LUA'
wrk.method = "PUT"
wrk.body = string.rep("v", 256)
wrk.headers["Content-Type"] = "application/octet-stream"
LUA

# wrk prints "Requests/sec: N" and, with --latency, "99%  1.23ms".
run_wrk() { # label, extra args...
  local label="$1"; shift
  wrk -t1 -c50 -d"${duration}s" --latency "$@" \
    "http://127.0.0.1:$http_port/v1/state/bench:key" >"$work/wrk-$label.txt"
  local rps p99 errors
  rps="$(awk '/^Requests\/sec:/ {print $2}' "$work/wrk-$label.txt")"
  p99="$(awk '$1=="99%" {print $2}' "$work/wrk-$label.txt")"
  errors="$(grep -E 'Non-2xx|Socket errors' "$work/wrk-$label.txt" || true)"
  echo "$label $rps $p99"
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
redis-benchmark -p "$redis_port" -c 50 -d 256 -t get,set -n "$requests" --csv \
  >"$work/redis.csv"
# "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
redis_row() { grep "^\"$1\"" "$work/redis.csv" | tr -d '"' | awk -F, '{print $2, $7}'; }
read -r redis_get_rps redis_get_p99 <<<"$(redis_row GET)"
read -r redis_set_rps redis_set_p99 <<<"$(redis_row SET)"

read -r _ http_get_rps http_get_p99 <<<"$wrk_get"
read -r _ http_put_rps http_put_p99 <<<"$wrk_put"

echo
echo "machine: $(nproc) cores, $(. /etc/os-release; echo "$PRETTY_NAME"), $(date -u +%Y-%m-%d)"
echo "gateway: wrk -t1 -c50 -d${duration}s, 256-byte value, one key; redis: redis-benchmark -c 50 -d 256 -n $requests"
printf '%-10s %12s %10s %12s %10s %8s\n' op gateway_rps p99 redis_rps p99_ms ratio
printf '%-10s %12s %10s %12s %10s %8s\n' "GET" "$http_get_rps" "$http_get_p99" "$redis_get_rps" "$redis_get_p99" \
  "$(python3 -c "print(f'{$http_get_rps/$redis_get_rps:.2f}')")"
printf '%-10s %12s %10s %12s %10s %8s\n' "PUT/SET" "$http_put_rps" "$http_put_p99" "$redis_set_rps" "$redis_set_p99" \
  "$(python3 -c "print(f'{$http_put_rps/$redis_set_rps:.2f}')")"
