#!/usr/bin/env bash
# `npm start`: installs npm packages if needed, then serves with the environment's settings.
# With no DATABASE_URL / REDIS_URL: embedded PGlite in ./data and in-process state.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-node-deps.sh
exec node_modules/.bin/bun src/main.ts serve "$@"
