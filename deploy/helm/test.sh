#!/usr/bin/env bash
# Renders the Helm chart in deploy/helm/labsync with Helm's own Go template
# engine and checks the result (deploy/helm/charttest, a Go module of its own
# so Helm never enters labsync's main module). Needs Go and the module proxy
# on the first run; no helm binary, no cluster.
set -euo pipefail
cd "$(dirname "$0")/charttest"
test -z "$(gofmt -l .)" || { echo "gofmt: $(gofmt -l .)" >&2; exit 1; }
go vet ./...
go test -count=1 "$@" ./...
