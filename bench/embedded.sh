#!/usr/bin/env bash
# The embedded engines (file, rocksdb) against Redis with appendfsync
# always, both over TCP, in one run on one machine (bench/README.md,
# "Embedded engines over TCP").
#
#   solver-state: wrk PUTs 256-byte values through the HTTP gateway (50
#   connections, fsync: always), ROUNDS rounds of SECONDS each; keys run
#   through KEYS distinct ones (the first rounds write new keys, later ones
#   overwrite). Per round: PUT/s, p99, RSS, the seconds commits waited for a
#   lagging fold (backpressure, file only), and the log's syncs (how many a
#   second, how long each, how many over 10 ms). Then: disk bytes, SIGTERM ->
#   exit, and a restart -> /readyz 200 with a warm page cache and (as root)
#   a cold one.
#   redis-server: redis-benchmark -c 50 -d 256 -r KEYS -t set for as many
#   requests as the service served per round; p99 from its summary; then
#   SAVE, and a restart that loads the RDB (cold and warm), and its size.
#
# usage: bench/embedded.sh [SECONDS=10] [ROUNDS=1] [KEYS=1000000] [build dir]
#   The sustained run of issue 13: bench/embedded.sh 60 10
# ENGINES="file rocksdb" picks the engines. TMPDIR picks the filesystem
# every engine (Redis included) writes to (default /tmp).
set -euo pipefail

seconds="${1:-10}"
rounds="${2:-1}"
keys="${3:-1000000}"
build="${4:-build}"
here="$(cd "$(dirname "$0")/.." && pwd)"
. "$here/bench/service_port.sh" # require_tools, require_binary, make_workdir
binary="$here/$build/solver-state"
require_tools wrk redis-server redis-cli redis-benchmark curl
require_binary "$binary" "$build"
make_workdir embedded-bench

# Whether ext4 under the work dir keeps a journal, as sysfs says (nothing
# on other filesystems); util/filesystem_journal.cpp reads the same files.
journal_note() {
  local dev task
  dev="$(basename "$(readlink "/sys/dev/block/$(stat -c '%Hd:%Ld' "$work")" 2>/dev/null)" 2>/dev/null)"
  task="$(cat "/sys/fs/ext4/$dev/journal_task" 2>/dev/null || true)"
  case "$task" in "<none>") echo ", ext4 without a journal on $dev" ;; "") ;; *) echo ", journaled ext4 on $dev" ;; esac
}
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) b = 1; printf "%.2f", a / b }'; }
rss_mib() { awk '/VmRSS/ {printf "%d", $2 / 1024}' "/proc/$1/status"; }
# Drops the page cache when we may (root), so a start reads from the disk.
drop_caches() { sync; [ "$(id -u)" -ne 0 ] || echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true; }
cold_label() { [ "$(id -u)" -eq 0 ] && echo cold || echo "cold (not root: page cache kept)"; }

# wrk: thread t (of 2) writes keys offset + t - 1, offset + t + 1, ... mod
# KEYS, so the threads of one round never write the same key. Values are
# random bytes (a pool of 64 made at start), so no engine's compression
# flatters its disk figure; redis-benchmark's payload is fixed, which can
# only flatter Redis's.
cat >"$work/put.lua" <<'LUA'
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end
local keys = tonumber(os.getenv("KEYS"))
local offset = tonumber(os.getenv("OFFSET"))
local counter = 0
local values = nil
request = function()
  if values == nil then
    math.randomseed(id)
    values = {}
    for v = 1, 64 do
      local bytes = {}
      for b = 1, 256 do bytes[b] = string.char(math.random(0, 255)) end
      values[v] = table.concat(bytes)
    end
  end
  counter = counter + 1
  local n = (offset + (counter - 1) * 2 + id - 1) % keys
  return wrk.format("PUT", "/v1/state/bench:" .. n,
                    {["Content-Type"] = "application/octet-stream"},
                    values[counter % 64 + 1])
end
LUA

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(. /etc/os-release; echo "$PRETTY_NAME"), $(df -T "$work" | awk 'NR==2 {print $2}') under $work$(journal_note)"
echo "load: $rounds x $seconds s of PUTs, 256 B values, $keys distinct keys (wrk -t2 -c50; redis-benchmark -c 50 -d 256 -r $keys)"

