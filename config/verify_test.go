package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/deployq/deployq/config"
	"github.com/deployq/deployq/queue"
)

// An environment's verification is read and checked, every error at
// once, each naming its line and key.
func TestVerify(t *testing.T) {
	env := func(top, verify string) string {
		return top + "apps:\n  - name: web\n    environments:\n      - name: production\n        runner: shell\n        shell: {command: x}\n        verify:\n" + verify
	}
	c, err := config.Parse("deployq.yaml", []byte(env("prometheus: {url: \"http://127.0.0.1:9090\"}\n", `          for: 5m
          every: 15s
          checks:
            - name: health
              http: {url: "https://{app}.example.com/health", body: ok}
            - name: errors
              prometheus: {query: 'sum(rate(errors{app="{app}"}[1m]))', want: "< 0.01"}
            - command: ./smoke {sha}
              timeout: 30s
`)), kinds)
	if err != nil {
		t.Fatal(err)
	}
	v := c.Apps[0].Environments[0].Verify
	if v == nil || v.For != 5*time.Minute || v.Every != 15*time.Second || v.OnFailure != queue.VerifyRollback || v.Rounds() != 20 || len(v.Checks) != 3 {
		t.Fatalf("%+v", v)
	}
	h, p, cmd := v.Checks[0], v.Checks[1], v.Checks[2]
	if h.Kind != queue.CheckHTTP || h.URL != "https://web.example.com/health" || h.Status != 200 || h.Body != "ok" {
		t.Fatalf("http: %+v", h)
	}
	if p.Kind != queue.CheckPrometheus || p.Server != "http://127.0.0.1:9090" || p.Query != `sum(rate(errors{app="web"}[1m]))` || p.Op != "<" || p.Value != 0.01 {
		t.Fatalf("prometheus: %+v", p)
	}
	if cmd.Kind != queue.CheckCommand || cmd.Name != "command" || cmd.Command != "./smoke {sha}" || cmd.Timeout != 30*time.Second {
		t.Fatalf("command: %+v", cmd)
	}
	_, err = config.Parse("deployq.yaml", []byte(env("", `          every: 1m
          on_failure: page
          checks:
            - name: a
              http: {url: "ftp://x", status: 42, body: "("}
            - prometheus: {query: up, want: "about 3"}
            - http: {url: "http://x"}
              command: true
            - {name: a, command: "true"}
`)), kinds)
	for _, want := range []string{
		"deployq.yaml:8: apps[web].environments[production].verify.for: want how long to verify, such as 5m",
		"deployq.yaml:9: apps[web].environments[production].verify.on_failure: want rollback or alert, got \"page\"",
		"deployq.yaml:12: apps[web].environments[production].verify.checks[0].http.url: want an http or https URL, got \"ftp://x\"",
		"verify.checks[0].http.status: want an HTTP status, got 42",
		"verify.checks[0].http.body: not a regular expression",
		"deployq.yaml:13: apps[web].environments[production].verify.checks[1].prometheus.server: want the Prometheus server's URL (here, or prometheus.url)",
		"verify.checks[1].prometheus.want: want a comparison such as \"< 0.01\", got \"about 3\"",
		"deployq.yaml:14: apps[web].environments[production].verify.checks[2]: want exactly one of http, prometheus and command",
		"deployq.yaml:16: apps[web].environments[production].verify.checks[3].name: check \"a\" twice",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v\nwant %s", err, want)
		}
	}
}
