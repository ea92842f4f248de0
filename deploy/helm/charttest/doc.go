// Package charttest renders labsync's Helm chart (deploy/helm/labsync) with
// Helm's own template engine and checks what it produces. It is a module of
// its own so that Helm and the Kubernetes libraries never enter labsync's
// main module; `go test ./...` at the repository root does not reach it.
package charttest
