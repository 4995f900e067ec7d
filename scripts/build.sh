#!/usr/bin/env bash
# Builds dist/pganalytics (one Bun executable: app, migrations, docs UI and PGlite embedded)
# and dist/node/main.js (the same CLI for Node, dependencies from node_modules).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-node-deps.sh
version=$(node -p "require('./package.json').version")
# PGA_BUILD_REVISION: the revision when there is no .git (a container build context).
if [ -n "${PGA_BUILD_REVISION:-}" ]; then
  revision=$PGA_BUILD_REVISION
else
  revision=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
  if [ -n "$(git status --porcelain 2>/dev/null | grep -v '^??' || true)" ]; then revision="${revision}-dirty"; fi
fi
defines=(--define "PGA_BUILD_VERSION=\"$version\"" --define "PGA_BUILD_REVISION=\"$revision\"")
mkdir -p dist/node
# --splitting: code behind a dynamic import() (the API, SSO, backups...) stays in chunks the
# binary loads on first use, so a process that never needs it does not map or compile it.
node_modules/.bin/bun build --compile --bytecode --splitting --format=esm --minify --sourcemap=none "${defines[@]}" \
  src/main.ts migrations/*.sql --outfile dist/pganalytics
# The collector alone (src/main-collector.ts): what `pganalytics collect` runs, without the API,
# PGlite or the docs UI in the binary, for collector-only deployments (docs/COLLECTOR.md).
node_modules/.bin/bun build --compile --bytecode --splitting --format=esm --minify --sourcemap=none "${defines[@]}" \
  src/main-collector.ts migrations/*.sql --outfile dist/pganalytics-collector
node_modules/.bin/bun build --target=node --packages=external "${defines[@]}" \
  src/main-node.ts --outfile dist/node/main.js
echo "built dist/pganalytics, dist/pganalytics-collector ($version, $revision) and dist/node/main.js"
