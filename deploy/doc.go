// Package deploy holds no code: its tests check the repository's Dockerfile
// and .dockerignore, so that `go test ./...` catches a container image that
// would run as root, link against libc, or switch TLS verification off.
// The Helm chart beside it (deploy/helm/labsync) is checked by the separate
// module in deploy/helm/charttest, which keeps Helm out of this module.
package deploy
