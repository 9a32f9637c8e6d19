package main_test

import (
	"bufio"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"html"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/deployq/deployq/config"
	"github.com/deployq/deployq/internal/queuetest"
)

// fakeGitHub plays GitHub's side of the manifest flow: the registration
// page, which sends the browser straight back with a code, the
// conversion, answered with GitHub's documented example, and the App's
// installations (none at first, with installedAfter > 0).
type fakeGitHub struct {
	*httptest.Server
	code           string
	installedAfter int // installation lists that are empty first

	mu          sync.Mutex
	manifest    map[string]any
	conversions int
	lists       int
}

// conversion is GitHub's documented answer to the conversion.
var conversion = func() []byte {
	b, err := os.ReadFile(filepath.Join("..", "..", "github", "testdata", "api", "create-app-from-manifest.201.json"))
	if err != nil {
		panic(err)
	}
	return b
}()

func newFakeGitHub(t *testing.T, installedAfter int) *fakeGitHub {
	f := &fakeGitHub{code: "a180b1a3d263c81bc6441d7b990bae27d4c10679", installedAfter: installedAfter}
	var app struct {
		ID  int64  `json:"id"`
		PEM string `json:"pem"`
	}
	json.Unmarshal(conversion, &app)
	block, _ := pem.Decode([]byte(app.PEM))
	key, err := x509.ParsePKCS1PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	installations, err := os.ReadFile(filepath.Join("..", "..", "github", "testdata", "api", "list-app-installations.200.json"))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	register := func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		if err := json.Unmarshal([]byte(r.PostFormValue("manifest")), &m); err != nil || r.URL.Query().Get("state") == "" {
			http.Error(w, "no manifest or no state", http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		f.manifest = m
		f.mu.Unlock()
		back := m["redirect_url"].(string) + "?" + url.Values{"code": {f.code}, "state": {r.URL.Query().Get("state")}}.Encode()
		http.Redirect(w, r, back, http.StatusFound)
	}
	mux.HandleFunc("POST /settings/apps/new", register)
	mux.HandleFunc("POST /organizations/{org}/settings/apps/new", register)
	mux.HandleFunc("POST /api/v3/app-manifests/{code}/conversions", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.conversions++
		f.mu.Unlock()
		if r.PathValue("code") != f.code {
			http.Error(w, `{"message":"Not Found"}`, http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		w.Write(conversion)
	})
	mux.HandleFunc("GET /api/v3/app/installations", func(w http.ResponseWriter, r *http.Request) {
		if err := checkAppJWT(r, key, app.ID); err != nil {
			http.Error(w, `{"message":"`+err.Error()+`"}`, http.StatusUnauthorized)
			return
		}
		f.mu.Lock()
		f.lists++
		empty := f.lists <= f.installedAfter
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if empty {
			io.WriteString(w, "[]")
			return
		}
		w.Write(installations)
	})
	f.Server = httptest.NewServer(mux)
	t.Cleanup(f.Close)
	return f
}

// The whole flow: the local page, GitHub and back, the credentials kept
// in data_dir for deployq alone, the installation waited for, and a
// config snippet that the server reads.
func TestGitHubAppManifestFlow(t *testing.T) {
	gh := newFakeGitHub(t, 1)
	dir := t.TempDir()
	// The webhook secret's variable is not set yet: the command does not need it.
	cfg := "server:\n  base_url: https://deployq.example.com\n  data_dir: data\ngithub:\n  webhook_secret: ${GITHUB_WEBHOOK_SECRET}\n"
	os.WriteFile(filepath.Join(dir, "deployq.yaml"), []byte(cfg), 0o644)
	p := startGitHubApp(t, dir, "--config", "deployq.yaml", "--github-url", gh.URL, "--api-url", gh.URL)

	// A callback that is not GitHub's answer to this page does nothing.
	resp, err := http.Get(p.page + "callback?code=" + gh.code + "&state=not-it")
	if err != nil || resp.StatusCode != http.StatusBadRequest || gh.conversionsMade() != 0 {
		t.Fatalf("a callback with another state: %v %v, %d conversions", err, resp.Status, gh.conversionsMade())
	}
	resp.Body.Close()
	// Nor does the page answer under another name (a rebound DNS name).
	req, _ := http.NewRequest(http.MethodGet, p.page, nil)
	req.Host = "deployq.attacker.example"
	if resp, err = http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusMisdirectedRequest {
		t.Fatalf("the page under another host name: %v %v", err, resp.Status)
	}
	resp.Body.Close()

	action, manifest := readForm(t, p.page)
	if !strings.HasPrefix(action, gh.URL+"/settings/apps/new?state=") {
		t.Fatalf("the form posts to %s", action)
	}
	resp, err = http.PostForm(action, url.Values{"manifest": {manifest}}) // GitHub sends the browser back
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `href="https://github.com/apps/octoapp/installations/new"`) {
		t.Fatalf("back from GitHub: %s\n%s", resp.Status, body)
	}
	p.wait(t)
	out := p.out.String()

	gh.mu.Lock()
	m := gh.manifest
	gh.mu.Unlock()
	want := map[string]any{"contents": "read", "deployments": "write", "statuses": "read", "checks": "read", "pull_requests": "write", "actions": "write", "metadata": "read"}
	hook := m["hook_attributes"].(map[string]any)
	if !maps.Equal(m["default_permissions"].(map[string]any), want) || m["public"] != false || hook["url"] != "https://deployq.example.com/webhooks/github" ||
		hook["active"] != true || m["redirect_url"] != strings.TrimSuffix(p.page, "/")+"/callback" {
		t.Errorf("the manifest GitHub got: %v", m)
	}

	saved := filepath.Join(dir, "data", "github-app")
	modes := map[string]os.FileMode{saved: os.ModeDir | 0o700}
	for _, name := range []string{"app-1.private-key.pem", "app-1.webhook-secret", "app-1.json"} {
		modes[filepath.Join(saved, name)] = 0o600
	}
	for path, mode := range modes {
		if fi, err := os.Stat(path); err != nil || fi.Mode() != mode {
			t.Errorf("%s: %v, want mode %v", path, err, mode)
		}
	}
	var app struct{ PEM, WebhookSecret string }
	json.Unmarshal(conversion, &struct {
		PEM           *string `json:"pem"`
		WebhookSecret *string `json:"webhook_secret"`
	}{&app.PEM, &app.WebhookSecret})
	if b, _ := os.ReadFile(filepath.Join(saved, "app-1.private-key.pem")); string(b) != app.PEM {
		t.Errorf("the key file holds %q", b)
	}

	// The snippet, with the secret given the way the output says, is a
	// config the server takes.
	snippet := between(t, out, "\ngithub:\n", "\n\n")
	export := between(t, out, "  export GITHUB_WEBHOOK_SECRET=", "\n")
	secret, err := exec.Command("sh", "-c", "export GITHUB_WEBHOOK_SECRET="+export+` && printf %s "$GITHUB_WEBHOOK_SECRET"`).Output()
	if err != nil || string(secret) != app.WebhookSecret {
		t.Fatalf("the export line gives %q (%v)", secret, err)
	}
	t.Setenv("GITHUB_WEBHOOK_SECRET", string(secret))
	c, err := config.Parse("snippet", []byte("github:\n"+snippet+"\n"), nil)
	if err != nil {
		t.Fatalf("%v\n%s", err, snippet)
	}
	g := c.GitHub
	if g.AppID != 1 || g.InstallationID != 1 || g.PrivateKeyFile != filepath.Join(saved, "app-1.private-key.pem") ||
		g.WebhookSecret != app.WebhookSecret || g.APIURL != gh.URL {
		t.Errorf("config: %+v", g)
	}
	if !strings.Contains(out, "Installed on octocat (installation 1)") || !strings.Contains(out, "no webhook per repository") {
		t.Errorf("output:\n%s", out)
	}
}

// Stopped before the App is installed, the command says how to finish.
func TestGitHubAppStoppedBeforeTheInstallation(t *testing.T) {
	gh := newFakeGitHub(t, 1<<30)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "deployq.yaml"), []byte("server:\n  base_url: https://deployq.example.com\n  data_dir: data\ngithub:\n  mode: poll\n"), 0o644)
	p := startGitHubApp(t, dir, "--github-url", gh.URL, "--api-url", gh.URL+"/api/v3", "--org", "acme")
	action, manifest := readForm(t, p.page)
	if !strings.HasPrefix(action, gh.URL+"/organizations/acme/settings/apps/new?state=") {
		t.Fatalf("the form posts to %s", action)
	}
	resp, err := http.PostForm(action, url.Values{"manifest": {manifest}})
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatal(err, resp.Status)
	}
	resp.Body.Close()
	queuetest.Eventually(t, "GitHub is asked for the installations", func() bool {
		gh.mu.Lock()
		defer gh.mu.Unlock()
		return gh.lists > 0
	})
	p.cmd.Process.Signal(syscall.SIGINT)
	p.wait(t)
	out := p.out.String()
	for _, want := range []string{"installation_id: INSTALLATION_ID", "To find INSTALLATION_ID", "https://github.com/apps/octoapp/installations/new"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
	if strings.Contains(out, "webhook per repository") {
		t.Errorf("webhooks talked of in poll mode:\n%s", out)
	}
	gh.mu.Lock()
	defer gh.mu.Unlock()
	if gh.manifest["hook_attributes"].(map[string]any)["active"] != false {
		t.Errorf("an active webhook in poll mode: %v", gh.manifest)
	}
}

