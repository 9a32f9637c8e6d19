//go:build race

package kubernetes_test

func init() { buildFlags = append(buildFlags, "-race") }
