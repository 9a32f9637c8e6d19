package slack_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/deployq/deployq/bot/slack"
	"github.com/deployq/deployq/queue"
)

// Who a Slack user is in deployq, and what deployq says back to them.

// withPeople gives the adapter and the queue the same people.
func withPeople(t testing.TB, ps ...queue.Person) (func(*slack.Adapter), func(*queue.Options)) {
	people, err := queue.NewPeople(ps)
	if err != nil {
		t.Fatal(err)
	}
	return func(a *slack.Adapter) { a.SetPeople(people) }, func(o *queue.Options) { o.People = people }
}

// A Slack user is the person who lists them (by id or by user name), else
// slack:<user name>: never the API token or the GitHub login of the same
// name. Rules name people, or Slack users as slack:<user name>.
func TestSlackUsersAreTheirOwnIdentities(t *testing.T) {
	adapter, options := withPeople(t, queue.Person{Name: "grace", Slack: []string{"U222"}},
		queue.Person{Name: "mal", Slack: []string{"mallory"}})
	e := startWith(t, "socket", "true", adapter, func(f *fakeSlack, env *queue.Environment) {
		f.users = map[string][2]string{"U222": {"grace-h", "grace@example.com"}, "U333": {"mallory", "m@example.com"},
			"U444": {"alice", "alice@example.com"}}
		env.Deployers = []string{"alice", "grace", "mal"} // alice: the API token
		env.Lockers = []string{"slack:alice"}
	}, options)
	c := e.fake.conn()
	e.say(t, c, "U222", "deploy web@"+sha)
	e.say(t, c, "U333", "deploy web@"+sha2)
	e.say(t, c, "U444", "deploy web@"+sha3)
	e.say(t, c, "U444", "lock staging: release")
	e.handled(t, c)

	var users []string
	for _, d := range e.deploys(t) {
		users = append(users, d.User)
	}
	if strings.Join(users, " ") != "mal grace" {
		t.Errorf("deploys by %q, want mal's and grace's only", users)
	}
	want := "slack:alice may not deploy web in staging (deployers: alice, grace, mal)"
	if said := e.fake.said("U444"); len(said) == 0 || said[0] != want {
		t.Errorf("the Slack user alice was told %q, want %q", said, want)
	}
	if locks, _ := e.svc.Locks(t.Context()); len(locks) != 1 || locks[0].Owner != "slack:alice" {
		t.Errorf("locks %+v, want the lock of slack:alice", locks)
	}
}

// Names deployq cannot keep are refused with a short answer, and nothing
// deployq says to Slack passes Slack's bounds, whatever was typed.
func TestSlackIdentitiesAndTextsAreBounded(t *testing.T) {
	e := startWith(t, "socket", "true", nil, func(f *fakeSlack, _ *queue.Environment) {
		f.users = map[string][2]string{"U222": {"grace", "grace@example.com"},
			"U555": {"ev\u202eli", "eve@example.com"}, "U666": {strings.Repeat("x", 200), "x@example.com"}}
	})
	c := e.fake.conn()
	e.say(t, c, "U555", "deploy web@"+sha)
	e.say(t, c, "U666", "deploy web@"+sha)
	e.say(t, c, "U222", "lock staging: "+strings.Repeat("db & cache ", 6000))
	e.say(t, c, "U222", "deploy web@"+strings.Repeat("x", 5000))
	e.handled(t, c)

	for user, want := range map[string]string{"U555": "invisible", "U666": "too long"} {
		said := e.fake.said(user)
		if len(said) != 1 || !strings.HasPrefix(said[0], "deployq cannot take your Slack user: ") || !strings.Contains(said[0], want) {
			t.Errorf("%s was told %q", user, said)
		}
	}
	said := e.fake.said("U222")
	if len(said) < 2 || !strings.Contains(said[0], "the reason is too long") || !strings.Contains(said[1], "invalid ref") {
		t.Errorf("U222 was told %q", said)
	}
	if n := len(e.deploys(t)); n != 0 {
		t.Errorf("%d deploys", n)
	}
	if locks, _ := e.svc.Locks(t.Context()); len(locks) != 0 {
		t.Errorf("locks %+v", locks)
	}
	e.fake.mu.Lock()
	calls := slices.Clone(e.fake.calls)
	e.fake.mu.Unlock()
	for _, c := range calls {
		if n := utf8.RuneCountInString(c.Form.Get("text")); n > 3000 {
			t.Errorf("%s with a text of %d characters", c.Method, n)
		}
		if b := c.Form.Get("blocks"); b != "" {
			var blocks any
			if err := json.Unmarshal([]byte(b), &blocks); err != nil {
				t.Fatal(err)
			}
			walkTexts(blocks, func(s string) {
				if n := utf8.RuneCountInString(s); n > 3000 {
					t.Errorf("%s with a block text of %d characters", c.Method, n)
				}
			})
		}
	}
}

// walkTexts calls f with every "text" string in decoded Block Kit JSON.
func walkTexts(v any, f func(string)) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if s, ok := x.(string); ok && k == "text" {
				f(s)
			}
			walkTexts(x, f)
		}
	case []any:
		for _, x := range v {
			walkTexts(x, f)
		}
	}
}
