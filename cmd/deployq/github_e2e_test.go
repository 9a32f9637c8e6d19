package main_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
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
people:
  - {name: bink, github: [binkkatal]}
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
	send := func(signature string, delivery ...string) (int, string) {
		req, _ := http.NewRequest("POST", s.url+"/webhooks/github", strings.NewReader(string(body)))
		req.Header.Set("X-GitHub-Event", "push")
		req.Header.Set("X-GitHub-Delivery", "e2e-1")
		if len(delivery) > 0 {
			req.Header.Set("X-GitHub-Delivery", delivery[0])
		}
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
	signature := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	if code, out := send(signature); code != 202 || !strings.Contains(out, `"deploys":[1]`) {
		t.Fatalf("%d %s", code, out)
	}
	out, code := s.cli(t, nil, "", "logs", "-f", "1")
	if code != 0 || !strings.Contains(out, "deploying fd489864e7642b48eaad6e3f155c10e46810ec72") {
		t.Fatalf("%d %s", code, out)
	}
	// The pusher is the person the config lists with that login.
	resp, err := http.Get(s.url + "/api/v1/deploys/1")
	if err != nil {
		t.Fatal(err)
	}
	var d struct{ User string }
	json.NewDecoder(resp.Body).Decode(&d)
	resp.Body.Close()
	if d.User != "bink" {
		t.Fatalf("deploy #1 by %q", d.User)
	}
	// The same signed push, replayed under a new delivery id, or with none.
	if code, out := send(signature, "e2e-replayed"); code != 200 || !strings.Contains(out, `"duplicate":true`) {
		t.Fatalf("replayed: %d %s", code, out)
	}
	if code, out := send(signature, ""); code != 400 || !strings.Contains(out, "X-GitHub-Delivery") {
		t.Fatalf("without a delivery id: %d %s", code, out)
	}
	resp, err = http.Get(s.url + "/api/v1/deploys")
	if err != nil {
		t.Fatal(err)
	}
	var all []struct{ ID int64 }
	json.NewDecoder(resp.Body).Decode(&all)
	resp.Body.Close()
	if len(all) != 1 {
		t.Fatalf("%d deploys", len(all))
	}
}
