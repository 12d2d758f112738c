#!/usr/bin/env bash
# Installs the npm packages of the OpenAPI response check
# (tests/integration/openapi_responses_test.mjs: ajv and yaml) into
# tests/support/openapi/node_modules, at the versions pinned in that folder's
# package-lock.json. Needs node >= 20 and npm (Debian: nodejs, npm); without
# them the check is skipped, not failed.
set -euo pipefail
cd "$(dirname "$0")/../tests/support/openapi"

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "install-openapi-check.sh: node and npm are required (apt-get install nodejs npm)" >&2
  exit 1
fi
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 20 ]; then
  echo "install-openapi-check.sh: the OpenAPI check needs node >= 20, found $(node --version)" >&2
  exit 1
fi
if [ -f node_modules/ajv/package.json ] && [ -f node_modules/yaml/package.json ] \
   && [ node_modules/.package-lock.json -nt package-lock.json ]; then
  exit 0
fi
npm ci --no-audit --no-fund --loglevel=error
echo "ajv $(node -p 'require("./node_modules/ajv/package.json").version')," \
     "yaml $(node -p 'require("./node_modules/yaml/package.json").version')" \
     "installed in tests/support/openapi/node_modules/"
