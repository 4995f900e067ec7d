#!/usr/bin/env bash
# `npm test`: the whole suite, as CI runs it. Installs what is missing (Debian and npm packages),
# then: type check, lint, OpenAPI drift + lint, client drift, build (binary + Node bundle), and
# vitest (unit, integration against real PostgreSQL/Redis, e2e of the binary and the Node build).
# Extra arguments go to vitest, e.g. `npm test -- test/unit`.
set -euo pipefail
cd "$(dirname "$0")/.."
# Load, Helm, manifest, Dockerfile, SDK and fuzzing tools (scripts/ensure-tools.sh) build and
# install beside the Debian and npm packages: on a new machine they are the longest part.
mkdir -p .tmp
bash scripts/ensure-tools.sh > .tmp/tools-bin &
tools_job=$!
trap 'kill "$tools_job" 2>/dev/null || true' EXIT
bash scripts/ensure-system.sh
bash scripts/ensure-node-deps.sh
wait "$tools_job" || { echo "installing the test tools failed (above)" >&2; exit 1; }
PATH="$(tail -n 1 .tmp/tools-bin):$PATH"
export PATH
bin=node_modules/.bin
step() { printf '\n== %s\n' "$1"; }

step "type check"
$bin/tsc -p tsconfig.json
step "lint and format"
$bin/biome check .
step "OpenAPI drift and lint"
$bin/bun src/main.ts openapi --check openapi/openapi.json
$bin/bun scripts/render-api-routes.ts --check
$bin/redocly lint openapi/openapi.json --format=summary
step "generated client drift"
$bin/openapi-typescript openapi/openapi.json -o .tmp/schema.d.ts >/dev/null
cmp -s .tmp/schema.d.ts client/schema.d.ts || { echo "client/schema.d.ts is out of date: run npm run openapi"; exit 1; }
step "build"
bash scripts/build.sh
step "tests"
# Everything the tests put in the temp directory (clusters, repositories, scratch) lives under
# one directory per run, removed when the run ends, pass or fail: repeated runs on one machine
# used to fill /tmp. Traversable (0755) because PostgreSQL runs as its own user under root.
run_tmp=$(mktemp -d "${TMPDIR:-/tmp}/pga-test-run-XXXXXX")
chmod 755 "$run_tmp"
trap 'rm -rf "$run_tmp"' EXIT
status=0
TMPDIR=$run_tmp $bin/vitest run --reporter=default --reporter=json --outputFile=.tmp/vitest.json "$@" || status=$?
node -e '
  const r = require("./.tmp/vitest.json")
  // A file that fails outside its tests (beforeAll, import) fails no test: its tests are skipped.
  const skipped = r.numPendingTests + r.numTodoTests
  console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped; files: ${r.testResults.filter((f) => f.status === "failed").length} failed`)
' || true
exit $status
