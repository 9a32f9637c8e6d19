package slack_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deployq/deployq/bot"
	"github.com/deployq/deployq/bot/slack"
	"github.com/deployq/deployq/git"
	"github.com/deployq/deployq/internal/queuetest"
	"github.com/deployq/deployq/queue"
	"github.com/deployq/deployq/runners/shell"
	"github.com/deployq/deployq/store"
)

// A deploy's message, its thread, the announcements and the DMs.

// 500 log lines in 2 s: at most 3 thread posts (one a second), every line
// in them.
func TestThreadPostsAreCoalesced(t *testing.T) {
	cmd := `i=0; while [ $i -lt 500 ]; do echo "line $i"; i=$((i+1)); case $i in *0) sleep 0.04;; esac; done`
	e := start(t, "socket", cmd, func(a *slack.Adapter) { a.PostInterval = time.Second })
	c := e.fake.conn()
	send(t, e.fake, c, mention(t, "deploy web@"+sha))
	e.fake.waitFor(t, "the deploy", func() bool { return len(e.deploys(t)) == 1 })
	d := e.waitDeploy(t, e.deploys(t)[0].ID)
	if d.State != queue.StateSucceeded {
		t.Fatalf("%s: %s", d.State, d.Error)
	}
	var posts []string
	e.fake.waitFor(t, "every line", func() bool {
		posts = posts[:0]
		for _, p := range e.fake.callsOf("chat.postMessage") {
			if blocksOf(p) == "" && p.Form.Get("thread_ts") != "" {
				posts = append(posts, p.Form.Get("text"))
			}
		}
		return strings.Contains(strings.Join(posts, ""), "line 499\n")
	})
	// One post a second at most: a 2 s log makes at most 3 posts (after
	// 1 s, 2 s, and the rest at the end); a loaded machine that runs the
	// script longer earns one more post per extra second, no more.
	if limit := int(d.FinishedAt.Sub(d.StartedAt).Seconds()) + 1; len(posts) > max(limit, 3) {
		t.Fatalf("%d thread posts for a %s log", len(posts), d.FinishedAt.Sub(d.StartedAt))
	}
	e.fake.waitFor(t, "the end announced", func() bool { return strings.Contains(announced(e), "is live in staging") })
	if all := announced(e); !strings.Contains(all, "slack:U222 is deploying web `1111111` to staging") {
		t.Fatalf("the start was not announced: %s", all)
	}
	all := strings.Join(posts, "")
	for i := range 500 {
		if !strings.Contains(all, fmt.Sprintf("line %d\n", i)) {
			t.Fatalf("line %d missing", i)
		}
	}
}

// Slack answers 429 with Retry-After: deployq waits and the message still
// ends with the final state.
func TestRateLimitedUpdatesStillEndRight(t *testing.T) {
	e := start(t, "socket", "sleep 0.3; echo hi", nil) // long enough to be updated
	e.fake.mu.Lock()
	e.fake.limited["chat.update"] = 2
	e.fake.limited["chat.postMessage"] = 1
	e.fake.mu.Unlock()
	c := e.fake.conn()
	send(t, e.fake, c, mention(t, "deploy web@"+sha))
	e.fake.waitFor(t, "the deploy", func() bool { return len(e.deploys(t)) == 1 })
	e.waitDeploy(t, e.deploys(t)[0].ID)
	e.fake.waitFor(t, "the final state after the 429s", func() bool {
		ups := e.fake.callsOf("chat.update")
		e.fake.mu.Lock()
		left := e.fake.limited["chat.update"]
		e.fake.mu.Unlock()
		return left == 0 && len(ups) >= 3 && strings.Contains(blocksOf(ups[len(ups)-1]), "succeeded")
	})
	if n := len(e.fake.callsOf("chat.postMessage")); n < 2 {
		t.Fatalf("the message was not posted again after the 429: %d posts", n)
	}
}

// Deploys not asked for in Slack (API, GitHub, auto) are announced in the
// announcement channel.
func TestAPIDeployIsAnnounced(t *testing.T) {
	e := start(t, "socket", "true", nil)
	d, err := e.svc.Submit(t.Context(), queue.Request{App: "web", Ref: sha, User: "alice", Source: queue.SourceAPI})
	if err != nil {
		t.Fatal(err)
	}
	e.waitDeploy(t, d.ID)
	e.fake.waitFor(t, "the announcement", func() bool { return shows(e.fake, "succeeded") })
	if p := e.fake.callsOf("chat.postMessage")[0].Form; p.Get("channel") != "CANNOUNCE" || p.Get("thread_ts") != "" {
		t.Fatalf("announced in %v", p)
	}
}

// announced is what was said in the announcement channel.
func announced(e *env) string {
	var said []string
	for _, p := range e.fake.callsOf("chat.postMessage") {
		if p.Form.Get("channel") == "CANNOUNCE" {
			said = append(said, p.Form.Get("text"))
		}
	}
	return strings.Join(said, "\n")
}

