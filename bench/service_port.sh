# Sourced by the HTTP benchmarks: the port a solver-state started with
# --listen 127.0.0.1:0 listens on, and their common set-up.

# Prints the port of process $2 from its start-up line in log $1, waiting up
# to 10 s; with log.level above info the line is missing, so the kernel is
# asked which port the pid listens on. Prints nothing when neither works.
service_port() { # log, pid
  local log="$1" pid="$2" port=""
  for _ in $(seq 200); do
    port="$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log")"
    [ -n "$port" ] && break
    sleep 0.05
  done
  if [ -z "$port" ]; then
    port="$(ss -ltnp 2>/dev/null | awk -v p="pid=$pid," '$0 ~ p {split($4, a, ":"); print a[length(a)]; exit}')"
  fi
  echo "$port"
}

# Exits with a hint unless every tool named is on PATH.
require_tools() { # tool...
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "missing $tool (scripts/install-deps.sh)" >&2; exit 1; }
  done
}

# Exits with a hint unless the service binary $1 of build dir $2 exists.
require_binary() { # binary, build dir
  [ -x "$1" ] || { echo "build $1 first (ninja -C $2 solver-state)" >&2; exit 1; }
}

# Makes a temp dir $work named after $1; at exit it is removed and the
# service whose pid the caller keeps in $pid is stopped.
make_workdir() { # name
  work="$(mktemp -d "${TMPDIR:-/tmp}/$1-XXXXXX")"
  pid=""
  trap stop_and_clean EXIT
}

stop_and_clean() {
  [ -z "$pid" ] || kill -TERM "$pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
