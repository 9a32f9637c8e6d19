package queue_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/deployq/deployq/internal/queuetest"
	"github.com/deployq/deployq/queue"
	"github.com/deployq/deployq/runners/shell"
	"github.com/deployq/deployq/store"
)

// sha returns a fake but well-formed full sha for n.
func sha(n int) string { return fmt.Sprintf("%040x", n) }

type env struct {
	t     *testing.T
	dir   string
	store *store.Store
	svc   *queue.Service
}

// shellEnv is an environment on the real shell runner.
func shellEnv(name, command string) *queue.Environment {
	return &queue.Environment{Name: name, Runner: "shell", Settings: &shell.Settings{Command: command, KillGrace: 2 * time.Second}}
}

func app(name string, envs ...*queue.Environment) *queue.App {
	return &queue.App{Name: name, DefaultRef: "main", DefaultEnv: envs[0].Name, Environments: envs}
}

// start runs a Service on real SQLite and the real shell runner.
func start(t *testing.T, apps []*queue.App, tweak func(*queue.Options)) *env {
	t.Helper()
	dir := t.TempDir()
	return startIn(t, dir, apps, tweak)
}

func startIn(t *testing.T, dir string, apps []*queue.App, tweak func(*queue.Options)) *env {
	t.Helper()
	q := queuetest.StartIn(t, dir, apps, tweak)
	return &env{t: t, dir: dir, store: q.Store, svc: q.Svc}
}

func (e *env) submit(r queue.Request) *queue.Deploy {
	e.t.Helper()
	if r.User == "" {
		r.User = "alice"
	}
	d, err := e.svc.Submit(context.Background(), r)
	if err != nil {
		e.t.Fatalf("submit %+v: %v", r, err)
	}
	return d
}

// wait follows a deploy's log to its end and returns the ended deploy and
// its log text.
func (e *env) wait(id int64) (*queue.Deploy, string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var b strings.Builder
	d, err := e.svc.FollowLog(ctx, id, 0, func(lines []queue.LogLine) error {
		for _, l := range lines {
			b.WriteString(l.Text + "\n")
		}
		return nil
	})
	if err != nil {
		e.t.Fatalf("following #%d: %v", id, err)
	}
	return d, b.String()
}

// waitFile blocks until a file exists (a deploy script touches it).
func waitFile(t *testing.T, path string) {
	t.Helper()
	queuetest.Eventually(t, path+" appears", func() bool {
		_, err := os.Stat(path)
		return err == nil
	})
}
