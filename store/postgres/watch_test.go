package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/deployq/deployq/internal/pgtest"
	"github.com/deployq/deployq/queue"
)

// heard collects what a Watch tells.
func heard(t *testing.T, ctx context.Context, w queue.Watcher) <-chan queue.Change {
	t.Helper()
	ch := make(chan queue.Change, 64)
	go w.Watch(ctx, func(c queue.Change) { ch <- c })
	return ch
}

// next returns the next change told, failing t after a minute.
func next(t *testing.T, ch <-chan queue.Change) queue.Change {
	t.Helper()
	select {
	case c := <-ch:
		return c
	case <-time.After(time.Minute):
		t.Fatal("waited a minute: no change was told")
		return queue.Change{}
	}
}

// A server hears what another sharing the database changes, not what it
// changes itself: a deploy created or moved to another state, the locks,
// the freezes; and a rescan first, and after its connection was cut,
// that it was lost, then a rescan again.
func TestWatchHearsOtherServers(t *testing.T) {
	srv := pgtest.Private(t)
	dsn := srv.NewDB(t)
	a, b := open(t, dsn), open(t, dsn)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ch := heard(t, ctx, a)
	if c := next(t, ch); !c.Rescan {
		t.Fatalf("first: %+v, want a rescan", c)
	}
	mine := newDeploy("web", "prod")
	if err := a.CreateDeploy(ctx, mine, audit(mine)); err != nil { // its own: not told
		t.Fatal(err)
	}
	d := newDeploy("web", "prod")
	if err := b.CreateDeploy(ctx, d, audit(d)); err != nil {
		t.Fatal(err)
	}
	if c := next(t, ch); c.Deploy != d.ID {
		t.Fatalf("after another's create: %+v, want deploy %d", c, d.ID)
	}
	run := *d
	run.State = queue.StateRunning
	if err := b.UpdateDeploy(ctx, &run, queue.StateQueued, nil); err != nil {
		t.Fatal(err)
	}
	if c := next(t, ch); c.Deploy != d.ID {
		t.Fatalf("after another's move: %+v", c)
	}
	if err := b.PutLock(ctx, &queue.Lock{Env: "prod", Owner: "alice", CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	if c := next(t, ch); !c.Locks {
		t.Fatalf("after another's lock: %+v", c)
	}
	if err := b.PutFreeze(ctx, &queue.Freeze{Env: "prod", Owner: "alice", CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	if c := next(t, ch); !c.Freezes {
		t.Fatalf("after another's freeze: %+v", c)
	}
	if err := srv.Exec(ctx, "postgres", `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = 'LISTEN deployq'`); err != nil {
		t.Fatal(err)
	}
	if c := next(t, ch); !c.Lost {
		t.Fatalf("after the connection was cut: %+v, want it said lost", c)
	}
	if c := next(t, ch); !c.Rescan {
		t.Fatalf("after the connection was cut and made again: %+v, want a rescan", c)
	}
}
