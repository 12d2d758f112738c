# Sourced by the HTTP benchmarks: the port a solver-state started with
# --listen 127.0.0.1:0 listens on.

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
