package slack_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deployq/deployq/bot"
	"github.com/deployq/deployq/bot/slack"
	"github.com/deployq/deployq/git"
	"github.com/deployq/deployq/queue"
	"github.com/deployq/deployq/runners/shell"
	"github.com/deployq/deployq/store"
)

// A server ends a deploy and dies before its message shows the end: the
// end is owed in the store, and another server's adapter shows it once
// the handover time has passed.
func TestOwedEndShownByAnotherServer(t *testing.T) {
	dir := t.TempDir()
	fake := newFakeSlack(t)
	st, err := store.Open(t.Context(), filepath.Join(dir, "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	newAdapter := func() *slack.Adapter {
		a := slack.New(slack.Config{BotToken: "xoxb", AppToken: "xapp", APIURL: fake.apiURL(), BaseURL: "http://deployq.test",
			Channel: "CDEPLOYS"}, slog.New(slog.NewTextHandler(io.Discard, nil)))
		a.PostInterval, a.Handover = 20*time.Millisecond, 300*time.Millisecond
		return a
	}
	service := func(a *slack.Adapter) *queue.Service {
		apps := []*queue.App{{Name: "web", DefaultRef: "main", DefaultEnv: "staging", Environments: []*queue.Environment{
			{Name: "staging", Runner: "shell", Settings: &shell.Settings{Command: "true"}}}}}
		svc, err := queue.New(apps, queue.Options{Store: st, Runners: map[string]queue.Runner{"shell": shell.New(filepath.Join(dir, "ws"))},
			Resolver: git.NewResolver(dir), Notifiers: []queue.Notifier{a}})
		if err != nil {
			t.Fatal(err)
		}
		if err := svc.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		return svc
	}

	// The first server: its adapter never gets to Slack.
	first := service(newAdapter())
	d, err := first.Submit(t.Context(), queue.Request{App: "web", Ref: sha, User: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if end, err := first.FollowLog(t.Context(), d.ID, 0, func([]queue.LogLine) error { return nil }); err != nil || end.State != queue.StateSucceeded {
		t.Fatalf("%v %+v", err, end)
	}
	first.Stop()
	if n := len(fake.callsOf("chat.postMessage")); n != 0 {
		t.Fatalf("%d messages posted by an adapter that never started", n)
	}

	// The second server shows the end owed.
	a := newAdapter()
	svc := service(a)
	defer svc.Stop()
	ctx, cancel := context.WithCancel(t.Context())
	defer func() { cancel(); a.Wait() }()
	a.Start(ctx, svc, bot.New(svc, ""))
	fake.waitFor(t, "the deploy's message, showing its end", func() bool {
		for _, c := range fake.callsOf("chat.postMessage") {
			if c.Form.Get("channel") == "CDEPLOYS" && strings.Contains(blocksOf(c), "succeeded") {
				return true
			}
		}
		return false
	})
	fake.waitFor(t, "the owed end settled", func() bool {
		_, ok, err := svc.Outbox().OutboxNext(t.Context(), "slack:")
		return err == nil && !ok
	})
	var cards int
	for _, c := range fake.callsOf("chat.postMessage") {
		if blocksOf(c) != "" {
			cards++
		}
	}
	if cards != 1 {
		t.Fatalf("%d deploy messages, want 1", cards)
	}
}

// A server hears of a deploy late (it was paused while another server
// ended it): its message shows the deploy as stored, not what the late
// news said, and it updates the message the first server posted rather
// than posting another.
func TestLateNewsNeverTurnsAMessageBack(t *testing.T) {
	dir := t.TempDir()
	fake := newFakeSlack(t)
	st, err := store.Open(t.Context(), filepath.Join(dir, "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	newAdapter := func() *slack.Adapter {
		a := slack.New(slack.Config{BotToken: "xoxb", AppToken: "xapp", APIURL: fake.apiURL(), BaseURL: "http://deployq.test",
			Channel: "CDEPLOYS"}, slog.New(slog.NewTextHandler(io.Discard, nil)))
		a.PostInterval = 20 * time.Millisecond
		return a
	}
	start := func(a *slack.Adapter, svc *queue.Service) {
		ctx, cancel := context.WithCancel(t.Context())
		t.Cleanup(func() { cancel(); a.Wait() })
		a.Start(ctx, svc, bot.New(svc, ""))
	}
	apps := []*queue.App{{Name: "web", DefaultRef: "main", DefaultEnv: "staging", Environments: []*queue.Environment{
		{Name: "staging", Runner: "shell", Settings: &shell.Settings{Command: "true"}}}}}
	first := newAdapter()
	svc, err := queue.New(apps, queue.Options{Store: st, Runners: map[string]queue.Runner{"shell": shell.New(filepath.Join(dir, "ws"))},
		Resolver: git.NewResolver(dir), Notifiers: []queue.Notifier{first}})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer svc.Stop()
	start(first, svc)
	d, err := svc.Submit(t.Context(), queue.Request{App: "web", Ref: sha, User: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	late := *d // what the paused server heard: queued
	if end, err := svc.FollowLog(t.Context(), d.ID, 0, func([]queue.LogLine) error { return nil }); err != nil || end.State != queue.StateSucceeded {
		t.Fatalf("%v %+v", err, end)
	}
	shows := func(state string) func() bool {
		return func() bool {
			ups := fake.callsOf("chat.update")
			return len(ups) > 0 && strings.Contains(blocksOf(ups[len(ups)-1]), state)
		}
	}
	fake.waitFor(t, "the message showing the end", shows("succeeded"))
	updates := len(fake.callsOf("chat.update"))

	second := newAdapter() // the paused server's, resumed
	start(second, svc)
	second.DeployChanged(&late)
	fake.waitFor(t, "the late server's update", func() bool { return len(fake.callsOf("chat.update")) > updates })
	if !shows("succeeded")() {
		t.Fatalf("the message went back: %s", blocksOf(fake.callsOf("chat.update")[len(fake.callsOf("chat.update"))-1]))
	}
	var cards int
	for _, c := range fake.callsOf("chat.postMessage") {
		if blocksOf(c) != "" {
			cards++
		}
	}
	if cards != 1 {
		t.Fatalf("%d deploy messages, want 1", cards)
	}
}
