package github_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/deployq/deployq/github"
	"github.com/deployq/deployq/internal/queuetest"
	"github.com/deployq/deployq/queue"
)

// X-Hub-Signature-256 takes sha256= only: a sha1= signature there, right
// for the body and the secret, is a downgrade and is refused.
func TestSHA1SignatureRefused(t *testing.T) {
	e := start(t)
	push := fixture(t, "push.default-branch.json")
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write(push)
	for _, sig := range []string{"sha1=" + hex.EncodeToString(mac.Sum(nil)), "sha256=" + hex.EncodeToString(mac.Sum(nil)), "SHA256=" + sign(push, secret)[7:]} {
		if code, body := e.post("push", "sha1", push, sig); code != 401 {
			t.Fatalf("%s: %d %s", sig[:7], code, body)
		}
	}
	if n := len(e.deploys()); n != 0 {
		t.Fatalf("%d deploys", n)
	}
}

// A field deployq never reads does not refuse a delivery whatever its
// shape: octokit's check_run.rerequested example writes its app's
// created_at "2018-04-25 20:42:10". A field deployq reads, with another
// shape, is refused naming it.
func TestLenientPayloads(t *testing.T) {
	e := start(t)
	run := fixture(t, "check_run.rerequested.json")
	code, res := e.send("check_run", "lenient-1", run, sign(run, secret))
	if code != 202 || res.Ignored != "rechecked deploys waiting on d6fde92" {
		t.Fatalf("%d %+v", code, res)
	}
	bad := derive(t, fixture(t, "push.default-branch.json"), 12, "after")
	if code, body := e.post("push", "lenient-2", bad, sign(bad, secret)); code != 400 ||
		!strings.Contains(body, "malformed push payload: after is a JSON number, not a string") {
		t.Fatalf("%d %s", code, body)
	}
}

// Whoever a webhook names (pusher, merger, a deployment's creator) is a
// GitHub identity: the person the config lists with that login (or that
// email, when the payload gives no login), else github:login, never a bare
// name a token or a Slack user could bear.
func TestWebhookUsers(t *testing.T) {
	people, err := queue.NewPeople([]queue.Person{
		{Name: "bink", GitHub: []string{"BinkKatal"}},
		{Name: "coder", Emails: []string{"binkkatal.r@gmail.com"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	e := startWith(t, setup{people: people})
	push := fixture(t, "push.default-branch.json")
	noLogin := derive(t, derive(t, push, "", "pusher", "name"), "", "sender", "login")
	dep := fixture(t, "deployment.created.json")
	for i, c := range []struct {
		name, event string
		body        []byte
		user        string
	}{
		{"a login a person lists", "push", push, "bink"},
		{"only an email, a person lists", "push", derive(t, noLogin, strings.Repeat("d", 40), "after"), "coder"},
		{"only an email nobody lists", "push", derive(t, derive(t, noLogin, "x@example.com", "pusher", "email"), strings.Repeat("e", 40), "after"), "email:x@example.com"},
		{"a login nobody lists", "deployment", dep, "github:Codertocat"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, res := e.send(c.event, "users-"+string(rune('a'+i)), c.body, sign(c.body, secret))
			if code != 202 || len(res.Deploys) != 1 {
				t.Fatalf("%d %+v", code, res)
			}
			if d, _ := e.svc.Deploy(context.Background(), res.Deploys[0]); d.User != c.user {
				t.Fatalf("user %q", d.User)
			}
		})
	}
}

// A hostile name never reaches the queue: the delivery is refused with a
// clear error, and the receiver goes on.
func TestHostileUsers(t *testing.T) {
	e := start(t)
	push := fixture(t, "push.default-branch.json")
	for _, c := range []struct {
		name, login, want string
	}{
		{"NUL", "bink\x00katal", `pusher "bink\x00katal" is not a GitHub login`},
		{"newline", "bink\nkatal", `pusher "bink\nkatal" is not a GitHub login`},
		{"right-to-left override", "bink\u202ekatal", `pusher "bink\u202ekatal" is not a GitHub login`},
		{"Cyrillic a", "binkk\u0430tal", `pusher "binkk\u0430tal" is not a GitHub login`},
		{"20 kB", strings.Repeat("b", 20<<10), `pusher "` + strings.Repeat("b", 40) + `" is not a GitHub login`},
	} {
		t.Run(c.name, func(t *testing.T) {
			body := derive(t, push, c.login, "pusher", "name")
			code, raw := e.post("push", "hostile", body, sign(body, secret))
			if code != 400 || errorMessage(t, raw) != c.want {
				t.Fatalf("%d %s", code, raw)
			}
		})
	}
	t.Run("an email that is not one", func(t *testing.T) {
		body := derive(t, push, "bink@example.com\nBcc: x@example.com", "pusher", "email")
		if code, raw := e.post("push", "hostile", body, sign(body, secret)); code != 400 || !strings.Contains(raw, "is not an email") {
			t.Fatalf("%d %s", code, raw)
		}
	})
	t.Run("a deployment's creator", func(t *testing.T) {
		body := derive(t, fixture(t, "deployment.created.json"), "Coder\u202etocat", "deployment", "creator", "login")
		if code, raw := e.post("deployment", "hostile", body, sign(body, secret)); code != 400 || !strings.Contains(raw, "deployment's creator") {
			t.Fatalf("%d %s", code, raw)
		}
	})
	if n := len(e.deploys()); n != 0 {
		t.Fatalf("%d deploys", n)
	}
	if code, res := e.send("push", "after-the-hostile-ones", push, sign(push, secret)); code != 202 || len(res.Deploys) != 1 {
		t.Fatalf("%d %+v", code, res)
	}
}

// errorMessage returns the message of an error answer.
func errorMessage(t *testing.T, raw string) string {
	t.Helper()
	var answer struct {
		Error struct{ Message string }
	}
	if err := json.Unmarshal([]byte(raw), &answer); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
	return answer.Error.Message
}

// A pusher whose login is also a token's name has none of that token
// user's rights: deployers name them github:login, or a person lists them.
func TestPusherIsNotATokenUser(t *testing.T) {
	lane := func(name string, deployers ...string) *queue.Environment {
		e := queuetest.Shell(name, "true")
		e.AutoDeploy, e.Deployers = queue.AutoDeploy{On: []string{"push"}}, deployers
		return e
	}
	apps := []*queue.App{{Name: "sample", Repo: "binkkatal/sample_app", DefaultRef: "master", DefaultEnv: "staging",
		Environments: []*queue.Environment{lane("staging", "binkkatal"), lane("canary", "github:binkkatal")}}}
	q := queuetest.Start(t, apps, nil)
	srv := httptest.NewServer(github.NewReceiver(secret, q.Svc, nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil))))
	defer srv.Close()
	e := &env{t: t, url: srv.URL, svc: q.Svc}
	push := fixture(t, "push.default-branch.json")
	code, res := e.send("push", "token-name", push, sign(push, secret))
	if code != 202 || len(res.Refused) != 1 || len(res.Deploys) != 1 || !strings.Contains(res.Ignored, "sample/staging: github:binkkatal may not deploy") {
		t.Fatalf("%d %+v", code, res)
	}
	if d, _ := e.svc.Deploy(context.Background(), res.Deploys[0]); d.Env != "canary" {
		t.Fatalf("deployed to %s", d.Env)
	}
}
