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

func TestGitHubPushThroughTheBinary(t *testing.T) {
	dir := t.TempDir()
	cfg := `github:
  webhook_secret: "${GITHUB_WEBHOOK_SECRET}"
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
	const secret = "e2e-webhook-secret-0123"
	s := startServer(t, dir, []string{"GITHUB_WEBHOOK_SECRET=" + secret})
	body, err := os.ReadFile(filepath.Join("..", "..", "github", "testdata", "push.default-branch.json"))
	if err != nil {
		t.Fatal(err)
	}
	send := func(signature string) (int, string) {
		req, _ := http.NewRequest("POST", s.url+"/webhooks/github", strings.NewReader(string(body)))
		req.Header.Set("X-GitHub-Event", "push")
		req.Header.Set("X-GitHub-Delivery", "e2e-1")
		req.Header.Set("X-Hub-Signature-256", signature)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := send("sha256=00"); code != 401 {
		t.Fatalf("bad signature: %d", code)
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	if code, out := send("sha256=" + hex.EncodeToString(mac.Sum(nil))); code != 202 || !strings.Contains(out, `"deploys":[1]`) {
		t.Fatalf("%d %s", code, out)
	}
	out, code := s.cli(t, nil, "", "logs", "-f", "1")
	if code != 0 || !strings.Contains(out, "deploying fd489864e7642b48eaad6e3f155c10e46810ec72") {
		t.Fatalf("%d %s", code, out)
	}
}
