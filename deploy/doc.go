// Package deploy holds the ways deployq is installed, beside the
// Dockerfile at the root of the repository: deployq.service, a hardened
// systemd unit, and kubernetes/, plain Kubernetes manifests. It has no
// code: its tests check each of them (the unit with systemd-analyze, the
// manifests against a real API server, the Dockerfile's stages, and the
// image itself where a Docker engine answers).
package deploy
