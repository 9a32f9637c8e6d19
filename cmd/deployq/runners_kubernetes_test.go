package main_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deployq/deployq/client"
	"github.com/deployq/deployq/internal/queuetest"
	"github.com/deployq/deployq/queue"
)

// The server does not link client-go: the kubernetes runner runs in
// deployq-kubernetes, which does. (Package initialization of client-go
// and the Kubernetes API types costs every deployq ~20 MB otherwise.)
func TestServerLinksNoClientGo(t *testing.T) {
	deps := func(pkg string) []string {
		out, err := exec.Command("go", "list", "-deps", pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		return strings.Fields(string(out))
	}
	kube := func(p string) bool { return strings.HasPrefix(p, "k8s.io/") || strings.HasPrefix(p, "sigs.k8s.io/") }
	var linked []string
	for _, p := range deps(".") {
		if kube(p) {
			linked = append(linked, p)
		}
	}
	if len(linked) > 0 {
		t.Errorf("deployq links %d Kubernetes packages, e.g. %s: they belong in deployq-kubernetes", len(linked), linked[0])
	}
	found := false
	for _, p := range deps("../deployq-kubernetes") {
		found = found || p == "k8s.io/client-go/kubernetes"
	}
	if !found {
		t.Errorf("deployq-kubernetes does not link k8s.io/client-go/kubernetes")
	}
}

// kubernetesConfig is one app whose environment deploys to Kubernetes
// (the in-cluster config: nothing to read before a deploy).
const kubernetesConfig = `apps:
  - name: web
    environments:
      - name: production
        runner: kubernetes
        kubernetes:
          targets: [{workload: deployment/web, containers: {web: "registry.example.com/web:{sha}"}}]
`

// alone is a copy of deployq in a directory of its own, without
// deployq-kubernetes beside it.
func alone(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "deployq")
	if err := os.Link(binary, bin); err != nil {
		b, err := os.ReadFile(binary)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(bin, b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return bin
}

// Without deployq-kubernetes next to deployq or on PATH, check-config
// fails on a config that deploys to Kubernetes, saying what to do; with
// it, the config is ok.
func TestCheckConfigNeedsDeployqKubernetes(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "deployq.yaml"), []byte(kubernetesConfig), 0o644)
	if out, code := checkConfigIn(t, dir); code != 0 || !strings.HasSuffix(out, "\ndeployq.yaml: ok, 1 apps, 1 environments\n") {
		t.Fatalf("with deployq-kubernetes beside deployq: exit %d\n%s", code, out)
	}

	bin := alone(t)
	cmd := exec.Command(bin, "check-config")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PATH="+t.TempDir())
	out, err := cmd.CombinedOutput()
	want := "\ndeployq.yaml: apps[web].environments[production]: the kubernetes runner needs deployq-kubernetes next to deployq (" +
		filepath.Join(filepath.Dir(bin), "deployq-kubernetes") + ") or on PATH: make build builds both\ndeployq.yaml: 1 error\n"
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.HasSuffix(string(out), want) {
		t.Fatalf("alone: %v\n%s\nwant exit 1:\n%s", err, out, want)
	}
}

// A server without deployq-kubernetes says so when it starts, and a
// deploy to Kubernetes could not run, saying why; the rest of the
// server works.
func TestServeWithoutDeployqKubernetes(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "deployq.yaml"), []byte(kubernetesConfig), 0o644)
	defer func(b string) { binary = b }(binary)
	binary = alone(t)
	s := startServer(t, dir, []string{"PATH=" + t.TempDir()})
	const why = "the kubernetes runner needs deployq-kubernetes next to deployq ("
	queuetest.Eventually(t, "the server says deploys to Kubernetes will fail", func() bool {
		return strings.Contains(s.stderr.String(), "deploys there will fail: apps[web].environments[production]: "+why)
	})

	c := &client.Client{Base: s.url, User: "alice"}
	d, err := c.Deploy(t.Context(), "web", "production", strings.Repeat("a", 40), false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	got, err := c.Log(t.Context(), d.ID, true, &log)
	if err != nil || got.State != queue.StateFailed || !strings.HasPrefix(got.Error, "could not run: "+why) {
		t.Fatalf("the deploy: %+v, %v\n%s", got, err, log.String())
	}
}
