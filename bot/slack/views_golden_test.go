package slack_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/deployq/deployq/bot/slack"
	"github.com/deployq/deployq/queue"
)

// goldenApps are the apps of the golden views.
func goldenApps() []*queue.App {
	production := &queue.Environment{Name: "production", Params: []queue.Param{
		{Name: "migrate", Type: "bool", Default: "false"},
		{Name: "region", Type: "enum", Values: []string{"eu", "us"}, Required: true},
		{Name: "replicas", Type: "int"},
		{Name: "note", Type: "string", Max: 40},
	}}
	return []*queue.App{
		{Name: "web", Repo: "acme/web", DefaultRef: "main", DefaultEnv: "staging", Environments: []*queue.Environment{{Name: "staging"}, production}},
		{Name: "api", DefaultRef: "main", DefaultEnv: "staging", Environments: []*queue.Environment{{Name: "staging"}}},
	}
}

func TestDeployFormGolden(t *testing.T) {
	apps := goldenApps()
	golden(t, "deploy_form", slack.DeployFormView(apps, slack.DeployForm{App: "web", Env: "production", Ref: "v1.2.0",
		Params: map[string]string{"migrate": "true", "region": "eu", "note": "<b>&"}, Channel: "C111",
		Preview: slack.PreviewText("production", sha2, sha, "https://github.com/acme/web/compare/1111111...2222222", 3, nil)}))
	golden(t, "deploy_form_staging", slack.DeployFormView(apps, slack.DeployForm{App: "web", Env: "staging", Ref: "main",
		Preview: slack.PreviewText("staging", sha, "", "", 0, nil)}))
}

func TestPreviewText(t *testing.T) {
	for _, c := range []struct {
		name, current, compare, want string
		commits                      int
		err                          error
	}{
		{"a change", sha, "https://github.com/acme/web/compare/a...b", "`1111111` → `2222222`, 1 commit: <https://github.com/acme/web/compare/a...b|compare>", 1, nil},
		{"no compare link", sha, "", "`1111111` → `2222222`", 0, nil},
		{"a link that would break the text", sha, "https://x.test/a>b|c", "`1111111` → `2222222`", 2, nil},
		{"not a web link", sha, "javascript:alert(1)", "`1111111` → `2222222`", 2, nil},
		{"first deploy", "", "", "Nothing ran in production yet → `2222222`", 0, nil},
		{"running already", sha2, "", "`2222222` runs in production already", 0, nil},
		{"ErrRef", "", "", `:warning: web has no branch or tag "x&lt;y"`, 0, queue.Errorf(queue.EInvalid, `web has no branch or tag "x<y"`)},
		{"ErrInternal", "", "", ":warning: internal error", 0, errors.New("exec: git")},
	} {
		if got := slack.PreviewText("production", sha2, c.current, c.compare, c.commits, c.err); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

func TestLockFormGolden(t *testing.T) {
	golden(t, "lock_form", slack.LockFormView(goldenApps(), "C111", "web", "production"))
}

func TestHomeGolden(t *testing.T) {
	now := t0.Add(time.Hour)
	current := &queue.Deploy{ID: 41, App: "web", Env: "staging", Ref: "main", SHA: sha, State: queue.StateSucceeded, User: "alice", FinishedAt: t0}
	running := &queue.Deploy{ID: 43, App: "web", Env: "staging", Ref: "v2", SHA: sha2, State: queue.StateRunning, User: "bob", CreatedAt: now}
	waiting := &queue.Deploy{ID: 44, App: "web", Env: "production", Ref: "v2", SHA: sha2, State: queue.StateWaiting, User: "bob", CreatedAt: now}
	h := slack.Home{User: "alice", Dashboard: "https://deployq.example", Now: now,
		Lanes: []queue.EnvStatus{
			{App: "web", Env: "staging", Current: current, Running: running, Queued: 2,
				Lock: &queue.Lock{Env: "staging", Owner: "alice", Reason: "release <train>", CreatedAt: t0}},
			{App: "web", Env: "production", Waiting: 1, Freeze: "frozen until 18:00 UTC",
				Lock: &queue.Lock{Env: "production", App: "web", Owner: "carol", Reason: "incident", CreatedAt: t0}},
			{App: "api", Env: "staging"},
		},
		Approvals: []*queue.Deploy{waiting},
		Recent:    []*queue.Deploy{{ID: 41, App: "web", Env: "staging", Ref: "main", SHA: sha, State: queue.StateSucceeded, User: "alice", CreatedAt: t0}},
	}
	golden(t, "home", slack.HomeBlocks(h))
	golden(t, "home_empty", slack.HomeBlocks(slack.Home{User: "alice", Now: now}))
}

// A Home tab never has more than Slack's 100 blocks: lanes that do not
// fit are counted, with the dashboard's link.
func TestHomeCapsItsBlocks(t *testing.T) {
	for _, c := range []struct {
		lanes  int
		blocks int
		last   string // the last block's JSON
	}{
		{94, 99, `"block_id":"lane:app93:staging"`},
		{95, 100, `"block_id":"lane:app94:staging"`},
		{96, 100, `"text":"and 2 more: \u003chttps://deployq.example|open the dashboard\u003e"`},
		{150, 100, `"text":"and 56 more: \u003chttps://deployq.example|open the dashboard\u003e"`},
	} {
		h := slack.Home{User: "alice", Dashboard: "https://deployq.example", Now: t0}
		for i := range c.lanes {
			h.Lanes = append(h.Lanes, queue.EnvStatus{App: fmt.Sprintf("app%d", i), Env: "staging"})
		}
		blocks := slack.HomeBlocks(h)
		last, _ := json.Marshal(blocks[len(blocks)-1])
		if len(blocks) != c.blocks || !strings.Contains(string(last), c.last) {
			t.Errorf("%d lanes: %d blocks, the last %s; want %d, the last with %s", c.lanes, len(blocks), last, c.blocks, c.last)
		}
	}
}
