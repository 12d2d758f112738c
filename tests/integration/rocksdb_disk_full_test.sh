#!/usr/bin/env bash
# The rocksdb backend on a disk that fills up: a 64 MiB tmpfs with 32 MiB of
# ballast, four writers of 64 KiB random values until the disk refuses them.
# Then:
#  - the service stays up, the writes are refused as 507
#    insufficient_storage, every acknowledged write reads back;
#  - /readyz is 503;
#  - the ballast goes: /readyz is 200 again within 15 s without any client
#    write (RocksDB's free-space tracker resumes it; 4-5 s here), and a
#    write succeeds;
#  - after a restart every acknowledged write is there.
#
#   rocksdb_disk_full_test.sh BINARY
#
# Needs root to mount the tmpfs (CI runs as root); exits 77 (skipped) when it
# cannot mount one.
set -euo pipefail

binary=$1
. "$(dirname "$0")/disk_full_fixture.sh" rocksdb-full
all_readable() { # $1: when
  while read -r key; do
    code=$(curl -s -o /dev/null -w '%{http_code}' "$base/v1/state/$key")
    [[ $code == 200 ]] || fail "acknowledged $key answers $code ($1)"
  done <"$work/acked"
}

mount_small_disk 64m 32M

cat >"$work/config.yaml" <<YAML
state:
  type: rocksdb
  max_items: 0
  rocksdb:
    base_path: $disk/data
    cache_bytes: 8388608
YAML
start_service

# Random bytes: compression gains nothing, so the disk does fill.
head -c 65536 /dev/urandom >"$work/value"
writer() { # id: writes until the disk refused it 5 times
  local i=0 refused=0 code
  while ((refused < 5 && i < 2000)); do
    code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT \
                --data-binary @"$work/value" "$base/v1/state/fill:$1:$i")
    case $code in
      201 | 204) echo "fill:$1:$i" >>"$work/acked" ;;
      507) refused=$((refused + 1)) ;;
      *) echo "unexpected answer $code" >>"$work/unexpected" ;;
    esac
    i=$((i + 1))
  done
}
for w in 1 2 3 4; do writer "$w" & done
wait $(jobs -p | grep -v "^$pid$") 2>/dev/null || true
[[ ! -s $work/unexpected ]] || fail "$(sort "$work/unexpected" | uniq -c)"
kill -0 "$pid" 2>/dev/null || fail "the service died on the full disk"
acked=$(wc -l <"$work/acked")
((acked > 0)) || fail "no write was acknowledged before the disk filled"
code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT --data-binary x "$base/v1/state/after:full")
[[ $code == 507 ]] || fail "a write on the full disk answered $code"
ready=$(curl -s -o "$work/readyz" -w '%{http_code}' "$base/readyz")
[[ $ready == 503 ]] || fail "/readyz on the full disk answered $ready"
grep -q "No space left" "$work/readyz" || fail "/readyz did not say why: $(cat "$work/readyz")"
all_readable "on the full disk"

rm "$disk/ballast"
start=$(date +%s%N)
until [[ $(curl -s -o /dev/null -w '%{http_code}' "$base/readyz") == 200 ]]; do
  (($(date +%s%N) - start < 15000000000)) || fail "/readyz was not 200 within 15 s of the space coming back"
  sleep 0.1
done
waited=$((($(date +%s%N) - start) / 1000000))
grep -q "the disk has room again" "$work/service.log" || fail "the log does not say writes resume"
code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT --data-binary x "$base/v1/state/after:room")
[[ $code == 201 ]] || fail "a write after the space came back answered $code"
echo "after:room" >>"$work/acked"

stop_service
start_service
all_readable "after a restart"
stop_service
echo "rocksdb disk full: $acked writes acknowledged before the disk filled, all readable on it and after a restart; ready $waited ms after the space came back"
