package postgres

import (
	"context"
	"fmt"
	"slices"
	"sync"
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
	s, dsn := openStore(t)
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
		release := lockRows(t, dsn, `SELECT 1 FROM lanes WHERE app = 'held' FOR UPDATE`)
		defer release()
		type result struct {
			app string
			err error
		}
		results := make(chan result, len(apps)+callLeaders)
		create := func(app string, c context.Context) {
			go func() { results <- result{app, s.CreateDeploy(c, newDeploy(app), audit)} }()
		}
		for range callLeaders {
			create("held", ctx)
		}
		waitFor(t, "the writers wait for the held lane", func() bool {
			s.creates.mu.Lock()
			defer s.creates.mu.Unlock()
			return s.creates.writing == callLeaders && len(s.creates.waiting) == 0
		})
		for i, app := range apps {
			create(app, ctxOf(app))
			waitFor(t, app+" waits", func() bool {
				s.creates.mu.Lock()
				defer s.creates.mu.Unlock()
				return len(s.creates.waiting) == i+1
			})
		}
		release()
		errs := map[string]error{}
		for range len(apps) + callLeaders {
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

	// Several deploys of a lane in one batch, in a new lane and in one
	// that has a deploy: numbered in the order they came, after those
	// there, and their ids in that order too.
	for app, err := range round([]string{"m", "a", "m", "a", "m"}, func(string) context.Context { return ctx }) {
		if err != nil {
			t.Errorf("%s: %v", app, err)
		}
	}
	for app, want := range map[string]int{"m": 3, "a": 3} {
		ds, err := s.Deploys(ctx, queue.DeployFilter{App: app, Limit: -1})
		if err != nil || len(ds) != want {
			t.Fatalf("deploys of %s: %d, %v; want %d", app, len(ds), err, want)
		}
		for i, d := range ds { // newest first
			if d.Number != int64(want-i) || i > 0 && d.ID >= ds[i-1].ID {
				t.Errorf("%s: deploy #%d numbered %d at %d of %d (newest first)", app, d.ID, d.Number, i, want)
			}
		}
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

// openStore opens a store on a database of its own, closed when t ends,
// and says how to reach that database.
func openStore(t *testing.T) (*Store, string) {
	t.Helper()
	dsn := pgtest.New(t)
	s, err := Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, dsn
}

// lockRows locks the rows query selects (FOR UPDATE) in a transaction on
// a connection of its own (another server's), until release ends it.
func lockRows(t *testing.T, dsn, query string, args ...any) (release func()) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := conn.Begin(t.Context())
	if err == nil {
		_, err = tx.Exec(t.Context(), query, args...)
	}
	if err != nil {
		conn.Close(context.Background())
		t.Fatal(err)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			tx.Rollback(context.Background())
			conn.Close(context.Background())
		})
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

// TestMovesWrittenTogether: moves made while the writers are busy go in
// one transaction; one that fails (a second running deploy in a lane)
// fails alone, and the others of its batch are made once.
func TestMovesWrittenTogether(t *testing.T) {
	s, dsn := openStore(t)
	ctx := t.Context()
	audit := queue.AuditEntry{Time: time.Now(), User: "ann", Action: "deploy"}
	queued := func(app string) *queue.Deploy {
		d := &queue.Deploy{App: app, Env: "prod", Ref: "main", SHA: fmt.Sprintf("%040x", 1), State: queue.StateQueued, User: "ann"}
		if err := s.CreateDeploy(ctx, d, audit); err != nil {
			t.Fatal(err)
		}
		return d
	}
	start := func(d *queue.Deploy) error {
		next := *d
		next.State, next.StartedAt = queue.StateRunning, time.Now()
		next.Server, next.LeaseUntil = "s1", time.Now().Add(time.Hour)
		return s.UpdateDeploy(ctx, &next, queue.StateQueued, nil)
	}
	busy := queued("b") // lane b has a running deploy: b's next cannot start
	if err := start(busy); err != nil {
		t.Fatal(err)
	}

	// round makes the moves of ds (start unless told), one at a time in
	// that order, while the writers wait for held rows (another
	// connection locks them): starts of deploys of their own.
	rounds := 0
	round := func(ds []*queue.Deploy, moves ...func(*queue.Deploy) error) []error {
		rounds++
		prefix := fmt.Sprintf("held-%d-", rounds)
		var held []*queue.Deploy
		for i := range moveLeaders {
			held = append(held, queued(fmt.Sprintf("%s%d", prefix, i)))
		}
		release := lockRows(t, dsn, `SELECT 1 FROM deploys WHERE app LIKE $1 FOR UPDATE`, prefix+"%")
		defer release()
		done := make(chan struct{}, len(held))
		for _, h := range held {
			go func() {
				if err := start(h); err != nil {
					t.Errorf("%s: %v", h.App, err)
				}
				done <- struct{}{}
			}()
		}
		waitFor(t, "the writers wait for the held rows", func() bool {
			s.moves.mu.Lock()
			defer s.moves.mu.Unlock()
			return s.moves.writing == moveLeaders && len(s.moves.waiting) == 0
		})
		errs := make([]error, len(ds))
		var wg sync.WaitGroup
		for i, d := range ds {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if len(moves) > 0 {
					errs[i] = moves[i](d)
				} else {
					errs[i] = start(d)
				}
			}()
			waitFor(t, d.App+" waits", func() bool {
				s.moves.mu.Lock()
				defer s.moves.mu.Unlock()
				return len(s.moves.waiting) == i+1
			})
		}
		release()
		for range held {
			<-done
		}
		wg.Wait()
		return errs
	}
	state := func(d *queue.Deploy) queue.State {
		got, err := s.Deploy(ctx, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got.State
	}

	a, c := queued("a"), queued("c")
	for i, err := range round([]*queue.Deploy{c, a}) {
		if err != nil {
			t.Errorf("start %d: %v", i, err)
		}
	}
	if state(a) != queue.StateRunning || state(c) != queue.StateRunning {
		t.Errorf("a %s, c %s: want both running", state(a), state(c))
	}
	// The next round starts d (made before b's in the batch: ids in
	// order), b's second deploy (refused) and e.
	d, b2, e := queued("d"), queued("b"), queued("e")
	errs := round([]*queue.Deploy{e, b2, d})
	if errs[0] != nil || errs[2] != nil {
		t.Errorf("e: %v, d: %v; want both started", errs[0], errs[2])
	}
	if queue.ErrorCode(errs[1]) != queue.EConflict {
		t.Errorf("b's second deploy: %v, want EConflict (b has a running deploy)", errs[1])
	}
	if state(d) != queue.StateRunning || state(e) != queue.StateRunning || state(b2) != queue.StateQueued {
		t.Errorf("d %s, e %s, b's second %s: want running, running, queued", state(d), state(e), state(b2))
	}

	// The ends of a and c by their holder, with lines, and of e by a
	// server that does not hold it: a and c end with their lines; e
	// stays running, without its line.
	end := func(server string) func(d *queue.Deploy) error {
		return func(d *queue.Deploy) error {
			cur, err := s.Deploy(ctx, d.ID)
			if err != nil {
				return err
			}
			next := *cur
			next.State, next.FinishedAt = queue.StateSucceeded, time.Now()
			line := queue.LogLine{DeployID: d.ID, Seq: 1, Time: time.Now(), Stream: queue.StreamSystem, Text: "ended by " + server}
			return s.UpdateDeploy(queue.WithHolder(ctx, queue.Holder{Server: server, Now: time.Now()}), &next, queue.StateRunning, []queue.LogLine{line})
		}
	}
	errs = round([]*queue.Deploy{c, e, a}, end("s1"), end("s2"), end("s1"))
	if errs[0] != nil || errs[2] != nil || queue.ErrorCode(errs[1]) != queue.EConflict {
		t.Errorf("ends of c, e (not its holder), a: %v; want nil, EConflict, nil", errs)
	}
	for _, x := range []struct {
		d     *queue.Deploy
		state queue.State
		lines int
	}{{a, queue.StateSucceeded, 1}, {c, queue.StateSucceeded, 1}, {e, queue.StateRunning, 0}} {
		lines, err := s.Log(ctx, x.d.ID, 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		if got := state(x.d); got != x.state || len(lines) != x.lines {
			t.Errorf("%s: %s with %d lines, want %s with %d", x.d.App, got, len(lines), x.state, x.lines)
		}
	}
}
