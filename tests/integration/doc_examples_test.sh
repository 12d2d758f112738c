#!/usr/bin/env bash
# Runs a documentation's shell examples for real, so a reader who pastes
# them in order gets what the comments say.
#
#   doc_examples_test.sh BINARY MARKDOWN NAME [AUTH_TOKEN]
#
# Takes the fenced block right after the line `<!-- example: NAME -->` in
# MARKDOWN, starts BINARY (solver-state) on its built-in defaults (the file
# backend, as scripts/run.sh runs it) in a temp dir on a free loopback port,
# with AUTH_TOKEN as its bearer token when given, replaces 127.0.0.1:8080
# with that address, and runs the block with `bash -euo pipefail` in another
# temp dir. Every line that runs curl must end in a comment starting with the
# HTTP status it answers (`# 201 Created ...`), or be followed by a comment
# line that does: curl is a function there that fails the block when the
# status differs, when curl itself fails, or when a `@file` it would send
# does not exist (curl -s would send an empty body). A command goes on over
# lines ending in `\`, `|`, `&&` or `||`; its comment is on its last line.
set -euo pipefail

binary=$1
doc=$2
name=$3
token=${4:-}

work=$(mktemp -d "${TMPDIR:-/tmp}/solver-state-doc-XXXXXX")
server_pid=
cleanup() {
  if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "doc_examples_test: $doc ($name): $*" >&2
  exit 1
}

# -- the block -------------------------------------------------------------
marker="<!-- example: $name -->"
awk -v marker="$marker" '
  state == 0 && $0 == marker { state = 1; next }
  state == 1 { if ($0 !~ /^```/) exit 3; state = 2; next }
  state == 2 && /^```/ { state = 3; exit }
  state == 2 { print }
  END { if (state != 3) exit 3 }' "$doc" > "$work/block.sh" \
  || fail "no fenced block right after the line '$marker'"
[[ -s $work/block.sh ]] || fail "the block after '$marker' is empty"

# -- the script: the curl check, then the block, line by line --------------
script=$work/script.sh
cat > "$script" <<'PRELUDE'
curl() {
  local expect=${EXAMPLE_EXPECT:?a curl line without a status comment}
  local arg prev=
  for arg in "$@"; do
    if [[ $arg == @* && ! -r ${arg#@} ]]; then
      printf '\nexample: %s\n' "curl would send ${arg#@}, which does not exist" >&2
      return 1
    fi
    if [[ $prev == -T || $prev == --upload-file ]] && [[ ! -r $arg ]]; then
      printf '\nexample: %s\n' "curl would upload $arg, which does not exist" >&2
      return 1
    fi
    prev=$arg
  done
  local out rc=0 status
  out=$(mktemp)
  command curl "$@" -w '\n%{http_code}' > "$out" || rc=$?
  status=$(tail -n 1 "$out")
  head -c "-$(( ${#status} + 1 ))" "$out"
  rm -f "$out"
  if (( rc != 0 )); then
    printf '\nexample: %s\n' "curl failed, exit $rc" >&2
    return "$rc"
  fi
  if [[ $status != "$expect" ]]; then
    printf '\nexample: %s\n' "HTTP $status, the example says $expect" >&2
    return 1
  fi
}
PRELUDE

curl_word='(^|[^[:alnum:]_./-])curl[[:space:]]'
status_comment='[[:space:]]#[[:space:]]*([1-5][0-9][0-9])([^0-9]|$)'
comment_line='^[[:space:]]*#'
continues='(\\|\||&&)[[:space:]]*$'
mapfile -t lines < "$work/block.sh"
command_lines=()
n=0
for ((i = 0; i < ${#lines[@]}; ++i)); do
  line=${lines[i]}
  command_lines+=("$line")
  [[ $line =~ $continues ]] && continue # the command goes on
  joined=$(printf '%s\n' "${command_lines[@]}")
  if [[ $joined =~ $curl_word ]]; then
    rest=${joined#*curl}
    [[ $rest =~ $curl_word ]] && fail "one curl per command, please: $joined"
    [[ $joined =~ (^|[[:space:]])(-w|--write-out)[[:space:]] ]] \
      && fail "the check needs curl's -w for itself: $joined"
    # The status: in the comment ending the command, or in the comment line
    # right after it.
    next=${lines[i + 1]:-}
    if [[ ${command_lines[-1]} =~ $status_comment ]]; then
      echo "EXAMPLE_EXPECT=${BASH_REMATCH[1]}" >> "$script"
    elif [[ $next =~ $comment_line && " $next" =~ $status_comment ]]; then
      echo "EXAMPLE_EXPECT=${BASH_REMATCH[1]}" >> "$script"
    else
      fail "a curl command without a '# NNN' status comment: $joined"
    fi
    n=$((n + 1))
  fi
  for l in "${command_lines[@]}"; do
    printf 'echo %q\n' "+ $l" >> "$script"
  done
  for l in "${command_lines[@]}"; do
    printf '%s\n' "${l//127.0.0.1:8080/127.0.0.1:__PORT__}" >> "$script"
  done
  command_lines=()
done
(( ${#command_lines[@]} == 0 )) || fail "the block ends in a command that goes on"
(( n > 0 )) || fail "the block runs no curl"

# -- the service -----------------------------------------------------------
mkdir "$work/server" "$work/run"
(
  cd "$work/server"
  for v in $(env | sed -n 's/^\(SOLVER_STATE_[A-Z_]*\)=.*/\1/p'); do
    unset "$v"
  done
  if [[ -n $token ]]; then
    export SOLVER_STATE_AUTH_TOKEN=$token
  fi
  exec "$binary" --listen 127.0.0.1:0 > service.log 2>&1
) &
server_pid=$!
port=
for _ in $(seq 200); do
  port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' \
           "$work/server/service.log" 2>/dev/null | head -n 1 || true)
  [[ -n $port ]] && break
  kill -0 "$server_pid" 2>/dev/null \
    || fail "solver-state exited at start: $(cat "$work/server/service.log")"
  sleep 0.1
done
[[ -n $port ]] || fail "solver-state did not start: $(cat "$work/server/service.log")"
sed -i "s/__PORT__/$port/g" "$script"

# -- run it ----------------------------------------------------------------
echo "running $n curl commands of $doc ($name) against 127.0.0.1:$port"
rc=0
(cd "$work/run" && bash -euo pipefail "$script") || rc=$?
if (( rc != 0 )); then
  echo "--- service log:" >&2
  tail -n 20 "$work/server/service.log" >&2
  fail "the examples failed (exit $rc); the last '+' line above is the one"
fi
# The service took it all in its stride: still up, and it stops cleanly.
kill -0 "$server_pid" 2>/dev/null || fail "solver-state exited during the examples"
kill -TERM "$server_pid"
stop_rc=0
wait "$server_pid" || stop_rc=$?
server_pid=
(( stop_rc == 0 )) || fail "solver-state exited $stop_rc on SIGTERM"
echo "ok: every example answered as documented"
