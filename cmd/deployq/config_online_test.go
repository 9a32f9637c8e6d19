package main_test

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deployq/deployq/internal/gittest"
	"github.com/deployq/deployq/internal/kubetest"
	"github.com/deployq/deployq/internal/sshfleet"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func readFixture(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fakeSlack answers auth.test with Slack's example for the token
// xoxb-good, and invalid_auth for any other.
func fakeSlack(t *testing.T) *httptest.Server {
	ok := readFixture(t, "../../bot/slack/testdata/fixtures/auth.test.response.ok.json")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.URL.Path != "/api/auth.test":
			http.NotFound(w, r)
		case r.FormValue("token") == "xoxb-good":
			w.Write(ok)
		default:
			w.Write([]byte(`{"error": "invalid_auth", "ok": false}`))
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// fakeGitHub is GitHub's API for the App 12345 whose key is key,
// installed (installation 1) with access to octocat/Hello-World. The App's
// calls must carry a JWT signed with the key; the repository's, the
// installation token.
func fakeGitHubForChecks(t *testing.T, key *rsa.PrivateKey) *httptest.Server {
	dir := "testdata/checkconfig/"
	installation, token, repo := readFixture(t, dir+"app-installation.200.json"), readFixture(t, dir+"installation-token.201.json"),
		readFixture(t, dir+"full-repository.200.json")
	var tok struct{ Token string }
	json.Unmarshal(token, &tok)
	jwtOK := func(r *http.Request) bool {
		jwt, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		parts := strings.Split(jwt, ".")
		if len(parts) != 3 {
			return false
		}
		sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
		sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
		claims, _ := base64.RawURLEncoding.DecodeString(parts[1])
		var c struct{ Iss any }
		json.Unmarshal(claims, &c)
		return rsa.VerifyPKCS1v15(&key.PublicKey, crypto.SHA256, sum[:], sig) == nil && fmt.Sprint(c.Iss) == "12345"
	}
	answer := func(w http.ResponseWriter, status int, body []byte) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write(body)
	}
	notFound := []byte(`{"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}`)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v3/app/installations/{id}", func(w http.ResponseWriter, r *http.Request) {
		switch {
		case !jwtOK(r):
			answer(w, http.StatusUnauthorized, []byte(`{"message": "A JSON web token could not be decoded"}`))
		case r.PathValue("id") != "1":
			answer(w, http.StatusNotFound, notFound)
		default:
			answer(w, http.StatusOK, installation)
		}
	})
	mux.HandleFunc("POST /api/v3/app/installations/1/access_tokens", func(w http.ResponseWriter, r *http.Request) {
		if !jwtOK(r) {
			answer(w, http.StatusUnauthorized, []byte(`{"message": "A JSON web token could not be decoded"}`))
			return
		}
		answer(w, http.StatusCreated, token)
	})
	mux.HandleFunc("GET /api/v3/repos/{owner}/{repo}", func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Header.Get("Authorization") != "token "+tok.Token:
			answer(w, http.StatusUnauthorized, []byte(`{"message": "Bad credentials"}`))
		case r.PathValue("owner")+"/"+r.PathValue("repo") != "octocat/Hello-World":
			answer(w, http.StatusNotFound, notFound)
		default:
			answer(w, http.StatusOK, repo)
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// silentHost takes connections and never says a word.
func silentHost(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	return l.Addr().String()
}

const onlineConfig = `slack:
  bot_token: %s
  app_token: xapp-1
  api_url: %s/api/
github:
  webhook_secret: 0123456789abcdef
  app_id: 12345
  installation_id: %d
  private_key_file: %s
  api_url: %s
apps:
  - name: web
    repo: octocat/Hello-World
    git: %s
    environments:
      - name: production
        runner: ssh
        ssh:
          hosts: [%s]
          key_files: [%s]
          known_hosts: %s
          steps: [{name: install, command: "deploy-app install {sha}"}]
`

// check-config --online reaches a (fake) Slack and GitHub, the app's
// real git, and real ssh hosts: a line for each check, ok or why not,
// and status 1 when one failed.
func TestCheckConfigOnline(t *testing.T) {
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "app.pem")
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600)
	slack, github := fakeSlack(t), fakeGitHubForChecks(t, key)
	repo := gittest.New(t)
	sha := repo.Commit("one", map[string]string{"VERSION": "1"})
	fleet, err := sshfleet.Start(t.TempDir(), 3)
	if err != nil {
		t.Fatal(err)
	}
	defer fleet.Close()
	h0, h1, h2 := fleet.Hosts[0].Name, fleet.Hosts[1].Name, fleet.Hosts[2].Name
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(text), 0o644)
		return p
	}

	t.Run("AllOK", func(t *testing.T) {
		write("good.yaml", fmt.Sprintf(onlineConfig, "xoxb-good", slack.URL, 1, keyFile, github.URL, repo.Bare,
			h0+", "+h1, fleet.KeyFile, fleet.KnownHosts))
		out, code := checkConfigIn(t, dir, "--config", "good.yaml", "--online")
		want := fmt.Sprintf(`good.yaml: ok, 1 apps, 1 environments
ok    slack auth.test: bot grace in Subarachnoid Workspace (T12345678)
ok    github App 12345, installation 1: installed on octocat (selected repositories)
ok    github repo octocat/Hello-World: readable
ok    git web ls-remote %s: main at %s
ok    ssh web/production root@%s: host key in known_hosts, login accepted
ok    ssh web/production root@%s: host key in known_hosts, login accepted
online: 6 checks ok
`, repo.Bare, sha[:7], h0, h1)
		if code != 0 || out != want {
			t.Fatalf("exit %d:\n%s\nwant exit 0:\n%s", code, out, want)
		}
	})

	t.Run("EachFailureSaysWhy", func(t *testing.T) {
		// host 1's line in known_hosts carries another key; host 2 is down
		_, other, _ := ed25519.GenerateKey(rand.Reader)
		otherPub, _ := ssh.NewPublicKey(other.Public())
		b, _ := os.ReadFile(fleet.KnownHosts)
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		lines[1] = knownhosts.Line([]string{knownhosts.Normalize(h1)}, otherPub)
		known := write("known_hosts", strings.Join(lines, "\n")+"\n")
		fleet.Hosts[2].Stop()
		silent := silentHost(t)
		write("bad.yaml", fmt.Sprintf(onlineConfig, "xoxb-revoked", slack.URL, 2, keyFile, github.URL, filepath.Join(dir, "nowhere.git"),
			strings.Join([]string{h0, h1, h2, silent}, ", "), fleet.KeyFile, known))
		start := time.Now()
		out, code := checkConfigIn(t, dir, "--config", "bad.yaml", "--online", "--timeout", "3s")
		want := []string{
			"bad.yaml: ok, 1 apps, 1 environments",
			"FAIL  slack auth.test with the bot token: invalid_auth",
			"FAIL  github App 12345, installation 2: GET /api/v3/app/installations/2: 404 Not Found",
			"FAIL  git web ls-remote " + filepath.Join(dir, "nowhere.git") + ": exit status 128: fatal: '" + filepath.Join(dir, "nowhere.git") + "' does not appear to be a git repository",
			"ok    ssh web/production root@" + h0 + ": host key in known_hosts, login accepted",
			"FAIL  ssh web/production root@" + h1 + ": host key changed: it does not match known_hosts",
			"FAIL  ssh web/production root@" + h2 + ": dial tcp " + h2 + ": connect: connection refused",
			"FAIL  ssh web/production root@" + silent + ": no answer in time: context deadline exceeded",
			"online: 6 of 7 checks failed",
		}
		got := strings.Split(strings.TrimSpace(out), "\n")
		if code != 1 || len(got) != len(want) {
			t.Fatalf("exit %d:\n%s", code, out)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("line %d:\n got %s\nwant %s", i+1, got[i], want[i])
			}
		}
		if took := time.Since(start); took > 30*time.Second {
			t.Errorf("took %s with a 3s timeout for each check", took)
		}
	})
}

