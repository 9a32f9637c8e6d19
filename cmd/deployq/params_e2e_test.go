package main_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Typed deploy parameters through the binary: checked before the deploy
// is queued, in the CLI (--param and "with"), the API and chat; passed
// to the command as DEPLOY_PARAM_* and quoted {param.*} placeholders (a
// value with $() stays text); kept with the deploy, and reused by a
// rollback to it.
func TestDeployParametersThroughTheBinary(t *testing.T) {
	dir := t.TempDir()
	pwned := filepath.Join(dir, "pwned")
	cfg := `apps:
  - name: web
    default_env: production
    environments:
      - name: production
        runner: shell
        shell: {command: "echo migrate=$DEPLOY_PARAM_MIGRATE region={param.region} note={param.note}"}
        parameters:
          - {name: migrate, type: bool, default: "false"}
          - {name: region, type: enum, values: [eu, us], required: true}
          - {name: note, type: string, max: 120}
`
	os.WriteFile(filepath.Join(dir, "deployq.yaml"), []byte(cfg), 0o644)
	s := startServer(t, dir, nil)
	sha := func(n int) string { return fmt.Sprintf("web@%040x", n) }

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"deploy", sha(1)}, "parameter region is required in production (eu, us)"},
		{[]string{"deploy", sha(1), "--param", "region=asia"}, "parameter region: want one of eu, us, got \"asia\""},
		{[]string{"deploy", sha(1), "--param", "region=eu", "--param", "migrate=maybe"}, "parameter migrate: want true or false"},
		{[]string{"deploy", sha(1), "with", "region=eu", "color=red"}, "unknown parameter \"color\" for production (parameters: migrate, region, note)"},
	} {
		if out, code := s.cli(t, nil, "", c.args...); code == 0 || !strings.Contains(out, c.want) {
			t.Fatalf("%v: %d %s, want %q", c.args, code, out, c.want)
		}
	}
	if out := s.cliOK(t, nil, "history", "web"); strings.Contains(out, "#1") {
		t.Fatalf("a refused deploy was queued:\n%s", out)
	}

	// the CLI: the note's $() is text, never run
	out := s.cliOK(t, nil, "deploy", "-f", sha(1), "--param", "region=eu", "--param", "note=$(touch "+pwned+")")
	mustContain(t, "#1", out, "parameters: migrate=false note=$(touch", "migrate=false region=eu note=$(touch "+pwned+")", "succeeded")
	if _, err := os.Stat(pwned); err == nil {
		t.Fatal("a parameter's $() ran")
	}
	// with, in the CLI's sentence
	mustContain(t, "#2", s.cliOK(t, nil, "deploy", "-f", sha(2), "with", "region=us", "migrate=yes"), "migrate=true region=us", "succeeded")

	// the API, and chat through it
	post := func(path, body string) map[string]any {
		resp, err := http.Post(s.url+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v map[string]any
		json.NewDecoder(resp.Body).Decode(&v)
		if resp.StatusCode/100 != 2 {
			t.Fatalf("%s %s: %d %v", path, body, resp.StatusCode, v)
		}
		return v
	}
	post("/api/v1/deploys", fmt.Sprintf(`{"app":"web","ref":"%040x","params":{"region":"eu","note":"from the API"}}`, 3))
	mustContain(t, "#3", s.cliOK(t, nil, "logs", "-f", "3"), "migrate=false region=eu note=from the API", "succeeded")
	post("/api/v1/chat", fmt.Sprintf(`{"text":"deploy web@%040x with region=us"}`, 4))
	mustContain(t, "#4", s.cliOK(t, nil, "logs", "-f", "4"), "region=us", "succeeded")

	resp, err := http.Get(s.url + "/api/v1/deploys/2")
	if err != nil {
		t.Fatal(err)
	}
	var d struct{ Params map[string]string }
	json.NewDecoder(resp.Body).Decode(&d)
	resp.Body.Close()
	if d.Params["region"] != "us" || d.Params["migrate"] != "true" {
		t.Fatalf("#2's parameters: %v", d.Params)
	}
	// a rollback to #2 runs with #2's parameters
	mustContain(t, "rollback", s.cliOK(t, nil, "rollback", "-f", "web", "to", "#2"), "migrate=true region=us", "succeeded")
	mustContain(t, "audit", s.cliOK(t, nil, "audit"), "migrate=true region=us")
}