// githubAppRun is a running `deployq github-app`.
type githubAppRun struct {
	cmd  *exec.Cmd
	page string // its local page, http://127.0.0.1:port/
	out  *syncBuffer
	done chan error
}

// startGitHubApp runs `deployq github-app` in dir and waits for its page.
func startGitHubApp(t *testing.T, dir string, args ...string) *githubAppRun {
	t.Helper()
	p := &githubAppRun{cmd: exec.Command(binary, append([]string{"github-app"}, args...)...), out: &syncBuffer{}, done: make(chan error, 1)}
	p.cmd.Dir = dir
	p.cmd.Env = slices.DeleteFunc(os.Environ(), func(v string) bool { return strings.HasPrefix(v, "GITHUB_") })
	p.cmd.Stderr = p.out
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	opened := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.out.Write([]byte(sc.Text() + "\n"))
			if m := regexp.MustCompile(`^Open (http://127\.0\.0\.1:\d+/) `).FindStringSubmatch(sc.Text()); m != nil {
				opened <- m[1]
			}
		}
		p.done <- p.cmd.Wait()
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
		}
	})
	select {
	case p.page = <-opened:
	case <-time.After(queuetest.Patience):
		t.Fatalf("no page:\n%s", p.out.String())
	}
	return p
}

// wait waits for the command to end, and wants it to end well.
func (p *githubAppRun) wait(t *testing.T) {
	t.Helper()
	select {
	case err := <-p.done:
		p.done <- err
		if err != nil {
			t.Fatalf("%v\n%s", err, p.out.String())
		}
	case <-time.After(queuetest.Patience):
		t.Fatalf("still running:\n%s", p.out.String())
	}
}

