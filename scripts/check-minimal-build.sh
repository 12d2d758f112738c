#!/usr/bin/env bash
# Proves that the memory and file backends build and run on a machine without
# the hiredis, libpq and RocksDB development packages: in a private mount namespace,
# what those packages install (headers, static libraries, pkg-config files)
# is hidden, and the project is configured
# without the Redis, PostgreSQL and RocksDB backends. The runtime libraries stay, as on
# such a machine (ccache itself links libhiredis). Needs root (unshare
# --mount), as CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${MINIMAL_BUILD_DIR:-build-minimal}
if [ "$(id -u)" -ne 0 ]; then
  echo "check-minimal-build.sh: needs root for a private mount namespace" >&2
  exit 1
fi
exec unshare --mount -- bash -euo pipefail -c '
  empty=$(mktemp -d)
  hide() { for p in "$@"; do [ -e "$p" ] && mount --bind "$empty" "$p" || true; done; }
  # Symlinks (libhiredis.so -> libhiredis.so.0.14) are left alone: a bind
  # mount would land on the runtime library they point to.
  hide_file() { for p in "$@"; do [ -f "$p" ] && [ ! -L "$p" ] && mount --bind /dev/null "$p" || true; done; }
  hide /usr/include/hiredis /usr/include/postgresql /usr/include/rocksdb
  hide_file /usr/include/libpq-fe.h \
    $(ls /usr/lib/x86_64-linux-gnu/{libhiredis,libpq,librocksdb}.{so,a} 2>/dev/null) \
    $(ls /usr/lib/x86_64-linux-gnu/pkgconfig/hiredis.pc /usr/lib/x86_64-linux-gnu/pkgconfig/libpq.pc 2>/dev/null)
  if pkg-config --exists hiredis 2>/dev/null || pkg-config --exists libpq 2>/dev/null \
     || [ -e /usr/include/hiredis/hiredis.h ] || [ -e /usr/include/postgresql/libpq-fe.h ] \
     || [ -e /usr/include/rocksdb/db.h ]; then
    echo "check-minimal-build.sh: could not hide hiredis/libpq/rocksdb" >&2; exit 1
  fi
  # The normal build flags, so ccache serves what the main build compiled.
  TARGETS="solver-state example-solver memory_conformance_test file_conformance_test cli_test" \
  BUILD_DIR='"$build_dir"' scripts/build.sh -DSOLVER_STATE_WITH_REDIS=OFF \
    -DSOLVER_STATE_WITH_POSTGRES=OFF -DSOLVER_STATE_WITH_ROCKSDB=OFF \
    -DSOLVER_STATE_BENCH=OFF
  '"$build_dir"'/solver-state --version
  '"$build_dir"'/app/example-solver >/dev/null
  cd '"$build_dir"' && ctest --output-on-failure -j 2 -R "^(memory_conformance_test|file_conformance_test|cli_test):"
  echo "minimal build (memory, file, dynamodb; no hiredis, libpq, rocksdb): ok"
'
