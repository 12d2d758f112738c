#!/usr/bin/env bash
# Watch fan-out over HTTP: wrk PUTs one key under bench: for N seconds with
# no watcher, then again with 100 watch streams (bench/sse-watchers, one
# thread, HTTP/1.0) on the prefix being written, against build/solver-state
# (memory backend, 4 shards) on a free loopback port. Reports both write
# rates, their ratio (the issue's target: >= 0.5) and whether every stream
# received every change of the second run (no resync).
#
# Rounds alternate the two runs, so that a drift of the machine shows as
# spread, not as a ratio; the median ratio is the figure.
#
# With WATCH_ENGINE=redis, two nodes share one redis-server (started here
# on a free loopback port): wrk writes through one, the streams watch the
# other, so every event travels through Redis (PUBLISH in the write, the
# watching node's change feed).
#
# usage: bench/watch_http.sh [seconds per wrk run, default 10]
#        [watchers, default 100] [build dir, default build] [rounds, default 3]
#        WATCH_ENGINE=redis bench/watch_http.sh ...
set -euo pipefail

duration="${1:-10}"
watchers="${2:-100}"
build="${3:-build}"
rounds="${4:-3}"
here="$(cd "$(dirname "$0")/.." && pwd)"
. "$here/bench/service_port.sh"
binary="$here/$build/solver-state"
consumer="$here/$build/bench/sse-watchers"
for tool in wrk curl; do
  command -v "$tool" >/dev/null || { echo "missing $tool (scripts/install-deps.sh)" >&2; exit 1; }
done
for program in "$binary" "$consumer"; do
  [ -x "$program" ] || { echo "build $program first (ninja -C $build solver-state sse_watchers)" >&2; exit 1; }
done

engine="${WATCH_ENGINE:-memory}"
work="$(mktemp -d /tmp/solver-state-watch-bench-XXXXXX)"
pid=""
writer_pid=""
redis_pid=""
watch_pid=""
cleanup() {
  local p
  for p in "$watch_pid" "$pid" "$writer_pid" "$redis_pid"; do
    [ -z "$p" ] || kill -TERM "$p" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

case "$engine" in
  memory) state_type="memory"; setup="memory backend, 4 shards" ;;
  redis)
    command -v redis-server >/dev/null || { echo "missing redis-server (scripts/install-deps.sh)" >&2; exit 1; }
    redis_port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no >"$work/redis.log" 2>&1 &
    redis_pid=$!
    for _ in $(seq 100); do
      redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break
      sleep 0.05
    done
    state_type="redis://127.0.0.1:$redis_port/0"
    setup="two nodes on one redis-server, 4 shards each; wrk writes through one, the streams watch the other" ;;
  *) echo "WATCH_ENGINE: memory or redis, got '$engine'" >&2; exit 1 ;;
esac

cat >"$work/config.yaml" <<YAML
state:
  type: "$state_type"
  shards: 4
  max_items: 0
http:
  max_connections: 1000
YAML
start_node() { # log
  "$binary" --config "$work/config.yaml" --listen 127.0.0.1:0 >"$1" 2>&1 &
}
start_node "$work/service.log"
pid=$!
port="$(service_port "$work/service.log" "$pid")"
[ -n "$port" ] || { cat "$work/service.log" >&2; exit 1; }
base="http://127.0.0.1:$port"
write_base="$base"
if [ "$engine" != memory ]; then
  start_node "$work/writer.log"
  writer_pid=$!
  writer_port="$(service_port "$work/writer.log" "$writer_pid")"
  [ -n "$writer_port" ] || { cat "$work/writer.log" >&2; exit 1; }
  write_base="http://127.0.0.1:$writer_port"
fi

cat >"$work/put.lua" <<LUA
wrk.method = "PUT"
wrk.body = [==[$(head -c 256 /dev/zero | tr '\0' 'v')]==]
LUA

metric() { # name
  curl -s "$base/metrics" | awk -v m="$1" '$1 == m {print $2}'
}

run_wrk() { # label
  wrk -t1 -c50 -d"${duration}s" -s "$work/put.lua" "$write_base/v1/state/bench:key" >"$work/wrk-$1.txt"
  if grep -qE 'Non-2xx|Socket errors' "$work/wrk-$1.txt"; then
    grep -E 'Non-2xx|Socket errors' "$work/wrk-$1.txt" >&2
  fi
  awk '/^Requests\/sec:/ {print $2}' "$work/wrk-$1.txt"
}

# One round: a run with no watcher, then one with the streams open; the
# streams must have received every change of their run, no resync.
round() { # number
  local alone watched before after changes n least most resyncs closed
  alone="$(run_wrk "alone-$1")"
  "$consumer" "$port" "$watchers" bench: >"$work/watchers-$1.txt" &
  watch_pid=$!
  for _ in $(seq 200); do
    grep -q ready "$work/watchers-$1.txt" && break
    sleep 0.05
  done
  grep -q ready "$work/watchers-$1.txt" || { echo "the watch streams did not start" >&2; exit 1; }
  sleep 1.5 # the hub reports once a second
  before="$(metric solver_state_watch_events_total)"
  watched="$(run_wrk "watched-$1")"
  sleep 2.5 # the last changes reach the streams; the next report comes
  after="$(metric solver_state_watch_events_total)"
  kill -TERM "$watch_pid"
  wait "$watch_pid" || true
  watch_pid=""
  read -r _ n _ least _ most _ resyncs _ closed < <(grep '^watchers' "$work/watchers-$1.txt")
  changes=$((after - before))
  printf '%-8s %12s %14s   ratio %s\n' "round $1" "$alone" "$watched" \
    "$(awk -v a="$alone" -v b="$watched" 'BEGIN {printf "%.2f", b / a}')"
  if [ "$least" = "$changes" ] && [ "$most" = "$changes" ] && [ "$resyncs" = 0 ] && [ "$closed" = 0 ]; then
    echo "         every stream got every change: yes ($changes changes each, 0 resyncs)"
  else
    echo "         every stream got every change: NO (changes $changes; least $least, most $most; $resyncs resyncs, $closed streams closed)"
    failed=1
  fi
}

echo "machine: $(nproc) cores, $(. /etc/os-release; echo "$PRETTY_NAME"), $(date -u '+%Y-%m-%d %H:%M UTC'), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$setup; wrk -t1 -c50 -d${duration}s PUT of 256 bytes to one key; $watchers watch streams in one client thread"
printf '%-8s %12s %14s\n' "" "no watcher" "$watchers streams"
failed=0
for r in $(seq "$rounds"); do
  round "$r" | tee -a "$work/rounds.txt"
done
grep -q NO "$work/rounds.txt" && failed=1
median="$(awk '/ratio/ {print $NF}' "$work/rounds.txt" | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}')"
echo "median ratio $median (target >= 0.50)"
[ "$failed" = 0 ] || exit 2
