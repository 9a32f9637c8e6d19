package slack_test

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/deployq/deployq/bot/slack"
	"github.com/deployq/deployq/queue"
)

var update = flag.Bool("update", false, "rewrite golden files")

func golden(t *testing.T, name string, v any) {
	t.Helper()
	got, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", "golden", name+".json")
	if *update {
		os.WriteFile(path, got, 0o644)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Fatalf("%s differs from the golden file:\n%s", name, got)
	}
}

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func view(st queue.State, mutate func(*queue.Deploy)) slack.DeployView {
	d := &queue.Deploy{ID: 42, Number: 7, App: "web", Env: "production", Ref: "main", SHA: "3f9c2e1a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e",
		State: st, User: "alice", Source: queue.SourceChat, CreatedAt: t0}
	if mutate != nil {
		mutate(d)
	}
	return slack.DeployView{Deploy: d, Repo: "acme/web", LogURL: "https://deployq.example/api/v1/deploys/42/log", Now: t0.Add(90 * time.Second)}
}

func TestDeployBlocksGolden(t *testing.T) {
	running := view(queue.StateRunning, func(d *queue.Deploy) { d.StartedAt = t0 })
	running.Progress = &queue.Progress{Phase: "hosts", Done: 4, Total: 10, Message: "batch 2/4"}
	failed := view(queue.StateFailed, func(d *queue.Deploy) {
		d.StartedAt, d.FinishedAt, d.Error = t0, t0.Add(42*time.Second), "exit status 1 <& details>"
	})
	cases := map[string]slack.DeployView{
		"deploy_queued":    view(queue.StateQueued, nil),
		"deploy_running":   running,
		"deploy_succeeded": view(queue.StateSucceeded, func(d *queue.Deploy) { d.StartedAt, d.FinishedAt = t0, t0.Add(95*time.Second) }),
		"deploy_failed":    failed,
		"deploy_no_repo":   func() slack.DeployView { v := view(queue.StateSuperseded, nil); v.Repo = ""; return v }(),
		"deploy_paused": func() slack.DeployView {
			v := view(queue.StateRunning, func(d *queue.Deploy) { d.StartedAt = t0 })
			v.Progress = &queue.Progress{Phase: queue.PhasePaused, Done: 1, Total: 4, Message: "canary done"}
			return v
		}(),
	}
	for name, v := range cases {
		t.Run(name, func(t *testing.T) { golden(t, name, slack.DeployBlocks(v)) })
	}
}

func TestLockBlocksGolden(t *testing.T) {
	l := &queue.Lock{Env: "production", App: "web", Owner: "alice", Reason: "db migration", CreatedAt: t0, ExpiresAt: t0.Add(2 * time.Hour)}
	golden(t, "lock_locked", slack.LockBlocks(l, true, t0.Add(12*time.Minute)))
	golden(t, "lock_unlocked", slack.LockBlocks(l, false, t0))
}

func TestProgressBar(t *testing.T) {
	cases := map[string]queue.Progress{
		"▓▓▓░░░░░ 4/10 hosts, batch 2/4": {Phase: "hosts", Done: 4, Total: 10, Message: "batch 2/4"},
		"░░░░░░░░ 0/3":                   {Total: 3},
		"▓▓▓▓▓▓▓▓ 3/3":                   {Done: 5, Total: 3},
		"checking out":                   {Phase: "checkout", Message: "checking out"},
	}
	for want, p := range cases {
		if got := slack.ProgressBar(p); got != want {
			t.Errorf("%+v: got %q, want %q", p, got, want)
		}
	}
}
