#!/usr/bin/env bash
# Installs the built tree into a temp prefix (the service and solver-state-cli
# in bin/), builds two consumers against it with find_package(solver_state),
# then runs them:
#  - core: the program of README.md ("Using it from a CAF program"), extracted
#    from the README as shown, linking solver_state::solver_state only (its
#    link would fail if the core needed hiredis or libpq);
#  - components: find_package(... COMPONENTS http [redis]) and their targets.
set -euo pipefail
build_dir=$1
source_dir=$(cd "$(dirname "$0")" && pwd)
readme="$source_dir/../../../README.md"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build_dir" --prefix "$work/prefix" >/dev/null
# The service and its command-line client go to bin/ side by side.
for program in solver-state solver-state-cli; do
  [ -x "$work/prefix/bin/$program" ] || { echo "bin/$program was not installed" >&2; exit 1; }
done
"$work/prefix/bin/solver-state-cli" --version >/dev/null
cp -r "$source_dir/." "$work/src"
# The first ```cpp block after the consumer marker, verbatim.
awk '/<!-- consumer:/ {armed=1; next}
     armed && /^```cpp$/ {inside=1; next}
     inside && /^```$/ {exit}
     inside {print}' "$readme" > "$work/src/readme_consumer.cpp"
[ -s "$work/src/readme_consumer.cpp" ] || { echo "no consumer block in README.md" >&2; exit 1; }
with_redis=OFF
[ -f "$work/prefix/lib/cmake/solver_state/solver_state_redisTargets.cmake" ] && with_redis=ON
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S "$work/src" -B "$work/build" -G Ninja "${launcher[@]}" \
  -DCMAKE_PREFIX_PATH="$work/prefix" -DWITH_REDIS=$with_redis >/dev/null
ninja -C "$work/build" >/dev/null
"$work/build/consumer"
"$work/build/component_consumer"
# Nothing private is installed: only the public headers and their includes.
if find "$work/prefix/include" -name '*.hpp' | grep -E '/(shard|router|session|wal|connection)\.hpp$'; then
  echo "internal headers were installed" >&2
  exit 1
fi
