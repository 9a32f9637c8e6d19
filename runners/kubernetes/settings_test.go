package kubernetes_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	kuberunner "github.com/deployq/deployq/runners/kubernetes"
)

// caPEM is a self-signed CA certificate.
func caPEM(t *testing.T) []byte {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// kubeconfig writes a kubeconfig with one context, "test", whose cluster
// has the CA data given, and returns its path.
func kubeconfig(t *testing.T, server string, ca []byte) string {
	t.Helper()
	text := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: test
  cluster: {server: %q, certificate-authority-data: %s}
users:
- name: deployq
  user: {token: abc}
contexts:
- name: test
  context: {cluster: test, user: deployq}
current-context: test
`, server, base64.StdEncoding.EncodeToString(ca))
	p := filepath.Join(t.TempDir(), "kubeconfig")
	os.WriteFile(p, []byte(text), 0o600)
	return p
}

// Validate loads the kubeconfig as a deploy would: it must parse, have
// the context, and its certificates must parse; image templates in
// manifests are checked like the targets'.
func TestValidateKubeconfigAndManifests(t *testing.T) {
	web := []kuberunner.Target{{Workload: "deployment/web", Containers: map[string]string{"web": "registry/web:{sha}"}}}
	good := kubeconfig(t, "https://127.0.0.1:6443", caPEM(t))
	ok := kuberunner.Settings{Kubeconfig: good, Targets: web}
	if err := ok.Validate(); err != nil {
		t.Fatalf("good kubeconfig: %v", err)
	}
	garbage := filepath.Join(t.TempDir(), "kubeconfig")
	os.WriteFile(garbage, []byte("clusters: [\n"), 0o600)
	manifests := t.TempDir()
	os.WriteFile(filepath.Join(manifests, "web.yaml"), []byte(`apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  template:
    spec:
      containers: [{name: web, image: "registry/web:{sah}"}]
`), 0o644)
	for _, c := range []struct {
		name string
		s    kuberunner.Settings
		want string
	}{
		{"Garbage", kuberunner.Settings{Kubeconfig: garbage, Targets: web}, "kubeconfig " + garbage + ": "},
		{"Missing", kuberunner.Settings{Kubeconfig: "/nonexistent/kubeconfig", Targets: web}, "kubeconfig /nonexistent/kubeconfig: open /nonexistent/kubeconfig: no such file or directory"},
		{"NoSuchContext", kuberunner.Settings{Kubeconfig: good, Context: "prod-eu", Targets: web}, `kubeconfig ` + good + `: no context "prod-eu" (contexts: test)`},
		{"GarbageCA", kuberunner.Settings{Kubeconfig: kubeconfig(t, "https://127.0.0.1:6443", []byte("-----BEGIN CERTIFICATE-----\nZ2FyYmFnZQ==\n-----END CERTIFICATE-----\n")), Targets: web},
			"unable to load root certificates"},
		{"ManifestPlaceholder", kuberunner.Settings{Manifests: manifests}, "manifests Deployment/web: unknown placeholder {sah}"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.s.Validate()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want %q", err, c.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []struct {
		s    kuberunner.Settings
		want string
	}{
		{kuberunner.Settings{}, "targets or manifests is required"},
		{kuberunner.Settings{Targets: []kuberunner.Target{{Workload: "web", Containers: map[string]string{"web": "x"}}}}, "want kind/name"},
		{kuberunner.Settings{Targets: []kuberunner.Target{{Workload: "job/web", Containers: map[string]string{"web": "x"}}}}, "kind must be deployment, statefulset or daemonset"},
		{kuberunner.Settings{Targets: []kuberunner.Target{{Workload: "deployment/web"}}}, "containers is required"},
		{kuberunner.Settings{Targets: []kuberunner.Target{{Workload: "deployment/web", Containers: map[string]string{"web": "x:{sah}"}}}}, "unknown placeholder {sah}"},
		{kuberunner.Settings{Manifests: "/nonexistent"}, "not a directory"},
	} {
		err := c.s.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: got %v, want %q", c.s, err, c.want)
		}
	}
	for _, w := range []string{"Deployment/web", "deploy/web", "sts/db", "daemonsets/agent"} {
		ok := kuberunner.Settings{Targets: []kuberunner.Target{{Workload: w, Containers: map[string]string{"web": "registry/web:{sha}"}}}}
		if err := ok.Validate(); err != nil {
			t.Error(err)
		}
	}
}

// Probe asks the real API server its version and reads each target, as
// a deploy would; an API server that is not there says so. Settings.Probe
// finds deployq-kubernetes on PATH here.
func TestProbe(t *testing.T) {
	ctx, ns := needCluster(t)
	t.Setenv("PATH", filepath.Dir(kubeBin))
	createDeployment(t, ctx, ns, "web", "registry.example.com/web:old", 1, 600)
	st := settings(ns, kuberunner.Target{Workload: "deployment/web", Containers: map[string]string{"web": "x:{sha}"}},
		kuberunner.Target{Workload: "deployment/api", Containers: map[string]string{"api": "x:{sha}"}})
	if err := st.Validate(); err != nil {
		t.Fatal(err)
	}
	var got []string
	report := func(what string, err error) {
		if err != nil {
			what += ": FAIL " + err.Error()
		}
		got = append(got, what)
	}
	pctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	st.Probe(pctx, report)
	// the test stack's apiserver is built without a version stamp
	if len(got) > 0 && strings.HasPrefix(got[0], cluster.Kubeconfig+" context deployq-test: API server answers, Kubernetes v") {
		got[0] = "(version)"
	}
	want := []string{
		"(version)",
		"deployment/web in namespace " + ns + ": found",
		"deployment/api in namespace " + ns + `: FAIL deployments.apps "api" not found`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	gone := kuberunner.Settings{Kubeconfig: kubeconfig(t, "https://"+addr, caPEM(t)), Targets: st.Targets}
	got = nil
	gone.Probe(pctx, report)
	if len(got) != 1 || !strings.Contains(got[0], ": FAIL the API server does not answer: ") || !strings.Contains(got[0], "connection refused") {
		t.Fatalf("got %q", got)
	}
	noChildren(t, kuberunner.Executable)
}
