package kube_test

import (
	"os"
	"path/filepath"
	"testing"

	kuberunner "github.com/deployq/deployq/runners/kubernetes/kube"
)

// In a cluster, with no namespace set, deployq deploys in its own pod's
// namespace, read from the service account's mount, not in "default".
func TestInClusterNamespace(t *testing.T) {
	file := filepath.Join(t.TempDir(), "namespace")
	if got := kuberunner.InClusterNamespace(file); got != "" {
		t.Fatalf("no file: %q", got)
	}
	os.WriteFile(file, []byte("deployq\n"), 0o644)
	if got := kuberunner.InClusterNamespace(file); got != "deployq" {
		t.Fatalf("%q", got)
	}
}
