#!/usr/bin/env bash
# Compression and encryption at rest through the HTTP gateway: wrk PUT and
# GET of one key (50 connections) against build/solver-state on the memory
# backend, once per codec mode (none, zstd, aes, zstd+aes, and zdict and
# zdict+aes with a dictionary trained on 400 other orders, zfast+aes the
# same at zstd's fast level -5) and value (256 B
# and 4 KiB of random base64 text, a 1.5 KiB JSON order). Ratios are against
# mode none with the same value in the same round; the modes take turns
# within a round, and ROUNDS=N repeats the rounds and reports medians, so a
# drift of the machine (this VM's rate moves by up to 40% within minutes)
# hits every mode alike.
#
# usage: [ROUNDS=3] [MODES="none aes"] [VALUES="256B order"] bench/codec_http.sh
#          [seconds per wrk run, default 5] [build dir, default build]
# MODES and VALUES choose a subset (none is always run first: the ratios
# are against it).
set -euo pipefail

duration="${1:-5}"
build="${2:-build}"
rounds="${ROUNDS:-1}"
here="$(cd "$(dirname "$0")/.." && pwd)"
. "$here/bench/service_port.sh"
binary="$here/$build/solver-state"
require_tools wrk curl openssl
require_binary "$binary" "$build"
make_workdir solver-state-codec

openssl rand -hex 32 >"$work/k1.key"
chmod 600 "$work/k1.key"
head -c 192 /dev/urandom | base64 -w0 | head -c 256 >"$work/256B"
head -c 3072 /dev/urandom | base64 -w0 | head -c 4096 >"$work/4KiB"
hex() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n' | head -c "$(( $1 * 2 ))"; }
zeros() { printf '%0*d' "$1" 0; }
# originData ABI-encoded as settlers read it: 32-byte words, addresses and
# small numbers zero-padded, hashes random (as bench/codec_bench.cpp's order).
origin_data() {
  echo -n "0x$(hex 32)$(zeros 24)$(hex 20)$(zeros 48)0de0b6b3a7640000$(zeros 24)$(hex 20)$(zeros 63)a$(zeros 24)$(hex 20)$(zeros 56)6955b910$(hex 32)"
}
make_order() { # a fresh order on stdout, no trailing newline
  echo -n "{\"orderId\":\"0x$(hex 32)\",\"user\":\"0x$(hex 20)\",\"originChainId\":1,\"openDeadline\":1767225600,\"fillDeadline\":1767229200,\"orderDataType\":\"0x$(hex 32)\",\"status\":\"pending\",\"maxSpent\":[{\"token\":\"0x$(hex 20)\",\"amount\":\"1000000000000000000\",\"recipient\":\"0x$(hex 20)\",\"chainId\":10}],\"minReceived\":[{\"token\":\"0x$(hex 20)\",\"amount\":\"999000000000000000\",\"recipient\":\"0x$(hex 20)\",\"chainId\":1}],\"fillInstructions\":[{\"destinationChainId\":10,\"destinationSettler\":\"0x$(hex 20)\",\"originData\":\"$(origin_data)\"}],\"signature\":\"0x$(hex 65)\"}"
}
make_order >"$work/order"

codec_yaml() { # mode
  case "$1" in
    none) ;;
    zstd) echo "  compression: {type: zstd, min_bytes: 512}" ;;
    aes) echo "  encryption: {primary: k1, keys: [{id: k1, file: \"$work/k1.key\"}]}" ;;
    zstd+aes)
      echo "  compression: {type: zstd, min_bytes: 512}"
      echo "  encryption: {primary: k1, keys: [{id: k1, file: \"$work/k1.key\"}]}" ;;
    zdict) echo "  compression: {type: zstd, min_bytes: 512, dictionaries: [\"$work/orders.zdict\"]}" ;;
    zdict+aes)
      echo "  compression: {type: zstd, min_bytes: 512, dictionaries: [\"$work/orders.zdict\"]}"
      echo "  encryption: {primary: k1, keys: [{id: k1, file: \"$work/k1.key\"}]}" ;;
    zfast+aes)
      echo "  compression: {type: zstd, min_bytes: 512, level: -5, dictionaries: [\"$work/orders.zdict\"]}"
      echo "  encryption: {primary: k1, keys: [{id: k1, file: \"$work/k1.key\"}]}" ;;
  esac
}

start_service() { # mode
  cat >"$work/config.yaml" <<YAML
state:
  type: memory
  max_items: 100000
$(codec_yaml "$1")
log:
  level: info
YAML
  "$binary" --config "$work/config.yaml" --listen 127.0.0.1:0 >"$work/service.log" 2>&1 &
  pid=$!
  port="$(service_port "$work/service.log" "$pid")"
  [ -n "$port" ] || { cat "$work/service.log" >&2; exit 1; }
}

