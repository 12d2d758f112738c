#!/usr/bin/env bash
# The file backend on a disk that fills up, as an operator meets one: a
# 24 MiB tmpfs with 6 MiB of ballast, four writers of 64 KiB values until
# the disk refuses them. Then:
#  - the service stays up, the writes are refused as 507
#    insufficient_storage, every acknowledged write is in an export, and the
#    log says so once, not once per refused write;
#  - /readyz is 503 and says the store is read-only;
#  - the ballast goes: /readyz is 200 again within sync_interval (1 s) + 2 s,
#    without any client write, and a write succeeds;
#  - no file the failed writes and checkpoints created is left behind (no
#    *~tmp, no empty log);
#  - the service is killed while the disk is full again, and started on it:
#    it comes up read-only (reads served, writes 507), and takes writes
#    again by itself once there is room; nothing acknowledged is lost.
#
#   file_disk_full_test.sh BINARY
#
# Needs root to mount the tmpfs (CI runs as root); exits 77 (skipped) when it
# cannot mount one.
set -euo pipefail

binary=$1
. "$(dirname "$0")/disk_full_fixture.sh" disk-full
# The ballast goes; then /readyz must be 200 within sync_interval + 2 s
# without any client write, and a write (of key $1) succeed. Sets waited
# (ms).
space_back() {
  rm "$disk/ballast"
  local start code
  start=$(date +%s%N)
  until [[ $(curl -s -o /dev/null -w '%{http_code}' "$base/readyz") == 200 ]]; do
    (($(date +%s%N) - start < 3000000000)) \
      || fail "/readyz was not 200 within 3 s of the space coming back ($1)"
    sleep 0.1
  done
  waited=$((($(date +%s%N) - start) / 1000000))
  code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT --data-binary "$1" "$base/v1/state/$1")
  [[ $code == 201 ]] || fail "a write after the space came back answered $code ($1)"
  echo "$1" >>"$work/acked"
}
# Nothing the failures created is left: no temp file, no empty log.
no_leftovers() {
  local left
  left=$(find "$disk/data" \( -name '*~tmp' -o \( -name '~wal-*' -size 0 \) \) -print)
  [[ -z $left ]] || fail "left behind ($1): $left"
}
# Every acknowledged key is in an export ($1 says when).
all_exported() {
  curl -sf "$base/v1/export" >"$work/export.ndjson" || fail "the export failed ($1)"
  while read -r key; do
    grep -qF "{\"key\":\"$key\"" "$work/export.ndjson" \
      || fail "acknowledged $key is missing ($1)"
  done <"$work/acked"
}
# On a full disk: /readyz is 503 and says read-only ($1 says when).
read_only() {
  local ready
  ready=$(curl -s -o "$work/readyz" -w '%{http_code}' "$base/readyz")
  [[ $ready == 503 ]] || fail "/readyz answered $ready ($1)"
  grep -q "read-only" "$work/readyz" || fail "/readyz did not say read-only ($1): $(cat "$work/readyz")"
}

mount_small_disk 24m 6M

cat >"$work/config.yaml" <<YAML
state:
  type: file
  max_items: 0
  file:
    base_path: $disk/data
    sync_interval: 1s
YAML
start_service

head -c 65536 /dev/zero | tr '\0' 'v' >"$work/value"
writer() { # id: writes until the disk refused it 5 times
  local i=0 refused=0 code
  while ((refused < 5 && i < 1000)); do
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
grep -q "No space left on device" "$work/service.log" \
  || fail "the writes were not refused for want of space"
acked=$(wc -l <"$work/acked")
((acked > 50)) || fail "only $acked writes were acknowledged"
# Twenty refusals in a second or two: one line about them, not twenty.
lines=$(grep "cannot write log" "$work/service.log" | grep -vc "http: " || true)
((lines <= 2)) || fail "the log has $lines lines about the failed writes"

read_only "on a full disk"

# Every acknowledged write is there (an export reads them all).
curl -sf "$base/v1/export?prefix=fill:" >"$work/export.ndjson" \
  || fail "the export failed on a full disk"
expected=$(base64 -w0 <"$work/value")
while read -r key; do
  grep -qF "{\"key\":\"$key\",\"value\":\"$expected\"" "$work/export.ndjson" \
    || fail "acknowledged $key is missing or wrong"
done <"$work/acked"

space_back after:1
waited_running=$waited
no_leftovers "after the space came back"

# Killed on a full disk, started on it: up, read-only, nothing lost.
for i in $(seq 20); do
  code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT --data-binary "late $i" "$base/v1/state/late:$i")
  [[ $code == 201 ]] || fail "write late:$i answered $code"
  echo "late:$i" >>"$work/acked"
done
cat /dev/zero >"$disk/ballast" 2>/dev/null || true
kill -KILL "$pid"
wait "$pid" 2>/dev/null || true
pid=
start_service
read_only "after a start on a full disk"
[[ $(curl -s "$base/v1/state/late:20") == "late 20" ]] || fail "late:20 is not served read-only"
code=$(curl -s -o "$work/refused" -w '%{http_code}' -X PUT --data-binary x "$base/v1/state/after:2")
[[ $code == 507 ]] || fail "a write on the read-only start answered $code"
grep -q insufficient_storage "$work/refused" || fail "the refusal does not say why: $(cat "$work/refused")"
all_exported "after a start on a full disk"

space_back after:2
sleep 2.5 # a checkpoint folds what the start could not
no_leftovers "after the read-only start"
stop_service
start_service
all_exported "after the restart that followed"
stop_service
echo "ok: $acked writes acknowledged, all exported; ready again ${waited_running} ms after the space came back," \
  "${waited} ms after a read-only start on a full disk"
