package queue_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deployq/deployq/queue"
)

func TestLocks(t *testing.T) {
	ctx := context.Background()
	e := start(t, []*queue.App{
		app("web", shellEnv("staging", "true"), shellEnv("production", "true")),
		app("api", shellEnv("staging", "true")),
	}, nil)

	t.Run("ErrLocked names holder, reason and age", func(t *testing.T) {
		if _, _, err := e.svc.Lock(ctx, queue.LockRequest{Env: "staging", Owner: "alice", Reason: "testing the migration"}); err != nil {
			t.Fatal(err)
		}
		_, err := e.svc.Submit(ctx, queue.Request{App: "api", Env: "staging", Ref: sha(1), User: "bob"})
		if queue.ErrorCode(err) != queue.ELocked {
			t.Fatalf("got %v", err)
		}
		if msg := err.Error(); !regexp.MustCompile(`^staging is locked by alice \(\d+s ago\): testing the migration$`).MatchString(msg) {
			t.Fatalf("message %q", msg)
		}
	})
	t.Run("OK the holder can deploy", func(t *testing.T) {
		d := e.submit(queue.Request{App: "web", Env: "staging", Ref: sha(1), User: "alice"})
		if got, _ := e.wait(d.ID); got.State != queue.StateSucceeded {
			t.Fatalf("%s: %s", got.State, got.Error)
		}
	})
	t.Run("OK other environments are free", func(t *testing.T) {
		e.submit(queue.Request{App: "web", Env: "production", Ref: sha(1), User: "bob"})
	})
	t.Run("ErrLocked a second lock by someone else", func(t *testing.T) {
		_, _, err := e.svc.Lock(ctx, queue.LockRequest{Env: "staging", Owner: "bob"})
		if queue.ErrorCode(err) != queue.ELocked || !strings.Contains(err.Error(), "use lock! to take it") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("OK steal", func(t *testing.T) {
		l, prev, err := e.svc.Lock(ctx, queue.LockRequest{Env: "staging", Owner: "bob", Reason: "hotfix", Steal: true})
		if err != nil || l.Owner != "bob" || prev.Owner != "alice" {
			t.Fatalf("%v %+v %+v", err, l, prev)
		}
		if _, err := e.svc.Submit(ctx, queue.Request{App: "web", Env: "staging", Ref: sha(1), User: "alice"}); queue.ErrorCode(err) != queue.ELocked {
			t.Fatalf("alice after the steal: %v", err)
		}
		audit, _ := e.svc.AuditLog(ctx, 10)
		if audit[0].Action != "steal" || audit[0].User != "bob" || !strings.Contains(audit[0].Detail, "alice") {
			t.Fatalf("audit %+v", audit[0])
		}
	})
	t.Run("OK unlock", func(t *testing.T) {
		l, err := e.svc.Unlock(ctx, "staging", "", "carol")
		if err != nil || l.Owner != "bob" {
			t.Fatalf("%v %+v", err, l)
		}
		e.submit(queue.Request{App: "api", Env: "staging", Ref: sha(1), User: "alice"})
		if _, err := e.svc.Unlock(ctx, "staging", "", "carol"); queue.ErrorCode(err) != queue.ENotFound {
			t.Fatalf("second unlock: %v", err)
		}
	})
	t.Run("OK an app lock holds only that app", func(t *testing.T) {
		if _, _, err := e.svc.Lock(ctx, queue.LockRequest{Env: "staging", App: "web", Owner: "dave"}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Submit(ctx, queue.Request{App: "web", Env: "staging", Ref: sha(2), User: "erin"}); queue.ErrorCode(err) != queue.ELocked ||
			!strings.HasPrefix(err.Error(), "web in staging is locked by dave") {
			t.Fatalf("web: %v", err)
		}
		e.submit(queue.Request{App: "api", Env: "staging", Ref: sha(2), User: "erin"})
		sts, _ := e.svc.Environments(ctx)
		for _, st := range sts {
			locked := st.Lock != nil
			if locked != (st.App == "web" && st.Env == "staging") {
				t.Errorf("%s/%s lock %+v", st.App, st.Env, st.Lock)
			}
		}
	})
	t.Run("ErrNotFound unknown env or app", func(t *testing.T) {
		if _, _, err := e.svc.Lock(ctx, queue.LockRequest{Env: "prod", Owner: "x"}); queue.ErrorCode(err) != queue.ENotFound {
			t.Fatal(err)
		}
		if _, _, err := e.svc.Lock(ctx, queue.LockRequest{Env: "production", App: "api", Owner: "x"}); queue.ErrorCode(err) != queue.ENotFound {
			t.Fatal(err)
		}
	})
}

// A lock taken while deploys wait holds them back until it goes; an
// expiring lock lets them go by itself.
func TestLockHoldsQueuedDeploysUntilItGoes(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	gate := filepath.Join(dir, "gate")
	cmd := fmt.Sprintf(`touch %[1]s/started-$DEPLOY_ID; n=0; while [ "$DEPLOY_ID" = 1 ] && [ ! -e %[2]s ] && [ $n -lt 6000 ]; do sleep 0.01; n=$((n+1)); done`, dir, gate)
	e := start(t, []*queue.App{app("web", shellEnv("staging", cmd))}, nil)

	first := e.submit(queue.Request{App: "web", Ref: sha(1), User: "alice"})
	waitFile(t, filepath.Join(dir, "started-1"))
	second := e.submit(queue.Request{App: "web", Ref: sha(2), User: "bob"})
	lock, _, err := e.svc.Lock(ctx, queue.LockRequest{Env: "staging", Owner: "carol", Reason: "incident", TTL: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(gate, nil, 0o644)
	if d, _ := e.wait(first.ID); d.State != queue.StateSucceeded {
		t.Fatalf("first: %s", d.State)
	}
	// The second was queued before the lock, by someone else: it waits for
	// the lock to expire, then runs.
	if d, _ := e.wait(second.ID); d.State != queue.StateSucceeded || d.StartedAt.Before(lock.ExpiresAt) {
		t.Fatalf("second: %s, started %s, lock expired %s", d.State, d.StartedAt, lock.ExpiresAt)
	}
	locks, _ := e.svc.Locks(ctx)
	if len(locks) != 0 {
		t.Fatalf("expired lock still listed: %+v", locks[0])
	}
	audit, _ := e.svc.AuditLog(ctx, 5)
	var actions []string
	for _, a := range audit {
		actions = append(actions, a.Action)
	}
	if !strings.Contains(strings.Join(actions, " "), "expire") {
		t.Fatalf("audit %v", actions)
	}
}

func TestRollback(t *testing.T) {
	ctx := context.Background()
	e := start(t, []*queue.App{app("web", shellEnv("staging", "exit 0"))}, nil)
	if _, err := e.svc.Rollback(ctx, queue.RollbackRequest{App: "web", User: "alice"}); queue.ErrorCode(err) != queue.EConflict {
		t.Fatalf("rollback with no history: %v", err)
	}
	var ids []int64
	for i := 1; i <= 3; i++ {
		d := e.submit(queue.Request{App: "web", Ref: sha(i)})
		e.wait(d.ID)
		ids = append(ids, d.ID)
	}
	// the same sha again does not count as a version to go back to
	e.wait(e.submit(queue.Request{App: "web", Ref: sha(3)}).ID)

	rb, err := e.svc.Rollback(ctx, queue.RollbackRequest{App: "web", User: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	if rb.SHA != sha(2) || rb.Source != queue.SourceRollback {
		t.Fatalf("rollback to %s (%s), want %s", rb.SHA, rb.Source, sha(2))
	}
	if d, _ := e.wait(rb.ID); d.State != queue.StateSucceeded || d.PreviousSHA != sha(3) {
		t.Fatalf("%s previous %s", d.State, d.PreviousSHA)
	}
	rb2, err := e.svc.Rollback(ctx, queue.RollbackRequest{App: "web", To: fmt.Sprintf("#%d", ids[0]), User: "bob"})
	if err != nil || rb2.SHA != sha(1) {
		t.Fatalf("rollback to #%d: %v %+v", ids[0], err, rb2)
	}
	e.wait(rb2.ID)
	if _, err := e.svc.Rollback(ctx, queue.RollbackRequest{App: "web", To: "#999", User: "bob"}); queue.ErrorCode(err) != queue.ENotFound {
		t.Fatalf("rollback to an unknown deploy: %v", err)
	}
	if _, err := e.svc.Rollback(ctx, queue.RollbackRequest{App: "web", To: "#1x", User: "bob"}); queue.ErrorCode(err) != queue.EInvalid {
		t.Fatalf("rollback to #1x: %v", err)
	}
}

// Auto-deploys waiting for one app+env coalesce: the newest runs.
func TestAutoDeploysCoalesce(t *testing.T) {
	dir := t.TempDir()
	gate := filepath.Join(dir, "gate")
	cmd := fmt.Sprintf(`touch %[1]s/started-$DEPLOY_ID; echo $DEPLOY_SHA >> %[1]s/ran; n=0; while [ ! -e %[2]s ] && [ $n -lt 6000 ]; do sleep 0.01; n=$((n+1)); done`, dir, gate)
	e := start(t, []*queue.App{app("web", shellEnv("staging", cmd))}, nil)

	running := e.submit(queue.Request{App: "web", Ref: sha(1), Source: queue.SourceAuto})
	waitFile(t, filepath.Join(dir, "started-1"))
	a := e.submit(queue.Request{App: "web", Ref: sha(2), Source: queue.SourceAuto})
	manual := e.submit(queue.Request{App: "web", Ref: sha(3), Source: queue.SourceChat})
	b := e.submit(queue.Request{App: "web", Ref: sha(4), Source: queue.SourceAuto})
	c := e.submit(queue.Request{App: "web", Ref: sha(5), Source: queue.SourceAuto})
	os.WriteFile(gate, nil, 0o644)

	want := map[int64]queue.State{running.ID: queue.StateSucceeded, a.ID: queue.StateSuperseded,
		manual.ID: queue.StateSucceeded, b.ID: queue.StateSuperseded, c.ID: queue.StateSucceeded}
	for id, st := range want {
		d, log := e.wait(id)
		if d.State != st {
			t.Errorf("#%d %s, want %s", id, d.State, st)
		}
		if st == queue.StateSuperseded && !strings.Contains(log, "superseded by #") {
			t.Errorf("#%d log: %s", id, log)
		}
	}
	ran, _ := os.ReadFile(filepath.Join(dir, "ran"))
	if got := strings.Fields(string(ran)); strings.Join(got, " ") != strings.Join([]string{sha(1), sha(3), sha(5)}, " ") {
		t.Fatalf("ran %v", got)
	}
}

func TestCancelQueued(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	gate := filepath.Join(dir, "gate")
	cmd := fmt.Sprintf(`touch %[1]s/started-$DEPLOY_ID; n=0; while [ ! -e %[2]s ] && [ $n -lt 6000 ]; do sleep 0.01; n=$((n+1)); done`, dir, gate)
	e := start(t, []*queue.App{app("web", shellEnv("staging", cmd))}, nil)
	first := e.submit(queue.Request{App: "web", Ref: sha(1)})
	waitFile(t, filepath.Join(dir, "started-1"))
	second := e.submit(queue.Request{App: "web", Ref: sha(2)})
	d, err := e.svc.Cancel(ctx, second.ID, "bob")
	if err != nil || d.State != queue.StateCanceled {
		t.Fatalf("%v %+v", err, d)
	}
	os.WriteFile(gate, nil, 0o644)
	e.wait(first.ID)
	if _, err := os.Stat(filepath.Join(dir, fmt.Sprintf("started-%d", second.ID))); err == nil {
		t.Fatal("a canceled deploy ran")
	}
	if _, log := e.wait(second.ID); !strings.Contains(log, "canceled by bob before it ran") {
		t.Fatalf("log %q", log)
	}
}

// A restart finds a deploy still running: it becomes interrupted, and the
// queued ones run.
func TestRecoveryAfterCrash(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	apps := []*queue.App{app("web", shellEnv("staging", "echo ran $DEPLOY_ID"))}
	// Leave the store as a killed server would: one running, two queued.
	e := startIn(t, dir, apps, nil)
	e.svc.Stop()
	for i, st := range []queue.State{queue.StateRunning, queue.StateQueued, queue.StateQueued} {
		d := &queue.Deploy{App: "web", Env: "staging", Ref: sha(i + 1), SHA: sha(i + 1), State: st, User: "alice", Source: queue.SourceAPI,
			StartedAt: time.Now()}
		if err := e.store.CreateDeploy(ctx, d, queue.AuditEntry{Time: time.Now(), User: "alice", Action: "deploy"}); err != nil {
			t.Fatal(err)
		}
	}
	e.store.Close()

	e2 := startIn(t, dir, apps, nil)
	d1, log := e2.wait(1)
	if d1.State != queue.StateInterrupted || !strings.Contains(log, "deployq stopped while this deploy ran") {
		t.Fatalf("#1 %s %q", d1.State, log)
	}
	for _, id := range []int64{2, 3} {
		d, log := e2.wait(id)
		if d.State != queue.StateSucceeded || strings.Count(log, fmt.Sprintf("ran %d\n", id)) != 1 {
			t.Fatalf("#%d %s %q", id, d.State, log)
		}
	}
}

func TestTransitionTable(t *testing.T) {
	for _, c := range []struct {
		from, to queue.State
		ok       bool
	}{
		{queue.StateQueued, queue.StateRunning, true},
		{queue.StateWaiting, queue.StateQueued, true},
		{queue.StateRunning, queue.StateInterrupted, true},
		{queue.StateQueued, queue.StateSuperseded, true},
		{queue.StateRunning, queue.StateSuperseded, false},
		{queue.StateSucceeded, queue.StateRunning, false},
		{queue.StateCanceled, queue.StateQueued, false},
		{queue.StateWaiting, queue.StateRunning, false},
	} {
		if queue.CanTransition(c.from, c.to) != c.ok {
			t.Errorf("%s -> %s: want %v", c.from, c.to, c.ok)
		}
	}
}

func TestPermissions(t *testing.T) {
	ctx := context.Background()
	prod := shellEnv("production", "true")
	prod.Deployers = []string{"alice", "@oncall"}
	prod.Lockers = []string{"sre@example.com"}
	e := start(t, []*queue.App{app("web", shellEnv("staging", "true"), prod)}, func(o *queue.Options) {
		o.Identify = func(_ context.Context, user string) []string {
			return map[string][]string{"bob": {"U2", "@oncall"}, "carol": {"U3", "sre@example.com"}}[user]
		}
	})
	t.Run("OK by name and by group", func(t *testing.T) {
		e.wait(e.submit(queue.Request{App: "web", Env: "production", Ref: sha(1), User: "alice"}).ID)
		e.wait(e.submit(queue.Request{App: "web", Env: "production", Ref: sha(2), User: "bob"}).ID)
	})
	t.Run("ErrForbidden names the rule", func(t *testing.T) {
		_, err := e.svc.Submit(ctx, queue.Request{App: "web", Env: "production", Ref: sha(1), User: "mallory"})
		if queue.ErrorCode(err) != queue.EForbidden || err.Error() != "mallory may not deploy web in production (deployers: alice, @oncall)" {
			t.Fatalf("%v", err)
		}
		if _, err := e.svc.Rollback(ctx, queue.RollbackRequest{App: "web", Env: "production", User: "mallory"}); queue.ErrorCode(err) != queue.EForbidden {
			t.Fatalf("rollback: %v", err)
		}
	})
	t.Run("OK other environments are open", func(t *testing.T) {
		e.submit(queue.Request{App: "web", Env: "staging", Ref: sha(1), User: "mallory"})
	})
	t.Run("lockers", func(t *testing.T) {
		if _, _, err := e.svc.Lock(ctx, queue.LockRequest{Env: "production", Owner: "alice"}); queue.ErrorCode(err) != queue.EForbidden ||
			!strings.Contains(err.Error(), "lockers: sre@example.com") {
			t.Fatalf("alice locks: %v", err)
		}
		if _, _, err := e.svc.Lock(ctx, queue.LockRequest{Env: "production", Owner: "carol", Reason: "r"}); err != nil {
			t.Fatalf("carol locks: %v", err)
		}
		if _, err := e.svc.Unlock(ctx, "production", "", "mallory"); queue.ErrorCode(err) != queue.EForbidden {
			t.Fatalf("mallory unlocks: %v", err)
		}
		if _, err := e.svc.Unlock(ctx, "production", "", "carol"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("cancel: deployers, or whoever asked", func(t *testing.T) {
		d := e.submit(queue.Request{App: "web", Env: "staging", Ref: sha(3), User: "mallory"})
		if _, err := e.svc.Cancel(ctx, d.ID, "mallory"); err != nil && queue.ErrorCode(err) != queue.EConflict {
			t.Fatalf("own deploy: %v", err)
		}
		p := e.submit(queue.Request{App: "web", Env: "production", Ref: sha(4), User: "alice"})
		if _, err := e.svc.Cancel(ctx, p.ID, "mallory"); queue.ErrorCode(err) != queue.EForbidden && queue.ErrorCode(err) != queue.EConflict {
			t.Fatalf("someone else's production deploy: %v", err)
		}
	})
}

// Many auto-deploys at once while the lane is busy: the newest runs, the
// others are superseded, each once.
func TestConcurrentAutoDeploysCoalesce(t *testing.T) {
	dir := t.TempDir()
	gate := filepath.Join(dir, "gate")
	cmd := fmt.Sprintf(`touch %[1]s/started-$DEPLOY_ID; echo $DEPLOY_ID >> %[1]s/ran; n=0; while [ ! -e %[2]s ] && [ $n -lt 6000 ]; do sleep 0.01; n=$((n+1)); done`, dir, gate)
	e := start(t, []*queue.App{app("web", shellEnv("staging", cmd))}, nil)
	first := e.submit(queue.Request{App: "web", Ref: sha(1)})
	waitFile(t, filepath.Join(dir, fmt.Sprintf("started-%d", first.ID)))
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := e.svc.Submit(context.Background(), queue.Request{App: "web", Ref: sha(i + 2), User: "ci", Source: queue.SourceAuto}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	os.WriteFile(gate, nil, 0o644)
	ds, _ := e.svc.Deploys(context.Background(), queue.DeployFilter{Limit: -1})
	var newest int64
	for _, d := range ds {
		newest = max(newest, d.ID)
	}
	for _, d := range ds {
		got, log := e.wait(d.ID)
		want := queue.StateSuperseded
		if d.ID == first.ID || d.ID == newest {
			want = queue.StateSucceeded
		}
		if got.State != want {
			t.Fatalf("#%d %s, want %s", d.ID, got.State, want)
		}
		if want == queue.StateSuperseded && strings.Count(log, "superseded by #") != 1 {
			t.Fatalf("#%d log: %q", d.ID, log)
		}
	}
	ran, _ := os.ReadFile(filepath.Join(dir, "ran"))
	if got := strings.Fields(string(ran)); len(got) != 2 || got[1] != fmt.Sprint(newest) {
		t.Fatalf("ran %v, want #%d then #%d", got, first.ID, newest)
	}
}

// A refused auto-deploy is not silent: it is recorded as a failed deploy
// with the reason; a refused manual deploy is just refused.
func TestRefusedAutoDeploysAreRecorded(t *testing.T) {
	ctx := context.Background()
	prod := shellEnv("production", "true")
	prod.Deployers = []string{"alice"}
	e := start(t, []*queue.App{app("web", shellEnv("staging", "true"), prod)}, nil)
	if _, _, err := e.svc.Lock(ctx, queue.LockRequest{Env: "staging", Owner: "alice", Reason: "db migration"}); err != nil {
		t.Fatal(err)
	}
	d, err := e.svc.Submit(ctx, queue.Request{App: "web", Env: "staging", Ref: "main", SHA: sha(1), User: "ci", Source: queue.SourceAuto})
	if queue.ErrorCode(err) != queue.ELocked || d == nil || d.State != queue.StateFailed || d.Source != queue.SourceAuto ||
		!strings.HasPrefix(d.Error, "auto-deploy refused: staging is locked by alice") {
		t.Fatalf("%v %+v", err, d)
	}
	if _, log := e.wait(d.ID); !strings.Contains(log, "auto-deploy refused: staging is locked by alice") {
		t.Fatalf("log %q", log)
	}
	d, err = e.svc.Submit(ctx, queue.Request{App: "web", Env: "production", Ref: "main", SHA: sha(2), User: "ci", Source: queue.SourceAuto})
	if queue.ErrorCode(err) != queue.EForbidden || d == nil || !strings.Contains(d.Error, "ci may not deploy web in production") {
		t.Fatalf("%v %+v", err, d)
	}
	before, _ := e.svc.Deploys(ctx, queue.DeployFilter{Limit: -1})
	if d, err := e.svc.Submit(ctx, queue.Request{App: "web", Env: "staging", Ref: sha(3), User: "bob"}); queue.ErrorCode(err) != queue.ELocked || d != nil {
		t.Fatalf("manual: %v %+v", err, d)
	}
	after, _ := e.svc.Deploys(ctx, queue.DeployFilter{Limit: -1})
	if len(after) != len(before) {
		t.Fatal("a refused manual deploy was recorded")
	}
}
