package main_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	main "github.com/deployq/deployq/cmd/deployq"
	"github.com/deployq/deployq/internal/queuetest"
)

// The demo's start banner names the server in its commands when it is
// not the default one, and its deploy command works as printed.
func TestDemoBannerNamesTheServer(t *testing.T) {
	var banner syncBuffer
	m := main.NewMain(&banner, &syncBuffer{})
	m.Listen, m.DataDir = "127.0.0.1:0", filepath.Join(t.TempDir(), "data")
	if err := m.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { MustCloseMain(t, m) })
	if !m.Demo {
		t.Fatal("no config, but not the demo")
	}
	var deploy []string
	for _, line := range strings.Split(banner.String(), "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "./bin/deployq --server "+m.URL+" deploy "); ok {
			deploy = append([]string{"--server", m.URL, "deploy"}, strings.Fields(rest)...)
		}
	}
	if deploy == nil {
		t.Fatalf("the banner has no deploy command with --server %s:\n%s", m.URL, banner.String())
	}
	out, code := run(t, t.TempDir(), deploy...)
	if code != 0 || !strings.Contains(out, "web 1.1.0 is live in staging") {
		t.Fatalf("deployq %s: exit %d\n%s", strings.Join(deploy, " "), code, out)
	}

	var plain bytes.Buffer
	main.PrintDemo(&plain, "http://127.0.0.1:8080")
	if strings.Contains(plain.String(), "--server") || !strings.Contains(plain.String(), "./bin/deployq deploy --follow") {
		t.Fatalf("on the default address:\n%s", plain.String())
	}
}

// serve --log-format json writes one JSON object a record; the default
// is text.
func TestServeLogFormat(t *testing.T) {
	cfg := "apps:\n  - name: web\n    environments:\n      - {name: staging, runner: shell, shell: {command: \"true\"}}\n"
	for _, c := range []struct {
		args []string
		json bool
	}{{nil, false}, {[]string{"--log-format", "text"}, false}, {[]string{"--log-format=json"}, true}} {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "deployq.yaml"), []byte(cfg), 0o644)
		s := startServer(t, dir, nil, c.args...)
		queuetest.Eventually(t, "the server logs its start", func() bool { return strings.Contains(s.stderr.String(), "started") })
		s.stop(t)
		sc := bufio.NewScanner(strings.NewReader(s.stderr.String()))
		for sc.Scan() {
			var rec struct{ Level, Msg, Version string }
			err := json.Unmarshal(sc.Bytes(), &rec)
			switch {
			case c.json && (err != nil || rec.Level == "" || rec.Msg == ""):
				t.Errorf("%v: not a JSON record: %s", c.args, sc.Text())
			case c.json && rec.Msg == "started" && rec.Version != "dev":
				t.Errorf("%v: the start says version %q: %s", c.args, rec.Version, sc.Text())
			case !c.json && (err == nil || !strings.HasPrefix(sc.Text(), "time=")):
				t.Errorf("%v: not a text record: %s", c.args, sc.Text())
			}
		}
	}
}