// check-config --online asks the real Kubernetes API for its version and
// reads each target workload.
func TestCheckConfigOnlineKubernetes(t *testing.T) {
	if missing := kubetest.Missing(); len(missing) > 0 {
		msg := fmt.Sprintf("kubernetes test binaries missing in %s: %s (go run ./internal/kubetest/build)", kubetest.BinDir(), strings.Join(missing, ", "))
		if os.Getenv(kubetest.RequiredEnv) != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cluster, err := kubetest.Start(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	ns, err := cluster.Namespace(ctx, "cfg")
	if err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{"app": "web"}
	_, err = cluster.Client.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "registry.example.com/web:old"}}}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := fmt.Sprintf(`apps:
  - name: web
    git: /srv/git/web.git
    environments:
      - name: production
        runner: kubernetes
        kubernetes:
          kubeconfig: %s
          context: deployq-test
          namespace: %s
          targets:
            - {workload: deployment/web, containers: {web: "registry.example.com/web:{sha}"}}
            - {workload: deployment/api, containers: {api: "registry.example.com/api:{sha}"}}
`, cluster.Kubeconfig, ns)
	os.WriteFile(filepath.Join(dir, "deployq.yaml"), []byte(cfg), 0o644)
	out, code := checkConfigIn(t, dir, "--online", "--timeout", "20s")
	// /srv/git/web.git is not there: its line fails too
	want := []string{
		"deployq.yaml: ok, 1 apps, 1 environments",
		"FAIL  git web ls-remote /srv/git/web.git: ",
		"ok    kubernetes web/production " + cluster.Kubeconfig + " context deployq-test: API server answers, Kubernetes v",
		"ok    kubernetes web/production deployment/web in namespace " + ns + ": found",
		"FAIL  kubernetes web/production deployment/api in namespace " + ns + `: deployments.apps "api" not found`,
		"online: 2 of 4 checks failed",
	}
	got := strings.Split(strings.TrimSpace(out), "\n")
	if code != 1 || len(got) != len(want) {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("line %d:\n got %s\nwant %s", i+1, got[i], want[i])
		}
	}
}
