package main_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A version marked bad from the CLI: its auto-deploy (a push) is refused
// and recorded, saying why; a deploy of it needs --force; unmarked, it
// deploys.
func TestBadSHAThroughTheBinary(t *testing.T) {
	dir := t.TempDir()
	const secret = "bad-sha-webhook-secret"
	cfg := `github:
  webhook_secret: ` + secret + `
apps:
  - name: sample
    repo: binkkatal/sample_app
    default_ref: master
    environments:
      - name: staging
        runner: shell
        shell: {command: "echo deploying $DEPLOY_SHA"}
        auto_deploy: {on: [push]}
`
	os.WriteFile(filepath.Join(dir, "deployq.yaml"), []byte(cfg), 0o644)
	s := startServer(t, dir, nil)
	const pushed = "fd489864e7642b48eaad6e3f155c10e46810ec72" // the sha of the push payload
	alice := []string{"USER=alice"}
	mustContain(t, "mark", s.cliOK(t, alice, "mark", "sample@"+pushed, "bad", ":", "broke checkout"), "marked sample@fd48986 bad")

	code, out := s.push(t, secret, "bad-1")
	if code != 202 || !strings.Contains(out, "fd48986 is marked bad for sample by alice") || !strings.Contains(out, "broke checkout") {
		t.Fatalf("the push: %d %s", code, out)
	}
	history := s.cliOK(t, nil, "history", "sample")
	mustContain(t, "history", history, "#1", "failed")

	if out, code := s.cli(t, alice, "", "deploy", "sample@"+pushed); code == 0 || !strings.Contains(out, "--force") {
		t.Fatalf("a deploy of the bad sha: %d %s", code, out)
	}
	mustContain(t, "deploy --force", s.cliOK(t, alice, "deploy", "--force", "-f", "sample@"+pushed), "deploying "+pushed, "succeeded")
	mustContain(t, "unmark", s.cliOK(t, alice, "unmark", "sample@"+pushed), "no longer marked bad")
	mustContain(t, "a deploy after the unmark", s.cliOK(t, alice, "deploy", "-f", "sample@"+pushed), "succeeded")
}

// push sends the push of github/testdata/push.default-branch.json (a push
// of fd489864 to binkkatal/sample_app's master), signed with secret, as
// delivery, and returns the answer.
func (s *server) push(t *testing.T, secret, delivery string) (int, string) {
	t.Helper()
	body := mustRead(t, filepath.Join("..", "..", "github", "testdata", "push.default-branch.json"))
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	req, _ := http.NewRequest("POST", s.url+"/webhooks/github", strings.NewReader(string(body)))
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Delivery", delivery)
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}