// Slack was not there when a deploy ended (the server stopped with Slack
// down, or crashed): on the next start the deploy's own message is brought
// up to date, not a new one posted.
func TestMessageUpdatedAfterRestart(t *testing.T) {
	dir := t.TempDir()
	fake := newFakeSlack(t)
	gate := filepath.Join(dir, "started")
	run := func(stopSlackFirst bool, wait func(e *env)) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		st, err := store.Open(ctx, filepath.Join(dir, "db"))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		a := slack.New(slack.Config{BotToken: "xoxb", AppToken: "xapp", APIURL: fake.apiURL(), BaseURL: "http://deployq.test"},
			slog.New(slog.NewTextHandler(io.Discard, nil)))
		a.PostInterval = 20 * time.Millisecond
		apps := []*queue.App{{Name: "web", DefaultRef: "main", DefaultEnv: "staging", Environments: []*queue.Environment{
			{Name: "staging", Runner: "shell", Settings: &shell.Settings{Command: "touch " + gate + "; sleep 300"}}}}}
		svc, err := queue.New(apps, queue.Options{Store: st, Runners: map[string]queue.Runner{"shell": shell.New(filepath.Join(dir, "ws"))},
			Resolver: git.NewResolver(dir), Notifiers: []queue.Notifier{a}})
		if err != nil {
			t.Fatal(err)
		}
		slackCtx, stopSlack := context.WithCancel(ctx)
		if err := svc.Start(ctx); err != nil {
			t.Fatal(err)
		}
		a.Start(slackCtx, svc, bot.New(svc, ""))
		wait(&env{svc: svc, slack: a, fake: fake, st: st})
		if stopSlackFirst {
			stopSlack()
			a.Wait()
		}
		svc.Stop()
		stopSlack()
		a.Wait()
	}
	run(true, func(e *env) {
		send(t, fake, fake.conn(), mention(t, "deploy web@"+sha))
		fake.waitFor(t, "the deploy message kept", func() bool {
			ref, _ := e.svc.Meta(t.Context(), 1, "slack.message")
			return ref != ""
		})
		queuetest.Eventually(t, "the deploy's command started", func() bool {
			_, err := os.Stat(gate)
			return err == nil
		})
	})
	if n := len(fake.callsOf("chat.update")); n > 0 && strings.Contains(blocksOf(fake.callsOf("chat.update")[n-1]), "interrupted") {
		t.Fatal("Slack was stopped, it cannot have heard")
	}
	run(false, func(e *env) {
		fake.waitFor(t, "the old message updated", func() bool {
			ups := fake.callsOf("chat.update")
			return len(ups) > 0 && strings.Contains(blocksOf(ups[len(ups)-1]), "interrupted")
		})
	})
	var messages int
	for _, p := range fake.callsOf("chat.postMessage") {
		if blocksOf(p) != "" {
			messages++
		}
	}
	if messages != 1 {
		t.Fatalf("%d deploy messages, want the one, updated", messages)
	}
	if u := fake.callsOf("chat.update"); u[len(u)-1].Form.Get("ts") != "1503435956.000247" {
		t.Fatalf("updated %v", u[len(u)-1].Form)
	}
}

// An auto-deploy that fails: whoever pushed hears it by DM, found by the
// email the push carried.
func TestFailedAutoDeployTellsThePusher(t *testing.T) {
	e := startWith(t, "socket", "exit 4", nil, func(f *fakeSlack, _ *queue.Environment) {
		f.users = map[string][2]string{"U777": {"pat", "pat@example.com"}}
	})
	ctx := t.Context()
	d, err := e.svc.Submit(ctx, queue.Request{App: "web", Ref: "main", SHA: sha, User: "pat-on-github", Source: queue.SourceAuto,
		AuthorEmail: "pat@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	e.waitDeploy(t, d.ID)
	e.fake.waitFor(t, "the DM to the pusher", func() bool {
		for _, p := range e.fake.callsOf("chat.postMessage") {
			if p.Form.Get("channel") == "U777" && strings.Contains(p.Form.Get("text"), "failed: exit status 4") {
				return true
			}
		}
		return false
	})
}

// shows reports whether the deploy message's last version (its post, or
// its last update) shows state: a fast deploy may be posted already ended.
func shows(f *fakeSlack, state string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	last := ""
	for _, c := range f.calls {
		if (c.Method == "chat.postMessage" || c.Method == "chat.update") && strings.Contains(c.Form.Get("blocks"), `"block_id":"deploy"`) {
			last = c.Form.Get("blocks")
		}
	}
	return strings.Contains(last, state)
}

// Slack stops answering while a deploy runs: deployq says Slack is
// degraded and the deploy goes on; once Slack answers again, the
// deploy's message shows how it ended, and its log reaches the thread.
func TestSlackOutageWhileADeployRuns(t *testing.T) {
	gate := filepath.Join(t.TempDir(), "go-on")
	e := start(t, "socket", "while [ ! -e "+gate+" ]; do sleep 0.05; done; echo after the outage", nil)
	c := e.fake.conn()
	send(t, e.fake, c, mention(t, "deploy web@"+sha))
	e.fake.waitFor(t, "the message showing the deploy running", func() bool { return shows(e.fake, "running") })
	if err := e.slack.Health(); err != nil {
		t.Fatalf("Slack answers, yet: %v", err)
	}

	e.fake.setDown(true)
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if d := e.waitDeploy(t, 1); d.State != queue.StateSucceeded {
		t.Fatalf("%s %q", d.State, d.Error)
	}
	queuetest.Eventually(t, "Slack said to be degraded", func() bool {
		err := e.slack.Health()
		return err != nil && strings.Contains(err.Error(), "503")
	})

	e.fake.setDown(false)
	e.fake.waitFor(t, "the message showing the end", func() bool { return shows(e.fake, "succeeded") })
	e.fake.waitFor(t, "the log in the thread", func() bool {
		for _, p := range e.fake.callsOf("chat.postMessage") {
			if strings.Contains(p.Form.Get("text"), "after the outage") {
				return true
			}
		}
		return false
	})
	queuetest.Eventually(t, "Slack healthy again", func() bool { return e.slack.Health() == nil })
}
