#!/usr/bin/env bash
# Installs what solver-state needs to build, test and benchmark on Debian 12.
# Idempotent: skips apt when every package is already there.
set -euo pipefail

packages=(
  # build
  cmake ninja-build g++ ccache pkg-config
  libcaf-dev libboost1.81-dev libboost-json1.81-dev libspdlog-dev
  libyaml-cpp-dev libssl-dev libzstd-dev
  libsodium-dev  # AES-256-GCM on CPUs with AES-NI (backends/codec/aes_gcm.hpp)
  libabsl-dev  # B-trees of the declared indexes (state.indexes)
  libsimdjson-dev  # the indexed fields of each value (actors/query/json_fields.hpp)
  libjemalloc-dev  # the executables' malloc (cmake/SolverStateAllocator.cmake)
  # tests
  catch2 curl prometheus
  openssl  # node TLS tests generate certificates with the CLI
  # backends and their servers
  librocksdb-dev  # state.type: rocksdb
  libhiredis-dev redis-server redis-tools
  libpq-dev postgresql postgresql-contrib
  nodejs  # node >= 20: dynalite (DynamoDB tests, scripts/install-dynalite.sh) and the
          # OpenAPI response check (scripts/install-openapi-check.sh)
  # benchmarks
  wrk
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
