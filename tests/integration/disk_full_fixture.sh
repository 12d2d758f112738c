# Sourced by the disk-full tests (file_disk_full_test.sh,
# rocksdb_disk_full_test.sh): a work dir with a mount point `disk` for a
# small tmpfs, cleaned up (service killed, tmpfs unmounted) however the test
# ends; `fail`; `start_service` and `stop_service` for $binary with
# $work/config.yaml, which set `pid`, `port` and `base`; `mount_small_disk`.
#
#   . disk_full_fixture.sh NAME   (after `binary` is set)

work=$(mktemp -d "${TMPDIR:-/tmp}/solver-state-$1-XXXXXX")
disk=$work/disk
pid=
mounted=
log_shown=
cleanup() {
  local status=$?
  # A test that stops on an error of its own (set -e) shows the log too: a
  # service that aborted once in CI left nothing else to go on.
  if ((status != 0 && status != 77)) && [[ -z $log_shown ]]; then
    echo "--- exit status $status; service log (last 40 lines):" >&2
    tail -40 "$work/service.log" >&2 || true
  fi
  if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  [[ -z $mounted ]] || umount "$disk" || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  echo "--- service log (last 20 lines):" >&2
  tail -20 "$work/service.log" >&2 || true
  log_shown=1
  exit 1
}

start_service() {
  : >"$work/service.log"
  "$binary" --config "$work/config.yaml" --listen 127.0.0.1:0 >"$work/service.log" 2>&1 &
  pid=$!
  port=
  for _ in $(seq 200); do
    port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/service.log" | head -1)
    [[ -n $port ]] && break
    kill -0 "$pid" 2>/dev/null || fail "the service did not start: $(tail -3 "$work/service.log")"
    sleep 0.05
  done
  [[ -n $port ]] || fail "the service did not start"
  base=http://127.0.0.1:$port
}
stop_service() {
  kill -TERM "$pid"
  wait "$pid" || fail "the service did not stop cleanly"
  pid=
}

# Mounts a tmpfs of size $1 (e.g. 24m) on $disk with $2 of ballast in
# $disk/ballast; exits 77 (skipped) when it cannot (needs root).
mount_small_disk() {
  mkdir -p "$disk"
  if [[ $(id -u) != 0 ]] || ! mount -t tmpfs -o "size=$1" tmpfs "$disk" 2>/dev/null; then
    echo "cannot mount a tmpfs here (needs root): skipped"
    exit 77
  fi
  mounted=1
  head -c "$2" /dev/zero >"$disk/ballast"
}
