package main_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/deployq/deployq/internal/gittest"
	"github.com/deployq/deployq/internal/queuetest"
)

// team serves web (staging; production, where deploys need an approval)
// to alice (an admin), bob and carol, and returns the server and each
// one's environment for the CLI. Production's deploys run command.
func team(t *testing.T, command string) (s *server, alice, bob, carol []string) {
	repo := gittest.New(t)
	repo.Commit("one", map[string]string{"VERSION": "1"})
	repo.Tag("v1", "")
	repo.Commit("two", map[string]string{"VERSION": "2"})
	repo.Tag("v2", "")
	dir := t.TempDir()
	cfg := fmt.Sprintf(`server:
  api_tokens:
    - {name: alice, token: alice-token-0123456789}
    - {name: bob, token: bob-token-0123456789ab}
    - {name: carol, token: carol-token-0123456789}
admins: [alice]
apps:
  - name: web
    git: %s
    environments:
      - {name: staging, runner: shell, shell: {command: "echo deployed {ref}"}}
      - name: production
        runner: shell
        shell: {command: %q}
        approvals: {required: 1}
`, repo.Bare, command)
	os.WriteFile(filepath.Join(dir, "deployq.yaml"), []byte(cfg), 0o644)
	token := func(t string) []string { return []string{"DEPLOYQ_TOKEN=" + t} }
	return startServer(t, dir, nil), token("alice-token-0123456789"), token("bob-token-0123456789ab"), token("carol-token-0123456789")
}

// cliOK runs a client command that must succeed and say each of wants.
func (s *server) cliOK(t *testing.T, env []string, args ...string) string {
	t.Helper()
	out, code := s.cli(t, env, "", args...)
	if code != 0 {
		t.Fatalf("deployq %s: exit %d\n%s", strings.Join(args, " "), code, out)
	}
	return out
}

// cliFails runs a client command that must fail (exit 1) saying want.
func (s *server) cliFails(t *testing.T, env []string, want string, args ...string) {
	t.Helper()
	out, code := s.cli(t, env, "", args...)
	if code != 1 || !strings.Contains(out, want) {
		t.Fatalf("deployq %s: exit %d, want 1 and %q:\n%s", strings.Join(args, " "), code, want, out)
	}
}

// The CLI does what chat does: promote, approve and reject, continue,
// freeze and unfreeze, unlock all, history, where and audit.
func TestCLIReleasePolicies(t *testing.T) {
	s, alice, bob, carol := team(t, "echo deployed {ref}")
	mustContain(t, "deploy", s.cliOK(t, alice, "deploy", "--follow", "web@v1"), "#1 queued: web@v1", "deployed v1", "#1 succeeded")

	mustContain(t, "promote", s.cliOK(t, bob, "promote", "web", "from", "staging", "to", "production"), "#2 waiting (", "to production")
	s.cliFails(t, bob, "someone else must approve it", "approve", "2")
	mustContain(t, "approve", s.cliOK(t, alice, "approve", "#2"), "#2 approved: queued")
	mustContain(t, "the promotion", s.cliOK(t, alice, "logs", "-f", "2"), "deployed ", "#2 succeeded")
	s.cliFails(t, alice, "#2 is succeeded, not paused", "continue", "2")

	s.cliOK(t, bob, "deploy", "web@v2", "to", "production")
	mustContain(t, "reject", s.cliOK(t, carol, "reject", "3", ":", "not", "on", "a", "Friday"), "#3 rejected: ", "not on a Friday")

	mustContain(t, "freeze", s.cliOK(t, alice, "freeze", "production", "for", "1h", ":", "release"), "froze production until ", ": release")
	s.cliFails(t, bob, "frozen", "deploy", "web@v2", "to", "production")
	mustContain(t, "unfreeze", s.cliOK(t, alice, "unfreeze", "production"), "unfroze production (frozen by alice for ")

	s.cliOK(t, bob, "lock", "staging")
	s.cliOK(t, carol, "lock", "web", "in", "production")
	s.cliFails(t, bob, "bob may not unlock all (admins: alice)", "unlock", "all")
	mustContain(t, "unlock all", s.cliOK(t, alice, "unlock", "all"), "unlocked staging (held by bob)", "unlocked web in production (held by carol)")

	history := s.cliOK(t, bob, "history", "web")
	for _, row := range []string{`#3 +production +canceled +v2 .* bob .*not on a Friday`, `#2 +production +succeeded +v1 .* bob `, `#1 +staging +succeeded +v1 .* alice `} {
		if !regexp.MustCompile(row).MatchString(history) {
			t.Errorf("history lacks %s:\n%s", row, history)
		}
	}
	if !(strings.Index(history, "#3") < strings.Index(history, "#2") && strings.Index(history, "#2") < strings.Index(history, "#1")) {
		t.Errorf("history is not newest first:\n%s", history)
	}
	if h := s.cliOK(t, bob, "history", "-n", "1", "web", "in", "staging"); strings.Count(h, "\n#") != 1 || !strings.Contains(h, "#1 ") {
		t.Errorf("history -n 1 web in staging:\n%s", h)
	}
	s.cliFails(t, bob, `unknown app "api" (apps: web)`, "history", "api")
	s.cliFails(t, bob, `web has no environment "qa"`, "history", "web", "in", "qa")

	where := s.cliOK(t, bob, "where", "web")
	for _, row := range []string{`staging +[0-9a-f]{7} +v1 +#1 by alice, `, `production +[0-9a-f]{7} +v1 +#2 by bob, `} {
		if !regexp.MustCompile(row).MatchString(where) {
			t.Errorf("where lacks %s:\n%s", row, where)
		}
	}
	s.cliFails(t, bob, `unknown app "api"`, "where", "api")

	audit := s.cliOK(t, bob, "audit")
	for _, row := range []string{`alice +unlock +web in production`, `alice +unfreeze +production`, `alice +freeze +production`,
		`carol +reject +#3 +not on a Friday`, `alice +approve +#2`} {
		if !regexp.MustCompile(row).MatchString(audit) {
			t.Errorf("audit lacks %s:\n%s", row, audit)
		}
	}
}

