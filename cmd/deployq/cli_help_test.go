package main_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every command answers --help, -h and `help COMMAND` with its usage and
// exit 0, and does nothing else (serve does not serve, init writes
// nothing).
func TestEveryCommandAnswersHelp(t *testing.T) {
	dir := t.TempDir()
	for _, name := range commands(t) {
		for _, args := range [][]string{{name, "--help"}, {name, "-h"}, {"help", name}, {"--help", name}} {
			out, code := run(t, dir, args...)
			if code != 0 || !strings.HasPrefix(out, "usage: deployq "+name) {
				t.Errorf("deployq %s: exit %d\n%s", strings.Join(args, " "), code, out)
			}
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("asking for help left %v in %s", entries, dir)
	}
	out, code := run(t, dir, "deploy", "--help")
	mustContain(t, "deploy --help", out, "--follow, -f", "--server URL", "--token TOKEN", "$DEPLOYQ_TOKEN")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
}

// What deployq cannot read exits 2 with the usage of the command meant.
func TestUsageErrors(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"deploy", "--forse", "web"}, "deployq deploy: unknown flag --forse\nusage: deployq deploy [--force]"},
		{[]string{"serve", "--log-format", "xml"}, `--log-format: want text or json, got "xml"`},
		{[]string{"history", "web", "--limit"}, "--limit needs a value (N)\nusage: deployq history"},
		{[]string{"queue", "--follow"}, "unknown flag --follow\nusage: deployq queue [ENV]"},
		{[]string{"--server", "http://x", "serve"}, "--server and --token are for the client commands"},
		{[]string{"--bogus", "queue"}, "unknown flag --bogus"},
		{[]string{"depoly"}, `unknown command "depoly"`},
		{[]string{}, "usage: deployq [--server URL] [--token TOKEN] COMMAND"},
	}
	for _, c := range cases {
		out, code := run(t, t.TempDir(), c.args...)
		if code != 2 || !strings.Contains(out, c.want) {
			t.Errorf("deployq %s: exit %d, want 2 and %q:\n%s", strings.Join(c.args, " "), code, c.want, out)
		}
	}
}

// --server and --token may come before the command or after it, and win
// over $DEPLOYQ_SERVER and $DEPLOYQ_TOKEN.
func TestGlobalFlags(t *testing.T) {
	dir := t.TempDir()
	cfg := `server:
  api_tokens: [{name: alice, token: alice-token-0123456789}]
apps:
  - name: web
    environments:
      - {name: staging, runner: shell, shell: {command: "true"}}
`
	os.WriteFile(filepath.Join(dir, "deployq.yaml"), []byte(cfg), 0o644)
	s := startServer(t, dir, nil)
	wrong := []string{"DEPLOYQ_SERVER=http://127.0.0.1:1", "DEPLOYQ_TOKEN=wrong-token"}
	for _, args := range [][]string{
		{"--server", s.url, "--token", "alice-token-0123456789", "lock", "staging", ":", "release"},
		{"--server=" + s.url, "--token=alice-token-0123456789", "unlock", "staging"},
		{"lock", "--server", s.url, "staging", "--token", "alice-token-0123456789"},
		{"--server", "http://127.0.0.1:1", "unlock", "--server", s.url, "--token=alice-token-0123456789", "staging"},
	} {
		out, code := s.cli(t, wrong, "", args...)
		if code != 0 || !strings.Contains(out, "staging") || !strings.Contains(out, "alice") {
			t.Fatalf("deployq %s: exit %d\n%s", strings.Join(args, " "), code, out)
		}
	}
	out, code := s.cli(t, nil, "", "--token", "wrong-token", "queue")
	if code != 1 || !strings.Contains(out, "missing or unknown bearer token") {
		t.Fatalf("a wrong --token: exit %d\n%s", code, out)
	}
	out, code = s.cli(t, []string{"DEPLOYQ_TOKEN=alice-token-0123456789"}, "", "queue")
	if code != 0 || !strings.Contains(out, "web  staging") {
		t.Fatalf("$DEPLOYQ_TOKEN: exit %d\n%s", code, out)
	}
	// A reason is kept as typed, dashes and all.
	out, code = s.cli(t, nil, "", "--token", "alice-token-0123456789", "lock", "staging", ":", "--force", "is", "banned")
	if code != 0 {
		t.Fatalf("lock: exit %d\n%s", code, out)
	}
	out, _ = s.cli(t, nil, "", "--token", "alice-token-0123456789", "queue")
	mustContain(t, "queue", out, fmt.Sprintf("alice: %s", "--force is banned"))
}
