package postgres

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/deployq/deployq/internal/pgtest"
	"github.com/deployq/deployq/queue"
	"github.com/jackc/pgx/v5"
)

// TestCreatesWrittenTogether: deploys created while the writers are busy
// wait, and go in one transaction, in lane order, with their letters and
// keys; a key recorded already fails only its own deploy (the batch is
// written again one by one).
func TestCreatesWrittenTogether(t *testing.T) {
	dsn := pgtest.New(t)
	s, err := Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()
	newDeploy := func(app string) *queue.Deploy {
		return &queue.Deploy{App: app, Env: "prod", Ref: "main", SHA: fmt.Sprintf("%040x", 1), State: queue.StateQueued, User: "ann"}
	}
	audit := queue.AuditEntry{Time: time.Now(), User: "ann", Action: "deploy"}
	if err := s.CreateDeploy(ctx, newDeploy("held"), audit); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Once(ctx, "event:1"); err != nil {
		t.Fatal(err)
	}

	// round creates, while another connection holds the row of lane
	// held: deploys of that lane (as many as there are writers) wait for it, then the
	// deploys of apps, one at a time in that order, wait for the writers.
	// ctxOf gives each its context.
	round := func(apps []string, ctxOf func(app string) context.Context) map[string]error {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(context.Background())
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(context.Background())
		if _, err := tx.Exec(ctx, `SELECT 1 FROM lanes WHERE app = 'held' FOR UPDATE`); err != nil {
			t.Fatal(err)
		}
		type result struct {
			app string
			err error
		}
		results := make(chan result, len(apps)+maxWriting)
		create := func(app string, c context.Context) {
			go func() { results <- result{app, s.CreateDeploy(c, newDeploy(app), audit)} }()
		}
		for range maxWriting {
			create("held", ctx)
		}
		waitFor(t, "the writers wait for the held lane", func() bool {
			s.creates.mu.Lock()
			defer s.creates.mu.Unlock()
			return s.creates.writing == maxWriting && len(s.creates.waiting) == 0
		})
		for i, app := range apps {
			create(app, ctxOf(app))
			waitFor(t, app+" waits", func() bool {
				s.creates.mu.Lock()
				defer s.creates.mu.Unlock()
				return len(s.creates.waiting) == i+1
			})
		}
		if err := tx.Rollback(ctx); err != nil {
			t.Fatal(err)
		}
		errs := map[string]error{}
		for range len(apps) + maxWriting {
			r := <-results
			if r.app == "held" && r.err != nil {
				t.Errorf("held: %v", r.err)
			}
			errs[r.app] = r.err
		}
		return errs
	}
	// ids returns the ids of the deploys of apps, in the order of apps.
	ids := func(apps []string) []int64 {
		var out []int64
		for _, app := range apps {
			ds, err := s.Deploys(ctx, queue.DeployFilter{App: app, Limit: -1})
			if err != nil || len(ds) != 1 {
				t.Fatalf("deploys of %s: %v, %v", app, ds, err)
			}
			if ds[0].Number != 1 {
				t.Errorf("%s: number %d, want 1", app, ds[0].Number)
			}
			out = append(out, ds[0].ID)
		}
		return out
	}

	apps := []string{"f", "e", "d", "c", "b", "a"}
	keyed := func(app string) context.Context {
		c := queue.WithLetters(ctx, func(d *queue.Deploy) []queue.Letter {
			return []queue.Letter{{Key: "chat:" + app, Body: fmt.Sprintf("#%d", d.ID)}}
		})
		return queue.WithOnce(c, "event:"+app)
	}
	for app, err := range round(apps, keyed) {
		if err != nil {
			t.Errorf("%s: %v", app, err)
		}
	}
	got := ids(apps)
	if !slices.IsSortedFunc(got, func(a, b int64) int { return int(b - a) }) {
		t.Errorf("ids %v of %v: want them in lane order (one transaction)", got, apps)
	}
	for _, app := range apps {
		if seen, err := s.Seen(ctx, "event:"+app); err != nil || !seen {
			t.Errorf("key of %s: seen %v, %v", app, seen, err)
		}
	}
	items, err := s.OutboxDue(ctx, "chat:", time.Now().Add(time.Hour), -1)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != len(apps) {
		t.Errorf("letters %v: want one for each of %v", items, apps)
	}

	// One deploy's key was recorded already: it alone fails.
	apps = []string{"k", "j", "i"}
	errs := round(apps, func(app string) context.Context {
		if app == "j" {
			return queue.WithOnce(ctx, "event:1")
		}
		return ctx
	})
	if queue.ErrorCode(errs["j"]) != queue.EDuplicate {
		t.Errorf("j, with a key recorded already: %v, want EDuplicate", errs["j"])
	}
	for _, app := range []string{"k", "i"} {
		if errs[app] != nil {
			t.Errorf("%s: %v", app, errs[app])
		}
		ids([]string{app})
	}
	if ds, _ := s.Deploys(ctx, queue.DeployFilter{App: "j"}); len(ds) != 0 {
		t.Errorf("j was stored: %v", ds)
	}
}

// waitFor waits until cond holds, and fails t saying what never happened
// after a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for wait := time.Millisecond; !cond(); wait = min(wait*2, 20*time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited a minute: %s never happened", what)
		}
		time.Sleep(wait)
	}
}