// queue lists what runs, then what is queued and waiting in the order it
// will go: the queued oldest first, then the waiting, with ids, refs and
// who asked.
func TestCLIQueueInOrder(t *testing.T) {
	gate := filepath.Join(t.TempDir(), "gate")
	if err := syscall.Mkfifo(gate, 0o600); err != nil {
		t.Fatal(err)
	}
	// Production's deploys wait for the gate to open.
	s, alice, bob, carol := team(t, "echo started; cat "+gate)
	s.cliOK(t, alice, "deploy", "web@v1", "to", "production")
	s.cliOK(t, bob, "approve", "1")
	queuetest.Eventually(t, "#1 runs", func() bool { return strings.Contains(s.cliOK(t, bob, "logs", "1"), "started") })
	s.cliOK(t, bob, "deploy", "web@v2", "to", "production")   // #2 waits for an approval
	s.cliOK(t, carol, "deploy", "web@v1", "to", "production") // #3, approved: queued
	s.cliOK(t, alice, "approve", "3")
	s.cliOK(t, carol, "deploy", "web@v2", "to", "staging") // #4 runs by itself

	out := s.cliOK(t, bob, "queue", "production")
	running := regexp.MustCompile(`web +production +- +#1 [0-9a-f]{7} by alice +1 +1 +-`)
	queued := regexp.MustCompile(`#3 +web +production +queued +v1 +[0-9a-f]{7} +carol +\S+ ago +-`)
	waiting := regexp.MustCompile(`#2 +web +production +waiting +v2 +[0-9a-f]{7} +bob +\S+ ago +waiting for approval`)
	for _, re := range []*regexp.Regexp{running, queued, waiting} {
		if !re.MatchString(out) {
			t.Fatalf("queue production lacks %s:\n%s", re, out)
		}
	}
	if queued.FindStringIndex(out)[0] > waiting.FindStringIndex(out)[0] {
		t.Fatalf("the waiting #2 is listed before the queued #3, which goes first:\n%s", out)
	}
	if strings.Contains(out, "staging") {
		t.Fatalf("queue production shows staging:\n%s", out)
	}
	mustContain(t, "queue", s.cliOK(t, bob, "queue"), "web  staging", "web  production", "#3 ")
	s.cliFails(t, bob, `unknown environment "qa"`, "queue", "qa")
}