func (f *fakeGitHub) conversionsMade() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.conversions
}

var (
	formAction   = regexp.MustCompile(`<form action="([^"]+)" method="post">`)
	formManifest = regexp.MustCompile(`<input type="hidden" name="manifest" value="([^"]+)">`)
)

// readForm reads the form of the local page: where it posts, and the
// manifest it posts.
func readForm(t *testing.T, page string) (action, manifest string) {
	t.Helper()
	resp, err := http.Get(page)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a, m := formAction.FindSubmatch(b), formManifest.FindSubmatch(b)
	if resp.StatusCode != http.StatusOK || a == nil || m == nil {
		t.Fatalf("%s\n%s", resp.Status, b)
	}
	return html.UnescapeString(string(a[1])), html.UnescapeString(string(m[1]))
}

// between is the text of s after the first start, up to end.
func between(t *testing.T, s, start, end string) string {
	t.Helper()
	_, rest, ok := strings.Cut(s, start)
	if !ok {
		t.Fatalf("no %q in:\n%s", start, s)
	}
	rest, _, _ = strings.Cut(rest, end)
	return rest
}

// checkAppJWT checks that r carries a JWT signed (RS256) with key and
// issued by the App.
func checkAppJWT(r *http.Request, key *rsa.PrivateKey, appID int64) error {
	jwt, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	parts := strings.Split(jwt, ".")
	if !ok || len(parts) != 3 {
		return fmt.Errorf("no JWT")
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	if rsa.VerifyPKCS1v15(&key.PublicKey, crypto.SHA256, sum[:], sig) != nil {
		return fmt.Errorf("bad signature")
	}
	claims, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var c struct {
		Iss any `json:"iss"`
	}
	json.Unmarshal(claims, &c)
	if fmt.Sprint(c.Iss) != strconv.FormatInt(appID, 10) {
		return fmt.Errorf("issued by %v", c.Iss)
	}
	return nil
}
