package queue_test

import (
	"context"
	"strings"
	"testing"

	"github.com/deployq/deployq/queue"
)

func TestValidUser(t *testing.T) {
	for _, c := range []struct {
		name, user string
		ok         bool
	}{
		{"a name", "alice", true},
		{"a qualified identity", "github:octocat", true},
		{"an email", "alice@example.com", true},
		{"accents", "zoë", true},
		{"empty", "", false},
		{"NUL", "ali\x00ce", false},
		{"a newline", "alice\nroot", false},
		{"a right-to-left override", "alice\u202ecod.exe", false},
		{"a zero-width space", "al\u200bice", false},
		{"spaces around", " alice", false},
		{"too long", strings.Repeat("a", queue.MaxUser+1), false},
		{"not UTF-8", "al\xffice", false},
	} {
		if err := queue.ValidUser(c.user); (err == nil) != c.ok {
			t.Errorf("%s: %v", c.name, err)
		} else if err != nil && queue.ErrorCode(err) != queue.EInvalid {
			t.Errorf("%s: code %s", c.name, queue.ErrorCode(err))
		}
	}
}

func TestCleanReason(t *testing.T) {
	for _, c := range []struct{ name, in, want string }{
		{"plain", "db migration", "db migration"},
		{"lines become one", "db\nmigration\r\n", "db migration"},
		{"controls and bidi go", "db\x00 mi\u202egration", "db migration"},
	} {
		if got, err := queue.CleanReason(c.in); err != nil || got != c.want {
			t.Errorf("%s: %q %v", c.name, got, err)
		}
	}
	if _, err := queue.CleanReason(strings.Repeat("x", 60000)); queue.ErrorCode(err) != queue.EInvalid {
		t.Errorf("a 60 kB reason: %v", err)
	}
}

// A GitHub login, a Slack user and a token's name are different users,
// unless a person lists them; what a person is known as counts in rules.
func TestPeople(t *testing.T) {
	p, err := queue.NewPeople([]queue.Person{{Name: "alice", GitHub: []string{"alice-gh"}, Slack: []string{"U0ALICE"}, Emails: []string{"alice@example.com"}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ from, id, want string }{
		{queue.FromGitHub, "alice-gh", "alice"},
		{queue.FromGitHub, "ALICE-GH", "alice"},
		{queue.FromSlack, "U0ALICE", "alice"},
		{queue.FromGitHub, "alice", "github:alice"}, // not the token alice
		{queue.FromSlack, "alice", "slack:alice"},
	} {
		if got, err := p.Who(c.from, c.id); err != nil || got != c.want {
			t.Errorf("%s %s: %q %v", c.from, c.id, got, err)
		}
	}
	if _, err := p.Who(queue.FromGitHub, "x\u202ey"); err == nil {
		t.Error("a login with a bidi override was taken")
	}
	if _, err := queue.NewPeople([]queue.Person{{Name: "a", GitHub: []string{"x"}}, {Name: "b", GitHub: []string{"X"}}}); err == nil {
		t.Error("one login claimed by two people")
	}

	// the rules: deployers name alice's GitHub login; alice deploys, the
	// GitHub user "alice" who is someone else does not
	prod := shellEnv("production", "true")
	prod.Deployers = []string{"github:alice-gh"}
	e := start(t, []*queue.App{app("web", prod)}, func(o *queue.Options) { o.People = p })
	if _, err := e.svc.Submit(context.Background(), queue.Request{App: "web", Ref: sha(1), User: "alice"}); err != nil {
		t.Fatalf("alice, known as github:alice-gh: %v", err)
	}
	if _, err := e.svc.Submit(context.Background(), queue.Request{App: "web", Ref: sha(1), User: "github:alice"}); queue.ErrorCode(err) != queue.EForbidden {
		t.Fatalf("github:alice: %v", err)
	}
	if _, _, err := e.svc.Lock(context.Background(), queue.LockRequest{Env: "production", Owner: "alice", Reason: strings.Repeat("x", 600)}); queue.ErrorCode(err) != queue.EInvalid {
		t.Fatalf("a 600-character lock reason: %v", err)
	}
	if _, err := e.svc.Submit(context.Background(), queue.Request{App: "web", Ref: sha(1), User: "al\x00ice"}); queue.ErrorCode(err) != queue.EInvalid {
		t.Fatalf("a NUL in a user: %v", err)
	}
}