stop_service() {
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
  pid=""
}

run_wrk() { # method, value file -> "rps p99"
  local script="$work/$1.lua"
  if [ "$1" = PUT ]; then
    cat >"$script" <<LUA
local f = io.open("$2", "rb")
wrk.method = "PUT"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/octet-stream"
LUA
  else
    echo 'wrk.method = "GET"' >"$script"
  fi
  wrk -t1 -c50 -d"${duration}s" --latency -s "$script" \
    "http://127.0.0.1:$port/v1/state/order:bench:1" >"$work/wrk.txt"
  if grep -qE 'Non-2xx|Socket errors' "$work/wrk.txt"; then
    grep -E 'Non-2xx|Socket errors' "$work/wrk.txt" >&2
  fi
  echo "$(awk '/^Requests\/sec:/ {print $2}' "$work/wrk.txt") $(awk '$1=="99%" {print $2}' "$work/wrk.txt")"
}

# The zdict modes' dictionary, trained the way an operator would: orders
# written to a service, then solver-state-cli train-dictionary on them.
start_service none
for i in $(seq 1 400); do
  make_order | curl -sf -X PUT --data-binary @- "http://127.0.0.1:$port/v1/state/order:sample:$i" >/dev/null
done
"$here/$build/solver-state-cli" --url "http://127.0.0.1:$port" \
  train-dictionary order:sample: -o "$work/orders.zdict" >&2
stop_service

echo "machine: $(nproc) cores, $(. /etc/os-release; echo "$PRETTY_NAME"), $(date -u +%Y-%m-%d)"
echo "wrk -t1 -c50 -d${duration}s on one key, memory backend, $rounds round(s) with the modes in turn;"
echo "ratio = rps / rps of mode none in the same round, median over the rounds (as the rates)"
printf '%-6s %-9s %10s %9s %6s %10s %9s %6s\n' value mode put_rps p99 ratio get_rps p99 ratio
modes="none $(tr ' ' '\n' <<<"${MODES:-zstd aes zstd+aes zdict zdict+aes zfast+aes}" | grep -vx none | tr '\n' ' ')"
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
# wrk's latency as milliseconds (it prints us, ms or s).
to_ms() { awk -v v="$1" 'BEGIN { if (v ~ /us$/) { sub(/us/, "", v); v /= 1000 } else if (v ~ /ms$/) sub(/ms/, "", v); else if (v ~ /s$/) { sub(/s/, "", v); v *= 1000 }; printf "%.2f", v }'; }
ratio_of() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
for value in ${VALUES:-256B 4KiB order}; do
  declare -A put_rps=() put_p99=() get_rps=() get_p99=() put_ratio=() get_ratio=()
  for round in $(seq "$rounds"); do
    for mode in $modes; do
      start_service "$mode"
      curl -sf -X PUT --data-binary "@$work/$value" "http://127.0.0.1:$port/v1/state/order:bench:1" >/dev/null
      read -r p_rps p_p99 <<<"$(run_wrk PUT "$work/$value")"
      read -r g_rps g_p99 <<<"$(run_wrk GET "$work/$value")"
      # The bytes come back as they went in.
      curl -sf "http://127.0.0.1:$port/v1/state/order:bench:1" | cmp -s - "$work/$value" \
        || { echo "mode $mode: GET returned other bytes than PUT" >&2; exit 1; }
      stop_service
      [ "$mode" != none ] || { base_put="$p_rps"; base_get="$g_rps"; }
      put_rps[$mode]+=" $p_rps"; put_p99[$mode]+=" $(to_ms "$p_p99")"
      get_rps[$mode]+=" $g_rps"; get_p99[$mode]+=" $(to_ms "$g_p99")"
      put_ratio[$mode]+=" $(ratio_of "$p_rps" "$base_put")"
      get_ratio[$mode]+=" $(ratio_of "$g_rps" "$base_get")"
    done
  done
  for mode in $modes; do
    printf '%-6s %-9s %10s %7sms %6s %10s %7sms %6s\n' "$value" "$mode" \
      "$(median <<<"${put_rps[$mode]}")" "$(median <<<"${put_p99[$mode]}")" \
      "$(median <<<"${put_ratio[$mode]}")" \
      "$(median <<<"${get_rps[$mode]}")" "$(median <<<"${get_p99[$mode]}")" \
      "$(median <<<"${get_ratio[$mode]}")"
  done
  unset put_rps put_p99 get_rps get_p99 put_ratio get_ratio
done
