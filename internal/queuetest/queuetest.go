// Package queuetest starts real deploy queues for tests: SQLite in a
// temporary directory, the shell runner, the git resolver.
package queuetest

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deployq/deployq/git"
	"github.com/deployq/deployq/queue"
	"github.com/deployq/deployq/runners/shell"
	"github.com/deployq/deployq/store"
)

// Env is a running queue.
type Env struct {
	Ctx   context.Context // ends with the test
	Dir   string
	Store *store.Store
	Svc   *queue.Service
}

// Start builds a Service for apps, lets tweak adjust its options and
// before act on it (start a reporter, say), starts it, and stops it all
// when the test ends.
func Start(t testing.TB, apps []*queue.App, tweak func(*queue.Options), before ...func(*queue.Service)) *Env {
	t.Helper()
	return StartIn(t, t.TempDir(), apps, tweak, before...)
}

// StartIn is Start on the database and workspaces in dir, so that a test
// can start a second server where a first one stopped.
func StartIn(t testing.TB, dir string, apps []*queue.App, tweak func(*queue.Options), before ...func(*queue.Service)) *Env {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	st, err := store.Open(ctx, filepath.Join(dir, "deployq.db"))
	if err != nil {
		t.Fatal(err)
	}
	o := queue.Options{
		Store:    st,
		Runners:  map[string]queue.Runner{"shell": shell.New(filepath.Join(dir, "ws"))},
		Resolver: git.NewResolver(filepath.Join(dir, "git")),
	}
	if tweak != nil {
		tweak(&o)
	}
	svc, err := queue.New(apps, o)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range before {
		f(svc)
	}
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		svc.Stop()
		cancel()
		st.Close()
	})
	return &Env{Ctx: ctx, Dir: dir, Store: st, Svc: svc}
}

// Shell is an environment on the shell runner.
func Shell(name, command string) *queue.Environment {
	return &queue.Environment{Name: name, Runner: "shell", Settings: &shell.Settings{Command: command}}
}

// Wait follows a deploy's log to its end and returns the ended deploy.
func (e *Env) Wait(t testing.TB, id int64) *queue.Deploy {
	t.Helper()
	d, _ := e.Follow(t, id)
	return d
}

// WaitLog waits (bounded) until a deploy's log has a line containing s.
func (e *Env) WaitLog(t testing.TB, id int64, s string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(e.Ctx, 2*time.Minute)
	defer cancel()
	found := errors.New("found")
	_, err := e.Svc.FollowLog(ctx, id, 0, func(ls []queue.LogLine) error {
		for _, l := range ls {
			if strings.Contains(l.Text, s) {
				return found
			}
		}
		return nil
	})
	if err != found {
		t.Fatalf("the log never said %q (%v)", s, err)
	}
}

// Follow follows a deploy's log to its end (bounded) and returns the
// ended deploy with its log, a line each, "[host] " before lines of a host.
func (e *Env) Follow(t testing.TB, id int64) (*queue.Deploy, string) {
	t.Helper()
	var log strings.Builder
	ctx, cancel := context.WithTimeout(e.Ctx, 4*time.Minute)
	defer cancel()
	d, err := e.Svc.FollowLog(ctx, id, 0, func(ls []queue.LogLine) error {
		for _, l := range ls {
			if l.Host != "" {
				log.WriteString("[" + l.Host + "] ")
			}
			log.WriteString(l.Text + "\n")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return d, log.String()
}
