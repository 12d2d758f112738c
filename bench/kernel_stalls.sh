#!/usr/bin/env bash
# Where a process's threads wait in the kernel: every few milliseconds,
# each thread in uninterruptible sleep (state D: a disk, a journal, a
# lock of the filesystem) has its kernel stack read, and the stacks are
# counted, most frequent first. A slow fdatasync shows as the frames it
# waits in (bench/README.md, "Where the slow log syncs wait"). As root
# (/proc/PID/task/TID/stack is root's only).
#
# usage: bench/kernel_stalls.sh PID [SECONDS=30] [TOP=12]
set -euo pipefail

pid="${1:?usage: bench/kernel_stalls.sh PID [SECONDS=30] [TOP=12]}"
seconds="${2:-30}"
top="${3:-12}"
cat "/proc/$pid/task/$pid/stack" >/dev/null 2>&1 \
  || { echo "cannot read /proc/$pid/task/$pid/stack (no such process, or not root)" >&2; exit 1; }

stacks="$(mktemp)"
trap 'rm -f "$stacks"' EXIT
rounds=0
end=$((SECONDS + seconds))
while [ "$SECONDS" -lt "$end" ] && [ -d "/proc/$pid" ]; do
  for task in /proc/"$pid"/task/*; do
    # The state follows the name, which is in parentheses and may hold spaces.
    stat="$(cat "$task/stat" 2>/dev/null)" || continue
    state="${stat##*) }"
    [ "${state%% *}" = D ] || continue
    { printf '%s:' "$(cat "$task/comm")"
      awk '{sub(/\+0x.*/, "", $2); printf " %s", $2} END {print ""}' "$task/stack"
    } >>"$stacks" 2>/dev/null || true # the thread may have exited meanwhile
  done
  rounds=$((rounds + 1))
  sleep 0.003
done

echo "$rounds rounds over $seconds s; $(wc -l <"$stacks") samples of a thread waiting in the kernel (innermost frame first):"
# The syscall entry frames are on every stack and tell nothing.
sed -E 's/ (entry_SYSCALL_64_after_hwframe|do_syscall_64|x64_sys_call)//g' "$stacks" \
  | sort | uniq -c | sort -rn | head -n "$top"
