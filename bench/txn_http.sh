#!/usr/bin/env bash
# Transactions over HTTP against single-key writes of the same run: wrk POSTs
# /v1/state/transaction (2 and 10 keys of one placement group, and 2 keys in
# different shards) and PUTs one key, 50 connections, 256-byte values, to
# build/solver-state on a free loopback port. The cost of a transaction is
# PUT rps / transaction rps (the issue's target: at most 2.5 for 2 keys).
#
# usage: bench/txn_http.sh [seconds per wrk run, default 10] [memory|file]
#        [build dir, default build]
set -euo pipefail

duration="${1:-10}"
backend="${2:-memory}"
build="${3:-build}"
here="$(cd "$(dirname "$0")/.." && pwd)"
. "$here/bench/service_port.sh"
binary="$here/$build/solver-state"
require_tools wrk curl
require_binary "$binary" "$build"
make_workdir solver-state-txn-bench

cat >"$work/config.yaml" <<YAML
state:
  type: $backend
  shards: 4
  max_items: 0
  file:
    base_path: $work/data
    fsync: always
log:
  level: warn
YAML
"$binary" --config "$work/config.yaml" --listen 127.0.0.1:0 >"$work/service.log" 2>&1 &
pid=$!
port="$(service_port "$work/service.log" "$pid")"
[ -n "$port" ] || { cat "$work/service.log" >&2; exit 1; }
base="http://127.0.0.1:$port"

value_b64="$(head -c 256 /dev/zero | tr '\0' 'v' | base64 -w0)"
# A transaction body of the given keys, each set to the 256-byte value.
txn_body() {
  local ops="" k
  for k in "$@"; do
    ops+="${ops:+,}{\"op\":\"set\",\"key\":\"$k\",\"value\":\"$value_b64\"}"
  done
  echo "{\"operations\":[$ops]}"
}
# Two keys in different shards of 4 (shards 0 and 3 by the stable hash of
# backends/shard_placement.cpp); the file backend refuses such a transaction
# with 400, and the run then skips it.
spanning=(state:bench:a state:bench:b)

write_lua() { # file, method, body
  cat >"$1" <<LUA
wrk.method = "$2"
wrk.body = [==[$3]==]
wrk.headers["Content-Type"] = "application/json"
LUA
}
write_lua "$work/put.lua" PUT "$(head -c 256 /dev/zero | tr '\0' 'v')"
write_lua "$work/txn2.lua" POST "$(txn_body fill:bench:a fill:bench:b)"
write_lua "$work/txn10.lua" POST "$(txn_body $(for i in $(seq 10); do echo fill:bench:k$i; done))"
write_lua "$work/span2.lua" POST "$(txn_body "${spanning[@]}")"

cpu_seconds() {
  awk -v hz="$(getconf CLK_TCK)" '{printf "%.4f", ($14 + $15) / hz}' "/proc/$1/stat"
}

run_wrk() { # label, path, script
  local label="$1" path="$2" script="$3" before after n rps p99 errors
  before="$(cpu_seconds "$pid")"
  wrk -t1 -c50 -d"${duration}s" --latency -s "$script" "$base$path" >"$work/wrk-$label.txt"
  after="$(cpu_seconds "$pid")"
  n="$(awk '/requests in/ {print $1}' "$work/wrk-$label.txt")"
  rps="$(awk '/^Requests\/sec:/ {print $2}' "$work/wrk-$label.txt")"
  p99="$(awk '$1=="99%" {print $2}' "$work/wrk-$label.txt")"
  errors="$(grep -E 'Non-2xx|Socket errors' "$work/wrk-$label.txt" || true)"
  echo "$label $rps $p99 $(awk -v a="$before" -v b="$after" -v n="$n" 'BEGIN {printf "%.1f", (b - a) * 1e6 / n}') ${errors:+ERRORS}"
  [ -z "$errors" ] || echo "  wrk $label: $errors" >&2
}

status="$(curl -s -o /dev/null -w '%{http_code}' -X POST --data-binary "$(txn_body "${spanning[@]}")" "$base/v1/state/transaction")"
results=("$(run_wrk PUT /v1/state/bench:key "$work/put.lua")")
results+=("$(run_wrk TXN2 /v1/state/transaction "$work/txn2.lua")")
results+=("$(run_wrk TXN10 /v1/state/transaction "$work/txn10.lua")")
if [ "$status" = 200 ]; then
  results+=("$(run_wrk SPAN2 /v1/state/transaction "$work/span2.lua")")
fi

echo
echo "machine: $(nproc) cores, $(. /etc/os-release; echo "$PRETTY_NAME"), $(date -u '+%Y-%m-%d %H:%M UTC'), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "backend: $backend (4 shards$([ "$backend" = file ] && echo ", fsync: always")); wrk -t1 -c50 -d${duration}s, 256-byte values"
echo "cost = PUT rps / this rps (a transaction counts once, whatever its keys)"
printf '%-6s %10s %9s %8s %6s\n' op rps p99 cpu_us cost
put_rps="$(echo "${results[0]}" | awk '{print $2}')"
for r in "${results[@]}"; do
  read -r label rps p99 cpu _ <<<"$r"
  printf '%-6s %10s %9s %8s %6s\n' "$label" "$rps" "$p99" "$cpu" \
    "$(awk -v a="$put_rps" -v b="$rps" 'BEGIN {printf "%.2f", a / b}')"
done
[ "$status" = 200 ] || echo "SPAN2   refused ($status): this backend runs a transaction within one shard"
