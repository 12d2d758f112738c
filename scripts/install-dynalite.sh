#!/usr/bin/env bash
# Installs dynalite (a DynamoDB-compatible server on Node.js) into
# tests/support/dynalite/node_modules for the DynamoDB backend's tests, at the
# version pinned in that folder's package-lock.json. Needs node >= 20 and npm
# (Debian: nodejs, npm). dynalite keeps data in memory, or in LevelDB with
# --path (classic-level ships prebuilt linux-x64 binaries, so no compiler is
# needed).
set -euo pipefail
cd "$(dirname "$0")/../tests/support/dynalite"

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "install-dynalite.sh: node and npm are required (apt-get install nodejs npm)" >&2
  exit 1
fi
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 20 ]; then
  echo "install-dynalite.sh: dynalite 4 needs node >= 20, found $(node --version)" >&2
  exit 1
fi
if [ -f node_modules/dynalite/cli.js ] && [ node_modules/.package-lock.json -nt package-lock.json ]; then
  exit 0
fi
npm ci --no-audit --no-fund --loglevel=error
node node_modules/dynalite/cli.js --help >/dev/null
echo "dynalite $(node -p 'require("./node_modules/dynalite/package.json").version') installed in tests/support/dynalite/node_modules/"