# -- Redis, appendfsync always -------------------------------------------------
redis_port=$(( 20000 + RANDOM % 40000 ))
mkdir -p "$work/redis"
start_redis() { # extra redis-server arguments
  redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$work/redis" --save "" \
    --daemonize no "$@" >>"$work/redis.log" 2>&1 &
  pid=$!
  until redis-cli -p "$redis_port" ping 2>/dev/null | grep -q PONG; do sleep 0.01; done
  until redis-cli -p "$redis_port" info persistence | grep -q '^loading:0'; do sleep 0.01; done
}
stop_redis() {
  redis-cli -p "$redis_port" shutdown nosave >/dev/null 2>&1 || true
  wait "$pid" || true
  pid=
}
start_redis --appendonly yes --appendfsync always
redis_rps=(); redis_p99=()
for r in $(seq "$rounds"); do
  out="$(redis-benchmark -p "$redis_port" -t set -c 50 -d 256 -r "$keys" \
           -n $(( seconds * 40000 )) 2>/dev/null | tr '\r' '\n')"
  redis_rps+=("$(echo "$out" | awk '/throughput summary/ {print $3}' | tail -1)")
  redis_p99+=("$(echo "$out" | awk '/latency summary/ {getline; getline; print $5}' | tail -1)")
done
redis_keys="$(redis-cli -p "$redis_port" dbsize)"
redis_rss="$(rss_mib "$pid")"
redis-cli -p "$redis_port" save >/dev/null
rdb_bytes="$(stat -c %s "$work/redis/dump.rdb")"
stop_redis
rm -rf "$work/redis"/appendonly*
redis_restart() {
  local start
  start=$(now_ms); start_redis --appendonly no; echo $(( $(now_ms) - start )); stop_redis
}
drop_caches; redis_cold="$(redis_restart)"
redis_warm="$(redis_restart)"
echo
rdb_per_key=$(( rdb_bytes / (redis_keys > 0 ? redis_keys : 1) ))
echo "redis (appendfsync always): $redis_keys keys, RSS $redis_rss MiB, RDB $((rdb_bytes / 1048576)) MiB, $rdb_per_key B per key"
for r in $(seq "$rounds"); do
  echo "  round $r: ${redis_rps[r-1]} SET/s, p99 ${redis_p99[r-1]} ms"
done
echo "  start from the RDB: cold $redis_cold ms, warm $redis_warm ms"

# -- the embedded engines ------------------------------------------------------------
engine_config() { # engine
  cat <<YAML
state:
  type: $1
  max_items: 0
  file: {base_path: $work/$1, fsync: always}
  rocksdb: {base_path: $work/$1, fsync: always}
log: {level: info}
YAML
}
# A port nobody listens on (a race with another process only fails the run),
# below the kernel's ephemeral range: polling a port in that range before the
# service binds it can connect a curl to itself (TCP simultaneous open) and
# take the port away from the service.
free_port() {
  local p
  while :; do
    p=$(( 20000 + RANDOM % 12000 ))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
}
# Starts the service and waits (up to 10 minutes: a large store opens
# slowly) for /readyz 200.
start_service() { # engine
  engine_config "$1" >"$work/$1.yaml"
  port="$(free_port)"
  "$binary" --config "$work/$1.yaml" --listen "127.0.0.1:$port" >"$work/$1.log" 2>&1 &
  pid=$!
  for _ in $(seq 60000); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz")" = 200 ] && return
    kill -0 "$pid" 2>/dev/null || { cat "$work/$1.log" >&2; exit 1; }
    sleep 0.01
  done
  echo "$1: not ready after 10 minutes" >&2; cat "$work/$1.log" >&2; exit 1
}
stop_service() {
  kill -TERM "$pid"; wait "$pid" || { echo "solver-state did not stop cleanly" >&2; exit 1; }
  pid=
}
# "WAITED SYNCS SYNCED QUICK" from /metrics: seconds the file backend's
# commits have waited for a lagging fold (summed over shards, 0 on other
# engines), and the log's syncs: how many, their seconds, how many took
# 10 ms or less (file and rocksdb).
engine_waits() {
  curl -sf "http://127.0.0.1:$port/metrics" \
    | awk '/^solver_state_backpressure_seconds_total/ {b += $2}
           /^solver_state_wal_sync_seconds_count/ {n += $2}
           /^solver_state_wal_sync_seconds_sum/ {t += $2}
           /^solver_state_wal_sync_seconds_bucket.*le="0.01"/ {k += $2}
           END {printf "%.3f %d %.6f %d", b, n, t, k}'
}
restart_ms() { # engine
  local start
  start=$(now_ms); start_service "$1"; echo $(( $(now_ms) - start )); stop_service
}

