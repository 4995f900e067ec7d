#!/usr/bin/env bash
# Installs npm dependencies when node_modules is missing or older than the lockfile, and makes
# sure the Bun binary from the `bun` npm package is really in place (its postinstall moves it).
set -euo pipefail
cd "$(dirname "$0")/.."
# `npm install` rather than `npm ci`: it installs the lockfile's versions all the same, while
# npm 11.19 `npm ci` rejects lockfiles without entries for other platforms' optional packages
# (which npm itself writes that way).
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "installing npm packages..." >&2
  npm install --no-audit --no-fund >&2
fi
if ! node_modules/.bin/bun --version >/dev/null 2>&1; then
  echo "finishing the bun install..." >&2
  node node_modules/bun/install.js >&2
fi