for engine in ${ENGINES:-file rocksdb}; do
  start_service "$engine"
  offset=0
  rps=(); p99=(); rss=(); waited=(); syncs=()
  for r in $(seq "$rounds"); do
    read -r waited0 syncs0 synced0 quick0 <<<"$(engine_waits)"
    KEYS=$keys OFFSET=$offset wrk -t2 -c50 -d"${seconds}s" --latency -s "$work/put.lua" \
      "http://127.0.0.1:$port" >"$work/wrk.txt"
    served="$(awk '/requests in/ {print $1}' "$work/wrk.txt")"
    offset=$(( offset + served ))
    non2xx="$(awk '/Non-2xx/ {print $NF}' "$work/wrk.txt")"
    [ -z "$non2xx" ] || { echo "$engine: $non2xx PUTs failed" >&2; cat "$work/wrk.txt" >&2; exit 1; }
    rps+=("$(awk '/Requests\/sec/ {printf "%d", $2}' "$work/wrk.txt")")
    p99+=("$(awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub(/us/, "", v); v /= 1000} else if (v ~ /ms$/) sub(/ms/, "", v); else if (v ~ /s$/) {sub(/s/, "", v); v *= 1000}; printf "%.2f", v}' "$work/wrk.txt")")
    rss+=("$(rss_mib "$pid")")
    read -r waited1 syncs1 synced1 quick1 <<<"$(engine_waits)"
    waited+=("$(awk -v a="$waited0" -v b="$waited1" 'BEGIN { printf "%.1f", b - a }')")
    syncs+=("$(awk -v n=$((syncs1 - syncs0)) -v slow=$(( (syncs1 - syncs0) - (quick1 - quick0) )) \
      -v a="$synced0" -v b="$synced1" -v s="$seconds" \
      'BEGIN { printf "%d/s, %.2f ms each, %d over 10 ms", n / s, n ? (b - a) * 1000 / n : 0, slow }')")
  done
  stored="$(curl -sf "http://127.0.0.1:$port/metrics" | awk '/^state_keys_total/ {s += $2} END {print s}')"
  start=$(now_ms); stop_service; stop_ms=$(( $(now_ms) - start ))
  disk="$(du -sb "$work/$engine" | cut -f1)"
  drop_caches; cold="$(restart_ms "$engine")"
  warm="$(restart_ms "$engine")"
  echo
  per_key=$(( disk / (stored > 0 ? stored : 1) ))
  echo "$engine (fsync: always, default shards): $stored keys, disk $((disk / 1048576)) MiB, $per_key B per key ($(ratio "$per_key" "$rdb_per_key")x the RDB's)"
  for r in $(seq "$rounds"); do
    echo "  round $r: ${rps[r-1]} PUT/s ($(ratio "${rps[r-1]}" "${redis_rps[r-1]}")x redis), p99 ${p99[r-1]} ms ($(ratio "${p99[r-1]}" "${redis_p99[r-1]}")x redis), RSS ${rss[r-1]} MiB, commits waited for the fold ${waited[r-1]} s, log syncs ${syncs[r-1]}"
  done
  if [ "$rounds" -ge 2 ]; then
    echo "  last round / first: $(ratio "${rps[-1]}" "${rps[0]}")x PUT/s; RSS last / round 2: $(ratio "${rss[-1]}" "${rss[1]}")x"
  fi
  echo "  stop (SIGTERM -> exit): $stop_ms ms"
  echo "  start (exec -> /readyz 200): $(cold_label) $cold ms ($(ratio "$cold" "$redis_cold")x redis), warm $warm ms ($(ratio "$warm" "$redis_warm")x redis)"
  rm -rf "${work:?}/$engine"
done
